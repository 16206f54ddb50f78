/* libFuzzer target for the CPG message decoder (roles/msg.c): any input is either refused with
 * a reason, or decoded into a message that encodes (the encoder checks it as a peer would) to
 * a canonical form that decodes and encodes to the same bytes again.
 * Inputs starting with "LFCM" are whole messages; others are a type byte and a payload, given
 * a correct header here so that mutations reach the JSON checks. */
#include <stdlib.h>
#include <string.h>

#include "../../roles/msg.h"

static char *encode(const lf_msg *m, size_t *ret_len) {
        char *buf = NULL;
        lf_diag d = {};
        int r = lf_msg_encode(m, &d, &buf, ret_len);

        if (r == -E2BIG) { /* numbers may print longer than written: not a decoder bug */
                lf_diag_clear(&d);
                return NULL;
        }
        if (r < 0)
                abort();
        return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *framed = NULL, *a = NULL, *b = NULL;
        _cleanup_msg_ lf_msg *m = NULL, *again = NULL;
        const char *buf = (const char *)data;
        size_t len = size, alen = 0, blen = 0;
        lf_diag d = {};
        int r;

        if (size > 0 && (size < 4 || memcmp(data, LF_MSG_MAGIC, 4) != 0)) {
                size_t n = size - 1;
                framed = malloc(LF_MSG_HEADER_SIZE + n);
                if (!framed)
                        return 0;
                memcpy(framed, LF_MSG_MAGIC, 4);
                framed[4] = LF_MSG_VERSION;
                framed[5] = (char)(data[0] % 6); /* mostly valid types, some not */
                framed[6] = framed[7] = 0;
                for (int i = 0; i < 4; i++)
                        framed[8 + i] = (char)((n >> (24 - 8 * i)) & 0xff);
                memcpy(framed + LF_MSG_HEADER_SIZE, data + 1, n);
                buf = framed;
                len = LF_MSG_HEADER_SIZE + n;
        }

        r = lf_msg_decode(buf, len, "fuzz", &d, &m);
        if (r < 0) {
                if (d.n == 0 && r != -ENOMEM) /* a refusal always says why */
                        abort();
                lf_diag_clear(&d);
                return 0;
        }
        a = encode(m, &alen);
        if (!a)
                return 0;
        if (lf_msg_decode(a, alen, "fuzz again", &d, &again) < 0)
                abort();
        b = encode(again, &blen);
        if (!b || alen != blen || memcmp(a, b, alen) != 0)
                abort();
        return 0;
}

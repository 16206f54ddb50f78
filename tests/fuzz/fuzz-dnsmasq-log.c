/* libFuzzer target for the rewriting of dnsmasq's output lines into our log (lf_dnsmasq_log_line):
 * any line, any buffer size; the result is NUL-terminated inside the buffer, starts with
 * "dnsmasq: " when it fits, and ends with what dnsmasq said after its tag. */
#include <stdlib.h>
#include <string.h>

#include "../../appliance/dnsmasq.h"
#include "cmd.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        char line[LF_PROC_LINE_MAX + 1], out[LF_PROC_LINE_MAX + 64];

        if (size < 1)
                return 0;
        /* The first byte picks the buffer size, the rest is the line (as lf_proc_read hands it:
         * no newline, at most LF_PROC_LINE_MAX bytes). */
        size_t cap = 1 + data[0] % sizeof(out);
        size_t n = size - 1 > LF_PROC_LINE_MAX ? LF_PROC_LINE_MAX : size - 1;
        memcpy(line, data + 1, n);
        line[n] = 0;
        memset(out, 'x', sizeof(out));
        lf_dnsmasq_log_line(line, out, cap);
        size_t len = strnlen(out, cap);
        if (len >= cap)
                abort();
        if (cap > 9 && strncmp(out, "dnsmasq: ", 9) != 0)
                abort();
        /* With room for all of it, the text after the tag is dnsmasq's message, unchanged. */
        const char *msg = strstr(line, "]: ");
        if (cap == sizeof(out) && msg && strncmp(line, "dnsmasq", 7) == 0) {
                size_t mlen = strlen(msg + 3);
                if (len < mlen || strcmp(out + len - mlen, msg + 3) != 0)
                        abort();
        }
        return 0;
}

/* SHA-256 through libcrypto's EVP interface; see sha256.h. */
#include <ctype.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "sha256.h"

struct lf_sha256 {
        EVP_MD_CTX *ctx;
};

lf_sha256 *lf_sha256_new(void) {
        lf_sha256 *s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        s->ctx = EVP_MD_CTX_new();
        if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) {
                lf_sha256_free(s);
                return NULL;
        }
        return s;
}

void lf_sha256_free(lf_sha256 *s) {
        if (!s)
                return;
        EVP_MD_CTX_free(s->ctx);
        free(s);
}

int lf_sha256_update(lf_sha256 *s, const void *data, size_t len) {
        return EVP_DigestUpdate(s->ctx, data, len) == 1 ? 0 : -EIO;
}

int lf_sha256_final(lf_sha256 *s, char ret_hex[static LF_SHA256_HEX_LEN + 1]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (EVP_DigestFinal_ex(s->ctx, md, &n) != 1 || n != 32)
                return -EIO;
        for (unsigned i = 0; i < n; i++)
                snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
        return 0;
}

int lf_sha256_buffer(const void *data, size_t len, char ret_hex[static LF_SHA256_HEX_LEN + 1]) {
        _cleanup_sha256_ lf_sha256 *s = lf_sha256_new();
        int r;

        if (!s)
                return -ENOMEM;
        r = lf_sha256_update(s, data, len);
        if (r < 0)
                return r;
        return lf_sha256_final(s, ret_hex);
}

int lf_sha256_file(const char *path, char ret_hex[static LF_SHA256_HEX_LEN + 1]) {
        _cleanup_sha256_ lf_sha256 *s = lf_sha256_new();
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = malloc(1 << 20);
        int r;

        if (fd < 0)
                return -errno;
        if (!s || !buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf, 1 << 20);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                r = lf_sha256_update(s, buf, (size_t)n);
                if (r < 0)
                        return r;
        }
        return lf_sha256_final(s, ret_hex);
}

int lf_sha256_hex_valid(const char *s) {
        size_t i;
        for (i = 0; s[i]; i++)
                if (!isxdigit((unsigned char)s[i]))
                        return 0;
        return i == LF_SHA256_HEX_LEN;
}

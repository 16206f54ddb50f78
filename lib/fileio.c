/* Whole-file reading with limits; see fileio.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"

int lf_read_file(const char *path, size_t max, lf_diag *diag, char **ret_buf, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                lf_diag_add(diag, path, 0, "cannot open: %s; check the path", strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                lf_diag_add(diag, path, 0, "cannot read: %s", strerror(-r));
                return r;
        }
        if (S_ISDIR(st.st_mode)) {
                lf_diag_add(diag, path, 0, "is a directory; give the path of a file");
                return -EISDIR;
        }
        if (!S_ISREG(st.st_mode)) {
                lf_diag_add(diag, path, 0, "is not a regular file; give the path of a file");
                return -EINVAL;
        }

        /* Grows up to one byte past the limit, so a file that grew after fstat() is caught. */
        size_t cap = ((size_t)st.st_size < max ? (size_t)st.st_size : max) + 2;
        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len + 1 == cap) {
                        if (len > max)
                                break;
                        cap = cap * 2 < max + 2 ? cap * 2 : max + 2;
                        char *nb = realloc(buf, cap);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                ssize_t n = read(fd, buf + len, cap - 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        lf_diag_add(diag, path, 0, "cannot read: %s", strerror(-r));
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > max) {
                lf_diag_add(diag, path, 0, "is larger than %zu bytes; refusing to read it", max);
                return -EFBIG;
        }
        buf[len] = 0;
        *ret_buf = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* Whole-file reading with limits; see fileio.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

static int write_all(int fd, const char *p, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int fsync_parent(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (!slash)
                strcpy(dir, ".");
        else if (slash == dir)
                dir[1] = '\0';
        else
                *slash = '\0';
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

int lf_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode) {
        _cleanup_free_ char *tmp = NULL;
        int r;

        if (asprintf(&tmp, "%s.lf-tmp", path) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd =
                open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
        if (fd < 0)
                return -errno;
        r = write_all(fd, data, len);
        if (r == 0 && (fchmod(fd, mode & 07777) < 0 || fsync(fd) < 0))
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlink(tmp);
                return r;
        }
        return fsync_parent(path);
}

int lf_mkdir_p(const char *path, unsigned mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;
                if (!c)
                        break;
        }
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int lf_write_fd_all(int fd, const void *buf, size_t len) {
        return write_all(fd, buf, len);
}

int lf_read_fd_all(int fd, size_t max, char **ret_buf, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        for (;;) {
                if (len == cap) {
                        if (cap > max)
                                return -EMSGSIZE;
                        cap = cap ? cap * 2 : 4096;
                        char *b = realloc(buf, cap + 1);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return -EMSGSIZE;
        }
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[len] = 0;
        *ret_buf = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

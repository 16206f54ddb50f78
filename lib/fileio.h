/* Reading whole input files (manifests, documents people hand us) with a size limit and
 * user-facing errors through lf_diag. */
#pragma once

#include <stddef.h>

#include "diag.h"

/* Reads the regular file at path into a NUL-terminated malloc'ed buffer. A missing, unreadable
 * or non-regular file, or one larger than max bytes, is reported to diag as "PATH: ..." and
 * gives a negative errno (-EFBIG when too large); ret_* are then untouched. */
int lf_read_file(const char *path, size_t max, lf_diag *diag, char **ret_buf, size_t *ret_len);

/* Replaces path with data so that a power cut leaves either the old or the new file: writes
 * "<path>.lf-tmp", fsyncs it, renames it over path and fsyncs the directory. 0 or -errno. */
int lf_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* Creates path and its missing parents (like mkdir -p); existing directories are fine. */
int lf_mkdir_p(const char *path, unsigned mode);

/* Whole-buffer I/O on a descriptor (sockets, pipes), retrying short transfers and EINTR. */
int lf_write_fd_all(int fd, const void *buf, size_t len);
/* Reads until end of file into a NUL-terminated malloc'ed buffer: -EMSGSIZE past max bytes,
 * -ETIMEDOUT when a receive timeout (SO_RCVTIMEO) expires, else 0 or -errno. */
int lf_read_fd_all(int fd, size_t max, char **ret_buf, size_t *ret_len);

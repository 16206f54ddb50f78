/* Role images as tar.zst on libarchive: packing a directory tree reproducibly, and extracting a
 * (verified) stream into a target directory without letting any entry escape it. (Named
 * tarball, not archive, so that <archive.h> stays libarchive's under -Ilib.) */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "diag.h"

/* Limits of what an image may hold: entries, bytes of one path, directory depth. */
#define LF_TARBALL_MAX_ENTRIES (4u * 1024 * 1024)
#define LF_TARBALL_MAX_PATH 4096
#define LF_TARBALL_MAX_DEPTH 256

typedef struct lf_tarball_stats {
        uint64_t entries;
        uint64_t data_bytes; /* file contents, uncompressed */
} lf_tarball_stats;

typedef struct lf_tarball_pack_options {
        /* Modification times later than this (SOURCE_DATE_EPOCH) are clamped to it; < 0 keeps
         * them. Sub-second parts are always dropped. */
        int64_t clamp_mtime;
        int zstd_level; /* 1..19; 0 for the default (9) */
        /* zstd worker threads; 0: one per online CPU. zstd's output is the same for any number
         * of workers, so this does not change the bytes. */
        int threads;
} lf_tarball_pack_options;

/* Packs the tree under dir into out_path (written beside it first, then renamed, so a reader
 * never sees half a file). Reproducible: entries in byte order of their names, numeric owners
 * only, no atime/ctime, pax format, extended attributes (file capabilities) kept except
 * security.selinux, hard links stored once. Sockets are left out. A problem with the tree is
 * reported to diag ("DIR/etc/x: cannot read: ...") and its negative errno returned. */
int lf_tarball_pack(const char *dir, const char *out_path, const lf_tarball_pack_options *opts,
                    lf_diag *diag, lf_tarball_stats *ret_stats);

/* Supplies the next part of the archive: *ret_buf and *ret_len (0 at the end). Returns 0, or a
 * negative errno that aborts the extraction and is returned by lf_tarball_extract. */
typedef int (*lf_tarball_read_fn)(void *userdata, const void **ret_buf, size_t *ret_len);

/* Extracts a tar.zst stream into target (an existing directory). Refuses absolute entry names,
 * any ".." component, entries through symbolic links and hard links leaving the target; keeps
 * modes, times, extended attributes and, when run as root, numeric owners. Existing files are
 * replaced, so running it again over a half-extracted tree converges. Ends with syncfs() of the
 * target's file system. Problems with the image are reported to diag naming `name` and the
 * entry; a read error from the callback is returned as is. */
int lf_tarball_extract(const char *name, const char *target, lf_tarball_read_fn read,
                       void *userdata, lf_diag *diag, lf_tarball_stats *ret_stats);

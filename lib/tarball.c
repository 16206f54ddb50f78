/* Packing and extracting role images (tar.zst) with libarchive; see archive.h. Packing builds
 * each header by hand from lstat() instead of archive_read_disk, so nothing host-specific
 * (user names, atime, ctime, sub-second times) reaches the image. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "tarball.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free);
#define _cleanup_archive_ _cleanup_(archive_freep)
#define _cleanup_archive_entry_ _cleanup_(archive_entry_freep)

#define IO_BUF_SIZE (1u << 20)
#define XATTR_MAX_BYTES (64u * 1024)
#define DEFAULT_ZSTD_LEVEL 9 /* 15 packs a role image 1% smaller in 10 times the time */

/* The negative errno of libarchive's last error, -EIO when it has none. */
static int archive_err(struct archive *a) {
        int e = archive_errno(a);
        return e > 0 ? -e : -EIO;
}

static const char *archive_msg(struct archive *a) {
        const char *s = archive_error_string(a);
        return s ? s : "unknown error";
}

/* --- Packing ------------------------------------------------------------------------------ */

typedef struct seen_inode {
        dev_t dev;
        ino_t ino;
        char *rel; /* the first name this inode was stored under */
} seen_inode;

typedef struct pack_ctx {
        struct archive *a;
        lf_diag *diag;
        int64_t clamp;
        char path[LF_TARBALL_MAX_PATH]; /* dir + "/" + rel of the current entry */
        size_t root_len;                /* rel starts at path + root_len + 1 */
        void *inodes;                   /* tsearch tree of seen_inode, for hard links */
        char *buf;
        lf_tarball_stats stats;
} pack_ctx;

static int inode_cmp(const void *a, const void *b) {
        const seen_inode *x = a, *y = b;
        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        if (x->ino != y->ino)
                return x->ino < y->ino ? -1 : 1;
        return 0;
}

static void seen_inode_free(void *p) {
        seen_inode *s = p;
        free(s->rel);
        free(s);
}

static const char *rel_of(const pack_ctx *c) {
        return c->path + c->root_len + 1;
}

static int pack_fail(pack_ctx *c, int r, const char *what) {
        lf_diag_add(c->diag, c->path, 0, "%s: %s", what, strerror(-r));
        return r;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The extended attributes of the current path, in name order, onto e. */
static int pack_xattrs(pack_ctx *c, struct archive_entry *e) {
        _cleanup_free_ char *names = NULL, *value = NULL;
        _cleanup_free_ const char **list = NULL;
        ssize_t n = llistxattr(c->path, NULL, 0);
        if (n < 0)
                return errno == ENOTSUP ? 0 : pack_fail(c, -errno, "cannot list its attributes");
        if (n == 0)
                return 0;
        if ((size_t)n > XATTR_MAX_BYTES)
                return pack_fail(c, -E2BIG, "too many extended attributes");
        names = malloc((size_t)n);
        value = malloc(XATTR_MAX_BYTES);
        if (!names || !value)
                return -ENOMEM;
        n = llistxattr(c->path, names, (size_t)n);
        if (n < 0)
                return pack_fail(c, -errno, "cannot list its attributes");

        /* Every name takes at least two bytes with its NUL. */
        list = malloc(((size_t)n / 2 + 1) * sizeof(*list));
        if (!list)
                return -ENOMEM;
        size_t count = 0;
        for (char *p = names; p < names + n; p += strlen(p) + 1)
                if (*p && !streq(p, "security.selinux")) /* the build host's labels, not ours */
                        list[count++] = p;
        qsort(list, count, sizeof(list[0]), cmp_names);
        for (size_t i = 0; i < count; i++) {
                ssize_t len = lgetxattr(c->path, list[i], value, XATTR_MAX_BYTES);
                if (len < 0)
                        return pack_fail(c, -errno, "cannot read an extended attribute");
                archive_entry_xattr_add_entry(e, list[i], value, (size_t)len);
        }
        return 0;
}

static int pack_data(pack_ctx *c, off_t size) {
        _cleanup_close_ int fd = open(c->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        off_t done = 0;
        if (fd < 0)
                return pack_fail(c, -errno, "cannot open");
        for (;;) {
                ssize_t n = read(fd, c->buf, IO_BUF_SIZE);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return pack_fail(c, -errno, "cannot read");
                }
                if (n == 0)
                        break;
                if (done + n > size)
                        break;
                if (archive_write_data(c->a, c->buf, (size_t)n) != n) {
                        lf_diag_add(c->diag, c->path, 0, "cannot write to the archive: %s",
                                    archive_msg(c->a));
                        return archive_err(c->a);
                }
                done += n;
        }
        if (done != size) {
                lf_diag_add(c->diag, c->path, 0, "changed while being packed; pack again");
                return -EAGAIN;
        }
        c->stats.data_bytes += (uint64_t)size;
        return 0;
}

/* Writes the entry for c->path; *ret_is_dir tells the caller to descend. */
static int pack_entry(pack_ctx *c, bool *ret_is_dir) {
        _cleanup_archive_entry_ struct archive_entry *e = archive_entry_new();
        struct stat st;
        bool data = false;
        int r;

        *ret_is_dir = false;
        if (!e)
                return -ENOMEM;
        if (lstat(c->path, &st) < 0)
                return pack_fail(c, -errno, "cannot stat");
        if (S_ISSOCK(st.st_mode))
                return 0; /* a socket is created by whoever listens on it, never shipped */
        if (++c->stats.entries > LF_TARBALL_MAX_ENTRIES)
                return pack_fail(c, -E2BIG, "more entries than an image may hold");

        archive_entry_set_pathname(e, rel_of(c));
        archive_entry_set_mode(e, st.st_mode);
        archive_entry_set_uid(e, st.st_uid);
        archive_entry_set_gid(e, st.st_gid);
        int64_t mtime = st.st_mtim.tv_sec;
        if (c->clamp >= 0 && mtime > c->clamp)
                mtime = c->clamp;
        archive_entry_set_mtime(e, mtime, 0);

        if (S_ISREG(st.st_mode)) {
                seen_inode key = {.dev = st.st_dev, .ino = st.st_ino};
                seen_inode **found = st.st_nlink > 1 ? tfind(&key, &c->inodes, inode_cmp) : NULL;
                if (found) {
                        archive_entry_set_hardlink(e, (*found)->rel);
                        archive_entry_set_size(e, 0);
                } else {
                        archive_entry_set_size(e, st.st_size);
                        data = st.st_size > 0;
                        if (st.st_nlink > 1) {
                                seen_inode *s = calloc(1, sizeof(*s));
                                if (!s || !(s->rel = strdup(rel_of(c)))) {
                                        free(s);
                                        return -ENOMEM;
                                }
                                s->dev = st.st_dev;
                                s->ino = st.st_ino;
                                if (!tsearch(s, &c->inodes, inode_cmp)) {
                                        seen_inode_free(s);
                                        return -ENOMEM;
                                }
                        }
                }
        } else if (S_ISLNK(st.st_mode)) {
                char target[LF_TARBALL_MAX_PATH];
                ssize_t n = readlink(c->path, target, sizeof(target));
                if (n < 0)
                        return pack_fail(c, -errno, "cannot read the link");
                if ((size_t)n >= sizeof(target))
                        return pack_fail(c, -ENAMETOOLONG, "link target too long");
                target[n] = 0;
                archive_entry_set_symlink(e, target);
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
                archive_entry_set_rdev(e, st.st_rdev);
        else if (S_ISDIR(st.st_mode))
                *ret_is_dir = true;
        else if (!S_ISFIFO(st.st_mode))
                return pack_fail(c, -EINVAL, "unsupported file type");

        r = pack_xattrs(c, e);
        if (r < 0)
                return r;
        if (archive_write_header(c->a, e) != ARCHIVE_OK) {
                lf_diag_add(c->diag, c->path, 0, "cannot write to the archive: %s",
                            archive_msg(c->a));
                return archive_err(c->a);
        }
        return data ? pack_data(c, st.st_size) : 0;
}

/* Packs what is inside c->path (a directory), in byte order of names. */
static int pack_dir(pack_ctx *c, unsigned depth) {
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0, cap = 0, len = strlen(c->path);
        DIR *d;
        int r = 0;

        if (depth > LF_TARBALL_MAX_DEPTH)
                return pack_fail(c, -ELOOP, "directories nested too deep");
        d = opendir(c->path);
        if (!d)
                return pack_fail(c, -errno, "cannot open the directory");
        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (n + 2 > cap) {
                        cap = cap ? cap * 2 : 64;
                        char **nl = realloc(names, cap * sizeof(*nl));
                        if (!nl) {
                                r = -ENOMEM;
                                break;
                        }
                        names = nl;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -ENOMEM;
                        break;
                }
                names[++n] = NULL;
        }
        if (r == 0 && errno != 0)
                r = pack_fail(c, -errno, "cannot read the directory");
        closedir(d);
        if (r < 0 || n == 0)
                return r;
        qsort(names, n, sizeof(*names), cmp_names);

        for (size_t i = 0; i < n; i++) {
                bool is_dir;
                if (len + 1 + strlen(names[i]) + 1 > sizeof(c->path))
                        return pack_fail(c, -ENAMETOOLONG, "a name inside is too long");
                c->path[len] = '/';
                strcpy(c->path + len + 1, names[i]);
                r = pack_entry(c, &is_dir);
                if (r >= 0 && is_dir)
                        r = pack_dir(c, depth + 1);
                c->path[len] = 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

int lf_tarball_pack(const char *dir, const char *out_path, const lf_tarball_pack_options *opts,
                    lf_diag *diag, lf_tarball_stats *ret_stats) {
        _cleanup_archive_ struct archive *a = NULL;
        _cleanup_free_ char *tmp = NULL, *buf = NULL;
        _cleanup_close_ int fd = -1;
        pack_ctx c = {.diag = diag, .clamp = opts ? opts->clamp_mtime : -1};
        char level[16], threads[24];
        struct stat st;
        int r;

        if (stat(dir, &st) < 0) {
                r = -errno;
                lf_diag_add(diag, dir, 0, "cannot open: %s; give the image's root directory",
                            strerror(-r));
                return r;
        }
        if (!S_ISDIR(st.st_mode)) {
                lf_diag_add(diag, dir, 0, "is not a directory; give the image's root directory");
                return -ENOTDIR;
        }
        c.root_len = strlen(dir);
        while (c.root_len > 1 && dir[c.root_len - 1] == '/')
                c.root_len--;
        if (c.root_len + 2 > sizeof(c.path)) {
                lf_diag_add(diag, dir, 0, "path too long");
                return -ENAMETOOLONG;
        }
        memcpy(c.path, dir, c.root_len);
        c.path[c.root_len] = 0;
        if (asprintf(&tmp, "%s.tmp-XXXXXX", out_path) < 0)
                return -ENOMEM;
        buf = malloc(IO_BUF_SIZE);
        a = archive_write_new();
        if (!buf || !a)
                return -ENOMEM;
        c.buf = buf;
        c.a = a;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                lf_diag_add(diag, out_path, 0, "cannot create: %s", strerror(-r));
                return r;
        }
        snprintf(level, sizeof(level), "%d",
                 opts && opts->zstd_level > 0 ? opts->zstd_level : DEFAULT_ZSTD_LEVEL);
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        snprintf(threads, sizeof(threads), "%ld",
                 opts && opts->threads > 0 ? (long)opts->threads
                 : cpus > 0                ? cpus
                                           : 1);
        if (archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
            archive_write_set_filter_option(a, "zstd", "compression-level", level) != ARCHIVE_OK ||
            archive_write_set_filter_option(a, "zstd", "threads", threads) != ARCHIVE_OK ||
            archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_open_fd(a, fd) != ARCHIVE_OK) {
                lf_diag_add(diag, out_path, 0, "cannot start the archive: %s", archive_msg(a));
                r = archive_err(a);
                goto fail;
        }
        r = pack_dir(&c, 0);
        if (r < 0)
                goto fail;
        if (archive_write_close(a) != ARCHIVE_OK) {
                lf_diag_add(diag, out_path, 0, "cannot finish the archive: %s", archive_msg(a));
                r = archive_err(a);
                goto fail;
        }
        /* 0644 like any build output (mkostemp made it 0600), durable before it is named. */
        if (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(tmp, out_path) < 0) {
                r = -errno;
                lf_diag_add(diag, out_path, 0, "cannot write: %s", strerror(-r));
                goto fail;
        }
        tdestroy(c.inodes, seen_inode_free);
        if (ret_stats)
                *ret_stats = c.stats;
        return 0;
fail:
        tdestroy(c.inodes, seen_inode_free);
        unlink(tmp);
        return r;
}

/* --- Extraction --------------------------------------------------------------------------- */

typedef struct extract_ctx {
        lf_tarball_read_fn read;
        void *userdata;
        int read_error;
} extract_ctx;

static la_ssize_t extract_read(struct archive *a, void *userdata, const void **ret_buf) {
        extract_ctx *x = userdata;
        size_t len = 0;
        int r = x->read(x->userdata, ret_buf, &len);
        if (r < 0) {
                x->read_error = r;
                archive_set_error(a, -r, "reading the image failed");
                return -1;
        }
        return (la_ssize_t)len;
}

/* An entry name is relative, has no ".." component and fits: anything else could leave the
 * target. A leading "./" is allowed (tar's own habit). */
static const char *entry_name_problem(const char *name) {
        if (!name || !*name)
                return "has no name";
        if (name[0] == '/')
                return "is an absolute path";
        if (strlen(name) >= LF_TARBALL_MAX_PATH)
                return "has a name that is too long";
        for (const char *p = name; *p;) {
                size_t len = strcspn(p, "/");
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return "has a '..' component";
                p += len;
                p += *p == '/';
        }
        return NULL;
}

static int set_in_target(lf_diag *diag, const char *name, const char *target, const char *entry,
                         const char *rel, void (*set)(struct archive_entry *, const char *),
                         struct archive_entry *e) {
        const char *why = entry_name_problem(rel);
        char path[LF_TARBALL_MAX_PATH * 2];
        if (why)
                return lf_diag_add(diag, name, 0,
                                   "entry '%s' %s; refusing to extract an image that could "
                                   "write outside the target",
                                   entry ? entry : "", why);
        while (rel[0] == '.' && rel[1] == '/')
                rel += 2;
        snprintf(path, sizeof(path), "%s/%s", target, rel);
        set(e, path);
        return 0;
}

int lf_tarball_extract(const char *name, const char *target, lf_tarball_read_fn read,
                       void *userdata, lf_diag *diag, lf_tarball_stats *ret_stats) {
        _cleanup_archive_ struct archive *in = NULL, *out = NULL;
        _cleanup_free_ char *root = NULL;
        _cleanup_close_ int fd = -1;
        extract_ctx x = {.read = read, .userdata = userdata};
        lf_tarball_stats stats = {};
        int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                    ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS;
        int r;

        /* Entries are extracted under the resolved target: libarchive's symlink check then
         * only meets links the image itself made. */
        root = realpath(target, NULL);
        if (!root) {
                r = -errno;
                lf_diag_add(diag, target, 0, "cannot open the target: %s", strerror(-r));
                return r;
        }
        if (geteuid() == 0)
                flags |= ARCHIVE_EXTRACT_OWNER;
        in = archive_read_new();
        out = archive_write_disk_new();
        if (!in || !out)
                return -ENOMEM;
        if (archive_read_support_filter_zstd(in) != ARCHIVE_OK ||
            archive_read_support_format_tar(in) != ARCHIVE_OK ||
            archive_write_disk_set_options(out, flags) != ARCHIVE_OK)
                return lf_diag_add(diag, name, 0, "cannot set up libarchive: %s", archive_msg(in));
        if (archive_read_open(in, &x, NULL, extract_read, NULL) != ARCHIVE_OK)
                goto read_failed;

        for (;;) {
                struct archive_entry *e;
                r = archive_read_next_header(in, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        goto read_failed;
                if (++stats.entries > LF_TARBALL_MAX_ENTRIES)
                        return lf_diag_add(diag, name, 0, "more than %u entries; not an image",
                                           LF_TARBALL_MAX_ENTRIES);
                _cleanup_free_ char *entry = strdup(archive_entry_pathname(e) ?: "");
                if (!entry)
                        return -ENOMEM;
                /* tar stores a hard link with no type of its own. */
                switch (archive_entry_hardlink(e) ? AE_IFREG : archive_entry_filetype(e)) {
                case AE_IFREG:
                case AE_IFDIR:
                case AE_IFLNK:
                case AE_IFCHR:
                case AE_IFBLK:
                case AE_IFIFO:
                        break;
                default:
                        return lf_diag_add(diag, name, 0, "entry '%s' has an unsupported type",
                                           entry);
                }
                r = set_in_target(diag, name, root, entry, entry, archive_entry_copy_pathname, e);
                if (r < 0)
                        return r;
                if (archive_entry_hardlink(e)) {
                        _cleanup_free_ char *link = strdup(archive_entry_hardlink(e));
                        if (!link)
                                return -ENOMEM;
                        r = set_in_target(diag, name, root, entry, link,
                                          archive_entry_copy_hardlink, e);
                        if (r < 0)
                                return r;
                }
                if (archive_write_header(out, e) != ARCHIVE_OK)
                        goto write_failed_entry;
                for (;;) {
                        const void *buf;
                        size_t len;
                        la_int64_t off;
                        r = archive_read_data_block(in, &buf, &len, &off);
                        if (r == ARCHIVE_EOF)
                                break;
                        if (r < ARCHIVE_WARN)
                                goto read_failed;
                        if (archive_write_data_block(out, buf, len, off) != ARCHIVE_OK)
                                goto write_failed_entry;
                        stats.data_bytes += len;
                }
                if (archive_write_finish_entry(out) != ARCHIVE_OK)
                        goto write_failed_entry;
                continue;
        write_failed_entry:
                lf_diag_add(diag, target, 0, "cannot extract '%s': %s", entry, archive_msg(out));
                return archive_err(out);
        }
        /* Sets the modes and times of directories, deferred by libarchive until now. */
        if (archive_write_close(out) != ARCHIVE_OK) {
                lf_diag_add(diag, target, 0, "cannot finish extracting: %s", archive_msg(out));
                return archive_err(out);
        }
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || syncfs(fd) < 0) {
                r = -errno;
                lf_diag_add(diag, target, 0, "cannot flush to disk: %s", strerror(-r));
                return r;
        }
        if (ret_stats)
                *ret_stats = stats;
        return 0;

read_failed:
        if (x.read_error < 0)
                return x.read_error;
        lf_diag_add(diag, name, 0, "not a readable tar.zst image: %s", archive_msg(in));
        return archive_err(in);
}

/* Role image packing and extraction: a round trip keeps what a root file system needs (links,
 * modes, owners, times, capabilities), packing is byte-reproducible, and extraction refuses
 * every entry that could write outside its target (archives crafted here with libarchive). */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>

#include "diag.h"
#include "tarball.h"
#include "test.h"

#define EPOCH 1700000000

static char *path_in(const char *dir, const char *rel) {
        char *p;
        ASSERT_TRUE(asprintf(&p, "%s/%s", dir, rel) > 0);
        return p;
}

static void write_file(const char *dir, const char *rel, const char *content, mode_t mode) {
        _cleanup_free_ char *p = path_in(dir, rel);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, content, strlen(content)), (long long)strlen(content));
        ASSERT_EQ(fchmod(fd, mode), 0); /* past the umask */
        close(fd);
}

static void make_dir(const char *dir, const char *rel, mode_t mode) {
        _cleanup_free_ char *p = path_in(dir, rel);
        ASSERT_EQ(mkdir(p, mode), 0);
        ASSERT_EQ(chmod(p, mode), 0);
}

static void set_mtime(const char *dir, const char *rel, time_t t) {
        _cleanup_free_ char *p = path_in(dir, rel);
        struct timeval tv[2] = {{t, 0}, {t, 0}};
        ASSERT_EQ(lutimes(p, tv), 0);
}

/* A small root file system: nested directories, modes, a hard link, relative and absolute
 * symbolic links, an empty file, a FIFO, a file capability and a user attribute. Made in the
 * listed order or backwards, so that two trees differ in creation order only. */
static void make_tree(const char *dir, bool backwards) {
        static const struct {
                const char *rel, *content;
                mode_t mode;
        } files[] = {
                {"usr/bin/ping", "#!/bin/sh\necho ping\n", 0755},
                {"usr/bin/perl", "perl binary\n", 0755},
                {"etc/shadow", "root:!:19000::::::\n", 0640},
                {"etc/empty", "", 0644},
                {"root/future", "clamped\n", 0600},
        };
        size_t n = ELEMENTSOF(files);

        make_dir(dir, "usr", 0755);
        make_dir(dir, "usr/bin", 0755);
        make_dir(dir, "etc", 0755);
        make_dir(dir, "root", 0700);
        for (size_t i = 0; i < n; i++) {
                size_t k = backwards ? n - 1 - i : i;
                write_file(dir, files[k].rel, files[k].content, files[k].mode);
        }
        _cleanup_free_ char *perl = path_in(dir, "usr/bin/perl");
        _cleanup_free_ char *perl2 = path_in(dir, "usr/bin/perl5.36.0");
        ASSERT_EQ(link(perl, perl2), 0);
        _cleanup_free_ char *bin = path_in(dir, "bin");
        ASSERT_EQ(symlink("usr/bin", bin), 0);
        _cleanup_free_ char *mtab = path_in(dir, "etc/mtab");
        ASSERT_EQ(symlink("/proc/self/mounts", mtab), 0);
        _cleanup_free_ char *fifo = path_in(dir, "etc/initctl");
        ASSERT_EQ(mkfifo(fifo, 0600), 0);
        _cleanup_free_ char *shadow = path_in(dir, "etc/shadow");
        ASSERT_EQ(chown(shadow, 0, 42), geteuid() == 0 ? 0 : -1);
        _cleanup_free_ char *ping = path_in(dir, "usr/bin/ping");
        ASSERT_EQ(lsetxattr(ping, "user.labforge", "yes", 3, 0), 0);
        if (geteuid() == 0) {
                /* cap_net_raw=ep, as Debian's iputils-ping sets it (VFS_CAP_REVISION_2). */
                static const unsigned char cap[20] = {0x01, 0, 0, 0x02, 0, 0x20};
                ASSERT_EQ(lsetxattr(ping, "security.capability", cap, sizeof(cap), 0), 0);
        }
        set_mtime(dir, "usr/bin/ping", EPOCH - 1000);
        set_mtime(dir, "root/future", EPOCH + 1000);
        set_mtime(dir, "bin", EPOCH - 50);
}

static void pack_threads(const char *dir, const char *out, int threads) {
        lf_diag diag = {};
        lf_tarball_stats st = {};
        lf_tarball_pack_options o = {.clamp_mtime = EPOCH, .threads = threads};
        int r = lf_tarball_pack(dir, out, &o, &diag, &st);
        lf_diag_print(&diag);
        lf_diag_clear(&diag);
        ASSERT_EQ(r, 0);
        ASSERT_EQ(st.entries, 13);
}

static void pack(const char *dir, const char *out) {
        pack_threads(dir, out, 0);
}

/* The stream callback, handing the archive over in small uneven pieces. */
typedef struct reader {
        const char *data;
        size_t len, off, piece;
        size_t fail_after; /* fail with -EBADMSG once this many bytes went out (0: never) */
} reader;

static int read_piece(void *userdata, const void **ret_buf, size_t *ret_len) {
        reader *rd = userdata;
        if (rd->fail_after && rd->off >= rd->fail_after)
                return -EBADMSG;
        size_t n = rd->len - rd->off < rd->piece ? rd->len - rd->off : rd->piece;
        *ret_buf = rd->data + rd->off;
        *ret_len = n;
        rd->off += n;
        return 0;
}

static int extract_buf(const char *data, size_t len, const char *target, lf_diag *diag) {
        reader rd = {.data = data, .len = len, .piece = 4093};
        return lf_tarball_extract("image.tar.zst", target, read_piece, &rd, diag, NULL);
}

static int extract_file(const char *file, const char *target, lf_diag *diag) {
        _cleanup_free_ char *data = lf_test_read_file(file);
        struct stat st;
        ASSERT_EQ(stat(file, &st), 0);
        return extract_buf(data, (size_t)st.st_size, target, diag);
}

static struct stat lstat_in(const char *dir, const char *rel) {
        _cleanup_free_ char *p = path_in(dir, rel);
        struct stat st;
        if (lstat(p, &st) < 0)
                lf_test_fail(__FILE__, __LINE__, "%s: %s", p, strerror(errno));
        return st;
}

TEST(round_trip_keeps_links_modes_owners_times_and_attributes) {
        _cleanup_free_ char *src = path_in(lf_test_tmpdir(), "src");
        _cleanup_free_ char *dst = path_in(lf_test_tmpdir(), "dst");
        _cleanup_free_ char *img = path_in(lf_test_tmpdir(), "img.tar.zst");
        lf_diag diag = {};
        char buf[64];

        ASSERT_EQ(mkdir(src, 0755), 0);
        ASSERT_EQ(mkdir(dst, 0755), 0);
        make_tree(src, false);
        pack(src, img);
        int r = extract_file(img, dst, &diag);
        lf_diag_print(&diag);
        lf_diag_clear(&diag);
        ASSERT_EQ(r, 0);

        ASSERT_EQ(lstat_in(dst, "root").st_mode, S_IFDIR | 0700);
        ASSERT_EQ(lstat_in(dst, "usr/bin/ping").st_mode, S_IFREG | 0755);
        ASSERT_EQ(lstat_in(dst, "etc/shadow").st_mode, S_IFREG | 0640);
        ASSERT_EQ(lstat_in(dst, "etc/initctl").st_mode, S_IFIFO | 0600);
        ASSERT_EQ(lstat_in(dst, "etc/empty").st_size, 0);
        if (geteuid() == 0)
                ASSERT_EQ(lstat_in(dst, "etc/shadow").st_gid, 42);
        _cleanup_free_ char *dping = path_in(dst, "usr/bin/ping");
        _cleanup_free_ char *ping = lf_test_read_file(dping);
        ASSERT_STREQ(ping, "#!/bin/sh\necho ping\n");

        /* Hard links stay one inode; symbolic links keep their targets, absolute ones too. */
        ASSERT_EQ(lstat_in(dst, "usr/bin/perl").st_ino, lstat_in(dst, "usr/bin/perl5.36.0").st_ino);
        ASSERT_EQ(lstat_in(dst, "usr/bin/perl").st_nlink, 2);
        _cleanup_free_ char *bin = path_in(dst, "bin"), *mtab = path_in(dst, "etc/mtab");
        ssize_t n = readlink(bin, buf, sizeof(buf) - 1);
        ASSERT_TRUE(n > 0);
        buf[n] = 0;
        ASSERT_STREQ(buf, "usr/bin");
        n = readlink(mtab, buf, sizeof(buf) - 1);
        ASSERT_TRUE(n > 0);
        buf[n] = 0;
        ASSERT_STREQ(buf, "/proc/self/mounts");

        /* Times: older ones kept, later ones clamped to SOURCE_DATE_EPOCH, links' own too. */
        ASSERT_EQ(lstat_in(dst, "usr/bin/ping").st_mtime, EPOCH - 1000);
        ASSERT_EQ(lstat_in(dst, "root/future").st_mtime, EPOCH);
        ASSERT_EQ(lstat_in(dst, "bin").st_mtime, EPOCH - 50);

        ASSERT_EQ(lgetxattr(dping, "user.labforge", buf, sizeof(buf)), 3);
        ASSERT_TRUE(memcmp(buf, "yes", 3) == 0);
        if (geteuid() == 0) {
                unsigned char cap[32];
                ASSERT_EQ(lgetxattr(dping, "security.capability", cap, sizeof(cap)), 20);
                ASSERT_EQ(cap[5], 0x20);
        }
}

TEST(packing_is_reproducible) {
        _cleanup_free_ char *a = path_in(lf_test_tmpdir(), "a");
        _cleanup_free_ char *b = path_in(lf_test_tmpdir(), "b");
        _cleanup_free_ char *img1 = path_in(lf_test_tmpdir(), "1.tar.zst");
        _cleanup_free_ char *img2 = path_in(lf_test_tmpdir(), "2.tar.zst");
        _cleanup_free_ char *img3 = path_in(lf_test_tmpdir(), "3.tar.zst");
        struct stat s1, s3;

        ASSERT_EQ(mkdir(a, 0755), 0);
        ASSERT_EQ(mkdir(b, 0755), 0);
        make_tree(a, false);
        pack_threads(a, img1, 1);
        pack_threads(a, img2, 3);
        _cleanup_free_ char *d1 = lf_test_read_file(img1), *d2 = lf_test_read_file(img2);
        ASSERT_EQ(stat(img1, &s1), 0);
        ASSERT_TRUE(memcmp(d1, d2, (size_t)s1.st_size) == 0);

        /* (Above: one zstd worker, then three: the same bytes.) The same tree made later, in
         * another order: the same bytes, because names are sorted, new times clamped (every time
         * made here is past EPOCH) and inode numbers never stored. */
        make_tree(b, true);
        pack(b, img3);
        _cleanup_free_ char *d3 = lf_test_read_file(img3);
        ASSERT_EQ(stat(img3, &s3), 0);
        ASSERT_EQ(s1.st_size, s3.st_size);
        ASSERT_TRUE(memcmp(d1, d3, (size_t)s1.st_size) == 0);
}

TEST(extracting_again_over_the_same_target_converges) {
        _cleanup_free_ char *src = path_in(lf_test_tmpdir(), "src");
        _cleanup_free_ char *dst = path_in(lf_test_tmpdir(), "dst");
        _cleanup_free_ char *img = path_in(lf_test_tmpdir(), "img.tar.zst");
        lf_diag diag = {};

        ASSERT_EQ(mkdir(src, 0755), 0);
        ASSERT_EQ(mkdir(dst, 0755), 0);
        make_tree(src, false);
        pack(src, img);
        ASSERT_EQ(extract_file(img, dst, &diag), 0);
        /* What an interrupted extraction leaves: a truncated file, a missing one. */
        write_file(dst, "usr/bin/ping", "half", 0600);
        _cleanup_free_ char *shadow = path_in(dst, "etc/shadow");
        ASSERT_EQ(unlink(shadow), 0);
        ASSERT_EQ(extract_file(img, dst, &diag), 0);
        ASSERT_EQ(diag.n, 0);
        _cleanup_free_ char *ping = path_in(dst, "usr/bin/ping");
        _cleanup_free_ char *content = lf_test_read_file(ping);
        ASSERT_STREQ(content, "#!/bin/sh\necho ping\n");
        ASSERT_EQ(lstat_in(dst, "usr/bin/ping").st_mode, S_IFREG | 0755);
        ASSERT_EQ(lstat_in(dst, "etc/shadow").st_mode, S_IFREG | 0640);
        ASSERT_EQ(lstat_in(dst, "usr/bin/perl").st_ino, lstat_in(dst, "usr/bin/perl5.36.0").st_ino);
}

/* An archive written entry by entry with libarchive, as a hostile image would be. */
typedef struct crafted {
        const char *name;
        mode_t type;          /* AE_IFREG, AE_IFLNK, AE_IFDIR */
        const char *symlink;  /* for AE_IFLNK */
        const char *hardlink; /* makes the entry a hard link */
        const char *content;
} crafted;

static size_t craft(const crafted *entries, size_t n, char *buf, size_t cap) {
        struct archive *a = archive_write_new();
        size_t used = 0;
        ASSERT_EQ(archive_write_add_filter_zstd(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                const char *content = entries[i].content ? entries[i].content : "";
                archive_entry_set_pathname(e, entries[i].name);
                archive_entry_set_filetype(e, entries[i].type);
                archive_entry_set_perm(e, 0644);
                if (entries[i].symlink)
                        archive_entry_set_symlink(e, entries[i].symlink);
                if (entries[i].hardlink)
                        archive_entry_set_hardlink(e, entries[i].hardlink);
                if (entries[i].type == AE_IFREG && !entries[i].hardlink)
                        archive_entry_set_size(e, (la_int64_t)strlen(content));
                ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
                if (entries[i].type == AE_IFREG && !entries[i].hardlink)
                        ASSERT_EQ(archive_write_data(a, content, strlen(content)),
                                  (long long)strlen(content));
                archive_entry_free(e);
        }
        ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        return used;
}

static bool exists(const char *p) {
        struct stat st;
        return lstat(p, &st) == 0;
}

TEST(refuses_entries_that_leave_the_target) {
        const char *top = lf_test_tmpdir();
        _cleanup_free_ char *outside = path_in(top, "outside");
        _cleanup_free_ char *victim = path_in(top, "victim");
        _cleanup_free_ char *abs = path_in(top, "abs-escape");
        _cleanup_free_ char *escape = path_in(top, "escape");
        _cleanup_free_ char *through = path_in(top, "outside/x");
        const struct {
                crafted e[2];
                size_t n;
                const char *problem; /* expected in the message */
                const char *written; /* must not exist afterwards */
        } cases[] = {
                {{{"../escape", AE_IFREG, NULL, NULL, "x"}}, 1, "'..' component", escape},
                {{{"a/../../escape", AE_IFREG, NULL, NULL, "x"}}, 1, "'..' component", escape},
                {{{abs, AE_IFREG, NULL, NULL, "x"}}, 1, "absolute path", abs},
                {{{"h", AE_IFREG, NULL, "../victim", NULL}}, 1, "'..' component", NULL},
                {{{"h", AE_IFREG, NULL, victim, NULL}}, 1, "absolute path", NULL},
                /* A link to a directory outside, then a file through it. */
                {{{"l", AE_IFLNK, outside, NULL, NULL}, {"l/x", AE_IFREG, NULL, NULL, "x"}},
                 2,
                 "cannot extract 'l/x'",
                 through},
        };

        ASSERT_EQ(mkdir(outside, 0755), 0);
        write_file(top, "victim", "precious", 0600);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char buf[16384], name[32];
                lf_diag diag = {};
                size_t len = craft(cases[i].e, cases[i].n, buf, sizeof(buf));
                snprintf(name, sizeof(name), "t%zu", i);
                _cleanup_free_ char *target = path_in(top, name);
                ASSERT_EQ(mkdir(target, 0755), 0);

                ASSERT_TRUE(extract_buf(buf, len, target, &diag) < 0);
                ASSERT_EQ(diag.n, 1);
                ASSERT_CONTAINS(diag.msgs[0], cases[i].problem);
                if (cases[i].written)
                        ASSERT_TRUE(!exists(cases[i].written));
                _cleanup_free_ char *h = path_in(target, "h");
                ASSERT_TRUE(!exists(h));
                lf_diag_clear(&diag);
        }
        _cleanup_free_ char *v = lf_test_read_file(victim);
        ASSERT_STREQ(v, "precious");
        struct stat st;
        ASSERT_EQ(stat(victim, &st), 0);
        ASSERT_EQ(st.st_nlink, 1);
}

TEST(read_errors_abort_and_are_returned_as_is) {
        _cleanup_free_ char *src = path_in(lf_test_tmpdir(), "src");
        _cleanup_free_ char *dst = path_in(lf_test_tmpdir(), "dst");
        _cleanup_free_ char *img = path_in(lf_test_tmpdir(), "img.tar.zst");
        lf_diag diag = {};
        struct stat st;

        ASSERT_EQ(mkdir(src, 0755), 0);
        ASSERT_EQ(mkdir(dst, 0755), 0);
        make_tree(src, false);
        pack(src, img);
        _cleanup_free_ char *data = lf_test_read_file(img);
        ASSERT_EQ(stat(img, &st), 0);
        reader rd = {.data = data, .len = (size_t)st.st_size, .piece = 64, .fail_after = 128};
        ASSERT_EQ(lf_tarball_extract("img", dst, read_piece, &rd, &diag, NULL), -EBADMSG);
        ASSERT_EQ(diag.n, 0); /* the reader's owner reports its own failure */
}

TEST(refuses_what_is_not_a_tar_zst) {
        _cleanup_free_ char *dst = path_in(lf_test_tmpdir(), "dst");
        static const char junk[] = "this is not an image, just text long enough to look at it";
        lf_diag diag = {};

        ASSERT_EQ(mkdir(dst, 0755), 0);
        ASSERT_TRUE(extract_buf(junk, sizeof(junk), dst, &diag) < 0);
        ASSERT_EQ(diag.n, 1);
        ASSERT_CONTAINS(diag.msgs[0], "image.tar.zst: not a readable tar.zst image");
        lf_diag_clear(&diag);
}

TEST(pack_reports_a_missing_directory) {
        _cleanup_free_ char *out = path_in(lf_test_tmpdir(), "x.tar.zst");
        lf_diag diag = {};
        ASSERT_EQ(lf_tarball_pack("/nonexistent/rootfs", out, NULL, &diag, NULL), -ENOENT);
        ASSERT_EQ(diag.n, 1);
        ASSERT_CONTAINS(diag.msgs[0], "/nonexistent/rootfs: cannot open");
        ASSERT_TRUE(!exists(out));
        lf_diag_clear(&diag);
}

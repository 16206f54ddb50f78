/* The plan executor (installer/executor.h) on a fake machine. The command runner's hook records
 * every command with its input (golden tests/fixtures/executor/NAME.commands, progress lines
 * in between), answers from canned output (NAME/responses: the formats captured in the
 * installer initramfs, tests/fixtures/devstate/README.md), and keeps the fake machine's
 * /proc/mounts, /proc/mdstat and /dev of a temporary directory up to date the way the kernel
 * and the tools do for mount, umount, mdadm --create/--assemble/--stop and sfdisk. */
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cmd.h"
#include "fileio.h"
#include "inventory.h"
#include "plan.h"
#include "../../installer/executor.h"
#include "../../installer/journal.h"
#include "../../installer/sysconfig.h"
#include "test.h"

#define FIX "tests/fixtures/executor/"
#define IMAGE_SHA "5f1c8e7d4b3a29180716253443526170819fa0b1c2d3e4f5061728394a5b6c7d"

typedef struct response {
        char *cmd;
        int status;
        char *out, *err;
        bool used;
} response;

typedef struct fake {
        char root[300], proc[400], dev[400], target[400];
        response *resp;
        size_t n_resp;
        FILE *log;
        const lf_plan *plan;
        unsigned writes;  /* commands that destroy data */
        unsigned changes; /* commands that change any state of the disks */
} fake;

static char *read_or_empty(const char *path) {
        char *buf = NULL;
        size_t len;
        lf_diag d = {0};
        if (lf_read_file(path, 1u << 20, &d, &buf, &len) < 0)
                buf = strdup("");
        lf_diag_clear(&d);
        return buf;
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                lf_test_fail(__FILE__, __LINE__, "cannot write %s", path);
}

static void touch(const char *path) {
        char dir[600];
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = '\0';
        ASSERT_EQ(lf_mkdir_p(dir, 0755), 0);
        write_text(path, "");
}

/* "s" with the fake's temporary directory written as @TMP, so goldens do not depend on it. */
static char *untmp(const fake *f, const char *s) {
        size_t n = strlen(f->root);
        char *out = malloc(strlen(s) * 2 + 8), *w = out;
        for (const char *p = s; *p;)
                if (strneq(p, f->root, n)) {
                        w = stpcpy(w, "@TMP");
                        p += n;
                } else
                        *w++ = *p++;
        *w = '\0';
        return out;
}

/* path: relative to the top of the tree. */
static void load_responses(fake *f, const char *path) {
        char *buf = lf_test_read_file(path);
        response *cur = NULL;

        for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                if (line[0] == '#')
                        continue;
                if (strneq(line, "$ ", 2)) {
                        f->resp = realloc(f->resp, (f->n_resp + 1) * sizeof(response));
                        cur = &f->resp[f->n_resp++];
                        *cur = (response){
                                .cmd = strdup(line + 2), .out = strdup(""), .err = strdup("")};
                        continue;
                }
                if (!cur)
                        lf_test_fail(__FILE__, __LINE__, "%s: output before the first $", path);
                char **dst = &cur->out;
                const char *text = line;
                if (strneq(line, "? ", 2)) {
                        cur->status = atoi(line + 2);
                        continue;
                }
                if (strneq(line, "! ", 2)) {
                        dst = &cur->err;
                        text = line + 2;
                }
                char *grown = NULL;
                if (asprintf(&grown, "%s%s\n", *dst, text) < 0)
                        abort();
                free(*dst);
                *dst = grown;
        }
        free(buf);
}

static const char *arg_after(const char *const *argv, const char *opt) {
        for (size_t i = 0; argv[i]; i++)
                if (streq(argv[i], opt) && argv[i + 1])
                        return argv[i + 1];
        return NULL;
}

static size_t argc_of(const char *const *argv) {
        size_t n = 0;
        while (argv[n])
                n++;
        return n;
}

/* The kernel name behind a /dev path of the fake machine. */
static void kname_of(const fake *f, const char *path, char *buf, size_t len) {
        char p[700], target[600];
        snprintf(p, sizeof(p), "%s/%s", f->dev, path + 5);
        ssize_t n = readlink(p, target, sizeof(target) - 1);
        const char *src = path;
        if (n > 0) {
                target[n] = '\0';
                src = target;
        }
        snprintf(buf, len, "%s", strrchr(src, '/') + 1);
}

static void mdstat_remove(fake *f, const char *kname) {
        char path[500], head[80];
        snprintf(path, sizeof(path), "%s/mdstat", f->proc);
        snprintf(head, sizeof(head), "%s : ", kname);
        char *buf = read_or_empty(path), *out = calloc(1, strlen(buf) + 1);
        bool skipping = false;
        for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                if (strneq(l, head, strlen(head)))
                        skipping = true;
                else if (l[0] != ' ')
                        skipping = false;
                if (!skipping)
                        strcat(strcat(out, l), "\n");
        }
        write_text(path, out);
        free(buf);
        free(out);
}

/* mdadm --create/--assemble DEV --run [options] MEMBERS...: a running array, as mdadm makes it
 * without udev (the next free mdN counting down from md127, a /dev/md/NAME link). */
static void md_start(fake *f, const char *const *argv) {
        char path[500], *buf, line[512] = "", kname[32];
        snprintf(path, sizeof(path), "%s/mdstat", f->proc);
        buf = read_or_empty(path);
        for (int n = 127;; n--) {
                char head[40];
                snprintf(kname, sizeof(kname), "md%d", n);
                snprintf(head, sizeof(head), "%s : ", kname);
                if (!strstr(buf, head))
                        break;
        }
        snprintf(line, sizeof(line), "%s : active raid0", kname);
        size_t role = 0;
        for (size_t i = 3; argv[i]; i++)
                if (strneq(argv[i], "/dev/", 5)) {
                        char m[64];
                        kname_of(f, argv[i], m, sizeof(m));
                        snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s[%zu]", m,
                                 role++);
                }
        char *all = NULL;
        if (asprintf(&all, "%s%s\n      1000 blocks super 1.2 512k chunks\n\n", buf, line) < 0)
                abort();
        write_text(path, all);
        free(all);
        free(buf);
        char link[600], dest[64];
        snprintf(link, sizeof(link), "%s/%s", f->dev, argv[2] + 5);
        snprintf(dest, sizeof(dest), "/dev/%s", kname);
        touch(link);
        unlink(link);
        ASSERT_EQ(symlink(dest, link), 0);
        snprintf(link, sizeof(link), "%s/%s", f->dev, kname);
        touch(link);
}

static void simulate(fake *f, const char *const *argv, const char *input) {
        size_t argc = argc_of(argv);
        char path[500];

        if (streq(argv[0], "mount") && argc >= 3) {
                const char *type = arg_after(argv, "-t"), *opts = arg_after(argv, "-o");
                char *line = NULL;
                snprintf(path, sizeof(path), "%s/mounts", f->proc);
                char *buf = read_or_empty(path);
                if (asprintf(&line, "%s%s %s %s %s 0 0\n", buf, argv[argc - 2], argv[argc - 1],
                             type ? type : "none", opts ? opts : "rw") < 0)
                        abort();
                write_text(path, line);
                free(line);
                free(buf);
        } else if (streq(argv[0], "umount") && argc == 2) {
                snprintf(path, sizeof(path), "%s/mounts", f->proc);
                char *buf = read_or_empty(path), *out = calloc(1, strlen(buf) + 1);
                char *last = NULL;
                for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l;
                     l = strtok_r(NULL, "\n", &save)) {
                        char src[300], mp[300];
                        if (sscanf(l, "%299s %299s", src, mp) == 2 && streq(mp, argv[1]))
                                last = l;
                }
                for (char *l = buf; l < buf + strlen(buf) + 1 && *l;) {
                        size_t len = strlen(l);
                        if (l != last)
                                strcat(strcat(out, l), "\n");
                        l += len + 1;
                }
                write_text(path, out);
                free(buf);
                free(out);
        } else if (streq(argv[0], "mdadm") && argc >= 3 &&
                   (streq(argv[1], "--create") || streq(argv[1], "--assemble"))) {
                md_start(f, argv);
        } else if (streq(argv[0], "mdadm") && argc == 3 && streq(argv[1], "--stop")) {
                char kname[64];
                kname_of(f, argv[2], kname, sizeof(kname));
                mdstat_remove(f, kname);
        } else if (streq(argv[0], "sfdisk") && input) {
                char *copy = strdup(input);
                for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l;
                     l = strtok_r(NULL, "\n", &save))
                        if (strneq(l, "/dev/", 5) && strchr(l, ' ')) {
                                *strchr(l, ' ') = '\0';
                                snprintf(path, sizeof(path), "%s/%s", f->dev, l + 5);
                                touch(path);
                        }
                free(copy);
        }
}

static void classify(fake *f, const char *const *argv) {
        static const char *const writers[] = {"wipefs",   "mkfs.ext4", "mkfs.vfat", "pvcreate",
                                              "vgcreate", "vgremove",  "lvcreate",  "pvchange"};
        bool write = false, change = false;
        for (size_t i = 0; i < ELEMENTSOF(writers); i++)
                write |= streq(argv[0], writers[i]);
        if (streq(argv[0], "sfdisk") && !arg_after(argv, "--json") && !streq(argv[1], "--json"))
                write = true;
        if (streq(argv[0], "mdadm") &&
            (streq(argv[1], "--create") || streq(argv[1], "--zero-superblock")))
                write = true;
        change = write || streq(argv[0], "vgchange") || streq(argv[0], "umount") ||
                 (streq(argv[0], "mdadm") &&
                  (streq(argv[1], "--stop") || streq(argv[1], "--assemble")));
        f->writes += write;
        f->changes += change;
}

static int hook(const char *const *argv, const char *input, size_t input_len, lf_cmd_result *ret,
                void *userdata) {
        fake *f = userdata;
        char *line = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&line, &size);

        for (size_t i = 0; argv[i]; i++)
                fprintf(m, i ? (strchr(argv[i], ' ') ? " '%s'" : " %s") : "%s", argv[i]);
        fclose(m);
        char *shown = untmp(f, line);
        fprintf(f->log, "$ %s\n", shown);
        if (input) {
                char *copy = strndup(input, input_len);
                for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l;
                     l = strtok_r(NULL, "\n", &save))
                        fprintf(f->log, "  | %s\n", l);
                free(copy);
        }
        classify(f, argv);

        response *r = NULL;
        for (size_t i = 0; i < f->n_resp && !r; i++)
                if (!f->resp[i].used && streq(f->resp[i].cmd, shown))
                        r = &f->resp[i];
        if (r) {
                r->used = true;
                ret->exit_status = r->status;
                ret->out = strdup(r->out);
                ret->err = strdup(r->err);
        } else if (streq(argv[0], "blockdev") && streq(argv[1], "--getsize64")) {
                for (size_t i = 0; i < f->plan->n_disks; i++)
                        if (streq(f->plan->disks[i].path, argv[2]) &&
                            asprintf(&ret->out, "%llu\n",
                                     (unsigned long long)f->plan->disks[i].size_bytes) < 0)
                                abort();
        }
        if (ret->exit_status == 0)
                simulate(f, argv, input);
        free(shown);
        free(line);
        return 0;
}

/* Sets up the fake machine of case dir NAME (files mdstat, mounts, links, journal, responses,
 * each optional but responses; without mounts, the installer's own: installer.mounts). */
static void fake_setup(fake *f, const char *name, const lf_plan *plan) {
        char path[600];
        *f = (fake){.plan = plan};
        snprintf(f->root, sizeof(f->root), "%s", lf_test_tmpdir());
        snprintf(f->proc, sizeof(f->proc), "%s/proc", f->root);
        snprintf(f->dev, sizeof(f->dev), "%s/dev", f->root);
        snprintf(f->target, sizeof(f->target), "%s/target", f->root);
        ASSERT_EQ(lf_mkdir_p(f->proc, 0755), 0);
        ASSERT_EQ(lf_mkdir_p(f->dev, 0755), 0);

        static const char *const copied[] = {"mdstat", "mounts"};
        for (size_t i = 0; i < ELEMENTSOF(copied); i++) {
                snprintf(path, sizeof(path), FIX "%s/%s", name, copied[i]);
                if (access(lf_test_path(path), F_OK) < 0 && streq(copied[i], "mounts"))
                        snprintf(path, sizeof(path), FIX "installer.mounts");
                char *src = read_or_empty(lf_test_path(path)), *text = NULL;
                /* @TMP in a fixture stands for the fake's directory. */
                size_t n = 0;
                for (char *p = src; (p = strstr(p, "@TMP")); p += 4)
                        n++;
                text = malloc(strlen(src) + n * strlen(f->root) + 1);
                char *w = text;
                for (char *p = src; *p;)
                        if (strneq(p, "@TMP", 4)) {
                                w = stpcpy(w, f->root);
                                p += 4;
                        } else
                                *w++ = *p++;
                *w = '\0';
                snprintf(path, sizeof(path), "%s/%s", f->proc, copied[i]);
                write_text(path, text);
                free(src);
                free(text);
        }
        /* links: "md/fast /dev/md127" makes a symlink, a lone "sdb5" an existing node. */
        snprintf(path, sizeof(path), FIX "%s/links", name);
        char *links = read_or_empty(lf_test_path(path));
        for (char *save = NULL, *l = strtok_r(links, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                char *dest = strchr(l, ' ');
                if (dest)
                        *dest++ = '\0';
                snprintf(path, sizeof(path), "%s/%s", f->dev, l);
                touch(path);
                if (dest) {
                        unlink(path);
                        ASSERT_EQ(symlink(dest, path), 0);
                }
        }
        free(links);
        snprintf(path, sizeof(path), FIX "%s/responses", name);
        load_responses(f, path);
        f->log = NULL;
}

static void fake_free(fake *f) {
        for (size_t i = 0; i < f->n_resp; i++) {
                free(f->resp[i].cmd);
                free(f->resp[i].out);
                free(f->resp[i].err);
        }
        free(f->resp);
}

static void assert_responses_used(const fake *f) {
        for (size_t i = 0; i < f->n_resp; i++)
                if (!f->resp[i].used)
                        lf_test_fail(__FILE__, __LINE__, "canned output never asked for: $ %s",
                                     f->resp[i].cmd);
}

static lf_plan *load_plan(const char *path) {
        lf_diag diag = {0};
        lf_plan *plan = NULL;
        if (lf_plan_load(lf_test_path(path), &diag, &plan) < 0)
                lf_test_fail(__FILE__, __LINE__, "%s: %s", path, diag.n ? diag.msgs[0] : "?");
        return plan;
}

/* A journal on the fake target's root, from NAME/journal with @KEY replaced. */
static void place_journal(const fake *f, const char *name, const lf_exec *x) {
        char path[700];
        snprintf(path, sizeof(path), FIX "%s/journal", name);
        char *src = lf_test_read_file(path), *at = strstr(src, "@KEY"), *text = NULL;
        ASSERT_TRUE(at != NULL);
        *at = '\0';
        if (asprintf(&text, "%s%s%s", src, lf_exec_journal_key(x), at + 4) < 0)
                abort();
        snprintf(path, sizeof(path), "%s%s", f->target, LF_EXEC_JOURNAL);
        touch(path);
        write_text(path, text);
        free(text);
        free(src);
}

typedef struct exec_case {
        const char *name;
        const char *plan;
        bool journal;          /* NAME/journal is on the target's root file system */
        const char *inventory; /* this boot's probe handed to the executor, or NULL */
        int prepare;           /* what lf_exec_prepare_disks() returns */
        bool configure;        /* then extract (pretend) and configure */
        unsigned max_writes;   /* UINT_MAX: any */
} exec_case;

static const char *const MANIFEST = "tests/fixtures/planner/labs/room.xml";
static const char AUTHKEY[] = "corosync-key-0123456789abcdef";

static void run_case(const exec_case *c, fake *f) {
        _cleanup_plan_ lf_plan *plan = load_plan(c->plan);
        _cleanup_exec_ lf_exec *x = NULL;
        lf_diag diag = {0};
        char *log = NULL, golden[300];
        size_t log_len = 0;
        int r;

        fake_setup(f, c->name, plan);
        f->log = open_memstream(&log, &log_len);
        lf_progress *p =
                lf_progress_new(LF_EXEC_PREPARE_STEPS + 1 + LF_EXEC_CONFIGURE_STEPS, f->log);
        _cleanup_inventory_ lf_inventory *inv = NULL;
        if (c->inventory)
                ASSERT_EQ(lf_inventory_load(lf_test_path(c->inventory), &diag, &inv), 0);
        lf_exec_opts opts = {.target = f->target,
                             .proc_root = f->proc,
                             .dev_root = f->dev,
                             .image_sha256 = IMAGE_SHA,
                             .inventory = inv};
        ASSERT_EQ(lf_exec_new(plan, &opts, &diag, &x), 0);
        if (c->journal)
                place_journal(f, c->name, x);
        lf_cmd_set_hook(hook, f);
        r = lf_exec_prepare_disks(x, p, &diag);
        fprintf(f->log, "# prepare: %s\n", r == 0 ? "ok" : strerror(-r));
        unsigned prepare_writes = f->writes;
        if (r == 0 && c->configure) {
                lf_progress_step(p, "(the caller) Extracting the role image%s",
                                 lf_exec_step_done(x, LF_EXEC_STEP_EXTRACT) ? ": done before" : "");
                if (!lf_exec_step_done(x, LF_EXEC_STEP_EXTRACT))
                        ASSERT_EQ(lf_exec_step_mark(x, LF_EXEC_STEP_EXTRACT, &diag), 0);
                /* The drivers the installer found for the disks; ahci is in the base set too
                 * and is listed once. */
                static char *const mods[] = {"sd_mod", "ahci", "mpt3sas", NULL};
                lf_exec_config cfg = {.nodeid = 3,
                                      .manifest_path = lf_test_path(MANIFEST),
                                      .authkey = AUTHKEY,
                                      .authkey_len = sizeof(AUTHKEY) - 1,
                                      .disk_modules = mods,
                                      .n_disk_modules = 3};
                /* lf_test_path's buffer is static: keep a copy. */
                char *manifest = strdup(cfg.manifest_path);
                cfg.manifest_path = manifest;
                r = lf_exec_configure_target(x, &cfg, p, &diag);
                fprintf(f->log, "# configure: %s\n", r == 0 ? "ok" : strerror(-r));
                free(manifest);
        }
        lf_cmd_set_hook(NULL, NULL);
        for (size_t i = 0; i < diag.n; i++)
                fprintf(f->log, "! %s\n", diag.msgs[i]);
        fclose(f->log);
        lf_progress_free(p);
        snprintf(golden, sizeof(golden), FIX "%s.commands", c->name);
        char *shown = untmp(f, log);
        ASSERT_GOLDEN(shown, golden);
        free(shown);
        free(log);
        lf_diag_clear(&diag);
        assert_responses_used(f);
        ASSERT_EQ(r, c->prepare);
        if (c->max_writes != UINT_MAX && prepare_writes > c->max_writes)
                lf_test_fail(__FILE__, __LINE__, "%u commands wrote to disks, expected at most %u",
                             prepare_writes, c->max_writes);
}

/* ---- The generated files, compared with NAME.target/ ---- */

static const fake *walk_fake;
static const char *walk_golden;

static int compare_actual(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        const char *rel = path + strlen(walk_fake->target) + 1;
        char golden[700];
        (void)st;
        (void)ftw;
        if (type != FTW_F || streq(rel, "etc/labforge/lab.xml") ||
            streq(rel, "etc/corosync/authkey"))
                return 0;
        char *actual = lf_test_read_file(path);
        snprintf(golden, sizeof(golden), "%s/%s", walk_golden, rel);
        if (getenv("LF_TEST_REGENERATE")) {
                char dir[700];
                snprintf(dir, sizeof(dir), "%s", lf_test_path(golden));
                *strrchr(dir, '/') = '\0';
                ASSERT_EQ(lf_mkdir_p(dir, 0755), 0);
        }
        ASSERT_GOLDEN(actual, golden);
        free(actual);
        return 0;
}

static int golden_exists(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        char actual[700];
        (void)st;
        (void)ftw;
        if (type != FTW_F)
                return 0;
        snprintf(actual, sizeof(actual), "%s/%s", walk_fake->target,
                 path + strlen(lf_test_path(walk_golden)) + 1);
        if (access(actual, F_OK) < 0)
                lf_test_fail(__FILE__, __LINE__, "the executor no longer writes %s", actual);
        return 0;
}

static void assert_target(const fake *f, const char *golden_dir) {
        char root[700];
        struct stat st;

        walk_fake = f;
        walk_golden = golden_dir;
        ASSERT_EQ(nftw(f->target, compare_actual, 16, FTW_PHYS), 0);
        snprintf(root, sizeof(root), "%s", lf_test_path(golden_dir));
        ASSERT_EQ(nftw(root, golden_exists, 16, FTW_PHYS), 0);

        /* The manifest copy, the corosync key (0400), the journal gone. */
        char path[700], *copy, *orig;
        snprintf(path, sizeof(path), "%s/etc/labforge/lab.xml", f->target);
        copy = lf_test_read_file(path);
        orig = lf_test_read_file(MANIFEST);
        ASSERT_STREQ(copy, orig);
        free(copy);
        free(orig);
        snprintf(path, sizeof(path), "%s/etc/corosync/authkey", f->target);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_mode & 07777, 0400);
        copy = lf_test_read_file(path);
        ASSERT_STREQ(copy, AUTHKEY);
        free(copy);
        snprintf(path, sizeof(path), "%s%s", f->target, LF_EXEC_JOURNAL);
        ASSERT_TRUE(access(path, F_OK) < 0);
}

static void assert_dir(const fake *f, const char *dir) {
        char path[700];
        struct stat st;
        snprintf(path, sizeof(path), "%s%s", f->target, dir);
        ASSERT_TRUE(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/* ---- The cases ---- */

#define STORAGE_PLAN "tests/fixtures/planner/storage-2ssd-2hdd.plan.json"
#define KVM_PLAN "tests/fixtures/planner/kvm-one-disk.plan.json"
#define STORAGE_INVENTORY "tests/fixtures/planner/storage-2ssd-2hdd.inventory.json"

TEST(storage_fresh) {
        exec_case c = {.name = "storage-fresh",
                       .plan = STORAGE_PLAN,
                       .configure = true,
                       .inventory = STORAGE_INVENTORY,
                       .max_writes = UINT_MAX};
        fake f;
        run_case(&c, &f);
        assert_target(&f, FIX "storage.target");
        assert_dir(&f, "/srv/labforge/vms");
        assert_dir(&f, "/srv/labforge/base");
        /* What udev would have made, so that update-grub writes root=UUID=... */
        char link[700], dest[64];
        snprintf(link, sizeof(link), "%s/disk/by-uuid/21c92fd8-9a10-487e-bf60-0ae691d7a3d6", f.dev);
        ssize_t n = readlink(link, dest, sizeof(dest) - 1);
        ASSERT_TRUE(n > 0);
        dest[n] = '\0';
        ASSERT_STREQ(dest, "/dev/sda3");
        snprintf(link, sizeof(link), "%s/disk/by-uuid/ed81ea42-7982-4a07-8958-db02b8facb14", f.dev);
        n = readlink(link, dest, sizeof(dest) - 1);
        ASSERT_TRUE(n > 0);
        dest[n] = '\0';
        ASSERT_STREQ(dest, "/dev/labvg/vmbase");
        fake_free(&f);
}

TEST(kvm_one_disk_fresh) {
        exec_case c = {
                .name = "kvm-fresh", .plan = KVM_PLAN, .configure = true, .max_writes = UINT_MAX};
        fake f;
        run_case(&c, &f);
        assert_target(&f, FIX "kvm.target");
        assert_dir(&f, "/srv/labforge/vms"); /* the NFS mount point */
        assert_dir(&f, "/var/lib/labforge");
        fake_free(&f);
}

/* Left by an older install and by others: a mounted target, the old fast array active, the
 * old bulk array inactive with one member, the old labvg on them, a foreign labvg on a plan
 * partition, stale partitions; and outside the plan an array with a VG on it. Everything on
 * the plan's disks goes (VGs by UUID, then arrays, superblocks, signatures) before
 * partitioning; the array and VG outside the plan are not touched. */
TEST(storage_stale_state) {
        exec_case c = {.name = "storage-stale", .plan = STORAGE_PLAN, .max_writes = UINT_MAX};
        fake f;
        run_case(&c, &f);
        fake_free(&f);
}

/* Rerun after a power cut during extraction: the journal matches the plan, the image and what
 * is on the disks; nothing is rewritten, the image is not extracted again, and the install
 * ends with the same files as a fresh one. */
TEST(storage_resume) {
        exec_case c = {.name = "storage-resume",
                       .plan = STORAGE_PLAN,
                       .journal = true,
                       .configure = true,
                       .max_writes = 0};
        fake f;
        run_case(&c, &f);
        assert_target(&f, FIX "storage.target");
        fake_free(&f);
}

/* Rerun after a power cut right after partitioning: the tables are the plan's but root has no
 * file system (mount fails), so there is no journal: everything is rebuilt. */
TEST(storage_interrupted_after_partitioning) {
        exec_case c = {.name = "storage-partitioned", .plan = STORAGE_PLAN, .max_writes = UINT_MAX};
        fake f;
        run_case(&c, &f);
        fake_free(&f);
}

/* The journal matches but the fast array on the disks is not the one it recorded (another
 * UUID: rewritten underneath): not trusted, rebuilt. */
TEST(storage_journal_distrusted) {
        exec_case c = {.name = "storage-distrust",
                       .plan = STORAGE_PLAN,
                       .journal = true,
                       .max_writes = UINT_MAX};
        fake f;
        run_case(&c, &f);
        fake_free(&f);
}

/* An active array spanning a plan disk and another disk, a VG spanning both, and a foreign
 * labvg wholly outside the plan: all refused before anything changes. */
TEST(refuses_what_spans_other_disks) {
        exec_case c = {
                .name = "refuse-foreign", .plan = STORAGE_PLAN, .prepare = -EBUSY, .max_writes = 0};
        fake f;
        run_case(&c, &f);
        ASSERT_EQ(f.changes, 0);
        fake_free(&f);
}

/* The disk at the plan's path is not the plan's disk (another size): nothing changes. */
TEST(refuses_a_changed_disk) {
        exec_case c = {
                .name = "refuse-size", .plan = KVM_PLAN, .prepare = -ESTALE, .max_writes = 0};
        fake f;
        run_case(&c, &f);
        ASSERT_EQ(f.changes, 0);
        fake_free(&f);
}

/* After a reboot the kernel named the two SSDs the other way round (this boot's probe says
 * so): the plan's /dev/sda is now the other SSD, of the same size. Nothing is written. */
TEST(refuses_renamed_disks) {
        exec_case c = {.name = "refuse-renamed",
                       .plan = STORAGE_PLAN,
                       .prepare = -ESTALE,
                       .inventory = FIX "refuse-renamed/inventory.json",
                       .max_writes = 0};
        fake f;
        run_case(&c, &f);
        ASSERT_EQ(f.changes, 0);
        fake_free(&f);
}

/* A failing command stops the install with its command line, output and what to do. */
TEST(reports_a_failing_command) {
        exec_case c = {.name = "kvm-mkfs-fails",
                       .plan = KVM_PLAN,
                       .prepare = -EIO,
                       .max_writes = UINT_MAX};
        fake f;
        run_case(&c, &f);
        fake_free(&f);
}

TEST(refuses_a_plan_it_cannot_use) {
        _cleanup_plan_ lf_plan *plan = load_plan(STORAGE_PLAN);
        lf_exec *x = NULL;
        lf_diag diag = {0};

        free(plan->partitions[2].name);
        plan->partitions[2].name = strdup("lf:\"quoted\"");
        free(plan->filesystems[2].mountpoint);
        plan->filesystems[2].mountpoint = strdup("/srv/../etc");
        plan->partitions[4].start_bytes += 512;
        free(plan->network[1].interface);
        plan->network[1].interface = strdup("eth0; rm");
        free(plan->arrays[0].members[1]);
        plan->arrays[0].members[1] = strdup("/dev/sdz1");
        ASSERT_EQ(lf_exec_new(plan, NULL, &diag, &x), -EINVAL);
        ASSERT_EQ(diag.n, 5);
        ASSERT_CONTAINS(diag.msgs[0], "plan: partition \"/dev/sda3\" cannot be used");
        ASSERT_CONTAINS(diag.msgs[1], "partition \"/dev/sdb1\"");
        ASSERT_CONTAINS(diag.msgs[2], "array member \"/dev/sdz1\"");
        ASSERT_CONTAINS(diag.msgs[3], "file system \"/dev/labvg/vmbase\"");
        ASSERT_CONTAINS(diag.msgs[4], "network \"eth0; rm\"");
        lf_diag_clear(&diag);

        _cleanup_plan_ lf_plan *ok = load_plan(STORAGE_PLAN);
        lf_exec_opts opts = {.target = "/", .image_sha256 = "xyz"};
        ASSERT_EQ(lf_exec_new(ok, &opts, &diag, &x), -EINVAL);
        ASSERT_CONTAINS(diag.msgs[0], "image SHA-256 \"xyz\"");
        opts.image_sha256 = NULL;
        ASSERT_EQ(lf_exec_new(ok, &opts, &diag, &x), -EINVAL);
        ASSERT_CONTAINS(diag.msgs[1], "target \"/\" must be an absolute path other than /");
        lf_diag_clear(&diag);
}

TEST(journal_key_names_plan_and_image) {
        _cleanup_plan_ lf_plan *plan = load_plan(STORAGE_PLAN);
        _cleanup_exec_ lf_exec *a = NULL, *b = NULL, *c = NULL;
        lf_exec_opts with_image = {.image_sha256 = IMAGE_SHA};
        lf_diag diag = {0};

        ASSERT_EQ(lf_exec_new(plan, &with_image, &diag, &a), 0);
        ASSERT_EQ(lf_exec_new(plan, NULL, &diag, &b), 0);
        ASSERT_TRUE(strneq(lf_exec_journal_key(a), "plan=", 5));
        ASSERT_CONTAINS(lf_exec_journal_key(a), " image=" IMAGE_SHA);
        ASSERT_CONTAINS(lf_exec_journal_key(b), " image=-");
        /* Another plan (one sysctl value changed), another key. */
        free(plan->sysctl[0].value);
        plan->sysctl[0].value = strdup("131072");
        ASSERT_EQ(lf_exec_new(plan, &with_image, &diag, &c), 0);
        ASSERT_TRUE(!streq(lf_exec_journal_key(a), lf_exec_journal_key(c)));
        ASSERT_EQ(strlen(lf_exec_journal_key(a)), strlen("plan= image=") + 128);

        /* After a power cut the probe finds this install's own layout: the same plan then
         * says "rebuild" and lists other signatures to erase, and warns differently. The
         * journal is still this plan's. */
        _cleanup_plan_ lf_plan *again = load_plan(STORAGE_PLAN);
        _cleanup_exec_ lf_exec *d = NULL;
        for (size_t i = 0; i < again->n_disks; i++) {
                free(again->disks[i].wipe);
                again->disks[i].wipe = strdup("rebuild");
                ASSERT_EQ(lf_plan_strv_add(&again->disks[i].erase, &again->disks[i].n_erase,
                                           "linux_raid_member"),
                          0);
        }
        ASSERT_EQ(lf_plan_strv_add(&again->warnings, &again->n_warnings, "another warning"), 0);
        ASSERT_EQ(lf_exec_new(again, &with_image, &diag, &d), 0);
        ASSERT_STREQ(lf_exec_journal_key(d), lf_exec_journal_key(a));
}

/* The same layout with the kernel's names of the disks swapped (sda <-> sdb, sdc <-> sdd, as
 * parallel probing can do from one boot to the next) has the same key: a power cut and a boot
 * that names the disks otherwise still resume. A layout on other disks does not. */
TEST(journal_key_survives_renamed_disks) {
        char *text = lf_test_read_file(STORAGE_PLAN);
        static const char *const swap[][2] = {
                {"\"sda", "\"sdX"}, {"\"sdb", "\"sda"}, {"\"sdX", "\"sdb"},
                {"/sda", "/sdX"},   {"/sdb", "/sda"},   {"/sdX", "/sdb"},
                {"\"sdc", "\"sdX"}, {"\"sdd", "\"sdc"}, {"\"sdX", "\"sdd"},
                {"/sdc", "/sdX"},   {"/sdd", "/sdc"},   {"/sdX", "/sdd"},
        };
        _cleanup_plan_ lf_plan *plan = load_plan(STORAGE_PLAN), *renamed = NULL, *other = NULL;
        _cleanup_exec_ lf_exec *a = NULL, *b = NULL, *c = NULL;
        lf_exec_opts opts = {.image_sha256 = IMAGE_SHA};
        lf_diag diag = {0};

        for (size_t i = 0; i < ELEMENTSOF(swap); i++)
                for (char *at = text; (at = strstr(at, swap[i][0])); at += strlen(swap[i][1]))
                        memcpy(at, swap[i][1], strlen(swap[i][1]));
        ASSERT_EQ(lf_plan_load_buffer("renamed", text, strlen(text), &diag, &renamed), 0);
        ASSERT_STREQ(renamed->disks[0].path, "/dev/sdb");
        ASSERT_STREQ(renamed->partitions[2].device, "/dev/sdb3");
        ASSERT_STREQ(renamed->disks[0].id, plan->disks[0].id);
        ASSERT_EQ(lf_exec_new(plan, &opts, &diag, &a), 0);
        ASSERT_EQ(lf_exec_new(renamed, &opts, &diag, &b), 0);
        ASSERT_STREQ(lf_exec_journal_key(b), lf_exec_journal_key(a));
        /* The same without by-id paths (the installer has no udev): model and serial. */
        for (size_t i = 0; i < plan->n_disks; i++) {
                plan->disks[i].by_id[0] = renamed->disks[i].by_id[0] = '\0';
                free(plan->disks[i].id);
                free(renamed->disks[i].id);
                plan->disks[i].id = strdup(plan->disks[i].path);
                renamed->disks[i].id = strdup(renamed->disks[i].path);
        }
        _cleanup_exec_ lf_exec *a2 = NULL, *b2 = NULL;
        ASSERT_EQ(lf_exec_new(plan, &opts, &diag, &a2), 0);
        ASSERT_EQ(lf_exec_new(renamed, &opts, &diag, &b2), 0);
        ASSERT_STREQ(lf_exec_journal_key(b2), lf_exec_journal_key(a2));

        /* The boot disk's stable name changed: another disk, another layout, another key. */
        char *id = strstr(text, plan->disks[0].serial);
        ASSERT_TRUE(id != NULL);
        for (; (id = strstr(text, plan->disks[0].serial)); id++)
                id[0] = id[0] == 'Z' ? 'Y' : 'Z';
        ASSERT_EQ(lf_plan_load_buffer("other", text, strlen(text), &diag, &other), 0);
        ASSERT_EQ(lf_exec_new(other, &opts, &diag, &c), 0);
        ASSERT_TRUE(!streq(lf_exec_journal_key(c), lf_exec_journal_key(a)));
        free(text);
}

/* Bonds and a static management address, from the planner's bond plan. */
TEST(sysconfig_bond) {
        _cleanup_plan_ lf_plan *plan = load_plan("tests/fixtures/planner/bond.plan.json");
        _cleanup_journal_ lf_journal *j = lf_journal_new("plan=x image=-");
        lf_sysconfig *s = NULL;
        lf_exec_config cfg = {.nodeid = 7, .libvirt_uri = "test:///default"};
        lf_diag diag = {0};

        for (size_t i = 0; i < plan->n_filesystems; i++) {
                char uuid[64];
                snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-00000000000%zu", i);
                ASSERT_EQ(lf_journal_set(j, "fs", plan->filesystems[i].mountpoint, uuid), 0);
        }
        for (size_t i = 0; i < plan->n_arrays; i++) {
                ASSERT_EQ(lf_journal_set(j, "array", plan->arrays[i].device, "a:b:c:d"), 0);
                ASSERT_EQ(lf_journal_set(j, "array-name", plan->arrays[i].device, "n:x"), 0);
        }
        ASSERT_EQ(lf_sysconfig_build(plan, j, &cfg, &diag, &s), 0);
        for (size_t i = 0; i < s->n_files; i++) {
                const char *path = s->files[i].path;
                char golden[300];
                if (!strneq(path, "/etc/systemd/network/", 21) &&
                    !streq(path, "/etc/labforge/node.conf") && !streq(path, "/etc/hosts"))
                        continue;
                snprintf(golden, sizeof(golden), FIX "bond.target%s", path);
                if (getenv("LF_TEST_REGENERATE")) {
                        char dir[300];
                        snprintf(dir, sizeof(dir), "%s", lf_test_path(golden));
                        *strrchr(dir, '/') = '\0';
                        ASSERT_EQ(lf_mkdir_p(dir, 0755), 0);
                }
                ASSERT_GOLDEN(s->files[i].content, golden);
        }
        lf_sysconfig_free(s);

        /* A file system without a recorded UUID: no fstab that would not boot. */
        _cleanup_journal_ lf_journal *empty = lf_journal_new("plan=x image=-");
        ASSERT_EQ(lf_sysconfig_build(plan, empty, &cfg, &diag, &s), -EINVAL);
        ASSERT_CONTAINS(diag.msgs[0], "no UUID recorded for the file system on");
        lf_diag_clear(&diag);
}

TEST(sysconfig_depth) {
        ASSERT_EQ(lf_sysconfig_depth("/"), 0);
        ASSERT_EQ(lf_sysconfig_depth("/boot/efi"), 2);
        ASSERT_EQ(lf_sysconfig_depth("/srv/labforge/base"), 3);
        ASSERT_EQ(lf_sysconfig_depth("/var//lib/"), 2);
}

/* The storage runtime; see storage.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "fileio.h"
#include "log.h"
#include "net.h"
#include "sha256.h"
#include "storage.h"
#include "virt.h"

typedef struct disk {
        const char *vm;
        char lv[LF_MSG_NAME_SIZE + 8];   /* vm-<vm> */
        char dev[LF_MSG_NAME_SIZE + 32]; /* /dev/labvg/vm-<vm> */
        char *dir;                       /* <vm_dir>/<vm> */
        char clients[32];                /* subnet the KVM hosts mount from */
        const lf_storage_paths *paths;
        lf_diag *diag;
} disk;

/* Runs a tool; with `ok_status` >= 0, that exit status also counts as success (returned as 1). */
static int run(disk *k, const char *what, int ok_status, const char *first, ...)
        __attribute__((sentinel));
static int run(disk *k, const char *what, int ok_status, const char *first, ...) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new(first);
        lf_cmd_result res = {0};
        const char *arg;
        va_list ap;
        int r = c ? 0 : -ENOMEM;

        va_start(ap, first);
        while (r >= 0 && (arg = va_arg(ap, const char *)))
                r = lf_cmd_add_arg(c, arg);
        va_end(ap);
        if (r < 0)
                return r;
        lf_cmd_set_timeout(c, 120 * 1000);
        r = lf_cmd_run(c, &res);
        if (r >= 0 && res.exit_status == 0)
                r = 0;
        else if (r >= 0 && ok_status >= 0 && res.exit_status == ok_status)
                r = 1;
        else {
                lf_diag_add(k->diag, NULL, 0, "%s: %s failed: %s", k->vm, what,
                            res.err && *res.err ? strtok(res.err, "\n")
                            : r < 0             ? strerror(-r)
                                                : "non-zero exit status");
                r = r < 0 ? r : -EIO;
        }
        lf_cmd_result_clear(&res);
        return r;
}

static bool mounted(disk *k) {
        const char *path = k->paths->mounts ? k->paths->mounts : "/proc/self/mounts";
        _cleanup_free_ char *buf = NULL;
        lf_diag ignored = {};
        size_t len = 0;
        bool found = false;

        if (lf_read_file(path, 16u * 1024 * 1024, &ignored, &buf, &len) < 0) {
                lf_diag_clear(&ignored);
                return false;
        }
        for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line && !found;
             line = strtok_r(NULL, "\n", &save)) {
                char dev[512], dir[4096];
                found = sscanf(line, "%511s %4095s", dev, dir) == 2 && streq(dir, k->dir);
        }
        return found;
}

/* An export id of its own for every VM: the snapshots share the origin's UUID, by which NFS
 * would otherwise tell file systems apart. */
static unsigned fsid_of(const char *vm) {
        char hex[LF_SHA256_HEX_LEN + 1] = "0000000";
        unsigned v = 0;

        (void)lf_sha256_buffer(vm, strlen(vm), hex);
        (void)sscanf(hex, "%7x", &v); /* 28 bits, and one above them: never 0 (the root) */
        return v | 1u << 28;
}

static int remove_disk(disk *k) {
        char target[4200], lv_path[LF_MSG_NAME_SIZE + 16];
        lf_diag *diag = k->diag, ignored = {};
        int r;

        snprintf(target, sizeof(target), "%s:%s", k->clients, k->dir);
        snprintf(lv_path, sizeof(lv_path), LF_STORAGE_VG "/%s", k->lv);
        /* exportfs -u of a path that is not exported fails: nothing to undo then. */
        k->diag = &ignored;
        (void)run(k, "exportfs -u", -1, "exportfs", "-u", target, NULL);
        lf_diag_clear(&ignored);
        k->diag = diag;
        if (mounted(k) && (r = run(k, "umount", -1, "umount", k->dir, NULL)) < 0)
                return r;
        r = run(k, "lvs", 5, "lvs", "--noheadings", "-o", "lv_name", lv_path, NULL);
        if (r < 0)
                return r;
        if (r == 0 && (r = run(k, "lvremove", -1, "lvremove", "-f", lv_path, NULL)) < 0)
                return r;
        if (rmdir(k->dir) < 0 && errno != ENOENT)
                return lf_diag_add(k->diag, NULL, 0, "%s: cannot remove %s: %s", k->vm, k->dir,
                                   strerror(errno));
        return 0;
}

static int create_disk(disk *k, const lf_template *t) {
        const char *base = k->paths->base_dir ? k->paths->base_dir : LF_STORAGE_BASE_DIR;
        char image[4200], lv_path[LF_MSG_NAME_SIZE + 16], size[32], options[128], target[4200];
        struct stat st;
        uint64_t mb;
        int r;

        snprintf(image, sizeof(image), "%s/%s", base, t->image);
        if (stat(image, &st) < 0)
                return lf_diag_add(k->diag, NULL, 0,
                                   "%s: the golden image %s of template %s is missing (%s); "
                                   "import it into the origin first",
                                   k->vm, image, t->name, strerror(errno));
        mb = ((uint64_t)st.st_size + (1u << 20) - 1) >> 20;
        mb += mb / 10;
        snprintf(size, sizeof(size), "%" PRIu64 "m",
                 mb < LF_STORAGE_MIN_COW_MB ? (uint64_t)LF_STORAGE_MIN_COW_MB : mb);
        snprintf(lv_path, sizeof(lv_path), LF_STORAGE_VG "/%s", k->lv);
        r = run(k, "lvs", 5, "lvs", "--noheadings", "-o", "lv_name", lv_path, NULL);
        if (r < 0)
                return r;
        if (r == 1) { /* lvs: no such LV */
                r = run(k, "lvcreate", -1, "lvcreate", "--yes", "--snapshot", "--name", k->lv,
                        "--size", size, LF_STORAGE_VG "/" LF_STORAGE_ORIGIN,
                        "@" LF_STORAGE_BULK_TAG, NULL);
                if (r < 0)
                        return r;
        }
        if ((r = lf_mkdir_p(k->dir, 0755)) < 0)
                return lf_diag_add(k->diag, NULL, 0, "%s: cannot create %s: %s", k->vm, k->dir,
                                   strerror(-r));
        if (!mounted(k) && (r = run(k, "mount", -1, "mount", "-t", "ext4", "-o", "noatime", k->dev,
                                    k->dir, NULL)) < 0)
                return r;
        snprintf(options, sizeof(options), "rw,sync,no_subtree_check,no_root_squash,fsid=%u",
                 fsid_of(k->vm));
        snprintf(target, sizeof(target), "%s:%s", k->clients, k->dir);
        return run(k, "exportfs", -1, "exportfs", "-o", options, target, NULL);
}

int lf_storage_disk(const lf_manifest *m, const lf_storage_paths *paths, lf_msg_action action,
                    const char *vm, const lf_template *t, lf_diag *diag) {
        const char *vm_dir = paths->vm_dir ? paths->vm_dir : LF_VIRT_STORE_DIR;
        lf_cidr net = m->has_storage_links ? m->storage_links : m->management;
        _cleanup_free_ char *dir = NULL;
        disk k = {.vm = vm, .paths = paths, .diag = diag};
        int r;

        if (!lf_manifest_name_valid(vm) || asprintf(&dir, "%s/%s", vm_dir, vm) < 0)
                return lf_diag_add(diag, NULL, 0, "'%s' is not a VM name", vm);
        k.dir = dir;
        snprintf(k.lv, sizeof(k.lv), "vm-%s", vm);
        snprintf(k.dev, sizeof(k.dev), "/dev/" LF_STORAGE_VG "/%s", k.lv);
        lf_cidr_format((lf_cidr){lf_cidr_network(net), net.prefix}, k.clients, sizeof(k.clients));
        if (action != LF_ACTION_DISK_DELETE && !t)
                return lf_diag_add(diag, NULL, 0, "%s: no template to make its disk from", vm);
        switch (action) {
        case LF_ACTION_DISK_CREATE:
                return create_disk(&k, t);
        case LF_ACTION_DISK_RESET:
                if ((r = remove_disk(&k)) < 0)
                        return r;
                return create_disk(&k, t);
        case LF_ACTION_DISK_DELETE:
                return remove_disk(&k);
        default:
                return -EOPNOTSUPP;
        }
}

int lf_storage_cli(const char *config_dir, const char *action, const char *vm,
                   const char *template) {
        _cleanup_free_ char *path = NULL;
        _cleanup_node_conf_ lf_node_conf *conf = NULL;
        _cleanup_manifest_ lf_manifest *m = NULL;
        const lf_template *t = NULL;
        const lf_node *self = NULL;
        lf_storage_paths paths = {};
        lf_msg_action a;
        lf_diag diag = {};
        int r;

        if (lf_msg_action_from_string(action, &a) < 0 ||
            (a != LF_ACTION_DISK_CREATE && a != LF_ACTION_DISK_RESET &&
             a != LF_ACTION_DISK_DELETE)) {
                log_error("--disk takes disk_create, disk_reset or disk_delete, not '%s'.", action);
                return 2;
        }
        if (asprintf(&path, "%s/node.conf", config_dir) < 0)
                return log_oom(), 1;
        r = lf_node_conf_load(path, &diag, &conf);
        r = r < 0 ? r : lf_manifest_load(conf->manifest, &diag, &m);
        r = r < 0 ? r : lf_node_conf_check(conf, m, &diag, &self);
        if (r >= 0 && !(self->roles & LF_ROLE_STORAGE))
                r = lf_diag_add(&diag, NULL, 0, "%s is no storage node; VM disks live elsewhere",
                                self->name);
        if (r >= 0 && template && !(t = lf_manifest_find_template(m, template)))
                r = lf_diag_add(&diag, NULL, 0, "the manifest has no template '%s'", template);
        if (r >= 0)
                r = lf_storage_disk(m, &paths, a, vm, t, &diag);
        lf_diag_print(&diag);
        lf_diag_clear(&diag);
        if (r == -ENOMEM)
                return log_oom(), 1;
        return r == -EINVAL ? 2 : r < 0 ? 1 : 0;
}

/* --- the subsystem --- */

typedef struct storage {
        lf_daemon *d;
} storage;

static int storage_start(lf_daemon *d, void **ret_data) {
        storage *s = calloc(1, sizeof(*s));
        if (!s)
                return log_oom();
        s->d = d;
        *ret_data = s;
        return 0;
}

static int storage_command(void *data, const lf_msg_command *c, lf_diag *diag) {
        storage *s = data;
        const lf_manifest *m = lf_daemon_manifest(s->d);
        const lf_template *t = NULL;
        lf_storage_paths paths = {};
        int r;

        if (!(lf_daemon_node(s->d)->roles & LF_ROLE_STORAGE) ||
            (c->action != LF_ACTION_DISK_CREATE && c->action != LF_ACTION_DISK_RESET &&
             c->action != LF_ACTION_DISK_DELETE))
                return -EOPNOTSUPP;
        if (*c->template && !(t = lf_manifest_find_template(m, c->template)))
                return lf_diag_add(diag, NULL, 0, "%s: the manifest has no template '%s'", c->vm,
                                   c->template);
        r = lf_storage_disk(m, &paths, c->action, c->vm, t, diag);
        if (r >= 0)
                log_info("%s: disk %s.", c->vm,
                         c->action == LF_ACTION_DISK_CREATE  ? "ready"
                         : c->action == LF_ACTION_DISK_RESET ? "reset to its golden image"
                                                             : "deleted");
        return r;
}

const lf_role_subsystem lf_storage_subsystem = {
        .name = "storage runtime",
        .start = storage_start,
        .command = storage_command,
        .stop = free,
};

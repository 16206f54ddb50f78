/* The plan executor; see executor.h. How it stays correct from any state (DESIGN §8.3):
 * - Every run starts by looking (mounts, /proc/mdstat, pvs, each disk's size and partition
 *   table) and refusing, before any write, what it must not touch: an array or VG that spans a
 *   plan disk and another disk, a "labvg" wholly on other disks, a plan disk mounted outside
 *   the target, a disk whose size is not the plan's.
 * - Resume is all or nothing: the journal (on the plan's root file system, so it only exists
 *   once the layout is complete) must match the plan, the image and the GUIDs/UUIDs of what is
 *   on the disks now; then the layout is assembled and mounted as it is. Otherwise everything
 *   on the plan's disks is torn down and rebuilt; those steps take seconds, so redoing them
 *   beats recording them, and there is no half-trusted state to reason about.
 * - Tearing down goes top to bottom (mounts, VGs by UUID, arrays, md superblocks, signatures)
 *   and every destructive command first checks its device belongs to the plan (guard()).
 * - Old signatures inside a rebuilt identical layout (an ext4 or PV label reappearing on a new
 *   partition or array) are wiped as each layer is created: sfdisk --wipe-partitions, wipefs on
 *   each new array, lvcreate's zeroing, mkfs -F. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd.h"
#include "devstate.h"
#include "executor.h"
#include "fileio.h"
#include "journal.h"
#include "json.h"
#include "lvm.h"
#include "sha256.h"
#include "sysconfig.h"

#define WAIT_DEVICE_MS 10000
#define SLOW_TIMEOUT_MS (30u * 60 * 1000) /* mkfs of big disks, initramfs and GRUB under TCG */
#define PROC_MAX (4u << 20)
#define MANIFEST_MAX (16u << 20)
#define OUTPUT_TAIL 2000 /* bytes of a failed command's output quoted in its message */
#define MD_NEST_MAX 4

struct lf_exec {
        const lf_plan *plan;
        char *target; /* without a trailing slash */
        char *proc_root, *dev_root;
        const lf_inventory *inventory; /* NULL when the caller gave none */
        char *key;
        lf_journal *journal; /* the layout and finished steps, once prepare made or kept it */

        /* What the last look() saw. */
        lf_mounts *mounts;
        lf_mdstat *mdstat;
        lf_lvm_report *pvs;
        lf_part_table **tables; /* per plan disk; NULL: no partition table */
        char **disk_knames;     /* per plan disk: its kernel name ("sda") */
};

/* ---- Checking the plan: the executor builds command lines, scripts and config files from
 * it, so every string it uses must be what it claims to be. ---- */

static bool token_ok(const char *s, const char *extra) {
        if (!s || !*s || strlen(s) > 255)
                return false;
        for (; *s; s++)
                if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
                    !(*s >= '0' && *s <= '9') && !strchr("._-", *s) && !strchr(extra, *s))
                        return false;
        return true;
}

static bool path_ok(const char *s) {
        if (!token_ok(s, "/:@+") || s[0] != '/')
                return false;
        for (const char *p = s; (p = strstr(p, "/..")); p += 3)
                if (p[3] == '/' || p[3] == '\0')
                        return false;
        return true;
}

static bool text_ok(const char *s) {
        if (!s || strlen(s) > 255)
                return false;
        for (; *s; s++)
                if ((unsigned char)*s < ' ' || *s == 0x7f || *s == '"' || *s == '\\')
                        return false;
        return true;
}

static const lf_plan_disk *plan_disk(const lf_plan *p, const char *name) {
        for (size_t i = 0; i < p->n_disks; i++)
                if (streq(p->disks[i].name, name))
                        return &p->disks[i];
        return NULL;
}

static const lf_plan_partition *plan_partition(const lf_plan *p, const char *device) {
        for (size_t i = 0; i < p->n_partitions; i++)
                if (streq(p->partitions[i].device, device))
                        return &p->partitions[i];
        return NULL;
}

static const lf_plan_array *plan_array(const lf_plan *p, const char *device) {
        for (size_t i = 0; i < p->n_arrays; i++)
                if (streq(p->arrays[i].device, device))
                        return &p->arrays[i];
        return NULL;
}

static const lf_plan_vg *plan_vg(const lf_plan *p, const char *name) {
        for (size_t i = 0; i < p->n_volume_groups; i++)
                if (streq(p->volume_groups[i].name, name))
                        return &p->volume_groups[i];
        return NULL;
}

static const lf_plan_pv *vg_pv_by_tag(const lf_plan_vg *vg, const char *tag) {
        for (size_t i = 0; i < vg->n_pvs; i++)
                if (streq(vg->pvs[i].tag, tag))
                        return &vg->pvs[i];
        return NULL;
}

/* "/dev/<vg>/<lv>" of a plan LV. */
static bool plan_lv_path(const lf_plan *p, const char *path) {
        for (size_t i = 0; i < p->n_logical_volumes; i++) {
                const lf_plan_lv *lv = &p->logical_volumes[i];
                size_t nv = strlen(lv->vg);
                if (strneq(path, "/dev/", 5) && strneq(path + 5, lv->vg, nv) &&
                    path[5 + nv] == '/' && streq(path + 6 + nv, lv->name))
                        return true;
        }
        return false;
}

static int bad_plan(lf_diag *diag, const char *what, const char *value) {
        return lf_diag_add(diag, "plan", 0,
                           "%s \"%.80s\" cannot be used as it is; make the plan "
                           "again with labforge plan",
                           what, value ? value : "(null)");
}

static int check_storage(const lf_plan *p, lf_diag *diag) {
        int bad = 0;

        for (size_t i = 0; i < p->n_disks; i++) {
                const lf_plan_disk *d = &p->disks[i];
                if (!token_ok(d->name, "") || !path_ok(d->path) || !strneq(d->path, "/dev/", 5))
                        bad = bad_plan(diag, "disk", d->name);
                if (*d->by_id && !path_ok(d->by_id))
                        bad = bad_plan(diag, "disk by-id path", d->by_id);
        }
        for (size_t i = 0; i < p->n_partitions; i++) {
                const lf_plan_partition *pt = &p->partitions[i];
                if (!plan_disk(p, pt->disk) || !path_ok(pt->device) || pt->number < 1 ||
                    pt->number > 128 || pt->size_bytes == 0 || pt->start_bytes == 0 ||
                    pt->start_bytes % (1u << 20) || pt->size_bytes % (1u << 20) ||
                    !lf_plan_part_type_guid(pt->type) || !text_ok(pt->name) ||
                    strlen(pt->name) > 36)
                        bad = bad_plan(diag, "partition", pt->device);
        }
        for (size_t i = 0; i < p->n_arrays; i++) {
                const lf_plan_array *a = &p->arrays[i];
                if (!path_ok(a->device) || !token_ok(a->name, "") || !token_ok(a->level, "") ||
                    !token_ok(a->metadata, "") || a->chunk_kib == 0 || a->n_members == 0)
                        bad = bad_plan(diag, "array", a->device);
                for (size_t j = 0; j < a->n_members; j++)
                        if (!plan_partition(p, a->members[j]))
                                bad = bad_plan(diag, "array member", a->members[j]);
        }
        for (size_t i = 0; i < p->n_volume_groups; i++) {
                const lf_plan_vg *vg = &p->volume_groups[i];
                if (!token_ok(vg->name, "") || vg->n_pvs == 0)
                        bad = bad_plan(diag, "volume group", vg->name);
                for (size_t j = 0; j < vg->n_pvs; j++)
                        if ((!plan_partition(p, vg->pvs[j].device) &&
                             !plan_array(p, vg->pvs[j].device)) ||
                            !token_ok(vg->pvs[j].tag, ""))
                                bad = bad_plan(diag, "physical volume", vg->pvs[j].device);
        }
        for (size_t i = 0; i < p->n_logical_volumes; i++) {
                const lf_plan_lv *lv = &p->logical_volumes[i];
                const lf_plan_vg *vg = plan_vg(p, lv->vg);
                if (!vg || !token_ok(lv->name, "") || !vg_pv_by_tag(vg, lv->pv) ||
                    (lv->extents ? !token_ok(lv->extents, "%")
                                 : lv->size_bytes == 0 || lv->size_bytes % 512))
                        bad = bad_plan(diag, "logical volume", lv->name);
        }
        size_t roots = 0;
        for (size_t i = 0; i < p->n_filesystems; i++) {
                const lf_plan_fs *fs = &p->filesystems[i];
                roots += streq(fs->mountpoint ? fs->mountpoint : "", "/");
                if ((!plan_partition(p, fs->device) && !plan_lv_path(p, fs->device)) ||
                    (!streq(fs->type, "ext4") && !streq(fs->type, "vfat")) ||
                    !path_ok(fs->mountpoint) || !token_ok(fs->options, "=,"))
                        bad = bad_plan(diag, "file system", fs->device);
        }
        if (roots != 1 && !bad)
                bad = bad_plan(diag, "file system list", "(no single / file system)");
        return bad;
}

static int check_config(const lf_plan *p, lf_diag *diag) {
        int bad = 0;

        if (!token_ok(p->node, "") || !token_ok(p->role, "+"))
                bad = bad_plan(diag, "node", p->node);
        for (size_t i = 0; i < p->n_exports; i++) {
                const lf_plan_export *e = &p->exports[i];
                if (!path_ok(e->path) || !token_ok(e->clients, "/:") || !token_ok(e->options, "=,"))
                        bad = bad_plan(diag, "export", e->path);
        }
        for (size_t i = 0; i < p->n_mounts; i++) {
                const lf_plan_mount *m = &p->mounts[i];
                if (!path_ok(m->target) || !token_ok(m->source, "/:") || !token_ok(m->type, "") ||
                    !token_ok(m->options, "=,"))
                        bad = bad_plan(diag, "NFS mount", m->target);
        }
        for (size_t i = 0; i < p->n_network; i++) {
                const lf_plan_net *n = &p->network[i];
                bool ok = token_ok(n->interface, "") && strlen(n->interface) <= 15 &&
                          token_ok(n->kind, "") && token_ok(n->mac, ":") &&
                          (!n->gateway || token_ok(n->gateway, ":"));
                for (size_t j = 0; j < n->n_addresses; j++)
                        ok = ok && token_ok(n->addresses[j], "/:");
                if (n->peer)
                        ok = ok && token_ok(n->peer->node, "") && token_ok(n->peer->address, ":");
                if (n->bond) {
                        ok = ok && token_ok(n->bond->mode, "");
                        for (size_t j = 0; j < n->bond->n_members; j++)
                                ok = ok && token_ok(n->bond->members[j].interface, "") &&
                                     token_ok(n->bond->members[j].mac, ":");
                }
                if (!ok)
                        bad = bad_plan(diag, "network", n->interface);
        }
        for (size_t i = 0; i < p->n_sysctl; i++)
                if (!token_ok(p->sysctl[i].name, "/") || !text_ok(p->sysctl[i].value) ||
                    (p->sysctl[i].source && !text_ok(p->sysctl[i].source)))
                        bad = bad_plan(diag, "sysctl", p->sysctl[i].name);
        return bad;
}

static const char *disk_stable_name(const lf_plan_disk *d,
                                    char buf[static LF_DISK_STABLE_NAME_MAX]) {
        return lf_disk_stable_name(d->by_id, d->model, d->serial, d->name, buf);
}

/* The stable name of a kernel name in the plan: a disk's name or path gives the disk's stable
 * name, a partition's device "<disk's stable name>-part<N>"; NULL and no error when s is
 * neither. */
static int stable_name(const lf_plan *p, const char *s, char **ret) {
        char buf[LF_DISK_STABLE_NAME_MAX];

        *ret = NULL;
        for (size_t i = 0; i < p->n_disks; i++)
                if (streq(s, p->disks[i].name) || streq(s, p->disks[i].path))
                        return (*ret = strdup(disk_stable_name(&p->disks[i], buf))) ? 0 : -ENOMEM;
        const lf_plan_partition *pp = plan_partition(p, s);
        const lf_plan_disk *d = pp ? plan_disk(p, pp->disk) : NULL;
        if (d && asprintf(ret, "%s-part%" PRIu64, disk_stable_name(d, buf), pp->number) < 0)
                return -ENOMEM;
        return 0;
}

/* Replaces every kernel name of a disk or partition in the JSON form of p by its stable name. */
static int stabilize(const lf_plan *p, json_object *o) {
        int r = 0;

        switch (json_object_get_type(o)) {
        case json_type_string: {
                _cleanup_free_ char *name = NULL;
                if ((r = stable_name(p, json_object_get_string(o), &name)) < 0)
                        return r;
                return name && json_object_set_string(o, name) != 1 ? -ENOMEM : 0;
        }
        case json_type_array:
                for (size_t i = 0; r == 0 && i < json_object_array_length(o); i++)
                        r = stabilize(p, json_object_array_get_idx(o, i));
                return r;
        case json_type_object: {
                json_object_object_foreach(o, k, v) {
                        (void)k;
                        if ((r = stabilize(p, v)) < 0)
                                return r;
                }
                return 0;
        }
        default:
                return 0;
        }
}

static int plan_key(const lf_plan *plan, const char *image_sha256, char **ret) {
        _cleanup_json_ json_object *o = NULL;
        _cleanup_free_ char *text = NULL;
        char sha[LF_SHA256_HEX_LEN + 1];
        int r;

        if ((r = lf_plan_to_json(plan, &o)) < 0)
                return r;
        /* The layout to build, not what the probe found on the disks this time: after a power
         * cut the disks hold this install's own partitions, so "wipe", "erase", the warnings and
         * the skipped disks' reasons differ from the first run's, and the journal must still
         * be this plan's. */
        json_object *disks = json_object_object_get(o, "disks");
        for (size_t i = 0; i < json_object_array_length(disks); i++) {
                json_object_object_del(json_object_array_get_idx(disks, i), "wipe");
                json_object_object_del(json_object_array_get_idx(disks, i), "erase");
        }
        json_object_object_del(o, "warnings");
        json_object_object_del(o, "skipped_disks");
        /* Nor the kernel's names of the disks, which can change from one boot to the next. */
        if ((r = stabilize(plan, o)) < 0)
                return r;
        if (!(text = lf_json_to_string(o)))
                return -ENOMEM;
        if ((r = lf_sha256_buffer(text, strlen(text), sha)) < 0)
                return r;
        if (asprintf(ret, "plan=%s image=%s", sha, image_sha256 ? image_sha256 : "-") < 0)
                return -ENOMEM;
        return 0;
}

static void look_clear(lf_exec *x) {
        lf_mounts_free(TAKE_PTR(x->mounts));
        lf_mdstat_free(TAKE_PTR(x->mdstat));
        lf_lvm_report_free(TAKE_PTR(x->pvs));
        for (size_t i = 0; x->tables && i < x->plan->n_disks; i++)
                lf_part_table_free(TAKE_PTR(x->tables[i]));
}

void lf_exec_free(lf_exec *x) {
        if (!x)
                return;
        look_clear(x);
        free(x->tables);
        for (size_t i = 0; x->disk_knames && i < x->plan->n_disks; i++)
                free(x->disk_knames[i]);
        free(x->disk_knames);
        lf_journal_free(x->journal);
        free(x->target);
        free(x->proc_root);
        free(x->dev_root);
        free(x->key);
        free(x);
}

static char *strip_slash(const char *s) {
        char *d = strdup(s);
        size_t n = d ? strlen(d) : 0;
        while (n > 1 && d[n - 1] == '/')
                d[--n] = '\0';
        return d;
}

/* The kernel's name of a /dev path: the target of a link (/dev/md/fast -> ../md127, by-id
 * links), else the last component. */
static char *kernel_name(const lf_exec *x, const char *path) {
        _cleanup_free_ char *p = NULL;
        char target[4096];
        const char *base;

        if (strneq(path, "/dev/", 5) && asprintf(&p, "%s/%s", x->dev_root, path + 5) >= 0) {
                ssize_t n = readlink(p, target, sizeof(target) - 1);
                if (n > 0) {
                        target[n] = '\0';
                        base = strrchr(target, '/');
                        return strdup(base ? base + 1 : target);
                }
        }
        base = strrchr(path, '/');
        return strdup(base ? base + 1 : path);
}

int lf_exec_new(const lf_plan *plan, const lf_exec_opts *opts, lf_diag *diag, lf_exec **ret) {
        _cleanup_exec_ lf_exec *x = NULL;
        const lf_exec_opts defaults = {0};
        int r;

        if (!opts)
                opts = &defaults;
        int bad_storage = check_storage(plan, diag), bad_config = check_config(plan, diag);
        if (bad_storage < 0 || bad_config < 0)
                return -EINVAL; /* both checked: every problem reported */
        if (opts->image_sha256 && !lf_sha256_hex_valid(opts->image_sha256))
                return lf_diag_add(diag, NULL, 0, "image SHA-256 \"%.80s\" is not 64 hex digits",
                                   opts->image_sha256);
        if (!(x = calloc(1, sizeof(*x))))
                return -ENOMEM;
        x->plan = plan;
        x->inventory = opts->inventory;
        x->target = strip_slash(opts->target ? opts->target : LF_EXEC_TARGET);
        x->proc_root = strip_slash(opts->proc_root ? opts->proc_root : "/proc");
        x->dev_root = strip_slash(opts->dev_root ? opts->dev_root : "/dev");
        x->tables = calloc(plan->n_disks + 1, sizeof(*x->tables));
        x->disk_knames = calloc(plan->n_disks + 1, sizeof(char *));
        if (!x->target || !x->proc_root || !x->dev_root || !x->tables || !x->disk_knames)
                return -ENOMEM;
        if (x->target[0] != '/' || streq(x->target, "/"))
                return lf_diag_add(diag, NULL, 0,
                                   "target \"%s\" must be an absolute path "
                                   "other than /",
                                   x->target);
        for (size_t i = 0; i < plan->n_disks; i++)
                if (!(x->disk_knames[i] = kernel_name(x, plan->disks[i].path)))
                        return -ENOMEM;
        if ((r = plan_key(plan, opts->image_sha256, &x->key)) < 0)
                return r;
        *ret = TAKE_PTR(x);
        return 0;
}

const char *lf_exec_journal_key(const lf_exec *x) {
        return x->key;
}

/* ---- Running tools ---- */

static lf_cmd *cmd_new(const char *prog, ...) __attribute__((sentinel));
static lf_cmd *cmd_new(const char *prog, ...) {
        lf_cmd *c = lf_cmd_new(prog);
        va_list ap;

        if (!c)
                return NULL;
        lf_cmd_clear_env(c);
        va_start(ap, prog);
        for (const char *a; (a = va_arg(ap, const char *));)
                lf_cmd_add_arg(c, a); /* out of memory shows at lf_cmd_run() */
        va_end(ap);
        return c;
}

/* The last OUTPUT_TAIL bytes of what a command said (stderr, else stdout), each line indented,
 * without trailing blank lines; malloc'ed. */
static char *output_tail(const lf_cmd_result *res) {
        const char *s = res->err && *res->err ? res->err : res->out ? res->out : "";
        size_t n = strlen(s);
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        while (n > 0 && strchr(" \t\r\n", s[n - 1]))
                n--;
        const char *p = n > OUTPUT_TAIL ? s + n - OUTPUT_TAIL : s, *end = s + n;
        if (!(f = open_memstream(&buf, &size)))
                return NULL;
        if (p == end)
                fputs("  (no output)", f);
        for (bool bol = true; p < end; p++) {
                if (bol)
                        fputs("  ", f);
                fputc(*p, f);
                bol = *p == '\n';
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* Runs c. A failure (cannot start, non-zero exit) is reported to diag with the command line,
 * its output and `hint` (what to do), unless diag is NULL: then it is an answer, not an error.
 * Returns 0, -EIO for a non-zero exit, or the runner's error. res is filled either way. */
static int cmd_exec(lf_cmd *c, lf_diag *diag, const char *hint, lf_cmd_result *res) {
        _cleanup_free_ char *line = NULL;
        int r;

        if (!c)
                return -ENOMEM;
        r = lf_cmd_run(c, res);
        if (r == 0 && res->exit_status == 0)
                return 0;
        if (r == -ENOMEM)
                return r;
        if (r == 0)
                r = -EIO;
        if (!diag)
                return r;
        line = lf_cmd_to_string(c);
        if (r == -EIO) {
                _cleanup_free_ char *out = output_tail(res);
                lf_diag_add(diag, NULL, 0, "`%s` failed (exit status %d):\n%s\nWhat to do: %s",
                            line ? line : "?", res->exit_status, out ? out : "", hint);
        } else
                lf_diag_add(diag, NULL, 0, "`%s` could not run: %s; %s", line ? line : "?",
                            strerror(-r), hint);
        return r;
}

/* Runs a command for its effect only. */
static int run(lf_cmd *c, lf_diag *diag, const char *hint) {
        _cleanup_cmd_ lf_cmd *cmd = c;
        lf_cmd_result res = {0};
        int r = cmd_exec(cmd, diag, hint, &res);
        lf_cmd_result_clear(&res);
        return r;
}

static const char *const HINT_BUSY =
        "something still uses the disk (a mounted file system, an array, a volume group); "
        "reboot the installer and run the install again";
static const char *const HINT_DISK =
        "look for errors of this disk in the kernel log (dmesg) and replace a failing disk, then "
        "run the install again: it clears whatever this run left";
static const char *const HINT_TOOL =
        "the installer image may lack this tool or the kernel a module it needs; check the "
        "netboot image";

/* ---- What belongs to the plan ---- */

/* The plan disk that kname is, or holds as a partition ("sda1", "nvme0n1p2"). */
static const lf_plan_disk *disk_of_kname(const lf_exec *x, const char *kname, bool *ret_whole) {
        for (size_t i = 0; i < x->plan->n_disks; i++) {
                const char *dk = x->disk_knames[i];
                size_t n = strlen(dk);
                if (!strneq(kname, dk, n))
                        continue;
                const char *rest = kname + n;
                if (*rest == '\0') {
                        *ret_whole = true;
                        return &x->plan->disks[i];
                }
                if (dk[n - 1] >= '0' && dk[n - 1] <= '9') {
                        if (*rest != 'p')
                                continue;
                        rest++;
                }
                if (!*rest || strspn(rest, "0123456789") != strlen(rest))
                        continue;
                *ret_whole = false;
                return &x->plan->disks[i];
        }
        return NULL;
}

static const lf_md_array *md_by_kname(const lf_exec *x, const char *kname) {
        for (size_t i = 0; x->mdstat && i < x->mdstat->n_arrays; i++)
                if (streq(x->mdstat->arrays[i].name, kname))
                        return &x->mdstat->arrays[i];
        return NULL;
}

static bool owned_kname(const lf_exec *x, const char *kname, unsigned depth) {
        bool whole;
        if (disk_of_kname(x, kname, &whole))
                return true;
        const lf_md_array *a = md_by_kname(x, kname);
        if (!a || a->n_members == 0 || depth >= MD_NEST_MAX)
                return false;
        for (size_t i = 0; i < a->n_members; i++)
                if (!owned_kname(x, a->members[i], depth + 1))
                        return false;
        return true;
}

/* True when kname is a plan disk or partition, or an array some member of which is. */
static bool touches_plan(const lf_exec *x, const char *kname, unsigned depth) {
        bool whole;
        if (disk_of_kname(x, kname, &whole))
                return true;
        const lf_md_array *a = md_by_kname(x, kname);
        for (size_t i = 0; a && depth < MD_NEST_MAX && i < a->n_members; i++)
                if (touches_plan(x, a->members[i], depth + 1))
                        return true;
        return false;
}

static bool owned_path(const lf_exec *x, const char *path) {
        _cleanup_free_ char *kname = NULL;

        if (plan_lv_path(x->plan, path))
                return true;
        kname = kernel_name(x, path);
        if (!kname)
                return false;
        /* A plan array that did not exist when we looked was created by this run (nothing
         * else creates arrays here); one that did must be built from the plan's disks. */
        if (plan_array(x->plan, path) && !md_by_kname(x, kname))
                return true;
        return owned_kname(x, kname, 0);
}

/* Asserted before every destructive command: dev must be the plan's. */
static int guard(const lf_exec *x, lf_diag *diag, const char *dev) {
        if (owned_path(x, dev))
                return 0;
        return lf_diag_add(diag, NULL, 0,
                           "refusing to write to %s: it is not one of the plan's disks, their "
                           "partitions or arrays; this is a bug, please report it",
                           dev);
}

/* ---- Looking ---- */

static int read_proc(const lf_exec *x, const char *name, lf_diag *diag, char **ret) {
        _cleanup_free_ char *path = NULL;
        size_t len;
        if (asprintf(&path, "%s/%s", x->proc_root, name) < 0)
                return -ENOMEM;
        if (access(path, F_OK) < 0 && errno == ENOENT && streq(name, "mdstat")) {
                *ret = strdup(""); /* md not loaded: no arrays */
                return *ret ? 0 : -ENOMEM;
        }
        return lf_read_file(path, PROC_MAX, diag, ret, &len);
}

static int read_mounts(lf_exec *x, lf_diag *diag) {
        _cleanup_free_ char *buf = NULL;
        int r;

        lf_mounts_free(TAKE_PTR(x->mounts));
        if ((r = read_proc(x, "mounts", diag, &buf)) < 0)
                return r;
        return lf_mounts_parse("/proc/mounts", buf, diag, &x->mounts);
}

static bool under_target(const lf_exec *x, const char *path) {
        size_t n = strlen(x->target);
        return strneq(path, x->target, n) && (path[n] == '\0' || path[n] == '/');
}

static bool is_mounted(const lf_exec *x, const char *mountpoint) {
        for (size_t i = 0; x->mounts && i < x->mounts->n; i++)
                if (streq(x->mounts->mounts[i].target, mountpoint))
                        return true;
        return false;
}

int lf_exec_unmount(lf_exec *x, lf_diag *diag) {
        int r, ret = 0;

        if ((r = read_mounts(x, diag)) < 0)
                return r;
        /* The kernel lists a mount after what it is mounted on: undo in reverse. */
        for (size_t i = x->mounts->n; i-- > 0;) {
                const char *mp = x->mounts->mounts[i].target;
                if (!under_target(x, mp))
                        continue;
                r = run(cmd_new("umount", mp, NULL), diag,
                        "a process may still use a file there; reboot the installer and run "
                        "the install again");
                if (r < 0 && ret == 0)
                        ret = r;
        }
        sync();
        int q = read_mounts(x, diag);
        return ret < 0 ? ret : q;
}

static int run_pvs(lf_exec *x, lf_diag *diag) {
        _cleanup_cmd_ lf_cmd *c =
                cmd_new("pvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o",
                        "pv_name,pv_uuid,vg_name,vg_uuid,pv_tags", NULL);
        lf_cmd_result res = {0};
        int r;

        lf_lvm_report_free(TAKE_PTR(x->pvs));
        r = cmd_exec(c, diag, HINT_TOOL, &res);
        if (r == 0)
                r = lf_lvm_report_parse("pvs", res.out, res.out_len, "pv", diag, &x->pvs);
        lf_cmd_result_clear(&res);
        return r;
}

static int disk_table(lf_exec *x, size_t i, lf_diag *diag) {
        _cleanup_cmd_ lf_cmd *c = cmd_new("sfdisk", "--json", x->plan->disks[i].path, NULL);
        lf_cmd_result res = {0};
        int r;

        lf_part_table_free(TAKE_PTR(x->tables[i]));
        r = cmd_exec(c, NULL, NULL, &res);
        if (r == 0)
                r = lf_sfdisk_parse("sfdisk --json", res.out, res.out_len, diag, &x->tables[i]);
        else if (r == -EIO)
                r = 0; /* no (readable) partition table */
        lf_cmd_result_clear(&res);
        return r;
}

static int disk_changed(const lf_plan_disk *d, const char *what, const char *now, lf_diag *diag) {
        lf_diag_add(diag, NULL, 0,
                    "the plan's disk %s (serial %s) %s %s now: the disks changed since the plan "
                    "was made; probe and plan again",
                    d->name, *d->serial ? d->serial : "unknown", what, now);
        return -ESTALE;
}

/* The disk at the plan's path must be the plan's disk: its serial and by-id path in this
 * boot's probe when the caller gave one, its size, and its by-id link when the system has them
 * (udev), must agree. */
static int check_disk(lf_exec *x, size_t i, lf_diag *diag) {
        const lf_plan_disk *d = &x->plan->disks[i];
        _cleanup_cmd_ lf_cmd *c = cmd_new("blockdev", "--getsize64", d->path, NULL);
        lf_cmd_result res = {0};
        int r;

        if (x->inventory) {
                const lf_inv_disk *now = lf_inventory_find_disk(x->inventory, d->name);
                if (!now)
                        return disk_changed(d, "is", "missing", diag);
                if (!streq(now->serial, d->serial))
                        return disk_changed(d, "has the serial",
                                            *now->serial ? now->serial : "(none)", diag);
                if (!streq(now->by_id, d->by_id))
                        return disk_changed(d, "is",
                                            *now->by_id ? now->by_id : "without by-id path", diag);
        }

        r = cmd_exec(c, diag, "the disk the plan names is missing; probe and plan again", &res);
        if (r == 0) {
                char *end = NULL;
                unsigned long long size = strtoull(res.out, &end, 10);
                if (end == res.out || (*end && *end != '\n') || size != d->size_bytes)
                        r = -ESTALE;
                if (r == -ESTALE)
                        lf_diag_add(diag, NULL, 0,
                                    "%s holds %s bytes but the plan's disk %s (serial %s) "
                                    "holds %llu: the disks changed since the plan was made; "
                                    "probe and plan again",
                                    d->path, strtok(res.out, "\n") ?: "an unknown number of",
                                    d->name, *d->serial ? d->serial : "unknown",
                                    (unsigned long long)d->size_bytes);
        }
        lf_cmd_result_clear(&res);
        if (r < 0 || !*d->by_id)
                return r;
        _cleanup_free_ char *link = NULL;
        if (asprintf(&link, "%s/%s", x->dev_root, d->by_id + 5) < 0)
                return -ENOMEM;
        if (access(link, F_OK) < 0)
                return 0; /* no udev here: no by-id links to compare */
        _cleanup_free_ char *kname = kernel_name(x, d->by_id);
        if (!kname)
                return -ENOMEM;
        if (!streq(kname, x->disk_knames[i])) {
                lf_diag_add(diag, NULL, 0,
                            "the plan's disk %s is %s now, not %s; the disks changed since the "
                            "plan was made: probe and plan again",
                            d->by_id, kname, d->path);
                return -ESTALE;
        }
        return 0;
}

/* Everything prepare decides on. Unmounts what an earlier run left under the target first. */
static int look(lf_exec *x, lf_diag *diag) {
        _cleanup_free_ char *buf = NULL;
        int r;

        look_clear(x);
        if ((r = lf_exec_unmount(x, diag)) < 0)
                return r;
        if ((r = read_proc(x, "mdstat", diag, &buf)) < 0 ||
            (r = lf_mdstat_parse("/proc/mdstat", buf, diag, &x->mdstat)) < 0 ||
            (r = run_pvs(x, diag)) < 0)
                return r;
        for (size_t i = 0; i < x->plan->n_disks; i++)
                if ((r = check_disk(x, i, diag)) < 0 || (r = disk_table(x, i, diag)) < 0)
                        return r;
        return 0;
}

static const char *pv_field(const lf_lvm_row *row, const char *f) {
        const char *v = lf_lvm_row_get(row, f);
        return v ? v : "";
}

/* LVM shows a PV it cannot find as "[unknown]": nothing to write to, so not foreign. */
static bool pv_missing(const lf_lvm_row *row) {
        return streq(pv_field(row, "pv_name"), "[unknown]");
}

static bool pv_owned(const lf_exec *x, const lf_lvm_row *row) {
        return pv_missing(row) || owned_path(x, pv_field(row, "pv_name"));
}

static bool pv_touches(const lf_exec *x, const lf_lvm_row *row) {
        _cleanup_free_ char *kname = kernel_name(x, pv_field(row, "pv_name"));
        return kname && touches_plan(x, kname, 0);
}

/* Refuses, before anything is written, what the executor must not or cannot clear. Every
 * problem is reported. */
static int refuse(lf_exec *x, lf_diag *diag) {
        int bad = 0;

        for (size_t i = 0; i < x->mounts->n; i++) {
                const lf_mount *m = &x->mounts->mounts[i];
                if (strneq(m->source, "/dev/", 5) && owned_path(x, m->source))
                        bad = lf_diag_add(diag, NULL, 0,
                                          "%s is mounted on %s; unmount it (or reboot the "
                                          "installer) before installing on its disk",
                                          m->source, m->target);
        }
        for (size_t i = 0; i < x->mdstat->n_arrays; i++) {
                const lf_md_array *a = &x->mdstat->arrays[i];
                if (touches_plan(x, a->name, 0) && !owned_kname(x, a->name, 0))
                        bad = lf_diag_add(diag, NULL, 0,
                                          "the md array %s spans the plan's disks and disks "
                                          "outside the plan; stop it (mdadm --stop /dev/%s) "
                                          "or remove those disks, then install again",
                                          a->name, a->name);
        }
        for (size_t i = 0; i < x->pvs->n_rows; i++) {
                const lf_lvm_row *row = &x->pvs->rows[i];
                const char *vg = pv_field(row, "vg_name"), *uuid = pv_field(row, "vg_uuid");
                const char *outside = NULL;
                bool touches = false, reported = false;
                for (size_t j = 0; j < i; j++)
                        reported |= streq(pv_field(&x->pvs->rows[j], "vg_uuid"), uuid);
                if (!*uuid || reported)
                        continue;
                for (size_t j = 0; j < x->pvs->n_rows; j++) {
                        const lf_lvm_row *o = &x->pvs->rows[j];
                        if (!streq(pv_field(o, "vg_uuid"), uuid))
                                continue;
                        touches |= pv_touches(x, o);
                        if (!outside && !pv_owned(x, o))
                                outside = pv_field(o, "pv_name");
                }
                if (touches && outside)
                        bad = lf_diag_add(diag, NULL, 0,
                                          "the volume group %s (%s) has physical volumes on "
                                          "the plan's disks and on %s outside the plan; "
                                          "remove it or that disk, then install again",
                                          vg, uuid, outside);
                else if (!touches && plan_vg(x->plan, vg))
                        bad = lf_diag_add(diag, NULL, 0,
                                          "a volume group named %s (%s) is on %s, outside the "
                                          "plan; rename it (vgrename %s NEWNAME) or remove "
                                          "that disk, then install again",
                                          vg, uuid, pv_field(row, "pv_name"), uuid);
        }
        for (size_t i = 0; i < x->plan->n_arrays; i++) {
                const char *dev = x->plan->arrays[i].device;
                if (!owned_path(x, dev))
                        bad = lf_diag_add(diag, NULL, 0,
                                          "%s is an array built from disks outside the plan; "
                                          "stop it and install again",
                                          dev);
        }
        return bad < 0 ? -EBUSY : 0;
}

/* ---- Partition tables ---- */

static bool table_matches(const lf_exec *x, size_t disk) {
        const lf_part_table *t = x->tables[disk];
        const char *name = x->plan->disks[disk].name;
        size_t n = 0;

        if (!t || !streq(t->label, "gpt"))
                return false;
        for (size_t i = 0; i < x->plan->n_partitions; i++) {
                const lf_plan_partition *pp = &x->plan->partitions[i];
                if (!streq(pp->disk, name))
                        continue;
                n++;
                const lf_part *found = NULL;
                for (size_t j = 0; j < t->n_parts; j++)
                        if (streq(t->parts[j].node, pp->device))
                                found = &t->parts[j];
                if (!found || found->start * t->sector_size != pp->start_bytes ||
                    found->size * t->sector_size != pp->size_bytes ||
                    strcasecmp(found->type, lf_plan_part_type_guid(pp->type)) != 0 ||
                    !streq(found->name, pp->name))
                        return false;
        }
        return n == t->n_parts;
}

static char *sfdisk_script(const lf_plan *p, const char *disk) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        fprintf(f, "label: gpt\n");
        for (size_t i = 0; i < p->n_partitions; i++) {
                const lf_plan_partition *pt = &p->partitions[i];
                if (!streq(pt->disk, disk))
                        continue;
                /* Plan offsets are whole MiB: exact whatever the sector size. */
                fprintf(f, "%s : start=%lluMiB, size=%lluMiB, type=%s, name=\"%s\"\n", pt->device,
                        (unsigned long long)(pt->start_bytes >> 20),
                        (unsigned long long)(pt->size_bytes >> 20),
                        lf_plan_part_type_guid(pt->type), pt->name);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static int wait_device(const lf_exec *x, const char *dev, lf_diag *diag) {
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%s", x->dev_root, dev + 5) < 0)
                return -ENOMEM;
        for (unsigned waited = 0;; waited += 100) {
                if (access(p, F_OK) == 0)
                        return 0;
                if (waited >= WAIT_DEVICE_MS)
                        return lf_diag_add(diag, NULL, 0,
                                           "%s did not appear %u s after partitioning; the "
                                           "kernel may not have re-read the partition table: "
                                           "reboot the installer and install again",
                                           dev, WAIT_DEVICE_MS / 1000);
                nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
        }
}

static int partition_disk(lf_exec *x, size_t i, lf_diag *diag) {
        const lf_plan_disk *d = &x->plan->disks[i];
        _cleanup_free_ char *script = sfdisk_script(x->plan, d->name);
        lf_cmd *c;
        int r;

        if (!script)
                return -ENOMEM;
        if ((r = guard(x, diag, d->path)) < 0)
                return r;
        c = cmd_new("sfdisk", "--wipe", "always", "--wipe-partitions", "always", d->path, NULL);
        if (c && lf_cmd_set_input(c, script, strlen(script)) < 0) {
                lf_cmd_free(c);
                return -ENOMEM;
        }
        if ((r = run(c, diag, HINT_BUSY)) < 0 || (r = disk_table(x, i, diag)) < 0)
                return r;
        if (!table_matches(x, i))
                return lf_diag_add(diag, NULL, 0,
                                   "the partition table sfdisk wrote on %s is not the plan's "
                                   "(sfdisk --json %s shows it); check the disk's sector size "
                                   "and make the plan again",
                                   d->path, d->path);
        char buf[LF_DISK_STABLE_NAME_MAX];
        return lf_journal_set(x->journal, "disk", disk_stable_name(d, buf),
                              *x->tables[i]->id ? x->tables[i]->id : "-");
}

/* ---- Tearing down ---- */

static bool member_of_other(const lf_exec *x, const char *kname, const bool *stopped) {
        for (size_t i = 0; i < x->mdstat->n_arrays; i++) {
                const lf_md_array *a = &x->mdstat->arrays[i];
                if (stopped[i] || !touches_plan(x, a->name, 0))
                        continue;
                for (size_t j = 0; j < a->n_members; j++)
                        if (streq(a->members[j], kname))
                                return true;
        }
        return false;
}

static int stop_arrays(lf_exec *x, lf_diag *diag) {
        size_t n = x->mdstat->n_arrays;
        _cleanup_free_ bool *stopped = calloc(n + 1, sizeof(bool));
        _cleanup_strv_free_ char **members = NULL;
        size_t n_members = 0;
        int r;

        if (!stopped)
                return -ENOMEM;
        /* Arrays built on arrays: stop the top ones first. */
        for (bool progress = true; progress;) {
                progress = false;
                for (size_t i = 0; i < n; i++) {
                        const lf_md_array *a = &x->mdstat->arrays[i];
                        if (stopped[i] || !touches_plan(x, a->name, 0) ||
                            member_of_other(x, a->name, stopped))
                                continue;
                        _cleanup_free_ char *dev = NULL;
                        if (asprintf(&dev, "/dev/%s", a->name) < 0)
                                return -ENOMEM;
                        if ((r = guard(x, diag, dev)) < 0 ||
                            (r = run(cmd_new("mdadm", "--stop", dev, NULL), diag, HINT_BUSY)) < 0)
                                return r;
                        for (size_t j = 0; j < a->n_members; j++) {
                                bool whole;
                                if (disk_of_kname(x, a->members[j], &whole) &&
                                    (r = lf_plan_strv_add(&members, &n_members, a->members[j])) < 0)
                                        return r;
                        }
                        stopped[i] = progress = true;
                }
        }
        for (size_t i = 0; i < n_members; i++) {
                _cleanup_free_ char *dev = NULL;
                if (asprintf(&dev, "/dev/%s", members[i]) < 0)
                        return -ENOMEM;
                if ((r = guard(x, diag, dev)) < 0 ||
                    (r = run(cmd_new("mdadm", "--zero-superblock", dev, NULL), diag, HINT_BUSY)) <
                            0)
                        return r;
        }
        return 0;
}

static int remove_vgs(lf_exec *x, lf_diag *diag) {
        _cleanup_strv_free_ char **done = NULL;
        size_t n_done = 0;
        int r;

        for (size_t i = 0; i < x->pvs->n_rows; i++) {
                const lf_lvm_row *row = &x->pvs->rows[i];
                const char *uuid = pv_field(row, "vg_uuid");
                _cleanup_free_ char *sel = NULL;
                bool seen = false;

                if (!*uuid || !pv_touches(x, row))
                        continue;
                for (size_t j = 0; j < n_done; j++)
                        seen |= streq(done[j], uuid);
                if (seen)
                        continue;
                for (size_t j = 0; j < x->pvs->n_rows; j++)
                        if (streq(pv_field(&x->pvs->rows[j], "vg_uuid"), uuid) &&
                            !pv_missing(&x->pvs->rows[j]) &&
                            (r = guard(x, diag, pv_field(&x->pvs->rows[j], "pv_name"))) < 0)
                                return r;
                /* By UUID: a foreign VG may carry the plan's VG name. */
                if (asprintf(&sel, "vg_uuid=%s", uuid) < 0)
                        return -ENOMEM;
                if ((r = run(cmd_new("vgchange", "-an", "--select", sel, NULL), diag, HINT_BUSY)) <
                            0 ||
                    (r = run(cmd_new("vgremove", "-ff", "-y", "--select", sel, NULL), diag,
                             HINT_BUSY)) < 0 ||
                    (r = lf_plan_strv_add(&done, &n_done, uuid)) < 0)
                        return r;
        }
        return 0;
}

/* Signatures of each old partition of a plan disk, then of the disk (GPT, PMBR, anything). */
static int wipe_disks(lf_exec *x, lf_diag *diag) {
        int r;

        for (size_t i = 0; i < x->plan->n_disks; i++) {
                const lf_part_table *t = x->tables[i];
                for (size_t j = 0; t && j < t->n_parts; j++) {
                        _cleanup_free_ char *p = NULL;
                        const char *node = t->parts[j].node;
                        if (!strneq(node, "/dev/", 5) ||
                            asprintf(&p, "%s/%s", x->dev_root, node + 5) < 0)
                                return -ENOMEM;
                        if (access(p, F_OK) < 0)
                                continue; /* in the table but unknown to the kernel */
                        if ((r = guard(x, diag, node)) < 0 ||
                            (r = run(cmd_new("wipefs", "-a", node, NULL), diag, HINT_BUSY)) < 0)
                                return r;
                }
                const char *dev = x->plan->disks[i].path;
                if ((r = guard(x, diag, dev)) < 0 ||
                    (r = run(cmd_new("wipefs", "-a", dev, NULL), diag, HINT_BUSY)) < 0)
                        return r;
        }
        return 0;
}

/* ---- Building ---- */

static int md_detail(const lf_plan_array *a, lf_diag *diag, lf_export **ret) {
        _cleanup_cmd_ lf_cmd *c = cmd_new("mdadm", "--detail", "--export", a->device, NULL);
        lf_cmd_result res = {0};
        int r = cmd_exec(c, diag, HINT_TOOL, &res);
        if (r == 0)
                r = lf_export_parse("mdadm --detail --export", res.out, diag, ret);
        lf_cmd_result_clear(&res);
        return r;
}

/* The array's members now are the plan's; records its UUID and md name. */
static int check_array(lf_exec *x, const lf_plan_array *a, bool record, lf_diag *diag) {
        _cleanup_(lf_export_freep) lf_export *e = NULL;
        _cleanup_strv_free_ char **members = NULL;
        int r;

        if ((r = md_detail(a, diag, &e)) < 0 || (r = lf_export_md_members(e, &members)) < 0)
                return r;
        size_t n = 0, matched = 0;
        for (char **m = members; *m; m++, n++)
                for (size_t j = 0; j < a->n_members; j++) {
                        _cleanup_free_ char *k1 = kernel_name(x, *m),
                                            *k2 = kernel_name(x, a->members[j]);
                        if (!k1 || !k2)
                                return -ENOMEM;
                        matched += streq(k1, k2);
                }
        const char *uuid = lf_export_get(e, "MD_UUID"), *name = lf_export_get(e, "MD_NAME");
        if (n != a->n_members || matched != n || !uuid || !*uuid)
                return -ESTALE;
        if (!record)
                return streq(uuid, lf_journal_get(x->journal, "array", a->device) ?: "") ? 0
                                                                                         : -ESTALE;
        if ((r = lf_journal_set(x->journal, "array", a->device, uuid)) < 0)
                return r;
        return lf_journal_set(x->journal, "array-name", a->device, name && *name ? name : "-");
}

static int create_arrays(lf_exec *x, lf_diag *diag) {
        const lf_plan *p = x->plan;
        int r;

        for (size_t i = 0; i < p->n_arrays; i++) {
                const lf_plan_array *a = &p->arrays[i];
                lf_cmd *c = cmd_new("mdadm", "--create", a->device, "--run", NULL);
                for (size_t j = 0; j < a->n_members; j++)
                        if ((r = guard(x, diag, a->members[j])) < 0) {
                                lf_cmd_free(c);
                                return r;
                        }
                if (c) {
                        lf_cmd_add_argf(c, "--metadata=%s", a->metadata);
                        lf_cmd_add_argf(c, "--level=%s", a->level);
                        lf_cmd_add_argf(c, "--chunk=%lluK", (unsigned long long)a->chunk_kib);
                        lf_cmd_add_argf(c, "--raid-devices=%zu", a->n_members);
                        /* md name "<node>:<class>": the installed system (host name <node>)
                         * sees the array as its own. */
                        lf_cmd_add_argf(c, "--homehost=%s", p->node);
                        lf_cmd_add_argf(c, "--name=%s", a->name);
                        for (size_t j = 0; j < a->n_members; j++)
                                lf_cmd_add_arg(c, a->members[j]);
                }
                if ((r = guard(x, diag, a->device)) < 0) {
                        lf_cmd_free(c);
                        return r;
                }
                if ((r = run(c, diag, HINT_DISK)) < 0)
                        return r;
                r = check_array(x, a, true, diag);
                if (r == -ESTALE)
                        return lf_diag_add(diag, NULL, 0,
                                           "mdadm created %s, but `mdadm --detail --export %s` "
                                           "does not show the plan's members; install again",
                                           a->device, a->device);
                if (r < 0)
                        return r;
                /* A layout like an earlier one brings its PV label back: wipe it. */
                if ((r = run(cmd_new("wipefs", "-a", a->device, NULL), diag, HINT_DISK)) < 0)
                        return r;
        }
        return 0;
}

static int create_lvm(lf_exec *x, lf_diag *diag) {
        const lf_plan *p = x->plan;
        int r;

        for (size_t i = 0; i < p->n_volume_groups; i++) {
                const lf_plan_vg *vg = &p->volume_groups[i];
                lf_cmd *c = cmd_new("vgcreate", vg->name, NULL);
                for (size_t j = 0; j < vg->n_pvs; j++) {
                        const char *dev = vg->pvs[j].device;
                        if ((r = guard(x, diag, dev)) < 0 ||
                            (r = run(cmd_new("pvcreate", "--yes", dev, NULL), diag, HINT_DISK)) <
                                    0) {
                                lf_cmd_free(c);
                                return r;
                        }
                        if (c)
                                lf_cmd_add_arg(c, dev);
                }
                if ((r = run(c, diag, HINT_DISK)) < 0)
                        return r;
                for (size_t j = 0; j < vg->n_pvs; j++)
                        if ((r = run(cmd_new("pvchange", "--addtag", vg->pvs[j].tag,
                                             vg->pvs[j].device, NULL),
                                     diag, HINT_DISK)) < 0)
                                return r;
        }
        if (p->n_volume_groups > 0) {
                if ((r = run_pvs(x, diag)) < 0)
                        return r;
                for (size_t i = 0; i < p->n_volume_groups; i++) {
                        const char *uuid = NULL;
                        for (size_t j = 0; j < x->pvs->n_rows; j++)
                                if (streq(pv_field(&x->pvs->rows[j], "vg_name"),
                                          p->volume_groups[i].name))
                                        uuid = pv_field(&x->pvs->rows[j], "vg_uuid");
                        if (!uuid || !*uuid)
                                return lf_diag_add(diag, NULL, 0,
                                                   "vgcreate made %s, but pvs does not show "
                                                   "it; install again",
                                                   p->volume_groups[i].name);
                        if ((r = lf_journal_set(x->journal, "vg", p->volume_groups[i].name, uuid)) <
                            0)
                                return r;
                }
        }
        for (size_t i = 0; i < p->n_logical_volumes; i++) {
                const lf_plan_lv *lv = &p->logical_volumes[i];
                const lf_plan_pv *pv = vg_pv_by_tag(plan_vg(p, lv->vg), lv->pv);
                _cleanup_free_ char *size = NULL;
                if (lv->extents ? asprintf(&size, "%s", lv->extents) < 0
                                : asprintf(&size, "%llub", (unsigned long long)lv->size_bytes) < 0)
                        return -ENOMEM;
                if ((r = run(cmd_new("lvcreate", "--yes", "-n", lv->name, lv->extents ? "-l" : "-L",
                                     size, lv->vg, pv->device, NULL),
                             diag, HINT_DISK)) < 0)
                        return r;
        }
        return 0;
}

static const char *fs_label(const lf_plan_fs *fs, char buf[static 17]) {
        if (streq(fs->type, "vfat"))
                return "EFI";
        if (streq(fs->mountpoint, "/"))
                return "root";
        const char *base = strrchr(fs->device, '/');
        snprintf(buf, 17, "%s", base ? base + 1 : fs->device);
        return buf;
}

/* blkid's view of a file system: type and UUID. */
static int fs_probe(const char *dev, lf_diag *diag, char **ret_type, char **ret_uuid) {
        _cleanup_cmd_ lf_cmd *c = cmd_new("blkid", "-p", "-o", "export", dev, NULL);
        _cleanup_(lf_export_freep) lf_export *e = NULL;
        lf_cmd_result res = {0};
        int r;

        r = cmd_exec(c, NULL, NULL, &res);
        if (r == 0)
                r = lf_export_parse("blkid", res.out, diag, &e);
        else if (r == -EIO)
                r = -ENODATA; /* nothing recognised */
        lf_cmd_result_clear(&res);
        if (r < 0)
                return r;
        const char *type = lf_export_get(e, "TYPE"), *uuid = lf_export_get(e, "UUID");
        if (!type || !uuid)
                return -ENODATA;
        *ret_type = strdup(type);
        *ret_uuid = strdup(uuid);
        if (!*ret_type || !*ret_uuid) {
                free(*ret_type);
                free(*ret_uuid);
                return -ENOMEM;
        }
        return 0;
}

static int make_filesystems(lf_exec *x, lf_diag *diag) {
        int r;

        for (size_t i = 0; i < x->plan->n_filesystems; i++) {
                const lf_plan_fs *fs = &x->plan->filesystems[i];
                _cleanup_free_ char *type = NULL, *uuid = NULL;
                char lbuf[17];
                const char *label = fs_label(fs, lbuf);
                lf_cmd *c =
                        streq(fs->type, "vfat")
                                ? cmd_new("mkfs.vfat", "-F", "32", "-n", label, fs->device, NULL)
                                : cmd_new("mkfs.ext4", "-F", "-q", "-L", label, fs->device, NULL);
                if (c)
                        lf_cmd_set_timeout(c, SLOW_TIMEOUT_MS);
                if ((r = guard(x, diag, fs->device)) < 0) {
                        lf_cmd_free(c);
                        return r;
                }
                if ((r = run(c, diag, HINT_DISK)) < 0)
                        return r;
                r = fs_probe(fs->device, diag, &type, &uuid);
                if (r == 0 && !streq(type, fs->type))
                        r = -ENODATA;
                if (r == -ENODATA)
                        return lf_diag_add(diag, NULL, 0,
                                           "blkid does not see the new %s file system on %s; "
                                           "install again",
                                           fs->type, fs->device);
                if (r < 0 || (r = lf_journal_set(x->journal, "fs", fs->mountpoint, uuid)) < 0)
                        return r;
        }
        return 0;
}

static int cmp_fs_depth(const void *a, const void *b) {
        const lf_plan_fs *x = *(const lf_plan_fs *const *)a, *y = *(const lf_plan_fs *const *)b;
        unsigned dx = lf_sysconfig_depth(x->mountpoint), dy = lf_sysconfig_depth(y->mountpoint);
        if (dx != dy)
                return dx < dy ? -1 : 1;
        return x < y ? -1 : x > y;
}

static int target_path(const lf_exec *x, const char *path, char **ret) {
        return asprintf(ret, "%s%s", x->target, streq(path, "/") ? "" : path) < 0 ? -ENOMEM : 0;
}

/* Mounts the plan's file systems in order of depth; skip_root when / is mounted already. */
static int mount_all(lf_exec *x, bool skip_root, lf_diag *diag) {
        const lf_plan *p = x->plan;
        _cleanup_free_ const lf_plan_fs **order = calloc(p->n_filesystems + 1, sizeof(*order));
        int r;

        if (!order)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_filesystems; i++)
                order[i] = &p->filesystems[i];
        qsort(order, p->n_filesystems, sizeof(*order), cmp_fs_depth);
        for (size_t i = 0; i < p->n_filesystems; i++) {
                const lf_plan_fs *fs = order[i];
                _cleanup_free_ char *mp = NULL;
                if (skip_root && streq(fs->mountpoint, "/"))
                        continue;
                if ((r = target_path(x, fs->mountpoint, &mp)) < 0)
                        return r;
                if ((r = lf_mkdir_p(mp, 0755)) < 0)
                        return lf_diag_add(diag, NULL, 0, "cannot create %s: %s", mp, strerror(-r));
                if ((r = run(cmd_new("mount", "-t", fs->type, "-o", fs->options, fs->device, mp,
                                     NULL),
                             diag, HINT_DISK)) < 0)
                        return r;
        }
        return 0;
}

static const lf_plan_fs *root_fs(const lf_plan *p) {
        for (size_t i = 0; i < p->n_filesystems; i++)
                if (streq(p->filesystems[i].mountpoint, "/"))
                        return &p->filesystems[i];
        return NULL;
}

static int journal_path(const lf_exec *x, char **ret) {
        return asprintf(ret, "%s%s", x->target, LF_EXEC_JOURNAL) < 0 ? -ENOMEM : 0;
}

/* ---- Resuming ---- */

/* Stops every array holding a member of plan array a, except one that is exactly a and
 * active: *ret_running tells whether that one exists. */
static int settle_array(lf_exec *x, const lf_plan_array *a, lf_diag *diag, bool *ret_running) {
        int r;

        *ret_running = false;
        for (size_t i = 0; i < x->mdstat->n_arrays; i++) {
                const lf_md_array *m = &x->mdstat->arrays[i];
                size_t shared = 0;
                for (size_t j = 0; j < a->n_members; j++) {
                        _cleanup_free_ char *k = kernel_name(x, a->members[j]);
                        if (!k)
                                return -ENOMEM;
                        for (size_t l = 0; l < m->n_members; l++)
                                shared += streq(k, m->members[l]);
                }
                if (shared == 0)
                        continue;
                if (m->active && shared == a->n_members && m->n_members == a->n_members) {
                        *ret_running = true;
                        continue;
                }
                _cleanup_free_ char *dev = NULL;
                if (asprintf(&dev, "/dev/%s", m->name) < 0)
                        return -ENOMEM;
                if ((r = guard(x, diag, dev)) < 0 ||
                    (r = run(cmd_new("mdadm", "--stop", dev, NULL), diag, HINT_BUSY)) < 0)
                        return r;
        }
        return 0;
}

static int resume_arrays(lf_exec *x, lf_diag *diag) {
        int r;

        for (size_t i = 0; i < x->plan->n_arrays; i++) {
                const lf_plan_array *a = &x->plan->arrays[i];
                bool running;
                if ((r = settle_array(x, a, diag, &running)) < 0)
                        return r;
                if (!running) {
                        lf_cmd *c = cmd_new("mdadm", "--assemble", a->device, "--run", NULL);
                        for (size_t j = 0; c && j < a->n_members; j++)
                                lf_cmd_add_arg(c, a->members[j]);
                        if ((r = run(c, NULL, NULL)) == -EIO)
                                return 0;
                        if (r < 0)
                                return r;
                }
                r = check_array(x, a, false, diag);
                if (r == -ESTALE || r == -EIO)
                        return 0;
                if (r < 0)
                        return r;
        }
        return 1;
}

static int resume_lvm(lf_exec *x, lf_diag *diag) {
        const lf_plan *p = x->plan;
        int r;

        if (p->n_volume_groups == 0)
                return 1;
        if ((r = run_pvs(x, diag)) < 0)
                return r;
        for (size_t i = 0; i < p->n_volume_groups; i++) {
                const lf_plan_vg *vg = &p->volume_groups[i];
                const char *uuid = lf_journal_get(x->journal, "vg", vg->name);
                size_t found = 0;
                if (!uuid)
                        return 0;
                for (size_t j = 0; j < x->pvs->n_rows; j++) {
                        const lf_lvm_row *row = &x->pvs->rows[j];
                        if (!streq(pv_field(row, "vg_name"), vg->name))
                                continue;
                        if (!streq(pv_field(row, "vg_uuid"), uuid))
                                return 0; /* another VG of that name */
                        _cleanup_free_ char *k = kernel_name(x, pv_field(row, "pv_name"));
                        for (size_t l = 0; k && l < vg->n_pvs; l++) {
                                _cleanup_free_ char *kp = kernel_name(x, vg->pvs[l].device);
                                if (kp && streq(k, kp) &&
                                    lf_lvm_list_has(pv_field(row, "pv_tags"), vg->pvs[l].tag))
                                        found++;
                        }
                }
                if (found != vg->n_pvs)
                        return 0;
                if ((r = run(cmd_new("vgchange", "-ay", vg->name, NULL), NULL, NULL)) == -EIO)
                        return 0;
                if (r < 0)
                        return r;
        }
        return 1;
}

/* The file systems are the journal's, by UUID. */
static int resume_filesystems(lf_exec *x, lf_diag *diag) {
        for (size_t i = 0; i < x->plan->n_filesystems; i++) {
                const lf_plan_fs *fs = &x->plan->filesystems[i];
                _cleanup_free_ char *type = NULL, *uuid = NULL;
                int r = fs_probe(fs->device, diag, &type, &uuid);
                if (r == -ENODATA || r == -EINVAL)
                        return 0;
                if (r < 0)
                        return r;
                if (!streq(type, fs->type) ||
                    !streq(uuid, lf_journal_get(x->journal, "fs", fs->mountpoint) ?: ""))
                        return 0;
        }
        return 1;
}

/* 1 when the interrupted install's layout is kept and mounted, 0 when it must be rebuilt
 * (anything mounted then is unmounted again by the next look()) with *ret_why saying why,
 * <0 on errors. */
static int try_resume(lf_exec *x, lf_diag *diag, bool *ret_touched, const char **ret_why) {
        const lf_plan_fs *root = root_fs(x->plan);
        _cleanup_free_ char *jpath = NULL, *buf = NULL;
        _cleanup_journal_ lf_journal *j = NULL;
        int r;

        *ret_touched = false;
        *ret_why = "the disks do not hold the plan's partitions";
        for (size_t i = 0; i < x->plan->n_disks; i++)
                if (!table_matches(x, i))
                        return 0;
        if ((r = lf_mkdir_p(x->target, 0755)) < 0)
                return lf_diag_add(diag, NULL, 0, "cannot create %s: %s", x->target, strerror(-r));
        *ret_touched = true;
        *ret_why = "no root file system";
        if ((r = run(cmd_new("mount", "-t", root->type, "-o", root->options, root->device,
                             x->target, NULL),
                     NULL, NULL)) == -EIO)
                return 0;
        if (r < 0 || (r = journal_path(x, &jpath)) < 0)
                return r;
        *ret_why = "no install journal";
        if (access(jpath, F_OK) < 0)
                return 0;
        lf_diag ignored = {0};
        r = lf_read_file(jpath, LF_JOURNAL_MAX_BYTES, &ignored, &buf, &(size_t){0});
        lf_diag_clear(&ignored);
        *ret_why = "the install journal cannot be read";
        if (r < 0 || lf_journal_parse(buf, &j) < 0)
                return 0;
        *ret_why = "the install journal is for another plan or image";
        if (!streq(j->key, x->key) || !lf_journal_has_step(j, LF_EXEC_STEP_DISKS))
                return 0;
        *ret_why = "a disk was partitioned again since the journal was written";
        for (size_t i = 0; i < x->plan->n_disks; i++) {
                char sname[LF_DISK_STABLE_NAME_MAX];
                const char *guid =
                        lf_journal_get(j, "disk", disk_stable_name(&x->plan->disks[i], sname));
                if (!guid || !streq(guid, *x->tables[i]->id ? x->tables[i]->id : "-"))
                        return 0;
        }
        lf_journal_free(x->journal);
        x->journal = TAKE_PTR(j);
        *ret_why = "the RAID arrays are not the journal's";
        if ((r = resume_arrays(x, diag)) <= 0)
                return r;
        *ret_why = "the volume group is not the journal's";
        if ((r = resume_lvm(x, diag)) <= 0)
                return r;
        *ret_why = "the file systems are not the journal's";
        if ((r = resume_filesystems(x, diag)) <= 0)
                return r;
        if ((r = mount_all(x, true, diag)) < 0)
                return r;
        return 1;
}

/* ---- The two phases ---- */

static void step(lf_progress *p, const char *fmt, ...) _printf_(2, 3);
static void step(lf_progress *p, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (!p)
                return;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        lf_progress_step(p, "%s", msg ? msg : fmt);
}

static int start_over(lf_exec *x, lf_progress *p, const char *why, lf_diag *diag) {
        const lf_plan *pl = x->plan;
        _cleanup_free_ char *jpath = NULL;
        int r;

        lf_journal_free(x->journal);
        if (!(x->journal = lf_journal_new(x->key)))
                return -ENOMEM;
        step(p, "Clearing and partitioning %zu disk%s (nothing to resume: %s)", pl->n_disks,
             pl->n_disks == 1 ? "" : "s", why);
        if ((r = remove_vgs(x, diag)) < 0 || (r = stop_arrays(x, diag)) < 0 ||
            (r = wipe_disks(x, diag)) < 0)
                return r;
        for (size_t i = 0; i < pl->n_disks; i++)
                if ((r = partition_disk(x, i, diag)) < 0)
                        return r;
        for (size_t i = 0; i < pl->n_partitions; i++)
                if ((r = wait_device(x, pl->partitions[i].device, diag)) < 0)
                        return r;
        if (pl->n_arrays == 0)
                step(p, "No RAID arrays in the plan");
        else
                step(p, "Creating %zu RAID0 array%s", pl->n_arrays, pl->n_arrays == 1 ? "" : "s");
        if ((r = create_arrays(x, diag)) < 0)
                return r;
        step(p, "Creating LVM: volume group, tagged PVs, %zu logical volume%s",
             pl->n_logical_volumes, pl->n_logical_volumes == 1 ? "" : "s");
        if ((r = create_lvm(x, diag)) < 0)
                return r;
        step(p, "Creating %zu file systems", pl->n_filesystems);
        if ((r = make_filesystems(x, diag)) < 0)
                return r;
        step(p, "Mounting file systems under %s", x->target);
        if ((r = lf_mkdir_p(x->target, 0755)) < 0)
                return lf_diag_add(diag, NULL, 0, "cannot create %s: %s", x->target, strerror(-r));
        if ((r = mount_all(x, false, diag)) < 0 || (r = journal_path(x, &jpath)) < 0)
                return r;
        _cleanup_free_ char *dir = strndup(jpath, (size_t)(strrchr(jpath, '/') - jpath));
        if (!dir)
                return -ENOMEM;
        if ((r = lf_journal_add_step(x->journal, LF_EXEC_STEP_DISKS)) < 0)
                return r;
        if ((r = lf_mkdir_p(dir, 0755)) < 0 || (r = lf_journal_save(x->journal, jpath)) < 0)
                return lf_diag_add(diag, NULL, 0, "cannot write the install journal %s: %s", jpath,
                                   strerror(-r));
        return 0;
}

int lf_exec_prepare_disks(lf_exec *x, lf_progress *p, lf_diag *diag) {
        int r;

        step(p, "Looking at %zu disk%s", x->plan->n_disks, x->plan->n_disks == 1 ? "" : "s");
        if ((r = look(x, diag)) < 0 || (r = refuse(x, diag)) < 0)
                return r;
        step(p, "Checking for an interrupted install to resume");
        bool touched;
        const char *why;
        r = try_resume(x, diag, &touched, &why);
        if (r < 0)
                return r;
        if (r > 0) {
                step(p, "Partitions of the interrupted install kept");
                step(p, "RAID arrays assembled");
                step(p, "Volume group activated");
                step(p, "File systems kept (UUIDs match the journal)");
                step(p, "File systems mounted under %s", x->target);
                return 0;
        }
        /* try_resume may have mounted or assembled things: look again. */
        if (touched && ((r = look(x, diag)) < 0 || (r = refuse(x, diag)) < 0))
                return r;
        return start_over(x, p, why, diag);
}

bool lf_exec_step_done(const lf_exec *x, const char *step_name) {
        return x->journal && lf_journal_has_step(x->journal, step_name);
}

int lf_exec_step_mark(lf_exec *x, const char *step_name, lf_diag *diag) {
        _cleanup_free_ char *jpath = NULL;
        int r;

        if (!x->journal)
                return lf_diag_add(diag, NULL, 0,
                                   "no install journal yet: prepare the disks "
                                   "first");
        if ((r = journal_path(x, &jpath)) < 0)
                return r;
        r = lf_journal_append_step(x->journal, jpath, step_name);
        if (r < 0)
                return lf_diag_add(diag, NULL, 0, "cannot append to the install journal %s: %s",
                                   jpath, strerror(-r));
        return 0;
}

/* ---- Configuring the installed system ---- */

static int write_target_file(const lf_exec *x, const char *path, const void *data, size_t len,
                             unsigned mode, lf_diag *diag) {
        _cleanup_free_ char *full = NULL;
        int r;

        if ((r = target_path(x, path, &full)) < 0)
                return r;
        char *slash = strrchr(full, '/');
        *slash = '\0';
        r = lf_mkdir_p(full, 0755);
        *slash = '/';
        if (r == 0)
                r = lf_write_file_atomic(full, data, len, mode);
        if (r < 0)
                return lf_diag_add(diag, NULL, 0, "cannot write %s: %s", full, strerror(-r));
        return 0;
}

static int write_config(lf_exec *x, const lf_exec_config *cfg, lf_diag *diag) {
        _cleanup_sysconfig_ lf_sysconfig *s = NULL;
        int r;

        if ((r = lf_sysconfig_build(x->plan, x->journal, cfg, diag, &s)) < 0)
                return r;
        for (size_t i = 0; i < s->n_files; i++)
                if ((r = write_target_file(x, s->files[i].path, s->files[i].content,
                                           strlen(s->files[i].content), s->files[i].mode, diag)) <
                    0)
                        return r;
        for (size_t i = 0; i < s->n_dirs; i++) {
                _cleanup_free_ char *dir = NULL;
                if ((r = target_path(x, s->dirs[i], &dir)) < 0)
                        return r;
                if ((r = lf_mkdir_p(dir, 0755)) < 0)
                        return lf_diag_add(diag, NULL, 0, "cannot create %s: %s", dir,
                                           strerror(-r));
        }
        if (cfg->manifest_path) {
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                if ((r = lf_read_file(cfg->manifest_path, MANIFEST_MAX, diag, &buf, &len)) < 0 ||
                    (r = write_target_file(x, LF_SYSCONFIG_MANIFEST, buf, len, 0644, diag)) < 0)
                        return r;
        }
        if (cfg->authkey && (r = write_target_file(x, LF_SYSCONFIG_AUTHKEY, cfg->authkey,
                                                   cfg->authkey_len, 0400, diag)) < 0)
                return r;
        return run(cmd_new("chroot", x->target, "systemctl", "enable", "systemd-networkd.service",
                           NULL),
                   diag, "the role image lacks systemd-networkd; rebuild the image");
}

/* The /dev/disk/by-uuid links udev would make for the plan's file systems. The installer runs
 * without udev, and grub-mkconfig writes root=UUID=... only when that link exists (else the
 * kernel name, which can change at the next boot). Links already there are kept. */
static int uuid_links(lf_exec *x, lf_diag *diag) {
        _cleanup_free_ char *dir = NULL;
        int r;

        if (asprintf(&dir, "%s/disk/by-uuid", x->dev_root) < 0)
                return -ENOMEM;
        if ((r = lf_mkdir_p(dir, 0755)) < 0)
                return lf_diag_add(diag, NULL, 0, "cannot create %s: %s", dir, strerror(-r));
        for (size_t i = 0; i < x->plan->n_filesystems; i++) {
                const lf_plan_fs *fs = &x->plan->filesystems[i];
                const char *uuid = lf_journal_get(x->journal, "fs", fs->mountpoint);
                _cleanup_free_ char *link = NULL;
                if (!uuid)
                        continue; /* the configuration step reported it already */
                if (asprintf(&link, "%s/%s", dir, uuid) < 0)
                        return -ENOMEM;
                if (symlink(fs->device, link) < 0 && errno != EEXIST)
                        return lf_diag_add(diag, NULL, 0, "cannot create %s: %s", link,
                                           strerror(errno));
        }
        return 0;
}

/* /proc, /sys and /dev of the installer inside the target, for tools run in a chroot (with
 * the by-uuid links of the plan's file systems). */
static int bind_mounts(lf_exec *x, lf_diag *diag) {
        static const char *const dirs[] = {"/proc", "/sys", "/dev"};
        int r;

        if ((r = uuid_links(x, diag)) < 0)
                return r;

        if ((r = read_mounts(x, diag)) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *mp = NULL;
                if ((r = target_path(x, dirs[i], &mp)) < 0)
                        return r;
                if (is_mounted(x, mp))
                        continue;
                if ((r = lf_mkdir_p(mp, 0755)) < 0)
                        return lf_diag_add(diag, NULL, 0, "cannot create %s: %s", mp, strerror(-r));
                if ((r = run(cmd_new("mount", "-o", "bind", dirs[i], mp, NULL), diag, HINT_TOOL)) <
                    0)
                        return r;
        }
        return 0;
}

static int in_target(lf_exec *x, lf_diag *diag, const char *hint, ...) __attribute__((sentinel));
static int in_target(lf_exec *x, lf_diag *diag, const char *hint, ...) {
        lf_cmd *c = cmd_new("chroot", x->target, NULL);
        va_list ap;

        if (c) {
                lf_cmd_set_timeout(c, SLOW_TIMEOUT_MS);
                va_start(ap, hint);
                for (const char *a; (a = va_arg(ap, const char *));)
                        lf_cmd_add_arg(c, a);
                va_end(ap);
        }
        return run(c, diag, hint);
}

static const lf_plan_disk *boot_disk(const lf_plan *p) {
        for (size_t i = 0; i < p->n_disks; i++)
                if (streq(p->disks[i].layout, "boot"))
                        return &p->disks[i];
        return NULL;
}

static int install_bootloader(lf_exec *x, lf_diag *diag) {
        const lf_plan_disk *boot = boot_disk(x->plan);
        static const char *const hint =
                "the role image needs grub-pc-bin, grub-efi-amd64-bin and grub2-common";
        int r;

        if (!boot)
                return lf_diag_add(diag, "plan", 0,
                                   "no disk has the boot layout; make the plan "
                                   "again with labforge plan");
        if ((r = in_target(x, diag, hint, "grub-install", "--target=i386-pc", boot->path, NULL)) <
                    0 ||
            (r = in_target(x, diag, hint, "grub-install", "--target=x86_64-efi",
                           "--efi-directory=/boot/efi", "--removable", "--no-nvram", NULL)) < 0)
                return r;
        return in_target(x, diag, hint, "update-grub", NULL);
}

int lf_exec_configure_target(lf_exec *x, const lf_exec_config *cfg, lf_progress *p, lf_diag *diag) {
        _cleanup_free_ char *jpath = NULL;
        int r;

        if (!x->journal || !lf_journal_has_step(x->journal, LF_EXEC_STEP_DISKS))
                return lf_diag_add(diag, NULL, 0,
                                   "the disks are not prepared: call "
                                   "lf_exec_prepare_disks() first");
        step(p, "Writing the system configuration of %s", x->plan->node);
        if ((r = write_config(x, cfg, diag)) < 0)
                return r;
        step(p, "Rebuilding the initramfs%s%s",
             x->plan->n_arrays ? " (it assembles the arrays at boot)" : "",
             lf_exec_step_done(x, LF_EXEC_STEP_INITRAMFS) ? ": done before" : "");
        if (!lf_exec_step_done(x, LF_EXEC_STEP_INITRAMFS)) {
                if ((r = bind_mounts(x, diag)) < 0 ||
                    (r = in_target(x, diag, "the role image needs initramfs-tools",
                                   "update-initramfs", "-u", "-k", "all", NULL)) < 0 ||
                    (r = lf_exec_step_mark(x, LF_EXEC_STEP_INITRAMFS, diag)) < 0)
                        return r;
        }
        step(p, "Installing GRUB for BIOS and UEFI%s",
             lf_exec_step_done(x, LF_EXEC_STEP_BOOTLOADER) ? ": done before" : "");
        if (!lf_exec_step_done(x, LF_EXEC_STEP_BOOTLOADER)) {
                if ((r = bind_mounts(x, diag)) < 0 || (r = install_bootloader(x, diag)) < 0 ||
                    (r = lf_exec_step_mark(x, LF_EXEC_STEP_BOOTLOADER, diag)) < 0)
                        return r;
        }
        step(p, "Unmounting %s", x->target);
        /* A finished install leaves no journal: a later run (a rebuild) starts over. */
        if ((r = journal_path(x, &jpath)) < 0)
                return r;
        if (unlink(jpath) < 0 && errno != ENOENT)
                return lf_diag_add(diag, NULL, 0, "cannot remove %s: %s", jpath, strerror(errno));
        return lf_exec_unmount(x, diag);
}

/* The planner: manifest + inventory -> plan, every rule of DESIGN §5.3. Decisions the design
 * leaves open are taken here, each with its reason next to it; the text form of the plan
 * states them to the admin. In short:
 * - Boot disk (GPT): 1 MiB BIOS boot, 512 MiB ESP (vfat, /boot/efi), 32 GiB root (ext4), the
 *   rest to its class; below 40 GiB root takes it all (warning). Other disks: one partition.
 *   Partitions are aligned at 1 MiB and named "lf:<node>:bios|esp|root|fast|bulk", which is how
 *   a later probe recognises this node's own layout (always reusable: rebuild).
 * - A class with two or more members is md RAID0 /dev/md/<class> (metadata 1.2, chunk 512K),
 *   else its partition is the PV; PVs are tagged fast/bulk in VG labvg.
 * - storage: LV vmbase (golden images, /srv/labforge/base) is 50% of fast with HDDs present,
 *   else 40% of the only class; per-VM snapshots take the free space of bulk (or of fast
 *   without HDDs); /srv/labforge/vms is exported to the storage-link subnet only.
 * - kvm / login: LV scratch / state on /var/lib/labforge, all of fast (else bulk); 16 GiB on
 *   bulk (else fast) beside a storage layout. kvm mounts the VM store over its first link to a
 *   storage node.
 * - Disks with signatures: erased only under the disk policy or for a rebuild; else the plan
 *   fails naming the disk. Network: management on the PXE NIC (or the bond holding it), one
 *   /31 per link (storage side even), MTU from the manifest. sysctl: DESIGN tuning for storage
 *   and kvm, then role, then node overrides. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "planner.h"
#include "units.h"

#define GPT_NAME_MAX 36 /* UTF-16 code units in a GPT partition name */
/* Room kept at the end of a disk for the backup GPT (33 sectors of 512 bytes, or 6 of 4096). */
#define GPT_TAIL (64ull << 10)
#define EXTENT (4ull << 20) /* LVM's default extent: LV sizes are multiples of it */

enum { FAST, BULK, N_CLASSES };
static const char *const class_name[N_CLASSES] = {"fast", "bulk"};

typedef struct used_disk {
        const lf_inv_disk *d;
        int cls;
        const char *wipe;
        const char *part; /* device of its fast/bulk partition, NULL when it adds none */
        uint64_t part_size;
} used_disk;

typedef struct pv_info {
        const char *device; /* NULL when the class has no member */
        uint64_t size;
        uint64_t used;
        size_t n_members;
} pv_info;

typedef struct planner {
        const lf_manifest *m;
        const lf_node *node;
        const lf_inventory *inv;
        lf_diag *diag;
        lf_plan *p;
        const char *base; /* manifest file name without directories, for plan contents */
        bool bad; /* a problem was reported: the plan fails, but keep looking for more */
        used_disk used[LF_INVENTORY_MAX_DISKS];
        size_t n_used;
        pv_info pv[N_CLASSES];
} planner;

static uint64_t align_down(uint64_t v, uint64_t a) {
        return v / a * a;
}

static bool is_ssd(const lf_inv_disk *d) {
        return !d->rotational || streq(d->transport, "nvme");
}

static int problem(planner *pl, long line, const char *fmt, ...) _printf_(3, 4);
static int problem(planner *pl, long line, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        pl->bad = true;
        lf_diag_add(pl->diag, pl->m->file, line, "%s", s);
        return 0;
}

/* A strdup that the planner's callers check once, through set(). */
static int set(char **dst, const char *fmt, ...) _printf_(2, 3);
static int set(char **dst, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        int r = vasprintf(dst, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *dst = NULL;
                return -ENOMEM;
        }
        return 0;
}

static const char *node_roles(const lf_node *n, char buf[static 64]) {
        lf_roles_format(n->roles, buf, 64);
        return buf;
}

/* "sdb (WDC WD20EFRX-68EUZN0, serial WD-WCC4M1234567, /dev/disk/by-id/ata-...)" */
static char *disk_desc(const lf_inv_disk *d) {
        char *s = NULL;
        if (asprintf(&s, "%s (%s, serial %s, %s)", d->name, *d->model ? d->model : "no model",
                     *d->serial ? d->serial : "none", *d->by_id ? d->by_id : "no by-id path") < 0)
                return NULL;
        return s;
}

/* ---- Disks ---- */

static int skip_reason(const lf_inv_disk *d, char **ret) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        const char *sep = "";
        char sz[32];

        if (!f)
                return -ENOMEM;
        if (d->boot_medium) {
                fprintf(f, "%sthe installer booted from it", sep);
                sep = "; ";
        }
        if (d->removable) {
                fprintf(f, "%sremovable medium", sep);
                sep = "; ";
        }
        if (streq(d->transport, "usb")) {
                fprintf(f, "%sUSB disk", sep);
                sep = "; ";
        }
        if (streq(d->transport, "mmc")) {
                fprintf(f, "%sSD/MMC card", sep);
                sep = "; ";
        }
        if (d->size_bytes < LF_PLAN_MIN_DISK) {
                lf_format_size(d->size_bytes, sz, sizeof(sz));
                fprintf(f, "%ssmaller than 8 GiB (%s)", sep, sz);
        }
        if (fclose(f) != 0 || !buf) {
                free(buf);
                return -ENOMEM;
        }
        if (!*buf) {
                free(buf);
                buf = NULL;
        }
        *ret = buf;
        return 0;
}

static int add_skipped(planner *pl, const lf_inv_disk *d, char *reason) {
        lf_plan_skipped *s = lf_plan_grow(&pl->p->skipped_disks, &pl->p->n_skipped_disks,
                                          sizeof(*s));
        if (!s) {
                free(reason);
                return -ENOMEM;
        }
        s->reason = reason;
        s->size_bytes = d->size_bytes;
        if (!(s->name = strdup(d->name)) || !(s->path = strdup(d->path)) ||
            !(s->by_id = strdup(d->by_id)) || !(s->model = strdup(d->model)) ||
            !(s->serial = strdup(d->serial)) || !(s->transport = strdup(d->transport)))
                return -ENOMEM;
        return 0;
}

/* Disks in the order of their stable names (lf_disk_stable_name): kernel names can change
 * between two boots of the installer, and a plan ordered by them would pick the other of two
 * alike SSDs as the boot disk after a power cut. */
static int stable_cmp(const lf_inv_disk *x, const lf_inv_disk *y) {
        char bx[LF_DISK_STABLE_NAME_MAX], by[LF_DISK_STABLE_NAME_MAX];
        int r = strcmp(lf_disk_stable_name(x->by_id, x->model, x->serial, x->name, bx),
                       lf_disk_stable_name(y->by_id, y->model, y->serial, y->name, by));
        return r ? r : strcmp(x->name, y->name);
}

/* Boot disk first (smallest SSD, else smallest HDD; ties by stable name), then SSDs, then
 * HDDs, each by stable name: the order the plan lists disks and array members in. */
static int used_cmp(const void *a, const void *b) {
        const used_disk *x = a, *y = b;
        if (x->cls != y->cls)
                return x->cls - y->cls;
        if (x->d->size_bytes != y->d->size_bytes)
                return x->d->size_bytes < y->d->size_bytes ? -1 : 1;
        return stable_cmp(x->d, y->d);
}

static int name_cmp(const void *a, const void *b) {
        const used_disk *x = a, *y = b;
        if (x->cls != y->cls)
                return x->cls - y->cls;
        return stable_cmp(x->d, y->d);
}

static int select_disks(planner *pl) {
        char roles[64];
        int r;

        for (size_t i = 0; i < pl->inv->n_disks; i++) {
                const lf_inv_disk *d = &pl->inv->disks[i];
                char *reason = NULL;

                r = skip_reason(d, &reason);
                if (r < 0)
                        return r;
                if (reason) {
                        r = add_skipped(pl, d, reason);
                        if (r < 0)
                                return r;
                        continue;
                }
                pl->used[pl->n_used++] = (used_disk){.d = d, .cls = is_ssd(d) ? FAST : BULK};
        }
        if (pl->n_used == 0) {
                _cleanup_free_ char *list = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&list, &len);
                if (!f)
                        return -ENOMEM;
                for (size_t i = 0; i < pl->p->n_skipped_disks; i++)
                        fprintf(f, "%s%s: %s", i ? ", " : "", pl->p->skipped_disks[i].name,
                                pl->p->skipped_disks[i].reason);
                if (fclose(f) != 0)
                        return -ENOMEM;
                return problem(pl, pl->node->line,
                               "node %s (role %s) has no disk labforge can install on (%s); "
                               "it needs an internal, non-removable disk of at least 8 GiB "
                               "that the installer did not boot from: add one, or check that "
                               "the inventory is from this PC",
                               pl->node->name, node_roles(pl->node, roles),
                               pl->inv->n_disks ? list : "the inventory lists no disk");
        }
        /* The boot disk is the smallest of the fastest class: it gives the most of the big
         * disks to the arrays, and root on an SSD boots fast. */
        qsort(pl->used, pl->n_used, sizeof(used_disk), used_cmp);
        if (pl->n_used > 1)
                qsort(pl->used + 1, pl->n_used - 1, sizeof(used_disk), name_cmp);
        return 0;
}

static bool label_is_node(const char *label, const char *node) {
        size_t n = strlen(node);
        return strneq(label, "lf:", 3) && strneq(label + 3, node, n) && label[3 + n] == ':';
}

/* GPT partition names "lf:<node>:..." mark a layout labforge installed for that node. */
static const char *foreign_layout(const lf_inv_disk *d, const char *node) {
        for (size_t i = 0; i < d->n_labels; i++)
                if (strneq(d->labels[i], "lf:", 3) && strchr(d->labels[i] + 3, ':') &&
                    !label_is_node(d->labels[i], node))
                        return d->labels[i];
        return NULL;
}

static bool own_layout(const lf_inv_disk *d, const char *node) {
        for (size_t i = 0; i < d->n_labels; i++)
                if (label_is_node(d->labels[i], node))
                        return true;
        return false;
}

/* A wipe list entry names a disk by serial or by-id path (full, or just its last part). */
static bool wipe_entry_matches(const char *entry, const lf_inv_disk *d) {
        if (*d->serial && streq(entry, d->serial))
                return true;
        if (!*d->by_id)
                return false;
        const char *slash = strrchr(d->by_id, '/');
        return streq(entry, d->by_id) || (slash && streq(entry, slash + 1));
}

static bool listed(const lf_disk_policy *pol, const lf_inv_disk *d) {
        for (size_t i = 0; i < pol->n_wipe_disks; i++)
                if (wipe_entry_matches(pol->wipe_disks[i], d))
                        return true;
        return false;
}

static int refuse_disk(planner *pl, const lf_disk_policy *pol, const lf_inv_disk *d) {
        _cleanup_free_ char *desc = disk_desc(d), *sigs = NULL, *moved = NULL, *fix = NULL;
        const char *foreign = foreign_layout(d, pl->node->name);
        const char *key = *d->serial ? d->serial : *d->by_id ? d->by_id : NULL;
        size_t len = 0;
        FILE *f = open_memstream(&sigs, &len);
        int r;

        if (!desc || !f) {
                if (f)
                        fclose(f);
                return -ENOMEM;
        }
        for (size_t i = 0; i < d->n_signatures; i++)
                fprintf(f, "%s%s", i ? ", " : "", d->signatures[i]);
        if (fclose(f) != 0)
                return -ENOMEM;
        if (foreign && asprintf(&moved,
                                " (its partition name %s is a labforge layout of another node: "
                                "was the disk moved from that PC?)",
                                foreign) < 0)
                return -ENOMEM;

        if (pol->wipe == LF_WIPE_LISTED) {
                r = key ? asprintf(&fix, "add <wipe disk=\"%s\"/> to this <disk-policy>", key)
                        : asprintf(&fix, "the disk has no serial or by-id path to list, so use "
                                         "wipe=\"all\" in this <disk-policy>");
                if (r < 0)
                        return -ENOMEM;
                return problem(pl, pol->line,
                               "disk %s is not blank: it holds %s%s, and this disk policy's "
                               "wipe list does not name it, so labforge will not erase it; to "
                               "erase it, %s; to keep its data, take the disk out of the PC",
                               desc, sigs, moved ? moved : "", fix);
        }
        r = key ? asprintf(&fix,
                           "add <disk-policy wipe=\"listed\"><wipe disk=\"%s\"/></disk-policy> "
                           "to node %s (or wipe=\"all\" to erase every disk of it)",
                           key, pl->node->name)
                : asprintf(&fix, "add <disk-policy wipe=\"all\"/> to node %s (the disk has no "
                                 "serial or by-id path to list)",
                           pl->node->name);
        if (r < 0)
                return -ENOMEM;
        return problem(pl, pl->node->line,
                       "disk %s is not blank: it holds %s%s, and the disk policy for node %s is "
                       "wipe=\"never\", so labforge will not erase it; to erase it, %s; to keep "
                       "its data, take the disk out of the PC",
                       desc, sigs, moved ? moved : "", pl->node->name, fix);
}

/* DESIGN §5.3: a disk with any signature is erased only when the disk policy allows it or it
 * carries this node's own layout (rebuild). Never skip it quietly: the admin may expect it used. */
static int check_policy(planner *pl) {
        const lf_disk_policy *pol = lf_manifest_disk_policy(pl->m, pl->node);
        int r;

        for (size_t i = 0; i < pl->n_used; i++) {
                used_disk *u = &pl->used[i];
                if (u->d->n_signatures == 0)
                        u->wipe = "blank";
                else if (own_layout(u->d, pl->node->name))
                        u->wipe = "rebuild";
                else if (pol->wipe == LF_WIPE_ALL)
                        u->wipe = "policy-all";
                else if (pol->wipe == LF_WIPE_LISTED && listed(pol, u->d))
                        u->wipe = "policy-listed";
                else {
                        r = refuse_disk(pl, pol, u->d);
                        if (r < 0)
                                return r;
                }
        }
        /* A wipe entry that matches nothing is most likely a typo of a serial. */
        for (size_t i = 0; pol->wipe == LF_WIPE_LISTED && i < pol->n_wipe_disks; i++) {
                bool found = false;
                for (size_t j = 0; j < pl->inv->n_disks && !found; j++)
                        found = wipe_entry_matches(pol->wipe_disks[i], &pl->inv->disks[j]);
                if (!found) {
                        r = lf_plan_add_warning(pl->p,
                                                "%s:%ld: the wipe list names disk \"%s\", but no "
                                                "disk of this PC has that serial or by-id path",
                                                pl->base, pol->line, pol->wipe_disks[i]);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int add_disk(planner *pl, const used_disk *u, bool boot) {
        const lf_inv_disk *d = u->d;
        lf_plan_disk *pd = lf_plan_grow(&pl->p->disks, &pl->p->n_disks, sizeof(*pd));
        int r;

        if (!pd)
                return -ENOMEM;
        pd->size_bytes = d->size_bytes;
        if (!(pd->name = strdup(d->name)) || !(pd->id = strdup(*d->by_id ? d->by_id : d->path)) ||
            !(pd->path = strdup(d->path)) || !(pd->by_id = strdup(d->by_id)) ||
            !(pd->model = strdup(d->model)) || !(pd->serial = strdup(d->serial)) ||
            !(pd->transport = strdup(d->transport)) ||
            !(pd->disk_class = strdup(class_name[u->cls])) ||
            !(pd->layout = strdup(boot ? "boot" : "data")) || !(pd->wipe = strdup(u->wipe)))
                return -ENOMEM;
        for (size_t i = 0; i < d->n_signatures; i++) {
                r = lf_plan_strv_add(&pd->erase, &pd->n_erase, d->signatures[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_partition(planner *pl, const lf_inv_disk *d, unsigned number, const char *use,
                         const char *type, uint64_t start, uint64_t size, const char **ret_dev) {
        lf_plan_partition *pt = lf_plan_grow(&pl->p->partitions, &pl->p->n_partitions,
                                             sizeof(*pt));
        size_t n = strlen(d->path);

        if (!pt)
                return -ENOMEM;
        pt->number = number;
        pt->start_bytes = start;
        pt->size_bytes = size;
        /* The kernel puts a "p" between a disk name ending in a digit and the number. */
        if (set(&pt->device, "%s%s%u", d->path, n && d->path[n - 1] >= '0' && d->path[n - 1] <= '9'
                                                        ? "p"
                                                        : "",
                number) < 0 ||
            set(&pt->name, "lf:%s:%s", pl->node->name, use) < 0 || !(pt->disk = strdup(d->name)) ||
            !(pt->use = strdup(use)) || !(pt->type = strdup(type)))
                return -ENOMEM;
        if (ret_dev)
                *ret_dev = pt->device;
        return 0;
}

/* Decides which disks give a partition to their class, so that partition types (RAID member
 * or LVM PV) are known before any partition is written down. */
static int plan_disk_space(planner *pl) {
        char sz[32];
        int r;

        for (size_t i = 0; i < pl->n_used; i++) {
                used_disk *u = &pl->used[i];
                uint64_t end = align_down(u->d->size_bytes - GPT_TAIL, LF_PLAN_ALIGN);
                uint64_t start = i == 0 ? LF_PLAN_ALIGN + LF_PLAN_BIOS_SIZE + LF_PLAN_ESP_SIZE +
                                                  LF_PLAN_ROOT_SIZE
                                        : LF_PLAN_ALIGN;

                if (i == 0 && u->d->size_bytes < LF_PLAN_ROOT_SIZE + LF_PLAN_MIN_REST) {
                        lf_format_size(u->d->size_bytes, sz, sizeof(sz));
                        r = lf_plan_add_warning(pl->p,
                                                "boot disk %s (%s) is smaller than root (32 GiB) "
                                                "+ 8 GiB: root takes the whole disk and it adds "
                                                "nothing to %s",
                                                u->d->name, sz, class_name[u->cls]);
                        if (r < 0)
                                return r;
                        continue;
                }
                u->part_size = end - start;
                pl->pv[u->cls].n_members++;
                pl->pv[u->cls].size += u->part_size;
        }
        return 0;
}

static int write_partitions(planner *pl) {
        int r;

        for (size_t i = 0; i < pl->n_used; i++) {
                used_disk *u = &pl->used[i];
                const lf_inv_disk *d = u->d;
                uint64_t end = align_down(d->size_bytes - GPT_TAIL, LF_PLAN_ALIGN);
                uint64_t at = LF_PLAN_ALIGN;
                unsigned num = 1;
                const char *cls = class_name[u->cls];
                const char *type = pl->pv[u->cls].n_members > 1 ? "linux-raid" : "linux-lvm";

                r = add_disk(pl, u, i == 0);
                if (r < 0)
                        return r;
                if (i == 0) {
                        /* Both BIOS boot and ESP: the disk boots on either firmware, and keeps
                         * booting when the PC's firmware setting is changed later. */
                        r = add_partition(pl, d, num++, "bios", "bios-boot", at,
                                          LF_PLAN_BIOS_SIZE, NULL);
                        if (r < 0)
                                return r;
                        at += LF_PLAN_BIOS_SIZE;
                        r = add_partition(pl, d, num++, "esp", "esp", at, LF_PLAN_ESP_SIZE, NULL);
                        if (r < 0)
                                return r;
                        at += LF_PLAN_ESP_SIZE;
                        uint64_t root = u->part_size ? LF_PLAN_ROOT_SIZE : end - at;
                        r = add_partition(pl, d, num++, "root", "linux", at, root, NULL);
                        if (r < 0)
                                return r;
                        at += root;
                }
                if (u->part_size == 0)
                        continue;
                r = add_partition(pl, d, num, cls, type, at, u->part_size, &u->part);
                if (r < 0)
                        return r;
                if (pl->pv[u->cls].n_members == 1)
                        pl->pv[u->cls].device = u->part;
        }
        return 0;
}

static int plan_arrays(planner *pl) {
        int r;

        for (int c = 0; c < N_CLASSES; c++) {
                if (pl->pv[c].n_members < 2)
                        continue;
                lf_plan_array *a = lf_plan_grow(&pl->p->arrays, &pl->p->n_arrays, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                a->chunk_kib = LF_PLAN_CHUNK_KIB;
                a->size_bytes = pl->pv[c].size;
                if (!(a->name = strdup(class_name[c])) ||
                    set(&a->device, "/dev/md/%s", class_name[c]) < 0 ||
                    !(a->level = strdup("raid0")) || !(a->metadata = strdup("1.2")))
                        return -ENOMEM;
                for (size_t i = 0; i < pl->n_used; i++)
                        if (pl->used[i].cls == c && pl->used[i].part) {
                                r = lf_plan_strv_add(&a->members, &a->n_members,
                                                     pl->used[i].part);
                                if (r < 0)
                                        return r;
                        }
                pl->pv[c].device = a->device;
        }
        return 0;
}

static int add_fs(planner *pl, const char *device, const char *type, const char *mountpoint,
                  const char *options) {
        lf_plan_fs *fs = lf_plan_grow(&pl->p->filesystems, &pl->p->n_filesystems, sizeof(*fs));
        if (!fs)
                return -ENOMEM;
        if (!(fs->device = strdup(device)) || !(fs->type = strdup(type)) ||
            !(fs->mountpoint = strdup(mountpoint)) || !(fs->options = strdup(options)))
                return -ENOMEM;
        return 0;
}

/* pct > 0: that share of the PV (lvcreate -l N%PVS); pct == 0: exactly `size` bytes. */
static int add_lv(planner *pl, const char *name, int c, unsigned pct, uint64_t size,
                  const char *purpose, const char *mountpoint, const char *options) {
        lf_plan_lv *lv = lf_plan_grow(&pl->p->logical_volumes, &pl->p->n_logical_volumes,
                                      sizeof(*lv));
        _cleanup_free_ char *dev = NULL;

        if (!lv)
                return -ENOMEM;
        /* Estimates in extents; all of a PV is all of it, whatever LVM keeps for itself. */
        lv->size_bytes = pct == 100 ? pl->pv[c].size
                         : pct      ? align_down(pl->pv[c].size / 100 * pct, EXTENT)
                                    : size;
        pl->pv[c].used += lv->size_bytes;
        if (!(lv->name = strdup(name)) || !(lv->vg = strdup(LF_PLAN_VG)) ||
            !(lv->pv = strdup(class_name[c])) || !(lv->purpose = strdup(purpose)) ||
            (pct && set(&lv->extents, "%u%%PVS", pct) < 0) ||
            set(&dev, "/dev/%s/%s", LF_PLAN_VG, name) < 0)
                return -ENOMEM;
        return add_fs(pl, dev, "ext4", mountpoint, options);
}

static int plan_storage_lvs(planner *pl, bool *ret_snap_fast) {
        char sz[32];
        bool fast = pl->pv[FAST].device, bulk = pl->pv[BULK].device;
        int vm = fast ? FAST : BULK;
        int r;

        if (!fast && !bulk) {
                char roles[64];
                lf_format_size(pl->used[0].d->size_bytes, sz, sizeof(sz));
                return problem(pl, pl->node->line,
                               "node %s (role %s) has no room for the VM store: its only usable "
                               "disk %s (%s) is all taken by the root file system (32 GiB + 8 "
                               "GiB are needed before a boot disk gives space to the VM store); "
                               "add a disk of at least 8 GiB",
                               pl->node->name, node_roles(pl->node, roles), pl->used[0].d->name,
                               sz);
        }
        /* Golden images on the SSDs, per-VM copy-on-write on the HDDs. With both, vmbase takes
         * half of fast and the other half stays free for more golden images; with one class
         * only, origin and snapshots share it, 40% for the origin. */
        r = add_lv(pl, "vmbase", vm, fast && bulk ? 50 : 40, 0,
                   "golden images, the origin of every per-VM snapshot", LF_PLAN_BASE_DIR,
                   "noatime,data=writeback");
        if (r < 0)
                return r;
        *ret_snap_fast = !bulk;
        if (!fast)
                return lf_plan_add_warning(pl->p,
                                           "no SSD: the golden images (LV vmbase) and the "
                                           "per-VM snapshots share the HDD PV bulk, so VM starts "
                                           "and resets are slower; an SSD would hold the golden "
                                           "images");
        if (!bulk)
                return lf_plan_add_warning(pl->p,
                                           "no HDD: the per-VM snapshots (copy-on-write) live on "
                                           "the SSD PV fast beside the golden images, which "
                                           "limits how many VMs can differ from them");
        return 0;
}

/* /var/lib/labforge: the local VM store of a kvm node (DESIGN §7), the state of a login node. */
static int plan_state_lv(planner *pl) {
        bool kvm = pl->node->roles & LF_ROLE_KVM, storage = pl->node->roles & LF_ROLE_STORAGE;
        const char *name = kvm ? "scratch" : "state";
        const char *purpose = kvm ? "local VM store and labforge state" : "labforge state";
        const char *options = kvm ? "noatime,data=writeback" : "noatime";
        bool fast = pl->pv[FAST].device, bulk = pl->pv[BULK].device;
        char sz[32], roles[64];

        if (storage) {
                /* Beside a VM store it stays small, on the HDDs when there are any: their free
                 * space is the snapshot pool, and 16 GiB of it is no loss. */
                int c = bulk ? BULK : FAST;
                if (pl->pv[c].size - pl->pv[c].used < LF_PLAN_STATE_SIZE + EXTENT) {
                        lf_format_size(pl->pv[c].size - pl->pv[c].used, sz, sizeof(sz));
                        return problem(pl, pl->node->line,
                                       "node %s (role %s) has no room for its 16 GiB %s volume: "
                                       "only %s is left on PV %s; add a disk",
                                       pl->node->name, node_roles(pl->node, roles), name, sz,
                                       class_name[c]);
                }
                return add_lv(pl, name, c, 0, LF_PLAN_STATE_SIZE, purpose, LF_PLAN_STATE_DIR,
                              options);
        }
        if (!fast && !bulk)
                return lf_plan_add_warning(pl->p,
                                           "no space beside the root file system: %s stays on "
                                           "the root file system",
                                           LF_PLAN_STATE_DIR);
        int r = add_lv(pl, name, fast ? FAST : BULK, 100, 0, purpose, LF_PLAN_STATE_DIR, options);
        if (r < 0 || !(fast && bulk))
                return r;
        lf_format_size(pl->pv[BULK].size, sz, sizeof(sz));
        return lf_plan_add_warning(pl->p,
                                   "the HDD PV bulk (%s) is left free in %s: %s is on the SSDs; "
                                   "use lvextend or a new LV if this node needs the HDDs",
                                   sz, LF_PLAN_VG, LF_PLAN_STATE_DIR);
}

static int plan_lvm(planner *pl) {
        bool storage = pl->node->roles & LF_ROLE_STORAGE;
        bool snap_fast = false;
        int r;

        if (storage) {
                r = plan_storage_lvs(pl, &snap_fast);
                if (r < 0 || pl->bad)
                        return r;
        }
        if (!storage || pl->node->roles & (LF_ROLE_KVM | LF_ROLE_LOGIN)) {
                r = plan_state_lv(pl);
                if (r < 0)
                        return r;
        }
        if (!pl->pv[FAST].device && !pl->pv[BULK].device)
                return 0;

        lf_plan_vg *vg = lf_plan_grow(&pl->p->volume_groups, &pl->p->n_volume_groups,
                                      sizeof(*vg));
        if (!vg || !(vg->name = strdup(LF_PLAN_VG)))
                return -ENOMEM;
        for (int c = 0; c < N_CLASSES; c++) {
                if (!pl->pv[c].device)
                        continue;
                lf_plan_pv *pv = lf_plan_grow(&vg->pvs, &vg->n_pvs, sizeof(*pv));
                if (!pv || !(pv->device = strdup(pl->pv[c].device)) ||
                    !(pv->tag = strdup(class_name[c])))
                        return -ENOMEM;
                pv->size_bytes = pl->pv[c].size;
                pv->free_bytes = pl->pv[c].size - pl->pv[c].used;
                vg->size_bytes += pv->size_bytes;
        }
        if (storage) {
                int c = snap_fast ? FAST : BULK;
                vg->snapshot_bytes = pl->pv[c].size - pl->pv[c].used;
                if (!(vg->snapshot_pv = strdup(class_name[c])))
                        return -ENOMEM;
        }
        return 0;
}

static int plan_boot_fs(planner *pl) {
        int r;

        /* The first partitions belong to the boot disk, which comes first. */
        r = add_fs(pl, pl->p->partitions[1].device, "vfat", "/boot/efi", "umask=0077");
        if (r < 0)
                return r;
        return add_fs(pl, pl->p->partitions[2].device, "ext4", "/", "errors=remount-ro");
}

static int plan_disks(planner *pl) {
        int r;

        if (strlen(pl->node->name) + strlen("lf::bios") > GPT_NAME_MAX)
                return problem(pl, pl->node->line,
                               "node name '%s' is too long for labforge's GPT partition names "
                               "(\"lf:%s:root\" must fit in %d characters); use a name of at "
                               "most %zu characters",
                               pl->node->name, pl->node->name, GPT_NAME_MAX,
                               GPT_NAME_MAX - strlen("lf::bios"));
        r = select_disks(pl);
        if (r < 0 || pl->n_used == 0)
                return r;
        r = check_policy(pl);
        /* A refused disk leaves no layout to plan; the network is still checked. */
        if (r < 0 || pl->bad)
                return r;
        r = plan_disk_space(pl);
        if (r < 0)
                return r;
        r = write_partitions(pl);
        if (r < 0)
                return r;
        r = plan_arrays(pl);
        if (r < 0)
                return r;
        r = plan_boot_fs(pl);
        if (r < 0)
                return r;
        return plan_lvm(pl);
}

/* ---- Network ---- */

static const lf_inv_nic *nic_by_mac(const lf_inventory *inv, const char *mac) {
        for (size_t i = 0; i < inv->n_nics; i++)
                if (strcasecmp(inv->nics[i].mac, mac) == 0)
                        return &inv->nics[i];
        return NULL;
}

static char *nic_list(const lf_inventory *inv) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        if (inv->n_nics == 0)
                fprintf(f, "the inventory lists none");
        for (size_t i = 0; i < inv->n_nics; i++)
                fprintf(f, "%s%s %s", i ? ", " : "", inv->nics[i].name, inv->nics[i].mac);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static int missing_nic(planner *pl, long line, const char *what, const char *mac) {
        _cleanup_free_ char *list = nic_list(pl->inv);
        if (!list)
                return -ENOMEM;
        return problem(pl, line,
                       "node %s: %s %s is on no NIC of the inventory (NICs: %s); fix the MAC "
                       "in the manifest, or check that the inventory is from this PC",
                       pl->node->name, what, mac, list);
}

static lf_plan_net *add_net(planner *pl, const char *interface, const char *kind,
                            const char *mac, int64_t speed) {
        lf_plan_net *n = lf_plan_grow(&pl->p->network, &pl->p->n_network, sizeof(*n));
        if (!n)
                return NULL;
        n->speed_mbps = speed;
        if (!(n->interface = strdup(interface)) || !(n->kind = strdup(kind)) ||
            !(n->mac = strdup(mac)))
                return NULL;
        return n;
}

static int set_management_address(planner *pl, lf_plan_net *n) {
        char a[16], g[16];
        char *s = NULL;

        if (!pl->node->address) {
                n->dhcp = true;
                return 0;
        }
        lf_ipv4_format(pl->node->address, a, sizeof(a));
        if (set(&s, "%s/%u", a, pl->m->management.prefix) < 0)
                return -ENOMEM;
        int r = lf_plan_strv_add(&n->addresses, &n->n_addresses, s);
        free(s);
        if (r < 0)
                return r;
        if (pl->m->gateway) {
                lf_ipv4_format(pl->m->gateway, g, sizeof(g));
                if (!(n->gateway = strdup(g)))
                        return -ENOMEM;
        }
        return 0;
}

static bool is_link_mac(const planner *pl, const char *mac) {
        for (size_t i = 0; i < pl->m->n_links; i++) {
                const lf_link *l = &pl->m->links[i];
                if ((streq(l->a.node, pl->node->name) && strcasecmp(l->a.mac, mac) == 0) ||
                    (streq(l->b.node, pl->node->name) && strcasecmp(l->b.mac, mac) == 0))
                        return true;
        }
        return false;
}

static int plan_bonds(planner *pl, bool *ret_mgmt_on_bond) {
        int r;

        *ret_mgmt_on_bond = false;
        /* The bond carrying management goes first, like a plain management NIC would. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < pl->node->n_bonds; i++) {
                        const lf_bond *b = &pl->node->bonds[i];
                        bool mgmt = false;

                        for (size_t j = 0; j < b->n_members; j++)
                                mgmt |= strcasecmp(b->members[j], pl->node->mac) == 0;
                        if (mgmt != (pass == 0))
                                continue;
                        *ret_mgmt_on_bond |= mgmt;

                        bool ok = true;
                        for (size_t j = 0; j < b->n_members; j++) {
                                if (is_link_mac(pl, b->members[j])) {
                                        r = problem(pl, b->line,
                                                    "bond %s of node %s: member %s is a storage "
                                                    "link NIC; a storage link is one NIC with "
                                                    "its own /31, take it out of the bond",
                                                    b->name, pl->node->name, b->members[j]);
                                        ok = false;
                                } else if (!nic_by_mac(pl->inv, b->members[j])) {
                                        _cleanup_free_ char *what = NULL;
                                        if (asprintf(&what, "%s member MAC", b->name) < 0)
                                                return -ENOMEM;
                                        r = missing_nic(pl, b->line, what, b->members[j]);
                                        ok = false;
                                } else
                                        r = 0;
                                if (r < 0)
                                        return r;
                        }
                        if (!ok || b->n_members == 0)
                                continue;

                        /* The bond takes the PXE MAC when it carries management, so that DHCP
                         * reservations made for the PC keep working. */
                        lf_plan_net *n = add_net(pl, b->name, mgmt ? "management" : "bond",
                                                 mgmt ? pl->node->mac : b->members[0], -1);
                        if (!n || !(n->bond = calloc(1, sizeof(*n->bond))) ||
                            !(n->bond->mode = strdup(b->mode)))
                                return -ENOMEM;
                        n->bond->miimon = b->miimon;
                        for (size_t j = 0; j < b->n_members; j++) {
                                const lf_inv_nic *nic = nic_by_mac(pl->inv, b->members[j]);
                                lf_plan_nic_ref *ref = lf_plan_grow(&n->bond->members,
                                                                    &n->bond->n_members,
                                                                    sizeof(*ref));
                                if (!ref || !(ref->interface = strdup(nic->name)) ||
                                    !(ref->mac = strdup(nic->mac)))
                                        return -ENOMEM;
                                ref->speed_mbps = nic->speed_mbps;
                        }
                        if (mgmt) {
                                r = set_management_address(pl, n);
                                if (r < 0)
                                        return r;
                        }
                }
        return 0;
}

static int plan_management(planner *pl) {
        bool on_bond;
        int r;

        r = plan_bonds(pl, &on_bond);
        if (r < 0 || on_bond)
                return r;
        const lf_inv_nic *nic = nic_by_mac(pl->inv, pl->node->mac);
        if (!nic)
                return missing_nic(pl, pl->node->line, "management MAC", pl->node->mac);
        lf_plan_net *n = add_net(pl, nic->name, "management", nic->mac, nic->speed_mbps);
        if (!n)
                return -ENOMEM;
        /* A plain management NIC is listed before any other bond. */
        if (pl->p->n_network > 1) {
                lf_plan_net tmp = pl->p->network[pl->p->n_network - 1];
                memmove(&pl->p->network[1], &pl->p->network[0],
                        (pl->p->n_network - 1) * sizeof(tmp));
                pl->p->network[0] = tmp;
                n = &pl->p->network[0];
        }
        return set_management_address(pl, n);
}

static bool node_is_storage(const lf_manifest *m, const char *name) {
        const lf_node *n = lf_manifest_find_node(m, name);
        return n && (n->roles & LF_ROLE_STORAGE);
}

/* Link i of the manifest gets the /31 at storage_links + 2i; its storage side the even
 * address. The numbering depends only on the manifest, so every node computes the same. */
static int link_addresses(planner *pl, size_t i, bool *ret_a_is_storage, uint32_t *ret_base) {
        const lf_link *l = &pl->m->links[i];
        char net[32];

        if (2 * (uint64_t)i + 2 > lf_cidr_size(pl->m->storage_links)) {
                lf_cidr_format(pl->m->storage_links, net, sizeof(net));
                return problem(pl, l->line,
                               "the storage-links subnet %s has room for %llu links and this is "
                               "link %zu; use a larger subnet",
                               net, (unsigned long long)(lf_cidr_size(pl->m->storage_links) / 2),
                               i + 1);
        }
        *ret_a_is_storage = node_is_storage(pl->m, l->a.node) ||
                            !node_is_storage(pl->m, l->b.node);
        *ret_base = lf_cidr_network(pl->m->storage_links) + 2 * (uint32_t)i;
        return 1;
}

static int plan_links(planner *pl) {
        bool kvm_client = (pl->node->roles & LF_ROLE_KVM) && !(pl->node->roles & LF_ROLE_STORAGE);
        size_t n_links = 0, n_storage = 0;
        const lf_link *first = NULL;
        char a[16], peer[16];
        int r;

        for (size_t i = 0; i < pl->m->n_links; i++) {
                const lf_link *l = &pl->m->links[i];
                bool mine_a = streq(l->a.node, pl->node->name);
                if (!mine_a && !streq(l->b.node, pl->node->name))
                        continue;
                const lf_link_end *me = mine_a ? &l->a : &l->b, *other = mine_a ? &l->b : &l->a;
                bool a_storage = false;
                uint32_t base = 0;

                n_links++;
                r = link_addresses(pl, i, &a_storage, &base);
                if (r <= 0)
                        continue;
                bool mine_storage = mine_a == a_storage;
                uint32_t my = mine_storage ? base : base + 1, their = mine_storage ? base + 1 : base;
                lf_ipv4_format(my, a, sizeof(a));
                lf_ipv4_format(their, peer, sizeof(peer));

                const lf_inv_nic *nic = nic_by_mac(pl->inv, me->mac);
                if (!nic) {
                        _cleanup_free_ char *what = NULL;
                        if (asprintf(&what, "storage link MAC (link to %s)", other->node) < 0)
                                return -ENOMEM;
                        r = missing_nic(pl, l->line, what, me->mac);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (nic->speed_mbps >= 0 && nic->speed_mbps < 10000) {
                        r = lf_plan_add_warning(pl->p,
                                                "storage link NIC %s (to %s) runs at %lld Mb/s, "
                                                "not 10 Gb/s: check the NIC, the cable and the "
                                                "peer's port",
                                                nic->name, other->node,
                                                (long long)nic->speed_mbps);
                        if (r < 0)
                                return r;
                }
                lf_plan_net *n = add_net(pl, nic->name, "storage-link", nic->mac,
                                         nic->speed_mbps);
                _cleanup_free_ char *cidr = NULL;
                if (!n || set(&cidr, "%s/31", a) < 0 ||
                    lf_plan_strv_add(&n->addresses, &n->n_addresses, cidr) < 0 ||
                    !(n->peer = calloc(1, sizeof(*n->peer))) ||
                    !(n->peer->node = strdup(other->node)) || !(n->peer->address = strdup(peer)))
                        return -ENOMEM;
                n->mtu = pl->m->storage_mtu;

                if (kvm_client && node_is_storage(pl->m, other->node) && n_storage++ == 0) {
                        first = l;
                        lf_plan_mount *mt = lf_plan_grow(&pl->p->mounts, &pl->p->n_mounts,
                                                         sizeof(*mt));
                        if (!mt || set(&mt->source, "%s:%s", peer, LF_PLAN_VM_DIR) < 0 ||
                            !(mt->target = strdup(LF_PLAN_VM_DIR)) ||
                            !(mt->type = strdup("nfs4")) ||
                            !(mt->options = strdup("rw,async,hard,noatime,proto=tcp,nconnect=4,"
                                                   "rsize=1048576,wsize=1048576")) ||
                            !(mt->server = strdup(other->node)))
                                return -ENOMEM;
                }
        }

        if (n_storage > 1)
                return lf_plan_add_warning(pl->p,
                                           "%zu storage links lead to storage nodes; only the "
                                           "first (%s:%ld, to %s) is mounted on %s",
                                           n_storage, pl->base, first->line,
                                           pl->p->mounts[0].server, LF_PLAN_VM_DIR);
        bool lab_has_storage = false;
        for (size_t i = 0; i < pl->m->n_nodes; i++)
                lab_has_storage |= (pl->m->nodes[i].roles & LF_ROLE_STORAGE) != 0;
        if (kvm_client && n_storage == 0 && lab_has_storage)
                return lf_plan_add_warning(pl->p,
                                           "no storage link to a storage node: this KVM host "
                                           "cannot mount the shared VM store and keeps VM disks "
                                           "on %s/vms; add a <link> to the manifest",
                                           LF_PLAN_STATE_DIR);
        if ((pl->node->roles & LF_ROLE_STORAGE) && n_links == 0)
                return lf_plan_add_warning(pl->p,
                                           "no storage link: no KVM host can mount this node's "
                                           "VM store; add <link> elements to the manifest");
        return 0;
}

static int plan_exports(planner *pl) {
        char net[32];

        /* Without <storage-links> there is no link and no subnet to export to (a warning
         * says so). */
        if (!(pl->node->roles & LF_ROLE_STORAGE) || !pl->m->has_storage_links)
                return 0;
        /* Only the VM store is exported: a VM only ever opens its own snapshot, and the
         * golden origin (/srv/labforge/base) must not be written while snapshots exist, so
         * nothing outside the node needs it. */
        lf_cidr c = {lf_cidr_network(pl->m->storage_links), pl->m->storage_links.prefix};
        lf_cidr_format(c, net, sizeof(net));
        lf_plan_export *e = lf_plan_grow(&pl->p->exports, &pl->p->n_exports, sizeof(*e));
        if (!e || !(e->path = strdup(LF_PLAN_VM_DIR)) || !(e->clients = strdup(net)) ||
            !(e->options = strdup("rw,async,no_subtree_check,no_root_squash,crossmnt")))
                return -ENOMEM;
        return 0;
}

/* ---- sysctl ---- */

static int sysctl_set(planner *pl, const char *name, const char *value, const char *source) {
        lf_plan_sysctl *s = NULL;

        for (size_t i = 0; i < pl->p->n_sysctl && !s; i++)
                if (streq(pl->p->sysctl[i].name, name))
                        s = &pl->p->sysctl[i];
        if (s) {
                free(s->value);
                free(s->source);
                s->value = s->source = NULL;
        } else {
                s = lf_plan_grow(&pl->p->sysctl, &pl->p->n_sysctl, sizeof(*s));
                if (!s || !(s->name = strdup(name)))
                        return -ENOMEM;
        }
        if (!(s->value = strdup(value)) || !(s->source = strdup(source)))
                return -ENOMEM;
        return 0;
}

static bool sysctl_valid(const lf_sysctl *s) {
        if (!*s->name || !*s->value)
                return false;
        for (const char *c = s->name; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/",
                            *c))
                        return false;
        return strcspn(s->value, "\n\r") == strlen(s->value);
}

static int sysctl_override(planner *pl, const lf_sysctl *s, const char *who) {
        _cleanup_free_ char *src = NULL;

        if (!sysctl_valid(s))
                return problem(pl, s->line,
                               "sysctl '%s' = '%s' cannot be written to sysctl.d: the name takes "
                               "letters, digits and ._-/ only, the value one non-empty line",
                               s->name, s->value);
        if (asprintf(&src, "%s:%ld (%s)", pl->base, s->line, who) < 0)
                return -ENOMEM;
        return sysctl_set(pl, s->name, s->value, src);
}

static int sysctl_cmp(const void *a, const void *b) {
        return strcmp(((const lf_plan_sysctl *)a)->name, ((const lf_plan_sysctl *)b)->name);
}

static int plan_sysctl(planner *pl) {
        /* DESIGN §5.3, measured on such clusters: bigger socket buffers for NFS over 10G. */
        static const char *const tuning[][2] = {
                {"net.core.optmem_max", "262144"},
                {"net.core.rmem_default", "262144"},
                {"net.core.wmem_default", "262144"},
                {"net.core.rmem_max", "8388608"},
                {"net.core.wmem_max", "8388608"},
                {"net.ipv4.tcp_rmem", "4096 87380 8388608"},
                {"net.ipv4.tcp_wmem", "4096 65536 8388608"},
        };
        char roles[64], who[128];
        int r;

        if (pl->node->roles & (LF_ROLE_STORAGE | LF_ROLE_KVM))
                for (size_t i = 0; i < ELEMENTSOF(tuning); i++) {
                        r = sysctl_set(pl, tuning[i][0], tuning[i][1],
                                       "labforge tuning for storage and kvm nodes");
                        if (r < 0)
                                return r;
                }
        /* Lab-level role overrides, then the node's own: the most specific wins. */
        for (size_t i = 0; i < pl->m->n_role_sysctls; i++) {
                const lf_role_sysctl *rs = &pl->m->role_sysctls[i];
                if (!(rs->roles & pl->node->roles))
                        continue;
                lf_roles_format(rs->roles, roles, sizeof(roles));
                snprintf(who, sizeof(who), "role %s", roles);
                r = sysctl_override(pl, &rs->s, who);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < pl->node->n_sysctls; i++) {
                snprintf(who, sizeof(who), "node %s", pl->node->name);
                r = sysctl_override(pl, &pl->node->sysctls[i], who);
                if (r < 0)
                        return r;
        }
        if (pl->p->n_sysctl > 1)
                qsort(pl->p->sysctl, pl->p->n_sysctl, sizeof(lf_plan_sysctl), sysctl_cmp);
        return 0;
}

/* ---- The whole plan ---- */

static int unknown_node(const lf_manifest *m, const char *name, lf_diag *diag) {
        _cleanup_free_ char *list = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&list, &len);

        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_nodes; i++)
                fprintf(f, "%s%s", i ? ", " : "", m->nodes[i].name);
        if (fclose(f) != 0)
                return -ENOMEM;
        return lf_diag_add(diag, m->file, m->line,
                           "no node named '%s' in this lab; its nodes are: %s; pass one of them "
                           "with --node",
                           name, m->n_nodes ? list : "(none)");
}

int lf_plan_build(const lf_manifest *m, const char *node_name, const lf_inventory *inv,
                  lf_diag *diag, lf_plan **ret) {
        _cleanup_plan_ lf_plan *p = NULL;
        char roles[64];
        int r;

        const lf_node *node = lf_manifest_find_node(m, node_name);
        if (!node)
                return unknown_node(m, node_name, diag);
        if (inv->n_disks > LF_INVENTORY_MAX_DISKS)
                return lf_diag_add(diag, NULL, 0, "the inventory lists %zu disks; at most %d are "
                                   "supported", inv->n_disks, LF_INVENTORY_MAX_DISKS);

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        const char *slash = strrchr(m->file, '/');
        planner pl = {
                .m = m,
                .node = node,
                .inv = inv,
                .diag = diag,
                .p = p,
                .base = slash ? slash + 1 : m->file,
        };
        if (!(p->node = strdup(node->name)) || !(p->role = strdup(node_roles(node, roles))))
                return -ENOMEM;

        r = plan_disks(&pl);
        if (r < 0)
                return r;
        r = plan_exports(&pl);
        if (r < 0)
                return r;
        r = plan_management(&pl);
        if (r < 0)
                return r;
        r = plan_links(&pl);
        if (r < 0)
                return r;
        r = plan_sysctl(&pl);
        if (r < 0)
                return r;
        if (pl.bad)
                return -EINVAL;
        *ret = TAKE_PTR(p);
        return 0;
}

/* The hardware probe: sysfs for what the kernel knows about disks, NICs and the machine,
 * libblkid for what is written on the disks. See probe.h. */
#include <blkid.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "log.h"
#include "net.h"
#include "plan.h"
#include "probe.h"
#include "verbs.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(blkid_probe, blkid_free_probe);
#define _cleanup_blkid_probe_ _cleanup_(blkid_free_probep)
DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);
#define _cleanup_closedir_ _cleanup_(closedirp)
DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Most bytes read of one sysfs attribute; longer values are cut. */
#define ATTR_MAX 4096
/* Most partitions looked into on one disk; holder chains followed this deep. */
#define MAX_PARTITIONS 256
#define MAX_HOLDER_DEPTH 8

typedef struct probe_ctx {
        const char *sys, *dev, *proc;
        char *sys_real; /* realpath of sys, stripped from device paths before matching them */
        lf_diag *diag;
        char **mounted; /* basenames of the devices in <proc>/mounts */
        size_t n_mounted;
} probe_ctx;

/* Reports a problem with the file or directory at path and returns r. */
static int fail_at(const probe_ctx *c, int r, const char *path, const char *fmt, ...)
        _printf_(4, 5);
static int fail_at(const probe_ctx *c, int r, const char *path, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        int k = lf_diag_addv(c->diag, path, 0, fmt, ap);
        va_end(ap);
        return k == -ENOMEM ? k : r;
}

static char *path_join(const char *a, const char *b) {
        char *p = NULL;
        return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

/* Reads a sysfs attribute: cut at ATTR_MAX, at the first NUL and the first newline, leading and
 * trailing blanks removed (SCSI models are padded). -errno when it cannot be read. */
static int read_attr(const char *dir, const char *name, char **ret) {
        _cleanup_free_ char *path = path_join(dir, name), *buf = NULL;
        _cleanup_close_ int fd = -1;
        ssize_t n;

        if (!path || !(buf = malloc(ATTR_MAX + 1)))
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, ATTR_MAX);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        char *s = buf;
        while (isspace((unsigned char)*s))
                s++;
        size_t len = strlen(s);
        while (len > 0 && isspace((unsigned char)s[len - 1]))
                s[--len] = 0;
        /* Keep the value printable ASCII (so also valid UTF-8 in JSON): firmware strings sometimes
         * carry control bytes or a legacy code page. */
        for (char *c = s; *c; c++)
                if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                        *c = '?';
        memmove(buf, s, len + 1);
        if (len > LF_INVENTORY_MAX_STRING)
                buf[LF_INVENTORY_MAX_STRING] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* An attribute, or "" when it is missing or unreadable (optional facts like a serial). */
static char *attr_or_empty(const char *dir, const char *name) {
        char *v = NULL;
        if (read_attr(dir, name, &v) < 0)
                return strdup("");
        return v;
}

static int read_u64(const char *dir, const char *name, int base, uint64_t *ret) {
        _cleanup_free_ char *v = NULL;
        char *end;
        int r = read_attr(dir, name, &v);
        if (r < 0)
                return r;
        errno = 0;
        unsigned long long x = strtoull(v, &end, base);
        if (errno || end == v || *end || v[0] == '-')
                return -EINVAL;
        *ret = x;
        return 0;
}

static bool exists(const char *dir, const char *name) {
        _cleanup_free_ char *p = path_join(dir, name);
        return p && access(p, F_OK) == 0;
}

/* Basename of the target of the symlink dir/name ("e1000e" for device/driver). */
static int link_basename(const char *dir, const char *name, char **ret) {
        _cleanup_free_ char *p = path_join(dir, name);
        char target[PATH_MAX];

        if (!p)
                return -ENOMEM;
        ssize_t n = readlink(p, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = 0;
        const char *b = strrchr(target, '/');
        *ret = strdup(b ? b + 1 : target);
        return *ret ? 0 : -ENOMEM;
}

static int cmp_names(const void *a, const void *b) {
        return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir (no "." or ".."), sorted with strverscmp; an empty list when dir is
 * missing. */
static int list_dir(const char *dir, size_t max, char ***ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        struct dirent *de;

        if (!d && errno != ENOENT)
                return -errno;
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while (d && (de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (n >= max)
                        return -E2BIG;
                char **nl = realloc(l, (n + 2) * sizeof(char *));
                if (!nl)
                        return -ENOMEM;
                l = nl;
                if (!(l[n] = strdup(de->d_name)))
                        return -ENOMEM;
                l[++n] = NULL;
        }
        qsort(l, n, sizeof(char *), cmp_names);
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

static bool has_prefix(const char *s, const char *prefix) {
        return strneq(s, prefix, strlen(prefix));
}

/* Block devices that are not disks a plan could use: loop, RAM and compressed-RAM disks,
 * device-mapper, md arrays, optical drives, network block devices, floppies. */
static bool skip_block_device(const char *name) {
        static const char *const prefixes[] = {"loop", "ram", "zram", "dm-",
                                               "md",   "sr",  "nbd",  "fd"};
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (has_prefix(name, prefixes[i]))
                        return true;
        return false;
}

/* Where the disk hangs in the device tree, relative to the sysfs root
 * ("/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda"). */
static char *device_path(const probe_ctx *c, const char *blockdir) {
        char real[PATH_MAX];
        size_t n = strlen(c->sys_real);

        if (!realpath(blockdir, real))
                return strdup("");
        if (strneq(real, c->sys_real, n) && real[n] == '/')
                return strdup(real + n);
        return strdup(real);
}

static bool path_has_component(const char *path, const char *prefix) {
        _cleanup_free_ char *needle = NULL;
        if (asprintf(&needle, "/%s", prefix) < 0)
                return false;
        return strstr(path, needle) != NULL;
}

/* The bus a disk is attached through, from where it sits in the device tree. USB comes first:
 * a USB stick is also a SCSI disk, and a USB-SATA bridge has an ATA disk behind it. SCSI disks
 * on a virtio-scsi controller are "scsi"; "virtio" is virtio-blk. */
static const char *transport_of(const char *name, const char *devpath) {
        if (path_has_component(devpath, "usb"))
                return "usb";
        if (has_prefix(name, "nvme") || path_has_component(devpath, "nvme"))
                return "nvme";
        if (has_prefix(name, "mmcblk") || path_has_component(devpath, "mmc"))
                return "mmc";
        if (strstr(devpath, "/ata") && path_has_component(devpath, "target"))
                return "sata";
        if (path_has_component(devpath, "end_device-"))
                return "sas";
        if (path_has_component(devpath, "target"))
                return "scsi";
        if (path_has_component(devpath, "virtio"))
                return "virtio";
        return "unknown";
}

/* The serial in a SCSI unit serial number VPD page (0x80): 4 header bytes, then the serial. */
static char *vpd_pg80_serial(const char *devdir) {
        _cleanup_free_ char *p = path_join(devdir, "vpd_pg80");
        _cleanup_close_ int fd = -1;
        unsigned char buf[256];
        char out[256];
        size_t j = 0;

        if (!p || (fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
                return NULL;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 4 || buf[1] != 0x80)
                return NULL;
        size_t len = buf[3];
        if (len > (size_t)n - 4)
                len = (size_t)n - 4;
        for (size_t i = 4; i < 4 + len; i++)
                if (isgraph(buf[i]) || (buf[i] == ' ' && j > 0))
                        out[j++] = (char)buf[i];
        while (j > 0 && out[j - 1] == ' ')
                j--;
        out[j] = 0;
        return j > 0 ? strdup(out) : NULL;
}

/* by-id names, best first: the bus-specific names that carry model and serial, then others,
 * then the WWN/EUI names, which are stable too but tell a person nothing. */
static int by_id_rank(const char *n) {
        static const char *const good[] = {"ata-", "nvme-", "scsi-", "usb-", "virtio-", "mmc-"};
        if (has_prefix(n, "wwn-") || has_prefix(n, "nvme-eui.") || has_prefix(n, "nvme-nvme."))
                return 2;
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (has_prefix(n, good[i]))
                        return 0;
        return 1;
}

static int find_by_id(const probe_ctx *c, const char *name, char **ret) {
        _cleanup_free_ char *dir = path_join(c->dev, "disk/by-id");
        _cleanup_strv_free_ char **l = NULL;
        const char *best = NULL;
        int best_rank = INT_MAX;
        size_t n = 0;
        int r;

        if (!dir)
                return -ENOMEM;
        r = list_dir(dir, 65536, &l, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *target = NULL;
                int rank = by_id_rank(l[i]);
                /* Partition links ("...-part1") point at sda1, not sda: the target decides. */
                if (link_basename(dir, l[i], &target) < 0 || !streq(target, name))
                        continue;
                /* Same rank: the shorter name ("nvme-X_S1" over "nvme-X_S1_1"), then sorted. */
                if (!best || rank < best_rank ||
                    (rank == best_rank && strlen(l[i]) < strlen(best))) {
                        best = l[i];
                        best_rank = rank;
                }
        }
        if (!best) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        return asprintf(ret, "/dev/disk/by-id/%s", best) < 0 ? -ENOMEM : 0;
}

/* udev builds by-id names as BUS-MODEL_SERIAL[-LUN]; when sysfs has no serial, the part after
 * the last '_' is the best we have. */
static char *serial_from_by_id(const char *by_id) {
        const char *base = strrchr(by_id, '/');
        if (!base || by_id_rank(base + 1) == 2)
                return NULL;
        const char *us = strrchr(base, '_');
        if (!us || !us[1])
                return NULL;
        char *s = strdup(us + 1);
        if (s && has_prefix(base + 1, "usb-")) {
                char *lun = strrchr(s, '-'); /* "-0:0" */
                if (lun && strchr(lun, ':'))
                        *lun = 0;
        }
        return s;
}

/* Adds every signature blkid knows in [offset, offset+size) of fd, like wipefs lists them (also
 * stale ones behind a newer one, and superblocks with bad checksums: data all the same).
 * File system labels and md array names go to labels. */
static int probe_signatures(int fd, uint64_t offset, uint64_t size, bool tables, lf_inv_disk *d) {
        _cleanup_blkid_probe_ blkid_probe pr = blkid_new_probe();
        const char *v;
        int r;

        if (!pr)
                return -ENOMEM;
        if (blkid_probe_set_device(pr, fd, (blkid_loff_t)offset, (blkid_loff_t)size) < 0)
                return -EIO;
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL |
                                                      BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM);
        blkid_probe_enable_partitions(pr, tables);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC | BLKID_PARTS_FORCE_GPT);
        while ((r = blkid_do_probe(pr)) == 0) {
                if (blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0 ||
                    blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL) == 0) {
                        r = lf_inv_disk_add_signature(d, v);
                        if (r == -ENOMEM)
                                return r;
                }
                if (blkid_probe_lookup_value(pr, "LABEL", &v, NULL) == 0 && *v) {
                        r = lf_inv_disk_add_label(d, v);
                        if (r == -ENOMEM)
                                return r;
                }
        }
        return r < 0 ? -EIO : 0;
}

/* Signatures of the whole disk, then those inside each partition (probed at the partition's
 * offset in the same device, so disk image files work as well as block devices), with GPT
 * partition names as labels. */
static int probe_disk_contents(const probe_ctx *c, lf_inv_disk *d) {
        _cleanup_free_ char *path = path_join(c->dev, d->name);
        _cleanup_close_ int fd = -1;
        _cleanup_blkid_probe_ blkid_probe pr = NULL;
        blkid_partlist parts;
        int r;

        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                return fail_at(c, r, path, "cannot open to read its signatures: %s; %s",
                               strerror(-r),
                               geteuid() != 0 ? "run the probe as root"
                                              : "check that the device node is there and usable");
        }
        r = probe_signatures(fd, 0, 0, true, d);
        if (r == -EIO)
                return fail_at(c, r, path,
                               "libblkid cannot read the signatures on "
                               "this disk; check the disk (dmesg) or remove it");
        if (r < 0)
                return r;

        pr = blkid_new_probe();
        if (!pr)
                return -ENOMEM;
        if (blkid_probe_set_device(pr, fd, 0, 0) < 0)
                return -EIO;
        blkid_probe_enable_superblocks(pr, 0);
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS | BLKID_PARTS_FORCE_GPT);
        parts = blkid_probe_get_partitions(pr);
        int n = parts ? blkid_partlist_numof_partitions(parts) : 0;
        for (int i = 0; i < n && i < MAX_PARTITIONS; i++) {
                blkid_partition p = blkid_partlist_get_partition(parts, i);
                const char *pname = blkid_partition_get_name(p);
                if (pname && *pname && lf_inv_disk_add_label(d, pname) == -ENOMEM)
                        return -ENOMEM;
                if (blkid_partition_is_extended(p))
                        continue;
                /* blkid counts partition start and size in 512-byte sectors. */
                uint64_t start = (uint64_t)blkid_partition_get_start(p) * 512;
                uint64_t size = (uint64_t)blkid_partition_get_size(p) * 512;
                r = probe_signatures(fd, start, size, false, d);
                if (r == -EIO)
                        return fail_at(c, r, path,
                                       "libblkid cannot read partition "
                                       "%d; check the disk (dmesg) or remove it",
                                       blkid_partition_get_partno(p));
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool is_mounted(const probe_ctx *c, const char *name) {
        for (size_t i = 0; i < c->n_mounted; i++)
                if (streq(c->mounted[i], name))
                        return true;
        return false;
}

/* Whether the block device `name` (a disk, a partition, or an md/dm device stacked on one) or
 * anything holding it is mounted. dm devices are mounted by their /dev/mapper name. */
static bool in_use(const probe_ctx *c, const char *blockdir, const char *name, int depth) {
        _cleanup_strv_free_ char **holders = NULL;
        _cleanup_free_ char *hdir = path_join(blockdir, "holders");
        size_t n = 0;

        if (is_mounted(c, name))
                return true;
        if (depth >= MAX_HOLDER_DEPTH || !hdir || list_dir(hdir, 256, &holders, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                /* holders/X links to X's directory in sysfs. */
                _cleanup_free_ char *sub = path_join(hdir, holders[i]), *dmdir = NULL,
                                    *dmname = NULL;
                if (!sub)
                        return false;
                dmdir = path_join(sub, "dm");
                if (dmdir && read_attr(dmdir, "name", &dmname) == 0 && is_mounted(c, dmname))
                        return true;
                if (in_use(c, sub, holders[i], depth + 1))
                        return true;
        }
        return false;
}

static bool disk_in_use(const probe_ctx *c, const char *blockdir, const char *name) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        if (in_use(c, blockdir, name, 0))
                return true;
        if (list_dir(blockdir, 65536, &l, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *part = path_join(blockdir, l[i]);
                if (part && exists(part, "partition") && in_use(c, part, l[i], 0))
                        return true;
        }
        return false;
}

/* The devices of <proc>/mounts by kernel name: "/dev/sda1" -> "sda1"; a symlink under /dev
 * ("/dev/disk/by-uuid/...") is followed inside the dev root. */
static int read_mounts(probe_ctx *c) {
        _cleanup_free_ char *path = path_join(c->proc, "mounts");
        _cleanup_fclose_ FILE *f = NULL;
        char line[4096], src[4096];

        if (!path)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        while (fgets(line, sizeof(line), f)) {
                _cleanup_free_ char *name = NULL;
                if (sscanf(line, "%4095s", src) != 1 || !has_prefix(src, "/dev/"))
                        continue;
                const char *rel = src + 5, *slash = strrchr(rel, '/');
                _cleanup_free_ char *dir = NULL;
                if (slash && asprintf(&dir, "%s/%.*s", c->dev, (int)(slash - rel), rel) < 0)
                        return -ENOMEM;
                if (link_basename(dir ? dir : c->dev, slash ? slash + 1 : rel, &name) < 0)
                        name = strdup(slash ? slash + 1 : rel);
                if (!name)
                        return -ENOMEM;
                if (c->n_mounted >= 4096)
                        break;
                char **nl = realloc(c->mounted, (c->n_mounted + 2) * sizeof(char *));
                if (!nl)
                        return -ENOMEM;
                c->mounted = nl;
                c->mounted[c->n_mounted++] = TAKE_PTR(name);
                c->mounted[c->n_mounted] = NULL;
        }
        return 0;
}

static int probe_disk(const probe_ctx *c, const char *name, lf_inv_disk *d) {
        _cleanup_free_ char *blockdir = NULL, *devdir = NULL, *devpath = NULL;
        uint64_t v;
        int r;

        if (asprintf(&blockdir, "%s/block/%s", c->sys, name) < 0 ||
            !(devdir = path_join(blockdir, "device")) || !(devpath = device_path(c, blockdir)))
                return -ENOMEM;
        if (!(d->name = strdup(name)) || asprintf(&d->path, "/dev/%s", name) < 0)
                return -ENOMEM;
        r = read_u64(blockdir, "size", 10, &v);
        if (r < 0 || v > UINT64_MAX / 512)
                return fail_at(c, -EIO, blockdir, "cannot read the disk's size");
        d->size_bytes = v * 512;
        d->transport = strdup(transport_of(name, devpath));
        d->rotational = !streq(d->transport, "nvme") &&
                        read_u64(blockdir, "queue/rotational", 10, &v) == 0 && v == 1;
        d->removable = read_u64(blockdir, "removable", 10, &v) == 0 && v == 1;
        /* SCSI/ATA/NVMe devices name the model "model", MMC cards "name". */
        if (read_attr(devdir, "model", &d->model) < 0)
                d->model = attr_or_empty(devdir, "name");
        /* NVMe and MMC put the serial on the device, virtio-blk on the block device, SCSI and
         * ATA (through libata's translation) in VPD page 0x80. */
        if (read_attr(devdir, "serial", &d->serial) < 0 || !*d->serial) {
                free(d->serial);
                d->serial = NULL;
                if (read_attr(blockdir, "serial", &d->serial) < 0 || !*d->serial) {
                        free(d->serial);
                        d->serial = vpd_pg80_serial(devdir);
                }
        }
        r = find_by_id(c, name, &d->by_id);
        if (r < 0)
                return r;
        if (!d->serial)
                d->serial = serial_from_by_id(d->by_id);
        if (!d->serial)
                d->serial = strdup("");
        if (!d->transport || !d->model || !d->serial)
                return -ENOMEM;
        d->boot_medium = disk_in_use(c, blockdir, name);
        return probe_disk_contents(c, d);
}

/* Lists <sys>/REL (sorted) and allocates one `size`-byte entry per name in *ret_items, which the
 * caller fills from the front. */
static int list_entries(const probe_ctx *c, const char *rel, const char *what, size_t size,
                        char **ret_dir, char ***ret_names, size_t *ret_n, void **ret_items) {
        _cleanup_free_ char *dir = path_join(c->sys, rel);
        int r;

        if (!dir)
                return -ENOMEM;
        r = list_dir(dir, 65536, ret_names, ret_n);
        if (r < 0)
                return fail_at(c, r, dir, "cannot list %s: %s", what, strerror(-r));
        *ret_items = calloc(*ret_n ? *ret_n : 1, size);
        if (!*ret_items)
                return -ENOMEM;
        *ret_dir = TAKE_PTR(dir);
        return 0;
}

static int probe_disks(const probe_ctx *c, lf_inventory *inv) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        uint64_t size;
        int r;

        r = list_entries(c, "block", "block devices", sizeof(lf_inv_disk), &dir, &l, &n,
                         (void **)&inv->disks);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *bd = path_join(dir, l[i]);
                if (!bd)
                        return -ENOMEM;
                /* An empty card reader or tray reports size 0: no medium, nothing to plan on. */
                if (skip_block_device(l[i]) || exists(bd, "partition") ||
                    read_u64(bd, "size", 10, &size) < 0 || size == 0)
                        continue;
                if (inv->n_disks >= LF_INVENTORY_MAX_DISKS)
                        return fail_at(c, -E2BIG, dir,
                                       "more than %d disks; labforge "
                                       "supports at most that many per machine",
                                       LF_INVENTORY_MAX_DISKS);
                /* Count the entry first so that a half-probed disk is freed with inv. */
                r = probe_disk(c, l[i], &inv->disks[inv->n_disks++]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int probe_nics(const probe_ctx *c, lf_inventory *inv) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        int r;

        r = list_entries(c, "class/net", "network interfaces", sizeof(lf_inv_nic), &dir, &l, &n,
                         (void **)&inv->nics);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *nd = path_join(dir, l[i]), *addr = NULL, *devdir = NULL;
                char mac[LF_MAC_STR_LEN + 1];
                uint64_t v;

                if (!nd || !(devdir = path_join(nd, "device")))
                        return -ENOMEM;
                /* Bridges, bonds, veths and lo have no device: they are not hardware. */
                if (streq(l[i], "lo") || !exists(nd, "device"))
                        continue;
                /* A bond member shows the bond's MAC; its own is kept as perm_hwaddr. */
                if (read_attr(nd, "bonding_slave/perm_hwaddr", &addr) < 0 &&
                    read_attr(nd, "address", &addr) < 0)
                        continue;
                if (lf_mac_parse(addr, mac) < 0)
                        continue; /* not Ethernet (InfiniBand, CAN, ...) */
                if (inv->n_nics >= LF_INVENTORY_MAX_NICS)
                        return fail_at(c, -E2BIG, dir,
                                       "more than %d network interfaces; "
                                       "labforge supports at most that many per machine",
                                       LF_INVENTORY_MAX_NICS);
                lf_inv_nic *nic = &inv->nics[inv->n_nics++];
                nic->name = strdup(l[i]);
                nic->mac = strdup(mac);
                /* "speed" is unreadable while the link is down and -1 on some drivers. */
                _cleanup_free_ char *speed = NULL;
                char *end;
                nic->speed_mbps = -1;
                if (read_attr(nd, "speed", &speed) == 0) {
                        long long s = strtoll(speed, &end, 10);
                        if (end != speed && !*end && s > 0 && s <= 10000000)
                                nic->speed_mbps = s;
                }
                if (link_basename(devdir, "driver", &nic->driver) < 0)
                        nic->driver = strdup("");
                nic->link = read_u64(nd, "carrier", 10, &v) == 0 && v == 1;
                if (!nic->name || !nic->mac || !nic->driver)
                        return -ENOMEM;
        }
        return 0;
}

/* Counts the CPUs in a kernel CPU list ("0-3,6,8-11"). */
static int count_cpu_list(const char *s, unsigned *ret) {
        unsigned total = 0;
        char *end;

        while (*s) {
                unsigned long a = strtoul(s, &end, 10), b = a;
                if (end == s)
                        return -EINVAL;
                s = end;
                if (*s == '-') {
                        b = strtoul(++s, &end, 10);
                        if (end == s || b < a)
                                return -EINVAL;
                        s = end;
                }
                if (b - a >= 1000000 || total > 1000000)
                        return -EINVAL;
                total += (unsigned)(b - a + 1);
                if (*s == ',')
                        s++;
                else if (*s)
                        return -EINVAL;
        }
        if (total == 0)
                return -EINVAL;
        *ret = total;
        return 0;
}

/* Memory from the memory blocks (what is installed and online, in whole blocks), else from
 * MemTotal, which is a little less than installed (the kernel keeps some). */
static int probe_memory(const probe_ctx *c, uint64_t *ret_mb) {
        _cleanup_free_ char *dir = path_join(c->sys, "devices/system/memory"), *mi = NULL;
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        uint64_t block = 0, total = 0, v;
        size_t n = 0;
        char line[256];

        if (!dir || !(mi = path_join(c->proc, "meminfo")))
                return -ENOMEM;
        if (read_u64(dir, "block_size_bytes", 16, &block) == 0 && block > 0 &&
            list_dir(dir, 1 << 20, &l, &n) == 0) {
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *b = NULL;
                        if (!has_prefix(l[i], "memory") || !isdigit((unsigned char)l[i][6]))
                                continue;
                        if (!(b = path_join(dir, l[i])))
                                return -ENOMEM;
                        if (read_u64(b, "online", 10, &v) == 0 && v == 1)
                                total += block;
                }
                if (total > 0) {
                        *ret_mb = total / (1024 * 1024);
                        return 0;
                }
        }
        f = fopen(mi, "re");
        while (f && fgets(line, sizeof(line), f)) {
                unsigned long long kb;
                if (sscanf(line, "MemTotal: %llu kB", &kb) == 1 && kb >= 1024) {
                        *ret_mb = kb / 1024;
                        return 0;
                }
        }
        return fail_at(c, -ENOENT, dir,
                       "cannot tell the memory size: no online memory "
                       "blocks here and no MemTotal in %s",
                       mi);
}

static int probe_machine(const probe_ctx *c, lf_inventory *inv) {
        _cleanup_free_ char *dmi = path_join(c->sys, "class/dmi/id"),
                            *cpu = path_join(c->sys, "devices/system/cpu"), *online = NULL;
        int r;

        if (!dmi || !cpu)
                return -ENOMEM;
        inv->vendor = attr_or_empty(dmi, "sys_vendor");
        inv->product = attr_or_empty(dmi, "product_name");
        inv->serial = attr_or_empty(dmi, "product_serial"); /* readable by root only */
        inv->firmware = strdup(exists(c->sys, "firmware/efi") ? "uefi" : "bios");
        if (!inv->vendor || !inv->product || !inv->serial || !inv->firmware)
                return -ENOMEM;
        if (read_attr(cpu, "online", &online) < 0 || count_cpu_list(online, &inv->cpus) < 0)
                return fail_at(c, -EINVAL, cpu,
                               "cannot count the CPUs: \"online\" is "
                               "missing or not a CPU list");
        r = probe_memory(c, &inv->mem_mb);
        return r;
}

int lf_probe(const lf_probe_options *opts, lf_diag *diag, lf_inventory **ret) {
        static const lf_probe_options defaults = {};
        _cleanup_inventory_ lf_inventory *inv = NULL;
        _cleanup_free_ char *proc = NULL, *sys_real = NULL;
        probe_ctx c = {.diag = diag};
        int r;

        if (!opts)
                opts = &defaults;
        c.sys = opts->sysfs_root ? opts->sysfs_root : "/sys";
        c.dev = opts->dev_root ? opts->dev_root : "/dev";
        if (opts->proc_root)
                c.proc = opts->proc_root;
        else {
                /* The "proc" beside the sysfs root: "/sys" -> "/proc", "T/sys" -> "T/proc". */
                const char *slash = strrchr(c.sys, '/');
                int len = slash ? (int)(slash - c.sys) : 0;
                if (asprintf(&proc, "%.*s%sproc", len, c.sys, slash ? "/" : "") < 0)
                        return -ENOMEM;
                c.proc = proc;
        }
        sys_real = realpath(c.sys, NULL);
        if (!sys_real)
                return fail_at(&c, -ENOENT, c.sys, "not a sysfs tree: %s", strerror(errno));
        c.sys_real = sys_real;
        inv = calloc(1, sizeof(*inv));
        if (!inv)
                return -ENOMEM;
        r = read_mounts(&c);
        if (r >= 0)
                r = probe_machine(&c, inv);
        if (r >= 0)
                r = probe_disks(&c, inv);
        if (r >= 0)
                r = probe_nics(&c, inv);
        strv_free(c.mounted);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(inv);
        return 0;
}

static void probe_usage(FILE *f) {
        fputs("usage: labforge-install probe [--sysfs-root DIR] [--dev-root DIR] [--proc-root "
              "DIR]\n"
              "                              [--format json|text]\n"
              "\n"
              "Prints this machine's hardware inventory: disks (with the signatures on them),\n"
              "NICs, CPUs, memory, firmware. Writes nothing to any disk.\n"
              "\n"
              "  --sysfs-root DIR  read sysfs from DIR (default /sys)\n"
              "  --dev-root DIR    open disks as DIR/<name>, by-id links in DIR/disk/by-id\n"
              "                    (default /dev)\n"
              "  --proc-root DIR   read DIR/mounts to find the boot medium (default: the\n"
              "                    \"proc\" directory beside the sysfs root, /proc for /sys)\n"
              "  --format FORMAT   json (default, DESIGN 5.2) or text (tables for people)\n",
              f);
}

int verb_probe(int argc, char **argv) {
        static const struct option options[] = {
                {"sysfs-root", required_argument, NULL, 's'},
                {"dev-root", required_argument, NULL, 'd'},
                {"proc-root", required_argument, NULL, 'p'},
                {"format", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        lf_probe_options opts = {};
        _cleanup_inventory_ lf_inventory *inv = NULL;
        _cleanup_json_ json_object *obj = NULL;
        _cleanup_free_ char *out = NULL;
        lf_diag diag = {};
        bool text = false;
        int c, r;

        opterr = 0;
        optind = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        opts.sysfs_root = optarg;
                        break;
                case 'd':
                        opts.dev_root = optarg;
                        break;
                case 'p':
                        opts.proc_root = optarg;
                        break;
                case 'f':
                        if (!streq(optarg, "json") && !streq(optarg, "text")) {
                                log_error("probe: --format must be json or text, not '%s'.",
                                          optarg);
                                return 2;
                        }
                        text = streq(optarg, "text");
                        break;
                case 'h':
                        probe_usage(stdout);
                        return 0;
                case ':':
                        log_error("probe: option '%s' needs a value; see "
                                  "'labforge-install probe --help'.",
                                  argv[optind - 1]);
                        return 2;
                default:
                        log_error("probe: unknown option '%s'; see "
                                  "'labforge-install probe --help'.",
                                  argv[optind - 1]);
                        return 2;
                }
        }
        if (optind < argc) {
                log_error("probe: unexpected argument '%s'; see 'labforge-install probe --help'.",
                          argv[optind]);
                return 2;
        }

        r = lf_probe(&opts, &diag, &inv);
        if (r < 0) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                if (r == -ENOMEM)
                        log_oom();
                else
                        log_error("probe: cannot take the inventory of this machine.");
                return 1;
        }
        if (text)
                out = lf_inventory_to_text(inv);
        else if (lf_inventory_to_json(inv, &obj) >= 0)
                out = lf_json_to_string(obj);
        if (!out) {
                log_oom();
                return 1;
        }
        if (fputs(out, stdout) < 0 || fflush(stdout) != 0) {
                log_error_errno(-errno, "probe: cannot write the inventory: %m");
                return 1;
        }
        return 0;
}

int lf_probe_disk_modules(const lf_probe_options *opts, const char *disk, char ***l, size_t *n) {
        const char *sys = opts && opts->sysfs_root ? opts->sysfs_root : "/sys";
        _cleanup_free_ char *link = NULL, *root = NULL;
        char dev[PATH_MAX];
        int r;

        if (strchr(disk, '/') || asprintf(&link, "%s/block/%s/device", sys, disk) < 0 ||
            asprintf(&root, "%s/devices", sys) < 0)
                return strchr(disk, '/') ? -EINVAL : -ENOMEM;
        if (!realpath(link, dev))
                return -errno;
        _cleanup_free_ char *top = realpath(root, NULL);
        if (!top)
                return -errno;
        /* Up to (not into) <sys>/devices: each level's driver/module names its module. */
        for (size_t len = strlen(dev); len > strlen(top) && strncmp(dev, top, strlen(top)) == 0;) {
                _cleanup_free_ char *drv = path_join(dev, "driver"), *mod = NULL;
                if (!drv)
                        return -ENOMEM;
                r = link_basename(drv, "module", &mod);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0) {
                        bool seen = false;
                        for (size_t i = 0; i < *n && !seen; i++)
                                seen = streq((*l)[i], mod);
                        if (!seen && (r = lf_plan_strv_add(l, n, mod)) < 0)
                                return r;
                }
                char *slash = strrchr(dev, '/');
                if (!slash)
                        break;
                *slash = '\0';
                len = (size_t)(slash - dev);
        }
        return 0;
}

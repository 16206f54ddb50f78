/* The install plan (DESIGN §5.3): what the planner decided for one node, as data, as JSON (the
 * installer reads it back) and as the text an admin reads before saying yes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "macro.h"

struct json_object;

/* Longest list (disks, partitions, warnings, ...) and string a plan read from JSON may hold. */
#define LF_PLAN_MAX_ITEMS 4096
#define LF_PLAN_MAX_STRING 4096

/* A disk the plan repartitions. Every one of them loses what is on it. */
typedef struct lf_plan_disk {
        char *name; /* "sda" */
        char *id; /* the stable path the installer opens: by_id, else path */
        char *path;
        char *by_id; /* "" when the probe found none */
        char *model;
        char *serial;
        char *transport;
        uint64_t size_bytes;
        char *disk_class; /* "fast" (SSD) or "bulk" (HDD) */
        char *layout; /* "boot" (BIOS boot, ESP, root, rest to its class) or "data" (whole) */
        char *wipe; /* why erasing is allowed: "blank" (no signature), "rebuild" (this node's
                       own labforge layout), "policy-all", "policy-listed" */
        char **erase; /* signatures on it now, all erased; NULL-terminated */
        size_t n_erase;
} lf_plan_disk;

typedef struct lf_plan_partition {
        char *disk; /* disk name */
        uint64_t number; /* 1-based GPT partition number */
        char *device; /* "/dev/sda1", "/dev/nvme0n1p1" */
        char *name; /* GPT partition name "lf:<node>:<use>" */
        char *use; /* "bios", "esp", "root", "fast", "bulk" */
        char *type; /* "bios-boot", "esp", "linux", "linux-raid", "linux-lvm" */
        uint64_t start_bytes, size_bytes; /* multiples of 1 MiB */
} lf_plan_partition;

typedef struct lf_plan_array {
        char *name; /* "fast" or "bulk" */
        char *device; /* "/dev/md/fast" */
        char *level; /* "raid0" */
        char *metadata; /* "1.2" */
        uint64_t chunk_kib;
        char **members; /* partition devices; NULL-terminated */
        size_t n_members;
        uint64_t size_bytes; /* sum of members (md metadata takes a little of it) */
} lf_plan_array;

typedef struct lf_plan_pv {
        char *device; /* "/dev/md/fast" or a partition */
        char *tag; /* "fast" or "bulk" */
        uint64_t size_bytes;
        uint64_t free_bytes; /* left after the plan's LVs */
} lf_plan_pv;

typedef struct lf_plan_vg {
        char *name; /* "labvg" */
        lf_plan_pv *pvs;
        size_t n_pvs;
        uint64_t size_bytes;
        char *snapshot_pv; /* tag of the PV whose free space takes per-VM snapshots, or NULL */
        uint64_t snapshot_bytes; /* that free space */
} lf_plan_vg;

typedef struct lf_plan_lv {
        char *name;
        char *vg;
        char *pv; /* tag of the PV it must live on */
        char *extents; /* lvcreate -l value relative to that PV ("50%PVS"), or NULL: size_bytes
                          is exact */
        uint64_t size_bytes;
        char *purpose;
} lf_plan_lv;

typedef struct lf_plan_fs {
        char *device;
        char *type; /* "ext4", "vfat" */
        char *mountpoint;
        char *options;
} lf_plan_fs;

typedef struct lf_plan_export {
        char *path;
        char *clients; /* subnet, "10.10.0.0/16" */
        char *options;
} lf_plan_export;

typedef struct lf_plan_mount {
        char *source; /* "10.10.0.0:/srv/labforge/vms" */
        char *target;
        char *type; /* "nfs4" */
        char *options;
        char *server; /* node name of the storage node */
} lf_plan_mount;

typedef struct lf_plan_nic_ref {
        char *interface;
        char *mac;
        int64_t speed_mbps; /* -1 when unknown */
} lf_plan_nic_ref;

typedef struct lf_plan_bond {
        char *mode; /* "802.3ad" or "active-backup" */
        uint64_t miimon;
        lf_plan_nic_ref *members;
        size_t n_members;
} lf_plan_bond;

typedef struct lf_plan_peer {
        char *node;
        char *address;
} lf_plan_peer;

typedef struct lf_plan_net {
        char *interface;
        char *kind; /* "management", "storage-link" or "bond" */
        char *mac;
        int64_t speed_mbps; /* -1 when unknown or a bond */
        bool dhcp;
        char **addresses; /* CIDR form; NULL-terminated */
        size_t n_addresses;
        char *gateway; /* or NULL */
        uint64_t mtu; /* 0: leave the default */
        lf_plan_peer *peer; /* storage links: the other end; else NULL */
        lf_plan_bond *bond; /* bonds; else NULL */
} lf_plan_net;

typedef struct lf_plan_sysctl {
        char *name;
        char *value;
        char *source; /* where the value comes from, for the admin */
} lf_plan_sysctl;

typedef struct lf_plan_skipped {
        char *name;
        char *path;
        char *by_id;
        char *model;
        char *serial;
        char *transport;
        uint64_t size_bytes;
        char *reason;
} lf_plan_skipped;

typedef struct lf_plan {
        char *node;
        char *role; /* "storage", "login+storage", ... */
        lf_plan_disk *disks;
        size_t n_disks;
        lf_plan_partition *partitions;
        size_t n_partitions;
        lf_plan_array *arrays;
        size_t n_arrays;
        lf_plan_vg *volume_groups;
        size_t n_volume_groups;
        lf_plan_lv *logical_volumes;
        size_t n_logical_volumes;
        lf_plan_fs *filesystems;
        size_t n_filesystems;
        lf_plan_export *exports;
        size_t n_exports;
        lf_plan_mount *mounts;
        size_t n_mounts;
        lf_plan_net *network;
        size_t n_network;
        lf_plan_sysctl *sysctl;
        size_t n_sysctl;
        char **warnings; /* NULL-terminated */
        size_t n_warnings;
        lf_plan_skipped *skipped_disks;
        size_t n_skipped_disks;
} lf_plan;

void lf_plan_free(lf_plan *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_plan *, lf_plan_free);
#define _cleanup_plan_ _cleanup_(lf_plan_freep)

/* The JSON form, keys in the order of DESIGN §5.3 (node, role, disks, partitions, arrays,
 * volume_groups, logical_volumes, filesystems, exports, mounts, network, sysctl, warnings,
 * skipped_disks). Same plan, same bytes (with lf_json_to_string). */
int lf_plan_to_json(const lf_plan *p, struct json_object **ret);
/* Reads a plan back; every problem is added to diag naming file and field
 * ("plan.json: disks[0].size_bytes: expected an integer, got a string"), -EINVAL returned. */
int lf_plan_from_json(const char *file, struct json_object *obj, lf_diag *diag, lf_plan **ret);
int lf_plan_load(const char *path, lf_diag *diag, lf_plan **ret);
/* Same, from a buffer (a plan fetched over HTTP); `name` stands for the file in messages. */
int lf_plan_load_buffer(const char *name, const char *buf, size_t len, lf_diag *diag,
                        lf_plan **ret);
/* The text an admin reads before saying yes, as a malloc'ed string. */
int lf_plan_to_text(const lf_plan *p, char **ret);

/* A name that stays with a disk from one boot to the next, unlike the kernel's "sda" (disks
 * are probed in parallel, so two alike disks can swap names): its by-id path, else
 * "<model>_<serial>" (blanks as "_", as udev does) when it has a serial, else its kernel name.
 * The installer runs without udev, so its inventories have no by-id paths. Returns by_id, name
 * or buf (which the name fits in, truncated if it must). */
#define LF_DISK_STABLE_NAME_MAX 256
const char *lf_disk_stable_name(const char *by_id, const char *model, const char *serial,
                                const char *name, char buf[static LF_DISK_STABLE_NAME_MAX]);

/* GPT partition type GUID for a partition "type" of the plan, NULL when unknown. */
const char *lf_plan_part_type_guid(const char *type);

/* Building helpers for the planner: append one zeroed element to *array (of *n elements of
 * `size` bytes) and return it, NULL on ENOMEM or past LF_PLAN_MAX_ITEMS. */
void *lf_plan_grow(void *array, size_t *n, size_t size);
/* Append a copy of s to a NULL-terminated string list. */
int lf_plan_strv_add(char ***l, size_t *n, const char *s);
int lf_plan_add_warning(lf_plan *p, const char *fmt, ...) _printf_(2, 3);

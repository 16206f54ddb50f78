/* labforged's storage runtime on the storage node (DESIGN §7): each VM's disk is an LVM
 * snapshot of the golden origin LV (labvg/vmbase on the fast array, its file system at
 * /srv/labforge/base holding one image file per template) with its copy-on-write space on the
 * bulk array, mounted at /srv/labforge/vms/<vm> and exported over NFS to the KVM hosts (the
 * storage-link subnet, else the management subnet) with an fsid of its own (every snapshot
 * has the origin's file-system UUID). Reset drops the snapshot and makes a new one: seconds,
 * whatever the image size. Every tool runs through the command runner. */
#pragma once

#include "daemon.h"
#include "manifest.h"
#include "msg.h"

#define LF_STORAGE_VG "labvg"
#define LF_STORAGE_ORIGIN "vmbase"
#define LF_STORAGE_BASE_DIR "/srv/labforge/base"
#define LF_STORAGE_BULK_TAG "bulk"
/* Copy-on-write space of a VM's snapshot: its image's size plus a tenth, at least this. */
#define LF_STORAGE_MIN_COW_MB 256

extern const lf_role_subsystem lf_storage_subsystem;

typedef struct lf_storage_paths {
        const char *base_dir; /* NULL: LF_STORAGE_BASE_DIR */
        const char *vm_dir;   /* NULL: LF_VIRT_STORE_DIR */
        const char *mounts;   /* NULL: /proc/self/mounts */
} lf_storage_paths;

/* Carries out disk_create, disk_reset or disk_delete for vm (the template is needed to create
 * and reset). Idempotent: what is already there is kept (create) or skipped (delete). Problems
 * go to diag as "<vm>: what failed: the tool's message". */
int lf_storage_disk(const lf_manifest *m, const lf_storage_paths *paths, lf_msg_action action,
                    const char *vm, const lf_template *t, lf_diag *diag);
/* `labforged --disk ACTION VM [TEMPLATE]` on the storage node: the leader's disk command by
 * hand (repairs, checks), with the node's node.conf and manifest from config_dir. Returns the
 * exit status: 0, 2 for bad input, 1 when a tool failed. */
int lf_storage_cli(const char *config_dir, const char *action, const char *vm,
                   const char *template);

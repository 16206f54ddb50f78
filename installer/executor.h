/* The plan executor (DESIGN §5.3, §8.3): turns a node's plan into partitions, md RAID0 arrays,
 * LVM, file systems mounted under the target, then the installed system's configuration. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "inventory.h"
#include "macro.h"
#include "plan.h"
#include "progress.h"

#define LF_EXEC_TARGET "/target"
/* The journal of finished steps, on the target's root file system (see below). A finished
 * install removes it. */
#define LF_EXEC_JOURNAL "/etc/labforge/install.journal" /* /etc is always on root */

/* Steps each call reports to its lf_progress (the caller adds them to its total). */
#define LF_EXEC_PREPARE_STEPS 7
#define LF_EXEC_CONFIGURE_STEPS 4

/* Journal step names the caller may test and mark around its own work (image extraction). */
#define LF_EXEC_STEP_DISKS "disks"     /* prepare_disks finished: layout made, mounted */
#define LF_EXEC_STEP_EXTRACT "extract" /* the caller's: role image extracted into the target */
#define LF_EXEC_STEP_INITRAMFS "initramfs"
#define LF_EXEC_STEP_BOOTLOADER "bootloader"

typedef struct lf_exec_opts {
        const char *target;    /* NULL: LF_EXEC_TARGET */
        const char *proc_root; /* NULL: "/proc"; mdstat and mounts are read there */
        const char *dev_root;  /* NULL: "/dev"; /dev/md/NAME links are resolved there */
        /* SHA-256 of the role image about to be extracted, or NULL. It is part of the journal's
         * key with the plan's SHA-256, so a rerun with another image extracts again. */
        const char *image_sha256;
        /* This machine as probed in this boot (lf_probe), or NULL. Kernel names of disks can
         * change between boots; with it, every plan disk must be found under its name with the
         * plan's serial, by-id path and size, else prepare refuses (-ESTALE) and the caller
         * plans again. Without it only sizes (and by-id links, where udev made them) are
         * compared. */
        const lf_inventory *inventory;
} lf_exec_opts;

/* What /etc/labforge/node.conf (DESIGN §7) needs beyond the plan. */
typedef struct lf_exec_config {
        unsigned nodeid;           /* the cluster node id (lf_node.nodeid) */
        const char *manifest_path; /* lab manifest copied to /etc/labforge/lab.xml; NULL: none */
        const char *libvirt_uri;   /* NULL: "qemu:///system" */
        const char *corosync_conf; /* NULL: "/etc/corosync/corosync.conf" */
        /* The corosync key handed out by the appliance, written to /etc/corosync/authkey
         * (mode 0400); NULL: none, and node.conf names no authkey. */
        const void *authkey;
        size_t authkey_len;
        /* NULL: the management address when the plan has a static one, else left out. */
        const char *bind_address;
        /* The kernel modules of this PC's plan disks (lf_probe_disk_modules), listed for the
         * installed system's initramfs with a base set (sysconfig.h). */
        char *const *disk_modules;
        size_t n_disk_modules;
} lf_exec_config;

typedef struct lf_exec lf_exec;

/* Binds the executor to a plan (which must outlive it). Checks what the executor relies on
 * (absolute device paths, partitions on the plan's disks, array members among the plan's
 * partitions); problems go to diag and give -EINVAL. Runs nothing. */
int lf_exec_new(const lf_plan *plan, const lf_exec_opts *opts, lf_diag *diag, lf_exec **ret);
/* "plan=<SHA-256 of the plan's JSON> image=<image SHA-256 or ->": what the journal must say for
 * a rerun to resume. */
const char *lf_exec_journal_key(const lf_exec *x);
/* Frees memory only: never unmounts (lf_exec_unmount does). */
void lf_exec_free(lf_exec *x);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_exec *, lf_exec_free);
#define _cleanup_exec_ _cleanup_(lf_exec_freep)

/* Everything up to the plan's file systems mounted under the target, correct from any state the
 * disks are in (DESIGN §8.3): it looks first (/proc/mounts, /proc/mdstat, pvs, each disk's size
 * and sfdisk --json, the journal, blkid) and then acts.
 * - Resume: when every disk's partition table is exactly the plan's, the plan's root file
 *   system mounts and holds a journal with this plan's and image's key, and the disks, arrays,
 *   VG and file systems carry the GUIDs/UUIDs the journal recorded, nothing is recreated: the
 *   arrays are assembled (partial or inactive ones holding their members stopped first), the VG
 *   activated, the file systems mounted, and lf_exec_step_done() answers from the journal.
 *   Anything else (no journal, another plan or image, a UUID that changed: disks swapped or
 *   written since) means starting over. The journal only exists once the layout is complete,
 *   so an interruption before that (partitioned, half-created array, ...) starts over too.
 * - Start over: unmounts what is under the target; deactivates and removes (by UUID, so a
 *   foreign "labvg" is told apart) every VG with a PV on the plan's disks; stops every md
 *   array with a member on them (top ones first) and zeroes their members' superblocks; wipes
 *   the signatures (wipefs -a) of the disks' old partitions and of the disks; writes each GPT
 *   with sfdisk (names "lf:<node>:<use>", the plan's type GUIDs, exact starts and sizes; new
 *   partitions wiped); creates the arrays (mdadm --create --run --metadata --level --chunk
 *   --homehost=<node> --name=<class>: md names read "<node>:<class>", as the probe reports
 *   them) and wipes them, the PVs with their tags, the VG, the LVs on their PVs, the file
 *   systems (ext4 labelled "root" or the LV's name; the ESP vfat "EFI"), mounts them and writes
 *   the journal with the step "disks".
 * Never touches a device outside the plan: before every destructive command each device it
 * names is checked to be a plan disk, one of their partitions, or an array or LV built only
 * from those. Returns 0, or:
 *   -EBUSY  refused before anything was written: an array or VG spanning a plan disk and
 *           another disk, a VG with the plan's VG name wholly on other disks, a plan disk
 *           mounted outside the target (diag names each and what to do);
 *   -ESTALE a disk at the plan's path is not the plan's disk (size, by-id link): nothing
 *           written; probe and plan again;
 *   -EIO    a command failed: diag holds its command line, exit status, output, what to do;
 *   other negative errno values for local failures (-ENOMEM, writing the journal). */
int lf_exec_prepare_disks(lf_exec *x, lf_progress *p, lf_diag *diag);

/* The journal, for steps the caller runs between prepare_disks and configure_target:
 *   if (!lf_exec_step_done(x, LF_EXEC_STEP_EXTRACT)) { extract...; lf_exec_step_mark(...); }
 * Marks are appended and fsync'ed, so a power cut loses at most the step it interrupted. */
bool lf_exec_step_done(const lf_exec *x, const char *step);
int lf_exec_step_mark(lf_exec *x, const char *step, lf_diag *diag);

/* After the role image was extracted into the target: writes hostname, hosts, fstab (by UUID),
 * mdadm.conf, systemd-networkd units (and enables networkd), sysctl.d, exports, NFS mounts,
 * /etc/labforge/node.conf with lab.xml and the corosync key, GRUB's serial console
 * (/etc/default/grub.d/labforge.cfg); then, chrooted with /proc, /sys and /dev bound:
 * update-initramfs -u -k all, grub-install for BIOS (the boot disk) and UEFI (--removable
 * --no-nvram), update-grub. The initramfs and GRUB steps the journal holds are skipped. Ends
 * by removing the journal (a finished install leaves none, so a later rebuild starts over) and
 * lf_exec_unmount(). The role image must hold systemd (networkd), initramfs-tools, mdadm,
 * lvm2, grub-pc-bin, grub-efi-amd64-bin and grub2-common. Errors as for prepare (-EIO). */
int lf_exec_configure_target(lf_exec *x, const lf_exec_config *cfg, lf_progress *p, lf_diag *diag);

/* Unmounts everything under the target (deepest first, bind mounts included), syncs. Safe to
 * call on any error path and more than once. */
int lf_exec_unmount(lf_exec *x, lf_diag *diag);

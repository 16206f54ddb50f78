/* The installed system's configuration, derived from the plan alone (plus the UUIDs the
 * executor recorded and the cluster settings): hostname, hosts, fstab, mdadm.conf,
 * systemd-networkd units, sysctl.d, exports, node.conf, GRUB's serial console. A pure function,
 * so every file can be compared with a golden copy. */
#pragma once

#include <stddef.h>

#include "diag.h"
#include "executor.h"
#include "journal.h"
#include "macro.h"
#include "plan.h"

/* Where the copied manifest and the corosync key land in the target. */
#define LF_SYSCONFIG_MANIFEST "/etc/labforge/lab.xml"
#define LF_SYSCONFIG_AUTHKEY "/etc/corosync/authkey"

typedef struct lf_sysconfig_file {
        char *path; /* absolute, inside the target */
        char *content;
        unsigned mode;
} lf_sysconfig_file;

typedef struct lf_sysconfig {
        lf_sysconfig_file *files; /* in a fixed order */
        size_t n_files;
        char **dirs; /* directories the configuration names (exports, NFS mount points) */
        size_t n_dirs;
} lf_sysconfig;

/* layout holds what the executor recorded: "fs <device> <UUID>" for every file system of the
 * plan, "array <device> <UUID>" and "array-name <device> <md name>" for every array. A missing
 * one is reported to diag (-EINVAL): an fstab without it would not boot. */
int lf_sysconfig_build(const lf_plan *plan, const lf_journal *layout, const lf_exec_config *cfg,
                       lf_diag *diag, lf_sysconfig **ret);
void lf_sysconfig_free(lf_sysconfig *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_sysconfig *, lf_sysconfig_free);
#define _cleanup_sysconfig_ _cleanup_(lf_sysconfig_freep)

/* 1 + the number of '/'-separated components of a mount point ("/" is 0, "/boot/efi" 2): file
 * systems are mounted in increasing depth, unmounted in decreasing. */
unsigned lf_sysconfig_depth(const char *mountpoint);

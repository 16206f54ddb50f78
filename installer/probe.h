/* The hardware probe (DESIGN §5.2): disks and their signatures (sysfs + libblkid), NICs and
 * machine facts, read from a sysfs/dev/proc tree so tests can point it at captured trees. */
#pragma once

#include "diag.h"
#include "inventory.h"

typedef struct lf_probe_options {
        const char *sysfs_root; /* NULL: "/sys" */
        const char *dev_root;   /* NULL: "/dev"; disks are opened as <dev-root>/<name> */
        /* NULL: the "proc" directory beside sysfs_root ("/proc" for "/sys", "T/proc" for
         * "T/sys"); <proc>/mounts tells which disk holds a mounted file system. */
        const char *proc_root;
} lf_probe_options;

/* Probes the machine. Disks come sorted by name, NICs too. A disk whose signatures cannot be
 * read (not root, I/O error) fails the probe: reporting it without them could let the planner
 * erase data. Problems are added to diag; returns 0 or a negative errno. */
int lf_probe(const lf_probe_options *opts, lf_diag *diag, lf_inventory **ret);

/* The kernel modules that drive a disk ("sda", "nvme0n1"): from the disk's device up through
 * its parents (SCSI disk, host adapter, PCI function), the module of each bound driver
 * ("sd_mod", "virtio_scsi", "virtio_pci"), each once, built-in drivers left out. Added to
 * *l (*n entries, NULL-terminated). -ENOENT when <sysfs>/block/<disk>/device is missing. */
int lf_probe_disk_modules(const lf_probe_options *opts, const char *disk, char ***l, size_t *n);

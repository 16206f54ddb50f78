/* The hardware inventory (DESIGN §5.2): what the probe found on one PC. Read from and written
 * to JSON; the probe fills it, the planner reads it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "macro.h"

struct json_object;

#define LF_INVENTORY_MAX_DISKS 256
#define LF_INVENTORY_MAX_NICS 256
#define LF_INVENTORY_MAX_SIGNATURES 32
#define LF_INVENTORY_MAX_LABELS 256
/* Longest string value (names, paths, models, serials, labels) in bytes. */
#define LF_INVENTORY_MAX_STRING 1024

typedef struct lf_inv_disk {
        char *name; /* "sda", "nvme0n1" */
        char *path; /* "/dev/sda" */
        char *by_id; /* stable path, "/dev/disk/by-id/ata-X_123"; "" when none */
        uint64_t size_bytes;
        bool rotational;
        bool removable;
        char *transport; /* sata, sas, nvme, usb, virtio, scsi, mmc, unknown */
        char *model;
        char *serial;
        char **signatures; /* libblkid names: "gpt", "dos", "linux_raid_member", "LVM2_member",
                              "ext4", "vfat", ...; NULL-terminated, maybe empty */
        size_t n_signatures;
        char **labels; /* optional key "labels": GPT partition names, file system labels and md
                          array names found on the disk (how the planner recognises a layout
                          labforge installed: partition names "lf:<node>:<part>"); NULL-terminated */
        size_t n_labels;
        bool boot_medium; /* optional key "boot_medium": the installer booted from it */
} lf_inv_disk;

typedef struct lf_inv_nic {
        char *name;
        char *mac; /* canonical lowercase */
        int64_t speed_mbps; /* -1 when unknown */
        char *driver;
        bool link;
} lf_inv_nic;

typedef struct lf_inventory {
        char *vendor, *product, *serial;
        unsigned cpus;
        uint64_t mem_mb;
        char *firmware; /* "uefi" or "bios" */
        lf_inv_disk *disks;
        size_t n_disks;
        lf_inv_nic *nics;
        size_t n_nics;
} lf_inventory;

/* Parses an inventory; problems are added to diag naming file and field
 * ("inv.json: disks[1].size_bytes: expected an integer, got a string"), -EINVAL returned. */
int lf_inventory_from_json(const char *file, struct json_object *obj, lf_diag *diag,
                           lf_inventory **ret);
int lf_inventory_load(const char *path, lf_diag *diag, lf_inventory **ret);
int lf_inventory_load_buffer(const char *name, const char *buf, size_t len, lf_diag *diag,
                             lf_inventory **ret);
/* The JSON form of DESIGN §5.2, keys in that order. */
int lf_inventory_to_json(const lf_inventory *inv, struct json_object **ret);
/* The readable form: machine facts, a table of disks (human sizes, SSD/HDD, transport,
 * signatures) with their stable ids, and a table of NICs. malloc'ed; NULL when out of memory. */
char *lf_inventory_to_text(const lf_inventory *inv);
void lf_inventory_free(lf_inventory *inv);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_inventory *, lf_inventory_free);
#define _cleanup_inventory_ _cleanup_(lf_inventory_freep)

/* Free the members of one disk or NIC (not the struct itself); for half-built entries. */
void lf_inv_disk_clear(lf_inv_disk *d);
void lf_inv_nic_clear(lf_inv_nic *n);

const lf_inv_disk *lf_inventory_find_disk(const lf_inventory *inv, const char *name);
bool lf_inv_disk_has_signature(const lf_inv_disk *d, const char *sig);
/* Append sig/label unless already present (order of first sight is kept). Returns 1 when added,
 * 0 when already there, -E2BIG past LF_INVENTORY_MAX_SIGNATURES/LABELS, -ENOMEM. */
int lf_inv_disk_add_signature(lf_inv_disk *d, const char *sig);
int lf_inv_disk_add_label(lf_inv_disk *d, const char *label);
/* True when s is one of sata, sas, nvme, usb, virtio, scsi, mmc, unknown. */
bool lf_transport_valid(const char *s);

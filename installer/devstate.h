/* What the kernel and the block tools say about the disks, as pure parsers of their output:
 * /proc/mdstat, /proc/mounts, `sfdisk --json`, and the KEY=VALUE lines of `blkid -o export`
 * and `mdadm --detail --export`. The executor looks with these before it acts. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "macro.h"
#include "plan.h"

/* Most lines, arrays, members, mounts or partitions one output may hold. */
#define LF_DEVSTATE_MAX_ITEMS LF_PLAN_MAX_ITEMS

/* KEY=VALUE lines. blkid's backslash escapes ("VERSION=LVM2\ 001") are undone. */
typedef struct lf_export {
        char **keys;
        char **values;
        size_t n;
} lf_export;

int lf_export_parse(const char *name, const char *buf, lf_diag *diag, lf_export **ret);
void lf_export_free(lf_export *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_export *, lf_export_free);
#define _cleanup_export_ _cleanup_(lf_export_freep)
/* The value of key, NULL when absent. */
const char *lf_export_get(const lf_export *e, const char *key);
/* The member devices of `mdadm --detail --export` (its MD_DEVICE_<dev>_DEV values), in the
 * output's order, NULL-terminated; an inactive array lists them too. */
int lf_export_md_members(const lf_export *e, char ***ret);

typedef struct lf_md_array {
        char *name;     /* kernel name, "md127" */
        bool active;    /* false: "inactive" (assembled in part, or stopped halfway) */
        char *level;    /* "raid0"; NULL when inactive */
        char **members; /* kernel names ("sda4"), NULL-terminated */
        size_t n_members;
} lf_md_array;

typedef struct lf_mdstat {
        lf_md_array *arrays;
        size_t n_arrays;
} lf_mdstat;

int lf_mdstat_parse(const char *name, const char *buf, lf_diag *diag, lf_mdstat **ret);
void lf_mdstat_free(lf_mdstat *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_mdstat *, lf_mdstat_free);
#define _cleanup_mdstat_ _cleanup_(lf_mdstat_freep)

typedef struct lf_mount {
        char *source;
        char *target; /* octal escapes ("\040") undone */
        char *type;
        char *options;
} lf_mount;

typedef struct lf_mounts {
        lf_mount *mounts; /* in the kernel's order: a mount comes after what it is mounted on */
        size_t n;
} lf_mounts;

int lf_mounts_parse(const char *name, const char *buf, lf_diag *diag, lf_mounts **ret);
void lf_mounts_free(lf_mounts *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_mounts *, lf_mounts_free);
#define _cleanup_mounts_ _cleanup_(lf_mounts_freep)

typedef struct lf_part {
        char *node;           /* "/dev/sda1" */
        uint64_t start, size; /* in sectors of the table's sector size */
        char *type;           /* GPT type GUID, upper case as sfdisk prints it */
        char *uuid;           /* "" when none */
        char *name;           /* GPT partition name, "" when none */
} lf_part;

typedef struct lf_part_table {
        char *label; /* "gpt", "dos", ... */
        char *id;    /* disk GUID (GPT) or "0x..." (dos) */
        uint64_t sector_size;
        lf_part *parts;
        size_t n_parts;
} lf_part_table;

/* `sfdisk --json DISK` (util-linux 2.38). A table without "sectorsize" (older sfdisk) is taken
 * as 512-byte sectors. */
int lf_sfdisk_parse(const char *name, const char *buf, size_t len, lf_diag *diag,
                    lf_part_table **ret);
void lf_part_table_free(lf_part_table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_part_table *, lf_part_table_free);
#define _cleanup_part_table_ _cleanup_(lf_part_table_freep)

/* LVM's JSON reports (`pvs|vgs|lvs --reportformat json`) as rows of field -> value strings:
 * what the installer checks before and after it builds a volume group, and what the daemon's
 * storage runtime reads about origins and snapshots. A pure parser: no tool is run here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "macro.h"

/* Most rows and fields per row one report may hold; a bigger one is refused. */
#define LF_LVM_MAX_ROWS 65536
#define LF_LVM_MAX_FIELDS 256

typedef struct lf_lvm_row {
        char **fields;
        char **values; /* parallel to fields; JSON null and numbers come as strings ("" for
                          null) */
        size_t n;
} lf_lvm_row;

typedef struct lf_lvm_report {
        lf_lvm_row *rows;
        size_t n_rows;
} lf_lvm_report;

/* Parses the stdout of an LVM reporting command and keeps the rows of `section` ("pv", "vg",
 * "lv", "seg", "pvseg"); the rows of every report object holding that section are joined. A
 * report without the section has no rows. Problems are added to diag under `name` (what was
 * run, for messages) and give -EINVAL. */
int lf_lvm_report_parse(const char *name, const char *buf, size_t len, const char *section,
                        lf_diag *diag, lf_lvm_report **ret);
void lf_lvm_report_free(lf_lvm_report *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_lvm_report *, lf_lvm_report_free);
#define _cleanup_lvm_report_ _cleanup_(lf_lvm_report_freep)

/* A field's value, NULL when the row has no such field. */
const char *lf_lvm_row_get(const lf_lvm_row *r, const char *field);
/* True when a comma-separated LVM list (pv_tags "fast,bulk") holds item exactly. */
bool lf_lvm_list_has(const char *list, const char *item);
/* The device of each entry of an lvs "devices" field ("/dev/md127(0),/dev/sdb1(1200)"),
 * without the extent in parentheses, as a NULL-terminated list. -EINVAL when malformed. */
int lf_lvm_devices_split(const char *devices, char ***ret);

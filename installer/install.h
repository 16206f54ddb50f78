/* One install (DESIGN §4): settings in, a PC installed into its role out — plan, verified image,
 * disks, extraction, configuration — or, with mode=discover, only the probe. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "diag.h"
#include "fetch.h"
#include "settings.h"

typedef struct lf_install_opts {
        const lf_settings *settings; /* checked with lf_settings_check() */
        const char *target;          /* NULL: LF_EXEC_TARGET */
        const char *inventory;       /* an inventory file read instead of probing; NULL: probe */
        const char *proc_root;       /* NULL: "/proc" (meminfo, mdstat, mounts) */
        lf_fetch_mode fetch_mode;
        bool dry_run;  /* print the plan and the steps; download the image, write, run nothing */
        FILE *console; /* progress, the plan, the steps */
} lf_install_opts;

/* Runs the install. Returns 0 when done, -EINVAL when the input is wrong (manifest, plan,
 * inventory, assignment; nothing was written), another negative errno when the work failed.
 * Every problem goes to diag; *ret_reason (static text) says which stage failed and what to
 * do, for the closing "install failed" line. */
int lf_install_run(const lf_install_opts *o, lf_diag *diag, const char **ret_reason);

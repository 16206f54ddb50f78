/* The installer's settings (DESIGN §4): the labforge.* keys of the kernel command line,
 * overridden by the matching options of `labforge-install install`, and their checks. */
#pragma once

#include <stdbool.h>

#include "diag.h"

/* Longest value of one setting. */
#define LF_SETTING_MAX 4096

typedef struct lf_settings {
        char *mode; /* "install" (default) or "discover" */
        char *appliance, *token;
        char *manifest, *node, *image, *sha256, *plan;
        char *reboot; /* "1" (default) or "0" */
        /* Where each value came from, for messages: "labforge.node= (/proc/cmdline)" or
         * "--node"; same order as the values above. */
        char *origin[9];
} lf_settings;

/* The keys, in the order of the fields above, without the "labforge." prefix. */
extern const char *const lf_setting_keys[9];

/* Reads the labforge.* words of a kernel command line (file names it in messages). Other words
 * are ignored; labforge.net, .test and .shell belong to the initramfs' /init. An unknown
 * labforge.* key is reported (a misspelt key must not fall back to a default). A later word
 * overrides an earlier one, as in the kernel. */
int lf_settings_parse_cmdline(lf_settings *s, const char *cmdline, const char *file, lf_diag *diag);
/* Sets key (one of lf_setting_keys) to value; origin is how messages name it. */
int lf_settings_set(lf_settings *s, const char *key, const char *value, const char *origin);
/* Checks values and their combination: mode, reboot, sha256, URLs, the appliance mode
 * (appliance, token optional, nothing of standalone) or the standalone one (plan, or manifest +
 * node; with image + sha256 to install). Every problem goes to diag naming the key. */
int lf_settings_check(const lf_settings *s, lf_diag *diag);
bool lf_settings_discover(const lf_settings *s);
bool lf_settings_reboot(const lf_settings *s);
void lf_settings_clear(lf_settings *s);

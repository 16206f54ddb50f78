/* labforge-install's verbs; same conventions as appliance/verbs.h (exit 0, 1, or 2 for bad
 * input). */
#pragma once

/* probe [--sysfs-root DIR] [--dev-root DIR] [--proc-root DIR] [--format json|text] */
int verb_probe(int argc, char **argv);

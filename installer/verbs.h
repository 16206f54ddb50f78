/* labforge-install's verbs; same conventions as appliance/verbs.h (exit 0, 1, or 2 for bad
 * input). */
#pragma once

/* probe [--sysfs-root DIR] [--dev-root DIR] [--proc-root DIR] [--format json|text] */
int verb_probe(int argc, char **argv);
/* install [--mode M] [--appliance URL --token T] [--manifest M --node N | --plan P] [--image I
 *         --sha256 H] [--reboot 0|1] [--cmdline FILE] [--target DIR] [--inventory FILE]
 *         [--fetch-mode auto|ram|stream] [--dry-run] */
int verb_install(int argc, char **argv);
/* extract --image URL|PATH --sha256 HEX --target DIR [--fetch-mode auto|ram|stream] */
int verb_extract(int argc, char **argv);

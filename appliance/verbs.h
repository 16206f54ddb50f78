/* The labforge CLI's verbs. Each takes the arguments after the verb name (argv[0] is the verb)
 * and returns the process exit status: 0 success, 1 failure while doing the work, 2 bad
 * input or usage (with the problem reported on stderr). */
#pragma once

int verb_image(int argc, char **argv);
int verb_plan(int argc, char **argv);
int verb_schedule(int argc, char **argv);
int verb_simulate(int argc, char **argv);
int verb_validate(int argc, char **argv);

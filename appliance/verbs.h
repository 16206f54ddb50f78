/* The labforge CLI's verbs. Each takes the arguments after the verb name (argv[0] is the verb)
 * and returns the process exit status: 0 success, 1 failure while doing the work, 2 bad
 * input or usage (with the problem reported on stderr). */
#pragma once

int verb_image(int argc, char **argv);
int verb_plan(int argc, char **argv);
int verb_schedule(int argc, char **argv);
int verb_simulate(int argc, char **argv);
int verb_validate(int argc, char **argv);
/* The appliance (serve.c) and the verbs that talk to it over its admin socket (nodes.c). */
int verb_serve(int argc, char **argv);
int verb_nodes(int argc, char **argv);
int verb_assign(int argc, char **argv);
int verb_rebuild(int argc, char **argv);
int verb_logs(int argc, char **argv);
int verb_forget(int argc, char **argv);
int verb_status(int argc, char **argv);
/* Requests to the cluster's leader through a labforged (cluster.c). */
int verb_vm(int argc, char **argv);
int verb_host(int argc, char **argv);
int verb_balance(int argc, char **argv);

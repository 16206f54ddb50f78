/* What the leader does for the cluster besides planning (DESIGN §6, §7, §8.5): carries the
 * scheduler's plans and the admins' requests out as chains of commands to the nodes concerned
 * (one chain per VM or host at a time: a step is sent once the one before it succeeded),
 * confirms power actions by membership and retries them, and starts the VMs of a host that
 * left the cluster elsewhere only once that host is known off. Only the quorate leader calls
 * any of this. */
#pragma once

#include <json-c/json.h>

#include "cluster.h"
#include "daemon.h"

/* Seconds a node has to answer a command (a migration: its own limit and this). */
#define LF_LEADER_COMMAND_TIMEOUT_S 60
/* Seconds a started VM has to show in its host's report before it is placed again. */
#define LF_LEADER_START_TIMEOUT_S 180
/* Power actions: tries, and seconds each waits for membership to confirm it. */
#define LF_LEADER_POWER_TRIES 3
#define LF_LEADER_POWER_WAIT_S 300
/* Most VMs one `vm start` adds. */
#define LF_LEADER_MAX_START 200

typedef struct lf_leader lf_leader;

lf_leader *lf_leader_new(lf_daemon *d);
void lf_leader_free(lf_leader *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_leader *, lf_leader_free);

/* What lf_cluster_cycle hands its plan to. */
const lf_cluster_actions *lf_leader_actions(lf_leader *l);
/* Sends the commands that are due, fails those unanswered in time, confirms or retries power
 * actions, expires unconfirmed starts, and releases the VMs of hosts known off. */
void lf_leader_tick(lf_leader *l, int64_t now);
/* A command's result (results of other commands are ignored). */
void lf_leader_result(lf_leader *l, const lf_msg *m, int64_t now);
/* Answers an admin request that changes the cluster: {"command": "vm_start", "template",
 * "count", "prefix"}, {"command": "vm_stop"|"vm_reset"|"vm_delete", "vm"},
 * {"command": "host_maintenance", "host", "on"}, {"command": "balance", "mode", "dry_run"}.
 * The answer is {"ok": true, ...} or {"ok": false, "status": 2 (bad request) or 1, "error"}.
 * Returns 0, or -ENOMEM. */
int lf_leader_request(lf_leader *l, json_object *req, int64_t now, json_object **ret);
/* Leadership lost: forgets what is in flight (the next leader works from the cluster view). */
void lf_leader_reset(lf_leader *l);
/* {"ok": false, "status", "error"}; NULL on OOM. */
json_object *lf_leader_error(int status, const char *fmt, ...) _printf_(2, 3);

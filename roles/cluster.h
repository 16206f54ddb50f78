/* The cluster as labforged sees it (DESIGN §6, §7): the manifest's nodes as hosts with their
 * reports and states, the VMs, 1-minute samples and their 10-minute averages, all kept in
 * SQLite (<state-dir>/cluster.db). Every node records every report it receives (CPG delivers
 * them to all) and the leader's view (state messages), so whichever node becomes leader
 * continues with the history. The leader builds the scheduler's snapshot from it, runs the
 * engine and hands the plan to whoever carries it out (lf_cluster_actions). */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "manifest.h"
#include "msg.h"
#include "scheduler.h"

#define LF_CLUSTER_DB "cluster.db"
/* Memory of a VM host that VMs may not use (the host itself, QEMU's overhead), MiB. */
#define LF_CLUSTER_HOST_RESERVED_MB 1024

typedef struct lf_cluster lf_cluster;

/* What carries a plan out (the libvirt driver and power control, through commands to the
 * nodes concerned). Each returns 0 once the action is under way, or a negative errno. With a
 * NULL callback the plan is only logged, and the balancing it did is not recorded as run. */
typedef struct lf_cluster_actions {
        int (*start)(void *userdata, const char *vm, const char *host, int64_t start_at_s);
        int (*migrate)(void *userdata, const char *vm, const char *from, const char *to,
                       lf_sched_reason reason);
        int (*power_on)(void *userdata, const char *host);
        int (*power_off)(void *userdata, const char *host);
        void *userdata;
} lf_cluster_actions;

/* Opens (creating when missing) the database at db_path for the lab of m, which must outlive
 * the handle. A database of another lab, or one that cannot be read, gives an error after
 * logging why. */
int lf_cluster_open(const lf_manifest *m, const char *db_path, lf_cluster **ret);
void lf_cluster_free(lf_cluster *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_cluster *, lf_cluster_free);
#define _cleanup_cluster_ _cleanup_(lf_cluster_freep)

/* The scheduler policy of a manifest. */
void lf_cluster_policy(const lf_policy *mp, lf_sched_policy *ret);

/* Records a node's report received at `now`: its figures, a CPU sample of the host and of each
 * VM (one per sample period: a later report in the same period replaces it), and samples
 * older than twice the window are dropped. With placement, the report also decides where VMs
 * run: the VMs on that host become exactly those it lists (the leader's job). -ENOENT when the
 * sender is not a node of the manifest. */
int lf_cluster_report(lf_cluster *c, const lf_msg *report, bool placement, int64_t now);
/* The leader's reading of membership (node names of the CPG members): members are up, or in
 * maintenance when they say so; a host that was up or in maintenance and is no longer a member
 * is failed; a host never seen is off. */
int lf_cluster_membership(lf_cluster *c, const char *const *members, size_t n, int64_t now);
/* Takes the leader's view from its state message (on the other nodes). */
int lf_cluster_apply_state(lf_cluster *c, const lf_msg *state);
/* This (leader) node's view as a state message, from `node`. */
int lf_cluster_state_msg(lf_cluster *c, const char *node, int64_t now, lf_msg **ret);
/* Adds a VM of a template (NULL: none) that waits to be placed. -EEXIST when the name is
 * taken. */
int lf_cluster_add_pending(lf_cluster *c, const char *vm, const char *template, int64_t mem_mb,
                           int64_t vcpus);
/* A pending VM handed to host at `now`: "starting" on it until the host reports it (or a
 * failure or lf_cluster_expire_starting puts it back). -ENOENT when vm is not pending. */
int lf_cluster_vm_starting(lf_cluster *c, const char *vm, const char *host, int64_t now);
/* A start that failed: the VM, if still starting, waits to be placed again. */
int lf_cluster_vm_unstart(lf_cluster *c, const char *vm);
/* Starts that no report confirmed within timeout_s go back to pending (logged). */
int lf_cluster_expire_starting(lf_cluster *c, int64_t now, int64_t timeout_s);
/* One VM as the cluster knows it; -ENOENT when unknown. */
int lf_cluster_vm_get(lf_cluster *c, const char *vm, lf_msg_vm *ret);
/* A host's state as recorded (off when never seen), and setting it (the leader: a host it
 * powered off left the cluster). */
int lf_cluster_host_state(lf_cluster *c, const char *host, lf_host_state *ret);
int lf_cluster_host_set_state(lf_cluster *c, const char *host, lf_host_state state);
/* The VMs of a host known to be off wait to be placed elsewhere (stopped ones stay where
 * they were defined); returns how many. */
int lf_cluster_release_vms(lf_cluster *c, const char *host);
/* A migration of vm finished at now (the scheduler holds it there for a while). */
int lf_cluster_vm_migrated(lf_cluster *c, const char *vm, int64_t now);
/* Forgets a VM (deleted, or a pending one that is no longer wanted). */
int lf_cluster_vm_remove(lf_cluster *c, const char *vm);

/* 10-minute average (the policy's window) of a host's CPU use in percent, or of a VM's cores
 * used, over the samples of the window ending at now; 0 without samples. */
int lf_cluster_host_cpu(lf_cluster *c, const char *host, int64_t now, double *ret);
int lf_cluster_vm_cores(lf_cluster *c, const char *vm, int64_t now, double *ret);

/* The scheduler's snapshot at `now`: the VM hosts (nodes with the kvm role) that reported at
 * least once (the size of the others is unknown), with their last reported size,
 * LF_CLUSTER_HOST_RESERVED_MB reserved and their average CPU use; the VMs with
 * their average cores (pending ones without a host); the manifest's policy; the last runs. */
int lf_cluster_snapshot(lf_cluster *c, int64_t now, lf_snapshot **ret);
/* One scheduling cycle of the leader at `now`, in auto mode: plans, hands the plan to
 * `actions` (or logs it, see lf_cluster_actions), and remembers the mode and the next action
 * for status. */
int lf_cluster_cycle(lf_cluster *c, int64_t now, const lf_cluster_actions *actions);
/* `labforge balance now`: plans in `mode` at once (the modes' rate limit does not apply), gives
 * the plan as DESIGN §5.4's JSON with its explanation and, unless dry_run, carries it out
 * (-EOPNOTSUPP without actions). */
int lf_cluster_balance(lf_cluster *c, int64_t now, lf_sched_mode mode, bool dry_run,
                       const lf_cluster_actions *a, json_object **ret_plan);
/* Whether any VM waits to be placed (the leader then runs a cycle at once). */
bool lf_cluster_has_pending(lf_cluster *c);

/* DESIGN §7's status: {"node", "quorate", "leader" (null without one), "mode",
 * "next_action", "hosts": [{"name", "role", "state", "vms"}], "vms": [{"name", "host",
 * "state"}]}. */
int lf_cluster_status(lf_cluster *c, const char *node, bool quorate, const char *leader,
                      json_object **ret);

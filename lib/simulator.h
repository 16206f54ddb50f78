/* The classroom-day simulator (issue 5): replays a trace of VM starts, stops and CPU demand
 * through the scheduling engine on a simulated cluster and measures what the room would feel.
 *
 * The engine runs as the cluster daemon would run it: `auto` every decision interval and at
 * every step with VMs waiting (placement; a host woken when room is short; class hours: memory
 * and compute balance; otherwise energy). Plans take effect with delays: a migration occupies
 * its source's link for mem_mb / migration_mb_per_s + migration_overhead_s seconds (a host
 * sends one VM at a time) and keeps the VM's memory on both hosts until it ends; a powered-on
 * host is up boot_s seconds later; a powered-off host goes off once nothing is left on it or
 * leaving it; a placed VM runs from start_at_s on. Each step, every running VM asks for its
 * trace demand and each host shares its cpus fairly (max-min). The engine sees 10-minute
 * averages: a host's cpu_util of what it served (at most 100%), a VM's cpu_cores of what it
 * asked for (served plus run-queue wait, as libvirt's vcpu time and delay show); a booting
 * host is "off" and "powering_on". Deterministic: same input, same figures.
 *
 * TRACE (JSON; times in seconds after "start"):
 *   {"start": "2026-11-23T00:00:00Z",   UTC, as in snapshots
 *    "duration_s": 86400,               1 .. 31 days
 *    "step_s": 60,                      optional (60); 10 .. 600
 *    "vms": [{"name": "r1-0800-01",     snapshot name rules, unique
 *             "mem_mb": 2048, "vcpus": 2,
 *             "start_s": 28800,         asked to start; pending until placed
 *             "stop_s": 33300,          optional (runs to the end); > start_s
 *             "pinned": false,          optional; never migrated once placed
 *             "cpu": [[0, 0.8], [300, 0.2]]}]}
 *   "cpu" (optional, default idle): [at_s, cores] pairs, at_s seconds after start_s and
 *   increasing, 0 <= cores <= vcpus; each value holds until the next, 0 before the first.
 *
 * CLUSTER (JSON):
 *   {"hosts": [{"name": "kvm01", "cpus": 16, "mem_mb": 65536,
 *               "reserved_mb": 4096,    optional (0)
 *               "max_vms": 20,          optional (unlimited)
 *               "state": "up",          optional: "up" (default) or "off" at the start
 *               "boot_s": 120,          optional (120): power-on to up
 *               "idle_w": 40,           optional: watts when up and idle ...
 *               "busy_w": 140}],        ... and with every cpu busy (default idle_w)
 *    "decision_interval_s": 300,        optional (300): how often `auto` runs
 *    "migration_mb_per_s": 1024,        optional (1024)
 *    "migration_overhead_s": 5}         optional (5)
 *   Energy is reported only when every host has idle_w.
 *
 * POLICY (JSON): the "policy" object of a snapshot (DESIGN §5.4), read by
 *   lf_sched_policy_from_json(), so its keys, defaults and messages ("policy.cpu_high: ...")
 *   are the snapshot's.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "scheduler.h"

#define LF_SIM_MAX_VMS 100000   /* VMs in a trace */
#define LF_SIM_MAX_POINTS 10000 /* cpu points per VM */
#define LF_SIM_MAX_DURATION_S (31 * 86400)
#define LF_SIM_PING_PONG_S 7200 /* a move back to a host left this recently is ping-pong */

typedef struct lf_sim_host {
        lf_sched_host h; /* state: LF_HOST_UP or LF_HOST_OFF at the start; cpu_util unused */
        int64_t boot_s;
        double idle_w, busy_w; /* -1 when not given */
} lf_sim_host;

typedef struct lf_sim_cluster {
        lf_sim_host *hosts;
        size_t n_hosts;
        int64_t decision_interval_s;
        double migration_mb_per_s;
        double migration_overhead_s;
} lf_sim_cluster;

typedef struct lf_sim_point {
        int64_t at_s;
        double cores;
} lf_sim_point;

typedef struct lf_sim_vm {
        char *name;
        int64_t mem_mb, vcpus;
        int64_t start_s, stop_s; /* stop_s -1: runs to the end of the trace */
        bool pinned;
        lf_sim_point *cpu;
        size_t n_cpu;
} lf_sim_vm;

typedef struct lf_sim_trace {
        int64_t start; /* UTC seconds */
        int64_t duration_s, step_s;
        lf_sim_vm *vms;
        size_t n_vms;
} lf_sim_trace;

void lf_sim_cluster_free(lf_sim_cluster *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_sim_cluster *, lf_sim_cluster_free);
void lf_sim_trace_free(lf_sim_trace *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_sim_trace *, lf_sim_trace_free);

/* Readers: every problem goes to diag naming file and field ("day.json: vms[3].cpu[2]: ...")
 * and -EINVAL is returned with *ret untouched; -ENOMEM on OOM. Unknown keys are refused. */
int lf_sim_cluster_from_json(json_object *o, const char *file, lf_diag *diag, lf_sim_cluster **ret);
int lf_sim_cluster_load(const char *path, lf_diag *diag, lf_sim_cluster **ret);
int lf_sim_trace_from_json(json_object *o, const char *file, lf_diag *diag, lf_sim_trace **ret);
int lf_sim_trace_load(const char *path, lf_diag *diag, lf_sim_trace **ret);
/* A POLICY file (lf_sched_policy_from_json() reads a parsed one). */
int lf_sim_policy_load(const char *path, lf_diag *diag, lf_sched_policy *ret);

typedef enum lf_sim_engine {
        LF_SIM_LABFORGE, /* lf_schedule() with the policy as given */
        /* The rules as first published, for comparison only (the product never uses it):
         * placement on the up host with the fewest VMs that has the memory (ties by name; no
         * free-memory tie-break, no max_vms check); compute balance moving the lightest VMs of
         * hot hosts to hosts measured below cpu_low with no predicted-load check and no
         * margin; no anti-flap (migration_hold_s = min_interval_s = 0). Memory balance (on
         * balance_interval_s) and energy mode are lf_schedule()'s with those settings; energy
         * mode runs whenever labforge's `auto` would, so both wake hosts alike (DESIGN §1 and
         * §6 publish waking as part of energy saving: it is not what is being compared). */
        LF_SIM_PLAIN,
        _LF_SIM_ENGINE_MAX,
} lf_sim_engine;

const char *lf_sim_engine_to_string(lf_sim_engine e);
int lf_sim_engine_from_string(const char *s, lf_sim_engine *ret);

typedef struct lf_sim_metrics {
        int64_t migrations, ping_pong; /* ping-pong: moves back within LF_SIM_PING_PONG_S */
        int64_t power_on, power_off;
        double host_hours;              /* up, booting or emptying for power-off */
        double energy_kwh;              /* -1 when the cluster gives no power draw */
        double contention_vm_min;       /* VM-minutes served less than their demand */
        double unserved_core_min;       /* demand above what the hosts gave, core-minutes */
        double spread_max, spread_mean; /* max - min cpu_util of up hosts, class hours */
        int64_t vms_started;
        int64_t placement_failures; /* VMs the engine failed to place at least once */
        int64_t never_started;      /* VMs that stopped, or the trace ended, before a host */
        double boot_wait_mean_s;    /* asked start -> running (pending time + start_at_s) */
        int64_t boot_wait_max_s;
} lf_sim_metrics;

/* Runs the trace on the cluster with the policy and engine. 0, -ENOMEM, or -EINVAL when the
 * engine refuses a snapshot the simulator built (a bug). */
int lf_simulate(const lf_sim_cluster *c, const lf_sim_trace *t, const lf_sched_policy *p,
                lf_sim_engine e, lf_sim_metrics *ret);

/* Host-hours no scheduler can beat: at each step the fewest hosts whose cpus cover the total
 * demand of the VMs the trace has running (host_hours_cpu: ceil(demand / capacity), biggest
 * hosts first), and at least as many as their memory needs (host_hours). */
typedef struct lf_sim_bound {
        double host_hours, host_hours_cpu;
} lf_sim_bound;

int lf_sim_lower_bound(const lf_sim_cluster *c, const lf_sim_trace *t, lf_sim_bound *ret);

/* One run's figures for every engine asked, and the bound; ratios are derived on output. */
typedef struct lf_sim_report {
        bool ran[_LF_SIM_ENGINE_MAX];
        lf_sim_metrics m[_LF_SIM_ENGINE_MAX];
        lf_sim_bound bound;
} lf_sim_report;

int lf_sim_report_to_json(const lf_sim_report *r, json_object **ret);
/* A table, one engine per column, then the ratios; malloc'ed, NULL on OOM. */
char *lf_sim_report_to_text(const lf_sim_report *r);

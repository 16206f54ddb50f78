/* The VM scheduler (DESIGN §5.4, §6): a pure function from a cluster snapshot (hosts, VMs,
 * policy, time) to a plan of placements, migrations and power actions, with an explanation.
 * No I/O in the engine; snapshot parsing and serialisation live beside it (snapshot.c). */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "macro.h"

/* Limits on what a snapshot may hold (every size a user can influence has a limit). */
#define LF_SNAPSHOT_MAX_HOSTS 10000
#define LF_SNAPSHOT_MAX_VMS 200000
#define LF_SNAPSHOT_MAX_NAME 128 /* bytes; names are [A-Za-z0-9._:@+-] */

/* A time that is not set (no last_migrated, no last_run); times are UTC seconds since 1970. */
#define LF_TIME_NONE INT64_MIN

/* Memory of a "typical VM" when the snapshot has no VMs to take the median of (MiB). */
#define LF_SCHED_DEFAULT_VM_MB 2048

typedef enum lf_sched_mode {
        LF_SCHED_PLACE,   /* only place pending VMs */
        LF_SCHED_MEMORY,  /* + evacuate maintenance hosts, balance VM counts */
        LF_SCHED_COMPUTE, /* + evacuate, move light VMs off hot hosts */
        LF_SCHED_ENERGY,  /* + evacuate, consolidate and power off, or power on */
        LF_SCHED_AUTO,    /* class hours: memory (on its interval) and compute; else energy */
        _LF_SCHED_MODE_MAX,
} lf_sched_mode;

typedef enum lf_host_state {
        LF_HOST_UP,
        LF_HOST_OFF,
        LF_HOST_MAINTENANCE, /* evacuated, gets no new VMs */
        LF_HOST_FAILED,      /* untouched: its VMs stay until the cluster fences it */
        _LF_HOST_STATE_MAX,
} lf_host_state;

typedef struct lf_sched_host {
        char *name;
        lf_host_state state;
        int64_t cpus;
        int64_t mem_mb;
        int64_t reserved_mb; /* not for VMs; default 0 */
        int64_t max_vms;     /* -1: unlimited (key absent) */
        double cpu_util;     /* percent of all cpus, 10-minute average (at most 100) */
        /* Off, and already asked to power on (booting): its slots count as capacity on the way,
         * it gets no VMs and is not powered on again, and memory balance waits for it. JSON
         * "powering_on" (optional, default false, only with state "off"; written only when
         * true): an addition to DESIGN §5.4's snapshot. The daemon clears it once the host is
         * up, or when it gives up waiting for it (a host that never boots would hold memory
         * balance back and keep its room counted). */
        bool powering_on;
} lf_sched_host;

typedef struct lf_sched_vm {
        char *name;
        int host; /* index into lf_snapshot.hosts; -1: pending (JSON "host": null) */
        int64_t mem_mb;
        int64_t vcpus;
        /* Cores the VM asked for, 10-minute average: the cores it used plus the time its
         * vCPUs waited for a host cpu (libvirt's vcpu.N.time + vcpu.N.delay). Where its host
         * has cpu to spare that is what it used; on a saturated host it shows the demand that
         * the host's cpu_util, capped at 100%, hides. */
        double cpu_cores;
        bool pinned;
        int64_t last_migrated; /* LF_TIME_NONE when never */
} lf_sched_vm;

/* Every number of DESIGN §6; lf_sched_policy_init() sets the defaults written beside each. */
typedef struct lf_sched_policy {
        int64_t reserve_vm_slots; /* 18 */
        double cpu_high;          /* 80 (percent) */
        double cpu_low;           /* 30 */
        double cpu_margin;        /* 5: percentage points a compute move must gain ("cpu_margin") */
        int64_t boot_stagger_s;   /* 5 */
        int64_t boot_batch;       /* 1 */
        int64_t min_interval_s;   /* 1800 */
        int64_t migration_hold_s; /* 7200: a migrated VM stays put this long ("migration_hold_s") */
        lf_sched_mode balance_mode;       /* LF_SCHED_MEMORY (default) or LF_SCHED_COMPUTE */
        int64_t balance_interval_s;       /* 3600: how often auto runs memory balance */
        char class_days[32];              /* "mon-fri" as written */
        unsigned class_days_mask;         /* bit 0 Monday .. bit 6 Sunday */
        int class_from_min, class_to_min; /* 480, 1080: minutes since midnight UTC, from < to */
} lf_sched_policy;

typedef struct lf_snapshot {
        int64_t time; /* "now" for the engine */
        lf_sched_host *hosts;
        size_t n_hosts;
        lf_sched_vm *vms;
        size_t n_vms;
        lf_sched_policy policy;
        /* When each balancing mode last acted (only MEMORY, COMPUTE, ENERGY are used). */
        int64_t last_run[_LF_SCHED_MODE_MAX];
} lf_snapshot;

/* Why a VM is migrated; printed as "maintenance", "memory", "compute", "energy". */
typedef enum lf_sched_reason {
        LF_REASON_MAINTENANCE,
        LF_REASON_MEMORY,
        LF_REASON_COMPUTE,
        LF_REASON_ENERGY,
        _LF_REASON_MAX,
} lf_sched_reason;

typedef struct lf_sched_placement {
        int vm, host;
        int64_t start_at_s; /* seconds after the plan starts: boot staggering */
} lf_sched_placement;

typedef struct lf_sched_migration {
        int vm, from, to;
        lf_sched_reason reason;
} lf_sched_migration;

typedef struct lf_sched_failure {
        int vm; /* a pending VM that could not be placed, or a VM that could not be evacuated */
        char *reason;
} lf_sched_failure;

/* A plan refers to VMs and hosts by index into the snapshot it was made from. Actions are in
 * the order to carry out: migrations (evacuations first), then placements, power_off last
 * (only for hosts emptied by this plan's migrations). */
typedef struct lf_plan_sched {
        lf_sched_mode mode; /* as asked */
        unsigned acted;     /* bits 1u << LF_SCHED_MEMORY/COMPUTE/ENERGY: balancing that acted */
        lf_sched_placement *placements;
        size_t n_placements;
        lf_sched_migration *migrations;
        size_t n_migrations;
        int *power_on, *power_off; /* host indices; at most one power action per plan */
        size_t n_power_on, n_power_off;
        lf_sched_failure *failures;
        size_t n_failures;
        char **explain; /* one line per decision, in the order they were taken */
        size_t n_explain;
} lf_plan_sched;

/* Names as in JSON ("place", "up", "maintenance", ...); from_string returns -EINVAL if unknown. */
const char *lf_sched_mode_to_string(lf_sched_mode m);
int lf_sched_mode_from_string(const char *s, lf_sched_mode *ret);
const char *lf_host_state_to_string(lf_host_state s);
int lf_host_state_from_string(const char *s, lf_host_state *ret);
const char *lf_sched_reason_to_string(lf_sched_reason r);

/* --- Snapshots (snapshot.c) --- */

void lf_sched_policy_init(lf_sched_policy *p);
/* Reads a snapshot's "policy" object (also a simulator POLICY file): defaults for absent keys,
 * unknown keys refused, every problem added to diag as "FILE: policy.KEY: ..."; -EINVAL with
 * *ret untouched on any problem. */
int lf_sched_policy_from_json(json_object *o, const char *file, lf_diag *diag,
                              lf_sched_policy *ret);

/* An empty snapshot with the default policy, time 0 and no last runs; NULL on OOM. */
lf_snapshot *lf_snapshot_new(void);
void lf_snapshot_free(lf_snapshot *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_snapshot *, lf_snapshot_free);
#define _cleanup_snapshot_ _cleanup_(lf_snapshot_freep)

/* Builders for programs that make snapshots without JSON (simulator, tests): copy *h / *v
 * (names are duplicated) and return the new index, or -ENOMEM. No checks beyond the limits
 * (-E2BIG); lf_snapshot_check() validates the whole. */
int lf_snapshot_add_host(lf_snapshot *s, const lf_sched_host *h);
int lf_snapshot_add_vm(lf_snapshot *s, const lf_sched_vm *v);

/* Checks what JSON parsing checks on a built snapshot: names, duplicates, ranges, host
 * indices, policy consistency. Problems go to diag named as in JSON ("vms[3].mem_mb: ...");
 * returns -EINVAL if any. */
int lf_snapshot_check(const lf_snapshot *s, const char *file, lf_diag *diag);

/* Reads a snapshot (DESIGN §5.4). Every problem is added to diag naming the file and field
 * ("snap.json: vms[3].mem_mb: must not be negative") and -EINVAL returned; *ret untouched.
 * Unknown keys are refused too, so a misspelt policy key cannot silently fall back to a
 * default. */
int lf_snapshot_from_json(json_object *o, const char *file, lf_diag *diag, lf_snapshot **ret);
int lf_snapshot_load(const char *path, lf_diag *diag, lf_snapshot **ret);
int lf_snapshot_load_buffer(const char *name, const char *buf, size_t len, lf_diag *diag,
                            lf_snapshot **ret);
/* The snapshot as JSON, every key written (defaults too), so from_json(to_json(s)) == s. */
int lf_snapshot_to_json(const lf_snapshot *s, json_object **ret);

/* Carries out a plan on the snapshot it was made from, as the cluster would once every action
 * completed: placed and migrated VMs change host (migrated ones get last_migrated = time),
 * hosts powered on become up (cpu_util 0), powered off become off, cpu_util follows the VMs'
 * cpu_cores, and last_run[m] = time for each mode in plan->acted. Time does not advance.
 * -EINVAL (snapshot untouched) if the plan refers to VMs or hosts the snapshot lacks. */
int lf_snapshot_apply(lf_snapshot *s, const lf_plan_sched *plan);

/* --- Slot counting, shared by energy mode, the simulator and the tests --- */

/* Median mem_mb over all VMs (lower middle), LF_SCHED_DEFAULT_VM_MB without VMs. */
int64_t lf_sched_typical_vm_mb(const lf_snapshot *s);
/* How many more typical VMs host h could take if it were up with `vms` VMs using `used_mb`:
 * min(max_vms - vms, (mem_mb - reserved_mb - used_mb) / typical_mb), not below 0; without
 * max_vms only the memory bound applies. */
int64_t lf_sched_host_slots(const lf_sched_host *h, int64_t vms, int64_t used_mb,
                            int64_t typical_mb);
/* Sum of lf_sched_host_slots() over the up hosts as the snapshot stands. */
int64_t lf_snapshot_free_slots(const lf_snapshot *s);
/* Whether time t falls within the policy's class hours (UTC). */
bool lf_policy_in_class_hours(const lf_sched_policy *p, int64_t t);
/* Whether s->time falls within the policy's class hours (UTC). */
bool lf_snapshot_in_class_hours(const lf_snapshot *s);

/* --- The engine (scheduler.c) --- */

/* Plans one scheduling cycle in `mode`. Pure and deterministic: same snapshot, same plan, to
 * the byte, whatever the order of hosts and VMs (ties are broken by name). A VM that cannot be
 * placed or evacuated is a failure with a reason, not an error. Returns 0, or -ENOMEM /
 * -EINVAL (invalid snapshot: lf_snapshot_check() it first when it was not parsed).
 *
 * One cycle, in this order:
 *  1. (not in place mode) maintenance hosts are evacuated, biggest VM first, ignoring the
 *     migration hold; pinned VMs stay (a failure each).
 *  2. Pending VMs, by name, go to the up host with the fewest VMs that has their memory free
 *     and a VM slot (ties: most free memory, then name). The i-th start is at
 *     (i / boot_batch) * boot_stagger_s: the cluster is treated as one storage server.
 *  3. Headroom, in every mode: capacity is short when more pending VMs found no room than the
 *     hosts powering on have slots, or when free slots on up hosts + slots of hosts powering
 *     on - pending VMs left waiting < reserve_vm_slots. Then energy and auto (in class hours
 *     too) power on the off host with the most slots (at least one; then name) that is not
 *     powering on;
 *     place, memory and compute only say so. Not rate-limited: power-on reacts within one
 *     cycle. Hosts powering on are never placed on nor powered on again.
 *  4. The mode's balancing, which never moves a pinned VM or one migrated within
 *     migration_hold_s, and acts at most once per min_interval_s (last_run[mode]; a run that
 *     changes nothing does not count):
 *     memory:  from the fullest to the emptiest host (VM counts) until the spread is <= 1; the
 *              VM moved is the one that best evens out free memory (then smaller, idler).
 *              Waits while a host is powering on (it would be left nearly empty).
 *     compute: a host's load is max(cpu_util, sum of its VMs' cpu_cores * 100 / cpus); hot
 *              hosts (load >= cpu_high), hottest first, keep their busy VMs (cores >= cpu_high% of
 *              their vcpus); their lightest VMs go to the coolest host below cpu_low whose
 *              predicted load stays below cpu_high, when the move narrows the gap between the
 *              two hosts by at least cpu_margin points; until not hot.
 *     energy:  unless capacity is short (step 3 then acted), and only outside class hours
 *              (rate-limited: power-off waits the long window): empty the up host with the
 *              fewest VMs (then least memory, name) whose VMs may all move, none received
 *              this cycle, into the others fewest-VMs-first with cpu staying below cpu_high,
 *              if they keep >= reserve_vm_slots free slots; power it off. One power action per
 *              cycle, so one host per cycle.
 *     auto:    in class hours (policy, UTC): memory balance every balance_interval_s (when
 *              balance_mode is memory) and compute balance whenever a host is hot; outside
 *              them: energy.
 * Slots are counted by lf_sched_host_slots(): from memory (typical VM = median VM memory)
 * and max_vms when set. Failed and off hosts are left alone and get nothing. */
int lf_schedule(const lf_snapshot *s, lf_sched_mode mode, lf_plan_sched **ret);
void lf_plan_sched_free(lf_plan_sched *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_plan_sched *, lf_plan_sched_free);
#define _cleanup_plan_sched_ _cleanup_(lf_plan_sched_freep)

/* DESIGN §5.4 output: {"mode", "acted", "placements", "migrations", "power_on", "power_off",
 * "failures"[, "explain"]}, names taken from s (the snapshot the plan was made from). */
int lf_sched_plan_to_json(const lf_plan_sched *p, const lf_snapshot *s, bool explain,
                          json_object **ret);
/* The same for people, one action per line; malloc'ed string, NULL on OOM. */
char *lf_sched_plan_to_text(const lf_plan_sched *p, const lf_snapshot *s, bool explain);

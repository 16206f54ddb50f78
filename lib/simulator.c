/* The classroom-day simulator: TRACE/CLUSTER/POLICY readers, the step loop that drives the
 * engine with realistic delays, the published baseline rules it is compared with, the
 * host-hour lower bound, and the report. See simulator.h for the model and the formats. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "simulator.h"
#include "units.h"

#define EPS 1e-9

static const char *const engine_names[_LF_SIM_ENGINE_MAX] = {
        [LF_SIM_LABFORGE] = "labforge",
        [LF_SIM_PLAIN] = "plain",
};

const char *lf_sim_engine_to_string(lf_sim_engine e) {
        return e >= 0 && e < _LF_SIM_ENGINE_MAX ? engine_names[e] : NULL;
}

int lf_sim_engine_from_string(const char *s, lf_sim_engine *ret) {
        for (int i = 0; s && i < _LF_SIM_ENGINE_MAX; i++)
                if (streq(engine_names[i], s)) {
                        *ret = (lf_sim_engine)i;
                        return 0;
                }
        return -EINVAL;
}

void lf_sim_cluster_free(lf_sim_cluster *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_hosts; i++)
                free(c->hosts[i].h.name);
        free(c->hosts);
        free(c);
}

void lf_sim_trace_free(lf_sim_trace *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n_vms; i++) {
                free(t->vms[i].name);
                free(t->vms[i].cpu);
        }
        free(t->vms);
        free(t);
}

/* --- Readers --- */

/* Names, duplicates and ranges of hosts and VMs are checked by the snapshot's own checker on a
 * snapshot holding them, so the simulator accepts exactly what the scheduler accepts and its
 * messages name the same fields ("hosts[2].cpus", "vms[7].name"). */
static int check_as_snapshot(lf_snapshot *s, const char *file, lf_diag *diag) {
        int r = lf_snapshot_check(s, file, diag);
        return r == -ENOMEM ? r : r < 0 ? -EINVAL : 0;
}

static int read_host(const lf_json_ctx *ctx, json_object *o, const char *path, lf_sim_host *h) {
        static const char *const keys[] = {"name",  "cpus",   "mem_mb", "reserved_mb", "max_vms",
                                           "state", "boot_s", "idle_w", "busy_w",      NULL};
        const char *name = NULL, *state = "up";
        int r = 0;

        if (lf_json_expect_object(ctx, o, path) < 0)
                return -EINVAL;
        r |= lf_json_check_keys(ctx, o, path, keys);
        r |= lf_json_get_string(ctx, o, path, "name", true, &name);
        r |= lf_json_get_int(ctx, o, path, "cpus", true, INT64_MIN, INT64_MAX, &h->h.cpus);
        r |= lf_json_get_int(ctx, o, path, "mem_mb", true, INT64_MIN, INT64_MAX, &h->h.mem_mb);
        r |= lf_json_get_int(ctx, o, path, "reserved_mb", false, INT64_MIN, INT64_MAX,
                             &h->h.reserved_mb);
        r |= lf_json_get_int(ctx, o, path, "max_vms", false, 0, LF_SNAPSHOT_MAX_VMS, &h->h.max_vms);
        r |= lf_json_get_string(ctx, o, path, "state", false, &state);
        r |= lf_json_get_int(ctx, o, path, "boot_s", false, 0, 86400, &h->boot_s);
        r |= lf_json_get_double(ctx, o, path, "idle_w", false, 0, 1e6, &h->idle_w);
        r |= lf_json_get_double(ctx, o, path, "busy_w", false, 0, 1e6, &h->busy_w);
        if (state && streq(state, "off"))
                h->h.state = LF_HOST_OFF;
        else if (state && !streq(state, "up"))
                r = lf_diag_add(
                        ctx->diag, ctx->file, 0,
                        "%s.state: \"%s\"; a simulation starts with hosts \"up\" or \"off\"", path,
                        state);
        if (h->busy_w >= 0 && h->idle_w < 0)
                r = lf_diag_add(ctx->diag, ctx->file, 0,
                                "%s.busy_w: given without idle_w; give both, or idle_w alone",
                                path);
        else if (h->busy_w >= 0 && h->busy_w < h->idle_w)
                r = lf_diag_add(ctx->diag, ctx->file, 0, "%s.busy_w: %g is less than idle_w (%g)",
                                path, h->busy_w, h->idle_w);
        else if (h->busy_w < 0)
                h->busy_w = h->idle_w;
        if (name && !(h->h.name = strdup(name)))
                return -ENOMEM;
        return r ? -EINVAL : 0;
}

int lf_sim_cluster_from_json(json_object *o, const char *file, lf_diag *diag,
                             lf_sim_cluster **ret) {
        static const char *const keys[] = {"hosts", "decision_interval_s", "migration_mb_per_s",
                                           "migration_overhead_s", NULL};
        lf_json_ctx ctx = {diag, file};
        _cleanup_(lf_sim_cluster_freep) lf_sim_cluster *c = calloc(1, sizeof(*c));
        _cleanup_snapshot_ lf_snapshot *s = lf_snapshot_new();
        json_object *hosts = NULL;
        char path[32];
        int r = 0, rr;

        if (!c || !s)
                return -ENOMEM;
        *c = (lf_sim_cluster){
                .decision_interval_s = 300, .migration_mb_per_s = 1024, .migration_overhead_s = 5};
        if (lf_json_expect_object(&ctx, o, "") < 0)
                return -EINVAL;
        r |= lf_json_check_keys(&ctx, o, "", keys);
        r |= lf_json_get_array(&ctx, o, "", "hosts", true, &hosts);
        r |= lf_json_get_int(&ctx, o, "", "decision_interval_s", false, 1, 86400,
                             &c->decision_interval_s);
        r |= lf_json_get_double(&ctx, o, "", "migration_mb_per_s", false, 1, 1e7,
                                &c->migration_mb_per_s);
        r |= lf_json_get_double(&ctx, o, "", "migration_overhead_s", false, 0, 3600,
                                &c->migration_overhead_s);
        size_t n = hosts ? json_object_array_length(hosts) : 0;
        if (n > LF_SNAPSHOT_MAX_HOSTS)
                return lf_diag_add(diag, file, 0, "hosts: %zu hosts; at most %d", n,
                                   LF_SNAPSHOT_MAX_HOSTS);
        if (hosts && n == 0)
                r = lf_diag_add(diag, file, 0, "hosts: empty; a cluster needs at least one host");
        c->hosts = calloc(n + 1, sizeof(*c->hosts));
        if (!c->hosts)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                lf_sim_host *h = &c->hosts[c->n_hosts++];
                *h = (lf_sim_host){.h = {.state = LF_HOST_UP, .max_vms = -1},
                                   .boot_s = 120,
                                   .idle_w = -1,
                                   .busy_w = -1};
                snprintf(path, sizeof(path), "hosts[%zu]", i);
                rr = read_host(&ctx, json_object_array_get_idx(hosts, i), path, h);
                if (rr == -ENOMEM)
                        return rr;
                r |= rr;
        }
        if (r < 0)
                return -EINVAL;
        for (size_t i = 0; i < c->n_hosts; i++)
                if (lf_snapshot_add_host(s, &c->hosts[i].h) < 0)
                        return -ENOMEM;
        r = check_as_snapshot(s, file, diag);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

/* "cpu": [[at_s, cores], ...], at_s increasing, 0 <= cores <= vcpus. */
static int read_points(const lf_json_ctx *ctx, json_object *a, const char *path, lf_sim_vm *v) {
        size_t n = json_object_array_length(a);
        int r = 0;

        if (n > LF_SIM_MAX_POINTS)
                return lf_diag_add(ctx->diag, ctx->file, 0, "%s.cpu: %zu points; at most %d", path,
                                   n, LF_SIM_MAX_POINTS);
        v->cpu = calloc(n + 1, sizeof(*v->cpu));
        if (!v->cpu)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *p = json_object_array_get_idx(a, i), *at, *cores;
                if (!json_object_is_type(p, json_type_array) || json_object_array_length(p) != 2 ||
                    !json_object_is_type(at = json_object_array_get_idx(p, 0), json_type_int) ||
                    !(json_object_is_type(cores = json_object_array_get_idx(p, 1), json_type_int) ||
                      json_object_is_type(cores, json_type_double))) {
                        r = lf_diag_add(ctx->diag, ctx->file, 0,
                                        "%s.cpu[%zu]: expected [at_s, cores]: whole seconds "
                                        "after start_s and a number of cores",
                                        path, i);
                        continue;
                }
                lf_sim_point pt = {json_object_get_int64(at), json_object_get_double(cores)};
                if (pt.at_s < 0 || pt.at_s > LF_SIM_MAX_DURATION_S ||
                    (i > 0 && pt.at_s <= v->cpu[i - 1].at_s))
                        r = lf_diag_add(ctx->diag, ctx->file, 0,
                                        "%s.cpu[%zu]: at_s %lld must be from 0 to %d and after "
                                        "the previous point's",
                                        path, i, (long long)pt.at_s, LF_SIM_MAX_DURATION_S);
                if (!(pt.cores >= 0 && pt.cores <= (double)v->vcpus))
                        r = lf_diag_add(ctx->diag, ctx->file, 0,
                                        "%s.cpu[%zu]: %g cores is outside 0 .. vcpus (%lld)", path,
                                        i, pt.cores, (long long)v->vcpus);
                v->cpu[i] = pt;
        }
        v->n_cpu = n;
        return r ? -EINVAL : 0;
}

static int read_vm(const lf_json_ctx *ctx, json_object *o, const char *path, int64_t duration,
                   lf_sim_vm *v) {
        static const char *const keys[] = {"name",   "mem_mb", "vcpus", "start_s",
                                           "stop_s", "pinned", "cpu",   NULL};
        const char *name = NULL;
        json_object *cpu = NULL;
        int r = 0;

        if (lf_json_expect_object(ctx, o, path) < 0)
                return -EINVAL;
        r |= lf_json_check_keys(ctx, o, path, keys);
        r |= lf_json_get_string(ctx, o, path, "name", true, &name);
        r |= lf_json_get_int(ctx, o, path, "mem_mb", true, INT64_MIN, INT64_MAX, &v->mem_mb);
        r |= lf_json_get_int(ctx, o, path, "vcpus", true, INT64_MIN, INT64_MAX, &v->vcpus);
        r |= lf_json_get_int(ctx, o, path, "start_s", true, 0, duration - 1, &v->start_s);
        r |= lf_json_get_int(ctx, o, path, "stop_s", false, 1, LF_SIM_MAX_DURATION_S, &v->stop_s);
        r |= lf_json_get_bool(ctx, o, path, "pinned", false, &v->pinned);
        r |= lf_json_get_array(ctx, o, path, "cpu", false, &cpu);
        if (name && !(v->name = strdup(name)))
                return -ENOMEM;
        if (r == 0 && v->stop_s >= 0 && v->stop_s <= v->start_s)
                r = lf_diag_add(ctx->diag, ctx->file, 0,
                                "%s.stop_s: %lld is not after start_s (%lld)", path,
                                (long long)v->stop_s, (long long)v->start_s);
        if (r == 0 && cpu)
                return read_points(ctx, cpu, path, v);
        return r ? -EINVAL : 0;
}

int lf_sim_trace_from_json(json_object *o, const char *file, lf_diag *diag, lf_sim_trace **ret) {
        static const char *const keys[] = {"start", "duration_s", "step_s", "vms", NULL};
        lf_json_ctx ctx = {diag, file};
        _cleanup_(lf_sim_trace_freep) lf_sim_trace *t = calloc(1, sizeof(*t));
        _cleanup_snapshot_ lf_snapshot *s = lf_snapshot_new();
        const char *start = NULL;
        json_object *vms = NULL;
        char path[32];
        int r = 0, rr;

        if (!t || !s)
                return -ENOMEM;
        t->step_s = 60;
        if (lf_json_expect_object(&ctx, o, "") < 0)
                return -EINVAL;
        r |= lf_json_check_keys(&ctx, o, "", keys);
        r |= lf_json_get_string(&ctx, o, "", "start", true, &start);
        r |= lf_json_get_int(&ctx, o, "", "duration_s", true, 1, LF_SIM_MAX_DURATION_S,
                             &t->duration_s);
        r |= lf_json_get_int(&ctx, o, "", "step_s", false, 10, 600, &t->step_s);
        r |= lf_json_get_array(&ctx, o, "", "vms", true, &vms);
        if (start && lf_parse_timestamp(start, &t->start) < 0)
                r = lf_diag_add(diag, file, 0,
                                "start: \"%s\" is not a UTC time like "
                                "2026-11-23T00:00:00Z",
                                start);
        if (r < 0)
                return -EINVAL;
        size_t n = json_object_array_length(vms);
        if (n > LF_SIM_MAX_VMS)
                return lf_diag_add(diag, file, 0, "vms: %zu VMs; at most %d", n, LF_SIM_MAX_VMS);
        t->vms = calloc(n + 1, sizeof(*t->vms));
        if (!t->vms)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                lf_sim_vm *v = &t->vms[t->n_vms++];
                v->stop_s = -1;
                snprintf(path, sizeof(path), "vms[%zu]", i);
                rr = read_vm(&ctx, json_object_array_get_idx(vms, i), path, t->duration_s, v);
                if (rr == -ENOMEM)
                        return rr;
                r |= rr;
        }
        if (r < 0)
                return -EINVAL;
        for (size_t i = 0; i < t->n_vms; i++) {
                lf_sched_vm v = {.name = t->vms[i].name,
                                 .host = -1,
                                 .mem_mb = t->vms[i].mem_mb,
                                 .vcpus = t->vms[i].vcpus,
                                 .last_migrated = LF_TIME_NONE};
                if (lf_snapshot_add_vm(s, &v) < 0)
                        return -ENOMEM;
        }
        r = check_as_snapshot(s, file, diag);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}

static int parse(const char *path, lf_diag *diag, json_object **ret) {
        lf_json_ctx ctx = {diag, path};
        return lf_json_parse_file(&ctx, path, ret);
}

int lf_sim_cluster_load(const char *path, lf_diag *diag, lf_sim_cluster **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r = parse(path, diag, &o);
        return r < 0 ? r : lf_sim_cluster_from_json(o, path, diag, ret);
}

int lf_sim_trace_load(const char *path, lf_diag *diag, lf_sim_trace **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r = parse(path, diag, &o);
        return r < 0 ? r : lf_sim_trace_from_json(o, path, diag, ret);
}

int lf_sim_policy_load(const char *path, lf_diag *diag, lf_sched_policy *ret) {
        _cleanup_json_ json_object *o = NULL;
        int r = parse(path, diag, &o);
        return r < 0 ? r : lf_sched_policy_from_json(o, path, diag, ret);
}

/* A VM's demand `rel` seconds after its start; *cursor only moves forward. */
static double demand_at(const lf_sim_vm *v, int64_t rel, size_t *cursor) {
        while (*cursor < v->n_cpu && v->cpu[*cursor].at_s <= rel)
                (*cursor)++;
        return *cursor > 0 ? v->cpu[*cursor - 1].cores : 0;
}

/* --- The published baseline (LF_SIM_PLAIN); never used by the product --- */

static int name_order(const void *a, const void *b, void *arg) {
        const lf_snapshot *s = arg;
        return strcmp(s->vms[*(const int *)a].name, s->vms[*(const int *)b].name);
}

/* Placement by fewest VMs only: memory is the one check, ties go by name. */
static int baseline_place(const lf_snapshot *s, lf_plan_sched *p) {
        size_t nh = s->n_hosts, nv = s->n_vms, n = 0;
        _cleanup_free_ int64_t *vms = calloc(nh + 1, sizeof(int64_t));
        _cleanup_free_ int64_t *used = calloc(nh + 1, sizeof(int64_t));
        _cleanup_free_ int *pending = calloc(nv + 1, sizeof(int));
        int64_t started = 0;

        p->placements = calloc(nv + 1, sizeof(*p->placements));
        if (!vms || !used || !pending || !p->placements)
                return -ENOMEM;
        for (size_t i = 0; i < nv; i++) {
                int h = s->vms[i].host;
                if (h < 0)
                        pending[n++] = (int)i;
                else
                        vms[h]++, used[h] += s->vms[i].mem_mb;
        }
        qsort_r(pending, n, sizeof(int), name_order, (void *)s);
        for (size_t k = 0; k < n; k++) {
                const lf_sched_vm *v = &s->vms[pending[k]];
                int best = -1;
                for (size_t i = 0; i < nh; i++) {
                        const lf_sched_host *h = &s->hosts[i];
                        if (h->state != LF_HOST_UP ||
                            h->mem_mb - h->reserved_mb - used[i] < v->mem_mb)
                                continue;
                        if (best < 0 || vms[i] < vms[best] ||
                            (vms[i] == vms[best] && strcmp(h->name, s->hosts[best].name) < 0))
                                best = (int)i;
                }
                if (best < 0)
                        continue;
                p->placements[p->n_placements++] = (lf_sched_placement){
                        pending[k], best,
                        started / s->policy.boot_batch * s->policy.boot_stagger_s};
                vms[best]++;
                used[best] += v->mem_mb;
                started++;
        }
        return 0;
}

static int lightest_order(const void *a, const void *b, void *arg) {
        const lf_snapshot *s = arg;
        const lf_sched_vm *x = &s->vms[*(const int *)a], *y = &s->vms[*(const int *)b];
        if (x->cpu_cores != y->cpu_cores)
                return x->cpu_cores < y->cpu_cores ? -1 : 1;
        if (x->mem_mb != y->mem_mb)
                return x->mem_mb < y->mem_mb ? -1 : 1;
        return strcmp(x->name, y->name);
}

static int hottest_order(const void *a, const void *b, void *arg) {
        const lf_snapshot *s = arg;
        const lf_sched_host *x = &s->hosts[*(const int *)a], *y = &s->hosts[*(const int *)b];
        if (x->cpu_util != y->cpu_util)
                return x->cpu_util > y->cpu_util ? -1 : 1;
        return strcmp(x->name, y->name);
}

/* Compute balance as first published: a hot host (cpu_util >= cpu_high) keeps its busy VMs
 * and sends its lightest ones, until it is predicted below cpu_high, to the coolest host
 * measured below cpu_low that has the memory. Nothing checks where the destination ends up
 * and a move need not gain anything. */
static int baseline_compute(const lf_snapshot *s, lf_plan_sched *p) {
        const lf_sched_policy *pol = &s->policy;
        size_t nh = s->n_hosts, nv = s->n_vms, n_hot = 0;
        _cleanup_free_ double *util = calloc(nh + 1, sizeof(double));
        _cleanup_free_ int64_t *used = calloc(nh + 1, sizeof(int64_t));
        _cleanup_free_ int *hot = calloc(nh + 1, sizeof(int));
        _cleanup_free_ int *cand = calloc(nv + 1, sizeof(int));

        p->migrations = calloc(nv + 1, sizeof(*p->migrations));
        if (!util || !used || !hot || !cand || !p->migrations)
                return -ENOMEM;
        for (size_t i = 0; i < nh; i++) {
                util[i] = s->hosts[i].cpu_util;
                if (s->hosts[i].state == LF_HOST_UP && util[i] >= pol->cpu_high)
                        hot[n_hot++] = (int)i;
        }
        for (size_t i = 0; i < nv; i++)
                if (s->vms[i].host >= 0)
                        used[s->vms[i].host] += s->vms[i].mem_mb;
        qsort_r(hot, n_hot, sizeof(int), hottest_order, (void *)s);
        for (size_t k = 0; k < n_hot; k++) {
                int from = hot[k];
                size_t n = 0;
                for (size_t i = 0; i < nv; i++) {
                        const lf_sched_vm *v = &s->vms[i];
                        if (v->host == from && !v->pinned &&
                            v->cpu_cores < (double)v->vcpus * pol->cpu_high / 100.0)
                                cand[n++] = (int)i;
                }
                qsort_r(cand, n, sizeof(int), lightest_order, (void *)s);
                for (size_t j = 0; j < n && util[from] >= pol->cpu_high; j++) {
                        const lf_sched_vm *v = &s->vms[cand[j]];
                        int to = -1;
                        for (size_t i = 0; i < nh; i++) {
                                const lf_sched_host *h = &s->hosts[i];
                                if (h->state != LF_HOST_UP || h->cpu_util >= pol->cpu_low ||
                                    h->mem_mb - h->reserved_mb - used[i] < v->mem_mb)
                                        continue;
                                if (to < 0 || util[i] < util[to] ||
                                    (util[i] == util[to] && strcmp(h->name, s->hosts[to].name) < 0))
                                        to = (int)i;
                        }
                        if (to < 0)
                                continue;
                        p->migrations[p->n_migrations++] =
                                (lf_sched_migration){cand[j], from, to, LF_REASON_COMPUTE};
                        util[from] -= v->cpu_cores * 100.0 / (double)s->hosts[from].cpus;
                        util[to] += v->cpu_cores * 100.0 / (double)s->hosts[to].cpus;
                        used[to] += v->mem_mb;
                }
        }
        if (p->n_migrations > 0)
                p->acted |= 1u << LF_SCHED_COMPUTE;
        return 0;
}

/* --- The simulation --- */

typedef enum vm_phase { VM_FUTURE, VM_PENDING, VM_STARTING, VM_RUNNING, VM_DONE } vm_phase;
typedef enum host_phase { H_OFF, H_BOOTING, H_UP, H_DRAINING } host_phase;

#define RECENT 4 /* departures remembered per VM, for ping-pong */

typedef struct svm {
        vm_phase phase;
        int host, to;  /* to: destination of a migration in flight, else -1 */
        int64_t until; /* STARTING: runs from; migrating: arrives at (seconds into the trace) */
        int64_t last_migrated;
        bool failed;
        size_t cursor, n_left;
        double demand, served;
        int left[RECENT];
        int64_t left_at[RECENT];
} svm;

typedef struct shost {
        host_phase phase;
        int64_t until, link_free; /* BOOTING: up at; when its migration link is free */
        int64_t busy;             /* VMs on it or arriving, this step */
        double served;            /* cores this step */
} shost;

/* 10-minute averages: the last `w` samples per object in a ring indexed by step. */
typedef struct window {
        double *v;
        size_t *n, w;
} window;

typedef struct sim {
        const lf_sim_cluster *c;
        const lf_sim_trace *t;
        lf_sched_policy policy;
        lf_sim_engine engine;
        int64_t rel, now; /* seconds into the trace; UTC */
        size_t step, n_pending;
        int64_t last_decision;
        int64_t last_run[_LF_SCHED_MODE_MAX];
        svm *v;
        shost *h;
        window vw, hw;
        int *snap_vm;       /* snapshot VM index -> trace VM */
        int *by_host;       /* running VMs grouped by host, this step */
        size_t *host_start; /* n_hosts + 1 offsets into by_host */
        bool power_known;
        double wait_sum, spread_sum;
        int64_t spread_steps;
        lf_sim_metrics m;
} sim;

static int window_init(window *w, size_t n, size_t len) {
        *w = (window){.v = calloc(n * len + 1, sizeof(double)),
                      .n = calloc(n + 1, sizeof(size_t)),
                      .w = len};
        return w->v && w->n ? 0 : -ENOMEM;
}

static void window_reset(window *w, size_t i) {
        memset(w->v + i * w->w, 0, w->w * sizeof(double));
        w->n[i] = 0;
}

static void window_add(window *w, size_t i, size_t step, double x) {
        w->v[i * w->w + step % w->w] = x;
        if (w->n[i] < w->w)
                w->n[i]++;
}

static double window_avg(const window *w, size_t i) {
        double sum = 0;
        if (w->n[i] == 0)
                return 0;
        for (size_t k = 0; k < w->w; k++)
                sum += w->v[i * w->w + k];
        return sum / (double)w->n[i];
}

static double host_util(const sim *S, size_t i) {
        double u = window_avg(&S->hw, i) * 100.0 / (double)S->c->hosts[i].h.cpus;
        return u < 0 ? 0 : u > 100 ? 100 : u;
}

static bool alive(vm_phase p) {
        return p == VM_PENDING || p == VM_STARTING || p == VM_RUNNING;
}

/* The cluster as the daemon would report it now. A VM being migrated is on its destination
 * and its memory stays reserved on the source; VMs starting or migrating cannot move (pinned).
 * A booting host is "off" and "powering_on" (its room is on the way), one emptying for
 * power-off is in "maintenance" (it gets nothing). */
static int build_snapshot(sim *S, lf_snapshot **ret) {
        _cleanup_snapshot_ lf_snapshot *s = lf_snapshot_new();
        _cleanup_free_ int64_t *leaving = calloc(S->c->n_hosts + 1, sizeof(int64_t));
        size_t n = 0;

        if (!s || !leaving)
                return -ENOMEM;
        s->time = S->now;
        s->policy = S->policy;
        memcpy(s->last_run, S->last_run, sizeof(s->last_run));
        for (size_t i = 0; i < S->t->n_vms; i++)
                if (alive(S->v[i].phase) && S->v[i].to >= 0)
                        leaving[S->v[i].host] += S->t->vms[i].mem_mb;
        for (size_t i = 0; i < S->c->n_hosts; i++) {
                static const lf_host_state states[] = {[H_OFF] = LF_HOST_OFF,
                                                       [H_BOOTING] = LF_HOST_OFF,
                                                       [H_UP] = LF_HOST_UP,
                                                       [H_DRAINING] = LF_HOST_MAINTENANCE};
                lf_sched_host h = S->c->hosts[i].h;
                h.state = states[S->h[i].phase];
                h.cpu_util = S->h[i].phase == H_UP ? host_util(S, i) : 0;
                h.powering_on = S->h[i].phase == H_BOOTING;
                h.reserved_mb += leaving[i];
                if (lf_snapshot_add_host(s, &h) < 0)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < S->t->n_vms; i++) {
                const svm *sv = &S->v[i];
                const lf_sim_vm *tv = &S->t->vms[i];
                if (!alive(sv->phase))
                        continue;
                lf_sched_vm v = {
                        .name = tv->name,
                        .host = sv->phase == VM_PENDING ? -1
                                : sv->to >= 0           ? sv->to
                                                        : sv->host,
                        .mem_mb = tv->mem_mb,
                        .vcpus = tv->vcpus,
                        .cpu_cores = sv->phase == VM_RUNNING ? window_avg(&S->vw, i) : 0,
                        .pinned = tv->pinned || sv->phase == VM_STARTING || sv->to >= 0,
                        .last_migrated = sv->last_migrated,
                };
                if (lf_snapshot_add_vm(s, &v) < 0)
                        return -ENOMEM;
                S->snap_vm[n++] = (int)i;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static void left_host(svm *v, int host, int64_t at) {
        v->left[v->n_left % RECENT] = host;
        v->left_at[v->n_left % RECENT] = at;
        v->n_left++;
}

static bool left_recently(const svm *v, int host, int64_t now) {
        for (size_t k = 0; k < RECENT && k < v->n_left; k++)
                if (v->left[k] == host && now - v->left_at[k] < LF_SIM_PING_PONG_S)
                        return true;
        return false;
}

/* Carries out a plan with the delays of simulator.h. */
static int apply(sim *S, const lf_snapshot *s, const lf_plan_sched *p) {
        for (size_t i = 0; i < p->n_migrations; i++) {
                const lf_sched_migration *mg = &p->migrations[i];
                int k = S->snap_vm[mg->vm];
                svm *v = &S->v[k];
                shost *from = &S->h[mg->from];
                if (v->phase != VM_RUNNING || v->to >= 0 || v->host != mg->from)
                        return -EINVAL; /* the engine moved a VM the snapshot pinned */
                int64_t start = from->link_free > S->rel ? from->link_free : S->rel;
                double secs = (double)S->t->vms[k].mem_mb / S->c->migration_mb_per_s +
                              S->c->migration_overhead_s;
                from->link_free = start + (secs < 1 ? 1 : (int64_t)ceil(secs));
                v->to = mg->to;
                v->until = from->link_free;
                v->last_migrated = S->now;
                S->m.ping_pong += left_recently(v, mg->to, S->rel);
                left_host(v, mg->from, S->rel);
                S->m.migrations++;
        }
        for (size_t i = 0; i < p->n_placements; i++) {
                const lf_sched_placement *pl = &p->placements[i];
                int k = S->snap_vm[pl->vm];
                svm *v = &S->v[k];
                if (v->phase != VM_PENDING)
                        return -EINVAL;
                int64_t wait = S->rel - S->t->vms[k].start_s + pl->start_at_s;
                v->phase = VM_STARTING;
                v->host = pl->host;
                v->until = S->rel + pl->start_at_s;
                S->n_pending--;
                S->m.vms_started++;
                S->wait_sum += (double)wait;
                if (wait > S->m.boot_wait_max_s)
                        S->m.boot_wait_max_s = wait;
        }
        for (size_t i = 0; i < p->n_power_on; i++) {
                shost *h = &S->h[p->power_on[i]];
                if (h->phase != H_OFF)
                        continue;
                h->phase = H_BOOTING;
                h->until = S->rel + S->c->hosts[p->power_on[i]].boot_s;
                S->m.power_on++;
        }
        for (size_t i = 0; i < p->n_power_off; i++)
                if (S->h[p->power_off[i]].phase == H_UP) {
                        S->h[p->power_off[i]].phase = H_DRAINING;
                        S->m.power_off++;
                }
        for (int mode = 0; mode < _LF_SCHED_MODE_MAX; mode++)
                if (p->acted & (1u << mode))
                        S->last_run[mode] = S->now;
        for (size_t i = 0; i < s->n_vms; i++)
                if (S->v[S->snap_vm[i]].phase == VM_PENDING)
                        S->v[S->snap_vm[i]].failed = true;
        return 0;
}

/* One planning call on the cluster as it stands: the engine in `mode`, or the baseline's
 * placement (LF_SCHED_PLACE) or compute balance (LF_SCHED_COMPUTE). */
static int plan_and_apply(sim *S, lf_sched_mode mode, bool baseline) {
        _cleanup_snapshot_ lf_snapshot *s = NULL;
        _cleanup_plan_sched_ lf_plan_sched *p = NULL;
        int r = build_snapshot(S, &s);

        if (r < 0)
                return r;
        if (!baseline)
                r = lf_schedule(s, mode, &p);
        else if (!(p = calloc(1, sizeof(*p))))
                return -ENOMEM;
        else
                r = mode == LF_SCHED_PLACE ? baseline_place(s, p) : baseline_compute(s, p);
        if (r < 0)
                return r;
        return apply(S, s, p);
}

static bool in_class_hours(const sim *S) {
        lf_snapshot at = {.time = S->now, .policy = S->policy};
        return lf_snapshot_in_class_hours(&at);
}

/* The engine's cycle, every decision interval and at every step with VMs waiting (a request
 * to start VMs is when the daemon plans too). labforge runs `auto`: placement first, a host
 * woken when room is short, then balancing or energy saving. The plain rules place by their
 * own rule and balance by theirs in class hours, and share the engine's energy mode (waking
 * hosts in class hours; powering off outside them) at the same moments, so the comparison
 * measures the rules the issue names, not whether hosts wake. */
static int decide(sim *S) {
        bool decision = S->last_decision == LF_TIME_NONE ||
                        S->rel - S->last_decision >= S->c->decision_interval_s;
        bool waiting = S->n_pending > 0;
        int r = 0;

        if (decision)
                S->last_decision = S->rel;
        if (!decision && !waiting)
                return 0;
        if (S->engine == LF_SIM_LABFORGE)
                return plan_and_apply(S, LF_SCHED_AUTO, false);
        if (waiting)
                r = plan_and_apply(S, LF_SCHED_PLACE, true);
        if (r >= 0 && decision && in_class_hours(S)) {
                int64_t last = S->last_run[LF_SCHED_MEMORY];
                if (S->policy.balance_mode == LF_SCHED_MEMORY &&
                    (last == LF_TIME_NONE || S->now - last >= S->policy.balance_interval_s))
                        r = plan_and_apply(S, LF_SCHED_MEMORY, false);
                if (r >= 0)
                        r = plan_and_apply(S, LF_SCHED_COMPUTE, true);
        }
        return r < 0 ? r : plan_and_apply(S, LF_SCHED_ENERGY, false);
}

/* What happens at the start of a step: arrivals, stops, ends of boots and migrations. */
static void events(sim *S) {
        for (size_t i = 0; i < S->c->n_hosts; i++) {
                shost *h = &S->h[i];
                h->busy = 0;
                if (h->phase == H_BOOTING && h->until <= S->rel) {
                        h->phase = H_UP;
                        window_reset(&S->hw, i);
                }
        }
        for (size_t i = 0; i < S->t->n_vms; i++) {
                svm *v = &S->v[i];
                const lf_sim_vm *tv = &S->t->vms[i];
                bool stops = tv->stop_s >= 0 && tv->stop_s <= S->rel;
                if (v->phase == VM_FUTURE && tv->start_s <= S->rel) {
                        v->phase = VM_PENDING;
                        S->n_pending++;
                }
                if (alive(v->phase) && stops) {
                        if (v->phase == VM_PENDING) {
                                S->n_pending--;
                                S->m.never_started++;
                        }
                        v->phase = VM_DONE;
                        v->to = -1;
                        continue;
                }
                if (v->to >= 0 && v->until <= S->rel) {
                        v->host = v->to;
                        v->to = -1;
                }
                if (v->phase == VM_STARTING || v->phase == VM_RUNNING) {
                        S->h[v->host].busy++;
                        if (v->to >= 0)
                                S->h[v->to].busy++;
                }
        }
        for (size_t i = 0; i < S->c->n_hosts; i++)
                if (S->h[i].phase == H_DRAINING && S->h[i].busy == 0)
                        S->h[i].phase = H_OFF;
}

static int demand_cmp(const void *a, const void *b, void *arg) {
        const sim *S = arg;
        double x = S->v[*(const int *)a].demand, y = S->v[*(const int *)b].demand;
        return (x > y) - (x < y);
}

/* Each host shares its cpus max-min fairly among its running VMs: a VM asking less than an
 * equal share gets all it asks, the others split the rest. */
static void serve(sim *S) {
        size_t nh = S->c->n_hosts, nv = S->t->n_vms;
        double minutes = (double)S->t->step_s / 60.0;

        memset(S->host_start, 0, (nh + 1) * sizeof(size_t));
        for (size_t i = 0; i < nv; i++) {
                svm *v = &S->v[i];
                if (v->phase == VM_STARTING && v->until <= S->rel) {
                        v->phase = VM_RUNNING;
                        window_reset(&S->vw, i);
                }
                v->served = v->demand = 0;
                if (v->phase != VM_RUNNING)
                        continue;
                v->demand = demand_at(&S->t->vms[i], S->rel - S->t->vms[i].start_s, &v->cursor);
                S->host_start[v->host + 1]++;
        }
        for (size_t i = 0; i < nh; i++)
                S->host_start[i + 1] += S->host_start[i];
        for (size_t i = 0; i < nv; i++)
                if (S->v[i].phase == VM_RUNNING)
                        S->by_host[S->host_start[S->v[i].host]++] = (int)i;
        /* host_start[i] now ends host i's group; shift back to starts. */
        memmove(S->host_start + 1, S->host_start, nh * sizeof(size_t));
        S->host_start[0] = 0;

        for (size_t i = 0; i < nh; i++) {
                int *g = S->by_host + S->host_start[i];
                size_t n = S->host_start[i + 1] - S->host_start[i];
                double want = 0, cap = (double)S->c->hosts[i].h.cpus;
                for (size_t j = 0; j < n; j++)
                        want += S->v[g[j]].demand;
                if (want > cap + EPS)
                        qsort_r(g, n, sizeof(int), demand_cmp, S);
                S->h[i].served = 0;
                for (size_t j = 0; j < n; j++) {
                        svm *v = &S->v[g[j]];
                        double fair = cap / (double)(n - j);
                        v->served = want > cap + EPS && v->demand > fair ? fair : v->demand;
                        cap -= v->served;
                        S->h[i].served += v->served;
                        if (v->served < v->demand - EPS) {
                                S->m.contention_vm_min += minutes;
                                S->m.unserved_core_min += (v->demand - v->served) * minutes;
                        }
                }
        }
        /* A VM reports what it asked for: the cores it got plus the time its vCPUs waited on
         * the host's run queue (libvirt's vcpu.N.time + vcpu.N.delay), so a saturated host's
         * VMs show the demand its capped cpu_util hides. */
        for (size_t i = 0; i < nv; i++)
                if (S->v[i].phase == VM_RUNNING)
                        window_add(&S->vw, i, S->step, S->v[i].demand);
}

static void measure(sim *S) {
        double hours = (double)S->t->step_s / 3600.0, lo = 0, hi = 0;
        bool any = false, class_hours = in_class_hours(S);

        for (size_t i = 0; i < S->c->n_hosts; i++) {
                const lf_sim_host *ch = &S->c->hosts[i];
                shost *h = &S->h[i];
                if (h->phase == H_OFF)
                        continue;
                S->m.host_hours += hours;
                if (h->phase == H_BOOTING) {
                        S->m.energy_kwh += ch->idle_w * hours / 1000.0;
                        continue;
                }
                window_add(&S->hw, i, S->step, h->served);
                S->m.energy_kwh +=
                        (ch->idle_w + (ch->busy_w - ch->idle_w) * h->served / (double)ch->h.cpus) *
                        hours / 1000.0;
                if (h->phase != H_UP || !class_hours)
                        continue;
                double u = host_util(S, i);
                lo = any && lo < u ? lo : u;
                hi = any && hi > u ? hi : u;
                any = true;
        }
        if (any) {
                S->spread_sum += hi - lo;
                S->spread_steps++;
                if (hi - lo > S->m.spread_max)
                        S->m.spread_max = hi - lo;
        }
}

static void sim_done(sim *S) {
        free(S->v);
        free(S->h);
        free(S->vw.v);
        free(S->vw.n);
        free(S->hw.v);
        free(S->hw.n);
        free(S->snap_vm);
        free(S->by_host);
        free(S->host_start);
}

static int sim_init(sim *S, const lf_sim_cluster *c, const lf_sim_trace *t,
                    const lf_sched_policy *p, lf_sim_engine e) {
        size_t nh = c->n_hosts, nv = t->n_vms, w = (size_t)((600 + t->step_s - 1) / t->step_s);

        *S = (sim){.c = c, .t = t, .policy = *p, .engine = e, .last_decision = LF_TIME_NONE};
        for (size_t i = 0; i < ELEMENTSOF(S->last_run); i++)
                S->last_run[i] = LF_TIME_NONE;
        if (e == LF_SIM_PLAIN) {
                S->policy.migration_hold_s = 0;
                S->policy.min_interval_s = 0;
                S->policy.cpu_margin = 0;
        }
        S->v = calloc(nv + 1, sizeof(*S->v));
        S->h = calloc(nh + 1, sizeof(*S->h));
        S->snap_vm = calloc(nv + 1, sizeof(int));
        S->by_host = calloc(nv + 1, sizeof(int));
        S->host_start = calloc(nh + 2, sizeof(size_t));
        if (!S->v || !S->h || !S->snap_vm || !S->by_host || !S->host_start ||
            window_init(&S->vw, nv, w) < 0 || window_init(&S->hw, nh, w) < 0)
                return -ENOMEM;
        S->power_known = true;
        for (size_t i = 0; i < nh; i++) {
                S->h[i].phase = c->hosts[i].h.state == LF_HOST_OFF ? H_OFF : H_UP;
                S->power_known &= c->hosts[i].idle_w >= 0;
        }
        for (size_t i = 0; i < nv; i++)
                S->v[i] = (svm){.to = -1, .host = -1, .last_migrated = LF_TIME_NONE};
        return 0;
}

int lf_simulate(const lf_sim_cluster *c, const lf_sim_trace *t, const lf_sched_policy *p,
                lf_sim_engine e, lf_sim_metrics *ret) {
        sim S;
        int r = sim_init(&S, c, t, p, e);

        for (; r >= 0 && S.rel < t->duration_s; S.step++, S.rel += t->step_s) {
                S.now = t->start + S.rel;
                events(&S);
                r = decide(&S);
                if (r >= 0) {
                        serve(&S);
                        measure(&S);
                }
        }
        if (r >= 0) {
                for (size_t i = 0; i < t->n_vms; i++) {
                        S.m.never_started += S.v[i].phase == VM_PENDING;
                        S.m.placement_failures += S.v[i].failed;
                }
                S.m.boot_wait_mean_s = S.m.vms_started ? S.wait_sum / (double)S.m.vms_started : 0;
                S.m.spread_mean = S.spread_steps ? S.spread_sum / (double)S.spread_steps : 0;
                if (!S.power_known)
                        S.m.energy_kwh = -1;
                *ret = S.m;
        }
        sim_done(&S);
        return r < 0 ? r : 0;
}

/* --- Lower bound --- */

static int desc_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x < y) - (x > y);
}

/* The fewest of the (descending) capacities whose sum covers need. */
static size_t fewest(const int64_t *cap, size_t n, double need) {
        double sum = 0;
        size_t k = 0;
        while (k < n && sum < need - EPS)
                sum += (double)cap[k++];
        return k;
}

int lf_sim_lower_bound(const lf_sim_cluster *c, const lf_sim_trace *t, lf_sim_bound *ret) {
        size_t nh = c->n_hosts, nv = t->n_vms;
        _cleanup_free_ int64_t *cpus = calloc(nh + 1, sizeof(int64_t));
        _cleanup_free_ int64_t *mem = calloc(nh + 1, sizeof(int64_t));
        _cleanup_free_ size_t *cursor = calloc(nv + 1, sizeof(size_t));
        lf_sim_bound b = {};
        double hours = (double)t->step_s / 3600.0;

        if (!cpus || !mem || !cursor)
                return -ENOMEM;
        for (size_t i = 0; i < nh; i++) {
                cpus[i] = c->hosts[i].h.cpus;
                mem[i] = c->hosts[i].h.mem_mb - c->hosts[i].h.reserved_mb;
        }
        qsort(cpus, nh, sizeof(int64_t), desc_i64);
        qsort(mem, nh, sizeof(int64_t), desc_i64);
        for (int64_t rel = 0; rel < t->duration_s; rel += t->step_s) {
                double cores = 0, mb = 0;
                for (size_t i = 0; i < nv; i++) {
                        const lf_sim_vm *v = &t->vms[i];
                        if (v->start_s > rel || (v->stop_s >= 0 && v->stop_s <= rel))
                                continue;
                        cores += demand_at(v, rel - v->start_s, &cursor[i]);
                        mb += (double)v->mem_mb;
                }
                size_t by_cpu = fewest(cpus, nh, cores), by_mem = fewest(mem, nh, mb);
                b.host_hours_cpu += (double)by_cpu * hours;
                b.host_hours += (double)(by_cpu > by_mem ? by_cpu : by_mem) * hours;
        }
        *ret = b;
        return 0;
}

/* --- Report --- */

typedef enum kind { COUNT, AMOUNT } kind;

static const struct row {
        const char *key, *label;
        size_t off;
        kind kind;
} rows[] = {
#define ROW(k, label, kind)                                                                        \
        { #k, label, offsetof(lf_sim_metrics, k), kind }
        ROW(migrations, "migrations", COUNT),
        ROW(ping_pong, "  back to a host left < 2 h ago", COUNT),
        ROW(power_on, "power-ons", COUNT),
        ROW(power_off, "power-offs", COUNT),
        ROW(host_hours, "host-hours powered on", AMOUNT),
        ROW(energy_kwh, "energy (kWh)", AMOUNT),
        ROW(contention_vm_min, "CPU contention (VM-minutes)", AMOUNT),
        ROW(unserved_core_min, "CPU not served (core-minutes)", AMOUNT),
        ROW(spread_max, "cpu spread in class hours, worst", AMOUNT),
        ROW(spread_mean, "cpu spread in class hours, mean", AMOUNT),
        ROW(vms_started, "VMs started", COUNT),
        ROW(placement_failures, "VMs the engine failed to place", COUNT),
        ROW(never_started, "VMs that never started", COUNT),
        ROW(boot_wait_mean_s, "boot wait, mean (s)", AMOUNT),
        ROW(boot_wait_max_s, "boot wait, max (s)", COUNT),
#undef ROW
};

/* What the engine is compared with the baseline on; host-hours also against the bound. */
static const char *const compared[] = {"migrations", "contention_vm_min", "host_hours"};

static const struct row *find_row(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                if (streq(rows[i].key, key))
                        return &rows[i];
        return NULL;
}

/* A figure as a double; NaN for energy when the cluster gave no power draw. */
static double value(const struct row *w, const lf_sim_metrics *m) {
        const char *p = (const char *)m + w->off;
        double v = w->kind == COUNT ? (double)*(const int64_t *)p : *(const double *)p;
        return w->off == offsetof(lf_sim_metrics, energy_kwh) && v < 0 ? NAN : v;
}

static double ratio(double a, double b) {
        return b > 0 ? a / b : NAN;
}

static double compare(const lf_sim_report *r, const char *key) {
        const struct row *w = find_row(key);
        return ratio(value(w, &r->m[LF_SIM_LABFORGE]), value(w, &r->m[LF_SIM_PLAIN]));
}

static bool both(const lf_sim_report *r) {
        return r->ran[LF_SIM_LABFORGE] && r->ran[LF_SIM_PLAIN];
}

/* json-c's null is the NULL object, which lf_json_add() takes for out of memory. */
static int add_number(json_object *o, const char *key, double v, int decimals) {
        if (isnan(v))
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        return lf_json_add(o, key, lf_json_new_double(v, decimals));
}

int lf_sim_report_to_json(const lf_sim_report *r, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *engines, *bound, *ratios, *x;
        char key[64];
        int e = 0;

        if (!o || lf_json_add(o, "engines", engines = json_object_new_object()) < 0 ||
            lf_json_add(o, "lower_bound", bound = json_object_new_object()) < 0 ||
            lf_json_add(o, "ratios", ratios = json_object_new_object()) < 0)
                return -ENOMEM;
        for (int g = 0; g < _LF_SIM_ENGINE_MAX; g++) {
                if (!r->ran[g])
                        continue;
                if (lf_json_add(engines, engine_names[g], x = json_object_new_object()) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                        double v = value(&rows[i], &r->m[g]);
                        e |= rows[i].kind == COUNT ? lf_json_add(x, rows[i].key,
                                                                 json_object_new_int64((int64_t)v))
                                                   : add_number(x, rows[i].key, v, 2);
                }
        }
        e |= lf_json_add(bound, "host_hours", lf_json_new_double(r->bound.host_hours, 2));
        e |= lf_json_add(bound, "host_hours_cpu", lf_json_new_double(r->bound.host_hours_cpu, 2));
        if (both(r)) {
                if (lf_json_add(ratios, "labforge/plain", x = json_object_new_object()) < 0)
                        return -ENOMEM;
                for (size_t k = 0; k < ELEMENTSOF(compared); k++)
                        e |= add_number(x, compared[k], compare(r, compared[k]), 3);
        }
        for (int g = 0; g < _LF_SIM_ENGINE_MAX; g++) {
                if (!r->ran[g])
                        continue;
                snprintf(key, sizeof(key), "%s/lower_bound", engine_names[g]);
                if (lf_json_add(ratios, key, x = json_object_new_object()) < 0)
                        return -ENOMEM;
                e |= add_number(x, "host_hours", ratio(r->m[g].host_hours, r->bound.host_hours), 3);
        }
        if (e < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static void print_ratio(FILE *f, const char *what, double v, bool last) {
        if (isnan(v))
                fprintf(f, "%s n/a%s", what, last ? "\n" : ",");
        else
                fprintf(f, "%s %.2f%s", what, v, last ? "\n" : ",");
}

char *lf_sim_report_to_text(const lf_sim_report *r) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        fprintf(f, "%-34s", "");
        for (int g = 0; g < _LF_SIM_ENGINE_MAX; g++)
                if (r->ran[g])
                        fprintf(f, " %10s", engine_names[g]);
        fputc('\n', f);
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                fprintf(f, "%-34s", rows[i].label);
                for (int g = 0; g < _LF_SIM_ENGINE_MAX; g++) {
                        double v = value(&rows[i], &r->m[g]);
                        if (!r->ran[g])
                                continue;
                        if (isnan(v))
                                fprintf(f, " %10s", "-");
                        else if (rows[i].kind == COUNT)
                                fprintf(f, " %10lld", (long long)v);
                        else
                                fprintf(f, " %10.1f", v);
                }
                fputc('\n', f);
        }
        fprintf(f, "\nlower bound: %.1f host-hours (cpu and memory); %.1f by cpu alone\n",
                r->bound.host_hours, r->bound.host_hours_cpu);
        if (both(r)) {
                fprintf(f, "labforge / plain:");
                print_ratio(f, " migrations", compare(r, "migrations"), false);
                print_ratio(f, " contention", compare(r, "contention_vm_min"), false);
                print_ratio(f, " host-hours", compare(r, "host_hours"), true);
        }
        for (int g = 0; g < _LF_SIM_ENGINE_MAX; g++)
                if (r->ran[g]) {
                        fprintf(f, "%s / lower bound:", engine_names[g]);
                        print_ratio(f, " host-hours",
                                    ratio(r->m[g].host_hours, r->bound.host_hours), true);
                }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

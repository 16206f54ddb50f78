/* Properties of the scheduler over thousands of random snapshots (fixed seeds, so a failure
 * reproduces): plans never break memory or max_vms, never move pinned VMs, use only up hosts,
 * power off only emptied hosts; memory balance reaches a spread of at most one VM whenever the
 * constraints allow it; energy never leaves free slots below the reserve while a host is off,
 * wakes a host only when capacity is short and never one already powering on. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "scheduler.h"
#include "test.h"

#define CASES 3000
#define T0 INT64_C(1795428000) /* 2026-11-23T10:00:00Z, a Monday in class hours */

static uint64_t rng_state;

static uint64_t rnd(void) {
        /* xorshift64*: small, fast and the same everywhere. */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}

static int64_t pick(int64_t lo, int64_t hi) {
        return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static bool chance(int percent) {
        return pick(1, 100) <= percent;
}

typedef enum { GEN_ANY, GEN_ROOMY } gen_kind;

/* A random snapshot. GEN_ANY mixes every state, pin, hold, limit and overcommitment;
 * GEN_ROOMY makes clusters where memory balance can always reach a spread of one. */
static lf_snapshot *gen(uint64_t seed, gen_kind kind) {
        static const int64_t host_mem[] = {8192, 16384, 32768, 65536};
        static const int64_t vm_mem[] = {512, 1024, 2048, 2048, 4096, 8192};
        lf_snapshot *s = lf_snapshot_new();
        char name[32];

        ASSERT_TRUE(s);
        rng_state = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
        s->time = T0 + pick(0, 7 * 86400);
        lf_sched_policy *p = &s->policy;
        p->reserve_vm_slots = pick(0, 20);
        p->cpu_high = (double)pick(50, 95);
        p->cpu_low = (double)pick(5, (int64_t)p->cpu_high - 1);
        p->boot_batch = pick(1, 3);
        p->boot_stagger_s = pick(0, 10);
        p->balance_mode = chance(80) ? LF_SCHED_MEMORY : LF_SCHED_COMPUTE;
        for (int m = LF_SCHED_MEMORY; m <= LF_SCHED_ENERGY; m++)
                s->last_run[m] =
                        kind == GEN_ROOMY || chance(60) ? LF_TIME_NONE : s->time - pick(0, 7200);

        int64_t n_hosts = pick(1, 12), n_vms = pick(0, kind == GEN_ROOMY ? 50 : 70);
        for (int64_t i = 0; i < n_hosts; i++) {
                lf_sched_host h = {.name = name, .cpus = 4 << pick(0, 2), .max_vms = -1};
                int64_t st = pick(1, 100);
                snprintf(name, sizeof(name), "h%02lld", (long long)i);
                h.state = st <= 70   ? LF_HOST_UP
                          : st <= 80 ? LF_HOST_OFF
                          : st <= 90 ? LF_HOST_MAINTENANCE
                                     : LF_HOST_FAILED;
                h.powering_on = h.state == LF_HOST_OFF && chance(40);
                if (kind == GEN_ROOMY) {
                        h.mem_mb = 131072;
                        h.reserved_mb = 4096;
                        if (chance(30))
                                h.max_vms = 100;
                } else {
                        h.mem_mb = host_mem[pick(0, 3)];
                        h.reserved_mb = chance(50) ? 0 : 1024 * pick(1, 2);
                        if (chance(50))
                                h.max_vms = pick(0, 12);
                }
                h.cpu_util = (double)pick(0, 1000) / 10.0;
                ASSERT_TRUE(lf_snapshot_add_host(s, &h) >= 0);
        }
        for (int64_t i = 0; i < n_vms; i++) {
                lf_sched_vm v = {.name = name, .last_migrated = LF_TIME_NONE};
                snprintf(name, sizeof(name), "vm%03lld", (long long)i);
                v.host = chance(15) ? -1 : (int)pick(0, n_hosts - 1);
                v.mem_mb = vm_mem[pick(0, kind == GEN_ROOMY ? 4 : 5)];
                v.vcpus = pick(1, 4);
                v.cpu_cores = (double)pick(0, v.vcpus * 10) / 10.0;
                bool on_up = v.host >= 0 && s->hosts[v.host].state == LF_HOST_UP;
                if (!(kind == GEN_ROOMY && on_up)) {
                        v.pinned = chance(10);
                        if (chance(30))
                                v.last_migrated = s->time - pick(0, 4 * 3600);
                }
                ASSERT_TRUE(lf_snapshot_add_vm(s, &v) >= 0);
        }
        lf_diag d = {};
        if (lf_snapshot_check(s, "generated", &d) < 0)
                lf_test_fail(__FILE__, __LINE__, "seed %llu: %s", (unsigned long long)seed,
                             d.msgs[0]);
        return s;
}

#define FAILF(seed, mode, ...)                                                                     \
        do {                                                                                       \
                char _m[512];                                                                      \
                snprintf(_m, sizeof(_m), __VA_ARGS__);                                             \
                lf_test_fail(__FILE__, __LINE__, "seed %llu, mode %s: %s",                         \
                             (unsigned long long)(seed), lf_sched_mode_to_string(mode), _m);       \
        } while (0)

typedef struct load {
        int64_t *vms, *used;
        double *util;
} load;

static void load_init(load *l, const lf_snapshot *s) {
        l->vms = calloc(s->n_hosts + 1, sizeof(int64_t));
        l->used = calloc(s->n_hosts + 1, sizeof(int64_t));
        l->util = calloc(s->n_hosts + 1, sizeof(double));
        ASSERT_TRUE(l->vms && l->used && l->util);
        for (size_t i = 0; i < s->n_vms; i++)
                if (s->vms[i].host >= 0) {
                        int h = s->vms[i].host;
                        l->vms[h]++;
                        l->used[h] += s->vms[i].mem_mb;
                        l->util[h] += s->vms[i].cpu_cores * 100 / (double)s->hosts[h].cpus;
                }
        /* A host's load: what it measures, or what its VMs ask for when that is more. */
        for (size_t i = 0; i < s->n_hosts; i++)
                l->util[i] = fmax(l->util[i], s->hosts[i].cpu_util);
}

static void load_done(load *l) {
        free(l->vms);
        free(l->used);
        free(l->util);
}

/* A VM arrives on a host: it must be up, not powered off by this plan, and have the memory and
 * a VM slot for it at that moment. */
static void arrive(uint64_t seed, lf_sched_mode mode, const lf_snapshot *s, const lf_plan_sched *p,
                   load *l, int vm, int from, int to) {
        const lf_sched_host *h = &s->hosts[to];
        const lf_sched_vm *v = &s->vms[vm];
        if (h->state != LF_HOST_UP)
                FAILF(seed, mode, "%s sent to %s, which is %s", v->name, h->name,
                      lf_host_state_to_string(h->state));
        for (size_t i = 0; i < p->n_power_off; i++)
                if (p->power_off[i] == to)
                        FAILF(seed, mode, "%s sent to %s, which is powered off", v->name, h->name);
        if (from >= 0) {
                l->vms[from]--;
                l->used[from] -= v->mem_mb;
                l->util[from] -= v->cpu_cores * 100 / (double)s->hosts[from].cpus;
        }
        if (l->used[to] + v->mem_mb > h->mem_mb - h->reserved_mb)
                FAILF(seed, mode, "%s overfills %s's memory", v->name, h->name);
        if (h->max_vms >= 0 && l->vms[to] + 1 > h->max_vms)
                FAILF(seed, mode, "%s goes over %s's max_vms", v->name, h->name);
        l->vms[to]++;
        l->used[to] += v->mem_mb;
        l->util[to] += v->cpu_cores * 100 / (double)h->cpus;
}

/* Every property that holds for any snapshot and mode. */
static void check_plan(uint64_t seed, lf_sched_mode mode, const lf_snapshot *s,
                       const lf_plan_sched *p) {
        const lf_sched_policy *pol = &s->policy;
        _cleanup_free_ int *seen = calloc(s->n_vms + 1, sizeof(int));
        load l;

        ASSERT_TRUE(seen);
        for (size_t i = 0; i < p->n_placements; i++) {
                const lf_sched_placement *pl = &p->placements[i];
                if (seen[pl->vm]++)
                        FAILF(seed, mode, "%s appears twice", s->vms[pl->vm].name);
                if (s->vms[pl->vm].host != -1)
                        FAILF(seed, mode, "%s placed but was not pending", s->vms[pl->vm].name);
                if (pl->start_at_s != (int64_t)i / pol->boot_batch * pol->boot_stagger_s)
                        FAILF(seed, mode, "placement %zu starts at %lld", i,
                              (long long)pl->start_at_s);
        }
        for (size_t i = 0; i < p->n_migrations; i++) {
                const lf_sched_migration *m = &p->migrations[i];
                const lf_sched_vm *v = &s->vms[m->vm];
                if (seen[m->vm]++)
                        FAILF(seed, mode, "%s appears twice", v->name);
                if (v->pinned)
                        FAILF(seed, mode, "pinned %s is migrated", v->name);
                if (m->from != v->host)
                        FAILF(seed, mode, "%s migrated from %s but is on another host", v->name,
                              s->hosts[m->from].name);
                lf_host_state from_state = s->hosts[m->from].state;
                if (m->reason == LF_REASON_MAINTENANCE ? from_state != LF_HOST_MAINTENANCE
                                                       : from_state != LF_HOST_UP)
                        FAILF(seed, mode, "%s migrated from a %s host for %s", v->name,
                              lf_host_state_to_string(from_state),
                              lf_sched_reason_to_string(m->reason));
                if (m->reason != LF_REASON_MAINTENANCE && v->last_migrated != LF_TIME_NONE &&
                    s->time - v->last_migrated < pol->migration_hold_s)
                        FAILF(seed, mode, "%s moved again within the hold", v->name);
                if (mode == LF_SCHED_PLACE)
                        FAILF(seed, mode, "place mode migrates %s", v->name);
        }
        if (p->n_power_on + p->n_power_off > 1)
                FAILF(seed, mode, "%zu power actions", p->n_power_on + p->n_power_off);
        if (p->n_power_on + p->n_power_off > 0 && mode != LF_SCHED_ENERGY && mode != LF_SCHED_AUTO)
                FAILF(seed, mode, "power action outside energy saving");
        for (size_t i = 0; i < p->n_power_on; i++) {
                if (s->hosts[p->power_on[i]].state != LF_HOST_OFF)
                        FAILF(seed, mode, "powers on %s, which is not off",
                              s->hosts[p->power_on[i]].name);
                if (s->hosts[p->power_on[i]].powering_on)
                        FAILF(seed, mode, "powers on %s, which is already powering on",
                              s->hosts[p->power_on[i]].name);
        }

        /* Replay in the order the engine decided: evacuations, placements, the rest. Compute
         * moves must leave a hot host for one below cpu_low and keep it below cpu_high. */
        load_init(&l, s);
        for (size_t i = 0; i < p->n_migrations; i++)
                if (p->migrations[i].reason == LF_REASON_MAINTENANCE)
                        arrive(seed, mode, s, p, &l, p->migrations[i].vm, p->migrations[i].from,
                               p->migrations[i].to);
        for (size_t i = 0; i < p->n_placements; i++)
                arrive(seed, mode, s, p, &l, p->placements[i].vm, -1, p->placements[i].host);
        for (size_t i = 0; i < p->n_migrations; i++) {
                const lf_sched_migration *m = &p->migrations[i];
                const lf_sched_vm *v = &s->vms[m->vm];
                double before_from = l.util[m->from], before_to = l.util[m->to];
                if (m->reason == LF_REASON_MAINTENANCE)
                        continue;
                arrive(seed, mode, s, p, &l, m->vm, m->from, m->to);
                if (m->reason == LF_REASON_COMPUTE &&
                    (before_from < pol->cpu_high - 1e-6 || before_to >= pol->cpu_low + 1e-6 ||
                     l.util[m->to] >= pol->cpu_high + 1e-6 ||
                     v->cpu_cores >= (double)v->vcpus * pol->cpu_high / 100))
                        FAILF(seed, mode, "compute move of %s: %g%% -> %g%% (now %g%%)", v->name,
                              before_from, before_to, l.util[m->to]);
                if (m->reason == LF_REASON_ENERGY &&
                    (p->n_power_off != 1 || p->power_off[0] != m->from ||
                     l.util[m->to] >= pol->cpu_high + 1e-6))
                        FAILF(seed, mode, "energy move of %s not emptying the host powered off",
                              v->name);
        }
        for (size_t i = 0; i < p->n_power_off; i++)
                if (l.vms[p->power_off[i]] != 0)
                        FAILF(seed, mode, "powers off %s with %lld VMs still on it",
                              s->hosts[p->power_off[i]].name, (long long)l.vms[p->power_off[i]]);
        load_done(&l);
}

/* Up hosts' VM counts after the plan. */
static void spread_after(const lf_snapshot *s, int64_t *ret_min, int64_t *ret_max) {
        _cleanup_free_ int64_t *n = calloc(s->n_hosts + 1, sizeof(int64_t));
        int64_t mn = INT64_MAX, mx = -1;
        ASSERT_TRUE(n);
        for (size_t i = 0; i < s->n_vms; i++)
                if (s->vms[i].host >= 0)
                        n[s->vms[i].host]++;
        for (size_t i = 0; i < s->n_hosts; i++)
                if (s->hosts[i].state == LF_HOST_UP) {
                        mn = n[i] < mn ? n[i] : mn;
                        mx = n[i] > mx ? n[i] : mx;
                }
        *ret_min = mn;
        *ret_max = mx;
}

/* When memory balance can always even the counts out (proof in the test below): with U the up
 * hosts and N every VM that may end up on them (pending, on up hosts, on maintenance hosts),
 * K = ceil(N / |U|): no VM on an up host is pinned or within its migration hold, each up host
 * has max_vms unset or >= K and room for K of the largest VM, memory balance is due and no
 * host is powering on. */
static bool balance_possible(const lf_snapshot *s) {
        int64_t up = 0, n = 0, biggest = 0;
        if (s->last_run[LF_SCHED_MEMORY] != LF_TIME_NONE &&
            s->time - s->last_run[LF_SCHED_MEMORY] < s->policy.min_interval_s)
                return false;
        for (size_t i = 0; i < s->n_hosts; i++) {
                up += s->hosts[i].state == LF_HOST_UP;
                if (s->hosts[i].powering_on) /* memory balance waits for it */
                        return false;
        }
        if (up == 0)
                return false;
        for (size_t i = 0; i < s->n_vms; i++) {
                const lf_sched_vm *v = &s->vms[i];
                lf_host_state st = v->host >= 0 ? s->hosts[v->host].state : LF_HOST_UP;
                if (st == LF_HOST_OFF || st == LF_HOST_FAILED)
                        continue;
                n++;
                biggest = v->mem_mb > biggest ? v->mem_mb : biggest;
                if (v->host >= 0 && st == LF_HOST_UP &&
                    (v->pinned || (v->last_migrated != LF_TIME_NONE &&
                                   s->time - v->last_migrated < s->policy.migration_hold_s)))
                        return false;
        }
        int64_t k = (n + up - 1) / up;
        for (size_t i = 0; i < s->n_hosts; i++) {
                const lf_sched_host *h = &s->hosts[i];
                if (h->state != LF_HOST_UP)
                        continue;
                if ((h->max_vms >= 0 && h->max_vms < k) || h->mem_mb - h->reserved_mb < k * biggest)
                        return false;
        }
        return true;
}

TEST(any_plan_keeps_the_rules) {
        for (uint64_t seed = 1; seed <= CASES; seed++)
                for (lf_sched_mode mode = 0; mode < _LF_SCHED_MODE_MAX; mode++) {
                        _cleanup_snapshot_ lf_snapshot *s = gen(seed, GEN_ANY);
                        _cleanup_plan_sched_ lf_plan_sched *p = NULL;
                        ASSERT_EQ(lf_schedule(s, mode, &p), 0);
                        check_plan(seed, mode, s, p);
                        ASSERT_EQ(lf_snapshot_apply(s, p), 0);
                        lf_diag d = {};
                        if (lf_snapshot_check(s, "applied", &d) < 0)
                                FAILF(seed, mode, "applying the plan breaks the snapshot: %s",
                                      d.msgs[0]);
                }
}

/* Proof sketch for balance_possible(): the largest VM always fits on an emptiest host (it has
 * at most K - 1 VMs), so placements and evacuations go to an emptiest host and never widen the
 * spread past one; the fullest host then holds only original, movable VMs, and each move from
 * the fullest to the emptiest lowers the excess until the spread is at most one. */
TEST(memory_plan_spread_at_most_one) {
        int possible = 0;
        for (uint64_t seed = 1; seed <= CASES; seed++)
                for (int kind = GEN_ANY; kind <= GEN_ROOMY; kind++) {
                        _cleanup_snapshot_ lf_snapshot *s = gen(seed, (gen_kind)kind);
                        _cleanup_plan_sched_ lf_plan_sched *p = NULL;
                        bool can = balance_possible(s);
                        int64_t mn, mx;

                        ASSERT_EQ(lf_schedule(s, LF_SCHED_MEMORY, &p), 0);
                        check_plan(seed, LF_SCHED_MEMORY, s, p);
                        ASSERT_EQ(lf_snapshot_apply(s, p), 0);
                        spread_after(s, &mn, &mx);
                        if (can && mx - mn > 1)
                                FAILF(seed, LF_SCHED_MEMORY, "spread %lld after the plan",
                                      (long long)(mx - mn));
                        possible += can;
                }
        /* The property must not hold vacuously. */
        ASSERT_TRUE(possible >= CASES / 2);
}

/* Headroom as the cluster stands after a plan: free slots on up hosts + slots of hosts still
 * powering on - VMs still waiting; *ret_short when that is below the reserve or more VMs wait
 * than the hosts powering on have room for; *ret_wakeable when a host that is off, not
 * powering on, has room for a VM. */
static int64_t headroom_after(const lf_snapshot *s, bool *ret_short, bool *ret_wakeable) {
        _cleanup_free_ int64_t *vms = calloc(s->n_hosts + 1, sizeof(int64_t));
        _cleanup_free_ int64_t *used = calloc(s->n_hosts + 1, sizeof(int64_t));
        int64_t typical = lf_sched_typical_vm_mb(s), coming = 0, waiting = 0;
        bool wakeable = false;

        ASSERT_TRUE(vms && used);
        for (size_t i = 0; i < s->n_vms; i++) {
                if (s->vms[i].host < 0)
                        waiting++;
                else {
                        vms[s->vms[i].host]++;
                        used[s->vms[i].host] += s->vms[i].mem_mb;
                }
        }
        for (size_t i = 0; i < s->n_hosts; i++) {
                int64_t sl = lf_sched_host_slots(&s->hosts[i], vms[i], used[i], typical);
                if (s->hosts[i].state != LF_HOST_OFF)
                        continue;
                if (s->hosts[i].powering_on)
                        coming += sl;
                else
                        wakeable |= sl > 0;
        }
        int64_t h = lf_snapshot_free_slots(s) + coming - waiting;
        *ret_short = waiting > coming || h < s->policy.reserve_vm_slots;
        *ret_wakeable = wakeable;
        return h;
}

/* Energy mode wakes a host exactly when capacity is short (free slots, counting the hosts
 * already powering on and the VMs still waiting, below the reserve, or VMs waiting beyond what
 * is coming) and a host can be woken; it powers off only when the headroom stays at the
 * reserve; and it never wakes a host that is already powering on (check_plan()). */
TEST(energy_keeps_the_reserve_while_a_host_is_off) {
        int woken = 0, power_offs = 0, covered = 0;
        for (uint64_t seed = 1; seed <= CASES; seed++) {
                _cleanup_snapshot_ lf_snapshot *s = gen(seed, GEN_ANY);
                _cleanup_plan_sched_ lf_plan_sched *p = NULL;
                bool can_wake, coming = false, short_after, wakeable;
                int64_t reserve = s->policy.reserve_vm_slots;

                for (size_t i = 0; i < s->n_hosts; i++)
                        coming |= s->hosts[i].powering_on;
                headroom_after(s, &short_after, &can_wake);
                ASSERT_EQ(lf_schedule(s, LF_SCHED_ENERGY, &p), 0);
                check_plan(seed, LF_SCHED_ENERGY, s, p);
                ASSERT_EQ(lf_snapshot_apply(s, p), 0);
                int64_t h = headroom_after(s, &short_after, &wakeable);
                if (p->n_power_off > 0 && (short_after || lf_snapshot_free_slots(s) < reserve))
                        FAILF(seed, LF_SCHED_ENERGY, "powered off leaving headroom %lld < %lld",
                              (long long)h, (long long)reserve);
                if (can_wake && short_after && p->n_power_on == 0)
                        FAILF(seed, LF_SCHED_ENERGY,
                              "headroom %lld < %lld (or VMs waiting), a host is off, nothing "
                              "powered on",
                              (long long)h, (long long)reserve);
                if (p->n_power_on > 0) {
                        /* Without the host it woke, capacity was short. */
                        int x = p->power_on[0];
                        s->hosts[x].state = LF_HOST_OFF;
                        headroom_after(s, &short_after, &wakeable);
                        if (!short_after)
                                FAILF(seed, LF_SCHED_ENERGY, "powered %s on with room to spare",
                                      s->hosts[x].name);
                }
                woken += p->n_power_on > 0;
                power_offs += p->n_power_off > 0;
                covered += coming && !short_after && p->n_power_on == 0 && p->n_power_off == 0;
        }
        ASSERT_TRUE(woken > 50);
        ASSERT_TRUE(power_offs > 50);
        /* Hosts powering on do stop a power-on now and then. */
        ASSERT_TRUE(covered > 20);
}

/* Auto wakes the same host as energy mode (in class hours too): both decide on the cluster as
 * placement leaves it, before any balancing. Auto may also wake a host energy mode does not:
 * only in class hours, for cpu, when after its moves a host is hot and none is below cpu_low
 * (compute balance has nowhere to move VMs), no host is powering on already, and then the off
 * host with the most cpus of those with room for a VM. */
TEST(auto_wakes_like_energy) {
        int in_class = 0, for_cpu = 0;
        for (uint64_t seed = 1; seed <= CASES; seed++) {
                _cleanup_snapshot_ lf_snapshot *s = gen(seed, GEN_ANY);
                _cleanup_plan_sched_ lf_plan_sched *e = NULL, *a = NULL;
                ASSERT_EQ(lf_schedule(s, LF_SCHED_ENERGY, &e), 0);
                ASSERT_EQ(lf_schedule(s, LF_SCHED_AUTO, &a), 0);
                in_class += lf_snapshot_in_class_hours(s) && a->n_power_on > 0;
                if (e->n_power_on > 0) {
                        if (a->n_power_on != 1 || e->power_on[0] != a->power_on[0])
                                FAILF(seed, LF_SCHED_AUTO, "wakes another host than energy mode");
                        continue;
                }
                if (a->n_power_on == 0)
                        continue;
                for_cpu++;
                if (!lf_snapshot_in_class_hours(s))
                        FAILF(seed, LF_SCHED_AUTO, "wakes a host for cpu outside class hours");
                load l;
                load_init(&l, s);
                for (size_t i = 0; i < a->n_placements; i++)
                        arrive(seed, LF_SCHED_AUTO, s, a, &l, a->placements[i].vm, -1,
                               a->placements[i].host);
                for (size_t i = 0; i < a->n_migrations; i++)
                        arrive(seed, LF_SCHED_AUTO, s, a, &l, a->migrations[i].vm,
                               a->migrations[i].from, a->migrations[i].to);
                bool hot = false, cool = false;
                int64_t most = -1;
                for (size_t i = 0; i < s->n_hosts; i++) {
                        const lf_sched_host *h = &s->hosts[i];
                        if (h->state == LF_HOST_UP) {
                                hot |= l.util[i] >= s->policy.cpu_high - 1e-6;
                                cool |= l.util[i] < s->policy.cpu_low - 1e-6;
                        }
                        if (h->powering_on)
                                FAILF(seed, LF_SCHED_AUTO, "wakes a host for cpu while %s boots",
                                      h->name);
                        if (h->state == LF_HOST_OFF && h->cpus > most &&
                            lf_sched_host_slots(h, l.vms[i], l.used[i], lf_sched_typical_vm_mb(s)) >
                                    0)
                                most = h->cpus;
                }
                load_done(&l);
                if (!hot || cool)
                        FAILF(seed, LF_SCHED_AUTO,
                              "wakes a host for cpu with %s host hot and %s host cool",
                              hot ? "a" : "no", cool ? "a" : "no");
                if (s->hosts[a->power_on[0]].cpus != most)
                        FAILF(seed, LF_SCHED_AUTO, "wakes %s, not an off host with the most cpus",
                              s->hosts[a->power_on[0]].name);
        }
        ASSERT_TRUE(in_class > 20);
        ASSERT_TRUE(for_cpu > 5);
}

/* The same snapshot with hosts and VMs in reverse order. */
static lf_snapshot *reversed(const lf_snapshot *s) {
        lf_snapshot *r = lf_snapshot_new();
        ASSERT_TRUE(r);
        r->time = s->time;
        r->policy = s->policy;
        memcpy(r->last_run, s->last_run, sizeof(r->last_run));
        for (size_t i = s->n_hosts; i-- > 0;)
                ASSERT_TRUE(lf_snapshot_add_host(r, &s->hosts[i]) >= 0);
        for (size_t i = s->n_vms; i-- > 0;) {
                lf_sched_vm v = s->vms[i];
                v.host = v.host >= 0 ? (int)s->n_hosts - 1 - v.host : -1;
                ASSERT_TRUE(lf_snapshot_add_vm(r, &v) >= 0);
        }
        return r;
}

/* The plan depends on names, not on the order of hosts and VMs in the snapshot: same bytes. */
TEST(order_does_not_matter) {
        for (uint64_t seed = 1; seed <= CASES / 3; seed++) {
                _cleanup_snapshot_ lf_snapshot *s = gen(seed, GEN_ANY);
                _cleanup_snapshot_ lf_snapshot *r = reversed(s);
                lf_sched_mode mode = (lf_sched_mode)(seed % _LF_SCHED_MODE_MAX);
                _cleanup_plan_sched_ lf_plan_sched *p1 = NULL, *p2 = NULL;
                _cleanup_json_ json_object *j1 = NULL, *j2 = NULL;
                ASSERT_EQ(lf_schedule(s, mode, &p1), 0);
                ASSERT_EQ(lf_schedule(r, mode, &p2), 0);
                ASSERT_EQ(lf_sched_plan_to_json(p1, s, true, &j1), 0);
                ASSERT_EQ(lf_sched_plan_to_json(p2, r, true, &j2), 0);
                _cleanup_free_ char *a = lf_json_to_string(j1), *b = lf_json_to_string(j2);
                if (!streq(a, b))
                        FAILF(seed, mode, "reversed snapshot gives another plan");
        }
}

/* The scheduling engine of DESIGN §6: placement, maintenance evacuation, memory, compute and
 * energy balancing as a pure function from a snapshot to an explained plan. No I/O. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "scheduler.h"
#include "units.h"

/* Where each host stands as the plan is built. */
typedef struct hstate {
        int64_t vms, used_mb, cap_mb; /* cap: mem_mb - reserved_mb */
        double util;                  /* predicted cpu_util: measured, moved VMs' shares applied */
        bool usable;                  /* up, and not being powered off by this plan */
        bool received;                /* got a VM in this plan */
} hstate;

typedef struct sched sched;
typedef bool (*before_fn)(const sched *sc, int a, int b);

/* A binary heap of host indices that knows where each host sits, so a host whose numbers
 * changed moves in O(log n). */
typedef struct heap {
        const sched *sc;
        before_fn before;
        int *a;
        int *pos; /* per host; -1 when not in the heap */
        size_t n;
} heap;

struct sched {
        const lf_snapshot *s;
        const lf_sched_policy *p;
        lf_plan_sched *plan;
        size_t cap_pl, cap_mig, cap_fail, cap_exp, cap_on, cap_off;
        hstate *h;
        int *vm_host;     /* where each VM is as the plan stands */
        bool *vm_planned; /* placed or migrated by this plan: not moved again */
        int *on_host;     /* VM indices grouped by snapshot host, by name within a host */
        size_t *on_start; /* n_hosts + 1 offsets into on_host */
        int *vms_by_name;
        int *hosts_by_name;
        int *scratch_h; /* n_hosts ints for ordered walks over a heap */
        int *scratch_v; /* n_vms ints */
        int64_t typical_mb;
        int64_t min_vm_mb; /* the smallest VM: hosts without this much free take nothing */
        size_t n_place_failures;
        heap emptier;     /* hosts that can take a VM, fewest VMs first (placement's order) */
        uint64_t version; /* bumped by every move, to reuse the last "no room" reason */
        uint64_t why_version;
        int64_t why_mem;
        char why[320];
        char hold[32]; /* migration_hold_s in words ("2 h") */
        int oom;
};

#define HN(sc, i) ((sc)->s->hosts[i].name)
#define VM(sc, i) (&(sc)->s->vms[i])

/* --- Small formatting helpers for explanations --- */

/* A number with at most one decimal and no trailing ".0" ("91", "0.3"). */
static const char *num(char buf[static 32], double v) {
        snprintf(buf, 32, "%.1f", fabs(v) < 0.05 ? 0.0 : v);
        size_t n = strlen(buf);
        if (n > 2 && streq(buf + n - 2, ".0"))
                buf[n - 2] = 0;
        return buf;
}

/* Cores need finer steps: up to two decimals ("0.25", "1.5"). */
static const char *cores(char buf[static 32], double v) {
        snprintf(buf, 32, "%.2f", v);
        size_t n = strlen(buf);
        while (n > 1 && buf[n - 1] == '0')
                buf[--n] = 0;
        if (n > 1 && buf[n - 1] == '.')
                buf[--n] = 0;
        return buf;
}

static const char *duration(char buf[static 32], int64_t s) {
        if (s % 3600 == 0 && s >= 3600)
                snprintf(buf, 32, "%lld h", (long long)(s / 3600));
        else if (s >= 3600)
                snprintf(buf, 32, "%lld h %lld min", (long long)(s / 3600),
                         (long long)(s % 3600 / 60));
        else if (s % 60 == 0 && s >= 60)
                snprintf(buf, 32, "%lld min", (long long)(s / 60));
        else if (s >= 60)
                snprintf(buf, 32, "%lld min %lld s", (long long)(s / 60), (long long)(s % 60));
        else
                snprintf(buf, 32, "%lld s", (long long)s);
        return buf;
}

static const char *plural(int64_t n, const char *one, const char *many) {
        return n == 1 ? one : many;
}

/* --- Building the plan --- */

static int push(void **a, size_t *n, size_t *cap, size_t sz, const void *item) {
        if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 16;
                void *na = realloc(*a, c * sz);
                if (!na)
                        return -ENOMEM;
                *a = na;
                *cap = c;
        }
        memcpy((char *)*a + *n * sz, item, sz);
        (*n)++;
        return 0;
}

#define PUSH(sc, arr, n, cap, item)                                                                \
        do {                                                                                       \
                if (push((void **)&(arr), &(n), &(cap), sizeof(*(arr)), &(item)) < 0)              \
                        (sc)->oom = -ENOMEM;                                                       \
        } while (0)

_printf_(3, 0) static void vsay(sched *sc, char **ret_line, const char *fmt, va_list ap) {
        char *line = NULL;
        if (vasprintf(&line, fmt, ap) < 0) {
                sc->oom = -ENOMEM;
                return;
        }
        PUSH(sc, sc->plan->explain, sc->plan->n_explain, sc->cap_exp, line);
        if (sc->oom) {
                free(line);
                return;
        }
        if (ret_line)
                *ret_line = line;
}

/* Adds one line to the explanation. */
_printf_(2, 3) static void say(sched *sc, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsay(sc, NULL, fmt, ap);
        va_end(ap);
}

/* Records a VM that could not be placed or evacuated; the line also goes to the explanation. */
_printf_(3, 4) static void fail(sched *sc, int vm, const char *fmt, ...) {
        char *line = NULL;
        va_list ap;
        va_start(ap, fmt);
        vsay(sc, &line, fmt, ap);
        va_end(ap);
        if (!line)
                return;
        lf_sched_failure f = {vm, strdup(line)};
        if (!f.reason) {
                sc->oom = -ENOMEM;
                return;
        }
        PUSH(sc, sc->plan->failures, sc->plan->n_failures, sc->cap_fail, f);
        if (sc->oom)
                free(f.reason);
}

/* --- Host state --- */

static double share(const sched *sc, int host, int vm) {
        return VM(sc, vm)->cpu_cores * 100.0 / (double)sc->s->hosts[host].cpus;
}

static int64_t free_mb(const sched *sc, int host) {
        return sc->h[host].cap_mb - sc->h[host].used_mb;
}

static int64_t slots(const sched *sc, int host) {
        return lf_sched_host_slots(&sc->s->hosts[host], sc->h[host].vms, sc->h[host].used_mb,
                                   sc->typical_mb);
}

static bool fits(const sched *sc, int host, int vm) {
        const hstate *h = &sc->h[host];
        int64_t max = sc->s->hosts[host].max_vms;
        return h->usable && (max < 0 || h->vms < max) &&
               h->used_mb + VM(sc, vm)->mem_mb <= h->cap_mb;
}

static bool cpu_ok(const sched *sc, int host, int vm) {
        return sc->h[host].util + share(sc, host, vm) < sc->p->cpu_high;
}

static void track(sched *sc, int host);
static void power(sched *sc, int host, bool on);

/* Moves a VM in the working state only (trials use it too, and undo it). */
static void shift(sched *sc, int vm, int to) {
        int from = sc->vm_host[vm];
        if (from >= 0) {
                sc->h[from].vms--;
                sc->h[from].used_mb -= VM(sc, vm)->mem_mb;
                sc->h[from].util -= share(sc, from, vm);
        }
        if (to >= 0) {
                sc->h[to].vms++;
                sc->h[to].used_mb += VM(sc, vm)->mem_mb;
                sc->h[to].util += share(sc, to, vm);
        }
        sc->vm_host[vm] = to;
        sc->version++;
        if (from >= 0)
                track(sc, from);
        if (to >= 0)
                track(sc, to);
}

static bool held(const sched *sc, int vm) {
        int64_t t = VM(sc, vm)->last_migrated;
        return t != LF_TIME_NONE && sc->s->time - t < sc->p->migration_hold_s;
}

/* Whether a VM on a host that stays up may be migrated at all. */
static bool movable(const sched *sc, int vm) {
        return !sc->vm_planned[vm] && !VM(sc, vm)->pinned && !held(sc, vm);
}

/* --- Heaps --- */

static void heap_swap(heap *hp, size_t i, size_t j) {
        int t = hp->a[i];
        hp->a[i] = hp->a[j];
        hp->a[j] = t;
        hp->pos[hp->a[i]] = (int)i;
        hp->pos[hp->a[j]] = (int)j;
}

static void heap_up(heap *hp, size_t i) {
        while (i > 0) {
                size_t parent = (i - 1) / 2;
                if (!hp->before(hp->sc, hp->a[i], hp->a[parent]))
                        break;
                heap_swap(hp, i, parent);
                i = parent;
        }
}

static void heap_down(heap *hp, size_t i) {
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < hp->n && hp->before(hp->sc, hp->a[l], hp->a[m]))
                        m = l;
                if (r < hp->n && hp->before(hp->sc, hp->a[r], hp->a[m]))
                        m = r;
                if (m == i)
                        return;
                heap_swap(hp, i, m);
                i = m;
        }
}

static int heap_init(heap *hp, const sched *sc, before_fn before) {
        size_t n = sc->s->n_hosts ? sc->s->n_hosts : 1;
        *hp = (heap){.sc = sc,
                     .before = before,
                     .a = calloc(n, sizeof(int)),
                     .pos = malloc(n * sizeof(int))};
        if (!hp->a || !hp->pos)
                return -ENOMEM;
        memset(hp->pos, 0xff, n * sizeof(int));
        return 0;
}

static void heap_done(heap *hp) {
        free(hp->a);
        free(hp->pos);
}

static void heap_push(heap *hp, int x) {
        if (hp->pos[x] >= 0)
                return;
        hp->a[hp->n] = x;
        hp->pos[x] = (int)hp->n++;
        heap_up(hp, hp->n - 1);
}

static void heap_remove(heap *hp, int x) {
        int i = hp->pos[x];
        if (i < 0)
                return;
        hp->pos[x] = -1;
        if ((size_t)i != --hp->n) {
                int y = hp->a[hp->n];
                hp->a[i] = y;
                hp->pos[y] = i;
                heap_up(hp, (size_t)i);
                heap_down(hp, (size_t)hp->pos[y]);
        }
}

static void heap_update(heap *hp, int x) {
        if (hp->pos[x] < 0)
                return;
        heap_up(hp, (size_t)hp->pos[x]);
        heap_down(hp, (size_t)hp->pos[x]);
}

static int heap_pop(heap *hp) {
        if (hp->n == 0)
                return -1;
        int x = hp->a[0];
        heap_remove(hp, x);
        return x;
}

/* Keeps the emptier heap to the hosts that could take the smallest VM, so full hosts cost
 * nothing in the searches. Called whenever a host's numbers or usability change. */
static void track(sched *sc, int host) {
        const hstate *h = &sc->h[host];
        int64_t max = sc->s->hosts[host].max_vms;
        if (h->usable && (max < 0 || h->vms < max) && free_mb(sc, host) >= sc->min_vm_mb) {
                heap_push(&sc->emptier, host);
                heap_update(&sc->emptier, host);
        } else
                heap_remove(&sc->emptier, host);
}

/* --- Orders (every one ends with the name, so ties are broken the same way every time) --- */

static int name_cmp(const sched *sc, int a, int b) {
        return strcmp(HN(sc, a), HN(sc, b));
}

/* Placement's order (DESIGN §6): fewest VMs, then most free memory, then name. */
static bool emptier(const sched *sc, int a, int b) {
        if (sc->h[a].vms != sc->h[b].vms)
                return sc->h[a].vms < sc->h[b].vms;
        if (free_mb(sc, a) != free_mb(sc, b))
                return free_mb(sc, a) > free_mb(sc, b);
        return name_cmp(sc, a, b) < 0;
}

static bool fuller(const sched *sc, int a, int b) {
        if (sc->h[a].vms != sc->h[b].vms)
                return sc->h[a].vms > sc->h[b].vms;
        if (free_mb(sc, a) != free_mb(sc, b))
                return free_mb(sc, a) < free_mb(sc, b);
        return name_cmp(sc, a, b) < 0;
}

static bool cooler(const sched *sc, int a, int b) {
        if (sc->h[a].util != sc->h[b].util)
                return sc->h[a].util < sc->h[b].util;
        return name_cmp(sc, a, b) < 0;
}

static int vm_name_cmp(const void *a, const void *b, void *arg) {
        const sched *sc = arg;
        return strcmp(VM(sc, *(const int *)a)->name, VM(sc, *(const int *)b)->name);
}

/* Biggest first: evacuations place the hard ones while there is most room. */
static int vm_mem_desc_cmp(const void *a, const void *b, void *arg) {
        const sched *sc = arg;
        int64_t x = VM(sc, *(const int *)a)->mem_mb, y = VM(sc, *(const int *)b)->mem_mb;
        return x != y ? (x < y) - (x > y) : vm_name_cmp(a, b, arg);
}

static int vm_lightest_cmp(const void *a, const void *b, void *arg) {
        const sched *sc = arg;
        const lf_sched_vm *x = VM(sc, *(const int *)a), *y = VM(sc, *(const int *)b);
        if (x->cpu_cores != y->cpu_cores)
                return x->cpu_cores < y->cpu_cores ? -1 : 1;
        if (x->mem_mb != y->mem_mb)
                return x->mem_mb < y->mem_mb ? -1 : 1;
        return strcmp(x->name, y->name);
}

static int host_name_cmp(const void *a, const void *b, void *arg) {
        return name_cmp(arg, *(const int *)a, *(const int *)b);
}

static int host_hottest_cmp(const void *a, const void *b, void *arg) {
        const sched *sc = arg;
        int x = *(const int *)a, y = *(const int *)b;
        if (sc->h[x].util != sc->h[y].util)
                return sc->h[x].util > sc->h[y].util ? -1 : 1;
        return name_cmp(sc, x, y);
}

/* Energy's order of hosts to empty: fewest VMs, then least memory to move, then name. */
static int host_lightest_cmp(const void *a, const void *b, void *arg) {
        const sched *sc = arg;
        int x = *(const int *)a, y = *(const int *)b;
        if (sc->h[x].vms != sc->h[y].vms)
                return sc->h[x].vms < sc->h[y].vms ? -1 : 1;
        if (sc->h[x].used_mb != sc->h[y].used_mb)
                return sc->h[x].used_mb < sc->h[y].used_mb ? -1 : 1;
        return name_cmp(sc, x, y);
}

/* The VMs the snapshot put on a host that are still there, copied to scratch_v. */
static size_t vms_on(sched *sc, int host) {
        size_t n = 0;
        for (size_t i = sc->on_start[host]; i < sc->on_start[host + 1]; i++)
                if (sc->vm_host[sc->on_host[i]] == host)
                        sc->scratch_v[n++] = sc->on_host[i];
        return n;
}

/* --- Choosing a host --- */

/* The first host in hp's order that fits vm (and keeps cpu below cpu_high when asked): the top
 * in the common case, else a scan. -1 if none. */
static int best_host(const sched *sc, const heap *hp, int vm, bool check_cpu) {
        int best = -1;
        if (hp->n > 0 && fits(sc, hp->a[0], vm) && (!check_cpu || cpu_ok(sc, hp->a[0], vm)))
                return hp->a[0];
        for (size_t i = 1; i < hp->n; i++) {
                int x = hp->a[i];
                if (fits(sc, x, vm) && (!check_cpu || cpu_ok(sc, x, vm)) &&
                    (best < 0 || hp->before(sc, x, best)))
                        best = x;
        }
        return best;
}

/* Why no up host can take vm, for failures. */
static void why_no_room(sched *sc, int vm, int except, char *buf, size_t len) {
        int64_t up = 0, at_max = 0, short_mem = 0;
        int most = -1;

        /* An over-full cluster fails VM after VM with nothing changing in between. */
        if (except < 0 && sc->why_version == sc->version && sc->why_mem == VM(sc, vm)->mem_mb &&
            sc->why[0]) {
                snprintf(buf, len, "%s", sc->why);
                return;
        }
        for (size_t i = 0; i < sc->s->n_hosts; i++) {
                int x = (int)i;
                if (!sc->h[x].usable || x == except)
                        continue;
                up++;
                if (sc->s->hosts[x].max_vms >= 0 && sc->h[x].vms >= sc->s->hosts[x].max_vms)
                        at_max++;
                else if (free_mb(sc, x) < VM(sc, vm)->mem_mb)
                        short_mem++;
                if (most < 0 || free_mb(sc, x) > free_mb(sc, most) ||
                    (free_mb(sc, x) == free_mb(sc, most) && name_cmp(sc, x, most) < 0))
                        most = x;
        }
        if (up == 0) {
                snprintf(buf, len, "no %shost is up", except >= 0 ? "other " : "");
                return;
        }
        snprintf(buf, len,
                 "none of the %lld %sup %s has %lld MiB free and a free VM slot (%lld at "
                 "max_vms, %lld short of memory; most free: %s with %lld MiB)",
                 (long long)up, except >= 0 ? "other " : "", plural(up, "host", "hosts"),
                 (long long)VM(sc, vm)->mem_mb, (long long)at_max, (long long)short_mem,
                 HN(sc, most), (long long)(free_mb(sc, most) > 0 ? free_mb(sc, most) : 0));
        if (except < 0) {
                snprintf(sc->why, sizeof(sc->why), "%s", buf);
                sc->why_version = sc->version;
                sc->why_mem = VM(sc, vm)->mem_mb;
        }
}

static void migrate(sched *sc, int vm, int to, lf_sched_reason reason) {
        lf_sched_migration m = {vm, sc->vm_host[vm], to, reason};
        PUSH(sc, sc->plan->migrations, sc->plan->n_migrations, sc->cap_mig, m);
        shift(sc, vm, to);
        sc->vm_planned[vm] = true;
        sc->h[to].received = true;
}

/* --- Maintenance: evacuate, ignoring the migration hold (DESIGN §6) --- */

static void evacuate_maintenance(sched *sc) {
        for (size_t k = 0; k < sc->s->n_hosts; k++) {
                int host = sc->hosts_by_name[k];
                if (sc->s->hosts[host].state != LF_HOST_MAINTENANCE)
                        continue;
                size_t n = vms_on(sc, host), moved = 0, stuck = 0;
                if (n == 0)
                        continue;
                qsort_r(sc->scratch_v, n, sizeof(int), vm_mem_desc_cmp, sc);
                say(sc, "%s is in maintenance: evacuating its %zu %s", HN(sc, host), n,
                    plural((int64_t)n, "VM", "VMs"));
                for (size_t i = 0; i < n; i++) {
                        int vm = sc->scratch_v[i];
                        char why[320];
                        if (VM(sc, vm)->pinned) {
                                fail(sc, vm,
                                     "%s is pinned to %s, which is in maintenance: it stays; "
                                     "unpin or stop it to finish the evacuation",
                                     VM(sc, vm)->name, HN(sc, host));
                                stuck++;
                                continue;
                        }
                        int to = best_host(sc, &sc->emptier, vm, false);
                        if (to < 0) {
                                why_no_room(sc, vm, -1, why, sizeof(why));
                                fail(sc, vm, "cannot evacuate %s (%lld MiB) from %s: %s",
                                     VM(sc, vm)->name, (long long)VM(sc, vm)->mem_mb, HN(sc, host),
                                     why);
                                stuck++;
                                continue;
                        }
                        say(sc,
                            "moving %s (%lld MiB) from %s to %s: fewest VMs (%lld) of the "
                            "up hosts with room, %lld MiB free%s%s%s",
                            VM(sc, vm)->name, (long long)VM(sc, vm)->mem_mb, HN(sc, host),
                            HN(sc, to), (long long)sc->h[to].vms, (long long)free_mb(sc, to),
                            held(sc, vm) ? " (it moved less than " : "",
                            held(sc, vm) ? sc->hold : "",
                            held(sc, vm) ? " ago, but evacuation comes first)" : "");
                        migrate(sc, vm, to, LF_REASON_MAINTENANCE);
                        moved++;
                }
                if (stuck)
                        say(sc, "%s stays in maintenance with %zu %s on it", HN(sc, host), stuck,
                            plural((int64_t)stuck, "VM", "VMs"));
        }
}

/* --- Placement of pending VMs, with staggered starts --- */

static void place_pending(sched *sc) {
        int64_t started = 0;
        bool told = false;
        for (size_t k = 0; k < sc->s->n_vms; k++) {
                int vm = sc->vms_by_name[k];
                char why[320];
                if (sc->vm_host[vm] >= 0)
                        continue;
                if (!told)
                        say(sc, "placement: each pending VM, by name, goes to the up host with the "
                                "fewest VMs that has its memory free and a VM slot; ties go to "
                                "the most free memory, then the name");
                told = true;
                int to = best_host(sc, &sc->emptier, vm, false);
                if (to < 0) {
                        why_no_room(sc, vm, -1, why, sizeof(why));
                        fail(sc, vm, "cannot place %s (%lld MiB): %s", VM(sc, vm)->name,
                             (long long)VM(sc, vm)->mem_mb, why);
                        sc->n_place_failures++;
                        continue;
                }
                lf_sched_placement pl = {vm, to,
                                         started / sc->p->boot_batch * sc->p->boot_stagger_s};
                say(sc,
                    "placing %s (%lld MiB) on %s: fewest VMs (%lld) of the up hosts with "
                    "room, %lld MiB free; starts at +%lld s",
                    VM(sc, vm)->name, (long long)VM(sc, vm)->mem_mb, HN(sc, to),
                    (long long)sc->h[to].vms, (long long)free_mb(sc, to), (long long)pl.start_at_s);
                PUSH(sc, sc->plan->placements, sc->plan->n_placements, sc->cap_pl, pl);
                shift(sc, vm, to);
                sc->vm_planned[vm] = true;
                sc->h[to].received = true;
                started++;
        }
        if (started > 1 && sc->p->boot_stagger_s > 0)
                say(sc,
                    "starts are staggered: at most %lld %s every %lld s, so the %lld new VMs "
                    "do not all boot against the storage at once",
                    (long long)sc->p->boot_batch, plural(sc->p->boot_batch, "VM", "VMs"),
                    (long long)sc->p->boot_stagger_s, (long long)started);
}

/* --- Rate limit: a balancing mode acts at most once per interval --- */

static bool due(sched *sc, lf_sched_mode m, int64_t interval, const char *what) {
        int64_t last = sc->s->last_run[m];
        char ago[32], iv[32], at[LF_TIMESTAMP_LEN + 1], next[LF_TIMESTAMP_LEN + 1];

        if (last == LF_TIME_NONE || sc->s->time - last >= interval)
                return true;
        lf_format_timestamp(last, at, sizeof(at));
        lf_format_timestamp(last + interval, next, sizeof(next));
        say(sc, "%s skipped: it last acted at %s (%s ago) and waits %s between runs; next at %s",
            what, at, duration(ago, sc->s->time - last > 0 ? sc->s->time - last : 0),
            duration(iv, interval), next);
        return false;
}

/* --- Memory balance: VM counts within one of each other, fewest migrations --- */

/* Names the hosts powering on ("kvm03 is", "kvm03 and kvm04 are", "kvm03 and 2 other hosts
 * are"); returns how many there are. */
static size_t coming_names(const sched *sc, char *buf, size_t len) {
        size_t n = 0;
        int first = -1, second = -1;
        for (size_t k = 0; k < sc->s->n_hosts; k++) {
                int x = sc->hosts_by_name[k];
                if (sc->s->hosts[x].state != LF_HOST_OFF || !sc->s->hosts[x].powering_on)
                        continue;
                if (n == 0)
                        first = x;
                else if (n == 1)
                        second = x;
                n++;
        }
        if (n == 1)
                snprintf(buf, len, "%s is", HN(sc, first));
        else if (n == 2)
                snprintf(buf, len, "%s and %s are", HN(sc, first), HN(sc, second));
        else if (n > 2)
                snprintf(buf, len, "%s and %zu other hosts are", HN(sc, first), n - 1);
        return n;
}

/* The fullest and the emptiest usable host (first by name; when every count is the same, the
 * first and the last host); returns how many hosts are usable. */
static size_t spread_of(const sched *sc, int *ret_max, int *ret_min) {
        int mx = -1, mn = -1, last = -1;
        size_t n = 0;
        for (size_t k = 0; k < sc->s->n_hosts; k++) {
                int x = sc->hosts_by_name[k];
                if (!sc->h[x].usable)
                        continue;
                n++;
                last = x;
                if (mx < 0 || sc->h[x].vms > sc->h[mx].vms)
                        mx = x;
                if (mn < 0 || sc->h[x].vms < sc->h[mn].vms)
                        mn = x;
        }
        *ret_max = mx;
        *ret_min = mn == mx ? last : mn;
        return n;
}

/* Lists why none of a host's VMs may move, for the explanation. */
static void why_stuck(sched *sc, size_t n, char *buf, size_t len) {
        size_t used = 0;
        buf[0] = 0;
        for (size_t i = 0; i < n && used + 40 < len; i++) {
                int vm = sc->scratch_v[i];
                const char *why = VM(sc, vm)->pinned   ? "pinned"
                                  : sc->vm_planned[vm] ? "moved in this plan"
                                  : held(sc, vm)       ? "migrated less than "
                                                       : NULL;
                if (!why)
                        continue;
                bool h = !VM(sc, vm)->pinned && !sc->vm_planned[vm];
                used += (size_t)snprintf(buf + used, len - used, "%s%s %s%s%s", used ? ", " : "",
                                         VM(sc, vm)->name, why, h ? sc->hold : "", h ? " ago" : "");
        }
}

/* Of the movable VMs in scratch_v[0..n), the one whose move best evens out free memory
 * between from and to; -1 if none fits on to. */
static int evening_vm(sched *sc, size_t n, int from, int to) {
        int best = -1;
        int64_t best_gap = 0;
        for (size_t i = 0; i < n; i++) {
                int vm = sc->scratch_v[i];
                int64_t m = VM(sc, vm)->mem_mb;
                if (!movable(sc, vm) || !fits(sc, to, vm))
                        continue;
                int64_t gap = llabs((free_mb(sc, from) + m) - (free_mb(sc, to) - m));
                /* Ties: the smaller VM, then the idler one (both migrate faster). */
                if (best < 0 || gap < best_gap ||
                    (gap == best_gap && (m < VM(sc, best)->mem_mb ||
                                         (m == VM(sc, best)->mem_mb &&
                                          VM(sc, vm)->cpu_cores < VM(sc, best)->cpu_cores))))
                        best = vm, best_gap = gap;
        }
        return best;
}

static void balance_memory(sched *sc, int64_t interval) {
        heap full;
        int mx, mn, moves = 0;
        char why[512];

        if (!due(sc, LF_SCHED_MEMORY, interval, "memory balance"))
                return;
        /* Evening out now would leave the booting host nearly empty, and the interval would
         * then keep memory balance from filling it for an hour. */
        if (coming_names(sc, why, sizeof(why)) > 0) {
                say(sc,
                    "memory balance waits: %s powering on, and counts are evened out once "
                    "it is up",
                    why);
                return;
        }
        if (spread_of(sc, &mx, &mn) < 2) {
                say(sc, "memory balance: fewer than two up hosts, nothing to balance");
                return;
        }
        if (sc->h[mx].vms - sc->h[mn].vms <= 1) {
                say(sc,
                    "memory balance: VM counts are even (%s %lld, %s %lld: spread %lld "
                    "≤ 1)",
                    HN(sc, mx), (long long)sc->h[mx].vms, HN(sc, mn), (long long)sc->h[mn].vms,
                    (long long)(sc->h[mx].vms - sc->h[mn].vms));
                return;
        }
        say(sc,
            "memory balance: up hosts hold %lld (%s) to %lld (%s) VMs, a spread of %lld > 1: "
            "moving VMs from the fullest to the emptiest host",
            (long long)sc->h[mn].vms, HN(sc, mn), (long long)sc->h[mx].vms, HN(sc, mx),
            (long long)(sc->h[mx].vms - sc->h[mn].vms));
        if (heap_init(&full, sc, fuller) < 0) {
                sc->oom = -ENOMEM;
                return;
        }
        for (size_t i = 0; i < sc->s->n_hosts; i++)
                if (sc->h[i].usable)
                        heap_push(&full, (int)i);

        while (!sc->oom && full.n > 0) {
                int from = full.a[0], to = -1, vm = -1;
                if (sc->emptier.n == 0 || sc->h[from].vms - sc->h[sc->emptier.a[0]].vms <= 1) {
                        spread_of(sc, &mx, &mn);
                        if (sc->h[from].vms - sc->h[mn].vms > 1)
                                say(sc,
                                    "memory balance: %s keeps its %lld VMs: the hosts with "
                                    "fewer VMs have no room for another (memory or max_vms)",
                                    HN(sc, from), (long long)sc->h[from].vms);
                        break;
                }
                size_t n = vms_on(sc, from), movables = 0;
                for (size_t i = 0; i < n; i++)
                        movables += movable(sc, sc->scratch_v[i]);
                if (movables == 0) {
                        why_stuck(sc, n, why, sizeof(why));
                        say(sc, "memory balance: %s keeps its %lld VMs: none may move (%s)",
                            HN(sc, from), (long long)sc->h[from].vms, why);
                        heap_remove(&full, from);
                        continue;
                }
                /* Destinations from the emptiest on, while they have at least two fewer VMs. */
                size_t popped = 0;
                while (sc->emptier.n > 0) {
                        int d = heap_pop(&sc->emptier);
                        sc->scratch_h[popped++] = d;
                        if (sc->h[from].vms - sc->h[d].vms <= 1)
                                break;
                        vm = evening_vm(sc, n, from, d);
                        if (vm >= 0) {
                                to = d;
                                break;
                        }
                }
                for (size_t i = 0; i < popped; i++)
                        heap_push(&sc->emptier, sc->scratch_h[i]);
                if (to < 0) {
                        say(sc,
                            "memory balance: %s keeps its %lld VMs: none of the movable ones "
                            "fits (memory or max_vms) on a host with fewer VMs",
                            HN(sc, from), (long long)sc->h[from].vms);
                        heap_remove(&full, from);
                        continue;
                }
                say(sc,
                    "memory balance: %s has %lld VMs, %s has %lld: moving %s (%lld MiB) "
                    "from %s to %s",
                    HN(sc, from), (long long)sc->h[from].vms, HN(sc, to), (long long)sc->h[to].vms,
                    VM(sc, vm)->name, (long long)VM(sc, vm)->mem_mb, HN(sc, from), HN(sc, to));
                migrate(sc, vm, to, LF_REASON_MEMORY);
                heap_update(&full, from);
                heap_update(&full, to);
                moves++;
        }
        heap_done(&full);
        spread_of(sc, &mx, &mn);
        if (sc->h[mx].vms == sc->h[mn].vms)
                say(sc, "memory balance: %d %s; every up host now has %lld VMs", moves,
                    plural(moves, "migration", "migrations"), (long long)sc->h[mx].vms);
        else
                say(sc, "memory balance: %d %s; spread is now %lld (%s %lld VMs, %s %lld)", moves,
                    plural(moves, "migration", "migrations"),
                    (long long)(sc->h[mx].vms - sc->h[mn].vms), HN(sc, mx),
                    (long long)sc->h[mx].vms, HN(sc, mn), (long long)sc->h[mn].vms);
        if (moves > 0)
                sc->plan->acted |= 1u << LF_SCHED_MEMORY;
}

/* --- Compute balance: light VMs leave hot hosts for cool ones --- */

/* A VM near its full allocation: it stays (moving it moves the heat and migrates slowly). */
static bool busy(const sched *sc, int vm) {
        return VM(sc, vm)->cpu_cores >= (double)VM(sc, vm)->vcpus * sc->p->cpu_high / 100.0;
}

/* The coolest host below cpu_low that takes vm and stays below cpu_high; -1 if none. */
static int cool_host(sched *sc, heap *cool, int from, int vm) {
        int to = -1;
        size_t popped = 0;
        while (cool->n > 0) {
                int d = heap_pop(cool);
                sc->scratch_h[popped++] = d;
                if (d != from && fits(sc, d, vm) && cpu_ok(sc, d, vm)) {
                        to = d;
                        break;
                }
        }
        for (size_t i = 0; i < popped; i++)
                heap_push(cool, sc->scratch_h[i]);
        return to;
}

static void cool_down(sched *sc, heap *cool, int from, int *moves) {
        const lf_sched_policy *p = sc->p;
        char a[32], b[32], c[32], d[32], e[32], names[256] = "", load[96];
        size_t n = vms_on(sc, from), nc = 0, nbusy = 0, lighter = 0;

        for (size_t i = 0; i < n; i++) {
                int vm = sc->scratch_v[i];
                if (busy(sc, vm)) {
                        size_t l = strlen(names);
                        if (nbusy++ < 5)
                                snprintf(names + l, sizeof(names) - l, "%s%s", l ? ", " : "",
                                         VM(sc, vm)->name);
                } else if (movable(sc, vm))
                        sc->scratch_v[nc++] = vm;
        }
        qsort_r(sc->scratch_v, nc, sizeof(int), vm_lightest_cmp, sc);
        load[0] = 0;
        if (sc->h[from].util > sc->s->hosts[from].cpu_util + 0.05)
                snprintf(load, sizeof(load), ": its VMs ask for more than the %s%% it measures",
                         num(c, sc->s->hosts[from].cpu_util));
        say(sc, "compute balance: %s is hot (cpu %s%% ≥ %s%%%s)%s%s%s", HN(sc, from),
            num(a, sc->h[from].util), num(b, p->cpu_high), load,
            nbusy ? "; its busy VMs stay: " : "", names, nbusy > 5 ? ", ..." : "");
        for (size_t i = 0; i < nc && sc->h[from].util >= p->cpu_high; i++) {
                int vm = sc->scratch_v[i];
                int to = cool_host(sc, cool, from, vm);
                if (to < 0)
                        continue;
                double src = sc->h[from].util, dst = sc->h[to].util;
                double src2 = src - share(sc, from, vm), dst2 = dst + share(sc, to, vm);
                if ((src - dst) - fabs(src2 - dst2) < p->cpu_margin) {
                        lighter++;
                        continue;
                }
                say(sc,
                    "%s is hot (cpu %s%% ≥ %s%%): moving %s%s (%s %s) to %s (cpu %s%%, "
                    "predicted %s%% < %s%%)%s",
                    HN(sc, from), num(a, src), num(b, p->cpu_high),
                    lighter ? "" : "its lightest VM ", VM(sc, vm)->name,
                    cores(c, VM(sc, vm)->cpu_cores),
                    plural(VM(sc, vm)->cpu_cores == 1.0, "core", "cores"), HN(sc, to), num(d, dst),
                    num(e, dst2), num(b, p->cpu_high),
                    lighter ? "; its lighter VMs would gain less than the margin" : "");
                migrate(sc, vm, to, LF_REASON_COMPUTE);
                heap_update(cool, to);
                if (sc->h[to].util >= p->cpu_low)
                        heap_remove(cool, to);
                (*moves)++;
                lighter = 0;
        }
        if (sc->h[from].util >= p->cpu_high)
                say(sc,
                    "compute balance: %s stays hot (cpu %s%%): no more light VM can move to "
                    "a host below %s%% that stays below %s%% and gains at least %s points",
                    HN(sc, from), num(a, sc->h[from].util), num(b, p->cpu_low), num(c, p->cpu_high),
                    num(d, p->cpu_margin));
        else
                say(sc, "compute balance: %s is down to cpu %s%%", HN(sc, from),
                    num(a, sc->h[from].util));
}

/* Hot hosts and no up host below cpu_low: compute balance has nowhere to move VMs, so more
 * cpu must come up. When `act` (auto), powers on the off host with the most cpus unless a host
 * is powering on already or this plan has a power action; otherwise says which host auto
 * would wake. Quiet when no host is off. */
static void wake_for_cpu(sched *sc, bool act) {
        char names[2 * LF_SNAPSHOT_MAX_NAME + 64];
        int best = -1;

        if (coming_names(sc, names, sizeof(names)) > 0) {
                say(sc, "compute balance: %s powering on: its cpu comes first", names);
                return;
        }
        for (size_t k = 0; k < sc->s->n_hosts; k++) {
                int x = sc->hosts_by_name[k];
                if (sc->s->hosts[x].state == LF_HOST_OFF && slots(sc, x) > 0 &&
                    (best < 0 || sc->s->hosts[x].cpus > sc->s->hosts[best].cpus))
                        best = x;
        }
        if (best < 0)
                return;
        if (!act)
                say(sc, "compute balance: auto mode would power on %s (%lld cpus) for more cpu",
                    HN(sc, best), (long long)sc->s->hosts[best].cpus);
        else if (sc->plan->n_power_on + sc->plan->n_power_off > 0)
                say(sc,
                    "compute balance: %s is not powered on for more cpu in this cycle: one power "
                    "action per cycle",
                    HN(sc, best));
        else {
                say(sc, "compute balance: powering on %s (%lld cpus) for more cpu", HN(sc, best),
                    (long long)sc->s->hosts[best].cpus);
                power(sc, best, true);
        }
}

static void balance_compute(sched *sc, bool may_wake) {
        const lf_sched_policy *p = sc->p;
        size_t n_hot = 0, n_cool = 0;
        int hottest = -1, moves = 0;
        char a[32], b[32], c[32];
        heap cool;

        for (size_t i = 0; i < sc->s->n_hosts; i++) {
                int x = (int)i;
                if (!sc->h[x].usable)
                        continue;
                if (sc->h[x].util >= p->cpu_high)
                        sc->scratch_h[n_hot++] = x;
                n_cool += sc->h[x].util < p->cpu_low;
                if (hottest < 0 || host_hottest_cmp(&x, &hottest, sc) < 0)
                        hottest = x;
        }
        if (n_hot == 0) {
                if (hottest >= 0)
                        say(sc, "compute balance: no host is hot (hottest: %s at %s%% < %s%%)",
                            HN(sc, hottest), num(a, sc->h[hottest].util), num(b, p->cpu_high));
                else
                        say(sc, "compute balance: no host is up");
                return;
        }
        if (n_cool == 0) {
                say(sc,
                    "compute balance: %s is hot (cpu %s%% ≥ %s%%)%s but no up host is below "
                    "cpu_low %s%% to take VMs",
                    HN(sc, hottest), num(a, sc->h[hottest].util), num(b, p->cpu_high),
                    n_hot > 1 ? " among others," : "", num(c, p->cpu_low));
                wake_for_cpu(sc, may_wake);
                return;
        }
        if (!due(sc, LF_SCHED_COMPUTE, p->min_interval_s, "compute balance"))
                return;
        if (heap_init(&cool, sc, cooler) < 0) {
                sc->oom = -ENOMEM;
                return;
        }
        for (size_t i = 0; i < sc->s->n_hosts; i++)
                if (sc->h[i].usable && sc->h[i].util < p->cpu_low)
                        heap_push(&cool, (int)i);
        /* scratch_h is needed by cool_host(): keep the hot list elsewhere. */
        int *hot = malloc(n_hot * sizeof(int));
        if (!hot) {
                heap_done(&cool);
                sc->oom = -ENOMEM;
                return;
        }
        memcpy(hot, sc->scratch_h, n_hot * sizeof(int));
        qsort_r(hot, n_hot, sizeof(int), host_hottest_cmp, sc);
        for (size_t i = 0; i < n_hot && !sc->oom; i++)
                cool_down(sc, &cool, hot[i], &moves);
        free(hot);
        heap_done(&cool);
        if (moves > 0)
                sc->plan->acted |= 1u << LF_SCHED_COMPUTE;
}

/* --- Energy: power on when short of slots, else empty one host and power it off --- */

/* "Mon 10:00 UTC is within class hours (mon-fri 08:00-18:00)". */
static const char *class_hours(const sched *sc, char *buf, size_t len) {
        static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
        const lf_sched_policy *p = sc->p;
        int64_t t = sc->s->time, minute = ((t % 86400) + 86400) % 86400 / 60;

        snprintf(buf, len, "%s %02lld:%02lld UTC is %s class hours (%s %02d:%02d-%02d:%02d)",
                 days[lf_timestamp_weekday(t)], (long long)(minute / 60), (long long)(minute % 60),
                 lf_snapshot_in_class_hours(sc->s) ? "within" : "outside", p->class_days,
                 p->class_from_min / 60, p->class_from_min % 60, p->class_to_min / 60,
                 p->class_to_min % 60);
        return buf;
}

static int64_t total_slots(const sched *sc) {
        int64_t t = 0;
        for (size_t i = 0; i < sc->s->n_hosts; i++)
                if (sc->h[i].usable)
                        t += slots(sc, (int)i);
        return t;
}

static void power(sched *sc, int host, bool on) {
        if (on)
                PUSH(sc, sc->plan->power_on, sc->plan->n_power_on, sc->cap_on, host);
        else
                PUSH(sc, sc->plan->power_off, sc->plan->n_power_off, sc->cap_off, host);
        sc->plan->acted |= 1u << LF_SCHED_ENERGY;
}

/* --- Headroom: wake a host when capacity runs short (DESIGN §1, §6), in every mode --- */

/* Decides, after placement, whether capacity is short: a pending VM found no room that the
 * hosts already powering on will bring, or the free slots (up hosts, plus hosts powering on,
 * less the VMs still waiting) are below the reserve. When `act` (energy, auto), powers on the
 * off host with the most slots (at least one) that is not already powering on; in other modes
 * only says which one would be. Power-on is not rate-limited: it reacts within one cycle. Returns
 * whether capacity is short (then no host may be powered off). Modes that only explain keep
 * quiet when no host could be woken. */
static bool check_headroom(sched *sc, bool act) {
        const lf_sched_policy *p = sc->p;
        int64_t free_slots = total_slots(sc), coming = 0, best_slots = -1;
        int64_t waiting = (int64_t)sc->n_place_failures;
        int best = -1;
        char need[512], names[2 * LF_SNAPSHOT_MAX_NAME + 64] = "";

        for (size_t k = 0; k < sc->s->n_hosts; k++) {
                int x = sc->hosts_by_name[k];
                if (sc->s->hosts[x].state != LF_HOST_OFF)
                        continue;
                int64_t sl = slots(sc, x);
                if (sc->s->hosts[x].powering_on)
                        coming += sl;
                else if (sl > 0 && sl > best_slots) /* waking a host without room helps none */
                        best = x, best_slots = sl;
        }
        bool any_coming = coming_names(sc, names, sizeof(names)) > 0;

        int64_t headroom = free_slots + coming - waiting;
        if (waiting <= coming && headroom >= p->reserve_vm_slots) {
                if (any_coming)
                        say(sc,
                            "capacity: %s powering on with room for %lld VMs: %lld free VM slots "
                            "on up hosts + %lld on the way - %lld pending %s waiting = %lld ≥ "
                            "reserve %lld, so no other host is powered on",
                            names, (long long)coming, (long long)free_slots, (long long)coming,
                            (long long)waiting, plural(waiting, "VM", "VMs"), (long long)headroom,
                            (long long)p->reserve_vm_slots);
                return false;
        }
        if (waiting > coming)
                snprintf(need, sizeof(need), "%lld pending %s could not be placed%s%s%s",
                         (long long)waiting, plural(waiting, "VM", "VMs"),
                         any_coming ? " (more than the room " : "", any_coming ? names : "",
                         any_coming ? " powering on brings)" : "");
        else if (!any_coming && waiting == 0)
                snprintf(need, sizeof(need), "%lld free VM %s < reserve %lld",
                         (long long)free_slots, plural(free_slots, "slot", "slots"),
                         (long long)p->reserve_vm_slots);
        else
                snprintf(need, sizeof(need),
                         "%lld free VM slots on up hosts + %lld on hosts powering on - %lld "
                         "pending %s waiting = %lld < reserve %lld",
                         (long long)free_slots, (long long)coming, (long long)waiting,
                         plural(waiting, "VM", "VMs"), (long long)headroom,
                         (long long)p->reserve_vm_slots);
        if (best < 0 && !act)
                return true; /* nothing an admin could do about it from this mode */
        if (best < 0)
                say(sc, "capacity is short: %s, but no host with room is off%s to power on", need,
                    any_coming ? " (and not already powering on)" : "");
        else if (!act)
                say(sc,
                    "capacity is short: %s; auto or energy mode would power on %s (room for "
                    "%lld more VMs)",
                    need, HN(sc, best), (long long)best_slots);
        else {
                say(sc,
                    "capacity is short: %s: powering on %s (room for %lld more VMs); one "
                    "power action per cycle",
                    need, HN(sc, best), (long long)best_slots);
                power(sc, best, true);
        }
        return true;
}

/* Puts the first n VMs of scratch_v back on host, which becomes a destination again. */
static void undo_empty(sched *sc, int host, size_t n) {
        for (size_t j = n; j-- > 0;)
                shift(sc, sc->scratch_v[j], host);
        sc->h[host].usable = true;
        track(sc, host);
}

/* Tries to empty `host` into the other usable hosts. On success the VMs are moved in the
 * working state and listed in scratch_v (destinations in vm_host); returns the free slots
 * left on the other hosts. On failure everything is undone and -1 returned with *ret_stuck
 * set to the VM that found no room. */
static int64_t try_empty(sched *sc, int host, int64_t free_slots, size_t *ret_n, int *ret_stuck) {
        size_t n = vms_on(sc, host);
        int64_t left = free_slots - slots(sc, host);

        qsort_r(sc->scratch_v, n, sizeof(int), vm_mem_desc_cmp, sc);
        sc->h[host].usable = false; /* not a destination of its own VMs */
        track(sc, host);
        for (size_t i = 0; i < n; i++) {
                int vm = sc->scratch_v[i];
                int to = best_host(sc, &sc->emptier, vm, true);
                if (to < 0) {
                        undo_empty(sc, host, i);
                        *ret_stuck = vm;
                        return -1;
                }
                int64_t before = slots(sc, to);
                shift(sc, vm, to);
                left -= before - slots(sc, to);
        }
        *ret_n = n;
        return left;
}

/* After an evacuation: where the moved VMs (scratch_v[0..n)) went and how loaded those hosts
 * now are, each host once. */
static void say_receivers(sched *sc, size_t n) {
        _cleanup_free_ char *line = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&line, &len);
        char a[32];

        if (!f) {
                sc->oom = -ENOMEM;
                return;
        }
        fputs("energy: after the moves", f);
        for (size_t i = 0; i < n; i++) {
                int to = sc->vm_host[sc->scratch_v[i]];
                bool seen = false;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = sc->vm_host[sc->scratch_v[j]] == to;
                if (!seen)
                        fprintf(f, "%s %s has %lld VMs (cpu %s%%)", i ? "," : "", HN(sc, to),
                                (long long)sc->h[to].vms, num(a, sc->h[to].util));
        }
        if (fclose(f) != 0 || !line) {
                sc->oom = -ENOMEM;
                return;
        }
        say(sc, "%s", line);
}

static void save_energy(sched *sc) {
        const lf_sched_policy *p = sc->p;
        int64_t free_slots = total_slots(sc);
        size_t n_up = 0, n_cand = 0;
        char a[32], got[6 * (LF_SNAPSHOT_MAX_NAME + 2)] = "";

        if (lf_snapshot_in_class_hours(sc->s)) {
                char when[96];
                say(sc, "energy: %s: hosts are powered off only outside them",
                    class_hours(sc, when, sizeof(when)));
                return;
        }
        /* Powering off waits the long window; powering on (check_headroom()) does not. The
         * window also runs from the end of class hours: the last classes' VMs are still being
         * shut down then, and emptying a host would migrate VMs about to stop. */
        if (p->min_interval_s > 0 && lf_policy_in_class_hours(p, sc->s->time - p->min_interval_s)) {
                char iv[32];
                say(sc,
                    "energy saving (power-off) waits: class hours ended less than %s ago, and the "
                    "last classes' VMs are still stopping",
                    duration(iv, p->min_interval_s));
                return;
        }
        if (!due(sc, LF_SCHED_ENERGY, p->min_interval_s, "energy saving (power-off)"))
                return;
        for (size_t k = 0; k < sc->s->n_hosts; k++) {
                int x = sc->hosts_by_name[k];
                if (!sc->h[x].usable)
                        continue;
                n_up++;
                if (!sc->h[x].received)
                        sc->scratch_h[n_cand++] = x;
                else if (n_up - n_cand <= 5)
                        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
                                 n_up - n_cand > 1 ? ", " : "", HN(sc, x));
        }
        int *cand = malloc((n_cand ? n_cand : 1) * sizeof(int));
        if (!cand) {
                sc->oom = -ENOMEM;
                return;
        }
        memcpy(cand, sc->scratch_h, n_cand * sizeof(int));
        qsort_r(cand, n_cand, sizeof(int), host_lightest_cmp, sc);
        say(sc,
            "energy: %lld free VM %s on %zu up %s (reserve %lld): looking for a host to "
            "empty and power off",
            (long long)free_slots, plural(free_slots, "slot", "slots"), n_up,
            plural((int64_t)n_up, "host", "hosts"), (long long)p->reserve_vm_slots);
        if (n_up > n_cand)
                say(sc, "energy: %s%s received VMs in this plan: not emptied this cycle", got,
                    n_up - n_cand > 5 ? " and others" : "");

        bool done = false;
        for (size_t c = 0; c < n_cand && !done && !sc->oom; c++) {
                int host = cand[c], stuck = -1;
                size_t n = vms_on(sc, host), moved = 0;
                for (size_t i = 0; i < n && stuck < 0; i++)
                        if (!movable(sc, sc->scratch_v[i]))
                                stuck = sc->scratch_v[i];
                if (stuck >= 0) {
                        if (VM(sc, stuck)->pinned)
                                say(sc, "energy: not emptying %s: %s is pinned to it", HN(sc, host),
                                    VM(sc, stuck)->name);
                        else
                                say(sc, "energy: not emptying %s: %s was migrated less than %s ago",
                                    HN(sc, host), VM(sc, stuck)->name, sc->hold);
                        continue;
                }
                int64_t left = try_empty(sc, host, free_slots, &moved, &stuck);
                if (left < 0) {
                        say(sc,
                            "energy: not emptying %s: no other up host has %lld MiB free, a "
                            "free slot and cpu to stay below %s%% for %s",
                            HN(sc, host), (long long)VM(sc, stuck)->mem_mb, num(a, p->cpu_high),
                            VM(sc, stuck)->name);
                        continue;
                }
                if (left < p->reserve_vm_slots) {
                        undo_empty(sc, host, moved);
                        say(sc,
                            "energy: emptying %s (%zu %s, the fewest) would leave %lld free "
                            "VM slots < reserve %lld: every host stays on",
                            HN(sc, host), moved, plural((int64_t)moved, "VM", "VMs"),
                            (long long)left, (long long)p->reserve_vm_slots);
                        break;
                }
                if (moved == 0)
                        say(sc,
                            "energy: %s has no VMs; without it the other up hosts keep %lld "
                            "free VM slots ≥ reserve %lld",
                            HN(sc, host), (long long)left, (long long)p->reserve_vm_slots);
                else
                        say(sc,
                            "energy: emptying %s (%zu %s, the fewest of the hosts that can be "
                            "emptied): the other up hosts keep %lld free VM slots ≥ reserve "
                            "%lld",
                            HN(sc, host), moved, plural((int64_t)moved, "VM", "VMs"),
                            (long long)left, (long long)p->reserve_vm_slots);
                /* The trial moved the VMs in the working state; record them as migrations. */
                for (size_t i = 0; i < moved; i++) {
                        int vm = sc->scratch_v[i], to = sc->vm_host[vm];
                        lf_sched_migration m = {vm, host, to, LF_REASON_ENERGY};
                        say(sc,
                            "moving %s from %s to %s (fewest VMs first, with room and cpu "
                            "staying below %s%%)",
                            VM(sc, vm)->name, HN(sc, host), HN(sc, to), num(a, p->cpu_high));
                        PUSH(sc, sc->plan->migrations, sc->plan->n_migrations, sc->cap_mig, m);
                        sc->vm_planned[vm] = true;
                        sc->h[to].received = true;
                }
                if (moved > 0)
                        say_receivers(sc, moved);
                sc->h[host].usable = false;
                say(sc, "energy: powering off %s: it is empty", HN(sc, host));
                power(sc, host, false);
                done = true;
        }
        if (!done && n_cand == 0)
                say(sc, "energy: no up host can be emptied this cycle");
        free(cand);
}

/* --- The cycle --- */

static void note_unusable_hosts(sched *sc) {
        for (size_t k = 0; k < sc->s->n_hosts; k++) {
                int x = sc->hosts_by_name[k];
                lf_host_state st = sc->s->hosts[x].state;
                if (sc->h[x].vms == 0)
                        continue;
                if (st == LF_HOST_FAILED)
                        say(sc,
                            "%s has failed: its %lld %s stay assigned to it (restarted "
                            "elsewhere only once the cluster has fenced it); it gets no VMs",
                            HN(sc, x), (long long)sc->h[x].vms, plural(sc->h[x].vms, "VM", "VMs"));
                else if (st == LF_HOST_OFF)
                        say(sc, "%s is off but %lld %s assigned to it: left alone; it gets no VMs",
                            HN(sc, x), (long long)sc->h[x].vms,
                            plural(sc->h[x].vms, "VM is", "VMs are"));
        }
}

static void run_auto(sched *sc) {
        const lf_sched_policy *p = sc->p;
        bool in_class = lf_snapshot_in_class_hours(sc->s);
        char when[96];

        say(sc, "auto: %s: %s", class_hours(sc, when, sizeof(when)),
            in_class ? (p->balance_mode == LF_SCHED_MEMORY
                                ? "memory balance on its interval, compute balance when hot"
                                : "compute balance when hot")
                     : "saving energy");
        /* Hosts are woken whenever headroom runs short, in class hours too. */
        bool short_of_room = check_headroom(sc, true);
        if (!in_class) {
                if (!short_of_room)
                        save_energy(sc);
                return;
        }
        if (p->balance_mode == LF_SCHED_MEMORY)
                balance_memory(sc, p->balance_interval_s > p->min_interval_s ? p->balance_interval_s
                                                                             : p->min_interval_s);
        balance_compute(sc, true);
}

static void sched_done(sched *sc) {
        free(sc->h);
        free(sc->vm_host);
        free(sc->vm_planned);
        free(sc->on_host);
        free(sc->on_start);
        free(sc->vms_by_name);
        free(sc->hosts_by_name);
        free(sc->scratch_h);
        free(sc->scratch_v);
        heap_done(&sc->emptier);
}

static int sched_init(sched *sc, const lf_snapshot *s, lf_plan_sched *plan) {
        size_t nh = s->n_hosts, nv = s->n_vms;

        *sc = (sched){.s = s, .p = &s->policy, .plan = plan};
        sc->h = calloc(nh + 1, sizeof(*sc->h));
        sc->vm_host = calloc(nv + 1, sizeof(int));
        sc->vm_planned = calloc(nv + 1, sizeof(bool));
        sc->on_host = calloc(nv + 1, sizeof(int));
        sc->on_start = calloc(nh + 2, sizeof(size_t));
        sc->vms_by_name = calloc(nv + 1, sizeof(int));
        sc->hosts_by_name = calloc(nh + 1, sizeof(int));
        sc->scratch_h = calloc(nh + 1, sizeof(int));
        sc->scratch_v = calloc(nv + 1, sizeof(int));
        if (!sc->h || !sc->vm_host || !sc->vm_planned || !sc->on_host || !sc->on_start ||
            !sc->vms_by_name || !sc->hosts_by_name || !sc->scratch_h || !sc->scratch_v ||
            heap_init(&sc->emptier, sc, emptier) < 0)
                return -ENOMEM;
        sc->typical_mb = lf_sched_typical_vm_mb(s);
        duration(sc->hold, s->policy.migration_hold_s);
        for (size_t i = 0; i < nh; i++) {
                sc->h[i].cap_mb = s->hosts[i].mem_mb - s->hosts[i].reserved_mb;
                sc->h[i].util = s->hosts[i].cpu_util;
                sc->h[i].usable = s->hosts[i].state == LF_HOST_UP;
                sc->hosts_by_name[i] = (int)i;
        }
        for (size_t i = 0; i < nv; i++) {
                int host = s->vms[i].host;
                sc->vm_host[i] = host;
                sc->vms_by_name[i] = (int)i;
                if (host >= 0) {
                        sc->h[host].vms++;
                        sc->h[host].used_mb += s->vms[i].mem_mb;
                        sc->on_start[host + 1]++;
                }
        }
        qsort_r(sc->hosts_by_name, nh, sizeof(int), host_name_cmp, sc);
        qsort_r(sc->vms_by_name, nv, sizeof(int), vm_name_cmp, sc);
        for (size_t i = 0; i < nh; i++)
                sc->on_start[i + 1] += sc->on_start[i];
        /* Filling in name order keeps each host's list sorted by name. */
        _cleanup_free_ size_t *fill = calloc(nh + 1, sizeof(size_t));
        if (!fill)
                return -ENOMEM;
        for (size_t k = 0; k < nv; k++) {
                int vm = sc->vms_by_name[k], host = s->vms[vm].host;
                if (host >= 0)
                        sc->on_host[sc->on_start[host] + fill[host]++] = vm;
        }
        /* A saturated host measures 100% however much more its VMs ask for; their cores
         * (summed in name order, so the snapshot's order changes no bit) show the excess. */
        for (size_t i = 0; i < nh; i++) {
                double asked = 0;
                for (size_t j = sc->on_start[i]; j < sc->on_start[i + 1]; j++)
                        asked += share(sc, (int)i, sc->on_host[j]);
                if (asked > sc->h[i].util)
                        sc->h[i].util = asked;
        }
        sc->min_vm_mb = nv ? INT64_MAX : 1;
        for (size_t i = 0; i < nv; i++)
                if (s->vms[i].mem_mb < sc->min_vm_mb)
                        sc->min_vm_mb = s->vms[i].mem_mb;
        for (size_t i = 0; i < nh; i++)
                track(sc, (int)i);
        return 0;
}

int lf_schedule(const lf_snapshot *s, lf_sched_mode mode, lf_plan_sched **ret) {
        _cleanup_plan_sched_ lf_plan_sched *plan = NULL;
        sched sc;
        int r;

        if (mode < 0 || mode >= _LF_SCHED_MODE_MAX || lf_snapshot_check(s, NULL, NULL) < 0)
                return -EINVAL;
        plan = calloc(1, sizeof(*plan));
        if (!plan)
                return -ENOMEM;
        plan->mode = mode;
        r = sched_init(&sc, s, plan);
        if (r >= 0) {
                note_unusable_hosts(&sc);
                if (mode != LF_SCHED_PLACE)
                        evacuate_maintenance(&sc);
                place_pending(&sc);
                switch (mode) {
                case LF_SCHED_PLACE:
                        check_headroom(&sc, false);
                        break;
                case LF_SCHED_MEMORY:
                        check_headroom(&sc, false);
                        balance_memory(&sc, s->policy.min_interval_s);
                        break;
                case LF_SCHED_COMPUTE:
                        check_headroom(&sc, false);
                        balance_compute(&sc, false);
                        break;
                case LF_SCHED_ENERGY:
                        if (!check_headroom(&sc, true))
                                save_energy(&sc);
                        break;
                case LF_SCHED_AUTO:
                        run_auto(&sc);
                        break;
                default:
                        break;
                }
                r = sc.oom;
        }
        sched_done(&sc);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(plan);
        return 0;
}

void lf_plan_sched_free(lf_plan_sched *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_failures; i++)
                free(p->failures[i].reason);
        for (size_t i = 0; i < p->n_explain; i++)
                free(p->explain[i]);
        free(p->placements);
        free(p->migrations);
        free(p->power_on);
        free(p->power_off);
        free(p->failures);
        free(p->explain);
        free(p);
}

/* --- Output --- */

static json_object *host_names(const lf_snapshot *s, const int *hosts, size_t n) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; a && i < n; i++)
                if (lf_json_append(a, json_object_new_string(s->hosts[hosts[i]].name)) < 0) {
                        json_object_put(a);
                        return NULL;
                }
        return a;
}

int lf_sched_plan_to_json(const lf_plan_sched *p, const lf_snapshot *s, bool explain,
                          json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *acted, *pl, *mig, *fails;
        int r = 0;

        if (!o ||
            lf_json_add(o, "mode", json_object_new_string(lf_sched_mode_to_string(p->mode))) ||
            lf_json_add(o, "acted", acted = json_object_new_array()) ||
            lf_json_add(o, "placements", pl = json_object_new_array()) ||
            lf_json_add(o, "migrations", mig = json_object_new_array()) ||
            lf_json_add(o, "power_on", host_names(s, p->power_on, p->n_power_on)) ||
            lf_json_add(o, "power_off", host_names(s, p->power_off, p->n_power_off)) ||
            lf_json_add(o, "failures", fails = json_object_new_array()))
                return -ENOMEM;
        for (int m = 0; m < _LF_SCHED_MODE_MAX; m++)
                if (p->acted & (1u << m))
                        r |= lf_json_append(acted,
                                            json_object_new_string(lf_sched_mode_to_string(m)));
        for (size_t i = 0; i < p->n_placements; i++) {
                json_object *j = json_object_new_object();
                if (lf_json_append(pl, j) < 0)
                        return -ENOMEM;
                r |= lf_json_add(j, "vm", json_object_new_string(s->vms[p->placements[i].vm].name));
                r |= lf_json_add(j, "host",
                                 json_object_new_string(s->hosts[p->placements[i].host].name));
                r |= lf_json_add(j, "start_at_s",
                                 json_object_new_int64(p->placements[i].start_at_s));
        }
        for (size_t i = 0; i < p->n_migrations; i++) {
                const lf_sched_migration *m = &p->migrations[i];
                json_object *j = json_object_new_object();
                if (lf_json_append(mig, j) < 0)
                        return -ENOMEM;
                r |= lf_json_add(j, "vm", json_object_new_string(s->vms[m->vm].name));
                r |= lf_json_add(j, "from", json_object_new_string(s->hosts[m->from].name));
                r |= lf_json_add(j, "to", json_object_new_string(s->hosts[m->to].name));
                r |= lf_json_add(j, "reason",
                                 json_object_new_string(lf_sched_reason_to_string(m->reason)));
        }
        for (size_t i = 0; i < p->n_failures; i++) {
                json_object *j = json_object_new_object();
                if (lf_json_append(fails, j) < 0)
                        return -ENOMEM;
                r |= lf_json_add(j, "vm", json_object_new_string(s->vms[p->failures[i].vm].name));
                r |= lf_json_add(j, "reason", json_object_new_string(p->failures[i].reason));
        }
        if (explain) {
                json_object *e = json_object_new_array();
                if (lf_json_add(o, "explain", e) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < p->n_explain; i++)
                        r |= lf_json_append(e, json_object_new_string(p->explain[i]));
        }
        if (r < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

char *lf_sched_plan_to_text(const lf_plan_sched *p, const lf_snapshot *s, bool explain) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        fprintf(f, "mode: %s", lf_sched_mode_to_string(p->mode));
        for (int m = 0, first = 1; m < _LF_SCHED_MODE_MAX; m++)
                if (p->acted & (1u << m)) {
                        fprintf(f, "%s%s", first ? " (acted: " : ", ", lf_sched_mode_to_string(m));
                        first = 0;
                }
        fprintf(f, "%s\n", p->acted ? ")" : "");
        fprintf(f, "placements:%s\n", p->n_placements ? "" : " none");
        for (size_t i = 0; i < p->n_placements; i++)
                fprintf(f, "  %s -> %s, start at +%llds\n", s->vms[p->placements[i].vm].name,
                        s->hosts[p->placements[i].host].name,
                        (long long)p->placements[i].start_at_s);
        fprintf(f, "migrations:%s\n", p->n_migrations ? "" : " none");
        for (size_t i = 0; i < p->n_migrations; i++) {
                const lf_sched_migration *m = &p->migrations[i];
                fprintf(f, "  %s: %s -> %s (%s)\n", s->vms[m->vm].name, s->hosts[m->from].name,
                        s->hosts[m->to].name, lf_sched_reason_to_string(m->reason));
        }
        fprintf(f, "power on:%s", p->n_power_on ? "" : " none");
        for (size_t i = 0; i < p->n_power_on; i++)
                fprintf(f, " %s", s->hosts[p->power_on[i]].name);
        fprintf(f, "\npower off:%s", p->n_power_off ? "" : " none");
        for (size_t i = 0; i < p->n_power_off; i++)
                fprintf(f, " %s", s->hosts[p->power_off[i]].name);
        fprintf(f, "\nfailures:%s\n", p->n_failures ? "" : " none");
        for (size_t i = 0; i < p->n_failures; i++)
                fprintf(f, "  %s\n", p->failures[i].reason);
        if (explain) {
                fprintf(f, "explain:\n");
                for (size_t i = 0; i < p->n_explain; i++)
                        fprintf(f, "  - %s\n", p->explain[i]);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* Cluster snapshots for the scheduler: reading and checking the JSON of DESIGN §5.4 (every
 * problem named by field), writing it back, carrying out a plan, and slot counting. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "scheduler.h"
#include "units.h"

static const char *const mode_names[_LF_SCHED_MODE_MAX] = {
        [LF_SCHED_PLACE] = "place",   [LF_SCHED_MEMORY] = "memory", [LF_SCHED_COMPUTE] = "compute",
        [LF_SCHED_ENERGY] = "energy", [LF_SCHED_AUTO] = "auto",
};
static const char *const state_names[_LF_HOST_STATE_MAX] = {
        [LF_HOST_UP] = "up",
        [LF_HOST_OFF] = "off",
        [LF_HOST_MAINTENANCE] = "maintenance",
        [LF_HOST_FAILED] = "failed",
};
static const char *const reason_names[_LF_REASON_MAX] = {
        [LF_REASON_MAINTENANCE] = "maintenance",
        [LF_REASON_MEMORY] = "memory",
        [LF_REASON_COMPUTE] = "compute",
        [LF_REASON_ENERGY] = "energy",
};
/* The modes whose last run a snapshot records. */
static const lf_sched_mode balancing_modes[] = {LF_SCHED_MEMORY, LF_SCHED_COMPUTE, LF_SCHED_ENERGY};

static int lookup(const char *const *names, int n, const char *s) {
        for (int i = 0; s && i < n; i++)
                if (streq(names[i], s))
                        return i;
        return -EINVAL;
}

const char *lf_sched_mode_to_string(lf_sched_mode m) {
        return m >= 0 && m < _LF_SCHED_MODE_MAX ? mode_names[m] : NULL;
}

int lf_sched_mode_from_string(const char *s, lf_sched_mode *ret) {
        int i = lookup(mode_names, _LF_SCHED_MODE_MAX, s);
        if (i < 0)
                return i;
        *ret = (lf_sched_mode)i;
        return 0;
}

const char *lf_host_state_to_string(lf_host_state s) {
        return s >= 0 && s < _LF_HOST_STATE_MAX ? state_names[s] : NULL;
}

int lf_host_state_from_string(const char *s, lf_host_state *ret) {
        int i = lookup(state_names, _LF_HOST_STATE_MAX, s);
        if (i < 0)
                return i;
        *ret = (lf_host_state)i;
        return 0;
}

const char *lf_sched_reason_to_string(lf_sched_reason r) {
        return r >= 0 && r < _LF_REASON_MAX ? reason_names[r] : NULL;
}

void lf_sched_policy_init(lf_sched_policy *p) {
        *p = (lf_sched_policy){
                .reserve_vm_slots = 18,
                .cpu_high = 80,
                .cpu_low = 30,
                .cpu_margin = 5,
                .boot_stagger_s = 5,
                .boot_batch = 1,
                .min_interval_s = 1800,
                .migration_hold_s = 7200,
                .balance_mode = LF_SCHED_MEMORY,
                .balance_interval_s = 3600,
                .class_days = "mon-fri",
                .class_days_mask = 0x1f,
                .class_from_min = 8 * 60,
                .class_to_min = 18 * 60,
        };
}

lf_snapshot *lf_snapshot_new(void) {
        lf_snapshot *s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        lf_sched_policy_init(&s->policy);
        for (size_t i = 0; i < ELEMENTSOF(s->last_run); i++)
                s->last_run[i] = LF_TIME_NONE;
        return s;
}

void lf_snapshot_free(lf_snapshot *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_hosts; i++)
                free(s->hosts[i].name);
        for (size_t i = 0; i < s->n_vms; i++)
                free(s->vms[i].name);
        free(s->hosts);
        free(s->vms);
        free(s);
}

/* Grows *array (of n elements of size sz) by one slot; power-of-two capacities. */
static int grow(void **array, size_t n, size_t sz) {
        /* The capacity is implicit: 4, then doubling; reallocate when n reaches it. */
        if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
                return 0;
        size_t cap = n ? n * 2 : 4;
        void *a = realloc(*array, cap * sz);
        if (!a)
                return -ENOMEM;
        *array = a;
        return 0;
}

int lf_snapshot_add_host(lf_snapshot *s, const lf_sched_host *h) {
        if (s->n_hosts >= LF_SNAPSHOT_MAX_HOSTS)
                return -E2BIG;
        char *name = h->name ? strdup(h->name) : NULL;
        if ((h->name && !name) || grow((void **)&s->hosts, s->n_hosts, sizeof(*s->hosts)) < 0) {
                free(name);
                return -ENOMEM;
        }
        s->hosts[s->n_hosts] = *h;
        s->hosts[s->n_hosts].name = name;
        return (int)s->n_hosts++;
}

int lf_snapshot_add_vm(lf_snapshot *s, const lf_sched_vm *v) {
        if (s->n_vms >= LF_SNAPSHOT_MAX_VMS)
                return -E2BIG;
        char *name = v->name ? strdup(v->name) : NULL;
        if ((v->name && !name) || grow((void **)&s->vms, s->n_vms, sizeof(*s->vms)) < 0) {
                free(name);
                return -ENOMEM;
        }
        s->vms[s->n_vms] = *v;
        s->vms[s->n_vms].name = name;
        return (int)s->n_vms++;
}

/* --- Checks shared by the JSON reader and lf_snapshot_check() --- */

typedef struct checker {
        lf_diag *diag;
        const char *file;
} checker;

static int check_int(const checker *c, const char *path, const char *key, int64_t v, int64_t min,
                     int64_t max) {
        if (v < 0 && min >= 0)
                return lf_diag_add(c->diag, c->file, 0, "%s%s%s: must not be negative (got %lld)",
                                   path, *path ? "." : "", key, (long long)v);
        if (v < min)
                return lf_diag_add(c->diag, c->file, 0, "%s%s%s: must be at least %lld (got %lld)",
                                   path, *path ? "." : "", key, (long long)min, (long long)v);
        if (v > max)
                return lf_diag_add(c->diag, c->file, 0, "%s%s%s: must be at most %lld (got %lld)",
                                   path, *path ? "." : "", key, (long long)max, (long long)v);
        return 0;
}

static int check_num(const checker *c, const char *path, const char *key, double v, double min,
                     double max) {
        if (v < 0 && min >= 0)
                return lf_diag_add(c->diag, c->file, 0, "%s%s%s: must not be negative (got %g)",
                                   path, *path ? "." : "", key, v);
        if (!(v >= min && v <= max))
                return lf_diag_add(c->diag, c->file, 0, "%s%s%s: must be from %g to %g (got %g)",
                                   path, *path ? "." : "", key, min, max, v);
        return 0;
}

static int check_name(const checker *c, const char *path, const char *name) {
        size_t n = name ? strlen(name) : 0;

        if (n == 0)
                return lf_diag_add(c->diag, c->file, 0, "%s.name: must not be empty", path);
        if (n > LF_SNAPSHOT_MAX_NAME)
                return lf_diag_add(c->diag, c->file, 0, "%s.name: longer than %d bytes", path,
                                   LF_SNAPSHOT_MAX_NAME);
        if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+-") !=
            n)
                return lf_diag_add(c->diag, c->file, 0,
                                   "%s.name: \"%s\" has characters other than letters, digits "
                                   "and ._:@+-",
                                   path, name);
        return 0;
}

#define MAX_MEM_MB (INT64_C(1) << 30) /* 1 EiB in MiB: no host or VM comes near */
#define MAX_CPUS 4096

static int check_host(const checker *c, const char *path, const lf_sched_host *h) {
        int r = 0;
        r |= check_name(c, path, h->name);
        if (h->state < 0 || h->state >= _LF_HOST_STATE_MAX)
                r |= lf_diag_add(c->diag, c->file, 0, "%s.state: unknown state", path);
        r |= check_int(c, path, "cpus", h->cpus, 1, MAX_CPUS);
        r |= check_int(c, path, "mem_mb", h->mem_mb, 1, MAX_MEM_MB);
        r |= check_int(c, path, "reserved_mb", h->reserved_mb, 0, MAX_MEM_MB);
        if (h->reserved_mb > h->mem_mb && h->mem_mb > 0)
                r |= lf_diag_add(c->diag, c->file, 0,
                                 "%s.reserved_mb: %lld is more than the host's mem_mb (%lld)", path,
                                 (long long)h->reserved_mb, (long long)h->mem_mb);
        if (h->max_vms != -1)
                r |= check_int(c, path, "max_vms", h->max_vms, 0, LF_SNAPSHOT_MAX_VMS);
        r |= check_num(c, path, "cpu_util", h->cpu_util, 0, 100);
        if (h->powering_on && h->state != LF_HOST_OFF && h->state >= 0 &&
            h->state < _LF_HOST_STATE_MAX)
                r |= lf_diag_add(c->diag, c->file, 0,
                                 "%s.powering_on: only an \"off\" host can be powering on (state "
                                 "is \"%s\"); leave the key out once it is up",
                                 path, state_names[h->state]);
        return r ? -EINVAL : 0;
}

static int check_vm(const checker *c, const char *path, const lf_sched_vm *v) {
        int r = 0;
        r |= check_name(c, path, v->name);
        r |= check_int(c, path, "mem_mb", v->mem_mb, 1, MAX_MEM_MB);
        r |= check_int(c, path, "vcpus", v->vcpus, 1, MAX_CPUS);
        r |= check_num(c, path, "cpu_cores", v->cpu_cores, 0, MAX_CPUS);
        return r ? -EINVAL : 0;
}

static int check_policy(const checker *c, const lf_sched_policy *p) {
        const char *path = "policy";
        int r = 0;
        r |= check_int(c, path, "reserve_vm_slots", p->reserve_vm_slots, 0, LF_SNAPSHOT_MAX_VMS);
        r |= check_num(c, path, "cpu_high", p->cpu_high, 1, 100);
        r |= check_num(c, path, "cpu_low", p->cpu_low, 0, 100);
        if (p->cpu_low >= p->cpu_high)
                r |= lf_diag_add(c->diag, c->file, 0,
                                 "policy.cpu_low: %g must be below cpu_high (%g)", p->cpu_low,
                                 p->cpu_high);
        r |= check_num(c, path, "cpu_margin", p->cpu_margin, 0, 100);
        r |= check_int(c, path, "boot_stagger_s", p->boot_stagger_s, 0, 86400);
        r |= check_int(c, path, "boot_batch", p->boot_batch, 1, LF_SNAPSHOT_MAX_VMS);
        r |= check_int(c, path, "min_interval_s", p->min_interval_s, 0, 7 * 86400);
        r |= check_int(c, path, "migration_hold_s", p->migration_hold_s, 0, 30 * 86400);
        r |= check_int(c, path, "balance_interval_s", p->balance_interval_s, 0, 7 * 86400);
        if (p->balance_mode != LF_SCHED_MEMORY && p->balance_mode != LF_SCHED_COMPUTE)
                r |= lf_diag_add(c->diag, c->file, 0,
                                 "policy.balance_mode: expected \"memory\" or \"compute\"");
        if (p->class_days_mask == 0 || p->class_days_mask > 0x7f)
                r |= lf_diag_add(c->diag, c->file, 0, "policy.class_hours.days: no days");
        if (p->class_from_min < 0 || p->class_to_min > 24 * 60 ||
            p->class_from_min >= p->class_to_min)
                r |= lf_diag_add(c->diag, c->file, 0,
                                 "policy.class_hours: \"from\" must come before \"to\" on the "
                                 "same day (use 24:00 for midnight)");
        return r ? -EINVAL : 0;
}

typedef struct named {
        const char *name;
        size_t idx;
} named;

static int named_cmp(const void *a, const void *b) {
        const named *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Reports names used twice (by the later entry, naming the first). `valid[i]` false skips
 * entries whose own checks failed. Returns a malloc'ed sorted table for lookups, or NULL on
 * OOM (with *r = -ENOMEM). */
static named *index_names(const checker *c, const char *what, size_t n,
                          const char *(*get)(const void *, size_t), const void *arr, int *r) {
        named *t = malloc((n ? n : 1) * sizeof(*t));
        size_t m = 0;

        if (!t) {
                *r = -ENOMEM;
                return NULL;
        }
        for (size_t i = 0; i < n; i++)
                if (get(arr, i))
                        t[m++] = (named){get(arr, i), i};
        qsort(t, m, sizeof(*t), named_cmp);
        for (size_t i = 1; i < m; i++)
                if (streq(t[i].name, t[i - 1].name)) {
                        size_t first = i - 1;
                        while (first > 0 && streq(t[first - 1].name, t[i].name))
                                first--;
                        *r = lf_diag_add(c->diag, c->file, 0,
                                         "%s[%zu].name: \"%s\" is already used by %s[%zu]", what,
                                         t[i].idx, t[i].name, what, t[first].idx);
                }
        return t;
}

static const char *host_name_at(const void *arr, size_t i) {
        return ((const lf_sched_host *)arr)[i].name;
}

static const char *vm_name_at(const void *arr, size_t i) {
        return ((const lf_sched_vm *)arr)[i].name;
}

static int check_time(const checker *c, const char *key, int64_t t) {
        if (t == LF_TIME_NONE || t < 0 || t > INT64_C(253402300799))
                return lf_diag_add(c->diag, c->file, 0, "%s: not a time from 1970 to 9999", key);
        return 0;
}

int lf_snapshot_check(const lf_snapshot *s, const char *file, lf_diag *diag) {
        checker c = {diag, file};
        char path[64];
        int r = 0;

        if (s->n_hosts > LF_SNAPSHOT_MAX_HOSTS || s->n_vms > LF_SNAPSHOT_MAX_VMS)
                return lf_diag_add(diag, file, 0, "more than %d hosts or %d VMs",
                                   LF_SNAPSHOT_MAX_HOSTS, LF_SNAPSHOT_MAX_VMS);
        if (check_time(&c, "time", s->time) < 0)
                r = -EINVAL;
        for (size_t i = 0; i < s->n_hosts; i++) {
                snprintf(path, sizeof(path), "hosts[%zu]", i);
                if (check_host(&c, path, &s->hosts[i]) < 0)
                        r = -EINVAL;
        }
        for (size_t i = 0; i < s->n_vms; i++) {
                const lf_sched_vm *v = &s->vms[i];
                snprintf(path, sizeof(path), "vms[%zu]", i);
                if (check_vm(&c, path, v) < 0)
                        r = -EINVAL;
                if (v->host < -1 || v->host >= (int)s->n_hosts)
                        r = lf_diag_add(diag, file, 0, "%s.host: host index %d is out of range",
                                        path, v->host);
                if (v->last_migrated != LF_TIME_NONE) {
                        snprintf(path, sizeof(path), "vms[%zu].last_migrated", i);
                        if (check_time(&c, path, v->last_migrated) < 0)
                                r = -EINVAL;
                }
        }
        if (check_policy(&c, &s->policy) < 0)
                r = -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(balancing_modes); i++) {
                int64_t t = s->last_run[balancing_modes[i]];
                snprintf(path, sizeof(path), "last_run.%s", mode_names[balancing_modes[i]]);
                if (t != LF_TIME_NONE && check_time(&c, path, t) < 0)
                        r = -EINVAL;
        }
        free(index_names(&c, "hosts", s->n_hosts, host_name_at, s->hosts, &r));
        free(index_names(&c, "vms", s->n_vms, vm_name_at, s->vms, &r));
        return r;
}

/* --- JSON reading --- */

static int get_time(const lf_json_ctx *ctx, json_object *o, const char *path, const char *key,
                    bool required, int64_t *ret) {
        const char *str = NULL;
        int64_t t;
        int r = lf_json_get_string_or_null(ctx, o, path, key, required, &str);

        if (r < 0 || !str)
                return r;
        if (lf_parse_timestamp(str, &t) < 0)
                return lf_diag_add(ctx->diag, ctx->file, 0,
                                   "%s%s%s: \"%s\" is not a UTC time like 2026-11-23T10:00:00Z",
                                   path, *path ? "." : "", key, str);
        *ret = t;
        return 0;
}

/* Reads an integer that may be null (null and absent leave *ret untouched). */
static int get_int_or_null(const lf_json_ctx *ctx, json_object *o, const char *path,
                           const char *key, int64_t *ret) {
        json_object *v;
        if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_null))
                return 0;
        return lf_json_get_int(ctx, o, path, key, false, INT64_MIN, INT64_MAX, ret);
}

static char *dup_name(const char *s, int *r) {
        if (!s)
                return NULL;
        char *d = strdup(s);
        if (!d)
                *r = -ENOMEM;
        return d;
}

static int read_host(const lf_json_ctx *ctx, json_object *o, const char *path, lf_sched_host *h) {
        static const char *const keys[] = {"name",     "state",       "cpus",
                                           "mem_mb",   "reserved_mb", "max_vms",
                                           "cpu_util", "powering_on", NULL};
        const char *name = NULL, *state = NULL;
        int r = 0;

        *h = (lf_sched_host){.max_vms = -1};
        if (lf_json_expect_object(ctx, o, path) < 0)
                return -EINVAL;
        r |= lf_json_check_keys(ctx, o, path, keys);
        r |= lf_json_get_string(ctx, o, path, "name", true, &name);
        r |= lf_json_get_string(ctx, o, path, "state", true, &state);
        if (state && lf_host_state_from_string(state, &h->state) < 0)
                r |= lf_diag_add(ctx->diag, ctx->file, 0,
                                 "%s.state: unknown state \"%s\"; expected up, off, maintenance "
                                 "or failed",
                                 path, state);
        r |= lf_json_get_int(ctx, o, path, "cpus", true, INT64_MIN, INT64_MAX, &h->cpus);
        r |= lf_json_get_int(ctx, o, path, "mem_mb", true, INT64_MIN, INT64_MAX, &h->mem_mb);
        r |= lf_json_get_int(ctx, o, path, "reserved_mb", false, INT64_MIN, INT64_MAX,
                             &h->reserved_mb);
        /* Absent or null is "no limit" (-1 inside); a negative number is a mistake. */
        int64_t max_vms = INT64_MIN;
        r |= get_int_or_null(ctx, o, path, "max_vms", &max_vms);
        if (max_vms != INT64_MIN && max_vms < 0)
                r |= lf_diag_add(ctx->diag, ctx->file, 0,
                                 "%s.max_vms: must not be negative (got %lld); leave it out for "
                                 "no limit",
                                 path, (long long)max_vms);
        else if (max_vms != INT64_MIN)
                h->max_vms = max_vms;
        r |= lf_json_get_double(ctx, o, path, "cpu_util", true, -DBL_MAX, DBL_MAX, &h->cpu_util);
        r |= lf_json_get_bool(ctx, o, path, "powering_on", false, &h->powering_on);
        int ro = 0;
        h->name = dup_name(name, &ro);
        return ro ? ro : r ? -EINVAL : 0;
}

/* The index of the first host of that name in the sorted table, -1 if none. */
static int find_host(const named *hosts, size_t n, const char *name) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (strcmp(hosts[mid].name, name) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < n && streq(hosts[lo].name, name) ? (int)hosts[lo].idx : -1;
}

/* Reads one VM; its host's name (NULL: pending) goes to *ret_host for the caller to resolve. */
static int read_vm(const lf_json_ctx *ctx, json_object *o, const char *path, lf_sched_vm *v,
                   const char **ret_host) {
        static const char *const keys[] = {"name",      "host",   "mem_mb",        "vcpus",
                                           "cpu_cores", "pinned", "last_migrated", NULL};
        const char *name = NULL;
        int r = 0;

        *v = (lf_sched_vm){.host = -1, .last_migrated = LF_TIME_NONE};
        *ret_host = NULL;
        if (lf_json_expect_object(ctx, o, path) < 0)
                return -EINVAL;
        r |= lf_json_check_keys(ctx, o, path, keys);
        r |= lf_json_get_string(ctx, o, path, "name", true, &name);
        r |= lf_json_get_string_or_null(ctx, o, path, "host", true, ret_host);
        r |= lf_json_get_int(ctx, o, path, "mem_mb", true, INT64_MIN, INT64_MAX, &v->mem_mb);
        r |= lf_json_get_int(ctx, o, path, "vcpus", true, INT64_MIN, INT64_MAX, &v->vcpus);
        r |= lf_json_get_double(ctx, o, path, "cpu_cores", true, -DBL_MAX, DBL_MAX, &v->cpu_cores);
        r |= lf_json_get_bool(ctx, o, path, "pinned", false, &v->pinned);
        r |= get_time(ctx, o, path, "last_migrated", false, &v->last_migrated);
        int ro = 0;
        v->name = dup_name(name, &ro);
        return ro ? ro : r ? -EINVAL : 0;
}

static int read_policy(const lf_json_ctx *ctx, json_object *o, lf_sched_policy *p) {
        static const char *const keys[] = {"reserve_vm_slots",   "cpu_high",         "cpu_low",
                                           "cpu_margin",         "boot_stagger_s",   "boot_batch",
                                           "min_interval_s",     "migration_hold_s", "balance_mode",
                                           "balance_interval_s", "class_hours",      NULL};
        static const char *const ch_keys[] = {"days", "from", "to", NULL};
        const char *mode = NULL, *days = NULL, *from = NULL, *to = NULL;
        json_object *ch = NULL;
        int r = 0;

        r |= lf_json_check_keys(ctx, o, "policy", keys);
#define INT_KEY(k) r |= lf_json_get_int(ctx, o, "policy", #k, false, INT64_MIN, INT64_MAX, &p->k)
#define NUM_KEY(k) r |= lf_json_get_double(ctx, o, "policy", #k, false, -DBL_MAX, DBL_MAX, &p->k)
        INT_KEY(reserve_vm_slots);
        NUM_KEY(cpu_high);
        NUM_KEY(cpu_low);
        NUM_KEY(cpu_margin);
        INT_KEY(boot_stagger_s);
        INT_KEY(boot_batch);
        INT_KEY(min_interval_s);
        INT_KEY(migration_hold_s);
        INT_KEY(balance_interval_s);
#undef INT_KEY
#undef NUM_KEY
        r |= lf_json_get_string(ctx, o, "policy", "balance_mode", false, &mode);
        if (mode && (lf_sched_mode_from_string(mode, &p->balance_mode) < 0 ||
                     (p->balance_mode != LF_SCHED_MEMORY && p->balance_mode != LF_SCHED_COMPUTE)))
                r |= lf_diag_add(ctx->diag, ctx->file, 0,
                                 "policy.balance_mode: \"%s\"; expected \"memory\" or \"compute\"",
                                 mode);
        r |= lf_json_get_object(ctx, o, "policy", "class_hours", false, &ch);
        if (!ch)
                return r ? -EINVAL : 0;
        r |= lf_json_check_keys(ctx, ch, "policy.class_hours", ch_keys);
        r |= lf_json_get_string(ctx, ch, "policy.class_hours", "days", true, &days);
        r |= lf_json_get_string(ctx, ch, "policy.class_hours", "from", true, &from);
        r |= lf_json_get_string(ctx, ch, "policy.class_hours", "to", true, &to);
        if (days &&
            (strlen(days) >= sizeof(p->class_days) || lf_parse_days(days, &p->class_days_mask) < 0))
                r |= lf_diag_add(ctx->diag, ctx->file, 0,
                                 "policy.class_hours.days: \"%s\" is not a list of days like "
                                 "\"mon-fri\" or \"mon,wed-fri\"",
                                 days);
        else if (days)
                snprintf(p->class_days, sizeof(p->class_days), "%s", days);
        if (from && lf_parse_clock(from, &p->class_from_min) < 0)
                r |= lf_diag_add(ctx->diag, ctx->file, 0,
                                 "policy.class_hours.from: \"%s\" is not a time like 08:00", from);
        if (to && lf_parse_clock(to, &p->class_to_min) < 0)
                r |= lf_diag_add(ctx->diag, ctx->file, 0,
                                 "policy.class_hours.to: \"%s\" is not a time like 18:00", to);
        return r ? -EINVAL : 0;
}

int lf_sched_policy_from_json(json_object *o, const char *file, lf_diag *diag,
                              lf_sched_policy *ret) {
        lf_json_ctx ctx = {diag, file};
        checker c = {diag, file};
        lf_sched_policy p;

        lf_sched_policy_init(&p);
        if (lf_json_expect_object(&ctx, o, "policy") < 0)
                return -EINVAL;
        if (read_policy(&ctx, o, &p) < 0 || check_policy(&c, &p) < 0)
                return -EINVAL;
        *ret = p;
        return 0;
}

static int read_last_run(const lf_json_ctx *ctx, json_object *o, int64_t *last_run) {
        static const char *const keys[] = {"memory", "compute", "energy", NULL};
        int r = lf_json_check_keys(ctx, o, "last_run", keys);
        for (size_t i = 0; i < ELEMENTSOF(balancing_modes); i++) {
                lf_sched_mode m = balancing_modes[i];
                r |= get_time(ctx, o, "last_run", mode_names[m], false, &last_run[m]);
        }
        return r ? -EINVAL : 0;
}

int lf_snapshot_from_json(json_object *o, const char *file, lf_diag *diag, lf_snapshot **ret) {
        static const char *const keys[] = {"time", "hosts", "vms", "policy", "last_run", NULL};
        lf_json_ctx ctx = {diag, file};
        checker c = {diag, file};
        _cleanup_snapshot_ lf_snapshot *s = lf_snapshot_new();
        _cleanup_free_ named *host_index = NULL;
        json_object *hosts = NULL, *vms = NULL, *policy = NULL, *last_run = NULL;
        char path[64];
        int r = 0, rr;

        if (!s)
                return -ENOMEM;
        if (lf_json_expect_object(&ctx, o, "") < 0)
                return -EINVAL;
        r |= lf_json_check_keys(&ctx, o, "", keys);
        r |= get_time(&ctx, o, "", "time", true, &s->time);
        r |= lf_json_get_array(&ctx, o, "", "hosts", true, &hosts);
        r |= lf_json_get_array(&ctx, o, "", "vms", true, &vms);
        r |= lf_json_get_object(&ctx, o, "", "policy", false, &policy);
        r |= lf_json_get_object(&ctx, o, "", "last_run", false, &last_run);
        if (policy && lf_sched_policy_from_json(policy, file, diag, &s->policy) < 0)
                r = -EINVAL;
        if (last_run)
                r |= read_last_run(&ctx, last_run, s->last_run);

        size_t nh = hosts ? json_object_array_length(hosts) : 0;
        size_t nv = vms ? json_object_array_length(vms) : 0;
        if (nh > LF_SNAPSHOT_MAX_HOSTS || nv > LF_SNAPSHOT_MAX_VMS)
                return lf_diag_add(diag, file, 0,
                                   "%zu hosts and %zu VMs is more than this scheduler takes (%d "
                                   "hosts, %d VMs)",
                                   nh, nv, LF_SNAPSHOT_MAX_HOSTS, LF_SNAPSHOT_MAX_VMS);
        /* Entries with a problem are kept (numbering, name lookups) but range-checked only
         * when their fields were all readable, so each mistake is reported once. */
        for (size_t i = 0; i < nh; i++) {
                lf_sched_host h;
                snprintf(path, sizeof(path), "hosts[%zu]", i);
                rr = read_host(&ctx, json_object_array_get_idx(hosts, i), path, &h);
                if (rr == -ENOMEM)
                        return rr;
                if (rr < 0 || check_host(&c, path, &h) < 0)
                        r = -EINVAL;
                rr = lf_snapshot_add_host(s, &h);
                free(h.name);
                if (rr < 0)
                        return rr;
        }
        host_index = index_names(&c, "hosts", s->n_hosts, host_name_at, s->hosts, &r);
        if (!host_index)
                return -ENOMEM;
        size_t n_index = 0;
        for (size_t i = 0; i < s->n_hosts; i++)
                n_index += s->hosts[i].name != NULL;
        for (size_t i = 0; i < nv; i++) {
                lf_sched_vm v;
                const char *host = NULL;
                snprintf(path, sizeof(path), "vms[%zu]", i);
                rr = read_vm(&ctx, json_object_array_get_idx(vms, i), path, &v, &host);
                if (rr == -ENOMEM)
                        return rr;
                if (host && (v.host = find_host(host_index, n_index, host)) < 0)
                        r = lf_diag_add(diag, file, 0, "%s.host: no host named \"%s\" in hosts",
                                        path, host);
                if (rr < 0 || check_vm(&c, path, &v) < 0)
                        r = -EINVAL;
                rr = lf_snapshot_add_vm(s, &v);
                free(v.name);
                if (rr < 0)
                        return rr;
        }
        free(index_names(&c, "vms", s->n_vms, vm_name_at, s->vms, &r));
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        *ret = TAKE_PTR(s);
        return 0;
}

int lf_snapshot_load_buffer(const char *name, const char *buf, size_t len, lf_diag *diag,
                            lf_snapshot **ret) {
        lf_json_ctx ctx = {diag, name};
        _cleanup_json_ json_object *o = NULL;
        int r = lf_json_parse(&ctx, buf, len, &o);
        if (r < 0)
                return r;
        return lf_snapshot_from_json(o, name, diag, ret);
}

int lf_snapshot_load(const char *path, lf_diag *diag, lf_snapshot **ret) {
        lf_json_ctx ctx = {diag, path};
        _cleanup_json_ json_object *o = NULL;
        int r = lf_json_parse_file(&ctx, path, &o);
        if (r < 0)
                return r;
        return lf_snapshot_from_json(o, path, diag, ret);
}

/* --- JSON writing --- */

static json_object *time_string(int64_t t) {
        char buf[LF_TIMESTAMP_LEN + 1];
        lf_format_timestamp(t, buf, sizeof(buf));
        return json_object_new_string(buf);
}

static json_object *clock_string(int minutes) {
        char buf[16];
        snprintf(buf, sizeof(buf), "%02d:%02d", minutes / 60, minutes % 60);
        return json_object_new_string(buf);
}

/* The shortest text that reads back as exactly v ("45.0", "0.9"), so a snapshot written and
 * read again is the same snapshot, without float noise in the common case. */
static json_object *exact_double(double v) {
        char buf[64];
        for (int prec = 15; prec <= 17; prec++) {
                snprintf(buf, sizeof(buf), "%.*g", prec, v);
                if (strtod(buf, NULL) == v)
                        break;
        }
        if (!strpbrk(buf, ".eEn"))
                strcat(buf, ".0");
        return json_object_new_double_s(v, buf);
}

static int policy_to_json(const lf_sched_policy *p, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object(), *ch = json_object_new_object();
        int r = 0;

        if (!o || !ch)
                return -ENOMEM;
        r |= lf_json_add(o, "reserve_vm_slots", json_object_new_int64(p->reserve_vm_slots));
        r |= lf_json_add(o, "cpu_high", exact_double(p->cpu_high));
        r |= lf_json_add(o, "cpu_low", exact_double(p->cpu_low));
        r |= lf_json_add(o, "cpu_margin", exact_double(p->cpu_margin));
        r |= lf_json_add(o, "boot_stagger_s", json_object_new_int64(p->boot_stagger_s));
        r |= lf_json_add(o, "boot_batch", json_object_new_int64(p->boot_batch));
        r |= lf_json_add(o, "min_interval_s", json_object_new_int64(p->min_interval_s));
        r |= lf_json_add(o, "migration_hold_s", json_object_new_int64(p->migration_hold_s));
        r |= lf_json_add(o, "balance_mode",
                         json_object_new_string(lf_sched_mode_to_string(p->balance_mode)));
        r |= lf_json_add(o, "balance_interval_s", json_object_new_int64(p->balance_interval_s));
        r |= lf_json_add(ch, "days", json_object_new_string(p->class_days));
        r |= lf_json_add(ch, "from", clock_string(p->class_from_min));
        r |= lf_json_add(ch, "to", clock_string(p->class_to_min));
        r |= lf_json_add(o, "class_hours", TAKE_PTR(ch));
        if (r < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int lf_snapshot_to_json(const lf_snapshot *s, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *hosts, *vms, *last_run, *policy = NULL;
        int r = 0;

        if (!o || lf_json_add(o, "time", time_string(s->time)) < 0 ||
            lf_json_add(o, "hosts", hosts = json_object_new_array()) < 0 ||
            lf_json_add(o, "vms", vms = json_object_new_array()) < 0 ||
            policy_to_json(&s->policy, &policy) < 0 || lf_json_add(o, "policy", policy) < 0 ||
            lf_json_add(o, "last_run", last_run = json_object_new_object()) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_hosts; i++) {
                const lf_sched_host *h = &s->hosts[i];
                json_object *j = json_object_new_object();
                if (lf_json_append(hosts, j) < 0)
                        return -ENOMEM;
                r |= lf_json_add(j, "name", json_object_new_string(h->name));
                r |= lf_json_add(j, "state",
                                 json_object_new_string(lf_host_state_to_string(h->state)));
                r |= lf_json_add(j, "cpus", json_object_new_int64(h->cpus));
                r |= lf_json_add(j, "mem_mb", json_object_new_int64(h->mem_mb));
                r |= lf_json_add(j, "reserved_mb", json_object_new_int64(h->reserved_mb));
                if (h->max_vms >= 0)
                        r |= lf_json_add(j, "max_vms", json_object_new_int64(h->max_vms));
                r |= lf_json_add(j, "cpu_util", exact_double(h->cpu_util));
                if (h->powering_on)
                        r |= lf_json_add(j, "powering_on", json_object_new_boolean(true));
        }
        for (size_t i = 0; i < s->n_vms; i++) {
                const lf_sched_vm *v = &s->vms[i];
                json_object *j = json_object_new_object();
                if (lf_json_append(vms, j) < 0)
                        return -ENOMEM;
                r |= lf_json_add(j, "name", json_object_new_string(v->name));
                r |= v->host >= 0 ? lf_json_add(j, "host",
                                                json_object_new_string(s->hosts[v->host].name))
                                  : json_object_object_add(j, "host", NULL);
                r |= lf_json_add(j, "mem_mb", json_object_new_int64(v->mem_mb));
                r |= lf_json_add(j, "vcpus", json_object_new_int64(v->vcpus));
                r |= lf_json_add(j, "cpu_cores", exact_double(v->cpu_cores));
                r |= lf_json_add(j, "pinned", json_object_new_boolean(v->pinned));
                if (v->last_migrated != LF_TIME_NONE)
                        r |= lf_json_add(j, "last_migrated", time_string(v->last_migrated));
        }
        for (size_t i = 0; i < ELEMENTSOF(balancing_modes); i++) {
                lf_sched_mode m = balancing_modes[i];
                if (s->last_run[m] != LF_TIME_NONE)
                        r |= lf_json_add(last_run, mode_names[m], time_string(s->last_run[m]));
        }
        if (r < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* --- Carrying out a plan --- */

static double util_share(const lf_sched_host *h, double cores) {
        return cores * 100.0 / (double)h->cpus;
}

static void move_load(lf_snapshot *s, const lf_sched_vm *v, int from, int to) {
        if (from >= 0) {
                lf_sched_host *h = &s->hosts[from];
                h->cpu_util -= util_share(h, v->cpu_cores);
                if (h->cpu_util < 0)
                        h->cpu_util = 0;
        }
        if (to >= 0) {
                lf_sched_host *h = &s->hosts[to];
                h->cpu_util += util_share(h, v->cpu_cores);
                if (h->cpu_util > 100)
                        h->cpu_util = 100;
        }
}

int lf_snapshot_apply(lf_snapshot *s, const lf_plan_sched *p) {
        int nh = (int)s->n_hosts, nv = (int)s->n_vms;

#define BAD_HOST(i) ((i) < 0 || (i) >= nh)
#define BAD_VM(i) ((i) < 0 || (i) >= nv)
        for (size_t i = 0; i < p->n_placements; i++)
                if (BAD_VM(p->placements[i].vm) || BAD_HOST(p->placements[i].host))
                        return -EINVAL;
        for (size_t i = 0; i < p->n_migrations; i++)
                if (BAD_VM(p->migrations[i].vm) || BAD_HOST(p->migrations[i].from) ||
                    BAD_HOST(p->migrations[i].to))
                        return -EINVAL;
        for (size_t i = 0; i < p->n_power_on; i++)
                if (BAD_HOST(p->power_on[i]))
                        return -EINVAL;
        for (size_t i = 0; i < p->n_power_off; i++)
                if (BAD_HOST(p->power_off[i]))
                        return -EINVAL;
#undef BAD_HOST
#undef BAD_VM

        for (size_t i = 0; i < p->n_migrations; i++) {
                lf_sched_vm *v = &s->vms[p->migrations[i].vm];
                move_load(s, v, v->host, p->migrations[i].to);
                v->host = p->migrations[i].to;
                v->last_migrated = s->time;
        }
        for (size_t i = 0; i < p->n_placements; i++) {
                lf_sched_vm *v = &s->vms[p->placements[i].vm];
                move_load(s, v, v->host, p->placements[i].host);
                v->host = p->placements[i].host;
        }
        for (size_t i = 0; i < p->n_power_on; i++) {
                lf_sched_host *h = &s->hosts[p->power_on[i]];
                h->state = LF_HOST_UP;
                h->cpu_util = 0;
                h->powering_on = false;
        }
        for (size_t i = 0; i < p->n_power_off; i++) {
                s->hosts[p->power_off[i]].state = LF_HOST_OFF;
                s->hosts[p->power_off[i]].cpu_util = 0;
                s->hosts[p->power_off[i]].powering_on = false;
        }
        for (size_t i = 0; i < ELEMENTSOF(balancing_modes); i++)
                if (p->acted & (1u << balancing_modes[i]))
                        s->last_run[balancing_modes[i]] = s->time;
        return 0;
}

/* --- Slots --- */

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

int64_t lf_sched_typical_vm_mb(const lf_snapshot *s) {
        if (s->n_vms == 0)
                return LF_SCHED_DEFAULT_VM_MB;
        int64_t *m = malloc(s->n_vms * sizeof(*m));
        if (!m)
                return LF_SCHED_DEFAULT_VM_MB; /* callers stay correct, only less exact */
        for (size_t i = 0; i < s->n_vms; i++)
                m[i] = s->vms[i].mem_mb;
        qsort(m, s->n_vms, sizeof(*m), cmp_i64);
        int64_t r = m[(s->n_vms - 1) / 2];
        free(m);
        return r > 0 ? r : 1;
}

int64_t lf_sched_host_slots(const lf_sched_host *h, int64_t vms, int64_t used_mb,
                            int64_t typical_mb) {
        int64_t free_mb = h->mem_mb - h->reserved_mb - used_mb;
        int64_t slots = free_mb > 0 ? free_mb / (typical_mb > 0 ? typical_mb : 1) : 0;
        if (h->max_vms >= 0 && h->max_vms - vms < slots)
                slots = h->max_vms - vms;
        return slots > 0 ? slots : 0;
}

int64_t lf_snapshot_free_slots(const lf_snapshot *s) {
        _cleanup_free_ int64_t *vms = calloc(s->n_hosts + 1, sizeof(int64_t));
        _cleanup_free_ int64_t *used = calloc(s->n_hosts + 1, sizeof(int64_t));
        int64_t typical = lf_sched_typical_vm_mb(s), total = 0;

        if (!vms || !used)
                return 0;
        for (size_t i = 0; i < s->n_vms; i++)
                if (s->vms[i].host >= 0) {
                        vms[s->vms[i].host]++;
                        used[s->vms[i].host] += s->vms[i].mem_mb;
                }
        for (size_t i = 0; i < s->n_hosts; i++)
                if (s->hosts[i].state == LF_HOST_UP)
                        total += lf_sched_host_slots(&s->hosts[i], vms[i], used[i], typical);
        return total;
}

bool lf_policy_in_class_hours(const lf_sched_policy *p, int64_t t) {
        int64_t day_s = ((t % 86400) + 86400) % 86400;
        int minute = (int)(day_s / 60);
        return (p->class_days_mask >> lf_timestamp_weekday(t)) & 1 && minute >= p->class_from_min &&
               minute < p->class_to_min;
}

bool lf_snapshot_in_class_hours(const lf_snapshot *s) {
        return lf_policy_in_class_hours(&s->policy, s->time);
}

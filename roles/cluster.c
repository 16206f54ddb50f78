/* The cluster state in SQLite, the snapshot and the leader's cycle; see cluster.h. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "json.h"
#include "log.h"

#define SCHEMA_VERSION "2"

struct lf_cluster {
        const lf_manifest *m;
        sqlite3 *db;
        char *path;
        lf_sched_policy policy;
        int64_t sample_s, window_s;
        char *logged_plan; /* the plan last logged, so an unchanged plan is not logged again */
};

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS hosts(name TEXT PRIMARY KEY, state TEXT NOT NULL,"
        " maintenance INTEGER NOT NULL DEFAULT 0, cpus INTEGER NOT NULL DEFAULT 0,"
        " mem_mb INTEGER NOT NULL DEFAULT 0, mem_available_mb INTEGER NOT NULL DEFAULT 0,"
        " last_report INTEGER);"
        "CREATE TABLE IF NOT EXISTS vms(name TEXT PRIMARY KEY, host TEXT, state TEXT NOT NULL,"
        " vcpus INTEGER NOT NULL, mem_mb INTEGER NOT NULL, pinned INTEGER NOT NULL DEFAULT 0,"
        " last_migrated INTEGER, template TEXT, since INTEGER);"
        "CREATE TABLE IF NOT EXISTS host_samples(host TEXT NOT NULL, bucket INTEGER NOT NULL,"
        " cpu_util REAL NOT NULL, PRIMARY KEY(host, bucket));"
        "CREATE TABLE IF NOT EXISTS vm_samples(vm TEXT NOT NULL, bucket INTEGER NOT NULL,"
        " cpu_cores REAL NOT NULL, PRIMARY KEY(vm, bucket));"
        "CREATE TABLE IF NOT EXISTS last_run(mode TEXT PRIMARY KEY, time INTEGER NOT NULL);";

static const lf_sched_mode run_modes[] = {LF_SCHED_MEMORY, LF_SCHED_COMPUTE, LF_SCHED_ENERGY};

static int db_error(lf_cluster *c, const char *what) {
        log_error("%s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
        return -EIO;
}

static int exec(lf_cluster *c, const char *sql) {
        char *err = NULL;
        if (sqlite3_exec(c->db, sql, NULL, NULL, &err) == SQLITE_OK)
                return 0;
        log_error("%s: %s", c->path, err ? err : sqlite3_errmsg(c->db));
        sqlite3_free(err);
        return -EIO;
}

/* Prepares sql and binds the arguments described by `types` ('s' string or NULL, 'i' int64,
 * 'd' double, 'n' NULL when the int64 is LF_TIME_NONE). */
static int prepare(lf_cluster *c, sqlite3_stmt **ret, const char *sql, const char *types, ...) {
        sqlite3_stmt *st = NULL;
        va_list ap;
        int r = 0;

        if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
                return db_error(c, "cannot prepare a query");
        va_start(ap, types);
        for (int i = 0; types[i] && r == SQLITE_OK; i++) {
                if (types[i] == 's') {
                        const char *s = va_arg(ap, const char *);
                        r = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT)
                              : sqlite3_bind_null(st, i + 1);
                } else if (types[i] == 'd')
                        r = sqlite3_bind_double(st, i + 1, va_arg(ap, double));
                else {
                        int64_t v = va_arg(ap, int64_t);
                        r = types[i] == 'n' && v == LF_TIME_NONE ? sqlite3_bind_null(st, i + 1)
                                                                 : sqlite3_bind_int64(st, i + 1, v);
                }
        }
        va_end(ap);
        if (r != SQLITE_OK) {
                sqlite3_finalize(st);
                return db_error(c, "cannot bind a value");
        }
        *ret = st;
        return 0;
}

/* Runs a statement that returns no rows. */
static int run(lf_cluster *c, sqlite3_stmt *st) {
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        return r == SQLITE_DONE ? 0 : db_error(c, "cannot write");
}

#define RUN(c, sql, types, ...)                                                                    \
        ({                                                                                         \
                sqlite3_stmt *_st = NULL;                                                          \
                int _r = prepare((c), &_st, (sql), (types), ##__VA_ARGS__);                        \
                _r < 0 ? _r : run((c), _st);                                                       \
        })

static int meta_get(lf_cluster *c, const char *key, char **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, &st, "SELECT value FROM meta WHERE key = ?", "s", key);

        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r == SQLITE_DONE) {
                *ret = NULL;
                return 0;
        }
        if (r != SQLITE_ROW)
                return db_error(c, "cannot read");
        *ret = strdup((const char *)sqlite3_column_text(st, 0));
        return *ret ? 0 : -ENOMEM;
}

static int meta_set(lf_cluster *c, const char *key, const char *value) {
        return RUN(c, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", "ss", key, value);
}

void lf_cluster_policy(const lf_policy *mp, lf_sched_policy *p) {
        lf_sched_mode mode = LF_SCHED_MEMORY;

        lf_sched_policy_init(p);
        p->reserve_vm_slots = mp->reserve_vm_slots;
        p->cpu_high = mp->cpu_high;
        p->cpu_low = mp->cpu_low;
        p->boot_stagger_s = (int64_t)mp->boot_stagger_s;
        p->boot_batch = mp->boot_batch;
        p->min_interval_s = (int64_t)mp->min_interval_s;
        p->balance_interval_s = (int64_t)mp->balance_interval_s;
        if (mp->balance_mode && lf_sched_mode_from_string(mp->balance_mode, &mode) == 0)
                p->balance_mode = mode;
        snprintf(p->class_days, sizeof(p->class_days), "%s",
                 mp->class_days_str ? mp->class_days_str : "mon-fri");
        p->class_days_mask = mp->class_days;
        p->class_from_min = mp->class_from_min;
        p->class_to_min = mp->class_to_min;
}

int lf_cluster_open(const lf_manifest *m, const char *db_path, lf_cluster **ret) {
        lf_cluster *c = calloc(1, sizeof(*c));
        _cleanup_free_ char *lab = NULL, *version = NULL;
        int r;

        if (!c || !(c->path = strdup(db_path))) {
                free(c);
                return log_oom();
        }
        c->m = m;
        lf_cluster_policy(&m->policy, &c->policy);
        c->sample_s = m->policy.cpu_sample_s ? (int64_t)m->policy.cpu_sample_s : 60;
        c->window_s = m->policy.cpu_window_s ? (int64_t)m->policy.cpu_window_s : 600;
        if (sqlite3_open_v2(db_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK) {
                r = db_error(c, "cannot open the cluster database");
                goto fail;
        }
        sqlite3_busy_timeout(c->db, 5000);
        if ((r = exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")) < 0 ||
            (r = exec(c, schema)) < 0 || (r = meta_get(c, "lab", &lab)) < 0 ||
            (r = meta_get(c, "schema", &version)) < 0)
                goto fail;
        if (lab && !streq(lab, m->name)) {
                r = log_error_errno(-EINVAL,
                                    "%s holds the state of lab '%s', not '%s'; move it away to "
                                    "start afresh",
                                    db_path, lab, m->name);
                goto fail;
        }
        /* Version 1 had no templates and no starting VMs. */
        if (version && streq(version, "1") &&
            (r = exec(c, "ALTER TABLE vms ADD COLUMN template TEXT; "
                         "ALTER TABLE vms ADD COLUMN since INTEGER;")) < 0)
                goto fail;
        if (version && !streq(version, "1") && !streq(version, SCHEMA_VERSION)) {
                r = log_error_errno(-EINVAL, "%s has schema version %s, this labforged knows %s",
                                    db_path, version, SCHEMA_VERSION);
                goto fail;
        }
        if ((r = meta_set(c, "lab", m->name)) < 0 ||
            (r = meta_set(c, "schema", SCHEMA_VERSION)) < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        lf_cluster_free(c);
        return r;
}

void lf_cluster_free(lf_cluster *c) {
        if (!c)
                return;
        sqlite3_close(c->db);
        free(c->path);
        free(c->logged_plan);
        free(c);
}

/* --- reports, membership and the leader's view --- */

static int each_vm(lf_cluster *c, int (*fn)(void *ud, const lf_msg_vm *v), void *ud);
static void vm_of_row(sqlite3_stmt *st, lf_msg_vm *ret);
#define VM_COLUMNS                                                                                 \
        "SELECT name, host, state, vcpus, mem_mb, pinned, last_migrated, template FROM vms"
static int host_state_of(lf_cluster *c, const char *name, lf_host_state *ret);

static int64_t bucket_of(const lf_cluster *c, int64_t t) {
        return t - t % c->sample_s;
}

static int record_vms(lf_cluster *c, const lf_msg *msg, bool placement, int64_t now) {
        const lf_msg_report *p = &msg->report;
        _cleanup_json_ json_object *names = json_object_new_array();
        int r = 0;

        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_vms && r >= 0; i++) {
                const lf_msg_vm *v = &p->vms[i];
                if (v->cpu_cores >= 0)
                        r = RUN(c, "INSERT OR REPLACE INTO vm_samples VALUES(?, ?, ?)", "sid",
                                v->name, bucket_of(c, now), v->cpu_cores);
                if (r >= 0 && placement)
                        r = RUN(c,
                                "INSERT INTO vms(name, host, state, vcpus, mem_mb, template) "
                                "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(name) DO UPDATE SET "
                                "host = ?2, state = ?3, vcpus = ?4, mem_mb = ?5, "
                                "template = COALESCE(?6, template)",
                                "sssiis", v->name, msg->node, lf_vm_state_to_string(v->state),
                                v->vcpus, v->mem_mb, *v->template ? v->template : NULL);
                if (r >= 0)
                        r = lf_json_append(names, json_object_new_string(v->name));
        }
        if (r >= 0 && placement) {
                _cleanup_free_ char *list = lf_json_to_string(names);
                if (!list)
                        return -ENOMEM;
                /* A VM sent to the host but not started yet is not missing, nor is one that
                 * was migrating: it is on the destination, whose report says so (keeping
                 * its row keeps its template and last_migrated). */
                r = RUN(c,
                        "DELETE FROM vms WHERE host = ? AND state NOT IN ('starting', "
                        "'migrating') AND name NOT IN (SELECT value FROM json_each(?))",
                        "ss", msg->node, list);
        }
        return r;
}

int lf_cluster_report(lf_cluster *c, const lf_msg *msg, bool placement, int64_t now) {
        const lf_msg_report *p = &msg->report;
        int r;

        if (msg->type != LF_MSG_REPORT)
                return -EINVAL;
        if (!lf_manifest_find_node(c->m, msg->node))
                return -ENOENT;
        if ((r = exec(c, "BEGIN IMMEDIATE")) < 0)
                return r;
        r = RUN(c,
                "INSERT INTO hosts(name, state, maintenance, cpus, mem_mb, mem_available_mb, "
                "last_report) VALUES(?1, 'up', ?2, ?3, ?4, ?5, ?6) ON CONFLICT(name) DO UPDATE "
                "SET maintenance = ?2, cpus = ?3, mem_mb = ?4, mem_available_mb = ?5, "
                "last_report = ?6",
                "siiiii", msg->node, (int64_t)p->maintenance, p->cpus, p->mem_mb,
                p->mem_available_mb, now);
        if (r >= 0 && p->cpu_util >= 0)
                r = RUN(c, "INSERT OR REPLACE INTO host_samples VALUES(?, ?, ?)", "sid", msg->node,
                        bucket_of(c, now), p->cpu_util);
        if (r >= 0)
                r = record_vms(c, msg, placement, now);
        if (r >= 0)
                r = RUN(c, "DELETE FROM host_samples WHERE bucket <= ?", "i",
                        now - 2 * c->window_s);
        if (r >= 0)
                r = RUN(c, "DELETE FROM vm_samples WHERE bucket <= ?", "i", now - 2 * c->window_s);
        if (r < 0) {
                exec(c, "ROLLBACK");
                return r;
        }
        return exec(c, "COMMIT");
}

/* A host's state and maintenance flag; "" when it has no row. */
static int host_row(lf_cluster *c, const char *name, char state[16], bool *ret_maintenance) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, &st, "SELECT state, maintenance FROM hosts WHERE name = ?", "s", name);

        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r == SQLITE_DONE) {
                state[0] = 0;
                *ret_maintenance = false;
                return 0;
        }
        if (r != SQLITE_ROW)
                return db_error(c, "cannot read hosts");
        snprintf(state, 16, "%s", (const char *)sqlite3_column_text(st, 0));
        *ret_maintenance = sqlite3_column_int(st, 1);
        return 0;
}

int lf_cluster_membership(lf_cluster *c, const char *const *members, size_t n, int64_t now) {
        int r = exec(c, "BEGIN IMMEDIATE");

        for (size_t i = 0; i < c->m->n_nodes && r >= 0; i++) {
                const char *name = c->m->nodes[i].name, *to;
                bool member = false, maintenance;
                char from[16];

                for (size_t k = 0; k < n && !member; k++)
                        member = streq(members[k], name);
                if ((r = host_row(c, name, from, &maintenance)) < 0)
                        break;
                if (member)
                        to = maintenance ? "maintenance" : "up";
                else if (streq(from, "up") || streq(from, "maintenance"))
                        to = "failed";
                else
                        to = *from ? from : "off";
                if (streq(from, to))
                        continue;
                if (*from)
                        log_info("Host %s: %s -> %s.", name, from, to);
                r = RUN(c,
                        "INSERT INTO hosts(name, state) VALUES(?1, ?2) ON CONFLICT(name) DO "
                        "UPDATE SET state = ?2",
                        "ss", name, to);
        }
        if (r < 0) {
                exec(c, "ROLLBACK");
                return r;
        }
        return exec(c, "COMMIT");
}

static int set_last_run(lf_cluster *c, lf_sched_mode m, int64_t t) {
        if (t == LF_TIME_NONE)
                return RUN(c, "DELETE FROM last_run WHERE mode = ?", "s",
                           lf_sched_mode_to_string(m));
        return RUN(c, "INSERT OR REPLACE INTO last_run VALUES(?, ?)", "si",
                   lf_sched_mode_to_string(m), t);
}

static int get_last_runs(lf_cluster *c, int64_t last_run[static _LF_SCHED_MODE_MAX]) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, &st, "SELECT mode, time FROM last_run", "");

        for (int i = 0; i < _LF_SCHED_MODE_MAX; i++)
                last_run[i] = LF_TIME_NONE;
        if (r < 0)
                return r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                lf_sched_mode m;
                if (lf_sched_mode_from_string((const char *)sqlite3_column_text(st, 0), &m) == 0)
                        last_run[m] = sqlite3_column_int64(st, 1);
        }
        return r == SQLITE_DONE ? 0 : db_error(c, "cannot read last runs");
}

int lf_cluster_apply_state(lf_cluster *c, const lf_msg *msg) {
        const lf_msg_state *s = &msg->state;
        int r;

        if (msg->type != LF_MSG_STATE)
                return -EINVAL;
        if ((r = exec(c, "BEGIN IMMEDIATE")) < 0)
                return r;
        for (size_t i = 0; i < s->n_hosts && r >= 0; i++)
                if (lf_manifest_find_node(c->m, s->hosts[i].name))
                        r = RUN(c,
                                "INSERT INTO hosts(name, state) VALUES(?1, ?2) ON CONFLICT(name) "
                                "DO UPDATE SET state = ?2",
                                "ss", s->hosts[i].name, lf_host_state_to_string(s->hosts[i].state));
        if (r >= 0)
                r = exec(c, "DELETE FROM vms");
        for (size_t i = 0; i < s->n_vms && r >= 0; i++) {
                const lf_msg_vm *v = &s->vms[i];
                r = RUN(c, "INSERT INTO vms VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)", "sssiiinsn",
                        v->name, *v->host ? v->host : NULL, lf_vm_state_to_string(v->state),
                        v->vcpus, v->mem_mb, (int64_t)v->pinned, v->last_migrated,
                        *v->template ? v->template : NULL,
                        v->state == LF_VM_STARTING ? msg->time : LF_TIME_NONE);
        }
        for (size_t i = 0; i < ELEMENTSOF(run_modes) && r >= 0; i++)
                r = set_last_run(c, run_modes[i], s->last_run[run_modes[i]]);
        if (r >= 0)
                r = meta_set(c, "mode", lf_sched_mode_to_string(s->mode));
        if (r >= 0)
                r = meta_set(c, "next_action", s->next_action);
        if (r < 0) {
                exec(c, "ROLLBACK");
                return r;
        }
        return exec(c, "COMMIT");
}

int lf_cluster_add_pending(lf_cluster *c, const char *vm, const char *template, int64_t mem_mb,
                           int64_t vcpus) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, &st,
                        "INSERT INTO vms(name, host, state, vcpus, mem_mb, template) "
                        "VALUES(?, NULL, 'pending', ?, ?, ?)",
                        "siis", vm, vcpus, mem_mb, template);
        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r == SQLITE_CONSTRAINT)
                return -EEXIST;
        return r == SQLITE_DONE ? 0 : db_error(c, "cannot add a VM");
}

int lf_cluster_vm_starting(lf_cluster *c, const char *vm, const char *host, int64_t now) {
        int r = RUN(c,
                    "UPDATE vms SET host = ?, state = 'starting', since = ? WHERE name = ? AND "
                    "host IS NULL",
                    "sis", host, now, vm);
        if (r < 0)
                return r;
        return sqlite3_changes(c->db) ? 0 : -ENOENT;
}

int lf_cluster_vm_unstart(lf_cluster *c, const char *vm) {
        return RUN(c,
                   "UPDATE vms SET host = NULL, state = 'pending', since = NULL WHERE name = ? AND "
                   "state = 'starting'",
                   "s", vm);
}

int lf_cluster_expire_starting(lf_cluster *c, int64_t now, int64_t timeout_s) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, &st,
                        "SELECT name, host FROM vms WHERE state = 'starting' AND since <= ?", "i",
                        now - timeout_s);
        if (r < 0)
                return r;
        while (sqlite3_step(st) == SQLITE_ROW)
                log_warning("%s: %s has not reported it within %lld s of its start; it waits "
                            "to be placed again.",
                            (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1), (long long)timeout_s);
        return RUN(c,
                   "UPDATE vms SET host = NULL, state = 'pending', since = NULL WHERE state = "
                   "'starting' AND since <= ?",
                   "i", now - timeout_s);
}

int lf_cluster_host_set_state(lf_cluster *c, const char *host, lf_host_state state) {
        return RUN(c,
                   "INSERT INTO hosts(name, state) VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET "
                   "state = ?2",
                   "ss", host, lf_host_state_to_string(state));
}

int lf_cluster_host_state(lf_cluster *c, const char *host, lf_host_state *ret) {
        return host_state_of(c, host, ret);
}

int lf_cluster_release_vms(lf_cluster *c, const char *host) {
        int r = RUN(c,
                    "UPDATE vms SET host = NULL, state = 'pending', since = NULL WHERE host = ? "
                    "AND state != 'stopped'",
                    "s", host);
        return r < 0 ? r : sqlite3_changes(c->db);
}

int lf_cluster_vm_migrated(lf_cluster *c, const char *vm, int64_t now) {
        return RUN(c, "UPDATE vms SET last_migrated = ? WHERE name = ?", "is", now, vm);
}

int lf_cluster_vm_remove(lf_cluster *c, const char *vm) {
        return RUN(c, "DELETE FROM vms WHERE name = ?", "s", vm);
}

int lf_cluster_vm_get(lf_cluster *c, const char *vm, lf_msg_vm *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, &st, VM_COLUMNS " WHERE name = ?", "s", vm);

        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r == SQLITE_DONE)
                return -ENOENT;
        if (r != SQLITE_ROW)
                return db_error(c, "cannot read VMs");
        vm_of_row(st, ret);
        return 0;
}

bool lf_cluster_has_pending(lf_cluster *c) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (prepare(c, &st, "SELECT 1 FROM vms WHERE host IS NULL LIMIT 1", "") < 0)
                return false;
        return sqlite3_step(st) == SQLITE_ROW;
}

/* --- averages and the snapshot --- */

static int average(lf_cluster *c, const char *sql, const char *name, int64_t now, double *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, &st, sql, "sii", name, now - c->window_s, now);

        if (r < 0)
                return r;
        if (sqlite3_step(st) != SQLITE_ROW)
                return db_error(c, "cannot read samples");
        *ret = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_double(st, 0);
        return 0;
}

int lf_cluster_host_cpu(lf_cluster *c, const char *host, int64_t now, double *ret) {
        return average(c,
                       "SELECT AVG(cpu_util) FROM host_samples WHERE host = ? AND bucket > ? AND "
                       "bucket <= ?",
                       host, now, ret);
}

int lf_cluster_vm_cores(lf_cluster *c, const char *vm, int64_t now, double *ret) {
        return average(c,
                       "SELECT AVG(cpu_cores) FROM vm_samples WHERE vm = ? AND bucket > ? AND "
                       "bucket <= ?",
                       vm, now, ret);
}

static int snapshot_hosts(lf_cluster *c, lf_snapshot *s, int64_t now) {
        for (size_t i = 0; i < c->m->n_nodes; i++) {
                const lf_node *n = &c->m->nodes[i];
                _cleanup_stmt_ sqlite3_stmt *st = NULL;
                lf_sched_host h = {.name = n->name, .state = LF_HOST_OFF, .cpus = 1, .max_vms = -1};
                int r;

                if (!(n->roles & LF_ROLE_KVM))
                        continue;
                r = prepare(c, &st, "SELECT state, cpus, mem_mb FROM hosts WHERE name = ?", "s",
                            n->name);
                if (r < 0)
                        return r;
                /* The scheduler cannot count on a host whose size it never heard of. */
                if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 2) <= 0)
                        continue;
                lf_host_state_from_string((const char *)sqlite3_column_text(st, 0), &h.state);
                h.cpus = sqlite3_column_int64(st, 1) > 0 ? sqlite3_column_int64(st, 1) : 1;
                h.mem_mb = sqlite3_column_int64(st, 2);
                h.reserved_mb = h.mem_mb < LF_CLUSTER_HOST_RESERVED_MB
                                        ? h.mem_mb
                                        : LF_CLUSTER_HOST_RESERVED_MB;
                if ((r = lf_cluster_host_cpu(c, n->name, now, &h.cpu_util)) < 0)
                        return r;
                if (h.cpu_util > 100)
                        h.cpu_util = 100;
                if ((r = lf_snapshot_add_host(s, &h)) < 0)
                        return r;
        }
        return 0;
}

/* Calls fn for every VM, by name. */
/* A row of VM_COLUMNS. */
static void vm_of_row(sqlite3_stmt *st, lf_msg_vm *ret) {
        const char *host = (const char *)sqlite3_column_text(st, 1);
        const char *template = (const char *)sqlite3_column_text(st, 7);

        *ret = (lf_msg_vm){
                .vcpus = sqlite3_column_int64(st, 3),
                .mem_mb = sqlite3_column_int64(st, 4),
                .cpu_cores = -1,
                .pinned = sqlite3_column_int(st, 5),
                .last_migrated = sqlite3_column_type(st, 6) == SQLITE_NULL
                                         ? LF_TIME_NONE
                                         : sqlite3_column_int64(st, 6),
        };
        snprintf(ret->name, sizeof(ret->name), "%s", sqlite3_column_text(st, 0));
        snprintf(ret->host, sizeof(ret->host), "%s", host ? host : "");
        snprintf(ret->template, sizeof(ret->template), "%s", template ? template : "");
        lf_vm_state_from_string((const char *)sqlite3_column_text(st, 2), &ret->state);
}

static int each_vm(lf_cluster *c, int (*fn)(void *ud, const lf_msg_vm *v), void *ud) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(c, &st, VM_COLUMNS " ORDER BY name", "");

        if (r < 0)
                return r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                lf_msg_vm v;
                vm_of_row(st, &v);
                int k = fn(ud, &v);
                if (k < 0)
                        return k;
        }
        return r == SQLITE_DONE ? 0 : db_error(c, "cannot read VMs");
}

typedef struct snapshot_ctx {
        lf_cluster *c;
        lf_snapshot *s;
        int64_t now;
} snapshot_ctx;

static int add_vm_to_snapshot(void *ud, const lf_msg_vm *m) {
        snapshot_ctx *x = ud;
        lf_sched_vm v = {
                .name = (char *)m->name,
                .host = -1,
                .vcpus = m->vcpus,
                .mem_mb = m->mem_mb,
                /* Only a running guest migrates live: a VM that is stopped, or started but
                 * not yet reported, stays where it is defined. */
                .pinned = m->pinned || m->state == LF_VM_STOPPED || m->state == LF_VM_STARTING ||
                          m->state == LF_VM_CRASHED,
                .last_migrated = m->last_migrated,
        };
        int r;

        if (*m->host) {
                for (size_t i = 0; i < x->s->n_hosts && v.host < 0; i++)
                        if (streq(x->s->hosts[i].name, m->host))
                                v.host = (int)i;
                if (v.host < 0) {
                        log_warning("VM %s runs on %s, which is no VM host the cluster knows the "
                                    "size of; the scheduler leaves it out.",
                                    m->name, m->host);
                        return 0;
                }
        }
        if ((r = lf_cluster_vm_cores(x->c, m->name, x->now, &v.cpu_cores)) < 0)
                return r;
        r = lf_snapshot_add_vm(x->s, &v);
        return r < 0 ? r : 0;
}

int lf_cluster_snapshot(lf_cluster *c, int64_t now, lf_snapshot **ret) {
        _cleanup_snapshot_ lf_snapshot *s = lf_snapshot_new();
        lf_diag d = {};
        int r;

        if (!s)
                return -ENOMEM;
        s->time = now;
        s->policy = c->policy;
        if ((r = get_last_runs(c, s->last_run)) < 0 || (r = snapshot_hosts(c, s, now)) < 0 ||
            (r = each_vm(c, add_vm_to_snapshot, &(snapshot_ctx){c, s, now})) < 0)
                return r;
        if (lf_snapshot_check(s, c->path, &d) < 0) {
                for (size_t i = 0; i < d.n; i++)
                        log_error("Cluster snapshot: %s", d.msgs[i]);
                lf_diag_clear(&d);
                return -EINVAL;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* --- the leader's cycle --- */

static void next_action(const lf_plan_sched *p, const lf_snapshot *s, char *buf, size_t len) {
        size_t total = p->n_migrations + p->n_placements + p->n_power_on + p->n_power_off;
        int n = 0;

        if (p->n_migrations)
                n = snprintf(buf, len, "migrate %s from %s to %s (%s)",
                             s->vms[p->migrations[0].vm].name, s->hosts[p->migrations[0].from].name,
                             s->hosts[p->migrations[0].to].name,
                             lf_sched_reason_to_string(p->migrations[0].reason));
        else if (p->n_placements)
                n = snprintf(buf, len, "start %s on %s", s->vms[p->placements[0].vm].name,
                             s->hosts[p->placements[0].host].name);
        else if (p->n_power_on)
                n = snprintf(buf, len, "power on %s", s->hosts[p->power_on[0]].name);
        else if (p->n_power_off)
                n = snprintf(buf, len, "power off %s", s->hosts[p->power_off[0]].name);
        else
                n = snprintf(buf, len, "none");
        if (total > 1 && n > 0 && (size_t)n < len)
                snprintf(buf + n, len - (size_t)n, " (+%zu more)", total - 1);
}

/* Hands every action to its callback; true when all were taken. */
static bool carry_out(const lf_plan_sched *p, const lf_snapshot *s, const lf_cluster_actions *a) {
        bool ok = true;

        for (size_t i = 0; i < p->n_migrations; i++) {
                const lf_sched_migration *m = &p->migrations[i];
                if (a->migrate(a->userdata, s->vms[m->vm].name, s->hosts[m->from].name,
                               s->hosts[m->to].name, m->reason) < 0)
                        ok = false;
        }
        for (size_t i = 0; i < p->n_placements; i++) {
                const lf_sched_placement *pl = &p->placements[i];
                if (a->start(a->userdata, s->vms[pl->vm].name, s->hosts[pl->host].name,
                             pl->start_at_s) < 0)
                        ok = false;
        }
        for (size_t i = 0; i < p->n_power_on; i++)
                if (a->power_on(a->userdata, s->hosts[p->power_on[i]].name) < 0)
                        ok = false;
        for (size_t i = 0; i < p->n_power_off; i++)
                if (a->power_off(a->userdata, s->hosts[p->power_off[i]].name) < 0)
                        ok = false;
        return ok;
}

static bool can_act(const lf_cluster_actions *a) {
        return a && a->start && a->migrate && a->power_on && a->power_off;
}

/* Carries the plan out and records the balancing it did as run. */
static int act(lf_cluster *c, const lf_plan_sched *p, const lf_snapshot *s,
               const lf_cluster_actions *a, int64_t now) {
        int r;

        if (!carry_out(p, s, a))
                return 0; /* each failure was logged by its action */
        for (size_t i = 0; i < ELEMENTSOF(run_modes); i++)
                if (p->acted & (1u << run_modes[i]))
                        if ((r = set_last_run(c, run_modes[i], now)) < 0)
                                return r;
        return 0;
}

int lf_cluster_balance(lf_cluster *c, int64_t now, lf_sched_mode mode, bool dry_run,
                       const lf_cluster_actions *a, json_object **ret_plan) {
        _cleanup_snapshot_ lf_snapshot *s = NULL;
        _cleanup_plan_sched_ lf_plan_sched *p = NULL;
        int r;

        if ((r = lf_cluster_snapshot(c, now, &s)) < 0)
                return r;
        /* Asked for now: the rate limit of the modes does not apply. */
        for (size_t i = 0; i < ELEMENTSOF(run_modes); i++)
                if (mode == LF_SCHED_AUTO || mode == run_modes[i])
                        s->last_run[run_modes[i]] = LF_TIME_NONE;
        if ((r = lf_schedule(s, mode, &p)) < 0)
                return log_error_errno(r, "The scheduler failed: %m");
        if ((r = lf_sched_plan_to_json(p, s, true, ret_plan)) < 0)
                return r;
        if (dry_run)
                return 0;
        if (!can_act(a))
                return -EOPNOTSUPP;
        return act(c, p, s, a, now);
}

int lf_cluster_cycle(lf_cluster *c, int64_t now, const lf_cluster_actions *a) {
        _cleanup_snapshot_ lf_snapshot *s = NULL;
        _cleanup_plan_sched_ lf_plan_sched *p = NULL;
        _cleanup_free_ char *text = NULL;
        char next[LF_MSG_TEXT_SIZE];
        lf_sched_mode mode;
        bool empty;
        int r;

        if ((r = lf_cluster_snapshot(c, now, &s)) < 0)
                return r;
        if ((r = lf_schedule(s, LF_SCHED_AUTO, &p)) < 0)
                return log_error_errno(r, "The scheduler failed: %m");
        mode = lf_snapshot_in_class_hours(s) ? c->policy.balance_mode : LF_SCHED_ENERGY;
        next_action(p, s, next, sizeof(next));
        if ((r = meta_set(c, "mode", lf_sched_mode_to_string(mode))) < 0 ||
            (r = meta_set(c, "next_action", next)) < 0)
                return r;

        empty = !p->n_migrations && !p->n_placements && !p->n_power_on && !p->n_power_off;
        if (empty && !p->n_failures)
                return 0;
        if (can_act(a))
                return act(c, p, s, a, now);
        text = lf_sched_plan_to_text(p, s, false);
        if (!text)
                return -ENOMEM;
        if (!c->logged_plan || !streq(c->logged_plan, text)) {
                log_info("Scheduler plan (not carried out: this labforged has no VM driver "
                         "yet):\n%s",
                         text);
                free(c->logged_plan);
                c->logged_plan = TAKE_PTR(text);
        }
        return 0;
}

/* --- the view as a message and as status --- */

static int host_state_of(lf_cluster *c, const char *name, lf_host_state *ret) {
        char state[16];
        bool maintenance;
        int r = host_row(c, name, state, &maintenance);

        if (r < 0)
                return r;
        *ret = LF_HOST_OFF;
        if (*state)
                lf_host_state_from_string(state, ret);
        return 0;
}

static int add_vm_to_msg(void *ud, const lf_msg_vm *v) {
        return lf_msg_add_vm(ud, v);
}

int lf_cluster_state_msg(lf_cluster *c, const char *node, int64_t now, lf_msg **ret) {
        _cleanup_msg_ lf_msg *m = lf_msg_new(LF_MSG_STATE);
        _cleanup_free_ char *mode = NULL, *next = NULL;
        int r;

        if (!m)
                return -ENOMEM;
        snprintf(m->node, sizeof(m->node), "%s", node);
        m->time = now;
        for (size_t i = 0; i < c->m->n_nodes; i++) {
                lf_msg_host h = {};
                snprintf(h.name, sizeof(h.name), "%s", c->m->nodes[i].name);
                if ((r = host_state_of(c, h.name, &h.state)) < 0 ||
                    (r = lf_msg_add_host(m, &h)) < 0)
                        return r;
        }
        if ((r = each_vm(c, add_vm_to_msg, m)) < 0 ||
            (r = get_last_runs(c, m->state.last_run)) < 0 || (r = meta_get(c, "mode", &mode)) < 0 ||
            (r = meta_get(c, "next_action", &next)) < 0)
                return r;
        if (mode)
                lf_sched_mode_from_string(mode, &m->state.mode);
        snprintf(m->state.next_action, sizeof(m->state.next_action), "%s", next ? next : "");
        *ret = TAKE_PTR(m);
        return 0;
}

typedef struct status_ctx {
        json_object *vms;
        json_object *hosts;
} status_ctx;

static int add_vm_to_status(void *ud, const lf_msg_vm *v) {
        status_ctx *s = ud;
        json_object *o = json_object_new_object();
        int r = lf_json_append(s->vms, o);

        r = r < 0 ? r : lf_json_add(o, "name", json_object_new_string(v->name));
        if (r >= 0)
                r = *v->host ? lf_json_add(o, "host", json_object_new_string(v->host))
                             : (json_object_object_add(o, "host", NULL) < 0 ? -ENOMEM : 0);
        r = r < 0 ? r
                  : lf_json_add(o, "state",
                                json_object_new_string(lf_vm_state_to_string(v->state)));
        /* Count the VM on its host's entry. */
        for (size_t i = 0; r >= 0 && *v->host && i < json_object_array_length(s->hosts); i++) {
                json_object *h = json_object_array_get_idx(s->hosts, i), *name, *n;
                json_object_object_get_ex(h, "name", &name);
                if (streq(json_object_get_string(name), v->host) &&
                    json_object_object_get_ex(h, "vms", &n))
                        json_object_set_int(n, json_object_get_int(n) + 1);
        }
        return r;
}

int lf_cluster_status(lf_cluster *c, const char *node, bool quorate, const char *leader,
                      json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        _cleanup_free_ char *mode = NULL, *next = NULL;
        status_ctx s = {};
        int r;

        if (!o)
                return -ENOMEM;
        r = lf_json_add(o, "node", json_object_new_string(node));
        r = r < 0 ? r : lf_json_add(o, "quorate", json_object_new_boolean(quorate));
        if (r >= 0)
                r = leader ? lf_json_add(o, "leader", json_object_new_string(leader))
                           : (json_object_object_add(o, "leader", NULL) < 0 ? -ENOMEM : 0);
        r = r < 0 ? r : meta_get(c, "mode", &mode);
        r = r < 0 ? r : meta_get(c, "next_action", &next);
        r = r < 0 ? r : lf_json_add(o, "mode", json_object_new_string(mode ? mode : "unknown"));
        r = r < 0 ? r : lf_json_add(o, "next_action", json_object_new_string(next ? next : "none"));
        /* The object owns both arrays from here on. */
        r = r < 0 ? r : lf_json_add(o, "hosts", s.hosts = json_object_new_array());
        r = r < 0 ? r : lf_json_add(o, "vms", s.vms = json_object_new_array());
        for (size_t i = 0; i < c->m->n_nodes && r >= 0; i++) {
                const lf_node *n = &c->m->nodes[i];
                json_object *h = json_object_new_object();
                lf_host_state st;
                char roles[64];

                lf_roles_format(n->roles, roles, sizeof(roles));
                r = lf_json_append(s.hosts, h);
                r = r < 0 ? r : host_state_of(c, n->name, &st);
                r = r < 0 ? r : lf_json_add(h, "name", json_object_new_string(n->name));
                r = r < 0 ? r : lf_json_add(h, "role", json_object_new_string(roles));
                r = r < 0 ? r
                          : lf_json_add(h, "state",
                                        json_object_new_string(lf_host_state_to_string(st)));
                r = r < 0 ? r : lf_json_add(h, "vms", json_object_new_int(0));
        }
        r = r < 0 ? r : each_vm(c, add_vm_to_status, &s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* The appliance's node inventory in SQLite; see state.h. One connection guarded by a mutex:
 * the node API is a few small requests per install, so simplicity beats concurrency here. Each
 * transition is one IMMEDIATE transaction that reads the node, checks, and writes. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "inventory.h"
#include "json.h"
#include "sha256.h"
#include "state.h"
#include "units.h"

struct lf_state {
        sqlite3 *db;
        pthread_mutex_t lock;
        int64_t (*now)(void);
};

static const char *const state_names[] = {
        [LF_NODE_DISCOVERED] = "discovered", [LF_NODE_READY] = "ready",
        [LF_NODE_INSTALLING] = "installing", [LF_NODE_DEPLOYED] = "deployed",
        [LF_NODE_FAILED] = "failed",
};

const char *lf_node_state_name(lf_node_state s) {
        return (size_t)s < ELEMENTSOF(state_names) ? state_names[s] : "unknown";
}

static int state_parse(const char *s, lf_node_state *ret) {
        for (size_t i = 0; s && i < ELEMENTSOF(state_names); i++)
                if (streq(s, state_names[i])) {
                        *ret = (lf_node_state)i;
                        return 0;
                }
        return -EINVAL;
}

/* Schema versions: migrations[i] brings user_version i to i + 1. Append, never edit. */
static const char *const migrations[] = {
        "CREATE TABLE nodes ("
        " mac TEXT PRIMARY KEY NOT NULL,"
        " name TEXT, role TEXT, nodeid INTEGER,"
        " in_manifest INTEGER NOT NULL DEFAULT 0,"
        " state TEXT NOT NULL CHECK (state IN"
        "  ('discovered','ready','installing','deployed','failed')),"
        " progress INTEGER NOT NULL DEFAULT 0,"
        " step TEXT NOT NULL DEFAULT '',"
        " last_event TEXT NOT NULL DEFAULT '',"
        " token_hash TEXT,"
        " token_state TEXT NOT NULL DEFAULT 'none',"
        " inventory TEXT,"
        " failure_step TEXT, failure_reason TEXT, failure_log TEXT,"
        " created INTEGER NOT NULL, updated INTEGER NOT NULL,"
        " install_started INTEGER NOT NULL DEFAULT 0,"
        " install_finished INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX nodes_name ON nodes(name);"
        "CREATE TABLE events ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " mac TEXT NOT NULL, time INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);"
        "CREATE INDEX events_mac ON events(mac, id);",
};

static int64_t default_now(void) {
        return (int64_t)time(NULL);
}

static int sql_error(lf_state *s) {
        int c = sqlite3_errcode(s->db);
        if (c == SQLITE_NOMEM)
                return -ENOMEM;
        if (c == SQLITE_BUSY || c == SQLITE_LOCKED)
                return -EBUSY;
        if (c == SQLITE_FULL)
                return -ENOSPC;
        if (c == SQLITE_READONLY || c == SQLITE_PERM || c == SQLITE_CANTOPEN)
                return -EACCES;
        return -EIO;
}

static int exec(lf_state *s, const char *sql) {
        return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : sql_error(s);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

/* Prepares sql and binds arguments described by types: 's' string (NULL binds NULL),
 * 'i' int64_t, 'u' unsigned (0 binds NULL: node ids). */
static int vprepare(lf_state *s, sqlite3_stmt **ret, const char *sql, const char *types,
                    va_list ap) {
        sqlite3_stmt *st = NULL;
        int k = 0;

        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
                return sql_error(s);
        for (const char *t = types; *t; t++) {
                int rc;
                k++;
                if (*t == 's') {
                        const char *v = va_arg(ap, const char *);
                        rc = v ? sqlite3_bind_text(st, k, v, -1, SQLITE_TRANSIENT)
                               : sqlite3_bind_null(st, k);
                } else if (*t == 'i')
                        rc = sqlite3_bind_int64(st, k, va_arg(ap, int64_t));
                else {
                        unsigned v = va_arg(ap, unsigned);
                        rc = v ? sqlite3_bind_int64(st, k, v) : sqlite3_bind_null(st, k);
                }
                if (rc != SQLITE_OK) {
                        sqlite3_finalize(st);
                        return sql_error(s);
                }
        }
        *ret = st;
        return 0;
}

static int prepare(lf_state *s, sqlite3_stmt **ret, const char *sql, const char *types, ...) {
        va_list ap;
        va_start(ap, types);
        int r = vprepare(s, ret, sql, types, ap);
        va_end(ap);
        return r;
}

/* Runs a statement that returns no rows. */
static int run(lf_state *s, const char *sql, const char *types, ...) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        va_list ap;
        int r;

        va_start(ap, types);
        r = vprepare(s, &st, sql, types, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return sqlite3_step(st) == SQLITE_DONE ? 0 : sql_error(s);
}

/* One integer from a query (0 when no row or NULL). */
static int query_int(lf_state *s, int64_t *ret, const char *sql, const char *types, ...) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        va_list ap;
        int r, rc;

        va_start(ap, types);
        r = vprepare(s, &st, sql, types, ap);
        va_end(ap);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = sqlite3_column_int64(st, 0);
        else if (rc == SQLITE_DONE)
                *ret = 0;
        else
                return sql_error(s);
        return 0;
}

void lf_state_node_free(lf_state_node *n) {
        if (!n)
                return;
        free(n->name);
        free(n->role);
        free(n->step);
        free(n->last_event);
        free(n->token_state);
        free(n->inventory);
        free(n->failure_step);
        free(n->failure_reason);
        free(n->failure_log);
        free(n);
}

void lf_state_list_free(lf_state_node **l, size_t n) {
        for (size_t i = 0; l && i < n; i++)
                lf_state_node_free(l[i]);
        free(l);
}

void lf_state_events_free(lf_state_event *e, size_t n) {
        for (size_t i = 0; e && i < n; i++) {
                free(e[i].kind);
                free(e[i].message);
        }
        free(e);
}

#define NODE_COLUMNS                                                                               \
        "mac, name, role, nodeid, in_manifest, state, progress, step, last_event, token_state,"    \
        " inventory, failure_step, failure_reason, failure_log, created, updated,"                 \
        " install_started, install_finished"

static char *column_dup(sqlite3_stmt *st, int i, bool *oom) {
        const unsigned char *t = sqlite3_column_text(st, i);
        char *d;
        if (!t)
                return NULL;
        d = strdup((const char *)t);
        if (!d)
                *oom = true;
        return d;
}

static int node_from_row(sqlite3_stmt *st, lf_state_node **ret) {
        _cleanup_state_node_ lf_state_node *n = calloc(1, sizeof(*n));
        const unsigned char *mac;
        bool oom = false;

        if (!n)
                return -ENOMEM;
        mac = sqlite3_column_text(st, 0);
        snprintf(n->mac, sizeof(n->mac), "%s", mac ? (const char *)mac : "");
        n->name = column_dup(st, 1, &oom);
        n->role = column_dup(st, 2, &oom);
        n->nodeid = (unsigned)sqlite3_column_int64(st, 3);
        n->in_manifest = sqlite3_column_int(st, 4) != 0;
        if (state_parse((const char *)sqlite3_column_text(st, 5), &n->state) < 0)
                return -EIO;
        n->progress = (unsigned)sqlite3_column_int(st, 6);
        n->step = column_dup(st, 7, &oom);
        n->last_event = column_dup(st, 8, &oom);
        n->token_state = column_dup(st, 9, &oom);
        n->inventory = column_dup(st, 10, &oom);
        n->failure_step = column_dup(st, 11, &oom);
        n->failure_reason = column_dup(st, 12, &oom);
        n->failure_log = column_dup(st, 13, &oom);
        n->created = sqlite3_column_int64(st, 14);
        n->updated = sqlite3_column_int64(st, 15);
        n->install_started = sqlite3_column_int64(st, 16);
        n->install_finished = sqlite3_column_int64(st, 17);
        if (oom)
                return -ENOMEM;
        *ret = TAKE_PTR(n);
        return 0;
}

/* The node with this canonical MAC; -ENOENT when none. */
static int load_node(lf_state *s, const char *where, const char *key, lf_state_node **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_free_ char *sql = NULL;
        int r, rc;

        if (asprintf(&sql, "SELECT " NODE_COLUMNS " FROM nodes WHERE %s = ?", where) < 0)
                return -ENOMEM;
        r = prepare(s, &st, sql, "s", key);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return sql_error(s);
        return node_from_row(st, ret);
}

static void lock(lf_state *s) {
        pthread_mutex_lock(&s->lock);
}

static void unlock(lf_state *s) {
        pthread_mutex_unlock(&s->lock);
}

/* Starts a write transaction under the lock. */
static int begin(lf_state *s) {
        int r;
        lock(s);
        r = exec(s, "BEGIN IMMEDIATE");
        if (r < 0)
                unlock(s);
        return r;
}

/* Commits when r >= 0, else rolls back; releases the lock; returns r (or the commit error). */
static int end(lf_state *s, int r) {
        if (r >= 0) {
                int c = exec(s, "COMMIT");
                if (c < 0) {
                        exec(s, "ROLLBACK");
                        r = c;
                }
        } else
                exec(s, "ROLLBACK");
        unlock(s);
        return r;
}

static int migrate(lf_state *s, lf_diag *diag, const char *path) {
        int64_t version;
        int r;

        r = query_int(s, &version, "PRAGMA user_version", "");
        if (r < 0)
                return r;
        if (version > (int64_t)ELEMENTSOF(migrations)) {
                lf_diag_add(diag, path, 0,
                            "schema version %lld is newer than this labforge knows (%zu); "
                            "run the labforge that wrote it, or move the file away",
                            (long long)version, ELEMENTSOF(migrations));
                return -EPROTO;
        }
        if (version == (int64_t)ELEMENTSOF(migrations))
                return 0;
        r = exec(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        for (size_t i = (size_t)version; i < ELEMENTSOF(migrations) && r >= 0; i++)
                r = exec(s, migrations[i]);
        if (r >= 0) {
                char sql[64];
                snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", ELEMENTSOF(migrations));
                r = exec(s, sql);
        }
        if (r >= 0)
                r = exec(s, "COMMIT");
        if (r < 0)
                exec(s, "ROLLBACK");
        return r;
}

int lf_state_open(const char *dir, lf_diag *diag, lf_state **ret) {
        _cleanup_free_ char *path = NULL;
        lf_state *s;
        int r;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                lf_diag_add(diag, dir, 0, "cannot create the state directory: %s", strerror(-r));
                return r;
        }
        if (asprintf(&path, "%s/labforge.db", dir) < 0)
                return -ENOMEM;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        s->now = default_now;
        if (sqlite3_open_v2(path, &s->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                            NULL) != SQLITE_OK) {
                r = s->db ? sql_error(s) : -ENOMEM;
                lf_diag_add(diag, path, 0, "cannot open the node database: %s",
                            s->db ? sqlite3_errmsg(s->db) : "out of memory");
                lf_state_close(s);
                return r;
        }
        sqlite3_busy_timeout(s->db, 5000);
        r = exec(s, "PRAGMA journal_mode = WAL");
        if (r >= 0)
                r = exec(s, "PRAGMA synchronous = NORMAL");
        if (r >= 0)
                r = exec(s, "PRAGMA foreign_keys = ON");
        if (r >= 0)
                r = migrate(s, diag, path);
        if (r < 0) {
                if (r != -EPROTO)
                        lf_diag_add(diag, path, 0, "cannot use the node database: %s",
                                    sqlite3_errmsg(s->db));
                lf_state_close(s);
                return r;
        }
        *ret = s;
        return 0;
}

void lf_state_close(lf_state *s) {
        if (!s)
                return;
        sqlite3_close(s->db);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

void lf_state_set_clock(lf_state *s, int64_t (*now)(void)) {
        s->now = now ? now : default_now;
}

/* Appends an event, makes it the node's last event, and drops the oldest past the limit. */
static int add_event(lf_state *s, const char *mac, const char *kind, const char *fmt, ...)
        _printf_(4, 5);
static int add_event(lf_state *s, const char *mac, const char *kind, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        int64_t now = s->now();
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = run(s, "INSERT INTO events (mac, time, kind, message) VALUES (?, ?, ?, ?)", "siss", mac,
                now, kind, msg);
        if (r < 0)
                return r;
        r = run(s, "UPDATE nodes SET last_event = ?, updated = ? WHERE mac = ?", "sis", msg, now,
                mac);
        if (r < 0)
                return r;
        return run(s,
                   "DELETE FROM events WHERE mac = ?1 AND id <= (SELECT id FROM events WHERE "
                   "mac = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                   "si", mac, (int64_t)LF_STATE_MAX_EVENTS);
}

static int set_state(lf_state *s, const char *mac, lf_node_state st) {
        return run(s, "UPDATE nodes SET state = ?, updated = ? WHERE mac = ?", "sis",
                   lf_node_state_name(st), s->now(), mac);
}

static bool active(lf_node_state st) {
        return st == LF_NODE_INSTALLING || st == LF_NODE_DEPLOYED;
}

/* "kvm1 (52:54:00:00:02:01)" or just the MAC for a discovered node, for messages. */
static const char *node_label(const lf_state_node *n, char *buf, size_t len) {
        if (n->name)
                snprintf(buf, len, "%s (%s)", n->name, n->mac);
        else
                snprintf(buf, len, "%s", n->mac);
        return buf;
}

/* Refuses a new node past LF_STATE_MAX_NODES. */
static int check_room(lf_state *s, lf_diag *diag) {
        int64_t count;
        int r = query_int(s, &count, "SELECT count(*) FROM nodes", "");
        if (r < 0)
                return r;
        if (count >= LF_STATE_MAX_NODES) {
                lf_diag_add(diag, NULL, 0,
                            "the appliance already knows %d PCs, its limit; forget some with "
                            "'labforge forget MAC'",
                            LF_STATE_MAX_NODES);
                return -EBUSY;
        }
        return 0;
}

/* A node that leaves its assignment: back to discovered when it has an inventory to show,
 * else gone. */
static int unassign(lf_state *s, const lf_state_node *n, const char *why) {
        int r;
        if (!n->inventory) {
                r = run(s, "DELETE FROM events WHERE mac = ?", "s", n->mac);
                return r < 0 ? r : run(s, "DELETE FROM nodes WHERE mac = ?", "s", n->mac);
        }
        r = run(s,
                "UPDATE nodes SET name = NULL, role = NULL, nodeid = NULL, in_manifest = 0,"
                " state = 'discovered', progress = 0, step = '', token_hash = NULL,"
                " token_state = 'none', failure_step = NULL, failure_reason = NULL,"
                " failure_log = NULL WHERE mac = ?",
                "s", n->mac);
        return r < 0 ? r : add_event(s, n->mac, "unassigned", "%s", why);
}

/* The canonical form of a MAC given by a caller, or -EINVAL with a message. */
static int canon_mac(const char *mac, char canon[static LF_MAC_STR_LEN + 1], lf_diag *diag) {
        if (lf_mac_parse(mac, canon) < 0)
                return lf_diag_add(diag, NULL, 0,
                                   "'%s' is not a MAC address; write six hex bytes separated "
                                   "by ':' (52:54:00:12:34:56)",
                                   mac);
        return 0;
}

/* canon_mac, then begin. */
static int begin_mac(lf_state *s, const char *mac, char canon[static LF_MAC_STR_LEN + 1],
                     lf_diag *diag) {
        int r = canon_mac(mac, canon, diag);
        return r < 0 ? r : begin(s);
}

/* The node of a canonical MAC, or -ENOENT with a message. */
static int load_known(lf_state *s, const char *mac, lf_diag *diag, lf_state_node **ret) {
        int r = load_node(s, "mac", mac, ret);
        if (r == -ENOENT)
                lf_diag_add(diag, NULL, 0,
                            "%s is not known to the appliance; list it in the manifest or "
                            "'labforge assign' it",
                            mac);
        return r;
}

static int list_nodes(lf_state *s, lf_state_node ***ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        lf_state_node **l = NULL;
        size_t n = 0;
        int r, rc;

        r = prepare(s, &st,
                    "SELECT " NODE_COLUMNS " FROM nodes ORDER BY nodeid IS NULL, nodeid, mac", "");
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                lf_state_node **nl = realloc(l, (n + 1) * sizeof(*l));
                if (!nl) {
                        r = -ENOMEM;
                        break;
                }
                l = nl;
                r = node_from_row(st, &l[n]);
                if (r < 0)
                        break;
                n++;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sql_error(s);
        if (r < 0) {
                lf_state_list_free(l, n);
                return r;
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

/* Reports why the manifest cannot be taken when it drops or changes node n, which is
 * installing or deployed. */
static void check_kept(const lf_manifest *m, const lf_state_node *n, lf_diag *diag) {
        const lf_node *mn = lf_manifest_find_mac(m, n->mac);
        const char *advice = n->state == LF_NODE_INSTALLING
                                     ? "wait until its install completes or fails"
                                     : "restore it, or run 'labforge rebuild' on it first";
        char label[128], role[64];

        node_label(n, label, sizeof(label));
        if (!mn) {
                if (n->in_manifest)
                        lf_diag_add(diag, m->file, 0,
                                    "node %s is %s, but the manifest no longer lists it; %s", label,
                                    lf_node_state_name(n->state), advice);
                return;
        }
        lf_roles_format(mn->roles, role, sizeof(role));
        if (!streq(mn->name, n->name ? n->name : "") || !streq(role, n->role ? n->role : "") ||
            mn->nodeid != n->nodeid)
                lf_diag_add(diag, m->file, mn->line,
                            "node %s is %s as role %s with node id %u, but the manifest makes "
                            "it %s, role %s, node id %u (node ids follow manifest order); %s",
                            label, lf_node_state_name(n->state), n->role, n->nodeid, mn->name, role,
                            mn->nodeid, advice);
}

static int sync_locked(lf_state *s, const lf_manifest *m, lf_diag *diag) {
        lf_state_node **l = NULL;
        size_t n = 0, problems = diag->n;
        int r;

        r = list_nodes(s, &l, &n);
        if (r < 0)
                return r;
        /* Check everything before writing anything. */
        for (size_t i = 0; i < n; i++) {
                if (active(l[i]->state))
                        check_kept(m, l[i], diag);
        }
        for (size_t i = 0; i < m->n_nodes; i++)
                for (size_t j = 0; j < n; j++)
                        if (active(l[j]->state) && l[j]->name &&
                            streq(l[j]->name, m->nodes[i].name) &&
                            !streq(l[j]->mac, m->nodes[i].mac))
                                lf_diag_add(diag, m->file, m->nodes[i].line,
                                            "node name %s is taken by %s, which is %s; give "
                                            "this node another name",
                                            m->nodes[i].name, l[j]->mac,
                                            lf_node_state_name(l[j]->state));
        if (diag->n > problems) {
                r = -EBUSY;
                goto out;
        }

        /* Nodes that lose their place: listed no more, or their name taken by the manifest. */
        for (size_t i = 0; i < n && r >= 0; i++) {
                const lf_state_node *x = l[i];
                if (active(x->state) || lf_manifest_find_mac(m, x->mac) || !x->name)
                        continue;
                if (x->in_manifest)
                        r = unassign(s, x, "no longer listed in the manifest");
                else if (lf_manifest_find_node(m, x->name))
                        r = unassign(s, x, "its name was given to another PC by the manifest");
        }
        for (size_t i = 0; i < m->n_nodes && r >= 0; i++) {
                const lf_node *mn = &m->nodes[i];
                _cleanup_state_node_ lf_state_node *x = NULL;
                char role[64];
                int64_t now = s->now();

                lf_roles_format(mn->roles, role, sizeof(role));
                r = load_node(s, "mac", mn->mac, &x);
                if (r == -ENOENT) {
                        r = run(s,
                                "INSERT INTO nodes (mac, name, role, nodeid, in_manifest, state,"
                                " created, updated) VALUES (?, ?, ?, ?, 1, 'ready', ?, ?)",
                                "sssuii", mn->mac, mn->name, role, mn->nodeid, now, now);
                        if (r >= 0)
                                r = add_event(s, mn->mac, "ready",
                                              "listed in the manifest as %s (%s): ready to "
                                              "install",
                                              mn->name, role);
                        continue;
                }
                if (r < 0)
                        break;
                bool same = x->in_manifest && x->name && streq(x->name, mn->name) && x->role &&
                            streq(x->role, role) && x->nodeid == mn->nodeid;
                if (same)
                        continue;
                r = run(s,
                        "UPDATE nodes SET name = ?, role = ?, nodeid = ?, in_manifest = 1"
                        " WHERE mac = ?",
                        "ssus", mn->name, role, mn->nodeid, mn->mac);
                if (r >= 0 && x->state == LF_NODE_DISCOVERED)
                        r = set_state(s, mn->mac, LF_NODE_READY);
                if (r >= 0)
                        r = add_event(s, mn->mac, "ready", "listed in the manifest as %s (%s)%s",
                                      mn->name, role,
                                      x->state == LF_NODE_DISCOVERED ? ": ready to install" : "");
        }
out:
        lf_state_list_free(l, n);
        return r;
}

int lf_state_sync(lf_state *s, const lf_manifest *m, lf_diag *diag) {
        int r = begin(s);
        if (r < 0)
                return r;
        return end(s, sync_locked(s, m, diag));
}

int lf_state_get(lf_state *s, const char *mac, lf_state_node **ret) {
        char canon[LF_MAC_STR_LEN + 1];
        int r;

        if (lf_mac_parse(mac, canon) < 0)
                return -ENOENT;
        lock(s);
        r = load_node(s, "mac", canon, ret);
        unlock(s);
        return r;
}

static int find_locked(lf_state *s, const char *key, lf_state_node **ret) {
        char canon[LF_MAC_STR_LEN + 1];
        if (lf_mac_parse(key, canon) >= 0)
                return load_node(s, "mac", canon, ret);
        return load_node(s, "name", key, ret);
}

int lf_state_find(lf_state *s, const char *key, lf_state_node **ret) {
        int r;
        lock(s);
        r = find_locked(s, key, ret);
        unlock(s);
        return r;
}

int lf_state_list(lf_state *s, lf_state_node ***ret, size_t *ret_n) {
        int r;
        lock(s);
        r = list_nodes(s, ret, ret_n);
        unlock(s);
        return r;
}

int lf_state_events(lf_state *s, const char *mac, lf_state_event **ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        lf_state_event *e = NULL;
        size_t n = 0;
        int r, rc = SQLITE_DONE;

        lock(s);
        r = prepare(s, &st, "SELECT time, kind, message FROM events WHERE mac = ? ORDER BY id", "s",
                    mac);
        while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                lf_state_event *ne = realloc(e, (n + 1) * sizeof(*e));
                bool oom = false;
                if (!ne) {
                        r = -ENOMEM;
                        break;
                }
                e = ne;
                e[n].time = sqlite3_column_int64(st, 0);
                e[n].kind = column_dup(st, 1, &oom);
                e[n].message = column_dup(st, 2, &oom);
                n++;
                if (oom)
                        r = -ENOMEM;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sql_error(s);
        unlock(s);
        if (r < 0) {
                lf_state_events_free(e, n);
                return r;
        }
        *ret = e;
        *ret_n = n;
        return 0;
}

/* Reads and checks an inventory, returning its canonical JSON text and a one-line summary. */
static int inventory_canon(const char *json, lf_diag *diag, char **ret_json, char **ret_summary) {
        _cleanup_inventory_ lf_inventory *inv = NULL;
        _cleanup_json_ json_object *obj = NULL;
        _cleanup_free_ char *text = NULL, *summary = NULL;
        char mem[32];
        int r;

        r = lf_inventory_load_buffer("inventory", json, strlen(json), diag, &inv);
        if (r < 0)
                return r;
        r = lf_inventory_to_json(inv, &obj);
        if (r < 0)
                return r;
        text = lf_json_to_string(obj);
        if (!text)
                return -ENOMEM;
        lf_format_size(inv->mem_mb * 1024 * 1024, mem, sizeof(mem));
        if (asprintf(&summary, "%u CPUs, %s memory, %zu disks, %zu NICs, %s firmware", inv->cpus,
                     mem, inv->n_disks, inv->n_nics, inv->firmware ? inv->firmware : "unknown") < 0)
                return -ENOMEM;
        *ret_json = TAKE_PTR(text);
        *ret_summary = TAKE_PTR(summary);
        return 0;
}

static int discover_locked(lf_state *s, const char *mac, const char *json, lf_diag *diag) {
        _cleanup_state_node_ lf_state_node *x = NULL;
        _cleanup_free_ char *text = NULL, *summary = NULL;
        int64_t now = s->now();
        char label[128];
        int r;

        r = load_node(s, "mac", mac, &x);
        if (r < 0 && r != -ENOENT)
                return r;
        if (x && x->state != LF_NODE_DISCOVERED) {
                lf_diag_add(diag, NULL, 0,
                            "%s is %s; discovery applies to unassigned PCs only (its installer "
                            "may upload an inventory with its token)",
                            node_label(x, label, sizeof(label)), lf_node_state_name(x->state));
                return -EBUSY;
        }
        r = inventory_canon(json, diag, &text, &summary);
        if (r < 0)
                return r;
        if (!x) {
                r = check_room(s, diag);
                if (r < 0)
                        return r;
                r = run(s,
                        "INSERT INTO nodes (mac, state, inventory, created, updated)"
                        " VALUES (?, 'discovered', ?, ?, ?)",
                        "ssii", mac, text, now, now);
        } else
                r = run(s, "UPDATE nodes SET inventory = ? WHERE mac = ?", "ss", text, mac);
        if (r < 0)
                return r;
        return add_event(s, mac, "discovered", "discovered: %s", summary);
}

int lf_state_discover(lf_state *s, const char *mac, const char *inventory_json, lf_diag *diag) {
        char canon[LF_MAC_STR_LEN + 1];
        int r;

        r = begin_mac(s, mac, canon, diag);
        if (r < 0)
                return r;
        return end(s, discover_locked(s, canon, inventory_json, diag));
}

static int assign_locked(lf_state *s, const lf_manifest *m, const char *mac, const char *role,
                         const char *name, lf_diag *diag) {
        _cleanup_state_node_ lf_state_node *x = NULL, *other = NULL;
        const lf_node *mn;
        int64_t now = s->now(), maxid;
        char label[128];
        int r;

        mn = lf_manifest_find_mac(m, mac);
        if (mn) {
                lf_diag_add(diag, NULL, 0,
                            "%s is listed in the manifest as %s; change the manifest instead", mac,
                            mn->name);
                return -EEXIST;
        }
        if (lf_manifest_find_node(m, name)) {
                lf_diag_add(diag, NULL, 0,
                            "node name %s is already used by the manifest; choose another name",
                            name);
                return -EEXIST;
        }
        r = load_node(s, "mac", mac, &x);
        if (r < 0 && r != -ENOENT)
                return r;
        if (x && x->state != LF_NODE_DISCOVERED) {
                lf_diag_add(diag, NULL, 0,
                            "%s is already assigned (%s, %s); 'labforge forget %s' first to "
                            "assign it again",
                            mac, node_label(x, label, sizeof(label)), lf_node_state_name(x->state),
                            mac);
                return -EEXIST;
        }
        r = load_node(s, "name", name, &other);
        if (r < 0 && r != -ENOENT)
                return r;
        if (other) {
                lf_diag_add(diag, NULL, 0, "node name %s is already used by %s; choose another",
                            name, other->mac);
                return -EEXIST;
        }
        r = query_int(s, &maxid, "SELECT max(nodeid) FROM nodes WHERE nodeid >= ?", "i",
                      (int64_t)LF_STATE_ASSIGNED_NODEID_BASE);
        if (r < 0)
                return r;
        maxid = maxid ? maxid + 1 : LF_STATE_ASSIGNED_NODEID_BASE;
        if (!x) {
                r = check_room(s, diag);
                if (r < 0)
                        return r;
                r = run(s,
                        "INSERT INTO nodes (mac, name, role, nodeid, state, created, updated)"
                        " VALUES (?, ?, ?, ?, 'ready', ?, ?)",
                        "sssiii", mac, name, role, maxid, now, now);
        } else
                r = run(s,
                        "UPDATE nodes SET name = ?, role = ?, nodeid = ?, state = 'ready'"
                        " WHERE mac = ?",
                        "ssis", name, role, maxid, mac);
        if (r < 0)
                return r;
        return add_event(s, mac, "assigned", "assigned as %s (%s), node id %lld: ready to install",
                         name, role, (long long)maxid);
}

int lf_state_assign(lf_state *s, const lf_manifest *m, const char *mac, const char *role,
                    const char *name, lf_diag *diag) {
        char canon[LF_MAC_STR_LEN + 1], roles_str[64];
        unsigned roles;
        int r;

        if (canon_mac(mac, canon, diag) < 0)
                return -EINVAL;
        if (lf_role_parse(role, &roles) < 0)
                return lf_diag_add(diag, NULL, 0,
                                   "'%s' is not a role; use storage, kvm, login, or a "
                                   "combination like login+storage",
                                   role);
        if (!lf_manifest_name_valid(name))
                return lf_diag_add(diag, NULL, 0,
                                   "'%s' is not a valid node name; use lowercase letters, "
                                   "digits and '-' (at most 63, not starting or ending with "
                                   "'-')",
                                   name);
        lf_roles_format(roles, roles_str, sizeof(roles_str));
        r = begin(s);
        if (r < 0)
                return r;
        return end(s, assign_locked(s, m, canon, roles_str, name, diag));
}

static int boot_locked(lf_state *s, const char *mac, lf_boot_action *ret_action,
                       lf_state_node **ret_node) {
        _cleanup_state_node_ lf_state_node *x = NULL;
        lf_boot_action action;
        int r;

        r = load_node(s, "mac", mac, &x);
        if (r == -ENOENT) {
                *ret_action = LF_BOOT_DISCOVER;
                *ret_node = NULL;
                return 0;
        }
        if (r < 0)
                return r;
        switch (x->state) {
        case LF_NODE_DISCOVERED:
                action = LF_BOOT_DISCOVER;
                break;
        case LF_NODE_READY:
                action = LF_BOOT_INSTALL;
                r = add_event(s, mac, "boot", "PXE boot: installer sent");
                break;
        case LF_NODE_INSTALLING:
                action = LF_BOOT_INSTALL;
                r = run(s,
                        "UPDATE nodes SET state = 'ready', token_state = 'revoked', progress = 0"
                        " WHERE mac = ?",
                        "s", mac);
                if (r >= 0)
                        r = add_event(s, mac, "boot",
                                      "PXE boot during the install (at '%s'): token revoked, "
                                      "the install starts over",
                                      x->step);
                break;
        case LF_NODE_DEPLOYED:
                action = LF_BOOT_LOCAL;
                r = add_event(s, mac, "boot", "PXE boot: sent to its local disk");
                break;
        default:
                action = LF_BOOT_FAILED;
                break;
        }
        if (r < 0)
                return r;
        lf_state_node_free(x);
        x = NULL;
        r = load_node(s, "mac", mac, &x);
        if (r < 0)
                return r;
        *ret_action = action;
        *ret_node = TAKE_PTR(x);
        return 0;
}

int lf_state_boot(lf_state *s, const char *mac, lf_boot_action *ret_action,
                  lf_state_node **ret_node) {
        char canon[LF_MAC_STR_LEN + 1];
        int r;

        if (lf_mac_parse(mac, canon) < 0)
                return -EINVAL;
        r = begin(s);
        if (r < 0)
                return r;
        return end(s, boot_locked(s, canon, ret_action, ret_node));
}

static int token_hash(const char *token, char ret[static LF_SHA256_HEX_LEN + 1]) {
        return lf_sha256_buffer(token, strlen(token), ret);
}

/* Compares in time independent of where the strings differ. */
static bool hash_equal(const char *a, const char *b) {
        unsigned char d = 0;
        if (!a || !b || strlen(a) != LF_SHA256_HEX_LEN || strlen(b) != LF_SHA256_HEX_LEN)
                return false;
        for (size_t i = 0; i < LF_SHA256_HEX_LEN; i++)
                d |= (unsigned char)(a[i] ^ b[i]);
        return d == 0;
}

static int issue_locked(lf_state *s, const char *mac, lf_diag *diag,
                        char ret_token[static LF_STATE_TOKEN_LEN + 1]) {
        _cleanup_state_node_ lf_state_node *x = NULL;
        unsigned char raw[LF_STATE_TOKEN_LEN / 2];
        char token[LF_STATE_TOKEN_LEN + 1], hash[LF_SHA256_HEX_LEN + 1], label[128];
        int r;

        r = load_known(s, mac, diag, &x);
        if (r < 0)
                return r;
        node_label(x, label, sizeof(label));
        switch (x->state) {
        case LF_NODE_READY:
                break;
        case LF_NODE_DISCOVERED:
                lf_diag_add(diag, NULL, 0, "%s is not assigned; 'labforge assign %s ROLE NAME' it",
                            label, mac);
                return -EBUSY;
        case LF_NODE_INSTALLING:
                lf_diag_add(diag, NULL, 0,
                            "%s already got its token for this install; a PXE boot starts the "
                            "install over with a new one",
                            label);
                return -EBUSY;
        case LF_NODE_DEPLOYED:
                lf_diag_add(diag, NULL, 0,
                            "%s is deployed; 'labforge rebuild %s' to install it again", label,
                            x->name);
                return -EBUSY;
        default:
                lf_diag_add(diag, NULL, 0, "%s failed; 'labforge rebuild %s' to try again", label,
                            x->name);
                return -EBUSY;
        }
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
                return -errno ? -errno : -EIO;
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(token + 2 * i, 3, "%02x", raw[i]);
        r = token_hash(token, hash);
        if (r < 0)
                return r;
        r = run(s,
                "UPDATE nodes SET state = 'installing', token_hash = ?, token_state = 'issued',"
                " progress = 0, step = 'assignment sent', install_started = ?,"
                " install_finished = 0, failure_step = NULL, failure_reason = NULL,"
                " failure_log = NULL WHERE mac = ?",
                "sis", hash, s->now(), mac);
        if (r >= 0)
                r = add_event(s, mac, "token", "assignment sent with a one-time token: installing");
        if (r < 0)
                return r;
        memcpy(ret_token, token, sizeof(token));
        return 0;
}

int lf_state_issue_token(lf_state *s, const char *mac, lf_diag *diag,
                         char ret_token[static LF_STATE_TOKEN_LEN + 1]) {
        char canon[LF_MAC_STR_LEN + 1];
        int r;

        r = begin_mac(s, mac, canon, diag);
        if (r < 0)
                return r;
        return end(s, issue_locked(s, canon, diag, ret_token));
}

int lf_state_note(lf_state *s, const char *mac, const char *kind, const char *message) {
        char canon[LF_MAC_STR_LEN + 1];
        int r;

        if (lf_mac_parse(mac, canon) < 0)
                return -EINVAL;
        r = begin(s);
        if (r < 0)
                return r;
        return end(s, add_event(s, canon, kind, "%s", message));
}

/* Loads the node of mac and checks token against it: 0 only when the token is the one issued
 * for the current install and still valid. */
static int token_locked(lf_state *s, const char *mac, const char *token, lf_diag *diag,
                        lf_state_node **ret) {
        _cleanup_state_node_ lf_state_node *x = NULL;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        char hash[LF_SHA256_HEX_LEN + 1], label[128];
        const unsigned char *stored = NULL;
        int r;

        r = load_known(s, mac, diag, &x);
        if (r < 0)
                return r;
        node_label(x, label, sizeof(label));
        r = prepare(s, &st, "SELECT token_hash FROM nodes WHERE mac = ?", "s", mac);
        if (r < 0)
                return r;
        if (sqlite3_step(st) == SQLITE_ROW)
                stored = sqlite3_column_text(st, 0);
        if (!token || token_hash(token, hash) < 0 || !hash_equal(hash, (const char *)stored)) {
                lf_diag_add(diag, NULL, 0,
                            "wrong token for %s; only the installer that got the assignment "
                            "may report",
                            label);
                return -EACCES;
        }
        if (!streq(x->token_state, "issued")) {
                lf_diag_add(diag, NULL, 0,
                            "the token of %s is %s (used once already); a new install gets a "
                            "new token",
                            label, x->token_state);
                return -EACCES;
        }
        if (ret)
                *ret = TAKE_PTR(x);
        return 0;
}

int lf_state_check_token(lf_state *s, const char *mac, const char *token, lf_diag *diag) {
        char canon[LF_MAC_STR_LEN + 1];
        int r;

        r = canon_mac(mac, canon, diag);
        if (r < 0)
                return r;
        lock(s);
        r = token_locked(s, canon, token, diag, NULL);
        unlock(s);
        return r;
}

int lf_state_install_inventory(lf_state *s, const char *mac, const char *token,
                               const char *inventory_json, lf_diag *diag) {
        _cleanup_free_ char *text = NULL, *summary = NULL;
        char canon[LF_MAC_STR_LEN + 1];
        int r;

        r = begin_mac(s, mac, canon, diag);
        if (r < 0)
                return r;
        r = token_locked(s, canon, token, diag, NULL);
        if (r >= 0)
                r = inventory_canon(inventory_json, diag, &text, &summary);
        if (r >= 0)
                r = run(s, "UPDATE nodes SET inventory = ?, updated = ? WHERE mac = ?", "sis", text,
                        s->now(), canon);
        if (r >= 0)
                r = add_event(s, canon, "inventory", "installer probed: %s", summary);
        return end(s, r);
}

int lf_state_progress(lf_state *s, const char *mac, const char *token, const char *step,
                      unsigned percent, const char *message, lf_diag *diag) {
        _cleanup_state_node_ lf_state_node *x = NULL;
        char canon[LF_MAC_STR_LEN + 1];
        int r;

        r = canon_mac(mac, canon, diag);
        if (r < 0)
                return r;
        if (percent > 100)
                return lf_diag_add(diag, NULL, 0, "percent %u is over 100", percent);
        r = begin(s);
        if (r < 0)
                return r;
        r = token_locked(s, canon, token, diag, &x);
        if (r >= 0)
                r = run(s, "UPDATE nodes SET progress = ?, step = ?, updated = ? WHERE mac = ?",
                        "isis", (int64_t)percent, step, s->now(), canon);
        if (r >= 0) {
                /* Every step is an event; byte counts within a step only update the node. */
                if (!streq(x->step, step))
                        r = message && *message
                                    ? add_event(s, canon, "step", "%s: %s", step, message)
                                    : add_event(s, canon, "step", "%s", step);
                else
                        r = run(s, "UPDATE nodes SET last_event = ? WHERE mac = ?", "ss",
                                message && *message ? message : step, canon);
        }
        return end(s, r);
}

static void format_duration(int64_t secs, char *buf, size_t len) {
        if (secs < 0)
                secs = 0;
        if (secs >= 3600)
                snprintf(buf, len, "%lldh%02lldm", (long long)(secs / 3600),
                         (long long)(secs % 3600 / 60));
        else if (secs >= 60)
                snprintf(buf, len, "%lldm%02llds", (long long)(secs / 60), (long long)(secs % 60));
        else
                snprintf(buf, len, "%llds", (long long)secs);
}

int lf_state_complete(lf_state *s, const char *mac, const char *token, const char *message,
                      lf_diag *diag) {
        _cleanup_state_node_ lf_state_node *x = NULL;
        char canon[LF_MAC_STR_LEN + 1], took[32];
        int64_t now = 0;
        int r;

        r = begin_mac(s, mac, canon, diag);
        if (r < 0)
                return r;
        r = token_locked(s, canon, token, diag, &x);
        if (r >= 0) {
                now = s->now();
                r = run(s,
                        "UPDATE nodes SET state = 'deployed', token_state = 'expired',"
                        " progress = 100, step = 'complete', install_finished = ? WHERE mac = ?",
                        "is", now, canon);
        }
        if (r >= 0) {
                format_duration(now - x->install_started, took, sizeof(took));
                r = add_event(s, canon, "complete", "install complete in %s%s%s", took,
                              message && *message ? ": " : "", message ? message : "");
        }
        return end(s, r);
}

/* The last LF_STATE_LOG_LINES lines of log, at most LF_STATE_LOG_BYTES bytes. */
static const char *log_tail(const char *log) {
        const char *end = log + strlen(log), *p = end;
        size_t lines = 0;

        while (p > log && p[-1] == '\n') /* trailing newlines end the last line */
                p--;
        while (p > log && (size_t)(end - p) < LF_STATE_LOG_BYTES) {
                if (p[-1] == '\n' && ++lines == LF_STATE_LOG_LINES)
                        break;
                p--;
        }
        return p;
}

int lf_state_fail(lf_state *s, const char *mac, const char *token, const char *step,
                  const char *message, const char *log, lf_diag *diag) {
        _cleanup_state_node_ lf_state_node *x = NULL;
        char canon[LF_MAC_STR_LEN + 1];
        int r;

        r = begin_mac(s, mac, canon, diag);
        if (r < 0)
                return r;
        r = token_locked(s, canon, token, diag, &x);
        if (r >= 0)
                r = run(s,
                        "UPDATE nodes SET state = 'failed', token_state = 'expired',"
                        " step = ?, failure_step = ?, failure_reason = ?, failure_log = ?,"
                        " install_finished = ? WHERE mac = ?",
                        "ssssis", step, step, message, log ? log_tail(log) : "", s->now(), canon);
        if (r >= 0)
                r = add_event(s, canon, "failed", "failed at '%s': %s", step, message);
        return end(s, r);
}

static int rebuild_locked(lf_state *s, const char *key, lf_diag *diag) {
        _cleanup_state_node_ lf_state_node *x = NULL;
        char label[128];
        int r;

        r = find_locked(s, key, &x);
        if (r == -ENOENT) {
                lf_diag_add(diag, NULL, 0, "no node is called '%s'; 'labforge nodes' lists them",
                            key);
                return r;
        }
        if (r < 0)
                return r;
        node_label(x, label, sizeof(label));
        switch (x->state) {
        case LF_NODE_DEPLOYED:
        case LF_NODE_FAILED:
                break;
        case LF_NODE_READY:
                lf_diag_add(diag, NULL, 0, "%s is ready already: its next PXE boot installs it",
                            label);
                return -EBUSY;
        case LF_NODE_INSTALLING:
                lf_diag_add(diag, NULL, 0,
                            "%s is installing; wait for it, or power-cycle it to start over",
                            label);
                return -EBUSY;
        default:
                lf_diag_add(diag, NULL, 0,
                            "%s is not assigned; 'labforge assign %s ROLE NAME' it first", label,
                            x->mac);
                return -EBUSY;
        }
        r = run(s,
                "UPDATE nodes SET state = 'ready', progress = 0, step = '', failure_step = NULL,"
                " failure_reason = NULL, failure_log = NULL, install_started = 0,"
                " install_finished = 0 WHERE mac = ?",
                "s", x->mac);
        if (r < 0)
                return r;
        return add_event(s, x->mac, "rebuild",
                         "rebuild asked (was %s): the next PXE boot reinstalls %s as %s, node "
                         "id %u",
                         lf_node_state_name(x->state), x->name, x->role, x->nodeid);
}

int lf_state_rebuild(lf_state *s, const char *key, lf_diag *diag) {
        int r = begin(s);
        if (r < 0)
                return r;
        return end(s, rebuild_locked(s, key, diag));
}

static int forget_locked(lf_state *s, const char *mac, lf_diag *diag) {
        _cleanup_state_node_ lf_state_node *x = NULL;
        char label[128];
        int r;

        r = load_known(s, mac, diag, &x);
        if (r < 0)
                return r;
        node_label(x, label, sizeof(label));
        if (x->in_manifest) {
                lf_diag_add(diag, NULL, 0,
                            "%s is listed in the manifest; remove it there and restart "
                            "'labforge serve' (or send it SIGHUP)",
                            label);
                return -EBUSY;
        }
        if (x->state == LF_NODE_INSTALLING) {
                lf_diag_add(diag, NULL, 0, "%s is installing; wait until it completes or fails",
                            label);
                return -EBUSY;
        }
        r = run(s, "DELETE FROM events WHERE mac = ?", "s", mac);
        return r < 0 ? r : run(s, "DELETE FROM nodes WHERE mac = ?", "s", mac);
}

int lf_state_forget(lf_state *s, const char *mac, lf_diag *diag) {
        char canon[LF_MAC_STR_LEN + 1];
        int r;

        r = begin_mac(s, mac, canon, diag);
        if (r < 0)
                return r;
        return end(s, forget_locked(s, canon, diag));
}

/* The admin socket: server subsystem, request dispatch onto the node state, and the client the
 * CLI verbs use; see admin.h. Requests are handled one at a time on serve's main loop: each is
 * a quick database call, and a slow client is cut off by socket timeouts. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "admin.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "units.h"

#define IO_TIMEOUT_S 5

const char *lf_state_dir_default(void) {
        const char *e = getenv("LABFORGE_STATE_DIR");
        return e && *e ? e : "/var/lib/labforge";
}

static int socket_path(const char *state_dir, struct sockaddr_un *sa, lf_diag *diag) {
        *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
        if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/" LF_ADMIN_SOCKET,
                             state_dir) >= sizeof(sa->sun_path))
                return lf_diag_add(diag, NULL, 0,
                                   "state directory path '%s' is too long for a unix socket "
                                   "(at most %zu bytes); use a shorter one",
                                   state_dir, sizeof(sa->sun_path) - sizeof(LF_ADMIN_SOCKET) - 1);
        return 0;
}

static void set_timeouts(int fd) {
        struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* --- answers ------------------------------------------------------------------------------ */

/* key: s, or key: null when s is NULL (json-c's null is a NULL object). */
static int add_str(json_object *o, const char *key, const char *s) {
        if (!s)
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        return lf_json_add(o, key, json_object_new_string(s));
}

/* key: "2026-11-23T10:00:00Z", or null for 0. */
static int add_time(json_object *o, const char *key, int64_t t) {
        char buf[LF_TIMESTAMP_LEN + 1];
        if (t <= 0)
                return add_str(o, key, NULL);
        lf_format_timestamp(t, buf, sizeof(buf));
        return add_str(o, key, buf);
}

/* key: v, or null when v < 0. */
static int add_int(json_object *o, const char *key, int64_t v) {
        if (v < 0)
                return add_str(o, key, NULL);
        return lf_json_add(o, key, json_object_new_int64(v));
}

static int node_json(const lf_state_node *n, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        int64_t took = n->install_started && n->install_finished
                               ? n->install_finished - n->install_started
                               : -1;

        if (!o || add_str(o, "name", n->name) < 0 || add_str(o, "mac", n->mac) < 0 ||
            add_str(o, "role", n->role) < 0 ||
            add_int(o, "nodeid", n->nodeid ? (int64_t)n->nodeid : -1) < 0 ||
            add_str(o, "state", lf_node_state_name(n->state)) < 0 ||
            add_int(o, "progress", n->progress) < 0 || add_str(o, "step", n->step) < 0 ||
            add_str(o, "last_event", n->last_event) < 0 ||
            lf_json_add(o, "in_manifest", json_object_new_boolean(n->in_manifest)) < 0 ||
            add_str(o, "token", n->token_state) < 0 || add_time(o, "updated", n->updated) < 0 ||
            add_time(o, "install_started", n->install_started) < 0 ||
            add_time(o, "install_finished", n->install_finished) < 0 ||
            add_int(o, "install_seconds", took) < 0)
                return -ENOMEM;
        /* What the probe found (discovery or install), null before the PC reported. The state
         * database only stores inventories that parsed, so this cannot fail to parse. */
        if (json_object_object_add(o, "inventory",
                                   n->inventory ? json_tokener_parse(n->inventory) : NULL) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int answer_error(int status, const lf_diag *diag, const char *msg, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *problems = json_object_new_array();

        if (!o || lf_json_add(o, "ok", json_object_new_boolean(false)) < 0 ||
            lf_json_add(o, "status", json_object_new_int(status)) < 0 ||
            lf_json_add(o, "error", json_object_new_string(diag && diag->n ? diag->msgs[0] : msg)) <
                    0 ||
            lf_json_add(o, "problems", problems) < 0)
                return -ENOMEM;
        for (size_t i = 0; diag && i < diag->n; i++)
                if (lf_json_append(problems, json_object_new_string(diag->msgs[i])) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* The answer to a failed state call: refusals (bad input, wrong state) are status 2. */
static int answer_state_error(int r, lf_diag *diag, json_object **ret) {
        bool refused = r == -EINVAL || r == -ENOENT || r == -EEXIST || r == -EBUSY;
        _cleanup_free_ char *msg = NULL;

        if (r == -ENOMEM)
                return r;
        if (asprintf(&msg, "the appliance failed: %s", strerror(-r)) < 0)
                return -ENOMEM;
        r = answer_error(refused ? 2 : 1, diag, msg, ret);
        lf_diag_clear(diag);
        return r;
}

static int answer_ok(json_object **ret) {
        json_object *o = json_object_new_object();
        if (!o || lf_json_add(o, "ok", json_object_new_boolean(true)) < 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

static int add_node(lf_appliance *app, json_object *o, const char *key) {
        _cleanup_state_node_ lf_state_node *n = NULL;
        json_object *j = NULL;
        int r;

        r = lf_state_find(app->state, key, &n);
        if (r < 0)
                return r;
        r = node_json(n, &j);
        return r < 0 ? r : lf_json_add(o, "node", j);
}

static int cmd_nodes(lf_appliance *app, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        json_object *arr = json_object_new_array();
        lf_state_node **l = NULL;
        size_t n = 0;
        int r;

        r = answer_ok(&o);
        if (r < 0 || lf_json_add(o, "nodes", arr) < 0)
                return -ENOMEM;
        r = lf_state_list(app->state, &l, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                json_object *j = NULL;
                r = node_json(l[i], &j);
                if (r >= 0)
                        r = lf_json_append(arr, j);
        }
        lf_state_list_free(l, n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int cmd_logs(lf_appliance *app, const char *key, json_object **ret) {
        _cleanup_state_node_ lf_state_node *n = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *events = json_object_new_array(), *node = NULL;
        lf_state_event *e = NULL;
        size_t ne = 0;
        lf_diag diag = {};
        int r;

        r = answer_ok(&o);
        if (r < 0 || lf_json_add(o, "events", events) < 0)
                return -ENOMEM;
        r = lf_state_find(app->state, key, &n);
        if (r == -ENOENT) {
                lf_diag_add(&diag, NULL, 0, "no node is called '%s'; 'labforge nodes' lists them",
                            key);
                return answer_state_error(r, &diag, ret);
        }
        if (r < 0 || (r = node_json(n, &node)) < 0 || (r = lf_json_add(o, "node", node)) < 0)
                return r;
        r = lf_state_events(app->state, n->mac, &e, &ne);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ne && r >= 0; i++) {
                json_object *ev = json_object_new_object();
                r = lf_json_append(events, ev);
                if (r >= 0 &&
                    (add_time(ev, "time", e[i].time) < 0 || add_str(ev, "kind", e[i].kind) < 0 ||
                     add_str(ev, "message", e[i].message) < 0))
                        r = -ENOMEM;
        }
        lf_state_events_free(e, ne);
        if (r < 0)
                return r;
        if (n->failure_step) {
                json_object *f = json_object_new_object();
                if (lf_json_add(o, "failure", f) < 0 || add_str(f, "step", n->failure_step) < 0 ||
                    add_str(f, "reason", n->failure_reason) < 0 ||
                    add_str(f, "log", n->failure_log) < 0)
                        return -ENOMEM;
        } else if (add_str(o, "failure", NULL) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int lf_admin_dispatch(lf_appliance *app, json_object *req, json_object **ret) {
        lf_json_ctx ctx = {NULL, "request"};
        const char *cmd = NULL, *mac = NULL, *role = NULL, *name = NULL;
        _cleanup_json_ json_object *o = NULL;
        lf_diag diag = {};
        int r;

        ctx.diag = &diag;
        if (lf_json_expect_object(&ctx, req, "") < 0 ||
            lf_json_get_string(&ctx, req, "", "command", true, &cmd) < 0)
                return answer_state_error(-EINVAL, &diag, ret);
        lf_json_get_string(&ctx, req, "", "mac", false, &mac);
        lf_json_get_string(&ctx, req, "", "role", false, &role);
        lf_json_get_string(&ctx, req, "", "name", false, &name);
        if (diag.n)
                return answer_state_error(-EINVAL, &diag, ret);

        if (streq(cmd, "nodes"))
                return cmd_nodes(app, ret);
        if (streq(cmd, "logs") && name)
                return cmd_logs(app, name, ret);
        if (streq(cmd, "assign") && mac && role && name) {
                char canon[LF_MAC_STR_LEN + 1];
                pthread_rwlock_rdlock(&app->lock);
                r = lf_state_assign(app->state, app->manifest, mac, role, name, &diag);
                pthread_rwlock_unlock(&app->lock);
                if (r >= 0 && (r = answer_ok(&o)) >= 0 && lf_mac_parse(mac, canon) >= 0)
                        r = add_node(app, o, canon);
        } else if (streq(cmd, "rebuild") && name) {
                r = lf_state_rebuild(app->state, name, &diag);
                if (r >= 0 && (r = answer_ok(&o)) >= 0)
                        r = add_node(app, o, name);
        } else if (streq(cmd, "forget") && mac) {
                r = lf_state_forget(app->state, mac, &diag);
                if (r >= 0)
                        r = answer_ok(&o);
        } else {
                lf_diag_add(&diag, NULL, 0,
                            "unknown command '%s' or missing arguments; see appliance/admin.h",
                            cmd);
                r = -EINVAL;
        }
        if (r < 0)
                return answer_state_error(r, &diag, ret);
        *ret = TAKE_PTR(o);
        return 0;
}

/* --- server -------------------------------------------------------------------------------- */

typedef struct admin_server {
        lf_appliance *app;
        int fd;
        char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
} admin_server;

static void serve_client(admin_server *s, int fd) {
        _cleanup_free_ char *buf = NULL, *out = NULL;
        _cleanup_json_ json_object *req = NULL, *ans = NULL;
        struct ucred cred;
        socklen_t cl = sizeof(cred);
        size_t len = 0;
        lf_diag diag = {};
        int r;

        set_timeouts(fd);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
            (cred.uid != 0 && cred.uid != geteuid())) {
                log_warning("admin socket: refused a client of uid %u", (unsigned)cred.uid);
                r = answer_error(2, NULL, "permission denied: root or the appliance's user only",
                                 &ans);
        } else if ((r = lf_read_fd_all(fd, LF_ADMIN_MAX_REQUEST, &buf, &len)) < 0) {
                r = answer_error(2, NULL,
                                 r == -EMSGSIZE ? "request larger than 64 KiB"
                                                : "request not received in time",
                                 &ans);
        } else {
                lf_json_ctx ctx = {&diag, "request"};
                r = lf_json_parse(&ctx, buf, len, &req);
                if (r == -EINVAL)
                        r = answer_state_error(r, &diag, &ans);
                else if (r >= 0)
                        r = lf_admin_dispatch(s->app, req, &ans);
        }
        if (r < 0) {
                log_error_errno(r, "admin socket: cannot answer: %m");
                return;
        }
        out = lf_json_to_string(ans);
        if (!out || lf_write_fd_all(fd, out, strlen(out)) < 0)
                log_warning("admin socket: the client left before its answer");
}

static int admin_start(lf_appliance *app, void **ret) {
        _cleanup_free_ admin_server *s = calloc(1, sizeof(*s));
        struct sockaddr_un sa;
        lf_diag diag = {};
        mode_t old;
        int r;

        if (!s)
                return log_oom();
        if (socket_path(app->state_dir, &sa, &diag) < 0) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                return -EINVAL;
        }
        s->app = app;
        memcpy(s->path, sa.sun_path, sizeof(s->path));
        s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s->fd < 0)
                return log_error_errno(-errno, "Cannot create the admin socket: %m");
        /* serve.c holds the state directory's lock, so a socket file left here is stale. */
        unlink(s->path);
        old = umask(0177);
        r = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0 || chmod(s->path, 0600) < 0 || listen(s->fd, 16) < 0) {
                r = log_error_errno(-errno, "Cannot listen on %s: %m", s->path);
                close(s->fd);
                return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static int admin_fd(void *data) {
        return ((admin_server *)data)->fd;
}

static void admin_dispatch(void *data) {
        admin_server *s = data;
        for (;;) {
                _cleanup_close_ int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        return;
                /* The accepted socket inherits nothing: reads block, within the timeouts. */
                serve_client(s, fd);
        }
}

static void admin_stop(void *data) {
        admin_server *s = data;
        close(s->fd);
        unlink(s->path);
        free(s);
}

const lf_subsystem lf_subsystem_admin = {
        .name = "admin socket",
        .start = admin_start,
        .fd = admin_fd,
        .dispatch = admin_dispatch,
        .stop = admin_stop,
};

/* --- client -------------------------------------------------------------------------------- */

int lf_admin_call(const char *state_dir, json_object *req, lf_diag *diag, json_object **ret) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *out = NULL, *buf = NULL;
        struct sockaddr_un sa;
        lf_json_ctx ctx = {diag, "the appliance's answer"};
        size_t len = 0;
        int r;

        r = socket_path(state_dir, &sa, diag);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        set_timeouts(fd);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                r = -errno;
                if (r == -EACCES || r == -EPERM) {
                        lf_diag_add(diag, NULL, 0,
                                    "%s: permission denied; the admin socket is for root (run "
                                    "with sudo)",
                                    sa.sun_path);
                        return r;
                }
                lf_diag_add(diag, NULL, 0,
                            "no appliance is running with state directory %s (%s: %s); start "
                            "it with 'labforge serve --manifest LAB.xml --state-dir %s'",
                            state_dir, sa.sun_path, strerror(-r), state_dir);
                return -ENOTCONN;
        }
        out = lf_json_to_string(req);
        if (!out)
                return -ENOMEM;
        r = lf_write_fd_all(fd, out, strlen(out));
        if (r >= 0 && shutdown(fd, SHUT_WR) < 0)
                r = -errno;
        if (r >= 0)
                r = lf_read_fd_all(fd, LF_ADMIN_MAX_ANSWER, &buf, &len);
        if (r < 0) {
                lf_diag_add(diag, NULL, 0, "the appliance at %s did not answer: %s", sa.sun_path,
                            strerror(-r));
                return r;
        }
        return lf_json_parse(&ctx, buf, len, ret);
}

json_object *lf_admin_request(const char *command) {
        json_object *o = json_object_new_object();
        if (o && lf_json_add(o, "command", json_object_new_string(command)) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

/* labforged's main loop; see daemon.h. One thread: poll on the signalfd, the admin socket,
 * corosync's fds and the subsystems' fds, with timers of a second's grain. Admin requests are
 * answered one at a time on the loop (a status is one quick database read); a client that
 * does not send or read is cut off after ADMIN_IO_TIMEOUT_S. Every node answers status from
 * its own copy of the leader's view (the leader multicasts it as state messages), so a node
 * without quorum still shows what it last knew. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "corosync.h"
#include "daemon.h"
#include "fileio.h"
#include "hoststat.h"
#include "json.h"
#include "leader.h"
#include "log.h"

#define TICK_MS 500
#define PUBLISH_SPACING_MS 1000 /* at most one state message a second */
#define PENDING_SPACING_MS 5000 /* a VM waiting for placement runs a cycle this soon */
/* The leader acts only once membership and quorum held this long: the callbacks of one
 * membership change come in no fixed order (a node cut off may see the others leave CPG
 * before it hears it lost quorum). */
#define SETTLE_MS 2000
#define ADMIN_MAX_REQUEST (64u * 1024)
#define ADMIN_IO_TIMEOUT_S 2
#define MAX_SUBSYSTEMS 8
/* Requests this node forwards to the leader: at most this many waiting, each this long. */
#define MAX_FORWARDED 16
#define FORWARD_TIMEOUT_MS 10000
#define MAINTENANCE_FILE "maintenance"

/* An admin client whose request went to the leader; answered when its result comes. */
typedef struct forwarded {
        int fd;
        uint64_t id;
        long long deadline;
} forwarded;

struct lf_daemon {
        const lf_daemon_options *opts;
        char *state_dir;
        lf_node_conf *conf;
        lf_manifest *m;
        const lf_node *self;
        lf_cluster *cluster;
        lf_corosync *cs;
        int lock_fd, admin_fd, signal_fd;
        char sock_path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
        void *sub_data[MAX_SUBSYSTEMS];
        size_t n_started;
        lf_leader *leader;
        forwarded fwd[MAX_FORWARDED];
        size_t n_fwd;
        uint64_t seq, request_counter;
        bool quit;

        /* Membership as last seen. leading: this node is the leader of a quorate partition;
         * is_leader: and that held for SETTLE_MS, so it acts. */
        bool quorate, in_group, leading, is_leader;
        uint32_t leader_id; /* 0: none */
        size_t n_members;
        long long settled_at;
        long long quorum_lost_at; /* monotonic ms; 0 while quorate */

        /* Timers (monotonic milliseconds) and pending work. */
        long long next_report, next_cycle, last_publish;
        bool publish_pending, membership_pending;

        lf_cpu_times cpu_prev;
        bool has_cpu_prev, hoststat_failed;
        bool maintenance; /* `labforge host maintenance`, kept in <state-dir>/maintenance */
};

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_now(void) {
        return (int64_t)time(NULL);
}

static long long sample_ms(const lf_daemon *d) {
        uint64_t s = d->m->policy.cpu_sample_s ? d->m->policy.cpu_sample_s : 60;
        return (long long)s * 1000;
}

const lf_node_conf *lf_daemon_conf(const lf_daemon *d) {
        return d->conf;
}

const lf_manifest *lf_daemon_manifest(const lf_daemon *d) {
        return d->m;
}

const lf_node *lf_daemon_node(const lf_daemon *d) {
        return d->self;
}

const char *lf_daemon_state_dir(const lf_daemon *d) {
        return d->state_dir;
}

bool lf_daemon_is_leader(const lf_daemon *d) {
        return d->is_leader;
}

int64_t lf_daemon_quorum_lost_s(const lf_daemon *d) {
        return d->quorum_lost_at ? (now_ms() - d->quorum_lost_at) / 1000 : -1;
}

bool lf_daemon_node_in_view(const lf_daemon *d, const lf_node *n) {
        return lf_corosync_in_view(d->cs, n->nodeid);
}

lf_cluster *lf_daemon_cluster(lf_daemon *d) {
        return d->cluster;
}

int lf_daemon_send(lf_daemon *d, lf_msg *m) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        lf_diag diag = {};
        int r;

        snprintf(m->node, sizeof(m->node), "%s", d->self->name);
        m->seq = ++d->seq;
        m->time = wall_now();
        r = lf_msg_encode(m, &diag, &buf, &len);
        if (r < 0) {
                for (size_t i = 0; i < diag.n; i++)
                        log_error("Not sent: %s", diag.msgs[i]);
                lf_diag_clear(&diag);
                return r;
        }
        r = lf_corosync_send(d->cs, buf, len);
        if (r < 0)
                log_warning_errno(r, "Cannot send a %s message: %m",
                                  lf_msg_type_to_string(m->type));
        return r;
}

/* --- membership and the leader --- */

static const char *node_name(const lf_daemon *d, uint32_t id) {
        const lf_node *n = lf_node_by_id(d->m, id);
        return n ? n->name : "?";
}

static void on_changed(void *userdata) {
        lf_daemon *d = userdata;
        size_t n = 0;
        const uint32_t *members = lf_corosync_members(d->cs, &n);
        bool quorate = lf_corosync_quorate(d->cs), in_group = false, leading;
        uint32_t leader = 0;

        for (size_t i = 0; i < n; i++)
                in_group |= members[i] == d->self->nodeid;
        if (lf_leader_pick(d->m, members, n, &leader) < 0)
                leader = 0;
        leading = quorate && in_group && leader == d->self->nodeid;

        if (quorate != d->quorate) {
                if (quorate)
                        log_info("Quorum: this partition has %zu labforged node(s).", n);
                else
                        log_warning("No quorum: this node takes no cluster action until it is "
                                    "back in the quorate partition.");
        }
        if (quorate && (leader != d->leader_id || !d->quorate))
                log_info("Leader: %s%s.", leader ? node_name(d, leader) : "none",
                         leader == d->self->nodeid ? " (this node)" : "");
        if (!leading && d->is_leader)
                log_info("This node is no longer the leader.");
        if (!leading) {
                d->is_leader = false;
                lf_leader_reset(d->leader);
        }
        if (quorate)
                d->quorum_lost_at = 0;
        else if (!d->quorum_lost_at)
                d->quorum_lost_at = now_ms();
        if (in_group && !d->in_group)
                d->next_report = now_ms(); /* report at once on joining */
        /* Any change restarts the settle time; an unchanged view (a repeated callback) not. */
        if (quorate != d->quorate || leader != d->leader_id || n != d->n_members ||
            leading != d->leading)
                d->settled_at = now_ms() + SETTLE_MS;

        d->quorate = quorate;
        d->in_group = in_group;
        d->leader_id = leader;
        d->leading = leading;
        d->n_members = n;
        if (leading)
                d->membership_pending = d->publish_pending = true;
}

static void update_membership(lf_daemon *d) {
        size_t n = 0;
        const uint32_t *members = lf_corosync_members(d->cs, &n);
        const char *names[LF_MANIFEST_MAX_NODES];
        size_t k = 0;

        for (size_t i = 0; i < n && k < ELEMENTSOF(names); i++) {
                const lf_node *node = lf_node_by_id(d->m, members[i]);
                if (node)
                        names[k++] = node->name;
        }
        if (lf_cluster_membership(d->cluster, names, k, wall_now()) >= 0)
                d->membership_pending = false;
}

/* --- messages --- */

static void send_result(lf_daemon *d, uint64_t id, const char *error) {
        _cleanup_msg_ lf_msg *m = lf_msg_new(LF_MSG_RESULT);
        if (!m)
                return (void)log_oom();
        m->result.id = id;
        m->result.ok = !error;
        if (error)
                snprintf(m->result.error, sizeof(m->result.error), "%s", error);
        lf_daemon_send(d, m);
}

void lf_daemon_command_done(lf_daemon *d, uint64_t id, const char *error) {
        d->next_report = now_ms(); /* the leader learns the outcome at once */
        send_result(d, id, error);
}

static int maintenance_path(const lf_daemon *d, char **ret) {
        return asprintf(ret, "%s/" MAINTENANCE_FILE, d->state_dir) < 0 ? -ENOMEM : 0;
}

/* This node's maintenance mode, kept across restarts; reported at once. */
static int set_maintenance(lf_daemon *d, bool on) {
        _cleanup_free_ char *path = NULL;
        int r = maintenance_path(d, &path);

        if (r < 0)
                return r;
        r = on                                    ? lf_write_file_atomic(path, "on\n", 3, 0600)
            : unlink(path) < 0 && errno != ENOENT ? -errno
                                                  : 0;
        if (r < 0)
                return log_error_errno(r, "Cannot record the maintenance mode in %s: %m", path);
        if (on != d->maintenance)
                log_info("Maintenance mode %s.", on ? "on: this host gets no VMs and its VMs "
                                                      "move away"
                                                    : "off");
        d->maintenance = on;
        d->next_report = now_ms();
        return 0;
}

static void on_command(lf_daemon *d, const lf_msg *m, uint32_t sender) {
        const lf_msg_command *c = &m->command;
        const lf_role_subsystem *const *subs = d->opts->subsystems;
        char error[LF_MSG_TEXT_SIZE];
        lf_diag diag = {};

        if (!streq(c->target, d->self->name))
                return;
        if (!d->quorate || sender != d->leader_id) {
                log_warning("Refused command %llu (%s) from %s: %s.", (unsigned long long)c->id,
                            lf_msg_action_to_string(c->action), m->node,
                            d->quorate ? "it is not the leader" : "this node has no quorum");
                return send_result(d, c->id,
                                   d->quorate ? "refused: the sender is not the leader"
                                              : "refused: no quorum on the target node");
        }
        if (c->action == LF_ACTION_MAINTENANCE_ON || c->action == LF_ACTION_MAINTENANCE_OFF)
                return send_result(d, c->id,
                                   set_maintenance(d, c->action == LF_ACTION_MAINTENANCE_ON) < 0
                                           ? "cannot record the maintenance mode"
                                           : NULL);
        for (size_t i = 0; i < d->n_started; i++) {
                if (!subs[i]->command)
                        continue;
                int r = subs[i]->command(d->sub_data[i], c, &diag);
                if (r == -EOPNOTSUPP)
                        continue;
                snprintf(error, sizeof(error), "%s",
                         r >= 0   ? ""
                         : diag.n ? diag.msgs[0]
                                  : "failed");
                lf_diag_clear(&diag);
                if (r == LF_COMMAND_PENDING)
                        return;
                return lf_daemon_command_done(d, c->id, r >= 0 ? NULL : error);
        }
        snprintf(error, sizeof(error), "no part of labforged on %s carries out %s yet",
                 d->self->name, lf_msg_action_to_string(c->action));
        log_warning("Command %llu: %s.", (unsigned long long)c->id, error);
        send_result(d, c->id, error);
}

/* --- requests forwarded to the leader --- */

static void write_answer(int fd, json_object *ans) {
        _cleanup_free_ char *out = lf_json_to_string(ans);
        if (!out || lf_write_fd_all(fd, out, strlen(out)) < 0)
                log_warning("Admin socket: the client left before its answer.");
}

static void answer_forwarded(lf_daemon *d, const lf_msg *m) {
        for (size_t i = 0; i < d->n_fwd; i++) {
                _cleanup_json_ json_object *ans = NULL;
                if (d->fwd[i].id != m->result.id)
                        continue;
                if (m->result.answer)
                        ans = json_tokener_parse(m->result.answer);
                if (!ans)
                        ans = lf_leader_error(1, "the leader %s: %s", m->node,
                                              m->result.ok ? "done" : m->result.error);
                if (ans)
                        write_answer(d->fwd[i].fd, ans);
                close(d->fwd[i].fd);
                d->fwd[i] = d->fwd[--d->n_fwd];
                return;
        }
}

static void expire_forwarded(lf_daemon *d) {
        long long now = now_ms();
        for (size_t i = 0; i < d->n_fwd;) {
                if (now < d->fwd[i].deadline) {
                        i++;
                        continue;
                }
                _cleanup_json_ json_object *ans =
                        lf_leader_error(1,
                                        "the leader did not answer within %d s; 'labforge status' "
                                        "shows whether it acted",
                                        FORWARD_TIMEOUT_MS / 1000);
                if (ans)
                        write_answer(d->fwd[i].fd, ans);
                close(d->fwd[i].fd);
                d->fwd[i] = d->fwd[--d->n_fwd];
        }
}

/* A request another node forwarded (to this node, as the leader). */
static void on_request(lf_daemon *d, const lf_msg *m) {
        _cleanup_msg_ lf_msg *res = NULL;
        _cleanup_json_ json_object *req = NULL, *ans = NULL;
        json_object *ok = NULL, *err = NULL;

        if (!streq(m->request.target, d->self->name))
                return;
        /* A leader still settling takes requests: what they change is carried out once it
         * acts. */
        if (!d->leading)
                ans = lf_leader_error(1, "%s is no longer the leader; ask again", d->self->name);
        else if (!(req = json_tokener_parse(m->request.request)) ||
                 lf_leader_request(d->leader, req, wall_now(), &ans) < 0)
                ans = NULL;
        if (!ans || !(res = lf_msg_new(LF_MSG_RESULT)) ||
            !(res->result.answer = strdup(json_object_to_json_string_ext(
                      ans, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE))))
                return (void)log_oom();
        res->result.id = m->request.id;
        json_object_object_get_ex(ans, "ok", &ok);
        res->result.ok = json_object_get_boolean(ok);
        if (!res->result.ok) {
                json_object_object_get_ex(ans, "error", &err);
                snprintf(res->result.error, sizeof(res->result.error), "%s",
                         err ? json_object_get_string(err) : "failed");
        }
        lf_daemon_send(d, res);
        d->publish_pending = true;
}

/* Sends the request to the leader and keeps the client until the answer comes: returns 1, and
 * the fd is then the forward list's. Returns 0 with an answer of its own when it cannot. */
static int forward(lf_daemon *d, json_object *req, int fd, json_object **ret) {
        _cleanup_msg_ lf_msg *m = lf_msg_new(LF_MSG_REQUEST);
        const char *text;
        int r;

        if (!d->quorate || !d->leader_id)
                *ret = lf_leader_error(1,
                                       "%s has no quorum, so it cannot reach a leader; ask a node "
                                       "of the quorate part of the cluster",
                                       d->self->name);
        else if (d->n_fwd >= MAX_FORWARDED)
                *ret = lf_leader_error(1, "too many requests wait for the leader; try again");
        else {
                text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE);
                if (!m || !text || !(m->request.request = strdup(text)))
                        return -ENOMEM;
                m->request.id = (uint64_t)d->self->nodeid << 40 | ++d->request_counter;
                snprintf(m->request.target, sizeof(m->request.target), "%s",
                         node_name(d, d->leader_id));
                r = lf_daemon_send(d, m);
                if (r >= 0) {
                        d->fwd[d->n_fwd++] =
                                (forwarded){fd, m->request.id, now_ms() + FORWARD_TIMEOUT_MS};
                        return 1;
                }
                *ret = lf_leader_error(1, "cannot send the request to the leader %s: %s",
                                       m->request.target, strerror(-r));
        }
        return *ret ? 0 : -ENOMEM;
}

static void on_deliver(void *userdata, uint32_t nodeid, const void *buf, size_t len) {
        lf_daemon *d = userdata;
        const lf_node *sender = lf_node_by_id(d->m, nodeid);
        _cleanup_msg_ lf_msg *m = NULL;
        lf_diag diag = {};
        char from[64];
        int r;

        snprintf(from, sizeof(from), "CPG message from node %u", nodeid);
        r = lf_msg_decode(buf, len, from, &diag, &m);
        if (r < 0) {
                for (size_t i = 0; i < diag.n; i++)
                        log_warning("Dropped: %s", diag.msgs[i]);
                if (r == -ENOMEM)
                        log_oom();
                lf_diag_clear(&diag);
                return;
        }
        if (!sender || !streq(sender->name, m->node)) {
                log_warning("Dropped: %s: it names the sender '%s', but node %u is %s%s%s of the "
                            "manifest.",
                            from, m->node, nodeid, sender ? "'" : "no node",
                            sender ? sender->name : "", sender ? "'" : "");
                return;
        }
        switch (m->type) {
        case LF_MSG_REPORT:
                r = lf_cluster_report(d->cluster, m, d->is_leader, wall_now());
                if (r < 0)
                        log_warning_errno(r, "Cannot record the report of %s: %m", m->node);
                if (d->is_leader)
                        d->membership_pending = d->publish_pending = true;
                break;
        case LF_MSG_STATE:
                /* Only the view of the leader this node agrees on counts (the leader hears
                 * its own too). */
                if (nodeid == d->self->nodeid)
                        break;
                if (!d->quorate || nodeid != d->leader_id) {
                        log_info("Ignored the state message of %s: %s%s.", m->node,
                                 d->quorate ? "the leader here is " : "this node has no quorum",
                                 d->quorate ? node_name(d, d->leader_id) : "");
                        break;
                }
                if ((r = lf_cluster_apply_state(d->cluster, m)) < 0)
                        log_warning_errno(r, "Cannot take the state of leader %s: %m", m->node);
                break;
        case LF_MSG_COMMAND:
                on_command(d, m, nodeid);
                break;
        case LF_MSG_RESULT:
                if (nodeid == d->leader_id)
                        answer_forwarded(d, m);
                if (d->is_leader)
                        lf_leader_result(d->leader, m, wall_now());
                break;
        case LF_MSG_REQUEST:
                on_request(d, m);
                break;
        default:
                break;
        }
}

/* --- timers --- */

static void send_report(lf_daemon *d) {
        const lf_role_subsystem *const *subs = d->opts->subsystems;
        _cleanup_msg_ lf_msg *m = lf_msg_new(LF_MSG_REPORT);
        lf_cpu_times cpu;
        lf_mem_info mem;
        int r;

        if (!m)
                return (void)log_oom();
        r = lf_hoststat_read(NULL, &cpu, &mem);
        if (r < 0) {
                if (!d->hoststat_failed)
                        log_warning_errno(r, "Cannot read /proc/stat or /proc/meminfo: %m; "
                                             "this node does not report.");
                d->hoststat_failed = true;
                return;
        }
        d->hoststat_failed = false;
        m->report.cpus = cpu.cpus;
        m->report.mem_mb = mem.total_mb > 0 ? mem.total_mb : 1;
        m->report.mem_available_mb = mem.available_mb;
        m->report.cpu_util = d->has_cpu_prev ? lf_hoststat_cpu_util(&d->cpu_prev, &cpu) : -1;
        m->report.maintenance = d->maintenance;
        d->cpu_prev = cpu;
        d->has_cpu_prev = true;
        for (size_t i = 0; i < d->n_started; i++)
                if (subs[i]->report && (r = subs[i]->report(d->sub_data[i], m)) < 0)
                        log_warning_errno(r, "%s: cannot add to the report: %m", subs[i]->name);
        lf_daemon_send(d, m);
}

static void publish_state(lf_daemon *d) {
        _cleanup_msg_ lf_msg *m = NULL;
        int r = lf_cluster_state_msg(d->cluster, d->self->name, wall_now(), &m);

        if (r < 0)
                return (void)log_warning_errno(r, "Cannot build the state message: %m");
        if (lf_daemon_send(d, m) >= 0)
                d->publish_pending = false;
        d->last_publish = now_ms();
}

static void run_timers(lf_daemon *d) {
        long long now = now_ms();

        if (d->in_group && now >= d->next_report) {
                send_report(d);
                d->next_report = now + sample_ms(d);
        }
        if (!d->leading || now < d->settled_at)
                return;
        if (!d->is_leader) {
                log_info("This node is the leader: it schedules and acts for the cluster.");
                d->is_leader = true;
                d->next_cycle = now;
        }
        if (d->membership_pending)
                update_membership(d);
        lf_leader_tick(d->leader, wall_now());
        if (now >= d->next_cycle || (now >= d->next_cycle - sample_ms(d) + PENDING_SPACING_MS &&
                                     lf_cluster_has_pending(d->cluster))) {
                lf_cluster_cycle(d->cluster, wall_now(), lf_leader_actions(d->leader));
                d->next_cycle = now + sample_ms(d);
                d->publish_pending = true;
        }
        if (d->publish_pending && now - d->last_publish >= PUBLISH_SPACING_MS)
                publish_state(d);
}

/* --- the admin socket --- */

static int answer_error(int status, const char *error, json_object **ret) {
        *ret = lf_leader_error(status, "%s", error);
        return *ret ? 0 : -ENOMEM;
}

static int answer_status(lf_daemon *d, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *status = NULL;
        const char *leader = d->quorate && d->leader_id ? node_name(d, d->leader_id) : NULL;
        int r;

        if (!o)
                return -ENOMEM;
        r = lf_cluster_status(d->cluster, d->self->name, d->quorate, leader, &status);
        r = r < 0 ? r : lf_json_add(o, "ok", json_object_new_boolean(true));
        r = r < 0 ? r : lf_json_add(o, "status", status);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* 0 with the answer in *ret, 1 when the request went to the leader (fd kept), or -ENOMEM. */
static int answer(lf_daemon *d, const char *buf, size_t len, int fd, json_object **ret) {
        _cleanup_json_ json_object *req = NULL;
        lf_diag diag = {};
        lf_json_ctx ctx = {&diag, "request"};
        const char *command = NULL;
        char msg[256];
        int r;

        r = lf_json_parse(&ctx, buf, len, &req);
        if (r >= 0)
                r = lf_json_expect_object(&ctx, req, "");
        if (r >= 0)
                r = lf_json_get_string(&ctx, req, "", "command", true, &command);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                snprintf(msg, sizeof(msg), "%s", diag.n ? diag.msgs[0] : "bad request");
                lf_diag_clear(&diag);
                return answer_error(2, msg, ret);
        }
        if (streq(command, "status"))
                return answer_status(d, ret);
        if (d->leading)
                return lf_leader_request(d->leader, req, wall_now(), ret);
        return forward(d, req, fd, ret);
}

/* Reads and answers one request; 1 when it went to the leader (the fd is kept open). */
static int serve_client(lf_daemon *d, int fd) {
        struct timeval tv = {.tv_sec = ADMIN_IO_TIMEOUT_S};
        _cleanup_json_ json_object *ans = NULL;
        _cleanup_free_ char *buf = NULL;
        struct ucred cred = {};
        socklen_t cl = sizeof(cred);
        size_t len = 0;
        int r;

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
            (cred.uid != 0 && cred.uid != geteuid())) {
                log_warning("Admin socket: refused a client of uid %u.", (unsigned)cred.uid);
                r = answer_error(2, "permission denied: root only", &ans);
        } else if ((r = lf_read_fd_all(fd, ADMIN_MAX_REQUEST, &buf, &len)) < 0)
                r = answer_error(2,
                                 r == -EMSGSIZE ? "request larger than 64 KiB"
                                                : "request not received in time",
                                 &ans);
        else
                r = answer(d, buf, len, fd, &ans);
        if (r < 0)
                log_error_errno(r, "Admin socket: cannot answer: %m");
        if (r == 0)
                write_answer(fd, ans);
        return r;
}

static void accept_clients(lf_daemon *d) {
        for (;;) {
                int fd = accept4(d->admin_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        return;
                if (serve_client(d, fd) != 1)
                        close(fd);
        }
}

static int listen_admin(lf_daemon *d) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        mode_t old;
        int r;

        if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" LF_DAEMON_SOCKET,
                             d->state_dir) >= sizeof(sa.sun_path))
                return log_error_errno(-ENAMETOOLONG,
                                       "State directory path '%s' is too long for a unix "
                                       "socket; use a shorter one.",
                                       d->state_dir);
        memcpy(d->sock_path, sa.sun_path, sizeof(d->sock_path));
        d->admin_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (d->admin_fd < 0)
                return log_error_errno(-errno, "Cannot create the admin socket: %m");
        /* We hold the state directory's lock: a socket file left here is stale. */
        unlink(d->sock_path);
        old = umask(0177);
        r = bind(d->admin_fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0 || listen(d->admin_fd, 16) < 0)
                return log_error_errno(-errno, "Cannot listen on %s: %m", d->sock_path);
        return 0;
}

/* --- start and stop --- */

static const char *default_state_dir(void) {
        const char *e = getenv("LABFORGE_STATE_DIR");
        return e && *e ? e : "/var/lib/labforge";
}

/* Loads node.conf and the manifest and checks them together; 2 on bad input. */
static int load_config(lf_daemon *d, const char *config_dir) {
        _cleanup_free_ char *path = NULL;
        lf_diag diag = {};
        int r;

        if (asprintf(&path, "%s/node.conf", config_dir) < 0)
                return log_oom(), 1;
        r = lf_node_conf_load(path, &diag, &d->conf);
        if (r >= 0)
                r = lf_manifest_load(d->conf->manifest, &diag, &d->m);
        if (r >= 0)
                r = lf_node_conf_check(d->conf, d->m, &diag, &d->self);
        if (r == -ENOMEM)
                return log_oom(), 1;
        if (r < 0) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                return 2;
        }
        if (access(d->conf->authkey, R_OK) < 0) {
                log_error("%s: %s; corosync's key comes from the appliance at install (or "
                          "corosync-keygen), and every node needs the same one.",
                          d->conf->authkey, strerror(errno));
                return 2;
        }
        return 0;
}

/* Writes corosync.conf when its content changed. */
static int write_corosync_conf(lf_daemon *d) {
        _cleanup_free_ char *text = NULL, *old = NULL, *dir = NULL;
        size_t old_len = 0;
        lf_diag diag = {};
        int r;

        if ((r = lf_corosync_conf(d->m, d->self, d->conf, &text)) < 0)
                return log_oom();
        if (lf_read_file(d->conf->corosync_conf, 1024 * 1024, &diag, &old, &old_len) >= 0 &&
            streq(old, text)) {
                lf_diag_clear(&diag);
                return 0;
        }
        lf_diag_clear(&diag);
        if (!(dir = strdup(d->conf->corosync_conf)))
                return log_oom();
        *strrchr(dir, '/') = 0;
        if (*dir && (r = lf_mkdir_p(dir, 0755)) < 0)
                return log_error_errno(r, "Cannot create %s: %m", dir);
        r = lf_write_file_atomic(d->conf->corosync_conf, text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", d->conf->corosync_conf);
        log_info("Wrote %s%s.", d->conf->corosync_conf,
                 old ? " (changed: a corosync already running keeps the old one until it "
                       "restarts)"
                     : "");
        return 0;
}

static int load_maintenance(lf_daemon *d) {
        _cleanup_free_ char *path = NULL;

        if (maintenance_path(d, &path) < 0)
                return log_oom();
        d->maintenance = access(path, F_OK) == 0;
        if (d->maintenance)
                log_info("This host is in maintenance mode (%s).", path);
        return 0;
}

static int setup(lf_daemon *d) {
        _cleanup_free_ char *lock = NULL, *db = NULL;
        lf_corosync_callbacks cb = {on_deliver, on_changed, d};
        sigset_t mask;
        int r;

        if ((r = lf_mkdir_p(d->state_dir, 0700)) < 0)
                return log_error_errno(r, "Cannot create the state directory %s: %m", d->state_dir);
        if (asprintf(&lock, "%s/labforged.lock", d->state_dir) < 0 ||
            asprintf(&db, "%s/" LF_CLUSTER_DB, d->state_dir) < 0)
                return log_oom();
        d->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (d->lock_fd < 0)
                return log_error_errno(-errno, "Cannot open %s: %m", lock);
        if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0)
                return log_error_errno(-errno,
                                       "Another labforged runs with state directory %s (%s is "
                                       "locked).",
                                       d->state_dir, lock);
        if ((r = write_corosync_conf(d)) < 0 || (r = lf_cluster_open(d->m, db, &d->cluster)) < 0 ||
            (r = listen_admin(d)) < 0)
                return r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
            (d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
                return log_error_errno(-errno, "Cannot set up signal handling: %m");
        signal(SIGPIPE, SIG_IGN);

        d->cs = lf_corosync_new(d->conf->corosync_conf, d->m->name, d->self->nodeid, &cb);
        if (!d->cs || !(d->leader = lf_leader_new(d)))
                return log_oom();
        if ((r = load_maintenance(d)) < 0)
                return r;
        for (size_t i = 0; i < d->opts->n_subsystems; i++) {
                const lf_role_subsystem *s = d->opts->subsystems[i];
                if ((r = s->start(d, &d->sub_data[i])) < 0)
                        return log_error_errno(r, "Cannot start the %s: %m", s->name);
                d->n_started++;
        }
        log_info("Node %s (node id %u) of lab %s; state in %s; admin socket %s.", d->self->name,
                 d->self->nodeid, d->m->name, d->state_dir, d->sock_path);
        return 0;
}

static void teardown(lf_daemon *d) {
        const lf_role_subsystem *const *subs = d->opts->subsystems;

        while (d->n_started > 0) {
                d->n_started--;
                if (subs[d->n_started]->stop)
                        subs[d->n_started]->stop(d->sub_data[d->n_started]);
        }
        lf_corosync_free(d->cs);
        lf_leader_free(d->leader);
        while (d->n_fwd > 0)
                close(d->fwd[--d->n_fwd].fd);
        if (d->admin_fd >= 0) {
                close(d->admin_fd);
                unlink(d->sock_path);
        }
        lf_cluster_free(d->cluster);
        closep(&d->signal_fd);
        closep(&d->lock_fd);
        lf_manifest_free(d->m);
        lf_node_conf_free(d->conf);
        free(d->state_dir);
}

static int main_loop(lf_daemon *d) {
        const lf_role_subsystem *const *subs = d->opts->subsystems;

        while (!d->quit) {
                struct pollfd p[2 + 3 + MAX_SUBSYSTEMS];
                int sub_index[ELEMENTSOF(p)], cs_fds[3];
                size_t n = 0;
                int r;

                p[n++] = (struct pollfd){d->signal_fd, POLLIN, 0};
                p[n++] = (struct pollfd){d->admin_fd, POLLIN, 0};
                for (size_t i = 0, k = lf_corosync_fds(d->cs, cs_fds); i < k; i++)
                        p[n++] = (struct pollfd){cs_fds[i], POLLIN, 0};
                for (size_t i = 0; i < ELEMENTSOF(sub_index); i++)
                        sub_index[i] = -1;
                for (size_t i = 0; i < d->n_started; i++) {
                        int fd = subs[i]->fd ? subs[i]->fd(d->sub_data[i]) : -1;
                        if (fd < 0)
                                continue;
                        sub_index[n] = (int)i;
                        p[n++] = (struct pollfd){fd, POLLIN, 0};
                }
                if (poll(p, n, TICK_MS) < 0 && errno != EINTR)
                        return log_error_errno(-errno, "poll: %m");

                if (p[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        while (read(d->signal_fd, &si, sizeof(si)) == sizeof(si))
                                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                                        log_info("Stopping on signal %u.", si.ssi_signo);
                                        d->quit = true;
                                }
                }
                if (p[1].revents & POLLIN)
                        accept_clients(d);
                for (size_t i = 0; i < n; i++)
                        if (sub_index[i] >= 0 && (p[i].revents & POLLIN) &&
                            subs[sub_index[i]]->dispatch)
                                subs[sub_index[i]]->dispatch(d->sub_data[sub_index[i]]);
                if ((r = lf_corosync_tick(d->cs)) < 0)
                        return r;
                for (size_t i = 0; i < d->n_started; i++)
                        if (subs[i]->tick)
                                subs[i]->tick(d->sub_data[i]);
                run_timers(d);
                expire_forwarded(d);
        }
        return 0;
}

int lf_daemon_run(const lf_daemon_options *o) {
        lf_daemon d = {.opts = o, .lock_fd = -1, .admin_fd = -1, .signal_fd = -1};
        int r;

        if (o->n_subsystems > MAX_SUBSYSTEMS)
                return log_error("Too many subsystems (%zu).", o->n_subsystems), 1;
        d.state_dir = strdup(o->state_dir ? o->state_dir : default_state_dir());
        if (!d.state_dir)
                return log_oom(), 1;
        r = load_config(&d, o->config_dir ? o->config_dir : LF_DAEMON_DEFAULT_CONFIG_DIR);
        if (r == 0 && setup(&d) < 0)
                r = 1;
        if (r == 0 && main_loop(&d) < 0)
                r = 1;
        teardown(&d);
        return r;
}

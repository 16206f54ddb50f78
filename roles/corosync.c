/* corosync.conf generation, the connection to corosync (CPG, quorum, cmap) and the leader rule;
 * see corosync.h. */
#include <corosync/cmap.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "corosync.h"
#include "log.h"
#include "net.h"

#define CONNECT_RETRY_MS 500
#define SPAWN_RETRY_MS 10000
#define STOP_TIMEOUT_MS 15000 /* corosync leaves the ring cleanly within a few seconds */

/* --- corosync.conf --- */

int lf_corosync_conf(const lf_manifest *m, const lf_node *self, const lf_node_conf *conf,
                     char **ret) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        if (!f)
                return -ENOMEM;
        fprintf(f,
                "# corosync.conf of lab %s, written by labforged from the lab manifest:\n"
                "# edit the manifest, not this file, which labforged rewrites.\n"
                "totem {\n"
                "\tversion: 2\n"
                "\tcluster_name: %s\n"
                "\ttransport: knet\n"
                "\tcrypto_cipher: aes256\n"
                "\tcrypto_hash: sha256\n"
                "\tkeyfile: %s\n"
                "}\n\n"
                "nodelist {\n",
                m->name, m->name, conf->authkey);
        for (size_t i = 0; i < m->n_nodes; i++) {
                const lf_node *n = &m->nodes[i];
                char addr[32];

                fprintf(f, "\tnode {\n");
                if (n->address)
                        lf_ipv4_format(n->address, addr, sizeof(addr));
                else if (n == self && conf->has_bind_address)
                        lf_ipv4_format(conf->bind_address, addr, sizeof(addr));
                else {
                        snprintf(addr, sizeof(addr), "%s", n->name);
                        fprintf(f, "\t\t# no static address in the manifest: corosync resolves "
                                   "the name\n");
                }
                fprintf(f, "\t\tname: %s\n\t\tnodeid: %u\n\t\tring0_addr: %s\n\t}\n", n->name,
                        n->nodeid, addr);
        }
        fprintf(f, "}\n\n"
                   "quorum {\n"
                   "\tprovider: corosync_votequorum\n");
        if (m->n_nodes == 2)
                fprintf(f,
                        "\t# two nodes: one alone keeps quorum once both have met (wait_for_all)\n"
                        "\ttwo_node: 1\n");
        fprintf(f, "}\n\n"
                   "logging {\n"
                   "\t# labforged relays corosync's stderr to its own log\n"
                   "\tto_stderr: yes\n"
                   "\tto_logfile: no\n"
                   "\tto_syslog: no\n"
                   "\ttimestamp: off\n"
                   "}\n");
        if (fclose(f) != 0) {
                free(text);
                return -ENOMEM;
        }
        *ret = text;
        return 0;
}

/* --- the leader rule --- */

const lf_node *lf_node_by_id(const lf_manifest *m, uint32_t id) {
        /* Ids are manifest positions (1-based), but do not rely on it. */
        if (id >= 1 && id <= m->n_nodes && m->nodes[id - 1].nodeid == id)
                return &m->nodes[id - 1];
        for (size_t i = 0; i < m->n_nodes; i++)
                if (m->nodes[i].nodeid == id)
                        return &m->nodes[i];
        return NULL;
}

int lf_leader_pick(const lf_manifest *m, const uint32_t *members, size_t n, uint32_t *ret) {
        const lf_node *best = NULL;

        for (size_t i = 0; i < n; i++) {
                const lf_node *node = lf_node_by_id(m, members[i]);
                if (!node)
                        continue;
                bool login = node->roles & LF_ROLE_LOGIN;
                bool best_login = best && (best->roles & LF_ROLE_LOGIN);
                if (!best || login > best_login ||
                    (login == best_login && node->nodeid < best->nodeid))
                        best = node;
        }
        if (!best)
                return -ENOENT;
        *ret = best->nodeid;
        return 0;
}

/* --- the connection --- */

struct lf_corosync {
        char *conf_path;
        char *cluster_name;
        uint32_t nodeid;
        lf_corosync_callbacks cb;

        bool connected;
        cpg_handle_t cpg;
        quorum_handle_t quorum;
        int cpg_fd, quorum_fd;
        bool quorate;
        uint32_t *members;
        size_t n_members;
        uint32_t *view; /* the quorum's view: nodes whose corosync is in this partition */
        size_t n_view;

        lf_proc *proc; /* the corosync we started, while it runs */
        long long next_connect_ms, next_spawn_ms;
        bool waiting_said;
};

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

lf_corosync *lf_corosync_new(const char *conf_path, const char *cluster_name, uint32_t nodeid,
                             const lf_corosync_callbacks *cb) {
        lf_corosync *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->conf_path = strdup(conf_path);
        c->cluster_name = strdup(cluster_name);
        if (!c->conf_path || !c->cluster_name) {
                lf_corosync_free(c);
                return NULL;
        }
        c->nodeid = nodeid;
        c->cb = *cb;
        c->cpg_fd = c->quorum_fd = -1;
        return c;
}

static void changed(lf_corosync *c) {
        if (c->cb.changed)
                c->cb.changed(c->cb.userdata);
}

static void disconnect(lf_corosync *c, bool leave) {
        if (!c->connected)
                return;
        if (leave) {
                struct cpg_name group = {.length = strlen(LF_COROSYNC_GROUP)};
                memcpy(group.value, LF_COROSYNC_GROUP, group.length);
                cpg_leave(c->cpg, &group);
        }
        cpg_finalize(c->cpg);
        quorum_finalize(c->quorum);
        c->connected = c->quorate = false;
        c->cpg_fd = c->quorum_fd = -1;
        c->n_members = c->n_view = 0;
}

void lf_corosync_free(lf_corosync *c) {
        if (!c)
                return;
        disconnect(c, true);
        if (c->proc) {
                log_info("Stopping the corosync labforged started (pid %d).",
                         (int)lf_proc_pid(c->proc));
                lf_proc_stop(c->proc, STOP_TIMEOUT_MS);
                lf_proc_free(c->proc);
        }
        free(c->members);
        free(c->view);
        free(c->conf_path);
        free(c->cluster_name);
        free(c);
}

static lf_corosync *context_of_cpg(cpg_handle_t h) {
        void *ctx = NULL;
        cpg_context_get(h, &ctx);
        return ctx;
}

/* The quorate flag is asked again on every membership callback: the callbacks of one change
 * come in no fixed order, and CPG may report the partition before the quorum notification
 * says it lost quorum, while votequorum already knows. */
static void refresh_quorate(lf_corosync *c) {
        int quorate = 0;
        if (quorum_getquorate(c->quorum, &quorate) == CS_OK)
                c->quorate = quorate;
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
                       void *msg, size_t len) {
        lf_corosync *c = context_of_cpg(h);
        if (c && c->cb.deliver)
                c->cb.deliver(c->cb.userdata, nodeid, msg, len);
}

static int u32_cmp(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
                       const struct cpg_address *members, size_t n_members,
                       const struct cpg_address *left, size_t n_left,
                       const struct cpg_address *joined, size_t n_joined) {
        lf_corosync *c = context_of_cpg(h);
        uint32_t *ids;
        size_t n = 0;

        if (!c)
                return;
        ids = calloc(n_members ? n_members : 1, sizeof(*ids));
        if (!ids) {
                log_oom();
                return;
        }
        for (size_t i = 0; i < n_members; i++)
                ids[i] = members[i].nodeid;
        qsort(ids, n_members, sizeof(*ids), u32_cmp);
        /* One entry per node, however many labforged processes it runs. */
        for (size_t i = 0; i < n_members; i++)
                if (n == 0 || ids[n - 1] != ids[i])
                        ids[n++] = ids[i];
        free(c->members);
        c->members = ids;
        c->n_members = n;
        for (size_t i = 0; i < n_joined; i++)
                log_info("CPG: node %u joined group " LF_COROSYNC_GROUP, joined[i].nodeid);
        for (size_t i = 0; i < n_left; i++)
                log_info("CPG: node %u left group " LF_COROSYNC_GROUP " (reason %u)",
                         left[i].nodeid, left[i].reason);
        refresh_quorate(c);
        changed(c);
}

static void on_quorum(quorum_handle_t h, uint32_t quorate, uint64_t ring_seq, uint32_t n_view,
                      uint32_t *view) {
        const void *ctx = NULL;
        lf_corosync *c;

        quorum_context_get(h, &ctx);
        c = (lf_corosync *)ctx;
        if (!c)
                return;
        log_debug("Quorum notification: ring %llu, %s, %u nodes.", (unsigned long long)ring_seq,
                  quorate ? "quorate" : "not quorate", n_view);
        c->quorate = quorate;
        uint32_t *v = malloc((n_view ? n_view : 1) * sizeof(*v));
        if (v) {
                memcpy(v, view, n_view * sizeof(*v));
                free(c->view);
                c->view = v;
                c->n_view = n_view;
        }
        changed(c);
}

static void on_totem(cpg_handle_t h, struct cpg_ring_id ring, uint32_t n, const uint32_t *ids) {
        lf_corosync *c = context_of_cpg(h);

        if (!c)
                return;
        log_debug("Totem membership: ring %llu, %u nodes.", (unsigned long long)ring.seq, n);
        refresh_quorate(c);
        changed(c);
}

static void relay_line(const char *line, void *userdata) {
        log_info("corosync: %s", line);
}

static int spawn(lf_corosync *c) {
        _cleanup_cmd_ lf_cmd *cmd = lf_cmd_new("corosync");
        int r;

        if (!cmd || lf_cmd_add_args(cmd, "-f", "-c", c->conf_path, NULL) < 0)
                return log_oom();
        log_info("corosync does not answer; starting corosync -f -c %s", c->conf_path);
        r = lf_cmd_spawn(cmd, &c->proc);
        if (r < 0)
                return log_error_errno(r, "Cannot start corosync: %m; install the corosync package "
                                          "(labforged starts it itself)");
        c->next_spawn_ms = now_ms() + SPAWN_RETRY_MS;
        return 0;
}

/* Checks that a running corosync belongs to our cluster: 0, -EAGAIN (not answering), or
 * -EINVAL after logging the mismatch. */
static int check_running(lf_corosync *c) {
        cmap_handle_t cmap;
        char *name = NULL;
        uint32_t id = 0;
        int r = 0;

        if (cmap_initialize(&cmap) != CS_OK)
                return -EAGAIN;
        if (cmap_get_string(cmap, "totem.cluster_name", &name) != CS_OK ||
            cmap_get_uint32(cmap, "runtime.votequorum.this_node_id", &id) != CS_OK)
                r = -EAGAIN;
        else if (!streq(name, c->cluster_name))
                r = log_error_errno(-EINVAL,
                                    "The running corosync serves cluster '%s', not this lab's "
                                    "'%s': stop it (and disable corosync.service) so labforged "
                                    "starts it with %s",
                                    name, c->cluster_name, c->conf_path);
        else if (id != c->nodeid)
                r = log_error_errno(-EINVAL,
                                    "The running corosync is node %u, but this node is node %u "
                                    "of the manifest: stop it so labforged starts it with %s",
                                    id, c->nodeid, c->conf_path);
        free(name);
        cmap_finalize(cmap);
        return r;
}

static int connect_now(lf_corosync *c) {
        cpg_model_v1_data_t model = {
                .model = CPG_MODEL_V1,
                .cpg_deliver_fn = on_deliver,
                .cpg_confchg_fn = on_confchg,
                .cpg_totem_confchg_fn = on_totem,
                .flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
        };
        quorum_callbacks_t q_cb = {.quorum_notify_fn = on_quorum};
        struct cpg_name group = {.length = strlen(LF_COROSYNC_GROUP)};
        uint32_t qtype = 0;
        int r;

        r = check_running(c);
        if (r < 0)
                return r;
        if (cpg_model_initialize(&c->cpg, CPG_MODEL_V1, (cpg_model_data_t *)&model, c) != CS_OK)
                return -EAGAIN;
        if (quorum_initialize(&c->quorum, &q_cb, &qtype) != CS_OK) {
                cpg_finalize(c->cpg);
                return -EAGAIN;
        }
        memcpy(group.value, LF_COROSYNC_GROUP, group.length);
        quorum_context_set(c->quorum, c);
        if (cpg_join(c->cpg, &group) != CS_OK || cpg_fd_get(c->cpg, &c->cpg_fd) != CS_OK ||
            quorum_fd_get(c->quorum, &c->quorum_fd) != CS_OK ||
            quorum_trackstart(c->quorum, CS_TRACK_CURRENT | CS_TRACK_CHANGES) != CS_OK) {
                cpg_finalize(c->cpg);
                quorum_finalize(c->quorum);
                return -EAGAIN;
        }
        c->connected = true;
        refresh_quorate(c);
        c->waiting_said = false;
        log_info("Connected to corosync (cluster %s, node %u); joined CPG group " LF_COROSYNC_GROUP
                 ".",
                 c->cluster_name, c->nodeid);
        changed(c);
        return 0;
}

int lf_corosync_tick(lf_corosync *c) {
        long long now = now_ms();
        int status, r;

        if (c->proc) {
                if (lf_proc_fd(c->proc) >= 0)
                        lf_proc_read(c->proc, relay_line, NULL);
                if (lf_proc_reap(c->proc, &status) == 1) {
                        lf_proc_read(c->proc, relay_line, NULL);
                        log_warning("corosync (pid %d) exited with status %d.",
                                    (int)lf_proc_pid(c->proc), status);
                        lf_proc_free(c->proc);
                        c->proc = NULL;
                }
        }

        if (c->connected) {
                cs_error_t e1 = cpg_dispatch(c->cpg, CS_DISPATCH_ALL);
                cs_error_t e2 = quorum_dispatch(c->quorum, CS_DISPATCH_ALL);
                if ((e1 == CS_OK || e1 == CS_ERR_TRY_AGAIN) &&
                    (e2 == CS_OK || e2 == CS_ERR_TRY_AGAIN))
                        return 0;
                log_warning("Lost the connection to corosync (cpg: %d, quorum: %d); this node "
                            "is out of the cluster until it is back.",
                            e1, e2);
                disconnect(c, false);
                c->next_connect_ms = now + CONNECT_RETRY_MS;
                changed(c);
                return 0;
        }

        if (now < c->next_connect_ms)
                return 0;
        c->next_connect_ms = now + CONNECT_RETRY_MS;
        r = connect_now(c);
        if (r != -EAGAIN)
                return r;
        if (!c->proc && now >= c->next_spawn_ms)
                return spawn(c);
        if (c->proc && !c->waiting_said && now >= c->next_spawn_ms) {
                log_warning("corosync (pid %d) was started %d s ago and does not answer yet.",
                            (int)lf_proc_pid(c->proc), SPAWN_RETRY_MS / 1000);
                c->waiting_said = true;
        }
        return 0;
}

size_t lf_corosync_fds(const lf_corosync *c, int fds[static 3]) {
        size_t n = 0;

        if (c->connected) {
                fds[n++] = c->cpg_fd;
                fds[n++] = c->quorum_fd;
        }
        if (c->proc && lf_proc_fd(c->proc) >= 0)
                fds[n++] = lf_proc_fd(c->proc);
        return n;
}

bool lf_corosync_connected(const lf_corosync *c) {
        return c->connected;
}

bool lf_corosync_quorate(const lf_corosync *c) {
        return c->connected && c->quorate;
}

bool lf_corosync_in_view(const lf_corosync *c, uint32_t nodeid) {
        for (size_t i = 0; i < c->n_view; i++)
                if (c->view[i] == nodeid)
                        return true;
        return false;
}

const uint32_t *lf_corosync_members(const lf_corosync *c, size_t *ret_n) {
        *ret_n = c->connected ? c->n_members : 0;
        return c->members;
}

int lf_corosync_send(lf_corosync *c, const void *msg, size_t len) {
        struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};

        if (!c->connected)
                return -ENOTCONN;
        switch (cpg_mcast_joined(c->cpg, CPG_TYPE_AGREED, &iov, 1)) {
        case CS_OK:
                return 0;
        case CS_ERR_TRY_AGAIN:
                return -EAGAIN;
        default:
                return -EIO;
        }
}

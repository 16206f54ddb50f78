/* labforged's VM subsystem: the libvirt driver plugged into the daemon. See vms.h. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "net.h"
#include "virt.h"
#include "vms.h"

/* Seconds between attempts to reconcile a journal whose peers could not be asked. */
#define VMS_RECONCILE_RETRY_S 30
/* Longest a reconciliation waits, in the daemon's loop, for a libvirt job to end. */
#define VMS_RECONCILE_WAIT_MS 5000

typedef enum job_kind {
        JOB_STOP,
        JOB_MIGRATE,
} job_kind;

/* The one long operation under way on this host, carried out by the worker thread on a libvirt
 * connection of its own. */
typedef struct vms_job {
        job_kind kind;
        char vm[LF_VIRT_NAME_SIZE];
        char from[LF_VIRT_NAME_SIZE], to[LF_VIRT_NAME_SIZE];
        char *uri, *dest_uri, *journal;
        char migrate_uri[32], dest_listen[16];
} vms_job;

typedef struct vms {
        lf_daemon *d;
        char *uri;
        char *journal; /* <state-dir>/migrations */
        lf_virt *virt; /* NULL on hosts without the kvm role */
        lf_virt_sample prev;
        bool has_prev;
        bool reconciled;
        time_t next_reconcile;
        pthread_t worker;
        bool worker_running;
        atomic_bool worker_done;
        vms_job job;
} vms;

int lf_vms_peer_uri(const char *local_uri, const lf_node *peer, char **ret) {
        char addr[16];
        /* "qemu:///system", "qemu+unix:///system": the driver is what comes before '+' or ':'. */
        size_t driver_len = strcspn(local_uri, "+:");

        if (driver_len != 4 || strncmp(local_uri, "qemu", 4) != 0)
                return -EOPNOTSUPP;
        if (peer->address)
                lf_ipv4_format(peer->address, addr, sizeof(addr));
        if (asprintf(ret, "qemu+tcp://%s/system", peer->address ? addr : peer->name) < 0)
                return -ENOMEM;
        return 0;
}

int lf_vms_host_address(const lf_node *n, const lf_node_conf *own_conf, char ret[static 16]) {
        if (n->address)
                lf_ipv4_format(n->address, ret, 16);
        else if (own_conf && own_conf->has_bind_address)
                lf_ipv4_format(own_conf->bind_address, ret, 16);
        else
                return -ENOENT;
        return 0;
}

static void log_diag(int level, const lf_diag *diag) {
        for (size_t i = 0; i < diag->n; i++)
                lf_log_internal(level, 0, "%s", diag->msgs[i]);
}

/* Resolves the migrations the journal says were cut short, with the hosts they went to. Only
 * then: without the peer's view, a copy left paused by a migration must not be resumed. */
static void try_reconcile(vms *v) {
        _cleanup_strv_free_ char **entries = NULL;
        lf_virt_host hosts[1 + 16] = {{lf_daemon_node(v->d)->name, v->virt}};
        lf_virt_resolution *res = NULL;
        size_t n_hosts = 1, n_res = 0;
        lf_diag diag = {0};
        int r;

        v->next_reconcile = time(NULL) + VMS_RECONCILE_RETRY_S;
        r = lf_virt_journal_list(v->journal, &entries);
        if (r < 0) {
                log_warning_errno(r, "Cannot read the migration journal %s: %m", v->journal);
                return;
        }
        for (char **e = entries; *e && n_hosts < ELEMENTSOF(hosts); e++) {
                lf_virt_journal j;
                const lf_node *peer;
                _cleanup_free_ char *uri = NULL;
                bool known = false;

                if (lf_virt_journal_read(v->journal, *e, &diag, &j) < 0) {
                        log_diag(LF_LOG_WARNING, &diag);
                        lf_diag_clear(&diag);
                        continue;
                }
                for (size_t h = 0; h < n_hosts; h++)
                        known = known || streq(hosts[h].name, j.to);
                peer = lf_manifest_find_node(lf_daemon_manifest(v->d), j.to);
                if (known || !peer)
                        continue;
                r = lf_vms_peer_uri(v->uri, peer, &uri);
                if (r >= 0)
                        r = lf_virt_open(uri, &diag, &hosts[n_hosts].virt);
                if (r < 0) {
                        log_diag(LF_LOG_WARNING, &diag);
                        log_warning("%s: migration to %s was cut short; cannot ask %s yet, "
                                    "trying again in %d s.",
                                    j.vm, j.to, j.to, VMS_RECONCILE_RETRY_S);
                        goto out;
                }
                hosts[n_hosts++].name = peer->name;
        }
        if (!entries[0]) {
                v->reconciled = true;
                goto out;
        }
        r = lf_virt_reconcile(hosts, n_hosts, v->journal, NULL, NULL, VMS_RECONCILE_WAIT_MS, &diag,
                              &res, &n_res);
        if (r < 0) {
                log_diag(LF_LOG_WARNING, &diag);
                log_warning_errno(r, "Reconciliation incomplete, trying again in %d s: %m",
                                  VMS_RECONCILE_RETRY_S);
                goto out;
        }
        for (size_t i = 0; i < n_res; i++)
                log_info("Reconciled %s: %s; it runs on %s.", res[i].vm, res[i].why,
                         res[i].survivor[0] ? res[i].survivor : "no host");
        free(res);
        v->reconciled = true;
out:
        lf_diag_clear(&diag);
        for (size_t h = 1; h < n_hosts; h++)
                lf_virt_close(hosts[h].virt);
}

static void vms_stop(void *data);

static int vms_start(lf_daemon *d, void **ret_data) {
        const lf_node_conf *conf = lf_daemon_conf(d);
        vms *v = calloc(1, sizeof(*v));
        lf_diag diag = {0};
        int r;

        if (!v)
                return log_oom();
        v->d = d;
        v->reconciled = true;
        if (lf_daemon_node(d)->roles & LF_ROLE_KVM) {
                v->uri = strdup(conf->libvirt_uri);
                if (!v->uri || asprintf(&v->journal, "%s/migrations", lf_daemon_state_dir(d)) < 0) {
                        vms_stop(v);
                        return log_oom();
                }
                r = lf_virt_open(v->uri, &diag, &v->virt);
                if (r < 0) {
                        log_diag(LF_LOG_ERR, &diag);
                        lf_diag_clear(&diag);
                        vms_stop(v);
                        return r;
                }
                v->reconciled = false;
                try_reconcile(v);
        }
        *ret_data = v;
        return 0;
}

static void *worker_main(void *p) {
        vms *v = p;
        const vms_job *j = &v->job;
        _cleanup_virt_ lf_virt *virt = NULL;
        lf_diag diag = {0};
        int r;

        r = lf_virt_open(j->uri, &diag, &virt);
        if (r >= 0 && j->kind == JOB_STOP) {
                r = lf_virt_shutdown(virt, j->vm, LF_VMS_STOP_TIMEOUT_S * 1000u, &diag);
                if (r >= 0)
                        log_info("%s stopped%s.", j->vm,
                                 r ? " (it ignored the shutdown request and was destroyed)" : "");
        } else if (r >= 0) {
                lf_virt_migrate_opts o = {
                        .from = j->from,
                        .to = j->to,
                        .dest_uri = j->dest_uri,
                        .migrate_uri = j->migrate_uri,
                        .dest_listen = j->dest_listen,
                        .timeout_ms = LF_VMS_MIGRATE_TIMEOUT_S * 1000u,
                        .journal_dir = j->journal,
                };
                r = lf_virt_migrate(virt, j->vm, &o, &diag);
                if (r >= 0)
                        log_info("%s migrated from %s to %s.", j->vm, j->from, j->to);
        }
        log_diag(LF_LOG_ERR, &diag);
        lf_diag_clear(&diag);
        atomic_store(&v->worker_done, true);
        return NULL;
}

static void worker_reap(vms *v, bool wait) {
        if (!v->worker_running || (!wait && !atomic_load(&v->worker_done)))
                return;
        pthread_join(v->worker, NULL);
        v->worker_running = false;
        free(v->job.uri);
        free(v->job.dest_uri);
        free(v->job.journal);
        memset(&v->job, 0, sizeof(v->job));
}

/* Hands the prepared v->job to the worker; 0 once under way. */
static int worker_spawn(vms *v, lf_diag *diag) {
        int r;

        v->job.uri = strdup(v->uri);
        v->job.journal = strdup(v->journal);
        if (!v->job.uri || !v->job.journal)
                return -ENOMEM;
        atomic_store(&v->worker_done, false);
        r = -pthread_create(&v->worker, NULL, worker_main, v);
        if (r < 0)
                return lf_diag_add(diag, NULL, 0, "%s: cannot start a worker thread: %s", v->job.vm,
                                   strerror(-r));
        v->worker_running = true;
        return 0;
}

static int command_migrate(vms *v, const lf_msg_command *c, lf_diag *diag) {
        const lf_node *self = lf_daemon_node(v->d);
        const lf_node *peer = lf_manifest_find_node(lf_daemon_manifest(v->d), c->to);
        char addr[16];
        int r;

        if (!peer || !(peer->roles & LF_ROLE_KVM) || streq(peer->name, self->name))
                return lf_diag_add(diag, NULL, 0,
                                   "%s: cannot migrate to '%s': not another KVM "
                                   "host of this lab",
                                   c->vm, c->to);
        if (lf_vms_host_address(peer, NULL, addr) < 0)
                return lf_diag_add(diag, NULL, 0,
                                   "%s: %s has no static address in the manifest; migration "
                                   "streams and consoles need one",
                                   c->vm, c->to);
        v->job.kind = JOB_MIGRATE;
        snprintf(v->job.vm, sizeof(v->job.vm), "%s", c->vm);
        snprintf(v->job.from, sizeof(v->job.from), "%s", self->name);
        snprintf(v->job.to, sizeof(v->job.to), "%s", peer->name);
        snprintf(v->job.migrate_uri, sizeof(v->job.migrate_uri), "tcp://%s", addr);
        snprintf(v->job.dest_listen, sizeof(v->job.dest_listen), "%s", addr);
        r = lf_vms_peer_uri(v->uri, peer, &v->job.dest_uri);
        if (r == -EOPNOTSUPP)
                return lf_diag_add(diag, NULL, 0, "%s: libvirt at %s cannot migrate", c->vm,
                                   v->uri);
        if (r < 0)
                return r;
        return worker_spawn(v, diag);
}

static int vms_command(void *data, const lf_msg_command *c, lf_diag *diag) {
        vms *v = data;
        lf_virt_domain dom;
        int r;

        if (!v->virt || (c->action != LF_ACTION_START && c->action != LF_ACTION_STOP &&
                         c->action != LF_ACTION_MIGRATE))
                return -EOPNOTSUPP;
        if (c->action == LF_ACTION_START) {
                r = lf_virt_get(v->virt, c->vm, diag, &dom);
                if (r == -ENOENT) {
                        lf_diag_clear(diag);
                        return lf_diag_add(diag, NULL, 0,
                                           "%s: not defined on %s, and the start command names "
                                           "no template to define it from",
                                           c->vm, lf_daemon_node(v->d)->name);
                }
                if (r < 0 || dom.active)
                        return r;
                return lf_virt_start(v->virt, c->vm, diag);
        }
        worker_reap(v, false);
        if (v->worker_running)
                return lf_diag_add(diag, NULL, 0,
                                   "%s: %s is still busy with %s; try again when it is done", c->vm,
                                   lf_daemon_node(v->d)->name, v->job.vm);
        if (c->action == LF_ACTION_MIGRATE)
                return command_migrate(v, c, diag);
        r = lf_virt_get(v->virt, c->vm, diag, &dom);
        if (r < 0 || !dom.active)
                return r;
        v->job.kind = JOB_STOP;
        snprintf(v->job.vm, sizeof(v->job.vm), "%s", c->vm);
        return worker_spawn(v, diag);
}

static int vms_report(void *data, lf_msg *report) {
        vms *v = data;
        lf_virt_sample cur = {0};
        lf_diag diag = {0};
        int r;

        if (!v->virt)
                return 0;
        r = lf_virt_sample_take(v->virt, &diag, &cur);
        if (r < 0) {
                log_diag(LF_LOG_WARNING, &diag);
                lf_diag_clear(&diag);
                return r;
        }
        for (size_t i = 0; i < cur.n && r >= 0; i++) {
                const lf_virt_stats *s = &cur.vms[i];
                if (!s->managed)
                        continue;
                lf_msg_vm m = {.state = s->state, .vcpus = s->vcpus, .cpu_cores = -1};
                snprintf(m.name, sizeof(m.name), "%s", s->name);
                m.mem_mb = s->has_mem ? (int64_t)(s->mem_kib / 1024) : 0;
                if (v->has_prev)
                        m.cpu_cores = lf_virt_cores_used(&v->prev, &cur, s->name);
                r = lf_msg_add_vm(report, &m);
        }
        lf_virt_sample_clear(&v->prev);
        v->prev = cur;
        v->has_prev = true;
        return r;
}

static void vms_tick(void *data) {
        vms *v = data;
        worker_reap(v, false);
        if (v->virt && !v->reconciled && time(NULL) >= v->next_reconcile)
                try_reconcile(v);
}

static void vms_stop(void *data) {
        vms *v = data;
        if (!v)
                return;
        /* A migration under way ends by itself within LF_VMS_MIGRATE_TIMEOUT_S. */
        worker_reap(v, true);
        lf_virt_sample_clear(&v->prev);
        lf_virt_close(v->virt);
        free(v->uri);
        free(v->journal);
        free(v);
}

const lf_role_subsystem lf_vms_subsystem = {
        .name = "vms",
        .start = vms_start,
        .tick = vms_tick,
        .report = vms_report,
        .command = vms_command,
        .stop = vms_stop,
};

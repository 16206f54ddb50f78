/* labforged's VM subsystem: the libvirt driver plugged into the daemon. See vms.h. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "fileio.h"
#include "log.h"
#include "net.h"
#include "virt.h"
#include "vms.h"

/* Seconds between attempts to reconcile a journal whose peers could not be asked, and while
 * libvirt still runs the migration job (it goes on without labforged). */
#define VMS_RECONCILE_RETRY_S 30
#define VMS_RECONCILE_JOB_RETRY_S 5
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
        bool copy_storage;
        uint64_t command_id;          /* the leader's command, answered when the job ends */
        char error[LF_MSG_TEXT_SIZE]; /* why it failed; empty when it succeeded */
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
        lf_virt_accel accel;
        bool fenced; /* destroyed its VMs after losing quorum (until quorum is back) */
        pthread_t worker;
        bool worker_running;
        atomic_bool worker_done;
        vms_job job;
} vms;

const lf_node *lf_vms_storage_node(const lf_manifest *m) {
        for (size_t i = 0; i < m->n_nodes; i++)
                if (m->nodes[i].roles & LF_ROLE_STORAGE)
                        return &m->nodes[i];
        return NULL;
}

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

/* Where this host's VM disks are: on the storage node's NFS store when the lab has one, else
 * local overlays; libvirt's test driver runs no guest, so its VMs get none. */
static lf_virt_disk_mode disk_mode(const vms *v) {
        if (v->accel == LF_VIRT_TEST)
                return LF_VIRT_DISK_NONE;
        return lf_vms_storage_node(lf_daemon_manifest(v->d)) ? LF_VIRT_DISK_SHARED
                                                             : LF_VIRT_DISK_OVERLAY;
}

/* Removes a VM's local overlay (deleted, or stale here after a migration copied it away). */
static int overlay_remove(const char *vm, lf_diag *diag) {
        _cleanup_free_ char *path = NULL;

        if (lf_virt_disk_path(vm, NULL, LF_VIRT_DISK_OVERLAY, &path) < 0)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return lf_diag_add(diag, NULL, 0, "%s: cannot remove %s: %s", vm, path,
                                   strerror(errno));
        return 0;
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
        if (r == -EAGAIN)
                v->next_reconcile = time(NULL) + VMS_RECONCILE_JOB_RETRY_S;
        if (r < 0) {
                log_diag(LF_LOG_WARNING, &diag);
                log_warning_errno(r, "Reconciliation incomplete, trying again in %lld s: %m",
                                  (long long)(v->next_reconcile - time(NULL)));
                goto out;
        }
        for (size_t i = 0; i < n_res; i++) {
                log_info("Reconciled %s: %s; it runs on %s.", res[i].vm, res[i].why,
                         res[i].survivor[0] ? res[i].survivor : "no host");
                /* It went, with its disk: the overlay left here is stale. */
                if (disk_mode(v) == LF_VIRT_DISK_OVERLAY && res[i].survivor[0] &&
                    !streq(res[i].survivor, hosts[0].name) && overlay_remove(res[i].vm, &diag) < 0)
                        log_diag(LF_LOG_WARNING, &diag);
                lf_diag_clear(&diag);
        }
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
                v->accel = lf_virt_host_accel(v->virt);
                v->reconciled = false;
                try_reconcile(v);
        }
        *ret_data = v;
        return 0;
}

static void *worker_main(void *p) {
        vms *v = p;
        vms_job *j = &v->job;
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
                        .copy_storage = j->copy_storage,
                        .timeout_ms = LF_VMS_MIGRATE_TIMEOUT_S * 1000u,
                        .journal_dir = j->journal,
                };
                r = lf_virt_migrate(virt, j->vm, &o, &diag);
                if (r >= 0)
                        log_info("%s migrated from %s to %s.", j->vm, j->from, j->to);
                if (r >= 0 && j->copy_storage)              /* the overlay here is stale now */
                        (void)overlay_remove(j->vm, &diag); /* logged below */
        }
        if (r < 0)
                snprintf(j->error, sizeof(j->error), "%s", diag.n ? diag.msgs[0] : strerror(-r));
        log_diag(LF_LOG_ERR, &diag);
        lf_diag_clear(&diag);
        atomic_store(&v->worker_done, true);
        return NULL;
}

static void job_clear(vms_job *j) {
        free(j->uri);
        free(j->dest_uri);
        free(j->journal);
        *j = (vms_job){0};
}

/* Joins the worker once its job is done (wait: when it is done), and answers the leader's
 * command unless the daemon is stopping. */
static void worker_reap(vms *v, bool wait) {
        if (!v->worker_running || (!wait && !atomic_load(&v->worker_done)))
                return;
        pthread_join(v->worker, NULL);
        v->worker_running = false;
        if (!wait)
                lf_daemon_command_done(v->d, v->job.command_id,
                                       *v->job.error ? v->job.error : NULL);
        job_clear(&v->job);
}

/* Hands the prepared v->job to the worker: LF_COMMAND_PENDING once under way. */
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
        return LF_COMMAND_PENDING;
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
        v->job.copy_storage = disk_mode(v) == LF_VIRT_DISK_OVERLAY;
        r = lf_vms_peer_uri(v->uri, peer, &v->job.dest_uri);
        if (r == -EOPNOTSUPP)
                return lf_diag_add(diag, NULL, 0, "%s: libvirt at %s cannot migrate", c->vm,
                                   v->uri);
        if (r < 0)
                return r;
        return worker_spawn(v, diag);
}

static const lf_template *find_template(const vms *v, const char *vm, const char *name,
                                        lf_diag *diag) {
        const lf_template *t = lf_manifest_find_template(lf_daemon_manifest(v->d), name);
        if (!t)
                lf_diag_add(diag, NULL, 0, "%s: the manifest has no template '%s'", vm, name);
        return t;
}

/* The local overlay of a VM over the golden copy of its template's image (fresh: a new one,
 * the reset). */
static int overlay_make(const char *vm, const lf_template *t, bool fresh, lf_diag *diag) {
        _cleanup_free_ char *path = NULL, *golden = NULL;
        _cleanup_cmd_ lf_cmd *cmd = NULL;
        lf_cmd_result res = {0};
        int r;

        if ((r = lf_virt_disk_path(vm, t, LF_VIRT_DISK_OVERLAY, &path)) < 0 ||
            asprintf(&golden, "%s/%s", LF_VIRT_GOLDEN_DIR, t->image) < 0)
                return -ENOMEM;
        if (fresh && unlink(path) < 0 && errno != ENOENT)
                return lf_diag_add(diag, NULL, 0, "%s: cannot remove %s: %s", vm, path,
                                   strerror(errno));
        if (access(path, F_OK) == 0)
                return 0;
        if (access(golden, R_OK) < 0)
                return lf_diag_add(diag, NULL, 0,
                                   "%s: the golden copy %s of template %s is missing: %s; copy "
                                   "the image there",
                                   vm, golden, t->name, strerror(errno));
        if ((r = lf_mkdir_p(LF_VIRT_LOCAL_DIR, 0755)) < 0)
                return lf_diag_add(diag, NULL, 0, "%s: cannot create %s: %s", vm, LF_VIRT_LOCAL_DIR,
                                   strerror(-r));
        if (!(cmd = lf_cmd_new("qemu-img")) ||
            lf_cmd_add_args(cmd, "create", "-q", "-f", "qcow2", "-F", NULL) < 0 ||
            lf_cmd_add_args(cmd, strstr(t->image, ".qcow2") ? "qcow2" : "raw", "-b", golden, path,
                            NULL) < 0)
                return -ENOMEM;
        lf_cmd_set_timeout(cmd, 60 * 1000);
        r = lf_cmd_run_ok(cmd, &res);
        if (r < 0)
                lf_diag_add(diag, NULL, 0, "%s: qemu-img cannot create %s: %s", vm, path,
                            res.err && *res.err ? res.err : strerror(-r));
        lf_cmd_result_clear(&res);
        return r;
}

/* disk_create, disk_reset, disk_delete on a VM host: only its local overlays (a lab with a
 * storage node keeps VM disks there). */
static int command_disk(vms *v, const lf_msg_command *c, lf_diag *diag) {
        const lf_template *t = NULL;
        lf_virt_disk_mode mode = disk_mode(v);
        lf_virt_domain dom;
        int r;

        if (mode == LF_VIRT_DISK_SHARED)
                return -EOPNOTSUPP;
        if (mode == LF_VIRT_DISK_NONE)
                return 0;
        r = c->action == LF_ACTION_DISK_CREATE ? -ENOENT : lf_virt_get(v->virt, c->vm, diag, &dom);
        if (r >= 0 && dom.active)
                return lf_diag_add(diag, NULL, 0,
                                   "%s runs on %s (or is migrating there): its disk stays as it is",
                                   c->vm, lf_daemon_node(v->d)->name);
        if (r < 0 && r != -ENOENT)
                return r;
        lf_diag_clear(diag); /* not defined here: nothing uses the disk */
        if (c->action == LF_ACTION_DISK_DELETE)
                return overlay_remove(c->vm, diag);
        if (!(t = find_template(v, c->vm, c->template, diag)))
                return -EINVAL;
        return overlay_make(c->vm, t, c->action == LF_ACTION_DISK_RESET, diag);
}

/* The VM's disk on the storage node's NFS store: the store is mounted now if it was not (at
 * boot the storage node may not have been up yet). */
static int shared_disk_check(const char *vm, const lf_template *t, lf_diag *diag) {
        _cleanup_free_ char *path = NULL;
        _cleanup_cmd_ lf_cmd *c = NULL;
        lf_cmd_result res = {0};

        if (lf_virt_disk_path(vm, t, LF_VIRT_DISK_SHARED, &path) < 0)
                return -ENOMEM;
        if (access(path, F_OK) == 0)
                return 0;
        if ((c = lf_cmd_new("mount")) && lf_cmd_add_arg(c, LF_VIRT_STORE_DIR) >= 0) {
                lf_cmd_set_timeout(c, 30 * 1000);
                (void)lf_cmd_run(c, &res); /* already mounted, or no fstab entry: see below */
                lf_cmd_result_clear(&res);
        }
        if (access(path, F_OK) == 0)
                return 0;
        return lf_diag_add(diag, NULL, 0,
                           "%s: its disk %s is not there: %s; is the storage node's %s mounted "
                           "here?",
                           vm, path, strerror(errno), LF_VIRT_STORE_DIR);
}

/* Defines the VM from its template when this host does not have it, and starts it. */
static int command_start(vms *v, const lf_msg_command *c, lf_diag *diag) {
        const lf_node_conf *conf = lf_daemon_conf(v->d);
        const lf_template *t = find_template(v, c->vm, c->template, diag);
        lf_virt_disk_mode mode = disk_mode(v);
        lf_virt_domain dom;
        char listen[16];
        int r;

        if (!t)
                return -EINVAL;
        r = lf_virt_get(v->virt, c->vm, diag, &dom);
        if (r == -ENOENT) {
                lf_virt_spec spec = {.vm = c->vm,
                                     .tmpl = t,
                                     .disk_mode = mode,
                                     .listen = listen,
                                     .accel = v->accel};
                lf_diag_clear(diag); /* not defined here yet: defined now */
                if (lf_vms_host_address(lf_daemon_node(v->d), conf, listen) < 0)
                        snprintf(listen, sizeof(listen), "127.0.0.1");
                r = lf_virt_define(v->virt, &spec, diag);
                if (r < 0)
                        return r;
                log_info("%s defined from template %s.", c->vm, t->name);
        } else if (r < 0 || dom.active)
                return r;
        if (mode == LF_VIRT_DISK_SHARED && (r = shared_disk_check(c->vm, t, diag)) < 0)
                return r;
        r = lf_virt_start(v->virt, c->vm, diag);
        if (r >= 0)
                log_info("%s started.", c->vm);
        return r;
}

/* kill (destroy at once) and delete (destroy and undefine): quick, done here. */
static int command_remove(vms *v, const lf_msg_command *c, lf_diag *diag) {
        int r = lf_virt_destroy(v->virt, c->vm, diag);

        if (r == -ENOENT && c->action == LF_ACTION_DELETE) {
                lf_diag_clear(diag);
                return 0; /* nothing left to delete */
        }
        if (r < 0 || c->action == LF_ACTION_KILL)
                return r;
        r = lf_virt_undefine(v->virt, c->vm, diag);
        if (r >= 0)
                log_info("%s deleted.", c->vm);
        return r;
}

/* power_off is the power subsystem's; this one refuses it while VMs still run here. */
static int check_empty(vms *v, lf_diag *diag) {
        _cleanup_free_ lf_virt_domain *doms = NULL;
        size_t n = 0, active = 0;
        int r = lf_virt_list(v->virt, diag, &doms, &n);

        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                active += doms[i].managed && doms[i].active;
        if (active)
                return lf_diag_add(diag, NULL, 0,
                                   "%s still runs %zu VM(s); the leader evacuates a host before "
                                   "powering it off",
                                   lf_daemon_node(v->d)->name, active);
        return -EOPNOTSUPP;
}

static int vms_command(void *data, const lf_msg_command *c, lf_diag *diag) {
        vms *v = data;
        lf_virt_domain dom;
        int r;

        if (!v->virt)
                return -EOPNOTSUPP;
        switch (c->action) {
        case LF_ACTION_START:
                return command_start(v, c, diag);
        case LF_ACTION_KILL:
        case LF_ACTION_DELETE:
                return command_remove(v, c, diag);
        case LF_ACTION_DISK_CREATE:
        case LF_ACTION_DISK_RESET:
        case LF_ACTION_DISK_DELETE:
                return command_disk(v, c, diag);
        case LF_ACTION_POWER_OFF:
                return check_empty(v, diag);
        case LF_ACTION_STOP:
        case LF_ACTION_MIGRATE:
                break;
        default:
                return -EOPNOTSUPP;
        }
        worker_reap(v, false);
        if (v->worker_running)
                return lf_diag_add(diag, NULL, 0,
                                   "%s: %s is still busy with %s; try again when it is done", c->vm,
                                   lf_daemon_node(v->d)->name, v->job.vm);
        job_clear(&v->job); /* what a refused command left */
        v->job.command_id = c->id;
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
                lf_virt_domain dom;
                snprintf(m.name, sizeof(m.name), "%s", s->name);
                snprintf(m.template, sizeof(m.template), "%s", s->template);
                m.mem_mb = s->has_mem ? (int64_t)(s->mem_kib / 1024) : 0;
                /* Bulk statistics leave out what a driver does not track (the balloon of a
                 * stopped domain, the test driver's vcpus): its definition says. */
                if ((!m.vcpus || !m.mem_mb) && lf_virt_get(v->virt, s->name, &diag, &dom) >= 0) {
                        m.vcpus = m.vcpus ? m.vcpus : (int64_t)dom.vcpus;
                        m.mem_mb = m.mem_mb ? m.mem_mb : (int64_t)(dom.mem_kib / 1024);
                }
                lf_diag_clear(&diag);
                if (v->has_prev)
                        m.cpu_cores = lf_virt_cores_used(&v->prev, &cur, s->name);
                r = lf_msg_add_vm(report, &m);
        }
        lf_virt_sample_clear(&v->prev);
        v->prev = cur;
        v->has_prev = true;
        return r;
}

/* DESIGN §8.5: a host that lost quorum may be declared failed by the others, who then start
 * its VMs elsewhere once it has been out long enough (LF_FENCE_WAIT_S); before then, it
 * destroys its VMs itself. */
static void self_fence(vms *v) {
        _cleanup_free_ lf_virt_domain *doms = NULL;
        lf_diag diag = {0};
        size_t n = 0;
        int64_t lost = lf_daemon_quorum_lost_s(v->d);

        if (lost < LF_FENCE_S) {
                v->fenced = v->fenced && lost >= 0;
                return;
        }
        if (v->fenced)
                return;
        if (lf_virt_list(v->virt, &diag, &doms, &n) < 0) {
                log_diag(LF_LOG_ERR, &diag);
                lf_diag_clear(&diag);
                return; /* tried again at the next tick */
        }
        for (size_t i = 0; i < n; i++) {
                if (!doms[i].managed || !doms[i].active)
                        continue;
                if (lf_virt_destroy(v->virt, doms[i].name, &diag) < 0) {
                        log_diag(LF_LOG_ERR, &diag);
                        lf_diag_clear(&diag);
                        return;
                }
                log_warning("Self-fence: no quorum for %lld s, so %s was destroyed here; the "
                            "quorate part of the cluster starts it elsewhere.",
                            (long long)lost, doms[i].name);
        }
        v->fenced = true;
}

static void vms_tick(void *data) {
        vms *v = data;
        worker_reap(v, false);
        if (v->virt)
                self_fence(v);
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

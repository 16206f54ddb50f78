/* The leader's chains of commands, power confirmation, failed hosts and admin requests; see
 * leader.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "leader.h"
#include "log.h"
#include "power.h"
#include "vms.h"

#define MAX_STEPS 3
/* Command ids of the leader: this bit set, so they never meet the ids of forwarded requests. */
#define COMMAND_ID_BIT (UINT64_C(1) << 62)

typedef enum chain_kind {
        CHAIN_START,
        CHAIN_MIGRATE,
        CHAIN_STOP,
        CHAIN_RESET,
        CHAIN_DELETE,
        CHAIN_MAINTENANCE,
        CHAIN_POWER_OFF,
} chain_kind;

static const char *const chain_names[] = {
        [CHAIN_START] = "start",         [CHAIN_MIGRATE] = "migration",
        [CHAIN_STOP] = "stop",           [CHAIN_RESET] = "reset",
        [CHAIN_DELETE] = "delete",       [CHAIN_MAINTENANCE] = "maintenance change",
        [CHAIN_POWER_OFF] = "power-off",
};

typedef struct chain {
        chain_kind kind;
        char key[LF_MSG_NAME_SIZE]; /* the VM, or the host for host chains */
        lf_msg_command steps[MAX_STEPS];
        size_t n, at;
        int64_t due;     /* when the current step is sent */
        int64_t sent_at; /* 0 while not sent */
        int64_t timeout_s;
} chain;

typedef struct power_wait {
        char host[LF_MSG_NAME_SIZE];
        bool on;
        unsigned tries;
        int64_t deadline;
} power_wait;

typedef struct gone_host {
        char host[LF_MSG_NAME_SIZE];
        int64_t since;     /* out of the quorum's view since; 0 while in it */
        bool released;     /* its VMs were handed back for placement */
        bool said_in_view; /* "its labforged is gone" was logged */
} gone_host;

struct lf_leader {
        lf_daemon *d;
        lf_cluster_actions actions;
        chain *chains;
        size_t n_chains;
        power_wait *waits;
        size_t n_waits;
        gone_host *gone;
        size_t n_gone;
        uint64_t counter;
        int64_t now; /* the time of the last tick, for the actions */
};

json_object *lf_leader_error(int status, const char *fmt, ...) {
        json_object *o = json_object_new_object();
        _cleanup_free_ char *text = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (!o || r < 0 || lf_json_add(o, "ok", json_object_new_boolean(false)) < 0 ||
            lf_json_add(o, "status", json_object_new_int(status)) < 0 ||
            lf_json_add(o, "error", json_object_new_string(text)) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

/* --- chains --- */

static chain *find_chain(lf_leader *l, const char *key) {
        for (size_t i = 0; i < l->n_chains; i++)
                if (streq(l->chains[i].key, key))
                        return &l->chains[i];
        return NULL;
}

static void drop_chain(lf_leader *l, chain *c) {
        size_t i = (size_t)(c - l->chains);
        l->chains[i] = l->chains[--l->n_chains];
}

static chain *new_chain(lf_leader *l, chain_kind kind, const char *key, int64_t due) {
        chain *a = realloc(l->chains, (l->n_chains + 1) * sizeof(*a));
        if (!a)
                return NULL;
        l->chains = a;
        a = &l->chains[l->n_chains++];
        *a = (chain){.kind = kind, .due = due, .timeout_s = LF_LEADER_COMMAND_TIMEOUT_S};
        snprintf(a->key, sizeof(a->key), "%s", key);
        return a;
}

static void add_step(chain *c, lf_msg_action action, const char *target, const char *vm,
                     const char *template, const char *to, const char *host) {
        lf_msg_command *s = &c->steps[c->n++];
        *s = (lf_msg_command){.action = action};
        snprintf(s->target, sizeof(s->target), "%s", target);
        snprintf(s->vm, sizeof(s->vm), "%s", vm ? vm : "");
        snprintf(s->template, sizeof(s->template), "%s", template ? template : "");
        snprintf(s->to, sizeof(s->to), "%s", to ? to : "");
        snprintf(s->host, sizeof(s->host), "%s", host ? host : "");
}

/* Where a VM's disk actions go: the storage node, or the VM's host (local overlays). */
static const char *disk_node(lf_leader *l, const char *host) {
        const lf_node *s = lf_vms_storage_node(lf_daemon_manifest(l->d));
        return s ? s->name : host;
}

/* Waits for membership to confirm a power action; an existing wait keeps its tries. */
static void power_wait_add(lf_leader *l, const char *host, bool on) {
        power_wait *w = NULL;

        for (size_t i = 0; i < l->n_waits && !w; i++)
                if (streq(l->waits[i].host, host))
                        w = &l->waits[i];
        if (!w) {
                power_wait *a = realloc(l->waits, (l->n_waits + 1) * sizeof(*a));
                if (!a)
                        return (void)log_oom();
                l->waits = a;
                w = &l->waits[l->n_waits++];
                *w = (power_wait){.tries = 1};
                snprintf(w->host, sizeof(w->host), "%s", host);
        }
        w->on = on;
        w->deadline = l->now + LF_LEADER_POWER_WAIT_S;
}

static void chain_failed(lf_leader *l, chain *c, const char *why) {
        const lf_msg_command *s = &c->steps[c->at];

        log_warning("The %s of %s failed at %s on %s: %s", chain_names[c->kind], c->key,
                    lf_msg_action_to_string(s->action), s->target, why);
        if (c->kind == CHAIN_START)
                lf_cluster_vm_unstart(lf_daemon_cluster(l->d), c->key);
        drop_chain(l, c);
}

static void chain_step_done(lf_leader *l, chain *c) {
        lf_cluster *cl = lf_daemon_cluster(l->d);

        c->at++;
        c->sent_at = 0;
        c->due = l->now;
        if (c->at < c->n)
                return;
        log_info("The %s of %s is done.", chain_names[c->kind], c->key);
        if (c->kind == CHAIN_DELETE)
                lf_cluster_vm_remove(cl, c->key);
        if (c->kind == CHAIN_MIGRATE)
                lf_cluster_vm_migrated(cl, c->key, l->now);
        if (c->kind == CHAIN_POWER_OFF)
                power_wait_add(l, c->key, false);
        drop_chain(l, c);
}

static void chain_send(lf_leader *l, chain *c) {
        _cleanup_msg_ lf_msg *m = lf_msg_new(LF_MSG_COMMAND);

        if (!m)
                return (void)log_oom();
        m->command = c->steps[c->at];
        m->command.id = COMMAND_ID_BIT | ++l->counter;
        c->steps[c->at].id = m->command.id;
        c->sent_at = l->now;
        if (lf_daemon_send(l->d, m) < 0)
                c->sent_at = 0; /* tried again at the next tick */
}

void lf_leader_result(lf_leader *l, const lf_msg *m, int64_t now) {
        l->now = now;
        for (size_t i = 0; i < l->n_chains; i++) {
                chain *c = &l->chains[i];
                if (!c->sent_at || c->steps[c->at].id != m->result.id)
                        continue;
                if (m->result.ok)
                        chain_step_done(l, c);
                else
                        chain_failed(l, c, m->result.error);
                return;
        }
}

/* --- the actions the cycle hands its plan to --- */

static int act_start(void *ud, const char *vm, const char *host, int64_t start_at_s) {
        lf_leader *l = ud;
        lf_cluster *cl = lf_daemon_cluster(l->d);
        lf_msg_vm v;
        chain *c;
        int r;

        if (find_chain(l, vm))
                return -EBUSY;
        if ((r = lf_cluster_vm_get(cl, vm, &v)) < 0)
                return r;
        if (!*v.template) {
                log_warning("%s cannot be started on %s: it has no template to define it from.", vm,
                            host);
                return -EINVAL;
        }
        if ((r = lf_cluster_vm_starting(cl, vm, host, l->now)) < 0)
                return r;
        if (!(c = new_chain(l, CHAIN_START, vm, l->now + start_at_s)))
                return lf_cluster_vm_unstart(cl, vm), -ENOMEM;
        add_step(c, LF_ACTION_DISK_CREATE, disk_node(l, host), vm, v.template, NULL, NULL);
        add_step(c, LF_ACTION_START, host, vm, v.template, NULL, NULL);
        log_info("Start %s (template %s) on %s in %lld s.", vm, v.template, host,
                 (long long)start_at_s);
        return 0;
}

static int act_migrate(void *ud, const char *vm, const char *from, const char *to,
                       lf_sched_reason reason) {
        lf_leader *l = ud;
        bool local = !lf_vms_storage_node(lf_daemon_manifest(l->d));
        lf_msg_vm v;
        chain *c;

        if (find_chain(l, vm))
                return -EBUSY;
        if (local && lf_cluster_vm_get(lf_daemon_cluster(l->d), vm, &v) < 0)
                return -ENOENT;
        if (!(c = new_chain(l, CHAIN_MIGRATE, vm, l->now)))
                return -ENOMEM;
        c->timeout_s = LF_VMS_MIGRATE_TIMEOUT_S + LF_LEADER_COMMAND_TIMEOUT_S;
        /* Local overlays travel with the VM (DESIGN §7): the destination gets a fresh overlay
         * over its own golden copy for libvirt to copy the source's into (the source drops its
         * own once the migration is done). */
        if (local)
                add_step(c, LF_ACTION_DISK_RESET, to, vm, v.template, NULL, NULL);
        add_step(c, LF_ACTION_MIGRATE, from, vm, NULL, to, NULL);
        log_info("Migrate %s from %s to %s (%s).", vm, from, to, lf_sched_reason_to_string(reason));
        return 0;
}

static int act_power_on(void *ud, const char *host) {
        lf_leader *l = ud;
        const lf_node *n = lf_manifest_find_node(lf_daemon_manifest(l->d), host);
        lf_diag diag = {};
        int r;

        for (size_t i = 0; i < l->n_waits; i++)
                if (streq(l->waits[i].host, host) && l->waits[i].on)
                        return 0; /* under way */
        if (!n)
                return -ENOENT;
        r = lf_power_on(lf_daemon_manifest(l->d), n, &diag);
        for (size_t i = 0; i < diag.n; i++)
                log_warning("Power on %s: %s", host, diag.msgs[i]);
        lf_diag_clear(&diag);
        if (r >= 0) {
                log_info("Powering %s on (%s).", host, n->bmc ? "IPMI" : "Wake-on-LAN");
                power_wait_add(l, host, true);
        }
        return r;
}

static int power_off_chain(lf_leader *l, const char *host);

static int act_power_off(void *ud, const char *host) {
        lf_leader *l = ud;
        int r = power_off_chain(l, host);

        if (r >= 0)
                log_info("Powering %s off.", host);
        return r;
}

lf_leader *lf_leader_new(lf_daemon *d) {
        lf_leader *l = calloc(1, sizeof(*l));
        if (!l)
                return NULL;
        l->d = d;
        l->actions = (lf_cluster_actions){act_start, act_migrate, act_power_on, act_power_off, l};
        return l;
}

void lf_leader_reset(lf_leader *l) {
        free(l->chains);
        free(l->waits);
        free(l->gone);
        l->chains = NULL;
        l->waits = NULL;
        l->gone = NULL;
        l->n_chains = l->n_waits = l->n_gone = 0;
}

void lf_leader_free(lf_leader *l) {
        if (!l)
                return;
        lf_leader_reset(l);
        free(l);
}

const lf_cluster_actions *lf_leader_actions(lf_leader *l) {
        return &l->actions;
}

/* --- the tick --- */

static int power_off_chain(lf_leader *l, const char *host) {
        chain *c;

        if (find_chain(l, host))
                return -EBUSY;
        if (!(c = new_chain(l, CHAIN_POWER_OFF, host, l->now)))
                return -ENOMEM;
        add_step(c, LF_ACTION_POWER_OFF, host, NULL, NULL, NULL, host);
        return 0;
}

static void check_power(lf_leader *l) {
        lf_cluster *cl = lf_daemon_cluster(l->d);

        for (size_t i = 0; i < l->n_waits;) {
                power_wait *w = &l->waits[i];
                lf_host_state st = LF_HOST_OFF;

                lf_cluster_host_state(cl, w->host, &st);
                if (w->on ? st == LF_HOST_UP || st == LF_HOST_MAINTENANCE
                          : st == LF_HOST_FAILED || st == LF_HOST_OFF) {
                        if (!w->on && st == LF_HOST_FAILED)
                                lf_cluster_host_set_state(cl, w->host, LF_HOST_OFF);
                        log_info("%s is %s (confirmed: it %s the cluster).", w->host,
                                 w->on ? "on" : "off", w->on ? "joined" : "left");
                } else if (l->now < w->deadline) {
                        i++;
                        continue;
                } else if (w->tries < LF_LEADER_POWER_TRIES) {
                        const lf_manifest *m = lf_daemon_manifest(l->d);
                        const lf_node *n = lf_manifest_find_node(m, w->host);
                        lf_diag diag = {};

                        w->tries++;
                        w->deadline = l->now + LF_LEADER_POWER_WAIT_S;
                        log_warning("%s did not power %s within %d s; trying again (%u of %d).",
                                    w->host, w->on ? "on" : "off", LF_LEADER_POWER_WAIT_S, w->tries,
                                    LF_LEADER_POWER_TRIES);
                        if (w->on && n && lf_power_on(m, n, &diag) < 0)
                                log_warning("Power on %s: %s", w->host,
                                            diag.n ? diag.msgs[0] : "failed");
                        if (!w->on)
                                power_off_chain(l, w->host);
                        lf_diag_clear(&diag);
                        i++;
                        continue;
                } else
                        log_error("%s did not power %s after %d tries; see to it (power, BIOS "
                                  "Wake-on-LAN setting, BMC).",
                                  w->host, w->on ? "on" : "off", LF_LEADER_POWER_TRIES);
                l->waits[i] = l->waits[--l->n_waits];
        }
}

static gone_host *gone_of(lf_leader *l, const char *host) {
        gone_host *a;

        for (size_t i = 0; i < l->n_gone; i++)
                if (streq(l->gone[i].host, host))
                        return &l->gone[i];
        if (!(a = realloc(l->gone, (l->n_gone + 1) * sizeof(*a))))
                return NULL;
        l->gone = a;
        a = &l->gone[l->n_gone++];
        *a = (gone_host){};
        snprintf(a->host, sizeof(a->host), "%s", host);
        return a;
}

/* DESIGN §8.5: the VMs of a failed host start elsewhere only once it is known off: out of the
 * quorum's view for LF_FENCE_WAIT_S, by when it has destroyed them itself (LF_FENCE_S). A host
 * whose corosync is still here (only its labforged is gone) keeps them. */
static void check_failed(lf_leader *l) {
        const lf_manifest *m = lf_daemon_manifest(l->d);
        lf_cluster *cl = lf_daemon_cluster(l->d);

        for (size_t i = 0; i < m->n_nodes; i++) {
                const lf_node *n = &m->nodes[i];
                lf_host_state st = LF_HOST_OFF;
                gone_host *g;
                int r;

                if (!(n->roles & LF_ROLE_KVM) || lf_cluster_host_state(cl, n->name, &st) < 0)
                        continue;
                if (st != LF_HOST_FAILED && st != LF_HOST_OFF)
                        continue;
                if (!(g = gone_of(l, n->name)))
                        return (void)log_oom();
                if (st == LF_HOST_FAILED && lf_daemon_node_in_view(l->d, n)) {
                        if (!g->said_in_view)
                                log_warning("%s: its labforged is gone but the node is still "
                                            "in the cluster; its VMs stay there.",
                                            n->name);
                        g->said_in_view = true;
                        g->since = 0;
                        continue;
                }
                g->said_in_view = false;
                if (!g->since)
                        g->since = l->now;
                if (g->released || (st == LF_HOST_FAILED && l->now - g->since < LF_FENCE_WAIT_S))
                        continue;
                r = lf_cluster_release_vms(cl, n->name);
                if (r > 0)
                        log_warning("%s is %s (out of the cluster for %lld s): its %d VM(s) "
                                    "start elsewhere.",
                                    n->name, lf_host_state_to_string(st),
                                    (long long)(l->now - g->since), r);
                g->released = r >= 0;
        }
        for (size_t i = 0; i < l->n_gone;) {
                lf_host_state st = LF_HOST_OFF;
                lf_cluster_host_state(cl, l->gone[i].host, &st);
                if (st == LF_HOST_UP || st == LF_HOST_MAINTENANCE)
                        l->gone[i] = l->gone[--l->n_gone];
                else
                        i++;
        }
}

void lf_leader_tick(lf_leader *l, int64_t now) {
        l->now = now;
        for (size_t i = 0; i < l->n_chains;) {
                chain *c = &l->chains[i];
                if (!c->sent_at && now >= c->due)
                        chain_send(l, c);
                if ((c->sent_at && now - c->sent_at >= c->timeout_s) ||
                    (!c->sent_at && now - c->due >= c->timeout_s)) {
                        chain_failed(l, c,
                                     c->sent_at ? "no answer in time"
                                                : "the command could not be sent (see the log)");
                        continue; /* the chain at i is another one now */
                }
                i++;
        }
        check_power(l);
        check_failed(l);
        lf_cluster_expire_starting(lf_daemon_cluster(l->d), now, LF_LEADER_START_TIMEOUT_S);
}

/* --- admin requests --- */

typedef struct request {
        lf_leader *l;
        json_object *o;
        lf_diag diag;
        lf_json_ctx ctx;
} request;

/* The first problem the request's fields had, as a bad-request answer. */
static json_object *bad_request(request *q) {
        json_object *a = lf_leader_error(2, "%s", q->diag.n ? q->diag.msgs[0] : "bad request");
        lf_diag_clear(&q->diag);
        return a;
}

static json_object *answer_ok(const char *message) {
        json_object *o = json_object_new_object();
        if (!o || lf_json_add(o, "ok", json_object_new_boolean(true)) < 0 ||
            lf_json_add(o, "message", json_object_new_string(message)) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static json_object *vm_start(request *q) {
        static const char *const keys[] = {"command", "template", "count", "prefix", NULL};
        lf_cluster *cl = lf_daemon_cluster(q->l->d);
        const char *template = NULL, *prefix = NULL;
        const lf_template *t;
        _cleanup_json_ json_object *names = json_object_new_array(), *a = NULL;
        _cleanup_free_ char *first = NULL;
        int64_t count = 1, number = 0;
        int width, r;
        lf_msg_vm v;

        r = lf_json_check_keys(&q->ctx, q->o, "", keys);
        r = r < 0 ? r : lf_json_get_string(&q->ctx, q->o, "", "template", true, &template);
        r = r < 0 ? r
                  : lf_json_get_int(&q->ctx, q->o, "", "count", false, 1, LF_LEADER_MAX_START,
                                    &count);
        r = r < 0 ? r : lf_json_get_string(&q->ctx, q->o, "", "prefix", false, &prefix);
        if (r < 0)
                return bad_request(q);
        if (!names)
                return NULL;
        if (!(t = lf_manifest_find_template(lf_daemon_manifest(q->l->d), template)))
                return lf_leader_error(2,
                                       "unknown template '%s'; the manifest's <template> "
                                       "elements name the ones there are",
                                       template);
        if (!prefix)
                prefix = template;
        /* Numbered from 1, skipping names in use, two digits at least. */
        width = count + 100 > 999 ? 4 : count >= 99 ? 3 : 2;
        for (int64_t made = 0; made < count;) {
                char name[LF_MSG_NAME_SIZE * 2];
                number++;
                snprintf(name, sizeof(name), "%s%0*lld", prefix, width, (long long)number);
                if (!lf_manifest_name_valid(name))
                        return lf_leader_error(2,
                                               "--prefix '%s' does not make VM names like %s: "
                                               "use lowercase letters, digits and '-', at most "
                                               "%d bytes in all",
                                               prefix, name, LF_MSG_NAME_SIZE - 1);
                if (lf_cluster_vm_get(cl, name, &v) == 0)
                        continue;
                if (lf_cluster_add_pending(cl, name, t->name, (int64_t)t->memory_mb,
                                           (int64_t)t->vcpus) < 0)
                        return lf_leader_error(1, "cannot record %s in the cluster database", name);
                if (lf_json_append(names, json_object_new_string(name)) < 0)
                        return NULL;
                made++;
        }
        if (asprintf(&first, "%lld VM(s) of template %s wait to be placed: %s .. %s",
                     (long long)count, t->name,
                     json_object_get_string(json_object_array_get_idx(names, 0)),
                     json_object_get_string(json_object_array_get_idx(names, (size_t)count - 1))) <
                    0 ||
            !(a = answer_ok(first)) || lf_json_add(a, "vms", TAKE_PTR(names)) < 0)
                return NULL;
        log_info("Request: %s.", first);
        return TAKE_PTR(a);
}

/* An answer refusing a request on key (a VM or host) while a chain of it is under way, or
 * NULL. */
static json_object *busy(lf_leader *l, const char *key) {
        const chain *c = find_chain(l, key);
        if (!c)
                return NULL;
        return lf_leader_error(1, "%s: the %s under way is not done; try again in a moment", key,
                               chain_names[c->kind]);
}

/* The VM a request names, or an answer saying why not (*ret_answer). */
static int known_vm(request *q, lf_msg_vm *v, json_object **ret_answer) {
        static const char *const keys[] = {"command", "vm", NULL};
        const char *name = NULL;
        int r = lf_json_check_keys(&q->ctx, q->o, "", keys);

        r = r < 0 ? r : lf_json_get_string(&q->ctx, q->o, "", "vm", true, &name);
        if (r < 0) {
                *ret_answer = bad_request(q);
                return -EINVAL;
        }
        if (lf_cluster_vm_get(lf_daemon_cluster(q->l->d), name, v) < 0) {
                *ret_answer = lf_leader_error(2,
                                              "unknown VM '%s'; 'labforge status' lists the "
                                              "cluster's VMs",
                                              name);
                return -ENOENT;
        }
        if ((*ret_answer = busy(q->l, v->name)))
                return -EBUSY;
        return 0;
}

static json_object *vm_change(request *q, const char *command) {
        lf_cluster *cl = lf_daemon_cluster(q->l->d);
        json_object *a = NULL;
        char message[256];
        lf_msg_vm v;
        chain *c;

        if (known_vm(q, &v, &a) < 0)
                return a;
        if (!*v.host) { /* pending */
                if (!streq(command, "vm_delete"))
                        return lf_leader_error(
                                2,
                                "%s is not placed yet, so it cannot be %s; "
                                "'labforge vm delete %s' takes it back",
                                v.name, streq(command, "vm_stop") ? "stopped" : "reset", v.name);
                if (lf_cluster_vm_remove(cl, v.name) < 0)
                        return lf_leader_error(1, "cannot remove %s from the cluster database",
                                               v.name);
                snprintf(message, sizeof(message), "%s deleted (it was not placed yet)", v.name);
                return answer_ok(message);
        }
        if (streq(command, "vm_stop")) {
                if (!(c = new_chain(q->l, CHAIN_STOP, v.name, q->l->now)))
                        return NULL;
                c->timeout_s = LF_VMS_STOP_TIMEOUT_S + LF_LEADER_COMMAND_TIMEOUT_S;
                add_step(c, LF_ACTION_STOP, v.host, v.name, NULL, NULL, NULL);
        } else if (streq(command, "vm_reset")) {
                if (!*v.template)
                        return lf_leader_error(2, "%s has no template to reset it to", v.name);
                if (!(c = new_chain(q->l, CHAIN_RESET, v.name, q->l->now)))
                        return NULL;
                add_step(c, LF_ACTION_KILL, v.host, v.name, NULL, NULL, NULL);
                add_step(c, LF_ACTION_DISK_RESET, disk_node(q->l, v.host), v.name, v.template, NULL,
                         NULL);
                add_step(c, LF_ACTION_START, v.host, v.name, v.template, NULL, NULL);
        } else {
                if (!(c = new_chain(q->l, CHAIN_DELETE, v.name, q->l->now)))
                        return NULL;
                add_step(c, LF_ACTION_DELETE, v.host, v.name, NULL, NULL, NULL);
                add_step(c, LF_ACTION_DISK_DELETE, disk_node(q->l, v.host), v.name, NULL, NULL,
                         NULL);
        }
        snprintf(message, sizeof(message), "%s of %s on %s under way", chain_names[c->kind], v.name,
                 v.host);
        log_info("Request: %s.", message);
        return answer_ok(message);
}

static json_object *host_maintenance(request *q) {
        static const char *const keys[] = {"command", "host", "on", NULL};
        const char *host = NULL;
        const lf_node *n;
        lf_host_state st = LF_HOST_OFF;
        json_object *a;
        char message[256];
        bool on = false;
        chain *c;
        int r;

        r = lf_json_check_keys(&q->ctx, q->o, "", keys);
        r = r < 0 ? r : lf_json_get_string(&q->ctx, q->o, "", "host", true, &host);
        r = r < 0 ? r : lf_json_get_bool(&q->ctx, q->o, "", "on", true, &on);
        if (r < 0)
                return bad_request(q);
        n = lf_manifest_find_node(lf_daemon_manifest(q->l->d), host);
        if (!n || !(n->roles & LF_ROLE_KVM))
                return lf_leader_error(2,
                                       "unknown host '%s'; maintenance is for the manifest's "
                                       "VM hosts (role kvm)",
                                       host);
        lf_cluster_host_state(lf_daemon_cluster(q->l->d), host, &st);
        if (st != LF_HOST_UP && st != LF_HOST_MAINTENANCE)
                return lf_leader_error(1,
                                       "%s is %s; only a host in the cluster changes its "
                                       "maintenance mode",
                                       host, lf_host_state_to_string(st));
        if ((a = busy(q->l, host)))
                return a;
        if (!(c = new_chain(q->l, CHAIN_MAINTENANCE, host, q->l->now)))
                return NULL;
        add_step(c, on ? LF_ACTION_MAINTENANCE_ON : LF_ACTION_MAINTENANCE_OFF, host, NULL, NULL,
                 NULL, NULL);
        snprintf(message, sizeof(message), "%s goes %s maintenance%s", host, on ? "into" : "out of",
                 on ? "; its VMs move to the other hosts" : "");
        log_info("Request: %s.", message);
        return answer_ok(message);
}

static json_object *balance(request *q) {
        static const char *const keys[] = {"command", "mode", "dry_run", NULL};
        const char *mode_name = NULL;
        lf_sched_mode mode = LF_SCHED_AUTO;
        _cleanup_json_ json_object *plan = NULL, *a = NULL;
        bool dry_run = false;
        int r;

        r = lf_json_check_keys(&q->ctx, q->o, "", keys);
        r = r < 0 ? r : lf_json_get_string_or_null(&q->ctx, q->o, "", "mode", false, &mode_name);
        r = r < 0 ? r : lf_json_get_bool(&q->ctx, q->o, "", "dry_run", false, &dry_run);
        if (r < 0)
                return bad_request(q);
        if (mode_name && lf_sched_mode_from_string(mode_name, &mode) < 0)
                return lf_leader_error(2,
                                       "unknown mode '%s'; use place, memory, compute, energy "
                                       "or auto",
                                       mode_name);
        r = lf_cluster_balance(lf_daemon_cluster(q->l->d), q->l->now, mode, dry_run, &q->l->actions,
                               &plan);
        if (r < 0)
                return lf_leader_error(1, "the scheduler could not plan: %s", strerror(-r));
        if (!(a = answer_ok(dry_run ? "planned (dry run: nothing was done)"
                                    : "planned; the actions are under way")) ||
            lf_json_add(a, "plan", TAKE_PTR(plan)) < 0)
                return NULL;
        return TAKE_PTR(a);
}

int lf_leader_request(lf_leader *l, json_object *req, int64_t now, json_object **ret) {
        request q = {.l = l, .o = req};
        const char *command = json_object_get_string(json_object_object_get(req, "command"));
        json_object *a;

        q.ctx = (lf_json_ctx){&q.diag, "request"};
        l->now = now;
        if (!command)
                a = lf_leader_error(2, "the request names no command");
        else if (streq(command, "vm_start"))
                a = vm_start(&q);
        else if (streq(command, "vm_stop") || streq(command, "vm_reset") ||
                 streq(command, "vm_delete"))
                a = vm_change(&q, command);
        else if (streq(command, "host_maintenance"))
                a = host_maintenance(&q);
        else if (streq(command, "balance"))
                a = balance(&q);
        else
                a = lf_leader_error(2,
                                    "unknown command '%.64s'; labforged answers: status, "
                                    "vm_start, vm_stop, vm_reset, vm_delete, host_maintenance, "
                                    "balance",
                                    command);
        lf_diag_clear(&q.diag);
        if (!a)
                return -ENOMEM;
        *ret = a;
        return 0;
}

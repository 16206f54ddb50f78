/* labforged's main loop (DESIGN §7): node.conf and the manifest, corosync membership and CPG
 * messages, the cluster view, the leader's timetable, the admin socket
 * (<state-dir>/labforge.sock) and signals, with the parts that act on the machine (libvirt
 * driver, storage runtime, power) plugged in as subsystems. */
#pragma once

#include <stdbool.h>

#include "cluster.h"
#include "config.h"
#include "diag.h"
#include "manifest.h"
#include "msg.h"

#define LF_DAEMON_DEFAULT_CONFIG_DIR "/etc/labforge"
#define LF_DAEMON_SOCKET "labforge.sock"

typedef struct lf_daemon lf_daemon;

/* A part of labforged that acts on this machine. The daemon starts subsystems in table order
 * once the configuration is loaded, polls the fd each reports (if any) and calls dispatch when
 * it is readable, calls tick about twice a second, asks each for its share of this node's
 * report, hands them the commands the leader addresses to this node, and stops them in reverse
 * order. Every callback but start may be NULL. */
#define LF_COMMAND_PENDING 1

typedef struct lf_role_subsystem {
        const char *name;
        /* Returns 0 with its private data, or a negative errno after logging why. */
        int (*start)(lf_daemon *d, void **ret_data);
        int (*fd)(void *data);
        void (*dispatch)(void *data);
        void (*tick)(void *data);
        /* Adds what this subsystem knows to the node's report: the VM driver lists the
         * host's VMs (lf_msg_add_vm) with their CPU use. */
        int (*report)(void *data, lf_msg *report);
        /* Carries out a command the leader addressed to this node: 0 when done,
         * LF_COMMAND_PENDING when under way (the subsystem reports the outcome later with
         * lf_daemon_command_done), -EOPNOTSUPP when the action is not this subsystem's,
         * another negative errno with the reason in diag (sent back to the leader). */
        int (*command)(void *data, const lf_msg_command *cmd, lf_diag *diag);
        void (*stop)(void *data);
} lf_role_subsystem;

typedef struct lf_daemon_options {
        const char *config_dir; /* NULL: /etc/labforge */
        const char *state_dir;  /* NULL: $LABFORGE_STATE_DIR, else /var/lib/labforge */
        const lf_role_subsystem *const *subsystems;
        size_t n_subsystems;
} lf_daemon_options;

/* Runs until SIGTERM or SIGINT. Returns the exit status: 0 after a clean stop, 2 when the
 * configuration or manifest is wrong (every problem printed), 1 for other failures. */
int lf_daemon_run(const lf_daemon_options *o);

/* What subsystems may use. */
const lf_node_conf *lf_daemon_conf(const lf_daemon *d);
const lf_manifest *lf_daemon_manifest(const lf_daemon *d);
const lf_node *lf_daemon_node(const lf_daemon *d);
const char *lf_daemon_state_dir(const lf_daemon *d);
/* Whether this node is the leader of a quorate partition, the only node that acts for the
 * cluster. */
bool lf_daemon_is_leader(const lf_daemon *d);
/* Seconds this node has been without quorum, or -1 while it is quorate. A VM host destroys its
 * VMs after LF_FENCE_S without quorum (self-fence, DESIGN §8.5); the leader starts the VMs of a
 * host that left the quorum elsewhere only after LF_FENCE_WAIT_S. */
#define LF_FENCE_S 30
#define LF_FENCE_WAIT_S (2 * LF_FENCE_S)
int64_t lf_daemon_quorum_lost_s(const lf_daemon *d);
/* Whether a node's corosync is in this partition (its labforged may be gone). */
bool lf_daemon_node_in_view(const lf_daemon *d, const lf_node *n);
/* The cluster view this node keeps. */
lf_cluster *lf_daemon_cluster(lf_daemon *d);
/* The outcome of a command that was LF_COMMAND_PENDING: error NULL when it succeeded. */
void lf_daemon_command_done(lf_daemon *d, uint64_t id, const char *error);
/* Numbers, stamps (node, time) and multicasts a message of this node to the group. */
int lf_daemon_send(lf_daemon *d, lf_msg *m);

/* labforged's membership layer (DESIGN §7): corosync.conf generated from the manifest, corosync
 * started when it does not run, the CPG group "labforge" (messages and members) and quorum
 * (votequorum, through libquorum), and the leader rule. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "macro.h"
#include "manifest.h"

#define LF_COROSYNC_GROUP "labforge"

/* corosync.conf for this node: totem (version 2, cluster_name = lab name, knet, aes256 +
 * sha256 with node.conf's authkey), a nodelist of every manifest node (nodeid = lf_node.nodeid,
 * ring0_addr = its management address), votequorum (two_node with exactly two nodes) and
 * logging to stderr, which labforged relays to its own log.
 * ring0_addr: the manifest's static address; for this node, node.conf's bind_address when the
 * manifest has none (lf_node_conf_check() refuses a bind_address that contradicts it); for a
 * node with neither, its name, which corosync resolves when it starts (DNS or /etc/hosts), so
 * give cluster nodes static addresses. Returns the text (malloc'ed) or -ENOMEM. */
int lf_corosync_conf(const lf_manifest *m, const lf_node *self, const lf_node_conf *conf,
                     char **ret);

/* The leader among the CPG members (node ids, in any order, repeats allowed): the login node
 * with the lowest node id when one is a member, else the lowest member node id that the
 * manifest knows. -ENOENT when no member is a manifest node. Only a quorate partition has a
 * leader that acts; the caller checks quorum. */
int lf_leader_pick(const lf_manifest *m, const uint32_t *members, size_t n, uint32_t *ret);

/* The manifest node with this corosync node id, or NULL. */
const lf_node *lf_node_by_id(const lf_manifest *m, uint32_t id);

typedef struct lf_corosync lf_corosync;

typedef struct lf_corosync_callbacks {
        /* A message of the group, as sent, with its sender's node id. */
        void (*deliver)(void *userdata, uint32_t nodeid, const void *msg, size_t len);
        /* The group's members or quorum changed, or the connection to corosync came or went. */
        void (*changed)(void *userdata);
        void *userdata;
} lf_corosync_callbacks;

/* A handle that is not connected yet; lf_corosync_tick() connects. conf_path is the file
 * corosync is started with, cluster_name what a running corosync must be configured for and
 * nodeid this node's id in it. NULL on OOM. */
lf_corosync *lf_corosync_new(const char *conf_path, const char *cluster_name, uint32_t nodeid,
                             const lf_corosync_callbacks *cb);
/* Leaves the group, disconnects, and stops the corosync this handle started (SIGTERM). */
void lf_corosync_free(lf_corosync *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_corosync *, lf_corosync_free);
#define _cleanup_corosync_ _cleanup_(lf_corosync_freep)

/* Call about twice a second and whenever an fd of lf_corosync_fds() is readable: connects (and
 * joins the group) when not connected, starting `corosync -f -c CONF` through the command
 * runner when none answers (at most every 10 s), relays its output to the log, notices its
 * exit, and dispatches what corosync sent. Returns 0, or a negative errno for a
 * misconfiguration that waiting will not fix (a running corosync of another cluster or node
 * id), after logging it. */
int lf_corosync_tick(lf_corosync *c);
/* The fds to poll for input (up to 3: CPG, quorum, the output of the corosync we started);
 * returns how many. */
size_t lf_corosync_fds(const lf_corosync *c, int fds[static 3]);

bool lf_corosync_connected(const lf_corosync *c);
/* Whether votequorum says this partition is quorate, as of the last callback (each membership
 * callback asks it again). Membership callbacks of one change come in no fixed order, so a
 * caller acts on quorum only once it held for a while (the daemon's settle time). */
bool lf_corosync_quorate(const lf_corosync *c);
/* The node ids of the group's members (one per node, sorted), valid until the next tick. */
const uint32_t *lf_corosync_members(const lf_corosync *c, size_t *ret_n);
/* Whether node id's corosync is in this partition's quorum view (its labforged may still be
 * out of the group): a node in the view is up, whatever its daemon does. */
bool lf_corosync_in_view(const lf_corosync *c, uint32_t nodeid);
/* Multicasts msg to the group (agreed order; the sender gets it too). -ENOTCONN when not
 * connected, -EAGAIN when corosync asks to try again later. */
int lf_corosync_send(lf_corosync *c, const void *msg, size_t len);

/* labforged's node configuration, /etc/labforge/node.conf (DESIGN §7): `key = value` lines
 * naming this node, its manifest copy and the corosync files, checked against the manifest. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "macro.h"
#include "manifest.h"

#define LF_NODE_CONF_MAX_BYTES (64u * 1024)
#define LF_NODE_CONF_MAX_VALUE 4095 /* PATH_MAX - 1: every value is at most a path */

#define LF_NODE_CONF_DEFAULT_LIBVIRT_URI "qemu:///system"
#define LF_NODE_CONF_DEFAULT_COROSYNC_CONF "/etc/corosync/corosync.conf"
#define LF_NODE_CONF_DEFAULT_AUTHKEY "/etc/corosync/authkey"
#define LF_NODE_CONF_DEFAULT_POWER_OFF "/usr/bin/systemctl poweroff"

typedef struct lf_node_conf {
        char *file; /* path it was read from, for messages */
        char *node;
        unsigned roles;  /* lf_role bits; 0 when the file has no role line */
        unsigned nodeid; /* 0 when the file has no nodeid line */
        char *manifest;  /* absolute path of the lab manifest copy */
        char *libvirt_uri;
        char *corosync_conf; /* where labforged writes corosync.conf */
        char *authkey;       /* corosync's key (crypto is always on) */
        /* What powers this node off when the leader says so (an absolute program path and its
         * arguments, split at blanks, no shell). */
        char *power_off_command;
        bool has_bind_address;
        uint32_t bind_address; /* this node's corosync address, overriding the manifest's */
        /* Lines of the keys the manifest check refers to (0: not in the file). */
        long node_line, role_line, nodeid_line, bind_address_line;
} lf_node_conf;

/* Parses node.conf text. Blank lines and lines starting with '#' are skipped; every other line
 * is `key = value` with a known key given once. `node` and `manifest` are required; the rest
 * default (libvirt_uri qemu:///system, corosync_conf /etc/corosync/corosync.conf, authkey
 * /etc/corosync/authkey, power_off_command /usr/bin/systemctl poweroff). Every problem is
 * added to diag as "NAME:LINE: ..." and -EINVAL returned; *ret is then untouched. */
int lf_node_conf_parse(const char *name, const char *buf, size_t len, lf_diag *diag,
                       lf_node_conf **ret);
/* Reads and parses the file at path (at most LF_NODE_CONF_MAX_BYTES). */
int lf_node_conf_load(const char *path, lf_diag *diag, lf_node_conf **ret);
void lf_node_conf_free(lf_node_conf *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_node_conf *, lf_node_conf_free);
#define _cleanup_node_conf_ _cleanup_(lf_node_conf_freep)

/* Checks the configuration against the manifest: the node is listed there, and role, nodeid
 * and bind_address, when given, agree with it (every node derives the corosync node list from
 * the manifest, so a node that disagrees could not join). Returns 0 and the manifest's node,
 * or -EINVAL with the problems in diag. */
int lf_node_conf_check(const lf_node_conf *c, const lf_manifest *m, lf_diag *diag,
                       const lf_node **ret_node);

/* The appliance's node inventory in SQLite (<state-dir>/labforge.db): every PC it knows, its
 * lifecycle state (DESIGN §4) with explicit transitions that refuse illegal ones, one-time
 * install tokens (stored hashed), events, inventories and failures. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "macro.h"
#include "manifest.h"
#include "net.h"

/* Assigned (not manifest) nodes get cluster node ids from here on, so they never collide with
 * manifest nodes, which are numbered 1..LF_MANIFEST_MAX_NODES in manifest order. */
#define LF_STATE_ASSIGNED_NODEID_BASE (LF_MANIFEST_MAX_NODES + 1)
/* Most PCs the appliance keeps (manifest and discovered together). */
#define LF_STATE_MAX_NODES 4096
/* What a failure keeps of the installer's log: its last lines, at most this many bytes. */
#define LF_STATE_LOG_LINES 100
#define LF_STATE_LOG_BYTES (16u * 1024)
/* Events kept per node; older ones are dropped. */
#define LF_STATE_MAX_EVENTS 500
#define LF_STATE_TOKEN_LEN 64 /* hex digits */

typedef enum lf_node_state {
        LF_NODE_DISCOVERED,
        LF_NODE_READY,
        LF_NODE_INSTALLING,
        LF_NODE_DEPLOYED,
        LF_NODE_FAILED,
} lf_node_state;

const char *lf_node_state_name(lf_node_state s);

typedef struct lf_state_node {
        char mac[LF_MAC_STR_LEN + 1];
        char *name;       /* NULL while discovered */
        char *role;       /* "kvm", "login+storage"; NULL while discovered */
        unsigned nodeid;  /* 0 while discovered */
        bool in_manifest; /* listed in the manifest (else discovered or assigned) */
        lf_node_state state;
        unsigned progress;                                 /* percent */
        char *step;                                        /* what the install does now, or "" */
        char *last_event;                                  /* one line for `labforge nodes` */
        char *token_state;                                 /* "none", "issued", "expired" */
        char *inventory;                                   /* JSON text (DESIGN §5.2) or NULL */
        char *failure_step, *failure_reason, *failure_log; /* NULL unless failed */
        int64_t created, updated;                          /* seconds since the epoch */
        int64_t install_started, install_finished;         /* 0 when not (yet) */
} lf_state_node;

void lf_state_node_free(lf_state_node *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_state_node *, lf_state_node_free);
#define _cleanup_state_node_ _cleanup_(lf_state_node_freep)

typedef struct lf_state_event {
        int64_t time;
        char *kind; /* "discovered", "assigned", "token", "step", "complete", "failed", ... */
        char *message;
} lf_state_event;

void lf_state_events_free(lf_state_event *e, size_t n);

typedef struct lf_state lf_state;

/* Opens (creating or migrating) <dir>/labforge.db; dir is created when missing. A database
 * from a newer labforge is refused (-EPROTO, reported to diag). */
int lf_state_open(const char *dir, lf_diag *diag, lf_state **ret);
void lf_state_close(lf_state *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_state *, lf_state_close);
#define _cleanup_state_ _cleanup_(lf_state_closep)

/* Time source for tests (seconds since the epoch); NULL restores time(). */
void lf_state_set_clock(lf_state *s, int64_t (*now)(void));

/* Errors of the transitions below, each with one message in diag saying what is wrong and what
 * to do: -ENOENT unknown node, -EINVAL bad input, -EEXIST name or MAC already taken, -EBUSY the
 * node's state does not allow it, -EACCES wrong, missing or expired token. Nothing changes
 * when a call fails. */

/* Brings the state in line with the manifest: its nodes become `ready` unless installing,
 * deployed or failed; nodes no longer listed are dropped (or kept as discovered when they
 * have an inventory). A manifest that removes, renames, re-roles or renumbers a node that is
 * installing or deployed is refused as a whole (-EBUSY, every such node named in diag). */
int lf_state_sync(lf_state *s, const lf_manifest *m, lf_diag *diag);

int lf_state_get(lf_state *s, const char *mac, lf_state_node **ret);
/* By node name, or by MAC when key is one. */
int lf_state_find(lf_state *s, const char *key, lf_state_node **ret);
/* Every node: manifest nodes by node id, then assigned ones, then discovered ones by MAC. */
int lf_state_list(lf_state *s, lf_state_node ***ret, size_t *ret_n);
void lf_state_list_free(lf_state_node **l, size_t n);
/* The node's events, oldest first (at most LF_STATE_MAX_EVENTS). */
int lf_state_events(lf_state *s, const char *mac, lf_state_event **ret, size_t *ret_n);

/* Discovery upload (no token): an unknown MAC becomes `discovered`; a discovered one gets its
 * inventory replaced. Assigned nodes are refused (-EBUSY). */
int lf_state_discover(lf_state *s, const char *mac, const char *inventory_json, lf_diag *diag);
/* `labforge assign`: an unknown or discovered MAC becomes `ready` as NAME with ROLE (any role
 * string lf_role_parse takes) and the next free assigned node id. */
int lf_state_assign(lf_state *s, const lf_manifest *m, const char *mac, const char *role,
                    const char *name, lf_diag *diag);

/* What the PXE boot script of a MAC must do. */
typedef enum lf_boot_action {
        LF_BOOT_DISCOVER,
        LF_BOOT_INSTALL,
        LF_BOOT_LOCAL,  /* deployed: boot the local disk */
        LF_BOOT_FAILED, /* failed: say why, boot nothing */
} lf_boot_action;
/* A PXE boot asks for its script. An installing node that boots again has lost its installer:
 * the token is revoked and it goes back to `ready`, so the install starts over. ret_node is
 * the node after that (NULL for an unknown MAC). */
int lf_state_boot(lf_state *s, const char *mac, lf_boot_action *ret_action,
                  lf_state_node **ret_node);

/* The assignment lookup: in `ready`, issues the one-time token (returned in clear, stored
 * hashed) and moves the node to `installing`. */
int lf_state_issue_token(lf_state *s, const char *mac, lf_diag *diag,
                         char ret_token[static LF_STATE_TOKEN_LEN + 1]);
/* Records an event for the node (e.g. why an assignment could not be served). */
int lf_state_note(lf_state *s, const char *mac, const char *kind, const char *message);

/* Node API calls with the node's token (checked in the same transaction). */
int lf_state_install_inventory(lf_state *s, const char *mac, const char *token,
                               const char *inventory_json, lf_diag *diag);
int lf_state_progress(lf_state *s, const char *mac, const char *token, const char *step,
                      unsigned percent, const char *message, lf_diag *diag);
int lf_state_complete(lf_state *s, const char *mac, const char *token, const char *message,
                      lf_diag *diag);
int lf_state_fail(lf_state *s, const char *mac, const char *token, const char *step,
                  const char *message, const char *log, lf_diag *diag);
/* Checks a token without changing anything (for read-only calls like the manifest). */
int lf_state_check_token(lf_state *s, const char *mac, const char *token, lf_diag *diag);

/* `labforge rebuild`: a deployed or failed node goes back to `ready` with the same name, role
 * and node id; its next PXE boot reinstalls it. key is a node name or MAC. */
int lf_state_rebuild(lf_state *s, const char *key, lf_diag *diag);
/* `labforge forget`: drops a MAC that is not in the manifest and not installing. */
int lf_state_forget(lf_state *s, const char *mac, lf_diag *diag);

/* The appliance's admin socket, <state-dir>/labforge.sock: a unix stream socket (mode 0600,
 * root or the appliance's own user only) carrying one JSON request and one JSON answer per
 * connection. The server side is a subsystem of `labforge serve`; the client side is what the
 * `labforge nodes|assign|rebuild|logs|forget` verbs call.
 *
 * Requests: {"command": "nodes"}, {"command": "assign", "mac", "role", "name"},
 * {"command": "rebuild", "name"}, {"command": "logs", "name"} (name or MAC),
 * {"command": "forget", "mac"}. Answers: {"ok": true, ...} with "nodes": [NODE...] (nodes),
 * "node": NODE (assign, rebuild, logs; logs adds "events": [{"time", "kind", "message"}],
 * "failure": {"step", "reason", "log"} or null, "inventory": {...} or null); or
 * {"ok": false, "status": 2 (bad input, nothing changed) or 1, "error", "problems": [...]}.
 * NODE: {"name", "mac", "role", "nodeid", "state", "progress", "step", "last_event",
 * "in_manifest", "token", "updated", "install_started", "install_finished",
 * "install_seconds"}, with null for what a node does not have yet. */
#pragma once

#include <json-c/json.h>

#include "appliance.h"
#include "diag.h"

#define LF_ADMIN_MAX_REQUEST (64u * 1024)
#define LF_ADMIN_MAX_ANSWER (16u * 1024 * 1024)
#define LF_ADMIN_SOCKET "labforge.sock"

extern const lf_subsystem lf_subsystem_admin;

/* $LABFORGE_STATE_DIR, else /var/lib/labforge. */
const char *lf_state_dir_default(void);

/* Answers one request (what the socket server does with each connection's JSON). */
int lf_admin_dispatch(lf_appliance *app, json_object *req, json_object **ret);

/* {"command": command}, the start of every request; NULL on OOM. */
json_object *lf_admin_request(const char *command);

/* Sends req to the appliance running with state_dir and returns its answer. When none runs
 * (no socket, or nobody listening) diag says so and -ENOTCONN is returned. */
int lf_admin_call(const char *state_dir, json_object *req, lf_diag *diag, json_object **ret);

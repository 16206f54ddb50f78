/* The labforge verbs that ask labforged (DESIGN §7): one request on the admin socket of the
 * labforged running with a state directory, which answers itself (status) or through the
 * cluster's leader (vm, host, balance). */
#pragma once

#include <json-c/json.h>

/* Sends req to the labforged of state_dir. Returns 0 with its {"ok": true, ...} answer in
 * *ret; otherwise prints why (no daemon there, or the daemon's error) and returns the exit
 * status: 2 for a request the daemon calls bad, else 1. */
int lf_labforged_call(const char *state_dir, json_object *req, json_object **ret);

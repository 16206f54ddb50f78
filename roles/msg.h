/* The messages labforged nodes exchange over CPG (group "labforge"): node reports, the leader's
 * view of the cluster, leader commands and their results. Encoding, and a strict decoder for
 * what arrives from peers: anything malformed or oversized is refused whole.
 *
 * Wire format (version 1): a 12-byte header, then a JSON object.
 *   bytes 0-3   magic "LFCM"
 *   byte  4     version, 1
 *   byte  5     type: 1 report, 2 state, 3 command, 4 result, 5 request
 *   bytes 6-7   zero
 *   bytes 8-11  payload length, big-endian: exactly the bytes that follow, at most
 *               LF_MSG_MAX_PAYLOAD
 * The payload is one JSON object (UTF-8, no NUL) with the keys of its type, none missing and
 * none unknown: "node" (the sender's node name), "seq" (the sender's message counter), "time"
 * (the sender's clock, seconds since 1970), then
 *   report:  "maintenance", "cpus", "mem_mb", "mem_available_mb", "cpu_util" (percent of all
 *            CPUs over the last sample; absent on a node's first report) and "vms": [{"name",
 *            "state", "vcpus", "mem_mb", "cpu_cores" (absent when unknown)}]
 *   state:   "mode", "next_action", "hosts": [{"name", "state"}], "vms": [{"name", "host" (null:
 *            pending), "state" ("starting": sent to its host, not yet reported by it),
 *            "vcpus", "mem_mb", "pinned", "last_migrated" (null: never), "template" (absent
 *            when the VM was not started from one)}], "last_run": {"memory"|"compute"|"energy":
 *            time}
 *   command: "id", "target" (the node that carries it out), "action", and what the action
 *            takes: "vm" (every action on a VM), "template" (start, disk_create, disk_reset),
 *            "to" (migrate), "host" (power_on, power_off). Actions on a VM host: start (defines
 *            the VM from its template when missing), stop (ACPI, then destroy), kill (destroy at
 *            once), delete (destroy and undefine), migrate; on the storage node: disk_create,
 *            disk_reset, disk_delete; on any node: maintenance_on, maintenance_off (its own),
 *            power_off (its own, after its VMs are gone); on the leader: power_on.
 *   result:  "id", "ok", "error" (only when not ok), "answer" (optional: the leader's answer
 *            to a request, a JSON object)
 *   request: "id", "target" (the leader it is for), "request" (an admin request, a JSON object
 *            with its "command": what a node's admin socket received and forwards to the
 *            leader; the leader answers with a result of the same id)
 * Node and VM names follow the manifest's node-name rule (lowercase letters, digits, '-', at
 * most 63): VM names become libvirt domain, LV and directory names and guests' host names.
 * JSON rather than a packed struct: peers of different versions can say what they disagree
 * on, and json-c is already our parser; CPG frames and orders messages, the header versions
 * them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "macro.h"
#include "scheduler.h"

#define LF_MSG_MAGIC "LFCM"
#define LF_MSG_VERSION 1
#define LF_MSG_HEADER_SIZE 12
#define LF_MSG_MAX_PAYLOAD (1024u * 1024)
#define LF_MSG_MAX_REPORT_VMS 1024 /* VMs one host reports */
#define LF_MSG_MAX_STATE_VMS 4096  /* VMs in the cluster */
#define LF_MSG_MAX_HOSTS 1024      /* LF_MANIFEST_MAX_NODES */
#define LF_MSG_NAME_SIZE 64        /* 63 bytes and the NUL */
#define LF_MSG_TEXT_SIZE 512       /* next_action, error: 511 bytes and the NUL */

typedef enum lf_msg_type {
        LF_MSG_REPORT = 1,
        LF_MSG_STATE = 2,
        LF_MSG_COMMAND = 3,
        LF_MSG_RESULT = 4,
        LF_MSG_REQUEST = 5,
        _LF_MSG_TYPE_MAX,
} lf_msg_type;

typedef enum lf_vm_state {
        LF_VM_PENDING, /* wanted, not yet placed (only in the leader's state) */
        LF_VM_RUNNING,
        LF_VM_PAUSED,
        LF_VM_STOPPED,
        LF_VM_MIGRATING,
        LF_VM_CRASHED,
        LF_VM_STARTING, /* sent to its host, not yet reported by it (only in the leader's state) */
        _LF_VM_STATE_MAX,
} lf_vm_state;

typedef enum lf_msg_action {
        LF_ACTION_START,
        LF_ACTION_STOP,
        LF_ACTION_MIGRATE,
        LF_ACTION_POWER_ON,
        LF_ACTION_POWER_OFF,
        LF_ACTION_KILL,
        LF_ACTION_DELETE,
        LF_ACTION_DISK_CREATE,
        LF_ACTION_DISK_RESET,
        LF_ACTION_DISK_DELETE,
        LF_ACTION_MAINTENANCE_ON,
        LF_ACTION_MAINTENANCE_OFF,
        _LF_ACTION_MAX,
} lf_msg_action;

typedef struct lf_msg_vm {
        char name[LF_MSG_NAME_SIZE];
        char host[LF_MSG_NAME_SIZE]; /* state: "" when pending; report: unused */
        lf_vm_state state;
        int64_t vcpus, mem_mb;
        double cpu_cores;      /* report: cores used over the last sample, -1 when unknown */
        bool pinned;           /* state only */
        int64_t last_migrated; /* state only; LF_TIME_NONE when never */
        char template[LF_MSG_NAME_SIZE]; /* what labforge made it from; "" when none */
} lf_msg_vm;

typedef struct lf_msg_host {
        char name[LF_MSG_NAME_SIZE];
        lf_host_state state;
} lf_msg_host;

typedef struct lf_msg_report {
        bool maintenance;
        int64_t cpus, mem_mb, mem_available_mb;
        double cpu_util; /* -1 when unknown (a node's first report) */
        lf_msg_vm *vms;
        size_t n_vms;
} lf_msg_report;

typedef struct lf_msg_state {
        lf_sched_mode mode; /* what the cluster balances for now: memory, compute or energy */
        char next_action[LF_MSG_TEXT_SIZE];
        lf_msg_host *hosts;
        size_t n_hosts;
        lf_msg_vm *vms;
        size_t n_vms;
        int64_t last_run[_LF_SCHED_MODE_MAX]; /* LF_TIME_NONE when never */
} lf_msg_state;

typedef struct lf_msg_command {
        uint64_t id;
        char target[LF_MSG_NAME_SIZE];
        lf_msg_action action;
        char vm[LF_MSG_NAME_SIZE];   /* start, stop, migrate */
        char to[LF_MSG_NAME_SIZE];   /* migrate: destination host */
        char host[LF_MSG_NAME_SIZE]; /* power_on, power_off: the host powered */
        char template[LF_MSG_NAME_SIZE]; /* start, disk_create, disk_reset */
} lf_msg_command;

typedef struct lf_msg_result {
        uint64_t id;
        bool ok;
        char error[LF_MSG_TEXT_SIZE];
        char *answer; /* JSON object text, or NULL */
} lf_msg_result;

typedef struct lf_msg_request {
        uint64_t id;
        char target[LF_MSG_NAME_SIZE];
        char *request; /* JSON object text with a "command" string */
} lf_msg_request;

typedef struct lf_msg {
        lf_msg_type type;
        char node[LF_MSG_NAME_SIZE];
        uint64_t seq;
        int64_t time;
        union {
                lf_msg_report report;
                lf_msg_state state;
                lf_msg_command command;
                lf_msg_result result;
                lf_msg_request request;
        };
} lf_msg;

const char *lf_msg_type_to_string(lf_msg_type t);
const char *lf_vm_state_to_string(lf_vm_state s);
int lf_vm_state_from_string(const char *s, lf_vm_state *ret);
const char *lf_msg_action_to_string(lf_msg_action a);
int lf_msg_action_from_string(const char *s, lf_msg_action *ret);

/* A message of the type with empty lists, unknown cpu figures and no last runs; NULL on OOM. */
lf_msg *lf_msg_new(lf_msg_type type);
void lf_msg_free(lf_msg *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_msg *, lf_msg_free);
#define _cleanup_msg_ _cleanup_(lf_msg_freep)

/* Which fields an action takes (the decoder refuses a command with others or without these). */
typedef struct lf_action_fields {
        bool vm, template, to, host;
} lf_action_fields;
lf_action_fields lf_msg_action_fields(lf_msg_action a);

/* Appends to a report's or a state's VM list, or a state's hosts; -E2BIG past the limits,
 * -EINVAL for the wrong message type. */
int lf_msg_add_vm(lf_msg *m, const lf_msg_vm *vm);
int lf_msg_add_host(lf_msg *m, const lf_msg_host *h);

/* The message on the wire. It is checked as peers will check it (the decoder runs on the
 * result): what they would refuse is not sent but reported to diag (-EINVAL). */
int lf_msg_encode(const lf_msg *m, lf_diag *diag, char **ret_buf, size_t *ret_len);
/* Decodes what a peer sent. `from` names the sender in messages ("CPG message from nodeid
 * 3"). Every problem goes to diag ("CPG message from nodeid 3: vms[2].mem_mb: must not be
 * negative") and gives -EINVAL (-E2BIG when oversized); *ret is then untouched. */
int lf_msg_decode(const void *buf, size_t len, const char *from, lf_diag *diag, lf_msg **ret);

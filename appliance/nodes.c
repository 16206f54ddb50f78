/* labforge nodes | assign | rebuild | logs | forget: the admin's view of the PCs the running
 * appliance knows, and what can be done to them. Each verb is one request on the admin socket
 * (admin.h); the appliance decides and checks, these print. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "json.h"
#include "log.h"
#include "verbs.h"

typedef struct verb_info {
        const char *name;
        const char *args; /* positional arguments in the usage line */
        size_t n_args;
        const char *help;
} verb_info;

static const verb_info info_nodes = {
        "nodes", "[--format table|json]", 0,
        "Lists every PC the appliance knows: name, MAC, role, state (discovered, ready,\n"
        "installing, deployed, failed), install progress and the last event, which for a\n"
        "failed node says at which step and why.\n"};
static const verb_info info_assign = {
        "assign", "MAC ROLE NAME", 3,
        "Assigns a PC that is not in the manifest (usually one that was discovered) the role\n"
        "ROLE (storage, kvm, login, or combined like login+storage) and the node name NAME;\n"
        "its next PXE boot installs it.\n"};
static const verb_info info_rebuild = {
        "rebuild", "NAME", 1,
        "Marks a deployed or failed node for reinstallation with the same identity (name,\n"
        "role, node id, addresses); its next PXE boot reinstalls it from its image.\n"};
static const verb_info info_logs = {
        "logs", "NAME|MAC", 1,
        "Prints a node's events and, when its install failed, the failing step, the reason\n"
        "and the last lines of the installer's log.\n"};
static const verb_info info_forget = {
        "forget", "MAC", 1,
        "Makes the appliance forget a PC that is not in the manifest and not installing; its\n"
        "next PXE boot is a discovery again.\n"};

static void usage(const verb_info *v, FILE *f) {
        fprintf(f, "usage: labforge %s %s [--state-dir DIR]\n\n%s", v->name, v->args, v->help);
        fprintf(f, "Talks to the appliance running with DIR (default $LABFORGE_STATE_DIR or\n"
                   "/var/lib/labforge). Exit status 2 when the request is refused (nothing\n"
                   "changes), 1 when no appliance runs or it fails.\n");
}

/* Parses --state-dir (and --format for nodes) and the positional arguments. Returns -1 to go
 * on, else the exit status. */
static int parse(const verb_info *v, int argc, char **argv, const char **state_dir,
                 const char **format) {
        static const struct option options[] = {
                {"state-dir", required_argument, NULL, 's'},
                {"format", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;

        *state_dir = lf_state_dir_default();
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        *state_dir = optarg;
                        break;
                case 'f':
                        if (!format)
                                goto bad;
                        *format = optarg;
                        break;
                case 'h':
                        usage(v, stdout);
                        return 0;
                default:
                        goto bad;
                }
        if ((size_t)(argc - optind) != v->n_args) {
                log_error("expected %s; see 'labforge %s --help'.",
                          v->n_args ? v->args : "no arguments", v->name);
                return 2;
        }
        if (format && !streq(*format, "table") && !streq(*format, "json")) {
                log_error("--format must be table or json, not '%s'.", *format);
                return 2;
        }
        return -1;
bad:
        usage(v, stderr);
        return 2;
}

/* Sends the request; prints the refusal or failure. Returns -1 with the answer, else the exit
 * status. */
static int call(const char *state_dir, json_object *req, json_object **ret) {
        _cleanup_json_ json_object *ans = NULL;
        lf_diag diag = {};
        json_object *ok, *status, *problems;
        int r;

        if (!req)
                return log_oom(), 1;
        r = lf_admin_call(state_dir, req, &diag, &ans);
        json_object_put(req);
        if (r < 0) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                if (r == -ENOMEM)
                        log_oom();
                return 1;
        }
        if (json_object_object_get_ex(ans, "ok", &ok) && json_object_get_boolean(ok)) {
                *ret = TAKE_PTR(ans);
                return -1;
        }
        if (json_object_object_get_ex(ans, "problems", &problems) &&
            json_object_array_length(problems) > 0)
                for (size_t i = 0; i < json_object_array_length(problems); i++)
                        log_error("%s",
                                  json_object_get_string(json_object_array_get_idx(problems, i)));
        else {
                json_object *e = json_object_object_get(ans, "error");
                log_error("%s", e ? json_object_get_string(e) : "the appliance refused");
        }
        status = json_object_object_get(ans, "status");
        return status && json_object_get_int(status) == 2 ? 2 : 1;
}

static json_object *with(json_object *o, const char *key, const char *value) {
        if (o && lf_json_add(o, key, json_object_new_string(value)) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static const char *field(json_object *o, const char *key, const char *none) {
        json_object *v = json_object_object_get(o, key);
        return v && !json_object_is_type(v, json_type_null) ? json_object_get_string(v) : none;
}

static int print_json(json_object *o) {
        if (lf_json_write(stdout, o) < 0 || fflush(stdout) != 0)
                return log_error_errno(-errno, "Failed to write: %m"), 1;
        return 0;
}

/* The progress column: a percentage while installing and once deployed, "-" otherwise. */
static void progress_text(json_object *n, char *buf, size_t len) {
        const char *st = field(n, "state", "");
        if (streq(st, "installing") || streq(st, "deployed"))
                snprintf(buf, len, "%s%%", field(n, "progress", "0"));
        else
                snprintf(buf, len, "-");
}

static void print_table(json_object *nodes) {
        static const char *const heads[] = {"NAME", "MAC", "ROLE", "STATE", "PROGRESS"};
        size_t w[ELEMENTSOF(heads)], n = json_object_array_length(nodes);
        char prog[16];

        for (size_t k = 0; k < ELEMENTSOF(heads); k++)
                w[k] = strlen(heads[k]);
        for (size_t i = 0; i < n; i++) {
                json_object *x = json_object_array_get_idx(nodes, i);
                const char *cols[] = {field(x, "name", "-"), field(x, "mac", ""),
                                      field(x, "role", "-"), field(x, "state", "")};
                for (size_t k = 0; k < ELEMENTSOF(cols); k++)
                        if (strlen(cols[k]) > w[k])
                                w[k] = strlen(cols[k]);
        }
        printf("%-*s  %-*s  %-*s  %-*s  %*s  LAST EVENT\n", (int)w[0], heads[0], (int)w[1],
               heads[1], (int)w[2], heads[2], (int)w[3], heads[3], (int)w[4], heads[4]);
        for (size_t i = 0; i < n; i++) {
                json_object *x = json_object_array_get_idx(nodes, i);
                progress_text(x, prog, sizeof(prog));
                printf("%-*s  %-*s  %-*s  %-*s  %*s  %s\n", (int)w[0], field(x, "name", "-"),
                       (int)w[1], field(x, "mac", ""), (int)w[2], field(x, "role", "-"), (int)w[3],
                       field(x, "state", ""), (int)w[4], prog, field(x, "last_event", ""));
        }
        if (n == 0)
                printf("(no PCs known yet: list them in the manifest, or PXE-boot them to "
                       "discover them)\n");
}

int verb_nodes(int argc, char **argv) {
        const char *state_dir, *format = "table";
        _cleanup_json_ json_object *ans = NULL;
        int r;

        r = parse(&info_nodes, argc, argv, &state_dir, &format);
        if (r >= 0)
                return r;
        r = call(state_dir, lf_admin_request("nodes"), &ans);
        if (r >= 0)
                return r;
        if (streq(format, "json")) {
                json_object_object_del(ans, "ok");
                return print_json(ans);
        }
        print_table(json_object_object_get(ans, "nodes"));
        return fflush(stdout) == 0 ? 0 : 1;
}

int verb_assign(int argc, char **argv) {
        const char *state_dir;
        _cleanup_json_ json_object *ans = NULL;
        json_object *n;
        int r;

        r = parse(&info_assign, argc, argv, &state_dir, NULL);
        if (r >= 0)
                return r;
        r = call(state_dir,
                 with(with(with(lf_admin_request("assign"), "mac", argv[optind]), "role",
                           argv[optind + 1]),
                      "name", argv[optind + 2]),
                 &ans);
        if (r >= 0)
                return r;
        n = json_object_object_get(ans, "node");
        printf("%s (%s) assigned as %s, node id %s: its next PXE boot installs it\n",
               field(n, "name", "?"), field(n, "mac", "?"), field(n, "role", "?"),
               field(n, "nodeid", "?"));
        return 0;
}

int verb_rebuild(int argc, char **argv) {
        const char *state_dir;
        _cleanup_json_ json_object *ans = NULL;
        json_object *n;
        int r;

        r = parse(&info_rebuild, argc, argv, &state_dir, NULL);
        if (r >= 0)
                return r;
        r = call(state_dir, with(lf_admin_request("rebuild"), "name", argv[optind]), &ans);
        if (r >= 0)
                return r;
        n = json_object_object_get(ans, "node");
        printf("%s (%s) will be reinstalled as %s, node id %s, on its next PXE boot\n",
               field(n, "name", "?"), field(n, "mac", "?"), field(n, "role", "?"),
               field(n, "nodeid", "?"));
        return 0;
}

int verb_logs(int argc, char **argv) {
        const char *state_dir;
        _cleanup_json_ json_object *ans = NULL;
        json_object *n, *events, *failure;
        int r;

        r = parse(&info_logs, argc, argv, &state_dir, NULL);
        if (r >= 0)
                return r;
        r = call(state_dir, with(lf_admin_request("logs"), "name", argv[optind]), &ans);
        if (r >= 0)
                return r;
        n = json_object_object_get(ans, "node");
        printf("%s (%s): %s, role %s, node id %s\n", field(n, "name", "-"), field(n, "mac", ""),
               field(n, "state", ""), field(n, "role", "-"), field(n, "nodeid", "-"));
        events = json_object_object_get(ans, "events");
        for (size_t i = 0; events && i < json_object_array_length(events); i++) {
                json_object *e = json_object_array_get_idx(events, i);
                printf("%s  %-10s  %s\n", field(e, "time", ""), field(e, "kind", ""),
                       field(e, "message", ""));
        }
        failure = json_object_object_get(ans, "failure");
        if (failure && !json_object_is_type(failure, json_type_null)) {
                const char *log = field(failure, "log", "");
                printf("\nfailed at: %s\nreason: %s\n", field(failure, "step", ""),
                       field(failure, "reason", ""));
                if (*log)
                        printf("last lines of the installer's log:\n%s%s", log,
                               log[strlen(log) - 1] == '\n' ? "" : "\n");
        }
        return fflush(stdout) == 0 ? 0 : 1;
}

int verb_forget(int argc, char **argv) {
        const char *state_dir;
        _cleanup_json_ json_object *ans = NULL;
        int r;

        r = parse(&info_forget, argc, argv, &state_dir, NULL);
        if (r >= 0)
                return r;
        r = call(state_dir, with(lf_admin_request("forget"), "mac", argv[optind]), &ans);
        if (r >= 0)
                return r;
        printf("%s forgotten: its next PXE boot is a discovery\n", argv[optind]);
        return 0;
}

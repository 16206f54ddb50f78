/* labforge vm | host | balance: requests to the cluster's leader through a labforged (see
 * cluster.h), and the call they share with labforge status. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "cluster.h"
#include "json.h"
#include "log.h"
#include "scheduler.h"
#include "verbs.h"

int lf_labforged_call(const char *state_dir, json_object *req, json_object **ret) {
        _cleanup_json_ json_object *ans = NULL;
        json_object *ok = NULL, *st = NULL, *err = NULL;
        lf_diag diag = {};
        int r = lf_admin_call(state_dir, req, &diag, &ans);

        if (r == -ENOTCONN) {
                /* admin.h's message names the appliance; here it is labforged that is missing. */
                lf_diag_clear(&diag);
                log_error("no labforged answers on %s/" LF_ADMIN_SOCKET "; start it (labforged "
                          "--state-dir %s), or name its state directory with --state-dir.",
                          state_dir, state_dir);
                return 1;
        }
        if (r < 0) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                return 1;
        }
        if (!json_object_object_get_ex(ans, "ok", &ok) || !json_object_get_boolean(ok)) {
                json_object_object_get_ex(ans, "status", &st);
                json_object_object_get_ex(ans, "error", &err);
                log_error("%s", err ? json_object_get_string(err) : "the daemon refused");
                return st && json_object_get_int(st) == 2 ? 2 : 1;
        }
        *ret = TAKE_PTR(ans);
        return 0;
}

/* Options every verb here takes: --state-dir and --help (which prints usage). Returns -1 to go
 * on, or the exit status. */
typedef struct verb_opts {
        const char *state_dir;
        const char *mode;
        int64_t count;
        const char *prefix;
        bool dry_run, json;
} verb_opts;

static int parse_opts(int argc, char **argv, const char *usage, verb_opts *o) {
        static const struct option options[] = {
                {"state-dir", required_argument, NULL, 's'},
                {"count", required_argument, NULL, 'n'},
                {"prefix", required_argument, NULL, 'p'},
                {"mode", required_argument, NULL, 'm'},
                {"dry-run", no_argument, NULL, 'd'},
                {"format", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        char *end;
        int c;

        *o = (verb_opts){.state_dir = lf_state_dir_default()};
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        o->state_dir = optarg;
                        break;
                case 'n':
                        errno = 0;
                        o->count = strtoll(optarg, &end, 10);
                        if (errno || *end || end == optarg || o->count < 1) {
                                log_error("--count must be a positive number, not '%s'.", optarg);
                                return 2;
                        }
                        break;
                case 'p':
                        o->prefix = optarg;
                        break;
                case 'm':
                        o->mode = optarg;
                        break;
                case 'd':
                        o->dry_run = true;
                        break;
                case 'f':
                        if (!streq(optarg, "json") && !streq(optarg, "text")) {
                                log_error("--format must be json or text, not '%s'.", optarg);
                                return 2;
                        }
                        o->json = streq(optarg, "json");
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fputs(usage, stderr);
                        return 2;
                }
        return -1;
}

/* Sends the request and prints the answer's message (or, with --format json, the answer). */
static int call(const verb_opts *o, json_object *req) {
        _cleanup_json_ json_object *ans = NULL;
        json_object *msg = NULL;
        int r;

        if (!req)
                return log_oom(), 1;
        if ((r = lf_labforged_call(o->state_dir, req, &ans)) != 0)
                return r;
        if (o->json)
                return lf_json_write(stdout, ans) < 0 ? 1 : 0;
        if (json_object_object_get_ex(ans, "message", &msg))
                printf("%s\n", json_object_get_string(msg));
        return 0;
}

static const char vm_usage[] =
        "usage: labforge vm start TEMPLATE [--count N] [--prefix PREFIX] [OPTIONS]\n"
        "       labforge vm stop|reset|delete NAME [OPTIONS]\n\n"
        "Asks the cluster's leader, through the labforged of --state-dir DIR (default\n"
        "$LABFORGE_STATE_DIR or /var/lib/labforge), to start N VMs (default 1) of a\n"
        "manifest template, named PREFIX01, PREFIX02, ... (default prefix: the template's\n"
        "name; numbers in use are skipped) and placed and staggered as the scheduler\n"
        "decides; to stop a VM (shutdown, then power off after a while); to reset it to\n"
        "its template's golden image (its disk snapshot is recreated, in seconds); or to\n"
        "delete it with its disk. 'labforge status' shows the outcome.\n"
        "Options: --state-dir DIR, --format json|text.\n";

int verb_vm(int argc, char **argv) {
        _cleanup_json_ json_object *req = NULL;
        const char *action;
        verb_opts o;
        int r = parse_opts(argc, argv, vm_usage, &o);

        if (r >= 0)
                return r;
        if (optind + 2 != argc) {
                log_error("%s; see 'labforge vm --help'.",
                          optind >= argc ? "name an action: start, stop, reset or delete"
                                         : "give the action one name");
                return 2;
        }
        action = argv[optind];
        if (streq(action, "start")) {
                req = lf_admin_request("vm_start");
                if (req &&
                    (lf_json_add(req, "template", json_object_new_string(argv[optind + 1])) < 0 ||
                     (o.count && lf_json_add(req, "count", json_object_new_int64(o.count)) < 0) ||
                     (o.prefix &&
                      lf_json_add(req, "prefix", json_object_new_string(o.prefix)) < 0)))
                        return log_oom(), 1;
                return call(&o, req);
        }
        if (!streq(action, "stop") && !streq(action, "reset") && !streq(action, "delete")) {
                log_error("unknown action '%s'; use start, stop, reset or delete.", action);
                return 2;
        }
        if (o.count || o.prefix) {
                log_error("--count and --prefix go with 'vm start' only.");
                return 2;
        }
        char command[16];
        snprintf(command, sizeof(command), "vm_%s", action);
        req = lf_admin_request(command);
        if (req && lf_json_add(req, "vm", json_object_new_string(argv[optind + 1])) < 0)
                return log_oom(), 1;
        return call(&o, req);
}

static const char host_usage[] =
        "usage: labforge host maintenance NAME on|off [--state-dir DIR] [--format json|text]\n\n"
        "Puts a VM host into maintenance (its VMs move to the other hosts and it gets no\n"
        "new ones) or takes it out again, through the cluster's leader.\n";

int verb_host(int argc, char **argv) {
        _cleanup_json_ json_object *req = NULL;
        verb_opts o;
        int r = parse_opts(argc, argv, host_usage, &o);

        if (r >= 0)
                return r;
        if (optind + 3 != argc || !streq(argv[optind], "maintenance") ||
            (!streq(argv[optind + 2], "on") && !streq(argv[optind + 2], "off"))) {
                log_error("expected 'maintenance NAME on|off'; see 'labforge host --help'.");
                return 2;
        }
        req = lf_admin_request("host_maintenance");
        if (req &&
            (lf_json_add(req, "host", json_object_new_string(argv[optind + 1])) < 0 ||
             lf_json_add(req, "on", json_object_new_boolean(streq(argv[optind + 2], "on"))) < 0))
                return log_oom(), 1;
        return call(&o, req);
}

static const char balance_usage[] =
        "usage: labforge balance now [--mode place|memory|compute|energy|auto] [--dry-run]\n"
        "                            [--state-dir DIR] [--format json|text]\n\n"
        "Runs the scheduler at once on the cluster's leader, in MODE (default auto: what\n"
        "the policy's timetable says now), without waiting for the mode's interval, and\n"
        "carries the plan out; --dry-run only prints it.\n";

int verb_balance(int argc, char **argv) {
        _cleanup_json_ json_object *req = NULL, *ans = NULL;
        json_object *plan = NULL, *explain = NULL, *msg = NULL;
        lf_sched_mode mode;
        verb_opts o;
        int r = parse_opts(argc, argv, balance_usage, &o);

        if (r >= 0)
                return r;
        if (optind + 1 != argc || !streq(argv[optind], "now")) {
                log_error("expected 'balance now'; see 'labforge balance --help'.");
                return 2;
        }
        if (o.count || o.prefix) {
                log_error("--count and --prefix go with 'vm start' only.");
                return 2;
        }
        if (o.mode && lf_sched_mode_from_string(o.mode, &mode) < 0) {
                log_error("--mode must be place, memory, compute, energy or auto, not '%s'.",
                          o.mode);
                return 2;
        }
        req = lf_admin_request("balance");
        if (!req || (o.mode && lf_json_add(req, "mode", json_object_new_string(o.mode)) < 0) ||
            lf_json_add(req, "dry_run", json_object_new_boolean(o.dry_run)) < 0)
                return log_oom(), 1;
        if ((r = lf_labforged_call(o.state_dir, req, &ans)) != 0)
                return r;
        if (o.json)
                return lf_json_write(stdout, ans) < 0 ? 1 : 0;
        json_object_object_get_ex(ans, "message", &msg);
        json_object_object_get_ex(ans, "plan", &plan);
        json_object_object_get_ex(plan, "explain", &explain);
        printf("%s\n", msg ? json_object_get_string(msg) : "planned");
        for (size_t i = 0; explain && i < json_object_array_length(explain); i++)
                printf("  %s\n", json_object_get_string(json_object_array_get_idx(explain, i)));
        return 0;
}

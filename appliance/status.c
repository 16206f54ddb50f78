/* labforge status: the cluster as the labforged running with a state directory sees it (DESIGN
 * §7): quorum, leader, hosts, VMs, the balancing mode and the next action. One "status"
 * request on that daemon's admin socket (the protocol of admin.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "cluster.h"
#include "json.h"
#include "log.h"
#include "verbs.h"

static void status_usage(FILE *f) {
        fprintf(f, "usage: labforge status [--state-dir DIR] [--format json|text]\n\n"
                   "Asks the labforged running with DIR (default $LABFORGE_STATE_DIR or\n"
                   "/var/lib/labforge) how the cluster stands: whether its partition is\n"
                   "quorate, the leader, each host's role, state and VM count, each VM's host\n"
                   "and state, the balancing mode and the next action. A node without quorum\n"
                   "shows what it last knew. Exit status 1 when no labforged answers.\n");
}

static const char *str(json_object *o, const char *key, const char *none) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return none;
        return json_object_get_string(v);
}

static void print_text(json_object *s) {
        json_object *hosts = json_object_object_get(s, "hosts"),
                    *vms = json_object_object_get(s, "vms");
        bool quorate = json_object_get_boolean(json_object_object_get(s, "quorate"));
        size_t nh = json_object_array_length(hosts), nv = json_object_array_length(vms);

        if (quorate)
                printf("node %s: quorate, leader %s\n", str(s, "node", "?"),
                       str(s, "leader", "none"));
        else
                printf("node %s: NOT quorate, no leader; what follows is what it last knew\n",
                       str(s, "node", "?"));
        printf("mode: %s; next action: %s\n\n", str(s, "mode", "unknown"),
               str(s, "next_action", "none"));
        printf("%-16s %-16s %-12s %s\n", "HOST", "ROLE", "STATE", "VMS");
        for (size_t i = 0; i < nh; i++) {
                json_object *h = json_object_array_get_idx(hosts, i);
                printf("%-16s %-16s %-12s %s\n", str(h, "name", "?"), str(h, "role", "?"),
                       str(h, "state", "?"), str(h, "vms", "0"));
        }
        printf("\n%-16s %-16s %s\n", "VM", "HOST", "STATE");
        for (size_t i = 0; i < nv; i++) {
                json_object *v = json_object_array_get_idx(vms, i);
                printf("%-16s %-16s %s\n", str(v, "name", "?"), str(v, "host", "-"),
                       str(v, "state", "?"));
        }
        if (nv == 0)
                printf("(no VMs)\n");
}

int verb_status(int argc, char **argv) {
        static const struct option options[] = {
                {"state-dir", required_argument, NULL, 's'},
                {"format", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *state_dir = lf_state_dir_default(), *format = "text";
        _cleanup_json_ json_object *req = json_object_new_object(), *ans = NULL;
        json_object *s = NULL;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        state_dir = optarg;
                        break;
                case 'f':
                        format = optarg;
                        break;
                case 'h':
                        status_usage(stdout);
                        return 0;
                default:
                        status_usage(stderr);
                        return 2;
                }
        if (optind < argc) {
                log_error("unexpected argument '%s'; see 'labforge status --help'.", argv[optind]);
                return 2;
        }
        if (!streq(format, "json") && !streq(format, "text")) {
                log_error("--format must be json or text, not '%s'.", format);
                return 2;
        }

        if (!req || lf_json_add(req, "command", json_object_new_string("status")) < 0)
                return log_oom(), 1;
        if ((r = lf_labforged_call(state_dir, req, &ans)) != 0)
                return r;
        if (!json_object_object_get_ex(ans, "status", &s) ||
            !json_object_is_type(s, json_type_object) ||
            !json_object_is_type(json_object_object_get(s, "hosts"), json_type_array) ||
            !json_object_is_type(json_object_object_get(s, "vms"), json_type_array)) {
                log_error("the daemon at %s answered without a status; is it a labforged of "
                          "another version?",
                          state_dir);
                return 1;
        }
        if (streq(format, "json")) {
                if (lf_json_write(stdout, s) < 0)
                        return log_error_errno(-errno, "Failed to write: %m"), 1;
        } else
                print_text(s);
        return fflush(stdout) == 0 ? 0 : 1;
}

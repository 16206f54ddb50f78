/* labforge schedule: what the cluster scheduler would do with a snapshot (DESIGN §5.4, §6):
 * placements, migrations and power actions, with --explain saying why. A dry run: nothing
 * is carried out. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "scheduler.h"
#include "verbs.h"

static void schedule_usage(FILE *f) {
        fprintf(f, "usage: labforge schedule --snapshot SNAP.json\n"
                   "                         [--mode auto|memory|compute|energy|place]\n"
                   "                         [--explain] [--format json|text]\n\n"
                   "Prints the plan the scheduler makes for the cluster in SNAP.json ('-' reads\n"
                   "stdin): VMs placed (with staggered starts), VMs migrated and why, hosts\n"
                   "powered on or off, VMs that could not be placed. --mode defaults to auto\n"
                   "(class hours: balance; otherwise: save energy). --explain adds one line per\n"
                   "decision. Nothing is carried out. Exit status 2 when the snapshot is wrong\n"
                   "(every problem is printed, naming the field).\n");
}

int verb_schedule(int argc, char **argv) {
        static const struct option options[] = {
                {"snapshot", required_argument, NULL, 's'},
                {"mode", required_argument, NULL, 'm'},
                {"explain", no_argument, NULL, 'e'},
                {"format", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *snapshot = NULL, *format = "json";
        lf_sched_mode mode = LF_SCHED_AUTO;
        bool explain = false;
        _cleanup_snapshot_ lf_snapshot *s = NULL;
        _cleanup_plan_sched_ lf_plan_sched *p = NULL;
        _cleanup_free_ char *out = NULL;
        lf_diag diag = {};
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        snapshot = optarg;
                        break;
                case 'm':
                        if (lf_sched_mode_from_string(optarg, &mode) < 0) {
                                log_error("--mode must be auto, memory, compute, energy or "
                                          "place, not '%s'.",
                                          optarg);
                                return 2;
                        }
                        break;
                case 'e':
                        explain = true;
                        break;
                case 'f':
                        format = optarg;
                        break;
                case 'h':
                        schedule_usage(stdout);
                        return 0;
                default:
                        schedule_usage(stderr);
                        return 2;
                }
        if (optind < argc) {
                log_error("unexpected argument '%s'; see 'labforge schedule --help'.",
                          argv[optind]);
                return 2;
        }
        if (!snapshot) {
                log_error("--snapshot is required; see 'labforge schedule --help'.");
                return 2;
        }
        if (!streq(format, "json") && !streq(format, "text")) {
                log_error("--format must be json or text, not '%s'.", format);
                return 2;
        }

        r = lf_snapshot_load(snapshot, &diag, &s);
        if (r == -ENOMEM)
                return log_oom(), 1;
        if (r < 0) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                return 2;
        }
        r = lf_schedule(s, mode, &p);
        if (r < 0)
                return log_error_errno(r, "Failed to plan: %m"), 1;

        if (streq(format, "text"))
                out = lf_sched_plan_to_text(p, s, explain);
        else {
                _cleanup_json_ json_object *j = NULL;
                if (lf_sched_plan_to_json(p, s, explain, &j) >= 0)
                        out = lf_json_to_string(j);
        }
        if (!out)
                return log_oom(), 1;
        if (fputs(out, stdout) < 0 || fflush(stdout) != 0)
                return log_error_errno(-errno, "Failed to write the plan: %m"), 1;
        return 0;
}

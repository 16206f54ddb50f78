/* labforge simulate: replays a classroom day (TRACE) on a cluster (CLUSTER) through the
 * scheduler and, in the same run, through the plain rules as first published, and prints
 * what each did against a lower bound (lib/simulator.h has the model and the formats). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "simulator.h"
#include "verbs.h"

static void simulate_usage(FILE *f) {
        fprintf(f, "usage: labforge simulate --trace TRACE.json --cluster CLUSTER.json\n"
                   "                         [--policy POLICY.json] [--engine labforge|plain]\n"
                   "                         [--format text|json]\n\n"
                   "Replays the VM starts, stops and CPU demand of TRACE on the hosts of CLUSTER,\n"
                   "running the scheduler as the cluster would (placement every step, auto mode\n"
                   "every decision interval; migrations and boots take time), and prints\n"
                   "migrations, ping-pong moves, host-hours powered on, CPU contention,\n"
                   "utilisation spread in class hours, placement failures and boot waits.\n"
                   "Without --engine, labforge's engine and the plain published rules run side\n"
                   "by side with their ratios; both are compared with a lower bound on\n"
                   "host-hours. POLICY is a snapshot's \"policy\" object (defaults otherwise).\n"
                   "docs/simulate.md describes the files. Exit status 2 when an input is wrong\n"
                   "(every problem is printed, naming file and field).\n");
}

/* Loads the three inputs, reporting every problem of each; 0, -EINVAL or -ENOMEM. */
static int load_inputs(const char *trace, const char *cluster, const char *policy,
                       lf_sim_trace **ret_t, lf_sim_cluster **ret_c, lf_sched_policy *ret_p) {
        lf_diag diag = {};
        int r = 0, rr;

        lf_sched_policy_init(ret_p);
        rr = lf_sim_trace_load(trace, &diag, ret_t);
        r = rr < 0 ? rr : r;
        rr = lf_sim_cluster_load(cluster, &diag, ret_c);
        r = r == -ENOMEM || rr >= 0 ? r : rr;
        if (policy) {
                rr = lf_sim_policy_load(policy, &diag, ret_p);
                r = r == -ENOMEM || rr >= 0 ? r : rr;
        }
        lf_diag_print(&diag);
        lf_diag_clear(&diag);
        return r;
}

int verb_simulate(int argc, char **argv) {
        static const struct option options[] = {
                {"trace", required_argument, NULL, 't'},
                {"cluster", required_argument, NULL, 'c'},
                {"policy", required_argument, NULL, 'p'},
                {"engine", required_argument, NULL, 'e'},
                {"format", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *trace = NULL, *cluster = NULL, *policy = NULL, *format = "text";
        _cleanup_(lf_sim_trace_freep) lf_sim_trace *t = NULL;
        _cleanup_(lf_sim_cluster_freep) lf_sim_cluster *c = NULL;
        _cleanup_free_ char *out = NULL;
        lf_sched_policy p;
        lf_sim_report rep = {};
        lf_sim_engine only;
        bool one = false;
        int ch, r;

        optind = 0;
        while ((ch = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (ch) {
                case 't':
                        trace = optarg;
                        break;
                case 'c':
                        cluster = optarg;
                        break;
                case 'p':
                        policy = optarg;
                        break;
                case 'e':
                        if (lf_sim_engine_from_string(optarg, &only) < 0) {
                                log_error("--engine must be labforge or plain, not '%s'.", optarg);
                                return 2;
                        }
                        one = true;
                        break;
                case 'f':
                        format = optarg;
                        break;
                case 'h':
                        simulate_usage(stdout);
                        return 0;
                default:
                        simulate_usage(stderr);
                        return 2;
                }
        if (optind < argc) {
                log_error("unexpected argument '%s'; see 'labforge simulate --help'.",
                          argv[optind]);
                return 2;
        }
        if (!trace || !cluster) {
                log_error("--trace and --cluster are required; see 'labforge simulate --help'.");
                return 2;
        }
        if (!streq(format, "json") && !streq(format, "text")) {
                log_error("--format must be text or json, not '%s'.", format);
                return 2;
        }

        r = load_inputs(trace, cluster, policy, &t, &c, &p);
        if (r == -ENOMEM)
                return log_oom(), 1;
        if (r < 0)
                return 2;
        for (int e = 0; e < _LF_SIM_ENGINE_MAX; e++) {
                if (one && e != (int)only)
                        continue;
                r = lf_simulate(c, t, &p, e, &rep.m[e]);
                if (r < 0)
                        return log_error_errno(r, "Failed to simulate the %s engine: %m",
                                               lf_sim_engine_to_string(e)),
                               1;
                rep.ran[e] = true;
        }
        r = lf_sim_lower_bound(c, t, &rep.bound);
        if (r < 0)
                return log_oom(), 1;

        if (streq(format, "text"))
                out = lf_sim_report_to_text(&rep);
        else {
                _cleanup_json_ json_object *j = NULL;
                if (lf_sim_report_to_json(&rep, &j) >= 0)
                        out = lf_json_to_string(j);
        }
        if (!out)
                return log_oom(), 1;
        if (fputs(out, stdout) < 0 || fflush(stdout) != 0)
                return log_error_errno(-errno, "Failed to write the report: %m"), 1;
        return 0;
}

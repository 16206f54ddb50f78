/* The shipped classroom days (tests/fixtures/simulate/) through labforge's engine, the plain
 * published rules and the lower bound, with the ratios and how long each simulation took.
 * Prints figures only. Arguments: trace names (school busy small by default). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "simulator.h"

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench(const char *top, const char *name) {
        _cleanup_(lf_sim_trace_freep) lf_sim_trace *t = NULL;
        _cleanup_(lf_sim_cluster_freep) lf_sim_cluster *c = NULL;
        _cleanup_free_ char *tp = NULL, *cp = NULL, *text = NULL;
        lf_sim_report rep = {};
        lf_sched_policy p;
        lf_diag d = {};
        double secs[_LF_SIM_ENGINE_MAX];

        if (asprintf(&tp, "%s/tests/fixtures/simulate/%s.trace.json", top, name) < 0 ||
            asprintf(&cp, "%s/tests/fixtures/simulate/%s.cluster.json", top, name) < 0)
                return -ENOMEM;
        if (lf_sim_trace_load(tp, &d, &t) < 0 || lf_sim_cluster_load(cp, &d, &c) < 0) {
                lf_diag_print(&d);
                lf_diag_clear(&d);
                return -EINVAL;
        }
        lf_sched_policy_init(&p);
        for (int e = 0; e < _LF_SIM_ENGINE_MAX; e++) {
                double t0 = now_s();
                if (lf_simulate(c, t, &p, e, &rep.m[e]) < 0)
                        return -EIO;
                secs[e] = now_s() - t0;
                rep.ran[e] = true;
        }
        if (lf_sim_lower_bound(c, t, &rep.bound) < 0 || !(text = lf_sim_report_to_text(&rep)))
                return -ENOMEM;
        printf("== %s: %zu VMs, %zu hosts, %lld s in %lld s steps; simulated in %.2f s "
               "(labforge) and %.2f s (plain)\n%s\n",
               name, t->n_vms, c->n_hosts, (long long)t->duration_s, (long long)t->step_s,
               secs[LF_SIM_LABFORGE], secs[LF_SIM_PLAIN], text);
        return 0;
}

int main(int argc, char **argv) {
        static const char *const defaults[] = {"school", "busy", "small"};
        const char *top = getenv("LF_TOP") ? getenv("LF_TOP") : ".";
        int n = argc > 1 ? argc - 1 : 3, failed = 0;

        for (int i = 0; i < n; i++) {
                const char *name = argc > 1 ? argv[i + 1] : defaults[i];
                if (bench(top, name) < 0) {
                        fprintf(stderr, "bench-simulate: %s failed\n", name);
                        failed = 1;
                }
        }
        return failed;
}

/* libFuzzer target for the simulator's readers and the simulation behind them. The input is
 * {"trace": TRACE, "cluster": CLUSTER, "policy": POLICY}: each part is either rejected with
 * diagnostics, or, when all are read, small days are simulated with both engines without
 * error (the engine never moves a VM the simulator pinned), twice with the same figures, and
 * the figures add up. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "simulator.h"

/* Keeps each input fast: days of at most this many step x (VM + host) visits are simulated. */
#define MAX_WORK 200000

static void check(const lf_sim_metrics *m, const lf_sim_trace *t) {
        if (m->migrations < 0 || m->ping_pong < 0 || m->ping_pong > m->migrations ||
            m->vms_started < 0 || m->never_started < 0 ||
            (size_t)(m->vms_started + m->never_started) > t->n_vms ||
            (size_t)m->placement_failures > t->n_vms || m->host_hours < 0 ||
            m->contention_vm_min < 0 || m->unserved_core_min < -1e-6 || m->spread_max < 0 ||
            m->spread_max > 100 + 1e-6 || m->spread_mean > m->spread_max + 1e-6 ||
            m->boot_wait_max_s < 0 || isnan(m->energy_kwh))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        lf_diag d = {};
        lf_json_ctx ctx = {&d, "fuzz.json"};
        _cleanup_json_ json_object *o = NULL;
        _cleanup_(lf_sim_trace_freep) lf_sim_trace *t = NULL;
        _cleanup_(lf_sim_cluster_freep) lf_sim_cluster *c = NULL;
        json_object *jt = NULL, *jc = NULL, *jp = NULL;
        lf_sched_policy p;
        int r = 0;

        lf_sched_policy_init(&p);
        if (lf_json_parse(&ctx, (const char *)data, size, &o) < 0 ||
            lf_json_expect_object(&ctx, o, "") < 0) {
                lf_diag_clear(&d);
                return 0;
        }
        json_object_object_get_ex(o, "trace", &jt);
        json_object_object_get_ex(o, "cluster", &jc);
        json_object_object_get_ex(o, "policy", &jp);
        if (jt && (r = lf_sim_trace_from_json(jt, "t.json", &d, &t)) < 0 && d.n == 0)
                abort(); /* a rejected input always says why */
        if (jc && (r = lf_sim_cluster_from_json(jc, "c.json", &d, &c)) < 0 && d.n == 0)
                abort();
        if (jp && (r = lf_sched_policy_from_json(jp, "p.json", &d, &p)) < 0 && d.n == 0)
                abort();
        lf_diag_clear(&d);
        if (!t || !c || (jp && r < 0))
                return 0;
        if ((double)(t->duration_s / t->step_s) * (double)(t->n_vms + c->n_hosts) > MAX_WORK)
                return 0;
        for (int e = 0; e < _LF_SIM_ENGINE_MAX; e++) {
                lf_sim_metrics a, b;
                if (lf_simulate(c, t, &p, e, &a) < 0 || lf_simulate(c, t, &p, e, &b) < 0 ||
                    memcmp(&a, &b, sizeof(a)) != 0)
                        abort();
                check(&a, t);
        }
        return 0;
}

/* libFuzzer target for the snapshot reader and the scheduler behind it: any input is either
 * rejected with diagnostics, or read into a snapshot that passes lf_snapshot_check(), writes
 * and reads back to the same JSON, and plans in every mode without error (at most one power
 * action, never waking a host that is not off or already powering on); applying a plan leaves
 * a valid snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "scheduler.h"

static char *snapshot_string(const lf_snapshot *s) {
        _cleanup_json_ json_object *o = NULL;
        if (lf_snapshot_to_json(s, &o) < 0)
                abort();
        return lf_json_to_string(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        lf_diag d = {};
        _cleanup_snapshot_ lf_snapshot *s = NULL, *again = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;
        int r;

        r = lf_snapshot_load_buffer("fuzz.json", (const char *)data, size, &d, &s);
        if (r < 0) {
                /* A rejected input always says why. */
                if (r == -EINVAL && d.n == 0)
                        abort();
                lf_diag_clear(&d);
                return 0;
        }
        if (lf_snapshot_check(s, "fuzz.json", NULL) < 0)
                abort();
        a = snapshot_string(s);
        if (!a || lf_snapshot_load_buffer("out.json", a, strlen(a), &d, &again) < 0)
                abort();
        b = snapshot_string(again);
        if (!b || strcmp(a, b) != 0)
                abort();
        for (lf_sched_mode m = 0; m < _LF_SCHED_MODE_MAX; m++) {
                _cleanup_plan_sched_ lf_plan_sched *p = NULL;
                _cleanup_json_ json_object *j = NULL;
                _cleanup_free_ char *text = NULL;
                if (lf_schedule(s, m, &p) < 0 || lf_sched_plan_to_json(p, s, true, &j) < 0)
                        abort();
                text = lf_sched_plan_to_text(p, s, true);
                if (!text || p->n_power_on + p->n_power_off > 1)
                        abort();
                /* Only a host that is off and not already booting is woken. */
                for (size_t i = 0; i < p->n_power_on; i++)
                        if (s->hosts[p->power_on[i]].state != LF_HOST_OFF ||
                            s->hosts[p->power_on[i]].powering_on)
                                abort();
                /* Carry the plan out on the copy and plan again from there. */
                if (m == LF_SCHED_AUTO) {
                        _cleanup_plan_sched_ lf_plan_sched *p2 = NULL;
                        if (lf_snapshot_apply(again, p) < 0 ||
                            lf_snapshot_check(again, "applied", NULL) < 0 ||
                            lf_schedule(again, m, &p2) < 0)
                                abort();
                }
        }
        return 0;
}

/* libFuzzer target for the plan reader (the installer reads plans back): any input is rejected
 * with diagnostics, or read into a plan whose JSON reads back to the same JSON and which has a
 * text form. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "plan.h"

static char *plan_string(const lf_plan *p) {
        _cleanup_json_ json_object *o = NULL;
        if (lf_plan_to_json(p, &o) < 0)
                abort();
        return lf_json_to_string(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        lf_diag d = {};
        _cleanup_plan_ lf_plan *p = NULL, *again = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *text = NULL;
        int r;

        r = lf_plan_load_buffer("fuzz.json", (const char *)data, size, &d, &p);
        if (r < 0) {
                if (r == -EINVAL && d.n == 0)
                        abort();
                lf_diag_clear(&d);
                return 0;
        }
        a = plan_string(p);
        if (!a || lf_plan_load_buffer("out.json", a, strlen(a), &d, &again) < 0)
                abort();
        b = plan_string(again);
        if (!b || strcmp(a, b) != 0)
                abort();
        if (lf_plan_to_text(p, &text) < 0)
                abort();
        return 0;
}

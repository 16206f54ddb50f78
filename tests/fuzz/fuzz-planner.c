/* libFuzzer target for the planner: any inventory the reader accepts gives, for every node of a
 * room with every role, bond and link shape, either a plan (whose JSON reads back the same) or
 * diagnostics saying why not; never a crash. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "planner.h"

static const char lab[] =
        "<lab name=\"fuzz\">\n"
        "  <appliance interface=\"eno1\" address=\"192.168.50.1/24\"/>\n"
        "  <network>\n"
        "    <management subnet=\"192.168.50.0/24\" gateway=\"192.168.50.1\"/>\n"
        "    <storage-links subnet=\"10.10.0.0/24\"/>\n"
        "  </network>\n"
        "  <disk-policy wipe=\"listed\"><wipe disk=\"S6PTNM0T512345K\"/></disk-policy>\n"
        "  <sysctl role=\"kvm\" name=\"vm.swappiness\" value=\"10\"/>\n"
        "  <node name=\"store1\" role=\"storage\" mac=\"52:54:00:00:01:01\"/>\n"
        "  <node name=\"kvm1\" role=\"kvm\" mac=\"52:54:00:00:02:01\">\n"
        "    <bond mode=\"active-backup\"><member mac=\"52:54:00:00:02:21\"/>"
        "<member mac=\"52:54:00:00:02:22\"/></bond>\n"
        "    <disk-policy wipe=\"all\"/>\n"
        "  </node>\n"
        "  <node name=\"kvm2\" role=\"kvm\" mac=\"52:54:00:00:02:02\"/>\n"
        "  <node name=\"hub\" role=\"login+storage\" mac=\"52:54:00:00:03:01\" "
        "address=\"192.168.50.10\"/>\n"
        "  <link a=\"store1:52:54:00:00:01:11\" b=\"kvm1:52:54:00:00:02:11\"/>\n"
        "  <link a=\"hub:52:54:00:00:03:11\" b=\"kvm1:52:54:00:00:02:12\"/>\n"
        "  <link a=\"store1:52:54:00:00:01:12\" b=\"kvm2:52:54:00:00:02:13\"/>\n"
        "</lab>\n";

static char *plan_string(const lf_plan *p) {
        _cleanup_json_ json_object *o = NULL;
        if (lf_plan_to_json(p, &o) < 0)
                abort();
        return lf_json_to_string(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static lf_manifest *m;
        _cleanup_inventory_ lf_inventory *inv = NULL;
        lf_diag d = {};

        if (!m && lf_manifest_load_buffer("fuzz.xml", lab, strlen(lab), &d, &m) < 0)
                abort(); /* the embedded lab must stay valid */
        if (lf_inventory_load_buffer("fuzz.json", (const char *)data, size, &d, &inv) < 0) {
                lf_diag_clear(&d);
                return 0;
        }
        for (size_t i = 0; i < m->n_nodes; i++) {
                _cleanup_plan_ lf_plan *p = NULL, *back = NULL;
                _cleanup_free_ char *a = NULL, *b = NULL, *text = NULL;
                int r = lf_plan_build(m, m->nodes[i].name, inv, &d, &p);
                if (r < 0) {
                        /* A refused plan always says why. */
                        if (r != -EINVAL || d.n == 0)
                                abort();
                        lf_diag_clear(&d);
                        continue;
                }
                if (d.n != 0)
                        abort();
                a = plan_string(p);
                if (!a || lf_plan_load_buffer("plan.json", a, strlen(a), &d, &back) < 0)
                        abort();
                b = plan_string(back);
                if (!b || strcmp(a, b) != 0 || lf_plan_to_text(p, &text) < 0)
                        abort();
        }
        return 0;
}

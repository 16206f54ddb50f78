/* labforge plan: print the install plan of one node from the lab manifest and that PC's
 * inventory (DESIGN §5.3), as JSON or as the text an admin reads before saying yes. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "inventory.h"
#include "json.h"
#include "log.h"
#include "manifest.h"
#include "planner.h"
#include "verbs.h"

static void plan_usage(FILE *f) {
        fprintf(f, "usage: labforge plan --manifest LAB.xml --node NAME --inventory INV.json\n"
                   "                     [--format json|text]\n\n"
                   "Prints what installing NAME on the PC described by INV.json would do: disks\n"
                   "used and erased, partitions, RAID, LVM, file systems, NFS, network, sysctl.\n"
                   "Nothing is written anywhere. Exit status 2 when the input is wrong or the\n"
                   "plan is impossible (every problem is printed as FILE:LINE: message).\n");
}

int verb_plan(int argc, char **argv) {
        static const struct option options[] = {
                {"manifest", required_argument, NULL, 'm'},
                {"node", required_argument, NULL, 'n'},
                {"inventory", required_argument, NULL, 'i'},
                {"format", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *manifest = NULL, *node = NULL, *inventory = NULL, *format = "json";
        _cleanup_manifest_ lf_manifest *m = NULL;
        _cleanup_inventory_ lf_inventory *inv = NULL;
        _cleanup_plan_ lf_plan *p = NULL;
        _cleanup_free_ char *out = NULL;
        lf_diag diag = {};
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'm':
                        manifest = optarg;
                        break;
                case 'n':
                        node = optarg;
                        break;
                case 'i':
                        inventory = optarg;
                        break;
                case 'f':
                        format = optarg;
                        break;
                case 'h':
                        plan_usage(stdout);
                        return 0;
                default:
                        plan_usage(stderr);
                        return 2;
                }
        if (optind < argc) {
                log_error("unexpected argument '%s'; see 'labforge plan --help'.", argv[optind]);
                return 2;
        }
        if (!manifest || !node || !inventory) {
                log_error("--manifest, --node and --inventory are all required; see "
                          "'labforge plan --help'.");
                return 2;
        }
        if (!streq(format, "json") && !streq(format, "text")) {
                log_error("--format must be json or text, not '%s'.", format);
                return 2;
        }

        /* Read both inputs even when the first is bad, so one run shows every problem. */
        r = lf_manifest_load(manifest, &diag, &m);
        if (r == -ENOMEM)
                return log_oom(), 1;
        r = lf_inventory_load(inventory, &diag, &inv);
        if (r == -ENOMEM)
                return log_oom(), 1;
        if (m && inv) {
                r = lf_plan_build(m, node, inv, &diag, &p);
                if (r == -ENOMEM)
                        return log_oom(), 1;
        }
        if (!p) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                return 2;
        }
        lf_diag_clear(&diag);

        if (streq(format, "text"))
                r = lf_plan_to_text(p, &out);
        else {
                _cleanup_json_ json_object *j = NULL;
                r = lf_plan_to_json(p, &j);
                if (r >= 0) {
                        out = lf_json_to_string(j);
                        r = out ? 0 : -ENOMEM;
                }
        }
        if (r < 0)
                return log_error_errno(r, "Failed to format the plan: %m"), 1;
        if (fputs(out, stdout) < 0 || fflush(stdout) != 0)
                return log_error_errno(-errno, "Failed to write the plan: %m"), 1;
        return 0;
}

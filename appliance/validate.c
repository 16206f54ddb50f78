/* labforge validate: checks a lab manifest (DESIGN §5.1) and prints a one-line summary of the
 * room, or every problem as FILE:LINE: message (exit status 2). Changes nothing. */
#include <getopt.h>
#include <stdio.h>

#include "log.h"
#include "manifest.h"
#include "verbs.h"

static void validate_usage(FILE *f) {
        fprintf(f, "usage: labforge validate LAB.xml\n\n"
                   "Checks the lab manifest LAB.xml against the lab schema and the rules a\n"
                   "schema cannot express (unique names and MACs, links between a storage node\n"
                   "and one other node, subnets that do not overlap, durations, times, ...).\n"
                   "Prints one summary line when the manifest is right; otherwise prints every\n"
                   "problem as FILE:LINE: message on stderr and exits with status 2.\n");
}

static const char *plural(size_t n, const char *one, const char *many) {
        return n == 1 ? one : many;
}

/* "4 nodes (1 storage, 2 kvm, 1 login)": a node with combined roles counts under each. */
static void print_summary(const char *path, const lf_manifest *m) {
        static const lf_role order[] = {LF_ROLE_STORAGE, LF_ROLE_KVM, LF_ROLE_LOGIN};
        const char *sep = " (";
        bool any = false;

        printf("%s: %s: %zu %s", path, m->name, m->n_nodes, plural(m->n_nodes, "node", "nodes"));
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                size_t n = 0;
                for (size_t j = 0; j < m->n_nodes; j++)
                        n += !!(m->nodes[j].roles & order[i]);
                if (n == 0)
                        continue;
                printf("%s%zu %s", sep, n, lf_role_name(order[i]));
                sep = ", ";
                any = true;
        }
        printf("%s, %zu storage %s, %zu %s: OK\n", any ? ")" : "", m->n_links,
               plural(m->n_links, "link", "links"), m->n_templates,
               plural(m->n_templates, "template", "templates"));
}

int verb_validate(int argc, char **argv) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {},
        };
        _cleanup_manifest_ lf_manifest *m = NULL;
        lf_diag diag = {};
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        validate_usage(stdout);
                        return 0;
                default:
                        validate_usage(stderr);
                        return 2;
                }
        if (argc - optind != 1) {
                log_error("expected one manifest file; see 'labforge validate --help'.");
                return 2;
        }

        r = lf_manifest_load(argv[optind], &diag, &m);
        if (r == -ENOMEM) {
                lf_diag_clear(&diag);
                log_oom();
                return 1;
        }
        if (r < 0) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                return 2;
        }
        print_summary(argv[optind], m);
        return 0;
}

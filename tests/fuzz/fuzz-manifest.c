/* libFuzzer target for the lab manifest loader: any input is either refused with messages that
 * each name the input (and, for schema problems, say what is wrong rather than passing on
 * libxml2's wording), or loaded into a manifest that keeps the promises of manifest.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

static void check_refusal(int r, const lf_diag *d) {
        if (r == -ENOMEM)
                return;
        if (r != -EINVAL || d->n == 0)
                abort();
        for (size_t i = 0; i < d->n; i++) {
                const char *msg = d->msgs[i] + strspn(d->msgs[i], "fuzz.xml:0123456789 ");
                if (!strneq(d->msgs[i], "fuzz.xml:", 9) ||
                    strneq(msg, "does not match the schema", 25))
                        abort();
        }
}

static void check_manifest(const lf_manifest *m) {
        if (m->n_nodes == 0 || !m->name)
                abort();
        for (size_t i = 0; i < m->n_nodes; i++) {
                const lf_node *n = &m->nodes[i];
                if (n->nodeid != i + 1 || !n->roles || lf_manifest_find_node(m, n->name) != n ||
                    lf_manifest_find_mac(m, n->mac) != n)
                        abort();
                if (n->disk_policy.wipe == LF_WIPE_LISTED && n->disk_policy.n_wipe_disks == 0)
                        abort();
        }
        for (size_t i = 0; i < m->n_links; i++) {
                const lf_node *a = lf_manifest_find_node(m, m->links[i].a.node);
                const lf_node *b = lf_manifest_find_node(m, m->links[i].b.node);
                if (!a || !b || !(a->roles & LF_ROLE_STORAGE) || (b->roles & LF_ROLE_STORAGE))
                        abort();
        }
        if (m->n_links > 0 &&
            (!m->has_storage_links || 2 * (uint64_t)m->n_links > lf_cidr_size(m->storage_links)))
                abort();
        if (!lf_cidr_contains(m->management, m->appliance_address.addr) ||
            m->policy.cpu_low >= m->policy.cpu_high || m->policy.boot_batch == 0)
                abort();
        for (size_t i = 0; i < m->n_templates; i++)
                if (lf_manifest_find_template(m, m->templates[i].name) != &m->templates[i])
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        lf_diag d = {};
        _cleanup_manifest_ lf_manifest *m = NULL;
        int r;

        r = lf_manifest_load_buffer("fuzz.xml", (const char *)data, size, &d, &m);
        if (r < 0)
                check_refusal(r, &d);
        else
                check_manifest(m);
        lf_diag_clear(&d);
        return 0;
}

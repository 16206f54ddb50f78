/* libFuzzer target for the parsers of tool output the executor trusts to decide what to tear
 * down (/proc/mdstat, /proc/mounts, KEY=VALUE exports, sfdisk --json, LVM reports) and for the
 * install journal: any input is refused cleanly or parsed into something that keeps the
 * promises of devstate.h, lvm.h and journal.h. The first byte picks the parser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lvm.h"
#include "../../installer/devstate.h"
#include "../../installer/journal.h"

static void refused(int r, lf_diag *d) {
        if (r != -ENOMEM && (r != -EINVAL || d->n == 0))
                abort();
}

static void mdstat(const char *s, lf_diag *d) {
        lf_mdstat *m = NULL;
        int r = lf_mdstat_parse("mdstat", s, d, &m);
        if (r < 0)
                return refused(r, d);
        for (size_t i = 0; i < m->n_arrays; i++) {
                const lf_md_array *a = &m->arrays[i];
                if (!strneq(a->name, "md", 2) || (a->level && !a->active))
                        abort();
                for (size_t j = 0; j < a->n_members; j++)
                        if (!*a->members[j] || strchr(a->members[j], '['))
                                abort();
                if (a->members && a->members[a->n_members])
                        abort();
        }
        lf_mdstat_free(m);
}

static void exports(const char *s, lf_diag *d) {
        lf_export *e = NULL;
        char **members = NULL;
        int r = lf_export_parse("export", s, d, &e);
        if (r < 0)
                return refused(r, d);
        for (size_t i = 0; i < e->n; i++)
                if (!*e->keys[i] || strchr(e->keys[i], '=') || lf_export_get(e, e->keys[i]) == NULL)
                        abort();
        if (lf_export_md_members(e, &members) == 0)
                strv_free(members);
        lf_export_free(e);
}

static void mounts(const char *s, lf_diag *d) {
        lf_mounts *m = NULL;
        int r = lf_mounts_parse("mounts", s, d, &m);
        if (r < 0)
                return refused(r, d);
        for (size_t i = 0; i < m->n; i++)
                if (!m->mounts[i].source || !m->mounts[i].target || !*m->mounts[i].type)
                        abort();
        lf_mounts_free(m);
}

static void sfdisk(const char *s, size_t len, lf_diag *d) {
        lf_part_table *t = NULL;
        int r = lf_sfdisk_parse("sfdisk", s, len, d, &t);
        if (r < 0)
                return refused(r, d);
        if (!t->label || !t->id || t->sector_size < 512)
                abort();
        lf_part_table_free(t);
}

static void lvm(const char *s, size_t len, lf_diag *d) {
        lf_lvm_report *rep = NULL;
        int r = lf_lvm_report_parse("pvs", s, len, "pv", d, &rep);
        if (r < 0)
                return refused(r, d);
        for (size_t i = 0; i < rep->n_rows; i++)
                for (size_t j = 0; j < rep->rows[i].n; j++) {
                        const char *v = lf_lvm_row_get(&rep->rows[i], rep->rows[i].fields[j]);
                        char **devs = NULL;
                        if (!v)
                                abort();
                        if (lf_lvm_devices_split(v, &devs) == 0)
                                strv_free(devs);
                }
        lf_lvm_report_free(rep);
}

static void journal(const char *s) {
        lf_journal *j = NULL, *back = NULL;
        int r = lf_journal_parse(s, &j);
        if (r == -EBADMSG || r == -ENOMEM)
                return;
        if (r < 0)
                abort();
        /* What it read, written again, reads back the same. */
        char *text = lf_journal_format(j), *again = NULL;
        if (text && lf_journal_parse(text, &back) == 0) {
                again = lf_journal_format(back);
                if (again && strcmp(text, again) != 0)
                        abort();
        }
        free(again);
        free(text);
        lf_journal_free(back);
        lf_journal_free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || size > 1 << 16)
                return 0;
        char *s = strndup((const char *)data + 1, size - 1);
        lf_diag d = {0};
        if (!s)
                return 0;
        size_t len = strlen(s);
        switch (data[0] % 6) {
        case 0:
                mdstat(s, &d);
                break;
        case 1:
                exports(s, &d);
                break;
        case 2:
                mounts(s, &d);
                break;
        case 3:
                sfdisk(s, len, &d);
                break;
        case 4:
                lvm(s, len, &d);
                break;
        default:
                journal(s);
                break;
        }
        lf_diag_clear(&d);
        free(s);
        return 0;
}

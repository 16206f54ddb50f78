/* Parsers of what the kernel and the block tools report; see devstate.h. */
#include <ctype.h>
#include <string.h>

#include "devstate.h"
#include "json.h"
#include "plan.h"

/* Calls fn for each line of buf (without its newline, writable, numbered from 1); stops at the
 * first negative return and returns it. */
static int each_line(const char *buf, int (*fn)(void *ctx, char *line, long lineno), void *ctx) {
        long lineno = 0;

        for (const char *p = buf; *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                _cleanup_free_ char *line = strndup(p, len);
                if (!line)
                        return -ENOMEM;
                int r = fn(ctx, line, ++lineno);
                if (r < 0)
                        return r;
                p += len + (nl ? 1 : 0);
        }
        return 0;
}

/* What each parser's per-line function works on. */
typedef struct parse_ctx {
        const char *name;
        lf_diag *diag;
        void *out;
        size_t n_values; /* lf_export: values added so far */
} parse_ctx;

void lf_export_free(lf_export *e) {
        if (!e)
                return;
        strv_free(e->keys);
        strv_free(e->values);
        free(e);
}

/* blkid escapes with a backslash; mdadm's print_escape does too. */
static void unescape_backslash(char *s) {
        char *w = s;
        for (char *r = s; *r; r++) {
                if (*r == '\\' && r[1])
                        r++;
                *w++ = *r;
        }
        *w = '\0';
}

static int export_line(void *ctx, char *line, long lineno) {
        parse_ctx *c = ctx;
        lf_export *e = c->out;

        if (!*line)
                return 0;
        char *eq = strchr(line, '=');
        if (!eq || eq == line)
                return lf_diag_add(c->diag, c->name, lineno, "expected KEY=VALUE, got \"%.80s\"",
                                   line);
        for (char *k = line; k < eq; k++)
                if (!isalnum((unsigned char)*k) && *k != '_')
                        return lf_diag_add(c->diag, c->name, lineno, "malformed key \"%.*s\"",
                                           (int)(eq - line), line);
        *eq = '\0';
        unescape_backslash(eq + 1);
        int r = lf_plan_strv_add(&e->keys, &e->n, line);
        if (r == -E2BIG)
                return lf_diag_add(c->diag, c->name, lineno, "more than %d lines",
                                   LF_DEVSTATE_MAX_ITEMS);
        if (r < 0 || lf_plan_strv_add(&e->values, &c->n_values, eq + 1) < 0)
                return -ENOMEM;
        return 0;
}

int lf_export_parse(const char *name, const char *buf, lf_diag *diag, lf_export **ret) {
        _cleanup_(lf_export_freep) lf_export *e = calloc(1, sizeof(*e));
        parse_ctx c = {.name = name, .diag = diag, .out = e};

        if (!e)
                return -ENOMEM;
        int r = each_line(buf, export_line, &c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

const char *lf_export_get(const lf_export *e, const char *key) {
        for (size_t i = 0; i < e->n; i++)
                if (streq(e->keys[i], key))
                        return e->values[i];
        return NULL;
}

int lf_export_md_members(const lf_export *e, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        for (size_t i = 0; i < e->n; i++) {
                size_t len = strlen(e->keys[i]);
                if (!strneq(e->keys[i], "MD_DEVICE_", 10) || len < 15 ||
                    !streq(e->keys[i] + len - 4, "_DEV"))
                        continue;
                int r = lf_plan_strv_add(&l, &n, e->values[i]);
                if (r < 0)
                        return r;
        }
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

void lf_mdstat_free(lf_mdstat *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n_arrays; i++) {
                free(m->arrays[i].name);
                free(m->arrays[i].level);
                strv_free(m->arrays[i].members);
        }
        free(m->arrays);
        free(m);
}

/* "sda4[0]", "sdc1[2](S)", "sdb1[1](F)" -> "sda4"; NULL when tok is not a member. */
static char *member_name(const char *tok) {
        const char *open = strchr(tok, '[');
        if (!open || open == tok || !strchr(open, ']'))
                return NULL;
        for (const char *d = open + 1; *d != ']'; d++)
                if (!isdigit((unsigned char)*d))
                        return NULL;
        return strndup(tok, (size_t)(open - tok));
}

/* One "mdN : active raid0 sdb1[1] sda4[0]" line (the kernel's md_seq_show). */
static int mdstat_array(const char *name, long lineno, char *line, lf_diag *diag, lf_md_array *a) {
        char *save = NULL;
        char *tok = strtok_r(line, " \t", &save);

        a->name = strdup(tok);
        if (!a->name)
                return -ENOMEM;
        tok = strtok_r(NULL, " \t", &save);
        if (!tok || !streq(tok, ":"))
                return lf_diag_add(diag, name, lineno, "%s: expected ':' after the name", a->name);
        tok = strtok_r(NULL, " \t", &save);
        if (tok && streq(tok, "active"))
                a->active = true;
        else if (!tok || !streq(tok, "inactive"))
                return lf_diag_add(diag, name, lineno, "%s: expected active or inactive", a->name);
        while ((tok = strtok_r(NULL, " \t", &save))) {
                if (tok[0] == '(') /* "(read-only)", "(auto-read-only)" */
                        continue;
                _cleanup_free_ char *m = member_name(tok);
                if (m) {
                        int r = lf_plan_strv_add(&a->members, &a->n_members, m);
                        if (r < 0)
                                return r == -E2BIG
                                               ? lf_diag_add(diag, name, lineno, "too many members")
                                               : r;
                        continue;
                }
                if (strchr(tok, '[') || !a->active || a->level || a->n_members)
                        return lf_diag_add(diag, name, lineno, "%s: unexpected \"%.40s\"", a->name,
                                           tok);
                a->level = strdup(tok);
                if (!a->level)
                        return -ENOMEM;
        }
        return 0;
}

static int mdstat_line(void *ctx, char *line, long lineno) {
        parse_ctx *c = ctx;
        lf_mdstat *m = c->out;

        /* Array lines start at column 0 with "md"; their detail lines are indented;
         * "Personalities :", "unused devices:" and "read_ahead" lines are not ours. */
        if (!strneq(line, "md", 2))
                return 0;
        lf_md_array *a = lf_plan_grow(&m->arrays, &m->n_arrays, sizeof(*a));
        if (!a)
                return m->n_arrays >= LF_DEVSTATE_MAX_ITEMS
                               ? lf_diag_add(c->diag, c->name, lineno, "too many arrays")
                               : -ENOMEM;
        return mdstat_array(c->name, lineno, line, c->diag, a);
}

int lf_mdstat_parse(const char *name, const char *buf, lf_diag *diag, lf_mdstat **ret) {
        _cleanup_(lf_mdstat_freep) lf_mdstat *m = calloc(1, sizeof(*m));
        parse_ctx c = {.name = name, .diag = diag, .out = m};

        if (!m)
                return -ENOMEM;
        int r = each_line(buf, mdstat_line, &c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

void lf_mounts_free(lf_mounts *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++) {
                free(m->mounts[i].source);
                free(m->mounts[i].target);
                free(m->mounts[i].type);
                free(m->mounts[i].options);
        }
        free(m->mounts);
        free(m);
}

/* The kernel writes space, tab, newline and backslash in mount fields as \ooo. */
static char *unescape_octal(const char *s) {
        char *out = malloc(strlen(s) + 1), *w = out;
        if (!out)
                return NULL;
        for (const char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 3;
                } else
                        *w++ = *r;
        }
        *w = '\0';
        return out;
}

static int mounts_line(void *ctx, char *line, long lineno) {
        parse_ctx *c = ctx;
        lf_mounts *m = c->out;
        char *save = NULL, *f[4];

        if (!*line)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(f); i++)
                if (!(f[i] = strtok_r(i ? NULL : line, " \t", &save)))
                        return lf_diag_add(c->diag, c->name, lineno,
                                           "expected SOURCE TARGET TYPE OPTIONS");
        lf_mount *mt = lf_plan_grow(&m->mounts, &m->n, sizeof(*mt));
        if (!mt)
                return m->n >= LF_DEVSTATE_MAX_ITEMS
                               ? lf_diag_add(c->diag, c->name, lineno, "too many mounts")
                               : -ENOMEM;
        mt->source = unescape_octal(f[0]);
        mt->target = unescape_octal(f[1]);
        mt->type = strdup(f[2]);
        mt->options = strdup(f[3]);
        return mt->source && mt->target && mt->type && mt->options ? 0 : -ENOMEM;
}

int lf_mounts_parse(const char *name, const char *buf, lf_diag *diag, lf_mounts **ret) {
        _cleanup_(lf_mounts_freep) lf_mounts *m = calloc(1, sizeof(*m));
        parse_ctx c = {.name = name, .diag = diag, .out = m};

        if (!m)
                return -ENOMEM;
        int r = each_line(buf, mounts_line, &c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

void lf_part_table_free(lf_part_table *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n_parts; i++) {
                free(t->parts[i].node);
                free(t->parts[i].type);
                free(t->parts[i].uuid);
                free(t->parts[i].name);
        }
        free(t->parts);
        free(t->label);
        free(t->id);
        free(t);
}

static int dup_field(const lf_json_ctx *ctx, json_object *o, const char *path, const char *key,
                     bool required, char **ret) {
        const char *s = NULL;
        int r = lf_json_get_string(ctx, o, path, key, required, &s);
        if (r < 0)
                return r;
        *ret = strdup(s ? s : "");
        return *ret ? 0 : -ENOMEM;
}

static int sfdisk_part(const lf_json_ctx *ctx, json_object *o, const char *path, lf_part *pt) {
        int64_t start = 0, size = 0;
        int r;

        if ((r = lf_json_expect_object(ctx, o, path)) < 0 ||
            (r = dup_field(ctx, o, path, "node", true, &pt->node)) < 0 ||
            (r = lf_json_get_int(ctx, o, path, "start", true, 0, INT64_MAX, &start)) < 0 ||
            (r = lf_json_get_int(ctx, o, path, "size", true, 0, INT64_MAX, &size)) < 0 ||
            (r = dup_field(ctx, o, path, "type", true, &pt->type)) < 0 ||
            (r = dup_field(ctx, o, path, "uuid", false, &pt->uuid)) < 0 ||
            (r = dup_field(ctx, o, path, "name", false, &pt->name)) < 0)
                return r;
        pt->start = (uint64_t)start;
        pt->size = (uint64_t)size;
        return 0;
}

int lf_sfdisk_parse(const char *name, const char *buf, size_t len, lf_diag *diag,
                    lf_part_table **ret) {
        lf_json_ctx ctx = {.diag = diag, .file = name};
        _cleanup_json_ json_object *root = NULL;
        _cleanup_(lf_part_table_freep) lf_part_table *t = calloc(1, sizeof(*t));
        json_object *pt = NULL, *parts = NULL;
        int64_t sector_size = 512;
        int r;

        if (!t)
                return -ENOMEM;
        if ((r = lf_json_parse(&ctx, buf, len, &root)) < 0 ||
            (r = lf_json_expect_object(&ctx, root, "")) < 0 ||
            (r = lf_json_get_object(&ctx, root, "", "partitiontable", true, &pt)) < 0 ||
            (r = dup_field(&ctx, pt, "partitiontable", "label", true, &t->label)) < 0 ||
            (r = dup_field(&ctx, pt, "partitiontable", "id", false, &t->id)) < 0 ||
            (r = lf_json_get_int(&ctx, pt, "partitiontable", "sectorsize", false, 512, 65536,
                                 &sector_size)) < 0 ||
            (r = lf_json_get_array(&ctx, pt, "partitiontable", "partitions", false, &parts)) < 0)
                return r;
        t->sector_size = (uint64_t)sector_size;
        size_t n = parts ? json_object_array_length(parts) : 0;
        if (n > LF_DEVSTATE_MAX_ITEMS)
                return lf_diag_add(diag, name, 0, "more than %d partitions", LF_DEVSTATE_MAX_ITEMS);
        for (size_t i = 0; i < n; i++) {
                char path[64];
                snprintf(path, sizeof(path), "partitiontable.partitions[%zu]", i);
                lf_part *p = lf_plan_grow(&t->parts, &t->n_parts, sizeof(*p));
                if (!p)
                        return -ENOMEM;
                r = sfdisk_part(&ctx, json_object_array_get_idx(parts, i), path, p);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(t);
        return 0;
}

/* LVM JSON reports; see lvm.h. */
#include <string.h>

#include "json.h"
#include "lvm.h"

static void row_clear(lf_lvm_row *row) {
        for (size_t i = 0; i < row->n; i++) {
                free(row->fields[i]);
                free(row->values[i]);
        }
        free(row->fields);
        free(row->values);
}

void lf_lvm_report_free(lf_lvm_report *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_rows; i++)
                row_clear(&r->rows[i]);
        free(r->rows);
        free(r);
}

static int row_from_json(const lf_json_ctx *ctx, json_object *o, const char *path,
                         lf_lvm_row *row) {
        if (!json_object_is_type(o, json_type_object))
                return lf_diag_add(ctx->diag, ctx->file, 0, "%s: expected an object, got %s", path,
                                   lf_json_type_name(o));
        size_t n = (size_t)json_object_object_length(o);
        if (n > LF_LVM_MAX_FIELDS)
                return lf_diag_add(ctx->diag, ctx->file, 0, "%s: more than %d fields", path,
                                   LF_LVM_MAX_FIELDS);
        row->fields = calloc(n + 1, sizeof(char *));
        row->values = calloc(n + 1, sizeof(char *));
        if (!row->fields || !row->values)
                return -ENOMEM;
        json_object_object_foreach(o, key, val) {
                if (json_object_is_type(val, json_type_object) ||
                    json_object_is_type(val, json_type_array))
                        return lf_diag_add(ctx->diag, ctx->file, 0,
                                           "%s.%s: expected a string, got %s", path, key,
                                           lf_json_type_name(val));
                const char *s =
                        json_object_is_type(val, json_type_null) ? "" : json_object_get_string(val);
                row->fields[row->n] = strdup(key);
                row->values[row->n] = strdup(s);
                if (!row->fields[row->n] || !row->values[row->n]) {
                        row->n++; /* both freed by row_clear */
                        return -ENOMEM;
                }
                row->n++;
        }
        return 0;
}

static int section_rows(const lf_json_ctx *ctx, json_object *rows, const char *path,
                        lf_lvm_report *rep) {
        if (!json_object_is_type(rows, json_type_array))
                return lf_diag_add(ctx->diag, ctx->file, 0, "%s: expected an array, got %s", path,
                                   lf_json_type_name(rows));
        size_t n = json_object_array_length(rows);
        if (n > LF_LVM_MAX_ROWS - rep->n_rows)
                return lf_diag_add(ctx->diag, ctx->file, 0, "%s: more than %d rows", path,
                                   LF_LVM_MAX_ROWS);
        lf_lvm_row *grown = realloc(rep->rows, (rep->n_rows + n + 1) * sizeof(lf_lvm_row));
        if (!grown)
                return -ENOMEM;
        rep->rows = grown;
        for (size_t i = 0; i < n; i++) {
                char rpath[128];
                snprintf(rpath, sizeof(rpath), "%s[%zu]", path, i);
                lf_lvm_row *row = &rep->rows[rep->n_rows++];
                *row = (lf_lvm_row){0};
                int r = row_from_json(ctx, json_object_array_get_idx(rows, i), rpath, row);
                if (r < 0)
                        return r;
        }
        return 0;
}

int lf_lvm_report_parse(const char *name, const char *buf, size_t len, const char *section,
                        lf_diag *diag, lf_lvm_report **ret) {
        lf_json_ctx ctx = {.diag = diag, .file = name};
        _cleanup_json_ json_object *root = NULL;
        _cleanup_(lf_lvm_report_freep) lf_lvm_report *rep = NULL;
        json_object *reports = NULL;
        int r;

        r = lf_json_parse(&ctx, buf, len, &root);
        if (r < 0)
                return r;
        if (!json_object_is_type(root, json_type_object))
                return lf_diag_add(diag, name, 0, "expected an LVM report object, got %s",
                                   lf_json_type_name(root));
        r = lf_json_get_array(&ctx, root, "", "report", true, &reports);
        if (r < 0)
                return r;
        rep = calloc(1, sizeof(*rep));
        if (!rep)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(reports); i++) {
                json_object *o = json_object_array_get_idx(reports, i), *rows = NULL;
                char path[64];
                snprintf(path, sizeof(path), "report[%zu]", i);
                r = lf_json_expect_object(&ctx, o, path);
                if (r < 0)
                        return r;
                if (!json_object_object_get_ex(o, section, &rows))
                        continue;
                snprintf(path, sizeof(path), "report[%zu].%.8s", i, section);
                r = section_rows(&ctx, rows, path, rep);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(rep);
        return 0;
}

const char *lf_lvm_row_get(const lf_lvm_row *r, const char *field) {
        for (size_t i = 0; i < r->n; i++)
                if (streq(r->fields[i], field))
                        return r->values[i];
        return NULL;
}

bool lf_lvm_list_has(const char *list, const char *item) {
        size_t n = strlen(item);
        for (const char *p = list; p && *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                if (len == n && strneq(p, item, n))
                        return true;
                p = comma ? comma + 1 : NULL;
        }
        return false;
}

int lf_lvm_devices_split(const char *devices, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        for (const char *p = devices; *p;) {
                const char *open = strchr(p, '(');
                const char *close = open ? strchr(open, ')') : NULL;
                if (!open || !close || open == p || close == open + 1)
                        return -EINVAL;
                for (const char *d = open + 1; d < close; d++)
                        if (*d < '0' || *d > '9')
                                return -EINVAL;
                if (n >= LF_LVM_MAX_ROWS)
                        return -E2BIG;
                char **grown = realloc(l, (n + 2) * sizeof(char *));
                if (!grown)
                        return -ENOMEM;
                l = grown;
                l[n] = strndup(p, (size_t)(open - p));
                if (!l[n])
                        return -ENOMEM;
                l[++n] = NULL;
                if (close[1] == '\0')
                        break;
                if (close[1] != ',' || close[2] == '\0')
                        return -EINVAL;
                p = close + 2;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

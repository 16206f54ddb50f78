/* JSON helpers; see json.h. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"

static const char *type_name(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "a boolean";
        case json_type_double:
                return "a number";
        case json_type_int:
                return "an integer";
        case json_type_object:
                return "an object";
        case json_type_array:
                return "an array";
        case json_type_string:
                return "a string";
        }
        return "something else";
}

const char *lf_json_type_name(json_object *o) {
        return type_name(o);
}

int lf_json_parse(const lf_json_ctx *ctx, const char *buf, size_t len, json_object **ret) {
        json_tokener *tok;
        json_object *o;
        enum json_tokener_error jerr;

        if (len > LF_JSON_MAX_BYTES)
                return lf_diag_add(ctx->diag, ctx->file, 0,
                                   "document is larger than %u bytes; refusing to read it",
                                   LF_JSON_MAX_BYTES);
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, buf, (int)len);
        jerr = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        if (!o && jerr == json_tokener_continue)
                jerr = json_tokener_error_parse_eof;
        if (o && jerr == json_tokener_success) {
                /* Only whitespace may follow the document. */
                for (size_t i = end; i < len; i++)
                        if (!strchr(" \t\r\n", buf[i])) {
                                jerr = json_tokener_error_parse_unexpected;
                                end = i;
                                break;
                        }
        }
        json_tokener_free(tok);
        if (jerr != json_tokener_success) {
                long line = 1;
                json_object_put(o);
                for (size_t i = 0; i < end && i < len; i++)
                        if (buf[i] == '\n')
                                line++;
                return lf_diag_add(ctx->diag, ctx->file, line, "malformed JSON: %s",
                                   json_tokener_error_desc(jerr));
        }
        *ret = o;
        return 0;
}

int lf_json_parse_file(const lf_json_ctx *ctx, const char *path, json_object **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        _cleanup_close_ int fd = -1;

        fd = streq(path, "-") ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return lf_diag_add(ctx->diag, path, 0, "cannot open: %s", strerror(errno));
        for (;;) {
                if (len + 65536 + 1 > cap) {
                        cap = cap ? cap * 2 : 65536 * 2;
                        char *nb = realloc(buf, cap);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return lf_diag_add(ctx->diag, path, 0, "cannot read: %s", strerror(errno));
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > LF_JSON_MAX_BYTES)
                        return lf_diag_add(ctx->diag, path, 0,
                                           "file is larger than %u bytes; refusing to read it",
                                           LF_JSON_MAX_BYTES);
        }
        if (!buf)
                buf = calloc(1, 1);
        if (!buf)
                return -ENOMEM;
        buf[len] = 0;
        if (len == 0)
                return lf_diag_add(ctx->diag, path, 0, "file is empty; expected a JSON document");
        return lf_json_parse(ctx, buf, len, ret);
}

static int field_lookup(const lf_json_ctx *ctx, json_object *obj, const char *path,
                        const char *key, bool required, json_object **ret) {
        json_object *v = NULL;

        *ret = NULL; /* set on every path: gcc -O2 cannot see that lf_diag_add() is negative */
        if (!json_object_object_get_ex(obj, key, &v)) {
                if (required)
                        return lf_diag_add(ctx->diag, ctx->file, 0, "%s%smissing required key \"%s\"",
                                           path, *path ? ": " : "", key);
                *ret = NULL;
                return 0;
        }
        *ret = v;
        return 1;
}

static int wrong_type(const lf_json_ctx *ctx, json_object *v, const char *path, const char *key,
                      const char *want) {
        return lf_diag_add(ctx->diag, ctx->file, 0, "%s%s%s: expected %s, got %s", path,
                           *path ? "." : "", key, want, type_name(v));
}

int lf_json_get_string(const lf_json_ctx *ctx, json_object *obj, const char *path,
                       const char *key, bool required, const char **ret) {
        json_object *v;
        int r = field_lookup(ctx, obj, path, key, required, &v);
        if (r <= 0)
                return r;
        if (!json_object_is_type(v, json_type_string))
                return wrong_type(ctx, v, path, key, "a string");
        *ret = json_object_get_string(v);
        return 0;
}

int lf_json_get_string_or_null(const lf_json_ctx *ctx, json_object *obj, const char *path,
                               const char *key, bool required, const char **ret) {
        json_object *v;
        int r = field_lookup(ctx, obj, path, key, required, &v);
        if (r <= 0)
                return r;
        if (json_object_is_type(v, json_type_null)) {
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return wrong_type(ctx, v, path, key, "a string or null");
        *ret = json_object_get_string(v);
        return 0;
}

int lf_json_get_int(const lf_json_ctx *ctx, json_object *obj, const char *path, const char *key,
                    bool required, int64_t min, int64_t max, int64_t *ret) {
        json_object *v;
        int r = field_lookup(ctx, obj, path, key, required, &v);
        if (r <= 0)
                return r;
        if (!json_object_is_type(v, json_type_int))
                return wrong_type(ctx, v, path, key, "an integer");
        errno = 0;
        int64_t x = json_object_get_int64(v);
        if (errno == EINVAL || x < min || x > max)
                return lf_diag_add(ctx->diag, ctx->file, 0,
                                   "%s%s%s: %s is out of range; expected %lld to %lld", path,
                                   *path ? "." : "", key, json_object_get_string(v),
                                   (long long)min, (long long)max);
        *ret = x;
        return 0;
}

int lf_json_get_double(const lf_json_ctx *ctx, json_object *obj, const char *path,
                       const char *key, bool required, double min, double max, double *ret) {
        json_object *v;
        int r = field_lookup(ctx, obj, path, key, required, &v);
        if (r <= 0)
                return r;
        if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
                return wrong_type(ctx, v, path, key, "a number");
        double x = json_object_get_double(v);
        if (!isfinite(x) || x < min || x > max)
                return lf_diag_add(ctx->diag, ctx->file, 0,
                                   "%s%s%s: %s is out of range; expected %g to %g", path,
                                   *path ? "." : "", key, json_object_get_string(v), min, max);
        *ret = x;
        return 0;
}

int lf_json_get_bool(const lf_json_ctx *ctx, json_object *obj, const char *path, const char *key,
                     bool required, bool *ret) {
        json_object *v;
        int r = field_lookup(ctx, obj, path, key, required, &v);
        if (r <= 0)
                return r;
        if (!json_object_is_type(v, json_type_boolean))
                return wrong_type(ctx, v, path, key, "true or false");
        *ret = json_object_get_boolean(v);
        return 0;
}

int lf_json_get_array(const lf_json_ctx *ctx, json_object *obj, const char *path,
                      const char *key, bool required, json_object **ret) {
        json_object *v;
        int r = field_lookup(ctx, obj, path, key, required, &v);
        if (r <= 0)
                return r;
        if (!json_object_is_type(v, json_type_array))
                return wrong_type(ctx, v, path, key, "an array");
        *ret = v;
        return 0;
}

int lf_json_get_object(const lf_json_ctx *ctx, json_object *obj, const char *path,
                       const char *key, bool required, json_object **ret) {
        json_object *v;
        int r = field_lookup(ctx, obj, path, key, required, &v);
        if (r <= 0)
                return r;
        if (!json_object_is_type(v, json_type_object))
                return wrong_type(ctx, v, path, key, "an object");
        *ret = v;
        return 0;
}

int lf_json_expect_object(const lf_json_ctx *ctx, json_object *obj, const char *path) {
        if (json_object_is_type(obj, json_type_object))
                return 0;
        return lf_diag_add(ctx->diag, ctx->file, 0, "%s%sexpected an object, got %s",
                           *path ? path : "top level", ": ", type_name(obj));
}

int lf_json_check_keys(const lf_json_ctx *ctx, json_object *obj, const char *path,
                       const char *const *known) {
        int r = 0;
        json_object_object_foreach(obj, key, val) {
                (void)val;
                bool ok = false;
                for (const char *const *k = known; *k && !ok; k++)
                        ok = streq(*k, key);
                if (ok)
                        continue;
                char list[512] = "";
                for (const char *const *k = known; *k; k++)
                        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                                 k == known ? "" : ", ", *k);
                r = lf_diag_add(ctx->diag, ctx->file, 0, "%s%s%s: unknown key; known keys: %s",
                                path, *path ? "." : "", key, list);
        }
        return r;
}

json_object *lf_json_new_double(double v, int decimals) {
        char buf[64];
        double scale = pow(10, decimals);
        double rounded = round(v * scale) / scale;

        if (rounded == 0)
                rounded = 0; /* no "-0" */
        snprintf(buf, sizeof(buf), "%.*f", decimals, rounded);
        /* Trim trailing zeros but keep one decimal so the value still reads as a number. */
        char *dot = strchr(buf, '.');
        if (dot) {
                char *e = buf + strlen(buf) - 1;
                while (e > dot + 1 && *e == '0')
                        *e-- = 0;
        }
        return json_object_new_double_s(rounded, buf);
}

int lf_json_add(json_object *obj, const char *key, json_object *value) {
        if (!value)
                return -ENOMEM;
        if (json_object_object_add(obj, key, value) < 0) {
                json_object_put(value);
                return -ENOMEM;
        }
        return 0;
}

int lf_json_append(json_object *array, json_object *value) {
        if (!value)
                return -ENOMEM;
        if (json_object_array_add(array, value) < 0) {
                json_object_put(value);
                return -ENOMEM;
        }
        return 0;
}

char *lf_json_to_string(json_object *obj) {
        const char *s = json_object_to_json_string_ext(
                obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        char *out = NULL;
        if (!s || asprintf(&out, "%s\n", s) < 0)
                return NULL;
        return out;
}

int lf_json_write(FILE *f, json_object *obj) {
        _cleanup_free_ char *s = lf_json_to_string(obj);
        if (!s)
                return -ENOMEM;
        if (fputs(s, f) < 0)
                return -errno;
        return 0;
}

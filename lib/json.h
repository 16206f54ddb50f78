/* JSON helpers on json-c: reading files with size limits and line-numbered errors, typed field
 * getters whose errors name the field ("inv.json: disks[2].size_bytes: expected an integer"),
 * and deterministic output. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);
#define _cleanup_json_ _cleanup_(json_object_putp)

/* Largest JSON document we read from a file or a request body. */
#define LF_JSON_MAX_BYTES (64u * 1024 * 1024)

/* Where problems are reported: the diagnostics list and the input's name. */
typedef struct lf_json_ctx {
        lf_diag *diag;
        const char *file;
} lf_json_ctx;

/* Parses a whole buffer; on error adds "FILE:LINE: ..." to ctx->diag and returns -EINVAL. */
int lf_json_parse(const lf_json_ctx *ctx, const char *buf, size_t len, json_object **ret);
/* Reads and parses a file ("-" is stdin); missing/unreadable/too large files are reported. */
int lf_json_parse_file(const lf_json_ctx *ctx, const char *path, json_object **ret);

/* Typed getters. `path` names obj for messages ("" for the top level, "disks[2]"). Return 0 when
 * the key was read into *ret or is absent and not required (then *ret is untouched), -EINVAL
 * after adding a diagnostic. */
int lf_json_get_string(const lf_json_ctx *ctx, json_object *obj, const char *path,
                       const char *key, bool required, const char **ret);
/* Like lf_json_get_string, but JSON null is accepted and gives NULL. */
int lf_json_get_string_or_null(const lf_json_ctx *ctx, json_object *obj, const char *path,
                               const char *key, bool required, const char **ret);
int lf_json_get_int(const lf_json_ctx *ctx, json_object *obj, const char *path, const char *key,
                    bool required, int64_t min, int64_t max, int64_t *ret);
int lf_json_get_double(const lf_json_ctx *ctx, json_object *obj, const char *path,
                       const char *key, bool required, double min, double max, double *ret);
int lf_json_get_bool(const lf_json_ctx *ctx, json_object *obj, const char *path, const char *key,
                     bool required, bool *ret);
int lf_json_get_array(const lf_json_ctx *ctx, json_object *obj, const char *path,
                      const char *key, bool required, json_object **ret);
int lf_json_get_object(const lf_json_ctx *ctx, json_object *obj, const char *path,
                       const char *key, bool required, json_object **ret);
/* "a string", "an integer", "null", ...: how messages name the JSON type of o. */
const char *lf_json_type_name(json_object *o);
/* Checks that obj is an object (top level or array element) and reports it otherwise. */
int lf_json_expect_object(const lf_json_ctx *ctx, json_object *obj, const char *path);
/* Refuses keys of obj outside `known` (NULL-terminated), naming each with the known list, so
 * a misspelt optional key cannot silently fall back to its default. 0 or -EINVAL. */
int lf_json_check_keys(const lf_json_ctx *ctx, json_object *obj, const char *path,
                       const char *const *known);

/* A double rounded to `decimals` places that serialises without float noise. */
json_object *lf_json_new_double(double v, int decimals);
/* Adds key -> value to obj, taking ownership of value; returns -ENOMEM when value is NULL. */
int lf_json_add(json_object *obj, const char *key, json_object *value);
int lf_json_append(json_object *array, json_object *value);

/* Pretty, stable serialisation (two-space indent, no "\/" escapes) with a final newline. */
int lf_json_write(FILE *f, json_object *obj);
/* Same text as a malloc'ed string. */
char *lf_json_to_string(json_object *obj);

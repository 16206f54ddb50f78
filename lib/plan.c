/* The install plan: one table per JSON object describes its keys, and the same tables drive
 * writing, reading back and freeing, so the three cannot drift apart. Also the text form. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "plan.h"
#include "units.h"

typedef enum field_type {
        F_STR, /* char *, never NULL once built */
        F_STR_NULL, /* char * or NULL <-> JSON null */
        F_U64, /* uint64_t */
        F_U64_NULL0, /* uint64_t, 0 <-> JSON null */
        F_I64, /* int64_t */
        F_BOOL,
        F_STRV, /* char ** NULL-terminated, with a size_t count */
        F_ARRAY, /* T * with a size_t count */
        F_OBJ_NULL, /* T * or NULL <-> JSON null */
} field_type;

typedef struct shape shape;

typedef struct field {
        const char *key;
        field_type type;
        size_t off;
        size_t n_off; /* F_STRV, F_ARRAY: where the count lives */
        const shape *sub; /* F_ARRAY, F_OBJ_NULL */
        int64_t min, max; /* numbers */
        const char *const *choices; /* F_STR: allowed values, NULL-terminated; NULL = any */
} field;

struct shape {
        size_t size;
        const field *fields;
        size_t n_fields;
};

#define STR(T, k, m, ch) {.key = k, .type = F_STR, .off = offsetof(T, m), .choices = ch}
#define STRN(T, k, m) {.key = k, .type = F_STR_NULL, .off = offsetof(T, m)}
#define NUM(T, k, m, t, lo, hi) {.key = k, .type = t, .off = offsetof(T, m), .min = lo, .max = hi}
#define BOOL(T, k, m) {.key = k, .type = F_BOOL, .off = offsetof(T, m)}
#define STRV(T, k, m) {.key = k, .type = F_STRV, .off = offsetof(T, m), .n_off = offsetof(T, n_##m)}
#define ARR(T, k, m, s)                                                                            \
        {.key = k, .type = F_ARRAY, .off = offsetof(T, m), .n_off = offsetof(T, n_##m), .sub = &s}
#define OBJ(T, k, m, s) {.key = k, .type = F_OBJ_NULL, .off = offsetof(T, m), .sub = &s}
#define SHAPE(T, f) {.size = sizeof(T), .fields = f, .n_fields = ELEMENTSOF(f)}

#define SIZE_MAX_JSON INT64_MAX

static const char *const classes[] = {"fast", "bulk", NULL};
static const char *const layouts[] = {"boot", "data", NULL};
static const char *const wipes[] = {"blank", "rebuild", "policy-all", "policy-listed", NULL};
static const char *const uses[] = {"bios", "esp", "root", "fast", "bulk", NULL};
static const char *const part_types[] = {"bios-boot", "esp", "linux", "linux-raid", "linux-lvm",
                                         NULL};
static const char *const kinds[] = {"management", "storage-link", "bond", NULL};

static const field disk_fields[] = {
        STR(lf_plan_disk, "name", name, NULL),
        STR(lf_plan_disk, "id", id, NULL),
        STR(lf_plan_disk, "path", path, NULL),
        STR(lf_plan_disk, "by_id", by_id, NULL),
        STR(lf_plan_disk, "model", model, NULL),
        STR(lf_plan_disk, "serial", serial, NULL),
        STR(lf_plan_disk, "transport", transport, NULL),
        NUM(lf_plan_disk, "size_bytes", size_bytes, F_U64, 0, SIZE_MAX_JSON),
        STR(lf_plan_disk, "class", disk_class, classes),
        STR(lf_plan_disk, "layout", layout, layouts),
        STR(lf_plan_disk, "wipe", wipe, wipes),
        STRV(lf_plan_disk, "erase", erase),
};
static const shape disk_shape = SHAPE(lf_plan_disk, disk_fields);

static const field partition_fields[] = {
        STR(lf_plan_partition, "disk", disk, NULL),
        NUM(lf_plan_partition, "number", number, F_U64, 1, 128),
        STR(lf_plan_partition, "device", device, NULL),
        STR(lf_plan_partition, "name", name, NULL),
        STR(lf_plan_partition, "use", use, uses),
        STR(lf_plan_partition, "type", type, part_types),
        NUM(lf_plan_partition, "start_bytes", start_bytes, F_U64, 0, SIZE_MAX_JSON),
        NUM(lf_plan_partition, "size_bytes", size_bytes, F_U64, 0, SIZE_MAX_JSON),
};
static const shape partition_shape = SHAPE(lf_plan_partition, partition_fields);

static const field array_fields[] = {
        STR(lf_plan_array, "name", name, classes),
        STR(lf_plan_array, "device", device, NULL),
        STR(lf_plan_array, "level", level, NULL),
        STR(lf_plan_array, "metadata", metadata, NULL),
        NUM(lf_plan_array, "chunk_kib", chunk_kib, F_U64, 4, 1 << 20),
        STRV(lf_plan_array, "members", members),
        NUM(lf_plan_array, "size_bytes", size_bytes, F_U64, 0, SIZE_MAX_JSON),
};
static const shape array_shape = SHAPE(lf_plan_array, array_fields);

static const field pv_fields[] = {
        STR(lf_plan_pv, "device", device, NULL),
        STR(lf_plan_pv, "tag", tag, classes),
        NUM(lf_plan_pv, "size_bytes", size_bytes, F_U64, 0, SIZE_MAX_JSON),
        NUM(lf_plan_pv, "free_bytes", free_bytes, F_U64, 0, SIZE_MAX_JSON),
};
static const shape pv_shape = SHAPE(lf_plan_pv, pv_fields);

static const field vg_fields[] = {
        STR(lf_plan_vg, "name", name, NULL),
        ARR(lf_plan_vg, "pvs", pvs, pv_shape),
        NUM(lf_plan_vg, "size_bytes", size_bytes, F_U64, 0, SIZE_MAX_JSON),
        STRN(lf_plan_vg, "snapshot_pv", snapshot_pv),
        NUM(lf_plan_vg, "snapshot_bytes", snapshot_bytes, F_U64, 0, SIZE_MAX_JSON),
};
static const shape vg_shape = SHAPE(lf_plan_vg, vg_fields);

static const field lv_fields[] = {
        STR(lf_plan_lv, "name", name, NULL),
        STR(lf_plan_lv, "vg", vg, NULL),
        STR(lf_plan_lv, "pv", pv, classes),
        STRN(lf_plan_lv, "extents", extents),
        NUM(lf_plan_lv, "size_bytes", size_bytes, F_U64, 0, SIZE_MAX_JSON),
        STR(lf_plan_lv, "purpose", purpose, NULL),
};
static const shape lv_shape = SHAPE(lf_plan_lv, lv_fields);

static const field fs_fields[] = {
        STR(lf_plan_fs, "device", device, NULL),
        STR(lf_plan_fs, "type", type, NULL),
        STR(lf_plan_fs, "mountpoint", mountpoint, NULL),
        STR(lf_plan_fs, "options", options, NULL),
};
static const shape fs_shape = SHAPE(lf_plan_fs, fs_fields);

static const field export_fields[] = {
        STR(lf_plan_export, "path", path, NULL),
        STR(lf_plan_export, "clients", clients, NULL),
        STR(lf_plan_export, "options", options, NULL),
};
static const shape export_shape = SHAPE(lf_plan_export, export_fields);

static const field mount_fields[] = {
        STR(lf_plan_mount, "source", source, NULL),
        STR(lf_plan_mount, "target", target, NULL),
        STR(lf_plan_mount, "type", type, NULL),
        STR(lf_plan_mount, "options", options, NULL),
        STR(lf_plan_mount, "server", server, NULL),
};
static const shape mount_shape = SHAPE(lf_plan_mount, mount_fields);

static const field nic_ref_fields[] = {
        STR(lf_plan_nic_ref, "interface", interface, NULL),
        STR(lf_plan_nic_ref, "mac", mac, NULL),
        NUM(lf_plan_nic_ref, "speed_mbps", speed_mbps, F_I64, -1, INT32_MAX),
};
static const shape nic_ref_shape = SHAPE(lf_plan_nic_ref, nic_ref_fields);

static const field bond_fields[] = {
        STR(lf_plan_bond, "mode", mode, NULL),
        NUM(lf_plan_bond, "miimon", miimon, F_U64, 0, 1000000),
        ARR(lf_plan_bond, "members", members, nic_ref_shape),
};
static const shape bond_shape = SHAPE(lf_plan_bond, bond_fields);

static const field peer_fields[] = {
        STR(lf_plan_peer, "node", node, NULL),
        STR(lf_plan_peer, "address", address, NULL),
};
static const shape peer_shape = SHAPE(lf_plan_peer, peer_fields);

static const field net_fields[] = {
        STR(lf_plan_net, "interface", interface, NULL),
        STR(lf_plan_net, "kind", kind, kinds),
        STR(lf_plan_net, "mac", mac, NULL),
        NUM(lf_plan_net, "speed_mbps", speed_mbps, F_I64, -1, INT32_MAX),
        BOOL(lf_plan_net, "dhcp", dhcp),
        STRV(lf_plan_net, "addresses", addresses),
        STRN(lf_plan_net, "gateway", gateway),
        NUM(lf_plan_net, "mtu", mtu, F_U64_NULL0, 68, 65536),
        OBJ(lf_plan_net, "peer", peer, peer_shape),
        OBJ(lf_plan_net, "bond", bond, bond_shape),
};
static const shape net_shape = SHAPE(lf_plan_net, net_fields);

static const field sysctl_fields[] = {
        STR(lf_plan_sysctl, "name", name, NULL),
        STR(lf_plan_sysctl, "value", value, NULL),
        STR(lf_plan_sysctl, "source", source, NULL),
};
static const shape sysctl_shape = SHAPE(lf_plan_sysctl, sysctl_fields);

static const field skipped_fields[] = {
        STR(lf_plan_skipped, "name", name, NULL),
        STR(lf_plan_skipped, "path", path, NULL),
        STR(lf_plan_skipped, "by_id", by_id, NULL),
        STR(lf_plan_skipped, "model", model, NULL),
        STR(lf_plan_skipped, "serial", serial, NULL),
        STR(lf_plan_skipped, "transport", transport, NULL),
        NUM(lf_plan_skipped, "size_bytes", size_bytes, F_U64, 0, SIZE_MAX_JSON),
        STR(lf_plan_skipped, "reason", reason, NULL),
};
static const shape skipped_shape = SHAPE(lf_plan_skipped, skipped_fields);

/* DESIGN §5.3: exactly these keys, in this order. */
static const field plan_fields[] = {
        STR(lf_plan, "node", node, NULL),
        STR(lf_plan, "role", role, NULL),
        ARR(lf_plan, "disks", disks, disk_shape),
        ARR(lf_plan, "partitions", partitions, partition_shape),
        ARR(lf_plan, "arrays", arrays, array_shape),
        ARR(lf_plan, "volume_groups", volume_groups, vg_shape),
        ARR(lf_plan, "logical_volumes", logical_volumes, lv_shape),
        ARR(lf_plan, "filesystems", filesystems, fs_shape),
        ARR(lf_plan, "exports", exports, export_shape),
        ARR(lf_plan, "mounts", mounts, mount_shape),
        ARR(lf_plan, "network", network, net_shape),
        ARR(lf_plan, "sysctl", sysctl, sysctl_shape),
        STRV(lf_plan, "warnings", warnings),
        ARR(lf_plan, "skipped_disks", skipped_disks, skipped_shape),
};
static const shape plan_shape = SHAPE(lf_plan, plan_fields);

#define AT(obj, f, T) ((T *)((char *)(obj) + (f)->off))
#define COUNT(obj, f) ((size_t *)((char *)(obj) + (f)->n_off))

static void obj_clear(void *obj, const shape *s) {
        for (size_t i = 0; i < s->n_fields; i++) {
                const field *f = &s->fields[i];
                switch (f->type) {
                case F_STR:
                case F_STR_NULL:
                        free(*AT(obj, f, char *));
                        break;
                case F_STRV:
                        strv_free(*AT(obj, f, char **));
                        break;
                case F_ARRAY: {
                        char *a = *AT(obj, f, char *);
                        for (size_t j = 0; a && j < *COUNT(obj, f); j++)
                                obj_clear(a + j * f->sub->size, f->sub);
                        free(a);
                        break;
                }
                case F_OBJ_NULL: {
                        void *o = *AT(obj, f, void *);
                        if (o)
                                obj_clear(o, f->sub);
                        free(o);
                        break;
                }
                default:
                        break;
                }
        }
}

void lf_plan_free(lf_plan *p) {
        if (!p)
                return;
        obj_clear(p, &plan_shape);
        free(p);
}

static json_object *strv_to_json(char *const *l) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; a && l && l[i]; i++)
                if (lf_json_append(a, json_object_new_string(l[i])) < 0) {
                        json_object_put(a);
                        return NULL;
                }
        return a;
}

static int obj_to_json(const void *obj, const shape *s, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_fields; i++) {
                const field *f = &s->fields[i];
                json_object *v = NULL;
                bool null = false;

                switch (f->type) {
                case F_STR: {
                        const char *x = *AT(obj, f, char *);
                        v = json_object_new_string(x ? x : "");
                        break;
                }
                case F_STR_NULL: {
                        const char *x = *AT(obj, f, char *);
                        null = !x;
                        if (x)
                                v = json_object_new_string(x);
                        break;
                }
                case F_U64:
                        v = json_object_new_int64((int64_t)*AT(obj, f, uint64_t));
                        break;
                case F_U64_NULL0: {
                        uint64_t x = *AT(obj, f, uint64_t);
                        null = x == 0;
                        if (x)
                                v = json_object_new_int64((int64_t)x);
                        break;
                }
                case F_I64:
                        v = json_object_new_int64(*AT(obj, f, int64_t));
                        break;
                case F_BOOL:
                        v = json_object_new_boolean(*AT(obj, f, bool));
                        break;
                case F_STRV:
                        v = strv_to_json(*AT(obj, f, char **));
                        break;
                case F_ARRAY: {
                        const char *a = *AT(obj, f, char *);
                        v = json_object_new_array();
                        for (size_t j = 0; v && j < *COUNT(obj, f); j++) {
                                json_object *e = NULL;
                                r = obj_to_json(a + j * f->sub->size, f->sub, &e);
                                if (r < 0 || lf_json_append(v, e) < 0) {
                                        json_object_put(v);
                                        return -ENOMEM;
                                }
                        }
                        break;
                }
                case F_OBJ_NULL: {
                        const void *x = *AT(obj, f, void *);
                        null = !x;
                        if (x) {
                                r = obj_to_json(x, f->sub, &v);
                                if (r < 0)
                                        return r;
                        }
                        break;
                }
                }
                if (null) {
                        if (json_object_object_add(o, f->key, NULL) < 0)
                                return -ENOMEM;
                        continue;
                }
                r = lf_json_add(o, f->key, v);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int lf_plan_to_json(const lf_plan *p, json_object **ret) {
        return obj_to_json(p, &plan_shape, ret);
}

static int check_string(const lf_json_ctx *ctx, const char *path, const char *key, const char *s,
                        const char *const *choices) {
        if (strlen(s) > LF_PLAN_MAX_STRING)
                return lf_diag_add(ctx->diag, ctx->file, 0, "%s%s%s: longer than %d bytes", path,
                                   *path ? "." : "", key, LF_PLAN_MAX_STRING);
        if (!choices)
                return 0;
        for (size_t i = 0; choices[i]; i++)
                if (streq(s, choices[i]))
                        return 0;
        _cleanup_free_ char *list = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&list, &len);
        if (!m)
                return -ENOMEM;
        for (size_t i = 0; choices[i]; i++)
                fprintf(m, "%s\"%s\"", i ? ", " : "", choices[i]);
        fclose(m);
        return lf_diag_add(ctx->diag, ctx->file, 0, "%s%s%s: \"%s\" is not one of %s", path,
                           *path ? "." : "", key, s, list);
}

static int obj_from_json(const lf_json_ctx *ctx, json_object *j, const char *path,
                         const shape *s, void *obj);

static int field_from_json(const lf_json_ctx *ctx, json_object *j, const char *path,
                           const field *f, void *obj) {
        json_object *v = NULL;
        const char *str = NULL;
        int64_t n = 0;
        int r;

        switch (f->type) {
        case F_STR:
        case F_STR_NULL:
                r = f->type == F_STR
                            ? lf_json_get_string(ctx, j, path, f->key, true, &str)
                            : lf_json_get_string_or_null(ctx, j, path, f->key, true, &str);
                if (r < 0)
                        return r;
                if (!str)
                        return 0;
                r = check_string(ctx, path, f->key, str, f->choices);
                if (r < 0)
                        return r;
                *AT(obj, f, char *) = strdup(str);
                return *AT(obj, f, char *) ? 0 : -ENOMEM;
        case F_U64_NULL0:
                if (json_object_object_get_ex(j, f->key, &v) && !v)
                        return 0;
                __attribute__((fallthrough));
        case F_U64:
        case F_I64:
                r = lf_json_get_int(ctx, j, path, f->key, true, f->min, f->max, &n);
                if (r < 0)
                        return r;
                if (f->type == F_I64)
                        *AT(obj, f, int64_t) = n;
                else
                        *AT(obj, f, uint64_t) = (uint64_t)n;
                return 0;
        case F_BOOL:
                return lf_json_get_bool(ctx, j, path, f->key, true, AT(obj, f, bool));
        case F_STRV:
        case F_ARRAY: {
                r = lf_json_get_array(ctx, j, path, f->key, true, &v);
                if (r < 0)
                        return r;
                size_t len = json_object_array_length(v);
                if (len > LF_PLAN_MAX_ITEMS)
                        return lf_diag_add(ctx->diag, ctx->file, 0,
                                           "%s%s%s: more than %d entries", path, *path ? "." : "",
                                           f->key, LF_PLAN_MAX_ITEMS);
                int bad = 0;
                for (size_t i = 0; i < len; i++) {
                        json_object *e = json_object_array_get_idx(v, i);
                        _cleanup_free_ char *epath = NULL;
                        if (asprintf(&epath, "%s%s%s[%zu]", path, *path ? "." : "", f->key, i) <
                            0)
                                return -ENOMEM;
                        if (f->type == F_STRV) {
                                if (!json_object_is_type(e, json_type_string)) {
                                        bad = lf_diag_add(ctx->diag, ctx->file, 0,
                                                          "%s: expected a string", epath);
                                        continue;
                                }
                                r = lf_plan_strv_add(AT(obj, f, char **), COUNT(obj, f),
                                                     json_object_get_string(e));
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (lf_json_expect_object(ctx, e, epath) < 0) {
                                bad = -EINVAL;
                                continue;
                        }
                        void *elem = lf_plan_grow(AT(obj, f, void *), COUNT(obj, f), f->sub->size);
                        if (!elem)
                                return -ENOMEM;
                        r = obj_from_json(ctx, e, epath, f->sub, elem);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                bad = r;
                }
                return bad;
        }
        case F_OBJ_NULL: {
                if (json_object_object_get_ex(j, f->key, &v) && !v)
                        return 0;
                r = lf_json_get_object(ctx, j, path, f->key, true, &v);
                if (r < 0)
                        return r;
                void *sub = calloc(1, f->sub->size);
                if (!sub)
                        return -ENOMEM;
                *AT(obj, f, void *) = sub;
                _cleanup_free_ char *spath = NULL;
                if (asprintf(&spath, "%s%s%s", path, *path ? "." : "", f->key) < 0)
                        return -ENOMEM;
                return obj_from_json(ctx, v, spath, f->sub, sub);
        }
        }
        return -EINVAL;
}

/* Reads every field, reporting each problem, so one pass shows all that is wrong. */
static int obj_from_json(const lf_json_ctx *ctx, json_object *j, const char *path,
                         const shape *s, void *obj) {
        int bad = 0;

        for (size_t i = 0; i < s->n_fields; i++) {
                int r = field_from_json(ctx, j, path, &s->fields[i], obj);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        bad = r;
        }
        return bad;
}

int lf_plan_from_json(const char *file, json_object *obj, lf_diag *diag, lf_plan **ret) {
        lf_json_ctx ctx = {diag, file};
        _cleanup_plan_ lf_plan *p = NULL;
        int r;

        r = lf_json_expect_object(&ctx, obj, "");
        if (r < 0)
                return r;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        r = obj_from_json(&ctx, obj, "", &plan_shape, p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int lf_plan_load(const char *path, lf_diag *diag, lf_plan **ret) {
        lf_json_ctx ctx = {diag, path};
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = lf_json_parse_file(&ctx, path, &o);
        if (r < 0)
                return r;
        return lf_plan_from_json(path, o, diag, ret);
}

int lf_plan_load_buffer(const char *name, const char *buf, size_t len, lf_diag *diag,
                        lf_plan **ret) {
        lf_json_ctx ctx = {diag, name};
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = lf_json_parse(&ctx, buf, len, &o);
        if (r < 0)
                return r;
        return lf_plan_from_json(name, o, diag, ret);
}

void *lf_plan_grow(void *array, size_t *n, size_t size) {
        char **a = array;

        if (*n >= LF_PLAN_MAX_ITEMS)
                return NULL;
        char *b = realloc(*a, (*n + 1) * size);
        if (!b)
                return NULL;
        *a = b;
        memset(b + *n * size, 0, size);
        return b + (*n)++ * size;
}

const char *lf_disk_stable_name(const char *by_id, const char *model, const char *serial,
                                const char *name, char buf[static LF_DISK_STABLE_NAME_MAX]) {
        if (by_id && *by_id)
                return by_id;
        if (!serial || !*serial)
                return name;
        snprintf(buf, LF_DISK_STABLE_NAME_MAX, "%s_%s", model ? model : "", serial);
        for (char *c = buf; *c; c++)
                if ((unsigned char)*c <= ' ' || *c == 0x7f)
                        *c = '_';
        return buf;
}

int lf_plan_strv_add(char ***l, size_t *n, const char *s) {
        if (*n >= LF_PLAN_MAX_ITEMS)
                return -E2BIG;
        char **b = realloc(*l, (*n + 2) * sizeof(char *));
        if (!b)
                return -ENOMEM;
        *l = b;
        b[*n] = strdup(s);
        if (!b[*n])
                return -ENOMEM;
        b[++*n] = NULL;
        return 0;
}

int lf_plan_add_warning(lf_plan *p, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return lf_plan_strv_add(&p->warnings, &p->n_warnings, s);
}

const char *lf_plan_part_type_guid(const char *type) {
        static const struct {
                const char *type, *guid;
        } table[] = {
                {"bios-boot", "21686148-6449-6E6F-744E-656564454649"},
                {"esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
                {"linux", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
                {"linux-raid", "A19D880F-05FC-4D3B-A006-743F0F84911E"},
                {"linux-lvm", "E6D6D379-F507-44C2-A23C-238F2A3DF928"},
        };
        for (size_t i = 0; type && i < ELEMENTSOF(table); i++)
                if (streq(type, table[i].type))
                        return table[i].guid;
        return NULL;
}

/* ---- The text form: what an admin reads before saying yes. Derived from the plan data alone,
 * so a plan read back from JSON prints the same text. ---- */

static bool has_role(const lf_plan *p, const char *role) {
        size_t n = strlen(role);
        for (const char *s = p->role; s && *s;) {
                size_t k = strcspn(s, "+");
                if (k == n && strneq(s, role, n))
                        return true;
                s += k + (s[k] == '+');
        }
        return false;
}

static const char *signature_desc(const char *sig) {
        static const struct {
                const char *sig, *desc;
        } table[] = {
                {"gpt", "GPT partition table"},
                {"PMBR", "protective MBR"},
                {"dos", "MBR partition table"},
                {"linux_raid_member", "md RAID member"},
                {"LVM2_member", "LVM physical volume"},
                {"ext2", "ext2 file system"},
                {"ext3", "ext3 file system"},
                {"ext4", "ext4 file system"},
                {"xfs", "XFS file system"},
                {"btrfs", "Btrfs file system"},
                {"vfat", "FAT file system"},
                {"ntfs", "NTFS file system (Windows)"},
                {"swap", "swap space"},
                {"crypto_LUKS", "LUKS encrypted volume"},
                {"zfs_member", "ZFS pool member"},
                {"iso9660", "ISO 9660 image"},
                {"bcache", "bcache device"},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(sig, table[i].sig))
                        return table[i].desc;
        return "signature";
}

static void upper_puts(FILE *f, const char *s) {
        for (; *s; s++)
                fputc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, f);
}

static const char *size_str(uint64_t bytes, char buf[static 32]) {
        lf_format_size(bytes, buf, 32);
        return buf;
}

static const char *speed_str(int64_t mbps, char buf[static 32]) {
        if (mbps < 0)
                snprintf(buf, 32, "speed unknown");
        else if (mbps >= 1000 && mbps % 1000 == 0)
                snprintf(buf, 32, "%lld Gb/s", (long long)(mbps / 1000));
        else
                snprintf(buf, 32, "%lld Mb/s", (long long)mbps);
        return buf;
}

static const lf_plan_array *find_array(const lf_plan *p, const char *name) {
        for (size_t i = 0; i < p->n_arrays; i++)
                if (streq(p->arrays[i].name, name))
                        return &p->arrays[i];
        return NULL;
}

static const lf_plan_fs *find_fs(const lf_plan *p, const char *device) {
        for (size_t i = 0; i < p->n_filesystems; i++)
                if (streq(p->filesystems[i].device, device))
                        return &p->filesystems[i];
        return NULL;
}

static const lf_plan_partition *find_part(const lf_plan *p, const char *disk, const char *use) {
        for (size_t i = 0; i < p->n_partitions; i++)
                if (streq(p->partitions[i].disk, disk) &&
                    (streq(p->partitions[i].use, use) ||
                     (streq(use, "class") && (streq(p->partitions[i].use, "fast") ||
                                              streq(p->partitions[i].use, "bulk")))))
                        return &p->partitions[i];
        return NULL;
}

/* Where a fast/bulk partition goes: into its class's array, or straight into LVM. */
static void print_class_target(FILE *f, const lf_plan *p, const char *cls) {
        const lf_plan_array *a = find_array(p, cls);
        if (a)
                fprintf(f, "RAID0 array %s", a->device);
        else
                fprintf(f, "LVM PV %s", cls);
}

/* Words of s on lines of at most `width` columns, the first after `first`, the others after
 * `rest`; a word longer than a line gets a line of its own. */
static void wrap(FILE *f, const char *first, const char *rest, const char *s, int width) {
        int col = fprintf(f, "%s", first), start = col;

        while (*s) {
                int n = (int)strcspn(s, " ");
                if (col > start && col + 1 + n > width)
                        col = start = fprintf(f, "\n%s", rest) - 1;
                col += fprintf(f, "%s%.*s", col > start ? " " : "", n, s);
                s += n;
                s += strspn(s, " ");
        }
        fprintf(f, "\n");
}

static void text_header(FILE *f, const lf_plan *p) {
        fprintf(f, "labforge install plan for node %s (role %s)\n\n", p->node, p->role);
        if (p->n_disks == 0)
                fprintf(f, "THIS PLAN ERASES NO DISK.\n");
        else {
                fprintf(f, "THIS PLAN ERASES EVERYTHING ON %zu DISK%s:", p->n_disks,
                        p->n_disks > 1 ? "S" : "");
                for (size_t i = 0; i < p->n_disks; i++)
                        fprintf(f, " %s%s", p->disks[i].name, i + 1 < p->n_disks ? "," : ".");
                fprintf(f, "\n");
        }
        fprintf(f, "No other disk is touched. Sizes are binary (1 GiB = 2^30 bytes); array, volume\n"
                   "and free sizes are estimates: md and LVM keep a little of the space for "
                   "metadata.\n");
}

static void text_disks(FILE *f, const lf_plan *p) {
        char sz[32];

        fprintf(f, "\nDisks used (%zu)\n", p->n_disks);
        for (size_t i = 0; i < p->n_disks; i++) {
                const lf_plan_disk *d = &p->disks[i];
                const lf_plan_partition *rest = find_part(p, d->name, "class");

                fprintf(f, "  %s  %s  %s  %s  %s  serial %s\n", d->name,
                        streq(d->disk_class, "fast") ? "SSD" : "HDD", size_str(d->size_bytes, sz),
                        d->transport, *d->model ? d->model : "(no model)",
                        *d->serial ? d->serial : "(none)");
                fprintf(f, "      id %s\n", d->id);
                if (streq(d->layout, "boot")) {
                        fprintf(f, "      boot disk: BIOS boot, EFI system, root; ");
                        if (rest) {
                                fprintf(f, "the rest goes to ");
                                print_class_target(f, p, rest->use);
                        } else
                                fprintf(f, "root takes the rest, nothing goes to %s",
                                        d->disk_class);
                } else {
                        fprintf(f, "      whole disk goes to ");
                        print_class_target(f, p, rest ? rest->use : d->disk_class);
                }
                fprintf(f, "\n");
                if (d->n_erase == 0) {
                        fprintf(f, "      now on it: nothing (no signature found)\n");
                        continue;
                }
                _cleanup_free_ char *what = NULL;
                size_t len = 0;
                FILE *w = open_memstream(&what, &len);
                if (!w)
                        continue; /* out of memory: lf_plan_to_text fails at fclose */
                for (size_t j = 0; j < d->n_erase; j++) {
                        fprintf(w, "%s", j ? ", " : "");
                        upper_puts(w, signature_desc(d->erase[j]));
                        fprintf(w, " [%s]", d->erase[j]);
                }
                if (fclose(w) == 0 && what)
                        wrap(f, "      WILL BE ERASED: ", "        ", what, 96);
                fprintf(f, "      allowed because: %s\n",
                        streq(d->wipe, "rebuild") ? "it holds labforge's own layout for this "
                                                    "node (rebuild)"
                        : streq(d->wipe, "policy-all")
                                ? "disk policy wipe=\"all\""
                        : streq(d->wipe, "policy-listed")
                                ? "the disk policy's wipe list names it"
                                : "(blank)");
        }
}

static int max_len(int cur, const char *s) {
        int n = (int)strlen(s);
        return n > cur ? n : cur;
}

static void text_partitions(FILE *f, const lf_plan *p) {
        int wd = 0, wn = 0;
        char sz[32];

        fprintf(f, "\nPartitions (new GPT partition table on each disk, aligned at 1 MiB)\n");
        for (size_t i = 0; i < p->n_partitions; i++) {
                wd = max_len(wd, p->partitions[i].device);
                wn = max_len(wn, p->partitions[i].name);
        }
        for (size_t i = 0; i < p->n_partitions; i++) {
                const lf_plan_partition *pt = &p->partitions[i];
                const lf_plan_fs *fs = find_fs(p, pt->device);

                fprintf(f, "  %-*s  %-9s  %-10s  %-*s  ", wd, pt->device,
                        size_str(pt->size_bytes, sz), pt->type, wn, pt->name);
                if (streq(pt->use, "bios"))
                        fprintf(f, "BIOS boot (GRUB on BIOS firmware)");
                else if (streq(pt->use, "fast") || streq(pt->use, "bulk")) {
                        fprintf(f, "%s ", find_array(p, pt->use) ? "member of" : "is");
                        print_class_target(f, p, pt->use);
                } else if (fs)
                        fprintf(f, "%s on %s", fs->type, fs->mountpoint);
                else
                        fprintf(f, "%s", pt->use);
                fprintf(f, "\n");
        }
}

static void text_arrays(FILE *f, const lf_plan *p) {
        char sz[32];

        if (p->n_arrays == 0) {
                fprintf(f, "\nRAID arrays: none (no disk class has two members)\n");
                return;
        }
        fprintf(f, "\nRAID arrays (RAID0 stripes for speed, without redundancy: one failed disk "
                   "loses its array)\n");
        for (size_t i = 0; i < p->n_arrays; i++) {
                const lf_plan_array *a = &p->arrays[i];
                fprintf(f, "  %s  %s  %s  metadata %s, chunk %llu KiB\n      members:", a->device,
                        a->level, size_str(a->size_bytes, sz), a->metadata,
                        (unsigned long long)a->chunk_kib);
                for (size_t j = 0; j < a->n_members; j++)
                        fprintf(f, " %s", a->members[j]);
                fprintf(f, "\n");
        }
}

static void text_lvm(FILE *f, const lf_plan *p) {
        char sz[32], sz2[32];
        int wp = 0, wl = 0;

        for (size_t i = 0; i < p->n_volume_groups; i++)
                for (size_t j = 0; j < p->volume_groups[i].n_pvs; j++)
                        wp = max_len(wp, p->volume_groups[i].pvs[j].device);
        for (size_t i = 0; i < p->n_logical_volumes; i++)
                wl = max_len(wl, p->logical_volumes[i].name);

        if (p->n_volume_groups == 0)
                fprintf(f, "\nLVM: none (no space left after the root file system)\n");
        for (size_t i = 0; i < p->n_volume_groups; i++) {
                const lf_plan_vg *vg = &p->volume_groups[i];
                fprintf(f, "\nLVM volume group %s (%s)\n", vg->name, size_str(vg->size_bytes, sz));
                for (size_t j = 0; j < vg->n_pvs; j++)
                        fprintf(f, "  PV %-*s  tag %s  %s, %s free after this plan\n", wp,
                                vg->pvs[j].device, vg->pvs[j].tag,
                                size_str(vg->pvs[j].size_bytes, sz),
                                size_str(vg->pvs[j].free_bytes, sz2));
                for (size_t j = 0; j < p->n_logical_volumes; j++) {
                        const lf_plan_lv *lv = &p->logical_volumes[j];
                        if (!streq(lv->vg, vg->name))
                                continue;
                        fprintf(f, "  LV %-*s  %s", wl, lv->name, size_str(lv->size_bytes, sz));
                        if (lv->extents)
                                fprintf(f, " (%s)", lv->extents);
                        fprintf(f, " on PV %s: %s\n", lv->pv, lv->purpose);
                }
                if (vg->snapshot_pv)
                        fprintf(f, "  Per-VM snapshots (copy-on-write) use the free space of PV "
                                   "%s: %s.\n",
                                vg->snapshot_pv, size_str(vg->snapshot_bytes, sz));
                for (size_t j = 0; has_role(p, "storage") && j < vg->n_pvs; j++)
                        if (streq(vg->pvs[j].tag, "fast") && vg->pvs[j].free_bytes > 0 &&
                            !(vg->snapshot_pv && streq(vg->snapshot_pv, "fast")))
                                fprintf(f, "  The free space of PV fast (%s) is kept for more "
                                           "golden images.\n",
                                        size_str(vg->pvs[j].free_bytes, sz));
        }
}

static void text_filesystems(FILE *f, const lf_plan *p) {
        int wd = 0, wm = 0;

        fprintf(f, "\nFile systems (new, then in /etc/fstab)\n");
        for (size_t i = 0; i < p->n_filesystems; i++) {
                wd = max_len(wd, p->filesystems[i].device);
                wm = max_len(wm, p->filesystems[i].mountpoint);
        }
        for (size_t i = 0; i < p->n_filesystems; i++) {
                const lf_plan_fs *fs = &p->filesystems[i];
                fprintf(f, "  %-*s  %-4s  %-*s  %s\n", wd, fs->device, fs->type, wm,
                        fs->mountpoint, fs->options);
        }
}

static void text_nfs(FILE *f, const lf_plan *p) {
        if (p->n_exports == 0)
                fprintf(f, "\nNFS exports: none\n");
        else
                fprintf(f, "\nNFS exports (/etc/exports; the installer creates the directories)\n");
        for (size_t i = 0; i < p->n_exports; i++)
                fprintf(f, "  %s %s(%s)\n", p->exports[i].path, p->exports[i].clients,
                        p->exports[i].options);
        if (p->n_exports > 0 && has_role(p, "storage"))
                fprintf(f, "  Each VM's snapshot file system is mounted at run time under "
                           "%s/<vm>\n  (ext4, noatime,data=writeback) and exported with it "
                           "(crossmnt).\n",
                        p->exports[0].path);

        if (p->n_mounts == 0)
                fprintf(f, "\nNFS mounts: none%s\n",
                        has_role(p, "kvm") && !has_role(p, "storage")
                                ? " (no link to a storage node: VM disks stay on the local "
                                  "store /var/lib/labforge/vms)"
                                : "");
        else
                fprintf(f, "\nNFS mounts (/etc/fstab)\n");
        for (size_t i = 0; i < p->n_mounts; i++) {
                const lf_plan_mount *mt = &p->mounts[i];
                fprintf(f, "  %s on %s (%s, VM store of %s)\n      %s\n", mt->source, mt->target,
                        mt->type, mt->server, mt->options);
        }
}

static void text_network(FILE *f, const lf_plan *p) {
        char sp[32];

        fprintf(f, "\nNetwork (systemd-networkd)\n");
        for (size_t i = 0; i < p->n_network; i++) {
                const lf_plan_net *n = &p->network[i];
                bool link = streq(n->kind, "storage-link");

                fprintf(f, "  %s (%s", n->interface, link ? "storage link" : n->kind);
                if (link && n->peer)
                        fprintf(f, " to %s", n->peer->node);
                if (n->bond)
                        fprintf(f, ", %s bond, miimon %llu", n->bond->mode,
                                (unsigned long long)n->bond->miimon);
                fprintf(f, ", %s", n->mac);
                if (!n->bond)
                        fprintf(f, ", %s", speed_str(n->speed_mbps, sp));
                fprintf(f, ")\n");
                if (n->bond) {
                        fprintf(f, "      members:");
                        for (size_t j = 0; j < n->bond->n_members; j++)
                                fprintf(f, "%s %s %s %s", j ? "," : "",
                                        n->bond->members[j].interface, n->bond->members[j].mac,
                                        speed_str(n->bond->members[j].speed_mbps, sp));
                        fprintf(f, "\n");
                }
                fprintf(f, "      address: ");
                if (n->dhcp)
                        fprintf(f, "DHCP");
                for (size_t j = 0; j < n->n_addresses; j++)
                        fprintf(f, "%s%s", j ? ", " : "", n->addresses[j]);
                if (!n->dhcp && n->n_addresses == 0)
                        fprintf(f, "none");
                if (n->gateway)
                        fprintf(f, ", gateway %s", n->gateway);
                else if (!n->dhcp && n->n_addresses > 0)
                        fprintf(f, ", no gateway");
                if (n->mtu)
                        fprintf(f, ", MTU %llu", (unsigned long long)n->mtu);
                if (n->peer)
                        fprintf(f, "; %s is %s", n->peer->node, n->peer->address);
                fprintf(f, "\n");
        }
}

static void text_sysctl(FILE *f, const lf_plan *p) {
        int w = 0;

        if (p->n_sysctl == 0) {
                fprintf(f, "\nsysctl: none\n");
                return;
        }
        fprintf(f, "\nsysctl (/etc/sysctl.d/90-labforge.conf)\n");
        for (size_t i = 0; i < p->n_sysctl; i++) {
                int n = (int)(strlen(p->sysctl[i].name) + 3 + strlen(p->sysctl[i].value));
                w = n > w ? n : w;
        }
        for (size_t i = 0; i < p->n_sysctl; i++) {
                const lf_plan_sysctl *s = &p->sysctl[i];
                int n = (int)(strlen(s->name) + 3 + strlen(s->value));
                fprintf(f, "  %s = %s%*s  # %s\n", s->name, s->value, w - n, "", s->source);
        }
}

static void text_tail(FILE *f, const lf_plan *p) {
        char sz[32];

        if (p->n_warnings == 0)
                fprintf(f, "\nWarnings: none\n");
        else
                fprintf(f, "\nWarnings (%zu)\n", p->n_warnings);
        for (size_t i = 0; i < p->n_warnings; i++)
                wrap(f, "  ! ", "    ", p->warnings[i], 96);

        if (p->n_skipped_disks == 0)
                fprintf(f, "\nDisks left alone: none\n");
        else
                fprintf(f, "\nDisks left alone (%zu, not touched)\n", p->n_skipped_disks);
        for (size_t i = 0; i < p->n_skipped_disks; i++) {
                const lf_plan_skipped *s = &p->skipped_disks[i];
                fprintf(f, "  %s  %s  %s  %s  serial %s\n      why: %s\n", s->name,
                        size_str(s->size_bytes, sz), s->transport,
                        *s->model ? s->model : "(no model)", *s->serial ? s->serial : "(none)",
                        s->reason);
        }
}

int lf_plan_to_text(const lf_plan *p, char **ret) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return -ENOMEM;
        text_header(f, p);
        text_disks(f, p);
        text_partitions(f, p);
        text_arrays(f, p);
        text_lvm(f, p);
        text_filesystems(f, p);
        text_nfs(f, p);
        text_network(f, p);
        text_sysctl(f, p);
        text_tail(f, p);
        if (fclose(f) != 0 || !buf) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

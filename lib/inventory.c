/* The inventory format of DESIGN §5.2: strict reading (every problem reported with the file and
 * the field path) and writing with keys in the documented order. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "inventory.h"
#include "json.h"
#include "net.h"
#include "units.h"

static const char *const transports[] = {
        "sata", "sas", "nvme", "usb", "virtio", "scsi", "mmc", "unknown",
};

bool lf_transport_valid(const char *s) {
        if (!s)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(transports); i++)
                if (streq(s, transports[i]))
                        return true;
        return false;
}

void lf_inv_disk_clear(lf_inv_disk *d) {
        if (!d)
                return;
        free(d->name);
        free(d->path);
        free(d->by_id);
        free(d->transport);
        free(d->model);
        free(d->serial);
        strv_free(d->signatures);
        strv_free(d->labels);
        *d = (lf_inv_disk){};
}

void lf_inv_nic_clear(lf_inv_nic *n) {
        if (!n)
                return;
        free(n->name);
        free(n->mac);
        free(n->driver);
        *n = (lf_inv_nic){};
}

void lf_inventory_free(lf_inventory *inv) {
        if (!inv)
                return;
        free(inv->vendor);
        free(inv->product);
        free(inv->serial);
        free(inv->firmware);
        for (size_t i = 0; i < inv->n_disks; i++)
                lf_inv_disk_clear(&inv->disks[i]);
        free(inv->disks);
        for (size_t i = 0; i < inv->n_nics; i++)
                lf_inv_nic_clear(&inv->nics[i]);
        free(inv->nics);
        free(inv);
}

const lf_inv_disk *lf_inventory_find_disk(const lf_inventory *inv, const char *name) {
        for (size_t i = 0; i < inv->n_disks; i++)
                if (inv->disks[i].name && streq(inv->disks[i].name, name))
                        return &inv->disks[i];
        return NULL;
}

static bool strv_contains(char *const *l, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

/* Appends a copy of s to the NULL-terminated list *l of *n entries. */
static int strv_push(char ***l, size_t *n, const char *s) {
        char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        char **nl = realloc(*l, (*n + 2) * sizeof(char *));
        if (!nl) {
                free(copy);
                return -ENOMEM;
        }
        nl[(*n)++] = copy;
        nl[*n] = NULL;
        *l = nl;
        return 0;
}

static int strv_add_unique(char ***l, size_t *n, size_t max, const char *s) {
        if (strv_contains(*l, *n, s))
                return 0;
        if (*n >= max)
                return -E2BIG;
        int r = strv_push(l, n, s);
        return r < 0 ? r : 1;
}

bool lf_inv_disk_has_signature(const lf_inv_disk *d, const char *sig) {
        return strv_contains(d->signatures, d->n_signatures, sig);
}

int lf_inv_disk_add_signature(lf_inv_disk *d, const char *sig) {
        return strv_add_unique(&d->signatures, &d->n_signatures, LF_INVENTORY_MAX_SIGNATURES, sig);
}

int lf_inv_disk_add_label(lf_inv_disk *d, const char *label) {
        return strv_add_unique(&d->labels, &d->n_labels, LF_INVENTORY_MAX_LABELS, label);
}

/* Reading. Every problem is added to the diagnostics and parsing goes on, so that one run
 * reports all of them; `failed` remembers that there was one. */
typedef struct parser {
        lf_json_ctx ctx;
        bool failed;
        int oom;
} parser;

static void fail(parser *p, int r) {
        p->failed = true;
        if (r == -ENOMEM)
                p->oom = r;
}

static void problem(parser *p, const char *path, const char *key, const char *fmt, ...)
        _printf_(4, 5);
static void problem(parser *p, const char *path, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        int r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                fail(p, -ENOMEM);
                return;
        }
        lf_diag_add(p->ctx.diag, p->ctx.file, 0, "%s%s%s: %s", !*path && !*key ? "top level" : path,
                    *path && *key ? "." : "", key, msg);
        p->failed = true;
}

/* Only the keys in `known` may appear in obj: a misspelt optional key ("boot_medum") would
 * otherwise be ignored silently, and the planner might then erase the boot medium. */
static void check_keys(parser *p, json_object *obj, const char *path, const char *const *known,
                       size_t n_known) {
        json_object_object_foreach(obj, key, val) {
                (void)val;
                bool ok = false;
                for (size_t i = 0; i < n_known && !ok; i++)
                        ok = streq(key, known[i]);
                if (!ok)
                        problem(p, path, "",
                                "unknown key \"%s\"; check its spelling (DESIGN §5.2 "
                                "lists the inventory keys)",
                                key);
        }
}

static bool string_ok(parser *p, json_object *v, const char *path, const char *key) {
        const char *s = json_object_get_string(v);
        size_t len = (size_t)json_object_get_string_len(v);
        if (strlen(s) != len) {
                problem(p, path, key, "contains a NUL character");
                return false;
        }
        if (len > LF_INVENTORY_MAX_STRING) {
                problem(p, path, key, "is %zu bytes long; at most %u are allowed", len,
                        LF_INVENTORY_MAX_STRING);
                return false;
        }
        return true;
}

static void get_string(parser *p, json_object *obj, const char *path, const char *key, char **ret) {
        const char *s = NULL;
        json_object *v;

        if (lf_json_get_string(&p->ctx, obj, path, key, true, &s) < 0) {
                p->failed = true;
                return;
        }
        json_object_object_get_ex(obj, key, &v);
        if (!string_ok(p, v, path, key))
                return;
        *ret = strdup(s);
        if (!*ret)
                fail(p, -ENOMEM);
}

static void get_int(parser *p, json_object *obj, const char *path, const char *key, int64_t min,
                    int64_t max, int64_t *ret) {
        if (lf_json_get_int(&p->ctx, obj, path, key, true, min, max, ret) < 0)
                p->failed = true;
}

static void get_bool(parser *p, json_object *obj, const char *path, const char *key, bool required,
                     bool *ret) {
        if (lf_json_get_bool(&p->ctx, obj, path, key, required, ret) < 0)
                p->failed = true;
}

static void get_strv(parser *p, json_object *obj, const char *path, const char *key, bool required,
                     size_t max, char ***ret, size_t *ret_n) {
        json_object *arr = NULL;
        char elem[128];

        if (lf_json_get_array(&p->ctx, obj, path, key, required, &arr) < 0) {
                p->failed = true;
                return;
        }
        if (!arr)
                return;
        size_t n = json_object_array_length(arr);
        if (n > max) {
                problem(p, path, key, "has %zu entries; at most %zu are allowed", n, max);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(arr, i);
                snprintf(elem, sizeof(elem), "%s[%zu]", key, i);
                if (!json_object_is_type(v, json_type_string)) {
                        problem(p, path, elem, "expected a string, got %s", lf_json_type_name(v));
                        continue;
                }
                if (!string_ok(p, v, path, elem))
                        continue;
                int r = strv_push(ret, ret_n, json_object_get_string(v));
                if (r < 0)
                        fail(p, r);
        }
}

static const char *const machine_keys[] = {
        "vendor", "product", "serial", "cpus", "mem_mb", "firmware",
};
static const char *const disk_keys[] = {
        "name",      "path",  "by_id",  "size_bytes", "rotational", "removable",
        "transport", "model", "serial", "signatures", "labels",     "boot_medium",
};
static const char *const nic_keys[] = {"name", "mac", "speed_mbps", "driver", "link"};
static const char *const top_keys[] = {"machine", "disks", "nics"};

/* Largest values we believe: a million CPUs, a thousand TiB of memory, a 10 Tbit/s NIC. */
#define MAX_CPUS 1000000
#define MAX_MEM_MB (1024LL * 1024 * 1024)
#define MAX_SPEED_MBPS 10000000

static void parse_machine(parser *p, json_object *m, lf_inventory *inv) {
        int64_t v;

        check_keys(p, m, "machine", machine_keys, ELEMENTSOF(machine_keys));
        get_string(p, m, "machine", "vendor", &inv->vendor);
        get_string(p, m, "machine", "product", &inv->product);
        get_string(p, m, "machine", "serial", &inv->serial);
        v = 0;
        get_int(p, m, "machine", "cpus", 1, MAX_CPUS, &v);
        inv->cpus = (unsigned)v;
        v = 0;
        get_int(p, m, "machine", "mem_mb", 1, MAX_MEM_MB, &v);
        inv->mem_mb = (uint64_t)v;
        get_string(p, m, "machine", "firmware", &inv->firmware);
        if (inv->firmware && !streq(inv->firmware, "uefi") && !streq(inv->firmware, "bios"))
                problem(p, "machine", "firmware",
                        "\"%s\" is not a firmware type; expected "
                        "\"uefi\" or \"bios\"",
                        inv->firmware);
}

static void parse_disk(parser *p, json_object *o, const char *path, lf_inv_disk *d) {
        int64_t size = 0;

        check_keys(p, o, path, disk_keys, ELEMENTSOF(disk_keys));
        get_string(p, o, path, "name", &d->name);
        if (d->name && (!*d->name || strpbrk(d->name, "/ \t\n")))
                problem(p, path, "name",
                        "\"%s\" is not a kernel disk name like \"sda\" or "
                        "\"nvme0n1\"",
                        d->name);
        get_string(p, o, path, "path", &d->path);
        if (d->path && d->path[0] != '/')
                problem(p, path, "path",
                        "\"%s\" is not an absolute device path like "
                        "\"/dev/sda\"",
                        d->path);
        get_string(p, o, path, "by_id", &d->by_id);
        if (d->by_id && d->by_id[0] && d->by_id[0] != '/')
                problem(p, path, "by_id",
                        "\"%s\" is neither \"\" nor an absolute path like "
                        "\"/dev/disk/by-id/ata-X_123\"",
                        d->by_id);
        get_int(p, o, path, "size_bytes", 0, INT64_MAX, &size);
        d->size_bytes = (uint64_t)size;
        get_bool(p, o, path, "rotational", true, &d->rotational);
        get_bool(p, o, path, "removable", true, &d->removable);
        get_string(p, o, path, "transport", &d->transport);
        if (d->transport && !lf_transport_valid(d->transport))
                problem(p, path, "transport",
                        "\"%s\" is not a transport; expected one of sata, "
                        "sas, nvme, usb, virtio, scsi, mmc, unknown",
                        d->transport);
        get_string(p, o, path, "model", &d->model);
        get_string(p, o, path, "serial", &d->serial);
        get_strv(p, o, path, "signatures", true, LF_INVENTORY_MAX_SIGNATURES, &d->signatures,
                 &d->n_signatures);
        get_strv(p, o, path, "labels", false, LF_INVENTORY_MAX_LABELS, &d->labels, &d->n_labels);
        get_bool(p, o, path, "boot_medium", false, &d->boot_medium);
}

static void parse_nic(parser *p, json_object *o, const char *path, lf_inv_nic *n) {
        _cleanup_free_ char *mac = NULL;
        char canon[LF_MAC_STR_LEN + 1];

        check_keys(p, o, path, nic_keys, ELEMENTSOF(nic_keys));
        get_string(p, o, path, "name", &n->name);
        if (n->name && !*n->name)
                problem(p, path, "name", "is empty; expected an interface name like \"enp3s0\"");
        get_string(p, o, path, "mac", &mac);
        if (mac) {
                if (lf_mac_parse(mac, canon) < 0)
                        problem(p, path, "mac",
                                "\"%s\" is not a MAC address; write it like "
                                "\"52:54:00:12:34:56\"",
                                mac);
                else if (!(n->mac = strdup(canon)))
                        fail(p, -ENOMEM);
        }
        n->speed_mbps = -1;
        get_int(p, o, path, "speed_mbps", -1, MAX_SPEED_MBPS, &n->speed_mbps);
        get_string(p, o, path, "driver", &n->driver);
        get_bool(p, o, path, "link", true, &n->link);
}

/* Reads the array at key into *ret (elements of `size` bytes) with parse_one on each. */
static void parse_list(parser *p, json_object *top, const char *key, size_t max, size_t size,
                       void (*parse_one)(parser *, json_object *, const char *, void *), void **ret,
                       size_t *ret_n) {
        json_object *arr = NULL;
        char path[64];

        if (lf_json_get_array(&p->ctx, top, "", key, true, &arr) < 0) {
                p->failed = true;
                return;
        }
        size_t n = json_object_array_length(arr);
        if (n > max) {
                problem(p, key, "", "has %zu entries; at most %zu are supported", n, max);
                return;
        }
        if (n == 0)
                return;
        char *items = calloc(n, size);
        if (!items) {
                fail(p, -ENOMEM);
                return;
        }
        *ret = items;
        *ret_n = n;
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_array_get_idx(arr, i);
                snprintf(path, sizeof(path), "%s[%zu]", key, i);
                if (lf_json_expect_object(&p->ctx, o, path) < 0) {
                        p->failed = true;
                        continue;
                }
                parse_one(p, o, path, items + i * size);
        }
}

static void parse_disk_cb(parser *p, json_object *o, const char *path, void *d) {
        parse_disk(p, o, path, d);
}

static void parse_nic_cb(parser *p, json_object *o, const char *path, void *n) {
        parse_nic(p, o, path, n);
}

static void check_unique(parser *p, lf_inventory *inv) {
        char path[64];

        for (size_t i = 0; i < inv->n_disks; i++)
                for (size_t j = 0; j < i; j++)
                        if (inv->disks[i].name && inv->disks[j].name &&
                            streq(inv->disks[i].name, inv->disks[j].name)) {
                                snprintf(path, sizeof(path), "disks[%zu]", i);
                                problem(p, path, "name",
                                        "\"%s\" is also the name of disks[%zu]; "
                                        "disk names must be unique",
                                        inv->disks[i].name, j);
                                break;
                        }
        for (size_t i = 0; i < inv->n_nics; i++)
                for (size_t j = 0; j < i; j++)
                        if (inv->nics[i].mac && inv->nics[j].mac &&
                            streq(inv->nics[i].mac, inv->nics[j].mac)) {
                                snprintf(path, sizeof(path), "nics[%zu]", i);
                                problem(p, path, "mac",
                                        "%s is also the MAC of nics[%zu]; MACs "
                                        "must be unique",
                                        inv->nics[i].mac, j);
                                break;
                        }
}

int lf_inventory_from_json(const char *file, json_object *obj, lf_diag *diag, lf_inventory **ret) {
        _cleanup_inventory_ lf_inventory *inv = NULL;
        parser p = {.ctx = {diag, file}};
        json_object *machine = NULL;

        if (lf_json_expect_object(&p.ctx, obj, "") < 0)
                return -EINVAL;
        inv = calloc(1, sizeof(*inv));
        if (!inv)
                return -ENOMEM;
        check_keys(&p, obj, "", top_keys, ELEMENTSOF(top_keys));
        if (lf_json_get_object(&p.ctx, obj, "", "machine", true, &machine) < 0)
                p.failed = true;
        else
                parse_machine(&p, machine, inv);
        parse_list(&p, obj, "disks", LF_INVENTORY_MAX_DISKS, sizeof(lf_inv_disk), parse_disk_cb,
                   (void **)&inv->disks, &inv->n_disks);
        parse_list(&p, obj, "nics", LF_INVENTORY_MAX_NICS, sizeof(lf_inv_nic), parse_nic_cb,
                   (void **)&inv->nics, &inv->n_nics);
        check_unique(&p, inv);
        if (p.oom)
                return p.oom;
        if (p.failed)
                return -EINVAL;
        *ret = TAKE_PTR(inv);
        return 0;
}

int lf_inventory_load_buffer(const char *name, const char *buf, size_t len, lf_diag *diag,
                             lf_inventory **ret) {
        lf_json_ctx ctx = {diag, name};
        _cleanup_json_ json_object *obj = NULL;
        int r;

        r = lf_json_parse(&ctx, buf, len, &obj);
        if (r < 0)
                return r;
        return lf_inventory_from_json(name, obj, diag, ret);
}

int lf_inventory_load(const char *path, lf_diag *diag, lf_inventory **ret) {
        lf_json_ctx ctx = {diag, path};
        _cleanup_json_ json_object *obj = NULL;
        int r;

        r = lf_json_parse_file(&ctx, path, &obj);
        if (r < 0)
                return r;
        return lf_inventory_from_json(path, obj, diag, ret);
}

/* Writing. NULL strings are written as "" so a half-filled inventory still reads back. */
static int add_string(json_object *o, const char *key, const char *s) {
        return lf_json_add(o, key, json_object_new_string(s ? s : ""));
}

static int add_strv(json_object *o, const char *key, char *const *l, size_t n) {
        json_object *arr = json_object_new_array();
        int r = lf_json_add(o, key, arr);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = lf_json_append(arr, json_object_new_string(l[i]));
        return r;
}

static int disk_to_json(const lf_inv_disk *d, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        if ((r = add_string(o, "name", d->name)) < 0 || (r = add_string(o, "path", d->path)) < 0 ||
            (r = add_string(o, "by_id", d->by_id)) < 0 ||
            (r = lf_json_add(o, "size_bytes", json_object_new_int64((int64_t)d->size_bytes))) < 0 ||
            (r = lf_json_add(o, "rotational", json_object_new_boolean(d->rotational))) < 0 ||
            (r = lf_json_add(o, "removable", json_object_new_boolean(d->removable))) < 0 ||
            (r = add_string(o, "transport", d->transport)) < 0 ||
            (r = add_string(o, "model", d->model)) < 0 ||
            (r = add_string(o, "serial", d->serial)) < 0 ||
            (r = add_strv(o, "signatures", d->signatures, d->n_signatures)) < 0)
                return r;
        if (d->n_labels > 0 && (r = add_strv(o, "labels", d->labels, d->n_labels)) < 0)
                return r;
        if (d->boot_medium && (r = lf_json_add(o, "boot_medium", json_object_new_boolean(1))) < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int nic_to_json(const lf_inv_nic *n, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        if ((r = add_string(o, "name", n->name)) < 0 || (r = add_string(o, "mac", n->mac)) < 0 ||
            (r = lf_json_add(o, "speed_mbps", json_object_new_int64(n->speed_mbps))) < 0 ||
            (r = add_string(o, "driver", n->driver)) < 0 ||
            (r = lf_json_add(o, "link", json_object_new_boolean(n->link))) < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int lf_inventory_to_json(const lf_inventory *inv, json_object **ret) {
        _cleanup_json_ json_object *top = json_object_new_object();
        json_object *m = json_object_new_object(), *disks = json_object_new_array(),
                    *nics = json_object_new_array(), *item;
        int r;

        if (!top || !m || !disks || !nics) {
                json_object_put(m);
                json_object_put(disks);
                json_object_put(nics);
                return -ENOMEM;
        }
        /* lf_json_add takes ownership even when it fails. */
        r = lf_json_add(top, "machine", m);
        if (r < 0) {
                json_object_put(disks);
                json_object_put(nics);
                return r;
        }
        r = lf_json_add(top, "disks", disks);
        if (r < 0) {
                json_object_put(nics);
                return r;
        }
        if ((r = lf_json_add(top, "nics", nics)) < 0)
                return r;
        if ((r = add_string(m, "vendor", inv->vendor)) < 0 ||
            (r = add_string(m, "product", inv->product)) < 0 ||
            (r = add_string(m, "serial", inv->serial)) < 0 ||
            (r = lf_json_add(m, "cpus", json_object_new_int64(inv->cpus))) < 0 ||
            (r = lf_json_add(m, "mem_mb", json_object_new_int64((int64_t)inv->mem_mb))) < 0 ||
            (r = add_string(m, "firmware", inv->firmware)) < 0)
                return r;
        for (size_t i = 0; i < inv->n_disks; i++) {
                if ((r = disk_to_json(&inv->disks[i], &item)) < 0 ||
                    (r = lf_json_append(disks, item)) < 0)
                        return r;
        }
        for (size_t i = 0; i < inv->n_nics; i++) {
                if ((r = nic_to_json(&inv->nics[i], &item)) < 0 ||
                    (r = lf_json_append(nics, item)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(top);
        return 0;
}

/* Text form. Tables are built as rows of cells and printed with each column as wide as its
 * widest cell. */
typedef struct table {
        size_t cols, rows;
        char **cells; /* rows * cols, row-major */
} table;

static void table_free(table *t) {
        for (size_t i = 0; i < t->rows * t->cols; i++)
                free(t->cells[i]);
        free(t->cells);
}

static int table_add_row(table *t, ...) {
        va_list ap;
        char **nc = realloc(t->cells, (t->rows + 1) * t->cols * sizeof(char *));
        int r = 0;

        if (!nc)
                return -ENOMEM;
        t->cells = nc;
        va_start(ap, t);
        for (size_t i = 0; i < t->cols; i++) {
                const char *s = va_arg(ap, const char *);
                t->cells[t->rows * t->cols + i] = strdup(s && *s ? s : "-");
                if (!t->cells[t->rows * t->cols + i])
                        r = -ENOMEM;
        }
        va_end(ap);
        t->rows++;
        return r;
}

static void table_print(FILE *f, const table *t) {
        size_t width[16] = {};

        for (size_t r = 0; r < t->rows; r++)
                for (size_t c = 0; c < t->cols && c < ELEMENTSOF(width); c++) {
                        size_t w = strlen(t->cells[r * t->cols + c]);
                        if (w > width[c])
                                width[c] = w;
                }
        for (size_t r = 0; r < t->rows; r++) {
                fputs(" ", f);
                for (size_t c = 0; c < t->cols; c++) {
                        const char *s = t->cells[r * t->cols + c];
                        if (c + 1 == t->cols)
                                fprintf(f, " %s\n", s);
                        else
                                fprintf(f, " %-*s ", (int)width[c], s);
                }
        }
}

/* "a, b, c" from a list; "" when empty. */
static char *join(char *const *l, size_t n) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);

        if (!f)
                return NULL;
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%s", i ? ", " : "", l[i]);
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

static void format_speed(int64_t mbps, char *buf, size_t len) {
        if (mbps < 0)
                snprintf(buf, len, "unknown");
        else if (mbps >= 1000 && mbps % 1000 == 0)
                snprintf(buf, len, "%lld Gbit/s", (long long)(mbps / 1000));
        else if (mbps >= 1000)
                snprintf(buf, len, "%.1f Gbit/s", (double)mbps / 1000);
        else
                snprintf(buf, len, "%lld Mbit/s", (long long)mbps);
}

static int disks_table(FILE *f, const lf_inventory *inv) {
        _cleanup_(table_free) table t = {.cols = 8};
        _cleanup_(table_free) table ids = {.cols = 2};
        int r;

        fprintf(f, "\ndisks (%zu):\n", inv->n_disks);
        r = table_add_row(&t, "NAME", "SIZE", "TYPE", "TRANSPORT", "MODEL", "SERIAL", "SIGNATURES",
                          "NOTES");
        for (size_t i = 0; r >= 0 && i < inv->n_disks; i++) {
                const lf_inv_disk *d = &inv->disks[i];
                _cleanup_free_ char *sigs = join(d->signatures, d->n_signatures);
                _cleanup_free_ char *labels = join(d->labels, d->n_labels);
                _cleanup_free_ char *notes = NULL, *lab = NULL;
                char *items[3], size[32];
                size_t k = 0;

                if (!sigs || !labels)
                        return -ENOMEM;
                lf_format_size(d->size_bytes, size, sizeof(size));
                if (d->removable)
                        items[k++] = (char *)"removable";
                if (d->boot_medium)
                        items[k++] = (char *)"boot medium";
                if (d->n_labels > 0) {
                        if (asprintf(&lab, "labels: %s", labels) < 0)
                                return -ENOMEM;
                        items[k++] = lab;
                }
                if (!(notes = join(items, k)))
                        return -ENOMEM;
                r = table_add_row(&t, d->name, size, d->rotational ? "HDD" : "SSD", d->transport,
                                  d->model, d->serial, sigs, notes);
                if (r >= 0)
                        r = table_add_row(&ids, d->name,
                                          d->by_id && *d->by_id ? d->by_id : "(none)");
        }
        if (r < 0)
                return r;
        if (inv->n_disks == 0) {
                fputs("  none\n", f);
                return 0;
        }
        table_print(f, &t);
        fputs("\nstable disk ids:\n", f);
        table_print(f, &ids);
        return 0;
}

static int nics_table(FILE *f, const lf_inventory *inv) {
        _cleanup_(table_free) table t = {.cols = 5};
        int r;

        fprintf(f, "\nnics (%zu):\n", inv->n_nics);
        if (inv->n_nics == 0) {
                fputs("  none\n", f);
                return 0;
        }
        r = table_add_row(&t, "NAME", "MAC", "SPEED", "LINK", "DRIVER");
        for (size_t i = 0; r >= 0 && i < inv->n_nics; i++) {
                const lf_inv_nic *n = &inv->nics[i];
                char speed[32];
                format_speed(n->speed_mbps, speed, sizeof(speed));
                r = table_add_row(&t, n->name, n->mac, speed, n->link ? "up" : "down", n->driver);
        }
        if (r < 0)
                return r;
        table_print(f, &t);
        return 0;
}

char *lf_inventory_to_text(const lf_inventory *inv) {
        char *out = NULL, mem[32];
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        int r;

        if (!f)
                return NULL;
        lf_format_size(inv->mem_mb * 1024 * 1024, mem, sizeof(mem));
        fprintf(f, "machine: %s %s%s%s\n",
                inv->vendor && *inv->vendor ? inv->vendor : "unknown vendor",
                inv->product && *inv->product ? inv->product : "unknown model",
                inv->serial && *inv->serial ? ", serial " : "", inv->serial ? inv->serial : "");
        fprintf(f, "         %u CPUs, %s memory, %s firmware\n", inv->cpus, mem,
                inv->firmware && streq(inv->firmware, "uefi") ? "UEFI" : "BIOS");
        r = disks_table(f, inv);
        if (r >= 0)
                r = nics_table(f, inv);
        if (fclose(f) != 0 || r < 0) {
                free(out);
                return NULL;
        }
        return out;
}

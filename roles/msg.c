/* CPG messages: encoding and the strict decoder; see msg.h for the format. */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "manifest.h"
#include "msg.h"

#define MAX_TIME INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define MAX_CPUS 4096
#define MAX_MEM_MB (INT64_C(1) << 30)

static const char *const type_names[_LF_MSG_TYPE_MAX] = {
        [LF_MSG_REPORT] = "report",
        [LF_MSG_STATE] = "state",
        [LF_MSG_COMMAND] = "command",
        [LF_MSG_RESULT] = "result",
        [LF_MSG_REQUEST] = "request",
};
static const char *const vm_state_names[_LF_VM_STATE_MAX] = {
        [LF_VM_PENDING] = "pending", [LF_VM_RUNNING] = "running",     [LF_VM_PAUSED] = "paused",
        [LF_VM_STOPPED] = "stopped", [LF_VM_MIGRATING] = "migrating", [LF_VM_CRASHED] = "crashed",
        [LF_VM_STARTING] = "starting",
};
static const char *const action_names[_LF_ACTION_MAX] = {
        [LF_ACTION_START] = "start",         [LF_ACTION_STOP] = "stop",
        [LF_ACTION_MIGRATE] = "migrate",     [LF_ACTION_POWER_ON] = "power_on",
        [LF_ACTION_POWER_OFF] = "power_off", [LF_ACTION_KILL] = "kill",
        [LF_ACTION_DELETE] = "delete",       [LF_ACTION_DISK_CREATE] = "disk_create",
        [LF_ACTION_DISK_RESET] = "disk_reset", [LF_ACTION_DISK_DELETE] = "disk_delete",
        [LF_ACTION_MAINTENANCE_ON] = "maintenance_on",
        [LF_ACTION_MAINTENANCE_OFF] = "maintenance_off",
};
/* The balancing modes a state's last_run may name. */
static const lf_sched_mode run_modes[] = {LF_SCHED_MEMORY, LF_SCHED_COMPUTE, LF_SCHED_ENERGY};

const char *lf_msg_type_to_string(lf_msg_type t) {
        return t > 0 && t < _LF_MSG_TYPE_MAX ? type_names[t] : "unknown";
}

static int lookup(const char *const *names, int n, const char *s) {
        for (int i = 0; i < n; i++)
                if (names[i] && s && streq(names[i], s))
                        return i;
        return -EINVAL;
}

const char *lf_vm_state_to_string(lf_vm_state s) {
        return s < _LF_VM_STATE_MAX ? vm_state_names[s] : "unknown";
}

int lf_vm_state_from_string(const char *s, lf_vm_state *ret) {
        int i = lookup(vm_state_names, _LF_VM_STATE_MAX, s);
        if (i < 0)
                return i;
        *ret = (lf_vm_state)i;
        return 0;
}

const char *lf_msg_action_to_string(lf_msg_action a) {
        return a < _LF_ACTION_MAX ? action_names[a] : "unknown";
}

int lf_msg_action_from_string(const char *s, lf_msg_action *ret) {
        int i = lookup(action_names, _LF_ACTION_MAX, s);
        if (i < 0)
                return i;
        *ret = (lf_msg_action)i;
        return 0;
}

lf_action_fields lf_msg_action_fields(lf_msg_action a) {
        switch (a) {
        case LF_ACTION_START:
        case LF_ACTION_DISK_CREATE:
        case LF_ACTION_DISK_RESET:
                return (lf_action_fields){.vm = true, .template = true};
        case LF_ACTION_STOP:
        case LF_ACTION_KILL:
        case LF_ACTION_DELETE:
        case LF_ACTION_DISK_DELETE:
                return (lf_action_fields){.vm = true};
        case LF_ACTION_MIGRATE:
                return (lf_action_fields){.vm = true, .to = true};
        case LF_ACTION_POWER_ON:
        case LF_ACTION_POWER_OFF:
                return (lf_action_fields){.host = true};
        default:
                return (lf_action_fields){};
        }
}

lf_msg *lf_msg_new(lf_msg_type type) {
        lf_msg *m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->type = type;
        if (type == LF_MSG_REPORT)
                m->report.cpu_util = -1;
        if (type == LF_MSG_STATE) {
                m->state.mode = LF_SCHED_MEMORY;
                for (int i = 0; i < _LF_SCHED_MODE_MAX; i++)
                        m->state.last_run[i] = LF_TIME_NONE;
        }
        return m;
}

void lf_msg_free(lf_msg *m) {
        if (!m)
                return;
        if (m->type == LF_MSG_REPORT)
                free(m->report.vms);
        if (m->type == LF_MSG_STATE) {
                free(m->state.vms);
                free(m->state.hosts);
        }
        if (m->type == LF_MSG_RESULT)
                free(m->result.answer);
        if (m->type == LF_MSG_REQUEST)
                free(m->request.request);
        free(m);
}

static int grow(void **array, size_t *n, size_t max, size_t size, const void *item) {
        if (*n >= max)
                return -E2BIG;
        char *a = realloc(*array, (*n + 1) * size);
        if (!a)
                return -ENOMEM;
        memcpy(a + *n * size, item, size);
        *array = a;
        (*n)++;
        return 0;
}

int lf_msg_add_vm(lf_msg *m, const lf_msg_vm *vm) {
        if (m->type == LF_MSG_REPORT)
                return grow((void **)&m->report.vms, &m->report.n_vms, LF_MSG_MAX_REPORT_VMS,
                            sizeof(*vm), vm);
        if (m->type == LF_MSG_STATE)
                return grow((void **)&m->state.vms, &m->state.n_vms, LF_MSG_MAX_STATE_VMS,
                            sizeof(*vm), vm);
        return -EINVAL;
}

int lf_msg_add_host(lf_msg *m, const lf_msg_host *h) {
        if (m->type != LF_MSG_STATE)
                return -EINVAL;
        return grow((void **)&m->state.hosts, &m->state.n_hosts, LF_MSG_MAX_HOSTS, sizeof(*h), h);
}

/* --- Encoding --- */

/* json-c's null is a NULL value, which lf_json_add() takes for an allocation failure. */
static int add_string_or_null(json_object *o, const char *key, const char *s) {
        if (*s)
                return lf_json_add(o, key, json_object_new_string(s));
        return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
}

static int add_time_or_null(json_object *o, const char *key, int64_t t) {
        if (t != LF_TIME_NONE)
                return lf_json_add(o, key, json_object_new_int64(t));
        return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
}

/* Adds JSON text as a value; text that does not parse is added as a string, which the decoder
 * then refuses (encode checks every message as peers will). */
static int add_json_text(json_object *o, const char *key, const char *text) {
        json_object *v = json_tokener_parse(text);
        return lf_json_add(o, key, v ? v : json_object_new_string(text));
}

static int encode_vms(json_object *o, const lf_msg_vm *vms, size_t n, bool state) {
        json_object *a = json_object_new_array();
        int r = lf_json_add(o, "vms", a);

        for (size_t i = 0; i < n && r >= 0; i++) {
                const lf_msg_vm *v = &vms[i];
                json_object *j = json_object_new_object();
                r = lf_json_append(a, j);
                r = r < 0 ? r : lf_json_add(j, "name", json_object_new_string(v->name));
                if (state)
                        r = r < 0 ? r : add_string_or_null(j, "host", v->host);
                r = r < 0 ? r
                          : lf_json_add(j, "state",
                                        json_object_new_string(lf_vm_state_to_string(v->state)));
                r = r < 0 ? r : lf_json_add(j, "vcpus", json_object_new_int64(v->vcpus));
                r = r < 0 ? r : lf_json_add(j, "mem_mb", json_object_new_int64(v->mem_mb));
                if (*v->template)
                        r = r < 0 ? r
                                  : lf_json_add(j, "template", json_object_new_string(v->template));
                if (state) {
                        r = r < 0 ? r
                                  : lf_json_add(j, "pinned", json_object_new_boolean(v->pinned));
                        r = r < 0 ? r : add_time_or_null(j, "last_migrated", v->last_migrated);
                } else if (v->cpu_cores >= 0)
                        r = r < 0 ? r
                                  : lf_json_add(j, "cpu_cores",
                                                lf_json_new_double(v->cpu_cores, 3));
        }
        return r;
}

static int encode_body(const lf_msg *m, json_object *o) {
        int r = 0;

        switch (m->type) {
        case LF_MSG_REPORT: {
                const lf_msg_report *p = &m->report;
                r = lf_json_add(o, "maintenance", json_object_new_boolean(p->maintenance));
                r = r < 0 ? r : lf_json_add(o, "cpus", json_object_new_int64(p->cpus));
                r = r < 0 ? r : lf_json_add(o, "mem_mb", json_object_new_int64(p->mem_mb));
                r = r < 0 ? r
                          : lf_json_add(o, "mem_available_mb",
                                        json_object_new_int64(p->mem_available_mb));
                if (p->cpu_util >= 0)
                        r = r < 0 ? r
                                  : lf_json_add(o, "cpu_util", lf_json_new_double(p->cpu_util, 2));
                return r < 0 ? r : encode_vms(o, p->vms, p->n_vms, false);
        }
        case LF_MSG_STATE: {
                const lf_msg_state *s = &m->state;
                json_object *hosts = json_object_new_array(), *last = json_object_new_object();
                r = lf_json_add(o, "mode",
                                json_object_new_string(lf_sched_mode_to_string(s->mode)));
                r = r < 0 ? r
                          : lf_json_add(o, "next_action", json_object_new_string(s->next_action));
                r = r < 0 ? r : lf_json_add(o, "hosts", hosts);
                for (size_t i = 0; i < s->n_hosts && r >= 0; i++) {
                        json_object *h = json_object_new_object();
                        r = lf_json_append(hosts, h);
                        r = r < 0 ? r
                                  : lf_json_add(h, "name",
                                                json_object_new_string(s->hosts[i].name));
                        r = r < 0 ? r
                                  : lf_json_add(h, "state",
                                                json_object_new_string(lf_host_state_to_string(
                                                        s->hosts[i].state)));
                }
                r = r < 0 ? r : encode_vms(o, s->vms, s->n_vms, true);
                r = r < 0 ? r : lf_json_add(o, "last_run", last);
                for (size_t i = 0; i < ELEMENTSOF(run_modes) && r >= 0; i++)
                        if (s->last_run[run_modes[i]] != LF_TIME_NONE)
                                r = lf_json_add(last, lf_sched_mode_to_string(run_modes[i]),
                                                json_object_new_int64(s->last_run[run_modes[i]]));
                return r;
        }
        case LF_MSG_COMMAND: {
                const lf_msg_command *c = &m->command;
                r = lf_json_add(o, "id", json_object_new_int64((int64_t)c->id));
                r = r < 0 ? r : lf_json_add(o, "target", json_object_new_string(c->target));
                r = r < 0 ? r
                          : lf_json_add(o, "action",
                                        json_object_new_string(lf_msg_action_to_string(c->action)));
                if (*c->vm)
                        r = r < 0 ? r : lf_json_add(o, "vm", json_object_new_string(c->vm));
                if (*c->to)
                        r = r < 0 ? r : lf_json_add(o, "to", json_object_new_string(c->to));
                if (*c->host)
                        r = r < 0 ? r : lf_json_add(o, "host", json_object_new_string(c->host));
                if (*c->template)
                        r = r < 0 ? r
                                  : lf_json_add(o, "template", json_object_new_string(c->template));
                return r;
        }
        case LF_MSG_RESULT:
                r = lf_json_add(o, "id", json_object_new_int64((int64_t)m->result.id));
                r = r < 0 ? r : lf_json_add(o, "ok", json_object_new_boolean(m->result.ok));
                if (!m->result.ok)
                        r = r < 0 ? r
                                  : lf_json_add(o, "error",
                                                json_object_new_string(m->result.error));
                if (m->result.answer)
                        r = r < 0 ? r : add_json_text(o, "answer", m->result.answer);
                return r;
        case LF_MSG_REQUEST:
                r = lf_json_add(o, "id", json_object_new_int64((int64_t)m->request.id));
                r = r < 0 ? r : lf_json_add(o, "target", json_object_new_string(m->request.target));
                return r < 0 ? r : add_json_text(o, "request", m->request.request ?: "");
        default:
                return -EINVAL;
        }
}

int lf_msg_encode(const lf_msg *m, lf_diag *diag, char **ret_buf, size_t *ret_len) {
        _cleanup_json_ json_object *o = json_object_new_object();
        _cleanup_free_ char *buf = NULL;
        _cleanup_msg_ lf_msg *check = NULL;
        const char *text;
        size_t len;
        int r;

        if (!o)
                return -ENOMEM;
        r = lf_json_add(o, "node", json_object_new_string(m->node));
        r = r < 0 ? r : lf_json_add(o, "seq", json_object_new_int64((int64_t)m->seq));
        r = r < 0 ? r : lf_json_add(o, "time", json_object_new_int64(m->time));
        r = r < 0 ? r : encode_body(m, o);
        if (r < 0)
                return r;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        len = strlen(text);
        if (len > LF_MSG_MAX_PAYLOAD)
                return lf_diag_add(diag, NULL, 0,
                                   "%s message of %zu bytes is larger than the %u a peer accepts",
                                   lf_msg_type_to_string(m->type), len, LF_MSG_MAX_PAYLOAD),
                       -E2BIG;
        buf = malloc(LF_MSG_HEADER_SIZE + len);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, LF_MSG_MAGIC, 4);
        buf[4] = LF_MSG_VERSION;
        buf[5] = (char)m->type;
        buf[6] = buf[7] = 0;
        for (int i = 0; i < 4; i++)
                buf[8 + i] = (char)((len >> (24 - 8 * i)) & 0xff);
        memcpy(buf + LF_MSG_HEADER_SIZE, text, len);

        r = lf_msg_decode(buf, LF_MSG_HEADER_SIZE + len, "outgoing message", diag, &check);
        if (r < 0)
                return r;
        *ret_buf = TAKE_PTR(buf);
        *ret_len = LF_MSG_HEADER_SIZE + len;
        return 0;
}

/* --- Decoding --- */

typedef struct dec {
        lf_json_ctx ctx;
        lf_msg *m;
} dec;

static int bad(const dec *d, const char *path, const char *key, const char *fmt, ...)
        _printf_(4, 5);
static int bad(const dec *d, const char *path, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;

        va_start(ap, fmt);
        int r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return lf_diag_add(d->ctx.diag, d->ctx.file, 0, "%s%s%s: %s", path, *path ? "." : "", key,
                           what);
}

/* A string field into a fixed buffer; NULs inside the JSON string are refused. */
static int get_text(const dec *d, json_object *o, const char *path, const char *key, bool required,
                    bool nullable, char *out, size_t size) {
        const char *s = NULL;
        json_object *v = NULL;
        int r = nullable ? lf_json_get_string_or_null(&d->ctx, o, path, key, required, &s)
                         : lf_json_get_string(&d->ctx, o, path, key, required, &s);

        if (r < 0 || !s)
                return r;
        json_object_object_get_ex(o, key, &v);
        if ((size_t)json_object_get_string_len(v) != strlen(s))
                return bad(d, path, key, "contains a NUL character");
        if (strlen(s) >= size)
                return bad(d, path, key, "longer than %zu bytes", size - 1);
        for (const char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        return bad(d, path, key, "contains control characters");
        strcpy(out, s);
        return 0;
}

static int get_name(const dec *d, json_object *o, const char *path, const char *key, bool required,
                    bool nullable, char out[LF_MSG_NAME_SIZE]) {
        char name[LF_MSG_TEXT_SIZE] = "";
        json_object *v = NULL;
        int r = get_text(d, o, path, key, required, nullable, name, sizeof(name));

        /* Absent (when optional) and null (when nullable) leave out untouched; "" is no name. */
        if (r < 0 || !json_object_object_get_ex(o, key, &v) ||
            json_object_is_type(v, json_type_null))
                return r;
        if (!lf_manifest_name_valid(name))
                return bad(d, path, key,
                           "not a valid name (lowercase letters, digits and '-', at most 63 "
                           "bytes)");
        strcpy(out, name);
        return 0;
}

static int get_time(const dec *d, json_object *o, const char *path, const char *key, bool nullable,
                    int64_t *ret) {
        json_object *v = NULL;

        if (nullable && json_object_object_get_ex(o, key, &v) &&
            json_object_is_type(v, json_type_null)) {
                *ret = LF_TIME_NONE;
                return 0;
        }
        return lf_json_get_int(&d->ctx, o, path, key, true, 0, MAX_TIME, ret);
}

static int get_enum(const dec *d, json_object *o, const char *path, const char *key,
                    const char *const *names, int n, int *ret) {
        const char *s = NULL;
        int r = lf_json_get_string(&d->ctx, o, path, key, true, &s);
        if (r < 0)
                return r;
        int i = lookup(names, n, s);
        if (i < 0) {
                char list[256] = "";
                for (int k = 0; k < n; k++)
                        if (names[k])
                                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                                         *list ? ", " : "", names[k]);
                return bad(d, path, key, "unknown value; expected one of %s", list);
        }
        *ret = i;
        return 0;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int name_key_cmp(const void *key, const void *item) {
        return strcmp(key, *(const char *const *)item);
}

/* The names of an array of structs whose first member is the name, sorted, in *ret (for
 * bsearch with name_key_cmp); a name listed twice is reported ("vms: 'pc01' is listed
 * twice"). */
static int sorted_names(const dec *d, const char *what, const void *items, size_t n, size_t size,
                        const char ***ret) {
        _cleanup_free_ const char **names = calloc(n ? n : 1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                names[i] = (const char *)items + i * size;
        qsort(names, n, sizeof(char *), name_cmp);
        for (size_t i = 1; i < n; i++)
                if (streq(names[i - 1], names[i]))
                        return lf_diag_add(d->ctx.diag, d->ctx.file, 0, "%s: '%s' is listed twice",
                                           what, names[i]);
        *ret = TAKE_PTR(names);
        return 0;
}

static int get_list(const dec *d, json_object *o, const char *key, size_t max, size_t *ret_n,
                    json_object **ret) {
        json_object *a = NULL;
        int r = lf_json_get_array(&d->ctx, o, "", key, true, &a);
        if (r < 0)
                return r;
        size_t n = json_object_array_length(a);
        if (n > max)
                return bad(d, "", key, "%zu entries, more than the %zu allowed", n, max);
        *ret = a;
        *ret_n = n;
        return 0;
}

/* Collects errors of several checks: -ENOMEM wins, any other failure gives -EINVAL. */
static int worst(int a, int b) {
        if (a == -ENOMEM || b == -ENOMEM)
                return -ENOMEM;
        return a < 0 || b < 0 ? -EINVAL : 0;
}

static int decode_vm(const dec *d, json_object *j, const char *path, bool state, lf_msg_vm *v) {
        static const char *const report_keys[] = {"name",      "state",    "vcpus", "mem_mb",
                                                  "cpu_cores", "template", NULL};
        static const char *const state_keys[] = {"name",          "host",     "state",
                                                 "vcpus",         "mem_mb",   "pinned",
                                                 "last_migrated", "template", NULL};
        int st = 0, r;

        *v = (lf_msg_vm){.cpu_cores = -1, .last_migrated = LF_TIME_NONE};
        if ((r = lf_json_expect_object(&d->ctx, j, path)) < 0)
                return r;
        r = lf_json_check_keys(&d->ctx, j, path, state ? state_keys : report_keys);
        r = worst(r, get_name(d, j, path, "name", true, false, v->name));
        r = worst(r, get_enum(d, j, path, "state", vm_state_names, _LF_VM_STATE_MAX, &st));
        r = worst(r, lf_json_get_int(&d->ctx, j, path, "vcpus", true, 1, MAX_CPUS, &v->vcpus));
        r = worst(r, lf_json_get_int(&d->ctx, j, path, "mem_mb", true, 1, MAX_MEM_MB, &v->mem_mb));
        r = worst(r, get_name(d, j, path, "template", false, false, v->template));
        if (state) {
                r = worst(r, get_name(d, j, path, "host", true, true, v->host));
                r = worst(r, lf_json_get_bool(&d->ctx, j, path, "pinned", true, &v->pinned));
                r = worst(r, get_time(d, j, path, "last_migrated", true, &v->last_migrated));
        } else
                r = worst(r, lf_json_get_double(&d->ctx, j, path, "cpu_cores", false, 0, MAX_CPUS,
                                                &v->cpu_cores));
        if (r < 0)
                return r;
        v->state = (lf_vm_state)st;
        if (!state && (v->state == LF_VM_PENDING || v->state == LF_VM_STARTING))
                return bad(d, path, "state", "a host reports no %s VMs",
                           vm_state_names[v->state]);
        if (state && (v->state == LF_VM_PENDING) != !*v->host)
                return bad(d, path, "host",
                           v->state == LF_VM_PENDING ? "a pending VM has no host (null)"
                                                     : "only a pending VM has no host");
        return 0;
}

/* Decodes "vms" into *ret (set even on failure, for the message to free) and their sorted
 * names into *ret_names. */
static int decode_vms(const dec *d, json_object *o, bool state, size_t max, lf_msg_vm **ret,
                      size_t *ret_n, const char ***ret_names) {
        json_object *a;
        size_t n;
        int r = get_list(d, o, "vms", max, &n, &a);

        if (r < 0)
                return r;
        *ret = calloc(n ? n : 1, sizeof(**ret));
        if (!*ret)
                return -ENOMEM;
        *ret_n = n;
        for (size_t i = 0; i < n; i++) {
                char path[32];
                snprintf(path, sizeof(path), "vms[%zu]", i);
                r = worst(r,
                          decode_vm(d, json_object_array_get_idx(a, i), path, state, &(*ret)[i]));
        }
        if (r < 0)
                return r;
        return sorted_names(d, "vms", *ret, n, sizeof(**ret), ret_names);
}

static int decode_report(const dec *d, json_object *o) {
        lf_msg_report *p = &d->m->report;
        _cleanup_free_ const char **names = NULL;
        int r;

        r = lf_json_get_bool(&d->ctx, o, "", "maintenance", true, &p->maintenance);
        r = worst(r, lf_json_get_int(&d->ctx, o, "", "cpus", true, 1, MAX_CPUS, &p->cpus));
        r = worst(r, lf_json_get_int(&d->ctx, o, "", "mem_mb", true, 1, MAX_MEM_MB, &p->mem_mb));
        r = worst(r, lf_json_get_int(&d->ctx, o, "", "mem_available_mb", true, 0, MAX_MEM_MB,
                                     &p->mem_available_mb));
        r = worst(r, lf_json_get_double(&d->ctx, o, "", "cpu_util", false, 0, 100, &p->cpu_util));
        if (r == 0 && p->mem_available_mb > p->mem_mb)
                r = bad(d, "", "mem_available_mb", "%lld is more than mem_mb (%lld)",
                        (long long)p->mem_available_mb, (long long)p->mem_mb);
        return worst(r, decode_vms(d, o, false, LF_MSG_MAX_REPORT_VMS, &p->vms, &p->n_vms, &names));
}

static int decode_host(const dec *d, json_object *h, const char *path, lf_msg_host *ret) {
        static const char *const keys[] = {"name", "state", NULL};
        const char *state = NULL;
        int r;

        if ((r = lf_json_expect_object(&d->ctx, h, path)) < 0)
                return r;
        r = lf_json_check_keys(&d->ctx, h, path, keys);
        r = worst(r, get_name(d, h, path, "name", true, false, ret->name));
        r = worst(r, lf_json_get_string(&d->ctx, h, path, "state", true, &state));
        if (state && lf_host_state_from_string(state, &ret->state) < 0)
                r = bad(d, path, "state",
                        "unknown value; expected one of up, off, maintenance, failed");
        return r;
}

static int decode_state(const dec *d, json_object *o) {
        lf_msg_state *s = &d->m->state;
        _cleanup_free_ const char **host_names = NULL, **vm_names = NULL;
        static const char *const run_keys[] = {"memory", "compute", "energy", NULL};
        json_object *a = NULL, *last = NULL;
        const char *mode = NULL;
        size_t n = 0;
        int r, k;

        r = lf_json_get_string(&d->ctx, o, "", "mode", true, &mode);
        if (mode && lf_sched_mode_from_string(mode, &s->mode) < 0)
                r = bad(d, "", "mode",
                        "unknown value; expected one of place, memory, compute, energy, auto");
        r = worst(r, get_text(d, o, "", "next_action", true, false, s->next_action,
                              sizeof(s->next_action)));
        r = worst(r, lf_json_get_object(&d->ctx, o, "", "last_run", true, &last));
        if (last) {
                r = worst(r, lf_json_check_keys(&d->ctx, last, "last_run", run_keys));
                for (size_t i = 0; i < ELEMENTSOF(run_modes); i++)
                        if (json_object_object_get_ex(last, run_keys[i], NULL))
                                r = worst(r, get_time(d, last, "last_run", run_keys[i], false,
                                                      &s->last_run[run_modes[i]]));
        }

        k = get_list(d, o, "hosts", LF_MSG_MAX_HOSTS, &n, &a);
        if (k == 0) {
                s->hosts = calloc(n ? n : 1, sizeof(*s->hosts));
                if (!s->hosts)
                        return -ENOMEM;
                s->n_hosts = n;
                for (size_t i = 0; i < n; i++) {
                        char path[32];
                        snprintf(path, sizeof(path), "hosts[%zu]", i);
                        k = worst(k, decode_host(d, json_object_array_get_idx(a, i), path,
                                                 &s->hosts[i]));
                }
                if (k == 0)
                        k = sorted_names(d, "hosts", s->hosts, n, sizeof(*s->hosts), &host_names);
        }
        r = worst(r, k);
        r = worst(r, decode_vms(d, o, true, LF_MSG_MAX_STATE_VMS, &s->vms, &s->n_vms, &vm_names));
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_vms; i++)
                if (*s->vms[i].host && !bsearch(s->vms[i].host, host_names, s->n_hosts,
                                                sizeof(char *), name_key_cmp)) {
                        char path[32];
                        snprintf(path, sizeof(path), "vms[%zu]", i);
                        return bad(d, path, "host", "'%s' is not among hosts", s->vms[i].host);
                }
        return 0;
}

static int decode_command(const dec *d, json_object *o) {
        lf_msg_command *c = &d->m->command;
        int64_t id = 0;
        int action = 0, r;

        r = lf_json_get_int(&d->ctx, o, "", "id", true, 1, INT64_MAX, &id);
        r = worst(r, get_name(d, o, "", "target", true, false, c->target));
        r = worst(r, get_enum(d, o, "", "action", action_names, _LF_ACTION_MAX, &action));
        r = worst(r, get_name(d, o, "", "vm", false, false, c->vm));
        r = worst(r, get_name(d, o, "", "to", false, false, c->to));
        r = worst(r, get_name(d, o, "", "host", false, false, c->host));
        r = worst(r, get_name(d, o, "", "template", false, false, c->template));
        if (r < 0)
                return r;
        c->id = (uint64_t)id;
        c->action = (lf_msg_action)action;

        lf_action_fields f = lf_msg_action_fields(c->action);
        const char *a = action_names[c->action];
        if (f.vm != !!*c->vm)
                r = bad(d, "", "vm", f.vm ? "%s needs the VM" : "%s takes no VM", a);
        if (f.template != !!*c->template)
                r = bad(d, "", "template",
                        f.template ? "%s needs the template" : "%s takes no template", a);
        if (f.to != !!*c->to)
                r = bad(d, "", "to",
                        f.to ? "%s needs the destination" : "%s takes no destination", a);
        if (f.host != !!*c->host)
                r = bad(d, "", "host", f.host ? "%s needs the host" : "%s takes no host", a);
        if (r == 0 && f.to && streq(c->to, c->target))
                r = bad(d, "", "to", "'%s' is the target, where the VM runs now", c->to);
        return r;
}

/* An object value kept as its JSON text in *ret (malloc'ed); absent leaves *ret NULL. */
static int get_object_text(const dec *d, json_object *o, const char *key, bool required,
                           char **ret) {
        json_object *v = NULL;
        int r = lf_json_get_object(&d->ctx, o, "", key, required, &v);

        if (r < 0 || !v)
                return r;
        *ret = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE));
        return *ret ? 0 : -ENOMEM;
}

static int decode_result(const dec *d, json_object *o) {
        lf_msg_result *p = &d->m->result;
        int64_t id = 0;
        int r;

        r = lf_json_get_int(&d->ctx, o, "", "id", true, 1, INT64_MAX, &id);
        r = worst(r, lf_json_get_bool(&d->ctx, o, "", "ok", true, &p->ok));
        r = worst(r, get_text(d, o, "", "error", false, false, p->error, sizeof(p->error)));
        r = worst(r, get_object_text(d, o, "answer", false, &p->answer));
        if (r < 0)
                return r;
        p->id = (uint64_t)id;
        if (p->ok == !!*p->error)
                return bad(d, "", "error",
                           p->ok ? "a success carries no error" : "a failure says what went wrong");
        return 0;
}

static int decode_request(const dec *d, json_object *o) {
        lf_msg_request *p = &d->m->request;
        json_object *req = NULL, *command = NULL;
        int64_t id = 0;
        int r;

        r = lf_json_get_int(&d->ctx, o, "", "id", true, 1, INT64_MAX, &id);
        r = worst(r, get_name(d, o, "", "target", true, false, p->target));
        r = worst(r, get_object_text(d, o, "request", true, &p->request));
        if (r < 0)
                return r;
        p->id = (uint64_t)id;
        req = json_object_object_get(o, "request");
        if (!json_object_object_get_ex(req, "command", &command) ||
            !json_object_is_type(command, json_type_string))
                return bad(d, "request", "command", "missing; a request names its command");
        return 0;
}

static const char *const *known_keys(lf_msg_type t) {
        static const char *const report[] = {
                "node",     "seq", "time", "maintenance", "cpus", "mem_mb", "mem_available_mb",
                "cpu_util", "vms", NULL};
        static const char *const state[] = {"node",  "seq", "time",     "mode", "next_action",
                                            "hosts", "vms", "last_run", NULL};
        static const char *const command[] = {"node", "seq", "time", "id",       "target",
                                              "action", "vm", "to", "host", "template", NULL};
        static const char *const result[] = {"node", "seq",   "time",   "id",
                                             "ok",   "error", "answer", NULL};
        static const char *const request[] = {"node",   "seq",     "time", "id",
                                              "target", "request", NULL};

        switch (t) {
        case LF_MSG_REPORT:
                return report;
        case LF_MSG_STATE:
                return state;
        case LF_MSG_COMMAND:
                return command;
        case LF_MSG_REQUEST:
                return request;
        default:
                return result;
        }
}

/* The header; returns the payload length or a negative errno after reporting. */
static int decode_header(const unsigned char *b, size_t len, const char *from, lf_diag *diag) {
        uint32_t plen;

        if (len < LF_MSG_HEADER_SIZE)
                return lf_diag_add(diag, from, 0, "%zu bytes, shorter than the %d-byte header", len,
                                   LF_MSG_HEADER_SIZE);
        if (memcmp(b, LF_MSG_MAGIC, 4) != 0)
                return lf_diag_add(diag, from, 0, "not a labforge message (no \"%s\" magic)",
                                   LF_MSG_MAGIC);
        if (b[4] != LF_MSG_VERSION)
                return lf_diag_add(diag, from, 0,
                                   "message format version %u, but this labforged speaks "
                                   "version %d; run the same labforge version on every node",
                                   b[4], LF_MSG_VERSION);
        if (b[5] < 1 || b[5] >= _LF_MSG_TYPE_MAX)
                return lf_diag_add(diag, from, 0, "unknown message type %u", b[5]);
        if (b[6] || b[7])
                return lf_diag_add(diag, from, 0, "reserved header bytes are not zero");
        plen = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11];
        if (plen > LF_MSG_MAX_PAYLOAD || len - LF_MSG_HEADER_SIZE > LF_MSG_MAX_PAYLOAD) {
                lf_diag_add(diag, from, 0, "payload larger than the %u bytes allowed",
                            LF_MSG_MAX_PAYLOAD);
                return -E2BIG;
        }
        if (plen != len - LF_MSG_HEADER_SIZE)
                return lf_diag_add(diag, from, 0,
                                   "header announces %u payload bytes, but %zu follow", plen,
                                   len - LF_MSG_HEADER_SIZE);
        if (memchr(b + LF_MSG_HEADER_SIZE, 0, plen))
                return lf_diag_add(diag, from, 0, "payload contains a NUL byte");
        return (int)plen;
}

int lf_msg_decode(const void *buf, size_t len, const char *from, lf_diag *diag, lf_msg **ret) {
        const unsigned char *b = buf;
        _cleanup_json_ json_object *o = NULL;
        _cleanup_msg_ lf_msg *m = NULL;
        dec d = {{diag, from}, NULL};
        int64_t seq = 0;
        int plen, r;

        if ((plen = decode_header(b, len, from, diag)) < 0)
                return plen;
        if ((r = lf_json_parse(&d.ctx, (const char *)b + LF_MSG_HEADER_SIZE, (size_t)plen, &o)) < 0)
                return r;
        if ((r = lf_json_expect_object(&d.ctx, o, "")) < 0)
                return r;
        m = d.m = lf_msg_new((lf_msg_type)b[5]);
        if (!m)
                return -ENOMEM;

        r = lf_json_check_keys(&d.ctx, o, "", known_keys(m->type));
        r = worst(r, get_name(&d, o, "", "node", true, false, m->node));
        r = worst(r, lf_json_get_int(&d.ctx, o, "", "seq", true, 1, INT64_MAX, &seq));
        r = worst(r, get_time(&d, o, "", "time", false, &m->time));
        m->seq = (uint64_t)seq;
        switch (m->type) {
        case LF_MSG_REPORT:
                r = worst(r, decode_report(&d, o));
                break;
        case LF_MSG_STATE:
                r = worst(r, decode_state(&d, o));
                break;
        case LF_MSG_COMMAND:
                r = worst(r, decode_command(&d, o));
                break;
        case LF_MSG_REQUEST:
                r = worst(r, decode_request(&d, o));
                break;
        default:
                r = worst(r, decode_result(&d, o));
                break;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* Loading and checking the lab manifest; see manifest.h. The schema checks the structure; this
 * file reads the values and checks what a schema cannot: names, MACs, addresses and subnets,
 * durations and times, and the references between elements. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "manifest.h"
#include "units.h"
#include "xml.h"

extern const char lf_schema_lab[];

/* Most problems kept for sorting; lf_diag keeps fewer still. */
#define PROBLEMS_MAX 1000

static const struct {
        lf_role role;
        const char *name;
} role_names[] = {
        /* The order roles are printed in. */
        {LF_ROLE_KVM, "kvm"},
        {LF_ROLE_LOGIN, "login"},
        {LF_ROLE_STORAGE, "storage"},
};
#define LF_ROLE_ALL (LF_ROLE_STORAGE | LF_ROLE_KVM | LF_ROLE_LOGIN)

const char *lf_role_name(lf_role r) {
        for (size_t i = 0; i < ELEMENTSOF(role_names); i++)
                if (role_names[i].role == r)
                        return role_names[i].name;
        return NULL;
}

int lf_role_parse(const char *s, unsigned *ret_roles) {
        unsigned roles = 0;

        if (!s)
                return -EINVAL;
        for (;;) {
                size_t n = strcspn(s, "+");
                unsigned r = 0;
                for (size_t i = 0; i < ELEMENTSOF(role_names); i++)
                        if (strlen(role_names[i].name) == n && strneq(s, role_names[i].name, n))
                                r = role_names[i].role;
                if (!r || (roles & r))
                        return -EINVAL;
                roles |= r;
                if (!s[n])
                        break;
                s += n + 1;
        }
        *ret_roles = roles;
        return 0;
}

void lf_roles_format(unsigned roles, char *buf, size_t len) {
        size_t o = 0;

        if (len == 0)
                return;
        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(role_names) && o < len; i++)
                if (roles & role_names[i].role)
                        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "+" : "",
                                              role_names[i].name);
}

const char *lf_wipe_policy_name(lf_wipe_policy p) {
        switch (p) {
        case LF_WIPE_NEVER:
                return "never";
        case LF_WIPE_LISTED:
                return "listed";
        case LF_WIPE_ALL:
                return "all";
        default:
                return "unset";
        }
}

static void disk_policy_clear(lf_disk_policy *p) {
        strv_free(p->wipe_disks);
}

static void node_clear(lf_node *n) {
        free(n->name);
        for (size_t i = 0; n->bonds && i < n->n_bonds; i++) {
                free(n->bonds[i].name);
                free(n->bonds[i].mode);
                strv_free(n->bonds[i].members);
        }
        free(n->bonds);
        for (size_t i = 0; n->sysctls && i < n->n_sysctls; i++) {
                free(n->sysctls[i].name);
                free(n->sysctls[i].value);
        }
        free(n->sysctls);
        disk_policy_clear(&n->disk_policy);
        free(n->bmc);
        free(n->bmc_user);
        free(n->bmc_password_file);
}

void lf_manifest_free(lf_manifest *m) {
        if (!m)
                return;
        free(m->file);
        free(m->name);
        free(m->appliance_interface);
        for (size_t i = 0; m->nodes && i < m->n_nodes; i++)
                node_clear(&m->nodes[i]);
        free(m->nodes);
        for (size_t i = 0; m->links && i < m->n_links; i++) {
                free(m->links[i].a.node);
                free(m->links[i].b.node);
        }
        free(m->links);
        for (size_t i = 0; m->role_sysctls && i < m->n_role_sysctls; i++) {
                free(m->role_sysctls[i].s.name);
                free(m->role_sysctls[i].s.value);
        }
        free(m->role_sysctls);
        disk_policy_clear(&m->disk_policy);
        free(m->policy.class_days_str);
        free(m->policy.balance_mode);
        for (size_t i = 0; m->templates && i < m->n_templates; i++) {
                free(m->templates[i].name);
                free(m->templates[i].image);
        }
        free(m->templates);
        free(m);
}

const lf_node *lf_manifest_find_node(const lf_manifest *m, const char *name) {
        for (size_t i = 0; name && i < m->n_nodes; i++)
                if (streq(m->nodes[i].name, name))
                        return &m->nodes[i];
        return NULL;
}

const lf_node *lf_manifest_find_mac(const lf_manifest *m, const char *mac) {
        char canon[LF_MAC_STR_LEN + 1];

        if (lf_mac_parse(mac, canon) < 0)
                return NULL;
        for (size_t i = 0; i < m->n_nodes; i++)
                if (streq(m->nodes[i].mac, canon))
                        return &m->nodes[i];
        return NULL;
}

const lf_template *lf_manifest_find_template(const lf_manifest *m, const char *name) {
        for (size_t i = 0; name && i < m->n_templates; i++)
                if (streq(m->templates[i].name, name))
                        return &m->templates[i];
        return NULL;
}

const lf_disk_policy *lf_manifest_disk_policy(const lf_manifest *m, const lf_node *n) {
        return n && n->disk_policy.wipe != LF_WIPE_UNSET ? &n->disk_policy : &m->disk_policy;
}

/* The loader: reads the validated document into an lf_manifest, collecting problems. */

typedef struct problem {
        long line;
        size_t seq;
        char *msg;
} problem;

/* What the checks across elements need to know about a node beyond lf_node. */
typedef struct node_extra {
        bool has_address;
        unsigned prefix; /* of address= as written; 0 when written without one */
} node_extra;

typedef struct loader {
        const char *file;
        lf_manifest *m;
        problem *problems;
        size_t n_problems;
        int error; /* -ENOMEM once an allocation failed */
        /* What the checks across elements need to point at or depend on. */
        const xmlNode *root, *appliance, *management, *storage;
        bool management_ok, storage_ok, appliance_ok, has_gateway;
        unsigned appliance_prefix; /* as written; 0 when written without one */
        node_extra *nodes;
} loader;

/* Takes msg (NULL after a failed allocation). */
static void add_problem(loader *l, long line, char *msg) {
        if (!msg) {
                l->error = -ENOMEM;
                return;
        }
        if (l->n_problems >= PROBLEMS_MAX) {
                free(msg);
                return;
        }
        if (l->n_problems % 16 == 0) {
                problem *p = realloc(l->problems, (l->n_problems + 16) * sizeof(problem));
                if (!p) {
                        free(msg);
                        l->error = -ENOMEM;
                        return;
                }
                l->problems = p;
        }
        l->problems[l->n_problems] = (problem){line, l->n_problems, msg};
        l->n_problems++;
}

static char *vformat(const char *fmt, va_list ap) _printf_(1, 0);
static char *vformat(const char *fmt, va_list ap) {
        char *s;
        return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

static void bad(loader *l, const xmlNode *n, const char *fmt, ...) _printf_(3, 4);
static void bad(loader *l, const xmlNode *n, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        add_problem(l, lf_xml_line(n), vformat(fmt, ap));
        va_end(ap);
}

/* A problem with one value, shown as it was written: <node mac="xyz">: ... for an attribute,
 * <min-interval>xyz</min-interval>: ... for an element's text (attr NULL). */
static void vbad_value(loader *l, const xmlNode *n, const char *attr, const char *v,
                       const char *fmt, va_list ap) _printf_(5, 0);
static void vbad_value(loader *l, const xmlNode *n, const char *attr, const char *v,
                       const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = vformat(fmt, ap);
        const char *el = (const char *)n->name, *more = v && strlen(v) > 40 ? "..." : "";
        char *full = NULL;
        int r;

        if (!msg) {
                l->error = -ENOMEM;
                return;
        }
        if (attr)
                r = asprintf(&full, "<%s %s=\"%.40s%s\">: %s", el, attr, v ? v : "", more, msg);
        else
                r = asprintf(&full, "<%s>%.40s%s</%s>: %s", el, v ? v : "", more, el, msg);
        add_problem(l, lf_xml_line(n), r < 0 ? NULL : full);
}

static void bad_value(loader *l, const xmlNode *n, const char *attr, const char *value,
                      const char *fmt, ...) _printf_(5, 6);
static void bad_value(loader *l, const xmlNode *n, const char *attr, const char *value,
                      const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vbad_value(l, n, attr, value, fmt, ap);
        va_end(ap);
}

static void bad_attr(loader *l, const xmlNode *n, const char *attr, const char *fmt, ...)
        _printf_(4, 5);
static void bad_attr(loader *l, const xmlNode *n, const char *attr, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vbad_value(l, n, attr, lf_xml_attr(n, attr), fmt, ap);
        va_end(ap);
}

static int problem_cmp(const void *a, const void *b) {
        const problem *x = a, *y = b;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hands the problems to diag in line order; returns -EINVAL when there were any. */
static int flush_problems(loader *l, lf_diag *diag) {
        size_t n = l->n_problems;

        if (n > 1)
                qsort(l->problems, n, sizeof(problem), problem_cmp);
        for (size_t i = 0; i < n; i++) {
                lf_diag_add(diag, l->file, l->problems[i].line, "%s", l->problems[i].msg);
                free(l->problems[i].msg);
        }
        free(l->problems);
        l->problems = NULL;
        l->n_problems = 0;
        return n > 0 ? -EINVAL : 0;
}

static char *dup_str(loader *l, const char *s) {
        char *d = s ? strdup(s) : NULL;
        if (s && !d)
                l->error = -ENOMEM;
        return d;
}

static void *alloc_array(loader *l, size_t n, size_t size) {
        void *p = calloc(n ? n : 1, size);
        if (!p)
                l->error = -ENOMEM;
        return p;
}

static size_t count_children(const xmlNode *n, const char *name) {
        size_t c = 0;
        for (const xmlNode *i = n->children; i; i = i->next)
                c += lf_xml_is(i, name);
        return c;
}

/* Reports the element beyond max, if any; true when there are too many. */
static bool too_many(loader *l, const xmlNode *parent, const char *name, size_t max) {
        size_t c = 0;
        for (const xmlNode *i = parent->children; i; i = i->next)
                if (lf_xml_is(i, name) && ++c > max) {
                        bad(l, i,
                            "more than %zu <%s> elements in <%s>; labforge reads at most "
                            "%zu",
                            max, name, (const char *)parent->name, max);
                        return true;
                }
        return false;
}

#define for_each_child(c, parent, name)                                                            \
        for (const xmlNode *c = (parent)->children; c; c = c->next)                                \
                if (lf_xml_is(c, name))

/* Value readers. Each leaves *ret untouched when the attribute is absent (so it keeps the
 * default put there before), and reports and returns false when the value is wrong. */

static bool read_uint(loader *l, const xmlNode *n, const char *attr, uint64_t min, uint64_t max,
                      const char *unit, uint64_t *ret) {
        const char *s = lf_xml_attr(n, attr);
        uint64_t v = 0;
        size_t len;

        if (!s)
                return true;
        len = strlen(s);
        bool ok = len > 0 && len <= 12 && strspn(s, "0123456789") == len;
        for (size_t i = 0; ok && i < len; i++)
                v = v * 10 + (uint64_t)(s[i] - '0');
        if (!ok || v < min || v > max) {
                bad_attr(l, n, attr, "use a whole number%s from %llu to %llu", unit,
                         (unsigned long long)min, (unsigned long long)max);
                return false;
        }
        *ret = v;
        return true;
}

static bool read_unsigned(loader *l, const xmlNode *n, const char *attr, unsigned lo, unsigned hi,
                          const char *unit, unsigned *ret) {
        uint64_t v = *ret;
        if (!read_uint(l, n, attr, lo, hi, unit, &v))
                return false;
        *ret = (unsigned)v;
        return true;
}

/* s is the value of attribute attr of n, or n's text when attr is NULL. */
static bool check_duration(loader *l, const xmlNode *n, const char *attr, const char *s,
                           bool allow_zero, uint64_t *ret) {
        uint64_t v;

        if (lf_parse_duration(s, &v) < 0) {
                bad_value(l, n, attr, s,
                          "not a duration; write a number and a unit (s, m, h or "
                          "d), like 30m or 5s");
                return false;
        }
        if (v == 0 && !allow_zero) {
                bad_value(l, n, attr, s, "must be longer than zero; write e.g. 30m");
                return false;
        }
        *ret = v;
        return true;
}

static bool read_duration(loader *l, const xmlNode *n, const char *attr, bool allow_zero,
                          uint64_t *ret) {
        const char *s = lf_xml_attr(n, attr);
        return !s || check_duration(l, n, attr, s, allow_zero, ret);
}

static bool read_clock(loader *l, const xmlNode *n, const char *attr, int *ret) {
        const char *s = lf_xml_attr(n, attr);
        if (s && lf_parse_clock(s, ret) < 0) {
                bad_attr(l, n, attr,
                         "not a time of day; write HH:MM on the 24-hour clock, like "
                         "08:00");
                return false;
        }
        return true;
}

/* A MAC for a NIC: six hex pairs, not multicast (odd first byte), not all zero. */
static const char *mac_problem(const char *s, char out[static LF_MAC_STR_LEN + 1]) {
        if (lf_mac_parse(s, out) < 0)
                return "not a MAC address; write six hex pairs separated by colons, like "
                       "52:54:00:12:34:56";
        if (strtoul(out, NULL, 16) & 1)
                return "a multicast MAC, which no NIC has; check the address";
        if (streq(out, "00:00:00:00:00:00"))
                return "the all-zero MAC, which no NIC has; check the address";
        return NULL;
}

static bool read_mac(loader *l, const xmlNode *n, const char *attr,
                     char ret[static LF_MAC_STR_LEN + 1]) {
        const char *why = mac_problem(lf_xml_attr(n, attr), ret);
        if (why)
                bad_attr(l, n, attr, "%s", why);
        return !why;
}

static bool read_subnet(loader *l, const xmlNode *n, const char *attr, unsigned max_prefix,
                        lf_cidr *ret) {
        const char *s = lf_xml_attr(n, attr);
        char net[32];
        lf_cidr c;

        if (!s || !strchr(s, '/') || lf_cidr_parse(s, false, &c) < 0) {
                bad_attr(l, n, attr, "not a subnet; write ADDRESS/PREFIX, like 192.168.50.0/24");
                return false;
        }
        if (c.prefix < 8 || c.prefix > max_prefix) {
                bad_attr(l, n, attr, "use a prefix from /8 to /%u", max_prefix);
                return false;
        }
        if (lf_cidr_network(c) != c.addr) {
                c.addr = lf_cidr_network(c);
                lf_cidr_format(c, net, sizeof(net));
                bad_attr(l, n, attr, "the address has host bits set; write %s", net);
                return false;
        }
        *ret = c;
        return true;
}

/* An address written bare or with a prefix (which the caller compares with the subnet's). */
static bool read_address(loader *l, const xmlNode *n, const char *attr, bool allow_prefix,
                         uint32_t *ret, unsigned *ret_prefix) {
        const char *s = lf_xml_attr(n, attr);
        lf_cidr c;

        if (!s)
                return true;
        if ((!allow_prefix && strchr(s, '/')) || lf_cidr_parse(s, true, &c) < 0) {
                bad_attr(l, n, attr, "not an IPv4 address; write it like 192.168.50.10%s",
                         allow_prefix ? " or 192.168.50.10/24" : "");
                return false;
        }
        *ret = c.addr;
        if (ret_prefix)
                *ret_prefix = strchr(s, '/') ? c.prefix : 0;
        return true;
}

/* Host names (node and lab names): what DNS, corosync and URLs all accept. */
static bool host_name_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;
        return n > 0 && n <= 63 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n &&
               s[0] != '-' && s[n - 1] != '-';
}

/* File-like names (templates, images): one path component. */
static bool file_name_ok(const char *s) {
        static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789._+-";
        size_t n = s ? strlen(s) : 0;
        return n > 0 && n <= 128 && s[0] != '.' && s[0] != '-' && strspn(s, allowed) == n;
}

/* Network interface names: at most 15 bytes (IFNAMSIZ), no '/', ':' or blanks. */
static bool ifname_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 15 || streq(s, ".") || streq(s, ".."))
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] == '/' || s[i] == ':' || !isgraph((unsigned char)s[i]))
                        return false;
        return true;
}

bool lf_manifest_name_valid(const char *s) {
        return host_name_ok(s);
}

static void check_name(loader *l, const xmlNode *n, const char *attr, const char *what) {
        if (!host_name_ok(lf_xml_attr(n, attr)))
                bad_attr(l, n, attr,
                         "not a valid %s; use lowercase letters, digits and '-' (at "
                         "most 63, not starting or ending with '-')",
                         what);
}

static void check_ifname(loader *l, const xmlNode *n, const char *attr) {
        if (!ifname_ok(lf_xml_attr(n, attr)))
                bad_attr(l, n, attr,
                         "not a network interface name; use at most 15 characters "
                         "without '/', ':' or spaces, like enp1s0");
}

/* Duplicate detection: every item is a key and where it was written; sorting brings equal keys
 * together, and each one after the first in the file is reported. */

typedef struct seen {
        char key[160];
        long line;
        size_t seq;
        const xmlNode *n;
        const char *attr;
} seen;

typedef struct seen_set {
        seen *v;
        size_t n;
} seen_set;

static void seen_add(loader *l, seen_set *s, const xmlNode *n, const char *attr, const char *fmt,
                     ...) _printf_(5, 6);
static void seen_add(loader *l, seen_set *s, const xmlNode *n, const char *attr, const char *fmt,
                     ...) {
        va_list ap;

        if (s->n % 64 == 0) {
                seen *v = realloc(s->v, (s->n + 64) * sizeof(seen));
                if (!v) {
                        l->error = -ENOMEM;
                        return;
                }
                s->v = v;
        }
        seen *i = &s->v[s->n];
        va_start(ap, fmt);
        vsnprintf(i->key, sizeof(i->key), fmt, ap);
        va_end(ap);
        i->line = lf_xml_line(n);
        i->seq = s->n++;
        i->n = n;
        i->attr = attr;
}

static int seen_cmp(const void *a, const void *b) {
        const seen *x = a, *y = b;
        int c = strcmp(x->key, y->key);
        if (c)
                return c;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void seen_report(loader *l, seen_set *s, const char *advice) {
        if (s->n > 1)
                qsort(s->v, s->n, sizeof(seen), seen_cmp);
        for (size_t i = 1, first = 0; i < s->n; i++) {
                if (!streq(s->v[i].key, s->v[first].key)) {
                        first = i;
                        continue;
                }
                bad_attr(l, s->v[i].n, s->v[i].attr, "%s is already given on line %ld; %s",
                         s->v[i].key, s->v[first].line, advice);
        }
        free(s->v);
        *s = (seen_set){};
}

/* Elements. */

static void load_sysctl(loader *l, const xmlNode *n, lf_sysctl *s) {
        const char *name = lf_xml_attr(n, "name"), *value = lf_xml_attr(n, "value");
        size_t nl = name ? strlen(name) : 0;

        s->line = lf_xml_line(n);
        s->name = dup_str(l, name);
        s->value = dup_str(l, value);
        if (nl == 0 || nl > 128 || !strchr(name, '.') || name[0] == '.' || name[0] == '/' ||
            strstr(name, "..") ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/") !=
                    nl)
                bad_attr(l, n, "name",
                         "not a sysctl name; write it dotted, like "
                         "net.core.rmem_max");
        bool printable = value && *value && strlen(value) <= 256;
        for (const char *p = value; printable && *p; p++)
                printable = *p == '\t' || (unsigned char)*p >= 0x20;
        if (!printable)
                bad_attr(l, n, "value",
                         "use 1 to 256 characters without line breaks, like "
                         "\"4096 87380 8388608\"");
}

static void load_disk_policy(loader *l, const xmlNode *n, lf_disk_policy *p) {
        const char *wipe = lf_xml_attr(n, "wipe");
        size_t i = 0;

        p->line = lf_xml_line(n);
        p->wipe = wipe && streq(wipe, "listed") ? LF_WIPE_LISTED
                  : wipe && streq(wipe, "all")  ? LF_WIPE_ALL
                                                : LF_WIPE_NEVER;
        if (too_many(l, n, "wipe", LF_MANIFEST_MAX_ITEMS))
                return;
        p->n_wipe_disks = count_children(n, "wipe");
        if (p->wipe == LF_WIPE_LISTED && p->n_wipe_disks == 0)
                bad_attr(l, n, "wipe",
                         "no disk is listed; add <wipe disk=\"SERIAL\"/> or <wipe "
                         "disk=\"/dev/disk/by-id/...\"/> children, or choose "
                         "wipe=\"never\" or wipe=\"all\"");
        if (p->wipe != LF_WIPE_LISTED && p->n_wipe_disks > 0)
                bad_attr(l, n, "wipe",
                         "<wipe> children only apply with wipe=\"listed\"; set "
                         "wipe=\"listed\" or remove them");
        p->wipe_disks = alloc_array(l, p->n_wipe_disks + 1, sizeof(char *));
        if (!p->wipe_disks)
                return;
        for_each_child(c, n, "wipe") {
                const char *d = lf_xml_attr(c, "disk");
                size_t len = d ? strlen(d) : 0;
                p->wipe_disks[i++] = dup_str(l, d);
                if (len == 0 || len > 256 || strcspn(d, " \t\r\n") != len)
                        bad_attr(l, c, "disk",
                                 "name the disk by its serial or its "
                                 "/dev/disk/by-id/ path");
                else if (d[0] == '/' && !strneq(d, "/dev/disk/by-id/", 16))
                        bad_attr(l, c, "disk",
                                 "kernel names such as /dev/sda change between "
                                 "boots; name the disk by its serial or its "
                                 "/dev/disk/by-id/ path");
        }
}

static void load_bond(loader *l, const xmlNode *n, size_t index, lf_bond *b) {
        const char *name = lf_xml_attr(n, "name");
        size_t i = 0;

        b->line = lf_xml_line(n);
        if (name) {
                b->name = dup_str(l, name);
                check_ifname(l, n, "name");
        } else if (asprintf(&b->name, "bond%zu", index) < 0) {
                b->name = NULL;
                l->error = -ENOMEM;
        }
        b->mode = dup_str(l, lf_xml_attr(n, "mode"));
        b->miimon = 100;
        read_unsigned(l, n, "miimon", 0, 60000, " of milliseconds", &b->miimon);
        if (too_many(l, n, "member", LF_MANIFEST_MAX_ITEMS))
                return;
        b->n_members = count_children(n, "member");
        b->members = alloc_array(l, b->n_members + 1, sizeof(char *));
        if (!b->members)
                return;
        for_each_child(c, n, "member") {
                char mac[LF_MAC_STR_LEN + 1] = "";
                read_mac(l, c, "mac", mac);
                b->members[i++] = dup_str(l, mac);
        }
}

static void load_bmc(loader *l, const xmlNode *n, lf_node *node) {
        const char *address = lf_xml_attr(n, "address"), *user = lf_xml_attr(n, "user");
        const char *pw = lf_xml_attr(n, "password-file");

        node->bmc = dup_str(l, address);
        node->bmc_user = dup_str(l, user);
        node->bmc_password_file = dup_str(l, pw);
        if (!address || !*address || strlen(address) > 253 ||
            strcspn(address, " \t\r\n/") != strlen(address))
                bad_attr(l, n, "address",
                         "write the BMC's host name or IP address, like "
                         "192.168.50.201");
        if (user && (!*user || strlen(user) > 64))
                bad_attr(l, n, "user", "use 1 to 64 characters");
        if (pw && (pw[0] != '/' || strlen(pw) > 4096))
                bad_attr(l, n, "password-file",
                         "write the absolute path of the file holding the "
                         "BMC password, like /etc/labforge/bmc.pw");
}

static void load_node(loader *l, const xmlNode *n, size_t index, lf_node *node, node_extra *x) {
        const char *role = lf_xml_attr(n, "role");
        size_t nb = 0, ns = 0;

        node->line = lf_xml_line(n);
        node->nodeid = (unsigned)index + 1;
        node->name = dup_str(l, lf_xml_attr(n, "name"));
        check_name(l, n, "name", "node name (it becomes the host name)");
        if (lf_role_parse(role, &node->roles) < 0)
                bad_attr(l, n, "role",
                         "not a role; use storage, kvm or login, or several joined "
                         "with '+', like login+storage");
        read_mac(l, n, "mac", node->mac);
        x->has_address = lf_xml_attr(n, "address") &&
                         read_address(l, n, "address", true, &node->address, &x->prefix);

        if (too_many(l, n, "bond", LF_MANIFEST_MAX_ITEMS) ||
            too_many(l, n, "sysctl", LF_MANIFEST_MAX_ITEMS))
                return;
        node->bonds = alloc_array(l, count_children(n, "bond"), sizeof(lf_bond));
        node->sysctls = alloc_array(l, count_children(n, "sysctl"), sizeof(lf_sysctl));
        if (!node->bonds || !node->sysctls)
                return;
        for (const xmlNode *c = n->children; c; c = c->next) {
                if (lf_xml_is(c, "bond")) {
                        load_bond(l, c, nb, &node->bonds[nb]);
                        node->n_bonds = ++nb;
                } else if (lf_xml_is(c, "sysctl")) {
                        load_sysctl(l, c, &node->sysctls[ns]);
                        node->n_sysctls = ++ns;
                } else if (lf_xml_is(c, "disk-policy"))
                        load_disk_policy(l, c, &node->disk_policy);
                else if (lf_xml_is(c, "bmc"))
                        load_bmc(l, c, node);
        }
}

/* "NODE:MAC" */
static void load_link_end(loader *l, const xmlNode *n, const char *attr, lf_link_end *e) {
        const char *v = lf_xml_attr(n, attr), *colon = v ? strchr(v, ':') : NULL, *why;

        if (!colon || colon == v) {
                bad_attr(l, n, attr,
                         "write NODE:MAC, the node's name and the MAC of its NIC on "
                         "this link, like kvm1:52:54:00:00:02:11");
                return;
        }
        e->node = strndup(v, (size_t)(colon - v));
        if (!e->node)
                l->error = -ENOMEM;
        why = mac_problem(colon + 1, e->mac);
        if (why)
                bad_attr(l, n, attr, "%s is %s", colon + 1, why);
}

static void load_appliance(loader *l, const xmlNode *n) {
        lf_manifest *m = l->m;
        const char *dhcp = lf_xml_attr(n, "dhcp");

        l->appliance = n;
        m->appliance_interface = dup_str(l, lf_xml_attr(n, "interface"));
        check_ifname(l, n, "interface");
        l->appliance_ok = read_address(l, n, "address", true, &m->appliance_address.addr,
                                       &l->appliance_prefix);
        m->dhcp = dhcp && streq(dhcp, "full") ? LF_DHCP_FULL : LF_DHCP_PROXY;
        read_unsigned(l, n, "http-port", 1, 65535, "", &m->http_port);
}

static void load_network(loader *l, const xmlNode *n) {
        lf_manifest *m = l->m;

        for_each_child(c, n, "management") {
                l->management = c;
                l->management_ok = read_subnet(l, c, "subnet", 30, &m->management);
                l->has_gateway = lf_xml_attr(c, "gateway") &&
                                 read_address(l, c, "gateway", false, &m->gateway, NULL);
        }
        for_each_child(c, n, "storage-links") {
                l->storage = c;
                m->has_storage_links = true;
                l->storage_ok = read_subnet(l, c, "subnet", 31, &m->storage_links);
                read_unsigned(l, c, "mtu", 576, 9216, "", &m->storage_mtu);
        }
}

static void load_policy(loader *l, const xmlNode *n) {
        lf_policy *p = &l->m->policy;

        for (const xmlNode *c = n->children; c; c = c->next) {
                if (lf_xml_is(c, "class-hours")) {
                        const char *days = lf_xml_attr(c, "days");
                        if (days && lf_parse_days(days, &p->class_days) < 0)
                                bad_attr(l, c, "days",
                                         "not a set of weekdays; write e.g. mon-fri "
                                         "or mon,wed,fri");
                        else if (days) {
                                free(p->class_days_str);
                                p->class_days_str = dup_str(l, days);
                        }
                        bool ok = read_clock(l, c, "from", &p->class_from_min);
                        if (read_clock(l, c, "to", &p->class_to_min) && ok &&
                            p->class_from_min >= p->class_to_min)
                                bad(l, c,
                                    "<class-hours>: from must be earlier than to; write e.g. "
                                    "from=\"08:00\" to=\"18:00\"");
                } else if (lf_xml_is(c, "balance")) {
                        const char *mode = lf_xml_attr(c, "mode");
                        if (mode) {
                                free(p->balance_mode);
                                p->balance_mode = dup_str(l, mode);
                        }
                        read_duration(l, c, "interval", false, &p->balance_interval_s);
                } else if (lf_xml_is(c, "compute")) {
                        bool ok = read_unsigned(l, c, "high", 1, 100, " of percent", &p->cpu_high);
                        ok = read_unsigned(l, c, "low", 0, 99, " of percent", &p->cpu_low) && ok;
                        if (ok && p->cpu_low >= p->cpu_high)
                                bad(l, c,
                                    "<compute>: low (%u) must be below high (%u); write e.g. "
                                    "high=\"80\" low=\"30\"",
                                    p->cpu_low, p->cpu_high);
                        ok = read_duration(l, c, "sample", false, &p->cpu_sample_s);
                        ok = read_duration(l, c, "window", false, &p->cpu_window_s) && ok;
                        if (ok && p->cpu_window_s < p->cpu_sample_s)
                                bad(l, c,
                                    "<compute>: the window is shorter than one sample; make "
                                    "window at least as long as sample");
                } else if (lf_xml_is(c, "energy"))
                        read_unsigned(l, c, "reserve-vm-slots", 0, 100000, "",
                                      &p->reserve_vm_slots);
                else if (lf_xml_is(c, "min-interval")) {
                        _cleanup_xml_free_ xmlChar *text = xmlNodeGetContent(c);
                        char *s = (char *)text;
                        if (!s) {
                                l->error = -ENOMEM;
                                continue;
                        }
                        s += strspn(s, " \t\r\n");
                        size_t len = strlen(s);
                        while (len > 0 && strchr(" \t\r\n", s[len - 1]))
                                s[--len] = 0;
                        check_duration(l, c, NULL, s, false, &p->min_interval_s);
                } else if (lf_xml_is(c, "boot")) {
                        read_duration(l, c, "stagger", true, &p->boot_stagger_s);
                        read_unsigned(l, c, "batch", 1, 10000, "", &p->boot_batch);
                }
        }
}

static void load_template(loader *l, const xmlNode *n, lf_template *t) {
        t->line = lf_xml_line(n);
        t->name = dup_str(l, lf_xml_attr(n, "name"));
        t->image = dup_str(l, lf_xml_attr(n, "image"));
        if (!file_name_ok(t->name))
                bad_attr(l, n, "name",
                         "use letters, digits, '.', '_', '+' and '-' (at most 128, "
                         "not starting with '.' or '-')");
        if (!file_name_ok(t->image))
                bad_attr(l, n, "image",
                         "name a file in the appliance's image directory, like "
                         "win-lab.raw (no '/', not starting with '.' or '-')");
        read_uint(l, n, "memory", 1, 4u << 20, " of MiB", &t->memory_mb);
        read_unsigned(l, n, "vcpus", 1, 1024, "", &t->vcpus);
}

/* Checks across elements. */

/* Whether address a (attribute attr of n) is a host address in the management subnet. */
static void check_in_management(loader *l, const xmlNode *n, const char *attr, uint32_t a) {
        lf_cidr mg = l->m->management;
        uint32_t net = lf_cidr_network(mg), bcast = net | ~lf_cidr_mask(mg.prefix);
        char s[32];

        lf_cidr_format(mg, s, sizeof(s));
        if (!lf_cidr_contains(mg, a))
                bad_attr(l, n, attr,
                         "not inside the management subnet %s; use an address of "
                         "that subnet",
                         s);
        else if (a == net)
                bad_attr(l, n, attr, "this is the network address of %s; use a host address", s);
        else if (a == bcast)
                bad_attr(l, n, attr, "this is the broadcast address of %s; use a host address", s);
}

static void check_dhcp_range(loader *l) {
        lf_manifest *m = l->m;
        const xmlNode *n = lf_xml_attr(l->appliance, "dhcp-range") ? l->appliance : NULL;
        uint32_t net = lf_cidr_network(m->management);
        uint64_t size = lf_cidr_size(m->management);

        if (m->dhcp != LF_DHCP_FULL) {
                if (n)
                        bad_attr(l, n, "dhcp-range",
                                 "only used with dhcp=\"full\"; remove it or "
                                 "set dhcp=\"full\"");
                return;
        }
        if (!n) {
                m->dhcp_range_first = net + (uint32_t)(size / 2);
                m->dhcp_range_last = net + (uint32_t)(size - 2);
                return;
        }

        const char *v = lf_xml_attr(n, "dhcp-range"), *dash = strchr(v, '-');
        char first[32] = "";
        if (dash && (size_t)(dash - v) < sizeof(first))
                memcpy(first, v, (size_t)(dash - v));
        if (!dash || lf_ipv4_parse(first, &m->dhcp_range_first) < 0 ||
            lf_ipv4_parse(dash + 1, &m->dhcp_range_last) < 0) {
                bad_attr(l, n, "dhcp-range",
                         "write FIRST-LAST, like "
                         "192.168.50.100-192.168.50.199");
                return;
        }
        size_t before = l->n_problems;
        check_in_management(l, n, "dhcp-range", m->dhcp_range_first);
        if (l->n_problems == before)
                check_in_management(l, n, "dhcp-range", m->dhcp_range_last);
        if (l->n_problems == before && m->dhcp_range_first > m->dhcp_range_last)
                bad_attr(l, n, "dhcp-range",
                         "the first address is after the last; write the "
                         "lower address first");
}

static void check_network(loader *l) {
        lf_manifest *m = l->m;
        char s[32];

        bool both = l->management_ok && l->storage_ok;
        if (both && lf_cidr_overlap(m->management, m->storage_links)) {
                lf_cidr_format(m->management, s, sizeof(s));
                bad_attr(l, l->storage, "subnet",
                         "overlaps the management subnet %s; use a "
                         "separate range, like 10.10.0.0/16",
                         s);
        }
        if (l->storage_ok && 2 * (uint64_t)m->n_links > lf_cidr_size(m->storage_links)) {
                unsigned p = 31;
                while (p > 0 && (1ull << (32 - p)) < 2 * (uint64_t)m->n_links)
                        p--;
                uint64_t room = lf_cidr_size(m->storage_links) / 2;
                bad_attr(l, l->storage, "subnet",
                         "room for %llu %s (one /31 each) but the manifest has %zu; use a /%u or "
                         "larger",
                         (unsigned long long)room, room == 1 ? "link" : "links", m->n_links, p);
        }
        if (!l->management_ok)
                return;

        if (l->appliance_ok) {
                check_in_management(l, l->appliance, "address", m->appliance_address.addr);
                if (l->appliance_prefix && l->appliance_prefix != m->management.prefix) {
                        lf_cidr c = {m->appliance_address.addr, m->management.prefix};
                        lf_cidr_format(c, s, sizeof(s));
                        bad_attr(l, l->appliance, "address",
                                 "the prefix differs from the "
                                 "management subnet's; write %s",
                                 s);
                }
                m->appliance_address.prefix = m->management.prefix;
        }
        if (l->has_gateway)
                check_in_management(l, l->management, "gateway", m->gateway);
        check_dhcp_range(l);

        /* Every static address once: nodes, the appliance, and a gateway that is not it. */
        seen_set addrs = {};
        if (l->appliance_ok) {
                lf_ipv4_format(m->appliance_address.addr, s, sizeof(s));
                seen_add(l, &addrs, l->appliance, "address", "address %s", s);
        }
        if (l->has_gateway && m->gateway != m->appliance_address.addr) {
                lf_ipv4_format(m->gateway, s, sizeof(s));
                seen_add(l, &addrs, l->management, "gateway", "address %s", s);
        }
        size_t i = 0;
        for_each_child(c, l->root, "node") {
                const lf_node *node = &m->nodes[i];
                const node_extra *x = &l->nodes[i++];
                if (!x->has_address)
                        continue;
                if (x->prefix && x->prefix != m->management.prefix)
                        bad_attr(l, c, "address",
                                 "the prefix differs from the management "
                                 "subnet's /%u; leave it out",
                                 m->management.prefix);
                check_in_management(l, c, "address", node->address);
                lf_ipv4_format(node->address, s, sizeof(s));
                seen_add(l, &addrs, c, "address", "address %s", s);
        }
        seen_report(l, &addrs,
                    "give each node its own address, different from the appliance's "
                    "and the gateway's");
}

static void check_links(loader *l) {
        lf_manifest *m = l->m;
        size_t i = 0;

        for_each_child(c, l->root, "link") {
                lf_link *k = &m->links[i++];
                const lf_node *a = lf_manifest_find_node(m, k->a.node);
                const lf_node *b = lf_manifest_find_node(m, k->b.node);

                if (i == 1 && !m->has_storage_links)
                        bad(l, c,
                            "<link>: there is no <storage-links subnet=\"...\"/> in "
                            "<network> to take the link's addresses from; add one, like "
                            "<storage-links subnet=\"10.10.0.0/16\"/>");
                if (k->a.node && !a)
                        bad_attr(l, c, "a", "there is no node named '%s'; add it or fix the name",
                                 k->a.node);
                if (k->b.node && !b)
                        bad_attr(l, c, "b", "there is no node named '%s'; add it or fix the name",
                                 k->b.node);
                /* A node whose role= is wrong (reported already) says nothing about links. */
                if (!a || !b || !a->roles || !b->roles)
                        continue;
                bool sa = a->roles & LF_ROLE_STORAGE, sb = b->roles & LF_ROLE_STORAGE;
                if (a == b)
                        bad(l, c,
                            "<link>: joins %s to itself; a storage link runs between a "
                            "storage node and one other node",
                            a->name);
                else if (sa == sb)
                        bad(l, c,
                            "<link>: joins %s and %s, %s; a storage link runs between a "
                            "storage node and one other node",
                            a->name, b->name,
                            sa ? "both storage nodes" : "neither of them storage");
                else if (sb) {
                        lf_link_end t = k->a;
                        k->a = k->b;
                        k->b = t;
                }
        }
}

/* MACs, node names, template names, bond names and sysctls: each once where it must be. */
static void check_unique(loader *l) {
        lf_manifest *m = l->m;
        const xmlNode *root = l->root;
        seen_set macs = {}, names = {}, templates = {}, sysctls = {};
        size_t i = 0;

        for_each_child(c, root, "node") {
                const lf_node *node = &m->nodes[i++];
                seen_set bonds = {}, own = {};
                bool pxe_bonded = false;
                size_t b = 0;

                seen_add(l, &names, c, "name", "name %s", node->name ? node->name : "");
                if (node->mac[0])
                        seen_add(l, &macs, c, "mac", "MAC %s", node->mac);
                /* Fewer loaded than written when a node has too many (reported already). */
                for_each_child(bc, c, "bond") {
                        if (b >= node->n_bonds)
                                break;
                        const lf_bond *bond = &node->bonds[b++];
                        seen_add(l, &bonds, bc, "name", "bond name %s", bond->name);
                        size_t k = 0;
                        for_each_child(mc, bc, "member") {
                                if (k >= bond->n_members || !bond->members)
                                        break;
                                const char *mac = bond->members[k++];
                                /* The NIC a node PXE-boots from may be in one of its bonds
                                 * (management over LACP), once. */
                                if (!pxe_bonded && mac && streq(mac, node->mac)) {
                                        pxe_bonded = true;
                                        continue;
                                }
                                if (mac && mac[0])
                                        seen_add(l, &macs, mc, "mac", "MAC %s", mac);
                        }
                }
                for_each_child(sc, c, "sysctl")
                        seen_add(l, &own, sc, "name", "sysctl %s", lf_xml_attr(sc, "name"));
                seen_report(l, &bonds,
                            "give each bond of a node its own name (one without "
                            "name= is bondN, N counting its node's bonds "
                            "from 0)");
                seen_report(l, &own, "set each sysctl once per node");
        }
        i = 0;
        for_each_child(c, root, "link") {
                const lf_link *k = &m->links[i++];
                if (k->a.mac[0])
                        seen_add(l, &macs, c, "a", "MAC %s", k->a.mac);
                if (k->b.mac[0])
                        seen_add(l, &macs, c, "b", "MAC %s", k->b.mac);
        }
        i = 0;
        for_each_child(c, root, "template")
                seen_add(l, &templates, c, "name", "name %s", m->templates[i++].name);
        i = 0;
        for_each_child(c, root, "sysctl") {
                const lf_role_sysctl *rs = &m->role_sysctls[i++];
                for (size_t r = 0; r < ELEMENTSOF(role_names); r++)
                        if (rs->roles & role_names[r].role)
                                seen_add(l, &sysctls, c, "name", "sysctl %s for role %s",
                                         rs->s.name, role_names[r].name);
        }
        seen_report(l, &names, "give each node its own name");
        seen_report(l, &macs,
                    "each NIC appears once in the manifest, as a node's mac, a link end "
                    "or a bond member (a node's mac may also be in one of its bonds)");
        seen_report(l, &templates, "give each template its own name");
        seen_report(l, &sysctls, "set each sysctl once per role");
}

static void load_role_sysctl(loader *l, const xmlNode *n, lf_role_sysctl *rs) {
        const char *role = lf_xml_attr(n, "role");

        rs->roles = LF_ROLE_ALL;
        if (role && lf_role_parse(role, &rs->roles) < 0)
                bad_attr(l, n, "role",
                         "not a role; use storage, kvm or login, or several joined "
                         "with '+', like kvm+storage (or leave role out for all)");
        load_sysctl(l, n, &rs->s);
}

static void load_lab(loader *l, const xmlNode *root) {
        lf_manifest *m = l->m;
        size_t nn = 0, nl = 0, nt = 0, ns = 0;

        l->root = root;
        m->line = lf_xml_line(root);
        m->name = dup_str(l, lf_xml_attr(root, "name"));
        check_name(l, root, "name", "lab name");

        if (too_many(l, root, "node", LF_MANIFEST_MAX_NODES) ||
            too_many(l, root, "link", LF_MANIFEST_MAX_ITEMS) ||
            too_many(l, root, "template", LF_MANIFEST_MAX_ITEMS) ||
            too_many(l, root, "sysctl", LF_MANIFEST_MAX_ITEMS))
                return;
        m->nodes = alloc_array(l, count_children(root, "node"), sizeof(lf_node));
        m->links = alloc_array(l, count_children(root, "link"), sizeof(lf_link));
        m->templates = alloc_array(l, count_children(root, "template"), sizeof(lf_template));
        m->role_sysctls = alloc_array(l, count_children(root, "sysctl"), sizeof(lf_role_sysctl));
        l->nodes = alloc_array(l, count_children(root, "node"), sizeof(node_extra));
        if (l->error)
                return;

        for (const xmlNode *c = root->children; c; c = c->next) {
                if (lf_xml_is(c, "appliance"))
                        load_appliance(l, c);
                else if (lf_xml_is(c, "network"))
                        load_network(l, c);
                else if (lf_xml_is(c, "node")) {
                        load_node(l, c, nn, &m->nodes[nn], &l->nodes[nn]);
                        m->n_nodes = ++nn;
                } else if (lf_xml_is(c, "link")) {
                        m->links[nl].line = lf_xml_line(c);
                        load_link_end(l, c, "a", &m->links[nl].a);
                        load_link_end(l, c, "b", &m->links[nl].b);
                        m->n_links = ++nl;
                } else if (lf_xml_is(c, "sysctl")) {
                        load_role_sysctl(l, c, &m->role_sysctls[ns]);
                        m->n_role_sysctls = ++ns;
                } else if (lf_xml_is(c, "disk-policy"))
                        load_disk_policy(l, c, &m->disk_policy);
                else if (lf_xml_is(c, "policy"))
                        load_policy(l, c);
                else if (lf_xml_is(c, "template")) {
                        load_template(l, c, &m->templates[nt]);
                        m->n_templates = ++nt;
                }
        }
        /* The schema guarantees <appliance> and <network>; without them there is nothing to
         * check across elements. */
        if (l->error || !l->appliance || !l->management)
                return;
        check_unique(l);
        check_links(l);
        check_network(l);
}

static lf_manifest *manifest_new(const char *file) {
        _cleanup_manifest_ lf_manifest *m = calloc(1, sizeof(lf_manifest));

        if (!m)
                return NULL;
        m->file = strdup(file);
        m->dhcp = LF_DHCP_PROXY;
        m->http_port = 8180;
        m->storage_mtu = 9000;
        m->disk_policy.wipe = LF_WIPE_NEVER;
        m->policy = (lf_policy){
                .class_days = 0x1f, /* mon-fri */
                .class_days_str = strdup("mon-fri"),
                .class_from_min = 8 * 60,
                .class_to_min = 18 * 60,
                .balance_mode = strdup("memory"),
                .balance_interval_s = 3600,
                .cpu_high = 80,
                .cpu_low = 30,
                .cpu_sample_s = 60,
                .cpu_window_s = 600,
                .reserve_vm_slots = 18,
                .min_interval_s = 1800,
                .boot_stagger_s = 5,
                .boot_batch = 1,
        };
        if (!m->file || !m->policy.class_days_str || !m->policy.balance_mode)
                return NULL;
        return TAKE_PTR(m);
}

int lf_manifest_load_buffer(const char *name, const char *buf, size_t len, lf_diag *diag,
                            lf_manifest **ret) {
        _cleanup_xml_doc_ xmlDoc *doc = NULL;
        _cleanup_manifest_ lf_manifest *m = NULL;
        loader l = {.file = name};
        int r;

        r = lf_xml_parse(name, buf, len, diag, &doc);
        if (r < 0)
                return r;
        r = lf_xml_validate(name, doc, lf_schema_lab, diag);
        if (r < 0)
                return r;

        m = manifest_new(name);
        if (!m)
                return -ENOMEM;
        l.m = m;
        load_lab(&l, xmlDocGetRootElement(doc));
        free(l.nodes);
        r = flush_problems(&l, diag);
        if (l.error < 0)
                return l.error;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int lf_manifest_load(const char *path, lf_diag *diag, lf_manifest **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        r = lf_read_file(path, LF_XML_MAX_BYTES, diag, &buf, &len);
        if (r < 0)
                return r;
        return lf_manifest_load_buffer(path, buf, len, diag, ret);
}

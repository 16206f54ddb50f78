/* node.conf parsing and its check against the manifest; see config.h. */
#include <string.h>

#include "config.h"
#include "fileio.h"
#include "net.h"

void lf_node_conf_free(lf_node_conf *c) {
        if (!c)
                return;
        free(c->file);
        free(c->node);
        free(c->manifest);
        free(c->libvirt_uri);
        free(c->corosync_conf);
        free(c->authkey);
        free(c->power_off_command);
        free(c);
}

typedef enum key {
        KEY_NODE,
        KEY_ROLE,
        KEY_NODEID,
        KEY_MANIFEST,
        KEY_LIBVIRT_URI,
        KEY_COROSYNC_CONF,
        KEY_AUTHKEY,
        KEY_BIND_ADDRESS,
        KEY_POWER_OFF_COMMAND,
        _KEY_MAX,
} key;

static const char *const key_names[_KEY_MAX] = {
        [KEY_NODE] = "node",
        [KEY_ROLE] = "role",
        [KEY_NODEID] = "nodeid",
        [KEY_MANIFEST] = "manifest",
        [KEY_LIBVIRT_URI] = "libvirt_uri",
        [KEY_COROSYNC_CONF] = "corosync_conf",
        [KEY_AUTHKEY] = "authkey",
        [KEY_BIND_ADDRESS] = "bind_address",
        [KEY_POWER_OFF_COMMAND] = "power_off_command",
};

static char **path_field(lf_node_conf *c, key k) {
        switch (k) {
        case KEY_MANIFEST:
                return &c->manifest;
        case KEY_COROSYNC_CONF:
                return &c->corosync_conf;
        case KEY_AUTHKEY:
                return &c->authkey;
        case KEY_POWER_OFF_COMMAND:
                return &c->power_off_command;
        default:
                return NULL;
        }
}

/* Stores one value; problems are reported against line `ln`. */
static int set_value(lf_node_conf *c, key k, const char *v, long ln, lf_diag *d) {
        const char *f = c->file;
        char **path = path_field(c, k);
        long id;
        char *end;

        if (path) {
                if (v[0] != '/')
                        return lf_diag_add(d, f, ln, "%s: write an absolute path, not '%s'",
                                           key_names[k], v);
                return (*path = strdup(v)) ? 0 : -ENOMEM;
        }
        switch (k) {
        case KEY_NODE:
                if (!lf_manifest_name_valid(v))
                        return lf_diag_add(d, f, ln,
                                           "node: '%s' is not a node name; write the name the "
                                           "manifest gives this node (lowercase letters, "
                                           "digits and '-')",
                                           v);
                c->node_line = ln;
                return (c->node = strdup(v)) ? 0 : -ENOMEM;
        case KEY_ROLE:
                if (lf_role_parse(v, &c->roles) < 0)
                        return lf_diag_add(d, f, ln,
                                           "role: '%s' is not a role set; write storage, kvm, "
                                           "login or several joined with '+'",
                                           v);
                c->role_line = ln;
                return 0;
        case KEY_NODEID:
                errno = 0;
                id = strtol(v, &end, 10);
                if (errno || *end || end == v || v[0] == '+' || v[0] == '-' || id < 1 ||
                    id > UINT32_MAX / 2)
                        return lf_diag_add(d, f, ln,
                                           "nodeid: '%s' is not a cluster node id; write a "
                                           "positive integer",
                                           v);
                c->nodeid = (unsigned)id;
                c->nodeid_line = ln;
                return 0;
        case KEY_LIBVIRT_URI:
                if (strcspn(v, " \t") != strlen(v))
                        return lf_diag_add(d, f, ln, "libvirt_uri: '%s' has blanks", v);
                return (c->libvirt_uri = strdup(v)) ? 0 : -ENOMEM;
        case KEY_BIND_ADDRESS:
                if (lf_ipv4_parse(v, &c->bind_address) < 0)
                        return lf_diag_add(d, f, ln,
                                           "bind_address: '%s' is not an IPv4 address; write "
                                           "it like 192.168.50.10",
                                           v);
                c->has_bind_address = true;
                c->bind_address_line = ln;
                return 0;
        default:
                return -EINVAL; /* unreachable: paths are handled above */
        }
}

static int parse_line(lf_node_conf *c, char *s, long ln, long *seen, lf_diag *d) {
        char *eq, *k, *v, *e;

        while (*s == ' ' || *s == '\t')
                s++;
        if (!*s || *s == '#')
                return 0;
        eq = strchr(s, '=');
        if (!eq)
                return lf_diag_add(d, c->file, ln, "expected 'key = value', got '%s'", s);
        for (e = eq; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
                ;
        *e = 0;
        k = s;
        for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
                ;
        for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
                ;
        *e = 0;

        for (int i = 0; i < _KEY_MAX; i++) {
                if (!streq(k, key_names[i]))
                        continue;
                if (seen[i])
                        return lf_diag_add(d, c->file, ln, "%s is set twice (first on line %ld)", k,
                                           seen[i]);
                seen[i] = ln;
                if (!*v)
                        return lf_diag_add(d, c->file, ln, "%s has no value", k);
                if (strlen(v) > LF_NODE_CONF_MAX_VALUE)
                        return lf_diag_add(d, c->file, ln, "%s: longer than %d bytes", k,
                                           LF_NODE_CONF_MAX_VALUE);
                return set_value(c, i, v, ln, d);
        }
        return lf_diag_add(d, c->file, ln,
                           "unknown key '%s'; node.conf knows node, role, nodeid, manifest, "
                           "libvirt_uri, corosync_conf, authkey, bind_address and "
                           "power_off_command",
                           k);
}

static int set_default(char **field, const char *value) {
        if (*field)
                return 0;
        return (*field = strdup(value)) ? 0 : -ENOMEM;
}

int lf_node_conf_parse(const char *name, const char *buf, size_t len, lf_diag *diag,
                       lf_node_conf **ret) {
        _cleanup_node_conf_ lf_node_conf *c = calloc(1, sizeof(*c));
        long seen[_KEY_MAX] = {};
        size_t errors = diag->n;
        long ln = 0;
        int r = 0;

        if (!c || !(c->file = strdup(name)))
                return -ENOMEM;
        if (memchr(buf, 0, len))
                return lf_diag_add(diag, name, 0, "contains a NUL byte; it is not a text file");
        for (size_t off = 0; off < len;) {
                const char *nl = memchr(buf + off, '\n', len - off);
                size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;
                _cleanup_free_ char *line = NULL;

                ln++;
                if (n > LF_NODE_CONF_MAX_VALUE + 64) {
                        lf_diag_add(diag, name, ln, "line longer than %d bytes",
                                    LF_NODE_CONF_MAX_VALUE + 64);
                } else {
                        if (!(line = strndup(buf + off, n)))
                                return -ENOMEM;
                        if (n > 0 && line[n - 1] == '\r')
                                line[n - 1] = 0;
                        r = parse_line(c, line, ln, seen, diag);
                        if (r == -ENOMEM)
                                return r;
                }
                off += n + 1;
        }
        if (!c->node)
                lf_diag_add(diag, name, 0,
                            "no 'node = NAME' line; name this node as the "
                            "manifest does");
        if (!c->manifest)
                lf_diag_add(diag, name, 0,
                            "no 'manifest = PATH' line; labforged needs the lab manifest to "
                            "know the cluster's nodes");
        if (diag->n > errors)
                return -EINVAL;
        if (set_default(&c->libvirt_uri, LF_NODE_CONF_DEFAULT_LIBVIRT_URI) < 0 ||
            set_default(&c->corosync_conf, LF_NODE_CONF_DEFAULT_COROSYNC_CONF) < 0 ||
            set_default(&c->authkey, LF_NODE_CONF_DEFAULT_AUTHKEY) < 0 ||
            set_default(&c->power_off_command, LF_NODE_CONF_DEFAULT_POWER_OFF) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

int lf_node_conf_load(const char *path, lf_diag *diag, lf_node_conf **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = lf_read_file(path, LF_NODE_CONF_MAX_BYTES, diag, &buf, &len);
        if (r < 0)
                return r;
        return lf_node_conf_parse(path, buf, len, diag, ret);
}

int lf_node_conf_check(const lf_node_conf *c, const lf_manifest *m, lf_diag *diag,
                       const lf_node **ret_node) {
        const lf_node *n = lf_manifest_find_node(m, c->node);
        char want[64], got[64];
        int r = 0;

        if (!n)
                return lf_diag_add(diag, c->file, c->node_line,
                                   "node '%s' is not in the manifest %s; name this node as "
                                   "the manifest does",
                                   c->node, m->file);
        if (c->roles && c->roles != n->roles) {
                lf_roles_format(n->roles, want, sizeof(want));
                lf_roles_format(c->roles, got, sizeof(got));
                r = lf_diag_add(diag, c->file, c->role_line,
                                "role: '%s', but the manifest %s gives node '%s' the role '%s'; "
                                "reinstall the node or correct this line",
                                got, m->file, n->name, want);
        }
        if (c->nodeid && c->nodeid != n->nodeid)
                r = lf_diag_add(diag, c->file, c->nodeid_line,
                                "nodeid: %u, but node '%s' is node %u of the manifest %s, and "
                                "every node takes the corosync node ids from the manifest; "
                                "correct this line",
                                c->nodeid, n->name, n->nodeid, m->file);
        if (c->has_bind_address && n->address && c->bind_address != n->address) {
                lf_ipv4_format(n->address, want, sizeof(want));
                lf_ipv4_format(c->bind_address, got, sizeof(got));
                r = lf_diag_add(diag, c->file, c->bind_address_line,
                                "bind_address: %s, but the manifest %s gives node '%s' the "
                                "address %s, where the other nodes reach it; correct this line "
                                "or the manifest",
                                got, m->file, n->name, want);
        }
        if (r < 0)
                return r;
        *ret_node = n;
        return 0;
}

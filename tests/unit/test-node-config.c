/* labforged's node.conf (roles/config.c): parsing, defaults, every refusal with its line, and
 * the check against the manifest. */
#include "../../roles/config.h"
#include "test.h"

static lf_node_conf *parse_ok(const char *text) {
        lf_node_conf *c = NULL;
        lf_diag d = {};
        int r = lf_node_conf_parse("node.conf", text, strlen(text), &d, &c);
        if (r < 0)
                lf_test_fail(__FILE__, __LINE__, "parse failed: %s", d.n ? d.msgs[0] : "?");
        lf_diag_clear(&d);
        return c;
}

/* Parses text that must be refused and returns every message, joined by newlines. */
static char *parse_bad(const char *text) {
        lf_node_conf *c = NULL;
        lf_diag d = {};
        char *all = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&all, &len);

        ASSERT_EQ(lf_node_conf_parse("node.conf", text, strlen(text), &d, &c), -EINVAL);
        ASSERT_TRUE(c == NULL);
        for (size_t i = 0; i < d.n; i++)
                fprintf(f, "%s\n", d.msgs[i]);
        fclose(f);
        lf_diag_clear(&d);
        return all;
}

TEST(parses_what_the_installer_writes) {
        _cleanup_node_conf_ lf_node_conf *c =
                parse_ok("# labforged's configuration (DESIGN §7), written by labforge-install\n"
                         "node = kvm1\nrole = kvm\nnodeid = 2\n"
                         "manifest = /etc/labforge/lab.xml\n"
                         "libvirt_uri = test:///default\n"
                         "corosync_conf = /etc/corosync/corosync.conf\n"
                         "authkey = /etc/corosync/authkey\n"
                         "bind_address = 192.168.50.11\n");

        ASSERT_STREQ(c->node, "kvm1");
        ASSERT_EQ(c->roles, LF_ROLE_KVM);
        ASSERT_EQ(c->nodeid, 2);
        ASSERT_STREQ(c->manifest, "/etc/labforge/lab.xml");
        ASSERT_STREQ(c->libvirt_uri, "test:///default");
        ASSERT_STREQ(c->corosync_conf, "/etc/corosync/corosync.conf");
        ASSERT_STREQ(c->authkey, "/etc/corosync/authkey");
        ASSERT_TRUE(c->has_bind_address);
        ASSERT_EQ(c->bind_address, (192u << 24) | (168u << 16) | (50u << 8) | 11u);
        ASSERT_EQ(c->bind_address_line, 9);
}

TEST(defaults_blanks_and_crlf) {
        _cleanup_node_conf_ lf_node_conf *c =
                parse_ok("\n   # indented comment\r\n\tnode=login  \r\n"
                         "manifest   =   /srv/lab file.xml\n  \n");

        ASSERT_STREQ(c->node, "login");
        ASSERT_STREQ(c->manifest, "/srv/lab file.xml"); /* inner blanks are part of the value */
        ASSERT_EQ(c->roles, 0);
        ASSERT_EQ(c->nodeid, 0);
        ASSERT_STREQ(c->libvirt_uri, "qemu:///system");
        ASSERT_STREQ(c->corosync_conf, "/etc/corosync/corosync.conf");
        ASSERT_STREQ(c->authkey, "/etc/corosync/authkey");
        ASSERT_STREQ(c->power_off_command, "/usr/bin/systemctl poweroff");
        ASSERT_TRUE(!c->has_bind_address);
}

TEST(power_off_command) {
        _cleanup_node_conf_ lf_node_conf *c = parse_ok("node = kvm1\nmanifest = /etc/lab.xml\n"
                                                       "power_off_command = /bin/kill -TERM 1\n");
        _cleanup_free_ char *m = parse_bad("node = kvm1\nmanifest = /etc/lab.xml\n"
                                           "power_off_command = poweroff\n");

        ASSERT_STREQ(c->power_off_command, "/bin/kill -TERM 1");
        ASSERT_CONTAINS(m, "node.conf:3: power_off_command: write an absolute path, not "
                           "'poweroff'\n");
}

TEST(refuses_with_line_numbers) {
        _cleanup_free_ char *m = parse_bad("node = kvm1\n"
                                           "manifest = lab.xml\n"
                                           "nodeid = 0\n"
                                           "colour = blue\n"
                                           "node = kvm2\n"
                                           "just words\n"
                                           "bind_address = 300.1.1.1\n"
                                           "role = kvm+kvm\n"
                                           "authkey =\n"
                                           "libvirt_uri = qemu:// system\n"
                                           "nodeid = 12x\n");

        ASSERT_CONTAINS(m, "node.conf:2: manifest: write an absolute path, not 'lab.xml'\n");
        ASSERT_CONTAINS(m, "node.conf:3: nodeid: '0' is not a cluster node id");
        ASSERT_CONTAINS(m, "node.conf:4: unknown key 'colour'; node.conf knows node, role,");
        ASSERT_CONTAINS(m, "node.conf:5: node is set twice (first on line 1)\n");
        ASSERT_CONTAINS(m, "node.conf:6: expected 'key = value', got 'just words'\n");
        ASSERT_CONTAINS(m, "node.conf:7: bind_address: '300.1.1.1' is not an IPv4 address");
        ASSERT_CONTAINS(m, "node.conf:8: role: 'kvm+kvm' is not a role set");
        ASSERT_CONTAINS(m, "node.conf:9: authkey has no value\n");
        ASSERT_CONTAINS(m, "node.conf:10: libvirt_uri: 'qemu:// system' has blanks\n");
        ASSERT_CONTAINS(m, "node.conf:11: nodeid is set twice (first on line 3)\n");
}

TEST(refuses_missing_required_keys_and_bad_names) {
        _cleanup_free_ char *empty = parse_bad("# nothing\n");
        _cleanup_free_ char *name = parse_bad("node = KVM_1\nmanifest = /m.xml\n");
        _cleanup_free_ char *nul = parse_bad("node = a\0b\nmanifest = /m.xml\n");

        ASSERT_CONTAINS(empty, "node.conf: no 'node = NAME' line;");
        ASSERT_CONTAINS(empty, "node.conf: no 'manifest = PATH' line;");
        ASSERT_CONTAINS(name, "node.conf:1: node: 'KVM_1' is not a node name;");
        /* strlen() stops at the NUL: the remaining text still lacks the manifest line. */
        ASSERT_CONTAINS(nul, "no 'manifest = PATH' line");
}

TEST(refuses_embedded_nul_and_overlong_lines) {
        static const char text[] = "node = kvm1\nmanifest = /a\0b\n";
        lf_node_conf *c = NULL;
        lf_diag d = {};
        size_t n = 5000;
        _cleanup_free_ char *longline = malloc(n + 64);

        ASSERT_EQ(lf_node_conf_parse("node.conf", text, sizeof(text) - 1, &d, &c), -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "contains a NUL byte");
        lf_diag_clear(&d);

        strcpy(longline, "node = kvm1\nmanifest = /");
        memset(longline + strlen(longline), 'a', n);
        longline[24 + n] = 0;
        ASSERT_EQ(lf_node_conf_parse("node.conf", longline, strlen(longline), &d, &c), -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "node.conf:2: line longer than");
        ASSERT_TRUE(c == NULL);
        lf_diag_clear(&d);
}

TEST(load_reports_missing_file) {
        lf_node_conf *c = NULL;
        lf_diag d = {};

        ASSERT_EQ(lf_node_conf_load("/nonexistent/node.conf", &d, &c), -ENOENT);
        ASSERT_CONTAINS(d.msgs[0], "/nonexistent/node.conf: cannot open");
        lf_diag_clear(&d);
}

static lf_manifest *room(void) {
        lf_manifest *m = NULL;
        lf_diag d = {};
        ASSERT_EQ(lf_manifest_load(lf_test_path("tests/fixtures/cluster/room.xml"), &d, &m), 0);
        return m;
}

TEST(check_against_manifest) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_node_conf_ lf_node_conf *ok =
                parse_ok("node = kvm2\nrole = kvm\nnodeid = 3\nmanifest = /m\nbind_address = "
                         "192.168.50.12\n");
        _cleanup_node_conf_ lf_node_conf *dhcp =
                parse_ok("node = kvm3\nmanifest = /m\nbind_address = 10.1.2.3\n");
        _cleanup_node_conf_ lf_node_conf *bad =
                parse_ok("node = kvm2\nrole = login\nnodeid = 1025\nmanifest = /m\n"
                         "bind_address = 192.168.50.99\n");
        _cleanup_node_conf_ lf_node_conf *stranger = parse_ok("node = kvm9\nmanifest = /m\n");
        const lf_node *n = NULL;
        lf_diag d = {};

        ASSERT_EQ(lf_node_conf_check(ok, m, &d, &n), 0);
        ASSERT_STREQ(n->name, "kvm2");
        /* A node without a static address in the manifest may name its own. */
        ASSERT_EQ(lf_node_conf_check(dhcp, m, &d, &n), 0);
        ASSERT_STREQ(n->name, "kvm3");
        ASSERT_EQ(d.n, 0);

        n = NULL;
        ASSERT_EQ(lf_node_conf_check(bad, m, &d, &n), -EINVAL);
        ASSERT_TRUE(n == NULL);
        ASSERT_EQ(d.n, 3);
        ASSERT_CONTAINS(d.msgs[0], "node.conf:2: role: 'login', but the manifest");
        ASSERT_CONTAINS(d.msgs[0], "gives node 'kvm2' the role 'kvm'");
        ASSERT_CONTAINS(d.msgs[1], "node.conf:3: nodeid: 1025, but node 'kvm2' is node 3 of");
        ASSERT_CONTAINS(d.msgs[2], "node.conf:5: bind_address: 192.168.50.99, but the manifest");
        ASSERT_CONTAINS(d.msgs[2], "the address 192.168.50.12");
        lf_diag_clear(&d);

        ASSERT_EQ(lf_node_conf_check(stranger, m, &d, &n), -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "node.conf:1: node 'kvm9' is not in the manifest");
        lf_diag_clear(&d);
}

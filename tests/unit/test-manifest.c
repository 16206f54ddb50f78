/* The lab manifest: every field of valid manifests and their defaults, and for each kind of bad
 * input the exact messages (file:line, what is wrong, what to do). Fixtures are in
 * tests/fixtures/manifest/; each bad-*.xml says in its first line what is wrong with it. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "manifest.h"
#include "test.h"
#include "xml.h"

#define FIXTURES "tests/fixtures/manifest/"

static lf_manifest *load_good(const char *name) {
        _cleanup_free_ char *buf = NULL;
        char path[256];
        lf_diag d = {};
        lf_manifest *m = NULL;

        snprintf(path, sizeof(path), FIXTURES "%s", name);
        buf = lf_test_read_file(path);
        int r = lf_manifest_load_buffer(name, buf, strlen(buf), &d, &m);
        if (r < 0)
                lf_test_fail(__FILE__, __LINE__, "%s refused (%d): %s", name, r,
                             d.n > 0 ? d.msgs[0] : "(no message)");
        ASSERT_EQ(d.n, 0);
        return m;
}

/* Loads a buffer that must be refused; checks the messages are exactly `want` (NULL-ended)
 * and that *ret was left alone. */
static void expect_refused_buffer(const char *name, const char *buf, size_t len,
                                  const char *const *want) {
        lf_manifest *sentinel = (lf_manifest *)(uintptr_t)0x5a5a, *m = sentinel;
        lf_diag d = {};
        size_t n = 0;

        ASSERT_EQ(lf_manifest_load_buffer(name, buf, len, &d, &m), -EINVAL);
        ASSERT_TRUE(m == sentinel);
        for (; want[n]; n++) {
                if (n >= d.n)
                        lf_test_fail(__FILE__, __LINE__, "%s: missing message: %s", name, want[n]);
                ASSERT_STREQ(d.msgs[n], want[n]);
        }
        if (d.n != n)
                lf_test_fail(__FILE__, __LINE__, "%s: unexpected message: %s", name, d.msgs[n]);
        lf_diag_clear(&d);
}

static void expect_refused(const char *name, const char *const *want) {
        _cleanup_free_ char *buf = NULL;
        char path[256];

        snprintf(path, sizeof(path), FIXTURES "%s", name);
        buf = lf_test_read_file(path);
        expect_refused_buffer(name, buf, strlen(buf), want);
}

#define EXPECT_REFUSED(name, ...) expect_refused(name, (const char *const[]){__VA_ARGS__, NULL})

static uint32_t ip(const char *s) {
        uint32_t a = 0;
        ASSERT_EQ(lf_ipv4_parse(s, &a), 0);
        return a;
}

TEST(example_room) {
        lf_diag d = {};
        _cleanup_manifest_ lf_manifest *m = NULL;

        ASSERT_EQ(lf_manifest_load(lf_test_path("examples/room-301/lab.xml"), &d, &m), 0);
        ASSERT_STREQ(m->name, "room-301");
        ASSERT_EQ(m->n_nodes, 4);
        ASSERT_STREQ(m->nodes[0].name, "store1");
        ASSERT_EQ(m->nodes[0].roles, LF_ROLE_STORAGE);
        ASSERT_STREQ(m->nodes[3].name, "login");
        ASSERT_EQ(m->nodes[3].nodeid, 4);
        ASSERT_EQ(m->n_links, 2);
        ASSERT_STREQ(m->links[1].a.node, "store1");
        ASSERT_STREQ(m->links[1].b.mac, "52:54:00:00:02:12");
        ASSERT_EQ(m->storage_links.addr, ip("10.10.0.0"));
        ASSERT_EQ(m->storage_links.prefix, 16);
        ASSERT_EQ(m->n_templates, 1);
        ASSERT_STREQ(m->templates[0].image, "win-lab.raw");
        ASSERT_EQ(m->policy.reserve_vm_slots, 18);
}

TEST(every_field) {
        _cleanup_manifest_ lf_manifest *m = load_good("full.xml");
        char roles[32];

        ASSERT_STREQ(m->file, "full.xml");
        ASSERT_STREQ(m->name, "room-full");
        ASSERT_EQ(m->line, 4);

        ASSERT_STREQ(m->appliance_interface, "enp1s0");
        ASSERT_EQ(m->appliance_address.addr, ip("10.0.0.1"));
        ASSERT_EQ(m->appliance_address.prefix, 24); /* written bare: the management prefix */
        ASSERT_EQ(m->dhcp, LF_DHCP_FULL);
        ASSERT_EQ(m->dhcp_range_first, ip("10.0.0.100"));
        ASSERT_EQ(m->dhcp_range_last, ip("10.0.0.199"));
        ASSERT_EQ(m->http_port, 8080);

        ASSERT_EQ(m->management.addr, ip("10.0.0.0"));
        ASSERT_EQ(m->management.prefix, 24);
        ASSERT_EQ(m->gateway, ip("10.0.0.254"));
        ASSERT_TRUE(m->has_storage_links);
        ASSERT_EQ(m->storage_links.addr, ip("172.16.0.0"));
        ASSERT_EQ(m->storage_links.prefix, 24);
        ASSERT_EQ(m->storage_mtu, 8000);

        ASSERT_EQ(m->n_nodes, 3);
        const lf_node *s = &m->nodes[0], *k1 = &m->nodes[1], *k2 = &m->nodes[2];
        ASSERT_STREQ(s->name, "store1");
        ASSERT_EQ(s->line, 14);
        ASSERT_EQ(s->nodeid, 1);
        ASSERT_EQ(s->roles, LF_ROLE_STORAGE | LF_ROLE_LOGIN);
        lf_roles_format(s->roles, roles, sizeof(roles));
        ASSERT_STREQ(roles, "login+storage");
        ASSERT_STREQ(s->mac, "52:54:00:00:01:0a"); /* dashes and capitals made canonical */
        ASSERT_EQ(s->address, ip("10.0.0.10"));
        ASSERT_EQ(s->disk_policy.wipe, LF_WIPE_LISTED);
        ASSERT_EQ(s->disk_policy.line, 15);
        ASSERT_EQ(s->disk_policy.n_wipe_disks, 2);
        ASSERT_STREQ(s->disk_policy.wipe_disks[0], "S3Z2NX0K123456");
        ASSERT_STREQ(s->disk_policy.wipe_disks[1], "/dev/disk/by-id/ata-ST2000DM008_ZFL0AAAA");
        ASSERT_TRUE(s->disk_policy.wipe_disks[2] == NULL);
        ASSERT_EQ(s->n_bonds, 1);
        ASSERT_STREQ(s->bonds[0].name, "bond0");
        ASSERT_STREQ(s->bonds[0].mode, "802.3ad");
        ASSERT_EQ(s->bonds[0].miimon, 200);
        ASSERT_EQ(s->bonds[0].n_members, 2);
        ASSERT_STREQ(s->bonds[0].members[1], "52:54:00:00:01:22");
        ASSERT_TRUE(s->bonds[0].members[2] == NULL);
        ASSERT_EQ(s->bonds[0].line, 19);
        ASSERT_STREQ(s->bmc, "10.0.0.210");
        ASSERT_STREQ(s->bmc_user, "admin");
        ASSERT_STREQ(s->bmc_password_file, "/etc/labforge/bmc.pw");
        ASSERT_EQ(s->n_sysctls, 0);

        ASSERT_STREQ(k1->name, "kvm1");
        ASSERT_EQ(k1->nodeid, 2);
        ASSERT_EQ(k1->roles, LF_ROLE_KVM);
        ASSERT_EQ(k1->address, 0);
        ASSERT_TRUE(k1->bmc == NULL);
        ASSERT_EQ(k1->disk_policy.wipe, LF_WIPE_UNSET);
        ASSERT_EQ(k1->n_bonds, 2);
        ASSERT_STREQ(k1->bonds[0].name, "bond-st");
        ASSERT_STREQ(k1->bonds[0].mode, "active-backup");
        ASSERT_EQ(k1->bonds[0].miimon, 100);
        ASSERT_STREQ(k1->bonds[1].name, "bond1");
        /* The PXE NIC in a bond of its own node: management over the bond. */
        ASSERT_STREQ(k1->bonds[1].members[0], k1->mac);
        ASSERT_EQ(k1->n_sysctls, 2);
        ASSERT_STREQ(k1->sysctls[0].name, "vm.swappiness");
        ASSERT_STREQ(k1->sysctls[0].value, "10");
        ASSERT_EQ(k1->sysctls[0].line, 26);
        ASSERT_STREQ(k1->sysctls[1].value, "4096 131072 16777216");
        ASSERT_EQ(k2->disk_policy.wipe, LF_WIPE_NEVER);

        /* The lab-wide policy applies where a node has none of its own. */
        ASSERT_EQ(m->disk_policy.wipe, LF_WIPE_ALL);
        ASSERT_TRUE(lf_manifest_disk_policy(m, s) == &s->disk_policy);
        ASSERT_TRUE(lf_manifest_disk_policy(m, k1) == &m->disk_policy);
        ASSERT_TRUE(lf_manifest_disk_policy(m, k2) == &k2->disk_policy);

        ASSERT_EQ(m->n_links, 2);
        /* Written kvm1 first; the storage end comes first after loading. */
        ASSERT_STREQ(m->links[0].a.node, "store1");
        ASSERT_STREQ(m->links[0].a.mac, "52:54:00:00:01:11");
        ASSERT_STREQ(m->links[0].b.node, "kvm1");
        ASSERT_STREQ(m->links[0].b.mac, "52:54:00:00:02:11");
        ASSERT_EQ(m->links[0].line, 40);
        ASSERT_STREQ(m->links[1].a.node, "store1");
        ASSERT_STREQ(m->links[1].b.node, "kvm2");

        ASSERT_EQ(m->n_role_sysctls, 2);
        ASSERT_EQ(m->role_sysctls[0].roles, LF_ROLE_STORAGE | LF_ROLE_KVM | LF_ROLE_LOGIN);
        ASSERT_STREQ(m->role_sysctls[0].s.name, "net.core.rmem_max");
        ASSERT_STREQ(m->role_sysctls[0].s.value, "16777216");
        ASSERT_EQ(m->role_sysctls[1].roles, LF_ROLE_KVM | LF_ROLE_STORAGE);
        ASSERT_EQ(m->role_sysctls[1].s.line, 43);

        const lf_policy *p = &m->policy;
        ASSERT_EQ(p->class_days, 0x1d); /* mon, wed, thu, fri */
        ASSERT_STREQ(p->class_days_str, "mon,wed-fri");
        ASSERT_EQ(p->class_from_min, 7 * 60 + 30);
        ASSERT_EQ(p->class_to_min, 16 * 60 + 45);
        ASSERT_STREQ(p->balance_mode, "compute");
        ASSERT_EQ(p->balance_interval_s, 7200);
        ASSERT_EQ(p->cpu_high, 90);
        ASSERT_EQ(p->cpu_low, 20);
        ASSERT_EQ(p->cpu_sample_s, 30);
        ASSERT_EQ(p->cpu_window_s, 300);
        ASSERT_EQ(p->reserve_vm_slots, 4);
        ASSERT_EQ(p->min_interval_s, 900);
        ASSERT_EQ(p->boot_stagger_s, 10);
        ASSERT_EQ(p->boot_batch, 2);

        ASSERT_EQ(m->n_templates, 2);
        ASSERT_STREQ(m->templates[0].name, "win-lab");
        ASSERT_STREQ(m->templates[0].image, "win-lab.raw");
        ASSERT_EQ(m->templates[0].memory_mb, 2048);
        ASSERT_EQ(m->templates[0].vcpus, 2);
        ASSERT_EQ(m->templates[0].line, 5);
        ASSERT_STREQ(m->templates[1].name, "linux-lab");
}

TEST(defaults) {
        _cleanup_manifest_ lf_manifest *m = load_good("minimal.xml");

        ASSERT_EQ(m->dhcp, LF_DHCP_PROXY);
        ASSERT_EQ(m->dhcp_range_first, 0);
        ASSERT_EQ(m->dhcp_range_last, 0);
        ASSERT_EQ(m->http_port, 8180);
        ASSERT_EQ(m->gateway, 0);
        ASSERT_TRUE(!m->has_storage_links);
        ASSERT_EQ(m->storage_mtu, 9000);
        ASSERT_EQ(m->n_links, 0);
        ASSERT_EQ(m->n_role_sysctls, 0);
        ASSERT_EQ(m->n_templates, 0);
        ASSERT_EQ(m->disk_policy.wipe, LF_WIPE_NEVER);
        ASSERT_EQ(m->disk_policy.n_wipe_disks, 0);
        ASSERT_TRUE(lf_manifest_disk_policy(m, &m->nodes[0]) == &m->disk_policy);

        const lf_policy *p = &m->policy;
        ASSERT_EQ(p->class_days, 0x1f);
        ASSERT_STREQ(p->class_days_str, "mon-fri");
        ASSERT_EQ(p->class_from_min, 8 * 60);
        ASSERT_EQ(p->class_to_min, 18 * 60);
        ASSERT_STREQ(p->balance_mode, "memory");
        ASSERT_EQ(p->balance_interval_s, 3600);
        ASSERT_EQ(p->cpu_high, 80);
        ASSERT_EQ(p->cpu_low, 30);
        ASSERT_EQ(p->cpu_sample_s, 60);
        ASSERT_EQ(p->cpu_window_s, 600);
        ASSERT_EQ(p->reserve_vm_slots, 18);
        ASSERT_EQ(p->min_interval_s, 1800);
        ASSERT_EQ(p->boot_stagger_s, 5);
        ASSERT_EQ(p->boot_batch, 1);
}

TEST(full_dhcp_default_range) {
        _cleanup_manifest_ lf_manifest *m = load_good("dhcp-full.xml");

        ASSERT_EQ(m->dhcp, LF_DHCP_FULL);
        ASSERT_EQ(m->dhcp_range_first, ip("192.168.1.128"));
        ASSERT_EQ(m->dhcp_range_last, ip("192.168.1.254"));
}

TEST(lookups) {
        _cleanup_manifest_ lf_manifest *m = load_good("full.xml");

        ASSERT_TRUE(lf_manifest_find_node(m, "kvm2") == &m->nodes[2]);
        ASSERT_TRUE(lf_manifest_find_node(m, "kvm3") == NULL);
        ASSERT_TRUE(lf_manifest_find_mac(m, "52:54:00:00:01:0A") == &m->nodes[0]);
        ASSERT_TRUE(lf_manifest_find_mac(m, "52-54-00-00-02-01") == &m->nodes[1]);
        /* Only management MACs name a node: link and bond NICs do not PXE-boot it. */
        ASSERT_TRUE(lf_manifest_find_mac(m, "52:54:00:00:02:11") == NULL);
        ASSERT_TRUE(lf_manifest_find_mac(m, "not a mac") == NULL);
        ASSERT_TRUE(lf_manifest_find_template(m, "linux-lab") == &m->templates[1]);
        ASSERT_TRUE(lf_manifest_find_template(m, "win") == NULL);
}

TEST(roles) {
        unsigned r = 0;
        char buf[32];

        ASSERT_EQ(lf_role_parse("storage", &r), 0);
        ASSERT_EQ(r, LF_ROLE_STORAGE);
        ASSERT_EQ(lf_role_parse("storage+login+kvm", &r), 0);
        ASSERT_EQ(r, LF_ROLE_STORAGE | LF_ROLE_LOGIN | LF_ROLE_KVM);
        lf_roles_format(r, buf, sizeof(buf));
        ASSERT_STREQ(buf, "kvm+login+storage");
        r = 42;
        ASSERT_EQ(lf_role_parse("kvm+kvm", &r), -EINVAL);
        ASSERT_EQ(lf_role_parse("kvm+", &r), -EINVAL);
        ASSERT_EQ(lf_role_parse("", &r), -EINVAL);
        ASSERT_EQ(lf_role_parse("Storage", &r), -EINVAL);
        ASSERT_EQ(lf_role_parse("storage login", &r), -EINVAL);
        ASSERT_EQ(r, 42);
        ASSERT_STREQ(lf_role_name(LF_ROLE_LOGIN), "login");
        ASSERT_STREQ(lf_wipe_policy_name(LF_WIPE_LISTED), "listed");
        ASSERT_STREQ(lf_wipe_policy_name(LF_WIPE_NEVER), "never");
}

/* Bad input: the file itself. */

TEST(missing_file) {
        lf_manifest *m = NULL;
        lf_diag d = {};

        ASSERT_EQ(lf_manifest_load("/nonexistent/lab.xml", &d, &m), -ENOENT);
        ASSERT_TRUE(m == NULL);
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0], "/nonexistent/lab.xml: cannot open: No such file or directory; "
                                "check the path");
        lf_diag_clear(&d);
}

TEST(directory) {
        lf_manifest *m = NULL;
        lf_diag d = {};
        const char *dir = lf_test_tmpdir();
        char want[512];

        ASSERT_EQ(lf_manifest_load(dir, &d, &m), -EISDIR);
        snprintf(want, sizeof(want), "%s: is a directory; give the path of a file", dir);
        ASSERT_STREQ(d.msgs[0], want);
        lf_diag_clear(&d);
}

TEST(too_large) {
        size_t len = LF_XML_MAX_BYTES + 1;
        _cleanup_free_ char *buf = malloc(len);
        char path[512], want[600];
        lf_manifest *m = NULL;
        lf_diag d = {};

        ASSERT_TRUE(buf != NULL);
        memset(buf, ' ', len);
        memcpy(buf, "<lab>", 5);
        expect_refused_buffer("big.xml", buf, len,
                              (const char *const[]){"big.xml: is larger than 1048576 bytes; "
                                                    "refusing to read it",
                                                    NULL});

        snprintf(path, sizeof(path), "%s/big.xml", lf_test_tmpdir());
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, buf, len), (ssize_t)len);
        close(fd);
        ASSERT_EQ(lf_manifest_load(path, &d, &m), -EFBIG);
        snprintf(want, sizeof(want), "%s: is larger than %u bytes; refusing to read it", path,
                 LF_XML_MAX_BYTES);
        ASSERT_STREQ(d.msgs[0], want);
        lf_diag_clear(&d);
}

TEST(empty) {
        EXPECT_REFUSED("bad-empty.xml",
                       "bad-empty.xml: the document is empty; a lab manifest starts with <lab "
                       "name=\"...\">");
}

TEST(malformed) {
        EXPECT_REFUSED("bad-malformed.xml",
                       "bad-malformed.xml:6: malformed XML: Opening and ending tag mismatch: node "
                       "line 5 and lab; fix the XML syntax");
}

TEST(ampersand) {
        EXPECT_REFUSED("bad-ampersand.xml", "bad-ampersand.xml:2: malformed XML: EntityRef: "
                                            "expecting ';'; write a literal '&' as &amp;");
}

TEST(doctype) {
        EXPECT_REFUSED("bad-doctype.xml",
                       "bad-doctype.xml:2: <!DOCTYPE> is not allowed here: labforge reads no DTD "
                       "or entities; remove the declaration");
}

/* Bad input: the structure (schema). */

TEST(schema_missing_attribute) {
        EXPECT_REFUSED("bad-missing-attribute.xml",
                       "bad-missing-attribute.xml:5: <node> lacks the required attribute 'mac'; "
                       "add mac=\"...\"");
}

TEST(schema_missing_enumerated_attribute) {
        static const char doc[] = "<lab name=\"t\">\n"
                                  "<appliance interface=\"eth0\" address=\"10.0.0.1/24\"/>\n"
                                  "<network><management subnet=\"10.0.0.0/24\"/></network>\n"
                                  "<node name=\"n1\" role=\"kvm\" mac=\"52:54:00:00:00:01\"/>\n"
                                  "<disk-policy/>\n"
                                  "</lab>\n";
        expect_refused_buffer(
                "t.xml", doc, strlen(doc),
                (const char *const[]){"t.xml:5: <disk-policy> lacks the required attribute "
                                      "'wipe'; add wipe=\"never\", wipe=\"listed\" or "
                                      "wipe=\"all\"",
                                      NULL});
}

TEST(schema_unknown_element) {
        EXPECT_REFUSED("bad-unknown-element.xml",
                       "bad-unknown-element.xml:6: <templte> is not allowed in <lab>; did you "
                       "mean <template>?");
}

TEST(schema_unknown_attribute) {
        EXPECT_REFUSED("bad-unknown-attribute.xml",
                       "bad-unknown-attribute.xml:5: <node> has no attribute 'ip'; its "
                       "attributes are: name, role, mac, address");
}

TEST(schema_enumeration) {
        EXPECT_REFUSED("bad-enum.xml", "bad-enum.xml:3: invalid dhcp=\"relay\" on <appliance>; "
                                       "use dhcp=\"proxy\" or dhcp=\"full\"");
}

TEST(schema_enumeration_in_policy) {
        /* libxml2 says no more than "Extra element balance in interleave" here, without a line. */
        EXPECT_REFUSED("bad-policy-value.xml",
                       "bad-policy-value.xml:7: invalid mode=\"cpu\" on <balance>; use "
                       "mode=\"memory\" or mode=\"compute\"");
}

TEST(schema_twice) {
        EXPECT_REFUSED("bad-twice.xml",
                       "bad-twice.xml:5: <appliance> appears more than once in <lab>; keep only "
                       "one");
}

TEST(schema_missing_element) {
        EXPECT_REFUSED("bad-missing-element.xml",
                       "bad-missing-element.xml:2: <lab> has no <network> element; add one");
}

TEST(schema_root) {
        EXPECT_REFUSED("bad-root.xml",
                       "bad-root.xml:2: the root element is <room>; expected <lab>");
}

TEST(schema_text) {
        EXPECT_REFUSED("bad-text.xml",
                       "bad-text.xml:5: text \"kvm node\" is not allowed in <node>; remove it");
}

TEST(schema_namespace) {
        static const char doc[] = "<lab xmlns=\"urn:x\" name=\"t\"/>";
        expect_refused_buffer(
                "ns.xml", doc, strlen(doc),
                (const char *const[]){"ns.xml:1: <lab> is in the XML namespace \"urn:x\"; this "
                                      "document uses no namespace, remove the xmlns declaration "
                                      "or prefix",
                                      NULL});
}

/* Bad input: values and references. */

TEST(duplicate_name) {
        EXPECT_REFUSED("bad-duplicate-name.xml",
                       "bad-duplicate-name.xml:6: <node name=\"n1\">: name n1 is already given on "
                       "line 5; give each node its own name");
}

#define MAC_ADVICE_START "each NIC appears once in the manifest, as a node's mac, a link end or a "
#define MAC_ADVICE MAC_ADVICE_START "bond member (a node's mac may also be in one of its bonds)"

TEST(duplicate_mac) {
        EXPECT_REFUSED("bad-duplicate-mac.xml",
                       "bad-duplicate-mac.xml:10: <link b=\"k1:52:54:00:00:00:02\">: MAC "
                       "52:54:00:00:00:02 is already given on line 9; " MAC_ADVICE);
}

TEST(duplicate_bond) {
        EXPECT_REFUSED("bad-duplicate-bond-member.xml",
                       "bad-duplicate-bond-member.xml:7: <bond name=\"bond0\">: bond name bond0 "
                       "is already given on line 6; give each bond of a node its own name (one "
                       "without name= is bondN, N counting its node's bonds from 0)",
                       "bad-duplicate-bond-member.xml:8: <member mac=\"52:54:00:00:00:01\">: MAC "
                       "52:54:00:00:00:01 is already given on line 5; " MAC_ADVICE,
                       "bad-duplicate-bond-member.xml:10: <node mac=\"52:54:00:00:00:02\">: MAC "
                       "52:54:00:00:00:02 is already given on line 6; " MAC_ADVICE);
}

TEST(link_unknown_node) {
        EXPECT_REFUSED("bad-link-unknown-node.xml",
                       "bad-link-unknown-node.xml:10: <link b=\"k2:52:54:00:00:00:12\">: there is "
                       "no node named 'k2'; add it or fix the name");
}

TEST(link_roles) {
        EXPECT_REFUSED("bad-link-roles.xml",
                       "bad-link-roles.xml:12: <link>: joins s1 and s2, both storage nodes; a "
                       "storage link runs between a storage node and one other node",
                       "bad-link-roles.xml:13: <link>: joins k1 and k2, neither of them storage; "
                       "a storage link runs between a storage node and one other node",
                       "bad-link-roles.xml:14: <link>: joins k1 to itself; a storage link runs "
                       "between a storage node and one other node");
}

TEST(link_syntax) {
        EXPECT_REFUSED("bad-link-syntax.xml",
                       "bad-link-syntax.xml:10: <link a=\"s1\">: write NODE:MAC, the node's name "
                       "and the MAC of its NIC on this link, like kvm1:52:54:00:00:02:11",
                       "bad-link-syntax.xml:10: <link b=\"k1:52:54:00:00:12\">: 52:54:00:00:12 "
                       "is not a MAC address; write six hex pairs separated by colons, like "
                       "52:54:00:12:34:56");
}

TEST(link_without_subnet) {
        EXPECT_REFUSED("bad-link-no-subnet.xml",
                       "bad-link-no-subnet.xml:7: <link>: there is no <storage-links "
                       "subnet=\"...\"/> in <network> to take the link's addresses from; add "
                       "one, like <storage-links subnet=\"10.10.0.0/16\"/>");
}

TEST(roles_unknown) {
        EXPECT_REFUSED("bad-role.xml",
                       "bad-role.xml:5: <node role=\"compute\">: not a role; use storage, kvm or "
                       "login, or several joined with '+', like login+storage",
                       "bad-role.xml:6: <node role=\"kvm+kvm\">: not a role; use storage, kvm or "
                       "login, or several joined with '+', like login+storage",
                       "bad-role.xml:7: <sysctl role=\"storage+\">: not a role; use storage, kvm "
                       "or login, or several joined with '+', like kvm+storage (or leave role "
                       "out for all)");
}

TEST(names) {
        EXPECT_REFUSED("bad-names.xml",
                       "bad-names.xml:2: <lab name=\"Room 301\">: not a valid lab name; use "
                       "lowercase letters, digits and '-' (at most 63, not starting or ending "
                       "with '-')",
                       "bad-names.xml:5: <node name=\"-n1\">: not a valid node name (it becomes "
                       "the host name); use lowercase letters, digits and '-' (at most 63, not "
                       "starting or ending with '-')",
                       "bad-names.xml:6: <template name=\".hidden\">: use letters, digits, '.', "
                       "'_', '+' and '-' (at most 128, not starting with '.' or '-')",
                       "bad-names.xml:6: <template image=\"../etc/passwd\">: name a file in the "
                       "appliance's image directory, like win-lab.raw (no '/', not starting "
                       "with '.' or '-')");
}

TEST(macs) {
        EXPECT_REFUSED("bad-mac.xml",
                       "bad-mac.xml:5: <node mac=\"52:54:00:00:01\">: not a MAC address; write "
                       "six hex pairs separated by colons, like 52:54:00:12:34:56",
                       "bad-mac.xml:6: <node mac=\"01:00:5e:00:00:01\">: a multicast MAC, which "
                       "no NIC has; check the address",
                       "bad-mac.xml:7: <node mac=\"00:00:00:00:00:00\">: the all-zero MAC, which "
                       "no NIC has; check the address");
}

TEST(interface_names) {
        EXPECT_REFUSED("bad-interface.xml",
                       "bad-interface.xml:3: <appliance interface=\"a-very-long-interface\">: not "
                       "a network interface name; use at most 15 characters without '/', ':' or "
                       "spaces, like enp1s0",
                       "bad-interface.xml:6: <bond name=\"bond/0\">: not a network interface "
                       "name; use at most 15 characters without '/', ':' or spaces, like enp1s0");
}

TEST(numbers) {
        EXPECT_REFUSED("bad-numbers.xml",
                       "bad-numbers.xml:3: <appliance http-port=\"80000\">: use a whole number "
                       "from 1 to 65535",
                       "bad-numbers.xml:6: <template memory=\"2G\">: use a whole number of MiB "
                       "from 1 to 4194304",
                       "bad-numbers.xml:6: <template vcpus=\"0\">: use a whole number from 1 to "
                       "1024");
}

TEST(subnets) {
        EXPECT_REFUSED("bad-subnet.xml",
                       "bad-subnet.xml:5: <management subnet=\"192.168.1.1/24\">: the address has "
                       "host bits set; write 192.168.1.0/24",
                       "bad-subnet.xml:6: <storage-links subnet=\"10.10.0.0\">: not a subnet; "
                       "write ADDRESS/PREFIX, like 192.168.50.0/24");
        EXPECT_REFUSED("bad-subnet-prefix.xml",
                       "bad-subnet-prefix.xml:5: <management subnet=\"192.168.1.0/31\">: use a "
                       "prefix from /8 to /30",
                       "bad-subnet-prefix.xml:6: <storage-links subnet=\"0.0.0.0/0\">: use a "
                       "prefix from /8 to /31");
}

TEST(subnets_overlap) {
        EXPECT_REFUSED("bad-overlap.xml",
                       "bad-overlap.xml:6: <storage-links subnet=\"192.168.1.128/25\">: overlaps "
                       "the management subnet 192.168.1.0/24; use a separate range, like "
                       "10.10.0.0/16");
}

TEST(storage_links_too_small) {
        EXPECT_REFUSED("bad-too-few-links.xml",
                       "bad-too-few-links.xml:6: <storage-links subnet=\"10.10.0.0/31\">: room "
                       "for 1 link (one /31 each) but the manifest has 2; use a /30 or larger");
}

TEST(addresses) {
        static const char advice[] = "give each node its own address, different from the "
                                     "appliance's and the gateway's";
        char dup1[256], dup2[256];

        snprintf(dup1, sizeof(dup1),
                 "bad-addresses.xml:5: <node address=\"192.168.1.1\">: address 192.168.1.1 is "
                 "already given on line 3; %s",
                 advice);
        snprintf(dup2, sizeof(dup2),
                 "bad-addresses.xml:8: <node address=\"192.168.1.20\">: address 192.168.1.20 is "
                 "already given on line 7; %s",
                 advice);
        EXPECT_REFUSED("bad-addresses.xml",
                       "bad-addresses.xml:3: <appliance address=\"192.168.1.1/16\">: the prefix "
                       "differs from the management subnet's; write 192.168.1.1/24",
                       "bad-addresses.xml:4: <management gateway=\"192.168.2.1\">: not inside "
                       "the management subnet 192.168.1.0/24; use an address of that subnet",
                       dup1,
                       "bad-addresses.xml:6: <node address=\"192.168.1.255\">: this is the "
                       "broadcast address of 192.168.1.0/24; use a host address",
                       "bad-addresses.xml:7: <node address=\"192.168.1.20/25\">: the prefix "
                       "differs from the management subnet's /24; leave it out",
                       dup2,
                       "bad-addresses.xml:9: <node address=\"192.168.1.300\">: not an IPv4 "
                       "address; write it like 192.168.50.10 or 192.168.50.10/24");
}

TEST(dhcp_range) {
        EXPECT_REFUSED("bad-dhcp-range-proxy.xml",
                       "bad-dhcp-range-proxy.xml:3: <appliance "
                       "dhcp-range=\"192.168.1.100-192.168.1.199\">: only used with "
                       "dhcp=\"full\"; remove it or set dhcp=\"full\"");
        EXPECT_REFUSED("bad-dhcp-range.xml",
                       "bad-dhcp-range.xml:4: <appliance "
                       "dhcp-range=\"192.168.1.100-192.168.2.10\">: not inside the management "
                       "subnet 192.168.1.0/24; use an address of that subnet");
        EXPECT_REFUSED("bad-dhcp-range-order.xml",
                       "bad-dhcp-range-order.xml:3: <appliance "
                       "dhcp-range=\"192.168.1.199-192.168.1.100\">: the first address is after "
                       "the last; write the lower address first");
        EXPECT_REFUSED("bad-dhcp-range-syntax.xml",
                       "bad-dhcp-range-syntax.xml:3: <appliance dhcp-range=\"192.168.1.100\">: "
                       "write FIRST-LAST, like 192.168.50.100-192.168.50.199");
}

TEST(policy_values) {
        static const char duration[] = "not a duration; write a number and a unit (s, m, h or d), "
                                       "like 30m or 5s";
        char balance[256], min_interval[256], stagger[256];

        snprintf(balance, sizeof(balance), "bad-policy.xml:8: <balance interval=\"60\">: %s",
                 duration);
        snprintf(min_interval, sizeof(min_interval),
                 "bad-policy.xml:11: <min-interval>half an hour</min-interval>: %s", duration);
        snprintf(stagger, sizeof(stagger), "bad-policy.xml:12: <boot stagger=\"5 s\">: %s",
                 duration);
        EXPECT_REFUSED("bad-policy.xml",
                       "bad-policy.xml:7: <class-hours days=\"mon-fry\">: not a set of weekdays; "
                       "write e.g. mon-fri or mon,wed,fri",
                       "bad-policy.xml:7: <class-hours from=\"8:00\">: not a time of day; write "
                       "HH:MM on the 24-hour clock, like 08:00",
                       balance,
                       "bad-policy.xml:9: <compute high=\"120\">: use a whole number of percent "
                       "from 1 to 100",
                       "bad-policy.xml:9: <compute sample=\"0s\">: must be longer than zero; "
                       "write e.g. 30m",
                       "bad-policy.xml:10: <energy reserve-vm-slots=\"-1\">: use a whole number "
                       "from 0 to 100000",
                       min_interval, stagger,
                       "bad-policy.xml:12: <boot batch=\"0\">: use a whole number from 1 to "
                       "10000");
}

TEST(policy_order) {
        EXPECT_REFUSED("bad-policy-order.xml",
                       "bad-policy-order.xml:7: <class-hours>: from must be earlier than to; "
                       "write e.g. from=\"08:00\" to=\"18:00\"",
                       "bad-policy-order.xml:8: <compute>: low (80) must be below high (30); "
                       "write e.g. high=\"80\" low=\"30\"",
                       "bad-policy-order.xml:8: <compute>: the window is shorter than one "
                       "sample; make window at least as long as sample");
}

TEST(disk_policy) {
        EXPECT_REFUSED("bad-disk-policy.xml",
                       "bad-disk-policy.xml:6: <disk-policy wipe=\"listed\">: no disk is listed; "
                       "add <wipe disk=\"SERIAL\"/> or <wipe disk=\"/dev/disk/by-id/...\"/> "
                       "children, or choose wipe=\"never\" or wipe=\"all\"",
                       "bad-disk-policy.xml:9: <wipe disk=\"/dev/sda\">: kernel names such as "
                       "/dev/sda change between boots; name the disk by its serial or its "
                       "/dev/disk/by-id/ path",
                       "bad-disk-policy.xml:11: <disk-policy wipe=\"all\">: <wipe> children only "
                       "apply with wipe=\"listed\"; set wipe=\"listed\" or remove them");
}

TEST(sysctls) {
        EXPECT_REFUSED("bad-sysctl.xml",
                       "bad-sysctl.xml:7: <sysctl name=\"vm.swappiness\">: sysctl vm.swappiness "
                       "is already given on line 6; set each sysctl once per node",
                       "bad-sysctl.xml:8: <sysctl name=\"swappiness\">: not a sysctl name; write "
                       "it dotted, like net.core.rmem_max",
                       "bad-sysctl.xml:8: <sysctl value=\"\">: use 1 to 256 characters without "
                       "line breaks, like \"4096 87380 8388608\"",
                       "bad-sysctl.xml:11: <sysctl name=\"net.core.rmem_max\">: sysctl "
                       "net.core.rmem_max for role kvm is already given on line 10; set each "
                       "sysctl once per role",
                       "bad-sysctl.xml:12: <sysctl name=\"net.core.rmem_max\">: sysctl "
                       "net.core.rmem_max for role storage is already given on line 10; set "
                       "each sysctl once per role");
}

TEST(bmc) {
        EXPECT_REFUSED("bad-bmc.xml",
                       "bad-bmc.xml:6: <bmc address=\"\">: write the BMC's host name or IP "
                       "address, like 192.168.50.201",
                       "bad-bmc.xml:6: <bmc user=\"\">: use 1 to 64 characters",
                       "bad-bmc.xml:6: <bmc password-file=\"bmc.pw\">: write the absolute path "
                       "of the file holding the BMC password, like /etc/labforge/bmc.pw");
}

TEST(templates) {
        EXPECT_REFUSED("bad-templates.xml",
                       "bad-templates.xml:7: <template name=\"w\">: name w is already given on "
                       "line 6; give each template its own name");
}

TEST(too_many_nodes) {
        size_t cap = 128 * 1024, o = 0;
        _cleanup_free_ char *buf = malloc(cap);

        ASSERT_TRUE(buf != NULL);
        o += (size_t)snprintf(buf + o, cap - o,
                              "<lab name=\"big\">\n"
                              "<appliance interface=\"eth0\" address=\"10.0.0.1/16\"/>\n"
                              "<network><management subnet=\"10.0.0.0/16\"/></network>\n");
        for (unsigned i = 0; i <= LF_MANIFEST_MAX_NODES; i++)
                o += (size_t)snprintf(
                        buf + o, cap - o,
                        "<node name=\"n%u\" role=\"kvm\" mac=\"52:54:00:00:%02x:%02x\"/>\n", i,
                        i >> 8, i & 0xff);
        o += (size_t)snprintf(buf + o, cap - o, "</lab>\n");
        ASSERT_TRUE(o < cap);
        /* Node 1025 is on line 3 + 1025. */
        expect_refused_buffer("big.xml", buf, o,
                              (const char *const[]){"big.xml:1028: more than 1024 <node> elements "
                                                    "in <lab>; labforge reads at most 1024",
                                                    NULL});
}

TEST(too_many_bond_members) {
        size_t cap = 256 * 1024, o = 0;
        _cleanup_free_ char *buf = malloc(cap);

        ASSERT_TRUE(buf != NULL);
        o += (size_t)snprintf(buf + o, cap - o,
                              "<lab name=\"big\">\n"
                              "<appliance interface=\"eth0\" address=\"10.0.0.1/16\"/>\n"
                              "<network><management subnet=\"10.0.0.0/16\"/></network>\n"
                              "<node name=\"n\" role=\"kvm\" mac=\"52:54:00:00:00:01\">\n"
                              "<bond mode=\"802.3ad\">\n");
        for (unsigned i = 0; i <= LF_MANIFEST_MAX_ITEMS; i++)
                o += (size_t)snprintf(buf + o, cap - o, "<member mac=\"%s:%02x:%02x\"/>\n",
                                      "52:54:01:00", i >> 8, i & 0xff);
        o += (size_t)snprintf(buf + o, cap - o, "</bond></node></lab>\n");
        ASSERT_TRUE(o < cap);
        /* Member 4097 is on line 5 + 4097. */
        expect_refused_buffer("big.xml", buf, o,
                              (const char *const[]){"big.xml:4102: more than 4096 <member> "
                                                    "elements in <bond>; labforge reads at most "
                                                    "4096",
                                                    NULL});
}

/* Every problem is reported, in line order, not just the first. */
TEST(all_problems) {
        static const char doc[] =
                "<lab name=\"t\">\n"
                "  <template name=\"w\" image=\"w.raw\" memory=\"0\" vcpus=\"1\"/>\n"
                "  <appliance interface=\"eth0\" address=\"10.0.0.1/24\"/>\n"
                "  <network><management subnet=\"192.168.1.0/24\"/></network>\n"
                "  <node name=\"n1\" role=\"kvm\" mac=\"52:54:00:00:00:01\"/>\n"
                "  <node name=\"n1\" role=\"kvm\" mac=\"52:54:00:00:00:01\"/>\n"
                "</lab>\n";
        expect_refused_buffer(
                "t.xml", doc, strlen(doc),
                (const char *const[]){
                        "t.xml:2: <template memory=\"0\">: use a whole number of MiB from 1 to "
                        "4194304",
                        "t.xml:3: <appliance address=\"10.0.0.1/24\">: not inside the management "
                        "subnet 192.168.1.0/24; use an address of that subnet",
                        "t.xml:6: <node name=\"n1\">: name n1 is already given on line 5; give "
                        "each node its own name",
                        "t.xml:6: <node mac=\"52:54:00:00:00:01\">: MAC 52:54:00:00:00:01 is "
                        "already given on line 5; " MAC_ADVICE,
                        NULL});
}

/* libxml2 prints its errors on stderr unless told otherwise; the loader must not let it. */
TEST(libxml2_silent) {
        static const char *const docs[] = {
                "<lab name=\"t\"><node></lab>",
                "<lab name=\"t\"><network/></lab>",
                "<!DOCTYPE lab [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><lab name=\"&e;\"/>",
                "<lab xmlns:x=\"urn:x\" x:y=\"1\" name=\"t\"><x:node/></lab>",
        };
        char path[512];
        int saved = dup(2);

        snprintf(path, sizeof(path), "%s/stderr", lf_test_tmpdir());
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ASSERT_TRUE(fd >= 0 && saved >= 0);
        fflush(stderr);
        dup2(fd, 2);
        close(fd);
        for (size_t i = 0; i < ELEMENTSOF(docs); i++) {
                lf_manifest *m = NULL;
                lf_diag d = {};
                int r = lf_manifest_load_buffer("x.xml", docs[i], strlen(docs[i]), &d, &m);
                lf_diag_clear(&d);
                if (r != -EINVAL) {
                        dup2(saved, 2);
                        lf_test_fail(__FILE__, __LINE__, "document %zu accepted", i);
                }
        }
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        _cleanup_free_ char *out = lf_test_read_file(path);
        ASSERT_STREQ(out, "");
}

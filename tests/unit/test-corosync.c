/* labforged's membership layer (roles/corosync.c) without a running corosync: corosync.conf
 * generation (golden files) and the leader rule. The connection itself is exercised by
 * tests/integration/cluster-corosync.sh with real corosync processes. */
#include <errno.h>

#include "../../roles/corosync.h"
#include "test.h"

static lf_manifest *load(const char *name) {
        lf_manifest *m = NULL;
        lf_diag d = {};
        char path[256];

        snprintf(path, sizeof(path), "tests/fixtures/cluster/%s", name);
        if (lf_manifest_load(lf_test_path(path), &d, &m) < 0)
                lf_test_fail(__FILE__, __LINE__, "%s", d.n ? d.msgs[0] : "cannot load");
        return m;
}

static lf_node_conf *conf(const char *text) {
        lf_node_conf *c = NULL;
        lf_diag d = {};
        if (lf_node_conf_parse("node.conf", text, strlen(text), &d, &c) < 0)
                lf_test_fail(__FILE__, __LINE__, "%s", d.n ? d.msgs[0] : "cannot parse");
        return c;
}

TEST(conf_for_a_room) {
        _cleanup_manifest_ lf_manifest *m = load("room.xml");
        _cleanup_node_conf_ lf_node_conf *c = conf("node = kvm1\nmanifest = /etc/labforge/lab.xml\n"
                                                   "authkey = /etc/corosync/authkey\n");
        _cleanup_free_ char *text = NULL;

        ASSERT_EQ(lf_corosync_conf(m, lf_manifest_find_node(m, "kvm1"), c, &text), 0);
        ASSERT_GOLDEN(text, "tests/fixtures/cluster/room.corosync.conf");
}

TEST(conf_bind_address_for_own_entry_only) {
        _cleanup_manifest_ lf_manifest *m = load("room.xml");
        /* kvm3 has no static address: its own bind_address names it in its own file. */
        _cleanup_node_conf_ lf_node_conf *c =
                conf("node = kvm3\nmanifest = /m\nauthkey = /var/lib/key\n"
                     "bind_address = 192.168.50.13\n");
        _cleanup_free_ char *text = NULL;

        ASSERT_EQ(lf_corosync_conf(m, lf_manifest_find_node(m, "kvm3"), c, &text), 0);
        ASSERT_CONTAINS(text, "\t\tname: kvm3\n\t\tnodeid: 5\n\t\tring0_addr: 192.168.50.13\n");
        ASSERT_CONTAINS(text, "\tkeyfile: /var/lib/key\n");
        ASSERT_TRUE(!strstr(text, "corosync resolves"));
        ASSERT_TRUE(!strstr(text, "two_node"));
}

TEST(conf_for_a_pair_has_two_node) {
        _cleanup_manifest_ lf_manifest *m = load("pair.xml");
        _cleanup_node_conf_ lf_node_conf *c = conf("node = pc2\nmanifest = /m\n");
        _cleanup_free_ char *text = NULL;

        ASSERT_EQ(lf_corosync_conf(m, lf_manifest_find_node(m, "pc2"), c, &text), 0);
        ASSERT_GOLDEN(text, "tests/fixtures/cluster/pair.corosync.conf");
}

TEST(leader_is_login_node_when_member) {
        _cleanup_manifest_ lf_manifest *m = load("room.xml");
        /* store1=1 kvm1=2 kvm2=3 login=4 kvm3=5 */
        uint32_t all[] = {5, 3, 4, 1, 2}, no_login[] = {5, 3, 2, 3}, minority[] = {5},
                 strangers[] = {9, 77}, mixed[] = {77, 3, 9};
        uint32_t id = 0;

        ASSERT_EQ(lf_leader_pick(m, all, ELEMENTSOF(all), &id), 0);
        ASSERT_EQ(id, 4);
        ASSERT_EQ(lf_leader_pick(m, no_login, ELEMENTSOF(no_login), &id), 0);
        ASSERT_EQ(id, 2);
        ASSERT_EQ(lf_leader_pick(m, minority, ELEMENTSOF(minority), &id), 0);
        ASSERT_EQ(id, 5);
        ASSERT_EQ(lf_leader_pick(m, mixed, ELEMENTSOF(mixed), &id), 0);
        ASSERT_EQ(id, 3); /* ids the manifest does not know are ignored */
        id = 0;
        ASSERT_EQ(lf_leader_pick(m, strangers, ELEMENTSOF(strangers), &id), -ENOENT);
        ASSERT_EQ(lf_leader_pick(m, NULL, 0, &id), -ENOENT);
        ASSERT_EQ(id, 0);
}

TEST(leader_among_combined_roles) {
        _cleanup_manifest_ lf_manifest *m = load("pair.xml");
        /* pc1=1 kvm+storage, pc2=2 kvm+login: the login role wins over the lower id. */
        uint32_t both[] = {1, 2}, first[] = {1};
        uint32_t id = 0;

        ASSERT_EQ(lf_leader_pick(m, both, 2, &id), 0);
        ASSERT_EQ(id, 2);
        ASSERT_EQ(lf_leader_pick(m, first, 1, &id), 0);
        ASSERT_EQ(id, 1);
}

TEST(not_connected_handle) {
        lf_corosync_callbacks cb = {};
        _cleanup_corosync_ lf_corosync *c = lf_corosync_new("/nonexistent", "lab", 1, &cb);
        size_t n = 99;
        int fds[3];

        ASSERT_TRUE(c != NULL);
        ASSERT_TRUE(!lf_corosync_connected(c));
        ASSERT_TRUE(!lf_corosync_quorate(c));
        lf_corosync_members(c, &n);
        ASSERT_EQ(n, 0);
        ASSERT_EQ(lf_corosync_fds(c, fds), 0);
        ASSERT_EQ(lf_corosync_send(c, "x", 1), -ENOTCONN);
}

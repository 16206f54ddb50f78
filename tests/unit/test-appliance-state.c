/* Tests of the appliance's node inventory (appliance/state.c): the DESIGN §4 lifecycle and its
 * refusals, one-time tokens, persistence across a restart, and the manifest sync. */
#include <sqlite3.h>
#include <stdlib.h>

#include "../../appliance/state.h"
#include "test.h"

#define MAC_STORE "52:54:00:00:01:01"
#define MAC_KVM1 "52:54:00:00:02:01"
#define MAC_KVM2 "52:54:00:00:02:02"
#define MAC_NEW "52:54:00:aa:bb:cc"

static const char lab_head[] = "<lab name=\"t\">\n"
                               "  <appliance interface=\"eth0\" address=\"192.168.50.1/24\"/>\n"
                               "  <network><management subnet=\"192.168.50.0/24\"/></network>\n";

/* A manifest of lab_head and the given node lines. */
static lf_manifest *manifest(const char *nodes) {
        _cleanup_free_ char *xml = NULL;
        lf_manifest *m = NULL;
        lf_diag d = {};

        ASSERT_TRUE(asprintf(&xml, "%s%s</lab>\n", lab_head, nodes) > 0);
        if (lf_manifest_load_buffer("lab.xml", xml, strlen(xml), &d, &m) < 0)
                lf_test_fail(__FILE__, __LINE__, "manifest: %s", d.n ? d.msgs[0] : "?");
        return m;
}

static const char three_nodes[] =
        "  <node name=\"store1\" role=\"storage\" mac=\"" MAC_STORE "\"/>\n"
        "  <node name=\"kvm1\" role=\"kvm\" mac=\"" MAC_KVM1 "\"/>\n"
        "  <node name=\"kvm2\" role=\"kvm\" mac=\"" MAC_KVM2 "\"/>\n";

static int64_t fake_time = 1000;
static int64_t fake_now(void) {
        return fake_time;
}

static lf_state *open_state(const char *dir) {
        lf_state *s = NULL;
        lf_diag d = {};
        if (lf_state_open(dir, &d, &s) < 0)
                lf_test_fail(__FILE__, __LINE__, "open: %s", d.n ? d.msgs[0] : "?");
        lf_state_set_clock(s, fake_now);
        return s;
}

/* A state synced with the three-node manifest. */
static lf_state *synced(const char *dir, lf_manifest *m) {
        lf_state *s = open_state(dir);
        lf_diag d = {};
        ASSERT_EQ(lf_state_sync(s, m, &d), 0);
        ASSERT_EQ(d.n, 0);
        return s;
}

/* Everything the state holds about every node, as text: "nothing changed" compares these. */
static char *dump(lf_state *s) {
        lf_state_node **l = NULL;
        size_t n = 0, len = 0;
        char *buf = NULL;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_EQ(lf_state_list(s, &l, &n), 0);
        for (size_t i = 0; i < n; i++) {
                lf_state_node *x = l[i];
                lf_state_event *e = NULL;
                size_t ne = 0;
                fprintf(f, "%s %s %s %u %d %s %u '%s' '%s' %s %s %s|%s|%s %lld %lld\n", x->mac,
                        x->name ? x->name : "-", x->role ? x->role : "-", x->nodeid, x->in_manifest,
                        lf_node_state_name(x->state), x->progress, x->step, x->last_event,
                        x->token_state, x->inventory ? "inv" : "-",
                        x->failure_step ? x->failure_step : "-",
                        x->failure_reason ? x->failure_reason : "-",
                        x->failure_log ? x->failure_log : "-", (long long)x->updated,
                        (long long)x->install_started);
                ASSERT_EQ(lf_state_events(s, x->mac, &e, &ne), 0);
                fprintf(f, "  %zu events\n", ne);
                lf_state_events_free(e, ne);
        }
        lf_state_list_free(l, n);
        fclose(f);
        return buf;
}

static lf_state_node *get(lf_state *s, const char *key) {
        lf_state_node *n = NULL;
        ASSERT_EQ(lf_state_find(s, key, &n), 0);
        return n;
}

static void expect_state(lf_state *s, const char *key, lf_node_state want) {
        _cleanup_state_node_ lf_state_node *n = get(s, key);
        if (n->state != want)
                lf_test_fail(__FILE__, __LINE__, "%s is %s, expected %s", key,
                             lf_node_state_name(n->state), lf_node_state_name(want));
}

static char *token_of(lf_state *s, const char *mac) {
        char tok[LF_STATE_TOKEN_LEN + 1];
        lf_diag d = {};
        ASSERT_EQ(lf_state_issue_token(s, mac, &d, tok), 0);
        return strdup(tok);
}

/* Runs a refused call that reports to the caller's `d`: the error code, a first message
 * containing `want`, and no change at all. */
#define EXPECT_REFUSED(s, call, code, want)                                                        \
        do {                                                                                       \
                _cleanup_free_ char *_before = dump(s), *_after = NULL;                            \
                lf_diag_clear(&d);                                                                 \
                ASSERT_EQ((call), (code));                                                         \
                ASSERT_TRUE(d.n >= 1);                                                             \
                ASSERT_CONTAINS(d.msgs[0], want);                                                  \
                lf_diag_clear(&d);                                                                 \
                _after = dump(s);                                                                  \
                ASSERT_STREQ(_after, _before);                                                     \
        } while (0)

static const char *inventory(void) {
        static char *inv;
        if (!inv)
                inv = lf_test_read_file("tests/fixtures/inventory/full.json");
        return inv;
}

TEST(sync_makes_manifest_nodes_ready) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        lf_state_node **l = NULL;
        size_t n = 0;

        ASSERT_EQ(lf_state_list(s, &l, &n), 0);
        ASSERT_EQ(n, 3);
        ASSERT_STREQ(l[0]->name, "store1");
        ASSERT_STREQ(l[0]->role, "storage");
        ASSERT_EQ(l[0]->nodeid, 1);
        ASSERT_STREQ(l[2]->name, "kvm2");
        ASSERT_EQ(l[2]->nodeid, 3);
        for (size_t i = 0; i < n; i++) {
                ASSERT_EQ(l[i]->state, LF_NODE_READY);
                ASSERT_TRUE(l[i]->in_manifest);
                ASSERT_STREQ(l[i]->token_state, "none");
        }
        lf_state_list_free(l, n);

        /* Syncing the same manifest again changes nothing, not even the events. */
        _cleanup_free_ char *before = dump(s), *after = NULL;
        lf_diag d = {};
        fake_time += 10;
        ASSERT_EQ(lf_state_sync(s, m, &d), 0);
        after = dump(s);
        ASSERT_STREQ(after, before);
}

TEST(discovery_of_unknown_mac) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        lf_diag d = {};

        ASSERT_EQ(lf_state_discover(s, "52-54-00-AA-BB-CC", inventory(), &d), 0);
        _cleanup_state_node_ lf_state_node *n = get(s, MAC_NEW);
        ASSERT_EQ(n->state, LF_NODE_DISCOVERED);
        ASSERT_TRUE(n->name == NULL);
        ASSERT_EQ(n->nodeid, 0);
        ASSERT_CONTAINS(n->inventory, "\"OptiPlex 7050\"");
        ASSERT_CONTAINS(n->last_event, "discovered: 8 CPUs, 32.0 GiB memory, 3 disks, 2 NICs");

        /* A bad inventory is refused naming the field, and nothing is stored. */
        EXPECT_REFUSED(s, lf_state_discover(s, "52:54:00:aa:bb:dd", "{\"machine\": 1}", &d),
                       -EINVAL, "inventory");
        EXPECT_REFUSED(s, lf_state_discover(s, MAC_NEW, "{not json", &d), -EINVAL,
                       "malformed JSON");
        /* Assigned PCs are never rediscovered. */
        EXPECT_REFUSED(s, lf_state_discover(s, MAC_KVM1, inventory(), &d), -EBUSY,
                       "kvm1 (" MAC_KVM1 ") is ready; discovery applies to unassigned PCs");
        EXPECT_REFUSED(s, lf_state_discover(s, "nope", inventory(), &d), -EINVAL,
                       "not a MAC address");
}

TEST(assign_discovered_and_refusals) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        lf_diag d = {};

        ASSERT_EQ(lf_state_discover(s, MAC_NEW, inventory(), &d), 0);
        ASSERT_EQ(lf_state_assign(s, m, MAC_NEW, "storage+login", "extra1", &d), 0);
        _cleanup_state_node_ lf_state_node *n = get(s, "extra1");
        ASSERT_EQ(n->state, LF_NODE_READY);
        ASSERT_STREQ(n->role, "login+storage");
        ASSERT_EQ(n->nodeid, LF_STATE_ASSIGNED_NODEID_BASE);
        ASSERT_TRUE(!n->in_manifest);
        ASSERT_TRUE(n->inventory != NULL);

        /* A MAC never seen can be assigned too; it gets the next id. */
        ASSERT_EQ(lf_state_assign(s, m, "52:54:00:aa:bb:01", "kvm", "extra2", &d), 0);
        _cleanup_state_node_ lf_state_node *n2 = get(s, "extra2");
        ASSERT_EQ(n2->nodeid, LF_STATE_ASSIGNED_NODEID_BASE + 1);

        EXPECT_REFUSED(s, lf_state_assign(s, m, MAC_NEW, "kvm", "other", &d), -EEXIST,
                       MAC_NEW " is already assigned (extra1 (" MAC_NEW "), ready)");
        EXPECT_REFUSED(s, lf_state_assign(s, m, MAC_KVM1, "kvm", "other", &d), -EEXIST,
                       "is listed in the manifest as kvm1");
        EXPECT_REFUSED(s, lf_state_assign(s, m, "52:54:00:aa:bb:02", "kvm", "kvm2", &d), -EEXIST,
                       "node name kvm2 is already used by the manifest");
        EXPECT_REFUSED(s, lf_state_assign(s, m, "52:54:00:aa:bb:02", "kvm", "extra1", &d), -EEXIST,
                       "node name extra1 is already used by " MAC_NEW);
        EXPECT_REFUSED(s, lf_state_assign(s, m, "52:54:00:aa:bb", "kvm", "x", &d), -EINVAL,
                       "is not a MAC address");
        EXPECT_REFUSED(s, lf_state_assign(s, m, "52:54:00:aa:bb:02", "web", "x", &d), -EINVAL,
                       "'web' is not a role");
        EXPECT_REFUSED(s, lf_state_assign(s, m, "52:54:00:aa:bb:02", "kvm", "Bad_Name", &d),
                       -EINVAL, "'Bad_Name' is not a valid node name");
}

TEST(boot_script_follows_state) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        lf_state_node *n = NULL;
        lf_boot_action a;
        lf_diag d = {};

        /* Unknown MAC: discovery, and nothing is recorded for it. */
        _cleanup_free_ char *before = dump(s), *after = NULL;
        ASSERT_EQ(lf_state_boot(s, MAC_NEW, &a, &n), 0);
        ASSERT_EQ(a, LF_BOOT_DISCOVER);
        ASSERT_TRUE(n == NULL);
        after = dump(s);
        ASSERT_STREQ(after, before);

        ASSERT_EQ(lf_state_discover(s, MAC_NEW, inventory(), &d), 0);
        ASSERT_EQ(lf_state_boot(s, MAC_NEW, &a, &n), 0);
        ASSERT_EQ(a, LF_BOOT_DISCOVER);
        lf_state_node_free(n);

        ASSERT_EQ(lf_state_boot(s, MAC_KVM1, &a, &n), 0);
        ASSERT_EQ(a, LF_BOOT_INSTALL);
        ASSERT_STREQ(n->name, "kvm1");
        lf_state_node_free(n);

        _cleanup_free_ char *tok = token_of(s, MAC_KVM1);
        ASSERT_EQ(lf_state_complete(s, MAC_KVM1, tok, NULL, &d), 0);
        ASSERT_EQ(lf_state_boot(s, MAC_KVM1, &a, &n), 0);
        ASSERT_EQ(a, LF_BOOT_LOCAL);
        ASSERT_EQ(n->state, LF_NODE_DEPLOYED);
        lf_state_node_free(n);
        /* Deployed stays deployed however often it boots. */
        ASSERT_EQ(lf_state_boot(s, MAC_KVM1, &a, &n), 0);
        ASSERT_EQ(a, LF_BOOT_LOCAL);
        lf_state_node_free(n);

        _cleanup_free_ char *tok2 = token_of(s, MAC_KVM2);
        ASSERT_EQ(lf_state_fail(s, MAC_KVM2, tok2, "partition", "sfdisk failed", "x\n", &d), 0);
        ASSERT_EQ(lf_state_boot(s, MAC_KVM2, &a, &n), 0);
        ASSERT_EQ(a, LF_BOOT_FAILED);
        lf_state_node_free(n);
        ASSERT_EQ(lf_state_boot(s, "zz", &a, &n), -EINVAL);
}

TEST(token_once_and_install_to_deployed) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        char tok[LF_STATE_TOKEN_LEN + 1];
        lf_diag d = {};

        fake_time = 2000;
        _cleanup_free_ char *t = token_of(s, MAC_STORE);
        ASSERT_EQ(strlen(t), LF_STATE_TOKEN_LEN);
        expect_state(s, "store1", LF_NODE_INSTALLING);
        /* The token is kept hashed only. */
        _cleanup_free_ char *all = dump(s);
        ASSERT_TRUE(strstr(all, t) == NULL);

        EXPECT_REFUSED(s, lf_state_issue_token(s, MAC_STORE, &d, tok), -EBUSY,
                       "already got its token");
        EXPECT_REFUSED(s, lf_state_issue_token(s, MAC_NEW, &d, tok), -ENOENT,
                       "not known to the appliance");

        _cleanup_free_ char *wrong = strdup(t);
        wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
        EXPECT_REFUSED(s, lf_state_progress(s, MAC_STORE, wrong, "x", 5, NULL, &d), -EACCES,
                       "wrong token for store1");
        EXPECT_REFUSED(s, lf_state_progress(s, MAC_STORE, NULL, "x", 5, NULL, &d), -EACCES,
                       "wrong token");
        /* Another node's token does not work for this one. */
        _cleanup_free_ char *t2 = token_of(s, MAC_KVM1);
        EXPECT_REFUSED(s, lf_state_progress(s, MAC_STORE, t2, "x", 5, NULL, &d), -EACCES,
                       "wrong token for store1");
        EXPECT_REFUSED(s, lf_state_progress(s, MAC_STORE, t, "x", 101, NULL, &d), -EINVAL,
                       "over 100");

        ASSERT_EQ(lf_state_progress(s, MAC_STORE, t, "[1/3] partitioning", 10, NULL, &d), 0);
        ASSERT_EQ(lf_state_progress(s, MAC_STORE, t, "[2/3] extracting", 40, "1 of 3 GiB", &d), 0);
        ASSERT_EQ(lf_state_progress(s, MAC_STORE, t, "[2/3] extracting", 60, "2 of 3 GiB", &d), 0);
        _cleanup_state_node_ lf_state_node *n = get(s, MAC_STORE);
        ASSERT_EQ(n->progress, 60);
        ASSERT_STREQ(n->step, "[2/3] extracting");
        ASSERT_STREQ(n->last_event, "2 of 3 GiB");
        lf_state_event *e = NULL;
        size_t ne = 0;
        ASSERT_EQ(lf_state_events(s, MAC_STORE, &e, &ne), 0);
        /* ready, token, two steps: a byte count inside a step is no new event. */
        ASSERT_EQ(ne, 4);
        ASSERT_STREQ(e[3].message, "[2/3] extracting: 1 of 3 GiB");
        lf_state_events_free(e, ne);

        fake_time = 2000 + 252;
        ASSERT_EQ(lf_state_complete(s, MAC_STORE, t, NULL, &d), 0);
        _cleanup_state_node_ lf_state_node *n2 = get(s, MAC_STORE);
        ASSERT_EQ(n2->state, LF_NODE_DEPLOYED);
        ASSERT_EQ(n2->progress, 100);
        ASSERT_STREQ(n2->token_state, "expired");
        ASSERT_STREQ(n2->last_event, "install complete in 4m12s");
        ASSERT_EQ(n2->install_finished - n2->install_started, 252);

        /* The used token is refused from now on, for every call. */
        EXPECT_REFUSED(s, lf_state_progress(s, MAC_STORE, t, "x", 5, NULL, &d), -EACCES,
                       "token of store1 (" MAC_STORE ") is expired");
        EXPECT_REFUSED(s, lf_state_complete(s, MAC_STORE, t, NULL, &d), -EACCES, "expired");
        EXPECT_REFUSED(s, lf_state_fail(s, MAC_STORE, t, "a", "b", NULL, &d), -EACCES, "expired");
        EXPECT_REFUSED(s, lf_state_check_token(s, MAC_STORE, t, &d), -EACCES, "expired");
        EXPECT_REFUSED(s, lf_state_issue_token(s, MAC_STORE, &d, tok), -EBUSY,
                       "is deployed; 'labforge rebuild store1'");
}

TEST(failure_keeps_step_and_log_tail) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        _cleanup_free_ char *log = NULL;
        size_t len = 0;
        lf_diag d = {};
        FILE *f = open_memstream(&log, &len);

        for (int i = 1; i <= 150; i++)
                fprintf(f, "log line %d\n", i);
        fclose(f);
        _cleanup_free_ char *t = token_of(s, MAC_KVM2);
        ASSERT_EQ(lf_state_fail(s, MAC_KVM2, t, "[4/9] creating RAID arrays",
                                "mdadm --create failed (exit 1)", log, &d),
                  0);
        _cleanup_state_node_ lf_state_node *n = get(s, "kvm2");
        ASSERT_EQ(n->state, LF_NODE_FAILED);
        ASSERT_STREQ(n->failure_step, "[4/9] creating RAID arrays");
        ASSERT_STREQ(n->failure_reason, "mdadm --create failed (exit 1)");
        ASSERT_TRUE(strncmp(n->failure_log, "log line 51\n", 12) == 0);
        ASSERT_TRUE(strstr(n->failure_log, "log line 50\n") == NULL);
        ASSERT_CONTAINS(n->failure_log, "log line 150\n");
        ASSERT_STREQ(n->last_event,
                     "failed at '[4/9] creating RAID arrays': mdadm --create failed (exit 1)");
        ASSERT_STREQ(n->token_state, "expired");

        /* A huge log keeps only its last LF_STATE_LOG_BYTES bytes. */
        _cleanup_free_ char *big = malloc(100000);
        memset(big, 'x', 99999);
        big[99999] = 0;
        ASSERT_EQ(lf_state_rebuild(s, "kvm2", &d), 0);
        _cleanup_free_ char *t2 = token_of(s, MAC_KVM2);
        ASSERT_EQ(lf_state_fail(s, MAC_KVM2, t2, "s", "r", big, &d), 0);
        _cleanup_state_node_ lf_state_node *n2 = get(s, "kvm2");
        ASSERT_EQ(strlen(n2->failure_log), LF_STATE_LOG_BYTES);

        /* Failure stays until rebuild: the manifest sync does not retry it. */
        ASSERT_EQ(lf_state_sync(s, m, &d), 0);
        expect_state(s, "kvm2", LF_NODE_FAILED);
}

TEST(rebuild_keeps_identity) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        lf_boot_action a;
        lf_state_node *n = NULL;
        lf_diag d = {};

        EXPECT_REFUSED(s, lf_state_rebuild(s, "kvm1", &d), -EBUSY, "is ready already");
        _cleanup_free_ char *t = token_of(s, MAC_KVM1);
        EXPECT_REFUSED(s, lf_state_rebuild(s, "kvm1", &d), -EBUSY, "is installing");
        ASSERT_EQ(lf_state_complete(s, MAC_KVM1, t, NULL, &d), 0);
        EXPECT_REFUSED(s, lf_state_rebuild(s, "nosuch", &d), -ENOENT, "no node is called");

        ASSERT_EQ(lf_state_rebuild(s, "kvm1", &d), 0);
        _cleanup_state_node_ lf_state_node *r = get(s, MAC_KVM1);
        ASSERT_EQ(r->state, LF_NODE_READY);
        ASSERT_STREQ(r->name, "kvm1");
        ASSERT_STREQ(r->role, "kvm");
        ASSERT_EQ(r->nodeid, 2);
        ASSERT_CONTAINS(r->last_event, "the next PXE boot reinstalls kvm1 as kvm, node id 2");
        ASSERT_EQ(lf_state_boot(s, MAC_KVM1, &a, &n), 0);
        ASSERT_EQ(a, LF_BOOT_INSTALL);
        lf_state_node_free(n);

        /* The old token stays refused; the new install gets a different one. */
        EXPECT_REFUSED(s, lf_state_progress(s, MAC_KVM1, t, "x", 1, NULL, &d), -EACCES, "expired");
        _cleanup_free_ char *t2 = token_of(s, MAC_KVM1);
        ASSERT_TRUE(!streq(t, t2));
        EXPECT_REFUSED(s, lf_state_progress(s, MAC_KVM1, t, "x", 1, NULL, &d), -EACCES,
                       "wrong token");
        ASSERT_EQ(lf_state_progress(s, MAC_KVM1, t2, "x", 1, NULL, &d), 0);

        /* By MAC works too, and a discovered PC cannot be rebuilt. */
        ASSERT_EQ(lf_state_discover(s, MAC_NEW, inventory(), &d), 0);
        EXPECT_REFUSED(s, lf_state_rebuild(s, MAC_NEW, &d), -EBUSY, "is not assigned");
}

TEST(pxe_boot_during_install_starts_over) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        lf_state_node *n = NULL;
        lf_boot_action a;
        lf_diag d = {};

        _cleanup_free_ char *t = token_of(s, MAC_KVM1);
        ASSERT_EQ(lf_state_progress(s, MAC_KVM1, t, "[3/9] lvm", 30, NULL, &d), 0);
        ASSERT_EQ(lf_state_boot(s, MAC_KVM1, &a, &n), 0);
        ASSERT_EQ(a, LF_BOOT_INSTALL);
        ASSERT_EQ(n->state, LF_NODE_READY);
        ASSERT_STREQ(n->token_state, "revoked");
        ASSERT_CONTAINS(n->last_event, "PXE boot during the install (at '[3/9] lvm')");
        lf_state_node_free(n);
        EXPECT_REFUSED(s, lf_state_progress(s, MAC_KVM1, t, "x", 1, NULL, &d), -EACCES,
                       "is revoked");
        _cleanup_free_ char *t2 = token_of(s, MAC_KVM1);
        expect_state(s, MAC_KVM1, LF_NODE_INSTALLING);
}

TEST(state_survives_restart) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        const char *dir = strdup(lf_test_tmpdir());
        _cleanup_free_ char *before = NULL, *after = NULL, *t = NULL, *t2 = NULL;
        lf_diag d = {};

        lf_state *s = synced(dir, m);
        t = token_of(s, MAC_STORE);
        ASSERT_EQ(lf_state_progress(s, MAC_STORE, t, "[1/2] x", 50, NULL, &d), 0);
        t2 = token_of(s, MAC_KVM1);
        ASSERT_EQ(lf_state_complete(s, MAC_KVM1, t2, NULL, &d), 0);
        ASSERT_EQ(lf_state_discover(s, MAC_NEW, inventory(), &d), 0);
        before = dump(s);
        lf_state_close(s);

        s = synced(dir, m);
        after = dump(s);
        ASSERT_STREQ(after, before);
        /* The token issued before the restart still works, once. */
        ASSERT_EQ(lf_state_complete(s, MAC_STORE, t, NULL, &d), 0);
        expect_state(s, MAC_STORE, LF_NODE_DEPLOYED);
        lf_state_close(s);
        free((char *)dir);
}

TEST(newer_database_refused) {
        const char *dir = lf_test_tmpdir();
        _cleanup_free_ char *path = NULL;
        lf_state *s = open_state(dir);
        sqlite3 *db;
        lf_diag d = {};

        lf_state_close(s);
        ASSERT_TRUE(asprintf(&path, "%s/labforge.db", dir) > 0);
        ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        s = NULL;
        ASSERT_EQ(lf_state_open(dir, &d, &s), -EPROTO);
        ASSERT_TRUE(s == NULL);
        ASSERT_CONTAINS(d.msgs[0], "schema version 99 is newer than this labforge knows");
        lf_diag_clear(&d);
}

TEST(manifest_removing_deployed_node_refused) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        lf_diag d = {};

        _cleanup_free_ char *t = token_of(s, MAC_KVM2);
        ASSERT_EQ(lf_state_complete(s, MAC_KVM2, t, NULL, &d), 0);

        /* kvm2 gone: refused, naming it; kvm1 (ready) would have gone too, but nothing did. */
        _cleanup_manifest_ lf_manifest *m2 =
                manifest("  <node name=\"store1\" role=\"storage\" mac=\"" MAC_STORE "\"/>\n");
        EXPECT_REFUSED(s, lf_state_sync(s, m2, &d), -EBUSY,
                       "lab.xml: node kvm2 (" MAC_KVM2
                       ") is deployed, but the manifest no longer lists it");
        /* Renamed, re-roled or renumbered: refused as well. */
        _cleanup_manifest_ lf_manifest *m3 =
                manifest("  <node name=\"store1\" role=\"storage\" mac=\"" MAC_STORE "\"/>\n"
                         "  <node name=\"kvm1\" role=\"kvm\" mac=\"" MAC_KVM1 "\"/>\n"
                         "  <node name=\"kvm9\" role=\"kvm\" mac=\"" MAC_KVM2 "\"/>\n");
        EXPECT_REFUSED(s, lf_state_sync(s, m3, &d), -EBUSY,
                       "node kvm2 (" MAC_KVM2 ") is deployed as role kvm with node id 3, but "
                       "the manifest makes it kvm9, role kvm, node id 3");
        _cleanup_manifest_ lf_manifest *m4 =
                manifest("  <node name=\"store1\" role=\"storage\" mac=\"" MAC_STORE "\"/>\n"
                         "  <node name=\"kvm2\" role=\"kvm\" mac=\"" MAC_KVM2 "\"/>\n");
        EXPECT_REFUSED(s, lf_state_sync(s, m4, &d), -EBUSY, "node id 2 (node ids follow");

        /* Dropping a node that is only ready is fine; a discovered one with an inventory stays
         * as discovered. */
        _cleanup_manifest_ lf_manifest *m5 =
                manifest("  <node name=\"store1\" role=\"storage\" mac=\"" MAC_STORE "\"/>\n"
                         "  <node name=\"kvm1\" role=\"kvm\" mac=\"" MAC_KVM1 "\"/>\n"
                         "  <node name=\"kvm2\" role=\"kvm\" mac=\"" MAC_KVM2 "\"/>\n"
                         "  <node name=\"kvm3\" role=\"kvm\" mac=\"" MAC_NEW "\"/>\n");
        ASSERT_EQ(lf_state_discover(s, MAC_NEW, inventory(), &d), 0);
        ASSERT_EQ(lf_state_sync(s, m5, &d), 0);
        expect_state(s, "kvm3", LF_NODE_READY);
        ASSERT_EQ(lf_state_sync(s, m, &d), 0);
        expect_state(s, MAC_NEW, LF_NODE_DISCOVERED);
        _cleanup_state_node_ lf_state_node *x = get(s, MAC_NEW);
        ASSERT_TRUE(x->name == NULL);
        ASSERT_CONTAINS(x->last_event, "no longer listed in the manifest");
}

TEST(manifest_takes_name_from_assigned_node) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        lf_diag d = {};

        ASSERT_EQ(lf_state_assign(s, m, MAC_NEW, "kvm", "kvm3", &d), 0);
        _cleanup_manifest_ lf_manifest *m2 =
                manifest("  <node name=\"store1\" role=\"storage\" mac=\"" MAC_STORE "\"/>\n"
                         "  <node name=\"kvm3\" role=\"kvm\" mac=\"52:54:00:00:02:03\"/>\n");
        /* Not deployed: the manifest wins and the assigned PC is let go (no inventory). */
        ASSERT_EQ(lf_state_sync(s, m2, &d), 0);
        lf_state_node *n = NULL;
        ASSERT_EQ(lf_state_find(s, MAC_NEW, &n), -ENOENT);
        _cleanup_state_node_ lf_state_node *k = get(s, "kvm3");
        ASSERT_STREQ(k->mac, "52:54:00:00:02:03");

        /* Deployed under that name: the manifest is refused. */
        ASSERT_EQ(lf_state_assign(s, m2, MAC_NEW, "kvm", "kvm9", &d), 0);
        _cleanup_free_ char *t = token_of(s, MAC_NEW);
        ASSERT_EQ(lf_state_complete(s, MAC_NEW, t, NULL, &d), 0);
        _cleanup_manifest_ lf_manifest *m3 =
                manifest("  <node name=\"store1\" role=\"storage\" mac=\"" MAC_STORE "\"/>\n"
                         "  <node name=\"kvm9\" role=\"kvm\" mac=\"52:54:00:00:02:09\"/>\n");
        EXPECT_REFUSED(s, lf_state_sync(s, m3, &d), -EBUSY,
                       "node name kvm9 is taken by " MAC_NEW ", which is deployed");
}

TEST(forget) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        lf_state_node *n = NULL;
        lf_diag d = {};

        EXPECT_REFUSED(s, lf_state_forget(s, MAC_KVM1, &d), -EBUSY, "listed in the manifest");
        EXPECT_REFUSED(s, lf_state_forget(s, MAC_NEW, &d), -ENOENT, "not known");
        EXPECT_REFUSED(s, lf_state_forget(s, "bogus", &d), -EINVAL, "not a MAC address");
        ASSERT_EQ(lf_state_assign(s, m, MAC_NEW, "kvm", "extra", &d), 0);
        _cleanup_free_ char *t = token_of(s, MAC_NEW);
        EXPECT_REFUSED(s, lf_state_forget(s, MAC_NEW, &d), -EBUSY, "is installing");
        ASSERT_EQ(lf_state_complete(s, MAC_NEW, t, NULL, &d), 0);
        ASSERT_EQ(lf_state_forget(s, MAC_NEW, &d), 0);
        ASSERT_EQ(lf_state_find(s, MAC_NEW, &n), -ENOENT);
        lf_state_event *e = NULL;
        size_t ne = 9;
        ASSERT_EQ(lf_state_events(s, MAC_NEW, &e, &ne), 0);
        ASSERT_EQ(ne, 0);
        free(e);
}

TEST(events_are_bounded) {
        _cleanup_manifest_ lf_manifest *m = manifest(three_nodes);
        _cleanup_state_ lf_state *s = synced(lf_test_tmpdir(), m);
        lf_state_event *e = NULL;
        size_t ne = 0;
        lf_diag d = {};

        _cleanup_free_ char *t = token_of(s, MAC_KVM1);
        for (int i = 0; i < LF_STATE_MAX_EVENTS + 20; i++) {
                char step[32];
                snprintf(step, sizeof(step), "step %d", i);
                ASSERT_EQ(lf_state_progress(s, MAC_KVM1, t, step, 1, NULL, &d), 0);
        }
        ASSERT_EQ(lf_state_events(s, MAC_KVM1, &e, &ne), 0);
        ASSERT_EQ(ne, LF_STATE_MAX_EVENTS);
        ASSERT_STREQ(e[ne - 1].message, "step 519");
        lf_state_events_free(e, ne);
}

/* The leader's view of the cluster (roles/cluster.c): 1-minute samples and 10-minute averages,
 * host states from membership, VM placement from reports, persistence across reopening, the
 * scheduler snapshot (golden), the cycle handing its plan to the actions, the state message
 * that carries the view to the other nodes, and the status answer (golden). */
#include <errno.h>
#include <math.h>

#include <sqlite3.h>

#include "../../roles/cluster.h"
#include "json.h"
#include "test.h"

#define T0 INT64_C(1795428000) /* Monday 2026-11-23T10:00:00Z: class hours */

static lf_manifest *room(void) {
        lf_manifest *m = NULL;
        lf_diag d = {};
        if (lf_manifest_load(lf_test_path("tests/fixtures/cluster/room.xml"), &d, &m) < 0)
                lf_test_fail(__FILE__, __LINE__, "%s", d.n ? d.msgs[0] : "cannot load");
        return m;
}

static lf_cluster *open_db(const lf_manifest *m, const char *dir) {
        char path[512];
        lf_cluster *c = NULL;

        snprintf(path, sizeof(path), "%s/cluster.db", dir);
        ASSERT_EQ(lf_cluster_open(m, path, &c), 0);
        return c;
}

/* A report of `node` with cpu_util (or -1) and VMs "name:cores" (cores -1: unknown). */
static lf_msg *report(const char *node, int64_t cpus, int64_t mem_mb, double cpu_util,
                      bool maintenance, const char *const *vms) {
        lf_msg *m = lf_msg_new(LF_MSG_REPORT);

        snprintf(m->node, sizeof(m->node), "%s", node);
        m->seq = 1;
        m->report.cpus = cpus;
        m->report.mem_mb = mem_mb;
        m->report.mem_available_mb = mem_mb / 2;
        m->report.cpu_util = cpu_util;
        m->report.maintenance = maintenance;
        for (const char *const *v = vms; v && *v; v++) {
                lf_msg_vm vm = {.state = LF_VM_RUNNING, .vcpus = 2, .mem_mb = 2048};
                char name[64];
                double cores;
                ASSERT_EQ(sscanf(*v, "%63[^:]:%lf", name, &cores), 2);
                snprintf(vm.name, sizeof(vm.name), "%s", name);
                vm.cpu_cores = cores;
                ASSERT_EQ(lf_msg_add_vm(m, &vm), 0);
        }
        return m;
}

static void send_report(lf_cluster *c, const char *node, int64_t cpus, int64_t mem_mb,
                        double cpu_util, const char *const *vms, int64_t now) {
        _cleanup_msg_ lf_msg *m = report(node, cpus, mem_mb, cpu_util, false, vms);
        ASSERT_EQ(lf_cluster_report(c, m, true, now), 0);
}

static char *status_text(lf_cluster *c, const char *node, bool quorate, const char *leader) {
        _cleanup_json_ json_object *o = NULL;
        ASSERT_EQ(lf_cluster_status(c, node, quorate, leader, &o), 0);
        return lf_json_to_string(o);
}

TEST(ten_minute_averages_of_one_minute_samples) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_cluster_ lf_cluster *c = open_db(m, lf_test_tmpdir());
        double avg = -1;

        /* Twelve minutes of samples: 0, 5, ..., 55 percent; pc01 uses i/10 cores. */
        for (int i = 0; i < 12; i++) {
                char vm[32];
                const char *vms[] = {vm, NULL};
                snprintf(vm, sizeof(vm), "pc01:%g", i / 10.0);
                send_report(c, "kvm1", 8, 32000, 5.0 * i, vms, T0 + 60 * i);
        }
        /* The window (600 s) ending at T0+660 holds minutes 2..11. */
        ASSERT_EQ(lf_cluster_host_cpu(c, "kvm1", T0 + 660, &avg), 0);
        ASSERT_TRUE(fabs(avg - 32.5) < 1e-9);
        ASSERT_EQ(lf_cluster_vm_cores(c, "pc01", T0 + 660, &avg), 0);
        ASSERT_TRUE(fabs(avg - 0.65) < 1e-9);

        /* A second report within minute 11 replaces its sample instead of adding one. */
        send_report(c, "kvm1", 8, 32000, 100, NULL, T0 + 690);
        ASSERT_EQ(lf_cluster_host_cpu(c, "kvm1", T0 + 690, &avg), 0);
        ASSERT_TRUE(fabs(avg - (10 + 15 + 20 + 25 + 30 + 35 + 40 + 45 + 50 + 100) / 10.0) < 1e-9);
        /* A first report without cpu_util adds no sample. */
        send_report(c, "kvm1", 8, 32000, -1, NULL, T0 + 720);
        ASSERT_EQ(lf_cluster_host_cpu(c, "kvm1", T0 + 720, &avg), 0);
        ASSERT_TRUE(fabs(avg - (15 + 20 + 25 + 30 + 35 + 40 + 45 + 50 + 100) / 9.0) < 1e-9);

        /* No samples: 0. Samples older than two windows are dropped. */
        ASSERT_EQ(lf_cluster_host_cpu(c, "kvm2", T0 + 660, &avg), 0);
        ASSERT_TRUE(avg == 0);
        send_report(c, "kvm1", 8, 32000, 50, NULL, T0 + 1500);
        ASSERT_EQ(lf_cluster_host_cpu(c, "kvm1", T0 + 360, &avg), 0);
        ASSERT_TRUE(fabs(avg - 30) < 1e-9); /* minute 6 is kept, minutes 0..5 are gone */
        ASSERT_EQ(lf_cluster_host_cpu(c, "kvm1", T0 + 300, &avg), 0);
        ASSERT_TRUE(avg == 0);
}

TEST(reports_place_vms_and_refuse_strangers) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_cluster_ lf_cluster *c = open_db(m, lf_test_tmpdir());
        _cleanup_msg_ lf_msg *stranger = report("kvm9", 1, 1000, -1, false, NULL);
        const char *both[] = {"pc01:-1", "pc02:-1", NULL}, *one[] = {"pc02:-1", NULL};
        _cleanup_free_ char *a = NULL, *b = NULL;

        ASSERT_EQ(lf_cluster_report(c, stranger, true, T0), -ENOENT);
        send_report(c, "kvm1", 8, 32000, -1, both, T0);
        a = status_text(c, "kvm1", true, "login");
        ASSERT_CONTAINS(a, "\"name\": \"pc01\",\n      \"host\": \"kvm1\"");
        ASSERT_CONTAINS(a, "\"name\": \"kvm1\",\n      \"role\": \"kvm\",\n      \"state\": "
                           "\"up\",\n      \"vms\": 2");
        /* pc02 shows up on kvm2 (migrated), kvm1 no longer lists pc01 (gone). */
        send_report(c, "kvm2", 4, 16000, -1, one, T0 + 60);
        send_report(c, "kvm1", 8, 32000, -1, NULL, T0 + 60);
        b = status_text(c, "kvm1", true, "login");
        ASSERT_TRUE(!strstr(b, "pc01"));
        ASSERT_CONTAINS(b, "\"name\": \"pc02\",\n      \"host\": \"kvm2\"");
}

TEST(a_migrating_vm_keeps_its_row_until_the_destination_reports_it) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_cluster_ lf_cluster *c = open_db(m, lf_test_tmpdir());
        _cleanup_msg_ lf_msg *src = report("kvm1", 8, 32000, -1, false, NULL);
        const char *pc05[] = {"pc05:-1", NULL};
        lf_msg_vm v = {.name = "pc05", .state = LF_VM_MIGRATING, .vcpus = 2, .mem_mb = 2048,
                       .cpu_cores = -1, .template = "win-lab"};

        ASSERT_EQ(lf_msg_add_vm(src, &v), 0);
        ASSERT_EQ(lf_cluster_report(c, src, true, T0), 0);
        ASSERT_EQ(lf_cluster_vm_get(c, "pc05", &v), 0);
        ASSERT_STREQ(v.template, "win-lab"); /* the template came with the report */
        ASSERT_EQ(v.last_migrated, LF_TIME_NONE);
        /* Done: the source no longer lists it before the destination has reported it. */
        send_report(c, "kvm1", 8, 32000, -1, NULL, T0 + 5);
        ASSERT_EQ(lf_cluster_vm_migrated(c, "pc05", T0 + 5), 0);
        ASSERT_EQ(lf_cluster_vm_get(c, "pc05", &v), 0);
        ASSERT_STREQ(v.host, "kvm1");
        send_report(c, "kvm2", 4, 16000, -1, pc05, T0 + 6);
        ASSERT_EQ(lf_cluster_vm_get(c, "pc05", &v), 0);
        ASSERT_STREQ(v.host, "kvm2");
        ASSERT_EQ(v.state, LF_VM_RUNNING);
        ASSERT_STREQ(v.template, "win-lab");
        ASSERT_EQ(v.last_migrated, T0 + 5);
        /* A running VM its host no longer lists is gone. */
        send_report(c, "kvm2", 4, 16000, -1, NULL, T0 + 7);
        ASSERT_EQ(lf_cluster_vm_get(c, "pc05", &v), -ENOENT);
}

TEST(membership_decides_host_states) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_cluster_ lf_cluster *c = open_db(m, lf_test_tmpdir());
        _cleanup_msg_ lf_msg *maint = report("kvm2", 4, 16000, -1, true, NULL);
        const char *all[] = {"store1", "kvm1", "kvm2", "login"}, *some[] = {"kvm2", "login"};
        _cleanup_free_ char *a = NULL, *b = NULL;

        ASSERT_EQ(lf_cluster_report(c, maint, true, T0), 0);
        ASSERT_EQ(lf_cluster_membership(c, all, 4, T0), 0);
        a = status_text(c, "login", true, "login");
        ASSERT_CONTAINS(a, "\"name\": \"kvm2\",\n      \"role\": \"kvm\",\n      \"state\": "
                           "\"maintenance\"");
        ASSERT_CONTAINS(a, "\"name\": \"kvm3\",\n      \"role\": \"kvm\",\n      \"state\": "
                           "\"off\""); /* never seen */
        ASSERT_EQ(lf_cluster_membership(c, some, 2, T0 + 5), 0);
        b = status_text(c, "login", true, "login");
        ASSERT_CONTAINS(b, "\"name\": \"kvm1\",\n      \"role\": \"kvm\",\n      \"state\": "
                           "\"failed\"");
        ASSERT_CONTAINS(b, "\"name\": \"store1\",\n      \"role\": \"storage\",\n      "
                           "\"state\": \"failed\"");
        ASSERT_CONTAINS(b, "\"name\": \"kvm3\",\n      \"role\": \"kvm\",\n      \"state\": "
                           "\"off\"");
}

/* The room used by the snapshot, cycle and state tests: kvm1 with two busy VMs, kvm2 empty,
 * kvm3 never seen, store1 and login up, and pc03 waiting to be placed. */
static void fill(lf_cluster *c) {
        const char *vms[] = {"pc01:1.5", "pc02:0.25", NULL};
        const char *up[] = {"store1", "kvm1", "kvm2", "login"};

        for (int i = 0; i < 10; i++) {
                send_report(c, "kvm1", 8, 32000, 40 + i, vms, T0 - 600 + 60 * i);
                send_report(c, "kvm2", 4, 16000, 2, NULL, T0 - 600 + 60 * i);
        }
        ASSERT_EQ(lf_cluster_membership(c, up, 4, T0), 0);
        ASSERT_EQ(lf_cluster_add_pending(c, "pc03", "win-lab", 2048, 2), 0);
        ASSERT_EQ(lf_cluster_add_pending(c, "pc03", NULL, 1024, 1), -EEXIST);
}

TEST(snapshot_for_the_scheduler) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_cluster_ lf_cluster *c = open_db(m, lf_test_tmpdir());
        _cleanup_snapshot_ lf_snapshot *s = NULL;
        _cleanup_json_ json_object *o = NULL;
        _cleanup_free_ char *text = NULL;

        fill(c);
        ASSERT_TRUE(lf_cluster_has_pending(c));
        ASSERT_EQ(lf_cluster_snapshot(c, T0, &s), 0);
        ASSERT_EQ(lf_snapshot_to_json(s, &o), 0);
        text = lf_json_to_string(o);
        ASSERT_GOLDEN(text, "tests/fixtures/cluster/room.snapshot.json");
}

typedef struct recorder {
        char log[1024];
} recorder;

#define REC(r, ...)                                                                                \
        snprintf((r)->log + strlen((r)->log), sizeof((r)->log) - strlen((r)->log), __VA_ARGS__)

static int rec_start(void *ud, const char *vm, const char *host, int64_t at) {
        REC((recorder *)ud, "start %s %s %lld\n", vm, host, (long long)at);
        return 0;
}

static int rec_migrate(void *ud, const char *vm, const char *from, const char *to,
                       lf_sched_reason reason) {
        REC((recorder *)ud, "migrate %s %s %s %s\n", vm, from, to,
            lf_sched_reason_to_string(reason));
        return 0;
}

static int rec_power(void *ud, const char *host) {
        REC((recorder *)ud, "power %s\n", host);
        return 0;
}

TEST(cycle_places_pending_vms) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_cluster_ lf_cluster *c = open_db(m, lf_test_tmpdir());
        _cleanup_free_ char *text = NULL;
        recorder rec = {};
        lf_cluster_actions actions = {rec_start, rec_migrate, rec_power, rec_power, &rec};

        fill(c);
        /* Without anything to carry it out, the plan is only logged; status tells what is next:
         * pc03 goes to the up host with the fewest VMs (kvm2), after which kvm1 (2) and kvm2
         * (1) are within one VM of each other and memory balance has nothing to do. */
        ASSERT_EQ(lf_cluster_cycle(c, T0, NULL), 0);
        text = status_text(c, "login", true, "login");
        ASSERT_CONTAINS(text, "\"mode\": \"memory\",\n  \"next_action\": \"start pc03 on kvm2\"");
        ASSERT_EQ(lf_cluster_cycle(c, T0, &actions), 0);
        ASSERT_STREQ(rec.log, "start pc03 kvm2 0\n");
}

TEST(a_started_vm_is_starting_until_its_host_reports_it) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_cluster_ lf_cluster *c = open_db(m, lf_test_tmpdir());
        const char *kvm2_vms[] = {"pc03:0.5", NULL};
        recorder rec = {};
        lf_cluster_actions actions = {rec_start, rec_migrate, rec_power, rec_power, &rec};
        lf_msg_vm v;

        fill(c);
        ASSERT_EQ(lf_cluster_vm_starting(c, "pc03", "kvm2", T0), 0);
        ASSERT_EQ(lf_cluster_vm_starting(c, "pc03", "kvm1", T0), -ENOENT); /* not pending */
        ASSERT_EQ(lf_cluster_vm_get(c, "pc03", &v), 0);
        ASSERT_EQ(v.state, LF_VM_STARTING);
        ASSERT_STREQ(v.host, "kvm2");
        ASSERT_STREQ(v.template, "win-lab");
        ASSERT_TRUE(!lf_cluster_has_pending(c));
        /* Not placed again, and a report of kvm2 without it (not defined yet) keeps it. */
        send_report(c, "kvm2", 4, 16000, 2, NULL, T0 + 10);
        ASSERT_EQ(lf_cluster_cycle(c, T0 + 10, &actions), 0);
        ASSERT_STREQ(rec.log, "");
        ASSERT_EQ(lf_cluster_vm_get(c, "pc03", &v), 0);
        ASSERT_EQ(v.state, LF_VM_STARTING);
        /* A start nobody confirmed goes back to pending after the timeout, not before. */
        ASSERT_EQ(lf_cluster_expire_starting(c, T0 + 119, 120), 0);
        ASSERT_TRUE(!lf_cluster_has_pending(c));
        ASSERT_EQ(lf_cluster_expire_starting(c, T0 + 120, 120), 0);
        ASSERT_TRUE(lf_cluster_has_pending(c));
        /* Started again; a failed start puts it back at once; then kvm2 reports it running. */
        ASSERT_EQ(lf_cluster_vm_starting(c, "pc03", "kvm2", T0 + 130), 0);
        ASSERT_EQ(lf_cluster_vm_unstart(c, "pc03"), 0);
        ASSERT_TRUE(lf_cluster_has_pending(c));
        ASSERT_EQ(lf_cluster_vm_starting(c, "pc03", "kvm2", T0 + 140), 0);
        send_report(c, "kvm2", 4, 16000, 2, kvm2_vms, T0 + 150);
        ASSERT_EQ(lf_cluster_vm_get(c, "pc03", &v), 0);
        ASSERT_EQ(v.state, LF_VM_RUNNING);
        ASSERT_STREQ(v.template, "win-lab"); /* the report does not name it; it is kept */
        ASSERT_EQ(lf_cluster_vm_unstart(c, "pc03"), 0); /* running: no change */
        ASSERT_EQ(lf_cluster_vm_get(c, "pc03", &v), 0);
        ASSERT_STREQ(v.host, "kvm2");
        ASSERT_EQ(lf_cluster_vm_remove(c, "pc03"), 0);
        ASSERT_EQ(lf_cluster_vm_get(c, "pc03", &v), -ENOENT);
}

TEST(balance_now_ignores_the_interval_and_can_dry_run) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_cluster_ lf_cluster *c = open_db(m, lf_test_tmpdir());
        const char *vms[] = {"pc01:1.5", "pc02:0.25", NULL};
        const char *up[] = {"kvm1", "kvm2"};
        _cleanup_json_ json_object *plan = NULL, *again = NULL;
        _cleanup_free_ char *text = NULL;
        recorder rec = {};
        lf_cluster_actions actions = {rec_start, rec_migrate, rec_power, rec_power, &rec};

        send_report(c, "kvm1", 8, 32000, 40, vms, T0);
        send_report(c, "kvm2", 8, 32000, 2, NULL, T0);
        ASSERT_EQ(lf_cluster_membership(c, up, 2, T0), 0);
        ASSERT_EQ(lf_cluster_cycle(c, T0, &actions), 0);
        ASSERT_STREQ(rec.log, "migrate pc02 kvm1 kvm2 memory\n");
        rec.log[0] = 0;
        /* The regular cycle waits an hour; balance now does not, and a dry run only plans. */
        ASSERT_EQ(lf_cluster_balance(c, T0 + 60, LF_SCHED_MEMORY, true, &actions, &plan), 0);
        ASSERT_STREQ(rec.log, "");
        text = lf_json_to_string(json_object_object_get(plan, "migrations"));
        ASSERT_CONTAINS(text, "\"vm\": \"pc02\"");
        ASSERT_EQ(lf_cluster_balance(c, T0 + 60, LF_SCHED_MEMORY, false, &actions, &again), 0);
        ASSERT_STREQ(rec.log, "migrate pc02 kvm1 kvm2 memory\n");
        json_object_put(again);
        again = NULL;
        ASSERT_EQ(lf_cluster_balance(c, T0 + 60, LF_SCHED_MEMORY, false, NULL, &again),
                  -EOPNOTSUPP);
}

TEST(cycle_balances_once_per_interval) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_cluster_ lf_cluster *c = open_db(m, lf_test_tmpdir());
        const char *vms[] = {"pc01:1.5", "pc02:0.25", NULL};
        const char *up[] = {"kvm1", "kvm2"};
        _cleanup_free_ char *text = NULL;
        recorder rec = {};
        lf_cluster_actions actions = {rec_start, rec_migrate, rec_power, rec_power, &rec};

        send_report(c, "kvm1", 8, 32000, 40, vms, T0);
        send_report(c, "kvm2", 8, 32000, 2, NULL, T0);
        ASSERT_EQ(lf_cluster_membership(c, up, 2, T0), 0);
        /* A plan only logged does not count as run ... */
        ASSERT_EQ(lf_cluster_cycle(c, T0, NULL), 0);
        /* ... so the balance comes again, and is carried out: of two VMs of the same size, the
         * idler one moves. */
        ASSERT_EQ(lf_cluster_cycle(c, T0 + 60, &actions), 0);
        ASSERT_STREQ(rec.log, "migrate pc02 kvm1 kvm2 memory\n");
        /* Until the reports show it moved, the same imbalance is seen, but memory balance ran
         * and waits for its interval (the policy's 60 minutes). */
        rec.log[0] = 0;
        ASSERT_EQ(lf_cluster_cycle(c, T0 + 120, &actions), 0);
        ASSERT_STREQ(rec.log, "");
        text = status_text(c, "kvm1", true, "kvm1");
        ASSERT_CONTAINS(text, "\"next_action\": \"none\"");
        ASSERT_EQ(lf_cluster_cycle(c, T0 + 60 + 3599, &actions), 0);
        ASSERT_STREQ(rec.log, "");
        /* Fresh samples: the VMs' averages of an hour ago have left the window. */
        send_report(c, "kvm1", 8, 32000, 40, vms, T0 + 60 + 3600);
        ASSERT_EQ(lf_cluster_cycle(c, T0 + 60 + 3600, &actions), 0);
        ASSERT_STREQ(rec.log, "migrate pc02 kvm1 kvm2 memory\n");
}

TEST(state_message_carries_the_view_and_survives_reopening) {
        _cleanup_manifest_ lf_manifest *m = room();
        const char *dir_a = lf_test_tmpdir(), *dir_b;
        char a_path[512];
        _cleanup_msg_ lf_msg *state = NULL, *decoded = NULL;
        _cleanup_free_ char *wire = NULL, *view_a = NULL, *view_b = NULL, *again = NULL;
        size_t len = 0;
        lf_diag d = {};
        lf_cluster *a = open_db(m, dir_a), *b;

        snprintf(a_path, sizeof(a_path), "%s", dir_a);
        fill(a);
        ASSERT_EQ(lf_cluster_cycle(a, T0, NULL), 0);
        ASSERT_EQ(lf_cluster_state_msg(a, "login", T0, &state), 0);
        state->seq = 1; /* the daemon numbers what it sends */
        if (lf_msg_encode(state, &d, &wire, &len) < 0)
                lf_test_fail(__FILE__, __LINE__, "encode: %s", d.n ? d.msgs[0] : "?");
        ASSERT_EQ(lf_msg_decode(wire, len, "login", &d, &decoded), 0);
        view_a = status_text(a, "kvm2", true, "login");
        ASSERT_GOLDEN(view_a, "tests/fixtures/cluster/room.status.json");
        lf_cluster_free(a);

        dir_b = lf_test_tmpdir();
        b = open_db(m, dir_b);
        ASSERT_EQ(lf_cluster_apply_state(b, decoded), 0);
        view_b = status_text(b, "kvm2", true, "login");
        ASSERT_STREQ(view_b, view_a);
        lf_cluster_free(b);

        /* A restarted (or newly elected) leader continues from its database. */
        a = open_db(m, a_path);
        again = status_text(a, "kvm2", true, "login");
        ASSERT_STREQ(again, view_a);
        double avg;
        ASSERT_EQ(lf_cluster_host_cpu(a, "kvm1", T0, &avg), 0);
        ASSERT_TRUE(fabs(avg - 45) < 1e-9); /* minutes 1..9 of fill(): 41..49 */
        lf_cluster_free(a);
}

TEST(database_of_another_lab_refused) {
        _cleanup_manifest_ lf_manifest *m = room(), *other = NULL;
        const char *dir = lf_test_tmpdir();
        char path[512];
        lf_cluster *c = open_db(m, dir);
        lf_diag d = {};

        lf_cluster_free(c);
        c = NULL;
        ASSERT_EQ(lf_manifest_load(lf_test_path("tests/fixtures/cluster/pair.xml"), &d, &other), 0);
        snprintf(path, sizeof(path), "%s/cluster.db", dir);
        ASSERT_EQ(lf_cluster_open(other, path, &c), -EINVAL);
        ASSERT_TRUE(c == NULL);
        ASSERT_EQ(lf_cluster_open(m, "/nonexistent/dir/cluster.db", &c), -EIO);
}

TEST(database_of_schema_1_is_upgraded) {
        _cleanup_manifest_ lf_manifest *m = room();
        char path[512];
        sqlite3 *db = NULL;
        lf_cluster *c = NULL;
        lf_msg_vm v;

        snprintf(path, sizeof(path), "%s/cluster.db", lf_test_tmpdir());
        ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db,
                               "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                               "INSERT INTO meta VALUES('lab', 'room-301'), ('schema', '1');"
                               "CREATE TABLE vms(name TEXT PRIMARY KEY, host TEXT, state TEXT NOT "
                               "NULL, vcpus INTEGER NOT NULL, mem_mb INTEGER NOT NULL, pinned "
                               "INTEGER NOT NULL DEFAULT 0, last_migrated INTEGER);"
                               "INSERT INTO vms VALUES('pc01', NULL, 'pending', 1, 512, 0, NULL);",
                               NULL, NULL, NULL),
                  SQLITE_OK);
        sqlite3_close(db);
        ASSERT_EQ(lf_cluster_open(m, path, &c), 0);
        ASSERT_EQ(lf_cluster_vm_get(c, "pc01", &v), 0);
        ASSERT_STREQ(v.template, "");
        ASSERT_EQ(lf_cluster_add_pending(c, "pc02", "win-lab", 2048, 2), 0);
        ASSERT_EQ(lf_cluster_vm_get(c, "pc02", &v), 0);
        ASSERT_STREQ(v.template, "win-lab");
        lf_cluster_free(c);
        c = NULL;
        ASSERT_EQ(lf_cluster_open(m, path, &c), 0); /* now schema 2 */
        lf_cluster_free(c);
}

TEST(status_without_quorum_or_leader) {
        _cleanup_manifest_ lf_manifest *m = room();
        _cleanup_cluster_ lf_cluster *c = open_db(m, lf_test_tmpdir());
        _cleanup_free_ char *text = status_text(c, "kvm3", false, NULL);

        ASSERT_CONTAINS(text, "\"node\": \"kvm3\",\n  \"quorate\": false,\n  \"leader\": null,\n"
                              "  \"mode\": \"unknown\",\n  \"next_action\": \"none\",\n");
        ASSERT_CONTAINS(text, "\"vms\": [\n  ]");
}

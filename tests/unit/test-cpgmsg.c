/* The CPG message codec (roles/msg.c): the wire format of each type (golden), round trips, and
 * the decoder refusing malformed, inconsistent and oversized input with a message naming the
 * problem. */
#include <stdarg.h>

#include "../../roles/msg.h"
#include "test.h"

/* A message with a correct header around `json` (or `len` bytes of it). */
static char *raw(int type, const char *json, size_t *ret_len) {
        size_t n = strlen(json);
        char *b = malloc(LF_MSG_HEADER_SIZE + n + 1);

        memcpy(b, "LFCM", 4);
        b[4] = 1;
        b[5] = (char)type;
        b[6] = b[7] = 0;
        for (int i = 0; i < 4; i++)
                b[8 + i] = (char)((n >> (24 - 8 * i)) & 0xff);
        memcpy(b + LF_MSG_HEADER_SIZE, json, n + 1);
        *ret_len = LF_MSG_HEADER_SIZE + n;
        return b;
}

/* Decodes what must be refused; returns every message joined by newlines. */
static char *refused_buf(const char *buf, size_t len, int want) {
        lf_msg *m = NULL;
        lf_diag d = {};
        char *all = NULL;
        size_t n = 0;
        FILE *f;

        ASSERT_EQ(lf_msg_decode(buf, len, "from kvm1", &d, &m), want);
        ASSERT_TRUE(m == NULL);
        ASSERT_TRUE(d.n > 0);
        f = open_memstream(&all, &n);
        for (size_t i = 0; i < d.n; i++)
                fprintf(f, "%s\n", d.msgs[i]);
        fclose(f);
        lf_diag_clear(&d);
        return all;
}

static char *refused(int type, const char *json) {
        size_t len;
        _cleanup_free_ char *b = raw(type, json, &len);
        return refused_buf(b, len, -EINVAL);
}

static lf_msg *decoded(int type, const char *json) {
        size_t len;
        _cleanup_free_ char *b = raw(type, json, &len);
        lf_msg *m = NULL;
        lf_diag d = {};

        if (lf_msg_decode(b, len, "from kvm1", &d, &m) < 0)
                lf_test_fail(__FILE__, __LINE__, "refused: %s", d.n ? d.msgs[0] : "?");
        return m;
}

static lf_msg *sample(lf_msg_type type) {
        lf_msg *m = lf_msg_new(type);
        strcpy(m->node, type == LF_MSG_REPORT || type == LF_MSG_RESULT ? "kvm1" : "login");
        m->seq = 42;
        m->time = 1795428000; /* 2026-11-23T10:00:00Z */
        return m;
}

static char *wire(const lf_msg *m) {
        char *buf = NULL, *text = NULL;
        size_t len = 0, n = 0;
        lf_diag d = {};
        FILE *f;

        if (lf_msg_encode(m, &d, &buf, &len) < 0)
                lf_test_fail(__FILE__, __LINE__, "encode: %s", d.n ? d.msgs[0] : "?");
        f = open_memstream(&text, &n);
        for (size_t i = 0; i < LF_MSG_HEADER_SIZE; i++)
                fprintf(f, "%02x%s", (unsigned char)buf[i], i == 11 ? "\n" : " ");
        fwrite(buf + LF_MSG_HEADER_SIZE, 1, len - LF_MSG_HEADER_SIZE, f);
        fputc('\n', f);
        fclose(f);
        free(buf);
        return text;
}

static lf_msg *round_trip(const lf_msg *m) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        lf_msg *back = NULL;
        lf_diag d = {};

        ASSERT_EQ(lf_msg_encode(m, &d, &buf, &len), 0);
        ASSERT_EQ(lf_msg_decode(buf, len, "self", &d, &back), 0);
        ASSERT_EQ(back->type, m->type);
        ASSERT_STREQ(back->node, m->node);
        ASSERT_EQ(back->seq, m->seq);
        ASSERT_EQ(back->time, m->time);
        return back;
}

TEST(report_wire_format_and_round_trip) {
        _cleanup_msg_ lf_msg *m = sample(LF_MSG_REPORT), *back = NULL;
        _cleanup_free_ char *text = NULL;
        lf_msg_vm a = {.name = "pc01", .state = LF_VM_RUNNING, .vcpus = 2, .mem_mb = 2048,
                       .cpu_cores = 0.4567, .template = "win-lab"},
                  b = {.name = "pc02", .state = LF_VM_PAUSED, .vcpus = 1, .mem_mb = 1024,
                       .cpu_cores = -1};

        m->report.maintenance = true;
        m->report.cpus = 8;
        m->report.mem_mb = 32000;
        m->report.mem_available_mb = 20000;
        m->report.cpu_util = 37.5;
        ASSERT_EQ(lf_msg_add_vm(m, &a), 0);
        ASSERT_EQ(lf_msg_add_vm(m, &b), 0);
        text = wire(m);
        ASSERT_GOLDEN(text, "tests/fixtures/cluster/msg-report.txt");

        back = round_trip(m);
        ASSERT_TRUE(back->report.maintenance);
        ASSERT_EQ(back->report.cpus, 8);
        ASSERT_EQ(back->report.mem_available_mb, 20000);
        ASSERT_TRUE(back->report.cpu_util == 37.5);
        ASSERT_EQ(back->report.n_vms, 2);
        ASSERT_STREQ(back->report.vms[0].name, "pc01");
        ASSERT_TRUE(back->report.vms[0].cpu_cores == 0.457); /* three decimals on the wire */
        ASSERT_TRUE(back->report.vms[1].cpu_cores == -1);    /* unknown stays unknown */
        ASSERT_EQ(back->report.vms[1].state, LF_VM_PAUSED);
        /* The template travels with the VM, so the leader keeps it across a migration. */
        ASSERT_STREQ(back->report.vms[0].template, "win-lab");
        ASSERT_STREQ(back->report.vms[1].template, "");
}

TEST(first_report_has_no_cpu_util) {
        _cleanup_msg_ lf_msg *m = sample(LF_MSG_REPORT), *back = NULL;

        m->report.cpus = 2;
        m->report.mem_mb = 4000;
        m->report.mem_available_mb = 4000;
        back = round_trip(m);
        ASSERT_TRUE(back->report.cpu_util == -1);
        ASSERT_EQ(back->report.n_vms, 0);
}

TEST(state_wire_format_and_round_trip) {
        _cleanup_msg_ lf_msg *m = sample(LF_MSG_STATE), *back = NULL;
        _cleanup_free_ char *text = NULL;
        lf_msg_host h1 = {.name = "kvm1", .state = LF_HOST_UP},
                    h2 = {.name = "kvm2", .state = LF_HOST_FAILED};
        lf_msg_vm run = {.name = "pc01", .host = "kvm1", .state = LF_VM_RUNNING, .vcpus = 2,
                         .mem_mb = 2048, .pinned = true, .last_migrated = 1795420000},
                  wait = {.name = "pc02", .state = LF_VM_PENDING, .vcpus = 2, .mem_mb = 2048,
                          .last_migrated = LF_TIME_NONE};

        m->state.mode = LF_SCHED_ENERGY;
        strcpy(m->state.next_action, "power off kvm2");
        m->state.last_run[LF_SCHED_ENERGY] = 1795427000;
        ASSERT_EQ(lf_msg_add_host(m, &h1), 0);
        ASSERT_EQ(lf_msg_add_host(m, &h2), 0);
        ASSERT_EQ(lf_msg_add_vm(m, &run), 0);
        ASSERT_EQ(lf_msg_add_vm(m, &wait), 0);
        text = wire(m);
        ASSERT_GOLDEN(text, "tests/fixtures/cluster/msg-state.txt");

        back = round_trip(m);
        ASSERT_EQ(back->state.mode, LF_SCHED_ENERGY);
        ASSERT_STREQ(back->state.next_action, "power off kvm2");
        ASSERT_EQ(back->state.last_run[LF_SCHED_ENERGY], 1795427000);
        ASSERT_EQ(back->state.last_run[LF_SCHED_MEMORY], LF_TIME_NONE);
        ASSERT_EQ(back->state.n_hosts, 2);
        ASSERT_EQ(back->state.hosts[1].state, LF_HOST_FAILED);
        ASSERT_EQ(back->state.n_vms, 2);
        ASSERT_STREQ(back->state.vms[0].host, "kvm1");
        ASSERT_TRUE(back->state.vms[0].pinned);
        ASSERT_EQ(back->state.vms[0].last_migrated, 1795420000);
        ASSERT_STREQ(back->state.vms[1].host, "");
        ASSERT_EQ(back->state.vms[1].last_migrated, LF_TIME_NONE);
}

TEST(command_and_result_wire_format) {
        _cleanup_msg_ lf_msg *c = sample(LF_MSG_COMMAND), *ok = sample(LF_MSG_RESULT),
                             *fail = sample(LF_MSG_RESULT), *back = NULL;
        _cleanup_free_ char *text = NULL;
        char *parts[3];

        c->command.id = 7;
        c->command.action = LF_ACTION_MIGRATE;
        strcpy(c->command.target, "kvm1");
        strcpy(c->command.vm, "pc01");
        strcpy(c->command.to, "kvm2");
        ok->result.id = 7;
        ok->result.ok = true;
        fail->result.id = 8;
        strcpy(fail->result.error, "domain pc03 is not defined on kvm1");
        parts[0] = wire(c);
        parts[1] = wire(ok);
        parts[2] = wire(fail);
        asprintf(&text, "%s%s%s", parts[0], parts[1], parts[2]);
        for (int i = 0; i < 3; i++)
                free(parts[i]);
        ASSERT_GOLDEN(text, "tests/fixtures/cluster/msg-command.txt");

        back = round_trip(c);
        ASSERT_EQ(back->command.action, LF_ACTION_MIGRATE);
        ASSERT_STREQ(back->command.to, "kvm2");
        ASSERT_STREQ(back->command.host, "");
        lf_msg_free(back);
        back = round_trip(fail);
        ASSERT_TRUE(!back->result.ok);
        ASSERT_STREQ(back->result.error, "domain pc03 is not defined on kvm1");
}

TEST(header_refusals) {
        static const char json[] = "{\"node\":\"kvm1\",\"seq\":1,\"time\":0,\"id\":1,\"ok\":true}";
        size_t len;
        _cleanup_free_ char *b = raw(LF_MSG_RESULT, json, &len);
        char *m;

        m = refused_buf(b, 11, -EINVAL);
        ASSERT_STREQ(m, "from kvm1: 11 bytes, shorter than the 12-byte header\n");
        free(m);
        b[0] = 'X';
        m = refused_buf(b, len, -EINVAL);
        ASSERT_STREQ(m, "from kvm1: not a labforge message (no \"LFCM\" magic)\n");
        free(m);
        b[0] = 'L';
        b[4] = 2;
        m = refused_buf(b, len, -EINVAL);
        ASSERT_CONTAINS(m, "message format version 2, but this labforged speaks version 1;");
        free(m);
        b[4] = 1;
        b[5] = 9;
        m = refused_buf(b, len, -EINVAL);
        ASSERT_STREQ(m, "from kvm1: unknown message type 9\n");
        free(m);
        b[5] = LF_MSG_RESULT;
        b[7] = 1;
        m = refused_buf(b, len, -EINVAL);
        ASSERT_STREQ(m, "from kvm1: reserved header bytes are not zero\n");
        free(m);
        b[7] = 0;
        m = refused_buf(b, len - 1, -EINVAL);
        ASSERT_CONTAINS(m, "header announces 49 payload bytes, but 48 follow");
        free(m);
        b[8] = 0x7f; /* announces ~2 GiB */
        m = refused_buf(b, len, -E2BIG);
        ASSERT_STREQ(m, "from kvm1: payload larger than the 1048576 bytes allowed\n");
        free(m);
        b[8] = 0;
        b[LF_MSG_HEADER_SIZE + 3] = 0;
        m = refused_buf(b, len, -EINVAL);
        ASSERT_STREQ(m, "from kvm1: payload contains a NUL byte\n");
        free(m);
}

TEST(oversized_payload_refused) {
        size_t n = LF_MSG_MAX_PAYLOAD + 1, len;
        _cleanup_free_ char *json = malloc(n + 1), *b = NULL, *m = NULL;

        memset(json, ' ', n);
        json[0] = '{';
        json[n - 1] = '}';
        json[n] = 0;
        b = raw(LF_MSG_REPORT, json, &len);
        m = refused_buf(b, len, -E2BIG);
        ASSERT_CONTAINS(m, "payload larger than the 1048576 bytes allowed");
}

TEST(payload_refusals) {
        char *m;

        m = refused(LF_MSG_RESULT, "{\"node\":");
        ASSERT_CONTAINS(m, "from kvm1:1: malformed JSON");
        free(m);
        m = refused(LF_MSG_RESULT, "[1]");
        ASSERT_STREQ(m, "from kvm1: top level: expected an object, got an array\n");
        free(m);
        m = refused(LF_MSG_RESULT, "{\"node\":\"kvm1\",\"seq\":0,\"id\":1,\"ok\":true,\"x\":1}");
        ASSERT_CONTAINS(m, "from kvm1: x: unknown key; known keys: node, seq, time, id, ok, "
                           "error, answer\n");
        ASSERT_CONTAINS(m, "from kvm1: seq: 0 is out of range; expected 1 to");
        ASSERT_CONTAINS(m, "from kvm1: missing required key \"time\"\n");
        free(m);
        m = refused(LF_MSG_RESULT, "{\"node\":\"Kvm_1\",\"seq\":1,\"time\":1,\"id\":1,\"ok\":true,"
                                   "\"error\":\"x\"}");
        ASSERT_CONTAINS(m, "from kvm1: node: not a valid name (lowercase letters, digits and "
                           "'-', at most 63 bytes)\n");
        free(m);
        m = refused(LF_MSG_RESULT, "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,\"id\":1,\"ok\":true,"
                                   "\"error\":\"x\"}");
        ASSERT_STREQ(m, "from kvm1: error: a success carries no error\n");
        free(m);
        m = refused(LF_MSG_RESULT, "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,\"id\":1,\"ok\":false,"
                                   "\"error\":\"a\\u0000b\"}");
        ASSERT_STREQ(m, "from kvm1: error: contains a NUL character\n");
        free(m);
        m = refused(LF_MSG_RESULT, "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,\"id\":1,\"ok\":false,"
                                   "\"error\":\"two\\nlines\"}");
        ASSERT_STREQ(m, "from kvm1: error: contains control characters\n");
        free(m);
        m = refused(LF_MSG_RESULT, "{\"node\":\"\",\"seq\":1,\"time\":1,\"id\":1,\"ok\":true}");
        ASSERT_CONTAINS(m, "node: not a valid name");
        free(m);
}

TEST(report_refusals) {
        char *m;

        m = refused(LF_MSG_REPORT,
                    "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,\"maintenance\":0,\"cpus\":0,"
                    "\"mem_mb\":100,\"mem_available_mb\":200,\"cpu_util\":101,\"vms\":["
                    "{\"name\":\"pc01\",\"state\":\"pending\",\"vcpus\":1,\"mem_mb\":1},"
                    "{\"name\":\"pc02\",\"state\":\"asleep\",\"vcpus\":1,\"mem_mb\":-5,"
                    "\"pinned\":true},"
                    "{\"name\":\"pc01\",\"state\":\"running\",\"vcpus\":1,\"mem_mb\":1}, 7]}");
        ASSERT_CONTAINS(m, "maintenance: expected true or false, got an integer\n");
        ASSERT_CONTAINS(m, "cpus: 0 is out of range; expected 1 to 4096\n");
        ASSERT_CONTAINS(m, "cpu_util: 101 is out of range; expected 0 to 100\n");
        ASSERT_CONTAINS(m, "vms[0].state: a host reports no pending VMs\n");
        ASSERT_CONTAINS(m, "vms[1].state: unknown value; expected one of pending, running, "
                           "paused, stopped, migrating, crashed, starting\n");
        ASSERT_CONTAINS(m, "vms[1].mem_mb: -5 is out of range");
        ASSERT_CONTAINS(m, "vms[1].pinned: unknown key");
        ASSERT_CONTAINS(m, "vms[3]: expected an object, got an integer\n");
        free(m);

        m = refused(LF_MSG_REPORT,
                    "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,\"maintenance\":false,\"cpus\":4,"
                    "\"mem_mb\":100,\"mem_available_mb\":200,\"vms\":[]}");
        ASSERT_STREQ(m, "from kvm1: mem_available_mb: 200 is more than mem_mb (100)\n");
        free(m);
        m = refused(LF_MSG_REPORT,
                    "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,\"maintenance\":false,\"cpus\":4,"
                    "\"mem_mb\":100,\"mem_available_mb\":50,\"vms\":["
                    "{\"name\":\"pc01\",\"state\":\"running\",\"vcpus\":1,\"mem_mb\":1},"
                    "{\"name\":\"pc01\",\"state\":\"running\",\"vcpus\":1,\"mem_mb\":1}]}");
        ASSERT_STREQ(m, "from kvm1: vms: 'pc01' is listed twice\n");
        free(m);
}

TEST(report_vm_limit) {
        _cleanup_msg_ lf_msg *m = sample(LF_MSG_REPORT);
        lf_msg_vm v = {.state = LF_VM_RUNNING, .vcpus = 1, .mem_mb = 1, .cpu_cores = -1};
        char *json = NULL, *p;
        size_t n = 0;
        FILE *f = open_memstream(&json, &n);

        for (int i = 0; i < LF_MSG_MAX_REPORT_VMS; i++) {
                snprintf(v.name, sizeof(v.name), "vm%d", i);
                ASSERT_EQ(lf_msg_add_vm(m, &v), 0);
        }
        ASSERT_EQ(lf_msg_add_vm(m, &v), -E2BIG);
        ASSERT_EQ(lf_msg_add_host(m, &(lf_msg_host){.name = "x"}), -EINVAL);

        /* A peer sending more than the limit is refused too. */
        fprintf(f, "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,\"maintenance\":false,\"cpus\":4,"
                   "\"mem_mb\":100,\"mem_available_mb\":50,\"vms\":[");
        for (int i = 0; i <= LF_MSG_MAX_REPORT_VMS; i++)
                fprintf(f, "%s{\"name\":\"vm%d\",\"state\":\"running\",\"vcpus\":1,\"mem_mb\":1}",
                        i ? "," : "", i);
        fprintf(f, "]}");
        fclose(f);
        p = refused(LF_MSG_REPORT, json);
        ASSERT_STREQ(p, "from kvm1: vms: 1025 entries, more than the 1024 allowed\n");
        free(p);
        free(json);
}

TEST(state_refusals) {
        char *m;

        m = refused(LF_MSG_STATE,
                    "{\"node\":\"login\",\"seq\":1,\"time\":1,\"mode\":\"lazy\",\"next_action\":1,"
                    "\"last_run\":{\"memory\":-1,\"place\":5},"
                    "\"hosts\":[{\"name\":\"kvm1\",\"state\":\"sleeping\"}],\"vms\":[]}");
        ASSERT_CONTAINS(m, "mode: unknown value; expected one of place, memory, compute, energy");
        ASSERT_CONTAINS(m, "next_action: expected a string, got an integer\n");
        ASSERT_CONTAINS(m, "last_run.place: unknown key; known keys: memory, compute, energy\n");
        ASSERT_CONTAINS(m, "last_run.memory: -1 is out of range");
        ASSERT_CONTAINS(m, "hosts[0].state: unknown value; expected one of up, off, "
                           "maintenance, failed\n");
        free(m);

        m = refused(LF_MSG_STATE,
                    "{\"node\":\"login\",\"seq\":1,\"time\":1,\"mode\":\"memory\","
                    "\"next_action\":\"\",\"last_run\":{},"
                    "\"hosts\":[{\"name\":\"kvm1\",\"state\":\"up\"}],\"vms\":["
                    "{\"name\":\"pc01\",\"host\":\"kvm1\",\"state\":\"pending\",\"vcpus\":1,"
                    "\"mem_mb\":1,\"pinned\":false,\"last_migrated\":null},"
                    "{\"name\":\"pc02\",\"host\":null,\"state\":\"running\",\"vcpus\":1,"
                    "\"mem_mb\":1,\"pinned\":false,\"last_migrated\":null}]}");
        ASSERT_CONTAINS(m, "vms[0].host: a pending VM has no host (null)\n");
        ASSERT_CONTAINS(m, "vms[1].host: only a pending VM has no host\n");
        free(m);

        m = refused(LF_MSG_STATE,
                    "{\"node\":\"login\",\"seq\":1,\"time\":1,\"mode\":\"memory\","
                    "\"next_action\":\"\",\"last_run\":{},"
                    "\"hosts\":[{\"name\":\"kvm1\",\"state\":\"up\"}],\"vms\":["
                    "{\"name\":\"pc01\",\"host\":\"kvm7\",\"state\":\"running\",\"vcpus\":1,"
                    "\"mem_mb\":1,\"pinned\":false,\"last_migrated\":null}]}");
        ASSERT_STREQ(m, "from kvm1: vms[0].host: 'kvm7' is not among hosts\n");
        free(m);

        m = refused(LF_MSG_STATE,
                    "{\"node\":\"login\",\"seq\":1,\"time\":1,\"mode\":\"memory\","
                    "\"next_action\":\"\",\"last_run\":{},"
                    "\"hosts\":[{\"name\":\"kvm1\",\"state\":\"up\"},"
                    "{\"name\":\"kvm1\",\"state\":\"off\"}],\"vms\":[]}");
        ASSERT_STREQ(m, "from kvm1: hosts: 'kvm1' is listed twice\n");
        free(m);
}

TEST(command_refusals) {
        static const char *const cases[][2] = {
                {"\"action\":\"start\"", "vm: start needs the VM"},
                {"\"action\":\"stop\",\"vm\":\"pc01\",\"host\":\"kvm1\"",
                 "host: stop takes no host"},
                {"\"action\":\"migrate\",\"vm\":\"pc01\"", "to: migrate needs the destination"},
                {"\"action\":\"migrate\",\"vm\":\"pc01\",\"to\":\"kvm1\"",
                 "to: 'kvm1' is the target, where the VM runs now"},
                {"\"action\":\"power_off\",\"vm\":\"pc01\",\"host\":\"kvm2\"",
                 "vm: power_off takes no VM"},
                {"\"action\":\"power_on\"", "host: power_on needs the host"},
                {"\"action\":\"power_on\",\"host\":\"kvm2\",\"to\":\"kvm3\"",
                 "to: power_on takes no destination"},
                {"\"action\":\"reboot\",\"host\":\"kvm2\"",
                 "action: unknown value; expected one of start, stop, migrate, power_on, "
                 "power_off, kill, delete, disk_create, disk_reset, disk_delete, "
                 "maintenance_on, maintenance_off"},
                {"\"action\":\"start\",\"vm\":\"pc01\"", "template: start needs the template"},
                {"\"action\":\"kill\",\"vm\":\"pc01\",\"template\":\"win\"",
                 "template: kill takes no template"},
                {"\"action\":\"disk_reset\",\"template\":\"win\"", "vm: disk_reset needs the VM"},
                {"\"action\":\"maintenance_on\",\"host\":\"kvm1\"",
                 "host: maintenance_on takes no host"},
        };
        _cleanup_msg_ lf_msg *ok = decoded(LF_MSG_COMMAND,
                                           "{\"node\":\"login\",\"seq\":3,\"time\":1,\"id\":9,"
                                           "\"target\":\"login\",\"action\":\"power_on\","
                                           "\"host\":\"kvm2\"}");

        ASSERT_EQ(ok->command.action, LF_ACTION_POWER_ON);
        ASSERT_STREQ(ok->command.host, "kvm2");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *json = NULL, *m = NULL;
                asprintf(&json,
                         "{\"node\":\"login\",\"seq\":3,\"time\":1,\"id\":9,\"target\":\"kvm1\","
                         "%s}",
                         cases[i][0]);
                m = refused(LF_MSG_COMMAND, json);
                ASSERT_CONTAINS(m, cases[i][1]);
        }
}

TEST(request_and_answer) {
        _cleanup_msg_ lf_msg *q = sample(LF_MSG_REQUEST), *a = sample(LF_MSG_RESULT), *back = NULL,
                             *start = NULL;
        _cleanup_free_ char *m = NULL;

        q->request.id = (UINT64_C(3) << 40) | 1;
        strcpy(q->request.target, "login");
        q->request.request = strdup("{\"command\":\"vm_stop\",\"vm\":\"pc01\"}");
        back = round_trip(q);
        ASSERT_EQ(back->request.id, q->request.id);
        ASSERT_STREQ(back->request.target, "login");
        ASSERT_STREQ(back->request.request, "{\"command\":\"vm_stop\",\"vm\":\"pc01\"}");
        lf_msg_free(back);

        a->result.id = 5;
        a->result.ok = true;
        a->result.answer = strdup("{\"vms\":[\"pc01\",\"pc02\"]}");
        back = round_trip(a);
        ASSERT_STREQ(back->result.answer, "{\"vms\":[\"pc01\",\"pc02\"]}");

        m = refused(LF_MSG_REQUEST, "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,\"id\":2,"
                                    "\"target\":\"login\",\"request\":{\"vm\":\"pc01\"}}");
        ASSERT_CONTAINS(m, "request.command: missing; a request names its command");
        free(m);
        m = refused(LF_MSG_REQUEST, "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,\"id\":2,"
                                    "\"target\":\"login\",\"request\":\"vm_stop pc01\"}");
        ASSERT_CONTAINS(m, "request: expected an object");
        free(m);
        m = refused(LF_MSG_RESULT, "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,\"id\":2,"
                                   "\"ok\":true,\"answer\":[1]}");
        ASSERT_CONTAINS(m, "answer: expected an object");

        /* A state's VM may be starting on its host and name its template; a report's not. */
        start = decoded(LF_MSG_STATE,
                        "{\"node\":\"login\",\"seq\":1,\"time\":1,\"mode\":\"memory\","
                        "\"next_action\":\"none\",\"hosts\":[{\"name\":\"kvm1\",\"state\":\"up\"}],"
                        "\"last_run\":{},\"vms\":[{\"name\":\"pc01\",\"host\":\"kvm1\","
                        "\"state\":\"starting\",\"vcpus\":1,\"mem_mb\":512,\"pinned\":false,"
                        "\"last_migrated\":null,\"template\":\"win-lab\"}]}");
        ASSERT_EQ(start->state.vms[0].state, LF_VM_STARTING);
        ASSERT_STREQ(start->state.vms[0].template, "win-lab");
        free(m);
        m = refused(LF_MSG_REPORT, "{\"node\":\"kvm1\",\"seq\":1,\"time\":1,"
                                   "\"maintenance\":false,\"cpus\":1,\"mem_mb\":100,"
                                   "\"mem_available_mb\":10,\"vms\":[{\"name\":\"pc01\","
                                   "\"state\":\"starting\",\"vcpus\":1,\"mem_mb\":1}]}");
        ASSERT_CONTAINS(m, "vms[0].state: a host reports no starting VMs");
}

TEST(encode_refuses_what_peers_would_refuse) {
        _cleanup_msg_ lf_msg *m = sample(LF_MSG_REPORT);
        lf_msg_vm v = {.name = "PC_01", .state = LF_VM_RUNNING, .vcpus = 1, .mem_mb = 1,
                       .cpu_cores = -1};
        char *buf = NULL;
        size_t len = 0;
        lf_diag d = {};

        m->report.cpus = 1;
        m->report.mem_mb = 10;
        ASSERT_EQ(lf_msg_add_vm(m, &v), 0);
        ASSERT_EQ(lf_msg_encode(m, &d, &buf, &len), -EINVAL);
        ASSERT_TRUE(buf == NULL);
        ASSERT_CONTAINS(d.msgs[0], "outgoing message: vms[0].name: not a valid name");
        lf_diag_clear(&d);
}

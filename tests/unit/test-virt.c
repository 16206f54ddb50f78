/* Tests of the libvirt driver (roles/virt): domain XML against golden files, refusals of bad
 * specs, the life cycle and errors against libvirt's test driver (no daemon), statistics,
 * migration flags and XML, the migration journal, and reconciliation. */
#include <errno.h>
#include <libvirt/virterror.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "fileio.h"
#include "test.h"
#include "../../roles/virt.h"

static lf_template win_lab = {
        .name = "win-lab", .image = "win-lab.raw", .memory_mb = 2048, .vcpus = 2};

static char *xml_of(const lf_virt_spec *s) {
        lf_diag diag = {0};
        char *xml = NULL;
        int r = lf_virt_domain_xml(s, &diag, &xml);
        if (r < 0) {
                lf_diag_print(&diag);
                lf_test_fail(__FILE__, __LINE__, "lf_virt_domain_xml: %d", r);
        }
        return xml;
}

TEST(xml_kvm_shared) {
        lf_virt_spec s = {.vm = "pc01",
                          .tmpl = &win_lab,
                          .disk_mode = LF_VIRT_DISK_SHARED,
                          .listen = "192.168.50.11",
                          .accel = LF_VIRT_KVM};
        _cleanup_free_ char *xml = xml_of(&s);
        ASSERT_GOLDEN(xml, "tests/fixtures/virt/kvm-shared.xml");
}

TEST(xml_tcg_overlay) {
        lf_virt_spec s = {.vm = "pc02",
                          .tmpl = &win_lab,
                          .disk_mode = LF_VIRT_DISK_OVERLAY,
                          .listen = "fd00::2",
                          .accel = LF_VIRT_TCG,
                          .bridge = "br-lab"};
        _cleanup_free_ char *xml = xml_of(&s);
        ASSERT_GOLDEN(xml, "tests/fixtures/virt/tcg-overlay.xml");
}

TEST(xml_test_kernel) {
        lf_template t = {.name = "tiny", .image = "tiny.raw", .memory_mb = 96, .vcpus = 1};
        lf_virt_spec s = {.vm = "hb1",
                          .tmpl = &t,
                          .disk_mode = LF_VIRT_DISK_NONE,
                          .listen = "10.0.0.1",
                          .accel = LF_VIRT_TEST,
                          .kernel = "/srv/vmlinuz",
                          .initrd = "/srv/initrd.gz",
                          .cmdline = "console=ttyS0 <&>",
                          .console_log = "/tmp/hb1.log"};
        _cleanup_free_ char *xml = xml_of(&s);
        ASSERT_GOLDEN(xml, "tests/fixtures/virt/test-kernel.xml");
}

/* libvirt's own schema (virt-xml-validate, libvirt-clients) accepts every golden domain. */
TEST(xml_valid_for_libvirt) {
        static const char *const goldens[] = {"kvm-shared", "tcg-overlay", "test-kernel"};
        if (access("/usr/bin/virt-xml-validate", X_OK) < 0)
                lf_test_skip("virt-xml-validate (libvirt-clients) is not installed");
        for (size_t i = 0; i < ELEMENTSOF(goldens); i++) {
                char rel[128];
                _cleanup_cmd_ lf_cmd *c = lf_cmd_new("virt-xml-validate");
                lf_cmd_result res = {0};
                snprintf(rel, sizeof(rel), "tests/fixtures/virt/%s.xml", goldens[i]);
                ASSERT_TRUE(c);
                ASSERT_EQ(lf_cmd_add_args(c, lf_test_path(rel), "domain", NULL), 0);
                int r = lf_cmd_run(c, &res);
                if (r < 0 || res.exit_status != 0)
                        lf_test_fail(__FILE__, __LINE__, "%s: %s%s", rel, res.out, res.err);
                lf_cmd_result_clear(&res);
        }
}

/* Expects the spec to be refused with a message containing want. */
static void refused(const lf_virt_spec *s, const char *want) {
        lf_diag diag = {0};
        char *xml = NULL;
        ASSERT_EQ(lf_virt_domain_xml(s, &diag, &xml), -EINVAL);
        ASSERT_TRUE(xml == NULL);
        ASSERT_TRUE(diag.n >= 1);
        bool found = false;
        for (size_t i = 0; i < diag.n; i++)
                found = found || strstr(diag.msgs[i], want);
        if (!found)
                lf_test_fail(__FILE__, __LINE__, "no message contains \"%s\"; first: %s", want,
                             diag.msgs[0]);
        lf_diag_clear(&diag);
}

TEST(xml_refusals) {
        lf_template big = win_lab, none = win_lab, slashed = win_lab;
        big.memory_mb = 2u * 1024 * 1024;
        none.vcpus = 0;
        slashed.image = "../etc/passwd";
        lf_virt_spec ok = {.vm = "pc01", .tmpl = &win_lab, .listen = "10.0.0.1"};
        lf_virt_spec s;

        s = ok, s.vm = "PC01";
        refused(&s, "VM name 'PC01' is not valid");
        s = ok, s.vm = "-pc";
        refused(&s, "is not valid");
        s = ok, s.tmpl = NULL;
        refused(&s, "pc01: no template given");
        s = ok, s.tmpl = &big;
        refused(&s, "asks for 2097152 MiB of memory");
        s = ok, s.tmpl = &none;
        refused(&s, "asks for 0 vcpus");
        s = ok, s.tmpl = &slashed;
        refused(&s, "has image '../etc/passwd'");
        s = ok, s.listen = "kvm1.example";
        refused(&s, "console listen address 'kvm1.example' is not an IP address");
        s = ok, s.listen = NULL;
        refused(&s, "console listen address '' is not an IP address");
        s = ok, s.bridge = "a-bridge-name-too-long";
        refused(&s, "bridge 'a-bridge-name-too-long' is not an interface name");
        s = ok, s.disk_path = "disk.img";
        refused(&s, "disk path 'disk.img' is not an absolute path");
        s = ok, s.kernel = "vmlinuz";
        refused(&s, "must be absolute paths");
        s = ok, s.initrd = "/x";
        refused(&s, "an initrd or command line needs a kernel");
        /* A template that is fine with its own disk path: the image is not used. */
        s = ok, s.tmpl = &slashed, s.disk_path = "/var/lib/x.raw";
        _cleanup_free_ char *xml = xml_of(&s);
        ASSERT_CONTAINS(xml, "<source file=\"/var/lib/x.raw\"/>");
}

TEST(disk_paths) {
        _cleanup_free_ char *shared = NULL, *overlay = NULL;
        char *none = (char *)"unchanged";
        ASSERT_EQ(lf_virt_disk_path("pc01", &win_lab, LF_VIRT_DISK_SHARED, &shared), 0);
        ASSERT_STREQ(shared, "/srv/labforge/vms/pc01/win-lab.raw");
        ASSERT_EQ(lf_virt_disk_path("pc01", &win_lab, LF_VIRT_DISK_OVERLAY, &overlay), 0);
        ASSERT_STREQ(overlay, "/var/lib/labforge/vms/pc01.qcow2");
        ASSERT_EQ(lf_virt_disk_path("pc01", &win_lab, LF_VIRT_DISK_NONE, &none), 0);
        ASSERT_TRUE(none == NULL);
}

TEST(mac_stable) {
        char a[18], b[18], c[18];
        lf_virt_mac("pc01", a);
        lf_virt_mac("pc01", b);
        lf_virt_mac("pc02", c);
        ASSERT_STREQ(a, b);
        ASSERT_TRUE(strcmp(a, c) != 0);
        ASSERT_EQ(strlen(a), 17);
        ASSERT_TRUE(strncmp(a, "52:54:00:", 9) == 0);
}

/* --- libvirt's test driver ---------------------------------------------------------------- */

/* A private test-driver host: a node file of its own gives a connection state of its own
 * (test:///default is one state shared by the whole process). */
static lf_virt *host_open(const char *name) {
        char path[512], uri[600];
        lf_diag diag = {0};
        lf_virt *v = NULL;

        snprintf(path, sizeof(path), "%s/%s.xml", lf_test_tmpdir(), name);
        const char *node = "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores>"
                           "<threads>1</threads><active>2</active><mhz>2000</mhz></cpu>"
                           "<memory>8388608</memory></node>\n";
        ASSERT_EQ(lf_write_file_atomic(path, node, strlen(node), 0644), 0);
        snprintf(uri, sizeof(uri), "test://%s", path);
        if (lf_virt_open(uri, &diag, &v) < 0) {
                lf_diag_print(&diag);
                lf_test_fail(__FILE__, __LINE__, "cannot open %s", uri);
        }
        return v;
}

static void define_test_vm(lf_virt *v, const char *vm) {
        static lf_template t = {.name = "tiny", .image = "tiny.raw", .memory_mb = 128, .vcpus = 1};
        lf_virt_spec s = {.vm = vm,
                          .tmpl = &t,
                          .disk_mode = LF_VIRT_DISK_SHARED,
                          .listen = "10.0.0.1",
                          .accel = LF_VIRT_TEST};
        lf_diag diag = {0};
        int r = lf_virt_define(v, &s, &diag);
        if (r < 0) {
                lf_diag_print(&diag);
                lf_test_fail(__FILE__, __LINE__, "define %s: %d", vm, r);
        }
}

/* Expects r to be err and diag's single message to contain want; clears diag. */
static void expect_error(int r, int err, lf_diag *diag, const char *want) {
        if (r != err)
                lf_test_fail(__FILE__, __LINE__, "got %d, expected %d", r, err);
        ASSERT_EQ(diag->n, 1);
        ASSERT_CONTAINS(diag->msgs[0], want);
        lf_diag_clear(diag);
}

TEST(test_driver_accel) {
        _cleanup_virt_ lf_virt *v = host_open("accel");
        ASSERT_EQ(lf_virt_host_accel(v), LF_VIRT_TEST);
        ASSERT_TRUE(strncmp(lf_virt_uri(v), "test:///", 8) == 0);
}

TEST(life_cycle) {
        _cleanup_virt_ lf_virt *v = host_open("life");
        _cleanup_free_ lf_virt_domain *doms = NULL;
        lf_virt_domain d;
        lf_diag diag = {0};
        size_t n = 0;

        define_test_vm(v, "pc02");
        define_test_vm(v, "pc01");
        ASSERT_EQ(lf_virt_get(v, "pc01", &diag, &d), 0);
        ASSERT_STREQ(d.name, "pc01");
        ASSERT_EQ(d.state, LF_VM_STOPPED);
        ASSERT_TRUE(d.persistent && !d.active && d.managed);
        ASSERT_STREQ(d.template, "tiny"); /* read back from the domain's metadata */
        ASSERT_EQ(d.vcpus, 1);
        ASSERT_EQ(d.mem_kib, 128 * 1024);

        ASSERT_EQ(lf_virt_start(v, "pc01", &diag), 0);
        ASSERT_EQ(lf_virt_list(v, &diag, &doms, &n), 0);
        ASSERT_EQ(n, 2);
        ASSERT_STREQ(doms[0].name, "pc01"); /* sorted by name */
        ASSERT_EQ(doms[0].state, LF_VM_RUNNING);
        ASSERT_TRUE(doms[0].active && !doms[0].job);
        ASSERT_STREQ(doms[1].name, "pc02");
        ASSERT_EQ(doms[1].state, LF_VM_STOPPED);

        /* The test driver's guests obey ACPI at once: a clean shutdown (0). */
        ASSERT_EQ(lf_virt_shutdown(v, "pc01", 2000, &diag), 0);
        ASSERT_EQ(lf_virt_get(v, "pc01", &diag, &d), 0);
        ASSERT_EQ(d.state, LF_VM_STOPPED);
        ASSERT_EQ(lf_virt_shutdown(v, "pc01", 2000, &diag), 0); /* stopped: nothing to do */

        ASSERT_EQ(lf_virt_start(v, "pc01", &diag), 0);
        ASSERT_EQ(lf_virt_destroy(v, "pc01", &diag), 0);
        ASSERT_EQ(lf_virt_destroy(v, "pc01", &diag), 0); /* stopping a stopped VM is fine */
        ASSERT_EQ(lf_virt_undefine(v, "pc01", &diag), 0);
        ASSERT_EQ(lf_virt_undefine(v, "pc02", &diag), 0);
        free(doms);
        doms = NULL;
        ASSERT_EQ(lf_virt_list(v, &diag, &doms, &n), 0);
        ASSERT_EQ(n, 0);
        ASSERT_EQ(diag.n, 0);
}

TEST(errors) {
        _cleanup_virt_ lf_virt *v = host_open("errors");
        static lf_template t = {.name = "tiny", .image = "tiny.raw", .memory_mb = 128, .vcpus = 1};
        lf_virt_spec s = {.vm = "pc01", .tmpl = &t, .listen = "10.0.0.1", .accel = LF_VIRT_TEST};
        lf_virt_domain d = {.name = "untouched"};
        lf_virt_job job;
        lf_diag diag = {0};
        lf_virt *none = NULL;

        expect_error(lf_virt_start(v, "ghost", &diag), -ENOENT, &diag,
                     "ghost: no such VM on test:///");
        expect_error(lf_virt_get(v, "ghost", &diag, &d), -ENOENT, &diag, "ghost: no such VM");
        ASSERT_STREQ(d.name, "untouched");
        expect_error(lf_virt_destroy(v, "ghost", &diag), -ENOENT, &diag, "no such VM");
        expect_error(lf_virt_shutdown(v, "ghost", 100, &diag), -ENOENT, &diag, "no such VM");
        expect_error(lf_virt_undefine(v, "ghost", &diag), -ENOENT, &diag, "no such VM");
        expect_error(lf_virt_job_get(v, "ghost", &diag, &job), -ENOENT, &diag, "no such VM");
        expect_error(lf_virt_start(v, "../etc", &diag), -EINVAL, &diag,
                     "VM name '../etc' is not valid");

        define_test_vm(v, "pc01");
        expect_error(lf_virt_define(v, &s, &diag), -EEXIST, &diag,
                     "pc01: a VM of that name already exists");
        ASSERT_EQ(lf_virt_start(v, "pc01", &diag), 0);
        expect_error(lf_virt_start(v, "pc01", &diag), -EBUSY, &diag, "pc01: already running");
        /* Undefining a running VM would leave it running as a transient domain. */
        expect_error(lf_virt_undefine(v, "pc01", &diag), -EBUSY, &diag,
                     "pc01: still running (stop it first) on test:///");
        ASSERT_EQ(lf_virt_get(v, "pc01", &diag, &d), 0);
        ASSERT_TRUE(d.active && d.persistent);
        /* Defining with a bad template changes nothing. */
        s.vm = "pc09";
        s.tmpl = &win_lab;
        s.listen = "nowhere";
        ASSERT_EQ(lf_virt_define(v, &s, &diag), -EINVAL);
        lf_diag_clear(&diag);
        expect_error(lf_virt_get(v, "pc09", &diag, &d), -ENOENT, &diag, "no such VM");

        /* A domain labforge did not make is listed but not its own. */
        _cleanup_virt_ lf_virt *shared = NULL;
        ASSERT_EQ(lf_virt_open("test:///default", &diag, &shared), 0);
        ASSERT_EQ(lf_virt_get(shared, "test", &diag, &d), 0);
        ASSERT_TRUE(d.active && !d.managed && !*d.template);

        ASSERT_EQ(lf_virt_open("bogus:///nothing", &diag, &none), -EIO);
        ASSERT_TRUE(none == NULL);
        ASSERT_CONTAINS(diag.msgs[0], "cannot connect to libvirt at bogus:///nothing");
        lf_diag_clear(&diag);
        ASSERT_EQ(lf_virt_destroy(v, "pc01", &diag), 0);
        ASSERT_EQ(lf_virt_undefine(v, "pc01", &diag), 0);
}

TEST(stats_test_driver) {
        _cleanup_virt_ lf_virt *v = host_open("stats");
        lf_virt_sample a = {0}, b = {0};
        lf_diag diag = {0};

        define_test_vm(v, "pc01");
        define_test_vm(v, "pc02");
        ASSERT_EQ(lf_virt_start(v, "pc01", &diag), 0);
        ASSERT_EQ(lf_virt_sample_take(v, &diag, &a), 0);
        ASSERT_EQ(lf_virt_sample_take(v, &diag, &b), 0);
        ASSERT_EQ(a.n, 2);
        for (size_t i = 0; i < a.n; i++) {
                ASSERT_TRUE(a.vms[i].managed);
                ASSERT_STREQ(a.vms[i].template, "tiny");
                if (streq(a.vms[i].name, "pc01"))
                        ASSERT_EQ(a.vms[i].state, LF_VM_RUNNING);
                else
                        ASSERT_EQ(a.vms[i].state, LF_VM_STOPPED);
        }
        ASSERT_TRUE(b.taken_ns >= a.taken_ns);
        /* The test driver has no cpu.time: unknown, never a made-up 0. */
        ASSERT_TRUE(!a.vms[0].has_cpu_time);
        ASSERT_TRUE(lf_virt_cores_used(&a, &b, "pc01") < 0);
        lf_virt_sample_clear(&a);
        lf_virt_sample_clear(&b);
        ASSERT_EQ(lf_virt_destroy(v, "pc01", &diag), 0);
}

/* One domain's stats record as the qemu driver gives it. */
static void add_record(virTypedParameterPtr *p, int *n, int *max, int state, unsigned long long cpu,
                       unsigned long long cur, unsigned long long rss) {
        ASSERT_EQ(virTypedParamsAddInt(p, n, max, "state.state", state), 0);
        ASSERT_EQ(virTypedParamsAddInt(p, n, max, "state.reason", 1), 0);
        ASSERT_EQ(virTypedParamsAddULLong(p, n, max, "cpu.time", cpu), 0);
        ASSERT_EQ(virTypedParamsAddULLong(p, n, max, "cpu.user", cpu / 2), 0);
        ASSERT_EQ(virTypedParamsAddULLong(p, n, max, "balloon.current", cur), 0);
        ASSERT_EQ(virTypedParamsAddULLong(p, n, max, "balloon.maximum", cur), 0);
        ASSERT_EQ(virTypedParamsAddULLong(p, n, max, "balloon.rss", rss), 0);
        ASSERT_EQ(virTypedParamsAddUInt(p, n, max, "vcpu.current", 2), 0);
        ASSERT_EQ(virTypedParamsAddUInt(p, n, max, "vcpu.maximum", 4), 0);
}

TEST(stats_parse_and_cores) {
        virTypedParameterPtr p1 = NULL, p2 = NULL;
        int n1 = 0, m1 = 0, n2 = 0, m2 = 0;
        lf_virt_stats s1[2], s2[2];

        add_record(&p1, &n1, &m1, VIR_DOMAIN_RUNNING, 10000000000ull, 2097152, 2200000);
        add_record(&p2, &n2, &m2, VIR_DOMAIN_RUNNING, 13000000000ull, 1048576, 1100000);
        lf_virt_stats_parse("pc01", p1, n1, &s1[0]);
        lf_virt_stats_parse("pc01", p2, n2, &s2[0]);
        ASSERT_STREQ(s1[0].name, "pc01");
        ASSERT_EQ(s1[0].state, LF_VM_RUNNING);
        ASSERT_TRUE(s1[0].has_cpu_time && s1[0].has_mem && s1[0].has_rss);
        ASSERT_EQ(s1[0].cpu_time_ns, 10000000000ull);
        ASSERT_EQ(s1[0].mem_kib, 2097152);
        ASSERT_EQ(s1[0].rss_kib, 2200000);
        ASSERT_EQ(s1[0].vcpus, 2);
        /* pc02 restarted between the samples: its counter went down. */
        lf_virt_stats_parse("pc02", p2, n2, &s1[1]);
        lf_virt_stats_parse("pc02", p1, n1, &s2[1]);

        lf_virt_sample a = {.taken_ns = 5000000000ull, .vms = s1, .n = 2};
        lf_virt_sample b = {.taken_ns = 7000000000ull, .vms = s2, .n = 2};
        /* 3 s of CPU over 2 s of wall time: 1.5 cores. */
        double c = lf_virt_cores_used(&a, &b, "pc01");
        ASSERT_TRUE(c > 1.4999 && c < 1.5001);
        ASSERT_TRUE(lf_virt_cores_used(&a, &b, "pc02") < 0);
        ASSERT_TRUE(lf_virt_cores_used(&a, &b, "pc03") < 0);
        ASSERT_TRUE(lf_virt_cores_used(&b, &a, "pc01") < 0); /* time went backwards */
        virTypedParamsFree(p1, n1);
        virTypedParamsFree(p2, n2);

        /* A paused domain, and a record without the groups the driver lacks. */
        virTypedParameterPtr p3 = NULL;
        int n3 = 0, m3 = 0;
        ASSERT_EQ(virTypedParamsAddInt(&p3, &n3, &m3, "state.state", VIR_DOMAIN_PAUSED), 0);
        lf_virt_stats_parse("pc04", p3, n3, &s1[0]);
        ASSERT_EQ(s1[0].state, LF_VM_PAUSED);
        ASSERT_TRUE(!s1[0].has_cpu_time && !s1[0].has_mem && !s1[0].has_rss);
        virTypedParamsFree(p3, n3);
}

/* --- Migration ---------------------------------------------------------------------------- */

TEST(migrate_flags) {
        unsigned long want = VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_LIVE | VIR_MIGRATE_PERSIST_DEST |
                             VIR_MIGRATE_UNDEFINE_SOURCE | VIR_MIGRATE_CHANGE_PROTECTION |
                             VIR_MIGRATE_ABORT_ON_ERROR;
        ASSERT_EQ(lf_virt_migrate_flags(false), want);
        ASSERT_EQ(lf_virt_migrate_flags(true), want | VIR_MIGRATE_NON_SHARED_INC);
        for (int copy = 0; copy < 2; copy++) {
                unsigned long f = lf_virt_migrate_flags(copy);
                ASSERT_EQ(f & VIR_MIGRATE_POSTCOPY, 0);
                ASSERT_EQ(f & VIR_MIGRATE_UNSAFE, 0);
                ASSERT_EQ(f & VIR_MIGRATE_NON_SHARED_DISK, 0);
                ASSERT_EQ(f & VIR_MIGRATE_OFFLINE, 0);
        }
}

TEST(migrate_xml_moves_console) {
        const char *xml = "<domain type='kvm'><name>pc01</name><devices>"
                          "<graphics type='vnc' port='5901' autoport='yes' listen='10.0.0.1'>"
                          "<listen type='address' address='10.0.0.1'/></graphics>"
                          "<graphics type='spice'><listen type='socket' socket='/run/s'/>"
                          "</graphics></devices></domain>";
        _cleanup_free_ char *moved = NULL, *kept = NULL;
        ASSERT_EQ(lf_virt_migrate_xml(xml, "10.0.0.2", &moved), 0);
        ASSERT_CONTAINS(moved, "listen=\"10.0.0.2\"");
        ASSERT_CONTAINS(moved, "<listen type=\"address\" address=\"10.0.0.2\"/>");
        ASSERT_TRUE(!strstr(moved, "10.0.0.1"));
        ASSERT_CONTAINS(moved, "socket=\"/run/s\""); /* not an address: left alone */
        ASSERT_EQ(lf_virt_migrate_xml(xml, NULL, &kept), 0);
        ASSERT_CONTAINS(kept, "10.0.0.1");
        char *none = NULL;
        ASSERT_EQ(lf_virt_migrate_xml("<domain", "10.0.0.2", &none), -EINVAL);
        ASSERT_TRUE(none == NULL);
}

TEST(migrate_refusals) {
        _cleanup_virt_ lf_virt *v = NULL;
        /* The migration opens a second connection to the same URI: only test:///default gives
         * both the same state. */
        {
                lf_diag d0 = {0};
                ASSERT_EQ(lf_virt_open("test:///default", &d0, &v), 0);
        }
        const char *journal = lf_test_tmpdir();
        lf_virt_migrate_opts o = {.from = "kvm1",
                                  .to = "kvm2",
                                  .dest_uri = "test:///default",
                                  .journal_dir = journal,
                                  .timeout_ms = 5000};
        lf_diag diag = {0};
        _cleanup_strv_free_ char **left = NULL;

        expect_error(lf_virt_migrate(v, "ghost", &o, &diag), -ENOENT, &diag, "no such VM");
        define_test_vm(v, "pc01");
        expect_error(lf_virt_migrate(v, "pc01", &o, &diag), -EBUSY, &diag,
                     "pc01: not running on kvm1; only running VMs migrate");
        ASSERT_EQ(lf_virt_start(v, "pc01", &diag), 0);
        o.dest_listen = "kvm2";
        expect_error(lf_virt_migrate(v, "pc01", &o, &diag), -EINVAL, &diag,
                     "console address 'kvm2' of kvm2 is not an IP address");
        o.dest_listen = "10.0.0.2";
        o.to = NULL;
        expect_error(lf_virt_migrate(v, "pc01", &o, &diag), -EINVAL, &diag,
                     "needs the source and destination host names");
        o.to = "kvm2";
        /* The test driver cannot migrate: libvirt's refusal is reported, the journal entry
         * written before the attempt is gone after it, and the VM still runs here. */
        int r = lf_virt_migrate(v, "pc01", &o, &diag);
        ASSERT_TRUE(r < 0);
        ASSERT_EQ(diag.n, 1);
        ASSERT_CONTAINS(diag.msgs[0], "pc01: migration from kvm1 to kvm2 failed: ");
        printf("libvirt's test driver says: %s\n", diag.msgs[0]);
        lf_diag_clear(&diag);
        ASSERT_EQ(lf_virt_journal_list(journal, &left), 0);
        ASSERT_TRUE(left[0] == NULL);
        lf_virt_domain d;
        ASSERT_EQ(lf_virt_get(v, "pc01", &diag, &d), 0);
        ASSERT_EQ(d.state, LF_VM_RUNNING);
        ASSERT_EQ(lf_virt_destroy(v, "pc01", &diag), 0);
        ASSERT_EQ(lf_virt_undefine(v, "pc01", &diag), 0);
}

TEST(journal) {
        const char *dir = lf_test_tmpdir();
        char sub[512], path[600];
        lf_virt_journal j = {.vm = "pc01", .from = "kvm1", .to = "kvm2", .started = 1700000000};
        lf_virt_journal k = {.vm = "pc02", .from = "kvm2", .to = "kvm1", .started = 1};
        lf_virt_journal got, untouched = {.vm = "x"};
        lf_diag diag = {0};
        _cleanup_strv_free_ char **l = NULL;

        snprintf(sub, sizeof(sub), "%s/journal", dir);
        ASSERT_EQ(lf_virt_journal_read(sub, "pc01", &diag, &got), -ENOENT);
        ASSERT_EQ(lf_virt_journal_write(sub, &j), 0);
        ASSERT_EQ(lf_virt_journal_write(sub, &k), 0);
        ASSERT_EQ(lf_virt_journal_read(sub, "pc01", &diag, &got), 0);
        ASSERT_STREQ(got.vm, "pc01");
        ASSERT_STREQ(got.from, "kvm1");
        ASSERT_STREQ(got.to, "kvm2");
        ASSERT_EQ(got.started, 1700000000);
        ASSERT_EQ(lf_virt_journal_list(sub, &l), 0);
        ASSERT_STREQ(l[0], "pc01");
        ASSERT_STREQ(l[1], "pc02");
        ASSERT_TRUE(l[2] == NULL);

        /* Damaged or foreign entries are refused with the file named. */
        snprintf(path, sizeof(path), "%s/pc01.json", sub);
        const char *bad = "{\"vm\": \"pc01\", \"from\": \"../x\", \"to\": \"kvm2\", "
                          "\"started\": 1}";
        ASSERT_EQ(lf_write_file_atomic(path, bad, strlen(bad), 0600), 0);
        ASSERT_EQ(lf_virt_journal_read(sub, "pc01", &diag, &untouched), -EINVAL);
        ASSERT_STREQ(untouched.vm, "x");
        ASSERT_CONTAINS(diag.msgs[0], "pc01.json");
        ASSERT_CONTAINS(diag.msgs[0], "from: '../x' is not a valid name");
        lf_diag_clear(&diag);
        const char *other = "{\"vm\": \"pc02\", \"from\": \"a\", \"to\": \"b\", \"started\": 1}";
        ASSERT_EQ(lf_write_file_atomic(path, other, strlen(other), 0600), 0);
        ASSERT_EQ(lf_virt_journal_read(sub, "pc01", &diag, &untouched), -EINVAL);
        ASSERT_CONTAINS(diag.msgs[0], "names VM 'pc02', not 'pc01'");
        lf_diag_clear(&diag);
        ASSERT_EQ(lf_write_file_atomic(path, "{\"vm\":", 6, 0600), 0);
        ASSERT_EQ(lf_virt_journal_read(sub, "pc01", &diag, &untouched), -EINVAL);
        lf_diag_clear(&diag);
        ASSERT_EQ(lf_virt_journal_read(sub, "../pc01", &diag, &untouched), -EINVAL);

        ASSERT_EQ(lf_virt_journal_remove(sub, "pc01"), 0);
        ASSERT_EQ(lf_virt_journal_remove(sub, "pc01"), 0); /* gone already: fine */
        strv_free(l);
        l = NULL;
        ASSERT_EQ(lf_virt_journal_list(sub, &l), 0);
        ASSERT_STREQ(l[0], "pc02");
        ASSERT_TRUE(l[1] == NULL);
}

/* --- Reconciliation ----------------------------------------------------------------------- */

#define RUNNING(h)                                                                                 \
        { .host = h, .active = true, .persistent = true, .vir_state = VIR_DOMAIN_RUNNING }
#define PAUSED_MIG(h)                                                                              \
        {                                                                                          \
                .host = h, .active = true, .persistent = true, .vir_state = VIR_DOMAIN_PAUSED,     \
                .vir_reason = VIR_DOMAIN_PAUSED_MIGRATION                                          \
        }
#define DEFINED(h)                                                                                 \
        { .host = h, .persistent = true, .vir_state = VIR_DOMAIN_SHUTOFF }

/* Decides and checks each copy's action (a string of k/r/d/u/w per copy) and the survivor. */
static void decide(const lf_virt_copy *c, size_t n, const char *expected, const lf_virt_journal *j,
                   const char *want, int want_survivor, const char *want_why) {
        lf_virt_action a[8];
        char got[9] = {0}, why[256];
        int s;
        lf_virt_reconcile_decide(c, n, expected, j, a, &s, why, sizeof(why));
        for (size_t i = 0; i < n; i++)
                got[i] = "krduw"[a[i]];
        ASSERT_STREQ(got, want);
        ASSERT_EQ(s, want_survivor);
        ASSERT_CONTAINS(why, want_why);
}

TEST(reconcile_decide) {
        lf_virt_journal j = {.vm = "pc01", .from = "kvm1", .to = "kvm2"};

        /* After a migration: running on the destination, paused on the source. */
        lf_virt_copy handed_over[] = {PAUSED_MIG("kvm1"), RUNNING("kvm2")};
        decide(handed_over, 2, "kvm1", &j, "dk", 1, "the only running copy on kvm2 wins");
        /* An incoming copy that never resumed loses to the running source. */
        lf_virt_copy incoming[] = {RUNNING("kvm1"), PAUSED_MIG("kvm2")};
        decide(incoming, 2, NULL, &j, "kd", 0, "the only running copy on kvm1 wins");
        /* Both paused: the journal's source wins and is resumed. */
        lf_virt_copy both_paused[] = {PAUSED_MIG("kvm2"), PAUSED_MIG("kvm1")};
        decide(both_paused, 2, NULL, &j, "dr", 1, "copy on kvm1 wins (the journal)");
        /* Both running: the recorded host first, then the journal's source, then by name. */
        lf_virt_copy both[] = {RUNNING("kvm1"), RUNNING("kvm2")};
        decide(both, 2, "kvm2", &j, "dk", 1, "(the host the cluster records)");
        decide(both, 2, NULL, &j, "kd", 0, "(the journal)");
        decide(both, 2, "kvm9", NULL, "kd", 0, "(the first host by name)");
        /* A job still runs: nothing is touched yet. */
        lf_virt_copy busy[] = {RUNNING("kvm1"), PAUSED_MIG("kvm2")};
        busy[0].job = true;
        decide(busy, 2, NULL, &j, "ww", -1, "a job runs on kvm1");
        /* One active copy, paused by a failed migration: resumed; stale definitions go. */
        lf_virt_copy left_paused[] = {PAUSED_MIG("kvm1"), DEFINED("kvm2")};
        decide(left_paused, 2, "kvm2", &j, "ru", 0, "active only on kvm1");
        lf_virt_copy one[] = {RUNNING("kvm2")};
        decide(one, 1, "kvm1", &j, "k", 0, "active only on kvm2");
        /* Not running: one definition stays, on the recorded host or the journal's target. */
        lf_virt_copy defined[] = {DEFINED("kvm1"), DEFINED("kvm2")};
        decide(defined, 2, "kvm1", &j, "ku", -1, "definition kept on kvm1");
        decide(defined, 2, NULL, &j, "uk", -1, "kept on kvm2 (the journal)");
        decide(NULL, 0, NULL, &j, "", -1, "not defined anywhere");
        /* A user's pause is not a migration's: the survivor stays paused. */
        lf_virt_copy user_paused[] = {{.host = "kvm1",
                                       .active = true,
                                       .persistent = true,
                                       .vir_state = VIR_DOMAIN_PAUSED,
                                       .vir_reason = VIR_DOMAIN_PAUSED_USER}};
        decide(user_paused, 1, NULL, NULL, "k", 0, "active only on kvm1");
}

static const char *expect_kvm2(const char *vm, void *userdata) {
        (void)userdata;
        return streq(vm, "pc01") ? "kvm2" : NULL;
}

TEST(reconcile_hosts) {
        _cleanup_virt_ lf_virt *a = host_open("rec-a");
        _cleanup_virt_ lf_virt *b = host_open("rec-b");
        lf_virt_host hosts[] = {{"kvm1", a}, {"kvm2", b}};
        const char *journal = lf_test_tmpdir();
        lf_virt_journal j = {.vm = "pc03", .from = "kvm1", .to = "kvm2", .started = 1};
        lf_virt_resolution *res = NULL;
        lf_virt_domain d;
        lf_diag diag = {0};
        size_t n = 0;

        /* pc01 runs on both (the cluster records kvm2); pc02 runs on kvm1 only and is left
         * alone; pc03 finished its migration to kvm2 but the journal entry stayed; pc04 is
         * defined on both and runs nowhere. */
        define_test_vm(a, "pc01");
        define_test_vm(b, "pc01");
        define_test_vm(a, "pc02");
        define_test_vm(b, "pc03");
        define_test_vm(a, "pc04");
        define_test_vm(b, "pc04");
        ASSERT_EQ(lf_virt_start(a, "pc01", &diag), 0);
        ASSERT_EQ(lf_virt_start(b, "pc01", &diag), 0);
        ASSERT_EQ(lf_virt_start(a, "pc02", &diag), 0);
        ASSERT_EQ(lf_virt_start(b, "pc03", &diag), 0);
        ASSERT_EQ(lf_virt_journal_write(journal, &j), 0);

        ASSERT_EQ(lf_virt_reconcile(hosts, 2, journal, expect_kvm2, NULL, 1000, &diag, &res, &n),
                  0);
        ASSERT_EQ(diag.n, 0);
        ASSERT_EQ(n, 3);
        ASSERT_STREQ(res[0].vm, "pc01");
        ASSERT_STREQ(res[0].survivor, "kvm2");
        ASSERT_TRUE(res[0].acted);
        ASSERT_STREQ(res[1].vm, "pc03");
        ASSERT_STREQ(res[1].survivor, "kvm2");
        ASSERT_TRUE(!res[1].acted);
        ASSERT_STREQ(res[2].vm, "pc04");
        ASSERT_STREQ(res[2].survivor, "");
        ASSERT_TRUE(res[2].acted);
        free(res);

        expect_error(lf_virt_get(a, "pc01", &diag, &d), -ENOENT, &diag, "no such VM");
        ASSERT_EQ(lf_virt_get(b, "pc01", &diag, &d), 0);
        ASSERT_EQ(d.state, LF_VM_RUNNING);
        ASSERT_EQ(lf_virt_get(a, "pc02", &diag, &d), 0);
        ASSERT_EQ(d.state, LF_VM_RUNNING);
        ASSERT_EQ(lf_virt_journal_read(journal, "pc03", &diag, &j), -ENOENT);
        /* pc04: kept where its definition sorts first (no record, no journal). */
        ASSERT_EQ(lf_virt_get(a, "pc04", &diag, &d), 0);
        expect_error(lf_virt_get(b, "pc04", &diag, &d), -ENOENT, &diag, "no such VM");

        /* A second pass finds nothing to do. */
        ASSERT_EQ(lf_virt_reconcile(hosts, 2, journal, expect_kvm2, NULL, 1000, &diag, &res, &n),
                  0);
        ASSERT_EQ(n, 0);
        free(res);
}

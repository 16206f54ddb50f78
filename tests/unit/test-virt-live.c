/* The libvirt driver against two real libvirt hosts with a TCG guest: the steps of
 * tests/integration/virt-migrate.sh, which sets the hosts up in namespaces and calls these tests
 * by name. Every test skips (77) unless LF_VIRT_A and LF_VIRT_B are set:
 *   LF_VIRT_A, LF_VIRT_B            libvirt URIs of the two hosts as this process reaches them
 *   LF_VIRT_A_PEER, LF_VIRT_B_PEER  the same as the other host's libvirtd reaches them
 *   LF_VIRT_A_ADDR, LF_VIRT_B_ADDR  the hosts' addresses (console, migration stream)
 *   LF_VIRT_KERNEL, LF_VIRT_INITRD  the guest's kernel and initramfs (on the shared store)
 *   LF_VIRT_JOURNAL                 the migration journal directory
 *   LF_VIRT_VM                      the guest's name */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../../roles/virt.h"
#include "test.h"

typedef struct live {
        const char *uri[2], *peer[2], *addr[2];
        const char *kernel, *initrd, *journal, *vm;
} live;

static const char *const host_names[2] = {"kvm1", "kvm2"};

static const char *need(const char *name) {
        const char *v = getenv(name);
        if (!v || !*v)
                lf_test_skip("needs the hosts of tests/integration/virt-migrate.sh (LF_VIRT_*)");
        return v;
}

static live setup(void) {
        live l;
        l.uri[0] = need("LF_VIRT_A");
        l.uri[1] = need("LF_VIRT_B");
        l.peer[0] = need("LF_VIRT_A_PEER");
        l.peer[1] = need("LF_VIRT_B_PEER");
        l.addr[0] = need("LF_VIRT_A_ADDR");
        l.addr[1] = need("LF_VIRT_B_ADDR");
        l.kernel = need("LF_VIRT_KERNEL");
        l.initrd = need("LF_VIRT_INITRD");
        l.journal = need("LF_VIRT_JOURNAL");
        l.vm = need("LF_VIRT_VM");
        return l;
}

static lf_virt *open_host(const live *l, int h) {
        lf_diag diag = {0};
        lf_virt *v = NULL;
        if (lf_virt_open(l->uri[h], &diag, &v) < 0) {
                lf_diag_print(&diag);
                lf_test_fail(__FILE__, __LINE__, "cannot open %s", l->uri[h]);
        }
        return v;
}

static void check(int r, lf_diag *diag, const char *what) {
        if (r < 0) {
                lf_diag_print(diag);
                lf_test_fail(__FILE__, __LINE__, "%s: %d", what, r);
        }
        lf_diag_clear(diag);
}

/* Which host runs the VM (-1: none); fails when both do. */
static int where(const live *l, lf_virt *v[2]) {
        int at = -1;
        for (int h = 0; h < 2; h++) {
                lf_virt_domain d;
                lf_diag diag = {0};
                int r = lf_virt_get(v[h], l->vm, &diag, &d);
                lf_diag_clear(&diag);
                if (r == -ENOENT || (r == 0 && !d.active))
                        continue;
                ASSERT_EQ(r, 0);
                if (at >= 0)
                        lf_test_fail(__FILE__, __LINE__, "%s is active on both hosts", l->vm);
                at = h;
        }
        return at;
}

TEST(live_define_start) {
        live l = setup();
        _cleanup_virt_ lf_virt *a = open_host(&l, 0);
        lf_template t = {.name = "tiny", .image = "tiny.raw", .memory_mb = 96, .vcpus = 1};
        /* TCG even where /dev/kvm exists: the test must not depend on the machine's KVM. */
        lf_virt_spec s = {.vm = l.vm,
                          .tmpl = &t,
                          .disk_mode = LF_VIRT_DISK_NONE,
                          .listen = l.addr[0],
                          .accel = LF_VIRT_TCG,
                          .kernel = l.kernel,
                          .initrd = l.initrd,
                          .cmdline = "console=ttyS0 quiet"};
        lf_virt_domain d;
        lf_diag diag = {0};

        check(lf_virt_define(a, &s, &diag), &diag, "define");
        check(lf_virt_start(a, l.vm, &diag), &diag, "start");
        check(lf_virt_get(a, l.vm, &diag, &d), &diag, "get");
        ASSERT_EQ(d.state, LF_VM_RUNNING);
        ASSERT_TRUE(d.persistent);
        ASSERT_EQ(d.vcpus, 1);
        ASSERT_EQ(d.mem_kib, 96 * 1024);
}

TEST(live_stats) {
        live l = setup();
        _cleanup_virt_ lf_virt *a = open_host(&l, 0);
        lf_virt_sample s1 = {0}, s2 = {0};
        lf_diag diag = {0};
        const lf_virt_stats *st = NULL;

        check(lf_virt_sample_take(a, &diag, &s1), &diag, "sample");
        usleep(1500 * 1000);
        check(lf_virt_sample_take(a, &diag, &s2), &diag, "sample");
        for (size_t i = 0; i < s2.n; i++)
                if (streq(s2.vms[i].name, l.vm))
                        st = &s2.vms[i];
        ASSERT_TRUE(st);
        ASSERT_EQ(st->state, LF_VM_RUNNING);
        ASSERT_TRUE(st->managed);
        ASSERT_TRUE(st->has_cpu_time && st->cpu_time_ns > 0);
        ASSERT_TRUE(st->has_mem);
        ASSERT_EQ(st->mem_kib, 96 * 1024);
        ASSERT_TRUE(st->has_rss && st->rss_kib > 0);
        ASSERT_EQ(st->vcpus, 1);
        /* An emulated CPU always costs the host something; one vcpu cannot use much more
         * than one core (qemu's own threads add a little). */
        double cores = lf_virt_cores_used(&s1, &s2, l.vm);
        printf("cores used: %.3f\n", cores);
        ASSERT_TRUE(cores > 0 && cores < 2.5);
        lf_virt_sample_clear(&s1);
        lf_virt_sample_clear(&s2);
}

static void progress(const char *vm, const lf_virt_job *job, void *userdata) {
        unsigned *calls = userdata;
        (*calls)++;
        printf("%s: migrating, %llu/%llu MiB of memory, %llu ms\n", vm,
               (unsigned long long)(job->mem_processed >> 20),
               (unsigned long long)(job->mem_total >> 20), (unsigned long long)job->elapsed_ms);
        fflush(stdout);
}

static lf_virt_migrate_opts opts_to(const live *l, int to, unsigned *calls) {
        return (lf_virt_migrate_opts){
                .from = host_names[1 - to],
                .to = host_names[to],
                .dest_uri = l->peer[to],
                .dest_listen = l->addr[to],
                .poll_ms = 200,
                .progress = progress,
                .userdata = calls,
                .journal_dir = l->journal,
        };
}

TEST(live_migrate) {
        live l = setup();
        lf_virt *v[2] = {open_host(&l, 0), open_host(&l, 1)};
        _cleanup_strv_free_ char **left = NULL;
        unsigned calls = 0;
        lf_diag diag = {0};
        lf_virt_domain d;
        int from = where(&l, v), to = 1 - from;
        char uri[300];

        ASSERT_TRUE(from >= 0);
        snprintf(uri, sizeof(uri), "tcp://%s", l.addr[to]);
        lf_virt_migrate_opts o = opts_to(&l, to, &calls);
        o.migrate_uri = uri;
        o.timeout_ms = 120000;
        uint64_t t0 = (uint64_t)time(NULL);
        check(lf_virt_migrate(v[from], l.vm, &o, &diag), &diag, "migrate");
        printf("migrated %s from %s to %s in about %llu s (%u progress reports)\n", l.vm,
               host_names[from], host_names[to], (unsigned long long)(time(NULL) - t0), calls);
        ASSERT_EQ(where(&l, v), to);
        check(lf_virt_get(v[to], l.vm, &diag, &d), &diag, "get");
        ASSERT_EQ(d.state, LF_VM_RUNNING);
        ASSERT_TRUE(d.persistent);
        ASSERT_EQ(lf_virt_get(v[from], l.vm, &diag, &d), -ENOENT); /* UNDEFINE_SOURCE */
        lf_diag_clear(&diag);
        ASSERT_EQ(lf_virt_journal_list(l.journal, &left), 0);
        ASSERT_TRUE(left[0] == NULL);
        lf_virt_close(v[0]);
        lf_virt_close(v[1]);
}

/* A migration throttled to 1 MiB/s cannot finish in 1.5 s: it is aborted and the VM stays. */
TEST(live_migrate_timeout) {
        live l = setup();
        lf_virt *v[2] = {open_host(&l, 0), open_host(&l, 1)};
        _cleanup_strv_free_ char **left = NULL;
        unsigned calls = 0;
        lf_diag diag = {0};
        int from = where(&l, v), to = 1 - from;

        ASSERT_TRUE(from >= 0);
        lf_virt_migrate_opts o = opts_to(&l, to, &calls);
        o.timeout_ms = 1500;
        o.bandwidth_mib = 1;
        ASSERT_EQ(lf_virt_migrate(v[from], l.vm, &o, &diag), -ETIMEDOUT);
        ASSERT_EQ(diag.n, 1);
        ASSERT_CONTAINS(diag.msgs[0], "did not finish within 1500 ms");
        ASSERT_CONTAINS(diag.msgs[0], "aborted, the VM stays on");
        lf_diag_clear(&diag);
        ASSERT_TRUE(calls > 0);
        ASSERT_EQ(where(&l, v), from);
        lf_virt_domain d;
        check(lf_virt_get(v[from], l.vm, &diag, &d), &diag, "get");
        ASSERT_EQ(d.state, LF_VM_RUNNING);
        ASSERT_TRUE(!d.job);
        ASSERT_EQ(lf_virt_journal_list(l.journal, &left), 0);
        ASSERT_TRUE(left[0] == NULL);
        lf_virt_close(v[0]);
        lf_virt_close(v[1]);
}

/* A slow migration for the test script to kill halfway (it never returns on its own soon). */
TEST(live_migrate_slow) {
        live l = setup();
        lf_virt *v[2] = {open_host(&l, 0), open_host(&l, 1)};
        unsigned calls = 0;
        lf_diag diag = {0};
        int from = where(&l, v), to = 1 - from;

        ASSERT_TRUE(from >= 0);
        lf_virt_migrate_opts o = opts_to(&l, to, &calls);
        o.bandwidth_mib = 3;
        printf("migrating %s from %s to %s at 3 MiB/s\n", l.vm, host_names[from], host_names[to]);
        fflush(stdout);
        check(lf_virt_migrate(v[from], l.vm, &o, &diag), &diag, "migrate");
        lf_virt_close(v[0]);
        lf_virt_close(v[1]);
}

/* What labforged does after a restart: resolve every VM the journal or the hosts show in doubt.
 * Afterwards the VM is active on exactly one host and the journal is empty. */
TEST(live_reconcile) {
        live l = setup();
        lf_virt *v[2] = {open_host(&l, 0), open_host(&l, 1)};
        lf_virt_host hosts[2] = {{host_names[0], v[0]}, {host_names[1], v[1]}};
        _cleanup_strv_free_ char **left = NULL;
        lf_virt_resolution *res = NULL;
        size_t n = 0;
        lf_diag diag = {0};

        check(lf_virt_reconcile(hosts, 2, l.journal, NULL, NULL, 180000, &diag, &res, &n), &diag,
              "reconcile");
        for (size_t i = 0; i < n; i++)
                printf("reconciled %s: %s -> %s%s\n", res[i].vm, res[i].why,
                       res[i].survivor[0] ? res[i].survivor : "(none)",
                       res[i].acted ? " (acted)" : "");
        free(res);
        ASSERT_TRUE(where(&l, v) >= 0);
        ASSERT_EQ(lf_virt_journal_list(l.journal, &left), 0);
        ASSERT_TRUE(left[0] == NULL);
        lf_virt_close(v[0]);
        lf_virt_close(v[1]);
}

/* The guest ignores ACPI (busybox init has no handler): shutdown pulls the plug after the
 * timeout and says so (1); then the definition goes. */
TEST(live_shutdown) {
        live l = setup();
        lf_virt *v[2] = {open_host(&l, 0), open_host(&l, 1)};
        lf_diag diag = {0};
        int at = where(&l, v);

        ASSERT_TRUE(at >= 0);
        int r = lf_virt_shutdown(v[at], l.vm, 3000, &diag);
        check(r, &diag, "shutdown");
        ASSERT_EQ(r, 1);
        ASSERT_EQ(where(&l, v), -1);
        check(lf_virt_undefine(v[at], l.vm, &diag), &diag, "undefine");
        lf_virt_close(v[0]);
        lf_virt_close(v[1]);
}

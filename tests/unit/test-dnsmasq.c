/* The appliance's dnsmasq: generated configurations (golden files, and the real dnsmasq's own
 * syntax check), the TFTP files, log lines, and supervision of a stand-in dnsmasq that dies. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cmd.h"
#include "../../appliance/dnsmasq.h"
#include "fileio.h"
#include "test.h"

static lf_manifest *load(const char *name) {
        char path[256];
        lf_diag diag = {};
        lf_manifest *m = NULL;

        snprintf(path, sizeof(path), "tests/fixtures/dnsmasq/%s.xml", name);
        if (lf_manifest_load(lf_test_path(path), &diag, &m) < 0) {
                lf_diag_print(&diag);
                lf_test_fail(__FILE__, __LINE__, "cannot load %s", path);
        }
        /* Goldens name the fixture by its path in the tree, not where the tree is. */
        free(m->file);
        m->file = strdup(path);
        return m;
}

static const lf_dnsmasq_config config = {
        .dir = "/var/lib/labforge/dnsmasq",
        .user = "dnsmasq",
        .http_base = "http://192.168.50.1:8180",
        .uefi_file = LF_IPXE_UEFI,
};

static char *render(const char *name, const lf_dnsmasq_config *c) {
        _cleanup_manifest_ lf_manifest *m = load(name);
        lf_diag diag = {};
        char *text = NULL;

        ASSERT_EQ(lf_dnsmasq_config_render(m, c, &diag, &text), 0);
        ASSERT_EQ(diag.n, 0);
        return text;
}

/* The real dnsmasq accepts the file (skipped where dnsmasq is not installed). */
static void dnsmasq_accepts(const char *text) {
        char path[512];
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("dnsmasq");
        lf_cmd_result res = {};

        if (access("/usr/sbin/dnsmasq", X_OK) < 0)
                return;
        snprintf(path, sizeof(path), "%s/dnsmasq.conf", lf_test_tmpdir());
        ASSERT_EQ(lf_write_file_atomic(path, text, strlen(text), 0644), 0);
        lf_cmd_add_argf(c, "--conf-file=%s", path);
        lf_cmd_add_arg(c, "--test");
        ASSERT_EQ(lf_cmd_run(c, &res), 0);
        if (res.exit_status != 0)
                lf_test_fail(__FILE__, __LINE__, "dnsmasq --test: %s", res.err);
        lf_cmd_result_clear(&res);
}

TEST(proxy_config) {
        _cleanup_free_ char *text = render("proxy", &config);
        ASSERT_GOLDEN(text, "tests/fixtures/dnsmasq/proxy.conf");
        dnsmasq_accepts(text);
}

TEST(full_config) {
        lf_dnsmasq_config c = config;
        c.http_base = "http://10.20.0.1:8080";
        _cleanup_free_ char *text = render("full", &c);
        ASSERT_GOLDEN(text, "tests/fixtures/dnsmasq/full.conf");
        dnsmasq_accepts(text);
}

TEST(full_config_defaults_and_uefi_fallback) {
        lf_dnsmasq_config c = config;
        c.http_base = "http://192.168.7.1:8180";
        c.uefi_file = LF_IPXE_UEFI_FALLBACK;
        c.user = "root";
        _cleanup_free_ char *text = render("full-defaults", &c);
        ASSERT_GOLDEN(text, "tests/fixtures/dnsmasq/full-defaults.conf");
        dnsmasq_accepts(text);
}

TEST(values_dnsmasq_cannot_take_are_refused) {
        _cleanup_manifest_ lf_manifest *m = load("proxy");
        lf_dnsmasq_config c = config;
        lf_diag diag = {};
        char *text = NULL;

        c.dir = "/srv/a,b";
        ASSERT_EQ(lf_dnsmasq_config_render(m, &c, &diag, &text), -EINVAL);
        ASSERT_TRUE(text == NULL);
        ASSERT_EQ(diag.n, 1);
        ASSERT_CONTAINS(diag.msgs[0], "directory '/srv/a,b' cannot be given to dnsmasq");
        lf_diag_clear(&diag);
}

TEST(log_lines) {
        char buf[256];
        static const char *const cases[][2] = {
                {"dnsmasq[123]: started, version 2.90 DNS disabled",
                 "dnsmasq: started, version 2.90 DNS disabled"},
                {"dnsmasq-dhcp[9]: DHCPACK(br0) 192.168.50.163 52:54:00:aa:00:01",
                 "dnsmasq: dhcp: DHCPACK(br0) 192.168.50.163 52:54:00:aa:00:01"},
                {"dnsmasq-tftp[77]: sent /x/undionly.kpxe to 192.168.50.9",
                 "dnsmasq: tftp: sent /x/undionly.kpxe to 192.168.50.9"},
                /* Anything else is kept whole. */
                {"dnsmasq: syntax check OK.", "dnsmasq: dnsmasq: syntax check OK."},
                {"dnsmasq[]: odd", "dnsmasq: dnsmasq[]: odd"},
                {"dnsmasq-[1]: odd", "dnsmasq: dnsmasq-[1]: odd"},
                {"", "dnsmasq: "},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                lf_dnsmasq_log_line(cases[i][0], buf, sizeof(buf));
                ASSERT_STREQ(buf, cases[i][1]);
        }
        /* Cut, never overrun. */
        lf_dnsmasq_log_line("dnsmasq[1]: a long line", buf, 12);
        ASSERT_STREQ(buf, "dnsmasq: a ");
}

static void write_file(const char *path, const char *text, unsigned mode) {
        ASSERT_EQ(lf_write_file_atomic(path, text, strlen(text), mode), 0);
}

static bool same_file(const char *a, const char *b) {
        _cleanup_free_ char *x = NULL, *y = NULL;
        size_t nx, ny;
        if (lf_read_file(a, 16u << 20, NULL, &x, &nx) < 0 ||
            lf_read_file(b, 16u << 20, NULL, &y, &ny) < 0)
                return false;
        return nx == ny && memcmp(x, y, nx) == 0;
}

TEST(tftp_files_are_copied) {
        char ipxe[512], tftp[512], a[600], b[600];
        lf_diag diag = {};
        const char *uefi = NULL;

        snprintf(ipxe, sizeof(ipxe), "%s/ipxe", lf_test_tmpdir());
        snprintf(tftp, sizeof(tftp), "%s/state/dnsmasq/tftp", lf_test_tmpdir());
        ASSERT_EQ(lf_mkdir_p(ipxe, 0755), 0);
        snprintf(a, sizeof(a), "%s/undionly.kpxe", ipxe);
        write_file(a, "bios", 0644);
        snprintf(a, sizeof(a), "%s/ipxe.efi", ipxe);
        write_file(a, "full uefi", 0644);

        /* Without snponly.efi, UEFI PCs get ipxe.efi. */
        ASSERT_EQ(lf_dnsmasq_prepare_tftp(ipxe, tftp, &diag, &uefi), 0);
        ASSERT_STREQ(uefi, LF_IPXE_UEFI_FALLBACK);
        snprintf(b, sizeof(b), "%s/ipxe.efi", tftp);
        ASSERT_TRUE(same_file(a, b));

        snprintf(a, sizeof(a), "%s/snponly.efi", ipxe);
        write_file(a, "snp", 0644);
        ASSERT_EQ(lf_dnsmasq_prepare_tftp(ipxe, tftp, &diag, &uefi), 0);
        ASSERT_STREQ(uefi, LF_IPXE_UEFI);
        snprintf(b, sizeof(b), "%s/snponly.efi", tftp);
        ASSERT_TRUE(same_file(a, b));
        snprintf(a, sizeof(a), "%s/undionly.kpxe", ipxe);
        snprintf(b, sizeof(b), "%s/undionly.kpxe", tftp);
        ASSERT_TRUE(same_file(a, b));
        struct stat st;
        ASSERT_EQ(stat(b, &st), 0);
        ASSERT_EQ(st.st_mode & 07777, 0644);
        ASSERT_EQ(diag.n, 0);

        /* The BIOS file is required. */
        ASSERT_EQ(unlink(a), 0);
        ASSERT_TRUE(lf_dnsmasq_prepare_tftp(ipxe, tftp, &diag, &uefi) == -ENOENT);
        ASSERT_TRUE(diag.n >= 1);
        ASSERT_CONTAINS(diag.msgs[diag.n - 1], "install Debian's ipxe package");
        lf_diag_clear(&diag);
}

/* The real iPXE files of Debian's ipxe package, where it is installed. */
TEST(tftp_files_from_debian_ipxe) {
        char tftp[512];
        lf_diag diag = {};
        const char *uefi = NULL;

        if (access(LF_IPXE_DIR "/" LF_IPXE_BIOS, R_OK) < 0)
                lf_test_skip("Debian's ipxe package is not installed");
        snprintf(tftp, sizeof(tftp), "%s/tftp", lf_test_tmpdir());
        ASSERT_EQ(lf_dnsmasq_prepare_tftp(LF_IPXE_DIR, tftp, &diag, &uefi), 0);
        ASSERT_STREQ(uefi, LF_IPXE_UEFI);
        char b[600];
        snprintf(b, sizeof(b), "%s/" LF_IPXE_BIOS, tftp);
        ASSERT_TRUE(same_file(LF_IPXE_DIR "/" LF_IPXE_BIOS, b));
}

/* --- supervision, with a stand-in for dnsmasq ------------------------------------------------ */

/* Answers --test like dnsmasq (failing when the configuration holds "bad-config"); otherwise
 * logs as dnsmasq does and, while FAILS_LEFT in its directory counts down, ends at once with
 * status 3; then runs until stopped, keeping its command line (a leftover is recognised by it). */
static const char standin[] =
        "#!/bin/sh\n"
        "dir=$(dirname \"$0\")\n"
        "conf=${2#--conf-file=}\n"
        "if [ \"$1\" = --test ]; then\n"
        "  if grep -q bad-config \"$conf\"; then echo 'dnsmasq: bad option at line 3' >&2; "
        "exit 1; fi\n"
        "  echo 'dnsmasq: syntax check OK.' >&2; exit 0\n"
        "fi\n"
        "[ \"$1\" = --keep-in-foreground ] || exit 9\n"
        "echo $$ >\"$dir/pids\"\n"
        "echo \"dnsmasq[$$]: started, version 2.90 DNS disabled\" >&2\n"
        "n=$(cat \"$dir/fails-left\" 2>/dev/null || echo 0)\n"
        "if [ \"$n\" -gt 0 ]; then echo $((n - 1)) >\"$dir/fails-left\"; "
        "echo \"dnsmasq[$$]: failed to bind DHCP server socket\" >&2; exit 3; fi\n"
        "echo \"dnsmasq-dhcp[$$]: DHCP, proxy on subnet 192.168.50.0\"\n"
        "while :; do sleep 0.1; done\n";

typedef struct fixture {
        char dir[512];     /* the stand-in's directory */
        char program[600]; /* the stand-in */
        char ipxe[600];
        char state[600];
        char log[600];
        int saved_stderr;
} fixture;

static void fixture_init(fixture *f, int fails) {
        char p[700], n[16];

        snprintf(f->dir, sizeof(f->dir), "%s/standin", lf_test_tmpdir());
        snprintf(f->program, sizeof(f->program), "%s/dnsmasq", f->dir);
        snprintf(f->ipxe, sizeof(f->ipxe), "%s/ipxe", f->dir);
        snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
        snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
        ASSERT_EQ(lf_mkdir_p(f->ipxe, 0755), 0);
        write_file(f->program, standin, 0755);
        snprintf(p, sizeof(p), "%s/undionly.kpxe", f->ipxe);
        write_file(p, "bios", 0644);
        snprintf(p, sizeof(p), "%s/snponly.efi", f->ipxe);
        write_file(p, "uefi", 0644);
        snprintf(p, sizeof(p), "%s/fails-left", f->dir);
        snprintf(n, sizeof(n), "%d\n", fails);
        write_file(p, n, 0644);
        /* Our log goes to stderr: catch it in a file. */
        fflush(stderr);
        f->saved_stderr = dup(2);
        int fd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0 && f->saved_stderr >= 0);
        dup2(fd, 2);
        close(fd);
}

static char *fixture_log(fixture *f) {
        fflush(stderr);
        dup2(f->saved_stderr, 2);
        close(f->saved_stderr);
        f->saved_stderr = -1;
        char *text = NULL;
        size_t len;
        ASSERT_EQ(lf_read_file(f->log, 1 << 20, NULL, &text, &len), 0);
        return text;
}

static pid_t standin_pid(const fixture *f) {
        char p[700];
        _cleanup_free_ char *text = NULL;
        size_t len;
        snprintf(p, sizeof(p), "%s/pids", f->dir);
        if (lf_read_file(p, 64, NULL, &text, &len) < 0)
                return 0;
        return (pid_t)atoi(text);
}

static lf_dnsmasq_options options_of(const fixture *f) {
        return (lf_dnsmasq_options){.state_dir = f->state,
                                    .http_base = "http://192.168.50.1:8180",
                                    .program = f->program,
                                    .ipxe_dir = f->ipxe,
                                    .user = "root"};
}

/* Polls d like serve does until the test holds or timeout_ms passed. */
static void poll_until(lf_dnsmasq *d, bool (*done)(lf_dnsmasq *d, const fixture *f),
                       const fixture *f, int timeout_ms) {
        for (int waited = 0; waited < timeout_ms && !done(d, f); waited += 50) {
                struct pollfd p = {lf_dnsmasq_fd(d), POLLIN, 0};
                poll(&p, p.fd >= 0 ? 1 : 0, 50);
                lf_dnsmasq_poll(d);
        }
}

static bool restarted_twice_and_settled(lf_dnsmasq *d, const fixture *f) {
        return lf_dnsmasq_restarts(d) == 2 && lf_dnsmasq_fd(d) >= 0;
}

TEST(supervision_restarts_with_backoff_and_stops) {
        fixture f;
        _cleanup_manifest_ lf_manifest *m = load("proxy");
        lf_dnsmasq *d = NULL;
        lf_dnsmasq_options o;

        fixture_init(&f, 2);
        o = options_of(&f);
        ASSERT_EQ(lf_dnsmasq_start(m, &o, &d), 0);
        /* Ends twice at once (back-off 1 s, then 2 s), then keeps running. */
        poll_until(d, restarted_twice_and_settled, &f, 10000);
        unsigned restarts = lf_dnsmasq_restarts(d);
        /* Give it time to print its DHCP line; it is not restarted again meanwhile. */
        for (int i = 0; i < 10; i++) {
                poll(NULL, 0, 50);
                lf_dnsmasq_poll(d);
        }
        unsigned restarts_later = lf_dnsmasq_restarts(d);
        pid_t pid = standin_pid(&f);
        lf_dnsmasq_stop(d);
        _cleanup_free_ char *log = fixture_log(&f);

        ASSERT_EQ(restarts, 2);
        ASSERT_EQ(restarts_later, 2);
        ASSERT_TRUE(pid > 0);
        ASSERT_TRUE(kill(pid, 0) < 0 && errno == ESRCH);
        /* Its lines reach our log, prefixed; the ends and back-offs are told. */
        ASSERT_CONTAINS(log, "dnsmasq: failed to bind DHCP server socket\n");
        ASSERT_CONTAINS(log, "dnsmasq ended with status 3 after ");
        ASSERT_CONTAINS(log, "s; starting it again in 1s\n");
        ASSERT_CONTAINS(log, "s; starting it again in 2s\n");
        ASSERT_CONTAINS(log, "dnsmasq: dhcp: DHCP, proxy on subnet 192.168.50.0\n");
        ASSERT_CONTAINS(log, "dnsmasq stopped (status 143)\n");

        /* What it ran with: the generated file, which the tests above check in detail. */
        char p[700];
        _cleanup_free_ char *conf = NULL;
        size_t len;
        snprintf(p, sizeof(p), "%s/dnsmasq/dnsmasq.conf", f.state);
        ASSERT_EQ(lf_read_file(p, 1 << 20, NULL, &conf, &len), 0);
        ASSERT_CONTAINS(conf, "pxe-service=tag:ipxe,x86PC,\"labforge\","
                              "http://192.168.50.1:8180/boot/${netX/mac}.ipxe\n");
        snprintf(p, sizeof(p), "%s/dnsmasq/tftp/undionly.kpxe", f.state);
        ASSERT_EQ(access(p, R_OK), 0);
}

TEST(supervision_refuses_a_config_dnsmasq_rejects) {
        fixture f;
        _cleanup_manifest_ lf_manifest *m = load("proxy");
        lf_dnsmasq *d = NULL;
        lf_dnsmasq_options o;

        fixture_init(&f, 0);
        o = options_of(&f);
        /* The stand-in rejects configurations that mention "bad-config": the lab's name. */
        free(m->name);
        m->name = strdup("bad-config");
        ASSERT_TRUE(lf_dnsmasq_start(m, &o, &d) < 0);
        ASSERT_TRUE(d == NULL);
        _cleanup_free_ char *log = fixture_log(&f);
        ASSERT_CONTAINS(log, "dnsmasq refuses ");
        ASSERT_CONTAINS(log, "dnsmasq: bad option at line 3");
        /* It never ran. */
        ASSERT_EQ(standin_pid(&f), 0);
}

TEST(supervision_without_dnsmasq) {
        fixture f;
        _cleanup_manifest_ lf_manifest *m = load("proxy");
        lf_dnsmasq *d = NULL;
        lf_dnsmasq_options o;

        fixture_init(&f, 0);
        o = options_of(&f);
        o.program = "/nonexistent/dnsmasq";
        ASSERT_TRUE(lf_dnsmasq_start(m, &o, &d) < 0);
        _cleanup_free_ char *log = fixture_log(&f);
        ASSERT_CONTAINS(log, "/nonexistent/dnsmasq: not found; install Debian's dnsmasq-base");
}

TEST(supervision_stops_a_leftover_dnsmasq) {
        fixture f;
        _cleanup_manifest_ lf_manifest *m = load("proxy");
        _cleanup_cmd_ lf_cmd *c = NULL;
        lf_proc *old = NULL;
        lf_dnsmasq *d = NULL;
        lf_dnsmasq_options o;
        char conf_arg[800], pid_file[700], pid[32];
        int status = -1;

        fixture_init(&f, 0);
        o = options_of(&f);
        /* What a killed serve leaves: dnsmasq running with our file, its pid in our pid file. */
        snprintf(conf_arg, sizeof(conf_arg), "--conf-file=%s/dnsmasq/dnsmasq.conf", f.state);
        c = lf_cmd_new(f.program);
        lf_cmd_add_args(c, "--keep-in-foreground", conf_arg, NULL);
        ASSERT_EQ(lf_cmd_spawn(c, &old), 0);
        snprintf(pid_file, sizeof(pid_file), "%s/dnsmasq", f.state);
        ASSERT_EQ(lf_mkdir_p(pid_file, 0755), 0);
        snprintf(pid_file, sizeof(pid_file), "%s/dnsmasq/dnsmasq.pid", f.state);
        snprintf(pid, sizeof(pid), "%d\n", (int)lf_proc_pid(old));
        write_file(pid_file, pid, 0644);

        ASSERT_EQ(lf_dnsmasq_start(m, &o, &d), 0);
        for (int i = 0; i < 200 && lf_proc_reap(old, &status) == 0; i++)
                poll(NULL, 0, 10);
        lf_dnsmasq_stop(d);
        lf_proc_free(old);
        _cleanup_free_ char *log = fixture_log(&f);
        ASSERT_EQ(status, 128 + SIGTERM);
        ASSERT_CONTAINS(log, "left running by an earlier labforge serve");
}

TEST(supervision_leaves_other_processes_alone) {
        fixture f;
        _cleanup_manifest_ lf_manifest *m = load("proxy");
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("sleep");
        _cleanup_proc_ lf_proc *other = NULL;
        lf_dnsmasq *d = NULL;
        lf_dnsmasq_options o;
        char pid_file[700], pid[32];
        int status;

        fixture_init(&f, 0);
        o = options_of(&f);
        /* A stale pid file naming some other process. */
        lf_cmd_add_arg(c, "30");
        ASSERT_EQ(lf_cmd_spawn(c, &other), 0);
        snprintf(pid_file, sizeof(pid_file), "%s/dnsmasq", f.state);
        ASSERT_EQ(lf_mkdir_p(pid_file, 0755), 0);
        snprintf(pid_file, sizeof(pid_file), "%s/dnsmasq/dnsmasq.pid", f.state);
        snprintf(pid, sizeof(pid), "%d\n", (int)lf_proc_pid(other));
        write_file(pid_file, pid, 0644);

        ASSERT_EQ(lf_dnsmasq_start(m, &o, &d), 0);
        lf_dnsmasq_stop(d);
        _cleanup_free_ char *log = fixture_log(&f);
        ASSERT_EQ(lf_proc_reap(other, &status), 0);
        ASSERT_TRUE(strstr(log, "left running") == NULL);
}

TEST(reconfigure_follows_a_changed_manifest) {
        fixture f;
        _cleanup_manifest_ lf_manifest *proxy = load("proxy"), *full = load("full"),
                                       *bad = load("full");
        lf_dnsmasq *d = NULL;
        lf_dnsmasq_options o;
        char conf_path[700];
        size_t len;

        fixture_init(&f, 0);
        o = options_of(&f);
        snprintf(conf_path, sizeof(conf_path), "%s/dnsmasq/dnsmasq.conf", f.state);
        ASSERT_EQ(lf_dnsmasq_start(proxy, &o, &d), 0);
        for (int i = 0; i < 100 && standin_pid(&f) == 0; i++)
                poll(NULL, 0, 20);
        pid_t first = standin_pid(&f);

        /* The same manifest again (a reload that changed nothing of the appliance): no restart. */
        int same = lf_dnsmasq_reconfigure(d, proxy);
        /* Full DHCP now: a new file and a new dnsmasq. */
        int changed = lf_dnsmasq_reconfigure(d, full);
        for (int i = 0; i < 100 && standin_pid(&f) == first; i++)
                poll(NULL, 0, 20);
        pid_t second = standin_pid(&f);
        _cleanup_free_ char *conf_full = NULL;
        ASSERT_EQ(lf_read_file(conf_path, 1 << 20, NULL, &conf_full, &len), 0);
        /* One dnsmasq refuses: the running one and its file stay. */
        free(bad->name);
        bad->name = strdup("bad-config");
        int refused = lf_dnsmasq_reconfigure(d, bad);
        _cleanup_free_ char *conf_after = NULL;
        ASSERT_EQ(lf_read_file(conf_path, 1 << 20, NULL, &conf_after, &len), 0);
        bool second_runs = kill(second, 0) == 0;
        lf_dnsmasq_stop(d);
        _cleanup_free_ char *log = fixture_log(&f);

        ASSERT_EQ(same, 0);
        ASSERT_EQ(changed, 1);
        ASSERT_TRUE(first > 0 && second > 0 && second != first);
        ASSERT_TRUE(kill(first, 0) < 0);
        ASSERT_CONTAINS(conf_full, "dhcp-range=10.20.100.1,10.20.100.200,255.255.0.0\n");
        ASSERT_TRUE(refused < 0);
        ASSERT_STREQ(conf_after, conf_full);
        ASSERT_TRUE(second_runs);
        ASSERT_CONTAINS(log, "the manifest changed the PXE service: restarting dnsmasq");
        ASSERT_CONTAINS(log, "dnsmasq: bad option at line 3");
}

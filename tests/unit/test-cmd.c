/* The command runner: real executions (output capture, exit status, stdin, environment,
 * timeout) and the test hook that records argv instead of running. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "cmd.h"
#include "test.h"

TEST(captures_stdout_stderr_and_status) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("sh");
        lf_cmd_result res = {};

        lf_cmd_add_args(c, "-c", "echo out; echo err >&2; exit 3", NULL);
        ASSERT_EQ(lf_cmd_run(c, &res), 0);
        ASSERT_EQ(res.exit_status, 3);
        ASSERT_STREQ(res.out, "out\n");
        ASSERT_STREQ(res.err, "err\n");
        lf_cmd_result_clear(&res);
        ASSERT_EQ(lf_cmd_run_ok(c, &res), -EIO);
        lf_cmd_result_clear(&res);
}

TEST(argv_is_not_a_shell_string) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("printf");
        lf_cmd_result res = {};

        lf_cmd_add_args(c, "%s|", "a b", "$(echo no)", ";ls", NULL);
        ASSERT_EQ(lf_cmd_run_ok(c, &res), 0);
        ASSERT_STREQ(res.out, "a b|$(echo no)|;ls|");
        lf_cmd_result_clear(&res);
}

TEST(feeds_stdin) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("tr");
        lf_cmd_result res = {};
        /* Larger than a pipe buffer, so the writer must interleave with the reader. */
        size_t n = 300000;
        char *in = malloc(n);
        memset(in, 'a', n);

        lf_cmd_add_args(c, "a", "b", NULL);
        lf_cmd_set_input(c, in, n);
        ASSERT_EQ(lf_cmd_run_ok(c, &res), 0);
        ASSERT_EQ(res.out_len, n);
        ASSERT_TRUE(res.out[0] == 'b' && res.out[n - 1] == 'b');
        free(in);
        lf_cmd_result_clear(&res);
}

TEST(environment_control) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("sh");
        lf_cmd_result res = {};

        setenv("LF_TEST_LEAK", "yes", 1);
        lf_cmd_add_args(c, "-c", "echo \"${LF_TEST_LEAK:-none} $LC_ALL $FOO\"", NULL);
        lf_cmd_clear_env(c);
        lf_cmd_set_env(c, "FOO", "bar");
        ASSERT_EQ(lf_cmd_run_ok(c, &res), 0);
        ASSERT_STREQ(res.out, "none C bar\n");
        lf_cmd_result_clear(&res);
}

TEST(timeout_kills) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("sleep");
        lf_cmd_result res = {};

        lf_cmd_add_arg(c, "30");
        lf_cmd_set_timeout(c, 200);
        ASSERT_EQ(lf_cmd_run(c, &res), -ETIME);
        ASSERT_TRUE(res.timed_out);
        ASSERT_EQ(res.exit_status, 128 + 9);
        lf_cmd_result_clear(&res);
}

TEST(missing_program_exits_127_and_says_why) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("/nonexistent/labforge-nothing");
        lf_cmd_result res = {};

        ASSERT_EQ(lf_cmd_run(c, &res), 0);
        ASSERT_EQ(res.exit_status, 127);
        ASSERT_STREQ(res.err,
                     "/nonexistent/labforge-nothing: cannot run: No such file or directory\n");
        lf_cmd_result_clear(&res);
}

TEST(to_string_quotes) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("mdadm");
        lf_cmd_add_args(c, "--create", "/dev/md/fast", "it's here", "", NULL);
        char *s = lf_cmd_to_string(c);
        ASSERT_STREQ(s, "mdadm --create /dev/md/fast 'it'\\''s here' ''");
        free(s);
}

static char recorded[4096];

static int record_hook(const char *const *argv, const char *input, size_t input_len,
                       lf_cmd_result *ret, void *userdata) {
        size_t off = strlen(recorded);
        for (size_t i = 0; argv[i]; i++)
                off += (size_t)snprintf(recorded + off, sizeof(recorded) - off, "%s%s",
                                        i ? " " : "", argv[i]);
        snprintf(recorded + off, sizeof(recorded) - off, "\n");
        ret->exit_status = *(int *)userdata;
        ret->out = strdup("canned output\n");
        return 0;
}

TEST(hook_records_instead_of_running) {
        int status = 5;
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("wipefs");
        lf_cmd_result res = {};

        recorded[0] = 0;
        lf_cmd_set_hook(record_hook, &status);
        lf_cmd_add_args(c, "--all", "/dev/sdz", NULL);
        ASSERT_EQ(lf_cmd_run(c, &res), 0);
        lf_cmd_set_hook(NULL, NULL);
        ASSERT_STREQ(recorded, "wipefs --all /dev/sdz\n");
        ASSERT_EQ(res.exit_status, 5);
        ASSERT_STREQ(res.out, "canned output\n");
        ASSERT_STREQ(res.err, "");
        lf_cmd_result_clear(&res);
}

typedef struct lines {
        char text[8192];
        size_t n;
} lines;

static void collect_line(const char *line, void *userdata) {
        lines *l = userdata;
        size_t off = strlen(l->text);
        snprintf(l->text + off, sizeof(l->text) - off, "[%s]", line);
        l->n++;
}

/* Polls and reads until end of file (at most 10 s). */
static void read_to_eof(lf_proc *p, lines *l) {
        for (int i = 0; i < 1000; i++) {
                int r = lf_proc_read(p, collect_line, l);
                ASSERT_TRUE(r >= 0);
                if (r == 1)
                        return;
                struct pollfd pfd = {lf_proc_fd(p), POLLIN, 0};
                poll(&pfd, 1, 10);
        }
        lf_test_fail(__FILE__, __LINE__, "no end of file from the child");
}

TEST(spawn_reads_lines_of_stdout_and_stderr) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("sh");
        _cleanup_proc_ lf_proc *p = NULL;
        lines l = {};
        int status = -1;

        lf_cmd_add_args(c, "-c", "echo one; echo two >&2; printf 'three'; exit 4", NULL);
        ASSERT_EQ(lf_cmd_spawn(c, &p), 0);
        ASSERT_TRUE(lf_proc_pid(p) > 0);
        read_to_eof(p, &l);
        ASSERT_STREQ(l.text, "[one][two][three]");
        ASSERT_EQ(lf_proc_fd(p), -1);
        for (int i = 0; i < 500 && lf_proc_reap(p, &status) == 0; i++)
                usleep(10000);
        ASSERT_EQ(status, 4);
        /* Reaping again gives the same status. */
        ASSERT_EQ(lf_proc_reap(p, &status), 1);
        ASSERT_EQ(status, 4);
}

TEST(spawn_cuts_overlong_lines) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("sh");
        _cleanup_proc_ lf_proc *p = NULL;
        lines l = {};

        /* 5000 bytes without a newline, then "x": one piece of LF_PROC_LINE_MAX and the rest. */
        lf_cmd_add_args(c, "-c", "head -c 5000 /dev/zero | tr '\\0' a; echo; echo x", NULL);
        ASSERT_EQ(lf_cmd_spawn(c, &p), 0);
        read_to_eof(p, &l);
        ASSERT_EQ(l.n, 3);
        ASSERT_EQ(strlen(l.text), 2 + LF_PROC_LINE_MAX + 2 + (5000 - LF_PROC_LINE_MAX) + 3);
        ASSERT_TRUE(strstr(l.text, "][x]") != NULL);
}

TEST(spawn_missing_program_fails_at_once) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("/nonexistent/labforge-nothing");
        lf_proc *p = NULL;

        ASSERT_EQ(lf_cmd_spawn(c, &p), -ENOENT);
        ASSERT_TRUE(p == NULL);
        /* No child was left behind to reap. */
        ASSERT_EQ(waitpid(-1, NULL, WNOHANG), -1);
        ASSERT_EQ(errno, ECHILD);
}

TEST(spawn_stop_terminates_then_kills) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("sleep");
        _cleanup_cmd_ lf_cmd *stubborn = lf_cmd_new("sh");
        lf_proc *p = NULL;
        sigset_t term, old;

        lf_cmd_add_arg(c, "30");
        /* A caller that blocks SIGTERM (for signalfd) must not hand the block to its child. */
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        sigprocmask(SIG_BLOCK, &term, &old);
        ASSERT_EQ(lf_cmd_spawn(c, &p), 0);
        sigprocmask(SIG_SETMASK, &old, NULL);
        ASSERT_EQ(lf_proc_stop(p, 5000), 128 + SIGTERM);
        lf_proc_free(p);

        lf_cmd_add_args(stubborn, "-c", "trap '' TERM; echo ready; while :; do sleep 1; done",
                        NULL);
        ASSERT_EQ(lf_cmd_spawn(stubborn, &p), 0);
        lines l = {};
        for (int i = 0; i < 500 && l.n == 0; i++) {
                lf_proc_read(p, collect_line, &l);
                usleep(10000);
        }
        ASSERT_STREQ(l.text, "[ready]");
        ASSERT_EQ(lf_proc_stop(p, 200), 128 + SIGKILL);
        lf_proc_free(p);
}

TEST(spawn_child_inherits_no_descriptors) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("sh");
        _cleanup_proc_ lf_proc *p = NULL;
        lines l = {};
        int fd = open("/dev/null", O_RDONLY); /* deliberately inheritable */

        ASSERT_TRUE(fd >= 3);
        lf_cmd_add_argf(c, "%s", "-c");
        lf_cmd_add_argf(c, "[ -e /proc/self/fd/%d ] && echo leaked || echo clean", fd);
        ASSERT_EQ(lf_cmd_spawn(c, &p), 0);
        read_to_eof(p, &l);
        close(fd);
        ASSERT_STREQ(l.text, "[clean]");
}

/* The command runner: real executions (output capture, exit status, stdin, environment,
 * timeout) and the test hook that records argv instead of running. */
#include <stdlib.h>

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

TEST(missing_program_exits_127) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("/nonexistent/labforge-nothing");
        lf_cmd_result res = {};

        ASSERT_EQ(lf_cmd_run(c, &res), 0);
        ASSERT_EQ(res.exit_status, 127);
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

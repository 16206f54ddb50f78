/* The one command runner: every exec of an outside tool (mdadm, lvm, mkfs, wipefs, dnsmasq,
 * corosync, ...) goes through here. argv only, never a shell; timeouts; captured output;
 * controlled environment; and a test hook that records argv instead of running anything. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "macro.h"

/* Most bytes kept of a command's stdout or stderr; the rest is dropped and flagged. */
#define LF_CMD_OUTPUT_MAX (16u * 1024 * 1024)

typedef struct lf_cmd_result {
        int exit_status; /* 0..255 when the command exited; 128+N when killed by signal N */
        bool timed_out;
        bool truncated;
        char *out; /* NUL-terminated, never NULL after a successful lf_cmd_run() */
        size_t out_len;
        char *err;
        size_t err_len;
} lf_cmd_result;

typedef struct lf_cmd lf_cmd;

lf_cmd *lf_cmd_new(const char *program);
void lf_cmd_free(lf_cmd *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_cmd *, lf_cmd_free);
#define _cleanup_cmd_ _cleanup_(lf_cmd_freep)

int lf_cmd_add_arg(lf_cmd *c, const char *arg);
int lf_cmd_add_argf(lf_cmd *c, const char *fmt, ...) _printf_(2, 3);
/* Adds each argument up to a terminating NULL. */
int lf_cmd_add_args(lf_cmd *c, ...) __attribute__((sentinel));
/* Milliseconds before the command is killed; 0 means no limit. Default 10 minutes. */
void lf_cmd_set_timeout(lf_cmd *c, unsigned timeout_ms);
/* Start from an environment of only PATH and LC_ALL=C instead of inheriting ours. */
void lf_cmd_clear_env(lf_cmd *c);
int lf_cmd_set_env(lf_cmd *c, const char *name, const char *value);
/* Bytes fed to the command's stdin (copied). Without it, stdin is /dev/null. */
int lf_cmd_set_input(lf_cmd *c, const char *data, size_t len);

const char *const *lf_cmd_argv(const lf_cmd *c);
/* "prog arg1 'arg two'" for messages; caller frees. */
char *lf_cmd_to_string(const lf_cmd *c);

/* Runs the command to completion. Returns 0 when it ran (see ret->exit_status), a negative errno
 * when it could not be started or timed out (-ETIME; output so far is still in ret). */
int lf_cmd_run(lf_cmd *c, lf_cmd_result *ret);
/* Runs and turns a non-zero exit into -EIO; the result holds the output either way. */
int lf_cmd_run_ok(lf_cmd *c, lf_cmd_result *ret);
void lf_cmd_result_clear(lf_cmd_result *r);

/* Test seam: when set, lf_cmd_run() calls hook instead of executing anything. The hook fills
 * ret (out/err may stay NULL: the runner then supplies empty strings) and returns what
 * lf_cmd_run() returns. */
typedef int (*lf_cmd_hook_fn)(const char *const *argv, const char *input, size_t input_len,
                              lf_cmd_result *ret, void *userdata);
void lf_cmd_set_hook(lf_cmd_hook_fn hook, void *userdata);

/* Long-running children (dnsmasq, corosync) that a supervisor keeps. lf_cmd_spawn() starts the
 * command in the background with stdin on /dev/null and stdout and stderr on one pipe, which
 * the caller polls (lf_proc_fd) and reads line by line (lf_proc_read). The command's timeout and
 * input do not apply; neither does the test hook: tests spawn a stand-in program instead. */
typedef struct lf_proc lf_proc;
/* Longer output lines are handed over in pieces of this many bytes. */
#define LF_PROC_LINE_MAX 4096

/* Returns 0 once the program runs; when it cannot be executed, the exec error (-ENOENT,
 * -EACCES, ...) without leaving a child behind. */
int lf_cmd_spawn(const lf_cmd *c, lf_proc **ret);
pid_t lf_proc_pid(const lf_proc *p);
/* The non-blocking read end of the output pipe, for poll(); -1 once it reached end of file. */
int lf_proc_fd(const lf_proc *p);
typedef void (*lf_proc_line_fn)(const char *line, void *userdata);
/* Calls line() for every complete output line the pipe holds now (without its newline) and, at
 * end of file, for an unterminated rest. Returns 1 at end of file, 0 while the pipe is open,
 * or a negative errno. */
int lf_proc_read(lf_proc *p, lf_proc_line_fn line, void *userdata);
/* Without blocking: 0 while the child runs; 1 once it ended, with its status (as in
 * lf_cmd_result.exit_status) in *ret_status. */
int lf_proc_reap(lf_proc *p, int *ret_status);
/* SIGTERM, up to timeout_ms for the child to end, then SIGKILL; returns its status (a child
 * that already ended is just reaped). */
int lf_proc_stop(lf_proc *p, unsigned timeout_ms);
/* Kills (SIGKILL) and reaps a child that still runs, then frees p. */
void lf_proc_free(lf_proc *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_proc *, lf_proc_free);
#define _cleanup_proc_ _cleanup_(lf_proc_freep)

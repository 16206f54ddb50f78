/* The command runner; see cmd.h. fork + execvp with pipes and a poll loop for the timeout. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "cmd.h"

struct lf_cmd {
        char **argv;
        size_t argc;
        char **env; /* extra NAME=VALUE entries */
        size_t envc;
        bool clear_env;
        unsigned timeout_ms;
        char *input;
        size_t input_len;
        bool oom; /* an add failed: lf_cmd_run() refuses to run a half-built command */
};

static lf_cmd_hook_fn cmd_hook;
static void *cmd_hook_data;

void lf_cmd_set_hook(lf_cmd_hook_fn hook, void *userdata) {
        cmd_hook = hook;
        cmd_hook_data = userdata;
}

lf_cmd *lf_cmd_new(const char *program) {
        lf_cmd *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->timeout_ms = 10 * 60 * 1000;
        if (lf_cmd_add_arg(c, program) < 0) {
                lf_cmd_free(c);
                return NULL;
        }
        return c;
}

void lf_cmd_free(lf_cmd *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->argc; i++)
                free(c->argv[i]);
        free(c->argv);
        for (size_t i = 0; i < c->envc; i++)
                free(c->env[i]);
        free(c->env);
        free(c->input);
        free(c);
}

static int strv_push(char ***l, size_t *n, char *s) {
        char **nl;

        if (!s)
                return -ENOMEM;
        nl = realloc(*l, (*n + 2) * sizeof(char *));
        if (!nl) {
                free(s);
                return -ENOMEM;
        }
        nl[(*n)++] = s;
        nl[*n] = NULL;
        *l = nl;
        return 0;
}

int lf_cmd_add_arg(lf_cmd *c, const char *arg) {
        int r = strv_push(&c->argv, &c->argc, strdup(arg));
        if (r < 0)
                c->oom = true;
        return r;
}

int lf_cmd_add_argf(lf_cmd *c, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        r = strv_push(&c->argv, &c->argc, r < 0 ? NULL : s);
        if (r < 0)
                c->oom = true;
        return r;
}

int lf_cmd_add_args(lf_cmd *c, ...) {
        va_list ap;
        const char *a;
        int r = 0;

        va_start(ap, c);
        while ((a = va_arg(ap, const char *)))
                if (r >= 0)
                        r = lf_cmd_add_arg(c, a);
        va_end(ap);
        return r;
}

void lf_cmd_set_timeout(lf_cmd *c, unsigned timeout_ms) {
        c->timeout_ms = timeout_ms;
}

void lf_cmd_clear_env(lf_cmd *c) {
        c->clear_env = true;
}

int lf_cmd_set_env(lf_cmd *c, const char *name, const char *value) {
        char *s = NULL;
        int r;

        if (asprintf(&s, "%s=%s", name, value) < 0)
                s = NULL;
        r = strv_push(&c->env, &c->envc, s);
        if (r < 0)
                c->oom = true;
        return r;
}

int lf_cmd_set_input(lf_cmd *c, const char *data, size_t len) {
        char *copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, data, len);
        copy[len] = 0;
        free(c->input);
        c->input = copy;
        c->input_len = len;
        return 0;
}

const char *const *lf_cmd_argv(const lf_cmd *c) {
        return (const char *const *)c->argv;
}

static bool needs_quote(const char *s) {
        if (!*s)
                return true;
        for (; *s; s++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@%",
                            *s))
                        return true;
        return false;
}

char *lf_cmd_to_string(const lf_cmd *c) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        for (size_t i = 0; i < c->argc; i++) {
                if (i > 0)
                        fputc(' ', f);
                if (needs_quote(c->argv[i])) {
                        fputc('\'', f);
                        for (const char *p = c->argv[i]; *p; p++)
                                if (*p == '\'')
                                        fputs("'\\''", f);
                                else
                                        fputc(*p, f);
                        fputc('\'', f);
                } else
                        fputs(c->argv[i], f);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

void lf_cmd_result_clear(lf_cmd_result *r) {
        if (!r)
                return;
        free(r->out);
        free(r->err);
        *r = (lf_cmd_result){};
}

typedef struct sink {
        char *buf;
        size_t len, cap;
} sink;

static int sink_read(int fd, sink *s, bool *truncated) {
        char tmp[65536];
        ssize_t n = read(fd, tmp, sizeof(tmp));

        if (n <= 0)
                return n < 0 && (errno == EINTR || errno == EAGAIN) ? 1 : 0;
        size_t keep = (size_t)n;
        if (s->len + keep > LF_CMD_OUTPUT_MAX) {
                keep = LF_CMD_OUTPUT_MAX - s->len;
                *truncated = true;
        }
        if (s->len + keep + 1 > s->cap) {
                size_t cap = s->cap ? s->cap : 4096;
                while (cap < s->len + keep + 1)
                        cap *= 2;
                char *nb = realloc(s->buf, cap);
                if (!nb)
                        return -ENOMEM;
                s->buf = nb;
                s->cap = cap;
        }
        memcpy(s->buf + s->len, tmp, keep);
        s->len += keep;
        return 1;
}

static char *sink_take(sink *s, size_t *ret_len) {
        char *b = s->buf ? s->buf : malloc(1);
        if (!b)
                return NULL;
        b[s->len] = 0;
        *ret_len = s->len;
        s->buf = NULL;
        return b;
}

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child after fork: write(2) only, no stdio (another thread may hold its locks). */
static void child_say(const char *a, const char *b, const char *c) {
        const char *parts[] = {a, b, c ? c : "unknown error", "\n"};
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                (void)!write(STDERR_FILENO, parts[i], strlen(parts[i]));
}

/* In the child: stdio, a clean signal state and no inherited descriptors, then exec. On failure
 * the exec error goes to report_fd (when >= 0, close-on-exec), else to the command's stderr,
 * before exiting 127. */
static _Noreturn void child_exec(const lf_cmd *c, int in_fd, int out_fd, int err_fd,
                                 int report_fd) {
        sigset_t none;
        int e;

        if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
                goto fail;
        /* A caller that blocks signals for signalfd must not hand that on: a tool with SIGTERM
         * blocked could not be stopped. Descriptors the caller left inheritable (sockets of a
         * server) must not outlive it in a long-running child either; the kernels that lack
         * close_range() only miss this tidying. */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        (void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        if (c->clear_env) {
                const char *path = getenv("PATH");
                clearenv();
                setenv("PATH", path ? path : "/usr/sbin:/usr/bin:/sbin:/bin", 1);
                setenv("LC_ALL", "C", 1);
        }
        for (size_t i = 0; i < c->envc; i++)
                putenv(c->env[i]);
        execvp(c->argv[0], c->argv);
fail:
        e = errno;
        if (report_fd >= 0)
                (void)!write(report_fd, &e, sizeof(e));
        else /* the caller sees why on the command's stderr, not only an exit status of 127 */
                child_say(c->argv[0], ": cannot run: ", strerrordesc_np(e));
        _exit(127);
}

static int run_hook(lf_cmd *c, lf_cmd_result *ret) {
        lf_cmd_result res = {};
        int r = cmd_hook((const char *const *)c->argv, c->input, c->input_len, &res, cmd_hook_data);

        if (!res.out)
                res.out = strdup("");
        if (!res.err)
                res.err = strdup("");
        if (!res.out || !res.err) {
                lf_cmd_result_clear(&res);
                return -ENOMEM;
        }
        res.out_len = strlen(res.out);
        res.err_len = strlen(res.err);
        *ret = res;
        return r;
}

int lf_cmd_run(lf_cmd *c, lf_cmd_result *ret) {
        int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
        sink so = {}, se = {};
        lf_cmd_result res = {};
        size_t in_off = 0;
        pid_t pid;
        int r, status;

        if (c->oom)
                return -ENOMEM;
        if (cmd_hook)
                return run_hook(c, ret);

        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
                r = -errno;
                goto cleanup;
        }

        pid = fork();
        if (pid < 0) {
                r = -errno;
                goto cleanup;
        }
        if (pid == 0)
                child_exec(c, in[0], out[1], err[1], -1);

        close(in[0]);
        close(out[1]);
        close(err[1]);
        in[0] = out[1] = err[1] = -1;
        if (!c->input || c->input_len == 0) {
                close(in[1]);
                in[1] = -1;
        } else
                fcntl(in[1], F_SETFL, O_NONBLOCK);

        long long deadline = c->timeout_ms ? now_ms() + c->timeout_ms : 0;
        r = 0;
        while (out[0] >= 0 || err[0] >= 0) {
                struct pollfd p[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
                int wait = -1;

                if (deadline) {
                        long long left = deadline - now_ms();
                        if (left <= 0) {
                                res.timed_out = true;
                                kill(pid, SIGKILL);
                                break;
                        }
                        wait = (int)left;
                }
                if (poll(p, 3, wait) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        kill(pid, SIGKILL);
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        int *fd = i == 0 ? &out[0] : &err[0];
                        if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        int k = sink_read(*fd, i == 0 ? &so : &se, &res.truncated);
                        if (k < 0) {
                                r = k;
                                kill(pid, SIGKILL);
                        }
                        if (k <= 0) {
                                close(*fd);
                                *fd = -1;
                        }
                }
                if (in[1] >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t n = write(in[1], c->input + in_off, c->input_len - in_off);
                        if (n > 0)
                                in_off += (size_t)n;
                        if ((n < 0 && errno != EAGAIN && errno != EINTR) || in_off >= c->input_len) {
                                close(in[1]);
                                in[1] = -1;
                        }
                }
        }

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        r = r < 0 ? r : -errno;
                        goto cleanup;
                }
        res.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

        res.out = sink_take(&so, &res.out_len);
        res.err = sink_take(&se, &res.err_len);
        if (!res.out || !res.err) {
                r = -ENOMEM;
                goto cleanup;
        }
        if (r == 0 && res.timed_out)
                r = -ETIME;
        *ret = res;
        res = (lf_cmd_result){};

cleanup:
        for (int i = 0; i < 2; i++) {
                closep(&in[i]);
                closep(&out[i]);
                closep(&err[i]);
        }
        free(so.buf);
        free(se.buf);
        lf_cmd_result_clear(&res);
        return r;
}

int lf_cmd_run_ok(lf_cmd *c, lf_cmd_result *ret) {
        int r = lf_cmd_run(c, ret);
        if (r < 0)
                return r;
        return ret->exit_status == 0 ? 0 : -EIO;
}

struct lf_proc {
        pid_t pid; /* 0 once reaped */
        int status;
        int fd;
        char buf[LF_PROC_LINE_MAX + 1];
        size_t len;
};

int lf_cmd_spawn(const lf_cmd *c, lf_proc **ret) {
        _cleanup_close_ int null_fd = -1, out_r = -1, out_w = -1, rep_r = -1, rep_w = -1;
        int fds[2], e = 0;
        ssize_t n;
        pid_t pid;

        if (c->oom)
                return -ENOMEM;
        lf_proc *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->fd = -1;
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || pipe2(fds, O_CLOEXEC) < 0)
                goto fail;
        out_r = fds[0], out_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                goto fail;
        rep_r = fds[0], rep_w = fds[1];

        pid = fork();
        if (pid < 0)
                goto fail;
        if (pid == 0)
                child_exec(c, null_fd, out_w, out_w, rep_w);
        closep(&rep_w);
        rep_w = -1;
        /* The report pipe closes without a word when exec succeeds. */
        do
                n = read(rep_r, &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        if (n == sizeof(e)) {
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                free(p);
                return -(e > 0 ? e : ENOEXEC);
        }
        if (fcntl(out_r, F_SETFL, O_NONBLOCK) < 0) {
                e = errno;
                kill(pid, SIGKILL);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                free(p);
                return -e;
        }
        p->pid = pid;
        p->fd = TAKE_FD(out_r);
        *ret = p;
        return 0;

fail:
        e = errno;
        free(p);
        return -e;
}

pid_t lf_proc_pid(const lf_proc *p) {
        return p->pid;
}

int lf_proc_fd(const lf_proc *p) {
        return p->fd;
}

int lf_proc_read(lf_proc *p, lf_proc_line_fn line, void *userdata) {
        /* A bounded share per call, so a chatty child cannot keep the caller's loop to itself. */
        for (unsigned rounds = 0; rounds < 64; rounds++) {
                if (p->fd < 0)
                        return 1;
                ssize_t n = read(p->fd, p->buf + p->len, LF_PROC_LINE_MAX - p->len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                if (n == 0) {
                        closep(&p->fd);
                        p->fd = -1;
                        if (p->len > 0) {
                                p->buf[p->len] = 0;
                                p->len = 0;
                                line(p->buf, userdata);
                        }
                        return 1;
                }
                p->len += (size_t)n;
                size_t start = 0;
                for (size_t i = 0; i < p->len; i++)
                        if (p->buf[i] == '\n') {
                                p->buf[i] = 0;
                                line(p->buf + start, userdata);
                                start = i + 1;
                        }
                if (start == 0 && p->len == LF_PROC_LINE_MAX) {
                        p->buf[p->len] = 0;
                        line(p->buf, userdata);
                        start = p->len;
                }
                memmove(p->buf, p->buf + start, p->len - start);
                p->len -= start;
        }
        return 0;
}

static int proc_status(int status) {
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int lf_proc_reap(lf_proc *p, int *ret_status) {
        int status;

        if (p->pid > 0) {
                pid_t r = waitpid(p->pid, &status, WNOHANG);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        return 0;
                p->pid = 0;
                p->status = proc_status(status);
        }
        *ret_status = p->status;
        return 1;
}

int lf_proc_stop(lf_proc *p, unsigned timeout_ms) {
        long long deadline = now_ms() + timeout_ms;
        int status, r;

        if (p->pid > 0)
                kill(p->pid, SIGTERM);
        while ((r = lf_proc_reap(p, &status)) == 0) {
                if (now_ms() >= deadline) {
                        kill(p->pid, SIGKILL);
                        while (waitpid(p->pid, &status, 0) < 0)
                                if (errno != EINTR)
                                        return -errno;
                        p->pid = 0;
                        p->status = proc_status(status);
                        return p->status;
                }
                nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        }
        return r < 0 ? r : status;
}

void lf_proc_free(lf_proc *p) {
        if (!p)
                return;
        if (p->pid > 0) {
                kill(p->pid, SIGKILL);
                while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        closep(&p->fd);
        free(p);
}

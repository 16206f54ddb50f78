/* The appliance's PXE service through dnsmasq; see dnsmasq.h. Proxy mode answers only PXE clients
 * beside the LAN's own DHCP server, full mode hands out addresses too. Either way firmware PXE
 * gets iPXE over TFTP, and iPXE (which announces itself with DHCP option 175) gets the URL of its
 * per-MAC boot script. */
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd.h"
#include "dnsmasq.h"
#include "fileio.h"
#include "log.h"

/* Largest iPXE boot file copied (ipxe.efi is about 1 MiB). */
#define IPXE_FILE_MAX (16u << 20)
#define BACKOFF_MIN_S 1
#define BACKOFF_MAX_S 60
/* A dnsmasq that ran this long before it ended starts again after the shortest back-off. */
#define STEADY_S 60

/* dnsmasq reads its file line by line and splits values at commas. */
static int check_value(lf_diag *diag, const char *what, const char *v) {
        if (strpbrk(v, ",\n\r#\""))
                return lf_diag_add(diag, NULL, 0,
                                   "%s '%s' cannot be given to dnsmasq (it holds ',', '#', '\"' "
                                   "or a line break); choose one without",
                                   what, v);
        return 0;
}

/* The iPXE script URL: ${netX/mac} is the MAC of the NIC iPXE booted from, which iPXE writes
 * lowercase with colons, as /boot/<mac>.ipxe wants it. */
static void put_ipxe_url(FILE *f, const lf_dnsmasq_config *c) {
        fprintf(f, "%s/boot/${netX/mac}.ipxe", c->http_base);
}

static void render_proxy(FILE *f, const lf_manifest *m, const lf_dnsmasq_config *c) {
        char net[16], mask[16];

        lf_ipv4_format(lf_cidr_network(m->appliance_address), net, sizeof(net));
        lf_ipv4_format(lf_cidr_mask(m->appliance_address.prefix), mask, sizeof(mask));
        fprintf(f,
                "# Proxy DHCP: the LAN's own DHCP server hands out addresses, this one only "
                "answers\n# PXE clients (and only with boot information).\n"
                "dhcp-range=%s,proxy,%s\n",
                net, mask);
        fprintf(f, "# Firmware PXE gets iPXE over TFTP (dnsmasq answers through a one-entry PXE "
                   "menu,\n# the form proxy DHCP clients expect); iPXE gets its boot script.\n");
        static const char *const csa[] = {"x86PC", "X86-64_EFI", "BC_EFI"};
        for (size_t i = 0; i < ELEMENTSOF(csa); i++)
                fprintf(f, "pxe-service=tag:!ipxe,%s,\"labforge iPXE\",%s\n", csa[i],
                        i == 0 ? LF_IPXE_BIOS : c->uefi_file);
        for (size_t i = 0; i < ELEMENTSOF(csa); i++) {
                fprintf(f, "pxe-service=tag:ipxe,%s,\"labforge\",", csa[i]);
                put_ipxe_url(f, c);
                fputc('\n', f);
        }
}

static void render_full(FILE *f, const lf_manifest *m, const lf_dnsmasq_config *c) {
        char first[16], last[16], mask[16], addr[16];

        lf_ipv4_format(m->dhcp_range_first, first, sizeof(first));
        lf_ipv4_format(m->dhcp_range_last, last, sizeof(last));
        lf_ipv4_format(lf_cidr_mask(m->appliance_address.prefix), mask, sizeof(mask));
        lf_ipv4_format(m->appliance_address.addr, addr, sizeof(addr));
        fprintf(f, "# Full DHCP on the provisioning LAN.\ndhcp-range=%s,%s,%s\n", first, last,
                mask);
        /* dnsmasq would name itself router and DNS server; it is neither. */
        if (m->gateway) {
                char gw[16];
                lf_ipv4_format(m->gateway, gw, sizeof(gw));
                fprintf(f, "dhcp-option=option:router,%s\n", gw);
        } else
                fprintf(f, "dhcp-option=option:router\n");
        fprintf(f, "dhcp-option=option:dns-server\n");
        bool any = false;
        for (size_t i = 0; i < m->n_nodes; i++) {
                const lf_node *n = &m->nodes[i];
                char a[16];
                if (!n->address)
                        continue;
                if (!any)
                        fprintf(f, "# Nodes with a fixed address keep it, and nobody else gets "
                                   "it.\n");
                any = true;
                lf_ipv4_format(n->address, a, sizeof(a));
                fprintf(f, "dhcp-host=%s,%s,%s\n", n->mac, a, n->name);
        }
        fprintf(f, "# Firmware PXE gets iPXE over TFTP by client architecture (RFC 4578; 9 is "
                   "used for\n# x86-64 UEFI too); iPXE gets its boot script.\n"
                   "dhcp-match=set:bios,option:client-arch,0\n"
                   "dhcp-match=set:efi64,option:client-arch,7\n"
                   "dhcp-match=set:efi64,option:client-arch,9\n");
        fprintf(f, "dhcp-boot=tag:!ipxe,tag:bios,%s,,%s\n", LF_IPXE_BIOS, addr);
        fprintf(f, "dhcp-boot=tag:!ipxe,tag:efi64,%s,,%s\n", c->uefi_file, addr);
        fprintf(f, "dhcp-boot=tag:ipxe,");
        put_ipxe_url(f, c);
        fputc('\n', f);
}

int lf_dnsmasq_config_render(const lf_manifest *m, const lf_dnsmasq_config *c, lf_diag *diag,
                             char **ret) {
        char *buf = NULL;
        size_t len = 0;
        int r = 0;

        if (check_value(diag, "interface", m->appliance_interface) < 0)
                r = -EINVAL;
        if (check_value(diag, "directory", c->dir) < 0)
                r = -EINVAL;
        if (r < 0)
                return r;

        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f,
                "# dnsmasq for the PXE service of lab '%s',\n# generated by labforge from %s.\n"
                "# Rewritten at every start of labforge serve: change the manifest, not this "
                "file.\n",
                m->name, m->file ? m->file : "its manifest");
        fprintf(f,
                "# No DNS; DHCP and TFTP on the provisioning interface only.\n"
                "port=0\n"
                "interface=%s\n"
                "bind-interfaces\n"
                "except-interface=lo\n"
                "user=%s\n"
                "pid-file=%s/dnsmasq.pid\n"
                "dhcp-leasefile=%s/dnsmasq.leases\n"
                "# Log to stderr, which labforge forwards to its own log.\n"
                "log-facility=-\n"
                "log-dhcp\n"
                "enable-tftp\n"
                "tftp-root=%s/tftp\n"
                "# iPXE announces itself with option 175.\n"
                "dhcp-match=set:ipxe,175\n",
                m->appliance_interface, c->user, c->dir, c->dir, c->dir);
        if (m->dhcp == LF_DHCP_PROXY)
                render_proxy(f, m, c);
        else
                render_full(f, m, c);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

static int copy_file(const char *from, const char *to, lf_diag *diag) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = lf_read_file(from, IPXE_FILE_MAX, diag, &data, &len);
        if (r < 0)
                return r;
        r = lf_write_file_atomic(to, data, len, 0644);
        if (r < 0)
                return lf_diag_add(diag, NULL, 0, "%s: cannot write it: %s", to, strerror(-r)), r;
        return 0;
}

int lf_dnsmasq_prepare_tftp(const char *ipxe_dir, const char *tftp_dir, lf_diag *diag,
                            const char **ret_uefi_file) {
        const char *files[] = {LF_IPXE_BIOS, LF_IPXE_UEFI, LF_IPXE_UEFI_FALLBACK};
        const char *uefi = NULL;
        int r;

        r = lf_mkdir_p(tftp_dir, 0755);
        if (r < 0)
                return lf_diag_add(diag, NULL, 0, "%s: cannot create it: %s", tftp_dir,
                                   strerror(-r)),
                       r;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *from = NULL, *to = NULL;
                if (asprintf(&from, "%s/%s", ipxe_dir, files[i]) < 0 ||
                    asprintf(&to, "%s/%s", tftp_dir, files[i]) < 0)
                        return -ENOMEM;
                /* Only the BIOS file and one of the UEFI ones are required. */
                if (i > 0 && access(from, F_OK) < 0)
                        continue;
                r = copy_file(from, to, diag);
                if (r < 0) {
                        if (r != -ENOMEM)
                                lf_diag_add(diag, NULL, 0,
                                            "iPXE's boot files are needed for PXE; install "
                                            "Debian's ipxe package");
                        return r;
                }
                if (i > 0 && !uefi)
                        uefi = files[i];
        }
        if (!uefi)
                return lf_diag_add(diag, NULL, 0,
                                   "%s has neither %s nor %s for UEFI PCs; install Debian's ipxe "
                                   "package",
                                   ipxe_dir, LF_IPXE_UEFI, LF_IPXE_UEFI_FALLBACK),
                       -ENOENT;
        *ret_uefi_file = uefi;
        return 0;
}

void lf_dnsmasq_log_line(const char *line, char *buf, size_t size) {
        /* "dnsmasq[PID]: " or "dnsmasq-SUB[PID]: " */
        if (strneq(line, "dnsmasq", 7)) {
                const char *sub = line + 7, *bracket = strchr(sub, '[');
                size_t sublen = bracket ? (size_t)(bracket - sub) : 0;
                const char *end = bracket ? bracket + 1 + strspn(bracket + 1, "0123456789") : NULL;
                if (end && end > bracket + 1 && strneq(end, "]: ", 3) &&
                    (sublen == 0 || (sub[0] == '-' && sublen > 1 && sublen < 16))) {
                        if (sublen > 0)
                                snprintf(buf, size, "dnsmasq: %.*s: %s", (int)sublen - 1, sub + 1,
                                         end + 3);
                        else
                                snprintf(buf, size, "dnsmasq: %s", end + 3);
                        return;
                }
        }
        snprintf(buf, size, "dnsmasq: %s", line);
}

/* --- supervision ------------------------------------------------------------------------- */

struct lf_dnsmasq {
        char *program;
        char *dir, *user, *http_base;
        const char *uefi_file;
        char *conf, *conf_arg, *pid_file;
        char *text; /* the configuration dnsmasq runs with */
        lf_cmd *cmd;
        lf_proc *proc;
        time_t started;    /* when the running dnsmasq started */
        time_t restart_at; /* while not running: when to start it again */
        unsigned backoff_s;
        unsigned restarts;
};

static time_t now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec;
}

static void forward_line(const char *line, void *userdata) {
        char buf[LF_PROC_LINE_MAX + 64];
        lf_dnsmasq_log_line(line, buf, sizeof(buf));
        log_info("%s", buf);
}

/* Every directory on the way to path, path included, is searchable by uid (dnsmasq opens TFTP
 * files as that user). */
static bool reachable_by(const char *path, uid_t uid, gid_t gid) {
        _cleanup_free_ char *p = realpath(path, NULL);
        if (!p)
                return false;
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != 0)
                        continue;
                char saved = *s;
                struct stat st;
                *s = 0;
                int r = stat(p, &st);
                *s = saved;
                if (r < 0)
                        return false;
                mode_t need = st.st_uid == uid ? S_IXUSR : st.st_gid == gid ? S_IXGRP : S_IXOTH;
                if (!(st.st_mode & need))
                        return false;
                if (!saved)
                        return true;
        }
}

/* The user dnsmasq drops to: its own account when that can read the TFTP files. */
static const char *pick_user(const char *tftp_dir) {
        struct passwd *pw = getpwnam("dnsmasq");
        if (pw && reachable_by(tftp_dir, pw->pw_uid, pw->pw_gid))
                return "dnsmasq";
        if (pw)
                log_warning("user dnsmasq cannot reach %s (a directory above it is not "
                            "searchable by others); dnsmasq runs as root. 'chmod o+x' the "
                            "directories above it to let dnsmasq drop its privileges.",
                            tftp_dir);
        return "root";
}

/* A dnsmasq of ours that a killed labforge serve left behind holds the DHCP and TFTP ports:
 * found by its pid file and its command line (our configuration file), it is stopped. */
static void stop_leftover(const char *pid_file, const char *conf_arg) {
        char buf[32] = {}, path[64], cmdline[4096];
        _cleanup_close_ int fd = open(pid_file, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
                return;
        long pid = strtol(buf, NULL, 10);
        if (pid <= 1)
                return;
        snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
        _cleanup_close_ int cfd = open(path, O_RDONLY | O_CLOEXEC);
        if (cfd < 0 || (n = read(cfd, cmdline, sizeof(cmdline) - 1)) <= 0)
                return;
        cmdline[n] = 0;
        bool ours = false;
        for (char *a = cmdline; a < cmdline + n; a += strlen(a) + 1)
                if (streq(a, conf_arg))
                        ours = true;
        if (!ours)
                return;
        log_warning("stopping dnsmasq (pid %ld) left running by an earlier labforge serve", pid);
        kill((pid_t)pid, SIGTERM);
        for (int i = 0; i < 200 && kill((pid_t)pid, 0) == 0; i++)
                nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        kill((pid_t)pid, SIGKILL);
}

static int spawn(lf_dnsmasq *d) {
        int r = lf_cmd_spawn(d->cmd, &d->proc);
        if (r < 0)
                return r;
        d->started = now_s();
        log_info("dnsmasq started (pid %d)", (int)lf_proc_pid(d->proc));
        return 0;
}

/* The next start after the back-off, which doubles for the one after (up to its maximum). */
static void retry_later(lf_dnsmasq *d) {
        d->restart_at = now_s() + d->backoff_s;
        d->backoff_s = d->backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : d->backoff_s * 2;
}

static int start_again(lf_dnsmasq *d) {
        int r = spawn(d);
        if (r < 0) {
                log_error_errno(r, "Cannot start dnsmasq again: %m; next try in %us", d->backoff_s);
                retry_later(d);
        }
        return r;
}

static int render(lf_dnsmasq *d, const lf_manifest *m, char **ret) {
        lf_dnsmasq_config c = {.dir = d->dir,
                               .user = d->user,
                               .http_base = d->http_base,
                               .uefi_file = d->uefi_file};
        lf_diag diag = {};
        int r = lf_dnsmasq_config_render(m, &c, &diag, ret);
        lf_diag_print(&diag);
        lf_diag_clear(&diag);
        return r == -ENOMEM ? log_oom() : r;
}

/* Puts text in place as dnsmasq's file once dnsmasq's own check accepts it: a file it refuses
 * never replaces one it runs with. */
static int install_config(lf_dnsmasq *d, const char *text) {
        _cleanup_free_ char *next = NULL, *next_arg = NULL;
        _cleanup_cmd_ lf_cmd *t = lf_cmd_new(d->program);
        lf_cmd_result res = {};
        int r;

        if (asprintf(&next, "%s.new", d->conf) < 0 ||
            asprintf(&next_arg, "--conf-file=%s", next) < 0 || !t ||
            lf_cmd_add_args(t, "--test", next_arg, NULL) < 0)
                return log_oom();
        r = lf_write_file_atomic(next, text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", next);
        lf_cmd_set_timeout(t, 30 * 1000);
        r = lf_cmd_run_ok(t, &res);
        if (r < 0 && res.exit_status == 127 && !res.timed_out)
                log_error("%s: not found; install Debian's dnsmasq-base package.", d->program);
        else if (r < 0)
                log_error("dnsmasq refuses %s: %s%s", next, res.err,
                          res.err_len ? "" : "(no message)");
        lf_cmd_result_clear(&res);
        if (r < 0)
                return r;
        if (rename(next, d->conf) < 0)
                return log_error_errno(-errno, "Cannot rename %s to %s: %m", next, d->conf);
        return 0;
}

int lf_dnsmasq_start(const lf_manifest *m, const lf_dnsmasq_options *o, lf_dnsmasq **ret) {
        _cleanup_free_ char *tftp = NULL;
        lf_diag diag = {};
        int r;

        _cleanup_(lf_dnsmasq_stopp) lf_dnsmasq *d = calloc(1, sizeof(*d));
        if (!d || !(d->program = strdup(o->program ? o->program : "dnsmasq")) ||
            !(d->http_base = strdup(o->http_base)) ||
            asprintf(&d->dir, "%s/dnsmasq", o->state_dir) < 0 ||
            asprintf(&tftp, "%s/tftp", d->dir) < 0 ||
            asprintf(&d->conf, "%s/dnsmasq.conf", d->dir) < 0 ||
            asprintf(&d->conf_arg, "--conf-file=%s", d->conf) < 0 ||
            asprintf(&d->pid_file, "%s/dnsmasq.pid", d->dir) < 0)
                return log_oom();
        r = lf_dnsmasq_prepare_tftp(o->ipxe_dir ? o->ipxe_dir : LF_IPXE_DIR, tftp, &diag,
                                    &d->uefi_file);
        lf_diag_print(&diag);
        lf_diag_clear(&diag);
        if (r < 0)
                return r == -ENOMEM ? log_oom()
                                    : log_error_errno(r, "Cannot set up PXE files in %s.", tftp);
        if (!(d->user = strdup(o->user ? o->user : pick_user(tftp))))
                return log_oom();
        r = render(d, m, &d->text);
        if (r < 0)
                return log_error_errno(r, "Cannot configure dnsmasq from %s.", m->file);
        /* A wrong configuration stops serve at once, with dnsmasq's own words. */
        r = install_config(d, d->text);
        if (r < 0)
                return r;

        stop_leftover(d->pid_file, d->conf_arg);
        d->cmd = lf_cmd_new(d->program);
        if (!d->cmd || lf_cmd_add_args(d->cmd, "--keep-in-foreground", d->conf_arg, NULL) < 0)
                return log_oom();
        lf_cmd_clear_env(d->cmd);
        d->backoff_s = BACKOFF_MIN_S;
        r = spawn(d);
        if (r < 0)
                return log_error_errno(r, "Cannot start %s: %m", d->program);
        *ret = TAKE_PTR(d);
        return 0;
}

int lf_dnsmasq_reconfigure(lf_dnsmasq *d, const lf_manifest *m) {
        _cleanup_free_ char *text = NULL;
        int r = render(d, m, &text);

        if (r < 0 || streq(text, d->text))
                return r < 0 ? r : 0;
        r = install_config(d, text);
        if (r < 0)
                return log_error_errno(r, "keeping dnsmasq as it runs.");
        free(d->text);
        d->text = TAKE_PTR(text);
        log_info("the manifest changed the PXE service: restarting dnsmasq");
        if (d->proc) {
                lf_proc_stop(d->proc, 5000);
                lf_proc_read(d->proc, forward_line, NULL);
                lf_proc_free(d->proc);
                d->proc = NULL;
        }
        d->backoff_s = BACKOFF_MIN_S;
        r = start_again(d);
        return r < 0 ? r : 1;
}

int lf_dnsmasq_fd(const lf_dnsmasq *d) {
        return d->proc ? lf_proc_fd(d->proc) : -1;
}

unsigned lf_dnsmasq_restarts(const lf_dnsmasq *d) {
        return d->restarts;
}

void lf_dnsmasq_poll(lf_dnsmasq *d) {
        int status;

        if (d->proc) {
                if (lf_proc_read(d->proc, forward_line, NULL) < 0)
                        /* Unreadable output is no reason to lose DHCP: read no more of it. */
                        log_warning("cannot read dnsmasq's output any more");
                if (lf_proc_reap(d->proc, &status) <= 0)
                        return;
                /* What it wrote before it ended (without waiting for the end of file, which
                 * a child of its own could hold back). */
                lf_proc_read(d->proc, forward_line, NULL);
                time_t ran = now_s() - d->started;
                if (ran >= STEADY_S)
                        d->backoff_s = BACKOFF_MIN_S;
                log_warning("dnsmasq ended with status %d after %llds; starting it again in %us",
                            status, (long long)ran, d->backoff_s);
                lf_proc_free(d->proc);
                d->proc = NULL;
                retry_later(d);
                return;
        }
        if (now_s() < d->restart_at)
                return;
        d->restarts++;
        start_again(d);
}

void lf_dnsmasq_stop(lf_dnsmasq *d) {
        if (!d)
                return;
        if (d->proc) {
                int status = lf_proc_stop(d->proc, 5000);
                lf_proc_read(d->proc, forward_line, NULL);
                log_info("dnsmasq stopped (status %d)", status);
                lf_proc_free(d->proc);
        }
        lf_cmd_free(d->cmd);
        free(d->program);
        free(d->dir);
        free(d->user);
        free(d->http_base);
        free(d->conf);
        free(d->conf_arg);
        free(d->pid_file);
        free(d->text);
        free(d);
}

/* --- serve's subsystem --------------------------------------------------------------------- */

typedef struct subsystem {
        lf_appliance *app;
        lf_dnsmasq *d;
} subsystem;

static int subsystem_start(lf_appliance *app, void **ret_data) {
        _cleanup_free_ subsystem *sub = NULL;
        int r;

        if (!app->dhcp) {
                log_info("DHCP/TFTP left to another server (--no-dhcp)");
                *ret_data = NULL;
                return 0;
        }
        sub = calloc(1, sizeof(*sub));
        if (!sub)
                return log_oom();
        sub->app = app;
        pthread_rwlock_rdlock(&app->lock);
        r = lf_dnsmasq_start(
                app->manifest,
                &(lf_dnsmasq_options){.state_dir = app->state_dir, .http_base = app->base_url},
                &sub->d);
        pthread_rwlock_unlock(&app->lock);
        if (r < 0)
                return r;
        *ret_data = TAKE_PTR(sub);
        return 0;
}

static int subsystem_fd(void *data) {
        subsystem *sub = data;
        return sub ? lf_dnsmasq_fd(sub->d) : -1;
}

static void subsystem_dispatch(void *data) {
        subsystem *sub = data;
        if (sub)
                lf_dnsmasq_poll(sub->d);
}

/* Also follows a reloaded manifest (SIGHUP): rendering is cheap, dnsmasq restarts only when its
 * file changes. */
static void subsystem_tick(void *data) {
        subsystem *sub = data;
        if (!sub)
                return;
        lf_dnsmasq_poll(sub->d);
        pthread_rwlock_rdlock(&sub->app->lock);
        lf_dnsmasq_reconfigure(sub->d, sub->app->manifest);
        pthread_rwlock_unlock(&sub->app->lock);
}

static void subsystem_stop(void *data) {
        subsystem *sub = data;
        if (!sub)
                return;
        lf_dnsmasq_stop(sub->d);
        free(sub);
}

const lf_subsystem lf_subsystem_dnsmasq = {
        .name = "dnsmasq",
        .start = subsystem_start,
        .fd = subsystem_fd,
        .dispatch = subsystem_dispatch,
        .tick = subsystem_tick,
        .stop = subsystem_stop,
};

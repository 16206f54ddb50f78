/* labforge serve: the appliance. Loads and checks the manifest, syncs the node state with it,
 * then runs its subsystems (HTTP, admin socket, and DHCP/TFTP through dnsmasq) until SIGTERM or
 * SIGINT; SIGHUP reloads the manifest. */
#include <arpa/inet.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <fcntl.h>

#include "admin.h"
#include "dnsmasq.h"
#include "fileio.h"
#include "http.h"
#include "log.h"
#include "verbs.h"

/* The subsystems, started in this order and stopped in reverse. DHCP/TFTP (dnsmasq) plugs in
 * here as one more entry. */
static const lf_subsystem *const subsystems[] = {
        &lf_subsystem_http,
        &lf_subsystem_admin,
        &lf_subsystem_dnsmasq,
};

/* Largest manifest read. */
#define MANIFEST_MAX (4u << 20)

static void serve_usage(FILE *f) {
        fprintf(f, "usage: labforge serve --manifest LAB.xml [--state-dir DIR] [--images DIR]\n"
                   "                      [--listen ADDR[:PORT]] [--no-dhcp]\n\n"
                   "Runs the appliance: boot scripts, images and the node API over HTTP (port\n"
                   "<appliance http-port>, default 8180, on the appliance address or ADDR), the\n"
                   "node inventory in DIR/labforge.db (default /var/lib/labforge or\n"
                   "$LABFORGE_STATE_DIR) and the admin socket DIR/labforge.sock that 'labforge\n"
                   "nodes|assign|rebuild|logs|forget' talk to. Images come from DIR/images or\n"
                   "--images. --no-dhcp leaves DHCP/TFTP to something else. SIGHUP reloads the\n"
                   "manifest; SIGTERM or SIGINT stop. Exit status 2 when the manifest is wrong or\n"
                   "drops a node that is installing or deployed (nothing is changed then).\n");
}

/* Loads the manifest and its text, reporting problems. */
static int load_manifest(const char *path, lf_manifest **ret_m, char **ret_xml) {
        _cleanup_manifest_ lf_manifest *m = NULL;
        _cleanup_free_ char *xml = NULL;
        lf_diag diag = {};
        size_t len;
        int r;

        r = lf_read_file(path, MANIFEST_MAX, &diag, &xml, &len);
        if (r >= 0)
                r = lf_manifest_load_buffer(path, xml, len, &diag, &m);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                return r;
        }
        *ret_m = TAKE_PTR(m);
        *ret_xml = TAKE_PTR(xml);
        return 0;
}

static int sync_state(lf_appliance *app, const lf_manifest *m) {
        lf_diag diag = {};
        int r = lf_state_sync(app->state, m, &diag);
        if (r < 0) {
                lf_diag_print(&diag);
                if (diag.n == 0)
                        log_error_errno(r, "Cannot sync the node state with %s: %m",
                                        app->manifest_path);
                else
                        log_error("%s refused: nothing was changed.", app->manifest_path);
                lf_diag_clear(&diag);
        }
        return r;
}

static void reload(lf_appliance *app) {
        _cleanup_manifest_ lf_manifest *m = NULL;
        _cleanup_free_ char *xml = NULL;

        log_info("SIGHUP: reloading %s", app->manifest_path);
        if (load_manifest(app->manifest_path, &m, &xml) < 0 || sync_state(app, m) < 0) {
                log_error("keeping the manifest loaded before.");
                return;
        }
        pthread_rwlock_wrlock(&app->lock);
        lf_manifest *old = app->manifest;
        char *old_xml = app->manifest_xml;
        app->manifest = TAKE_PTR(m);
        app->manifest_xml = TAKE_PTR(xml);
        pthread_rwlock_unlock(&app->lock);
        lf_manifest_free(old);
        free(old_xml);
        log_info("reloaded %s: %zu nodes", app->manifest_path, app->manifest->n_nodes);
}

/* --listen ADDR or ADDR:PORT */
static int parse_listen(const char *s, uint32_t *ret_addr, unsigned *ret_port) {
        _cleanup_free_ char *a = strdup(s);
        char *colon;
        unsigned port = 0;

        if (!a)
                return -ENOMEM;
        colon = strchr(a, ':');
        if (colon) {
                char *end;
                *colon = 0;
                errno = 0;
                unsigned long p = strtoul(colon + 1, &end, 10);
                if (errno || *end || end == colon + 1 || p == 0 || p > 65535)
                        return -EINVAL;
                port = (unsigned)p;
        }
        if (lf_ipv4_parse(a, ret_addr) < 0)
                return -EINVAL;
        if (port)
                *ret_port = port;
        return 0;
}

/* Runs the subsystems until a stop signal. */
static int run(lf_appliance *app, int sigfd) {
        void *data[ELEMENTSOF(subsystems)] = {};
        size_t started = 0;
        int r = 0;

        for (; started < ELEMENTSOF(subsystems); started++) {
                r = subsystems[started]->start(app, &data[started]);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                log_info("serving %s on %s (state in %s, images from %s)", app->manifest->name,
                         app->base_url, app->state_dir, app->images_dir);
        while (r >= 0) {
                struct pollfd p[ELEMENTSOF(subsystems) + 1];
                size_t owner[ELEMENTSOF(subsystems) + 1], np = 0;

                p[np++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
                for (size_t i = 0; i < started; i++)
                        if (subsystems[i]->fd && subsystems[i]->fd(data[i]) >= 0) {
                                owner[np] = i;
                                p[np++] = (struct pollfd){.fd = subsystems[i]->fd(data[i]),
                                                          .events = POLLIN};
                        }
                if (poll(p, np, 1000) < 0 && errno != EINTR) {
                        r = log_error_errno(-errno, "poll: %m");
                        break;
                }
                if (p[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
                                if (si.ssi_signo == SIGHUP)
                                        reload(app);
                                else {
                                        log_info("%s: stopping", strsignal((int)si.ssi_signo));
                                        break;
                                }
                        }
                }
                for (size_t k = 1; k < np; k++)
                        if (p[k].revents & (POLLIN | POLLERR | POLLHUP))
                                subsystems[owner[k]]->dispatch(data[owner[k]]);
                for (size_t i = 0; i < started; i++)
                        if (subsystems[i]->tick)
                                subsystems[i]->tick(data[i]);
        }
        while (started > 0) {
                started--;
                if (subsystems[started]->stop)
                        subsystems[started]->stop(data[started]);
        }
        return r;
}

static bool have_subsystem(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(subsystems); i++)
                if (streq(subsystems[i]->name, name))
                        return true;
        return false;
}

int verb_serve(int argc, char **argv) {
        static const struct option options[] = {
                {"manifest", required_argument, NULL, 'm'},
                {"state-dir", required_argument, NULL, 's'},
                {"images", required_argument, NULL, 'i'},
                {"listen", required_argument, NULL, 'l'},
                {"no-dhcp", no_argument, NULL, 'n'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *listen = NULL;
        _cleanup_free_ char *images = NULL, *lock_path = NULL;
        _cleanup_close_ int lock_fd = -1, sigfd = -1;
        _cleanup_state_ lf_state *state = NULL;
        lf_appliance app = {.state_dir = lf_state_dir_default(), .dhcp = true};
        char addr[INET_ADDRSTRLEN];
        uint32_t listen_addr = 0;
        unsigned listen_port = 0;
        lf_diag diag = {};
        sigset_t mask;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'm':
                        app.manifest_path = optarg;
                        break;
                case 's':
                        app.state_dir = optarg;
                        break;
                case 'i':
                        app.images_dir = optarg;
                        break;
                case 'l':
                        listen = optarg;
                        break;
                case 'n':
                        app.dhcp = false;
                        break;
                case 'h':
                        serve_usage(stdout);
                        return 0;
                default:
                        serve_usage(stderr);
                        return 2;
                }
        if (optind < argc) {
                log_error("unexpected argument '%s'; see 'labforge serve --help'.", argv[optind]);
                return 2;
        }
        if (!app.manifest_path) {
                log_error("--manifest is required; see 'labforge serve --help'.");
                return 2;
        }
        if (app.dhcp && !have_subsystem("dnsmasq")) {
                log_error("this build of labforge has no DHCP/TFTP (dnsmasq) support yet; run "
                          "with --no-dhcp and PXE from another server.");
                return 2;
        }
        if (listen && parse_listen(listen, &listen_addr, &listen_port) < 0) {
                log_error("--listen '%s': expected an IPv4 address, optionally with :PORT "
                          "(127.0.0.1:8180).",
                          listen);
                return 2;
        }
        if (load_manifest(app.manifest_path, &app.manifest, &app.manifest_xml) < 0)
                return 2;
        app.listen_addr = listen ? listen_addr : app.manifest->appliance_address.addr;
        app.port = listen_port ? listen_port : app.manifest->http_port;
        /* Nodes must be told an address they can reach: the bind address unless it is the
         * wildcard, then the appliance's own. */
        lf_ipv4_format(app.listen_addr ? app.listen_addr : app.manifest->appliance_address.addr,
                       addr, sizeof(addr));
        snprintf(app.base_url, sizeof(app.base_url), "http://%s:%u", addr, app.port);
        if (!app.images_dir) {
                if (asprintf(&images, "%s/images", app.state_dir) < 0) {
                        r = (log_oom(), 1);
                        goto out;
                }
                app.images_dir = images;
        }

        if (mkdir(app.state_dir, 0700) < 0 && errno != EEXIST) {
                r = (log_error_errno(-errno, "Cannot create %s: %m", app.state_dir), 1);
                goto out;
        }
        if (asprintf(&lock_path, "%s/labforge.lock", app.state_dir) < 0) {
                r = (log_oom(), 1);
                goto out;
        }
        lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
                r = (log_error_errno(-errno,
                                     "Cannot lock %s: %m (is another 'labforge serve' running "
                                     "with this state directory?)",
                                     lock_path),
                     1);
                goto out;
        }
        r = lf_state_open(app.state_dir, &diag, &state);
        if (r < 0) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                r = r == -ENOMEM ? (log_oom(), 1) : 1;
                goto out;
        }
        app.state = state;
        if (sync_state(&app, app.manifest) < 0) {
                r = 2;
                goto out;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        signal(SIGPIPE, SIG_IGN);
        /* Blocked before any thread starts, so every thread leaves them to the signalfd. */
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sigfd < 0) {
                r = (log_error_errno(-errno, "signalfd: %m"), 1);
                goto out;
        }
        pthread_rwlock_init(&app.lock, NULL);
        r = run(&app, sigfd) < 0 ? 1 : 0;
        pthread_rwlock_destroy(&app.lock);
out:
        lf_manifest_free(app.manifest);
        free(app.manifest_xml);
        return r;
}

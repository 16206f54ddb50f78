/* labforge-install install: the installer's main job (DESIGN §4). Standalone: read the manifest
 * (or a ready plan), probe, plan, print the plan, download and verify the image, and only then
 * prepare the disks, extract, configure. Appliance mode talks to the node API of docs/api.md,
 * labforge.appliance being the node's API root (http://APPLIANCE/api/v1/nodes/<mac>):
 * POST assignment (the node, its nodeid, the one-time token, the manifest's and the image's
 * URLs and the image's SHA-256), then the standalone steps with the token, reporting POST
 * progress / complete / failed; mode=discover POSTs the inventory. The installer never
 * reboots: the initramfs' /init does, after it exits (0 installed, 1 failed, 2 bad settings or
 * input), powering off instead with labforge.reboot=0. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "executor.h"
#include "fileio.h"
#include "install.h"
#include "json.h"
#include "log.h"
#include "manifest.h"
#include "planner.h"
#include "probe.h"
#include "tarball.h"
#include "units.h"
#include "verbs.h"

#define CMDLINE_MAX (64u * 1024)
/* Limits of the node API's progress and failed bodies (docs/api.md). */
#define API_STEP_MAX 256
#define API_REASON_MAX 4096
#define API_LOG_MAX (64u * 1024)

/* --- Appliance mode ------------------------------------------------------------------------ */

typedef struct appliance {
        const char *root; /* labforge.appliance: the node's API root */
        char *token;      /* from the assignment (or labforge.token) */
        unsigned nodeid;
        char step[API_STEP_MAX + 1]; /* the step being reported, "[k/N] message" */
        bool warned;
} appliance;

static int api_post(appliance *a, const char *call, json_object *body, lf_diag *diag) {
        _cleanup_free_ char *url = NULL;
        const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
        if (!text || asprintf(&url, "%s/%s", a->root, call) < 0)
                return -ENOMEM;
        return lf_http_post_json(url, a->token, text, diag);
}

/* A string cut to at most max bytes, on a UTF-8 character boundary. */
static json_object *json_string_cut(const char *s, size_t max) {
        size_t len = strlen(s);
        if (len > max) {
                len = max;
                while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
                        len--;
        }
        return json_object_new_string_len(s, (int)len);
}

/* The progress sink: each step, and byte progress within it, as POST progress. */
static void post_progress(const lf_progress_event *ev, void *userdata) {
        appliance *a = userdata;
        _cleanup_json_ json_object *o = json_object_new_object();
        lf_diag diag = {};
        char msg[80] = "";

        if (ev->kind == LF_PROGRESS_FAIL)
                return; /* POST failed, with the log, comes at the end */
        if (ev->kind == LF_PROGRESS_STEP)
                snprintf(a->step, sizeof(a->step), "[%u/%u] %s", ev->step, ev->total_steps,
                         ev->message);
        else {
                char d[32], t[32];
                lf_format_size(ev->bytes_done, d, sizeof(d));
                lf_format_size(ev->bytes_total, t, sizeof(t));
                snprintf(msg, sizeof(msg), "%s of %s", d, t);
        }
        if (!o || lf_json_add(o, "step", json_string_cut(a->step, API_STEP_MAX)) < 0 ||
            lf_json_add(o, "percent", json_object_new_int64(ev->percent)) < 0 ||
            (*msg && lf_json_add(o, "message", json_object_new_string(msg)) < 0))
                return;
        /* Progress never stops an install: a lost report is mentioned once and forgotten. */
        if (api_post(a, "progress", o, &diag) < 0 && !a->warned) {
                a->warned = true;
                log_warning("cannot report progress to the appliance (%s); going on without",
                            diag.n ? diag.msgs[0] : "out of memory");
        }
        lf_diag_clear(&diag);
}

/* POST complete, or POST failed with the reason and every problem as the log. */
static void post_outcome(appliance *a, int r, const char *reason, const lf_diag *problems) {
        _cleanup_json_ json_object *o = json_object_new_object();
        _cleanup_free_ char *log = NULL;
        size_t log_len = 0;
        lf_diag diag = {};

        if (!o)
                return;
        if (r >= 0) {
                if (api_post(a, "complete", o, &diag) < 0)
                        log_warning("cannot tell the appliance the install is complete: %s",
                                    diag.n ? diag.msgs[0] : "out of memory");
                lf_diag_clear(&diag);
                return;
        }
        FILE *f = open_memstream(&log, &log_len);
        if (!f)
                return;
        for (size_t i = 0; i < problems->n; i++)
                fprintf(f, "%s\n", problems->msgs[i]);
        fprintf(f, "labforge: install failed: %s\n", reason);
        if (fclose(f) != 0)
                return;
        /* The log's tail is what explains the failure. */
        const char *tail = log_len > API_LOG_MAX ? log + log_len - API_LOG_MAX : log;
        while (tail > log && ((unsigned char)*tail & 0xc0) == 0x80)
                tail++;
        if (lf_json_add(o, "step", json_string_cut(*a->step ? a->step : "start", API_STEP_MAX)) <
                    0 ||
            lf_json_add(o, "message",
                        json_string_cut(problems->n ? problems->msgs[0] : reason, API_REASON_MAX)) <
                    0 ||
            lf_json_add(o, "log", json_object_new_string(tail)) < 0)
                return;
        if (api_post(a, "failed", o, &diag) < 0)
                log_warning("cannot tell the appliance the install failed: %s",
                            diag.n ? diag.msgs[0] : "out of memory");
        lf_diag_clear(&diag);
}

/* POST assignment: fills the standalone settings (node, manifest, image, sha256) and takes the
 * token and nodeid. */
static int fetch_assignment(const lf_settings *in, appliance *a, lf_settings *out, lf_diag *diag) {
        static const char *const keys[] = {"mac",   "node",         "role",  "nodeid",
                                           "token", "manifest_url", "image", NULL};
        static const char *const image_keys[] = {"name", "url", "sha256", "size", NULL};
        _cleanup_free_ char *url = NULL, *buf = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *image = NULL;
        const char *node = NULL, *token = NULL, *murl = NULL, *iurl = NULL, *sha = NULL;
        int64_t nodeid = 0;
        size_t len;
        int r;

        if (asprintf(&url, "%s/assignment", in->appliance) < 0)
                return -ENOMEM;
        r = lf_fetch_document(url, in->token, diag, &buf, &len);
        if (r < 0)
                return r;
        lf_json_ctx ctx = {.diag = diag, .file = url};
        if ((r = lf_json_parse(&ctx, buf, len, &o)) < 0 ||
            (r = lf_json_expect_object(&ctx, o, "")) < 0 ||
            (r = lf_json_check_keys(&ctx, o, "", keys)) < 0 ||
            (r = lf_json_get_string(&ctx, o, "", "node", true, &node)) < 0 ||
            (r = lf_json_get_string(&ctx, o, "", "token", true, &token)) < 0 ||
            (r = lf_json_get_int(&ctx, o, "", "nodeid", true, 1, UINT32_MAX, &nodeid)) < 0 ||
            (r = lf_json_get_string(&ctx, o, "", "manifest_url", true, &murl)) < 0 ||
            (r = lf_json_get_object(&ctx, o, "", "image", true, &image)) < 0 ||
            (r = lf_json_check_keys(&ctx, image, "image", image_keys)) < 0 ||
            (r = lf_json_get_string(&ctx, image, "image", "url", true, &iurl)) < 0 ||
            (r = lf_json_get_string(&ctx, image, "image", "sha256", true, &sha)) < 0)
                return r;
        if (!(a->token = strdup(token)))
                return -ENOMEM;
        a->nodeid = (unsigned)nodeid;
        const char *values[][2] = {{"mode", "install"},
                                   {"node", node},
                                   {"manifest", murl},
                                   {"image", iurl},
                                   {"sha256", sha}};
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                char origin[64];
                snprintf(origin, sizeof(origin), "the assignment's %s", values[i][0]);
                if ((r = lf_settings_set(out, values[i][0], values[i][1], origin)) < 0)
                        return r;
        }
        if (lf_settings_check(out, diag) < 0)
                return lf_diag_add(diag, url, 0,
                                   "the assignment is not usable (see above); "
                                   "check the appliance's images and manifest");
        return 0;
}

/* --- The install ----------------------------------------------------------------------------- */

typedef struct install {
        const lf_install_opts *o;
        const lf_settings *s; /* standalone settings (from the options or the assignment) */
        const char *token;
        lf_diag *diag;
        lf_progress *p;
        lf_manifest *manifest;
        char *manifest_copy; /* a fetched manifest, saved for lf_exec_configure_target */
        lf_plan *plan;
        unsigned nodeid;    /* from the assignment; 0: the manifest's */
        appliance *app;     /* appliance mode, once the assignment gave the token */
        const char *reason; /* for the closing line, when something fails */
} install;

static void install_clear(install *in) {
        lf_manifest_free(in->manifest);
        if (in->manifest_copy)
                unlink(in->manifest_copy);
        free(in->manifest_copy);
        lf_plan_free(in->plan);
}

static int load_inventory(install *in, lf_inventory **ret) {
        if (in->o->inventory)
                return lf_inventory_load(in->o->inventory, in->diag, ret);
        lf_probe_options po = {.proc_root = in->o->proc_root};
        int r = lf_probe(&po, in->diag, ret);
        return r == -EINVAL || r == -ENOMEM ? r : r < 0 ? -EIO : r;
}

/* A document from a URL or path: a path that cannot be read is wrong input (-EINVAL); a URL
 * that cannot be fetched is a failure (its errno). */
static int fetch_document(install *in, const char *source, char **ret_buf, size_t *ret_len) {
        int r = lf_fetch_document(source, in->token, in->diag, ret_buf, ret_len);
        if (r >= 0 || r == -ENOMEM)
                return r;
        if (lf_fetch_is_url(source)) {
                in->reason = "a document could not be downloaded (see above); check the URL, "
                             "the network and the server, then boot the installer again";
                return r;
        }
        return -EINVAL;
}

/* The manifest, saved to a file when it came over HTTP (the executor copies a file). */
static int load_manifest(install *in) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = fetch_document(in, in->s->manifest, &buf, &len);
        if (r < 0)
                return r;
        r = lf_manifest_load_buffer(in->s->manifest, buf, len, in->diag, &in->manifest);
        if (r < 0 || !lf_fetch_is_url(in->s->manifest))
                return r;
        _cleanup_free_ char *path = strdup("/tmp/labforge-lab-XXXXXX.xml");
        if (!path)
                return -ENOMEM;
        _cleanup_close_ int fd = mkstemps(path, 4);
        if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
                return lf_diag_add(in->diag, path, 0, "cannot save the manifest: %s",
                                   strerror(errno)),
                       -EIO;
        in->manifest_copy = TAKE_PTR(path);
        return 0;
}

/* Appliance mode: what the probe found, for the appliance's records (docs/api.md: POST
 * inventory with the token). The install does not depend on it. */
static void upload_inventory(appliance *a, const lf_inventory *inv) {
        _cleanup_json_ json_object *j = NULL;
        lf_diag diag = {};
        if (lf_inventory_to_json(inv, &j) < 0)
                return;
        if (api_post(a, "inventory", j, &diag) < 0)
                log_warning("cannot send the inventory to the appliance (%s); going on",
                            diag.n ? diag.msgs[0] : "out of memory");
        lf_diag_clear(&diag);
}

/* Steps 1-3: the plan, from the settings; -EINVAL for every problem with the input. */
static int make_plan(install *in) {
        const lf_settings *s = in->s;
        _cleanup_inventory_ lf_inventory *inv = NULL;
        int r;

        if (s->plan) {
                _cleanup_free_ char *buf = NULL;
                size_t len;
                lf_progress_step(in->p, "Reading the plan %s", s->plan);
                if ((r = fetch_document(in, s->plan, &buf, &len)) < 0)
                        return r;
                r = lf_plan_load_buffer(s->plan, buf, len, in->diag, &in->plan);
                if (r < 0)
                        return r;
                if (s->node && !streq(s->node, in->plan->node))
                        return lf_diag_add(in->diag, s->plan, 0,
                                           "is the plan of node '%s', not of '%s' (node=)",
                                           in->plan->node, s->node);
                return 0;
        }
        lf_progress_step(in->p, "Reading the lab manifest %s", s->manifest);
        if ((r = load_manifest(in)) < 0)
                return r;
        lf_progress_step(in->p, "Probing this PC's disks and NICs%s",
                         in->o->inventory ? " (from the inventory file)" : "");
        if ((r = load_inventory(in, &inv)) < 0)
                return r;
        if (in->app)
                upload_inventory(in->app, inv);
        lf_progress_step(in->p, "Planning node %s", s->node);
        return lf_plan_build(in->manifest, s->node, inv, in->diag, &in->plan);
}

static void print_steps(install *in, unsigned first) {
        const lf_plan *pl = in->plan;
        FILE *f = in->o->console;
        const char *target = in->o->target ? in->o->target : LF_EXEC_TARGET;
        fprintf(f, "\nlabforge: dry run: the install would go on with these steps (nothing was "
                   "downloaded or written, no command was run):\n");
        fprintf(f, "  %u. download %s and verify its SHA-256 %s before any disk write\n", first,
                in->s->image, in->s->sha256);
        fprintf(f, "  %u. prepare the disks (%u steps): stop and clear what the plan names on ",
                first + 1, LF_EXEC_PREPARE_STEPS);
        for (size_t i = 0; i < pl->n_disks; i++)
                fprintf(f, "%s%s", i ? ", " : "", pl->disks[i].id);
        fprintf(f,
                "; write %zu partitions, %zu RAID0 arrays, LVM (%zu logical volumes), "
                "%zu file systems; mount them under %s\n",
                pl->n_partitions, pl->n_arrays, pl->n_logical_volumes, pl->n_filesystems, target);
        fprintf(f, "  %u. extract the image into %s\n", first + 2, target);
        fprintf(f,
                "  %u. configure the target (%u steps): hostname, fstab, mdadm.conf, network, "
                "sysctl, NFS, node.conf; initramfs; GRUB for BIOS and UEFI; unmount\n",
                first + 3, LF_EXEC_CONFIGURE_STEPS);
}

/* The drivers of the plan's disks, for the installed system's initramfs. A disk whose drivers
 * cannot be found (a plan for another machine) is only warned about: the base set remains. */
static int disk_modules(const lf_plan *plan, char ***mods, size_t *n) {
        for (size_t i = 0; i < plan->n_disks; i++) {
                char real[PATH_MAX];
                const char *path = realpath(plan->disks[i].path, real) ? real : plan->disks[i].path;
                const char *dev = strrchr(path, '/');
                int r = lf_probe_disk_modules(NULL, dev ? dev + 1 : path, mods, n);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        log_warning_errno(r, "Cannot find the driver modules of %s: %m; the "
                                             "initramfs gets the base set",
                                          plan->disks[i].path);
        }
        return 0;
}

static int install_image(install *in) {
        const lf_settings *s = in->s;
        _cleanup_(lf_image_freep) lf_image *img = NULL;
        _cleanup_exec_ lf_exec *x = NULL;
        _cleanup_strv_free_ char **mods = NULL;
        size_t n_mods = 0;
        lf_fetch_opts fo = {
                .mode = in->o->fetch_mode,
                .token = in->token,
                .proc_root = in->o->proc_root,
                .progress = in->p,
        };
        int r;

        lf_progress_step(in->p, "Downloading and verifying the image %s", s->image);
        r = lf_image_fetch(s->image, s->sha256, &fo, in->diag, &img);
        if (r < 0) {
                in->reason = r == -EBADMSG
                                     ? "the image's SHA-256 does not match; the disks were not "
                                       "touched: check labforge.image= and labforge.sha256="
                                     : "the image could not be downloaded; the disks were "
                                       "not touched: check labforge.image= and the network";
                return r;
        }
        lf_image_set_diag(img, in->diag);

        lf_exec_opts xo = {
                .target = in->o->target,
                .proc_root = in->o->proc_root,
                .image_sha256 = s->sha256,
        };
        in->reason = "the plan cannot be carried out on this PC (see above); nothing was written";
        if ((r = lf_exec_new(in->plan, &xo, in->diag, &x)) < 0)
                return r;
        in->reason = "preparing the disks failed (the command and its output are above); fix the "
                     "cause and boot the installer again: it starts from what is on the disks";
        if ((r = lf_exec_prepare_disks(x, in->p, in->diag)) < 0)
                goto fail;

        const char *target = in->o->target ? in->o->target : LF_EXEC_TARGET;
        bool done = lf_exec_step_done(x, LF_EXEC_STEP_EXTRACT);
        lf_progress_step(in->p, "Extracting the image into %s%s", target,
                         done ? ": done before" : "");
        if (!done) {
                in->reason = "extracting the image failed (see above); boot the installer again "
                             "to retry";
                lf_tarball_stats st;
                if ((r = lf_tarball_extract(s->image, target, lf_image_read, img, in->diag, &st)) <
                            0 ||
                    (r = lf_exec_step_mark(x, LF_EXEC_STEP_EXTRACT, in->diag)) < 0)
                        goto fail;
        }

        const lf_node *node =
                in->manifest ? lf_manifest_find_node(in->manifest, in->plan->node) : NULL;
        if ((r = disk_modules(in->plan, &mods, &n_mods)) < 0)
                goto fail;
        lf_exec_config cfg = {
                .disk_modules = mods,
                .n_disk_modules = n_mods,
                .nodeid = in->nodeid ? in->nodeid
                          : node     ? node->nodeid
                                     : 0,
                .manifest_path = in->manifest_copy ? in->manifest_copy : s->manifest,
        };
        in->reason = "configuring the installed system failed (the command and its output are "
                     "above); fix the cause and boot the installer again: it continues from the "
                     "last finished step";
        if ((r = lf_exec_configure_target(x, &cfg, in->p, in->diag)) < 0)
                goto fail;
        return 0;
fail:
        /* Leave nothing mounted: the next boot of the installer starts clean. Past this point
         * the disks were written, so nothing is "wrong input" any more. */
        lf_exec_unmount(x, in->diag);
        return r == -EINVAL ? -EIO : r;
}

static int discover(install *in, appliance *a) {
        _cleanup_inventory_ lf_inventory *inv = NULL;
        _cleanup_json_ json_object *j = NULL;
        _cleanup_free_ char *text = NULL, *url = NULL;
        int r;

        in->reason = "the probe failed (see above)";
        lf_progress_step(in->p, "Probing this PC's disks and NICs (discovery: nothing is "
                                "written)");
        if ((r = load_inventory(in, &inv)) < 0)
                return r;
        if ((r = lf_inventory_to_json(inv, &j)) < 0 || !(text = lf_json_to_string(j)))
                return r < 0 ? r : -ENOMEM;
        if (!a) {
                fputs(text, in->o->console);
                return 0;
        }
        in->reason = "the inventory could not be sent to the appliance (see above)";
        lf_progress_step(in->p, "Sending the inventory to the appliance");
        if (asprintf(&url, "%s/inventory", a->root) < 0)
                return -ENOMEM;
        return lf_http_post_json(url, a->token, text, in->diag);
}

int lf_install_run(const lf_install_opts *o, lf_diag *diag, const char **ret_reason) {
        const lf_settings *s = o->settings;
        lf_settings assigned = {};
        _cleanup_progress_ lf_progress *p = NULL;
        _cleanup_free_ char *text = NULL;
        appliance app = {.root = s->appliance};
        install in = {
                .o = o,
                .s = s,
                .token = s->token,
                .diag = diag,
                .reason = "the input is wrong (see above); nothing was written",
        };
        int r;

        if (s->appliance && o->dry_run) {
                *ret_reason = "a dry run cannot use the appliance: its assignment call hands out "
                              "the node's one-time token and starts the install";
                return lf_diag_add(diag, NULL, 0, "--dry-run with labforge.appliance=: %s",
                                   *ret_reason);
        }
        if (!(p = lf_progress_new(1, o->console)))
                return -ENOMEM;
        in.p = p;
        if (s->token && !(app.token = strdup(s->token)))
                return -ENOMEM;
        if (lf_settings_discover(s)) {
                /* Discovery is anonymous (docs/api.md): no token, no progress reports. */
                r = discover(&in, s->appliance ? &app : NULL);
                goto out;
        }
        if (s->appliance) {
                lf_progress_step(p, "Asking the appliance for this node's assignment");
                if ((r = fetch_assignment(s, &app, &assigned, diag)) < 0) {
                        in.reason = "the appliance gave no usable assignment (see above); "
                                    "nothing was written";
                        goto out;
                }
                /* Progress calls need the token the assignment just handed out. */
                lf_progress_set_sink(p, post_progress, &app);
                in.s = &assigned;
                in.token = app.token;
                in.nodeid = app.nodeid;
                in.app = &app;
        }
        unsigned before = s->appliance ? 1 : 0, planning = in.s->plan ? 1 : 3;
        lf_progress_set_total(p, before + planning + 2 + LF_EXEC_PREPARE_STEPS +
                                         LF_EXEC_CONFIGURE_STEPS);
        if ((r = make_plan(&in)) < 0)
                goto out;
        if ((r = lf_plan_to_text(in.plan, &text)) < 0)
                goto out;
        fputs(text, o->console);
        if (o->dry_run) {
                print_steps(&in, before + planning + 1);
                goto out;
        }
        r = install_image(&in);
out:
        if (r < 0)
                lf_progress_fail(p, "%s", in.reason);
        if (s->appliance && app.token && !lf_settings_discover(s))
                post_outcome(&app, r, in.reason, diag);
        install_clear(&in);
        lf_settings_clear(&assigned);
        free(app.token);
        *ret_reason = in.reason;
        return r;
}

/* --- The verb ------------------------------------------------------------------------------- */

static void install_usage(FILE *f) {
        fprintf(f,
                "usage: labforge-install install [--mode install|discover]\n"
                "           [--appliance URL --token T]\n"
                "           [--manifest URL|PATH --node NAME | --plan URL|PATH]\n"
                "           [--image URL|PATH --sha256 HEX] [--reboot 0|1]\n"
                "           [--cmdline FILE] [--target DIR] [--inventory FILE]\n"
                "           [--fetch-mode auto|ram|stream] [--dry-run]\n\n"
                "Installs this PC into its role. Settings come from the labforge.* words of\n"
                "the kernel command line (--cmdline, default /proc/cmdline), overridden by\n"
                "the options of the same name. Standalone: reads the manifest, probes (or\n"
                "reads --inventory), plans for --node and prints the plan; downloads the image\n"
                "and verifies its SHA-256 before any disk is written; then partitions, builds\n"
                "RAID0 and LVM, extracts the image under --target (default %s) and configures\n"
                "the installed system. --dry-run stops after printing the plan and the steps.\n"
                "--fetch-mode: the image is held in RAM when it fits (auto), or verified in a\n"
                "first pass and streamed, part by verified part, in a second (stream).\n"
                "The last line says 'labforge: install complete' or 'labforge: install failed:\n"
                "...'. Never reboots: the installer's /init does, or powers off with reboot=0.\n"
                "Exit status: 0 installed, 1 failed, 2 bad settings or input (nothing written).\n",
                LF_EXEC_TARGET);
}

int verb_install(int argc, char **argv) {
        enum { OPT_CMDLINE = 0x100, OPT_TARGET, OPT_INVENTORY, OPT_FETCH, OPT_DRY };
        static const struct option options[] = {
                {"mode", required_argument, NULL, 0},
                {"appliance", required_argument, NULL, 0},
                {"token", required_argument, NULL, 0},
                {"manifest", required_argument, NULL, 0},
                {"node", required_argument, NULL, 0},
                {"image", required_argument, NULL, 0},
                {"sha256", required_argument, NULL, 0},
                {"plan", required_argument, NULL, 0},
                {"reboot", required_argument, NULL, 0},
                {"cmdline", required_argument, NULL, OPT_CMDLINE},
                {"target", required_argument, NULL, OPT_TARGET},
                {"inventory", required_argument, NULL, OPT_INVENTORY},
                {"fetch-mode", required_argument, NULL, OPT_FETCH},
                {"dry-run", no_argument, NULL, OPT_DRY},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *given[ELEMENTSOF(lf_setting_keys)] = {};
        const char *cmdline = NULL;
        lf_install_opts o = {.console = stdout};
        lf_settings s = {};
        lf_diag diag = {};
        int c, idx, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", options, &idx)) >= 0)
                switch (c) {
                case 0:
                        given[idx] = optarg; /* the first options are the settings, in order */
                        break;
                case OPT_CMDLINE:
                        cmdline = optarg;
                        break;
                case OPT_TARGET:
                        o.target = optarg;
                        break;
                case OPT_INVENTORY:
                        o.inventory = optarg;
                        break;
                case OPT_FETCH:
                        if (lf_fetch_mode_from_string(optarg, &o.fetch_mode) < 0) {
                                log_error("--fetch-mode must be auto, ram or stream, not '%s'.",
                                          optarg);
                                return 2;
                        }
                        break;
                case OPT_DRY:
                        o.dry_run = true;
                        break;
                case 'h':
                        install_usage(stdout);
                        return 0;
                default:
                        install_usage(stderr);
                        return 2;
                }
        if (optind < argc) {
                log_error("unexpected argument '%s'; see 'labforge-install install --help'.",
                          argv[optind]);
                return 2;
        }

        /* The kernel command line first, then the options over it. */
        _cleanup_free_ char *buf = NULL;
        size_t len;
        r = lf_read_file(cmdline ? cmdline : "/proc/cmdline", CMDLINE_MAX, &diag, &buf, &len);
        if (r == -ENOMEM)
                return log_oom(), 1;
        if (r >= 0)
                r = lf_settings_parse_cmdline(&s, buf, cmdline ? cmdline : "/proc/cmdline", &diag);
        else if (!cmdline) /* no /proc/cmdline (a container): options only */
                lf_diag_clear(&diag);
        for (size_t i = 0; i < ELEMENTSOF(lf_setting_keys); i++) {
                char origin[32];
                snprintf(origin, sizeof(origin), "--%s", lf_setting_keys[i]);
                if (given[i] && lf_settings_set(&s, lf_setting_keys[i], given[i], origin) < 0) {
                        lf_settings_clear(&s);
                        return log_oom(), 1;
                }
        }
        if (r == -ENOMEM) {
                lf_settings_clear(&s);
                return log_oom(), 1;
        }
        if (diag.n == 0)
                lf_settings_check(&s, &diag);
        if (diag.n > 0) {
                lf_diag_print(&diag);
                lf_diag_clear(&diag);
                lf_settings_clear(&s);
                return 2;
        }

        const char *reason = NULL;
        bool discovery = lf_settings_discover(&s);
        o.settings = &s;
        r = lf_install_run(&o, &diag, &reason);
        lf_diag_print(&diag);
        lf_diag_clear(&diag);
        lf_settings_clear(&s);
        fflush(stdout);
        if (r == -EINVAL)
                return 2;
        if (r < 0) {
                if (r == -ENOMEM)
                        log_oom();
                printf("labforge: install failed: %s\n", reason);
                return 1;
        }
        if (o.dry_run)
                printf("labforge: dry run complete: nothing was written\n");
        else if (!discovery)
                printf("labforge: install complete\n");
        else
                printf("labforge: discovery complete\n");
        return 0;
}

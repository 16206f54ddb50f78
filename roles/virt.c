/* labforged's libvirt driver: domain XML (libxml2), life cycle, bulk statistics, live migration
 * with a journal, and reconciliation of VMs found on more than one host. See virt.h. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <libvirt/virterror.h>
#include <libxml/xmlwriter.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "json.h"
#include "sha256.h"
#include "virt.h"
#include "xml.h"

/* Longest kernel command line a spec may carry (Linux's own limit on x86 is 2048). */
#define VIRT_MAX_CMDLINE 2048u
/* Largest migration journal entry we read. */
#define VIRT_JOURNAL_MAX_BYTES 4096u
/* Domain metadata namespace: records which template a domain was made from. */
#define VIRT_METADATA_NS "https://labforge.invalid/xmlns/vm/1"

struct lf_virt {
        char *uri;
        virConnectPtr conn;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree);
#define _cleanup_domain_ _cleanup_(virDomainFreep)

static void virt_error_ignore(void *userdata, virErrorPtr err) {
        (void)userdata;
        (void)err;
}

/* libvirt prints every error to stderr unless told otherwise; we report through diag instead.
 * virInitialize() must run before threads use libvirt. */
static void virt_init_once(void) {
        virInitialize();
        virSetErrorFunc(NULL, virt_error_ignore);
}

static void virt_init(void) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, virt_init_once);
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int errno_of_virt_error(int code) {
        switch (code) {
        case VIR_ERR_NO_DOMAIN:
                return -ENOENT;
        case VIR_ERR_OPERATION_INVALID:
                return -EBUSY;
        case VIR_ERR_OPERATION_TIMEOUT:
                return -ETIMEDOUT;
        case VIR_ERR_OPERATION_ABORTED:
                return -ECANCELED;
        case VIR_ERR_NO_SUPPORT:
                return -EOPNOTSUPP;
        default:
                return -EIO;
        }
}

/* Reports the libvirt error of the call that just failed in this thread as
 * "<vm>: <what> on <uri>: <libvirt's message>" and returns its errno. An unknown domain gets a
 * message of its own: it is the error users meet most. */
static int virt_fail(const lf_virt *v, lf_diag *diag, const char *vm, const char *what) {
        const virError *e = virGetLastError();
        int code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
        const char *msg = e && e->message ? e->message : "unknown libvirt error";

        if (code == VIR_ERR_NO_DOMAIN) {
                lf_diag_add(diag, NULL, 0,
                            "%s: no such VM on %s; `labforge status` lists the VMs and "
                            "their hosts",
                            vm, v->uri);
                return -ENOENT;
        }
        lf_diag_add(diag, NULL, 0, "%s: %s on %s: %s", vm, what, v->uri, msg);
        return errno_of_virt_error(code);
}

/* --- Domain XML ----------------------------------------------------------------------------- */

typedef struct xw {
        xmlTextWriterPtr w;
        int r;
} xw;

static void xw_check(xw *x, int rc) {
        if (rc < 0 && x->r >= 0)
                x->r = -ENOMEM;
}

static void xw_start(xw *x, const char *name) {
        if (x->r >= 0)
                xw_check(x, xmlTextWriterStartElement(x->w, BAD_CAST name));
}

static void xw_attr(xw *x, const char *name, const char *value) {
        if (x->r >= 0)
                xw_check(x, xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value));
}

/* Attribute pairs name, value, ... up to a NULL name. */
static void xw_attrs(xw *x, va_list ap) {
        const char *name;
        while ((name = va_arg(ap, const char *)))
                xw_attr(x, name, va_arg(ap, const char *));
}

static void xw_end(xw *x) {
        if (x->r >= 0)
                xw_check(x, xmlTextWriterEndElement(x->w));
}

/* <name attr="value" .../>: attribute pairs up to a NULL name. */
static void __attribute__((sentinel)) xw_leaf(xw *x, const char *name, ...) {
        va_list ap;
        xw_start(x, name);
        va_start(ap, name);
        xw_attrs(x, ap);
        va_end(ap);
        xw_end(x);
}

/* <name attr="value" ...>text</name>. */
static void __attribute__((sentinel)) xw_text(xw *x, const char *name, const char *text, ...) {
        va_list ap;
        xw_start(x, name);
        va_start(ap, text);
        xw_attrs(x, ap);
        va_end(ap);
        if (x->r >= 0)
                xw_check(x, xmlTextWriterWriteString(x->w, BAD_CAST text));
        xw_end(x);
}

void lf_virt_mac(const char *vm, char ret[static 18]) {
        char hex[LF_SHA256_HEX_LEN + 1] = "000000";
        /* Only -ENOMEM can fail here; the zero MAC suffix then still makes a valid domain. */
        (void)lf_sha256_buffer(vm, strlen(vm), hex);
        snprintf(ret, 18, "52:54:00:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4);
}

int lf_virt_disk_path(const char *vm, const lf_template *tmpl, lf_virt_disk_mode mode, char **ret) {
        char *p = NULL;
        int r = 0;

        switch (mode) {
        case LF_VIRT_DISK_SHARED:
                r = asprintf(&p, "%s/%s/%s", LF_VIRT_STORE_DIR, vm, tmpl->image);
                break;
        case LF_VIRT_DISK_OVERLAY:
                r = asprintf(&p, "%s/%s.qcow2", LF_VIRT_LOCAL_DIR, vm);
                break;
        case LF_VIRT_DISK_NONE:
                break;
        }
        if (r < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && streq(s + n - m, suffix);
}

static bool path_ok(const char *p) {
        return p && p[0] == '/' && strlen(p) <= LF_VIRT_MAX_PATH;
}

static bool bridge_ok(const char *b) {
        size_t n = strlen(b);
        if (n == 0 || n > 15) /* IFNAMSIZ - 1 */
                return false;
        for (const char *c = b; *c; c++)
                if (*c == '/' || *c <= ' ' || *c > '~')
                        return false;
        return true;
}

static bool address_ok(const char *a) {
        unsigned char buf[sizeof(struct in6_addr)];
        return a && (inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1);
}

/* Every problem of a spec, each to diag; -EINVAL when there was one. */
static int spec_check(const lf_virt_spec *s, lf_diag *diag) {
        const lf_template *t = s->tmpl;
        const char *vm = s->vm ? s->vm : "(none)";
        int r = 0;

        if (!s->vm || !lf_manifest_name_valid(s->vm))
                r = lf_diag_add(diag, NULL, 0,
                                "VM name '%s' is not valid; use lowercase letters, digits and "
                                "'-' (at most 63, not starting or ending with '-')",
                                vm);
        if (!t) {
                return lf_diag_add(diag, NULL, 0,
                                   "%s: no template given; every VM is made "
                                   "from a <template> of the lab manifest",
                                   vm);
        }
        if (t->memory_mb < LF_VIRT_MIN_MEMORY_MB || t->memory_mb > LF_VIRT_MAX_MEMORY_MB)
                r = lf_diag_add(diag, NULL, 0,
                                "%s: template '%s' asks for %llu MiB of memory; give between "
                                "%u and %u MiB",
                                vm, t->name, (unsigned long long)t->memory_mb,
                                LF_VIRT_MIN_MEMORY_MB, LF_VIRT_MAX_MEMORY_MB);
        if (t->vcpus < 1 || t->vcpus > LF_VIRT_MAX_VCPUS)
                r = lf_diag_add(diag, NULL, 0,
                                "%s: template '%s' asks for %u vcpus; give between 1 and %u", vm,
                                t->name, t->vcpus, LF_VIRT_MAX_VCPUS);
        if (s->disk_mode != LF_VIRT_DISK_NONE && !s->disk_path &&
            (!t->image || !t->image[0] || strchr(t->image, '/') || streq(t->image, ".") ||
             streq(t->image, "..")))
                r = lf_diag_add(diag, NULL, 0,
                                "%s: template '%s' has image '%s'; give the file name of a "
                                "golden image (no '/')",
                                vm, t->name, t->image ? t->image : "");
        if (s->disk_path && !path_ok(s->disk_path))
                r = lf_diag_add(diag, NULL, 0, "%s: disk path '%s' is not an absolute path", vm,
                                s->disk_path);
        if (s->bridge && !bridge_ok(s->bridge))
                r = lf_diag_add(diag, NULL, 0,
                                "%s: bridge '%s' is not an interface name (1 to 15 printable "
                                "characters, no '/')",
                                vm, s->bridge);
        if (!address_ok(s->listen))
                r = lf_diag_add(diag, NULL, 0,
                                "%s: console listen address '%s' is not an IP address; give the "
                                "host's management address",
                                vm, s->listen ? s->listen : "");
        if ((s->kernel && !path_ok(s->kernel)) || (s->initrd && !path_ok(s->initrd)) ||
            (s->console_log && !path_ok(s->console_log)))
                r = lf_diag_add(diag, NULL, 0,
                                "%s: kernel, initrd and console log must be absolute paths", vm);
        if ((s->initrd || s->cmdline) && !s->kernel)
                r = lf_diag_add(diag, NULL, 0, "%s: an initrd or command line needs a kernel", vm);
        if (s->cmdline && strlen(s->cmdline) > VIRT_MAX_CMDLINE)
                r = lf_diag_add(diag, NULL, 0, "%s: kernel command line is longer than %u bytes",
                                vm, VIRT_MAX_CMDLINE);
        return r;
}

static void write_os(xw *x, const lf_virt_spec *s) {
        xw_start(x, "os");
        if (s->accel == LF_VIRT_TEST)
                xw_text(x, "type", "hvm", NULL);
        else
                xw_text(x, "type", "hvm", "arch", "x86_64", "machine", "q35", NULL);
        if (s->kernel) {
                xw_text(x, "kernel", s->kernel, NULL);
                if (s->initrd)
                        xw_text(x, "initrd", s->initrd, NULL);
                if (s->cmdline)
                        xw_text(x, "cmdline", s->cmdline, NULL);
        } else {
                xw_leaf(x, "boot", "dev", "hd", NULL);
        }
        xw_end(x);
}

static void write_cpu(xw *x, const lf_virt_spec *s) {
        switch (s->accel) {
        case LF_VIRT_KVM:
                /* The class room's PCs are alike; libvirt expands host-model to a named model
                 * at start, so migration checks the destination can run it. */
                xw_leaf(x, "cpu", "mode", "host-model", "check", "partial", NULL);
                break;
        case LF_VIRT_TCG:
                /* TCG cannot pass the host's CPU through; qemu64 runs on every TCG host. */
                xw_start(x, "cpu");
                xw_attr(x, "mode", "custom");
                xw_attr(x, "match", "exact");
                xw_attr(x, "check", "none");
                xw_text(x, "model", "qemu64", "fallback", "forbid", NULL);
                xw_end(x);
                break;
        case LF_VIRT_TEST:
                break;
        }
}

static void write_disk(xw *x, const lf_virt_spec *s, const char *path) {
        const char *format =
                s->disk_mode == LF_VIRT_DISK_OVERLAY || ends_with(path, ".qcow2") ? "qcow2" : "raw";
        xw_start(x, "disk");
        xw_attr(x, "type", "file");
        xw_attr(x, "device", "disk");
        /* cache=none: the host page cache must not hold guest writes when the VM moves to
         * another host (libvirt refuses to migrate otherwise); io=native goes with it. */
        xw_leaf(x, "driver", "name", "qemu", "type", format, "cache", "none", "io", "native", NULL);
        xw_leaf(x, "source", "file", path, NULL);
        xw_leaf(x, "target", "dev", "vda", "bus", "virtio", NULL);
        xw_end(x);
}

static void write_devices(xw *x, const lf_virt_spec *s, const char *disk, const char *log) {
        char mac[18];

        xw_start(x, "devices");
        if (disk)
                write_disk(x, s, disk);

        lf_virt_mac(s->vm, mac);
        xw_start(x, "interface");
        xw_attr(x, "type", "bridge");
        xw_leaf(x, "mac", "address", mac, NULL);
        xw_leaf(x, "source", "bridge", s->bridge ? s->bridge : LF_VIRT_BRIDGE, NULL);
        xw_leaf(x, "model", "type", "virtio", NULL);
        xw_end(x);

        /* The serial console is logged on the host so its last lines can be shown. */
        xw_start(x, "serial");
        xw_attr(x, "type", "pty");
        xw_leaf(x, "log", "file", log, "append", "on", NULL);
        xw_leaf(x, "target", "port", "0", NULL);
        xw_end(x);
        xw_start(x, "console");
        xw_attr(x, "type", "pty");
        xw_leaf(x, "target", "type", "serial", "port", "0", NULL);
        xw_end(x);

        if (s->accel != LF_VIRT_TEST) {
                /* The guest agent lets a shutdown reach guests that ignore ACPI. */
                xw_start(x, "channel");
                xw_attr(x, "type", "unix");
                xw_leaf(x, "target", "type", "virtio", "name", "org.qemu.guest_agent.0", NULL);
                xw_end(x);
                xw_leaf(x, "input", "type", "tablet", "bus", "usb", NULL);
        }

        xw_start(x, "graphics");
        xw_attr(x, "type", "vnc");
        xw_attr(x, "port", "-1");
        xw_attr(x, "autoport", "yes");
        xw_attr(x, "listen", s->listen);
        xw_leaf(x, "listen", "type", "address", "address", s->listen, NULL);
        xw_end(x);
        if (s->accel != LF_VIRT_TEST) {
                xw_start(x, "video");
                xw_leaf(x, "model", "type", "vga", NULL);
                xw_end(x);
        }

        /* Statistics every 10 s feed balloon.* in the bulk stats. */
        xw_start(x, "memballoon");
        xw_attr(x, "model", "virtio");
        if (s->accel != LF_VIRT_TEST)
                xw_leaf(x, "stats", "period", "10", NULL);
        xw_end(x);
        xw_end(x);
}

int lf_virt_domain_xml(const lf_virt_spec *s, lf_diag *diag, char **ret_xml) {
        _cleanup_free_ char *disk = NULL, *log = NULL;
        xmlBufferPtr buf = NULL;
        xw x = {NULL, 0};
        const lf_template *t = s->tmpl;
        char mem[32], vcpus[16];
        int r;

        r = spec_check(s, diag);
        if (r < 0)
                return r;
        if (s->disk_path) {
                disk = strdup(s->disk_path);
                if (!disk)
                        return -ENOMEM;
        } else {
                r = lf_virt_disk_path(s->vm, t, s->disk_mode, &disk);
                if (r < 0)
                        return r;
        }
        if (s->disk_mode == LF_VIRT_DISK_NONE) {
                free(disk);
                disk = NULL;
        }
        if (s->console_log)
                log = strdup(s->console_log);
        else if (asprintf(&log, "%s/%s-console.log", LF_VIRT_CONSOLE_LOG_DIR, s->vm) < 0)
                log = NULL;
        if (!log)
                return -ENOMEM;

        buf = xmlBufferCreate();
        if (!buf)
                return -ENOMEM;
        x.w = xmlNewTextWriterMemory(buf, 0);
        if (!x.w) {
                xmlBufferFree(buf);
                return -ENOMEM;
        }
        xw_check(&x, xmlTextWriterSetIndent(x.w, 1));
        xw_check(&x, xmlTextWriterSetIndentString(x.w, BAD_CAST "  "));

        xw_start(&x, "domain");
        xw_attr(&x, "type",
                s->accel == LF_VIRT_KVM   ? "kvm"
                : s->accel == LF_VIRT_TCG ? "qemu"
                                          : "test");
        xw_text(&x, "name", s->vm, NULL);
        xw_start(&x, "metadata");
        if (x.r >= 0)
                xw_check(&x, xmlTextWriterStartElementNS(x.w, BAD_CAST "labforge", BAD_CAST "vm",
                                                         BAD_CAST VIRT_METADATA_NS));
        xw_attr(&x, "template", t->name);
        xw_end(&x);
        xw_end(&x);
        snprintf(mem, sizeof(mem), "%llu", (unsigned long long)t->memory_mb);
        snprintf(vcpus, sizeof(vcpus), "%u", t->vcpus);
        xw_text(&x, "memory", mem, "unit", "MiB", NULL);
        xw_text(&x, "vcpu", vcpus, "placement", "static", NULL);
        write_os(&x, s);
        xw_start(&x, "features");
        xw_leaf(&x, "acpi", NULL);
        xw_leaf(&x, "apic", NULL);
        xw_end(&x);
        write_cpu(&x, s);
        xw_start(&x, "clock");
        xw_attr(&x, "offset", "utc");
        if (s->accel != LF_VIRT_TEST) {
                xw_leaf(&x, "timer", "name", "rtc", "tickpolicy", "catchup", NULL);
                xw_leaf(&x, "timer", "name", "pit", "tickpolicy", "delay", NULL);
                xw_leaf(&x, "timer", "name", "hpet", "present", "no", NULL);
        }
        xw_end(&x);
        xw_text(&x, "on_poweroff", "destroy", NULL);
        xw_text(&x, "on_reboot", "restart", NULL);
        /* A student's crashed VM comes back by itself rather than waiting for the teacher. */
        xw_text(&x, "on_crash", "restart", NULL);
        if (s->accel != LF_VIRT_TEST) {
                xw_start(&x, "pm");
                xw_leaf(&x, "suspend-to-mem", "enabled", "no", NULL);
                xw_leaf(&x, "suspend-to-disk", "enabled", "no", NULL);
                xw_end(&x);
        }
        write_devices(&x, s, disk, log);
        xw_end(&x);
        if (x.r >= 0 && xmlTextWriterEndDocument(x.w) < 0)
                x.r = -ENOMEM;
        xmlFreeTextWriter(x.w);
        if (x.r < 0) {
                xmlBufferFree(buf);
                return x.r;
        }
        *ret_xml = strdup((const char *)xmlBufferContent(buf));
        xmlBufferFree(buf);
        return *ret_xml ? 0 : -ENOMEM;
}

/* --- Connection and life cycle -------------------------------------------------------------- */

int lf_virt_open(const char *uri, lf_diag *diag, lf_virt **ret) {
        _cleanup_(lf_virt_closep) lf_virt *v = NULL;

        virt_init();
        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->uri = strdup(uri);
        if (!v->uri)
                return -ENOMEM;
        v->conn = virConnectOpen(uri);
        if (!v->conn) {
                const virError *e = virGetLastError();
                lf_diag_add(diag, NULL, 0,
                            "cannot connect to libvirt at %s: %s; check that libvirtd runs and "
                            "libvirt_uri in node.conf",
                            uri, e && e->message ? e->message : "unknown error");
                return -EIO;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

void lf_virt_close(lf_virt *v) {
        if (!v)
                return;
        if (v->conn)
                virConnectClose(v->conn);
        free(v->uri);
        free(v);
}

const char *lf_virt_uri(const lf_virt *v) {
        return v->uri;
}

virConnectPtr lf_virt_conn(const lf_virt *v) {
        return v->conn;
}

lf_virt_accel lf_virt_host_accel(const lf_virt *v) {
        _cleanup_free_ char *caps = NULL;
        _cleanup_xml_doc_ xmlDoc *doc = NULL;
        lf_diag ignored = {0};
        const char *type = virConnectGetType(v->conn);
        lf_virt_accel accel = LF_VIRT_TCG;

        if (type && strcasecmp(type, "test") == 0)
                return LF_VIRT_TEST;
        caps = virConnectGetCapabilities(v->conn);
        if (!caps || lf_xml_parse("capabilities", caps, strlen(caps), &ignored, &doc) < 0) {
                lf_diag_clear(&ignored);
                return LF_VIRT_TCG;
        }
        for (xmlNode *g = xmlDocGetRootElement(doc)->children; g; g = g->next) {
                if (!lf_xml_is(g, "guest"))
                        continue;
                for (xmlNode *a = g->children; a; a = a->next) {
                        const char *arch = lf_xml_attr(a, "name");
                        if (!lf_xml_is(a, "arch") || !arch || !streq(arch, "x86_64"))
                                continue;
                        for (xmlNode *d = a->children; d; d = d->next) {
                                const char *t = lf_xml_attr(d, "type");
                                if (lf_xml_is(d, "domain") && t && streq(t, "kvm"))
                                        accel = LF_VIRT_KVM;
                        }
                }
        }
        return accel;
}

/* Looks a domain up by name; -ENOENT (reported) when the host has none. */
static int domain_lookup(lf_virt *v, const char *vm, lf_diag *diag, virDomainPtr *ret) {
        virDomainPtr d;

        if (!lf_manifest_name_valid(vm))
                return lf_diag_add(diag, NULL, 0,
                                   "VM name '%s' is not valid; use lowercase letters, digits and "
                                   "'-' (at most 63)",
                                   vm);
        d = virDomainLookupByName(v->conn, vm);
        if (!d)
                return virt_fail(v, diag, vm, "cannot look the VM up");
        *ret = d;
        return 0;
}

int lf_virt_define(lf_virt *v, const lf_virt_spec *spec, lf_diag *diag) {
        _cleanup_free_ char *xml = NULL;
        _cleanup_domain_ virDomainPtr d = NULL;
        int r;

        r = lf_virt_domain_xml(spec, diag, &xml);
        if (r < 0)
                return r;
        /* virDomainDefineXML would silently replace an existing definition of that name. */
        d = virDomainLookupByName(v->conn, spec->vm);
        if (d) {
                lf_diag_add(diag, NULL, 0,
                            "%s: a VM of that name already exists on %s; choose another name or "
                            "delete it first",
                            spec->vm, v->uri);
                return -EEXIST;
        }
        d = virDomainDefineXML(v->conn, xml);
        if (!d)
                return virt_fail(v, diag, spec->vm, "cannot define the VM");
        return 0;
}

/* Looks a domain up that must not be running for what comes next; -EBUSY (reported with
 * `running`, "already running") when it runs. */
static int lookup_stopped(lf_virt *v, const char *vm, const char *running, lf_diag *diag,
                          virDomainPtr *ret) {
        _cleanup_domain_ virDomainPtr d = NULL;
        int r = domain_lookup(v, vm, diag, &d);
        if (r < 0)
                return r;
        if (virDomainIsActive(d) == 1) {
                lf_diag_add(diag, NULL, 0, "%s: %s on %s", vm, running, v->uri);
                return -EBUSY;
        }
        *ret = TAKE_PTR(d);
        return 0;
}

int lf_virt_start(lf_virt *v, const char *vm, lf_diag *diag) {
        _cleanup_domain_ virDomainPtr d = NULL;
        int r = lookup_stopped(v, vm, "already running", diag, &d);

        if (r < 0)
                return r;
        if (virDomainCreate(d) < 0)
                return virt_fail(v, diag, vm, "cannot start the VM");
        return 0;
}

int lf_virt_destroy(lf_virt *v, const char *vm, lf_diag *diag) {
        _cleanup_domain_ virDomainPtr d = NULL;
        int r;

        r = domain_lookup(v, vm, diag, &d);
        if (r < 0)
                return r;
        if (virDomainIsActive(d) == 0)
                return 0;
        if (virDomainDestroy(d) < 0)
                return virt_fail(v, diag, vm, "cannot stop (destroy) the VM");
        return 0;
}

int lf_virt_shutdown(lf_virt *v, const char *vm, unsigned timeout_ms, lf_diag *diag) {
        _cleanup_domain_ virDomainPtr d = NULL;
        uint64_t deadline;
        int r, state, reason;

        r = domain_lookup(v, vm, diag, &d);
        if (r < 0)
                return r;
        if (virDomainIsActive(d) == 0)
                return 0;
        /* A guest that cannot be asked (no ACPI, agent missing) still gets pulled below. */
        if (virDomainShutdown(d) < 0 && virDomainIsActive(d) == 0)
                return 0;
        deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
        for (;;) {
                if (virDomainGetState(d, &state, &reason, 0) < 0)
                        return virt_fail(v, diag, vm, "cannot read the VM's state");
                if (state == VIR_DOMAIN_SHUTOFF)
                        return 0;
                if (now_ns() >= deadline)
                        break;
                sleep_ms(100);
        }
        if (virDomainDestroy(d) < 0) {
                if (virDomainIsActive(d) == 0) /* it stopped just now after all */
                        return 0;
                return virt_fail(v, diag, vm, "cannot stop (destroy) the VM after shutdown");
        }
        return 1;
}

int lf_virt_undefine(lf_virt *v, const char *vm, lf_diag *diag) {
        _cleanup_domain_ virDomainPtr d = NULL;
        int r = lookup_stopped(v, vm, "still running (stop it first)", diag, &d);

        if (r < 0)
                return r;
        /* Our domains boot without UEFI variables, so there is no NVRAM to remove. */
        if (virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                              VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0)
                return virt_fail(v, diag, vm, "cannot undefine the VM");
        return 0;
}

/* Whether labforge made the domain (its metadata names the template, copied to tmpl): only
 * those are reported and managed; anything else on the host is the administrator's. */
static bool domain_managed(virDomainPtr d, char tmpl[static LF_VIRT_NAME_SIZE]) {
        _cleanup_free_ char *m =
                virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, VIRT_METADATA_NS, 0);
        _cleanup_xml_doc_ xmlDoc *doc = NULL;
        lf_diag ignored = {0};
        const char *t;

        *tmpl = '\0';
        if (!m)
                return false;
        if (lf_xml_parse("metadata", m, strlen(m), &ignored, &doc) >= 0 &&
            (t = lf_xml_attr(xmlDocGetRootElement(doc), "template")) &&
            strlen(t) < LF_VIRT_NAME_SIZE)
                strcpy(tmpl, t);
        lf_diag_clear(&ignored);
        return true;
}

static lf_vm_state vm_state_of(int state, int reason, bool job) {
        switch (state) {
        case VIR_DOMAIN_RUNNING:
        case VIR_DOMAIN_BLOCKED:
        case VIR_DOMAIN_SHUTDOWN:
                return job ? LF_VM_MIGRATING : LF_VM_RUNNING;
        case VIR_DOMAIN_PAUSED:
                if (job || reason == VIR_DOMAIN_PAUSED_MIGRATION)
                        return LF_VM_MIGRATING;
                return LF_VM_PAUSED;
        case VIR_DOMAIN_PMSUSPENDED:
                return LF_VM_PAUSED;
        case VIR_DOMAIN_CRASHED:
                return LF_VM_CRASHED;
        default:
                return LF_VM_STOPPED;
        }
}

/* Whether a job (a migration, in or out) runs on an active domain. Drivers without job
 * information have none. */
static bool domain_has_job(virDomainPtr d) {
        virDomainJobInfo info;
        if (virDomainGetJobInfo(d, &info) < 0)
                return false;
        return info.type != VIR_DOMAIN_JOB_NONE;
}

static int domain_describe(lf_virt *v, virDomainPtr d, lf_diag *diag, lf_virt_domain *ret) {
        lf_virt_domain out = {0};
        virDomainInfo info;
        const char *name = virDomainGetName(d);
        int active, persistent;

        if (!name || strlen(name) >= sizeof(out.name))
                return lf_diag_add(diag, NULL, 0,
                                   "%s: a domain has a name longer than %d bytes; labforge "
                                   "does not manage it",
                                   v->uri, LF_VIRT_NAME_SIZE - 1);
        strcpy(out.name, name);
        if (virDomainGetState(d, &out.vir_state, &out.vir_reason, 0) < 0 ||
            virDomainGetInfo(d, &info) < 0 || (active = virDomainIsActive(d)) < 0 ||
            (persistent = virDomainIsPersistent(d)) < 0)
                return virt_fail(v, diag, name, "cannot read the VM's state");
        out.active = active;
        out.persistent = persistent;
        out.managed = domain_managed(d, out.template);
        out.job = out.active && domain_has_job(d);
        out.state = vm_state_of(out.vir_state, out.vir_reason, out.job);
        out.vcpus = info.nrVirtCpu;
        out.mem_kib = info.memory;
        *ret = out;
        return 0;
}

static int domain_name_cmp(const void *a, const void *b) {
        return strcmp(((const lf_virt_domain *)a)->name, ((const lf_virt_domain *)b)->name);
}

int lf_virt_list(lf_virt *v, lf_diag *diag, lf_virt_domain **ret, size_t *ret_n) {
        virDomainPtr *doms = NULL;
        lf_virt_domain *out = NULL;
        size_t n_out = 0;
        int n, r = 0;

        n = virConnectListAllDomains(v->conn, &doms, 0);
        if (n < 0)
                return virt_fail(v, diag, "(all VMs)", "cannot list the VMs");
        if (n > LF_MSG_MAX_REPORT_VMS) {
                r = lf_diag_add(diag, NULL, 0,
                                "%s: %d domains, more than the %d labforge manages on one host",
                                v->uri, n, LF_MSG_MAX_REPORT_VMS);
                goto out;
        }
        out = calloc(n > 0 ? (size_t)n : 1, sizeof(*out));
        if (!out) {
                r = -ENOMEM;
                goto out;
        }
        for (int i = 0; i < n; i++) {
                r = domain_describe(v, doms[i], diag, &out[n_out]);
                /* A domain that went away between the listing and the look is not an error. */
                if (r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        goto out;
                n_out++;
        }
        qsort(out, n_out, sizeof(*out), domain_name_cmp);
        *ret = TAKE_PTR(out);
        *ret_n = n_out;
out:
        for (int i = 0; i < n; i++)
                virDomainFree(doms[i]);
        free(doms);
        free(out);
        return r;
}

int lf_virt_get(lf_virt *v, const char *vm, lf_diag *diag, lf_virt_domain *ret) {
        _cleanup_domain_ virDomainPtr d = NULL;
        int r;

        r = domain_lookup(v, vm, diag, &d);
        if (r < 0)
                return r;
        return domain_describe(v, d, diag, ret);
}

/* --- Statistics ----------------------------------------------------------------------------- */

void lf_virt_stats_parse(const char *name, const virTypedParameter *params, int n,
                         lf_virt_stats *ret) {
        lf_virt_stats s = {0};
        int state = VIR_DOMAIN_NOSTATE, reason = 0;

        snprintf(s.name, sizeof(s.name), "%s", name);
        for (int i = 0; i < n; i++) {
                const virTypedParameter *p = &params[i];
                if (streq(p->field, "state.state") && p->type == VIR_TYPED_PARAM_INT)
                        state = p->value.i;
                else if (streq(p->field, "state.reason") && p->type == VIR_TYPED_PARAM_INT)
                        reason = p->value.i;
                else if (streq(p->field, "cpu.time") && p->type == VIR_TYPED_PARAM_ULLONG) {
                        s.cpu_time_ns = p->value.ul;
                        s.has_cpu_time = true;
                } else if (streq(p->field, "balloon.current") &&
                           p->type == VIR_TYPED_PARAM_ULLONG) {
                        s.mem_kib = p->value.ul;
                        s.has_mem = true;
                } else if (streq(p->field, "balloon.rss") && p->type == VIR_TYPED_PARAM_ULLONG) {
                        s.rss_kib = p->value.ul;
                        s.has_rss = true;
                } else if (streq(p->field, "vcpu.current") && p->type == VIR_TYPED_PARAM_UINT)
                        s.vcpus = p->value.ui;
        }
        s.state = vm_state_of(state, reason, false);
        *ret = s;
}

int lf_virt_sample_take(lf_virt *v, lf_diag *diag, lf_virt_sample *ret) {
        virDomainStatsRecordPtr *records = NULL;
        lf_virt_sample s = {0};
        int n;

        s.taken_ns = now_ns();
        /* Without ENFORCE_STATS, groups a driver lacks are left out rather than failing. */
        n = virConnectGetAllDomainStats(v->conn,
                                        VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
                                                VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_VCPU,
                                        &records, 0);
        if (n < 0)
                return virt_fail(v, diag, "(all VMs)", "cannot read the VMs' statistics");
        if (n > LF_MSG_MAX_REPORT_VMS) {
                virDomainStatsRecordListFree(records);
                return lf_diag_add(diag, NULL, 0,
                                   "%s: %d domains, more than the %d labforge manages on one "
                                   "host",
                                   v->uri, n, LF_MSG_MAX_REPORT_VMS);
        }
        s.vms = calloc(n > 0 ? (size_t)n : 1, sizeof(*s.vms));
        if (!s.vms) {
                virDomainStatsRecordListFree(records);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                const char *name = virDomainGetName(records[i]->dom);
                if (!name || strlen(name) >= LF_VIRT_NAME_SIZE)
                        continue;
                lf_virt_stats_parse(name, records[i]->params, records[i]->nparams, &s.vms[s.n]);
                s.vms[s.n].managed = domain_managed(records[i]->dom, s.vms[s.n].template);
                s.n++;
        }
        virDomainStatsRecordListFree(records);
        *ret = s;
        return 0;
}

void lf_virt_sample_clear(lf_virt_sample *s) {
        free(s->vms);
        *s = (lf_virt_sample){0};
}

static const lf_virt_stats *sample_find(const lf_virt_sample *s, const char *vm) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->vms[i].name, vm))
                        return &s->vms[i];
        return NULL;
}

double lf_virt_cores_used(const lf_virt_sample *prev, const lf_virt_sample *cur, const char *vm) {
        const lf_virt_stats *a = sample_find(prev, vm), *b = sample_find(cur, vm);

        if (!a || !b || !a->has_cpu_time || !b->has_cpu_time || cur->taken_ns <= prev->taken_ns)
                return -1;
        if (b->cpu_time_ns < a->cpu_time_ns) /* restarted in between: a new counter */
                return -1;
        return (double)(b->cpu_time_ns - a->cpu_time_ns) / (double)(cur->taken_ns - prev->taken_ns);
}

/* --- Migration journal ---------------------------------------------------------------------- */

static int journal_path(const char *dir, const char *vm, char **ret) {
        if (!lf_manifest_name_valid(vm))
                return -EINVAL;
        return asprintf(ret, "%s/%s.json", dir, vm) < 0 ? -ENOMEM : 0;
}

int lf_virt_journal_write(const char *dir, const lf_virt_journal *j) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = journal_path(dir, j->vm, &path);
        if (r < 0)
                return r;
        r = lf_mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        o = json_object_new_object();
        if (!o || lf_json_add(o, "vm", json_object_new_string(j->vm)) < 0 ||
            lf_json_add(o, "from", json_object_new_string(j->from)) < 0 ||
            lf_json_add(o, "to", json_object_new_string(j->to)) < 0 ||
            lf_json_add(o, "started", json_object_new_int64(j->started)) < 0)
                return -ENOMEM;
        text = lf_json_to_string(o);
        if (!text)
                return -ENOMEM;
        return lf_write_file_atomic(path, text, strlen(text), 0600);
}

static int journal_name(const lf_json_ctx *ctx, json_object *o, const char *key, char *ret) {
        const char *s = NULL;
        int r = lf_json_get_string(ctx, o, "", key, true, &s);
        if (r < 0)
                return r;
        if (!lf_manifest_name_valid(s))
                return lf_diag_add(ctx->diag, ctx->file, 0,
                                   "%s: '%s' is not a valid name; remove the file if no "
                                   "migration is in progress",
                                   key, s);
        strcpy(ret, s); /* a valid name fits LF_VIRT_NAME_SIZE */
        return 0;
}

int lf_virt_journal_read(const char *dir, const char *vm, lf_diag *diag, lf_virt_journal *ret) {
        static const char *const keys[] = {"vm", "from", "to", "started", NULL};
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_json_ json_object *o = NULL;
        lf_virt_journal j = {0};
        size_t len;
        int r;

        r = journal_path(dir, vm, &path);
        if (r < 0)
                return r;
        if (access(path, F_OK) < 0)
                return -errno;
        lf_json_ctx ctx = {diag, path};
        r = lf_read_file(path, VIRT_JOURNAL_MAX_BYTES, diag, &buf, &len);
        if (r < 0)
                return r;
        r = lf_json_parse(&ctx, buf, len, &o);
        if (r < 0)
                return r;
        if ((r = lf_json_expect_object(&ctx, o, "")) < 0 ||
            (r = lf_json_check_keys(&ctx, o, "", keys)) < 0 ||
            (r = journal_name(&ctx, o, "vm", j.vm)) < 0 ||
            (r = journal_name(&ctx, o, "from", j.from)) < 0 ||
            (r = journal_name(&ctx, o, "to", j.to)) < 0 ||
            (r = lf_json_get_int(&ctx, o, "", "started", true, 0, INT64_MAX, &j.started)) < 0)
                return r;
        if (!streq(j.vm, vm))
                return lf_diag_add(diag, path, 0, "names VM '%s', not '%s'", j.vm, vm);
        *ret = j;
        return 0;
}

int lf_virt_journal_remove(const char *dir, const char *vm) {
        _cleanup_free_ char *path = NULL;
        int r = journal_path(dir, vm, &path);
        if (r < 0)
                return r;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int str_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int lf_virt_journal_list(const char *dir, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        size_t n = 0;
        struct dirent *e;
        DIR *d;
        int r = 0;

        if (!l)
                return -ENOMEM;
        d = opendir(dir);
        if (!d && errno != ENOENT)
                return -errno;
        while (d && (e = readdir(d))) {
                size_t len = strlen(e->d_name);
                _cleanup_free_ char *name = NULL;
                char **nl;

                if (len <= 5 || !ends_with(e->d_name, ".json"))
                        continue;
                name = strndup(e->d_name, len - 5);
                if (!name) {
                        r = -ENOMEM;
                        break;
                }
                if (!lf_manifest_name_valid(name)) /* not ours: leave it alone */
                        continue;
                if (n >= LF_MSG_MAX_STATE_VMS)
                        break;
                nl = realloc(l, (n + 2) * sizeof(char *));
                if (!nl) {
                        r = -ENOMEM;
                        break;
                }
                l = nl;
                l[n++] = TAKE_PTR(name);
                l[n] = NULL;
        }
        if (d)
                closedir(d);
        if (r < 0)
                return r;
        qsort(l, n, sizeof(char *), str_cmp);
        *ret = TAKE_PTR(l);
        return 0;
}

/* --- Migration ------------------------------------------------------------------------------ */

unsigned long lf_virt_migrate_flags(bool copy_storage) {
        unsigned long f = VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_LIVE | VIR_MIGRATE_PERSIST_DEST |
                          VIR_MIGRATE_UNDEFINE_SOURCE | VIR_MIGRATE_CHANGE_PROTECTION |
                          VIR_MIGRATE_ABORT_ON_ERROR;
        if (copy_storage)
                f |= VIR_MIGRATE_NON_SHARED_INC;
        return f;
}

int lf_virt_migrate_xml(const char *xml, const char *dest_listen, char **ret) {
        _cleanup_xml_doc_ xmlDoc *doc = NULL;
        lf_diag ignored = {0};
        xmlChar *out = NULL;
        xmlNode *root, *devices = NULL;
        int len;

        if (lf_xml_parse("domain", xml, strlen(xml), &ignored, &doc) < 0) {
                lf_diag_clear(&ignored);
                return -EINVAL;
        }
        root = xmlDocGetRootElement(doc);
        for (xmlNode *c = root->children; c; c = c->next)
                if (lf_xml_is(c, "devices"))
                        devices = c;
        /* The console must listen on the destination's own address: the source's would not
         * bind there. Only address listeners move; sockets and "none" stay as they are. */
        for (xmlNode *g = devices && dest_listen ? devices->children : NULL; g; g = g->next) {
                if (!lf_xml_is(g, "graphics"))
                        continue;
                if (lf_xml_attr(g, "listen"))
                        xmlSetProp(g, BAD_CAST "listen", BAD_CAST dest_listen);
                for (xmlNode *l = g->children; l; l = l->next) {
                        const char *type = lf_xml_attr(l, "type");
                        if (lf_xml_is(l, "listen") && type && streq(type, "address"))
                                xmlSetProp(l, BAD_CAST "address", BAD_CAST dest_listen);
                }
        }
        xmlDocDumpMemory(doc, &out, &len);
        if (!out)
                return -ENOMEM;
        *ret = strdup((const char *)out);
        xmlFree(out);
        return *ret ? 0 : -ENOMEM;
}

static void job_of_params(const virTypedParameter *p, int n, int type, lf_virt_job *ret) {
        lf_virt_job j = {.active = type != VIR_DOMAIN_JOB_NONE};
        for (int i = 0; i < n; i++) {
                unsigned long long v = p[i].value.ul;
                if (p[i].type != VIR_TYPED_PARAM_ULLONG)
                        continue;
                if (streq(p[i].field, VIR_DOMAIN_JOB_TIME_ELAPSED))
                        j.elapsed_ms = v;
                else if (streq(p[i].field, VIR_DOMAIN_JOB_DATA_TOTAL))
                        j.data_total = v;
                else if (streq(p[i].field, VIR_DOMAIN_JOB_DATA_PROCESSED))
                        j.data_processed = v;
                else if (streq(p[i].field, VIR_DOMAIN_JOB_DATA_REMAINING))
                        j.data_remaining = v;
                else if (streq(p[i].field, VIR_DOMAIN_JOB_MEMORY_TOTAL))
                        j.mem_total = v;
                else if (streq(p[i].field, VIR_DOMAIN_JOB_MEMORY_PROCESSED))
                        j.mem_processed = v;
                else if (streq(p[i].field, VIR_DOMAIN_JOB_MEMORY_REMAINING))
                        j.mem_remaining = v;
        }
        *ret = j;
}

static int job_get(lf_virt *v, virDomainPtr d, const char *vm, lf_diag *diag, lf_virt_job *ret) {
        virTypedParameterPtr params = NULL;
        int n = 0, type;

        if (virDomainGetJobStats(d, &type, &params, &n, 0) < 0)
                return virt_fail(v, diag, vm, "cannot read the VM's job progress");
        job_of_params(params, n, type, ret);
        virTypedParamsFree(params, n);
        return 0;
}

int lf_virt_job_get(lf_virt *v, const char *vm, lf_diag *diag, lf_virt_job *ret) {
        _cleanup_domain_ virDomainPtr d = NULL;
        int r = domain_lookup(v, vm, diag, &d);
        if (r < 0)
                return r;
        return job_get(v, d, vm, diag, ret);
}

int lf_virt_job_abort(lf_virt *v, const char *vm, lf_diag *diag) {
        _cleanup_domain_ virDomainPtr d = NULL;
        int r = domain_lookup(v, vm, diag, &d);
        if (r < 0)
                return r;
        if (virDomainAbortJob(d) < 0)
                return virt_fail(v, diag, vm, "cannot abort the VM's job");
        return 0;
}

/* The blocking migration call runs in a thread of its own so that the caller's thread can
 * watch its progress and abort it; libvirt connections may be used from several threads. */
typedef struct migrate_call {
        virDomainPtr dom;
        const char *dconnuri;
        virTypedParameterPtr params;
        int n_params;
        unsigned long flags;
        atomic_bool done;
        bool lost; /* the connection to the source's libvirtd broke: outcome unknown */
        int rc, code;
        char msg[1024];
} migrate_call;

static void *migrate_thread(void *p) {
        migrate_call *c = p;
        c->rc = virDomainMigrateToURI3(c->dom, c->dconnuri, c->params, c->n_params, c->flags);
        if (c->rc < 0) {
                /* libvirt's last error is per thread: copy it out for the caller. */
                const virError *e = virGetLastError();
                c->code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
                snprintf(c->msg, sizeof(c->msg), "%s",
                         e && e->message ? e->message : "unknown libvirt error");
        }
        atomic_store(&c->done, true);
        return NULL;
}

/* The domain XML the destination runs and keeps, with its console moved there. */
static int migrate_params(lf_virt *v, virDomainPtr d, const char *vm, const lf_virt_migrate_opts *o,
                          lf_diag *diag, virTypedParameterPtr *params, int *n) {
        static const unsigned kinds[2] = {
                VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_MIGRATABLE,
                VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_MIGRATABLE | VIR_DOMAIN_XML_INACTIVE,
        };
        static const char *const keys[2] = {VIR_MIGRATE_PARAM_DEST_XML,
                                            VIR_MIGRATE_PARAM_PERSIST_XML};
        int max = 0;

        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *xml = NULL, *moved = NULL;
                int r;
                xml = virDomainGetXMLDesc(d, kinds[i]);
                if (!xml)
                        return virt_fail(v, diag, vm, "cannot read the VM's definition");
                r = lf_virt_migrate_xml(xml, o->dest_listen, &moved);
                if (r < 0)
                        return lf_diag_add(diag, NULL, 0,
                                           "%s: libvirt on %s gave a domain XML that does not "
                                           "parse",
                                           vm, v->uri);
                if (virTypedParamsAddString(params, n, &max, keys[i], moved) < 0)
                        return -ENOMEM;
        }
        if (o->migrate_uri &&
            virTypedParamsAddString(params, n, &max, VIR_MIGRATE_PARAM_URI, o->migrate_uri) < 0)
                return -ENOMEM;
        if (o->bandwidth_mib &&
            virTypedParamsAddULLong(params, n, &max, VIR_MIGRATE_PARAM_BANDWIDTH,
                                    o->bandwidth_mib) < 0)
                return -ENOMEM;
        return 0;
}

static int migrate_run(lf_virt *v, virDomainPtr d, const char *vm, const lf_virt_migrate_opts *o,
                       migrate_call *c, lf_diag *diag) {
        uint64_t start = now_ns();
        unsigned poll = o->poll_ms ? o->poll_ms : 500;
        bool aborted = false;
        pthread_t thread;
        lf_virt_job job = {0};
        unsigned char uuid[VIR_UUID_BUFLEN];
        virConnectPtr mconn;
        int r;

        /* The migration call gets a connection of its own: with it in flight, further calls on
         * the same connection (the abort above all) were seen to wait until it returned. */
        mconn = virConnectOpen(v->uri);
        if (!mconn)
                return virt_fail(v, diag, vm, "cannot open a connection for the migration");
        if (virDomainGetUUID(d, uuid) < 0 || !(c->dom = virDomainLookupByUUID(mconn, uuid))) {
                r = virt_fail(v, diag, vm, "cannot look the VM up for the migration");
                virConnectClose(mconn);
                return r;
        }
        r = -pthread_create(&thread, NULL, migrate_thread, c);
        if (r < 0) {
                virDomainFree(c->dom);
                virConnectClose(mconn);
                return r;
        }
        while (!atomic_load(&c->done)) {
                /* Short naps keep a quick migration quick; progress goes out every poll ms. */
                for (unsigned slept = 0; slept < poll && !atomic_load(&c->done); slept += 20)
                        sleep_ms(20);
                if (atomic_load(&c->done))
                        break;
                lf_diag ignored = {0};
                if (job_get(v, d, vm, &ignored, &job) == 0 && o->progress)
                        o->progress(vm, &job, o->userdata);
                lf_diag_clear(&ignored);
                if (o->timeout_ms && now_ns() - start >= (uint64_t)o->timeout_ms * 1000000u) {
                        /* Asked again at every poll: while the destination is still being
                         * prepared there is no transfer to cancel yet and libvirt lets the
                         * request pass. Once cancelled, the migration call fails. */
                        virDomainAbortJob(d);
                        aborted = true;
                }
        }
        pthread_join(thread, NULL);
        c->lost = c->rc < 0 && virConnectIsAlive(mconn) != 1;
        virDomainFree(c->dom);
        virConnectClose(mconn);
        if (c->rc >= 0)
                return 0;
        if (aborted) {
                lf_diag_add(diag, NULL, 0,
                            "%s: migration from %s to %s did not finish within %u ms (%llu of "
                            "%llu MiB of memory sent); aborted, the VM stays on %s",
                            vm, o->from, o->to, o->timeout_ms,
                            (unsigned long long)(job.mem_processed >> 20),
                            (unsigned long long)(job.mem_total >> 20), o->from);
                return -ETIMEDOUT;
        }
        lf_diag_add(diag, NULL, 0, "%s: migration from %s to %s failed: %s", vm, o->from, o->to,
                    c->msg);
        return errno_of_virt_error(c->code);
}

int lf_virt_migrate(lf_virt *v, const char *vm, const lf_virt_migrate_opts *o, lf_diag *diag) {
        _cleanup_domain_ virDomainPtr d = NULL;
        migrate_call c = {.dconnuri = o->dest_uri, .flags = lf_virt_migrate_flags(o->copy_storage)};
        lf_virt_journal j = {0};
        int r;

        if (!o->from || !o->to || !lf_manifest_name_valid(o->from) ||
            !lf_manifest_name_valid(o->to) || !o->dest_uri)
                return lf_diag_add(diag, NULL, 0,
                                   "%s: a migration needs the source and destination host names "
                                   "and the destination's libvirt URI",
                                   vm);
        if (o->dest_listen && !address_ok(o->dest_listen))
                return lf_diag_add(diag, NULL, 0,
                                   "%s: console address '%s' of %s is not an IP address", vm,
                                   o->dest_listen, o->to);
        r = domain_lookup(v, vm, diag, &d);
        if (r < 0)
                return r;
        if (virDomainIsActive(d) != 1) {
                lf_diag_add(diag, NULL, 0, "%s: not running on %s; only running VMs migrate", vm,
                            o->from);
                return -EBUSY;
        }
        r = migrate_params(v, d, vm, o, diag, &c.params, &c.n_params);
        if (r >= 0 && o->journal_dir) {
                snprintf(j.vm, sizeof(j.vm), "%s", vm);
                snprintf(j.from, sizeof(j.from), "%s", o->from);
                snprintf(j.to, sizeof(j.to), "%s", o->to);
                j.started = time(NULL);
                r = lf_virt_journal_write(o->journal_dir, &j);
                if (r < 0)
                        lf_diag_add(diag, NULL, 0,
                                    "%s: cannot write the migration journal in %s: %s; not "
                                    "migrating without it",
                                    vm, o->journal_dir, strerror(-r));
        }
        if (r >= 0)
                r = migrate_run(v, d, vm, o, &c, diag);
        /* When libvirt answered, whatever happened is settled: nothing for reconciliation. When
         * the source's libvirtd went away mid-call, the outcome is unknown and the entry stays.
         * A journal that cannot be removed only makes reconciliation look once more. */
        if (o->journal_dir && j.vm[0] && !c.lost)
                (void)lf_virt_journal_remove(o->journal_dir, vm);
        else if (o->journal_dir && j.vm[0])
                lf_diag_add(diag, NULL, 0,
                            "%s: lost libvirt on %s during the migration; the journal entry "
                            "stays for reconciliation",
                            vm, o->from);
        virTypedParamsFree(c.params, c.n_params);
        return r;
}

/* --- Reconciliation ------------------------------------------------------------------------- */

const char *lf_virt_action_name(lf_virt_action a) {
        static const char *const names[] = {
                [LF_VIRT_KEEP] = "keep",       [LF_VIRT_RESUME] = "resume",
                [LF_VIRT_DESTROY] = "destroy", [LF_VIRT_UNDEFINE] = "undefine",
                [LF_VIRT_WAIT] = "wait",
        };
        return (size_t)a < ELEMENTSOF(names) ? names[a] : "?";
}

static bool copy_running(const lf_virt_copy *c) {
        return c->active && c->vir_state != VIR_DOMAIN_PAUSED;
}

static bool host_is(const char *host, const char *name) {
        return name && name[0] && streq(host, name);
}

/* Among the copies that pass `eligible`, the one the tie rules pick: the recorded host, the
 * preferred journal host, the first host by name. -1 when none is eligible. */
static int pick(const lf_virt_copy *c, size_t n, bool (*eligible)(const lf_virt_copy *),
                const char *expected, const char *journal_host, const char **rule) {
        int best = -1;

        for (size_t i = 0; i < n; i++)
                if (eligible(&c[i]) && host_is(c[i].host, expected)) {
                        *rule = "the host the cluster records";
                        return (int)i;
                }
        for (size_t i = 0; i < n; i++)
                if (eligible(&c[i]) && host_is(c[i].host, journal_host)) {
                        *rule = "the journal";
                        return (int)i;
                }
        for (size_t i = 0; i < n; i++)
                if (eligible(&c[i]) && (best < 0 || strcmp(c[i].host, c[best].host) < 0))
                        best = (int)i;
        *rule = "the first host by name";
        return best;
}

static bool copy_active(const lf_virt_copy *c) {
        return c->active;
}

static bool copy_persistent(const lf_virt_copy *c) {
        return c->persistent;
}

void lf_virt_reconcile_decide(const lf_virt_copy *copies, size_t n, const char *expected_host,
                              const lf_virt_journal *journal, lf_virt_action *ret_actions,
                              int *ret_survivor, char *why, size_t why_len) {
        size_t n_active = 0, n_running = 0;
        const char *rule = NULL;
        int s;

        for (size_t i = 0; i < n; i++)
                ret_actions[i] = LF_VIRT_KEEP;
        *ret_survivor = -1;
        for (size_t i = 0; i < n; i++)
                if (copies[i].job) {
                        for (size_t k = 0; k < n; k++)
                                ret_actions[k] = LF_VIRT_WAIT;
                        snprintf(why, why_len, "a job runs on %s: wait for libvirt to finish it",
                                 copies[i].host);
                        return;
                }
        for (size_t i = 0; i < n; i++) {
                n_active += copies[i].active;
                n_running += copy_running(&copies[i]);
        }

        if (n_active == 0) {
                s = pick(copies, n, copy_persistent, expected_host, journal ? journal->to : NULL,
                         &rule);
                for (size_t i = 0; i < n; i++)
                        if ((int)i != s && copies[i].persistent)
                                ret_actions[i] = LF_VIRT_UNDEFINE;
                if (s >= 0)
                        snprintf(why, why_len, "not running; definition kept on %s (%s)",
                                 copies[s].host, rule);
                else
                        snprintf(why, why_len, "not running and not defined anywhere");
                return;
        }

        if (n_active == 1) {
                s = pick(copies, n, copy_active, NULL, NULL, &rule);
                snprintf(why, why_len, "active only on %s", copies[s].host);
        } else if (n_running > 0) {
                /* Preferring the journal's source among several running copies: the migration
                 * never reported success, so the cluster still counts the VM there. */
                s = pick(copies, n, copy_running, expected_host, journal ? journal->from : NULL,
                         &rule);
                snprintf(why, why_len, "active on %zu hosts: the %s copy on %s wins (%s)", n_active,
                         n_running > 1 ? "running" : "only running", copies[s].host,
                         n_running > 1 ? rule : "a paused copy has not run since it stopped");
        } else {
                s = pick(copies, n, copy_active, expected_host, journal ? journal->from : NULL,
                         &rule);
                snprintf(why, why_len, "paused on %zu hosts: the copy on %s wins (%s)", n_active,
                         copies[s].host, rule);
        }
        *ret_survivor = s;
        for (size_t i = 0; i < n; i++) {
                if ((int)i == s)
                        continue;
                if (copies[i].active)
                        ret_actions[i] = LF_VIRT_DESTROY;
                else if (copies[i].persistent)
                        ret_actions[i] = LF_VIRT_UNDEFINE;
        }
        if (copies[s].vir_state == VIR_DOMAIN_PAUSED &&
            copies[s].vir_reason == VIR_DOMAIN_PAUSED_MIGRATION)
                ret_actions[s] = LF_VIRT_RESUME;
}

/* Hands the problems in mine on to diag when they matter; empties mine either way. */
static void diag_pass(lf_diag *diag, lf_diag *mine, bool matter) {
        for (size_t i = 0; matter && i < mine->n; i++)
                lf_diag_add(diag, NULL, 0, "%s", mine->msgs[i]);
        lf_diag_clear(mine);
}

/* Every copy of every VM, host by host. */
typedef struct seen_vm {
        char name[LF_VIRT_NAME_SIZE];
        lf_virt_domain *on; /* [n_hosts]; .name[0] == 0 where the host has no such domain */
} seen_vm;

static int vm_copies(const lf_virt_host *hosts, size_t n_hosts, const char *vm, lf_diag *diag,
                     lf_virt_domain *on) {
        for (size_t h = 0; h < n_hosts; h++) {
                lf_diag mine = {0};
                int r = lf_virt_get(hosts[h].virt, vm, &mine, &on[h]);
                if (r == -ENOENT) /* not there is an answer, not a problem */
                        memset(&on[h], 0, sizeof(on[h]));
                diag_pass(diag, &mine, r < 0 && r != -ENOENT);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        return 0;
}

static int act_on(const lf_virt_host *h, const lf_virt_domain *d, lf_virt_action a, lf_diag *diag) {
        _cleanup_domain_ virDomainPtr dom = NULL;
        int r;

        switch (a) {
        case LF_VIRT_DESTROY:
                r = lf_virt_destroy(h->virt, d->name, diag);
                if (r >= 0 && d->persistent)
                        r = lf_virt_undefine(h->virt, d->name, diag);
                return r;
        case LF_VIRT_UNDEFINE:
                return lf_virt_undefine(h->virt, d->name, diag);
        case LF_VIRT_RESUME:
                r = domain_lookup(h->virt, d->name, diag, &dom);
                if (r < 0)
                        return r;
                if (virDomainResume(dom) < 0)
                        return virt_fail(h->virt, diag, d->name, "cannot resume the VM");
                return 0;
        case LF_VIRT_KEEP:
        case LF_VIRT_WAIT:
                break;
        }
        return 0;
}

/* A copy to destroy or undefine may vanish by itself meanwhile (libvirt ends an incoming
 * migration's domain when its source gives up): then there is nothing left to do. */
static int act(const lf_virt_host *h, const lf_virt_domain *d, lf_virt_action a, lf_diag *diag) {
        lf_diag mine = {0};
        int r = act_on(h, d, a, &mine);

        if (r == -ENOENT && (a == LF_VIRT_DESTROY || a == LF_VIRT_UNDEFINE))
                r = 0;
        diag_pass(diag, &mine, r < 0);
        return r;
}

/* Resolves one VM: looks again until no job runs (or wait_ms passed), then acts. */
static int resolve(const lf_virt_host *hosts, size_t n_hosts, const char *journal_dir,
                   const char *vm, const char *expected, unsigned wait_ms, lf_diag *diag,
                   lf_virt_resolution *res) {
        _cleanup_free_ lf_virt_domain *on = calloc(n_hosts, sizeof(*on));
        _cleanup_free_ lf_virt_copy *copies = calloc(n_hosts, sizeof(*copies));
        _cleanup_free_ lf_virt_action *actions = calloc(n_hosts, sizeof(*actions));
        _cleanup_free_ size_t *index = calloc(n_hosts, sizeof(*index));
        uint64_t deadline = now_ns() + (uint64_t)wait_ms * 1000000u;
        lf_virt_journal journal, *jp = NULL;
        size_t n;
        int survivor, r;

        if (!on || !copies || !actions || !index)
                return -ENOMEM;
        snprintf(res->vm, sizeof(res->vm), "%s", vm);
        if (journal_dir) {
                r = lf_virt_journal_read(journal_dir, vm, diag, &journal);
                if (r >= 0)
                        jp = &journal;
                else if (r != -ENOENT)
                        return r;
        }
        for (;;) {
                r = vm_copies(hosts, n_hosts, vm, diag, on);
                if (r < 0)
                        return r;
                n = 0;
                for (size_t h = 0; h < n_hosts; h++) {
                        if (!on[h].name[0])
                                continue;
                        copies[n] = (lf_virt_copy){
                                .host = hosts[h].name,
                                .active = on[h].active,
                                .persistent = on[h].persistent,
                                .job = on[h].job,
                                .vir_state = on[h].vir_state,
                                .vir_reason = on[h].vir_reason,
                        };
                        index[n++] = h;
                }
                lf_virt_reconcile_decide(copies, n, expected, jp, actions, &survivor, res->why,
                                         sizeof(res->why));
                if (n == 0 || actions[0] != LF_VIRT_WAIT)
                        break;
                if (now_ns() >= deadline) {
                        lf_diag_add(diag, NULL, 0, "%s: %s; still running after %u ms, try again",
                                    vm, res->why, wait_ms);
                        return -EAGAIN;
                }
                sleep_ms(200);
        }
        res->survivor[0] = 0;
        if (survivor >= 0)
                snprintf(res->survivor, sizeof(res->survivor), "%s", copies[survivor].host);
        for (size_t i = 0; i < n; i++) {
                if (actions[i] == LF_VIRT_KEEP)
                        continue;
                r = act(&hosts[index[i]], &on[index[i]], actions[i], diag);
                if (r < 0)
                        return r;
                res->acted = true;
        }
        if (journal_dir)
                (void)lf_virt_journal_remove(journal_dir, vm);
        return 0;
}

static int seen_add(seen_vm **seen, size_t *n, const char *name, size_t n_hosts, size_t host,
                    const lf_virt_domain *d) {
        size_t i;
        for (i = 0; i < *n; i++)
                if (streq((*seen)[i].name, name))
                        break;
        if (i == *n) {
                seen_vm *ns = realloc(*seen, (*n + 1) * sizeof(**seen));
                if (!ns)
                        return -ENOMEM;
                *seen = ns;
                memset(&ns[i], 0, sizeof(ns[i]));
                snprintf(ns[i].name, sizeof(ns[i].name), "%s", name);
                ns[i].on = calloc(n_hosts, sizeof(lf_virt_domain));
                if (!ns[i].on)
                        return -ENOMEM;
                (*n)++;
        }
        if (d)
                (*seen)[i].on[host] = *d;
        return 0;
}

/* Whether a VM needs resolving: on several hosts, left paused by a migration, or journaled. */
static bool seen_needs(const seen_vm *s, size_t n_hosts, bool journaled) {
        size_t copies = 0;
        for (size_t h = 0; h < n_hosts; h++) {
                const lf_virt_domain *d = &s->on[h];
                if (!d->name[0])
                        continue;
                copies++;
                if (d->vir_state == VIR_DOMAIN_PAUSED &&
                    d->vir_reason == VIR_DOMAIN_PAUSED_MIGRATION)
                        return true;
        }
        return journaled || copies > 1;
}

static int resolution_cmp(const void *a, const void *b) {
        return strcmp(((const lf_virt_resolution *)a)->vm, ((const lf_virt_resolution *)b)->vm);
}

int lf_virt_reconcile(const lf_virt_host *hosts, size_t n_hosts, const char *journal_dir,
                      lf_virt_expected_fn expected, void *userdata, unsigned wait_ms, lf_diag *diag,
                      lf_virt_resolution **ret, size_t *ret_n) {
        _cleanup_strv_free_ char **journaled = NULL;
        seen_vm *seen = NULL;
        size_t n_seen = 0, n_res = 0;
        lf_virt_resolution *res = NULL;
        int r = 0, first_error = 0;

        if (journal_dir) {
                r = lf_virt_journal_list(journal_dir, &journaled);
                if (r < 0)
                        return r;
        }
        for (size_t h = 0; h < n_hosts && r >= 0; h++) {
                _cleanup_free_ lf_virt_domain *doms = NULL;
                size_t n = 0;
                r = lf_virt_list(hosts[h].virt, diag, &doms, &n);
                for (size_t i = 0; i < n && r >= 0; i++)
                        if (doms[i].managed) /* the administrator's own domains are theirs */
                                r = seen_add(&seen, &n_seen, doms[i].name, n_hosts, h, &doms[i]);
        }
        for (char **j = journaled; j && *j && r >= 0; j++)
                r = seen_add(&seen, &n_seen, *j, n_hosts, 0, NULL);
        if (r >= 0) {
                res = calloc(n_seen ? n_seen : 1, sizeof(*res));
                if (!res)
                        r = -ENOMEM;
        }
        for (size_t i = 0; i < n_seen && r >= 0; i++) {
                bool in_journal = false;
                for (char **j = journaled; j && *j; j++)
                        in_journal = in_journal || streq(*j, seen[i].name);
                if (!seen_needs(&seen[i], n_hosts, in_journal))
                        continue;
                int q = resolve(hosts, n_hosts, journal_dir, seen[i].name,
                                expected ? expected(seen[i].name, userdata) : NULL, wait_ms, diag,
                                &res[n_res]);
                if (q == -ENOMEM)
                        r = q;
                else if (q < 0 && !first_error)
                        first_error = q; /* the other VMs still get resolved */
                else if (q >= 0)
                        n_res++;
        }
        for (size_t i = 0; i < n_seen; i++)
                free(seen[i].on);
        free(seen);
        if (r >= 0)
                r = first_error;
        if (r < 0) {
                free(res);
                return r;
        }
        qsort(res, n_res, sizeof(*res), resolution_cmp);
        *ret = res;
        *ret_n = n_res;
        return 0;
}

/* The installed system's configuration files; see sysconfig.h. Choices made here:
 * - fstab names file systems by UUID (device names move between boots), root passes 1, the
 *   rest 2; NFS mounts get _netdev so they wait for the network.
 * - mdadm.conf has one ARRAY line per plan array (the data of `mdadm --detail --scan` for
 *   exactly those arrays, from `mdadm --detail --export`), so the initramfs assembles them
 *   under /dev/md/<class> whatever host name it runs with.
 * - networkd units match NICs by MAC (installer and installed system may name them
 *   differently); bond members by their permanent MAC, since a bond rewrites members' MACs.
 *   The management NIC gets Wake-on-LAN (power-on after energy saving, DESIGN §6). A storage
 *   node does not wait for its links at boot (a powered-off KVM host leaves one down); a
 *   client does, since its VM store comes over the link.
 * - GRUB settings go to /etc/default/grub.d/labforge.cfg, read after /etc/default/grub, so
 *   the image's own file stays as shipped. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "manifest.h"
#include "sysconfig.h"

void lf_sysconfig_free(lf_sysconfig *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_files; i++) {
                free(s->files[i].path);
                free(s->files[i].content);
        }
        free(s->files);
        strv_free(s->dirs);
        free(s);
}

unsigned lf_sysconfig_depth(const char *mountpoint) {
        unsigned n = 0;
        for (const char *p = mountpoint; *p; p++)
                if (*p == '/' && p[1] && p[1] != '/')
                        n++;
        return n;
}

/* A file being written: a memstream, closed into the list by file_end(). */
typedef struct file_buf {
        char *buf;
        size_t size;
        FILE *f;
} file_buf;

static int file_begin(file_buf *fb) {
        *fb = (file_buf){0};
        fb->f = open_memstream(&fb->buf, &fb->size);
        return fb->f ? 0 : -ENOMEM;
}

static int file_end(lf_sysconfig *s, file_buf *fb, unsigned mode, const char *fmt, ...)
        _printf_(4, 5);
static int file_end(lf_sysconfig *s, file_buf *fb, unsigned mode, const char *fmt, ...) {
        _cleanup_free_ char *path = NULL;
        va_list ap;
        int r;

        r = fclose(fb->f) == 0 ? 0 : -ENOMEM;
        fb->f = NULL;
        va_start(ap, fmt);
        if (r == 0 && vasprintf(&path, fmt, ap) < 0) {
                path = NULL;
                r = -ENOMEM;
        }
        va_end(ap);
        lf_sysconfig_file *file =
                r == 0 ? lf_plan_grow(&s->files, &s->n_files, sizeof(*file)) : NULL;
        if (!file) {
                free(fb->buf);
                return -ENOMEM;
        }
        file->path = TAKE_PTR(path);
        file->content = fb->buf;
        file->mode = mode;
        return 0;
}

static bool is_storage_node(const lf_plan *plan) {
        unsigned roles = 0;
        return lf_role_parse(plan->role, &roles) == 0 && (roles & LF_ROLE_STORAGE);
}

/* The management address without its prefix, "" with DHCP. */
static void management_address(const lf_plan *plan, char *buf, size_t len) {
        buf[0] = '\0';
        for (size_t i = 0; i < plan->n_network; i++) {
                const lf_plan_net *n = &plan->network[i];
                if (!streq(n->kind, "management") || n->dhcp || n->n_addresses == 0)
                        continue;
                snprintf(buf, len, "%.*s", (int)strcspn(n->addresses[0], "/"), n->addresses[0]);
                return;
        }
}

static int write_hosts(lf_sysconfig *s, const lf_plan *plan) {
        char addr[64];
        file_buf fb;
        int r;

        management_address(plan, addr, sizeof(addr));
        if ((r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f, "%s\n", plan->node);
        if ((r = file_end(s, &fb, 0644, "/etc/hostname")) < 0 || (r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f,
                "# written by labforge-install for %s\n"
                "127.0.0.1\tlocalhost\n"
                "%s\t%s\n"
                "\n"
                "::1\tlocalhost ip6-localhost ip6-loopback\n"
                "ff02::1\tip6-allnodes\n"
                "ff02::2\tip6-allrouters\n",
                plan->node, *addr ? addr : "127.0.1.1", plan->node);
        return file_end(s, &fb, 0644, "/etc/hosts");
}

static int cmp_depth(const void *a, const void *b) {
        const lf_plan_fs *x = *(const lf_plan_fs *const *)a, *y = *(const lf_plan_fs *const *)b;
        unsigned dx = lf_sysconfig_depth(x->mountpoint), dy = lf_sysconfig_depth(y->mountpoint);
        if (dx != dy)
                return dx < dy ? -1 : 1;
        return x < y ? -1 : x > y; /* stable: plan order */
}

static int write_fstab(lf_sysconfig *s, const lf_plan *plan, const lf_journal *layout,
                       lf_diag *diag) {
        _cleanup_free_ const lf_plan_fs **order = calloc(plan->n_filesystems + 1, sizeof(*order));
        file_buf fb;
        int r;

        if (!order)
                return -ENOMEM;
        for (size_t i = 0; i < plan->n_filesystems; i++) {
                order[i] = &plan->filesystems[i];
                if (!lf_journal_get(layout, "fs", order[i]->mountpoint))
                        return lf_diag_add(diag, NULL, 0,
                                           "no UUID recorded for the file system on %s; "
                                           "run the install again",
                                           order[i]->device);
        }
        qsort(order, plan->n_filesystems, sizeof(*order), cmp_depth);
        if ((r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f,
                "# /etc/fstab of %s, written by labforge-install from its plan\n"
                "# <file system> <mount point> <type> <options> <dump> <pass>\n",
                plan->node);
        for (size_t i = 0; i < plan->n_filesystems; i++)
                fprintf(fb.f, "UUID=%s %s %s %s 0 %d\n",
                        lf_journal_get(layout, "fs", order[i]->mountpoint), order[i]->mountpoint,
                        order[i]->type, order[i]->options,
                        streq(order[i]->mountpoint, "/") ? 1 : 2);
        for (size_t i = 0; i < plan->n_mounts; i++) {
                const lf_plan_mount *m = &plan->mounts[i];
                fprintf(fb.f, "%s %s %s %s,_netdev 0 0\n", m->source, m->target, m->type,
                        m->options);
        }
        return file_end(s, &fb, 0644, "/etc/fstab");
}

static int write_mdadm_conf(lf_sysconfig *s, const lf_plan *plan, const lf_journal *layout,
                            lf_diag *diag) {
        file_buf fb;
        int r;

        if (plan->n_arrays == 0)
                return 0;
        if ((r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f,
                "# mdadm.conf of %s, written by labforge-install: the initramfs assembles\n"
                "# these arrays at boot.\n"
                "HOMEHOST <system>\n"
                "MAILADDR root\n",
                plan->node);
        for (size_t i = 0; i < plan->n_arrays; i++) {
                const lf_plan_array *a = &plan->arrays[i];
                const char *uuid = lf_journal_get(layout, "array", a->device);
                const char *name = lf_journal_get(layout, "array-name", a->device);
                if (!uuid || !name) {
                        fclose(fb.f);
                        free(fb.buf);
                        return lf_diag_add(diag, NULL, 0,
                                           "no UUID recorded for the array %s; run the "
                                           "install again",
                                           a->device);
                }
                /* The fields and order of `mdadm --detail --scan`. */
                fprintf(fb.f, "ARRAY %s metadata=%s name=%s UUID=%s\n", a->device, a->metadata,
                        name, uuid);
        }
        return file_end(s, &fb, 0644, "/etc/mdadm/mdadm.conf");
}

/* The [Network] addressing of a management or storage-link network. */
static void print_addressing(FILE *f, const lf_plan_net *n) {
        fprintf(f, "\n[Network]\n");
        if (n->dhcp)
                fprintf(f, "DHCP=ipv4\n");
        for (size_t i = 0; i < n->n_addresses; i++)
                fprintf(f, "Address=%s\n", n->addresses[i]);
        if (n->gateway)
                fprintf(f, "Gateway=%s\n", n->gateway);
        if (!streq(n->kind, "management"))
                fprintf(f, "LinkLocalAddressing=no\nIPv6AcceptRA=no\n");
}

static void print_link_section(FILE *f, const lf_plan *plan, const lf_plan_net *n) {
        bool optional = streq(n->kind, "storage-link") && is_storage_node(plan);
        if (!n->mtu && !optional)
                return;
        fprintf(f, "\n[Link]\n");
        if (n->mtu)
                fprintf(f, "MTUBytes=%llu\n", (unsigned long long)n->mtu);
        if (optional)
                fprintf(f, "RequiredForOnline=no\n");
}

static void print_comment(FILE *f, const lf_plan *plan, const lf_plan_net *n) {
        if (streq(n->kind, "management") && n->bond)
                fprintf(f,
                        "# %s: management network over %s (it holds the NIC the node "
                        "PXE-boots from)\n",
                        plan->node, n->interface);
        else if (streq(n->kind, "management"))
                fprintf(f, "# %s: management network (the NIC it PXE-boots from)\n", plan->node);
        else if (streq(n->kind, "storage-link") && n->peer)
                fprintf(f, "# %s: storage link to %s (%s); storage traffic only, no gateway\n",
                        plan->node, n->peer->node, n->peer->address);
        else
                fprintf(f, "# %s: %s network\n", plan->node, n->kind);
        fprintf(f, "# written by labforge-install from the plan\n");
}

static int write_bond(lf_sysconfig *s, const lf_plan *plan, const lf_plan_net *n) {
        file_buf fb;
        int r;

        if ((r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f,
                "# %s: bond %s (%s)\n"
                "[NetDev]\nName=%s\nKind=bond\n\n[Bond]\nMode=%s\nMIIMonitorSec=%llums\n",
                plan->node, n->interface, n->kind, n->interface, n->bond->mode,
                (unsigned long long)n->bond->miimon);
        if ((r = file_end(s, &fb, 0644, "/etc/systemd/network/20-labforge-%s.netdev",
                          n->interface)) < 0)
                return r;
        for (size_t i = 0; i < n->bond->n_members; i++) {
                const lf_plan_nic_ref *m = &n->bond->members[i];
                if ((r = file_begin(&fb)) < 0)
                        return r;
                fprintf(fb.f,
                        "# %s: %s is a member of %s\n"
                        "[Match]\nPermanentMACAddress=%s\n\n[Network]\nBond=%s\n",
                        plan->node, m->interface, n->interface, m->mac, n->interface);
                if ((r = file_end(s, &fb, 0644, "/etc/systemd/network/20-labforge-%s-%s.network",
                                  n->interface, m->interface)) < 0)
                        return r;
        }
        if ((r = file_begin(&fb)) < 0)
                return r;
        print_comment(fb.f, plan, n);
        fprintf(fb.f, "[Match]\nName=%s\n", n->interface);
        print_link_section(fb.f, plan, n);
        print_addressing(fb.f, n);
        return file_end(s, &fb, 0644, "/etc/systemd/network/30-labforge-%s.network", n->interface);
}

static int write_network(lf_sysconfig *s, const lf_plan *plan) {
        file_buf fb;
        int r;

        for (size_t i = 0; i < plan->n_network; i++) {
                const lf_plan_net *n = &plan->network[i];
                if (n->bond) {
                        if ((r = write_bond(s, plan, n)) < 0)
                                return r;
                } else {
                        if ((r = file_begin(&fb)) < 0)
                                return r;
                        print_comment(fb.f, plan, n);
                        fprintf(fb.f, "[Match]\nMACAddress=%s\n", n->mac);
                        print_link_section(fb.f, plan, n);
                        print_addressing(fb.f, n);
                        if ((r = file_end(s, &fb, 0644,
                                          "/etc/systemd/network/30-labforge-%s.network",
                                          n->interface)) < 0)
                                return r;
                }
                if (!streq(n->kind, "management"))
                        continue;
                /* Wake-on-LAN on the PXE NIC; the naming policies are Debian's
                 * 99-default.link, which a matching .link file replaces. */
                if ((r = file_begin(&fb)) < 0)
                        return r;
                fprintf(fb.f,
                        "# %s: Wake-on-LAN on the management NIC, so labforge can power it on\n"
                        "[Match]\nPermanentMACAddress=%s\n\n"
                        "[Link]\nNamePolicy=keep kernel database onboard slot path\n"
                        "AlternativeNamesPolicy=database onboard slot path\n"
                        "MACAddressPolicy=persistent\nWakeOnLan=magic\n",
                        plan->node, n->mac);
                if ((r = file_end(s, &fb, 0644, "/etc/systemd/network/10-labforge-wol.link")) < 0)
                        return r;
        }
        return 0;
}

static int write_sysctl(lf_sysconfig *s, const lf_plan *plan) {
        const char *last = NULL;
        file_buf fb;
        int r;

        if (plan->n_sysctl == 0)
                return 0;
        if ((r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f, "# sysctl settings of %s (%s), written by labforge-install from the plan\n",
                plan->node, plan->role);
        for (size_t i = 0; i < plan->n_sysctl; i++) {
                const lf_plan_sysctl *c = &plan->sysctl[i];
                if (c->source && (!last || !streq(last, c->source)))
                        fprintf(fb.f, "# %s\n", last = c->source);
                fprintf(fb.f, "%s = %s\n", c->name, c->value);
        }
        return file_end(s, &fb, 0644, "/etc/sysctl.d/90-labforge.conf");
}

static int write_exports(lf_sysconfig *s, const lf_plan *plan) {
        file_buf fb;
        int r;

        if (plan->n_exports == 0)
                return 0;
        if ((r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f, "# NFS exports of %s, written by labforge-install from the plan\n",
                plan->node);
        for (size_t i = 0; i < plan->n_exports; i++) {
                const lf_plan_export *e = &plan->exports[i];
                fprintf(fb.f, "%s %s(%s)\n", e->path, e->clients, e->options);
                r = lf_plan_strv_add(&s->dirs, &s->n_dirs, e->path);
                if (r < 0) {
                        fclose(fb.f);
                        free(fb.buf);
                        return r;
                }
        }
        return file_end(s, &fb, 0644, "/etc/exports");
}

static int write_node_conf(lf_sysconfig *s, const lf_plan *plan, const lf_exec_config *cfg) {
        char addr[64];
        file_buf fb;
        int r;

        if (cfg->bind_address)
                snprintf(addr, sizeof(addr), "%s", cfg->bind_address);
        else
                management_address(plan, addr, sizeof(addr));
        if ((r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f,
                "# labforged's configuration (DESIGN §7), written by labforge-install\n"
                "node = %s\nrole = %s\nnodeid = %u\n",
                plan->node, plan->role, cfg->nodeid);
        if (cfg->manifest_path)
                fprintf(fb.f, "manifest = %s\n", LF_SYSCONFIG_MANIFEST);
        fprintf(fb.f, "libvirt_uri = %s\ncorosync_conf = %s\n",
                cfg->libvirt_uri ? cfg->libvirt_uri : "qemu:///system",
                cfg->corosync_conf ? cfg->corosync_conf : "/etc/corosync/corosync.conf");
        if (cfg->authkey)
                fprintf(fb.f, "authkey = %s\n", LF_SYSCONFIG_AUTHKEY);
        if (*addr)
                fprintf(fb.f, "bind_address = %s\n", addr);
        return file_end(s, &fb, 0644, "/etc/labforge/node.conf");
}

static int write_grub(lf_sysconfig *s) {
        file_buf fb;
        int r;

        if ((r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f, "# labforge: kernel console and GRUB on the screen and the first serial "
                      "port (DESIGN §4)\n"
                      "GRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0,115200n8\"\n"
                      "GRUB_TERMINAL=\"console serial\"\n"
                      "GRUB_SERIAL_COMMAND=\"serial --unit=0 --speed=115200\"\n");
        return file_end(s, &fb, 0644, "/etc/default/grub.d/labforge.cfg");
}

/* The installed system's initramfs holds only listed modules (MODULES=list): the drivers of
 * this PC's disks as the installer found them, and a base set for the PCs of a classroom (SATA,
 * legacy IDE, NVMe, virtio, the file systems and arrays of the plan, USB keyboards for the
 * emergency shell). initramfs-tools' default (MODULES=most) copies some 750 modules; the list
 * builds several times faster and boots a smaller image. */
static const char *const base_modules[] = {
        "ahci",       "ata_piix",   "ata_generic", "nvme",        "sd_mod",
        "virtio_pci", "virtio_blk", "virtio_scsi", "ext4",        "vfat",
        "raid0",      "md_mod",     "dm_mod",      "xhci_pci",    "ehci_pci",
        "ohci_pci",   "uhci_hcd",   "usbhid",      "hid_generic",
};

static int write_initramfs(lf_sysconfig *s, const lf_plan *plan, const lf_exec_config *cfg) {
        file_buf fb;
        int r;

        if ((r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f, "# labforge: the initramfs holds the modules of /etc/initramfs-tools/modules "
                      "only\nMODULES=list\nCOMPRESS=zstd\n");
        if ((r = file_end(s, &fb, 0644, "/etc/initramfs-tools/conf.d/labforge.conf")) < 0)
                return r;
        if ((r = file_begin(&fb)) < 0)
                return r;
        fprintf(fb.f, "# Modules of the initramfs of %s, written by labforge-install.\n",
                plan->node);
        if (cfg->n_disk_modules > 0)
                fprintf(fb.f, "# The drivers of its disks, as the installer found them:\n");
        for (size_t i = 0; i < cfg->n_disk_modules; i++)
                fprintf(fb.f, "%s\n", cfg->disk_modules[i]);
        fprintf(fb.f, "# Disk controllers, file systems, arrays and USB keyboards of classroom "
                      "PCs:\n");
        for (size_t i = 0; i < ELEMENTSOF(base_modules); i++) {
                bool listed = false;
                for (size_t j = 0; j < cfg->n_disk_modules && !listed; j++)
                        listed = streq(cfg->disk_modules[j], base_modules[i]);
                if (!listed)
                        fprintf(fb.f, "%s\n", base_modules[i]);
        }
        return file_end(s, &fb, 0644, "/etc/initramfs-tools/modules");
}

int lf_sysconfig_build(const lf_plan *plan, const lf_journal *layout, const lf_exec_config *cfg,
                       lf_diag *diag, lf_sysconfig **ret) {
        _cleanup_sysconfig_ lf_sysconfig *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        if ((r = write_hosts(s, plan)) < 0 || (r = write_fstab(s, plan, layout, diag)) < 0 ||
            (r = write_mdadm_conf(s, plan, layout, diag)) < 0 || (r = write_network(s, plan)) < 0 ||
            (r = write_sysctl(s, plan)) < 0 || (r = write_exports(s, plan)) < 0 ||
            (r = write_node_conf(s, plan, cfg)) < 0 || (r = write_grub(s)) < 0 ||
            (r = write_initramfs(s, plan, cfg)) < 0)
                return r;
        for (size_t i = 0; i < plan->n_mounts; i++)
                if ((r = lf_plan_strv_add(&s->dirs, &s->n_dirs, plan->mounts[i].target)) < 0)
                        return r;
        *ret = TAKE_PTR(s);
        return 0;
}

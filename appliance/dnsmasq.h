/* The appliance's PXE service (DESIGN §4): dnsmasq's configuration generated from the manifest
 * (proxy or full DHCP, DNS off, TFTP of iPXE), and dnsmasq run and kept running under serve. */
#pragma once

#include "appliance.h"
#include "diag.h"
#include "manifest.h"

/* Where Debian's ipxe package puts the iPXE boot files. */
#define LF_IPXE_DIR "/usr/lib/ipxe"
/* The iPXE boot files served over TFTP: BIOS, then UEFI (snponly.efi drives the NIC through the
 * firmware's own driver; ipxe.efi, with iPXE's drivers, is what UEFI PCs get when the ipxe
 * package has no snponly.efi). */
#define LF_IPXE_BIOS "undionly.kpxe"
#define LF_IPXE_UEFI "snponly.efi"
#define LF_IPXE_UEFI_FALLBACK "ipxe.efi"

typedef struct lf_dnsmasq_config {
        const char *dir;       /* dnsmasq's own directory: pid file, leases, tftp/ */
        const char *user;      /* what dnsmasq drops its privileges to */
        const char *http_base; /* "http://192.168.50.1:8180": where iPXE fetches /boot/<mac>.ipxe */
        const char *uefi_file; /* LF_IPXE_UEFI or LF_IPXE_UEFI_FALLBACK */
} lf_dnsmasq_config;

/* The configuration file for the manifest's <appliance> as text (caller frees). A setting dnsmasq
 * cannot take in its file (an interface name or path with ',' or a newline) is reported to diag
 * and gives -EINVAL. */
int lf_dnsmasq_config_render(const lf_manifest *m, const lf_dnsmasq_config *c, lf_diag *diag,
                             char **ret);

/* Copies the iPXE boot files from ipxe_dir into tftp_dir (created when missing; the files are
 * replaced atomically) and names the one for UEFI PCs. Missing BIOS and UEFI files are reported
 * to diag (-ENOENT). */
int lf_dnsmasq_prepare_tftp(const char *ipxe_dir, const char *tftp_dir, lf_diag *diag,
                            const char **ret_uefi_file);

/* "dnsmasq-dhcp[42]: DHCPACK(br0) ..." -> "dnsmasq: dhcp: DHCPACK(br0) ...": the line as it goes
 * into our log (dnsmasq's process id is noise there), written to buf. */
void lf_dnsmasq_log_line(const char *line, char *buf, size_t size);

/* Supervision: lf_dnsmasq_start() writes the configuration and the TFTP files under
 * <state_dir>/dnsmasq, checks the configuration with `dnsmasq --test` and starts dnsmasq in the
 * foreground. Its output lines go to our log; when it ends it is started again after a back-off
 * (1 s doubling up to 60 s, back to 1 s after a minute of running). */
typedef struct lf_dnsmasq_options {
        const char *state_dir;
        const char *http_base;
        const char *program;  /* NULL: "dnsmasq" from PATH (tests give a stand-in) */
        const char *ipxe_dir; /* NULL: LF_IPXE_DIR */
        const char *user;     /* NULL: "dnsmasq" when it can reach the TFTP files, else root */
} lf_dnsmasq_options;

typedef struct lf_dnsmasq lf_dnsmasq;

/* Returns 0 once dnsmasq runs; a negative errno after logging why it could not start it. */
int lf_dnsmasq_start(const lf_manifest *m, const lf_dnsmasq_options *o, lf_dnsmasq **ret);
/* dnsmasq's output, to poll for input; -1 while it is not running. */
int lf_dnsmasq_fd(const lf_dnsmasq *d);
/* Forwards output, notices the end of dnsmasq and restarts it when its back-off is over. Call
 * it when the fd is readable and about once a second. */
void lf_dnsmasq_poll(lf_dnsmasq *d);
/* Renders the configuration for m (a reloaded manifest) and, when it differs from the running
 * one and dnsmasq accepts it, restarts dnsmasq with it: 1 restarted, 0 unchanged, negative errno
 * (logged) when the new configuration was refused and the old one kept. */
int lf_dnsmasq_reconfigure(lf_dnsmasq *d, const lf_manifest *m);
/* Restarts after dnsmasq ended, since the start (for tests and status). */
unsigned lf_dnsmasq_restarts(const lf_dnsmasq *d);
/* Stops dnsmasq (SIGTERM, then SIGKILL after 5 s) and frees d. */
void lf_dnsmasq_stop(lf_dnsmasq *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_dnsmasq *, lf_dnsmasq_stop);

/* serve's "dnsmasq" subsystem: the above for the appliance, following manifest reloads (nothing
 * with --no-dhcp). */
extern const lf_subsystem lf_subsystem_dnsmasq;

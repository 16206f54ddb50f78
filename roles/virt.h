/* labforged's libvirt driver (DESIGN §7): domain XML from a lab template, the domain life cycle,
 * bulk statistics, live migration with its journal, and reconciliation after a restart. */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "macro.h"
#include "manifest.h"
#include "msg.h"

/* Where VM disks live. With a storage node, each VM has its own snapshot file system mounted
 * at LF_VIRT_STORE_DIR/<vm> that holds the template's image file under the image's name; that
 * file is the VM's disk (raw, on NFS). Without one, the disk is the qcow2 overlay
 * LF_VIRT_LOCAL_DIR/<vm>.qcow2 over the local golden copy LF_VIRT_GOLDEN_DIR/<image>. */
#define LF_VIRT_STORE_DIR "/srv/labforge/vms"
#define LF_VIRT_LOCAL_DIR "/var/lib/labforge/vms"
#define LF_VIRT_GOLDEN_DIR "/var/lib/labforge/images"
/* The serial console of every VM is also logged here, as <vm>-console.log. */
#define LF_VIRT_CONSOLE_LOG_DIR "/var/log/libvirt/qemu"
/* The bridge on each KVM host that VM network interfaces join. */
#define LF_VIRT_BRIDGE "vmbr0"

/* Limits on what a domain may ask for (a template beyond them is refused, not truncated). */
#define LF_VIRT_MAX_MEMORY_MB (1024u * 1024) /* 1 TiB */
#define LF_VIRT_MIN_MEMORY_MB 16u
#define LF_VIRT_MAX_VCPUS 255u
#define LF_VIRT_MAX_PATH 4095u
#define LF_VIRT_NAME_SIZE 64 /* VM and host names: 63 bytes and the NUL (manifest rule) */

typedef enum lf_virt_disk_mode {
        LF_VIRT_DISK_SHARED,  /* raw image in the VM's snapshot fs on the NFS store */
        LF_VIRT_DISK_OVERLAY, /* local qcow2 overlay over a local golden copy */
        LF_VIRT_DISK_NONE,    /* no disk (tests: kernel and initramfs only) */
} lf_virt_disk_mode;

typedef enum lf_virt_accel {
        LF_VIRT_KVM,  /* domain type kvm, CPU host-model */
        LF_VIRT_TCG,  /* domain type qemu (no /dev/kvm), a named CPU model both ends can run */
        LF_VIRT_TEST, /* libvirt's test driver: no machine or CPU model */
} lf_virt_accel;

/* What a domain is made of. Only vm, tmpl, disk_mode and listen are required. */
typedef struct lf_virt_spec {
        const char *vm;
        const lf_template *tmpl;
        lf_virt_disk_mode disk_mode;
        const char *disk_path; /* NULL: the path disk_mode gives (lf_virt_disk_path) */
        const char *bridge;    /* NULL: LF_VIRT_BRIDGE */
        const char *listen;    /* address the VNC console listens on: the host's management IP */
        lf_virt_accel accel;
        /* Direct kernel boot, for test guests; NULL: firmware boots the disk. */
        const char *kernel, *initrd, *cmdline;
        const char *console_log; /* NULL: LF_VIRT_CONSOLE_LOG_DIR/<vm>-console.log */
} lf_virt_spec;

/* The disk path of a VM under mode (see LF_VIRT_STORE_DIR); NULL for LF_VIRT_DISK_NONE. */
int lf_virt_disk_path(const char *vm, const lf_template *tmpl, lf_virt_disk_mode mode, char **ret);
/* The domain XML, written with libxml2. A spec that cannot make a domain (bad VM name, template
 * without image, memory or vcpus out of range, relative paths) is reported to diag and gives
 * -EINVAL. */
int lf_virt_domain_xml(const lf_virt_spec *spec, lf_diag *diag, char **ret_xml);
/* The MAC address of a VM's interface: 52:54:00 and three bytes of SHA-256 of its name, so a
 * VM that is reset (undefined, defined again) keeps its DHCP lease. */
void lf_virt_mac(const char *vm, char ret[static 18]);

/* A connection to one host's libvirt. Every failure below is reported to diag as
 * "<vm>: what failed on <uri>: <libvirt's message>; what to do" and returns a negative errno:
 * -ENOENT unknown VM, -EEXIST name taken, -EBUSY wrong state, -ETIMEDOUT, -EIO otherwise. */
typedef struct lf_virt lf_virt;

int lf_virt_open(const char *uri, lf_diag *diag, lf_virt **ret);
void lf_virt_close(lf_virt *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_virt *, lf_virt_close);
#define _cleanup_virt_ _cleanup_(lf_virt_closep)
const char *lf_virt_uri(const lf_virt *v);
virConnectPtr lf_virt_conn(const lf_virt *v);
/* The acceleration this host offers: TEST for the test driver, KVM when its capabilities list
 * kvm for x86_64, else TCG. */
lf_virt_accel lf_virt_host_accel(const lf_virt *v);

/* Defines the domain (persistent, not started). -EEXIST when a domain of that name exists. */
int lf_virt_define(lf_virt *v, const lf_virt_spec *spec, lf_diag *diag);
int lf_virt_start(lf_virt *v, const char *vm, lf_diag *diag);
/* Asks the guest to shut down (ACPI), waits up to timeout_ms for it to stop, then pulls the
 * plug. Returns 0 when the guest stopped by itself, 1 when it had to be destroyed. */
int lf_virt_shutdown(lf_virt *v, const char *vm, unsigned timeout_ms, lf_diag *diag);
/* Stops the domain at once; stopping a stopped domain is not an error. */
int lf_virt_destroy(lf_virt *v, const char *vm, lf_diag *diag);
/* Removes the definition of a stopped domain (-EBUSY while it runs: it would live on as a
 * transient domain). Disks are left alone. */
int lf_virt_undefine(lf_virt *v, const char *vm, lf_diag *diag);

typedef struct lf_virt_domain {
        char name[LF_VIRT_NAME_SIZE];
        lf_vm_state state;
        int vir_state, vir_reason; /* libvirt's virDomainState and its reason */
        bool active, persistent;
        bool job;     /* a libvirt job (migration) runs on it */
        bool managed; /* made by labforge (lf_virt_domain_xml's metadata) */
        char template[LF_VIRT_NAME_SIZE]; /* the template it was made from, when managed */
        unsigned vcpus;
        uint64_t mem_kib;
} lf_virt_domain;

/* Every domain of the host, sorted by name (at most LF_MSG_MAX_REPORT_VMS). */
int lf_virt_list(lf_virt *v, lf_diag *diag, lf_virt_domain **ret, size_t *ret_n);
/* One domain; -ENOENT when the host has no domain of that name. */
int lf_virt_get(lf_virt *v, const char *vm, lf_diag *diag, lf_virt_domain *ret);

/* Bulk statistics of the host's domains (virConnectGetAllDomainStats). */
typedef struct lf_virt_stats {
        char name[LF_VIRT_NAME_SIZE];
        lf_vm_state state;
        unsigned vcpus;
        bool managed; /* made by labforge; set by lf_virt_sample_take, not by the parser */
        char template[LF_VIRT_NAME_SIZE]; /* likewise: the template it was made from */
        bool has_cpu_time, has_mem, has_rss;
        uint64_t cpu_time_ns; /* cpu.time: host CPU time the domain used since it started */
        uint64_t mem_kib;     /* balloon.current: memory the guest has */
        uint64_t rss_kib;     /* balloon.rss: host memory it occupies */
} lf_virt_stats;

typedef struct lf_virt_sample {
        uint64_t taken_ns; /* CLOCK_MONOTONIC */
        lf_virt_stats *vms;
        size_t n;
} lf_virt_sample;

int lf_virt_sample_take(lf_virt *v, lf_diag *diag, lf_virt_sample *ret);
void lf_virt_sample_clear(lf_virt_sample *s);
/* Reads one domain's record (keys "state.state", "cpu.time", "balloon.current", "balloon.rss",
 * "vcpu.current"); missing keys leave their has_* false. */
void lf_virt_stats_parse(const char *name, const virTypedParameter *params, int n,
                         lf_virt_stats *ret);
/* Cores a VM used between two samples: cpu.time delta over wall time; -1 when unknown (not in
 * both samples, no cpu.time, restarted in between, no time passed). */
double lf_virt_cores_used(const lf_virt_sample *prev, const lf_virt_sample *cur, const char *vm);

/* Migration journal: one file <dir>/<vm>.json per migration in flight, written (atomically,
 * synced) before the migration starts and removed once libvirt answered, so that after a
 * crash reconciliation knows which migration was cut short. */
typedef struct lf_virt_journal {
        char vm[LF_VIRT_NAME_SIZE];
        char from[LF_VIRT_NAME_SIZE];
        char to[LF_VIRT_NAME_SIZE];
        int64_t started; /* seconds since 1970 */
} lf_virt_journal;

int lf_virt_journal_write(const char *dir, const lf_virt_journal *j);
/* -ENOENT when there is no entry for vm; a damaged entry is reported to diag (-EINVAL). */
int lf_virt_journal_read(const char *dir, const char *vm, lf_diag *diag, lf_virt_journal *ret);
int lf_virt_journal_remove(const char *dir, const char *vm);
/* Names of the VMs with an entry, sorted; a NULL-terminated list. */
int lf_virt_journal_list(const char *dir, char ***ret);

/* Progress of the job (migration) running on a domain. */
typedef struct lf_virt_job {
        bool active;
        uint64_t elapsed_ms;
        uint64_t data_total, data_processed, data_remaining; /* bytes */
        uint64_t mem_total, mem_processed, mem_remaining;
} lf_virt_job;

int lf_virt_job_get(lf_virt *v, const char *vm, lf_diag *diag, lf_virt_job *ret);
int lf_virt_job_abort(lf_virt *v, const char *vm, lf_diag *diag);

typedef void (*lf_virt_progress_fn)(const char *vm, const lf_virt_job *job, void *userdata);

typedef struct lf_virt_migrate_opts {
        const char *from, *to; /* host names, for the journal and messages */
        /* The destination's libvirt as the SOURCE host's libvirtd reaches it (peer-to-peer):
         * "qemu+tcp://kvm2/system". */
        const char *dest_uri;
        const char *migrate_uri; /* "tcp://ADDR" for the data stream; NULL: libvirt's choice */
        const char *dest_listen; /* the destination's management address for the console */
        bool copy_storage;       /* local overlays: VIR_MIGRATE_NON_SHARED_INC */
        unsigned timeout_ms;     /* abort after this long; 0: no limit */
        uint64_t bandwidth_mib;  /* MiB/s; 0: unlimited */
        unsigned poll_ms;        /* progress interval; 0: 500 */
        lf_virt_progress_fn progress;
        void *userdata;
        const char *journal_dir; /* NULL: no journal */
} lf_virt_migrate_opts;

/* The flags of every migration (DESIGN §7): PEER2PEER|LIVE|PERSIST_DEST|UNDEFINE_SOURCE|
 * CHANGE_PROTECTION|ABORT_ON_ERROR, plus NON_SHARED_INC when the disk is copied. Never
 * post-copy. */
unsigned long lf_virt_migrate_flags(bool copy_storage);
/* The XML the domain runs with on the destination: the domain's own XML (flags as for
 * virDomainGetXMLDesc) with the console listening on dest_listen (unchanged when NULL). */
int lf_virt_migrate_xml(const char *xml, const char *dest_listen, char **ret);
/* Live-migrates vm from v's host. Blocks until done (the migration call runs in a thread on a
 * connection of its own); polls progress every poll_ms and aborts the job after timeout_ms
 * (-ETIMEDOUT: the VM stays on the source). The journal entry is removed once libvirt answered,
 * and kept when the source's libvirtd went away mid-call (outcome unknown: reconcile). */
int lf_virt_migrate(lf_virt *v, const char *vm, const lf_virt_migrate_opts *o, lf_diag *diag);

/* Reconciliation: what to do with each copy of one VM found on several hosts. */
typedef enum lf_virt_action {
        LF_VIRT_KEEP,
        LF_VIRT_RESUME,   /* the survivor, left paused by a migration that did not finish */
        LF_VIRT_DESTROY,  /* a second active copy: destroy it, undefine it when persistent */
        LF_VIRT_UNDEFINE, /* a stale inactive definition */
        LF_VIRT_WAIT,     /* a job still runs: libvirt has not decided yet; look again later */
} lf_virt_action;

const char *lf_virt_action_name(lf_virt_action a);

typedef struct lf_virt_copy {
        const char *host;
        bool active, persistent, job;
        int vir_state, vir_reason;
} lf_virt_copy;

/* Decides, for the n copies of one VM, what happens to each (ret_actions[n]) and which one
 * survives (*ret_survivor: index, or -1 when none is active), with the reason in why. Rules:
 * 1. A copy with a job running -> everything waits.
 * 2. One active copy -> it survives; inactive definitions elsewhere are undefined.
 * 3. Several active copies -> a running copy beats a paused one (a paused copy has not run
 *    guest code since it stopped: the migration source after switch-over, or a destination
 *    that never resumed, so the running copy holds everything); among equals, the copy on the
 *    host the cluster records (it is updated only after a migration succeeded), else on the
 *    journal's source (the migration was never confirmed), else on the first host by name.
 *    The others are destroyed (and undefined).
 * 4. The survivor paused by a migration (reason "migration") with no job is resumed.
 * 5. No active copy, several definitions -> kept on the recorded host, else the journal's
 *    destination (PERSIST_DEST ran, UNDEFINE_SOURCE did not), else the first by name. */
void lf_virt_reconcile_decide(const lf_virt_copy *copies, size_t n, const char *expected_host,
                              const lf_virt_journal *journal, lf_virt_action *ret_actions,
                              int *ret_survivor, char *why, size_t why_len);

typedef struct lf_virt_host {
        const char *name;
        lf_virt *virt;
} lf_virt_host;

/* The recorded host of vm (the cluster's view), or NULL when unknown. */
typedef const char *(*lf_virt_expected_fn)(const char *vm, void *userdata);

typedef struct lf_virt_resolution {
        char vm[LF_VIRT_NAME_SIZE];
        char survivor[LF_VIRT_NAME_SIZE]; /* "" when no copy is active */
        char why[256];
        bool acted; /* something was destroyed, undefined or resumed */
} lf_virt_resolution;

/* Lists the labforge domains of every host and every journal entry, and resolves each VM that is
 * defined or active on more than one host, paused by a migration, or in the journal: acts as
 * lf_virt_reconcile_decide says, waiting up to wait_ms for running jobs. Journal entries of
 * resolved VMs are removed. Returns 0 when every VM is resolved, -EAGAIN when some still have a
 * job after wait_ms (reported to diag), another negative errno when a host could not be asked
 * or an action failed. A host that cannot be listed stops it before any action: resuming a copy
 * left paused while an unseen host runs the VM would make two. The resolutions are sorted by VM
 * name. */
int lf_virt_reconcile(const lf_virt_host *hosts, size_t n_hosts, const char *journal_dir,
                      lf_virt_expected_fn expected, void *userdata, unsigned wait_ms, lf_diag *diag,
                      lf_virt_resolution **ret, size_t *ret_n);

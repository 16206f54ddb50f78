/* The lab manifest (DESIGN §5.1): loading lab.xml with libxml2, validating it against the
 * RelaxNG schema lib/schema/lab.rng (compiled in), and the checks a schema cannot do. Every
 * element keeps its source line so later stages (planner, appliance) can point at it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "macro.h"
#include "net.h"

/* Most nodes, links, ... one manifest may hold; larger rooms are refused with a clear error. */
#define LF_MANIFEST_MAX_NODES 1024
#define LF_MANIFEST_MAX_ITEMS 4096

typedef enum lf_role {
        LF_ROLE_STORAGE = 1 << 0,
        LF_ROLE_KVM = 1 << 1,
        LF_ROLE_LOGIN = 1 << 2,
} lf_role;

typedef enum lf_dhcp_mode { LF_DHCP_PROXY, LF_DHCP_FULL } lf_dhcp_mode;

typedef enum lf_wipe_policy {
        LF_WIPE_UNSET = 0, /* per node: inherit the lab-wide policy */
        LF_WIPE_NEVER,
        LF_WIPE_LISTED,
        LF_WIPE_ALL,
} lf_wipe_policy;

typedef struct lf_sysctl {
        char *name;
        char *value;
        long line;
} lf_sysctl;

typedef struct lf_disk_policy {
        lf_wipe_policy wipe;
        char **wipe_disks; /* serials or /dev/disk/by-id paths from <wipe disk="..."/>,
                              NULL-terminated */
        size_t n_wipe_disks;
        long line;
} lf_disk_policy;

typedef struct lf_bond {
        char *name; /* "bond0" unless the manifest names it */
        char *mode; /* "802.3ad" or "active-backup" */
        unsigned miimon;
        char **members; /* member MACs, canonical form, NULL-terminated */
        size_t n_members;
        long line;
} lf_bond;

typedef struct lf_node {
        char *name;
        unsigned roles;               /* lf_role bits; role="login+storage" combines roles */
        char mac[LF_MAC_STR_LEN + 1]; /* management (PXE) MAC, canonical */
        unsigned nodeid;              /* 1-based, in manifest order: the cluster node id */
        uint32_t address; /* optional static management address (address="..."); 0 = DHCP */
        lf_bond *bonds;
        size_t n_bonds;
        lf_sysctl *sysctls; /* node overrides */
        size_t n_sysctls;
        lf_disk_policy disk_policy; /* wipe == LF_WIPE_UNSET when the node has none */
        char *bmc;               /* optional <bmc address="..."/> for IPMI power, NULL if absent */
        char *bmc_user;          /* <bmc user="...">, NULL if absent */
        char *bmc_password_file; /* <bmc password-file="...">, absolute path, NULL if absent */
        long line;
} lf_node;

typedef struct lf_link_end {
        char *node;
        char mac[LF_MAC_STR_LEN + 1];
} lf_link_end;

typedef struct lf_link {
        lf_link_end a, b; /* a is always the storage node's end: the loader swaps ends written
                           * the other way round, so "storage side gets the even address" is
                           * simply a. */
        long line;
} lf_link;

typedef struct lf_role_sysctl {
        unsigned roles; /* lf_role bits this override applies to; all roles when role= is absent */
        lf_sysctl s;
} lf_role_sysctl;

typedef struct lf_template {
        char *name;
        char *image;
        uint64_t memory_mb;
        unsigned vcpus;
        long line;
} lf_template;

typedef struct lf_policy {
        unsigned class_days;                 /* bit 0 Monday .. bit 6 Sunday; default mon-fri */
        char *class_days_str;                /* as written, default "mon-fri" */
        int class_from_min, class_to_min;    /* minutes since midnight; default 08:00-18:00 */
        char *balance_mode;                  /* "memory" (default) or "compute" */
        uint64_t balance_interval_s;         /* default 3600 */
        unsigned cpu_high, cpu_low;          /* percent; default 80 / 30 */
        uint64_t cpu_sample_s, cpu_window_s; /* default 60 / 600 */
        unsigned reserve_vm_slots;           /* default 18 */
        uint64_t min_interval_s;             /* default 1800 */
        uint64_t boot_stagger_s;             /* default 5 */
        unsigned boot_batch;                 /* default 1 */
} lf_policy;

typedef struct lf_manifest {
        char *file; /* path it was loaded from, for messages */
        char *name;
        long line;

        /* <appliance> */
        char *appliance_interface;
        lf_cidr appliance_address; /* its prefix is the management subnet's */
        lf_dhcp_mode dhcp;
        /* Full DHCP only (both 0 with proxy): default the upper half of the management subnet
         * without its broadcast address. */
        uint32_t dhcp_range_first, dhcp_range_last;
        unsigned http_port; /* default 8180 */

        /* <network> */
        lf_cidr management;     /* subnet */
        uint32_t gateway;       /* 0 when absent */
        bool has_storage_links; /* false without <storage-links> (then there are no links) */
        lf_cidr storage_links;
        unsigned storage_mtu; /* default 9000 */

        lf_node *nodes;
        size_t n_nodes;
        lf_link *links;
        size_t n_links;
        lf_role_sysctl *role_sysctls; /* <sysctl role="kvm" .../> children of <lab> */
        size_t n_role_sysctls;
        lf_disk_policy disk_policy; /* lab-wide; wipe defaults to LF_WIPE_NEVER */
        lf_policy policy;
        lf_template *templates;
        size_t n_templates;
} lf_manifest;

/* Loads and checks a manifest. On any problem, adds every one found to diag as
 * "FILE:LINE: what is wrong; what to do" (sorted by line) and returns -EINVAL; *ret is then
 * untouched. Problems with the structure (the schema) are reported alone: the checks of values
 * and of references between elements run once the structure is right. A file that cannot be
 * read gives its negative errno (also reported to diag); -ENOMEM is not reported. */
int lf_manifest_load(const char *path, lf_diag *diag, lf_manifest **ret);
/* Same, from a buffer; `name` is used in messages in place of a file name. */
int lf_manifest_load_buffer(const char *name, const char *buf, size_t len, lf_diag *diag,
                            lf_manifest **ret);
void lf_manifest_free(lf_manifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_manifest *, lf_manifest_free);
#define _cleanup_manifest_ _cleanup_(lf_manifest_freep)

const lf_node *lf_manifest_find_node(const lf_manifest *m, const char *name);
/* The node whose management (PXE) MAC is mac, in any case or separator style. */
const lf_node *lf_manifest_find_mac(const lf_manifest *m, const char *mac);
const lf_template *lf_manifest_find_template(const lf_manifest *m, const char *name);
/* The disk policy in force for a node: its own when set, else the lab-wide one. */
const lf_disk_policy *lf_manifest_disk_policy(const lf_manifest *m, const lf_node *n);

/* "storage", "kvm", "login"; roles are printed joined with '+' in a fixed order (kvm, login,
 * storage). lf_role_parse accepts the names in any order, each at most once. */
const char *lf_role_name(lf_role r);
int lf_role_parse(const char *s, unsigned *ret_roles);
/* "login+storage" for a role set, written to buf. */
void lf_roles_format(unsigned roles, char *buf, size_t len);
const char *lf_wipe_policy_name(lf_wipe_policy p);
/* True when s is a valid node (host) name: lowercase letters, digits and '-', at most 63,
 * not starting or ending with '-' (the rule the manifest applies to <node name>). */
bool lf_manifest_name_valid(const char *s);

/* labforged's VM subsystem: the libvirt driver (virt.h) plugged into the daemon. It reconciles
 * migrations cut short by a restart, reports this host's VMs with their CPU use, and carries out
 * the leader's start, stop and migrate commands (the long ones in a worker thread, one at a
 * time, so the daemon's loop never waits on a guest). */
#pragma once

#include "daemon.h"
#include "manifest.h"

extern const lf_role_subsystem lf_vms_subsystem;

/* The lab's storage node (the first with the role), or NULL when VM disks are local overlays. */
const lf_node *lf_vms_storage_node(const lf_manifest *m);

/* Seconds a stop gives the guest to shut down before it is destroyed. */
#define LF_VMS_STOP_TIMEOUT_S 120
/* Seconds a migration may take before it is aborted. */
#define LF_VMS_MIGRATE_TIMEOUT_S 600

/* The libvirt URI under which this host's libvirtd reaches peer's for a peer-to-peer migration:
 * the local URI's driver over TCP to the peer's static management address (or its name),
 * "qemu+tcp://192.168.50.12/system". Local URIs of other drivers (test:///) have no peers:
 * -EOPNOTSUPP. */
int lf_vms_peer_uri(const char *local_uri, const lf_node *peer, char **ret);
/* The address a host's VM consoles listen on and migration streams go to: its static
 * management address, else (this host only) node.conf's bind_address. -ENOENT when it has
 * neither (a DHCP-addressed host cannot say where its consoles are reached). */
int lf_vms_host_address(const lf_node *n, const lf_node_conf *own_conf, char ret[static 16]);

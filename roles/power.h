/* Host power (DESIGN §6, issue 6): Wake-on-LAN magic packets to a host's management MAC, IPMI
 * through ipmitool when the manifest gives the host a BMC, and the power subsystem that powers
 * this node off when the leader says so. The leader confirms each action by membership. */
#pragma once

#include <stdint.h>

#include "cmd.h"
#include "daemon.h"
#include "diag.h"
#include "manifest.h"

#define LF_WOL_PORT 9
#define LF_WOL_PACKET_SIZE 102
/* Seconds between the power-off command's answer to the leader and the power-off itself, so
 * that the answer gets out. */
#define LF_POWER_OFF_DELAY_S 2

extern const lf_role_subsystem lf_power_subsystem;

/* The magic packet: six 0xff bytes, then the MAC sixteen times. -EINVAL for a bad MAC. */
int lf_wol_packet(const char *mac, uint8_t ret[static LF_WOL_PACKET_SIZE]);
/* Sends the magic packet for mac over UDP to addr:port (host byte order), a broadcast address
 * allowed. Problems go to diag. */
int lf_wol_send(const char *mac, uint32_t addr, uint16_t port, lf_diag *diag);
/* `ipmitool -I lanplus -H BMC [-U USER] [-f PASSWORD-FILE] chassis power OP` for the node. */
int lf_ipmi_cmd(const lf_node *n, const char *op, lf_cmd **ret);
/* Powers a host on: IPMI when it has a BMC, else Wake-on-LAN to its management MAC at the
 * management subnet's broadcast address. */
int lf_power_on(const lf_manifest *m, const lf_node *n, lf_diag *diag);

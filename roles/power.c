/* Wake-on-LAN, IPMI and the power subsystem; see power.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "power.h"

int lf_wol_packet(const char *mac, uint8_t ret[static LF_WOL_PACKET_SIZE]) {
        char canon[LF_MAC_STR_LEN + 1];
        uint8_t bytes[6];

        if (lf_mac_parse(mac, canon) < 0 ||
            sscanf(canon, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &bytes[0], &bytes[1], &bytes[2],
                   &bytes[3], &bytes[4], &bytes[5]) != 6)
                return -EINVAL;
        memset(ret, 0xff, 6);
        for (int i = 0; i < 16; i++)
                memcpy(ret + 6 + 6 * i, bytes, 6);
        return 0;
}

int lf_wol_send(const char *mac, uint32_t addr, uint16_t port, lf_diag *diag) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr)};
        uint8_t packet[LF_WOL_PACKET_SIZE];
        char where[16];
        int on = 1, r = 0;
        _cleanup_close_ int fd = -1;

        lf_ipv4_format(addr, where, sizeof(where));
        if (lf_wol_packet(mac, packet) < 0)
                return lf_diag_add(diag, NULL, 0, "'%s' is not a MAC address; no magic packet",
                                   mac);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)) < 0 ||
            sendto(fd, packet, sizeof(packet), 0, (struct sockaddr *)&sa, sizeof(sa)) !=
                    (ssize_t)sizeof(packet))
                r = -errno;
        if (r < 0)
                lf_diag_add(diag, NULL, 0, "cannot send the magic packet for %s to %s:%u: %s", mac,
                            where, (unsigned)port, strerror(-r));
        return r;
}

int lf_ipmi_cmd(const lf_node *n, const char *op, lf_cmd **ret) {
        _cleanup_cmd_ lf_cmd *c = lf_cmd_new("ipmitool");

        if (!c || lf_cmd_add_args(c, "-I", "lanplus", "-H", n->bmc, NULL) < 0 ||
            (n->bmc_user && lf_cmd_add_args(c, "-U", n->bmc_user, NULL) < 0) ||
            (n->bmc_password_file && lf_cmd_add_args(c, "-f", n->bmc_password_file, NULL) < 0) ||
            lf_cmd_add_args(c, "chassis", "power", op, NULL) < 0)
                return -ENOMEM;
        lf_cmd_set_timeout(c, 30 * 1000);
        *ret = TAKE_PTR(c);
        return 0;
}

int lf_power_on(const lf_manifest *m, const lf_node *n, lf_diag *diag) {
        _cleanup_cmd_ lf_cmd *c = NULL;
        lf_cmd_result res = {0};
        int r;

        if (!n->bmc)
                return lf_wol_send(n->mac, m->management.addr | ~lf_cidr_mask(m->management.prefix),
                                   LF_WOL_PORT, diag);
        if ((r = lf_ipmi_cmd(n, "on", &c)) < 0)
                return r;
        r = lf_cmd_run_ok(c, &res);
        if (r < 0)
                lf_diag_add(diag, NULL, 0, "%s: ipmitool at BMC %s cannot power it on: %s", n->name,
                            n->bmc, res.err && *res.err ? res.err : strerror(-r));
        lf_cmd_result_clear(&res);
        return r;
}

/* --- the power subsystem: this node's own power-off --- */

typedef struct power {
        lf_daemon *d;
        time_t off_at; /* 0: no power-off asked */
} power;

static int power_start(lf_daemon *d, void **ret_data) {
        power *p = calloc(1, sizeof(*p));
        if (!p)
                return log_oom();
        p->d = d;
        *ret_data = p;
        return 0;
}

/* The power-off command of node.conf as a command (split at blanks). */
static int off_cmd(const char *line, lf_cmd **ret) {
        _cleanup_free_ char *copy = strdup(line);
        _cleanup_cmd_ lf_cmd *c = NULL;
        char *save = NULL, *word;

        if (!copy)
                return -ENOMEM;
        word = strtok_r(copy, " \t", &save);
        if (!word || !(c = lf_cmd_new(word)))
                return -ENOMEM;
        while ((word = strtok_r(NULL, " \t", &save)))
                if (lf_cmd_add_arg(c, word) < 0)
                        return -ENOMEM;
        lf_cmd_set_timeout(c, 60 * 1000);
        *ret = TAKE_PTR(c);
        return 0;
}

static void power_tick(void *data) {
        power *p = data;
        const char *line = lf_daemon_conf(p->d)->power_off_command;
        _cleanup_cmd_ lf_cmd *c = NULL;
        lf_cmd_result res = {0};
        int r;

        if (!p->off_at || time(NULL) < p->off_at)
                return;
        p->off_at = 0;
        log_info("Powering off as the leader asked: %s", line);
        if ((r = off_cmd(line, &c)) < 0 || (r = lf_cmd_run_ok(c, &res)) < 0)
                log_error("Cannot power off with '%s': %s", line,
                          res.err && *res.err ? res.err : strerror(-r));
        lf_cmd_result_clear(&res);
}

static int power_command(void *data, const lf_msg_command *c, lf_diag *diag) {
        power *p = data;
        const char *self = lf_daemon_node(p->d)->name;

        if (c->action != LF_ACTION_POWER_OFF)
                return -EOPNOTSUPP;
        if (!streq(c->host, self))
                return lf_diag_add(diag, NULL, 0, "%s powers only itself off, not %s", self,
                                   c->host);
        p->off_at = time(NULL) + LF_POWER_OFF_DELAY_S;
        return 0;
}

const lf_role_subsystem lf_power_subsystem = {
        .name = "power",
        .start = power_start,
        .tick = power_tick,
        .command = power_command,
        .stop = free,
};

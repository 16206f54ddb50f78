/* Host power (roles/power.c): the Wake-on-LAN magic packet, sent for real over UDP on
 * loopback and received here, and the ipmitool command a host with a BMC is powered on with
 * (through the command runner's hook; nothing runs). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../../roles/power.h"
#include "test.h"

TEST(magic_packet) {
        uint8_t p[LF_WOL_PACKET_SIZE];

        ASSERT_EQ(lf_wol_packet("52-54-00-AB-cd-01", p), 0);
        for (int i = 0; i < 6; i++)
                ASSERT_EQ(p[i], 0xff);
        for (int k = 0; k < 16; k++) {
                const uint8_t *m = p + 6 + 6 * k;
                ASSERT_TRUE(m[0] == 0x52 && m[1] == 0x54 && m[2] == 0x00 && m[3] == 0xab &&
                            m[4] == 0xcd && m[5] == 0x01);
        }
        ASSERT_EQ(lf_wol_packet("52:54:00:ab:cd", p), -EINVAL);
        ASSERT_EQ(lf_wol_packet("not a mac", p), -EINVAL);
}

TEST(magic_packet_over_udp) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof(sa);
        uint8_t want[LF_WOL_PACKET_SIZE], got[LF_WOL_PACKET_SIZE + 16];
        struct timeval tv = {.tv_sec = 5};
        lf_diag d = {};
        int fd = socket(AF_INET, SOCK_DGRAM, 0);

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ASSERT_EQ(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ASSERT_EQ(lf_wol_send("52:54:00:21:30:03", INADDR_LOOPBACK, ntohs(sa.sin_port), &d), 0);
        ASSERT_EQ(recv(fd, got, sizeof(got), 0), LF_WOL_PACKET_SIZE);
        ASSERT_EQ(lf_wol_packet("52:54:00:21:30:03", want), 0);
        ASSERT_TRUE(memcmp(got, want, sizeof(want)) == 0);
        ASSERT_EQ(lf_wol_send("zz", INADDR_LOOPBACK, ntohs(sa.sin_port), &d), -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "'zz' is not a MAC address");
        lf_diag_clear(&d);
        close(fd);
}

static char recorded[512];

static int record(const char *const *argv, const char *input, size_t input_len, lf_cmd_result *ret,
                  void *userdata) {
        size_t n = 0;
        for (const char *const *a = argv; *a; a++)
                n += (size_t)snprintf(recorded + n, sizeof(recorded) - n, "%s%s",
                                      a == argv ? "" : " ", *a);
        ret->exit_status = *(int *)userdata;
        if (ret->exit_status)
                ret->err = strdup("Error: Unable to establish IPMI v2 / RMCP+ session");
        return 0;
}

TEST(ipmi_power_on) {
        lf_node n = {.name = (char *)"kvm7",
                     .bmc = (char *)"10.0.9.7",
                     .bmc_user = (char *)"admin",
                     .bmc_password_file = (char *)"/etc/labforge/bmc-kvm7"};
        lf_manifest m = {};
        int status = 0;
        lf_diag d = {};

        lf_cmd_set_hook(record, &status);
        ASSERT_EQ(lf_power_on(&m, &n, &d), 0);
        ASSERT_STREQ(recorded, "ipmitool -I lanplus -H 10.0.9.7 -U admin -f "
                               "/etc/labforge/bmc-kvm7 chassis power on");
        status = 1;
        ASSERT_EQ(lf_power_on(&m, &n, &d), -EIO);
        lf_cmd_set_hook(NULL, NULL);
        ASSERT_CONTAINS(d.msgs[0], "kvm7: ipmitool at BMC 10.0.9.7 cannot power it on: Error: "
                                   "Unable to establish");
        lf_diag_clear(&d);
}

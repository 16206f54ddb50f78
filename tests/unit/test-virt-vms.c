/* Tests of labforged's VM subsystem (roles/vms): where peers' libvirt and VM consoles are
 * reached. The subsystem's callbacks run inside labforged (tests/integration/cluster-*.sh). */
#include <errno.h>

#include "../../roles/vms.h"
#include "test.h"

TEST(peer_uri) {
        lf_node kvm2 = {.name = (char *)"kvm2", .address = 0xC0A8320C}; /* 192.168.50.12 */
        lf_node dhcp = {.name = (char *)"kvm3"};
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        char *none = NULL;

        ASSERT_EQ(lf_vms_peer_uri("qemu:///system", &kvm2, &a), 0);
        ASSERT_STREQ(a, "qemu+tcp://192.168.50.12/system");
        ASSERT_EQ(lf_vms_peer_uri("qemu+unix:///system?socket=/run/x", &kvm2, &b), 0);
        ASSERT_STREQ(b, "qemu+tcp://192.168.50.12/system");
        ASSERT_EQ(lf_vms_peer_uri("qemu:///system", &dhcp, &c), 0);
        ASSERT_STREQ(c, "qemu+tcp://kvm3/system");
        ASSERT_EQ(lf_vms_peer_uri("test:///default", &kvm2, &none), -EOPNOTSUPP);
        ASSERT_EQ(lf_vms_peer_uri("qemux:///system", &kvm2, &none), -EOPNOTSUPP);
        ASSERT_TRUE(none == NULL);
}

TEST(host_address) {
        lf_node stat = {.name = (char *)"kvm2", .address = 0x0A000002};
        lf_node dhcp = {.name = (char *)"kvm3"};
        lf_node_conf conf = {.has_bind_address = true, .bind_address = 0x0A000063};
        char addr[16] = "untouched";

        ASSERT_EQ(lf_vms_host_address(&stat, &conf, addr), 0);
        ASSERT_STREQ(addr, "10.0.0.2"); /* the manifest's address first */
        ASSERT_EQ(lf_vms_host_address(&dhcp, &conf, addr), 0);
        ASSERT_STREQ(addr, "10.0.0.99");
        strcpy(addr, "untouched");
        ASSERT_EQ(lf_vms_host_address(&dhcp, NULL, addr), -ENOENT);
        ASSERT_STREQ(addr, "untouched");
}

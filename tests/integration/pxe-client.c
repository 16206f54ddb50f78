/* A PXE client for tests/integration/dnsmasq-netns.sh: does what a PC's PXE firmware (or iPXE)
 * does on the wire up to the boot file name, and prints each answer. Compiled by the test.
 *
 *   pxe-client IFACE MAC ARCH [--ipxe] [--ciaddr ADDR] [--wait SECONDS]
 *
 * ARCH: bios (client arch 0), efi64 (7), efi-bc (9) or none (a plain DHCP client without PXE).
 * Sends a DHCPDISCOVER and prints every offer:
 *   offer server=S yiaddr=Y siaddr=N file=F pxeclient=0|1 menu=TYPE|- bootserver=B|-
 *         router=R|- dns=D|-
 * then, for each proxy DHCP offer (PXEClient, no address), asks for the boot file the way PXE
 * does on port 4011 (boot server discovery with the first menu entry; UEFI clients ask the
 * server the offer redirects them to) and prints
 *   boot server=S siaddr=N file=F
 * The interface needs an address (--ciaddr, the one the LAN's DHCP server would give). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DHCP_MAGIC 0x63825363u

struct bootp {
        uint8_t op, htype, hlen, hops;
        uint32_t xid;
        uint16_t secs, flags;
        uint32_t ciaddr, yiaddr, siaddr, giaddr;
        uint8_t chaddr[16];
        char sname[64];
        char file[128];
        uint32_t magic;
        uint8_t options[312];
} __attribute__((packed));

static uint8_t mac[6];
static int arch = -1; /* -1: not a PXE client */
static bool ipxe;
static uint32_t ciaddr; /* network order */

static void die(const char *what) {
        fprintf(stderr, "pxe-client: %s: %s\n", what, strerror(errno));
        exit(1);
}

static uint8_t *put(uint8_t *p, uint8_t code, const void *data, uint8_t len) {
        *p++ = code;
        *p++ = len;
        memcpy(p, data, len);
        return p + len;
}

/* The options a PXE ROM sends (PXE 2.1, RFC 4578), and iPXE's 175 when asked. */
static size_t build(struct bootp *m, uint32_t xid, uint8_t type, const uint8_t *opt43,
                    uint8_t opt43_len) {
        uint8_t *p = m->options;
        char vendor[64];

        memset(m, 0, sizeof(*m));
        m->op = 1;
        m->htype = 1;
        m->hlen = 6;
        m->xid = xid;
        m->flags = htons(0x8000);
        m->ciaddr = type == 3 ? ciaddr : 0;
        memcpy(m->chaddr, mac, 6);
        m->magic = htonl(DHCP_MAGIC);
        p = put(p, 53, &type, 1);
        if (arch >= 0) {
                uint8_t a[2] = {0, (uint8_t)arch}, undi[3] = {1, 2, 1}, guid[17] = {0};
                snprintf(vendor, sizeof(vendor), "PXEClient:Arch:%05d:UNDI:002001", arch);
                p = put(p, 60, vendor, (uint8_t)strlen(vendor));
                p = put(p, 93, a, 2);
                p = put(p, 94, undi, 3);
                p = put(p, 97, guid, 17);
        }
        if (ipxe) {
                uint8_t features[] = {19, 1, 1, 21, 1, 1}; /* HTTP, version */
                p = put(p, 175, features, sizeof(features));
                p = put(p, 77, "iPXE", 4);
        }
        if (opt43)
                p = put(p, 43, opt43, opt43_len);
        uint8_t params[] = {1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135, 175};
        p = put(p, 55, params, sizeof(params));
        *p++ = 255;
        return (size_t)(p - (uint8_t *)m);
}

/* Finds option code in an options area; returns its length or -1. */
static int find(const uint8_t *o, size_t len, uint8_t code, const uint8_t **ret) {
        for (size_t i = 0; i < len;) {
                if (o[i] == 0) {
                        i++;
                        continue;
                }
                if (o[i] == 255 || i + 1 >= len || i + 2 + o[i + 1] > len)
                        return -1;
                if (o[i] == code) {
                        *ret = o + i + 2;
                        return o[i + 1];
                }
                i += 2u + o[i + 1];
        }
        return -1;
}

/* The boot file: the BOOTP file field, or option 67 when the server put it there (dnsmasq does
 * when the client asks for option 67, as PXE ROMs do). */
static const char *boot_file(const struct bootp *m, size_t optlen) {
        static char f[256];
        const uint8_t *v;
        int len;
        if (m->file[0]) {
                snprintf(f, sizeof(f), "%.128s", m->file);
                return f;
        }
        if ((len = find(m->options, optlen, 67, &v)) > 0) {
                snprintf(f, sizeof(f), "%.*s", len, (const char *)v);
                return f;
        }
        return "-";
}

static const char *ip(uint32_t a) {
        static char b[4][16];
        static int n;
        n = (n + 1) % 4;
        inet_ntop(AF_INET, &a, b[n], sizeof(b[n]));
        return b[n];
}

static void sendto_port(int fd, const struct bootp *m, size_t len, uint32_t to, uint16_t port) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
        sa.sin_addr.s_addr = to;
        if (sendto(fd, m, len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("sendto");
}

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Receives replies to xid for wait_ms, calling fn for each until it returns true. */
static void receive(int fd, uint32_t xid, int wait_ms, bool (*fn)(const struct bootp *, size_t)) {
        long long end = now_ms() + wait_ms;
        for (long long left; (left = end - now_ms()) > 0;) {
                struct pollfd p = {fd, POLLIN, 0};
                struct bootp m;
                if (poll(&p, 1, (int)left) <= 0)
                        continue;
                ssize_t n = recv(fd, &m, sizeof(m), 0);
                size_t hdr = offsetof(struct bootp, options);
                if (n < (ssize_t)hdr || m.op != 2 || m.xid != xid || ntohl(m.magic) != DHCP_MAGIC ||
                    memcmp(m.chaddr, mac, 6) != 0)
                        continue;
                if (fn(&m, (size_t)n - hdr))
                        return;
        }
}

#define MAX_OFFERS 8
static struct {
        struct bootp m;
        size_t optlen;
} offers[MAX_OFFERS];
static int n_offers;

static bool on_offer(const struct bootp *m, size_t optlen) {
        const uint8_t *v;
        int len;
        char menu[16] = "-", bootserver[16] = "-";
        uint32_t server = 0;

        if ((len = find(m->options, optlen, 53, &v)) != 1 || v[0] != 2)
                return false;
        if (find(m->options, optlen, 54, &v) == 4)
                memcpy(&server, v, 4);
        bool pxeclient =
                (len = find(m->options, optlen, 60, &v)) >= 9 && memcmp(v, "PXEClient", 9) == 0;
        int l43 = find(m->options, optlen, 43, &v);
        if (l43 > 0) {
                const uint8_t *s;
                if (find(v, (size_t)l43, 9, &s) >= 3)
                        snprintf(menu, sizeof(menu), "%u", (unsigned)(s[0] << 8 | s[1]));
                if (find(v, (size_t)l43, 8, &s) >= 7) {
                        uint32_t a;
                        memcpy(&a, s + 3, 4);
                        snprintf(bootserver, sizeof(bootserver), "%s", ip(a));
                }
        }
        char router[16] = "-", dns[16] = "-";
        uint32_t a;
        if (find(m->options, optlen, 3, &v) >= 4 && memcpy(&a, v, 4))
                snprintf(router, sizeof(router), "%s", ip(a));
        if (find(m->options, optlen, 6, &v) >= 4 && memcpy(&a, v, 4))
                snprintf(dns, sizeof(dns), "%s", ip(a));
        printf("offer server=%s yiaddr=%s siaddr=%s file=%s pxeclient=%d menu=%s "
               "bootserver=%s router=%s dns=%s\n",
               ip(server), ip(m->yiaddr), ip(m->siaddr), boot_file(m, optlen), pxeclient, menu,
               bootserver, router, dns);
        if (n_offers < MAX_OFFERS) {
                offers[n_offers].m = *m;
                offers[n_offers].optlen = optlen;
                n_offers++;
        }
        return false; /* every offer within the wait */
}

static bool on_ack(const struct bootp *m, size_t optlen) {
        const uint8_t *v;
        uint32_t server = 0;
        if (find(m->options, optlen, 53, &v) != 1 || v[0] != 5)
                return false;
        if (find(m->options, optlen, 54, &v) == 4)
                memcpy(&server, v, 4);
        printf("boot server=%s siaddr=%s file=%s\n", ip(server), ip(m->siaddr),
               boot_file(m, optlen));
        return true;
}

/* The port 4011 step for one proxy offer. */
static void boot_request(int fd, const struct bootp *offer, size_t optlen, uint32_t xid,
                         int wait_ms) {
        const uint8_t *v, *s;
        int l43 = find(offer->options, optlen, 43, &v);
        uint8_t item[6] = {71, 4, 0, 0, 0, 0};
        uint32_t to = offer->siaddr;
        struct bootp m;
        size_t len;

        if (l43 > 0 && find(v, (size_t)l43, 9, &s) >= 3 && find(v, (size_t)l43, 8, &v) >= 7) {
                /* Boot server discovery: the first menu entry, at the listed boot server. */
                item[2] = s[0];
                item[3] = s[1];
                memcpy(&to, v + 3, 4);
                len = build(&m, xid, 3, item, sizeof(item));
        } else if (to != 0) {
                len = build(&m, xid, 3, NULL, 0);
        } else {
                return; /* the offer itself carries the file (discovery control 8) */
        }
        sendto_port(fd, &m, len, to, 4011);
        receive(fd, xid, wait_ms, on_ack);
}

int main(int argc, char **argv) {
        int wait_s = 3;

        if (argc < 4) {
                fprintf(stderr, "usage: pxe-client IFACE MAC bios|efi64|efi-bc|none [--ipxe] "
                                "[--ciaddr ADDR] [--wait S]\n");
                return 2;
        }
        if (sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
                   &mac[4], &mac[5]) != 6)
                return fprintf(stderr, "pxe-client: bad MAC %s\n", argv[2]), 2;
        arch = strcmp(argv[3], "bios") == 0     ? 0
               : strcmp(argv[3], "efi64") == 0  ? 7
               : strcmp(argv[3], "efi-bc") == 0 ? 9
                                                : -1;
        for (int i = 4; i < argc; i++) {
                if (strcmp(argv[i], "--ipxe") == 0)
                        ipxe = true;
                else if (strcmp(argv[i], "--ciaddr") == 0 && i + 1 < argc)
                        inet_pton(AF_INET, argv[++i], &ciaddr);
                else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc)
                        wait_s = atoi(argv[++i]);
                else
                        return fprintf(stderr, "pxe-client: bad argument %s\n", argv[i]), 2;
        }

        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(68)};
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, argv[1], (socklen_t)strlen(argv[1])) < 0 ||
            bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("socket");

        srand((unsigned)(time(NULL) ^ getpid()));
        uint32_t xid = (uint32_t)rand();
        struct bootp m;
        size_t len = build(&m, xid, 1, NULL, 0);
        sendto_port(fd, &m, len, INADDR_BROADCAST, 67);
        receive(fd, xid, wait_s * 1000, on_offer);
        for (int i = 0; i < n_offers; i++) {
                const uint8_t *v;
                int l = find(offers[i].m.options, offers[i].optlen, 60, &v);
                if (offers[i].m.yiaddr == 0 && l >= 9 && memcmp(v, "PXEClient", 9) == 0)
                        boot_request(fd, &offers[i].m, offers[i].optlen, xid, wait_s * 1000);
        }
        close(fd);
        return 0;
}

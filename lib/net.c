/* MAC and IPv4 helpers; see net.h. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

int lf_mac_parse(const char *s, char ret[static LF_MAC_STR_LEN + 1]) {
        char out[LF_MAC_STR_LEN + 1];

        if (!s || strlen(s) != LF_MAC_STR_LEN)
                return -EINVAL;
        for (int i = 0; i < LF_MAC_STR_LEN; i++) {
                if (i % 3 == 2) {
                        if (s[i] != ':' && s[i] != '-')
                                return -EINVAL;
                        out[i] = ':';
                } else {
                        if (!isxdigit((unsigned char)s[i]))
                                return -EINVAL;
                        out[i] = (char)tolower((unsigned char)s[i]);
                }
        }
        /* Separators must be consistent. */
        for (int i = 5; i < LF_MAC_STR_LEN; i += 3)
                if (s[i] != s[2])
                        return -EINVAL;
        out[LF_MAC_STR_LEN] = 0;
        memcpy(ret, out, sizeof(out));
        return 0;
}

int lf_ipv4_parse(const char *s, uint32_t *ret) {
        struct in_addr a;
        /* inet_pton accepts only dotted quad with 4 parts, which is what we want. */
        if (!s || inet_pton(AF_INET, s, &a) != 1)
                return -EINVAL;
        *ret = ntohl(a.s_addr);
        return 0;
}

int lf_cidr_parse(const char *s, bool allow_bare, lf_cidr *ret) {
        char buf[32];
        const char *slash;
        lf_cidr c = {};
        int r;

        if (!s || strlen(s) >= sizeof(buf))
                return -EINVAL;
        slash = strchr(s, '/');
        if (!slash) {
                if (!allow_bare)
                        return -EINVAL;
                r = lf_ipv4_parse(s, &c.addr);
                if (r < 0)
                        return r;
                c.prefix = 32;
                *ret = c;
                return 0;
        }
        memcpy(buf, s, (size_t)(slash - s));
        buf[slash - s] = 0;
        r = lf_ipv4_parse(buf, &c.addr);
        if (r < 0)
                return r;
        const char *p = slash + 1;
        if (!*p || strlen(p) > 2)
                return -EINVAL;
        unsigned n = 0;
        for (; *p; p++) {
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                n = n * 10 + (unsigned)(*p - '0');
        }
        if (n > 32)
                return -EINVAL;
        c.prefix = n;
        *ret = c;
        return 0;
}

uint32_t lf_cidr_mask(unsigned prefix) {
        return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

uint32_t lf_cidr_network(lf_cidr c) {
        return c.addr & lf_cidr_mask(c.prefix);
}

bool lf_cidr_contains(lf_cidr net, uint32_t addr) {
        return (addr & lf_cidr_mask(net.prefix)) == lf_cidr_network(net);
}

bool lf_cidr_overlap(lf_cidr a, lf_cidr b) {
        unsigned p = a.prefix < b.prefix ? a.prefix : b.prefix;
        return (a.addr & lf_cidr_mask(p)) == (b.addr & lf_cidr_mask(p));
}

uint64_t lf_cidr_size(lf_cidr c) {
        return 1ull << (32 - c.prefix);
}

void lf_ipv4_format(uint32_t addr, char *buf, size_t len) {
        snprintf(buf, len, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
                 addr & 0xff);
}

void lf_cidr_format(lf_cidr c, char *buf, size_t len) {
        char a[16];
        lf_ipv4_format(c.addr, a, sizeof(a));
        snprintf(buf, len, "%s/%u", a, c.prefix);
}

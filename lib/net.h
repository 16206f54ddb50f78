/* Addresses as manifests write them: MACs ("52:54:00:12:34:56", printed lowercase with colons)
 * and IPv4 in CIDR form ("10.10.0.0/16"), with the subnet arithmetic the planner needs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LF_MAC_STR_LEN 17

/* Accepts colon- or dash-separated hex in either case; writes the canonical lowercase form. */
int lf_mac_parse(const char *s, char ret[static LF_MAC_STR_LEN + 1]);

typedef struct lf_cidr {
        uint32_t addr; /* host byte order */
        unsigned prefix; /* 0..32 */
} lf_cidr;

/* "a.b.c.d/n"; without "/n" when allow_bare (prefix 32). */
int lf_cidr_parse(const char *s, bool allow_bare, lf_cidr *ret);
int lf_ipv4_parse(const char *s, uint32_t *ret);
uint32_t lf_cidr_mask(unsigned prefix);
/* Network address: addr with the host bits cleared. */
uint32_t lf_cidr_network(lf_cidr c);
bool lf_cidr_contains(lf_cidr net, uint32_t addr);
bool lf_cidr_overlap(lf_cidr a, lf_cidr b);
/* Number of addresses in the subnet (2^(32-prefix)). */
uint64_t lf_cidr_size(lf_cidr c);
void lf_ipv4_format(uint32_t addr, char *buf, size_t len);
/* "a.b.c.d/n" */
void lf_cidr_format(lf_cidr c, char *buf, size_t len);

/* The appliance's HTTP server on libmicrohttpd (docs/api.md): boot scripts and the node API
 * through api.c, and files of the images directory sent with sendfile, with byte ranges. */
#pragma once

#include <stdint.h>

#include "appliance.h"

/* Most connections served at once. */
#define LF_HTTP_MAX_CONNECTIONS 256

extern const lf_subsystem lf_subsystem_http;

/* A Range header against a file of size bytes. Returns 1 with the one satisfiable range in
 * *ret_start and *ret_len, 0 when the header is to be ignored (absent, malformed, several ranges:
 * the whole file is sent), -ERANGE when unsatisfiable (416). */
int lf_http_parse_range(const char *header, uint64_t size, uint64_t *ret_start, uint64_t *ret_len);

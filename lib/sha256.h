/* SHA-256 on OpenSSL's libcrypto, streaming or over a whole file, as lowercase hex. */
#pragma once

#include <stddef.h>

#include "macro.h"

#define LF_SHA256_HEX_LEN 64

typedef struct lf_sha256 lf_sha256;

lf_sha256 *lf_sha256_new(void);
void lf_sha256_free(lf_sha256 *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_sha256 *, lf_sha256_free);
#define _cleanup_sha256_ _cleanup_(lf_sha256_freep)

int lf_sha256_update(lf_sha256 *s, const void *data, size_t len);
/* Writes 64 hex digits and a NUL into ret_hex. */
int lf_sha256_final(lf_sha256 *s, char ret_hex[static LF_SHA256_HEX_LEN + 1]);

int lf_sha256_buffer(const void *data, size_t len, char ret_hex[static LF_SHA256_HEX_LEN + 1]);
int lf_sha256_file(const char *path, char ret_hex[static LF_SHA256_HEX_LEN + 1]);
/* True when s is exactly 64 hex digits (either case). */
int lf_sha256_hex_valid(const char *s);

/* Fetching what the installer needs (DESIGN §8 property 2): the role image, verified against
 * its SHA-256 before any disk is written, and small documents (manifest, plan, assignment)
 * from http(s):// URLs (libcurl) or local paths. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "macro.h"
#include "progress.h"

/* The verified streaming mode hashes the image in parts of this size. */
#define LF_FETCH_CHUNK (16u << 20)
/* Largest image accepted (and so at most 4096 parts). */
#define LF_FETCH_MAX_IMAGE (64ull << 30)
/* Largest manifest, plan or API answer fetched into memory. */
#define LF_FETCH_MAX_DOCUMENT (16u << 20)

typedef enum lf_fetch_mode {
        LF_FETCH_AUTO,   /* RAM when the image fits in the RAM budget, else streaming */
        LF_FETCH_RAM,    /* download into memory, verify, extract from memory */
        LF_FETCH_STREAM, /* verify in a first pass; a second pass hands out verified parts */
} lf_fetch_mode;

/* "auto", "ram", "stream"; -EINVAL for anything else. */
int lf_fetch_mode_from_string(const char *s, lf_fetch_mode *ret);

typedef struct lf_fetch_opts {
        lf_fetch_mode mode;
        const char *token; /* sent as "Authorization: Bearer TOKEN" to http(s) sources */
        /* Bytes the image may take in memory; 0: MemAvailable (of proc_root/meminfo) less a
         * quarter of it, and at least 256 MiB less. */
        uint64_t ram_budget;
        const char *proc_root; /* NULL: "/proc" */
        lf_progress *progress; /* byte progress of both passes; may be NULL */
} lf_fetch_opts;

typedef struct lf_image lf_image;

/* Pass 1: reads the whole image from source (http(s):// URL or path), computing its SHA-256
 * (and one per LF_FETCH_CHUNK part), keeping the bytes in memory in RAM mode. Writes nothing to
 * any disk. A hash that differs from sha256 (64 hex digits) gives -EBADMSG with diag naming
 * both hashes; a source that cannot be read, its negative errno (-EIO for HTTP errors). Only
 * on success is *ret set, to an image ready for lf_image_read(). */
int lf_image_fetch(const char *source, const char *sha256, const lf_fetch_opts *opts, lf_diag *diag,
                   lf_image **ret);
void lf_image_free(lf_image *img);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_image *, lf_image_free);
#define _cleanup_image_ _cleanup_(lf_image_freep)

bool lf_image_in_ram(const lf_image *img);
uint64_t lf_image_size(const lf_image *img);

/* The verified bytes, in order, as an lf_tarball_read_fn (userdata is the lf_image). In
 * streaming mode pass 2 reads the source again and hands out each part only once its SHA-256
 * equals pass 1's; a part that changed since gives -EBADMSG before any of its bytes are handed
 * out. Problems go to the diag set by lf_image_set_diag (the callback has no diag argument). */
int lf_image_read(void *img, const void **ret_buf, size_t *ret_len);
/* Where lf_image_read reports problems (it has no diag argument of its own). */
void lf_image_set_diag(lf_image *img, lf_diag *diag);

/* A small document (manifest, plan, API answer) from a URL or path, NUL-terminated, at most
 * LF_FETCH_MAX_DOCUMENT bytes. token may be NULL. Problems go to diag. */
int lf_fetch_document(const char *source, const char *token, lf_diag *diag, char **ret_buf,
                      size_t *ret_len);
/* POSTs a JSON body to url (Content-Type: application/json); 0 on a 2xx answer. */
int lf_http_post_json(const char *url, const char *token, const char *body, lf_diag *diag);
/* True for http:// and https:// sources (anything else is a local path). */
bool lf_fetch_is_url(const char *source);

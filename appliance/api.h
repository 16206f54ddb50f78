/* The appliance's HTTP API without the HTTP server (docs/api.md): boot scripts by node state,
 * the node API (inventory, assignment with the one-time token, manifest, progress, complete,
 * failed) and the parsers of its request bodies. http.c feeds it requests; tests and the fuzzer
 * call it directly. */
#pragma once

#include <stddef.h>

#include "appliance.h"
#include "diag.h"

struct json_object;

/* Largest request body accepted (413 beyond). */
#define LF_API_MAX_BODY (1u << 20)
#define LF_API_MAX_STEP 256
#define LF_API_MAX_MESSAGE 1024
#define LF_API_MAX_REASON 4096
#define LF_API_MAX_LOG (64u * 1024)

/* The file names, under /images/, of the installer netboot pair. */
#define LF_API_KERNEL "vmlinuz"
#define LF_API_INITRD "initramfs.cpio.gz"

typedef struct lf_api_response {
        unsigned status;
        const char *content_type;
        char *body; /* malloc'ed */
        size_t len;
} lf_api_response;

void lf_api_response_clear(lf_api_response *r);

typedef enum lf_api_body_kind {
        LF_API_BODY_NONE,     /* assignment: nothing, or {} */
        LF_API_BODY_PROGRESS, /* {"step", "percent", "message"?} */
        LF_API_BODY_COMPLETE, /* nothing, {} or {"message"} */
        LF_API_BODY_FAILED,   /* {"step", "message", "log"?} */
} lf_api_body_kind;

typedef struct lf_api_body {
        char *step, *message, *log; /* malloc'ed; NULL when absent */
        unsigned percent;
} lf_api_body;

/* Parses and checks a request body: valid JSON, an object, only the known keys, each of the
 * right type and within its limits. Problems go to diag naming the field ("request body:
 * percent: expected an integer, got a string"), -EINVAL returned, *ret untouched. Control
 * characters and NULs in strings are replaced by '?' (newlines and tabs are kept in log). */
int lf_api_parse_body(lf_api_body_kind kind, const char *buf, size_t len, lf_diag *diag,
                      lf_api_body *ret);
void lf_api_body_clear(lf_api_body *b);

/* Answers one request. method is "GET", "POST", "HEAD", ...; path is the URL path without
 * query; authorization is the Authorization header or NULL; body may be NULL when len is 0.
 * Always fills ret (errors are JSON answers with 4xx/5xx status); returns -ENOMEM only. */
int lf_api_handle(lf_appliance *app, const char *method, const char *path,
                  const char *authorization, const char *body, size_t len, lf_api_response *ret);

/* A JSON error answer {"error": ..., "problems": [...]} from diag (or msg when diag is empty). */
int lf_api_error(unsigned status, const lf_diag *diag, const char *msg, lf_api_response *ret);

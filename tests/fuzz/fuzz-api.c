/* libFuzzer target for the appliance's HTTP API: the request body parsers (every kind), the
 * Range header parser, and whole requests (method, path, Authorization, body: one per line,
 * the body last) against an appliance with a real node database. Every answer must be a
 * well-formed HTTP status with a body; parsed bodies must keep the limits of api.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../appliance/api.h"
#include "../../appliance/http.h"
#include "json.h"

static lf_appliance app;
static char dir[] = "/tmp/lf-fuzz-api-XXXXXX";

static void cleanup(void) {
        static const char *const files[] = {"labforge.db", "labforge.db-wal", "labforge.db-shm"};
        char p[sizeof(dir) + 32];

        lf_state_close(app.state);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
                unlink(p);
        }
        rmdir(dir);
}

static void setup(void) {
        static const char xml[] =
                "<lab name=\"f\"><appliance interface=\"eth0\" address=\"10.0.0.1/24\"/>"
                "<network><management subnet=\"10.0.0.0/24\"/></network>"
                "<node name=\"a\" role=\"kvm\" mac=\"52:54:00:00:00:01\"/></lab>";
        lf_diag d = {};

        if (!mkdtemp(dir) || lf_state_open(dir, &d, &app.state) < 0 ||
            lf_manifest_load_buffer("f.xml", xml, sizeof(xml) - 1, &d, &app.manifest) < 0 ||
            lf_state_sync(app.state, app.manifest, &d) < 0)
                abort();
        app.manifest_xml = strdup(xml);
        app.images_dir = dir;
        app.state_dir = dir;
        snprintf(app.base_url, sizeof(app.base_url), "http://10.0.0.1:8180");
        pthread_rwlock_init(&app.lock, NULL);
        atexit(cleanup);
}

static bool text_ok(const char *s, size_t max, bool multiline) {
        if (!s)
                return true;
        if (strlen(s) > max)
                return false;
        for (const char *p = s; *p; p++)
                if (((unsigned char)*p < 0x20 || *p == 0x7f) && !(multiline && strchr("\n\t", *p)))
                        return false;
        return true;
}

static void check_body(lf_api_body_kind kind, const char *buf, size_t len) {
        lf_api_body b = {};
        lf_diag d = {};
        int r = lf_api_parse_body(kind, buf, len, &d, &b);

        if (r < 0) {
                if (r != -EINVAL && r != -ENOMEM)
                        abort();
                if (r == -EINVAL && (d.n == 0 || !strneq(d.msgs[0], "request body", 12)))
                        abort();
        } else {
                if (d.n != 0 || b.percent > 100 || !text_ok(b.step, LF_API_MAX_STEP, false) ||
                    !text_ok(b.message, LF_API_MAX_REASON, false) ||
                    !text_ok(b.log, LF_API_MAX_LOG, true))
                        abort();
                if ((kind == LF_API_BODY_PROGRESS || kind == LF_API_BODY_FAILED) &&
                    (!b.step || !*b.step))
                        abort();
        }
        lf_api_body_clear(&b);
        lf_diag_clear(&d);
}

static void check_range(const char *header) {
        static const uint64_t sizes[] = {0, 1, 1000, UINT64_MAX};
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                uint64_t start = 7, len = 7;
                int r = lf_http_parse_range(header, sizes[i], &start, &len);
                if (r == 1 && (len == 0 || start >= sizes[i] || len > sizes[i] - start))
                        abort();
                if (r != 1 && (start != 7 || len != 7))
                        abort();
                if (r != 1 && r != 0 && r != -ERANGE)
                        abort();
        }
}

/* Splits off the next line of *p (of *left bytes) as a NUL-terminated string. */
static char *line(const char **p, size_t *left) {
        const char *nl = memchr(*p, '\n', *left);
        size_t n = nl ? (size_t)(nl - *p) : *left;
        char *s = strndup(*p, n);
        *p += nl ? n + 1 : n;
        *left -= nl ? n + 1 : n;
        return s;
}

static void check_request(const char *data, size_t size) {
        const char *p = data;
        size_t left = size;
        _cleanup_free_ char *method = line(&p, &left), *path = line(&p, &left);
        _cleanup_free_ char *auth = line(&p, &left);
        lf_api_response r = {};

        if (!method || !path || !auth)
                return;
        if (lf_api_handle(&app, method, path, *auth ? auth : NULL, p, left, &r) < 0)
                return;
        if (r.status < 200 || r.status > 599 || !r.body || strlen(r.body) != r.len)
                abort();
        if (streq(r.content_type, "application/json")) {
                json_object *o = json_tokener_parse(r.body);
                if (!o)
                        abort();
                json_object_put(o);
        }
        lf_api_response_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = strndup((const char *)data, size);

        if (!app.state)
                setup();
        check_body(LF_API_BODY_NONE, (const char *)data, size);
        check_body(LF_API_BODY_PROGRESS, (const char *)data, size);
        check_body(LF_API_BODY_COMPLETE, (const char *)data, size);
        check_body(LF_API_BODY_FAILED, (const char *)data, size);
        if (s)
                check_range(s);
        check_request((const char *)data, size);
        return 0;
}

/* The appliance's HTTP server on libmicrohttpd; see http.h. An epoll event loop on one thread
 * per CPU with a bounded number of connections: image downloads are sendfile calls the loop
 * interleaves, and node API calls are short SQLite transactions. (A thread per connection
 * measured slower with 16 concurrent downloads on 2 CPUs: tests/bench/image-serve.sh.) */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "http.h"
#include "log.h"

/* Seconds a connection may stay idle. */
#define IDLE_TIMEOUT_S 120

typedef struct request {
        char *body;
        size_t len, cap;
} request;

static void request_free(request *r) {
        if (r) {
                free(r->body);
                free(r);
        }
}

int lf_http_parse_range(const char *header, uint64_t size, uint64_t *ret_start, uint64_t *ret_len) {
        const char *p;
        char *end;
        uint64_t a, b;

        if (!header || !strneq(header, "bytes=", 6) || strchr(header, ','))
                return 0;
        p = header + 6;
        if (*p == '-') { /* the last N bytes */
                if (p[1] < '0' || p[1] > '9')
                        return 0;
                errno = 0;
                b = strtoull(p + 1, &end, 10);
                if (errno || *end)
                        return 0;
                if (b == 0 || size == 0)
                        return -ERANGE;
                if (b > size)
                        b = size;
                *ret_start = size - b;
                *ret_len = b;
                return 1;
        }
        if (*p < '0' || *p > '9')
                return 0;
        errno = 0;
        a = strtoull(p, &end, 10);
        if (errno || *end != '-')
                return 0;
        p = end + 1;
        if (*p == 0)
                b = UINT64_MAX;
        else {
                if (*p < '0' || *p > '9')
                        return 0;
                b = strtoull(p, &end, 10);
                if (errno || *end || b < a)
                        return 0;
        }
        if (a >= size)
                return -ERANGE;
        if (b >= size)
                b = size - 1;
        *ret_start = a;
        *ret_len = b - a + 1;
        return 1;
}

static bool image_name_ok(const char *s) {
        static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789._+-";
        size_t n = strlen(s);
        return n > 0 && n <= 255 && s[0] != '.' && strspn(s, allowed) == n;
}

static const char *client_address(struct MHD_Connection *c, char *buf, size_t len) {
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;

        if (sa && sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
                          (socklen_t)len);
        else if (sa && sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
                          (socklen_t)len);
        else
                snprintf(buf, len, "?");
        return buf;
}

static enum MHD_Result queue(struct MHD_Connection *c, const char *method, const char *url,
                             unsigned status, struct MHD_Response *resp) {
        char addr[INET6_ADDRSTRLEN];
        enum MHD_Result ret;

        if (!resp)
                return MHD_NO;
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        log_info("%s %s %.200s %u", client_address(c, addr, sizeof(addr)), method, url, status);
        return ret;
}

static enum MHD_Result queue_api(struct MHD_Connection *c, const char *method, const char *url,
                                 lf_api_response *r) {
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                lf_api_response_clear(r);
                return MHD_NO;
        }
        r->body = NULL; /* owned by the response now */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        return queue(c, method, url, r->status, resp);
}

static enum MHD_Result queue_error(struct MHD_Connection *c, const char *method, const char *url,
                                   unsigned status, const char *msg) {
        lf_api_response r = {};
        if (lf_api_error(status, NULL, msg, &r) < 0)
                return MHD_NO;
        return queue_api(c, method, url, &r);
}

static enum MHD_Result serve_file(lf_appliance *app, struct MHD_Connection *c, const char *method,
                                  const char *url) {
        const char *name = url + strlen("/images/");
        _cleanup_free_ char *path = NULL, *crange = NULL;
        _cleanup_close_ int fd = -1;
        struct MHD_Response *resp;
        uint64_t start = 0, len;
        unsigned status = 200;
        struct stat st;
        int r;

        if (!streq(method, "GET") && !streq(method, "HEAD"))
                return queue_error(c, method, url, 405, "use GET or HEAD for images");
        if (!image_name_ok(name))
                return queue_error(c, method, url, 404,
                                   "no such image; names are one path component of letters, "
                                   "digits and ._+-");
        if (asprintf(&path, "%s/%s", app->images_dir, name) < 0)
                return MHD_NO;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return queue_error(c, method, url, 404, "no such image in the images directory");
        len = (uint64_t)st.st_size;
        r = lf_http_parse_range(
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE), len, &start,
                &len);
        if (r == -ERANGE) {
                resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
                if (!resp || asprintf(&crange, "bytes */%" PRIu64, (uint64_t)st.st_size) < 0)
                        return MHD_NO;
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
                return queue(c, method, url, 416, resp);
        }
        if (r == 1) {
                status = 206;
                if (asprintf(&crange, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start,
                             start + len - 1, (uint64_t)st.st_size) < 0)
                        return MHD_NO;
        }
        /* The response owns fd from here; libmicrohttpd sends it with sendfile. */
        resp = MHD_create_response_from_fd_at_offset64(len, fd, start);
        if (!resp)
                return MHD_NO;
        fd = -1;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                streq(name, "images.json") ? "application/json"
                                                           : "application/octet-stream");
        if (crange)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
        return queue(c, method, url, status, resp);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
        lf_appliance *app = cls;
        request *req = *con_cls;
        lf_api_response resp = {};

        if (!req) {
                const char *cl;
                if (strneq(url, "/images/", 8))
                        return serve_file(app, c, method, url);
                /* Refuse a body announced too large before reading any of it. */
                cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (cl && strtoull(cl, NULL, 10) > LF_API_MAX_BODY)
                        return queue_error(c, method, url, 413,
                                           "request body larger than 1 MiB; nothing was read");
                req = calloc(1, sizeof(*req));
                if (!req)
                        return MHD_NO;
                *con_cls = req;
                return MHD_YES;
        }
        if (*upload_size > 0) {
                /* A chunked body that grows past the limit: drop the connection. */
                if (*upload_size > LF_API_MAX_BODY - req->len) {
                        log_warning("request body of %.200s over %u bytes: connection closed", url,
                                    LF_API_MAX_BODY);
                        return MHD_NO;
                }
                if (req->len + *upload_size > req->cap) {
                        size_t cap = req->cap ? req->cap : 4096;
                        while (cap < req->len + *upload_size)
                                cap *= 2;
                        char *b = realloc(req->body, cap);
                        if (!b)
                                return MHD_NO;
                        req->body = b;
                        req->cap = cap;
                }
                memcpy(req->body + req->len, upload, *upload_size);
                req->len += *upload_size;
                *upload_size = 0;
                return MHD_YES;
        }
        if (lf_api_handle(
                    app, method, url,
                    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                    req->body, req->len, &resp) < 0) {
                log_oom();
                return MHD_NO;
        }
        return queue_api(c, method, url, &resp);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
        request_free(*con_cls);
        *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) _printf_(2, 0);
static void mhd_log(void *cls, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                return;
        msg[strcspn(msg, "\n")] = 0;
        log_warning("http: %s", msg);
}

static int http_start(lf_appliance *app, void **ret) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons((uint16_t)app->port),
                .sin_addr.s_addr = htonl(app->listen_addr),
        };
        struct MHD_Daemon *d;
        char addr[INET_ADDRSTRLEN];

        d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
                                     MHD_USE_ERROR_LOG,
                             (uint16_t)app->port, NULL, NULL, handle, app,
                             MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)LF_HTTP_MAX_CONNECTIONS,
                             MHD_OPTION_THREAD_POOL_SIZE, (unsigned)sysconf(_SC_NPROCESSORS_ONLN),
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
        if (!d) {
                lf_ipv4_format(app->listen_addr, addr, sizeof(addr));
                return log_error_errno(-EADDRNOTAVAIL,
                                       "Cannot serve HTTP on %s port %u (address in use, or "
                                       "not one of this machine's?); see the messages above",
                                       addr, app->port);
        }
        *ret = d;
        return 0;
}

static void http_stop(void *data) {
        MHD_stop_daemon(data);
}

const lf_subsystem lf_subsystem_http = {
        .name = "http",
        .start = http_start,
        .stop = http_stop,
};

/* Image fetch and verification (DESIGN §8 property 2) against a small HTTP server run by the
 * test on 127.0.0.1: both modes hand out exactly the verified bytes; a changed byte is refused
 * before any command runs or any file is written; a part changed between the two streaming
 * passes is never handed out; HTTP errors and tokens; the appliance client's calls. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "cmd.h"
#include "../../installer/fetch.h"
#include "../../installer/install.h"
#include "json.h"
#include "sha256.h"
#include "tarball.h"
#include "test.h"

/* --- A tiny HTTP/1.1 server: one thread per connection, "Connection: close" --------------- */

#define MAX_RES 8
#define MAX_CONN 64
#define MAX_POSTS 128

typedef struct resource {
        const char *path;
        const char *data[2]; /* the n-th GET gets data[min(n, versions - 1)] */
        size_t len[2];
        unsigned versions, hits;
        bool no_length;    /* close-delimited body, no Content-Length */
        const char *token; /* required "Authorization: Bearer TOKEN", or NULL */
} resource;

typedef struct server {
        int fd;
        unsigned short port;
        pthread_t accept_thread, conns[MAX_CONN];
        size_t n_conns;
        pthread_mutex_t lock;
        resource res[MAX_RES];
        size_t n_res;
        char *posts[MAX_POSTS]; /* "PATH AUTHORIZATION BODY" */
        size_t n_posts;
        volatile bool stop;
} server;

/* Error answers as the appliance writes them (pretty JSON, docs/api.md). */
#define DENIED "{\n  \"error\": \"wrong token; ask again\"\n}\n"
#define NOT_FOUND "{\n  \"error\": \"nothing here\"\n}\n"
#define OK "{\n  \"ok\": true\n}\n"

typedef struct conn {
        server *s;
        int fd;
} conn;

static void send_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k <= 0)
                        return; /* the client went away (it may stop reading a bad image) */
                p += k;
                n -= (size_t)k;
        }
}

static void answer(int fd, unsigned status, const char *body, size_t len, bool with_length) {
        char head[256];
        int n = with_length ? snprintf(head, sizeof(head),
                                       "HTTP/1.1 %u X\r\nContent-Length: %zu\r\n"
                                       "Connection: close\r\n\r\n",
                                       status, len)
                            : snprintf(head, sizeof(head),
                                       "HTTP/1.1 %u X\r\nConnection: close\r\n\r\n", status);
        send_all(fd, head, (size_t)n);
        send_all(fd, body, len);
}

static void *serve_conn(void *userdata) {
        conn *c = userdata;
        server *s = c->s;
        char req[65536], method[16], path[512], auth[256] = "";
        size_t len = 0, clen = 0;
        char *end = NULL;

        while (!end && len < sizeof(req) - 1) {
                ssize_t k = recv(c->fd, req + len, sizeof(req) - 1 - len, 0);
                if (k <= 0)
                        goto out;
                len += (size_t)k;
                req[len] = 0;
                end = strstr(req, "\r\n\r\n");
        }
        if (!end || sscanf(req, "%15s %511s", method, path) != 2)
                goto out;
        for (char *h = strstr(req, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n")) {
                if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
                        clen = strtoul(h + 17, NULL, 10);
                if (strncasecmp(h + 2, "Authorization: ", 15) == 0)
                        sscanf(h + 17, "%255[^\r]", auth);
        }
        size_t have = len - (size_t)(end + 4 - req);
        char *body = calloc(1, clen + 1);
        memcpy(body, end + 4, have < clen ? have : clen);
        while (have < clen) {
                ssize_t k = recv(c->fd, body + have, clen - have, 0);
                if (k <= 0)
                        break;
                have += (size_t)k;
        }

        pthread_mutex_lock(&s->lock);
        if (streq(method, "POST") && s->n_posts < MAX_POSTS) {
                char *rec;
                ASSERT_TRUE(asprintf(&rec, "%s %s %s", path, *auth ? auth : "-", body) > 0);
                s->posts[s->n_posts++] = rec;
        }
        resource *res = NULL;
        for (size_t i = 0; i < s->n_res; i++)
                if (streq(s->res[i].path, path))
                        res = &s->res[i];
        const char *data = NULL;
        size_t dlen = 0;
        bool with_length = true;
        unsigned status = 200;
        if (res && res->token) {
                char want[300];
                snprintf(want, sizeof(want), "Bearer %s", res->token);
                if (!streq(auth, want))
                        status = 401;
        }
        if (res && status == 200) {
                unsigned v = res->hits < res->versions ? res->hits : res->versions - 1;
                res->hits++;
                data = res->data[v];
                dlen = res->len[v];
                with_length = !res->no_length;
        }
        pthread_mutex_unlock(&s->lock);
        free(body);

        if (status == 401)
                answer(c->fd, 401, DENIED, strlen(DENIED), true);
        else if (data)
                answer(c->fd, 200, data, dlen, with_length);
        else if (streq(method, "POST"))
                answer(c->fd, 200, OK, strlen(OK), true);
        else
                answer(c->fd, 404, NOT_FOUND, strlen(NOT_FOUND), true);
out:
        close(c->fd);
        free(c);
        return NULL;
}

static void *accept_loop(void *userdata) {
        server *s = userdata;
        while (!s->stop) {
                struct pollfd p = {.fd = s->fd, .events = POLLIN};
                if (poll(&p, 1, 50) <= 0)
                        continue;
                int fd = accept(s->fd, NULL, NULL);
                if (fd < 0)
                        continue;
                conn *c = malloc(sizeof(*c));
                *c = (conn){s, fd};
                pthread_mutex_lock(&s->lock);
                if (s->n_conns < MAX_CONN &&
                    pthread_create(&s->conns[s->n_conns], NULL, serve_conn, c) == 0)
                        s->n_conns++;
                else {
                        close(fd);
                        free(c);
                }
                pthread_mutex_unlock(&s->lock);
        }
        return NULL;
}

static void server_start(server *s) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        pthread_mutex_init(&s->lock, NULL);
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(s->fd >= 0);
        ASSERT_EQ(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ASSERT_EQ(listen(s->fd, 16), 0);
        ASSERT_EQ(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
        s->port = ntohs(a.sin_port);
        ASSERT_EQ(pthread_create(&s->accept_thread, NULL, accept_loop, s), 0);
}

static void server_stop(server *s) {
        s->stop = true;
        pthread_join(s->accept_thread, NULL);
        for (size_t i = 0; i < s->n_conns; i++)
                pthread_join(s->conns[i], NULL);
        close(s->fd);
        for (size_t i = 0; i < s->n_posts; i++)
                free(s->posts[i]);
        pthread_mutex_destroy(&s->lock);
}

/* Each test's server is static: a failing assertion leaves the test without server_stop(), and
 * the server's threads must not then point into a dead stack frame. */
static server *server_new(void) {
        static server servers[8];
        static size_t used;
        ASSERT_TRUE(used < ELEMENTSOF(servers));
        return &servers[used++];
}

static resource *serve(server *s, const char *path, const char *data, size_t len) {
        resource *r = &s->res[s->n_res++];
        *r = (resource){.path = path, .data = {data}, .len = {len}, .versions = 1};
        return r;
}

static char *url(const server *s, const char *path) {
        char *u;
        ASSERT_TRUE(asprintf(&u, "http://127.0.0.1:%u%s", s->port, path) > 0);
        return u;
}

/* --- The image: a tree with 40 MiB of incompressible data, so three 16 MiB parts ---------- */

#define BIG (40u << 20)

typedef struct image {
        char *path, *data, *big; /* the image, its bytes, the big file packed in it */
        size_t len;
        char sha[LF_SHA256_HEX_LEN + 1];
        char big_sha[LF_SHA256_HEX_LEN + 1];
} image;

static image image_make(void) {
        image im = {};
        char *dir, *small;
        ASSERT_TRUE(asprintf(&dir, "%s/tree", lf_test_tmpdir()) > 0);
        ASSERT_TRUE(asprintf(&im.big, "%s/big", dir) > 0);
        ASSERT_TRUE(asprintf(&small, "%s/etc", dir) > 0);
        ASSERT_TRUE(asprintf(&im.path, "%s/image.tar.zst", lf_test_tmpdir()) > 0);
        ASSERT_EQ(mkdir(dir, 0755), 0);
        ASSERT_EQ(mkdir(small, 0755), 0);

        char *buf = malloc(BIG);
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (size_t i = 0; i < BIG; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[i] = (char)x;
        }
        int fd = open(im.big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ASSERT_EQ(write(fd, buf, BIG), (long long)BIG);
        close(fd);
        ASSERT_EQ(lf_sha256_buffer(buf, BIG, im.big_sha), 0);
        free(buf);

        lf_diag diag = {};
        lf_tarball_pack_options o = {.clamp_mtime = 1700000000, .zstd_level = 1};
        ASSERT_EQ(lf_tarball_pack(dir, im.path, &o, &diag, NULL), 0);
        struct stat st;
        ASSERT_EQ(stat(im.path, &st), 0);
        im.len = (size_t)st.st_size;
        im.data = lf_test_read_file(im.path);
        ASSERT_EQ(lf_sha256_buffer(im.data, im.len, im.sha), 0);
        ASSERT_TRUE(im.len > 2 * LF_FETCH_CHUNK);
        free(dir);
        free(small);
        return im;
}

static void image_free(image *im) {
        free(im->path);
        free(im->big);
        free(im->data);
}

/* A copy of the image with one byte changed at offset `at`. */
static char *image_corrupt(const image *im, size_t at) {
        char *bad = malloc(im->len);
        memcpy(bad, im->data, im->len);
        bad[at] ^= 0x01;
        return bad;
}

static char *fresh_dir(const char *name) {
        char *d;
        ASSERT_TRUE(asprintf(&d, "%s/%s", lf_test_tmpdir(), name) > 0);
        ASSERT_EQ(mkdir(d, 0755), 0);
        return d;
}

static bool dir_is_empty(const char *d) {
        char *cmd;
        ASSERT_TRUE(asprintf(&cmd, "test -z \"$(ls -A '%s')\"", d) > 0);
        int r = system(cmd);
        free(cmd);
        return r == 0;
}

/* Fetches, extracts into a new directory and checks the big file arrived intact. */
static void fetch_and_check(const image *im, const char *source, lf_fetch_mode mode,
                            uint64_t budget, bool want_ram, const char *name) {
        _cleanup_free_ char *target = fresh_dir(name), *big = NULL;
        lf_fetch_opts o = {.mode = mode, .ram_budget = budget};
        lf_diag diag = {};
        lf_image *img = NULL;
        char sha[LF_SHA256_HEX_LEN + 1];

        int r = lf_image_fetch(source, im->sha, &o, &diag, &img);
        lf_diag_print(&diag);
        ASSERT_EQ(r, 0);
        ASSERT_EQ(lf_image_in_ram(img), want_ram);
        ASSERT_EQ(lf_image_size(img), im->len);
        lf_image_set_diag(img, &diag);
        r = lf_tarball_extract("image", target, lf_image_read, img, &diag, NULL);
        lf_diag_print(&diag);
        ASSERT_EQ(r, 0);
        lf_image_free(img);
        ASSERT_TRUE(asprintf(&big, "%s/big", target) > 0);
        ASSERT_EQ(lf_sha256_file(big, sha), 0);
        ASSERT_STREQ(sha, im->big_sha);
}

TEST(ram_and_streaming_modes_hand_out_the_verified_image) {
        image im = image_make();
        server *s = server_new();
        serve(s, "/image", im.data, im.len);
        serve(s, "/nolength", im.data, im.len)->no_length = true;
        server_start(s);
        _cleanup_free_ char *u = url(s, "/image"), *nl = url(s, "/nolength");

        fetch_and_check(&im, im.path, LF_FETCH_RAM, 0, true, "file-ram");
        fetch_and_check(&im, im.path, LF_FETCH_STREAM, 0, false, "file-stream");
        fetch_and_check(&im, u, LF_FETCH_RAM, 0, true, "http-ram");
        fetch_and_check(&im, u, LF_FETCH_STREAM, 0, false, "http-stream");
        /* auto: RAM when the image fits the budget, else streaming */
        fetch_and_check(&im, u, LF_FETCH_AUTO, 1ull << 30, true, "http-auto-fits");
        fetch_and_check(&im, u, LF_FETCH_AUTO, 20u << 20, false, "http-auto-too-big");
        /* An unknown length starts in RAM and falls back to streaming past the budget. */
        fetch_and_check(&im, nl, LF_FETCH_AUTO, 1ull << 30, true, "nolength-fits");
        fetch_and_check(&im, nl, LF_FETCH_AUTO, 20u << 20, false, "nolength-too-big");
        server_stop(s);
        image_free(&im);
}

static int record_command(const char *const *argv, const char *input, size_t input_len,
                          lf_cmd_result *ret, void *userdata) {
        (*(unsigned *)userdata)++;
        return 0;
}

/* Runs an install whose image is damaged: it must fail on the image with the command runner
 * never called and the target still empty. Returns the console output. */
static char *install_refused(const lf_settings *st, lf_fetch_mode mode, const char *target,
                             lf_diag *diag) {
        _cleanup_free_ char *inv =
                strdup(lf_test_path("tests/fixtures/planner/kvm-one-disk.inventory.json"));
        char *out = NULL;
        size_t out_len = 0;
        FILE *console = open_memstream(&out, &out_len);
        lf_install_opts o = {.settings = st,
                             .target = target,
                             .inventory = inv,
                             .fetch_mode = mode,
                             .console = console};
        unsigned commands = 0;
        const char *reason = NULL;

        lf_cmd_set_hook(record_command, &commands);
        int r = lf_install_run(&o, diag, &reason);
        lf_cmd_set_hook(NULL, NULL);
        fclose(console);
        ASSERT_EQ(r, -EBADMSG);
        ASSERT_EQ(commands, 0);
        ASSERT_TRUE(dir_is_empty(target));
        ASSERT_CONTAINS(reason, "the disks were not touched");
        ASSERT_CONTAINS(out, "labforge install plan for node kvm1");
        ASSERT_CONTAINS(out, "Downloading and verifying the image");
        return out;
}

TEST(a_changed_byte_is_refused_before_any_disk_write) {
        image im = image_make();
        _cleanup_free_ char *bad = image_corrupt(&im, 20u << 20);
        server *s = server_new();
        serve(s, "/bad", bad, im.len);
        server_start(s);
        _cleanup_free_ char *u = url(s, "/bad");

        static const lf_fetch_mode modes[] = {LF_FETCH_RAM, LF_FETCH_STREAM};
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                lf_fetch_opts o = {.mode = modes[i]};
                lf_diag diag = {};
                lf_image *img = NULL;
                ASSERT_EQ(lf_image_fetch(u, im.sha, &o, &diag, &img), -EBADMSG);
                ASSERT_TRUE(img == NULL);
                ASSERT_EQ(diag.n, 1);
                ASSERT_CONTAINS(diag.msgs[0], "SHA-256 is");
                ASSERT_CONTAINS(diag.msgs[0], im.sha);
                ASSERT_CONTAINS(diag.msgs[0], "nothing was written to any disk");
                lf_diag_clear(&diag);
        }

        /* The whole install: the plan is made, then the image is refused; the command runner
         * never ran anything (no wipefs, sfdisk, mdadm, ...) and the target stays empty. */
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                _cleanup_free_ char *target = fresh_dir(i ? "target-stream" : "target-ram");
                lf_settings st = {};
                ASSERT_EQ(lf_settings_set(&st, "manifest",
                                          lf_test_path("tests/fixtures/planner/labs/room.xml"),
                                          "--manifest"),
                          0);
                ASSERT_EQ(lf_settings_set(&st, "node", "kvm1", "--node"), 0);
                ASSERT_EQ(lf_settings_set(&st, "image", u, "--image"), 0);
                ASSERT_EQ(lf_settings_set(&st, "sha256", im.sha, "--sha256"), 0);
                lf_diag diag = {};
                ASSERT_EQ(lf_settings_check(&st, &diag), 0);
                _cleanup_free_ char *out = install_refused(&st, modes[i], target, &diag);
                ASSERT_CONTAINS(diag.msgs[0], "SHA-256 is");
                lf_diag_clear(&diag);
                lf_settings_clear(&st);
        }
        server_stop(s);
        image_free(&im);
}

TEST(a_part_changed_between_the_streaming_passes_is_never_handed_out) {
        image im = image_make();
        /* Pass 1 sees the right image, pass 2 one with a byte changed in the second part. */
        _cleanup_free_ char *bad = image_corrupt(&im, LF_FETCH_CHUNK + 12345);
        server *s = server_new();
        resource *r = serve(s, "/image", im.data, im.len);
        r->data[1] = bad;
        r->len[1] = im.len;
        r->versions = 2;
        server_start(s);
        _cleanup_free_ char *u = url(s, "/image"), *target = fresh_dir("target");
        _cleanup_free_ char *big = NULL, *got = NULL;
        lf_fetch_opts o = {.mode = LF_FETCH_STREAM};
        lf_diag diag = {};
        lf_image *img = NULL;

        ASSERT_EQ(lf_image_fetch(u, im.sha, &o, &diag, &img), 0);
        lf_image_set_diag(img, &diag);
        ASSERT_EQ(lf_tarball_extract("image", target, lf_image_read, img, &diag, NULL), -EBADMSG);
        lf_image_free(img);
        ASSERT_EQ(diag.n, 1);
        ASSERT_CONTAINS(diag.msgs[0], "changed after it was verified");
        /* Nothing of the changed part reached the disk: each byte of the big file is the
         * original's or a hole left when the entry was cut short, and the last byte that came
         * from the image lies within what the first, verified part holds. */
        ASSERT_TRUE(asprintf(&big, "%s/big", target) > 0);
        struct stat st;
        ASSERT_EQ(stat(big, &st), 0); /* the first part was extracted */
        _cleanup_free_ char *want = lf_test_read_file(im.big);
        got = lf_test_read_file(big);
        size_t n = (size_t)st.st_size < BIG ? (size_t)st.st_size : BIG, last = 0;
        for (size_t i = 0; i < n; i++) {
                if (got[i] != want[i])
                        ASSERT_EQ(got[i], 0);
                else if (want[i] != 0)
                        last = i;
        }
        ASSERT_TRUE(last > LF_FETCH_CHUNK / 2 && last < LF_FETCH_CHUNK);
        lf_diag_clear(&diag);
        server_stop(s);
        image_free(&im);
}

TEST(http_errors_name_the_status_and_what_the_server_said) {
        server *s = server_new();
        serve(s, "/secret", "hello", 5)->token = "t0k";
        server_start(s);
        _cleanup_free_ char *secret = url(s, "/secret"), *missing = url(s, "/missing");
        char *buf = NULL;
        size_t len = 0;
        lf_diag diag = {};

        ASSERT_EQ(lf_fetch_document(secret, "t0k", &diag, &buf, &len), 0);
        ASSERT_EQ(len, 5);
        ASSERT_STREQ(buf, "hello");
        free(buf);
        ASSERT_EQ(lf_fetch_document(secret, "wrong", &diag, &buf, &len), -EIO);
        ASSERT_EQ(diag.n, 1);
        ASSERT_CONTAINS(diag.msgs[0], "answered HTTP 401: wrong token; ask again; check the token");
        lf_diag_clear(&diag);
        ASSERT_EQ(lf_fetch_document(missing, NULL, &diag, &buf, &len), -EIO);
        ASSERT_CONTAINS(diag.msgs[0], "answered HTTP 404: nothing here");
        lf_diag_clear(&diag);

        /* An image source answering 404 fails without a hash comparison. */
        lf_image *img = NULL;
        ASSERT_EQ(lf_image_fetch(missing,
                                 "0000000000000000000000000000000000000000000000000000"
                                 "000000000000",
                                 NULL, &diag, &img),
                  -EIO);
        ASSERT_CONTAINS(diag.msgs[0], "answered HTTP 404");
        lf_diag_clear(&diag);
        server_stop(s);
}

TEST(appliance_mode_follows_the_node_api) {
        image im = image_make();
        _cleanup_free_ char *bad = image_corrupt(&im, 100);
        _cleanup_free_ char *manifest = lf_test_read_file("tests/fixtures/planner/labs/room.xml");
        server *s = server_new();
        server_start(s);
        _cleanup_free_ char *root = url(s, "/api/v1/nodes/52:54:00:00:02:01");
        _cleanup_free_ char *murl = url(s, "/api/v1/nodes/52:54:00:00:02:01/manifest");
        _cleanup_free_ char *iurl = url(s, "/images/kvm.tar.zst");
        static const char tok[] =
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        _cleanup_free_ char *assignment = NULL;
        ASSERT_TRUE(asprintf(&assignment,
                             "{\"mac\": \"52:54:00:00:02:01\", \"node\": \"kvm1\", \"role\": "
                             "\"kvm\", \"nodeid\": 2, \"token\": \"%s\", \"manifest_url\": "
                             "\"%s\", \"image\": {\"name\": \"kvm.tar.zst\", \"url\": \"%s\", "
                             "\"sha256\": \"%s\", \"size\": %zu}}",
                             tok, murl, iurl, im.sha, im.len) > 0);
        pthread_mutex_lock(&s->lock);
        serve(s, "/api/v1/nodes/52:54:00:00:02:01/assignment", assignment, strlen(assignment));
        serve(s, "/api/v1/nodes/52:54:00:00:02:01/manifest", manifest, strlen(manifest))->token =
                tok;
        serve(s, "/images/kvm.tar.zst", bad, im.len);
        pthread_mutex_unlock(&s->lock);

        _cleanup_free_ char *target = fresh_dir("target");
        lf_settings st = {};
        lf_diag diag = {};
        ASSERT_EQ(lf_settings_set(&st, "appliance", root, "--appliance"), 0);
        ASSERT_EQ(lf_settings_check(&st, &diag), 0);
        _cleanup_free_ char *out = install_refused(&st, LF_FETCH_AUTO, target, &diag);

        /* The inventory and progress for each step with the token, then "failed" with the
         * reason and the log. */
        pthread_mutex_lock(&s->lock);
        size_t progress = 0, failed = 0, inventory = 0;
        char want_auth[100];
        snprintf(want_auth, sizeof(want_auth), "Bearer %s", tok);
        for (size_t i = 0; i < s->n_posts; i++) {
                char path[256], auth[128];
                int body_at = 0;
                ASSERT_EQ(sscanf(s->posts[i], "%255s %127[^{]%n", path, auth, &body_at), 2);
                ASSERT_CONTAINS(auth, want_auth);
                lf_diag jd = {};
                lf_json_ctx ctx = {.diag = &jd, .file = "post"};
                _cleanup_json_ json_object *j = NULL;
                ASSERT_EQ(lf_json_parse(&ctx, s->posts[i] + body_at, strlen(s->posts[i] + body_at),
                                        &j),
                          0);
                if (strstr(path, "/inventory")) {
                        inventory++;
                        ASSERT_TRUE(json_object_object_get_ex(j, "disks", NULL));
                } else if (strstr(path, "/progress")) {
                        progress++;
                        ASSERT_TRUE(json_object_object_get_ex(j, "step", NULL));
                        ASSERT_TRUE(json_object_object_get_ex(j, "percent", NULL));
                } else {
                        ASSERT_CONTAINS(path, "/api/v1/nodes/52:54:00:00:02:01/failed");
                        failed++;
                        ASSERT_CONTAINS(s->posts[i], "Downloading and verifying the image");
                        ASSERT_CONTAINS(s->posts[i], "SHA-256 is");
                        ASSERT_CONTAINS(s->posts[i], "labforge: install failed");
                }
        }
        pthread_mutex_unlock(&s->lock);
        ASSERT_TRUE(progress >= 5); /* assignment, manifest, probe, plan, download (+ bytes) */
        ASSERT_EQ(failed, 1);
        ASSERT_EQ(inventory, 1);
        ASSERT_EQ(s->res[0].hits, 1); /* one assignment call: it hands out the token */

        lf_diag_clear(&diag);
        lf_settings_clear(&st);
        server_stop(s);
        image_free(&im);
}

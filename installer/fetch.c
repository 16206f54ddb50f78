/* Image and document fetching; see fetch.h. One reader serves both kinds of source: a local
 * file, or an HTTP transfer driven through libcurl's multi interface so that the caller pulls
 * data part by part (the transfer pauses while a part waits to be verified or consumed). */
#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fetch.h"
#include "fileio.h"
#include "json.h"
#include "sha256.h"

#define RAM_MIN_MARGIN (256ull << 20)
/* Pieces handed to the extractor from memory: small enough for smooth progress. */
#define RAM_PIECE (4u << 20)
#define CONNECT_TIMEOUT_S 30L
/* A transfer that moves no byte for this long is given up. */
#define STALL_TIMEOUT_S 60L

bool lf_fetch_is_url(const char *source) {
        return strneq(source, "http://", 7) || strneq(source, "https://", 8);
}

/* --- One pass over a source ----------------------------------------------------------------- */

typedef struct reader {
        const char *source;
        lf_diag *diag;
        int fd;
        CURLM *multi;
        CURL *easy;
        struct curl_slist *headers;
        char errbuf[CURL_ERROR_SIZE];
        bool done, paused;
        bool documents; /* keep error answers' bodies: they say what is wrong */
        CURLcode result;
        char *buf; /* bytes read and not yet taken */
        size_t len, cap, want;
} reader;

static size_t reader_write(char *data, size_t size, size_t nmemb, void *userdata) {
        reader *r = userdata;
        size_t n = size * nmemb;
        if (r->len >= r->want) {
                r->paused = true;
                return CURL_WRITEFUNC_PAUSE;
        }
        if (r->len + n > r->cap) {
                size_t cap = r->cap ? r->cap * 2 : 1u << 16;
                while (cap < r->len + n)
                        cap *= 2;
                char *b = realloc(r->buf, cap);
                if (!b)
                        return 0; /* curl then fails the transfer with a write error */
                r->buf = b;
                r->cap = cap;
        }
        memcpy(r->buf + r->len, data, n);
        r->len += n;
        return n;
}

static void reader_close(reader *r) {
        if (r->multi && r->easy)
                curl_multi_remove_handle(r->multi, r->easy);
        if (r->easy)
                curl_easy_cleanup(r->easy);
        if (r->multi)
                curl_multi_cleanup(r->multi);
        curl_slist_free_all(r->headers);
        if (r->fd >= 0)
                close(r->fd);
        free(r->buf);
        *r = (reader){.fd = -1};
}

/* Opens source for reading; with post_json (URLs only) the request is a POST of that body.
 * documents: an HTTP error answer's body is read too, for the message. */
static int reader_open(reader *r, const char *source, const char *token, const char *post_json,
                       bool documents, lf_diag *diag) {
        *r = (reader){.source = source, .diag = diag, .fd = -1, .documents = documents};
        if (!lf_fetch_is_url(source)) {
                r->fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (r->fd < 0) {
                        int e = -errno;
                        lf_diag_add(diag, source, 0, "cannot open: %s", strerror(-e));
                        return e;
                }
                return 0;
        }
        static bool inited;
        if (!inited) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return -ENOMEM;
                inited = true;
        }
        r->multi = curl_multi_init();
        r->easy = curl_easy_init();
        if (!r->multi || !r->easy)
                return -ENOMEM;
        if (token) {
                _cleanup_free_ char *h = NULL;
                if (asprintf(&h, "Authorization: Bearer %s", token) < 0)
                        return -ENOMEM;
                struct curl_slist *l = curl_slist_append(r->headers, h);
                if (!l)
                        return -ENOMEM;
                r->headers = l;
        }
        if (post_json) {
                struct curl_slist *l =
                        curl_slist_append(r->headers, "Content-Type: application/json");
                if (!l)
                        return -ENOMEM;
                r->headers = l;
                curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, post_json);
                curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, 10L);
        }
        curl_easy_setopt(r->easy, CURLOPT_URL, source);
        curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(r->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(r->easy, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(r->easy, CURLOPT_FAILONERROR, documents ? 0L : 1L);
        curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
        curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, STALL_TIMEOUT_S);
        curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
        curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
        curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, reader_write);
        curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "labforge-install");
        if (curl_multi_add_handle(r->multi, r->easy) != CURLM_OK)
                return -ENOMEM;
        return 0;
}

static int reader_http_failed(reader *r) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        if (r->result == CURLE_HTTP_RETURNED_ERROR)
                lf_diag_add(r->diag, r->source, 0, "the server answered HTTP %ld%s", code,
                            code == 401 || code == 403 ? "; check the token" : "");
        else
                lf_diag_add(r->diag, r->source, 0, "download failed: %s",
                            r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
        return r->result == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
}

/* A document's HTTP error answer, with what its body says: the "error" of a JSON answer
 * (docs/api.md), else its first line. */
static int reader_check_status(reader *r) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code < 400)
                return 0;
        _cleanup_json_ json_object *o = NULL;
        json_object *e = NULL;
        const char *why = NULL;
        size_t len = r->len < 300 ? r->len : 300;
        lf_diag ignored = {};
        lf_json_ctx ctx = {.diag = &ignored, .file = r->source};
        if (lf_json_parse(&ctx, r->buf ? r->buf : "", r->len, &o) >= 0 &&
            json_object_object_get_ex(o, "error", &e) && json_object_is_type(e, json_type_string))
                why = json_object_get_string(e);
        lf_diag_clear(&ignored);
        if (why)
                len = strlen(why);
        else {
                why = r->buf ? r->buf : "";
                len = strcspn(why, "\r\n") < len ? strcspn(why, "\r\n") : len;
        }
        lf_diag_add(r->diag, r->source, 0, "the server answered HTTP %ld%s%.*s%s", code,
                    len ? ": " : "", (int)(len > 300 ? 300 : len), why,
                    code == 401 || code == 403 ? "; check the token" : "");
        return -EIO;
}

/* Reads until at least `want` bytes wait in r->buf or the source ends (*ret_eof). */
static int reader_fill(reader *r, size_t want, bool *ret_eof) {
        int e;

        r->want = want;
        *ret_eof = false;
        if (r->fd >= 0) {
                if (r->cap < want) {
                        char *b = realloc(r->buf, want);
                        if (!b)
                                return -ENOMEM;
                        r->buf = b;
                        r->cap = want;
                }
                while (r->len < want) {
                        ssize_t n = read(r->fd, r->buf + r->len, want - r->len);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0) {
                                e = -errno;
                                lf_diag_add(r->diag, r->source, 0, "cannot read: %s", strerror(-e));
                                return e;
                        }
                        if (n == 0) {
                                *ret_eof = true;
                                break;
                        }
                        r->len += (size_t)n;
                }
                return 0;
        }
        while (r->len < want && !r->done) {
                int running;
                if (r->paused) {
                        r->paused = false;
                        curl_easy_pause(r->easy, CURLPAUSE_CONT);
                }
                if (curl_multi_perform(r->multi, &running) != CURLM_OK)
                        return -EIO;
                CURLMsg *m;
                int left;
                while ((m = curl_multi_info_read(r->multi, &left)))
                        if (m->msg == CURLMSG_DONE) {
                                r->done = true;
                                r->result = m->data.result;
                        }
                if (!r->done && r->len < want && !r->paused)
                        curl_multi_poll(r->multi, NULL, 0, 1000, NULL);
        }
        if (r->done && r->result != CURLE_OK)
                return reader_http_failed(r);
        if (r->done && r->documents && (e = reader_check_status(r)) < 0)
                return e;
        *ret_eof = r->done && r->len < want;
        return 0;
}

/* Drops the first n bytes of the buffer (they were taken). */
static void reader_take(reader *r, size_t n) {
        memmove(r->buf, r->buf + n, r->len - n);
        r->len -= n;
}

/* The size announced before the data: the file's, or the HTTP Content-Length; 0 if unknown. */
static uint64_t reader_expected_size(reader *r) {
        struct stat st;
        if (r->fd >= 0)
                return fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        curl_off_t len = -1;
        curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
        return len > 0 ? (uint64_t)len : 0;
}

/* --- The image ------------------------------------------------------------------------------ */

struct lf_image {
        char *source, *token;
        char sha256[LF_SHA256_HEX_LEN + 1];
        lf_progress *progress;
        lf_diag *diag;
        uint64_t size;
        char (*chunks)[LF_SHA256_HEX_LEN + 1]; /* streaming mode: each part's SHA-256 */
        size_t n_chunks;
        char *ram; /* RAM mode: the whole image */
        /* lf_image_read's position: bytes handed out, and pass 2's reader and part. */
        uint64_t handed;
        reader pass2;
        bool pass2_open;
        size_t chunk_index, chunk_len;
};

static uint64_t ram_budget(const lf_fetch_opts *o) {
        char path[4096];
        _cleanup_free_ char *buf = NULL;
        size_t len;
        uint64_t kib = 0;
        lf_diag ignored = {};

        if (o->ram_budget)
                return o->ram_budget;
        snprintf(path, sizeof(path), "%s/meminfo", o->proc_root ? o->proc_root : "/proc");
        if (lf_read_file(path, 1 << 20, &ignored, &buf, &len) < 0) {
                lf_diag_clear(&ignored);
                return 0; /* unknown: stream */
        }
        const char *p = strstr(buf, "MemAvailable:");
        if (!p || sscanf(p, "MemAvailable: %" SCNu64, &kib) != 1)
                return 0;
        uint64_t avail = kib * 1024, margin = avail / 4;
        if (margin < RAM_MIN_MARGIN)
                margin = RAM_MIN_MARGIN;
        return avail > margin ? avail - margin : 0;
}

void lf_image_free(lf_image *img) {
        if (!img)
                return;
        if (img->pass2_open)
                reader_close(&img->pass2);
        free(img->source);
        free(img->token);
        free(img->chunks);
        free(img->ram);
        free(img);
}

bool lf_image_in_ram(const lf_image *img) {
        return img->ram != NULL;
}

uint64_t lf_image_size(const lf_image *img) {
        return img->size;
}

void lf_image_set_diag(lf_image *img, lf_diag *diag) {
        img->diag = diag;
}

static int add_chunk_hash(lf_image *img, const char *data, size_t len) {
        if (img->n_chunks >= LF_FETCH_MAX_IMAGE / LF_FETCH_CHUNK)
                return -EFBIG;
        void *c = realloc(img->chunks, (img->n_chunks + 1) * sizeof(*img->chunks));
        if (!c)
                return -ENOMEM;
        img->chunks = c;
        return lf_sha256_buffer(data, len, img->chunks[img->n_chunks++]);
}

/* Pass 1 over an open reader: hashes, and keeps the bytes when keep_ram. */
static int image_pass1(lf_image *img, reader *r, bool keep_ram, uint64_t budget, lf_diag *diag,
                       char ret_hex[static LF_SHA256_HEX_LEN + 1]) {
        _cleanup_sha256_ lf_sha256 *whole = lf_sha256_new();
        size_t ram_cap = 0;
        uint64_t expected = 0;
        bool eof = false, first = true;
        int e;

        if (!whole)
                return -ENOMEM;
        while (!eof) {
                e = reader_fill(r, LF_FETCH_CHUNK, &eof);
                if (e < 0)
                        return e;
                if (first) {
                        first = false;
                        expected = reader_expected_size(r);
                        if (expected > LF_FETCH_MAX_IMAGE)
                                return lf_diag_add(diag, img->source, 0,
                                                   "is larger than the %llu GiB an image may be",
                                                   LF_FETCH_MAX_IMAGE >> 30),
                                       -EFBIG;
                        /* AUTO decided by the announced size; unknown sizes start in RAM and
                         * fall back to streaming once past the budget. */
                        if (keep_ram && expected > budget)
                                keep_ram = false;
                }
                size_t n = r->len < LF_FETCH_CHUNK ? r->len : LF_FETCH_CHUNK;
                if (n == 0)
                        break;
                if (img->size + n > LF_FETCH_MAX_IMAGE)
                        return lf_diag_add(diag, img->source, 0,
                                           "is larger than the %llu GiB an image may be",
                                           LF_FETCH_MAX_IMAGE >> 30),
                               -EFBIG;
                e = lf_sha256_update(whole, r->buf, n);
                if (e >= 0)
                        e = add_chunk_hash(img, r->buf, n);
                if (e < 0)
                        return e;
                if (keep_ram && img->size + n > budget) {
                        keep_ram = false;
                        free(img->ram);
                        img->ram = NULL;
                }
                if (keep_ram) {
                        if (img->size + n > ram_cap) {
                                size_t cap = expected >= img->size + n ? (size_t)expected
                                                                       : (img->size + n) * 2;
                                if (cap > budget)
                                        cap = (size_t)budget;
                                char *b = realloc(img->ram, cap);
                                if (!b)
                                        return -ENOMEM;
                                img->ram = b;
                                ram_cap = cap;
                        }
                        memcpy(img->ram + img->size, r->buf, n);
                }
                img->size += n;
                reader_take(r, n);
                if (img->progress)
                        lf_progress_bytes(img->progress, img->size,
                                          expected ? expected : img->size);
        }
        if (keep_ram && !img->ram) {
                img->ram = malloc(1); /* an empty image still counts as held in RAM */
                if (!img->ram)
                        return -ENOMEM;
        }
        return lf_sha256_final(whole, ret_hex);
}

int lf_image_fetch(const char *source, const char *sha256, const lf_fetch_opts *opts, lf_diag *diag,
                   lf_image **ret) {
        static const lf_fetch_opts defaults = {};
        _cleanup_(lf_image_freep) lf_image *img = NULL;
        char hex[LF_SHA256_HEX_LEN + 1];
        reader r;
        int e;

        if (!opts)
                opts = &defaults;
        if (!lf_sha256_hex_valid(sha256))
                return lf_diag_add(diag, NULL, 0, "'%s' is not a SHA-256 (64 hex digits)", sha256);
        img = calloc(1, sizeof(*img));
        if (!img || !(img->source = strdup(source)) ||
            (opts->token && !(img->token = strdup(opts->token))))
                return -ENOMEM;
        for (size_t i = 0; i <= LF_SHA256_HEX_LEN; i++)
                img->sha256[i] =
                        (char)(sha256[i] >= 'A' && sha256[i] <= 'F' ? sha256[i] + 32 : sha256[i]);
        img->progress = opts->progress;
        img->diag = diag;

        uint64_t budget = opts->mode == LF_FETCH_STREAM ? 0 : ram_budget(opts);
        if (opts->mode == LF_FETCH_RAM && budget == 0)
                budget = LF_FETCH_MAX_IMAGE;
        e = reader_open(&r, source, opts->token, NULL, false, diag);
        if (e >= 0)
                e = image_pass1(img, &r, opts->mode != LF_FETCH_STREAM, budget, diag, hex);
        reader_close(&r);
        if (e < 0)
                return e;
        if (opts->mode == LF_FETCH_RAM && !img->ram)
                return lf_diag_add(diag, source, 0,
                                   "does not fit in memory (%" PRIu64 " bytes available for it); "
                                   "use the streaming mode",
                                   budget),
                       -ENOMEM;
        if (!streq(hex, img->sha256)) {
                lf_diag_add(diag, source, 0,
                            "SHA-256 is %s, expected %s: the image is damaged or not the one "
                            "asked for; nothing was written to any disk",
                            hex, img->sha256);
                return -EBADMSG;
        }
        *ret = TAKE_PTR(img);
        return 0;
}

static void report_handed(lf_image *img) {
        if (img->progress)
                lf_progress_bytes(img->progress, img->handed, img->size);
}

int lf_image_read(void *userdata, const void **ret_buf, size_t *ret_len) {
        lf_image *img = userdata;
        bool eof;
        int e;

        if (img->ram) {
                size_t n =
                        img->size - img->handed < RAM_PIECE ? img->size - img->handed : RAM_PIECE;
                *ret_buf = img->ram + img->handed;
                *ret_len = n;
                img->handed += n;
                report_handed(img);
                return 0;
        }
        if (!img->pass2_open) {
                e = reader_open(&img->pass2, img->source, img->token, NULL, false, img->diag);
                img->pass2_open = true;
                if (e < 0)
                        return e;
        }
        reader *r = &img->pass2;
        if (img->chunk_len) { /* the previous part was consumed */
                reader_take(r, img->chunk_len);
                img->chunk_len = 0;
        }
        if (img->chunk_index == img->n_chunks) {
                e = reader_fill(r, 1, &eof);
                if (e < 0)
                        return e;
                if (r->len > 0)
                        goto changed;
                *ret_len = 0;
                return 0;
        }
        e = reader_fill(r, LF_FETCH_CHUNK, &eof);
        if (e < 0)
                return e;
        size_t n = r->len < LF_FETCH_CHUNK ? r->len : LF_FETCH_CHUNK;
        char hex[LF_SHA256_HEX_LEN + 1];
        e = lf_sha256_buffer(r->buf, n, hex);
        if (e < 0)
                return e;
        if (!streq(hex, img->chunks[img->chunk_index]))
                goto changed;
        img->chunk_index++;
        img->chunk_len = n;
        img->handed += n;
        *ret_buf = r->buf;
        *ret_len = n;
        report_handed(img);
        return 0;

changed:
        lf_diag_add(img->diag, img->source, 0,
                    "changed after it was verified (bytes from %" PRIu64 " on differ); stopped "
                    "before writing them; make sure the image is not replaced during installs",
                    img->handed);
        return -EBADMSG;
}

/* --- Documents and events ------------------------------------------------------------------- */

int lf_fetch_document(const char *source, const char *token, lf_diag *diag, char **ret_buf,
                      size_t *ret_len) {
        reader r;
        bool eof = false;
        int e;

        if (!lf_fetch_is_url(source))
                return lf_read_file(source, LF_FETCH_MAX_DOCUMENT, diag, ret_buf, ret_len);
        e = reader_open(&r, source, token, NULL, true, diag);
        while (e >= 0 && !eof && r.len <= LF_FETCH_MAX_DOCUMENT)
                e = reader_fill(&r, LF_FETCH_MAX_DOCUMENT + 1, &eof);
        if (e >= 0 && r.len > LF_FETCH_MAX_DOCUMENT) {
                lf_diag_add(diag, source, 0, "is larger than %u bytes; refusing it",
                            LF_FETCH_MAX_DOCUMENT);
                e = -EFBIG;
        }
        if (e >= 0) {
                char *b = realloc(r.buf, r.len + 1);
                if (!b)
                        e = -ENOMEM;
                else {
                        b[r.len] = 0;
                        *ret_buf = b;
                        *ret_len = r.len;
                        r.buf = NULL;
                }
        }
        reader_close(&r);
        return e;
}

int lf_http_post_json(const char *url, const char *token, const char *body, lf_diag *diag) {
        reader r;
        bool eof = false;
        int e;

        if (!lf_fetch_is_url(url))
                return lf_diag_add(diag, url, 0, "is not an http(s) URL");
        e = reader_open(&r, url, token, body, true, diag);
        /* The answer is read and dropped; only the status matters. */
        while (e >= 0 && !eof) {
                e = reader_fill(&r, 1 << 16, &eof);
                r.len = 0;
        }
        reader_close(&r);
        return e;
}

int lf_fetch_mode_from_string(const char *s, lf_fetch_mode *ret) {
        static const char *const names[] = {
                [LF_FETCH_AUTO] = "auto", [LF_FETCH_RAM] = "ram", [LF_FETCH_STREAM] = "stream"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (s && streq(s, names[i])) {
                        *ret = (lf_fetch_mode)i;
                        return 0;
                }
        return -EINVAL;
}

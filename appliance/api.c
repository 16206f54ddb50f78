/* The appliance's HTTP API without the HTTP server; see api.h and docs/api.md. Every refusal
 * is decided before the state is touched, and the state's transitions check again atomically,
 * so a refused request changes nothing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "sha256.h"

/* Largest images.json read. */
#define IMAGES_JSON_MAX (1u << 20)

void lf_api_response_clear(lf_api_response *r) {
        free(r->body);
        r->body = NULL;
        r->len = 0;
}

void lf_api_body_clear(lf_api_body *b) {
        free(b->step);
        free(b->message);
        free(b->log);
        *b = (lf_api_body){};
}

static int respond(lf_api_response *ret, unsigned status, const char *type, char *body) {
        if (!body)
                return -ENOMEM;
        ret->status = status;
        ret->content_type = type;
        ret->body = body;
        ret->len = strlen(body);
        return 0;
}

static int respond_json(lf_api_response *ret, unsigned status, json_object *obj) {
        return respond(ret, status, "application/json", obj ? lf_json_to_string(obj) : NULL);
}

int lf_api_error(unsigned status, const lf_diag *diag, const char *msg, lf_api_response *ret) {
        _cleanup_json_ json_object *o = json_object_new_object(), *problems = NULL;

        problems = json_object_new_array();
        if (!o || !problems)
                return -ENOMEM;
        for (size_t i = 0; diag && i < diag->n; i++)
                if (lf_json_append(problems, json_object_new_string(diag->msgs[i])) < 0)
                        return -ENOMEM;
        if (json_object_array_length(problems) == 0 &&
            lf_json_append(problems, json_object_new_string(msg)) < 0)
                return -ENOMEM;
        if (lf_json_add(o, "error", json_object_get(json_object_array_get_idx(problems, 0))) < 0 ||
            lf_json_add(o, "problems", TAKE_PTR(problems)) < 0)
                return -ENOMEM;
        return respond_json(ret, status, o);
}

static int error_msg(lf_api_response *ret, unsigned status, const char *fmt, ...) _printf_(3, 4);
static int error_msg(lf_api_response *ret, unsigned status, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return lf_api_error(status, NULL, msg, ret);
}

/* The HTTP status for a state transition's error. */
static unsigned status_of(int r) {
        switch (r) {
        case -EINVAL:
                return 400;
        case -EACCES:
                return 403;
        case -ENOENT:
                return 404;
        case -EEXIST:
        case -EBUSY:
                return 409;
        default:
                return 500;
        }
}

static int state_error(lf_api_response *ret, int r, lf_diag *diag) {
        if (r == -ENOMEM)
                return r;
        if (diag->n == 0)
                return error_msg(ret, 500, "internal error: %s; see the appliance's log",
                                 strerror(-r));
        return lf_api_error(status_of(r), diag, NULL, ret);
}

/* --- request bodies ------------------------------------------------------------------------ */

#define BODY_NAME "request body"

/* A string field within limits, copied with control characters (and NUL) replaced by '?':
 * installers report what tools printed, and a stray escape must neither lose the report nor
 * reach an admin's terminal. Newlines and tabs stay in multiline fields. */
static int get_text(const lf_json_ctx *ctx, json_object *o, const char *key, bool required,
                    size_t min, size_t max, bool multiline, char **ret) {
        const char *s = NULL;
        size_t len;
        char *copy;
        int r;

        r = lf_json_get_string(ctx, o, "", key, required, &s);
        if (r < 0 || !s)
                return r;
        len = (size_t)json_object_get_string_len(json_object_object_get(o, key));
        if (len < min || len > max)
                return lf_diag_add(ctx->diag, ctx->file, 0,
                                   "%s: must be %zu to %zu bytes long, not %zu", key, min, max,
                                   len);
        copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                bool keep = c >= 0x20 ? c != 0x7f : multiline && (c == '\n' || c == '\t');
                copy[i] = keep ? (char)c : '?';
        }
        copy[len] = 0;
        *ret = copy;
        return 0;
}

static void text(const lf_json_ctx *ctx, json_object *o, const char *key, bool required, size_t min,
                 size_t max, bool multiline, char **ret, bool *oom) {
        if (get_text(ctx, o, key, required, min, max, multiline, ret) == -ENOMEM)
                *oom = true;
}

static bool blank(const char *buf, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (!strchr(" \t\r\n", buf[i]))
                        return false;
        return true;
}

int lf_api_parse_body(lf_api_body_kind kind, const char *buf, size_t len, lf_diag *diag,
                      lf_api_body *ret) {
        static const char *const keys_none[] = {NULL};
        static const char *const keys_progress[] = {"step", "percent", "message", NULL};
        static const char *const keys_complete[] = {"message", NULL};
        static const char *const keys_failed[] = {"step", "message", "log", NULL};
        lf_json_ctx ctx = {diag, BODY_NAME};
        _cleanup_json_ json_object *root = NULL;
        lf_api_body b = {};
        size_t problems = diag->n;
        int64_t percent = 0;
        bool oom = false;
        int r;

        if (len > LF_API_MAX_BODY)
                return lf_diag_add(diag, BODY_NAME, 0, "larger than %u bytes", LF_API_MAX_BODY);
        if (!buf || blank(buf, len)) {
                if (kind == LF_API_BODY_PROGRESS || kind == LF_API_BODY_FAILED)
                        return lf_diag_add(diag, BODY_NAME, 0,
                                           "empty; send a JSON object (see docs/api.md)");
                *ret = b;
                return 0;
        }
        r = lf_json_parse(&ctx, buf, len, &root);
        if (r < 0)
                return r;
        r = lf_json_expect_object(&ctx, root, "");
        if (r < 0)
                return r;
        /* Unknown keys and bad fields are all reported at once. */
        lf_json_check_keys(&ctx, root, "",
                           kind == LF_API_BODY_PROGRESS   ? keys_progress
                           : kind == LF_API_BODY_COMPLETE ? keys_complete
                           : kind == LF_API_BODY_FAILED   ? keys_failed
                                                          : keys_none);
        switch (kind) {
        case LF_API_BODY_PROGRESS:
                text(&ctx, root, "step", true, 1, LF_API_MAX_STEP, false, &b.step, &oom);
                lf_json_get_int(&ctx, root, "", "percent", true, 0, 100, &percent);
                text(&ctx, root, "message", false, 0, LF_API_MAX_MESSAGE, false, &b.message, &oom);
                b.percent = (unsigned)percent;
                break;
        case LF_API_BODY_COMPLETE:
                text(&ctx, root, "message", false, 0, LF_API_MAX_MESSAGE, false, &b.message, &oom);
                break;
        case LF_API_BODY_FAILED:
                text(&ctx, root, "step", true, 1, LF_API_MAX_STEP, false, &b.step, &oom);
                text(&ctx, root, "message", true, 1, LF_API_MAX_REASON, false, &b.message, &oom);
                text(&ctx, root, "log", false, 0, LF_API_MAX_LOG, true, &b.log, &oom);
                break;
        case LF_API_BODY_NONE:
                break;
        }
        if (oom || diag->n > problems) {
                lf_api_body_clear(&b);
                return oom ? -ENOMEM : -EINVAL;
        }
        *ret = b;
        return 0;
}

/* --- routing helpers ----------------------------------------------------------------------- */

/* Copies the MAC at the start of s (17 characters, canonical form only) into mac and returns
 * what follows it, or NULL. */
static const char *take_mac(const char *s, char mac[static LF_MAC_STR_LEN + 1]) {
        char canon[LF_MAC_STR_LEN + 1];

        if (strnlen(s, LF_MAC_STR_LEN) < LF_MAC_STR_LEN)
                return NULL;
        memcpy(mac, s, LF_MAC_STR_LEN);
        mac[LF_MAC_STR_LEN] = 0;
        if (lf_mac_parse(mac, canon) < 0 || !streq(mac, canon))
                return NULL;
        return s + LF_MAC_STR_LEN;
}

/* The token of "Authorization: Bearer <64 hex digits>", or NULL. */
static const char *bearer(const char *authorization) {
        const char *t;

        if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
                return NULL;
        t = authorization + 7;
        while (*t == ' ')
                t++;
        if (strlen(t) != LF_STATE_TOKEN_LEN || !lf_sha256_hex_valid(t))
                return NULL;
        return t;
}

static int no_token(const char *authorization, lf_api_response *ret) {
        return error_msg(ret, 401,
                         "%s; send 'Authorization: Bearer TOKEN' with the token of the "
                         "assignment answer",
                         authorization ? "malformed Authorization header" : "no token");
}

/* --- boot scripts -------------------------------------------------------------------------- */

static int boot_script(lf_appliance *app, const char *mac, lf_api_response *ret) {
        _cleanup_state_node_ lf_state_node *n = NULL;
        lf_boot_action action;
        char *s = NULL;
        int r;

        r = lf_state_boot(app->state, mac, &action, &n);
        if (r < 0)
                return error_msg(ret, 500, "cannot read the node database: %s", strerror(-r));
        switch (action) {
        case LF_BOOT_DISCOVER:
        case LF_BOOT_INSTALL: {
                bool install = action == LF_BOOT_INSTALL;
                r = asprintf(&s,
                             "#!ipxe\n"
                             "# labforge: %s %s%s%s\n"
                             "echo labforge: %s %s\n"
                             "kernel %s/images/" LF_API_KERNEL " initrd=" LF_API_INITRD
                             " labforge.mode=%s labforge.appliance=%s/api/v1/nodes/%s%s"
                             " console=tty0 console=ttyS0,115200n8\n"
                             "initrd %s/images/" LF_API_INITRD "\n"
                             "boot\n",
                             install ? "install" : "discover", mac, install ? " as " : "",
                             install ? n->name : "",
                             install ? "installing" : "discovering the hardware of",
                             install ? n->name : mac, app->base_url,
                             install ? "install" : "discover", app->base_url, mac,
                             install ? "" : " labforge.reboot=0", app->base_url);
                break;
        }
        case LF_BOOT_LOCAL:
                r = asprintf(&s,
                             "#!ipxe\n"
                             "# labforge: %s (%s) is deployed: boot the local disk\n"
                             "echo labforge: %s is deployed, booting its local disk\n"
                             "exit\n",
                             n->name, mac, n->name);
                break;
        default:
                /* Failed: no install loop, no boot of a half-written disk being assumed good. */
                r = asprintf(&s,
                             "#!ipxe\n"
                             "# labforge: %s (%s) failed\n"
                             "echo labforge: the install of %s failed at: %s\n"
                             "echo labforge: run 'labforge logs %s' and 'labforge rebuild %s' "
                             "on the appliance\n"
                             "exit\n",
                             n->name, mac, n->name,
                             n->failure_step ? n->failure_step : "(unknown step)", n->name,
                             n->name);
                break;
        }
        if (r < 0)
                return -ENOMEM;
        return respond(ret, 200, "text/plain", s);
}

/* --- node API ------------------------------------------------------------------------------ */

/* The entry of images.json for name: its SHA-256 and size. Problems go to diag. */
static int find_image(lf_appliance *app, const char *name, lf_diag *diag,
                      char ret_sha[static LF_SHA256_HEX_LEN + 1], int64_t *ret_size) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_json_ json_object *root = NULL;
        json_object *images = NULL;
        lf_json_ctx ctx = {diag, NULL};
        size_t len = 0;
        int r;

        if (asprintf(&path, "%s/images.json", app->images_dir) < 0)
                return -ENOMEM;
        ctx.file = path;
        r = lf_read_file(path, IMAGES_JSON_MAX, diag, &buf, &len);
        if (r < 0)
                return r;
        r = lf_json_parse(&ctx, buf, len, &root);
        if (r >= 0)
                r = lf_json_get_array(&ctx, root, "", "images", true, &images);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(images); i++) {
                json_object *e = json_object_array_get_idx(images, i);
                const char *n = NULL, *sha = NULL;
                char where[32];
                snprintf(where, sizeof(where), "images[%zu]", i);
                if (lf_json_get_string(&ctx, e, where, "name", true, &n) < 0)
                        return -EINVAL;
                if (!streq(n, name))
                        continue;
                if (lf_json_get_string(&ctx, e, where, "sha256", true, &sha) < 0 ||
                    lf_json_get_int(&ctx, e, where, "size", true, 0, INT64_MAX, ret_size) < 0)
                        return -EINVAL;
                if (!lf_sha256_hex_valid(sha))
                        return lf_diag_add(diag, path, 0, "%s.sha256: not 64 hex digits", where);
                for (size_t k = 0; k <= LF_SHA256_HEX_LEN; k++)
                        ret_sha[k] = (char)(sha[k] >= 'A' && sha[k] <= 'F' ? sha[k] + 32 : sha[k]);
                return 0;
        }
        lf_diag_add(diag, path, 0,
                    "no image named %s; build the role images ('./build.sh images') or copy "
                    "them with their images.json entries there",
                    name);
        return -ENOENT;
}

static int assignment(lf_appliance *app, const char *mac, const char *body, size_t len,
                      lf_api_response *ret) {
        _cleanup_state_node_ lf_state_node *n = NULL;
        _cleanup_json_ json_object *o = NULL, *img = NULL;
        _cleanup_free_ char *image = NULL, *url = NULL, *murl = NULL;
        char token[LF_STATE_TOKEN_LEN + 1], sha[LF_SHA256_HEX_LEN + 1];
        lf_api_body b = {};
        int64_t size = 0;
        lf_diag diag = {};
        int r;

        r = lf_api_parse_body(LF_API_BODY_NONE, body, len, &diag, &b);
        if (r < 0)
                goto fail;
        lf_api_body_clear(&b);
        r = lf_state_get(app->state, mac, &n);
        if (r == -ENOENT) {
                lf_diag_add(&diag, NULL, 0,
                            "%s is not known to the appliance; list it in the manifest or "
                            "'labforge assign' it",
                            mac);
                goto fail;
        }
        if (r < 0)
                goto fail;
        /* Only a node that may get a token needs its image; others get the state's refusal. */
        if (n->state == LF_NODE_READY) {
                if (asprintf(&image, "%s.tar.zst", n->role) < 0)
                        return -ENOMEM;
                r = find_image(app, image, &diag, sha, &size);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "assignment refused: %s", diag.msgs[0]) < 0)
                                return -ENOMEM;
                        lf_state_note(app->state, mac, "assignment", why);
                        r = lf_api_error(503, &diag, NULL, ret);
                        lf_diag_clear(&diag);
                        return r;
                }
        }
        r = lf_state_issue_token(app->state, mac, &diag, token);
        if (r < 0)
                goto fail;
        if (asprintf(&url, "%s/images/%s", app->base_url, image) < 0 ||
            asprintf(&murl, "%s/api/v1/nodes/%s/manifest", app->base_url, mac) < 0)
                return -ENOMEM;
        o = json_object_new_object();
        img = json_object_new_object();
        if (!o || !img || lf_json_add(img, "name", json_object_new_string(image)) < 0 ||
            lf_json_add(img, "url", json_object_new_string(url)) < 0 ||
            lf_json_add(img, "sha256", json_object_new_string(sha)) < 0 ||
            lf_json_add(img, "size", json_object_new_int64(size)) < 0 ||
            lf_json_add(o, "mac", json_object_new_string(mac)) < 0 ||
            lf_json_add(o, "node", json_object_new_string(n->name)) < 0 ||
            lf_json_add(o, "role", json_object_new_string(n->role)) < 0 ||
            lf_json_add(o, "nodeid", json_object_new_int64(n->nodeid)) < 0 ||
            lf_json_add(o, "token", json_object_new_string(token)) < 0 ||
            lf_json_add(o, "manifest_url", json_object_new_string(murl)) < 0 ||
            lf_json_add(o, "image", TAKE_PTR(img)) < 0)
                return -ENOMEM;
        return respond_json(ret, 200, o);
fail:
        r = state_error(ret, r, &diag);
        lf_diag_clear(&diag);
        return r;
}

/* The manifest as loaded, with the nodes assigned by `labforge assign` added before </lab>. */
static int manifest_text(lf_appliance *app, char **ret) {
        lf_state_node **l = NULL;
        char *buf = NULL, *end;
        size_t n = 0, len = 0;
        FILE *f;
        int r;

        r = lf_state_list(app->state, &l, &n);
        if (r < 0)
                return r;
        f = open_memstream(&buf, &len);
        if (!f) {
                lf_state_list_free(l, n);
                return -ENOMEM;
        }
        pthread_rwlock_rdlock(&app->lock);
        end = strstr(app->manifest_xml, "</lab>");
        for (char *p = end; p; p = strstr(p + 1, "</lab>"))
                end = p;
        if (end) {
                fwrite(app->manifest_xml, 1, (size_t)(end - app->manifest_xml), f);
                for (size_t i = 0; i < n; i++)
                        if (!l[i]->in_manifest && l[i]->name)
                                fprintf(f,
                                        "  <!-- assigned with 'labforge assign' -->\n"
                                        "  <node name=\"%s\" role=\"%s\" mac=\"%s\"/>\n",
                                        l[i]->name, l[i]->role, l[i]->mac);
                fputs(end, f);
        } else
                fputs(app->manifest_xml, f);
        pthread_rwlock_unlock(&app->lock);
        lf_state_list_free(l, n);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

static int ok_answer(lf_api_response *ret) {
        return respond(ret, 200, "application/json", strdup("{\n  \"ok\": true\n}\n"));
}

static int node_call(lf_appliance *app, const char *method, const char *mac, const char *action,
                     const char *authorization, const char *body, size_t len,
                     lf_api_response *ret) {
        bool is_get = streq(method, "GET") || streq(method, "HEAD");
        const char *token = NULL;
        lf_api_body b = {};
        lf_diag diag = {};
        int r = 0;

        if (streq(action, "assignment")) {
                if (!is_get && !streq(method, "POST"))
                        return error_msg(ret, 405, "use GET or POST for %s", action);
                return assignment(app, mac, body, len, ret);
        }
        if (streq(action, "manifest")) {
                char *text = NULL;
                if (!is_get)
                        return error_msg(ret, 405, "use GET for %s", action);
                token = bearer(authorization);
                if (!token)
                        return no_token(authorization, ret);
                r = lf_state_check_token(app->state, mac, token, &diag);
                if (r < 0)
                        goto fail;
                r = manifest_text(app, &text);
                if (r < 0)
                        return error_msg(ret, 500, "cannot list the nodes: %s", strerror(-r));
                return respond(ret, 200, "application/xml", text);
        }

        static const struct {
                const char *name;
                lf_api_body_kind kind;
        } posts[] = {
                {"inventory", LF_API_BODY_NONE},
                {"progress", LF_API_BODY_PROGRESS},
                {"complete", LF_API_BODY_COMPLETE},
                {"failed", LF_API_BODY_FAILED},
        };
        size_t i;
        for (i = 0; i < ELEMENTSOF(posts); i++)
                if (streq(action, posts[i].name))
                        break;
        if (i == ELEMENTSOF(posts))
                return error_msg(ret, 404, "no such call '%s'; see docs/api.md", action);
        if (!streq(method, "POST"))
                return error_msg(ret, 405, "use POST for %s", action);
        if (len > LF_API_MAX_BODY)
                return error_msg(ret, 413, "request body larger than %u bytes", LF_API_MAX_BODY);

        if (streq(action, "inventory")) {
                _cleanup_free_ char *text = strndup(body ? body : "", len);
                if (!text)
                        return -ENOMEM;
                if (strlen(text) != len) {
                        lf_diag_add(&diag, BODY_NAME, 0, "contains a NUL character");
                        r = -EINVAL;
                } else if (authorization) {
                        token = bearer(authorization);
                        if (!token)
                                return no_token(authorization, ret);
                        r = lf_state_install_inventory(app->state, mac, token, text, &diag);
                } else
                        r = lf_state_discover(app->state, mac, text, &diag);
                if (r < 0)
                        goto fail;
                _cleanup_json_ json_object *o = json_object_new_object();
                _cleanup_state_node_ lf_state_node *n = NULL;
                r = lf_state_get(app->state, mac, &n);
                if (r < 0)
                        return error_msg(ret, 500, "cannot read the node: %s", strerror(-r));
                if (!o || lf_json_add(o, "mac", json_object_new_string(mac)) < 0 ||
                    lf_json_add(o, "state", json_object_new_string(lf_node_state_name(n->state))) <
                            0)
                        return -ENOMEM;
                return respond_json(ret, 200, o);
        }

        /* Token first: a stranger learns nothing about the body rules of a node. */
        token = bearer(authorization);
        if (!token)
                return no_token(authorization, ret);
        r = lf_api_parse_body(posts[i].kind, body, len, &diag, &b);
        if (r < 0)
                goto fail;
        if (posts[i].kind == LF_API_BODY_PROGRESS)
                r = lf_state_progress(app->state, mac, token, b.step, b.percent, b.message, &diag);
        else if (posts[i].kind == LF_API_BODY_COMPLETE)
                r = lf_state_complete(app->state, mac, token, b.message, &diag);
        else
                r = lf_state_fail(app->state, mac, token, b.step, b.message, b.log, &diag);
        lf_api_body_clear(&b);
        if (r < 0)
                goto fail;
        return ok_answer(ret);
fail:
        r = state_error(ret, r, &diag);
        lf_diag_clear(&diag);
        return r;
}

int lf_api_handle(lf_appliance *app, const char *method, const char *path,
                  const char *authorization, const char *body, size_t len, lf_api_response *ret) {
        char mac[LF_MAC_STR_LEN + 1];
        const char *rest;

        *ret = (lf_api_response){};
        if (strneq(path, "/boot/", 6)) {
                rest = take_mac(path + 6, mac);
                if (!rest || !streq(rest, ".ipxe"))
                        return error_msg(ret, 404,
                                         "no such boot script; ask for /boot/<mac>.ipxe with "
                                         "the MAC in lowercase with colons");
                if (!streq(method, "GET") && !streq(method, "HEAD"))
                        return error_msg(ret, 405, "use GET for boot scripts");
                return boot_script(app, mac, ret);
        }
        if (strneq(path, "/api/v1/nodes/", 14)) {
                rest = take_mac(path + 14, mac);
                if (!rest || rest[0] != '/' || strchr(rest + 1, '/'))
                        return error_msg(ret, 404,
                                         "no such call; node calls are "
                                         "/api/v1/nodes/<mac>/<call> with the MAC in lowercase "
                                         "with colons (see docs/api.md)");
                return node_call(app, method, mac, rest + 1, authorization, body, len, ret);
        }
        return error_msg(ret, 404, "nothing at %.200s; see docs/api.md", path);
}

/* Installer settings from the kernel command line and options; see settings.h. */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "macro.h"
#include "settings.h"
#include "sha256.h"

#define N_KEYS ELEMENTSOF(lf_setting_keys)

const char *const lf_setting_keys[9] = {
        "mode", "appliance", "token", "manifest", "node", "image", "sha256", "plan", "reboot",
};

static const size_t field_offsets[N_KEYS] = {
        offsetof(lf_settings, mode),   offsetof(lf_settings, appliance),
        offsetof(lf_settings, token),  offsetof(lf_settings, manifest),
        offsetof(lf_settings, node),   offsetof(lf_settings, image),
        offsetof(lf_settings, sha256), offsetof(lf_settings, plan),
        offsetof(lf_settings, reboot),
};

/* Keys of the initramfs' /init (images/initramfs/init), not the installer's. */
static const char *const init_keys[] = {"net", "test", "shell", "fetch"};

static int key_index(const char *key, size_t len) {
        for (size_t i = 0; i < N_KEYS; i++)
                if (strlen(lf_setting_keys[i]) == len && strneq(lf_setting_keys[i], key, len))
                        return (int)i;
        return -1;
}

static char **field(lf_settings *s, size_t i) {
        return (char **)((char *)s + field_offsets[i]);
}

static const char *value_of(const lf_settings *s, size_t i) {
        return *field((lf_settings *)s, i);
}

static int set_index(lf_settings *s, size_t i, const char *value, size_t len, const char *origin) {
        char *v = strndup(value, len), *o = strdup(origin);
        if (!v || !o) {
                free(v);
                free(o);
                return -ENOMEM;
        }
        free(*field(s, i));
        *field(s, i) = v;
        free(s->origin[i]);
        s->origin[i] = o;
        return 0;
}

int lf_settings_set(lf_settings *s, const char *key, const char *value, const char *origin) {
        int i = key_index(key, strlen(key));
        if (i < 0)
                return -EINVAL;
        return set_index(s, (size_t)i, value, strlen(value), origin);
}

int lf_settings_parse_cmdline(lf_settings *s, const char *cmdline, const char *file,
                              lf_diag *diag) {
        int ret = 0;
        for (const char *p = cmdline; *p;) {
                while (isspace((unsigned char)*p))
                        p++;
                if (!*p)
                        break;
                /* One word; the kernel lets a value be double-quoted to hold spaces. */
                const char *w = p;
                bool quoted = false;
                while (*p && (quoted || !isspace((unsigned char)*p))) {
                        if (*p == '"')
                                quoted = !quoted;
                        p++;
                }
                size_t wlen = (size_t)(p - w);
                if (wlen < 9 || !strneq(w, "labforge.", 9))
                        continue;
                const char *key = w + 9, *eq = memchr(key, '=', wlen - 9);
                size_t klen = eq ? (size_t)(eq - key) : wlen - 9;
                int i = key_index(key, klen);
                if (i < 0) {
                        bool init_key = false;
                        for (size_t k = 0; k < ELEMENTSOF(init_keys); k++)
                                init_key |= strlen(init_keys[k]) == klen &&
                                            strneq(init_keys[k], key, klen);
                        if (!init_key)
                                ret = lf_diag_add(diag, file, 0,
                                                  "unknown setting 'labforge.%.*s'; the "
                                                  "installer knows labforge.mode, appliance, "
                                                  "token, manifest, node, image, sha256, plan "
                                                  "and reboot",
                                                  (int)klen, key);
                        continue;
                }
                if (!eq) {
                        ret = lf_diag_add(diag, file, 0,
                                          "labforge.%s needs a value (labforge.%s=...)",
                                          lf_setting_keys[i], lf_setting_keys[i]);
                        continue;
                }
                const char *v = eq + 1;
                size_t vlen = (size_t)(w + wlen - v);
                if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                        v++;
                        vlen -= 2;
                }
                char origin[64];
                snprintf(origin, sizeof(origin), "labforge.%s= (%s)", lf_setting_keys[i], file);
                int r = set_index(s, (size_t)i, v, vlen, origin);
                if (r < 0)
                        return r;
        }
        return ret;
}

static bool set(const lf_settings *s, size_t i) {
        return value_of(s, i) != NULL;
}

enum { MODE, APPLIANCE, TOKEN, MANIFEST, NODE, IMAGE, SHA256, PLAN, REBOOT };

static int bad(const lf_settings *s, lf_diag *diag, size_t i, const char *problem) {
        return lf_diag_add(diag, NULL, 0, "%s: '%s' %s", s->origin[i], value_of(s, i), problem);
}

static int missing(lf_diag *diag, const char *key, const char *why) {
        return lf_diag_add(diag, NULL, 0, "labforge.%s= (or --%s) is missing; %s", key, key, why);
}

int lf_settings_check(const lf_settings *s, lf_diag *diag) {
        size_t before = diag->n;

        for (size_t i = 0; i < N_KEYS; i++) {
                const char *v = value_of(s, i);
                if (!v)
                        continue;
                if (!*v)
                        lf_diag_add(diag, NULL, 0, "%s: the value is empty", s->origin[i]);
                else if (strlen(v) > LF_SETTING_MAX)
                        lf_diag_add(diag, NULL, 0, "%s: longer than %d bytes", s->origin[i],
                                    LF_SETTING_MAX);
        }
        if (diag->n > before)
                return -EINVAL;

        if (set(s, MODE) && !streq(s->mode, "install") && !streq(s->mode, "discover"))
                bad(s, diag, MODE, "is not a mode; use install or discover");
        if (set(s, REBOOT) && !streq(s->reboot, "0") && !streq(s->reboot, "1"))
                bad(s, diag, REBOOT, "must be 1 (reboot when done) or 0 (power off)");
        if (set(s, SHA256) && !lf_sha256_hex_valid(s->sha256))
                bad(s, diag, SHA256, "is not a SHA-256 (64 hex digits)");
        if (set(s, APPLIANCE) && !lf_fetch_is_url(s->appliance))
                bad(s, diag, APPLIANCE, "is not an http:// or https:// URL");

        bool standalone = false;
        for (size_t i = MANIFEST; i <= PLAN; i++)
                standalone |= set(s, i);
        if (set(s, APPLIANCE)) {
                /* The token normally comes from the assignment (docs/api.md); one given here
                 * is sent along. */
                for (size_t i = MANIFEST; i <= PLAN; i++)
                        if (set(s, i))
                                lf_diag_add(diag, NULL, 0,
                                            "%s: not with labforge.appliance= (the appliance "
                                            "hands out the %s); give one of the two modes",
                                            s->origin[i], lf_setting_keys[i]);
        } else if (set(s, TOKEN))
                lf_diag_add(diag, NULL, 0,
                            "%s: a token is only for labforge.appliance=", s->origin[TOKEN]);

        bool discover = lf_settings_discover(s);
        if (!set(s, APPLIANCE) && !discover) {
                if (!standalone)
                        lf_diag_add(diag, NULL, 0,
                                    "nothing to install from: give labforge.appliance=URL, or "
                                    "labforge.manifest= labforge.node= "
                                    "labforge.image= labforge.sha256= (or labforge.plan= with "
                                    "image and sha256 instead of manifest and node)");
                else {
                        if (set(s, PLAN) && set(s, MANIFEST))
                                lf_diag_add(diag, NULL, 0,
                                            "%s and %s: give a ready plan or a manifest to plan "
                                            "from, not both",
                                            s->origin[PLAN], s->origin[MANIFEST]);
                        if (!set(s, PLAN) && !set(s, MANIFEST))
                                missing(diag, "manifest",
                                        "or give a ready plan with labforge.plan=");
                        if (set(s, MANIFEST) && !set(s, NODE))
                                missing(diag, "node", "it names this PC in the manifest");
                        if (!set(s, IMAGE))
                                missing(diag, "image", "it is the role image to install");
                        if (!set(s, SHA256))
                                missing(diag, "sha256",
                                        "the image is verified against it before any disk write");
                }
        }
        return diag->n > before ? -EINVAL : 0;
}

bool lf_settings_discover(const lf_settings *s) {
        return s->mode && streq(s->mode, "discover");
}

bool lf_settings_reboot(const lf_settings *s) {
        return !s->reboot || !streq(s->reboot, "0");
}

void lf_settings_clear(lf_settings *s) {
        for (size_t i = 0; i < N_KEYS; i++) {
                free(*field(s, i));
                free(s->origin[i]);
        }
        *s = (lf_settings){};
}

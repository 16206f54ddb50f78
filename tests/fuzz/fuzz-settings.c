/* libFuzzer target for the installer's settings: any kernel command line is parsed and checked
 * without crashing; accepted settings keep their promises (no empty or oversized value, a valid
 * SHA-256, one mode), and printing them back as labforge.* words reads back the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "../../installer/settings.h"

#define N_KEYS (sizeof(lf_setting_keys) / sizeof(lf_setting_keys[0]))

static const char *value(const lf_settings *s, size_t i) {
        const char *const v[N_KEYS] = {s->mode,  s->appliance, s->token, s->manifest, s->node,
                                       s->image, s->sha256,    s->plan,  s->reboot};
        return v[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *line = strndup((const char *)data, size);
        lf_settings s = {}, back = {};
        lf_diag d = {};

        if (!line)
                return 0;
        int r = lf_settings_parse_cmdline(&s, line, "fuzz", &d);
        if (r == 0 && d.n == 0 && lf_settings_check(&s, &d) == 0) {
                if (s.sha256 && !lf_sha256_hex_valid(s.sha256))
                        abort();
                if (s.appliance && (s.manifest || s.plan || s.image || s.node || s.sha256))
                        abort();
                if (s.token && !s.appliance)
                        abort();
                /* Values without blanks or quotes print back as words and read back alike. */
                char *out = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&out, &len);
                bool plain = true;
                for (size_t i = 0; i < N_KEYS && f; i++) {
                        const char *v = value(&s, i);
                        if (!v)
                                continue;
                        if (!*v || strlen(v) > LF_SETTING_MAX)
                                abort();
                        plain &= !strpbrk(v, " \t\n\r\f\v\"");
                        fprintf(f, "labforge.%s=%s ", lf_setting_keys[i], v);
                }
                if (f && fclose(f) == 0 && plain) {
                        if (lf_settings_parse_cmdline(&back, out, "back", &d) != 0)
                                abort();
                        for (size_t i = 0; i < N_KEYS; i++)
                                if ((value(&s, i) == NULL) != (value(&back, i) == NULL) ||
                                    (value(&s, i) && strcmp(value(&s, i), value(&back, i))))
                                        abort();
                }
                free(out);
        }
        for (size_t i = 0; i < d.n; i++)
                if (!d.msgs[i][0])
                        abort();
        lf_diag_clear(&d);
        lf_settings_clear(&s);
        lf_settings_clear(&back);
        free(line);
        return 0;
}

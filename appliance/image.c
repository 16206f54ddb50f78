/* labforge image pack: packs a role's root file system into the tar.zst image the installer
 * extracts (reproducible with SOURCE_DATE_EPOCH) and prints its name, size and SHA-256. */
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "log.h"
#include "sha256.h"
#include "tarball.h"
#include "units.h"
#include "verbs.h"

static void image_usage(FILE *f) {
        fprintf(f,
                "usage: labforge image pack DIR OUT.tar.zst [--zstd-level N] [--format "
                "text|json]\n\n"
                "Packs the root file system DIR into OUT.tar.zst: entries sorted by name,\n"
                "numeric owners, modification times clamped to $SOURCE_DATE_EPOCH (when set),\n"
                "extended attributes such as file capabilities kept. The same tree and\n"
                "SOURCE_DATE_EPOCH always give the same bytes. Prints the image's name, size\n"
                "and SHA-256 (the value for labforge.sha256=). --zstd-level: 1..19, default 9.\n");
}

/* SOURCE_DATE_EPOCH as reproducible-builds.org defines it; -1 when unset. */
static int source_date_epoch(int64_t *ret) {
        const char *s = getenv("SOURCE_DATE_EPOCH");
        char *end;
        if (!s || !*s) {
                *ret = -1;
                return 0;
        }
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end || s[0] == '-' || v > INT64_MAX)
                return log_error("SOURCE_DATE_EPOCH='%s' is not a number of seconds since 1970; "
                                 "set it to e.g. $(git log -1 --format=%%ct).",
                                 s),
                       -EINVAL;
        *ret = (int64_t)v;
        return 0;
}

static int print_result(const char *out, bool json, const lf_tarball_stats *st) {
        _cleanup_free_ char *copy = strdup(out);
        char hex[LF_SHA256_HEX_LEN + 1], human[32];
        struct stat s;
        int r;

        if (!copy)
                return log_oom();
        r = lf_sha256_file(out, hex);
        if (r < 0 || stat(out, &s) < 0)
                return log_error_errno(r < 0 ? r : -errno, "%s: cannot read it back: %m", out);
        const char *name = basename(copy);
        if (json) {
                _cleanup_json_ json_object *o = json_object_new_object();
                if (!o || lf_json_add(o, "name", json_object_new_string(name)) < 0 ||
                    lf_json_add(o, "size", json_object_new_int64(s.st_size)) < 0 ||
                    lf_json_add(o, "sha256", json_object_new_string(hex)) < 0 ||
                    lf_json_add(o, "entries", json_object_new_int64((int64_t)st->entries)) < 0 ||
                    lf_json_add(o, "data_bytes", json_object_new_int64((int64_t)st->data_bytes)) <
                            0)
                        return log_oom();
                r = lf_json_write(stdout, o);
        } else {
                lf_format_size((uint64_t)s.st_size, human, sizeof(human));
                printf("name: %s\nsize: %jd (%s)\nsha256: %s\n", name, (intmax_t)s.st_size, human,
                       hex);
                lf_format_size(st->data_bytes, human, sizeof(human));
                printf("entries: %" PRIu64 " (%s of file data)\n", st->entries, human);
                r = 0;
        }
        if (r < 0 || fflush(stdout) != 0)
                return log_error_errno(r < 0 ? r : -errno, "Failed to write the result: %m");
        return 0;
}

static int image_pack(int argc, char **argv) {
        static const struct option options[] = {
                {"zstd-level", required_argument, NULL, 'z'},
                {"format", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        lf_tarball_pack_options o = {};
        lf_tarball_stats st = {};
        const char *format = "text";
        lf_diag diag = {};
        struct stat s;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'z': {
                        char *end;
                        long v = strtol(optarg, &end, 10);
                        if (*end || v < 1 || v > 19) {
                                log_error("--zstd-level must be 1..19, not '%s'.", optarg);
                                return 2;
                        }
                        o.zstd_level = (int)v;
                        break;
                }
                case 'f':
                        format = optarg;
                        break;
                case 'h':
                        image_usage(stdout);
                        return 0;
                default:
                        image_usage(stderr);
                        return 2;
                }
        if (argc - optind != 2) {
                log_error("expected DIR and OUT.tar.zst; see 'labforge image --help'.");
                return 2;
        }
        if (!streq(format, "text") && !streq(format, "json")) {
                log_error("--format must be text or json, not '%s'.", format);
                return 2;
        }
        const char *dir = argv[optind], *out = argv[optind + 1];
        if (stat(dir, &s) < 0 || !S_ISDIR(s.st_mode)) {
                log_error("%s: not a directory; give the root file system to pack.", dir);
                return 2;
        }
        if (source_date_epoch(&o.clamp_mtime) < 0)
                return 2;

        r = lf_tarball_pack(dir, out, &o, &diag, &st);
        lf_diag_print(&diag);
        lf_diag_clear(&diag);
        if (r == -ENOMEM)
                return log_oom(), 1;
        if (r < 0)
                return 1;
        return print_result(out, streq(format, "json"), &st) < 0 ? 1 : 0;
}

int verb_image(int argc, char **argv) {
        if (argc < 2) {
                image_usage(stderr);
                return 2;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h")) {
                image_usage(stdout);
                return 0;
        }
        if (streq(argv[1], "pack"))
                return image_pack(argc - 1, argv + 1);
        log_error("unknown 'labforge image' command '%s'; the one there is: pack.", argv[1]);
        return 2;
}

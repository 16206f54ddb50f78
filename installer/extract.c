/* labforge-install extract: the installer's image step alone, for admins and the install-
 * throughput benchmark: fetches an image, verifies its SHA-256 before writing anything,
 * extracts it into an existing directory and says how long the extraction took. */
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "fetch.h"
#include "log.h"
#include "macro.h"
#include "progress.h"
#include "tarball.h"
#include "verbs.h"

static void extract_usage(FILE *f) {
        fprintf(f, "usage: labforge-install extract --image URL|PATH --sha256 HEX --target DIR\n"
                   "           [--fetch-mode auto|ram|stream]\n\n"
                   "Downloads the image and verifies its SHA-256 (nothing is written on a\n"
                   "mismatch), then extracts it into DIR, an existing directory, as the install\n"
                   "does, and prints the bytes and entries extracted and the extraction's time\n"
                   "and rate (the download not included). Exit status: 0 done, 1 failed, 2 bad\n"
                   "options.\n");
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int verb_extract(int argc, char **argv) {
        enum { OPT_IMAGE = 1, OPT_SHA, OPT_TARGET, OPT_FETCH };
        static const struct option options[] = {
                {"image", required_argument, NULL, OPT_IMAGE},
                {"sha256", required_argument, NULL, OPT_SHA},
                {"target", required_argument, NULL, OPT_TARGET},
                {"fetch-mode", required_argument, NULL, OPT_FETCH},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *image = NULL, *sha256 = NULL, *target = NULL;
        lf_fetch_opts fo = {.mode = LF_FETCH_AUTO};
        _cleanup_image_ lf_image *img = NULL;
        lf_diag diag = {};
        lf_tarball_stats st = {};
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case OPT_IMAGE:
                        image = optarg;
                        break;
                case OPT_SHA:
                        sha256 = optarg;
                        break;
                case OPT_TARGET:
                        target = optarg;
                        break;
                case OPT_FETCH:
                        if (lf_fetch_mode_from_string(optarg, &fo.mode) < 0) {
                                log_error("--fetch-mode must be auto, ram or stream, not '%s'.",
                                          optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        extract_usage(stdout);
                        return 0;
                default:
                        extract_usage(stderr);
                        return 2;
                }
        if (optind < argc || !image || !sha256 || !target) {
                log_error("%s; see 'labforge-install extract --help'.",
                          optind < argc ? "unexpected argument"
                                        : "--image, --sha256 and --target are needed");
                return 2;
        }
        r = lf_image_fetch(image, sha256, &fo, &diag, &img);
        if (r >= 0) {
                lf_image_set_diag(img, &diag);
                double t0 = now_s();
                r = lf_tarball_extract(image, target, lf_image_read, img, &diag, &st);
                double secs = now_s() - t0;
                if (r >= 0)
                        printf("extracted %llu bytes in %llu entries into %s in %.2f s: %.1f "
                               "MiB/s\n",
                               (unsigned long long)st.data_bytes, (unsigned long long)st.entries,
                               target, secs,
                               secs > 0 ? (double)st.data_bytes / 1048576.0 / secs : 0.0);
        }
        for (size_t i = 0; i < diag.n; i++)
                log_error("%s", diag.msgs[i]);
        lf_diag_clear(&diag);
        if (r == -ENOMEM)
                log_oom();
        return r < 0 ? (r == -EINVAL ? 2 : 1) : 0;
}

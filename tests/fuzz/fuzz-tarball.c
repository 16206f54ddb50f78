/* libFuzzer target for image extraction: any archive (tar, plain or zstd) is extracted or
 * refused without crashing, and never writes beside its target: the target's parent holds only
 * the target and an empty sentinel directory afterwards. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tarball.h"

static char top[64], target[96], sentinel[96];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)flag;
        if (ftw->level > 0)
                remove(p);
        return 0;
}

/* The entries of dir other than the ones named, counted. */
static size_t others(const char *dir, const char *a, const char *b) {
        DIR *d = opendir(dir);
        size_t n = 0;
        if (!d)
                abort();
        for (struct dirent *e; (e = readdir(d));)
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                    (!a || strcmp(e->d_name, a)) && (!b || strcmp(e->d_name, b)))
                        n++;
        closedir(d);
        return n;
}

typedef struct input {
        const uint8_t *data;
        size_t size;
        bool done;
} input;

static int read_all(void *userdata, const void **ret_buf, size_t *ret_len) {
        input *in = userdata;
        *ret_buf = in->data;
        *ret_len = in->done ? 0 : in->size;
        in->done = true;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        input in = {data, size, false};
        lf_diag d = {};

        if (!top[0]) {
                snprintf(top, sizeof(top), "/tmp/lf-fuzz-tarball-XXXXXX");
                if (!mkdtemp(top))
                        abort();
                snprintf(target, sizeof(target), "%s/target", top);
                snprintf(sentinel, sizeof(sentinel), "%s/sentinel", top);
                if (mkdir(target, 0755) < 0 || mkdir(sentinel, 0755) < 0)
                        abort();
        }
        nftw(target, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        int r = lf_tarball_extract("fuzz.tar", target, read_all, &in, &d, NULL);
        if (r < 0 && r != -ENOMEM && d.n == 0)
                abort(); /* every refusal says why */
        for (size_t i = 0; i < d.n; i++)
                if (!d.msgs[i][0])
                        abort();
        if (others(top, "target", "sentinel") != 0 || others(sentinel, NULL, NULL) != 0)
                abort();
        lf_diag_clear(&d);
        return 0;
}

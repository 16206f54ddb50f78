/* The unit-test harness' runner; see test.h. Prints one line per test and a closing
 * "N passed, N failed, N skipped" line that tests/run-tests.sh adds up. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "test.h"

#define MAX_TESTS 512

static struct {
        const char *name;
        lf_test_fn fn;
} tests[MAX_TESTS];
static size_t n_tests;
static jmp_buf test_jmp;
static int test_outcome; /* 0 pass, 1 fail, 2 skip */
static char tmp_root[256];
static char path_buf[4096];

void lf_test_register(const char *name, lf_test_fn fn) {
        if (n_tests >= MAX_TESTS) {
                fprintf(stderr, "too many tests\n");
                abort();
        }
        tests[n_tests].name = name;
        tests[n_tests].fn = fn;
        n_tests++;
}

void lf_test_fail(const char *file, int line, const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "%s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        test_outcome = 1;
        longjmp(test_jmp, 1);
}

void lf_test_skip(const char *why) {
        fprintf(stderr, "  skipped: %s\n", why);
        test_outcome = 2;
        longjmp(test_jmp, 1);
}

const char *lf_test_path(const char *rel) {
        const char *top = getenv("LF_TOP");
        if (rel[0] == '/')
                snprintf(path_buf, sizeof(path_buf), "%s", rel);
        else
                snprintf(path_buf, sizeof(path_buf), "%s/%s", top && *top ? top : ".", rel);
        return path_buf;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(p);
}

static void tmp_cleanup(void) {
        if (tmp_root[0] && !getenv("LF_TEST_KEEP_TMP"))
                nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *lf_test_tmpdir(void) {
        static unsigned counter;
        static char dir[300];

        if (!tmp_root[0]) {
                const char *base = getenv("TMPDIR");
                snprintf(tmp_root, sizeof(tmp_root), "%s/lf-test-XXXXXX", base ? base : "/tmp");
                if (!mkdtemp(tmp_root)) {
                        tmp_root[0] = 0;
                        lf_test_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
                }
                atexit(tmp_cleanup);
        }
        snprintf(dir, sizeof(dir), "%s/%u", tmp_root, counter++);
        if (mkdir(dir, 0700) < 0)
                lf_test_fail(__FILE__, __LINE__, "mkdir %s: %s", dir, strerror(errno));
        return dir;
}

char *lf_test_read_file(const char *path) {
        const char *full = lf_test_path(path);
        FILE *f = fopen(full, "re");
        char *buf = NULL;
        size_t len = 0;

        if (!f)
                lf_test_fail(__FILE__, __LINE__, "cannot open %s: %s", full, strerror(errno));
        FILE *m = open_memstream(&buf, &len);
        char chunk[8192];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                fwrite(chunk, 1, n, m);
        fclose(f);
        fclose(m);
        return buf;
}

void lf_test_golden(const char *file, int line, const char *actual, const char *path) {
        const char *regen = getenv("LF_TEST_REGENERATE");
        char full[4096];
        snprintf(full, sizeof(full), "%s", lf_test_path(path));

        if (regen && streq(regen, "1")) {
                FILE *f = fopen(full, "we");
                if (!f || fputs(actual, f) < 0 || fclose(f) != 0)
                        lf_test_fail(file, line, "cannot write %s: %s", full, strerror(errno));
                return;
        }
        FILE *f = fopen(full, "re");
        if (!f)
                lf_test_fail(file, line, "missing expected file %s (run with LF_TEST_REGENERATE=1)",
                             full);
        char *exp = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&exp, &len);
        char chunk[8192];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                fwrite(chunk, 1, n, m);
        fclose(f);
        fclose(m);
        if (strcmp(exp, actual) == 0) {
                free(exp);
                return;
        }
        free(exp);

        /* Show what differs with diff(1) so the failure is readable. */
        char tmp[] = "/tmp/lf-golden-XXXXXX";
        int fd = mkstemp(tmp);
        if (fd >= 0) {
                size_t alen = strlen(actual);
                if (write(fd, actual, alen) == (ssize_t)alen) {
                        pid_t pid = fork();
                        if (pid == 0) {
                                dup2(2, 1);
                                execlp("diff", "diff", "-u", full, tmp, (char *)NULL);
                                _exit(127);
                        }
                        if (pid > 0)
                                waitpid(pid, NULL, 0);
                }
                close(fd);
                unlink(tmp);
        }
        lf_test_fail(file, line, "output differs from %s (LF_TEST_REGENERATE=1 rewrites it)", path);
}

/* Kept apart from main() so that longjmp cannot clobber main's counters. */
static int run_test(lf_test_fn fn) {
        test_outcome = 0;
        if (setjmp(test_jmp) == 0)
                fn();
        return test_outcome;
}

int main(int argc, char **argv) {
        unsigned passed = 0, failed = 0, skipped = 0;

        for (size_t i = 0; i < n_tests; i++) {
                bool selected = argc < 2;
                for (int a = 1; a < argc; a++)
                        if (streq(argv[a], tests[i].name))
                                selected = true;
                if (!selected)
                        continue;
                int outcome = run_test(tests[i].fn);
                fflush(stdout);
                switch (outcome) {
                case 0:
                        printf("PASS: %s\n", tests[i].name);
                        passed++;
                        break;
                case 1:
                        printf("FAIL: %s\n", tests[i].name);
                        failed++;
                        break;
                default:
                        printf("SKIP: %s\n", tests[i].name);
                        skipped++;
                }
                fflush(stdout);
        }
        printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
        if (failed)
                return 1;
        if (skipped && !passed)
                return 77;
        return 0;
}

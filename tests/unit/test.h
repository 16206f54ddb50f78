/* The unit-test harness: TEST(name) registration, assertions that stop the current test, skips
 * (exit 77 when everything skipped), and golden-file comparison with a regenerate switch
 * (LF_TEST_REGENERATE=1, after libvirt's VIR_TEST_REGENERATE_OUTPUT). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*lf_test_fn)(void);

void lf_test_register(const char *name, lf_test_fn fn);
_Noreturn void lf_test_fail(const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
_Noreturn void lf_test_skip(const char *why);

/* Top of the source tree (LF_TOP in the environment, else the current directory) joined with
 * rel; returns a static buffer valid until the next call. */
const char *lf_test_path(const char *rel);
/* A fresh empty directory for this test (removed when the test binary exits); static buffer. */
const char *lf_test_tmpdir(void);
/* Compares actual with the file at path (relative to the top); on mismatch prints a diff
 * and fails. With LF_TEST_REGENERATE=1 writes actual to the file instead. */
void lf_test_golden(const char *file, int line, const char *actual, const char *path);
/* Reads a whole file (relative to the top) into a malloc'ed string, failing the test if it
 * cannot. */
char *lf_test_read_file(const char *path);

#define TEST(name)                                                                                 \
        static void test_##name(void);                                                             \
        __attribute__((constructor)) static void test_register_##name(void) {                      \
                lf_test_register(#name, test_##name);                                              \
        }                                                                                          \
        static void test_##name(void)

#define ASSERT_TRUE(x)                                                                             \
        do {                                                                                       \
                if (!(x))                                                                          \
                        lf_test_fail(__FILE__, __LINE__, "assertion failed: %s", #x);              \
        } while (0)

#define ASSERT_EQ(a, b)                                                                            \
        do {                                                                                       \
                long long _a = (long long)(a), _b = (long long)(b);                                \
                if (_a != _b)                                                                      \
                        lf_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b); \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
        do {                                                                                       \
                const char *_a = (a), *_b = (b);                                                   \
                if (!_a || !_b || strcmp(_a, _b) != 0)                                             \
                        lf_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,     \
                                     _a ? _a : "(null)", _b ? _b : "(null)");                      \
        } while (0)

/* Passes when haystack contains needle. */
#define ASSERT_CONTAINS(haystack, needle)                                                          \
        do {                                                                                       \
                const char *_h = (haystack), *_n = (needle);                                       \
                if (!_h || !strstr(_h, _n))                                                        \
                        lf_test_fail(__FILE__, __LINE__, "expected %s to contain \"%s\", got:\n%s", \
                                     #haystack, _n, _h ? _h : "(null)");                           \
        } while (0)

#define ASSERT_GOLDEN(actual, path) lf_test_golden(__FILE__, __LINE__, (actual), (path))

/* Diagnostics: a list of user-facing problems ("lab.xml:12: node name 'kvm1' is used twice").
 * Library code that checks outside input appends here instead of printing, so the caller can
 * report every problem at once and exit with status 2. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "macro.h"

typedef struct lf_diag {
        char **msgs;
        size_t n;
} lf_diag;

/* Most problems kept for one input; more are counted but not stored. */
#define LF_DIAG_MAX 200

/* Appends "FILE:LINE: message" (or "FILE: message" when line is 0, or just the message when file
 * is NULL). Returns -EINVAL so that checks can "return lf_diag_add(...)". */
int lf_diag_add(lf_diag *d, const char *file, long line, const char *fmt, ...) _printf_(4, 5);
/* The same with a va_list, for checkers' own reporting helpers. */
int lf_diag_addv(lf_diag *d, const char *file, long line, const char *fmt, va_list ap)
        _printf_(4, 0);
void lf_diag_clear(lf_diag *d);
/* Prints every problem, one per line, to stderr. */
void lf_diag_print(const lf_diag *d);

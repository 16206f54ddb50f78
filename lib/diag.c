/* Collected user-facing problems; see diag.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

int lf_diag_add(lf_diag *d, const char *file, long line, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = lf_diag_addv(d, file, line, fmt, ap);
        va_end(ap);
        return r;
}

int lf_diag_addv(lf_diag *d, const char *file, long line, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL, *full = NULL;
        int r;

        if (!d)
                return -EINVAL;
        if (d->n >= LF_DIAG_MAX)
                return -EINVAL;

        r = vasprintf(&msg, fmt, ap);
        if (r < 0)
                return -ENOMEM;

        if (file && line > 0)
                r = asprintf(&full, "%s:%ld: %s", file, line, msg);
        else if (file)
                r = asprintf(&full, "%s: %s", file, msg);
        else
                r = asprintf(&full, "%s", msg);
        if (r < 0)
                return -ENOMEM;

        char **n = realloc(d->msgs, (d->n + 2) * sizeof(char *));
        if (!n)
                return -ENOMEM;
        d->msgs = n;
        d->msgs[d->n++] = TAKE_PTR(full);
        d->msgs[d->n] = NULL;
        return -EINVAL;
}

void lf_diag_clear(lf_diag *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                free(d->msgs[i]);
        free(d->msgs);
        d->msgs = NULL;
        d->n = 0;
}

void lf_diag_print(const lf_diag *d) {
        for (size_t i = 0; i < d->n; i++)
                fprintf(stderr, "%s\n", d->msgs[i]);
}

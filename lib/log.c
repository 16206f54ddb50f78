/* Logging to stderr with a level filter; see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static int log_level = LF_LOG_INFO;
static const char *log_program;

void lf_log_set_level(int level) {
        log_level = level;
}

int lf_log_get_level(void) {
        return log_level;
}

void lf_log_set_program(const char *name) {
        log_program = name;
}

int lf_log_internal(int level, int error, const char *fmt, ...) {
        int e = error < 0 ? -error : error;

        if (level <= log_level) {
                va_list ap;
                int saved = errno;

                /* glibc expands %m from errno: make it name the error we were given. */
                errno = e;
                if (log_program)
                        fprintf(stderr, "%s: ", log_program);
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
                fputc('\n', stderr);
                errno = saved;
        }
        return -e;
}

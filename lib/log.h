/* Logging for labforge programs: one line per message on stderr, level-filtered.
 * Library code does not log; the caller that decides what to tell the user does, once. */
#pragma once

#include "macro.h"

enum lf_log_level { LF_LOG_ERR = 3, LF_LOG_WARNING = 4, LF_LOG_INFO = 6, LF_LOG_DEBUG = 7 };

void lf_log_set_level(int level);
int lf_log_get_level(void);
/* Program name put before each message ("labforge: ..."); NULL for none. */
void lf_log_set_program(const char *name);

/* Logs and returns -abs(error) (or 0 when error is 0). "%m" prints strerror(error). */
int lf_log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...) lf_log_internal(LF_LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) lf_log_internal(LF_LOG_INFO, 0, __VA_ARGS__)
#define log_warning(...) lf_log_internal(LF_LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) lf_log_internal(LF_LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(e, ...) lf_log_internal(LF_LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) lf_log_internal(LF_LOG_ERR, (e), __VA_ARGS__)
#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")

/* Parsing and printing of the units people write in manifests and read in plans: durations
 * ("30m", "5s"), clock times ("08:00"), weekday ranges ("mon-fri"), sizes ("476.9 GiB"). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* "45s", "30m", "2h", "1d" (one number and one unit) -> seconds. -EINVAL when malformed. */
int lf_parse_duration(const char *s, uint64_t *ret_seconds);
/* "HH:MM" 00:00..23:59, or "24:00" as the end of a day -> minutes since midnight. */
int lf_parse_clock(const char *s, int *ret_minutes);
/* "mon-fri", "sat,sun", "mon,wed-fri" -> bitmask, bit 0 = Monday .. bit 6 = Sunday. */
int lf_parse_days(const char *s, unsigned *ret_mask);

/* Human size in binary units with one decimal ("512.0 MiB", "3.6 TiB", "0 B"). */
void lf_format_size(uint64_t bytes, char *buf, size_t len);

/* UTC timestamps as in snapshots: "2026-11-23T10:00:00Z" (exactly this form) <-> seconds since
 * 1970-01-01. Years 1970..9999. */
#define LF_TIMESTAMP_LEN 20
int lf_parse_timestamp(const char *s, int64_t *ret_seconds);
/* Writes the timestamp into buf (at least LF_TIMESTAMP_LEN + 1 bytes). */
void lf_format_timestamp(int64_t seconds, char *buf, size_t len);
/* Day of the week of a timestamp, 0 = Monday .. 6 = Sunday (lf_parse_days' bit order). */
int lf_timestamp_weekday(int64_t seconds);

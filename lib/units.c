/* Units parsing and printing; see units.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "units.h"

int lf_parse_duration(const char *s, uint64_t *ret_seconds) {
        uint64_t v = 0, mult;
        const char *p = s;

        if (!s || *p < '0' || *p > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > UINT32_MAX)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (streq(p, "s"))
                mult = 1;
        else if (streq(p, "m") || streq(p, "min"))
                mult = 60;
        else if (streq(p, "h"))
                mult = 3600;
        else if (streq(p, "d"))
                mult = 86400;
        else
                return -EINVAL;
        *ret_seconds = v * mult;
        return 0;
}

int lf_parse_clock(const char *s, int *ret_minutes) {
        if (!s || strlen(s) != 5 || s[2] != ':')
                return -EINVAL;
        for (int i = 0; i < 5; i++)
                if (i != 2 && (s[i] < '0' || s[i] > '9'))
                        return -EINVAL;
        int h = (s[0] - '0') * 10 + (s[1] - '0');
        int m = (s[3] - '0') * 10 + (s[4] - '0');
        if (m > 59 || h > 24 || (h == 24 && m != 0))
                return -EINVAL;
        *ret_minutes = h * 60 + m;
        return 0;
}

static int day_index(const char *s, size_t n) {
        static const char *const names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
        for (int i = 0; i < 7; i++)
                if (n == 3 && strneq(s, names[i], 3))
                        return i;
        return -1;
}

int lf_parse_days(const char *s, unsigned *ret_mask) {
        unsigned mask = 0;

        if (!s || !*s)
                return -EINVAL;
        while (*s) {
                size_t n = strcspn(s, ",");
                const char *dash = memchr(s, '-', n);
                int a, b;

                if (dash) {
                        a = day_index(s, (size_t)(dash - s));
                        b = day_index(dash + 1, n - (size_t)(dash - s) - 1);
                } else
                        a = b = day_index(s, n);
                if (a < 0 || b < 0)
                        return -EINVAL;
                /* A range may wrap over the weekend ("fri-mon"). */
                for (int i = a;; i = (i + 1) % 7) {
                        mask |= 1u << i;
                        if (i == b)
                                break;
                }
                s += n;
                if (*s == ',') {
                        s++;
                        if (!*s)
                                return -EINVAL;
                }
        }
        *ret_mask = mask;
        return 0;
}

void lf_format_size(uint64_t bytes, char *buf, size_t len) {
        static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = (double)bytes;
        size_t u = 0;

        if (bytes < 1024) {
                snprintf(buf, len, "%llu B", (unsigned long long)bytes);
                return;
        }
        while (v >= 1024 && u + 1 < ELEMENTSOF(unit)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, len, "%.1f %s", v, unit[u]);
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard Hinnant's algorithms):
 * no timegm(), so the result never depends on the process's time zone. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d) {
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        *d = doy - (153 * mp + 2) / 5 + 1;
        *m = mp < 10 ? mp + 3 : mp - 9;
        *y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n) {
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

int lf_parse_timestamp(const char *s, int64_t *ret_seconds) {
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

        if (!s || strlen(s) != LF_TIMESTAMP_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
            s[13] != ':' || s[16] != ':' || s[19] != 'Z')
                return -EINVAL;
        int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
        int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
        if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
            sec < 0 || sec > 59)
                return -EINVAL;
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if (d > mdays[mo - 1] + (mo == 2 && leap))
                return -EINVAL;
        *ret_seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
        return 0;
}

void lf_format_timestamp(int64_t seconds, char *buf, size_t len) {
        int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
        int64_t rem = seconds - days * 86400, y, m, d;

        civil_from_days(days, &y, &m, &d);
        snprintf(buf, len, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", (long long)y,
                 (long long)m, (long long)d, (long long)(rem / 3600), (long long)(rem / 60 % 60),
                 (long long)(rem % 60));
}

int lf_timestamp_weekday(int64_t seconds) {
        int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
        /* 1970-01-01 was a Thursday (3 when Monday is 0). */
        return (int)(((days % 7) + 7 + 3) % 7);
}

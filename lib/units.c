/* Units parsing and printing; see units.h. */
#include <errno.h>
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

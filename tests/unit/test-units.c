/* Durations, clock times, weekday ranges, sizes, MACs and IPv4 subnets. */
#include "net.h"
#include "test.h"
#include "units.h"

TEST(durations) {
        uint64_t s;
        ASSERT_EQ(lf_parse_duration("30m", &s), 0);
        ASSERT_EQ(s, 1800);
        ASSERT_EQ(lf_parse_duration("5s", &s), 0);
        ASSERT_EQ(s, 5);
        ASSERT_EQ(lf_parse_duration("2h", &s), 0);
        ASSERT_EQ(s, 7200);
        ASSERT_EQ(lf_parse_duration("1d", &s), 0);
        ASSERT_EQ(s, 86400);
        ASSERT_TRUE(lf_parse_duration("30", &s) < 0);
        ASSERT_TRUE(lf_parse_duration("m", &s) < 0);
        ASSERT_TRUE(lf_parse_duration("-5s", &s) < 0);
        ASSERT_TRUE(lf_parse_duration("5 s", &s) < 0);
        ASSERT_TRUE(lf_parse_duration("99999999999999s", &s) < 0);
}

TEST(clock_times) {
        int m;
        ASSERT_EQ(lf_parse_clock("08:00", &m), 0);
        ASSERT_EQ(m, 480);
        ASSERT_EQ(lf_parse_clock("24:00", &m), 0);
        ASSERT_EQ(m, 1440);
        ASSERT_TRUE(lf_parse_clock("8:00", &m) < 0);
        ASSERT_TRUE(lf_parse_clock("08:60", &m) < 0);
        ASSERT_TRUE(lf_parse_clock("25:00", &m) < 0);
}

TEST(weekdays) {
        unsigned d;
        ASSERT_EQ(lf_parse_days("mon-fri", &d), 0);
        ASSERT_EQ(d, 0x1f);
        ASSERT_EQ(lf_parse_days("sat,sun", &d), 0);
        ASSERT_EQ(d, 0x60);
        ASSERT_EQ(lf_parse_days("fri-mon", &d), 0);
        ASSERT_EQ(d, 0x71);
        ASSERT_TRUE(lf_parse_days("monday", &d) < 0);
        ASSERT_TRUE(lf_parse_days("mon,", &d) < 0);
}

TEST(sizes) {
        char b[32];
        lf_format_size(512110190592ull, b, sizeof(b));
        ASSERT_STREQ(b, "476.9 GiB");
        lf_format_size(1023, b, sizeof(b));
        ASSERT_STREQ(b, "1023 B");
        lf_format_size(512ull << 20, b, sizeof(b));
        ASSERT_STREQ(b, "512.0 MiB");
}

TEST(macs) {
        char m[LF_MAC_STR_LEN + 1];
        ASSERT_EQ(lf_mac_parse("52:54:00:AB:cd:01", m), 0);
        ASSERT_STREQ(m, "52:54:00:ab:cd:01");
        ASSERT_EQ(lf_mac_parse("52-54-00-ab-cd-01", m), 0);
        ASSERT_STREQ(m, "52:54:00:ab:cd:01");
        ASSERT_TRUE(lf_mac_parse("52:54:00:ab:cd", m) < 0);
        ASSERT_TRUE(lf_mac_parse("52:54-00:ab:cd:01", m) < 0);
        ASSERT_TRUE(lf_mac_parse("52:54:00:ab:cd:0g", m) < 0);
}

TEST(subnets) {
        lf_cidr a, b;
        char s[32];
        ASSERT_EQ(lf_cidr_parse("10.10.0.0/16", false, &a), 0);
        ASSERT_EQ(a.prefix, 16);
        ASSERT_EQ(lf_cidr_parse("10.10.3.0/24", false, &b), 0);
        ASSERT_TRUE(lf_cidr_overlap(a, b));
        ASSERT_EQ(lf_cidr_parse("192.168.50.1/24", false, &b), 0);
        ASSERT_TRUE(!lf_cidr_overlap(a, b));
        lf_ipv4_format(lf_cidr_network(b), s, sizeof(s));
        ASSERT_STREQ(s, "192.168.50.0");
        ASSERT_TRUE(lf_cidr_contains(b, 0xc0a832fe));
        ASSERT_EQ(lf_cidr_size(b), 256);
        ASSERT_TRUE(lf_cidr_parse("10.0.0.0/33", false, &a) < 0);
        ASSERT_TRUE(lf_cidr_parse("10.0.0/8", false, &a) < 0);
        ASSERT_TRUE(lf_cidr_parse("10.0.0.1", false, &a) < 0);
        ASSERT_EQ(lf_cidr_parse("10.0.0.1", true, &a), 0);
        ASSERT_EQ(a.prefix, 32);
        lf_cidr_format(b, s, sizeof(s));
        ASSERT_STREQ(s, "192.168.50.1/24");
}

/* Host figures from /proc (roles/hoststat.c), on captured text and a fake /proc. */
#include <errno.h>
#include <stdio.h>

#include "../../roles/hoststat.h"
#include "test.h"

static const char stat_a[] = "cpu  431864 0 73017 252449 7393 0 1764 6976 0 0\n"
                             "cpu0 209282 0 35065 136141 2181 0 601 3395 0 0\n"
                             "cpu1 222582 0 37951 116307 5211 0 1163 3581 0 0\n"
                             "intr 123 0 0\nctxt 9\ncpufreq 1\nprocs_running 2\n";
/* 1000 jiffies later: 300 busy (user 200, system 100), 700 idle or waiting. */
static const char stat_b[] = "cpu  432064 0 73117 253049 7493 0 1764 6976 0 0\n"
                             "cpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n";

TEST(cpu_times_and_utilisation) {
        lf_cpu_times a, b;

        ASSERT_EQ(lf_hoststat_parse_cpu(stat_a, &a), 0);
        ASSERT_EQ(a.cpus, 2); /* "cpufreq" is not a CPU */
        ASSERT_EQ(a.total, 431864 + 73017 + 252449 + 7393 + 1764 + 6976);
        ASSERT_EQ(a.idle, 252449 + 7393);
        ASSERT_EQ(lf_hoststat_parse_cpu(stat_b, &b), 0);
        ASSERT_TRUE(lf_hoststat_cpu_util(&a, &b) == 30.0);
        ASSERT_TRUE(lf_hoststat_cpu_util(&a, &a) == -1); /* no time passed */
        ASSERT_TRUE(lf_hoststat_cpu_util(&b, &a) == -1); /* counters went back */
}

TEST(cpu_refuses_malformed) {
        lf_cpu_times t;

        ASSERT_EQ(lf_hoststat_parse_cpu("", &t), -EINVAL);
        ASSERT_EQ(lf_hoststat_parse_cpu("cpu 1 2 3\ncpu0 1 2 3 4\n", &t), -EINVAL);
        ASSERT_EQ(lf_hoststat_parse_cpu("cpu 1 2 3 4\n", &t), -EINVAL); /* no cpuN line */
        ASSERT_EQ(lf_hoststat_parse_cpu("cpu 1 2 3 4\ncpu0 1 2 3 4\n", &t), 0);
        ASSERT_EQ(t.total, 10);
}

TEST(meminfo) {
        lf_mem_info m;

        ASSERT_EQ(lf_hoststat_parse_mem("MemTotal:       24684096 kB\n"
                                        "MemFree:        18900368 kB\n"
                                        "MemAvailable:   22387852 kB\n",
                                        &m),
                  0);
        ASSERT_EQ(m.total_mb, 24105);
        ASSERT_EQ(m.available_mb, 21863);
        ASSERT_EQ(lf_hoststat_parse_mem("MemTotal: 1024 kB\nMemFree: 5 kB\n", &m), -EINVAL);
        ASSERT_EQ(lf_hoststat_parse_mem("MemTotalX: 1 kB\nMemAvailable: 1 kB\n", &m), -EINVAL);
}

TEST(reads_a_proc_directory) {
        const char *dir = lf_test_tmpdir();
        char path[512];
        lf_cpu_times c;
        lf_mem_info m;
        FILE *f;

        ASSERT_EQ(lf_hoststat_read(dir, &c, &m), -ENOENT);
        snprintf(path, sizeof(path), "%s/stat", dir);
        f = fopen(path, "w");
        fputs(stat_a, f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/meminfo", dir);
        f = fopen(path, "w");
        fputs("MemTotal: 2097152 kB\nMemAvailable: 1048576 kB\n", f);
        fclose(f);
        ASSERT_EQ(lf_hoststat_read(dir, &c, &m), 0);
        ASSERT_EQ(c.cpus, 2);
        ASSERT_EQ(m.total_mb, 2048);
        ASSERT_EQ(m.available_mb, 1024);
        /* And the live files of this machine. */
        ASSERT_EQ(lf_hoststat_read(NULL, &c, &m), 0);
        ASSERT_TRUE(c.cpus >= 1 && m.total_mb > 0);
}

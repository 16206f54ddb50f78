/* What a node reports about itself as a VM host: CPU use from /proc/stat deltas and memory from
 * /proc/meminfo. Pure parsers (tested on captured text) and a reader of the live files. */
#pragma once

#include <stdint.h>

typedef struct lf_cpu_times {
        uint64_t total; /* jiffies spent in any state (guest time is inside user/nice already) */
        uint64_t idle;  /* idle + iowait */
        unsigned cpus;  /* cpuN lines */
} lf_cpu_times;

typedef struct lf_mem_info {
        int64_t total_mb;
        int64_t available_mb;
} lf_mem_info;

/* /proc/stat text -> the aggregate "cpu" line and the number of CPUs; -EINVAL when malformed. */
int lf_hoststat_parse_cpu(const char *text, lf_cpu_times *ret);
/* /proc/meminfo text -> MemTotal and MemAvailable in MiB; -EINVAL when either is missing. */
int lf_hoststat_parse_mem(const char *text, lf_mem_info *ret);
/* Percent of all CPUs busy between two readings, 0..100; -1 when no time passed or the
 * counters went backwards. */
double lf_hoststat_cpu_util(const lf_cpu_times *before, const lf_cpu_times *after);
/* Reads PROC/stat and PROC/meminfo (proc_root NULL: "/proc"). */
int lf_hoststat_read(const char *proc_root, lf_cpu_times *ret_cpu, lf_mem_info *ret_mem);

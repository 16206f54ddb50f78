/* Host CPU and memory figures from /proc; see hoststat.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "hoststat.h"
#include "macro.h"

#define PROC_FILE_MAX (1024u * 1024) /* /proc/stat of a 4096-CPU machine is ~600 KiB */

int lf_hoststat_parse_cpu(const char *text, lf_cpu_times *ret) {
        uint64_t v[8] = {};
        unsigned cpus = 0;
        int n;

        /* user nice system idle iowait irq softirq steal [guest guest_nice]: older kernels
         * print fewer columns, so at least the first four. */
        n = sscanf(text, "cpu %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                         " %" SCNu64 " %" SCNu64 " %" SCNu64,
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
        if (n < 4)
                return -EINVAL;
        for (const char *p = text; p; p = strchr(p, '\n')) {
                if (*p == '\n')
                        p++;
                if (strneq(p, "cpu", 3) && p[3] >= '0' && p[3] <= '9')
                        cpus++;
        }
        if (cpus == 0)
                return -EINVAL;
        *ret = (lf_cpu_times){.idle = v[3] + v[4], .cpus = cpus};
        for (int i = 0; i < 8; i++)
                ret->total += v[i];
        return 0;
}

static int meminfo_field(const char *text, const char *key, int64_t *ret_mb) {
        size_t klen = strlen(key);
        long long kb;

        for (const char *p = text; p; p = strchr(p, '\n')) {
                if (*p == '\n')
                        p++;
                if (strneq(p, key, klen) && p[klen] == ':' &&
                    sscanf(p + klen + 1, " %lld kB", &kb) == 1 && kb >= 0) {
                        *ret_mb = kb / 1024;
                        return 0;
                }
        }
        return -EINVAL;
}

int lf_hoststat_parse_mem(const char *text, lf_mem_info *ret) {
        lf_mem_info m;

        if (meminfo_field(text, "MemTotal", &m.total_mb) < 0 ||
            meminfo_field(text, "MemAvailable", &m.available_mb) < 0)
                return -EINVAL;
        if (m.available_mb > m.total_mb)
                m.available_mb = m.total_mb;
        *ret = m;
        return 0;
}

double lf_hoststat_cpu_util(const lf_cpu_times *before, const lf_cpu_times *after) {
        if (after->total <= before->total || after->idle < before->idle)
                return -1;
        uint64_t total = after->total - before->total, idle = after->idle - before->idle;
        if (idle > total)
                return -1;
        return 100.0 * (double)(total - idle) / (double)total;
}

int lf_hoststat_read(const char *proc_root, lf_cpu_times *ret_cpu, lf_mem_info *ret_mem) {
        _cleanup_free_ char *stat = NULL, *meminfo = NULL;
        char path[4096];
        lf_cpu_times cpu;
        lf_mem_info mem;
        lf_diag d = {};
        size_t len;
        int r;

        if (!proc_root)
                proc_root = "/proc";
        snprintf(path, sizeof(path), "%s/stat", proc_root);
        r = lf_read_file(path, PROC_FILE_MAX, &d, &stat, &len);
        if (r >= 0) {
                snprintf(path, sizeof(path), "%s/meminfo", proc_root);
                r = lf_read_file(path, PROC_FILE_MAX, &d, &meminfo, &len);
        }
        lf_diag_clear(&d);
        if (r < 0)
                return r;
        if (lf_hoststat_parse_cpu(stat, &cpu) < 0 || lf_hoststat_parse_mem(meminfo, &mem) < 0)
                return -EINVAL;
        *ret_cpu = cpu;
        *ret_mem = mem;
        return 0;
}

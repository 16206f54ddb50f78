/* Scheduler scale: plan time per mode for 10, 100 and 1,000 hosts with 20 VMs each (20,000
 * VMs on 1,000 hosts), median of repeated runs, with peak memory. Prints figures only; build
 * without sanitizers (make benches) for meaningful numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scheduler.h"
#include "units.h"

#define VMS_PER_HOST 20

static uint64_t rng_state;
static double uniform(void) {
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return (double)((z ^ (z >> 31)) >> 11) / (double)(1ULL << 53);
}

/* A room scaled up: hosts of 16 cpus and 96 GiB with 14 to 26 VMs (20 on average), some hot,
 * some cool; in `place` mode the same VMs are all pending on empty hosts. At night the VMs
 * are nearly idle so energy saving has hosts to empty. */
static lf_snapshot *make(size_t n_hosts, lf_sched_mode mode, bool night) {
        static const double activity[] = {0.1, 0.4, 0.7, 1.2};
        lf_snapshot *s = lf_snapshot_new();
        char name[64];

        if (!s)
                return NULL;
        rng_state = 42;
        lf_parse_timestamp(night ? "2026-11-23T22:00:00Z" : "2026-11-23T10:00:00Z", &s->time);
        for (size_t i = 0; i < n_hosts; i++) {
                snprintf(name, sizeof(name), "kvm%05zu", i);
                lf_sched_host h = {.name = name,
                                   .state = LF_HOST_UP,
                                   .cpus = 16,
                                   .mem_mb = 98304,
                                   .reserved_mb = 4096,
                                   .max_vms = 30};
                if (lf_snapshot_add_host(s, &h) < 0)
                        goto fail;
        }
        for (size_t i = 0; i < n_hosts; i++) {
                size_t n = VMS_PER_HOST + 3 * ((i % 5) - 2);
                double act = night ? 0.02 : activity[i % 4], used = 0;
                for (size_t k = 0; k < n; k++) {
                        snprintf(name, sizeof(name), "vm%05zu-%02zu", i, k);
                        lf_sched_vm v = {.name = name,
                                         .host = mode == LF_SCHED_PLACE ? -1 : (int)i,
                                         .mem_mb = uniform() < 0.7 ? 2048 : 4096,
                                         .vcpus = 2,
                                         .cpu_cores = 2 * act * uniform(),
                                         .last_migrated = LF_TIME_NONE};
                        used += v.cpu_cores;
                        if (lf_snapshot_add_vm(s, &v) < 0)
                                goto fail;
                }
                double util = mode == LF_SCHED_PLACE ? 0 : used * 100 / 16;
                s->hosts[i].cpu_util = util > 100 ? 100 : util;
        }
        return s;
fail:
        lf_snapshot_free(s);
        return NULL;
}

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

/* Peak RSS (MiB) of a child that builds the snapshot and, when asked, plans once: the
 * difference between the two is what planning adds. -1 on failure. */
static double peak_mib(size_t n_hosts, lf_sched_mode mode, bool night, bool plan) {
        int fd[2];
        double mib = -1;
        if (pipe(fd) < 0)
                return -1;
        pid_t pid = fork();
        if (pid == 0) {
                struct rusage ru;
                lf_snapshot *s = make(n_hosts, mode, night);
                lf_plan_sched *p = NULL;
                if (s && plan && lf_schedule(s, mode, &p) < 0)
                        _exit(1);
                getrusage(RUSAGE_SELF, &ru);
                double v = (double)ru.ru_maxrss / 1024.0;
                _exit(write(fd[1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
        }
        close(fd[1]);
        if (pid > 0 && read(fd[0], &mib, sizeof(mib)) != sizeof(mib))
                mib = -1;
        close(fd[0]);
        if (pid > 0)
                waitpid(pid, NULL, 0);
        return mib;
}

int main(void) {
        static const size_t sizes[] = {10, 100, 1000};
        static const struct {
                lf_sched_mode mode;
                bool night;
                const char *label;
        } cases[] = {
                {LF_SCHED_PLACE, false, "place (all pending)"},
                {LF_SCHED_MEMORY, false, "memory"},
                {LF_SCHED_COMPUTE, false, "compute"},
                {LF_SCHED_ENERGY, true, "energy (night)"},
                {LF_SCHED_AUTO, false, "auto (class hours)"},
                {LF_SCHED_AUTO, true, "auto (night)"},
        };
        double base[sizeof(cases) / sizeof(cases[0])] = {0};

        printf("scheduler plan time: hosts of 16 cpus, 20 VMs each on average; median of runs\n");
        printf("%6s %6s  %-20s %5s %10s %9s %8s %10s %10s\n", "hosts", "VMs", "mode", "runs",
               "median ms", "x 10 hosts", "actions", "peak MiB", "(snapshot)");
        for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
                for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
                        size_t n = sizes[si], runs = n >= 1000 ? 9 : n >= 100 ? 31 : 101;
                        lf_snapshot *s = make(n, cases[ci].mode, cases[ci].night);
                        double t[101];
                        size_t actions = 0;
                        if (!s) {
                                fprintf(stderr, "out of memory\n");
                                return 1;
                        }
                        for (size_t r = 0; r < runs; r++) {
                                lf_plan_sched *p = NULL;
                                double t0 = now_ms();
                                if (lf_schedule(s, cases[ci].mode, &p) < 0) {
                                        fprintf(stderr, "lf_schedule failed\n");
                                        return 1;
                                }
                                t[r] = now_ms() - t0;
                                actions = p->n_placements + p->n_migrations + p->n_power_on +
                                          p->n_power_off;
                                lf_plan_sched_free(p);
                        }
                        qsort(t, runs, sizeof(double), cmp_double);
                        double med = t[runs / 2];
                        if (si == 0)
                                base[ci] = med;
                        printf("%6zu %6zu  %-20s %5zu %10.3f %9.1fx %8zu %10.1f %10.1f\n", n,
                               s->n_vms, cases[ci].label, runs, med,
                               base[ci] > 0 ? med / base[ci] : 0, actions,
                               peak_mib(n, cases[ci].mode, cases[ci].night, true),
                               peak_mib(n, cases[ci].mode, cases[ci].night, false));
                        lf_snapshot_free(s);
                }
        return 0;
}

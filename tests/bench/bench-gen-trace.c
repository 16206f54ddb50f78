/* Writes a simulator TRACE and CLUSTER (lib/simulator.h) for a school day, from a fixed seed:
 * rooms whose classes of 20-60 VMs start on the hour from 08:00 to 17:00 and last 45-90 min,
 * with boot load, student activity, class-wide compile bursts and CPU-bound exercises on 5
 * VMs; a few evening VMs and two always-on servers; hosts as the night left them (2 up).
 *   bench-gen-trace [--profile school|busy|small] [--seed N] --trace T.json --cluster C.json */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "macro.h"

typedef struct hostkind {
        int count;
        int64_t cpus, mem_mb, reserved_mb, max_vms;
        double idle_w, busy_w;
} hostkind;

typedef struct profile {
        const char *name;
        int rooms;
        double p_class; /* chance that a room has a class in a given hour */
        hostkind kinds[2];
} profile;

static const profile profiles[] = {
        {"school", 4, 0.75, {{14, 16, 65536, 4096, 20, 45, 160}}},
        {"busy", 6, 0.85, {{12, 16, 65536, 4096, 20, 45, 160}, {8, 8, 32768, 2048, 12, 35, 95}}},
        {"small", 1, 0.75, {{3, 16, 65536, 4096, 24, 45, 160}}},
};

/* splitmix64: small, fast, and the same sequence on every machine. */
static uint64_t rng_state;
static uint64_t rnd(void) {
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}
static double uniform(double lo, double hi) {
        return lo + (hi - lo) * (double)(rnd() >> 11) / (double)(1ULL << 53);
}
static int pick(int lo, int hi) { /* lo..hi inclusive */
        return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

#define MAX_MIN (24 * 60)

/* One VM: its per-minute demand over its life, written as change points. */
typedef struct vmgen {
        char name[64];
        int64_t mem_mb, vcpus;
        int start_min, minutes; /* minutes < 0: runs to the end */
        double load[MAX_MIN];
} vmgen;

static void fill(vmgen *v, int from, int to, double cores) {
        for (int m = from < 0 ? 0 : from; m < to && m < MAX_MIN; m++)
                v->load[m] = cores;
}

static int emit(FILE *f, const vmgen *v, bool first) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *cpu = json_object_new_array();
        int span = v->minutes < 0 ? MAX_MIN - v->start_min : v->minutes, r = 0;
        double last = -1;

        if (!o || lf_json_add(o, "name", json_object_new_string(v->name)) < 0 ||
            lf_json_add(o, "mem_mb", json_object_new_int64(v->mem_mb)) < 0 ||
            lf_json_add(o, "vcpus", json_object_new_int64(v->vcpus)) < 0 ||
            lf_json_add(o, "start_s", json_object_new_int64(v->start_min * 60)) < 0)
                return -ENOMEM;
        if (v->minutes >= 0)
                r |= lf_json_add(o, "stop_s",
                                 json_object_new_int64((v->start_min + v->minutes) * 60));
        r |= lf_json_add(o, "cpu", cpu);
        for (int m = 0; m < span && r >= 0; m++) {
                double c = round(fmin(v->load[m], (double)v->vcpus) * 100) / 100;
                if (c == last)
                        continue;
                json_object *pt = json_object_new_array();
                r |= lf_json_append(cpu, pt);
                if (r >= 0)
                        r |= lf_json_append(pt, json_object_new_int64(m * 60)) |
                             lf_json_append(pt, lf_json_new_double(c, 2));
                last = c;
        }
        if (r < 0)
                return -ENOMEM;
        fprintf(f, "%s\n  %s", first ? "" : ",",
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        return 0;
}

/* Student activity in 5-minute slots around the class's level, boot load first, idle last. */
static void student(vmgen *v, double level, bool absent) {
        for (int m = 0; m < v->minutes; m += 5)
                fill(v, m, m + 5, absent ? 0.02 : level * uniform(0.4, 1.6));
        fill(v, 0, 2, 1.0);
        fill(v, v->minutes - 5, v->minutes, 0.05);
}

static int gen_class(FILE *f, vmgen *vms, int room, int hour, bool *first) {
        static const struct {
                double p;
                int64_t mem_mb, vcpus;
        } templates[] = {{0.6, 2048, 2}, {0.3, 4096, 2}, {0.1, 4096, 4}};
        int n = pick(20, 60), minutes = 45 + 15 * pick(0, 3), t = 0;
        double level = uniform(0.1, 0.5), x = uniform(0, 1);

        while (t < (int)ELEMENTSOF(templates) - 1 && x > templates[t].p) {
                x -= templates[t].p;
                t++;
        }
        for (int i = 0; i < n; i++) {
                vmgen *v = &vms[i];
                memset(v->load, 0, sizeof(v->load));
                snprintf(v->name, sizeof(v->name), "r%d-%02d00-%02d", room, hour, i + 1);
                v->mem_mb = templates[t].mem_mb;
                v->vcpus = templates[t].vcpus;
                v->start_min = hour * 60;
                v->minutes = minutes;
                student(v, level, uniform(0, 1) < 0.1);
        }
        /* Compile bursts: most of the class builds at about the same time. */
        for (int b = pick(0, 3); b > 0; b--) {
                int at = pick(10, minutes - 10), len = pick(3, 8);
                for (int i = 0; i < n; i++)
                        if (uniform(0, 1) < 0.7) {
                                int s = at + pick(0, 2);
                                fill(&vms[i], s, s + len, (double)vms[i].vcpus * uniform(0.8, 1.0));
                        }
        }
        /* A CPU-bound exercise on 5 VMs (the published 105 -> 67 minute job). */
        if (uniform(0, 1) < 0.3) {
                int at = pick(10, 25), len = pick(30, 60);
                if (len > minutes - 5 - at)
                        len = minutes - 5 - at;
                for (int k = 0; k < 5; k++) {
                        vmgen *v = &vms[pick(0, n - 1)];
                        fill(v, at, at + len, (double)v->vcpus);
                }
        }
        for (int i = 0; i < n; i++)
                if (emit(f, &vms[i], *first) < 0)
                        return -ENOMEM;
                else
                        *first = false;
        return n;
}

static int gen_trace(FILE *f, const profile *pr) {
        _cleanup_free_ vmgen *vms = calloc(60, sizeof(vmgen));
        bool first = true;
        int total = 0, r;

        if (!vms)
                return -ENOMEM;
        fprintf(f, "{\"start\": \"2026-11-23T00:00:00Z\", \"duration_s\": 86400, \"step_s\": 60,"
                   "\n \"vms\": [");
        /* Two servers that run all day (the teachers' file and licence servers). */
        for (int i = 0; i < 2; i++) {
                vmgen *v = &vms[0];
                *v = (vmgen){.mem_mb = 4096, .vcpus = 2, .start_min = 0, .minutes = -1};
                snprintf(v->name, sizeof(v->name), "srv-%02d", i + 1);
                for (int m = 0; m < MAX_MIN; m += 30)
                        fill(v, m, m + 30, uniform(0.1, 0.4));
                if (emit(f, v, first) < 0)
                        return -ENOMEM;
                first = false;
        }
        for (int room = 1; room <= pr->rooms; room++)
                for (int hour = 8, busy_until = 0; hour <= 17; hour++) {
                        if (hour * 60 < busy_until || uniform(0, 1) >= pr->p_class)
                                continue;
                        r = gen_class(f, vms, room, hour, &first);
                        if (r < 0)
                                return r;
                        busy_until = hour * 60 + vms[0].minutes;
                        total += r;
                }
        /* Evening: a few students finishing work remotely. */
        for (int i = 0, n = pick(3, 8); i < n; i++) {
                vmgen *v = &vms[0];
                *v = (vmgen){.mem_mb = 2048,
                             .vcpus = 2,
                             .start_min = pick(18 * 60, 21 * 60 + 30),
                             .minutes = pick(60, 180)};
                snprintf(v->name, sizeof(v->name), "eve-%02d", i + 1);
                student(v, uniform(0.1, 0.4), false);
                if (uniform(0, 1) < 0.5) {
                        int at = pick(10, v->minutes - 15);
                        fill(v, at, at + pick(3, 8), 1.8);
                }
                if (emit(f, v, first) < 0)
                        return -ENOMEM;
        }
        fprintf(f, "\n]}\n");
        return total;
}

static int gen_cluster(FILE *f, const profile *pr) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *hosts = json_object_new_array();
        int n = 0, r = 0;

        if (!o || lf_json_add(o, "hosts", hosts) < 0)
                return -ENOMEM;
        for (size_t k = 0; k < ELEMENTSOF(pr->kinds); k++)
                for (int i = 0; i < pr->kinds[k].count; i++) {
                        const hostkind *hk = &pr->kinds[k];
                        json_object *h = json_object_new_object();
                        char name[32];
                        snprintf(name, sizeof(name), "kvm%02d", ++n);
                        if (lf_json_append(hosts, h) < 0)
                                return -ENOMEM;
                        r |= lf_json_add(h, "name", json_object_new_string(name));
                        r |= lf_json_add(h, "cpus", json_object_new_int64(hk->cpus));
                        r |= lf_json_add(h, "mem_mb", json_object_new_int64(hk->mem_mb));
                        r |= lf_json_add(h, "reserved_mb", json_object_new_int64(hk->reserved_mb));
                        r |= lf_json_add(h, "max_vms", json_object_new_int64(hk->max_vms));
                        /* The night left two hosts up: enough for the servers and the reserve. */
                        r |= lf_json_add(h, "state", json_object_new_string(n <= 2 ? "up" : "off"));
                        r |= lf_json_add(h, "boot_s", json_object_new_int64(120));
                        r |= lf_json_add(h, "idle_w", json_object_new_int64((int64_t)hk->idle_w));
                        r |= lf_json_add(h, "busy_w", json_object_new_int64((int64_t)hk->busy_w));
                }
        r |= lf_json_add(o, "decision_interval_s", json_object_new_int64(300));
        r |= lf_json_add(o, "migration_mb_per_s", json_object_new_int64(1024));
        r |= lf_json_add(o, "migration_overhead_s", json_object_new_int64(5));
        return r < 0 ? -ENOMEM : lf_json_write(f, o);
}

static int write_file(const char *path, int (*gen)(FILE *, const profile *), const profile *pr) {
        FILE *f = fopen(path, "we");
        if (!f)
                return log_error_errno(-errno, "Failed to open %s: %m", path);
        int r = gen(f, pr);
        if (fclose(f) != 0 && r >= 0)
                r = -errno;
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        return r;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"profile", required_argument, NULL, 'p'},
                {"seed", required_argument, NULL, 's'},
                {"trace", required_argument, NULL, 't'},
                {"cluster", required_argument, NULL, 'c'},
                {},
        };
        const char *name = "school", *trace = NULL, *cluster = NULL;
        const profile *pr = NULL;
        uint64_t seed = 1;
        int c, r;

        lf_log_set_program("bench-gen-trace");
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'p':
                        name = optarg;
                        break;
                case 's':
                        seed = strtoull(optarg, NULL, 10);
                        break;
                case 't':
                        trace = optarg;
                        break;
                case 'c':
                        cluster = optarg;
                        break;
                default:
                        return 2;
                }
        for (size_t i = 0; i < ELEMENTSOF(profiles); i++)
                if (streq(profiles[i].name, name))
                        pr = &profiles[i];
        if (!pr || !trace || !cluster) {
                fprintf(stderr, "usage: bench-gen-trace [--profile school|busy|small] [--seed N] "
                                "--trace T.json --cluster C.json\n");
                return 2;
        }
        rng_state = seed;
        r = write_file(trace, gen_trace, pr);
        if (r < 0)
                return 1;
        printf("%s: %d class VMs in %d rooms (profile %s, seed %llu)\n", trace, r, pr->rooms,
               pr->name, (unsigned long long)seed);
        return write_file(cluster, gen_cluster, pr) < 0 ? 1 : 0;
}

/* The scheduler against golden files (tests/fixtures/scheduler/NAME.snapshot.json ->
 * NAME.plan.json, some also NAME.plan.txt), runs over consecutive cycles (anti-flap, a host
 * failing mid-plan, energy), determinism, and every kind of bad snapshot. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "scheduler.h"
#include "test.h"
#include "units.h"

static lf_snapshot *load(const char *name) {
        char rel[256];
        lf_diag d = {};
        lf_snapshot *s = NULL;

        snprintf(rel, sizeof(rel), "tests/fixtures/scheduler/%s.snapshot.json", name);
        if (lf_snapshot_load(lf_test_path(rel), &d, &s) < 0) {
                for (size_t i = 0; i < d.n; i++)
                        fprintf(stderr, "%s\n", d.msgs[i]);
                lf_test_fail(__FILE__, __LINE__, "cannot load %s", rel);
        }
        lf_diag_clear(&d);
        return s;
}

static char *plan_json(const lf_plan_sched *p, const lf_snapshot *s) {
        _cleanup_json_ json_object *j = NULL;
        ASSERT_EQ(lf_sched_plan_to_json(p, s, true, &j), 0);
        char *out = lf_json_to_string(j);
        ASSERT_TRUE(out);
        return out;
}

static lf_plan_sched *plan(const lf_snapshot *s, lf_sched_mode mode) {
        lf_plan_sched *p = NULL;
        ASSERT_EQ(lf_schedule(s, mode, &p), 0);
        return p;
}

/* Plans, compares with NAME.plan.json (and .txt when asked), returns the plan. */
static lf_plan_sched *golden(const lf_snapshot *s, lf_sched_mode mode, const char *name,
                             bool text) {
        char rel[256];
        lf_plan_sched *p = plan(s, mode);
        _cleanup_free_ char *j = plan_json(p, s);

        snprintf(rel, sizeof(rel), "tests/fixtures/scheduler/%s.plan.json", name);
        ASSERT_GOLDEN(j, rel);
        if (text) {
                _cleanup_free_ char *t = lf_sched_plan_to_text(p, s, true);
                snprintf(rel, sizeof(rel), "tests/fixtures/scheduler/%s.plan.txt", name);
                ASSERT_GOLDEN(t, rel);
        }
        return p;
}

static int host_index(const lf_snapshot *s, const char *name) {
        for (size_t i = 0; i < s->n_hosts; i++)
                if (streq(s->hosts[i].name, name))
                        return (int)i;
        lf_test_fail(__FILE__, __LINE__, "no host %s", name);
}

static int vm_index(const lf_snapshot *s, const char *name) {
        for (size_t i = 0; i < s->n_vms; i++)
                if (streq(s->vms[i].name, name))
                        return (int)i;
        lf_test_fail(__FILE__, __LINE__, "no VM %s", name);
}

/* Students shut their VMs down: those on `host` leave the snapshot. */
static void drop_vms_on(lf_snapshot *s, const char *host) {
        int h = host_index(s, host);
        size_t k = 0;
        for (size_t i = 0; i < s->n_vms; i++) {
                if (s->vms[i].host == h) {
                        free(s->vms[i].name);
                        continue;
                }
                s->vms[k++] = s->vms[i];
        }
        s->n_vms = k;
}

#define GOLDEN_TEST(ident, name, mode, text)                                                       \
        TEST(golden_##ident) {                                                                     \
                _cleanup_snapshot_ lf_snapshot *s = load(name);                                    \
                _cleanup_plan_sched_ lf_plan_sched *p = golden(s, mode, name, text);               \
        }

GOLDEN_TEST(place_basic, "place-basic", LF_SCHED_PLACE, true)
GOLDEN_TEST(place_ties, "place-ties", LF_SCHED_PLACE, false)
GOLDEN_TEST(place_constraints, "place-constraints", LF_SCHED_PLACE, false)
GOLDEN_TEST(place_overfull, "place-overfull", LF_SCHED_PLACE, true)
GOLDEN_TEST(maintenance_evacuate, "maintenance-evacuate", LF_SCHED_MEMORY, true)
GOLDEN_TEST(memory_balance, "memory-balance", LF_SCHED_MEMORY, true)
GOLDEN_TEST(memory_stuck, "memory-stuck", LF_SCHED_MEMORY, false)
GOLDEN_TEST(memory_no_room, "memory-no-room", LF_SCHED_MEMORY, false)
GOLDEN_TEST(memory_min_interval, "memory-min-interval", LF_SCHED_MEMORY, false)
GOLDEN_TEST(compute_hot, "compute-hot", LF_SCHED_COMPUTE, true)
GOLDEN_TEST(compute_no_cool, "compute-no-cool", LF_SCHED_COMPUTE, false)
GOLDEN_TEST(compute_calm, "compute-calm", LF_SCHED_COMPUTE, false)
GOLDEN_TEST(energy_power_off, "energy-power-off", LF_SCHED_ENERGY, true)
GOLDEN_TEST(energy_reserve, "energy-reserve", LF_SCHED_ENERGY, false)
GOLDEN_TEST(energy_power_on, "energy-power-on", LF_SCHED_ENERGY, false)
GOLDEN_TEST(energy_power_on_min_interval, "energy-power-on-min-interval", LF_SCHED_ENERGY, false)
GOLDEN_TEST(energy_power_on_pending, "energy-power-on-pending", LF_SCHED_ENERGY, false)
GOLDEN_TEST(energy_one_action, "energy-one-action", LF_SCHED_ENERGY, false)
GOLDEN_TEST(energy_mem_slots, "energy-mem-slots", LF_SCHED_ENERGY, false)
GOLDEN_TEST(energy_min_interval, "energy-min-interval", LF_SCHED_ENERGY, false)
GOLDEN_TEST(auto_class, "auto-class", LF_SCHED_AUTO, true)
GOLDEN_TEST(auto_weekend, "auto-weekend", LF_SCHED_AUTO, false)
GOLDEN_TEST(auto_compute_mode, "auto-compute-mode", LF_SCHED_AUTO, false)
GOLDEN_TEST(compute_saturated, "compute-saturated", LF_SCHED_COMPUTE, true)
GOLDEN_TEST(powering_on_covers, "powering-on-covers", LF_SCHED_AUTO, false)
GOLDEN_TEST(powering_on_short, "powering-on-short", LF_SCHED_AUTO, true)

/* Behaviour the golden files show, asserted directly so a careless regeneration fails. */
TEST(overfull_changes_nothing_else) {
        _cleanup_snapshot_ lf_snapshot *s = load("place-overfull");
        _cleanup_plan_sched_ lf_plan_sched *p = plan(s, LF_SCHED_PLACE);
        ASSERT_EQ(p->n_migrations, 0);
        ASSERT_EQ(p->n_power_on + p->n_power_off, 0);
        ASSERT_EQ(p->n_failures, 2);
        ASSERT_EQ(p->n_placements, 4);
        ASSERT_EQ(p->failures[0].vm, vm_index(s, "p4"));
        ASSERT_CONTAINS(p->failures[0].reason, "1 short of memory");
        ASSERT_EQ(p->failures[1].vm, vm_index(s, "p6"));
        ASSERT_CONTAINS(p->failures[1].reason, "2 at max_vms");
        /* The maintenance host keeps its VM: place mode only places. */
        ASSERT_EQ(s->vms[vm_index(s, "m1")].host, host_index(s, "mnt1"));
}

TEST(energy_power_on_is_one_action) {
        _cleanup_snapshot_ lf_snapshot *s = load("energy-power-on");
        _cleanup_plan_sched_ lf_plan_sched *p = plan(s, LF_SCHED_ENERGY);
        ASSERT_EQ(p->n_power_on, 1);
        ASSERT_EQ(p->n_power_off, 0);
        /* off-b and off-c both have 8 slots: the name decides. */
        ASSERT_EQ(p->power_on[0], host_index(s, "off-b"));
}

TEST(evacuation_ignores_hold_but_not_pinned) {
        _cleanup_snapshot_ lf_snapshot *s = load("maintenance-evacuate");
        _cleanup_plan_sched_ lf_plan_sched *p = plan(s, LF_SCHED_MEMORY);
        bool held_moved = false;
        for (size_t i = 0; i < p->n_migrations; i++) {
                ASSERT_TRUE(p->migrations[i].vm != vm_index(s, "m-pinned"));
                ASSERT_EQ(p->migrations[i].reason, LF_REASON_MAINTENANCE);
                held_moved |= p->migrations[i].vm == vm_index(s, "m-held");
        }
        ASSERT_TRUE(held_moved);
        ASSERT_EQ(p->n_failures, 1);
        ASSERT_EQ(p->failures[0].vm, vm_index(s, "m-pinned"));
}

static bool explains(const lf_plan_sched *p, const char *what) {
        for (size_t i = 0; i < p->n_explain; i++)
                if (strstr(p->explain[i], what))
                        return true;
        return false;
}

/* 08:00, a class arrives on a cluster that is full: every mode places what fits and sees
 * that capacity is short; energy and auto (in class hours too) power on the off host with
 * the most slots, the other modes only say which one they would. */
/* Hot hosts and no up host below cpu_low: auto powers on the off host with the most cpus (not
 * the one in maintenance); compute mode only says so; a host already powering on is waited
 * for; and a cycle that already powers a host on wakes no second one. */
TEST(compute_wakes_a_host_for_cpu) {
        _cleanup_snapshot_ lf_snapshot *s = load("compute-wake");
        _cleanup_plan_sched_ lf_plan_sched *a = golden(s, LF_SCHED_AUTO, "compute-wake-auto", true);
        _cleanup_plan_sched_ lf_plan_sched *c =
                golden(s, LF_SCHED_COMPUTE, "compute-wake-compute", false);
        _cleanup_plan_sched_ lf_plan_sched *e = plan(s, LF_SCHED_ENERGY);

        ASSERT_EQ(a->n_power_on, 1);
        ASSERT_EQ(a->power_on[0], host_index(s, "kvm4"));
        ASSERT_EQ(a->n_migrations, 0);
        ASSERT_EQ(c->n_power_on, 0);
        ASSERT_EQ(e->n_power_on, 0); /* slots are not short: only the cpu is */

        s->hosts[host_index(s, "kvm3")].powering_on = true;
        _cleanup_plan_sched_ lf_plan_sched *w =
                golden(s, LF_SCHED_AUTO, "compute-wake-coming", false);
        ASSERT_EQ(w->n_power_on, 0);
        s->hosts[host_index(s, "kvm3")].powering_on = false;

        /* Outside class hours energy saving decides, not compute balance. */
        s->time += 12 * 3600;
        _cleanup_plan_sched_ lf_plan_sched *n = plan(s, LF_SCHED_AUTO);
        ASSERT_EQ(n->n_power_on, 0);
}

TEST(capacity_short_in_every_mode) {
        _cleanup_snapshot_ lf_snapshot *s = load("capacity-short");
        char name[64];

        for (lf_sched_mode m = 0; m < _LF_SCHED_MODE_MAX; m++) {
                snprintf(name, sizeof(name), "capacity-short-%s", lf_sched_mode_to_string(m));
                _cleanup_plan_sched_ lf_plan_sched *p = golden(s, m, name, m == LF_SCHED_AUTO);
                ASSERT_EQ(p->n_placements, 1);
                ASSERT_EQ(p->n_failures, 4);
                ASSERT_EQ(p->n_power_off, 0);
                if (m == LF_SCHED_ENERGY || m == LF_SCHED_AUTO) {
                        ASSERT_EQ(p->n_power_on, 1);
                        ASSERT_EQ(p->power_on[0], host_index(s, "off-b"));
                } else {
                        ASSERT_EQ(p->n_power_on, 0);
                        ASSERT_TRUE(explains(p, "auto or energy mode would power on off-b"));
                }
        }
}

/* The host woken for a shortage is powering on in the next cycles: the same shortage wakes
 * nothing more, nothing is placed on it; once it is up the waiting VMs go there. */
TEST(power_on_once_per_shortage) {
        _cleanup_snapshot_ lf_snapshot *s = load("capacity-short");
        int off_b = host_index(s, "off-b");
        lf_plan_sched *p = plan(s, LF_SCHED_AUTO);

        ASSERT_EQ(p->n_power_on, 1);
        ASSERT_EQ(p->power_on[0], off_b);
        ASSERT_EQ(lf_snapshot_apply(s, p), 0);
        lf_plan_sched_free(p);
        /* Booting: the daemon reports it off and powering on. */
        s->hosts[off_b].state = LF_HOST_OFF;
        s->hosts[off_b].powering_on = true;
        s->time += 60;
        p = golden(s, LF_SCHED_AUTO, "power-on-cycle-2", false);
        ASSERT_EQ(p->n_power_on + p->n_power_off, 0);
        ASSERT_EQ(p->n_placements, 0);
        ASSERT_EQ(p->n_failures, 4);
        ASSERT_TRUE(explains(p, "off-b is powering on with room for 8 VMs"));
        lf_plan_sched_free(p);
        /* The same with energy mode: it does not wake the booting host either. */
        p = plan(s, LF_SCHED_ENERGY);
        ASSERT_EQ(p->n_power_on + p->n_power_off, 0);
        lf_plan_sched_free(p);

        s->hosts[off_b].state = LF_HOST_UP;
        s->hosts[off_b].powering_on = false;
        s->time += 60;
        p = golden(s, LF_SCHED_AUTO, "power-on-cycle-3", false);
        ASSERT_EQ(p->n_power_on + p->n_power_off, 0);
        ASSERT_EQ(p->n_placements, 4);
        for (size_t i = 0; i < p->n_placements; i++)
                ASSERT_EQ(p->placements[i].host, off_b);
        lf_plan_sched_free(p);
}

/* More VMs wait than the booting host has room for: another host is woken, never the one
 * already booting (though it has the most slots), and nothing is placed on it. */
TEST(powering_on_host_not_woken_again) {
        _cleanup_snapshot_ lf_snapshot *s = load("powering-on-short");
        _cleanup_snapshot_ lf_snapshot *s2 = load("powering-on-covers");
        _cleanup_plan_sched_ lf_plan_sched *p = plan(s, LF_SCHED_AUTO);
        _cleanup_plan_sched_ lf_plan_sched *p2 = plan(s2, LF_SCHED_AUTO);
        int boot_a = host_index(s, "boot-a");

        ASSERT_EQ(p->n_power_on, 1);
        ASSERT_EQ(p->power_on[0], host_index(s, "off-b"));
        ASSERT_EQ(p->n_failures, 10);
        for (size_t i = 0; i < p->n_placements; i++)
                ASSERT_TRUE(p->placements[i].host != boot_a);
        /* 3 wait for boot-a's 8 slots, which leaves 5 >= reserve 4: nothing is woken. */
        ASSERT_EQ(p2->n_power_on + p2->n_power_off, 0);
        ASSERT_EQ(p2->n_failures, 3);
        for (size_t i = 0; i < p2->n_placements; i++)
                ASSERT_TRUE(p2->placements[i].host != host_index(s2, "boot-a"));
}

/* The cluster energy-power-off empties at 22:00 stays on at 10:00 on a Monday. */
TEST(energy_powers_off_only_outside_class_hours) {
        _cleanup_snapshot_ lf_snapshot *s = load("energy-power-off");
        ASSERT_EQ(lf_parse_timestamp("2026-11-23T10:00:00Z", &s->time), 0);
        _cleanup_plan_sched_ lf_plan_sched *p =
                golden(s, LF_SCHED_ENERGY, "energy-class-hours", false);
        ASSERT_EQ(p->n_power_off + p->n_power_on + p->n_migrations, 0);
        ASSERT_TRUE(explains(p, "hosts are powered off only outside them"));
}

/* Right after class hours the last classes' VMs are still stopping: energy saving waits
 * min_interval_s (30 min) from the end of class hours before it empties a host. */
TEST(energy_waits_after_class_hours) {
        _cleanup_snapshot_ lf_snapshot *s = load("energy-power-off");
        ASSERT_EQ(lf_parse_timestamp("2026-11-23T18:20:00Z", &s->time), 0);
        _cleanup_plan_sched_ lf_plan_sched *p =
                golden(s, LF_SCHED_ENERGY, "energy-after-class-hours", false);
        ASSERT_EQ(p->n_power_off + p->n_migrations, 0);
        ASSERT_TRUE(explains(p, "class hours ended less than 30 min ago"));

        ASSERT_EQ(lf_parse_timestamp("2026-11-23T18:30:00Z", &s->time), 0);
        _cleanup_plan_sched_ lf_plan_sched *q = plan(s, LF_SCHED_ENERGY);
        ASSERT_EQ(q->n_power_off, 1);

        /* Without a window (min_interval_s 0) nothing waits. */
        ASSERT_EQ(lf_parse_timestamp("2026-11-23T18:00:00Z", &s->time), 0);
        s->policy.min_interval_s = 0;
        _cleanup_plan_sched_ lf_plan_sched *r = plan(s, LF_SCHED_ENERGY);
        ASSERT_EQ(r->n_power_off, 1);
}

/* kvm1 measures 100% but its VMs ask for 12.2 cores of 8 (152.5%): compute balance moves
 * light VMs until no cool host is left, where the measured 100% would have stopped at two. */
TEST(saturated_host_shows_its_demand) {
        _cleanup_snapshot_ lf_snapshot *s = load("compute-saturated");
        _cleanup_plan_sched_ lf_plan_sched *p = plan(s, LF_SCHED_COMPUTE);
        ASSERT_EQ(p->n_migrations, 4);
        for (size_t i = 0; i < p->n_migrations; i++) {
                ASSERT_EQ(p->migrations[i].from, host_index(s, "kvm1"));
                ASSERT_TRUE(p->migrations[i].vm != vm_index(s, "hot1"));
                ASSERT_TRUE(p->migrations[i].vm != vm_index(s, "hot2"));
        }
        ASSERT_TRUE(explains(p, "hot (cpu 152.5% ≥ 80%: its VMs ask for more than the 100% it "
                                "measures)"));
}

/* A VM moved by memory balance is not moved back within 2 h, even when the counts ask for it;
 * the mode itself waits min_interval_s between actions. */
TEST(antiflap_over_consecutive_runs) {
        _cleanup_snapshot_ lf_snapshot *s = load("antiflap");
        int64_t t0 = s->time;
        lf_plan_sched *p = golden(s, LF_SCHED_MEMORY, "antiflap-1", false);

        ASSERT_EQ(p->n_migrations, 2);
        ASSERT_EQ(lf_snapshot_apply(s, p), 0);
        lf_plan_sched_free(p);
        ASSERT_EQ(s->last_run[LF_SCHED_MEMORY], t0);

        /* Ten minutes later: inside min-interval. */
        s->time = t0 + 600;
        drop_vms_on(s, "kvm1");
        p = golden(s, LF_SCHED_MEMORY, "antiflap-2", false);
        ASSERT_EQ(p->n_migrations, 0);
        ASSERT_CONTAINS(p->explain[0], "memory balance skipped");
        lf_plan_sched_free(p);

        /* An hour later: due, the spread is 2, but both VMs on kvm2 moved an hour ago. */
        s->time = t0 + 3600;
        p = golden(s, LF_SCHED_MEMORY, "antiflap-3", false);
        ASSERT_EQ(p->n_migrations, 0);
        ASSERT_EQ(lf_snapshot_apply(s, p), 0);
        lf_plan_sched_free(p);

        /* Past the 2 h hold: one may go back. */
        s->time = t0 + 7200 + 60;
        p = golden(s, LF_SCHED_MEMORY, "antiflap-4", false);
        ASSERT_EQ(p->n_migrations, 1);
        lf_plan_sched_free(p);
}

/* kvm3 fails after a plan sent VMs to it: the next run leaves kvm3 and its VMs alone and
 * balances what is left. */
TEST(host_failing_mid_plan) {
        _cleanup_snapshot_ lf_snapshot *s = load("failed-midplan");
        lf_plan_sched *p = golden(s, LF_SCHED_MEMORY, "failed-midplan-1", false);
        int kvm3 = host_index(s, "kvm3");
        bool to_kvm3 = false;

        for (size_t i = 0; i < p->n_migrations; i++)
                to_kvm3 |= p->migrations[i].to == kvm3;
        ASSERT_TRUE(to_kvm3);
        ASSERT_EQ(lf_snapshot_apply(s, p), 0);
        lf_plan_sched_free(p);

        s->hosts[kvm3].state = LF_HOST_FAILED;
        s->time += 3600;
        ASSERT_TRUE(lf_snapshot_add_vm(s, &(lf_sched_vm){.name = (char *)"late",
                                                         .host = -1,
                                                         .mem_mb = 2048,
                                                         .vcpus = 2,
                                                         .last_migrated = LF_TIME_NONE}) >= 0);
        p = golden(s, LF_SCHED_MEMORY, "failed-midplan-2", false);
        for (size_t i = 0; i < p->n_migrations; i++) {
                ASSERT_TRUE(p->migrations[i].from != kvm3);
                ASSERT_TRUE(p->migrations[i].to != kvm3);
        }
        for (size_t i = 0; i < p->n_placements; i++)
                ASSERT_TRUE(p->placements[i].host != kvm3);
        lf_plan_sched_free(p);
}

/* Night after night-time cycle: one host emptied and powered off per cycle until the reserve
 * stops it; then a class's VMs arrive and a host is powered on again. */
TEST(energy_over_cycles) {
        _cleanup_snapshot_ lf_snapshot *s = load("energy-cycles");
        char name[64];
        size_t offs = 0;

        for (int cycle = 1; cycle <= 4; cycle++) {
                snprintf(name, sizeof(name), "energy-cycles-%d", cycle);
                lf_plan_sched *p = golden(s, LF_SCHED_ENERGY, name, false);
                ASSERT_TRUE(p->n_power_on + p->n_power_off <= 1);
                offs += p->n_power_off;
                ASSERT_EQ(lf_snapshot_apply(s, p), 0);
                lf_plan_sched_free(p);
                ASSERT_TRUE(lf_snapshot_free_slots(s) >= s->policy.reserve_vm_slots);
                s->time += s->policy.min_interval_s;
        }
        ASSERT_EQ(offs, 2);
        for (int i = 0; i < 6; i++) {
                snprintf(name, sizeof(name), "morning%d", i);
                ASSERT_TRUE(lf_snapshot_add_vm(s, &(lf_sched_vm){.name = name,
                                                                 .host = -1,
                                                                 .mem_mb = 2048,
                                                                 .vcpus = 2,
                                                                 .last_migrated = LF_TIME_NONE}) >=
                            0);
        }
        lf_plan_sched *p = golden(s, LF_SCHED_ENERGY, "energy-cycles-5", false);
        ASSERT_EQ(p->n_power_on, 1);
        ASSERT_EQ(p->n_placements, 6);
        lf_plan_sched_free(p);
}

/* --- Determinism and round trips over every fixture --- */

static const char *const all_fixtures[] = {
        "place-basic",
        "place-ties",
        "place-constraints",
        "place-overfull",
        "maintenance-evacuate",
        "memory-balance",
        "memory-stuck",
        "memory-min-interval",
        "compute-hot",
        "compute-no-cool",
        "compute-calm",
        "energy-power-off",
        "energy-reserve",
        "energy-power-on",
        "energy-power-on-pending",
        "energy-one-action",
        "energy-mem-slots",
        "energy-min-interval",
        "auto-class",
        "auto-weekend",
        "auto-compute-mode",
        "antiflap",
        "failed-midplan",
        "energy-cycles",
        "energy-power-on-min-interval",
        "memory-no-room",
        "capacity-short",
        "powering-on-covers",
        "powering-on-short",
        "compute-saturated",
};

/* Same snapshot, same bytes (test-scheduler-props checks that the order of hosts and VMs does
 * not matter either). */
TEST(same_input_same_output) {
        for (size_t f = 0; f < ELEMENTSOF(all_fixtures); f++)
                for (lf_sched_mode m = 0; m < _LF_SCHED_MODE_MAX; m++) {
                        _cleanup_snapshot_ lf_snapshot *s = load(all_fixtures[f]);
                        _cleanup_snapshot_ lf_snapshot *s2 = load(all_fixtures[f]);
                        _cleanup_plan_sched_ lf_plan_sched *p1 = plan(s, m), *p2 = plan(s2, m);
                        _cleanup_free_ char *j1 = plan_json(p1, s), *j2 = plan_json(p2, s2);
                        ASSERT_STREQ(j1, j2);
                }
}

TEST(snapshot_round_trip) {
        for (size_t f = 0; f < ELEMENTSOF(all_fixtures); f++) {
                _cleanup_snapshot_ lf_snapshot *s = load(all_fixtures[f]), *s2 = NULL;
                _cleanup_json_ json_object *j = NULL, *j2 = NULL;
                lf_diag d = {};

                ASSERT_EQ(lf_snapshot_to_json(s, &j), 0);
                _cleanup_free_ char *text = lf_json_to_string(j);
                ASSERT_EQ(lf_snapshot_load_buffer("rt.json", text, strlen(text), &d, &s2), 0);
                ASSERT_EQ(lf_snapshot_to_json(s2, &j2), 0);
                _cleanup_free_ char *text2 = lf_json_to_string(j2);
                ASSERT_STREQ(text, text2);
                _cleanup_plan_sched_ lf_plan_sched *p1 = plan(s, LF_SCHED_AUTO),
                                                   *p2 = plan(s2, LF_SCHED_AUTO);
                _cleanup_free_ char *a = plan_json(p1, s), *b = plan_json(p2, s2);
                ASSERT_STREQ(a, b);
        }
}

TEST(apply_refuses_foreign_plan) {
        _cleanup_snapshot_ lf_snapshot *s = load("place-basic");
        _cleanup_snapshot_ lf_snapshot *small = load("antiflap");
        _cleanup_plan_sched_ lf_plan_sched *p = plan(s, LF_SCHED_PLACE);
        int host0 = small->vms[0].host;
        ASSERT_EQ(lf_snapshot_apply(small, p), -EINVAL);
        ASSERT_EQ(small->vms[0].host, host0);
}

TEST(timestamps) {
        int64_t t;
        char buf[LF_TIMESTAMP_LEN + 1];
        ASSERT_EQ(lf_parse_timestamp("2026-11-23T10:00:00Z", &t), 0);
        lf_format_timestamp(t, buf, sizeof(buf));
        ASSERT_STREQ(buf, "2026-11-23T10:00:00Z");
        ASSERT_EQ(lf_timestamp_weekday(t), 0); /* a Monday */
        ASSERT_EQ(lf_parse_timestamp("1970-01-01T00:00:00Z", &t), 0);
        ASSERT_EQ(t, 0);
        ASSERT_EQ(lf_parse_timestamp("2024-02-29T23:59:59Z", &t), 0);
        ASSERT_EQ(t, 1709251199);
        ASSERT_TRUE(lf_parse_timestamp("2023-02-29T00:00:00Z", &t) < 0);
        ASSERT_TRUE(lf_parse_timestamp("2026-11-23 10:00:00Z", &t) < 0);
        ASSERT_TRUE(lf_parse_timestamp("2026-11-23T10:00:00+01:00", &t) < 0);
        ASSERT_TRUE(lf_parse_timestamp("2026-11-23T24:00:00Z", &t) < 0);
}

/* --- Bad snapshots: every problem named by field, nothing returned --- */

#define SNAP_HEAD "{\"time\": \"2026-11-23T10:00:00Z\", "
#define HOST_OK                                                                                    \
        "{\"name\": \"kvm1\", \"state\": \"up\", \"cpus\": 8, \"mem_mb\": 32768, \"cpu_util\": 1}"
#define VM_FMT                                                                                     \
        "{\"name\": \"pc01\", \"host\": \"kvm1\", \"mem_mb\": %s, \"vcpus\": 2, \"cpu_cores\": "   \
        "0.5}"

/* Loads text and expects it to fail with exactly the given messages (NULL-terminated). */
static void expect_bad(const char *text, const char *const *msgs) {
        lf_diag d = {};
        lf_snapshot *s = (lf_snapshot *)0x1;
        size_t n = 0;

        ASSERT_EQ(lf_snapshot_load_buffer("snap.json", text, strlen(text), &d, &s), -EINVAL);
        ASSERT_TRUE(s == (lf_snapshot *)0x1);
        for (; msgs[n]; n++) {
                if (n >= d.n)
                        lf_test_fail(__FILE__, __LINE__, "missing message: %s", msgs[n]);
                ASSERT_STREQ(d.msgs[n], msgs[n]);
        }
        if (d.n != n)
                lf_test_fail(__FILE__, __LINE__, "unexpected message: %s", d.msgs[n]);
        lf_diag_clear(&d);
}

#define EXPECT_BAD(text, ...) expect_bad(text, (const char *const[]){__VA_ARGS__, NULL})

TEST(bad_negative_memory) {
        char buf[512];
        snprintf(buf, sizeof(buf), SNAP_HEAD "\"hosts\": [" HOST_OK "], \"vms\": [" VM_FMT "]}",
                 "-2048");
        EXPECT_BAD(buf, "snap.json: vms[0].mem_mb: must not be negative (got -2048)");
}

TEST(bad_vm_on_unknown_host) {
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [" HOST_OK "], \"vms\": [{\"name\": \"pc01\", \"host\": "
                             "\"kvm9\", \"mem_mb\": 2048, \"vcpus\": 2, \"cpu_cores\": 0}]}",
                   "snap.json: vms[0].host: no host named \"kvm9\" in hosts");
}

TEST(bad_duplicate_names) {
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [" HOST_OK ", " HOST_OK "], \"vms\": []}",
                   "snap.json: hosts[1].name: \"kvm1\" is already used by hosts[0]");
        char buf[1024];
        snprintf(buf, sizeof(buf),
                 SNAP_HEAD "\"hosts\": [" HOST_OK "], \"vms\": [" VM_FMT ", " VM_FMT ", " VM_FMT
                           "]}",
                 "1", "2", "3");
        EXPECT_BAD(buf, "snap.json: vms[1].name: \"pc01\" is already used by vms[0]",
                   "snap.json: vms[2].name: \"pc01\" is already used by vms[0]");
}

TEST(bad_missing_fields) {
        EXPECT_BAD(
                "{\"hosts\": [{\"name\": \"kvm1\", \"cpus\": 8, \"mem_mb\": 1, \"cpu_util\": 1}]}",
                "snap.json: missing required key \"time\"",
                "snap.json: missing required key \"vms\"",
                "snap.json: hosts[0]: missing required key \"state\"");
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [], \"vms\": [{\"name\": \"pc01\", \"mem_mb\": 2048, "
                             "\"vcpus\": 2, \"cpu_cores\": 0}]}",
                   "snap.json: vms[0]: missing required key \"host\"");
}

TEST(bad_wrong_types) {
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [{\"name\": \"kvm1\", \"state\": \"up\", \"cpus\": \"8\", "
                             "\"mem_mb\": 1.5, \"cpu_util\": true}], \"vms\": {}}",
                   "snap.json: vms: expected an array, got an object",
                   "snap.json: hosts[0].cpus: expected an integer, got a string",
                   "snap.json: hosts[0].mem_mb: expected an integer, got a number",
                   "snap.json: hosts[0].cpu_util: expected a number, got a boolean");
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [" HOST_OK "], \"vms\": [{\"name\": \"pc01\", \"host\": "
                             "\"kvm1\", \"mem_mb\": 2048, \"vcpus\": 2, \"cpu_cores\": 0, "
                             "\"pinned\": \"yes\"}], \"policy\": {\"cpu_high\": \"80\"}}",
                   "snap.json: policy.cpu_high: expected a number, got a string",
                   "snap.json: vms[0].pinned: expected true or false, got a string");
        EXPECT_BAD("[1, 2]", "snap.json: top level: expected an object, got an array");
}

TEST(bad_unknown_state) {
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [{\"name\": \"kvm1\", \"state\": \"down\", \"cpus\": 8, "
                             "\"mem_mb\": 1, \"cpu_util\": 1}], \"vms\": []}",
                   "snap.json: hosts[0].state: unknown state \"down\"; expected up, off, "
                   "maintenance or failed");
}

TEST(bad_times) {
        EXPECT_BAD("{\"time\": \"2026-11-23 10:00\", \"hosts\": [], \"vms\": [], \"last_run\": "
                   "{\"memory\": \"yesterday\"}}",
                   "snap.json: time: \"2026-11-23 10:00\" is not a UTC time like "
                   "2026-11-23T10:00:00Z",
                   "snap.json: last_run.memory: \"yesterday\" is not a UTC time like "
                   "2026-11-23T10:00:00Z");
}

TEST(bad_unknown_keys) {
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [], \"vms\": [], \"policy\": {\"reserve_vm_slot\": 3}, "
                             "\"last_run\": {\"place\": \"2026-11-23T10:00:00Z\"}}",
                   "snap.json: policy.reserve_vm_slot: unknown key; known keys: reserve_vm_slots, "
                   "cpu_high, cpu_low, cpu_margin, boot_stagger_s, boot_batch, min_interval_s, "
                   "migration_hold_s, balance_mode, balance_interval_s, class_hours",
                   "snap.json: last_run.place: unknown key; known keys: memory, compute, energy");
}

TEST(bad_ranges) {
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [{\"name\": \"kvm1\", \"state\": \"up\", \"cpus\": 0, "
                             "\"mem_mb\": 4096, \"reserved_mb\": 8192, \"max_vms\": -1, "
                             "\"cpu_util\": 120}], \"vms\": [{\"name\": \"pc 1\", \"host\": null, "
                             "\"mem_mb\": 0, \"vcpus\": 2, \"cpu_cores\": -1}]}",
                   "snap.json: hosts[0].max_vms: must not be negative (got -1); leave it out for "
                   "no limit",
                   "snap.json: vms[0].name: \"pc 1\" has characters other than letters, digits "
                   "and ._:@+-",
                   "snap.json: vms[0].mem_mb: must be at least 1 (got 0)",
                   "snap.json: vms[0].cpu_cores: must not be negative (got -1)");
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [{\"name\": \"kvm1\", \"state\": \"up\", \"cpus\": 0, "
                             "\"mem_mb\": 4096, \"reserved_mb\": 8192, \"cpu_util\": 120}], "
                             "\"vms\": []}",
                   "snap.json: hosts[0].cpus: must be at least 1 (got 0)",
                   "snap.json: hosts[0].reserved_mb: 8192 is more than the host's mem_mb (4096)",
                   "snap.json: hosts[0].cpu_util: must be from 0 to 100 (got 120)");
}

TEST(bad_powering_on) {
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [{\"name\": \"kvm1\", \"state\": \"up\", \"cpus\": 8, "
                             "\"mem_mb\": 1, \"cpu_util\": 1, \"powering_on\": true}, "
                             "{\"name\": \"kvm2\", \"state\": \"off\", \"cpus\": 8, "
                             "\"mem_mb\": 1, \"cpu_util\": 0, \"powering_on\": 1}], \"vms\": []}",
                   "snap.json: hosts[0].powering_on: only an \"off\" host can be powering on "
                   "(state is \"up\"); leave the key out once it is up",
                   "snap.json: hosts[1].powering_on: expected true or false, got an integer");
}

static json_object *parse(const lf_json_ctx *ctx, const char *text) {
        json_object *o = NULL;
        ASSERT_EQ(lf_json_parse(ctx, text, strlen(text), &o), 0);
        return o;
}

/* A policy alone (the simulator's POLICY file): defaults for what is absent, the snapshot's
 * checks and messages, nothing returned on a problem. */
TEST(policy_from_json) {
        lf_diag d = {};
        lf_json_ctx ctx = {&d, "pol.json"};
        lf_sched_policy p, untouched;
        _cleanup_json_ json_object *good = NULL, *bad = NULL, *array = NULL;

        good = parse(&ctx, "{\"cpu_high\": 70, \"class_hours\": {\"days\": \"mon-sat\", "
                           "\"from\": \"07:30\", \"to\": \"17:00\"}}");
        ASSERT_EQ(lf_sched_policy_from_json(good, "pol.json", &d, &p), 0);
        ASSERT_EQ(d.n, 0);
        ASSERT_TRUE(p.cpu_high == 70 && p.cpu_low == 30 && p.reserve_vm_slots == 18);
        ASSERT_EQ(p.class_days_mask, 0x3f);
        ASSERT_EQ(p.class_from_min, 7 * 60 + 30);
        ASSERT_STREQ(p.class_days, "mon-sat");

        bad = parse(&ctx, "{\"cpu_low\": 85, \"colour\": 1}");
        memset(&p, 0xa5, sizeof(p));
        untouched = p;
        ASSERT_EQ(lf_sched_policy_from_json(bad, "pol.json", &d, &p), -EINVAL);
        ASSERT_TRUE(memcmp(&p, &untouched, sizeof(p)) == 0);
        ASSERT_EQ(d.n, 1);
        ASSERT_CONTAINS(d.msgs[0], "pol.json: policy.colour: unknown key");
        lf_diag_clear(&d);
        /* Keys all known: the range check speaks. */
        json_object_object_del(bad, "colour");
        ASSERT_EQ(lf_sched_policy_from_json(bad, "pol.json", &d, &p), -EINVAL);
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0], "pol.json: policy.cpu_low: 85 must be below cpu_high (80)");
        lf_diag_clear(&d);

        array = parse(&ctx, "[1]");
        ASSERT_EQ(lf_sched_policy_from_json(array, "pol.json", &d, &p), -EINVAL);
        ASSERT_EQ(d.n, 1);
        ASSERT_STREQ(d.msgs[0], "pol.json: policy: expected an object, got an array");
        lf_diag_clear(&d);
}

TEST(bad_policy) {
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [], \"vms\": [], \"policy\": {\"cpu_low\": 85, "
                             "\"boot_batch\": 0, \"balance_mode\": \"energy\", \"class_hours\": "
                             "{\"days\": \"weekdays\", \"from\": \"18:00\", \"to\": \"08:00\"}}}",
                   "snap.json: policy.balance_mode: \"energy\"; expected \"memory\" or "
                   "\"compute\"",
                   "snap.json: policy.class_hours.days: \"weekdays\" is not a list of days like "
                   "\"mon-fri\" or \"mon,wed-fri\"");
        EXPECT_BAD(SNAP_HEAD "\"hosts\": [], \"vms\": [], \"policy\": {\"cpu_low\": 85, "
                             "\"boot_batch\": 0, \"class_hours\": {\"days\": \"mon-fri\", "
                             "\"from\": \"18:00\", \"to\": \"08:00\"}}}",
                   "snap.json: policy.cpu_low: 85 must be below cpu_high (80)",
                   "snap.json: policy.boot_batch: must be at least 1 (got 0)",
                   "snap.json: policy.class_hours: \"from\" must come before \"to\" on the same "
                   "day (use 24:00 for midnight)");
}

TEST(bad_malformed_json) {
        EXPECT_BAD("{\"time\": \"2026-11-23T10:00:00Z\",\n \"hosts\": [}",
                   "snap.json:2: malformed JSON: unexpected character");
}

TEST(bad_built_snapshot_checked) {
        _cleanup_snapshot_ lf_snapshot *s = load("place-basic");
        lf_plan_sched *p = NULL;
        lf_diag d = {};
        s->vms[2].host = 99;
        s->hosts[1].mem_mb = -5;
        ASSERT_EQ(lf_snapshot_check(s, "built", &d), -EINVAL);
        ASSERT_EQ(d.n, 2);
        ASSERT_STREQ(d.msgs[0], "built: hosts[1].mem_mb: must not be negative (got -5)");
        ASSERT_STREQ(d.msgs[1], "built: vms[2].host: host index 99 is out of range");
        lf_diag_clear(&d);
        ASSERT_EQ(lf_schedule(s, LF_SCHED_PLACE, &p), -EINVAL);
        ASSERT_TRUE(p == NULL);
}

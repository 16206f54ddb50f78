/* Install progress: a step counter with a percentage on the console ("[3/12] 25% message"),
 * byte progress for downloads and extraction, and an optional event sink (the appliance). */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "macro.h"

typedef enum lf_progress_kind {
        LF_PROGRESS_STEP,  /* a step started: step/total, message */
        LF_PROGRESS_BYTES, /* bytes done of total within the current step */
        LF_PROGRESS_FAIL,  /* the install failed: message says why */
} lf_progress_kind;

typedef struct lf_progress_event {
        lf_progress_kind kind;
        unsigned step, total_steps;
        unsigned percent; /* of the whole install */
        uint64_t bytes_done, bytes_total;
        const char *message; /* NULL for LF_PROGRESS_BYTES */
} lf_progress_event;

/* Called for every event; what it returns is ignored (progress must never stop an install). */
typedef void (*lf_progress_sink_fn)(const lf_progress_event *ev, void *userdata);

typedef struct lf_progress lf_progress;

/* console may be NULL (no console output). */
lf_progress *lf_progress_new(unsigned total_steps, FILE *console);
void lf_progress_free(lf_progress *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_progress *, lf_progress_free);
#define _cleanup_progress_ _cleanup_(lf_progress_freep)

void lf_progress_set_sink(lf_progress *p, lf_progress_sink_fn sink, void *userdata);
/* The total may grow once the plan is known. */
void lf_progress_set_total(lf_progress *p, unsigned total_steps);

/* Starts the next step and prints "[k/N] NN% message". */
void lf_progress_step(lf_progress *p, const char *fmt, ...) _printf_(2, 3);
/* Byte progress inside the current step; printed at most once per whole percent of total. */
void lf_progress_bytes(lf_progress *p, uint64_t done, uint64_t total);
/* Reports a failure (console and sink); the caller prints the final "install failed" line. */
void lf_progress_fail(lf_progress *p, const char *fmt, ...) _printf_(2, 3);

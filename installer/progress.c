/* Install progress on the console and to an optional sink (see progress.h). The console shows
 * one line per step and, for byte progress, at most one line per whole percent. */
#include <stdarg.h>
#include <stdlib.h>

#include "progress.h"
#include "units.h"

struct lf_progress {
        FILE *console;
        unsigned step, total;
        int last_byte_percent; /* -1 before the first byte report of a step */
        lf_progress_sink_fn sink;
        void *userdata;
};

lf_progress *lf_progress_new(unsigned total_steps, FILE *console) {
        lf_progress *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->console = console;
        p->total = total_steps ? total_steps : 1;
        p->last_byte_percent = -1;
        return p;
}

void lf_progress_free(lf_progress *p) {
        free(p);
}

void lf_progress_set_sink(lf_progress *p, lf_progress_sink_fn sink, void *userdata) {
        p->sink = sink;
        p->userdata = userdata;
}

void lf_progress_set_total(lf_progress *p, unsigned total_steps) {
        p->total = total_steps > p->step ? total_steps : p->step;
        if (p->total == 0)
                p->total = 1;
}

/* Whole-install percent: finished steps plus the fraction of the current one. */
static unsigned overall_percent(const lf_progress *p, uint64_t done, uint64_t total) {
        double finished = p->step ? p->step - 1 : 0;
        if (total > 0)
                finished += (double)(done > total ? total : done) / (double)total;
        unsigned pc = (unsigned)(finished * 100.0 / p->total);
        return pc > 100 ? 100 : pc;
}

static void emit(lf_progress *p, lf_progress_kind kind, unsigned percent, uint64_t done,
                 uint64_t total, const char *message) {
        if (!p->sink)
                return;
        lf_progress_event ev = {
                .kind = kind,
                .step = p->step,
                .total_steps = p->total,
                .percent = percent,
                .bytes_done = done,
                .bytes_total = total,
                .message = message,
        };
        p->sink(&ev, p->userdata);
}

void lf_progress_step(lf_progress *p, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        p->step++;
        if (p->step > p->total)
                p->total = p->step;
        p->last_byte_percent = -1;
        unsigned pc = overall_percent(p, 0, 0);
        if (p->console) {
                fprintf(p->console, "[%u/%u] %3u%% %s\n", p->step, p->total, pc, msg);
                fflush(p->console);
        }
        emit(p, LF_PROGRESS_STEP, pc, 0, 0, msg);
}

void lf_progress_bytes(lf_progress *p, uint64_t done, uint64_t total) {
        unsigned step_pc = total ? (unsigned)((done > total ? total : done) * 100 / total) : 0;
        if ((int)step_pc == p->last_byte_percent)
                return;
        p->last_byte_percent = (int)step_pc;
        unsigned pc = overall_percent(p, done, total);
        if (p->console) {
                char d[32], t[32];
                lf_format_size(done, d, sizeof(d));
                lf_format_size(total, t, sizeof(t));
                fprintf(p->console, "[%u/%u] %3u%%   %s of %s (%u%%)\n", p->step, p->total, pc, d,
                        t, step_pc);
                fflush(p->console);
        }
        emit(p, LF_PROGRESS_BYTES, pc, done, total, NULL);
}

void lf_progress_fail(lf_progress *p, const char *fmt, ...) {
        char msg[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        unsigned pc = overall_percent(p, 0, 0);
        if (p->console) {
                fprintf(p->console, "[%u/%u] failed: %s\n", p->step, p->total, msg);
                fflush(p->console);
        }
        emit(p, LF_PROGRESS_FAIL, pc, 0, 0, msg);
}

/* Install progress: the console lines ("[k/N] NN% message", byte lines at most once per percent
 * of the step) and the events the appliance sink receives. */
#include <stdlib.h>

#include "../../installer/progress.h"
#include "test.h"

typedef struct seen {
        char log[4096];
        size_t len;
} seen;

static void sink(const lf_progress_event *ev, void *userdata) {
        static const char *const kinds[] = {"step", "bytes", "fail"};
        seen *s = userdata;
        s->len += (size_t)snprintf(s->log + s->len, sizeof(s->log) - s->len,
                                   "%s %u/%u %u%% %llu/%llu %s\n", kinds[ev->kind], ev->step,
                                   ev->total_steps, ev->percent, (unsigned long long)ev->bytes_done,
                                   (unsigned long long)ev->bytes_total,
                                   ev->message ? ev->message : "-");
}

TEST(console_lines_and_events) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        lf_progress *p = lf_progress_new(4, f);
        seen s = {};

        lf_progress_set_sink(p, sink, &s);
        lf_progress_step(p, "Reading %s", "lab.xml");
        lf_progress_step(p, "Downloading");
        /* 1000 reports of a 1 MiB download: a line per whole percent, not per report. */
        for (uint64_t done = 0; done <= 1000; done++)
                lf_progress_bytes(p, done * 1024, 1024000);
        lf_progress_step(p, "Extracting");
        lf_progress_step(p, "Configuring");
        lf_progress_step(p, "One more than announced"); /* the total grows, never below 100% */
        lf_progress_fail(p, "mdadm %s", "failed");
        lf_progress_free(p);
        fclose(f);

        size_t lines = 0, bytes_lines = 0;
        for (char *l = out; (l = strchr(l, '\n')); l++)
                lines++;
        for (char *l = out; (l = strstr(l, " of 1000.0 KiB")); l++)
                bytes_lines++;
        ASSERT_EQ(bytes_lines, 101); /* 0% .. 100% */
        ASSERT_EQ(lines, 101 + 6);
        ASSERT_CONTAINS(out, "[1/4]   0% Reading lab.xml\n[2/4]  25% Downloading\n");
        ASSERT_CONTAINS(out, "[2/4]  25%   0 B of 1000.0 KiB (0%)\n");
        ASSERT_CONTAINS(out, "[2/4]  37%   500.0 KiB of 1000.0 KiB (50%)\n");
        ASSERT_CONTAINS(out,
                        "[2/4]  50%   1000.0 KiB of 1000.0 KiB (100%)\n[3/4]  50% Extracting\n");
        ASSERT_CONTAINS(out, "[4/4]  75% Configuring\n[5/5]  80% One more than announced\n");
        ASSERT_CONTAINS(out, "[5/5] failed: mdadm failed\n");

        ASSERT_CONTAINS(s.log, "step 1/4 0% 0/0 Reading lab.xml\nstep 2/4 25% 0/0 Downloading\n"
                               "bytes 2/4 25% 0/1024000 -\n");
        ASSERT_CONTAINS(s.log, "bytes 2/4 50% 1024000/1024000 -\nstep 3/4 50% 0/0 Extracting\n");
        ASSERT_CONTAINS(s.log, "fail 5/5 80% 0/0 mdadm failed\n");
        free(out);
}

TEST(no_console_no_sink) {
        lf_progress *p = lf_progress_new(0, NULL);
        lf_progress_step(p, "x");
        lf_progress_bytes(p, 5, 0); /* unknown total */
        lf_progress_fail(p, "y");
        lf_progress_free(p);
        lf_progress_free(NULL);
}

/* The install journal; see journal.h. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "journal.h"
#include "plan.h"

#define HEADER "labforge-install journal 1"

static bool line_ok(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if ((unsigned char)*s < ' ' || *s == 0x7f)
                        return false;
        return true;
}

lf_journal *lf_journal_new(const char *key) {
        if (!line_ok(key))
                return NULL;
        lf_journal *j = calloc(1, sizeof(*j));
        if (!j)
                return NULL;
        j->key = strdup(key);
        if (!j->key) {
                free(j);
                return NULL;
        }
        return j;
}

void lf_journal_free(lf_journal *j) {
        if (!j)
                return;
        free(j->key);
        for (size_t i = 0; i < j->n_records; i++) {
                free(j->records[i].kind);
                free(j->records[i].name);
                free(j->records[i].value);
        }
        free(j->records);
        strv_free(j->steps);
        free(j);
}

static bool word_ok(const char *s) {
        if (!s || !*s)
                return false;
        for (; *s; s++)
                if ((unsigned char)*s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

int lf_journal_set(lf_journal *j, const char *kind, const char *name, const char *value) {
        if (!word_ok(kind) || !word_ok(name) || !word_ok(value) || streq(kind, "step") ||
            streq(kind, "key"))
                return -EINVAL;
        char *v = strdup(value);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < j->n_records; i++)
                if (streq(j->records[i].kind, kind) && streq(j->records[i].name, name)) {
                        free(j->records[i].value);
                        j->records[i].value = v;
                        return 0;
                }
        lf_journal_record *rec = lf_plan_grow(&j->records, &j->n_records, sizeof(*rec));
        if (!rec) {
                free(v);
                return j->n_records >= LF_PLAN_MAX_ITEMS ? -E2BIG : -ENOMEM;
        }
        rec->value = v;
        rec->kind = strdup(kind);
        rec->name = strdup(name);
        return rec->kind && rec->name ? 0 : -ENOMEM;
}

const char *lf_journal_get(const lf_journal *j, const char *kind, const char *name) {
        for (size_t i = 0; i < j->n_records; i++)
                if (streq(j->records[i].kind, kind) && streq(j->records[i].name, name))
                        return j->records[i].value;
        return NULL;
}

bool lf_journal_has_step(const lf_journal *j, const char *step) {
        for (size_t i = 0; i < j->n_steps; i++)
                if (streq(j->steps[i], step))
                        return true;
        return false;
}

int lf_journal_add_step(lf_journal *j, const char *step) {
        if (!word_ok(step))
                return -EINVAL;
        if (lf_journal_has_step(j, step))
                return 0;
        return lf_plan_strv_add(&j->steps, &j->n_steps, step);
}

/* One complete line: "key K...", "step S" or "KIND NAME VALUE". */
static int parse_line(lf_journal *j, char *line) {
        char *save = NULL, *w[4];
        size_t n = 0;

        if (strneq(line, "key ", 4)) {
                if (j->key || !line_ok(line + 4))
                        return -EBADMSG;
                j->key = strdup(line + 4);
                return j->key ? 0 : -ENOMEM;
        }
        for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (n == ELEMENTSOF(w))
                        return -EBADMSG;
                w[n++] = t;
        }
        if (!j->key) /* the key comes first */
                return -EBADMSG;
        if (n == 2 && streq(w[0], "step"))
                return word_ok(w[1]) ? lf_journal_add_step(j, w[1]) : -EBADMSG;
        if (n == 3 && !lf_journal_get(j, w[0], w[1])) {
                int r = lf_journal_set(j, w[0], w[1], w[2]);
                return r == -EINVAL ? -EBADMSG : r;
        }
        return -EBADMSG;
}

int lf_journal_parse(const char *buf, lf_journal **ret) {
        _cleanup_journal_ lf_journal *j = calloc(1, sizeof(*j));
        size_t len = strlen(buf);

        if (!j)
                return -ENOMEM;
        if (len > LF_JOURNAL_MAX_BYTES || !strneq(buf, HEADER "\n", strlen(HEADER) + 1))
                return -EBADMSG;
        for (const char *p = buf + strlen(HEADER) + 1; *p;) {
                const char *nl = strchr(p, '\n');
                if (!nl) /* torn append: that step did not finish */
                        break;
                _cleanup_free_ char *line = strndup(p, (size_t)(nl - p));
                if (!line)
                        return -ENOMEM;
                int r = parse_line(j, line);
                if (r < 0)
                        return r;
                p = nl + 1;
        }
        if (!j->key)
                return -EBADMSG;
        *ret = TAKE_PTR(j);
        return 0;
}

char *lf_journal_format(const lf_journal *j) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        fprintf(f, "%s\nkey %s\n", HEADER, j->key);
        for (size_t i = 0; i < j->n_records; i++)
                fprintf(f, "%s %s %s\n", j->records[i].kind, j->records[i].name,
                        j->records[i].value);
        for (size_t i = 0; i < j->n_steps; i++)
                fprintf(f, "step %s\n", j->steps[i]);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

int lf_journal_save(const lf_journal *j, const char *path) {
        _cleanup_free_ char *text = lf_journal_format(j);
        if (!text)
                return -ENOMEM;
        return lf_write_file_atomic(path, text, strlen(text), 0600);
}

int lf_journal_append_step(lf_journal *j, const char *path, const char *step) {
        _cleanup_free_ char *line = NULL;
        int r;

        if (!word_ok(step))
                return -EINVAL;
        if (asprintf(&line, "step %s\n", step) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        size_t len = strlen(line);
        ssize_t n = write(fd, line, len);
        if (n < 0)
                return -errno;
        if ((size_t)n != len)
                return -EIO;
        if (fsync(fd) < 0)
                return -errno;
        r = lf_journal_add_step(j, step);
        return r;
}

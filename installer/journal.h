/* The install journal (DESIGN §8.3): which plan and image an install is for, the identities
 * (GUIDs, UUIDs) of what it created, and its finished steps. It lives on the target's root
 * file system, so it exists only once the disks are done and vanishes with them; the
 * identities let a rerun tell "the disks this journal describes" from disks rewritten since. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

#define LF_JOURNAL_MAX_BYTES (64u * 1024)

typedef struct lf_journal_record {
        char *kind, *name, *value; /* ("array", "/dev/md/fast", "<md uuid>") */
} lf_journal_record;

typedef struct lf_journal {
        char *key; /* one line: what the install is for ("plan=<sha256> image=<sha256>") */
        lf_journal_record *records;
        size_t n_records;
        char **steps; /* finished steps, in order; NULL-terminated */
        size_t n_steps;
} lf_journal;

/* key: one line of printable text; NULL when out of memory or key is not that. */
lf_journal *lf_journal_new(const char *key);
void lf_journal_free(lf_journal *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(lf_journal *, lf_journal_free);
#define _cleanup_journal_ _cleanup_(lf_journal_freep)

/* Reads the text form. An unfinished last line (a power cut during an append) is dropped: the
 * step it named did not finish. Anything else malformed gives -EBADMSG: a journal that cannot
 * be read is not trusted. */
int lf_journal_parse(const char *buf, lf_journal **ret);
/* The text form: a header line, "key ...", one "KIND NAME VALUE" line per record, one
 * "step NAME" line per step. NULL when out of memory. */
char *lf_journal_format(const lf_journal *j);

/* Words (kinds, names, values, steps) are non-empty, without blanks: -EINVAL otherwise. A
 * record of the same kind and name is replaced. */
int lf_journal_set(lf_journal *j, const char *kind, const char *name, const char *value);
const char *lf_journal_get(const lf_journal *j, const char *kind, const char *name);
bool lf_journal_has_step(const lf_journal *j, const char *step);
/* Adds a step in memory (once); lf_journal_append_step also writes it. */
int lf_journal_add_step(lf_journal *j, const char *step);

/* Writes the whole journal to path atomically (lf_write_file_atomic). */
int lf_journal_save(const lf_journal *j, const char *path);
/* Appends "step NAME" to the file at path and fsyncs it, then to j. */
int lf_journal_append_step(lf_journal *j, const char *path, const char *step);

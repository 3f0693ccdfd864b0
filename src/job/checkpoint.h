/* The checkpoint blob {prefix}registry/checkpoint.json (docs/behaviour.md): per
 * mailbox watermarks, read at the start of a run and written last, merged under
 * If-Match so that concurrent runs never undo each other's progress.
 *
 * Failing streaks: a mailbox that fails gets "failing_since" (the start of the
 * first failed run in a row) and "failed_runs" (how many) in its entry, which keeps
 * its watermark; a success clears them. A mailbox that has no watermark yet has no
 * entry (an entry always holds a watermark), so its streak is kept under the
 * top-level "failing": {"<upn>": {"failing_since": T, "failed_runs": N}}.
 *
 * Ownership: checkpoint_parse/load fill a caller-owned checkpoint that
 * checkpoint_dispose releases (NULL-safe, safe to repeat). */
#ifndef TA_CHECKPOINT_H
#define TA_CHECKPOINT_H

#include <jansson.h>
#include <stdint.h>

#include "status.h"
#include "store/store.h"

typedef struct checkpoint {
    json_t *doc;               /* the document as read (NULL when none) */
    char etag[STORE_ETAG_MAX]; /* "" when the blob does not exist */
    int64_t legacy_watermark;  /* the old job's last_meeting_start, or INT64_MIN */
    json_t *legacy_set;        /* the old job's mailboxes (lower-cased) without an entry of
                                  their own yet, for which legacy_watermark holds; NULL: none */
} checkpoint;

/* Parses a checkpoint document; the old job's {"last_meeting_start": T} is accepted
 * (its mailboxes come from checkpoint_set_legacy_mailboxes), and a new file's
 * legacy_last_meeting_start with legacy_mailboxes. An entry that cannot be read is
 * ignored with a warning (and kept as it is when the file is written). */
TA_MUST_USE status checkpoint_parse(const char *text, size_t len, checkpoint *cp, errinfo *err);
/* Reads the blob; a missing blob is an empty checkpoint. */
TA_MUST_USE status checkpoint_load(store *s, const char *name, checkpoint *cp, errinfo *err);
/* The old job's file names no mailboxes: its value is the watermark of the old job's
 * (SGA_UPN, SGA_UPN<n>), whether or not this run reads them. Does nothing for a file
 * of this job (it records them as legacy_mailboxes). */
void checkpoint_set_legacy_mailboxes(checkpoint *cp, char *const *upns, size_t n);
/* 1 when the mailbox has no entry of its own but the old job's value holds for it. */
int checkpoint_legacy_applies(const checkpoint *cp, const char *upn);
/* The watermark of a mailbox (its UPN, any case; keys that differ in case match), the
 * old job's value when that holds for it, or INT64_MIN when it has none. */
int64_t checkpoint_watermark(const checkpoint *cp, const char *upn);

/* A mailbox's failed runs in a row. */
typedef struct checkpoint_streak {
    int64_t since_us; /* the start of the first failed run of the streak; INT64_MIN: none */
    int64_t runs;     /* failed runs in a row; 0: none */
} checkpoint_streak;

/* The mailbox's streak as read (its UPN, any case); {INT64_MIN, 0} when it has none
 * or the fields cannot be read. */
checkpoint_streak checkpoint_failing(const checkpoint *cp, const char *upn);
/* The streak the mailbox has once the run that started at run_start_us fails it. */
checkpoint_streak checkpoint_failing_next(const checkpoint *cp, const char *upn,
                                          int64_t run_start_us);

typedef struct checkpoint_update {
    const char *upn_lower;
    int64_t watermark; /* INT64_MIN: none yet (a mailbox that failed before any success) */
    int done;          /* 1: this run processed the mailbox (its entry takes this run's id,
                          its streak ends); 0: it failed: the watermark is kept and the
                          streak grows by one */
} checkpoint_update;

/* Builds the new document from cp (the latest read) and the updates, keeping per
 * mailbox the later watermark: a mailbox this run processed gets this run's id
 * unless another run wrote a later watermark meanwhile. A failure never undoes a
 * success of a run that started later, and a success does not end a streak that
 * began after this run started. Unknown fields are kept. run_start_us is this run's
 * start (a new streak's failing_since), now_us the time written as updated_utc.
 * Returns a new reference. */
json_t *checkpoint_merge(const checkpoint *cp, const checkpoint_update *up, size_t n,
                         const char *run_id, int64_t run_start_us, int64_t now_us);
/* Writes the merged checkpoint with If-Match (If-None-Match: * when new); on 412
 * or 409 reads it again, merges again and retries (a bounded number of times). */
TA_MUST_USE status checkpoint_save(store *s, const char *name, checkpoint *cp,
                                   const checkpoint_update *up, size_t n, const char *run_id,
                                   int64_t run_start_us, int64_t now_us, errinfo *err);
void checkpoint_dispose(checkpoint *cp);

#endif

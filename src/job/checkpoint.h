/* The checkpoint blob {prefix}registry/checkpoint.json (SPEC section 6): per
 * mailbox watermarks, read at the start of a run and written last, merged under
 * If-Match so that concurrent runs never undo each other's progress.
 *
 * Ownership: checkpoint_parse/load fill a caller-owned checkpoint that
 * checkpoint_free releases (NULL-safe, safe to repeat). */
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
} checkpoint;

/* Parses a checkpoint document; the old job's {"last_meeting_start": T} is accepted. */
TA_MUST_USE status checkpoint_parse(const char *text, size_t len, checkpoint *cp, errinfo *err);
/* Reads the blob; a missing blob is an empty checkpoint. */
TA_MUST_USE status checkpoint_load(store *s, const char *name, checkpoint *cp, errinfo *err);
/* The watermark of a mailbox (its UPN, any case), or INT64_MIN when it has none. */
int64_t checkpoint_watermark(const checkpoint *cp, const char *upn);

typedef struct checkpoint_update {
    const char *upn_lower;
    int64_t watermark;
    int done; /* 1: this run processed the mailbox (its entry takes this run's id);
                 0: only keep the watermark (a failed mailbox under an old job's file) */
} checkpoint_update;

/* Builds the new document from cp (the latest read) and the updates, keeping per
 * mailbox the later watermark: a mailbox this run processed gets this run's id
 * unless another run wrote a later watermark meanwhile. Returns a new reference. */
json_t *checkpoint_merge(const checkpoint *cp, const checkpoint_update *up, size_t n,
                         const char *run_id, int64_t now_us);
/* Writes the merged checkpoint with If-Match (If-None-Match: * when new); on 412
 * or 409 reads it again, merges again and retries (a bounded number of times). */
TA_MUST_USE status checkpoint_save(store *s, const char *name, checkpoint *cp,
                                   const checkpoint_update *up, size_t n, const char *run_id,
                                   int64_t now_us, errinfo *err);
void checkpoint_free(checkpoint *cp);

#endif

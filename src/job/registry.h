/* A mailbox's tracked meetings: {prefix}registry/mailboxes/{upn}.json (docs/format.md):
 *   {"version": 1, "first_window_start": T,
 *    "meetings": [{"id", "join_url", "occurrences": [{"event_id", "start", "end"}]}],
 *    "landed": {"<meeting id>": [report ids]}}
 * so that no session is lost: every run lists the reports of every tracked meeting,
 * in its window or not, and lands each one not landed before. It is the one home of
 * "what landed", which `audit` compares with Graph.
 *
 * Everything read is checked: a file that cannot be read is taken as empty (with a
 * warning): its reports are landed again (a duplicate row, never a lost one).
 * Ownership: registry_load fills a caller-owned registry; registry_dispose releases
 * it (safe to repeat). */
#ifndef TA_REGISTRY_H
#define TA_REGISTRY_H

#include <jansson.h>
#include <stdint.h>

#include "status.h"
#include "store/store.h"

#define REGISTRY_NO_TIME INT64_MIN
#define REGISTRY_MAX (64u << 20) /* bytes: a larger file fails the mailbox */

typedef struct registry {
    json_t *doc;                /* as read, checked (never NULL after a load) */
    char etag[STORE_ETAG_MAX];  /* "" when the blob does not exist */
    int64_t first_window_start; /* REGISTRY_NO_TIME when not set yet */
} registry;

/* Reads the blob `name`; a missing blob is an empty registry. Fails only when the
 * storage does. */
TA_MUST_USE status registry_load(store *s, const char *name, registry *reg, errinfo *err);
/* What registry_load does with what it read, for a read made elsewhere (the run reads
 * them through the engine, many at once): st is the read's outcome, ST_NOT_FOUND an
 * empty registry; any other failure is returned, prefixed with nothing. */
TA_MUST_USE status registry_take(registry *reg, const char *name, status st,
                                 const errinfo *read_err, const buf *body, const char *etag,
                                 errinfo *err);
/* Parses a document (for tests and merges); a bad one gives an empty registry. */
void registry_parse(const char *text, size_t len, registry *reg);
void registry_dispose(registry *reg);

/* 1 when the report of that meeting landed in an earlier run. */
int registry_landed(const registry *reg, const char *meeting_id, const char *report_id);

/* One occurrence of a tracked meeting, as the registry holds it. */
typedef struct registry_occurrence {
    const char *event_id;
    int64_t start_us, end_us; /* REGISTRY_NO_TIME when unreadable */
} registry_occurrence;

/* The tracked meetings: count, and the id and join URL of meeting i (borrowed). */
size_t registry_nmeetings(const registry *reg);
const char *registry_meeting_id(const registry *reg, size_t i);
const char *registry_meeting_join_url(const registry *reg, size_t i);
/* The occurrences of the meeting with that id; *n gets their count. The array is
 * malloc'd (free it; NULL when there are none); strings are borrowed from reg. */
registry_occurrence *registry_occurrences(const registry *reg, const char *meeting_id, size_t *n);

/* What this run saw of one meeting: its occurrences in the window, the report ids
 * Graph listed (listed = 0 when its reports were not listed this run), and those
 * that landed in this run. Arrays and strings are borrowed. */
typedef struct registry_meeting_update {
    const char *id;
    const char *join_url;
    const registry_occurrence *occ;
    size_t nocc;
    int listed;
    const char *const *reports; /* what Graph listed */
    size_t nreports;
    const char *const *landed; /* landed by this run */
    size_t nlanded;
} registry_meeting_update;

/* The new document: reg's meetings and landed ids with this run's merged in;
 * occurrences that ended more than track_days before now dropped, a meeting with
 * none left dropped (with its landed ids), and, for a meeting listed this run, the
 * landed ids that Graph no longer lists dropped. first_window_start is kept, or set
 * to first_window when not there. A new reference (NULL when out of memory). */
json_t *registry_update(const registry *reg, const registry_meeting_update *up, size_t n,
                        int64_t first_window, int64_t now_us, int track_days);
/* Writes doc with If-Match on reg->etag (If-None-Match: * when new); on 412 or 409
 * reads the blob again and writes the union of both (meetings, occurrences and
 * landed ids), a bounded number of times. */
TA_MUST_USE status registry_save(store *s, const char *name, registry *reg, json_t *doc,
                                 errinfo *err);

#endif

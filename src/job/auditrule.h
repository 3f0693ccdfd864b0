/* The rules of `audit` (the README) as pure functions: reading a mailbox's
 * tracked-meetings registry file (docs/behaviour.md) for what audit needs of it, and
 * deciding, for one attendance report Graph lists, whether it counts and whether it
 * is landed, not yet due, or missing.
 *
 * A report counts when it started inside the audited period and at or after the
 * mailbox's first window. It is missing when it counts, is not landed, and its
 * session ended at least the settle time before the mailbox's watermark (a report
 * that ended later is still a later run's to land).
 *
 * Ownership: auditrule_registry_parse fills a caller-owned registry that
 * auditrule_registry_dispose releases (safe on a zeroed or already freed one). */
#ifndef TA_AUDITRULE_H
#define TA_AUDITRULE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define AUDITRULE_NO_TIME INT64_MIN

/* One scheduled occurrence of a meeting: [start, end]. */
typedef struct auditrule_span {
    int64_t start_us, end_us;
} auditrule_span;

typedef struct auditrule_tracked {
    char *id;       /* the online meeting id */
    char *join_url; /* NULL when the file has none */
    auditrule_span *occ;
    size_t nocc;
} auditrule_tracked;

typedef struct auditrule_registry {
    int64_t first_window_start; /* AUDITRULE_NO_TIME when the file has none */
    auditrule_tracked *meetings;
    size_t nmeetings;
    json_t *landed; /* object used as a set: landed report id -> true */
} auditrule_registry;

/* Reads a registry document. ST_DATA names what is wrong (a version other than 1,
 * a member of the wrong shape); an occurrence whose times cannot be read is left out,
 * since audit only uses them to place a channel meeting's sessions. */
TA_MUST_USE status auditrule_registry_parse(const json_t *doc, auditrule_registry *out,
                                            errinfo *err);
void auditrule_registry_dispose(auditrule_registry *r);
/* 1 when report_id is among the landed ids of the file. */
int auditrule_is_landed(const auditrule_registry *r, const char *report_id);

typedef struct auditrule_bounds {
    int64_t first_window_start; /* AUDITRULE_NO_TIME: unknown (then period_start rules) */
    int64_t period_start, period_end;
    int64_t watermark; /* AUDITRULE_NO_TIME: none */
    int settle_minutes;
} auditrule_bounds;

typedef enum auditrule_verdict {
    AUDITRULE_OUTSIDE,       /* started outside the period or before the first window */
    AUDITRULE_OTHER_MEETING, /* a channel meeting lists a session that is not one of its own */
    AUDITRULE_LANDED,
    AUDITRULE_NOT_DUE, /* not landed, but not settled before the watermark either */
    AUDITRULE_MISSING
} auditrule_verdict;

/* The verdict on one report: its session's start and end (AUDITRULE_NO_TIME when
 * Graph gave none that can be read), whether it is landed, and for a channel
 * meeting (whose listing holds the sessions of every meeting in the channel) the
 * occurrences that make a session its own (60 minutes before a start to its end). */
auditrule_verdict auditrule_classify(int64_t start_us, int64_t end_us, int landed,
                                     const auditrule_bounds *b, int channel,
                                     const auditrule_span *occ, size_t nocc);

/* A short stable name of a verdict ("missing", ...). */
const char *auditrule_verdict_name(auditrule_verdict v);

#endif

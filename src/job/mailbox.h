/* One mailbox's extraction, as a state machine that the completion of each Graph
 * request moves forward: user id and calendarView pages -> events snapshot ->
 * online meeting lookups -> attendance reports -> attendance records -> final
 * snapshot -> rows. Per mailbox all or nothing: the first error stops it, and a
 * failed mailbox adds no rows and no final snapshot.
 *
 * What it takes in waits in a spool (util/spool: memory within the run's budget, else
 * an unlinked file), as text; the final snapshot is composed from it into a file,
 * flattened from that file and uploaded from it, so a mailbox of any size costs the
 * same memory.
 *
 * Ownership: the run allocates mailboxes (mailbox_new) and frees them
 * (mailbox_free); a mailbox holds its data only until it is done. */
#ifndef TA_MAILBOX_H
#define TA_MAILBOX_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "graph/graph.h"
#include "http/http.h"
#include "parquet/pq.h"
#include "store/store.h"
#include "util/tmpdir.h"
#include "job/registry.h"
#include "job/window.h"
#include "status.h"
#include "util/buf.h"
#include "util/spool.h"
#include "util/worker.h"
#include "tables/tables.h"

struct mailbox;

/* What a mailbox works with, given by the run (or by a test): the mailbox reaches
 * nothing else. Callbacks get ctx. */
typedef struct mailbox_env {
    const config *cfg;
    graph_client *gc;
    /* queues a request: http_submit on the run's engine; a test answers it itself */
    status (*submit)(void *submit_ctx, http_request *req, http_done_fn done, void *done_ctx,
                     errinfo *err);
    void *submit_ctx;
    store *store;
    pq_writer **writers;        /* the run's four tables (indexed by table_id) */
    tmpdir *tmp;                /* where composed snapshots go */
    tables_scratch **flatten;   /* the flattener's memory, kept from mailbox to mailbox, one
                                   per finisher thread (the run's; NULL: each flattening has
                                   its own) */
    worker *finisher;           /* where a mailbox's final work runs (compose, check and
                                   flatten its final snapshot, update its tracked meetings),
                                   off the engine's thread; the run collects it. NULL: at
                                   once, inline */
    pthread_mutex_t *rows_lock; /* held while a mailbox's rows go to the writers, when the
                                   finisher has more than one thread (NULL: one) */
    spool_budget *spill;        /* what all mailboxes may hold in memory */
    int64_t *upload_held;       /* snapshot bytes held by uploads in flight, shared */
    int put_files;              /* snapshots are put by their path, done when the call returns
                                   (store_local: the folder sink), not queued by their bytes */
    const char *run_id;
    const char *date; /* YYYY-MM-DD of the run's start */
    int64_t now_us;
    int backfill;
    void (*done)(void *ctx, struct mailbox *mb); /* succeeded or failed */
    void (*file_written)(void *ctx, const char *name, size_t bytes);
    void (*storage_failed)(void *ctx, const errinfo *err);
    /* the mailbox has a snapshot to upload that could not be queued at once (large,
     * or the uploads held too much): call mailbox_upload_deferred soon, outside the
     * engine's callbacks */
    void (*want_upload)(void *ctx, struct mailbox *mb);
    void *ctx;
} mailbox_env;

typedef enum mailbox_state {
    MB_PENDING = 0,
    MB_ACTIVE,
    MB_SUCCEEDED,
    MB_FAILED,
    MB_SKIPPED /* claimed by another replica */
} mailbox_state;

/* Its phases, in order: the user id and every calendarView page; the events
 * snapshot, meeting lookups, report lists and record pages (each completion may ask
 * for more); the final snapshot and the rows; done. A phase ends when none of the
 * mailbox's requests or uploads is outstanding. */
typedef enum mailbox_phase {
    MB_IDLE = 0,
    MB_LISTING,
    MB_FETCHING,
    MB_FINISHING,
    MB_OVER
} mailbox_phase;

typedef struct mailbox {
    const mailbox_env *env;
    int index;
    char *upn; /* as configured */
    char *upn_lower;
    const char *source; /* where it came from, for the manifest ("users", "sga_upn",
                           "group:<id>") */
    int no_mailbox;     /* a group member Graph says has no mailbox: skipped, not failed */
    char *user_id;
    int64_t old_watermark;
    int64_t window_start, window_end;
    int64_t new_watermark;
    mailbox_state state;
    int keep_entry; /* failed before it started (a poisoned checkpoint entry): the
                       checkpoint keeps its entry exactly as it was */
    errinfo err;
    int64_t started_us, finished_us;
    table_counts counts;
    int64_t n_events, n_meetings, n_reports, n_records;
    /* when it failed an incremental run: its failed runs in a row, this one included
       (docs/behaviour.md checkpoint); runs 0 otherwise */
    int64_t failing_since, failed_runs;

    registry reg;        /* its tracked meetings, as read at its start */
    char *registry_text; /* what the run writes back once the Parquet files landed (JSON) */

    /* working state, released when done */
    spool data;              /* Graph's answers as JSON text, until the final snapshot */
    struct mb_event *events; /* the window's events, in Graph's order */
    size_t nevents, events_alloc;
    window_event *ev;    /* per event, what the time rules need */
    const char **ev_src; /* per event, the field its join link came from when it was not
                            onlineMeeting.joinUrl (a joinurl_fields name), else NULL */
    buf scratch;         /* a join link being read */
    struct meeting *meetings;
    size_t nmeetings;
    int pending;        /* requests or uploads outstanding */
    int64_t held_bytes; /* Graph answers taken in, against ATTENDANCE_MAILBOX_MAX_MB */
    int page_size;      /* $top of its calendarView; smaller after a page over the cap */
    mailbox_phase phase;
    struct mailbox_upload {
        char *name, *path;
        int64_t size; /* bytes, -1 when unknown (it goes up in blocks) */
    } deferred[2];    /* snapshots waiting for mailbox_upload_deferred */
    size_t ndeferred;
    int upload_listed;      /* the run's: it is in the run's list of uploads to make */
    struct mb_final *final; /* its final work, while env->finisher has it */
} mailbox;

/* env must outlive the mailbox. */
mailbox *mailbox_new(const mailbox_env *env, int index, const char *upn);
/* Starts the first requests; the run's engine carries it from there. */
void mailbox_start(mailbox *mb);
void mailbox_free(mailbox *mb);
/* Uploads the snapshots the mailbox asked for through env->want_upload: a large one in
 * blocks, a small one queued from memory once the uploads held leave room; carries
 * the mailbox on. Never from an engine callback. Those left in `deferred` (waiting for
 * room, or asked for meanwhile) want another call after a turn of the engine. */
void mailbox_upload_deferred(mailbox *mb);

#endif

/* The state of one run that the mailboxes share (internal to src/job/). */
#ifndef TA_RUN_H
#define TA_RUN_H

#include <stdio.h>

#include "auth/token.h"
#include "config.h"
#include "graph/graph.h"
#include "http/http.h"
#include "job/checkpoint.h"
#include "job/mailbox.h"
#include "job/progress.h"
#include "job/roster.h"
#include "parquet/pq.h"
#include "store/store.h"
#include "tables/tables.h"
#include "util/spool.h"
#include "util/tmpdir.h"

/* Threads for the mailboxes' final work, at most: the mailboxes of a run tend to end
 * at once, and each has milliseconds of work to do then. Two can check their
 * snapshots at once; their rows go to the writers one mailbox at a time. */
#define RUN_FINISHERS 2

typedef struct run {
    const config *cfg;
    http_engine *eng;
    token_source *graph_tokens;
    graph_client gc;
    store *store;
    char run_id[64];
    int64_t now_us;
    char date[16]; /* YYYY-MM-DD of the run's start */
    int backfill;
    checkpoint cp;
    roster roster; /* the mailboxes: settings and resolved groups */

    mailbox_env env; /* what every mailbox is given */
    mailbox **mbs;
    mailbox **uploads; /* mailboxes with large snapshots to upload (at most 2 each) */
    size_t nuploads;
    size_t nmb;
    size_t next;
    int active;
    struct registry_writes *regw; /* the tracked-meetings writes at its end (run.c) */

    tmpdir tmp;          /* the run's temporary folder */
    spool_budget spill;  /* what mailboxes hold in memory before they spill to it */
    int64_t upload_held; /* snapshot bytes held by uploads in flight */
    FILE *files[TBL_COUNT];
    pq_writer *writers[TBL_COUNT];
    tables_scratch *flatten[RUN_FINISHERS]; /* one per finisher thread */
    pthread_mutex_t rows_lock;              /* the writers, between finisher threads */

    int fatal; /* the run stopped before its mailboxes were done */
    errinfo fatal_err;
    int terminated; /* stopped by SIGTERM or SIGINT */
    int storage_failed;
    errinfo storage_err;
    json_t *files_written;       /* [{"path","bytes"}] */
    int table_landed[TBL_COUNT]; /* its Parquet file is in the storage */
    int64_t tmp_peak_bytes;      /* the most the temporary folder held */
    int64_t bytes_written;

    progress prog;                        /* the line on a terminal */
    int64_t mb_finished, mb_failed, rows; /* mailboxes over (skipped included), rows landed */
} run;

/* Called by a mailbox when it has finished (succeeded or failed). */
void run_mailbox_done(run *r, mailbox *mb);
/* Records a written blob for the manifest. */
void run_file_written(run *r, const char *name, size_t bytes);
/* The engine's limits from the settings (timeouts, retries, waits, concurrency). */
void run_http_limits(const config *cfg, http_limits *l);
/* A storage failure fails the run (and keeps the checkpoint where it was). */
void run_storage_failed(run *r, const errinfo *err);

#endif

/* Progress of a run for a person at a terminal: one line on stderr redrawn in place
 * ("\r" + erase line) at most PROGRESS_INTERVAL_US apart, from the loop that drives
 * the run, and a summary table at the end. Only when the log format is text and
 * stderr is a terminal: JSON logs and redirected stderr never see it. Log lines
 * are not garbled: the log writer clears the line before each log line and the
 * line is drawn again after it (log_set_hook).
 *
 * Lifecycle: progress_init (cannot fail; decides whether it shows anything),
 * progress_update from the run's loop, progress_summary at the end,
 * progress_finish (clears the line, NULL-safe and safe to repeat). */
#ifndef TA_PROGRESS_H
#define TA_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "log.h"
#include "tables/tables.h"

#define PROGRESS_INTERVAL_US 250000
#define PROGRESS_LINE_MAX 256

typedef struct progress_counts {
    int64_t mailboxes_done, mailboxes_failed, mailboxes_total;
    int64_t requests, retries, throttled;
    int64_t rows; /* rows of the mailboxes that landed */
} progress_counts;

typedef struct progress {
    int enabled;
    FILE *out;
    int64_t started_us;
    int64_t last_draw_us;
    int drawn; /* the line is on the screen */
    progress_counts counts;
    char line[PROGRESS_LINE_MAX];
} progress;

/* What the summary table shows. */
typedef struct progress_totals {
    const char *run_id;
    const char *status;
    int64_t rows[TBL_COUNT];
    int64_t mailboxes_ok, mailboxes_failed;
    int64_t requests, retries, throttled;
    int64_t duration_us;
} progress_totals;

typedef struct progress_failure {
    const char *upn;
    const char *error;
    int64_t failing_since; /* INT64_MIN when not known */
    int64_t failed_runs;   /* 0 when not known */
} progress_failure;

/* Shows progress on `out` (stderr) when format is text and out is a terminal
 * (and TERM is not "dumb"); otherwise every call does nothing. */
void progress_init(progress *p, FILE *out, log_format format, int64_t started_us);
/* Takes the latest counts and redraws when the last drawing is old enough, or
 * now with force (the last counts of the loop). */
void progress_update(progress *p, const progress_counts *c, int64_t now_us, int force);
/* Clears the line and stops redrawing it after log lines. */
void progress_finish(progress *p);
/* Prints the summary table and the failed mailboxes (at most PROGRESS_FAILED_MAX,
 * then how many more). Nothing when progress is not shown. */
void progress_summary(progress *p, const progress_totals *t, const progress_failure *failed,
                      size_t nfailed);
#define PROGRESS_FAILED_MAX 20

/* Formats the progress line (no control characters) for `elapsed_us` into out;
 * the time left is estimated from the mailboxes done, "?" until one is. */
void progress_format(char *out, size_t n, const progress_counts *c, int64_t elapsed_us);
/* Formats a duration as "42s", "3m05s" or "2h03m". */
void progress_format_duration(char *out, size_t n, int64_t us);
/* Writes the summary table to f, whatever the terminal (for tests). */
void progress_write_summary(FILE *f, const progress_totals *t, const progress_failure *failed,
                            size_t nfailed);

#endif

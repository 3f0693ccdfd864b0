/* The four output tables of docs/format.md, declared once as data, and the
 * flattener that turns a final JSON snapshot into their rows.
 *
 * The same declaration feeds the Parquet writer, `schema`, `schema --sql` and
 * `convert`, so a column can never exist in one and not the others.
 *
 * Flattening is all or nothing per snapshot: the snapshot is checked first (an
 * event in a zone other than UTC is an error that names it) and only then are rows
 * appended, so a failed snapshot adds no row. Items without the fields a table
 * needs (an event without id) are skipped with a warning and counted. A value of
 * the wrong shape inside valid JSON (a time that does not parse or is not UTC, a
 * count that is a string) becomes null, with a warning naming the item and field,
 * and is counted: it never fails the snapshot. */
#ifndef TA_TABLES_H
#define TA_TABLES_H

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>

#include "parquet/pq.h"
#include "status.h"

typedef enum table_id {
    TBL_EVENTS = 0,
    TBL_REPORTS,
    TBL_RECORDS,
    TBL_INTERVALS,
    TBL_COUNT
} table_id;

/* Column indexes, one enum per table, in the order docs/format.md gives: the flattener writes
 * v[EV_SUBJECT], never v[5]. Each *_NCOLS is checked at compile time against its
 * table's declaration in tables.c. Adding a column: a name here, its declaration
 * there, the value in the flattener (docs/internals.md). */
typedef enum events_col {
    EV_EVENT_ID,
    EV_USER_UPN,
    EV_ICAL_UID,
    EV_SERIES_MASTER_ID,
    EV_EVENT_TYPE,
    EV_SUBJECT,
    EV_ORGANIZER_NAME,
    EV_ORGANIZER_EMAIL,
    EV_START_UTC,
    EV_END_UTC,
    EV_IS_ALL_DAY,
    EV_IS_CANCELLED,
    EV_IS_ONLINE_MEETING,
    EV_ONLINE_MEETING_PROVIDER,
    EV_JOIN_URL,
    EV_ONLINE_MEETING_ID,
    EV_ATTENDEE_COUNT,
    EV_CREATED_UTC,
    EV_LAST_MODIFIED_UTC,
    EV_ATTENDANCE_STATUS,
    EV_RUN_ID,
    EV_EXTRACTED_UTC,
    EV_NCOLS
} events_col;

typedef enum reports_col {
    REP_REPORT_ID,
    REP_ONLINE_MEETING_ID,
    REP_EVENT_ID,
    REP_USER_UPN,
    REP_TOTAL_PARTICIPANT_COUNT,
    REP_MEETING_START_UTC,
    REP_MEETING_END_UTC,
    REP_RUN_ID,
    REP_EXTRACTED_UTC,
    REP_NCOLS
} reports_col;

typedef enum records_col {
    REC_RECORD_KEY,
    REC_RECORD_ID,
    REC_REPORT_ID,
    REC_ONLINE_MEETING_ID,
    REC_USER_UPN,
    REC_EMAIL,
    REC_DISPLAY_NAME,
    REC_IDENTITY_ID,
    REC_IDENTITY_TENANT_ID,
    REC_ROLE,
    REC_TOTAL_ATTENDANCE_SECONDS,
    REC_FIRST_JOIN_UTC,
    REC_LAST_LEAVE_UTC,
    REC_INTERVAL_COUNT,
    REC_RUN_ID,
    REC_EXTRACTED_UTC,
    REC_NCOLS
} records_col;

typedef enum intervals_col {
    IV_REPORT_ID,
    IV_RECORD_KEY,
    IV_IDENTITY_ID,
    IV_EMAIL,
    IV_INTERVAL_INDEX,
    IV_JOIN_UTC,
    IV_LEAVE_UTC,
    IV_DURATION_SECONDS,
    IV_RUN_ID,
    IV_EXTRACTED_UTC,
    IV_NCOLS
} intervals_col;

typedef struct table_def {
    const char *name;      /* "events", "attendance_reports", ... */
    const pq_column *cols; /* in the order docs/format.md gives */
    size_t ncols;
    const char *const *key; /* key columns for the newest-copy view */
    size_t nkey;
} table_def;

const table_def *tables_def(table_id id);

/* The key-value metadata every table file carries: {"format_version": "1"}
 * (docs/format.md), as pq_options.kv with nkv = 1. */
extern const char *const tables_parquet_kv[2];

typedef struct table_counts {
    int64_t rows[TBL_COUNT];
    int64_t skipped;    /* items left out of the tables for missing fields */
    int64_t bad_values; /* values of the wrong shape, written as null (warned) */
} table_counts;

/* `schema` output: a human-readable listing of every table's columns. */
void tables_print_schema(FILE *out);
/* `schema --sql` output: Synapse DDL for serverless and dedicated pools. */
void tables_print_sql(FILE *out);

/* Rows as values, for sinks other than Parquet writers and for tests.
 * A value is read through its column's pq_type: `i` holds BOOLEAN (0/1), INT32,
 * INT64 and TIMESTAMP (microseconds since the epoch, UTC); `s`/`len` a STRING,
 * borrowed from the snapshot or the flattener and valid only during the call. */
typedef struct tables_value {
    int null;
    int64_t i;
    const char *s;
    size_t len;
} tables_value;

/* Receives one row of `table`, tables_def(table)->ncols values in column order. */
typedef status (*tables_row_fn)(void *ctx, table_id table, const tables_value *row, errinfo *err);

/* The flattener: the rows of one final snapshot (docs/format.md shape) handed to
 * `row` (NULL: check and count only), table by table as they are made. run_id and
 * extracted_utc come from the snapshot. A snapshot of up to 4 MiB is tokenized whole
 * (memory: about three times its size); a larger one is read one event, report and
 * record at a time, so memory does not grow with it. The rows, warnings and errors
 * are the same either way. Rows go out as they are made, so a caller that must add
 * all of a snapshot's rows or none uses tables_flatten_fd_all (or walks it first with
 * no row function and TABLES_SILENT). These functions add to *counts (they never reset it), and
 * change nothing in it when they fail. */
#define TABLES_SILENT 1u /* no warnings: a check pass before the real one */
#define TABLES_STREAM 2u /* read a piece at a time whatever the size (tests) */

/* Memory a caller that flattens many snapshots keeps from one to the next: the
 * whole text and its tokens. NULL where a function takes one: each call has its own. */
typedef struct tables_scratch tables_scratch;
tables_scratch *tables_scratch_new(void); /* NULL: out of memory */
void tables_scratch_free(tables_scratch *sc);

/* A snapshot held as a jansson tree (dumped to text first). All or nothing: it is
 * checked before any row goes out. */
TA_MUST_USE status tables_flatten_rows(const json_t *snapshot, tables_row_fn row, void *ctx,
                                       table_counts *counts, errinfo *err);
/* A snapshot's text in memory. */
TA_MUST_USE status tables_flatten_text(const char *text, size_t len, unsigned flags,
                                       tables_scratch *sc, tables_row_fn row, void *ctx,
                                       table_counts *counts, errinfo *err);
/* A snapshot in a regular file, read through a window (util/jsonscan). */
TA_MUST_USE status tables_flatten_fd(int fd, unsigned flags, tables_scratch *sc, tables_row_fn row,
                                     void *ctx, table_counts *counts, errinfo *err);
/* tables_flatten_fd, all or nothing: the snapshot is checked to its end (no rows, no
 * warnings) before any row goes out; one tokenized whole is read and tokenized once
 * for both walks. `lock` (may be NULL) is held while the rows go out, and only then:
 * threads that share the row function's target check their snapshots at once. */
TA_MUST_USE status tables_flatten_fd_all(int fd, tables_scratch *sc, tables_row_fn row, void *ctx,
                                         pthread_mutex_t *lock, table_counts *counts, errinfo *err);
/* A row function writing to four writers: ctx is a pq_writer *[TBL_COUNT]. */
status tables_row_to_writers(void *writers, table_id table, const tables_value *row, errinfo *err);
/* Writes one row of `table` to w (pq_writer_* calls for each value, then end_row). */
TA_MUST_USE status tables_write_row(pq_writer *w, table_id table, const tables_value *row,
                                    errinfo *err);
/* Parses a Graph or snapshot time: YYYY-MM-DDTHH:MM:SS (util/timeutil's reader,
 * without bare dates), 0 to 9 fractional digits truncated to microseconds, then
 * nothing, Z, or an offset (+HH:MM). A time with no zone is taken as UTC; *has_zone
 * (may be NULL) says whether one was written. Returns 0 on success. */
int tables_parse_time(const char *s, size_t len, int64_t *out_us, int *has_zone);

#endif

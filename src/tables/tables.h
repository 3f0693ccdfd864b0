/* The four output tables of SPEC section 7, declared once as data, and the
 * flattener that turns a final JSON snapshot into their rows.
 *
 * The same declaration feeds the Parquet writer, `schema`, `schema --sql` and
 * `convert`, so a column can never exist in one and not the others.
 *
 * Flattening is all or nothing per snapshot: the snapshot is checked first (an
 * event in a zone other than UTC is an error that names it) and only then are rows
 * appended, so a failed snapshot adds no row. Items without the fields a table
 * needs (an event without id) are skipped with a warning and counted. */
#ifndef TA_TABLES_H
#define TA_TABLES_H

#include <jansson.h>
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

typedef struct table_def {
    const char *name;      /* "events", "attendance_reports", ... */
    const pq_column *cols; /* in SPEC order */
    size_t ncols;
    const char *const *key; /* key columns for the newest-copy view */
    size_t nkey;
} table_def;

const table_def *tables_def(table_id id);

typedef struct table_counts {
    int64_t rows[TBL_COUNT];
    int64_t skipped; /* items left out of the tables for missing fields */
} table_counts;

/* Appends the rows of one final snapshot (SPEC section 7 shape) to the four
 * writers (indexed by table_id). run_id and extracted_utc come from the snapshot. */
TA_MUST_USE status tables_flatten_snapshot(const json_t *snapshot,
                                           pq_writer *const writers[TBL_COUNT],
                                           table_counts *counts, errinfo *err);

/* `schema` output: a human-readable listing of every table's columns. */
void tables_print_schema(FILE *out);
/* `schema --sql` output: Synapse DDL for serverless and dedicated pools. */
void tables_print_sql(FILE *out);

#endif

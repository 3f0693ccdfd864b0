/* Where everything goes (docs/format.md, "Layout"): every name under the container
 * (or the output folder) and the run id, built here and nowhere else.
 *
 * Names carry the prefix ("" or "a/b/"). {upn} is lower-cased with every byte
 * outside a-z 0-9 . _ @ - percent-encoded. Each function returns a malloc'd string
 * the caller frees, or NULL when out of memory. */
#ifndef TA_LAYOUT_H
#define TA_LAYOUT_H

#include <stdint.h>

#define LAYOUT_RUN_ID_MAX 32
#define LAYOUT_DATE_MAX 16

/* "YYYYMMDDTHHMMSSZ-xxxxxx": the start in UTC and 6 random hex digits, so run ids sort
 * by time and replicas started in the same second differ; date gets "YYYY-MM-DD". */
void layout_run_id(int64_t start_us, char id[LAYOUT_RUN_ID_MAX], char date[LAYOUT_DATE_MAX]);

/* {prefix}raw/{kind}/date={date}/user={upn}/{run_id}.json; kind "events" or "final" */
char *layout_snapshot(const char *prefix, const char *kind, const char *date, const char *upn,
                      const char *run_id);
/* {prefix}parquet/{table}/ingest_date={date}/{run_id}.parquet */
char *layout_parquet(const char *prefix, const char *table, const char *date, const char *run_id);
/* {prefix}parquet/{table}/ingest_date={date}: the folder of layout_parquet */
char *layout_parquet_dir(const char *prefix, const char *table, const char *date);
/* {prefix}parquet/{table}/: where every file of a table lies (what compact lists) */
char *layout_parquet_table(const char *prefix, const char *table);
/* {prefix}parquet/{table}/month={month}/compacted-{run_id}.parquet: one month's files
 * merged by `compact`; month is "YYYY-MM" */
char *layout_compacted(const char *prefix, const char *table, const char *month,
                       const char *run_id);

/* What a name under layout_parquet_table is, for `compact`. */
typedef enum layout_kind {
    LAYOUT_OTHER = 0, /* not a table file this program writes */
    LAYOUT_INGEST,    /* layout_parquet: date is its ingest date, month its month */
    LAYOUT_COMPACTED  /* layout_compacted: month is set, date is "" */
} layout_kind;
/* Reads name (a listed blob name) against prefix and table: its kind, and its date
 * ("YYYY-MM-DD") and month ("YYYY-MM"), checked to be real dates. */
layout_kind layout_parse_table_file(const char *prefix, const char *table, const char *name,
                                    char date[LAYOUT_DATE_MAX], char month[LAYOUT_DATE_MAX]);

/* {prefix}registry/runs/{run_id}.json */
char *layout_manifest(const char *prefix, const char *run_id);
/* {prefix}registry/checkpoint.json */
char *layout_checkpoint(const char *prefix);
/* {prefix}registry/mailboxes/{upn}.json */
char *layout_registry(const char *prefix, const char *upn);
/* {prefix}registry/claims/{execution}/{upn} */
char *layout_claim(const char *prefix, const char *execution, const char *upn);

#endif

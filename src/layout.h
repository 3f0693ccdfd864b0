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
/* {prefix}registry/runs/{run_id}.json */
char *layout_manifest(const char *prefix, const char *run_id);
/* {prefix}registry/checkpoint.json */
char *layout_checkpoint(const char *prefix);
/* {prefix}registry/mailboxes/{upn}.json */
char *layout_registry(const char *prefix, const char *upn);
/* {prefix}registry/claims/{execution}/{upn} */
char *layout_claim(const char *prefix, const char *execution, const char *upn);

#endif

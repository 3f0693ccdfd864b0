/* Merging Parquet files of one table into one file that keeps the newest copy of
 * each key (the `_latest` rule: greatest extracted_utc, then greatest run_id; the
 * first copy met among identical ones), every value of the kept copy as it was.
 * What `compact` does to a month of files, on local copies.
 *
 * Memory is bounded whatever the inputs' size: the inputs are read one at a time,
 * a row at a time (parquet/reader.h), and the newest copy of each key is decided in
 * a hash table of fixed-size entries (a 128-bit hash of the key, extracted_utc, an
 * interned run id, where the copy is) of at most MERGE_HASH_BYTES. When the inputs
 * hold more rows than fit, keys are split by hash into partitions, each decided and
 * written on its own pass over the inputs (two reads of every input per partition).
 *
 * Inputs are untrusted: a file that cannot be read, or whose columns are not the
 * table's (by name and type; a column the table has and the file lacks is null,
 * when the table lets it be), is an error naming its label. */
#ifndef TA_JOB_MERGE_H
#define TA_JOB_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "parquet/pq.h"
#include "status.h"
#include "tables/tables.h"

#define MERGE_HASH_BYTES ((size_t)80 << 20)

typedef struct merge_input {
    const char *path;  /* local file */
    const char *label; /* for messages: its blob name */
} merge_input;

typedef struct merge_stats {
    uint64_t rows_in;  /* rows of every input */
    uint64_t rows_out; /* rows written: one per key */
    unsigned partitions;
} merge_stats;

/* Writes the merged rows of inputs[0..n) of `table` to the file out_path (created
 * or truncated) with opts (its kv and created_by as the caller sets them).
 * hash_bytes caps the hash table (0: MERGE_HASH_BYTES; tests pass less to force
 * partitions). */
TA_MUST_USE status merge_files(table_id table, const merge_input *inputs, size_t n,
                               const char *out_path, const pq_options *opts, size_t hash_bytes,
                               merge_stats *stats, errinfo *err);

#endif

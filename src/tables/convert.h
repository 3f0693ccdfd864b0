/* `teams-attendance convert FILE... --output-dir DIR`: rebuilds the Parquet tables
 * from final JSON snapshots, offline (no Graph, no storage account).
 *
 * Every input is flattened into the same four writers; the files go to
 * DIR/{prefix}parquet/{table}/ingest_date={YYYY-MM-DD}/{run_id}.parquet, named and
 * dated like a run of its own (its start time and 6 random hex digits). Rows keep
 * each snapshot's run_id and extracted_utc. All or nothing: an input that cannot be
 * read, parsed or flattened is named in the error (every bad input is logged) and
 * no file is left behind.
 *
 * Three threads: one reads, tokenizes (util/jsontok) and flattens the inputs, a
 * few ahead; two write the Parquet files (the attendance intervals, and the other
 * three tables). Memory: the writers' row groups (at most 32 MiB of values per
 * table) plus the inputs in flight. An input is held whole while it is in flight,
 * with its tokens and its rows' values: about 3.5 times its size, so inputs of a
 * few MB (one mailbox's snapshot) cost little, and a single input of hundreds of MB
 * costs several times that (inputs are capped at 2 GiB). */
#ifndef TA_CONVERT_H
#define TA_CONVERT_H

#include "config.h"
#include "status.h"

/* Uses cfg->inputs, cfg->output_dir, cfg->prefix, cfg->codec, cfg->int96_timestamps.
 * ST_USAGE when there is no input or no output folder (exit 2); any other error
 * means an input or the output could not be handled (exit 1). */
TA_MUST_USE status convert_run(const config *cfg, errinfo *err);

#endif

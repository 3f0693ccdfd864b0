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
 * Four threads: two loaders read, tokenize (util/jsontok) and flatten the inputs
 * (input i on loader i % 2), each a few chunks of rows ahead; two write the Parquet
 * files in input order (the attendance intervals, and the other three tables), so
 * the files are the same bytes as with one loader. Memory: the writers' row groups
 * (16 MiB of values per table), the loaders' chunks (6 of 512 KiB of strings
 * each), and the input each loader is on: one of up to 4 MiB is held whole with its
 * tokens (about 3 times its size), a larger one is read a piece at a time, and a
 * pipe is read whole (inputs are capped at 2 GiB). */
#ifndef TA_CONVERT_H
#define TA_CONVERT_H

#include "config.h"
#include "status.h"

/* Uses cfg->inputs, cfg->output_dir, cfg->prefix, cfg->codec, cfg->int96_timestamps.
 * ST_USAGE when there is no input or no output folder (exit 2); any other error
 * means an input or the output could not be handled (exit 1). */
TA_MUST_USE status convert_run(const config *cfg, errinfo *err);

#endif

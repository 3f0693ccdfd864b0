/* A Parquet file writer for flat tables (apache/parquet-format: parquet.thrift,
 * Encodings.md, LogicalTypes.md). No job logic lives here.
 *
 * Rows are added one value per column, in column order, then pq_writer_end_row.
 * Values are buffered per column; a row group is encoded and handed to the sink
 * when its buffered size reaches options.row_group_bytes (or row_group_rows), so
 * memory stays bounded whatever the number of rows. pq_writer_close writes the
 * last row group and the footer. A file with no rows is a valid file. Memory: the
 * buffered row group, plus while it is written its column chunks encoded and not
 * yet handed to the sink (at most the row group's encoded size).
 *
 * Ownership: pq_writer_open allocates the writer; pq_writer_free releases it
 * (NULL-safe) whether or not it was closed. The column array passed to open must
 * outlive the writer. Bytes go out only through the sink callback. */
#ifndef TA_PQ_H
#define TA_PQ_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum pq_type {
    PQ_BOOLEAN,   /* BOOLEAN */
    PQ_INT32,     /* INT32, INT(32, signed) */
    PQ_INT64,     /* INT64, INT(64, signed) */
    PQ_STRING,    /* BYTE_ARRAY, STRING logical type + UTF8 converted type */
    PQ_TIMESTAMP, /* INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true) + TIMESTAMP_MICROS,
                     or INT96 when options.int96_timestamps */
} pq_type;

typedef struct pq_column {
    const char *name;
    pq_type type;
    int required; /* 1: REQUIRED (never null), 0: OPTIONAL */
} pq_column;

typedef enum pq_codec { PQ_CODEC_NONE, PQ_CODEC_SNAPPY, PQ_CODEC_ZSTD } pq_codec;

typedef struct pq_options {
    pq_codec codec;
    int int96_timestamps;
    size_t row_group_bytes; /* 0: 16 MiB */
    size_t row_group_rows;  /* 0: 1,000,000 */
    size_t page_bytes;      /* 0: 1 MiB */
    const char *created_by; /* NULL: "teams-attendance version X" */
    /* key-value metadata of the file: nkv pairs, kv[2i] the key, kv[2i+1] the value;
     * the strings must outlive the writer */
    const char *const *kv;
    size_t nkv;
    /* threads that encode and compress a full row group's column chunks, the
     * caller's included (0: the online CPUs, at most 4; 1: the caller's alone).
     * The others exist only while a row group is written; the sink is called on the
     * caller's thread only, and the file is the same bytes whatever the number. */
    int threads;
} pq_options;

/* Receives the file's bytes in order. Returns ST_OK or fills err. */
typedef status (*pq_sink_fn)(void *ctx, const void *data, size_t len, errinfo *err);

typedef struct pq_writer pq_writer;

TA_MUST_USE status pq_writer_open(pq_writer **out, const pq_column *cols, size_t ncols,
                                  const pq_options *opts, pq_sink_fn sink, void *sink_ctx,
                                  errinfo *err);
/* Values for the current row, one call per column in column order. */
TA_MUST_USE status pq_writer_null(pq_writer *w, errinfo *err);
TA_MUST_USE status pq_writer_bool(pq_writer *w, int v, errinfo *err);
TA_MUST_USE status pq_writer_i32(pq_writer *w, int32_t v, errinfo *err);
TA_MUST_USE status pq_writer_i64(pq_writer *w, int64_t v, errinfo *err);
TA_MUST_USE status pq_writer_string(pq_writer *w, const char *s, size_t len, errinfo *err);
/* Microseconds since 1970-01-01T00:00:00Z. */
TA_MUST_USE status pq_writer_timestamp(pq_writer *w, int64_t micros, errinfo *err);
TA_MUST_USE status pq_writer_end_row(pq_writer *w, errinfo *err);

/* One value of a row for pq_writer_row; the column's type says which field counts:
 * BOOLEAN i != 0, INT32 (int32_t)i, INT64 i, TIMESTAMP i (microseconds as for
 * pq_writer_timestamp), STRING s and len. */
typedef struct pq_cell {
    int null;
    int64_t i;
    const char *s;
    size_t len;
} pq_cell;

/* A whole row, n values in column order (n must be the column count), ended as by
 * pq_writer_end_row: the same file as one call per value, with the checks done
 * once a row. Every value is checked before any is kept, so a failure (a null in
 * a REQUIRED column, a string that is not UTF-8, out of memory) leaves the writer
 * as it was and ready for the next row; a failure to write a full row group fails
 * the writer as pq_writer_end_row does. Not to be mixed with the one-value calls
 * within a row. */
TA_MUST_USE status pq_writer_row(pq_writer *w, const pq_cell *row, size_t n, errinfo *err);
TA_MUST_USE status pq_writer_close(pq_writer *w, errinfo *err);
uint64_t pq_writer_rows(const pq_writer *w);
void pq_writer_free(pq_writer *w);

/* "snappy", "zstd", "none" -> codec; returns 0 on success. */
int pq_codec_parse(const char *s, pq_codec *out);

#endif

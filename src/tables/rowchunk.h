/* Rows of the four tables kept compactly between the flattener that makes them and
 * the Parquet writers that take them, where the two run on different threads
 * (convert's loaders and writer threads).
 *
 * A value takes 8 bytes (an integer as it is, a string as its offset in the chunk's
 * text << 32 | its length) and a byte for null; the strings are copied in, since the
 * flattener's last only for its call. The writers are split in two groups, each
 * written by one thread at a time: two threads write one chunk at once, a group
 * each.
 *
 * The caller owns the chunk (zeroed, or cleared) and disposes of it. */
#ifndef TA_TABLES_ROWCHUNK_H
#define TA_TABLES_ROWCHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "parquet/pq.h"
#include "status.h"
#include "tables/tables.h"

typedef struct rowchunk {
    uint64_t *vals;
    uint8_t *nulls;
    size_t nvals, valloc;
    uint8_t *tables; /* the table of each row */
    size_t nrows, ralloc;
    char *strs;
    size_t slen, salloc;
} rowchunk;

/* The groups of writers: records and reports, intervals and events, about as many
 * values each (8.1 and 7.9 M at 500,000 records; with the events in the first group,
 * 8.5 M against 7.5 M, and the slower group sets the pace). */
#define ROWCHUNK_GROUPS 2
#define ROWCHUNK_GROUP_OF(t) ((t) == TBL_INTERVALS || (t) == TBL_EVENTS ? 1 : 0)
#define ROWCHUNK_ALL_GROUPS (-1)

/* The text bytes of a row (its string values); ST_DATA, naming the table, when a
 * row holds more than a chunk can address. */
TA_MUST_USE status rowchunk_measure(table_id table, const tables_value *row, size_t *bytes,
                                    errinfo *err);
/* 1 when the chunk is due to be written before a row of `bytes` text bytes is added:
 * it holds enough values or text to be worth handing over. */
int rowchunk_full(const rowchunk *c, size_t bytes);
/* Adds a row (bytes from rowchunk_measure) to a chunk that is not due (ST_INTERNAL
 * otherwise: write and clear it first); ST_NOMEM leaves the chunk as it was. */
TA_MUST_USE status rowchunk_add(rowchunk *c, table_id table, const tables_value *row, size_t bytes,
                                errinfo *err);
/* Hands the rows of the tables of group g (ROWCHUNK_ALL_GROUPS: every row) to
 * writers[table], in order. The message names the table. */
TA_MUST_USE status rowchunk_write(const rowchunk *c, pq_writer *const *writers, int g,
                                  errinfo *err);
/* Empties the chunk, keeping its memory. */
void rowchunk_clear(rowchunk *c);
/* Frees its memory (the chunk is then empty; it may be used again). */
void rowchunk_dispose(rowchunk *c);

#endif

/* A Parquet file reader for the files pq_writer writes (apache/parquet-format:
 * parquet.thrift, Encodings.md): a flat schema of BOOLEAN, INT32, INT64 (plain or
 * TIMESTAMP micros), INT96 timestamps and BYTE_ARRAY columns, REQUIRED or OPTIONAL;
 * data page v1 and dictionary pages; PLAIN, PLAIN_DICTIONARY and RLE_DICTIONARY
 * values; RLE/bit-packed definition levels; UNCOMPRESSED, SNAPPY and ZSTD pages.
 * Anything else is refused with ST_DATA, never guessed.
 *
 * The file is untrusted: every offset, size and count is checked, and a bad file is
 * an error whose message starts with the label given at open. Rows come out one at
 * a time; each column keeps only its current page (and dictionary) in memory, so a
 * reader holds about ncols x (page + dictionary) bytes whatever the file's size;
 * pages larger than PQ_READER_PAGE_MAX, and more than 96 MiB of pages and
 * dictionaries held at once, are refused (ST_TOO_LARGE).
 *
 * Ownership: pq_reader_open* allocates; pq_reader_free releases (NULL-safe). The
 * reader owns the file descriptor it opened; pq_reader_open_mem borrows `data`,
 * which must outlive the reader. Strings in a row point into the reader and stay
 * valid until the next pq_reader_next or pq_reader_free. */
#ifndef TA_PQ_READER_H
#define TA_PQ_READER_H

#include <stddef.h>
#include <stdint.h>

#include "parquet/pq.h"
#include "status.h"

#define PQ_READER_PAGE_MAX ((size_t)16 << 20)   /* one page, compressed or not */
#define PQ_READER_FOOTER_MAX ((size_t)16 << 20) /* the file's metadata */
#define PQ_READER_COLS_MAX 1024

typedef struct pq_reader pq_reader;

/* One value: `i` holds BOOLEAN (0/1), INT32, INT64 and TIMESTAMP (microseconds since
 * the epoch, UTC, INT96 converted); `s`/`len` a BYTE_ARRAY. */
typedef struct pq_value {
    int null;
    int64_t i;
    const char *s;
    size_t len;
} pq_value;

/* Opens the file at path and reads its footer. label names it in messages. */
TA_MUST_USE status pq_reader_open(pq_reader **out, const char *path, const char *label,
                                  errinfo *err);
/* The same over a file held in memory. */
TA_MUST_USE status pq_reader_open_mem(pq_reader **out, const void *data, size_t len,
                                      const char *label, errinfo *err);
void pq_reader_free(pq_reader *r);

size_t pq_reader_ncols(const pq_reader *r);
/* Column i as the writer declares it (name owned by the reader). */
const pq_column *pq_reader_column(const pq_reader *r, size_t i);
/* -1 when no column has that name. */
int pq_reader_find(const pq_reader *r, const char *name);
uint64_t pq_reader_rows(const pq_reader *r);
size_t pq_reader_row_groups(const pq_reader *r);

/* Decodes only the columns whose want[i] is non-zero (the others come out null and
 * are never read). Call before the first pq_reader_next. */
void pq_reader_select(pq_reader *r, const unsigned char *want);

/* Fills row[0..ncols) with the next row and sets *got to 1, or sets *got to 0 at the
 * end of the file. After an error the reader only returns that error again. */
TA_MUST_USE status pq_reader_next(pq_reader *r, pq_value *row, int *got, errinfo *err);

#endif

/* Fuzz target for the Parquet reader: the input is taken as a whole file, opened
 * from memory and read to its end (every column, then a second pass with half the
 * columns selected). It must end in ST_OK or an error naming the file, never a
 * crash, a leak or a read outside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parquet/reader.h"

static void read_through(const uint8_t *data, size_t size, int half)
{
    pq_reader *r;
    errinfo err = {0};
    if (pq_reader_open_mem(&r, data, size, "fuzz.parquet", &err) != ST_OK) {
        if (!strstr(err.msg, "fuzz.parquet"))
            abort();
        return;
    }
    size_t n = pq_reader_ncols(r);
    pq_value *v = calloc(n, sizeof *v);
    unsigned char *want = calloc(n, 1);
    if (!v || !want) {
        free(v);
        free(want);
        pq_reader_free(r);
        return;
    }
    for (size_t i = 0; i < n; i++)
        want[i] = !half || i % 2 == 0;
    pq_reader_select(r, want);
    uint64_t rows = 0;
    int got = 1;
    status st = ST_OK;
    while (got && (st = pq_reader_next(r, v, &got, &err)) == ST_OK) {
        for (size_t i = 0; got && i < n; i++) /* touch every string byte */
            if (!v[i].null && v[i].s && v[i].len &&
                ((volatile const char *)v[i].s)[v[i].len - 1] == 1)
                rows += 0;
        rows += (uint64_t)got;
    }
    if (st == ST_OK && rows != pq_reader_rows(r))
        abort(); /* a file that reads whole has the rows its footer says */
    if (st != ST_OK && !strstr(err.msg, "fuzz.parquet"))
        abort();
    free(v);
    free(want);
    pq_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_through(data, size, 0);
    read_through(data, size, 1);
    return 0;
}

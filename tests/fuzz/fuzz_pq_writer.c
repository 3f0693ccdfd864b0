/* Fuzz target for the Parquet writer: the input bytes choose a table (column types,
 * nullability, codec, page and row group sizes) and its values (nulls, integers,
 * strings of many lengths, some not UTF-8), the writer writes it to memory, and the
 * file is checked: magic at both ends, a footer length that fits, and every value
 * read back by the small independent reader equal to what was written. Any mismatch
 * aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/pq_mini_reader.h"
#include "parquet/pq.h"
#include "util/buf.h"

#define MAX_COLS 8
#define MAX_ROWS 3000

typedef struct input {
    const uint8_t *p;
    size_t n, pos;
} input;

static uint8_t next(input *in)
{
    return in->pos < in->n ? in->p[in->pos++] : 0;
}

static uint64_t next64(input *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | next(in);
    return v;
}

typedef struct cellv {
    int null;
    int64_t i;
    size_t off, len;
} cellv;

static status mem_sink(void *ctx, const void *data, size_t len, errinfo *err)
{
    return buf_append(ctx, data, len, err);
}

static char names[MAX_COLS][8];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size, 0};
    pq_column cols[MAX_COLS];
    size_t ncols = 1 + next(&in) % MAX_COLS;
    uint8_t ob = next(&in);
    pq_options o = {0};
    o.codec = (pq_codec)(ob % 3);
    o.int96_timestamps = (ob >> 2) & 1;
    o.page_bytes = (ob >> 3) & 1 ? 0 : 32 + (size_t)next(&in) * 8;
    o.row_group_rows = (ob >> 4) & 1 ? 0 : 1 + next(&in) % 64;
    o.row_group_bytes = (ob >> 5) & 1 ? 0 : 256 + (size_t)next(&in) * 64;
    for (size_t c = 0; c < ncols; c++) {
        uint8_t b = next(&in);
        names[c][0] = 'c';
        names[c][1] = (char)('0' + c);
        names[c][2] = '\0';
        cols[c].name = names[c];
        cols[c].type = (pq_type)(b % 5);
        cols[c].required = (b >> 3) & 1;
    }

    buf file, strings;
    buf_init(&file, 0);
    buf_init(&strings, 0);
    cellv *cells = malloc(sizeof *cells * MAX_ROWS * MAX_COLS);
    char *sb = malloc(70000);
    pq_writer *w = NULL;
    errinfo err = {0};
    if (!cells || !sb || pq_writer_open(&w, cols, ncols, &o, mem_sink, &file, &err) != ST_OK)
        abort();

    size_t nrows = 0;
    while (in.pos < in.n && nrows < MAX_ROWS) {
        for (size_t c = 0; c < ncols; c++) {
            cellv *cv = &cells[nrows * MAX_COLS + c];
            memset(cv, 0, sizeof *cv);
            uint8_t ctl = next(&in);
            errinfo e = {0};
            status st;
            if ((ctl & 7) == 0) {
                st = pq_writer_null(w, &e);
                if (cols[c].required) {
                    if (st != ST_DATA)
                        abort();
                    e = (errinfo){0};
                } else {
                    if (st != ST_OK)
                        abort();
                    cv->null = 1;
                    continue;
                }
            }
            switch (cols[c].type) {
            case PQ_BOOLEAN:
                cv->i = (ctl >> 3) & 1;
                st = pq_writer_bool(w, (int)cv->i, &e);
                break;
            case PQ_INT32:
                cv->i = (ctl & 8) ? (int32_t)(ctl >> 4) : (int32_t)(uint32_t)next64(&in);
                st = pq_writer_i32(w, (int32_t)cv->i, &e);
                break;
            case PQ_INT64:
                cv->i = (ctl & 8) ? (int64_t)(ctl >> 4) : (int64_t)next64(&in);
                st = pq_writer_i64(w, cv->i, &e);
                break;
            case PQ_TIMESTAMP:
                cv->i = (ctl & 8) ? (int64_t)(ctl >> 4) - 8 : (int64_t)next64(&in);
                /* INT96 readers keep nanoseconds of day and a 32-bit day: any int64 of
                 * microseconds fits, so the full range is fair. */
                st = pq_writer_timestamp(w, cv->i, &e);
                break;
            default: {
                size_t len = (ctl & 8) ? (size_t)(ctl >> 4) % 4 : next(&in);
                if (ctl >> 7)
                    len *= 257; /* sometimes long: up to ~65 KiB */
                for (size_t k = 0; k < len; k++)
                    sb[k] = (ctl & 0x40) ? (char)next(&in) : (char)('a' + (next(&in) % 26));
                st = pq_writer_string(w, sb, len, &e);
                if (st == ST_DATA) {
                    /* not UTF-8: rejected without effect; write a valid one instead */
                    len = 1;
                    sb[0] = '?';
                    e = (errinfo){0};
                    st = pq_writer_string(w, sb, len, &e);
                }
                cv->len = len;
                cv->off = strings.len;
                if (buf_append(&strings, sb, len, &e) != ST_OK)
                    abort();
                break;
            }
            }
            if (st != ST_OK)
                abort();
        }
        if (pq_writer_end_row(w, &err) != ST_OK)
            abort();
        nrows++;
    }
    if (pq_writer_close(w, &err) != ST_OK)
        abort();
    pq_writer_free(w);

    /* Structure first, then every value through the reader. */
    if (file.len < 12 || memcmp(file.data, "PAR1", 4) ||
        memcmp(file.data + file.len - 4, "PAR1", 4))
        abort();
    uint32_t flen;
    memcpy(&flen, file.data + file.len - 8, 4);
    if (flen == 0 || flen > file.len - 12)
        abort();
    mr_file f;
    if (mr_read((const uint8_t *)file.data, file.len, &f) != 0) {
        fprintf(stderr, "written file does not read back: %s\n", f.why);
        abort();
    }
    if (f.ncols != ncols || f.num_rows != (int64_t)nrows)
        abort();
    for (size_t c = 0; c < ncols; c++) {
        const mr_column *col = &f.cols[c];
        if (col->n != nrows || col->required != cols[c].required)
            abort();
        for (size_t r = 0; r < nrows; r++) {
            const cellv *cv = &cells[r * MAX_COLS + c];
            const mr_value *v = &col->v[r];
            if (v->null != cv->null)
                abort();
            if (cv->null)
                continue;
            if (cols[c].type == PQ_STRING) {
                if (v->len != cv->len ||
                    memcmp(col->arena + v->off, strings.data + cv->off, cv->len))
                    abort();
            } else if (v->i != cv->i) {
                abort();
            }
        }
    }
    mr_free(&f);
    buf_dispose(&file);
    buf_dispose(&strings);
    free(cells);
    free(sb);
    return 0;
}

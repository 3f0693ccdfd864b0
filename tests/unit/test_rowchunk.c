/* Rows through a chunk: the four files are the bytes the same rows give written
 * straight to the writers, whether the chunk goes out whole or a group of writers at
 * a time, and whatever the rows hold (nulls, empty strings, strings longer than a
 * chunk's text); a chunk is due only once it holds rows, and takes no row while due;
 * a row whose text a chunk cannot address is refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tables/rowchunk.h"
#include "tables/tables.h"
#include "util/buf.h"

#define NROWS 4000

static status to_buf(void *ctx, const void *data, size_t len, errinfo *err)
{
    return buf_append(ctx, data, len, err);
}

typedef struct outputs {
    buf file[TBL_COUNT];
    pq_writer *w[TBL_COUNT];
} outputs;

static void outputs_open(outputs *o)
{
    pq_options opt = {.codec = PQ_CODEC_SNAPPY, .row_group_rows = 1500};
    errinfo err = {0};
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *d = tables_def((table_id)t);
        buf_init(&o->file[t], 0);
        assert_int_equal(
            pq_writer_open(&o->w[t], d->cols, d->ncols, &opt, to_buf, &o->file[t], &err), ST_OK);
    }
}

static void outputs_close(outputs *o)
{
    errinfo err = {0};
    for (int t = 0; t < TBL_COUNT; t++) {
        assert_int_equal(pq_writer_close(o->w[t], &err), ST_OK);
        pq_writer_free(o->w[t]);
    }
}

static void outputs_dispose(outputs *o)
{
    for (int t = 0; t < TBL_COUNT; t++)
        buf_dispose(&o->file[t]);
}

/* Row i: its table and values, made again the same way each time. Text lives in
 * `text` (long enough for the longest string). */
static table_id make_row(unsigned i, tables_value *v, char *text, size_t cap)
{
    unsigned seed = i * 2654435761u + 12345u;
#define NEXT() (seed = seed * 1103515245u + 12345u, seed >> 8)
    table_id t = (table_id)(NEXT() % TBL_COUNT);
    const table_def *d = tables_def(t);
    size_t used = 0;
    for (size_t c = 0; c < d->ncols; c++) {
        unsigned r = NEXT();
        v[c] = (tables_value){0, 0, NULL, 0};
        if (!d->cols[c].required && r % 7 == 0) {
            v[c].null = 1;
            continue;
        }
        switch (d->cols[c].type) {
        case PQ_BOOLEAN:
            v[c].i = r & 1;
            break;
        case PQ_INT32:
            v[c].i = (int32_t)(r % 100000) - 50000;
            break;
        case PQ_INT64:
        case PQ_TIMESTAMP:
            v[c].i = INT64_C(1780000000000000) + (int64_t)r * 997;
            break;
        case PQ_STRING: {
            /* now and then a string longer than a chunk's text, and empty ones */
            size_t len = i % 997 == 5 && c == 0 ? (size_t)700 << 10 : r % 5 == 0 ? 0 : r % 60;
            assert_true(used + len <= cap);
            for (size_t k = 0; k < len; k++)
                text[used + k] = (char)('a' + (k * 7 + r) % 26);
            v[c].s = text + used;
            v[c].len = len;
            used += len;
            break;
        }
        }
    }
#undef NEXT
    return t;
}

static void write_straight(outputs *o, char *text, size_t cap)
{
    errinfo err = {0};
    tables_value v[EV_NCOLS];
    for (unsigned i = 0; i < NROWS; i++) {
        table_id t = make_row(i, v, text, cap);
        assert_int_equal(tables_write_row(o->w[t], t, v, &err), ST_OK);
    }
}

static void write_chunk(rowchunk *c, outputs *o, int by_group)
{
    errinfo err = {0};
    if (!by_group) {
        assert_int_equal(rowchunk_write(c, o->w, ROWCHUNK_ALL_GROUPS, &err), ST_OK);
    } else {
        /* the second group first: the groups do not depend on each other */
        for (int g = ROWCHUNK_GROUPS - 1; g >= 0; g--)
            assert_int_equal(rowchunk_write(c, o->w, g, &err), ST_OK);
    }
    rowchunk_clear(c);
}

/* Returns how many times the chunk went out. */
static int write_chunked(outputs *o, char *text, size_t cap, int by_group)
{
    rowchunk c = {0};
    errinfo err = {0};
    tables_value v[EV_NCOLS];
    int writes = 0;
    assert_false(rowchunk_full(&c, (size_t)1 << 30));
    for (unsigned i = 0; i < NROWS; i++) {
        table_id t = make_row(i, v, text, cap);
        size_t bytes;
        assert_int_equal(rowchunk_measure(t, v, &bytes, &err), ST_OK);
        if (rowchunk_full(&c, bytes)) {
            errinfo due = {0};
            size_t had = c.nrows;
            assert_int_equal(rowchunk_add(&c, t, v, bytes, &due), ST_INTERNAL);
            assert_int_equal(c.nrows, had);
            write_chunk(&c, o, by_group);
            writes++;
            assert_false(rowchunk_full(&c, bytes));
        }
        assert_int_equal(rowchunk_add(&c, t, v, bytes, &err), ST_OK);
    }
    write_chunk(&c, o, by_group);
    rowchunk_dispose(&c);
    assert_null(c.vals);
    return writes + 1;
}

static void test_rowchunk__same_bytes_as_straight(void **state)
{
    (void)state;
    size_t cap = (size_t)2 << 20;
    char *text = malloc(cap);
    assert_non_null(text);
    outputs want, whole, grouped;
    outputs_open(&want);
    write_straight(&want, text, cap);
    outputs_close(&want);
    outputs_open(&whole);
    int n1 = write_chunked(&whole, text, cap, 0);
    outputs_close(&whole);
    outputs_open(&grouped);
    int n2 = write_chunked(&grouped, text, cap, 1);
    outputs_close(&grouped);
    /* the rows filled several chunks */
    assert_true(n1 > 3);
    assert_int_equal(n1, n2);
    for (int t = 0; t < TBL_COUNT; t++) {
        assert_true(want.file[t].len > 100);
        assert_int_equal(whole.file[t].len, want.file[t].len);
        assert_memory_equal(whole.file[t].data, want.file[t].data, want.file[t].len);
        assert_int_equal(grouped.file[t].len, want.file[t].len);
        assert_memory_equal(grouped.file[t].data, want.file[t].data, want.file[t].len);
    }
    outputs_dispose(&want);
    outputs_dispose(&whole);
    outputs_dispose(&grouped);
    free(text);
}

static void test_rowchunk__text_too_long_is_refused(void **state)
{
    (void)state;
    tables_value v[REC_NCOLS];
    memset(v, 0, sizeof v);
    for (size_t c = 0; c < REC_NCOLS; c++)
        v[c].null = 1;
    /* the length alone is read: no text behind it */
    v[REC_RECORD_KEY] = (tables_value){0, 0, "", (size_t)UINT32_MAX};
    size_t bytes = 0;
    errinfo err = {0};
    assert_int_equal(rowchunk_measure(TBL_RECORDS, v, &bytes, &err), ST_DATA);
    assert_non_null(strstr(err.msg, "attendance_records"));
    v[REC_RECORD_KEY].len = 3;
    v[REC_RECORD_KEY].s = "abc";
    assert_int_equal(rowchunk_measure(TBL_RECORDS, v, &bytes, &err), ST_OK);
    assert_int_equal(bytes, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rowchunk__same_bytes_as_straight),
        cmocka_unit_test(test_rowchunk__text_too_long_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

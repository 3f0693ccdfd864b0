/* Parquet reader: round trips through pq_writer (every codec, INT96, dictionaries
 * and PLAIN pages, many row groups and pages, column selection), then malformed
 * files: truncations, every byte flipped in a small file, and hand-broken footers,
 * each of which must be an error that names the file, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "parquet/pq.h"
#include "parquet/reader.h"
#include "util/buf.h"

static status mem_sink(void *ctx, const void *data, size_t len, errinfo *err)
{
    return buf_append(ctx, data, len, err);
}

static const pq_column cols[] = {
    {"id", PQ_STRING, 1},    {"n32", PQ_INT32, 0},    {"n64", PQ_INT64, 0},
    {"flag", PQ_BOOLEAN, 0}, {"at", PQ_TIMESTAMP, 0}, {"text", PQ_STRING, 0},
};
#define NCOLS (sizeof cols / sizeof cols[0])

/* The value of row r, column c, as the writer gets it (deterministic). */
static int cell_null(size_t r, size_t c)
{
    return c > 0 && (r * 7 + c * 3) % 5 == 0;
}

static int64_t cell_int(size_t r, size_t c)
{
    switch (c) {
    case 1:
        return (int32_t)(r * 2654435761u) - (int32_t)r;
    case 2:
        return (int64_t)r * INT64_C(1000003) - INT64_C(5000000000);
    case 3:
        return (r / 3) % 2;
    case 4:
        return INT64_C(1780000000000000) + (int64_t)r * 1000001 - (r % 2 ? INT64_C(5) : 0);
    }
    return 0;
}

static void cell_str(size_t r, size_t c, char *out, size_t n)
{
    if (c == 0)
        snprintf(out, n, "key-%06zu", r);
    else /* few distinct values: dictionary encoded */
        snprintf(out, n, "%s-%zu", r % 3 ? "text" : "", r % 11);
}

static void write_file(buf *b, size_t rows, pq_codec codec, int int96, size_t rg_rows,
                       size_t page_bytes)
{
    pq_options o = {.codec = codec,
                    .int96_timestamps = int96,
                    .row_group_rows = rg_rows,
                    .page_bytes = page_bytes};
    pq_writer *w;
    errinfo err = {0};
    buf_init(b, 0);
    assert_int_equal(pq_writer_open(&w, cols, NCOLS, &o, mem_sink, b, &err), ST_OK);
    char s[64];
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < NCOLS; c++) {
            status st;
            if (cell_null(r, c))
                st = pq_writer_null(w, &err);
            else if (cols[c].type == PQ_STRING) {
                cell_str(r, c, s, sizeof s);
                st = pq_writer_string(w, s, strlen(s), &err);
            } else if (cols[c].type == PQ_INT32)
                st = pq_writer_i32(w, (int32_t)cell_int(r, c), &err);
            else if (cols[c].type == PQ_INT64)
                st = pq_writer_i64(w, cell_int(r, c), &err);
            else if (cols[c].type == PQ_BOOLEAN)
                st = pq_writer_bool(w, (int)cell_int(r, c), &err);
            else
                st = pq_writer_timestamp(w, cell_int(r, c), &err);
            assert_int_equal(st, ST_OK);
        }
        assert_int_equal(pq_writer_end_row(w, &err), ST_OK);
    }
    assert_int_equal(pq_writer_close(w, &err), ST_OK);
    pq_writer_free(w);
}

/* Reads every row back and compares each value with what was written. */
static void check_file(const buf *b, size_t rows, const unsigned char *want)
{
    pq_reader *r;
    errinfo err = {0};
    assert_int_equal(pq_reader_open_mem(&r, b->data, b->len, "t.parquet", &err), ST_OK);
    assert_int_equal(pq_reader_ncols(r), NCOLS);
    for (size_t c = 0; c < NCOLS; c++) {
        const pq_column *pc = pq_reader_column(r, c);
        assert_string_equal(pc->name, cols[c].name);
        assert_int_equal(pc->type, cols[c].type);
        assert_int_equal(pc->required, cols[c].required);
    }
    assert_int_equal(pq_reader_rows(r), rows);
    if (want)
        pq_reader_select(r, want);
    pq_value v[NCOLS];
    char s[64];
    size_t n = 0;
    for (;;) {
        int got;
        assert_int_equal(pq_reader_next(r, v, &got, &err), ST_OK);
        if (!got)
            break;
        for (size_t c = 0; c < NCOLS; c++) {
            if (want && !want[c]) {
                assert_true(v[c].null);
                continue;
            }
            assert_int_equal(v[c].null, cell_null(n, c));
            if (v[c].null)
                continue;
            if (cols[c].type == PQ_STRING) {
                cell_str(n, c, s, sizeof s);
                assert_int_equal(v[c].len, strlen(s));
                assert_memory_equal(v[c].s, s, v[c].len);
            } else {
                assert_int_equal(v[c].i, cell_int(n, c));
            }
        }
        n++;
    }
    assert_int_equal(n, rows);
    int got;
    assert_int_equal(pq_reader_next(r, v, &got, &err), ST_OK); /* the end stays the end */
    assert_int_equal(got, 0);
    pq_reader_free(r);
}

static void test_pq_reader__roundtrip_every_codec(void **state)
{
    (void)state;
    pq_codec codecs[] = {PQ_CODEC_NONE, PQ_CODEC_SNAPPY, PQ_CODEC_ZSTD};
    for (size_t i = 0; i < 3; i++) {
        buf b;
        write_file(&b, 5000, codecs[i], 0, 1500, 4096); /* 4 row groups, many pages */
        check_file(&b, 5000, NULL);
        buf_dispose(&b);
    }
}

static void test_pq_reader__roundtrip_int96(void **state)
{
    (void)state;
    buf b;
    write_file(&b, 777, PQ_CODEC_SNAPPY, 1, 0, 0);
    check_file(&b, 777, NULL);
    buf_dispose(&b);
}

static void test_pq_reader__empty_file(void **state)
{
    (void)state;
    buf b;
    write_file(&b, 0, PQ_CODEC_SNAPPY, 0, 0, 0);
    check_file(&b, 0, NULL);
    buf_dispose(&b);
}

static void test_pq_reader__select_columns(void **state)
{
    (void)state;
    buf b;
    write_file(&b, 3000, PQ_CODEC_ZSTD, 0, 1000, 2048);
    const unsigned char want[NCOLS] = {1, 0, 0, 1, 1, 0};
    check_file(&b, 3000, want);
    buf_dispose(&b);
}

static void test_pq_reader__from_a_file(void **state)
{
    (void)state;
    buf b;
    write_file(&b, 2500, PQ_CODEC_SNAPPY, 0, 1000, 0);
    char path[] = "/tmp/test_pq_reader-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);
    pq_reader *r;
    errinfo err = {0};
    assert_int_equal(pq_reader_open(&r, path, "on disk", &err), ST_OK);
    pq_value v[NCOLS];
    size_t n = 0;
    int got = 1;
    while (got) {
        assert_int_equal(pq_reader_next(r, v, &got, &err), ST_OK);
        n += (size_t)got;
    }
    assert_int_equal(n, 2500);
    assert_int_equal(pq_reader_row_groups(r), 3);
    assert_int_equal(pq_reader_find(r, "flag"), 3);
    assert_int_equal(pq_reader_find(r, "nope"), -1);
    pq_reader_free(r);
    unlink(path);
    /* a missing file names itself */
    err = (errinfo){0};
    assert_int_equal(pq_reader_open(&r, path, "gone.parquet", &err), ST_IO);
    assert_non_null(strstr(err.msg, "gone.parquet"));
    buf_dispose(&b);
}

/* Opens and reads everything; returns the first error (ST_OK when it all read). */
static status read_all(const void *p, size_t n, errinfo *err)
{
    pq_reader *r;
    status st = pq_reader_open_mem(&r, p, n, "bad.parquet", err);
    if (st != ST_OK)
        return st;
    pq_value *v = calloc(pq_reader_ncols(r), sizeof *v);
    int got = 1;
    while (st == ST_OK && got)
        st = pq_reader_next(r, v, &got, err);
    if (st != ST_OK) { /* the error repeats */
        errinfo e2 = {0};
        assert_int_equal(pq_reader_next(r, v, &got, &e2), st);
        assert_string_equal(e2.msg, err->msg);
    }
    free(v);
    pq_reader_free(r);
    return st;
}

static void test_pq_reader__truncated(void **state)
{
    (void)state;
    buf b;
    write_file(&b, 300, PQ_CODEC_SNAPPY, 0, 100, 512);
    for (size_t n = 0; n < b.len; n += (n < 64 ? 1 : 7)) {
        errinfo err = {0};
        assert_int_not_equal(read_all(b.data, n, &err), ST_OK);
        assert_non_null(strstr(err.msg, "bad.parquet"));
    }
    buf_dispose(&b);
}

/* Every byte of a small file flipped, one at a time: an error or a file that still
 * reads (a flipped value byte), never a crash (ASan and UBSan builds watch). */
static void test_pq_reader__every_byte_flipped(void **state)
{
    (void)state;
    pq_codec codecs[] = {PQ_CODEC_NONE, PQ_CODEC_SNAPPY, PQ_CODEC_ZSTD};
    for (size_t k = 0; k < 3; k++) {
        buf b;
        write_file(&b, 60, codecs[k], k == 2, 25, 128);
        char *copy = malloc(b.len);
        int errors = 0;
        for (size_t i = 0; i < b.len; i++) {
            for (int x = 0; x < 2; x++) {
                memcpy(copy, b.data, b.len);
                copy[i] = (char)(x ? copy[i] ^ 0xff : copy[i] + 1);
                errinfo err = {0};
                if (read_all(copy, b.len, &err) != ST_OK) {
                    errors++;
                    assert_non_null(strstr(err.msg, "bad.parquet"));
                }
            }
        }
        assert_true(errors > 0);
        free(copy);
        buf_dispose(&b);
    }
}

static void test_pq_reader__not_parquet(void **state)
{
    (void)state;
    errinfo err = {0};
    assert_int_equal(read_all("PAR1xxxxxxxxPAR1", 16, &err), ST_DATA);
    err = (errinfo){0};
    assert_int_equal(read_all("hello, world, not a file", 24, &err), ST_DATA);
    assert_non_null(strstr(err.msg, "not a Parquet file"));
    /* a footer length larger than the file */
    static const unsigned char big[] = {'P',  'A',  'R', '1', 0,   0,   0,   0,
                                        0xff, 0xff, 0,   0,   'P', 'A', 'R', '1'};
    err = (errinfo){0};
    assert_int_equal(read_all(big, sizeof big, &err), ST_DATA);
    assert_non_null(strstr(err.msg, "footer length"));
}

/* A footer whose schema nests deeper than any table: structs inside structs until
 * the decoder's depth limit refuses them. */
static void test_pq_reader__deep_footer(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(buf_append(&b, "PAR1", 4, &err), ST_OK);
    size_t start = b.len;
    for (int i = 0; i < 5000; i++) /* field 1, type struct: 0x1c */
        assert_int_equal(buf_append(&b, "\x1c", 1, &err), ST_OK);
    uint32_t flen = (uint32_t)(b.len - start);
    assert_int_equal(buf_append(&b, &flen, 4, &err), ST_OK);
    assert_int_equal(buf_append(&b, "PAR1", 4, &err), ST_OK);
    assert_int_equal(read_all(b.data, b.len, &err), ST_DATA);
    assert_non_null(strstr(err.msg, "footer"));
    buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pq_reader__roundtrip_every_codec),
        cmocka_unit_test(test_pq_reader__roundtrip_int96),
        cmocka_unit_test(test_pq_reader__empty_file),
        cmocka_unit_test(test_pq_reader__select_columns),
        cmocka_unit_test(test_pq_reader__from_a_file),
        cmocka_unit_test(test_pq_reader__truncated),
        cmocka_unit_test(test_pq_reader__every_byte_flipped),
        cmocka_unit_test(test_pq_reader__not_parquet),
        cmocka_unit_test(test_pq_reader__deep_footer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

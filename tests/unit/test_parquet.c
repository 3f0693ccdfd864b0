/* Parquet writer: RLE/bit-packed hybrid vectors derived by hand from Encodings.md, the
 * dictionary decision, writer state errors, a footer byte for byte, and round trips
 * through the small independent reader in tests/tools/pq_mini_reader.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../tools/pq_mini_reader.h"
#include "parquet/dict.h"
#include "parquet/encode.h"
#include "parquet/pq.h"

/* ---- memory sink ---- */

typedef struct memsink {
    buf b;
    int fail_after; /* > 0: the nth call fails */
    int calls;
} memsink;

static status mem_sink(void *ctx, const void *data, size_t len, errinfo *err)
{
    memsink *m = ctx;
    if (m->fail_after && ++m->calls >= m->fail_after)
        return err_set(err, ST_IO, "disk full (test)");
    return buf_append(&m->b, data, len, err);
}

/* ---- RLE/bit-packed hybrid ---- */

static void expect_rle8(const uint8_t *v, size_t n, int width, const uint8_t *want, size_t wn)
{
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(pq_rle_encode_u8(&b, v, n, width, &err), ST_OK);
    assert_int_equal(b.len, wn);
    assert_memory_equal(b.data, want, wn);
    buf_dispose(&b);
}

static void test_parquet__rle_run(void **state)
{
    (void)state;
    /* 8 zeros, width 1: RLE run header varint(8 << 1) = 0x10, value in 1 byte. */
    static const uint8_t v[8] = {0};
    static const uint8_t want[] = {0x10, 0x00};
    expect_rle8(v, 8, 1, want, sizeof want);
}

static void test_parquet__rle_bit_packed_group(void **state)
{
    (void)state;
    /* 1,0,1,1,0,0,0,1 at width 1: one group, header (1 << 1) | 1 = 0x03, bits LSB first:
     * 0b10001101 = 0x8d. */
    static const uint8_t v[] = {1, 0, 1, 1, 0, 0, 0, 1};
    static const uint8_t want[] = {0x03, 0x8d};
    expect_rle8(v, 8, 1, want, sizeof want);
}

static void test_parquet__rle_spec_example_width3(void **state)
{
    (void)state;
    /* Encodings.md: 0..7 bit-packed at width 3 -> 10001000 11000110 11111010. */
    static const uint8_t v[] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const uint8_t want[] = {0x03, 0x88, 0xc6, 0xfa};
    expect_rle8(v, 8, 3, want, sizeof want);
}

static void test_parquet__rle_short_run_stays_packed(void **state)
{
    (void)state;
    /* 0,1,0 then ten 1s: the run is too short to pay once the first group is completed
     * from it, so all 13 go bit-packed in 2 groups (header 0x05), the last padded with 0:
     * [0,1,0,1,1,1,1,1] = 0xfa, [1,1,1,1,1,0,0,0] = 0x1f. */
    uint8_t v[13] = {0, 1, 0};
    for (int i = 3; i < 13; i++)
        v[i] = 1;
    static const uint8_t want[] = {0x05, 0xfa, 0x1f};
    expect_rle8(v, 13, 1, want, sizeof want);
}

static void test_parquet__rle_packed_then_run(void **state)
{
    (void)state;
    /* 0,1,0 then twenty 1s: the first 5 ones complete a packed group (0x03 0xfa), the other
     * 15 are an RLE run: header 15 << 1 = 0x1e, value 0x01. */
    uint8_t v[23] = {0, 1, 0};
    for (int i = 3; i < 23; i++)
        v[i] = 1;
    static const uint8_t want[] = {0x03, 0xfa, 0x1e, 0x01};
    expect_rle8(v, 23, 1, want, sizeof want);
}

static void test_parquet__rle_wide_values(void **state)
{
    (void)state;
    /* Width 20: an RLE value takes ceil(20/8) = 3 bytes, little endian. 200 copies: header
     * varint(400) = 0x90 0x03. */
    uint32_t v[200];
    for (int i = 0; i < 200; i++)
        v[i] = 0x12345;
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(pq_rle_encode_u32(&b, v, 200, 20, &err), ST_OK);
    static const uint8_t want[] = {0x90, 0x03, 0x45, 0x23, 0x01};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    buf_dispose(&b);
}

static void test_parquet__rle_random_roundtrip(void **state)
{
    (void)state;
    /* Random vectors with runs of random length decode back (independent decoder). */
    srand(12345);
    for (int iter = 0; iter < 300; iter++) {
        int width = rand() % 33;
        size_t n = (size_t)(rand() % 700);
        uint32_t *v = malloc((n + 1) * sizeof *v), *back = malloc((n + 1) * sizeof *back);
        assert_non_null(v);
        assert_non_null(back);
        uint64_t mask = width == 32 ? 0xffffffffu : (UINT64_C(1) << width) - 1;
        for (size_t i = 0; i < n;) {
            uint32_t x = (uint32_t)(((uint64_t)rand() << 16 ^ (uint64_t)rand()) & mask);
            size_t run = (size_t)(rand() % 4 == 0 ? rand() % 40 : 1) + 1;
            for (size_t k = 0; k < run && i < n; k++)
                v[i++] = x;
        }
        buf b;
        buf_init(&b, 0);
        errinfo err = {0};
        assert_int_equal(pq_rle_encode_u32(&b, v, n, width, &err), ST_OK);
        assert_int_equal(mr_hybrid((const uint8_t *)b.data, b.len, width, n, back), 0);
        assert_memory_equal(v, back, n * sizeof *v);
        buf_dispose(&b);
        free(v);
        free(back);
    }
}

static void test_parquet__plain_bools(void **state)
{
    (void)state;
    static const uint8_t v[] = {1, 0, 1, 1, 0, 0, 0, 1, 1};
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(pq_plain_bools(&b, v, 9, &err), ST_OK);
    static const uint8_t want[] = {0x8d, 0x01};
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, want, 2);
    buf_dispose(&b);
}

/* ---- dictionary ---- */

static void test_parquet__dict_decision(void **state)
{
    (void)state;
    /* 1000 values, 5 distinct strings of ~10 bytes: dictionary. */
    assert_true(pq_dict_worth(1000, 5, 70, 14000));
    /* More than half distinct: PLAIN. */
    assert_false(pq_dict_worth(1000, 501, 5000, 14000));
    /* A dictionary past 1 MiB: PLAIN, however much the values repeat. */
    assert_false(pq_dict_worth(1000000, 1000, PQ_DICT_MAX_BYTES + 1, 100000000));
    /* No values: nothing to encode. */
    assert_false(pq_dict_worth(0, 0, 0, 0));
    /* Repeats, but dictionary + indices (8 + 100*1 bits) are no smaller than PLAIN. */
    assert_false(pq_dict_worth(100, 2, 8, 20));
    /* 4-byte ints, 100 rows, 50 distinct: 200 + 75 + 1 >= 400? no: 276 < 400 -> yes. */
    assert_true(pq_dict_worth(100, 50, 200, 400));
}

static void test_parquet__dict_hopeless(void **state)
{
    (void)state;
    /* Too early to tell, however distinct. */
    assert_false(pq_dict_hopeless(PQ_DICT_PROBE - 1, PQ_DICT_PROBE - 1));
    /* All distinct at the probe (ids, timestamps): given up. */
    assert_true(pq_dict_hopeless(PQ_DICT_PROBE, PQ_DICT_PROBE));
    /* Five eighths distinct is still kept, one more is not. */
    assert_false(pq_dict_hopeless(8192, 5120));
    assert_true(pq_dict_hopeless(8192, 5121));
    /* Names of a few thousand people among 87,000 records: kept. */
    assert_false(pq_dict_hopeless(4096, 841));
}

static void test_parquet__dict_index_width(void **state)
{
    (void)state;
    assert_int_equal(pq_dict_index_width(1), 1);
    assert_int_equal(pq_dict_index_width(2), 1);
    assert_int_equal(pq_dict_index_width(3), 2);
    assert_int_equal(pq_dict_index_width(256), 8);
    assert_int_equal(pq_dict_index_width(257), 9);
    assert_int_equal(pq_bit_width(0), 0);
    assert_int_equal(pq_bit_width(UINT32_MAX), 32);
}

static void test_parquet__dict_insert(void **state)
{
    (void)state;
    pq_dict d;
    pq_dict_init(&d);
    errinfo err = {0};
    /* Keys are offsets into a buffer: 5000 distinct 4-byte keys, each inserted twice. */
    uint32_t keys[5000];
    for (uint32_t i = 0; i < 5000; i++)
        keys[i] = i * 2654435761u;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < 5000; i++) {
            uint32_t idx;
            assert_int_equal(pq_dict_insert(&d, (const uint8_t *)keys, i * 4, 4, &idx, &err),
                             ST_OK);
            assert_int_equal(idx, i);
        }
    }
    assert_int_equal(d.n, 5000);
    pq_dict_reset(&d);
    assert_int_equal(d.n, 0);
    uint32_t idx;
    assert_int_equal(pq_dict_insert(&d, (const uint8_t *)keys, 8, 4, &idx, &err), ST_OK);
    assert_int_equal(idx, 0);
    pq_dict_dispose(&d);
}

static void test_parquet__codec_parse(void **state)
{
    (void)state;
    pq_codec c;
    assert_int_equal(pq_codec_parse("snappy", &c), 0);
    assert_int_equal(c, PQ_CODEC_SNAPPY);
    assert_int_equal(pq_codec_parse("zstd", &c), 0);
    assert_int_equal(c, PQ_CODEC_ZSTD);
    assert_int_equal(pq_codec_parse("none", &c), 0);
    assert_int_equal(c, PQ_CODEC_NONE);
    assert_int_not_equal(pq_codec_parse("gzip", &c), 0);
    assert_int_not_equal(pq_codec_parse("", &c), 0);
    assert_int_not_equal(pq_codec_parse(NULL, &c), 0);
}

/* ---- writer state errors ---- */

static const pq_column TWO[] = {{"id", PQ_INT32, 1}, {"name", PQ_STRING, 0}};

typedef struct wfix {
    memsink sink;
    pq_writer *w;
    errinfo err;
} wfix;

static int wsetup(void **state)
{
    wfix *f = calloc(1, sizeof *f);
    buf_init(&f->sink.b, 0);
    assert_int_equal(pq_writer_open(&f->w, TWO, 2, NULL, mem_sink, &f->sink, &f->err), ST_OK);
    *state = f;
    return 0;
}

static int wteardown(void **state)
{
    wfix *f = *state;
    pq_writer_free(f->w);
    buf_dispose(&f->sink.b);
    free(f);
    return 0;
}

static void test_parquet__null_in_required_column(void **state)
{
    wfix *f = *state;
    assert_int_equal(pq_writer_null(f->w, &f->err), ST_DATA);
    assert_non_null(strstr(f->err.msg, "'id'"));
    assert_non_null(strstr(f->err.msg, "REQUIRED"));
    /* The failed call changed nothing: the row can still be completed. */
    errinfo e2 = {0};
    assert_int_equal(pq_writer_i32(f->w, 1, &e2), ST_OK);
    assert_int_equal(pq_writer_null(f->w, &e2), ST_OK);
    assert_int_equal(pq_writer_end_row(f->w, &e2), ST_OK);
    assert_int_equal(pq_writer_rows(f->w), 1);
}

static void test_parquet__too_many_values(void **state)
{
    wfix *f = *state;
    assert_int_equal(pq_writer_i32(f->w, 1, &f->err), ST_OK);
    assert_int_equal(pq_writer_string(f->w, "a", 1, &f->err), ST_OK);
    assert_int_equal(pq_writer_i32(f->w, 2, &f->err), ST_INTERNAL);
    assert_non_null(strstr(f->err.msg, "too many values"));
}

static void test_parquet__end_row_before_all_columns(void **state)
{
    wfix *f = *state;
    assert_int_equal(pq_writer_i32(f->w, 1, &f->err), ST_OK);
    assert_int_equal(pq_writer_end_row(f->w, &f->err), ST_INTERNAL);
    assert_non_null(strstr(f->err.msg, "1 of 2 columns"));
    assert_non_null(strstr(f->err.msg, "'name'"));
    assert_int_equal(pq_writer_rows(f->w), 0);
}

static void test_parquet__wrong_type(void **state)
{
    wfix *f = *state;
    assert_int_equal(pq_writer_i64(f->w, 1, &f->err), ST_INTERNAL);
    assert_non_null(strstr(f->err.msg, "'id' is INT32, got a INT64"));
}

static void test_parquet__close_mid_row(void **state)
{
    wfix *f = *state;
    assert_int_equal(pq_writer_i32(f->w, 1, &f->err), ST_OK);
    assert_int_equal(pq_writer_close(f->w, &f->err), ST_INTERNAL);
    assert_non_null(strstr(f->err.msg, "middle of row 0"));
}

static void test_parquet__use_after_close(void **state)
{
    wfix *f = *state;
    assert_int_equal(pq_writer_close(f->w, &f->err), ST_OK);
    assert_int_equal(pq_writer_i32(f->w, 1, &f->err), ST_INTERNAL);
    assert_non_null(strstr(f->err.msg, "closed"));
    errinfo e2 = {0};
    assert_int_equal(pq_writer_close(f->w, &e2), ST_INTERNAL);
}

static void test_parquet__invalid_utf8(void **state)
{
    wfix *f = *state;
    assert_int_equal(pq_writer_i32(f->w, 1, &f->err), ST_OK);
    static const char *bad[] = {"\xff",         "ab\xc3",           "\xc0\xaf",
                                "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errinfo e = {0};
        assert_int_equal(pq_writer_string(f->w, bad[i], strlen(bad[i]), &e), ST_DATA);
        assert_non_null(strstr(e.msg, "UTF-8"));
    }
    errinfo e = {0};
    assert_int_equal(pq_writer_string(f->w, "\xf0\x9f\x98\x80 ok", 7, &e), ST_OK);
}

static void test_parquet__sink_failure(void **state)
{
    (void)state;
    memsink m = {0};
    buf_init(&m.b, 0);
    m.fail_after = 2; /* the magic goes through, the first page does not */
    pq_writer *w = NULL;
    errinfo err = {0};
    pq_options o = {0};
    o.row_group_rows = 1;
    assert_int_equal(pq_writer_open(&w, TWO, 2, &o, mem_sink, &m, &err), ST_OK);
    assert_int_equal(pq_writer_i32(w, 1, &err), ST_OK);
    assert_int_equal(pq_writer_null(w, &err), ST_OK);
    assert_int_equal(pq_writer_end_row(w, &err), ST_IO);
    assert_non_null(strstr(err.msg, "disk full"));
    errinfo e2 = {0};
    assert_int_equal(pq_writer_i32(w, 1, &e2), ST_INTERNAL);
    assert_non_null(strstr(e2.msg, "failed earlier"));
    pq_writer_free(w);
    buf_dispose(&m.b);
}

static void test_parquet__open_errors(void **state)
{
    (void)state;
    pq_writer *w = (pq_writer *)1;
    errinfo err = {0};
    memsink m = {0};
    assert_int_equal(pq_writer_open(&w, TWO, 0, NULL, mem_sink, &m, &err), ST_INTERNAL);
    assert_null(w);
    static const pq_column noname[] = {{"", PQ_INT32, 1}};
    errinfo e2 = {0};
    assert_int_equal(pq_writer_open(&w, noname, 1, NULL, mem_sink, &m, &e2), ST_INTERNAL);
    errinfo e3 = {0};
    assert_int_equal(pq_writer_open(&w, TWO, 2, NULL, NULL, NULL, &e3), ST_INTERNAL);
    pq_writer_free(NULL);
}

/* ---- whole files ---- */

static void test_parquet__empty_file_footer_bytes(void **state)
{
    (void)state;
    /* One REQUIRED INT32 column "a", no rows, created_by "x". FileMetaData by hand:
     *  1 version i32 1                     15 02
     *  2 schema list<struct> of 2          19 2c
     *    root: 4 name "schema", 5 num_children 1      48 06 "schema" 15 02 00
     *    leaf: 1 type INT32, 3 REQUIRED, 4 name "a", 6 INT_32 (17 -> 34),
     *          10 logicalType { 10 INTEGER { 1 bitWidth i8 32, 2 isSigned true } }
     *          15 02 25 00 18 01 'a' 25 22 4c ac 13 20 11 00 00 00
     *  3 num_rows i64 0                    16 00
     *  4 row_groups list<struct> of 0      19 0c
     *  6 created_by "x"                    28 01 'x'
     *  7 column_orders list of 1 { 1 TYPE_ORDER {} }   19 1c 1c 00 00
     *  stop                                00 */
    static const uint8_t footer[] = {
        0x15, 0x02, 0x19, 0x2c, 0x48, 0x06, 's',  'c',  'h',  'e',  'm',  'a',  0x15, 0x02, 0x00,
        0x15, 0x02, 0x25, 0x00, 0x18, 0x01, 'a',  0x25, 0x22, 0x4c, 0xac, 0x13, 0x20, 0x11, 0x00,
        0x00, 0x00, 0x16, 0x00, 0x19, 0x0c, 0x28, 0x01, 'x',  0x19, 0x1c, 0x1c, 0x00, 0x00, 0x00};
    static const pq_column one[] = {{"a", PQ_INT32, 1}};
    memsink m = {0};
    buf_init(&m.b, 0);
    pq_options o = {0};
    o.created_by = "x";
    pq_writer *w = NULL;
    errinfo err = {0};
    assert_int_equal(pq_writer_open(&w, one, 1, &o, mem_sink, &m, &err), ST_OK);
    assert_int_equal(pq_writer_close(w, &err), ST_OK);
    pq_writer_free(w);
    size_t n = sizeof footer;
    assert_int_equal(m.b.len, 4 + n + 8);
    assert_memory_equal(m.b.data, "PAR1", 4);
    assert_memory_equal(m.b.data + 4, footer, n);
    uint8_t tail[8] = {(uint8_t)n, 0, 0, 0, 'P', 'A', 'R', '1'};
    assert_memory_equal(m.b.data + 4 + n, tail, 8);
    buf_dispose(&m.b);
}

static const pq_column ALL[] = {
    {"id", PQ_INT64, 1},     {"s", PQ_STRING, 0},  {"cat", PQ_STRING, 1}, {"i", PQ_INT32, 0},
    {"ts", PQ_TIMESTAMP, 0}, {"b", PQ_BOOLEAN, 0}, {"u", PQ_INT32, 1},
};
#define NALL (sizeof ALL / sizeof ALL[0])

static const char *CATS[] = {"red", "green", "blue", "ünïcödé"};

/* Row r of the reference table; the string goes into sbuf. */
static void cell(size_t r, size_t c, int *null, int64_t *iv, char *sbuf, size_t *slen)
{
    *null = 0;
    *slen = 0;
    switch (c) {
    case 0:
        *iv = (int64_t)r * 7919 - 100000;
        break;
    case 1:
        *null = r % 5 == 3;
        *slen = (size_t)snprintf(sbuf, 64, "row-%zu-%s", r, r % 2 ? "é" : "x");
        break;
    case 2:
        *slen = strlen(CATS[r % 4]);
        memcpy(sbuf, CATS[r % 4], *slen);
        break;
    case 3:
        *null = r % 3 == 0;
        *iv = (int64_t)(r % 10) - 5;
        break;
    case 4:
        *null = r % 11 == 0;
        *iv = (int64_t)r * 86400000123 - INT64_C(5000000000000000);
        break;
    case 5:
        *null = r % 7 == 0;
        *iv = r % 3 == 0;
        break;
    default:
        *iv = (int32_t)(r * 2654435761u);
        break;
    }
}

static void write_table(pq_writer *w, size_t nrows)
{
    errinfo err = {0};
    char s[64];
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < NALL; c++) {
            int null;
            int64_t iv = 0;
            size_t sl;
            cell(r, c, &null, &iv, s, &sl);
            status st;
            if (null)
                st = pq_writer_null(w, &err);
            else if (ALL[c].type == PQ_INT64)
                st = pq_writer_i64(w, iv, &err);
            else if (ALL[c].type == PQ_INT32)
                st = pq_writer_i32(w, (int32_t)iv, &err);
            else if (ALL[c].type == PQ_TIMESTAMP)
                st = pq_writer_timestamp(w, iv, &err);
            else if (ALL[c].type == PQ_BOOLEAN)
                st = pq_writer_bool(w, (int)iv, &err);
            else
                st = pq_writer_string(w, s, sl, &err);
            assert_int_equal(st, ST_OK);
        }
        assert_int_equal(pq_writer_end_row(w, &err), ST_OK);
    }
}

static void check_table(const mr_file *f, size_t nrows)
{
    assert_int_equal(f->ncols, NALL);
    assert_int_equal(f->num_rows, (int64_t)nrows);
    char s[64];
    for (size_t c = 0; c < NALL; c++) {
        const mr_column *col = &f->cols[c];
        assert_string_equal(col->name, ALL[c].name);
        assert_int_equal(col->required, ALL[c].required);
        assert_int_equal(col->n, nrows);
        for (size_t r = 0; r < nrows; r++) {
            int null;
            int64_t iv = 0;
            size_t sl;
            cell(r, c, &null, &iv, s, &sl);
            const mr_value *v = &col->v[r];
            assert_int_equal(v->null, null);
            if (null)
                continue;
            if (ALL[c].type == PQ_STRING) {
                assert_int_equal(v->len, sl);
                assert_memory_equal(col->arena + v->off, s, sl);
            } else {
                assert_int_equal(v->i, iv);
            }
        }
    }
}

static void roundtrip(pq_codec codec, int int96, size_t nrows, size_t rg_rows, size_t page,
                      size_t *nrowgroups, mr_file *out)
{
    memsink m = {0};
    buf_init(&m.b, 0);
    pq_options o = {0};
    o.codec = codec;
    o.int96_timestamps = int96;
    o.row_group_rows = rg_rows;
    o.page_bytes = page;
    pq_writer *w = NULL;
    errinfo err = {0};
    assert_int_equal(pq_writer_open(&w, ALL, NALL, &o, mem_sink, &m, &err), ST_OK);
    write_table(w, nrows);
    assert_int_equal(pq_writer_close(w, &err), ST_OK);
    assert_int_equal(pq_writer_rows(w), nrows);
    pq_writer_free(w);
    int rc = mr_read((const uint8_t *)m.b.data, m.b.len, out);
    if (rc != 0)
        fail_msg("reader: %s", out->why);
    *nrowgroups = out->nrowgroups;
    check_table(out, nrows);
    buf_dispose(&m.b);
}

static void test_parquet__roundtrip_every_codec(void **state)
{
    (void)state;
    pq_codec codecs[] = {PQ_CODEC_NONE, PQ_CODEC_SNAPPY, PQ_CODEC_ZSTD};
    for (size_t k = 0; k < 3; k++) {
        mr_file f;
        size_t groups;
        roundtrip(codecs[k], 0, 5000, 1200, 2048, &groups, &f);
        assert_int_equal(groups, 5);
        assert_string_equal(f.created_by, "teams-attendance version " TA_VERSION);
        assert_int_equal(f.ncolumn_orders, NALL);
        /* cat has 4 distinct values: dictionary; u and id are unique: PLAIN. */
        assert_true(f.cols[2].saw_dict);
        assert_true(f.cols[3].saw_dict);
        assert_false(f.cols[0].saw_dict);
        assert_false(f.cols[6].saw_dict);
        assert_false(f.cols[5].saw_dict);
        /* Annotations: UTF8, INT_64, TIMESTAMP_MICROS, none for BOOLEAN. */
        assert_int_equal(f.cols[1].converted, 0);
        assert_int_equal(f.cols[0].converted, 18);
        assert_int_equal(f.cols[3].converted, 17);
        assert_int_equal(f.cols[4].converted, 10);
        assert_int_equal(f.cols[4].type, 2);
        assert_true(f.cols[4].has_logical);
        assert_int_equal(f.cols[5].converted, -1);
        assert_false(f.cols[5].has_logical);
        mr_free(&f);
    }
}

static void test_parquet__roundtrip_int96(void **state)
{
    (void)state;
    mr_file f;
    size_t groups;
    roundtrip(PQ_CODEC_SNAPPY, 1, 300, 0, 0, &groups, &f);
    assert_int_equal(groups, 1);
    assert_int_equal(f.cols[4].type, 3);
    assert_int_equal(f.cols[4].converted, -1);
    assert_false(f.cols[4].has_logical);
    mr_free(&f);
}

static void test_parquet__one_row_and_row_group_flush(void **state)
{
    (void)state;
    mr_file f;
    size_t groups;
    roundtrip(PQ_CODEC_NONE, 0, 1, 0, 0, &groups, &f);
    assert_int_equal(groups, 1);
    mr_free(&f);
    /* Exactly a multiple of row_group_rows: no empty trailing row group. */
    roundtrip(PQ_CODEC_NONE, 0, 300, 100, 0, &groups, &f);
    assert_int_equal(groups, 3);
    mr_free(&f);
}

/* The table written with `threads` encoding threads, row groups large enough to be
 * encoded in parallel. */
static void write_threaded(int threads, pq_codec codec, size_t nrows, memsink *m, status want)
{
    buf_init(&m->b, 0);
    pq_options o = {0};
    o.codec = codec;
    o.row_group_bytes = 400000;
    o.page_bytes = 8192;
    o.threads = threads;
    o.created_by = "test";
    pq_writer *w = NULL;
    errinfo err = {0};
    assert_int_equal(pq_writer_open(&w, ALL, NALL, &o, mem_sink, m, &err), ST_OK);
    status st = ST_OK;
    for (size_t r = 0; r < nrows && st == ST_OK; r++) {
        for (size_t c = 0; c < NALL; c++) {
            int null;
            int64_t iv = 0;
            char s[64];
            size_t sl;
            cell(r, c, &null, &iv, s, &sl);
            if (null)
                st = pq_writer_null(w, &err);
            else if (ALL[c].type == PQ_INT64)
                st = pq_writer_i64(w, iv, &err);
            else if (ALL[c].type == PQ_INT32)
                st = pq_writer_i32(w, (int32_t)iv, &err);
            else if (ALL[c].type == PQ_TIMESTAMP)
                st = pq_writer_timestamp(w, iv, &err);
            else if (ALL[c].type == PQ_BOOLEAN)
                st = pq_writer_bool(w, (int)iv, &err);
            else
                st = pq_writer_string(w, s, sl, &err);
            assert_int_equal(st, ST_OK);
        }
        st = pq_writer_end_row(w, &err);
    }
    if (st == ST_OK)
        st = pq_writer_close(w, &err);
    assert_int_equal(st, want);
    if (want != ST_OK)
        assert_non_null(strstr(err.msg, "disk full"));
    pq_writer_free(w);
}

static void test_parquet__threads_same_bytes(void **state)
{
    (void)state;
    /* Column chunks encoded on several threads are handed over in column order:
     * the file is the same bytes as on one thread. */
    const size_t nrows = 30000;
    pq_codec codecs[] = {PQ_CODEC_SNAPPY, PQ_CODEC_ZSTD};
    for (size_t k = 0; k < 2; k++) {
        memsink one = {0};
        write_threaded(1, codecs[k], nrows, &one, ST_OK);
        int counts[] = {2, 3, 8};
        for (size_t t = 0; t < 3; t++) {
            memsink many = {0};
            write_threaded(counts[t], codecs[k], nrows, &many, ST_OK);
            assert_int_equal(many.b.len, one.b.len);
            assert_memory_equal(many.b.data, one.b.data, one.b.len);
            buf_dispose(&many.b);
        }
        mr_file f;
        if (mr_read((const uint8_t *)one.b.data, one.b.len, &f) != 0)
            fail_msg("reader: %s", f.why);
        assert_true(f.nrowgroups >= 3);
        check_table(&f, nrows);
        mr_free(&f);
        buf_dispose(&one.b);
    }
}

static void test_parquet__threads_sink_failure(void **state)
{
    (void)state;
    /* The sink fails in the middle of a row group encoded on four threads: the
     * failure comes back from the call that flushed, the helpers are gone (the
     * sanitizers check what they leave), and the writer takes nothing more. */
    int fail_at[] = {2, 5, 40};
    for (size_t k = 0; k < 3; k++) {
        memsink m = {0};
        m.fail_after = fail_at[k];
        write_threaded(4, PQ_CODEC_SNAPPY, 30000, &m, ST_IO);
        buf_dispose(&m.b);
    }
}

/* The table written with pq_writer_row; bad_every > 0: before every bad_every-th
 * row, a row that is refused (a null in the first, REQUIRED, column, or a string
 * that is not UTF-8) and must change nothing. */
static void write_rows(size_t nrows, size_t bad_every, memsink *m)
{
    buf_init(&m->b, 0);
    pq_options o = {0};
    o.codec = PQ_CODEC_SNAPPY;
    o.row_group_bytes = 100000;
    o.page_bytes = 4096;
    o.threads = 1;
    o.created_by = "test";
    pq_writer *w = NULL;
    errinfo err = {0};
    assert_int_equal(pq_writer_open(&w, ALL, NALL, &o, mem_sink, m, &err), ST_OK);
    char s[NALL][64];
    pq_cell row[NALL];
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < NALL; c++) {
            size_t sl = 0;
            row[c] = (pq_cell){0, 0, NULL, 0};
            cell(r, c, &row[c].null, &row[c].i, s[c], &sl);
            if (ALL[c].type == PQ_STRING) {
                row[c].s = s[c];
                row[c].len = sl;
            }
        }
        if (bad_every && r % bad_every == 0) {
            pq_cell keep = row[0];
            errinfo e1 = {0};
            assert_true(ALL[0].required);
            row[0].null = 1;
            assert_int_equal(pq_writer_row(w, row, NALL, &e1), ST_DATA);
            row[0] = keep;
            for (size_t c = NALL; c-- > 0;) {
                if (ALL[c].type != PQ_STRING || row[c].null)
                    continue;
                pq_cell good = row[c];
                row[c].s = "ok\xff";
                row[c].len = 3;
                errinfo e2 = {0};
                assert_int_equal(pq_writer_row(w, row, NALL, &e2), ST_DATA);
                assert_non_null(strstr(e2.msg, "UTF-8"));
                row[c] = good;
                break;
            }
        }
        assert_int_equal(pq_writer_row(w, row, NALL, &err), ST_OK);
    }
    errinfo e3 = {0};
    assert_int_equal(pq_writer_row(w, row, NALL - 1, &e3), ST_INTERNAL);
    assert_int_equal(pq_writer_close(w, &err), ST_OK);
    assert_int_equal(pq_writer_rows(w), nrows);
    pq_writer_free(w);
}

static void test_parquet__whole_rows(void **state)
{
    (void)state;
    /* A row at a time gives the file of a value at a time; refused rows leave no
     * trace. */
    const size_t nrows = 3000;
    memsink one = {0};
    buf_init(&one.b, 0);
    pq_options o = {0};
    o.codec = PQ_CODEC_SNAPPY;
    o.row_group_bytes = 100000;
    o.page_bytes = 4096;
    o.threads = 1;
    o.created_by = "test";
    pq_writer *w = NULL;
    errinfo err = {0};
    assert_int_equal(pq_writer_open(&w, ALL, NALL, &o, mem_sink, &one, &err), ST_OK);
    write_table(w, nrows);
    assert_int_equal(pq_writer_close(w, &err), ST_OK);
    pq_writer_free(w);
    size_t bad[] = {0, 7};
    for (size_t k = 0; k < 2; k++) {
        memsink rows = {0};
        write_rows(nrows, bad[k], &rows);
        assert_int_equal(rows.b.len, one.b.len);
        assert_memory_equal(rows.b.data, one.b.data, one.b.len);
        buf_dispose(&rows.b);
    }
    buf_dispose(&one.b);
}

static void test_parquet__streams_row_groups(void **state)
{
    (void)state;
    /* With a small row_group_bytes the sink gets data long before close, and the
     * buffered rows stay few. */
    memsink m = {0};
    buf_init(&m.b, 0);
    pq_options o = {0};
    o.row_group_bytes = 16384;
    pq_writer *w = NULL;
    errinfo err = {0};
    assert_int_equal(pq_writer_open(&w, ALL, NALL, &o, mem_sink, &m, &err), ST_OK);
    write_table(w, 4000);
    assert_true(m.b.len > 100000);
    assert_int_equal(pq_writer_close(w, &err), ST_OK);
    pq_writer_free(w);
    mr_file f;
    if (mr_read((const uint8_t *)m.b.data, m.b.len, &f) != 0)
        fail_msg("reader: %s", f.why);
    assert_true(f.nrowgroups >= 8);
    check_table(&f, 4000);
    mr_free(&f);
    buf_dispose(&m.b);
}

static void test_parquet__big_strings(void **state)
{
    (void)state;
    static const pq_column cols[] = {{"s", PQ_STRING, 1}};
    size_t sizes[] = {5u << 20, 70000, 0, 65536};
    char *s = malloc(sizes[0]);
    assert_non_null(s);
    for (size_t i = 0; i < sizes[0]; i++)
        s[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    memsink m = {0};
    buf_init(&m.b, 0);
    pq_options o = {0};
    o.codec = PQ_CODEC_ZSTD;
    o.page_bytes = 4096;
    pq_writer *w = NULL;
    errinfo err = {0};
    assert_int_equal(pq_writer_open(&w, cols, 1, &o, mem_sink, &m, &err), ST_OK);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pq_writer_string(w, s, sizes[i], &err), ST_OK);
        assert_int_equal(pq_writer_end_row(w, &err), ST_OK);
    }
    assert_int_equal(pq_writer_close(w, &err), ST_OK);
    pq_writer_free(w);
    mr_file f;
    if (mr_read((const uint8_t *)m.b.data, m.b.len, &f) != 0)
        fail_msg("reader: %s", f.why);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(f.cols[0].v[i].len, sizes[i]);
        assert_memory_equal(f.cols[0].arena + f.cols[0].v[i].off, s, sizes[i]);
    }
    mr_free(&f);
    buf_dispose(&m.b);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parquet__rle_run),
        cmocka_unit_test(test_parquet__rle_bit_packed_group),
        cmocka_unit_test(test_parquet__rle_spec_example_width3),
        cmocka_unit_test(test_parquet__rle_short_run_stays_packed),
        cmocka_unit_test(test_parquet__rle_packed_then_run),
        cmocka_unit_test(test_parquet__rle_wide_values),
        cmocka_unit_test(test_parquet__rle_random_roundtrip),
        cmocka_unit_test(test_parquet__plain_bools),
        cmocka_unit_test(test_parquet__dict_decision),
        cmocka_unit_test(test_parquet__dict_hopeless),
        cmocka_unit_test(test_parquet__dict_index_width),
        cmocka_unit_test(test_parquet__dict_insert),
        cmocka_unit_test(test_parquet__codec_parse),
        cmocka_unit_test_setup_teardown(test_parquet__null_in_required_column, wsetup, wteardown),
        cmocka_unit_test_setup_teardown(test_parquet__too_many_values, wsetup, wteardown),
        cmocka_unit_test_setup_teardown(test_parquet__end_row_before_all_columns, wsetup,
                                        wteardown),
        cmocka_unit_test_setup_teardown(test_parquet__wrong_type, wsetup, wteardown),
        cmocka_unit_test_setup_teardown(test_parquet__close_mid_row, wsetup, wteardown),
        cmocka_unit_test_setup_teardown(test_parquet__use_after_close, wsetup, wteardown),
        cmocka_unit_test_setup_teardown(test_parquet__invalid_utf8, wsetup, wteardown),
        cmocka_unit_test(test_parquet__sink_failure),
        cmocka_unit_test(test_parquet__open_errors),
        cmocka_unit_test(test_parquet__empty_file_footer_bytes),
        cmocka_unit_test(test_parquet__roundtrip_every_codec),
        cmocka_unit_test(test_parquet__roundtrip_int96),
        cmocka_unit_test(test_parquet__one_row_and_row_group_flush),
        cmocka_unit_test(test_parquet__streams_row_groups),
        cmocka_unit_test(test_parquet__threads_same_bytes),
        cmocka_unit_test(test_parquet__whole_rows),
        cmocka_unit_test(test_parquet__threads_sink_failure),
        cmocka_unit_test(test_parquet__big_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

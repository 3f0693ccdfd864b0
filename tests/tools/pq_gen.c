/* Writes Parquet test files with the project's writer, each beside a JSON file with
 * the ground truth (schema, options and every value), so that independent readers
 * can be checked value for value. Usage: pq_gen OUTDIR [CASE...] (all cases when
 * none is named). int64 and timestamp values are JSON strings so no precision is
 * lost on the way to JavaScript. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parquet/pq.h"

typedef enum { V_NULL, V_BOOL, V_I32, V_I64, V_STR, V_TS } vkind;

typedef struct value {
    vkind kind;
    int64_t i;
    const char *s;
    size_t len;
} value;

typedef struct gen_case {
    const char *name;
    const pq_column *cols;
    size_t ncols;
    pq_options opt;
    size_t nrows;
    /* Fills v for (row, col); may point s at storage that lives until the next call. */
    void (*cell)(size_t row, size_t col, value *v);
} gen_case;

static value vnull(void)
{
    return (value){V_NULL, 0, NULL, 0};
}

/* ---- data for the cases ---- */

static const int64_t TS_VALUES[] = {
    0,
    -1,
    1,
    INT64_C(1700000000123456),   /* 2023-11-14T22:13:20.123456Z */
    INT64_C(-2208988800000000),  /* 1900-01-01T00:00:00Z */
    INT64_C(-62135596800000000), /* 0001-01-01T00:00:00Z */
    INT64_C(-1),
    INT64_C(-86400000001),
    INT64_C(253402300799999999), /* 9999-12-31T23:59:59.999999Z */
    INT64_C(4102444800000001),   /* 2100-01-01T00:00:00.000001Z */
    INT64_C(951782400000000),    /* 2000-02-29T00:00:00Z */
    INT64_C(-12219292800000000), /* 1582-10-15T00:00:00Z */
    INT64_C(1234567),
};
#define N_TS (sizeof TS_VALUES / sizeof TS_VALUES[0])

static const char *UNICODE[] = {
    "Zoë Müller-Øster",
    "日本語のテキスト",
    "Ελληνικά",
    "عربى نص",
    "emoji 🎉🚀 👩‍💻",
    "",
    "mañana — “quotes” ‘single’",
    "S ß ĳ ﬁ",
    "tab\there\nnewline \"quote\" back\\slash",
    "\xF4\x8F\xBF\xBF max code point",
    "한국어",
    "קול",
};
#define N_UNICODE (sizeof UNICODE / sizeof UNICODE[0])

static char *bigbuf;

static const char *big_string(size_t len)
{
    /* A repeating run of 1-, 2-, 3- and 4-byte characters, cut on a character
     * boundary near len, so the bytes are valid UTF-8 and not trivially uniform. */
    static const char *pieces[] = {"abc", "é", "€", "😀", "xyz0123456789", "ü"};
    free(bigbuf);
    bigbuf = malloc(len + 1);
    size_t n = 0, k = 0;
    while (bigbuf) {
        const char *p = pieces[k++ % 6];
        size_t pl = strlen(p);
        if (n + pl > len)
            break;
        memcpy(bigbuf + n, p, pl);
        n += pl;
    }
    while (bigbuf && n < len)
        bigbuf[n++] = 'z';
    if (bigbuf)
        bigbuf[n] = '\0';
    return bigbuf;
}

static char scratch[256];

static value vstr(const char *s)
{
    return (value){V_STR, 0, s, strlen(s)};
}

static value vlabel(size_t a, size_t b)
{
    snprintf(scratch, sizeof scratch, "label-%zu-%zu", a, b);
    return vstr(scratch);
}

/* All types, every column OPTIONAL except the first. */
static const pq_column ALL_COLS[] = {
    {"id", PQ_INT64, 1},  {"name", PQ_STRING, 0},  {"n32", PQ_INT32, 0},
    {"n64", PQ_INT64, 0}, {"ts", PQ_TIMESTAMP, 0}, {"flag", PQ_BOOLEAN, 0},
};

static void all_null_cell(size_t row, size_t col, value *v)
{
    *v = col == 0 ? (value){V_I64, (int64_t)row, NULL, 0} : vnull();
}

static void one_row_cell(size_t row, size_t col, value *v)
{
    (void)row;
    switch (col) {
    case 0:
        *v = (value){V_I64, 42, NULL, 0};
        break;
    case 1:
        *v = vstr("only row ✓");
        break;
    case 2:
        *v = (value){V_I32, -7, NULL, 0};
        break;
    case 3:
        *v = (value){V_I64, INT64_C(9007199254740993), NULL, 0};
        break;
    case 4:
        *v = (value){V_TS, INT64_C(1700000000123456), NULL, 0};
        break;
    default:
        *v = (value){V_BOOL, 1, NULL, 0};
        break;
    }
}

static const pq_column BIG_COLS[] = {{"id", PQ_INT32, 1}, {"s", PQ_STRING, 0}};
static const size_t BIG_SIZES[] = {0, 1, 65535, 65536, 70000, 200000, 3u << 20, 100};

static void big_cell(size_t row, size_t col, value *v)
{
    if (col == 0) {
        *v = (value){V_I32, (int64_t)row, NULL, 0};
    } else if (row == 7) {
        *v = vnull();
    } else {
        size_t len = BIG_SIZES[row];
        *v = (value){V_STR, 0, big_string(len), len};
    }
}

static const pq_column UNI_COLS[] = {
    {"id", PQ_INT32, 1}, {"text", PQ_STRING, 1}, {"maybe", PQ_STRING, 0}};

static void uni_cell(size_t row, size_t col, value *v)
{
    if (col == 0)
        *v = (value){V_I32, (int64_t)row, NULL, 0};
    else if (col == 1)
        *v = vstr(UNICODE[row % N_UNICODE]);
    else
        *v = row % 3 == 0 ? vnull() : vstr(UNICODE[(row * 7) % N_UNICODE]);
}

static const pq_column TS_COLS[] = {
    {"id", PQ_INT32, 1}, {"ts", PQ_TIMESTAMP, 1}, {"ts_opt", PQ_TIMESTAMP, 0}};

static void ts_cell(size_t row, size_t col, value *v)
{
    if (col == 0)
        *v = (value){V_I32, (int64_t)row, NULL, 0};
    else if (col == 1)
        *v = (value){V_TS, TS_VALUES[row % N_TS], NULL, 0};
    else
        *v = row % 4 == 1 ? vnull() : (value){V_TS, TS_VALUES[(row * 5 + 3) % N_TS], NULL, 0};
}

static const pq_column BOOL_COLS[] = {{"b", PQ_BOOLEAN, 1}, {"b_opt", PQ_BOOLEAN, 0}};

static void bool_cell(size_t row, size_t col, value *v)
{
    if (col == 0)
        *v = (value){V_BOOL, (row % 3 == 0) || (row / 64) % 2, NULL, 0};
    else
        *v = row % 5 == 2 ? vnull() : (value){V_BOOL, (row * 7 % 11) < 5, NULL, 0};
}

static const pq_column EXT_COLS[] = {
    {"i32", PQ_INT32, 1}, {"i64", PQ_INT64, 1}, {"i32_opt", PQ_INT32, 0}};
static const int32_t EXT32[] = {INT32_MIN, INT32_MAX, 0, -1, 1, INT32_MIN + 1, 65536};
static const int64_t EXT64[] = {INT64_MIN, INT64_MAX, 0, -1, 1, INT64_MIN + 1, INT64_C(1) << 53};

static void ext_cell(size_t row, size_t col, value *v)
{
    size_t k = row % 7;
    if (col == 0)
        *v = (value){V_I32, EXT32[k], NULL, 0};
    else if (col == 1)
        *v = (value){V_I64, EXT64[k], NULL, 0};
    else
        *v = k == 2 ? vnull() : (value){V_I32, EXT32[6 - k], NULL, 0};
}

/* A wide table over several pages and row groups: columns that favour a dictionary
 * (few distinct values) and columns that do not (unique values). */
static const pq_column MANY_COLS[] = {
    {"id", PQ_INT64, 1},       {"category", PQ_STRING, 1}, {"label", PQ_STRING, 0},
    {"bucket", PQ_INT32, 0},   {"seen", PQ_TIMESTAMP, 1},  {"flag", PQ_BOOLEAN, 0},
    {"unique_n", PQ_INT32, 1}, {"run_id", PQ_STRING, 1},
};
static const char *CATS[] = {"alpha", "beta", "gamma", "delta", "epsilon"};

static void many_cell(size_t row, size_t col, value *v)
{
    switch (col) {
    case 0:
        *v = (value){V_I64, (int64_t)row * 1000003 - 5000000, NULL, 0};
        break;
    case 1:
        *v = vstr(CATS[(row / 3) % 5]);
        break;
    case 2:
        *v = row % 10 == 9 ? vnull() : vlabel(row, row * 31 % 977);
        break;
    case 3:
        *v = row % 7 == 0 ? vnull() : (value){V_I32, (int64_t)(row % 50) - 25, NULL, 0};
        break;
    case 4:
        *v = (value){V_TS, INT64_C(1600000000000000) + (int64_t)row * 1234567, NULL, 0};
        break;
    case 5:
        *v = row % 13 == 0 ? vnull() : (value){V_BOOL, row % 3 == 1, NULL, 0};
        break;
    case 6:
        *v = (value){V_I32, (int64_t)(row * 2654435761u % 2147483647u), NULL, 0};
        break;
    default:
        *v = vstr("20240101T000000Z-3f2a");
        break;
    }
}

/* INT96 readers turn values into nanoseconds in an int64, so these stay within
 * 1677..2262. */
static const int64_t TS96_VALUES[] = {
    0,
    -1,
    1,
    INT64_C(1700000000123456),
    INT64_C(-2208988800000000),
    INT64_C(-86400000001),
    INT64_C(4102444800000001),
    INT64_C(951782400000000),
    INT64_C(1234567),
    INT64_C(-5000000000000000), /* 1811-07-23 */
};
#define N_TS96 (sizeof TS96_VALUES / sizeof TS96_VALUES[0])

static const pq_column INT96_COLS[] = {
    {"id", PQ_INT32, 1}, {"ts", PQ_TIMESTAMP, 0}, {"ts_req", PQ_TIMESTAMP, 1}};

static void int96_cell(size_t row, size_t col, value *v)
{
    if (col == 0)
        *v = (value){V_I32, (int64_t)row, NULL, 0};
    else if (col == 1)
        *v = row % 6 == 5 ? vnull() : (value){V_TS, TS96_VALUES[row % N_TS96], NULL, 0};
    else
        *v = (value){V_TS, TS96_VALUES[(row / 2) % 4], NULL, 0};
}

#define COLS(a) a, sizeof a / sizeof a[0]

static const gen_case CASES[] = {
    {"empty", COLS(ALL_COLS), {PQ_CODEC_SNAPPY, 0, 0, 0, 0, NULL, NULL, 0, 0}, 0, one_row_cell},
    {"all_null",
     COLS(ALL_COLS),
     {PQ_CODEC_SNAPPY, 0, 0, 0, 0, NULL, NULL, 0, 0},
     50,
     all_null_cell},
    {"one_row", COLS(ALL_COLS), {PQ_CODEC_NONE, 0, 0, 0, 0, NULL, NULL, 0, 0}, 1, one_row_cell},
    {"big_strings", COLS(BIG_COLS), {PQ_CODEC_SNAPPY, 0, 0, 0, 0, NULL, NULL, 0, 0}, 8, big_cell},
    {"unicode", COLS(UNI_COLS), {PQ_CODEC_ZSTD, 0, 0, 0, 0, NULL, NULL, 0, 0}, 300, uni_cell},
    {"timestamps",
     COLS(TS_COLS),
     {PQ_CODEC_SNAPPY, 0, 0, 0, 0, NULL, NULL, 0, 0},
     2 * N_TS,
     ts_cell},
    {"booleans", COLS(BOOL_COLS), {PQ_CODEC_NONE, 0, 0, 0, 100, NULL, NULL, 0, 0}, 1000, bool_cell},
    {"extremes", COLS(EXT_COLS), {PQ_CODEC_NONE, 0, 0, 0, 0, NULL, NULL, 0, 0}, 14, ext_cell},
    {"many_none",
     COLS(MANY_COLS),
     {PQ_CODEC_NONE, 0, 0, 7000, 4096, NULL, NULL, 0, 0},
     30000,
     many_cell},
    {"many_snappy",
     COLS(MANY_COLS),
     {PQ_CODEC_SNAPPY, 0, 0, 7000, 4096, NULL, NULL, 0, 0},
     30000,
     many_cell},
    {"many_zstd",
     COLS(MANY_COLS),
     {PQ_CODEC_ZSTD, 0, 0, 7000, 4096, NULL, NULL, 0, 0},
     30000,
     many_cell},
    {"rg_bytes",
     COLS(MANY_COLS),
     {PQ_CODEC_SNAPPY, 0, 65536, 0, 8192, NULL, NULL, 0, 0},
     20000,
     many_cell},
    {"int96",
     COLS(INT96_COLS),
     {PQ_CODEC_SNAPPY, 1, 0, 0, 0, NULL, NULL, 0, 0},
     3 * N_TS96,
     int96_cell},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

/* ---- output ---- */

static status file_sink(void *ctx, const void *data, size_t len, errinfo *err)
{
    if (fwrite(data, 1, len, ctx) != len)
        return err_set(err, ST_IO, "short write");
    return ST_OK;
}

static void json_string(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static const char *type_word(pq_type t)
{
    switch (t) {
    case PQ_BOOLEAN:
        return "boolean";
    case PQ_INT32:
        return "int32";
    case PQ_INT64:
        return "int64";
    case PQ_STRING:
        return "string";
    case PQ_TIMESTAMP:
        return "timestamp";
    }
    return "?";
}

static const char *codec_word(pq_codec c)
{
    return c == PQ_CODEC_SNAPPY ? "snappy" : c == PQ_CODEC_ZSTD ? "zstd" : "none";
}

static int write_case(const char *dir, const gen_case *gc)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.parquet", dir, gc->name);
    FILE *pf = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/%s.json", dir, gc->name);
    FILE *jf = fopen(path, "wb");
    if (!pf || !jf) {
        fprintf(stderr, "pq_gen: cannot create files for %s in %s\n", gc->name, dir);
        if (pf)
            fclose(pf);
        if (jf)
            fclose(jf);
        return 1;
    }
    errinfo err = {0};
    pq_writer *w = NULL;
    status st = pq_writer_open(&w, gc->cols, gc->ncols, &gc->opt, file_sink, pf, &err);
    fprintf(jf, "{\"name\":\"%s\",\"codec\":\"%s\",\"int96\":%s,\"columns\":[", gc->name,
            codec_word(gc->opt.codec), gc->opt.int96_timestamps ? "true" : "false");
    for (size_t c = 0; c < gc->ncols; c++)
        fprintf(jf, "%s{\"name\":\"%s\",\"type\":\"%s\",\"required\":%s}", c ? "," : "",
                gc->cols[c].name, type_word(gc->cols[c].type),
                gc->cols[c].required ? "true" : "false");
    fprintf(jf, "],\"rows\":[");
    for (size_t r = 0; r < gc->nrows && st == ST_OK; r++) {
        fprintf(jf, "%s\n[", r ? "," : "");
        for (size_t c = 0; c < gc->ncols && st == ST_OK; c++) {
            value v;
            gc->cell(r, c, &v);
            if (c)
                fputc(',', jf);
            switch (v.kind) {
            case V_NULL:
                st = pq_writer_null(w, &err);
                fputs("null", jf);
                break;
            case V_BOOL:
                st = pq_writer_bool(w, (int)v.i, &err);
                fputs(v.i ? "true" : "false", jf);
                break;
            case V_I32:
                st = pq_writer_i32(w, (int32_t)v.i, &err);
                fprintf(jf, "%" PRId64, v.i);
                break;
            case V_I64:
                st = pq_writer_i64(w, v.i, &err);
                fprintf(jf, "\"%" PRId64 "\"", v.i);
                break;
            case V_TS:
                st = pq_writer_timestamp(w, v.i, &err);
                fprintf(jf, "\"%" PRId64 "\"", v.i);
                break;
            case V_STR:
                st = pq_writer_string(w, v.s, v.len, &err);
                json_string(jf, v.s, v.len);
                break;
            }
        }
        fputc(']', jf);
        if (st == ST_OK)
            st = pq_writer_end_row(w, &err);
    }
    fprintf(jf, "]}\n");
    if (st == ST_OK)
        st = pq_writer_close(w, &err);
    pq_writer_free(w);
    int bad = fclose(pf) != 0;
    bad |= fclose(jf) != 0;
    if (st != ST_OK || bad) {
        fprintf(stderr, "pq_gen: %s: %s\n", gc->name, st != ST_OK ? err.msg : "write failed");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUTDIR [CASE...]\n", argv[0]);
        return 2;
    }
    int rc = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        int wanted = argc == 2;
        for (int a = 2; a < argc; a++)
            wanted |= strcmp(argv[a], CASES[i].name) == 0;
        if (wanted)
            rc |= write_case(argv[1], &CASES[i]);
    }
    free(bigbuf);
    return rc;
}

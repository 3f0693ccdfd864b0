/* The Parquet file writer: buffers a row group per column, then encodes each column
 * chunk (dictionary page when it pays, data pages v1 split at page_bytes), compresses
 * the pages, hands them to the sink, and keeps the row group's metadata, already
 * Thrift-encoded, for the footer. See pq.h for the interface. */
#include "parquet/pq.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parquet/codec.h"
#include "parquet/dict.h"
#include "parquet/encode.h"
#include "parquet/thrift.h"
#include "util/buf.h"
#include "util/bytes.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the Parquet writer stores values in host order and needs a little-endian host"
#endif

/* parquet.thrift enum values. */
enum { T_BOOLEAN = 0, T_INT32 = 1, T_INT64 = 2, T_INT96 = 3, T_BYTE_ARRAY = 6 };
enum { ENC_PLAIN = 0, ENC_RLE = 3, ENC_RLE_DICTIONARY = 8 };
enum { PAGE_DATA = 0, PAGE_DICTIONARY = 2 };
enum { CT_UTF8 = 0, CT_TIMESTAMP_MICROS = 10, CT_INT_32 = 17, CT_INT_64 = 18 };
enum { REP_REQUIRED = 0, REP_OPTIONAL = 1 };

/* Four tables' row groups are most of what convert holds (the run sets the same
 * itself): 16 MiB keeps them at 64 MiB in all, and costs about 0.1% of output
 * against 32 MiB (the dictionaries of the few repeating columns are written twice
 * as often). */
#define DEFAULT_ROW_GROUP_BYTES ((size_t)16 << 20)
#define DEFAULT_ROW_GROUP_ROWS ((size_t)1000000)
#define DEFAULT_PAGE_BYTES ((size_t)1 << 20)
/* One column's buffered row group may not pass this: pages must fit an i32. */
#define COLUMN_CAP ((size_t)1 << 30)
/* Longer string bounds are left out of the statistics rather than bloat the footer. */
#define STATS_MAX_STRING 4096
/* Threads that encode a row group's column chunks when options.threads is 0: the
 * online CPUs, at most this many. */
#define MAX_AUTO_THREADS 4
/* A smaller row group is encoded on the caller's thread alone: starting a thread
 * costs more than it saves. */
#define PARALLEL_MIN_BYTES ((size_t)256 << 10)
/* Days from the Julian day epoch to 1970-01-01, for INT96 timestamps. */
#define JULIAN_UNIX_EPOCH 2440588
#define MICROS_PER_DAY INT64_C(86400000000)

typedef struct colstate {
    const pq_column *def;
    int ptype;
    /* from def, for the per-value paths: OPTIONAL, STRING, a fixed value's size */
    uint8_t optional, string;
    size_t width;
    /* a string column's last value in the row group (valid with has_minmax), and
     * whether the row being added repeats it: a run id, a report's id on each of its
     * records, a record's key on each of its intervals. A repeat was checked and
     * counted in the bounds already. */
    size_t last_off, last_len;
    int again;
    buf values;     /* non-null values, PLAIN (strings with their 4-byte length) */
    buf defs;       /* OPTIONAL only: one byte per row, 1 present, 0 null */
    size_t nvalues; /* non-null values in the row group */
    size_t nnull;
    int has_minmax;
    int64_t imin, imax;                            /* BOOLEAN, INT32, INT64, timestamps */
    size_t smin_off, smin_len, smax_off, smax_len; /* strings, into values */
} colstate;

/* A column chunk of the row group being written. Its pages (headers included) are
 * encoded into out, on whichever thread takes the chunk, and handed to the sink in
 * column order on the caller's thread; the offsets are known only then. */
typedef struct chunkmeta {
    uint64_t start;
    uint64_t data_page_offset;
    uint64_t dict_page_offset;
    uint64_t total_uncompressed;
    uint64_t total_compressed;
    int dict;
    buf out;
    pq_writer *direct; /* encoded on the caller's thread in turn: pages go straight to
                          the sink, out stays empty */
    uint64_t data_rel; /* the first data page's offset in the chunk */
    int done;          /* encoded (st says how) */
    status st;
    errinfo err;
} chunkmeta;

/* What encoding one column chunk needs besides its values: each encoding thread has
 * its own, the caller's lives with the writer and keeps its memory between row
 * groups. */
typedef struct encoder {
    buf page, comp, hdr;
    uint32_t *idx;
    size_t idx_alloc;
    pq_dict dict;
    pq_compressor z;
} encoder;

enum { W_OPEN, W_CLOSED, W_FAILED };

struct pq_writer {
    const pq_column *cols;
    size_t ncols;
    colstate *c;
    chunkmeta *meta;
    pq_options opt;
    char created_by[128];
    pq_sink_fn sink;
    void *sink_ctx;
    uint64_t offset; /* bytes handed to the sink */
    uint64_t rows;   /* rows ended, all row groups */
    size_t rg_rows;  /* rows in the buffered row group */
    size_t cur;      /* next column of the current row */
    size_t buffered; /* bytes buffered in the row group */
    int state;
    buf rowgroups; /* RowGroup structs, Thrift-encoded, for the footer */
    size_t nrowgroups;
    encoder enc;
    int threads; /* encoding threads at a flush, the caller's included */
};

static void encoder_init(encoder *e, pq_codec codec)
{
    buf_init(&e->page, 0);
    buf_init(&e->comp, 0);
    buf_init(&e->hdr, 0);
    e->idx = NULL;
    e->idx_alloc = 0;
    pq_dict_init(&e->dict);
    pq_compressor_init(&e->z, codec);
}

static void encoder_dispose(encoder *e)
{
    buf_dispose(&e->page);
    buf_dispose(&e->comp);
    buf_dispose(&e->hdr);
    free(e->idx);
    e->idx = NULL;
    e->idx_alloc = 0;
    pq_dict_dispose(&e->dict);
    pq_compressor_dispose(&e->z);
}

static const char *type_name(pq_type t)
{
    switch (t) {
    case PQ_BOOLEAN:
        return "BOOLEAN";
    case PQ_INT32:
        return "INT32";
    case PQ_INT64:
        return "INT64";
    case PQ_STRING:
        return "STRING";
    case PQ_TIMESTAMP:
        return "TIMESTAMP";
    }
    return "unknown";
}

static int physical_type(pq_type t, int int96)
{
    switch (t) {
    case PQ_BOOLEAN:
        return T_BOOLEAN;
    case PQ_INT32:
        return T_INT32;
    case PQ_INT64:
        return T_INT64;
    case PQ_STRING:
        return T_BYTE_ARRAY;
    case PQ_TIMESTAMP:
        return int96 ? T_INT96 : T_INT64;
    }
    return -1;
}

static status emit(pq_writer *w, const void *p, size_t n, errinfo *err)
{
    if (n == 0)
        return ST_OK;
    status st = w->sink(w->sink_ctx, p, n, err);
    if (st != ST_OK) {
        err_set(err, st, "parquet sink failed");
        return st;
    }
    w->offset += n;
    return ST_OK;
}

status pq_writer_open(pq_writer **out, const pq_column *cols, size_t ncols, const pq_options *opts,
                      pq_sink_fn sink, void *sink_ctx, errinfo *err)
{
    status st = ST_OK;
    *out = NULL;
    if (!cols || ncols == 0)
        return err_set(err, ST_INTERNAL, "parquet writer needs at least one column");
    if (!sink)
        return err_set(err, ST_INTERNAL, "parquet writer needs a sink");
    for (size_t i = 0; i < ncols; i++) {
        if (!cols[i].name || !cols[i].name[0])
            return err_set(err, ST_INTERNAL, "parquet column %zu has no name", i);
        if (physical_type(cols[i].type, 0) < 0)
            return err_set(err, ST_INTERNAL, "parquet column '%s' has an unknown type %d",
                           cols[i].name, (int)cols[i].type);
    }
    pq_writer *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(err, ST_NOMEM, "out of memory opening a parquet writer");
    w->cols = cols;
    w->ncols = ncols;
    w->sink = sink;
    w->sink_ctx = sink_ctx;
    if (opts)
        w->opt = *opts;
    if (!w->opt.row_group_bytes)
        w->opt.row_group_bytes = DEFAULT_ROW_GROUP_BYTES;
    if (!w->opt.row_group_rows)
        w->opt.row_group_rows = DEFAULT_ROW_GROUP_ROWS;
    if (!w->opt.page_bytes)
        w->opt.page_bytes = DEFAULT_PAGE_BYTES;
    snprintf(w->created_by, sizeof w->created_by, "%s",
             w->opt.created_by ? w->opt.created_by : "teams-attendance version " TA_VERSION);
    w->opt.created_by = w->created_by;
    buf_init(&w->rowgroups, 0);
    encoder_init(&w->enc, w->opt.codec);
    w->threads = w->opt.threads;
    if (w->threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        w->threads = n < 1 ? 1 : n > MAX_AUTO_THREADS ? MAX_AUTO_THREADS : (int)n;
    }
    w->c = calloc(ncols, sizeof *w->c);
    w->meta = calloc(ncols, sizeof *w->meta);
    if (!w->c || !w->meta) {
        free(w->c);
        free(w->meta);
        free(w);
        return err_set(err, ST_NOMEM, "out of memory opening a parquet writer");
    }
    for (size_t i = 0; i < ncols; i++) {
        w->c[i].def = &cols[i];
        w->c[i].ptype = physical_type(cols[i].type, w->opt.int96_timestamps);
        w->c[i].optional = !cols[i].required;
        w->c[i].string = cols[i].type == PQ_STRING;
        w->c[i].width = cols[i].type == PQ_BOOLEAN ? 1 : cols[i].type == PQ_INT32 ? 4 : 8;
        buf_init(&w->c[i].values, COLUMN_CAP);
        buf_init(&w->c[i].defs, COLUMN_CAP);
        buf_init(&w->meta[i].out, 0);
    }
    w->state = W_OPEN;
    st = emit(w, "PAR1", 4, err);
    if (st != ST_OK) {
        pq_writer_free(w);
        return st;
    }
    *out = w;
    return ST_OK;
}

void pq_writer_free(pq_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->ncols && w->c; i++) {
        buf_dispose(&w->c[i].values);
        buf_dispose(&w->c[i].defs);
        if (w->meta)
            buf_dispose(&w->meta[i].out);
    }
    free(w->c);
    free(w->meta);
    buf_dispose(&w->rowgroups);
    encoder_dispose(&w->enc);
    free(w);
}

uint64_t pq_writer_rows(const pq_writer *w)
{
    return w ? w->rows : 0;
}

/* ---- adding values ---- */

static status check_open(pq_writer *w, errinfo *err)
{
    if (!w)
        return err_set(err, ST_INTERNAL, "parquet writer is NULL");
    if (w->state == W_CLOSED)
        return err_set(err, ST_INTERNAL, "parquet writer is already closed");
    if (w->state == W_FAILED)
        return err_set(err, ST_INTERNAL, "parquet writer failed earlier and takes no more data");
    return ST_OK;
}

/* The column the next value goes to, checked against the type of the call. */
static status next_col(pq_writer *w, pq_type want, colstate **out, errinfo *err)
{
    status st = check_open(w, err);
    if (st != ST_OK)
        return st;
    if (w->cur >= w->ncols)
        return err_set(err, ST_INTERNAL,
                       "too many values in row %" PRIu64 ": the table has %zu columns", w->rows,
                       w->ncols);
    colstate *c = &w->c[w->cur];
    if (c->def->type != want)
        return err_set(err, ST_INTERNAL, "parquet column '%s' is %s, got a %s value", c->def->name,
                       type_name(c->def->type), type_name(want));
    *out = c;
    return ST_OK;
}

/* buf_reserve without the call when there is room already (the usual case: the
 * column buffers keep their memory from one row group to the next). */
static inline status reserve(buf *b, size_t extra, errinfo *err)
{
    if (extra <= b->cap - b->len && b->len + extra < b->alloc)
        return ST_OK;
    return buf_reserve(b, extra, err);
}

/* Appends one present value: reserves first so that a failure changes nothing. */
static status put_value(pq_writer *w, colstate *c, const void *p, size_t n, errinfo *err)
{
    status st = reserve(&c->values, n, err);
    if (st == ST_OK && !c->def->required)
        st = reserve(&c->defs, 1, err);
    if (st != ST_OK) {
        err_prefix(err, "parquet column '%s'", c->def->name);
        return st;
    }
    memcpy(c->values.data + c->values.len, p, n);
    c->values.len += n;
    if (!c->def->required)
        c->defs.data[c->defs.len++] = 1;
    c->nvalues++;
    w->buffered += n + !c->def->required;
    w->cur++;
    return ST_OK;
}

static void int_stats(colstate *c, int64_t v)
{
    if (!c->has_minmax) {
        c->imin = c->imax = v;
        c->has_minmax = 1;
        return;
    }
    if (v < c->imin)
        c->imin = v;
    if (v > c->imax)
        c->imax = v;
}

status pq_writer_null(pq_writer *w, errinfo *err)
{
    status st = check_open(w, err);
    if (st != ST_OK)
        return st;
    if (w->cur >= w->ncols)
        return err_set(err, ST_INTERNAL,
                       "too many values in row %" PRIu64 ": the table has %zu columns", w->rows,
                       w->ncols);
    colstate *c = &w->c[w->cur];
    if (c->def->required)
        return err_set(err, ST_DATA,
                       "parquet column '%s' is REQUIRED and got a null in row %" PRIu64,
                       c->def->name, w->rows);
    uint8_t zero = 0;
    st = buf_append(&c->defs, &zero, 1, err);
    if (st != ST_OK) {
        err_prefix(err, "parquet column '%s'", c->def->name);
        return st;
    }
    c->nnull++;
    w->buffered++;
    w->cur++;
    return ST_OK;
}

status pq_writer_bool(pq_writer *w, int v, errinfo *err)
{
    colstate *c = NULL;
    status st = next_col(w, PQ_BOOLEAN, &c, err);
    if (st != ST_OK)
        return st;
    uint8_t b = v ? 1 : 0;
    st = put_value(w, c, &b, 1, err);
    if (st == ST_OK)
        int_stats(c, b);
    return st;
}

status pq_writer_i32(pq_writer *w, int32_t v, errinfo *err)
{
    colstate *c = NULL;
    status st = next_col(w, PQ_INT32, &c, err);
    if (st != ST_OK)
        return st;
    st = put_value(w, c, &v, 4, err);
    if (st == ST_OK)
        int_stats(c, v);
    return st;
}

status pq_writer_i64(pq_writer *w, int64_t v, errinfo *err)
{
    colstate *c = NULL;
    status st = next_col(w, PQ_INT64, &c, err);
    if (st != ST_OK)
        return st;
    st = put_value(w, c, &v, 8, err);
    if (st == ST_OK)
        int_stats(c, v);
    return st;
}

status pq_writer_timestamp(pq_writer *w, int64_t micros, errinfo *err)
{
    colstate *c = NULL;
    status st = next_col(w, PQ_TIMESTAMP, &c, err);
    if (st != ST_OK)
        return st;
    st = put_value(w, c, &micros, 8, err);
    if (st == ST_OK)
        int_stats(c, micros);
    return st;
}

/* Offset of the first byte that breaks UTF-8 (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF), or len when the text is valid. */
static size_t utf8_invalid_at(const uint8_t *s, size_t len)
{
    /* all ASCII, the usual case: OR the bytes together, 8 at a time (the last word
     * overlapping), and test the high bits once */
    if (len >= 8) {
        uint64_t acc = 0, w8;
        for (size_t k = 0; k + 8 <= len; k += 8) {
            memcpy(&w8, s + k, 8);
            acc |= w8;
        }
        memcpy(&w8, s + len - 8, 8);
        if (!((acc | w8) & 0x8080808080808080ULL))
            return len;
    } else {
        uint8_t acc = 0;
        for (size_t k = 0; k < len; k++)
            acc |= s[k];
        if (!(acc & 0x80))
            return len;
    }
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) {
            uint64_t w8;
            memcpy(&w8, s + i, 8);
            if (!(w8 & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) {
            n = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 2;
            if (b == 0xE0)
                lo = 0xA0;
            else if (b == 0xED)
                hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 3;
            if (b == 0xF0)
                lo = 0x90;
            else if (b == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (n >= len - i)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += n + 1;
    }
    return len;
}

/* Unsigned byte order, compared 8 bytes at a time without a call: the values of a
 * column often share a prefix (ids, e-mail domains, the run id on every row). */
static inline int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen, k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t x, y;
        memcpy(&x, a + k, 8);
        memcpy(&y, b + k, 8);
        if (x != y) {
            /* the host is little-endian: swapped, the first byte is the most significant */
            x = __builtin_bswap64(x);
            y = __builtin_bswap64(y);
            return x < y ? -1 : 1;
        }
    }
    for (; k < n; k++)
        if (a[k] != b[k])
            return a[k] < b[k] ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
}

/* Min and max of a string column, with the value v just stored at off. */
static inline void string_stats(colstate *c, const uint8_t *v, size_t off, size_t len)
{
    const uint8_t *base = (const uint8_t *)c->values.data;
    if (!c->has_minmax) {
        c->has_minmax = 1;
        c->smin_off = c->smax_off = off;
        c->smin_len = c->smax_len = len;
        return;
    }
    /* compare v, not its fresh copy in the buffer: loading what was just stored
     * stalls */
    if (bytes_cmp(v, len, base + c->smin_off, c->smin_len) < 0) {
        /* below the minimum, so not above the maximum */
        c->smin_off = off;
        c->smin_len = len;
    } else if (bytes_cmp(v, len, base + c->smax_off, c->smax_len) > 0) {
        c->smax_off = off;
        c->smax_len = len;
    }
}

status pq_writer_string(pq_writer *w, const char *s, size_t len, errinfo *err)
{
    colstate *c = NULL;
    status st = next_col(w, PQ_STRING, &c, err);
    if (st != ST_OK)
        return st;
    if (len > UINT32_MAX || len > COLUMN_CAP)
        return err_set(err, ST_DATA, "parquet column '%s': a %zu-byte string is too long",
                       c->def->name, len);
    if (len && !s)
        return err_set(err, ST_INTERNAL, "parquet column '%s': NULL string pointer", c->def->name);
    size_t bad = utf8_invalid_at((const uint8_t *)s, len);
    if (bad != len)
        return err_set(err, ST_DATA,
                       "parquet column '%s': string in row %" PRIu64
                       " is not valid UTF-8 (byte %zu)",
                       c->def->name, w->rows, bad);
    st = reserve(&c->values, 4 + len, err);
    if (st == ST_OK && !c->def->required)
        st = reserve(&c->defs, 1, err);
    if (st != ST_OK) {
        err_prefix(err, "parquet column '%s'", c->def->name);
        return st;
    }
    uint32_t l32 = (uint32_t)len;
    memcpy(c->values.data + c->values.len, &l32, 4);
    size_t off = c->values.len + 4;
    if (len)
        memcpy(c->values.data + off, s, len);
    c->values.len = off + len;
    if (!c->def->required)
        c->defs.data[c->defs.len++] = 1;
    c->nvalues++;
    w->buffered += 4 + len + !c->def->required;
    w->cur++;
    string_stats(c, (const uint8_t *)s, off, len);
    c->last_off = off;
    c->last_len = len;
    return ST_OK;
}

/* ---- a whole row at once ---- */

/* The failures pq_writer_row can meet, out of its loop. */
static status __attribute__((noinline, cold))
row_failure(pq_writer *w, colstate *c, const pq_cell *v, errinfo *err)
{
    if (v->null)
        return err_set(err, ST_DATA,
                       "parquet column '%s' is REQUIRED and got a null in row %" PRIu64,
                       c->def->name, w->rows);
    if (v->len > UINT32_MAX || v->len > COLUMN_CAP)
        return err_set(err, ST_DATA, "parquet column '%s': a %zu-byte string is too long",
                       c->def->name, v->len);
    if (v->len && !v->s)
        return err_set(err, ST_INTERNAL, "parquet column '%s': NULL string pointer", c->def->name);
    return err_set(err, ST_DATA,
                   "parquet column '%s': string in row %" PRIu64 " is not valid UTF-8 (byte %zu)",
                   c->def->name, w->rows, utf8_invalid_at((const uint8_t *)v->s, v->len));
}

/* 1 when s[0, len) is plain ASCII, the usual string: tested 8 bytes at a time (the
 * last word overlapping) without a call; anything else goes to utf8_invalid_at. */
static inline int all_ascii(const uint8_t *s, size_t len)
{
    uint64_t acc = 0, w8;
    if (len >= 8) {
        for (size_t k = 0; k + 8 <= len; k += 8) {
            memcpy(&w8, s + k, 8);
            acc |= w8;
        }
        memcpy(&w8, s + len - 8, 8);
        acc |= w8;
    } else {
        for (size_t k = 0; k < len; k++)
            acc |= s[k];
    }
    return !(acc & 0x8080808080808080ULL);
}

/* Checks what pq_writer_row would refuse in value v of column c, and makes room for
 * it: after this, appending it cannot fail. */
static inline status check_value(pq_writer *w, colstate *c, const pq_cell *v, errinfo *err)
{
    status st = ST_OK;
    if (v->null) {
        if (!c->optional)
            return row_failure(w, c, v, err);
    } else {
        size_t n = c->width;
        if (c->string) {
            if (v->len > COLUMN_CAP || (v->len && !v->s))
                return row_failure(w, c, v, err);
            c->again = c->has_minmax && v->len == c->last_len &&
                       bytes_equal((const uint8_t *)v->s,
                                   (const uint8_t *)c->values.data + c->last_off, v->len);
            if (!c->again && !all_ascii((const uint8_t *)v->s, v->len) &&
                utf8_invalid_at((const uint8_t *)v->s, v->len) != v->len)
                return row_failure(w, c, v, err);
            n = 4 + v->len;
        }
        st = reserve(&c->values, n, err);
    }
    if (st == ST_OK && c->optional)
        st = reserve(&c->defs, 1, err);
    if (st != ST_OK)
        err_prefix(err, "parquet column '%s'", c->def->name);
    return st;
}

/* Appends value v, checked by check_value, to column c; returns the bytes it
 * buffered. */
static inline size_t append_value(colstate *c, const pq_cell *v)
{
    if (v->null) {
        c->defs.data[c->defs.len++] = 0;
        c->nnull++;
        return 1;
    }
    if (c->optional)
        c->defs.data[c->defs.len++] = 1;
    c->nvalues++;
    uint8_t *at = (uint8_t *)c->values.data + c->values.len;
    switch (c->def->type) {
    case PQ_BOOLEAN:
        *at = v->i != 0;
        c->values.len += 1;
        int_stats(c, v->i != 0);
        return 1 + c->optional;
    case PQ_INT32: {
        int32_t x = (int32_t)v->i;
        memcpy(at, &x, 4);
        c->values.len += 4;
        int_stats(c, x);
        return 4 + c->optional;
    }
    case PQ_INT64:
    case PQ_TIMESTAMP:
        memcpy(at, &v->i, 8);
        c->values.len += 8;
        int_stats(c, v->i);
        return 8 + c->optional;
    case PQ_STRING:
        break;
    }
    size_t len = v->len, off = c->values.len + 4;
    uint32_t l32 = (uint32_t)len;
    memcpy(at, &l32, 4);
    if (len)
        memcpy(at + 4, v->s, len);
    c->values.len = off + len;
    if (!c->again)
        string_stats(c, (const uint8_t *)v->s, off, len);
    c->last_off = off;
    c->last_len = len;
    return 4 + len + c->optional;
}

status pq_writer_row(pq_writer *w, const pq_cell *row, size_t n, errinfo *err)
{
    status st = check_open(w, err);
    if (st != ST_OK)
        return st;
    if (w->cur != 0)
        return err_set(err, ST_INTERNAL, "pq_writer_row in the middle of row %" PRIu64, w->rows);
    if (n != w->ncols)
        return err_set(err, ST_INTERNAL, "a row of %zu values for a table of %zu columns", n,
                       w->ncols);
    for (size_t i = 0; i < n; i++)
        if ((st = check_value(w, &w->c[i], &row[i], err)) != ST_OK)
            return st;
    size_t added = 0;
    for (size_t i = 0; i < n; i++)
        added += append_value(&w->c[i], &row[i]);
    w->buffered += added;
    w->cur = n;
    return pq_writer_end_row(w, err);
}

/* ---- encoding a row group ---- */

static void int96_from_micros(int64_t us, uint8_t out[12])
{
    int64_t day = us / MICROS_PER_DAY;
    int64_t rem = us % MICROS_PER_DAY;
    if (rem < 0) {
        rem += MICROS_PER_DAY;
        day--;
    }
    uint64_t nanos = (uint64_t)rem * 1000u;
    int32_t julian = (int32_t)(day + JULIAN_UNIX_EPOCH);
    memcpy(out, &nanos, 8);
    memcpy(out + 8, &julian, 4);
}

/* PLAIN size of one value in the dictionary page or a PLAIN data page. */
static size_t fixed_size(int ptype)
{
    switch (ptype) {
    case T_INT32:
        return 4;
    case T_INT64:
        return 8;
    case T_INT96:
        return 12;
    default:
        return 0;
    }
}

/* Size in the value buffer (timestamps stay int64 there even for INT96). */
static size_t stored_size(const colstate *c)
{
    return c->ptype == T_INT32 ? 4 : 8;
}

static status write_page(const pq_writer *w, encoder *e, chunkmeta *m, int page_type,
                         size_t num_values, int encoding, errinfo *err)
{
    const void *data = e->page.data;
    size_t n = e->page.len, clen = n;
    status st;
    if (w->opt.codec != PQ_CODEC_NONE) {
        st = pq_compress(&e->z, e->page.data, n, &e->comp, err);
        if (st != ST_OK)
            return st;
        data = e->comp.data;
        clen = e->comp.len;
    }
    if (n > INT32_MAX || clen > INT32_MAX || num_values > INT32_MAX)
        return err_set(err, ST_TOO_LARGE, "a parquet page of %zu bytes is too large", n);
    buf_reset(&e->hdr);
    pq_thrift t;
    pq_thrift_init(&t, &e->hdr, err);
    pq_thrift_struct_begin(&t);
    pq_thrift_field_i32(&t, 1, page_type);
    pq_thrift_field_i32(&t, 2, (int32_t)n);
    pq_thrift_field_i32(&t, 3, (int32_t)clen);
    if (page_type == PAGE_DATA) {
        pq_thrift_field_struct_begin(&t, 5);
        pq_thrift_field_i32(&t, 1, (int32_t)num_values);
        pq_thrift_field_i32(&t, 2, encoding);
        pq_thrift_field_i32(&t, 3, ENC_RLE);
        pq_thrift_field_i32(&t, 4, ENC_RLE);
        pq_thrift_struct_end(&t);
    } else {
        pq_thrift_field_struct_begin(&t, 7);
        pq_thrift_field_i32(&t, 1, (int32_t)num_values);
        pq_thrift_field_i32(&t, 2, encoding);
        pq_thrift_struct_end(&t);
    }
    pq_thrift_struct_end(&t);
    st = pq_thrift_status(&t);
    if (st != ST_OK)
        return st;
    if (m->direct) {
        st = emit(m->direct, e->hdr.data, e->hdr.len, err);
        if (st == ST_OK)
            st = emit(m->direct, data, clen, err);
    } else {
        st = buf_append(&m->out, e->hdr.data, e->hdr.len, err);
        if (st == ST_OK)
            st = buf_append(&m->out, data, clen, err);
    }
    if (st != ST_OK)
        return st;
    m->total_uncompressed += e->hdr.len + n;
    m->total_compressed += e->hdr.len + clen;
    return ST_OK;
}

/* a[0, alen) == b[0, blen), without a call. */
static inline int same_bytes(const uint8_t *a, const uint8_t *b, size_t alen, size_t blen)
{
    return alen == blen && bytes_equal(a, b, alen);
}

/* Builds the dictionary of a chunk and decides whether to use it; on yes, e->dict
 * holds the entries and e->idx the index of every non-null value. */
static status choose_dict(encoder *e, const colstate *c, int *use, errinfo *err)
{
    *use = 0;
    if (c->ptype == T_BOOLEAN || c->nvalues < 2)
        return ST_OK;
    if (e->idx_alloc < c->nvalues) {
        size_t n = e->idx_alloc ? e->idx_alloc : 1024;
        while (n < c->nvalues)
            n *= 2;
        uint32_t *p = realloc(e->idx, n * sizeof *p);
        if (!p)
            return err_set(err, ST_NOMEM, "out of memory for %zu dictionary indices", n);
        e->idx = p;
        e->idx_alloc = n;
    }
    pq_dict_reset(&e->dict);
    const uint8_t *base = (const uint8_t *)c->values.data;
    size_t entry_plain = c->ptype == T_BYTE_ARRAY ? 0 : fixed_size(c->ptype);
    size_t max_distinct = c->nvalues / 2, dict_bytes = 0, pos = 0, prev_off = 0, prev_len = 0;
    size_t probe = PQ_DICT_PROBE;
    for (size_t i = 0; i < c->nvalues; i++) {
        size_t off, len;
        if (i == probe) {
            if (pq_dict_hopeless(i, e->dict.n))
                return ST_OK;
            probe *= 2;
        }
        if (c->ptype == T_BYTE_ARRAY) {
            uint32_t l32;
            memcpy(&l32, base + pos, 4);
            off = pos + 4;
            len = l32;
            pos = off + len;
        } else {
            len = stored_size(c);
            off = i * len;
        }
        /* a run of equal values (a run id, a report id on each of its records) is
         * looked up once: the entry is the previous value's */
        if (i > 0 && same_bytes(base + off, base + prev_off, len, prev_len)) {
            e->idx[i] = e->idx[i - 1];
            prev_off = off;
            continue;
        }
        prev_off = off;
        prev_len = len;
        size_t before = e->dict.n;
        status st = pq_dict_insert(&e->dict, base, off, (uint32_t)len, &e->idx[i], err);
        if (st != ST_OK)
            return st;
        if (e->dict.n != before) {
            dict_bytes += entry_plain ? entry_plain : 4 + len;
            if (e->dict.n > max_distinct || dict_bytes > PQ_DICT_MAX_BYTES)
                return ST_OK;
        }
    }
    size_t plain_bytes =
        c->ptype == T_BYTE_ARRAY ? c->values.len : c->nvalues * fixed_size(c->ptype);
    *use = pq_dict_worth(c->nvalues, e->dict.n, dict_bytes, plain_bytes);
    return ST_OK;
}

static status write_dict_page(const pq_writer *w, encoder *e, const colstate *c, chunkmeta *m,
                              errinfo *err)
{
    buf_reset(&e->page);
    const uint8_t *base = (const uint8_t *)c->values.data;
    status st = ST_OK;
    for (size_t i = 0; i < e->dict.n && st == ST_OK; i++) {
        const pq_dict_entry *d = &e->dict.ent[i];
        if (c->ptype == T_BYTE_ARRAY) {
            st = buf_append(&e->page, base + d->off - 4, 4 + (size_t)d->len, err);
        } else if (c->ptype == T_INT96) {
            int64_t us;
            uint8_t b[12];
            memcpy(&us, base + d->off, 8);
            int96_from_micros(us, b);
            st = buf_append(&e->page, b, 12, err);
        } else {
            st = buf_append(&e->page, base + d->off, d->len, err);
        }
    }
    if (st != ST_OK)
        return st;
    return write_page(w, e, m, PAGE_DICTIONARY, e->dict.n, ENC_PLAIN, err);
}

/* The PLAIN values [v0, v1) of a data page; s0/s1 are byte offsets for strings. */
static status plain_values(encoder *e, const colstate *c, size_t v0, size_t v1, size_t s0,
                           size_t s1, errinfo *err)
{
    const uint8_t *base = (const uint8_t *)c->values.data;
    if (v1 == v0)
        return ST_OK; /* an all-null page; base may be NULL */
    switch (c->ptype) {
    case T_BOOLEAN:
        return pq_plain_bools(&e->page, base + v0, v1 - v0, err);
    case T_INT32:
        return buf_append(&e->page, base + v0 * 4, (v1 - v0) * 4, err);
    case T_INT64:
        return buf_append(&e->page, base + v0 * 8, (v1 - v0) * 8, err);
    case T_INT96: {
        status st = buf_reserve(&e->page, (v1 - v0) * 12, err);
        if (st != ST_OK)
            return st;
        uint8_t *p = (uint8_t *)e->page.data + e->page.len;
        for (size_t i = v0; i < v1; i++, p += 12) {
            int64_t us;
            memcpy(&us, base + i * 8, 8);
            int96_from_micros(us, p);
        }
        e->page.len += (v1 - v0) * 12;
        e->page.data[e->page.len] = '\0';
        return ST_OK;
    }
    case T_BYTE_ARRAY:
        return buf_append(&e->page, base + s0, s1 - s0, err);
    }
    return err_set(err, ST_INTERNAL, "no PLAIN encoding for physical type %d", c->ptype);
}

static status write_data_pages(const pq_writer *w, encoder *e, const colstate *c, chunkmeta *m,
                               int dict, errinfo *err)
{
    const uint8_t *base = (const uint8_t *)c->values.data;
    const uint8_t *defs = (const uint8_t *)c->defs.data;
    int optional = !c->def->required;
    int width = dict ? pq_dict_index_width(e->dict.n) : 0;
    size_t fixed = c->ptype == T_BOOLEAN ? 0 : fixed_size(c->ptype);
    size_t nrows = w->rg_rows, row = 0, v = 0, soff = 0;
    uint64_t limit_bits = (uint64_t)w->opt.page_bytes * 8;
    status st;
    while (row < nrows) {
        size_t r0 = row, v0 = v, s0 = soff;
        uint64_t bits = 0;
        while (row < nrows && (row == r0 || bits < limit_bits)) {
            if (optional)
                bits += 1;
            if (!optional || defs[row]) {
                if (dict) {
                    bits += (uint64_t)width;
                } else if (c->ptype == T_BYTE_ARRAY) {
                    uint32_t l32;
                    memcpy(&l32, base + soff, 4);
                    soff += 4 + (size_t)l32;
                    bits += (4 + (uint64_t)l32) * 8;
                } else {
                    bits += fixed ? fixed * 8 : 1;
                }
                v++;
            }
            row++;
        }
        buf_reset(&e->page);
        if (optional) {
            uint8_t zero4[4] = {0};
            st = buf_append(&e->page, zero4, 4, err);
            if (st == ST_OK)
                st = pq_rle_encode_u8(&e->page, defs + r0, row - r0, 1, err);
            if (st != ST_OK)
                return st;
            uint32_t len = (uint32_t)(e->page.len - 4);
            memcpy(e->page.data, &len, 4);
        }
        if (dict) {
            uint8_t wb = (uint8_t)width;
            st = buf_append(&e->page, &wb, 1, err);
            if (st == ST_OK)
                st = pq_rle_encode_u32(&e->page, e->idx + v0, v - v0, width, err);
        } else {
            st = plain_values(e, c, v0, v, s0, soff, err);
        }
        if (st != ST_OK)
            return st;
        st = write_page(w, e, m, PAGE_DATA, row - r0, dict ? ENC_RLE_DICTIONARY : ENC_PLAIN, err);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

/* Encodes column i of the row group into its chunk. Reads the writer and the
 * column, writes only the chunk and e (and the sink, for a direct chunk on the
 * caller's thread): chunks are encoded in parallel. */
static status write_chunk(const pq_writer *w, encoder *e, size_t i, errinfo *err)
{
    const colstate *c = &w->c[i];
    chunkmeta *m = &w->meta[i];
    int dict = 0;
    status st = choose_dict(e, c, &dict, err);
    if (st == ST_OK && dict) {
        m->dict = 1;
        st = write_dict_page(w, e, c, m, err);
    }
    if (st != ST_OK)
        return st;
    m->data_rel = m->total_compressed;
    return write_data_pages(w, e, c, m, dict, err);
}

static void stat_bytes(const colstate *c, int64_t v, uint8_t out[8], size_t *n)
{
    switch (c->ptype) {
    case T_BOOLEAN:
        out[0] = (uint8_t)(v != 0);
        *n = 1;
        return;
    case T_INT32: {
        int32_t x = (int32_t)v;
        memcpy(out, &x, 4);
        *n = 4;
        return;
    }
    default:
        memcpy(out, &v, 8);
        *n = 8;
        return;
    }
}

static void encode_stats(pq_thrift *t, const colstate *c)
{
    pq_thrift_field_struct_begin(t, 12);
    int minmax = c->has_minmax && c->ptype != T_INT96;
    const uint8_t *base = (const uint8_t *)c->values.data;
    if (minmax && c->ptype == T_BYTE_ARRAY &&
        (c->smin_len > STATS_MAX_STRING || c->smax_len > STATS_MAX_STRING))
        minmax = 0;
    uint8_t mn[8], mx[8];
    size_t mnl = 0, mxl = 0;
    if (minmax && c->ptype != T_BYTE_ARRAY) {
        stat_bytes(c, c->imin, mn, &mnl);
        stat_bytes(c, c->imax, mx, &mxl);
    }
    /* The deprecated fields hold signed-order bounds: they agree with the type's
     * order for the signed integers and timestamps only. */
    if (minmax && (c->ptype == T_INT32 || c->ptype == T_INT64)) {
        pq_thrift_field_binary(t, 1, mx, mxl);
        pq_thrift_field_binary(t, 2, mn, mnl);
    }
    pq_thrift_field_i64(t, 3, (int64_t)c->nnull);
    if (minmax) {
        if (c->ptype == T_BYTE_ARRAY) {
            pq_thrift_field_binary(t, 5, base + c->smax_off, c->smax_len);
            pq_thrift_field_binary(t, 6, base + c->smin_off, c->smin_len);
        } else {
            pq_thrift_field_binary(t, 5, mx, mxl);
            pq_thrift_field_binary(t, 6, mn, mnl);
        }
    }
    pq_thrift_struct_end(t);
}

static status encode_row_group(pq_writer *w, errinfo *err)
{
    pq_thrift t;
    pq_thrift_init(&t, &w->rowgroups, err);
    uint64_t total_u = 0, total_c = 0;
    pq_thrift_struct_begin(&t);
    pq_thrift_field_list_begin(&t, 1, PQ_TT_STRUCT, w->ncols);
    for (size_t i = 0; i < w->ncols; i++) {
        const colstate *c = &w->c[i];
        const chunkmeta *m = &w->meta[i];
        total_u += m->total_uncompressed;
        total_c += m->total_compressed;
        pq_thrift_struct_begin(&t); /* ColumnChunk */
        pq_thrift_field_i64(&t, 2, 0);
        pq_thrift_field_struct_begin(&t, 3); /* ColumnMetaData */
        pq_thrift_field_i32(&t, 1, c->ptype);
        pq_thrift_field_list_begin(&t, 2, PQ_TT_I32, m->dict ? 3 : 2);
        pq_thrift_i32(&t, ENC_PLAIN);
        pq_thrift_i32(&t, ENC_RLE);
        if (m->dict)
            pq_thrift_i32(&t, ENC_RLE_DICTIONARY);
        pq_thrift_field_list_begin(&t, 3, PQ_TT_BINARY, 1);
        pq_thrift_binary(&t, c->def->name, strlen(c->def->name));
        pq_thrift_field_i32(&t, 4, pq_codec_thrift_id(w->opt.codec));
        pq_thrift_field_i64(&t, 5, (int64_t)w->rg_rows);
        pq_thrift_field_i64(&t, 6, (int64_t)m->total_uncompressed);
        pq_thrift_field_i64(&t, 7, (int64_t)m->total_compressed);
        pq_thrift_field_i64(&t, 9, (int64_t)m->data_page_offset);
        if (m->dict)
            pq_thrift_field_i64(&t, 11, (int64_t)m->dict_page_offset);
        encode_stats(&t, c);
        pq_thrift_struct_end(&t); /* ColumnMetaData */
        pq_thrift_struct_end(&t); /* ColumnChunk */
    }
    pq_thrift_field_i64(&t, 2, (int64_t)total_u);
    pq_thrift_field_i64(&t, 3, (int64_t)w->rg_rows);
    pq_thrift_field_i64(&t, 5, (int64_t)w->meta[0].start);
    pq_thrift_field_i64(&t, 6, (int64_t)total_c);
    if (w->nrowgroups <= INT16_MAX)
        pq_thrift_field_i16(&t, 7, (int16_t)w->nrowgroups);
    pq_thrift_struct_end(&t);
    return pq_thrift_status(&t);
}

static void reset_columns(pq_writer *w)
{
    for (size_t i = 0; i < w->ncols; i++) {
        colstate *c = &w->c[i];
        buf_reset(&c->values);
        buf_reset(&c->defs);
        c->nvalues = c->nnull = 0;
        c->has_minmax = 0;
    }
    w->rg_rows = 0;
    w->buffered = 0;
}

/* The column chunks of a row group being encoded by several threads: each takes
 * the next chunk not taken; the caller's thread takes chunks too and hands finished
 * ones to the sink in column order, so the sink is called on the caller's thread
 * only and the file is the same whatever the number of threads. */
typedef struct flush_job {
    pq_writer *w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next;  /* the next chunk to take */
    int stop;     /* a chunk failed or the sink did: take no more */
    int threaded; /* helpers run: take chunks under mu */
} flush_job;

/* The next chunk to encode, or ncols when there is none. */
static size_t take_chunk(flush_job *j)
{
    size_t i = j->w->ncols;
    if (j->threaded)
        pthread_mutex_lock(&j->mu);
    if (!j->stop && j->next < j->w->ncols)
        i = j->next++;
    if (j->threaded)
        pthread_mutex_unlock(&j->mu);
    return i;
}

static void encode_chunk(flush_job *j, encoder *e, size_t i)
{
    chunkmeta *m = &j->w->meta[i];
    status st = write_chunk(j->w, e, i, &m->err);
    if (j->threaded)
        pthread_mutex_lock(&j->mu);
    m->st = st;
    m->done = 1;
    if (st != ST_OK)
        j->stop = 1;
    if (j->threaded) {
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
}

static void *flush_helper(void *arg)
{
    flush_job *j = arg;
    encoder e;
    encoder_init(&e, j->w->opt.codec);
    for (size_t i; (i = take_chunk(j)) < j->w->ncols;)
        encode_chunk(j, &e, i);
    /* a helper's memory goes with it: between row groups only the caller's
     * encoder is kept */
    encoder_dispose(&e);
    return NULL;
}

/* Hands encoded chunk i to the sink (a direct chunk is there already) and sets its
 * offsets; frees its pages. */
static status emit_chunk(pq_writer *w, size_t i, errinfo *err)
{
    chunkmeta *m = &w->meta[i];
    status st = ST_OK;
    if (!m->direct) {
        m->start = w->offset;
        st = emit(w, m->out.data, m->out.len, err);
        buf_dispose(&m->out);
    }
    m->dict_page_offset = m->dict ? m->start : 0;
    m->data_page_offset = m->start + m->data_rel;
    return st;
}

/* The first failed chunk from i on, as the row group's failure. */
static status chunk_failure(pq_writer *w, size_t i, errinfo *err)
{
    for (; i < w->ncols; i++) {
        const chunkmeta *m = &w->meta[i];
        if (m->done && m->st != ST_OK) {
            if (err)
                *err = m->err;
            err_prefix(err, "parquet column '%s'", w->c[i].def->name);
            return m->st;
        }
    }
    return err_set(err, ST_INTERNAL, "parquet row group stopped before every column was written");
}

static status flush_row_group(pq_writer *w, errinfo *err)
{
    if (w->rg_rows == 0)
        return ST_OK;
    for (size_t i = 0; i < w->ncols; i++) {
        chunkmeta *m = &w->meta[i];
        buf_dispose(&m->out);
        memset(m, 0, sizeof *m);
        buf_init(&m->out, 0);
    }
    flush_job j = {.w = w};
    pthread_t helper[MAX_AUTO_THREADS * 4];
    int nhelpers = 0, want = w->threads - 1;
    if (want > (int)(sizeof helper / sizeof helper[0]))
        want = (int)(sizeof helper / sizeof helper[0]);
    if ((size_t)want > w->ncols - 1)
        want = (int)(w->ncols - 1);
    if (want > 0 && w->buffered >= PARALLEL_MIN_BYTES) {
        pthread_mutex_init(&j.mu, NULL);
        pthread_cond_init(&j.cv, NULL);
        j.threaded = 1;
        /* helpers block every signal, so that a signal reaches the caller's thread
         * (the run's stop flag, a poll it interrupts) as if there were none; a
         * helper that cannot start leaves its share to the others */
        sigset_t all, old;
        sigfillset(&all);
        int masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
        while (nhelpers < want && pthread_create(&helper[nhelpers], NULL, flush_helper, &j) == 0)
            nhelpers++;
        if (masked)
            pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    status st = ST_OK;
    size_t emitted = 0;
    while (emitted < w->ncols) {
        if (j.threaded)
            pthread_mutex_lock(&j.mu);
        int ready = w->meta[emitted].done, stop = j.stop;
        size_t mine = w->ncols;
        if (!ready && !stop && j.next < w->ncols)
            mine = j.next++;
        else if (!ready && !stop && j.threaded)
            pthread_cond_wait(&j.cv, &j.mu); /* a helper has it */
        if (j.threaded)
            pthread_mutex_unlock(&j.mu);
        if (mine < w->ncols) {
            /* the next chunk to hand over goes straight to the sink: no copy, and
             * no memory for its pages */
            if (mine == emitted) {
                w->meta[mine].direct = w;
                w->meta[mine].start = w->offset;
            }
            encode_chunk(&j, &w->enc, mine);
            continue;
        }
        if (!ready) {
            if (stop)
                break;
            continue;
        }
        if (w->meta[emitted].st != ST_OK)
            break;
        if ((st = emit_chunk(w, emitted, err)) != ST_OK)
            break;
        emitted++;
    }
    if (j.threaded) {
        pthread_mutex_lock(&j.mu);
        j.stop = 1;
        pthread_mutex_unlock(&j.mu);
        for (int k = 0; k < nhelpers; k++)
            pthread_join(helper[k], NULL);
        pthread_cond_destroy(&j.cv);
        pthread_mutex_destroy(&j.mu);
    }
    if (st == ST_OK && emitted < w->ncols)
        st = chunk_failure(w, emitted, err);
    for (size_t i = 0; i < w->ncols; i++)
        buf_dispose(&w->meta[i].out);
    if (st == ST_OK)
        st = encode_row_group(w, err);
    if (st != ST_OK)
        return st;
    w->nrowgroups++;
    reset_columns(w);
    return ST_OK;
}

status pq_writer_end_row(pq_writer *w, errinfo *err)
{
    status st = check_open(w, err);
    if (st != ST_OK)
        return st;
    if (w->cur != w->ncols)
        return err_set(err, ST_INTERNAL,
                       "row %" PRIu64 " ended after %zu of %zu columns (next: '%s')", w->rows,
                       w->cur, w->ncols, w->c[w->cur].def->name);
    w->cur = 0;
    w->rows++;
    w->rg_rows++;
    if (w->buffered >= w->opt.row_group_bytes || w->rg_rows >= w->opt.row_group_rows) {
        st = flush_row_group(w, err);
        if (st != ST_OK)
            w->state = W_FAILED;
    }
    return st;
}

static void encode_schema(pq_thrift *t, const pq_writer *w)
{
    pq_thrift_field_list_begin(t, 2, PQ_TT_STRUCT, w->ncols + 1);
    pq_thrift_struct_begin(t);
    pq_thrift_field_string(t, 4, "schema");
    pq_thrift_field_i32(t, 5, (int32_t)w->ncols);
    pq_thrift_struct_end(t);
    for (size_t i = 0; i < w->ncols; i++) {
        const colstate *c = &w->c[i];
        pq_thrift_struct_begin(t);
        pq_thrift_field_i32(t, 1, c->ptype);
        pq_thrift_field_i32(t, 3, c->def->required ? REP_REQUIRED : REP_OPTIONAL);
        pq_thrift_field_string(t, 4, c->def->name);
        switch (c->def->type) {
        case PQ_STRING:
            pq_thrift_field_i32(t, 6, CT_UTF8);
            pq_thrift_field_struct_begin(t, 10);
            pq_thrift_field_struct_begin(t, 1); /* STRING */
            pq_thrift_struct_end(t);
            pq_thrift_struct_end(t);
            break;
        case PQ_INT32:
        case PQ_INT64:
            pq_thrift_field_i32(t, 6, c->def->type == PQ_INT32 ? CT_INT_32 : CT_INT_64);
            pq_thrift_field_struct_begin(t, 10);
            pq_thrift_field_struct_begin(t, 10); /* INTEGER */
            pq_thrift_field_i8(t, 1, c->def->type == PQ_INT32 ? 32 : 64);
            pq_thrift_field_bool(t, 2, 1);
            pq_thrift_struct_end(t);
            pq_thrift_struct_end(t);
            break;
        case PQ_TIMESTAMP:
            if (c->ptype == T_INT96)
                break; /* the legacy layout has no annotation */
            pq_thrift_field_i32(t, 6, CT_TIMESTAMP_MICROS);
            pq_thrift_field_struct_begin(t, 10);
            pq_thrift_field_struct_begin(t, 8); /* TIMESTAMP */
            pq_thrift_field_bool(t, 1, 1);      /* isAdjustedToUTC */
            pq_thrift_field_struct_begin(t, 2); /* unit */
            pq_thrift_field_struct_begin(t, 2); /* MICROS */
            pq_thrift_struct_end(t);
            pq_thrift_struct_end(t);
            pq_thrift_struct_end(t);
            pq_thrift_struct_end(t);
            break;
        case PQ_BOOLEAN:
            break;
        }
        pq_thrift_struct_end(t);
    }
}

status pq_writer_close(pq_writer *w, errinfo *err)
{
    status st = check_open(w, err);
    if (st != ST_OK)
        return st;
    if (w->cur != 0) {
        return err_set(err, ST_INTERNAL,
                       "parquet writer closed in the middle of row %" PRIu64
                       " (%zu of %zu columns given)",
                       w->rows, w->cur, w->ncols);
    }
    buf footer;
    buf_init(&footer, 0);
    st = flush_row_group(w, err);
    if (st != ST_OK)
        goto out;
    pq_thrift t;
    pq_thrift_init(&t, &footer, err);
    pq_thrift_struct_begin(&t);
    pq_thrift_field_i32(&t, 1, 1);
    encode_schema(&t, w);
    pq_thrift_field_i64(&t, 3, (int64_t)w->rows);
    pq_thrift_field_list_begin(&t, 4, PQ_TT_STRUCT, w->nrowgroups);
    st = pq_thrift_status(&t);
    if (st != ST_OK)
        goto out;
    st = buf_append(&footer, w->rowgroups.data, w->rowgroups.len, err);
    if (st != ST_OK)
        goto out;
    if (w->opt.nkv > 0) {
        pq_thrift_field_list_begin(&t, 5, PQ_TT_STRUCT, w->opt.nkv); /* key_value_metadata */
        for (size_t i = 0; i < w->opt.nkv; i++) {
            pq_thrift_struct_begin(&t); /* KeyValue */
            pq_thrift_field_string(&t, 1, w->opt.kv[2 * i]);
            pq_thrift_field_string(&t, 2, w->opt.kv[2 * i + 1]);
            pq_thrift_struct_end(&t);
        }
    }
    pq_thrift_field_string(&t, 6, w->created_by);
    pq_thrift_field_list_begin(&t, 7, PQ_TT_STRUCT, w->ncols);
    for (size_t i = 0; i < w->ncols; i++) {
        pq_thrift_struct_begin(&t);          /* ColumnOrder */
        pq_thrift_field_struct_begin(&t, 1); /* TYPE_ORDER */
        pq_thrift_struct_end(&t);
        pq_thrift_struct_end(&t);
    }
    pq_thrift_struct_end(&t);
    st = pq_thrift_status(&t);
    if (st != ST_OK)
        goto out;
    if (footer.len > UINT32_MAX) {
        st = err_set(err, ST_TOO_LARGE, "parquet footer of %zu bytes is too large", footer.len);
        goto out;
    }
    uint32_t flen = (uint32_t)footer.len;
    uint8_t tail[8];
    memcpy(tail, &flen, 4);
    memcpy(tail + 4, "PAR1", 4);
    st = emit(w, footer.data, footer.len, err);
    if (st == ST_OK)
        st = emit(w, tail, 8, err);
out:
    buf_dispose(&footer);
    w->state = st == ST_OK ? W_CLOSED : W_FAILED;
    return st;
}

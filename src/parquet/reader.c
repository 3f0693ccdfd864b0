/* The Parquet reader: see reader.h. The footer is decoded once (Thrift compact
 * protocol, apache/thrift doc/specs/thrift-compact-protocol.md) into a schema and a
 * table of column chunks; rows are then produced by one cursor per selected column,
 * each holding its chunk's dictionary and its current data page. */
#include "parquet/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parquet/codec.h"
#include "util/buf.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the Parquet reader assumes a little-endian machine"
#endif

/* parquet.thrift enums */
enum { T_BOOLEAN = 0, T_INT32 = 1, T_INT64 = 2, T_INT96 = 3, T_BYTE_ARRAY = 6 };
enum { ENC_PLAIN = 0, ENC_PLAIN_DICTIONARY = 2, ENC_RLE = 3, ENC_RLE_DICTIONARY = 8 };
enum { PAGE_DATA = 0, PAGE_INDEX = 1, PAGE_DICTIONARY = 2 };
enum { REP_REQUIRED = 0, REP_OPTIONAL = 1 };
enum { CT_UTF8 = 0, CT_TIMESTAMP_MILLIS = 9, CT_TIMESTAMP_MICROS = 10, CT_INT_32 = 17 };

/* compact protocol type ids */
enum {
    TT_STOP = 0,
    TT_TRUE = 1,
    TT_FALSE = 2,
    TT_BYTE = 3,
    TT_I16 = 4,
    TT_I32 = 5,
    TT_I64 = 6,
    TT_DOUBLE = 7,
    TT_BINARY = 8,
    TT_LIST = 9,
    TT_SET = 10,
    TT_MAP = 11,
    TT_STRUCT = 12
};

#define THRIFT_DEPTH_MAX 32
#define CHUNKS_MAX ((size_t)1 << 18) /* row groups x columns in one footer */
#define MEM_MAX ((size_t)96 << 20)   /* pages and dictionaries held by one reader */
#define HEADER_READ 8192
#define HEADER_READ_MAX ((size_t)256 << 10)
#define JULIAN_UNIX_EPOCH 2440588
#define MICROS_PER_DAY INT64_C(86400000000)
#define NANOS_PER_DAY UINT64_C(86400000000000)
#define INT96_DAYS_MAX INT64_C(100000000)

/* ---- Thrift compact decoding over a byte range ---- */

typedef struct tdec {
    const uint8_t *p, *end;
    int depth;
    int bad;       /* the bytes do not form what was expected */
    int truncated; /* they ran out before the end of a value */
} tdec;

static int t_fail(tdec *d, int truncated)
{
    d->bad = 1;
    if (truncated)
        d->truncated = 1;
    return -1;
}

static int t_varint(tdec *d, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (d->p >= d->end)
            return t_fail(d, 1);
        uint8_t b = *d->p++;
        if (shift == 63 && (b & 0x7e))
            return t_fail(d, 0);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return t_fail(d, 0);
}

static int t_i64(tdec *d, int64_t *out)
{
    uint64_t u;
    if (t_varint(d, &u) != 0)
        return -1;
    *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

static int t_binary(tdec *d, const uint8_t **p, size_t *n)
{
    uint64_t len;
    if (t_varint(d, &len) != 0)
        return -1;
    if (len > (uint64_t)(d->end - d->p))
        return t_fail(d, 1);
    *p = d->p;
    *n = (size_t)len;
    d->p += len;
    return 0;
}

/* A list or set header: element type and count, checked against the bytes left
 * (every element takes at least one byte). */
static int t_list(tdec *d, int *etype, uint32_t *n)
{
    if (d->p >= d->end)
        return t_fail(d, 1);
    uint8_t h = *d->p++;
    uint64_t size = h >> 4;
    if (size == 15 && t_varint(d, &size) != 0)
        return -1;
    *etype = h & 0x0f;
    if (size > (uint64_t)(d->end - d->p))
        return t_fail(d, 1);
    *n = (uint32_t)size;
    return 0;
}

/* The next field of the struct being read: 1 with *id and *type, 0 at its stop. */
static int t_field(tdec *d, int16_t *last, int16_t *id, int *type)
{
    if (d->p >= d->end)
        return t_fail(d, 1);
    uint8_t h = *d->p++;
    *type = h & 0x0f;
    if (*type == TT_STOP)
        return 0;
    int delta = h >> 4;
    if (delta) {
        *id = (int16_t)(*last + delta);
    } else {
        int64_t v;
        if (t_i64(d, &v) != 0)
            return -1;
        if (v < INT16_MIN || v > INT16_MAX)
            return t_fail(d, 0);
        *id = (int16_t)v;
    }
    *last = *id;
    if (*type > TT_STRUCT)
        return t_fail(d, 0);
    return 1;
}

static int t_skip(tdec *d, int type, int in_list);

static int t_skip_struct(tdec *d)
{
    if (++d->depth > THRIFT_DEPTH_MAX)
        return t_fail(d, 0);
    int16_t last = 0, id;
    int type, r;
    while ((r = t_field(d, &last, &id, &type)) == 1)
        if (t_skip(d, type, 0) != 0)
            return -1;
    d->depth--;
    return r;
}

static int t_skip(tdec *d, int type, int in_list)
{
    uint64_t u;
    const uint8_t *p;
    size_t n;
    switch (type) {
    case TT_TRUE:
    case TT_FALSE:
        if (!in_list)
            return 0;                 /* the value is in the field header */
        __attribute__((fallthrough)); /* a list element bool is one byte */
    case TT_BYTE:
        if (d->p >= d->end)
            return t_fail(d, 1);
        d->p++;
        return 0;
    case TT_I16:
    case TT_I32:
    case TT_I64:
        return t_varint(d, &u);
    case TT_DOUBLE:
        if (d->end - d->p < 8)
            return t_fail(d, 1);
        d->p += 8;
        return 0;
    case TT_BINARY:
        return t_binary(d, &p, &n);
    case TT_LIST:
    case TT_SET: {
        int et;
        uint32_t cnt;
        if (t_list(d, &et, &cnt) != 0)
            return -1;
        if (++d->depth > THRIFT_DEPTH_MAX)
            return t_fail(d, 0);
        for (uint32_t i = 0; i < cnt; i++)
            if (t_skip(d, et, 1) != 0)
                return -1;
        d->depth--;
        return 0;
    }
    case TT_MAP: {
        if (t_varint(d, &u) != 0)
            return -1;
        if (u == 0)
            return 0;
        if (d->p >= d->end)
            return t_fail(d, 1);
        uint8_t kv = *d->p++;
        if (u > (uint64_t)(d->end - d->p))
            return t_fail(d, 1);
        if (++d->depth > THRIFT_DEPTH_MAX)
            return t_fail(d, 0);
        for (uint64_t i = 0; i < u; i++)
            if (t_skip(d, kv >> 4, 1) != 0 || t_skip(d, kv & 0x0f, 1) != 0)
                return -1;
        d->depth--;
        return 0;
    }
    case TT_STRUCT:
        return t_skip_struct(d) < 0 ? -1 : 0;
    default:
        return t_fail(d, 0);
    }
}

/* Reads an integer field of any integer wire type into *out. */
static int t_int_field(tdec *d, int type, int64_t *out)
{
    if (type != TT_BYTE && type != TT_I16 && type != TT_I32 && type != TT_I64)
        return t_fail(d, 0);
    if (type == TT_BYTE) {
        if (d->p >= d->end)
            return t_fail(d, 1);
        *out = (int8_t)*d->p++;
        return 0;
    }
    return t_i64(d, out);
}

/* ---- the decoded footer ---- */

typedef struct chunk {
    int64_t num_values, compressed, data_off, dict_off; /* dict_off 0: no dictionary */
    int codec;
} chunk;

typedef struct rowgroup {
    int64_t rows;
    chunk *chunks; /* ncols */
} rowgroup;

/* The RLE/bit-packed hybrid (Encodings.md), over a bounded range. */
typedef struct rle {
    const uint8_t *p, *end;
    int width;
    uint32_t rep, val;       /* an RLE run: rep more copies of val */
    uint32_t packed;         /* values left in a bit-packed run */
    const uint8_t *bp;       /* the run's bytes */
    uint64_t bitoff, bitend; /* bit position in bp, and its end */
} rle;

typedef struct colcur {
    const chunk *ch;
    int64_t pos, end;  /* next page header and the chunk's end, file offsets */
    int64_t left;      /* values (with nulls) left in the chunk */
    int seen_data;     /* a data page came: a dictionary may no longer */
    buf raw, page;     /* the page as read, and decompressed */
    buf dict;          /* the dictionary page, decompressed */
    int64_t *dict_i;   /* fixed-size dictionary values */
    uint32_t *dict_at; /* byte arrays: offset of each entry's bytes in dict */
    uint32_t *dict_len;
    uint32_t ndict;
    int has_dict;
    size_t held; /* bytes this cursor holds, counted in the reader's budget */
    /* the current data page */
    int64_t page_left;
    rle defs;
    int dict_enc;
    rle idx;
    const uint8_t *vp, *vend;
    uint64_t bitpos; /* PLAIN booleans */
} colcur;

typedef struct colinfo {
    pq_column col;
    int ptype;
} colinfo;

struct pq_reader {
    char *label;
    int fd; /* -1 over memory */
    const uint8_t *mem;
    int64_t size, data_end; /* file size; where the footer starts */
    colinfo *cols;
    size_t ncols;
    rowgroup *rgs;
    size_t nrg;
    int64_t rows;
    unsigned char *want;
    colcur *cur;
    size_t rg;       /* current row group + 1; 0 before the first */
    int64_t rg_left; /* rows left in the current row group */
    size_t held;     /* bytes of pages and dictionaries held, in all */
    status failed;   /* the first error, repeated */
    char failed_msg[ERR_MSG_MAX];
};

static status bad(pq_reader *r, errinfo *err, status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static status bad(pq_reader *r, errinfo *err, status code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(r->failed_msg, sizeof r->failed_msg, "%.300s: %.400s", r->label, msg);
    r->failed = code;
    return err_set(err, code, "%s", r->failed_msg);
}

/* Reads len bytes at off into out (replacing its contents). */
static status read_at(pq_reader *r, int64_t off, size_t len, buf *out, errinfo *err)
{
    if (off < 0 || len > (uint64_t)r->size || off > r->size - (int64_t)len)
        return bad(r, err, ST_DATA, "a read of %zu bytes at offset %lld runs past the file", len,
                   (long long)off);
    buf_reset(out);
    errinfo e = {0};
    if (buf_reserve(out, len, &e) != ST_OK)
        return bad(r, err, e.code, "%s", e.msg);
    if (r->mem) {
        if (len)
            memcpy(out->data, r->mem + off, len);
    } else {
        size_t got = 0;
        while (got < len) {
            ssize_t n = pread(r->fd, out->data + got, len - got, (off_t)(off + (int64_t)got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return bad(r, err, ST_IO, "cannot read %zu bytes at offset %lld: %s", len,
                           (long long)off, n < 0 ? strerror(errno) : "the file shrank");
            got += (size_t)n;
        }
    }
    out->len = len;
    out->data[len] = '\0';
    return ST_OK;
}

/* ---- footer ---- */

typedef struct schema_el {
    int type, type_set, rep, rep_set, converted, nchildren, ts_unit;
    const uint8_t *name;
    size_t name_len;
} schema_el;

/* LogicalType: only TIMESTAMP's unit matters here (1 millis, 2 micros, 3 nanos). */
static int parse_logical(tdec *d, int *ts_unit)
{
    if (++d->depth > THRIFT_DEPTH_MAX)
        return t_fail(d, 0);
    int16_t last = 0, id;
    int type, rc;
    while ((rc = t_field(d, &last, &id, &type)) == 1) {
        if (id == 8 && type == TT_STRUCT) { /* TIMESTAMP */
            int16_t l2 = 0, i2;
            int ty2, r2;
            while ((r2 = t_field(d, &l2, &i2, &ty2)) == 1) {
                if (i2 == 2 && ty2 == TT_STRUCT) { /* unit: a union of empty structs */
                    int16_t l3 = 0, i3;
                    int ty3, r3;
                    while ((r3 = t_field(d, &l3, &i3, &ty3)) == 1) {
                        if (ty3 == TT_STRUCT && i3 >= 1 && i3 <= 3)
                            *ts_unit = i3;
                        if (t_skip(d, ty3, 0) != 0)
                            return -1;
                    }
                    if (r3 < 0)
                        return -1;
                } else if (t_skip(d, ty2, 0) != 0) {
                    return -1;
                }
            }
            if (r2 < 0)
                return -1;
        } else if (t_skip(d, type, 0) != 0) {
            return -1;
        }
    }
    d->depth--;
    return rc < 0 ? -1 : 0;
}

static int parse_schema_el(tdec *d, schema_el *s)
{
    memset(s, 0, sizeof *s);
    s->converted = -1;
    int16_t last = 0, id;
    int type, rc;
    int64_t v;
    while ((rc = t_field(d, &last, &id, &type)) == 1) {
        if (id == 1 || id == 3 || id == 5 || id == 6) {
            if (t_int_field(d, type, &v) != 0)
                return -1;
            if (v < 0 || v > INT32_MAX)
                return t_fail(d, 0);
            if (id == 1)
                s->type = (int)v, s->type_set = 1;
            else if (id == 3)
                s->rep = (int)v, s->rep_set = 1;
            else if (id == 5)
                s->nchildren = (int)v;
            else
                s->converted = (int)v;
        } else if (id == 4 && type == TT_BINARY) {
            if (t_binary(d, &s->name, &s->name_len) != 0)
                return -1;
        } else if (id == 10 && type == TT_STRUCT) {
            if (parse_logical(d, &s->ts_unit) != 0)
                return -1;
        } else if (t_skip(d, type, 0) != 0) {
            return -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

static int parse_meta(tdec *d, chunk *c, int *ptype)
{
    int16_t last = 0, id;
    int type, rc;
    int64_t v;
    *ptype = -1;
    c->codec = -1;
    while ((rc = t_field(d, &last, &id, &type)) == 1) {
        if (id == 1 || id == 4 || id == 5 || id == 7 || id == 9 || id == 11) {
            if (t_int_field(d, type, &v) != 0)
                return -1;
            if (v < 0)
                return t_fail(d, 0);
            if (id == 1)
                *ptype = v > 100 ? 100 : (int)v;
            else if (id == 4)
                c->codec = v > 100 ? 100 : (int)v;
            else if (id == 5)
                c->num_values = v;
            else if (id == 7)
                c->compressed = v;
            else if (id == 9)
                c->data_off = v;
            else
                c->dict_off = v;
        } else if (t_skip(d, type, 0) != 0) {
            return -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

/* ColumnChunk: an external file_path is refused (set *external). */
static int parse_chunk(tdec *d, chunk *c, int *ptype, int *external, int *has_meta)
{
    int16_t last = 0, id;
    int type, rc;
    while ((rc = t_field(d, &last, &id, &type)) == 1) {
        if (id == 1 && type == TT_BINARY) {
            *external = 1;
            if (t_skip(d, type, 0) != 0)
                return -1;
        } else if (id == 3 && type == TT_STRUCT) {
            if (++d->depth > THRIFT_DEPTH_MAX)
                return t_fail(d, 0);
            if (parse_meta(d, c, ptype) != 0)
                return -1;
            d->depth--;
            *has_meta = 1;
        } else if (t_skip(d, type, 0) != 0) {
            return -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

static status parse_rowgroup(pq_reader *r, tdec *d, rowgroup *g, errinfo *err)
{
    int16_t last = 0, id;
    int type, rc;
    int have_cols = 0;
    g->rows = -1;
    while ((rc = t_field(d, &last, &id, &type)) == 1) {
        if (id == 1 && type == TT_LIST && !have_cols) {
            int et;
            uint32_t n;
            if (t_list(d, &et, &n) != 0)
                break;
            if (et != TT_STRUCT || n != r->ncols)
                return bad(r, err, ST_DATA, "a row group has %u column chunks for %zu columns", n,
                           r->ncols);
            for (uint32_t i = 0; i < n; i++) {
                int ptype = -1, external = 0, has_meta = 0;
                if (parse_chunk(d, &g->chunks[i], &ptype, &external, &has_meta) != 0)
                    break;
                if (external || !has_meta)
                    return bad(r, err, ST_DATA, "column %s: a chunk %s", r->cols[i].col.name,
                               external ? "lives in another file" : "has no metadata");
                if (ptype != r->cols[i].ptype)
                    return bad(r, err, ST_DATA, "column %s: a chunk's type %d is not the schema's",
                               r->cols[i].col.name, ptype);
                int codec = g->chunks[i].codec;
                if (codec != 0 && codec != 1 && codec != 6)
                    return bad(r, err, ST_DATA,
                               "column %s: compression codec %d is not one this reader knows "
                               "(none, snappy, zstd)",
                               r->cols[i].col.name, codec);
            }
            if (d->bad)
                break;
            have_cols = 1;
        } else if (id == 3) {
            if (t_int_field(d, type, &g->rows) != 0)
                break;
        } else if (t_skip(d, type, 0) != 0) {
            break;
        }
    }
    if (rc < 0 || d->bad)
        return bad(r, err, ST_DATA, "the footer's row groups cannot be decoded");
    if (!have_cols || g->rows < 0)
        return bad(r, err, ST_DATA, "a row group lacks its columns or its row count");
    return ST_OK;
}

static status set_column(pq_reader *r, size_t i, const schema_el *s, errinfo *err)
{
    colinfo *c = &r->cols[i];
    if (!s->name || s->name_len == 0)
        return bad(r, err, ST_DATA, "column %zu has no name", i + 1);
    char *name = strndup((const char *)s->name, s->name_len);
    if (!name)
        return bad(r, err, ST_NOMEM, "out of memory reading the schema");
    c->col.name = name;
    if (memchr(s->name, '\0', s->name_len))
        return bad(r, err, ST_DATA, "column %zu has an empty or unreadable name", i + 1);
    if (!s->type_set || s->nchildren != 0)
        return bad(r, err, ST_DATA, "column %s is not a flat column", name);
    if (!s->rep_set || (s->rep != REP_REQUIRED && s->rep != REP_OPTIONAL))
        return bad(r, err, ST_DATA, "column %s is repeated or has no repetition", name);
    c->col.required = s->rep == REP_REQUIRED;
    c->ptype = s->type;
    switch (s->type) {
    case T_BOOLEAN:
        c->col.type = PQ_BOOLEAN;
        return ST_OK;
    case T_INT32:
        if (s->converted != -1 && s->converted != CT_INT_32)
            break;
        c->col.type = PQ_INT32;
        return ST_OK;
    case T_INT64:
        if (s->converted == CT_TIMESTAMP_MICROS || s->ts_unit == 2) {
            if ((s->converted != -1 && s->converted != CT_TIMESTAMP_MICROS) ||
                (s->ts_unit && s->ts_unit != 2))
                break;
            c->col.type = PQ_TIMESTAMP;
            return ST_OK;
        }
        if (s->ts_unit || (s->converted != -1 && s->converted != 18 /* INT_64 */))
            break;
        c->col.type = PQ_INT64;
        return ST_OK;
    case T_INT96:
        c->col.type = PQ_TIMESTAMP;
        return ST_OK;
    case T_BYTE_ARRAY:
        c->col.type = PQ_STRING;
        return ST_OK;
    default:
        break;
    }
    return bad(r, err, ST_DATA,
               "column %s has a type this reader does not read (type %d, "
               "converted type %d)",
               name, s->type, s->converted);
}

static status parse_footer(pq_reader *r, const uint8_t *p, size_t n, errinfo *err)
{
    tdec d = {p, p + n, 0, 0, 0};
    int16_t last = 0, id;
    int type, rc;
    int have_schema = 0, have_rows = 0, have_rgs = 0;
    status st;
    while ((rc = t_field(&d, &last, &id, &type)) == 1) {
        if (id == 2 && type == TT_LIST && !have_schema) {
            int et;
            uint32_t cnt;
            if (t_list(&d, &et, &cnt) != 0)
                break;
            if (et != TT_STRUCT || cnt < 2 || cnt - 1 > PQ_READER_COLS_MAX)
                return bad(r, err, ST_DATA, "the schema has %u elements (1 to %d columns read)",
                           cnt, PQ_READER_COLS_MAX);
            schema_el root;
            if (parse_schema_el(&d, &root) != 0)
                break;
            if (root.nchildren < 0 || (uint32_t)root.nchildren != cnt - 1)
                return bad(r, err, ST_DATA, "the schema is not flat (root has %d children of %u)",
                           root.nchildren, cnt - 1);
            r->ncols = cnt - 1;
            r->cols = calloc(r->ncols, sizeof *r->cols);
            if (!r->cols)
                return bad(r, err, ST_NOMEM, "out of memory reading the schema");
            for (size_t i = 0; i < r->ncols; i++) {
                schema_el s;
                if (parse_schema_el(&d, &s) != 0)
                    break;
                if ((st = set_column(r, i, &s, err)) != ST_OK)
                    return st;
            }
            if (d.bad)
                break;
            have_schema = 1;
        } else if (id == 3) {
            if (t_int_field(&d, type, &r->rows) != 0)
                break;
            have_rows = 1;
        } else if (id == 4 && type == TT_LIST && have_schema && !have_rgs) {
            int et;
            uint32_t cnt;
            if (t_list(&d, &et, &cnt) != 0)
                break;
            if (et != TT_STRUCT || (cnt && r->ncols > CHUNKS_MAX / cnt))
                return bad(r, err, ST_DATA, "the footer lists %u row groups", cnt);
            r->rgs = calloc(cnt ? cnt : 1, sizeof *r->rgs);
            if (!r->rgs)
                return bad(r, err, ST_NOMEM, "out of memory reading the footer");
            for (uint32_t g = 0; g < cnt; g++) {
                r->rgs[g].chunks = calloc(r->ncols, sizeof(chunk));
                if (!r->rgs[g].chunks)
                    return bad(r, err, ST_NOMEM, "out of memory reading the footer");
                r->nrg = g + 1;
                if ((st = parse_rowgroup(r, &d, &r->rgs[g], err)) != ST_OK)
                    return st;
            }
            have_rgs = 1;
        } else if (t_skip(&d, type, 0) != 0) {
            break;
        }
    }
    if (rc != 0 || d.bad)
        return bad(r, err, ST_DATA, "the footer cannot be decoded (Thrift compact protocol)");
    if (!have_schema || !have_rows || !have_rgs)
        return bad(r, err, ST_DATA, "the footer lacks its schema, row count or row groups");
    int64_t sum = 0;
    for (size_t g = 0; g < r->nrg; g++) {
        const rowgroup *rg = &r->rgs[g];
        if (rg->rows > INT64_MAX - sum)
            return bad(r, err, ST_DATA, "the row groups' row counts overflow");
        sum += rg->rows;
        for (size_t i = 0; i < r->ncols; i++) {
            const chunk *c = &rg->chunks[i];
            int64_t start = c->dict_off ? c->dict_off : c->data_off;
            if (c->dict_off && c->dict_off >= c->data_off)
                return bad(r, err, ST_DATA, "column %s: its dictionary follows its data",
                           r->cols[i].col.name);
            if (start < 4 || c->compressed > r->data_end || start > r->data_end - c->compressed ||
                (rg->rows > 0 && c->data_off >= start + c->compressed))
                return bad(r, err, ST_DATA,
                           "column %s: a chunk's offsets (%lld + %lld bytes) lie outside the "
                           "file's data",
                           r->cols[i].col.name, (long long)start, (long long)c->compressed);
            if (c->num_values != rg->rows)
                return bad(r, err, ST_DATA, "column %s: a chunk holds %lld values for %lld rows",
                           r->cols[i].col.name, (long long)c->num_values, (long long)rg->rows);
        }
    }
    if (sum != r->rows || r->rows < 0)
        return bad(r, err, ST_DATA, "the footer says %lld rows but its row groups hold %lld",
                   (long long)r->rows, (long long)sum);
    return ST_OK;
}

static status open_common(pq_reader *r, errinfo *err)
{
    if (r->size < 12)
        return bad(r, err, ST_DATA, "not a Parquet file (%lld bytes)", (long long)r->size);
    buf b;
    buf_init(&b, 0);
    status st = read_at(r, 0, 4, &b, err);
    if (st == ST_OK && memcmp(b.data, "PAR1", 4) != 0)
        st = bad(r, err, ST_DATA, "not a Parquet file (no PAR1 at its start)");
    if (st == ST_OK)
        st = read_at(r, r->size - 8, 8, &b, err);
    uint32_t flen = 0;
    if (st == ST_OK) {
        memcpy(&flen, b.data, 4);
        if (memcmp(b.data + 4, "PAR1", 4) != 0)
            st = bad(r, err, ST_DATA, "not a Parquet file (no PAR1 at its end)");
        else if (flen > PQ_READER_FOOTER_MAX || (int64_t)flen > r->size - 12)
            st = bad(r, err, ST_DATA, "its footer length %u does not fit the file", flen);
    }
    if (st == ST_OK) {
        r->data_end = r->size - 8 - (int64_t)flen;
        st = read_at(r, r->data_end, flen, &b, err);
    }
    if (st == ST_OK)
        st = parse_footer(r, (const uint8_t *)b.data, b.len, err);
    buf_dispose(&b);
    if (st != ST_OK)
        return st;
    r->want = malloc(r->ncols);
    r->cur = calloc(r->ncols, sizeof *r->cur);
    if (!r->want || !r->cur)
        return bad(r, err, ST_NOMEM, "out of memory opening the file");
    memset(r->want, 1, r->ncols);
    for (size_t i = 0; i < r->ncols; i++) {
        buf_init(&r->cur[i].raw, PQ_READER_PAGE_MAX);
        buf_init(&r->cur[i].page, PQ_READER_PAGE_MAX);
        buf_init(&r->cur[i].dict, PQ_READER_PAGE_MAX);
    }
    return ST_OK;
}

static pq_reader *new_reader(const char *label)
{
    pq_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = -1;
    r->label = strdup(label ? label : "parquet file");
    if (!r->label) {
        free(r);
        return NULL;
    }
    return r;
}

status pq_reader_open(pq_reader **out, const char *path, const char *label, errinfo *err)
{
    *out = NULL;
    pq_reader *r = new_reader(label ? label : path);
    if (!r)
        return err_set(err, ST_NOMEM, "out of memory opening %s", path);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    status st;
    if (r->fd < 0)
        st = bad(r, err, ST_IO, "cannot open %s: %s", path, strerror(errno));
    else if (fstat(r->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = bad(r, err, ST_IO, "%s is not a regular file", path);
    else {
        r->size = (int64_t)sb.st_size;
        st = open_common(r, err);
    }
    if (st != ST_OK) {
        pq_reader_free(r);
        return st;
    }
    *out = r;
    return ST_OK;
}

status pq_reader_open_mem(pq_reader **out, const void *data, size_t len, const char *label,
                          errinfo *err)
{
    *out = NULL;
    pq_reader *r = new_reader(label);
    if (!r)
        return err_set(err, ST_NOMEM, "out of memory opening a parquet file");
    static const uint8_t empty[1];
    r->mem = data ? data : empty;
    r->size = (int64_t)len;
    status st = open_common(r, err);
    if (st != ST_OK) {
        pq_reader_free(r);
        return st;
    }
    *out = r;
    return ST_OK;
}

static void cur_release(colcur *c)
{
    buf_dispose(&c->raw);
    buf_dispose(&c->page);
    buf_dispose(&c->dict);
    free(c->dict_i);
    free(c->dict_at);
    free(c->dict_len);
    c->dict_i = NULL;
    c->dict_at = c->dict_len = NULL;
}

void pq_reader_free(pq_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    for (size_t i = 0; r->cols && i < r->ncols; i++)
        free((char *)r->cols[i].col.name);
    for (size_t i = 0; r->cur && i < r->ncols; i++)
        cur_release(&r->cur[i]);
    for (size_t g = 0; g < r->nrg; g++)
        free(r->rgs[g].chunks);
    free(r->rgs);
    free(r->cols);
    free(r->cur);
    free(r->want);
    free(r->label);
    free(r);
}

size_t pq_reader_ncols(const pq_reader *r)
{
    return r->ncols;
}

const pq_column *pq_reader_column(const pq_reader *r, size_t i)
{
    return i < r->ncols ? &r->cols[i].col : NULL;
}

int pq_reader_find(const pq_reader *r, const char *name)
{
    for (size_t i = 0; i < r->ncols; i++)
        if (strcmp(r->cols[i].col.name, name) == 0)
            return (int)i;
    return -1;
}

uint64_t pq_reader_rows(const pq_reader *r)
{
    return (uint64_t)r->rows;
}

size_t pq_reader_row_groups(const pq_reader *r)
{
    return r->nrg;
}

void pq_reader_select(pq_reader *r, const unsigned char *want)
{
    for (size_t i = 0; i < r->ncols; i++)
        r->want[i] = want[i] != 0;
}

/* ---- the RLE/bit-packed hybrid ---- */

static void rle_init(rle *d, const uint8_t *p, const uint8_t *end, int width)
{
    memset(d, 0, sizeof *d);
    d->p = p;
    d->end = end;
    d->width = width;
}

static int rle_next(rle *d, uint32_t *out)
{
    if (d->rep == 0 && d->packed == 0) {
        tdec t = {d->p, d->end, 0, 0, 0};
        uint64_t h;
        if (t_varint(&t, &h) != 0)
            return -1;
        d->p = t.p;
        uint64_t n = h >> 1;
        if (n == 0 || n > UINT32_MAX / 8)
            return -1;
        if (h & 1) {
            uint64_t bytes = n * (uint64_t)d->width; /* n groups of 8 values */
            if (bytes > (uint64_t)(d->end - d->p))
                return -1;
            d->bp = d->p;
            d->bitoff = 0;
            d->bitend = bytes * 8;
            d->packed = (uint32_t)(n * 8);
            d->p += bytes;
        } else {
            size_t nb = ((size_t)d->width + 7) / 8;
            if (nb > (size_t)(d->end - d->p))
                return -1;
            uint32_t v = 0;
            for (size_t i = 0; i < nb; i++)
                v |= (uint32_t)d->p[i] << (8 * i);
            if (d->width < 32 && (v >> d->width) != 0)
                return -1;
            d->p += nb;
            d->val = v;
            d->rep = (uint32_t)n;
        }
    }
    if (d->rep) {
        d->rep--;
        *out = d->val;
        return 0;
    }
    uint32_t v = 0;
    for (int b = 0; b < d->width;) {
        uint64_t bit = d->bitoff + (uint64_t)b;
        if (bit >= d->bitend)
            return -1;
        int in = (int)(bit & 7), take = 8 - in;
        if (take > d->width - b)
            take = d->width - b;
        uint32_t bits = ((uint32_t)d->bp[bit >> 3] >> in) & ((1u << take) - 1);
        v |= bits << b;
        b += take;
    }
    d->bitoff += (uint64_t)d->width;
    d->packed--;
    *out = v;
    return 0;
}

/* ---- pages ---- */

typedef struct page_hdr {
    int type;
    int64_t usize, csize, nvalues;
    int enc, def_enc, has_data, has_dict;
} page_hdr;

static int parse_page_hdr(tdec *d, page_hdr *h)
{
    memset(h, 0, sizeof *h);
    h->type = -1;
    h->usize = h->csize = -1;
    h->enc = h->def_enc = -1;
    int16_t last = 0, id;
    int type, rc;
    int64_t v;
    while ((rc = t_field(d, &last, &id, &type)) == 1) {
        if (id >= 1 && id <= 3) {
            if (t_int_field(d, type, &v) != 0)
                return -1;
            if (v < 0 || v > INT32_MAX)
                return t_fail(d, 0);
            if (id == 1)
                h->type = (int)v;
            else if (id == 2)
                h->usize = v;
            else
                h->csize = v;
        } else if ((id == 5 || id == 7) && type == TT_STRUCT) {
            int16_t l2 = 0, i2;
            int t2, r2;
            while ((r2 = t_field(d, &l2, &i2, &t2)) == 1) {
                if (i2 >= 1 && i2 <= 3 && (id == 5 || i2 <= 2)) {
                    if (t_int_field(d, t2, &v) != 0)
                        return -1;
                    if (v < 0 || v > INT32_MAX)
                        return t_fail(d, 0);
                    if (i2 == 1)
                        h->nvalues = v;
                    else if (i2 == 2)
                        h->enc = (int)v;
                    else
                        h->def_enc = (int)v;
                } else if (t_skip(d, t2, 0) != 0) {
                    return -1;
                }
            }
            if (r2 < 0)
                return -1;
            if (id == 5)
                h->has_data = 1;
            else
                h->has_dict = 1;
        } else if (t_skip(d, type, 0) != 0) {
            return -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

static size_t fixed_size(int ptype)
{
    return ptype == T_INT32 ? 4 : ptype == T_INT64 ? 8 : ptype == T_INT96 ? 12 : 0;
}

static int int96_micros(const uint8_t *p, int64_t *out)
{
    uint64_t nanos;
    int32_t julian;
    memcpy(&nanos, p, 8);
    memcpy(&julian, p + 8, 4);
    int64_t day = (int64_t)julian - JULIAN_UNIX_EPOCH;
    if (nanos >= NANOS_PER_DAY || day > INT96_DAYS_MAX || day < -INT96_DAYS_MAX)
        return -1;
    *out = day * MICROS_PER_DAY + (int64_t)(nanos / 1000u);
    return 0;
}

static int64_t fixed_value(int ptype, const uint8_t *p, int *ok)
{
    *ok = 1;
    if (ptype == T_INT32) {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    if (ptype == T_INT64) {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    int64_t us = 0;
    *ok = int96_micros(p, &us) == 0;
    return us;
}

/* Accounts for what cursor c now holds; ST_TOO_LARGE past the reader's budget. */
static status account(pq_reader *r, colcur *c, size_t now, const char *name, errinfo *err)
{
    size_t others = r->held - c->held;
    if (now > MEM_MAX || others > MEM_MAX - now)
        return bad(r, err, ST_TOO_LARGE,
                   "column %s: its pages and dictionaries would hold more than %zu MiB", name,
                   MEM_MAX >> 20);
    r->held = others + now;
    c->held = now;
    return ST_OK;
}

static status load_dict(pq_reader *r, size_t ci, const page_hdr *h, errinfo *err)
{
    colcur *c = &r->cur[ci];
    const char *name = r->cols[ci].col.name;
    int ptype = r->cols[ci].ptype;
    if (c->has_dict || c->seen_data)
        return bad(r, err, ST_DATA, "column %s: a dictionary page out of place", name);
    if (!h->has_dict || (h->enc != ENC_PLAIN && h->enc != ENC_PLAIN_DICTIONARY))
        return bad(r, err, ST_DATA, "column %s: a dictionary page that is not PLAIN", name);
    if (ptype == T_BOOLEAN)
        return bad(r, err, ST_DATA, "column %s: a dictionary of booleans", name);
    const uint8_t *p = (const uint8_t *)c->page.data;
    size_t n = c->page.len;
    if (h->nvalues > (int64_t)n)
        return bad(r, err, ST_DATA, "column %s: a dictionary of %lld entries in %zu bytes", name,
                   (long long)h->nvalues, n);
    uint32_t cnt = (uint32_t)h->nvalues;
    /* the dictionary keeps the page's bytes: swap buffers rather than copy */
    buf t = c->dict;
    c->dict = c->page;
    c->page = t;
    p = (const uint8_t *)c->dict.data;
    size_t fs = fixed_size(ptype);
    if (fs) {
        if ((uint64_t)cnt * fs != n)
            return bad(r, err, ST_DATA, "column %s: a dictionary page of %zu bytes for %u values",
                       name, n, cnt);
        c->dict_i = malloc(((size_t)cnt ? cnt : 1) * sizeof *c->dict_i);
        if (!c->dict_i)
            return bad(r, err, ST_NOMEM, "out of memory for a dictionary");
        for (uint32_t i = 0; i < cnt; i++) {
            int ok;
            c->dict_i[i] = fixed_value(ptype, p + (size_t)i * fs, &ok);
            if (!ok)
                return bad(r, err, ST_DATA, "column %s: an INT96 time out of range", name);
        }
    } else {
        c->dict_at = malloc(((size_t)cnt ? cnt : 1) * sizeof *c->dict_at);
        c->dict_len = malloc(((size_t)cnt ? cnt : 1) * sizeof *c->dict_len);
        if (!c->dict_at || !c->dict_len)
            return bad(r, err, ST_NOMEM, "out of memory for a dictionary");
        size_t pos = 0;
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t l;
            if (n - pos < 4)
                return bad(r, err, ST_DATA, "column %s: a dictionary page ends early", name);
            memcpy(&l, p + pos, 4);
            pos += 4;
            if (l > n - pos)
                return bad(r, err, ST_DATA, "column %s: a dictionary string runs past its page",
                           name);
            c->dict_at[i] = (uint32_t)pos;
            c->dict_len[i] = l;
            pos += l;
        }
        if (pos != n)
            return bad(r, err, ST_DATA, "column %s: a dictionary page has bytes left over", name);
    }
    c->ndict = cnt;
    c->has_dict = 1;
    size_t extra = (size_t)cnt * (fs ? sizeof(int64_t) : 2 * sizeof(uint32_t));
    return account(r, c, c->dict.alloc + extra + c->page.alloc + c->raw.alloc, name, err);
}

static status start_data_page(pq_reader *r, size_t ci, const page_hdr *h, errinfo *err)
{
    colcur *c = &r->cur[ci];
    const colinfo *col = &r->cols[ci];
    const char *name = col->col.name;
    if (!h->has_data)
        return bad(r, err, ST_DATA, "column %s: a data page without its header", name);
    if (h->nvalues == 0 || h->nvalues > c->left)
        return bad(r, err, ST_DATA, "column %s: a data page of %lld values where %lld are left",
                   name, (long long)h->nvalues, (long long)c->left);
    const uint8_t *p = (const uint8_t *)c->page.data, *end = p + c->page.len;
    if (!col->col.required) {
        if (h->def_enc != ENC_RLE)
            return bad(r, err, ST_DATA, "column %s: definition levels not in RLE", name);
        if (end - p < 4)
            return bad(r, err, ST_DATA, "column %s: a data page ends before its levels", name);
        uint32_t l;
        memcpy(&l, p, 4);
        p += 4;
        if (l > (size_t)(end - p))
            return bad(r, err, ST_DATA, "column %s: definition levels run past their page", name);
        rle_init(&c->defs, p, p + l, 1);
        p += l;
    }
    if (h->enc == ENC_PLAIN) {
        c->dict_enc = 0;
        c->vp = p;
        c->vend = end;
        c->bitpos = 0;
    } else if (h->enc == ENC_RLE_DICTIONARY || h->enc == ENC_PLAIN_DICTIONARY) {
        if (!c->has_dict)
            return bad(r, err, ST_DATA, "column %s: dictionary indices without a dictionary", name);
        if (p >= end)
            return bad(r, err, ST_DATA, "column %s: a data page ends before its indices", name);
        int width = *p++;
        if (width > 32)
            return bad(r, err, ST_DATA, "column %s: index width %d", name, width);
        c->dict_enc = 1;
        rle_init(&c->idx, p, end, width);
    } else {
        return bad(r, err, ST_DATA, "column %s: encoding %d is not one this reader knows", name,
                   h->enc);
    }
    c->page_left = h->nvalues;
    c->seen_data = 1;
    return ST_OK;
}

/* Reads pages of column ci until a data page is ready. */
static status next_page(pq_reader *r, size_t ci, errinfo *err)
{
    colcur *c = &r->cur[ci];
    const char *name = r->cols[ci].col.name;
    status st;
    for (;;) {
        if (c->pos >= c->end)
            return bad(r, err, ST_DATA, "column %s: its chunk ends %lld values early", name,
                       (long long)c->left);
        page_hdr h;
        tdec d;
        int64_t avail = c->end - c->pos;
        size_t want = avail < HEADER_READ ? (size_t)avail : HEADER_READ;
        for (;;) {
            if ((st = read_at(r, c->pos, want, &c->raw, err)) != ST_OK)
                return st;
            d = (tdec){(const uint8_t *)c->raw.data, (const uint8_t *)c->raw.data + want, 0, 0, 0};
            if (parse_page_hdr(&d, &h) == 0 && !d.bad)
                break;
            if (!d.truncated || (int64_t)want == avail || want >= HEADER_READ_MAX)
                return bad(r, err, ST_DATA, "column %s: a page header cannot be decoded at %lld",
                           name, (long long)c->pos);
            want = avail < (int64_t)HEADER_READ_MAX ? (size_t)avail : HEADER_READ_MAX;
        }
        int64_t hlen = (int64_t)(d.p - (const uint8_t *)c->raw.data);
        if (h.type < 0 || h.usize < 0 || h.csize < 0)
            return bad(r, err, ST_DATA, "column %s: a page header lacks its type or sizes", name);
        if (h.csize > avail - hlen)
            return bad(r, err, ST_DATA, "column %s: a page of %lld bytes runs past its chunk", name,
                       (long long)h.csize);
        if ((size_t)h.usize > PQ_READER_PAGE_MAX || (size_t)h.csize > PQ_READER_PAGE_MAX)
            return bad(r, err, ST_TOO_LARGE, "column %s: a page of %lld bytes (at most %zu MiB)",
                       name, (long long)h.usize, PQ_READER_PAGE_MAX >> 20);
        int64_t body = c->pos + hlen;
        c->pos = body + h.csize;
        if (h.type == PAGE_INDEX)
            continue;
        if (h.type != PAGE_DATA && h.type != PAGE_DICTIONARY)
            return bad(r, err, ST_DATA, "column %s: page type %d is not one this reader knows",
                       name, h.type);
        size_t now = c->dict.alloc + (size_t)h.usize + (size_t)h.csize;
        if ((st = account(r, c, now, name, err)) != ST_OK)
            return st;
        if ((st = read_at(r, body, (size_t)h.csize, &c->raw, err)) != ST_OK)
            return st;
        errinfo e = {0};
        if (pq_decompress(c->ch->codec, c->raw.data, c->raw.len, (size_t)h.usize, &c->page, &e) !=
            ST_OK)
            return bad(r, err, e.code == ST_NOMEM ? ST_NOMEM : ST_DATA, "column %s: %s", name,
                       e.msg);
        if (h.type == PAGE_DICTIONARY) {
            if ((st = load_dict(r, ci, &h, err)) != ST_OK)
                return st;
            continue;
        }
        return start_data_page(r, ci, &h, err);
    }
}

static status next_value(pq_reader *r, size_t ci, pq_value *v, errinfo *err)
{
    colcur *c = &r->cur[ci];
    const colinfo *col = &r->cols[ci];
    const char *name = col->col.name;
    status st;
    if (c->page_left == 0 && (st = next_page(r, ci, err)) != ST_OK)
        return st;
    c->page_left--;
    c->left--;
    memset(v, 0, sizeof *v);
    if (!col->col.required) {
        uint32_t lvl;
        if (rle_next(&c->defs, &lvl) != 0 || lvl > 1)
            return bad(r, err, ST_DATA, "column %s: bad definition levels", name);
        if (lvl == 0) {
            v->null = 1;
            return ST_OK;
        }
    }
    if (c->dict_enc) {
        uint32_t i;
        if (rle_next(&c->idx, &i) != 0 || i >= c->ndict)
            return bad(r, err, ST_DATA, "column %s: a bad dictionary index", name);
        if (c->dict_i) {
            v->i = c->dict_i[i];
        } else {
            v->s = c->dict.data + c->dict_at[i];
            v->len = c->dict_len[i];
        }
        return ST_OK;
    }
    size_t left = (size_t)(c->vend - c->vp);
    switch (col->ptype) {
    case T_BOOLEAN:
        if (c->bitpos / 8 >= left)
            return bad(r, err, ST_DATA, "column %s: values run past their page", name);
        v->i = (c->vp[c->bitpos / 8] >> (c->bitpos % 8)) & 1;
        c->bitpos++;
        return ST_OK;
    case T_BYTE_ARRAY: {
        uint32_t l;
        if (left < 4)
            return bad(r, err, ST_DATA, "column %s: values run past their page", name);
        memcpy(&l, c->vp, 4);
        if (l > left - 4)
            return bad(r, err, ST_DATA, "column %s: a string runs past its page", name);
        v->s = (const char *)c->vp + 4;
        v->len = l;
        c->vp += 4 + (size_t)l;
        return ST_OK;
    }
    default: {
        size_t fs = fixed_size(col->ptype);
        if (left < fs)
            return bad(r, err, ST_DATA, "column %s: values run past their page", name);
        int ok;
        v->i = fixed_value(col->ptype, c->vp, &ok);
        if (!ok)
            return bad(r, err, ST_DATA, "column %s: an INT96 time out of range", name);
        c->vp += fs;
        return ST_OK;
    }
    }
}

static void start_row_group(pq_reader *r, size_t g)
{
    const rowgroup *rg = &r->rgs[g];
    for (size_t i = 0; i < r->ncols; i++) {
        colcur *c = &r->cur[i];
        const chunk *ch = &rg->chunks[i];
        c->ch = ch;
        c->pos = ch->dict_off ? ch->dict_off : ch->data_off;
        c->end = c->pos + ch->compressed;
        c->left = ch->num_values;
        c->seen_data = 0;
        c->page_left = 0;
        c->has_dict = 0;
        c->ndict = 0;
        free(c->dict_i);
        free(c->dict_at);
        free(c->dict_len);
        c->dict_i = NULL;
        c->dict_at = c->dict_len = NULL;
        buf_reset(&c->dict);
    }
    r->rg_left = rg->rows;
}

status pq_reader_next(pq_reader *r, pq_value *row, int *got, errinfo *err)
{
    *got = 0;
    if (r->failed != ST_OK)
        return err_set(err, r->failed, "%s", r->failed_msg);
    while (r->rg_left == 0) {
        if (r->rg >= r->nrg)
            return ST_OK;
        start_row_group(r, r->rg++);
    }
    for (size_t i = 0; i < r->ncols; i++) {
        if (!r->want[i]) {
            memset(&row[i], 0, sizeof row[i]);
            row[i].null = 1;
            continue;
        }
        status st = next_value(r, i, &row[i], err);
        if (st != ST_OK)
            return st;
    }
    r->rg_left--;
    *got = 1;
    return ST_OK;
}

/* A small Parquet reader for the tests of the writer: exactly the subset the writer
 * produces (flat schema, data pages v1, PLAIN and RLE_DICTIONARY, RLE definition
 * levels, UNCOMPRESSED/SNAPPY/ZSTD), written independently of the writer's code
 * from the format documents, with bounds checks everywhere so that a malformed file
 * gives an error instead of a crash. Header-only (static functions) so that a unit
 * test and a fuzz target can each include it.
 *
 * mr_read fills an mr_file that mr_free releases. Values of a column are in row
 * order over all row groups; strings live in the column's arena at their offset. */
#ifndef TA_PQ_MINI_READER_H
#define TA_PQ_MINI_READER_H

#include <snappy-c.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

typedef struct mr_value {
    int null;
    int64_t i;  /* BOOLEAN 0/1, INT32, INT64, timestamps in microseconds (INT96 too) */
    size_t off; /* strings: in the column's arena */
    size_t len;
} mr_value;

typedef struct mr_column {
    char name[128];
    int type;      /* parquet Type */
    int required;  /* repetition REQUIRED */
    int converted; /* ConvertedType or -1 */
    int has_logical;
    mr_value *v;
    size_t n, alloc;
    uint8_t *arena;
    size_t arena_len, arena_alloc;
    int saw_dict; /* some chunk was dictionary encoded */
} mr_column;

typedef struct mr_file {
    mr_column *cols;
    size_t ncols;
    int64_t num_rows;
    size_t nrowgroups;
    char created_by[128];
    size_t ncolumn_orders;
    char why[256]; /* what was wrong when mr_read failed */
} mr_file;

/* ---- generic Thrift compact decoding into a tree ---- */

typedef struct mr_node {
    int type; /* compact type id; 1 for any bool */
    int16_t id;
    int64_t i;
    const uint8_t *bin;
    size_t binlen;
    struct mr_node *kids;
    size_t nkids;
} mr_node;

typedef struct mr_in {
    const uint8_t *p;
    size_t n, pos;
    int depth;
    int bad;
} mr_in;

static void mr_node_free(mr_node *nd)
{
    for (size_t i = 0; i < nd->nkids; i++)
        mr_node_free(&nd->kids[i]);
    free(nd->kids);
    nd->kids = NULL;
    nd->nkids = 0;
}

static uint64_t mr_varint(mr_in *in)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (in->pos >= in->n) {
            in->bad = 1;
            return 0;
        }
        uint8_t b = in->p[in->pos++];
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    in->bad = 1;
    return 0;
}

static int64_t mr_zigzag(mr_in *in)
{
    uint64_t v = mr_varint(in);
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static int mr_value_of(mr_in *in, int type, mr_node *out);

static int mr_add_kid(mr_node *parent, size_t *alloc, mr_node **slot)
{
    if (parent->nkids == *alloc) {
        size_t na = *alloc ? *alloc * 2 : 4;
        mr_node *k = realloc(parent->kids, na * sizeof *k);
        if (!k)
            return -1;
        parent->kids = k;
        *alloc = na;
    }
    *slot = &parent->kids[parent->nkids++];
    memset(*slot, 0, sizeof **slot);
    return 0;
}

static int mr_struct(mr_in *in, mr_node *out)
{
    out->type = 12;
    if (++in->depth > 32) {
        in->bad = 1;
        return -1;
    }
    size_t alloc = 0;
    int16_t last = 0;
    for (;;) {
        if (in->pos >= in->n) {
            in->bad = 1;
            return -1;
        }
        uint8_t h = in->p[in->pos++];
        if (h == 0)
            break;
        int type = h & 15;
        int16_t id = (h >> 4) ? (int16_t)(last + (h >> 4)) : (int16_t)mr_zigzag(in);
        last = id;
        mr_node *k;
        if (mr_add_kid(out, &alloc, &k) != 0) {
            in->bad = 1;
            return -1;
        }
        k->id = id;
        if (type == 1 || type == 2) {
            k->type = 1;
            k->i = type == 1;
        } else if (mr_value_of(in, type, k) != 0) {
            return -1;
        }
    }
    in->depth--;
    return in->bad ? -1 : 0;
}

static int mr_value_of(mr_in *in, int type, mr_node *out)
{
    out->type = type;
    switch (type) {
    case 3:
        if (in->pos >= in->n) {
            in->bad = 1;
            return -1;
        }
        out->i = (int8_t)in->p[in->pos++];
        return 0;
    case 4:
    case 5:
    case 6:
        out->i = mr_zigzag(in);
        return in->bad ? -1 : 0;
    case 8: {
        uint64_t len = mr_varint(in);
        if (in->bad || len > in->n - in->pos) {
            in->bad = 1;
            return -1;
        }
        out->bin = in->p + in->pos;
        out->binlen = (size_t)len;
        in->pos += (size_t)len;
        return 0;
    }
    case 9: {
        if (in->pos >= in->n) {
            in->bad = 1;
            return -1;
        }
        uint8_t h = in->p[in->pos++];
        uint64_t cnt = h >> 4;
        if (cnt == 15)
            cnt = mr_varint(in);
        if (in->bad || cnt > in->n - in->pos + 1) {
            in->bad = 1;
            return -1;
        }
        size_t alloc = 0;
        for (uint64_t k = 0; k < cnt; k++) {
            mr_node *e;
            if (mr_add_kid(out, &alloc, &e) != 0) {
                in->bad = 1;
                return -1;
            }
            int et = h & 15;
            if (et == 1 || et == 2) {
                if (in->pos >= in->n) {
                    in->bad = 1;
                    return -1;
                }
                e->type = 1;
                e->i = in->p[in->pos++] == 1;
            } else if (mr_value_of(in, et, e) != 0) {
                return -1;
            }
        }
        out->type = 9;
        return 0;
    }
    case 12:
        return mr_struct(in, out);
    default:
        in->bad = 1;
        return -1;
    }
}

static const mr_node *mr_field(const mr_node *s, int16_t id)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i].id == id)
            return &s->kids[i];
    return NULL;
}

static int64_t mr_int(const mr_node *s, int16_t id, int64_t dflt)
{
    const mr_node *f = mr_field(s, id);
    return f ? f->i : dflt;
}

/* ---- levels and values ---- */

/* RLE/bit-packed hybrid: count values of width bits into out. */
static int mr_hybrid(const uint8_t *p, size_t n, int width, size_t count, uint32_t *out)
{
    if (width < 0 || width > 32)
        return -1;
    mr_in in = {p, n, 0, 0, 0};
    size_t got = 0;
    while (got < count) {
        uint64_t h = mr_varint(&in);
        if (in.bad)
            return -1;
        if (h & 1) {
            uint64_t groups = h >> 1;
            if (groups == 0 || groups > n)
                return -1;
            size_t bytes = (size_t)groups * (size_t)width;
            if (bytes > n - in.pos)
                return -1;
            const uint8_t *q = p + in.pos;
            for (size_t k = 0; k < groups * 8 && got < count; k++) {
                uint64_t v = 0;
                for (int b = 0; b < width; b++) {
                    size_t bit = k * (size_t)width + (size_t)b;
                    v |= (uint64_t)((q[bit >> 3] >> (bit & 7)) & 1) << b;
                }
                out[got++] = (uint32_t)v;
            }
            in.pos += bytes;
        } else {
            uint64_t run = h >> 1;
            int vb = (width + 7) / 8;
            if ((size_t)vb > n - in.pos || run == 0)
                return -1;
            uint32_t v = 0;
            for (int b = 0; b < vb; b++)
                v |= (uint32_t)p[in.pos + (size_t)b] << (8 * b);
            in.pos += (size_t)vb;
            for (uint64_t k = 0; k < run && got < count; k++)
                out[got++] = v;
        }
    }
    return 0;
}

static int mr_fail(mr_file *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int mr_fail(mr_file *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
    return -1;
}

static int mr_push(mr_column *c, mr_value v)
{
    if (c->n == c->alloc) {
        size_t na = c->alloc ? c->alloc * 2 : 64;
        mr_value *nv = realloc(c->v, na * sizeof *nv);
        if (!nv)
            return -1;
        c->v = nv;
        c->alloc = na;
    }
    c->v[c->n++] = v;
    return 0;
}

static int mr_arena_add(mr_column *c, const uint8_t *p, size_t len, size_t *off)
{
    if (c->arena_len + len + 1 > c->arena_alloc) {
        size_t na = c->arena_alloc ? c->arena_alloc : 256;
        while (na < c->arena_len + len + 1)
            na *= 2;
        uint8_t *a = realloc(c->arena, na);
        if (!a)
            return -1;
        c->arena = a;
        c->arena_alloc = na;
    }
    *off = c->arena_len;
    if (len)
        memcpy(c->arena + c->arena_len, p, len);
    c->arena_len += len;
    return 0;
}

/* One PLAIN value at p (n bytes left); *used gets its size. Strings go to the arena. */
static int mr_plain_one(mr_column *c, const uint8_t *p, size_t n, size_t idx, mr_value *v,
                        size_t *used)
{
    memset(v, 0, sizeof *v);
    switch (c->type) {
    case 0:
        if (idx / 8 >= n)
            return -1;
        v->i = (p[idx / 8] >> (idx % 8)) & 1;
        *used = 0;
        return 0;
    case 1: {
        int32_t x;
        if (n < 4)
            return -1;
        memcpy(&x, p, 4);
        v->i = x;
        *used = 4;
        return 0;
    }
    case 2:
        if (n < 8)
            return -1;
        memcpy(&v->i, p, 8);
        *used = 8;
        return 0;
    case 3: {
        if (n < 12)
            return -1;
        uint64_t nanos;
        int32_t jd;
        memcpy(&nanos, p, 8);
        memcpy(&jd, p + 8, 4);
        if (nanos >= UINT64_C(86400000000000) || nanos % 1000)
            return -1;
        /* Wrapping arithmetic: the writer's floor division can put the day's start
         * just below INT64_MIN micros for the smallest values. */
        v->i = (int64_t)((uint64_t)((int64_t)jd - 2440588) * UINT64_C(86400000000) + nanos / 1000);
        *used = 12;
        return 0;
    }
    case 6: {
        uint32_t len;
        if (n < 4)
            return -1;
        memcpy(&len, p, 4);
        if (len > n - 4)
            return -1;
        v->len = len;
        if (mr_arena_add(c, p + 4, len, &v->off) != 0)
            return -1;
        *used = 4 + (size_t)len;
        return 0;
    }
    default:
        return -1;
    }
}

static int mr_decompress(int codec, const uint8_t *in, size_t n, uint8_t *out, size_t outlen)
{
    if (codec == 0) {
        if (n != outlen)
            return -1;
        memcpy(out, in, n);
        return 0;
    }
    if (codec == 1) {
        size_t got = outlen;
        if (snappy_uncompress((const char *)in, n, (char *)out, &got) != SNAPPY_OK)
            return -1;
        return got == outlen ? 0 : -1;
    }
    if (codec == 6) {
        size_t got = ZSTD_decompress(out, outlen, in, n);
        return !ZSTD_isError(got) && got == outlen ? 0 : -1;
    }
    return -1;
}

static int mr_chunk(mr_file *f, mr_column *c, const uint8_t *data, size_t len, const mr_node *md)
{
    int64_t codec = mr_int(md, 4, -1), num_values = mr_int(md, 5, -1);
    int64_t total = mr_int(md, 7, -1), dpo = mr_int(md, 9, -1), dico = mr_int(md, 11, -1);
    if (mr_int(md, 1, -1) != c->type)
        return mr_fail(f, "%s: chunk type differs from the schema", c->name);
    int64_t start = dico >= 0 ? dico : dpo;
    if (start < 4 || total < 0 || (uint64_t)start > len || (uint64_t)total > len - (size_t)start)
        return mr_fail(f, "%s: chunk offsets out of the file", c->name);
    if (dico >= 0 && dico >= dpo)
        return mr_fail(f, "%s: dictionary page after data pages", c->name);
    mr_value *dict = NULL;
    size_t ndict = 0, pos = (size_t)start, end = (size_t)(start + total);
    int64_t seen = 0;
    int rc = -1;
    uint8_t *page = NULL;
    uint32_t *levels = NULL;
    while (pos < end) {
        mr_in in = {data, end, pos, 0, 0};
        mr_node h = {0};
        if (mr_struct(&in, &h) != 0) {
            mr_node_free(&h);
            mr_fail(f, "%s: bad page header at %zu", c->name, pos);
            goto out;
        }
        int64_t ptype = mr_int(&h, 1, -1), ulen = mr_int(&h, 2, -1), clen = mr_int(&h, 3, -1);
        const mr_node *dph = mr_field(&h, 5), *dict_h = mr_field(&h, 7);
        int64_t nv = mr_int(ptype == 0 ? dph : dict_h, 1, -1);
        int64_t enc = mr_int(ptype == 0 ? dph : dict_h, 2, -1);
        mr_node_free(&h);
        pos = in.pos;
        if (ulen < 0 || clen < 0 || (uint64_t)clen > end - pos || nv < 0 || ulen > (1 << 30)) {
            mr_fail(f, "%s: bad page sizes", c->name);
            goto out;
        }
        free(page);
        page = malloc((size_t)ulen + 1);
        if (!page || mr_decompress((int)codec, data + pos, (size_t)clen, page, (size_t)ulen)) {
            mr_fail(f, "%s: page does not decompress to its size", c->name);
            goto out;
        }
        pos += (size_t)clen;
        size_t n = (size_t)ulen, p = 0;
        if (ptype == 2) {
            if (dict || enc != 0 || nv > (int64_t)n * 8 + 1) {
                mr_fail(f, "%s: unexpected dictionary page", c->name);
                goto out;
            }
            dict = calloc((size_t)nv + 1, sizeof *dict);
            if (!dict)
                goto out;
            for (ndict = 0; ndict < (size_t)nv; ndict++) {
                size_t used;
                if (mr_plain_one(c, page + p, n - p, ndict, &dict[ndict], &used) != 0) {
                    mr_fail(f, "%s: bad dictionary value", c->name);
                    goto out;
                }
                p += used;
            }
            c->saw_dict = 1;
            continue;
        }
        if (ptype != 0 || nv == 0 || nv > (1 << 24)) {
            mr_fail(f, "%s: unexpected page type %d", c->name, (int)ptype);
            goto out;
        }
        free(levels);
        levels = malloc((size_t)nv * sizeof *levels);
        if (!levels)
            goto out;
        size_t present = (size_t)nv;
        if (!c->required) {
            uint32_t ll;
            if (n < 4)
                goto bad_levels;
            memcpy(&ll, page, 4);
            if (ll > n - 4 || mr_hybrid(page + 4, ll, 1, (size_t)nv, levels) != 0)
                goto bad_levels;
            p = 4 + ll;
            present = 0;
            for (size_t k = 0; k < (size_t)nv; k++) {
                if (levels[k] > 1)
                    goto bad_levels;
                present += levels[k];
            }
        } else {
            for (size_t k = 0; k < (size_t)nv; k++)
                levels[k] = 1;
        }
        uint32_t *idx = NULL;
        if (enc == 8) {
            if (!dict || p >= n) {
                mr_fail(f, "%s: dictionary indices without a dictionary", c->name);
                goto out;
            }
            int width = page[p++];
            idx = malloc((present + 1) * sizeof *idx);
            if (!idx || mr_hybrid(page + p, n - p, width, present, idx) != 0) {
                free(idx);
                mr_fail(f, "%s: bad dictionary indices", c->name);
                goto out;
            }
        } else if (enc != 0) {
            mr_fail(f, "%s: unexpected encoding %d", c->name, (int)enc);
            goto out;
        }
        size_t vi = 0;
        for (size_t k = 0; k < (size_t)nv; k++) {
            mr_value v = {0};
            if (!levels[k]) {
                v.null = 1;
            } else if (idx) {
                if (idx[vi] >= ndict) {
                    free(idx);
                    mr_fail(f, "%s: dictionary index out of range", c->name);
                    goto out;
                }
                v = dict[idx[vi]];
                vi++;
            } else {
                size_t used;
                if (mr_plain_one(c, page + p, n - p, vi, &v, &used) != 0) {
                    mr_fail(f, "%s: bad PLAIN value", c->name);
                    goto out;
                }
                p += used;
                vi++;
            }
            if (mr_push(c, v) != 0) {
                free(idx);
                goto out;
            }
        }
        free(idx);
        if (c->type == 0 && enc == 0)
            p += (vi + 7) / 8;
        if (p != n && enc == 0) {
            mr_fail(f, "%s: %zu bytes left over in a data page", c->name, n - p);
            goto out;
        }
        seen += nv;
    }
    if (seen != num_values) {
        mr_fail(f, "%s: chunk has %lld values, metadata says %lld", c->name, (long long)seen,
                (long long)num_values);
        goto out;
    }
    rc = 0;
    goto out;
bad_levels:
    mr_fail(f, "%s: bad definition levels", c->name);
out:
    free(dict);
    free(page);
    free(levels);
    return rc;
}

static void mr_free(mr_file *f)
{
    for (size_t i = 0; i < f->ncols && f->cols; i++) {
        free(f->cols[i].v);
        free(f->cols[i].arena);
    }
    free(f->cols);
    f->cols = NULL;
    f->ncols = 0;
}

static int mr_read(const uint8_t *data, size_t len, mr_file *f)
{
    memset(f, 0, sizeof *f);
    if (len < 12 || memcmp(data, "PAR1", 4) || memcmp(data + len - 4, "PAR1", 4))
        return mr_fail(f, "no PAR1 magic at both ends");
    uint32_t flen;
    memcpy(&flen, data + len - 8, 4);
    if (flen > len - 12)
        return mr_fail(f, "footer length %u does not fit", flen);
    mr_in in = {data + len - 8 - flen, flen, 0, 0, 0};
    mr_node md = {0};
    int rc = -1;
    if (mr_struct(&in, &md) != 0 || in.pos != flen) {
        mr_fail(f, "footer is not one Thrift struct of its length");
        goto out;
    }
    const mr_node *schema = mr_field(&md, 2), *rgs = mr_field(&md, 4);
    if (mr_int(&md, 1, -1) != 1 || !schema || schema->type != 9 || schema->nkids < 1 || !rgs ||
        rgs->type != 9) {
        mr_fail(f, "footer lacks version, schema or row groups");
        goto out;
    }
    f->num_rows = mr_int(&md, 3, -1);
    f->nrowgroups = rgs->nkids;
    const mr_node *cb = mr_field(&md, 6), *co = mr_field(&md, 7);
    if (cb && cb->binlen < sizeof f->created_by) {
        memcpy(f->created_by, cb->bin, cb->binlen);
        f->created_by[cb->binlen] = '\0';
    }
    f->ncolumn_orders = co ? co->nkids : 0;
    f->ncols = schema->nkids - 1;
    if (mr_int(&schema->kids[0], 5, -1) != (int64_t)f->ncols) {
        mr_fail(f, "root num_children does not match the leaves");
        goto out;
    }
    f->cols = calloc(f->ncols + 1, sizeof *f->cols);
    if (!f->cols)
        goto out;
    for (size_t i = 0; i < f->ncols; i++) {
        const mr_node *se = &schema->kids[i + 1];
        mr_column *c = &f->cols[i];
        const mr_node *nm = mr_field(se, 4);
        if (!nm || nm->binlen >= sizeof c->name) {
            mr_fail(f, "leaf %zu has no usable name", i);
            goto out;
        }
        memcpy(c->name, nm->bin, nm->binlen);
        c->type = (int)mr_int(se, 1, -1);
        c->required = mr_int(se, 3, -1) == 0;
        c->converted = (int)mr_int(se, 6, -1);
        c->has_logical = mr_field(se, 10) != NULL;
    }
    int64_t rows = 0;
    for (size_t g = 0; g < rgs->nkids; g++) {
        const mr_node *rg = &rgs->kids[g];
        const mr_node *cols = mr_field(rg, 1);
        if (!cols || cols->nkids != f->ncols) {
            mr_fail(f, "row group %zu has the wrong number of columns", g);
            goto out;
        }
        int64_t nr = mr_int(rg, 3, -1);
        for (size_t i = 0; i < f->ncols; i++) {
            size_t before = f->cols[i].n;
            const mr_node *meta = mr_field(&cols->kids[i], 3);
            if (!meta || mr_chunk(f, &f->cols[i], data, len, meta) != 0) {
                if (!f->why[0])
                    mr_fail(f, "row group %zu column %zu unreadable", g, i);
                goto out;
            }
            if ((int64_t)(f->cols[i].n - before) != nr) {
                mr_fail(f, "row group %zu column %zu has the wrong number of rows", g, i);
                goto out;
            }
        }
        rows += nr;
    }
    if (rows != f->num_rows) {
        mr_fail(f, "row groups hold %lld rows, footer says %lld", (long long)rows,
                (long long)f->num_rows);
        goto out;
    }
    rc = 0;
out:
    mr_node_free(&md);
    if (rc != 0) {
        char why[sizeof f->why];
        memcpy(why, f->why, sizeof why);
        mr_free(f);
        memcpy(f->why, why, sizeof why);
    }
    return rc;
}

#endif

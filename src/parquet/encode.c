/* RLE/bit-packed hybrid and PLAIN booleans: see encode.h. */
#include "parquet/encode.h"

#include <string.h>

int pq_bit_width(uint32_t max)
{
    int w = 0;
    while (max) {
        w++;
        max >>= 1;
    }
    return w;
}

/* One reader for both element sizes keeps a single run-finding loop. */
typedef struct src {
    const uint8_t *u8;
    const uint32_t *u32;
} src;

static inline uint32_t at(const src *s, size_t i)
{
    return s->u8 ? s->u8[i] : s->u32[i];
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static status rle_run(buf *out, uint32_t value, size_t count, int width, errinfo *err)
{
    uint8_t tmp[16];
    size_t n = put_varint(tmp, (uint64_t)count << 1);
    int bytes = (width + 7) / 8;
    for (int i = 0; i < bytes; i++)
        tmp[n++] = (uint8_t)(value >> (8 * i));
    return buf_append(out, tmp, n, err);
}

/* Values [from, from + count) as one bit-packed run; count is a multiple of 8 except
 * at the very end, where the missing values of the last group are zero. */
static status packed_run(buf *out, const src *s, size_t from, size_t count, size_t n_total,
                         int width, errinfo *err)
{
    size_t groups = (count + 7) / 8;
    uint8_t hdr[10];
    size_t hn = put_varint(hdr, ((uint64_t)groups << 1) | 1);
    status st = buf_append(out, hdr, hn, err);
    if (st != ST_OK)
        return st;
    size_t nbytes = groups * (size_t)width;
    st = buf_reserve(out, nbytes, err);
    if (st != ST_OK)
        return st;
    uint8_t *p = (uint8_t *)out->data + out->len;
    memset(p, 0, nbytes);
    uint64_t acc = 0;
    int nbits = 0;
    size_t k = 0;
    for (size_t i = 0; i < groups * 8; i++) {
        size_t idx = from + i;
        uint32_t v = (i < count && idx < n_total) ? at(s, idx) : 0;
        acc |= (uint64_t)v << nbits;
        nbits += width;
        while (nbits >= 8) {
            p[k++] = (uint8_t)acc;
            acc >>= 8;
            nbits -= 8;
        }
    }
    out->len += nbytes;
    out->data[out->len] = '\0';
    return ST_OK;
}

static status hybrid(buf *out, const src *s, size_t n, int width, errinfo *err)
{
    if (width < 0 || width > 32)
        return err_set(err, ST_INTERNAL, "RLE bit width %d out of range", width);
    size_t lit = 0; /* first value not yet written */
    size_t i = 0;
    status st;
    while (i < n) {
        uint32_t v = at(s, i);
        size_t j = i + 1;
        while (j < n && at(s, j) == v)
            j++;
        size_t run = j - i;
        /* Pending literals must form whole groups of 8 before an RLE run can start:
         * borrow the first values of this run to complete the last group. */
        size_t pad = (8 - (i - lit) % 8) % 8;
        if (run >= pad + 8) {
            if (i + pad > lit) {
                st = packed_run(out, s, lit, i + pad - lit, n, width, err);
                if (st != ST_OK)
                    return st;
            }
            st = rle_run(out, v, run - pad, width, err);
            if (st != ST_OK)
                return st;
            lit = j;
        }
        i = j;
    }
    if (lit < n)
        return packed_run(out, s, lit, n - lit, n, width, err);
    return ST_OK;
}

status pq_rle_encode_u8(buf *out, const uint8_t *v, size_t n, int width, errinfo *err)
{
    src s = {v, NULL};
    return hybrid(out, &s, n, width, err);
}

status pq_rle_encode_u32(buf *out, const uint32_t *v, size_t n, int width, errinfo *err)
{
    src s = {NULL, v};
    return hybrid(out, &s, n, width, err);
}

status pq_plain_bools(buf *out, const uint8_t *v, size_t n, errinfo *err)
{
    size_t nbytes = (n + 7) / 8;
    status st = buf_reserve(out, nbytes, err);
    if (st != ST_OK)
        return st;
    uint8_t *p = (uint8_t *)out->data + out->len;
    memset(p, 0, nbytes);
    for (size_t i = 0; i < n; i++)
        if (v[i])
            p[i >> 3] |= (uint8_t)(1u << (i & 7));
    out->len += nbytes;
    out->data[out->len] = '\0';
    return ST_OK;
}

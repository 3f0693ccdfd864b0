/* Dictionary hash table and decision rule: see dict.h. */
#include "parquet/dict.h"

#include <stdlib.h>
#include <string.h>

#include "parquet/encode.h"
#include "util/bytes.h"

void pq_dict_init(pq_dict *d)
{
    memset(d, 0, sizeof *d);
}

void pq_dict_reset(pq_dict *d)
{
    if (d->slots && d->n)
        memset(d->slots, 0, d->nslots * sizeof *d->slots);
    d->n = 0;
}

void pq_dict_dispose(pq_dict *d)
{
    if (!d)
        return;
    free(d->slots);
    free(d->ent);
    pq_dict_init(d);
}

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t final_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t pq_hash(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)n * 0x100000001b3ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = rotl(h ^ (w * 0x87c37b91114253d5ULL), 31) * 0x4cf5ad432745937fULL;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = rotl(h ^ (w * 0x87c37b91114253d5ULL), 31) * 0x4cf5ad432745937fULL;
    }
    return final_mix(h);
}

static status grow_slots(pq_dict *d, errinfo *err)
{
    size_t n = d->nslots ? d->nslots * 2 : 1024;
    uint32_t *s = calloc(n, sizeof *s);
    if (!s)
        return err_set(err, ST_NOMEM, "out of memory growing a dictionary to %zu slots", n);
    for (size_t i = 0; i < d->n; i++) {
        size_t k = d->ent[i].hash & (n - 1);
        while (s[k])
            k = (k + 1) & (n - 1);
        s[k] = (uint32_t)(i + 1);
    }
    free(d->slots);
    d->slots = s;
    d->nslots = n;
    return ST_OK;
}

status pq_dict_insert(pq_dict *d, const uint8_t *base, size_t off, uint32_t len, uint32_t *idx,
                      errinfo *err)
{
    status st;
    /* Keep the load at most one half so that probes stay short. */
    if ((d->n + 1) * 2 > d->nslots) {
        st = grow_slots(d, err);
        if (st != ST_OK)
            return st;
    }
    const uint8_t *key = base + off;
    uint32_t h = (uint32_t)pq_hash(key, len);
    size_t mask = d->nslots - 1;
    size_t k = h & mask;
    while (d->slots[k]) {
        const pq_dict_entry *e = &d->ent[d->slots[k] - 1];
        if (e->hash == h && e->len == len && bytes_equal(base + e->off, key, len)) {
            *idx = d->slots[k] - 1;
            return ST_OK;
        }
        k = (k + 1) & mask;
    }
    if (d->n == d->alloc) {
        size_t na = d->alloc ? d->alloc * 2 : 256;
        pq_dict_entry *ne = realloc(d->ent, na * sizeof *ne);
        if (!ne)
            return err_set(err, ST_NOMEM, "out of memory growing a dictionary to %zu entries", na);
        d->ent = ne;
        d->alloc = na;
    }
    if (d->n >= UINT32_MAX - 1)
        return err_set(err, ST_INTERNAL, "dictionary has too many entries");
    d->ent[d->n] = (pq_dict_entry){off, len, h};
    d->slots[k] = (uint32_t)(d->n + 1);
    *idx = (uint32_t)d->n;
    d->n++;
    return ST_OK;
}

int pq_dict_index_width(size_t n)
{
    int w = pq_bit_width(n > 1 ? (uint32_t)(n - 1) : 0);
    return w < 1 ? 1 : w;
}

int pq_dict_hopeless(size_t seen, size_t ndistinct)
{
    if (seen < PQ_DICT_PROBE)
        return 0;
    return ndistinct * PQ_DICT_HOPELESS_DEN > seen * PQ_DICT_HOPELESS_NUM;
}

int pq_dict_worth(size_t nonnull, size_t ndistinct, size_t dict_bytes, size_t plain_bytes)
{
    if (nonnull == 0 || ndistinct == 0)
        return 0;
    if (ndistinct > nonnull / 2)
        return 0;
    if (dict_bytes > PQ_DICT_MAX_BYTES)
        return 0;
    /* Indices bit-packed at worst, plus the bit-width byte per page. */
    size_t idx_bytes = (nonnull * (size_t)pq_dict_index_width(ndistinct) + 7) / 8 + 1;
    return dict_bytes + idx_bytes < plain_bytes;
}

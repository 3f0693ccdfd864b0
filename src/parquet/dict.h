/* Dictionary building for RLE_DICTIONARY column chunks: an open-addressing hash
 * table of byte-string keys that live in the caller's value buffer (entries hold
 * offsets, never copies), and the rule that decides whether a chunk is worth a
 * dictionary. pq_dict_dispose releases the table; pq_dict_reset empties it and keeps
 * its memory for the next chunk. */
#ifndef TA_PQ_DICT_H
#define TA_PQ_DICT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "status.h"

/* A dictionary larger than this (PLAIN bytes) is not used: it is one page that
 * readers must hold whole. */
#define PQ_DICT_MAX_BYTES ((size_t)1 << 20)

typedef struct pq_dict_entry {
    size_t off;   /* key bytes at base + off */
    uint32_t len; /* key length */
    uint32_t hash;
} pq_dict_entry;

typedef struct pq_dict {
    uint32_t *slots; /* 0: empty, else entry index + 1 */
    size_t nslots;   /* power of two */
    pq_dict_entry *ent;
    size_t n, alloc;
} pq_dict;

void pq_dict_init(pq_dict *d);
void pq_dict_reset(pq_dict *d);
void pq_dict_dispose(pq_dict *d);

/* Finds the key base[off, off+len) or adds it; *idx gets its entry number. base may
 * move between calls (a growing buffer): entries keep offsets. */
TA_MUST_USE status pq_dict_insert(pq_dict *d, const uint8_t *base, size_t off, uint32_t len,
                                  uint32_t *idx, errinfo *err);

uint64_t pq_hash(const void *p, size_t n);

/* 1 when a chunk of nonnull values with ndistinct distinct ones, whose dictionary
 * page would take dict_bytes and whose PLAIN values take plain_bytes, should be
 * dictionary encoded: values repeat (at most half are distinct), the dictionary is
 * at most PQ_DICT_MAX_BYTES, and dictionary plus indices come out smaller. */
int pq_dict_worth(size_t nonnull, size_t ndistinct, size_t dict_bytes, size_t plain_bytes);

/* Values looked at before a chunk's dictionary is first judged hopeless, and the
 * share of distinct values (PQ_DICT_HOPELESS_NUM / PQ_DICT_HOPELESS_DEN) above
 * which it is. */
#define PQ_DICT_PROBE 4096
#define PQ_DICT_HOPELESS_NUM 5
#define PQ_DICT_HOPELESS_DEN 8

/* 1 when a dictionary that has ndistinct entries after the first `seen` values of a
 * chunk should be given up: pq_dict_worth wants at most half the values distinct,
 * and a chunk whose values are still mostly distinct after PQ_DICT_PROBE of them
 * (ids, keys, timestamps) rarely gets there. Giving up early spares hashing the
 * rest of a chunk that ends up PLAIN anyway. Judged at seen = PQ_DICT_PROBE and
 * every power of two above (the caller asks there); 0 below PQ_DICT_PROBE. */
int pq_dict_hopeless(size_t seen, size_t ndistinct);

/* Bit width of the indices into a dictionary of n entries (at least 1). */
int pq_dict_index_width(size_t n);

#endif

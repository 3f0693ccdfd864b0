/* Parquet value and level encodings (apache/parquet-format Encodings.md): the
 * RLE/bit-packed hybrid used for definition levels and dictionary indices, and
 * PLAIN booleans (bit-packed, least significant bit first). Everything appends to a
 * caller-owned buf. */
#ifndef TA_PQ_ENCODE_H
#define TA_PQ_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Bits needed for values 0..max (0 for max 0). */
int pq_bit_width(uint32_t max);

/* RLE/bit-packed hybrid of n values of width bits (0..32), without the 4-byte length
 * prefix (the caller adds it where the format wants one). Runs of 8 or more equal
 * values become RLE runs; the rest go in bit-packed runs of whole groups of 8, the
 * last group padded with zeros. */
TA_MUST_USE status pq_rle_encode_u8(buf *out, const uint8_t *v, size_t n, int width, errinfo *err);
TA_MUST_USE status pq_rle_encode_u32(buf *out, const uint32_t *v, size_t n, int width,
                                     errinfo *err);

/* PLAIN booleans: one bit per value (v[i] != 0), LSB first, last byte zero padded. */
TA_MUST_USE status pq_plain_bools(buf *out, const uint8_t *v, size_t n, errinfo *err);

#endif

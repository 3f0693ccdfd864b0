/* Page compression for the Parquet writer (parquet-format Compression.md): SNAPPY
 * (raw snappy blocks, no framing) and ZSTD (one frame per page). The compressor
 * keeps its zstd context between pages; pq_compressor_dispose releases it. The reader
 * (reader.c) decompresses through pq_decompress. */
#ifndef TA_PQ_CODEC_INTERNAL_H
#define TA_PQ_CODEC_INTERNAL_H

#include <stddef.h>

#include "parquet/pq.h"
#include "util/buf.h"

typedef struct pq_compressor {
    pq_codec codec;
    void *zctx; /* ZSTD_CCtx, made on first use */
} pq_compressor;

void pq_compressor_init(pq_compressor *c, pq_codec codec);
void pq_compressor_dispose(pq_compressor *c);
/* Parquet's CompressionCodec enum value for the codec. */
int pq_codec_thrift_id(pq_codec codec);
/* Replaces out's contents with in[0..n) compressed. Not for PQ_CODEC_NONE. */
TA_MUST_USE status pq_compress(pq_compressor *c, const void *in, size_t n, buf *out, errinfo *err);

/* Replaces out's contents with the page in[0..n) decompressed by `codec` (the
 * CompressionCodec value from a file: 0 UNCOMPRESSED, 1 SNAPPY, 6 ZSTD; others are
 * ST_DATA). The result must be exactly `want` bytes (the page header's size, at most
 * out's cap); anything else is ST_DATA. `in` is untrusted. */
TA_MUST_USE status pq_decompress(int codec, const void *in, size_t n, size_t want, buf *out,
                                 errinfo *err);

#endif

/* Page compression for the Parquet writer (parquet-format Compression.md): SNAPPY
 * (raw snappy blocks, no framing) and ZSTD (one frame per page). The compressor
 * keeps its zstd context between pages; pq_compressor_free releases it. */
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
void pq_compressor_free(pq_compressor *c);
/* Parquet's CompressionCodec enum value for the codec. */
int pq_codec_thrift_id(pq_codec codec);
/* Replaces out's contents with in[0..n) compressed. Not for PQ_CODEC_NONE. */
TA_MUST_USE status pq_compress(pq_compressor *c, const void *in, size_t n, buf *out, errinfo *err);

#endif

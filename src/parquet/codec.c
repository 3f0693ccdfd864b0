/* Page compression: see codec.h. */
#include "parquet/codec.h"

#include <snappy-c.h>
#include <string.h>
#include <zstd.h>

/* zstd's default level: a good ratio at a speed the job's volume does not notice. */
#define ZSTD_LEVEL 3

void pq_compressor_init(pq_compressor *c, pq_codec codec)
{
    c->codec = codec;
    c->zctx = NULL;
}

void pq_compressor_dispose(pq_compressor *c)
{
    if (!c)
        return;
    ZSTD_freeCCtx(c->zctx);
    c->zctx = NULL;
}

int pq_codec_thrift_id(pq_codec codec)
{
    switch (codec) {
    case PQ_CODEC_SNAPPY:
        return 1;
    case PQ_CODEC_ZSTD:
        return 6;
    case PQ_CODEC_NONE:
    default:
        return 0;
    }
}

int pq_codec_parse(const char *s, pq_codec *out)
{
    if (!s)
        return -1;
    if (strcmp(s, "snappy") == 0)
        *out = PQ_CODEC_SNAPPY;
    else if (strcmp(s, "zstd") == 0)
        *out = PQ_CODEC_ZSTD;
    else if (strcmp(s, "none") == 0)
        *out = PQ_CODEC_NONE;
    else
        return -1;
    return 0;
}

status pq_compress(pq_compressor *c, const void *in, size_t n, buf *out, errinfo *err)
{
    buf_reset(out);
    status st;
    switch (c->codec) {
    case PQ_CODEC_SNAPPY: {
        size_t max = snappy_max_compressed_length(n);
        st = buf_reserve(out, max, err);
        if (st != ST_OK)
            return st;
        size_t got = max;
        if (snappy_compress(in, n, out->data, &got) != SNAPPY_OK)
            return err_set(err, ST_INTERNAL, "snappy could not compress a %zu-byte page", n);
        out->len = got;
        break;
    }
    case PQ_CODEC_ZSTD: {
        if (!c->zctx) {
            c->zctx = ZSTD_createCCtx();
            if (!c->zctx)
                return err_set(err, ST_NOMEM, "out of memory making a zstd context");
        }
        size_t max = ZSTD_compressBound(n);
        st = buf_reserve(out, max, err);
        if (st != ST_OK)
            return st;
        size_t got = ZSTD_compressCCtx(c->zctx, out->data, max, in, n, ZSTD_LEVEL);
        if (ZSTD_isError(got))
            return err_set(err, ST_INTERNAL, "zstd could not compress a %zu-byte page: %s", n,
                           ZSTD_getErrorName(got));
        out->len = got;
        break;
    }
    case PQ_CODEC_NONE:
    default:
        return err_set(err, ST_INTERNAL, "no compressor for codec %d", (int)c->codec);
    }
    out->data[out->len] = '\0';
    return ST_OK;
}

status pq_decompress(int codec, const void *in, size_t n, size_t want, buf *out, errinfo *err)
{
    buf_reset(out);
    status st = buf_reserve(out, want, err);
    if (st != ST_OK)
        return st;
    switch (codec) {
    case 0:
        if (n != want)
            return err_set(err, ST_DATA, "an uncompressed page says %zu bytes but holds %zu", want,
                           n);
        if (n)
            memcpy(out->data, in, n);
        break;
    case 1: {
        size_t got = 0;
        if (snappy_uncompressed_length(in, n, &got) != SNAPPY_OK || got != want)
            return err_set(err, ST_DATA, "a snappy page does not hold the %zu bytes it says", want);
        if (snappy_uncompress(in, n, out->data, &got) != SNAPPY_OK || got != want)
            return err_set(err, ST_DATA, "a snappy page does not decompress");
        break;
    }
    case 6: {
        /* the frame's declared size is not trusted: the output buffer bounds it */
        size_t got = ZSTD_decompress(out->data, want, in, n);
        if (ZSTD_isError(got) || got != want)
            return err_set(err, ST_DATA, "a zstd page does not decompress to its %zu bytes%s%s",
                           want, ZSTD_isError(got) ? ": " : "",
                           ZSTD_isError(got) ? ZSTD_getErrorName(got) : "");
        break;
    }
    default:
        return err_set(err, ST_DATA, "compression codec %d is not one this reader knows", codec);
    }
    out->len = want;
    out->data[want] = '\0';
    return ST_OK;
}

/* Fuzz target: the flattener (tables_flatten_rows) and the row writer behind it.
 * The input is read as a JSON snapshot; every row handed over must fill its
 * never-null columns, a failed snapshot must hand over no row at all, and the rows
 * are written through real Parquet writers into a sink that discards them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tables/tables.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_ctx {
    pq_writer *w[TBL_COUNT];
    size_t rows;
} fuzz_ctx;

static status discard(void *ctx, const void *p, size_t len, errinfo *err)
{
    (void)ctx;
    (void)p;
    (void)len;
    (void)err;
    return ST_OK;
}

static status check_row(void *vctx, table_id t, const tables_value *row, errinfo *err)
{
    fuzz_ctx *ctx = vctx;
    const table_def *def = tables_def(t);
    for (size_t i = 0; i < def->ncols; i++) {
        if (def->cols[i].required && row[i].null)
            abort();
        if (!row[i].null && def->cols[i].type == PQ_STRING && !row[i].s && row[i].len)
            abort();
    }
    ctx->rows++;
    return tables_write_row(ctx->w[t], t, row, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_setup(LOG_FORMAT_JSON, LOG_ERROR);
        quiet = 1;
    }
    if (size > 1 << 20)
        return 0;
    json_t *snap = json_loadb((const char *)data, size, 0, NULL);
    if (!snap)
        return 0;
    fuzz_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    pq_options opts;
    memset(&opts, 0, sizeof opts);
    opts.codec = PQ_CODEC_SNAPPY;
    opts.int96_timestamps = (int)(size & 1);
    errinfo err = {0};
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *def = tables_def((table_id)t);
        if (pq_writer_open(&ctx.w[t], def->cols, def->ncols, &opts, discard, NULL, &err) != ST_OK)
            abort();
    }
    table_counts counted = {{0}, 0, 0}, written = {{0}, 0, 0};
    errinfo e1 = {0}, e2 = {0};
    status only_count = tables_flatten_rows(snap, NULL, NULL, &counted, &e1);
    status st = tables_flatten_rows(snap, check_row, &ctx, &written, &e2);
    /* both walks see the same snapshot: same outcome, same counts */
    if (only_count != st)
        abort();
    if (st != ST_OK && (ctx.rows != 0 || written.skipped != 0))
        abort();
    for (int t = 0; t < TBL_COUNT; t++) {
        if (counted.rows[t] != written.rows[t])
            abort();
        if (pq_writer_close(ctx.w[t], &err) != ST_OK)
            abort();
        if ((int64_t)pq_writer_rows(ctx.w[t]) != written.rows[t])
            abort();
        pq_writer_free(ctx.w[t]);
    }
    if (counted.skipped != written.skipped)
        abort();
    json_decref(snap);
    return 0;
}

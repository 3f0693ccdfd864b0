/* Rows kept compactly until the writers take them. See rowchunk.h. */
#include "tables/rowchunk.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A chunk is due once its rows hold this many values or text bytes: small chunks
 * keep the memory of those waiting low, and hand work over often enough that
 * neither side waits long for the other. */
#define ROWCHUNK_VALUES ((size_t)1 << 13)
#define ROWCHUNK_BYTES ((size_t)1 << 19)

/* Which columns of each table are strings, from the tables' declaration. */
static struct {
    size_t n[TBL_COUNT];
    uint8_t col[TBL_COUNT][EV_NCOLS];
    uint8_t is[TBL_COUNT][EV_NCOLS];
} strings;
static pthread_once_t strings_once = PTHREAD_ONCE_INIT;

static void find_strings(void)
{
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *def = tables_def((table_id)t);
        for (size_t i = 0; i < def->ncols; i++) {
            strings.is[t][i] = def->cols[i].type == PQ_STRING;
            if (strings.is[t][i])
                strings.col[t][strings.n[t]++] = (uint8_t)i;
        }
    }
}

status rowchunk_measure(table_id table, const tables_value *row, size_t *bytes, errinfo *err)
{
    pthread_once(&strings_once, find_strings);
    size_t b = 0;
    for (size_t k = 0; k < strings.n[table]; k++) {
        const tables_value *v = &row[strings.col[table][k]];
        if (!v->null)
            b += v->len;
    }
    /* offsets and lengths are kept in 32 bits, and a row starts below ROWCHUNK_BYTES */
    if (b > (size_t)UINT32_MAX - ROWCHUNK_BYTES)
        return err_set(err, ST_DATA,
                       "a %s row holds %zu bytes of text, more than the %zu a row may hold",
                       tables_def(table)->name, b, (size_t)UINT32_MAX - ROWCHUNK_BYTES);
    *bytes = b;
    return ST_OK;
}

int rowchunk_full(const rowchunk *c, size_t bytes)
{
    return c->nrows && (c->nvals >= ROWCHUNK_VALUES || c->slen >= ROWCHUNK_BYTES ||
                        bytes > c->salloc - c->slen);
}

status rowchunk_add(rowchunk *c, table_id table, const tables_value *row, size_t bytes,
                    errinfo *err)
{
    pthread_once(&strings_once, find_strings);
    /* what keeps every offset within 32 bits */
    if (rowchunk_full(c, bytes))
        return err_set(err, ST_INTERNAL, "a row added to a chunk that is due to be written");
    size_t n = tables_def(table)->ncols;
    if (bytes > c->salloc - c->slen) {
        size_t na = c->slen + (ROWCHUNK_BYTES * 2 > bytes ? ROWCHUNK_BYTES * 2 : bytes);
        char *ns = realloc(c->strs, na);
        if (!ns)
            return err_set(err, ST_NOMEM, "out of memory keeping rows");
        c->strs = ns;
        c->salloc = na;
    }
    if (c->nvals + n > c->valloc) {
        size_t na = c->valloc ? c->valloc * 2 : 4096;
        while (na < c->nvals + n)
            na *= 2;
        uint64_t *nv = realloc(c->vals, na * sizeof *nv);
        if (nv)
            c->vals = nv;
        uint8_t *nn = nv ? realloc(c->nulls, na) : NULL;
        if (!nn)
            return err_set(err, ST_NOMEM, "out of memory keeping rows");
        c->nulls = nn;
        c->valloc = na;
    }
    if (c->nrows == c->ralloc) {
        size_t na = c->ralloc ? c->ralloc * 2 : 1024;
        uint8_t *nt = realloc(c->tables, na);
        if (!nt)
            return err_set(err, ST_NOMEM, "out of memory keeping rows");
        c->tables = nt;
        c->ralloc = na;
    }
    uint64_t *v = c->vals + c->nvals;
    uint8_t *nul = c->nulls + c->nvals;
    for (size_t k = 0; k < n; k++) {
        nul[k] = row[k].null != 0;
        v[k] = (uint64_t)row[k].i;
    }
    for (size_t k = 0; k < strings.n[table]; k++) {
        size_t col = strings.col[table][k];
        const tables_value *s = &row[col];
        v[col] = (uint64_t)c->slen << 32 | (s->null ? 0 : s->len);
        if (s->null || !s->len)
            continue;
        memcpy(c->strs + c->slen, s->s, s->len);
        c->slen += s->len;
    }
    c->nvals += n;
    c->tables[c->nrows++] = (uint8_t)table;
    return ST_OK;
}

status rowchunk_write(const rowchunk *c, pq_writer *const *writers, int g, errinfo *err)
{
    pthread_once(&strings_once, find_strings);
    const uint64_t *v = c->vals;
    const uint8_t *nul = c->nulls;
    pq_cell row[EV_NCOLS];
    for (size_t r = 0; r < c->nrows; r++) {
        table_id t = (table_id)c->tables[r];
        const table_def *def = tables_def(t);
        size_t n = def->ncols;
        if (g == ROWCHUNK_ALL_GROUPS || ROWCHUNK_GROUP_OF(t) == g) {
            const uint8_t *is = strings.is[t];
            for (size_t k = 0; k < n; k++) {
                row[k].null = nul[k];
                if (is[k]) {
                    row[k].s = c->strs + (v[k] >> 32);
                    row[k].len = (size_t)(v[k] & UINT32_MAX);
                } else {
                    row[k].i = (int64_t)v[k];
                }
            }
            status st = pq_writer_row(writers[t], row, n, err);
            if (st != ST_OK) {
                err_prefix(err, "table %s", def->name);
                return st;
            }
        }
        v += n;
        nul += n;
    }
    return ST_OK;
}

void rowchunk_clear(rowchunk *c)
{
    c->nvals = c->nrows = 0;
    c->slen = 0;
}

void rowchunk_dispose(rowchunk *c)
{
    free(c->vals);
    free(c->nulls);
    free(c->tables);
    free(c->strs);
    memset(c, 0, sizeof *c);
}

/* `compact --before DATE [--table T]`: for each table, each month's run files
 * (ingest_date= folders before DATE) and any earlier compacted file of that month
 * become one file, parquet/{table}/month=YYYY-MM/compacted-{run_id}.parquet, that
 * keeps the newest copy of each key (job/merge.h). docs/operations.md tells when to
 * run it.
 *
 * A month is done in this order, so that a failure anywhere leaves every row
 * readable through the _latest views: download the inputs, merge them locally,
 * upload the result, download it again and read every row of it (the count must be
 * what was written), and only then delete the inputs. Until the last delete, a row
 * can be both in the new file and in an input: the same copy (same key,
 * extracted_utc and run_id), which the views' ROW_NUMBER() keeps once; the next
 * compact folds what is left into a new file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job.h"
#include "job/merge.h"
#include "job/run.h"
#include "layout.h"
#include "log.h"
#include "parquet/reader.h"
#include "store/store.h"
#include "tables/tables.h"
#include "util/timeutil.h"
#include "util/tmpdir.h"

#define LISTED_MAX ((size_t)10000000) /* files under one table */

typedef struct entry {
    char *name;
    uint64_t size;
    layout_kind kind;
    char date[LAYOUT_DATE_MAX], month[LAYOUT_DATE_MAX];
} entry;

typedef struct listing {
    const char *prefix, *table;
    entry *e;
    size_t n, alloc;
} listing;

typedef struct compactor {
    const config *cfg;
    store *st;
    tmpdir tmp;
    char before[LAYOUT_DATE_MAX]; /* "YYYY-MM-DD" */
    int failures;
} compactor;

static status on_blob(void *ctx, const char *name, uint64_t size, errinfo *err)
{
    listing *l = ctx;
    entry e = {0};
    e.kind = layout_parse_table_file(l->prefix, l->table, name, e.date, e.month);
    if (e.kind == LAYOUT_OTHER)
        return ST_OK; /* not a file of ours: left alone */
    if (l->n == l->alloc) {
        if (l->n >= LISTED_MAX)
            return err_set(err, ST_LIMIT, "more than %zu files under parquet/%s/", LISTED_MAX,
                           l->table);
        size_t na = l->alloc ? l->alloc * 2 : 256;
        entry *p = realloc(l->e, na * sizeof *p);
        if (!p)
            return err_set(err, ST_NOMEM, "out of memory listing parquet/%s/", l->table);
        l->e = p;
        l->alloc = na;
    }
    if (!(e.name = strdup(name)))
        return err_set(err, ST_NOMEM, "out of memory listing parquet/%s/", l->table);
    e.size = size;
    l->e[l->n++] = e;
    return ST_OK;
}

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].name);
    free(l->e);
    l->e = NULL;
    l->n = l->alloc = 0;
}

static int by_month_then_name(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->month, y->month);
    return c ? c : strcmp(x->name, y->name);
}

/* Is entry e an input of its month, given DATE? */
static int is_input(const compactor *c, const entry *e)
{
    if (e->kind == LAYOUT_INGEST)
        return strcmp(e->date, c->before) < 0;
    /* a compacted month that lies (at least partly) before DATE */
    char start[LAYOUT_DATE_MAX + 4];
    snprintf(start, sizeof start, "%s-01", e->month);
    return strcmp(start, c->before) < 0;
}

/* Reads back the uploaded file and counts its rows. */
static status verify(compactor *c, table_id t, const char *name, uint64_t rows, errinfo *err)
{
    char path[4200];
    if (tmpdir_file(&c->tmp, "check.parquet", path, sizeof path) != 0)
        return err_set(err, ST_IO, "the temporary folder's path is too long");
    status st = store_get_file(c->st, name, path, NULL, err);
    pq_reader *r = NULL;
    if (st == ST_OK)
        st = pq_reader_open(&r, path, name, err);
    const table_def *d = tables_def(t);
    if (st == ST_OK && pq_reader_ncols(r) != d->ncols)
        st = err_set(err, ST_DATA, "%s: read back with %zu columns, not %zu", name,
                     pq_reader_ncols(r), d->ncols);
    uint64_t n = 0;
    pq_value *v = NULL;
    if (st == ST_OK && !(v = calloc(d->ncols, sizeof *v)))
        st = err_set(err, ST_NOMEM, "out of memory reading back %s", name);
    for (int got = 1; st == ST_OK && got;) {
        st = pq_reader_next(r, v, &got, err);
        n += (uint64_t)(st == ST_OK && got);
    }
    if (st == ST_OK && (n != rows || pq_reader_rows(r) != rows))
        st = err_set(err, ST_DATA, "%s: read back with %llu rows, not the %llu written", name,
                     (unsigned long long)n, (unsigned long long)rows);
    free(v);
    pq_reader_free(r);
    unlink(path);
    return st;
}

static status compact_month(compactor *c, table_id t, const entry *in, size_t n, errinfo *err)
{
    const table_def *d = tables_def(t);
    const char *month = in[0].month;
    merge_input *mi = calloc(n, sizeof *mi);
    char(*paths)[4200] = calloc(n, sizeof *paths);
    char merged[4200] = "";
    char *name = NULL;
    status st = ST_OK;
    merge_stats ms = {0};
    uint64_t bytes_in = 0;
    if (!mi || !paths) {
        st = err_set(err, ST_NOMEM, "out of memory compacting %s %s", d->name, month);
        goto done;
    }
    for (size_t i = 0; i < n && st == ST_OK; i++) {
        char f[32];
        snprintf(f, sizeof f, "in-%zu.parquet", i);
        if (tmpdir_file(&c->tmp, f, paths[i], sizeof paths[i]) != 0) {
            st = err_set(err, ST_IO, "the temporary folder's path is too long");
            break;
        }
        uint64_t got = 0;
        st = store_get_file(c->st, in[i].name, paths[i], &got, err);
        bytes_in += got;
        mi[i] = (merge_input){paths[i], in[i].name};
    }
    if (st != ST_OK)
        goto done;
    if (tmpdir_file(&c->tmp, "out.parquet", merged, sizeof merged) != 0) {
        st = err_set(err, ST_IO, "the temporary folder's path is too long");
        goto done;
    }
    pq_options o = {.codec = c->cfg->codec,
                    .int96_timestamps = c->cfg->int96_timestamps,
                    .kv = tables_parquet_kv,
                    .nkv = 1};
    if ((st = merge_files(t, mi, n, merged, &o, 0, &ms, err)) != ST_OK)
        goto done;
    for (size_t i = 0; i < n; i++)
        unlink(paths[i]);

    char run_id[LAYOUT_RUN_ID_MAX], date[LAYOUT_DATE_MAX];
    layout_run_id(timeutil_now_us(), run_id, date);
    if (!(name = layout_compacted(c->cfg->prefix, d->name, month, run_id))) {
        st = err_set(err, ST_NOMEM, "out of memory compacting %s %s", d->name, month);
        goto done;
    }
    size_t bytes_out = 0;
    if ((st = store_put_file(c->st, name, merged, "application/vnd.apache.parquet", &bytes_out,
                             err)) != ST_OK)
        goto done;
    unlink(merged);
    if ((st = verify(c, t, name, ms.rows_out, err)) != ST_OK) {
        /* a file that does not read back must not stay where the tables read */
        errinfo e = {0};
        if (store_delete(c->st, name, &e) != ST_OK)
            err_prefix(err, "%s (not deleted either: %s)", name, e.msg);
        goto done;
    }
    size_t deleted = 0;
    for (size_t i = 0; i < n && st == ST_OK; i++)
        if ((st = store_delete(c->st, in[i].name, err)) == ST_OK)
            deleted++;
    if (st != ST_OK) {
        err_prefix(err,
                   "%s is written and read back, but %zu of its %zu inputs are not deleted yet "
                   "(the views show each row once meanwhile; run compact again)",
                   name, n - deleted, n);
        goto done;
    }
    log_info("month compacted",
             json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:i}", "table", d->name, "month",
                       month, "file", name, "inputs", (json_int_t)n, "rows_in",
                       (json_int_t)ms.rows_in, "rows_out", (json_int_t)ms.rows_out, "bytes_in",
                       (json_int_t)bytes_in, "bytes_out", (json_int_t)bytes_out, "passes",
                       (int)ms.partitions));
done:
    for (size_t i = 0; paths && i < n; i++)
        if (paths[i][0])
            unlink(paths[i]);
    if (st != ST_OK && merged[0])
        unlink(merged);
    free(name);
    free(paths);
    free(mi);
    return st;
}

static status compact_table(compactor *c, table_id t, errinfo *err)
{
    const table_def *d = tables_def(t);
    listing l = {c->cfg->prefix, d->name, NULL, 0, 0};
    char *dir = layout_parquet_table(c->cfg->prefix, d->name);
    if (!dir)
        return err_set(err, ST_NOMEM, "out of memory listing %s", d->name);
    status st = store_list(c->st, dir, on_blob, &l, err);
    free(dir);
    if (st != ST_OK) {
        listing_free(&l);
        return st;
    }
    /* keep the inputs only, grouped by month */
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (is_input(c, &l.e[i]))
            l.e[k++] = l.e[i];
        else
            free(l.e[i].name);
    }
    l.n = k;
    qsort(l.e, l.n, sizeof *l.e, by_month_then_name);
    int months = 0;
    for (size_t i = 0; i < l.n;) {
        size_t j = i;
        while (j < l.n && strcmp(l.e[j].month, l.e[i].month) == 0)
            j++;
        /* a month already in one compacted file is done */
        if (!(j - i == 1 && l.e[i].kind == LAYOUT_COMPACTED)) {
            errinfo e = {0};
            months++;
            if (compact_month(c, t, &l.e[i], j - i, &e) != ST_OK) {
                c->failures++;
                log_error("month not compacted", json_pack("{s:s, s:s, s:s}", "table", d->name,
                                                           "month", l.e[i].month, "error", e.msg));
            }
        }
        i = j;
    }
    if (months == 0)
        log_info("nothing to compact",
                 json_pack("{s:s, s:s}", "table", d->name, "before", c->before));
    listing_free(&l);
    return ST_OK;
}

int job_compact(const config *cfg)
{
    errinfo err = {0};
    int table = -1;
    if (cfg->compact_table) {
        for (int t = 0; t < TBL_COUNT; t++)
            if (strcmp(tables_def((table_id)t)->name, cfg->compact_table) == 0)
                table = t;
        if (table < 0) {
            fprintf(stderr,
                    "teams-attendance: --table %.100s: not a table (events, "
                    "attendance_reports, attendance_records, attendance_intervals)\n",
                    cfg->compact_table);
            return 2;
        }
    }
    if (store_check_settings(cfg, &err) != ST_OK) {
        fprintf(stderr, "teams-attendance: %s\n", err.msg);
        return 2;
    }
    compactor c = {0};
    c.cfg = cfg;
    c.tmp.lock_fd = -1;
    char d[TIMEUTIL_FMT_MAX];
    timeutil_format_date(cfg->compact_before_us, d);
    snprintf(c.before, sizeof c.before, "%.10s", d);
    log_info("compact started", json_pack("{s:s, s:s}", "before", c.before, "table",
                                          table < 0 ? "all" : cfg->compact_table));

    http_engine *eng = NULL;
    http_limits lim;
    run_http_limits(cfg, &lim);
    status st = http_engine_new(&eng, &lim, &err);
    if (st == ST_OK)
        st = store_open(&c.st, cfg, eng, &err);
    if (st == ST_OK) {
        tmpdir_sweep(cfg->tmpdir);
        st = tmpdir_open(&c.tmp, cfg->tmpdir, &err);
    }
    for (int t = 0; st == ST_OK && t < TBL_COUNT; t++) {
        if (table >= 0 && t != table)
            continue;
        errinfo e = {0};
        if (compact_table(&c, (table_id)t, &e) != ST_OK) {
            c.failures++;
            log_error(
                "table not compacted",
                json_pack("{s:s, s:s}", "table", tables_def((table_id)t)->name, "error", e.msg));
        }
    }
    if (st != ST_OK) {
        c.failures++;
        log_error("compact failed", json_pack("{s:s}", "error", err.msg));
    }
    tmpdir_close(&c.tmp);
    store_free(c.st);
    http_engine_free(eng);
    log_info("compact finished", json_pack("{s:i}", "failures", c.failures));
    return c.failures ? 1 : 0;
}

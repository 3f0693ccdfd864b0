/* Merging one table's files, newest copy of each key: see merge.h.
 *
 * For each partition: pass 1 reads the key columns, extracted_utc and run_id of
 * every input and keeps, per key hash, where its newest copy is (input, row);
 * pass 2 reads every input whole and writes the rows that are the kept copy of
 * their key. */
#include "job/merge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parquet/reader.h"

#define RUNS_MAX ((size_t)1 << 20) /* distinct run ids in one partition */
#define LOAD_NUM 7                 /* entries at most 7/10 of the slots */
#define LOAD_DEN 10

/* ---- a 128-bit hash of a key's values ---- */

typedef struct h128 {
    uint64_t a, b;
} h128;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

static void h_bytes(h128 *h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h->a = (h->a ^ s[i]) * UINT64_C(0x100000001b3);
        h->b = (h->b + s[i] + 1) * UINT64_C(0x9e3779b97f4a7c15);
        h->b ^= h->b >> 29;
    }
}

/* Each value goes in with its null flag and its length, so ("ab","c") and
 * ("a","bc") differ. */
static void h_value(h128 *h, const pq_value *v, pq_type type)
{
    unsigned char tag = v->null ? 0 : 1;
    h_bytes(h, &tag, 1);
    if (v->null)
        return;
    if (type == PQ_STRING) {
        uint64_t n = v->len;
        h_bytes(h, &n, sizeof n);
        h_bytes(h, v->s, v->len);
    } else {
        h_bytes(h, &v->i, sizeof v->i);
    }
}

static h128 h_final(h128 h)
{
    h128 o = {mix(h.a ^ mix(h.b)), mix(h.b + UINT64_C(0x632be59bd9b4e019) * h.a)};
    return o;
}

/* ---- the newest copy of each key ---- */

typedef struct slot {
    uint64_t a, b; /* the key's hash; slot empty when file == UINT32_MAX */
    int64_t ext;   /* extracted_utc (INT64_MIN for null) */
    uint32_t run;  /* index of the run id in runs */
    uint32_t file;
    uint64_t row;
} slot;

typedef struct runs {
    char **s;
    size_t n, alloc;
    uint32_t *idx; /* open addressing over s, UINT32_MAX empty */
    size_t cap;
} runs;

typedef struct winners {
    slot *slots;
    size_t cap, n;
    runs r;
} winners;

static status runs_intern(runs *r, const char *s, size_t len, uint32_t *out, errinfo *err)
{
    if (r->n + 1 > r->cap * LOAD_NUM / LOAD_DEN) {
        if (r->n >= RUNS_MAX)
            return err_set(err, ST_LIMIT, "more than %zu distinct run ids in one pass", RUNS_MAX);
        size_t cap = r->cap ? r->cap * 2 : 1024;
        uint32_t *idx = malloc(cap * sizeof *idx);
        if (!idx)
            return err_set(err, ST_NOMEM, "out of memory for run ids");
        memset(idx, 0xff, cap * sizeof *idx);
        for (size_t i = 0; i < r->n; i++) {
            h128 h = {0, 0};
            h_bytes(&h, r->s[i], strlen(r->s[i]));
            size_t k = (size_t)h_final(h).a & (cap - 1);
            while (idx[k] != UINT32_MAX)
                k = (k + 1) & (cap - 1);
            idx[k] = (uint32_t)i;
        }
        free(r->idx);
        r->idx = idx;
        r->cap = cap;
    }
    h128 h = {0, 0};
    h_bytes(&h, s, len);
    size_t k = (size_t)h_final(h).a & (r->cap - 1);
    for (; r->idx[k] != UINT32_MAX; k = (k + 1) & (r->cap - 1)) {
        const char *t = r->s[r->idx[k]];
        if (strlen(t) == len && memcmp(t, s, len) == 0) {
            *out = r->idx[k];
            return ST_OK;
        }
    }
    if (memchr(s, '\0', len))
        return err_set(err, ST_DATA, "a run id holds a NUL byte");
    if (r->n == r->alloc) {
        size_t na = r->alloc ? r->alloc * 2 : 256;
        char **ns = realloc(r->s, na * sizeof *ns);
        if (!ns)
            return err_set(err, ST_NOMEM, "out of memory for run ids");
        r->s = ns;
        r->alloc = na;
    }
    if (!(r->s[r->n] = strndup(s, len)))
        return err_set(err, ST_NOMEM, "out of memory for run ids");
    r->idx[k] = (uint32_t)r->n;
    *out = (uint32_t)r->n++;
    return ST_OK;
}

static void runs_free(runs *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->s[i]);
    free(r->s);
    free(r->idx);
    memset(r, 0, sizeof *r);
}

static status winners_init(winners *w, size_t cap, errinfo *err)
{
    memset(w, 0, sizeof *w);
    w->slots = malloc(cap * sizeof *w->slots);
    if (!w->slots)
        return err_set(err, ST_NOMEM, "out of memory for %zu key slots", cap);
    w->cap = cap;
    for (size_t i = 0; i < cap; i++)
        w->slots[i].file = UINT32_MAX;
    return ST_OK;
}

static void winners_free(winners *w)
{
    free(w->slots);
    runs_free(&w->r);
    memset(w, 0, sizeof *w);
}

static slot *winners_find(winners *w, h128 h)
{
    size_t k = (size_t)h.a & (w->cap - 1);
    for (;; k = (k + 1) & (w->cap - 1)) {
        slot *s = &w->slots[k];
        if (s->file == UINT32_MAX || (s->a == h.a && s->b == h.b))
            return s;
    }
}

/* ---- inputs ---- */

/* How an input's columns map to the table's: map[i] is the input column of table
 * column i, or -1 when the input lacks it (null). */
static status map_columns(pq_reader *r, const table_def *def, const char *label, int *map,
                          errinfo *err)
{
    size_t used = 0;
    for (size_t i = 0; i < def->ncols; i++) {
        int j = pq_reader_find(r, def->cols[i].name);
        map[i] = j;
        if (j < 0) {
            if (def->cols[i].required)
                return err_set(err, ST_DATA, "%s: it has no column %s, which table %s requires",
                               label, def->cols[i].name, def->name);
            continue;
        }
        used++;
        if (pq_reader_column(r, (size_t)j)->type != def->cols[i].type)
            return err_set(err, ST_DATA, "%s: column %s is not of the type table %s declares",
                           label, def->cols[i].name, def->name);
    }
    if (used != pq_reader_ncols(r))
        return err_set(err, ST_DATA,
                       "%s: it has columns table %s does not declare: it is not a file of "
                       "that table",
                       label, def->name);
    return ST_OK;
}

typedef struct ctx {
    const table_def *def;
    table_id table;
    int keycols[8]; /* table column index of each key column */
    int ext_col, run_col;
    int map[PQ_READER_COLS_MAX];
    pq_value *in;      /* the input row */
    tables_value *out; /* the table row */
    size_t in_alloc;
} ctx;

static status open_input(ctx *c, const merge_input *m, pq_reader **r, errinfo *err)
{
    status st = pq_reader_open(r, m->path, m->label, err);
    if (st != ST_OK)
        return st;
    if ((st = map_columns(*r, c->def, m->label, c->map, err)) != ST_OK) {
        pq_reader_free(*r);
        *r = NULL;
        return st;
    }
    size_t n = pq_reader_ncols(*r);
    if (n > c->in_alloc) {
        pq_value *p = realloc(c->in, n * sizeof *p);
        if (!p) {
            pq_reader_free(*r);
            *r = NULL;
            return err_set(err, ST_NOMEM, "out of memory reading %s", m->label);
        }
        c->in = p;
        c->in_alloc = n;
    }
    return ST_OK;
}

/* The table column i of the current input row. */
static const pq_value *col(const ctx *c, size_t i)
{
    static const pq_value null = {1, 0, NULL, 0};
    return c->map[i] < 0 ? &null : &c->in[c->map[i]];
}

static h128 key_hash(const ctx *c)
{
    h128 h = {UINT64_C(0xcbf29ce484222325), UINT64_C(0x84222325cbf29ce4)};
    for (size_t k = 0; k < c->def->nkey; k++)
        h_value(&h, col(c, (size_t)c->keycols[k]), c->def->cols[c->keycols[k]].type);
    return h_final(h);
}

/* Pass 1 over one input: the newest copy of each key of partition p. */
static status decide(ctx *c, winners *w, const merge_input *m, uint32_t fi, unsigned p,
                     unsigned parts, uint64_t *rows, errinfo *err)
{
    pq_reader *r;
    status st = open_input(c, m, &r, err);
    if (st != ST_OK)
        return st;
    size_t n = pq_reader_ncols(r);
    unsigned char *want = calloc(n, 1);
    if (!want) {
        pq_reader_free(r);
        return err_set(err, ST_NOMEM, "out of memory reading %s", m->label);
    }
    for (size_t k = 0; k < c->def->nkey; k++)
        if (c->map[c->keycols[k]] >= 0)
            want[c->map[c->keycols[k]]] = 1;
    if (c->map[c->ext_col] >= 0)
        want[c->map[c->ext_col]] = 1;
    if (c->map[c->run_col] >= 0)
        want[c->map[c->run_col]] = 1;
    pq_reader_select(r, want);
    free(want);
    uint64_t row = 0;
    for (;; row++) {
        int got;
        if ((st = pq_reader_next(r, c->in, &got, err)) != ST_OK || !got)
            break;
        h128 h = key_hash(c);
        if (h.b % parts != p)
            continue;
        const pq_value *e = col(c, (size_t)c->ext_col), *rv = col(c, (size_t)c->run_col);
        int64_t ext = e->null ? INT64_MIN : e->i;
        uint32_t run = 0;
        if ((st = runs_intern(&w->r, rv->null ? "" : rv->s, rv->null ? 0 : rv->len, &run, err)) !=
            ST_OK) {
            err_prefix(err, "%s", m->label);
            break;
        }
        slot *s = winners_find(w, h);
        if (s->file == UINT32_MAX) {
            if (w->n + 1 > w->cap / 20 * 19) {
                st = err_set(err, ST_INTERNAL, "the key table is full (%zu keys)", w->n);
                break;
            }
            *s = (slot){h.a, h.b, ext, run, fi, row};
            w->n++;
        } else if (ext > s->ext || (ext == s->ext && strcmp(w->r.s[run], w->r.s[s->run]) > 0)) {
            s->ext = ext;
            s->run = run;
            s->file = fi;
            s->row = row;
        }
    }
    if (rows)
        *rows += row;
    pq_reader_free(r);
    return st;
}

/* Pass 2 over one input: writes the rows of partition p that are their key's kept copy. */
static status emit(ctx *c, winners *w, const merge_input *m, uint32_t fi, unsigned p,
                   unsigned parts, pq_writer *out, uint64_t *written, errinfo *err)
{
    pq_reader *r;
    status st = open_input(c, m, &r, err);
    if (st != ST_OK)
        return st;
    for (uint64_t row = 0;; row++) {
        int got;
        if ((st = pq_reader_next(r, c->in, &got, err)) != ST_OK || !got)
            break;
        h128 h = key_hash(c);
        if (h.b % parts != p)
            continue;
        slot *s = winners_find(w, h);
        if (s->file != fi || s->row != row)
            continue;
        for (size_t i = 0; i < c->def->ncols; i++) {
            const pq_value *v = col(c, i);
            c->out[i] = (tables_value){v->null, v->i, v->s, v->len};
        }
        if ((st = tables_write_row(out, c->table, c->out, err)) != ST_OK) {
            err_prefix(err, "%s", m->label);
            break;
        }
        (*written)++;
    }
    pq_reader_free(r);
    return st;
}

static status file_sink(void *ctx_, const void *data, size_t len, errinfo *err)
{
    FILE *f = ctx_;
    if (len && fwrite(data, 1, len, f) != len)
        return err_set(err, ST_IO, "cannot write the merged file: %s", strerror(errno));
    return ST_OK;
}

static int find_col(const table_def *def, const char *name)
{
    for (size_t i = 0; i < def->ncols; i++)
        if (strcmp(def->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

status merge_files(table_id table, const merge_input *inputs, size_t n, const char *out_path,
                   const pq_options *opts, size_t hash_bytes, merge_stats *stats, errinfo *err)
{
    memset(stats, 0, sizeof *stats);
    ctx c = {0};
    c.def = tables_def(table);
    c.table = table;
    if (!c.def || c.def->nkey == 0 || c.def->nkey > 8 || n >= UINT32_MAX)
        return err_set(err, ST_INTERNAL, "merge: bad table or too many inputs");
    for (size_t k = 0; k < c.def->nkey; k++)
        if ((c.keycols[k] = find_col(c.def, c.def->key[k])) < 0)
            return err_set(err, ST_INTERNAL, "table %s: no key column %s", c.def->name,
                           c.def->key[k]);
    c.ext_col = find_col(c.def, "extracted_utc");
    c.run_col = find_col(c.def, "run_id");
    if (c.ext_col < 0 || c.run_col < 0)
        return err_set(err, ST_INTERNAL, "table %s: no extracted_utc or run_id", c.def->name);
    if (!(c.out = calloc(c.def->ncols, sizeof *c.out)))
        return err_set(err, ST_NOMEM, "out of memory merging");

    /* how many rows, hence how many partitions: every footer first */
    status st = ST_OK;
    uint64_t total = 0;
    for (size_t i = 0; i < n && st == ST_OK; i++) {
        pq_reader *r;
        if ((st = open_input(&c, &inputs[i], &r, err)) == ST_OK) {
            total += pq_reader_rows(r);
            pq_reader_free(r);
        }
    }
    size_t budget = hash_bytes ? hash_bytes : MERGE_HASH_BYTES;
    size_t maxcap = 1024;
    while (maxcap * 2 * sizeof(slot) <= budget)
        maxcap *= 2;
    /* partitions are sized for 15% more keys than the average, as hashes never split
     * keys quite evenly (the table refuses only past 95% full) */
    uint64_t per = maxcap * LOAD_NUM / LOAD_DEN;
    uint64_t parts64 = total <= per ? 1 : (total + total / 100 * 15) / per + 1;
    if (st == ST_OK && parts64 > 65536)
        st = err_set(err, ST_LIMIT, "merge: %llu rows are too many for one file",
                     (unsigned long long)total);
    unsigned parts = (unsigned)parts64;
    size_t cap = 1024;
    while (cap < maxcap && (parts > 1 || (uint64_t)cap * LOAD_NUM / LOAD_DEN < total + 1))
        cap *= 2;
    stats->partitions = parts;
    stats->rows_in = total;

    FILE *f = NULL;
    pq_writer *w = NULL;
    if (st == ST_OK && !(f = fopen(out_path, "wbe")))
        st = err_set(err, ST_IO, "cannot create %s: %s", out_path, strerror(errno));
    if (st == ST_OK)
        st = pq_writer_open(&w, c.def->cols, c.def->ncols, opts, file_sink, f, err);
    uint64_t written = 0, seen = 0;
    for (unsigned p = 0; st == ST_OK && p < parts; p++) {
        winners win;
        if ((st = winners_init(&win, cap, err)) != ST_OK)
            break;
        for (size_t i = 0; st == ST_OK && i < n; i++)
            st = decide(&c, &win, &inputs[i], (uint32_t)i, p, parts, p == 0 ? &seen : NULL, err);
        uint64_t before = written;
        for (size_t i = 0; st == ST_OK && i < n; i++)
            st = emit(&c, &win, &inputs[i], (uint32_t)i, p, parts, w, &written, err);
        if (st == ST_OK && written - before != win.n)
            st = err_set(err, ST_DATA,
                         "merge: %llu keys were decided but %llu rows written: an input "
                         "changed between two reads",
                         (unsigned long long)win.n, (unsigned long long)(written - before));
        winners_free(&win);
    }
    if (st == ST_OK && seen != total)
        st = err_set(err, ST_DATA, "merge: the inputs held %llu rows, not the %llu they said",
                     (unsigned long long)seen, (unsigned long long)total);
    if (st == ST_OK)
        st = pq_writer_close(w, err);
    pq_writer_free(w);
    if (f && fclose(f) != 0 && st == ST_OK)
        st = err_set(err, ST_IO, "cannot write %s: %s", out_path, strerror(errno));
    if (st == ST_OK)
        stats->rows_out = written;
    free(c.in);
    free(c.out);
    return st;
}

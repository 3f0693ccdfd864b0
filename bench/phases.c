/* Where the time of `convert` goes, phase by phase, on the same snapshot files, in
 * one thread: reading, parsing (jansson as convert does it, jansson from memory,
 * yajl streaming, an in-place tokenizer), freeing the tree, the flattening walk, the
 * Parquet encoding and the compression. Built and run by bench/profile; not part of
 * the project's build.
 *
 *   phases [--reps N] FILE...
 *
 * Every input is read into memory first (counted as "read"), then each phase runs
 * over all of them N times (default 3) and the fastest pass counts, since a shared
 * machine only ever adds time; the Parquet phases write to a sink that only counts
 * bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#ifdef HAVE_YAJL
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>
#endif

#include "parquet/pq.h"
#include "tables/tables.h"

#if defined(__has_include)
#if __has_include("util/jsontok.h")
#include "util/jsontok.h"
#define HAVE_JSONTOK 1
#endif
#endif

#define REPORT(name, secs, note)                                                                   \
    printf("%-34s %8.3f s %9.1f MB/s  %s\n", name, secs, total_mb / (secs), note)

typedef struct input {
    const char *path;
    char *data;
    size_t len;
} input;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "phases: %s: %s\n", what, detail);
    exit(1);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        die(path, strerror(errno));
    char *p = malloc((size_t)st.st_size + 1);
    if (!p)
        die(path, "out of memory");
    size_t got = fread(p, 1, (size_t)st.st_size, f);
    fclose(f);
    if (got != (size_t)st.st_size)
        die(path, "short read");
    p[got] = '\0';
    *len = got;
    return p;
}

/* ---- an in-place tokenizer: one token (type, start, end, children) per value,
 * no copies and no unescaping; the floor of any parser that keeps positions ---- */

enum { TK_OBJ, TK_ARR, TK_STR, TK_PRIM };

typedef struct token {
    uint32_t type, start, end, size;
} token;

/* Returns the number of tokens, or -1 on malformed input or too many tokens. */
static long tokenize(const char *s, size_t n, token *tok, size_t ntok)
{
    size_t next = 0, depth = 0;
    long stack[512];
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '{':
        case '[':
            if (next >= ntok || depth >= 512)
                return -1;
            if (depth)
                tok[stack[depth - 1]].size++;
            tok[next] = (token){c == '{' ? TK_OBJ : TK_ARR, (uint32_t)i, 0, 0};
            stack[depth++] = (long)next++;
            break;
        case '}':
        case ']':
            if (!depth)
                return -1;
            tok[stack[--depth]].end = (uint32_t)i + 1;
            break;
        case '"': {
            size_t j = i + 1;
            for (;;) {
                const char *q = memchr(s + j, '"', n - j);
                if (!q)
                    return -1;
                j = (size_t)(q - s);
                size_t bs = 0;
                while (j - bs > i + 1 && s[j - bs - 1] == '\\')
                    bs++;
                if (bs % 2 == 0)
                    break;
                j++;
            }
            if (next >= ntok)
                return -1;
            if (depth)
                tok[stack[depth - 1]].size++;
            tok[next++] = (token){TK_STR, (uint32_t)i + 1, (uint32_t)j, 0};
            i = j;
            break;
        }
        case ' ':
        case '\t':
        case '\r':
        case '\n':
        case ':':
        case ',':
            break;
        default: {
            size_t j = i;
            while (j < n && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' &&
                   s[j] != '\n')
                j++;
            if (next >= ntok)
                return -1;
            if (depth)
                tok[stack[depth - 1]].size++;
            tok[next++] = (token){TK_PRIM, (uint32_t)i, (uint32_t)j, 0};
            i = j - 1;
        }
        }
    }
    return depth ? -1 : (long)next;
}

#ifdef HAVE_YAJL
static long yajl_events;
static int cb_null(void *ctx)
{
    (void)ctx;
    yajl_events++;
    return 1;
}
static int cb_bool(void *ctx, int b)
{
    (void)ctx;
    (void)b;
    yajl_events++;
    return 1;
}
static int cb_num(void *ctx, const char *s, size_t l)
{
    (void)ctx;
    (void)s;
    (void)l;
    yajl_events++;
    return 1;
}
static int cb_str(void *ctx, const unsigned char *s, size_t l)
{
    (void)ctx;
    (void)s;
    (void)l;
    yajl_events++;
    return 1;
}
static int cb_start(void *ctx)
{
    (void)ctx;
    yajl_events++;
    return 1;
}
static const yajl_callbacks yajl_cbs = {cb_null,  cb_bool, NULL,    NULL,     cb_num, cb_str,
                                        cb_start, cb_str,  cb_null, cb_start, cb_null};
#endif

/* ---- Parquet into a sink that only counts ---- */

static status count_sink(void *ctx, const void *data, size_t len, errinfo *err)
{
    (void)data;
    (void)err;
    *(uint64_t *)ctx += len;
    return ST_OK;
}

static status noop_row(void *ctx, table_id table, const tables_value *row, errinfo *err)
{
    (void)table;
    (void)row;
    (void)err;
    ++*(long *)ctx;
    return ST_OK;
}

typedef struct result {
    double parse, flatten, free_, close;
    uint64_t bytes;
    table_counts counts;
} result;

/* One pass over all inputs: parse from memory, flatten (no writers: rows handed to a
 * no-op; else into four writers with `codec`), free. tokens = 0: a jansson tree and
 * tables_flatten_rows; 1: util/jsonscan + util/jsontok in tables_flatten_text (on each
 * input, since jsontok decodes in place; the copy is not timed). */
static status write_rows(void *ctx, table_id table, const tables_value *row, errinfo *err)
{
    pq_writer **w = ctx;
    return tables_write_row(w[table], table, row, err);
}

static result run_flatten(input *in, size_t n, int tokens, int writers_on, pq_codec codec)
{
    result r;
    memset(&r, 0, sizeof r);
    pq_writer *w[TBL_COUNT] = {0};
    errinfo err = {0};
    pq_options opts;
    memset(&opts, 0, sizeof opts);
    opts.codec = codec;
    opts.threads = 1; /* one thread: the split below is of one thread's time */
    if (writers_on)
        for (int t = 0; t < TBL_COUNT; t++) {
            const table_def *d = tables_def((table_id)t);
            if (pq_writer_open(&w[t], d->cols, d->ncols, &opts, count_sink, &r.bytes, &err) !=
                ST_OK)
                die("pq_writer_open", err.msg);
        }
    long rows = 0;
#ifdef HAVE_FLATTEN_TOKENS
    jsontok_doc doc;
    jsontok_init(&doc);
#endif
    for (size_t i = 0; i < n; i++) {
        tables_row_fn fn = writers_on ? write_rows : noop_row;
        void *ctx = writers_on ? (void *)w : (void *)&rows;
        status st;
        double t0, t1, t2, t3;
        if (!tokens) {
            t0 = now_s();
            json_error_t jerr;
            json_t *snap = json_loadb(in[i].data, in[i].len, 0, &jerr);
            if (!snap)
                die(in[i].path, jerr.text);
            t1 = now_s();
            st = tables_flatten_rows(snap, fn, ctx, &r.counts, &err);
            t2 = now_s();
            json_decref(snap);
            t3 = now_s();
        } else {
#ifdef HAVE_FLATTEN_TEXT
            /* tokenizing and flattening go a piece at a time, together: one figure */
            t0 = t1 = now_s();
            st = tables_flatten_text(in[i].data, in[i].len, 0, NULL, fn, ctx, &r.counts, &err);
            t2 = t3 = now_s();
#else
            die("tokens", "not built with HAVE_FLATTEN_TEXT");
#endif
        }
        if (st != ST_OK)
            die(in[i].path, err.msg);
        r.parse += t1 - t0;
        r.flatten += t2 - t1;
        r.free_ += t3 - t2;
    }
#ifdef HAVE_FLATTEN_TOKENS
    jsontok_dispose(&doc);
#endif
    double t0 = now_s();
    for (int t = 0; t < TBL_COUNT; t++) {
        if (w[t] && pq_writer_close(w[t], &err) != ST_OK)
            die("pq_writer_close", err.msg);
        pq_writer_free(w[t]);
    }
    r.close = now_s() - t0;
    return r;
}

static int reps = 3;

enum { P_MEMCHR, P_TOKENIZE, P_JSONTOK, P_YAJL, P_YAJL_TREE, P_JANSSON_FILE };

/* One pass of a parser over every input; returns its seconds (without freeing, which
 * goes to *free_s) and sets *count (tokens, events, ...). */
static double parse_pass(input *in, size_t n, int which, double *free_s, long *count)
{
    double total = 0;
    *free_s = 0;
    *count = 0;
    static token *tok;
    static const size_t ntok = (size_t)1 << 22;
    if (which == P_TOKENIZE && !tok && !(tok = malloc(ntok * sizeof *tok)))
        die("tokens", "out of memory");
#ifdef HAVE_JSONTOK
    jsontok_doc doc;
    jsontok_init(&doc);
#endif
    for (size_t i = 0; i < n; i++) {
        double t0 = now_s(), t1 = 0;
        switch (which) {
        case P_MEMCHR:
            for (const char *p = in[i].data;
                 (p = memchr(p, '"', in[i].len - (size_t)(p - in[i].data))); p++)
                ++*count;
            break;
        case P_TOKENIZE: {
            long k = tokenize(in[i].data, in[i].len, tok, ntok);
            if (k < 0)
                die(in[i].path, "tokenizer: malformed or too many tokens");
            *count += k;
            break;
        }
#ifdef HAVE_JSONTOK
        case P_JSONTOK: {
            /* jsontok decodes in place: it gets a copy, made outside the clock */
            char *copy = malloc(in[i].len + 1);
            if (!copy)
                die("copy", "out of memory");
            memcpy(copy, in[i].data, in[i].len + 1);
            errinfo jerr = {0};
            t0 = now_s();
            if (jsontok_parse(&doc, copy, in[i].len, 0, &jerr) != ST_OK)
                die(in[i].path, jerr.msg);
            total += now_s() - t0;
            *count += (long)doc.ntok;
            free(copy);
            continue;
        }
#endif
#ifdef HAVE_YAJL
        case P_YAJL: {
            yajl_events = 0;
            yajl_handle h = yajl_alloc(&yajl_cbs, NULL, NULL);
            if (yajl_parse(h, (const unsigned char *)in[i].data, in[i].len) != yajl_status_ok ||
                yajl_complete_parse(h) != yajl_status_ok)
                die(in[i].path, "yajl parse failed");
            yajl_free(h);
            *count += yajl_events;
            break;
        }
        case P_YAJL_TREE: {
            char ebuf[256];
            yajl_val v = yajl_tree_parse(in[i].data, ebuf, sizeof ebuf);
            if (!v)
                die(in[i].path, ebuf);
            t1 = now_s();
            yajl_tree_free(v);
            *free_s += now_s() - t1;
            ++*count;
            break;
        }
#endif
        case P_JANSSON_FILE: {
            json_error_t jerr;
            json_t *j = json_load_file(in[i].path, 0, &jerr);
            if (!j)
                die(in[i].path, jerr.text);
            t1 = now_s();
            json_decref(j);
            *free_s += now_s() - t1;
            ++*count;
            break;
        }
        default:
            die("parse_pass", "parser not built");
        }
        total += (t1 ? t1 : now_s()) - t0;
    }
#ifdef HAVE_JSONTOK
    jsontok_dispose(&doc);
#endif
    return total;
}

/* run_flatten `reps` times, keeping the smallest time of each part: the machine may
 * be shared, and interference only ever adds time. */
static result best_flatten(input *in, size_t n, int tokens, int writers_on, pq_codec codec)
{
    result best = run_flatten(in, n, tokens, writers_on, codec);
    for (int k = 1; k < reps; k++) {
        result r = run_flatten(in, n, tokens, writers_on, codec);
        if (r.parse < best.parse)
            best.parse = r.parse;
        if (r.free_ < best.free_)
            best.free_ = r.free_;
        if (r.flatten + r.close < best.flatten + best.close) {
            best.flatten = r.flatten;
            best.close = r.close;
        }
    }
    return best;
}

/* Runs one path four ways (rows to a no-op; writers with no codec, snappy, zstd) and
 * prints its split. file_parse > 0: the path's parse as convert did it (reading
 * through stdio, freeing the tree), used instead of the parse from memory. */
static void split(input *in, size_t n, int tokens, const char *name, double file_parse,
                  double total_mb)
{
    char note[128];
    printf("\n%s:\n", name);
    result a = best_flatten(in, n, tokens, 0, PQ_CODEC_NONE);
    result b = best_flatten(in, n, tokens, 1, PQ_CODEC_NONE);
    result c = best_flatten(in, n, tokens, 1, PQ_CODEC_SNAPPY);
    result d = best_flatten(in, n, tokens, 1, PQ_CODEC_ZSTD);
    double parse = a.parse + a.free_;
    REPORT("  parse (+ free) from memory", parse, "");
    REPORT("  flatten, rows to a no-op", a.flatten, "both passes (check, emit)");
    snprintf(note, sizeof note, "%.1f MB out", (double)b.bytes / 1e6);
    REPORT("  flatten into writers, no codec", b.flatten + b.close, note);
    snprintf(note, sizeof note, "%.1f MB out", (double)c.bytes / 1e6);
    REPORT("  flatten into writers, snappy", c.flatten + c.close, note);
    snprintf(note, sizeof note, "%.1f MB out", (double)d.bytes / 1e6);
    REPORT("  flatten into writers, zstd", d.flatten + d.close, note);
    if (file_parse > 0)
        parse = file_parse;
    double enc = (b.flatten + b.close) - a.flatten;
    double comp = (c.flatten + c.close) - (b.flatten + b.close);
    double total = parse + c.flatten + c.close;
    printf("  split with snappy%s:\n", file_parse > 0 ? " (parse as json_load_file)" : "");
    printf("    parse (+ free)   %6.2f s  %4.1f%%\n", parse, 100 * parse / total);
    printf("    flatten walk     %6.2f s  %4.1f%%\n", a.flatten, 100 * a.flatten / total);
    printf("    Parquet encode   %6.2f s  %4.1f%%\n", enc, 100 * enc / total);
    printf("    snappy           %6.2f s  %4.1f%%\n", comp, 100 * comp / total);
    printf("    total            %6.2f s  (%.1f MB/s in one thread)\n", total, total_mb / total);
    printf("  rows: events %lld, reports %lld, records %lld, intervals %lld\n",
           (long long)c.counts.rows[TBL_EVENTS], (long long)c.counts.rows[TBL_REPORTS],
           (long long)c.counts.rows[TBL_RECORDS], (long long)c.counts.rows[TBL_INTERVALS]);
}

int main(int argc, char **argv)
{
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "--reps") == 0) {
        reps = atoi(argv[2]);
        first = 3;
    }
    if (argc <= first || reps < 1) {
        fprintf(stderr, "usage: phases [--reps N] FILE...\n");
        return 2;
    }
    size_t n = (size_t)(argc - first);
    input *in = calloc(n, sizeof *in);
    if (!in)
        die("inputs", "out of memory");
    double total_mb = 0;

    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        in[i].path = argv[first + (int)i];
        in[i].data = read_all(in[i].path, &in[i].len);
        total_mb += (double)in[i].len / 1e6;
    }
    double t_read = now_s() - t0;

    printf("%zu files, %.1f MB of JSON\n", n, total_mb);
    REPORT("read files (page cache)", t_read, "");

    char note[128];
    long count = 0;
    double t_free = 0;
#define BEST(which, name, fmtnote)                                                                 \
    do {                                                                                           \
        double best = 1e30, best_free = 0;                                                         \
        for (int k = 0; k < reps; k++) {                                                           \
            double f = 0;                                                                          \
            double t = parse_pass(in, n, which, &f, &count);                                       \
            if (t < best) {                                                                        \
                best = t;                                                                          \
                best_free = f;                                                                     \
            }                                                                                      \
        }                                                                                          \
        t_free = best_free;                                                                        \
        snprintf(note, sizeof note, fmtnote, count);                                               \
        REPORT(name, best, note);                                                                  \
        last = best;                                                                               \
    } while (0)
    double last = 0;
    BEST(P_MEMCHR, "memchr for quotes (floor)", "%ld quotes");
    BEST(P_TOKENIZE, "in-place tokenizer (jsmn-like)", "%ld tokens, no validation");
#ifdef HAVE_JSONTOK
    BEST(P_JSONTOK, "util/jsontok (in place)", "%ld tokens, validates, decodes strings");
#endif
#ifdef HAVE_YAJL
    BEST(P_YAJL, "yajl streaming parse", "%ld events, no-op callbacks");
    BEST(P_YAJL_TREE, "yajl tree parse", "%ld files");
    REPORT("  yajl_tree_free", t_free, "freeing the tree");
#else
    printf("%-34s (not built: no yajl headers; apt-get install libyajl-dev)\n", "yajl");
#endif
    BEST(P_JANSSON_FILE, "jansson json_load_file (convert)", "%ld files; reads through stdio");
    double t_file = last, t_free_file = t_free;
    REPORT("  json_decref", t_free_file, "freeing the tree");
#undef BEST

    double t_parse_file = t_file + t_free_file;
#ifdef HAVE_FLATTEN_TOKENS
    split(in, n, 0,
          "jansson tree + tables_flatten_rows (which now dumps the tree and tokenizes it "
          "again: its walk includes that)",
          t_parse_file, total_mb);
#else
    split(in, n, 0, "jansson tree + tables_flatten_rows", t_parse_file, total_mb);
#endif
#ifdef HAVE_FLATTEN_TOKENS
    split(in, n, 1, "tables_flatten_text (jsonscan + jsontok)", 0, total_mb);
#endif
    for (size_t i = 0; i < n; i++)
        free(in[i].data);
    free(in);
    return 0;
}

/* Where the time of `convert` goes, phase by phase, on the same snapshot files, in
 * one thread: reading, parsing (jansson as convert does it, jansson from memory,
 * yajl streaming, an in-place tokenizer), freeing the tree, the flattening walk, the
 * Parquet encoding and the compression. Built and run by bench/profile; not part of
 * the project's build.
 *
 *   phases [--limit-mb N] FILE...
 *
 * Every input is read into memory first (counted as "read"), then each phase runs
 * over all of them; the Parquet phases write to a sink that only counts bytes. */
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
static const yajl_callbacks yajl_cbs = {cb_null, cb_bool,  NULL,     NULL,   cb_num,
                                        cb_str,  cb_start, cb_str,   cb_null, cb_start,
                                        cb_null};
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
 * no-op; else into four writers with `codec`), free. */
static result run_flatten(input *in, size_t n, int writers_on, pq_codec codec)
{
    result r;
    memset(&r, 0, sizeof r);
    pq_writer *w[TBL_COUNT] = {0};
    errinfo err = {0};
    pq_options opts;
    memset(&opts, 0, sizeof opts);
    opts.codec = codec;
    if (writers_on)
        for (int t = 0; t < TBL_COUNT; t++) {
            const table_def *d = tables_def((table_id)t);
            if (pq_writer_open(&w[t], d->cols, d->ncols, &opts, count_sink, &r.bytes, &err) !=
                ST_OK)
                die("pq_writer_open", err.msg);
        }
    long rows = 0;
    for (size_t i = 0; i < n; i++) {
        double t0 = now_s();
        json_error_t jerr;
        json_t *snap = json_loadb(in[i].data, in[i].len, 0, &jerr);
        if (!snap)
            die(in[i].path, jerr.text);
        double t1 = now_s();
        status st = writers_on ? tables_flatten_snapshot(snap, w, &r.counts, &err)
                               : tables_flatten_rows(snap, noop_row, &rows, &r.counts, &err);
        if (st != ST_OK)
            die(in[i].path, err.msg);
        double t2 = now_s();
        json_decref(snap);
        double t3 = now_s();
        r.parse += t1 - t0;
        r.flatten += t2 - t1;
        r.free_ += t3 - t2;
    }
    double t0 = now_s();
    for (int t = 0; t < TBL_COUNT; t++) {
        if (w[t] && pq_writer_close(w[t], &err) != ST_OK)
            die("pq_writer_close", err.msg);
        pq_writer_free(w[t]);
    }
    r.close = now_s() - t0;
    return r;
}

int main(int argc, char **argv)
{
    int first = 1;
    if (argc < 2) {
        fprintf(stderr, "usage: phases FILE...\n");
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
#define REPORT(name, secs, note)                                                                   \
    printf("%-34s %8.3f s %9.1f MB/s  %s\n", name, secs, total_mb / (secs), note)

    printf("%zu files, %.1f MB of JSON\n", n, total_mb);
    REPORT("read files (page cache)", t_read, "");

    /* floors */
    t0 = now_s();
    size_t quotes = 0;
    for (size_t i = 0; i < n; i++)
        for (const char *p = in[i].data; (p = memchr(p, '"', in[i].len - (size_t)(p - in[i].data)));
             p++)
            quotes++;
    REPORT("memchr for quotes (floor)", now_s() - t0, "");

    size_t ntok = 1 << 22;
    token *tok = malloc(ntok * sizeof *tok);
    if (!tok)
        die("tokens", "out of memory");
    long tokens = 0;
    t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        long k = tokenize(in[i].data, in[i].len, tok, ntok);
        if (k < 0)
            die(in[i].path, "tokenizer: malformed or too many tokens");
        tokens += k;
    }
    double t_tok = now_s() - t0;
    char note[128];
    snprintf(note, sizeof note, "%ld tokens, %zu quotes", tokens, quotes);
    REPORT("in-place tokenizer (jsmn-like)", t_tok, note);
    free(tok);

#ifdef HAVE_JSONTOK
    {
        /* the project's validating in-place tokenizer; it decodes strings in place,
         * so it works on a copy of each input (the copy is not timed) */
        jsontok_doc doc;
        jsontok_init(&doc);
        double t_jt = 0;
        size_t jt_tokens = 0;
        for (size_t i = 0; i < n; i++) {
            char *copy = malloc(in[i].len + 1);
            if (!copy)
                die("copy", "out of memory");
            memcpy(copy, in[i].data, in[i].len + 1);
            errinfo jerr = {0};
            double j0 = now_s();
            if (jsontok_parse(&doc, copy, in[i].len, 0, &jerr) != ST_OK)
                die(in[i].path, jerr.msg);
            t_jt += now_s() - j0;
            jt_tokens += doc.ntok;
            free(copy);
        }
        jsontok_free(&doc);
        snprintf(note, sizeof note, "%zu tokens, validates and decodes strings", jt_tokens);
        REPORT("util/jsontok (in place)", t_jt, note);
    }
#endif

#ifdef HAVE_YAJL
    t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        yajl_handle h = yajl_alloc(&yajl_cbs, NULL, NULL);
        if (yajl_parse(h, (const unsigned char *)in[i].data, in[i].len) != yajl_status_ok ||
            yajl_complete_parse(h) != yajl_status_ok)
            die(in[i].path, "yajl parse failed");
        yajl_free(h);
    }
    snprintf(note, sizeof note, "%ld events, no-op callbacks", yajl_events);
    REPORT("yajl streaming parse", now_s() - t0, note);

    t0 = now_s();
    double t_tree_free = 0;
    for (size_t i = 0; i < n; i++) {
        char ebuf[256];
        yajl_val v = yajl_tree_parse(in[i].data, ebuf, sizeof ebuf);
        if (!v)
            die(in[i].path, ebuf);
        double f0 = now_s();
        yajl_tree_free(v);
        t_tree_free += now_s() - f0;
    }
    REPORT("yajl tree parse + free", now_s() - t0, "");
#else
    printf("%-34s (not built: no yajl headers; apt-get install libyajl-dev)\n", "yajl");
#endif

    /* jansson as convert calls it: json_load_file (reads through stdio) */
    t0 = now_s();
    double t_free_file = 0;
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *j = json_load_file(in[i].path, 0, &jerr);
        if (!j)
            die(in[i].path, jerr.text);
        double f0 = now_s();
        json_decref(j);
        t_free_file += now_s() - f0;
    }
    double t_file = now_s() - t0 - t_free_file;
    REPORT("jansson json_load_file (convert)", t_file, "parse, reading through stdio");
    REPORT("  json_decref", t_free_file, "freeing the tree");

    result a = run_flatten(in, n, 0, PQ_CODEC_NONE);
    REPORT("jansson json_loadb (from memory)", a.parse, "");
    REPORT("flatten walk, rows to a no-op", a.flatten, "both passes of tables_flatten_rows");
    result b = run_flatten(in, n, 1, PQ_CODEC_NONE);
    result c = run_flatten(in, n, 1, PQ_CODEC_SNAPPY);
    result d = run_flatten(in, n, 1, PQ_CODEC_ZSTD);
    snprintf(note, sizeof note, "walk + buffering + encoding, %.1f MB out", (double)b.bytes / 1e6);
    REPORT("flatten into writers, no codec", b.flatten + b.close, note);
    snprintf(note, sizeof note, "%.1f MB out", (double)c.bytes / 1e6);
    REPORT("flatten into writers, snappy", c.flatten + c.close, note);
    snprintf(note, sizeof note, "%.1f MB out", (double)d.bytes / 1e6);
    REPORT("flatten into writers, zstd", d.flatten + d.close, note);

    double enc = (b.flatten + b.close) - a.flatten, comp = (c.flatten + c.close) - (b.flatten + b.close);
    double total = t_file + t_free_file + c.flatten + c.close;
    printf("\nconvert's time, split (snappy, as convert runs):\n");
    printf("  parse (json_load_file) %6.2f s  %4.1f%%\n", t_file, 100 * t_file / total);
    printf("  free the tree          %6.2f s  %4.1f%%\n", t_free_file, 100 * t_free_file / total);
    printf("  flatten walk           %6.2f s  %4.1f%%\n", a.flatten, 100 * a.flatten / total);
    printf("  Parquet encode         %6.2f s  %4.1f%%\n", enc, 100 * enc / total);
    printf("  snappy compression     %6.2f s  %4.1f%%\n", comp, 100 * comp / total);
    printf("  total                  %6.2f s  (%.1f MB/s)\n", total, total_mb / total);
    printf("rows: events %lld, reports %lld, records %lld, intervals %lld\n",
           (long long)c.counts.rows[TBL_EVENTS], (long long)c.counts.rows[TBL_REPORTS],
           (long long)c.counts.rows[TBL_RECORDS], (long long)c.counts.rows[TBL_INTERVALS]);
    for (size_t i = 0; i < n; i++)
        free(in[i].data);
    free(in);
    return 0;
}

/* The `convert` command: final snapshots in, one Parquet file per table out.
 * See convert.h. Files are written under a hidden temporary name in their final
 * folder, synced, then renamed, so a reader never sees half a file. */
#include "tables/convert.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "tables/tables.h"
#include "util/buf.h"
#include "util/timeutil.h"

#define RUN_ID_MAX 64
#define OUT_BUFFER_BYTES ((size_t)1 << 20)
/* A snapshot is parsed whole; its tree takes several times its size. */
#define CONVERT_MAX_INPUT ((uint64_t)1 << 31)

typedef struct outfile {
    char *dir;
    char *tmp_path;
    char *final_path;
    FILE *f;
    int fd;
    int created; /* tmp_path exists and is ours */
    int renamed; /* final_path exists and is ours */
    uint64_t bytes;
    pq_writer *w;
} outfile;

static status file_sink(void *ctx, const void *data, size_t len, errinfo *err)
{
    outfile *o = ctx;
    if (len && fwrite(data, 1, len, o->f) != len)
        return err_set(err, ST_IO, "cannot write %s: %s", o->tmp_path, strerror(errno));
    o->bytes += len;
    return ST_OK;
}

/* mkdir -p, for a path of our own making (no "..", no empty parts but a leading /). */
static status make_dirs(char *path, errinfo *err)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int rc = mkdir(path, 0777);
        int e = errno;
        *p = c;
        if (rc != 0 && e != EEXIST) {
            *p = '\0';
            err_set(err, ST_IO, "cannot create folder %s: %s", path, strerror(e));
            *p = c;
            return ST_IO;
        }
        if (c == '\0')
            return ST_OK;
    }
}

static status fsync_dir(const char *dir, errinfo *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return err_set(err, ST_IO, "cannot open folder %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    /* some file systems cannot sync a folder; the rename is still done */
    if (rc != 0 && e != EINVAL && e != ENOTSUP)
        return err_set(err, ST_IO, "cannot sync folder %s: %s", dir, strerror(e));
    return ST_OK;
}

static void make_run_id(int64_t now_us, char out[RUN_ID_MAX])
{
    unsigned char rnd[3] = {0, 0, 0};
    int fd = open("/dev/urandom", O_RDONLY);
    ssize_t got = fd >= 0 ? read(fd, rnd, sizeof rnd) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof rnd) {
        /* no urandom: the clock's microseconds and the pid still tell replicas apart */
        uint32_t x = (uint32_t)now_us ^ ((uint32_t)getpid() << 8);
        rnd[0] = (unsigned char)x;
        rnd[1] = (unsigned char)(x >> 8);
        rnd[2] = (unsigned char)(x >> 16);
    }
    char stamp[TIMEUTIL_FMT_MAX];
    timeutil_format_compact(now_us, stamp);
    snprintf(out, RUN_ID_MAX, "%s-%02x%02x%02x", stamp, rnd[0], rnd[1], rnd[2]);
}

static char *join_path(errinfo *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *join_path(errinfo *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && (s = malloc((size_t)n + 1)) != NULL) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    if (!s)
        err_set(err, ST_NOMEM, "out of memory building a path");
    return s;
}

static status open_output(outfile *o, const config *cfg, const table_def *def, const char *date,
                          const char *run_id, const pq_options *opts, errinfo *err)
{
    status st;
    o->fd = -1;
    o->dir = join_path(err, "%s/%sparquet/%s/ingest_date=%s", cfg->output_dir,
                       cfg->prefix ? cfg->prefix : "", def->name, date);
    if (!o->dir)
        return ST_NOMEM;
    o->tmp_path = join_path(err, "%s/.%s.parquet.tmp", o->dir, run_id);
    o->final_path = join_path(err, "%s/%s.parquet", o->dir, run_id);
    if (!o->tmp_path || !o->final_path)
        return ST_NOMEM;
    if ((st = make_dirs(o->dir, err)) != ST_OK)
        return st;
    o->fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (o->fd < 0)
        return err_set(err, ST_IO, "cannot create %s: %s", o->tmp_path, strerror(errno));
    o->created = 1;
    o->f = fdopen(o->fd, "wb");
    if (!o->f) {
        close(o->fd);
        o->fd = -1;
        return err_set(err, ST_IO, "cannot open %s: %s", o->tmp_path, strerror(errno));
    }
    setvbuf(o->f, NULL, _IOFBF, OUT_BUFFER_BYTES);
    return pq_writer_open(&o->w, def->cols, def->ncols, opts, file_sink, o, err);
}

/* Closes the writer (footer), syncs and renames into place. */
static status finish_output(outfile *o, errinfo *err)
{
    status st = pq_writer_close(o->w, err);
    if (st != ST_OK)
        return st;
    if (fflush(o->f) != 0 || fsync(o->fd) != 0)
        return err_set(err, ST_IO, "cannot write %s: %s", o->tmp_path, strerror(errno));
    int rc = fclose(o->f);
    o->f = NULL;
    o->fd = -1;
    if (rc != 0)
        return err_set(err, ST_IO, "cannot write %s: %s", o->tmp_path, strerror(errno));
    if (rename(o->tmp_path, o->final_path) != 0)
        return err_set(err, ST_IO, "cannot rename %s to %s: %s", o->tmp_path, o->final_path,
                       strerror(errno));
    o->created = 0;
    o->renamed = 1;
    return fsync_dir(o->dir, err);
}

static void free_output(outfile *o)
{
    pq_writer_free(o->w);
    if (o->f)
        fclose(o->f);
    else if (o->fd >= 0 && o->created)
        close(o->fd);
    if (o->created)
        unlink(o->tmp_path);
    free(o->dir);
    free(o->tmp_path);
    free(o->final_path);
    memset(o, 0, sizeof *o);
}

/* Snapshots are parsed into an arena: jansson's many small allocations are then
 * a pointer bump each, and dropping a whole tree is a reset. jansson's allocator
 * is process-wide, so the arena is installed only while one input is parsed
 * (convert runs alone, on one thread); the walk that follows allocates normally
 * (log lines), and the tree is never handed to json_decref, which would free()
 * arena memory: the next reset drops it. */
#define ARENA_CHUNK ((size_t)8 << 20)

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    max_align_t data[];
} arena_chunk;

static arena_chunk *g_arena_head, *g_arena_cur;
static json_malloc_t g_saved_malloc;
static json_free_t g_saved_free;

static void *arena_malloc(size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    for (;;) {
        arena_chunk *c = g_arena_cur;
        if (c && c->cap - c->used >= n) {
            void *p = (char *)c->data + c->used;
            c->used += n;
            return p;
        }
        if (c && c->next) {
            g_arena_cur = c->next;
            g_arena_cur->used = 0;
            continue;
        }
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        arena_chunk *fresh = malloc(sizeof *fresh + cap);
        if (!fresh)
            return NULL;
        fresh->next = NULL;
        fresh->cap = cap;
        fresh->used = 0;
        if (c)
            c->next = fresh;
        else
            g_arena_head = fresh;
        g_arena_cur = fresh;
    }
}

static void arena_free(void *p)
{
    (void)p;
}

static void arena_begin(void)
{
    g_arena_cur = g_arena_head;
    if (g_arena_cur)
        g_arena_cur->used = 0;
    json_get_alloc_funcs(&g_saved_malloc, &g_saved_free);
    json_set_alloc_funcs(arena_malloc, arena_free);
}

static void arena_end(void)
{
    json_set_alloc_funcs(g_saved_malloc, g_saved_free);
}

static void arena_release(void)
{
    while (g_arena_head) {
        arena_chunk *next = g_arena_head->next;
        free(g_arena_head);
        g_arena_head = next;
    }
    g_arena_cur = NULL;
}

/* The whole file in memory: jansson parses a buffer much faster than a stream.
 * Pipes and other non-regular files (`<(zcat x.json.gz)`) are read to their end. */
static status read_input(const char *path, buf *out, errinfo *err)
{
    status st = ST_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, ST_IO, "cannot read %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if ((uint64_t)sb.st_size > CONVERT_MAX_INPUT) {
            st = err_set(err, ST_TOO_LARGE, "larger than %llu bytes",
                         (unsigned long long)CONVERT_MAX_INPUT);
            goto out;
        }
        if ((st = buf_reserve(out, (size_t)sb.st_size, err)) != ST_OK)
            goto out;
    }
    for (;;) {
        /* read straight into the buffer while it has room (a regular file's size was
         * reserved), else through a small probe that finds the end or grows it */
        char probe[4096];
        size_t room = out->alloc > out->len + 1 ? out->alloc - out->len - 1 : 0;
        char *into = room ? out->data + out->len : probe;
        ssize_t r = read(fd, into, room ? room : sizeof probe);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = err_set(err, ST_IO, "cannot read: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if (room) {
            out->len += (size_t)r;
            out->data[out->len] = '\0';
        } else if ((st = buf_append(out, probe, (size_t)r, err)) != ST_OK) {
            goto out;
        }
    }
out:
    if (st != ST_OK)
        err_prefix(err, "%s", path);
    close(fd);
    return st;
}

/* Loads and flattens one input; the message names the file. */
static status convert_one(const char *path, pq_writer *const writers[TBL_COUNT],
                          table_counts *counts, errinfo *err)
{
    buf data;
    buf_init(&data, (size_t)CONVERT_MAX_INPUT);
    status st = read_input(path, &data, err);
    if (st != ST_OK) {
        buf_free(&data);
        return st;
    }
    arena_begin();
    json_error_t jerr;
    json_t *snap = json_loadb(data.data, data.len, 0, &jerr);
    arena_end();
    if (!snap) {
        st = err_set(err, ST_JSON, "%s is not valid JSON: %s (line %d, column %d)", path, jerr.text,
                     jerr.line, jerr.column);
    } else {
        st = writers ? tables_flatten_snapshot(snap, writers, counts, err)
                     : tables_flatten_rows(snap, NULL, NULL, counts, err);
        if (st != ST_OK)
            err_prefix(err, "%s", path);
        /* no json_decref: the tree lives in the arena */
    }
    buf_free(&data);
    return st;
}

status convert_run(const config *cfg, errinfo *err)
{
    status st = ST_OK;
    outfile out[TBL_COUNT];
    memset(out, 0, sizeof out);
    if (cfg->ninputs == 0)
        return err_set(err, ST_USAGE, "convert needs at least one snapshot file");
    if (!cfg->output_dir || !cfg->output_dir[0])
        return err_set(err, ST_USAGE, "convert needs --output-dir DIR");

    int64_t started = timeutil_now_us();
    char run_id[RUN_ID_MAX], date[TIMEUTIL_FMT_MAX];
    make_run_id(started, run_id);
    timeutil_format_date(started, date);

    pq_options opts;
    memset(&opts, 0, sizeof opts);
    opts.codec = cfg->codec;
    opts.int96_timestamps = cfg->int96_timestamps;
    pq_writer *writers[TBL_COUNT];
    for (int t = 0; t < TBL_COUNT; t++) {
        if ((st = open_output(&out[t], cfg, tables_def((table_id)t), date, run_id, &opts, err)) !=
            ST_OK)
            goto out;
        writers[t] = out[t].w;
    }

    table_counts counts;
    memset(&counts, 0, sizeof counts);
    size_t bad = 0;
    errinfo first = {0};
    for (size_t i = 0; i < cfg->ninputs; i++) {
        errinfo e = {0};
        /* after a bad input, the rest are only checked, so that all of them are named */
        status one = convert_one(cfg->inputs[i], bad ? NULL : writers, &counts, &e);
        if (one == ST_OK)
            continue;
        if (one != ST_IO && one != ST_JSON && one != ST_DATA && one != ST_TOO_LARGE) {
            /* the output failed, or memory: nothing more to learn from the inputs */
            st = err_set(err, one, "%s", e.msg);
            goto out;
        }
        log_error("input left unconverted",
                  json_pack("{s:s,s:s}", "file", cfg->inputs[i], "error", e.msg));
        if (bad++ == 0)
            first = e;
    }
    if (bad) {
        if (bad == 1)
            st = err_set(err, first.code, "%s", first.msg);
        else
            st = err_set(err, first.code, "%s (and %zu more inputs that cannot be converted)",
                         first.msg, bad - 1);
        goto out;
    }

    json_t *files = json_array();
    for (int t = 0; t < TBL_COUNT; t++) {
        if ((st = finish_output(&out[t], err)) != ST_OK) {
            json_decref(files);
            goto out;
        }
        json_array_append_new(files, json_pack("{s:s,s:I,s:I}", "path", out[t].final_path, "bytes",
                                               (json_int_t)out[t].bytes, "rows",
                                               (json_int_t)counts.rows[t]));
    }
    log_info("converted",
             json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "run_id", run_id, "inputs",
                       (json_int_t)cfg->ninputs, "events", (json_int_t)counts.rows[TBL_EVENTS],
                       "reports", (json_int_t)counts.rows[TBL_REPORTS], "records",
                       (json_int_t)counts.rows[TBL_RECORDS], "intervals",
                       (json_int_t)counts.rows[TBL_INTERVALS], "skipped",
                       (json_int_t)counts.skipped, "files", files));
out:
    if (st != ST_OK) {
        /* files already renamed go too: convert leaves all four or none */
        for (int t = 0; t < TBL_COUNT; t++)
            if (out[t].renamed)
                unlink(out[t].final_path);
    }
    for (int t = 0; t < TBL_COUNT; t++)
        free_output(&out[t]);
    arena_release();
    return st;
}

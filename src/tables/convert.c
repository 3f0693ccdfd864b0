/* The `convert` command: final snapshots in, one Parquet file per table out.
 * See convert.h. Files are written under a hidden temporary name in their final
 * folder, synced, then renamed, so a reader never sees half a file. */
#include "tables/convert.h"
#include "layout.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "tables/tables.h"
#include "util/buf.h"
#include "util/jsontok.h"
#include "util/timeutil.h"

#define OUT_BUFFER_BYTES ((size_t)1 << 20)
/* A snapshot is held whole while it is converted (with its tokens and rows: about
 * 3.5 times its size); jsontok offsets are 32-bit. */
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
    char *dir = layout_parquet_dir(cfg->prefix ? cfg->prefix : "", def->name, date);
    o->dir = dir ? join_path(err, "%s/%s", cfg->output_dir, dir) : NULL;
    free(dir);
    if (!o->dir)
        return err_set(err, ST_NOMEM, "out of memory building a path");
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

/* The whole file in memory, to be tokenized in place.
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

/* ---- loading and writing on three threads ----
 *
 * A loader thread reads each input whole, tokenizes it and runs the flattener,
 * keeping the rows as values (strings point into the input's text). Two writer
 * threads, the main thread and one more, hand the rows to the Parquet writers
 * (encoding, compression, file output) in input order, each its own tables, so
 * every writer is used by one thread only. At most SLOTS inputs are in flight and
 * their memory is reused from one input to the next: memory stays at a few inputs
 * plus the writers' row groups. An input is held whole, so its size counts several
 * times over (text, tokens, row values) while it is in flight. */
#define SLOTS 3
/* a slot whose buffers grew past this for a large input gives them back after it */
#define SLOT_KEEP_BYTES ((size_t)32 << 20)

typedef struct slot {
    buf data; /* the input's text, then tokenized in place */
    jsontok_doc doc;
    tables_value *vals; /* the rows' values back to back */
    size_t nvals, valloc;
    uint8_t *tables; /* the table of each row */
    size_t nrows, ralloc;
    buf own;            /* strings that do not live in the text (made by the flattener) */
    const char *last_s; /* the last one kept, to keep a repeated one once */
    size_t last_len, last_off;
    size_t *fix; /* values whose .s is an offset into own until the input is loaded */
    size_t nfix, fixalloc;
    table_counts counts;
    status st;
    errinfo err;
} slot;

/* Which writer thread writes a table: the attendance intervals one of their own,
 * the other three tables the main thread (about half the output each). */
#define WRITER_THREADS 2
#define WRITER_OF(t) ((t) == TBL_INTERVALS ? 1 : 0)

typedef struct loader {
    const config *cfg;
    pq_writer *writers[TBL_COUNT];
    slot slots[SLOTS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t loaded;               /* inputs whose slot is ready */
    size_t done[WRITER_THREADS]; /* inputs each writer thread is done with */
    int nwriters;                /* writer threads: 1 when the main thread writes all */
    int stop;                    /* load and write nothing more */
    status wst;                  /* the second writer thread's failure */
    errinfo werr;
} loader;

static status keep_row(void *ctx, table_id table, const tables_value *row, errinfo *err)
{
    slot *sl = ctx;
    size_t n = tables_def(table)->ncols;
    if (sl->nvals + n > sl->valloc) {
        size_t na = sl->valloc ? sl->valloc * 2 : 4096;
        while (na < sl->nvals + n)
            na *= 2;
        tables_value *nv = realloc(sl->vals, na * sizeof *nv);
        if (!nv)
            return err_set(err, ST_NOMEM, "out of memory keeping rows");
        sl->vals = nv;
        sl->valloc = na;
    }
    if (sl->nrows == sl->ralloc) {
        size_t na = sl->ralloc ? sl->ralloc * 2 : 1024;
        uint8_t *nt = realloc(sl->tables, na);
        if (!nt)
            return err_set(err, ST_NOMEM, "out of memory keeping rows");
        sl->tables = nt;
        sl->ralloc = na;
    }
    uintptr_t text = (uintptr_t)sl->data.data, end = text + sl->data.len;
    tables_value *v = sl->vals + sl->nvals;
    for (size_t i = 0; i < n; i++) {
        v[i] = row[i];
        if (row[i].null || tables_def(table)->cols[i].type != PQ_STRING)
            continue;
        uintptr_t p = (uintptr_t)row[i].s;
        if (row[i].len == 0 || (p >= text && p + row[i].len <= end))
            continue;
        /* the user_upn copy, a "#N" record key, a status: valid during the call only;
         * own may still move, so the pointer is set once the input is loaded */
        if (row[i].s != sl->last_s || row[i].len != sl->last_len) {
            sl->last_off = sl->own.len;
            status st = buf_append(&sl->own, row[i].s, row[i].len, err);
            if (st != ST_OK)
                return st;
            sl->last_s = row[i].s;
            sl->last_len = row[i].len;
        }
        if (sl->nfix == sl->fixalloc) {
            size_t na = sl->fixalloc ? sl->fixalloc * 2 : 1024;
            size_t *nf = realloc(sl->fix, na * sizeof *nf);
            if (!nf)
                return err_set(err, ST_NOMEM, "out of memory keeping rows");
            sl->fix = nf;
            sl->fixalloc = na;
        }
        sl->fix[sl->nfix++] = sl->nvals + i;
        v[i].s = NULL;
        v[i].i = (int64_t)sl->last_off;
    }
    sl->nvals += n;
    sl->tables[sl->nrows++] = (uint8_t)table;
    return ST_OK;
}

static void slot_reset(slot *sl)
{
    if (sl->data.alloc > SLOT_KEEP_BYTES)
        buf_free(&sl->data);
    if (sl->doc.alloc * sizeof(jsontok) > SLOT_KEEP_BYTES)
        jsontok_free(&sl->doc);
    if (sl->valloc * sizeof(tables_value) > SLOT_KEEP_BYTES) {
        free(sl->vals);
        sl->vals = NULL;
        sl->valloc = 0;
    }
    if (sl->ralloc > SLOT_KEEP_BYTES) {
        free(sl->tables);
        sl->tables = NULL;
        sl->ralloc = 0;
    }
    if (sl->fixalloc * sizeof(size_t) > SLOT_KEEP_BYTES) {
        free(sl->fix);
        sl->fix = NULL;
        sl->fixalloc = 0;
    }
    if (sl->own.alloc > SLOT_KEEP_BYTES)
        buf_free(&sl->own);
    buf_reset(&sl->data);
    buf_reset(&sl->own);
    sl->nvals = sl->nrows = sl->nfix = 0;
    sl->last_s = NULL;
    memset(&sl->counts, 0, sizeof sl->counts);
    sl->st = ST_OK;
    memset(&sl->err, 0, sizeof sl->err);
}

static void slot_free(slot *sl)
{
    buf_free(&sl->data);
    jsontok_free(&sl->doc);
    free(sl->vals);
    free(sl->tables);
    free(sl->fix);
    buf_free(&sl->own);
}

/* Reads, tokenizes and flattens one input into its slot; the message names the file.
 * \u0000 is accepted in string values: the job keeps it from Graph's pages, so its
 * snapshots can hold it, and convert gives the rows the job gave. */
static void load_input(slot *sl, const char *path)
{
    slot_reset(sl);
    status st = read_input(path, &sl->data, &sl->err);
    if (st == ST_OK && (st = jsontok_parse(&sl->doc, sl->data.data, sl->data.len, JSONTOK_ALLOW_NUL,
                                           &sl->err)) != ST_OK)
        err_prefix(&sl->err, "%s is not valid JSON", path);
    else if (st == ST_OK &&
             (st = tables_flatten_tokens(&sl->doc, keep_row, sl, &sl->counts, &sl->err)) != ST_OK)
        err_prefix(&sl->err, "%s", path);
    if (st != ST_OK)
        sl->nvals = sl->nrows = 0;
    else
        for (size_t k = 0; k < sl->nfix; k++)
            sl->vals[sl->fix[k]].s = sl->own.data + sl->vals[sl->fix[k]].i;
    sl->st = st;
}

/* Smallest input number some writer thread is not done with. */
static size_t min_done(const loader *ld)
{
    size_t m = ld->done[0];
    for (int k = 1; k < ld->nwriters; k++)
        if (ld->done[k] < m)
            m = ld->done[k];
    return m;
}

static void *loader_main(void *arg)
{
    loader *ld = arg;
    for (size_t i = 0; i < ld->cfg->ninputs; i++) {
        pthread_mutex_lock(&ld->mu);
        while (!ld->stop && i - min_done(ld) >= SLOTS)
            pthread_cond_wait(&ld->cv, &ld->mu);
        int stop = ld->stop;
        pthread_mutex_unlock(&ld->mu);
        if (stop)
            break;
        load_input(&ld->slots[i % SLOTS], ld->cfg->inputs[i]);
        pthread_mutex_lock(&ld->mu);
        ld->loaded = i + 1;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
    }
    return NULL;
}

/* The slot of input i once it is loaded; NULL when everything stops first. */
static slot *wait_loaded(loader *ld, size_t i)
{
    pthread_mutex_lock(&ld->mu);
    while (ld->loaded <= i && !ld->stop)
        pthread_cond_wait(&ld->cv, &ld->mu);
    int ready = ld->loaded > i;
    pthread_mutex_unlock(&ld->mu);
    return ready ? &ld->slots[i % SLOTS] : NULL;
}

/* Writer thread k is done with input i's slot. */
static void release(loader *ld, int k, size_t i)
{
    pthread_mutex_lock(&ld->mu);
    ld->done[k] = i + 1;
    pthread_cond_broadcast(&ld->cv);
    pthread_mutex_unlock(&ld->mu);
}

/* Nothing more is loaded or written. */
static void stop_all(loader *ld)
{
    pthread_mutex_lock(&ld->mu);
    ld->stop = 1;
    pthread_cond_broadcast(&ld->cv);
    pthread_mutex_unlock(&ld->mu);
}

/* Writes the rows of a slot that writer thread k writes. */
static status write_slot(const loader *ld, const slot *sl, int k, errinfo *err)
{
    const tables_value *v = sl->vals;
    for (size_t r = 0; r < sl->nrows; r++) {
        table_id t = (table_id)sl->tables[r];
        const table_def *def = tables_def(t);
        if (ld->nwriters == 1 || WRITER_OF(t) == k) {
            status st = tables_write_row(ld->writers[t], t, v, err);
            if (st != ST_OK)
                return st;
        }
        v += def->ncols;
    }
    return ST_OK;
}

/* The second writer thread: the tables of WRITER_OF 1, input by input. As on the
 * main thread, nothing is written from the first bad input on (the slots still go
 * back to the loader, which goes on so that every bad input is named). */
static void *writer_main(void *arg)
{
    loader *ld = arg;
    int bad = 0;
    for (size_t i = 0; i < ld->cfg->ninputs; i++) {
        slot *sl = wait_loaded(ld, i);
        if (!sl)
            break;
        if (sl->st != ST_OK)
            bad = 1;
        errinfo e = {0};
        status st = bad ? ST_OK : write_slot(ld, sl, 1, &e);
        if (st != ST_OK) {
            err_prefix(&e, "%s", ld->cfg->inputs[i]);
            pthread_mutex_lock(&ld->mu);
            ld->wst = st;
            ld->werr = e;
            ld->stop = 1;
            pthread_cond_broadcast(&ld->cv);
            pthread_mutex_unlock(&ld->mu);
            break;
        }
        release(ld, 1, i);
    }
    return NULL;
}

status convert_run(const config *cfg, errinfo *err)
{
    status st = ST_OK;
    outfile out[TBL_COUNT];
    memset(out, 0, sizeof out);
    loader *ld = NULL;
    pthread_t loader_thread, writer_thread;
    int threaded = 0, writer_started = 0;
    if (cfg->ninputs == 0)
        return err_set(err, ST_USAGE, "convert needs at least one snapshot file");
    if (!cfg->output_dir || !cfg->output_dir[0])
        return err_set(err, ST_USAGE, "convert needs --output-dir DIR");

    int64_t started = timeutil_now_us();
    char run_id[LAYOUT_RUN_ID_MAX], date[LAYOUT_DATE_MAX];
    layout_run_id(started, run_id, date);

    pq_options opts;
    memset(&opts, 0, sizeof opts);
    opts.kv = tables_parquet_kv;
    opts.nkv = 1;
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
    ld = calloc(1, sizeof *ld);
    if (!ld) {
        st = err_set(err, ST_NOMEM, "out of memory starting convert");
        goto out;
    }
    ld->cfg = cfg;
    for (int k = 0; k < SLOTS; k++) {
        buf_init(&ld->slots[k].data, (size_t)CONVERT_MAX_INPUT);
        buf_init(&ld->slots[k].own, 0);
        jsontok_init(&ld->slots[k].doc);
    }
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->cv, NULL);
    for (int t = 0; t < TBL_COUNT; t++)
        ld->writers[t] = writers[t];
    ld->nwriters = WRITER_THREADS;
    writer_started = pthread_create(&writer_thread, NULL, writer_main, ld) == 0;
    if (!writer_started)
        ld->nwriters = 1;
    threaded = pthread_create(&loader_thread, NULL, loader_main, ld) == 0;
    if (!threaded && writer_started) {
        /* without a loader thread, each input is loaded when its turn comes and the
         * main thread writes every table */
        stop_all(ld);
        pthread_join(writer_thread, NULL);
        writer_started = 0;
        ld->stop = 0;
        ld->nwriters = 1;
    }
    for (size_t i = 0; i < cfg->ninputs; i++) {
        slot *sl;
        if (threaded) {
            if (!(sl = wait_loaded(ld, i)))
                break; /* the other writer thread failed: see below */
        } else {
            sl = &ld->slots[0];
            load_input(sl, cfg->inputs[i]);
        }
        status one = sl->st;
        errinfo e = sl->err;
        if (one == ST_OK && !bad) {
            /* after a bad input, the rest are only checked, so that all of them are named */
            if ((one = write_slot(ld, sl, 0, &e)) != ST_OK) {
                err_prefix(&e, "%s", cfg->inputs[i]);
            } else {
                for (int t = 0; t < TBL_COUNT; t++)
                    counts.rows[t] += sl->counts.rows[t];
                counts.skipped += sl->counts.skipped;
            }
        }
        int fatal =
            one != ST_OK && one != ST_IO && one != ST_JSON && one != ST_DATA && one != ST_TOO_LARGE;
        if (threaded)
            release(ld, 0, i);
        if (one == ST_OK)
            continue;
        if (fatal) {
            /* the output failed, or memory: nothing more to learn from the inputs */
            st = err_set(err, one, "%s", e.msg);
            goto out;
        }
        log_error("input left unconverted",
                  json_pack("{s:s,s:s}", "file", cfg->inputs[i], "error", e.msg));
        if (bad++ == 0)
            first = e;
    }
    if (writer_started) {
        /* the other writer thread is done when every input is, or has failed */
        pthread_join(writer_thread, NULL);
        writer_started = 0;
        if (ld->wst != ST_OK) {
            st = err_set(err, ld->wst, "%s", ld->werr.msg);
            goto out;
        }
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
    if (ld)
        stop_all(ld);
    if (writer_started)
        pthread_join(writer_thread, NULL);
    if (threaded)
        pthread_join(loader_thread, NULL);
    if (ld) {
        for (int k = 0; k < SLOTS; k++)
            slot_free(&ld->slots[k]);
        pthread_mutex_destroy(&ld->mu);
        pthread_cond_destroy(&ld->cv);
        free(ld);
    }
    for (int t = 0; t < TBL_COUNT; t++)
        free_output(&out[t]);
    return st;
}

/* The `convert` command: final snapshots in, one Parquet file per table out.
 * See convert.h. Files are written under a hidden temporary name in their final
 * folder, synced, then renamed, so a reader never sees half a file. */
#if defined(__linux__)
#define _GNU_SOURCE /* sync_file_range */
#endif
#include "tables/convert.h"
#include "layout.h"

#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
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
#include "tables/rowchunk.h"
#include "tables/tables.h"
#include "util/buf.h"
#include "util/jsontok.h"
#include "util/timeutil.h"

#define OUT_BUFFER_BYTES ((size_t)1 << 20)

typedef struct outfile {
    char *dir;
    char *tmp_path;
    char *final_path;
    FILE *f;
    int fd;
    int created; /* tmp_path exists and is ours */
    int renamed; /* final_path exists and is ours */
    uint64_t bytes;
    uint64_t synced; /* bytes whose writeback was started */
    pq_writer *w;
} outfile;

/* Writeback is started every this many bytes, so that the sync before the rename
 * finds little left to write: otherwise it waits for the whole file at the end of
 * the run, with nothing else to do (about 6% of the time). */
#define WRITEBACK_BYTES ((uint64_t)8 << 20)

static status file_sink(void *ctx, const void *data, size_t len, errinfo *err)
{
    outfile *o = ctx;
    if (len && fwrite(data, 1, len, o->f) != len)
        return err_set(err, ST_IO, "cannot write %s: %s", o->tmp_path, strerror(errno));
    o->bytes += len;
#if defined(__linux__)
    if (o->bytes - o->synced >= WRITEBACK_BYTES) {
        /* a failure to start it early shows again in the sync at the end */
        if (fflush(o->f) == 0)
            (void)sync_file_range(o->fd, (off_t)o->synced, (off_t)(o->bytes - o->synced),
                                  SYNC_FILE_RANGE_WRITE);
        o->synced = o->bytes;
    }
#endif
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

/* Closes the writer (footer) and starts the writeback of what is left. */
static status close_output(outfile *o, errinfo *err)
{
    status st = pq_writer_close(o->w, err);
    if (st != ST_OK)
        return st;
    /* its row group's buffers go before the next file's last row group is written:
     * the end of the run is when memory peaks */
    pq_writer_free(o->w);
    o->w = NULL;
    if (fflush(o->f) != 0)
        return err_set(err, ST_IO, "cannot write %s: %s", o->tmp_path, strerror(errno));
#if defined(__linux__)
    (void)sync_file_range(o->fd, (off_t)o->synced, 0, SYNC_FILE_RANGE_WRITE);
#endif
    return ST_OK;
}

/* Syncs a closed output and renames it into place. */
static status finish_output(outfile *o, errinfo *err)
{
    if (fsync(o->fd) != 0)
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

/* A pipe or other non-regular input (`<(zcat x.json.gz)`), read to its end. */
static status read_input(int fd, buf *out, errinfo *err)
{
    for (;;) {
        char chunk[65536];
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return err_set(err, ST_IO, "cannot read: %s", strerror(errno));
        if (r == 0)
            return ST_OK;
        status st = buf_append(out, chunk, (size_t)r, err);
        if (st != ST_OK)
            return st;
    }
}

/* ---- loading and writing ----
 *
 * Loader threads read the inputs through the flattener, input i on loader
 * i % nloaders, and keep the rows as values in chunks: a chunk holds the rows of
 * part of one input, their strings copied into the chunk, and each loader fills a
 * ring of SLOTS chunks of its own. Two writer threads, the main thread and one more,
 * hand the rows to the Parquet writers chunk by chunk in input order (an input's
 * chunks from its loader's ring, then the next input's from the next loader's),
 * each its own tables, so every writer is used by one thread only and the files are
 * the bytes a single loader would give. Memory stays at the chunks of the rings
 * plus the writers' row groups, whatever the size of an input. */
#define LOADERS 2
#define SLOTS 12
/* a pipe or other non-regular input is read whole (the flattener needs to go back) */
#define CONVERT_MAX_PIPED ((uint64_t)1 << 31)

typedef struct slot {
    size_t input;
    int last; /* the input's last chunk: st, err and counts are set */
    rowchunk rows;
    table_counts counts;
    status st;
    errinfo err;
} slot;

/* Writer threads, the main thread (group 0) and one more (group 1). */
#define WRITER_THREADS ROWCHUNK_GROUPS

struct loader;

/* One loader and its ring; the counters under the loader's mutex. */
typedef struct feeder {
    struct loader *ld;
    int index;
    slot slots[SLOTS];
    size_t current;              /* the chunk this loader fills */
    size_t loaded;               /* chunks ready */
    int finished;                /* the loader made its last chunk */
    size_t done[WRITER_THREADS]; /* chunks each writer thread is done with */
    buf piped;                   /* a non-regular input's text */
    tables_scratch *sc;          /* the flattener's memory, kept from input to input */
    /* a chunk is ready (the writers wait), a slot is free (the loader waits): each
     * wakes only who waits for it */
    pthread_cond_t more, room;
    pthread_t thread;
    int started;
} feeder;

typedef struct loader {
    const config *cfg;
    pq_writer *writers[TBL_COUNT];
    feeder feeders[LOADERS];
    int nloaders;
    pthread_mutex_t mu; /* for every feeder's counters */
    int nwriters;       /* writer threads: 1 when the main thread writes all */
    int stop;           /* load and write nothing more */
    status wst;         /* the second writer thread's failure */
    errinfo werr;
    int threaded; /* the loaders run on threads of their own */
    size_t bad;   /* inputs that cannot be converted (the main thread's count) */
} loader;

static slot *slot_of(feeder *f, size_t chunk)
{
    return &f->slots[chunk % SLOTS];
}

static void slot_reset(slot *sl, size_t input)
{
    sl->input = input;
    sl->last = 0;
    rowchunk_clear(&sl->rows);
    memset(&sl->counts, 0, sizeof sl->counts);
    sl->st = ST_OK;
    memset(&sl->err, 0, sizeof sl->err);
}

/* Smallest chunk number of f's ring some writer thread is not done with. */
static size_t min_done(const loader *ld, const feeder *f)
{
    size_t m = f->done[0];
    for (int k = 1; k < ld->nwriters; k++)
        if (f->done[k] < m)
            m = f->done[k];
    return m;
}

/* Writes the rows of a chunk that writer thread k writes (all, with one thread). */
static status write_slot(const loader *ld, const slot *sl, int k, errinfo *err)
{
    return rowchunk_write(&sl->rows, ld->writers, ld->nwriters == 1 ? ROWCHUNK_ALL_GROUPS : k, err);
}

/* The chunk the loader fills is ready; the loader waits for a free slot for the next
 * (on one thread, the main thread writes it at once). 0 when everything stops. */
static int hand_over(feeder *f)
{
    loader *ld = f->ld;
    if (!ld->threaded) {
        slot *sl = slot_of(f, f->current);
        errinfo e = {0};
        if (!ld->bad && write_slot(ld, sl, 0, &e) != ST_OK) {
            ld->wst = e.code;
            ld->werr = e;
            return 0;
        }
        f->current++;
        return 1;
    }
    pthread_mutex_lock(&ld->mu);
    f->loaded = ++f->current;
    pthread_cond_broadcast(&f->more);
    while (!ld->stop && f->current - min_done(ld, f) >= SLOTS)
        pthread_cond_wait(&f->room, &ld->mu);
    int go = !ld->stop;
    pthread_mutex_unlock(&ld->mu);
    return go;
}

static status keep_row(void *ctx, table_id table, const tables_value *row, errinfo *err)
{
    feeder *f = ctx;
    slot *sl = slot_of(f, f->current);
    size_t bytes;
    status st = rowchunk_measure(table, row, &bytes, err);
    if (st != ST_OK)
        return st;
    if (rowchunk_full(&sl->rows, bytes)) {
        size_t input = sl->input;
        if (!hand_over(f))
            return err_set(err, ST_INTERNAL, "stopped");
        sl = slot_of(f, f->current);
        slot_reset(sl, input);
    }
    return rowchunk_add(&sl->rows, table, row, bytes, err);
}

/* Flattens one input into chunks; its last chunk says how it went (the message
 * names the file). \u0000 is accepted in string values: the job keeps it from
 * Graph's pages, so its snapshots can hold it, and convert gives the rows the job
 * gave. Returns 0 when everything stops. */
static int load_input(feeder *f, size_t i)
{
    loader *ld = f->ld;
    const char *path = ld->cfg->inputs[i];
    slot *sl = slot_of(f, f->current);
    slot_reset(sl, i);
    table_counts counts;
    memset(&counts, 0, sizeof counts);
    errinfo e = {0};
    status st = ST_OK;
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = err_set(&e, ST_IO, "cannot read %s: %s", path, strerror(errno));
    } else if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        st = tables_flatten_fd(fd, 0, f->sc, keep_row, f, &counts, &e);
    } else {
        buf_reset(&f->piped);
        if ((st = read_input(fd, &f->piped, &e)) == ST_OK)
            st = tables_flatten_text(f->piped.data, f->piped.len, 0, f->sc, keep_row, f, &counts,
                                     &e);
    }
    if (fd >= 0)
        close(fd);
    if ((st == ST_INTERNAL && ld->stop) || (!ld->threaded && ld->wst != ST_OK))
        return 0;
    if (st != ST_OK && fd >= 0)
        err_prefix(&e, "%s", path);
    sl = slot_of(f, f->current);
    sl->last = 1;
    sl->st = st;
    sl->err = e;
    sl->counts = counts;
    if (st != ST_OK)
        rowchunk_clear(&sl->rows);
    return 1;
}

static void *loader_main(void *arg)
{
    feeder *f = arg;
    loader *ld = f->ld;
    for (size_t i = (size_t)f->index; i < ld->cfg->ninputs; i += (size_t)ld->nloaders)
        if (!load_input(f, i) || !hand_over(f))
            break;
    pthread_mutex_lock(&ld->mu);
    f->finished = 1;
    pthread_cond_broadcast(&f->more);
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

/* Chunk c of f's ring once it is loaded; NULL when everything stops. */
static slot *wait_loaded(loader *ld, feeder *f, size_t c)
{
    pthread_mutex_lock(&ld->mu);
    while (f->loaded <= c && !ld->stop && !f->finished)
        pthread_cond_wait(&f->more, &ld->mu);
    int ready = f->loaded > c && !ld->stop;
    pthread_mutex_unlock(&ld->mu);
    return ready ? slot_of(f, c) : NULL;
}

/* Writer thread k is done with chunk c of f's ring. */
static void release(loader *ld, feeder *f, int k, size_t c)
{
    pthread_mutex_lock(&ld->mu);
    f->done[k] = c + 1;
    pthread_cond_signal(&f->room);
    pthread_mutex_unlock(&ld->mu);
}

/* Every waiter looks again (the caller holds the mutex). */
static void wake_all(loader *ld)
{
    for (int j = 0; j < LOADERS; j++) {
        pthread_cond_broadcast(&ld->feeders[j].more);
        pthread_cond_broadcast(&ld->feeders[j].room);
    }
}

/* Nothing more is loaded or written. */
static void stop_all(loader *ld)
{
    pthread_mutex_lock(&ld->mu);
    ld->stop = 1;
    wake_all(ld);
    pthread_mutex_unlock(&ld->mu);
}

static void join_loaders(loader *ld)
{
    for (int j = 0; j < LOADERS; j++) {
        if (ld->feeders[j].started)
            pthread_join(ld->feeders[j].thread, NULL);
        ld->feeders[j].started = 0;
    }
}

/* The second writer thread: the tables of group 1 (rowchunk.h), input by input. As on the
 * main thread, nothing is written from the first bad input on (the slots still go
 * back to the loaders, which go on so that every bad input is named). */
static void *writer_main(void *arg)
{
    loader *ld = arg;
    int bad = 0;
    size_t next[LOADERS] = {0};
    for (size_t i = 0; i < ld->cfg->ninputs; i++) {
        feeder *f = &ld->feeders[i % (size_t)ld->nloaders];
        for (int last = 0; !last;) {
            size_t c = next[f->index]++;
            slot *sl = wait_loaded(ld, f, c);
            if (!sl)
                return NULL;
            last = sl->last;
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
                wake_all(ld);
                pthread_mutex_unlock(&ld->mu);
                return NULL;
            }
            release(ld, f, 1, c);
        }
    }
    return NULL;
}

/* Joins the loaders and frees everything they hold (NULL-safe). */
static void free_loader(loader *ld)
{
    if (!ld)
        return;
    join_loaders(ld);
    for (int j = 0; j < LOADERS; j++) {
        for (int k = 0; k < SLOTS; k++)
            rowchunk_dispose(&ld->feeders[j].slots[k].rows);
        buf_dispose(&ld->feeders[j].piped);
        tables_scratch_free(ld->feeders[j].sc);
    }
    for (int j = 0; j < LOADERS; j++) {
        pthread_cond_destroy(&ld->feeders[j].more);
        pthread_cond_destroy(&ld->feeders[j].room);
    }
    pthread_mutex_destroy(&ld->mu);
    free(ld);
}

/* Starts the loaders (all or none) and the second writer thread; 0 when the main
 * thread must load and write everything itself. */
static int start_threads(loader *ld, pthread_t *writer_thread, int *writer_started)
{
    ld->threaded = 1;
    for (int j = 0; j < ld->nloaders; j++) {
        feeder *f = &ld->feeders[j];
        if (pthread_create(&f->thread, NULL, loader_main, f) != 0)
            break;
        f->started = 1;
    }
    if (!ld->feeders[ld->nloaders - 1].started) {
        /* the inputs are spread over the loaders from the start: with one missing,
         * the main thread loads them all instead (nothing was written yet) */
        stop_all(ld);
        join_loaders(ld);
        for (int j = 0; j < LOADERS; j++) {
            feeder *f = &ld->feeders[j];
            f->current = f->loaded = 0;
            f->finished = 0;
            memset(f->done, 0, sizeof f->done);
        }
        ld->stop = 0;
        ld->threaded = 0;
        ld->nloaders = 1;
        ld->nwriters = 1;
        return 0;
    }
    *writer_started = pthread_create(writer_thread, NULL, writer_main, ld) == 0;
    if (!*writer_started) {
        pthread_mutex_lock(&ld->mu);
        ld->nwriters = 1;
        wake_all(ld);
        pthread_mutex_unlock(&ld->mu);
    }
    return 1;
}

status convert_run(const config *cfg, errinfo *err)
{
    status st = ST_OK;
    outfile out[TBL_COUNT];
    memset(out, 0, sizeof out);
    loader *ld = NULL;
    pthread_t writer_thread;
    int threaded = 0, writer_started = 0;
    if (cfg->ninputs == 0)
        return err_set(err, ST_USAGE, "convert needs at least one snapshot file");
    if (!cfg->output_dir || !cfg->output_dir[0])
        return err_set(err, ST_USAGE, "convert needs --output-dir DIR");

#if defined(__GLIBC__)
    /* The writers' column buffers, the column chunks encoded at each flush and the
     * loaders' chunks are large and taken and given back all the time, on several
     * threads: from glibc's heaps, what they leave behind stays resident (about
     * 15 MiB at 500,000 records). Mapped on their own, they go back when freed. */
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
#endif
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
    errinfo first = {0};
    ld = calloc(1, sizeof *ld);
    if (!ld) {
        st = err_set(err, ST_NOMEM, "out of memory starting convert");
        goto out;
    }
    ld->cfg = cfg;
    pthread_mutex_init(&ld->mu, NULL);
    for (int j = 0; j < LOADERS; j++) {
        pthread_cond_init(&ld->feeders[j].more, NULL);
        pthread_cond_init(&ld->feeders[j].room, NULL);
    }
    for (int j = 0; j < LOADERS; j++) {
        feeder *f = &ld->feeders[j];
        f->ld = ld;
        f->index = j;
        buf_init(&f->piped, (size_t)CONVERT_MAX_PIPED);
        if (!(f->sc = tables_scratch_new())) {
            st = err_set(err, ST_NOMEM, "out of memory starting convert");
            goto out;
        }
    }
    for (int t = 0; t < TBL_COUNT; t++)
        ld->writers[t] = writers[t];
    ld->nloaders = cfg->ninputs < LOADERS ? (int)cfg->ninputs : LOADERS;
    ld->nwriters = WRITER_THREADS;
    threaded = start_threads(ld, &writer_thread, &writer_started);
    /* without loader threads, the main thread loads each input and writes every
     * table as chunks fill */
    size_t next[LOADERS] = {0};
    for (size_t i = 0; i < cfg->ninputs; i++) {
        feeder *f = &ld->feeders[i % (size_t)ld->nloaders];
        for (int last = 0; !last;) {
            size_t c = next[f->index]++;
            slot *sl;
            if (threaded) {
                if (!(sl = wait_loaded(ld, f, c))) {
                    /* the other writer thread failed: see below */
                    if (writer_started) {
                        pthread_join(writer_thread, NULL);
                        writer_started = 0;
                    }
                    st = ld->wst != ST_OK
                             ? err_set(err, ld->wst, "%s", ld->werr.msg)
                             : err_set(err, ST_INTERNAL, "convert stopped before its last input");
                    goto out;
                }
            } else {
                if (!load_input(f, i) && ld->wst != ST_OK) {
                    st = err_set(err, ld->wst, "%s", ld->werr.msg);
                    goto out;
                }
                sl = slot_of(f, f->current++);
            }
            last = sl->last;
            status one = ST_OK;
            errinfo e = {0};
            if (!ld->bad) {
                /* after a bad input, the rest are only checked, so that all of them are named */
                if ((one = write_slot(ld, sl, 0, &e)) != ST_OK)
                    err_prefix(&e, "%s", cfg->inputs[i]);
            }
            if (one == ST_OK && last) {
                one = sl->st;
                e = sl->err;
                if (one == ST_OK && !ld->bad) {
                    for (int t = 0; t < TBL_COUNT; t++)
                        counts.rows[t] += sl->counts.rows[t];
                    counts.skipped += sl->counts.skipped;
                }
            }
            int fatal = one != ST_OK && one != ST_IO && one != ST_JSON && one != ST_DATA &&
                        one != ST_TOO_LARGE;
            if (threaded)
                release(ld, f, 0, c);
            if (one == ST_OK)
                continue;
            if (fatal) {
                /* the output failed, or memory: nothing more to learn from the inputs */
                st = err_set(err, one, "%s", e.msg);
                goto out;
            }
            log_error("input left unconverted",
                      json_pack("{s:s,s:s}", "file", cfg->inputs[i], "error", e.msg));
            if (ld->bad++ == 0)
                first = e;
        }
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
    if (ld->bad) {
        size_t bad = ld->bad;
        if (bad == 1)
            st = err_set(err, first.code, "%s", first.msg);
        else
            st = err_set(err, first.code, "%s (and %zu more inputs that cannot be converted)",
                         first.msg, bad - 1);
        goto out;
    }

    /* every input is in: the loaders' chunks and buffers go before the last row
     * groups are written */
    free_loader(ld);
    ld = NULL;

    /* the four files are written back together, while the next is closed */
    for (int t = 0; t < TBL_COUNT; t++)
        if ((st = close_output(&out[t], err)) != ST_OK)
            goto out;
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
    free_loader(ld);
    for (int t = 0; t < TBL_COUNT; t++)
        free_output(&out[t]);
    return st;
}

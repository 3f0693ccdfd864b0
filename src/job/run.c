/* The run: settings -> token -> storage and checkpoint -> every mailbox through
 * the engine, a bounded number at a time -> Parquet files -> manifest ->
 * checkpoint, in that order, so a checkpoint never points past data that was not
 * written. Also `check`. */
#include "job/job.h"

#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job/run.h"
#include "job/window.h"
#include "layout.h"
#include "log.h"
#include "util/timeutil.h"
#include "util/tmpdir.h"
#include "util/urlenc.h"

static json_t *time_json(int64_t us)
{
    char s[TIMEUTIL_FMT_MAX];
    timeutil_format(us, s);
    return json_string(s);
}

void run_file_written(run *r, const char *name, size_t bytes)
{
    json_array_append_new(r->files_written,
                          json_pack("{s:s,s:I}", "path", name, "bytes", (json_int_t)bytes));
    r->bytes_written += (int64_t)bytes;
}

void run_storage_failed(run *r, const errinfo *err)
{
    if (!r->storage_failed) {
        r->storage_failed = 1;
        r->storage_err = *err;
        log_error("storage failed; the checkpoint will not move",
                  json_pack("{s:s}", "error", err->msg));
    }
}

/* ---- what the mailboxes are given (mailbox_env) ---- */

static status submit_request(void *eng, http_request *req, http_done_fn done, void *ctx,
                             errinfo *err)
{
    return http_submit(eng, req, done, ctx, err);
}

static void mailbox_done(void *r, mailbox *mb)
{
    run_mailbox_done(r, mb);
}

static void file_written(void *r, const char *name, size_t bytes)
{
    run_file_written(r, name, bytes);
}

static void storage_failed(void *r, const errinfo *err)
{
    run_storage_failed(r, err);
}

static void want_upload(void *r_, mailbox *mb)
{
    run *r = r_;
    if (!mb->upload_listed)
        r->uploads[r->nuploads++] = mb;
    mb->upload_listed = 1;
}

/* The snapshots mailboxes could not queue at once, uploaded between turns of the
 * engine; those still waiting for room stay listed. */
static void upload_deferred(run *r)
{
    size_t n = r->nuploads, keep = 0;
    for (size_t i = 0; i < n; i++) {
        mailbox *mb = r->uploads[i];
        mailbox_upload_deferred(mb); /* may defer another: it stays listed */
        if (mb->ndeferred > 0)
            r->uploads[keep++] = mb;
        else
            mb->upload_listed = 0;
    }
    /* mailboxes listed meanwhile (carried on by an upload) follow those kept */
    memmove(r->uploads + keep, r->uploads + n, (r->nuploads - n) * sizeof *r->uploads);
    r->nuploads = keep + (r->nuploads - n);
}

static json_t *counts_json(const table_counts *c)
{
    json_t *o = json_object();
    for (int t = 0; t < TBL_COUNT; t++)
        json_object_set_new(o, tables_def((table_id)t)->name, json_integer(c->rows[t]));
    return o;
}

void run_mailbox_done(run *r, mailbox *mb)
{
    r->active--;
    r->mb_finished++;
    if (mb->no_mailbox) {
        /* every run warns again: the member may get a mailbox, and then it is read */
        mb->state = MB_SKIPPED;
        roster_no_mailbox(&r->roster, mb->source);
        log_warn("group member has no mailbox; skipped",
                 json_pack("{s:s,s:s,s:s}", "upn", mb->upn_lower, "source", mb->source, "error",
                           mb->err.msg));
        return;
    }
    if (mb->state == MB_SUCCEEDED)
        for (int t = 0; t < TBL_COUNT; t++)
            r->rows += mb->counts.rows[t];
    else
        r->mb_failed++;
    double secs = (double)(mb->finished_us - mb->started_us) / 1e6;
    if (mb->state == MB_SUCCEEDED) {
        log_info("mailbox done",
                 json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:f}", "upn", mb->upn_lower, "status",
                           "succeeded", "events", (json_int_t)mb->n_events, "meetings",
                           (json_int_t)mb->n_meetings, "reports", (json_int_t)mb->n_reports,
                           "records", (json_int_t)mb->n_records, "skipped",
                           (json_int_t)mb->counts.skipped, "seconds", secs));
    } else {
        json_t *f = json_pack("{s:s,s:s,s:s,s:f}", "upn", mb->upn_lower, "status", "failed",
                              "error", mb->err.msg, "seconds", secs);
        if (!r->backfill && !mb->keep_entry) {
            /* the streak this failure makes, as the checkpoint will hold it: one line
               an alert rule can match ("failing since T, N runs") */
            checkpoint_streak s = checkpoint_failing_next(&r->cp, mb->upn, r->now_us);
            mb->failing_since = s.since_us;
            mb->failed_runs = s.runs;
            char since[TIMEUTIL_FMT_MAX], text[TIMEUTIL_FMT_MAX + 64];
            timeutil_format(s.since_us, since);
            snprintf(text, sizeof text, "failing since %s, %lld runs", since, (long long)s.runs);
            json_object_set_new(f, "failing_since", json_string(since));
            json_object_set_new(f, "failed_runs", json_integer((json_int_t)s.runs));
            json_object_set_new(f, "streak", json_string(text));
        }
        log_error("mailbox failed; its watermark is kept and it adds no rows", f);
    }
}

/* ---- Parquet outputs ------------------------------------------------------ */

static status file_sink(void *ctx, const void *data, size_t len, errinfo *err)
{
    FILE *f = ctx;
    if (len && fwrite(data, 1, len, f) != len)
        return err_set(err, ST_IO, "writing a temporary Parquet file: %s", strerror(errno));
    return ST_OK;
}

/* Mailboxes active at once, at most, whatever the engine's room: each holds a little
 * working state (docs/behaviour.md). */
#define ACTIVE_MAX 1024

/* Values a table buffers before it writes a row group, in the run. */
#define RUN_ROW_GROUP_BYTES ((size_t)8 << 20)

/* The temporary Parquet file of a table: "{table}.parquet" in the run's folder. */
static void table_file_name(int t, char name[64])
{
    snprintf(name, 64, "%s.parquet", tables_def((table_id)t)->name);
}

static void table_file(const run *r, int t, char *out, size_t n)
{
    char name[64];
    table_file_name(t, name);
    if (tmpdir_file(&r->tmp, name, out, n) != 0)
        out[0] = '\0';
}

static status open_tables(run *r, errinfo *err)
{
    int swept = tmpdir_sweep(r->cfg->tmpdir);
    if (swept > 0)
        log_info("removed the temporary folders of runs that ended without cleaning up",
                 json_pack("{s:s,s:i}", "folder", r->cfg->tmpdir, "count", swept));
    status st = tmpdir_open(&r->tmp, r->cfg->tmpdir, err);
    if (st != ST_OK)
        return st;
    r->spill.dir = r->tmp.path;
    r->spill.limit = (int64_t)r->cfg->spill_mb << 20;
    pq_options opts = {0};
    opts.kv = tables_parquet_kv;
    opts.nkv = 1;
    opts.codec = r->cfg->codec;
    opts.int96_timestamps = r->cfg->int96_timestamps;
    /* the run's memory budget holds four tables' row groups beside its spool and the
     * answers in flight (docs/behaviour.md) */
    opts.row_group_bytes = RUN_ROW_GROUP_BYTES;
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *d = tables_def((table_id)t);
        char name[64];
        table_file_name(t, name);
        int fd = tmpdir_create(&r->tmp, name, err);
        if (fd < 0)
            return ST_IO;
        r->files[t] = fdopen(fd, "wb");
        if (!r->files[t]) {
            close(fd);
            return err_set(err, ST_IO, "cannot open the temporary %s file: %s", d->name,
                           strerror(errno));
        }
        st = pq_writer_open(&r->writers[t], d->cols, d->ncols, &opts, file_sink, r->files[t], err);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

static status write_tables(run *r, errinfo *err)
{
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *d = tables_def((table_id)t);
        status st = pq_writer_close(r->writers[t], err);
        if (st == ST_OK && fclose(r->files[t]) != 0)
            st = err_set(err, ST_IO, "closing the %s Parquet file: %s", d->name, strerror(errno));
        r->files[t] = NULL;
        if (st != ST_OK)
            return st;
    }
    /* the temporary Parquet files only grow until now; with the most the mailboxes'
     * spill files held at once, an upper bound of the folder's peak */
    r->tmp_peak_bytes += r->spill.disk_peak;
    for (int t = 0; t < TBL_COUNT; t++) {
        char path[4352];
        struct stat sb;
        table_file(r, t, path, sizeof path);
        if (stat(path, &sb) == 0)
            r->tmp_peak_bytes += (int64_t)sb.st_size;
    }
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *d = tables_def((table_id)t);
        char path[4352];
        table_file(r, t, path, sizeof path);
        char *name = layout_parquet(r->cfg->prefix, d->name, r->date, r->run_id);
        if (!name)
            return err_set(err, ST_NOMEM, "out of memory");
        size_t bytes = 0;
        status st =
            store_put_file(r->store, name, path, "application/vnd.apache.parquet", &bytes, err);
        if (st == ST_OK)
            run_file_written(r, name, bytes);
        free(name);
        if (st != ST_OK)
            return st;
        r->table_landed[t] = 1;
    }
    return ST_OK;
}

static void close_tables(run *r)
{
    for (int t = 0; t < TBL_COUNT; t++) {
        pq_writer_free(r->writers[t]);
        r->writers[t] = NULL;
        if (r->files[t])
            fclose(r->files[t]);
        r->files[t] = NULL;
    }
    tmpdir_close(&r->tmp);
}

/* ---- mailbox selection ---------------------------------------------------- */

/* Response bytes held in flight in all: above it new requests wait. With the
 * mailboxes' spool budget and the writers' row groups, what bounds the run's memory
 * (docs/PERFORMANCE.md). */
#define RESPONSES_MAX_MB 48

#define CLOCK_SKEW_US (5 * 60 * TIMEUTIL_US_PER_SEC)

static uint32_t upn_hash(const char *upn)
{
    /* FNV-1a over the lower-cased UPN: stable across replicas and versions */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)upn; *p; p++) {
        h ^= (uint32_t)tolower(*p);
        h *= 16777619u;
    }
    return h;
}

/* With --claim: 1 when this replica took the mailbox, 0 when another has it. */
/* A claim holds its replica, run and expiry: on 409, the claim is read, and this
 * run's or replica's own (a first attempt whose reply was lost, a retried attempt) or an
 * expired one (its replica died; ATTENDANCE_CLAIM_LEASE_MINUTES, set to the replica
 * timeout) is taken over with If-Match. One that cannot be read is taken over too:
 * a mailbox done twice duplicates rows, one stranded loses them. */
static int claim_mailbox(run *r, mailbox *mb, errinfo *err)
{
    char *claim_name = layout_claim(
        r->cfg->prefix, r->cfg->execution_name ? r->cfg->execution_name : "default", mb->upn);
    if (!claim_name) {
        err_set(err, ST_NOMEM, "out of memory");
        return -1;
    }
    const char *me = r->cfg->replica_name ? r->cfg->replica_name : "";
    int64_t expires = r->now_us + (int64_t)r->cfg->claim_lease_minutes * 60 * TIMEUTIL_US_PER_SEC;
    json_t *claim =
        json_pack("{s:s,s:s,s:o,s:o}", "run_id", r->run_id, "replica", me, "claimed_utc",
                  time_json(r->now_us), "expires_utc", time_json(expires));
    char *body = claim ? json_dumps(claim, JSON_COMPACT) : NULL;
    json_decref(claim);
    if (!body) {
        free(claim_name);
        err_set(err, ST_NOMEM, "out of memory");
        return -1;
    }
    status st = store_put(r->store, claim_name, body, strlen(body), "application/json",
                          STORE_COND_IF_NONE_MATCH, NULL, NULL, err);
    int got = st == ST_OK ? 1 : -1;
    if (st == ST_CONFLICT) {
        err_clear(err);
        buf cur;
        buf_init(&cur, 1u << 16);
        char etag[STORE_ETAG_MAX];
        st = store_get(r->store, claim_name, &cur, etag, err);
        got = -1;
        if (st == ST_NOT_FOUND) {
            got = 0; /* released meanwhile: another replica's turn, not ours to race */
            err_clear(err);
        } else if (st == ST_OK) {
            json_t *held = json_loadb(cur.data ? cur.data : "", cur.len, 0, NULL);
            const char *by = json_string_value(json_object_get(held, "replica"));
            const char *held_run = json_string_value(json_object_get(held, "run_id"));
            const char *until = json_string_value(json_object_get(held, "expires_utc"));
            int64_t until_us;
            int readable = by && held_run && until && timeutil_parse(until, &until_us) == 0;
            /* this run's own (its first try's reply was lost), or this replica's when the
             * platform names replicas (a retried attempt); a host name alone may be
             * shared by runs side by side */
            int mine = readable && (strcmp(held_run, r->run_id) == 0 ||
                                    (r->cfg->replica_from_platform && *me && strcmp(by, me) == 0));
            int expired = readable && until_us <= r->now_us;
            got = 0;
            if (!readable || mine || expired) {
                st = store_put(r->store, claim_name, body, strlen(body), "application/json",
                               STORE_COND_IF_MATCH, etag, NULL, err);
                got = st == ST_OK ? 1 : st == ST_PRECONDITION ? 0 : -1;
                if (st == ST_PRECONDITION)
                    err_clear(err);
                if (got == 1)
                    log_info("mailbox claim taken over",
                             json_pack("{s:s,s:s}", "upn", mb->upn_lower, "reason",
                                       !readable ? "unreadable"
                                       : mine    ? "this replica's own"
                                                 : "expired"));
            }
            json_decref(held);
        }
        buf_dispose(&cur);
    }
    free(body);
    free(claim_name);
    return got;
}

/* The old job's value holds for its mailboxes (SGA_UPN*) only: say so when none of
 * them is configured, since the value then moves no window. */
static void warn_unused_legacy(const run *r)
{
    if (r->cp.legacy_watermark == INT64_MIN)
        return;
    for (size_t i = 0; i < r->cfg->nusers; i++)
        if (checkpoint_legacy_applies(&r->cp, r->cfg->users[i]))
            return;
    char t[TIMEUTIL_FMT_MAX];
    timeutil_format(r->cp.legacy_watermark, t);
    log_warn("the old job's last_meeting_start applies to no configured mailbox: it belongs to "
             "the SGA_UPN and SGA_UPN<n> mailboxes; others get their own first-run window",
             json_pack("{s:s}", "last_meeting_start", t));
}

/* A mailbox that fails before it starts: done at once, named in the log and the
 * manifest. keep_entry: its checkpoint entry stays exactly as it was. */
static void fail_before_start(run *r, mailbox *mb, int keep_entry)
{
    mb->state = MB_FAILED;
    mb->keep_entry = keep_entry;
    mb->started_us = mb->finished_us = timeutil_now_us();
    r->active++;
    run_mailbox_done(r, mb);
}

/* A UPN whose folder name does not fit a file system (255 bytes a name) or a blob name
 * (1024 bytes) would fail the storage step of the whole run: that mailbox alone fails. */
static int name_too_long(run *r, mailbox *mb)
{
    buf folder;
    buf_init(&folder, 0);
    status st = urlenc_upn_folder(&folder, mb->upn, NULL);
    size_t n = folder.len;
    buf_dispose(&folder);
    char *name = layout_snapshot(r->cfg->prefix, "final", r->date, mb->upn, r->run_id);
    size_t total = name ? strlen(name) : SIZE_MAX;
    free(name);
    if (st == ST_OK && n + sizeof "user=" - 1 <= 255 && total <= 1024)
        return 0;
    err_set(&mb->err, ST_CONFIG,
            "the mailbox %.120s... is too long for a folder name (user=%zu bytes once encoded, "
            "at most 250): check the UPN in ATTENDANCE_USERS or SGA_UPN*",
            mb->upn_lower, n);
    fail_before_start(r, mb, 0);
    return 1;
}

/* A watermark later than now (plus clock skew) would give an empty window and be
 * written back run after run: that mailbox alone fails, its entry left as it is. */
static int watermark_in_future(run *r, mailbox *mb)
{
    if (mb->old_watermark == WINDOW_NO_WATERMARK || mb->old_watermark <= r->now_us + CLOCK_SKEW_US)
        return 0;
    char wm[TIMEUTIL_FMT_MAX], now[TIMEUTIL_FMT_MAX];
    timeutil_format(mb->old_watermark, wm);
    timeutil_format(r->now_us, now);
    err_set(&mb->err, ST_DATA,
            "the checkpoint's watermark of %s is %s, later than now (%s): the mailbox is not "
            "processed and its entry is left as it is. Repair: in %sregistry/checkpoint.json set "
            "mailboxes[\"%s\"].watermark to the start of the last meeting that landed (or delete "
            "the entry for a first-run window)%s",
            mb->upn_lower, wm, now, r->cfg->prefix, mb->upn_lower,
            checkpoint_legacy_applies(&r->cp, mb->upn)
                ? "; the value is the old job's legacy_last_meeting_start / last_meeting_start"
                : "");
    fail_before_start(r, mb, 1);
    return 1;
}

typedef struct registry_read {
    run *r;
    mailbox *mb;
    char *name;
} registry_read;

/* A storage failure reading its tracked meetings fails that mailbox alone (it is tried
 * again next run). */
static void registry_failed(run *r, mailbox *mb, const errinfo *e)
{
    mb->err = *e;
    err_prefix(&mb->err, "reading its tracked meetings");
    r->active--; /* fail_before_start counts it again */
    fail_before_start(r, mb, 0);
}

/* The mailbox's tracked meetings are read: it starts. */
static void on_registry(void *ctx, status st, const errinfo *read_err, buf *body, const char *etag)
{
    registry_read *rr = ctx;
    errinfo e = {0};
    if (registry_take(&rr->mb->reg, rr->name, st, read_err, body, etag, &e) == ST_OK)
        mailbox_start(rr->mb);
    else
        registry_failed(rr->r, rr->mb, &e);
    free(rr->name);
    free(rr);
}

/* Reads the mailbox's tracked meetings through the engine, many mailboxes at once (one
 * after another, each read would hold the run for a round trip to the storage); the
 * mailbox is active from now on and starts when they arrive. */
static void start_with_registry(run *r, mailbox *mb)
{
    errinfo e = {0};
    r->active++;
    registry_read *rr = calloc(1, sizeof *rr);
    char *name = layout_registry(r->cfg->prefix, mb->upn);
    if (!rr || !name) {
        free(rr);
        free(name);
        err_set(&e, ST_NOMEM, "out of memory");
        registry_failed(r, mb, &e);
        return;
    }
    rr->r = r;
    rr->mb = mb;
    rr->name = name;
    if (store_get_async(r->store, name, REGISTRY_MAX, on_registry, rr, &e) != ST_OK) {
        free(name);
        free(rr);
        registry_failed(r, mb, &e);
    }
}

static void start_next(run *r)
{
    /* another mailbox starts while the engine could send more than the active ones
     * have ready: as many as keep the slots full, whatever the size of each */
    while (r->next < r->nmb && r->active < ACTIVE_MAX && (r->active < 2 || http_room(r->eng) > 0)) {
        mailbox *mb = r->mbs[r->next++];
        if (r->cfg->claim) {
            errinfo e = {0};
            int got = claim_mailbox(r, mb, &e);
            if (got < 0) {
                run_storage_failed(r, &e);
                mb->state = MB_FAILED;
                mb->err = e;
                r->mb_finished++;
                r->mb_failed++;
                continue;
            }
            if (!got) {
                mb->state = MB_SKIPPED;
                r->mb_finished++;
                log_info("mailbox claimed by another replica",
                         json_pack("{s:s}", "upn", mb->upn_lower));
                continue;
            }
        }
        if (name_too_long(r, mb))
            continue;
        if (r->backfill) {
            mb->window_start = r->cfg->since_us;
            mb->window_end = r->cfg->has_until ? r->cfg->until_us : r->now_us;
        } else {
            mb->old_watermark = checkpoint_watermark(&r->cp, mb->upn);
            if (watermark_in_future(r, mb))
                continue;
            window_for_mailbox(mb->old_watermark, r->now_us, r->cfg->first_run_days,
                               r->cfg->overlap_minutes, &mb->window_start, &mb->window_end);
        }
        start_with_registry(r, mb);
    }
}

/* ---- tracked meetings ---------------------------------------------------- */

/* Tracked-meetings files written at once at the end of a run: one after another, each
 * would wait a round trip to the storage (10,000 mailboxes on Azurite: 109 s). */
#define REGISTRY_WRITES_AT_ONCE 64

typedef struct registry_writes {
    int pending;
    int failed;      /* a write failed: no new one starts */
    errinfo err;     /* the first failure */
    mailbox **again; /* another run wrote them meanwhile: merged one by one */
    size_t nagain;
} registry_writes;

typedef struct registry_write {
    registry_writes *w;
    mailbox *mb;
    char *name;
} registry_write;

static void on_registry_written(void *ctx, status st, const errinfo *err, const char *etag)
{
    registry_write *rw = ctx;
    registry_writes *w = rw->w;
    w->pending--;
    if (st == ST_OK) {
        snprintf(rw->mb->reg.etag, sizeof rw->mb->reg.etag, "%s", etag);
    } else if (st == ST_PRECONDITION || st == ST_CONFLICT) {
        w->again[w->nagain++] = rw->mb;
    } else if (!w->failed) {
        w->failed = 1;
        w->err = *err;
    }
    free(rw->name);
    free(rw);
}

static status write_registry(run *r, registry_writes *w, mailbox *mb, errinfo *err)
{
    registry_write *rw = calloc(1, sizeof *rw);
    char *name = layout_registry(r->cfg->prefix, mb->upn);
    size_t len = strlen(mb->registry_text);
    char *data = malloc(len + 1);
    if (!rw || !name || !data) {
        free(rw);
        free(name);
        free(data);
        return err_set(err, ST_NOMEM, "out of memory");
    }
    memcpy(data, mb->registry_text, len + 1);
    rw->w = w;
    rw->mb = mb;
    rw->name = name;
    int fresh = mb->reg.etag[0] == '\0';
    w->pending++;
    status st = store_put_async(r->store, name, data, len, "application/json",
                                fresh ? STORE_COND_IF_NONE_MATCH : STORE_COND_IF_MATCH,
                                fresh ? NULL : mb->reg.etag, on_registry_written, rw, err);
    if (st != ST_OK) {
        w->pending--;
        err_prefix(err, "writing %s", name);
        free(name);
        free(rw);
    }
    return st;
}

/* Each mailbox that landed writes its tracked meetings: after the Parquet files (a
 * landed id is only written once its rows are), before the manifest and the
 * checkpoint; REGISTRY_WRITES_AT_ONCE at a time through the engine. A file another run
 * changed meanwhile is merged and written again (registry_save). The first failure is
 * returned. */
static status save_registries(run *r, errinfo *err)
{
    /* the run holds it: a write still in flight when a signal stops this loop may
     * complete in a later turn of the engine */
    registry_writes *w = r->regw = calloc(1, sizeof *r->regw);
    if (!w || !(w->again = calloc(r->nmb + 1, sizeof *w->again)))
        return err_set(err, ST_NOMEM, "out of memory");
    status st = ST_OK;
    for (size_t i = 0; st == ST_OK && (i < r->nmb || w->pending > 0);) {
        while (!w->failed && st == ST_OK && i < r->nmb && w->pending < REGISTRY_WRITES_AT_ONCE) {
            mailbox *mb = r->mbs[i++];
            if (mb->state == MB_SUCCEEDED && mb->registry_text)
                st = write_registry(r, w, mb, err);
        }
        if (w->failed)
            i = r->nmb;
        if (st == ST_OK && w->pending > 0)
            st = http_step(r->eng, err);
    }
    if (st == ST_OK && w->failed) {
        *err = w->err;
        st = err->code != ST_OK ? err->code : ST_IO;
    }
    for (size_t i = 0; st == ST_OK && i < w->nagain; i++) {
        mailbox *mb = w->again[i];
        char *name = layout_registry(r->cfg->prefix, mb->upn);
        json_t *doc = json_loads(mb->registry_text, 0, NULL);
        if (!name || !doc)
            st = err_set(err, ST_NOMEM, "out of memory");
        else if ((st = registry_save(r->store, name, &mb->reg, doc, err)) != ST_OK)
            err_prefix(err, "writing %s", name);
        json_decref(doc);
        free(name);
    }
    return st;
}

/* ---- manifest and checkpoint ---------------------------------------------- */

static const char *run_status(const run *r, int *ok, int *failed)
{
    *ok = *failed = 0;
    for (size_t i = 0; i < r->nmb; i++) {
        if (r->mbs[i]->state == MB_SUCCEEDED)
            (*ok)++;
        else if (r->mbs[i]->state != MB_SKIPPED)
            (*failed)++;
    }
    if (r->terminated)
        return "terminated";
    if (r->fatal || r->storage_failed)
        return "failed";
    if (*failed == 0 && r->roster.failed_groups == 0)
        return "succeeded";
    return *ok ? "partial" : "failed";
}

/* A mailbox's rows that landed: those of the tables whose file was written. */
static table_counts landed_counts(const run *r, const mailbox *mb)
{
    table_counts c = mb->counts;
    for (int t = 0; t < TBL_COUNT; t++)
        if (mb->state != MB_SUCCEEDED || !r->table_landed[t])
            c.rows[t] = 0;
    return c;
}

/* The manifest says what landed: after a storage failure the run is failed, a
 * mailbox whose rows did not all land is failed with the storage's error, and
 * counts and files hold only what is in the storage. */
static json_t *manifest(run *r, table_counts *total)
{
    int ok, failed;
    const char *st = run_status(r, &ok, &failed);
    json_t *mbs = json_array();
    for (size_t i = 0; i < r->nmb; i++) {
        mailbox *mb = r->mbs[i];
        if (mb->state == MB_SKIPPED)
            continue;
        int good = mb->state == MB_SUCCEEDED && !r->storage_failed && !r->terminated;
        const char *error = mb->state != MB_SUCCEEDED ? mb->err.msg
                            : r->storage_failed       ? r->storage_err.msg
                            : r->terminated
                                ? "the run was stopped by a signal before its rows were "
                                  "written"
                                : NULL;
        table_counts landed = landed_counts(r, mb);
        for (int t = 0; t < TBL_COUNT; t++)
            total->rows[t] += landed.rows[t];
        json_t *o = json_pack(
            "{s:s,s:s,s:o,s:o,s:s,s:o,s:o,s:I,s:I}", "upn", mb->upn_lower, "source",
            mb->source ? mb->source : "users", "window_start",
            mb->window_start ? time_json(mb->window_start) : json_null(), "window_end",
            mb->window_end ? time_json(mb->window_end) : json_null(), "status",
            good ? "succeeded" : "failed", "error", error ? json_string(error) : json_null(),
            "counts", counts_json(&landed), "skipped", (json_int_t)mb->counts.skipped, "bad_values",
            (json_int_t)mb->counts.bad_values);
        int done = mb->state == MB_SUCCEEDED;
        /* failed runs in a row (null in a backfill, which reads no checkpoint) */
        int known = !r->backfill && (done || mb->failed_runs > 0);
        json_object_set_new(o, "failing_since",
                            !done && known ? time_json(mb->failing_since) : json_null());
        json_object_set_new(o, "failed_runs",
                            known ? json_integer(done ? 0 : (json_int_t)mb->failed_runs)
                                  : json_null());
        json_array_append_new(mbs, o);
    }
    if (r->fatal && r->nmb == 0) {
        /* stopped before its mailboxes were set up: each of this shard's is named, failed */
        const config *cfg = r->cfg;
        for (size_t i = 0; i < cfg->nusers; i++) {
            if (cfg->shard_count > 1 &&
                upn_hash(cfg->users[i]) % (uint32_t)cfg->shard_count != (uint32_t)cfg->shard_index)
                continue;
            char upn[512];
            size_t n = 0;
            for (; cfg->users[i][n] && n + 1 < sizeof upn; n++)
                upn[n] = (char)tolower((unsigned char)cfg->users[i][n]);
            upn[n] = '\0';
            table_counts none = {0};
            json_array_append_new(
                mbs, json_pack("{s:s,s:s,s:n,s:n,s:s,s:s,s:o,s:i,s:i}", "upn", upn, "source",
                               i < cfg->nusers_listed ? "users" : "sga_upn", "window_start",
                               "window_end", "status", "failed", "error", r->fatal_err.msg,
                               "counts", counts_json(&none), "skipped", 0, "bad_values", 0));
        }
    }
    json_t *m =
        json_pack("{s:i,s:s,s:s,s:o,s:o,s:o,s:O,s:o,s:I}", "format_version", 1, "run_id", r->run_id,
                  "status", st, "started_utc", time_json(r->now_us), "finished_utc",
                  time_json(timeutil_now_us()), "mailboxes", mbs, "files", r->files_written,
                  "counts", counts_json(total), "tmp_peak_bytes", (json_int_t)r->tmp_peak_bytes);
    if (m && r->cfg->ngroups) {
        json_object_set_new(m, "groups", roster_groups_json(&r->roster));
        json_object_set_new(m, "skipped_members", json_integer(roster_skipped(&r->roster)));
    }
    return m;
}

static void write_manifest(run *r, table_counts *total)
{
    char *name = layout_manifest(r->cfg->prefix, r->run_id);
    json_t *m = manifest(r, total);
    if (r->fatal)
        json_object_set_new(m, "error", json_string(r->fatal_err.msg));
    else if (r->storage_failed)
        json_object_set_new(m, "error", json_string(r->storage_err.msg));
    char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(m);
    errinfo me = {0};
    if (!text || !name)
        err_set(&me, ST_NOMEM, "out of memory writing the manifest");
    if (!text || !name ||
        store_put(r->store, name, text, strlen(text), "application/json", STORE_COND_NONE, NULL,
                  NULL, &me) != ST_OK)
        run_storage_failed(r, &me);
    free(text);
    free(name);
}

static status save_checkpoint(run *r, errinfo *err)
{
    checkpoint_update *up = calloc(r->nmb ? r->nmb : 1, sizeof *up);
    if (!up)
        return err_set(err, ST_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < r->nmb; i++) {
        mailbox *mb = r->mbs[i];
        int64_t wm = mb->state == MB_SUCCEEDED ? mb->new_watermark : mb->old_watermark;
        /* a failed mailbox keeps its old watermark (which an old job's single
         * value supplies until the mailbox has its own entry), and one without a
         * watermark still counts its failed runs */
        if (mb->state == MB_SKIPPED || mb->keep_entry ||
            (wm == WINDOW_NO_WATERMARK && mb->state == MB_SUCCEEDED))
            continue;
        up[n].upn_lower = mb->upn_lower;
        up[n].watermark = wm;
        up[n].done = mb->state == MB_SUCCEEDED;
        n++;
    }
    if (n == 0) {
        /* nothing to move (every mailbox claimed elsewhere, or none has a watermark) */
        free(up);
        return ST_OK;
    }
    char *name = layout_checkpoint(r->cfg->prefix);
    status st = name ? checkpoint_save(r->store, name, &r->cp, up, n, r->run_id, r->now_us,
                                       timeutil_now_us(), err)
                     : err_set(err, ST_NOMEM, "out of memory");
    free(name);
    free(up);
    return st;
}

/* ---- the run -------------------------------------------------------------- */

void run_http_limits(const config *cfg, http_limits *l)
{
    http_limits_default(l);
    l->timeout_ms = (long)cfg->http_timeout_s * 1000;
    l->max_retries = cfg->max_retries;
    l->max_retry_wait_ms = (long)cfg->max_retry_wait_s * 1000;
    if (l->base_backoff_ms > l->max_retry_wait_ms)
        l->base_backoff_ms = l->max_retry_wait_ms;
    l->max_in_flight = cfg->concurrency;
    l->max_body = (size_t)cfg->max_response_mb << 20;
    l->max_body_total = (size_t)RESPONSES_MAX_MB << 20;
    l->group_cap = 4;
}

/* Redraws the progress line on a terminal (at most a few times a second). */
static void tick(run *r, int force)
{
    if (!r->prog.enabled)
        return;
    http_stats hs = {0};
    if (r->eng)
        http_engine_stats(r->eng, &hs);
    progress_counts c = {0};
    c.mailboxes_done = r->mb_finished;
    c.mailboxes_failed = r->mb_failed;
    c.mailboxes_total = (int64_t)r->nmb;
    c.requests = (int64_t)hs.requests;
    c.retries = (int64_t)hs.retries;
    c.throttled = (int64_t)hs.throttled;
    c.rows = r->rows;
    progress_update(&r->prog, &c, timeutil_now_us(), force);
}

/* The summary table on a terminal: rows per table, mailboxes, requests, and the
 * failed mailboxes with their errors. */
static void summary_table(run *r, const char *st, int ok, int failed, const http_stats *hs,
                          const table_counts *total, int64_t duration_us)
{
    if (!r->prog.enabled)
        return;
    progress_totals t = {0};
    t.run_id = r->run_id;
    t.status = st;
    for (int i = 0; i < TBL_COUNT; i++)
        t.rows[i] = total->rows[i];
    t.mailboxes_ok = ok;
    t.mailboxes_failed = failed;
    t.requests = (int64_t)hs->requests;
    t.retries = (int64_t)hs->retries;
    t.throttled = (int64_t)hs->throttled;
    t.duration_us = duration_us;
    progress_failure *f = calloc(r->nmb ? r->nmb : 1, sizeof *f);
    size_t nf = 0;
    for (size_t i = 0; f && i < r->nmb; i++) {
        mailbox *mb = r->mbs[i];
        if (mb->state == MB_SUCCEEDED || mb->state == MB_SKIPPED)
            continue;
        f[nf].upn = mb->upn_lower;
        f[nf].error = mb->err.msg[0] ? mb->err.msg : "not finished";
        f[nf].failing_since = mb->failed_runs > 0 ? mb->failing_since : INT64_MIN;
        f[nf].failed_runs = mb->failed_runs;
        nf++;
    }
    /* out of memory: the table without the list */
    progress_summary(&r->prog, &t, f, nf);
    free(f);
}

static void summary(run *r, int64_t started_us, const table_counts *total)
{
    int ok, failed;
    const char *st = run_status(r, &ok, &failed);
    if (r->fatal && r->nmb == 0)
        failed = (int)r->cfg->nusers; /* stopped before any mailbox was set up */
    int64_t events = 0, meetings = 0, reports = 0, records = 0;
    for (size_t i = 0; i < r->nmb; i++) {
        events += r->mbs[i]->n_events;
        meetings += r->mbs[i]->n_meetings;
        reports += r->mbs[i]->n_reports;
        records += r->mbs[i]->n_records;
    }
    http_stats hs = {0};
    if (r->eng)
        http_engine_stats(r->eng, &hs);
    json_t *f = json_pack("{s:s,s:s,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "run_id",
                          r->run_id, "status", st, "mailboxes_ok", ok, "mailboxes_failed", failed,
                          "events", (json_int_t)events, "meetings", (json_int_t)meetings, "reports",
                          (json_int_t)reports, "records", (json_int_t)records, "requests",
                          (json_int_t)hs.requests, "retries", (json_int_t)hs.retries, "throttled",
                          (json_int_t)hs.throttled, "bytes_written", (json_int_t)r->bytes_written,
                          "rows_intervals", (json_int_t)total->rows[TBL_INTERVALS],
                          "duration_seconds", (double)(timeutil_now_us() - started_us) / 1e6);
    if (r->storage_failed)
        json_object_set_new(f, "storage_error", json_string(r->storage_err.msg));
    if (r->fatal)
        json_object_set_new(f, "error", json_string(r->fatal_err.msg));
    summary_table(r, st, ok, failed, &hs, total, timeutil_now_us() - started_us);
    log_write(strcmp(st, "succeeded") == 0 ? LOG_INFO : LOG_ERROR, "run finished", f);
}

/* An error that ends the run before its mailboxes are done: logged now, and the
 * summary line still closes the log. */
static int fatal(run *r, const char *what, const errinfo *e)
{
    log_error(what, json_pack("{s:s,s:s}", "error", e->msg, "kind", status_name(e->code)));
    if (!r->fatal) {
        r->fatal = 1;
        r->fatal_err = *e;
    }
    return 1;
}

/* SIGTERM (a replica timeout, a cancelled execution) and SIGINT stop the run: no
 * new request starts, what is in flight is abandoned, the manifest says
 * "terminated", the checkpoint does not move, the temporary folder goes. */
static volatile sig_atomic_t g_stop;

static void on_stop_signal(int sig)
{
    g_stop = sig;
}

static void catch_stop_signals(struct sigaction *old_term, struct sigaction *old_int)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGTERM, &sa, old_term);
    sigaction(SIGINT, &sa, old_int);
}

/* The engine stops watching the worker's descriptor first: once closed, its number
 * can come back as a socket of the engine's. */
static void stop_finisher(run *r)
{
    if (r->eng)
        http_unwatch(r->eng);
    worker_free(r->env.finisher);
    r->env.finisher = NULL;
}

static void terminate(run *r)
{
    const char *name = g_stop == SIGINT ? "SIGINT" : "SIGTERM";
    r->terminated = 1;
    log_error("terminated by a signal: what was in flight is abandoned and the checkpoint does "
              "not move",
              json_pack("{s:s}", "signal", name));
    for (size_t i = 0; i < r->nmb; i++) {
        mailbox *mb = r->mbs[i];
        if (mb->state == MB_PENDING || mb->state == MB_ACTIVE) {
            mb->state = MB_FAILED;
            err_set(&mb->err, ST_INTERNAL, "the run was stopped (%s) before this mailbox was done",
                    name);
        }
    }
}

int job_run(const config *cfg)
{
    run r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.rows_lock, NULL);
    r.tmp.lock_fd = -1;
    r.cfg = cfg;
    r.now_us = timeutil_now_us();
    r.backfill = cfg->has_since;
    r.cp.legacy_watermark = INT64_MIN;
    r.files_written = json_array();
    layout_run_id(r.now_us, r.run_id, r.date);
    int64_t started = r.now_us;
    progress_init(&r.prog, stderr, cfg->log_format, started);
    int code = 1;
    errinfo e = {0};
    table_counts total = {0};

    struct sigaction old_term, old_int;
    catch_stop_signals(&old_term, &old_int);
    log_info("run started", json_pack("{s:s,s:s,s:i,s:s}", "run_id", r.run_id, "mode",
                                      r.backfill ? "backfill" : "incremental", "mailboxes",
                                      (int)cfg->nusers, "version", TA_VERSION));

    http_limits lim;
    run_http_limits(cfg, &lim);
    if (http_engine_new(&r.eng, &lim, &e) != ST_OK) {
        code = fatal(&r, "cannot start", &e);
        goto out;
    }
    if (store_open(&r.store, cfg, r.eng, &e) != ST_OK || store_prepare(r.store, &e) != ST_OK) {
        code = fatal(&r, "cannot use the storage", &e);
        goto out;
    }
    /* storage first: a run that stops before its mailboxes still leaves a manifest */
    if (token_source_graph(&r.graph_tokens, cfg, &e) != ST_OK) {
        code = fatal(&r, "cannot get a Graph token", &e);
        goto stopped;
    }
    const char *tok;
    if (token_get(r.graph_tokens, 0, &tok, &e) != ST_OK) {
        code = fatal(&r, "cannot get a Graph token", &e);
        goto stopped;
    }
    r.gc.host = cfg->graph_host;
    r.gc.tokens = r.graph_tokens;
    r.gc.page_size = 500;
    if (roster_build(&r.roster, cfg, r.eng, &r.gc, &e) != ST_OK) {
        code = fatal(&r, "cannot list the mailboxes of ATTENDANCE_GROUPS", &e);
        goto stopped;
    }

    if (!r.backfill) {
        char *name = layout_checkpoint(cfg->prefix);
        status cst = name ? checkpoint_load(r.store, name, &r.cp, &e)
                          : err_set(&e, ST_NOMEM, "out of memory");
        if (cst != ST_OK) {
            if (e.code == ST_JSON)
                err_prefix(&e,
                           "the checkpoint %s is left as it is, never overwritten: repair it "
                           "(docs/format.md) or move it aside to give every mailbox its "
                           "first-run window",
                           name);
            free(name);
            code = fatal(&r, "cannot read the checkpoint", &e);
            goto stopped;
        }
        free(name);
        checkpoint_set_legacy_mailboxes(&r.cp, cfg->legacy_users, cfg->nlegacy_users);
        warn_unused_legacy(&r);
    }

    mailbox_env *env = &r.env;
    env->cfg = cfg;
    env->gc = &r.gc;
    env->submit = submit_request;
    env->submit_ctx = r.eng;
    env->store = r.store;
    env->writers = r.writers;
    env->tmp = &r.tmp;
    /* the final work of a mailbox takes milliseconds; on the engine's thread it would
     * hold back every answer meanwhile. One malloc arena for all threads: with one
     * each, what one thread frees cannot serve the other, and the peak was 30 MiB
     * higher (1,000 mailboxes) */
    mallopt(M_ARENA_MAX, 1);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned finishers = cpus >= RUN_FINISHERS ? RUN_FINISHERS : 1;
    /* without it each snapshot's text and tokens are allocated (and faulted in) anew */
    for (unsigned i = 0; i < finishers; i++)
        r.flatten[i] = tables_scratch_new();
    env->flatten = r.flatten;
    env->rows_lock = finishers > 1 ? &r.rows_lock : NULL;
    if (worker_new(&env->finisher, finishers, &e) != ST_OK ||
        http_watch(r.eng, worker_fd(env->finisher), &e) != ST_OK) {
        code = fatal(&r, "cannot start", &e);
        goto out;
    }
    env->spill = &r.spill;
    env->upload_held = &r.upload_held;
    env->put_files = store_local(r.store);
    env->run_id = r.run_id;
    env->date = r.date;
    env->now_us = r.now_us;
    env->backfill = r.backfill;
    env->done = mailbox_done;
    env->file_written = file_written;
    env->storage_failed = storage_failed;
    env->want_upload = want_upload;
    env->ctx = &r;
    r.mbs = calloc(r.roster.n ? r.roster.n : 1, sizeof *r.mbs);
    r.uploads = calloc(2 * r.roster.n + 1, sizeof *r.uploads);
    if (!r.mbs || !r.uploads) {
        err_set(&e, ST_NOMEM, "out of memory");
        code = fatal(&r, "cannot start", &e);
        goto out;
    }
    for (size_t i = 0; i < r.roster.n; i++) {
        const roster_entry *re = &r.roster.v[i];
        if (cfg->shard_count > 1 &&
            upn_hash(re->upn) % (uint32_t)cfg->shard_count != (uint32_t)cfg->shard_index)
            continue;
        mailbox *mb = mailbox_new(&r.env, (int)r.nmb, re->upn);
        if (!mb) {
            err_set(&e, ST_NOMEM, "out of memory");
            code = fatal(&r, "cannot start", &e);
            goto out;
        }
        mb->source = re->source;
        r.mbs[r.nmb++] = mb;
    }
    if (open_tables(&r, &e) != ST_OK) {
        code = fatal(&r, "cannot prepare the Parquet files", &e);
        goto out;
    }

    start_next(&r);
    upload_deferred(&r);
    tick(&r, 1); /* the line shows at once, before any answer arrives */
    while (!g_stop && (r.active > 0 || r.next < r.nmb || !http_idle(r.eng))) {
        if (http_idle(r.eng) && worker_pending(env->finisher) > 0) {
            /* only final work is left to wait for (a signal ends the wait too) */
            struct pollfd p = {.fd = worker_fd(env->finisher), .events = POLLIN};
            (void)poll(&p, 1, 1000);
        } else if (http_step(r.eng, &e) != ST_OK) {
            if (g_stop)
                break; /* a signal interrupted the wait */
            code = fatal(&r, "the HTTP engine failed", &e);
            goto out;
        }
        /* final work and uploads first: they may end mailboxes, which start_next replaces */
        worker_collect(env->finisher);
        upload_deferred(&r);
        start_next(&r);
        upload_deferred(&r);
        tick(&r, 0);
        if (r.active > 0 && r.next >= r.nmb && http_idle(r.eng) && r.nuploads == 0 &&
            worker_pending(env->finisher) == 0) {
            /* nothing in flight can finish the active mailboxes: never spin */
            err_set(&e, ST_INTERNAL, "%d mailbox(es) waiting with nothing in flight", r.active);
            code = fatal(&r, "internal error", &e);
            goto out;
        }
    }

    /* stopped by a signal: the final work under way ends, none other starts */
    stop_finisher(&r);
    tick(&r, 1);
    /* the end of a run, step by step at debug level: where its last seconds go */
    log_debug("mailboxes over", NULL);
    if (!g_stop && !r.storage_failed && write_tables(&r, &e) != ST_OK)
        run_storage_failed(&r, &e);
    log_debug("tables written", NULL);
    if (!g_stop && !r.storage_failed && !r.backfill && save_registries(&r, &e) != ST_OK)
        run_storage_failed(&r, &e);
    log_debug("tracked meetings written", NULL);
    if (g_stop)
        terminate(&r);
    write_manifest(&r, &total);
    if (!r.backfill && !r.storage_failed && !r.terminated) {
        errinfo ce = {0};
        if (save_checkpoint(&r, &ce) != ST_OK) {
            run_storage_failed(&r, &ce);
            /* the manifest said the run went well: correct it if storage still lets us */
            memset(&total, 0, sizeof total);
            write_manifest(&r, &total);
        }
    }
    int ok, failed;
    run_status(&r, &ok, &failed);
    code = (failed == 0 && !r.roster.failed_groups && !r.storage_failed && !r.terminated) ? 0 : 1;

    goto out;
stopped:
    /* storage may still take the manifest, which says why the run stopped */
    write_manifest(&r, &total);
out:
    stop_finisher(&r);
    summary(&r, started, &total);
    progress_finish(&r.prog);
    close_tables(&r);
    for (size_t i = 0; i < r.nmb; i++)
        mailbox_free(r.mbs[i]);
    free(r.mbs);
    free(r.uploads);
    for (size_t i = 0; i < RUN_FINISHERS; i++)
        tables_scratch_free(r.flatten[i]);
    pthread_mutex_destroy(&r.rows_lock);
    checkpoint_dispose(&r.cp);
    roster_dispose(&r.roster);
    store_free(r.store);
    token_source_free(r.graph_tokens);
    http_engine_free(r.eng);
    if (r.regw)
        free(r.regw->again);
    free(r.regw);
    json_decref(r.files_written);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    return code;
}

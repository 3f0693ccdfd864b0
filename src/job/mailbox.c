/* One mailbox's extraction: see mailbox.h for its phases and what it is given, and
 * docs/internals.md for how its data waits in the spool and becomes the final
 * snapshot. */
#include "job/mailbox.h"
#include "job/roster.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>

#include "store/store.h"
#include "graph/event.h"
#include "job/window.h"
#include "layout.h"
#include "log.h"
#include "util/timeutil.h"

enum { K_USER, K_EVENTS, K_MEETING, K_REPORTS, K_RECORDS };

#define MIN_PAGE_SIZE 10 /* $top of calendarView never below this */

/* Report ties beyond an event index: UNMATCHED, a report tied to no event of the
 * window that lands in this run (unmatched_attendance); SKIPPED, one this run does
 * not write (another run's, or landed before). */
enum { TIE_UNMATCHED = -1, TIE_SKIPPED = -2 };

/* A report as Graph listed it: its text in the spool without attendanceRecords,
 * onlineMeetingId and eventId (the final snapshot writes those), and its records,
 * one spool piece a page (the page's items joined by commas). */
typedef struct mb_report {
    spool_ref text; /* len 0: not an object */
    char *id;       /* a usable id, or NULL */
    int64_t start;  /* meetingStartDateTime, WINDOW_NO_TIME when missing or unreadable */
    spool_ref *pages;
    size_t npages;
    int64_t nrecords;
} mb_report;

typedef struct meeting {
    char *join_url;
    int found_elsewhere; /* the link came from outside onlineMeeting (pasted, edited) */
    int has_meta;        /* the onlineMeeting was found (else no_meeting) */
    spool_ref meta;      /* its text */
    char *id;            /* its id */
    int channel;         /* a channel meeting (is_channel_meeting) */
    mb_report *reports;
    size_t nreports;
    int *tie;                    /* per report: event index, TIE_UNMATCHED or TIE_SKIPPED */
    const char **tie_occurrence; /* per report: the tracked occurrence's event id, or NULL */
    size_t ntie;
    int tracked_only; /* tracked in the registry, no occurrence in this window */
    int listed;       /* its reports were listed in this run */
} meeting;

/* An event of the window, as the snapshots hold it. */
typedef struct mb_event {
    spool_ref text; /* without the fields of ATTENDANCE_SNAPSHOT_OMIT */
    spool_ref full; /* every field, for the rows (text itself when nothing is omitted) */
    char *id;       /* its id when a non-empty string */
    char *join_url; /* the Teams link of a meeting it organizes, or NULL */
    int object;
} mb_event;

/* Keys the final snapshot writes itself: dropped from Graph's objects as they come,
 * so that the snapshot never holds a key twice. */
static const char *const event_keys_set[] = {"onlineMeetingMeta", "attendance", "joinUrlSource"};
static const char *const report_keys_set[] = {"attendanceRecords", "onlineMeetingId", "eventId"};

typedef struct req_ctx {
    mailbox *mb;
    int kind;
    size_t meeting;
    size_t report;
    int pages;
} req_ctx;

static void advance(mailbox *mb);
static void final_dispose(mailbox *mb);
static void list_calendar(mailbox *mb);
static void list_tracked_meetings(mailbox *mb);

mailbox *mailbox_new(const mailbox_env *env, int index, const char *upn)
{
    mailbox *mb = calloc(1, sizeof *mb);
    if (!mb)
        return NULL;
    mb->env = env;
    mb->index = index;
    mb->upn = strdup(upn);
    mb->upn_lower = strdup(upn);
    if (!mb->upn || !mb->upn_lower) {
        mailbox_free(mb);
        return NULL;
    }
    for (char *p = mb->upn_lower; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    mb->old_watermark = WINDOW_NO_WATERMARK;
    mb->reg.first_window_start = REGISTRY_NO_TIME;
    buf_init(&mb->scratch, 64u << 10);
    spool_init(&mb->data, env->spill);
    return mb;
}

static void release_work(mailbox *mb)
{
    for (size_t i = 0; i < mb->nmeetings; i++) {
        meeting *m = &mb->meetings[i];
        free(m->join_url);
        free(m->id);
        for (size_t k = 0; k < m->nreports; k++) {
            free(m->reports[k].id);
            free(m->reports[k].pages);
        }
        free(m->reports);
        free(m->tie);
        free(m->tie_occurrence);
    }
    free(mb->meetings);
    mb->meetings = NULL;
    mb->nmeetings = 0;
    for (size_t i = 0; i < mb->nevents; i++) {
        free(mb->events[i].id);
        free(mb->events[i].join_url);
    }
    free(mb->events);
    mb->events = NULL;
    mb->nevents = mb->events_alloc = 0;
    free(mb->ev);
    mb->ev = NULL;
    free(mb->ev_src);
    mb->ev_src = NULL;
    buf_dispose(&mb->scratch);
    spool_dispose(&mb->data);
    for (size_t i = 0; i < mb->ndeferred; i++) {
        unlink(mb->deferred[i].path);
        free(mb->deferred[i].name);
        free(mb->deferred[i].path);
    }
    mb->ndeferred = 0;
    final_dispose(mb);
    /* the ETag stays: the run writes the registry back with If-Match */
    json_decref(mb->reg.doc);
    mb->reg.doc = NULL;
}

void mailbox_free(mailbox *mb)
{
    if (!mb)
        return;
    release_work(mb);
    free(mb->upn);
    free(mb->upn_lower);
    free(mb->user_id);
    free(mb->registry_text);
    registry_dispose(&mb->reg);
    free(mb);
}

/* The one place a mailbox changes phase. */
static void set_phase(mailbox *mb, mailbox_phase ph)
{
    static const char *const names[] = {"idle", "listing", "fetching", "finishing", "over"};
    mb->phase = ph;
    log_debug("mailbox phase", json_pack("{s:s,s:s,s:i}", "upn", mb->upn_lower, "phase", names[ph],
                                         "pending", mb->pending));
}

static void storage_failed(mailbox *mb, const errinfo *e)
{
    mb->env->storage_failed(mb->env->ctx, e);
}

static void file_written(mailbox *mb, const char *name, size_t bytes)
{
    mb->env->file_written(mb->env->ctx, name, bytes);
}

static void fail(mailbox *mb, const errinfo *e)
{
    if (mb->state == MB_FAILED)
        return;
    mb->state = MB_FAILED;
    mb->err = *e;
}

static void fail_msg(mailbox *mb, status code, const char *msg)
{
    errinfo e = {0};
    err_set(&e, code, "%s", msg);
    fail(mb, &e);
}

static void on_graph(void *ctx, http_result *res);

static void submit(mailbox *mb, http_request *req, int kind, size_t meeting_i, size_t report_i,
                   int pages, const errinfo *build_err)
{
    if (!req) {
        fail(mb, build_err);
        return;
    }
    req_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        http_request_free(req);
        fail_msg(mb, ST_NOMEM, "out of memory queuing a request");
        return;
    }
    c->mb = mb;
    c->kind = kind;
    c->meeting = meeting_i;
    c->report = report_i;
    c->pages = pages;
    errinfo e = {0};
    if (mb->env->submit(mb->env->submit_ctx, req, on_graph, c, &e) != ST_OK) {
        free(c);
        fail(mb, &e);
        return;
    }
    mb->pending++;
}

/* The first calendarView page, at the mailbox's page size: later pages follow
 * @odata.nextLink verbatim (it carries the $top the listing began with). */
static void list_calendar(mailbox *mb)
{
    const mailbox_env *r = mb->env;
    errinfo e = {0};
    submit(mb,
           graph_request_calendar_view(r->gc, mb->upn, mb->window_start, mb->window_end,
                                       mb->page_size, GRAPH_TOKENS, mb->index, &e),
           K_EVENTS, 0, 0, 1, &e);
}

void mailbox_start(mailbox *mb)
{
    const mailbox_env *r = mb->env;
    mb->state = MB_ACTIVE;
    mb->started_us = timeutil_now_us();
    set_phase(mb, MB_LISTING);
    errinfo e = {0};
    submit(mb, graph_request_user(r->gc, mb->upn, mb->index, &e), K_USER, 0, 0, 1, &e);
    mb->page_size = r->gc->page_size;
    list_calendar(mb);
    advance(mb);
}

/* Appends a value's compact text to the mailbox's spool. */
static status spool_json(mailbox *mb, const json_t *v, spool_ref *ref, errinfo *err)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!text)
        return err_set(err, ST_NOMEM, "out of memory keeping Graph's answer");
    status st = spool_append(&mb->data, text, strlen(text), ref, err);
    free(text);
    return st;
}

static void start_reports(mailbox *mb, size_t mi)
{
    meeting *m = &mb->meetings[mi];
    const char *id = m->id;
    if (!id) {
        log_warn("online meeting without a usable id (missing, empty or holding NUL); treated "
                 "as no meeting",
                 json_pack("{s:s}", "upn", mb->upn));
        m->has_meta = 0;
        return;
    }
    errinfo e = {0};
    submit(mb, graph_request_reports(mb->env->gc, mb->user_id, id, GRAPH_TOKENS, mb->index, &e),
           K_REPORTS, mi, 0, 1, &e);
}

static int grow_events(mailbox *mb)
{
    if (mb->nevents < mb->events_alloc)
        return 0;
    size_t na = mb->events_alloc ? mb->events_alloc * 2 : 64;
    mb_event *e = realloc(mb->events, na * sizeof *e);
    if (e)
        mb->events = e;
    window_event *w = e ? realloc(mb->ev, na * sizeof *w) : NULL;
    if (w)
        mb->ev = w;
    const char **src = w ? realloc(mb->ev_src, na * sizeof *src) : NULL;
    if (!src)
        return -1;
    mb->ev_src = src;
    mb->events_alloc = na;
    return 0;
}

/* The string member `key` of object token o (o may be JSONTOK_NONE), or NULL. */
static const char *tok_string(const jsontok_doc *d, uint32_t o, const char *key)
{
    uint32_t v = o == JSONTOK_NONE ? JSONTOK_NONE : jsontok_member(d, o, key, strlen(key));
    return v != JSONTOK_NONE && d->tok[v].type == JSONTOK_STRING ? jsontok_str(d, v) : NULL;
}

/* Appends token e's compact text without the members named in keys to the mailbox's
 * spool. */
static status spool_tok(mailbox *mb, const jsontok_doc *d, uint32_t e, const char *const *keys,
                        size_t nkeys, spool_ref *ref, errinfo *err)
{
    buf text;
    buf_init(&text, 0);
    status st = jsontok_write_except(d, e, keys, nkeys, &text, err);
    if (st == ST_OK)
        st = spool_append(&mb->data, text.data, text.len, ref, err);
    buf_dispose(&text);
    return st;
}

/* One event of a calendarView page (tokens): what the time rules and the meetings need
 * is read now, and the event waits in the spool as text. */
static status take_event(mailbox *mb, req_ctx *c, const jsontok_doc *d, uint32_t e, errinfo *err)
{
    (void)c;
    const config *cfg = mb->env->cfg;
    if (grow_events(mb) != 0)
        return err_set(err, ST_NOMEM, "out of memory");
    size_t i = mb->nevents;
    mb_event *me = &mb->events[i];
    window_event *w = &mb->ev[i];
    memset(me, 0, sizeof *me);
    memset(w, 0, sizeof *w);
    mb->ev_src[i] = NULL;
    w->meeting = -1;
    w->start_us = INT64_MAX;
    w->end_us = INT64_MIN;
    me->object = d->tok[e].type == JSONTOK_OBJECT;
    if (me->object) {
        uint32_t st = jsontok_member(d, e, "start", 5), en = jsontok_member(d, e, "end", 3);
        int64_t t;
        if (timeutil_parse_dtz(tok_string(d, st, "dateTime"), tok_string(d, st, "timeZone"), &t) ==
            TIMEUTIL_OK)
            w->start_us = t;
        if (timeutil_parse_dtz(tok_string(d, en, "dateTime"), tok_string(d, en, "timeZone"), &t) ==
            TIMEUTIL_OK)
            w->end_us = t;
        const char *type = tok_string(d, e, "type");
        w->single_instance = type && strcmp(type, "singleInstance") == 0;
        const char *src;
        const char *url = event_organized_join_url_tok(d, e, &mb->scratch, &src);
        w->organizer_teams = url != NULL;
        mb->ev_src[i] = url ? src : NULL;
        const char *id = tok_string(d, e, "id");
        if ((url && !(me->join_url = strdup(url))) || (id && *id && !(me->id = strdup(id)))) {
            free(me->join_url);
            free(me->id);
            return err_set(err, ST_NOMEM, "out of memory");
        }
    }
    mb->nevents++;
    size_t nset = sizeof event_keys_set / sizeof *event_keys_set;
    status st = spool_tok(mb, d, e, event_keys_set, nset, &me->full, err);
    me->text = me->full;
    if (st != ST_OK || !me->object || cfg->nsnapshot_omit == 0)
        return st;
    const char **keys = malloc((nset + cfg->nsnapshot_omit) * sizeof *keys);
    if (!keys)
        return err_set(err, ST_NOMEM, "out of memory");
    memcpy(keys, event_keys_set, nset * sizeof *keys);
    for (size_t k = 0; k < cfg->nsnapshot_omit; k++)
        keys[nset + k] = cfg->snapshot_omit[k];
    st = spool_tok(mb, d, e, keys, nset + cfg->nsnapshot_omit, &me->text, err);
    free(keys);
    return st;
}

/* One report of a meeting's listing (tokens). */
static status take_report(mailbox *mb, req_ctx *c, const jsontok_doc *d, uint32_t rep, errinfo *err)
{
    meeting *m = &mb->meetings[c->meeting];
    mb_report *grown = realloc(m->reports, (m->nreports + 1) * sizeof *grown);
    if (!grown)
        return err_set(err, ST_NOMEM, "out of memory");
    m->reports = grown;
    mb_report *r = &m->reports[m->nreports++];
    memset(r, 0, sizeof *r);
    r->start = WINDOW_NO_TIME;
    if (d->tok[rep].type != JSONTOK_OBJECT)
        return ST_OK;
    const char *s = tok_string(d, rep, "meetingStartDateTime");
    if (s && timeutil_parse(s, &r->start) != 0)
        r->start = WINDOW_NO_TIME;
    const char *id = graph_id_tok(d, jsontok_member(d, rep, "id", 2));
    if (id && !(r->id = strdup(id)))
        return err_set(err, ST_NOMEM, "out of memory");
    return spool_tok(mb, d, rep, report_keys_set, sizeof report_keys_set / sizeof *report_keys_set,
                     &r->text, err);
}

/* A page of attendance records: its items go to the spool as compact text (the items
 * without the array's brackets), one piece a page. Records are most of what a mailbox
 * takes in: no tree is built for them. */
static status take_records(mailbox *mb, req_ctx *c, const http_result *res, uint32_t value,
                           errinfo *err)
{
    const jsontok_doc *d = &res->tok;
    mb_report *rep = &mb->meetings[c->meeting].reports[c->report];
    uint32_t n = d->tok[value].len;
    if (n == 0)
        return ST_OK;
    buf text;
    buf_init(&text, 0);
    /* compact text is never longer than what Graph sent */
    status st = buf_reserve(&text, res->body.len, err);
    uint32_t i = jsontok_first(value);
    for (uint32_t k = 0; k < n && st == ST_OK; k++, i = d->tok[i].end) {
        if (k > 0)
            st = buf_append(&text, ",", 1, err);
        if (st == ST_OK)
            st = jsontok_write(d, i, &text, err);
    }
    spool_ref *grown = NULL;
    if (st == ST_OK && !(grown = realloc(rep->pages, (rep->npages + 1) * sizeof *grown)))
        st = err_set(err, ST_NOMEM, "out of memory keeping attendance records");
    if (st == ST_OK) {
        rep->pages = grown;
        st = spool_append(&mb->data, text.data, text.len, &rep->pages[rep->npages], err);
    }
    if (st == ST_OK) {
        rep->npages++;
        rep->nrecords += (int64_t)n;
    }
    buf_dispose(&text);
    return st;
}

typedef status (*item_fn)(mailbox *mb, req_ctx *c, const jsontok_doc *d, uint32_t item,
                          errinfo *err);

/* Hands each item of the page's "value" array to `take`; the first error stops it. */
static status each_item(mailbox *mb, req_ctx *c, const http_result *res, uint32_t value,
                        item_fn take, errinfo *err)
{
    const jsontok_doc *d = &res->tok;
    status st = ST_OK;
    uint32_t i = jsontok_first(value);
    for (uint32_t k = 0; k < d->tok[value].len && st == ST_OK; k++, i = d->tok[i].end)
        st = take(mb, c, d, i, err);
    return st;
}

static status take_events(mailbox *mb, req_ctx *c, const http_result *res, uint32_t value,
                          errinfo *err)
{
    return each_item(mb, c, res, value, take_event, err);
}

static status take_reports(mailbox *mb, req_ctx *c, const http_result *res, uint32_t value,
                           errinfo *err)
{
    return each_item(mb, c, res, value, take_report, err);
}

typedef status (*page_fn)(mailbox *mb, req_ctx *c, const http_result *res, uint32_t value,
                          errinfo *err);

/* A listing's page, as tokens: `take` takes its "value" array (the token), then the
 * next page is asked for (how: as graph_request_next). Returns 1 when the listing is
 * complete with this page, 0 when a next page was asked for or the mailbox failed. */
static int take_page(mailbox *mb, req_ctx *c, const http_result *res, int how, page_fn take)
{
    const mailbox_env *r = mb->env;
    uint32_t value;
    http_request *next = NULL;
    errinfo e = {0};
    status st = graph_page_tokens(r->gc, &res->tok, c->pages, r->cfg->max_pages, mb->upn,
                                  how | GRAPH_TOKENS, mb->index, &value, &next, &e);
    if (st == ST_OK)
        st = take(mb, c, res, value, &e);
    if (st != ST_OK) {
        http_request_free(next);
        if (e.code == ST_IO)
            storage_failed(mb, &e);
        fail(mb, &e);
        return 0;
    }
    if (!next)
        return 1;
    submit(mb, next, c->kind, c->meeting, c->report, c->pages + 1, &e);
    return 0;
}

static json_t *snapshot_head(mailbox *mb)
{
    const mailbox_env *r = mb->env;
    char ws[TIMEUTIL_FMT_MAX], we[TIMEUTIL_FMT_MAX], ex[TIMEUTIL_FMT_MAX];
    timeutil_format(mb->window_start, ws);
    timeutil_format(mb->window_end, we);
    timeutil_format(r->now_us, ex);
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "user_upn", mb->upn_lower, "run_id", r->run_id,
                     "window_start", ws, "window_end", we, "extracted_utc", ex);
}

/* ---- snapshots: composed from the spool into a file, uploaded from it ---- */

/* Largest snapshot uploaded from memory, queued on the engine, and the most such
 * uploads may hold at once; a larger one goes up in blocks from its file, between
 * turns of the engine, and one over the budget waits for room. */
#define UPLOAD_QUEUED_MAX ((int64_t)4 << 20)
#define UPLOAD_HELD_MAX ((int64_t)8 << 20)

typedef struct put_ctx {
    mailbox *mb;
    char *name;
    size_t len;
} put_ctx;

static void on_put_done(void *ctx, status st, const errinfo *err, const char *etag)
{
    (void)etag;
    put_ctx *pc = ctx;
    mailbox *mb = pc->mb;
    mb->pending--;
    *mb->env->upload_held -= (int64_t)pc->len;
    if (st == ST_OK) {
        file_written(mb, pc->name, pc->len);
    } else {
        storage_failed(mb, err);
        fail(mb, err);
    }
    free(pc->name);
    free(pc);
    advance(mb);
}

/* A snapshot being composed: a file in the run's temporary folder. */
typedef struct composed {
    char path[4352];
    FILE *f;
} composed;

static status compose_open(mailbox *mb, const char *what, composed *c, errinfo *err)
{
    const mailbox_env *r = mb->env;
    char name[64];
    snprintf(name, sizeof name, "%s-%d.json", what, mb->index);
    c->path[0] = '\0';
    c->f = NULL;
    int fd = tmpdir_create(r->tmp, name, err);
    if (fd < 0)
        return ST_IO;
    if (tmpdir_file(r->tmp, name, c->path, sizeof c->path) != 0 || !(c->f = fdopen(fd, "w+b"))) {
        close(fd);
        return err_set(err, ST_IO, "cannot open a temporary file: %s", strerror(errno));
    }
    return ST_OK;
}

static void compose_close(composed *c)
{
    if (c->f)
        fclose(c->f);
    c->f = NULL;
    if (c->path[0])
        unlink(c->path);
    c->path[0] = '\0';
}

static int queue_upload(mailbox *mb, char *name, int fd, int64_t size);

/* Uploads what waits (see upload): a large snapshot in blocks, a small one queued once
 * the uploads held leave room. Called by the run between turns of its engine, since a
 * block upload runs requests to their end itself. */

void mailbox_upload_deferred(mailbox *mb)
{
    const mailbox_env *r = mb->env;
    struct mailbox_upload items[sizeof mb->deferred / sizeof *mb->deferred];
    size_t n = mb->ndeferred;
    memcpy(items, mb->deferred, n * sizeof *items);
    /* an upload done at once carries the mailbox on, maybe to its end, which frees what
     * it lists: these are off its list while they are handled */
    mb->ndeferred = 0;
    for (size_t i = 0; i < n; i++) {
        errinfo e = {0};
        size_t bytes = 0;
        char *name = items[i].name, *path = items[i].path;
        int64_t size = items[i].size;
        int small = size >= 0 && size <= UPLOAD_QUEUED_MAX;
        if (mb->state != MB_FAILED && small && *r->upload_held + size > UPLOAD_HELD_MAX) {
            mb->deferred[mb->ndeferred++] = items[i]; /* waits for the uploads held to go */
            continue;
        }
        mb->pending--;
        if (mb->state != MB_FAILED && small) {
            int fd = open(path, O_RDONLY);
            if (fd < 0)
                fail_msg(mb, ST_IO, "cannot read back a composed snapshot");
            if (fd < 0 || queue_upload(mb, name, fd, size) != 0)
                free(name);
            if (fd >= 0)
                close(fd);
            unlink(path);
            free(path);
            continue;
        }
        if (mb->state != MB_FAILED) {
            if (store_put_file(r->store, name, path, "application/json", &bytes, &e) == ST_OK) {
                file_written(mb, name, bytes);
            } else {
                storage_failed(mb, &e);
                fail(mb, &e);
            }
        }
        unlink(path);
        free(name);
        free(path);
    }
    advance(mb);
}

static status put_text(FILE *f, const char *s, errinfo *err)
{
    size_t n = strlen(s);
    if (fwrite(s, 1, n, f) != n)
        return err_set(err, ST_IO, "cannot write a temporary file: %s", strerror(errno));
    return ST_OK;
}

/* s as a JSON string (null when NULL). */
static status put_string(FILE *f, const char *s, errinfo *err)
{
    if (!s)
        return put_text(f, "null", err);
    json_t *j = json_string(s);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!t)
        return err_set(err, ST_NOMEM, "out of memory composing a snapshot");
    status st = put_text(f, t, err);
    free(t);
    return st;
}

/* The snapshot's own fields, then the opening of its events. */
static status compose_head(mailbox *mb, FILE *f, errinfo *err)
{
    json_t *h = snapshot_head(mb);
    char *t = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    if (!t)
        return err_set(err, ST_NOMEM, "out of memory composing a snapshot");
    t[strlen(t) - 1] = '\0'; /* the closing brace */
    status st = put_text(f, t, err);
    free(t);
    return st == ST_OK ? put_text(f, ",\"events\":[", err) : st;
}

/* An object's text without its closing brace, and a comma when it has members, so
 * that members can follow. */
static status copy_open(mailbox *mb, spool_ref ref, FILE *f, errinfo *err)
{
    spool_ref r = {ref.off, ref.len - 1};
    status st = spool_copy(&mb->data, r, f, err);
    return st == ST_OK && ref.len > 2 ? put_text(f, ",", err) : st;
}

/* A report with its records; `lead` (may be NULL) holds members written before them. */
static status compose_report(mailbox *mb, FILE *f, const mb_report *r, const char *lead,
                             errinfo *err)
{
    status st = copy_open(mb, r->text, f, err);
    if (st == ST_OK && lead)
        st = put_text(f, lead, err);
    if (st == ST_OK)
        st = put_text(f, "\"attendanceRecords\":[", err);
    for (size_t p = 0; p < r->npages && st == ST_OK; p++) {
        if (p > 0)
            st = put_text(f, ",", err);
        if (st == ST_OK)
            st = spool_copy(&mb->data, r->pages[p], f, err);
    }
    return st == ST_OK ? put_text(f, "]}", err) : st;
}

/* The events-only snapshot (docs/format.md). */
static status compose_events(mailbox *mb, FILE *f, errinfo *err)
{
    status st = compose_head(mb, f, err);
    for (size_t i = 0; i < mb->nevents && st == ST_OK; i++) {
        if (i > 0)
            st = put_text(f, ",", err);
        if (st == ST_OK)
            st = spool_copy(&mb->data, mb->events[i].text, f, err);
    }
    return st == ST_OK ? put_text(f, "]}", err) : st;
}

/* The members an unmatched report gets ahead of its records: its meeting's id and its
 * tracked occurrence's event id. */
static status unmatched_lead(const char *mid, const char *occ, buf *out, errinfo *err)
{
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "onlineMeetingId", mid ? json_string(mid) : json_null()) ||
        (occ && json_object_set_new(o, "eventId", json_string(occ)))) {
        json_decref(o);
        return err_set(err, ST_NOMEM, "out of memory composing a snapshot");
    }
    char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!t)
        return err_set(err, ST_NOMEM, "out of memory composing a snapshot");
    buf_reset(out);
    t[strlen(t) - 1] = ','; /* the closing brace: records follow */
    status st = buf_appends(out, t + 1, err);
    free(t);
    return st;
}

/* The final snapshot: each event with its onlineMeetingMeta and its reports, then the
 * reports tied to no event. The keys the rows of an event's reports need come before
 * them, so the flattener reads the file in one pass. `full`: every field (the rows'
 * copy); else without ATTENDANCE_SNAPSHOT_OMIT's (the uploaded one). */
static status compose_final(mailbox *mb, FILE *f, int full, errinfo *err)
{
    status st = compose_head(mb, f, err);
    for (size_t i = 0; i < mb->nevents && st == ST_OK; i++) {
        const mb_event *e = &mb->events[i];
        if (i > 0 && (st = put_text(f, ",", err)) != ST_OK)
            break;
        if (!e->object) {
            /* what Graph sent, as it sent it: the flattener skips it with a warning */
            st = spool_copy(&mb->data, e->text, f, err);
            continue;
        }
        int mi = mb->ev[i].meeting;
        const meeting *m = mi >= 0 ? &mb->meetings[mi] : NULL;
        if ((st = copy_open(mb, full ? e->full : e->text, f, err)) != ST_OK ||
            (st = put_text(f, "\"onlineMeetingMeta\":", err)) != ST_OK)
            break;
        st = m && m->has_meta ? spool_copy(&mb->data, m->meta, f, err) : put_text(f, "null", err);
        if (st == ST_OK && mb->ev_src[i] &&
            ((st = put_text(f, ",\"joinUrlSource\":", err)) != ST_OK ||
             (st = put_string(f, mb->ev_src[i], err)) != ST_OK))
            break;
        if (st == ST_OK)
            st = put_text(f, ",\"attendance\":[", err);
        int n = 0;
        for (size_t j = 0; j < mb->nmeetings && st == ST_OK; j++)
            for (size_t k = 0; k < mb->meetings[j].ntie && st == ST_OK; k++) {
                if (mb->meetings[j].tie[k] != (int)i)
                    continue;
                if (n++ > 0)
                    st = put_text(f, ",", err);
                if (st == ST_OK)
                    st = compose_report(mb, f, &mb->meetings[j].reports[k], NULL, err);
            }
        if (st == ST_OK)
            st = put_text(f, "]}", err);
    }
    if (st == ST_OK)
        st = put_text(f, "],\"unmatched_attendance\":[", err);
    buf lead;
    buf_init(&lead, 0);
    int n = 0;
    for (size_t j = 0; j < mb->nmeetings && st == ST_OK; j++) {
        const meeting *m = &mb->meetings[j];
        for (size_t k = 0; k < m->ntie && st == ST_OK; k++) {
            if (m->tie[k] != TIE_UNMATCHED)
                continue;
            if (n++ > 0)
                st = put_text(f, ",", err);
            if (st == ST_OK)
                st = unmatched_lead(m->id, m->tie_occurrence[k], &lead, err);
            if (st == ST_OK)
                st = compose_report(mb, f, &m->reports[k], lead.data, err);
        }
    }
    buf_dispose(&lead);
    if (st == ST_OK)
        st = put_text(f, "]}", err);
    if (st == ST_OK && fflush(f) != 0)
        st = err_set(err, ST_IO, "cannot write a temporary file: %s", strerror(errno));
    return st;
}

/* Reads a composed snapshot of `size` bytes from fd and queues its upload on the
 * engine; takes name, on success only. 0, or -1 when the mailbox failed. */
static int queue_upload(mailbox *mb, char *name, int fd, int64_t size)
{
    const mailbox_env *r = mb->env;
    errinfo e = {0};
    put_ctx *pc = calloc(1, sizeof *pc);
    char *data = malloc((size_t)size + 1);
    if (!pc || !data || pread(fd, data, (size_t)size, 0) != (ssize_t)size) {
        free(pc);
        free(data);
        fail_msg(mb, ST_IO, "cannot read back a composed snapshot");
        return -1;
    }
    pc->mb = mb;
    pc->name = name;
    pc->len = (size_t)size;
    mb->pending++;
    *r->upload_held += size;
    if (store_put_async(r->store, name, data, pc->len, "application/json", STORE_COND_NONE, NULL,
                        on_put_done, pc, &e) != ST_OK) {
        /* the store took the data but will not call back */
        mb->pending--;
        *r->upload_held -= size;
        free(name);
        free(pc);
        storage_failed(mb, &e);
        fail(mb, &e);
    }
    return 0;
}

/* Uploads a composed snapshot; the manifest lists it once it landed. */
static void upload(mailbox *mb, const char *kind, composed *c)
{
    const mailbox_env *r = mb->env;
    char *name = layout_snapshot(r->cfg->prefix, kind, r->date, mb->upn, r->run_id);
    if (!name || fflush(c->f) != 0) {
        free(name);
        fail_msg(mb, ST_NOMEM, "out of memory");
        return;
    }
    off_t size = ftello(c->f);
    if (r->put_files) {
        /* a folder on the same filesystem takes the file as it is (a link), without
         * reading it back into memory */
        errinfo e = {0};
        size_t bytes = 0;
        if (store_put_file(r->store, name, c->path, "application/json", &bytes, &e) == ST_OK) {
            file_written(mb, name, bytes);
        } else {
            storage_failed(mb, &e);
            fail(mb, &e);
        }
        free(name);
        return;
    }
    if (size >= 0 && size <= UPLOAD_QUEUED_MAX && *r->upload_held + size <= UPLOAD_HELD_MAX) {
        if (queue_upload(mb, name, fileno(c->f), size) != 0)
            free(name);
        return;
    }
    /* a block upload runs its requests to their end, which a request's callback (where
     * this runs) may not, and a small one waits for room: both wait for the run to call
     * mailbox_upload_deferred */
    char *path = strdup(c->path);
    if (!path || mb->ndeferred == sizeof mb->deferred / sizeof *mb->deferred) {
        free(path);
        free(name);
        fail_msg(mb, ST_NOMEM, "out of memory");
        return;
    }
    fclose(c->f);
    c->f = NULL;
    c->path[0] = '\0'; /* the file stays until it is uploaded */
    mb->deferred[mb->ndeferred].name = name;
    mb->deferred[mb->ndeferred].size = size;
    mb->deferred[mb->ndeferred++].path = path;
    mb->pending++;
    r->want_upload(r->ctx, mb);
}

/* A new meeting of the mailbox, looked up by join_url; NULL (the mailbox failed) when
 * out of memory. */
static meeting *add_meeting(mailbox *mb, const char *join_url)
{
    meeting *grown = realloc(mb->meetings, (mb->nmeetings + 1) * sizeof *grown);
    if (!grown) {
        fail_msg(mb, ST_NOMEM, "out of memory");
        return NULL;
    }
    mb->meetings = grown;
    meeting *nm = &mb->meetings[mb->nmeetings++];
    memset(nm, 0, sizeof *nm);
    nm->join_url = strdup(join_url);
    if (!nm->join_url) {
        fail_msg(mb, ST_NOMEM, "out of memory");
        return NULL;
    }
    return nm;
}

static void after_listing(mailbox *mb)
{
    mb->n_events = (int64_t)mb->nevents;
    composed c;
    errinfo e = {0};
    if (compose_open(mb, "events", &c, &e) != ST_OK || compose_events(mb, c.f, &e) != ST_OK) {
        compose_close(&c);
        if (e.code == ST_IO)
            storage_failed(mb, &e);
        fail(mb, &e);
        return;
    }
    upload(mb, "events", &c);
    compose_close(&c);
    if (mb->state == MB_FAILED)
        return;

    /* one lookup per distinct join URL among the Teams meetings this mailbox organizes */
    for (size_t i = 0; i < mb->nevents; i++) {
        const char *url = mb->events[i].join_url;
        if (!url)
            continue;
        size_t m = 0;
        while (m < mb->nmeetings && strcmp(mb->meetings[m].join_url, url) != 0)
            m++;
        mb->ev[i].meeting = (int)m;
        if (m < mb->nmeetings) {
            mb->meetings[m].found_elsewhere &= mb->ev_src[i] != NULL;
            continue;
        }
        meeting *nm = add_meeting(mb, url);
        if (!nm)
            return;
        nm->found_elsewhere = mb->ev_src[i] != NULL;
    }
    mb->n_meetings = (int64_t)mb->nmeetings;
    size_t in_window = mb->nmeetings;
    if (!mb->env->backfill)
        list_tracked_meetings(mb);
    for (size_t m = 0; m < in_window && mb->state != MB_FAILED; m++) {
        errinfo err = {0};
        submit(mb,
               graph_request_meeting_by_url(mb->env->gc, mb->user_id, mb->meetings[m].join_url,
                                            GRAPH_TOKENS, mb->index, &err),
               K_MEETING, m, 0, 1, &err);
    }
}

/* A channel meeting lists the reports of every meeting of its channel: only those
 * within one of its own occurrences are its own. */
static int is_channel_meeting(const jsontok_doc *d, uint32_t meta)
{
    const char *t = tok_string(d, jsontok_member(d, meta, "chatInfo", 8), "threadId");
    size_t n = t ? strlen(t) : 0;
    return n >= 13 && strcmp(t + n - 13, "@thread.tacv2") == 0;
}

/* The tracked occurrence (from the registry) a report belongs to: its event id, or
 * NULL. Same time rule as for the window's events, over the occurrences the registry
 * keeps. */
static const char *tracked_occurrence(mailbox *mb, const char *meeting_id, int64_t rs)
{
    size_t n;
    registry_occurrence *occ = registry_occurrences(&mb->reg, meeting_id, &n);
    if (!occ)
        return NULL;
    window_event *ev = calloc(n, sizeof *ev);
    const char *found = NULL;
    if (ev) {
        for (size_t i = 0; i < n; i++) {
            ev[i].start_us = occ[i].start_us == REGISTRY_NO_TIME ? INT64_MAX : occ[i].start_us;
            ev[i].end_us = occ[i].end_us;
            ev[i].meeting = 0;
        }
        int t = window_tie_report(rs, ev, n, 0, 1);
        if (t >= 0)
            found = occ[t].event_id;
        free(ev);
    }
    free(occ);
    return found;
}

/* Which event each report of meeting mi belongs to, and which reports this run
 * writes; queues their records.
 *
 * A report tied to an event of the window is written by every run whose window
 * holds the event. Any other report lands once: when it is not in the registry's
 * landed ids and started at or after the mailbox's first window (a report without a
 * start too), in unmatched_attendance, with the tracked occurrence it belongs to
 * when there is one. A backfill keeps the older rule (the run whose window holds the
 * report's start writes it) and lands nothing through the registry. */
static void tie_reports(mailbox *mb, size_t mi)
{
    meeting *m = &mb->meetings[mi];
    size_t nr = m->nreports;
    m->tie = calloc(nr ? nr : 1, sizeof *m->tie);
    m->tie_occurrence = calloc(nr ? nr : 1, sizeof *m->tie_occurrence);
    m->ntie = nr;
    m->listed = 1;
    if (!m->tie || !m->tie_occurrence) {
        fail_msg(mb, ST_NOMEM, "out of memory");
        return;
    }
    const char *mid = m->id;
    int channel = m->channel;
    int64_t first = mb->reg.first_window_start != REGISTRY_NO_TIME ? mb->reg.first_window_start
                                                                   : mb->window_start;
    for (size_t k = 0; k < nr; k++) {
        const char *rid = m->reports[k].id;
        if (!rid) {
            m->tie[k] = TIE_SKIPPED;
            mb->counts.skipped++;
            log_warn("attendance report without a usable id (missing, empty or holding NUL); "
                     "skipped",
                     json_pack("{s:s,s:s?}", "upn", mb->upn, "meeting_id", mid));
            continue;
        }
        /* A start that is missing or unreadable ties only where no time is needed:
         * a one-off meeting takes all its reports (window_tie_report). */
        int64_t rs = m->reports[k].start;
        int t = m->tracked_only ? -1 : window_tie_report(rs, mb->ev, mb->nevents, (int)mi, channel);
        if (t < 0) {
            const char *occ = rs != WINDOW_NO_TIME ? tracked_occurrence(mb, mid, rs) : NULL;
            if (mb->env->backfill)
                t = (rs != WINDOW_NO_TIME && rs >= mb->window_start && rs < mb->window_end)
                        ? TIE_UNMATCHED
                        : TIE_SKIPPED;
            else if (registry_landed(&mb->reg, mid, rid))
                t = TIE_SKIPPED; /* landed before */
            else if (rs != WINDOW_NO_TIME && rs < first)
                t = TIE_SKIPPED; /* before the mailbox's history starts */
            else if (channel && !occ && rs != WINDOW_NO_TIME)
                t = TIE_SKIPPED; /* another meeting of the channel */
            else
                t = TIE_UNMATCHED;
            m->tie_occurrence[k] = t == TIE_UNMATCHED ? occ : NULL;
        }
        m->tie[k] = t;
        if (t == TIE_SKIPPED)
            continue;
        errinfo err = {0};
        submit(mb, graph_request_records(mb->env->gc, mb->user_id, mid, rid, mb->index, &err),
               K_RECORDS, mi, k, 1, &err);
    }
}

/* The meetings the registry tracks that no event of the window named: their reports
 * are listed too, so a session outside any occurrence in the window, or a report that
 * appeared after the run that covered its start, still lands. */
static void list_tracked_meetings(mailbox *mb)
{
    for (size_t i = 0; i < registry_nmeetings(&mb->reg); i++) {
        const char *id = registry_meeting_id(&mb->reg, i);
        const char *url = registry_meeting_join_url(&mb->reg, i);
        int seen = 0;
        for (size_t m = 0; m < mb->nmeetings && !seen; m++)
            seen = url && strcmp(mb->meetings[m].join_url, url) == 0;
        if (seen)
            continue;
        meeting *nm = add_meeting(mb, url ? url : "");
        if (!nm)
            return;
        nm->tracked_only = 1;
        json_t *meta = json_pack("{s:s}", "id", id);
        errinfo e = {0};
        nm->id = strdup(id);
        if (!meta || !nm->id || spool_json(mb, meta, &nm->meta, &e) != ST_OK) {
            json_decref(meta);
            fail_msg(mb, ST_NOMEM, "out of memory");
            return;
        }
        json_decref(meta);
        nm->has_meta = 1;
        start_reports(mb, mb->nmeetings - 1);
    }
}

static void on_graph(void *ctx, http_result *res)
{
    req_ctx *c = ctx;
    mailbox *mb = c->mb;
    mb->pending--;
    if (mb->state == MB_FAILED)
        goto out;
    meeting *m = c->kind >= K_MEETING ? &mb->meetings[c->meeting] : NULL;
    if (res->st == ST_TOO_LARGE && c->kind == K_EVENTS && c->pages == 1 && mb->nevents == 0 &&
        mb->page_size > MIN_PAGE_SIZE) {
        /* a first page over the response cap (events with large bodies): ask again for
         * fewer events a page, not a failure */
        mb->page_size = mb->page_size / 4 > MIN_PAGE_SIZE ? mb->page_size / 4 : MIN_PAGE_SIZE;
        log_info("the first calendar page was over the response cap; asking for fewer events a "
                 "page",
                 json_pack("{s:s,s:i}", "upn", mb->upn_lower, "top", mb->page_size));
        list_calendar(mb);
        goto out;
    }
    if (res->st != ST_OK) {
        int gone = res->st == ST_NOT_FOUND && c->kind >= K_MEETING;
        if (gone && (c->kind == K_MEETING || c->kind == K_REPORTS)) {
            /* deleted meanwhile: the events are no_meeting */
            log_warn("online meeting not found (deleted meanwhile?); its events are no_meeting",
                     json_pack("{s:s,s:s}", "upn", mb->upn, "error", res->err.msg));
            m->has_meta = 0;
            for (size_t k = 0; k < m->nreports; k++) {
                free(m->reports[k].id);
                free(m->reports[k].pages);
            }
            m->nreports = 0;
            goto out;
        }
        if (gone && c->kind == K_RECORDS) {
            log_warn("attendance report not found (deleted meanwhile?); skipped",
                     json_pack("{s:s,s:s}", "upn", mb->upn, "error", res->err.msg));
            m->tie[c->report] = TIE_SKIPPED;
            goto out;
        }
        if (res->st == ST_FORBIDDEN && c->kind == K_MEETING && m->found_elsewhere) {
            /* a link pasted into an event may be another organizer's meeting */
            log_warn("a Teams link found outside onlineMeeting is not a meeting this mailbox "
                     "may read (403); its events are no_meeting",
                     json_pack("{s:s,s:s}", "upn", mb->upn, "join_url", m->join_url));
            goto out;
        }
        if (res->st == ST_FORBIDDEN && c->kind >= K_MEETING)
            graph_explain_forbidden(res, mb->upn, mb->user_id);
        /* a group lists people without a mailbox; run.c skips them, not fails them */
        mb->no_mailbox = c->kind == K_EVENTS && res->st == ST_NOT_FOUND &&
                         roster_from_group(mb->source) && roster_is_no_mailbox(res->error_code);
        fail(mb, &res->err);
        goto out;
    }
    /* what a mailbox takes in is bounded: a paging loop of large pages, or a calendar too
     * big for this replica's disk, is a clear error for that mailbox */
    mb->held_bytes += (int64_t)res->body.len;
    if (mb->held_bytes > (int64_t)mb->env->cfg->mailbox_max_mb * (1 << 20)) {
        errinfo e = {0};
        err_set(&e, ST_LIMIT,
                "%s: Graph's answers for this mailbox passed %d MiB (ATTENDANCE_MAILBOX_MAX_MB); "
                "stopped before the temporary folder fills up: raise the setting if "
                "ATTENDANCE_TMPDIR has the room",
                mb->upn, mb->env->cfg->mailbox_max_mb);
        fail(mb, &e);
        goto out;
    }
    json_t *j = res->json;
    switch (c->kind) {
    case K_USER: {
        const char *id = graph_id(json_object_get(j, "id"));
        if (!id) {
            fail_msg(mb, ST_JSON,
                     "Graph returned the user without a usable id (missing, empty or holding "
                     "NUL)");
            break;
        }
        mb->user_id = strdup(id);
        if (!mb->user_id)
            fail_msg(mb, ST_NOMEM, "out of memory");
        break;
    }
    case K_EVENTS:
        take_page(mb, c, res, GRAPH_CALENDAR, take_events);
        break;
    case K_MEETING: {
        const jsontok_doc *d = &res->tok;
        uint32_t value = jsontok_member(d, 0, "value", 5);
        if (value == JSONTOK_NONE || d->tok[value].type != JSONTOK_ARRAY) {
            fail_msg(mb, ST_JSON, "Graph answered a meeting lookup without a \"value\" array");
            break;
        }
        uint32_t first = d->tok[value].len ? jsontok_first(value) : JSONTOK_NONE;
        if (first != JSONTOK_NONE && d->tok[first].type == JSONTOK_OBJECT) {
            errinfo e = {0};
            const char *id = graph_id_tok(d, jsontok_member(d, first, "id", 2));
            m->channel = is_channel_meeting(d, first);
            if ((id && !(m->id = strdup(id))) ||
                spool_tok(mb, d, first, NULL, 0, &m->meta, &e) != ST_OK) {
                fail_msg(mb, e.code ? e.code : ST_NOMEM, e.code ? e.msg : "out of memory");
                break;
            }
            m->has_meta = 1;
            start_reports(mb, c->meeting);
        } else if (m->found_elsewhere) {
            log_warn("a Teams link found outside onlineMeeting matches no meeting of this "
                     "mailbox; its events are no_meeting",
                     json_pack("{s:s,s:s}", "upn", mb->upn, "join_url", m->join_url));
        }
        break;
    }
    case K_REPORTS:
        if (take_page(mb, c, res, 0, take_reports) == 1 && mb->state != MB_FAILED)
            tie_reports(mb, c->meeting);
        break;
    case K_RECORDS:
        take_page(mb, c, res, 0, take_records);
        break;
    }
out:
    free(c);
    advance(mb);
}

/* What the registry holds once this run's rows landed: the meetings this run saw or
 * listed, their occurrences in the window, and the reports that landed. */
static json_t *registry_after(mailbox *mb)
{
    const mailbox_env *r = mb->env;
    size_t nm = mb->nmeetings, ne = mb->nevents, nids = 0;
    for (size_t m = 0; m < nm; m++)
        nids += mb->meetings[m].ntie;
    registry_meeting_update *up = calloc(nm ? nm : 1, sizeof *up);
    registry_occurrence *occ = calloc(ne ? ne : 1, sizeof *occ);
    const char **ids = calloc(2 * nids + 1, sizeof *ids);
    json_t *doc = NULL;
    if (!up || !occ || !ids)
        goto out;
    size_t n = 0, o = 0, at = 0;
    for (size_t m = 0; m < nm; m++) {
        meeting *mt = &mb->meetings[m];
        const char *id = mt->has_meta ? mt->id : NULL;
        if (!id || !*id)
            continue;
        registry_meeting_update *u = &up[n++];
        u->id = id;
        u->join_url = mt->join_url[0] ? mt->join_url : NULL;
        u->occ = occ + o;
        for (size_t i = 0; i < ne; i++) {
            if (mb->ev[i].meeting != (int)m)
                continue;
            const char *eid = mb->events[i].id;
            if (!eid || !*eid)
                continue;
            occ[o].event_id = eid;
            occ[o].start_us =
                mb->ev[i].start_us == INT64_MAX ? REGISTRY_NO_TIME : mb->ev[i].start_us;
            occ[o].end_us = mb->ev[i].end_us == INT64_MIN ? REGISTRY_NO_TIME : mb->ev[i].end_us;
            o++;
            u->nocc++;
        }
        u->listed = mt->listed;
        u->reports = ids + at;
        for (size_t k = 0; k < mt->ntie; k++) {
            const char *rid = mt->reports[k].id;
            if (rid)
                ids[at + u->nreports++] = rid;
        }
        at += u->nreports;
        u->landed = ids + at;
        for (size_t k = 0; k < mt->ntie; k++) {
            const char *rid = mt->reports[k].id;
            if (rid && mt->tie[k] >= TIE_UNMATCHED)
                ids[at + u->nlanded++] = rid;
        }
        at += u->nlanded;
    }
    doc = registry_update(&mb->reg, up, n, mb->window_start, r->now_us, r->cfg->track_days);
out:
    free(up);
    free(occ);
    free(ids);
    return doc;
}

/* The rows of the mailbox's final snapshot, read from its file: checked to the end
 * first, so that a mailbox adds all its rows or none. */
static status flatten_final(mailbox *mb, FILE *f, unsigned thread, errinfo *err)
{
    const mailbox_env *r = mb->env;
    table_counts counts = {0};
    status st =
        tables_flatten_fd_all(fileno(f), r->flatten ? r->flatten[thread] : NULL,
                              tables_row_to_writers, r->writers, r->rows_lock, &counts, err);
    if (st != ST_OK)
        return st;
    for (int t = 0; t < TBL_COUNT; t++)
        mb->counts.rows[t] += counts.rows[t];
    mb->counts.skipped += counts.skipped;
    mb->counts.bad_values += counts.bad_values;
    return ST_OK;
}

/* The final work that runs off the engine's thread (env->finisher): the final
 * snapshot composed, checked and flattened into the tables, the tracked meetings
 * updated. It reads the mailbox's data and writes only its own fields and the tables
 * (under env->rows_lock when two mailboxes' final work may run at once); what reaches
 * the run (a failure, the upload) waits for finish_done on the engine's thread. */
typedef struct mb_final {
    composed fin;
    status st;
    int storage; /* the failure was the temporary folder's or memory's, not the registry's */
    errinfo err;
} mb_final;

/* A final work that never came back (the run stopped meanwhile). */
static void final_dispose(mailbox *mb)
{
    if (mb->final)
        compose_close(&mb->final->fin);
    free(mb->final);
    mb->final = NULL;
}

static void finish_work(void *arg, unsigned thread)
{
    mailbox *mb = arg;
    const mailbox_env *r = mb->env;
    mb_final *w = mb->final;
    composed rows;
    rows.f = NULL;
    rows.path[0] = '\0';
    int omit = r->cfg->nsnapshot_omit > 0;
    errinfo *e = &w->err;
    status st = compose_open(mb, "final", &w->fin, e);
    if (st == ST_OK)
        st = compose_final(mb, w->fin.f, !omit, e);
    /* with fields left out of the snapshot, the rows come from a copy that has them */
    if (st == ST_OK && omit && (st = compose_open(mb, "rows", &rows, e)) == ST_OK)
        st = compose_final(mb, rows.f, 1, e);
    if (st == ST_OK)
        st = flatten_final(mb, omit ? rows.f : w->fin.f, thread, e);
    compose_close(&rows);
    w->storage = st == ST_IO || st == ST_NOMEM;
    if (st == ST_OK && !r->backfill) {
        json_t *doc = registry_after(mb);
        /* held as text until the run writes it: a fraction of the tree's memory */
        if (doc)
            mb->registry_text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        if (!mb->registry_text)
            st = err_set(e, ST_NOMEM, "out of memory updating the tracked meetings");
    }
    w->st = st;
}

static void finish_done(void *arg)
{
    mailbox *mb = arg;
    const mailbox_env *r = mb->env;
    mb_final *w = mb->final;
    mb->final = NULL;
    mb->pending--;
    if (w->st != ST_OK) {
        compose_close(&w->fin);
        if (w->storage)
            storage_failed(mb, &w->err);
        fail(mb, &w->err);
        free(w);
        advance(mb);
        return;
    }
    for (size_t m = 0; m < mb->nmeetings; m++)
        for (size_t k = 0; k < mb->meetings[m].ntie; k++)
            if (mb->meetings[m].tie[k] >= TIE_UNMATCHED) {
                mb->n_reports++;
                mb->n_records += mb->meetings[m].reports[k].nrecords;
            }

    /* the hold-back is bounded: say which meetings no longer hold the watermark */
    size_t n = mb->nevents;
    for (size_t i = 0; i < n; i++) {
        window_event *ev = &mb->ev[i];
        if (!ev->organizer_teams || window_holds_back(ev, r->now_us, r->cfg->settle_minutes))
            continue;
        int unreadable = ev->end_us == WINDOW_NO_TIME;
        if (!unreadable && (ev->start_us >= r->now_us - WINDOW_HOLD_MAX_US ||
                            ev->end_us <= r->now_us - (int64_t)r->cfg->settle_minutes * 60000000))
            continue;
        log_info(unreadable ? "a meeting whose end cannot be read does not hold the watermark"
                            : "a meeting that started over 24 hours ago and has not settled no "
                              "longer holds the watermark",
                 json_pack("{s:s,s:s?}", "upn", mb->upn_lower, "event_id", mb->events[i].id));
    }
    mb->new_watermark = window_new_watermark(mb->old_watermark, mb->ev, n, r->now_us,
                                             mb->window_end, r->cfg->settle_minutes);
    upload(mb, "final", &w->fin);
    compose_close(&w->fin);
    free(w);
    advance(mb);
}

/* Counts as outstanding until finish_done. */
static void finish_rows(mailbox *mb)
{
    const mailbox_env *r = mb->env;
    errinfo e = {0};
    mb->final = calloc(1, sizeof *mb->final);
    if (!mb->final) {
        fail_msg(mb, ST_NOMEM, "out of memory");
        return;
    }
    mb->pending++;
    if (!r->finisher) {
        finish_work(mb, 0);
        finish_done(mb);
    } else if (worker_add(r->finisher, finish_work, finish_done, mb, &e) != ST_OK) {
        free(mb->final);
        mb->final = NULL;
        mb->pending--;
        fail(mb, &e);
    }
}

static void advance(mailbox *mb)
{
    if (mb->pending > 0 || mb->phase == MB_OVER)
        return;
    /* A phase's own work counts as outstanding while it runs, so that a callback
     * completing synchronously inside it (the folder sink) cannot end the phase. */
    while (mb->pending == 0 && mb->state != MB_FAILED && mb->state != MB_SUCCEEDED) {
        mb->pending++;
        if (mb->phase == MB_LISTING) {
            set_phase(mb, MB_FETCHING);
            after_listing(mb);
        } else if (mb->phase == MB_FETCHING) {
            set_phase(mb, MB_FINISHING);
            finish_rows(mb);
        } else {
            mb->state = MB_SUCCEEDED;
        }
        mb->pending--;
    }
    if (mb->pending > 0 || mb->phase == MB_OVER)
        return;
    set_phase(mb, MB_OVER);
    mb->finished_us = timeutil_now_us();
    release_work(mb);
    mb->env->done(mb->env->ctx, mb);
}

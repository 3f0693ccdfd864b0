/* One mailbox's extraction: see mailbox.h.
 *
 * Phases: LIST (user id + every calendarView page, in parallel) -> FETCH (events
 * snapshot upload, meeting lookups, report lists, record pages; each completion
 * may submit more) -> FINAL (rows appended, final snapshot upload) -> done. A
 * phase ends when no request of the mailbox is outstanding. */
#include "job/mailbox.h"
#include "job/roster.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "job/run.h"
#include "graph/event.h"
#include "job/window.h"
#include "layout.h"
#include "log.h"
#include "util/timeutil.h"

enum { PH_LIST, PH_FETCH, PH_FINAL, PH_DONE };
enum { K_USER, K_EVENTS, K_MEETING, K_REPORTS, K_RECORDS };

#define MIN_PAGE_SIZE 10 /* $top of calendarView never below this */

/* Report ties beyond an event index: UNMATCHED, a report tied to no event of the
 * window that lands in this run (unmatched_attendance); SKIPPED, one this run does
 * not write (another run's, or landed before). */
enum { TIE_UNMATCHED = -1, TIE_SKIPPED = -2 };

typedef struct meeting {
    char *join_url;
    int found_elsewhere;         /* the link came from outside onlineMeeting (pasted, edited) */
    json_t *meta;                /* the onlineMeeting, or NULL (no_meeting) */
    json_t *reports;             /* the report objects, records filled in */
    int *tie;                    /* per report: event index, TIE_UNMATCHED or TIE_SKIPPED */
    const char **tie_occurrence; /* per report: the tracked occurrence's event id, or NULL */
    size_t ntie;
    int tracked_only; /* tracked in the registry, no occurrence in this window */
    int listed;       /* its reports were listed in this run */
} meeting;

typedef struct req_ctx {
    mailbox *mb;
    int kind;
    size_t meeting;
    size_t report;
    int pages;
} req_ctx;

static void advance(mailbox *mb);
static void list_calendar(mailbox *mb);
static void list_tracked_meetings(mailbox *mb);

mailbox *mailbox_new(struct run *r, int index, const char *upn)
{
    mailbox *mb = calloc(1, sizeof *mb);
    if (!mb)
        return NULL;
    mb->run = r;
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
    return mb;
}

static void release_work(mailbox *mb)
{
    for (size_t i = 0; i < mb->nmeetings; i++) {
        free(mb->meetings[i].join_url);
        json_decref(mb->meetings[i].meta);
        json_decref(mb->meetings[i].reports);
        free(mb->meetings[i].tie);
        free(mb->meetings[i].tie_occurrence);
    }
    free(mb->meetings);
    mb->meetings = NULL;
    mb->nmeetings = 0;
    json_decref(mb->events);
    mb->events = NULL;
    free(mb->ev);
    mb->ev = NULL;
    free(mb->ev_src);
    mb->ev_src = NULL;
    buf_free(&mb->scratch);
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
    json_decref(mb->registry_doc);
    registry_free(&mb->reg);
    free(mb);
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
    if (http_submit(mb->run->eng, req, on_graph, c, &e) != ST_OK) {
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
    run *r = mb->run;
    errinfo e = {0};
    submit(mb,
           graph_request_calendar_view(&r->gc, mb->upn, mb->window_start, mb->window_end,
                                       mb->page_size, mb->index, &e),
           K_EVENTS, 0, 0, 1, &e);
}

void mailbox_start(mailbox *mb)
{
    run *r = mb->run;
    mb->state = MB_ACTIVE;
    mb->started_us = timeutil_now_us();
    mb->phase = PH_LIST;
    mb->events = json_array();
    errinfo e = {0};
    submit(mb, graph_request_user(&r->gc, mb->upn, mb->index, &e), K_USER, 0, 0, 1, &e);
    mb->page_size = r->gc.page_size;
    list_calendar(mb);
    advance(mb);
}

/* Appends a page's "value" items to `into` and follows its nextLink. Returns 1 when
 * the listing is complete with this page: no nextLink, or one that is null or ""
 * (Graph and proxies write all three), 0 when a next page was asked for or the
 * mailbox failed. */
static int take_page(mailbox *mb, req_ctx *c, json_t *page, json_t *into, int is_calendar)
{
    json_t *value = json_object_get(page, "value");
    if (!json_is_array(value)) {
        fail_msg(mb, ST_JSON, "Graph answered a listing without a \"value\" array");
        return 0;
    }
    if (json_array_extend(into, value) != 0) {
        fail_msg(mb, ST_NOMEM, "out of memory taking a page");
        return 0;
    }
    run *r = mb->run;
    const char *next;
    errinfo e = {0};
    if (graph_next_link(page, c->pages, r->cfg->max_pages, mb->upn, &next, &e) != ST_OK) {
        fail(mb, &e);
        return 0;
    }
    if (!next)
        return 1;
    submit(mb, graph_request_next(&r->gc, next, is_calendar, mb->index, &e), c->kind, c->meeting,
           c->report, c->pages + 1, &e);
    return 0;
}

/* A Graph id to put in a request path: a non-empty string without NUL (a NUL would
 * cut the id short, and the request would name another object); NULL otherwise. */
static const char *graph_id(const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) != json_string_length(v))
        return NULL;
    return s;
}

static void start_reports(mailbox *mb, size_t mi)
{
    meeting *m = &mb->meetings[mi];
    const char *id = graph_id(json_object_get(m->meta, "id"));
    if (!id) {
        log_warn("online meeting without a usable id (missing, empty or holding NUL); treated "
                 "as no meeting",
                 json_pack("{s:s}", "upn", mb->upn));
        json_decref(m->meta);
        m->meta = NULL;
        return;
    }
    errinfo e = {0};
    submit(mb, graph_request_reports(&mb->run->gc, mb->user_id, id, mb->index, &e), K_REPORTS, mi,
           0, 1, &e);
}

/* Reads each event's times and type once, for the time rules (the meeting of each
 * organized Teams event is set as the meetings are collected). */
static int read_window_events(mailbox *mb)
{
    size_t n = json_array_size(mb->events);
    mb->ev = calloc(n ? n : 1, sizeof *mb->ev);
    mb->ev_src = calloc(n ? n : 1, sizeof *mb->ev_src);
    if (!mb->ev || !mb->ev_src)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(mb->events, i);
        window_event *w = &mb->ev[i];
        w->meeting = -1;
        w->start_us = INT64_MAX;
        w->end_us = INT64_MIN;
        json_t *s = json_object_get(e, "start"), *en = json_object_get(e, "end");
        int64_t t;
        if (timeutil_parse_dtz(json_string_value(json_object_get(s, "dateTime")),
                               json_string_value(json_object_get(s, "timeZone")),
                               &t) == TIMEUTIL_OK)
            w->start_us = t;
        if (timeutil_parse_dtz(json_string_value(json_object_get(en, "dateTime")),
                               json_string_value(json_object_get(en, "timeZone")),
                               &t) == TIMEUTIL_OK)
            w->end_us = t;
        const char *type = json_string_value(json_object_get(e, "type"));
        w->single_instance = type && strcmp(type, "singleInstance") == 0;
        const char *src;
        w->organizer_teams = event_organized_join_url(e, &mb->scratch, &src) != NULL;
    }
    return 0;
}

static json_t *snapshot_head(mailbox *mb)
{
    run *r = mb->run;
    char ws[TIMEUTIL_FMT_MAX], we[TIMEUTIL_FMT_MAX], ex[TIMEUTIL_FMT_MAX];
    timeutil_format(mb->window_start, ws);
    timeutil_format(mb->window_end, we);
    timeutil_format(r->now_us, ex);
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "user_upn", mb->upn_lower, "run_id", r->run_id,
                     "window_start", ws, "window_end", we, "extracted_utc", ex);
}

/* Deletes the fields of ATTENDANCE_SNAPSHOT_OMIT from each event (objects the
 * caller owns: copies, never the events the mailbox still reads). */
static void omit_fields(mailbox *mb, json_t *events)
{
    const config *cfg = mb->run->cfg;
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        for (size_t k = 0; k < cfg->nsnapshot_omit; k++)
            json_object_del(e, cfg->snapshot_omit[k]);
    }
}

/* The events as the events-only snapshot holds them: Graph's objects, or copies
 * without the omitted fields. A new reference (NULL when out of memory). */
static json_t *snapshot_events(mailbox *mb, json_t *events)
{
    if (mb->run->cfg->nsnapshot_omit == 0)
        return json_incref(events);
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        if (!out || json_array_append_new(out, json_copy(e)) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    omit_fields(mb, out);
    return out;
}

typedef struct put_ctx {
    mailbox *mb;
    char *name;
    size_t len;
} put_ctx;

static void on_put_done(void *ctx, status st, const errinfo *err)
{
    put_ctx *pc = ctx;
    mailbox *mb = pc->mb;
    mb->pending--;
    if (st == ST_OK) {
        run_file_written(mb->run, pc->name, pc->len);
    } else {
        run_storage_failed(mb->run, err);
        fail(mb, err);
    }
    free(pc->name);
    free(pc);
    advance(mb);
}

/* Serializes obj and queues its upload; the manifest lists it once it landed. */
static void put_json(mailbox *mb, const char *kind, json_t *obj)
{
    run *r = mb->run;
    put_ctx *pc = calloc(1, sizeof *pc);
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (pc)
        pc->name = layout_snapshot(r->cfg->prefix, kind, r->date, mb->upn, r->run_id);
    if (!pc || !pc->name || !text) {
        if (pc)
            free(pc->name);
        free(pc);
        free(text);
        fail_msg(mb, ST_NOMEM, "out of memory serializing a snapshot");
        return;
    }
    pc->mb = mb;
    pc->len = strlen(text);
    errinfo e = {0};
    mb->pending++;
    if (store_put_async(r->store, pc->name, text, pc->len, "application/json", on_put_done, pc,
                        &e) != ST_OK) {
        /* the store took the data but will not call back */
        mb->pending--;
        free(pc->name);
        free(pc);
        run_storage_failed(r, &e);
        fail(mb, &e);
    }
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
    nm->reports = json_array();
    if (!nm->join_url || !nm->reports) {
        fail_msg(mb, ST_NOMEM, "out of memory");
        return NULL;
    }
    return nm;
}

static void after_listing(mailbox *mb)
{
    mb->n_events = (int64_t)json_array_size(mb->events);
    json_t *snap = snapshot_head(mb);
    json_t *events = snapshot_events(mb, mb->events);
    /* json_object_set_new takes events, even when it fails */
    if (!snap || !events || json_object_set_new(snap, "events", events) != 0) {
        if (!snap)
            json_decref(events);
        json_decref(snap);
        fail_msg(mb, ST_NOMEM, "out of memory composing the events snapshot");
        return;
    }
    put_json(mb, "events", snap);
    json_decref(snap);
    if (mb->state == MB_FAILED)
        return;

    if (read_window_events(mb) != 0) {
        fail_msg(mb, ST_NOMEM, "out of memory");
        return;
    }
    /* one lookup per distinct join URL among the Teams meetings this mailbox organizes */
    size_t i;
    json_t *e;
    json_array_foreach(mb->events, i, e)
    {
        const char *src;
        const char *url = event_organized_join_url(e, &mb->scratch, &src);
        if (!url)
            continue;
        mb->ev_src[i] = src;
        size_t m = 0;
        while (m < mb->nmeetings && strcmp(mb->meetings[m].join_url, url) != 0)
            m++;
        mb->ev[i].meeting = (int)m;
        if (m < mb->nmeetings) {
            mb->meetings[m].found_elsewhere &= src != NULL;
            continue;
        }
        meeting *nm = add_meeting(mb, url);
        if (!nm)
            return;
        nm->found_elsewhere = src != NULL;
    }
    mb->n_meetings = (int64_t)mb->nmeetings;
    size_t in_window = mb->nmeetings;
    if (!mb->run->backfill)
        list_tracked_meetings(mb);
    for (size_t m = 0; m < in_window && mb->state != MB_FAILED; m++) {
        errinfo err = {0};
        submit(mb,
               graph_request_meeting_by_url(&mb->run->gc, mb->user_id, mb->meetings[m].join_url,
                                            mb->index, &err),
               K_MEETING, m, 0, 1, &err);
    }
}

/* A channel meeting lists the reports of every meeting of its channel: only those
 * within one of its own occurrences are its own. */
static int is_channel_meeting(const json_t *meta)
{
    const char *t =
        json_string_value(json_object_get(json_object_get(meta, "chatInfo"), "threadId"));
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
    size_t nr = json_array_size(m->reports);
    m->tie = calloc(nr ? nr : 1, sizeof *m->tie);
    m->tie_occurrence = calloc(nr ? nr : 1, sizeof *m->tie_occurrence);
    m->ntie = nr;
    m->listed = 1;
    if (!m->tie || !m->tie_occurrence) {
        fail_msg(mb, ST_NOMEM, "out of memory");
        return;
    }
    const char *mid = json_string_value(json_object_get(m->meta, "id"));
    int channel = is_channel_meeting(m->meta);
    int64_t first = mb->reg.first_window_start != REGISTRY_NO_TIME ? mb->reg.first_window_start
                                                                   : mb->window_start;
    for (size_t k = 0; k < nr; k++) {
        json_t *rep = json_array_get(m->reports, k);
        const char *s = json_string_value(json_object_get(rep, "meetingStartDateTime"));
        const char *rid = graph_id(json_object_get(rep, "id"));
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
        int64_t rs = WINDOW_NO_TIME;
        if (s && timeutil_parse(s, &rs) != 0)
            rs = WINDOW_NO_TIME;
        int t = m->tracked_only
                    ? -1
                    : window_tie_report(rs, mb->ev, json_array_size(mb->events), (int)mi, channel);
        if (t < 0) {
            const char *occ = rs != WINDOW_NO_TIME ? tracked_occurrence(mb, mid, rs) : NULL;
            if (mb->run->backfill)
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
        json_object_set_new(rep, "attendanceRecords", json_array());
        errinfo err = {0};
        submit(mb, graph_request_records(&mb->run->gc, mb->user_id, mid, rid, mb->index, &err),
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
        if (!(nm->meta = json_pack("{s:s}", "id", id))) {
            fail_msg(mb, ST_NOMEM, "out of memory");
            return;
        }
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
    if (res->st == ST_TOO_LARGE && c->kind == K_EVENTS && c->pages == 1 &&
        json_array_size(mb->events) == 0 && mb->page_size > MIN_PAGE_SIZE) {
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
            json_decref(m->meta);
            m->meta = NULL;
            json_array_clear(m->reports);
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
    /* what a mailbox holds is bounded: a paging loop of large pages, or a calendar too
     * big for this replica, is a clear error for that mailbox, never an OOM kill */
    mb->held_bytes += (int64_t)res->body.len;
    if (mb->held_bytes > (int64_t)mb->run->cfg->mailbox_max_mb * (1 << 20)) {
        errinfo e = {0};
        err_set(&e, ST_LIMIT,
                "%s: Graph's answers for this mailbox passed %d MiB (ATTENDANCE_MAILBOX_MAX_MB); "
                "stopped before memory runs out: raise the setting if the replica has the memory",
                mb->upn, mb->run->cfg->mailbox_max_mb);
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
        take_page(mb, c, j, mb->events, 1);
        break;
    case K_MEETING: {
        json_t *value = json_object_get(j, "value");
        if (!json_is_array(value)) {
            fail_msg(mb, ST_JSON, "Graph answered a meeting lookup without a \"value\" array");
            break;
        }
        json_t *first = json_array_get(value, 0);
        if (json_is_object(first)) {
            m->meta = json_incref(first);
            start_reports(mb, c->meeting);
        } else if (m->found_elsewhere) {
            log_warn("a Teams link found outside onlineMeeting matches no meeting of this "
                     "mailbox; its events are no_meeting",
                     json_pack("{s:s,s:s}", "upn", mb->upn, "join_url", m->join_url));
        }
        break;
    }
    case K_REPORTS:
        if (take_page(mb, c, j, m->reports, 0) == 1 && mb->state != MB_FAILED)
            tie_reports(mb, c->meeting);
        break;
    case K_RECORDS: {
        json_t *rep = json_array_get(m->reports, c->report);
        take_page(mb, c, j, json_object_get(rep, "attendanceRecords"), 0);
        break;
    }
    }
out:
    free(c);
    advance(mb);
}

/* Puts each fetched report under its event, and builds the final snapshot. */
/* Puts each fetched report under its event, and builds the final snapshot. Every
 * allocation is checked: an event or a report that silently dropped out would be
 * attendance lost. NULL when out of memory. */
static json_t *build_final(mailbox *mb)
{
    size_t n = json_array_size(mb->events);
    json_t *snap = snapshot_head(mb);
    json_t *events = json_array(), *unmatched = json_array();
    int bad = !snap || !events || !unmatched;
    for (size_t i = 0; i < n && !bad; i++) {
        json_t *e = json_array_get(mb->events, i);
        if (!json_is_object(e)) {
            /* what Graph sent, as it sent it: the flattener skips it with a warning */
            bad = json_array_append(events, e) != 0;
            continue;
        }
        int mi = mb->ev[i].meeting;
        json_t *meta =
            mi >= 0 && mb->meetings[mi].meta ? json_incref(mb->meetings[mi].meta) : json_null();
        json_t *att = json_array();
        for (size_t m = 0; m < mb->nmeetings && att; m++)
            for (size_t k = 0; k < mb->meetings[m].ntie && !bad; k++)
                if (mb->meetings[m].tie[k] == (int)i)
                    bad = json_array_append(att, json_array_get(mb->meetings[m].reports, k)) != 0;
        /* the _new calls take their value even when they fail (a NULL copy included) */
        json_t *copy = json_copy(e);
        bad |= json_object_set_new(copy, "onlineMeetingMeta", meta) != 0;
        bad |= json_object_set_new(copy, "attendance", att) != 0;
        if (mb->ev_src[i])
            bad |= json_object_set_new(copy, "joinUrlSource", json_string(mb->ev_src[i])) != 0;
        bad |= json_array_append_new(events, copy) != 0;
    }
    for (size_t m = 0; m < mb->nmeetings && !bad; m++) {
        const char *mid = json_string_value(json_object_get(mb->meetings[m].meta, "id"));
        for (size_t k = 0; k < mb->meetings[m].ntie && !bad; k++) {
            if (mb->meetings[m].tie[k] != TIE_UNMATCHED)
                continue;
            json_t *rep = json_copy(json_array_get(mb->meetings[m].reports, k));
            const char *occ = mb->meetings[m].tie_occurrence[k];
            bad |= json_object_set_new(rep, "onlineMeetingId",
                                       mid ? json_string(mid) : json_null()) != 0;
            if (occ)
                bad |= json_object_set_new(rep, "eventId", json_string(occ)) != 0;
            bad |= json_array_append_new(unmatched, rep) != 0;
        }
    }
    bad |= json_object_set_new(snap, "events", events) != 0;
    bad |= json_object_set_new(snap, "unmatched_attendance", unmatched) != 0;
    if (bad) {
        json_decref(snap);
        return NULL;
    }
    for (size_t m = 0; m < mb->nmeetings; m++)
        for (size_t k = 0; k < mb->meetings[m].ntie; k++)
            if (mb->meetings[m].tie[k] >= TIE_UNMATCHED) {
                mb->n_reports++;
                json_t *rep = json_array_get(mb->meetings[m].reports, k);
                mb->n_records +=
                    (int64_t)json_array_size(json_object_get(rep, "attendanceRecords"));
            }
    return snap;
}

/* What the registry holds once this run's rows landed: the meetings this run saw or
 * listed, their occurrences in the window, and the reports that landed. */
static json_t *registry_after(mailbox *mb)
{
    run *r = mb->run;
    size_t nm = mb->nmeetings, ne = json_array_size(mb->events), nids = 0;
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
        const char *id = json_string_value(json_object_get(mt->meta, "id"));
        if (!id || !*id)
            continue;
        registry_meeting_update *u = &up[n++];
        u->id = id;
        u->join_url = mt->join_url[0] ? mt->join_url : NULL;
        u->occ = occ + o;
        for (size_t i = 0; i < ne; i++) {
            if (mb->ev[i].meeting != (int)m)
                continue;
            const char *eid =
                json_string_value(json_object_get(json_array_get(mb->events, i), "id"));
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
            const char *rid = graph_id(json_object_get(json_array_get(mt->reports, k), "id"));
            if (rid)
                ids[at + u->nreports++] = rid;
        }
        at += u->nreports;
        u->landed = ids + at;
        for (size_t k = 0; k < mt->ntie; k++) {
            const char *rid = graph_id(json_object_get(json_array_get(mt->reports, k), "id"));
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

static void finish_rows(mailbox *mb)
{
    run *r = mb->run;
    json_t *final = build_final(mb);
    if (!final) {
        fail_msg(mb, ST_NOMEM, "out of memory composing the final snapshot");
        return;
    }
    table_counts counts = {0};
    errinfo e = {0};
    table_counts dry = {0};
    status st = tables_flatten_rows(final, NULL, NULL, &dry, &e);
    if (st == ST_OK)
        st = tables_flatten_rows(final, tables_row_to_writers, r->writers, &counts, &e);
    if (st != ST_OK) {
        json_decref(final);
        if (st == ST_IO || st == ST_NOMEM)
            run_storage_failed(r, &e);
        fail(mb, &e);
        return;
    }
    for (int t = 0; t < TBL_COUNT; t++)
        mb->counts.rows[t] += counts.rows[t];
    mb->counts.skipped += counts.skipped;
    mb->counts.bad_values += counts.bad_values;

    /* the hold-back is bounded: say which meetings no longer hold the watermark */
    size_t n = json_array_size(mb->events);
    for (size_t i = 0; i < n; i++) {
        window_event *w = &mb->ev[i];
        if (!w->organizer_teams || window_holds_back(w, r->now_us, r->cfg->settle_minutes))
            continue;
        int unreadable = w->end_us == WINDOW_NO_TIME;
        if (!unreadable && (w->start_us >= r->now_us - WINDOW_HOLD_MAX_US ||
                            w->end_us <= r->now_us - (int64_t)r->cfg->settle_minutes * 60000000))
            continue;
        log_info(
            unreadable ? "a meeting whose end cannot be read does not hold the watermark"
                       : "a meeting that started over 24 hours ago and has not settled no "
                         "longer holds the watermark",
            json_pack("{s:s,s:s?}", "upn", mb->upn_lower, "event_id",
                      json_string_value(json_object_get(json_array_get(mb->events, i), "id"))));
    }
    mb->new_watermark = window_new_watermark(mb->old_watermark, mb->ev, n, r->now_us,
                                             mb->window_end, r->cfg->settle_minutes);
    if (!r->backfill && !(mb->registry_doc = registry_after(mb))) {
        json_decref(final);
        fail_msg(mb, ST_NOMEM, "out of memory updating the tracked meetings");
        return;
    }
    omit_fields(mb, json_object_get(final, "events"));
    put_json(mb, "final", final);
    json_decref(final);
}

static void advance(mailbox *mb)
{
    if (mb->pending > 0 || mb->phase == PH_DONE)
        return;
    /* A phase's own work counts as outstanding while it runs, so that a callback
     * completing synchronously inside it (the folder sink) cannot end the phase. */
    while (mb->pending == 0 && mb->state != MB_FAILED && mb->state != MB_SUCCEEDED) {
        mb->pending++;
        if (mb->phase == PH_LIST) {
            mb->phase = PH_FETCH;
            after_listing(mb);
        } else if (mb->phase == PH_FETCH) {
            mb->phase = PH_FINAL;
            finish_rows(mb);
        } else {
            mb->state = MB_SUCCEEDED;
        }
        mb->pending--;
    }
    if (mb->pending > 0 || mb->phase == PH_DONE)
        return;
    mb->phase = PH_DONE;
    mb->finished_us = timeutil_now_us();
    release_work(mb);
    run_mailbox_done(mb->run, mb);
}

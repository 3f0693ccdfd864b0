/* `audit`: proves completeness without writing anything (the README).
 *
 * Per mailbox: its registry file (registry/mailboxes/{upn}.json: first window,
 * tracked meetings, landed report ids) and its watermark from the checkpoint; then,
 * through the HTTP engine, its user id and its calendarView over the period; the
 * online meeting behind each Teams meeting it organizes there and behind each
 * tracked meeting (looked up by join URL: the lookup also gives the subject and
 * tells a channel meeting); and the list of each meeting's attendance reports (no
 * records: the listing is all audit needs). Each report is judged by auditrule.h
 * against the landed ids. The registry file is the one home of "what landed":
 * snapshots and blob listings are not read.
 *
 * Phases of a mailbox: LIST (user id + every calendarView page) -> LOOKUP (one
 * lookup per distinct join URL) -> REPORTS (every page of each meeting's reports)
 * -> done. A phase ends when none of the mailbox's requests is outstanding. A
 * failure that leaves its reports unknown makes the mailbox "not audited", named
 * with the reason; the others go on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/event.h"
#include "layout.h"
#include "graph/graph.h"
#include "job/auditrule.h"
#include "job/checkpoint.h"
#include "job/job.h"
#include "job/run.h"
#include "log.h"
#include "store/store.h"
#include "util/timeutil.h"
#include "util/urlenc.h"

enum { PH_LIST, PH_LOOKUP, PH_REPORTS, PH_DONE };
enum { K_USER, K_EVENTS, K_MEETING, K_REPORTS };
enum { AM_PENDING, AM_ACTIVE, AM_DONE, AM_FAILED };

#define NO_SUBJECT "(no subject)"

typedef struct am_meeting {
    char *join_url; /* NULL for a tracked meeting whose file has none */
    char *id;       /* the online meeting id: the lookup's, else the registry's */
    char *subject;  /* the event's subject, else the online meeting's; may be NULL */
    int elsewhere;  /* every link of it came from outside onlineMeeting: a 403 is no meeting */
    int channel;    /* chatInfo.threadId ends in @thread.tacv2 */
    int tracked;
    int skip; /* no meeting behind the link, deleted, or the same meeting as another entry */
    auditrule_span *occ;
    size_t nocc, occ_cap;
} am_meeting;

typedef struct am_missing {
    char *subject, *report_id, *meeting_id;
    int64_t start_us, end_us;
} am_missing;

struct audit;

typedef struct am_mailbox {
    struct audit *a;
    int index;
    const char *upn;
    char *upn_lower;
    int state;
    errinfo err;    /* why it could not be audited */
    char *reg_name; /* its registry file's blob name */
    int have_registry;
    auditrule_registry reg;
    auditrule_bounds b;
    char *user_id;
    json_t *events;
    buf scratch; /* a join link being read */
    am_meeting *m;
    size_t nm;
    json_t *judged; /* report ids already judged (a channel meeting repeats others') */
    int pending, phase;
    int64_t nmeetings, on_graph, landed, not_due, missing, outside;
    am_missing *miss;
    size_t nmiss, miss_cap;
} am_mailbox;

typedef struct audit {
    const config *cfg;
    http_engine *eng;
    token_source *tokens;
    graph_client gc;
    store *store;
    checkpoint cp;
    int64_t now_us;
    am_mailbox *mbs;
    size_t nmb, next;
    int active, active_max;
} audit;

typedef struct req_ctx {
    am_mailbox *mb;
    int kind;
    size_t meeting;
    int pages;
} req_ctx;

static void advance(am_mailbox *mb);

/* ---- small helpers -------------------------------------------------------- */

static void fail(am_mailbox *mb, const errinfo *e)
{
    if (mb->state == AM_FAILED)
        return;
    mb->state = AM_FAILED;
    mb->err = *e;
}

static void fail_msg(am_mailbox *mb, status code, const char *msg)
{
    errinfo e = {0};
    err_set(&e, code, "%s", msg);
    fail(mb, &e);
}

static int64_t graph_time(const json_t *v)
{
    int64_t t;
    const char *s = json_string_value(v);
    if (!s || timeutil_parse(s, &t) != 0)
        return AUDITRULE_NO_TIME;
    return t;
}

static int set_dup(char **dst, const char *s)
{
    if (*dst || !s)
        return 0;
    *dst = strdup(s);
    return *dst ? 0 : -1;
}

static int add_occurrence(am_meeting *m, int64_t start, int64_t end)
{
    if (start == AUDITRULE_NO_TIME || end == AUDITRULE_NO_TIME)
        return 0;
    if (m->nocc == m->occ_cap) {
        size_t cap = m->occ_cap ? m->occ_cap * 2 : 8;
        auditrule_span *g = realloc(m->occ, cap * sizeof *g);
        if (!g)
            return -1;
        m->occ = g;
        m->occ_cap = cap;
    }
    m->occ[m->nocc].start_us = start;
    m->occ[m->nocc].end_us = end;
    m->nocc++;
    return 0;
}

static am_meeting *add_meeting(am_mailbox *mb)
{
    am_meeting *g = realloc(mb->m, (mb->nm + 1) * sizeof *g);
    if (!g)
        return NULL;
    mb->m = g;
    memset(&g[mb->nm], 0, sizeof *g);
    return &g[mb->nm++];
}

static void release_work(am_mailbox *mb)
{
    for (size_t i = 0; i < mb->nm; i++) {
        free(mb->m[i].join_url);
        free(mb->m[i].id);
        free(mb->m[i].subject);
        free(mb->m[i].occ);
    }
    free(mb->m);
    mb->m = NULL;
    mb->nm = 0;
    json_decref(mb->events);
    mb->events = NULL;
    json_decref(mb->judged);
    mb->judged = NULL;
    buf_dispose(&mb->scratch);
    auditrule_registry_dispose(&mb->reg);
    free(mb->user_id);
    mb->user_id = NULL;
}

/* ---- requests ------------------------------------------------------------- */

static void on_graph(void *ctx, http_result *res);

static void submit(am_mailbox *mb, http_request *req, int kind, size_t mi, int pages,
                   const errinfo *build_err)
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
    c->meeting = mi;
    c->pages = pages;
    errinfo e = {0};
    if (http_submit(mb->a->eng, req, on_graph, c, &e) != ST_OK) {
        free(c);
        fail(mb, &e);
        return;
    }
    mb->pending++;
}

static status push_missing(am_mailbox *mb, const am_meeting *m, const char *rid, int64_t start,
                           int64_t end)
{
    if (mb->nmiss == mb->miss_cap) {
        size_t cap = mb->miss_cap ? mb->miss_cap * 2 : 8;
        am_missing *g = realloc(mb->miss, cap * sizeof *g);
        if (!g)
            return ST_NOMEM;
        mb->miss = g;
        mb->miss_cap = cap;
    }
    am_missing *x = &mb->miss[mb->nmiss];
    x->subject = strdup(m->subject ? m->subject : NO_SUBJECT);
    x->report_id = strdup(rid);
    x->meeting_id = strdup(m->id ? m->id : "");
    x->start_us = start;
    x->end_us = end;
    if (!x->subject || !x->report_id || !x->meeting_id) {
        free(x->subject);
        free(x->report_id);
        free(x->meeting_id);
        return ST_NOMEM;
    }
    mb->nmiss++;
    return ST_OK;
}

/* What a page's item goes to: the mailbox and, for reports, their meeting. */
typedef struct page_ctx {
    am_mailbox *mb;
    size_t meeting;
} page_ctx;

static status take_event(void *ctx, json_t *e, errinfo *err)
{
    page_ctx *p = ctx;
    if (json_array_append(p->mb->events, e) != 0)
        return err_set(err, ST_NOMEM, "out of memory");
    return ST_OK;
}

/* Judges one report of a meeting against the registry (src/job/auditrule.c). */
static status judge_report(void *ctx, json_t *rep, errinfo *err)
{
    page_ctx *p = ctx;
    am_mailbox *mb = p->mb;
    am_meeting *m = &mb->m[p->meeting];
    const char *rid = graph_id(json_object_get(rep, "id"));
    if (!rid) {
        log_warn("attendance report without a usable id (missing, empty or holding NUL); "
                 "not audited",
                 json_pack("{s:s,s:s?}", "upn", mb->upn_lower, "meeting_id", m->id));
        return ST_OK;
    }
    if (json_object_get(mb->judged, rid))
        return ST_OK;
    int64_t start = graph_time(json_object_get(rep, "meetingStartDateTime"));
    int64_t end = graph_time(json_object_get(rep, "meetingEndDateTime"));
    auditrule_verdict v = auditrule_classify(start, end, auditrule_is_landed(&mb->reg, rid), &mb->b,
                                             m->channel, m->occ, m->nocc);
    if (v == AUDITRULE_OTHER_MEETING)
        return ST_OK; /* another meeting of the channel: judged under its own meeting */
    if (json_object_set_new(mb->judged, rid, json_true()) != 0)
        return err_set(err, ST_NOMEM, "out of memory");
    switch (v) {
    case AUDITRULE_OUTSIDE:
        mb->outside++;
        break;
    case AUDITRULE_LANDED:
        mb->on_graph++;
        mb->landed++;
        break;
    case AUDITRULE_NOT_DUE:
        mb->on_graph++;
        mb->not_due++;
        break;
    case AUDITRULE_MISSING:
        mb->on_graph++;
        mb->missing++;
        if (push_missing(mb, m, rid, start, end) != ST_OK)
            return err_set(err, ST_NOMEM, "out of memory");
        break;
    case AUDITRULE_OTHER_MEETING:
        break;
    }
    return ST_OK;
}

static void on_lookup(am_mailbox *mb, am_meeting *m, http_result *res)
{
    if (res->st != ST_OK) {
        if (res->st == ST_NOT_FOUND || (res->st == ST_FORBIDDEN && m->elsewhere && !m->tracked)) {
            /* deleted meanwhile, or a link pasted in that is another organizer's meeting */
            log_warn("a join link of this mailbox leads to no meeting it may read; its reports "
                     "are not audited",
                     json_pack("{s:s,s:s?,s:s}", "upn", mb->upn_lower, "join_url", m->join_url,
                               "error", res->err.msg));
            if (!m->tracked)
                m->skip = 1;
            return;
        }
        if (res->st == ST_FORBIDDEN)
            graph_explain_forbidden(res, mb->upn, mb->user_id);
        fail(mb, &res->err);
        return;
    }
    json_t *value = json_object_get(res->json, "value");
    if (!json_is_array(value)) {
        fail_msg(mb, ST_JSON, "Graph answered a meeting lookup without a \"value\" array");
        return;
    }
    json_t *meta = json_array_get(value, 0);
    const char *id = json_is_object(meta) ? graph_id(json_object_get(meta, "id")) : NULL;
    if (!id) {
        /* a tracked meeting keeps the id its run found; any other link leads nowhere */
        if (!m->tracked)
            m->skip = 1;
        return;
    }
    if (!m->id || strcmp(m->id, id) != 0) {
        char *copy = strdup(id);
        if (!copy) {
            fail_msg(mb, ST_NOMEM, "out of memory");
            return;
        }
        free(m->id);
        m->id = copy;
    }
    const char *thread =
        json_string_value(json_object_get(json_object_get(meta, "chatInfo"), "threadId"));
    const char *tacv2 = "@thread.tacv2";
    size_t tl = thread ? strlen(thread) : 0, sl = strlen(tacv2);
    m->channel = tl >= sl && strcmp(thread + tl - sl, tacv2) == 0;
    if (set_dup(&m->subject, json_string_value(json_object_get(meta, "subject"))) != 0)
        fail_msg(mb, ST_NOMEM, "out of memory");
}

static void on_graph(void *ctx, http_result *res)
{
    req_ctx *c = ctx;
    am_mailbox *mb = c->mb;
    mb->pending--;
    if (mb->state == AM_FAILED)
        goto out;
    am_meeting *m = c->kind >= K_MEETING ? &mb->m[c->meeting] : NULL;
    if (c->kind == K_MEETING) {
        on_lookup(mb, m, res);
        goto out;
    }
    if (res->st != ST_OK) {
        if (c->kind == K_REPORTS && res->st == ST_NOT_FOUND) {
            log_warn("online meeting not found (deleted meanwhile?); its reports are not audited",
                     json_pack("{s:s,s:s?,s:s}", "upn", mb->upn_lower, "meeting_id", m->id, "error",
                               res->err.msg));
            goto out;
        }
        if (c->kind == K_REPORTS && res->st == ST_FORBIDDEN)
            graph_explain_forbidden(res, mb->upn, mb->user_id);
        fail(mb, &res->err);
        goto out;
    }
    json_t *j = res->json;
    if (c->kind == K_USER) {
        const char *id = graph_id(json_object_get(j, "id"));
        if (!id)
            fail_msg(mb, ST_JSON,
                     "Graph returned the user without a usable id (missing, empty or holding "
                     "NUL)");
        else if (!(mb->user_id = strdup(id)))
            fail_msg(mb, ST_NOMEM, "out of memory");
        goto out;
    }
    /* a listing page: its items taken, then the next page asked for */
    page_ctx p = {mb, c->meeting};
    int calendar = c->kind == K_EVENTS;
    http_request *next = NULL;
    errinfo e = {0};
    if (graph_take_page(&mb->a->gc, j, c->pages, mb->a->cfg->max_pages, mb->upn, calendar,
                        mb->index, calendar ? take_event : judge_report, &p, &next, &e) != ST_OK)
        fail(mb, &e);
    else if (next)
        submit(mb, next, c->kind, c->meeting, c->pages + 1, &e);
out:
    free(c);
    advance(mb);
}

/* ---- phases ----------------------------------------------------------------- */

/* The meetings of the calendar, merged with the tracked ones by join URL; then one
 * lookup per join URL. */
static void after_listing(am_mailbox *mb)
{
    size_t i;
    json_t *e;
    json_array_foreach(mb->events, i, e)
    {
        const char *src;
        const char *url = event_organized_join_url(e, &mb->scratch, &src);
        if (!url)
            continue;
        am_meeting *m = NULL;
        for (size_t k = 0; k < mb->nm && !m; k++)
            if (mb->m[k].join_url && strcmp(mb->m[k].join_url, url) == 0)
                m = &mb->m[k];
        if (!m) {
            if (!(m = add_meeting(mb)) || !(m->join_url = strdup(url))) {
                fail_msg(mb, ST_NOMEM, "out of memory");
                return;
            }
            m->elsewhere = src != NULL;
        } else {
            m->elsewhere &= src != NULL;
        }
        json_t *s = json_object_get(e, "start"), *en = json_object_get(e, "end");
        int64_t st = AUDITRULE_NO_TIME, et = AUDITRULE_NO_TIME;
        if (timeutil_parse_dtz(json_string_value(json_object_get(s, "dateTime")),
                               json_string_value(json_object_get(s, "timeZone")),
                               &st) != TIMEUTIL_OK)
            st = AUDITRULE_NO_TIME;
        if (timeutil_parse_dtz(json_string_value(json_object_get(en, "dateTime")),
                               json_string_value(json_object_get(en, "timeZone")),
                               &et) != TIMEUTIL_OK)
            et = AUDITRULE_NO_TIME;
        const char *subj = json_string_value(json_object_get(e, "subject"));
        if (add_occurrence(m, st, et) != 0 || set_dup(&m->subject, subj && *subj ? subj : NULL)) {
            fail_msg(mb, ST_NOMEM, "out of memory");
            return;
        }
    }
    /* the events are no longer needed: only the meetings are */
    json_decref(mb->events);
    mb->events = NULL;
    for (size_t k = 0; k < mb->nm; k++) {
        if (!mb->m[k].join_url)
            continue;
        errinfo err = {0};
        submit(mb,
               graph_request_meeting_by_url(&mb->a->gc, mb->user_id, mb->m[k].join_url, 0,
                                            mb->index, &err),
               K_MEETING, k, 1, &err);
    }
}

/* One listing per distinct online meeting (two join links, long and short form, can
 * lead to the same meeting). */
static void after_lookup(am_mailbox *mb)
{
    for (size_t k = 0; k < mb->nm; k++) {
        am_meeting *m = &mb->m[k];
        if (m->skip || !m->id)
            continue;
        for (size_t j = 0; j < k; j++) {
            am_meeting *first = &mb->m[j];
            if (first->skip || !first->id || strcmp(first->id, m->id) != 0)
                continue;
            for (size_t o = 0; o < m->nocc; o++)
                if (add_occurrence(first, m->occ[o].start_us, m->occ[o].end_us) != 0) {
                    fail_msg(mb, ST_NOMEM, "out of memory");
                    return;
                }
            first->channel |= m->channel;
            if (set_dup(&first->subject, m->subject) != 0) {
                fail_msg(mb, ST_NOMEM, "out of memory");
                return;
            }
            m->skip = 1;
            break;
        }
    }
    for (size_t k = 0; k < mb->nm; k++) {
        if (mb->m[k].skip || !mb->m[k].id)
            continue;
        mb->nmeetings++;
        errinfo err = {0};
        submit(mb, graph_request_reports(&mb->a->gc, mb->user_id, mb->m[k].id, 0, mb->index, &err),
               K_REPORTS, k, 1, &err);
    }
}

static void mailbox_over(am_mailbox *mb)
{
    mb->phase = PH_DONE;
    if (mb->state != AM_FAILED)
        mb->state = AM_DONE;
    release_work(mb);
    mb->a->active--;
    if (mb->state == AM_FAILED)
        log_error("mailbox could not be audited",
                  json_pack("{s:s,s:s}", "upn", mb->upn_lower, "error", mb->err.msg));
    else
        log_info("mailbox audited",
                 json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "upn", mb->upn_lower, "meetings",
                           (json_int_t)mb->nmeetings, "reports_on_graph", (json_int_t)mb->on_graph,
                           "reports_landed", (json_int_t)mb->landed, "reports_not_due",
                           (json_int_t)mb->not_due, "reports_missing", (json_int_t)mb->missing));
}

static void advance(am_mailbox *mb)
{
    if (mb->pending > 0 || mb->phase == PH_DONE)
        return;
    /* a phase's own work counts as outstanding while it runs, so that it cannot end
       the phase from inside */
    while (mb->pending == 0 && mb->state != AM_FAILED && mb->phase != PH_REPORTS) {
        mb->pending++;
        if (mb->phase == PH_LIST) {
            mb->phase = PH_LOOKUP;
            after_listing(mb);
        } else {
            mb->phase = PH_REPORTS;
            after_lookup(mb);
        }
        mb->pending--;
    }
    if (mb->pending == 0)
        mailbox_over(mb);
}

/* ---- starting a mailbox ----------------------------------------------------- */

/* Reads the mailbox's registry file; a missing one leaves have_registry 0. */
static status read_registry(am_mailbox *mb, errinfo *err)
{
    audit *a = mb->a;
    buf name, body;
    buf_init(&name, 0);
    buf_init(&body, 0);
    status st = ST_OK;
    if (!(mb->reg_name = layout_registry(a->cfg->prefix, mb->upn)) ||
        (st = buf_appends(&name, mb->reg_name, err)) != ST_OK)
        st = err_set(err, ST_NOMEM, "out of memory");
    if (st == ST_OK)
        st = store_get(a->store, name.data, &body, NULL, err);
    if (st == ST_NOT_FOUND) {
        err_clear(err);
        st = ST_OK;
    } else if (st == ST_OK) {
        json_error_t je;
        json_t *doc = json_loadb(body.data, body.len, 0, &je);
        if (!doc)
            st = err_set(err, ST_JSON, "%s is not valid JSON (%s, line %d)", name.data, je.text,
                         je.line);
        else if ((st = auditrule_registry_parse(doc, &mb->reg, err)) != ST_OK)
            err_prefix(err, "%s", name.data);
        else
            mb->have_registry = 1;
        json_decref(doc);
    } else {
        err_prefix(err, "reading %s", name.data);
    }
    buf_dispose(&name);
    buf_dispose(&body);
    return st;
}

/* The period and the bounds of the rules; 0 when the mailbox can be audited, else
 * -1 with the reason in mb->err. */
static int set_bounds(am_mailbox *mb)
{
    audit *a = mb->a;
    const config *cfg = a->cfg;
    mb->b.first_window_start = mb->have_registry ? mb->reg.first_window_start : AUDITRULE_NO_TIME;
    mb->b.settle_minutes = cfg->settle_minutes;
    mb->b.watermark = checkpoint_watermark(&a->cp, mb->upn);
    if (mb->b.first_window_start == AUDITRULE_NO_TIME && !cfg->has_since) {
        err_set(&mb->err, ST_DATA,
                "its first window is unknown (%s %s: no run of this version has finished for "
                "it), so what is missing cannot be told; give --since T to audit from T on",
                mb->have_registry ? "no first_window_start in" : "no registry file", mb->reg_name);
        return -1;
    }
    if (mb->b.watermark == AUDITRULE_NO_TIME) {
        err_set(&mb->err, ST_DATA,
                "no watermark in %sregistry/checkpoint.json (no run has finished for this "
                "mailbox), so no report can be called due",
                cfg->prefix);
        return -1;
    }
    mb->b.period_start = cfg->has_since ? cfg->since_us : mb->b.first_window_start;
    mb->b.period_end = cfg->has_until ? cfg->until_us : a->now_us;
    return 0;
}

static void start_mailbox(am_mailbox *mb)
{
    audit *a = mb->a;
    a->active++;
    mb->state = AM_ACTIVE;
    mb->phase = PH_LIST;
    buf_init(&mb->scratch, 64u << 10);
    errinfo e = {0};
    if (read_registry(mb, &e) != ST_OK) {
        fail(mb, &e);
        mailbox_over(mb);
        return;
    }
    if (set_bounds(mb) != 0) {
        mb->state = AM_FAILED;
        mailbox_over(mb);
        return;
    }
    mb->events = json_array();
    mb->judged = json_object();
    if (!mb->events || !mb->judged) {
        fail_msg(mb, ST_NOMEM, "out of memory");
        mailbox_over(mb);
        return;
    }
    /* tracked meetings are listed whether or not an occurrence falls in the period */
    for (size_t i = 0; i < mb->reg.nmeetings; i++) {
        const auditrule_tracked *t = &mb->reg.meetings[i];
        am_meeting *m = add_meeting(mb);
        if (!m || !(m->id = strdup(t->id)) ||
            (t->join_url && !(m->join_url = strdup(t->join_url)))) {
            fail_msg(mb, ST_NOMEM, "out of memory");
            mailbox_over(mb);
            return;
        }
        m->tracked = 1;
        for (size_t k = 0; k < t->nocc; k++)
            if (add_occurrence(m, t->occ[k].start_us, t->occ[k].end_us) != 0) {
                fail_msg(mb, ST_NOMEM, "out of memory");
                mailbox_over(mb);
                return;
            }
    }
    submit(mb, graph_request_user(&a->gc, mb->upn, mb->index, &e), K_USER, 0, 1, &e);
    if (mb->b.period_start < mb->b.period_end) {
        err_clear(&e);
        submit(mb,
               graph_request_calendar_view(&a->gc, mb->upn, mb->b.period_start, mb->b.period_end, 0,
                                           0, mb->index, &e),
               K_EVENTS, 0, 1, &e);
    }
    advance(mb);
}

static void start_next(audit *a)
{
    while (a->active < a->active_max && a->next < a->nmb)
        start_mailbox(&a->mbs[a->next++]);
}

/* ---- the report --------------------------------------------------------------- */

static json_t *time_or_null(int64_t us)
{
    if (us == AUDITRULE_NO_TIME)
        return json_null();
    char s[TIMEUTIL_FMT_MAX];
    timeutil_format(us, s);
    return json_string(s);
}

static int by_start(const void *x, const void *y)
{
    const am_missing *p = x, *q = y;
    if (p->start_us != q->start_us)
        return p->start_us < q->start_us ? -1 : 1;
    return strcmp(p->report_id, q->report_id);
}

static const char *mailbox_status(const am_mailbox *mb)
{
    if (mb->state != AM_DONE)
        return "not_audited";
    return mb->missing ? "missing" : "complete";
}

/* One JSON document: the period asked for, each mailbox's numbers and missing
 * reports, and the totals. NULL when out of memory. */
static json_t *report_json(const audit *a, const int64_t totals[5], int not_audited)
{
    json_t *mbs = json_array();
    for (size_t i = 0; mbs && i < a->nmb; i++) {
        const am_mailbox *mb = &a->mbs[i];
        int done = mb->state == AM_DONE;
        json_t *missing = json_array();
        for (size_t k = 0; missing && k < mb->nmiss; k++)
            json_array_append_new(
                missing, json_pack("{s:s,s:o,s:o,s:s,s:s}", "subject", mb->miss[k].subject,
                                   "session_start", time_or_null(mb->miss[k].start_us),
                                   "session_end", time_or_null(mb->miss[k].end_us), "report_id",
                                   mb->miss[k].report_id, "meeting_id", mb->miss[k].meeting_id));
        json_t *o = json_pack(
            "{s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "upn", mb->upn_lower, "status", mailbox_status(mb),
            "error", done ? json_null() : json_string(mb->err.msg), "first_window_start",
            time_or_null(mb->b.first_window_start), "watermark", time_or_null(mb->b.watermark),
            "period_start", done ? time_or_null(mb->b.period_start) : json_null(), "period_end",
            done ? time_or_null(mb->b.period_end) : json_null());
        if (!o || !missing) {
            json_decref(o);
            json_decref(missing);
            json_decref(mbs);
            return NULL;
        }
        if (done) {
            json_object_set_new(o, "meetings", json_integer((json_int_t)mb->nmeetings));
            json_object_set_new(o, "reports_on_graph", json_integer((json_int_t)mb->on_graph));
            json_object_set_new(o, "reports_landed", json_integer((json_int_t)mb->landed));
            json_object_set_new(o, "reports_not_due", json_integer((json_int_t)mb->not_due));
            json_object_set_new(o, "reports_missing", json_integer((json_int_t)mb->missing));
            json_object_set_new(o, "reports_outside_period", json_integer((json_int_t)mb->outside));
        }
        json_object_set_new(o, "missing", missing);
        json_array_append_new(mbs, o);
    }
    if (!mbs)
        return NULL;
    const config *cfg = a->cfg;
    return json_pack("{s:s,s:o,s:o,s:o,s:i,s:o,s:{s:I,s:I,s:I,s:I,s:i,s:i}}", "status",
                     totals[3] || not_audited ? "incomplete" : "complete", "audited_utc",
                     time_or_null(a->now_us), "since",
                     cfg->has_since ? time_or_null(cfg->since_us) : json_null(), "until",
                     cfg->has_until ? time_or_null(cfg->until_us) : json_null(), "settle_minutes",
                     cfg->settle_minutes, "mailboxes", mbs, "totals", "reports_on_graph",
                     (json_int_t)totals[0], "reports_landed", (json_int_t)totals[1],
                     "reports_not_due", (json_int_t)totals[2], "reports_missing",
                     (json_int_t)totals[3], "mailboxes_audited", (int)totals[4],
                     "mailboxes_not_audited", not_audited);
}

/* Text for a table cell: control characters become spaces, so a subject cannot
 * break the table's lines. */
static void print_clean(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
}

static void report_text(const audit *a, const int64_t totals[5], int not_audited)
{
    int w = 7;
    for (size_t i = 0; i < a->nmb; i++) {
        int n = (int)strlen(a->mbs[i].upn_lower);
        if (n > w)
            w = n;
    }
    printf("%-*s  %8s  %6s  %11s  %7s\n", w, "MAILBOX", "ON GRAPH", "LANDED", "NOT YET DUE",
           "MISSING");
    for (size_t i = 0; i < a->nmb; i++) {
        const am_mailbox *mb = &a->mbs[i];
        if (mb->state != AM_DONE) {
            printf("%-*s  not audited: ", w, mb->upn_lower);
            print_clean(stdout, mb->err.msg);
            printf("\n");
            continue;
        }
        printf("%-*s  %8lld  %6lld  %11lld  %7lld\n", w, mb->upn_lower, (long long)mb->on_graph,
               (long long)mb->landed, (long long)mb->not_due, (long long)mb->missing);
        for (size_t k = 0; k < mb->nmiss; k++) {
            char s[TIMEUTIL_FMT_MAX] = "(no start)";
            if (mb->miss[k].start_us != AUDITRULE_NO_TIME)
                timeutil_format(mb->miss[k].start_us, s);
            printf("  missing: \"");
            print_clean(stdout, mb->miss[k].subject);
            printf("\" session %s report %s\n", s, mb->miss[k].report_id);
        }
    }
    if (totals[3] == 0 && not_audited == 0)
        printf("COMPLETE: nothing missing (%lld reports on Graph, %lld landed, %lld not yet due)\n",
               (long long)totals[0], (long long)totals[1], (long long)totals[2]);
    else
        printf("INCOMPLETE: %lld report%s missing, %d mailbox%s could not be audited\n",
               (long long)totals[3], totals[3] == 1 ? "" : "s", not_audited,
               not_audited == 1 ? "" : "es");
}

/* Prints the report; returns the exit status. */
static int report(audit *a)
{
    int64_t totals[5] = {0}; /* on Graph, landed, not due, missing, mailboxes audited */
    int not_audited = 0;
    for (size_t i = 0; i < a->nmb; i++) {
        am_mailbox *mb = &a->mbs[i];
        if (mb->state != AM_DONE) {
            not_audited++;
            continue;
        }
        if (mb->nmiss > 1)
            qsort(mb->miss, mb->nmiss, sizeof *mb->miss, by_start);
        totals[0] += mb->on_graph;
        totals[1] += mb->landed;
        totals[2] += mb->not_due;
        totals[3] += mb->missing;
        totals[4]++;
    }
    if (a->cfg->log_format == LOG_FORMAT_JSON) {
        json_t *doc = report_json(a, totals, not_audited);
        char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(doc);
        if (!text) {
            log_error("out of memory writing the audit report", NULL);
            return 1;
        }
        puts(text);
        free(text);
    } else {
        report_text(a, totals, not_audited);
    }
    if (fflush(stdout) != 0) {
        log_error("cannot write the audit report to stdout", NULL);
        return 1;
    }
    log_write(totals[3] || not_audited ? LOG_ERROR : LOG_INFO, "audit finished",
              json_pack("{s:I,s:I,s:I,s:I,s:I,s:i}", "mailboxes_audited", (json_int_t)totals[4],
                        "reports_on_graph", (json_int_t)totals[0], "reports_landed",
                        (json_int_t)totals[1], "reports_not_due", (json_int_t)totals[2],
                        "reports_missing", (json_int_t)totals[3], "mailboxes_not_audited",
                        not_audited));
    return totals[3] || not_audited ? 1 : 0;
}

/* ---- the command ---------------------------------------------------------------- */

/* An error that stops every mailbox before it starts: each is named with it. */
static void fail_all(audit *a, const char *what, const errinfo *e)
{
    log_error(what, json_pack("{s:s}", "error", e->msg));
    for (size_t i = a->next; i < a->nmb; i++) {
        am_mailbox *mb = &a->mbs[i];
        if (mb->state != AM_PENDING && mb->state != AM_ACTIVE)
            continue;
        mb->state = AM_FAILED;
        mb->err = *e;
        err_prefix(&mb->err, "%s", what);
    }
}

int job_audit(const config *cfg)
{
    audit a;
    memset(&a, 0, sizeof a);
    a.cfg = cfg;
    a.now_us = timeutil_now_us();
    a.cp.legacy_watermark = INT64_MIN;
    errinfo e = {0};
    int code = 1;
    a.mbs = calloc(cfg->nusers ? cfg->nusers : 1, sizeof *a.mbs);
    if (!a.mbs) {
        log_error("out of memory", NULL);
        return 1;
    }
    for (size_t i = 0; i < cfg->nusers; i++) {
        am_mailbox *mb = &a.mbs[a.nmb];
        mb->a = &a;
        mb->index = (int)a.nmb;
        mb->upn = cfg->users[i];
        mb->b.first_window_start = mb->b.watermark = AUDITRULE_NO_TIME;
        mb->reg.first_window_start = AUDITRULE_NO_TIME;
        if (!(mb->upn_lower = strdup(cfg->users[i]))) {
            log_error("out of memory", NULL);
            goto out;
        }
        for (char *p = mb->upn_lower; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        a.nmb++;
    }
    log_info("audit started",
             json_pack("{s:i,s:s}", "mailboxes", (int)a.nmb, "version", TA_VERSION));

    http_limits lim;
    run_http_limits(cfg, &lim);
    const char *tok;
    if (http_engine_new(&a.eng, &lim, &e) != ST_OK) {
        fail_all(&a, "cannot start", &e);
    } else if (store_open(&a.store, cfg, a.eng, &e) != ST_OK) {
        fail_all(&a, "cannot use the storage", &e);
    } else if (token_source_graph(&a.tokens, cfg, &e) != ST_OK ||
               token_get(a.tokens, 0, &tok, &e) != ST_OK) {
        fail_all(&a, "cannot get a Graph token", &e);
    } else {
        char name[1024];
        char *cp_name = layout_checkpoint(cfg->prefix);
        snprintf(name, sizeof name, "%s", cp_name ? cp_name : "registry/checkpoint.json");
        free(cp_name);
        if (checkpoint_load(a.store, name, &a.cp, &e) != ST_OK) {
            err_prefix(&e, "the checkpoint %s", name);
            fail_all(&a, "cannot read the checkpoint", &e);
        } else {
            checkpoint_set_legacy_mailboxes(&a.cp, cfg->legacy_users, cfg->nlegacy_users);
            a.gc.host = cfg->graph_host;
            a.gc.tokens = a.tokens;
            a.gc.page_size = 500;
            /* enough mailboxes at once to fill the in-flight cap (4 per mailbox) */
            a.active_max = cfg->concurrency / 2 > 2 ? cfg->concurrency / 2 : 2;
            start_next(&a);
            while (a.active > 0 || a.next < a.nmb || !http_idle(a.eng)) {
                if (http_step(a.eng, &e) != ST_OK) {
                    fail_all(&a, "the HTTP engine failed", &e);
                    break;
                }
                start_next(&a);
                if (a.active > 0 && a.next >= a.nmb && http_idle(a.eng)) {
                    err_set(&e, ST_INTERNAL, "%d mailbox(es) waiting with nothing in flight",
                            a.active);
                    fail_all(&a, "internal error", &e);
                    break;
                }
            }
        }
    }
    /* anything still active when the loop stopped did not finish its audit */
    for (size_t i = 0; i < a.nmb; i++)
        if (a.mbs[i].state == AM_ACTIVE) {
            a.mbs[i].state = AM_FAILED;
            if (!a.mbs[i].err.msg[0])
                a.mbs[i].err = e;
        }
    code = report(&a);
out:
    for (size_t i = 0; i < a.nmb; i++) {
        am_mailbox *mb = &a.mbs[i];
        release_work(mb);
        for (size_t k = 0; k < mb->nmiss; k++) {
            free(mb->miss[k].subject);
            free(mb->miss[k].report_id);
            free(mb->miss[k].meeting_id);
        }
        free(mb->miss);
        free(mb->upn_lower);
        free(mb->reg_name);
    }
    free(a.mbs);
    checkpoint_dispose(&a.cp);
    store_free(a.store);
    token_source_free(a.tokens);
    http_engine_free(a.eng);
    return code;
}

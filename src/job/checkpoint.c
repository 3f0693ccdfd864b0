/* Checkpoint: see checkpoint.h. */
#include "job/checkpoint.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util/timeutil.h"

#define CHECKPOINT_MAX (64u << 20)
#define SAVE_ATTEMPTS 20

void checkpoint_free(checkpoint *cp)
{
    if (!cp)
        return;
    json_decref(cp->doc);
    cp->doc = NULL;
    cp->etag[0] = '\0';
    cp->legacy_watermark = INT64_MIN;
}

static int read_time(json_t *v, int64_t *out)
{
    const char *s = json_string_value(v);
    return s && timeutil_parse(s, out) == 0;
}

status checkpoint_parse(const char *text, size_t len, checkpoint *cp, errinfo *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    if (!doc)
        return err_set(err, ST_JSON, "the checkpoint is not valid JSON (%s at byte %d)", je.text,
                       je.position);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return err_set(err, ST_JSON, "the checkpoint is not a JSON object");
    }
    json_t *mb = json_object_get(doc, "mailboxes");
    if (mb && !json_is_object(mb) && !json_is_null(mb)) {
        json_decref(doc);
        return err_set(err, ST_JSON, "the checkpoint's \"mailboxes\" is not an object");
    }
    const char *key;
    json_t *v;
    if (json_is_object(mb)) {
        json_object_foreach(mb, key, v)
        {
            int64_t t;
            if (!json_is_object(v) || !read_time(json_object_get(v, "watermark"), &t)) {
                err_set(err, ST_JSON,
                        "the checkpoint's watermark of mailbox %s is missing or not a time", key);
                json_decref(doc);
                return ST_JSON;
            }
        }
    }
    json_t *lms = json_object_get(doc, "last_meeting_start");
    int64_t legacy = INT64_MIN;
    if (lms && !json_is_null(lms) && !read_time(lms, &legacy)) {
        json_decref(doc);
        return err_set(err, ST_JSON, "the checkpoint's last_meeting_start is not a time");
    }
    json_decref(cp->doc);
    cp->doc = doc;
    /* the old job's file has no mailboxes: its single value is every mailbox's watermark */
    cp->legacy_watermark = json_is_object(mb) ? INT64_MIN : legacy;
    return ST_OK;
}

status checkpoint_load(store *s, const char *name, checkpoint *cp, errinfo *err)
{
    buf b;
    buf_init(&b, CHECKPOINT_MAX);
    cp->doc = NULL;
    cp->etag[0] = '\0';
    cp->legacy_watermark = INT64_MIN;
    status st = store_get(s, name, &b, cp->etag, err);
    if (st == ST_NOT_FOUND) {
        err_clear(err);
        cp->etag[0] = '\0';
        buf_free(&b);
        return ST_OK;
    }
    if (st == ST_OK) {
        st = checkpoint_parse(b.data ? b.data : "", b.len, cp, err);
        if (st != ST_OK)
            err_prefix(err, "reading %s", name);
    }
    buf_free(&b);
    return st;
}

static void lower(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

int64_t checkpoint_watermark(const checkpoint *cp, const char *upn)
{
    char key[512];
    lower(key, upn, sizeof key);
    json_t *mb = cp->doc ? json_object_get(cp->doc, "mailboxes") : NULL;
    json_t *e = json_is_object(mb) ? json_object_get(mb, key) : NULL;
    int64_t t;
    if (e && read_time(json_object_get(e, "watermark"), &t))
        return t;
    return cp->legacy_watermark;
}

static json_t *time_json(int64_t us)
{
    char s[TIMEUTIL_FMT_MAX];
    timeutil_format(us, s);
    return json_string(s);
}

#define MAX_FAILED_RUNS INT64_C(1000000000)

/* The streak held by an object (a mailbox entry or a "failing" entry). */
static checkpoint_streak streak_of(json_t *o)
{
    checkpoint_streak s = {INT64_MIN, 0};
    json_t *n = json_object_get(o, "failed_runs");
    int64_t since;
    if (!json_is_integer(n) || json_integer_value(n) < 1 ||
        json_integer_value(n) > MAX_FAILED_RUNS ||
        !read_time(json_object_get(o, "failing_since"), &since))
        return s;
    s.since_us = since;
    s.runs = (int64_t)json_integer_value(n);
    return s;
}

/* The entry of a mailbox under "mailboxes" and under "failing" (either may be NULL). */
static void entries_of(json_t *doc, const char *upn, json_t **entry, json_t **failing)
{
    char key[512];
    lower(key, upn, sizeof key);
    json_t *mb = doc ? json_object_get(doc, "mailboxes") : NULL;
    json_t *fl = doc ? json_object_get(doc, "failing") : NULL;
    *entry = json_is_object(mb) ? json_object_get(mb, key) : NULL;
    *failing = json_is_object(fl) ? json_object_get(fl, key) : NULL;
    if (!json_is_object(*entry))
        *entry = NULL;
    if (!json_is_object(*failing))
        *failing = NULL;
}

/* An entry's own streak wins; a mailbox without an entry has it under "failing". */
static checkpoint_streak streak_in(json_t *entry, json_t *failing)
{
    return entry ? streak_of(entry) : streak_of(failing);
}

static checkpoint_streak streak_next(checkpoint_streak prev, int64_t run_start_us)
{
    checkpoint_streak s = {run_start_us, 1};
    if (prev.runs > 0) {
        s.since_us = prev.since_us;
        s.runs = prev.runs < MAX_FAILED_RUNS ? prev.runs + 1 : MAX_FAILED_RUNS;
    }
    return s;
}

checkpoint_streak checkpoint_failing(const checkpoint *cp, const char *upn)
{
    json_t *entry, *failing;
    entries_of(cp->doc, upn, &entry, &failing);
    return streak_in(entry, failing);
}

checkpoint_streak checkpoint_failing_next(const checkpoint *cp, const char *upn,
                                          int64_t run_start_us)
{
    return streak_next(checkpoint_failing(cp, upn), run_start_us);
}

/* Sets the streak fields on o (a copy the merge owns); 0 on success. */
static int set_streak(json_t *o, checkpoint_streak s)
{
    json_t *since = time_json(s.since_us);
    if (json_object_set_new(o, "failing_since", since) != 0 ||
        json_object_set_new(o, "failed_runs", json_integer((json_int_t)s.runs)) != 0)
        return -1;
    return 0;
}

/* Puts n (taken, may be NULL) under key; 0 on success. */
static int put(json_t *obj, const char *key, json_t *n)
{
    int rc = n ? json_object_set(obj, key, n) : -1;
    json_decref(n);
    return rc;
}

/* A copy of an entry (unknown fields kept) that can be changed; a new object when
 * there is none. */
static json_t *entry_copy(json_t *e)
{
    return e ? json_copy(e) : json_object();
}

/* 1 when run id a belongs to a run that started after run b's start (run ids begin
 * with the start, YYYYMMDDTHHMMSSZ, and sort by it; other text compares as older). */
static int started_later(const char *a, const char *b)
{
    const size_t n = 16; /* YYYYMMDDTHHMMSSZ */
    if (!a || !b || strlen(a) < n || strlen(b) < n || !isdigit((unsigned char)a[0]) ||
        a[n - 1] != 'Z')
        return 0;
    return strncmp(a, b, n) > 0;
}

/* One update merged into mailboxes/failing (both owned by the merge); 0 on success. */
static int merge_one(const checkpoint *cp, json_t *mailboxes, json_t *failing,
                     const checkpoint_update *u, const char *run_id, int64_t run_start_us,
                     int64_t *latest)
{
    json_t *e = json_object_get(mailboxes, u->upn_lower);
    if (!json_is_object(e))
        e = NULL;
    json_t *f = json_object_get(failing, u->upn_lower);
    if (!json_is_object(f))
        f = NULL;
    int64_t have = INT64_MIN;
    if (e)
        read_time(json_object_get(e, "watermark"), &have);
    else if (cp->legacy_watermark != INT64_MIN)
        have = cp->legacy_watermark;
    checkpoint_streak prev = streak_in(e, f);

    if (u->done) {
        /* another run got further: its entry stands */
        if (e && have > u->watermark)
            return 0;
        int64_t wm = u->watermark > have ? u->watermark : have;
        if (wm == INT64_MIN)
            return 0;
        json_t *n = entry_copy(e);
        if (!n || json_object_set_new(n, "watermark", time_json(wm)) != 0 ||
            json_object_set_new(n, "run_id", json_string(run_id)) != 0) {
            json_decref(n);
            return -1;
        }
        /* a streak that began after this run started is not ended by it */
        int keep = prev.runs > 0 && prev.since_us > run_start_us;
        if (keep) {
            if (set_streak(n, prev) != 0) {
                json_decref(n);
                return -1;
            }
        } else {
            json_object_del(n, "failing_since");
            json_object_del(n, "failed_runs");
        }
        json_object_del(failing, u->upn_lower);
        if (put(mailboxes, u->upn_lower, n) != 0)
            return -1;
        if (wm > *latest)
            *latest = wm;
        return 0;
    }

    /* failed: a run that started later and succeeded stands as it is */
    if (e && prev.runs == 0 &&
        started_later(json_string_value(json_object_get(e, "run_id")), run_id))
        return 0;
    checkpoint_streak s = streak_next(prev, run_start_us);
    int64_t wm = u->watermark > have ? u->watermark : have;
    if (!e && wm == INT64_MIN) {
        /* no watermark yet: the streak waits under "failing" */
        json_t *n = entry_copy(f);
        if (!n || set_streak(n, s) != 0) {
            json_decref(n);
            return -1;
        }
        return put(failing, u->upn_lower, n);
    }
    json_t *n = entry_copy(e);
    if (!n)
        return -1;
    if (!e) {
        /* a failed mailbox under an old job's file keeps that watermark as its own */
        if (json_object_set_new(n, "watermark", time_json(wm)) != 0 ||
            json_object_set_new(n, "run_id", json_string(run_id)) != 0) {
            json_decref(n);
            return -1;
        }
    }
    if (set_streak(n, s) != 0) {
        json_decref(n);
        return -1;
    }
    if (put(mailboxes, u->upn_lower, n) != 0)
        return -1;
    json_object_del(failing, u->upn_lower);
    if (wm > *latest)
        *latest = wm;
    return 0;
}

json_t *checkpoint_merge(const checkpoint *cp, const checkpoint_update *up, size_t n,
                         const char *run_id, int64_t run_start_us, int64_t now_us)
{
    json_t *doc = json_object();
    json_t *mailboxes = json_object();
    json_t *failing = json_object();
    if (!doc || !mailboxes || !failing)
        goto fail;
    json_t *old = cp->doc ? json_object_get(cp->doc, "mailboxes") : NULL;
    json_t *old_failing = cp->doc ? json_object_get(cp->doc, "failing") : NULL;
    int64_t latest = INT64_MIN;
    const char *key;
    json_t *v;
    if (json_is_object(old)) {
        json_object_foreach(old, key, v)
        {
            if (json_object_set(mailboxes, key, v) != 0)
                goto fail;
            int64_t t;
            if (read_time(json_object_get(v, "watermark"), &t) && t > latest)
                latest = t;
        }
    }
    if (json_is_object(old_failing)) {
        json_object_foreach(old_failing, key, v)
        {
            if (json_object_set(failing, key, v) != 0)
                goto fail;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (merge_one(cp, mailboxes, failing, &up[i], run_id, run_start_us, &latest) != 0)
            goto fail;
    if (latest == INT64_MIN)
        latest = cp->legacy_watermark;
    /* unknown top-level fields are kept; the known ones are written below */
    if (cp->doc) {
        json_object_foreach(cp->doc, key, v)
        {
            if (json_object_set(doc, key, v) != 0)
                goto fail;
        }
    }
    if (put(doc, "version", json_integer(1)) != 0 ||
        put(doc, "last_meeting_start", latest == INT64_MIN ? json_null() : time_json(latest)) !=
            0 ||
        put(doc, "updated_utc", time_json(now_us)) != 0 ||
        put(doc, "run_id", json_string(run_id)) != 0 ||
        json_object_set(doc, "mailboxes", mailboxes) != 0)
        goto fail;
    if (json_object_size(failing) > 0) {
        if (json_object_set(doc, "failing", failing) != 0)
            goto fail;
    } else {
        json_object_del(doc, "failing");
    }
    json_decref(mailboxes);
    json_decref(failing);
    return doc;
fail:
    json_decref(doc);
    json_decref(mailboxes);
    json_decref(failing);
    return NULL;
}

status checkpoint_save(store *s, const char *name, checkpoint *cp, const checkpoint_update *up,
                       size_t n, const char *run_id, int64_t run_start_us, int64_t now_us,
                       errinfo *err)
{
    for (int attempt = 1; attempt <= SAVE_ATTEMPTS; attempt++) {
        json_t *doc = checkpoint_merge(cp, up, n, run_id, run_start_us, now_us);
        if (!doc)
            return err_set(err, ST_NOMEM, "out of memory writing the checkpoint");
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(doc);
        if (!text)
            return err_set(err, ST_NOMEM, "out of memory writing the checkpoint");
        errinfo e = {0};
        int fresh = cp->etag[0] == '\0';
        status st = store_put(s, name, text, strlen(text), "application/json",
                              fresh ? STORE_COND_IF_NONE_MATCH : STORE_COND_IF_MATCH,
                              fresh ? NULL : cp->etag, NULL, &e);
        free(text);
        if (st == ST_OK)
            return ST_OK;
        if (st != ST_PRECONDITION && st != ST_CONFLICT) {
            *err = e;
            err_prefix(err, "writing the checkpoint %s", name);
            return st;
        }
        log_info("checkpoint changed meanwhile; merging and retrying",
                 json_pack("{s:s,s:i}", "blob", name, "attempt", attempt));
        checkpoint again = {0};
        st = checkpoint_load(s, name, &again, err);
        if (st != ST_OK)
            return st;
        checkpoint_free(cp);
        *cp = again;
    }
    return err_set(err, ST_PRECONDITION,
                   "the checkpoint %s kept changing under %d attempts to write it", name,
                   SAVE_ATTEMPTS);
}

/* Checkpoint: see checkpoint.h. */
#include "job/checkpoint.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util/timeutil.h"

#define CHECKPOINT_MAX (64u << 20)
#define SAVE_ATTEMPTS 20

void checkpoint_dispose(checkpoint *cp)
{
    if (!cp)
        return;
    json_decref(cp->doc);
    cp->doc = NULL;
    json_decref(cp->legacy_set);
    cp->legacy_set = NULL;
    cp->etag[0] = '\0';
    cp->legacy_watermark = INT64_MIN;
}

static void lower(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

static int read_time(json_t *v, int64_t *out)
{
    const char *s = json_string_value(v);
    return s && timeutil_parse(s, out) == 0;
}

/* The old job's mailboxes that have no entry of their own yet, as the new file
 * records them (legacy_mailboxes), lower-cased; NULL when there are none. */
static json_t *read_legacy_set(json_t *doc)
{
    json_t *arr = json_object_get(doc, "legacy_mailboxes");
    if (!json_is_array(arr))
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *u = json_string_value(v);
        if (!u || !*u || strlen(u) >= 512)
            continue;
        char key[512];
        lower(key, u, sizeof key);
        json_array_append_new(out, json_string(key));
    }
    return out;
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
        /* one bad entry must not stop every mailbox: it is ignored (and kept as it is) */
        json_object_foreach(mb, key, v)
        {
            int64_t t;
            if (!json_is_object(v) || !read_time(json_object_get(v, "watermark"), &t))
                log_warn("a checkpoint entry cannot be read (its watermark is missing or not a "
                         "time); ignored and kept as it is",
                         json_pack("{s:s}", "mailbox", key));
        }
    }
    int64_t legacy = INT64_MIN;
    json_t *legacy_set = NULL;
    if (!json_is_object(mb)) {
        /* the old job's file: its single value is the watermark of its mailboxes */
        json_t *lms = json_object_get(doc, "last_meeting_start");
        if (lms && !json_is_null(lms) && !read_time(lms, &legacy)) {
            json_decref(doc);
            return err_set(err, ST_JSON, "the checkpoint's last_meeting_start is not a time");
        }
    } else {
        json_t *lms = json_object_get(doc, "legacy_last_meeting_start");
        if (lms && !json_is_null(lms) && !read_time(lms, &legacy)) {
            log_warn("the checkpoint's legacy_last_meeting_start is not a time; ignored", NULL);
            legacy = INT64_MIN;
        }
        if (legacy != INT64_MIN)
            legacy_set = read_legacy_set(doc);
        if (!legacy_set)
            legacy = INT64_MIN;
    }
    checkpoint_dispose(cp);
    cp->doc = doc;
    cp->legacy_watermark = legacy;
    cp->legacy_set = legacy_set;
    return ST_OK;
}

void checkpoint_set_legacy_mailboxes(checkpoint *cp, char *const *upns, size_t n)
{
    if (cp->legacy_watermark == INT64_MIN || cp->legacy_set)
        return;
    cp->legacy_set = json_array();
    for (size_t i = 0; i < n; i++) {
        char key[512];
        lower(key, upns[i], sizeof key);
        json_array_append_new(cp->legacy_set, json_string(key));
    }
}

/* 1 when upn (lower-cased) is one of the old job's mailboxes still on its value. */
static int in_legacy_set(const checkpoint *cp, const char *key)
{
    size_t i;
    json_t *v;
    json_array_foreach(cp->legacy_set, i, v)
    {
        if (strcmp(json_string_value(v), key) == 0)
            return 1;
    }
    return 0;
}

int checkpoint_legacy_applies(const checkpoint *cp, const char *upn)
{
    char key[512];
    lower(key, upn, sizeof key);
    return cp->legacy_watermark != INT64_MIN && in_legacy_set(cp, key);
}

status checkpoint_load(store *s, const char *name, checkpoint *cp, errinfo *err)
{
    buf b;
    buf_init(&b, CHECKPOINT_MAX);
    cp->doc = NULL;
    cp->legacy_set = NULL;
    cp->etag[0] = '\0';
    cp->legacy_watermark = INT64_MIN;
    status st = store_get(s, name, &b, cp->etag, err);
    if (st == ST_NOT_FOUND) {
        err_clear(err);
        cp->etag[0] = '\0';
        buf_dispose(&b);
        return ST_OK;
    }
    if (st == ST_OK) {
        char etag[STORE_ETAG_MAX];
        memcpy(etag, cp->etag, sizeof etag);
        st = checkpoint_parse(b.data ? b.data : "", b.len, cp, err);
        memcpy(cp->etag, etag, sizeof etag);
        if (st != ST_OK)
            err_prefix(err, "reading %s", name);
    }
    buf_dispose(&b);
    return st;
}

/* The entry of a mailbox under an object of entries: its lower-cased key, else a
 * key that differs only in case (written by hand, or by an older version). */
static json_t *entry_in(json_t *entries, const char *key)
{
    if (!json_is_object(entries))
        return NULL;
    json_t *e = json_object_get(entries, key);
    if (e)
        return e;
    const char *k;
    json_t *v;
    json_object_foreach(entries, k, v)
    {
        if (strcasecmp(k, key) == 0)
            return v;
    }
    return NULL;
}

int64_t checkpoint_watermark(const checkpoint *cp, const char *upn)
{
    char key[512];
    lower(key, upn, sizeof key);
    json_t *e = entry_in(cp->doc ? json_object_get(cp->doc, "mailboxes") : NULL, key);
    int64_t t;
    if (e && read_time(json_object_get(e, "watermark"), &t))
        return t;
    return checkpoint_legacy_applies(cp, key) ? cp->legacy_watermark : INT64_MIN;
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
    *entry = entry_in(mb, key);
    *failing = entry_in(fl, key);
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
    else if (checkpoint_legacy_applies(cp, u->upn_lower))
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
    /* (an entry without a readable watermark was no success: it is no reason) */
    if (e && have != INT64_MIN && prev.runs == 0 &&
        started_later(json_string_value(json_object_get(e, "run_id")), run_id))
        return 0;
    checkpoint_streak s = streak_next(prev, run_start_us);
    int64_t wm = u->watermark > have ? u->watermark : have;
    if (!e) {
        /* no entry yet (its watermark, if any, is still the old job's value, kept by
         * legacy_last_meeting_start): the streak waits under "failing" */
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

/* Copies the entries of src into dst under lower-cased keys (written so from now
 * on); two keys that differ only in case keep the entry with the later watermark.
 * latest (may be NULL) gets the latest readable watermark. 0 on success. */
static int copy_lowered(json_t *dst, json_t *src, int64_t *latest)
{
    if (!json_is_object(src))
        return 0;
    const char *key;
    json_t *v;
    json_object_foreach(src, key, v)
    {
        char k[512];
        if (strlen(key) >= sizeof k)
            continue;
        lower(k, key, sizeof k);
        int64_t t = INT64_MIN, have = INT64_MIN;
        read_time(json_object_get(v, "watermark"), &t);
        json_t *cur = json_object_get(dst, k);
        if (cur && read_time(json_object_get(cur, "watermark"), &have) && have >= t)
            continue;
        if (json_object_set(dst, k, v) != 0)
            return -1;
        if (latest && t > *latest)
            *latest = t;
    }
    return 0;
}

/* The old job's value stays in the file, with the mailboxes it still holds for,
 * until each of them has an entry of its own (so one skipped by the first new run
 * still starts from it later); 0 on success. */
static int put_legacy(json_t *doc, const checkpoint *cp, json_t *mailboxes, int64_t *latest)
{
    json_t *left = json_array();
    if (!left)
        return -1;
    size_t i;
    json_t *v;
    if (cp->legacy_watermark != INT64_MIN) {
        json_array_foreach(cp->legacy_set, i, v)
        {
            if (!json_object_get(mailboxes, json_string_value(v)))
                json_array_append(left, v);
        }
    }
    if (json_array_size(left) == 0) {
        json_decref(left);
        json_object_del(doc, "legacy_last_meeting_start");
        json_object_del(doc, "legacy_mailboxes");
        return 0;
    }
    if (cp->legacy_watermark > *latest)
        *latest = cp->legacy_watermark;
    if (put(doc, "legacy_last_meeting_start", time_json(cp->legacy_watermark)) != 0)
        return json_decref(left), -1;
    return put(doc, "legacy_mailboxes", left);
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
    if (copy_lowered(mailboxes, old, &latest) != 0 || copy_lowered(failing, old_failing, NULL) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (merge_one(cp, mailboxes, failing, &up[i], run_id, run_start_us, &latest) != 0)
            goto fail;
    /* unknown top-level fields are kept; the known ones are written below */
    if (cp->doc) {
        json_object_foreach(cp->doc, key, v)
        {
            if (json_object_set(doc, key, v) != 0)
                goto fail;
        }
    }
    if (put_legacy(doc, cp, mailboxes, &latest) != 0)
        goto fail;
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
        checkpoint_dispose(cp);
        *cp = again;
    }
    return err_set(err, ST_PRECONDITION,
                   "the checkpoint %s kept changing under %d attempts to write it", name,
                   SAVE_ATTEMPTS);
}

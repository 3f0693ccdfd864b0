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

json_t *checkpoint_merge(const checkpoint *cp, const checkpoint_update *up, size_t n,
                         const char *run_id, int64_t now_us)
{
    json_t *mailboxes = json_object();
    json_t *old = cp->doc ? json_object_get(cp->doc, "mailboxes") : NULL;
    int64_t latest = INT64_MIN;
    const char *key;
    json_t *v;
    if (json_is_object(old)) {
        json_object_foreach(old, key, v)
        {
            json_object_set(mailboxes, key, v);
            int64_t t;
            if (read_time(json_object_get(v, "watermark"), &t) && t > latest)
                latest = t;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int64_t have = INT64_MIN;
        json_t *e = json_object_get(mailboxes, up[i].upn_lower);
        if (e)
            read_time(json_object_get(e, "watermark"), &have);
        else if (cp->legacy_watermark != INT64_MIN)
            have = cp->legacy_watermark;
        /* another run got further: its entry stands */
        if (e && (have > up[i].watermark || !up[i].done))
            continue;
        int64_t wm = up[i].watermark > have ? up[i].watermark : have;
        json_object_set_new(mailboxes, up[i].upn_lower,
                            json_pack("{s:o,s:s}", "watermark", time_json(wm), "run_id", run_id));
        if (wm > latest)
            latest = wm;
    }
    if (latest == INT64_MIN)
        latest = cp->legacy_watermark;
    json_t *doc = json_object();
    json_object_set_new(doc, "version", json_integer(1));
    json_object_set_new(doc, "last_meeting_start",
                        latest == INT64_MIN ? json_null() : time_json(latest));
    json_object_set_new(doc, "updated_utc", time_json(now_us));
    json_object_set_new(doc, "run_id", json_string(run_id));
    json_object_set_new(doc, "mailboxes", mailboxes);
    return doc;
}

status checkpoint_save(store *s, const char *name, checkpoint *cp, const checkpoint_update *up,
                       size_t n, const char *run_id, int64_t now_us, errinfo *err)
{
    for (int attempt = 1; attempt <= SAVE_ATTEMPTS; attempt++) {
        json_t *doc = checkpoint_merge(cp, up, n, run_id, now_us);
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

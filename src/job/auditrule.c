/* The rules of `audit`: see auditrule.h. */
#include "job/auditrule.h"

#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

/* A channel meeting's own session may start up to this long before an occurrence
 * (docs/behaviour.md: the same window that ties a report to an event). */
#define EARLY_START_US (INT64_C(60) * 60 * 1000000)

static int64_t read_time(const json_t *v)
{
    int64_t t;
    const char *s = json_string_value(v);
    if (!s || timeutil_parse(s, &t) != 0)
        return AUDITRULE_NO_TIME;
    return t;
}

static char *dup_string(const json_t *v)
{
    const char *s = json_string_value(v);
    /* an id holding NUL would name another object once cut short: not an id */
    if (!s || !*s || strlen(s) != json_string_length(v))
        return NULL;
    return strdup(s);
}

static status read_meeting(const json_t *m, size_t i, auditrule_tracked *out, errinfo *err)
{
    if (!json_is_object(m))
        return err_set(err, ST_DATA, "meetings[%zu] is not an object", i);
    out->id = dup_string(json_object_get(m, "id"));
    if (!out->id)
        return json_is_string(json_object_get(m, "id"))
                   ? err_set(err, ST_DATA, "meetings[%zu].id is empty or holds NUL", i)
                   : err_set(err, ST_DATA, "meetings[%zu].id is not a string", i);
    const json_t *url = json_object_get(m, "join_url");
    if (url && !json_is_null(url) && !json_is_string(url))
        return err_set(err, ST_DATA, "meetings[%zu].join_url is not a string", i);
    if (json_is_string(url) && json_string_length(url) > 0) {
        out->join_url = dup_string(url);
        if (!out->join_url)
            return err_set(err, ST_DATA, "meetings[%zu].join_url holds NUL", i);
    }
    const json_t *occ = json_object_get(m, "occurrences");
    if (occ && !json_is_array(occ))
        return err_set(err, ST_DATA, "meetings[%zu].occurrences is not an array", i);
    size_t n = json_array_size(occ);
    out->occ = calloc(n ? n : 1, sizeof *out->occ);
    if (!out->occ)
        return err_set(err, ST_NOMEM, "out of memory");
    for (size_t k = 0; k < n; k++) {
        const json_t *o = json_array_get(occ, k);
        int64_t s = read_time(json_object_get(o, "start"));
        int64_t e = read_time(json_object_get(o, "end"));
        if (s == AUDITRULE_NO_TIME || e == AUDITRULE_NO_TIME)
            continue;
        out->occ[out->nocc].start_us = s;
        out->occ[out->nocc].end_us = e;
        out->nocc++;
    }
    return ST_OK;
}

status auditrule_registry_parse(const json_t *doc, auditrule_registry *out, errinfo *err)
{
    memset(out, 0, sizeof *out);
    out->first_window_start = AUDITRULE_NO_TIME;
    if (!json_is_object(doc))
        return err_set(err, ST_DATA, "not a JSON object");
    const json_t *ver = json_object_get(doc, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1)
        return err_set(err, ST_DATA,
                       "\"version\" is not 1 (a file of another version of the job, which this "
                       "one cannot read)");
    const json_t *fws = json_object_get(doc, "first_window_start");
    if (fws && !json_is_null(fws)) {
        out->first_window_start = read_time(fws);
        if (out->first_window_start == AUDITRULE_NO_TIME)
            return err_set(err, ST_DATA, "\"first_window_start\" is not a time");
    }
    const json_t *meetings = json_object_get(doc, "meetings");
    if (meetings && !json_is_array(meetings))
        return err_set(err, ST_DATA, "\"meetings\" is not an array");
    const json_t *landed = json_object_get(doc, "landed");
    if (landed && !json_is_object(landed))
        return err_set(err, ST_DATA, "\"landed\" is not an object");

    size_t n = json_array_size(meetings);
    out->meetings = calloc(n ? n : 1, sizeof *out->meetings);
    out->landed = json_object();
    if (!out->meetings || !out->landed) {
        auditrule_registry_dispose(out);
        return err_set(err, ST_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        status st = read_meeting(json_array_get(meetings, i), i, &out->meetings[i], err);
        out->nmeetings = i + 1; /* what read_meeting allocated is freed with the rest */
        if (st != ST_OK) {
            auditrule_registry_dispose(out);
            return st;
        }
    }
    const char *mid;
    const json_t *ids;
    json_object_foreach((json_t *)landed, mid, ids)
    {
        if (!json_is_array(ids)) {
            auditrule_registry_dispose(out);
            return err_set(err, ST_DATA, "landed[\"%.80s\"] is not an array", mid);
        }
        size_t k;
        const json_t *id;
        json_array_foreach(ids, k, id)
        {
            /* report ids are unique across meetings: one set serves them all (a channel
               meeting lists another meeting's reports under its own id) */
            const char *s = json_string_value(id);
            if (!s) {
                auditrule_registry_dispose(out);
                return err_set(err, ST_DATA, "landed[\"%.80s\"][%zu] is not a string", mid, k);
            }
            if (json_object_set_new(out->landed, s, json_true()) != 0) {
                auditrule_registry_dispose(out);
                return err_set(err, ST_NOMEM, "out of memory");
            }
        }
    }
    return ST_OK;
}

void auditrule_registry_dispose(auditrule_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nmeetings; i++) {
        free(r->meetings[i].id);
        free(r->meetings[i].join_url);
        free(r->meetings[i].occ);
    }
    free(r->meetings);
    json_decref(r->landed);
    memset(r, 0, sizeof *r);
    r->first_window_start = AUDITRULE_NO_TIME;
}

int auditrule_is_landed(const auditrule_registry *r, const char *report_id)
{
    return r && r->landed && report_id && json_object_get(r->landed, report_id) != NULL;
}

auditrule_verdict auditrule_classify(int64_t start_us, int64_t end_us, int landed,
                                     const auditrule_bounds *b, int channel,
                                     const auditrule_span *occ, size_t nocc)
{
    if (channel) {
        int own = 0;
        for (size_t i = 0; start_us != AUDITRULE_NO_TIME && i < nocc && !own; i++)
            own = start_us >= occ[i].start_us - EARLY_START_US && start_us <= occ[i].end_us;
        if (!own)
            return AUDITRULE_OTHER_MEETING;
    }
    /* a report without a start (Graph leaves it null for some one-off meetings) is
       landed once by the run whatever its time: it counts wherever it is */
    if (start_us != AUDITRULE_NO_TIME) {
        if (start_us < b->period_start || start_us >= b->period_end)
            return AUDITRULE_OUTSIDE;
        if (b->first_window_start != AUDITRULE_NO_TIME && start_us < b->first_window_start)
            return AUDITRULE_OUTSIDE;
    }
    if (landed)
        return AUDITRULE_LANDED;
    /* the contract calls a report due once its session ended; a session whose end
       cannot be read is not known to have ended */
    if (end_us == AUDITRULE_NO_TIME || b->watermark == AUDITRULE_NO_TIME)
        return AUDITRULE_NOT_DUE;
    int64_t settle = (int64_t)b->settle_minutes * 60 * 1000000;
    return end_us <= b->watermark - settle ? AUDITRULE_MISSING : AUDITRULE_NOT_DUE;
}

const char *auditrule_verdict_name(auditrule_verdict v)
{
    switch (v) {
    case AUDITRULE_OUTSIDE:
        return "outside";
    case AUDITRULE_OTHER_MEETING:
        return "other_meeting";
    case AUDITRULE_LANDED:
        return "landed";
    case AUDITRULE_NOT_DUE:
        return "not_due";
    case AUDITRULE_MISSING:
        return "missing";
    }
    return "unknown";
}

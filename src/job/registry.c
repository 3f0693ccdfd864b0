/* Tracked meetings: see registry.h. */
#include "job/registry.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util/timeutil.h"

#define SAVE_ATTEMPTS 10
#define US_PER_DAY (INT64_C(86400) * 1000000)

static int64_t read_time(const json_t *v)
{
    int64_t t;
    const char *s = json_string_value(v);
    return s && timeutil_parse(s, &t) == 0 ? t : REGISTRY_NO_TIME;
}

static json_t *time_json(int64_t us)
{
    if (us == REGISTRY_NO_TIME)
        return json_null();
    char s[TIMEUTIL_FMT_MAX];
    timeutil_format(us, s);
    return json_string(s);
}

static int nonempty(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0 &&
           strlen(json_string_value(v)) == json_string_length(v);
}

/* A clean copy of what was read: only well-formed meetings, occurrences and ids. */
static json_t *clean(const json_t *in, int *dropped)
{
    json_t *doc = json_pack("{s:i,s:o,s:[],s:{}}", "version", 1, "first_window_start",
                            time_json(read_time(json_object_get(in, "first_window_start"))),
                            "meetings", "landed");
    if (!doc)
        return NULL;
    json_t *meetings = json_object_get(doc, "meetings"), *landed = json_object_get(doc, "landed");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(in, "meetings"), i, m)
    {
        json_t *id = json_object_get(m, "id"), *url = json_object_get(m, "join_url");
        if (!nonempty(id)) {
            (*dropped)++;
            continue;
        }
        json_t *occ = json_array();
        size_t k;
        json_t *o;
        json_array_foreach(json_object_get(m, "occurrences"), k, o)
        {
            json_t *ev = json_object_get(o, "event_id");
            if (!json_is_object(o) || !nonempty(ev)) {
                (*dropped)++;
                continue;
            }
            json_array_append_new(occ, json_pack("{s:O,s:o,s:o}", "event_id", ev, "start",
                                                 time_json(read_time(json_object_get(o, "start"))),
                                                 "end",
                                                 time_json(read_time(json_object_get(o, "end")))));
        }
        json_array_append_new(meetings,
                              json_pack("{s:O,s:o,s:o}", "id", id, "join_url",
                                        json_is_string(url) ? json_copy(url) : json_null(),
                                        "occurrences", occ));
    }
    const char *key;
    json_t *ids;
    json_object_foreach(json_object_get(in, "landed"), key, ids)
    {
        json_t *list = json_array();
        json_array_foreach(ids, i, m)
        {
            if (nonempty(m))
                json_array_append(list, m);
            else
                (*dropped)++;
        }
        json_object_set_new(landed, key, list);
    }
    return doc;
}

void registry_parse(const char *text, size_t len, registry *reg)
{
    registry_dispose(reg);
    json_t *in = json_loadb(text, len, 0, NULL);
    int dropped = 0;
    if (in && !json_is_object(in)) {
        json_decref(in);
        in = NULL;
    }
    if (!in && len > 0)
        log_warn("a tracked-meetings file is not a JSON object; taken as empty (its reports "
                 "land again)",
                 NULL);
    if (!in)
        in = json_object();
    reg->doc = in ? clean(in, &dropped) : NULL;
    json_decref(in);
    if (dropped)
        log_warn("items of a tracked-meetings file could not be read; left out",
                 json_pack("{s:i}", "count", dropped));
    reg->first_window_start = read_time(json_object_get(reg->doc, "first_window_start"));
}

status registry_take(registry *reg, const char *name, status st, const errinfo *read_err,
                     const buf *body, const char *etag, errinfo *err)
{
    memset(reg, 0, sizeof *reg);
    if (st != ST_OK && st != ST_NOT_FOUND) {
        *err = *read_err;
        return st;
    }
    int found = st == ST_OK && body;
    registry_parse(found && body->data ? body->data : "", found ? body->len : 0, reg);
    snprintf(reg->etag, sizeof reg->etag, "%s", found && etag ? etag : "");
    if (!reg->doc)
        return err_set(err, ST_NOMEM, "out of memory reading %s", name);
    return ST_OK;
}

status registry_load(store *s, const char *name, registry *reg, errinfo *err)
{
    buf b;
    buf_init(&b, REGISTRY_MAX);
    char etag[STORE_ETAG_MAX] = "";
    errinfo e = {0};
    status st = store_get(s, name, &b, etag, &e);
    st = registry_take(reg, name, st, &e, &b, etag, err);
    buf_dispose(&b);
    return st;
}

void registry_dispose(registry *reg)
{
    json_decref(reg->doc);
    reg->doc = NULL;
    reg->etag[0] = '\0';
    reg->first_window_start = REGISTRY_NO_TIME;
}

static int in_list(const json_t *list, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

int registry_landed(const registry *reg, const char *meeting_id, const char *report_id)
{
    json_t *list = json_object_get(json_object_get(reg->doc, "landed"), meeting_id);
    return list && in_list(list, report_id);
}

size_t registry_nmeetings(const registry *reg)
{
    return json_array_size(json_object_get(reg->doc, "meetings"));
}

const char *registry_meeting_id(const registry *reg, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(reg->doc, "meetings"), i), "id"));
}

const char *registry_meeting_join_url(const registry *reg, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(reg->doc, "meetings"), i), "join_url"));
}

static json_t *find_meeting(json_t *meetings, const char *id)
{
    size_t i;
    json_t *m;
    json_array_foreach(meetings, i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0)
            return m;
    }
    return NULL;
}

registry_occurrence *registry_occurrences(const registry *reg, const char *meeting_id, size_t *n)
{
    *n = 0;
    json_t *m = find_meeting(json_object_get(reg->doc, "meetings"), meeting_id);
    json_t *occ = json_object_get(m, "occurrences");
    size_t k = json_array_size(occ);
    if (!k)
        return NULL;
    registry_occurrence *out = calloc(k, sizeof *out);
    if (!out)
        return NULL;
    size_t i;
    json_t *o;
    json_array_foreach(occ, i, o)
    {
        out[i].event_id = json_string_value(json_object_get(o, "event_id"));
        out[i].start_us = read_time(json_object_get(o, "start"));
        out[i].end_us = read_time(json_object_get(o, "end"));
    }
    *n = k;
    return out;
}

/* Puts an occurrence in a meeting's list, replacing the one with the same event id. */
static void put_occurrence(json_t *occ, const char *event_id, json_t *start, json_t *end)
{
    size_t i;
    json_t *o;
    json_array_foreach(occ, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "event_id")), event_id) == 0) {
            json_object_set_new(o, "start", start);
            json_object_set_new(o, "end", end);
            return;
        }
    }
    json_array_append_new(
        occ, json_pack("{s:s,s:o,s:o}", "event_id", event_id, "start", start, "end", end));
}

/* The meeting with that id in meetings, created when missing. */
static json_t *meeting_in(json_t *meetings, const char *id, const char *join_url)
{
    json_t *m = find_meeting(meetings, id);
    if (!m) {
        m = json_pack("{s:s,s:o,s:[]}", "id", id, "join_url",
                      join_url ? json_string(join_url) : json_null(), "occurrences");
        json_array_append_new(meetings, m);
    } else if (join_url && !json_is_string(json_object_get(m, "join_url"))) {
        json_object_set_new(m, "join_url", json_string(join_url));
    }
    return m;
}

static void add_ids(json_t *landed, const char *meeting_id, const json_t *ids)
{
    json_t *list = json_object_get(landed, meeting_id);
    if (!list) {
        list = json_array();
        json_object_set_new(landed, meeting_id, list);
    }
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (!in_list(list, json_string_value(v)))
            json_array_append(list, v);
    }
}

/* Drops old occurrences, meetings without any, and the landed ids of meetings gone. */
static void prune(json_t *doc, int64_t now_us, int track_days)
{
    int64_t cutoff = now_us - (int64_t)track_days * US_PER_DAY;
    json_t *meetings = json_object_get(doc, "meetings"), *landed = json_object_get(doc, "landed");
    for (size_t i = json_array_size(meetings); i-- > 0;) {
        json_t *m = json_array_get(meetings, i);
        json_t *occ = json_object_get(m, "occurrences");
        for (size_t k = json_array_size(occ); k-- > 0;) {
            json_t *o = json_array_get(occ, k);
            int64_t end = read_time(json_object_get(o, "end"));
            if (end == REGISTRY_NO_TIME)
                end = read_time(json_object_get(o, "start"));
            if (end == REGISTRY_NO_TIME || end < cutoff)
                json_array_remove(occ, k);
        }
        if (json_array_size(occ) == 0) {
            json_object_del(landed, json_string_value(json_object_get(m, "id")));
            json_array_remove(meetings, i);
        }
    }
    /* landed ids of meetings no longer tracked go with them */
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(landed, tmp, key, v)
    {
        if (!find_meeting(meetings, key))
            json_object_del(landed, key);
    }
}

json_t *registry_update(const registry *reg, const registry_meeting_update *up, size_t n,
                        int64_t first_window, int64_t now_us, int track_days)
{
    json_t *doc = json_deep_copy(reg->doc);
    if (!doc)
        return NULL;
    if (reg->first_window_start == REGISTRY_NO_TIME)
        json_object_set_new(doc, "first_window_start", time_json(first_window));
    json_t *meetings = json_object_get(doc, "meetings"), *landed = json_object_get(doc, "landed");
    for (size_t i = 0; i < n; i++) {
        const registry_meeting_update *u = &up[i];
        json_t *m = meeting_in(meetings, u->id, u->join_url);
        if (!m)
            goto fail;
        json_t *occ = json_object_get(m, "occurrences");
        for (size_t k = 0; k < u->nocc; k++)
            put_occurrence(occ, u->occ[k].event_id, time_json(u->occ[k].start_us),
                           time_json(u->occ[k].end_us));
        json_t *ids = json_array();
        for (size_t k = 0; k < u->nlanded; k++)
            json_array_append_new(ids, json_string(u->landed[k]));
        add_ids(landed, u->id, ids);
        json_decref(ids);
        if (u->listed) {
            /* landed ids that Graph no longer lists are dropped */
            json_t *list = json_object_get(landed, u->id);
            for (size_t k = json_array_size(list); k-- > 0;) {
                const char *id = json_string_value(json_array_get(list, k));
                int still = 0;
                for (size_t r = 0; r < u->nreports && !still; r++)
                    still = strcmp(u->reports[r], id) == 0;
                if (!still)
                    json_array_remove(list, k);
            }
        }
    }
    prune(doc, now_us, track_days);
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

/* The union of two clean documents: mine wins where both hold an occurrence. */
static json_t *merge(const json_t *theirs, const json_t *mine)
{
    json_t *doc = json_deep_copy(theirs);
    if (!doc)
        return NULL;
    json_t *meetings = json_object_get(doc, "meetings"), *landed = json_object_get(doc, "landed");
    if (!json_is_string(json_object_get(doc, "first_window_start")))
        json_object_set(doc, "first_window_start", json_object_get(mine, "first_window_start"));
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(mine, "meetings"), i, m)
    {
        json_t *t = meeting_in(meetings, json_string_value(json_object_get(m, "id")),
                               json_string_value(json_object_get(m, "join_url")));
        size_t k;
        json_t *o;
        json_array_foreach(json_object_get(m, "occurrences"), k, o)
        {
            put_occurrence(json_object_get(t, "occurrences"),
                           json_string_value(json_object_get(o, "event_id")),
                           json_incref(json_object_get(o, "start")),
                           json_incref(json_object_get(o, "end")));
        }
    }
    const char *key;
    json_t *ids;
    json_object_foreach(json_object_get(mine, "landed"), key, ids)
    {
        add_ids(landed, key, ids);
    }
    return doc;
}

status registry_save(store *s, const char *name, registry *reg, json_t *doc, errinfo *err)
{
    json_incref(doc);
    for (int attempt = 1; attempt <= SAVE_ATTEMPTS; attempt++) {
        char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text) {
            json_decref(doc);
            return err_set(err, ST_NOMEM, "out of memory writing %s", name);
        }
        errinfo e = {0};
        int fresh = reg->etag[0] == '\0';
        char etag[STORE_ETAG_MAX];
        status st = store_put(s, name, text, strlen(text), "application/json",
                              fresh ? STORE_COND_IF_NONE_MATCH : STORE_COND_IF_MATCH,
                              fresh ? NULL : reg->etag, etag, &e);
        free(text);
        if (st == ST_OK) {
            memcpy(reg->etag, etag, sizeof etag);
            json_decref(doc);
            return ST_OK;
        }
        if (st != ST_PRECONDITION && st != ST_CONFLICT) {
            json_decref(doc);
            *err = e;
            return st;
        }
        /* another run wrote it meanwhile: keep both */
        registry again;
        if ((st = registry_load(s, name, &again, err)) != ST_OK) {
            json_decref(doc);
            return st;
        }
        json_t *merged = merge(again.doc, doc);
        json_decref(doc);
        registry_dispose(reg);
        *reg = again;
        if (!merged)
            return err_set(err, ST_NOMEM, "out of memory writing %s", name);
        doc = merged;
    }
    json_decref(doc);
    return err_set(err, ST_PRECONDITION, "%s kept changing under %d attempts to write it", name,
                   SAVE_ATTEMPTS);
}

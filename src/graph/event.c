/* Reading calendarView events: see event.h. */
#include "graph/event.h"

#include <string.h>

#include "util/joinurl.h"

static const char *teams_join_url(json_t *e)
{
    if (!json_is_true(json_object_get(e, "isOnlineMeeting")))
        return NULL;
    const char *prov = json_string_value(json_object_get(e, "onlineMeetingProvider"));
    if (!prov || strcmp(prov, "teamsForBusiness") != 0)
        return NULL;
    const char *url =
        json_string_value(json_object_get(json_object_get(e, "onlineMeeting"), "joinUrl"));
    return url && *url ? url : NULL;
}

/* The string values at a joinurl_fields path ("a", "a.b", "a[].b") of an event,
 * handed to `fn` in order until it returns nonzero. */
static int each_field_string(json_t *e, const char *path, int (*fn)(void *, const char *),
                             void *ctx)
{
    char first[64];
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    int array = n > 2 && path[n - 2] == '[' && path[n - 1] == ']';
    size_t fn_len = array ? n - 2 : n;
    if (fn_len >= sizeof first)
        return 0;
    memcpy(first, path, fn_len);
    first[fn_len] = '\0';
    json_t *v = json_object_get(e, first);
    if (!array) {
        if (dot)
            v = json_object_get(v, dot + 1);
        return json_is_string(v) ? fn(ctx, json_string_value(v)) : 0;
    }
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it)
    {
        json_t *s = dot ? json_object_get(it, dot + 1) : it;
        if (json_is_string(s) && fn(ctx, json_string_value(s)))
            return 1;
    }
    return 0;
}

static int scan_into(void *ctx, const char *text)
{
    return joinurl_scan(text, strlen(text), ctx) == 1;
}

const char *event_organized_join_url(json_t *e, buf *scratch, const char **source)
{
    *source = NULL;
    if (!json_is_true(json_object_get(e, "isOrganizer")))
        return NULL;
    const char *url = teams_join_url(e);
    if (url)
        return url;
    const char *primary =
        json_string_value(json_object_get(json_object_get(e, "onlineMeeting"), "joinUrl"));
    if (primary && *primary)
        return NULL; /* a join URL of another provider: not Teams */
    for (size_t f = 0; f < joinurl_nfields; f++) {
        if (each_field_string(e, joinurl_fields[f], scan_into, scratch)) {
            *source = joinurl_fields[f];
            return scratch->data;
        }
    }
    return NULL;
}

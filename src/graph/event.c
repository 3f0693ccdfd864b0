/* Reading calendarView events: see event.h.
 *
 * The rule is written once, over a small view of the event that reads either form:
 * a jansson tree (audit keeps its events as trees) or tokens (the run tokenizes its
 * calendar pages: jansson's trees cost most of the CPU when a thousand mailboxes'
 * calendars arrive at once). */
#include "graph/event.h"

#include <string.h>

#include "util/joinurl.h"

/* A value of the event: a json_t pointer, or a token index + 1; 0 when missing. */
typedef uintptr_t node;

typedef struct view {
    const jsontok_doc *d; /* NULL: nodes are json_t pointers */
} view;

static node member(const view *v, node n, const char *key)
{
    if (!n)
        return 0;
    if (!v->d)
        return (node)json_object_get((json_t *)n, key);
    uint32_t m = jsontok_member(v->d, (uint32_t)(n - 1), key, strlen(key));
    return m == JSONTOK_NONE ? 0 : (node)m + 1;
}

/* A string's bytes, or NULL when n is not a string. */
static const char *str(const view *v, node n)
{
    if (!n)
        return NULL;
    if (!v->d)
        return json_string_value((json_t *)n);
    uint32_t i = (uint32_t)(n - 1);
    return v->d->tok[i].type == JSONTOK_STRING ? jsontok_str(v->d, i) : NULL;
}

static int is_true(const view *v, node n)
{
    if (!n)
        return 0;
    return v->d ? v->d->tok[n - 1].type == JSONTOK_TRUE : json_is_true((json_t *)n);
}

/* Walks an array's items: *at starts at 0; returns 0 after the last item (or when n is
 * not an array). */
static node next_item(const view *v, node n, size_t *at)
{
    if (!n)
        return 0;
    if (!v->d) {
        json_t *a = (json_t *)n;
        return json_is_array(a) && *at < json_array_size(a) ? (node)json_array_get(a, (*at)++) : 0;
    }
    uint32_t arr = (uint32_t)(n - 1);
    const jsontok *t = &v->d->tok[arr];
    if (t->type != JSONTOK_ARRAY)
        return 0;
    /* *at holds the next item's token index + 1 */
    uint32_t j = *at ? (uint32_t)*at - 1 : arr + 1;
    if (j >= t->end)
        return 0;
    *at = (size_t)v->d->tok[j].end + 1;
    return (node)j + 1;
}

static const char *teams_join_url(const view *v, node e)
{
    if (!is_true(v, member(v, e, "isOnlineMeeting")))
        return NULL;
    const char *prov = str(v, member(v, e, "onlineMeetingProvider"));
    if (!prov || strcmp(prov, "teamsForBusiness") != 0)
        return NULL;
    const char *url = str(v, member(v, member(v, e, "onlineMeeting"), "joinUrl"));
    return url && *url ? url : NULL;
}

/* The string values at a joinurl_fields path ("a", "a.b", "a[].b") of an event,
 * handed to `fn` in order until it returns nonzero. */
static int each_field_string(const view *v, node e, const char *path,
                             int (*fn)(void *, const char *), void *ctx)
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
    node f = member(v, e, first);
    if (!array) {
        const char *s = str(v, dot ? member(v, f, dot + 1) : f);
        return s ? fn(ctx, s) : 0;
    }
    size_t at = 0;
    for (node it; (it = next_item(v, f, &at)) != 0;) {
        const char *s = str(v, dot ? member(v, it, dot + 1) : it);
        if (s && fn(ctx, s))
            return 1;
    }
    return 0;
}

static int scan_into(void *ctx, const char *text)
{
    return joinurl_scan(text, strlen(text), ctx) == 1;
}

static const char *organized_join_url(const view *v, node e, buf *scratch, const char **source)
{
    *source = NULL;
    if (!is_true(v, member(v, e, "isOrganizer")))
        return NULL;
    const char *url = teams_join_url(v, e);
    if (url)
        return url;
    const char *primary = str(v, member(v, member(v, e, "onlineMeeting"), "joinUrl"));
    if (primary && *primary)
        return NULL; /* a join URL of another provider: not Teams */
    for (size_t f = 0; f < joinurl_nfields; f++) {
        if (each_field_string(v, e, joinurl_fields[f], scan_into, scratch)) {
            *source = joinurl_fields[f];
            return scratch->data;
        }
    }
    return NULL;
}

const char *event_organized_join_url(json_t *e, buf *scratch, const char **source)
{
    view v = {NULL};
    return organized_join_url(&v, (node)e, scratch, source);
}

const char *event_organized_join_url_tok(const jsontok_doc *d, uint32_t e, buf *scratch,
                                         const char **source)
{
    view v = {d};
    return organized_join_url(&v, (node)e + 1, scratch, source);
}

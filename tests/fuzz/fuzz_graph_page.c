/* Fuzzes the Graph paging path as far as it goes without the network: a page
 * body is parsed as the HTTP engine parses it, its "value" taken as the mailbox
 * takes it, and its @odata.nextLink (or attendanceRecords@odata.nextLink) checked
 * and turned into the next request by graph_request_next. Properties: a link that
 * is accepted is on the Graph host by libcurl's own reading of the URL (scheme,
 * host and port), so the token is never sent elsewhere; a refused link gives a
 * message that names it without its query (where a signature would live).
 *
 * Input: the first byte picks the Graph host and whether the listing is a
 * calendarView, the rest is the page body. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "graph/graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const HOSTS[] = {
    "https://graph.microsoft.com",
    "http://127.0.0.1:8080",
    "https://graph.microsoft.us",
    "http://[::1]:9000",
    "https://microsoftgraph.chinacloudapi.cn",
    "http://localhost:1",
};
#define NHOSTS (sizeof HOSTS / sizeof HOSTS[0])

typedef struct parsed {
    char *scheme, *host, *port, *user;
} parsed;

static void parsed_free(parsed *p)
{
    curl_free(p->scheme);
    curl_free(p->host);
    curl_free(p->port);
    curl_free(p->user);
    memset(p, 0, sizeof *p);
}

/* Reads url the way the engine's libcurl will (same parser, same flags as an
 * easy handle given CURLOPT_URL). Returns 0 when libcurl would refuse it. */
static int curl_parse(const char *url, parsed *out)
{
    memset(out, 0, sizeof *out);
    CURLU *u = curl_url();
    if (!u)
        abort();
    int ok = curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) ==
             CURLUE_OK;
    if (ok) {
        curl_url_get(u, CURLUPART_SCHEME, &out->scheme, 0);
        curl_url_get(u, CURLUPART_HOST, &out->host, 0);
        curl_url_get(u, CURLUPART_PORT, &out->port, CURLU_DEFAULT_PORT);
        curl_url_get(u, CURLUPART_USER, &out->user, 0);
    }
    curl_url_cleanup(u);
    return ok;
}

static int same(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcasecmp(a, b) == 0;
}

static void check_link(graph_client *gc, const char *link, int is_calendar)
{
    errinfo err = {0};
    int on_host = graph_url_on_host(gc->host, link);
    http_request *req = graph_request_next(gc, link, is_calendar, 0, &err);
    if (!req) {
        if (err.msg[0] == '\0')
            abort(); /* a refusal always says why */
        /* the message shows the link without its query, where a signature lives */
        const char *q = strpbrk(link, "?#");
        if (q && q[1] && strstr(err.msg, q))
            abort();
        return;
    }
    if (!on_host)
        abort(); /* accepted what the host check refuses */
    const char *url = http_request_url(req);
    if (!url || strcmp(url, link) != 0)
        abort(); /* the request goes exactly where the link says */
    parsed want, got;
    if (!curl_parse(gc->host, &want))
        abort();
    if (curl_parse(url, &got)) {
        /* libcurl will connect here: it must be the Graph host, and carry no
         * user name that would make curl send credentials of its own */
        if (!same(want.scheme, got.scheme) || !same(want.host, got.host) ||
            !same(want.port, got.port) || got.user)
            abort();
    }
    parsed_free(&want);
    parsed_free(&got);
    http_request_free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    graph_client gc = {HOSTS[data[0] % NHOSTS], NULL, 500};
    int is_calendar = (data[0] / NHOSTS) & 1;
    data++;
    size--;

    /* as the engine: no JSON_DECODE_ANY, so only an object or array is a body */
    json_error_t je;
    json_t *page = json_loadb((const char *)data, size, 0, &je);
    if (!page)
        return 0;
    /* as the mailbox: a listing needs a "value" array; its items are kept as they are */
    json_t *value = json_object_get(page, "value");
    json_t *into = json_array();
    if (json_is_array(value)) {
        if (json_array_extend(into, value) != 0)
            abort();
        if (json_array_size(into) != json_array_size(value))
            abort();
        size_t i;
        json_t *item;
        json_array_foreach(into, i, item)
        {
            /* what the mailbox reads of an event or a meeting, whatever the types */
            (void)json_string_value(json_object_get(item, "id"));
            (void)json_is_true(json_object_get(item, "isOrganizer"));
            (void)json_string_value(
                json_object_get(json_object_get(item, "onlineMeeting"), "joinUrl"));
            (void)json_string_value(json_object_get(json_object_get(item, "start"), "dateTime"));
        }
    }
    const char *keys[] = {"@odata.nextLink", "attendanceRecords@odata.nextLink"};
    for (int k = 0; k < 2; k++) {
        const char *next = json_string_value(json_object_get(page, keys[k]));
        if (next && *next)
            check_link(&gc, next, is_calendar);
    }
    /* the link of every value item too: more links per input */
    size_t i;
    json_t *item;
    json_array_foreach(into, i, item)
    {
        const char *next = json_string_value(json_object_get(item, "@odata.nextLink"));
        if (next && *next)
            check_link(&gc, next, is_calendar);
        if (i >= 16)
            break;
    }
    json_decref(into);
    json_decref(page);
    return 0;
}

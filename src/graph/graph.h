/* Microsoft Graph v1.0 requests of docs/behaviour.md: building each URL, the
 * authorization hook that adds the bearer token (only for the Graph host), and
 * the checks on what comes back (nextLink host, the access-policy 403).
 *
 * Requests built here are ready for http_submit: JSON expected, token renewed
 * once on 401 or 403, grouped by mailbox. Ownership: graph_request_* return a new
 * request the caller hands to the engine (NULL with err set on failure). */
#ifndef TA_GRAPH_H
#define TA_GRAPH_H

#include <stdint.h>

#include "auth/token.h"
#include "http/http.h"
#include "status.h"

typedef struct graph_client {
    const char *host; /* "https://graph.microsoft.com", no trailing slash */
    token_source *tokens;
    int page_size; /* $top for calendarView */
} graph_client;

/* GET {graph}/v1.0/users/{upn}?$select=id,userPrincipalName */
http_request *graph_request_user(graph_client *gc, const char *upn, int group, errinfo *err);
/* GET {graph}/v1.0/users/{upn}/calendarView?startDateTime=..&endDateTime=..&$top=N, UTC;
 * N is top, or gc->page_size when top is 0; how is 0 or GRAPH_TOKENS (below) */
http_request *graph_request_calendar_view(graph_client *gc, const char *upn, int64_t start_us,
                                          int64_t end_us, int top, int how, int group,
                                          errinfo *err);
/* GET {graph}/v1.0/users/{id}/onlineMeetings?$filter=JoinWebUrl eq '{joinUrl}'; how is 0
 * or GRAPH_TOKENS */
http_request *graph_request_meeting_by_url(graph_client *gc, const char *user_id,
                                           const char *join_url, int how, int group, errinfo *err);
/* GET .../onlineMeetings/{meetingId}/attendanceReports; how is 0 or GRAPH_TOKENS */
http_request *graph_request_reports(graph_client *gc, const char *user_id, const char *meeting_id,
                                    int how, int group, errinfo *err);
/* GET .../attendanceReports/{reportId}/attendanceRecords */
http_request *graph_request_records(graph_client *gc, const char *user_id, const char *meeting_id,
                                    const char *report_id, int group, errinfo *err);
/* GET {graph}/v1.0/groups/{id}/transitiveMembers/microsoft.graph.user?$select=id,
 * userPrincipalName,mail,accountEnabled,userType&$count=true&$top=999, with
 * ConsistencyLevel: eventual (the cast is an advanced query). */
http_request *graph_request_group_members(graph_client *gc, const char *group_id, int group,
                                          errinfo *err);
/* GET {graph}/v1.0/groups?$filter=mail eq '{mail}'&$select=id,mail,displayName */
http_request *graph_request_group_by_mail(graph_client *gc, const char *mail, int group,
                                          errinfo *err);
/* Adds ConsistencyLevel: eventual (a following page of an advanced query needs it too). */
TA_MUST_USE status graph_add_eventual(http_request *req, errinfo *err);
/* How a listing's pages are asked for (graph_request_next): a calendar's with its
 * Prefer headers; with GRAPH_TOKENS the answer is tokenized (res->tok), not parsed
 * into a tree (res->json). The run asks for every listing with tokens; audit and
 * check read trees, except attendance records, always asked for with tokens. */
enum { GRAPH_CALENDAR = 1, GRAPH_TOKENS = 2 };
/* A following page: the nextLink must point at the Graph host (the token is never
 * sent anywhere else); one that does not is ST_DATA naming the link's host. */
http_request *graph_request_next(graph_client *gc, const char *next_link, int how, int group,
                                 errinfo *err);

/* The next page of a listing: *next is the page's @odata.nextLink (borrowed), or
 * NULL when the listing is complete (no key, null or "", as Graph and proxies write
 * them). ST_JSON when the link is not a string (failing beats losing pages), ST_LIMIT
 * when `pages` pages were read already and max_pages allows no more (a paging loop
 * cannot run forever); the message names `what`. */
TA_MUST_USE status graph_next_link(const json_t *page, int pages, int max_pages, const char *what,
                                   const char **next, errinfo *err);

/* Takes one page of a listing: each item of its "value" array goes to `take` (the
 * first error stops it), then *next is the request for the following page (page
 * number pages + 1, following @odata.nextLink verbatim), or NULL when the listing is
 * complete. A page without a "value" array is ST_JSON. */
typedef status (*graph_item_fn)(void *ctx, json_t *item, errinfo *err);
TA_MUST_USE status graph_take_page(graph_client *gc, json_t *page, int pages, int max_pages,
                                   const char *what, int how, int group, graph_item_fn take,
                                   void *ctx, http_request **next, errinfo *err);

/* graph_take_page for a page asked for with GRAPH_TOKENS: *value is the token of its
 * "value" array, whose items the caller reads. */
TA_MUST_USE status graph_page_tokens(graph_client *gc, const jsontok_doc *page, int pages,
                                     int max_pages, const char *what, int how, int group,
                                     uint32_t *value, http_request **next, errinfo *err);

/* A Graph id to put in a request path: a non-empty string without NUL (a NUL would
 * cut the id short, and the request would name another object); NULL otherwise. From
 * a tree, or from token v of d (v may be JSONTOK_NONE). */
const char *graph_id(const json_t *v);
const char *graph_id_tok(const jsontok_doc *d, uint32_t v);

/* 1 when url is on the Graph host (same scheme, host and port). */
int graph_url_on_host(const char *host, const char *url);
/* For a final 403 on an online-meeting call: rewrites res->err into the access
 * policy message that names the fix (Grant-CsApplicationAccessPolicy). */
void graph_explain_forbidden(http_result *res, const char *upn, const char *user_id);

#endif

/* Graph requests and response checks: see graph.h. */
#include "graph/graph.h"
#include "secret.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/timeutil.h"
#include "util/urlenc.h"

#define URL_MAX (64u << 10)

/* The rules of graph_next_link, for a link read from a tree or from tokens:
 * not_string when the member is there but neither a string nor null. */
static status next_link(int not_string, const char *s, int pages, int max_pages, const char *what,
                        const char **next, errinfo *err)
{
    *next = NULL;
    if (not_string)
        return err_set(err, ST_JSON,
                       "Graph sent an @odata.nextLink that is not a string; the listing of %s "
                       "cannot be completed",
                       what);
    if (!s || !*s)
        return ST_OK;
    if (pages >= max_pages)
        return err_set(err, ST_LIMIT,
                       "a Graph listing of %s went past %d pages (ATTENDANCE_MAX_PAGES); stopped "
                       "so a paging loop cannot run forever",
                       what, max_pages);
    *next = s;
    return ST_OK;
}

status graph_next_link(const json_t *page, int pages, int max_pages, const char *what,
                       const char **next, errinfo *err)
{
    json_t *link = json_object_get(page, "@odata.nextLink");
    return next_link(link && !json_is_string(link) && !json_is_null(link), json_string_value(link),
                     pages, max_pages, what, next, err);
}

int graph_url_on_host(const char *host, const char *url)
{
    size_t n = strlen(host);
    if (strncasecmp(url, host, n) != 0)
        return 0;
    /* the host must end there: "https://graph.microsoft.com.evil" is another host */
    return url[n] == '/' || url[n] == '\0' || url[n] == '?';
}

static status add_auth(void *ctx, const http_request *req, int renew, struct curl_slist **headers,
                       errinfo *err)
{
    graph_client *gc = ctx;
    if (!graph_url_on_host(gc->host, http_request_url(req)))
        return err_set(err, ST_INTERNAL, "refusing to send the Graph token off the Graph host");
    const char *token = NULL;
    /* a 403 (another organizer's meeting, often many at once) with a token renewed
     * since it was sent: the new one will do; a 401 always fetches, since the newer
     * token may have been revoked too */
    if (renew == HTTP_RENEW_403 && token_fetched_after(gc->tokens, http_request_sent_us(req)))
        renew = 0;
    status st = token_get(gc->tokens, renew, &token, err);
    if (st != ST_OK)
        return st;
    buf line;
    buf_init(&line, 0);
    st = buf_appendf(&line, err, "Authorization: Bearer %s", token);
    if (st == ST_OK) {
        struct curl_slist *l = curl_slist_append(*headers, line.data);
        if (!l)
            st = err_set(err, ST_NOMEM, "out of memory adding the Authorization header");
        else
            *headers = l;
    }
    /* the line held the token: wipe it before it goes back to the allocator */
    if (line.data)
        secret_wipe(line.data, line.len);
    buf_dispose(&line);
    return st;
}

static http_request *finish(graph_client *gc, buf *url, int group, int how, errinfo *err)
{
    int calendar = how & GRAPH_CALENDAR;
    http_request *req = http_request_new("GET", url->data);
    buf_dispose(url);
    if (!req) {
        err_set(err, ST_NOMEM, "out of memory building a Graph request");
        return NULL;
    }
    status st = http_request_header(req, "Accept: application/json", err);
    if (st == ST_OK && calendar)
        st = http_request_header(req, "Prefer: outlook.timezone=\"UTC\"", err);
    if (st == ST_OK && calendar)
        st = http_request_header(req, "Prefer: outlook.body-content-type=\"text\"", err);
    if (st != ST_OK) {
        http_request_free(req);
        return NULL;
    }
    http_request_flags(req, (how & GRAPH_TOKENS ? HTTP_EXPECT_TOKENS : HTTP_EXPECT_JSON) |
                                HTTP_RENEW_ON_403);
    http_request_group(req, group);
    http_request_auth(req, add_auth, gc);
    return req;
}

static status user_path(buf *url, graph_client *gc, const char *user, errinfo *err)
{
    status st = buf_appendf(url, err, "%s/v1.0/users/", gc->host);
    if (st == ST_OK)
        st = urlenc_path_segment(url, user, err);
    return st;
}

http_request *graph_request_user(graph_client *gc, const char *upn, int group, errinfo *err)
{
    buf url;
    buf_init(&url, URL_MAX);
    status st = user_path(&url, gc, upn, err);
    if (st == ST_OK)
        st = buf_appends(&url, "?$select=id,userPrincipalName", err);
    if (st != ST_OK) {
        buf_dispose(&url);
        return NULL;
    }
    return finish(gc, &url, group, 0, err);
}

http_request *graph_request_calendar_view(graph_client *gc, const char *upn, int64_t start_us,
                                          int64_t end_us, int top, int how, int group, errinfo *err)
{
    char s[TIMEUTIL_FMT_MAX], e[TIMEUTIL_FMT_MAX];
    timeutil_format(start_us, s);
    timeutil_format(end_us, e);
    buf url;
    buf_init(&url, URL_MAX);
    status st = user_path(&url, gc, upn, err);
    if (st == ST_OK)
        st = buf_appends(&url, "/calendarView?startDateTime=", err);
    if (st == ST_OK)
        st = urlenc_query(&url, s, err);
    if (st == ST_OK)
        st = buf_appends(&url, "&endDateTime=", err);
    if (st == ST_OK)
        st = urlenc_query(&url, e, err);
    if (st == ST_OK)
        st = buf_appendf(&url, err, "&$top=%d",
                         top > 0             ? top
                         : gc->page_size > 0 ? gc->page_size
                                             : 500);
    if (st != ST_OK) {
        buf_dispose(&url);
        return NULL;
    }
    return finish(gc, &url, group, GRAPH_CALENDAR | (how & GRAPH_TOKENS), err);
}

static status meeting_path(buf *url, graph_client *gc, const char *user_id, const char *meeting_id,
                           errinfo *err)
{
    status st = user_path(url, gc, user_id, err);
    if (st == ST_OK)
        st = buf_appends(url, "/onlineMeetings/", err);
    if (st == ST_OK)
        st = urlenc_query(url, meeting_id, err);
    return st;
}

http_request *graph_request_meeting_by_url(graph_client *gc, const char *user_id,
                                           const char *join_url, int how, int group, errinfo *err)
{
    buf url;
    buf_init(&url, URL_MAX);
    status st = user_path(&url, gc, user_id, err);
    if (st == ST_OK)
        st = buf_appends(&url, "/onlineMeetings?$filter=JoinWebUrl%20eq%20", err);
    if (st == ST_OK)
        st = urlenc_odata_string(&url, join_url, err);
    if (st != ST_OK) {
        buf_dispose(&url);
        return NULL;
    }
    return finish(gc, &url, group, how & GRAPH_TOKENS, err);
}

http_request *graph_request_reports(graph_client *gc, const char *user_id, const char *meeting_id,
                                    int how, int group, errinfo *err)
{
    buf url;
    buf_init(&url, URL_MAX);
    status st = meeting_path(&url, gc, user_id, meeting_id, err);
    if (st == ST_OK)
        st = buf_appends(&url, "/attendanceReports", err);
    if (st != ST_OK) {
        buf_dispose(&url);
        return NULL;
    }
    return finish(gc, &url, group, how & GRAPH_TOKENS, err);
}

http_request *graph_request_records(graph_client *gc, const char *user_id, const char *meeting_id,
                                    const char *report_id, int group, errinfo *err)
{
    buf url;
    buf_init(&url, URL_MAX);
    status st = meeting_path(&url, gc, user_id, meeting_id, err);
    if (st == ST_OK)
        st = buf_appends(&url, "/attendanceReports/", err);
    if (st == ST_OK)
        st = urlenc_query(&url, report_id, err);
    if (st == ST_OK)
        st = buf_appends(&url, "/attendanceRecords", err);
    if (st != ST_OK) {
        buf_dispose(&url);
        return NULL;
    }
    return finish(gc, &url, group, GRAPH_TOKENS, err);
}

/* The directory's advanced queries (the OData cast to users) need this header on
 * every page, the first and those of @odata.nextLink. */
status graph_add_eventual(http_request *req, errinfo *err)
{
    return http_request_header(req, "ConsistencyLevel: eventual", err);
}

http_request *graph_request_group_members(graph_client *gc, const char *group_id, int group,
                                          errinfo *err)
{
    buf url;
    buf_init(&url, URL_MAX);
    status st = buf_appendf(&url, err, "%s/v1.0/groups/", gc->host);
    if (st == ST_OK)
        st = urlenc_path_segment(&url, group_id, err);
    if (st == ST_OK)
        st = buf_appends(&url,
                         "/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName,"
                         "mail,accountEnabled,userType&$count=true&$top=999",
                         err);
    if (st != ST_OK) {
        buf_dispose(&url);
        return NULL;
    }
    http_request *req = finish(gc, &url, group, 0, err);
    if (req && graph_add_eventual(req, err) != ST_OK) {
        http_request_free(req);
        return NULL;
    }
    return req;
}

http_request *graph_request_group_by_mail(graph_client *gc, const char *mail, int group,
                                          errinfo *err)
{
    buf url;
    buf_init(&url, URL_MAX);
    status st = buf_appendf(&url, err, "%s/v1.0/groups?$filter=mail%%20eq%%20", gc->host);
    if (st == ST_OK)
        st = urlenc_odata_string(&url, mail, err);
    if (st == ST_OK)
        st = buf_appends(&url, "&$select=id,mail,displayName", err);
    if (st != ST_OK) {
        buf_dispose(&url);
        return NULL;
    }
    return finish(gc, &url, group, 0, err);
}

http_request *graph_request_next(graph_client *gc, const char *next_link, int how, int group,
                                 errinfo *err)
{
    if (!graph_url_on_host(gc->host, next_link)) {
        char shown[200];
        http_url_for_log(next_link, shown, sizeof shown);
        err_set(err, ST_DATA,
                "Graph sent an @odata.nextLink to another host (%s); not followed, so the "
                "token stays on %s",
                shown, gc->host);
        return NULL;
    }
    buf url;
    buf_init(&url, URL_MAX);
    if (buf_appends(&url, next_link, err) != ST_OK) {
        buf_dispose(&url);
        return NULL;
    }
    return finish(gc, &url, group, how, err);
}

void graph_explain_forbidden(http_result *res, const char *upn, const char *user_id)
{
    char old[ERR_MSG_MAX];
    snprintf(old, sizeof old, "%s", res->err.msg);
    err_clear(&res->err);
    err_set(&res->err, ST_FORBIDDEN,
            "Graph refused the online meetings of %s (403): the application access policy is "
            "missing. Fix: New-CsApplicationAccessPolicy -Identity attendance-policy -AppIds "
            "<client id>, then Grant-CsApplicationAccessPolicy -PolicyName attendance-policy "
            "-Identity %s (or -Global), and wait up to 30 minutes [%s]",
            upn, user_id ? user_id : "<user object id>", old);
    res->err.http_status = 403;
}

const char *graph_id(const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) != json_string_length(v))
        return NULL;
    return s;
}

const char *graph_id_tok(const jsontok_doc *d, uint32_t v)
{
    if (v == JSONTOK_NONE || d->tok[v].type != JSONTOK_STRING || d->tok[v].len == 0)
        return NULL;
    const char *s = jsontok_str(d, v);
    return strlen(s) == d->tok[v].len ? s : NULL;
}

status graph_take_page(graph_client *gc, json_t *page, int pages, int max_pages, const char *what,
                       int how, int group, graph_item_fn take, void *ctx, http_request **next,
                       errinfo *err)
{
    *next = NULL;
    json_t *value = json_object_get(page, "value");
    if (!json_is_array(value))
        return err_set(err, ST_JSON, "Graph answered a listing without a \"value\" array");
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item)
    {
        status st = take(ctx, item, err);
        if (st != ST_OK)
            return st;
    }
    const char *link;
    status st = graph_next_link(page, pages, max_pages, what, &link, err);
    if (st != ST_OK || !link)
        return st;
    if (!(*next = graph_request_next(gc, link, how, group, err)))
        return err->code ? err->code : ST_NOMEM;
    return ST_OK;
}

status graph_page_tokens(graph_client *gc, const jsontok_doc *page, int pages, int max_pages,
                         const char *what, int how, int group, uint32_t *value, http_request **next,
                         errinfo *err)
{
    *next = NULL;
    *value = jsontok_member(page, 0, "value", 5);
    if (*value == JSONTOK_NONE || page->tok[*value].type != JSONTOK_ARRAY)
        return err_set(err, ST_JSON, "Graph answered a listing without a \"value\" array");
    uint32_t l = jsontok_member(page, 0, "@odata.nextLink", 15);
    int type = l == JSONTOK_NONE ? JSONTOK_NULL : page->tok[l].type;
    const char *link;
    status st = next_link(type != JSONTOK_STRING && type != JSONTOK_NULL,
                          type == JSONTOK_STRING ? jsontok_str(page, l) : NULL, pages, max_pages,
                          what, &link, err);
    if (st != ST_OK || !link)
        return st;
    if (!(*next = graph_request_next(gc, link, how, group, err)))
        return err->code ? err->code : ST_NOMEM;
    return ST_OK;
}

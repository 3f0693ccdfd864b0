/* Graph request building (SPEC section 4): URLs, headers, the host check that keeps
 * the token on the Graph host, and the access-policy message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "graph/graph.h"
#include "util/timeutil.h"

static graph_client gc = {"https://graph.microsoft.com", NULL, 500};

static int has_header(const http_request *r, const char *line)
{
    for (const struct curl_slist *l = http_request_headers(r); l; l = l->next)
        if (strcmp(l->data, line) == 0)
            return 1;
    return 0;
}

static void test_graph__calendar_view(void **state)
{
    (void)state;
    int64_t s, e;
    assert_int_equal(timeutil_parse("2026-11-01T00:00:00Z", &s), 0);
    assert_int_equal(timeutil_parse("2026-11-28T17:34:00.5Z", &e), 0);
    errinfo err = {0};
    http_request *r =
        graph_request_calendar_view(&gc, "Ann O'Neil@contoso.com", s, e, 0, 0, 3, &err);
    assert_non_null(r);
    assert_string_equal(http_request_url(r),
                        "https://graph.microsoft.com/v1.0/users/Ann%20O%27Neil@contoso.com/"
                        "calendarView?startDateTime=2026-11-01T00%3A00%3A00Z&endDateTime=2026-11-"
                        "28T17%3A34%3A00.500000Z&$top=500");
    assert_true(has_header(r, "Prefer: outlook.timezone=\"UTC\""));
    assert_true(has_header(r, "Prefer: outlook.body-content-type=\"text\""));
    assert_string_equal(http_request_method(r), "GET");
    http_request_free(r);
}

static void test_graph__meeting_filter_double_encoding(void **state)
{
    (void)state;
    errinfo err = {0};
    /* the join URL as Graph returns it (already percent-encoded), with a quote in it */
    const char *join = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_X%40thread.v2/"
                       "0?context=%7b%22Tid%22%3a%22t'1%22%7d";
    http_request *r = graph_request_meeting_by_url(&gc, "0f1e-id", join, 0, 0, &err);
    assert_non_null(r);
    assert_string_equal(http_request_url(r),
                        "https://graph.microsoft.com/v1.0/users/0f1e-id/onlineMeetings?$filter="
                        "JoinWebUrl%20eq%20'https%3A%2F%2Fteams.microsoft.com%2Fl%2Fmeetup-join%"
                        "2F19%253ameeting_X%2540thread.v2%2F0%3Fcontext%3D%257b%2522Tid%2522%253a%"
                        "2522t%27%271%2522%257d'");
    http_request_free(r);
}

static void test_graph__reports_and_records(void **state)
{
    (void)state;
    errinfo err = {0};
    http_request *r = graph_request_records(&gc, "uid", "MSpk:19@thread.v2=", "rep-1", 0, &err);
    assert_non_null(r);
    assert_string_equal(http_request_url(r),
                        "https://graph.microsoft.com/v1.0/users/uid/onlineMeetings/"
                        "MSpk%3A19%40thread.v2%3D/attendanceReports/rep-1/attendanceRecords");
    http_request_free(r);
    r = graph_request_reports(&gc, "uid", "m1", 0, 0, &err);
    assert_string_equal(http_request_url(r),
                        "https://graph.microsoft.com/v1.0/users/uid/onlineMeetings/m1/"
                        "attendanceReports");
    http_request_free(r);
}

static void test_graph__next_link_stays_on_host(void **state)
{
    (void)state;
    assert_true(graph_url_on_host(gc.host, "https://graph.microsoft.com/v1.0/users?$skip=10"));
    assert_true(graph_url_on_host(gc.host, "HTTPS://GRAPH.MICROSOFT.COM/v1.0/x"));
    assert_false(graph_url_on_host(gc.host, "https://graph.microsoft.com.evil.example/v1.0/x"));
    assert_false(graph_url_on_host(gc.host, "https://graph.microsoft.com:8443/v1.0/x"));
    assert_false(graph_url_on_host(gc.host, "http://graph.microsoft.com/v1.0/x"));
    assert_false(graph_url_on_host(gc.host, "https://evil.example/?https://graph.microsoft.com/"));

    errinfo err = {0};
    http_request *r = graph_request_next(
        &gc, "https://graph.microsoft.com/v1.0/users/u/calendarView?$skip=5", 1, 0, &err);
    assert_non_null(r);
    assert_true(has_header(r, "Prefer: outlook.timezone=\"UTC\""));
    http_request_free(r);

    r = graph_request_next(&gc, "https://evil.example/steal?sig=SECRET", 0, 0, &err);
    assert_null(r);
    assert_int_equal(err.code, ST_DATA);
    assert_non_null(strstr(err.msg, "evil.example"));
    assert_null(strstr(err.msg, "SECRET"));
}

static void test_graph__policy_message_names_the_fix(void **state)
{
    (void)state;
    http_result res;
    memset(&res, 0, sizeof res);
    err_set(&res.err, ST_FORBIDDEN, "GET x: HTTP 403");
    graph_explain_forbidden(&res, "ann@contoso.com", "0f1e-id");
    assert_int_equal(res.err.code, ST_FORBIDDEN);
    assert_non_null(strstr(res.err.msg, "Grant-CsApplicationAccessPolicy"));
    assert_non_null(strstr(res.err.msg, "0f1e-id"));
    assert_non_null(strstr(res.err.msg, "ann@contoso.com"));
}

/* A Graph id for a request path, from a tree and from tokens alike: a non-empty
 * string without NUL. */
static void test_graph__id(void **state)
{
    (void)state;
    const char *text = "{\"a\":\"m1\",\"b\":\"\",\"c\":7,\"d\":\"x\\u0000y\",\"e\":null}";
    json_t *j = json_loads(text, JSON_ALLOW_NUL, NULL);
    assert_non_null(j);
    char *copy = strdup(text);
    jsontok_doc d;
    jsontok_init(&d);
    errinfo err = {0};
    assert_int_equal(jsontok_parse(&d, copy, strlen(copy), JSONTOK_ALLOW_NUL, &err), ST_OK);
    const char *keys[] = {"a", "b", "c", "d", "e", "missing"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *t = graph_id(json_object_get(j, keys[k]));
        const char *u = graph_id_tok(&d, jsontok_member(&d, 0, keys[k], strlen(keys[k])));
        if (k == 0) {
            assert_string_equal(t, "m1");
            assert_string_equal(u, "m1");
        } else {
            assert_null(t);
            assert_null(u);
        }
    }
    jsontok_dispose(&d);
    free(copy);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph__calendar_view),
        cmocka_unit_test(test_graph__meeting_filter_double_encoding),
        cmocka_unit_test(test_graph__reports_and_records),
        cmocka_unit_test(test_graph__next_link_stays_on_host),
        cmocka_unit_test(test_graph__policy_message_names_the_fix),
        cmocka_unit_test(test_graph__id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

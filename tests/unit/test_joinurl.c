/* Unit tests for graph/joinurl: Teams join links in text, both forms, the hosts,
 * Safe Links, HTML bodies, and what is not a join link. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/joinurl.h"

static void expect_link(const char *text, const char *want)
{
    buf b;
    buf_init(&b, 0);
    int rc = joinurl_scan(text, strlen(text), &b);
    if (want) {
        if (rc != 1)
            fail_msg("no link found in \"%s\"", text);
        assert_string_equal(b.data, want);
    } else if (rc != 0) {
        fail_msg("\"%s\" found in \"%s\"", b.data, text);
    }
    buf_dispose(&b);
}

#define LONG                                                                                       \
    "https://teams.microsoft.com/l/meetup-join/"                                                   \
    "19%3ameeting_NTg0NmQ3NTctZDVkZC00YzRhLThmNmEtOGQ3OWI2MWYwMzE3%40thread.v2/"                   \
    "0?context=%7b%22Tid%22%3a%2272f988bf%22%2c%22Oid%22%3a%22550fae72%22%7d"
#define SHORT "https://teams.microsoft.com/meet/24697834012345?p=Xk9a2Lq7vB3cR5dT"

static void test_joinurl__both_forms(void **state)
{
    (void)state;
    expect_link(LONG, LONG);
    expect_link(SHORT, SHORT);
    expect_link("https://teams.cloud.microsoft/meet/123?p=a",
                "https://teams.cloud.microsoft/meet/123?p=a");
    expect_link("https://gov.teams.microsoft.us/l/meetup-join/19%3ameeting_x%40thread.v2/0",
                "https://gov.teams.microsoft.us/l/meetup-join/19%3ameeting_x%40thread.v2/0");
    expect_link("HTTPS://DOD.TEAMS.MICROSOFT.US/meet/9?p=z",
                "HTTPS://DOD.TEAMS.MICROSOFT.US/meet/9?p=z");
}

static void test_joinurl__in_text_and_html(void **state)
{
    (void)state;
    expect_link("Microsoft Teams meeting. Join: " SHORT ". Meeting ID: 246 978 340 123", SHORT);
    expect_link("<a href=\"https://teams.microsoft.com/meet/1?p=a&amp;x=1\" class=\"me\">Join</a>",
                "https://teams.microsoft.com/meet/1?p=a&x=1");
    expect_link("(" SHORT ")", SHORT);
    /* the first Teams link wins, other links are passed over */
    expect_link("see https://contoso.sharepoint.com/agenda.docx then " LONG " or " SHORT, LONG);
    /* Safe Links wraps the link in its url parameter */
    expect_link("https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fteams.microsoft."
                "com%2Fmeet%2F777%3Fp%3Dq1&data=05%7C01&reserved=0",
                "https://teams.microsoft.com/meet/777?p=q1");
}

static void test_joinurl__not_join_links(void **state)
{
    (void)state;
    expect_link("", NULL);
    expect_link("Conference Room 12", NULL);
    expect_link("http://teams.microsoft.com/meet/1?p=a", NULL); /* not https */
    expect_link("https://teams.microsoft.com.evil.example/meet/1?p=a", NULL);
    expect_link("https://evilteams.microsoft.com/meet/1?p=a", NULL);
    expect_link("https://teams.microsoft.com/meet/", NULL);
    expect_link("https://teams.microsoft.com/l/channel/19%3a1/General", NULL);
    expect_link("https://zoom.us/j/123", NULL);
    expect_link("https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F1",
                NULL);
    assert_false(joinurl_is_teams("https://teams.microsoft.com", 27));
    assert_true(joinurl_is_teams(SHORT, strlen(SHORT)));
}

static void test_joinurl__fields_in_order(void **state)
{
    (void)state;
    assert_true(joinurl_nfields >= 4);
    assert_string_equal(joinurl_fields[0], "onlineMeetingUrl");
    assert_string_equal(joinurl_fields[joinurl_nfields - 1], "body.content");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_joinurl__both_forms),
        cmocka_unit_test(test_joinurl__in_text_and_html),
        cmocka_unit_test(test_joinurl__not_join_links),
        cmocka_unit_test(test_joinurl__fields_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

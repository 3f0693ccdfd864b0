/* graph/event: the join link of a Teams meeting the mailbox organizes, read the same
 * from a jansson tree and from tokens, against the expected link and source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "graph/event.h"

#define LINK "https://teams.microsoft.com/l/meetup-join/19%3ameeting_a%40thread.v2/0"
#define SHORT "https://teams.microsoft.com/meet/24697834012345?p=Xk9a2Lq7vB3cR5dT"

typedef struct ecase {
    const char *json;
    const char *url;    /* expected, or NULL */
    const char *source; /* expected, or NULL (onlineMeeting) */
} ecase;

static const ecase cases[] = {
    {"{\"isOrganizer\":true,\"isOnlineMeeting\":true,\"onlineMeetingProvider\":"
     "\"teamsForBusiness\","
     "\"onlineMeeting\":{\"joinUrl\":\"" LINK "\"}}",
     LINK, NULL},
    {"{\"isOrganizer\":false,\"isOnlineMeeting\":true,\"onlineMeetingProvider\":"
     "\"teamsForBusiness\",\"onlineMeeting\":{\"joinUrl\":\"" LINK "\"}}",
     NULL, NULL},
    {"{\"isOrganizer\":\"true\",\"onlineMeetingUrl\":\"" LINK "\"}", NULL, NULL},
    {"{\"isOrganizer\":true,\"isOnlineMeeting\":true,\"onlineMeetingProvider\":"
     "\"skypeForBusiness\","
     "\"onlineMeeting\":{\"joinUrl\":\"https://join.example/1\"},\"body\":{\"content\":\"" LINK
     "\"}}",
     NULL, NULL},
    {"{\"isOrganizer\":true,\"onlineMeeting\":null,\"body\":{\"content\":\"Join: " SHORT " now\"}}",
     SHORT, "body.content"},
    {"{\"isOrganizer\":true,\"onlineMeetingUrl\":\"" SHORT "\",\"body\":{\"content\":\"" LINK
     "\"}}",
     SHORT, "onlineMeetingUrl"},
    {"{\"isOrganizer\":true,\"location\":{\"displayName\":\"Room 4\",\"locationUri\":7},"
     "\"locations\":[{\"displayName\":\"Room "
     "4\"},3,{\"displayName\":[\"x\"]},{\"displayName\":\"" SHORT "\"}]}",
     SHORT, "locations[].displayName"},
    {"{\"isOrganizer\":true,\"locations\":{\"displayName\":\"" SHORT "\"}}", NULL, NULL},
    {"{\"isOrganizer\":true,\"isOnlineMeeting\":true,\"onlineMeetingProvider\":"
     "\"teamsForBusiness\","
     "\"onlineMeeting\":{\"joinUrl\":\"\"},\"location\":{\"locationUri\":\"" SHORT "\"}}",
     SHORT, "location.locationUri"},
    {"{\"isOrganizer\":true,\"isOrganizer\":false,\"onlineMeetingUrl\":\"" LINK "\"}", NULL, NULL},
    {"[1,2]", NULL, NULL},
};

static void expect(const char *what, const char *url, const char *src, const ecase *c)
{
    if (!c->url) {
        if (url)
            fail_msg("%s: %s gave %s", what, c->json, url);
        return;
    }
    if (!url || strcmp(url, c->url) != 0)
        fail_msg("%s: %s gave %s, not %s", what, c->json, url ? url : "NULL", c->url);
    if ((src == NULL) != (c->source == NULL) || (src && strcmp(src, c->source) != 0))
        fail_msg("%s: %s: source %s, not %s", what, c->json, src ? src : "NULL",
                 c->source ? c->source : "NULL");
}

static void test_event__tree_and_tokens_agree(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const ecase *c = &cases[k];
        buf scratch;
        buf_init(&scratch, 0);
        json_t *j = json_loads(c->json, 0, NULL);
        assert_non_null(j);
        const char *src;
        const char *url = event_organized_join_url(j, &scratch, &src);
        expect("tree", url, src, c);

        char *text = strdup(c->json);
        jsontok_doc d;
        jsontok_init(&d);
        errinfo e = {0};
        assert_int_equal(jsontok_parse(&d, text, strlen(text), 0, &e), ST_OK);
        url = event_organized_join_url_tok(&d, 0, &scratch, &src);
        expect("tokens", url, src, c);
        jsontok_dispose(&d);
        free(text);
        json_decref(j);
        buf_dispose(&scratch);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event__tree_and_tokens_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The rules of `audit` (SPEC section 2): reading a registry file, and the verdict on
 * each report: outside the period or before the first window, another channel
 * meeting's, landed, not yet due, or missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "job/auditrule.h"
#include "util/timeutil.h"

#define MIN INT64_C(60000000)
#define NO AUDITRULE_NO_TIME

static int64_t t(const char *s)
{
    int64_t us = 0;
    assert_int_equal(timeutil_parse(s, &us), 0);
    return us;
}

/* First window Nov 1, period from it to Dec 1, watermark Nov 20 12:00, settle 60 min. */
static auditrule_bounds bounds(void)
{
    auditrule_bounds b = {0};
    b.first_window_start = t("2026-11-01T00:00:00Z");
    b.period_start = b.first_window_start;
    b.period_end = t("2026-12-01T00:00:00Z");
    b.watermark = t("2026-11-20T12:00:00Z");
    b.settle_minutes = 60;
    return b;
}

static auditrule_verdict judge(int64_t s, int64_t e, int landed)
{
    auditrule_bounds b = bounds();
    return auditrule_classify(s, e, landed, &b, 0, NULL, 0);
}

static void test_audit__settle_before_watermark(void **state)
{
    (void)state;
    int64_t s = t("2026-11-20T10:00:00Z");
    /* ended exactly the settle time before the watermark: due */
    assert_int_equal(judge(s, t("2026-11-20T11:00:00Z"), 0), AUDITRULE_MISSING);
    /* one microsecond later: a later run's to land */
    assert_int_equal(judge(s, t("2026-11-20T11:00:00Z") + 1, 0), AUDITRULE_NOT_DUE);
    assert_int_equal(judge(s, t("2026-11-20T11:00:00Z") + 1, 1), AUDITRULE_LANDED);
    assert_int_equal(judge(s, t("2026-11-02T11:00:00Z"), 1), AUDITRULE_LANDED);
    /* an end that cannot be read is not known to have ended */
    assert_int_equal(judge(s, NO, 0), AUDITRULE_NOT_DUE);
    /* no watermark: nothing is due */
    auditrule_bounds b = bounds();
    b.watermark = NO;
    assert_int_equal(auditrule_classify(s, s + MIN, 0, &b, 0, NULL, 0), AUDITRULE_NOT_DUE);
}

static void test_audit__first_window_and_period(void **state)
{
    (void)state;
    auditrule_bounds b = bounds();
    int64_t fws = b.first_window_start;
    /* started before the first window: never counted, landed or not */
    assert_int_equal(judge(fws - 1, fws + 30 * MIN, 0), AUDITRULE_OUTSIDE);
    assert_int_equal(judge(fws, fws + 30 * MIN, 0), AUDITRULE_MISSING);
    /* --since before the first window widens the period, not what counts */
    b.period_start = fws - 10 * 24 * 60 * MIN;
    assert_int_equal(auditrule_classify(fws - MIN, fws + MIN, 0, &b, 0, NULL, 0),
                     AUDITRULE_OUTSIDE);
    /* first window unknown (no registry file; --since given): the period rules */
    b.first_window_start = NO;
    assert_int_equal(auditrule_classify(fws - MIN, fws + MIN, 0, &b, 0, NULL, 0),
                     AUDITRULE_MISSING);
    assert_int_equal(auditrule_classify(b.period_start - 1, fws, 0, &b, 0, NULL, 0),
                     AUDITRULE_OUTSIDE);
    /* the period's end is exclusive */
    b = bounds();
    b.watermark = t("2026-12-05T00:00:00Z");
    assert_int_equal(auditrule_classify(b.period_end, b.period_end + MIN, 0, &b, 0, NULL, 0),
                     AUDITRULE_OUTSIDE);
    assert_int_equal(auditrule_classify(b.period_end - 1, b.period_end + MIN, 0, &b, 0, NULL, 0),
                     AUDITRULE_MISSING);
    /* a report without a start counts wherever it is (the run lands it once) */
    assert_int_equal(judge(NO, t("2026-11-10T10:00:00Z"), 0), AUDITRULE_MISSING);
    assert_int_equal(judge(NO, t("2026-11-10T10:00:00Z"), 1), AUDITRULE_LANDED);
}

static void test_audit__channel_meeting_own_sessions(void **state)
{
    (void)state;
    auditrule_bounds b = bounds();
    auditrule_span occ[] = {{t("2026-11-10T09:00:00Z"), t("2026-11-10T10:00:00Z")}};
    /* from 60 minutes before the occurrence's start to its end */
    assert_int_equal(
        auditrule_classify(t("2026-11-10T08:00:00Z"), t("2026-11-10T09:30:00Z"), 0, &b, 1, occ, 1),
        AUDITRULE_MISSING);
    assert_int_equal(
        auditrule_classify(t("2026-11-10T10:00:00Z"), t("2026-11-10T10:30:00Z"), 1, &b, 1, occ, 1),
        AUDITRULE_LANDED);
    assert_int_equal(
        auditrule_classify(t("2026-11-10T07:59:59Z"), t("2026-11-10T09:00:00Z"), 0, &b, 1, occ, 1),
        AUDITRULE_OTHER_MEETING);
    assert_int_equal(
        auditrule_classify(t("2026-11-10T10:00:01Z"), t("2026-11-10T11:00:00Z"), 0, &b, 1, occ, 1),
        AUDITRULE_OTHER_MEETING);
    /* no start: cannot be placed in an occurrence */
    assert_int_equal(auditrule_classify(NO, t("2026-11-10T11:00:00Z"), 0, &b, 1, occ, 1),
                     AUDITRULE_OTHER_MEETING);
    /* the same session of an ordinary meeting counts */
    assert_int_equal(
        auditrule_classify(t("2026-11-10T10:00:01Z"), t("2026-11-10T11:00:00Z"), 0, &b, 0, occ, 1),
        AUDITRULE_MISSING);
}

static void parse_ok(const char *text, auditrule_registry *r)
{
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    assert_non_null(doc);
    errinfo err = {0};
    status st = auditrule_registry_parse(doc, r, &err);
    json_decref(doc);
    if (st != ST_OK)
        fail_msg("parse failed: %s", err.msg);
}

static void parse_bad(const char *text, const char *needle)
{
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    assert_non_null(doc);
    errinfo err = {0};
    auditrule_registry r;
    assert_int_equal(auditrule_registry_parse(doc, &r, &err), ST_DATA);
    json_decref(doc);
    if (!strstr(err.msg, needle))
        fail_msg("\"%s\" lacks \"%s\"", err.msg, needle);
    auditrule_registry_dispose(&r);
}

static void test_audit__registry_file(void **state)
{
    (void)state;
    auditrule_registry r;
    parse_ok("{\"version\":1,\"first_window_start\":\"2026-11-01T00:00:00Z\",\"meetings\":["
             "{\"id\":\"M1\",\"join_url\":\"https://teams.microsoft.com/l/meetup-join/x\","
             "\"occurrences\":[{\"event_id\":\"E1\",\"start\":\"2026-11-02T09:00:00Z\","
             "\"end\":\"2026-11-02T10:00:00Z\"},{\"event_id\":\"E2\",\"start\":\"bad\","
             "\"end\":null}]},{\"id\":\"M2\",\"join_url\":null}],"
             "\"landed\":{\"M1\":[\"R1\",\"R2\"],\"M2\":[\"R3\"]}}",
             &r);
    assert_true(r.first_window_start == t("2026-11-01T00:00:00Z"));
    assert_int_equal(r.nmeetings, 2);
    assert_string_equal(r.meetings[0].id, "M1");
    assert_non_null(r.meetings[0].join_url);
    assert_int_equal(r.meetings[0].nocc, 1); /* the unreadable occurrence is left out */
    assert_true(r.meetings[0].occ[0].end_us == t("2026-11-02T10:00:00Z"));
    assert_null(r.meetings[1].join_url);
    /* report ids are matched whichever meeting they were landed under */
    assert_true(auditrule_is_landed(&r, "R1"));
    assert_true(auditrule_is_landed(&r, "R3"));
    assert_false(auditrule_is_landed(&r, "R4"));
    assert_false(auditrule_is_landed(&r, NULL));
    auditrule_registry_dispose(&r);
    auditrule_registry_dispose(&r); /* safe to repeat */

    /* a file without first_window_start: unknown, not an error */
    parse_ok("{\"version\":1}", &r);
    assert_true(r.first_window_start == NO);
    assert_int_equal(r.nmeetings, 0);
    assert_false(auditrule_is_landed(&r, "R1"));
    auditrule_registry_dispose(&r);

    parse_bad("{\"version\":2}", "version");
    parse_bad("[]", "object");
    parse_bad("{\"version\":1,\"first_window_start\":\"soon\"}", "first_window_start");
    parse_bad("{\"version\":1,\"meetings\":{}}", "meetings");
    parse_bad("{\"version\":1,\"meetings\":[{\"join_url\":\"x\"}]}", "meetings[0].id");
    parse_bad("{\"version\":1,\"meetings\":[{\"id\":\"M\",\"join_url\":3}]}", "join_url");
    parse_bad("{\"version\":1,\"landed\":{\"M\":\"R1\"}}", "landed[\"M\"]");
    parse_bad("{\"version\":1,\"landed\":{\"M\":[1]}}", "landed[\"M\"][0]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit__settle_before_watermark),
        cmocka_unit_test(test_audit__first_window_and_period),
        cmocka_unit_test(test_audit__channel_meeting_own_sessions),
        cmocka_unit_test(test_audit__registry_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Window, watermark and report tying (SPEC sections 4 and 6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "job/window.h"
#include "util/timeutil.h"

#define MIN INT64_C(60000000)

static int64_t t(const char *s)
{
    int64_t us = 0;
    assert_int_equal(timeutil_parse(s, &us), 0);
    return us;
}

static void test_window__first_run_and_overlap(void **state)
{
    (void)state;
    int64_t now = t("2026-11-28T12:00:00Z"), s, e;
    window_for_mailbox(WINDOW_NO_WATERMARK, now, 30, 5, &s, &e);
    assert_true(s == t("2026-10-29T12:00:00Z"));
    assert_true(e == now);
    window_for_mailbox(t("2026-11-28T09:00:00Z"), now, 30, 5, &s, &e);
    assert_true(s == t("2026-11-28T08:55:00Z"));
}

static void test_window__watermark_latest_started(void **state)
{
    (void)state;
    int64_t now = t("2026-11-28T12:00:00Z");
    window_event ev[] = {
        {t("2026-11-28T08:00:00Z"), t("2026-11-28T09:00:00Z"), 0, 1, -1},
        {t("2026-11-28T10:00:00Z"), t("2026-11-28T10:30:00Z"), 0, 1, -1},
        {t("2026-11-28T15:00:00Z"), t("2026-11-28T16:00:00Z"), 1, 1, 0}, /* future */
    };
    int64_t wm = window_new_watermark(WINDOW_NO_WATERMARK, ev, 3, now, now, 60);
    assert_true(wm == t("2026-11-28T10:00:00Z"));
    /* never moves back */
    wm = window_new_watermark(t("2026-11-28T11:00:00Z"), ev, 3, now, now, 60);
    assert_true(wm == t("2026-11-28T11:00:00Z"));
    /* no event started: the window's end */
    wm = window_new_watermark(WINDOW_NO_WATERMARK, ev + 2, 1, now, now, 60);
    assert_true(wm == now);
}

static void test_window__settle_holds_watermark(void **state)
{
    (void)state;
    int64_t now = t("2026-11-28T12:00:00Z");
    window_event ev[] = {
        /* organized Teams meeting that ended 20 minutes ago: not settled */
        {t("2026-11-28T11:00:00Z"), t("2026-11-28T11:40:00Z"), 1, 1, 0},
        {t("2026-11-28T11:50:00Z"), t("2026-11-28T12:10:00Z"), 0, 1, -1},
    };
    int64_t wm = window_new_watermark(WINDOW_NO_WATERMARK, ev, 2, now, now, 60);
    assert_true(wm == t("2026-11-28T11:00:00Z"));
    /* with a 10 minute settle time it has settled */
    wm = window_new_watermark(WINDOW_NO_WATERMARK, ev, 2, now, now, 10);
    assert_true(wm == t("2026-11-28T11:50:00Z"));
    /* an in-progress organized meeting holds it too */
    window_event live[] = {{t("2026-11-28T11:50:00Z"), t("2026-11-28T12:30:00Z"), 1, 1, 0},
                           {t("2026-11-28T11:55:00Z"), t("2026-11-28T12:05:00Z"), 0, 1, -1}};
    wm = window_new_watermark(WINDOW_NO_WATERMARK, live, 2, now, now, 60);
    assert_true(wm == t("2026-11-28T11:50:00Z"));
}

/* The hold-back is bounded: a multi-week meeting, or one whose end cannot be read,
 * no longer holds the watermark at its start. */
static void test_window__hold_back_bounded(void **state)
{
    (void)state;
    int64_t now = t("2026-11-28T12:00:00Z");
    window_event ev[] = {
        /* "office hours" from two weeks ago to next week: started over 24 h ago */
        {t("2026-11-14T09:00:00Z"), t("2026-12-05T17:00:00Z"), 1, 1, 0},
        /* an organized meeting whose end cannot be read */
        {t("2026-11-28T10:00:00Z"), WINDOW_NO_TIME, 1, 1, 1},
        {t("2026-11-28T11:00:00Z"), t("2026-11-28T11:10:00Z"), 0, 1, -1},
    };
    int64_t wm = window_new_watermark(WINDOW_NO_WATERMARK, ev, 3, now, now, 60);
    assert_true(wm == t("2026-11-28T11:00:00Z"));
    assert_false(window_holds_back(&ev[0], now, 60));
    assert_false(window_holds_back(&ev[1], now, 60));
    /* a running meeting that started 23 hours ago still holds it */
    window_event day[] = {{t("2026-11-27T13:00:00Z"), t("2026-11-28T13:00:00Z"), 1, 1, 0},
                          {t("2026-11-28T11:00:00Z"), t("2026-11-28T11:10:00Z"), 0, 1, -1}};
    wm = window_new_watermark(WINDOW_NO_WATERMARK, day, 2, now, now, 60);
    assert_true(wm == t("2026-11-27T13:00:00Z"));
}

static void test_window__tie_reports(void **state)
{
    (void)state;
    window_event ev[] = {
        {t("2026-11-02T09:00:00Z"), t("2026-11-02T10:00:00Z"), 1, 0, 0},
        {t("2026-11-09T09:00:00Z"), t("2026-11-09T10:00:00Z"), 1, 0, 0},
        {t("2026-11-09T09:30:00Z"), t("2026-11-09T10:30:00Z"), 1, 0, 1}, /* other meeting */
    };
    assert_int_equal(window_tie_report(t("2026-11-09T08:58:12.5Z"), ev, 3, 0, 0), 1);
    assert_int_equal(window_tie_report(t("2026-11-02T08:01:00Z"), ev, 3, 0, 0), 0);
    /* more than 60 minutes early, or after the end: no event */
    assert_int_equal(window_tie_report(t("2026-11-02T07:59:00Z"), ev, 3, 0, 0), -1);
    assert_int_equal(window_tie_report(t("2026-11-05T12:00:00Z"), ev, 3, 0, 0), -1);
    /* a single instance takes every report of its meeting */
    window_event one[] = {{t("2026-11-02T09:00:00Z"), t("2026-11-02T10:00:00Z"), 1, 1, 0}};
    assert_int_equal(window_tie_report(t("2026-11-20T12:00:00Z"), one, 1, 0, 0), 0);
    /* nearest start when two hold it */
    window_event two[] = {{t("2026-11-02T09:00:00Z"), t("2026-11-02T11:00:00Z"), 1, 0, 0},
                          {t("2026-11-02T10:00:00Z"), t("2026-11-02T11:00:00Z"), 1, 0, 0}};
    assert_int_equal(window_tie_report(t("2026-11-02T09:40:00Z"), two, 2, 0, 0), 1);
    assert_int_equal(window_tie_report(t("2026-11-02T09:20:00Z"), two, 2, 0, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window__first_run_and_overlap),
        cmocka_unit_test(test_window__watermark_latest_started),
        cmocka_unit_test(test_window__settle_holds_watermark),
        cmocka_unit_test(test_window__hold_back_bounded),
        cmocka_unit_test(test_window__tie_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

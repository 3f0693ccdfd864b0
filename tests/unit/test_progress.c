/* The terminal progress line and summary table (src/job/progress.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "job/progress.h"
#include "util/timeutil.h"

#define SEC INT64_C(1000000)

static void test_progress__duration(void **state)
{
    (void)state;
    char s[32];
    progress_format_duration(s, sizeof s, 0);
    assert_string_equal(s, "0s");
    progress_format_duration(s, sizeof s, 59 * SEC + 999999);
    assert_string_equal(s, "59s");
    progress_format_duration(s, sizeof s, 185 * SEC);
    assert_string_equal(s, "3m05s");
    progress_format_duration(s, sizeof s, (2 * 3600 + 3 * 60 + 7) * SEC);
    assert_string_equal(s, "2h03m");
    progress_format_duration(s, sizeof s, -5 * SEC);
    assert_string_equal(s, "0s");
}

static void test_progress__line(void **state)
{
    (void)state;
    char line[PROGRESS_LINE_MAX];
    progress_counts c = {0};
    c.mailboxes_total = 10;
    c.requests = 12;
    progress_format(line, sizeof line, &c, 3 * SEC);
    assert_string_equal(line,
                        "mailboxes 0/10  requests 12  throttled 0  rows 0  elapsed 3s  left ?");
    /* 4 of 10 done in 20 s: 6 left at 5 s each */
    c.mailboxes_done = 4;
    c.mailboxes_failed = 1;
    c.throttled = 7;
    c.rows = 1234;
    progress_format(line, sizeof line, &c, 20 * SEC);
    assert_string_equal(line, "mailboxes 4/10 (1 failed)  requests 12  throttled 7  rows 1234  "
                              "elapsed 20s  left 30s");
    c.mailboxes_done = 10;
    progress_format(line, sizeof line, &c, 65 * SEC);
    assert_string_equal(line, "mailboxes 10/10 (1 failed)  requests 12  throttled 7  rows 1234  "
                              "elapsed 1m05s  left 0s");
}

/* Not a terminal: nothing is ever written. */
static void test_progress__off_when_not_a_terminal(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    progress p;
    progress_init(&p, f, LOG_FORMAT_TEXT, 0);
    assert_false(p.enabled);
    progress_counts c = {0};
    c.mailboxes_total = 3;
    progress_update(&p, &c, SEC, 1);
    progress_totals t = {0};
    progress_summary(&p, &t, NULL, 0);
    progress_finish(&p);
    assert_int_equal(ftell(f), 0);
    fclose(f);
}

static void test_progress__summary(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    progress_totals t = {0};
    t.run_id = "20261203T093907Z-eb8ca8";
    t.status = "partial";
    t.rows[TBL_EVENTS] = 110;
    t.rows[TBL_RECORDS] = 231;
    t.mailboxes_ok = 5;
    t.mailboxes_failed = 2;
    t.requests = 258;
    t.retries = 3;
    t.throttled = 1;
    t.duration_us = 125 * SEC;
    int64_t since = 0;
    assert_int_equal(timeutil_parse("2026-12-01T08:00:00Z", &since), 0);
    progress_failure failed[] = {{"a@x.com", "HTTP 400: BadRequest", since, 3},
                                 {"b@x.com", "timeout", INT64_MIN, 0}};
    progress_write_summary(f, &t, failed, 2);
    fclose(f);
    assert_non_null(strstr(text, "\nRun 20261203T093907Z-eb8ca8: partial\n"));
    assert_non_null(strstr(text, "\n  events                          110\n"));
    assert_non_null(strstr(text, "\n  attendance_reports                0\n"));
    assert_non_null(strstr(text, "\n  attendance_records              231\n"));
    assert_non_null(strstr(text, "\n  mailboxes failed                  2\n"));
    assert_non_null(strstr(text, "\n  duration                      2m05s\n"));
    assert_non_null(strstr(text, "\nFailed mailboxes:\n  a@x.com: HTTP 400: BadRequest (failing "
                                 "since 2026-12-01T08:00:00Z, 3 runs)\n  b@x.com: timeout\n"));
    free(text);
}

static void test_progress__summary_caps_the_list(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    progress_totals t = {0};
    progress_failure failed[PROGRESS_FAILED_MAX + 5];
    for (size_t i = 0; i < sizeof failed / sizeof failed[0]; i++)
        failed[i] = (progress_failure){"m@x.com", "boom", INT64_MIN, 0};
    progress_write_summary(f, &t, failed, sizeof failed / sizeof failed[0]);
    fclose(f);
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, "m@x.com: boom")) != NULL; p++)
        n++;
    assert_int_equal(n, PROGRESS_FAILED_MAX);
    assert_non_null(strstr(text, "... and 5 more"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress__duration),
        cmocka_unit_test(test_progress__line),
        cmocka_unit_test(test_progress__off_when_not_a_terminal),
        cmocka_unit_test(test_progress__summary),
        cmocka_unit_test(test_progress__summary_caps_the_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

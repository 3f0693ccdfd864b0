/* Unit tests for src/util/timeutil: parsing Graph and RFC 3339 times, formatting,
 * calendar arithmetic against values computed independently (date -u +%s). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util/timeutil.h"

#define US(s) ((int64_t)(s)*INT64_C(1000000))

static int64_t parse_ok(const char *s)
{
    int64_t us = 42;
    if (timeutil_parse(s, &us) != 0)
        fail_msg("expected \"%s\" to parse", s);
    return us;
}

static void test_timeutil__graph_forms(void **state)
{
    (void)state;
    /* 2014-11-03T17:00:00Z is 1415034000 (date -u -d ... +%s) */
    assert_int_equal(parse_ok("2014-11-03T17:00:00.0000000"), US(1415034000));
    assert_int_equal(parse_ok("2014-11-03T17:00:00"), US(1415034000));
    assert_int_equal(parse_ok("2014-11-03T17:00:00Z"), US(1415034000));
    /* 7 digits: the 7th is truncated, not rounded */
    assert_int_equal(parse_ok("2021-10-05T04:38:27.6027225Z"), US(1633408707) + 602722);
    assert_int_equal(parse_ok("2021-10-05T04:38:27.9999999Z"), US(1633408707) + 999999);
    assert_int_equal(parse_ok("2021-10-05T04:43:49.77Z"), US(1633409029) + 770000);
    assert_int_equal(parse_ok("2021-10-05T04:38:23.945Z"), US(1633408703) + 945000);
    assert_int_equal(parse_ok("2020-09-29T22:35:31.389759Z"), US(1601418931) + 389759);
    assert_int_equal(parse_ok("2020-09-29T22:35:31.3Z"), US(1601418931) + 300000);
    /* 9 digits (nanoseconds from other systems) are accepted and truncated */
    assert_int_equal(parse_ok("2020-09-29T22:35:31.123456789Z"), US(1601418931) + 123456);
    /* responseStatus.time when there is none */
    assert_int_equal(parse_ok("0001-01-01T00:00:00Z"), US(INT64_C(-62135596800)));
    /* Entra's error timestamp form: a space instead of T */
    assert_int_equal(parse_ok("2016-01-09 02:02:12Z"), US(1452304932));
    assert_int_equal(parse_ok("2016-01-09t02:02:12z"), US(1452304932));
}

static void test_timeutil__offsets(void **state)
{
    (void)state;
    /* 2026-11-01T09:00:00Z = 1793523600 */
    assert_int_equal(parse_ok("2026-11-01T09:00:00Z"), US(1793523600));
    assert_int_equal(parse_ok("2026-11-01T10:30:00+01:30"), US(1793523600));
    assert_int_equal(parse_ok("2026-11-01T04:00:00-05:00"), US(1793523600));
    assert_int_equal(parse_ok("2026-11-01T04:00:00.5-05:00"), US(1793523600) + 500000);
    assert_int_equal(parse_ok("2026-11-01T00:00:00+00:00"), US(1793491200));
    timeutil_parsed info;
    int64_t us;
    assert_int_equal(timeutil_parse_ex("2026-11-01T00:00:00", 19, &us, &info), 0);
    assert_int_equal(info.has_time, 1);
    assert_int_equal(info.has_zone, 0);
    assert_int_equal(timeutil_parse_ex("2026-11-01T00:00:00-01:00", 25, &us, &info), 0);
    assert_int_equal(info.has_zone, 1);
    assert_int_equal(us, US(1793494800));
}

static void test_timeutil__dates(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-01"), US(1793491200));
    assert_int_equal(parse_ok("1970-01-01"), 0);
    assert_int_equal(parse_ok("1969-12-31"), US(-86400));
    assert_int_equal(parse_ok("1900-03-01"), US(INT64_C(-2203891200)));
    assert_int_equal(parse_ok("2000-02-29"), US(951782400));
    assert_int_equal(parse_ok("9999-12-31T23:59:59.999999Z"), US(INT64_C(253402300799)) + 999999);
    timeutil_parsed info;
    int64_t us;
    assert_int_equal(timeutil_parse_ex("2026-11-01", 10, &us, &info), 0);
    assert_int_equal(info.has_time, 0);
    /* not NUL-terminated: only n bytes are read */
    assert_int_equal(timeutil_parse_ex("2026-11-01T09:00:00Zjunk", 20, &us, NULL), 0);
    assert_int_equal(us, US(1793523600));
}

static void test_timeutil__rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2026",
        "2026-11",
        "2026-11-1",
        "2026-13-01",
        "2026-00-01",
        "2026-02-29", /* not a leap year */
        "1900-02-29", /* not a leap year either */
        "2026-04-31",
        "2026-11-01T",
        "2026-11-01T24:00:00Z",
        "2026-11-01T09:60:00Z",
        "2026-11-01T09:00:60Z",
        "2026-11-01T9:00:00Z",
        "2026-11-01T09:00:00.Z",
        "2026-11-01T09:00:00.1234567890Z",
        "2026-11-01T09:00:00ZZ",
        "2026-11-01T09:00:00+0100",
        "2026-11-01T09:00:00+01",
        "2026-11-01T09:00:00+24:00",
        "2026-11-01T09:00:00 ",
        " 2026-11-01T09:00:00",
        "2026-11-01X09:00:00",
        "2026/11/01",
        "+026-11-01",
        "2026-11-01T09:00:00.-1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = 7;
        if (timeutil_parse(bad[i], &us) == 0)
            fail_msg("\"%s\" should not parse", bad[i]);
        assert_int_equal(us, 7);
    }
    int64_t us;
    assert_int_equal(timeutil_parse(NULL, &us), -1);
}

static void test_timeutil__zones(void **state)
{
    (void)state;
    assert_true(timeutil_zone_is_utc("UTC"));
    assert_true(timeutil_zone_is_utc("utc"));
    assert_true(timeutil_zone_is_utc("Etc/UTC"));
    assert_true(timeutil_zone_is_utc("Coordinated Universal Time"));
    assert_true(timeutil_zone_is_utc("tzone://Microsoft/Utc"));
    assert_false(timeutil_zone_is_utc("GMT Standard Time"));
    assert_false(timeutil_zone_is_utc("Pacific Standard Time"));
    assert_false(timeutil_zone_is_utc("Europe/London"));
    assert_false(timeutil_zone_is_utc(""));
    assert_false(timeutil_zone_is_utc(NULL));

    int64_t us = 0;
    assert_int_equal(timeutil_parse_dtz("2014-11-03T17:00:00.0000000", "UTC", &us), TIMEUTIL_OK);
    assert_int_equal(us, US(1415034000));
    assert_int_equal(timeutil_parse_dtz("2014-11-03T17:00:00.0000000", NULL, &us), TIMEUTIL_OK);
    assert_int_equal(
        timeutil_parse_dtz("2019-11-20T13:00:00.0000000", "Pacific Standard Time", &us),
        TIMEUTIL_NOT_UTC);
    assert_int_equal(timeutil_parse_dtz("2019-11-20", "UTC", &us), TIMEUTIL_OK);
    assert_int_equal(timeutil_parse_dtz("yesterday", "UTC", &us), TIMEUTIL_BAD_TIME);
    assert_int_equal(timeutil_parse_dtz(NULL, "UTC", &us), TIMEUTIL_BAD_TIME);
}

static void test_timeutil__format(void **state)
{
    (void)state;
    char b[TIMEUTIL_FMT_MAX];
    assert_int_equal(timeutil_format(US(1793523600), b), 20);
    assert_string_equal(b, "2026-11-01T09:00:00Z");
    timeutil_format(US(1793523600) + 123456, b);
    assert_string_equal(b, "2026-11-01T09:00:00.123456Z");
    timeutil_format(US(1793523600) + 1, b);
    assert_string_equal(b, "2026-11-01T09:00:00.000001Z");
    timeutil_format_us(US(1793523600), b);
    assert_string_equal(b, "2026-11-01T09:00:00.000000Z");
    timeutil_format(-1, b);
    assert_string_equal(b, "1969-12-31T23:59:59.999999Z");
    timeutil_format(US(INT64_C(-62135596800)), b);
    assert_string_equal(b, "0001-01-01T00:00:00Z");
    timeutil_format(US(INT64_C(253402300799)), b);
    assert_string_equal(b, "9999-12-31T23:59:59Z");
    timeutil_format(US(951782400) + US(86399), b);
    assert_string_equal(b, "2000-02-29T23:59:59Z");
    timeutil_format_date(US(1793523600), b);
    assert_string_equal(b, "2026-11-01");
    timeutil_format_date(US(-1), b);
    assert_string_equal(b, "1969-12-31");
    timeutil_format_compact(US(1795887240), b);
    assert_string_equal(b, "20261128T173400Z");
}

static void test_timeutil__rfc1123(void **state)
{
    (void)state;
    char b[TIMEUTIL_FMT_MAX];
    timeutil_format_rfc1123(US(1793523600) + 999, b);
    assert_string_equal(b, "Sun, 01 Nov 2026 09:00:00 GMT");
    timeutil_format_rfc1123(0, b);
    assert_string_equal(b, "Thu, 01 Jan 1970 00:00:00 GMT");
    timeutil_format_rfc1123(US(-86400), b);
    assert_string_equal(b, "Wed, 31 Dec 1969 00:00:00 GMT");
    timeutil_format_rfc1123(US(784111777), b); /* RFC 7231's example */
    assert_string_equal(b, "Sun, 06 Nov 1994 08:49:37 GMT");

    int64_t us = 0;
    assert_int_equal(timeutil_parse_rfc1123("Sun, 06 Nov 1994 08:49:37 GMT", &us), 0);
    assert_int_equal(us, US(784111777));
    assert_int_equal(timeutil_parse_rfc1123("Sun, 06 Nov 1994 08:49:37 UTC", &us), -1);
    assert_int_equal(timeutil_parse_rfc1123("Sun, 31 Feb 1994 08:49:37 GMT", &us), -1);
    assert_int_equal(timeutil_parse_rfc1123("Xyz, 06 Nov 1994 08:49:37 GMT", &us), -1);
    assert_int_equal(timeutil_parse_rfc1123("Sunday, 06-Nov-94 08:49:37 GMT", &us), -1);
}

/* Every day from 1600 to 2400 against the C library (glibc's timegm) and back. */
static void test_timeutil__civil_roundtrip(void **state)
{
    (void)state;
    int64_t first = timeutil_days_from_civil(1600, 1, 1);
    int64_t last = timeutil_days_from_civil(2400, 12, 31);
    for (int64_t d = first; d <= last; d++) {
        int64_t y;
        int m, dd;
        timeutil_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(timeutil_days_from_civil(y, m, dd), d);
        if (d % 97 == 0) {
            struct tm tm = {0};
            tm.tm_year = (int)(y - 1900);
            tm.tm_mon = m - 1;
            tm.tm_mday = dd;
            assert_int_equal((int64_t)timegm(&tm), d * 86400);
        }
    }
}

/* Formatting then parsing gives back the same instant. */
static void test_timeutil__format_parse_roundtrip(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t us = (int64_t)(x % (uint64_t)US(INT64_C(253402300800) + 62135596800)) -
                     US(INT64_C(62135596800));
        char b[TIMEUTIL_FMT_MAX];
        timeutil_format(us, b);
        int64_t back;
        assert_int_equal(timeutil_parse(b, &back), 0);
        assert_int_equal(back, us);
        char r[TIMEUTIL_FMT_MAX];
        timeutil_format_rfc1123(us, r);
        assert_int_equal(timeutil_parse_rfc1123(r, &back), 0);
        int64_t secs = us >= 0 ? us / 1000000 * 1000000 : -((-us + 999999) / 1000000 * 1000000);
        assert_int_equal(back, secs);
    }
}

static void test_timeutil__now(void **state)
{
    (void)state;
    int64_t now = timeutil_now_us();
    int64_t t = (int64_t)time(NULL);
    assert_true(now / 1000000 >= t - 2 && now / 1000000 <= t + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeutil__graph_forms),
        cmocka_unit_test(test_timeutil__offsets),
        cmocka_unit_test(test_timeutil__dates),
        cmocka_unit_test(test_timeutil__rejects),
        cmocka_unit_test(test_timeutil__zones),
        cmocka_unit_test(test_timeutil__format),
        cmocka_unit_test(test_timeutil__rfc1123),
        cmocka_unit_test(test_timeutil__civil_roundtrip),
        cmocka_unit_test(test_timeutil__format_parse_roundtrip),
        cmocka_unit_test(test_timeutil__now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for status: error texts stay valid UTF-8 whatever cuts them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "status.h"

/* "é" is 2 bytes, "😀" 4: cut by a precision inside each, the text stays JSON. */
static void test_status__cut_inside_a_character(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int prec;
        const char *want;
    } cases[] = {
        {"ab\xc3\xa9"
         "cd",
         3, "ab"},
        {"ab\xc3\xa9"
         "cd",
         4, "ab\xc3\xa9"},
        {"x\xf0\x9f\x98\x80y", 2, "x"},
        {"x\xf0\x9f\x98\x80y", 4, "x"},
        {"x\xf0\x9f\x98\x80y", 5, "x\xf0\x9f\x98\x80"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errinfo e = {0};
        err_set(&e, ST_DATA, "bad: %.*s!", cases[i].prec, cases[i].s);
        char want[64];
        snprintf(want, sizeof want, "bad: %s!", cases[i].want);
        assert_string_equal(e.msg, want);
        json_t *j = json_string(e.msg);
        assert_non_null(j); /* jansson takes it */
        json_decref(j);
    }
}

/* A message longer than the record is cut by vsnprintf: still whole characters. */
static void test_status__cut_at_the_end(void **state)
{
    (void)state;
    char big[ERR_MSG_MAX * 2];
    size_t n = 0;
    while (n + 4 < sizeof big - 1) {
        memcpy(big + n, "\xf0\x9f\x98\x80", 4);
        n += 4;
    }
    big[n] = '\0';
    for (int shift = 0; shift < 4; shift++) {
        errinfo e = {0};
        err_set(&e, ST_DATA, "%.*s%s", shift, "xyz", big);
        json_t *j = json_string(e.msg);
        assert_non_null(j);
        json_decref(j);
        errinfo p = {0};
        err_set(&p, ST_DATA, "%s", big);
        err_prefix(&p, "%.*s", shift, "xyz");
        j = json_string(p.msg);
        assert_non_null(j);
        json_decref(j);
    }
}

static void test_status__invalid_bytes_dropped(void **state)
{
    (void)state;
    char s[] = "a\xff"
               "b\xc0\xaf"
               "c\xed\xa0\x80"
               "d\xf4\x90\x80\x80"
               "e";
    err_utf8_repair(s);
    assert_string_equal(s, "abcde");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status__cut_inside_a_character),
        cmocka_unit_test(test_status__cut_at_the_end),
        cmocka_unit_test(test_status__invalid_bytes_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The capped growable buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"

static void test_buf__append_and_cap(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 10);
    errinfo e = {0};
    assert_int_equal(buf_append(&b, "hello", 5, &e), ST_OK);
    assert_int_equal(buf_appendf(&b, &e, "%d%s", 12, "3"), ST_OK);
    assert_string_equal(b.data, "hello123");
    assert_int_equal(b.len, 8);
    assert_int_equal(buf_appends(&b, "abc", &e), ST_TOO_LARGE);
    assert_string_equal(b.data, "hello123"); /* unchanged */
    assert_non_null(strstr(e.msg, "cap"));
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_dispose(&b);
    buf_dispose(&b); /* safe to repeat */
}

static void test_buf__grows_and_takes(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_append(&b, "0123456789", 10, NULL), ST_OK);
    assert_int_equal(b.len, 100000);
    assert_int_equal(b.data[b.len], '\0');
    char *p = buf_take(&b);
    assert_int_equal(strlen(p), 100000);
    assert_null(b.data);
    free(p);
    p = buf_take(&b); /* an empty buffer gives an empty string */
    assert_string_equal(p, "");
    free(p);
}

static void test_buf__overflow_checked(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 0);
    errinfo e = {0};
    assert_int_equal(buf_append(&b, "x", 1, &e), ST_OK);
    assert_int_equal(buf_reserve(&b, SIZE_MAX, &e), ST_TOO_LARGE);
    buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf__append_and_cap),
        cmocka_unit_test(test_buf__grows_and_takes),
        cmocka_unit_test(test_buf__overflow_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

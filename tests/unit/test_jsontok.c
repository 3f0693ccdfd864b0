/* Unit tests for src/util/jsontok: token layout (subtree ends, member counts),
 * in-place string decoding (escapes, surrogate pairs, UTF-8 kept), numbers at the
 * int64 and double limits, what is refused (each with jansson's verdict on the same
 * text as the ground truth), the depth limit, repeated keys, error positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "util/jsontok.h"

/* Tokenizes a copy of text (kept in *copy for the caller to free). */
static status tok(jsontok_doc *d, const char *text, size_t len, unsigned flags, char **copy,
                  errinfo *err)
{
    *copy = malloc(len + 1);
    assert_non_null(*copy);
    memcpy(*copy, text, len);
    (*copy)[len] = 'X'; /* not a terminator: the length is what counts */
    jsontok_init(d);
    return jsontok_parse(d, *copy, len, flags, err);
}

static int jansson_accepts(const char *text, size_t len, size_t flags)
{
    json_t *j = json_loadb(text, len, flags, NULL);
    json_decref(j);
    return j != NULL;
}

static void test_jsontok__layout(void **state)
{
    (void)state;
    const char *text = " {\"a\": [1, {\"b\": null}, \"x\"], \"c\": {}, \"d\": true, \"e\": [] }\n";
    jsontok_doc d;
    char *copy;
    errinfo err = {0};
    assert_int_equal(tok(&d, text, strlen(text), 0, &copy, &err), ST_OK);
    /* { a [ 1 { b null } x ] c { } d true e [ ] } */
    static const uint8_t types[] = {
        JSONTOK_OBJECT, JSONTOK_STRING, JSONTOK_ARRAY,  JSONTOK_INT,    JSONTOK_OBJECT,
        JSONTOK_STRING, JSONTOK_NULL,   JSONTOK_STRING, JSONTOK_STRING, JSONTOK_OBJECT,
        JSONTOK_STRING, JSONTOK_TRUE,   JSONTOK_STRING, JSONTOK_ARRAY,
    };
    static const uint32_t ends[] = {14, 2, 8, 4, 7, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    assert_int_equal(d.ntok, 14);
    for (size_t i = 0; i < 14; i++) {
        assert_int_equal(d.tok[i].type, types[i]);
        assert_int_equal(d.tok[i].end, ends[i]);
    }
    assert_int_equal(d.tok[0].len, 4); /* members */
    assert_int_equal(d.tok[2].len, 3); /* elements */
    assert_int_equal(d.tok[9].len, 0);
    assert_int_equal(d.tok[13].len, 0);
    assert_string_equal(jsontok_str(&d, 7), "x");
    assert_int_equal(jsontok_member(&d, 0, "a", 1), 2);
    assert_int_equal(jsontok_member(&d, 0, "e", 1), 13);
    assert_int_equal(jsontok_member(&d, 0, "f", 1), JSONTOK_NONE);
    assert_int_equal(jsontok_member(&d, 0, "", 0), JSONTOK_NONE);
    assert_int_equal(jsontok_member(&d, 4, "b", 1), 6);
    assert_int_equal(jsontok_member(&d, 2, "b", 1), JSONTOK_NONE); /* not an object */
    assert_int_equal(jsontok_member(&d, JSONTOK_NONE, "b", 1), JSONTOK_NONE);
    assert_int_equal(jsontok_int(&d, 3), 1);
    jsontok_dispose(&d);
    jsontok_dispose(&d); /* safe to repeat */
    free(copy);
}

static void test_jsontok__strings(void **state)
{
    (void)state;
    const char *text =
        "[\"plain\", \"\", \"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\","
        "\"\\ud83d\\ude00!\", \"Fr\xc3\xa9\x64\xc3\xa9rick \xe7\x8e\x8b \xf0\x9f\x99\x82\","
        "\"long run of plain ASCII text before an escape\\nand after it\"]";
    jsontok_doc d;
    char *copy;
    errinfo err = {0};
    assert_int_equal(tok(&d, text, strlen(text), 0, &copy, &err), ST_OK);
    assert_int_equal(d.ntok, 8);
    static const char *want[] = {
        "plain",
        "",
        "q\"b\\s/\b\f\n\r\t",
        "\xc3\xa9\xe2\x82\xac",
        "\xf0\x9f\x98\x80!",
        "Fr\xc3\xa9\x64\xc3\xa9rick \xe7\x8e\x8b \xf0\x9f\x99\x82",
        "long run of plain ASCII text before an escape\nand after it",
    };
    for (uint32_t i = 0; i < 7; i++) {
        assert_int_equal(d.tok[i + 1].type, JSONTOK_STRING);
        assert_int_equal(d.tok[i + 1].len, strlen(want[i]));
        assert_string_equal(jsontok_str(&d, i + 1), want[i]);
    }
    jsontok_dispose(&d);
    free(copy);

    /* \u0000 only in values, only when allowed */
    const char *nul = "{\"k\": \"a\\u0000b\"}";
    assert_int_equal(tok(&d, nul, strlen(nul), 0, &copy, &err), ST_JSON);
    assert_false(jansson_accepts(nul, strlen(nul), 0));
    jsontok_dispose(&d);
    free(copy);
    assert_int_equal(tok(&d, nul, strlen(nul), JSONTOK_ALLOW_NUL, &copy, &err), ST_OK);
    assert_int_equal(d.tok[2].len, 3);
    assert_memory_equal(jsontok_str(&d, 2), "a\0b", 4);
    jsontok_dispose(&d);
    free(copy);
    const char *nulkey = "{\"a\\u0000\": 1}";
    assert_int_equal(tok(&d, nulkey, strlen(nulkey), JSONTOK_ALLOW_NUL, &copy, &err), ST_JSON);
    assert_false(jansson_accepts(nulkey, strlen(nulkey), JSON_ALLOW_NUL));
    jsontok_dispose(&d);
    free(copy);
}

static void test_jsontok__numbers(void **state)
{
    (void)state;
    const char *text = "[0, -0, 42, -7, 9223372036854775807, -9223372036854775808, 1.5, -2.5e3,"
                       " 1E+2, 1e-400, 1152.0]";
    jsontok_doc d;
    char *copy;
    errinfo err = {0};
    assert_int_equal(tok(&d, text, strlen(text), 0, &copy, &err), ST_OK);
    assert_int_equal(d.tok[1].type, JSONTOK_INT);
    assert_int_equal(jsontok_int(&d, 1), 0);
    assert_int_equal(jsontok_int(&d, 2), 0);
    assert_int_equal(jsontok_int(&d, 3), 42);
    assert_int_equal(jsontok_int(&d, 4), -7);
    assert_true(jsontok_int(&d, 5) == INT64_MAX);
    assert_true(jsontok_int(&d, 6) == INT64_MIN);
    for (uint32_t i = 7; i <= 11; i++)
        assert_int_equal(d.tok[i].type, JSONTOK_REAL);
    assert_true(jsontok_real(&d, 7) == 1.5);
    assert_true(jsontok_real(&d, 8) == -2500.0);
    assert_true(jsontok_real(&d, 9) == 100.0);
    assert_true(jsontok_real(&d, 10) == 0.0);
    assert_true(jsontok_real(&d, 11) == 1152.0);
    jsontok_dispose(&d);
    free(copy);

    /* a real longer than any small buffer reads as strtod reads it alone */
    char longnum[200];
    memset(longnum, 0, sizeof longnum);
    longnum[0] = '[';
    memset(longnum + 1, '7', 120);
    memcpy(longnum + 121, ".25e-3]", 7);
    assert_int_equal(tok(&d, longnum, strlen(longnum), 0, &copy, &err), ST_OK);
    assert_int_equal(d.tok[1].type, JSONTOK_REAL);
    assert_int_equal(d.tok[1].len, 126);
    longnum[127] = '\0';
    assert_true(jsontok_real(&d, 1) == strtod(longnum + 1, NULL));
    jsontok_dispose(&d);
    free(copy);
}

static void test_jsontok__refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "   ",
        "1",
        "\"a\"",
        "null",
        "[]x",
        "[1] [2]",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{1:1}",
        "[01]",
        "[-01]",
        "[1.]",
        "[.5]",
        "[-]",
        "[1e]",
        "[1e+]",
        "[+1]",
        "[9223372036854775808]",
        "[-9223372036854775809]",
        "[12345678901234567890]",
        "[1e400]",
        "[-1e400]",
        "[tru]",
        "[nul]",
        "[True]",
        "[\"\\x\"]",
        "[\"\\u12\"]",
        "[\"\\ud800\"]",
        "[\"\\udc00\"]",
        "[\"\\ud800\\u0041\"]",
        "[\"\\uD800\\uDBFF\"]",
        "[\"a\tb\"]",
        "[\"\xc0\x80\"]",
        "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]",
        "[\"\xe2\x82\"]",
        "[\"\x80\"]",
        "[\"\xff\"]",
        "\xef\xbb\xbf[]",
        "[1.5",
        "[\"unterminated",
        "[\"unterminated\\",
        "{\"a\":[1,2",
        "[1}",
        "{\"a\":1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jsontok_doc d;
        char *copy;
        errinfo err = {0};
        size_t len = strlen(bad[i]);
        if (tok(&d, bad[i], len, 0, &copy, &err) != ST_JSON)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(d.ntok, 0);
        assert_true(strstr(err.msg, "line 1, column") != NULL);
        if (jansson_accepts(bad[i], len, 0))
            fail_msg("jansson accepts: %s", bad[i]);
        jsontok_dispose(&d);
        free(copy);
    }
    /* a raw NUL byte is never accepted (jansson drops one after a number) */
    jsontok_doc d;
    char *copy;
    errinfo err = {0};
    assert_int_equal(tok(&d, "[5\0]", 4, 0, &copy, &err), ST_JSON);
    jsontok_dispose(&d);
    free(copy);
    assert_int_equal(tok(&d, "[1]\0", 4, 0, &copy, &err), ST_JSON);
    free(copy);
    jsontok_dispose(&d);
}

static void test_jsontok__depth(void **state)
{
    (void)state;
    size_t n = JSONTOK_MAX_DEPTH;
    char *text = malloc(2 * n + 2);
    assert_non_null(text);
    for (size_t scalar = 0; scalar < 2; scalar++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            text[k++] = '[';
        if (scalar)
            text[k++] = '1';
        for (size_t i = 0; i < n; i++)
            text[k++] = ']';
        jsontok_doc d;
        char *copy;
        errinfo err = {0};
        /* 2048 containers are fine, a value inside the innermost is one too deep */
        status want = scalar ? ST_JSON : ST_OK;
        assert_int_equal(tok(&d, text, k, 0, &copy, &err), want);
        assert_int_equal(jansson_accepts(text, k, 0), want == ST_OK);
        if (want == ST_OK) {
            assert_int_equal(d.ntok, n);
            assert_int_equal(d.tok[0].end, n);
            assert_int_equal(d.tok[n - 1].end, n);
        } else {
            assert_non_null(strstr(err.msg, "too deep"));
        }
        jsontok_dispose(&d);
        free(copy);
    }
    free(text);

    /* JSONTOK_ANY_DEPTH: no limit (the stack moves to the heap) */
    n = 5000;
    text = malloc(2 * n + 1);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++) {
        text[i] = '[';
        text[2 * n - i] = ']';
    }
    text[n] = '7';
    jsontok_doc d;
    char *copy;
    errinfo err = {0};
    assert_int_equal(tok(&d, text, 2 * n + 1, 0, &copy, &err), ST_JSON);
    jsontok_dispose(&d);
    free(copy);
    assert_int_equal(tok(&d, text, 2 * n + 1, JSONTOK_ANY_DEPTH, &copy, &err), ST_OK);
    assert_int_equal(d.ntok, n + 1);
    assert_int_equal(d.tok[n].type, JSONTOK_INT);
    assert_int_equal(d.tok[0].end, n + 1);
    jsontok_dispose(&d);
    free(copy);
    free(text);
}

static void test_jsontok__repeated_keys(void **state)
{
    (void)state;
    const char *text = "{\"a\": 1, \"b\": {\"x\": 1}, \"a\": [2], \"ab\": 3}";
    jsontok_doc d;
    char *copy;
    errinfo err = {0};
    assert_int_equal(tok(&d, text, strlen(text), 0, &copy, &err), ST_OK);
    assert_int_equal(d.tok[0].len, 4);
    uint32_t a = jsontok_member(&d, 0, "a", 1);
    assert_int_equal(d.tok[a].type, JSONTOK_ARRAY); /* the last one, as jansson */
    json_t *j = json_loads(text, 0, NULL);
    assert_true(json_is_array(json_object_get(j, "a")));
    json_decref(j);
    assert_int_equal(jsontok_int(&d, jsontok_member(&d, 0, "ab", 2)), 3);
    jsontok_dispose(&d);
    free(copy);
}

static void test_jsontok__error_position(void **state)
{
    (void)state;
    const char *text = "{\n  \"a\": \"x\\ny\",\n  \"b\": tru\n}";
    jsontok_doc d;
    char *copy;
    errinfo err = {0};
    assert_int_equal(tok(&d, text, strlen(text), 0, &copy, &err), ST_JSON);
    /* the decoded \n in "x\ny" does not count as a line */
    assert_non_null(strstr(err.msg, "line 3, column 8 (byte 24)"));
    free(copy);

    /* a doc is reused: a good parse after a failed one */
    const char *good = "[\"again\"]";
    copy = malloc(strlen(good));
    assert_non_null(copy);
    memcpy(copy, good, strlen(good));
    assert_int_equal(jsontok_parse(&d, copy, strlen(good), 0, &err), ST_OK);
    assert_int_equal(d.ntok, 2);
    assert_string_equal(jsontok_str(&d, 1), "again");
    jsontok_dispose(&d);
    free(copy);
}

/* Written back compact: escapes as jansson writes them, UTF-8 and numbers as they
 * were (but -0 as 0), every container closed, NUL kept as \u0000. */
static void test_jsontok__write(void **state)
{
    (void)state;
    const char *text =
        "{ \"a\\/b\" : [1, -0, 2.50e1, true, false, null, [], {}, [[{}]]],\n"
        "  \"s\": \"q\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001F\\u00e9\u00e9\\ud83d\\ude00\\u0000\",\n"
        "  \"\" : {\"x\": {\"y\": \"\"}}, \"a\\/b\": 7 }";
    const char *want =
        "{\"a/b\":[1,0,2.50e1,true,false,null,[],{},[[{}]]],"
        "\"s\":\"q\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001F\u00e9\u00e9\xf0\x9f\x98\x80\\u0000\","
        "\"\":{\"x\":{\"y\":\"\"}},\"a/b\":7}";
    jsontok_doc d;
    char *copy;
    errinfo err = {0};
    assert_int_equal(tok(&d, text, strlen(text), JSONTOK_ALLOW_NUL, &copy, &err), ST_OK);
    buf out;
    buf_init(&out, 0);
    assert_int_equal(buf_appends(&out, "[", &err), ST_OK); /* it appends */
    assert_int_equal(jsontok_write(&d, 0, &out, &err), ST_OK);
    assert_string_equal(out.data + 1, want);
    assert_int_equal(out.len, 1 + strlen(want));
    /* one value inside the document: the "x" object */
    buf_reset(&out);
    uint32_t x = jsontok_member(&d, jsontok_member(&d, 0, "", 0), "x", 1);
    assert_int_equal(jsontok_write(&d, x, &out, &err), ST_OK);
    assert_string_equal(out.data, "{\"y\":\"\"}");
    /* a full buffer says so */
    buf small;
    buf_init(&small, 8);
    assert_int_equal(jsontok_write(&d, 0, &small, &err), ST_TOO_LARGE);
    buf_dispose(&small);
    buf_dispose(&out);
    jsontok_dispose(&d);
    free(copy);
}

/* Without some members: every member of a listed key goes (a repeated one too),
 * the others stay in order with nested objects whole; a value that is not an object
 * is written whole. */
static void test_jsontok__write_except(void **state)
{
    (void)state;
    const char *text = "{\"a\":1,\"drop\":{\"drop\":2},\"b\":{\"drop\":3},\"drop\":4,\"dropped\":5,"
                       "\"x\":6}";
    static const char *const keys[] = {"drop", "x"};
    jsontok_doc d;
    char *copy;
    errinfo err = {0};
    assert_int_equal(tok(&d, text, strlen(text), 0, &copy, &err), ST_OK);
    buf out;
    buf_init(&out, 0);
    assert_int_equal(jsontok_write_except(&d, 0, keys, 2, &out, &err), ST_OK);
    assert_string_equal(out.data, "{\"a\":1,\"b\":{\"drop\":3},\"dropped\":5}");
    buf_reset(&out);
    assert_int_equal(jsontok_write_except(&d, 0, keys, 0, &out, &err), ST_OK);
    assert_string_equal(out.data, "{\"a\":1,\"drop\":{\"drop\":2},\"b\":{\"drop\":3},\"drop\":4,"
                                  "\"dropped\":5,\"x\":6}");
    jsontok_dispose(&d);
    free(copy);
    const char *arr = "[{\"drop\":1}]";
    assert_int_equal(tok(&d, arr, strlen(arr), 0, &copy, &err), ST_OK);
    buf_reset(&out);
    assert_int_equal(jsontok_write_except(&d, 0, keys, 2, &out, &err), ST_OK);
    assert_string_equal(out.data, "[{\"drop\":1}]");
    buf_reset(&out);
    assert_int_equal(jsontok_write_except(&d, jsontok_first(0), keys, 2, &out, &err), ST_OK);
    assert_string_equal(out.data, "{}");
    buf_dispose(&out);
    jsontok_dispose(&d);
    free(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsontok__layout),
        cmocka_unit_test(test_jsontok__strings),
        cmocka_unit_test(test_jsontok__numbers),
        cmocka_unit_test(test_jsontok__refused),
        cmocka_unit_test(test_jsontok__depth),
        cmocka_unit_test(test_jsontok__repeated_keys),
        cmocka_unit_test(test_jsontok__error_position),
        cmocka_unit_test(test_jsontok__write),
        cmocka_unit_test(test_jsontok__write_except),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

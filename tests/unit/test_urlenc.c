/* Unit tests for src/util/urlenc: percent-encoding, the OData literal of the
 * onlineMeetings $filter (Microsoft's documented example, byte for byte), the
 * {upn} folder name, form fields, base64 (RFC 4648 test vectors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/urlenc.h"

typedef status (*enc_fn)(buf *, const char *, errinfo *);

static void check_enc(enc_fn fn, const char *in, const char *want)
{
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(fn(&b, in, &err), ST_OK);
    assert_string_equal(b.data, want);
    assert_int_equal(b.len, strlen(want));
    buf_dispose(&b);
}

static void test_urlenc__query(void **state)
{
    (void)state;
    check_enc(urlenc_query, "", "");
    check_enc(urlenc_query, "AZaz09-._~", "AZaz09-._~");
    check_enc(urlenc_query, "a b&c=d/e?f#g+h%i'j@k", "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25i%27j%40k");
    check_enc(urlenc_query, "https://graph.microsoft.com/.default",
              "https%3A%2F%2Fgraph.microsoft.com%2F.default");
    check_enc(urlenc_query, "\xc3\xa9\x01\xff", "%C3%A9%01%FF");
    check_enc(urlenc_path_segment, "Ann.Lee@contoso.com", "Ann.Lee@contoso.com");
    check_enc(urlenc_path_segment, "a/b c'd#e?f", "a%2Fb%20c%27d%23e%3Ff");
    /* no dot segment can form from an id or a UPN */
    check_enc(urlenc_path_segment, ".", "%2E");
    check_enc(urlenc_path_segment, "..", "%2E%2E");
    check_enc(urlenc_path_segment, "...", "...");
    check_enc(urlenc_path_segment, "a..b", "a..b");

    /* appends to what is there */
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(buf_appends(&b, "x=", &err), ST_OK);
    assert_int_equal(urlenc_query_n(&b, "a b c", 3, &err), ST_OK);
    assert_string_equal(b.data, "x=a%20b");
    buf_dispose(&b);
}

/* microsoft-graph.md section 3.1: the app-token example of onlinemeeting-get. */
static void test_urlenc__odata_join_url_doc_example(void **state)
{
    (void)state;
    const char *join =
        "https://teams.microsoft.com/l/meetup-join/"
        "19%3ameeting_MGQ4MDQyNTEtNTQ2NS00YjQxLTlkM2EtZWVkODYxODYzMmY2%40thread.v2/0?context=%7b%"
        "22Tid%22%3a%22909c6581-5130-43e9-88f3-fcb3582cde37%22%2c%22Oid%22%3a%22dc17674c-81d9-"
        "4adb-bfb2-8f6a442e4622%22%7d";
    const char *want =
        "https://graph.microsoft.com/v1.0/users/dc17674c-81d9-4adb-bfb2-8f6a442e4622/"
        "onlineMeetings?$filter=JoinWebUrl%20eq%20'https%3A%2F%2Fteams.microsoft.com%2Fl%"
        "2Fmeetup-join%2F19%253ameeting_MGQ4MDQyNTEtNTQ2NS00YjQxLTlkM2EtZWVkODYxODYzMmY2%"
        "2540thread.v2%2F0%3Fcontext%3D%257b%2522Tid%2522%253a%2522909c6581-5130-43e9-88f3-"
        "fcb3582cde37%2522%252c%2522Oid%2522%253a%2522dc17674c-81d9-4adb-bfb2-8f6a442e4622%"
        "2522%257d'";
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(buf_appends(&b,
                                 "https://graph.microsoft.com/v1.0/users/"
                                 "dc17674c-81d9-4adb-bfb2-8f6a442e4622/onlineMeetings?$filter="
                                 "JoinWebUrl%20eq%20",
                                 &err),
                     ST_OK);
    assert_int_equal(urlenc_odata_string(&b, join, &err), ST_OK);
    assert_string_equal(b.data, want);

    /* decoding the value once gives back the quoted join URL */
    const char *q = strchr(b.data, '\'');
    buf d;
    buf_init(&d, 0);
    assert_int_equal(urlenc_decode(&d, q, strlen(q), 0, &err), ST_OK);
    assert_int_equal(d.len, strlen(join) + 2);
    assert_memory_equal(d.data + 1, join, strlen(join));
    buf_dispose(&d);
    buf_dispose(&b);
}

static void test_urlenc__odata_quote_doubled(void **state)
{
    (void)state;
    check_enc(urlenc_odata_string, "", "''");
    check_enc(urlenc_odata_string, "it's", "'it%27%27s'");
    check_enc(urlenc_odata_string, "'", "'%27%27'");
    check_enc(urlenc_odata_string, "a''b c", "'a%27%27%27%27b%20c'");
}

static void test_urlenc__upn_folder(void **state)
{
    (void)state;
    check_enc(urlenc_upn_folder, "Ann.Lee@Contoso.com", "ann.lee@contoso.com");
    check_enc(urlenc_upn_folder, "a_b-c@x.io", "a_b-c@x.io");
    check_enc(urlenc_upn_folder, "Ann+X@Contoso.com", "ann%2Bx@contoso.com");
    check_enc(urlenc_upn_folder, "a/b=c d~e#f", "a%2Fb%3Dc%20d%7Ee%23f");
    check_enc(urlenc_upn_folder, "J\xc3\x96rg@x.de", "j%C3%96rg@x.de");
    check_enc(urlenc_upn_folder, "%41", "%2541");
}

static void test_urlenc__form(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(urlenc_form_field(&b, "client_id", "535fb089", &err), ST_OK);
    assert_int_equal(urlenc_form_field(&b, "scope", "https://graph.microsoft.com/.default", &err),
                     ST_OK);
    assert_int_equal(urlenc_form_field(&b, "client_secret", "a+b/c=d&e f~", &err), ST_OK);
    assert_string_equal(b.data, "client_id=535fb089&scope=https%3A%2F%2Fgraph.microsoft.com%2F."
                                "default&client_secret=a%2Bb%2Fc%3Dd%26e%20f~");
    buf_dispose(&b);
}

static void test_urlenc__decode(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(urlenc_decode(&b, "a%20b+c%2b%7e", 13, 1, &err), ST_OK);
    assert_string_equal(b.data, "a b c+~");
    buf_reset(&b);
    assert_int_equal(urlenc_decode(&b, "a+b", 3, 0, &err), ST_OK);
    assert_string_equal(b.data, "a+b");
    static const char *const bad[] = {"%", "%2", "a%zz", "%g0", "abc%4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errinfo e = {0};
        buf_reset(&b);
        assert_int_equal(urlenc_decode(&b, bad[i], strlen(bad[i]), 0, &e), ST_DATA);
        assert_int_equal(e.code, ST_DATA);
    }
    /* a decode stops at n, even inside an escape */
    buf_reset(&b);
    assert_int_equal(urlenc_decode(&b, "ab%41", 4, 0, &err), ST_DATA);
    buf_dispose(&b);
}

static void test_urlenc__base64_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10 */
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    for (size_t i = 0; i < 7; i++) {
        buf_reset(&b);
        assert_int_equal(urlenc_base64(&b, in[i], strlen(in[i]), &err), ST_OK);
        assert_string_equal(b.data ? b.data : "", std[i]);
        buf_reset(&b);
        assert_int_equal(urlenc_base64url(&b, in[i], strlen(in[i]), &err), ST_OK);
        assert_string_equal(b.data ? b.data : "", url[i]);
        buf_reset(&b);
        assert_int_equal(urlenc_base64_decode(&b, std[i], strlen(std[i]), &err), ST_OK);
        assert_int_equal(b.len, strlen(in[i]));
        assert_memory_equal(b.data ? b.data : "", in[i], b.len);
        buf_reset(&b);
        assert_int_equal(urlenc_base64_decode(&b, url[i], strlen(url[i]), &err), ST_OK);
        assert_int_equal(b.len, strlen(in[i]));
        assert_memory_equal(b.data ? b.data : "", in[i], b.len);
    }
    /* the two alphabets differ on 62 and 63 */
    const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    buf_reset(&b);
    assert_int_equal(urlenc_base64(&b, hi, 3, &err), ST_OK);
    assert_string_equal(b.data, "+/+/");
    buf_reset(&b);
    assert_int_equal(urlenc_base64url(&b, hi, 3, &err), ST_OK);
    assert_string_equal(b.data, "-_-_");
    buf_dispose(&b);
}

static void test_urlenc__base64_roundtrip_and_errors(void **state)
{
    (void)state;
    unsigned char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    buf e, d;
    buf_init(&e, 0);
    buf_init(&d, 0);
    errinfo err = {0};
    for (size_t n = 0; n < sizeof data; n++) {
        buf_reset(&e);
        buf_reset(&d);
        assert_int_equal(urlenc_base64url(&e, data, n, &err), ST_OK);
        assert_int_equal(urlenc_base64_decode(&d, e.data ? e.data : "", e.len, &err), ST_OK);
        assert_int_equal(d.len, n);
        if (n)
            assert_memory_equal(d.data, data, n);
    }
    static const char *const bad[] = {"Z", "Zg=", "Zm9v=", "Zm 9v", "Zm9v!A==", "Zg===", "=Zg="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errinfo x = {0};
        buf_reset(&d);
        if (urlenc_base64_decode(&d, bad[i], strlen(bad[i]), &x) != ST_DATA)
            fail_msg("\"%s\" should not decode", bad[i]);
    }
    buf_dispose(&e);
    buf_dispose(&d);
}

static void test_urlenc__cap(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 8);
    errinfo err = {0};
    assert_int_equal(urlenc_query(&b, "a b c", &err), ST_TOO_LARGE);
    assert_int_equal(b.len, 0);
    buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlenc__query),
        cmocka_unit_test(test_urlenc__odata_join_url_doc_example),
        cmocka_unit_test(test_urlenc__odata_quote_doubled),
        cmocka_unit_test(test_urlenc__upn_folder),
        cmocka_unit_test(test_urlenc__form),
        cmocka_unit_test(test_urlenc__decode),
        cmocka_unit_test(test_urlenc__base64_vectors),
        cmocka_unit_test(test_urlenc__base64_roundtrip_and_errors),
        cmocka_unit_test(test_urlenc__cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

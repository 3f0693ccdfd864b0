/* Shared Key: the worked examples that Azurite 3.35.0 accepted, byte for byte
 * (string-to-sign and signature), plus the edge rules of the canonical form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "store/sharedkey.h"

#define DEVKEY                                                                                     \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define BASE "http://127.0.0.1:10000/devstoreaccount1"
#define DATE "Mon, 01 Jan 2024 00:00:00 GMT"

static struct curl_slist *list(const char *first, ...)
{
    struct curl_slist *l = NULL;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        l = curl_slist_append(l, s);
    va_end(ap);
    return l;
}

/* Signs one request and compares both the string-to-sign and the signature. */
static void check(const char *method, const char *url, struct curl_slist *headers,
                  size_t content_length, const char *want_sts, const char *want_sig)
{
    unsigned char key[SHAREDKEY_KEY_MAX];
    size_t keylen;
    errinfo err = {0};
    assert_int_equal(sharedkey_key_decode(DEVKEY, key, &keylen, &err), ST_OK);
    struct curl_slist *extra = list("x-ms-date: " DATE, NULL);
    buf sts;
    buf_init(&sts, 0);
    assert_int_equal(sharedkey_string_to_sign(method, url, headers, extra, content_length,
                                              "devstoreaccount1", &sts, &err),
                     ST_OK);
    assert_string_equal(sts.data, want_sts);
    char sig[SHAREDKEY_SIG_MAX];
    assert_int_equal(sharedkey_sign(key, keylen, sts.data, sts.len, sig, &err), ST_OK);
    if (want_sig)
        assert_string_equal(sig, want_sig);
    buf_dispose(&sts);
    curl_slist_free_all(extra);
    curl_slist_free_all(headers);
}

static void test_sharedkey__create_container(void **state)
{
    (void)state;
    check("PUT", BASE "/snap?restype=container",
          list("x-ms-version: 2021-08-06", "Content-Type:", "Expect:", NULL), 0,
          "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\nx-ms-version:"
          "2021-08-06\n/devstoreaccount1/devstoreaccount1/snap\nrestype:container",
          "D3pewIH5RwrsNmjg9J15MD0m9xIj1kCA/UzSB4JYR4M=");
}

static void test_sharedkey__put_blob_if_none_match(void **state)
{
    (void)state;
    check("PUT", BASE "/snap/dir/x.json",
          list("x-ms-version: 2021-08-06", "x-ms-blob-type: BlockBlob",
               "Content-MD5: RYj/N5e3jYGdhY+jvdgrCQ==", "Content-Type: application/json",
               "If-None-Match: *", NULL),
          8,
          "PUT\n\n\n8\nRYj/N5e3jYGdhY+jvdgrCQ==\napplication/json\n\n\n\n*\n\n\nx-ms-blob-type:"
          "BlockBlob\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\nx-ms-version:2021-08-06\n/"
          "devstoreaccount1/devstoreaccount1/snap/dir/x.json",
          "O9LZfZ6yxA0wY1+1+7Z/Nf61BOqPvYMxSk9Dy21u7IU=");
}

static void test_sharedkey__list_blobs_decodes_query(void **state)
{
    (void)state;
    check("GET", BASE "/snap?restype=container&comp=list&prefix=dt%3D2024-01-01%2F&delimiter=%2F",
          list("x-ms-version: 2021-08-06", NULL), 0,
          "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\nx-ms-version:"
          "2021-08-06\n/devstoreaccount1/devstoreaccount1/snap\ncomp:list\ndelimiter:/\nprefix:dt="
          "2024-01-01/\nrestype:container",
          "yKqpjy2+xlAD+IbWMJBz3YpR0Ubs79gckbGd1+zcsWo=");
}

static void test_sharedkey__put_block(void **state)
{
    (void)state;
    check("PUT", BASE "/snap/big.parquet?comp=block&blockid=YmxvY2stMDAwMDAx",
          list("x-ms-version: 2021-08-06", NULL), 10,
          "PUT\n\n\n10\n\n\n\n\n\n\n\n\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\nx-ms-version:"
          "2021-08-06\n/devstoreaccount1/devstoreaccount1/snap/big.parquet\nblockid:"
          "YmxvY2stMDAwMDAx\ncomp:block",
          "Cl/5EK0vvLBZTtcqvIsNexu0m91zWbZYid6rd0p5oR4=");
}

static void test_sharedkey__encoded_path_signed_as_sent(void **state)
{
    (void)state;
    check("PUT", BASE "/snap/dt=2024-01-01/part%201%20%C3%A9.parquet",
          list("x-ms-version: 2025-11-05", "x-ms-blob-type: BlockBlob", NULL), 1,
          "PUT\n\n\n1\n\n\n\n\n\n\n\n\nx-ms-blob-type:BlockBlob\nx-ms-date:Mon, 01 Jan 2024 "
          "00:00:00 GMT\nx-ms-version:2025-11-05\n/devstoreaccount1/devstoreaccount1/snap/"
          "dt=2024-01-01/part%201%20%C3%A9.parquet",
          "Y4EP6Vx8GlCBuiveITMEKUw/sWNWrM7utrR0Z6OyAgk=");
}

/* Header names are lower-cased and sorted, values trimmed and folded; a removed
 * header ("Name:") is not signed, an empty one ("Name;") is. */
static void test_sharedkey__header_rules(void **state)
{
    (void)state;
    check("GET", "https://acct.blob.core.windows.net/c/b",
          list("X-MS-Version:   2021-08-06  ", "x-ms-meta-a:  one   two ", "x-ms-empty;",
               "x-ms-removed:", "If-Match: \"0x1\"", "Range: bytes=0-9", NULL),
          0,
          "GET\n\n\n\n\n\n\n\n\"0x1\"\n\n\nbytes=0-9\nx-ms-date:Mon, 01 Jan 2024 00:00:00 "
          "GMT\nx-ms-empty:\nx-ms-meta-a:one two\nx-ms-version:2021-08-06\n/devstoreaccount1/c/b",
          NULL);
}

/* A URL without a path signs "/"; repeated query names join sorted values. */
static void test_sharedkey__query_rules(void **state)
{
    (void)state;
    check("GET", "https://acct.blob.core.windows.net?comp=list&B=2&b=1&flag", NULL, 0,
          "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\n"
          "/devstoreaccount1/\nb:1,2\ncomp:list\nflag:",
          NULL);
}

static void test_sharedkey__date_header_blank_with_x_ms_date(void **state)
{
    (void)state;
    check("DELETE", "https://a.blob.core.windows.net/c/b",
          list("Date: Tue, 02 Jan 2024 00:00:00 GMT", NULL), 0,
          "DELETE\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\n"
          "/devstoreaccount1/c/b",
          NULL);
}

static void test_sharedkey__key_decode(void **state)
{
    (void)state;
    unsigned char key[SHAREDKEY_KEY_MAX];
    size_t len;
    errinfo err = {0};
    assert_int_equal(sharedkey_key_decode(DEVKEY, key, &len, &err), ST_OK);
    assert_int_equal(len, 64);
    assert_int_equal(key[0], 0x11);
    assert_int_equal(key[63], 0x1b);
    assert_int_equal(sharedkey_key_decode("YWJj", key, &len, &err), ST_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(key, "abc", 3);
    assert_int_equal(sharedkey_key_decode("YWI=", key, &len, &err), ST_OK);
    assert_int_equal(len, 2);
    assert_int_equal(sharedkey_key_decode("YQ==", key, &len, &err), ST_OK);
    assert_int_equal(len, 1);

    static const char *bad[] = {"", "YWJ", "YW=j", "Y===", "YWJj!A==", "not a key at all"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        assert_int_equal(sharedkey_key_decode(bad[i], key, &len, &err), ST_CONFIG);
        assert_null(strstr(err.msg, bad[i][0] ? bad[i] : "\x01"));
    }
}

static void test_sharedkey__date_format(void **state)
{
    (void)state;
    char d[SHAREDKEY_DATE_MAX];
    sharedkey_date(1704067200, d);
    assert_string_equal(d, DATE);
    sharedkey_date(951782400 + 86399, d); /* 2000-02-29 23:59:59 */
    assert_string_equal(d, "Tue, 29 Feb 2000 23:59:59 GMT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sharedkey__create_container),
        cmocka_unit_test(test_sharedkey__put_blob_if_none_match),
        cmocka_unit_test(test_sharedkey__list_blobs_decodes_query),
        cmocka_unit_test(test_sharedkey__put_block),
        cmocka_unit_test(test_sharedkey__encoded_path_signed_as_sent),
        cmocka_unit_test(test_sharedkey__header_rules),
        cmocka_unit_test(test_sharedkey__query_rules),
        cmocka_unit_test(test_sharedkey__date_header_blank_with_x_ms_date),
        cmocka_unit_test(test_sharedkey__key_decode),
        cmocka_unit_test(test_sharedkey__date_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

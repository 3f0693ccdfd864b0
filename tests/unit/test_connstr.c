/* Connection strings: the forms Azure and Azurite document, and the errors that
 * must name what is missing without quoting a secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "store/store.h"

#define DEVKEY                                                                                     \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define KEY "c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm"
#define SAS "sv=2021-08-06&ss=b&srt=sco&sp=rwlc&se=2030-01-01T00%3A00%3A00Z&sig=c2lnbmF0dXJl%3D"

static void expect_ok(const char *s, const char *name, const char *key, const char *sas,
                      const char *endpoint)
{
    store_connstr c;
    errinfo err = {0};
    assert_int_equal(store_connstr_parse(s, &c, &err), ST_OK);
    if (name)
        assert_string_equal(c.account_name, name);
    else
        assert_null(c.account_name);
    if (key)
        assert_string_equal(c.account_key, key);
    else
        assert_null(c.account_key);
    if (sas)
        assert_string_equal(c.sas, sas);
    else
        assert_null(c.sas);
    assert_string_equal(c.blob_endpoint, endpoint);
    store_connstr_dispose(&c);
    store_connstr_dispose(&c); /* safe to repeat */
}

static void expect_error(const char *s, const char *want_msg)
{
    store_connstr c;
    errinfo err = {0};
    assert_int_equal(store_connstr_parse(s, &c, &err), ST_CONFIG);
    assert_null(c.account_name);
    assert_null(c.blob_endpoint);
    if (want_msg)
        assert_string_equal(err.msg, want_msg);
    assert_non_null(strstr(err.msg, "AZURE_STORAGE_CONNECTION_STRING"));
    /* never a secret in the message */
    assert_null(strstr(err.msg, KEY));
    assert_null(strstr(err.msg, "c2VjcmV0"));
    assert_null(strstr(err.msg, "sig="));
    assert_null(strstr(err.msg, "c2lnbmF0dXJl"));
}

static void test_connstr__account_key(void **state)
{
    (void)state;
    expect_ok("DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=" KEY
              ";EndpointSuffix=core.windows.net",
              "myacct", KEY, NULL, "https://myacct.blob.core.windows.net");
    /* no suffix: the public cloud */
    expect_ok("AccountName=myacct;AccountKey=" KEY, "myacct", KEY, NULL,
              "https://myacct.blob.core.windows.net");
    /* a national cloud over http */
    expect_ok("DefaultEndpointsProtocol=http;AccountName=a1;AccountKey=" KEY
              ";EndpointSuffix=core.chinacloudapi.cn;",
              "a1", KEY, NULL, "http://a1.blob.core.chinacloudapi.cn");
}

static void test_connstr__keys_case_insensitive_and_spaces(void **state)
{
    (void)state;
    expect_ok("  accountname = myacct ;\n ACCOUNTKEY=" KEY " ;;defaultendpointsprotocol=HTTPS;\n",
              "myacct", KEY, NULL, "https://myacct.blob.core.windows.net");
}

static void test_connstr__unknown_keys_ignored(void **state)
{
    (void)state;
    expect_ok("AccountName=myacct;AccountKey=" KEY
              ";QueueEndpoint=https://q.example;TableEndpoint=https://t.example",
              "myacct", KEY, NULL, "https://myacct.blob.core.windows.net");
}

static void test_connstr__sas_with_endpoint(void **state)
{
    (void)state;
    expect_ok("BlobEndpoint=https://myacct.blob.core.windows.net/;SharedAccessSignature=" SAS, NULL,
              NULL, SAS, "https://myacct.blob.core.windows.net");
    expect_ok("BlobEndpoint=https://myacct.blob.core.windows.net;SharedAccessSignature=?" SAS, NULL,
              NULL, SAS, "https://myacct.blob.core.windows.net");
    /* the scheme is case-insensitive and comes back lower-cased */
    expect_ok("BlobEndpoint=HTTPS://myacct.blob.core.windows.net//;SharedAccessSignature=" SAS,
              NULL, NULL, SAS, "https://myacct.blob.core.windows.net");
    /* a SAS with an account name builds the endpoint from it */
    expect_ok("AccountName=myacct;SharedAccessSignature=" SAS, "myacct", NULL, SAS,
              "https://myacct.blob.core.windows.net");
}

static void test_connstr__development_storage(void **state)
{
    (void)state;
    expect_ok("UseDevelopmentStorage=true", "devstoreaccount1", DEVKEY, NULL,
              "http://127.0.0.1:10000/devstoreaccount1");
    expect_ok("usedevelopmentstorage=TRUE;", "devstoreaccount1", DEVKEY, NULL,
              "http://127.0.0.1:10000/devstoreaccount1");
    /* another port for tests */
    expect_ok("UseDevelopmentStorage=true;BlobEndpoint=http://127.0.0.1:41234/devstoreaccount1",
              "devstoreaccount1", DEVKEY, NULL, "http://127.0.0.1:41234/devstoreaccount1");
    /* the documented full form */
    expect_ok("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" DEVKEY
              ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
              "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
              "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;",
              "devstoreaccount1", DEVKEY, NULL, "http://127.0.0.1:10000/devstoreaccount1");
    /* a SAS with the emulator: no default key */
    expect_ok("UseDevelopmentStorage=true;SharedAccessSignature=" SAS, "devstoreaccount1", NULL,
              SAS, "http://127.0.0.1:10000/devstoreaccount1");
}

static void test_connstr__errors_name_what_is_missing(void **state)
{
    (void)state;
    expect_error("", "AZURE_STORAGE_CONNECTION_STRING is empty");
    expect_error("AccountName=myacct", "AZURE_STORAGE_CONNECTION_STRING has AccountName but no "
                                       "AccountKey or SharedAccessSignature");
    expect_error("AccountName=myacct;AccountKy=" KEY, "AZURE_STORAGE_CONNECTION_STRING has "
                                                      "AccountName but no AccountKey or "
                                                      "SharedAccessSignature");
    expect_error("AccountKey=" KEY,
                 "AZURE_STORAGE_CONNECTION_STRING has AccountKey but no AccountName");
    expect_error("SharedAccessSignature=" SAS, NULL);
    expect_error("BlobEndpoint=https://x.blob.core.windows.net", NULL);
    expect_error("UseDevelopmentStorage=false", NULL);
    expect_error(";;;", NULL);
}

static void test_connstr__errors_for_bad_values(void **state)
{
    (void)state;
    expect_error("AccountName=a;AccountKey=" KEY ";DefaultEndpointsProtocol=ftp",
                 "AZURE_STORAGE_CONNECTION_STRING has DefaultEndpointsProtocol that is neither "
                 "https nor http");
    expect_error("AccountName=a;AccountName=b;AccountKey=" KEY,
                 "AZURE_STORAGE_CONNECTION_STRING sets AccountName twice");
    expect_error("AccountName=a;" KEY,
                 "AZURE_STORAGE_CONNECTION_STRING part 2 is not Key=value (parts are separated by "
                 "';')");
    expect_error("AccountName=a;AccountKey=", "AZURE_STORAGE_CONNECTION_STRING has an empty "
                                              "AccountKey");
    expect_error("AccountName=a;AccountKey=c2VjcmV0!!", "AZURE_STORAGE_CONNECTION_STRING has an "
                                                        "AccountKey that is not valid base64");
    expect_error("AccountName=my-acct;AccountKey=" KEY, NULL);
    expect_error("BlobEndpoint=ftp://x;SharedAccessSignature=" SAS, NULL);
    expect_error("BlobEndpoint=https://;SharedAccessSignature=" SAS, NULL);
    expect_error("BlobEndpoint=https://x.example/?a=b;SharedAccessSignature=" SAS, NULL);
    expect_error("BlobEndpoint=https://x.example;SharedAccessSignature=?", NULL);
    expect_error("UseDevelopmentStorage=yes", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connstr__account_key),
        cmocka_unit_test(test_connstr__keys_case_insensitive_and_spaces),
        cmocka_unit_test(test_connstr__unknown_keys_ignored),
        cmocka_unit_test(test_connstr__sas_with_endpoint),
        cmocka_unit_test(test_connstr__development_storage),
        cmocka_unit_test(test_connstr__errors_name_what_is_missing),
        cmocka_unit_test(test_connstr__errors_for_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

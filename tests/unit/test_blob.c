/* Blob REST pure parts: URLs (names encoded per segment, SAS joined), block ids,
 * the block list body, Content-MD5; and what blob_open accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "store/blob.h"

static void url_is(const char *endpoint, const char *container, const char *name, const char *query,
                   const char *sas, const char *want)
{
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(blob_build_url(&b, endpoint, container, name, query, sas, &err), ST_OK);
    assert_string_equal(b.data, want);
    buf_dispose(&b);
}

static void test_blob__url(void **state)
{
    (void)state;
    const char *ep = "http://127.0.0.1:10000/devstoreaccount1";
    url_is(ep, "snap", NULL, "restype=container", NULL,
           "http://127.0.0.1:10000/devstoreaccount1/snap?restype=container");
    url_is(ep, "snap", "dir/x.json", NULL, NULL,
           "http://127.0.0.1:10000/devstoreaccount1/snap/dir/x.json");
    /* every byte outside the unreserved set is encoded, '/' stays a separator */
    url_is("https://a.blob.core.windows.net", "c",
           "raw/events/date=2026-11-28/user=ann%2Bx@contoso.com/part 1 \xc3\xa9.json", NULL, NULL,
           "https://a.blob.core.windows.net/c/raw/events/date%3D2026-11-28/"
           "user%3Dann%252Bx%40contoso.com/part%201%20%C3%A9.json");
    /* the SAS joins an existing query with '&', else starts one */
    url_is("https://a.blob.core.windows.net", "c", "b", "comp=block&blockid=YQ", "sv=1&sig=x%3D",
           "https://a.blob.core.windows.net/c/b?comp=block&blockid=YQ&sv=1&sig=x%3D");
    url_is("https://a.blob.core.windows.net", "c", "b", NULL, "sv=1&sig=x%3D",
           "https://a.blob.core.windows.net/c/b?sv=1&sig=x%3D");
    url_is("https://a.blob.core.windows.net", "c", "b~._-", "", "",
           "https://a.blob.core.windows.net/c/b~._-");
}

static void test_blob__block_ids_same_length(void **state)
{
    (void)state;
    char id[BLOB_BLOCK_ID_MAX];
    blob_block_id(0, id);
    /* base64("block-000000000") */
    assert_string_equal(id, "YmxvY2stMDAwMDAwMDAw");
    size_t len = strlen(id);
    static const unsigned idx[] = {1, 9, 10, 49999, 50000, 123456789, 999999999};
    char prev[BLOB_BLOCK_ID_MAX];
    strcpy(prev, id);
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
        blob_block_id(idx[i], id);
        assert_int_equal(strlen(id), len);
        assert_string_not_equal(id, prev);
        assert_null(strpbrk(id, "+/="));
        strcpy(prev, id);
    }
    blob_block_id(49999, id);
    assert_string_equal(id, "YmxvY2stMDAwMDQ5OTk5");
}

static void test_blob__block_list_xml(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 0);
    errinfo err = {0};
    assert_int_equal(blob_block_list_xml(&b, 2, &err), ST_OK);
    assert_string_equal(b.data, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BlockList>"
                                "<Latest>YmxvY2stMDAwMDAwMDAw</Latest>"
                                "<Latest>YmxvY2stMDAwMDAwMDAx</Latest></BlockList>");
    buf_dispose(&b);
}

static void test_blob__content_md5(void **state)
{
    (void)state;
    char md5[32];
    blob_content_md5("{\"a\":1}\n", 8, md5);
    assert_string_equal(md5, "RYj/N5e3jYGdhY+jvdgrCQ==");
    blob_content_md5(NULL, 0, md5);
    assert_string_equal(md5, "1B2M2Y8AsgTpgAmY7PhCfg==");
}

static void open_fails(config *cfg, status want, const char *needle)
{
    blob_client *b = NULL;
    errinfo err = {0};
    assert_int_equal(blob_open(&b, cfg, NULL, &err), want);
    assert_null(b);
    if (needle)
        assert_non_null(strstr(err.msg, needle));
    assert_null(strstr(err.msg, "sig="));
}

static void test_blob__open(void **state)
{
    (void)state;
    config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.storage = STORAGE_CONNECTION_STRING;
    cfg.connection_string = "UseDevelopmentStorage=true";
    cfg.container = "snap";
    blob_client *b = NULL;
    errinfo err = {0};
    assert_int_equal(blob_open(&b, &cfg, NULL, &err), ST_OK);
    assert_string_equal(blob_describe(b), "http://127.0.0.1:10000/devstoreaccount1/snap");
    blob_free(b);

    /* a SAS URL: the description carries no secret */
    cfg.storage = STORAGE_ACCOUNT_URL;
    cfg.account_url = "https://acct.blob.core.windows.net/";
    cfg.sas_token = "sv=2021-08-06&sig=c2lnbmF0dXJl";
    cfg.container = NULL;
    assert_int_equal(blob_open(&b, &cfg, NULL, &err), ST_OK);
    assert_string_equal(blob_describe(b), "https://acct.blob.core.windows.net/teams-attendance");
    blob_free(b);
    blob_free(NULL);

    /* plain http only for loopback */
    cfg.storage = STORAGE_CONNECTION_STRING;
    cfg.connection_string = "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=YWJj";
    open_fails(&cfg, ST_CONFIG, "https://");
    cfg.connection_string = "BlobEndpoint=http://10.0.0.1/acct;SharedAccessSignature=sv=1&sig=x";
    open_fails(&cfg, ST_CONFIG, "AZURE_STORAGE_CONNECTION_STRING");
    cfg.connection_string = "AccountName=acct";
    open_fails(&cfg, ST_CONFIG, "AccountName but no AccountKey");
    cfg.storage = STORAGE_DIR;
    open_fails(&cfg, ST_INTERNAL, NULL);
}

typedef struct names {
    char got[8][64];
    uint64_t size[8];
    int n;
} names;

static status collect(void *ctx, const char *name, uint64_t size, errinfo *err)
{
    names *s = ctx;
    if (s->n >= 8)
        return err_set(err, ST_LIMIT, "too many");
    snprintf(s->got[s->n], sizeof s->got[0], "%s", name);
    s->size[s->n++] = size;
    return ST_OK;
}

/* One page of List Blobs as the service writes it: names with entities, sizes,
 * an Encoded name left out, and the next marker; then the last page. */
static void test_blob__list_parse(void **state)
{
    (void)state;
    static const char page[] =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults "
        "ServiceEndpoint=\"http://x/\" ContainerName=\"c\"><Prefix>p/</Prefix><Blobs>"
        "<Blob><Name>p/a&amp;b.parquet</Name><Properties><Content-Length>123</Content-Length>"
        "</Properties></Blob>"
        "<Blob><Name Encoded=\"true\">p%01x</Name><Properties><Content-Length>1</Content-Length>"
        "</Properties></Blob>"
        "<Blob><Name>p/&#x41;&#66;</Name><Properties><Content-Length>0</Content-Length>"
        "</Properties></Blob>"
        "</Blobs><NextMarker>2!72!MDAw&amp;x</NextMarker></EnumerationResults>";
    names s = {0};
    buf marker;
    buf_init(&marker, 0);
    errinfo err = {0};
    assert_int_equal(blob_list_parse(page, strlen(page), collect, &s, &marker, &err), ST_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.got[0], "p/a&b.parquet");
    assert_int_equal(s.size[0], 123);
    assert_string_equal(s.got[1], "p/AB");
    assert_string_equal(marker.data, "2!72!MDAw&x");
    static const char last[] = "<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>";
    s.n = 0;
    assert_int_equal(blob_list_parse(last, strlen(last), collect, &s, &marker, &err), ST_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(marker.len, 0);
    static const char bad[] = "<html>not a listing</html>";
    assert_int_equal(blob_list_parse(bad, strlen(bad), collect, &s, &marker, &err), ST_DATA);
    err_clear(&err);
    static const char badref[] =
        "<EnumerationResults><Blobs><Blob><Name>a&#0;b</Name></Blob></Blobs></EnumerationResults>";
    assert_int_equal(blob_list_parse(badref, strlen(badref), collect, &s, &marker, &err), ST_DATA);
    buf_dispose(&marker);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob__url),
        cmocka_unit_test(test_blob__block_ids_same_length),
        cmocka_unit_test(test_blob__block_list_xml),
        cmocka_unit_test(test_blob__content_md5),
        cmocka_unit_test(test_blob__open),
        cmocka_unit_test(test_blob__list_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

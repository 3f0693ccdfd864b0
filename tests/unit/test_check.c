/* Unit tests for the advice of `check` (src/job/check.c): each failure class, read
 * from the libcurl code or the HTTP status, leads to the fix that names the right
 * setting, permission or role for what was being reached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "job/check.h"

static char authority[] = "https://login.example.test";
static char graph[] = "https://graph.example.test";
static char account[] = "https://acct.blob.core.windows.net";
static char ident[] = "http://localhost:42356/msi/token";
static char header[] = "ih-secret-value-123";
static char sas[] = "sv=2021-08-06&sp=rwcl&sig=c2lnbmF0dXJl";
static char key_cs[] = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5a2V5a2V5";
static char sas_cs[] = "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=1&"
                       "sig=c2ln";

static void base(config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->cred = CRED_SECRET;
    cfg->authority_host = authority;
    cfg->graph_host = graph;
    cfg->storage = STORAGE_CONNECTION_STRING;
    cfg->connection_string = key_cs;
}

static errinfo net_error(int curl_code)
{
    errinfo e = {0};
    e.code = curl_code == CURLE_OPERATION_TIMEDOUT ? ST_TIMEOUT : ST_NET;
    e.curl_code = curl_code;
    snprintf(e.msg, sizeof e.msg, "network failure");
    return e;
}

static errinfo http_error(int http_status)
{
    errinfo e = {0};
    e.code = http_status == 403 ? ST_FORBIDDEN : http_status == 404 ? ST_NOT_FOUND : ST_AUTH;
    e.http_status = http_status;
    snprintf(e.msg, sizeof e.msg, "HTTP %d", http_status);
    return e;
}

/* The fix for e while reaching t holds every needle and none of the secrets. */
static void expect_fix(const config *cfg, check_target t, errinfo e, ...)
{
    char fix[1024];
    memset(fix, 'x', sizeof fix);
    check_fix_for(cfg, t, &e, fix, sizeof fix);
    assert_non_null(memchr(fix, '\0', sizeof fix));
    va_list ap;
    va_start(ap, e);
    for (const char *n = va_arg(ap, const char *); n; n = va_arg(ap, const char *))
        if (!strstr(fix, n))
            fail_msg("fix \"%s\" does not name \"%s\"", fix, n);
    va_end(ap);
    const char *secrets[] = {header, "c2lnbmF0dXJl", "a2V5a2V5a2V5", "c2ln"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(fix, secrets[i]))
            fail_msg("fix \"%s\" shows a secret", fix);
}

static void test_check__tls_names_the_ca_bundle(void **state)
{
    (void)state;
    config cfg;
    base(&cfg);
    int codes[] = {CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
                   CURLE_SSL_CONNECT_ERROR};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        expect_fix(&cfg, CHECK_LOGIN, net_error(codes[i]), "TLS certificate", "SSL_CERT_FILE",
                   "CURL_CA_BUNDLE", "system CA certificates", "AZURE_AUTHORITY_HOST", authority,
                   NULL);
        expect_fix(&cfg, CHECK_USER, net_error(codes[i]), "SSL_CERT_FILE", "GRAPH_ENDPOINT", graph,
                   NULL);
    }
}

static void test_check__dns_names_the_host_setting(void **state)
{
    (void)state;
    config cfg;
    base(&cfg);
    expect_fix(&cfg, CHECK_LOGIN, net_error(CURLE_COULDNT_RESOLVE_HOST), "does not resolve",
               "AZURE_AUTHORITY_HOST", NULL);
    expect_fix(&cfg, CHECK_CALENDAR, net_error(CURLE_COULDNT_RESOLVE_HOST), "does not resolve",
               "GRAPH_ENDPOINT", NULL);
    /* a connection string may hold the key: named, not shown */
    expect_fix(&cfg, CHECK_STORAGE, net_error(CURLE_COULDNT_RESOLVE_HOST), "does not resolve",
               "AZURE_STORAGE_CONNECTION_STRING", NULL);
    cfg.storage = STORAGE_ACCOUNT_URL;
    cfg.account_url = account;
    cfg.sas_token = sas;
    expect_fix(&cfg, CHECK_STORAGE, net_error(CURLE_COULDNT_RESOLVE_HOST), "does not resolve",
               "AZURE_STORAGE_ACCOUNT_URL", account, NULL);
    /* with a managed identity, the login host is the identity endpoint */
    base(&cfg);
    cfg.cred = CRED_MANAGED_IDENTITY;
    cfg.identity_endpoint = ident;
    cfg.identity_header = header;
    expect_fix(&cfg, CHECK_LOGIN, net_error(CURLE_COULDNT_RESOLVE_HOST), "IDENTITY_ENDPOINT", ident,
               NULL);
}

static void test_check__connect_and_timeout(void **state)
{
    (void)state;
    config cfg;
    base(&cfg);
    expect_fix(&cfg, CHECK_LOGIN, net_error(CURLE_COULDNT_CONNECT), "nothing accepts connections",
               "AZURE_AUTHORITY_HOST", NULL);
    expect_fix(&cfg, CHECK_USER, net_error(CURLE_OPERATION_TIMEDOUT), "no answer",
               "ATTENDANCE_HTTP_TIMEOUT_SECONDS", "GRAPH_ENDPOINT", NULL);
    errinfo t = {0}; /* a timeout without a libcurl code */
    t.code = ST_TIMEOUT;
    expect_fix(&cfg, CHECK_USER, t, "ATTENDANCE_HTTP_TIMEOUT_SECONDS", NULL);
}

static void test_check__graph_refusals_name_permissions(void **state)
{
    (void)state;
    config cfg;
    base(&cfg);
    expect_fix(&cfg, CHECK_USER, http_error(403), "User.Read.All", "admin consent", NULL);
    expect_fix(&cfg, CHECK_CALENDAR, http_error(403), "Calendars.Read", "admin consent", NULL);
    expect_fix(&cfg, CHECK_MEETING, http_error(403), "Grant-CsApplicationAccessPolicy",
               "OnlineMeetings.Read.All", "OnlineMeetingArtifact.Read.All", NULL);
    /* 401 after a renewal: the token, not a permission */
    expect_fix(&cfg, CHECK_USER, http_error(401), "GRAPH_ENDPOINT", "AZURE_AUTHORITY_HOST", NULL);
    expect_fix(&cfg, CHECK_USER, http_error(404), "ATTENDANCE_USERS", NULL);
    expect_fix(&cfg, CHECK_CALENDAR, http_error(404), "mailbox", NULL);
}

static void test_check__storage_refusals_by_credential(void **state)
{
    (void)state;
    config cfg;
    base(&cfg);
    expect_fix(&cfg, CHECK_STORAGE, http_error(403), "account key", "AccountKey", NULL);
    cfg.connection_string = sas_cs;
    expect_fix(&cfg, CHECK_STORAGE, http_error(403), "SAS", "expiry", "sp=rwcl", NULL);
    cfg.storage = STORAGE_ACCOUNT_URL;
    cfg.account_url = account;
    cfg.connection_string = NULL;
    cfg.sas_token = sas;
    expect_fix(&cfg, CHECK_STORAGE, http_error(403), "SAS", "AZURE_STORAGE_SAS_TOKEN", NULL);
    cfg.sas_token = NULL;
    expect_fix(&cfg, CHECK_STORAGE, http_error(403), "Storage Blob Data Contributor",
               "ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID", NULL);
}

static void test_check__login_refusals(void **state)
{
    (void)state;
    config cfg;
    base(&cfg);
    expect_fix(&cfg, CHECK_LOGIN, http_error(401), "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
               "AZURE_CLIENT_SECRET", NULL);
    cfg.cred = CRED_MANAGED_IDENTITY;
    cfg.identity_endpoint = ident;
    cfg.identity_header = header;
    expect_fix(&cfg, CHECK_LOGIN, http_error(401), "managed identity", "AZURE_CLIENT_ID",
               "IDENTITY_HEADER", NULL);
}

static void test_check__small_buffer(void **state)
{
    (void)state;
    config cfg;
    base(&cfg);
    char fix[16];
    errinfo e = net_error(CURLE_PEER_FAILED_VERIFICATION);
    check_fix_for(&cfg, CHECK_LOGIN, &e, fix, sizeof fix);
    assert_int_equal(strlen(fix), sizeof fix - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check__tls_names_the_ca_bundle),
        cmocka_unit_test(test_check__dns_names_the_host_setting),
        cmocka_unit_test(test_check__connect_and_timeout),
        cmocka_unit_test(test_check__graph_refusals_name_permissions),
        cmocka_unit_test(test_check__storage_refusals_by_credential),
        cmocka_unit_test(test_check__login_refusals),
        cmocka_unit_test(test_check__small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

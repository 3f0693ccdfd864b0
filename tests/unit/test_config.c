/* Unit tests for src/config: the command line, the environment table of SPEC
 * section 3, the storage target rule, host rules, and messages that name the
 * setting without echoing a secret. Each case starts from an empty environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "job/job.h"

extern char **environ;

static const char *const vars[] = {"AZURE_TENANT_ID",
                                   "tenant",
                                   "AZURE_CLIENT_ID",
                                   "client_id",
                                   "AZURE_CLIENT_SECRET",
                                   "client_secret",
                                   "client_screte",
                                   "AZURE_CLIENT_CERTIFICATE_PATH",
                                   "AZURE_FEDERATED_TOKEN_FILE",
                                   "ATTENDANCE_USERS",
                                   "ATTENDANCE_GROUPS",
                                   "AZURE_STORAGE_CONNECTION_STRING",
                                   "AZURE_STORAGE_ACCOUNT_URL",
                                   "AZURE_STORAGE_SAS_TOKEN",
                                   "ATTENDANCE_OUTPUT_DIR",
                                   "ATTENDANCE_CONTAINER",
                                   "ATTENDANCE_PREFIX",
                                   "AZURE_AUTHORITY_HOST",
                                   "GRAPH_ENDPOINT",
                                   "ATTENDANCE_FIRST_RUN_DAYS",
                                   "ATTENDANCE_OVERLAP_MINUTES",
                                   "ATTENDANCE_SETTLE_MINUTES",
                                   "ATTENDANCE_CONCURRENCY",
                                   "ATTENDANCE_HTTP_TIMEOUT_SECONDS",
                                   "ATTENDANCE_MAX_RETRIES",
                                   "ATTENDANCE_MAX_RETRY_WAIT_SECONDS",
                                   "ATTENDANCE_MAX_PAGES",
                                   "ATTENDANCE_PARQUET_COMPRESSION",
                                   "ATTENDANCE_PARQUET_TIMESTAMPS",
                                   "LOG_FORMAT",
                                   "LOG_LEVEL",
                                   "IDENTITY_ENDPOINT",
                                   "IDENTITY_HEADER",
                                   "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                                   "ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID",
                                   "JOB_COMPLETION_INDEX",
                                   "CONTAINER_APP_JOB_EXECUTION_NAME",
                                   NULL};

#define SECRET "Zq8~very.SECRET-value_1234"

static void clear_env(void)
{
    for (const char *const *v = vars; *v; v++)
        unsetenv(*v);
    for (;;) {
        char name[128] = "";
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "SGA_UPN", 7) == 0) {
                size_t n = strcspn(*e, "=");
                if (n < sizeof name) {
                    memcpy(name, *e, n);
                    name[n] = '\0';
                }
                break;
            }
        }
        if (!name[0])
            break;
        unsetenv(name);
    }
}

/* A complete, valid environment for run. */
static void base_env(void)
{
    clear_env();
    setenv("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47", 1);
    setenv("AZURE_CLIENT_ID", "535fb089-9ff3-47b6-9bfb-4f1264799865", 1);
    setenv("AZURE_CLIENT_SECRET", SECRET, 1);
    setenv("ATTENDANCE_USERS", "ann@contoso.com", 1);
    setenv("ATTENDANCE_OUTPUT_DIR", "/tmp/out", 1);
}

static int setup(void **state)
{
    (void)state;
    base_env();
    return 0;
}

/* Runs config_load on the NULL-terminated arguments after argv[0]. */
static status load(config *cfg, errinfo *err, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "teams-attendance";
    va_list ap;
    va_start(ap, err);
    for (char *a = va_arg(ap, char *); a && argc < 31; a = va_arg(ap, char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    err_clear(err);
    /* as main does: the settings that drivers own are checked right after */
    status st = config_load(cfg, argc, argv, err);
    if (st == ST_OK && (cfg->cmd == CMD_RUN || cfg->cmd == CMD_CHECK) &&
        (st = job_check_settings(cfg, err)) != ST_OK)
        config_dispose(cfg);
    if (st != ST_OK) {
        assert_int_equal(err->code, st);
        assert_true(strlen(err->msg) > 0);
        assert_null(strstr(err->msg, SECRET));
    }
    return st;
}

/* Expects a failure with code `code` whose message contains `needle`. */
static void expect_fail(status code, const char *needle, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "teams-attendance";
    va_list ap;
    va_start(ap, needle);
    for (char *a = va_arg(ap, char *); a && argc < 31; a = va_arg(ap, char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    config cfg;
    errinfo err = {0};
    status st = config_load(&cfg, argc, argv, &err);
    if (st == ST_OK && (cfg.cmd == CMD_RUN || cfg.cmd == CMD_CHECK) &&
        (st = job_check_settings(&cfg, &err)) != ST_OK)
        config_dispose(&cfg);
    if (st != code)
        fail_msg("expected status %d, got %d (%s)", code, st, err.msg);
    if (!strstr(err.msg, needle))
        fail_msg("message \"%s\" does not contain \"%s\"", err.msg, needle);
    assert_null(strstr(err.msg, SECRET));
    assert_null(cfg.tenant); /* freed on failure */
    config_dispose(&cfg);
}

static void test_config__defaults(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.cmd, CMD_RUN);
    assert_string_equal(cfg.tenant, "72f988bf-86f1-41af-91ab-2d7cd011db47");
    assert_string_equal(cfg.client_id, "535fb089-9ff3-47b6-9bfb-4f1264799865");
    assert_int_equal(cfg.cred, CRED_SECRET);
    assert_string_equal(cfg.client_secret, SECRET);
    assert_string_equal(cfg.authority_host, "https://login.microsoftonline.com");
    assert_string_equal(cfg.graph_host, "https://graph.microsoft.com");
    assert_string_equal(cfg.imds_endpoint, "http://169.254.169.254/metadata/identity/oauth2/token");
    assert_int_equal(cfg.nusers, 1);
    assert_string_equal(cfg.users[0], "ann@contoso.com");
    assert_int_equal(cfg.storage, STORAGE_DIR);
    assert_string_equal(cfg.output_dir, "/tmp/out");
    assert_string_equal(cfg.container, "teams-attendance");
    assert_string_equal(cfg.prefix, "");
    assert_int_equal(cfg.first_run_days, 30);
    assert_int_equal(cfg.overlap_minutes, 5);
    assert_int_equal(cfg.settle_minutes, 60);
    assert_int_equal(cfg.concurrency, 256);
    assert_int_equal(cfg.http_timeout_s, 60);
    assert_int_equal(cfg.max_retries, 6);
    assert_int_equal(cfg.max_retry_wait_s, 300);
    assert_int_equal(cfg.max_pages, 10000);
    assert_int_equal(cfg.codec, PQ_CODEC_SNAPPY);
    assert_int_equal(cfg.int96_timestamps, 0);
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.log_format, isatty(STDERR_FILENO) ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON);
    assert_int_equal(cfg.has_since, 0);
    assert_int_equal(cfg.shard_count, 0);
    assert_int_equal(cfg.claim, 0);
    assert_null(cfg.sas_token);
    config_dispose(&cfg);
    config_dispose(&cfg); /* safe to repeat */
    config_dispose(NULL);
}

static void test_config__commands(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    assert_int_equal(load(&cfg, &err, "run", NULL), ST_OK);
    assert_int_equal(cfg.cmd, CMD_RUN);
    config_dispose(&cfg);
    assert_int_equal(load(&cfg, &err, "check", NULL), ST_OK);
    assert_int_equal(cfg.cmd, CMD_CHECK);
    config_dispose(&cfg);
    clear_env(); /* help, version and schema need nothing */
    assert_int_equal(load(&cfg, &err, "--help", NULL), ST_OK);
    assert_int_equal(cfg.cmd, CMD_HELP);
    config_dispose(&cfg);
    assert_int_equal(load(&cfg, &err, "run", "-h", NULL), ST_OK);
    assert_int_equal(cfg.cmd, CMD_HELP);
    config_dispose(&cfg);
    assert_int_equal(load(&cfg, &err, "--version", NULL), ST_OK);
    assert_int_equal(cfg.cmd, CMD_VERSION);
    config_dispose(&cfg);
    assert_int_equal(load(&cfg, &err, "schema", NULL), ST_OK);
    assert_int_equal(cfg.cmd, CMD_SCHEMA);
    assert_int_equal(cfg.schema_sql, 0);
    config_dispose(&cfg);
    assert_int_equal(load(&cfg, &err, "schema", "--sql", NULL), ST_OK);
    assert_int_equal(cfg.schema_sql, 1);
    config_dispose(&cfg);
    assert_int_equal(load(&cfg, &err, "--log-level", "debug", "schema", NULL), ST_OK);
    assert_int_equal(cfg.cmd, CMD_SCHEMA);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    config_dispose(&cfg);
    /* the old job's environment does not matter to schema even when broken */
    setenv("ATTENDANCE_MAX_PAGES", "lots", 1);
    assert_int_equal(load(&cfg, &err, "schema", NULL), ST_OK);
    config_dispose(&cfg);
}

static void test_config__usage_errors(void **state)
{
    (void)state;
    expect_fail(ST_USAGE, "unknown command \"frobnicate\"", "frobnicate", NULL);
    expect_fail(ST_USAGE, "unknown option \"--bogus\"", "--bogus", NULL);
    expect_fail(ST_USAGE, "unknown option \"--bogus\"", "--bogus=1", NULL);
    expect_fail(ST_USAGE, "--concurrency needs a value", "--concurrency", NULL);
    expect_fail(ST_USAGE, "--concurrency needs a value", "--concurrency=", NULL);
    expect_fail(ST_USAGE, "--claim takes no value", "--claim=yes", NULL);
    expect_fail(ST_USAGE, "--sql", "run", "--sql", NULL);
    expect_fail(ST_USAGE, "run and audit commands only", "check", "--since", "2026-11-01", NULL);
    expect_fail(ST_USAGE, "unexpected argument", "run", "extra", NULL);
    expect_fail(ST_USAGE, "--concurrency", "--concurrency", "0", NULL);
    expect_fail(ST_USAGE, "--concurrency", "--concurrency=-3", NULL);
    expect_fail(ST_USAGE, "--log-format", "--log-format", "xml", NULL);
    expect_fail(ST_USAGE, "--log-level", "--log-level=loud", NULL);
}

static void test_config__option_forms(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    assert_int_equal(load(&cfg, &err, "--concurrency=12", "--log-format", "text",
                          "--log-level=warn", "--users", "x@y.z", NULL),
                     ST_OK);
    assert_int_equal(cfg.concurrency, 12);
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_int_equal(cfg.nusers, 1);
    assert_string_equal(cfg.users[0], "x@y.z");
    config_dispose(&cfg);
    /* a flag beats the environment */
    setenv("ATTENDANCE_CONCURRENCY", "40", 1);
    setenv("LOG_FORMAT", "text", 1);
    setenv("LOG_LEVEL", "error", 1);
    assert_int_equal(load(&cfg, &err, "--concurrency", "8", "--log-format=json", NULL), ST_OK);
    assert_int_equal(cfg.concurrency, 8);
    assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
    assert_int_equal(cfg.log_level, LOG_ERROR);
    config_dispose(&cfg);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.concurrency, 40);
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    config_dispose(&cfg);
}

static void test_config__first_set_wins(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    clear_env();
    setenv("tenant", "contoso.onmicrosoft.com", 1);
    setenv("AZURE_TENANT_ID", "", 1); /* empty counts as unset */
    setenv("client_id", "old-client", 1);
    setenv("client_screte", "old" SECRET, 1);
    setenv("SGA_UPN", "a@x.com", 1);
    setenv("ATTENDANCE_OUTPUT_DIR", "out/", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_string_equal(cfg.tenant, "contoso.onmicrosoft.com");
    assert_string_equal(cfg.client_id, "old-client");
    assert_string_equal(cfg.client_secret, "old" SECRET);
    assert_string_equal(cfg.output_dir, "out");
    config_dispose(&cfg);
    setenv("client_secret", "mid" SECRET, 1);
    setenv("AZURE_TENANT_ID", "  t-1  \n", 1);
    setenv("AZURE_CLIENT_ID", "c-1", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_string_equal(cfg.tenant, "t-1"); /* trimmed */
    assert_string_equal(cfg.client_id, "c-1");
    assert_string_equal(cfg.client_secret, "mid" SECRET);
    config_dispose(&cfg);
    setenv("AZURE_CLIENT_SECRET", SECRET "\n", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_string_equal(cfg.client_secret, SECRET);
    config_dispose(&cfg);
}

static void test_config__mailbox_merge(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    setenv("ATTENDANCE_USERS", "b@x.com, A@x.com\nc@x.com;;  b@X.COM\r\n", 1);
    setenv("SGA_UPN", "a@X.com", 1);
    setenv("SGA_UPN10", "j@x.com", 1);
    setenv("SGA_UPN2", "e@x.com d@x.com", 1);
    setenv("SGA_UPN1", "f@x.com", 1);
    setenv("SGA_UPN", "g@x.com,a@x.com", 1);
    setenv("SGA_UPN3", "", 1);
    setenv("SGA_UPNX", "nope@x.com", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    static const char *const want[] = {"b@x.com", "A@x.com", "c@x.com", "g@x.com",
                                       "f@x.com", "e@x.com", "d@x.com", "j@x.com"};
    assert_int_equal(cfg.nusers, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < cfg.nusers; i++)
        assert_string_equal(cfg.users[i], want[i]);
    config_dispose(&cfg);

    /* --users replaces the environment's list */
    assert_int_equal(load(&cfg, &err, "--users", "z@x.com,Z@X.com y@x.com", NULL), ST_OK);
    assert_int_equal(cfg.nusers, 2);
    assert_string_equal(cfg.users[0], "z@x.com");
    assert_string_equal(cfg.users[1], "y@x.com");
    config_dispose(&cfg);

    unsetenv("ATTENDANCE_USERS");
    unsetenv("SGA_UPN");
    unsetenv("SGA_UPN1");
    unsetenv("SGA_UPN2");
    unsetenv("SGA_UPN10");
    expect_fail(ST_CONFIG, "ATTENDANCE_USERS", NULL);
    expect_fail(ST_CONFIG, "ATTENDANCE_USERS", "check", NULL);
    setenv("ATTENDANCE_USERS", " , ", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_USERS", NULL);
    setenv("ATTENDANCE_USERS", "a@x.com,b/c@x.com", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_USERS: mailbox 2", NULL);
    expect_fail(ST_USAGE, "--users", "--users", ",,", NULL);
}

static void test_config__groups(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    setenv("ATTENDANCE_GROUPS",
           "02BD9FD6-8f93-4758-87c3-1fb73740a315, sales@contoso.com\nSALES@contoso.com", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.ngroups, 2);
    assert_string_equal(cfg.groups[0], "02BD9FD6-8f93-4758-87c3-1fb73740a315");
    assert_string_equal(cfg.groups[1], "sales@contoso.com");
    assert_int_equal(cfg.nusers, 1); /* the users stay */
    config_dispose(&cfg);

    /* --groups replaces the variable */
    assert_int_equal(load(&cfg, &err, "--groups", "eu@contoso.com", NULL), ST_OK);
    assert_int_equal(cfg.ngroups, 1);
    assert_string_equal(cfg.groups[0], "eu@contoso.com");
    config_dispose(&cfg);

    /* a group alone is enough */
    unsetenv("ATTENDANCE_USERS");
    assert_int_equal(load(&cfg, &err, "check", NULL), ST_OK);
    assert_int_equal(cfg.nusers, 0);
    assert_int_equal(cfg.ngroups, 2);
    config_dispose(&cfg);

    /* neither a GUID nor an address: it would reach Graph as a path */
    setenv("ATTENDANCE_GROUPS", "sales", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_GROUPS: \"sales\" is neither", NULL);
    setenv("ATTENDANCE_GROUPS", "02bd9fd6-8f93-4758-87c3-1fb73740a31/", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_GROUPS", NULL);
    setenv("ATTENDANCE_GROUPS", "a/b@contoso.com", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_GROUPS", NULL);
    setenv("ATTENDANCE_GROUPS", " ; ", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_GROUPS: no group", NULL);
    expect_fail(ST_USAGE, "--groups", "--groups", "x", NULL);
}

static void test_config__many_mailboxes(void **state)
{
    (void)state;
    size_t n = 5000;
    char *list = malloc(n * 24);
    assert_non_null(list);
    char *p = list;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%zu@x.com,", i % 2 ? "U" : "u", i / 2); /* every one twice */
    setenv("ATTENDANCE_USERS", list, 1);
    free(list);
    config cfg;
    errinfo err;
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.nusers, n / 2);
    assert_string_equal(cfg.users[0], "u0@x.com");
    assert_string_equal(cfg.users[n / 2 - 1], "u2499@x.com");
    config_dispose(&cfg);
}

/* Writes a PEM with a fresh RSA key and its self-signed certificate. */
static void write_test_pem(char *path)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    assert_non_null(key);
    X509 *cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(PEM_write_X509(f, cert), 1);
    fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void test_config__credentials(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    char pem[] = "/tmp/ta-test-cert-XXXXXX";
    write_test_pem(pem);
    int fd;
    char fed[] = "/tmp/ta-test-fed-XXXXXX";
    fd = mkstemp(fed);
    assert_true(fd >= 0);
    close(fd);

    /* secret wins over a certificate and a federated token */
    setenv("AZURE_CLIENT_CERTIFICATE_PATH", pem, 1);
    setenv("AZURE_FEDERATED_TOKEN_FILE", fed, 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.cred, CRED_SECRET);
    assert_null(cfg.cert_path);
    assert_string_equal(cfg.federated_token_file, fed);
    config_dispose(&cfg);

    unsetenv("AZURE_CLIENT_SECRET");
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.cred, CRED_CERTIFICATE);
    assert_string_equal(cfg.cert_path, pem);
    assert_null(cfg.client_secret);
    config_dispose(&cfg);

    unsetenv("AZURE_CLIENT_CERTIFICATE_PATH");
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.cred, CRED_WORKLOAD);
    config_dispose(&cfg);

    setenv("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/ta-cert.pem", 1);
    expect_fail(ST_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH", NULL);
    setenv("AZURE_CLIENT_CERTIFICATE_PATH", fed, 1); /* readable, but no key in it */
    expect_fail(ST_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH: no private key", NULL);
    unsetenv("AZURE_CLIENT_CERTIFICATE_PATH");
    setenv("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/ta-token", 1);
    expect_fail(ST_CONFIG, "AZURE_FEDERATED_TOKEN_FILE", NULL);
    unsetenv("AZURE_FEDERATED_TOKEN_FILE");
    expect_fail(ST_CONFIG, "AZURE_CLIENT_SECRET", NULL);

    base_env();
    unsetenv("AZURE_TENANT_ID");
    expect_fail(ST_CONFIG, "AZURE_TENANT_ID", NULL);
    setenv("AZURE_TENANT_ID", "bad tenant/x", 1);
    expect_fail(ST_CONFIG, "AZURE_TENANT_ID", NULL);
    setenv("AZURE_TENANT_ID", "t", 1);
    unsetenv("AZURE_CLIENT_ID");
    expect_fail(ST_CONFIG, "AZURE_CLIENT_ID", "check", NULL);
    setenv("client_id", "a b", 1);
    expect_fail(ST_CONFIG, "client_id", NULL);
    unlink(pem);
    unlink(fed);
}

/* Every failing setting after the secret is read must not leak it. */
/* 1 when this machine is an Azure VM: its metadata endpoint then counts as present. */
static int on_azure_vm(void)
{
    char tag[64] = "";
    FILE *f = fopen("/sys/class/dmi/id/chassis_asset_tag", "r");
    if (!f)
        return 0;
    int ok = fgets(tag, sizeof tag, f) != NULL;
    fclose(f);
    return ok && strncmp(tag, "7783-7084-3265-9085-8269-3286-77", 32) == 0;
}

static void test_config__managed_identity_for_graph(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    const char *app = "535fb089-9ff3-47b6-9bfb-4f1264799865";

    /* IDENTITY_ENDPOINT + IDENTITY_HEADER and no secret: the identity logs in */
    unsetenv("AZURE_CLIENT_SECRET");
    setenv("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token", 1);
    setenv("IDENTITY_HEADER", "ih-0123456789abcdef", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.cred, CRED_MANAGED_IDENTITY);
    assert_string_equal(cfg.identity_endpoint, "http://localhost:42356/msi/token");
    assert_string_equal(cfg.identity_header, "ih-0123456789abcdef");
    assert_string_equal(cfg.client_id, app); /* names a user-assigned identity */
    assert_null(cfg.client_secret);
    config_dispose(&cfg);

    /* storage by the same identity, unless ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID names another */
    unsetenv("ATTENDANCE_OUTPUT_DIR");
    setenv("AZURE_STORAGE_ACCOUNT_URL", "https://acct.blob.core.windows.net", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_string_equal(cfg.managed_identity_client_id, app);
    config_dispose(&cfg);
    setenv("ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID", "0c1d2e3f-0000-4000-8000-000000000002", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_string_equal(cfg.managed_identity_client_id, "0c1d2e3f-0000-4000-8000-000000000002");
    config_dispose(&cfg);
    unsetenv("ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID");
    unsetenv("AZURE_STORAGE_ACCOUNT_URL");
    setenv("ATTENDANCE_OUTPUT_DIR", "/tmp/out", 1);

    /* no tenant, no client id: the system-assigned identity */
    unsetenv("AZURE_TENANT_ID");
    unsetenv("AZURE_CLIENT_ID");
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.cred, CRED_MANAGED_IDENTITY);
    assert_null(cfg.tenant);
    assert_null(cfg.client_id);
    config_dispose(&cfg);
    setenv("AZURE_CLIENT_ID", "not a guid", 1);
    expect_fail(ST_CONFIG, "AZURE_CLIENT_ID", NULL);
    setenv("AZURE_CLIENT_ID", app, 1);
    setenv("AZURE_TENANT_ID", "t", 1);

    /* the endpoint without its header */
    unsetenv("IDENTITY_HEADER");
    expect_fail(ST_CONFIG, "IDENTITY_HEADER", NULL);

    /* the VM metadata endpoint, named by AZURE_POD_IDENTITY_AUTHORITY_HOST */
    unsetenv("IDENTITY_ENDPOINT");
    setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.cred, CRED_MANAGED_IDENTITY);
    assert_null(cfg.identity_endpoint);
    assert_string_equal(cfg.imds_endpoint, "http://127.0.0.1:9/metadata/identity/oauth2/token");
    config_dispose(&cfg);
    unsetenv("AZURE_POD_IDENTITY_AUTHORITY_HOST");

    /* a secret wins over an identity endpoint */
    setenv("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token", 1);
    setenv("IDENTITY_HEADER", "ih-0123456789abcdef", 1);
    setenv("AZURE_CLIENT_SECRET", SECRET, 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.cred, CRED_SECRET);
    config_dispose(&cfg);
    unsetenv("AZURE_CLIENT_SECRET");
    unsetenv("IDENTITY_ENDPOINT");
    unsetenv("IDENTITY_HEADER");

    /* none at all: the message names every way to log in */
    if (!on_azure_vm()) {
        expect_fail(ST_CONFIG, "AZURE_CLIENT_SECRET", NULL);
        expect_fail(ST_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH", NULL);
        expect_fail(ST_CONFIG, "AZURE_FEDERATED_TOKEN_FILE", NULL);
        expect_fail(ST_CONFIG, "IDENTITY_ENDPOINT and IDENTITY_HEADER", NULL);
        expect_fail(ST_CONFIG, "VM metadata endpoint", NULL);
        /* the credential comes first: with an identity, tenant and client id are optional */
        unsetenv("AZURE_TENANT_ID");
        unsetenv("AZURE_CLIENT_ID");
        expect_fail(ST_CONFIG, "no Graph credential", NULL);
    }
}

static void test_config__no_secret_in_messages(void **state)
{
    (void)state;
    setenv("ATTENDANCE_CONTAINER", SECRET, 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_CONTAINER", NULL);
    unsetenv("ATTENDANCE_CONTAINER");
    unsetenv("ATTENDANCE_OUTPUT_DIR");
    setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=a;AccountKey=" SECRET "!!", 1);
    expect_fail(ST_CONFIG, "AccountKey that is not valid base64", NULL);
    setenv("AZURE_STORAGE_CONNECTION_STRING", SECRET, 1);
    expect_fail(ST_CONFIG, "AZURE_STORAGE_CONNECTION_STRING part 1", NULL);
    unsetenv("AZURE_STORAGE_CONNECTION_STRING");
    setenv("AZURE_STORAGE_ACCOUNT_URL", "https://a.blob.core.windows.net", 1);
    setenv("AZURE_STORAGE_SAS_TOKEN", SECRET, 1);
    expect_fail(ST_CONFIG, "AZURE_STORAGE_SAS_TOKEN", NULL);
}

static void test_config__storage_rule(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    unsetenv("ATTENDANCE_OUTPUT_DIR");
    expect_fail(ST_CONFIG, "no storage target", NULL);
    expect_fail(ST_CONFIG, "no storage target", "check", NULL);

    setenv("ATTENDANCE_OUTPUT_DIR", "/tmp/out", 1);
    setenv("AZURE_STORAGE_ACCOUNT_URL", "https://acct.blob.core.windows.net/", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_OUTPUT_DIR", NULL);
    /* --output-dir on the command line overrides an account */
    assert_int_equal(load(&cfg, &err, "--output-dir", "/tmp/cli/", NULL), ST_OK);
    assert_int_equal(cfg.storage, STORAGE_DIR);
    assert_string_equal(cfg.output_dir, "/tmp/cli");
    config_dispose(&cfg);

    unsetenv("ATTENDANCE_OUTPUT_DIR");
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.storage, STORAGE_ACCOUNT_URL);
    assert_string_equal(cfg.account_url, "https://acct.blob.core.windows.net");
    assert_null(cfg.sas_token);
    assert_null(cfg.identity_endpoint);
    config_dispose(&cfg);

    setenv("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true", 1);
    expect_fail(ST_CONFIG, "AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_ACCOUNT_URL", NULL);
    unsetenv("AZURE_STORAGE_ACCOUNT_URL");
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.storage, STORAGE_CONNECTION_STRING);
    assert_string_equal(cfg.connection_string, "UseDevelopmentStorage=true");
    config_dispose(&cfg);
    setenv("AZURE_STORAGE_SAS_TOKEN", "sv=1&sig=abcd", 1);
    expect_fail(ST_CONFIG, "AZURE_STORAGE_SAS_TOKEN: only used with", NULL);
}

static void test_config__connection_strings(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    unsetenv("ATTENDANCE_OUTPUT_DIR");
    static const char *const good[] = {
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5a2V5a2V5;"
        "EndpointSuffix=core.windows.net",
        "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/"
        "devstoreaccount1;",
        "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2022&sig=abc",
        "usedevelopmentstorage=true",
        "accountname=acct;accountkey=a2V5a2V5",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        setenv("AZURE_STORAGE_CONNECTION_STRING", good[i], 1);
        if (load(&cfg, &err, NULL) != ST_OK)
            fail_msg("connection string %zu: %s", i, err.msg);
        assert_int_equal(cfg.storage, STORAGE_CONNECTION_STRING);
        config_dispose(&cfg);
    }
    static const struct {
        const char *cs, *needle;
    } bad[] = {
        {"AccountName=acct", "no AccountKey or SharedAccessSignature"},
        {"AccountKey=a2V5", "AccountKey but no AccountName"},
        {"BlobEndpoint=https://x;AccountKey=a2V5", "AccountKey but no AccountName"},
        {"AccountName=a;AccountKey=a2V5;BlobEndpoint=http://acct.example.com", "BlobEndpoint"},
        {"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5", "DefaultEndpointsProtocol"},
        {"UseDevelopmentStorage=false", "UseDevelopmentStorage"},
        {"UseDevelopmentStorage=maybe", "UseDevelopmentStorage"},
        {"AccountName=a;junk;AccountKey=a2V5", "part 2"},
        /* the two parsers that once disagreed: these passed config and failed later */
        {"AccountName=my-acct;AccountKey=a2V5", "AccountName"},
        {"AccountName=a/b;AccountKey=a2V5", "AccountName"},
        {"AccountName=a;SharedAccessSignature=sv=1&sig=x#y", "SharedAccessSignature"},
        {"AccountName=a;AccountKey=a2V5;EndpointSuffix=core.windows.net?x=1", "BlobEndpoint"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("AZURE_STORAGE_CONNECTION_STRING", bad[i].cs, 1);
        expect_fail(ST_CONFIG, bad[i].needle, NULL);
    }
}

static void test_config__account_url_and_identity(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    unsetenv("ATTENDANCE_OUTPUT_DIR");
    setenv("AZURE_STORAGE_ACCOUNT_URL", "https://acct.blob.core.windows.net/?sv=2022&sig=abc%3D",
           1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_string_equal(cfg.account_url, "https://acct.blob.core.windows.net");
    assert_string_equal(cfg.sas_token, "sv=2022&sig=abc%3D");
    config_dispose(&cfg);
    setenv("AZURE_STORAGE_SAS_TOKEN", "?sv=1&sig=x", 1);
    expect_fail(ST_CONFIG, "give the SAS once", NULL);
    setenv("AZURE_STORAGE_ACCOUNT_URL", "http://127.0.0.1:10000/devstoreaccount1//", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_string_equal(cfg.account_url, "http://127.0.0.1:10000/devstoreaccount1");
    assert_string_equal(cfg.sas_token, "sv=1&sig=x");
    config_dispose(&cfg);
    setenv("AZURE_STORAGE_SAS_TOKEN", "sv=1&se=2", 1);
    expect_fail(ST_CONFIG, "no sig=", NULL);
    unsetenv("AZURE_STORAGE_SAS_TOKEN");
    setenv("AZURE_STORAGE_ACCOUNT_URL", "http://acct.blob.core.windows.net", 1);
    expect_fail(ST_CONFIG, "AZURE_STORAGE_ACCOUNT_URL: plain http://", NULL);

    /* managed identity */
    setenv("AZURE_STORAGE_ACCOUNT_URL", "https://acct.blob.core.windows.net", 1);
    setenv("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token", 1);
    expect_fail(ST_CONFIG, "IDENTITY_HEADER", NULL);
    setenv("IDENTITY_HEADER", "hdr-value-1234", 1);
    setenv("IDENTITY_ENDPOINT", "http://10.1.2.3:42356/msi/token/", 1); /* platform: http ok */
    setenv("ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID", "0b9f3d5c-1111-2222-3333-444455556666", 1);
    setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:5555/", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_string_equal(cfg.identity_endpoint, "http://10.1.2.3:42356/msi/token");
    assert_string_equal(cfg.identity_header, "hdr-value-1234");
    assert_string_equal(cfg.managed_identity_client_id, "0b9f3d5c-1111-2222-3333-444455556666");
    assert_string_equal(cfg.imds_endpoint, "http://127.0.0.1:5555/metadata/identity/oauth2/token");
    config_dispose(&cfg);
    setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://evil.example.com", 1);
    expect_fail(ST_CONFIG, "AZURE_POD_IDENTITY_AUTHORITY_HOST", NULL);
}

static void test_config__container_and_prefix(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    static const char *const good[] = {
        "abc", "my-container1", "1ab",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        setenv("ATTENDANCE_CONTAINER", good[i], 1);
        assert_int_equal(load(&cfg, &err, NULL), ST_OK);
        assert_string_equal(cfg.container, good[i]);
        config_dispose(&cfg);
    }
    static const char *const bad[] = {
        "ab",  "Abc", "a--b", "-ab",
        "ab-", "a_b", "a.b",  "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("ATTENDANCE_CONTAINER", bad[i], 1);
        expect_fail(ST_CONFIG, "ATTENDANCE_CONTAINER", NULL);
    }
    unsetenv("ATTENDANCE_CONTAINER");
    static const struct {
        const char *in, *out;
    } pre[] = {{"a/b", "a/b/"}, {"/a//b/", "a/b/"}, {"///", ""}, {"x", "x/"}, {" data ", "data/"}};
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        setenv("ATTENDANCE_PREFIX", pre[i].in, 1);
        assert_int_equal(load(&cfg, &err, NULL), ST_OK);
        assert_string_equal(cfg.prefix, pre[i].out);
        config_dispose(&cfg);
    }
    setenv("ATTENDANCE_PREFIX", "a/../b", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_PREFIX", NULL);
    setenv("ATTENDANCE_PREFIX", "a\\b", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_PREFIX", NULL);
}

static void test_config__integers(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    setenv("ATTENDANCE_FIRST_RUN_DAYS", " 7 ", 1);
    setenv("ATTENDANCE_OVERLAP_MINUTES", "0", 1);
    setenv("ATTENDANCE_SETTLE_MINUTES", "0", 1);
    setenv("ATTENDANCE_HTTP_TIMEOUT_SECONDS", "5", 1);
    setenv("ATTENDANCE_MAX_RETRIES", "0", 1);
    setenv("ATTENDANCE_MAX_RETRY_WAIT_SECONDS", "1", 1);
    setenv("ATTENDANCE_MAX_PAGES", "3", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.first_run_days, 7);
    assert_int_equal(cfg.overlap_minutes, 0);
    assert_int_equal(cfg.settle_minutes, 0);
    assert_int_equal(cfg.http_timeout_s, 5);
    assert_int_equal(cfg.max_retries, 0);
    assert_int_equal(cfg.max_retry_wait_s, 1);
    assert_int_equal(cfg.max_pages, 3);
    config_dispose(&cfg);
    static const struct {
        const char *var, *value;
    } bad[] = {{"ATTENDANCE_FIRST_RUN_DAYS", "0"},
               {"ATTENDANCE_FIRST_RUN_DAYS", "-1"},
               {"ATTENDANCE_FIRST_RUN_DAYS", "thirty"},
               {"ATTENDANCE_FIRST_RUN_DAYS", "30d"},
               {"ATTENDANCE_OVERLAP_MINUTES", "-5"},
               {"ATTENDANCE_CONCURRENCY", "0"},
               {"ATTENDANCE_CONCURRENCY", "99999999999999999999999"},
               {"ATTENDANCE_HTTP_TIMEOUT_SECONDS", "0"},
               {"ATTENDANCE_MAX_RETRIES", "1.5"},
               {"ATTENDANCE_MAX_RETRY_WAIT_SECONDS", "0"},
               {"ATTENDANCE_MAX_PAGES", "0"},
               {"ATTENDANCE_MAX_PAGES", "+5"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        base_env();
        setenv(bad[i].var, bad[i].value, 1);
        expect_fail(ST_CONFIG, bad[i].var, NULL);
    }
}

static void test_config__parquet_and_logs(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    setenv("ATTENDANCE_PARQUET_COMPRESSION", "ZSTD", 1);
    setenv("ATTENDANCE_PARQUET_TIMESTAMPS", "int96", 1);
    setenv("LOG_FORMAT", "text", 1);
    setenv("LOG_LEVEL", "warning", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.codec, PQ_CODEC_ZSTD);
    assert_int_equal(cfg.int96_timestamps, 1);
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(cfg.log_level, LOG_WARN);
    config_dispose(&cfg);
    setenv("ATTENDANCE_PARQUET_COMPRESSION", "none", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.codec, PQ_CODEC_NONE);
    config_dispose(&cfg);
    setenv("ATTENDANCE_PARQUET_COMPRESSION", "gzip", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_PARQUET_COMPRESSION", NULL);
    unsetenv("ATTENDANCE_PARQUET_COMPRESSION");
    setenv("ATTENDANCE_PARQUET_TIMESTAMPS", "nanos", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_PARQUET_TIMESTAMPS", NULL);
    unsetenv("ATTENDANCE_PARQUET_TIMESTAMPS");
    setenv("LOG_FORMAT", "yaml", 1);
    expect_fail(ST_CONFIG, "LOG_FORMAT", NULL);
    setenv("LOG_FORMAT", "json", 1);
    setenv("LOG_LEVEL", "trace", 1);
    expect_fail(ST_CONFIG, "LOG_LEVEL", NULL);
}

static void test_config__hosts(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/", 1);
    setenv("GRAPH_ENDPOINT", "http://127.0.0.1:8080//", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_string_equal(cfg.authority_host, "https://login.microsoftonline.us");
    assert_string_equal(cfg.graph_host, "http://127.0.0.1:8080");
    config_dispose(&cfg);
    setenv("GRAPH_ENDPOINT", "http://[::1]:9000", 1);
    setenv("AZURE_AUTHORITY_HOST", "http://localhost:9001/", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_string_equal(cfg.graph_host, "http://[::1]:9000");
    assert_string_equal(cfg.authority_host, "http://localhost:9001");
    config_dispose(&cfg);
    setenv("GRAPH_ENDPOINT", "http://graph.example.com", 1);
    expect_fail(ST_CONFIG, "GRAPH_ENDPOINT: plain http://", NULL);
    setenv("GRAPH_ENDPOINT", "https://graph.microsoft.com/v1.0/", 1);
    expect_fail(ST_CONFIG, "GRAPH_ENDPOINT: give the host only", NULL);
    setenv("GRAPH_ENDPOINT", "graph.microsoft.com", 1);
    expect_fail(ST_CONFIG, "GRAPH_ENDPOINT", NULL);
    setenv("GRAPH_ENDPOINT", "ftp://graph.microsoft.com", 1);
    expect_fail(ST_CONFIG, "GRAPH_ENDPOINT", NULL);
    setenv("GRAPH_ENDPOINT", "https://user:pw@graph.microsoft.com", 1);
    expect_fail(ST_CONFIG, "user name", NULL);
    setenv("GRAPH_ENDPOINT", "https://graph.microsoft.com?x=1", 1);
    expect_fail(ST_CONFIG, "query", NULL);
    unsetenv("GRAPH_ENDPOINT");
    setenv("AZURE_AUTHORITY_HOST", "http://127.0.0.1.evil.com", 1);
    expect_fail(ST_CONFIG, "AZURE_AUTHORITY_HOST", NULL);
}

static void test_config__loopback(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "http://127.0.0.1",         "http://127.0.0.1:8080/x",   "http://127.255.1.2/",
        "HTTP://LOCALHOST:1",       "http://localhost",          "http://[::1]:80/",
        "http://[0:0:0:0:0:0:0:1]", "http://[::ffff:127.0.0.1]", "http://u@127.0.0.1/"};
    static const char *const no[] = {"http://128.0.0.1",
                                     "http://127.0.0.1.nip.io",
                                     "http://localhost.com",
                                     "http://localhost.",
                                     "http://localhost.:8080/",
                                     "http://10.0.0.1",
                                     "http://[::2]",
                                     "http://127.1",
                                     "127.0.0.1",
                                     "http://",
                                     "http://evil.com/127.0.0.1",
                                     "http://evil.com?h=localhost",
                                     "http://169.254.169.254",
                                     NULL};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!config_is_loopback_url(yes[i]))
            fail_msg("%s should be loopback", yes[i]);
    for (size_t i = 0; no[i]; i++)
        if (config_is_loopback_url(no[i]))
            fail_msg("%s should not be loopback", no[i]);
    assert_false(config_is_loopback_url(NULL));
}

static void test_config__parse_time(void **state)
{
    (void)state;
    int64_t us = 0;
    assert_int_equal(config_parse_time("2026-11-01T00:00:00Z", &us), 0);
    assert_int_equal(us, INT64_C(1793491200) * 1000000);
    assert_int_equal(config_parse_time("2026-11-01", &us), 0);
    assert_int_equal(us, INT64_C(1793491200) * 1000000);
    assert_int_equal(config_parse_time("2026-11-01T01:00:00.5+01:00", &us), 0);
    assert_int_equal(us, INT64_C(1793491200) * 1000000 + 500000);
    assert_int_equal(config_parse_time("2026-11-01T00:00:00", &us), -1); /* no zone */
    assert_int_equal(config_parse_time("yesterday", &us), -1);
    assert_int_equal(config_parse_time("", &us), -1);
    assert_int_equal(config_parse_time(NULL, &us), -1);
}

static void test_config__window(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    assert_int_equal(
        load(&cfg, &err, "run", "--since", "2026-01-01", "--until", "2026-01-02T12:00:00Z", NULL),
        ST_OK);
    assert_int_equal(cfg.has_since, 1);
    assert_int_equal(cfg.has_until, 1);
    assert_int_equal(cfg.since_us, INT64_C(1767225600) * 1000000);
    assert_int_equal(cfg.until_us, INT64_C(1767355200) * 1000000);
    config_dispose(&cfg);
    assert_int_equal(load(&cfg, &err, "--since=2020-01-01T00:00:00Z", NULL), ST_OK);
    assert_int_equal(cfg.has_since, 1);
    assert_int_equal(cfg.has_until, 0);
    config_dispose(&cfg);
    expect_fail(ST_USAGE, "--until must be later", "--since", "2026-01-02", "--until", "2026-01-02",
                NULL);
    expect_fail(ST_USAGE, "--until needs --since", "--until", "2026-01-02", NULL);
    expect_fail(ST_USAGE, "--since", "--since", "2026-01-02T00:00:00", NULL);
    expect_fail(ST_USAGE, "--since", "--since", "last week", NULL);
    expect_fail(ST_USAGE, "in the future", "--since", "9999-01-01", NULL);

    /* audit: its period starts at each mailbox's first window unless --since moves it */
    assert_int_equal(load(&cfg, &err, "audit", "--until", "2026-01-02", "--users", "a@b.com", NULL),
                     ST_OK);
    assert_int_equal(cfg.cmd, CMD_AUDIT);
    assert_int_equal(cfg.has_since, 0);
    assert_int_equal(cfg.has_until, 1);
    config_dispose(&cfg);
    assert_int_equal(load(&cfg, &err, "audit", "--since", "2026-01-01", NULL), ST_OK);
    assert_int_equal(cfg.has_since, 1);
    config_dispose(&cfg);
    expect_fail(ST_USAGE, "--until must be later", "audit", "--since", "2026-01-02", "--until",
                "2026-01-01", NULL);
    expect_fail(ST_USAGE, "run and audit", "check", "--since", "2026-01-02", NULL);
    expect_fail(ST_USAGE, "run command only", "audit", "--shard", "0/2", NULL);
    expect_fail(ST_USAGE, "run command only", "audit", "--claim", NULL);
}

static void test_config__scale(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    assert_int_equal(load(&cfg, &err, "--shard", "1/4", NULL), ST_OK);
    assert_int_equal(cfg.shard_index, 1);
    assert_int_equal(cfg.shard_count, 4);
    config_dispose(&cfg);
    expect_fail(ST_USAGE, "--shard", "--shard=4/4", NULL);
    expect_fail(ST_USAGE, "--shard", "--shard=1", NULL);
    expect_fail(ST_USAGE, "--shard", "--shard=/4", NULL);
    expect_fail(ST_USAGE, "--shard", "--shard=a/b", NULL);
    expect_fail(ST_USAGE, "--shard", "--shard=0/0", NULL);
    expect_fail(ST_CONFIG, "JOB_COMPLETION_INDEX", "--shard-count", "3", NULL);
    setenv("JOB_COMPLETION_INDEX", "2", 1);
    assert_int_equal(load(&cfg, &err, "--shard-count=3", NULL), ST_OK);
    assert_int_equal(cfg.shard_index, 2);
    assert_int_equal(cfg.shard_count, 3);
    config_dispose(&cfg);
    expect_fail(ST_CONFIG, "JOB_COMPLETION_INDEX", "--shard-count=2", NULL);
    expect_fail(ST_USAGE, "not both", "--shard-count=3", "--shard=0/3", NULL);

    expect_fail(ST_CONFIG, "CONTAINER_APP_JOB_EXECUTION_NAME", "--claim", NULL);
    setenv("CONTAINER_APP_JOB_EXECUTION_NAME", "attendance-job-8x7d2", 1);
    assert_int_equal(load(&cfg, &err, "--claim", NULL), ST_OK);
    assert_int_equal(cfg.claim, 1);
    assert_string_equal(cfg.execution_name, "attendance-job-8x7d2");
    config_dispose(&cfg);
    setenv("CONTAINER_APP_JOB_EXECUTION_NAME", "a/../b", 1);
    expect_fail(ST_CONFIG, "CONTAINER_APP_JOB_EXECUTION_NAME", "--claim", NULL);
}

static void test_config__convert(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    clear_env(); /* no credentials needed */
    assert_int_equal(load(&cfg, &err, "convert", "a.json", "--output-dir", "/tmp/o/", "b.json",
                          "--", "--weird.json", NULL),
                     ST_OK);
    assert_int_equal(cfg.cmd, CMD_CONVERT);
    assert_int_equal(cfg.ninputs, 3);
    assert_string_equal(cfg.inputs[0], "a.json");
    assert_string_equal(cfg.inputs[1], "b.json");
    assert_string_equal(cfg.inputs[2], "--weird.json");
    assert_int_equal(cfg.storage, STORAGE_DIR);
    assert_string_equal(cfg.output_dir, "/tmp/o");
    config_dispose(&cfg);
    setenv("ATTENDANCE_OUTPUT_DIR", "/tmp/env", 1);
    setenv("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true", 1);
    assert_int_equal(load(&cfg, &err, "convert", "a.json", NULL), ST_OK);
    assert_string_equal(cfg.output_dir, "/tmp/env");
    config_dispose(&cfg);
    unsetenv("ATTENDANCE_OUTPUT_DIR");
    expect_fail(ST_USAGE, "--output-dir", "convert", "a.json", NULL);
    expect_fail(ST_USAGE, "at least one FILE", "convert", "--output-dir", "x", NULL);
}

static void test_config__usage_text(void **state)
{
    (void)state;
    const char *u = config_usage();
    static const char *const must[] = {"run",
                                       "convert",
                                       "check",
                                       "schema",
                                       "--since",
                                       "--users",
                                       "--output-dir",
                                       "--concurrency",
                                       "--log-format",
                                       "--log-level",
                                       "--shard",
                                       "--claim",
                                       "--sql",
                                       "AZURE_TENANT_ID",
                                       "ATTENDANCE_USERS",
                                       "AZURE_STORAGE_CONNECTION_STRING",
                                       "ATTENDANCE_PREFIX"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        if (!strstr(u, must[i]))
            fail_msg("usage text lacks %s", must[i]);
}

/* The settings the table added or moved: ATTENDANCE_SPILL_MB and ATTENDANCE_TMPDIR
 * (with TMPDIR as its older name). */
static void test_config__table_settings(void **state)
{
    (void)state;
    config cfg;
    errinfo err;
    unsetenv("ATTENDANCE_SPILL_MB");
    unsetenv("ATTENDANCE_TMPDIR");
    unsetenv("TMPDIR");
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.spill_mb, 32);
    assert_string_equal(cfg.tmpdir, "/tmp");
    config_dispose(&cfg);
    setenv("ATTENDANCE_SPILL_MB", "0", 1);
    setenv("TMPDIR", "/var/tmp/", 1);
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.spill_mb, 0);
    assert_string_equal(cfg.tmpdir, "/var/tmp/");
    config_dispose(&cfg);
    setenv("ATTENDANCE_SPILL_MB", " 65536 ", 1);
    setenv("ATTENDANCE_TMPDIR", "/scratch", 1); /* beats TMPDIR */
    assert_int_equal(load(&cfg, &err, NULL), ST_OK);
    assert_int_equal(cfg.spill_mb, 65536);
    assert_string_equal(cfg.tmpdir, "/scratch");
    config_dispose(&cfg);
    static const char *const bad_spill[] = {"65537", "-1", "64MB", "1e3"};
    for (size_t i = 0; i < sizeof bad_spill / sizeof bad_spill[0]; i++) {
        setenv("ATTENDANCE_SPILL_MB", bad_spill[i], 1);
        expect_fail(ST_CONFIG, "ATTENDANCE_SPILL_MB: expected a whole number from 0 to 65536",
                    NULL);
    }
    unsetenv("ATTENDANCE_SPILL_MB");
    setenv("ATTENDANCE_TMPDIR", "scratch", 1);
    expect_fail(ST_CONFIG, "ATTENDANCE_TMPDIR (or TMPDIR): \"scratch\" is not an absolute folder",
                NULL);
    unsetenv("ATTENDANCE_TMPDIR");
    setenv("TMPDIR", "rel/tmp", 1);
    expect_fail(ST_CONFIG, "is not an absolute folder", NULL);
    unsetenv("TMPDIR");
    /* schema reads neither */
    setenv("ATTENDANCE_SPILL_MB", "lots", 1);
    assert_int_equal(load(&cfg, &err, "schema", NULL), ST_OK);
    config_dispose(&cfg);
    unsetenv("ATTENDANCE_SPILL_MB");
}

/* --help holds the whole table of settings, untruncated, between the options and the
 * exit status; the README's form has one row per setting. */
static void test_config__usage_lists_the_table(void **state)
{
    (void)state;
    const char *u = config_usage();
    char *help = config_settings_doc(CONFIG_DOC_HELP);
    char *md = config_settings_doc(CONFIG_DOC_MARKDOWN);
    assert_non_null(help);
    assert_non_null(md);
    const char *at = strstr(u, help);
    assert_non_null(at);
    assert_true(at > strstr(u, "Options ("));
    assert_non_null(strstr(at + strlen(help), "\nExit status: "));
    size_t n = strlen(u);
    assert_true(n > 1 && u[n - 1] == '\n' && u[n - 2] != '\n');
    static const char *const names[] = {"ATTENDANCE_SPILL_MB",
                                        "ATTENDANCE_TMPDIR (or TMPDIR)",
                                        "AZURE_CLIENT_SECRET (or client_secret, client_screte)",
                                        "ATTENDANCE_CONCURRENCY, --concurrency N",
                                        "N from 0 to 65536, default 32",
                                        "SGA_UPN",
                                        "JOB_COMPLETION_INDEX",
                                        "SSL_CERT_FILE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strstr(help, names[i]))
            fail_msg("the settings block lacks %s", names[i]);
    /* one entry line (two spaces, then a name) per README row */
    size_t entries = 0, rows = 0;
    for (const char *p = help; (p = strchr(p, '\n')) != NULL; p++)
        if (p[1] == ' ' && p[2] == ' ' && p[3] != ' ')
            entries++;
    for (const char *p = md; (p = strstr(p, "\n| `")) != NULL; p++)
        rows++;
    assert_true(entries >= 40);
    assert_int_equal(entries, rows);
    assert_non_null(strstr(md, "| `ATTENDANCE_SPILL_MB` | N from 0 to 65536, default `32` | Graph "
                               "data the run keeps in memory"));
    assert_non_null(strstr(md, "`--log-format json\\|text`")); /* | escaped in a cell */
    free(help);
    free(md);
}

#define T(name) cmocka_unit_test_setup(name, setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config__defaults),
        T(test_config__commands),
        T(test_config__usage_errors),
        T(test_config__option_forms),
        T(test_config__first_set_wins),
        T(test_config__mailbox_merge),
        T(test_config__groups),
        T(test_config__many_mailboxes),
        T(test_config__credentials),
        T(test_config__managed_identity_for_graph),
        T(test_config__no_secret_in_messages),
        T(test_config__storage_rule),
        T(test_config__connection_strings),
        T(test_config__account_url_and_identity),
        T(test_config__container_and_prefix),
        T(test_config__integers),
        T(test_config__parquet_and_logs),
        T(test_config__hosts),
        T(test_config__loopback),
        T(test_config__parse_time),
        T(test_config__window),
        T(test_config__scale),
        T(test_config__convert),
        T(test_config__usage_text),
        T(test_config__table_settings),
        T(test_config__usage_lists_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

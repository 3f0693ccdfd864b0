/* Access tokens from Entra ID and managed identity endpoints: see token.h.
 *
 * Each fetch is one request run to its end by the HTTP engine (http_perform), so
 * the engine's rules hold: no redirects, http and https only, its timeout and
 * response size cap (MAX_TOKEN_BODY here), retries on network errors, timeouts, 429
 * and 5xx, and an empty or invalid JSON body (and on 404/410 from the VM metadata
 * endpoint, which answers so while an identity is being assigned), after
 * Retry-After or a jittered exponential backoff capped by the longest wait. The
 * engine is the source's own: a token is fetched from inside an auth hook, while
 * the caller's engine is starting a request and cannot run another one. This file
 * keeps what is about tokens: the request's form, the answer, caching, and errors
 * that name the fix.
 *
 * A token is kept until 5 minutes before it expires (half its lifetime when it
 * lives less than 10 minutes). If renewing it fails while
 * the old one is still valid (and the caller did not ask for a forced renewal
 * after a 401), the old one is returned with a warning: a login outage shorter
 * than those minutes then costs nothing.
 *
 * Secrets: the client secret, every access token, every federated token read
 * from its file and every certificate assertion are registered with secret_add:
 * an assertion lives 10 minutes and is bound to the token endpoint, but that
 * endpoint may quote it in an error, and within those minutes it gets a token. */
#include "auth/token.h"
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "auth/jwt.h"
#include "http/http.h"
#include "log.h"
#include "util/buf.h"
#include "util/timeutil.h"
#include "util/urlenc.h"

#ifndef TA_VERSION
#define TA_VERSION "dev"
#endif

#define RENEW_MARGIN_US (INT64_C(300) * TIMEUTIL_US_PER_SEC)
#define UNKNOWN_LIFETIME_S 300 /* when a response gives no usable expiry */
#define MAX_LIFETIME_S 86400   /* no token lives longer than a day */
#define SECONDS_MAX ((int64_t)1 << 40)
#define MAX_TOKEN_BODY ((size_t)1 << 20)
#define MAX_FEDERATED_TOKEN ((size_t)64 << 10)
#define STORAGE_RESOURCE "https://storage.azure.com/"
#define JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

typedef enum src_kind { SRC_ENTRA, SRC_APP_SERVICE, SRC_IMDS } src_kind;

struct token_source {
    src_kind kind;
    credential_kind cred; /* SRC_ENTRA: which client credential */
    const char *what;     /* "Microsoft Graph" or "Blob Storage", for messages */
    int graph;            /* 1: a token for Microsoft Graph; 0: for Blob Storage */
    char *url;            /* token endpoint, without query */
    char *scope;          /* SRC_ENTRA */
    char *resource;       /* managed identity: the resource asked for */
    char *client_id;      /* SRC_ENTRA: the app; else a user-assigned identity or NULL */
    char *secret;
    char *fed_file;
    char *identity_header;
    EVP_PKEY *key;
    char x5t[JWT_X5T_MAX];
    http_limits lim;
    http_engine *eng; /* made at the first fetch */
    char *token;
    int64_t expires_us;
    int64_t renew_at_us; /* when to fetch a new one: 5 minutes before expiry, or half
                            the lifetime when a token lives less than 10 minutes */
    unsigned fetches;
};

static status nomem(errinfo *err)
{
    return err_set(err, ST_NOMEM, "out of memory in the token source");
}

void token_source_free(token_source *ts)
{
    if (!ts)
        return;
    free(ts->url);
    free(ts->scope);
    free(ts->resource);
    free(ts->client_id);
    secret_free(ts->secret);
    free(ts->fed_file);
    secret_free(ts->identity_header);
    EVP_PKEY_free(ts->key);
    secret_free(ts->token);
    http_engine_free(ts->eng);
    free(ts);
}

status token_check_settings(const config *cfg, errinfo *err)
{
    if (cfg->cred != CRED_CERTIFICATE)
        return ST_OK;
    EVP_PKEY *key = NULL;
    char x5t[JWT_X5T_MAX];
    status st = jwt_load_pem(cfg->cert_path, "AZURE_CLIENT_CERTIFICATE_PATH", &key, x5t, err);
    EVP_PKEY_free(key);
    return st;
}

unsigned token_source_fetches(const token_source *ts)
{
    return ts ? ts->fetches : 0;
}

int64_t token_source_expires_us(const token_source *ts)
{
    return ts && ts->token ? ts->expires_us : 0;
}

static token_source *source_new(const config *cfg, src_kind kind, const char *what)
{
    token_source *ts = calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    ts->kind = kind;
    ts->what = what;
    ts->graph = strcmp(what, "Microsoft Graph") == 0;
    http_limits_default(&ts->lim);
    ts->lim.timeout_ms = (cfg->http_timeout_s > 0 ? cfg->http_timeout_s : 60) * 1000L;
    ts->lim.max_retries = cfg->max_retries >= 0 ? cfg->max_retries : 0;
    ts->lim.max_retry_wait_ms = (cfg->max_retry_wait_s > 0 ? cfg->max_retry_wait_s : 300) * 1000L;
    if (ts->lim.base_backoff_ms > ts->lim.max_retry_wait_ms)
        ts->lim.base_backoff_ms = ts->lim.max_retry_wait_ms;
    ts->lim.max_body = MAX_TOKEN_BODY;
    ts->lim.max_in_flight = 1;
    ts->lim.group_cap = 1;
    return ts;
}

/* "{authority}/{tenant}/oauth2/v2.0/token" */
static char *entra_url(const config *cfg)
{
    size_t n = strlen(cfg->authority_host) + strlen(cfg->tenant) + 32;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%s/%s/oauth2/v2.0/token", cfg->authority_host, cfg->tenant);
    return u;
}

static status entra_common(token_source *ts, const config *cfg, const char *scope, errinfo *err)
{
    if (!cfg->tenant || !cfg->client_id || !cfg->authority_host)
        return err_set(err, ST_CONFIG,
                       "AZURE_TENANT_ID and AZURE_CLIENT_ID are needed to log in to Entra ID");
    if (!(ts->url = entra_url(cfg)) || !(ts->scope = strdup(scope)) ||
        !(ts->client_id = strdup(cfg->client_id)))
        return nomem(err);
    return ST_OK;
}

/* A managed identity: the Container Apps / App Service endpoint when IDENTITY_ENDPOINT
 * is set, else the VM metadata endpoint. client_id names a user-assigned identity
 * (NULL: the system-assigned one). */
static status mi_source(token_source **out, const config *cfg, const char *what,
                        const char *resource, const char *client_id, errinfo *err)
{
    token_source *ts = source_new(cfg, cfg->identity_endpoint ? SRC_APP_SERVICE : SRC_IMDS, what);
    if (!ts)
        return nomem(err);
    status st = ST_OK;
    if (ts->kind == SRC_APP_SERVICE) {
        if (!cfg->identity_header)
            st = err_set(err, ST_CONFIG, "IDENTITY_HEADER: not set while IDENTITY_ENDPOINT is");
        else if (!(ts->url = strdup(cfg->identity_endpoint)) ||
                 !(ts->identity_header = strdup(cfg->identity_header)))
            st = nomem(err);
        if (st == ST_OK)
            secret_add(ts->identity_header);
    } else {
        const char *u = cfg->imds_endpoint
                            ? cfg->imds_endpoint
                            : "http://169.254.169.254/metadata/identity/oauth2/token";
        if (!(ts->url = strdup(u)))
            st = nomem(err);
    }
    if (st == ST_OK &&
        (!(ts->resource = strdup(resource)) || (client_id && !(ts->client_id = strdup(client_id)))))
        st = nomem(err);
    if (st != ST_OK)
        token_source_free(ts);
    else
        *out = ts;
    return st;
}

status token_source_graph(token_source **out, const config *cfg, errinfo *err)
{
    *out = NULL;
    if (cfg->cred == CRED_MANAGED_IDENTITY) {
        if (!cfg->graph_host)
            return err_set(err, ST_CONFIG, "GRAPH_ENDPOINT: no Graph host");
        return mi_source(out, cfg, "Microsoft Graph", cfg->graph_host, cfg->client_id, err);
    }
    token_source *ts = source_new(cfg, SRC_ENTRA, "Microsoft Graph");
    if (!ts)
        return nomem(err);
    status st = ST_OK;
    ts->cred = cfg->cred;
    if (!cfg->graph_host) {
        st = err_set(err, ST_CONFIG, "GRAPH_ENDPOINT: no Graph host");
        goto out;
    }
    size_t n = strlen(cfg->graph_host) + sizeof "/.default";
    char *scope = malloc(n);
    if (!scope) {
        st = nomem(err);
        goto out;
    }
    snprintf(scope, n, "%s/.default", cfg->graph_host);
    st = entra_common(ts, cfg, scope, err);
    free(scope);
    if (st != ST_OK)
        goto out;
    switch (cfg->cred) {
    case CRED_SECRET:
        if (!cfg->client_secret || !(ts->secret = strdup(cfg->client_secret))) {
            st = cfg->client_secret ? nomem(err)
                                    : err_set(err, ST_CONFIG, "AZURE_CLIENT_SECRET: not set");
            goto out;
        }
        secret_add(ts->secret);
        break;
    case CRED_CERTIFICATE:
        if (!cfg->cert_path) {
            st = err_set(err, ST_CONFIG, "AZURE_CLIENT_CERTIFICATE_PATH: not set");
            goto out;
        }
        st = jwt_load_pem(cfg->cert_path, "AZURE_CLIENT_CERTIFICATE_PATH", &ts->key, ts->x5t, err);
        if (st != ST_OK)
            goto out;
        break;
    case CRED_WORKLOAD:
        if (!cfg->federated_token_file || !(ts->fed_file = strdup(cfg->federated_token_file))) {
            st = cfg->federated_token_file
                     ? nomem(err)
                     : err_set(err, ST_CONFIG, "AZURE_FEDERATED_TOKEN_FILE: not set");
            goto out;
        }
        break;
    default:
        st = err_set(err, ST_CONFIG,
                     "no Graph credential: set AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH "
                     "or AZURE_FEDERATED_TOKEN_FILE, or give the app a managed identity "
                     "(IDENTITY_ENDPOINT and IDENTITY_HEADER, or the VM metadata endpoint)");
        goto out;
    }
out:
    if (st != ST_OK)
        token_source_free(ts);
    else
        *out = ts;
    return st;
}

status token_source_storage(token_source **out, const config *cfg, errinfo *err)
{
    *out = NULL;
    if (!cfg->federated_token_file)
        return mi_source(out, cfg, "Blob Storage", STORAGE_RESOURCE,
                         cfg->managed_identity_client_id, err);
    token_source *ts = source_new(cfg, SRC_ENTRA, "Blob Storage");
    if (!ts)
        return nomem(err);
    ts->cred = CRED_WORKLOAD;
    status st = entra_common(ts, cfg, STORAGE_RESOURCE ".default", err);
    if (st == ST_OK && !(ts->fed_file = strdup(cfg->federated_token_file)))
        st = nomem(err);
    if (st != ST_OK)
        token_source_free(ts);
    else
        *out = ts;
    return st;
}

/* ---- building the request ---- */

static status read_federated_token(const token_source *ts, buf *out, errinfo *err)
{
    FILE *f = fopen(ts->fed_file, "rb");
    if (!f)
        return err_set(err, ST_AUTH,
                       "AZURE_FEDERATED_TOKEN_FILE: cannot read the federated token file (%s); "
                       "check the workload identity's token volume",
                       strerror(errno));
    buf b;
    buf_init(&b, MAX_FEDERATED_TOKEN);
    char chunk[4096];
    size_t n;
    status st = ST_OK;
    while (st == ST_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        st = buf_append(&b, chunk, n, err);
    fclose(f);
    secret_wipe(chunk, sizeof chunk);
    if (st == ST_OK) {
        size_t s = 0, e = b.len;
        while (s < e && strchr(" \t\r\n", b.data[s]))
            s++;
        while (e > s && strchr(" \t\r\n", b.data[e - 1]))
            e--;
        if (s == e)
            st = err_set(err, ST_AUTH, "AZURE_FEDERATED_TOKEN_FILE: the token file is empty");
        else
            st = buf_append(out, b.data + s, e - s, err);
    }
    if (b.data)
        secret_wipe(b.data, b.len);
    buf_dispose(&b);
    return st;
}

/* The form body of an Entra client-credentials request (fresh each attempt:
 * an assertion expires, a federated token file rotates). */
static status entra_body(const token_source *ts, buf *body, errinfo *err)
{
    status st = urlenc_form_field(body, "grant_type", "client_credentials", err);
    if (st == ST_OK)
        st = urlenc_form_field(body, "client_id", ts->client_id, err);
    if (st == ST_OK)
        st = urlenc_form_field(body, "scope", ts->scope, err);
    if (st != ST_OK)
        return st;
    if (ts->cred == CRED_SECRET)
        return urlenc_form_field(body, "client_secret", ts->secret, err);
    buf assertion;
    buf_init(&assertion, 0);
    if (ts->cred == CRED_CERTIFICATE) {
        st = jwt_client_assertion(&assertion, ts->key, ts->x5t, ts->url, ts->client_id,
                                  timeutil_now_us() / TIMEUTIL_US_PER_SEC, err);
    } else {
        st = read_federated_token(ts, &assertion, err);
    }
    if (st == ST_OK)
        secret_add(assertion.data);
    if (st == ST_OK)
        st = urlenc_form_field(body, "client_assertion_type", JWT_BEARER, err);
    if (st == ST_OK)
        st = urlenc_form_field(body, "client_assertion", assertion.data, err);
    if (assertion.data)
        secret_wipe(assertion.data, assertion.len);
    buf_dispose(&assertion);
    return st;
}

/* "{endpoint}?resource=...&api-version=...[&client_id=...]" */
static status mi_url(const token_source *ts, buf *url, errinfo *err)
{
    status st = buf_appends(url, ts->url, err);
    if (st == ST_OK)
        st = buf_appends(url, "?resource=", err);
    if (st == ST_OK)
        st = urlenc_query(url, ts->resource, err);
    if (st == ST_OK)
        st = buf_appends(
            url, ts->kind == SRC_IMDS ? "&api-version=2018-02-01" : "&api-version=2019-08-01", err);
    if (st == ST_OK && ts->client_id) {
        st = buf_appends(url, "&client_id=", err);
        if (st == ST_OK)
            st = urlenc_query(url, ts->client_id, err);
    }
    return st;
}

/* ---- reading the answer ---- */

/* A number or a string of digits; -1 otherwise. */
/* A whole number of seconds as the token endpoints write it (a number, or a string
 * of digits); -1 when it is not one, or too large to compute with. */
static int64_t json_seconds(const json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        return x >= 0 && x <= SECONDS_MAX ? (int64_t)x : -1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return d >= 0 && d <= (double)SECONDS_MAX ? (int64_t)d : -1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (end != s && *end == '\0' && errno == 0 && x >= 0 && x <= SECONDS_MAX)
            return (int64_t)x;
    }
    return -1;
}

/* The token's lifetime in seconds from expires_in (or expires_on, the managed
 * identity's absolute time): one outside 1 s to a day, or none at all, is taken as
 * UNKNOWN_LIFETIME_S and logged, so a bad answer can neither overflow the clock nor
 * make the job fetch a token before every request. */
static int64_t token_lifetime_s(const json_t *j, int64_t now_us)
{
    int64_t in = json_seconds(json_object_get(j, "expires_in"));
    int64_t on = json_seconds(json_object_get(j, "expires_on"));
    int64_t life = -1;
    if (in >= 0)
        life = in;
    else if (on >= 0)
        life = on - now_us / TIMEUTIL_US_PER_SEC;
    if (life >= 1 && life <= MAX_LIFETIME_S)
        return life;
    log_warn("the token answer has no usable lifetime; taken as 5 minutes",
             json_pack("{s:s,s:I}", "expires_in",
                       json_is_string(json_object_get(j, "expires_in"))
                           ? "(a string)"
                           : (json_object_get(j, "expires_in") ? "(out of range)" : "(missing)"),
                       "assumed_seconds", (json_int_t)UNKNOWN_LIFETIME_S));
    return UNKNOWN_LIFETIME_S;
}

/* 0 with the token and expiry taken from the answer j; -1 when it is not a token
 * answer (a token with a NUL, CR or LF in it could not go into a header as it is). */
static int take_token(token_source *ts, const json_t *j, int64_t now_us)
{
    if (!json_is_object(j))
        return -1;
    const json_t *t = json_object_get(j, "access_token");
    const char *tok = json_string_value(t);
    const char *type = json_string_value(json_object_get(j, "token_type"));
    if (!tok || !*tok || strlen(tok) != json_string_length(t) || strchr(tok, '\r') ||
        strchr(tok, '\n') || (type && strcasecmp(type, "bearer") != 0))
        return -1;
    char *copy = strdup(tok);
    if (!copy)
        return -1;
    int64_t exp = now_us + token_lifetime_s(j, now_us) * TIMEUTIL_US_PER_SEC;
    secret_free(ts->token);
    ts->token = copy;
    ts->expires_us = exp;
    int64_t margin = (exp - now_us) / 2;
    if (margin > RENEW_MARGIN_US)
        margin = RENEW_MARGIN_US;
    if (margin < 0)
        margin = 0;
    ts->renew_at_us = exp - margin;
    secret_add(ts->token);
    return 0;
}

/* Copies the first line of s (at most n bytes) into out, scrubbed of secrets. */
static void first_line(const char *s, char *out, size_t outlen)
{
    size_t n = s ? strcspn(s, "\r\n") : 0;
    if (n >= outlen)
        n = outlen - 1;
    if (n)
        memcpy(out, s, n);
    out[n] = '\0';
    secret_scrub(out, outlen);
}

/* What to do about an Entra error, by its AADSTS code. */
static const char *entra_fix(const token_source *ts, const char *desc)
{
    long code = 0;
    const char *a = desc ? strstr(desc, "AADSTS") : NULL;
    if (a)
        code = strtol(a + 6, NULL, 10);
    switch (code) {
    case 7000215:
        return "check AZURE_CLIENT_SECRET: use the secret's Value (not its ID), from this app "
               "registration";
    case 7000222:
        return "the client secret has expired: create a new one and set AZURE_CLIENT_SECRET";
    case 700016:
        return "check AZURE_CLIENT_ID and AZURE_TENANT_ID: no such application in that tenant";
    case 90002:
    case 900023:
    case 90013:
        return "check AZURE_TENANT_ID (a tenant GUID or domain)";
    case 700027:
    case 700023:
        return "check AZURE_CLIENT_CERTIFICATE_PATH: upload that certificate to the app "
               "registration";
    case 700024:
        return "the assertion is outside its valid time: check the clock, or the federated "
               "token file is stale";
    case 70021:
    case 700211:
    case 700212:
    case 700213:
        return "check the app registration's federated credential (issuer, subject, audience) "
               "for this workload";
    case 70011:
    case 1002012:
    case 500011:
        return "check GRAPH_ENDPOINT: the scope must be a resource the tenant knows";
    case 7000112:
        return "the application is disabled in the tenant";
    default:
        break;
    }
    switch (ts->cred) {
    case CRED_SECRET:
        return "check AZURE_CLIENT_SECRET, AZURE_CLIENT_ID and AZURE_TENANT_ID";
    case CRED_CERTIFICATE:
        return "check AZURE_CLIENT_CERTIFICATE_PATH (the certificate must be uploaded to the app "
               "registration), AZURE_CLIENT_ID and AZURE_TENANT_ID";
    default:
        return "check AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID and the app's "
               "federated credentials";
    }
}

static status http_error(const token_source *ts, const http_result *r, errinfo *err)
{
    char error[96] = "", desc[320] = "";
    json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    if (json_is_object(j)) {
        const json_t *e = json_object_get(j, "error");
        if (json_is_object(e)) { /* {"error": {"code", "message"}} */
            first_line(json_string_value(json_object_get(e, "code")), error, sizeof error);
            first_line(json_string_value(json_object_get(e, "message")), desc, sizeof desc);
        } else {
            first_line(json_string_value(e), error, sizeof error);
            first_line(json_string_value(json_object_get(j, "error_description")), desc,
                       sizeof desc);
            if (!desc[0])
                first_line(json_string_value(json_object_get(j, "message")), desc, sizeof desc);
        }
    }
    json_decref(j);
    status code = r->http_status == 403 ? ST_FORBIDDEN : ST_AUTH;
    if (r->http_status >= 500 || r->http_status == 429)
        code = ST_HTTP;
    const char *fix;
    if (ts->kind == SRC_ENTRA)
        fix = ts->cred == CRED_WORKLOAD && !ts->graph
                  ? "check the workload identity's federated credential and its Storage Blob "
                    "Data Contributor role on the account"
                  : entra_fix(ts, desc);
    else if (ts->graph && ts->kind == SRC_IMDS && (r->http_status == 400 || r->http_status == 404))
        fix = "the VM has no managed identity (or not the user-assigned one AZURE_CLIENT_ID "
              "names); assign one, or set AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH";
    else if (ts->graph)
        fix = "give the app a managed identity (a user-assigned one is named by AZURE_CLIENT_ID) "
              "and grant it the Graph application permissions User.Read.All, Calendars.Read, "
              "OnlineMeetings.Read.All and OnlineMeetingArtifact.Read.All (admin consent); or set "
              "AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH";
    else if (ts->kind == SRC_IMDS && (r->http_status == 400 || r->http_status == 404))
        fix = "the VM has no managed identity (or not the one named by "
              "ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID); assign one, or set AZURE_STORAGE_SAS_TOKEN";
    else
        fix = "give the app a managed identity with the Storage Blob Data Contributor role (and "
              "ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID for a user-assigned one), or set "
              "AZURE_STORAGE_SAS_TOKEN";
    err_set(err, code, "%s token request to %s failed: HTTP %ld%s%s%s%s; fix: %s", ts->what,
            ts->url, r->http_status, error[0] ? " " : "", error, desc[0] ? ": " : "", desc, fix);
    if (err)
        err->http_status = (int)r->http_status;
    return code;
}

/* The engine's failure, told as a token failure: what fails without an HTTP answer
 * keeps the engine's text (and its libcurl code, for check's fixes). */
static status transport_error(const token_source *ts, const http_result *res, errinfo *err)
{
    int fresh = err && err->code == ST_OK;
    status st;
    if (res->st == ST_TIMEOUT)
        st = err_set(err, ST_TIMEOUT,
                     "%s token request timed out (ATTENDANCE_HTTP_TIMEOUT_SECONDS): %s", ts->what,
                     res->err.msg);
    else
        st = err_set(err, res->st, "%s token request failed: %s%s", ts->what, res->err.msg,
                     ts->kind != SRC_IMDS ? ""
                     : ts->graph
                         ? "; no VM metadata endpoint here: set AZURE_CLIENT_SECRET, "
                           "AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE, or "
                           "IDENTITY_ENDPOINT and IDENTITY_HEADER"
                         : "; no VM metadata endpoint here: give the app a managed identity, "
                           "or set AZURE_STORAGE_SAS_TOKEN or a connection string");
    if (fresh)
        err->curl_code = res->err.curl_code;
    return st;
}

static status read_answer(token_source *ts, const http_result *res, int64_t sent_us, errinfo *err)
{
    if (res->st == ST_OK && take_token(ts, res->json, sent_us) == 0)
        return ST_OK;
    if (res->st == ST_TOO_LARGE)
        return err_set(err, ST_TOO_LARGE, "%s token request to %s: the answer is over %zu bytes",
                       ts->what, ts->url, MAX_TOKEN_BODY);
    if (res->err.curl_code)
        return transport_error(ts, res, err);
    if (res->http_status >= 200 && res->http_status < 300) /* also after empty or bad JSON */
        return err_set(err, ST_AUTH,
                       "%s token request to %s: the answer holds no bearer access_token", ts->what,
                       ts->url);
    if (res->http_status)
        return http_error(ts, res, err);
    if (err && err->code == ST_OK) /* before any answer: the request could not be built */
        *err = res->err;
    return res->st;
}

typedef struct form_ctx {
    const token_source *ts;
    buf body;
} form_ctx;

/* The engine's prepare hook: each attempt sends a fresh form (an assertion expires,
 * a federated token file rotates); the one before is wiped. */
static status prepare_form(void *ctx, http_request *req, errinfo *err)
{
    form_ctx *fc = ctx;
    if (fc->body.data)
        secret_wipe(fc->body.data, fc->body.len);
    buf_reset(&fc->body);
    status st = entra_body(fc->ts, &fc->body, err);
    if (st == ST_OK)
        http_request_body_ref(req, fc->body.data, fc->body.len);
    return st;
}

static status add_headers(const token_source *ts, http_request *req, errinfo *err)
{
    status st = http_request_header(req, "Accept: application/json", err);
    if (st == ST_OK)
        st = http_request_header(req, "User-Agent: teams-attendance/" TA_VERSION, err);
    if (st == ST_OK && ts->kind == SRC_ENTRA)
        st = http_request_header(req, "Content-Type: application/x-www-form-urlencoded", err);
    if (st == ST_OK && ts->kind == SRC_IMDS)
        st = http_request_header(req, "Metadata: true", err);
    if (st == ST_OK && ts->kind == SRC_APP_SERVICE) {
        size_t n = strlen(ts->identity_header) + 32;
        char *h = malloc(n);
        if (!h)
            return nomem(err);
        snprintf(h, n, "X-IDENTITY-HEADER: %s", ts->identity_header);
        st = http_request_header(req, h, err); /* the engine wipes its copy */
        secret_free(h);
    }
    return st;
}

static status fetch(token_source *ts, errinfo *err)
{
    http_result res;
    memset(&res, 0, sizeof res);
    buf_init(&res.body, 0);
    buf url;
    buf_init(&url, 0);
    form_ctx form = {ts, {0}};
    buf_init(&form.body, 0);
    http_request *req = NULL;

    status st = ST_OK;
    if (!ts->eng)
        st = http_engine_new(&ts->eng, &ts->lim, err);
    if (st == ST_OK)
        st = ts->kind == SRC_ENTRA ? buf_appends(&url, ts->url, err) : mi_url(ts, &url, err);
    if (st != ST_OK)
        goto out;
    if (!(req = http_request_new(ts->kind == SRC_ENTRA ? "POST" : "GET", url.data))) {
        st = nomem(err);
        goto out;
    }
    /* the platform endpoints are on the host: never through a proxy */
    http_request_flags(req, HTTP_EXPECT_JSON | (ts->kind == SRC_IMDS ? HTTP_RETRY_NOT_FOUND : 0) |
                                (ts->kind != SRC_ENTRA ? HTTP_NO_PROXY : 0));
    if (ts->kind == SRC_ENTRA)
        http_request_prepare(req, prepare_form, &form);
    if ((st = add_headers(ts, req, err)) != ST_OK) {
        http_request_free(req);
        goto out;
    }
    int64_t sent_us = timeutil_now_us();   /* the lifetime counts from the first attempt */
    st = http_perform(ts->eng, req, &res); /* res holds the whole outcome: read below */
    ts->fetches += (unsigned)res.attempts;
    st = read_answer(ts, &res, sent_us, err);
out:
    if (form.body.data)
        secret_wipe(form.body.data, form.body.len);
    buf_dispose(&form.body);
    buf_dispose(&url);
    if (res.body.data)
        secret_wipe(res.body.data, res.body.len); /* a token answer holds the token */
    http_result_dispose(&res);
    return st;
}

status token_get(token_source *ts, int force_renew, const char **token, errinfo *err)
{
    int64_t now = timeutil_now_us();
    if (force_renew)
        ts->expires_us = ts->renew_at_us = 0; /* rejected by the server: never hand it out again */
    if (ts->token && !force_renew && now < ts->renew_at_us) {
        *token = ts->token;
        return ST_OK;
    }
    errinfo local = {0};
    status st = fetch(ts, &local);
    if (st == ST_OK) {
        *token = ts->token;
        return ST_OK;
    }
    if (ts->token && !force_renew && timeutil_now_us() < ts->expires_us) {
        log_warn("token renewal failed; the current token is still valid and is kept",
                 json_pack("{s:s, s:s}", "source", ts->what, "error", local.msg));
        *token = ts->token;
        return ST_OK;
    }
    if (err && err->code == ST_OK) {
        *err = local;
    }
    return st;
}

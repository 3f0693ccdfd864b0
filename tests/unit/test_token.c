/* Unit tests for src/auth/token and src/auth/jwt against a small HTTP server
 * started inside the test on 127.0.0.1 (a thread answering canned responses and
 * recording each request): the form body of each credential, the PS256 client
 * assertion verified with the public key of a certificate made at test time,
 * managed identity requests, caching and renewal, retries, and error messages
 * that name the fix without the secret. */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "auth/jwt.h"
#include "auth/token.h"
#include "secret.h"
#include "config.h"
#include "log.h"
#include "util/buf.h"
#include "util/timeutil.h"
#include "util/urlenc.h"

#define SECRET "s3cr+t/Val=ue&more~xyz"
#define MAX_CANNED 16

/* ---- the test server ---- */

typedef struct canned {
    int status;          /* 0: close the connection without answering */
    const char *headers; /* extra header lines, each ending in \r\n */
    char *body;          /* owned */
    int delay_ms;
} canned;

typedef struct server {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    canned replies[MAX_CANNED];
    int nreplies, next;
    char *requests[MAX_CANNED]; /* head and body as received */
    int nrequests;
    int stop;
} server;

static server srv;

static void reply(int code, const char *headers, const char *body)
{
    pthread_mutex_lock(&srv.mu);
    assert_true(srv.nreplies < MAX_CANNED);
    canned *c = &srv.replies[srv.nreplies++];
    c->status = code;
    c->headers = headers ? headers : "";
    c->body = strdup(body ? body : "");
    c->delay_ms = 0;
    pthread_mutex_unlock(&srv.mu);
}

static void reply_token(const char *token, long expires_in)
{
    char b[512];
    snprintf(b, sizeof b,
             "{\"token_type\":\"Bearer\",\"expires_in\":%ld,\"ext_expires_in\":%ld,"
             "\"access_token\":\"%s\"}",
             expires_in, expires_in, token);
    reply(200, NULL, b);
}

static void read_request(int c)
{
    buf b;
    buf_init(&b, 1 << 22);
    char chunk[4096];
    size_t head_end = 0, want = 0;
    for (;;) {
        ssize_t n = recv(c, chunk, sizeof chunk, 0);
        if (n <= 0)
            break;
        if (buf_append(&b, chunk, (size_t)n, NULL) != ST_OK)
            break;
        if (!head_end) {
            char *e = strstr(b.data, "\r\n\r\n");
            if (!e)
                continue;
            head_end = (size_t)(e - b.data) + 4;
            const char *cl = strcasestr(b.data, "\r\nContent-Length:");
            size_t len = cl && cl < e ? strtoul(cl + 17, NULL, 10) : 0;
            want = head_end + len;
        }
        if (b.len >= want)
            break;
    }
    pthread_mutex_lock(&srv.mu);
    if (srv.nrequests < MAX_CANNED)
        srv.requests[srv.nrequests++] = buf_take(&b);
    pthread_mutex_unlock(&srv.mu);
    buf_dispose(&b);
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&srv.mu);
        int stop = srv.stop;
        pthread_mutex_unlock(&srv.mu);
        if (stop)
            break;
        struct pollfd p = {srv.fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(srv.fd, NULL, NULL);
        if (c < 0)
            continue;
        read_request(c);
        pthread_mutex_lock(&srv.mu);
        canned cur = {500, "", NULL, 0};
        if (srv.next < srv.nreplies)
            cur = srv.replies[srv.next++];
        pthread_mutex_unlock(&srv.mu);
        if (cur.delay_ms) {
            struct timespec t = {cur.delay_ms / 1000, (cur.delay_ms % 1000) * 1000000L};
            nanosleep(&t, NULL);
        }
        if (cur.status) {
            const char *body = cur.body ? cur.body : "";
            char head[1024];
            int n = snprintf(head, sizeof head,
                             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                             cur.status, strlen(body), cur.headers);
            ssize_t w = send(c, head, (size_t)n, MSG_NOSIGNAL);
            size_t off = 0, len = strlen(body);
            while (w >= 0 && off < len) {
                w = send(c, body + off, len - off, MSG_NOSIGNAL);
                if (w > 0)
                    off += (size_t)w;
            }
        }
        close(c);
    }
    return NULL;
}

static int server_start(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof srv);
    pthread_mutex_init(&srv.mu, NULL);
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv.fd, 16) != 0)
        return -1;
    socklen_t al = sizeof a;
    getsockname(srv.fd, (struct sockaddr *)&a, &al);
    srv.port = ntohs(a.sin_port);
    log_setup(LOG_FORMAT_JSON, LOG_ERROR);
    return pthread_create(&srv.thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int server_stop(void **state)
{
    (void)state;
    pthread_mutex_lock(&srv.mu);
    srv.stop = 1;
    pthread_mutex_unlock(&srv.mu);
    pthread_join(srv.thread, NULL);
    close(srv.fd);
    for (int i = 0; i < srv.nreplies; i++)
        free(srv.replies[i].body);
    for (int i = 0; i < srv.nrequests; i++)
        free(srv.requests[i]);
    pthread_mutex_destroy(&srv.mu);
    return 0;
}

static const char *request(int i)
{
    pthread_mutex_lock(&srv.mu);
    const char *r = i < srv.nrequests ? srv.requests[i] : NULL;
    pthread_mutex_unlock(&srv.mu);
    if (!r)
        fail_msg("no request %d recorded", i);
    return r;
}

static int nrequests(void)
{
    pthread_mutex_lock(&srv.mu);
    int n = srv.nrequests;
    pthread_mutex_unlock(&srv.mu);
    return n;
}

/* The decoded value of form field `name` in request i's body; caller frees. */
static char *form_field(int i, const char *name)
{
    const char *body = strstr(request(i), "\r\n\r\n") + 4;
    size_t nl = strlen(name);
    for (const char *p = body; *p;) {
        size_t n = strcspn(p, "&");
        if (n > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            buf b;
            buf_init(&b, 0);
            if (urlenc_decode(&b, p + nl + 1, n - nl - 1, 1, NULL) != ST_OK)
                fail_msg("bad escape in field %s", name);
            return buf_take(&b);
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return NULL;
}

static void assert_starts(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("request \"%.200s\" does not start with \"%s\"", s, prefix);
}

static void base_config(config *cfg)
{
    static char host[64], tenant[] = "tenant-x", client[] = "11111111-2222-3333-4444-555555555555",
                          secret[] = SECRET;
    snprintf(host, sizeof host, "http://127.0.0.1:%d", srv.port);
    memset(cfg, 0, sizeof *cfg);
    cfg->tenant = tenant;
    cfg->client_id = client;
    cfg->cred = CRED_SECRET;
    cfg->client_secret = secret;
    cfg->authority_host = host;
    cfg->graph_host = host;
    cfg->http_timeout_s = 5;
    cfg->max_retries = 3;
    cfg->max_retry_wait_s = 2;
}

/* ---- client secret ---- */

static void test_token__secret_request(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    reply_token("tok-AAAA-1", 3599);
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok = NULL;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-AAAA-1");
    assert_int_equal(token_source_fetches(ts), 1);
    assert_int_equal(nrequests(), 1);

    const char *r = request(0);
    assert_starts(r, "POST /tenant-x/oauth2/v2.0/token HTTP/1.1\r\n");
    assert_non_null(strcasestr(r, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    char *v;
    assert_string_equal(v = form_field(0, "grant_type"), "client_credentials");
    free(v);
    assert_string_equal(v = form_field(0, "client_id"), cfg.client_id);
    free(v);
    char scope[96];
    snprintf(scope, sizeof scope, "http://127.0.0.1:%d/.default", srv.port);
    assert_string_equal(v = form_field(0, "scope"), scope);
    free(v);
    assert_string_equal(v = form_field(0, "client_secret"), SECRET);
    free(v);
    assert_null(form_field(0, "client_assertion"));
    /* the secret is percent-encoded on the wire, its '+' included */
    assert_non_null(strstr(r, "client_secret=s3cr%2Bt%2FVal%3Due%26more~xyz"));

    /* cached: no new request */
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-AAAA-1");
    assert_int_equal(token_source_fetches(ts), 1);
    assert_int_equal(nrequests(), 1);
    token_source_free(ts);
    token_source_free(NULL);
}

/* expires_in is read from the network: 10^13, 1e300, 0, -5 or text are no lifetime
 * (taken as 5 minutes, never an overflow, never a fetch per request); a few seconds
 * is honoured. */
static void test_token__lifetime_out_of_range(void **state)
{
    (void)state;
    static const char *const bad[] = {"10000000000000", "1e300", "0",   "-5",
                                      "\"soon\"",       "86401", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config cfg;
        base_config(&cfg);
        char body[256];
        snprintf(body, sizeof body,
                 "{\"token_type\":\"Bearer\",\"expires_in\":%s,\"access_token\":\"tok-%zu\"}",
                 bad[i], i);
        reply(200, NULL, body);
        token_source *ts;
        errinfo err = {0};
        assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
        const char *tok;
        assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
        int64_t now = timeutil_now_us();
        int64_t life = token_source_expires_us(ts) - now;
        if (life < 295 * TIMEUTIL_US_PER_SEC || life > 301 * TIMEUTIL_US_PER_SEC)
            fail_msg("expires_in %s: lifetime %lld us, want 300 s", bad[i], (long long)life);
        assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
        assert_int_equal(token_source_fetches(ts), 1);
        token_source_free(ts);
    }
}

static void test_token__renewal(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    reply_token("tok-first-1", 3599);
    reply_token("tok-second-2", 1); /* renewed at half its life */
    reply_token("tok-third-3", 3599);
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-first-1");
    /* after a 401 the caller forces a renewal */
    assert_int_equal(token_get(ts, 1, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-second-2");
    /* a token at its renewal time is renewed before use */
    usleep(600000);
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-third-3");
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-third-3");
    assert_int_equal(token_source_fetches(ts), 3);
    assert_int_equal(nrequests(), 3);
    token_source_free(ts);
}

/* A token that lives less than 10 minutes is renewed at half its life, not on
 * every use (a 5-minute margin would renew a 200-second token every time). */
static void test_token__short_lifetime_kept_half_its_life(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    reply_token("tok-short-1", 200);
    reply_token("tok-short-2", 200);
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
        assert_string_equal(tok, "tok-short-1");
    }
    assert_int_equal(token_source_fetches(ts), 1);
    token_source_free(ts);
}

static void test_token__keeps_valid_token_when_renewal_fails(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    cfg.max_retries = 0;
    reply_token("tok-short-1", 2); /* renewed after 1 s, valid for 2 */
    reply(400, NULL, "{\"error\":\"temporarily_unavailable\"}");
    reply(400, NULL, "{\"error\":\"temporarily_unavailable\"}");
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    struct timespec pause = {1, 200000000};
    nanosleep(&pause, NULL);
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-short-1");
    assert_int_equal(err.code, ST_OK);
    /* a forced renewal does not fall back */
    assert_int_equal(token_get(ts, 1, &tok, &err), ST_AUTH);
    assert_int_equal(err.http_status, 400);
    assert_int_equal(nrequests(), 3);
    token_source_free(ts);
}

static void test_token__retries(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    reply(503, "Retry-After: 0\r\n", "{}");
    reply(429, "Retry-After: 0.05\r\n", "{}");
    reply(0, NULL, NULL); /* connection closed without an answer */
    reply(200, NULL, ""); /* empty body */
    reply_token("tok-after-retries", 3599);
    token_source *ts;
    errinfo err = {0};
    cfg.max_retries = 4;
    cfg.max_retry_wait_s = 1;
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    int64_t t0 = timeutil_now_us();
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    int64_t took = timeutil_now_us() - t0;
    assert_string_equal(tok, "tok-after-retries");
    assert_int_equal(token_source_fetches(ts), 5);
    assert_int_equal(nrequests(), 5);
    /* Retry-After 0 and 0.05 s, then two backoffs capped at 1 s, jittered to 50-100 % */
    assert_true(took >= 50000 + 2 * 500000);
    assert_true(took < 4000000);
    token_source_free(ts);
}

/* The engine's Retry-After: waited for, and never longer than
 * ATTENDANCE_MAX_RETRY_WAIT_SECONDS. */
static void test_token__retry_after_waited_and_capped(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    cfg.max_retry_wait_s = 1;
    reply(503, "Retry-After: 1\r\n", "{\"error\":\"temporarily_unavailable\"}");
    reply_token("tok-waited", 3599);
    reply(429, "Retry-After: 120\r\n", "{}");
    reply_token("tok-capped", 3599);
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    int64_t t0 = timeutil_now_us();
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    int64_t took = timeutil_now_us() - t0;
    assert_string_equal(tok, "tok-waited");
    assert_int_equal(token_source_fetches(ts), 2);
    if (took < 950000 || took > 2500000)
        fail_msg("Retry-After: 1 took %lld us", (long long)took);
    t0 = timeutil_now_us();
    assert_int_equal(token_get(ts, 1, &tok, &err), ST_OK);
    took = timeutil_now_us() - t0;
    assert_string_equal(tok, "tok-capped");
    if (took < 950000 || took > 2500000)
        fail_msg("Retry-After: 120 capped at 1 s took %lld us", (long long)took);
    assert_int_equal(token_source_fetches(ts), 4);
    assert_int_equal(nrequests(), 4);
    token_source_free(ts);
}

static void test_token__retries_run_out(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    cfg.max_retries = 1;
    reply(500, "Retry-After: 0\r\n", "{\"error\":\"server_error\"}");
    reply(500, "Retry-After: 0\r\n", "{\"error\":\"server_error\"}");
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_HTTP);
    assert_int_equal(err.http_status, 500);
    assert_non_null(strstr(err.msg, "HTTP 500"));
    assert_int_equal(nrequests(), 2);
    token_source_free(ts);
}

static void test_token__login_error_message(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    reply(401, NULL,
          "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client "
          "secret provided. Ensure the secret being sent in the request is the client secret "
          "value, not the client secret ID.\\r\\nTrace ID: 0d3b\\r\\nCorrelation ID: "
          "9f1a\\r\\nTimestamp: 2026-11-01 09:00:00Z\",\"error_codes\":[7000215]}");
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_AUTH);
    assert_int_equal(err.http_status, 401);
    assert_non_null(strstr(err.msg, "Microsoft Graph"));
    assert_non_null(strstr(err.msg, "invalid_client"));
    assert_non_null(strstr(err.msg, "AADSTS7000215: Invalid client secret provided."));
    assert_non_null(strstr(err.msg, "check AZURE_CLIENT_SECRET"));
    assert_null(strstr(err.msg, "Trace ID"));
    assert_null(strstr(err.msg, SECRET));
    assert_int_equal(nrequests(), 1); /* a 401 is not retried */
    token_source_free(ts);
}

static void test_token__error_never_echoes_secret(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    reply(400, NULL,
          "{\"error\":\"invalid_request\",\"error_description\":\"AADSTS90002: Tenant 'x' not "
          "found; you sent " SECRET "\"}");
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_AUTH);
    assert_non_null(strstr(err.msg, "AADSTS90002"));
    assert_non_null(strstr(err.msg, "check AZURE_TENANT_ID"));
    assert_null(strstr(err.msg, SECRET));
    token_source_free(ts);
}

static void test_token__no_redirects_and_bad_answers(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    cfg.max_retries = 1;
    char loc[128];
    snprintf(loc, sizeof loc, "Location: http://127.0.0.1:%d/elsewhere\r\n", srv.port);
    reply(302, loc, "");
    reply(200, NULL, "{\"token_type\":\"Bearer\",\"expires_in\":3599}");
    reply(200, NULL, "{\"token_type\":\"MAC\",\"access_token\":\"x\"}");
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_AUTH);
    assert_int_equal(err.http_status, 302);
    assert_int_equal(nrequests(), 1);
    /* an answer that is JSON but no bearer token is the server's final word, as
     * any valid JSON answer is to the engine: not retried */
    for (int i = 2; i <= 3; i++) {
        err_clear(&err);
        assert_int_equal(token_get(ts, 0, &tok, &err), ST_AUTH);
        assert_non_null(strstr(err.msg, "no bearer access_token"));
        assert_int_equal(nrequests(), i);
    }
    token_source_free(ts);
}

static void test_token__size_cap_and_timeout(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    cfg.max_retries = 0;
    cfg.http_timeout_s = 1;
    size_t big = (size_t)2 << 20;
    char *body = malloc(big + 1);
    assert_non_null(body);
    memset(body, 'a', big);
    body[big] = '\0';
    reply(200, NULL, body);
    free(body);
    reply_token("late", 3599);
    pthread_mutex_lock(&srv.mu);
    srv.replies[1].delay_ms = 1500;
    pthread_mutex_unlock(&srv.mu);
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_TOO_LARGE);
    err_clear(&err);
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_TIMEOUT);
    assert_non_null(strstr(err.msg, "timed out"));
    token_source_free(ts);
}

/* ---- certificate ---- */

static EVP_PKEY *test_key;
static X509 *test_cert;

static void make_cert(void)
{
    if (test_key)
        return;
    test_key = EVP_RSA_gen(2048);
    assert_non_null(test_key);
    test_cert = X509_new();
    X509_set_version(test_cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(test_cert), 12345);
    X509_gmtime_adj(X509_getm_notBefore(test_cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(test_cert), 86400);
    X509_set_pubkey(test_cert, test_key);
    X509_NAME *name = X509_get_subject_name(test_cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"ta-test", -1, -1,
                               0);
    X509_set_issuer_name(test_cert, name);
    assert_true(X509_sign(test_cert, test_key, EVP_sha256()) > 0);
}

/* Writes a PEM file: cert then key (the loader must find both in any order). */
static void write_pem(char *path, int encrypt, int with_cert, EVP_PKEY *key)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    if (with_cert)
        assert_true(PEM_write_X509(f, test_cert) == 1);
    if (encrypt)
        assert_true(PEM_write_PrivateKey(f, key, EVP_aes_128_cbc(), (unsigned char *)"pass", 4,
                                         NULL, NULL) == 1);
    else
        assert_true(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
}

static json_t *decode_part(const char *s, size_t n)
{
    buf b;
    buf_init(&b, 0);
    assert_int_equal(urlenc_base64_decode(&b, s, n, NULL), ST_OK);
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    buf_dispose(&b);
    assert_non_null(j);
    return j;
}

static void test_token__certificate_assertion(void **state)
{
    (void)state;
    make_cert();
    char pem[] = "/tmp/ta-token-cert-XXXXXX";
    write_pem(pem, 0, 1, test_key);
    config cfg;
    base_config(&cfg);
    cfg.cred = CRED_CERTIFICATE;
    cfg.client_secret = NULL;
    cfg.cert_path = pem;
    reply_token("tok-cert", 3599);
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    int64_t now = timeutil_now_us() / 1000000;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-cert");

    char *v;
    assert_null(form_field(0, "client_secret"));
    assert_string_equal(v = form_field(0, "client_assertion_type"),
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    free(v);
    char *jwt = form_field(0, "client_assertion");
    assert_non_null(jwt);
    char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    assert_non_null(dot2);
    assert_null(strchr(dot2 + 1, '.'));

    json_t *hdr = decode_part(jwt, (size_t)(dot1 - jwt));
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "PS256");
    assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
    unsigned char *der = NULL;
    int dlen = i2d_X509(test_cert, &der);
    unsigned char dg[SHA256_DIGEST_LENGTH];
    SHA256(der, (size_t)dlen, dg);
    OPENSSL_free(der);
    buf x5t;
    buf_init(&x5t, 0);
    assert_int_equal(urlenc_base64url(&x5t, dg, sizeof dg, NULL), ST_OK);
    assert_string_equal(json_string_value(json_object_get(hdr, "x5t#S256")), x5t.data);
    assert_int_equal(strlen(x5t.data), 43);
    buf_dispose(&x5t);
    json_decref(hdr);

    json_t *cl = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    char aud[128];
    snprintf(aud, sizeof aud, "http://127.0.0.1:%d/tenant-x/oauth2/v2.0/token", srv.port);
    assert_string_equal(json_string_value(json_object_get(cl, "aud")), aud);
    assert_string_equal(json_string_value(json_object_get(cl, "iss")), cfg.client_id);
    assert_string_equal(json_string_value(json_object_get(cl, "sub")), cfg.client_id);
    const char *jti = json_string_value(json_object_get(cl, "jti"));
    assert_non_null(jti);
    assert_int_equal(strlen(jti), 36);
    assert_true(jti[8] == '-' && jti[13] == '-' && jti[14] == '4' && jti[18] == '-' &&
                jti[23] == '-');
    json_int_t nbf = json_integer_value(json_object_get(cl, "nbf"));
    json_int_t iat = json_integer_value(json_object_get(cl, "iat"));
    json_int_t exp = json_integer_value(json_object_get(cl, "exp"));
    assert_true(nbf >= now - 2 && nbf <= now + 2);
    assert_int_equal(iat, nbf);
    assert_int_equal(exp, nbf + 600);
    json_decref(cl);

    /* the signature verifies with the certificate's public key, PSS salt 32 */
    buf sig;
    buf_init(&sig, 0);
    assert_int_equal(urlenc_base64_decode(&sig, dot2 + 1, strlen(dot2 + 1), NULL), ST_OK);
    assert_int_equal(sig.len, 256);
    EVP_PKEY *pub = X509_get_pubkey(test_cert);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    assert_int_equal(EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pub), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32), 1);
    assert_int_equal(EVP_DigestVerify(md, (unsigned char *)sig.data, sig.len, (unsigned char *)jwt,
                                      (size_t)(dot2 - jwt)),
                     1);
    /* and not over altered claims */
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pub), 1);
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
    jwt[dot1 - jwt + 3] ^= 1;
    assert_int_not_equal(EVP_DigestVerify(md, (unsigned char *)sig.data, sig.len,
                                          (unsigned char *)jwt, (size_t)(dot2 - jwt)),
                         1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    buf_dispose(&sig);
    free(jwt);

    /* a renewal signs a new assertion (new jti) */
    reply_token("tok-cert-2", 3599);
    assert_int_equal(token_get(ts, 1, &tok, &err), ST_OK);
    char *a1 = form_field(0, "client_assertion"), *a2 = form_field(1, "client_assertion");
    assert_string_not_equal(a1, a2);
    free(a1);
    free(a2);
    token_source_free(ts);
    unlink(pem);
}

/* A retried request signs a new assertion: the one before may be the reason it failed
 * (it expires), and each carries its own jti. */
static void test_token__retry_signs_a_new_assertion(void **state)
{
    (void)state;
    make_cert();
    char pem[] = "/tmp/ta-token-cert-XXXXXX";
    write_pem(pem, 0, 1, test_key);
    config cfg;
    base_config(&cfg);
    cfg.cred = CRED_CERTIFICATE;
    cfg.client_secret = NULL;
    cfg.cert_path = pem;
    reply(503, "Retry-After: 0\r\n", "{}");
    reply_token("tok-cert-retried", 3599);
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-cert-retried");
    assert_int_equal(nrequests(), 2);
    char *a1 = form_field(0, "client_assertion"), *a2 = form_field(1, "client_assertion");
    assert_non_null(a1);
    assert_non_null(a2);
    assert_string_not_equal(a1, a2);
    free(a1);
    free(a2);
    token_source_free(ts);
    unlink(pem);
}

static void test_token__certificate_file_errors(void **state)
{
    (void)state;
    make_cert();
    config cfg;
    base_config(&cfg);
    cfg.cred = CRED_CERTIFICATE;
    token_source *ts;
    errinfo err = {0};

    char enc[] = "/tmp/ta-token-enc-XXXXXX";
    write_pem(enc, 1, 1, test_key);
    cfg.cert_path = enc;
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_CONFIG);
    assert_null(ts);
    assert_non_null(strstr(err.msg, "AZURE_CLIENT_CERTIFICATE_PATH"));
    assert_non_null(strstr(err.msg, "encrypted"));
    unlink(enc);

    char nocert[] = "/tmp/ta-token-nocert-XXXXXX";
    write_pem(nocert, 0, 0, test_key);
    cfg.cert_path = nocert;
    err_clear(&err);
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_CONFIG);
    assert_non_null(strstr(err.msg, "no certificate"));
    unlink(nocert);

    EVP_PKEY *other = EVP_RSA_gen(2048);
    char mismatch[] = "/tmp/ta-token-mismatch-XXXXXX";
    write_pem(mismatch, 0, 1, other);
    EVP_PKEY_free(other);
    cfg.cert_path = mismatch;
    err_clear(&err);
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_CONFIG);
    assert_non_null(strstr(err.msg, "does not match"));
    unlink(mismatch);

    cfg.cert_path = "/nonexistent/cert.pem";
    err_clear(&err);
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_CONFIG);
    assert_int_equal(nrequests(), 0);
}

/* ---- workload identity and managed identity ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_token__workload_identity(void **state)
{
    (void)state;
    char fed[] = "/tmp/ta-token-fed-XXXXXX";
    int fd = mkstemp(fed);
    assert_true(fd >= 0);
    close(fd);
    write_file(fed, "eyJfederated.token.one\n");
    config cfg;
    base_config(&cfg);
    cfg.cred = CRED_WORKLOAD;
    cfg.client_secret = NULL;
    cfg.federated_token_file = fed;
    reply_token("tok-wi-1", 3599);
    reply_token("tok-wi-2", 3599);
    reply_token("tok-wi-storage", 3599);
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    char *v;
    assert_string_equal(v = form_field(0, "client_assertion"), "eyJfederated.token.one");
    free(v);
    assert_string_equal(v = form_field(0, "client_assertion_type"),
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    free(v);
    /* the file rotates: it is read again on each fetch */
    write_file(fed, "eyJfederated.token.two");
    assert_int_equal(token_get(ts, 1, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-wi-2");
    assert_string_equal(v = form_field(1, "client_assertion"), "eyJfederated.token.two");
    free(v);
    token_source_free(ts);

    /* storage with a federated token: Entra, storage scope */
    assert_int_equal(token_source_storage(&ts, &cfg, &err), ST_OK);
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-wi-storage");
    assert_string_equal(v = form_field(2, "scope"), "https://storage.azure.com/.default");
    free(v);
    token_source_free(ts);

    write_file(fed, "  \n");
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_AUTH);
    assert_non_null(strstr(err.msg, "AZURE_FEDERATED_TOKEN_FILE"));
    token_source_free(ts);
    unlink(fed);
}

static void test_token__app_service_identity(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    char ep[96];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/msi/token", srv.port);
    cfg.identity_endpoint = ep;
    cfg.identity_header = "hdr-abcdef-123";
    cfg.managed_identity_client_id = "0b9f3d5c-1111-2222-3333-444455556666";
    char b[256];
    snprintf(b, sizeof b,
             "{\"access_token\":\"tok-mi\",\"expires_on\":\"%lld\",\"resource\":"
             "\"https://storage.azure.com/\",\"token_type\":\"Bearer\"}",
             (long long)(timeutil_now_us() / 1000000 + 3600));
    reply(200, NULL, b);
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_storage(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-mi");
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_int_equal(token_source_fetches(ts), 1);
    const char *r = request(0);
    assert_starts(r, "GET /msi/token?resource=https%3A%2F%2Fstorage.azure.com%2F&api-version="
                     "2019-08-01&client_id=0b9f3d5c-1111-2222-3333-444455556666 HTTP/1.1\r\n");
    assert_non_null(strcasestr(r, "\r\nX-IDENTITY-HEADER: hdr-abcdef-123\r\n"));
    token_source_free(ts);

    /* an expires_on in the past is no lifetime: taken as 5 minutes, not a fetch before
     * every request; a renewal the caller asks for (a 401) still fetches */
    reply(200, NULL, "{\"access_token\":\"tok-old\",\"expires_on\":\"1000\"}");
    reply(400, NULL, "{\"statusCode\":400,\"message\":\"No managed identity found\"}");
    cfg.max_retries = 0;
    assert_int_equal(token_source_storage(&ts, &cfg, &err), ST_OK);
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-old");
    assert_int_equal(token_source_fetches(ts), 1);
    assert_int_equal(token_get(ts, 1, &tok, &err), ST_AUTH);
    assert_non_null(strstr(err.msg, "No managed identity found"));
    assert_non_null(strstr(err.msg, "AZURE_STORAGE_SAS_TOKEN"));
    assert_null(strstr(err.msg, "hdr-abcdef-123"));
    token_source_free(ts);
}

static void test_token__imds(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    char ep[128];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/metadata/identity/oauth2/token", srv.port);
    cfg.imds_endpoint = ep;
    reply(404, "Retry-After: 0\r\n", "{\"error\":\"not_found\"}"); /* identity being assigned */
    reply(200, NULL,
          "{\"access_token\":\"tok-imds\",\"expires_in\":\"86399\",\"expires_on\":\"1\","
          "\"not_before\":\"1\",\"token_type\":\"Bearer\"}");
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_storage(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-imds");
    /* expires_in wins over expires_on: cached */
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_int_equal(token_source_fetches(ts), 2);
    const char *r = request(1);
    assert_starts(r, "GET /metadata/identity/oauth2/token?resource=https%3A%2F%2Fstorage.azure."
                     "com%2F&api-version=2018-02-01 HTTP/1.1\r\n");
    assert_non_null(strcasestr(r, "\r\nMetadata: true\r\n"));
    token_source_free(ts);

    /* nothing listening: a network error that names the way out */
    cfg.max_retries = 0;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/metadata/identity/oauth2/token",
             ntohs(a.sin_port));
    close(s); /* bound then closed: the port refuses connections */
    assert_int_equal(token_source_storage(&ts, &cfg, &err), ST_OK);
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_NET);
    assert_non_null(strstr(err.msg, "AZURE_STORAGE_SAS_TOKEN"));
    token_source_free(ts);
}

/* A managed identity for Graph: resource = the Graph host, the app's client id names a
 * user-assigned identity, renewed on demand; errors name Graph's fixes, not storage's. */
static void test_token__graph_managed_identity(void **state)
{
    (void)state;
    config cfg;
    base_config(&cfg);
    cfg.cred = CRED_MANAGED_IDENTITY;
    cfg.client_secret = NULL;
    cfg.tenant = NULL;
    char ep[96];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/msi/token", srv.port);
    cfg.identity_endpoint = ep;
    cfg.identity_header = "hdr-graph-0123456";
    char b[256];
    snprintf(b, sizeof b,
             "{\"access_token\":\"tok-g1\",\"expires_on\":\"%lld\",\"token_type\":\"Bearer\"}",
             (long long)(timeutil_now_us() / 1000000 + 3600));
    reply(200, NULL, b);
    b[strstr(b, "tok-g1") - b + 5] = '2';
    reply(200, NULL, b);
    token_source *ts;
    errinfo err = {0};
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    const char *tok;
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_string_equal(tok, "tok-g1");
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_OK);
    assert_int_equal(token_source_fetches(ts), 1);
    assert_int_equal(token_get(ts, 1, &tok, &err), ST_OK); /* after a 401 */
    assert_string_equal(tok, "tok-g2");
    assert_int_equal(token_source_fetches(ts), 2);
    char want[256];
    snprintf(want, sizeof want,
             "GET /msi/token?resource=http%%3A%%2F%%2F127.0.0.1%%3A%d&api-version=2019-08-01"
             "&client_id=11111111-2222-3333-4444-555555555555 HTTP/1.1\r\n",
             srv.port);
    for (int i = 0; i < 2; i++) {
        const char *r = request(i);
        assert_starts(r, want);
        assert_non_null(strcasestr(r, "\r\nX-IDENTITY-HEADER: hdr-graph-0123456\r\n"));
    }
    token_source_free(ts);

    /* refused: the fix is Graph's (permissions), and the header never shows */
    reply(400, NULL, "{\"statusCode\":400,\"message\":\"No managed identity found\"}");
    cfg.max_retries = 0;
    cfg.client_id = NULL; /* the system-assigned identity: no client_id */
    err_clear(&err);
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_AUTH);
    assert_non_null(strstr(err.msg, "Microsoft Graph token request"));
    assert_non_null(strstr(err.msg, "Calendars.Read"));
    assert_null(strstr(err.msg, "AZURE_STORAGE_SAS_TOKEN"));
    assert_null(strstr(err.msg, "hdr-graph-0123456"));
    assert_null(strstr(request(2), "client_id="));
    token_source_free(ts);

    /* no VM metadata endpoint: a network error with its libcurl code, naming the options */
    cfg.identity_endpoint = NULL;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    char imds[128];
    snprintf(imds, sizeof imds, "http://127.0.0.1:%d/metadata/identity/oauth2/token",
             ntohs(a.sin_port));
    close(s);
    cfg.imds_endpoint = imds;
    err_clear(&err);
    assert_int_equal(token_source_graph(&ts, &cfg, &err), ST_OK);
    assert_int_equal(token_get(ts, 0, &tok, &err), ST_NET);
    assert_int_equal(err.curl_code, CURLE_COULDNT_CONNECT);
    assert_non_null(strstr(err.msg, "AZURE_CLIENT_SECRET"));
    assert_non_null(strstr(err.msg, "IDENTITY_ENDPOINT"));
    token_source_free(ts);
}

static void test_token__jwt_guid(void **state)
{
    (void)state;
    char a[37], b[37];
    assert_int_equal(jwt_guid(a, NULL), ST_OK);
    assert_int_equal(jwt_guid(b, NULL), ST_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(a), 36);
    assert_true(a[14] == '4');
    assert_non_null(strchr("89ab", a[19]));
}

#define T(name) cmocka_unit_test_setup_teardown(name, server_start, server_stop)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_token__secret_request),
        T(test_token__lifetime_out_of_range),
        T(test_token__renewal),
        T(test_token__short_lifetime_kept_half_its_life),
        T(test_token__keeps_valid_token_when_renewal_fails),
        T(test_token__retries),
        T(test_token__retry_after_waited_and_capped),
        T(test_token__retries_run_out),
        T(test_token__login_error_message),
        T(test_token__error_never_echoes_secret),
        T(test_token__no_redirects_and_bad_answers),
        T(test_token__size_cap_and_timeout),
        T(test_token__certificate_assertion),
        T(test_token__retry_signs_a_new_assertion),
        T(test_token__certificate_file_errors),
        T(test_token__workload_identity),
        T(test_token__app_service_identity),
        T(test_token__imds),
        T(test_token__graph_managed_identity),
        T(test_token__jwt_guid),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    EVP_PKEY_free(test_key);
    X509_free(test_cert);
    secret_forget();
    return rc;
}

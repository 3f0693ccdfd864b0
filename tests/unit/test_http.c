/* The HTTP engine against a small scripted server on 127.0.0.1: retries after
 * Retry-After, backoff, empty and invalid JSON bodies (a tree or tokens), the size cap, token
 * renewal on 401, per-group caps, the prepare hook, 404 retried when asked, the proxy bypass, no
 * nested run from a hook, and Retry-After parsing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/http.h"

#define MAX_SCRIPT 16

/* The server answers each connection with the next scripted response, then closes. */
typedef struct server {
    int fd;
    int port;
    const char *script[MAX_SCRIPT];
    int nscript;
    int served;
    int concurrent, max_concurrent;
    int delay_ms;
    char last_auth[256];
    pthread_mutex_t mu;
    pthread_t thread;
    int stop;
} server;

typedef struct conn {
    server *s;
    int fd;
    const char *reply;
} conn;

static void *serve_conn(void *arg)
{
    conn *c = arg;
    char req[8192];
    size_t got = 0;
    while (got < sizeof req - 1) {
        ssize_t n = read(c->fd, req + got, sizeof req - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[got] = '\0';
    pthread_mutex_lock(&c->s->mu);
    char *a = strstr(req, "Authorization: ");
    if (a) {
        size_t n = strcspn(a, "\r");
        if (n >= sizeof c->s->last_auth)
            n = sizeof c->s->last_auth - 1;
        memcpy(c->s->last_auth, a, n);
        c->s->last_auth[n] = '\0';
    }
    c->s->concurrent++;
    if (c->s->concurrent > c->s->max_concurrent)
        c->s->max_concurrent = c->s->concurrent;
    int delay = c->s->delay_ms;
    pthread_mutex_unlock(&c->s->mu);
    /* a \x01 in the reply: what comes before goes out at once, the rest after the delay */
    const char *hold = strchr(c->reply, '\x01');
    if (hold) {
        ssize_t w = write(c->fd, c->reply, (size_t)(hold - c->reply));
        (void)w;
    }
    if (delay)
        usleep((useconds_t)delay * 1000);
    /* no longer counted once the answer is complete: the client may start the next
     * request as soon as it has read it */
    pthread_mutex_lock(&c->s->mu);
    c->s->concurrent--;
    pthread_mutex_unlock(&c->s->mu);
    const char *rest = hold ? hold + 1 : c->reply;
    ssize_t w = write(c->fd, rest, strlen(rest));
    (void)w;
    close(c->fd);
    free(c);
    return NULL;
}

static void *serve(void *arg)
{
    server *s = arg;
    while (!s->stop) {
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            break;
        pthread_mutex_lock(&s->mu);
        int i = s->served < s->nscript ? s->served : s->nscript - 1;
        s->served++;
        pthread_mutex_unlock(&s->mu);
        conn *c = malloc(sizeof *c);
        c->s = s;
        c->fd = fd;
        c->reply = s->script[i];
        pthread_t t;
        pthread_create(&t, NULL, serve_conn, c);
        pthread_detach(t);
    }
    return NULL;
}

static server *server_start(int n, const char **script)
{
    server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    for (int i = 0; i < n; i++)
        s->script[i] = script[i];
    s->nscript = n;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 256), 0);
    socklen_t len = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, serve, s);
    return s;
}

static void server_stop(server *s)
{
    s->stop = 1;
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
    usleep(20000); /* let detached connection threads finish */
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* An engine with limits l; fails the test when it cannot be made. */
static http_engine *engine_with(const http_limits *l)
{
    http_engine *eng = NULL;
    errinfo e = {0};
    assert_int_equal(http_engine_new(&eng, l, &e), ST_OK);
    return eng;
}

static http_engine *engine(int retries, size_t max_body)
{
    http_limits l;
    http_limits_default(&l);
    l.timeout_ms = 2000;
    l.max_retries = retries;
    l.max_retry_wait_ms = 300;
    l.base_backoff_ms = 10;
    if (max_body)
        l.max_body = max_body;
    return engine_with(&l);
}

static http_request *get(server *s, int flags)
{
    char url[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x?sig=secret", s->port);
    http_request *r = http_request_new("GET", url);
    http_request_flags(r, flags);
    return r;
}

#define OK_JSON                                                                                    \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"a\":42}"

static void test_http__retry_after_then_success(void **state)
{
    (void)state;
    const char *script[] = {
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0.2\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",    /* empty body: retried */
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{x}", /* invalid JSON: retried */
        OK_JSON};
    server *s = server_start(5, script);
    http_engine *eng = engine(6, 0);
    http_result res;
    assert_int_equal(http_perform(eng, get(s, HTTP_EXPECT_JSON), &res), ST_OK);
    assert_int_equal(res.http_status, 200);
    assert_int_equal(json_integer_value(json_object_get(res.json, "a")), 42);
    assert_int_equal(res.attempts, 5);
    http_stats st;
    http_engine_stats(eng, &st);
    assert_int_equal(st.requests, 5);
    assert_int_equal(st.retries, 4);
    assert_int_equal(st.throttled, 1);
    http_result_dispose(&res);
    http_engine_free(eng);
    server_stop(s);
}

/* HTTP_EXPECT_TOKENS: the same retries as HTTP_EXPECT_JSON, the answer as tokens over
 * the body (strings decoded in place), no tree. */
static void test_http__tokens(void **state)
{
    (void)state;
    const char *script[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",    /* empty body: retried */
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{x}", /* invalid JSON: retried */
        "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"v\":[\"a\\u00e9\",1]} ",
    };
    server *s = server_start(3, script);
    http_engine *eng = engine(6, 0);
    http_result res;
    assert_int_equal(http_perform(eng, get(s, HTTP_EXPECT_TOKENS), &res), ST_OK);
    assert_int_equal(res.attempts, 3);
    assert_null(res.json);
    uint32_t v = jsontok_member(&res.tok, 0, "v", 1);
    assert_int_not_equal(v, JSONTOK_NONE);
    assert_int_equal(res.tok.tok[v].len, 2);
    assert_string_equal(jsontok_str(&res.tok, v + 1), "a\xc3\xa9");
    http_result_dispose(&res);
    http_engine_free(eng);
    server_stop(s);
}

static void test_http__gives_up_and_names_url_without_query(void **state)
{
    (void)state;
    const char *body = "{\"error\":{\"code\":\"generalException\",\"message\":\"x\"}}";
    char reply[300];
    snprintf(reply, sizeof reply,
             "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    const char *script[] = {reply};
    server *s = server_start(1, script);
    http_engine *eng = engine(2, 0);
    http_result res;
    assert_int_equal(http_perform(eng, get(s, HTTP_EXPECT_JSON), &res), ST_HTTP);
    assert_int_equal(res.attempts, 3);
    assert_non_null(strstr(res.err.msg, "HTTP 500"));
    assert_non_null(strstr(res.err.msg, "generalException"));
    assert_null(strstr(res.err.msg, "secret"));
    assert_string_equal(res.error_code, "generalException");
    http_result_dispose(&res);
    http_engine_free(eng);
    server_stop(s);
}

static void test_http__not_found_is_final(void **state)
{
    (void)state;
    const char *script[] = {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", OK_JSON};
    server *s = server_start(2, script);
    http_engine *eng = engine(3, 0);
    http_result res;
    assert_int_equal(http_perform(eng, get(s, 0), &res), ST_NOT_FOUND);
    assert_int_equal(res.attempts, 1);
    http_result_dispose(&res);
    http_engine_free(eng);
    server_stop(s);
}

static void test_http__body_cap(void **state)
{
    (void)state;
    const char *script[] = {"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789"};
    server *s = server_start(1, script);
    http_engine *eng = engine(3, 10);
    http_result res;
    assert_int_equal(http_perform(eng, get(s, 0), &res), ST_TOO_LARGE);
    assert_int_equal(res.attempts, 1);
    http_result_dispose(&res);
    http_engine_free(eng);
    server_stop(s);
}

static int renewals;

static status auth_hook(void *ctx, const http_request *req, int renew, struct curl_slist **h,
                        errinfo *err)
{
    (void)ctx;
    (void)req;
    (void)err;
    if (renew)
        renewals++;
    *h = curl_slist_append(*h, renew ? "Authorization: Bearer fresh" : "Authorization: Bearer old");
    return ST_OK;
}

static void test_http__renews_once_on_401(void **state)
{
    (void)state;
    const char *script[] = {"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", OK_JSON};
    server *s = server_start(2, script);
    http_engine *eng = engine(0, 0);
    http_request *r = get(s, HTTP_EXPECT_JSON);
    http_request_auth(r, auth_hook, NULL);
    renewals = 0;
    http_result res;
    assert_int_equal(http_perform(eng, r, &res), ST_OK);
    assert_int_equal(renewals, 1);
    assert_string_equal(s->last_auth, "Authorization: Bearer fresh");
    http_result_dispose(&res);
    /* a second 401 after the renewal is final */
    const char *script2[] = {"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"};
    server *s2 = server_start(1, script2);
    r = get(s2, 0);
    http_request_auth(r, auth_hook, NULL);
    assert_int_equal(http_perform(eng, r, &res), ST_AUTH);
    assert_int_equal(s2->served, 2);
    http_result_dispose(&res);
    /* a lookup refused with 403 whose renewed attempt meets revoked tokens (401)
     * renews once more: each code renews once */
    const char *script3[] = {"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
                             "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", OK_JSON};
    server *s3 = server_start(3, script3);
    r = get(s3, HTTP_EXPECT_JSON | HTTP_RENEW_ON_403);
    http_request_auth(r, auth_hook, NULL);
    renewals = 0;
    assert_int_equal(http_perform(eng, r, &res), ST_OK);
    assert_int_equal(renewals, 2);
    assert_int_equal(s3->served, 3);
    http_result_dispose(&res);
    http_engine_free(eng);
    server_stop(s);
    server_stop(s2);
    server_stop(s3);
}

static int done_count;

static void on_done(void *ctx, http_result *res)
{
    (void)ctx;
    assert_int_equal(res->st, ST_OK);
    done_count++;
}

static void test_http__group_cap(void **state)
{
    (void)state;
    const char *script[] = {OK_JSON};
    server *s = server_start(1, script);
    s->delay_ms = 50;
    http_engine *eng = engine(0, 0);
    errinfo e = {0};
    done_count = 0;
    for (int i = 0; i < 12; i++) {
        http_request *r = get(s, HTTP_EXPECT_JSON);
        http_request_group(r, 3);
        assert_int_equal(http_submit(eng, r, on_done, NULL, &e), ST_OK);
    }
    assert_int_equal(http_run(eng, &e), ST_OK);
    assert_int_equal(done_count, 12);
    assert_true(s->max_concurrent <= 4);
    assert_true(s->max_concurrent >= 2);
    http_engine_free(eng);
    server_stop(s);
}

/* The engine splits its connections among several libcurl pools: together they
 * still use the whole width, and every request completes. */
static void test_http__width_across_pools(void **state)
{
    (void)state;
    const char *script[] = {OK_JSON};
    server *s = server_start(1, script);
    s->delay_ms = 300;
    http_limits l;
    http_limits_default(&l);
    l.timeout_ms = 5000;
    l.max_retries = 0;
    l.max_in_flight = 100; /* several pools */
    http_engine *eng = engine_with(&l);
    errinfo e = {0};
    done_count = 0;
    for (int i = 0; i < 150; i++) {
        http_request *r = get(s, HTTP_EXPECT_JSON);
        http_request_group(r, i);
        assert_int_equal(http_submit(eng, r, on_done, NULL, &e), ST_OK);
    }
    assert_int_equal(http_run(eng, &e), ST_OK);
    assert_int_equal(done_count, 150);
    assert_int_equal(s->max_concurrent, 100);
    http_engine_free(eng);
    server_stop(s);
}

static int finished_groups[16];
static int nfinished;

static void on_group_done(void *ctx, http_result *res)
{
    assert_int_equal(res->st, ST_OK);
    finished_groups[nfinished++] = (int)(intptr_t)ctx;
}

/* Slots go to the groups with the fewest in flight, in turn, not in arrival order:
 * a group that queued everything first does not hold every slot to its end. */
static void test_http__groups_take_turns(void **state)
{
    (void)state;
    const char *script[] = {OK_JSON};
    server *s = server_start(1, script);
    s->delay_ms = 20;
    http_limits l;
    http_limits_default(&l);
    l.timeout_ms = 2000;
    l.max_in_flight = 2;
    http_engine *eng = engine_with(&l);
    errinfo e = {0};
    nfinished = 0;
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < 6; i++) {
            http_request *r = get(s, HTTP_EXPECT_JSON);
            http_request_group(r, g);
            assert_int_equal(http_submit(eng, r, on_group_done, (void *)(intptr_t)g, &e), ST_OK);
        }
    assert_int_equal(http_run(eng, &e), ST_OK);
    assert_int_equal(nfinished, 12);
    /* arrival order would finish group 0's six before any of group 1's; in turn, about
     * half each (at least one, should a slow answer of one group let the other run on) */
    int second = 0;
    for (int i = 0; i < 6; i++)
        second += finished_groups[i];
    assert_in_range(second, 1, 5);
    http_engine_free(eng);
    server_stop(s);
}

/* The room a caller may fill: slots not taken by requests in flight or ready; the
 * requests of a group at its cap are not ready. */
static void test_http__room(void **state)
{
    (void)state;
    http_limits l;
    http_limits_default(&l);
    l.max_in_flight = 6;
    l.group_cap = 2;
    http_engine *eng = engine_with(&l);
    errinfo e = {0};
    assert_int_equal(http_room(eng), 6);
    for (int i = 0; i < 3; i++) {
        http_request *r = http_request_new("GET", "http://127.0.0.1:1/x");
        http_request_group(r, 0);
        assert_int_equal(http_submit(eng, r, on_group_done, NULL, &e), ST_OK);
    }
    assert_int_equal(http_room(eng), 4); /* two of group 0 may start, the third waits */
    http_request *r = http_request_new("GET", "http://127.0.0.1:1/y");
    assert_int_equal(http_submit(eng, r, on_group_done, NULL, &e), ST_OK);
    assert_int_equal(http_room(eng), 3);
    http_engine_free(eng); /* frees the requests, calls nothing */
}

/* Response bytes held in flight are bounded: while the requests in flight may hold
 * more than the budget, no new request starts (they wait; one always may run). */
static void *write_after_100ms(void *arg)
{
    usleep(100000);
    uint64_t one = 1;
    assert_int_equal(write(*(int *)arg, &one, sizeof one), (ssize_t)sizeof one);
    return NULL;
}

static int64_t ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void on_any(void *ctx, http_result *res)
{
    (void)res;
    (*(int *)ctx)++;
}

/* Turns the engine until fd turns readable; returns how long that took (ms). */
static int64_t turn_until_readable(http_engine *eng, int fd)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, write_after_100ms, &fd), 0);
    errinfo e = {0};
    uint64_t n = 0;
    while (read(fd, &n, sizeof n) < 0 && ms_since(&t0) < 3000)
        assert_int_equal(http_step(eng, &e), ST_OK);
    pthread_join(t, NULL);
    assert_int_equal(n, 1);
    return ms_since(&t0);
}

/* A watched descriptor that becomes readable ends the wait of a turn: with a request
 * in flight (its body comes after 1.5 s), and with one waiting 30 s for its retry. */
static void test_http__watch_ends_the_wait(void **state)
{
    (void)state;
    const char *script[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n"
        "\x01{\"a\":42}",
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n"};
    server *s = server_start(2, script);
    s->delay_ms = 1500;
    http_limits l;
    http_limits_default(&l);
    l.timeout_ms = 5000;
    l.max_retries = 1;
    l.max_retry_wait_ms = 60000;
    http_engine *eng = engine_with(&l);
    errinfo e = {0};
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(http_watch(eng, fd, &e), ST_OK);
    assert_int_equal(http_watch(eng, fd, &e), ST_INTERNAL); /* one at most */

    int ended = 0;
    assert_int_equal(http_submit(eng, get(s, HTTP_EXPECT_JSON), on_any, &ended, &e), ST_OK);
    assert_true(turn_until_readable(eng, fd) < 900);
    assert_int_equal(ended, 0); /* still in flight */
    assert_int_equal(http_run(eng, &e), ST_OK);
    assert_int_equal(ended, 1);

    pthread_mutex_lock(&s->mu);
    s->delay_ms = 0; /* the 503 at once */
    pthread_mutex_unlock(&s->mu);
    assert_int_equal(http_submit(eng, get(s, HTTP_EXPECT_JSON), on_any, &ended, &e), ST_OK);
    /* until the 503 came: the request then waits, neither in flight nor ready */
    while (s->served < 2 || http_room(eng) < l.max_in_flight)
        assert_int_equal(http_step(eng, &e), ST_OK);
    assert_true(turn_until_readable(eng, fd) < 900);
    assert_int_equal(ended, 1);
    http_engine_free(eng);
    close(fd);
    server_stop(s);
}

/* Unwatched then closed, the descriptor's number comes back as a socket of libcurl's:
 * its answer must reach libcurl, not be taken for the caller's. */
static void test_http__unwatch_before_close(void **state)
{
    (void)state;
    const char *script[] = {OK_JSON};
    server *s = server_start(1, script);
    http_engine *eng = engine(0, 0);
    errinfo e = {0};
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(http_watch(eng, fd, &e), ST_OK);
    http_unwatch(eng);
    close(fd);
    done_count = 0;
    assert_int_equal(http_submit(eng, get(s, HTTP_EXPECT_JSON), on_done, NULL, &e), ST_OK);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(http_run(eng, &e), ST_OK);
    assert_int_equal(done_count, 1);
    assert_true(ms_since(&t0) < 1500); /* not the 2 s timeout */
    http_engine_free(eng);
    server_stop(s);
}

static void test_http__body_budget_waits(void **state)
{
    (void)state;
    const char *script[] = {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: 27\r\n\r\n{\"a\":\"0123456789012345\x01"
                            "678\"}"};
    server *s = server_start(1, script);
    s->delay_ms = 1500;
    http_limits l;
    http_limits_default(&l);
    l.timeout_ms = 5000;
    l.max_retries = 0;
    l.max_body_total = 10;
    http_engine *eng = engine_with(&l);
    errinfo e = {0};
    done_count = 0;
    assert_int_equal(http_submit(eng, get(s, HTTP_EXPECT_JSON), on_done, NULL, &e), ST_OK);
    /* turns for 300 ms: the first answer starts and its first 22 bytes arrive and are
     * held (a turn waits at most a second for activity; the rest comes after 1.5 s) */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        assert_int_equal(http_step(eng, &e), ST_OK);
        clock_gettime(CLOCK_MONOTONIC, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 300);
    for (int i = 0; i < 2; i++)
        assert_int_equal(http_submit(eng, get(s, HTTP_EXPECT_JSON), on_done, NULL, &e), ST_OK);
    assert_int_equal(http_run(eng, &e), ST_OK);
    assert_int_equal(done_count, 3);
    /* the two later ones waited for the first to finish, then for each other: each
     * request is counted at a large recent answer's size plus libcurl's share, which
     * alone passes a 10-byte budget, so one runs at a time */
    assert_int_equal(s->max_concurrent, 1);
    http_engine_free(eng);
    server_stop(s);
}

typedef struct chain {
    http_engine *eng;
    server *s;
    int left;
} chain;

static void on_chain(void *ctx, http_result *res)
{
    chain *c = ctx;
    assert_int_equal(res->st, ST_OK);
    if (--c->left > 0) {
        errinfo e = {0};
        assert_int_equal(http_submit(c->eng, get(c->s, HTTP_EXPECT_JSON), on_chain, c, &e), ST_OK);
    }
}

/* A request queued by a callback starts at once, not after the loop's idle wait
 * (one second): ten chained requests to a server that answers at once take far less
 * than ten seconds. */
static void test_http__chained_requests_do_not_stall(void **state)
{
    (void)state;
    const char *script[] = {OK_JSON};
    server *s = server_start(1, script);
    http_engine *eng = engine(0, 0);
    chain c = {eng, s, 10};
    errinfo e = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(http_submit(eng, get(s, HTTP_EXPECT_JSON), on_chain, &c, &e), ST_OK);
    assert_int_equal(http_run(eng, &e), ST_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(c.left, 0);
    assert_true(secs < 3.0);
    http_engine_free(eng);
    server_stop(s);
}

static int prepares;

/* A body made afresh for each attempt, as a client assertion is. */
static status prepare_hook(void *ctx, http_request *req, errinfo *err)
{
    int fail_at = *(const int *)ctx;
    if (++prepares == fail_at)
        return err_set(err, ST_AUTH, "no form this time");
    char *b = malloc(16);
    if (!b)
        return err_set(err, ST_NOMEM, "out of memory");
    int n = snprintf(b, 16, "attempt=%d", prepares);
    http_request_body_take(req, b, (size_t)n);
    return ST_OK;
}

static void test_http__prepare_before_each_attempt(void **state)
{
    (void)state;
    const char *script[] = {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\n"
                            "Content-Length: 0\r\n\r\n",
                            OK_JSON};
    server *s = server_start(2, script);
    http_engine *eng = engine(3, 0);
    char url[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/token", s->port);
    http_request *r = http_request_new("POST", url);
    int fail_at = 0;
    http_request_prepare(r, prepare_hook, &fail_at);
    http_request_flags(r, HTTP_EXPECT_JSON);
    prepares = 0;
    http_result res;
    assert_int_equal(http_perform(eng, r, &res), ST_OK);
    assert_int_equal(res.attempts, 2);
    assert_int_equal(prepares, 2);
    http_result_dispose(&res);

    /* a hook that fails ends the request with its error, before anything is sent */
    r = http_request_new("POST", url);
    fail_at = 1;
    http_request_prepare(r, prepare_hook, &fail_at);
    prepares = 0;
    assert_int_equal(http_perform(eng, r, &res), ST_AUTH);
    assert_string_equal(res.err.msg, "no form this time");
    assert_int_equal(res.attempts, 0);
    assert_int_equal(s->served, 2);
    http_result_dispose(&res);
    http_engine_free(eng);
    server_stop(s);
}

static void test_http__retry_not_found_when_asked(void **state)
{
    (void)state;
    const char *script[] = {"HTTP/1.1 404 Not Found\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n",
                            "HTTP/1.1 410 Gone\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n",
                            OK_JSON};
    server *s = server_start(3, script);
    http_engine *eng = engine(3, 0);
    http_result res;
    assert_int_equal(http_perform(eng, get(s, HTTP_EXPECT_JSON | HTTP_RETRY_NOT_FOUND), &res),
                     ST_OK);
    assert_int_equal(res.attempts, 3);
    http_result_dispose(&res);
    http_engine_free(eng);
    server_stop(s);
}

/* With HTTP_NO_PROXY a request ignores http_proxy (a dead one here); without, it
 * goes through it and fails. */
static void test_http__no_proxy(void **state)
{
    (void)state;
    const char *script[] = {OK_JSON};
    server *s = server_start(1, script);
    http_engine *eng = engine(0, 0);
    static const char *const vars[] = {"no_proxy", "NO_PROXY", "http_proxy"};
    char *saved[3];
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? strdup(v) : NULL;
        unsetenv(vars[i]);
    }
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    http_result res;
    assert_int_equal(http_perform(eng, get(s, HTTP_NO_PROXY), &res), ST_OK);
    http_result_dispose(&res);
    assert_int_equal(http_perform(eng, get(s, 0), &res), ST_NET);
    http_result_dispose(&res);
    assert_int_equal(s->served, 1);
    for (int i = 0; i < 3; i++) {
        if (saved[i])
            setenv(vars[i], saved[i], 1);
        else
            unsetenv(vars[i]);
        free(saved[i]);
    }
    http_engine_free(eng);
    server_stop(s);
}

/* An auth hook runs while the engine walks its queue: running a request of its own on
 * the same engine would start again what that walk is holding, so it is refused. */
static status nesting_hook(void *ctx, const http_request *req, int renew, struct curl_slist **h,
                           errinfo *err)
{
    (void)renew;
    (void)h;
    http_engine *eng = ctx;
    http_result inner;
    status st = http_perform(eng, http_request_new("GET", http_request_url(req)), &inner);
    if (st != ST_OK)
        err_set(err, st, "%s", inner.err.msg);
    http_result_dispose(&inner);
    return st;
}

static void test_http__no_perform_from_a_hook(void **state)
{
    (void)state;
    const char *script[] = {OK_JSON};
    server *s = server_start(1, script);
    http_engine *eng = engine(0, 0);
    http_request *r = get(s, 0);
    http_request_auth(r, nesting_hook, eng);
    http_result res;
    assert_int_equal(http_perform(eng, r, &res), ST_INTERNAL);
    assert_non_null(strstr(res.err.msg, "called from a request callback or hook"));
    http_result_dispose(&res);
    assert_int_equal(s->served, 0);
    /* the engine is still whole */
    assert_int_equal(http_perform(eng, get(s, HTTP_EXPECT_JSON), &res), ST_OK);
    assert_true(http_idle(eng));
    http_result_dispose(&res);
    http_engine_free(eng);
    server_stop(s);
}

static void test_http__parse_retry_after(void **state)
{
    (void)state;
    assert_int_equal(http_parse_retry_after("2.128", 0), 2128);
    assert_int_equal(http_parse_retry_after(" 7", 0), 7000);
    assert_int_equal(http_parse_retry_after("0", 0), 0);
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
    assert_int_equal(http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770000LL), 7000);
    assert_int_equal(http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111790000LL), 0);
    assert_int_equal(http_parse_retry_after("soon", 0), -1);
    assert_int_equal(http_parse_retry_after("-3", 0), -1);
    assert_int_equal(http_parse_retry_after("3 s", 0), -1);
    assert_int_equal(http_parse_retry_after(NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http__retry_after_then_success),
        cmocka_unit_test(test_http__tokens),
        cmocka_unit_test(test_http__gives_up_and_names_url_without_query),
        cmocka_unit_test(test_http__not_found_is_final),
        cmocka_unit_test(test_http__body_cap),
        cmocka_unit_test(test_http__renews_once_on_401),
        cmocka_unit_test(test_http__group_cap),
        cmocka_unit_test(test_http__width_across_pools),
        cmocka_unit_test(test_http__groups_take_turns),
        cmocka_unit_test(test_http__room),
        cmocka_unit_test(test_http__watch_ends_the_wait),
        cmocka_unit_test(test_http__unwatch_before_close),
        cmocka_unit_test(test_http__body_budget_waits),
        cmocka_unit_test(test_http__chained_requests_do_not_stall),
        cmocka_unit_test(test_http__prepare_before_each_attempt),
        cmocka_unit_test(test_http__retry_not_found_when_asked),
        cmocka_unit_test(test_http__no_proxy),
        cmocka_unit_test(test_http__no_perform_from_a_hook),
        cmocka_unit_test(test_http__parse_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The HTTP engine: one libcurl multi handle that holds every request in flight.
 *
 * One thread drives it. Requests are submitted with a completion callback; the
 * engine runs them with HTTP/2 multiplexing where the server offers it, at most
 * `max_in_flight` at once in all and at most `group_cap` at once per group (a
 * group is a mailbox: Outlook allows 4 concurrent requests per app and mailbox).
 * A group's cap drops by one on each 429 and climbs back after successes. A free
 * slot goes to a request of no group first, else to the group with the fewest in
 * flight, groups at the same level in turn; a group's requests keep their order.
 *
 * Retries happen inside the engine and the callback sees only the final outcome:
 * connection errors, timeouts, truncated bodies, 429/500/502/503/504 (after
 * Retry-After: seconds, fractional seconds or an HTTP date; else exponential
 * backoff with jitter; never longer than max_retry_wait_ms), an empty 2xx body
 * when the request expects JSON, and invalid JSON when it expects JSON. 401 asks
 * the auth hook to renew and retries once; with HTTP_RENEW_ON_403 a 403 does too.
 *
 * Ownership: http_request_new allocates a request; http_submit and http_perform
 * take it (the engine frees it after the callback returns, or on error). The
 * callback's result is valid only during the callback; it may steal res->json
 * (set it to NULL) or res->body (buf_take), never res->tok. Callbacks may submit new requests but
 * must not call http_perform or http_run, and neither may the auth and prepare hooks
 * (they run while the engine is starting a request): a hook that needs a request of
 * its own (a token fetch) runs it on another engine. */
#ifndef TA_HTTP_H
#define TA_HTTP_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>

#include "status.h"
#include "util/buf.h"
#include "util/jsontok.h"

typedef struct http_engine http_engine;
typedef struct http_request http_request;

typedef struct http_limits {
    long timeout_ms;        /* whole request, per attempt */
    int max_retries;        /* retries after the first attempt */
    long max_retry_wait_ms; /* longest single wait honoured */
    long base_backoff_ms;   /* first backoff without Retry-After (doubles each time) */
    size_t max_body;        /* response size cap (bytes) */
    size_t max_body_total;  /* response bytes held by requests in flight, in all: above it
                               no new request starts until some finish (0: no bound) */
    int max_in_flight;      /* requests in flight in all */
    int group_cap;          /* requests in flight per group (4 for Graph) */
} http_limits;

typedef struct http_stats {
    uint64_t requests;  /* attempts sent */
    uint64_t retries;   /* attempts that were retries */
    uint64_t throttled; /* 429 responses */
    uint64_t bytes_in;
    uint64_t bytes_out;
} http_stats;

typedef struct http_result {
    status st;           /* ST_OK when a final HTTP response arrived with 2xx; else the error */
    long http_status;    /* 0 when no response */
    buf body;            /* response body (capped) */
    json_t *json;        /* parsed body when HTTP_EXPECT_JSON and 2xx, else NULL */
    jsontok_doc tok;     /* the body's tokens when HTTP_EXPECT_TOKENS and 2xx (body is then
                            tokenized in place: its strings are decoded), else none */
    char etag[128];      /* ETag header, quotes kept */
    char error_code[96]; /* x-ms-error-code header, or Graph's error.code */
    char content_type[96];
    char retry_after[64]; /* last Retry-After header seen (for logs) */
    int attempts;
    errinfo err; /* message when st != ST_OK: names the URL (without query secrets) */
} http_result;

/* Flags for http_request_flags. */
enum {
    HTTP_EXPECT_JSON = 1 << 0,     /* parse the body; retry empty or invalid JSON bodies */
    HTTP_RENEW_ON_403 = 1 << 1,    /* a 403 renews the token once before it is final */
    HTTP_NO_RETRY = 1 << 2,        /* one attempt only */
    HTTP_RETRY_NOT_FOUND = 1 << 3, /* 404 and 410 are retried like 503 (the VM metadata
                                      endpoint answers so while an identity is assigned) */
    HTTP_NO_PROXY = 1 << 4,        /* never through a proxy (an endpoint on the host) */
    HTTP_EXPECT_TOKENS = 1 << 5,   /* as HTTP_EXPECT_JSON, into res->tok, not a tree: for a
                                      large answer that is read once and copied on */
};

/* Called before every attempt to add authorization: append header lines to *headers
 * (the engine frees that list after the attempt) and/or rewrite nothing else.
 * `renew` is HTTP_RENEW when the previous attempt got 401, HTTP_RENEW_403 after a 403
 * with HTTP_RENEW_ON_403, else 0.
 * It runs on the engine's thread and may block (a token fetch). */
enum { HTTP_RENEW = 1, HTTP_RENEW_403 = 2 };
typedef status (*http_auth_fn)(void *ctx, const http_request *req, int renew,
                               struct curl_slist **headers, errinfo *err);

/* Called before every attempt, before the auth hook: may give the request a new body
 * (http_request_body_ref or _take), for a body that must be built afresh each time,
 * like one holding a signed client assertion that expires. A failure ends the request
 * with that error. Runs on the engine's thread. */
typedef status (*http_prepare_fn)(void *ctx, http_request *req, errinfo *err);

typedef void (*http_done_fn)(void *ctx, http_result *res);

TA_MUST_USE status http_engine_new(http_engine **out, const http_limits *limits, errinfo *err);
void http_engine_free(http_engine *eng);
void http_engine_stats(const http_engine *eng, http_stats *out);
/* How many more requests could start now than are in flight or ready to start (those
 * of a group at its cap do not count): a caller with work of its own to add (the run,
 * another mailbox) adds it while this is positive. */
int http_room(const http_engine *eng);
/* Limits used when none are given: 60 s, 6 retries, 300 s, 500 ms, 64 MiB, 256, 4. */
void http_limits_default(http_limits *l);

/* Returns NULL when out of memory. url is copied. */
http_request *http_request_new(const char *method, const char *url);
/* Adds a header line "Name: value" (copied). */
TA_MUST_USE status http_request_header(http_request *req, const char *line, errinfo *err);
/* Gives the request a body it owns (freed with the request). */
void http_request_body_take(http_request *req, char *data, size_t len);
/* Gives the request a body it does not own: it must outlive the request. */
void http_request_body_ref(http_request *req, const void *data, size_t len);
void http_request_flags(http_request *req, int flags);
void http_request_group(http_request *req, int group); /* -1: no group cap */
void http_request_auth(http_request *req, http_auth_fn fn, void *ctx);
void http_request_prepare(http_request *req, http_prepare_fn fn, void *ctx);
void http_request_free(http_request *req);

/* Accessors for auth hooks (e.g. Shared Key signing needs them). */
const char *http_request_method(const http_request *req);
const char *http_request_url(const http_request *req);
/* When the request's last attempt started, in µs since the epoch (0 before the first):
 * in an auth hook that renews, the attempt that was refused. */
int64_t http_request_sent_us(const http_request *req);
const struct curl_slist *http_request_headers(const http_request *req);
size_t http_request_body_len(const http_request *req);
/* The HTTP_* flags given with http_request_flags (a fake engine in tests answers as they ask). */
int http_request_flags_of(const http_request *req);

/* Queues req (taken). `done` is called exactly once, from http_run/http_perform. */
TA_MUST_USE status http_submit(http_engine *eng, http_request *req, http_done_fn done, void *ctx,
                               errinfo *err);
/* One turn of the loop: starts what may start, moves transfers, runs the
 * callbacks of what ended, then waits (at most a second) for activity. */
TA_MUST_USE status http_step(http_engine *eng, errinfo *err);
/* Adds fd (the caller's, one at most) to what http_step waits on, edge triggered: when
 * it becomes readable the step returns, and the caller reads it. http_unwatch stops
 * watching it: call it before closing that descriptor. */
TA_MUST_USE status http_watch(http_engine *eng, int fd, errinfo *err);
void http_unwatch(http_engine *eng);
/* 1 when no request is queued, waiting or in flight. */
int http_idle(const http_engine *eng);
/* Runs until no request is queued, waiting or in flight. */
TA_MUST_USE status http_run(http_engine *eng, errinfo *err);
/* Runs req (taken) to its end, with the same retries, and fills *res (caller frees
 * it with http_result_dispose). Other queued requests progress meanwhile. Returns res->st. */
TA_MUST_USE status http_perform(http_engine *eng, http_request *req, http_result *res);
void http_result_dispose(http_result *res);

/* Points easy at the CA certificates named by CURL_CA_BUNDLE, else SSL_CERT_FILE (a PEM
 * bundle), and SSL_CERT_DIR (a hashed folder), when set; otherwise libcurl's default
 * (the system CA certificates). Verification itself is never turned off. */
void http_set_ca(CURL *easy);

/* Exposed for tests: parses a Retry-After value (delta seconds, fractional, or an
 * HTTP date) relative to now_ms (epoch ms); returns -1 when it cannot be read. */
long http_parse_retry_after(const char *value, int64_t now_ms);
/* The URL with its query removed, for messages (a SAS signature lives in the query). */
void http_url_for_log(const char *url, char *out, size_t outlen);

#endif

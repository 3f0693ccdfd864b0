/* One status code for the whole program, and a caller-owned error record with a
 * fixed message buffer (it never allocates, so it works when memory runs out).
 * Functions that can fail return a status and, when it is not ST_OK, fill the
 * errinfo the caller passed (which may be NULL). A lower error is never overwritten:
 * err_set keeps the first message once one is set, unless err_clear was called. */
#ifndef TA_STATUS_H
#define TA_STATUS_H

#include <stddef.h>

#define TA_MUST_USE __attribute__((warn_unused_result))

typedef enum status {
    ST_OK = 0,
    ST_USAGE,        /* bad command line */
    ST_CONFIG,       /* bad or missing setting */
    ST_NOMEM,        /* allocation failed */
    ST_TOO_LARGE,    /* a capped buffer would grow past its cap */
    ST_IO,           /* local file system */
    ST_NET,          /* connection failed, reset, TLS */
    ST_TIMEOUT,      /* request took longer than its timeout */
    ST_HTTP,         /* HTTP status that is an error and not one below */
    ST_AUTH,         /* token could not be had, 401 after renewal */
    ST_FORBIDDEN,    /* 403 (application access policy, permissions) */
    ST_NOT_FOUND,    /* 404 */
    ST_CONFLICT,     /* 409, e.g. If-None-Match: * on an existing blob */
    ST_PRECONDITION, /* 412, If-Match on a changed blob */
    ST_JSON,         /* invalid JSON or JSON of the wrong shape */
    ST_DATA,         /* input that breaks a rule of the data (time zone, field) */
    ST_LIMIT,        /* a configured limit was reached (pages, size) */
    ST_INTERNAL
} status;

#define ERR_MSG_MAX 768

typedef struct errinfo {
    status code;
    int http_status; /* the HTTP status behind the error, 0 when none */
    int curl_code;   /* the libcurl error (CURLcode) behind a network failure, 0 when none */
    char msg[ERR_MSG_MAX];
} errinfo;

/* Sets code and a printf-style message when err has no error yet; returns code. */
status err_set(errinfo *err, status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Puts context in front of the message already there ("context: old message"). */
void err_prefix(errinfo *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(errinfo *err);
/* Drops, in place, every byte of s that is not part of a whole, valid UTF-8
 * character: what a cut at a byte count leaves. err_set and err_prefix apply it, so
 * an error text can always go into JSON (a log line, the manifest). */
void err_utf8_repair(char *s);
/* A short stable name of a status ("timeout", "not_found", ...). */
const char *status_name(status code);

#endif

/* Error records: see status.h. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

status err_set(errinfo *err, status code, const char *fmt, ...)
{
    if (!err || err->code != ST_OK)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void err_prefix(errinfo *err, const char *fmt, ...)
{
    if (!err)
        return;
    char old[ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof err->msg - 2)
        return;
    size_t used = (size_t)n;
    memcpy(err->msg + used, ": ", 2);
    used += 2;
    size_t room = sizeof err->msg - used - 1;
    size_t olen = strlen(old);
    if (olen > room)
        olen = room;
    memcpy(err->msg + used, old, olen);
    err->msg[used + olen] = '\0';
}

void err_clear(errinfo *err)
{
    if (!err)
        return;
    err->code = ST_OK;
    err->http_status = 0;
    err->curl_code = 0;
    err->msg[0] = '\0';
}

const char *status_name(status code)
{
    switch (code) {
    case ST_OK:
        return "ok";
    case ST_USAGE:
        return "usage";
    case ST_CONFIG:
        return "config";
    case ST_NOMEM:
        return "out_of_memory";
    case ST_TOO_LARGE:
        return "too_large";
    case ST_IO:
        return "io";
    case ST_NET:
        return "network";
    case ST_TIMEOUT:
        return "timeout";
    case ST_HTTP:
        return "http";
    case ST_AUTH:
        return "auth";
    case ST_FORBIDDEN:
        return "forbidden";
    case ST_NOT_FOUND:
        return "not_found";
    case ST_CONFLICT:
        return "conflict";
    case ST_PRECONDITION:
        return "precondition";
    case ST_JSON:
        return "json";
    case ST_DATA:
        return "data";
    case ST_LIMIT:
        return "limit";
    case ST_INTERNAL:
        return "internal";
    }
    return "unknown";
}

/* Error records: see status.h. */
#include "status.h"

#include "secret.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (up to n bytes), 0 when none starts there. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void err_utf8_repair(char *s)
{
    size_t n = strlen(s), w = 0;
    for (size_t r = 0; r < n;) {
        size_t k = utf8_seq((const unsigned char *)s + r, n - r);
        if (k == 0) {
            r++; /* a byte of a cut or broken character: dropped */
            continue;
        }
        memmove(s + w, s + r, k);
        w += k;
        r += k;
    }
    s[w] = '\0';
}

status err_set(errinfo *err, status code, const char *fmt, ...)
{
    if (!err || err->code != ST_OK)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* scrubbed at the source: an error text may quote what a server echoed */
    secret_scrub(err->msg, sizeof err->msg);
    /* a %.200s or the size of msg can cut a character; JSON would refuse the text */
    err_utf8_repair(err->msg);
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
    secret_scrub(err->msg, sizeof err->msg);
    err_utf8_repair(err->msg);
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

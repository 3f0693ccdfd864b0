/* Growable capped buffer: see buf.h. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap ? cap : SIZE_MAX - 1;
}

status buf_reserve(buf *b, size_t extra, errinfo *err)
{
    if (extra > b->cap || b->len > b->cap - extra)
        return err_set(err, ST_TOO_LARGE, "buffer would grow past its cap of %zu bytes", b->cap);
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return ST_OK;
    size_t n = b->alloc ? b->alloc : 256;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    char *p = realloc(b->data, n);
    if (!p)
        return err_set(err, ST_NOMEM, "out of memory growing a buffer to %zu bytes", n);
    b->data = p;
    b->alloc = n;
    return ST_OK;
}

status buf_append(buf *b, const void *p, size_t n, errinfo *err)
{
    status st = buf_reserve(b, n, err);
    if (st != ST_OK)
        return st;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return ST_OK;
}

status buf_appends(buf *b, const char *s, errinfo *err)
{
    return buf_append(b, s, strlen(s), err);
}

status buf_appendf(buf *b, errinfo *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return err_set(err, ST_INTERNAL, "bad format string");
    status st = buf_reserve(b, (size_t)n, err);
    if (st != ST_OK)
        return st;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return ST_OK;
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *buf_take(buf *b)
{
    char *p = b->data;
    if (!p) {
        p = malloc(1);
        if (p)
            p[0] = '\0';
    }
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

void buf_dispose(buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

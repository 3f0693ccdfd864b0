/* A growable byte buffer with a size cap. The buffer owns its memory; buf_dispose
 * releases it (NULL-safe, safe to repeat), buf_take hands it to the caller, who
 * then frees it with free(). The contents are always NUL-terminated (not counted
 * in len), so a text body can be used as a C string. */
#ifndef TA_BUF_H
#define TA_BUF_H

#include <stddef.h>
#include "status.h"

typedef struct buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap; /* largest len allowed; 0 means SIZE_MAX */
} buf;

void buf_init(buf *b, size_t cap);
TA_MUST_USE status buf_append(buf *b, const void *p, size_t n, errinfo *err);
TA_MUST_USE status buf_appends(buf *b, const char *s, errinfo *err);
TA_MUST_USE status buf_appendf(buf *b, errinfo *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
TA_MUST_USE status buf_reserve(buf *b, size_t extra, errinfo *err);
void buf_reset(buf *b); /* len = 0, keeps memory */
char *buf_take(buf *b); /* returns data (never NULL), buffer becomes empty */
void buf_dispose(buf *b);

#endif

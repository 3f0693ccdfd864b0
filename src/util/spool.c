/* Bytes in memory or in an unlinked file: see spool.h. */
#include "util/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void spool_init(spool *s, spool_budget *b)
{
    memset(s, 0, sizeof *s);
    s->budget = b;
    s->fd = -1;
}

static status write_all(int fd, const char *p, size_t n, errinfo *err)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return err_set(err, ST_IO, "cannot write a spill file: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return ST_OK;
}

static void add_disk(spool_budget *b, int64_t n)
{
    b->disk += n;
    if (b->disk > b->disk_peak)
        b->disk_peak = b->disk;
}

/* Moves what the spool holds in memory to a new unlinked file. */
static status spill(spool *s, errinfo *err)
{
    spool_budget *b = s->budget;
    char path[4200];
    if (snprintf(path, sizeof path, "%s/spill-XXXXXX", b->dir ? b->dir : "/tmp") >=
        (int)sizeof path)
        return err_set(err, ST_IO, "the temporary folder's path is too long");
    int fd = mkstemp(path);
    if (fd < 0)
        return err_set(err, ST_IO, "cannot create a spill file in %s: %s", b->dir ? b->dir : "/tmp",
                       strerror(errno));
    unlink(path);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    status st = write_all(fd, s->mem, s->len, err);
    if (st != ST_OK) {
        close(fd);
        return st;
    }
    s->fd = fd;
    add_disk(b, (int64_t)s->len);
    b->held -= (int64_t)s->alloc;
    b->spilled++;
    free(s->mem);
    s->mem = NULL;
    s->len = s->alloc = 0;
    return ST_OK;
}

status spool_append(spool *s, const void *p, size_t n, spool_ref *ref, errinfo *err)
{
    status st;
    spool_budget *b = s->budget;
    if (ref) {
        ref->off = s->size;
        ref->len = n;
    }
    if (s->fd < 0 && s->len + n > s->alloc) {
        size_t na = s->alloc ? s->alloc * 2 : 4096;
        while (na < s->len + n)
            na *= 2;
        if (b->held - (int64_t)s->alloc + (int64_t)na > b->limit) {
            if ((st = spill(s, err)) != ST_OK)
                return st;
        } else {
            char *m = realloc(s->mem, na);
            if (!m)
                return err_set(err, ST_NOMEM, "out of memory holding Graph's answers");
            b->held += (int64_t)(na - s->alloc);
            s->mem = m;
            s->alloc = na;
        }
    }
    if (s->fd >= 0) {
        if ((st = write_all(s->fd, p, n, err)) != ST_OK)
            return st;
        add_disk(b, (int64_t)n);
    } else {
        memcpy(s->mem + s->len, p, n);
        s->len += n;
    }
    s->size += n;
    return ST_OK;
}

status spool_read(spool *s, spool_ref ref, char *out, errinfo *err)
{
    if (ref.off + ref.len > s->size)
        return err_set(err, ST_INTERNAL, "a spool read past its end");
    if (s->fd < 0) {
        memcpy(out, s->mem + ref.off, (size_t)ref.len);
        return ST_OK;
    }
    size_t got = 0;
    while (got < ref.len) {
        ssize_t r = pread(s->fd, out + got, (size_t)ref.len - got, (off_t)(ref.off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return err_set(err, ST_IO, "cannot read a spill file: %s",
                           r < 0 ? strerror(errno) : "it shrank");
        got += (size_t)r;
    }
    return ST_OK;
}

status spool_copy(spool *s, spool_ref ref, FILE *out, errinfo *err)
{
    if (s->fd < 0) {
        if (ref.off + ref.len > s->size)
            return err_set(err, ST_INTERNAL, "a spool read past its end");
        if (ref.len && fwrite(s->mem + ref.off, 1, (size_t)ref.len, out) != ref.len)
            return err_set(err, ST_IO, "cannot write a temporary file: %s", strerror(errno));
        return ST_OK;
    }
    char chunk[65536];
    while (ref.len > 0) {
        spool_ref part = {ref.off, ref.len < sizeof chunk ? ref.len : sizeof chunk};
        status st = spool_read(s, part, chunk, err);
        if (st != ST_OK)
            return st;
        if (fwrite(chunk, 1, (size_t)part.len, out) != part.len)
            return err_set(err, ST_IO, "cannot write a temporary file: %s", strerror(errno));
        ref.off += part.len;
        ref.len -= part.len;
    }
    return ST_OK;
}

void spool_dispose(spool *s)
{
    if (s->budget) {
        s->budget->held -= (int64_t)s->alloc;
        if (s->fd >= 0)
            s->budget->disk -= (int64_t)s->size;
    }
    free(s->mem);
    s->mem = NULL;
    s->len = s->alloc = 0;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->size = 0;
}

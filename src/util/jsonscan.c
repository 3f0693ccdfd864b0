/* A bounded-memory reader of one JSON text: see jsonscan.h. */
#include "util/jsonscan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void jsonscan_open_mem(jsonscan *s, const char *text, size_t len)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->mem = text;
    s->size = len;
}

status jsonscan_open_fd(jsonscan *s, int fd, errinfo *err)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return err_set(err, ST_IO, "not a regular file");
    s->size = (uint64_t)sb.st_size;
    /* the window is taken at the first read through it: a text copied out whole
     * (jsonscan_copy) needs none */
    return ST_OK;
}

void jsonscan_close(jsonscan *s)
{
    free(s->win);
    s->win = NULL;
    s->win_len = 0;
}

/* Reads `n` bytes at off into out; 0 on success. */
static int read_at(jsonscan *s, uint64_t off, char *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(s->fd, out + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (!s->failed)
                err_set(&s->read_err, ST_IO, "cannot read at byte %llu: %s",
                        (unsigned long long)(off + got), r < 0 ? strerror(errno) : "file shrank");
            s->failed = 1;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* Makes the window hold off; 0 on success. */
static int fill(jsonscan *s, uint64_t off)
{
    size_t n = s->size - off < JSONSCAN_WINDOW ? (size_t)(s->size - off) : JSONSCAN_WINDOW;
    if (!s->win && !(s->win = malloc(JSONSCAN_WINDOW))) {
        if (!s->failed)
            err_set(&s->read_err, ST_NOMEM, "out of memory for a read window");
        s->failed = 1;
        return -1;
    }
    if (read_at(s, off, s->win, n) != 0)
        return -1;
    s->win_start = off;
    s->win_len = n;
    return 0;
}

int jsonscan_byte(jsonscan *s, uint64_t off)
{
    if (off >= s->size)
        return -1;
    if (s->fd < 0)
        return (unsigned char)s->mem[off];
    if (off - s->win_start >= s->win_len || off < s->win_start)
        if (fill(s, off) != 0)
            return -1;
    return (unsigned char)s->win[off - s->win_start];
}

/* Bytes available at off without another read, and where they are. */
static const char *span(jsonscan *s, uint64_t off, size_t *n)
{
    if (jsonscan_byte(s, off) < 0) {
        *n = 0;
        return NULL;
    }
    if (s->fd < 0) {
        *n = (size_t)(s->size - off);
        return s->mem + off;
    }
    *n = s->win_len - (size_t)(off - s->win_start);
    return s->win + (off - s->win_start);
}

static status ended(jsonscan *s, uint64_t off, const char *what, errinfo *err)
{
    if (s->failed)
        return err_set(err, s->read_err.code, "%s", s->read_err.msg);
    return err_set(err, ST_JSON, "the text ends inside %s (byte %llu)", what,
                   (unsigned long long)off);
}

static status unexpected(jsonscan *s, uint64_t off, const char *want, errinfo *err)
{
    int c = jsonscan_byte(s, off);
    if (c < 0)
        return ended(s, off, "a container", err);
    return err_set(err, ST_JSON, "expected %s at byte %llu, found '%c'", want,
                   (unsigned long long)off, c >= 0x20 && c < 0x7f ? c : '?');
}

uint64_t jsonscan_ws(jsonscan *s, uint64_t off)
{
    for (;;) {
        int c = jsonscan_byte(s, off);
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return off;
        off++;
    }
}

/* One past the closing quote of the string whose opening quote is at off. */
static status string_end(jsonscan *s, uint64_t off, uint64_t *end, errinfo *err)
{
    uint64_t p = off + 1;
    int escaped = 0; /* the span before ended inside an escape */
    for (;;) {
        size_t n;
        const char *b = span(s, p, &n);
        if (!b)
            return ended(s, p, "a string", err);
        size_t i = escaped ? 1 : 0;
        escaped = 0;
        /* a quote ends the string unless an odd run of backslashes precedes it */
        while (i < n) {
            const char *q = memchr(b + i, '"', n - i);
            size_t stop = q ? (size_t)(q - b) : n, k = stop;
            while (k > i && b[k - 1] == '\\')
                k--;
            if (!q) {
                escaped = (int)((stop - k) & 1);
                break;
            }
            if (!((stop - k) & 1)) {
                *end = p + stop + 1;
                return ST_OK;
            }
            i = stop + 1;
        }
        p += n;
    }
}

status jsonscan_value_end(jsonscan *s, uint64_t off, uint64_t *end, errinfo *err)
{
    int c = jsonscan_byte(s, off);
    if (c < 0)
        return ended(s, off, "a value", err);
    if (c == '"')
        return string_end(s, off, end, err);
    if (c != '{' && c != '[') {
        /* a number or a literal: up to the next delimiter */
        uint64_t p = off;
        for (;;) {
            c = jsonscan_byte(s, p);
            if (c < 0 || c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' ||
                c == '\r')
                break;
            p++;
        }
        if (p == off)
            return unexpected(s, off, "a value", err);
        *end = p;
        return ST_OK;
    }
    uint64_t p = off + 1;
    size_t depth = 1;
    for (;;) {
        size_t n;
        const char *b = span(s, p, &n);
        if (!b)
            return ended(s, p, "a container", err);
        size_t i = 0;
        for (; i < n; i++) {
            char ch = b[i];
            if (ch == '"')
                break;
            if (ch == '{' || ch == '[') {
                depth++;
            } else if (ch == '}' || ch == ']') {
                if (--depth == 0) {
                    *end = p + i + 1;
                    return ST_OK;
                }
            }
        }
        p += i;
        if (i < n) {
            status st = string_end(s, p, &p, err);
            if (st != ST_OK)
                return st;
        }
    }
}

status jsonscan_copy(jsonscan *s, uint64_t from, uint64_t to, buf *out, errinfo *err)
{
    if (to < from || to > s->size)
        return err_set(err, ST_INTERNAL, "copy past the text");
    size_t n = (size_t)(to - from);
    if (s->fd < 0)
        return buf_append(out, s->mem + from, n, err);
    if (s->win && from >= s->win_start && to <= s->win_start + s->win_len)
        return buf_append(out, s->win + (from - s->win_start), n, err);
    status st = buf_reserve(out, n, err);
    if (st != ST_OK)
        return st;
    if (read_at(s, from, out->data + out->len, n) != 0)
        return err_set(err, s->read_err.code, "%s", s->read_err.msg);
    out->len += n;
    out->data[out->len] = '\0';
    return ST_OK;
}

static status open_container(jsonscan *s, uint64_t off, int open, jsonscan_iter *it, errinfo *err)
{
    if (jsonscan_byte(s, off) != open)
        return unexpected(s, off, open == '{' ? "an object" : "an array", err);
    memset(it, 0, sizeof *it);
    it->pos = off + 1;
    it->first = 1;
    return ST_OK;
}

status jsonscan_object(jsonscan *s, uint64_t off, jsonscan_iter *it, errinfo *err)
{
    return open_container(s, off, '{', it, err);
}

status jsonscan_array(jsonscan *s, uint64_t off, jsonscan_iter *it, errinfo *err)
{
    return open_container(s, off, '[', it, err);
}

/* Past the separator before the next item: 1 when there is one, 0 after the close. */
static status next_item(jsonscan *s, jsonscan_iter *it, int close, int *more, errinfo *err)
{
    uint64_t p = jsonscan_ws(s, it->pos);
    int c = jsonscan_byte(s, p);
    if (c == close) {
        it->pos = p + 1;
        *more = 0;
        return ST_OK;
    }
    if (!it->first) {
        if (c != ',')
            return unexpected(s, p, close == '}' ? "',' or '}'" : "',' or ']'", err);
        p = jsonscan_ws(s, p + 1);
    }
    it->first = 0;
    it->pos = p;
    *more = 1;
    return ST_OK;
}

status jsonscan_member(jsonscan *s, jsonscan_iter *it, int *more, errinfo *err)
{
    status st = next_item(s, it, '}', more, err);
    if (st != ST_OK || !*more)
        return st;
    if (jsonscan_byte(s, it->pos) != '"')
        return unexpected(s, it->pos, "a key", err);
    it->key = it->pos;
    uint64_t p;
    if ((st = string_end(s, it->key, &p, err)) != ST_OK)
        return st;
    p = jsonscan_ws(s, p);
    if (jsonscan_byte(s, p) != ':')
        return unexpected(s, p, "':'", err);
    it->value = jsonscan_ws(s, p + 1);
    if (jsonscan_byte(s, it->value) < 0)
        return ended(s, it->value, "an object", err);
    return ST_OK;
}

status jsonscan_element(jsonscan *s, jsonscan_iter *it, int *more, errinfo *err)
{
    status st = next_item(s, it, ']', more, err);
    if (st != ST_OK || !*more)
        return st;
    it->value = it->pos;
    if (jsonscan_byte(s, it->value) < 0)
        return ended(s, it->value, "an array", err);
    return ST_OK;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A key that is not valid JSON never equals a name: it is copied with its object and
 * the tokenizer names the fault there. */
status jsonscan_key_is(jsonscan *s, uint64_t off, const char *name, int *yes, errinfo *err)
{
    (void)err;
    *yes = 0;
    uint64_t p = off + 1;
    for (const char *n = name;; n++) {
        int c = jsonscan_byte(s, p++);
        if (c < 0)
            return ST_OK;
        if (c == '"') {
            *yes = *n == '\0';
            return ST_OK;
        }
        if (c == '\\') {
            int e = jsonscan_byte(s, p++);
            switch (e) {
            case '"':
            case '\\':
            case '/':
                c = e;
                break;
            case 'u': {
                int v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(jsonscan_byte(s, p++));
                    if (h < 0)
                        return ST_OK;
                    v = v << 4 | h;
                }
                c = v;
                break;
            }
            default:
                return ST_OK; /* \b \f \n \r \t: not in a name */
            }
        }
        if (*n == '\0' || (unsigned char)*n != c)
            return ST_OK;
    }
}

status jsonscan_end(jsonscan *s, uint64_t off, errinfo *err)
{
    uint64_t p = jsonscan_ws(s, off);
    if (p < s->size)
        return unexpected(s, p, "nothing after the top value", err);
    if (s->failed)
        return err_set(err, s->read_err.code, "%s", s->read_err.msg);
    return ST_OK;
}

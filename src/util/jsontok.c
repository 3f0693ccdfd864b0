/* The in-place JSON tokenizer: see jsontok.h. One loop with an explicit stack of
 * open containers (no recursion, so depth costs no C stack); strings are scanned
 * 16 bytes at a time for the bytes that need a look (quote, backslash, control,
 * non-ASCII), since string bytes are most of a snapshot. */
#include "util/jsontok.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct parser {
    jsontok_doc *d;
    unsigned char *s;
    size_t len;
    size_t pos;
    size_t line, line_start; /* newlines can only be whitespace between tokens */
    unsigned flags;
    errinfo *err;
    uint32_t *stack; /* open containers: a local array, on the heap past it */
    size_t stack_cap;
    int stack_heap;
} parser;

void jsontok_init(jsontok_doc *d)
{
    memset(d, 0, sizeof *d);
}

void jsontok_dispose(jsontok_doc *d)
{
    if (!d)
        return;
    free(d->tok);
    jsontok_init(d);
}

static status fail(parser *p, size_t at, const char *what)
{
    size_t col = at >= p->line_start ? at - p->line_start + 1 : 1;
    return err_set(p->err, ST_JSON, "%s at line %zu, column %zu (byte %zu)", what, p->line, col,
                   at);
}

static status grow(parser *p)
{
    jsontok_doc *d = p->d;
    /* every token takes at least one byte of text, so len + 1 tokens always do */
    size_t want = d->alloc ? d->alloc * 2 : 1024;
    if (want < p->len / 16)
        want = p->len / 16;
    if (want > p->len + 1)
        want = p->len + 1;
    if (want <= d->ntok)
        return err_set(p->err, ST_INTERNAL, "JSON token count past the text length");
    jsontok *t = realloc(d->tok, want * sizeof *t);
    if (!t)
        return err_set(p->err, ST_NOMEM, "out of memory for %zu JSON tokens", want);
    d->tok = t;
    d->alloc = want;
    return ST_OK;
}

static inline status push(parser *p, uint8_t type, size_t start, size_t len, uint32_t *idx)
{
    jsontok_doc *d = p->d;
    if (d->ntok == d->alloc) {
        status st = grow(p);
        if (st != ST_OK)
            return st;
    }
    jsontok *t = &d->tok[d->ntok];
    t->start = (uint32_t)start;
    t->len = (uint32_t)len;
    t->end = (uint32_t)(d->ntok + 1);
    t->type = type;
    *idx = (uint32_t)d->ntok++;
    return ST_OK;
}

/* The first byte from pos on that is not whitespace (its offset). */
static inline size_t ws(parser *p, const unsigned char *s, size_t n, size_t pos)
{
    while (pos < n) {
        unsigned char c = s[pos];
        /* compact JSON has none: one compare tells (all four are at most ' ') */
        if (c > ' ')
            break;
        if (c == ' ' || c == '\t' || c == '\r') {
            pos++;
        } else if (c == '\n') {
            pos++;
            p->line++;
            p->line_start = pos;
        } else {
            break;
        }
    }
    return pos;
}

/* Length of the run of bytes that are plain string content (printable ASCII other
 * than '"' and '\\') at the start of s[0, n). */
static inline size_t plain_run(const unsigned char *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* a signed compare: below 0x20 catches the controls and every byte >= 0x80 */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                                 _mm_cmplt_epi8(x, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
#endif
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
            return i;
    }
    return n;
}

/* Length of the UTF-8 sequence that starts s[0, n) (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF), 0 when it is not one. */
static inline size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char b = s[0], lo = 0x80, hi = 0xBF;
    size_t k;
    if (b >= 0xC2 && b <= 0xDF) {
        k = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        k = 3;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        k = 4;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (k > n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

static int hex4(const unsigned char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        uint32_t x;
        if (c >= '0' && c <= '9')
            x = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x = (uint32_t)(c - 'A' + 10);
        else
            return -1;
        v = v << 4 | x;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(unsigned char *w, uint32_t cp)
{
    if (cp < 0x80) {
        w[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        w[0] = (unsigned char)(0xC0 | cp >> 6);
        w[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        w[0] = (unsigned char)(0xE0 | cp >> 12);
        w[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        w[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    w[0] = (unsigned char)(0xF0 | cp >> 18);
    w[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    w[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    w[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape at s[*r] ('\\') to s[*w]; both advance. *w < *r, and the
 * decoded form is shorter than the escape, so the write never passes the read. */
static status unescape(parser *p, size_t *r, size_t *w, int key)
{
    unsigned char *s = p->s;
    size_t at = *r, n = p->len;
    if (at + 1 >= n)
        return fail(p, at, "unterminated string");
    unsigned char e = s[at + 1], c;
    switch (e) {
    case '"':
    case '\\':
    case '/':
        c = e;
        break;
    case 'b':
        c = '\b';
        break;
    case 'f':
        c = '\f';
        break;
    case 'n':
        c = '\n';
        break;
    case 'r':
        c = '\r';
        break;
    case 't':
        c = '\t';
        break;
    case 'u': {
        uint32_t cp, lo;
        if (at + 6 > n || hex4(s + at + 2, &cp) != 0)
            return fail(p, at, "invalid \\u escape");
        size_t used = 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (at + 12 > n || s[at + 6] != '\\' || s[at + 7] != 'u' ||
                hex4(s + at + 8, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                return fail(p, at, "invalid Unicode escape (a high surrogate without its low one)");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            used = 12;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail(p, at, "invalid Unicode escape (a lone low surrogate)");
        } else if (cp == 0 && (key || !(p->flags & JSONTOK_ALLOW_NUL))) {
            return fail(p, at,
                        key ? "\\u0000 is not allowed in an object key"
                            : "\\u0000 is not allowed in a string");
        }
        *w += put_utf8(s + *w, cp);
        *r += used;
        return ST_OK;
    }
    default:
        return fail(p, at, "invalid escape");
    }
    s[(*w)++] = c;
    *r += 2;
    return ST_OK;
}

/* The string (an object key when key) whose opening quote is at p->pos. */
static status string_any(parser *p, int key) __attribute__((noinline));

/* A string token: the usual one (printable ASCII, no escape) here, with little to
 * save and restore around it; the others in string_any. */
static inline status string(parser *p, int key)
{
    unsigned char *s = p->s;
    size_t start = p->pos + 1, r = start + plain_run(s + start, p->len - start);
    if (r >= p->len || s[r] != '"')
        return string_any(p, key);
    uint32_t idx;
    status st = push(p, JSONTOK_STRING, start, r - start, &idx);
    if (st != ST_OK)
        return st;
    s[r] = '\0';
    p->pos = r + 1;
    return ST_OK;
}

static status string_any(parser *p, int key)
{
    unsigned char *s = p->s;
    size_t open = p->pos, start = open + 1, r = start, n = p->len, w;
    uint32_t idx;
    status st;
    for (;;) {
        r += plain_run(s + r, n - r);
        if (r >= n)
            return fail(p, open, "unterminated string");
        unsigned char c = s[r];
        if (c == '"') {
            w = r;
            goto done;
        }
        if (c == '\\')
            break;
        if (c < 0x20)
            return fail(p, r, "control character in a string");
        size_t k = utf8_seq(s + r, n - r);
        if (!k)
            return fail(p, r, "invalid UTF-8");
        r += k;
    }
    /* an escape: from here on bytes move down to w */
    w = r;
    for (;;) {
        unsigned char c = s[r];
        if (c == '"')
            goto done;
        if (c == '\\') {
            if ((st = unescape(p, &r, &w, key)) != ST_OK)
                return st;
        } else if (c < 0x20) {
            return fail(p, r, "control character in a string");
        } else if (c >= 0x80) {
            size_t k = utf8_seq(s + r, n - r);
            if (!k)
                return fail(p, r, "invalid UTF-8");
            memmove(s + w, s + r, k);
            w += k;
            r += k;
        }
        size_t run = plain_run(s + r, n - r);
        if (run) {
            memmove(s + w, s + r, run);
            w += run;
            r += run;
        }
        if (r >= n)
            return fail(p, open, "unterminated string");
    }
done:
    if ((st = push(p, JSONTOK_STRING, start, w - start, &idx)) != ST_OK)
        return st;
    s[w] = '\0';
    p->pos = r + 1;
    return ST_OK;
}

static inline int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static status number(parser *p)
{
    const unsigned char *s = p->s;
    size_t at = p->pos, i = at, n = p->len;
    int neg = 0, real = 0;
    uint32_t idx;
    if (s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= n || !is_digit(s[i]))
        return fail(p, at, "invalid number");
    if (s[i] == '0')
        i++;
    else
        while (i < n && is_digit(s[i]))
            i++;
    size_t digits = i - at - (size_t)neg;
    if (i < n && s[i] == '.') {
        real = 1;
        i++;
        if (i >= n || !is_digit(s[i]))
            return fail(p, at, "invalid number");
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        real = 1;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return fail(p, at, "invalid number");
        while (i < n && is_digit(s[i]))
            i++;
    }
    size_t len = i - at;
    if (!real) {
        /* int64: 19 digits at most, and the 19-digit ones up to the limit */
        static const char max_pos[] = "9223372036854775807", max_neg[] = "9223372036854775808";
        if (digits > 19 || (digits == 19 && memcmp(s + at + neg, neg ? max_neg : max_pos, 19) > 0))
            return fail(p, at, "integer too large for 64 bits");
    } else {
        /* The top value is a container, so a number is followed by a byte of the
         * text, and a byte that ends a JSON number (not a digit, '.', 'e', 'E')
         * ends strtod's reading too: no copy is needed. */
        if (i >= n)
            return fail(p, n, "unexpected end of text");
        errno = 0;
        double v = strtod((const char *)s + at, NULL);
        if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))
            return fail(p, at, "real number overflow");
    }
    status st = push(p, real ? JSONTOK_REAL : JSONTOK_INT, at, len, &idx);
    p->pos = i;
    return st;
}

static status literal(parser *p, const char *word, size_t wlen, uint8_t type)
{
    uint32_t idx;
    if (p->len - p->pos < wlen || memcmp(p->s + p->pos, word, wlen) != 0)
        return fail(p, p->pos, "invalid token");
    status st = push(p, type, p->pos, 0, &idx);
    p->pos += wlen;
    return st;
}

static status grow_stack(parser *p)
{
    size_t n = p->stack_cap * 2;
    uint32_t *ns = malloc(n * sizeof *ns);
    if (!ns)
        return err_set(p->err, ST_NOMEM, "out of memory for JSON nested %zu deep", p->stack_cap);
    memcpy(ns, p->stack, p->stack_cap * sizeof *ns);
    if (p->stack_heap)
        free(p->stack);
    p->stack = ns;
    p->stack_cap = n;
    p->stack_heap = 1;
    return ST_OK;
}

/* The position is kept in a local while the structure is read: in p, every store
 * to the text or the tokens (char-typed, so they may alias anything) would have it
 * read again from memory. It goes to p->pos around the calls that read it there. */
static status parse(parser *p)
{
    jsontok_doc *d = p->d;
    const unsigned char *s = p->s;
    size_t n = p->len, pos = ws(p, s, n, p->pos), depth = 0;
    uint32_t idx;
    status st;

    if (pos >= n || (s[pos] != '{' && s[pos] != '['))
        return fail(p, pos, "'[' or '{' expected");
value:
    if (pos >= n)
        return fail(p, pos, "unexpected end of text");
    if (depth >= p->stack_cap) {
        if (!(p->flags & JSONTOK_ANY_DEPTH))
            return fail(p, pos, "nested too deep");
        if ((st = grow_stack(p)) != ST_OK)
            return st;
    }
    if (depth)
        d->tok[p->stack[depth - 1]].len++;
    p->pos = pos;
    switch (s[pos]) {
    case '{':
        if ((st = push(p, JSONTOK_OBJECT, pos, 0, &idx)) != ST_OK)
            return st;
        p->stack[depth++] = idx;
        pos = ws(p, s, n, pos + 1);
        if (pos < n && s[pos] == '}')
            goto close;
        goto key;
    case '[':
        if ((st = push(p, JSONTOK_ARRAY, pos, 0, &idx)) != ST_OK)
            return st;
        p->stack[depth++] = idx;
        pos = ws(p, s, n, pos + 1);
        if (pos < n && s[pos] == ']')
            goto close;
        goto value;
    case '"':
        st = string(p, 0);
        break;
    case 't':
        st = literal(p, "true", 4, JSONTOK_TRUE);
        break;
    case 'f':
        st = literal(p, "false", 5, JSONTOK_FALSE);
        break;
    case 'n':
        st = literal(p, "null", 4, JSONTOK_NULL);
        break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        st = number(p);
        break;
    default:
        return fail(p, pos, "invalid token");
    }
    if (st != ST_OK)
        return st;
    pos = p->pos;
after:
    pos = ws(p, s, n, pos);
    if (depth == 0) {
        if (pos != n)
            return fail(p, pos, "end of text expected");
        p->pos = pos;
        return ST_OK;
    }
    if (pos >= n)
        return fail(p, pos, "unexpected end of text");
    {
        int in_object = d->tok[p->stack[depth - 1]].type == JSONTOK_OBJECT;
        unsigned char c = s[pos];
        if (c == ',') {
            pos = ws(p, s, n, pos + 1);
            if (in_object)
                goto key;
            goto value;
        }
        if (c != (in_object ? '}' : ']'))
            return fail(p, pos, in_object ? "',' or '}' expected" : "',' or ']' expected");
    }
close:
    pos++;
    depth--;
    d->tok[p->stack[depth]].end = (uint32_t)d->ntok;
    goto after;
key:
    if (pos >= n || s[pos] != '"')
        return fail(p, pos, "a string key expected");
    p->pos = pos;
    if ((st = string(p, 1)) != ST_OK)
        return st;
    pos = ws(p, s, n, p->pos);
    if (pos >= n || s[pos] != ':')
        return fail(p, pos, "':' expected");
    pos = ws(p, s, n, pos + 1);
    goto value;
}

status jsontok_parse(jsontok_doc *d, char *text, size_t len, unsigned flags, errinfo *err)
{
    d->text = text;
    d->len = len;
    d->ntok = 0;
    if (len > JSONTOK_MAX_TEXT)
        return err_set(err, ST_TOO_LARGE, "JSON text of %zu bytes is larger than %zu", len,
                       JSONTOK_MAX_TEXT);
    uint32_t stack[JSONTOK_MAX_DEPTH];
    parser p = {d, (unsigned char *)text, len, 0, 1, 0, flags, err, stack, JSONTOK_MAX_DEPTH, 0};
    status st = parse(&p);
    if (p.stack_heap)
        free(p.stack);
    if (st != ST_OK)
        d->ntok = 0;
    return st;
}

uint32_t jsontok_member(const jsontok_doc *d, uint32_t obj, const char *key, size_t keylen)
{
    if (obj == JSONTOK_NONE || d->tok[obj].type != JSONTOK_OBJECT)
        return JSONTOK_NONE;
    const jsontok *tok = d->tok;
    const char *text = d->text;
    uint32_t found = JSONTOK_NONE, k = obj + 1;
    for (uint32_t m = tok[obj].len; m > 0; m--) {
        /* the last member of that name counts: every member is looked at */
        if (tok[k].len == keylen && bytes_equal(text + tok[k].start, key, keylen))
            found = k + 1;
        k = tok[k + 1].end;
    }
    return found;
}

/* Writes s[0, n) escaped into room for 6n + 2 bytes at out; returns the length. */
static size_t write_string(char *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = out;
    *o++ = '"';
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
    }
    *o++ = '"';
    return (size_t)(o - out);
}

/* An open container while writing: where it ends, what it is, children written. */
typedef struct wframe {
    uint32_t end;
    uint32_t nth;
    uint8_t type;
} wframe;

static status close_frame(const wframe *f, buf *out, errinfo *err)
{
    return buf_append(out, f->type == JSONTOK_OBJECT ? "}" : "]", 1, err);
}

status jsontok_write(const jsontok_doc *d, uint32_t i, buf *out, errinfo *err)
{
    wframe small[64], *stack = small;
    size_t depth = 0, cap = sizeof small / sizeof small[0];
    status st = ST_OK;
    uint32_t stop = d->tok[i].end;
    for (uint32_t j = i; j < stop && st == ST_OK; j++) {
        while (depth > 0 && stack[depth - 1].end <= j && st == ST_OK)
            st = close_frame(&stack[--depth], out, err);
        const jsontok *t = &d->tok[j];
        size_t need = t->type == JSONTOK_STRING ? (size_t)t->len * 6 + 2 : (size_t)t->len + 5;
        if (st != ST_OK || (st = buf_reserve(out, need + 1, err)) != ST_OK)
            break;
        char *o = out->data + out->len;
        if (depth > 0) {
            wframe *f = &stack[depth - 1];
            if (f->nth > 0)
                *o++ = f->type == JSONTOK_OBJECT && (f->nth & 1) ? ':' : ',';
            f->nth++;
        }
        const char *s = d->text + t->start;
        switch (t->type) {
        case JSONTOK_OBJECT:
        case JSONTOK_ARRAY:
            *o++ = t->type == JSONTOK_OBJECT ? '{' : '[';
            if (depth == cap) {
                wframe *grown = malloc(2 * cap * sizeof *grown);
                if (!grown) {
                    st = err_set(err, ST_NOMEM, "out of memory writing JSON");
                    break;
                }
                memcpy(grown, stack, depth * sizeof *grown);
                if (stack != small)
                    free(stack);
                stack = grown;
                cap *= 2;
            }
            stack[depth++] = (wframe){t->end, 0, t->type};
            break;
        case JSONTOK_STRING:
            o += write_string(o, s, t->len);
            break;
        case JSONTOK_INT:
        case JSONTOK_REAL:
            /* -0 is the one integer JSON can write two ways: write it as jansson does */
            if (t->type == JSONTOK_INT && t->len == 2 && s[0] == '-' && s[1] == '0') {
                *o++ = '0';
                break;
            }
            memcpy(o, s, t->len);
            o += t->len;
            break;
        default: {
            const char *lit = t->type == JSONTOK_TRUE    ? "true"
                              : t->type == JSONTOK_FALSE ? "false"
                                                         : "null";
            size_t n = strlen(lit);
            memcpy(o, lit, n);
            o += n;
        }
        }
        out->len = (size_t)(o - out->data);
        out->data[out->len] = '\0';
    }
    while (depth > 0 && st == ST_OK)
        st = close_frame(&stack[--depth], out, err);
    if (stack != small)
        free(stack);
    return st;
}

int64_t jsontok_int(const jsontok_doc *d, uint32_t i)
{
    const jsontok *t = &d->tok[i];
    const char *s = d->text + t->start;
    size_t n = t->len, k = 0;
    int neg = n > 0 && s[0] == '-';
    uint64_t mag = 0;
    for (k = (size_t)neg; k < n && s[k] >= '0' && s[k] <= '9'; k++)
        mag = mag * 10 + (uint64_t)(s[k] - '0');
    if (!neg)
        return (int64_t)mag;
    return mag ? -(int64_t)(mag - 1) - 1 : 0;
}

double jsontok_real(const jsontok_doc *d, uint32_t i)
{
    /* a byte that is not part of the number follows it (see number()) */
    return strtod(d->text + d->tok[i].start, NULL);
}

static int key_in(const jsontok_doc *d, uint32_t k, const char *const *keys, size_t nkeys)
{
    for (size_t x = 0; x < nkeys; x++)
        if (strlen(keys[x]) == d->tok[k].len &&
            memcmp(keys[x], jsontok_str(d, k), d->tok[k].len) == 0)
            return 1;
    return 0;
}

status jsontok_write_except(const jsontok_doc *d, uint32_t i, const char *const *keys, size_t nkeys,
                            buf *out, errinfo *err)
{
    const jsontok *t = &d->tok[i];
    if (t->type != JSONTOK_OBJECT)
        return jsontok_write(d, i, out, err);
    status st = buf_append(out, "{", 1, err);
    int first = 1;
    uint32_t k = jsontok_first(i);
    for (uint32_t m = 0; m < t->len && st == ST_OK; m++) {
        uint32_t v = k + 1; /* a key is one token */
        if (!key_in(d, k, keys, nkeys)) {
            if (!first)
                st = buf_append(out, ",", 1, err);
            first = 0;
            if (st == ST_OK)
                st = jsontok_write(d, k, out, err);
            if (st == ST_OK)
                st = buf_append(out, ":", 1, err);
            if (st == ST_OK)
                st = jsontok_write(d, v, out, err);
        }
        k = d->tok[v].end;
    }
    return st == ST_OK ? buf_append(out, "}", 1, err) : st;
}

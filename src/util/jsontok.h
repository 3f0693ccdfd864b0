/* A validating JSON tokenizer that works in place: one pass over a text buffer
 * gives a flat array of tokens in document order, each value followed by its
 * subtree. Strings are decoded where they stand (escapes and \uXXXX surrogate
 * pairs to UTF-8, which is never longer than the escaped form) and NUL-terminated
 * over their closing quote, so a string token is a C string inside the text.
 *
 * It accepts exactly what jansson's json_loadb(text, len, 0) accepts: RFC 8259
 * JSON whose top value is an object or array, strict UTF-8 (no overlong forms, no
 * surrogates, nothing past U+10FFFF), no \u0000 (unless JSONTOK_ALLOW_NUL), integers
 * that fit an int64 and reals that do not overflow a double, values nested at most
 * JSONTOK_MAX_DEPTH deep (unless JSONTOK_ANY_DEPTH), and nothing but whitespace after the top
 * value. An object may repeat a key: the last one counts (jsontok_member), as with jansson.
 *
 * Ownership: the caller owns the text and keeps it alive while the tokens are used;
 * jsontok_parse changes it. The doc owns its token array; jsontok_dispose releases it
 * (NULL-safe, safe to repeat), and a doc can be parsed into again, reusing it. */
#ifndef TA_JSONTOK_H
#define TA_JSONTOK_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "util/buf.h"

enum {
    JSONTOK_OBJECT = 1,
    JSONTOK_ARRAY,
    JSONTOK_STRING,
    JSONTOK_INT,  /* a number without fraction or exponent; fits an int64 */
    JSONTOK_REAL, /* any other number */
    JSONTOK_TRUE,
    JSONTOK_FALSE,
    JSONTOK_NULL
};

/* "no such token": what jsontok_member returns for a missing key */
#define JSONTOK_NONE UINT32_MAX
/* jansson's limit: a value inside 2048 containers is one too deep */
#define JSONTOK_MAX_DEPTH 2048
/* offsets are 32-bit */
#define JSONTOK_MAX_TEXT ((size_t)UINT32_MAX - 1)

/* flags for jsontok_parse */
#define JSONTOK_ALLOW_NUL 1u /* accept \u0000 in string values, never in keys (as jansson) */
#define JSONTOK_ANY_DEPTH 2u /* no depth limit (a text made from a tree already in memory) */

typedef struct jsontok {
    uint32_t start; /* STRING: decoded bytes at text + start; numbers: their text there;
                       containers and literals: their first character */
    uint32_t len;   /* STRING: decoded length; numbers: text length; OBJECT: members;
                       ARRAY: elements; literals: 0 */
    uint32_t end;   /* index of the first token after this value's subtree */
    uint8_t type;   /* JSONTOK_* */
} jsontok;

typedef struct jsontok_doc {
    char *text;
    size_t len;
    jsontok *tok; /* tok[0] is the top value; an object's children are key, value, ... */
    size_t ntok;
    size_t alloc;
} jsontok_doc;

void jsontok_init(jsontok_doc *d);
void jsontok_dispose(jsontok_doc *d);

/* Tokenizes text[0, len) (text need not be NUL-terminated). ST_JSON with a message
 * that says what is wrong and where (line, column, byte offset), ST_TOO_LARGE past
 * JSONTOK_MAX_TEXT, ST_NOMEM. After a failure the doc holds no tokens. */
TA_MUST_USE status jsontok_parse(jsontok_doc *d, char *text, size_t len, unsigned flags,
                                 errinfo *err);

/* The value of the last member `key` (keylen bytes) of object token obj, or
 * JSONTOK_NONE when obj has no such member or is not an object. */
uint32_t jsontok_member(const jsontok_doc *d, uint32_t obj, const char *key, size_t keylen);

/* The first child of a container (an object's first key), for walking its children
 * with tok[i].end; meaningful only when tok[i].len > 0. */
static inline uint32_t jsontok_first(uint32_t i)
{
    return i + 1;
}

/* A string token's bytes (NUL-terminated). */
static inline const char *jsontok_str(const jsontok_doc *d, uint32_t i)
{
    return d->text + d->tok[i].start;
}

/* Appends value i's compact JSON text to out: no whitespace; strings escaped as
 * jansson's json_dumps escapes them (quote, backslash and control characters; UTF-8
 * as it is), numbers as they were written (but -0 as 0). ST_TOO_LARGE past out's cap, ST_NOMEM. */
TA_MUST_USE status jsontok_write(const jsontok_doc *d, uint32_t i, buf *out, errinfo *err);

/* jsontok_write of object i without its members whose key is one of keys[0, nkeys)
 * (each such member, a repeated key too); a value that is not an object is written
 * whole. */
TA_MUST_USE status jsontok_write_except(const jsontok_doc *d, uint32_t i, const char *const *keys,
                                        size_t nkeys, buf *out, errinfo *err);

/* The value of a JSONTOK_INT token. */
int64_t jsontok_int(const jsontok_doc *d, uint32_t i);
/* The value of a JSONTOK_REAL (or JSONTOK_INT) token, as strtod reads it. */
double jsontok_real(const jsontok_doc *d, uint32_t i);

#endif

/* A bounded-memory reader of one JSON text, from a file or from memory: it walks
 * containers member by member and element by element and copies chosen values out,
 * so that a document of any size is read a piece at a time (util/jsontok then
 * tokenizes each piece, which validates it).
 *
 * Offsets are byte offsets in the text. The reader checks the structure it walks
 * (braces, brackets, commas, colons, what follows the top value); the pieces it
 * copies out are checked by whoever tokenizes them. A file is read through a window
 * of JSONSCAN_WINDOW bytes, with pread, so going back to an earlier offset works.
 *
 * Ownership: the caller owns the reader struct, the file descriptor (kept open for
 * as long as the reader is used) or the memory; jsonscan_close releases the window
 * (NULL-safe, safe to repeat). */
#ifndef TA_JSONSCAN_H
#define TA_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "util/buf.h"

#define JSONSCAN_WINDOW ((size_t)1 << 20)

typedef struct jsonscan {
    int fd;             /* -1: memory */
    const char *mem;    /* the text, for memory */
    uint64_t size;      /* bytes in the text */
    char *win;          /* file window */
    uint64_t win_start; /* offset of win[0] */
    size_t win_len;
    errinfo read_err; /* why the file could not be read */
    int failed;
} jsonscan;

typedef struct jsonscan_iter {
    uint64_t pos;   /* where the next member or element is looked for */
    int first;      /* nothing read yet */
    uint64_t key;   /* object member: its key's opening quote */
    uint64_t value; /* the member's value, or the element */
} jsonscan_iter;

void jsonscan_open_mem(jsonscan *s, const char *text, size_t len);
/* The file's size is taken once (fstat): it must be a regular file. */
TA_MUST_USE status jsonscan_open_fd(jsonscan *s, int fd, errinfo *err);
void jsonscan_close(jsonscan *s);

/* The byte at off, or -1 past the end (or when the file cannot be read). */
int jsonscan_byte(jsonscan *s, uint64_t off);
/* The first offset at or after off that is not JSON whitespace. */
uint64_t jsonscan_ws(jsonscan *s, uint64_t off);
/* Where the value that starts at off (no whitespace before it) ends: one past its
 * last byte. Containers and strings are matched, not validated. ST_JSON when the
 * text ends first. */
TA_MUST_USE status jsonscan_value_end(jsonscan *s, uint64_t off, uint64_t *end, errinfo *err);
/* Appends text[from, to) to out. */
TA_MUST_USE status jsonscan_copy(jsonscan *s, uint64_t from, uint64_t to, buf *out, errinfo *err);

/* Walking an object that starts at off ('{' there, else ST_JSON): jsonscan_member
 * sets it->key and it->value and returns 1, or 0 after the closing brace (it->pos
 * is then one past it); the caller sets it->pos to the end of each value before
 * asking for the next member. */
TA_MUST_USE status jsonscan_object(jsonscan *s, uint64_t off, jsonscan_iter *it, errinfo *err);
TA_MUST_USE status jsonscan_member(jsonscan *s, jsonscan_iter *it, int *more, errinfo *err);
/* The same for an array: jsonscan_element sets it->value. */
TA_MUST_USE status jsonscan_array(jsonscan *s, uint64_t off, jsonscan_iter *it, errinfo *err);
TA_MUST_USE status jsonscan_element(jsonscan *s, jsonscan_iter *it, int *more, errinfo *err);

/* Whether the key whose opening quote is at off reads `name` (escapes decoded).
 * A key with an escape that is not valid JSON gives ST_JSON. */
TA_MUST_USE status jsonscan_key_is(jsonscan *s, uint64_t off, const char *name, int *yes,
                                   errinfo *err);

/* Nothing but whitespace from off to the end. */
TA_MUST_USE status jsonscan_end(jsonscan *s, uint64_t off, errinfo *err);

#endif

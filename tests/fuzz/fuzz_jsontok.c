/* Fuzz target: the in-place JSON tokenizer (util/jsontok) against jansson, the
 * parser it stands in for. The same bytes must be accepted by both or by neither,
 * with and without NUL in strings (one known difference: see below); an accepted text must give the
 * same values (types, decoded strings, numbers, array elements, the last copy of a repeated key);
 * and jansson's compact dump of the value must tokenize to the same values again (the path the
 * flattener takes for a tree the job built). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "tables/tables.h"
#include "util/buf.h"
#include "util/jsontok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const jsontok_doc *d, uint32_t i, const json_t *j)
{
    const jsontok *t = &d->tok[i];
    switch (t->type) {
    case JSONTOK_NULL:
        return json_is_null(j);
    case JSONTOK_TRUE:
        return json_is_true(j);
    case JSONTOK_FALSE:
        return json_is_false(j);
    case JSONTOK_INT:
        return json_is_integer(j) && jsontok_int(d, i) == json_integer_value(j);
    case JSONTOK_REAL: {
        if (!json_is_real(j))
            return 0;
        double a = jsontok_real(d, i), b = json_real_value(j);
        return memcmp(&a, &b, sizeof a) == 0;
    }
    case JSONTOK_STRING:
        return json_is_string(j) && json_string_length(j) == t->len &&
               memcmp(jsontok_str(d, i), json_string_value(j), t->len) == 0 &&
               jsontok_str(d, i)[t->len] == '\0';
    case JSONTOK_ARRAY: {
        if (!json_is_array(j) || json_array_size(j) != t->len)
            return 0;
        uint32_t k = jsontok_first(i);
        for (size_t n = 0; n < t->len; n++) {
            if (!same(d, k, json_array_get(j, n)))
                return 0;
            k = d->tok[k].end;
        }
        return k == t->end;
    }
    case JSONTOK_OBJECT: {
        if (!json_is_object(j) || json_object_size(j) > t->len)
            return 0;
        uint32_t k = jsontok_first(i);
        for (size_t n = 0; n < t->len; n++) {
            const jsontok *key = &d->tok[k];
            if (key->type != JSONTOK_STRING || !json_object_getn(j, jsontok_str(d, k), key->len))
                return 0;
            k = d->tok[k + 1].end;
        }
        if (k != t->end)
            return 0;
        const char *key;
        size_t key_len;
        const json_t *v;
        json_object_keylen_foreach((json_t *)j, key, key_len, v)
        {
            uint32_t m = jsontok_member(d, i, key, key_len);
            if (m == JSONTOK_NONE || !same(d, m, v))
                return 0;
        }
        return 1;
    }
    }
    return 0;
}

/* Rows as bytes, to compare two walks. */
static status record_row(void *ctx, table_id t, const tables_value *row, errinfo *err)
{
    buf *out = ctx;
    const table_def *def = tables_def(t);
    uint8_t tag = (uint8_t)t;
    status st = buf_append(out, &tag, 1, err);
    for (size_t i = 0; i < def->ncols && st == ST_OK; i++) {
        const tables_value *v = &row[i];
        uint8_t null = (uint8_t)v->null;
        uint64_t len = v->null ? 0 : v->len;
        int64_t num = v->null || def->cols[i].type == PQ_STRING ? 0 : v->i;
        st = buf_append(out, &null, 1, err);
        if (st == ST_OK)
            st = buf_append(out, &num, sizeof num, err);
        if (st == ST_OK && def->cols[i].type == PQ_STRING)
            st = buf_append(out, &len, sizeof len, err);
        if (st == ST_OK && def->cols[i].type == PQ_STRING && len)
            st = buf_append(out, v->s, len, err);
    }
    return st;
}

/* The flattener over the text (convert's path) and over
 * jansson's tree (a snapshot held in memory) must agree: same outcome, counts and
 * rows. Two exceptions: a key repeated after the items it applies to is refused by
 * the text's reader (jansson keeps the last one), and when a snapshot has several
 * faults the two may name a different one first. */
static void same_rows(const uint8_t *data, size_t size, const json_t *j)
{
    buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    table_counts ca = {{0}, 0, 0}, cb = {{0}, 0, 0};
    errinfo ea = {0}, eb = {0};
    status sa = tables_flatten_text((const char *)data, size, 0, NULL, record_row, &a, &ca, &ea);
    status sb = tables_flatten_rows(j, record_row, &b, &cb, &eb);
    int repeated = sa == ST_JSON && strstr(ea.msg, "(a repeated key)") != NULL;
    if (!repeated && (sa != sb || (sa == ST_OK && memcmp(&ca, &cb, sizeof ca) != 0)))
        abort();
    if (sa == ST_OK && (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)))
        abort();
    /* a small snapshot is tokenized whole; read a piece at a time instead, it must
     * give the same rows, counts and message, even when it fails */
    buf c;
    buf_init(&c, 0);
    table_counts cc = {{0}, 0, 0};
    errinfo ec = {0};
    status sc = tables_flatten_text((const char *)data, size, TABLES_STREAM, NULL, record_row, &c,
                                    &cc, &ec);
    if (sc != sa || strcmp(ec.msg, ea.msg) != 0 || memcmp(&cc, &ca, sizeof ca) != 0 ||
        c.len != a.len || (a.len && memcmp(a.data, c.data, a.len) != 0))
        abort();
    buf_dispose(&a);
    buf_dispose(&b);
    buf_dispose(&c);
}

/* Whether a text has no real and no repeated key: then jansson's compact dump of it
 * is what jsontok_write must write, byte for byte. */
static int plain(const jsontok_doc *d)
{
    for (size_t i = 0; i < d->ntok; i++)
        if (d->tok[i].type == JSONTOK_REAL)
            return 0;
    for (size_t i = 0; i < d->ntok; i++) {
        if (d->tok[i].type != JSONTOK_OBJECT)
            continue;
        for (uint32_t a = (uint32_t)i + 1, m = 0; m < d->tok[i].len; m++, a = d->tok[a + 1].end)
            for (uint32_t b = d->tok[a + 1].end, k = m + 1; k < d->tok[i].len;
                 k++, b = d->tok[b + 1].end)
                if (d->tok[a].len == d->tok[b].len &&
                    memcmp(jsontok_str(d, a), jsontok_str(d, b), d->tok[a].len) == 0)
                    return 0;
    }
    return 1;
}

/* The tokens written back as compact text (jsontok_write) hold the same values, and
 * are jansson's compact dump when nothing tells them apart (a real's own digits, a
 * repeated key). */
static void written_again(const jsontok_doc *d, const json_t *j)
{
    buf out;
    buf_init(&out, 0);
    errinfo err = {0};
    if (jsontok_write(d, 0, &out, &err) != ST_OK)
        abort();
    json_t *back = json_loadb(out.data, out.len, JSON_ALLOW_NUL, NULL);
    if (!back || !json_equal(back, j))
        abort();
    if (plain(d)) {
        char *dumped = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!dumped || strlen(dumped) != out.len || memcmp(dumped, out.data, out.len) != 0)
            abort();
        free(dumped);
    }
    json_decref(back);
    buf_dispose(&out);
}

static void one(const uint8_t *data, size_t size, unsigned flags)
{
    json_t *j = json_loadb((const char *)data, size, flags ? JSON_ALLOW_NUL : 0, NULL);
    char *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);
    jsontok_doc d;
    jsontok_init(&d);
    errinfo err = {0};
    status st = jsontok_parse(&d, copy, size, flags, &err);
    /* A raw NUL byte is never JSON. jansson drops one that directly follows a
     * number or a literal ("[5\0]" loads as [5]); the tokenizer refuses it. */
    if (memchr(data, 0, size) != NULL) {
        if (st == ST_OK)
            abort();
        json_decref(j);
        j = NULL;
    } else if ((j != NULL) != (st == ST_OK)) {
        abort();
    }
    if (st != ST_OK && (st != ST_JSON || d.ntok != 0 || !err.msg[0]))
        abort();
    if (j) {
        if (d.ntok == 0 || d.tok[0].end != d.ntok || !same(&d, 0, j))
            abort();
        if (!flags)
            same_rows(data, size, j);
        char *text = json_dumps(j, JSON_COMPACT);
        if (text) {
            jsontok_doc d2;
            jsontok_init(&d2);
            if (jsontok_parse(&d2, text, strlen(text), JSONTOK_ALLOW_NUL, &err) != ST_OK)
                abort();
            if (!same(&d2, 0, j))
                abort();
            jsontok_dispose(&d2);
            free(text);
        }
        written_again(&d, j);
    }
    jsontok_dispose(&d);
    free(copy);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_setup(LOG_FORMAT_JSON, LOG_ERROR);
        quiet = 1;
    }
    if (size > 1 << 20)
        return 0;
    one(data, size, 0);
    one(data, size, JSONTOK_ALLOW_NUL);
    return 0;
}

/* Fuzzes what the run reads of a calendarView event as tokens against the same
 * reading of a jansson tree (what audit uses): for the top value and each item of a
 * top "value" array, the Teams join link and where it came from are the same, and
 * the event's text without the keys the job sets (jsontok_write_except), read back
 * by jansson, equals the tree with those keys deleted.
 *
 * Input: a page body (or any JSON text). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/event.h"
#include "util/jsontok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const KEYS[] = {"onlineMeetingMeta", "attendance", "joinUrlSource", "body"};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

static void same_event(json_t *tree, const jsontok_doc *d, uint32_t t)
{
    buf s1, s2;
    buf_init(&s1, 0);
    buf_init(&s2, 0);
    const char *src1, *src2;
    const char *u1 = event_organized_join_url(tree, &s1, &src1);
    const char *u2 = event_organized_join_url_tok(d, t, &s2, &src2);
    if ((u1 == NULL) != (u2 == NULL) || (u1 && strcmp(u1, u2) != 0) || src1 != src2)
        abort();
    buf_dispose(&s1);
    buf_dispose(&s2);

    buf text;
    buf_init(&text, 0);
    errinfo err = {0};
    if (jsontok_write_except(d, t, KEYS, NKEYS, &text, &err) != ST_OK)
        abort();
    json_t *back = json_loadb(text.data, text.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *want = json_deep_copy(tree);
    if (!back || !want)
        abort();
    if (json_is_object(want))
        for (size_t k = 0; k < NKEYS; k++)
            json_object_del(want, KEYS[k]);
    if (!json_equal(back, want))
        abort();
    json_decref(back);
    json_decref(want);
    buf_dispose(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *tree = json_loadb((const char *)data, size, 0, NULL);
    char *copy = malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    jsontok_doc d;
    jsontok_init(&d);
    errinfo err = {0};
    int ok = jsontok_parse(&d, copy, size, 0, &err) == ST_OK;
    /* the two accept the same texts, but for a raw NUL byte, which jansson drops after
     * a number or a literal and the tokenizer refuses (see fuzz_jsontok.c) */
    if (ok != (tree != NULL) && !(!ok && memchr(data, 0, size)))
        abort();
    if (!tree)
        ok = 0;
    if (ok) {
        same_event(tree, &d, 0);
        json_t *value = json_object_get(tree, "value");
        uint32_t v = jsontok_member(&d, 0, "value", 5);
        if (json_is_array(value)) {
            uint32_t t = jsontok_first(v);
            for (size_t i = 0; i < json_array_size(value); i++, t = d.tok[t].end)
                same_event(json_array_get(value, i), &d, t);
        }
    }
    jsontok_dispose(&d);
    free(copy);
    json_decref(tree);
    return 0;
}

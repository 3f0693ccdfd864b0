/* Fuzzes the checkpoint reader and merge: any document is either refused with a
 * message or read; a read one merges, and the merge's output reads back with every
 * watermark at least what it was. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "job/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    checkpoint cp = {0};
    cp.legacy_watermark = INT64_MIN;
    errinfo err = {0};
    if (checkpoint_parse((const char *)data, size, &cp, &err) != ST_OK) {
        if (err.msg[0] == '\0')
            abort();
        checkpoint_dispose(&cp);
        return 0;
    }
    checkpoint_update up[] = {{"a@x.com", INT64_C(1795000000000000), 1},
                              {"b@x.com", INT64_C(1000000), 0},
                              {"c@x.com", INT64_MIN, 0}};
    json_t *doc = checkpoint_merge(&cp, up, 3, "20261128T000000Z-000000", INT64_C(1795000000000000),
                                   INT64_C(1795000000000000));
    if (!doc)
        abort();
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    if (!text)
        abort();
    checkpoint again = {0};
    again.legacy_watermark = INT64_MIN;
    errinfo err2 = {0};
    if (checkpoint_parse(text, strlen(text), &again, &err2) != ST_OK)
        abort();
    if (checkpoint_watermark(&again, "A@X.COM") < INT64_C(1795000000000000))
        abort();
    /* a failed mailbox without an entry always leaves with a streak of one run or more */
    if (checkpoint_watermark(&cp, "b@x.com") == INT64_MIN &&
        checkpoint_failing(&again, "b@x.com").runs < 1)
        abort();
    if (checkpoint_watermark(&cp, "c@x.com") == INT64_MIN &&
        checkpoint_failing(&again, "c@x.com").runs < 1)
        abort();
    int64_t before = checkpoint_watermark(&cp, "zz@x.com");
    if (before != INT64_MIN && checkpoint_watermark(&again, "zz@x.com") < before &&
        cp.legacy_watermark == INT64_MIN)
        abort();
    free(text);
    checkpoint_dispose(&again);
    checkpoint_dispose(&cp);
    return 0;
}

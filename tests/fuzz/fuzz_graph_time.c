/* Fuzz target: Graph and HTTP time parsing (src/util/timeutil). Whatever parses
 * must format and parse back to the same instant; nothing may read out of bounds.
 * Input: "dateTime" or "dateTime\ntimeZone". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    int64_t us;
    timeutil_parsed info;
    if (timeutil_parse_ex((const char *)data, size, &us, &info) == 0) {
        char b[TIMEUTIL_FMT_MAX];
        int64_t back;
        timeutil_format(us, b);
        if (us >= INT64_C(-62135596800000000) && us < INT64_C(253402300800000000) &&
            (timeutil_parse(b, &back) != 0 || back != us))
            abort();
        timeutil_format_us(us, b);
        timeutil_format_date(us, b);
        timeutil_format_compact(us, b);
        timeutil_format_rfc1123(us, b);
    }
    if (timeutil_parse_rfc1123(s, &us) == 0) {
        char b[TIMEUTIL_FMT_MAX];
        int64_t back;
        timeutil_format_rfc1123(us, b);
        if (timeutil_parse_rfc1123(b, &back) != 0 || back != us)
            abort();
    }
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        (void)timeutil_parse_dtz(s, nl + 1, &us);
    } else {
        (void)timeutil_parse_dtz(s, NULL, &us);
    }
    (void)timeutil_zone_is_utc(s);
    free(s);
    return 0;
}

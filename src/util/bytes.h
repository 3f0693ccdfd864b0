/* Equality of two short byte ranges, inline: keys, ids, times and e-mail addresses
 * compared where a call to memcmp costs more than the compare. */
#ifndef TA_BYTES_H
#define TA_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* a[0, n) == b[0, n), whole words at a time: the last word overlaps the one before,
 * so every read stays inside both ranges. */
static inline int bytes_equal(const void *pa, const void *pb, size_t n)
{
    const unsigned char *a = pa, *b = pb;
    if (n >= 8) {
        uint64_t x, y;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y)
                return 0;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t x, y, u, v;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        memcpy(&u, a + n - 4, 4);
        memcpy(&v, b + n - 4, 4);
        return x == y && u == v;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

#endif

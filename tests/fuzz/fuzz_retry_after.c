/* Fuzzes the Retry-After parser: any header value gives -1 or a wait in [0, one
 * year], never a crash; a plain number of seconds reads back as milliseconds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    long ms = http_parse_retry_after(s, INT64_C(1795000000000));
    if (ms < -1 || ms > 366L * 86400 * 1000)
        abort();
    unsigned v = 0;
    for (size_t i = 0; i < size && i < 4; i++)
        v = v * 10 + (data[i] % 10);
    char num[16];
    snprintf(num, sizeof num, "%u", v);
    if (http_parse_retry_after(num, 0) != (long)v * 1000)
        abort();
    free(s);
    return 0;
}

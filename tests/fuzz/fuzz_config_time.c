/* Fuzz target: the text parsers behind the settings. The input's first byte
 * picks one: config_parse_time, config_is_loopback_url, the percent and base64
 * decoders (connection strings, SAS tokens), or config_load over an argument
 * list (the rest split on newlines). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/buf.h"
#include "util/urlenc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    uint8_t pick = data[0] % 5;
    int plus_is_space = data[0] >> 7;
    data++;
    size--;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    buf b;
    buf_init(&b, 1 << 16);
    errinfo err = {0};
    switch (pick) {
    case 0: {
        int64_t us;
        (void)config_parse_time(s, &us);
        break;
    }
    case 1:
        (void)config_is_loopback_url(s);
        break;
    case 2:
        if (urlenc_decode(&b, s, size, plus_is_space, &err) == ST_OK) {
            buf e;
            buf_init(&e, 0);
            buf d;
            buf_init(&d, 0);
            /* encode then decode gives back the bytes */
            if (urlenc_query_n(&e, b.data, b.len, &err) == ST_OK &&
                urlenc_decode(&d, e.data, e.len, 0, &err) == ST_OK &&
                (d.len != b.len || memcmp(d.data, b.data, b.len) != 0))
                abort();
            buf_dispose(&e);
            buf_dispose(&d);
        }
        break;
    case 3:
        if (urlenc_base64_decode(&b, s, size, &err) == ST_OK) {
            buf e;
            buf_init(&e, 0);
            buf d;
            buf_init(&d, 0);
            if (urlenc_base64(&e, b.data ? b.data : "", b.len, &err) == ST_OK &&
                urlenc_base64_decode(&d, e.data ? e.data : "", e.len, &err) == ST_OK &&
                (d.len != b.len || (b.len && memcmp(d.data, b.data, b.len) != 0)))
                abort();
            buf_dispose(&e);
            buf_dispose(&d);
        }
        break;
    default: {
        char *argv[17];
        int argc = 0;
        argv[argc++] = "teams-attendance";
        char *save = NULL;
        for (char *t = strtok_r(s, "\n", &save); t && argc < 16; t = strtok_r(NULL, "\n", &save))
            argv[argc++] = t;
        argv[argc] = NULL;
        config cfg;
        if (config_load(&cfg, argc, argv, &err) == ST_OK && cfg.cmd == CMD_HELP)
            (void)config_usage();
        config_dispose(&cfg);
        break;
    }
    }
    buf_dispose(&b);
    free(s);
    return 0;
}

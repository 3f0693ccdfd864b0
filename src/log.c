/* JSON-lines / text logging: see log.h. */
#include "log.h"

#include "secret.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static log_format g_format = LOG_FORMAT_JSON;
static log_level g_level = LOG_INFO;
static log_hook_fn g_hook;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

void log_lock(void)
{
    pthread_mutex_lock(&g_mu);
}

void log_unlock(void)
{
    pthread_mutex_unlock(&g_mu);
}

static void *g_hook_ctx;

void log_set_hook(log_hook_fn fn, void *ctx)
{
    g_hook = fn;
    g_hook_ctx = ctx;
}

void log_setup(log_format format, log_level level)
{
    g_format = format;
    g_level = level;
}

int log_enabled(log_level level)
{
    return level >= g_level;
}

int log_level_parse(const char *s, log_level *out)
{
    static const struct {
        const char *name;
        log_level level;
    } names[] = {{"debug", LOG_DEBUG},
                 {"info", LOG_INFO},
                 {"warn", LOG_WARN},
                 {"warning", LOG_WARN},
                 {"error", LOG_ERROR}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

static void now_iso(char out[40])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

static const char *level_name(log_level level)
{
    switch (level) {
    case LOG_DEBUG:
        return "debug";
    case LOG_INFO:
        return "info";
    case LOG_WARN:
        return "warn";
    case LOG_ERROR:
        return "error";
    }
    return "info";
}

/* Strings from json_dumps belong to jansson's allocator, which a program may
 * replace (json_set_alloc_funcs): give them back through it. */
static void json_string_free(void *p)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    f(p);
}

/* A text line is one line: control characters in a message or a value (a newline
 * in an error Graph sent, say) are written escaped, so nobody can forge a line. */
static char *escaped(const char *s)
{
    size_t n = strlen(s), extra = 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            extra += 3;
    char *out = malloc(n + extra + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' || c == '\r' || c == '\t') {
            out[o++] = '\\';
            out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

void log_write(log_level level, const char *msg, json_t *fields)
{
    if (level < g_level) {
        json_decref(fields);
        return;
    }
    char ts[40];
    now_iso(ts);
    char *line = NULL;
    if (g_format == LOG_FORMAT_JSON) {
        json_t *o = json_object();
        json_object_set_new(o, "time", json_string(ts));
        json_object_set_new(o, "level", json_string(level_name(level)));
        json_object_set_new(o, "msg", json_string(msg ? msg : ""));
        if (fields && json_is_object(fields))
            json_object_update_missing(o, fields);
        char *dumped = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        json_decref(o);
        line = dumped ? strdup(dumped) : NULL;
        json_string_free(dumped);
    } else {
        size_t cap = 1024, len = 0;
        line = malloc(cap);
        if (line) {
            char *m = escaped(msg ? msg : "");
            len = (size_t)snprintf(line, cap, "%s %-5s %s", ts, level_name(level), m ? m : "");
            free(m);
            if (len >= cap)
                len = cap - 1;
            const char *key;
            json_t *v;
            if (fields && json_is_object(fields)) {
                json_object_foreach(fields, key, v)
                {
                    char *val = NULL;
                    if (json_is_string(v)) {
                        val = escaped(json_string_value(v));
                    } else {
                        char *d =
                            json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
                        val = d ? strdup(d) : NULL;
                        json_string_free(d);
                    }
                    if (!val)
                        continue;
                    size_t need = len + strlen(key) + strlen(val) + 8;
                    if (need > cap) {
                        char *p = realloc(line, need * 2);
                        if (!p) {
                            free(val);
                            break;
                        }
                        line = p;
                        cap = need * 2;
                    }
                    int quote = strchr(val, ' ') != NULL;
                    len += (size_t)snprintf(line + len, cap - len, quote ? " %s=\"%s\"" : " %s=%s",
                                            key, val);
                    free(val);
                }
            }
        }
    }
    json_decref(fields);
    if (!line)
        return;
    secret_scrub(line, strlen(line) + 1);
    log_lock();
    if (g_hook)
        g_hook(g_hook_ctx, 1);
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
    if (g_hook)
        g_hook(g_hook_ctx, 0);
    log_unlock();
    free(line);
}

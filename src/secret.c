/* Secrets: see secret.h.
 *
 * Matching works on a decoded view of the text: each "character" of the view is a
 * byte of the text, or what a %XX, %25XX (encoded twice), \uXXXX or \/ stands for,
 * with a map back to the bytes it came from; the view is decoded once more for what
 * was encoded twice whole (%25%36%31 is %61 is 'a'), and the text is also matched as
 * it is. A secret matches when it appears whole
 * in a view, or, for one of 16 or more bytes, when a run of the view covers
 * 16-byte pieces of it: every 16-byte piece of a long secret is kept in a hash set,
 * and each 16-byte window of the view is looked up there. Marked bytes of the text
 * are then replaced, one "[REDACTED]" per run. */
#include "secret.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#define MIN_SECRET 4
#define GRAM 16
#define MARK "[REDACTED]"

typedef struct gram {
    uint64_t hash; /* 0: empty slot */
    uint32_t secret;
} gram;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char **g_secrets;
static size_t g_n, g_cap;
static gram *g_grams; /* open addressing, size g_ngrams_cap (a power of two) */
static size_t g_ngrams, g_ngrams_cap;

void secret_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

void secret_free(char *s)
{
    if (!s)
        return;
    secret_wipe(s, strlen(s));
    free(s);
}

void secret_protect_process(void)
{
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static uint64_t hash_gram(const unsigned char *p)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (int i = 0; i < GRAM; i++) {
        h ^= p[i];
        h *= 1099511628211u;
    }
    return h ? h : 1;
}

static int grams_put(uint64_t h, uint32_t secret)
{
    if ((g_ngrams + 1) * 2 > g_ngrams_cap) {
        size_t ncap = g_ngrams_cap ? g_ngrams_cap * 2 : 1024;
        gram *n = calloc(ncap, sizeof *n);
        if (!n)
            return -1;
        for (size_t i = 0; i < g_ngrams_cap; i++) {
            if (!g_grams[i].hash)
                continue;
            size_t k = g_grams[i].hash & (ncap - 1);
            while (n[k].hash)
                k = (k + 1) & (ncap - 1);
            n[k] = g_grams[i];
        }
        free(g_grams);
        g_grams = n;
        g_ngrams_cap = ncap;
    }
    size_t k = h & (g_ngrams_cap - 1);
    while (g_grams[k].hash) {
        if (g_grams[k].hash == h && g_grams[k].secret == secret)
            return 0;
        k = (k + 1) & (g_ngrams_cap - 1);
    }
    g_grams[k].hash = h;
    g_grams[k].secret = secret;
    g_ngrams++;
    return 0;
}

/* 1 when the 16 bytes at p are a piece of a registered secret. */
static int grams_has(const unsigned char *p)
{
    if (!g_ngrams_cap)
        return 0;
    uint64_t h = hash_gram(p);
    for (size_t k = h & (g_ngrams_cap - 1); g_grams[k].hash; k = (k + 1) & (g_ngrams_cap - 1)) {
        if (g_grams[k].hash != h)
            continue;
        const char *s = g_secrets[g_grams[k].secret];
        size_t n = strlen(s);
        for (size_t i = 0; i + GRAM <= n; i++)
            if (memcmp(s + i, p, GRAM) == 0)
                return 1;
    }
    return 0;
}

/* Where a JWT's pieces start: past its header (every token has the same one). */
static size_t pieces_from(const char *s)
{
    const char *dot = strchr(s, '.');
    if (strncmp(s, "eyJ", 3) == 0 && dot && strchr(dot + 1, '.'))
        return (size_t)(dot + 1 - s);
    return 0;
}

static void add_one(const char *s, size_t n)
{
    if (n < MIN_SECRET)
        return;
    for (size_t i = 0; i < g_n; i++)
        if (strlen(g_secrets[i]) == n && memcmp(g_secrets[i], s, n) == 0)
            return;
    if (g_n == g_cap) {
        size_t ncap = g_cap ? g_cap * 2 : 16;
        char **p = realloc(g_secrets, ncap * sizeof *p);
        if (!p)
            return;
        g_secrets = p;
        g_cap = ncap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return;
    memcpy(copy, s, n);
    copy[n] = '\0';
    g_secrets[g_n] = copy;
    for (size_t i = pieces_from(copy); n >= GRAM && i + GRAM <= n; i++)
        if (grams_put(hash_gram((const unsigned char *)copy + i), (uint32_t)g_n) != 0)
            break;
    g_n++;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes one character of text at s (n bytes left): its value in *c, the bytes it
 * took as the return value. %25XX and %XX, \uXXXX below 0x100, \/ \\ \" are read;
 * anything else is itself. */
static size_t decode_one(const unsigned char *s, size_t n, unsigned char *c)
{
    if (s[0] == '%' && n >= 5 && s[1] == '2' && s[2] == '5' && hexval(s[3]) >= 0 &&
        hexval(s[4]) >= 0) {
        *c = (unsigned char)(hexval(s[3]) * 16 + hexval(s[4]));
        return 5;
    }
    if (s[0] == '%' && n >= 3 && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
        *c = (unsigned char)(hexval(s[1]) * 16 + hexval(s[2]));
        return 3;
    }
    if (s[0] == '\\' && n >= 6 && s[1] == 'u' && s[2] == '0' && s[3] == '0' && hexval(s[4]) >= 0 &&
        hexval(s[5]) >= 0) {
        *c = (unsigned char)(hexval(s[4]) * 16 + hexval(s[5]));
        return 6;
    }
    if (s[0] == '\\' && n >= 2 && (s[1] == '/' || s[1] == '\\' || s[1] == '"')) {
        *c = s[1];
        return 2;
    }
    /* '+' is a space in form encoding; a literal '+' is matched in the text as it is */
    *c = s[0] == '+' ? ' ' : s[0];
    return 1;
}

void secret_add(const char *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&g_lock);
    size_t n = strlen(s);
    add_one(s, n);
    /* its decoded form too: a SAS signature is stored %-encoded, and the text is
     * matched decoded */
    unsigned char *d = malloc(n + 1);
    if (d) {
        size_t k = 0;
        for (size_t i = 0; i < n;) {
            unsigned char c;
            size_t used = decode_one((const unsigned char *)s + i, n - i, &c);
            d[k++] = c;
            i += used;
        }
        if (k != n || memchr(s, '+', n))
            add_one((const char *)d, k);
        secret_wipe(d, n);
        free(d);
    }
    pthread_mutex_unlock(&g_lock);
}

void secret_add_sas(const char *sas)
{
    if (!sas)
        return;
    for (const char *p = sas; (p = strstr(p, "sig=")) != NULL; p += 4) {
        if (p != sas && p[-1] != '&' && p[-1] != '?')
            continue;
        size_t n = strcspn(p + 4, "&#");
        char *v = malloc(n + 1);
        if (!v)
            return;
        memcpy(v, p + 4, n);
        v[n] = '\0';
        secret_add(v);
        secret_free(v);
    }
}

void secret_forget(void)
{
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_n; i++)
        secret_free(g_secrets[i]);
    free(g_secrets);
    g_secrets = NULL;
    g_n = g_cap = 0;
    if (g_grams)
        secret_wipe(g_grams, g_ngrams_cap * sizeof *g_grams);
    free(g_grams);
    g_grams = NULL;
    g_ngrams = g_ngrams_cap = 0;
    pthread_mutex_unlock(&g_lock);
}

/* 1 when the 16 bytes at p are a piece of also (past a JWT's header). */
static int also_has(const unsigned char *p, const char *also, size_t n)
{
    for (size_t j = pieces_from(also); j + GRAM <= n; j++)
        if (memcmp(p, also + j, GRAM) == 0)
            return 1;
    return 0;
}

/* Marks (in hit, over the text's bytes) every match in the decoded view v of length
 * k, whose character i came from text bytes [from[i], from[i + 1]); also (NULL: none)
 * is one more secret, known to the caller only. */
static void mark_matches(const unsigned char *v, size_t k, const size_t *from, unsigned char *hit,
                         const char *also)
{
    for (size_t s = 0; s < g_n; s++) {
        const char *sec = g_secrets[s];
        size_t n = strlen(sec);
        if (n > k)
            continue;
        for (size_t i = 0; i + n <= k; i++)
            if (v[i] == (unsigned char)sec[0] && memcmp(v + i, sec, n) == 0)
                memset(hit + from[i], 1, from[i + n] - from[i]);
    }
    for (size_t i = 0; i + GRAM <= k; i++)
        if (grams_has(v + i))
            memset(hit + from[i], 1, from[i + GRAM] - from[i]);
    size_t an = also ? strlen(also) : 0;
    if (an < MIN_SECRET)
        return;
    for (size_t i = 0; i + an <= k; i++)
        if (memcmp(v + i, also, an) == 0)
            memset(hit + from[i], 1, from[i + an] - from[i]);
    for (size_t i = 0; an >= GRAM && i + GRAM <= k; i++)
        if (also_has(v + i, also, an))
            memset(hit + from[i], 1, from[i + GRAM] - from[i]);
}

/* Decodes the n characters at src into dst (decode_one each); at[i] is where
 * character i of dst starts in src, at[k] = n. Returns k. */
static size_t decode_view(const unsigned char *src, size_t n, unsigned char *dst, size_t *at)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        at[k] = i;
        i += decode_one(src + i, n - i, &dst[k]);
        k++;
    }
    at[k] = n;
    return k;
}

static void scrub(char *s, size_t cap, const char *also)
{
    if (!s || cap == 0)
        return;
    pthread_mutex_lock(&g_lock);
    size_t len = strnlen(s, cap - 1);
    if ((g_n == 0 && !also) || len == 0) {
        pthread_mutex_unlock(&g_lock);
        return;
    }
    unsigned char *v = malloc(len + 1), *v2 = malloc(len + 1);
    size_t *from = malloc((len + 1) * sizeof *from), *at2 = malloc((len + 1) * sizeof *at2);
    unsigned char *hit = calloc(len + 1, 1);
    char *out = NULL;
    if (!v || !v2 || !from || !at2 || !hit)
        goto done;
    /* the text decoded once... */
    size_t k = decode_view((const unsigned char *)s, len, v, from);
    mark_matches(v, k, from, hit, also);
    /* ...and twice: every byte %XX-encoded twice is %25%3X%3X, which one pass reads
     * as %XX; an escape inside an escape likewise */
    size_t k2 = decode_view(v, k, v2, at2);
    for (size_t i = 0; i <= k2; i++)
        at2[i] = from[at2[i]];
    mark_matches(v2, k2, at2, hit, also);
    /* the view as it is too: a secret that itself holds %XX or \u sequences */
    for (size_t i = 0; i <= len; i++)
        from[i] = i;
    mark_matches((const unsigned char *)s, len, from, hit, also);

    size_t runs = 0;
    for (size_t i = 0; i < len; i++)
        if (hit[i] && (i == 0 || !hit[i - 1]))
            runs++;
    if (runs == 0)
        goto done;
    out = malloc(len + runs * sizeof MARK + 1);
    if (!out)
        goto done;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (!hit[i]) {
            out[o++] = s[i];
        } else if (i == 0 || !hit[i - 1]) {
            memcpy(out + o, MARK, sizeof MARK - 1);
            o += sizeof MARK - 1;
        }
    }
    if (o > cap - 1)
        o = cap - 1;
    memcpy(s, out, o);
    s[o] = '\0';
    secret_wipe(out, o);
done:
    if (v)
        secret_wipe(v, len);
    if (v2)
        secret_wipe(v2, len);
    free(v);
    free(v2);
    free(from);
    free(at2);
    free(hit);
    free(out);
    pthread_mutex_unlock(&g_lock);
}

void secret_scrub(char *s, size_t cap)
{
    scrub(s, cap, NULL);
}

void secret_scrub_also(char *s, size_t cap, const char *also)
{
    scrub(s, cap, also);
}

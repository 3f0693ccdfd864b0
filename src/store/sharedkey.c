/* Shared Key string-to-sign and signature: see sharedkey.h. The rules follow
 * Microsoft's "Authorize with Shared Key" page; the unit tests hold examples that
 * Azurite accepted. */
#include "store/sharedkey.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct kv {
    char *name;
    char *value;
} kv;

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

status sharedkey_key_decode(const char *b64, unsigned char *key, size_t *keylen, errinfo *err)
{
    size_t n = strlen(b64);
    *keylen = 0;
    if (n == 0 || n % 4 != 0)
        return err_set(err, ST_CONFIG, "the account key is not valid base64 (length %zu)", n);
    size_t pad = 0;
    if (b64[n - 1] == '=')
        pad++;
    if (b64[n - 2] == '=')
        pad++;
    size_t outlen = n / 4 * 3 - pad;
    if (outlen > SHAREDKEY_KEY_MAX)
        return err_set(err, ST_CONFIG, "the account key is longer than %d bytes",
                       SHAREDKEY_KEY_MAX);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)b64[i + j];
            if (c == '=' && i + 4 == n && j >= 2 && (j == 3 || b64[i + 3] == '='))
                v[j] = 0;
            else if ((v[j] = b64_value(c)) < 0)
                return err_set(err, ST_CONFIG, "the account key is not valid base64");
        }
        unsigned triple =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        unsigned char bytes[3] = {(unsigned char)(triple >> 16), (unsigned char)(triple >> 8),
                                  (unsigned char)triple};
        for (int j = 0; j < 3 && o < outlen; j++)
            key[o++] = bytes[j];
    }
    *keylen = outlen;
    return ST_OK;
}

/* Splits a curl header line into name and value. Returns 0 for a line that
 * removes a header ("Name:" with nothing after the colon). */
static int split_line(const char *line, const char **name, size_t *nlen, const char **value,
                      size_t *vlen)
{
    const char *p = line + strcspn(line, ":;");
    if (*p == '\0')
        return 0;
    *name = line;
    *nlen = (size_t)(p - line);
    while (*nlen && isspace((unsigned char)line[*nlen - 1]))
        (*nlen)--;
    if (*p == ';') {
        /* "Name;" sends the header with an empty value */
        const char *q = p + 1;
        while (isspace((unsigned char)*q))
            q++;
        if (*q != '\0')
            return 0;
        *value = q;
        *vlen = 0;
        return 1;
    }
    const char *v = p + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (n == 0)
        return 0;
    *value = v;
    *vlen = n;
    return 1;
}

/* The value of a standard header, or "" when the request does not send it. */
static void header_value(const struct curl_slist *headers, const struct curl_slist *extra,
                         const char *want, const char **value, size_t *vlen)
{
    const struct curl_slist *lists[2] = {headers, extra};
    *value = "";
    *vlen = 0;
    size_t wlen = strlen(want);
    for (int i = 0; i < 2; i++) {
        for (const struct curl_slist *l = lists[i]; l; l = l->next) {
            const char *n, *v;
            size_t nl, vl;
            if (split_line(l->data, &n, &nl, &v, &vl) && nl == wlen &&
                strncasecmp(n, want, wlen) == 0) {
                *value = v;
                *vlen = vl;
            }
        }
    }
}

static int cmp_kv(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static void free_kvs(kv *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
}

static char *lower_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        d[i] = (char)tolower((unsigned char)s[i]);
    d[n] = '\0';
    return d;
}

/* Trims and folds runs of linear white space into one space. */
static char *fold_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = 1;
            continue;
        }
        if (space && o)
            d[o++] = ' ';
        space = 0;
        d[o++] = c;
    }
    d[o] = '\0';
    return d;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes (and '+' as space, as the services do for query values). */
static char *decode_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            d[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        } else if (s[i] == '+') {
            d[o++] = ' ';
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    return d;
}

static status nomem(errinfo *err)
{
    return err_set(err, ST_NOMEM, "out of memory signing a storage request");
}

static status add_canonical_headers(const struct curl_slist *headers,
                                    const struct curl_slist *extra, buf *out, errinfo *err)
{
    size_t count = 0;
    for (const struct curl_slist *l = headers; l; l = l->next)
        count++;
    for (const struct curl_slist *l = extra; l; l = l->next)
        count++;
    if (count == 0)
        return ST_OK;
    kv *v = calloc(count, sizeof *v);
    if (!v)
        return nomem(err);
    size_t n = 0;
    status st = ST_OK;
    const struct curl_slist *lists[2] = {headers, extra};
    for (int i = 0; i < 2; i++) {
        for (const struct curl_slist *l = lists[i]; l; l = l->next) {
            const char *name, *value;
            size_t nl, vl;
            if (!split_line(l->data, &name, &nl, &value, &vl) || nl < 5 ||
                strncasecmp(name, "x-ms-", 5) != 0)
                continue;
            v[n].name = lower_dup(name, nl);
            v[n].value = fold_dup(value, vl);
            n++;
            if (!v[n - 1].name || !v[n - 1].value) {
                st = nomem(err);
                goto out;
            }
        }
    }
    /* stable order by name; a name sent twice is signed once with its values joined */
    qsort(v, n, sizeof *v, cmp_kv);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(v[i].name, v[i - 1].name) == 0) {
            if ((st = buf_appendf(out, err, ",%s", v[i].value)) != ST_OK)
                goto out;
            continue;
        }
        if (i > 0 && (st = buf_appends(out, "\n", err)) != ST_OK)
            goto out;
        if ((st = buf_appendf(out, err, "%s:%s", v[i].name, v[i].value)) != ST_OK)
            goto out;
    }
    if (n > 0)
        st = buf_appends(out, "\n", err);
out:
    free_kvs(v, count);
    return st;
}

static status add_canonical_resource(const char *url, const char *account, buf *out, errinfo *err)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    p += strcspn(p, "/?#");
    size_t plen = strcspn(p, "?#");
    status st = buf_appendf(out, err, "/%s", account);
    if (st == ST_OK)
        st = plen ? buf_append(out, p, plen, err) : buf_appends(out, "/", err);
    if (st != ST_OK || p[plen] != '?')
        return st;

    const char *q = p + plen + 1;
    size_t qlen = strcspn(q, "#");
    size_t count = 1;
    for (size_t i = 0; i < qlen; i++)
        count += q[i] == '&';
    kv *v = calloc(count, sizeof *v);
    if (!v)
        return nomem(err);
    size_t n = 0;
    const char *s = q, *end = q + qlen;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp ? amp : end;
        if (e > s) {
            const char *eq = memchr(s, '=', (size_t)(e - s));
            const char *ne = eq ? eq : e;
            char *name = decode_dup(s, (size_t)(ne - s));
            char *lname = name ? lower_dup(name, strlen(name)) : NULL;
            free(name);
            v[n].name = lname;
            v[n].value = eq ? decode_dup(eq + 1, (size_t)(e - eq - 1)) : decode_dup("", 0);
            n++;
            if (!v[n - 1].name || !v[n - 1].value) {
                st = nomem(err);
                goto out;
            }
        }
        s = e + 1;
    }
    qsort(v, n, sizeof *v, cmp_kv);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(v[i].name, v[i - 1].name) == 0)
            st = buf_appendf(out, err, ",%s", v[i].value);
        else
            st = buf_appendf(out, err, "\n%s:%s", v[i].name, v[i].value);
        if (st != ST_OK)
            goto out;
    }
out:
    free_kvs(v, count);
    return st;
}

status sharedkey_string_to_sign(const char *method, const char *url,
                                const struct curl_slist *headers, const struct curl_slist *extra,
                                size_t content_length, const char *account, buf *out, errinfo *err)
{
    static const char *const fields[] = {"Content-Encoding",
                                         "Content-Language",
                                         NULL,
                                         "Content-MD5",
                                         "Content-Type",
                                         "Date",
                                         "If-Modified-Since",
                                         "If-Match",
                                         "If-None-Match",
                                         "If-Unmodified-Since",
                                         "Range"};
    const char *xdate;
    size_t xdlen;
    header_value(headers, extra, "x-ms-date", &xdate, &xdlen);

    status st = buf_appendf(out, err, "%s\n", method);
    for (size_t i = 0; st == ST_OK && i < sizeof fields / sizeof fields[0]; i++) {
        if (!fields[i]) {
            /* since version 2015-02-21 a zero length is signed as the empty string */
            st = content_length ? buf_appendf(out, err, "%zu\n", content_length)
                                : buf_appends(out, "\n", err);
            continue;
        }
        const char *v;
        size_t vl;
        header_value(headers, extra, fields[i], &v, &vl);
        if (strcmp(fields[i], "Date") == 0 && xdlen)
            vl = 0; /* x-ms-date wins over Date */
        st = buf_append(out, v, vl, err);
        if (st == ST_OK)
            st = buf_appends(out, "\n", err);
    }
    if (st == ST_OK)
        st = add_canonical_headers(headers, extra, out, err);
    if (st == ST_OK)
        st = add_canonical_resource(url, account, out, err);
    return st;
}

status sharedkey_sign(const unsigned char *key, size_t keylen, const char *sts, size_t stslen,
                      char sig[SHAREDKEY_SIG_MAX], errinfo *err)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    sig[0] = '\0';
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)sts, stslen, mac, &maclen) ||
        maclen != 32)
        return err_set(err, ST_INTERNAL, "HMAC-SHA256 failed while signing a storage request");
    EVP_EncodeBlock((unsigned char *)sig, mac, (int)maclen);
    return ST_OK;
}

void sharedkey_date(time_t t, char out[SHAREDKEY_DATE_MAX])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, SHAREDKEY_DATE_MAX, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

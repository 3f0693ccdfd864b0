/* Teams join links outside onlineMeeting: see joinurl.h. */
#include "util/joinurl.h"

#include <string.h>
#include <strings.h>

#include "util/urlenc.h"

const char *const joinurl_fields[] = {
    "onlineMeetingUrl",        "location.locationUri",    "location.displayName",
    "locations[].locationUri", "locations[].displayName", "body.content",
};
const size_t joinurl_nfields = sizeof joinurl_fields / sizeof joinurl_fields[0];

/* The Teams hosts of the public cloud (old and new name) and the government clouds. */
static const char *const hosts[] = {"teams.microsoft.com", "teams.cloud.microsoft",
                                    "gov.teams.microsoft.us", "dod.teams.microsoft.us"};

static int prefix_ci(const char *s, size_t n, const char *p)
{
    size_t k = strlen(p);
    return n >= k && strncasecmp(s, p, k) == 0;
}

/* The host of an https URL: its start and length, or 0 when not https. */
static int https_host(const char *url, size_t n, const char **host, size_t *hn)
{
    if (!prefix_ci(url, n, "https://"))
        return 0;
    *host = url + 8;
    size_t k = 0;
    while (8 + k < n && (*host)[k] != '/' && (*host)[k] != '?' && (*host)[k] != '#')
        k++;
    *hn = k;
    return k > 0;
}

int joinurl_is_teams(const char *url, size_t n)
{
    const char *host;
    size_t hn;
    if (!https_host(url, n, &host, &hn))
        return 0;
    int known = 0;
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        if (strlen(hosts[i]) == hn && strncasecmp(host, hosts[i], hn) == 0)
            known = 1;
    if (!known)
        return 0;
    const char *path = host + hn;
    size_t pn = n - (size_t)(path - url);
    const char *forms[] = {"/l/meetup-join/", "/meet/"};
    for (int f = 0; f < 2; f++) {
        size_t k = strlen(forms[f]);
        /* something must follow: the thread id, or the meeting id */
        if (pn > k && strncasecmp(path, forms[f], k) == 0 && path[k] != '?' && path[k] != '#')
            return 1;
    }
    return 0;
}

static int safelinks_host(const char *url, size_t n)
{
    const char *host;
    size_t hn;
    if (!https_host(url, n, &host, &hn))
        return 0;
    static const char suffix[] = ".safelinks.protection.outlook.com";
    size_t sn = sizeof suffix - 1;
    return hn > sn && strncasecmp(host + hn - sn, suffix, sn) == 0;
}

/* Where a URL written in text ends: at white space, a quote, an angle bracket or a
 * control character, then without trailing punctuation of the sentence around it. */
static size_t url_len(const char *s, size_t n)
{
    size_t k = 0;
    while (k < n) {
        unsigned char c = (unsigned char)s[k];
        if (c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`')
            break;
        k++;
    }
    while (k > 0 && strchr(".,;:!)]", s[k - 1]))
        k--;
    return k;
}

/* Puts url in out with every "&amp;" read as "&" (links in HTML bodies). */
static int put_unescaped(buf *out, const char *url, size_t n)
{
    buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        if (buf_append(out, url + i, 1, NULL) != ST_OK)
            return -1;
        if (prefix_ci(url + i, n - i, "&amp;"))
            i += 4;
    }
    return 0;
}

/* out holds a Safe Links URL: replaces it with the link its `url` parameter wraps. */
static int unwrap_safelinks(buf *out)
{
    const char *q = memchr(out->data, '?', out->len);
    if (!q)
        return 0;
    const char *end = out->data + out->len;
    for (const char *p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop - p > 4 && strncasecmp(p, "url=", 4) == 0) {
            buf inner;
            buf_init(&inner, out->cap);
            if (urlenc_decode(&inner, p + 4, (size_t)(stop - p - 4), 0, NULL) != ST_OK) {
                buf_dispose(&inner);
                return 0;
            }
            buf_reset(out);
            int rc = buf_append(out, inner.data, inner.len, NULL) == ST_OK ? 1 : -1;
            buf_dispose(&inner);
            return rc;
        }
        p = stop + 1;
    }
    return 0;
}

int joinurl_scan(const char *text, size_t len, buf *out)
{
    if (!text)
        return 0;
    for (size_t i = 0; i + 8 <= len; i++) {
        if (!prefix_ci(text + i, len - i, "https://"))
            continue;
        size_t n = url_len(text + i, len - i);
        if (put_unescaped(out, text + i, n) != 0)
            return -1;
        if (safelinks_host(out->data, out->len) && unwrap_safelinks(out) < 0)
            return -1;
        if (out->len && joinurl_is_teams(out->data, out->len))
            return 1;
        i += n ? n - 1 : 0;
    }
    buf_reset(out);
    return 0;
}

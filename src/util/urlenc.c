/* Percent-encoding, OData literals and base64: see urlenc.h. */
#include "util/urlenc.h"

#include <stdint.h>
#include <string.h>

static const char hex[] = "0123456789ABCDEF";

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Appends s[0..n) with every byte for which keep() is false percent-encoded. */
static status encode(buf *out, const char *s, size_t n, int (*keep)(unsigned char), errinfo *err)
{
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += keep((unsigned char)s[i]) ? 1 : 3;
    status st = buf_reserve(out, need, err);
    if (st != ST_OK)
        return st;
    char *p = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (keep(c)) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    out->len += need;
    out->data[out->len] = '\0';
    return ST_OK;
}

status urlenc_query_n(buf *out, const char *s, size_t n, errinfo *err)
{
    return encode(out, s, n, unreserved, err);
}

status urlenc_query(buf *out, const char *s, errinfo *err)
{
    return encode(out, s, strlen(s), unreserved, err);
}

static int path_keep(unsigned char c)
{
    return unreserved(c) || c == '@';
}

status urlenc_path_segment(buf *out, const char *s, errinfo *err)
{
    /* "." and ".." would be dot segments that curl and servers collapse, changing the
     * path: their dots are encoded */
    if (strcmp(s, ".") == 0)
        return buf_appends(out, "%2E", err);
    if (strcmp(s, "..") == 0)
        return buf_appends(out, "%2E%2E", err);
    return encode(out, s, strlen(s), path_keep, err);
}

status urlenc_odata_string(buf *out, const char *value, errinfo *err)
{
    status st = buf_append(out, "'", 1, err);
    const char *p = value;
    while (st == ST_OK && *p) {
        const char *q = strchr(p, '\'');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        st = encode(out, p, n, unreserved, err);
        if (st == ST_OK && q) {
            st = buf_appends(out, "%27%27", err);
            n++;
        }
        p += n;
    }
    if (st == ST_OK)
        st = buf_append(out, "'", 1, err);
    return st;
}

static int upn_keep(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' ||
           c == '-';
}

status urlenc_upn_folder(buf *out, const char *upn, errinfo *err)
{
    status st = ST_OK;
    for (const char *p = upn; st == ST_OK && *p; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        st = encode(out, &c, 1, upn_keep, err);
    }
    return st;
}

status urlenc_form_field(buf *out, const char *name, const char *value, errinfo *err)
{
    status st = out->len ? buf_append(out, "&", 1, err) : ST_OK;
    if (st == ST_OK)
        st = urlenc_query(out, name, err);
    if (st == ST_OK)
        st = buf_append(out, "=", 1, err);
    if (st == ST_OK)
        st = urlenc_query(out, value, err);
    return st;
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

status urlenc_decode(buf *out, const char *s, size_t n, int plus_is_space, errinfo *err)
{
    status st = buf_reserve(out, n, err);
    if (st != ST_OK)
        return st;
    char *p = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return err_set(err, ST_DATA, "bad percent escape at offset %zu", i);
            *p++ = (char)(hi << 4 | lo);
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            *p++ = ' ';
        } else {
            *p++ = s[i];
        }
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return ST_OK;
}

static status b64(buf *out, const unsigned char *d, size_t n, const char *alphabet, int pad,
                  errinfo *err)
{
    if (n > (SIZE_MAX / 4) * 3 - 3)
        return err_set(err, ST_TOO_LARGE, "data too large to base64-encode");
    size_t need = (n + 2) / 3 * 4;
    status st = buf_reserve(out, need, err);
    if (st != ST_OK)
        return st;
    char *p = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = alphabet[v >> 6 & 63];
        *p++ = alphabet[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)d[i] << 16;
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        if (pad) {
            *p++ = '=';
            *p++ = '=';
        }
    } else if (n - i == 2) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8;
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = alphabet[v >> 6 & 63];
        if (pad)
            *p++ = '=';
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return ST_OK;
}

status urlenc_base64(buf *out, const void *data, size_t n, errinfo *err)
{
    return b64(out, data, n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 1,
               err);
}

status urlenc_base64url(buf *out, const void *data, size_t n, errinfo *err)
{
    return b64(out, data, n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 0,
               err);
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

status urlenc_base64_decode(buf *out, const char *s, size_t n, errinfo *err)
{
    size_t len = n;
    for (int k = 0; k < 2 && len > 0 && s[len - 1] == '='; k++)
        len--;
    if (len != n && n % 4 != 0)
        return err_set(err, ST_DATA, "bad base64 padding");
    if (len % 4 == 1)
        return err_set(err, ST_DATA, "bad base64 length");
    status st = buf_reserve(out, len / 4 * 3 + 2, err);
    if (st != ST_OK)
        return st;
    char *p = out->data + out->len;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return err_set(err, ST_DATA, "bad base64 character at offset %zu", i);
        acc = (acc << 6 | (unsigned)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *p++ = (char)(acc >> bits & 0xFF);
        }
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return ST_OK;
}

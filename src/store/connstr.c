/* Azure Storage connection strings ("Key=value;Key=value"), declared in store.h.
 * Keys are case-insensitive, unknown keys (QueueEndpoint, ...) are ignored, and
 * no message ever quotes a value: AccountKey and SharedAccessSignature are secrets. */
#include "store/store.h"
#include "secret.h"

#include "store/sharedkey.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define VAR "AZURE_STORAGE_CONNECTION_STRING"
#define DEV_ACCOUNT "devstoreaccount1"
#define DEV_KEY                                                                                    \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define DEV_ENDPOINT "http://127.0.0.1:10000/devstoreaccount1"

enum { K_NAME, K_KEY, K_PROTO, K_SUFFIX, K_ENDPOINT, K_SAS, K_DEV, K_COUNT };

static const char *const key_names[K_COUNT] = {
    "AccountName",          "AccountKey",   "DefaultEndpointsProtocol",
    "EndpointSuffix",       "BlobEndpoint", "SharedAccessSignature",
    "UseDevelopmentStorage"};

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

void store_connstr_dispose(store_connstr *c)
{
    if (!c)
        return;
    free(c->account_name);
    secret_free(c->account_key);
    secret_free(c->sas);
    free(c->blob_endpoint);
    memset(c, 0, sizeof *c);
}

/* Checks an endpoint "scheme://host[:port][/path]" and drops trailing slashes. */
static status check_endpoint(char *ep, errinfo *err)
{
    size_t n = strlen(ep);
    while (n && ep[n - 1] == '/')
        ep[--n] = '\0';
    char *host = NULL;
    if (strncasecmp(ep, "https://", 8) == 0)
        host = ep + 8;
    else if (strncasecmp(ep, "http://", 7) == 0)
        host = ep + 7;
    if (!host)
        return err_set(err, ST_CONFIG,
                       VAR " has a BlobEndpoint that does not start with "
                           "https:// (or http:// for a local emulator)");
    for (char *c = ep; c < host; c++)
        *c = (char)tolower((unsigned char)*c); /* "HTTPS://" works, but we compare the scheme */
    if (*host == '\0' || *host == '/')
        return err_set(err, ST_CONFIG, VAR " has a BlobEndpoint without a host");
    if (strpbrk(ep, "?# ") || has_ctl(ep))
        return err_set(err, ST_CONFIG,
                       VAR " has a BlobEndpoint with a query, fragment or space: give only "
                           "scheme://host[:port][/path]");
    return ST_OK;
}

status store_connstr_parse(const char *s, store_connstr *out, errinfo *err)
{
    memset(out, 0, sizeof *out);
    char *val[K_COUNT] = {0};
    status st = ST_OK;
    if (!s || !*s)
        return err_set(err, ST_CONFIG, VAR " is empty");

    size_t part = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ";");
        const char *item = p;
        p += len;
        if (*p == ';')
            p++;
        trim(&item, &len);
        part++;
        if (len == 0)
            continue;
        const char *eq = memchr(item, '=', len);
        if (!eq) {
            st = err_set(err, ST_CONFIG,
                         VAR " part %zu is not Key=value (parts are separated by ';')", part);
            goto out;
        }
        const char *k = item, *v = eq + 1;
        size_t klen = (size_t)(eq - item), vlen = len - klen - 1;
        trim(&k, &klen);
        trim(&v, &vlen);
        int which = -1;
        for (int i = 0; i < K_COUNT; i++)
            if (strlen(key_names[i]) == klen && strncasecmp(k, key_names[i], klen) == 0)
                which = i;
        if (which < 0)
            continue; /* other services' endpoints and settings we do not use */
        if (val[which]) {
            st = err_set(err, ST_CONFIG, VAR " sets %s twice", key_names[which]);
            goto out;
        }
        if (vlen == 0) {
            st = err_set(err, ST_CONFIG, VAR " has an empty %s", key_names[which]);
            goto out;
        }
        if (!(val[which] = dup_range(v, vlen))) {
            st = err_set(err, ST_NOMEM, "out of memory reading " VAR);
            goto out;
        }
    }

    int dev = 0;
    if (val[K_DEV]) {
        if (strcasecmp(val[K_DEV], "true") == 0) {
            dev = 1;
        } else if (strcasecmp(val[K_DEV], "false") != 0) {
            st =
                err_set(err, ST_CONFIG, VAR " has UseDevelopmentStorage that is not true or false");
            goto out;
        }
    }
    int https = 1;
    if (val[K_PROTO]) {
        if (strcasecmp(val[K_PROTO], "http") == 0) {
            https = 0;
        } else if (strcasecmp(val[K_PROTO], "https") != 0) {
            st = err_set(err, ST_CONFIG,
                         VAR " has DefaultEndpointsProtocol that is neither https nor http");
            goto out;
        }
    }
    if (val[K_NAME]) {
        for (const char *c = val[K_NAME]; *c; c++) {
            if (!isalnum((unsigned char)*c)) {
                st = err_set(err, ST_CONFIG,
                             VAR ": AccountName may only hold letters and digits (the storage "
                                 "account's name, not its URL)");
                goto out;
            }
        }
    }
    if (val[K_KEY]) {
        unsigned char key[SHAREDKEY_KEY_MAX];
        size_t keylen;
        errinfo kerr = {0};
        status kst = sharedkey_key_decode(val[K_KEY], key, &keylen, &kerr);
        secret_wipe(key, sizeof key);
        if (kst != ST_OK) {
            st = err_set(err, kst, VAR " has an AccountKey that is not valid base64");
            goto out;
        }
    }
    if (val[K_SAS]) {
        /* kept exactly as issued (already URL-encoded), without a leading '?' */
        char *q = val[K_SAS];
        if (*q == '?')
            memmove(q, q + 1, strlen(q));
        if (!*q || strpbrk(q, " #") || has_ctl(q)) {
            st = err_set(err, ST_CONFIG,
                         VAR " has a SharedAccessSignature that is not a query string");
            goto out;
        }
    }

    /* the emulator's well-known account, unless the string names others */
    if (dev) {
        const char *defaults[K_COUNT] = {[K_NAME] = DEV_ACCOUNT, [K_ENDPOINT] = DEV_ENDPOINT};
        if (!val[K_SAS] && !val[K_KEY])
            defaults[K_KEY] = DEV_KEY;
        for (int i = 0; i < K_COUNT; i++) {
            if (defaults[i] && !val[i] && !(val[i] = strdup(defaults[i]))) {
                st = err_set(err, ST_NOMEM, "out of memory reading " VAR);
                goto out;
            }
        }
    }

    if (val[K_KEY] && !val[K_NAME]) {
        st = err_set(err, ST_CONFIG, VAR " has AccountKey but no AccountName");
        goto out;
    }
    if (!val[K_KEY] && !val[K_SAS]) {
        if (val[K_NAME])
            st = err_set(err, ST_CONFIG,
                         VAR " has AccountName but no AccountKey or SharedAccessSignature");
        else
            st = err_set(err, ST_CONFIG,
                         VAR " has no credentials: give AccountName and AccountKey, "
                             "BlobEndpoint and SharedAccessSignature, or "
                             "UseDevelopmentStorage=true");
        goto out;
    }
    if (!val[K_ENDPOINT]) {
        if (!val[K_NAME]) {
            st = err_set(err, ST_CONFIG,
                         VAR " has a SharedAccessSignature but neither BlobEndpoint nor "
                             "AccountName, so the account is unknown");
            goto out;
        }
        const char *suffix = val[K_SUFFIX] ? val[K_SUFFIX] : "core.windows.net";
        while (*suffix == '.')
            suffix++;
        size_t n = strlen(val[K_NAME]) + strlen(suffix) + 32;
        if (!(val[K_ENDPOINT] = malloc(n))) {
            st = err_set(err, ST_NOMEM, "out of memory reading " VAR);
            goto out;
        }
        snprintf(val[K_ENDPOINT], n, "%s://%s.blob.%s", https ? "https" : "http", val[K_NAME],
                 suffix);
    }
    if ((st = check_endpoint(val[K_ENDPOINT], err)) != ST_OK)
        goto out;

    out->account_name = val[K_NAME];
    out->account_key = val[K_KEY];
    out->sas = val[K_SAS];
    out->blob_endpoint = val[K_ENDPOINT];
    val[K_NAME] = val[K_KEY] = val[K_SAS] = val[K_ENDPOINT] = NULL;
out:
    for (int i = 0; i < K_COUNT; i++)
        secret_free(val[i]);
    return st;
}

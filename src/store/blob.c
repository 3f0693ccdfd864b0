/* Blob Storage over Blob REST: see blob.h.
 *
 * Every request carries x-ms-version; Shared Key and bearer requests get their
 * Authorization per attempt from auth_hook (a fresh x-ms-date each time, or the
 * current token), a SAS rides in the URL's query from the start. Uploads carry
 * Content-MD5 and an explicit Content-Type (or "Content-Type:" so that libcurl
 * adds none), and the engine always sends Content-Length. Messages name the
 * operation and the blob, and the URL only without its query (a SAS lives there). */
#include "store/blob.h"
#include "secret.h"
#include "store/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/token.h"
#include "log.h"
#include "store/sharedkey.h"
#include "util/urlenc.h"

#define DEFAULT_CONTENT_TYPE "application/octet-stream"

typedef enum auth_kind { AUTH_SHARED_KEY, AUTH_SAS, AUTH_BEARER } auth_kind;

struct blob_client {
    const config *cfg;
    http_engine *eng;
    auth_kind auth;
    char *endpoint;
    char *account; /* Shared Key only */
    unsigned char key[SHAREDKEY_KEY_MAX];
    size_t keylen;
    char *sas;
    token_source *ts;
    const char *container;
    char *describe;
    size_t single_max, block_size;
};

/* ---- pure parts ----------------------------------------------------------- */

status blob_build_url(buf *out, const char *endpoint, const char *container, const char *name,
                      const char *query, const char *sas, errinfo *err)
{
    status st = buf_appendf(out, err, "%s/", endpoint);
    if (st == ST_OK)
        st = urlenc_query(out, container, err);
    if (st == ST_OK && name) {
        /* each segment on its own, so '/' stays a separator */
        const char *p = name;
        for (;;) {
            size_t n = strcspn(p, "/");
            if ((st = buf_appends(out, "/", err)) != ST_OK ||
                (st = urlenc_query_n(out, p, n, err)) != ST_OK)
                break;
            if (!p[n])
                break;
            p += n + 1;
        }
    }
    int has_query = query && *query;
    if (st == ST_OK && has_query)
        st = buf_appendf(out, err, "?%s", query);
    if (st == ST_OK && sas && *sas)
        st = buf_appendf(out, err, "%c%s", has_query ? '&' : '?', sas);
    return st;
}

void blob_block_id(unsigned index, char out[BLOB_BLOCK_ID_MAX])
{
    /* 15 bytes encode to 20 base64 characters without padding, for every index */
    char raw[16];
    snprintf(raw, sizeof raw, "block-%09u", index % 1000000000u);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, 15);
}

status blob_block_list_xml(buf *out, unsigned nblocks, errinfo *err)
{
    status st = buf_appends(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BlockList>", err);
    for (unsigned i = 0; st == ST_OK && i < nblocks; i++) {
        char id[BLOB_BLOCK_ID_MAX];
        blob_block_id(i, id);
        st = buf_appendf(out, err, "<Latest>%s</Latest>", id);
    }
    if (st == ST_OK)
        st = buf_appends(out, "</BlockList>", err);
    return st;
}

static void md5_b64(const unsigned char md[16], char out[32])
{
    EVP_EncodeBlock((unsigned char *)out, md, 16);
}

void blob_content_md5(const void *data, size_t len, char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data ? data : "", len, md, &mdlen, EVP_md5(), NULL);
    md5_b64(md, out);
}

/* ---- authorization ---------------------------------------------------------- */

static status append_line(struct curl_slist **headers, const char *line, errinfo *err)
{
    struct curl_slist *l = curl_slist_append(*headers, line);
    if (!l)
        return err_set(err, ST_NOMEM, "out of memory adding a storage request header");
    *headers = l;
    return ST_OK;
}

static status auth_hook(void *ctx, const http_request *req, int renew, struct curl_slist **headers,
                        errinfo *err)
{
    blob_client *b = ctx;
    status st;
    if (b->auth == AUTH_BEARER) {
        const char *tok = NULL;
        if (renew == HTTP_RENEW_403 && token_fetched_after(b->ts, http_request_sent_us(req)))
            renew = 0; /* refused with a token renewed since: the new one will do */
        if ((st = token_get(b->ts, renew, &tok, err)) != ST_OK) {
            err_prefix(err, "token for Blob Storage");
            return st;
        }
        size_t n = strlen(tok) + 32;
        char *line = malloc(n);
        if (!line)
            return err_set(err, ST_NOMEM, "out of memory adding a storage request header");
        snprintf(line, n, "Authorization: Bearer %s", tok);
        st = append_line(headers, line, err);
        free(line);
        return st;
    }

    char date[SHAREDKEY_DATE_MAX], dateline[SHAREDKEY_DATE_MAX + 16];
    sharedkey_date(time(NULL), date);
    snprintf(dateline, sizeof dateline, "x-ms-date: %s", date);
    struct curl_slist *extra = curl_slist_append(NULL, dateline);
    if (!extra)
        return err_set(err, ST_NOMEM, "out of memory signing a storage request");
    buf sts;
    buf_init(&sts, 0);
    char sig[SHAREDKEY_SIG_MAX];
    st = sharedkey_string_to_sign(http_request_method(req), http_request_url(req),
                                  http_request_headers(req), extra, http_request_body_len(req),
                                  b->account, &sts, err);
    if (st == ST_OK)
        st = sharedkey_sign(b->key, b->keylen, sts.data, sts.len, sig, err);
    if (st == ST_OK)
        st = append_line(headers, dateline, err);
    if (st == ST_OK) {
        char line[SHAREDKEY_SIG_MAX + 160];
        snprintf(line, sizeof line, "Authorization: SharedKey %s:%s", b->account, sig);
        st = append_line(headers, line, err);
    }
    buf_dispose(&sts);
    curl_slist_free_all(extra);
    return st;
}

/* ---- requests ------------------------------------------------------------- */

static status new_request(blob_client *b, const char *method, const char *name, const char *query,
                          http_request **out, errinfo *err)
{
    *out = NULL;
    buf url;
    buf_init(&url, 0);
    status st = blob_build_url(&url, b->endpoint, b->container, name, query,
                               b->auth == AUTH_SAS ? b->sas : NULL, err);
    if (st != ST_OK) {
        buf_dispose(&url);
        return st;
    }
    http_request *req = http_request_new(method, url.data);
    buf_dispose(&url);
    if (!req)
        return err_set(err, ST_NOMEM, "out of memory creating a storage request");
    if ((st = http_request_header(req, "x-ms-version: " BLOB_API_VERSION, err)) != ST_OK) {
        http_request_free(req);
        return st;
    }
    if (b->auth != AUTH_SAS)
        http_request_auth(req, auth_hook, b);
    *out = req;
    return ST_OK;
}

static status add_header(http_request *req, errinfo *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static status add_header(http_request *req, errinfo *err, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line)
        return err_set(err, ST_INTERNAL, "a storage request header is too long");
    return http_request_header(req, line, err);
}

/* What to do about a refused credential, by kind. */
static const char *auth_hint(const blob_client *b, long http_status)
{
    if (http_status != 401 && http_status != 403)
        return "";
    switch (b->auth) {
    case AUTH_SHARED_KEY:
        return " (the account key was refused: copy AccountKey again from the storage account's "
               "Access keys page, and check the machine's clock)";
    case AUTH_SAS:
        return " (the SAS was refused: check that it has not expired and that it allows read, "
               "write, create and list, sp=rwcl, on the container)";
    case AUTH_BEARER:
        return " (the managed identity was refused: give it the Storage Blob Data Contributor "
               "role on the storage account or the container)";
    }
    return "";
}

/* Fills err from a failed result: "<what>: <engine's message><hint>". */
static status failed(const blob_client *b, const http_result *res, errinfo *err, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static status failed(const blob_client *b, const http_result *res, errinfo *err, const char *fmt,
                     ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    status st = res->st != ST_OK ? res->st : ST_HTTP;
    if (err && err->code == ST_OK) {
        err_set(err, st, "%s: %s%s", what, res->err.msg[0] ? res->err.msg : status_name(st),
                auth_hint(b, res->http_status));
        err->http_status = (int)res->http_status;
        err->curl_code = res->err.curl_code;
    }
    return st;
}

/* ---- lifecycle ------------------------------------------------------------ */

static int http_scheme(const char *url)
{
    return strncmp(url, "http://", 7) == 0;
}

/* Plain http only for a loopback emulator: the account key signs every request and
 * a SAS or a bearer token travels in it. */
static status check_scheme(const char *setting, const char *endpoint, errinfo *err)
{
    if (strncmp(endpoint, "https://", 8) == 0 ||
        (http_scheme(endpoint) && config_is_loopback_url(endpoint)))
        return ST_OK;
    return err_set(
        err, ST_CONFIG,
        "%s: the blob endpoint %.200s must use https:// (DefaultEndpointsProtocol=https; "
        "plain http:// only for a loopback BlobEndpoint such as Azurite)",
        setting, endpoint);
}

static status check_settings(const config *cfg, errinfo *err)
{
    if (cfg->storage != STORAGE_CONNECTION_STRING)
        return ST_OK; /* the account URL and its SAS are checked as config reads them */
    store_connstr cs;
    status st = store_connstr_parse(cfg->connection_string, &cs, err);
    if (st != ST_OK)
        return st;
    if (cs.account_key)
        secret_add(cs.account_key);
    if (cs.sas)
        secret_add_sas(cs.sas);
    st = check_scheme("AZURE_STORAGE_CONNECTION_STRING", cs.blob_endpoint, err);
    store_connstr_dispose(&cs);
    return st;
}

status blob_open(blob_client **out, const config *cfg, http_engine *eng, errinfo *err)
{
    *out = NULL;
    blob_client *b = calloc(1, sizeof *b);
    if (!b)
        return err_set(err, ST_NOMEM, "out of memory opening the blob store");
    b->cfg = cfg;
    b->eng = eng;
    b->container = cfg->container && *cfg->container ? cfg->container : "teams-attendance";
    b->single_max = BLOB_SINGLE_PUT_MAX;
    b->block_size = BLOB_BLOCK_SIZE;
    status st = ST_OK;
    const char *setting;

    if (cfg->storage == STORAGE_CONNECTION_STRING) {
        setting = "AZURE_STORAGE_CONNECTION_STRING";
        store_connstr cs;
        if ((st = store_connstr_parse(cfg->connection_string, &cs, err)) != ST_OK)
            goto out;
        b->endpoint = cs.blob_endpoint;
        b->account = cs.account_name;
        b->sas = cs.sas;
        cs.blob_endpoint = cs.account_name = cs.sas = NULL;
        if (cs.account_key) {
            b->auth = AUTH_SHARED_KEY;
            secret_add(cs.account_key);
            st = sharedkey_key_decode(cs.account_key, b->key, &b->keylen, err);
        } else {
            b->auth = AUTH_SAS;
        }
        store_connstr_dispose(&cs);
        if (st != ST_OK)
            goto out;
    } else if (cfg->storage == STORAGE_ACCOUNT_URL) {
        setting = "AZURE_STORAGE_ACCOUNT_URL";
        if (!cfg->account_url || !*cfg->account_url) {
            st = err_set(err, ST_CONFIG, "AZURE_STORAGE_ACCOUNT_URL is not set");
            goto out;
        }
        size_t n = strcspn(cfg->account_url, "?#");
        while (n && cfg->account_url[n - 1] == '/')
            n--;
        if (!(b->endpoint = strndup(cfg->account_url, n))) {
            st = err_set(err, ST_NOMEM, "out of memory opening the blob store");
            goto out;
        }
        if (cfg->sas_token && *cfg->sas_token) {
            b->auth = AUTH_SAS;
            const char *sas = cfg->sas_token[0] == '?' ? cfg->sas_token + 1 : cfg->sas_token;
            if (!(b->sas = strdup(sas))) {
                st = err_set(err, ST_NOMEM, "out of memory opening the blob store");
                goto out;
            }
        } else {
            b->auth = AUTH_BEARER;
            if ((st = token_source_storage(&b->ts, cfg, err)) != ST_OK)
                goto out;
        }
    } else {
        st = err_set(err, ST_INTERNAL, "the blob store was opened without a storage account");
        goto out;
    }
    if (b->sas)
        secret_add_sas(b->sas);

    if ((st = check_scheme(setting, b->endpoint, err)) != ST_OK)
        goto out;
    size_t dn = strlen(b->endpoint) + strlen(b->container) + 2;
    if (!(b->describe = malloc(dn))) {
        st = err_set(err, ST_NOMEM, "out of memory opening the blob store");
        goto out;
    }
    snprintf(b->describe, dn, "%s/%s", b->endpoint, b->container);
out:
    if (st != ST_OK) {
        blob_free(b);
        return st;
    }
    *out = b;
    return ST_OK;
}

void blob_free(blob_client *b)
{
    if (!b)
        return;
    token_source_free(b->ts);
    free(b->endpoint);
    free(b->account);
    free(b->sas);
    free(b->describe);
    secret_wipe(b->key, sizeof b->key);
    free(b);
}

const char *blob_describe(const blob_client *b)
{
    return b->describe;
}

void blob_set_upload_sizes(blob_client *b, size_t single_max, size_t block_size)
{
    if (single_max)
        b->single_max = single_max;
    if (block_size)
        b->block_size = block_size;
}

/* ---- container ------------------------------------------------------------ */

typedef enum probe_result { PROBE_EXISTS, PROBE_MISSING, PROBE_REFUSED, PROBE_FAILED } probe_result;

/* Finds out whether the container exists without writing: Get Container
 * Properties, then (when the credential may not read the container itself, like a
 * SAS without 'l') a HEAD on a blob name, whose 404 says which of container or
 * blob is missing. */
static probe_result probe_container(blob_client *b, errinfo *err)
{
    static const char *const names[] = {NULL, "registry/checkpoint.json"};
    probe_result pr = PROBE_FAILED;
    for (size_t i = 0; i < 2; i++) {
        http_request *req;
        char name[1024];
        if (names[i])
            snprintf(name, sizeof name, "%s%s", b->cfg->prefix ? b->cfg->prefix : "", names[i]);
        if (new_request(b, names[i] ? "HEAD" : "GET", names[i] ? name : NULL,
                        names[i] ? NULL : "restype=container", &req, err) != ST_OK)
            return PROBE_FAILED;
        http_result res;
        status st = http_perform(b->eng, req, &res);
        if (st == ST_OK) {
            pr = PROBE_EXISTS;
        } else if (res.http_status == 404) {
            int blob_missing = names[i] && strcmp(res.error_code, "ContainerNotFound") != 0;
            pr = blob_missing ? PROBE_EXISTS : PROBE_MISSING;
        } else if (res.http_status == 401 || res.http_status == 403) {
            pr = PROBE_REFUSED;
            if (i + 1 == 2)
                failed(b, &res, err, "reading container %s", b->container);
        } else {
            pr = PROBE_FAILED;
            failed(b, &res, err, "reading container %s", b->container);
        }
        http_result_dispose(&res);
        if (pr != PROBE_REFUSED)
            break;
    }
    return pr;
}

static status missing_container(blob_client *b, int while_creating, errinfo *err)
{
    if (err && err->code == ST_OK)
        err->http_status = 404;
    if (while_creating)
        return err_set(err, ST_NOT_FOUND,
                       "container %s (ATTENDANCE_CONTAINER) does not exist in %s and the "
                       "credential may not create it: create the container, set "
                       "ATTENDANCE_CONTAINER to one that exists, or use a credential that may "
                       "create containers (a SAS with sp=c and srt=c, or an account key)",
                       b->container, b->endpoint);
    return err_set(err, ST_NOT_FOUND,
                   "container %s (ATTENDANCE_CONTAINER) does not exist in %s: a run creates it "
                   "when the credential may create containers; otherwise create it first",
                   b->container, b->endpoint);
}

status blob_prepare(blob_client *b, errinfo *err)
{
    http_request *req;
    status st = new_request(b, "PUT", NULL, "restype=container", &req, err);
    if (st != ST_OK)
        return st;
    /* no body: keep libcurl from adding a form Content-Type */
    if ((st = http_request_header(req, "Content-Type:", err)) != ST_OK) {
        http_request_free(req);
        return st;
    }
    http_result res;
    st = http_perform(b->eng, req, &res);
    if (st == ST_OK ||
        (res.http_status == 409 && strcmp(res.error_code, "ContainerAlreadyExists") == 0)) {
        http_result_dispose(&res);
        return ST_OK;
    }
    if (res.http_status != 403) {
        st = failed(b, &res, err, "creating container %s (ATTENDANCE_CONTAINER)", b->container);
        http_result_dispose(&res);
        return st;
    }
    http_result_dispose(&res);

    /* refused: fine when the container is already there */
    errinfo perr = {0};
    switch (probe_container(b, &perr)) {
    case PROBE_EXISTS:
        return ST_OK;
    case PROBE_MISSING:
        return missing_container(b, 1, err);
    case PROBE_REFUSED:
        if (b->auth == AUTH_SHARED_KEY) {
            if (err && err->code == ST_OK)
                *err = perr;
            return perr.code != ST_OK ? perr.code : ST_FORBIDDEN;
        }
        /* a write-only credential cannot tell; its writes will */
        log_warn("the storage credential may neither create nor read the container; going on "
                 "as if it exists",
                 json_pack("{s:s}", "container", b->container));
        return ST_OK;
    case PROBE_FAILED:
        break;
    }
    if (err && err->code == ST_OK)
        *err = perr;
    return perr.code != ST_OK ? perr.code : ST_INTERNAL;
}

status blob_check(blob_client *b, errinfo *err)
{
    errinfo perr = {0};
    switch (probe_container(b, &perr)) {
    case PROBE_EXISTS:
        return ST_OK;
    case PROBE_MISSING:
        return missing_container(b, 0, err);
    case PROBE_REFUSED:
    case PROBE_FAILED:
        break;
    }
    if (err && err->code == ST_OK)
        *err = perr;
    return perr.code != ST_OK ? perr.code : ST_INTERNAL;
}

/* ---- blobs ---------------------------------------------------------------- */

/* The error of a Get Blob that failed: ST_NOT_FOUND when the blob (not its container)
 * does not exist. */
static status get_failed(blob_client *b, http_result *res, const char *name, errinfo *err)
{
    if (res->http_status == 404 && strcmp(res->error_code, "ContainerNotFound") != 0) {
        if (err && err->code == ST_OK)
            err->http_status = 404;
        return err_set(err, ST_NOT_FOUND, "blob %s does not exist in %s", name, b->describe);
    }
    return failed(b, res, err, "reading blob %s", name);
}

status blob_get(blob_client *b, const char *name, buf *out, char etag_out[STORE_ETAG_MAX],
                errinfo *err)
{
    if (etag_out)
        etag_out[0] = '\0';
    http_request *req;
    status st = new_request(b, "GET", name, NULL, &req, err);
    if (st != ST_OK)
        return st;
    http_result res;
    st = http_perform(b->eng, req, &res);
    if (st != ST_OK) {
        st = get_failed(b, &res, name, err);
        http_result_dispose(&res);
        return st;
    }
    buf_reset(out);
    st = buf_append(out, res.body.data, res.body.len, err);
    if (st != ST_OK)
        err_prefix(err, "reading blob %s", name);
    else if (etag_out)
        snprintf(etag_out, STORE_ETAG_MAX, "%s", res.etag);
    http_result_dispose(&res);
    return st;
}

typedef struct async_get {
    blob_client *b;
    store_got_fn got;
    void *ctx;
    size_t max_bytes;
    char name[];
} async_get;

static void on_async_get(void *ctx, http_result *res)
{
    async_get *ag = ctx;
    errinfo e = {0};
    status st = res->st;
    if (st != ST_OK) {
        st = get_failed(ag->b, res, ag->name, &e);
    } else if (res->body.len > ag->max_bytes) {
        st = err_set(&e, ST_TOO_LARGE, "reading blob %s: larger than %zu bytes", ag->name,
                     ag->max_bytes);
    }
    ag->got(ag->ctx, st, &e, st == ST_OK ? &res->body : NULL, st == ST_OK ? res->etag : "");
    free(ag);
}

status blob_get_async(blob_client *b, const char *name, size_t max_bytes, store_got_fn got,
                      void *ctx, errinfo *err)
{
    size_t nlen = strlen(name);
    async_get *ag = malloc(sizeof *ag + nlen + 1);
    if (!ag)
        return err_set(err, ST_NOMEM, "out of memory reading blob %s", name);
    ag->b = b;
    ag->got = got;
    ag->ctx = ctx;
    ag->max_bytes = max_bytes;
    memcpy(ag->name, name, nlen + 1);
    http_request *req;
    status st = new_request(b, "GET", name, NULL, &req, err);
    if (st == ST_OK)
        st = http_submit(b->eng, req, on_async_get, ag, err);
    if (st != ST_OK)
        free(ag);
    return st;
}

/* Adds the headers of a Put Blob: type, content type, MD5 and the condition. */
static status put_headers(http_request *req, const void *data, size_t len, const char *content_type,
                          store_cond cond, const char *etag, errinfo *err)
{
    char md5[32];
    blob_content_md5(data, len, md5);
    status st = http_request_header(req, "x-ms-blob-type: BlockBlob", err);
    if (st == ST_OK)
        st = add_header(req, err, "Content-Type: %s",
                        content_type && *content_type ? content_type : DEFAULT_CONTENT_TYPE);
    if (st == ST_OK)
        st = add_header(req, err, "Content-MD5: %s", md5);
    if (st == ST_OK && cond == STORE_COND_IF_MATCH)
        st = add_header(req, err, "If-Match: %s", etag);
    if (st == ST_OK && cond == STORE_COND_IF_NONE_MATCH)
        st = http_request_header(req, "If-None-Match: *", err);
    return st;
}

static int header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static status check_put_args(const char *content_type, store_cond cond, const char *etag,
                             const char *name, errinfo *err)
{
    if (content_type && (!header_safe(content_type) || strlen(content_type) > 200))
        return err_set(err, ST_INTERNAL, "writing blob %s: bad content type", name);
    if (cond == STORE_COND_IF_MATCH &&
        (!etag || !*etag || !header_safe(etag) || strlen(etag) >= STORE_ETAG_MAX))
        return err_set(err, ST_INTERNAL, "writing blob %s: If-Match needs the ETag that was read",
                       name);
    return ST_OK;
}

/* The error of a Put Blob that failed, naming a condition that did not hold. */
static status put_failed(blob_client *b, http_result *res, const char *name, store_cond cond,
                         const char *etag, errinfo *err)
{
    if (res->st == ST_PRECONDITION && cond == STORE_COND_IF_MATCH)
        return failed(b, res, err, "writing blob %s: it changed since it was read (If-Match %s)",
                      name, etag);
    if (res->st == ST_CONFLICT && cond == STORE_COND_IF_NONE_MATCH)
        return failed(b, res, err, "writing blob %s: it already exists (If-None-Match: *)", name);
    return failed(b, res, err, "writing blob %s", name);
}

status blob_put(blob_client *b, const char *name, const void *data, size_t len,
                const char *content_type, store_cond cond, const char *etag,
                char etag_out[STORE_ETAG_MAX], errinfo *err)
{
    if (etag_out)
        etag_out[0] = '\0';
    status st = check_put_args(content_type, cond, etag, name, err);
    if (st != ST_OK)
        return st;
    http_request *req;
    if ((st = new_request(b, "PUT", name, NULL, &req, err)) != ST_OK)
        return st;
    if ((st = put_headers(req, data, len, content_type, cond, etag, err)) != ST_OK) {
        http_request_free(req);
        return st;
    }
    http_request_body_ref(req, data, len);
    http_result res;
    st = http_perform(b->eng, req, &res);
    if (st == ST_OK) {
        if (etag_out)
            snprintf(etag_out, STORE_ETAG_MAX, "%s", res.etag);
    } else {
        st = put_failed(b, &res, name, cond, etag, err);
    }
    http_result_dispose(&res);
    return st;
}

typedef struct async_put {
    blob_client *b;
    store_done_fn done;
    void *ctx;
    store_cond cond;
    char etag[STORE_ETAG_MAX];
    char name[];
} async_put;

static void on_async_put(void *ctx, http_result *res)
{
    async_put *ap = ctx;
    errinfo e = {0};
    status st = res->st;
    if (st != ST_OK)
        st = put_failed(ap->b, res, ap->name, ap->cond, ap->etag, &e);
    ap->done(ap->ctx, st, &e, st == ST_OK ? res->etag : "");
    free(ap);
}

status blob_put_async(blob_client *b, const char *name, char *data, size_t len,
                      const char *content_type, store_cond cond, const char *etag,
                      store_done_fn done, void *ctx, errinfo *err)
{
    status st = check_put_args(content_type, cond, etag, name, err);
    if (st != ST_OK) {
        free(data);
        return st;
    }
    size_t nlen = strlen(name);
    async_put *ap = malloc(sizeof *ap + nlen + 1);
    if (!ap) {
        free(data);
        return err_set(err, ST_NOMEM, "out of memory writing blob %s", name);
    }
    ap->b = b;
    ap->done = done;
    ap->ctx = ctx;
    ap->cond = cond;
    snprintf(ap->etag, sizeof ap->etag, "%s", etag ? etag : "");
    memcpy(ap->name, name, nlen + 1);
    http_request *req;
    if ((st = new_request(b, "PUT", name, NULL, &req, err)) != ST_OK) {
        free(ap);
        free(data);
        return st;
    }
    http_request_body_take(req, data, len);
    if ((st = put_headers(req, data, len, content_type, cond, etag, err)) != ST_OK) {
        http_request_free(req);
        free(ap);
        return st;
    }
    if ((st = http_submit(b->eng, req, on_async_put, ap, err)) != ST_OK) {
        free(ap);
        return st;
    }
    return ST_OK;
}

/* Reads exactly n bytes unless the file ends; returns the count or -1. */
static ssize_t read_full(int fd, char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static status put_block(blob_client *b, const char *name, unsigned index, const char *data,
                        size_t len, errinfo *err)
{
    char id[BLOB_BLOCK_ID_MAX], query[128];
    blob_block_id(index, id);
    buf q;
    buf_init(&q, 0);
    status st = buf_appends(&q, "comp=block&blockid=", err);
    if (st == ST_OK)
        st = urlenc_query(&q, id, err);
    if (st == ST_OK)
        snprintf(query, sizeof query, "%s", q.data);
    buf_dispose(&q);
    if (st != ST_OK)
        return st;
    http_request *req;
    if ((st = new_request(b, "PUT", name, query, &req, err)) != ST_OK)
        return st;
    char md5[32];
    blob_content_md5(data, len, md5);
    if ((st = add_header(req, err, "Content-MD5: %s", md5)) != ST_OK ||
        (st = http_request_header(req, "Content-Type: application/octet-stream", err)) != ST_OK) {
        http_request_free(req);
        return st;
    }
    http_request_body_ref(req, data, len);
    http_result res;
    st = http_perform(b->eng, req, &res);
    if (st != ST_OK)
        st = failed(b, &res, err, "writing blob %s (block %u)", name, index);
    http_result_dispose(&res);
    return st;
}

static status put_block_list(blob_client *b, const char *name, unsigned nblocks,
                             const char *content_type, const char *file_md5, errinfo *err)
{
    buf xml;
    buf_init(&xml, 0);
    status st = blob_block_list_xml(&xml, nblocks, err);
    http_request *req = NULL;
    if (st == ST_OK)
        st = new_request(b, "PUT", name, "comp=blocklist", &req, err);
    if (st != ST_OK) {
        buf_dispose(&xml);
        return st;
    }
    char md5[32];
    blob_content_md5(xml.data, xml.len, md5);
    if ((st = add_header(req, err, "Content-MD5: %s", md5)) != ST_OK ||
        (st = http_request_header(req, "Content-Type: application/xml", err)) != ST_OK ||
        (st = add_header(req, err, "x-ms-blob-content-type: %s",
                         content_type && *content_type ? content_type : DEFAULT_CONTENT_TYPE)) !=
            ST_OK ||
        (st = add_header(req, err, "x-ms-blob-content-md5: %s", file_md5)) != ST_OK) {
        http_request_free(req);
        buf_dispose(&xml);
        return st;
    }
    size_t len = xml.len;
    http_request_body_take(req, buf_take(&xml), len);
    http_result res;
    st = http_perform(b->eng, req, &res);
    if (st != ST_OK)
        st = failed(b, &res, err, "writing blob %s (block list of %u blocks)", name, nblocks);
    http_result_dispose(&res);
    return st;
}

status blob_put_file(blob_client *b, const char *name, const char *path, const char *content_type,
                     size_t *bytes_out, errinfo *err)
{
    if (bytes_out)
        *bytes_out = 0;
    status st = check_put_args(content_type, STORE_COND_NONE, NULL, name, err);
    if (st != ST_OK)
        return st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, ST_IO, "writing blob %s: cannot open %s: %s", name, path,
                       strerror(errno));
    char *chunk = NULL;
    EVP_MD_CTX *md = NULL;
    size_t size = 0;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = err_set(err, ST_IO, "writing blob %s: %s is not a readable regular file", name, path);
        goto out;
    }
    size = (size_t)sb.st_size;

    if (size <= b->single_max) {
        chunk = malloc(size ? size : 1);
        if (!chunk) {
            st = err_set(err, ST_NOMEM, "out of memory reading %s", path);
            goto out;
        }
        ssize_t got = read_full(fd, chunk, size);
        char extra;
        if (got < 0 || (size_t)got != size || read_full(fd, &extra, 1) != 0) {
            st = err_set(err, ST_IO, "writing blob %s: %s could not be read whole (%s)", name, path,
                         got < 0 ? strerror(errno) : "it changed while being read");
            goto out;
        }
        st = blob_put(b, name, chunk, size, content_type, STORE_COND_NONE, NULL, NULL, err);
        goto out;
    }

    /* blocks of equal size (the last one shorter), never more than the service allows */
    size_t block = b->block_size;
    if ((size + block - 1) / block > BLOB_MAX_BLOCKS) {
        block = (size + BLOB_MAX_BLOCKS - 1) / BLOB_MAX_BLOCKS;
        block = (block + (1u << 20) - 1) & ~(size_t)((1u << 20) - 1);
    }
    unsigned nblocks = (unsigned)((size + block - 1) / block);
    chunk = malloc(block);
    md = EVP_MD_CTX_new();
    if (!chunk || !md || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) {
        st = err_set(err, ST_NOMEM, "out of memory uploading %s", path);
        goto out;
    }
    size_t left = size;
    for (unsigned i = 0; i < nblocks; i++) {
        size_t n = left < block ? left : block;
        ssize_t got = read_full(fd, chunk, n);
        if (got < 0 || (size_t)got != n) {
            st = err_set(err, ST_IO, "writing blob %s: %s could not be read (%s)", name, path,
                         got < 0 ? strerror(errno) : "it shrank while being uploaded");
            goto out;
        }
        EVP_DigestUpdate(md, chunk, n);
        if ((st = put_block(b, name, i, chunk, n, err)) != ST_OK)
            goto out;
        left -= n;
    }
    char extra;
    if (read_full(fd, &extra, 1) != 0) {
        st = err_set(err, ST_IO, "writing blob %s: %s grew while being uploaded", name, path);
        goto out;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md, digest, &dlen);
    char file_md5[32];
    md5_b64(digest, file_md5);
    st = put_block_list(b, name, nblocks, content_type, file_md5, err);
out:
    if (st == ST_OK && bytes_out)
        *bytes_out = size;
    EVP_MD_CTX_free(md);
    free(chunk);
    close(fd);
    return st;
}

/* ---- listing, deleting, downloading ------------------------------------------ */

#define LIST_PAGES_MAX 1000000 /* 5,000 names a page */

/* The text between <tag ...> and </tag> inside [p, end), or NULL. An element whose
 * start tag carries attributes (Encoded="true") is reported through *attrs. */
static const char *xml_elem(const char *p, const char *end, const char *tag, size_t *len,
                            int *attrs)
{
    size_t tl = strlen(tag);
    for (const char *q = p; q + tl + 2 <= end; q++) {
        if (q[0] != '<' || memcmp(q + 1, tag, tl) != 0)
            continue;
        char c = q[1 + tl];
        if (c != '>' && c != ' ' && c != '/')
            continue;
        const char *gt = memchr(q, '>', (size_t)(end - q));
        if (!gt)
            return NULL;
        if (gt[-1] == '/') { /* <tag /> */
            *len = 0;
            if (attrs)
                *attrs = 0;
            return gt + 1;
        }
        if (attrs)
            *attrs = c == ' ';
        const char *body = gt + 1;
        for (const char *e = body; e + tl + 3 <= end; e++)
            if (e[0] == '<' && e[1] == '/' && memcmp(e + 2, tag, tl) == 0 && e[2 + tl] == '>') {
                *len = (size_t)(e - body);
                return body;
            }
        return NULL;
    }
    return NULL;
}

/* Appends the XML text [p, p+n) to out with its five entities and character
 * references decoded; ST_DATA on a reference it cannot read. */
static status xml_text(buf *out, const char *p, size_t n, errinfo *err)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    status st = ST_OK;
    for (size_t i = 0; i < n && st == ST_OK;) {
        if (p[i] != '&') {
            size_t j = i;
            while (j < n && p[j] != '&')
                j++;
            st = buf_append(out, p + i, j - i, err);
            i = j;
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof ents / sizeof ents[0]; k++) {
            size_t el = strlen(ents[k].ent);
            if (n - i - 1 >= el && memcmp(p + i + 1, ents[k].ent, el) == 0) {
                st = buf_append(out, &ents[k].c, 1, err);
                i += 1 + el;
                break;
            }
        }
        if (k < sizeof ents / sizeof ents[0])
            continue;
        /* &#N; or &#xH; for an ASCII character: the names this program writes are ASCII */
        unsigned long v = 0;
        size_t j = i + 1;
        int hex = 0, digits = 0;
        if (j < n && p[j] == '#') {
            j++;
            if (j < n && (p[j] == 'x' || p[j] == 'X'))
                hex = 1, j++;
            for (; j < n && digits < 8; j++, digits++) {
                char c = p[j];
                int d = c >= '0' && c <= '9'          ? c - '0'
                        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                      : -1;
                if (d < 0)
                    break;
                v = v * (hex ? 16 : 10) + (unsigned long)d;
            }
        }
        if (!digits || j >= n || p[j] != ';' || v == 0 || v > 0x7f)
            return err_set(err, ST_DATA, "a blob listing has an XML reference it cannot read");
        char c = (char)v;
        st = buf_append(out, &c, 1, err);
        i = j + 1;
    }
    return st;
}

status blob_list_parse(const char *xml, size_t n, store_list_fn fn, void *ctx, buf *next_marker,
                       errinfo *err)
{
    const char *end = xml + n, *p = xml;
    buf name;
    buf_init(&name, 1024);
    status st = ST_OK;
    buf_reset(next_marker);
    size_t blen;
    const char *blobs = xml_elem(p, end, "Blobs", &blen, NULL);
    if (!blobs) {
        if (!xml_elem(p, end, "EnumerationResults", &blen, NULL))
            return err_set(err, ST_DATA, "a blob listing is not an EnumerationResults document");
        blobs = end; /* no blobs in this page */
        blen = 0;
    }
    const char *q = blobs, *bend = blobs + blen;
    size_t one;
    const char *b;
    while (st == ST_OK && (b = xml_elem(q, bend, "Blob", &one, NULL)) != NULL) {
        q = b + one;
        size_t nl, ll;
        int encoded = 0;
        const char *nm = xml_elem(b, b + one, "Name", &nl, &encoded);
        if (!nm || encoded) /* a name with characters XML cannot hold: not ours */
            continue;
        buf_reset(&name);
        if ((st = xml_text(&name, nm, nl, err)) != ST_OK)
            break;
        uint64_t size = 0;
        const char *len = xml_elem(b, b + one, "Content-Length", &ll, NULL);
        for (size_t i = 0;
             len && i < ll && len[i] >= '0' && len[i] <= '9' && size < UINT64_MAX / 10; i++)
            size = size * 10 + (uint64_t)(len[i] - '0');
        if (memchr(name.data, '\0', name.len))
            continue;
        st = fn(ctx, name.data, size, err);
    }
    size_t ml;
    const char *marker = xml_elem(xml, end, "NextMarker", &ml, NULL);
    if (st == ST_OK && marker && ml)
        st = xml_text(next_marker, marker, ml, err);
    buf_dispose(&name);
    return st;
}

status blob_list(blob_client *b, const char *prefix, store_list_fn fn, void *ctx, errinfo *err)
{
    buf marker, query;
    buf_init(&marker, 4096);
    buf_init(&query, 0);
    status st = ST_OK;
    for (long page = 0; st == ST_OK; page++) {
        if (page >= LIST_PAGES_MAX) {
            st = err_set(err, ST_LIMIT, "listing %s: more than %d pages", prefix, LIST_PAGES_MAX);
            break;
        }
        buf_reset(&query);
        st = buf_appends(&query, "restype=container&comp=list&maxresults=5000&prefix=", err);
        if (st == ST_OK)
            st = urlenc_query(&query, prefix, err);
        if (st == ST_OK && marker.len) {
            st = buf_appends(&query, "&marker=", err);
            if (st == ST_OK)
                st = urlenc_query(&query, marker.data, err);
        }
        http_request *req;
        if (st != ST_OK || (st = new_request(b, "GET", NULL, query.data, &req, err)) != ST_OK)
            break;
        http_result res;
        st = http_perform(b->eng, req, &res);
        if (st != ST_OK)
            st = failed(b, &res, err, "listing blobs under %s", prefix);
        else if ((st = blob_list_parse(res.body.data, res.body.len, fn, ctx, &marker, err)) !=
                 ST_OK)
            err_prefix(err, "listing blobs under %s", prefix);
        http_result_dispose(&res);
        if (st == ST_OK && !marker.len)
            break;
    }
    buf_dispose(&marker);
    buf_dispose(&query);
    return st;
}

status blob_delete(blob_client *b, const char *name, errinfo *err)
{
    http_request *req;
    status st = new_request(b, "DELETE", name, NULL, &req, err);
    if (st != ST_OK)
        return st;
    /* no body: keep libcurl from adding a form Content-Type that the signature lacks */
    if ((st = http_request_header(req, "Content-Type:", err)) != ST_OK) {
        http_request_free(req);
        return st;
    }
    http_result res;
    st = http_perform(b->eng, req, &res);
    if (st != ST_OK && res.http_status == 404 && strcmp(res.error_code, "BlobNotFound") == 0)
        st = ST_OK; /* a retried delete whose first attempt went through */
    else if (st != ST_OK)
        st = failed(b, &res, err, "deleting blob %s", name);
    http_result_dispose(&res);
    return st;
}

static status write_out(int fd, const char *p, size_t n, const char *path, errinfo *err)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return err_set(err, ST_IO, "cannot write %s: %s", path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return ST_OK;
}

status blob_get_file(blob_client *b, const char *name, const char *path, uint64_t *bytes_out,
                     errinfo *err)
{
    if (bytes_out)
        *bytes_out = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, ST_IO, "reading blob %s: cannot create %s: %s", name, path,
                       strerror(errno));
    char etag[STORE_ETAG_MAX] = "";
    uint64_t off = 0;
    status st = ST_OK;
    for (;;) {
        http_request *req;
        if ((st = new_request(b, "GET", name, NULL, &req, err)) != ST_OK)
            break;
        uint64_t last = off + b->block_size - 1;
        if ((st = add_header(req, err, "x-ms-range: bytes=%llu-%llu", (unsigned long long)off,
                             (unsigned long long)last)) != ST_OK ||
            (etag[0] && (st = add_header(req, err, "If-Match: %s", etag)) != ST_OK)) {
            http_request_free(req);
            break;
        }
        http_result res;
        st = http_perform(b->eng, req, &res);
        if (st != ST_OK && res.http_status == 416) {
            st = ST_OK; /* the range starts at the end: the previous one was the last */
            http_result_dispose(&res);
            break;
        }
        if (st != ST_OK) {
            if (res.http_status == 404 && strcmp(res.error_code, "ContainerNotFound") != 0) {
                if (err && err->code == ST_OK)
                    err->http_status = 404;
                st = err_set(err, ST_NOT_FOUND, "blob %s does not exist in %s", name, b->describe);
            } else if (res.http_status == 412) {
                st = failed(b, &res, err, "reading blob %s: it changed while being read", name);
            } else {
                st = failed(b, &res, err, "reading blob %s", name);
            }
            http_result_dispose(&res);
            break;
        }
        if (!etag[0]) {
            if (!res.etag[0] || !header_safe(res.etag)) {
                st = err_set(err, ST_DATA, "reading blob %s: the answer has no ETag", name);
                http_result_dispose(&res);
                break;
            }
            snprintf(etag, sizeof etag, "%s", res.etag);
        }
        size_t got = res.body.len;
        if (got > b->block_size)
            st =
                err_set(err, ST_DATA, "reading blob %s: a range came back longer than asked", name);
        else
            st = write_out(fd, res.body.data, got, path, err);
        http_result_dispose(&res);
        if (st != ST_OK)
            break;
        off += got;
        if (got < b->block_size)
            break;
    }
    if (close(fd) != 0 && st == ST_OK)
        st = err_set(err, ST_IO, "cannot write %s: %s", path, strerror(errno));
    if (st == ST_OK && bytes_out)
        *bytes_out = off;
    return st;
}

/* ---- the driver ------------------------------------------------------------ */

static status drv_open(void **impl, const config *cfg, http_engine *eng, errinfo *err)
{
    blob_client *b = NULL;
    status st = blob_open(&b, cfg, eng, err);
    *impl = b;
    return st;
}

static void drv_free(void *impl)
{
    blob_free(impl);
}

static const char *drv_describe(const void *impl)
{
    return blob_describe(impl);
}

static status drv_prepare(void *impl, errinfo *err)
{
    return blob_prepare(impl, err);
}

static status drv_check(void *impl, errinfo *err)
{
    return blob_check(impl, err);
}

static status drv_get(void *impl, const char *name, buf *out, char etag_out[STORE_ETAG_MAX],
                      errinfo *err)
{
    return blob_get(impl, name, out, etag_out, err);
}

static status drv_get_async(void *impl, const char *name, size_t max_bytes, store_got_fn got,
                            void *ctx, errinfo *err)
{
    return blob_get_async(impl, name, max_bytes, got, ctx, err);
}

static status drv_put(void *impl, const char *name, const void *data, size_t len,
                      const char *content_type, store_cond cond, const char *etag,
                      char etag_out[STORE_ETAG_MAX], errinfo *err)
{
    return blob_put(impl, name, data, len, content_type, cond, etag, etag_out, err);
}

static status drv_put_async(void *impl, const char *name, char *data, size_t len,
                            const char *content_type, store_cond cond, const char *etag,
                            store_done_fn done, void *ctx, errinfo *err)
{
    return blob_put_async(impl, name, data, len, content_type, cond, etag, done, ctx, err);
}

static status drv_put_file(void *impl, const char *name, const char *path, const char *content_type,
                           size_t *bytes_out, errinfo *err)
{
    return blob_put_file(impl, name, path, content_type, bytes_out, err);
}

static status drv_list(void *impl, const char *prefix, store_list_fn fn, void *ctx, errinfo *err)
{
    return blob_list(impl, prefix, fn, ctx, err);
}

static status drv_del(void *impl, const char *name, errinfo *err)
{
    return blob_delete(impl, name, err);
}

static status drv_get_file(void *impl, const char *name, const char *path, uint64_t *bytes_out,
                           errinfo *err)
{
    return blob_get_file(impl, name, path, bytes_out, err);
}

static void drv_set_upload_sizes(void *impl, size_t single_max, size_t block_size)
{
    blob_set_upload_sizes(impl, single_max, block_size);
}

const store_driver store_blob_driver = {
    .name = "blob",
    .check_settings = check_settings,
    .open = drv_open,
    .free = drv_free,
    .describe = drv_describe,
    .prepare = drv_prepare,
    .check = drv_check,
    .get = drv_get,
    .put = drv_put,
    .get_async = drv_get_async,
    .put_async = drv_put_async,
    .put_file = drv_put_file,
    .list = drv_list,
    .del = drv_del,
    .get_file = drv_get_file,
    .set_upload_sizes = drv_set_upload_sizes,
};

/* The store: checks names, then hands each call to the sink that cfg->storage
 * chose (blob.c for an account, localdir.c for a folder). See store.h. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/blob.h"
#include "store/localdir.h"

#define NAME_MAX_LEN 1024 /* the service's limit on blob names */

struct store {
    blob_client *blob; /* exactly one of the two */
    localdir *dir;
};

status store_open(store **out, const config *cfg, http_engine *eng, errinfo *err)
{
    *out = NULL;
    store *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, ST_NOMEM, "out of memory opening the store");
    status st;
    switch (cfg->storage) {
    case STORAGE_CONNECTION_STRING:
    case STORAGE_ACCOUNT_URL:
        st = blob_open(&s->blob, cfg, eng, err);
        break;
    case STORAGE_DIR:
        st = localdir_open(&s->dir, cfg->output_dir, err);
        break;
    default:
        st = err_set(err, ST_CONFIG,
                     "no storage is configured: set AZURE_STORAGE_CONNECTION_STRING, "
                     "AZURE_STORAGE_ACCOUNT_URL or ATTENDANCE_OUTPUT_DIR");
        break;
    }
    if (st != ST_OK) {
        free(s);
        return st;
    }
    *out = s;
    return ST_OK;
}

void store_free(store *s)
{
    if (!s)
        return;
    blob_free(s->blob);
    localdir_free(s->dir);
    free(s);
}

const char *store_describe(const store *s)
{
    return s->blob ? blob_describe(s->blob) : localdir_describe(s->dir);
}

void store_set_upload_sizes(store *s, size_t single_max, size_t block_size)
{
    if (s->blob)
        blob_set_upload_sizes(s->blob, single_max, block_size);
}

/* A name both sinks can hold: not empty, no leading or trailing '/', no empty,
 * "." or ".." segment (a folder sink must never leave its folder), no control
 * character or backslash. */
static status check_name(const char *name, errinfo *err)
{
    if (!name || !*name)
        return err_set(err, ST_INTERNAL, "a blob name is empty");
    size_t n = strlen(name);
    if (n > NAME_MAX_LEN)
        return err_set(err, ST_INTERNAL, "a blob name is longer than %d bytes", NAME_MAX_LEN);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return err_set(err, ST_INTERNAL,
                           "blob name %.200s has a control character or a backslash", name);
    }
    const char *p = name;
    for (;;) {
        size_t seg = strcspn(p, "/");
        if (seg == 0 || (seg == 1 && p[0] == '.') || (seg == 2 && p[0] == '.' && p[1] == '.'))
            return err_set(err, ST_INTERNAL,
                           "blob name %.200s has an empty, \".\" or \"..\" segment", name);
        if (!p[seg])
            break;
        p += seg + 1;
    }
    return ST_OK;
}

status store_prepare(store *s, errinfo *err)
{
    return s->blob ? blob_prepare(s->blob, err) : localdir_prepare(s->dir, err);
}

status store_check(store *s, errinfo *err)
{
    return s->blob ? blob_check(s->blob, err) : localdir_check(s->dir, err);
}

status store_get(store *s, const char *name, buf *out, char etag_out[STORE_ETAG_MAX], errinfo *err)
{
    if (etag_out)
        etag_out[0] = '\0';
    status st = check_name(name, err);
    if (st != ST_OK)
        return st;
    return s->blob ? blob_get(s->blob, name, out, etag_out, err)
                   : localdir_get(s->dir, name, out, etag_out, err);
}

status store_put(store *s, const char *name, const void *data, size_t len, const char *content_type,
                 store_cond cond, const char *etag, char etag_out[STORE_ETAG_MAX], errinfo *err)
{
    char cond_etag[STORE_ETAG_MAX] = ""; /* etag and etag_out may be the same buffer */
    if (etag)
        snprintf(cond_etag, sizeof cond_etag, "%s", etag);
    etag = etag ? cond_etag : NULL;
    if (etag_out)
        etag_out[0] = '\0';
    status st = check_name(name, err);
    if (st != ST_OK)
        return st;
    return s->blob ? blob_put(s->blob, name, data, len, content_type, cond, etag, etag_out, err)
                   : localdir_put(s->dir, name, data, len, cond, etag, etag_out, err);
}

status store_put_async(store *s, const char *name, char *data, size_t len, const char *content_type,
                       store_done_fn done, void *ctx, errinfo *err)
{
    status st = check_name(name, err);
    if (st != ST_OK) {
        free(data);
        return st;
    }
    if (s->blob)
        return blob_put_async(s->blob, name, data, len, content_type, done, ctx, err);
    errinfo e = {0};
    st = localdir_put(s->dir, name, data, len, STORE_COND_NONE, NULL, NULL, &e);
    free(data);
    done(ctx, st, &e);
    return ST_OK;
}

status store_put_file(store *s, const char *name, const char *path, const char *content_type,
                      size_t *bytes_out, errinfo *err)
{
    if (bytes_out)
        *bytes_out = 0;
    status st = check_name(name, err);
    if (st != ST_OK)
        return st;
    return s->blob ? blob_put_file(s->blob, name, path, content_type, bytes_out, err)
                   : localdir_put_file(s->dir, name, path, bytes_out, err);
}

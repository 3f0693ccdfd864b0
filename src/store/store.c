/* The store: checks names, then hands each call to the driver that cfg->storage
 * chose (store/driver.h; blob.c for an account, localdir.c for a folder). See
 * store.h. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/driver.h"

#define NAME_MAX_LEN 1024 /* the service's limit on blob names */

struct store {
    const store_driver *drv;
    void *impl;
};

static const store_driver *driver_for(storage_kind kind)
{
    switch (kind) {
    case STORAGE_CONNECTION_STRING:
    case STORAGE_ACCOUNT_URL:
        return &store_blob_driver;
    case STORAGE_DIR:
        return &store_dir_driver;
    case STORAGE_NONE:
        break;
    }
    return NULL;
}

static status no_storage(errinfo *err)
{
    return err_set(err, ST_CONFIG,
                   "no storage is configured: set AZURE_STORAGE_CONNECTION_STRING, "
                   "AZURE_STORAGE_ACCOUNT_URL or ATTENDANCE_OUTPUT_DIR");
}

status store_check_settings(const config *cfg, errinfo *err)
{
    const store_driver *drv = driver_for(cfg->storage);
    return drv ? drv->check_settings(cfg, err) : no_storage(err);
}

status store_open(store **out, const config *cfg, http_engine *eng, errinfo *err)
{
    *out = NULL;
    const store_driver *drv = driver_for(cfg->storage);
    if (!drv)
        return no_storage(err);
    store *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, ST_NOMEM, "out of memory opening the store");
    s->drv = drv;
    status st = drv->open(&s->impl, cfg, eng, err);
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
    s->drv->free(s->impl);
    free(s);
}

int store_local(const store *s)
{
    return s->drv == &store_dir_driver;
}

const char *store_describe(const store *s)
{
    return s->drv->describe(s->impl);
}

void store_set_upload_sizes(store *s, size_t single_max, size_t block_size)
{
    if (s->drv->set_upload_sizes)
        s->drv->set_upload_sizes(s->impl, single_max, block_size);
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
    return s->drv->prepare(s->impl, err);
}

status store_check(store *s, errinfo *err)
{
    return s->drv->check(s->impl, err);
}

status store_get(store *s, const char *name, buf *out, char etag_out[STORE_ETAG_MAX], errinfo *err)
{
    if (etag_out)
        etag_out[0] = '\0';
    status st = check_name(name, err);
    if (st != ST_OK)
        return st;
    return s->drv->get(s->impl, name, out, etag_out, err);
}

status store_get_async(store *s, const char *name, size_t max_bytes, store_got_fn got, void *ctx,
                       errinfo *err)
{
    status st = check_name(name, err);
    if (st != ST_OK)
        return st;
    return s->drv->get_async(s->impl, name, max_bytes, got, ctx, err);
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
    return s->drv->put(s->impl, name, data, len, content_type, cond, etag, etag_out, err);
}

status store_put_async(store *s, const char *name, char *data, size_t len, const char *content_type,
                       store_cond cond, const char *etag, store_done_fn done, void *ctx,
                       errinfo *err)
{
    status st = check_name(name, err);
    if (st != ST_OK) {
        free(data);
        return st;
    }
    return s->drv->put_async(s->impl, name, data, len, content_type, cond, etag, done, ctx, err);
}

status store_put_file(store *s, const char *name, const char *path, const char *content_type,
                      size_t *bytes_out, errinfo *err)
{
    if (bytes_out)
        *bytes_out = 0;
    status st = check_name(name, err);
    if (st != ST_OK)
        return st;
    return s->drv->put_file(s->impl, name, path, content_type, bytes_out, err);
}

typedef struct list_filter {
    store_list_fn fn;
    void *ctx;
} list_filter;

static status filtered(void *ctx, const char *name, uint64_t size, errinfo *err)
{
    list_filter *f = ctx;
    errinfo ignored = {0};
    if (check_name(name, &ignored) != ST_OK)
        return ST_OK; /* not a name this program writes or can read back */
    return f->fn(f->ctx, name, size, err);
}

status store_list(store *s, const char *prefix, store_list_fn fn, void *ctx, errinfo *err)
{
    list_filter f = {fn, ctx};
    return s->drv->list(s->impl, prefix ? prefix : "", filtered, &f, err);
}

status store_delete(store *s, const char *name, errinfo *err)
{
    status st = check_name(name, err);
    if (st != ST_OK)
        return st;
    return s->drv->del(s->impl, name, err);
}

status store_get_file(store *s, const char *name, const char *path, uint64_t *bytes_out,
                      errinfo *err)
{
    if (bytes_out)
        *bytes_out = 0;
    status st = check_name(name, err);
    if (st != ST_OK)
        return st;
    return s->drv->get_file(s->impl, name, path, bytes_out, err);
}

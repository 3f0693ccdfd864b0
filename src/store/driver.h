/* What a storage driver is: a table of functions that store.c calls, one driver
 * per file (blob.c: Blob Storage; localdir.c: a local folder). Internal to store/.
 *
 * store.c checks names and copies the condition's ETag before it calls a driver,
 * so a driver may assume a valid name and an `etag` that does not alias
 * `etag_out`. `impl` is what the driver's open returned; free releases it.
 * Adding a driver: a file with its functions and one `const store_driver`, its
 * storage kind in config.h, one line in store.c's table (docs/internals.md). */
#ifndef TA_STORE_DRIVER_H
#define TA_STORE_DRIVER_H

#include "store/store.h"

typedef struct store_driver {
    const char *name; /* "blob", "folder": for messages */
    /* Checks the driver's own settings in cfg; makes no request, creates nothing.
     * A bad setting is ST_CONFIG with a message naming it (exit status 2). May
     * register the secrets it finds with the log's scrubber. */
    status (*check_settings)(const config *cfg, errinfo *err);
    status (*open)(void **impl, const config *cfg, http_engine *eng, errinfo *err);
    void (*free)(void *impl);
    const char *(*describe)(const void *impl);
    status (*prepare)(void *impl, errinfo *err);
    status (*check)(void *impl, errinfo *err);
    status (*get)(void *impl, const char *name, buf *out, char etag_out[STORE_ETAG_MAX],
                  errinfo *err);
    status (*get_async)(void *impl, const char *name, size_t max_bytes, store_got_fn got, void *ctx,
                        errinfo *err);
    status (*put)(void *impl, const char *name, const void *data, size_t len,
                  const char *content_type, store_cond cond, const char *etag,
                  char etag_out[STORE_ETAG_MAX], errinfo *err);
    /* Takes data (malloc'd), also on error; `done` is not called when this fails. */
    status (*put_async)(void *impl, const char *name, char *data, size_t len,
                        const char *content_type, store_cond cond, const char *etag,
                        store_done_fn done, void *ctx, errinfo *err);
    status (*put_file)(void *impl, const char *name, const char *path, const char *content_type,
                       size_t *bytes_out, errinfo *err);
    /* names that store.c filters (store_list), in any order */
    status (*list)(void *impl, const char *prefix, store_list_fn fn, void *ctx, errinfo *err);
    /* ST_OK when the blob is already gone */
    status (*del)(void *impl, const char *name, errinfo *err);
    status (*get_file)(void *impl, const char *name, const char *path, uint64_t *bytes_out,
                       errinfo *err);
    /* NULL when the driver has no upload sizes to set */
    void (*set_upload_sizes)(void *impl, size_t single_max, size_t block_size);
} store_driver;

extern const store_driver store_blob_driver;
extern const store_driver store_dir_driver;

#endif

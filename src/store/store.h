/* Where the job's files go: Blob Storage (Blob REST: Shared Key, SAS or a bearer
 * token from managed identity) or a local folder with the same layout. One
 * interface, two drivers behind it (store/driver.h).
 *
 * Names are blob names inside the container, the prefix already applied
 * ("raw/events/date=.../x.json"). ETags are opaque strings, quotes kept.
 * Blob requests go through the HTTP engine and are retried like Graph's.
 *
 * Ownership: store_open allocates; store_free releases (NULL-safe). The store
 * keeps pointers to the config and the engine, which must outlive it. */
#ifndef TA_STORE_H
#define TA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http/http.h"
#include "status.h"
#include "util/buf.h"

#define STORE_ETAG_MAX 128

typedef struct store store;

typedef enum store_cond {
    STORE_COND_NONE = 0,
    STORE_COND_IF_MATCH,     /* write only if the blob's ETag is `etag`; else ST_PRECONDITION */
    STORE_COND_IF_NONE_MATCH /* write only if the blob does not exist; else ST_CONFLICT */
} store_cond;

/* etag: the blob's new ETag when st is ST_OK, else "". */
typedef void (*store_done_fn)(void *ctx, status st, const errinfo *err, const char *etag);

/* Checks the storage settings of cfg with the driver that cfg->storage picks: no
 * request, nothing created. ST_CONFIG names the bad setting (exit status 2). */
TA_MUST_USE status store_check_settings(const config *cfg, errinfo *err);
/* Picks the sink from cfg->storage. Makes no request. */
TA_MUST_USE status store_open(store **out, const config *cfg, http_engine *eng, errinfo *err);
void store_free(store *s);
/* Where it writes, for logs: "https://acct.blob.core.windows.net/container" or the folder. Never a
 * secret. */
const char *store_describe(const store *s);
/* 1 when its writes are local file writes (the folder sink): a file already on disk
 * is then cheaper to put by its path (store_put_file) than by its bytes, and the put
 * is done when the call returns. */
int store_local(const store *s);

/* Creates the container (or folder) when missing; a SAS that may not create it
 * gets a clear error when it does not exist. */
TA_MUST_USE status store_prepare(store *s, errinfo *err);
/* For `check`: reaches the storage and proves the credentials work; writes nothing. */
TA_MUST_USE status store_check(store *s, errinfo *err);

/* Reads a whole blob into out (cleared first); etag_out (may be NULL) gets its ETag.
 * ST_NOT_FOUND when it does not exist. */
TA_MUST_USE status store_get(store *s, const char *name, buf *out, char etag_out[STORE_ETAG_MAX],
                             errinfo *err);
/* Receives what store_get_async read: on ST_OK the blob's bytes in `body` (the
 * receiver may take them: buf_init it after) and its ETag; ST_NOT_FOUND when it does
 * not exist; otherwise err says what failed. */
typedef void (*store_got_fn)(void *ctx, status st, const errinfo *err, buf *body, const char *etag);
/* Like store_get, but queued on the engine: `got` is called from http_run (for the
 * folder sink, before this returns); not called when this fails. Blobs up to
 * max_bytes: a larger one fails the read. */
TA_MUST_USE status store_get_async(store *s, const char *name, size_t max_bytes, store_got_fn got,
                                   void *ctx, errinfo *err);
/* Writes a whole blob (Put Blob with Content-MD5), optionally conditional.
 * etag_out (may be NULL) gets the new ETag. */
TA_MUST_USE status store_put(store *s, const char *name, const void *data, size_t len,
                             const char *content_type, store_cond cond, const char *etag,
                             char etag_out[STORE_ETAG_MAX], errinfo *err);
/* Like store_put, but queued on the engine: `done` is called from http_run (for the
 * folder sink, before this returns); not called when this fails. Takes `data`
 * (malloc'd), also on error. */
TA_MUST_USE status store_put_async(store *s, const char *name, char *data, size_t len,
                                   const char *content_type, store_cond cond, const char *etag,
                                   store_done_fn done, void *ctx, errinfo *err);
/* Uploads a local file in blocks (Put Block + Put Block List; one Put Blob when
 * small), reading it piece by piece so memory stays bounded. bytes_out may be NULL. */
TA_MUST_USE status store_put_file(store *s, const char *name, const char *path,
                                  const char *content_type, size_t *bytes_out, errinfo *err);

/* Receives one blob of a listing: its name (prefix included) and size in bytes. */
typedef status (*store_list_fn)(void *ctx, const char *name, uint64_t size, errinfo *err);
/* Calls fn for every blob whose name starts with prefix (List Blobs, every page; a
 * folder walked for the folder sink). A name that store_get could not take (a
 * control character, an empty or ".." segment) is left out. fn's error stops the
 * listing and is returned. */
TA_MUST_USE status store_list(store *s, const char *prefix, store_list_fn fn, void *ctx,
                              errinfo *err);
/* Deletes a blob; ST_OK too when it was already gone. */
TA_MUST_USE status store_delete(store *s, const char *name, errinfo *err);
/* Downloads a blob into the local file path (created or truncated, mode 0600) piece
 * by piece (ranged reads of 8 MiB, all of one version of the blob), so memory stays
 * bounded whatever its size. ST_NOT_FOUND when it does not exist. bytes_out may be NULL. */
TA_MUST_USE status store_get_file(store *s, const char *name, const char *path, uint64_t *bytes_out,
                                  errinfo *err);

/* Parses an Azure Storage connection string. Exposed for tests and fuzzing. */
typedef struct store_connstr {
    char *account_name;
    char *account_key;   /* base64, or NULL */
    char *sas;           /* without '?', or NULL */
    char *blob_endpoint; /* scheme://host[:port][/path] without trailing slash */
} store_connstr;
TA_MUST_USE status store_connstr_parse(const char *s, store_connstr *out, errinfo *err);
void store_connstr_dispose(store_connstr *c);

/* Upload sizes, for tests of the block path: files larger than single_max bytes go up
 * in blocks of block_size bytes (0 keeps the default, 8 MiB and 8 MiB). The folder
 * sink ignores it. */
void store_set_upload_sizes(store *s, size_t single_max, size_t block_size);

#endif

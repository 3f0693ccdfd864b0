/* The local folder sink behind store.h: blob names become paths under one folder
 * (subfolders created as needed). Every write is atomic: a temporary file in the
 * target's folder, fsync, rename (or link for If-None-Match), fsync the folder.
 * Writers to one folder take an flock() on it, so that If-Match (compare the
 * content's ETag, then replace) is safe between processes on the same machine.
 * ETags are a hash of the content, quoted.
 *
 * Names are checked by store.c (no "..", no leading '/').
 * Ownership: localdir_open allocates; localdir_free releases (NULL-safe). */
#ifndef TA_LOCALDIR_H
#define TA_LOCALDIR_H

#include <stddef.h>

#include "status.h"
#include "store/store.h"
#include "util/buf.h"

typedef struct localdir localdir;

TA_MUST_USE status localdir_open(localdir **out, const char *dir, errinfo *err);
void localdir_free(localdir *d);
const char *localdir_describe(const localdir *d);

/* Creates the folder and its parents. */
TA_MUST_USE status localdir_prepare(localdir *d, errinfo *err);
/* The folder exists and is writable, or could be created; creates nothing. */
TA_MUST_USE status localdir_check(localdir *d, errinfo *err);
TA_MUST_USE status localdir_get(localdir *d, const char *name, buf *out,
                                char etag_out[STORE_ETAG_MAX], errinfo *err);
TA_MUST_USE status localdir_put(localdir *d, const char *name, const void *data, size_t len,
                                store_cond cond, const char *etag, char etag_out[STORE_ETAG_MAX],
                                errinfo *err);
/* Copies the file at path in chunks. */
TA_MUST_USE status localdir_put_file(localdir *d, const char *name, const char *path,
                                     size_t *bytes_out, errinfo *err);

/* Every regular file whose name starts with prefix, folders walked (dot files,
 * which are writes in progress or the lock, left out). */
TA_MUST_USE status localdir_list(localdir *d, const char *prefix, store_list_fn fn, void *ctx,
                                 errinfo *err);
/* Removes the file (ST_OK when it is gone already). Its folder stays, even empty:
 * a run may be about to write into it. */
TA_MUST_USE status localdir_delete(localdir *d, const char *name, errinfo *err);
/* Copies the file out to path in chunks. */
TA_MUST_USE status localdir_get_file(localdir *d, const char *name, const char *path,
                                     uint64_t *bytes_out, errinfo *err);

/* The ETag of content: '"' + 32 hex digits of its SHA-256 + '"'. */
void localdir_etag(const void *data, size_t len, char out[STORE_ETAG_MAX]);

#endif

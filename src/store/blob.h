/* The Blob Storage sink behind store.h: Blob REST (x-ms-version 2021-08-06) over
 * the HTTP engine, authorized by Shared Key, a SAS in the query, or a bearer
 * token from token_source_storage.
 *
 * Names are blob names as store.h gives them (already checked by store.c).
 * Ownership: blob_open allocates; blob_free releases (NULL-safe). The client keeps
 * pointers to the config and the engine, which must outlive it. */
#ifndef TA_BLOB_H
#define TA_BLOB_H

#include <stddef.h>

#include "config.h"
#include "http/http.h"
#include "status.h"
#include "store/store.h"
#include "util/buf.h"

#define BLOB_API_VERSION "2021-08-06"
#define BLOB_SINGLE_PUT_MAX (8u << 20) /* files up to this size go up in one Put Blob */
#define BLOB_BLOCK_SIZE (8u << 20)     /* block size for larger files */
#define BLOB_MAX_BLOCKS 50000          /* the service's limit per blob */
#define BLOB_BLOCK_ID_MAX 32

typedef struct blob_client blob_client;

/* cfg->storage is STORAGE_CONNECTION_STRING or STORAGE_ACCOUNT_URL. Makes no request. */
TA_MUST_USE status blob_open(blob_client **out, const config *cfg, http_engine *eng, errinfo *err);
void blob_free(blob_client *b);
/* "https://acct.blob.core.windows.net/container": never a secret. */
const char *blob_describe(const blob_client *b);
/* Files above single_max bytes go up in blocks of block_size bytes (0 keeps a value). */
void blob_set_upload_sizes(blob_client *b, size_t single_max, size_t block_size);

TA_MUST_USE status blob_prepare(blob_client *b, errinfo *err);
TA_MUST_USE status blob_check(blob_client *b, errinfo *err);
TA_MUST_USE status blob_get(blob_client *b, const char *name, buf *out,
                            char etag_out[STORE_ETAG_MAX], errinfo *err);
TA_MUST_USE status blob_put(blob_client *b, const char *name, const void *data, size_t len,
                            const char *content_type, store_cond cond, const char *etag,
                            char etag_out[STORE_ETAG_MAX], errinfo *err);
TA_MUST_USE status blob_get_async(blob_client *b, const char *name, size_t max_bytes,
                                  store_got_fn got, void *ctx, errinfo *err);
/* Takes data (malloc'd), also on error; `done` is not called when this fails. */
TA_MUST_USE status blob_put_async(blob_client *b, const char *name, char *data, size_t len,
                                  const char *content_type, store_cond cond, const char *etag,
                                  store_done_fn done, void *ctx, errinfo *err);
TA_MUST_USE status blob_put_file(blob_client *b, const char *name, const char *path,
                                 const char *content_type, size_t *bytes_out, errinfo *err);

/* List Blobs with prefix, every page (NextMarker), calling fn per blob. */
TA_MUST_USE status blob_list(blob_client *b, const char *prefix, store_list_fn fn, void *ctx,
                             errinfo *err);
/* Delete Blob; ST_OK when it is already gone (404). */
TA_MUST_USE status blob_delete(blob_client *b, const char *name, errinfo *err);
/* Get Blob in ranges of block_size bytes into the file path, If-Match the first
 * range's ETag so that every range comes from one version. */
TA_MUST_USE status blob_get_file(blob_client *b, const char *name, const char *path,
                                 uint64_t *bytes_out, errinfo *err);
/* Pure parts of List Blobs, exposed for tests: the blobs of one answer page (names
 * and Content-Length, XML entities decoded) and its NextMarker (empty at the end),
 * read from untrusted XML. */
TA_MUST_USE status blob_list_parse(const char *xml, size_t n, store_list_fn fn, void *ctx,
                                   buf *next_marker, errinfo *err);

/* Pure parts, exposed for tests. */

/* Appends endpoint "/" container ["/" name, each segment percent-encoded, '/' kept]
 * ["?" query] and the SAS (joined with '&' when there is a query) to out. */
TA_MUST_USE status blob_build_url(buf *out, const char *endpoint, const char *container,
                                  const char *name, const char *query, const char *sas,
                                  errinfo *err);
/* The base64 block id of block `index`: every id has the same length. */
void blob_block_id(unsigned index, char out[BLOB_BLOCK_ID_MAX]);
/* The Put Block List body naming blocks 0..nblocks-1 as Latest. */
TA_MUST_USE status blob_block_list_xml(buf *out, unsigned nblocks, errinfo *err);
/* Base64 of the MD5 of data, for Content-MD5 (25 bytes with the NUL). */
void blob_content_md5(const void *data, size_t len, char out[32]);

#endif

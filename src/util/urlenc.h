/* Text encodings for URLs and tokens: percent-encoding of query values, path
 * segments and form fields, the OData string literal of a $filter, the {upn}
 * folder name of docs/format.md, and base64 / base64url.
 *
 * Every function appends to a caller-owned buf (src/util/buf.h) and fails only
 * when the buffer cannot grow (ST_NOMEM, ST_TOO_LARGE) or, for the decoders, on
 * malformed input (ST_DATA). Escapes are written with upper-case hex digits. */
#ifndef TA_URLENC_H
#define TA_URLENC_H

#include <stddef.h>

#include "status.h"
#include "util/buf.h"

/* A query value: every byte but the RFC 3986 unreserved ones (A-Z a-z 0-9 - . _ ~)
 * is percent-encoded ("a b&c" -> "a%20b%26c"). */
TA_MUST_USE status urlenc_query(buf *out, const char *s, errinfo *err);
/* The same over s[0..n). */
TA_MUST_USE status urlenc_query_n(buf *out, const char *s, size_t n, errinfo *err);
/* A path segment: like urlenc_query but '@' is kept ("/users/a@b.com"); a segment
 * that is "." or ".." has its dots encoded, so no dot segment can form. */
TA_MUST_USE status urlenc_path_segment(buf *out, const char *s, errinfo *err);
/* An OData string literal for $filter, as a query value: a ' inside is doubled,
 * then the whole value is encoded with urlenc_query and wrapped in quotes:
 *   https://x/a%3a?b  ->  'https%3A%2F%2Fx%2Fa%253a%3Fb'
 * The join URL Graph returns is already percent-encoded inside; this encodes it
 * once more, as Graph expects (microsoft-graph.md section 3.1). */
TA_MUST_USE status urlenc_odata_string(buf *out, const char *value, errinfo *err);
/* The {upn} folder name: ASCII lower-cased; every byte outside a-z 0-9 . _ @ -
 * percent-encoded ("Ann+X@Contoso.com" -> "ann%2Bx@contoso.com"). */
TA_MUST_USE status urlenc_upn_folder(buf *out, const char *upn, errinfo *err);
/* Appends one application/x-www-form-urlencoded field, "&name=value" (no '&'
 * when out is empty); name and value are encoded like urlenc_query. */
TA_MUST_USE status urlenc_form_field(buf *out, const char *name, const char *value, errinfo *err);
/* Decodes %XX escapes over s[0..n) ('+' becomes a space when plus_is_space).
 * A bad escape is ST_DATA. */
TA_MUST_USE status urlenc_decode(buf *out, const char *s, size_t n, int plus_is_space,
                                 errinfo *err);

/* Base64 with '=' padding (RFC 4648 section 4). */
TA_MUST_USE status urlenc_base64(buf *out, const void *data, size_t n, errinfo *err);
/* Base64url without padding (RFC 4648 section 5), as JWTs use it. */
TA_MUST_USE status urlenc_base64url(buf *out, const void *data, size_t n, errinfo *err);
/* Decodes base64 or base64url (either alphabet, padding optional, no spaces).
 * Bad input is ST_DATA. */
TA_MUST_USE status urlenc_base64_decode(buf *out, const char *s, size_t n, errinfo *err);

#endif

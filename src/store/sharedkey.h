/* Shared Key authorization for the Blob service (version 2009-09-19 and later):
 * the string-to-sign built from a request's method, URL, headers and body
 * length, and its HMAC-SHA256 signature under the account key.
 *
 * Pure functions, no I/O; the key is given decoded (sharedkey_key_decode). */
#ifndef TA_SHAREDKEY_H
#define TA_SHAREDKEY_H

#include <curl/curl.h>
#include <stddef.h>
#include <time.h>

#include "status.h"
#include "util/buf.h"

#define SHAREDKEY_KEY_MAX 128 /* decoded account key bytes (Azure's are 64) */
#define SHAREDKEY_SIG_MAX 48  /* base64 of a SHA-256 MAC, with its NUL */
#define SHAREDKEY_DATE_MAX 32 /* "Mon, 01 Jan 2024 00:00:00 GMT" with its NUL */

/* Decodes a base64 account key into key (SHAREDKEY_KEY_MAX bytes). The message
 * of an error never contains the key. */
TA_MUST_USE status sharedkey_key_decode(const char *b64, unsigned char *key, size_t *keylen,
                                        errinfo *err);

/* Appends the string-to-sign to out (which is not cleared). Header lines are curl's
 * "Name: value" ("Name:" means not sent, "Name;" means sent empty); `extra` is a
 * second list read after `headers` (e.g. the attempt's x-ms-date), either may be
 * NULL. content_length is the body length (0 is signed as the empty string).
 * The canonicalized resource is "/" + account + the URL's path exactly as sent,
 * then the query parameters, names lower-cased and sorted, values decoded. */
TA_MUST_USE status sharedkey_string_to_sign(const char *method, const char *url,
                                            const struct curl_slist *headers,
                                            const struct curl_slist *extra, size_t content_length,
                                            const char *account, buf *out, errinfo *err);

/* Base64(HMAC-SHA256(key, string_to_sign)) into sig. */
TA_MUST_USE status sharedkey_sign(const unsigned char *key, size_t keylen, const char *sts,
                                  size_t stslen, char sig[SHAREDKEY_SIG_MAX], errinfo *err);

/* Formats t as an RFC 1123 date in GMT for x-ms-date. */
void sharedkey_date(time_t t, char out[SHAREDKEY_DATE_MAX]);

#endif

/* The signed client assertion of Entra's certificate credential: a JWT with
 * header {"alg":"PS256","typ":"JWT","x5t#S256":...} and claims aud (the token
 * endpoint URL), iss = sub = the client id, jti (a random GUID), nbf = iat = now
 * and exp = now + 600 s, signed with RSA-PSS over SHA-256 (salt length 32).
 *
 * jwt_load_pem reads a PEM file holding an unencrypted RSA private key and its
 * certificate; the caller frees the key with EVP_PKEY_free. */
#ifndef TA_JWT_H
#define TA_JWT_H

#include <stdint.h>

#include <openssl/evp.h>

#include "status.h"
#include "util/buf.h"

#define JWT_LIFETIME_S 600
/* base64url of a SHA-256 digest: 43 characters and a NUL */
#define JWT_X5T_MAX 48

/* Loads the key and the certificate's x5t#S256 thumbprint from a PEM file.
 * `setting` names the variable for messages (AZURE_CLIENT_CERTIFICATE_PATH). */
TA_MUST_USE status jwt_load_pem(const char *path, const char *setting, EVP_PKEY **key,
                                char x5t_s256[JWT_X5T_MAX], errinfo *err);
/* Appends the signed assertion to out. */
TA_MUST_USE status jwt_client_assertion(buf *out, EVP_PKEY *key, const char *x5t_s256,
                                        const char *aud, const char *client_id, int64_t now_s,
                                        errinfo *err);
/* A random (version 4) GUID, lower-case, 36 characters and a NUL. */
TA_MUST_USE status jwt_guid(char out[37], errinfo *err);

#endif

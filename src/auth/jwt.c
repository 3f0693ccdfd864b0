/* Client assertion JWTs for Entra's certificate credential: see jwt.h. */
#include "auth/jwt.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "util/urlenc.h"

/* Refuses to prompt for a pass phrase: the job runs unattended. */
static int no_passphrase(char *b, int size, int rwflag, void *u)
{
    (void)b;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int file_mentions(const char *path, const char *word)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, word) != NULL;
    fclose(f);
    return found;
}

status jwt_load_pem(const char *path, const char *setting, EVP_PKEY **key,
                    char x5t_s256[JWT_X5T_MAX], errinfo *err)
{
    status st = ST_OK;
    EVP_PKEY *k = NULL;
    X509 *cert = NULL;
    unsigned char *der = NULL;
    buf b;
    buf_init(&b, 0);
    BIO *bio = BIO_new_file(path, "rb");
    if (!bio) {
        st = err_set(err, ST_CONFIG, "%s: cannot open the certificate file", setting);
        goto out;
    }
    k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (!k) {
        st = file_mentions(path, "ENCRYPTED")
                 ? err_set(err, ST_CONFIG,
                           "%s: the private key is encrypted; give a PEM with an unencrypted key "
                           "(openssl pkey -in key.pem -out plain.pem)",
                           setting)
                 : err_set(err, ST_CONFIG,
                           "%s: no private key found; the PEM file must hold the key and the "
                           "certificate",
                           setting);
        goto out;
    }
    if (EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
        st = err_set(err, ST_CONFIG,
                     "%s: the private key is not RSA; Entra certificate credentials sign with "
                     "RSA (PS256)",
                     setting);
        goto out;
    }
    bio = BIO_new_file(path, "rb");
    if (bio) {
        cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
    }
    if (!cert) {
        st = err_set(err, ST_CONFIG,
                     "%s: no certificate found; the PEM file must hold the key and the "
                     "certificate",
                     setting);
        goto out;
    }
    if (X509_check_private_key(cert, k) != 1) {
        st = err_set(err, ST_CONFIG,
                     "%s: the first certificate in the file does not match the private key",
                     setting);
        goto out;
    }
    int len = i2d_X509(cert, &der);
    if (len <= 0) {
        st = err_set(err, ST_CONFIG, "%s: cannot encode the certificate", setting);
        goto out;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(der, (size_t)len, digest);
    if ((st = urlenc_base64url(&b, digest, sizeof digest, err)) != ST_OK)
        goto out;
    snprintf(x5t_s256, JWT_X5T_MAX, "%s", b.data);
    *key = k;
    k = NULL;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    X509_free(cert);
    EVP_PKEY_free(k);
    buf_dispose(&b);
    return st;
}

status jwt_guid(char out[37], errinfo *err)
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        return err_set(err, ST_INTERNAL, "no random bytes for a GUID");
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
    return ST_OK;
}

/* Appends base64url(JSON of obj). */
static status append_json_b64(buf *out, json_t *obj, errinfo *err)
{
    if (!obj)
        return err_set(err, ST_NOMEM, "out of memory building a JWT");
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        return err_set(err, ST_NOMEM, "out of memory building a JWT");
    status st = urlenc_base64url(out, s, strlen(s), err);
    free(s);
    return st;
}

status jwt_client_assertion(buf *out, EVP_PKEY *key, const char *x5t_s256, const char *aud,
                            const char *client_id, int64_t now_s, errinfo *err)
{
    char jti[37];
    status st = jwt_guid(jti, err);
    if (st != ST_OK)
        return st;
    size_t start = out->len;
    json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", "PS256", "typ", "JWT", "x5t#S256", x5t_s256);
    json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "aud", aud, "iss", client_id,
                               "sub", client_id, "jti", jti, "nbf", (json_int_t)now_s, "iat",
                               (json_int_t)now_s, "exp", (json_int_t)(now_s + JWT_LIFETIME_S));
    EVP_MD_CTX *md = NULL;
    unsigned char *sig = NULL;
    st = append_json_b64(out, hdr, err);
    if (st == ST_OK)
        st = buf_append(out, ".", 1, err);
    if (st == ST_OK)
        st = append_json_b64(out, claims, err);
    if (st != ST_OK)
        goto out;

    EVP_PKEY_CTX *pctx = NULL;
    size_t siglen = 0;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)out->data + start,
                       out->len - start) != 1 ||
        !(sig = OPENSSL_malloc(siglen)) ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out->data + start,
                       out->len - start) != 1) {
        st = err_set(err, ST_INTERNAL, "cannot sign the client assertion (OpenSSL)");
        goto out;
    }
    st = buf_append(out, ".", 1, err);
    if (st == ST_OK)
        st = urlenc_base64url(out, sig, siglen, err);
out:
    ERR_clear_error();
    OPENSSL_free(sig);
    EVP_MD_CTX_free(md);
    json_decref(hdr);
    json_decref(claims);
    if (st != ST_OK) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return st;
}

/*
 * jws: base64url (lib/base64's, allocated) and the JWS signature algorithms
 * (RFC 7515, 7518) on top of OpenSSL EVP. ES signatures travel as raw r||s
 * of fixed width, not DER.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "base64.h"
#include "identity_int.h"

static const aigov_jwa_t jwa_table[] = {
    { "RS256", AIGOV_KTY_RSA, "SHA256", 0, 0, NULL },
    { "RS384", AIGOV_KTY_RSA, "SHA384", 0, 0, NULL },
    { "RS512", AIGOV_KTY_RSA, "SHA512", 0, 0, NULL },
    { "PS256", AIGOV_KTY_RSA, "SHA256", 0, 1, NULL },
    { "PS384", AIGOV_KTY_RSA, "SHA384", 0, 1, NULL },
    { "PS512", AIGOV_KTY_RSA, "SHA512", 0, 1, NULL },
    { "ES256", AIGOV_KTY_EC,  "SHA256", 32, 0, NULL },
    { "ES384", AIGOV_KTY_EC,  "SHA384", 48, 0, NULL },
    { "ES512", AIGOV_KTY_EC,  "SHA512", 66, 0, NULL },
    { "HS256", AIGOV_KTY_OCT, "SHA256", 32, 0, NULL },
    { "HS384", AIGOV_KTY_OCT, "SHA384", 48, 0, NULL },
    { "HS512", AIGOV_KTY_OCT, "SHA512", 64, 0, NULL },
    /* EdDSA hashes inside the signature: no digest is named */
    { "EdDSA",   AIGOV_KTY_OKP, NULL, 0, 0, NULL },
    { "Ed25519", AIGOV_KTY_OKP, NULL, 64, 0, "Ed25519" },
    { "Ed448",   AIGOV_KTY_OKP, NULL, 114, 0, "Ed448" },
};

const aigov_jwa_t *aigov_jwa_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(jwa_table) / sizeof(jwa_table[0]); i++)
        if (strcmp(jwa_table[i].name, name) == 0)
            return &jwa_table[i];
    return NULL;
}

const char *aigov_kty_name(aigov_kty_t kty)
{
    switch (kty) {
    case AIGOV_KTY_RSA: return "RSA";
    case AIGOV_KTY_EC:  return "EC";
    case AIGOV_KTY_OCT: return "oct";
    case AIGOV_KTY_OKP: return "OKP";
    }
    return "?";
}

/* The JOSE spelling (RFC 7515 2): base64url without '=', strict. */
#define B64URL (AIGOV_B64_URL | AIGOV_B64_NOPAD)

int aigov_id_b64url_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
    unsigned char *buf;
    long           n;

    *out = NULL;
    *outlen = 0;
    /* 3 bytes per 4 letters, at most 2 for a tail, and the NUL */
    if ((buf = malloc(len / 4 * 3 + 3)) == NULL)
        return -2;
    if ((n = aigov_b64_decode(s, len, buf, len / 4 * 3 + 2, B64URL)) < 0) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = (size_t) n;
    return 0;
}

char *aigov_id_b64url_encode(const unsigned char *p, size_t len)
{
    char *out = malloc(AIGOV_B64_ROOM(len));

    if (out != NULL)
        aigov_b64_encode(p, len, out, B64URL);
    return out;
}

static int hmac(const aigov_jwk_t *k, const aigov_jwa_t *alg,
                const unsigned char *input, size_t inlen,
                unsigned char *mac, unsigned int *maclen)
{
    const EVP_MD *md = EVP_get_digestbyname(alg->md);
    if (md == NULL || k->secret == NULL || k->secret_len > INT32_MAX)
        return -1;
    if (HMAC(md, k->secret, (int) k->secret_len, input, inlen, mac, maclen) == NULL)
        return -1;
    return 0;
}

/* Raw r||s (each coordinate `size` bytes) to the DER that EVP expects. */
static unsigned char *ecdsa_raw_to_der(const unsigned char *sig, size_t size, int *derlen)
{
    unsigned char *der = NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int) size, NULL);
    BIGNUM *s = BN_bin2bn(sig + size, (int) size, NULL);
    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return NULL;
    }
    *derlen = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (*derlen <= 0) {
        OPENSSL_free(der);
        return NULL;
    }
    return der;
}

/* RFC 7518 3.5: MGF1 with the same hash, and a salt as long as the hash.
 * The salt length is fixed for verifying too, so that a signature made with
 * another salt length (which OpenSSL would accept by default) is refused. */
static int pss_params(EVP_PKEY_CTX *pctx, const aigov_jwa_t *alg)
{
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
        && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1
        && EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, alg->md, NULL) == 1;
}

static int evp_verify(const aigov_jwk_t *k, const aigov_jwa_t *alg,
                      const unsigned char *input, size_t inlen,
                      const unsigned char *sig, size_t siglen)
{
    int ok = 0;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return 0;
    if (EVP_DigestVerifyInit_ex(ctx, &pctx, alg->md, NULL, NULL, k->pkey, NULL) == 1
        && (!alg->pss || pss_params(pctx, alg)))
        ok = EVP_DigestVerify(ctx, sig, siglen, input, inlen) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* The signature length of an OKP key's curve. */
static size_t eddsa_size(const aigov_jwk_t *k)
{
    return k->curve != NULL && strcmp(k->curve, "Ed448") == 0 ? 114 : 64;
}

int aigov_jws_verify(const aigov_jwk_t *k, const aigov_jwa_t *alg,
                     const unsigned char *input, size_t inlen,
                     const unsigned char *sig, size_t siglen)
{
    int ok = 0;
    if (k == NULL || alg == NULL || k->kty != alg->kty)
        return 0;
    switch (alg->kty) {
    case AIGOV_KTY_OCT: {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        if (hmac(k, alg, input, inlen, mac, &maclen) == 0 && siglen == maclen)
            ok = CRYPTO_memcmp(mac, sig, maclen) == 0;
        OPENSSL_cleanse(mac, sizeof(mac));
        break;
    }
    case AIGOV_KTY_RSA:
        if (k->pkey != NULL && siglen == (size_t) EVP_PKEY_get_size(k->pkey))
            ok = evp_verify(k, alg, input, inlen, sig, siglen);
        break;
    case AIGOV_KTY_EC:
        if (k->pkey != NULL && siglen == 2 * alg->size) {
            int derlen = 0;
            unsigned char *der = ecdsa_raw_to_der(sig, alg->size, &derlen);
            if (der != NULL)
                ok = evp_verify(k, alg, input, inlen, der, (size_t) derlen);
            OPENSSL_free(der);
        }
        break;
    case AIGOV_KTY_OKP:
        if (k->pkey != NULL && siglen == eddsa_size(k))
            ok = evp_verify(k, alg, input, inlen, sig, siglen);
        break;
    }
    /* nginx reads the same thread's error queue for its own TLS work. */
    ERR_clear_error();
    return ok;
}

static int evp_sign(const aigov_jwk_t *k, const aigov_jwa_t *alg,
                    const unsigned char *input, size_t inlen,
                    unsigned char **sig, size_t *siglen)
{
    int rc = -1;
    size_t len = 0;
    unsigned char *buf = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return -1;
    if (EVP_DigestSignInit_ex(ctx, &pctx, alg->md, NULL, NULL, k->pkey, NULL) == 1
        && (!alg->pss || pss_params(pctx, alg))
        && EVP_DigestSign(ctx, NULL, &len, input, inlen) == 1
        && (buf = malloc(len ? len : 1)) != NULL
        && EVP_DigestSign(ctx, buf, &len, input, inlen) == 1) {
        *sig = buf;
        *siglen = len;
        buf = NULL;
        rc = 0;
    }
    free(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int aigov_jws_sign(const aigov_jwk_t *k, const aigov_jwa_t *alg,
                   const unsigned char *input, size_t inlen,
                   unsigned char **sig, size_t *siglen)
{
    int rc = -1;
    *sig = NULL;
    *siglen = 0;
    if (k == NULL || alg == NULL || k->kty != alg->kty || !k->is_private)
        return -1;
    switch (alg->kty) {
    case AIGOV_KTY_OCT: {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        if (hmac(k, alg, input, inlen, mac, &maclen) == 0
            && (*sig = malloc(maclen)) != NULL) {
            memcpy(*sig, mac, maclen);
            *siglen = maclen;
            rc = 0;
        }
        OPENSSL_cleanse(mac, sizeof(mac));
        break;
    }
    case AIGOV_KTY_RSA:
    case AIGOV_KTY_OKP:
        rc = evp_sign(k, alg, input, inlen, sig, siglen);
        break;
    case AIGOV_KTY_EC: {
        unsigned char *der = NULL;
        size_t derlen = 0;
        if (evp_sign(k, alg, input, inlen, &der, &derlen) != 0)
            break;
        const unsigned char *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long) derlen);
        unsigned char *raw = malloc(2 * alg->size);
        if (es != NULL && raw != NULL
            && BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int) alg->size) == (int) alg->size
            && BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + alg->size, (int) alg->size) == (int) alg->size) {
            *sig = raw;
            *siglen = 2 * alg->size;
            raw = NULL;
            rc = 0;
        }
        free(raw);
        ECDSA_SIG_free(es);
        free(der);
        break;
    }
    }
    ERR_clear_error();
    return rc;
}

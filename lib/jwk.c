/*
 * jwk: keys from PEM text or JWKS / JWK JSON (RFC 7517, 7518 section 6,
 * RFC 8037), turned into OpenSSL EVP_PKEYs (RSA, EC, Ed25519/Ed448) or raw
 * secrets (oct).
 *
 * libjwt 1.10 knows neither JWKS nor key checks, so keys are built here with
 * OpenSSL 3's EVP_PKEY_fromdata and checked once at load time: RSA at least
 * 2048 bits, EC only on P-256/384/521, OKP only Ed25519/Ed448, oct at least
 * 32 bytes. In a JWKS a key that fails these checks, or that is not meant
 * for signatures (use, key_ops, an encryption alg), is skipped with a
 * notice; the file fails only when no key is left.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "errbuf.h"
#include "identity_int.h"

#define RSA_MIN_BITS   2048
#define RSA_MAX_BITS   16384     /* bigger keys only make verification slow */
#define OCT_MIN_BYTES  32
#define MAX_KEYS_PER_FILE 256

void aigov_jwk_clear(aigov_jwk_t *k)
{
    if (k == NULL)
        return;
    free(k->kid);
    free(k->label);
    EVP_PKEY_free(k->pkey);
    if (k->secret != NULL) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }
    memset(k, 0, sizeof(*k));
}

/* "EdDSA" names the scheme and the key's curve picks the variant, so a key
 * whose JWK says "EdDSA" also takes the fully-specified name of its curve
 * (RFC 9864), and the other way round. */
static int same_alg(const aigov_jwk_t *k, const aigov_jwa_t *a, const aigov_jwa_t *b)
{
    if (a == b)
        return 1;
    return k->kty == AIGOV_KTY_OKP && a->kty == AIGOV_KTY_OKP && b->kty == AIGOV_KTY_OKP
        && (a->curve == NULL || strcmp(a->curve, k->curve) == 0)
        && (b->curve == NULL || strcmp(b->curve, k->curve) == 0);
}

int aigov_jwk_allows(const aigov_jwk_t *k, const aigov_jwa_t *alg, char *why, size_t whylen)
{
    const char *kty = aigov_kty_name(k->kty);
    if (alg->kty != k->kty) {
        aigov_errorf(why, whylen, "algorithm %s is not allowed for %s key '%s'", alg->name, kty, k->label);
        return 0;
    }
    if (k->alg != NULL && !same_alg(k, k->alg, alg)) {
        aigov_errorf(why, whylen, "algorithm %s is not allowed for %s key '%s' (its alg is %s)",
               alg->name, kty, k->label, k->alg->name);
        return 0;
    }
    if (k->pss_only && !alg->pss) {
        aigov_errorf(why, whylen, "algorithm %s is not allowed for RSA-PSS key '%s' (PS256, PS384 "
                     "and PS512 are)", alg->name, k->label);
        return 0;
    }
    if (k->kty == AIGOV_KTY_EC && k->curve_alg != alg) {
        aigov_errorf(why, whylen, "algorithm %s is not allowed for EC key '%s' (its curve needs %s)",
               alg->name, k->label, k->curve_alg->name);
        return 0;
    }
    if (k->kty == AIGOV_KTY_OKP && alg->curve != NULL && strcmp(alg->curve, k->curve) != 0) {
        aigov_errorf(why, whylen, "algorithm %s is not allowed for OKP key '%s' (its curve is %s)",
               alg->name, k->label, k->curve);
        return 0;
    }
    if (k->kty == AIGOV_KTY_OCT && k->secret_len < alg->size) {
        aigov_errorf(why, whylen, "algorithm %s needs a secret of at least %zu bytes; oct key '%s' has %zu",
               alg->name, alg->size, k->label, k->secret_len);
        return 0;
    }
    return 1;
}

/* Check an RSA, EC or Edwards-curve key and fill kty / curve_alg / curve. */
static int check_pkey(aigov_jwk_t *k, char *why, size_t whylen)
{
    EVP_PKEY *p = k->pkey;
    int pss = EVP_PKEY_is_a(p, "RSA-PSS");
    if (EVP_PKEY_is_a(p, "RSA") || pss) {
        int bits = EVP_PKEY_get_bits(p);
        if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
            aigov_errorf(why, whylen, "RSA key has %d bits; %d to %d are accepted", bits, RSA_MIN_BITS, RSA_MAX_BITS);
            return -1;
        }
        k->kty = AIGOV_KTY_RSA;
        /* a key certified for PSS only (id-RSASSA-PSS) must not sign PKCS#1 v1.5 */
        k->pss_only = pss;
        return 0;
    }
    if (EVP_PKEY_is_a(p, "ED25519") || EVP_PKEY_is_a(p, "ED448")) {
        k->kty = AIGOV_KTY_OKP;
        k->curve = EVP_PKEY_is_a(p, "ED25519") ? "Ed25519" : "Ed448";
        return 0;
    }
    if (EVP_PKEY_is_a(p, "X25519") || EVP_PKEY_is_a(p, "X448")) {
        aigov_errorf(why, whylen, "key type %s is for key agreement, not signatures",
                     EVP_PKEY_is_a(p, "X25519") ? "X25519" : "X448");
        return -1;
    }
    if (EVP_PKEY_is_a(p, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        if (!EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen))
            group[0] = '\0';
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            k->curve_alg = aigov_jwa_find("ES256");
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            k->curve_alg = aigov_jwa_find("ES384");
        else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
            k->curve_alg = aigov_jwa_find("ES512");
        else {
            aigov_errorf(why, whylen, "EC curve '%s' is not supported (P-256, P-384 and P-521 are)",
                   group[0] ? group : "explicit parameters");
            return -1;
        }
        k->kty = AIGOV_KTY_EC;
        return 0;
    }
    const char *t = EVP_PKEY_get0_type_name(p);
    aigov_errorf(why, whylen, "key type %s is not supported (RSA, EC, Ed25519 and Ed448 are)",
                 t ? t : "unknown");
    return -1;
}

/* Append to a growing key array; -2 when out of memory. */
static int push_key(aigov_jwk_t **keys, size_t *n, size_t *cap, aigov_jwk_t *k)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        aigov_jwk_t *nk = realloc(*keys, nc * sizeof(*nk));
        if (nk == NULL)
            return -2;
        *keys = nk;
        *cap = nc;
    }
    (*keys)[(*n)++] = *k;
    memset(k, 0, sizeof(*k));
    return 0;
}

static int load_pem(const char *data, size_t len, const char *name, int want_private,
                    aigov_jwk_t **keys, size_t *n, size_t *cap, char *err, size_t errlen)
{
    int rc = 0, count = 0;
    char why[256];
    if (len > INT32_MAX)
        return -1;
    BIO *bio = BIO_new_mem_buf(data, (int) len);
    if (bio == NULL)
        return -2;
    for (;;) {
        char *pem_name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long derlen = 0;
        if (!PEM_read_bio(bio, &pem_name, &header, &der, &derlen))
            break;
        aigov_jwk_t k;
        memset(&k, 0, sizeof(k));
        const unsigned char *p = der;
        why[0] = '\0';
        if (strcmp(pem_name, "PUBLIC KEY") == 0) {
            k.pkey = d2i_PUBKEY(NULL, &p, derlen);
        } else if (strcmp(pem_name, "RSA PUBLIC KEY") == 0) {
            k.pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, derlen);
        } else if (strcmp(pem_name, "CERTIFICATE") == 0) {
            X509 *x = d2i_X509(NULL, &p, derlen);
            if (x != NULL)
                k.pkey = X509_get_pubkey(x);
            X509_free(x);
        } else if (strstr(pem_name, "PRIVATE KEY") != NULL) {
            if (!want_private)
                snprintf(why, sizeof(why), "is a private key; give the public key "
                         "(openssl pkey -in KEY -pubout)");
            else if (strstr(pem_name, "ENCRYPTED") != NULL)
                snprintf(why, sizeof(why), "private key is encrypted; decrypt it first");
            else {
                k.pkey = d2i_AutoPrivateKey(NULL, &p, derlen);
                k.is_private = 1;
            }
        } else if (strcmp(pem_name, "EC PARAMETERS") == 0) {
            /* `openssl ecparam -genkey` writes these before the key */
            OPENSSL_free(pem_name);
            OPENSSL_free(header);
            OPENSSL_free(der);
            continue;
        } else {
            snprintf(why, sizeof(why), "PEM block '%.40s' is not a key", pem_name);
        }
        OPENSSL_free(pem_name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        count++;
        if (why[0] == '\0' && k.pkey == NULL)
            snprintf(why, sizeof(why), "key %d cannot be decoded", count);
        if (why[0] == '\0' && check_pkey(&k, why, sizeof(why)) != 0) {
            /* why set */
        }
        if (why[0] != '\0') {
            aigov_errorf(err, errlen, "%s: %s", name, why);
            aigov_jwk_clear(&k);
            rc = -1;
            break;
        }
        if (count == 1)
            k.label = strdup(name);
        else {
            size_t l = strlen(name) + 32;
            k.label = malloc(l);
            if (k.label)
                snprintf(k.label, l, "%s#%d", name, count);
        }
        if (k.label == NULL || push_key(keys, n, cap, &k) != 0) {
            aigov_jwk_clear(&k);
            rc = -2;
            break;
        }
    }
    BIO_free(bio);
    if (rc == 0 && count == 0) {
        aigov_errorf(err, errlen, "%s: no PEM key found", name);
        rc = -1;
    }
    ERR_clear_error();
    return rc;
}

/* A JWK member holding base64url: NULL when absent; *bad when not a string
 * or not base64url. */
static unsigned char *jwk_bytes(json_t *jwk, const char *member, size_t *len, int *bad)
{
    json_t *v = json_object_get(jwk, member);
    unsigned char *out = NULL;
    *len = 0;
    if (v == NULL)
        return NULL;
    if (!json_is_string(v)
        || aigov_id_b64url_decode(json_string_value(v), json_string_length(v), &out, len) != 0
        || *len == 0) {
        free(out);
        *bad = 1;
        return NULL;
    }
    return out;
}

static int push_bn(OSSL_PARAM_BLD *bld, const char *param, json_t *jwk, const char *member,
                   BIGNUM **bns, int *nbn, char *why, size_t whylen, int required)
{
    size_t len;
    int bad = 0;
    unsigned char *b = jwk_bytes(jwk, member, &len, &bad);
    if (b == NULL) {
        if (bad || required) {
            aigov_errorf(why, whylen, bad ? "member '%s' is not base64url" : "member '%s' is missing", member);
            return -1;
        }
        return 0;
    }
    BIGNUM *bn = BN_bin2bn(b, (int) len, NULL);
    OPENSSL_cleanse(b, len);
    free(b);
    if (bn == NULL || !OSSL_PARAM_BLD_push_BN(bld, param, bn)) {
        BN_clear_free(bn);
        aigov_errorf(why, whylen, "out of memory");
        return -1;
    }
    bns[(*nbn)++] = bn;
    return 1;
}

static EVP_PKEY *fromdata(const char *type, OSSL_PARAM_BLD *bld, int selection)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &pkey, selection, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

/* A key whose numbers do not make a valid public key (n even, point off the
 * curve) is refused here rather than failing every token later. */
static int public_check(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int jwk_rsa(aigov_jwk_t *k, json_t *jwk, int want_private, char *why, size_t whylen)
{
    static const char *priv[][2] = {
        { OSSL_PKEY_PARAM_RSA_D, "d" }, { OSSL_PKEY_PARAM_RSA_FACTOR1, "p" },
        { OSSL_PKEY_PARAM_RSA_FACTOR2, "q" }, { OSSL_PKEY_PARAM_RSA_EXPONENT1, "dp" },
        { OSSL_PKEY_PARAM_RSA_EXPONENT2, "dq" }, { OSSL_PKEY_PARAM_RSA_COEFFICIENT1, "qi" },
    };
    BIGNUM *bns[8];
    int nbn = 0, rc = -1, has_d = 0;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld == NULL) {
        aigov_errorf(why, whylen, "out of memory");
        return -1;
    }
    if (push_bn(bld, OSSL_PKEY_PARAM_RSA_N, jwk, "n", bns, &nbn, why, whylen, 1) < 0
        || push_bn(bld, OSSL_PKEY_PARAM_RSA_E, jwk, "e", bns, &nbn, why, whylen, 1) < 0)
        goto done;
    if (want_private && json_object_get(jwk, "d") != NULL) {
        for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
            if (push_bn(bld, priv[i][0], jwk, priv[i][1], bns, &nbn, why, whylen, i == 0) < 0)
                goto done;
        has_d = 1;
    }
    k->pkey = fromdata("RSA", bld, has_d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    if (k->pkey == NULL || !public_check(k->pkey)) {
        aigov_errorf(why, whylen, "RSA numbers do not make a valid key");
        goto done;
    }
    k->is_private = has_d;
    rc = check_pkey(k, why, whylen);
done:
    for (int i = 0; i < nbn; i++)
        BN_clear_free(bns[i]);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

static int jwk_ec(aigov_jwk_t *k, json_t *jwk, int want_private, char *why, size_t whylen)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *group;
    const aigov_jwa_t *alg;
    if (crv == NULL) {
        aigov_errorf(why, whylen, "EC key has no 'crv'");
        return -1;
    }
    if (strcmp(crv, "P-256") == 0) {
        group = "prime256v1"; alg = aigov_jwa_find("ES256");
    } else if (strcmp(crv, "P-384") == 0) {
        group = "secp384r1"; alg = aigov_jwa_find("ES384");
    } else if (strcmp(crv, "P-521") == 0) {
        group = "secp521r1"; alg = aigov_jwa_find("ES512");
    } else {
        aigov_errorf(why, whylen, "EC curve '%.20s' is not supported (P-256, P-384 and P-521 are)", crv);
        return -1;
    }
    size_t xlen, ylen;
    int bad = 0, rc = -1;
    unsigned char *x = jwk_bytes(jwk, "x", &xlen, &bad);
    unsigned char *y = jwk_bytes(jwk, "y", &ylen, &bad);
    unsigned char *pub = NULL;
    BIGNUM *d = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    if (x == NULL || y == NULL || xlen != alg->size || ylen != alg->size) {
        aigov_errorf(why, whylen, "EC key needs 'x' and 'y' of %zu bytes each, base64url", alg->size);
        goto done;
    }
    pub = malloc(1 + 2 * alg->size);
    bld = OSSL_PARAM_BLD_new();
    if (pub == NULL || bld == NULL) {
        aigov_errorf(why, whylen, "out of memory");
        goto done;
    }
    pub[0] = 0x04;      /* uncompressed point */
    memcpy(pub + 1, x, alg->size);
    memcpy(pub + 1 + alg->size, y, alg->size);
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * alg->size)) {
        aigov_errorf(why, whylen, "out of memory");
        goto done;
    }
    if (want_private && json_object_get(jwk, "d") != NULL) {
        size_t dlen;
        unsigned char *db = jwk_bytes(jwk, "d", &dlen, &bad);
        if (db == NULL || dlen != alg->size) {
            aigov_errorf(why, whylen, "EC key member 'd' must be %zu bytes, base64url", alg->size);
            if (db) {
                OPENSSL_cleanse(db, dlen);
                free(db);
            }
            goto done;
        }
        d = BN_bin2bn(db, (int) dlen, NULL);
        OPENSSL_cleanse(db, dlen);
        free(db);
        if (d == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)) {
            aigov_errorf(why, whylen, "out of memory");
            goto done;
        }
    }
    k->pkey = fromdata("EC", bld, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    if (k->pkey == NULL || !public_check(k->pkey)) {
        aigov_errorf(why, whylen, "EC point is not on curve %s", crv);
        goto done;
    }
    k->is_private = d != NULL;
    rc = check_pkey(k, why, whylen);
done:
    free(x);
    free(y);
    free(pub);
    BN_clear_free(d);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

static int jwk_oct(aigov_jwk_t *k, json_t *jwk, char *why, size_t whylen)
{
    int bad = 0;
    k->secret = jwk_bytes(jwk, "k", &k->secret_len, &bad);
    if (k->secret == NULL) {
        aigov_errorf(why, whylen, "oct key needs 'k', base64url");
        return -1;
    }
    if (k->secret_len < OCT_MIN_BYTES) {
        aigov_errorf(why, whylen, "oct key is %zu bytes; at least %d are needed", k->secret_len, OCT_MIN_BYTES);
        return -1;
    }
    k->kty = AIGOV_KTY_OCT;
    k->is_private = 1;
    return 0;
}

static int jwk_okp(aigov_jwk_t *k, json_t *jwk, int want_private, char *why, size_t whylen)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *type;
    size_t want, xlen, dlen = 0;
    int bad = 0, rc = -1;
    if (crv == NULL) {
        aigov_errorf(why, whylen, "OKP key has no 'crv'");
        return -1;
    }
    if (strcmp(crv, "Ed25519") == 0) {
        type = "ED25519"; want = 32;
    } else if (strcmp(crv, "Ed448") == 0) {
        type = "ED448"; want = 57;
    } else if (strcmp(crv, "X25519") == 0 || strcmp(crv, "X448") == 0) {
        aigov_errorf(why, whylen, "OKP curve %s is for key agreement, not signatures", crv);
        return -1;
    } else {
        aigov_errorf(why, whylen, "OKP curve '%.20s' is not supported (Ed25519 and Ed448 are)", crv);
        return -1;
    }
    unsigned char *x = jwk_bytes(jwk, "x", &xlen, &bad);
    unsigned char *d = NULL;
    if (x == NULL || xlen != want) {
        aigov_errorf(why, whylen, "OKP key needs 'x' of %zu bytes, base64url", want);
        goto done;
    }
    if (want_private && json_object_get(jwk, "d") != NULL) {
        d = jwk_bytes(jwk, "d", &dlen, &bad);
        if (d == NULL || dlen != want) {
            aigov_errorf(why, whylen, "OKP key member 'd' must be %zu bytes, base64url", want);
            goto done;
        }
        k->pkey = EVP_PKEY_new_raw_private_key_ex(NULL, type, NULL, d, dlen);
        /* the public half must be the one the JWK names */
        unsigned char pub[57];
        size_t publen = sizeof(pub);
        if (k->pkey != NULL && (!EVP_PKEY_get_raw_public_key(k->pkey, pub, &publen)
                                || publen != xlen || memcmp(pub, x, xlen) != 0)) {
            aigov_errorf(why, whylen, "OKP key's 'x' is not the public key of its 'd'");
            goto done;
        }
    } else {
        k->pkey = EVP_PKEY_new_raw_public_key_ex(NULL, type, NULL, x, xlen);
    }
    if (k->pkey == NULL) {
        aigov_errorf(why, whylen, "OKP key %s cannot be decoded", crv);
        goto done;
    }
    k->is_private = d != NULL;
    rc = check_pkey(k, why, whylen);
done:
    free(x);
    if (d != NULL) {
        OPENSSL_cleanse(d, dlen);
        free(d);
    }
    return rc;
}

/* JWE key management algorithms (RFC 7518 section 4): such a key decrypts,
 * it never signs. */
static int is_encryption_alg(const char *a)
{
    size_t n = strlen(a);
    return strncmp(a, "RSA-OAEP", 8) == 0 || strcmp(a, "RSA1_5") == 0
        || strncmp(a, "ECDH-ES", 7) == 0 || strncmp(a, "PBES2", 5) == 0
        || strcmp(a, "dir") == 0
        || (a[0] == 'A' && n >= 6 && strcmp(a + n - 2, "KW") == 0);
}

/* key_ops (RFC 7517 4.3): 1 when it lists op, 0 when it does not, -1 when
 * it is not an array of strings. Absent: every operation. */
static int key_ops_has(json_t *ops, const char *op)
{
    size_t i;
    json_t *v;
    int found = 0;
    if (!json_is_array(ops))
        return -1;
    json_array_foreach(ops, i, v) {
        if (!json_is_string(v))
            return -1;
        if (strcmp(json_string_value(v), op) == 0)
            found = 1;
    }
    return found;
}

/*
 * One JWK: 1 added, 0 skipped (why says why), -2 no memory. A key that
 * cannot verify signatures is skipped rather than failing its file: an
 * IdP's JWKS, copied as published, holds encryption keys and key types
 * beside the signing keys.
 */
static int load_jwk(json_t *jwk, int want_private, aigov_jwk_t *k, char *why, size_t whylen)
{
    if (!json_is_object(jwk)) {
        aigov_errorf(why, whylen, "is not a JSON object");
        return 0;
    }
    json_t *use = json_object_get(jwk, "use");
    json_t *ops = json_object_get(jwk, "key_ops");
    json_t *kid = json_object_get(jwk, "kid");
    json_t *alg = json_object_get(jwk, "alg");
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *op = want_private ? "sign" : "verify";
    if (use != NULL && !json_is_string(use)) {
        aigov_errorf(why, whylen, "'use' is not a string");
        return 0;
    }
    if (use != NULL && strcmp(json_string_value(use), "sig") != 0) {
        aigov_errorf(why, whylen, "its use is '%.20s', not 'sig'", json_string_value(use));
        return 0;
    }
    if (ops != NULL) {
        int has = key_ops_has(ops, op);
        if (has < 0) {
            aigov_errorf(why, whylen, "'key_ops' is not an array of strings");
            return 0;
        }
        if (has == 0) {
            aigov_errorf(why, whylen, "its key_ops do not include '%s'", op);
            return 0;
        }
    }
    if (kid != NULL && !json_is_string(kid)) {
        aigov_errorf(why, whylen, "'kid' is not a string");
        return 0;
    }
    if (kty == NULL) {
        aigov_errorf(why, whylen, "has no 'kty'");
        return 0;
    }
    if (alg != NULL) {
        const char *an = json_string_value(alg);
        k->alg = aigov_jwa_find(an);
        if (an != NULL && k->alg == NULL && is_encryption_alg(an)) {
            aigov_errorf(why, whylen, "its alg %.20s is an encryption algorithm", an);
            return 0;
        }
        if (k->alg == NULL) {
            aigov_errorf(why, whylen, "'alg' %.20s is not one of RS256/384/512, PS256/384/512, "
                         "ES256/384/512, EdDSA, Ed25519, Ed448, HS256/384/512",
                         an != NULL ? an : "(not a string)");
            return 0;
        }
    }
    int rc;
    if (strcmp(kty, "RSA") == 0)
        rc = jwk_rsa(k, jwk, want_private, why, whylen);
    else if (strcmp(kty, "EC") == 0)
        rc = jwk_ec(k, jwk, want_private, why, whylen);
    else if (strcmp(kty, "OKP") == 0)
        rc = jwk_okp(k, jwk, want_private, why, whylen);
    else if (strcmp(kty, "oct") == 0)
        rc = jwk_oct(k, jwk, why, whylen);
    else {
        aigov_errorf(why, whylen, "kty '%.20s' is not supported (RSA, EC, OKP and oct are)", kty);
        return 0;
    }
    if (rc != 0)
        return 0;
    if (k->alg != NULL && !aigov_jwk_allows(k, k->alg, NULL, 0)) {
        aigov_errorf(why, whylen, "'alg' %s does not fit a %s key", k->alg->name, kty);
        return 0;
    }
    if (kid != NULL && (k->kid = strdup(json_string_value(kid))) == NULL)
        return -2;
    return 1;
}

static int load_json(const char *data, size_t len, const char *name, int want_private,
                     aigov_jwk_t **keys, size_t *n, size_t *cap,
                     aigov_jwk_notice_fn notice, void *ndata, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *list = NULL;
    int rc = 0;
    size_t added = 0, skipped = 0;
    char why[256], first[320] = "", line[400];
    if (root == NULL) {
        aigov_errorf(err, errlen, "%s:%d:%d: %s", name, jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (json_is_object(root) && json_object_get(root, "keys") != NULL) {
        list = json_object_get(root, "keys");
        if (!json_is_array(list)) {
            aigov_errorf(err, errlen, "%s: 'keys' is not an array", name);
            json_decref(root);
            return -1;
        }
        json_incref(list);
    } else if (json_is_object(root) && json_object_get(root, "kty") != NULL) {
        list = json_array();
        if (list == NULL || json_array_append(list, root) != 0) {
            json_decref(list);
            json_decref(root);
            return -2;
        }
    } else {
        aigov_errorf(err, errlen, "%s: neither a JWKS ({\"keys\": [...]}) nor a JWK", name);
        json_decref(root);
        return -1;
    }
    if (json_array_size(list) > MAX_KEYS_PER_FILE) {
        aigov_errorf(err, errlen, "%s: more than %d keys", name, MAX_KEYS_PER_FILE);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
        json_t *jwk = json_array_get(list, i);
        aigov_jwk_t k;
        memset(&k, 0, sizeof(k));
        why[0] = '\0';
        int r = load_jwk(jwk, want_private, &k, why, sizeof(why));
        if (r == 1) {
            if (k.kid != NULL)
                k.label = strdup(k.kid);
            else {
                size_t l = strlen(name) + 32;
                if ((k.label = malloc(l)) != NULL)
                    snprintf(k.label, l, "%s#%zu", name, i + 1);
            }
            if (k.label == NULL || push_key(keys, n, cap, &k) != 0)
                r = -2;
            else
                added++;
        }
        if (r == 0) {
            const char *kid = json_string_value(json_object_get(jwk, "kid"));
            char place[120];
            if (kid != NULL)
                snprintf(place, sizeof(place), "key %zu (kid '%.64s')", i + 1, kid);
            else
                snprintf(place, sizeof(place), "key %zu", i + 1);
            if (skipped++ == 0)
                aigov_errorf(first, sizeof(first), "%s: %s", place, why);
            if (notice != NULL) {
                aigov_errorf(line, sizeof(line), "%s: %s skipped: %s", name, place, why);
                notice(ndata, line);
            }
        }
        if (r < 0) {
            aigov_errorf(err, errlen, "%s: out of memory", name);
            rc = r;
        }
        aigov_jwk_clear(&k);
    }
    if (rc == 0 && added == 0) {
        if (skipped == 0)
            aigov_errorf(err, errlen, "%s: has no signature keys", name);
        else if (skipped == 1)
            aigov_errorf(err, errlen, "%s: has no usable signature keys; %s", name, first);
        else
            aigov_errorf(err, errlen, "%s: has no usable signature keys; %s (and %zu more skipped)",
                         name, first, skipped - 1);
        rc = -1;
    }
    json_decref(list);
    json_decref(root);
    ERR_clear_error();
    return rc;
}

int aigov_jwk_load(const char *data, size_t len, const char *name, int want_private,
                   aigov_jwk_t **keys, size_t *nkeys, aigov_jwk_notice_fn notice, void *ndata,
                   char *err, size_t errlen)
{
    size_t before = *nkeys, cap = *nkeys, i = 0;
    int rc;
    if (name == NULL)
        name = "key";
    while (i < len && isspace((unsigned char) data[i]))
        i++;
    if (i < len && data[i] == '{')
        rc = load_json(data, len, name, want_private, keys, nkeys, &cap, notice, ndata, err, errlen);
    else if (memmem(data, len, "-----BEGIN ", 11) != NULL)
        rc = load_pem(data, len, name, want_private, keys, nkeys, &cap, err, errlen);
    else {
        aigov_errorf(err, errlen, "%s: neither a PEM key nor a JWKS file", name);
        rc = -1;
    }
    if (rc != 0) {
        for (size_t j = before; j < *nkeys; j++)
            aigov_jwk_clear(&(*keys)[j]);
        *nkeys = before;
        if (rc == -2)
            aigov_errorf(err, errlen, "%s: out of memory", name);
    }
    return rc;
}

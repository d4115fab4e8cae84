/*
 * identity: JWT verification, keys, claims, cache.
 *
 * Tokens are minted here with OpenSSL directly (and with libjwt for
 * interoperability), not with lib/jwt_sign.c, so a bug shared by signer and
 * verifier cannot hide.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "identity.h"
#include "jwt_sign.h"

#define T0 1700000000LL

/* ---------- keys shared by all tests ---------- */

static EVP_PKEY *rsa1, *rsa2, *ec256, *ec384, *ec521;
static char *rsa1_pub, *rsa2_pub, *ec256_pub, *ec384_pub, *ec521_pub;
static const unsigned char secret32[] = "0123456789abcdef0123456789abcdef";
static const unsigned char secret64[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static EVP_PKEY *load_private(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

static char *pub_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t) n + 1);
    memcpy(s, p, (size_t) n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static char *priv_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t) n + 1);
    memcpy(s, p, (size_t) n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static int group_setup(void **state)
{
    /* the dev keys double as test keys, which also proves they are usable */
    rsa1 = load_private("policies/keys/dev-rs256.pem");
    ec256 = load_private("policies/keys/dev-es256.pem");
    rsa2 = EVP_RSA_gen(2048);
    ec384 = EVP_EC_gen("P-384");
    ec521 = EVP_EC_gen("P-521");
    if (!rsa1 || !ec256 || !rsa2 || !ec384 || !ec521)
        return -1;
    rsa1_pub = pub_pem(rsa1);
    rsa2_pub = pub_pem(rsa2);
    ec256_pub = pub_pem(ec256);
    ec384_pub = pub_pem(ec384);
    ec521_pub = pub_pem(ec521);
    return 0;
}

static int group_teardown(void **state)
{
    EVP_PKEY *ks[] = { rsa1, rsa2, ec256, ec384, ec521 };
    char *ps[] = { rsa1_pub, rsa2_pub, ec256_pub, ec384_pub, ec521_pub };
    for (int i = 0; i < 5; i++) {
        EVP_PKEY_free(ks[i]);
        free(ps[i]);
    }
    return 0;
}

/* ---------- minting with OpenSSL, independently of lib/ ---------- */

static char *b64url(const unsigned char *p, size_t len)
{
    char *out = malloc(len / 3 * 4 + 8);
    int n = EVP_EncodeBlock((unsigned char *) out, p, (int) len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *c = out; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    return out;
}

static const char *md_of(const char *alg)
{
    return strstr(alg, "256") ? "SHA256" : strstr(alg, "384") ? "SHA384" : "SHA512";
}

/* PS salt length for the next signatures (RFC 7518: the hash length). */
static int pss_salt = RSA_PSS_SALTLEN_DIGEST;

/* Sign input with alg; ES as raw r||s unless der is set. */
static unsigned char *sign(const char *alg, EVP_PKEY *k, const unsigned char *sec, size_t seclen,
                           const char *input, size_t *siglen, int der)
{
    unsigned char *sig = malloc(1024);
    if (alg[0] == 'H') {
        unsigned int l = 0;
        HMAC(EVP_get_digestbyname(md_of(alg)), sec, (int) seclen,
             (const unsigned char *) input, strlen(input), sig, &l);
        *siglen = l;
        return sig;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t l = 1024;
    int eddsa = alg[0] == 'E' && alg[1] == 'd';
    assert_int_equal(EVP_DigestSignInit_ex(ctx, &pctx, eddsa ? NULL : md_of(alg), NULL, NULL, k, NULL), 1);
    if (alg[0] == 'P') {
        /* RFC 7518 3.5: salt as long as the hash */
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_salt), 1);
    }
    assert_int_equal(EVP_DigestSign(ctx, sig, &l, (const unsigned char *) input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    if (alg[0] == 'E' && !eddsa && !der) {
        size_t n = strstr(alg, "256") ? 32 : strstr(alg, "384") ? 48 : 66;
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long) l);
        unsigned char *raw = malloc(2 * n);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int) n);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + n, (int) n);
        ECDSA_SIG_free(es);
        free(sig);
        *siglen = 2 * n;
        return raw;
    }
    *siglen = l;
    return sig;
}

/* The token of header and payload JSON texts, signed with alg. */
static char *mint_raw(const char *alg, EVP_PKEY *k, const unsigned char *sec, size_t seclen,
                      const char *hdr, const char *payload, int der)
{
    char *h = b64url((const unsigned char *) hdr, strlen(hdr));
    char *p = b64url((const unsigned char *) payload, strlen(payload));
    size_t in_len = strlen(h) + strlen(p) + 2;
    char *input = malloc(in_len);
    snprintf(input, in_len, "%s.%s", h, p);
    size_t siglen = 0;
    unsigned char *sig = sign(alg, k, sec, seclen, input, &siglen, der);
    char *s = b64url(sig, siglen);
    size_t tlen = in_len + strlen(s) + 1;
    char *tok = malloc(tlen);
    snprintf(tok, tlen, "%s.%s", input, s);
    free(h);
    free(p);
    free(input);
    free(sig);
    free(s);
    return tok;
}

static char hdrbuf[256];
static const char *hdr(const char *alg, const char *kid)
{
    if (kid)
        snprintf(hdrbuf, sizeof(hdrbuf), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
    else
        snprintf(hdrbuf, sizeof(hdrbuf), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    return hdrbuf;
}

static char pbuf[1024];
/* A payload for alice expiring at T0 + 3600. */
static const char *claims_exp(long long exp)
{
    snprintf(pbuf, sizeof(pbuf), "{\"sub\":\"alice\",\"groups\":[\"analysts\"],\"iat\":%lld,\"exp\":%lld}",
             T0, exp);
    return pbuf;
}

static char *mint(const char *alg, EVP_PKEY *k, const char *kid, const char *payload)
{
    return mint_raw(alg, k, NULL, 0, hdr(alg, kid), payload, 0);
}

static char *mint_hs(const char *alg, const unsigned char *sec, size_t seclen,
                     const char *kid, const char *payload)
{
    return mint_raw(alg, NULL, sec, seclen, hdr(alg, kid), payload, 0);
}

/* ---------- JWKs of test keys ---------- */

static char *jwk_rsa(EVP_PKEY *k, const char *kid, const char *alg)
{
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
    unsigned char nb[1024], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *n64 = b64url(nb, (size_t) nl), *e64 = b64url(eb, (size_t) el);
    char *out = malloc(2048);
    snprintf(out, 2048, "{\"kty\":\"RSA\"%s%s%s%s%s%s,\"n\":\"%s\",\"e\":\"%s\"}",
             kid ? ",\"kid\":\"" : "", kid ? kid : "", kid ? "\"" : "",
             alg ? ",\"alg\":\"" : "", alg ? alg : "", alg ? "\"" : "", n64, e64);
    BN_free(n);
    BN_free(e);
    free(n64);
    free(e64);
    return out;
}

static char *jwk_ec(EVP_PKEY *k, const char *kid, int with_d)
{
    char crv[32];
    size_t cl;
    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, crv, sizeof(crv), &cl);
    size_t sz = strcmp(crv, "prime256v1") == 0 ? 32 : strcmp(crv, "secp384r1") == 0 ? 48 : 66;
    const char *name = sz == 32 ? "P-256" : sz == 48 ? "P-384" : "P-521";
    BIGNUM *x = NULL, *y = NULL, *d = NULL;
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    unsigned char xb[66], yb[66], db[66];
    BN_bn2binpad(x, xb, (int) sz);
    BN_bn2binpad(y, yb, (int) sz);
    char *x64 = b64url(xb, sz), *y64 = b64url(yb, sz), *d64 = NULL;
    if (with_d) {
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d);
        BN_bn2binpad(d, db, (int) sz);
        d64 = b64url(db, sz);
    }
    char *out = malloc(1024);
    snprintf(out, 1024, "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s%s%s}",
             kid, name, x64, y64, d64 ? ",\"d\":\"" : "", d64 ? d64 : "", d64 ? "\"" : "");
    BN_free(x);
    BN_free(y);
    BN_free(d);
    free(x64);
    free(y64);
    free(d64);
    return out;
}

static char *jwk_oct(const unsigned char *sec, size_t len, const char *kid)
{
    char *k64 = b64url(sec, len);
    char *out = malloc(512);
    snprintf(out, 512, "{\"kty\":\"oct\",\"kid\":\"%s\",\"k\":\"%s\"}", kid, k64);
    free(k64);
    return out;
}

/* ---------- verifying ---------- */

static char msg[512];

static aigov_id_status_t verify_at(aigov_identity_t *id, const char *tok, long long now)
{
    char hv[20000];
    snprintf(hv, sizeof(hv), "Bearer %s", tok);
    json_t *claims = (json_t *) 1;
    aigov_id_status_t st = aigov_identity_verify(id, hv, strlen(hv), (time_t) now, &claims, msg, sizeof(msg));
    if (st == AIGOV_ID_OK) {
        assert_non_null(claims);
        assert_true(json_is_object(claims));
        json_decref(claims);
    } else {
        assert_null(claims);
        assert_true(msg[0] != '\0');
    }
    return st;
}

static aigov_id_status_t verify(aigov_identity_t *id, const char *tok)
{
    return verify_at(id, tok, T0 + 10);
}

static aigov_identity_t *with_keys(const char *k1, const char *k2)
{
    char err[512];
    aigov_identity_t *id = aigov_identity_new();
    assert_non_null(id);
    if (k1)
        assert_int_equal(aigov_identity_add_key_mem(id, k1, strlen(k1), "k1.pem", err, sizeof(err)), 0);
    if (k2)
        assert_int_equal(aigov_identity_add_key_mem(id, k2, strlen(k2), "k2.pem", err, sizeof(err)), 0);
    return id;
}

static aigov_identity_t *with_jwks(const char *a, const char *b, const char *c)
{
    char buf[8192], err[512];
    snprintf(buf, sizeof(buf), "{\"keys\":[%s%s%s%s%s]}", a, b ? "," : "", b ? b : "",
             c ? "," : "", c ? c : "");
    aigov_identity_t *id = aigov_identity_new();
    int rc = aigov_identity_add_key_mem(id, buf, strlen(buf), "jwks.json", err, sizeof(err));
    if (rc != 0)
        fail_msg("JWKS refused: %s", err);
    return id;
}

/* ---------- good tokens ---------- */

static void good_pem(const char *alg, EVP_PKEY *k, const char *pub)
{
    aigov_identity_t *id = with_keys(pub, NULL);
    char *tok = mint(alg, k, NULL, claims_exp(T0 + 3600));
    char hv[4096];
    snprintf(hv, sizeof(hv), "Bearer %s", tok);
    json_t *claims = NULL;
    assert_int_equal(aigov_identity_verify(id, hv, strlen(hv), T0, &claims, msg, sizeof(msg)), AIGOV_ID_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "alice");
    assert_string_equal(json_string_value(json_array_get(json_object_get(claims, "groups"), 0)), "analysts");
    json_decref(claims);
    free(tok);
    aigov_identity_free(id);
}

static void test_rs256(void **s) { good_pem("RS256", rsa1, rsa1_pub); }
static void test_rs384(void **s) { good_pem("RS384", rsa1, rsa1_pub); }
static void test_rs512(void **s) { good_pem("RS512", rsa2, rsa2_pub); }
static void test_es256(void **s) { good_pem("ES256", ec256, ec256_pub); }
static void test_es384(void **s) { good_pem("ES384", ec384, ec384_pub); }
static void test_es512(void **s) { good_pem("ES512", ec521, ec521_pub); }

static void test_hs256_jwks(void **s)
{
    char *oct = jwk_oct(secret32, 32, "h1");
    aigov_identity_t *id = with_jwks(oct, NULL, NULL);
    char *tok = mint_hs("HS256", secret32, 32, "h1", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    /* the same secret without kid is found too */
    tok = mint_hs("HS256", secret32, 32, NULL, claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    /* a different secret does not verify */
    tok = mint_hs("HS256", secret64, 32 + 1, "h1", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    free(oct);
    aigov_identity_free(id);
}

static void test_hs_secret_length_per_alg(void **s)
{
    char *short_k = jwk_oct(secret32, 32, "short");
    char *long_k = jwk_oct(secret64, 64, "long");
    aigov_identity_t *id = with_jwks(short_k, long_k, NULL);
    char *tok = mint_hs("HS512", secret32, 32, "short", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    assert_non_null(strstr(msg, "HS512 needs a secret of at least 64 bytes"));
    free(tok);
    tok = mint_hs("HS512", secret64, 64, "long", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    tok = mint_hs("HS384", secret64, 64, "long", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    free(short_k);
    free(long_k);
    aigov_identity_free(id);
}

/* ---------- keys: kid, rotation, several keys ---------- */

static void test_jwks_two_kids_and_rotation(void **s)
{
    char *a = jwk_rsa(rsa1, "k1", NULL), *b = jwk_ec(ec256, "k2", 0);
    aigov_identity_t *both = with_jwks(a, b, NULL);
    char *t1 = mint("RS256", rsa1, "k1", claims_exp(T0 + 3600));
    char *t2 = mint("ES256", ec256, "k2", claims_exp(T0 + 3600));
    assert_int_equal(verify(both, t1), AIGOV_ID_OK);
    assert_int_equal(verify(both, t2), AIGOV_ID_OK);
    /* k1 rotated out: its tokens are refused by kid, k2's still pass */
    aigov_identity_t *after = with_jwks(b, NULL, NULL);
    assert_int_equal(verify(after, t1), AIGOV_ID_UNKNOWN_KID);
    assert_string_equal(msg, "no key with kid 'k1'");
    assert_int_equal(verify(after, t2), AIGOV_ID_OK);
    free(a); free(b); free(t1); free(t2);
    aigov_identity_free(both);
    aigov_identity_free(after);
}

static void test_two_files_rotation(void **s)
{
    /* old and new PEM keys side by side, tokens without kid */
    aigov_identity_t *id = with_keys(rsa1_pub, rsa2_pub);
    assert_int_equal(aigov_identity_key_count(id), 2);
    char *t1 = mint("RS256", rsa1, NULL, claims_exp(T0 + 3600));
    char *t2 = mint("RS256", rsa2, NULL, claims_exp(T0 + 3600));
    uint64_t checks = 0;
    assert_int_equal(verify(id, t1), AIGOV_ID_OK);
    assert_int_equal(verify(id, t2), AIGOV_ID_OK);
    aigov_identity_stats(id, NULL, NULL, &checks);
    assert_int_equal(checks, 3);    /* t1: first key; t2: both */
    free(t1); free(t2);
    aigov_identity_free(id);
}

static void test_kid_selects_only_that_key(void **s)
{
    char *a = jwk_rsa(rsa1, "k1", NULL), *b = jwk_rsa(rsa2, "k2", NULL);
    aigov_identity_t *id = with_jwks(a, b, NULL);
    /* signed by k2's key but claims to be k1: only k1 is tried */
    char *tok = mint("RS256", rsa2, "k1", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    assert_string_equal(msg, "token signature does not verify");
    uint64_t checks = 0;
    aigov_identity_stats(id, NULL, NULL, &checks);
    assert_int_equal(checks, 1);
    free(a); free(b); free(tok);
    aigov_identity_free(id);
}

static void test_unknown_kid(void **s)
{
    char *a = jwk_rsa(rsa1, "k1", NULL);
    aigov_identity_t *id = with_jwks(a, NULL, NULL);
    char *tok = mint("RS256", rsa1, "nope", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_UNKNOWN_KID);
    assert_string_equal(msg, "no key with kid 'nope'");
    assert_string_equal(aigov_id_status_code(AIGOV_ID_UNKNOWN_KID), "unknown_key");
    free(tok);
    /* a PEM key has no kid: it is tried for a token naming any kid, as
     * every IdP's tokens name one (#21.2) */
    aigov_identity_t *pem = with_keys(rsa1_pub, NULL);
    tok = mint("RS256", rsa1, "k1", claims_exp(T0 + 3600));
    assert_int_equal(verify(pem, tok), AIGOV_ID_OK);
    free(tok);
    /* ... but it verifies only its own signatures; the kid nobody has is
     * still what the answer names */
    tok = mint("RS256", rsa2, "k1", claims_exp(T0 + 3600));
    assert_int_equal(verify(pem, tok), AIGOV_ID_UNKNOWN_KID);
    assert_string_equal(msg, "no key with kid 'k1'");
    free(tok);
    free(a);
    aigov_identity_free(id);
    aigov_identity_free(pem);
}

static void test_no_keys(void **s)
{
    aigov_identity_t *id = aigov_identity_new();
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_UNKNOWN_KID);
    assert_string_equal(msg, "no token verification keys are configured");
    free(tok);
    aigov_identity_free(id);
}

/* ---------- algorithms ---------- */

static void test_alg_none(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    const char *payload = claims_exp(T0 + 3600);
    const char *hdrs[] = { "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}" };
    for (int i = 0; i < 3; i++) {
        char *h = b64url((const unsigned char *) hdrs[i], strlen(hdrs[i]));
        char *p = b64url((const unsigned char *) payload, strlen(payload));
        char tok[2048];
        snprintf(tok, sizeof(tok), "%s.%s.", h, p);
        assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
        assert_string_equal(msg, "unsigned tokens (alg none) are not accepted");
        free(h);
        free(p);
    }
    aigov_identity_free(id);
}

static void test_alg_confusion_pem(void **s)
{
    /* the classic attack: HMAC keyed with the public key the server holds */
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    char *tok = mint_hs("HS256", (const unsigned char *) rsa1_pub, strlen(rsa1_pub), NULL,
                        claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    assert_string_equal(msg, "algorithm HS256 is not allowed for RSA key 'k1.pem'");
    assert_string_equal(aigov_id_status_code(AIGOV_ID_BAD_ALG), "invalid_algorithm");
    free(tok);
    aigov_identity_free(id);
}

static void test_alg_confusion_jwks(void **s)
{
    char *a = jwk_rsa(rsa1, "k1", NULL);
    aigov_identity_t *id = with_jwks(a, NULL, NULL);
    char *tok = mint_hs("HS256", (const unsigned char *) rsa1_pub, strlen(rsa1_pub), "k1",
                        claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    assert_string_equal(msg, "algorithm HS256 is not allowed for RSA key 'k1'");
    free(tok);
    /* and ES256 against the RSA key */
    tok = mint("ES256", ec256, "k1", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    free(tok);
    free(a);
    aigov_identity_free(id);
}

static void test_ec_curve_fixes_alg(void **s)
{
    aigov_identity_t *id = with_keys(ec256_pub, NULL);
    char *tok = mint("ES384", ec256, NULL, claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    assert_string_equal(msg, "algorithm ES384 is not allowed for EC key 'k1.pem' (its curve needs ES256)");
    free(tok);
    aigov_identity_free(id);
}

static void test_jwk_alg_restricts(void **s)
{
    char *a = jwk_rsa(rsa1, "k1", "RS256");
    aigov_identity_t *id = with_jwks(a, NULL, NULL);
    char *tok = mint("RS512", rsa1, "k1", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    assert_non_null(strstr(msg, "its alg is RS256"));
    free(tok);
    tok = mint("RS256", rsa1, "k1", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    free(a);
    aigov_identity_free(id);
}

static void test_unsupported_alg(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    /* ES256K is a real algorithm that no key here can take */
    const char *payload = claims_exp(T0 + 3600);
    char *tok = mint_raw("RS256", rsa1, NULL, 0, "{\"alg\":\"ES256K\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    assert_string_equal(msg, "algorithm ES256K is not supported");
    free(tok);
    /* a PKCS#1 v1.5 signature relabelled PS256 does not pass as PSS */
    tok = mint_raw("RS256", rsa1, NULL, 0, "{\"alg\":\"PS256\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    tok = mint_raw("RS256", rsa1, NULL, 0, "{\"typ\":\"JWT\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_MALFORMED);
    assert_string_equal(msg, "token header has no alg");
    free(tok);
    tok = mint_raw("RS256", rsa1, NULL, 0, "{\"alg\":256}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_MALFORMED);
    free(tok);
    aigov_identity_free(id);
}

static void test_crit_header_refused(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    char *tok = mint_raw("RS256", rsa1, NULL, 0, "{\"alg\":\"RS256\",\"crit\":[\"exp\"]}",
                         claims_exp(T0 + 3600), 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_MALFORMED);
    assert_non_null(strstr(msg, "crit"));
    free(tok);
    aigov_identity_free(id);
}

/* ---------- signatures ---------- */

static void test_tampered_payload(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 3600));
    char *other = mint("RS256", rsa1, NULL,
                       "{\"sub\":\"root\",\"groups\":[\"admins\"],\"exp\":1800000000}");
    /* other's header and payload with tok's signature */
    char *sig = strrchr(tok, '.');
    char *osig = strrchr(other, '.');
    char forged[4096];
    snprintf(forged, sizeof(forged), "%.*s%s", (int) (osig - other), other, sig);
    assert_int_equal(verify(id, forged), AIGOV_ID_BAD_SIGNATURE);
    assert_string_equal(msg, "token signature does not verify");
    assert_string_equal(aigov_id_status_code(AIGOV_ID_BAD_SIGNATURE), "invalid_signature");
    /* one flipped signature character */
    char *last = tok + strlen(tok) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    free(other);
    aigov_identity_free(id);
}

static void test_signature_lengths(void **s)
{
    aigov_identity_t *rs = with_keys(rsa1_pub, NULL), *es = with_keys(ec256_pub, NULL);
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 3600));
    tok[strlen(tok) - 2] = '\0';    /* 255 of 256 bytes */
    assert_int_equal(verify(rs, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    tok = mint("ES256", ec256, NULL, claims_exp(T0 + 3600));
    char *dot = strrchr(tok, '.');
    dot[1] = '\0';                  /* empty signature */
    assert_int_equal(verify(es, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    /* ES256 signed as DER (what a naive signer produces) */
    tok = mint_raw("ES256", ec256, NULL, 0, hdr("ES256", NULL), claims_exp(T0 + 3600), 1);
    assert_int_equal(verify(es, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    aigov_identity_free(rs);
    aigov_identity_free(es);
}

/* ---------- shape of the header value and token ---------- */

static void test_missing_and_scheme(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    json_t *c = NULL;
    assert_int_equal(aigov_identity_verify(id, NULL, 0, T0, &c, msg, sizeof(msg)), AIGOV_ID_MISSING);
    assert_string_equal(msg, "no Authorization header");
    assert_string_equal(aigov_id_status_code(AIGOV_ID_MISSING), "token_missing");
    const char *bad[] = { "", "   ", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Bearerxyz.a.b" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(aigov_identity_verify(id, bad[i], strlen(bad[i]), T0, &c, msg, sizeof(msg)),
                         AIGOV_ID_MISSING);
    assert_null(c);
    /* scheme is case-insensitive, spaces around are fine, no NUL needed */
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 3600));
    char hv[4096];
    int n = snprintf(hv, sizeof(hv), "  bEaReR \t%s  XXXX", tok);
    assert_int_equal(aigov_identity_verify(id, hv, (size_t) n - 4, T0, &c, msg, sizeof(msg)), AIGOV_ID_OK);
    json_decref(c);
    /* NULL claims and msg are allowed */
    assert_int_equal(aigov_identity_verify(id, hv, (size_t) n - 4, T0, NULL, NULL, 0), AIGOV_ID_OK);
    assert_int_equal(aigov_identity_verify(id, "Basic x", 7, T0, NULL, NULL, 0), AIGOV_ID_MISSING);
    free(tok);
    aigov_identity_free(id);
}

static void test_too_large(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    char *filler = malloc(13000);
    char *payload = malloc(14000);
    char *hdrtxt = malloc(64);
    char *exact = NULL;
    /* find header and payload padding giving a token of exactly 16384 bytes */
    for (int f = 11800; f < 12100 && exact == NULL; f++) {
        for (int x = 0; x < 4 && exact == NULL; x++) {
            memset(filler, 'a', (size_t) f);
            filler[f] = '\0';
            snprintf(payload, 14000, "{\"sub\":\"alice\",\"exp\":%lld,\"pad\":\"%s\"}", T0 + 3600, filler);
            snprintf(hdrtxt, 64, "{\"alg\":\"RS256\",\"x\":\"%.*s\"}", x, "xxx");
            char *tok = mint_raw("RS256", rsa1, NULL, 0, hdrtxt, payload, 0);
            if (strlen(tok) == AIGOV_ID_MAX_TOKEN)
                exact = tok;
            else
                free(tok);
        }
    }
    assert_non_null(exact);
    assert_int_equal(verify(id, exact), AIGOV_ID_OK);
    /* one byte more: refused before any decoding */
    char *big = malloc(AIGOV_ID_MAX_TOKEN + 2);
    memcpy(big, exact, AIGOV_ID_MAX_TOKEN);
    big[AIGOV_ID_MAX_TOKEN] = 'A';
    big[AIGOV_ID_MAX_TOKEN + 1] = '\0';
    assert_int_equal(verify(id, big), AIGOV_ID_TOO_LARGE);
    assert_string_equal(msg, "token is 16385 bytes; at most 16384 are accepted");
    assert_string_equal(aigov_id_status_code(AIGOV_ID_TOO_LARGE), "token_too_large");
    free(big);
    free(exact);
    free(filler);
    free(payload);
    free(hdrtxt);
    aigov_identity_free(id);
}

static void test_parts(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    const char *bad[] = { "abc", "abc.def", "a.b.c.d", "..", "...", "eyJhbGciOiJSUzI1NiJ9..sig" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(verify(id, bad[i]), AIGOV_ID_MALFORMED);
    assert_int_equal(verify(id, "abc.def"), AIGOV_ID_MALFORMED);
    assert_string_equal(msg, "token does not have three dot-separated parts");
    assert_string_equal(aigov_id_status_code(AIGOV_ID_MALFORMED), "token_malformed");
    aigov_identity_free(id);
}

/* Replace part i of tok (0 header, 1 payload, 2 signature) by text. */
static char *with_part(const char *tok, int part, const char *text)
{
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    char *out = malloc(strlen(tok) + strlen(text) + 4);
    if (part == 0)
        sprintf(out, "%s%s", text, d1);
    else if (part == 1)
        sprintf(out, "%.*s.%s%s", (int) (d1 - tok), tok, text, d2);
    else
        sprintf(out, "%.*s.%s", (int) (d2 - tok), tok, text);
    return out;
}

static void test_bad_base64(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 3600));
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    char hdr64[256];
    snprintf(hdr64, sizeof(hdr64), "%.*s", (int) (d1 - tok), tok);
    /* header {"alg":"RS256","typ":"JWT"} is 27 bytes: base64 would pad with '=' */
    char padded[300];
    snprintf(padded, sizeof(padded), "%s=", hdr64);
    char *t = with_part(tok, 0, padded);
    assert_int_equal(verify(id, t), AIGOV_ID_MALFORMED);
    assert_string_equal(msg, "token header is not base64url");
    free(t);
    /* standard-alphabet characters */
    char std[300];
    snprintf(std, sizeof(std), "%s", hdr64);
    std[3] = '+';
    t = with_part(tok, 0, std);
    assert_int_equal(verify(id, t), AIGOV_ID_MALFORMED);
    free(t);
    t = with_part(tok, 1, "e30/");
    assert_int_equal(verify(id, t), AIGOV_ID_MALFORMED);
    assert_string_equal(msg, "token payload is not base64url");
    free(t);
    /* non-zero unused bits: "e31" spells {} with stray bits */
    t = with_part(tok, 1, "e31");
    assert_int_equal(verify(id, t), AIGOV_ID_MALFORMED);
    free(t);
    /* a length no base64 can have, and junk in the signature */
    t = with_part(tok, 1, "e30AA");
    assert_int_equal(verify(id, t), AIGOV_ID_MALFORMED);
    free(t);
    char sig_bad[400];
    snprintf(sig_bad, sizeof(sig_bad), "%s", d2 + 1);
    sig_bad[10] = '*';
    t = with_part(tok, 2, sig_bad);
    assert_int_equal(verify(id, t), AIGOV_ID_MALFORMED);
    assert_string_equal(msg, "token signature is not base64url");
    free(t);
    free(tok);
    aigov_identity_free(id);
}

static void test_bad_json(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    struct { const char *h, *p, *want; } cases[] = {
        { "{\"alg\":\"RS256\"", "{\"exp\":1800000000}", "token header is not valid JSON" },
        { "{\"alg\":\"RS256\"}", "{\"exp\":1800000000,}", "token payload is not valid JSON" },
        { "{\"alg\":\"RS256\"}", "[1,2]", "token payload is not a JSON object" },
        { "\"RS256\"", "{}", "token header is not valid JSON" },
        { "[\"RS256\"]", "{}", "token header is not a JSON object" },
        { "{\"alg\":\"RS256\"}", "{\"sub\":\"a\",\"sub\":\"admin\",\"exp\":1800000000}",
          "token payload is not valid JSON" },
        { "{\"alg\":\"RS256\"}", "{\"sub\":\"a\\u0000b\",\"exp\":1800000000}", "token payload is not valid JSON" },
        { "{\"alg\":\"RS256\"}", "\xff\xfe garbage", "token payload is not valid JSON" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *tok = mint_raw("RS256", rsa1, NULL, 0, cases[i].h, cases[i].p, 0);
        assert_int_equal(verify(id, tok), AIGOV_ID_MALFORMED);
        assert_string_equal(msg, cases[i].want);
        free(tok);
    }
    aigov_identity_free(id);
}

/* ---------- claims ---------- */

static void test_expired(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    aigov_identity_set_leeway(id, 30);
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 100));
    assert_int_equal(verify_at(id, tok, T0 + 142), AIGOV_ID_EXPIRED);
    assert_string_equal(msg, "token expired 42s ago");
    assert_string_equal(aigov_id_status_code(AIGOV_ID_EXPIRED), "token_expired");
    free(tok);
    aigov_identity_free(id);
}

static void test_leeway_exp_edges(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    aigov_identity_set_leeway(id, 30);
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 100));
    assert_int_equal(verify_at(id, tok, T0 + 129), AIGOV_ID_OK);      /* exp + L - 1 */
    assert_int_equal(verify_at(id, tok, T0 + 130), AIGOV_ID_EXPIRED); /* exp + L */
    assert_string_equal(msg, "token expired 30s ago");
    aigov_identity_set_leeway(id, 0);
    assert_int_equal(verify_at(id, tok, T0 + 99), AIGOV_ID_OK);
    assert_int_equal(verify_at(id, tok, T0 + 100), AIGOV_ID_EXPIRED);
    free(tok);
    aigov_identity_free(id);
}

static void test_leeway_nbf_edges(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);   /* default leeway 60 */
    snprintf(pbuf, sizeof(pbuf), "{\"sub\":\"a\",\"nbf\":%lld,\"exp\":%lld}", T0 + 1000, T0 + 5000);
    char *tok = mint("RS256", rsa1, NULL, pbuf);
    assert_int_equal(verify_at(id, tok, T0 + 939), AIGOV_ID_NOT_YET_VALID);
    assert_string_equal(msg, "token is not valid for another 61s");
    assert_string_equal(aigov_id_status_code(AIGOV_ID_NOT_YET_VALID), "token_not_yet_valid");
    assert_int_equal(verify_at(id, tok, T0 + 940), AIGOV_ID_OK);
    free(tok);
    aigov_identity_free(id);
}

static void test_iat_in_future(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    aigov_identity_set_cache(id, 0);
    snprintf(pbuf, sizeof(pbuf), "{\"sub\":\"a\",\"iat\":%lld,\"exp\":%lld}", T0 + 1000, T0 + 5000);
    char *tok = mint("RS256", rsa1, NULL, pbuf);
    assert_int_equal(verify_at(id, tok, T0 + 939), AIGOV_ID_NOT_YET_VALID);
    assert_string_equal(msg, "token was issued 61s in the future");
    assert_int_equal(verify_at(id, tok, T0 + 940), AIGOV_ID_OK);
    free(tok);
    aigov_identity_free(id);
}

static void test_exp_required_and_typed(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    /* far-away exps are judged here as numbers; the lifetime limit has its
     * own test */
    aigov_identity_set_max_lifetime(id, 0);
    struct { const char *p, *want; aigov_id_status_t st; } cases[] = {
        { "{\"sub\":\"a\"}", "token has no exp", AIGOV_ID_MALFORMED },
        { "{\"sub\":\"a\",\"exp\":\"1800000000\"}", "claim exp is not a number", AIGOV_ID_MALFORMED },
        { "{\"sub\":\"a\",\"exp\":null}", "claim exp is not a number", AIGOV_ID_MALFORMED },
        { "{\"sub\":\"a\",\"exp\":1800000000,\"nbf\":true}", "claim nbf is not a number", AIGOV_ID_MALFORMED },
        { "{\"sub\":\"a\",\"exp\":1800000000,\"iat\":[1]}", "claim iat is not a number", AIGOV_ID_MALFORMED },
        { "{\"sub\":\"a\",\"exp\":1800000000.75}", "", AIGOV_ID_OK },
        { "{\"sub\":\"a\",\"exp\":1e300}", "", AIGOV_ID_OK },
        { "{\"sub\":\"a\",\"exp\":-1e300}", "token expired", AIGOV_ID_EXPIRED },
        { "{\"sub\":\"a\",\"exp\":9223372036854775807}", "", AIGOV_ID_OK },
        { "{\"sub\":\"a\",\"exp\":-9223372036854775807}", "token expired", AIGOV_ID_EXPIRED },
        { "{\"sub\":\"a\",\"exp\":1800000000,\"nbf\":9223372036854775807}", "token is not valid", AIGOV_ID_NOT_YET_VALID },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *tok = mint("RS256", rsa1, NULL, cases[i].p);
        assert_int_equal(verify(id, tok), cases[i].st);
        if (cases[i].st == AIGOV_ID_EXPIRED || cases[i].st == AIGOV_ID_NOT_YET_VALID)
            assert_non_null(strstr(msg, cases[i].want));
        else if (cases[i].st != AIGOV_ID_OK)
            assert_string_equal(msg, cases[i].want);
        free(tok);
    }
    aigov_identity_free(id);
}

static void test_issuer(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    assert_int_equal(aigov_identity_set_issuer(id, "https://idp.example"), 0);
    struct { const char *iss; aigov_id_status_t st; const char *want; } cases[] = {
        { "\"iss\":\"https://idp.example\",", AIGOV_ID_OK, "" },
        { "\"iss\":\"https://evil.example\",", AIGOV_ID_BAD_ISSUER,
          "token issuer 'https://evil.example' is not the accepted one" },
        { "\"iss\":\"https://idp.example/\",", AIGOV_ID_BAD_ISSUER, NULL },
        { "", AIGOV_ID_BAD_ISSUER, "token has no iss" },
        { "\"iss\":[\"https://idp.example\"],", AIGOV_ID_BAD_ISSUER, "token iss is not a string" },
        { "\"iss\":\"a\\nb\\u0007'c\",", AIGOV_ID_BAD_ISSUER, "token issuer 'a?b??c' is not the accepted one" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(pbuf, sizeof(pbuf), "{%s\"sub\":\"a\",\"exp\":%lld}", cases[i].iss, T0 + 3600);
        char *tok = mint("RS256", rsa1, NULL, pbuf);
        assert_int_equal(verify(id, tok), cases[i].st);
        if (cases[i].want && cases[i].st != AIGOV_ID_OK)
            assert_string_equal(msg, cases[i].want);
        free(tok);
    }
    assert_string_equal(aigov_id_status_code(AIGOV_ID_BAD_ISSUER), "invalid_issuer");
    /* NULL turns the check off again */
    assert_int_equal(aigov_identity_set_issuer(id, NULL), 0);
    snprintf(pbuf, sizeof(pbuf), "{\"iss\":\"other\",\"exp\":%lld}", T0 + 3600);
    char *tok = mint("RS256", rsa1, NULL, pbuf);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    aigov_identity_free(id);
}

static void test_audience(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    assert_int_equal(aigov_identity_set_audience(id, "aigov"), 0);
    struct { const char *aud; aigov_id_status_t st; } cases[] = {
        { "\"aud\":\"aigov\",", AIGOV_ID_OK },
        { "\"aud\":[\"other\",\"aigov\"],", AIGOV_ID_OK },
        { "\"aud\":\"other\",", AIGOV_ID_BAD_AUDIENCE },
        { "\"aud\":[\"other\",\"aigov2\"],", AIGOV_ID_BAD_AUDIENCE },
        { "\"aud\":[],", AIGOV_ID_BAD_AUDIENCE },
        { "", AIGOV_ID_BAD_AUDIENCE },
        { "\"aud\":7,", AIGOV_ID_MALFORMED },
        { "\"aud\":[\"aigov\",7],", AIGOV_ID_MALFORMED },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(pbuf, sizeof(pbuf), "{%s\"sub\":\"a\",\"exp\":%lld}", cases[i].aud, T0 + 3600);
        char *tok = mint("RS256", rsa1, NULL, pbuf);
        assert_int_equal(verify(id, tok), cases[i].st);
        if (i == 2)
            assert_string_equal(msg, "token audience does not include 'aigov'");
        if (i == 5)
            assert_string_equal(msg, "token has no aud");
        free(tok);
    }
    assert_string_equal(aigov_id_status_code(AIGOV_ID_BAD_AUDIENCE), "invalid_audience");
    aigov_identity_free(id);
}

/* ---------- cache ---------- */

static void test_cache_hits(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 3600));
    uint64_t hits, misses, checks;
    for (int i = 0; i < 5; i++)
        assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    aigov_identity_stats(id, &hits, &misses, &checks);
    assert_int_equal(hits, 4);
    assert_int_equal(misses, 1);
    assert_int_equal(checks, 1);
    assert_int_equal(aigov_identity_cache_count(id), 1);
    /* a hit gives the same claims */
    char hv[4096];
    snprintf(hv, sizeof(hv), "Bearer %s", tok);
    json_t *c = NULL;
    assert_int_equal(aigov_identity_verify(id, hv, strlen(hv), T0, &c, msg, sizeof(msg)), AIGOV_ID_OK);
    assert_string_equal(json_string_value(json_object_get(c, "sub")), "alice");
    json_decref(c);
    /* a token differing in one byte is not a hit */
    size_t n = strlen(tok);
    tok[n - 10] = tok[n - 10] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    aigov_identity_stats(id, &hits, &misses, &checks);
    assert_int_equal(hits, 5);
    assert_int_equal(checks, 2);
    /* bad tokens are not cached */
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    aigov_identity_stats(id, NULL, NULL, &checks);
    assert_int_equal(checks, 3);
    free(tok);
    aigov_identity_free(id);
}

static void test_cache_expires_at_exp(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 100));
    uint64_t hits, checks;
    assert_int_equal(verify_at(id, tok, T0), AIGOV_ID_OK);
    assert_int_equal(verify_at(id, tok, T0 + 99), AIGOV_ID_OK);
    aigov_identity_stats(id, &hits, NULL, &checks);
    assert_int_equal(hits, 1);
    assert_int_equal(checks, 1);
    /* at exp the entry is gone; the full check still accepts within leeway */
    assert_int_equal(verify_at(id, tok, T0 + 100), AIGOV_ID_OK);
    aigov_identity_stats(id, &hits, NULL, &checks);
    assert_int_equal(hits, 1);
    assert_int_equal(checks, 2);
    assert_int_equal(aigov_identity_cache_count(id), 0);
    assert_int_equal(verify_at(id, tok, T0 + 160), AIGOV_ID_EXPIRED);
    free(tok);
    aigov_identity_free(id);
}

static void test_cache_rechecks_nbf(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    snprintf(pbuf, sizeof(pbuf), "{\"sub\":\"a\",\"nbf\":%lld,\"exp\":%lld}", T0 + 1000, T0 + 5000);
    char *tok = mint("RS256", rsa1, NULL, pbuf);
    assert_int_equal(verify_at(id, tok, T0 + 1000), AIGOV_ID_OK);
    assert_int_equal(aigov_identity_cache_count(id), 1);
    /* the clock steps back before nbf - leeway: no hit, refused */
    assert_int_equal(verify_at(id, tok, T0 + 900), AIGOV_ID_NOT_YET_VALID);
    uint64_t hits;
    aigov_identity_stats(id, &hits, NULL, NULL);
    assert_int_equal(hits, 0);
    free(tok);
    aigov_identity_free(id);
}

static void test_cache_eviction_bound(void **s)
{
    aigov_identity_t *id = with_keys(ec256_pub, NULL);
    assert_int_equal(aigov_identity_set_cache(id, 4), 0);
    char *toks[10];
    for (int i = 0; i < 10; i++) {
        snprintf(pbuf, sizeof(pbuf), "{\"sub\":\"user%d\",\"exp\":%lld}", i, T0 + 3600);
        toks[i] = mint("ES256", ec256, NULL, pbuf);
        assert_int_equal(verify(id, toks[i]), AIGOV_ID_OK);
        assert_true(aigov_identity_cache_count(id) <= 4);
    }
    assert_int_equal(aigov_identity_cache_count(id), 4);
    uint64_t hits, checks;
    /* 6..9 are cached; touch 6 so that it is the most recent */
    assert_int_equal(verify(id, toks[6]), AIGOV_ID_OK);
    aigov_identity_stats(id, &hits, NULL, &checks);
    assert_int_equal(hits, 1);
    assert_int_equal(checks, 10);
    /* 0 was evicted: a miss, and its insertion evicts 7 (least recent) */
    assert_int_equal(verify(id, toks[0]), AIGOV_ID_OK);
    aigov_identity_stats(id, &hits, NULL, &checks);
    assert_int_equal(checks, 11);
    assert_int_equal(verify(id, toks[6]), AIGOV_ID_OK);
    assert_int_equal(verify(id, toks[7]), AIGOV_ID_OK);
    aigov_identity_stats(id, &hits, NULL, &checks);
    assert_int_equal(hits, 2);
    assert_int_equal(checks, 12);
    assert_int_equal(aigov_identity_cache_count(id), 4);
    for (int i = 0; i < 10; i++)
        free(toks[i]);
    aigov_identity_free(id);
}

static void test_cache_byte_bound(void **s)
{
    aigov_identity_t *id = with_keys(ec256_pub, NULL);
    char *toks[3];
    for (int i = 0; i < 3; i++) {
        snprintf(pbuf, sizeof(pbuf), "{\"sub\":\"alice\",\"iat\":%lld,\"exp\":%lld}", T0 + i, T0 + 3600);
        toks[i] = mint("ES256", ec256, NULL, pbuf);
    }
    size_t len = strlen(toks[0]);
    assert_int_equal(strlen(toks[2]), len);
    /* room for two such tokens, not three */
    assert_int_equal(aigov_identity_set_cache_limits(id, 100, 2 * len + len / 2), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(verify(id, toks[i]), AIGOV_ID_OK);
    assert_int_equal(aigov_identity_cache_count(id), 2);
    /* smaller than one token: nothing is cached at all */
    assert_int_equal(aigov_identity_set_cache_limits(id, 100, len - 1), 0);
    assert_int_equal(verify(id, toks[0]), AIGOV_ID_OK);
    assert_int_equal(aigov_identity_cache_count(id), 0);
    for (int i = 0; i < 3; i++)
        free(toks[i]);
    aigov_identity_free(id);
}

static void test_cache_disabled_and_cleared(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    assert_int_equal(aigov_identity_cache_count(id), 1);
    /* a new requirement must not be bypassed by an old entry */
    assert_int_equal(aigov_identity_set_audience(id, "aigov"), 0);
    assert_int_equal(aigov_identity_cache_count(id), 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_AUDIENCE);
    assert_int_equal(aigov_identity_set_audience(id, NULL), 0);
    assert_int_equal(aigov_identity_set_cache(id, 0), 0);
    uint64_t hits, misses, checks, c0;
    aigov_identity_stats(id, &hits, &misses, &c0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    aigov_identity_stats(id, &hits, &misses, &checks);
    assert_int_equal(hits, 0);
    assert_int_equal(checks, c0 + 3);
    assert_int_equal(aigov_identity_cache_count(id), 0);
    free(tok);
    aigov_identity_free(id);
}

/* ---------- key files ---------- */

static void expect_key_error(const char *data, const char *want)
{
    char err[512] = "";
    aigov_identity_t *id = aigov_identity_new();
    assert_int_equal(aigov_identity_add_key_mem(id, data, strlen(data), "keys.json", err, sizeof(err)), -1);
    if (strstr(err, want) == NULL)
        fail_msg("error '%s' does not contain '%s'", err, want);
    assert_int_equal(aigov_identity_key_count(id), 0);
    aigov_identity_free(id);
}

static void test_key_errors(void **s)
{
    char buf[4096];
    expect_key_error("not a key", "keys.json: neither a PEM key nor a JWKS file");
    expect_key_error("{\"keys\": [", "keys.json:1:");
    expect_key_error("{\"keys\": 5}", "'keys' is not an array");
    expect_key_error("{\"foo\": 1}", "neither a JWKS");
    expect_key_error("{\"keys\": []}", "has no signature keys");
    expect_key_error("{\"keys\": [{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
                     "keys.json: has no usable signature keys; key 1: its use is 'enc', not 'sig'");
    expect_key_error("{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"a\",\"e\":\"AQAB\"}]}",
                     "keys.json: has no usable signature keys; key 1 (kid 'a'): member 'n' is missing");
    expect_key_error("{\"keys\": [{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}]}",
                     "OKP key needs 'x' of 32 bytes");
    expect_key_error("{\"keys\": [{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}]}",
                     "OKP curve X25519 is for key agreement, not signatures");
    expect_key_error("{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"a\",\"e\":\"AQAB\"},{\"kty\":\"EC\"}]}",
                     "key 1 (kid 'a'): member 'n' is missing (and 1 more skipped)");
    expect_key_error("{\"keys\": [{\"kid\":\"x\"}]}", "has no 'kty'");
    expect_key_error("{\"keys\": [{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}]}", "oct key is 5 bytes");
    expect_key_error("{\"keys\": [{\"kty\":\"oct\",\"k\":\"c2hvcnQ=\"}]}", "needs 'k', base64url");
    expect_key_error("{\"keys\": [{\"kty\":\"EC\",\"crv\":\"P-192\",\"x\":\"AA\",\"y\":\"AA\"}]}",
                     "curve 'P-192' is not supported");
    /* a point that is not on P-256 */
    char *x = b64url(secret32, 32);
    snprintf(buf, sizeof(buf), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, x);
    expect_key_error(buf, "EC point is not on curve P-256");
    free(x);
    /* an alg that does not fit the key type, and one that does not exist */
    char *ra = jwk_rsa(rsa1, "a", "ES256");
    snprintf(buf, sizeof(buf), "{\"keys\":[%s]}", ra);
    expect_key_error(buf, "'alg' ES256 does not fit a RSA key");
    free(ra);
    ra = jwk_rsa(rsa1, "a", "RSA-OAEP");
    snprintf(buf, sizeof(buf), "{\"keys\":[%s]}", ra);
    expect_key_error(buf, "key 1 (kid 'a'): its alg RSA-OAEP is an encryption algorithm");
    free(ra);
    ra = jwk_rsa(rsa1, "a", "XS999");
    snprintf(buf, sizeof(buf), "{\"keys\":[%s]}", ra);
    expect_key_error(buf, "'alg' XS999 is not one of");
    free(ra);
    /* a file that is not a JWKS at all still fails whole */
    expect_key_error("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}], \"keys\": []}", "keys.json:1:");
    /* duplicate members */
    expect_key_error("{\"kty\":\"oct\",\"kty\":\"RSA\"}", "keys.json:1:");
}

static void test_key_pem_errors(void **s)
{
    /* a private key is refused: it does not belong on the gateway */
    char *priv = priv_pem(rsa1);
    expect_key_error(priv, "is a private key");
    free(priv);
    /* RSA below 2048 bits */
    EVP_PKEY *small = EVP_RSA_gen(1024);
    char *sp = pub_pem(small);
    expect_key_error(sp, "RSA key has 1024 bits");
    free(sp);
    EVP_PKEY_free(small);
    /* X25519 agrees on keys; it never signs */
    EVP_PKEY *xk = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    char *xp = pub_pem(xk);
    expect_key_error(xp, "key type X25519 is for key agreement, not signatures");
    free(xp);
    EVP_PKEY_free(xk);
    /* a corrupted PEM body */
    char *bad = strdup(rsa1_pub);
    bad[40] = bad[40] == 'A' ? 'B' : 'A';
    bad[41] = '!';
    expect_key_error(bad, "keys.json: ");
    free(bad);
    expect_key_error("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "keys.json");
}

static void test_key_files(void **s)
{
    char err[512] = "";
    aigov_identity_t *id = aigov_identity_new();
    assert_int_equal(aigov_identity_add_key_file(id, "/nonexistent/keys.json", err, sizeof(err)), -1);
    assert_string_equal(err, "/nonexistent/keys.json: No such file or directory");
    assert_int_equal(aigov_identity_add_key_file(id, "policies/keys/dev-jwks.json", err, sizeof(err)), 0);
    assert_int_equal(aigov_identity_add_key_file(id, "policies/keys/dev-rs256.pub.pem", err, sizeof(err)), 0);
    assert_int_equal(aigov_identity_add_key_file(id, "policies/keys/dev-es256.pub.pem", err, sizeof(err)), 0);
    assert_int_equal(aigov_identity_key_count(id), 4);
    assert_int_equal(aigov_identity_add_key_file(id, "policies/keys/dev-rs256.pem", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "policies/keys/dev-rs256.pem: is a private key"));
    assert_int_equal(aigov_identity_key_count(id), 4);
    /* the dev JWKS kids match the dev private keys */
    char *t1 = mint("RS256", rsa1, "dev-rs256", claims_exp(T0 + 3600));
    char *t2 = mint("ES256", ec256, "dev-es256", claims_exp(T0 + 3600));
    char *t3 = mint("ES256", ec256, "dev-rs256", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, t1), AIGOV_ID_OK);
    assert_int_equal(verify(id, t2), AIGOV_ID_OK);
    /* the ES256 PEM key has no kid, so it is tried too, and it made t3 */
    assert_int_equal(verify(id, t3), AIGOV_ID_OK);
    free(t1); free(t2); free(t3);
    /* a certificate file works as a public key too */
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, ec384);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, ec384, EVP_sha384());
    char path[] = "/tmp/aigov-cert-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    aigov_identity_t *cid = aigov_identity_new();
    assert_int_equal(aigov_identity_add_key_file(cid, path, err, sizeof(err)), 0);
    unlink(path);
    char *t4 = mint("ES384", ec384, NULL, claims_exp(T0 + 3600));
    assert_int_equal(verify(cid, t4), AIGOV_ID_OK);
    free(t4);
    aigov_identity_free(cid);
    aigov_identity_free(id);
}

static void test_jwk_private_members_ignored(void **s)
{
    /* a JWKS that carries "d" still verifies (public half used) */
    char *e = jwk_ec(ec384, "e", 1);
    aigov_identity_t *id = with_jwks(e, NULL, NULL);
    char *tok = mint("ES384", ec384, "e", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    free(e);
    aigov_identity_free(id);
}

/* ---------- interoperability and the signer ---------- */

static char *libjwt_mint(jwt_alg_t alg, const unsigned char *key, size_t keylen, const char *kid)
{
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    jwt_add_grant(j, "sub", "bob");
    jwt_add_grant_int(j, "exp", (long) (T0 + 3600));
    if (kid)
        jwt_add_header(j, "kid", kid);
    assert_int_equal(jwt_set_alg(j, alg, key, (int) keylen), 0);
    char *t = jwt_encode_str(j);
    assert_non_null(t);
    char *copy = strdup(t);
    free(t);    /* libjwt 1.10 allocates with the default allocator */
    jwt_free(j);
    return copy;
}

static void test_libjwt_interop(void **s)
{
    char *rp = priv_pem(rsa2), *ep = priv_pem(ec256);
    char *oct = jwk_oct(secret64, 64, "h");
    char *rj = jwk_rsa(rsa2, "r", NULL), *ej = jwk_ec(ec256, "e", 0);
    aigov_identity_t *id = with_jwks(rj, ej, oct);
    char *t1 = libjwt_mint(JWT_ALG_RS256, (unsigned char *) rp, strlen(rp), "r");
    char *t2 = libjwt_mint(JWT_ALG_ES256, (unsigned char *) ep, strlen(ep), "e");
    char *t3 = libjwt_mint(JWT_ALG_HS512, secret64, 64, "h");
    char *t4 = libjwt_mint(JWT_ALG_RS512, (unsigned char *) rp, strlen(rp), NULL);
    assert_int_equal(verify(id, t1), AIGOV_ID_OK);
    assert_int_equal(verify(id, t2), AIGOV_ID_OK);
    assert_int_equal(verify(id, t3), AIGOV_ID_OK);
    assert_int_equal(verify(id, t4), AIGOV_ID_OK);
    free(t1); free(t2); free(t3); free(t4);
    free(rp); free(ep); free(oct); free(rj); free(ej);
    aigov_identity_free(id);
}

static void test_signer_roundtrip(void **s)
{
    char err[512];
    aigov_identity_t *id = with_keys(rsa1_pub, ec521_pub);
    char *oct = jwk_oct(secret64, 64, "h");
    assert_int_equal(aigov_identity_add_key_mem(id, oct, strlen(oct), "oct.json", err, sizeof(err)), 0);
    json_t *claims = json_pack("{s:s, s:I}", "sub", "carol", "exp", (json_int_t) (T0 + 3600));

    aigov_jwt_signer_t *sg = aigov_jwt_signer_load("policies/keys/dev-rs256.pem", "dev-rs256", err, sizeof(err));
    assert_non_null(sg);
    assert_string_equal(aigov_jwt_signer_alg(sg), "RS256");
    const char *algs[] = { "RS256", "RS384", "RS512" };
    for (int i = 0; i < 3; i++) {
        char *tok = aigov_jwt_sign(sg, algs[i], claims, err, sizeof(err));
        assert_non_null(tok);
        assert_int_equal(verify(id, tok), AIGOV_ID_OK);   /* PEM keys without kid take any */
        free(tok);
    }
    assert_null(aigov_jwt_sign(sg, "HS256", claims, err, sizeof(err)));
    assert_string_equal(err, "algorithm HS256 is not allowed for RSA key 'policies/keys/dev-rs256.pem'");
    aigov_jwt_signer_free(sg);

    char *ep = priv_pem(ec521);
    sg = aigov_jwt_signer_from_mem(ep, strlen(ep), "ec.pem", NULL, err, sizeof(err));
    assert_non_null(sg);
    assert_string_equal(aigov_jwt_signer_alg(sg), "ES512");
    char *tok = aigov_jwt_sign(sg, NULL, claims, err, sizeof(err));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    aigov_jwt_signer_free(sg);
    free(ep);

    /* a JWKS with private members: kid picks the key */
    char *pj = jwk_ec(ec384, "p384", 1);
    char jwks[4096];
    snprintf(jwks, sizeof(jwks), "{\"keys\":[%s,%s]}", oct, pj);
    sg = aigov_jwt_signer_from_mem(jwks, strlen(jwks), "jwks", "h", err, sizeof(err));
    assert_non_null(sg);
    assert_string_equal(aigov_jwt_signer_alg(sg), "HS256");
    tok = aigov_jwt_sign(sg, "HS512", claims, err, sizeof(err));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    aigov_jwt_signer_free(sg);
    sg = aigov_jwt_signer_from_mem(jwks, strlen(jwks), "jwks", "p384", err, sizeof(err));
    assert_non_null(sg);
    assert_string_equal(aigov_jwt_signer_alg(sg), "ES384");
    assert_string_equal(aigov_jwt_signer_kid(sg), "p384");
    aigov_identity_t *id384 = with_jwks(pj, NULL, NULL);
    tok = aigov_jwt_sign(sg, NULL, claims, err, sizeof(err));
    assert_int_equal(verify(id384, tok), AIGOV_ID_OK);
    free(tok);
    aigov_jwt_signer_free(sg);
    assert_null(aigov_jwt_signer_from_mem(jwks, strlen(jwks), "jwks", "zz", err, sizeof(err)));
    assert_string_equal(err, "jwks: no private key with kid 'zz'");
    /* a public-only JWKS cannot sign */
    assert_null(aigov_jwt_signer_from_mem(rsa1_pub, strlen(rsa1_pub), "pub.pem", NULL, err, sizeof(err)));
    assert_string_equal(err, "pub.pem: holds no private key");
    /* a raw secret file */
    assert_null(aigov_jwt_signer_from_mem("short", 5, "secret", NULL, err, sizeof(err)));
    sg = aigov_jwt_signer_from_mem((const char *) secret64, 64, "secret", "h", err, sizeof(err));
    tok = aigov_jwt_sign(sg, "HS384", claims, err, sizeof(err));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    aigov_jwt_signer_free(sg);
    aigov_identity_free(id384);
    free(pj);
    free(oct);
    json_decref(claims);
    aigov_identity_free(id);
}

static void test_status_codes_distinct(void **s)
{
    for (int a = AIGOV_ID_OK; a <= AIGOV_ID_NOMEM; a++)
        for (int b = a + 1; b <= AIGOV_ID_NOMEM; b++)
            assert_string_not_equal(aigov_id_status_code((aigov_id_status_t) a),
                                    aigov_id_status_code((aigov_id_status_t) b));
}

/* ---------- #21: keys as IdPs publish them ---------- */

static char notes[4096];
static int nnotes;
static void collect(void *data, const char *line)
{
    (void) data;
    size_t n = strlen(notes);
    snprintf(notes + n, sizeof(notes) - n, "%s\n", line);
    nnotes++;
}

static char *jwk_okp(EVP_PKEY *k, const char *kid, const char *extra)
{
    unsigned char raw[64];
    size_t len = sizeof(raw);
    EVP_PKEY_get_raw_public_key(k, raw, &len);
    char *x = b64url(raw, len);
    char *out = malloc(512);
    snprintf(out, 512, "{\"kty\":\"OKP\",\"crv\":\"%s\",\"kid\":\"%s\",\"x\":\"%s\"%s}",
             len == 32 ? "Ed25519" : "Ed448", kid, x, extra ? extra : "");
    free(x);
    return out;
}

static void test_jwks_skips_unusable_keys(void **s)
{
    char buf[16384], err[512];
    EVP_PKEY *xk = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    unsigned char raw[32];
    size_t rl = sizeof(raw);
    EVP_PKEY_get_raw_public_key(xk, raw, &rl);
    char *x = b64url(raw, rl);
    char *good = jwk_rsa(rsa1, "sig1", "RS256");
    char *enc = jwk_rsa(rsa2, "enc1", NULL);
    char *oaep = jwk_rsa(rsa2, "oaep1", "RSA-OAEP");
    char *ops = jwk_rsa(rsa2, "ops1", NULL);
    /* "use":"enc"; alg RSA-OAEP without use (Azure AD, Keycloak); key_ops
     * without verify; X25519; an unknown kty; an RSA key too small */
    enc[strlen(enc) - 1] = '\0';
    ops[strlen(ops) - 1] = '\0';
    snprintf(buf, sizeof(buf), "{\"keys\":[%s,%s,\"use\":\"enc\"},%s,%s,\"key_ops\":[\"encrypt\",\"wrapKey\"]},"
             "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"kid\":\"ecdh1\",\"x\":\"%s\"},"
             "{\"kty\":\"PQC\",\"kid\":\"future\"}]}", good, enc, oaep, ops, x);
    notes[0] = '\0';
    nnotes = 0;
    aigov_identity_t *id = aigov_identity_new();
    aigov_identity_set_notice(id, collect, NULL);
    assert_int_equal(aigov_identity_add_key_mem(id, buf, strlen(buf), "idp.json", err, sizeof(err)), 0);
    assert_int_equal(aigov_identity_key_count(id), 1);
    assert_int_equal(nnotes, 5);
    assert_non_null(strstr(notes, "idp.json: key 2 (kid 'enc1') skipped: its use is 'enc', not 'sig'\n"));
    assert_non_null(strstr(notes, "key 3 (kid 'oaep1') skipped: its alg RSA-OAEP is an encryption algorithm"));
    assert_non_null(strstr(notes, "key 4 (kid 'ops1') skipped: its key_ops do not include 'verify'"));
    assert_non_null(strstr(notes, "key 5 (kid 'ecdh1') skipped: OKP curve X25519 is for key agreement"));
    assert_non_null(strstr(notes, "key 6 (kid 'future') skipped: kty 'PQC' is not supported"));
    char *tok = mint("RS256", rsa1, "sig1", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    /* security: a key whose key_ops exclude verify never verifies, not even
     * a token signed by its own private key and naming its kid */
    tok = mint("RS256", rsa2, "ops1", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_UNKNOWN_KID);
    free(tok);
    tok = mint("RS256", rsa2, "enc1", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_UNKNOWN_KID);
    free(tok);
    /* key_ops with verify is fine; key_ops of the wrong type is skipped */
    aigov_identity_free(id);
    char *k2 = jwk_rsa(rsa2, "v", NULL);
    k2[strlen(k2) - 1] = '\0';
    snprintf(buf, sizeof(buf), "{\"keys\":[%s,\"key_ops\":[\"verify\"]}]}", k2);
    id = aigov_identity_new();
    assert_int_equal(aigov_identity_add_key_mem(id, buf, strlen(buf), "v.json", err, sizeof(err)), 0);
    tok = mint("RS256", rsa2, "v", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    aigov_identity_free(id);
    snprintf(buf, sizeof(buf), "{\"keys\":[%s,\"key_ops\":\"verify\"}]}", k2);
    expect_key_error(buf, "'key_ops' is not an array of strings");
    free(k2);
    free(x); free(good); free(enc); free(oaep); free(ops);
    EVP_PKEY_free(xk);
}

static void test_pss(void **s)
{
    const char *payload = claims_exp(T0 + 3600);
    /* an RSA key without alg (PEM, or a JWK without alg) takes PS* too */
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    const char *algs[] = { "PS256", "PS384", "PS512" };
    for (int i = 0; i < 3; i++) {
        char *tok = mint(algs[i], rsa1, NULL, payload);
        assert_int_equal(verify(id, tok), AIGOV_ID_OK);
        free(tok);
    }
    /* a PS256 signature labelled RS256, or PS384 */
    char *tok = mint_raw("PS256", rsa1, NULL, 0, "{\"alg\":\"RS256\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    tok = mint_raw("PS256", rsa1, NULL, 0, "{\"alg\":\"PS384\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    /* RFC 7518 fixes the salt at the hash length: another salt is refused */
    pss_salt = 20;
    tok = mint("PS256", rsa1, NULL, payload);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    pss_salt = RSA_PSS_SALTLEN_DIGEST;
    /* another key's PS256 */
    tok = mint("PS256", rsa2, NULL, payload);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    aigov_identity_free(id);

    /* a JWK with alg PS256 pins PS256 */
    char *j = jwk_rsa(rsa1, "p", "PS256");
    id = with_jwks(j, NULL, NULL);
    tok = mint("PS256", rsa1, "p", payload);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    tok = mint("RS256", rsa1, "p", payload);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    assert_string_equal(msg, "algorithm RS256 is not allowed for RSA key 'p' (its alg is PS256)");
    free(tok);
    tok = mint("PS512", rsa1, "p", payload);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    free(tok);
    free(j);
    aigov_identity_free(id);

    /* an RSASSA-PSS key (its own OID) takes PS* only */
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    assert_int_equal(EVP_PKEY_keygen_init(kc), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 2048), 1);
    assert_int_equal(EVP_PKEY_generate(kc, &pk), 1);
    EVP_PKEY_CTX_free(kc);
    char *pp = pub_pem(pk);
    id = with_keys(pp, NULL);
    tok = mint("PS256", pk, NULL, payload);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    tok = mint_raw("PS256", pk, NULL, 0, "{\"alg\":\"RS256\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    assert_non_null(strstr(msg, "RSA-PSS key"));
    free(tok);
    free(pp);
    EVP_PKEY_free(pk);
    aigov_identity_free(id);
}

static void test_eddsa(void **s)
{
    const char *payload = claims_exp(T0 + 3600);
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char *j1 = jwk_okp(ed, "ed1", NULL);
    char *j2 = jwk_okp(ed448, "ed2", NULL);
    char *j3 = jwk_okp(ed, "ed3", ",\"alg\":\"EdDSA\"");
    aigov_identity_t *id = with_jwks(j1, j2, j3);
    struct { const char *alg, *kid; EVP_PKEY *k; aigov_id_status_t st; } cases[] = {
        { "EdDSA", "ed1", ed, AIGOV_ID_OK },
        { "Ed25519", "ed1", ed, AIGOV_ID_OK },      /* RFC 9864's fully-specified name */
        { "EdDSA", "ed2", ed448, AIGOV_ID_OK },
        { "Ed448", "ed2", ed448, AIGOV_ID_OK },
        { "Ed25519", "ed3", ed, AIGOV_ID_OK },      /* alg EdDSA on an Ed25519 key */
        { "Ed448", "ed1", ed, AIGOV_ID_BAD_ALG },   /* the curve decides */
        { "EdDSA", "ed1", other, AIGOV_ID_BAD_SIGNATURE },
        { "EdDSA", "ed2", ed, AIGOV_ID_BAD_SIGNATURE },   /* 64-byte signature, Ed448 key */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char h[128];
        snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"kid\":\"%s\"}", cases[i].alg, cases[i].kid);
        char *tok = mint_raw("EdDSA", cases[i].k, NULL, 0, h, payload, 0);
        if (verify(id, tok) != cases[i].st)
            fail_msg("case %zu (%s, %s): %s", i, cases[i].alg, cases[i].kid, msg);
        free(tok);
    }
    /* an ES256 token naming an OKP key: the key decides the family */
    char *tok = mint_raw("ES256", ec256, NULL, 0, "{\"alg\":\"ES256\",\"kid\":\"ed1\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    free(tok);
    /* HS256 made with the public x as secret */
    aigov_identity_free(id);
    /* a PEM Ed25519 key, without kid, verifies tokens naming any kid */
    char *pp = pub_pem(ed);
    id = with_keys(pp, NULL);
    tok = mint_raw("EdDSA", ed, NULL, 0, "{\"alg\":\"EdDSA\",\"kid\":\"whatever\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    tok = mint_raw("EdDSA", ed, NULL, 0, "{\"alg\":\"RS256\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ALG);
    free(tok);
    aigov_identity_free(id);
    /* the signer makes EdDSA tokens that the verifier takes */
    char *priv = priv_pem(ed), err[512];
    aigov_jwt_signer_t *sg = aigov_jwt_signer_from_mem(priv, strlen(priv), "ed.pem", NULL, err, sizeof(err));
    assert_non_null(sg);
    assert_string_equal(aigov_jwt_signer_alg(sg), "EdDSA");
    json_t *claims = json_pack("{s:s, s:I}", "sub", "carol", "exp", (json_int_t) (T0 + 3600));
    char *st = aigov_jwt_sign(sg, NULL, claims, err, sizeof(err));
    assert_non_null(st);
    id = with_keys(pp, NULL);
    assert_int_equal(verify(id, st), AIGOV_ID_OK);
    free(st);
    aigov_identity_free(id);
    json_decref(claims);
    aigov_jwt_signer_free(sg);
    free(priv);
    free(pp);
    free(j1); free(j2); free(j3);
    EVP_PKEY_free(ed); EVP_PKEY_free(ed448); EVP_PKEY_free(other);
}

static void test_max_lifetime(void **s)
{
    char p[256];
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    struct { const char *claims; aigov_id_status_t st; } cases[] = {
        /* verify() runs at T0 + 10; default limit 24 h */
        { "{\"sub\":\"a\",\"iat\":%lld,\"exp\":%lld}", AIGOV_ID_OK },
        { "{\"sub\":\"a\",\"exp\":1e308}", AIGOV_ID_TOO_LONG_LIVED },
        { "{\"sub\":\"a\",\"exp\":9223372036854775807}", AIGOV_ID_TOO_LONG_LIVED },
    };
    snprintf(p, sizeof(p), cases[0].claims, T0, T0 + 86400);
    char *tok = mint("RS256", rsa1, NULL, p);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    snprintf(p, sizeof(p), cases[0].claims, T0, T0 + 86401);
    tok = mint("RS256", rsa1, NULL, p);
    assert_int_equal(verify(id, tok), AIGOV_ID_TOO_LONG_LIVED);
    assert_string_equal(msg, "token lifetime (exp - iat) is 86401s; at most 86400s are accepted");
    assert_string_equal(aigov_id_status_code(AIGOV_ID_TOO_LONG_LIVED), "token_lifetime_too_long");
    free(tok);
    /* issued long ago with a long life: exp - iat decides */
    snprintf(p, sizeof(p), cases[0].claims, T0 - 2 * 86400, T0 + 3600);
    tok = mint("RS256", rsa1, NULL, p);
    assert_int_equal(verify(id, tok), AIGOV_ID_TOO_LONG_LIVED);
    free(tok);
    for (int i = 1; i < 3; i++) {
        tok = mint("RS256", rsa1, NULL, cases[i].claims);
        assert_int_equal(verify(id, tok), cases[i].st);
        free(tok);
    }
    /* without iat, exp from now (plus the leeway) */
    snprintf(p, sizeof(p), "{\"sub\":\"a\",\"exp\":%lld}", T0 + 10 + 86400 + 60);
    tok = mint("RS256", rsa1, NULL, p);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    snprintf(p, sizeof(p), "{\"sub\":\"a\",\"exp\":%lld}", T0 + 10 + 86400 + 61);
    tok = mint("RS256", rsa1, NULL, p);
    assert_int_equal(verify(id, tok), AIGOV_ID_TOO_LONG_LIVED);
    assert_non_null(strstr(msg, "token expires in 86461s"));
    /* a longer limit, and none */
    aigov_identity_set_max_lifetime(id, 7 * 86400);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    tok = mint("RS256", rsa1, NULL, "{\"sub\":\"a\",\"exp\":1e308}");
    assert_int_equal(verify(id, tok), AIGOV_ID_TOO_LONG_LIVED);
    aigov_identity_set_max_lifetime(id, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    aigov_identity_free(id);
}

static void test_several_issuers_audiences(void **s)
{
    char p[512];
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    /* Azure AD v1 and v2 issuers of one tenant */
    assert_int_equal(aigov_identity_add_issuer(id, "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"), 0);
    assert_int_equal(aigov_identity_add_issuer(id, "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"), 0);
    assert_int_equal(aigov_identity_add_audience(id, "api://aigov"), 0);
    assert_int_equal(aigov_identity_add_audience(id, "aigov-gateway"), 0);
    struct { const char *iss, *aud; aigov_id_status_t st; } cases[] = {
        { "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/", "\"api://aigov\"", AIGOV_ID_OK },
        { "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", "\"aigov-gateway\"", AIGOV_ID_OK },
        { "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", "[\"x\",\"aigov-gateway\"]", AIGOV_ID_OK },
        /* another tenant: same length, one character apart */
        { "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db48/", "\"api://aigov\"", AIGOV_ID_BAD_ISSUER },
        { "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47", "\"api://aigov\"", AIGOV_ID_BAD_ISSUER },
        { "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/", "\"api://aigov2\"", AIGOV_ID_BAD_AUDIENCE },
        { "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/", "[\"api://aigo\"]", AIGOV_ID_BAD_AUDIENCE },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(p, sizeof(p), "{\"sub\":\"a\",\"iss\":\"%s\",\"aud\":%s,\"exp\":%lld}",
                 cases[i].iss, cases[i].aud, T0 + 3600);
        char *tok = mint("RS256", rsa1, NULL, p);
        if (verify(id, tok) != cases[i].st)
            fail_msg("case %zu: %s", i, msg);
        if (cases[i].st == AIGOV_ID_BAD_ISSUER)
            assert_string_equal(msg + strlen(msg) - strlen("is not one of the accepted ones"),
                                "is not one of the accepted ones");
        if (cases[i].st == AIGOV_ID_BAD_AUDIENCE)
            assert_string_equal(msg, "token audience includes none of the 2 accepted ones");
        free(tok);
    }
    /* set_* brings it back to one */
    assert_int_equal(aigov_identity_set_issuer(id, "https://idp"), 0);
    snprintf(p, sizeof(p), "{\"sub\":\"a\",\"iss\":\"%s\",\"aud\":\"api://aigov\",\"exp\":%lld}",
             cases[0].iss, T0 + 3600);
    char *tok = mint("RS256", rsa1, NULL, p);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_ISSUER);
    free(tok);
    aigov_identity_free(id);
}

static void test_typ(void **s)
{
    const char *payload = claims_exp(T0 + 3600);
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    /* not required: any typ, or none */
    char *tok = mint_raw("RS256", rsa1, NULL, 0, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    assert_int_equal(aigov_identity_add_typ(id, "at+jwt"), 0);
    assert_int_equal(aigov_identity_add_typ(id, ""), -2);
    struct { const char *typ; aigov_id_status_t st; } cases[] = {
        { "\"at+jwt\"", AIGOV_ID_OK },
        { "\"AT+JWT\"", AIGOV_ID_OK },
        { "\"application/at+jwt\"", AIGOV_ID_OK },
        { "\"Application/At+JWT\"", AIGOV_ID_OK },
        { "\"JWT\"", AIGOV_ID_BAD_TYPE },           /* an ID token */
        { "\"application/jwt\"", AIGOV_ID_BAD_TYPE },
        { "\"text/at+jwt\"", AIGOV_ID_BAD_TYPE },
        { "\"application/x/at+jwt\"", AIGOV_ID_BAD_TYPE },
        { "\"at+jwt \"", AIGOV_ID_BAD_TYPE },
        { "1", AIGOV_ID_BAD_TYPE },
        { NULL, AIGOV_ID_BAD_TYPE },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char h[128];
        if (cases[i].typ)
            snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"typ\":%s}", cases[i].typ);
        else
            snprintf(h, sizeof(h), "{\"alg\":\"RS256\"}");
        tok = mint_raw("RS256", rsa1, NULL, 0, h, payload, 0);
        if (verify(id, tok) != cases[i].st)
            fail_msg("case %zu (%s): %s", i, cases[i].typ ? cases[i].typ : "none", msg);
        free(tok);
    }
    assert_string_equal(aigov_id_status_code(AIGOV_ID_BAD_TYPE), "invalid_token_type");
    /* the configured value may carry the prefix too; several are allowed */
    assert_int_equal(aigov_identity_add_typ(id, NULL), 0);
    assert_int_equal(aigov_identity_add_typ(id, "application/AT+JWT"), 0);
    assert_int_equal(aigov_identity_add_typ(id, "secevent+jwt"), 0);
    tok = mint_raw("RS256", rsa1, NULL, 0, "{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    tok = mint_raw("RS256", rsa1, NULL, 0, "{\"alg\":\"RS256\",\"typ\":\"application/secevent+jwt\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_OK);
    free(tok);
    /* a forged token learns nothing: the signature is judged first */
    tok = mint_raw("RS256", rsa2, NULL, 0, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, 0);
    assert_int_equal(verify(id, tok), AIGOV_ID_BAD_SIGNATURE);
    free(tok);
    aigov_identity_free(id);
}

static void test_subject(void **s)
{
    struct { const char *claims, *path; aigov_id_status_t st; const char *m; } cases[] = {
        { "{\"sub\":\"alice\"}", NULL, AIGOV_ID_OK, "" },
        { "{}", NULL, AIGOV_ID_BAD_SUBJECT, "token has no subject claim 'sub'" },
        { "{\"sub\":\"\"}", NULL, AIGOV_ID_BAD_SUBJECT, "token subject claim 'sub' is empty" },
        { "{\"sub\":42}", "sub", AIGOV_ID_BAD_SUBJECT, "token subject claim 'sub' is not a string" },
        { "{\"sub\":null}", "sub", AIGOV_ID_BAD_SUBJECT, "token subject claim 'sub' is not a string" },
        { "{\"sub\":[\"a\"]}", "sub", AIGOV_ID_BAD_SUBJECT, "token subject claim 'sub' is not a string" },
        { "{\"sub\":\"a\",\"oid\":\"\"}", "oid", AIGOV_ID_BAD_SUBJECT, "token subject claim 'oid' is empty" },
        { "{\"user\":{\"id\":\"u1\"}}", "user.id", AIGOV_ID_OK, "" },
        { "{\"a.b\":{\"c\":\"x\"}}", "\"a.b\".c", AIGOV_ID_OK, "" },
    };
    char m[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *c = json_loads(cases[i].claims, 0, NULL);
        m[0] = '\0';
        assert_int_equal(aigov_identity_check_subject(c, cases[i].path, m, sizeof(m)), cases[i].st);
        assert_string_equal(m, cases[i].m);
        json_decref(c);
    }
    assert_string_equal(aigov_id_status_code(AIGOV_ID_BAD_SUBJECT), "invalid_subject");
}

static void test_replace_fetched(void **s)
{
    char err[512], change[512];
    char *a = jwk_rsa(rsa1, "a", NULL), *b = jwk_rsa(rsa2, "b", NULL);
    char s1[8192], s2[8192];
    snprintf(s1, sizeof(s1), "{\"keys\":[%s]}", a);
    snprintf(s2, sizeof(s2), "{\"keys\":[%s,%s]}", a, b);
    aigov_identity_t *id = aigov_identity_new();
    char *ta = mint("RS256", rsa1, "a", claims_exp(T0 + 3600));
    char *tb = mint("RS256", rsa2, "b", claims_exp(T0 + 3600));
    assert_int_equal(verify(id, ta), AIGOV_ID_UNKNOWN_KID);
    assert_int_equal(aigov_identity_replace_fetched(id, s1, strlen(s1), "jwks", change, sizeof(change), err, sizeof(err)), 0);
    assert_string_equal(change, "added 'a'");
    assert_int_equal(aigov_identity_fetched_count(id), 1);
    assert_int_equal(verify(id, ta), AIGOV_ID_OK);
    assert_int_equal(verify(id, tb), AIGOV_ID_UNKNOWN_KID);
    /* the same set again: nothing changed */
    assert_int_equal(aigov_identity_replace_fetched(id, s1, strlen(s1), "jwks", change, sizeof(change), err, sizeof(err)), 0);
    assert_string_equal(change, "");
    assert_int_equal(aigov_identity_replace_fetched(id, s2, strlen(s2), "jwks", change, sizeof(change), err, sizeof(err)), 0);
    assert_string_equal(change, "added 'b'");
    assert_int_equal(verify(id, tb), AIGOV_ID_OK);
    /* a bad document keeps the last good set */
    assert_int_equal(aigov_identity_replace_fetched(id, "<html>", 6, "jwks", change, sizeof(change), err, sizeof(err)), -1);
    assert_string_equal(err, "jwks: neither a PEM key nor a JWKS file");
    assert_int_equal(aigov_identity_replace_fetched(id, "{\"keys\":[]}", 11, "jwks", change, sizeof(change), err, sizeof(err)), -1);
    assert_int_equal(verify(id, ta), AIGOV_ID_OK);
    assert_int_equal(verify(id, tb), AIGOV_ID_OK);
    /* a rotated-out key stops verifying at once, cached tokens included */
    snprintf(s1, sizeof(s1), "{\"keys\":[%s]}", b);
    assert_int_equal(aigov_identity_replace_fetched(id, s1, strlen(s1), "jwks", change, sizeof(change), err, sizeof(err)), 0);
    assert_string_equal(change, "removed 'a'");
    assert_int_equal(verify(id, ta), AIGOV_ID_UNKNOWN_KID);
    assert_int_equal(verify(id, tb), AIGOV_ID_OK);
    /* a key under a kid that was re-used for new material counts as changed */
    char *b2 = jwk_rsa(rsa1, "b", NULL);
    snprintf(s1, sizeof(s1), "{\"keys\":[%s]}", b2);
    assert_int_equal(aigov_identity_replace_fetched(id, s1, strlen(s1), "jwks", change, sizeof(change), err, sizeof(err)), 0);
    assert_string_equal(change, "added 'b', removed 'b'");
    assert_int_equal(verify(id, tb), AIGOV_ID_BAD_SIGNATURE);
    free(ta); free(tb); free(a); free(b); free(b2);
    aigov_identity_free(id);
}

static void test_leeway_clamped(void **s)
{
    aigov_identity_t *id = with_keys(rsa1_pub, NULL);
    aigov_identity_set_leeway(id, -5);
    char *tok = mint("RS256", rsa1, NULL, claims_exp(T0 + 100));
    assert_int_equal(verify_at(id, tok, T0 + 100), AIGOV_ID_EXPIRED);
    assert_string_equal(msg, "token expired 0s ago");
    aigov_identity_set_leeway(id, 10L * 365 * 86400);   /* clamped to one day */
    assert_int_equal(verify_at(id, tok, T0 + 100 + 86399), AIGOV_ID_OK);
    assert_int_equal(verify_at(id, tok, T0 + 100 + 86400), AIGOV_ID_EXPIRED);
    free(tok);
    aigov_identity_free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs256),
        cmocka_unit_test(test_rs384),
        cmocka_unit_test(test_rs512),
        cmocka_unit_test(test_es256),
        cmocka_unit_test(test_es384),
        cmocka_unit_test(test_es512),
        cmocka_unit_test(test_hs256_jwks),
        cmocka_unit_test(test_hs_secret_length_per_alg),
        cmocka_unit_test(test_jwks_two_kids_and_rotation),
        cmocka_unit_test(test_two_files_rotation),
        cmocka_unit_test(test_kid_selects_only_that_key),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_no_keys),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_alg_confusion_pem),
        cmocka_unit_test(test_alg_confusion_jwks),
        cmocka_unit_test(test_ec_curve_fixes_alg),
        cmocka_unit_test(test_jwk_alg_restricts),
        cmocka_unit_test(test_unsupported_alg),
        cmocka_unit_test(test_crit_header_refused),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_signature_lengths),
        cmocka_unit_test(test_missing_and_scheme),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_bad_base64),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_leeway_exp_edges),
        cmocka_unit_test(test_leeway_nbf_edges),
        cmocka_unit_test(test_iat_in_future),
        cmocka_unit_test(test_exp_required_and_typed),
        cmocka_unit_test(test_issuer),
        cmocka_unit_test(test_audience),
        cmocka_unit_test(test_cache_hits),
        cmocka_unit_test(test_cache_expires_at_exp),
        cmocka_unit_test(test_cache_rechecks_nbf),
        cmocka_unit_test(test_cache_eviction_bound),
        cmocka_unit_test(test_cache_byte_bound),
        cmocka_unit_test(test_cache_disabled_and_cleared),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_key_pem_errors),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_jwk_private_members_ignored),
        cmocka_unit_test(test_libjwt_interop),
        cmocka_unit_test(test_signer_roundtrip),
        cmocka_unit_test(test_status_codes_distinct),
        cmocka_unit_test(test_leeway_clamped),
        cmocka_unit_test(test_jwks_skips_unusable_keys),
        cmocka_unit_test(test_pss),
        cmocka_unit_test(test_eddsa),
        cmocka_unit_test(test_max_lifetime),
        cmocka_unit_test(test_several_issuers_audiences),
        cmocka_unit_test(test_typ),
        cmocka_unit_test(test_subject),
        cmocka_unit_test(test_replace_fetched),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

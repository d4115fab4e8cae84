/*
 * identity internals shared by jwk.c (keys), jws.c (signatures), token_cache.c
 * and identity.c / jwt_sign.c. Not part of the library's public surface.
 */
#ifndef AIGOV_IDENTITY_INT_H
#define AIGOV_IDENTITY_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include <openssl/evp.h>

typedef enum { AIGOV_KTY_RSA = 1, AIGOV_KTY_EC, AIGOV_KTY_OCT, AIGOV_KTY_OKP } aigov_kty_t;

/* One JWS algorithm (RFC 7518, RFC 8037, RFC 9864). size: HS minimum secret
 * (= hash) length, ES coordinate length in bytes, EdDSA signature length
 * (0: by the key's curve), RS/PS unused. pss: RSASSA-PSS rather than
 * PKCS#1 v1.5. curve: OKP, the one curve of a fully-specified name
 * ("Ed25519"); NULL for "EdDSA", which takes either. */
typedef struct {
    const char *name;
    aigov_kty_t kty;
    const char *md;
    size_t size;
    int pss;
    const char *curve;
} aigov_jwa_t;

const aigov_jwa_t *aigov_jwa_find(const char *name);
const char *aigov_kty_name(aigov_kty_t kty);

typedef struct {
    aigov_kty_t kty;
    char *kid;                  /* NULL when the key has none */
    char *label;                /* kid, or where the key came from */
    const aigov_jwa_t *alg;     /* JWK "alg": only this one; NULL: any of kty */
    const aigov_jwa_t *curve_alg;   /* EC: the one algorithm of its curve */
    const char *curve;          /* OKP: "Ed25519" or "Ed448" */
    int pss_only;               /* RSA: an RSASSA-PSS key (PEM), PS* only */
    EVP_PKEY *pkey;             /* RSA, EC */
    unsigned char *secret;      /* oct */
    size_t secret_len;
    int is_private;             /* can sign */
} aigov_jwk_t;

/*
 * Parse every key in data (PEM or JWKS/JWK JSON) and append them to
 * *keys / *nkeys. want_private: also read private material (for signing);
 * otherwise a PEM private key is an error and JWK private members are
 * ignored. A JWK that cannot be used is skipped, and notice (if not NULL)
 * gets a line naming it and why. On error nothing is appended and err says
 * why, prefixed by name. Returns 0, -1 bad input, -2 out of memory.
 */
typedef void (*aigov_jwk_notice_fn)(void *data, const char *msg);
int aigov_jwk_load(const char *data, size_t len, const char *name, int want_private,
                   aigov_jwk_t **keys, size_t *nkeys, aigov_jwk_notice_fn notice, void *ndata,
                   char *err, size_t errlen);
void aigov_jwk_clear(aigov_jwk_t *k);

/* 1 when key k may be used with alg; else 0 and why ("algorithm HS256 is not
 * allowed for RSA key 'k1'"). */
int aigov_jwk_allows(const aigov_jwk_t *k, const aigov_jwa_t *alg, char *why, size_t whylen);

/* base64url without padding, strict: only [A-Za-z0-9_-], no '=', unused
 * trailing bits zero. Returns 0, -1 bad input, -2 out of memory. *out is
 * NUL-terminated (not counted in *outlen). */
int aigov_id_b64url_decode(const char *s, size_t len, unsigned char **out, size_t *outlen);
char *aigov_id_b64url_encode(const unsigned char *p, size_t len);   /* NULL: no memory */

/* 1 verified, 0 not. Never leaves errors on the OpenSSL error queue. */
int aigov_jws_verify(const aigov_jwk_t *k, const aigov_jwa_t *alg,
                     const unsigned char *input, size_t inlen,
                     const unsigned char *sig, size_t siglen);
/* 0 and a malloc'd signature (ES: raw r||s), or -1. */
int aigov_jws_sign(const aigov_jwk_t *k, const aigov_jwa_t *alg,
                   const unsigned char *input, size_t inlen,
                   unsigned char **sig, size_t *siglen);

/* Verified-token cache (token_cache.c): exact token bytes -> claims. */
typedef struct aigov_tcache_s aigov_tcache_t;
aigov_tcache_t *aigov_tcache_new(size_t max_entries, size_t max_bytes);
void aigov_tcache_free(aigov_tcache_t *c);
void aigov_tcache_clear(aigov_tcache_t *c);
size_t aigov_tcache_count(const aigov_tcache_t *c);
/* Borrowed claims when the token is cached and valid_from <= now < valid_until;
 * a stale entry is dropped and NULL returned. */
json_t *aigov_tcache_get(aigov_tcache_t *c, const char *tok, size_t len, time_t now);
/* Takes a new reference to claims. 0, or -1 when not cached (no memory,
 * too large). */
int aigov_tcache_put(aigov_tcache_t *c, const char *tok, size_t len, json_t *claims,
                     long long valid_from, long long valid_until);

#endif

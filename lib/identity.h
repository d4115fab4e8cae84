/*
 * identity: who is calling, from a Bearer JWT.
 *
 * A handle holds the verification keys (PEM public keys and JWKS files),
 * the required issuer and audience, the clock leeway and a cache of tokens
 * already verified. One handle per nginx worker (after fork): nothing here
 * locks.
 *
 * The algorithm comes from the key, never from the token:
 *   RSA keys        RS256, RS384, RS512, PS256, PS384, PS512 (a PEM key of
 *                   type RSASSA-PSS: PS* only)
 *   EC keys         ES256 (P-256), ES384 (P-384), ES512 (P-521), by curve
 *   OKP keys        EdDSA; Ed25519 or Ed448 by curve (RFC 8037, RFC 9864)
 *   oct (JWKS only) HS256, HS384, HS512 (the secret must be at least as long
 *                   as the hash: 32, 48, 64 bytes)
 * A JWK with "alg" allows only that algorithm (EdDSA and the name of the
 * key's curve count as one). An RSA key without alg takes both RSA
 * families: PKCS#1 v1.5 and PSS signatures can only be made with the
 * private key, so taking both lets no one forge anything, while a PEM key
 * (which has no alg) could otherwise never verify PS256.
 * When the token names a kid, keys with that kid and keys without any kid
 * are tried; without a kid every key whose type fits the token's alg is
 * tried, so several keys can be configured at once and one rotated without
 * downtime.
 *
 * Claims: exp is required (a token without exp is refused: a bearer token
 * that never expires cannot be revoked), and exp - iat and exp - now may not
 * exceed the maximum lifetime (24 h unless set). nbf and iat are checked
 * when present. exp, nbf and iat must be numbers. iss and aud are checked
 * when configured (any of several accepted values); aud may be a string or
 * an array of strings. The header's typ is checked when required.
 * With leeway L a token is valid while  nbf - L <= now < exp + L  and
 * iat <= now + L.
 */
#ifndef AIGOV_IDENTITY_H
#define AIGOV_IDENTITY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#define AIGOV_ID_MAX_TOKEN      16384   /* bytes of the token itself */
#define AIGOV_ID_MAX_KEY_FILE   (1024 * 1024)
#define AIGOV_ID_DEFAULT_LEEWAY 60
#define AIGOV_ID_DEFAULT_CACHE  1024    /* entries */
#define AIGOV_ID_DEFAULT_CACHE_BYTES (4 * 1024 * 1024)
#define AIGOV_ID_DEFAULT_MAX_LIFETIME 86400     /* seconds */

typedef struct aigov_identity_s aigov_identity_t;

typedef enum {
    AIGOV_ID_OK = 0,
    AIGOV_ID_MISSING,        /* no Authorization header or no Bearer token in it */
    AIGOV_ID_MALFORMED,      /* not three base64url parts, bad JSON, bad claim type, no exp */
    AIGOV_ID_TOO_LARGE,      /* token longer than AIGOV_ID_MAX_TOKEN */
    AIGOV_ID_BAD_ALG,        /* alg none, unknown, or not allowed for the key */
    AIGOV_ID_UNKNOWN_KID,    /* no configured key has the token's kid (or no keys at all) */
    AIGOV_ID_BAD_SIGNATURE,
    AIGOV_ID_EXPIRED,
    AIGOV_ID_NOT_YET_VALID,  /* nbf, or iat, in the future beyond the leeway */
    AIGOV_ID_BAD_ISSUER,
    AIGOV_ID_BAD_AUDIENCE,
    AIGOV_ID_NOMEM,
    AIGOV_ID_BAD_SUBJECT,    /* the subject claim is missing, not a string, or empty */
    AIGOV_ID_TOO_LONG_LIVED, /* exp - iat or exp - now beyond the maximum lifetime */
    AIGOV_ID_BAD_TYPE        /* typ required and missing or not an accepted one */
} aigov_id_status_t;

/* A line about a key that was skipped ("keys.json: key 2 (kid 'x') skipped:
 * its use is 'enc', not 'sig'"). */
typedef void (*aigov_id_notice_fn)(void *data, const char *msg);

/* NULL when out of memory. Leeway 60s, cache of 1024 entries / 4 MiB. */
aigov_identity_t *aigov_identity_new(void);
void aigov_identity_free(aigov_identity_t *id);

/*
 * Add the keys of a file: a PEM public key (RSA, RSA-PSS, EC, Ed25519,
 * Ed448; also an X.509 certificate) or a JWKS / single JWK JSON file (kty
 * RSA, EC, OKP, oct). Private members of a JWK ("d", ...) are ignored; a
 * PEM private key is refused so that secrets do not end up in the gateway's
 * configuration by mistake. JWKs that cannot verify are skipped, each with a
 * line to the notice function: "use" other than "sig", "key_ops" without
 * "verify", an encryption alg (RSA-OAEP, ECDH-ES, ...), an unsupported kty
 * or curve, bad or weak key material. Returns 0, or -1 with err naming the
 * file and why ("keys.json: has no usable signature keys; key 1 (kid 'a'):
 * member 'n' is missing"). Changing keys clears the cache.
 */
int aigov_identity_add_key_file(aigov_identity_t *id, const char *path,
                                char *err, size_t errlen);
/* The same from memory; name is used in messages (and as the label of a key
 * without kid). */
int aigov_identity_add_key_mem(aigov_identity_t *id, const char *data, size_t len,
                               const char *name, char *err, size_t errlen);
size_t aigov_identity_key_count(const aigov_identity_t *id);
/* Where lines about skipped keys go; NULL (the default): nowhere. */
void aigov_identity_set_notice(aigov_identity_t *id, aigov_id_notice_fn fn, void *data);

/*
 * Keys fetched from the IdP (a JWKS document): they replace the previously
 * fetched set whole, beside the keys of files, which stay. On error (not a
 * JWKS, no usable key) the previous set is kept and -1 returned with err.
 * change (if not NULL) gets what changed ("added 'k2', removed 'k1'"), or
 * "" when the new set holds the same keys.
 */
int aigov_identity_replace_fetched(aigov_identity_t *id, const char *data, size_t len,
                                   const char *name, char *change, size_t changelen,
                                   char *err, size_t errlen);
size_t aigov_identity_fetched_count(const aigov_identity_t *id);

/* set: NULL = not checked, else exactly this one; add: one more accepted
 * value. Return -1 when out of memory. Clear the cache. */
int aigov_identity_set_issuer(aigov_identity_t *id, const char *iss);
int aigov_identity_add_issuer(aigov_identity_t *id, const char *iss);
int aigov_identity_set_audience(aigov_identity_t *id, const char *aud);
int aigov_identity_add_audience(aigov_identity_t *id, const char *aud);
/* One more accepted typ ("at+jwt"; "application/at+jwt" is the same, and
 * case does not matter); NULL: typ not checked (the default). -1 out of
 * memory, -2 not a usable value (empty, over 100 bytes). */
int aigov_identity_add_typ(aigov_identity_t *id, const char *typ);
/* Seconds, clamped to 0..86400. Default 60. Clears the cache. */
void aigov_identity_set_leeway(aigov_identity_t *id, long seconds);
/* The longest a token may live: exp - iat, and exp - now (plus leeway).
 * 0: no limit. Default 86400. Clears the cache. */
void aigov_identity_set_max_lifetime(aigov_identity_t *id, long seconds);

/*
 * Verified-token cache: at most max_entries tokens and max_bytes of token
 * text, least recently used evicted first. 0 entries disables it. An entry
 * is used only while now < exp (and nbf/iat still pass), so a hit never
 * outlives the token. Returns -1 when out of memory (cache then disabled).
 */
int aigov_identity_set_cache(aigov_identity_t *id, size_t max_entries);
int aigov_identity_set_cache_limits(aigov_identity_t *id, size_t max_entries,
                                    size_t max_bytes);
/* Lookups that hit / missed since the handle was made, and the number of
 * tokens whose signature was actually checked. Any pointer may be NULL. */
void aigov_identity_stats(const aigov_identity_t *id, uint64_t *hits,
                          uint64_t *misses, uint64_t *sig_checks);
size_t aigov_identity_cache_count(const aigov_identity_t *id);

/*
 * header_value is the whole Authorization header value ("Bearer xxx", len
 * bytes, need not be NUL-terminated), or NULL when the header is absent.
 * On OK *claims (if claims is not NULL) gets a new reference to the
 * payload object; treat it as read-only, it may be shared with the cache.
 * Otherwise msg (if not NULL) gets a sentence for the 401 answer, e.g.
 * "token expired 42s ago", "token signature does not verify",
 * "algorithm HS256 is not allowed for RSA key 'k1'".
 */
aigov_id_status_t aigov_identity_verify(aigov_identity_t *id,
                                        const char *header_value, size_t len,
                                        time_t now, json_t **claims,
                                        char *msg, size_t msglen);

/* The subject of a verified token: the claim at path (a claim path as in
 * policies, see claim_path.h; NULL = "sub") must be a non-empty string, or
 * callers without one would share one quota bucket and one audit name.
 * AIGOV_ID_OK, or AIGOV_ID_BAD_SUBJECT with msg. */
aigov_id_status_t aigov_identity_check_subject(const json_t *claims, const char *path,
                                               char *msg, size_t msglen);

/* Short code for the error JSON: "token_missing", "token_expired",
 * "invalid_signature", ... */
const char *aigov_id_status_code(aigov_id_status_t s);

#endif

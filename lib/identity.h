/*
 * identity: who is calling, from a Bearer JWT.
 *
 * A handle holds the verification keys (PEM public keys and JWKS files),
 * the required issuer and audience, the clock leeway and a cache of tokens
 * already verified. One handle per nginx worker (after fork): nothing here
 * locks.
 *
 * The algorithm comes from the key, never from the token:
 *   RSA keys        RS256, RS384, RS512
 *   EC keys         ES256 (P-256), ES384 (P-384), ES512 (P-521), by curve
 *   oct (JWKS only) HS256, HS384, HS512 (the secret must be at least as long
 *                   as the hash: 32, 48, 64 bytes)
 * A JWK with "alg" allows only that algorithm.
 * When the token names a kid only keys with that kid are tried; without a
 * kid every key whose type fits the token's alg is tried, so several keys
 * can be configured at once and one rotated without downtime.
 *
 * Claims: exp is required (a token without exp is refused: a bearer token
 * that never expires cannot be revoked). nbf and iat are checked when
 * present. exp, nbf and iat must be numbers. iss and aud are checked when
 * configured; aud may be a string or an array of strings.
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
    AIGOV_ID_NOMEM
} aigov_id_status_t;

/* NULL when out of memory. Leeway 60s, cache of 1024 entries / 4 MiB. */
aigov_identity_t *aigov_identity_new(void);
void aigov_identity_free(aigov_identity_t *id);

/*
 * Add the keys of a file: a PEM public key (RSA or EC; also an X.509
 * certificate) or a JWKS / single JWK JSON file (kty RSA, EC, oct). Private
 * members of a JWK ("d", ...) are ignored; a PEM private key is refused so
 * that secrets do not end up in the gateway's configuration by mistake.
 * JWKs with "use" other than "sig" are skipped. Returns 0, or -1 with err
 * naming the file and why ("keys.json: key 2 (kid 'a'): RSA key has no 'n'").
 * Changing keys clears the cache.
 */
int aigov_identity_add_key_file(aigov_identity_t *id, const char *path,
                                char *err, size_t errlen);
/* The same from memory; name is used in messages (and as the label of a key
 * without kid). */
int aigov_identity_add_key_mem(aigov_identity_t *id, const char *data, size_t len,
                               const char *name, char *err, size_t errlen);
size_t aigov_identity_key_count(const aigov_identity_t *id);

/* NULL = not checked. Return -1 when out of memory. Clear the cache. */
int aigov_identity_set_issuer(aigov_identity_t *id, const char *iss);
int aigov_identity_set_audience(aigov_identity_t *id, const char *aud);
/* Seconds, clamped to 0..86400. Default 60. Clears the cache. */
void aigov_identity_set_leeway(aigov_identity_t *id, long seconds);

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

/* Short code for the error JSON: "token_missing", "token_expired",
 * "invalid_signature", ... */
const char *aigov_id_status_code(aigov_id_status_t s);

#endif

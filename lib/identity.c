/*
 * identity: verify a Bearer JWT against the configured keys and claims.
 *
 * Order of checks: header shape, size, cache, base64url and JSON of the three
 * parts, algorithm and key choice, signature, then claims. Claims are only
 * judged once the signature holds, so a forged token learns nothing about
 * what the claims would need to be.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "claim_path.h"
#include "errbuf.h"
#include "identity.h"
#include "identity_int.h"

#define MAX_LEEWAY 86400
#define TIME_CLAMP (1LL << 53)   /* beyond any real date; keeps sums from overflowing */

/* A list of accepted values (issuers, audiences, typ); empty: not checked. */
typedef struct {
    char **v;
    size_t n;
} strlist_t;

struct aigov_identity_s {
    aigov_jwk_t *keys;          /* from key files */
    size_t nkeys;
    aigov_jwk_t *fetched;       /* the last good JWKS fetched, replaced whole */
    size_t nfetched;
    strlist_t issuers;
    strlist_t audiences;
    strlist_t typs;             /* normalized: no "application/", lower case */
    long leeway;
    long max_lifetime;          /* 0: no limit */
    aigov_id_notice_fn notice;
    void *notice_data;
    aigov_tcache_t *cache;
    size_t cache_entries, cache_bytes;
    uint64_t hits, misses, sig_checks;
};

/* Token-supplied text for a message: printable ASCII only, bounded. */
static const char *shown(const char *s, char *buf, size_t buflen)
{
    size_t n = 0, i = 0;
    for (; s[i] != '\0' && n + 4 < buflen; i++)
        buf[n++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?';
    if (s[i] != '\0') {
        buf[n++] = '.'; buf[n++] = '.'; buf[n++] = '.';
    }
    buf[n] = '\0';
    return buf;
}

static void strlist_clear(strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int strlist_add(strlist_t *l, const char *s)
{
    char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return -1;
    l->v = nv;
    if ((l->v[l->n] = strdup(s)) == NULL)
        return -1;
    l->n++;
    return 0;
}

static int strlist_has(const strlist_t *l, const char *s, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == len && memcmp(l->v[i], s, len) == 0)
            return 1;
    return 0;
}

aigov_identity_t *aigov_identity_new(void)
{
    aigov_identity_t *id = calloc(1, sizeof(*id));
    if (id == NULL)
        return NULL;
    id->leeway = AIGOV_ID_DEFAULT_LEEWAY;
    id->max_lifetime = AIGOV_ID_DEFAULT_MAX_LIFETIME;
    if (aigov_identity_set_cache_limits(id, AIGOV_ID_DEFAULT_CACHE, AIGOV_ID_DEFAULT_CACHE_BYTES) != 0) {
        aigov_identity_free(id);
        return NULL;
    }
    return id;
}

void aigov_identity_free(aigov_identity_t *id)
{
    if (id == NULL)
        return;
    for (size_t i = 0; i < id->nkeys; i++)
        aigov_jwk_clear(&id->keys[i]);
    free(id->keys);
    for (size_t i = 0; i < id->nfetched; i++)
        aigov_jwk_clear(&id->fetched[i]);
    free(id->fetched);
    strlist_clear(&id->issuers);
    strlist_clear(&id->audiences);
    strlist_clear(&id->typs);
    aigov_tcache_free(id->cache);
    free(id);
}

int aigov_identity_add_key_mem(aigov_identity_t *id, const char *data, size_t len,
                               const char *name, char *err, size_t errlen)
{
    if (len > AIGOV_ID_MAX_KEY_FILE) {
        aigov_errorf(err, errlen, "%s: larger than %d bytes", name ? name : "key", AIGOV_ID_MAX_KEY_FILE);
        return -1;
    }
    aigov_tcache_clear(id->cache);
    return aigov_jwk_load(data, len, name, 0, &id->keys, &id->nkeys, id->notice, id->notice_data,
                          err, errlen) == 0 ? 0 : -1;
}

void aigov_identity_set_notice(aigov_identity_t *id, aigov_id_notice_fn fn, void *data)
{
    id->notice = fn;
    id->notice_data = data;
}

/* Two keys are the same when their kid, type, pinned alg and material are. */
static int same_key(const aigov_jwk_t *a, const aigov_jwk_t *b)
{
    if (a->kty != b->kty || a->alg != b->alg || (a->kid == NULL) != (b->kid == NULL)
        || (a->kid != NULL && strcmp(a->kid, b->kid) != 0))
        return 0;
    if (a->kty == AIGOV_KTY_OCT)
        return a->secret_len == b->secret_len && memcmp(a->secret, b->secret, a->secret_len) == 0;
    return EVP_PKEY_eq(a->pkey, b->pkey) == 1;
}

static int key_in(const aigov_jwk_t *k, const aigov_jwk_t *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (same_key(k, &set[i]))
            return 1;
    return 0;
}

/* Append "label" to a change summary, bounded. */
static void note_key(char *buf, size_t len, size_t *used, const char *what, const aigov_jwk_t *k, int *first)
{
    if (buf == NULL || *used + 1 >= len)
        return;
    int n = snprintf(buf + *used, len - *used, "%s%s '%.64s'", *first ? "" : ", ", what, k->label);
    *first = 0;
    if (n > 0)
        *used = *used + (size_t) n < len ? *used + (size_t) n : len - 1;
}

int aigov_identity_replace_fetched(aigov_identity_t *id, const char *data, size_t len,
                                   const char *name, char *change, size_t changelen,
                                   char *err, size_t errlen)
{
    aigov_jwk_t *keys = NULL;
    size_t n = 0, used = 0;
    int first = 1;
    if (change != NULL && changelen > 0)
        change[0] = '\0';
    if (len > AIGOV_ID_MAX_KEY_FILE) {
        aigov_errorf(err, errlen, "%s: larger than %d bytes", name ? name : "JWKS", AIGOV_ID_MAX_KEY_FILE);
        return -1;
    }
    if (aigov_jwk_load(data, len, name, 0, &keys, &n, id->notice, id->notice_data, err, errlen) != 0) {
        free(keys);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!key_in(&keys[i], id->fetched, id->nfetched))
            note_key(change, changelen, &used, "added", &keys[i], &first);
    for (size_t i = 0; i < id->nfetched; i++)
        if (!key_in(&id->fetched[i], keys, n))
            note_key(change, changelen, &used, "removed", &id->fetched[i], &first);
    for (size_t i = 0; i < id->nfetched; i++)
        aigov_jwk_clear(&id->fetched[i]);
    free(id->fetched);
    id->fetched = keys;
    id->nfetched = n;
    /* a token verified by a key that is gone must be checked again */
    if (!first)
        aigov_tcache_clear(id->cache);
    return 0;
}

size_t aigov_identity_fetched_count(const aigov_identity_t *id)
{
    return id->nfetched;
}

int aigov_identity_add_key_file(aigov_identity_t *id, const char *path,
                                char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        aigov_errorf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(AIGOV_ID_MAX_KEY_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        aigov_errorf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, AIGOV_ID_MAX_KEY_FILE + 1, f);
    int rd_err = ferror(f);
    fclose(f);
    int rc;
    if (rd_err) {
        aigov_errorf(err, errlen, "%s: read error", path);
        rc = -1;
    } else if (n > AIGOV_ID_MAX_KEY_FILE) {
        aigov_errorf(err, errlen, "%s: larger than %d bytes", path, AIGOV_ID_MAX_KEY_FILE);
        rc = -1;
    } else {
        rc = aigov_identity_add_key_mem(id, buf, n, path, err, errlen);
    }
    free(buf);
    return rc;
}

size_t aigov_identity_key_count(const aigov_identity_t *id)
{
    return id->nkeys;
}

int aigov_identity_set_issuer(aigov_identity_t *id, const char *iss)
{
    aigov_tcache_clear(id->cache);
    strlist_clear(&id->issuers);
    return iss == NULL ? 0 : strlist_add(&id->issuers, iss);
}

int aigov_identity_add_issuer(aigov_identity_t *id, const char *iss)
{
    aigov_tcache_clear(id->cache);
    return strlist_add(&id->issuers, iss);
}

int aigov_identity_set_audience(aigov_identity_t *id, const char *aud)
{
    aigov_tcache_clear(id->cache);
    strlist_clear(&id->audiences);
    return aud == NULL ? 0 : strlist_add(&id->audiences, aud);
}

int aigov_identity_add_audience(aigov_identity_t *id, const char *aud)
{
    aigov_tcache_clear(id->cache);
    return strlist_add(&id->audiences, aud);
}

/*
 * RFC 7515 4.1.9: "application/" may be left out of a media type, and media
 * types compare case-insensitively (RFC 2045). Both the configured and the
 * token's typ are brought to the short lower-case form, "at+jwt"; a type
 * that names another slash keeps its prefix.
 */
static size_t typ_norm(const char *t, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    if (len > 12 && aigov_ascii_ieq(t, 12, "application/") && memchr(t + 12, '/', len - 12) == NULL) {
        t += 12;
        len -= 12;
    }
    if (len >= outlen)
        return (size_t) -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) t[i];
        if (c == '\0')
            return (size_t) -1;
        out[n++] = (char) aigov_ascii_lower(c);
    }
    out[n] = '\0';
    return n;
}

int aigov_identity_add_typ(aigov_identity_t *id, const char *typ)
{
    char buf[128];
    aigov_tcache_clear(id->cache);
    if (typ == NULL) {
        strlist_clear(&id->typs);
        return 0;
    }
    if (typ_norm(typ, strlen(typ), buf, sizeof(buf)) == (size_t) -1 || buf[0] == '\0')
        return -2;
    return strlist_add(&id->typs, buf);
}

void aigov_identity_set_max_lifetime(aigov_identity_t *id, long seconds)
{
    aigov_tcache_clear(id->cache);
    id->max_lifetime = seconds < 0 ? 0 : seconds;
}

void aigov_identity_set_leeway(aigov_identity_t *id, long seconds)
{
    aigov_tcache_clear(id->cache);
    id->leeway = seconds < 0 ? 0 : seconds > MAX_LEEWAY ? MAX_LEEWAY : seconds;
}

int aigov_identity_set_cache_limits(aigov_identity_t *id, size_t max_entries, size_t max_bytes)
{
    aigov_tcache_free(id->cache);
    id->cache = NULL;
    id->cache_entries = 0;
    id->cache_bytes = 0;
    if (max_entries == 0 || max_bytes == 0)
        return 0;
    id->cache = aigov_tcache_new(max_entries, max_bytes);
    if (id->cache == NULL)
        return -1;
    id->cache_entries = max_entries;
    id->cache_bytes = max_bytes;
    return 0;
}

int aigov_identity_set_cache(aigov_identity_t *id, size_t max_entries)
{
    return aigov_identity_set_cache_limits(id, max_entries, AIGOV_ID_DEFAULT_CACHE_BYTES);
}

void aigov_identity_stats(const aigov_identity_t *id, uint64_t *hits,
                          uint64_t *misses, uint64_t *sig_checks)
{
    if (hits) *hits = id->hits;
    if (misses) *misses = id->misses;
    if (sig_checks) *sig_checks = id->sig_checks;
}

size_t aigov_identity_cache_count(const aigov_identity_t *id)
{
    return aigov_tcache_count(id->cache);
}

aigov_id_status_t aigov_identity_check_subject(const json_t *claims, const char *path,
                                               char *msg, size_t msglen)
{
    const json_t *s = aigov_claim_get(claims, path != NULL ? path : "sub");
    char buf[80];
    shown(path != NULL ? path : "sub", buf, 64);
    if (s == NULL) {
        aigov_errorf(msg, msglen, "token has no subject claim '%s'", buf);
        return AIGOV_ID_BAD_SUBJECT;
    }
    if (!json_is_string(s)) {
        aigov_errorf(msg, msglen, "token subject claim '%s' is not a string", buf);
        return AIGOV_ID_BAD_SUBJECT;
    }
    if (json_string_length(s) == 0) {
        aigov_errorf(msg, msglen, "token subject claim '%s' is empty", buf);
        return AIGOV_ID_BAD_SUBJECT;
    }
    return AIGOV_ID_OK;
}

const char *aigov_id_status_code(aigov_id_status_t s)
{
    switch (s) {
    case AIGOV_ID_OK:            return "ok";
    case AIGOV_ID_MISSING:       return "token_missing";
    case AIGOV_ID_MALFORMED:     return "token_malformed";
    case AIGOV_ID_TOO_LARGE:     return "token_too_large";
    case AIGOV_ID_BAD_ALG:       return "invalid_algorithm";
    case AIGOV_ID_UNKNOWN_KID:   return "unknown_key";
    case AIGOV_ID_BAD_SIGNATURE: return "invalid_signature";
    case AIGOV_ID_EXPIRED:       return "token_expired";
    case AIGOV_ID_NOT_YET_VALID: return "token_not_yet_valid";
    case AIGOV_ID_BAD_ISSUER:    return "invalid_issuer";
    case AIGOV_ID_BAD_AUDIENCE:  return "invalid_audience";
    case AIGOV_ID_NOMEM:         return "internal_error";
    case AIGOV_ID_BAD_SUBJECT:   return "invalid_subject";
    case AIGOV_ID_TOO_LONG_LIVED: return "token_lifetime_too_long";
    case AIGOV_ID_BAD_TYPE:      return "invalid_token_type";
    }
    return "internal_error";
}

/* Decode one base64url part into a JSON object. */
static aigov_id_status_t decode_json(const char *p, size_t len, const char *what,
                                     json_t **out, char *msg, size_t msglen)
{
    unsigned char *raw;
    size_t rawlen;
    json_error_t jerr;
    int rc = aigov_id_b64url_decode(p, len, &raw, &rawlen);
    *out = NULL;
    if (rc == -2)
        return AIGOV_ID_NOMEM;
    if (rc != 0) {
        aigov_errorf(msg, msglen, "token %s is not base64url", what);
        return AIGOV_ID_MALFORMED;
    }
    /* Duplicate members are how one parser sees "admin" and another does not. */
    json_t *j = json_loadb((const char *) raw, rawlen, JSON_REJECT_DUPLICATES, &jerr);
    free(raw);
    if (j == NULL) {
        aigov_errorf(msg, msglen, "token %s is not valid JSON", what);
        return AIGOV_ID_MALFORMED;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        aigov_errorf(msg, msglen, "token %s is not a JSON object", what);
        return AIGOV_ID_MALFORMED;
    }
    *out = j;
    return AIGOV_ID_OK;
}

/* A NumericDate claim: 0 absent, 1 present (in *t), -1 not a number. */
static int time_claim(json_t *claims, const char *name, long long *t)
{
    json_t *v = json_object_get(claims, name);
    if (v == NULL)
        return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        *t = i > TIME_CLAMP ? TIME_CLAMP : i < -TIME_CLAMP ? -TIME_CLAMP : (long long) i;
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d))
            return -1;
        d = floor(d);
        *t = d > (double) TIME_CLAMP ? TIME_CLAMP : d < (double) -TIME_CLAMP ? -TIME_CLAMP : (long long) d;
        return 1;
    }
    return -1;
}

/* Choose the keys for this token and try them; OK when one verifies. */
static aigov_id_status_t check_signature(aigov_identity_t *id, json_t *hdr,
                                         const char *tok, size_t signed_len,
                                         const unsigned char *sig, size_t siglen,
                                         char *msg, size_t msglen)
{
    char buf[80];
    json_t *jalg = json_object_get(hdr, "alg");
    json_t *jkid = json_object_get(hdr, "kid");
    if (!json_is_string(jalg)) {
        aigov_errorf(msg, msglen, "token header has no alg");
        return AIGOV_ID_MALFORMED;
    }
    const char *algname = json_string_value(jalg);
    if (aigov_ascii_ieq(algname, strlen(algname), "none")) {
        aigov_errorf(msg, msglen, "unsigned tokens (alg none) are not accepted");
        return AIGOV_ID_BAD_ALG;
    }
    const aigov_jwa_t *alg = aigov_jwa_find(algname);
    if (alg == NULL) {
        aigov_errorf(msg, msglen, "algorithm %s is not supported", shown(algname, buf, 24));
        return AIGOV_ID_BAD_ALG;
    }
    if (jkid != NULL && !json_is_string(jkid)) {
        aigov_errorf(msg, msglen, "token header kid is not a string");
        return AIGOV_ID_MALFORMED;
    }
    /* RFC 7515 4.1.11: extensions we do not understand must not be ignored. */
    if (json_object_get(hdr, "crit") != NULL) {
        aigov_errorf(msg, msglen, "token header has crit extensions, none of which are supported");
        return AIGOV_ID_MALFORMED;
    }
    if (id->nkeys + id->nfetched == 0) {
        aigov_errorf(msg, msglen, "no token verification keys are configured");
        return AIGOV_ID_UNKNOWN_KID;
    }
    const char *kid = json_string_value(jkid);
    size_t named = 0, exact = 0, fitting = 0;
    char why[256] = "";
    /* A key without a kid (a PEM key, a JWK without one) is tried for any
     * token: IdPs put a kid in every token, and the operator who configured
     * one key means that key. A key with a kid answers only to its kid. */
    for (size_t i = 0; i < id->nkeys + id->nfetched; i++) {
        const aigov_jwk_t *k = i < id->nkeys ? &id->keys[i] : &id->fetched[i - id->nkeys];
        if (kid != NULL && k->kid != NULL && strcmp(k->kid, kid) != 0)
            continue;
        if (kid != NULL && k->kid != NULL)
            exact++;
        named++;
        if (!aigov_jwk_allows(k, alg, fitting == 0 && why[0] == '\0' ? why : NULL, sizeof(why)))
            continue;
        fitting++;
        id->sig_checks++;
        if (aigov_jws_verify(k, alg, (const unsigned char *) tok, signed_len, sig, siglen))
            return AIGOV_ID_OK;
    }
    /* a kid nobody has: the keys may have rotated (the caller may fetch) */
    if (kid != NULL && exact == 0) {
        aigov_errorf(msg, msglen, "no key with kid '%s'", shown(kid, buf, 64));
        return AIGOV_ID_UNKNOWN_KID;
    }
    if (fitting == 0) {
        if (named == 1)
            aigov_errorf(msg, msglen, "%s", why);
        else
            aigov_errorf(msg, msglen, "algorithm %s is not allowed by any configured key", alg->name);
        return AIGOV_ID_BAD_ALG;
    }
    aigov_errorf(msg, msglen, "token signature does not verify");
    return AIGOV_ID_BAD_SIGNATURE;
}

static aigov_id_status_t check_claims(aigov_identity_t *id, json_t *c, time_t now_t,
                                      long long *valid_from, long long *valid_until,
                                      char *msg, size_t msglen)
{
    long long now = (long long) now_t, L = id->leeway, exp = 0, nbf = 0, iat = 0;
    char buf[80];
    int has_exp = time_claim(c, "exp", &exp);
    int has_nbf = time_claim(c, "nbf", &nbf);
    int has_iat = time_claim(c, "iat", &iat);
    if (has_exp < 0 || has_nbf < 0 || has_iat < 0) {
        aigov_errorf(msg, msglen, "claim %s is not a number",
               has_exp < 0 ? "exp" : has_nbf < 0 ? "nbf" : "iat");
        return AIGOV_ID_MALFORMED;
    }
    if (!has_exp) {
        aigov_errorf(msg, msglen, "token has no exp");
        return AIGOV_ID_MALFORMED;
    }
    if (now >= exp + L) {
        aigov_errorf(msg, msglen, "token expired %llds ago", now - exp);
        return AIGOV_ID_EXPIRED;
    }
    if (has_nbf && now < nbf - L) {
        aigov_errorf(msg, msglen, "token is not valid for another %llds", nbf - now);
        return AIGOV_ID_NOT_YET_VALID;
    }
    if (has_iat && iat > now + L) {
        aigov_errorf(msg, msglen, "token was issued %llds in the future", iat - now);
        return AIGOV_ID_NOT_YET_VALID;
    }
    /* a token that never expires cannot be revoked: exp far in the future
     * is as bad as no exp */
    if (id->max_lifetime > 0) {
        if (has_iat && exp - iat > id->max_lifetime) {
            aigov_errorf(msg, msglen, "token lifetime (exp - iat) is %llds; at most %lds are accepted",
                         exp - iat, id->max_lifetime);
            return AIGOV_ID_TOO_LONG_LIVED;
        }
        if (exp - now > id->max_lifetime + L) {
            aigov_errorf(msg, msglen, "token expires in %llds; at most %lds are accepted",
                         exp - now, id->max_lifetime);
            return AIGOV_ID_TOO_LONG_LIVED;
        }
    }
    if (id->issuers.n > 0) {
        json_t *iss = json_object_get(c, "iss");
        if (!json_is_string(iss)) {
            aigov_errorf(msg, msglen, iss ? "token iss is not a string" : "token has no iss");
            return AIGOV_ID_BAD_ISSUER;
        }
        if (!strlist_has(&id->issuers, json_string_value(iss), json_string_length(iss))) {
            aigov_errorf(msg, msglen, "token issuer '%s' is not %s",
                   shown(json_string_value(iss), buf, 64),
                   id->issuers.n == 1 ? "the accepted one" : "one of the accepted ones");
            return AIGOV_ID_BAD_ISSUER;
        }
    }
    if (id->audiences.n > 0) {
        json_t *aud = json_object_get(c, "aud");
        int found = 0;
        if (aud == NULL) {
            aigov_errorf(msg, msglen, "token has no aud");
            return AIGOV_ID_BAD_AUDIENCE;
        }
        if (json_is_string(aud)) {
            found = strlist_has(&id->audiences, json_string_value(aud), json_string_length(aud));
        } else if (json_is_array(aud)) {
            size_t i;
            json_t *a;
            json_array_foreach(aud, i, a) {
                if (!json_is_string(a)) {
                    aigov_errorf(msg, msglen, "claim aud is not a string or an array of strings");
                    return AIGOV_ID_MALFORMED;
                }
                if (strlist_has(&id->audiences, json_string_value(a), json_string_length(a)))
                    found = 1;
            }
        } else {
            aigov_errorf(msg, msglen, "claim aud is not a string or an array of strings");
            return AIGOV_ID_MALFORMED;
        }
        if (!found) {
            if (id->audiences.n == 1)
                aigov_errorf(msg, msglen, "token audience does not include '%s'",
                             shown(id->audiences.v[0], buf, 64));
            else
                aigov_errorf(msg, msglen, "token audience includes none of the %zu accepted ones",
                             id->audiences.n);
            return AIGOV_ID_BAD_AUDIENCE;
        }
    }
    /* A cache hit must be exactly as valid as a fresh check, and never
     * outlive exp (the leeway past exp is left to the full path). */
    *valid_from = -TIME_CLAMP;
    if (has_nbf && nbf - L > *valid_from)
        *valid_from = nbf - L;
    if (has_iat && iat - L > *valid_from)
        *valid_from = iat - L;
    *valid_until = exp;
    return AIGOV_ID_OK;
}

/* RFC 9068: an access token says so in typ, so that an ID token of the same
 * issuer and audience is not taken for one. */
static aigov_id_status_t check_typ(aigov_identity_t *id, json_t *hdr, char *msg, size_t msglen)
{
    char norm[128], buf[80];
    if (id->typs.n == 0)
        return AIGOV_ID_OK;
    json_t *t = json_object_get(hdr, "typ");
    if (t == NULL) {
        aigov_errorf(msg, msglen, "token header has no typ; %s is required", id->typs.v[0]);
        return AIGOV_ID_BAD_TYPE;
    }
    if (!json_is_string(t)) {
        aigov_errorf(msg, msglen, "token header typ is not a string");
        return AIGOV_ID_BAD_TYPE;
    }
    size_t n = typ_norm(json_string_value(t), json_string_length(t), norm, sizeof(norm));
    if (n == (size_t) -1 || !strlist_has(&id->typs, norm, n)) {
        aigov_errorf(msg, msglen, "token type '%s' is not accepted (%s is required)",
                     shown(json_string_value(t), buf, 40), id->typs.v[0]);
        return AIGOV_ID_BAD_TYPE;
    }
    return AIGOV_ID_OK;
}

/* "Bearer <token>": the token, or NULL with the status set. */
static const char *bearer_token(const char *h, size_t len, size_t *toklen,
                                aigov_id_status_t *st, char *msg, size_t msglen)
{
    size_t i = 0;
    while (i < len && (h[i] == ' ' || h[i] == '\t'))
        i++;
    while (len > i && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    *st = AIGOV_ID_MISSING;
    if (i == len) {
        aigov_errorf(msg, msglen, "Authorization header is empty");
        return NULL;
    }
    if (len - i < 6 || !aigov_ascii_ieq(h + i, 6, "bearer")
        || (len - i > 6 && h[i + 6] != ' ' && h[i + 6] != '\t')) {
        aigov_errorf(msg, msglen, "Authorization header does not hold a Bearer token");
        return NULL;
    }
    i += 6;
    while (i < len && (h[i] == ' ' || h[i] == '\t'))
        i++;
    if (i == len) {
        aigov_errorf(msg, msglen, "Bearer token is empty");
        return NULL;
    }
    *toklen = len - i;
    return h + i;
}

aigov_id_status_t aigov_identity_verify(aigov_identity_t *id,
                                        const char *header_value, size_t len,
                                        time_t now, json_t **claims,
                                        char *msg, size_t msglen)
{
    aigov_id_status_t st;
    size_t toklen = 0;
    json_t *hdr = NULL, *payload = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;

    if (claims != NULL)
        *claims = NULL;
    if (msg != NULL && msglen > 0)
        msg[0] = '\0';
    if (header_value == NULL) {
        aigov_errorf(msg, msglen, "no Authorization header");
        return AIGOV_ID_MISSING;
    }
    const char *tok = bearer_token(header_value, len, &toklen, &st, msg, msglen);
    if (tok == NULL)
        return st;
    if (toklen > AIGOV_ID_MAX_TOKEN) {
        aigov_errorf(msg, msglen, "token is %zu bytes; at most %d are accepted", toklen, AIGOV_ID_MAX_TOKEN);
        return AIGOV_ID_TOO_LARGE;
    }

    if (id->cache != NULL) {
        json_t *hit = aigov_tcache_get(id->cache, tok, toklen, now);
        if (hit != NULL) {
            id->hits++;
            if (claims != NULL)
                *claims = json_incref(hit);
            return AIGOV_ID_OK;
        }
        id->misses++;
    }

    const char *dot1 = memchr(tok, '.', toklen);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', toklen - (size_t) (dot1 + 1 - tok)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', toklen - (size_t) (dot2 + 1 - tok)) != NULL) {
        aigov_errorf(msg, msglen, "token does not have three dot-separated parts");
        return AIGOV_ID_MALFORMED;
    }
    size_t hlen = (size_t) (dot1 - tok);
    size_t plen = (size_t) (dot2 - dot1 - 1);
    size_t slen = toklen - (size_t) (dot2 + 1 - tok);

    st = decode_json(tok, hlen, "header", &hdr, msg, msglen);
    if (st != AIGOV_ID_OK)
        goto done;
    st = decode_json(dot1 + 1, plen, "payload", &payload, msg, msglen);
    if (st != AIGOV_ID_OK)
        goto done;
    int rc = aigov_id_b64url_decode(dot2 + 1, slen, &sig, &siglen);
    if (rc != 0) {
        st = rc == -2 ? AIGOV_ID_NOMEM : AIGOV_ID_MALFORMED;
        aigov_errorf(msg, msglen, rc == -2 ? "out of memory" : "token signature is not base64url");
        goto done;
    }
    st = check_signature(id, hdr, tok, (size_t) (dot2 - tok), sig, siglen, msg, msglen);
    if (st != AIGOV_ID_OK)
        goto done;
    st = check_typ(id, hdr, msg, msglen);
    if (st != AIGOV_ID_OK)
        goto done;

    long long from = 0, until = 0;
    st = check_claims(id, payload, now, &from, &until, msg, msglen);
    if (st != AIGOV_ID_OK)
        goto done;
    if (id->cache != NULL && (long long) now >= from && (long long) now < until)
        aigov_tcache_put(id->cache, tok, toklen, payload, from, until);
    if (claims != NULL)
        *claims = json_incref(payload);

done:
    if (st == AIGOV_ID_NOMEM)
        aigov_errorf(msg, msglen, "out of memory");
    free(sig);
    json_decref(hdr);
    json_decref(payload);
    return st;
}

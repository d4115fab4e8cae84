/*
 * jwt_sign: the signing half of JWS compact serialisation, on the same key
 * loading and algorithm rules as the verifier.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "errbuf.h"
#include "identity.h"
#include "identity_int.h"
#include "jwt_sign.h"

struct aigov_jwt_signer_s {
    aigov_jwk_t key;
    char *kid;          /* for the header */
};

/* 2: JSON (JWKS or JWK), 1: PEM, 0: anything else (a raw secret). */
static int key_format(const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    if (i < len && data[i] == '{')
        return 2;
    return memmem(data, len, "-----BEGIN ", 11) != NULL;
}

aigov_jwt_signer_t *aigov_jwt_signer_from_mem(const char *data, size_t len,
                                              const char *name, const char *kid,
                                              char *err, size_t errlen)
{
    aigov_jwt_signer_t *s = calloc(1, sizeof(*s));
    aigov_jwk_t *keys = NULL;
    size_t n = 0;
    if (s == NULL) {
        aigov_errorf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    int format = key_format(data, len);
    if (format == 0) {
        /* A secret file: its bytes as they are, newline included, so that
         * the verifier's JWKS "k" is simply their base64url. */
        if (len < 32) {
            aigov_errorf(err, errlen, "%s: an HMAC secret needs at least 32 bytes, this has %zu", name, len);
            goto fail;
        }
        s->key.kty = AIGOV_KTY_OCT;
        s->key.is_private = 1;
        s->key.secret = malloc(len);
        s->key.label = strdup(name);
        if (s->key.secret == NULL || s->key.label == NULL) {
            aigov_errorf(err, errlen, "%s: out of memory", name);
            goto fail;
        }
        memcpy(s->key.secret, data, len);
        s->key.secret_len = len;
    } else {
        if (aigov_jwk_load(data, len, name, 1, &keys, &n, NULL, NULL, err, errlen) != 0)
            goto fail;
        size_t pick = n;
        int is_jwks = format == 2;
        for (size_t i = 0; i < n && pick == n; i++) {
            if (!keys[i].is_private)
                continue;
            if (kid != NULL && is_jwks && (keys[i].kid == NULL || strcmp(keys[i].kid, kid) != 0))
                continue;
            pick = i;
        }
        if (pick == n) {
            if (kid != NULL && is_jwks)
                aigov_errorf(err, errlen, "%s: no private key with kid '%s'", name, kid);
            else
                aigov_errorf(err, errlen, "%s: holds no private key", name);
            goto fail;
        }
        s->key = keys[pick];
        memset(&keys[pick], 0, sizeof(keys[pick]));
    }
    const char *hkid = kid != NULL ? kid : s->key.kid;
    if (hkid != NULL && (s->kid = strdup(hkid)) == NULL) {
        aigov_errorf(err, errlen, "%s: out of memory", name);
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        aigov_jwk_clear(&keys[i]);
    free(keys);
    return s;
fail:
    for (size_t i = 0; i < n; i++)
        aigov_jwk_clear(&keys[i]);
    free(keys);
    aigov_jwt_signer_free(s);
    return NULL;
}

aigov_jwt_signer_t *aigov_jwt_signer_load(const char *path, const char *kid,
                                          char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        aigov_errorf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(AIGOV_ID_MAX_KEY_FILE + 1);
    size_t n = buf ? fread(buf, 1, AIGOV_ID_MAX_KEY_FILE + 1, f) : 0;
    int bad = buf == NULL || ferror(f) || n > AIGOV_ID_MAX_KEY_FILE;
    fclose(f);
    aigov_jwt_signer_t *s = NULL;
    if (bad)
        aigov_errorf(err, errlen, "%s: cannot read it (or larger than %d bytes)", path, AIGOV_ID_MAX_KEY_FILE);
    else
        s = aigov_jwt_signer_from_mem(buf, n, path, kid, err, errlen);
    if (buf != NULL) {
        OPENSSL_cleanse(buf, n);
        free(buf);
    }
    return s;
}

const char *aigov_jwt_signer_alg(const aigov_jwt_signer_t *s)
{
    if (s->key.alg != NULL)
        return s->key.alg->name;
    switch (s->key.kty) {
    case AIGOV_KTY_RSA: return s->key.pss_only ? "PS256" : "RS256";
    case AIGOV_KTY_EC:  return s->key.curve_alg->name;
    case AIGOV_KTY_OCT: return "HS256";
    case AIGOV_KTY_OKP: return "EdDSA";
    }
    return "RS256";
}

const char *aigov_jwt_signer_kid(const aigov_jwt_signer_t *s)
{
    return s->kid;
}

void aigov_jwt_signer_free(aigov_jwt_signer_t *s)
{
    if (s == NULL)
        return;
    aigov_jwk_clear(&s->key);
    free(s->kid);
    free(s);
}

char *aigov_jwt_sign(const aigov_jwt_signer_t *s, const char *alg,
                     json_t *claims, char *err, size_t errlen)
{
    const aigov_jwa_t *jwa = aigov_jwa_find(alg ? alg : aigov_jwt_signer_alg(s));
    char *out = NULL, *hjson = NULL, *cjson = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    json_t *hdr = NULL;
    if (jwa == NULL) {
        aigov_errorf(err, errlen, "algorithm %s is not supported", alg);
        return NULL;
    }
    if (!json_is_object(claims)) {
        aigov_errorf(err, errlen, "claims are not a JSON object");
        return NULL;
    }
    if (!aigov_jwk_allows(&s->key, jwa, err, errlen))
        return NULL;
    hdr = json_pack("{s:s, s:s}", "alg", jwa->name, "typ", "JWT");
    if (hdr == NULL || (s->kid != NULL && json_object_set_new(hdr, "kid", json_string(s->kid)) != 0))
        goto nomem;
    hjson = json_dumps(hdr, JSON_COMPACT);
    cjson = json_dumps(claims, JSON_COMPACT);
    if (hjson == NULL || cjson == NULL)
        goto nomem;
    h64 = aigov_id_b64url_encode((unsigned char *) hjson, strlen(hjson));
    c64 = aigov_id_b64url_encode((unsigned char *) cjson, strlen(cjson));
    if (h64 == NULL || c64 == NULL)
        goto nomem;
    size_t inlen = strlen(h64) + 1 + strlen(c64);
    char *input = malloc(inlen + 1);
    if (input == NULL)
        goto nomem;
    snprintf(input, inlen + 1, "%s.%s", h64, c64);
    if (aigov_jws_sign(&s->key, jwa, (unsigned char *) input, inlen, &sig, &siglen) != 0) {
        free(input);
        aigov_errorf(err, errlen, "signing with %s failed", jwa->name);
        goto done;
    }
    s64 = aigov_id_b64url_encode(sig, siglen);
    out = s64 ? malloc(inlen + 2 + strlen(s64)) : NULL;
    if (out == NULL) {
        free(input);
        goto nomem;
    }
    sprintf(out, "%s.%s", input, s64);
    free(input);
    goto done;
nomem:
    aigov_errorf(err, errlen, "out of memory");
done:
    json_decref(hdr);
    free(hjson);
    free(cjson);
    free(h64);
    free(c64);
    free(s64);
    free(sig);
    return out;
}

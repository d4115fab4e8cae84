// build: lib/identity.c lib/jwk.c lib/jws.c lib/token_cache.c lib/jwt_sign.c lib/errbuf.c lib/claim_path.c lib/base64.c
/*
 * libFuzzer target for lib/identity: Authorization headers, key files
 * (PEM, JWKS), signing keys and, with a signature the harness makes itself,
 * the claims checks behind the signature.
 *
 * First input byte picks the mode:
 *   0  the rest is an Authorization header value, verified against an EC
 *      P-256 key, an RSA key and an oct key, with a small cache
 *   1  the rest is a key file for aigov_identity_add_key_mem
 *   2  the rest is a signing key file for aigov_jwt_signer_from_mem
 *   3  the rest is a token payload: signed HS256 here, then verified, so
 *      claim parsing and time checks are reached
 *   4  the rest is a fetched JWKS for aigov_identity_replace_fetched (the
 *      shared handle, so a good set is later replaced by bad ones)
 *   5  the rest is a claim path, a NUL, and claims JSON: the subject check
 *
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_jwt); fuzz/run.sh runs it on fuzz/corpus/jwt.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "identity.h"
#include "jwt_sign.h"

static const char oct_jwks[] =
    "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}";
static const char secret[] = "0123456789abcdef0123456789abcdef";

static aigov_identity_t *id;

static void add_generated(EVP_PKEY *k)
{
    char err[256];
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    PEM_write_bio_PUBKEY(b, k);
    long n = BIO_get_mem_data(b, &p);
    if (aigov_identity_add_key_mem(id, p, (size_t) n, "gen.pem", err, sizeof(err)) != 0)
        abort();
    BIO_free(b);
    EVP_PKEY_free(k);
}

static void init(void)
{
    char err[256];
    id = aigov_identity_new();
    if (id == NULL
        || aigov_identity_add_key_mem(id, oct_jwks, strlen(oct_jwks), "oct.json", err, sizeof(err)) != 0)
        abort();
    add_generated(EVP_EC_gen("P-256"));
    add_generated(EVP_RSA_gen(2048));
    aigov_identity_set_cache(id, 8);
    aigov_identity_set_issuer(id, "iss");
    aigov_identity_set_audience(id, "aud");
}

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

static void verify_signed_payload(const uint8_t *data, size_t size)
{
    static const char hdr[] = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImgifQ";   /* {"alg":"HS256","kid":"h"} */
    char *p = b64url(data, size);
    size_t inlen = strlen(hdr) + 1 + strlen(p);
    char *hv = malloc(inlen + 128);
    int off = sprintf(hv, "Bearer %s.%s", hdr, p);
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret, 32, (unsigned char *) hv + 7, inlen, mac, &maclen);
    char *s = b64url(mac, maclen);
    off += sprintf(hv + off, ".%s", s);
    /* twice, at two times, so cache hits and stale entries are exercised */
    for (int i = 0; i < 2; i++) {
        json_t *c = NULL;
        char msg[256];
        aigov_identity_verify(id, hv, (size_t) off, (time_t) (1700000000 + i * 100000), &c, msg, sizeof(msg));
        json_decref(c);
    }
    free(p);
    free(s);
    free(hv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (id == NULL)
        init();
    if (size < 1)
        return 0;
    char err[256], msg[256];
    const char *rest = (const char *) data + 1;
    size_t n = size - 1;
    switch (data[0] % 6) {
    case 0: {
        json_t *c = NULL;
        aigov_identity_verify(id, rest, n, 1700000000, &c, msg, sizeof(msg));
        json_decref(c);
        break;
    }
    case 1: {
        aigov_identity_t *k = aigov_identity_new();
        aigov_identity_add_key_mem(k, rest, n, "fuzz.json", err, sizeof(err));
        aigov_identity_free(k);
        break;
    }
    case 2: {
        aigov_jwt_signer_t *s = aigov_jwt_signer_from_mem(rest, n, "fuzz", NULL, err, sizeof(err));
        aigov_jwt_signer_free(s);
        break;
    }
    case 3:
        verify_signed_payload(data + 1, n);
        break;
    case 4: {
        char change[256];
        aigov_identity_replace_fetched(id, rest, n, "fetched", change, sizeof(change), err, sizeof(err));
        break;
    }
    case 5: {
        const char *nul = memchr(rest, '\0', n);
        if (nul == NULL)
            break;
        json_t *c = json_loadb(nul + 1, n - (size_t) (nul + 1 - rest), 0, NULL);
        aigov_identity_check_subject(c, rest, msg, sizeof(msg));
        json_decref(c);
        break;
    }
    }
    return 0;
}

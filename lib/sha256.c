/*
 * sha256: see sha256.h.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "sha256.h"

_Static_assert(sizeof(SHA256_CTX) <= sizeof(aigov_sha256_t), "aigov_sha256_t too small");
_Static_assert(_Alignof(SHA256_CTX) <= _Alignof(aigov_sha256_t), "aigov_sha256_t misaligned");

void aigov_sha256_init(aigov_sha256_t *s)
{
    SHA256_Init((SHA256_CTX *) s);
}

void aigov_sha256_update(aigov_sha256_t *s, const void *p, size_t n)
{
    if (n)
        SHA256_Update((SHA256_CTX *) s, p, n);
}

void aigov_sha256_final(aigov_sha256_t *s, uint8_t out[32])
{
    SHA256_Final(out, (SHA256_CTX *) s);
}

void aigov_sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    SHA256_CTX c;

    SHA256_Init(&c);
    if (alen)
        SHA256_Update(&c, a, alen);
    if (blen)
        SHA256_Update(&c, b, blen);
    SHA256_Final(out, &c);
}

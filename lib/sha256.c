/*
 * sha256: see sha256.h.
 */
#include <string.h>

#include "sha256.h"

static __thread EVP_MD *sha256_md;
static __thread EVP_MD_CTX *sha256_ctx;

const EVP_MD *aigov_sha256_md(void)
{
    if (sha256_md == NULL)
        sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    return sha256_md;
}

void aigov_sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    const EVP_MD *md = aigov_sha256_md();
    unsigned int n = 0;

    if (sha256_ctx == NULL)
        sha256_ctx = EVP_MD_CTX_new();
    if (md == NULL || sha256_ctx == NULL || !EVP_DigestInit_ex2(sha256_ctx, md, NULL)
        || !EVP_DigestUpdate(sha256_ctx, a, alen) || (blen && !EVP_DigestUpdate(sha256_ctx, b, blen))
        || !EVP_DigestFinal_ex(sha256_ctx, out, &n))
        memset(out, 0, 32);
}

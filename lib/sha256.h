/*
 * sha256: SHA-256 for the hot paths (the audit log's leaves and nodes, the
 * prompt and answer hashes).
 *
 * EVP_sha256() makes OpenSSL 3 look the algorithm up again on every
 * EVP_DigestInit (a locked hash table, a reference count); this fetches it
 * once per thread and reuses one context.
 */
#ifndef AIGOV_SHA256_H
#define AIGOV_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* SHA-256(a || b); b may be NULL with blen 0. An allocation failure gives
 * all zeros, which every later check rejects loudly. */
void aigov_sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32]);

/* The fetched digest, for a streaming context of one's own
 * (EVP_DigestInit_ex2(ctx, aigov_sha256_md(), NULL)); NULL on failure. */
const EVP_MD *aigov_sha256_md(void);

#endif

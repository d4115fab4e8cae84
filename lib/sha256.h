/*
 * sha256: every plain SHA-256 of lib/ and the module: the audit log's
 * leaves and nodes, the prompt and answer hashes on the hot path, and the
 * policy's digest and the signing key's id.
 *
 * OpenSSL 3's EVP digests cost a provider context allocated and freed on
 * every init (seven mallocs per request in the gateway) and a few hundred
 * instructions of dispatch per digest. The low-level SHA256_* functions
 * run the same assembly (SHA-NI where the CPU has it) on a plain struct;
 * they are deprecated in OpenSSL 3 but kept throughout 3.x, and only
 * sha256.c names them.
 */
#ifndef AIGOV_SHA256_H
#define AIGOV_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* A running SHA-256; room for OpenSSL's SHA256_CTX (checked in sha256.c),
 * so it can live inside another struct or an nginx pool. */
typedef struct {
    uint64_t opaque[16];
} aigov_sha256_t;

void aigov_sha256_init(aigov_sha256_t *s);
void aigov_sha256_update(aigov_sha256_t *s, const void *p, size_t n);
void aigov_sha256_final(aigov_sha256_t *s, uint8_t out[32]);

/* SHA-256(a || b); b may be NULL with blen 0. */
void aigov_sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32]);

#endif

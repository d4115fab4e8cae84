/*
 * hmac: keyed hashes for the audit log (content: hash with a hash key).
 *
 * A plain SHA-256 of a short prompt can be found by hashing likely
 * prompts; HMAC-SHA256 (RFC 2104) under a key only the operator and the
 * auditor hold cannot. The record names the key by its id ("hash_key"), so
 * keys can be rotated and an auditor knows which one to ask for.
 *
 * Key file (aigov keygen --hash-key): one line "<id> <base64 key>", the id
 * 1 to 64 of [A-Za-z0-9._-], the key 16 to 1024 bytes (32 random bytes
 * made by keygen); lines starting with '#' and blank lines are ignored.
 */
#ifndef AIGOV_HMAC_H
#define AIGOV_HMAC_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

typedef struct {
    char     id[65];
    uint8_t  ipad[64];
    uint8_t  opad[64];
} aigov_hmac_key_t;

/* 0, or -1 with a sentence in err. */
int aigov_hmac_key_load(aigov_hmac_key_t *k, const char *path, char *err, size_t errlen);
int aigov_hmac_key_set(aigov_hmac_key_t *k, const char *id, const uint8_t *key, size_t len);

/* Streaming: begin on a fresh aigov_sha256_t, update it with the data
 * (aigov_sha256_update), end gives the HMAC. */
void aigov_hmac_begin(aigov_sha256_t *s, const aigov_hmac_key_t *k);
void aigov_hmac_end(aigov_sha256_t *s, const aigov_hmac_key_t *k, uint8_t out[32]);
void aigov_hmac(const aigov_hmac_key_t *k, const void *data, size_t len, uint8_t out[32]);

#endif

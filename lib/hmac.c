/*
 * hmac: HMAC-SHA256 (RFC 2104) over lib/sha256, and its key file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "hmac.h"

#define KEY_MIN  16
#define KEY_MAX  1024

int aigov_hmac_key_set(aigov_hmac_key_t *k, const char *id, const uint8_t *key, size_t len)
{
    uint8_t block[64] = { 0 };
    size_t idlen = strlen(id);

    if (idlen == 0 || idlen > 64 || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != idlen)
        return -1;
    memset(k, 0, sizeof(*k));
    memcpy(k->id, id, idlen);
    if (len > 64)
        aigov_sha256_2(key, len, NULL, 0, block);
    else
        memcpy(block, key, len);
    for (int i = 0; i < 64; i++) {
        k->ipad[i] = block[i] ^ 0x36;
        k->opad[i] = block[i] ^ 0x5c;
    }
    memset(block, 0, sizeof(block));
    return 0;
}

int aigov_hmac_key_load(aigov_hmac_key_t *k, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[4096], id[128], b64[2048];
    uint8_t key[KEY_MAX + 4];
    unsigned lineno = 0;
    int found = 0, rc = -1;

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %m", path);
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char extra[2];
        long n;
        lineno++;
        if (line[0] == '#' || strspn(line, " \t\r\n") == strlen(line))
            continue;
        if (found) {
            snprintf(err, errlen, "%s:%u: more than one key in the file", path, lineno);
            goto out;
        }
        if (sscanf(line, "%127s %2047s %1s", id, b64, extra) != 2) {
            snprintf(err, errlen, "%s:%u: not \"<key id> <base64 key>\"", path, lineno);
            goto out;
        }
        n = aigov_b64_decode(b64, strlen(b64), key, sizeof(key), AIGOV_B64_STD);
        if (n < 0) {
            snprintf(err, errlen, "%s:%u: the key is not base64", path, lineno);
            goto out;
        }
        if (n < KEY_MIN || n > KEY_MAX) {
            snprintf(err, errlen, "%s:%u: the key has %ld bytes; it needs %d to %d (aigov keygen --hash-key "
                     "makes 32)", path, lineno, n, KEY_MIN, KEY_MAX);
            goto out;
        }
        if (aigov_hmac_key_set(k, id, key, (size_t) n) < 0) {
            snprintf(err, errlen, "%s:%u: the key id must be 1 to 64 of A-Z a-z 0-9 . _ -", path, lineno);
            goto out;
        }
        found = 1;
    }
    if (!found) {
        snprintf(err, errlen, "%s: no key in the file", path);
        goto out;
    }
    rc = 0;
out:
    memset(key, 0, sizeof(key));
    memset(b64, 0, sizeof(b64));
    memset(line, 0, sizeof(line));
    fclose(f);
    return rc;
}

void aigov_hmac_begin(aigov_sha256_t *s, const aigov_hmac_key_t *k)
{
    aigov_sha256_init(s);
    aigov_sha256_update(s, k->ipad, 64);
}

void aigov_hmac_end(aigov_sha256_t *s, const aigov_hmac_key_t *k, uint8_t out[32])
{
    uint8_t inner[32];

    aigov_sha256_final(s, inner);
    aigov_sha256_2(k->opad, 64, inner, 32, out);
}

void aigov_hmac(const aigov_hmac_key_t *k, const void *data, size_t len, uint8_t out[32])
{
    aigov_sha256_t s;

    aigov_hmac_begin(&s, k);
    aigov_sha256_update(&s, data, len);
    aigov_hmac_end(&s, k, out);
}

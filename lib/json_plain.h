/*
 * json_plain: how much of a JSON string's bytes can be taken as they are,
 * eight at a time: printable ASCII other than '"' and '\\'. The record
 * writer and the answer reader both stop only at what needs a closer look
 * (a quote, an escape, a control character, a multi-byte character).
 */
#ifndef AIGOV_JSON_PLAIN_H
#define AIGOV_JSON_PLAIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Any byte of the 8 that is < 0x20, '"', '\\' or >= 0x80 (exact for "any":
 * a false carry only follows a true hit). */
static inline int aigov_json_special8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');

    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & high ? 1 : 0;
}

/* How many bytes at the start of s are plain. */
static inline size_t aigov_json_plain(const unsigned char *s, size_t n)
{
    const unsigned char *p = s, *end = s + n;
    uint64_t x;

    while (end - p >= 8) {
        memcpy(&x, p, 8);
        if (aigov_json_special8(x))
            break;
        p += 8;
    }
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return (size_t) (p - s);
}

#endif

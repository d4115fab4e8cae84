/*
 * utf8: the one UTF-8 rule every reader here shares (requests, audit
 * records, answers), jansson's: no overlong forms, no encoded surrogates,
 * nothing above U+10FFFF. Inline, since the request scanner calls it for
 * every multi-byte character.
 */
#ifndef AIGOV_UTF8_H
#define AIGOV_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s (s[0] >= 0x80), or 0. */
static inline size_t aigov_utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];

    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80
            || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
            return 0;
        return 4;
    }
    return 0;
}

#endif

/*
 * ascii: the one case-insensitive compare lib/ uses for protocol words
 * (media types, a data: URL's scheme, ";base64", "Bearer", alg "none"):
 * ASCII letters only, whatever locale the process has (strcasecmp follows
 * the locale, and a host such as nginx with embedded Perl may set one).
 * Inline: request.c calls it for every inline file's media type.
 */
#ifndef AIGOV_ASCII_H
#define AIGOV_ASCII_H

#include <stddef.h>

/* c with A-Z made a-z; any other value (a byte, a code point) as it is. */
static inline unsigned aigov_ascii_lower(unsigned c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Whether s[0..n) is lit, a lower-case C string, in any ASCII case. */
static inline int aigov_ascii_ieq(const char *s, size_t n, const char *lit)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (lit[i] == '\0' || aigov_ascii_lower((unsigned char) s[i]) != (unsigned char) lit[i])
            return 0;
    }
    return lit[n] == '\0';
}

#endif

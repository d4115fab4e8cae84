/*
 * hex: see hex.h. A table of digit pairs: one two-byte copy per byte, not
 * two lookups and two stores, since every request puts three digests and
 * an id into its records.
 */
#include <string.h>

#include "hex.h"

#define P4(h) h "0" h "1" h "2" h "3" h "4" h "5" h "6" h "7" \
              h "8" h "9" h "a" h "b" h "c" h "d" h "e" h "f"

static const char pairs[513] =
    P4("0") P4("1") P4("2") P4("3") P4("4") P4("5") P4("6") P4("7")
    P4("8") P4("9") P4("a") P4("b") P4("c") P4("d") P4("e") P4("f");

char *aigov_hex(char *out, const uint8_t *in, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        memcpy(out + 2 * i, pairs + 2 * in[i], 2);
    return out + 2 * n;
}

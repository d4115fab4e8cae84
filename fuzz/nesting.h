/*
 * An upper bound on an input's JSON nesting: every '[' and '{' counted,
 * inside strings too. The targets that compare with jansson skip inputs
 * that may nest deeper than the code under test accepts.
 */

#ifndef FUZZ_NESTING_H
#define FUZZ_NESTING_H

#include <stddef.h>
#include <stdint.h>

static inline int nesting(const uint8_t *d, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += d[i] == '[' || d[i] == '{';
    return c;
}

#endif

// build: lib/normalize.c lib/json_string.c
/*
 * libFuzzer target for lib/normalize.c: fuzz/build.sh builds it from the
 * "// build:" line above (build/fuzz/fuzz_normalize); fuzz/run.sh runs it
 * on fuzz/corpus/normalize. The input is the text. Aborts when the view is
 * not NUL-terminated, an ASCII text is not its own view, or a mapped span
 * of the view leaves the original, is reversed or empty, does not lie on
 * character boundaries of a well-formed original, or is not monotonic in its ends.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when s is well-formed UTF-8 (then every mapped end must be a start) */
static int valid_utf8(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        uint32_t cp = c & (0x7F >> n);

        if (n == 0 || i + n > len)
            return 0;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
            || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += n;
    }
    return 1;
}

static int boundary(const uint8_t *s, size_t len, size_t at)
{
    /* the widening normalize does: a continuation byte is never a start */
    return at == 0 || at >= len || (s[at] & 0xC0) != 0x80;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aigov_norm_t n;
    size_t s, e, step, prev_s = 0, prev_e = 0;
    int valid = valid_utf8(data, size);

    memset(&n, 0, sizeof(n));
    if (aigov_normalize(&n, (const char *)data, size) != 0)
        abort();
    if (n.identity && (n.text != (const char *)data || n.len != size))
        abort();
    if (!n.identity && n.text[n.len] != '\0')
        abort();
    if (aigov_norm_ascii((const char *)data, size) && !n.identity)
        abort();
    step = n.len / 64 + 1;
    for (s = 0; s <= n.len; s += step) {
        for (e = s; e <= n.len; e += step) {
            size_t os, oe;

            aigov_norm_map(&n, s, e, &os, &oe);
            if (os > oe || oe > size)
                abort();
            if (s < e && (os == oe || (valid && (!boundary(data, size, os)
                                               || !boundary(data, size, oe)))))
                abort();
        }
    }
    /* the start of [s, s+1) never goes back as s grows */
    for (s = 0; s < n.len; s++) {
        size_t os, oe;

        aigov_norm_map(&n, s, s + 1, &os, &oe);
        if (s > 0 && (os < prev_s || oe < prev_e))
            abort();
        prev_s = os;
        prev_e = oe;
    }
    aigov_norm_free(&n);
    return 0;
}

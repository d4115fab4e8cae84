/* lib/json_string: making strings fit for a record line. Expected outputs
 * are written out by hand (U+FFFD is EF BF BD; \uXXXX escapes spelled). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "json_string.h"

static void repaired(const char *in, size_t n, const char *want)
{
    char out[64];
    size_t m = aigov_utf8_repair(in, n, out);

    if (want == NULL) {
        assert_int_equal(m, 0);   /* well-formed: nothing to do */
        return;
    }
    assert_int_equal(m, strlen(want));
    assert_memory_equal(out, want, m);
}

/* One U+FFFD for each byte that does not begin a well-formed sequence. */
static void test_repair(void **state)
{
    (void) state;
    repaired("", 0, NULL);
    repaired("plain", 5, NULL);
    repaired("\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80", 9, NULL);
    repaired("a\0b", 3, NULL);                               /* NUL is UTF-8 */
    repaired("/v1/\xff", 5, "/v1/\xef\xbf\xbd");
    repaired("\x80", 1, "\xef\xbf\xbd");
    repaired("\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd");      /* overlong */
    repaired("\xed\xa0\x80z", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");   /* surrogate */
    repaired("\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd");      /* cut short */
    repaired("ok\xf4\x90\x80\x80", 6, "ok\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    repaired("\xc3\x28", 2, "\xef\xbf\xbd(");
    repaired("\xe9t\xc3\xa9", 4, "\xef\xbf\xbdt\xc3\xa9");
}

static void escaped(const char *in, const char *want)
{
    char out[128];
    size_t n = strlen(in), m = aigov_json_escape_breakers(in, n, NULL);

    assert_int_equal(m, strlen(want));
    assert_int_equal(aigov_json_escape_breakers(in, n, out), m);
    assert_memory_equal(out, want, m);
}

/* In a JSON text: NEL and the other C1 controls, LS and PS escaped; other
 * characters (the neighbours of each) as they are. */
static void test_escape_breakers(void **state)
{
    (void) state;
    escaped("{\"a\":\"x\"}", "{\"a\":\"x\"}");
    escaped("\"\xc2\x85\"", "\"\\u0085\"");
    escaped("\"\xc2\x80\xc2\x9f\xc2\xa0\"", "\"\\u0080\\u009F\xc2\xa0\"");
    escaped("\"a\xe2\x80\xa8" "b\xe2\x80\xa9" "c\"", "\"a\\u2028b\\u2029c\"");
    escaped("\"\xe2\x80\xa7\xe2\x80\xaa\xe2\x81\xa8\"", "\"\xe2\x80\xa7\xe2\x80\xaa\xe2\x81\xa8\"");
    escaped("\"\xf0\x9f\x98\x80\xc3\xa9\"", "\"\xf0\x9f\x98\x80\xc3\xa9\"");
    escaped("\"\xe2\x80\"", "\"\xe2\x80\"");   /* cut: not one of them */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repair),
        cmocka_unit_test(test_escape_breakers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* lib/ascii.h: ASCII-only case folding and the compare with a lower-case
 * literal, expected values written out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ascii.h"

static void test_lower(void **state)
{
    (void) state;
    assert_int_equal(aigov_ascii_lower('A'), 'a');
    assert_int_equal(aigov_ascii_lower('Z'), 'z');
    assert_int_equal(aigov_ascii_lower('a'), 'a');
    assert_int_equal(aigov_ascii_lower('@'), '@');      /* 'A' - 1 */
    assert_int_equal(aigov_ascii_lower('['), '[');      /* 'Z' + 1 */
    assert_int_equal(aigov_ascii_lower(0xC0), 0xC0);    /* Latin-1 A grave: not ASCII */
    assert_int_equal(aigov_ascii_lower(0x130), 0x130);  /* a code point, I with dot */
    assert_int_equal(aigov_ascii_lower(0x141), 0x141);  /* 'A' + 256 is no letter */
}

static void test_ieq(void **state)
{
    (void) state;
    assert_true(aigov_ascii_ieq("Bearer", 6, "bearer"));
    assert_true(aigov_ascii_ieq("APPLICATION/", 12, "application/"));
    assert_true(aigov_ascii_ieq("data:xyz", 5, "data:"));   /* a prefix of s */
    assert_true(aigov_ascii_ieq("", 0, ""));
    assert_false(aigov_ascii_ieq("bear", 4, "bearer"));     /* lengths differ */
    assert_false(aigov_ascii_ieq("bearers", 7, "bearer"));
    assert_false(aigov_ascii_ieq("none", 4, "NONE"));       /* lit is lower case */
    assert_false(aigov_ascii_ieq("no\0e", 4, "none"));      /* NUL in s */
    assert_false(aigov_ascii_ieq("n\0", 2, "n"));
    assert_false(aigov_ascii_ieq("d\xc1ta:", 5, "data:"));  /* 'A' | 0x80 */
    assert_false(aigov_ascii_ieq("tExt{", 5, "text["));     /* '{' is not '[' folded */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lower),
        cmocka_unit_test(test_ieq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

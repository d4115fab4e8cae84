/* lib/base64: the RFC 4648 vectors (section 10) written out, OpenSSL's
 * EVP_EncodeBlock as an independent encoder for random bytes, and each
 * spelling's reader on what its users may be given: the strict padded one
 * (audit log, key files), the strict base64url one (JWTs, JWKs) and the
 * lax one (inline files from clients: white space, padding left out, cut
 * at a limit, read in part). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "base64.h"

#define URL_NOPAD (AIGOV_B64_URL | AIGOV_B64_NOPAD)

static const struct { const char *plain, *b64; } rfc4648[] = {
    { "", "" },
    { "f", "Zg==" },
    { "fo", "Zm8=" },
    { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" },
    { "fooba", "Zm9vYmE=" },
    { "foobar", "Zm9vYmFy" },
};
#define NVEC (sizeof(rfc4648) / sizeof(rfc4648[0]))

/* in as written by lib with flags, compared with want */
static void encodes(const void *in, size_t n, unsigned flags, const char *want)
{
    char out[128];

    memset(out, 'x', sizeof(out));
    assert_true(AIGOV_B64_ROOM(n) <= sizeof(out));
    assert_int_equal(aigov_b64_encode(in, n, out, flags), strlen(want));
    assert_string_equal(out, want);
}

/* s read with flags: want (n bytes), or n < 0 for "not base64" */
static void decodes(const char *s, size_t len, unsigned flags, const void *want, long n)
{
    uint8_t out[128];

    assert_int_equal(aigov_b64_decode(s, len, out, sizeof(out), flags), n);
    if (n > 0)
        assert_memory_equal(out, want, (size_t) n);
}

#define DEC(s, flags, want) decodes(s, sizeof(s) - 1, flags, want, (long) sizeof(want) - 1)
#define BAD(s, flags)       decodes(s, sizeof(s) - 1, flags, NULL, -1)

/* Inputs that are not base64 for a reader, NULs and all. */
typedef struct { const char *s; size_t n; } bytes_t;
#define B(s) { s, sizeof(s) - 1 }

static void all_bad(const bytes_t *list, size_t n, unsigned flags)
{
    for (size_t i = 0; i < n; i++)
        decodes(list[i].s, list[i].n, flags, NULL, -1);
}

/* The padding of an RFC 4648 vector left out. */
static void unpadded(const char *b64, char *out)
{
    size_t n = strlen(b64);

    while (n > 0 && b64[n - 1] == '=')
        n--;
    memcpy(out, b64, n);
    out[n] = '\0';
}

static void test_rfc4648_vectors(void **state)
{
    (void) state;
    for (size_t i = 0; i < NVEC; i++) {
        const char *p = rfc4648[i].plain, *b = rfc4648[i].b64;
        char        np[16];

        unpadded(b, np);
        encodes(p, strlen(p), AIGOV_B64_STD, b);
        encodes(p, strlen(p), AIGOV_B64_URL, b);    /* no letter differs here */
        encodes(p, strlen(p), URL_NOPAD, np);
        decodes(b, strlen(b), AIGOV_B64_STD, p, (long) strlen(p));
        decodes(np, strlen(np), URL_NOPAD, p, (long) strlen(p));
        decodes(b, strlen(b), AIGOV_B64_LAX, p, (long) strlen(p));
        decodes(np, strlen(np), AIGOV_B64_LAX, p, (long) strlen(p));
        if (strcmp(b, np) != 0) {
            decodes(np, strlen(np), AIGOV_B64_STD, NULL, -1);   /* padding is needed */
            decodes(b, strlen(b), URL_NOPAD, NULL, -1);         /* and not allowed */
        }
    }
}

/* The two letters the alphabets differ in: 0xfb 0xff is "+/8=" or "-_8". */
static void test_alphabets(void **state)
{
    static const uint8_t fbff[] = { 0xfb, 0xff }, all[] = { 0xfb, 0xef, 0xbe };

    (void) state;
    encodes(fbff, 2, AIGOV_B64_STD, "+/8=");
    encodes(fbff, 2, AIGOV_B64_URL, "-_8=");
    encodes(fbff, 2, URL_NOPAD, "-_8");
    encodes(fbff, 2, AIGOV_B64_NOPAD, "+/8");
    encodes(all, 3, AIGOV_B64_STD, "++++");
    encodes(all, 3, URL_NOPAD, "----");
    DEC("+/8=", AIGOV_B64_STD, "\xfb\xff");
    DEC("-_8", URL_NOPAD, "\xfb\xff");
    DEC("+/8", AIGOV_B64_LAX, "\xfb\xff");
    BAD("-_8=", AIGOV_B64_STD);
    BAD("+/8", URL_NOPAD);
    BAD("-_8", AIGOV_B64_LAX);          /* inline files are standard base64 */
}

/* Every length from 0 to 200 of random bytes: lib's standard spelling is
 * OpenSSL's, the url one is it with two letters changed and no '=', and
 * each reads back. */
static void test_random_against_openssl(void **state)
{
    uint8_t  in[200], back[200];
    char     ours[AIGOV_B64_ROOM(200)], ossl[AIGOV_B64_ROOM(200)];
    unsigned seed = 12345;

    (void) state;
    for (size_t n = 0; n <= sizeof(in); n++) {
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (uint8_t) (seed >> 16);
        }
        int ol = EVP_EncodeBlock((unsigned char *) ossl, in, (int) n);

        assert_int_equal(aigov_b64_encode(in, n, ours, AIGOV_B64_STD), (size_t) ol);
        assert_string_equal(ours, ossl);
        assert_int_equal(aigov_b64_decode(ours, (size_t) ol, back, n, AIGOV_B64_STD), (long) n);
        assert_memory_equal(back, in, n);

        for (int i = 0; i < ol; i++)
            ossl[i] = ossl[i] == '+' ? '-' : ossl[i] == '/' ? '_' : ossl[i];
        while (ol > 0 && ossl[ol - 1] == '=')
            ossl[--ol] = '\0';
        assert_int_equal(aigov_b64_encode(in, n, ours, URL_NOPAD), (size_t) ol);
        assert_string_equal(ours, ossl);
        assert_int_equal(aigov_b64_decode(ours, (size_t) ol, back, n, URL_NOPAD), (long) n);
        assert_memory_equal(back, in, n);
    }
}

/* The audit log's reading: one value, one spelling. */
static void test_strict_padded(void **state)
{
    static const bytes_t bad[] = {
        B("YR=="),              /* unused bits set */
        B("YWJ="),
        B("YQ="),               /* bad length */
        B("YQ"),
        B("Y"),
        B("YWJjY"),
        B("Y==="),
        B("===="),
        B("YQ==="),
        B("Y=Q="),              /* padding inside */
        B("YQ==YQ=="),
        B("YW J"),              /* white space */
        B("YWJj\n"),
        B(" YWJj"),
        B("YW\0J"),             /* NUL */
        B("YW*J"),
        B("YW\xc3\xa9"),
    };
    uint8_t out[8];

    (void) state;
    DEC("YWJj", AIGOV_B64_STD, "abc");
    DEC("YWI=", AIGOV_B64_STD, "ab");
    DEC("YQ==", AIGOV_B64_STD, "a");
    all_bad(bad, sizeof(bad) / sizeof(bad[0]), AIGOV_B64_STD);
    /* out's room: exactly enough, one short */
    assert_int_equal(aigov_b64_decode("YWJjYWJj", 8, out, 6, AIGOV_B64_STD), 6);
    assert_int_equal(aigov_b64_decode("YWJjYWJj", 8, out, 5, AIGOV_B64_STD), -1);
    assert_int_equal(aigov_b64_decode("YWJjYQ==", 8, out, 4, AIGOV_B64_STD), 4);
    assert_int_equal(aigov_b64_decode("YWJjYQ==", 8, out, 3, AIGOV_B64_STD), -1);
    assert_int_equal(aigov_b64_decode("YWJjYWI=", 8, out, 4, AIGOV_B64_STD), -1);
}

/* JOSE's reading: base64url, never '=', unused bits zero. */
static void test_strict_url(void **state)
{
    static const bytes_t bad[] = {
        B("YR"),                /* unused bits set */
        B("YWJ"),
        B("Y"),                 /* 6 bits: no byte */
        B("YWJjY"),
        B("YQ=="),              /* padding */
        B("YQ="),
        B("="),
        B("Y+Q"),               /* the standard letters */
        B("Y/Q"),
        B("YW J"),
        B("YWJj\n"),
        B("YQ\0"),
        B("Y.Q"),
    };

    (void) state;
    DEC("eyJhIjoxfQ", URL_NOPAD, "{\"a\":1}");
    DEC("YWI", URL_NOPAD, "ab");
    DEC("YQ", URL_NOPAD, "a");
    all_bad(bad, sizeof(bad) / sizeof(bad[0]), URL_NOPAD);
}

/* An inline file from a client: as MIME and data: URLs write it. */
static void test_lax(void **state)
{
    static const bytes_t bad[] = {
        B("Z"),                 /* 1 letter holds no byte */
        B("Zm9vY"),
        B("Zm9vYg="),           /* padding short of the group */
        B("Zm9vYmE=="),
        B("Zm9vYg==="),
        B("Zm9v="),
        B("Zm9v===="),
        B("Zg==Zg=="),          /* a letter after padding */
        B("Zm9v\fYmFy"),        /* white space is SP HT CR LF */
        B("Zm9v\vYmFy"),
        B("Zm9v\0YmFy"),        /* NUL */
        B("Zm9v%YmFy"),         /* percent-encoded: not read */
        B("Zm9v-_8"),
    };
    uint8_t out[16];
    char    buf[32];

    (void) state;
    DEC("Zm9v\r\nYmFy", AIGOV_B64_LAX, "foobar");    /* MIME line break */
    DEC(" Zm9v YmE =\t", AIGOV_B64_LAX, "fooba");
    DEC("Zm9vYg\n==\n", AIGOV_B64_LAX, "foob");
    DEC("Zm9vYg= =", AIGOV_B64_LAX, "foob");
    DEC("Zm9vYg", AIGOV_B64_LAX, "foob");           /* padding left out */
    DEC("Zm9vYmE", AIGOV_B64_LAX, "fooba");
    DEC("YR==", AIGOV_B64_LAX, "a");                /* unused bits not looked at */
    DEC("YR", AIGOV_B64_LAX, "a");
    DEC("  \n", AIGOV_B64_LAX, "");
    all_bad(bad, sizeof(bad) / sizeof(bad[0]), AIGOV_B64_LAX);

    /* A full out ends the reading with what fits, in whole bytes. */
    assert_int_equal(aigov_b64_decode("Zm9vYmFy", 8, out, 5, AIGOV_B64_LAX), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(aigov_b64_decode("Zm9vYmE", 7, out, 4, AIGOV_B64_LAX), 3);
    assert_int_equal(aigov_b64_decode("Zm9vYmE", 7, out, 5, AIGOV_B64_LAX), 5);
    assert_int_equal(aigov_b64_decode("Zm9vYmE", 7, out, 0, AIGOV_B64_LAX), 0);

    /* Read in part: a tail short of four letters is left for later, and
     * what cannot be base64 still fails. */
    assert_int_equal(aigov_b64_decode("Zm9vYmF", 7, out, sizeof(out),
                                      AIGOV_B64_LAX | AIGOV_B64_PARTIAL), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(aigov_b64_decode("Zm9vY", 5, out, sizeof(out),
                                      AIGOV_B64_LAX | AIGOV_B64_PARTIAL), 3);
    assert_int_equal(aigov_b64_decode("Zm9v*", 5, out, sizeof(out),
                                      AIGOV_B64_LAX | AIGOV_B64_PARTIAL), -1);

    /* In place, as request.c decodes a file in the room of its literal. */
    strcpy(buf, "VGV4dCBp\nbiBwbGFjZQ");
    assert_int_equal(aigov_b64_decode(buf, strlen(buf), (uint8_t *) buf, (size_t) -1,
                                      AIGOV_B64_LAX), 13);
    assert_memory_equal(buf, "Text in place", 13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_alphabets),
        cmocka_unit_test(test_random_against_openssl),
        cmocka_unit_test(test_strict_padded),
        cmocka_unit_test(test_strict_url),
        cmocka_unit_test(test_lax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

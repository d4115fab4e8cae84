/*
 * Unit tests of lib/normalize.c: the matching view of a text (recorded
 * expected views for the folds normalize.h promises, and for what it
 * promises to leave alone) and the map back to the original.
 *
 * The property test builds random texts from a palette of single
 * characters whose view is written down here, computes the expected view
 * with its own word rule over the palette, and checks that every mapped
 * span lies on character boundaries of the original and is the smallest
 * range covering the characters the span touches.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "normalize.h"

static void expect_view(const char *in, const char *want)
{
    aigov_norm_t n;

    memset(&n, 0, sizeof(n));
    assert_int_equal(aigov_normalize(&n, in, strlen(in)), 0);
    if (n.len != strlen(want) || memcmp(n.text, want, n.len) != 0)
        fail_msg("view of \"%s\" is \"%.*s\", want \"%s\"", in, (int)n.len, n.text, want);
    assert_int_equal(n.text[n.len], '\0');
    assert_int_equal(n.identity, strcmp(in, want) == 0);
    aigov_norm_free(&n);
}

static void test_issue_cases(void **state)
{
    (void)state;
    expect_view("alice\xef\xbc\xa0" "example.com", "alice@example.com");       /* ＠ */
    expect_view("alice\xe2\x80\x8b@example.com", "alice@example.com");         /* ZWSP */
    expect_view("mer\xe2\x80\x8dger", "merger");                                /* ZWJ */
    expect_view("\xef\xbd\x8d\xef\xbd\x85\xef\xbd\x92\xef\xbd\x87\xef\xbd\x85\xef\xbd\x92",
                "merger");                                                      /* ｍｅｒｇｅｒ */
    expect_view("m\xd0\xb5rger", "merger");                                     /* Cyrillic е */
    expect_view("4111\xc2\xa0" "1111\xc2\xa0" "1111\xc2\xa0" "1111", "4111 1111 1111 1111");
    expect_view("\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91", "4111");    /* ４１１１ */
    expect_view("instruc\xe2\x80\x8btions", "instructions");
}

static void test_folds(void **state)
{
    (void)state;
    /* invisible characters */
    expect_view("a\xc2\xad" "b", "ab");                     /* soft hyphen */
    expect_view("a\xe2\x80\x8c\xe2\x80\x8e\xe2\x80\x8f" "b", "ab");
    expect_view("a\xe2\x80\xae" "b\xe2\x80\xac", "ab");     /* RLO, PDF */
    expect_view("a\xe2\x81\xa0\xe2\x81\xa4" "b", "ab");     /* U+2060, U+2064 */
    expect_view("\xef\xbb\xbf" "ab", "ab");                 /* BOM */
    expect_view("a\xe2\x81\xa6" "b\xe2\x81\xa9", "ab");     /* isolates */
    expect_view("a\xef\xb8\x8f" "b", "ab");                 /* VS16 */
    expect_view("a\xcd\x8f" "b", "ab");                     /* CGJ */
    /* tag characters spell ASCII */
    expect_view("hi\xf3\xa0\x81\xa9\xf3\xa0\x81\xa7\xf3\xa0\x81\xae", "hiign");
    expect_view("x\xf3\xa0\x80\x81" "y\xf3\xa0\x81\xbf", "xy");
    /* spaces and dashes */
    expect_view("a\xe2\x80\x83" "b\xe3\x80\x80" "c\xe2\x80\xaf" "d\xe2\x80\xa8" "e", "a b c d e");
    expect_view("1\xe2\x80\x91" "2\xe2\x80\x93" "3\xe2\x88\x92" "4", "1-2-3-4");
    /* NFKC */
    expect_view("\xef\xac\x81le", "file");                  /* ﬁ */
    expect_view("x\xc2\xb2", "x2");                         /* superscript */
    expect_view("\xe2\x91\xa0", "1");                       /* ① */
    expect_view("\xe2\x84\xaa", "K");                       /* Kelvin */
    expect_view("\xf0\x9d\x90\x9a\xf0\x9d\x90\x9b", "ab");  /* math bold */
    expect_view("\xef\xbc\x8e", ".");                       /* fullwidth . */
    /* digits of other scripts */
    expect_view("\xd9\xa3\xd9\xa4", "34");                  /* Arabic-Indic */
    expect_view("\xe0\xa5\xaf", "9");                       /* Devanagari */
    /* look-alikes in a Latin word, or in a word of look-alikes only */
    expect_view("\xd0\xb5x\xd0\xb5", "exe");                /* е x е */
    expect_view("\xd0\xb5\xd1\x85\xd0\xb5", "exe");         /* е х е, all Cyrillic */
    expect_view("p\xce\xbfst", "post");                     /* Greek ο */
    expect_view("\xd0\x90\xd0\x92\xd0\xa1", "ABC");         /* АВС */
    expect_view("\xef\xbd\x8d\xd0\xb5", "me");              /* ｍ then е */
    expect_view("g\xc4\xb1t", "git");                       /* dotless ı */
}

/* The small capitals and the other Latin look-alikes folded since the
 * blocklist let "pʀoject neptune" and "ᴘʀᴏᴊᴇᴄᴛ ɴᴇᴘᴛᴜɴᴇ" through. */
static const struct {
    const char *in;
    char        latin;
} latin_looks[] = {
    {"\xc9\xa2", 'g'},        /* U+0262 latin letter small capital g */
    {"\xc9\xaa", 'i'},        /* U+026A latin letter small capital i */
    {"\xc9\xb4", 'n'},        /* U+0274 latin letter small capital n */
    {"\xca\x80", 'r'},        /* U+0280 latin letter small capital r */
    {"\xca\x8f", 'y'},        /* U+028F latin letter small capital y */
    {"\xca\x99", 'b'},        /* U+0299 latin letter small capital b */
    {"\xca\x9c", 'h'},        /* U+029C latin letter small capital h */
    {"\xca\x9f", 'l'},        /* U+029F latin letter small capital l */
    {"\xe1\xb4\x80", 'a'},    /* U+1D00 latin letter small capital a */
    {"\xe1\xb4\x85", 'd'},    /* U+1D05 latin letter small capital d */
    {"\xe1\xb4\x87", 'e'},    /* U+1D07 latin letter small capital e */
    {"\xe1\xb4\x8a", 'j'},    /* U+1D0A latin letter small capital j */
    {"\xe1\xb4\x8b", 'k'},    /* U+1D0B latin letter small capital k */
    {"\xe1\xb4\x8d", 'm'},    /* U+1D0D latin letter small capital m */
    {"\xe1\xb4\x98", 'p'},    /* U+1D18 latin letter small capital p */
    {"\xe1\xb4\x9b", 't'},    /* U+1D1B latin letter small capital t */
    {"\xea\x9c\xb0", 'f'},    /* U+A730 latin letter small capital f */
    {"\xea\x9e\xae", 'I'},    /* U+A7AE latin capital letter small capital i */
    {"\xea\x9e\xaf", 'q'},    /* U+A7AF latin letter small capital q */
    {"\xc4\xb8", 'k'},        /* U+0138 latin small letter kra */
    {"\xc6\x84", 'b'},        /* U+0184 latin capital letter tone six */
    {"\xc6\x8d", 'g'},        /* U+018D latin small letter turned delta */
    {"\xc6\xa6", 'R'},        /* U+01A6 latin letter yr */
    {"\xc6\xbd", 's'},        /* U+01BD latin small letter tone five */
    {"\xc6\xbf", 'p'},        /* U+01BF latin letter wynn */
    {"\xe1\xb4\x91", 'o'},    /* U+1D11 latin small letter sideways o */
    {"\xe1\xb4\xa9", 'p'},    /* U+1D29 greek letter small capital rho */
    {"\xe1\xb6\x83", 'g'},    /* U+1D83 latin small letter g with palatal hook */
    {"\xe1\xb6\x8c", 'y'},    /* U+1D8C latin small letter v with palatal hook */
    {"\xe1\xba\x9d", 'f'},    /* U+1E9D latin small letter long s with high stroke */
    {"\xea\x9e\x98", 'F'},    /* U+A798 latin capital letter f with stroke */
    {"\xea\x9e\x99", 'f'},    /* U+A799 latin small letter f with stroke */
    {"\xea\x9e\x9f", 'u'},    /* U+A79F latin small letter volapuk ue */
    {"\xea\x9e\xb2", 'J'},    /* U+A7B2 latin capital letter j with crossed-tail */
    {"\xea\x9e\xb3", 'X'},    /* U+A7B3 latin capital letter chi */
    {"\xea\x9e\xb4", 'B'},    /* U+A7B4 latin capital letter beta */
    {"\xea\xac\xb2", 'e'},    /* U+AB32 latin small letter blackletter e */
    {"\xea\xac\xb5", 'f'},    /* U+AB35 latin small letter lenis f */
    {"\xea\xac\xbd", 'o'},    /* U+AB3D latin small letter blackletter o */
    {"\xea\xad\x87", 'r'},    /* U+AB47 latin small letter r without handle */
    {"\xea\xad\x88", 'r'},    /* U+AB48 latin small letter double r */
    {"\xea\xad\x8e", 'u'},    /* U+AB4E latin small letter u with short right leg */
    {"\xea\xad\x92", 'u'},    /* U+AB52 latin small letter u with left hook */
    {"\xea\xad\x9a", 'y'},    /* U+AB5A latin small letter y with short right leg */
};

static void test_small_capitals(void **state)
{
    size_t i;

    (void)state;
    expect_view("p\xca\x80oject neptune", "project neptune");       /* pʀoject */
    expect_view("\xe1\xb4\x98\xca\x80\xe1\xb4\x8f\xe1\xb4\x8a\xe1\xb4\x87\xe1\xb4\x84\xe1\xb4\x9b "
                "\xc9\xb4\xe1\xb4\x87\xe1\xb4\x98\xe1\xb4\x9b\xe1\xb4\x9c\xc9\xb4\xe1\xb4\x87",
                "project neptune");                                     /* ᴘʀᴏᴊᴇᴄᴛ ɴᴇᴘᴛᴜɴᴇ */
    expect_view("\xe1\xb4\x98\xe1\xb6\xa6\xc9\xb4", "pin");           /* ᴘ, modifier ᶦ, ɴ */
    expect_view("PRO\xea\x9e\xae\xe1\xb4\x87" "CT", "PROIeCT");      /* Ɪ ᴇ: case is left */
    /* Cyrillic т н в к м pass for small capitals beside Latin letters */
    expect_view("projec\xd1\x82 nep\xd1\x82une", "project neptune");      /* projecт nepтune */
    expect_view("\xd0\xbd" "ello", "hello");                                /* нello */
    expect_view("\xd0\xb2" "ob \xd0\xba" "ey m\xd0\xbc", "bob key mm");  /* вob кey mм */
    expect_view("\xd1\x82\xd0\xbe\xd0\xba" "en", "token");               /* тоken */
    for (i = 0; i < sizeof(latin_looks) / sizeof(latin_looks[0]); i++) {
        char in[32], want[8];

        /* alone (a word of look-alikes only) and inside a Latin word */
        snprintf(want, sizeof(want), "%c", latin_looks[i].latin);
        expect_view(latin_looks[i].in, want);
        snprintf(in, sizeof(in), "x%sx", latin_looks[i].in);
        snprintf(want, sizeof(want), "x%cx", latin_looks[i].latin);
        expect_view(in, want);
    }
}

static void test_lookalikes_left_alone(void **state)
{
    static const char *const keep[] = {
        "\xc3\xbe" "etta",                    /* þetta: Icelandic thorn */
        "E\xca\x8b" "e \xc6\x92" "e",          /* Eʋe ƒe: Ewe */
        "a\xc9\xa3rum",                        /* aɣrum: Kabyle gamma */
        "Kab\xc9\xa9y\xc9\x9b \xc6\x96",        /* Kabɩyɛ Ɩ: Kabiye iota */
        "\xc7\x80ui",                          /* ǀ: click letter */
        "t\xc9\xaf \xe1\xb4\xa6",               /* turned m, small capital gamma */
        "pa\xca\x81i \xc9\xb6 \xe1\xb4\x8e",     /* ʁ ɶ ᴎ: inverted, ligature, reversed */
        "\xd0\xbd\xd0\xb5\xd1\x82",              /* нет: н т fold only beside Latin */
        "\xd0\xb2\xd0\xbe\xd1\x82 \xd1\x82\xd0\xb0\xd0\xba",  /* вот так, not "bot tak" */
        "\xd0\xba\xd0\xbe\xd1\x82 \xd0\xbc\xd0\xbe\xd1\x81\xd1\x82", /* кот мост */
        "\xd1\x82\xd0\xbd\xd1\x82",              /* тнт */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        expect_view(keep[i], keep[i]);
}

static void test_left_alone(void **state)
{
    (void)state;
    expect_view("plain ASCII, <tags> & \"quotes\"\t\n", "plain ASCII, <tags> & \"quotes\"\t\n");
    expect_view("caf\xc3\xa9", "caf\xc3\xa9");             /* é stays */
    expect_view("cafe\xcc\x81", "cafe\xcc\x81");           /* not composed */
    /* Russian words keep their letters */
    expect_view("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
                "\xd0\xba\xd0\xb0\xd0\xba \xd0\xb4\xd0\xb5\xd0\xbb\xd0\xb0?",
                "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
                "\xd0\xba\xd0\xb0\xd0\xba \xd0\xb4\xd0\xb5\xd0\xbb\xd0\xb0?");
    /* Greek */
    expect_view("\xce\xba\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1",
                "\xce\xba\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1");
    /* Chinese, Arabic, emoji (a ZWJ sequence loses its joiners only) */
    expect_view("\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c",
                "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c");
    expect_view("\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7", "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7");
    expect_view("\xf0\x9f\x91\x8d\xf0\x9f\x8e\x89", "\xf0\x9f\x91\x8d\xf0\x9f\x8e\x89");
    expect_view("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x92\xbb", "\xf0\x9f\x91\xa8\xf0\x9f\x92\xbb");
    /* bytes that are not UTF-8 stay, and do not hide what follows */
    expect_view("\xff\xc0\xaf" "a\xe2\x80\x8b" "b\xed\xa0\x80", "\xff\xc0\xaf" "ab\xed\xa0\x80");
    expect_view("\xe2\x80", "\xe2\x80");                   /* cut short */
}

static void map_of(const char *in, size_t s, size_t e, size_t ws, size_t we)
{
    aigov_norm_t n;
    size_t os, oe;

    memset(&n, 0, sizeof(n));
    assert_int_equal(aigov_normalize(&n, in, strlen(in)), 0);
    aigov_norm_map(&n, s, e, &os, &oe);
    if (os != ws || oe != we)
        fail_msg("\"%s\" [%zu,%zu) maps to [%zu,%zu), want [%zu,%zu)", in, s, e, os, oe, ws, we);
    aigov_norm_free(&n);
}

static void test_map_cases(void **state)
{
    (void)state;
    /* "mer\u200dger": the whole word, joiner included */
    map_of("mer\xe2\x80\x8dger", 0, 6, 0, 9);
    map_of("mer\xe2\x80\x8dger", 0, 3, 0, 3);              /* not the joiner */
    map_of("mer\xe2\x80\x8dger", 3, 6, 6, 9);
    /* fullwidth: view byte k is original character k */
    map_of("x \xef\xbd\x8d\xef\xbd\x85 y", 2, 4, 2, 8);
    map_of("x \xef\xbd\x8d\xef\xbd\x85 y", 5, 6, 9, 10);
    /* a ligature: half of it maps to all of it */
    map_of("\xef\xac\x81le", 1, 2, 0, 3);
    map_of("\xef\xac\x81le", 2, 4, 3, 5);
    /* empty spans */
    map_of("a\xe2\x80\x8b" "b", 1, 1, 4, 4);
    map_of("a\xe2\x80\x8b" "b", 2, 2, 5, 5);
    /* pʀoject: the view's r is the small capital's two bytes */
    map_of("p\xca\x80oject", 1, 2, 1, 3);
    map_of("p\xca\x80oject", 0, 7, 0, 8);
    /* identity: widened to whole characters */
    map_of("\xe4\xbd\xa0\xe5\xa5\xbd", 1, 4, 0, 6);
    map_of("abc", 1, 2, 1, 2);
}

/* ---- property test ---- */

typedef struct {
    const char *in;      /* one character of the original */
    const char *view;    /* its view, unfolded */
    char        look;    /* the Latin letter it passes for, or 0 */
    int         kind;    /* 0 delimiter, 1 neutral, 2 Latin, 3 look-alike, 4 plain */
} glyph_t;

static const glyph_t palette[] = {
    {"a", "a", 0, 2}, {"m", "m", 0, 2}, {"Z", "Z", 0, 2}, {"7", "7", 0, 1},
    {" ", " ", 0, 0}, {"@", "@", 0, 0}, {".", ".", 0, 0}, {"\n", "\n", 0, 0},
    {"\xe2\x80\x8b", "", 0, 1},                 /* ZWSP */
    {"\xe2\x80\x8d", "", 0, 1},                 /* ZWJ */
    {"\xc2\xad", "", 0, 1},                     /* soft hyphen */
    {"\xf3\xa0\x81\xa1", "a", 0, 2},            /* tag a */
    {"\xc2\xa0", " ", 0, 0},                    /* NBSP */
    {"\xe3\x80\x80", " ", 0, 0},                /* ideographic space */
    {"\xef\xbd\x8d", "m", 0, 2},                /* ｍ */
    {"\xef\xbc\xa0", "@", 0, 0},                /* ＠ */
    {"\xef\xbc\x94", "4", 0, 1},                /* ４ */
    {"\xef\xac\x81", "fi", 0, 2},               /* ﬁ */
    {"\xef\xb7\xba", "\xd8\xb5\xd9\x84\xd9\x89 \xd8\xa7\xd9\x84\xd9\x84\xd9\x87 "
                     "\xd8\xb9\xd9\x84\xd9\x8a\xd9\x87 \xd9\x88\xd8\xb3\xd9\x84\xd9\x85", 0, 0},
    {"\xd9\xa3", "3", 0, 1},                    /* Arabic-Indic 3 */
    {"\xd0\xb5", "\xd0\xb5", 'e', 3},           /* Cyrillic е */
    {"\xd0\x9e", "\xd0\x9e", 'O', 3},           /* Cyrillic О */
    {"\xce\xbf", "\xce\xbf", 'o', 3},           /* Greek ο */
    {"\xd0\xb8", "\xd0\xb8", 0, 4},             /* Cyrillic и */
    {"\xd0\xb6", "\xd0\xb6", 0, 4},             /* Cyrillic ж */
    {"\xce\xbb", "\xce\xbb", 0, 4},             /* Greek λ */
    {"\xca\x80", "\xca\x80", 'r', 3},           /* small capital ʀ */
    {"\xc9\xa3", "\xc9\xa3", 0, 2},             /* Latin ɣ, not folded */
    {"\xc3\xa9", "\xc3\xa9", 0, 2},             /* é */
    {"\xe4\xb8\xad", "\xe4\xb8\xad", 0, 1},     /* 中 */
    {"\xd9\x85", "\xd9\x85", 0, 1},             /* Arabic meem */
    {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", 0, 1},
    {"\xff", "\xff", 0, 1},                     /* not UTF-8 */
};
#define NPAL (sizeof(palette) / sizeof(palette[0]))
#define MAXG 40

static void test_map_property(void **state)
{
    unsigned seed = 12345;
    int round;

    (void)state;
    for (round = 0; round < 3000; round++) {
        size_t ng = 1 + (size_t)(rand_r(&seed) % MAXG), i, j, w;
        size_t gi[MAXG], os[MAXG + 1], vs[MAXG + 1];
        char in[MAXG * 4 + 1], want[MAXG * 64 + 1];
        int fold[MAXG];
        aigov_norm_t n;

        /* the original, and the expected fold of each glyph's word */
        os[0] = 0;
        for (i = 0; i < ng; i++) {
            gi[i] = (size_t)rand_r(&seed) % NPAL;
            memcpy(in + os[i], palette[gi[i]].in, strlen(palette[gi[i]].in));
            os[i + 1] = os[i] + strlen(palette[gi[i]].in);
        }
        in[os[ng]] = '\0';
        for (i = 0; i < ng; i = j) {
            int latin = 0, plain = 0;

            if (palette[gi[i]].kind == 0) {
                fold[i] = 1;
                j = i + 1;
                continue;
            }
            for (j = i; j < ng && palette[gi[j]].kind != 0; j++) {
                latin |= palette[gi[j]].kind == 2;
                plain |= palette[gi[j]].kind == 4;
            }
            for (w = i; w < j; w++)
                fold[w] = latin || !plain;
        }
        vs[0] = 0;
        for (i = 0; i < ng; i++) {
            const glyph_t *g = &palette[gi[i]];
            size_t l = (fold[i] && g->look) ? 1 : strlen(g->view);

            if (fold[i] && g->look)
                want[vs[i]] = g->look;
            else
                memcpy(want + vs[i], g->view, l);
            vs[i + 1] = vs[i] + l;
        }

        memset(&n, 0, sizeof(n));
        assert_int_equal(aigov_normalize(&n, in, os[ng]), 0);
        if (n.len != vs[ng] || memcmp(n.text, want, n.len) != 0)
            fail_msg("round %d: view differs for \"%s\"", round, in);

        /* every byte range of the view */
        for (size_t s = 0; s <= n.len; s++) {
            for (size_t e = s; e <= n.len; e++) {
                size_t ms, me, first = ng, last = 0, k;

                aigov_norm_map(&n, s, e, &ms, &me);
                assert_true(ms <= me && me <= os[ng]);
                if (s == e)
                    continue;
                /* the glyphs whose view the span touches */
                for (k = 0; k < ng; k++) {
                    if (vs[k] < e && vs[k + 1] > s) {
                        if (first == ng)
                            first = k;
                        last = k;
                    }
                }
                assert_true(first < ng);
                if (ms != os[first] || me != os[last + 1])
                    fail_msg("round %d: view [%zu,%zu) maps to [%zu,%zu), want [%zu,%zu)",
                             round, s, e, ms, me, os[first], os[last + 1]);
            }
        }
        aigov_norm_free(&n);
    }
}

static void test_ascii_fast_path_and_reuse(void **state)
{
    aigov_norm_t n;
    char big[5000];
    size_t i;

    (void)state;
    memset(&n, 0, sizeof(n));
    assert_int_equal(aigov_normalize(&n, "hello", 5), 0);
    assert_true(n.identity);
    assert_string_equal(n.text, "hello");
    /* one handle, many texts: the view of the last one only */
    for (i = 0; i + 3 <= sizeof(big) - 1; i += 3)
        memcpy(big + i, "\xef\xbd\x8d", 3);
    big[i] = '\0';
    assert_int_equal(aigov_normalize(&n, big, i), 0);
    assert_int_equal(n.len, i / 3);
    assert_int_equal(n.ned_, 1);     /* one run of equal edits */
    assert_int_equal(aigov_normalize(&n, "\xd0\x9f\xd1\x80\xd0\xb8", 6), 0);
    assert_true(n.identity);
    aigov_norm_trim(&n, 0);
    assert_int_equal(aigov_normalize(&n, "a\xc2\xa0" "b", 4), 0);
    assert_string_equal(n.text, "a b");
    assert_true(aigov_norm_ascii("", 0));
    assert_false(aigov_norm_ascii("abcdefgh\x80", 9));
    assert_false(aigov_norm_ascii("\x80" "abcdefghijk", 12));
    aigov_norm_free(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_cases),
        cmocka_unit_test(test_folds),
        cmocka_unit_test(test_left_alone),
        cmocka_unit_test(test_small_capitals),
        cmocka_unit_test(test_lookalikes_left_alone),
        cmocka_unit_test(test_map_cases),
        cmocka_unit_test(test_map_property),
        cmocka_unit_test(test_ascii_fast_path_and_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

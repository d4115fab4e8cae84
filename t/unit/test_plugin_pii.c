/*
 * Unit tests of the pii plugin, compiled together with the plugin's sources and
 * driven only through its ABI (plus its validators), with instances built
 * from JSON configs through the host's config API (plugin_harness.h).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "aigov_plugin.h"
#include "plugin_harness.h"
#include "pii/pii.h"

static const aigov_plugin_t *P(void) { return aigov_plugin_entry(); }

static void *make(const char *json, char *err, size_t errlen)
{
    return plugin_create(json, AIGOV_ACTION_REDACT, err, errlen);
}

static void *make_all(void)
{
    char err[256];
    void *inst = make("{}", err, sizeof(err));
    assert_non_null(inst);
    return inst;
}

static aigov_verdict_t run(void *inst, const char *text)
{
    aigov_verdict_t v;
    memset(&v, 0, sizeof(v));
    assert_int_equal(P()->inspect(inst, NULL, text, strlen(text), &v), 0);
    return v;
}

/* Expects exactly the given (label, matched text) pairs, in order. The
 * matched text is located in the input by its first occurrence at or after
 * the previous span, so offsets are checked to the byte. */
static void expect(void *inst, const char *text, size_t n, ...)
{
    aigov_verdict_t v = run(inst, text);
    va_list ap;
    size_t from = 0;

    if (v.nspans != n) {
        for (size_t i = 0; i < v.nspans; i++)
            print_message("  got %s [%zu,%zu) '%.*s'\n", v.spans[i].label,
                          v.spans[i].start, v.spans[i].end,
                          (int)(v.spans[i].end - v.spans[i].start),
                          text + v.spans[i].start);
        fail_msg("in '%s': expected %zu spans, got %zu", text, n, v.nspans);
    }
    if (n == 0) {
        assert_int_equal(v.kind, AIGOV_ALLOW);
        assert_null(v.reason);
        return;
    }
    assert_int_equal(v.kind, AIGOV_REDACT);
    assert_non_null(v.reason);
    assert_non_null(v.category);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *label = va_arg(ap, const char *);
        const char *want = va_arg(ap, const char *);
        const char *at = strstr(text + from, want);
        size_t s;
        assert_non_null(at);
        s = (size_t)(at - text);
        if (v.spans[i].start != s || v.spans[i].end != s + strlen(want) ||
            strcmp(v.spans[i].label, label) != 0)
            fail_msg("in '%s': span %zu is %s [%zu,%zu) '%.*s', expected %s '%s'",
                     text, i, v.spans[i].label, v.spans[i].start, v.spans[i].end,
                     (int)(v.spans[i].end - v.spans[i].start),
                     text + v.spans[i].start, label, want);
        from = s + strlen(want);
    }
    va_end(ap);
}

static void none(void *inst, const char *text) { expect(inst, text, 0); }

/* ---- the table and its configuration ------------------------------ */

static void test_entry_table(void **st)
{
    const aigov_plugin_t *p = P();
    (void)st;
    assert_non_null(p);
    assert_int_equal(p->abi_version, AIGOV_PLUGIN_ABI_VERSION);
    assert_string_equal(p->name, "pii");
    assert_non_null(p->version);
    assert_non_null(p->create);
    assert_non_null(p->destroy);
    assert_non_null(p->inspect);
    assert_ptr_equal(aigov_plugin_entry(), p);
}

static void test_config_default_and_null(void **st)
{
    char err[128];
    void *a, *b;
    (void)st;
    a = make("{}", err, sizeof(err));
    b = plugin_create(NULL, AIGOV_ACTION_FLAG, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    expect(a, "mail a@example.com", 1, "EMAIL", "a@example.com");
    expect(b, "ip 10.1.2.3", 1, "IP_ADDRESS", "10.1.2.3");
    P()->destroy(a);
    P()->destroy(b);
    P()->destroy(NULL);
}

static void test_config_unknown_type(void **st)
{
    char err[256] = "";
    (void)st;
    assert_null(make("{\"types\":[\"email\",\"passport\"]}", err, sizeof(err)));
    assert_string_equal(err, "unknown type 'passport'; known: email, phone, "
                             "credit_card, iban, ssn, ip, cn_id");
}

static void test_config_bad_shapes(void **st)
{
    const char *other = "{\"kinds\":[\"email\"]}";
    char err[256] = "";
    (void)st;
    assert_null(make("{\"types\":\"email\"}", err, sizeof(err)));
    assert_non_null(strstr(err, "types must be a list"));
    err[0] = '\0';
    assert_null(make("{\"types\":[]}", err, sizeof(err)));
    assert_non_null(strstr(err, "at least one"));
    err[0] = '\0';
    assert_null(make(other, err, sizeof(err)));
    assert_string_equal(err, "unknown key 'kinds'; known: types");
    /* a tiny error buffer is never overrun */
    assert_null(make(other, err, 5));
    assert_string_equal(err, "unkn");
}

static void test_config_subset(void **st)
{
    void *inst = plugin_create_types("email", "ssn", AIGOV_ACTION_REDACT);
    (void)st;
    expect(inst, "a@example.com 415-555-2671 123-45-6789 10.0.0.1", 2,
           "EMAIL", "a@example.com", "SSN", "123-45-6789");
    P()->destroy(inst);
    inst = plugin_create_types("phone", NULL, AIGOV_ACTION_REDACT);
    expect(inst, "a@example.com 415-555-2671 4111 1111 1111 1111", 1,
           "PHONE", "415-555-2671");
    P()->destroy(inst);
}

/* ---- each kind -------------------------------------------------------- */

static void test_email_hits(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "Contact john.doe@example.com today.", 1, "EMAIL", "john.doe@example.com");
    expect(inst, "first.last+tag@sub.example.co.uk, x_y%z@mail-host.org.", 2,
           "EMAIL", "first.last+tag@sub.example.co.uk", "EMAIL", "x_y%z@mail-host.org");
    expect(inst, "<A.B-C@Example.COM>", 1, "EMAIL", "A.B-C@Example.COM");
    expect(inst, "mailto:info@xn--bcher-kva.example", 1, "EMAIL", "info@xn--bcher-kva.example");
    /* digits inside an address do not make a second finding */
    expect(inst, "sms 4155552671@txt.att.net", 1, "EMAIL", "4155552671@txt.att.net");
    P()->destroy(inst);
}

static void test_email_misses(void **st)
{
    void *inst = make_all();
    (void)st;
    none(inst, "user@localhost and root@server");
    none(inst, "@decorator, @Override, name@ and @home");
    none(inst, "icon@2x.png logo@3x.jpg");
    none(inst, "a@b.c npm i react@18.2.0");
    none(inst, ".@x.com foo.@bar.com a..b@example.com");
    none(inst, "a@-bad.com a@bad-.com");
    P()->destroy(inst);
}

static void test_phone_hits(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "Call +1 415 555 2671 now", 1, "PHONE", "+1 415 555 2671");
    expect(inst, "UK: +44 20 7946 0958; CN: +86 138 0013 8000.", 2,
           "PHONE", "+44 20 7946 0958", "PHONE", "+86 138 0013 8000");
    expect(inst, "+8613800138000", 1, "PHONE", "+8613800138000");
    expect(inst, "+49 (0)30 123456 or +33 6 12 34 56 78", 2,
           "PHONE", "+49 (0)30 123456", "PHONE", "+33 6 12 34 56 78");
    expect(inst, "(415) 555-2671, 415-555-2671, 415.555.2671", 3,
           "PHONE", "(415) 555-2671", "PHONE", "415-555-2671", "PHONE", "415.555.2671");
    expect(inst, "London 020 7946 0958, Paris 06 12 34 56 78", 2,
           "PHONE", "020 7946 0958", "PHONE", "06 12 34 56 78");
    expect(inst, "toll free 1-800-555-0199.", 1, "PHONE", "1-800-555-0199");
    expect(inst, "手机13800138000，谢谢", 1, "PHONE", "13800138000");
    expect(inst, "+1-415-555-2671 ext 12", 1, "PHONE", "+1-415-555-2671");
    expect(inst, "+1 (415) 555-2671 or (415)555-2671", 2,
           "PHONE", "+1 (415) 555-2671", "PHONE", "(415)555-2671");
    P()->destroy(inst);
}

static void test_phone_misses(void **st)
{
    void *inst = plugin_create_types("phone", NULL, AIGOV_ACTION_REDACT);
    (void)st;
    none(inst, "on 2024-01-15 and 15.01.2024 at 10:30:00");
    none(inst, "version 1.2.3, 10.0.19041.1 and 2.4.10.1234");
    none(inst, "Order 4155552671 and invoice 20240115001");
    none(inst, "1 000 000 000 and 12 000 000 000 and 100 200 300");
    none(inst, "ISBN 978-3-16-148410-0 and 415-555-2671-99");
    none(inst, "+1 and +12 and +1234567 points, 3.14159265358979");
    none(inst, "x415-555-2671 and 12415-555-2671 and +0 415 555 2671");
    none(inst, "415-555.2671 mixed separators");
    P()->destroy(inst);
}

static void test_card_hits(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "visa 4111 1111 1111 1111 exp 12/29", 1, "CREDIT_CARD", "4111 1111 1111 1111");
    expect(inst, "4111-1111-1111-1111", 1, "CREDIT_CARD", "4111-1111-1111-1111");
    expect(inst, "mc 5500000000000004, amex 3782 822463 10005", 2,
           "CREDIT_CARD", "5500000000000004", "CREDIT_CARD", "3782 822463 10005");
    expect(inst, "6011111111111117 3530111333300000 6200000000000005 2223003122003222", 4,
           "CREDIT_CARD", "6011111111111117", "CREDIT_CARD", "3530111333300000",
           "CREDIT_CARD", "6200000000000005", "CREDIT_CARD", "2223003122003222");
    expect(inst, "19 digits 4111111111111111110.", 1, "CREDIT_CARD", "4111111111111111110");
    /* a trailing space-separated number is not swallowed */
    expect(inst, "4111 1111 1111 1111 2029", 1, "CREDIT_CARD", "4111 1111 1111 1111");
    P()->destroy(inst);
}

static void test_card_misses(void **st)
{
    void *inst = plugin_create_types("credit_card", NULL, AIGOV_ACTION_REDACT);
    (void)st;
    none(inst, "4111 1111 1111 1112 fails Luhn");
    none(inst, "1234567812345670 passes Luhn but has no issuer");
    none(inst, "41111111111111111111 is 20 digits");
    none(inst, "4111 1111-1111 1111 mixes separators");
    none(inst, "4111 11 1111 1111 11 odd groups");
    none(inst, "x4111111111111111 and 4111111111111111y");
    P()->destroy(inst);
}

static void test_iban_hits(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "IBAN: DE89 3704 0044 0532 0130 00.", 1, "IBAN", "DE89 3704 0044 0532 0130 00");
    expect(inst, "DE89370400440532013000", 1, "IBAN", "DE89370400440532013000");
    expect(inst, "GB82 WEST 1234 5698 7654 32; FR14 2004 1010 0505 0001 3M02 606", 2,
           "IBAN", "GB82 WEST 1234 5698 7654 32", "IBAN", "FR14 2004 1010 0505 0001 3M02 606");
    expect(inst, "NL91ABNA0417164300 CH9300762011623852957 NO9386011117947", 3,
           "IBAN", "NL91ABNA0417164300", "IBAN", "CH9300762011623852957",
           "IBAN", "NO9386011117947");
    P()->destroy(inst);
}

static void test_iban_misses(void **st)
{
    void *inst = plugin_create_types("iban", NULL, AIGOV_ACTION_REDACT);
    (void)st;
    none(inst, "DE89 3704 0044 0532 0130 01 has a bad check");
    none(inst, "DE8937040044053201300 is one short");
    none(inst, "DE893704004405320130001 is one long");
    none(inst, "XX89370400440532013000 has no country");
    none(inst, "de89370400440532013000 and ADE89370400440532013000");
    P()->destroy(inst);
}

static void test_ssn(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "SSN 123-45-6789 and 078-05-1120", 2, "SSN", "123-45-6789",
           "SSN", "078-05-1120");
    none(inst, "000-12-3456 666-12-3456 900-12-3456 999-99-9999");
    none(inst, "123-00-4567 123-45-0000 123-45-67890 1123-45-6789");
    assert_true(pii_ssn_ok(899, 99, 9999));
    assert_false(pii_ssn_ok(666, 1, 1));
    P()->destroy(inst);
}

static void test_ip(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "from 192.168.1.1 and 10.0.0.255:8080, dns 8.8.8.8.", 3,
           "IP_ADDRESS", "192.168.1.1", "IP_ADDRESS", "10.0.0.255", "IP_ADDRESS", "8.8.8.8");
    expect(inst, "net 10.0.0.0/8", 1, "IP_ADDRESS", "10.0.0.0");
    expect(inst, "v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334 and 2001:db8::8a2e:370:7334", 2,
           "IP_ADDRESS", "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
           "IP_ADDRESS", "2001:db8::8a2e:370:7334");
    expect(inst, "link fe80::1%eth0, mapped ::ffff:192.0.2.128, [2001:DB8::1]:443", 3,
           "IP_ADDRESS", "fe80::1", "IP_ADDRESS", "::ffff:192.0.2.128",
           "IP_ADDRESS", "2001:DB8::1");
    P()->destroy(inst);
}

static void test_ip_misses(void **st)
{
    void *inst = plugin_create_types("ip", NULL, AIGOV_ACTION_REDACT);
    (void)st;
    none(inst, "999.1.1.1 256.1.1.1 1.2.3.4.5 01.02.03.04 1.2.3");
    none(inst, "v1.2.3.4 and build 4.1.2.3-beta");
    none(inst, "12:30:45 std::vector a::b dead::beef 00:1a:2b:3c:4d:5e");
    none(inst, "1:2:3:4:5:6:7 and 1::2::3 and 12345::1 and ::1");
    P()->destroy(inst);
}

static void test_cn_id(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "身份证号11010519491231002X。", 1, "CN_ID", "11010519491231002X");
    expect(inst, "id 44030419900307123x, 310115200002294567", 2,
           "CN_ID", "44030419900307123x", "CN_ID", "310115200002294567");
    P()->destroy(inst);
    inst = plugin_create_types("cn_id", NULL, AIGOV_ACTION_REDACT);
    none(inst, "110105194912310021 wrong check character");
    none(inst, "110105194902300020 February 30th");
    none(inst, "990105194912310023 no such province");
    none(inst, "110105189912310023 born 1899");
    none(inst, "11010519491231002X1 too long");
    assert_true(pii_cn_id_ok("510108198511120016", 18));
    assert_false(pii_cn_id_ok("51010819851112001", 17));
    P()->destroy(inst);
}

static void test_validators(void **st)
{
    (void)st;
    assert_true(pii_luhn_ok("79927398713", 11));
    assert_false(pii_luhn_ok("79927398710", 11));
    assert_false(pii_luhn_ok("", 0));
    assert_false(pii_luhn_ok("7992a398713", 11));
    assert_true(pii_card_prefix_ok("4111111111111111", 16));
    assert_false(pii_card_prefix_ok("411111111111111", 15));
    assert_false(pii_card_prefix_ok("378282246310005", 16));
    assert_true(pii_iban_ok("GB82WEST12345698765432", 22));
    assert_false(pii_iban_ok("GB82WEST12345698765433", 22));
    assert_false(pii_iban_ok("GB82WEST1234569876543", 21));
    assert_false(pii_iban_ok("GB82west12345698765432", 22));
}

/* ---- text handling ---------------------------------------------------- */

static void test_edges_of_text(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "a@example.com", 1, "EMAIL", "a@example.com");
    expect(inst, "4111111111111111", 1, "CREDIT_CARD", "4111111111111111");
    expect(inst, "+1 415 555 2671", 1, "PHONE", "+1 415 555 2671");
    expect(inst, "1.2.3.4", 1, "IP_ADDRESS", "1.2.3.4");
    expect(inst, "123-45-6789 x 10.0.0.1", 2, "SSN", "123-45-6789", "IP_ADDRESS", "10.0.0.1");
    expect(inst, "x@example.org 192.0.2.1", 2, "EMAIL", "x@example.org",
           "IP_ADDRESS", "192.0.2.1");
    P()->destroy(inst);
}

static void test_utf8_around(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "邮箱：zhang.san@example.cn，电话：+86 138 0013 8000。", 2,
           "EMAIL", "zhang.san@example.cn", "PHONE", "+86 138 0013 8000");
    expect(inst, "café 192.168.0.1 naïve", 1, "IP_ADDRESS", "192.168.0.1");
    expect(inst, "🎉4111 1111 1111 1111🎉", 1, "CREDIT_CARD", "4111 1111 1111 1111");
    /* a non-ASCII local part is not taken: only the ASCII tail */
    expect(inst, "é@example.com", 0);
    P()->destroy(inst);
}

static void test_empty_and_bad_args(void **st)
{
    void *inst = make_all();
    aigov_verdict_t v;
    (void)st;
    memset(&v, 0, sizeof(v));
    assert_int_equal(P()->inspect(inst, NULL, "", 0, &v), 0);
    assert_int_equal(v.kind, AIGOV_ALLOW);
    assert_int_equal(P()->inspect(inst, NULL, NULL, 0, &v), 0);
    assert_int_equal(v.kind, AIGOV_ALLOW);
    assert_int_equal(P()->inspect(inst, NULL, NULL, 5, &v), -1);
    /* a length shorter than the string is honoured: no read past it */
    assert_int_equal(P()->inspect(inst, NULL, "a@example.com", 5, &v), 0);
    assert_int_equal(v.kind, AIGOV_ALLOW);
    P()->destroy(inst);
}

static void test_reason_and_reuse(void **st)
{
    void *inst = make_all();
    aigov_verdict_t v;
    (void)st;
    v = run(inst, "a@x.com, b@y.org and 4111 1111 1111 1111");
    assert_int_equal(v.kind, AIGOV_REDACT);
    assert_string_equal(v.reason, "found 2 email addresses and 1 payment card");
    assert_string_equal(v.category, "email");
    v = run(inst, "10.0.0.1 then a@x.com, 415-555-2671 and 123-45-6789");
    assert_string_equal(v.reason, "found 1 IP address, 1 email address, "
                                  "1 phone number and 1 US social security number");
    assert_string_equal(v.category, "ip");
    assert_int_equal(v.nspans, 4);
    v = run(inst, "nothing here");
    assert_int_equal(v.kind, AIGOV_ALLOW);
    assert_int_equal(v.nspans, 0);
    P()->destroy(inst);
}

static void check_corpus(void *inst, const char *path)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    aigov_verdict_t v;
    if (text == NULL) {
        print_message("  (no %s, skipped)\n", path);
        return;
    }
    memset(&v, 0, sizeof(v));
    assert_int_equal(P()->inspect(inst, NULL, text, len, &v), 0);
    for (size_t i = 0; i < v.nspans; i++)
        print_message("  %s: %s '%.*s'\n", path, v.spans[i].label,
                      (int)(v.spans[i].end - v.spans[i].start), text + v.spans[i].start);
    assert_int_equal(v.nspans, 0);
    assert_int_equal(v.kind, AIGOV_ALLOW);
    free(text);
}

static void test_benign_corpus(void **st)
{
    void *inst = make_all();
    size_t len;
    char *own = read_file("t/unit/corpus/benign_pii.txt", &len);
    (void)st;
    assert_non_null(own);           /* ours must be there */
    free(own);
    check_corpus(inst, "t/unit/corpus/benign_pii.txt");
    P()->destroy(inst);
}

static void test_performance_1mb(void **st)
{
    static const char *lines[] = {
        "The quarterly report covers revenue, costs and the outlook for 2025.\n",
        "Please review section 4.2 before the meeting on 2024-03-15 at 10:30.\n",
        "function total(items) { return items.reduce((a, b) => a + b, 0); }\n",
        "Contact sales@example.com or call +1 415 555 2671 for details.\n",
        "Version 2.3.1 fixed the crash; see ticket 48213 and build 7781.\n",
        "我们将在下周一讨论项目进度，请大家准备好材料。\n",
    };
    size_t cap = 1u << 20, len = 0, k = 0, expected = 0;
    char *text = malloc(cap);
    void *inst = make_all();
    aigov_verdict_t v;
    struct timespec t0, t1;
    double secs;
    (void)st;
    assert_non_null(text);
    while (1) {
        size_t n = strlen(lines[k % 6]);
        if (len + n > cap)
            break;
        memcpy(text + len, lines[k % 6], n);
        len += n;
        if (k % 6 == 3)
            expected += 2;
        k++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(&v, 0, sizeof(v));
    assert_int_equal(P()->inspect(inst, NULL, text, len, &v), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(v.nspans, expected);
    printf("pii: %.1f MB in %.3f s: %.0f MB/s\n",
           (double)len / 1e6, secs, secs > 0 ? (double)len / 1e6 / secs : 0.0);
    P()->destroy(inst);
    free(text);
}

/* ---- old scanner vs new, on a generated corpus ---------------------- */

/* The scanner as it was before it learnt to skip, which looked at every
 * byte, compiled in under other names: both must find the same. */
#define pii_scan ref_pii_scan
#define pii_luhn_ok ref_pii_luhn_ok
#define pii_card_prefix_ok ref_pii_card_prefix_ok
#define pii_iban_ok ref_pii_iban_ok
#define pii_cn_id_ok ref_pii_cn_id_ok
#define pii_ssn_ok ref_pii_ssn_ok
#include "ref/pii_detect_v1.c"
#undef pii_scan
#undef pii_luhn_ok
#undef pii_card_prefix_ok
#undef pii_iban_ok
#undef pii_cn_id_ok
#undef pii_ssn_ok

#define PICK(list) (list[rnd(sizeof(list) / sizeof(list[0]))])

static const char *const gen_hits[] = {
    "+1 415 555 2671", "+44 20 7946 0958", "+8613800138000", "+49 (0)30 123456",
    "+33 6 12 34 56 78", "(415) 555-2671", "415-555-2671", "415.555.2671", "020 7946 0958",
    "06 12 34 56 78", "1-800-555-0199", "13800138000", "+1 (415) 555-2671", "(415)555-2671",
    "4111 1111 1111 1111", "4111-1111-1111-1111", "5500000000000004", "3782 822463 10005",
    "6011111111111117", "3530111333300000", "4111111111111111110",
    "DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32",
    "FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300", "CH9300762011623852957",
    "NO9386011117947", "123-45-6789", "899-99-9999", "666-01-0001", "192.0.2.1", "10.0.0.1",
    "255.255.255.255", "256.1.1.1", "1.2.3.4-beta", "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    "2001:db8::8a2e:370:7334", "fe80::1", "::ffff:192.0.2.128", "[2001:DB8::1]:443",
    "12:30:45", "std::vector", "dead::beef", "00:1a:2b:3c:4d:5e", "11010519491231002X",
    "44030419900307123x", "310115200002294567", "510108198511120016", "a@example.com",
    "jane.doe@northwind-mail.com", "x@example.org", "icon@2x.png", "user@localhost",
    "zhang.san@example.cn", "a..b@example.com", "first.last+tag@sub.example.co.uk",
};

static const char *const gen_words[] = {
    "the", "office", "Call", "IBAN", "card", "DE", "GB", "ABCD", "Face", "bead", "cafe",
    "add", "a", "b", "f", "be", "dead", "beef", "x", "ok", "v6", "tel", "phone", "No",
    "FR", "NL", "CH", "ext", "id", "AC", "DC",
};

static const char *const gen_seps[] = {
    " ", " ", " ", "  ", "-", ".", ",", ", ", ":", "::", "(", ")", "+", "/", "\n", "_",
    "@", "", "\xe7\x94\xb5", "\xef\xbc\x9a", "\t", ";", "x", "%",
};

static size_t gen_put(char *buf, size_t o, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n > cap - o)
        n = cap - o;
    memcpy(buf + o, s, n);
    return o + n;
}

/* A Luhn-valid number of n digits that starts with prefix. */
static void gen_card(char *d, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    unsigned sum = 0;
    int dbl = 1;

    memcpy(d, prefix, k);
    for (; k < n - 1; k++)
        d[k] = (char)('0' + rnd(10));
    for (size_t j = n - 1; j-- > 0;) {
        unsigned v = (unsigned)(d[j] - '0');
        if (dbl && (v *= 2) > 9)
            v -= 9;
        sum += v;
        dbl = !dbl;
    }
    d[n - 1] = (char)('0' + (10 - sum % 10) % 10);
    d[n] = '\0';
}

static size_t gen_text(char *buf, size_t cap)
{
    static const char *const issuers[] = {"4", "51", "55", "2221", "34", "37", "6011",
                                          "65", "3530", "36", "62", "2200", "6304", "9"};
    static const char *const hex = "0123456789abcdefABCDEF";
    size_t o = 0, pieces = 1 + rnd(rnd(8) == 0 ? 300 : 30);

    for (size_t p = 0; p < pieces && o < cap; p++) {
        unsigned r = rnd(100);
        if (r < 12) {
            o = gen_put(buf, o, cap, PICK(gen_hits));
        } else if (r < 30) {
            /* digit groups joined by one or several separators */
            size_t groups = 1 + rnd(6);
            const char *sep = rnd(2) ? PICK(gen_seps) : " ";
            if (rnd(5) == 0)
                o = gen_put(buf, o, cap, "+");
            for (size_t g = 0; g < groups && o < cap; g++) {
                size_t n = 1 + rnd(rnd(4) == 0 ? 19 : 5);
                int paren = rnd(8) == 0;
                if (g > 0)
                    o = gen_put(buf, o, cap, rnd(6) ? sep : PICK(gen_seps));
                if (paren)
                    o = gen_put(buf, o, cap, "(");
                for (size_t k = 0; k < n && o < cap; k++)
                    buf[o++] = (char)('0' + rnd(10));
                if (paren)
                    o = gen_put(buf, o, cap, ")");
            }
        } else if (r < 38) {
            /* a card that passes Luhn, together or in fours */
            char d[24];
            size_t n = 13 + rnd(7);
            gen_card(d, n, PICK(issuers));
            if (rnd(2)) {
                o = gen_put(buf, o, cap, d);
            } else {
                const char *sep = rnd(3) ? " " : "-";
                for (size_t k = 0; k < n && o < cap; k++) {
                    if (k > 0 && k % 4 == 0)
                        o = gen_put(buf, o, cap, sep);
                    if (o < cap)
                        buf[o++] = d[k];
                }
            }
        } else if (r < 46) {
            /* hex groups and colons */
            size_t groups = 1 + rnd(9);
            for (size_t g = 0; g < groups && o < cap; g++) {
                size_t n = 1 + rnd(5);
                if (g > 0)
                    o = gen_put(buf, o, cap, rnd(6) ? ":" : rnd(2) ? "::" : ".");
                for (size_t k = 0; k < n && o < cap; k++)
                    buf[o++] = hex[rnd(22)];
            }
        } else if (r < 52) {
            /* uppercase and digits, IBAN-like */
            size_t n = 12 + rnd(24);
            o = gen_put(buf, o, cap, PICK(gen_words));
            for (size_t k = 0; k < n && o < cap; k++) {
                if (k % 4 == 0 && rnd(2))
                    o = gen_put(buf, o, cap, " ");
                if (o < cap)
                    buf[o++] = rnd(3) ? (char)('0' + rnd(10)) : (char)('A' + rnd(26));
            }
        } else if (r < 57) {
            /* an address-like thing */
            o = gen_put(buf, o, cap, PICK(gen_words));
            o = gen_put(buf, o, cap, rnd(4) ? "@" : ".");
            o = gen_put(buf, o, cap, PICK(gen_words));
            o = gen_put(buf, o, cap, rnd(4) ? "." : "-");
            o = gen_put(buf, o, cap, PICK(gen_words));
        } else if (r < 60) {
            if (o < cap)
                buf[o++] = (char)rnd(256);
        } else if (r < 72) {
            o = gen_put(buf, o, cap, PICK(gen_seps));
        } else {
            o = gen_put(buf, o, cap, PICK(gen_words));
        }
        if (rnd(3))
            o = gen_put(buf, o, cap, PICK(gen_seps));
    }
    return o;
}

static void test_same_as_reference(void **st)
{
    static char text[20000];
    pii_matches_t nm = {0}, om = {0};
    size_t found = 0;
    unsigned kinds = 0;

    (void)st;
    rng_state = 0xd1b54a32d192ed03ull;
    for (int n = 0; n < 20000; n++) {
        size_t len = gen_text(text, sizeof(text) - 1);
        unsigned mask = rnd(3) ? PII_ALL : (unsigned)rnd(PII_ALL + 1);

        text[len] = '\0';
        nm.n = om.n = 0;
        assert_int_equal(pii_scan(text, len, mask, &nm), 0);
        assert_int_equal(ref_pii_scan(text, len, mask, &om), 0);
        if (nm.n != om.n)
            fail_msg("text %d '%s': %zu matches, the old scanner %zu", n, text, nm.n, om.n);
        for (size_t k = 0; k < nm.n; k++) {
            if (nm.v[k].start != om.v[k].start || nm.v[k].end != om.v[k].end ||
                nm.v[k].type != om.v[k].type)
                fail_msg("text %d: match %zu is %d [%zu,%zu), the old one %d [%zu,%zu)",
                         n, k, nm.v[k].type, nm.v[k].start, nm.v[k].end,
                         om.v[k].type, om.v[k].start, om.v[k].end);
            kinds |= 1u << nm.v[k].type;
        }
        found += nm.n;
    }
    free(nm.v);
    free(om.v);
    /* the corpus holds every kind */
    assert_int_equal(kinds, PII_ALL);
    assert_true(found > 20000);
}

/* tail(): the run an item could still grow from, nothing for prose that
 * ends a sentence; long runs are answered whole (the host caps them). */
static void test_tail(void **state)
{
    void *all = make_all(), *ip = plugin_create_types("ip", NULL, AIGOV_ACTION_REDACT);
    char *run;

    (void)state;
    assert_int_equal(plugin_tail(all, NULL, "Hello there. "), 0);
    assert_int_equal(plugin_tail(all, NULL, "Hello there."), 6);   /* "there.bob@..." */
    assert_int_equal(plugin_tail(all, NULL, "Mail me at alice@exa"), strlen("alice@exa"));
    assert_int_equal(plugin_tail(all, NULL, "Mail me at alice"), 5);
    assert_int_equal(plugin_tail(all, NULL, "card 4111 1111 11"), strlen("4111 1111 11"));
    assert_int_equal(plugin_tail(all, NULL, "card 4111-1111-"), strlen("4111-1111-"));
    assert_int_equal(plugin_tail(all, NULL, "call +1 (415) 555-"), strlen("+1 (415) 555-"));
    assert_int_equal(plugin_tail(all, NULL, "IBAN DE89 3704 "), strlen("IBAN DE89 3704 "));
    assert_int_equal(plugin_tail(all, NULL, "at 2001:db8::"), strlen("2001:db8::"));
    assert_int_equal(plugin_tail(ip, NULL, "host fe80::1"), strlen("fe80::1"));
    assert_int_equal(plugin_tail(all, NULL, ""), 0);
    /* adversarial: runs with no end in sight are answered whole */
    run = repeat("a", 5000);
    assert_int_equal(plugin_tail(all, NULL, run), 5000);
    free(run);
    run = repeat("1234 ", 5000);
    assert_int_equal(plugin_tail(all, NULL, run), 5000);
    free(run);
    run = repeat("a.b-c_d%e+f@", 3000);
    assert_int_equal(plugin_tail(all, NULL, run), 3000);
    free(run);
    P()->destroy(all);
    P()->destroy(ip);
}

/* Each kind, in its forms, after prefixes of every length up to 300 bytes
 * (plugin_harness.h): found the same wherever it is. pii reads bytes with
 * its own loops, not Vectorscan; this keeps it so. */
static void test_every_offset(void **st)
{
    static const char *const found[] = {
        "john.doe@example.com", "first.last+tag@sub.example.co.uk", "+1 415 555 2671",
        "(415) 555-2671", "415-555-2671", "415.555.2671", "+8613800138000", "13800138000",
        "1-800-555-0199", "+44 20 7946 0958", "4111 1111 1111 1111", "4111-1111-1111-1111",
        "5500000000000004", "3782 822463 10005", "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432", "123-45-6789", "192.168.1.20", "2001:db8::8a2e:370:7334",
        "11010519491231002X",
    };
    built_plugin_t l;
    size_t n = 0;

    (void)st;
    built_load(&l, "pii", "{}");
    for (size_t i = 0; i < sizeof(found) / sizeof(found[0]); i++)
        n += check_every_offset(&l, found[i]);
    built_unload(&l);
    assert_true(n > 20 * 3 * 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_entry_table),
        cmocka_unit_test(test_config_default_and_null),
        cmocka_unit_test(test_config_unknown_type),
        cmocka_unit_test(test_config_bad_shapes),
        cmocka_unit_test(test_config_subset),
        cmocka_unit_test(test_email_hits),
        cmocka_unit_test(test_email_misses),
        cmocka_unit_test(test_phone_hits),
        cmocka_unit_test(test_phone_misses),
        cmocka_unit_test(test_card_hits),
        cmocka_unit_test(test_card_misses),
        cmocka_unit_test(test_iban_hits),
        cmocka_unit_test(test_iban_misses),
        cmocka_unit_test(test_ssn),
        cmocka_unit_test(test_ip),
        cmocka_unit_test(test_ip_misses),
        cmocka_unit_test(test_cn_id),
        cmocka_unit_test(test_validators),
        cmocka_unit_test(test_edges_of_text),
        cmocka_unit_test(test_utf8_around),
        cmocka_unit_test(test_empty_and_bad_args),
        cmocka_unit_test(test_reason_and_reuse),
        cmocka_unit_test(test_benign_corpus),
        cmocka_unit_test(test_performance_1mb),
        cmocka_unit_test(test_same_as_reference),
        cmocka_unit_test(test_every_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

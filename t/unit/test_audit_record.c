/* The fast record writer (aigov_record_write): for random and edge-case
 * records its body is byte for byte what the jansson path gives
 * (aigov_record_json + aigov_record_body), it fails exactly when that path
 * fails, and its lines verify under a real signed checkpoint. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit.h"
#include "media.h"

/* ---- a deterministic generator ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static unsigned below(unsigned n)
{
    return (unsigned) (rnd() % n);
}

/* Appends the UTF-8 of code point c. */
static size_t utf8_put(char *p, uint32_t c)
{
    if (c < 0x80) {
        p[0] = (char) c;
        return 1;
    }
    if (c < 0x800) {
        p[0] = (char) (0xC0 | c >> 6);
        p[1] = (char) (0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        p[0] = (char) (0xE0 | c >> 12);
        p[1] = (char) (0x80 | (c >> 6 & 0x3F));
        p[2] = (char) (0x80 | (c & 0x3F));
        return 3;
    }
    p[0] = (char) (0xF0 | c >> 18);
    p[1] = (char) (0x80 | (c >> 12 & 0x3F));
    p[2] = (char) (0x80 | (c >> 6 & 0x3F));
    p[3] = (char) (0x80 | (c & 0x3F));
    return 4;
}

static const char *bad_utf8[] = {
    "\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc2", "\xe2\x82", "\xe0\x80\x80", "\xe0\x9f\xbf",
    "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
    "\xf5\x80\x80\x80", "\xff", "\xfe", "\xc3\x28", "\xe2\x28\xa1", "\xf0\x28\x8c\x28",
};

/* A random string into buf (NUL-terminated unless nul_ok, which may put
 * NULs inside); *len its length. bad: may hold invalid UTF-8. */
static char *rand_str(char *buf, size_t cap, size_t *len, int bad, int nul_ok)
{
    size_t want, n = 0;
    unsigned shape = below(10);

    want = shape == 0 ? 0 : shape < 7 ? below(40) : shape < 9 ? below(300) : below((unsigned) cap / 8);
    while (n < want && n + 16 < cap) {
        unsigned k = below(100);
        if (k < 55) {
            buf[n++] = (char) (0x20 + below(0x5F));            /* printable ASCII */
        } else if (k < 62) {
            buf[n++] = "\"\\/\x7f"[below(4)];
        } else if (k < 72) {
            uint32_t c = below(0x20);
            if (c == 0 && !nul_ok)
                c = '\n';
            buf[n++] = (char) c;
        } else if (k < 80) {
            n += utf8_put(buf + n, 0x80 + below(0x780));       /* 2 bytes */
        } else if (k < 88) {
            uint32_t c = 0x800 + below(0x10000 - 0x800);
            if (c >= 0xD800 && c <= 0xDFFF)
                c = 0xFFFD;
            n += utf8_put(buf + n, c);                          /* 3 bytes */
        } else if (k < 95) {
            n += utf8_put(buf + n, 0x10000 + below(0x100000)); /* 4 bytes */
        } else if (k < 96 && bad) {
            const char *b = bad_utf8[below(sizeof(bad_utf8) / sizeof(bad_utf8[0]))];
            memcpy(buf + n, b, strlen(b));
            n += strlen(b);
        } else if (k < 98) {
            /* what line-oriented tools split on */
            static const uint32_t br[] = { 0x85, 0x2028, 0x2029, 0x80, 0x9F, 0x0B, 0x0C, 0x0D,
                                           0x1C, 0x1D, 0x1E };
            n += utf8_put(buf + n, br[below(sizeof(br) / sizeof(br[0]))]);
        } else {
            buf[n++] = 'x';
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A string kept alive for the record's lifetime. */
typedef struct {
    char  *s[64];
    int    n;
} pool_t;

static const char *pool_str(pool_t *p, int may_null, int bad)
{
    static char buf[16384];
    size_t len;

    if (may_null && below(5) == 0)
        return NULL;
    assert_true(p->n < 64);
    rand_str(buf, sizeof(buf), &len, bad, 0);
    p->s[p->n] = strdup(buf);
    assert_non_null(p->s[p->n]);
    return p->s[p->n++];
}

static void pool_free(pool_t *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->s[i]);
    p->n = 0;
}

static json_int_t rand_int(void)
{
    static const json_int_t edge[] = { 0, 1, -1, 9, 10, -10, INT64_MAX, INT64_MIN, INT64_MIN + 1,
                                       1000000000000LL, -999999999999999999LL };
    if (below(3) == 0)
        return edge[below(sizeof(edge) / sizeof(edge[0]))];
    return (json_int_t) (rnd() >> below(64));
}

static double rand_real(void)
{
    static const double edge[] = { 0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e300, -1e-300, 5e-324,
                                   1.7976931348623157e308, 2.2250738585072014e-308, 1e21, 1e20,
                                   123456789012345678.0, 3.14159, 100.0, 1e-5, 1e-4, 1e16, 1e17 };
    double d;
    uint64_t bits;

    if (below(2) == 0)
        return edge[below(sizeof(edge) / sizeof(edge[0]))];
    do {
        bits = rnd();
        memcpy(&d, &bits, sizeof(d));
    } while (d != d || d - d != 0);   /* finite only: json_real refuses the rest */
    return d;
}

/* A random JSON value: json_t strings may hold NULs (and, with bad,
 * invalid UTF-8 through the nocheck constructors). */
static json_t *rand_json(int depth, int bad)
{
    static char buf[4096];
    size_t len;
    unsigned k = below(depth > 3 ? 6 : 9);
    json_t *v;

    switch (k) {
    case 0: return json_null();
    case 1: return json_boolean(below(2));
    case 2: return json_integer(rand_int());
    case 3: return json_real(rand_real());
    case 4:
    case 5:
        rand_str(buf, sizeof(buf), &len, bad, 1);
        v = bad ? json_stringn_nocheck(buf, len) : json_stringn(buf, len);
        assert_non_null(v);
        return v;
    case 6:
    case 7:
        v = json_object();
        for (unsigned i = 0, n = below(6); i < n; i++) {
            char key[64];
            json_t *val;
            /* keys are valid UTF-8 without NUL: json_deep_copy cuts a key
             * at its NUL, so two keys could become one, and jansson dumps
             * an invalid key as broken JSON (test_bad_keys has both) */
            rand_str(key, sizeof(key), &len, 0, 0);
            val = rand_json(depth + 1, bad);
            json_object_setn_new(v, key, len, val);
        }
        return v;
    default:
        v = json_array();
        for (unsigned i = 0, n = below(6); i < n; i++)
            json_array_append_new(v, rand_json(depth + 1, bad));
        return v;
    }
}

static int64_t rand_ts(void)
{
    static const int64_t edge[] = {
        0, -1, 1, 999999, -999999, -1000000, 1000000, INT64_MAX, INT64_MIN, INT64_MIN + 1,
        1714564800123456LL,            /* 2024-05-01 */
        951782400000000LL,             /* 2000-02-29 */
        -2203891200000000LL,           /* 1900-03-01 */
        4107542400000000LL,            /* 2100-03-01 */
        -30610224000000000LL,          /* 1000-01-01 */
        -30610224000000001LL,          /* the microsecond before: year 999 */
        253402300799999999LL,          /* 9999-12-31T23:59:59.999999 */
        253402300800000000LL,          /* 10000-01-01 */
        -62135596800000000LL,          /* 0001-01-01 */
    };
    if (below(4) == 0)
        return edge[below(sizeof(edge) / sizeof(edge[0]))];
    if (below(2) == 0)   /* 1900..2200 */
        return -2208988800000000LL + (int64_t) (rnd() % 9467280000000000ULL);
    return (int64_t) rnd();
}

static int64_t rand_count(void)
{
    unsigned k = below(5);
    return k == 0 ? -1 : k == 1 ? 0 : k == 2 ? INT64_MAX : (int64_t) below(100000);
}

static const char *contents[] = { "none", "hash", "redacted", "full", NULL };
static const char *phases[] = { "admit", "done", "deny", NULL };

/* A random record; bad may put invalid UTF-8 in a string. */
static void rand_record(aigov_record_t *r, pool_t *p, json_t **owned, aigov_record_filter_t *fl, int bad)
{
    memset(r, 0, sizeof(*r));
    r->id = pool_str(p, 1, bad);
    r->ts_us = rand_ts();
    r->sub = pool_str(p, 1, bad);
    r->groups = owned[0] = below(3) ? rand_json(2, bad) : NULL;
    r->iss = pool_str(p, 1, bad);
    r->claims = owned[1] = below(4) ? rand_json(below(3) ? 0 : 2, bad) : NULL;
    if (r->claims && below(2)) {   /* claims as a policy sees them: an object */
        json_decref(r->claims);
        r->claims = owned[1] = json_object();
        for (int i = 0; i < 6; i++) {
            char k[16];
            snprintf(k, sizeof(k), "k%d", i);
            json_object_set_new(r->claims, k, rand_json(1, bad));
        }
    }
    r->method = pool_str(p, 1, bad);
    r->path = pool_str(p, 1, bad);
    r->model = pool_str(p, 1, bad);
    r->endpoint = pool_str(p, 1, bad);
    r->decision = below(2) ? "allow" : "deny";
    r->rule = pool_str(p, 1, bad);
    r->reason = pool_str(p, 1, bad);
    r->policy_sha256 = pool_str(p, 1, bad);
    r->status = (int) (below(4) == 0 ? (int) rnd() : (int) below(600));
    r->max_tokens = rand_count();
    r->prompt_chars = rand_count();
    r->stream = below(3) == 0 ? (int) below(5) : 0;
    r->prompt_tokens = rand_count();
    r->completion_tokens = rand_count();
    r->content = contents[below(5)];
    r->prompt_sha256 = pool_str(p, 1, bad);
    r->response_sha256 = pool_str(p, 1, bad);
    r->prompt = pool_str(p, 1, bad);
    r->response = pool_str(p, 1, bad);
    r->phase = phases[below(4)];
    r->max_tokens_injected = below(4) == 0;
    r->not_inspected = below(4) == 0;
    r->n = rand_count();
    r->unread = below(2) ? NULL : below(2) ? "token_ids" : pool_str(p, 1, bad);
    r->background = below(2);
    r->media = below(8);
    switch (below(3)) {
    case 0:
        r->filters = owned[2] = rand_json(3, bad);
        break;
    case 1:
        r->nfilter_list = below(6);
        for (size_t i = 0; i < r->nfilter_list; i++) {
            fl[i].plugin = pool_str(p, 1, bad);
            fl[i].stage = below(2) ? "request" : "response";
            fl[i].verdict = pool_str(p, 1, bad);
            fl[i].count = rand_int();
        }
        r->filter_list = fl;
        break;
    default:
        break;
    }
}

/* ---- the comparison ---- */

/* The fast body equals the jansson body, or both fail. Returns the fast
 * body (malloc'd) or NULL. */
static char *same_body(const aigov_record_t *r, size_t *blen)
{
    json_t *o = aigov_record_json(r);
    size_t jlen = 0, n, flen = 0;
    char *jbody = o ? aigov_record_body(o, &jlen) : NULL, *out, *fast;

    json_decref(o);
    n = aigov_record_write(NULL, 0, r);   /* the size query */
    fast = aigov_record_body_fast(r, &flen);
    if (jbody == NULL) {
        if (n != 0 || fast != NULL)
            fail_msg("jansson refused a record that the fast writer wrote (%zu bytes)", n);
        return NULL;
    }
    if (n != jlen || fast == NULL || flen != jlen) {
        fprintf(stderr, "jansson: %s\nfast:    %s\n", jbody, fast ? fast : "(null)");
        fail_msg("lengths differ: jansson %zu, query %zu, fast %zu", jlen, n, flen);
    }
    if (memcmp(fast, jbody, jlen) != 0) {
        size_t i = 0;
        while (fast[i] == jbody[i])
            i++;
        fprintf(stderr, "jansson: %s\nfast:    %s\n", jbody + (i > 40 ? i - 40 : 0),
                fast + (i > 40 ? i - 40 : 0));
        fail_msg("bodies differ at byte %zu of %zu", i, jlen);
    }
    assert_int_equal(fast[flen], '\0');

    /* the exact size and one byte short: never a byte past cap */
    out = malloc(n + 1);
    assert_non_null(out);
    memset(out, '#', n + 1);
    assert_int_equal(aigov_record_write(out, n, r), n);
    assert_memory_equal(out, jbody, n);
    assert_int_equal(out[n], '#');
    memset(out, '#', n + 1);
    assert_int_equal(aigov_record_write(out, n - 1, r), n);
    assert_int_equal(out[n - 1], '#');
    free(out);
    free(jbody);
    *blen = flen;
    return fast;
}

/* ---- a log written with the fast bodies, verified ---- */

static char tmpdir[] = "/tmp/aigov-ar-XXXXXX";

typedef struct {
    char        *buf;
    size_t       len, cap;
    aigov_tree_t tree;
} logb_t;

static void log_put(logb_t *l, const char *s, size_t n)
{
    if (l->len + n + 1 > l->cap) {
        l->cap = (l->len + n + 1) * 2;
        l->buf = realloc(l->buf, l->cap);
        assert_non_null(l->buf);
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void log_record(logb_t *l, const char *body, size_t blen)
{
    size_t cap = AIGOV_RECORD_LINE_MAX(blen), n;
    char *line = malloc(cap);
    uint8_t h[32];

    assert_non_null(line);
    n = aigov_record_line(line, cap, l->tree.size, body, blen);
    assert_true(n > blen);
    assert_int_equal(line[n - 1], '\n');
    assert_null(memchr(line, '\n', n - 1));   /* one line, whatever the strings held */
    assert_int_equal(aigov_json_check(line, n - 1), 0);
    aigov_leaf_hash(line, n - 1, h);
    aigov_tree_append(&l->tree, h);
    log_put(l, line, n);
    free(line);
}

static int problems;

static void on_problem(void *ud, const aigov_problem_t *p)
{
    problems++;
    if (ud)   /* a problem was expected */
        return;
    fprintf(stderr, "problem: %s at line %llu: %s\n", p->reason, (unsigned long long) p->line,
            p->message);
}

static aigov_signer_t *make_signer(aigov_vkey_t *vk)
{
    char path[256], err[256];
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    FILE *f;
    aigov_signer_t *s;

    snprintf(path, sizeof(path), "%s/log.key", tmpdir);
    f = fopen(path, "w");
    if (!k || !f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
        return NULL;
    fclose(f);
    EVP_PKEY_free(k);
    s = aigov_signer_load(path, "test.example/aigov", err, sizeof(err));
    if (s && aigov_vkey_parse(vk, aigov_signer_vkey(s), err, sizeof(err)) < 0)
        return NULL;
    return s;
}

static int setup(void **state)
{
    const char *seed = getenv("AIGOV_TEST_SEED");

    if (seed)
        rng_state = strtoull(seed, NULL, 0) | 1;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

/* One typical record, checked against the exact text (so a change to both
 * paths at once is caught too). */
static void test_known_record(void **state)
{
    json_t *groups = json_pack("[s,s]", "eng", "ops");
    json_t *claims = json_pack("{s:s,s:[i,f,b,n],s:{s:s}}", "iss", "https://idp", "x", 1, 2.5, 1,
                               "o", "k", "v\"\\\n\x01\x1f\x7f\xc3\xa9");
    aigov_record_filter_t fl[2] = { { "pii", "request", "redact", 2, 0 },
                                    { "secrets", "response", "allow", 0, 0 } };
    aigov_record_t r = { 0 };
    static const char want[] =
        "{\"ts\":\"2024-05-01T12:00:00.123456Z\",\"id\":\"req-1\",\"sub\":\"alice\","
        "\"groups\":[\"eng\",\"ops\"],\"iss\":null,"
        "\"claims\":{\"iss\":\"https://idp\",\"x\":[1,2.5,true,null],\"o\":{\"k\":\"v\\\"\\\\\\n\\u0001\\u001F\x7f\xc3\xa9\"}},"
        "\"method\":\"POST\",\"path\":\"/v1/chat/completions\",\"endpoint\":null,\"model\":\"m\","
        "\"max_tokens\":null,\"prompt_chars\":12,\"stream\":true,\"decision\":\"deny\","
        "\"rule\":\"r1\",\"reason\":\"no\",\"policy_sha256\":null,\"status\":403,"
        "\"filters\":[{\"plugin\":\"pii\",\"stage\":\"request\",\"verdict\":\"redact\",\"count\":2},"
        "{\"plugin\":\"secrets\",\"stage\":\"response\",\"verdict\":\"allow\",\"count\":0}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":null},\"content\":\"full\","
        "\"prompt\":\"a\\tb\",\"phase\":\"deny\"}";
    size_t len;
    char *body;

    r.id = "req-1";
    r.ts_us = 1714564800123456LL;
    r.sub = "alice";
    r.groups = groups;
    r.claims = claims;
    r.method = "POST";
    r.path = "/v1/chat/completions";
    r.model = "m";
    r.max_tokens = -1;
    r.prompt_chars = 12;
    r.stream = 7;
    r.decision = "deny";
    r.rule = "r1";
    r.reason = "no";
    r.status = 403;
    r.filter_list = fl;
    r.nfilter_list = 2;
    r.prompt_tokens = 5;
    r.completion_tokens = -1;
    r.content = "full";
    r.prompt = "a\tb";
    r.phase = "deny";
    body = same_body(&r, &len);
    assert_non_null(body);
    assert_int_equal(len, sizeof(want) - 1);
    assert_string_equal(body, want);
    free(body);

    /* all empty: usage null, filters [], content defaults to hash */
    memset(&r, 0, sizeof(r));
    r.prompt_tokens = r.completion_tokens = r.max_tokens = r.prompt_chars = -1;
    body = same_body(&r, &len);
    assert_string_equal(body,
        "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"id\":null,\"sub\":null,\"groups\":null,"
        "\"iss\":null,\"claims\":null,\"method\":null,\"path\":null,\"endpoint\":null,"
        "\"model\":null,\"max_tokens\":null,\"prompt_chars\":null,\"stream\":false,"
        "\"decision\":null,\"rule\":null,\"policy_sha256\":null,\"status\":0,\"filters\":[],"
        "\"usage\":null,\"content\":\"hash\"}");
    free(body);
    json_decref(groups);
    json_decref(claims);
}

/* The decision inputs a replay needs besides the usual fields, in their
 * places; left out when they do not apply (n of 1 or less, nothing unread). */
static void test_decision_marks(void **state)
{
    aigov_record_t r = { 0 };
    size_t len;
    char *body;

    (void) state;
    r.id = "req-3";
    r.ts_us = 1714564800123456LL;
    r.max_tokens = 256;
    r.max_tokens_injected = 1;
    r.n = 4;
    r.prompt_chars = 6;
    r.unread = "token_ids";
    r.background = 1;
    r.media = AIGOV_MEDIA_IMAGE | AIGOV_MEDIA_FILE;
    r.decision = "allow";
    r.prompt_tokens = r.completion_tokens = -1;
    r.phase = "admit";
    body = same_body(&r, &len);
    assert_non_null(body);
    assert_string_equal(body,
        "{\"ts\":\"2024-05-01T12:00:00.123456Z\",\"id\":\"req-3\",\"sub\":null,\"groups\":null,"
        "\"iss\":null,\"claims\":null,\"method\":null,\"path\":null,\"endpoint\":null,"
        "\"model\":null,\"max_tokens\":256,\"max_tokens_injected\":true,\"n\":4,"
        "\"prompt_chars\":6,\"unread\":\"token_ids\",\"background\":true,"
        "\"media\":[\"image\",\"file\"],\"stream\":false,\"decision\":\"allow\","
        "\"rule\":null,\"policy_sha256\":null,\"status\":0,\"filters\":[],\"usage\":null,"
        "\"content\":\"hash\",\"phase\":\"admit\"}");
    free(body);

    r.n = 1;
    r.unread = NULL;
    r.background = 0;
    r.media = AIGOV_MEDIA_AUDIO;
    r.not_inspected = 1;
    body = same_body(&r, &len);
    assert_non_null(body);
    assert_null(strstr(body, "\"n\":"));
    assert_null(strstr(body, "\"unread\""));
    assert_null(strstr(body, "\"background\""));
    assert_non_null(strstr(body, ",\"prompt_chars\":6,\"inspected\":false,\"media\":[\"audio\"],"
                                 "\"stream\":false,"));
    free(body);

    /* the completion record repeats none of them */
    {
        char buf[512];
        size_t n;

        r.n = 4;
        r.unread = "text_file";
        r.background = 1;
        n = aigov_record_write_done(buf, sizeof(buf), &r);
        assert_true(n < sizeof(buf));
        buf[n] = '\0';
        assert_null(strstr(buf, "\"n\":"));
        assert_null(strstr(buf, "unread"));
        assert_null(strstr(buf, "background"));
    }
}

/* What the module does today (json_pack'd filters, "phase" set on the
 * object afterwards) gives the same bytes as the plain-C inputs. */
static void test_module_sequence(void **state)
{
    aigov_record_filter_t fl[3] = { { "pii", "request", "allow", 0, 0 },
                                    { "blocklist", "request", "flag", 3, 0 },
                                    { "secrets", "response", "redact", 1, 0 } };
    json_t *filters = json_array(), *o;
    aigov_record_t r = { 0 };
    size_t jlen, flen;
    char *jbody, *fast;

    for (int i = 0; i < 3; i++)
        json_array_append_new(filters, json_pack("{s:s, s:s, s:s, s:I}", "plugin", fl[i].plugin,
                                                 "stage", fl[i].stage, "verdict", fl[i].verdict,
                                                 "count", (json_int_t) fl[i].count));
    r.id = "0123456789abcdef0123456789abcdef";
    r.ts_us = 1714564800000001LL;
    r.sub = "bob";
    r.decision = "allow";
    r.max_tokens = 100;
    r.prompt_chars = 10;
    r.prompt_tokens = 1;
    r.completion_tokens = 2;
    r.content = "hash";
    r.prompt_sha256 = "ab";
    r.filters = filters;
    o = aigov_record_json(&r);
    assert_int_equal(json_object_set_new(o, "phase", json_string("done")), 0);
    jbody = aigov_record_body(o, &jlen);
    json_decref(o);

    r.filters = NULL;
    r.filter_list = fl;
    r.nfilter_list = 3;
    r.phase = "done";
    fast = same_body(&r, &flen);
    assert_non_null(jbody);
    assert_non_null(fast);
    assert_int_equal(flen, jlen);
    assert_memory_equal(fast, jbody, jlen);
    free(jbody);
    free(fast);
    json_decref(filters);
}

/* Every single byte and every bad UTF-8 form, in a string field and in a
 * json_t string (where NUL is possible): always written, a byte that is
 * not UTF-8 as U+FFFD, so a request with such a path still has a record. */
static void test_strings(void **state)
{
    aigov_record_t r = { 0 };
    char s[8], want[16], *body;
    size_t len;
    json_t *claims;

    r.prompt_tokens = r.completion_tokens = -1;
    for (int c = 1; c < 256; c++) {
        snprintf(s, sizeof(s), "a%cb", c);
        r.sub = s;
        body = same_body(&r, &len);
        assert_non_null(body);
        if (c >= 0x80)
            assert_non_null(strstr(body, "\"sub\":\"a\xef\xbf\xbd" "b\""));
        free(body);
    }
    for (int c = 0; c < 256; c++) {
        char b[3] = { 'a', (char) c, 'b' };
        claims = json_object();
        json_object_set_new(claims, "s", json_stringn_nocheck(b, 3));
        json_object_setn_new_nocheck(claims, b, 3, json_true());
        r.sub = "x";
        r.claims = claims;
        body = same_body(&r, &len);
        assert_non_null(body);
        assert_int_equal(aigov_json_check(body, len), 0);
        if (c == 0)
            assert_non_null(strstr(body, "\"a\\u0000b\""));
        if (c >= 0x80) {
            assert_non_null(strstr(body, "\"s\":\"a\xef\xbf\xbd" "b\""));
            assert_non_null(strstr(body, "\"a\xef\xbf\xbd" "b\":true"));
        }
        free(body);
        json_decref(claims);
    }
    r.claims = NULL;
    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        char b[32];
        json_t *j;

        snprintf(b, sizeof(b), "ok %s end", bad_utf8[i]);
        r.response = b;
        body = same_body(&r, &len);
        assert_non_null(body);
        j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);   /* strict UTF-8 */
        assert_non_null(j);
        json_decref(j);
        free(body);
    }
    /* the edges of valid UTF-8 pass as they are, but for the C1 controls
     * (U+0080 here), which are escaped */
    {
        static const char *good[] = { "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
                                      "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
                                      "\xf4\x8f\xbf\xbf", "\xf3\xbf\xbf\xbf" };
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            r.response = good[i];
            body = same_body(&r, &len);
            assert_non_null(body);
            if (i == 0)
                snprintf(want, sizeof(want), "\"\\u0080\"");
            else
                snprintf(want, sizeof(want), "\"%s\"", good[i]);
            assert_non_null(strstr(body, want));
            free(body);
        }
    }
}

/* Keys jansson cannot parse but a json_t may hold (the nocheck setters):
 * a NUL cuts the key, as json_deep_copy does; invalid UTF-8 is written as
 * U+FFFD like any other string (jansson itself would write broken JSON). */
static void test_bad_keys(void **state)
{
    aigov_record_t r = { 0 };
    json_t *claims = json_object();
    size_t len;
    char *body;

    r.prompt_tokens = r.completion_tokens = -1;
    json_object_setn_new_nocheck(claims, "a\0b", 3, json_integer(1));
    r.claims = claims;
    body = same_body(&r, &len);
    assert_non_null(strstr(body, "\"claims\":{\"a\":1}"));
    free(body);
    json_decref(claims);

    claims = json_object();
    json_object_setn_new_nocheck(claims, "k\xff", 2, json_integer(9));
    r.claims = claims;
    body = same_body(&r, &len);
    assert_non_null(body);
    assert_int_equal(aigov_json_check(body, len), 0);
    assert_non_null(strstr(body, "\"claims\":{\"k\xef\xbf\xbd\":9}"));
    free(body);
    json_decref(claims);
}

/* Long strings cross the SWAR blocks and the 4 KiB first buffer at every
 * alignment of a special byte. */
static void test_long_strings(void **state)
{
    aigov_record_t r = { 0 };
    size_t n = 20000, len;
    char *s = malloc(n + 1), *body;

    assert_non_null(s);
    r.prompt_tokens = r.completion_tokens = -1;
    for (size_t at = 0; at < 40; at++) {
        memset(s, 'a', n);
        s[n] = '\0';
        for (size_t i = at; i < n; i += 37 + at)
            s[i] = "\"\\\x01\n\xc3"[i % 5];
        for (size_t i = 0; i < n; i++)   /* complete the 2-byte sequences */
            if ((unsigned char) s[i] == 0xC3)
                s[i + 1] = (char) 0xA9;
        r.prompt = s + at;
        body = same_body(&r, &len);
        assert_non_null(body);
        assert_true(len > 4096);
        free(body);
    }
    free(s);
}

/* Nesting: a record line is never deeper than the verifier reads
 * (AIGOV_RECORD_MAX_DEPTH, the record object counting 1). Claims that fit
 * are written whole; a container below that is written as the summary
 * string, at any depth up to jansson's parser limit and beyond. */
static void test_depth(void **state)
{
    aigov_record_t r = { 0 };
    size_t len;
    char *body;

    r.prompt_tokens = r.completion_tokens = -1;
    for (int depth = 1; depth <= 2100; depth += depth < 80 ? 1 : 101) {
        json_t *root = json_object(), *a = root, *b, *j;
        int opens = 0, max = 0;

        for (int i = 1; i < depth; i++) {
            b = i % 2 ? json_array() : json_object();
            if (json_is_array(a))
                json_array_append_new(a, b);
            else
                json_object_set_new(a, "k", b);
            a = b;
        }
        r.claims = root;
        body = same_body(&r, &len);
        assert_non_null(body);
        /* the verifier's reader takes the line, jansson too */
        assert_int_equal(aigov_json_check(body, len), 0);
        j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(j);
        json_decref(j);
        /* counted by hand, strings skipped */
        for (size_t i = 0; i < len; i++) {
            if (body[i] == '"')
                for (i++; body[i] != '"'; i++)
                    i += body[i] == '\\';
            else if (body[i] == '{' || body[i] == '[')
                max = ++opens > max ? opens : max;
            else if (body[i] == '}' || body[i] == ']')
                opens--;
        }
        if (depth + 1 <= AIGOV_RECORD_MAX_DEPTH) {
            assert_int_equal(max, depth + 1);   /* whole */
            assert_null(strstr(body, AIGOV_RECORD_TOO_DEEP));
        } else {
            assert_int_equal(max, AIGOV_RECORD_MAX_DEPTH);
            assert_non_null(strstr(body, "\"" AIGOV_RECORD_TOO_DEEP "\""));
        }
        free(body);
        json_decref(root);
    }
}

static void test_random_records(void **state)
{
    aigov_record_filter_t fl[8];
    aigov_record_t r;
    json_t *owned[3];
    pool_t p = { .n = 0 };
    size_t len;
    int failed = 0, ok = 0;

    for (int i = 0; i < 6000; i++) {
        int bad = below(4) == 0;
        char *body;

        owned[0] = owned[1] = owned[2] = NULL;
        rand_record(&r, &p, owned, fl, bad);
        body = same_body(&r, &len);
        if (body)
            ok++;
        else
            failed++;
        free(body);
        for (int k = 0; k < 3; k++)
            json_decref(owned[k]);
        pool_free(&p);
    }
    /* every record is written, invalid UTF-8 included */
    assert_int_equal(ok, 6000);
    assert_int_equal(failed, 0);
}

/* Fast bodies of random records make a log that verifies under a real
 * signed checkpoint; one changed byte is then found. */
/* A completion record holds what the end of the request tells, and only
 * that; it is one JSON object on one line, and the buffer rules hold. */
static void test_done_record(void **state)
{
    aigov_record_filter_t fl[1] = { { "pii", "response", "redact", 3, 0 } };
    aigov_record_t r = { 0 };
    static const char want[] =
        "{\"ts\":\"2024-05-01T12:00:00.123456Z\",\"id\":\"req-2\",\"status\":499,"
        "\"stream\":true,\"filters\":[{\"plugin\":\"pii\",\"stage\":\"response\","
        "\"verdict\":\"redact\",\"count\":3}],\"usage\":{\"prompt_tokens\":7,"
        "\"completion_tokens\":9},\"content\":\"full\",\"response_sha256\":\"ab\","
        "\"response\":\"x\\ny\",\"phase\":\"done\"}";
    char buf[1024], small[20];
    size_t n;
    json_t *j;

    (void) state;
    r.id = "req-2";
    r.ts_us = 1714564800123456LL;
    r.sub = "not written";
    r.model = "not written";
    r.status = 499;
    r.stream = 1;
    r.filter_list = fl;
    r.nfilter_list = 1;
    r.prompt_tokens = 7;
    r.completion_tokens = 9;
    r.content = "full";
    r.prompt_sha256 = "not written";
    r.response_sha256 = "ab";
    r.response = "x\ny";
    n = aigov_record_write_done(buf, sizeof(buf), &r);
    assert_int_equal(n, strlen(want));
    buf[n] = '\0';
    assert_string_equal(buf, want);
    j = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    json_decref(j);
    /* too small a buffer: the length needed, nothing written past it */
    memset(small, 'Z', sizeof(small));
    assert_int_equal(aigov_record_write_done(small, 10, &r), n);
    assert_int_equal(small[10], 'Z');
}

static void test_lines_verify(void **state)
{
    aigov_record_filter_t fl[8];
    aigov_record_t r;
    json_t *owned[3];
    pool_t p = { .n = 0 };
    logb_t l;
    aigov_vkey_t vk;
    aigov_signer_t *s = make_signer(&vk);
    aigov_verify_t *v;
    const aigov_verify_summary_t *sum;
    uint8_t root[32];
    size_t len, n;
    char *cp;
    int records = 0;

    assert_non_null(s);
    memset(&l, 0, sizeof(l));
    aigov_tree_init(&l.tree);
    while (records < 400) {
        char *body;
        owned[0] = owned[1] = owned[2] = NULL;
        rand_record(&r, &p, owned, fl, 0);
        body = same_body(&r, &len);
        assert_non_null(body);   /* valid strings: always written */
        log_record(&l, body, len);
        records++;
        free(body);
        for (int k = 0; k < 3; k++)
            json_decref(owned[k]);
        pool_free(&p);
        if (records % 100 == 99) {
            aigov_tree_root(&l.tree, root);
            cp = aigov_checkpoint_line(s, l.tree.size, root, &n);
            assert_non_null(cp);
            log_put(&l, cp, n);
            free(cp);
        }
    }
    aigov_tree_root(&l.tree, root);
    cp = aigov_checkpoint_line(s, l.tree.size, root, &n);
    assert_non_null(cp);
    log_put(&l, cp, n);
    free(cp);

    problems = 0;
    v = aigov_verify_new(&vk, on_problem, NULL);
    aigov_verify_buffer(v, l.buf, l.len);
    aigov_verify_finish(v);
    sum = aigov_verify_summary(v);
    assert_int_equal(problems, 0);
    assert_int_equal(sum->records, 400);
    assert_int_equal(sum->checkpoints, 5);
    assert_int_equal(sum->checkpoints_ok, 5);
    assert_int_equal(sum->uncovered, 0);
    aigov_verify_free(v);

    /* change one byte inside the first record's "ts" */
    l.buf[20] = l.buf[20] == '1' ? '2' : '1';
    problems = 0;
    v = aigov_verify_new(&vk, on_problem, &problems);
    aigov_verify_buffer(v, l.buf, l.len);
    aigov_verify_finish(v);
    assert_true(problems > 0);
    aigov_verify_free(v);

    free(l.buf);
    aigov_signer_free(s);
}

/* Each code point from U+0080 on (a sample above U+3000), written in a
 * string: raw, except the C1 controls, U+2028 and U+2029 as \uXXXX. The
 * set is spelled out here, independently of lib/json_string.h. */
static void test_breakers(void **state)
{
    aigov_record_t r = { 0 };
    char s[8], want[16], *body;
    size_t len, n;

    r.prompt_tokens = r.completion_tokens = -1;
    for (uint32_t cp = 0x80; cp <= 0x10FFFF; cp += cp < 0x3000 ? 1 : 97) {
        int breaker = (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;

        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        n = utf8_put(s, cp);
        s[n] = '\0';
        r.model = s;
        body = same_body(&r, &len);
        assert_non_null(body);
        if (breaker)
            snprintf(want, sizeof(want), "\"\\u%04X\"", (unsigned) cp);
        else
            snprintf(want, sizeof(want), "\"%s\"", s);
        if (strstr(body, want) == NULL)
            fail_msg("U+%04X: %s", (unsigned) cp, body);
        free(body);
    }
}

/* Hostile records (random strings with invalid UTF-8, controls and line
 * breaks, claims nested up to 200 deep) through the real writer make a log
 * that the verifier passes whole, whose every line jansson reads, and that
 * no line-oriented tool splits: the only line break bytes are the newlines
 * that end records. */
static void test_hostile_log(void **state)
{
    aigov_record_filter_t fl[8];
    aigov_record_t r;
    json_t *owned[3];
    pool_t p = { .n = 0 };
    logb_t l;
    aigov_vkey_t vk;
    aigov_signer_t *s = make_signer(&vk);
    aigov_verify_t *v;
    const aigov_verify_summary_t *sum;
    uint8_t root[32];
    size_t len, n, lines = 0;
    char *cp, *line;
    int records = 0;
    json_error_t jerr;

    assert_non_null(s);
    memset(&l, 0, sizeof(l));
    aigov_tree_init(&l.tree);
    while (records < 1000) {
        char *body;
        json_t *deep, *a;

        owned[0] = owned[1] = owned[2] = NULL;
        rand_record(&r, &p, owned, fl, 1);
        if (below(2)) {   /* a deep chain in the claims */
            deep = a = json_object();
            for (unsigned i = 0, d = below(200); i < d; i++) {
                json_t *b = below(2) ? json_array() : json_object();
                if (json_is_array(a))
                    json_array_append_new(a, b);
                else
                    json_object_set_new(a, "\xe2\x80\xa8k", b);
                a = b;
            }
            if (!json_is_object(owned[1])) {
                json_decref(owned[1]);
                r.claims = owned[1] = json_object();
            }
            json_object_set_new(owned[1], "deep", deep);
        }
        body = aigov_record_body_fast(&r, &len);
        assert_non_null(body);
        log_record(&l, body, len);
        records++;
        free(body);
        for (int k = 0; k < 3; k++)
            json_decref(owned[k]);
        pool_free(&p);
        if (records % 100 == 0) {
            aigov_tree_root(&l.tree, root);
            cp = aigov_checkpoint_line(s, l.tree.size, root, &n);
            assert_non_null(cp);
            log_put(&l, cp, n);
            free(cp);
        }
    }

    problems = 0;
    v = aigov_verify_new(&vk, on_problem, NULL);
    aigov_verify_buffer(v, l.buf, l.len);
    aigov_verify_finish(v);
    sum = aigov_verify_summary(v);
    assert_int_equal(problems, 0);
    assert_int_equal(sum->records, 1000);
    assert_int_equal(sum->checkpoints_ok, 10);
    aigov_verify_free(v);

    for (line = l.buf; line < l.buf + l.len; line += n + 1) {
        const unsigned char *u = (const unsigned char *) line;
        json_t *j;

        n = (size_t) ((char *) memchr(line, '\n', l.len - (size_t) (line - l.buf)) - line);
        for (size_t i = 0; i < n; i++) {
            assert_false(u[i] == '\r' || u[i] == 0x0B || u[i] == 0x0C
                         || (u[i] >= 0x1C && u[i] <= 0x1E));
            assert_false(u[i] == 0xC2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F);
            assert_false(u[i] == 0xE2 && i + 2 < n && u[i + 1] == 0x80
                         && (u[i + 2] == 0xA8 || u[i + 2] == 0xA9));
        }
        j = json_loadb(line, n, JSON_ALLOW_NUL, &jerr);
        if (j == NULL)
            fail_msg("line %zu: %s", lines + 1, jerr.text);
        json_decref(j);
        lines++;
    }
    assert_int_equal(lines, 1010);

    free(l.buf);
    aigov_signer_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_record),
        cmocka_unit_test(test_decision_marks),
        cmocka_unit_test(test_module_sequence),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_long_strings),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_random_records),
        cmocka_unit_test(test_done_record),
        cmocka_unit_test(test_lines_verify),
        cmocka_unit_test(test_breakers),
        cmocka_unit_test(test_hostile_log),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

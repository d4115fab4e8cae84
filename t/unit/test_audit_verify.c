/* The audit log verifier, record lines and recovery: real signatures over
 * logs built in memory, each kind of damage found at its line. */
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
#include "audit_files.h"
#include "audit_policy.h"

static char tmpdir[] = "/tmp/aigov-av-XXXXXX";
static aigov_signer_t *signer, *other;
static aigov_vkey_t vkey, other_vkey;

/* ---- a log builder that writes like the module ---- */

typedef struct {
    char        *buf;
    size_t       len, cap;
    aigov_tree_t tree;
    uint64_t     lines;
} logb_t;

static void put(logb_t *l, const char *s, size_t n)
{
    if (l->len + n + 1 > l->cap) {
        l->cap = (l->len + n + 1) * 2;
        l->buf = realloc(l->buf, l->cap);
        assert_non_null(l->buf);
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = '\0';
    for (size_t i = 0; i < n; i++)
        l->lines += s[i] == '\n';
}

static void rec(logb_t *l)
{
    json_t *o = json_pack("{s:s, s:I}", "sub", "alice", "n", (json_int_t) l->tree.size * 7);
    size_t n;
    char *line = aigov_record_line_alloc(o, l->tree.size, &n);
    uint8_t h[32];

    assert_non_null(line);
    aigov_leaf_hash(line, n - 1, h);
    aigov_tree_append(&l->tree, h);
    put(l, line, n);
    free(line);
    json_decref(o);
}

static void cp_of(logb_t *l, const aigov_signer_t *s, uint64_t size, const uint8_t root[32])
{
    size_t n;
    char *line = aigov_checkpoint_line(s, size, root, &n);
    assert_non_null(line);
    put(l, line, n);
    free(line);
}

static void cp(logb_t *l)
{
    uint8_t r[32];
    aigov_tree_root(&l->tree, r);
    cp_of(l, signer, l->tree.size, r);
}

/* n records with a checkpoint after every `every` */
static void build(logb_t *l, int n, int every)
{
    memset(l, 0, sizeof(*l));
    for (int i = 0; i < n; i++) {
        rec(l);
        if ((i + 1) % every == 0)
            cp(l);
    }
}

/* Offset of the start of 1-based line k. */
static size_t line_at(const logb_t *l, uint64_t k)
{
    size_t off = 0;
    for (uint64_t i = 1; i < k; i++)
        off = (size_t) ((char *) memchr(l->buf + off, '\n', l->len - off) - l->buf) + 1;
    return off;
}

static size_t line_len(const logb_t *l, uint64_t k)
{
    size_t off = line_at(l, k);
    return (size_t) ((char *) memchr(l->buf + off, '\n', l->len - off) - (l->buf + off)) + 1;
}

static void del_line(logb_t *l, uint64_t k)
{
    size_t off = line_at(l, k), n = line_len(l, k);
    memmove(l->buf + off, l->buf + off + n, l->len - off - n + 1);
    l->len -= n;
}

static void ins_line(logb_t *l, uint64_t before, const char *s)
{
    size_t off = line_at(l, before), n = strlen(s);
    put(l, s, n);   /* grows; the bytes are moved next */
    memmove(l->buf + off + n, l->buf + off, l->len - n - off);
    memcpy(l->buf + off, s, n);
}

/* ---- running the verifier ---- */

typedef struct {
    aigov_problem_t p[32];
    int             n;
} got_t;

static void on_problem(void *ud, const aigov_problem_t *p)
{
    got_t *g = ud;
    if (g->n < 32)
        g->p[g->n] = *p;
    g->n++;
}

static aigov_verify_summary_t run(const logb_t *l, const aigov_vkey_t *k, got_t *g, const char *kept)
{
    aigov_verify_t *v = aigov_verify_new(k, on_problem, g);
    aigov_verify_summary_t s;
    char err[300];

    memset(g, 0, sizeof(*g));
    assert_non_null(v);
    if (kept)
        assert_int_equal(aigov_verify_expect(v, kept, strlen(kept), err, sizeof(err)), 0);
    aigov_verify_buffer(v, l->buf, l->len);
    aigov_verify_finish(v);
    s = *aigov_verify_summary(v);
    aigov_verify_free(v);
    return s;
}

static void expect_one(const got_t *g, const char *reason, uint64_t line)
{
    if (g->n != 1 || strcmp(g->p[0].reason, reason) != 0 || g->p[0].line != line) {
        for (int i = 0; i < g->n && i < 32; i++)
            fprintf(stderr, "  got %s at %llu: %s\n", g->p[i].reason, (unsigned long long) g->p[i].line,
                    g->p[i].message);
        fail_msg("expected one '%s' at line %llu, got %d problem(s)", reason, (unsigned long long) line, g->n);
    }
}

/* ---- setup ---- */

static aigov_signer_t *make_signer(const char *file, const char *name, aigov_vkey_t *vk)
{
    char path[256], err[256];
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    FILE *f;
    aigov_signer_t *s;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, file);
    f = fopen(path, "w");
    if (!k || !f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
        return NULL;
    fclose(f);
    EVP_PKEY_free(k);
    s = aigov_signer_load(path, name, err, sizeof(err));
    if (s && aigov_vkey_parse(vk, aigov_signer_vkey(s), err, sizeof(err)) < 0)
        return NULL;
    return s;
}

static int setup(void **state)
{
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    signer = make_signer("log.key", "test.example/aigov", &vkey);
    other = make_signer("other.key", "test.example/aigov", &other_vkey);
    return signer && other ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    aigov_signer_free(signer);
    aigov_signer_free(other);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- records ---- */

static void test_record_lines(void **state)
{
    aigov_record_t r = { 0 };
    json_t *o, *groups = json_pack("[s,s]", "a", "b"), *back;
    char *body, *line, out[64];
    size_t blen, n;
    uint64_t seq;

    r.id = "req-1";
    r.ts_us = 1714564800123456LL;
    r.sub = "alice\nevil";   /* a newline in a field cannot end the line */
    r.groups = groups;
    r.decision = "allow";
    r.status = 200;
    r.max_tokens = -1;
    r.prompt_chars = 12;
    r.prompt_tokens = 5;
    r.completion_tokens = -1;
    r.prompt_sha256 = "ab";
    o = aigov_record_json(&r);
    assert_non_null(o);
    body = aigov_record_body(o, &blen);
    assert_non_null(body);
    assert_null(memchr(body, '\n', blen));
    assert_memory_equal(body, "{\"ts\":\"2024-05-01T12:00:00.123456Z\",\"id\":\"req-1\",\"sub\":\"alice\\nevil\"", 66);

    line = malloc(AIGOV_RECORD_LINE_MAX(blen));
    n = aigov_record_line(line, AIGOV_RECORD_LINE_MAX(blen), 42, body, blen);
    assert_true(n > blen);
    assert_memory_equal(line, "{\"seq\":42,\"ts\":", 15);
    assert_int_equal(line[n - 1], '\n');
    assert_int_equal(aigov_record_seq(line, n - 1, &seq), 0);
    assert_int_equal(seq, 42);
    assert_int_equal(aigov_json_check(line, n - 1), 0);
    back = json_loadb(line, n - 1, 0, NULL);
    assert_non_null(back);
    assert_int_equal(json_integer_value(json_object_get(back, "prompt_chars")), 12);
    assert_true(json_is_null(json_object_get(back, "max_tokens")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(back, "usage"), "prompt_tokens")), 5);
    assert_null(json_object_get(back, "response_sha256"));
    json_decref(back);
    /* too small a buffer writes nothing */
    assert_int_equal(aigov_record_line(line, blen, 42, body, blen), 0);
    free(line);
    free(body);

    /* a record that already has seq is refused */
    json_object_set_new(o, "seq", json_integer(1));
    assert_null(aigov_record_body(o, &blen));
    json_decref(o);
    json_decref(groups);

    assert_int_equal(aigov_record_line(out, sizeof(out), 0, "{}", 2), 10);
    assert_memory_equal(out, "{\"seq\":0}\n", 10);
}

typedef struct {
    char   s[256];
    size_t n;
} members_t;

static int note_member(void *ud, const char *k, size_t kl, const char *v, size_t vl)
{
    members_t *m = ud;
    int w = snprintf(m->s + m->n, sizeof(m->s) - m->n, "%.*s=%.*s;", (int) kl, k, (int) vl, v);

    if (w > 0 && (size_t) w < sizeof(m->s) - m->n)
        m->n += (size_t) w;
    return 0;
}

static void test_seq_and_json_scanning(void **state)
{
    uint64_t s;
    static const struct { const char *s; int want; } js[] = {
        { "{}", 0 }, { "{\"a\":[1,2.5e-3,true,false,null,\"x\\u00e9\\n\"]}", 0 }, { "[]", 0 },
        { "{\"a\":1", 2 }, { "{\"a\":\"abc", 2 }, { "{\"a\":tr", 2 }, { "{\"a\":-", 2 }, { "", 2 },
        { "{\"a\":1,}", 1 }, { "{\"a\":01x}", 1 }, { "{a:1}", 1 }, { "{\"a\":1}x", 1 },
        { "{\"a\":\"\\x\"}", 1 }, { "{\"a\":\"\t\"}", 1 }, { "[1 2]", 1 }, { "{\"a\":.5}", 1 },
        { "{\"a\":1,\"b\":[2,{},[]],\"c\":{\"d\":null,\"e\":{}}, \"f\" : \"g\" }", 0 },
        { "{\"a\":{},}", 1 }, { "{\"a\":[},\"b\":1}", 1 }, { "{\"a\":{\"b\":1]}", 1 }, { "[{}", 2 },
    };
    char deep[200];

    assert_int_equal(aigov_record_seq("{\"seq\":0,", 9, &s), 0);
    assert_int_equal(s, 0);
    assert_int_equal(aigov_record_seq("{\"seq\":123}", 11, &s), 0);
    assert_int_equal(s, 123);
    assert_int_equal(aigov_record_seq("{\"seq\":01,", 10, &s), -1);
    assert_int_equal(aigov_record_seq("{\"seq\":-1,", 10, &s), -1);
    assert_int_equal(aigov_record_seq("{\"seq\":1", 8, &s), -1);
    assert_int_equal(aigov_record_seq("{\"seq\":\"1\",", 11, &s), -1);
    assert_int_equal(aigov_record_seq("{ \"seq\":1,", 10, &s), -1);
    assert_int_equal(aigov_record_seq("{\"seq\":99999999999999999999,", 28, &s), -1);
    for (size_t i = 0; i < sizeof(js) / sizeof(js[0]); i++)
        if (aigov_json_check(js[i].s, strlen(js[i].s)) != js[i].want)
            fail_msg("json_check(%s) != %d", js[i].s, js[i].want);
    memset(deep, '[', sizeof(deep));
    assert_int_equal(aigov_json_check(deep, sizeof(deep)), 1);   /* bounded depth */
    {
        /* the members of the top object, each once, with their raw values */
        static const char obj[] = "{\"seq\":3,\"c\":{\"k\":[1,{\"x\":2}]},\"s\":\"a\\\"b\",\"e\":{}}";
        members_t m = { "", 0 };
        assert_int_equal(aigov_json_check_top(obj, sizeof(obj) - 1, note_member, &m), 0);
        assert_string_equal(m.s, "seq=3;c={\"k\":[1,{\"x\":2}]};s=\"a\\\"b\";e={};");
    }
}

static void test_timestamps(void **state)
{
    char ts[32];
    int64_t us;

    aigov_format_ts(0, ts);
    assert_string_equal(ts, "1970-01-01T00:00:00.000000Z");
    aigov_format_ts(1714564800123456LL, ts);
    assert_string_equal(ts, "2024-05-01T12:00:00.123456Z");
    assert_int_equal(aigov_parse_ts(ts, &us), 0);
    assert_int_equal(us, 1714564800123456LL);
    assert_int_equal(aigov_parse_ts("2024-05-01T14:00:00.5+02:00", &us), 0);
    assert_int_equal(us, 1714564800500000LL);
    assert_int_equal(aigov_parse_ts("2024-05-01T12:00:00", &us), -1);
    assert_int_equal(aigov_parse_ts("2024-13-01T12:00:00Z", &us), -1);
    assert_int_equal(aigov_parse_ts("2024-05-01T12:00:00.Z", &us), -1);
    assert_int_equal(aigov_parse_ts("2024-05-01T12:00:00Zjunk", &us), -1);
}

/* ---- verification ---- */

static void test_clean_log_with_lagging_checkpoints(void **state)
{
    logb_t l;
    got_t g;
    aigov_verify_summary_t s;
    uint8_t r[32];
    aigov_tree_t snap;

    memset(&l, 0, sizeof(l));
    /* checkpoints written a few records after the size they sign, as
     * several workers do */
    for (int i = 0; i < 50; i++) {
        rec(&l);
        if (l.tree.size == 10)
            snap = l.tree;
        if (l.tree.size == 13) {
            aigov_tree_root(&snap, r);
            cp_of(&l, signer, 10, r);
        }
    }
    cp(&l);
    s = run(&l, &vkey, &g, NULL);
    assert_int_equal(g.n, 0);
    assert_int_equal(s.records, 50);
    assert_int_equal(s.checkpoints, 2);
    assert_int_equal(s.checkpoints_ok, 2);
    assert_int_equal(s.last_size, 50);
    assert_int_equal(s.uncovered, 0);
    aigov_tree_root(&l.tree, r);
    assert_memory_equal(s.root, r, 32);
    free(l.buf);

    /* an empty log and a log of records only are fine, just unsigned */
    memset(&l, 0, sizeof(l));
    put(&l, "", 0);
    s = run(&l, &vkey, &g, NULL);
    assert_int_equal(g.n, 0);
    rec(&l);
    s = run(&l, &vkey, &g, NULL);
    assert_int_equal(g.n, 0);
    assert_int_equal(s.uncovered, 1);
    free(l.buf);
}

/* A checkpoint of size 10 that comes after seq 12: a problem at seq 11
 * is after what it covers, so it verifies, and the next checkpoint's
 * mismatch is still explained by the problem already reported. */
static void test_problem_after_lagging_checkpoint(void **state)
{
    logb_t l;
    got_t g;
    uint8_t r[32];
    aigov_tree_t snap;
    aigov_verify_summary_t s;

    memset(&l, 0, sizeof(l));
    for (int i = 0; i < 20; i++) {
        rec(&l);
        if (l.tree.size == 10)
            snap = l.tree;
        if (l.tree.size == 13) {
            aigov_tree_root(&snap, r);
            cp_of(&l, signer, 10, r);
        }
    }
    cp(&l);                                     /* lines 1-13, cp 14, 15-21, cp 22 */
    memcpy(l.buf + line_at(&l, 12), "{\"seq\":12,", 10);   /* seq 11 says 12 */
    s = run(&l, &vkey, &g, NULL);
    expect_one(&g, "modified", 12);
    assert_int_equal(g.p[0].seq, 11);
    assert_int_equal(s.checkpoints_ok, 1);
    assert_int_equal(s.mismatches_after, 1);
    free(l.buf);
}

static void test_modified_record(void **state)
{
    logb_t l;
    got_t g;
    char *p;

    build(&l, 30, 10);           /* lines 1-10 rec, 11 cp, 12-21, 22 cp, 23-32, 33 cp */
    p = strstr(l.buf + line_at(&l, 15), "alice");
    p[0] = 'A';                  /* record seq 13 */
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "modified", 12);
    assert_int_equal(g.p[0].last_line, 21);
    assert_int_equal(g.p[0].seq, 10);
    assert_int_equal(g.p[0].seq_last, 19);
    assert_non_null(strstr(g.p[0].message, "line 22"));
    free(l.buf);

    /* a checkpoint after every record pinpoints the line */
    build(&l, 6, 1);
    p = strstr(l.buf + line_at(&l, 7), "alice");   /* seq 3 is line 7 */
    p[1] = 'L';
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "modified", 7);
    assert_int_equal(g.p[0].last_line, 7);
    free(l.buf);
}

static void test_removed_reordered_inserted(void **state)
{
    logb_t l;
    got_t g;
    char forged[200];

    build(&l, 30, 10);
    del_line(&l, 5);             /* seq 4 */
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "removed", 5);
    assert_int_equal(g.p[0].seq, 4);
    free(l.buf);

    build(&l, 30, 10);
    {
        size_t a = line_at(&l, 5), n = line_len(&l, 5);
        char tmp[256];
        memcpy(tmp, l.buf + a, n);
        memmove(l.buf + a, l.buf + a + n, line_len(&l, 6));
        memcpy(l.buf + a + line_len(&l, 5), tmp, n);   /* lines 5 and 6 swapped */
    }
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "reordered", 6);
    assert_int_equal(g.p[0].seq, 4);
    free(l.buf);

    /* a forged copy of seq 2 after line 7: the line alone is reported and
     * every checkpoint still verifies */
    build(&l, 30, 10);
    snprintf(forged, sizeof(forged), "{\"seq\":2,\"sub\":\"mallory\",\"n\":14}\n");
    ins_line(&l, 8, forged);
    {
        aigov_verify_summary_t s = run(&l, &vkey, &g, NULL);
        expect_one(&g, "inserted", 8);
        assert_non_null(strstr(g.p[0].message, "first at line 3"));
        assert_int_equal(s.checkpoints_ok, 3);
    }
    free(l.buf);

    /* a line that is not a record */
    build(&l, 30, 10);
    ins_line(&l, 3, "{\"hello\":1}\n");
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "inserted", 3);
    free(l.buf);

    /* a record's seq changed: its neighbours say where it belongs */
    build(&l, 30, 10);
    memcpy(l.buf + line_at(&l, 5), "{\"seq\":9,", 9);
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "modified", 5);
    assert_int_equal(g.p[0].seq, 4);
    free(l.buf);

    /* a record's JSON broken in the middle */
    build(&l, 30, 10);
    l.buf[line_at(&l, 5) + 8] = '}';   /* {"seq":4}"sub"... */
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "modified", 5);
    free(l.buf);
}

/* Two threads hash and check the lines of each chunk: the same problems,
 * in the same order, and the same summary as one thread. */
static aigov_verify_summary_t run_file(const char *path, unsigned threads, got_t *g)
{
    aigov_verify_t *v = aigov_verify_new(&vkey, on_problem, g);
    aigov_verify_summary_t s;
    char err[300];

    memset(g, 0, sizeof(*g));
    assert_non_null(v);
    aigov_verify_check_policies(v);
    aigov_verify_threads(v, threads);
    assert_int_equal(aigov_verify_file(v, path, err, sizeof(err)), 0);
    aigov_verify_finish(v);
    s = *aigov_verify_summary(v);
    aigov_verify_free(v);
    return s;
}

/* Two runs over the same file report the same problems, in the same
 * order, and the same summary. */
static void assert_same(const got_t *a, const aigov_verify_summary_t *sa, const got_t *b,
                        const aigov_verify_summary_t *sb)
{
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n && i < 32; i++) {
        assert_string_equal(a->p[i].reason, b->p[i].reason);
        assert_int_equal(a->p[i].line, b->p[i].line);
        assert_int_equal(a->p[i].seq, b->p[i].seq);
        assert_string_equal(a->p[i].message, b->p[i].message);
    }
    assert_memory_equal(sa, sb, sizeof(*sa));
}

static void test_two_threads(void **state)
{
    logb_t l;
    got_t g1, g2;
    char path[300];
    aigov_verify_summary_t s1, s2;
    FILE *f;

    build(&l, 5000, 100);
    del_line(&l, 1500);
    ins_line(&l, 3000, "{\"seq\":12,\"forged\":1}\n");
    l.buf[line_at(&l, 4000) + 3] = 'X';
    snprintf(path, sizeof(path), "%s/two-threads.log", tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(l.buf, 1, l.len, f), l.len);
    fclose(f);
    s1 = run_file(path, 1, &g1);
    s2 = run_file(path, 2, &g2);
    assert_true(g1.n >= 3);
    assert_same(&g1, &s1, &g2, &s2);
    free(l.buf);
}

/* A file of several chunks on 1, 2 and 3 threads: a line longer than a
 * chunk (the chunk grows and carries it over), a line longer than the
 * verifier reads at all (skipped, reported, and the lines after it still
 * count) and a torn tail give the same problems and summary on each. */
static void test_threads_long_lines(void **state)
{
    logb_t l;
    got_t g[3];
    aigov_verify_summary_t s[3];
    char path[300];
    size_t big = (size_t) 5 << 20, huge = ((size_t) 64 << 20) + 4096;
    char *line = malloc(huge + 2);
    FILE *f;

    assert_non_null(line);
    build(&l, 120000, 100);
    /* a valid JSON line of 5 MiB that is not a record */
    memcpy(line, "{\"pad\":\"", 8);
    memset(line + 8, 'x', big);
    memcpy(line + 8 + big, "\"}\n", 4);
    line[big + 12] = '\0';
    ins_line(&l, 40000, line);
    memset(line, 'y', huge);
    line[huge] = '\n';
    line[huge + 1] = '\0';
    ins_line(&l, 90000, line);
    put(&l, "{\"seq\":120000,\"sub\"", 20);
    free(line);
    snprintf(path, sizeof(path), "%s/threads-long.log", tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(l.buf, 1, l.len, f), l.len);
    fclose(f);
    free(l.buf);
    for (unsigned t = 0; t < 3; t++)
        s[t] = run_file(path, t + 1, &g[t]);
    assert_int_equal(g[0].n, 3);
    assert_string_equal(g[0].p[0].reason, "inserted");
    assert_int_equal(g[0].p[0].line, 40000);
    assert_int_equal(g[0].p[1].line, 90000);
    assert_string_equal(g[0].p[1].reason, "inserted");
    assert_non_null(strstr(g[0].p[1].message, "longer than 64 MiB"));
    assert_string_equal(g[0].p[2].reason, "torn");
    assert_int_equal(s[0].records, 120000);
    assert_int_equal(s[0].checkpoints_ok, 1200);
    for (unsigned t = 1; t < 3; t++)
        assert_same(&g[0], &s[0], &g[t], &s[t]);
    unlink(path);
}

/* Damage at random places of a file of several chunks (fixed seeds): one,
 * two and three threads report the same problems, in the same order. */
static void test_threads_random_damage(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;

    for (int seed = 0; seed < 3; seed++) {
        logb_t l;
        got_t g[3];
        aigov_verify_summary_t s[3];
        char path[300];
        FILE *f;

        build(&l, 60000, 100);
        for (int k = 0; k < 6; k++) {
            uint64_t line;
            size_t off;

            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            line = 2 + x % (l.lines - 2);
            off = line_at(&l, line);
            switch ((x >> 32) % 4) {
            case 0:
                l.buf[off + 2 + (x >> 40) % 6] ^= 0x20;      /* a changed byte */
                break;
            case 1:
                del_line(&l, line);
                break;
            case 2:
                ins_line(&l, line, "{\"seq\":77,\"sub\":\"mallory\"}\n");
                break;
            default:
                ins_line(&l, line, "not json at all\n");
                break;
            }
        }
        snprintf(path, sizeof(path), "%s/threads-random.log", tmpdir);
        f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(l.buf, 1, l.len - 7, f), l.len - 7);     /* torn at the end too */
        fclose(f);
        free(l.buf);
        for (unsigned t = 0; t < 3; t++)
            s[t] = run_file(path, t + 1, &g[t]);
        assert_true(g[0].n >= 3);
        for (unsigned t = 1; t < 3; t++)
            assert_same(&g[0], &s[0], &g[t], &s[t]);
        unlink(path);
    }
}

static void test_torn_lines(void **state)
{
    logb_t l;
    got_t g;
    aigov_verify_summary_t s;

    /* a writer died mid-line; recovery wrote a newline and the next record
     * took the same seq: the torn line is reported, the tree is whole */
    memset(&l, 0, sizeof(l));
    for (int i = 0; i < 5; i++)
        rec(&l);
    put(&l, "{\"seq\":5,\"sub\":\"al\n", 19);
    for (int i = 0; i < 5; i++)
        rec(&l);
    cp(&l);
    s = run(&l, &vkey, &g, NULL);
    expect_one(&g, "torn", 6);
    assert_int_equal(g.p[0].seq, 5);
    assert_int_equal(s.checkpoints_ok, 1);
    assert_int_equal(s.records, 10);

    /* and a last line without newline as well */
    l.len -= 1;
    s = run(&l, &vkey, &g, NULL);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.p[1].reason, "torn");
    assert_int_equal(g.p[1].line, 12);
    free(l.buf);

    build(&l, 10, 5);
    l.len -= 20;                 /* cut into the last checkpoint */
    s = run(&l, &vkey, &g, NULL);
    expect_one(&g, "torn", 12);
    assert_int_equal(s.last_size, 5);
    assert_true(s.torn_tail);
    free(l.buf);

    /* a record cut in half in the middle of the log */
    build(&l, 20, 10);
    {
        size_t a = line_at(&l, 4), n = line_len(&l, 4);
        memmove(l.buf + a + n / 2, l.buf + a + n - 1, l.len - (a + n - 1) + 1);
        l.len -= n - 1 - n / 2;
    }
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "torn", 4);
    assert_int_equal(g.p[0].seq, 3);
    free(l.buf);
}

static void test_checkpoint_problems(void **state)
{
    logb_t l;
    got_t g;
    size_t off;
    char *p;
    uint8_t r[32];

    /* a changed size in the signed note */
    build(&l, 20, 10);
    off = line_at(&l, 11);
    p = strstr(l.buf + off, "\\n10\\n");
    p[3] = '1';
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "bad signature", 11);
    free(l.buf);

    /* a changed signature byte */
    build(&l, 20, 10);
    off = line_at(&l, 22);
    l.buf[off + line_len(&l, 22) - 8] ^= 0x01;
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "bad signature", 22);
    free(l.buf);

    /* another key */
    build(&l, 20, 10);
    run(&l, &other_vkey, &g, NULL);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.p[0].reason, "unknown key");
    assert_int_equal(g.p[0].line, 11);
    free(l.buf);

    /* a correctly signed checkpoint that goes back */
    build(&l, 20, 10);
    aigov_tree_root(&l.tree, r);
    {
        aigov_tree_t t5;
        logb_t tmp;
        build(&tmp, 5, 100);
        t5 = tmp.tree;
        free(tmp.buf);
        aigov_tree_root(&t5, r);
        cp_of(&l, signer, 5, r);
    }
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "reordered", 23);
    free(l.buf);

    /* a signed checkpoint for more records than precede it: some were cut */
    build(&l, 20, 10);
    del_line(&l, 21);
    del_line(&l, 20);            /* seq 18, 19 gone; cp of 20 follows */
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "removed", 20);
    assert_int_equal(g.p[0].seq, 18);
    assert_int_equal(g.p[0].seq_last, 19);
    free(l.buf);

    /* a checkpoint line that is not one object with one key */
    build(&l, 5, 10);
    put(&l, "{\"checkpoint\":\"x\",\"more\":1}\n", 28);
    run(&l, &vkey, &g, NULL);
    expect_one(&g, "bad signature", 6);
    free(l.buf);
}

static void test_kept_checkpoint(void **state)
{
    logb_t l;
    got_t g;
    uint8_t r[32];
    char *note;
    size_t n;
    json_t *j;
    char *line;

    build(&l, 30, 10);
    aigov_tree_root(&l.tree, r);
    line = aigov_checkpoint_line(signer, 30, r, &n);
    j = json_loadb(line, n, 0, NULL);
    note = strdup(json_string_value(json_object_get(j, "checkpoint")));
    json_decref(j);
    free(line);

    run(&l, &vkey, &g, note);
    assert_int_equal(g.n, 0);

    /* cut after seq 24: the log no longer reaches the kept checkpoint */
    l.len = line_at(&l, 28);
    run(&l, &vkey, &g, note);
    expect_one(&g, "truncated", 27);

    /* the kept checkpoint against a rewritten log that re-signs itself:
     * every checkpoint in the log verifies, the kept one does not */
    {
        logb_t l2;
        memset(&l2, 0, sizeof(l2));
        for (int i = 0; i < 30; i++) {
            rec(&l2);
            if (i == 0) {
                l2.buf[l2.len - 3] = '8';   /* n: 0 -> 8, and the forger re-hashes */
                aigov_tree_init(&l2.tree);
                uint8_t h[32];
                aigov_leaf_hash(l2.buf, l2.len - 1, h);
                aigov_tree_append(&l2.tree, h);
            }
        }
        /* the forger has no key: the kept note still decides */
        run(&l2, &vkey, &g, note);
        expect_one(&g, "modified", 30);
        free(l2.buf);
    }
    free(note);
    free(l.buf);
}

static void write_file(const char *path, const char *buf, size_t len)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* Recovery of a whole log: the tree of its size records, the newest
 * checkpoint's size, no newline owed, and the root the writer had. */
static void recover_clean(const char *path, uint64_t size, uint64_t lastcp, const uint8_t root[32])
{
    char err[300];
    aigov_tree_t t;
    uint64_t cp;
    int nl;
    uint8_t got[32];

    assert_int_equal(aigov_log_recover(path, &t, &cp, &nl, err, sizeof(err)), 0);
    assert_int_equal(t.size, size);
    assert_int_equal(cp, lastcp);
    assert_int_equal(nl, 0);
    aigov_tree_root(&t, got);
    assert_memory_equal(root, got, 32);
}

/* A line torn after the log's size records, as a crash leaves it: the
 * recovered tree is the records before it, and the writer owes a newline. */
static void recover_torn(const char *path, uint64_t size, aigov_tree_t *t)
{
    char err[300];
    uint64_t lastcp;
    int nl;
    FILE *f = fopen(path, "a");

    assert_non_null(f);
    fprintf(f, "{\"seq\":%llu,\"sub\":\"al", (unsigned long long) size);
    fclose(f);
    assert_int_equal(aigov_log_recover(path, t, &lastcp, &nl, err, sizeof(err)), 1);
    assert_int_equal(t->size, size);
    assert_int_equal(nl, 1);
    assert_non_null(strstr(err, "torn"));
    assert_non_null(strstr(err, path));
}

static void test_carry_over_and_recovery(void **state)
{
    logb_t a, b;
    got_t g;
    aigov_verify_summary_t s;
    char path[256], err[300];
    aigov_tree_t t;
    uint64_t lastcp;
    int nl;
    uint8_t r1[32];
    size_t n;
    char *line;

    /* file a: 25 records; file b starts with the carry-over and goes on */
    build(&a, 25, 10);
    memset(&b, 0, sizeof(b));
    b.tree = a.tree;
    line = aigov_checkpoint_carry_line(signer, &b.tree, &n);
    put(&b, line, n);
    free(line);
    for (int i = 0; i < 12; i++)
        rec(&b);
    cp(&b);

    /* b alone verifies from its signed start */
    s = run(&b, &vkey, &g, NULL);
    assert_int_equal(g.n, 0);
    assert_int_equal(s.start_size, 25);
    assert_int_equal(s.records, 37);
    aigov_tree_root(&b.tree, r1);
    assert_memory_equal(s.root, r1, 32);

    /* a then b, as one log */
    {
        aigov_verify_t *v = aigov_verify_new(&vkey, on_problem, &g);
        memset(&g, 0, sizeof(g));
        aigov_verify_buffer(v, a.buf, a.len);
        aigov_verify_buffer(v, b.buf, b.len);
        aigov_verify_finish(v);
        assert_int_equal(g.n, 0);
        assert_int_equal(aigov_verify_summary(v)->start_size, 0);
        assert_int_equal(aigov_verify_summary(v)->checkpoints_ok, 4);
        aigov_verify_free(v);
    }

    /* recovery of b gives the same tree, so appending continues it */
    snprintf(path, sizeof(path), "%s/b.log", tmpdir);
    write_file(path, b.buf, b.len);
    recover_clean(path, 37, 37, r1);

    /* a torn tail: recovered without it, and the writer is told to end the line */
    recover_torn(path, 37, &t);

    /* missing and empty files are an empty tree */
    snprintf(path, sizeof(path), "%s/none.log", tmpdir);
    assert_int_equal(aigov_log_recover(path, &t, &lastcp, &nl, err, sizeof(err)), 0);
    assert_int_equal(t.size, 0);
    snprintf(path, sizeof(path), "%s", tmpdir);   /* a directory cannot be read */
    assert_int_equal(aigov_log_recover(path, &t, &lastcp, &nl, err, sizeof(err)), -1);
    free(a.buf);
    free(b.buf);
}

/* As the module writes: records of about `pad` bytes, and a checkpoint with
 * the compact range claimed after every `every` records but landing `late`
 * records later (it is signed outside the writers' lock). */
static void build_ranged(logb_t *l, int n, int every, int late, size_t pad)
{
    char *fill = malloc(pad + 1);
    aigov_tree_t claimed;
    int pending = -1;

    assert_non_null(fill);
    memset(fill, 'x', pad);
    fill[pad] = '\0';
    memset(l, 0, sizeof(*l));
    for (int i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:s}", "sub", "alice", "pad", fill);
        size_t len;
        char *line = aigov_record_line_alloc(o, l->tree.size, &len);
        uint8_t h[32];

        aigov_leaf_hash(line, len - 1, h);
        aigov_tree_append(&l->tree, h);
        put(l, line, len);
        free(line);
        json_decref(o);
        if ((i + 1) % every == 0) {
            claimed = l->tree;
            pending = late;
        }
        if (pending == 0) {
            line = aigov_checkpoint_carry_line(signer, &claimed, &len);
            put(l, line, len);
            free(line);
        }
        if (pending >= 0)
            pending--;
    }
    free(fill);
}

/* Recovery reads the end of the file only: from the newest checkpoint with
 * a range (and the records it had not yet covered when it landed). */
static void test_recover_from_tail(void **state)
{
    logb_t l;
    char path[256], err[300];
    aigov_tree_t t;
    uint64_t lastcp;
    int nl;
    uint8_t want[32], got[32];
    size_t off;

    /* about 7 MB: more than the first window, so it widens once */
    build_ranged(&l, 3500, 1000, 3, 2000);
    aigov_tree_root(&l.tree, want);
    snprintf(path, sizeof(path), "%s/tail.log", tmpdir);

    /* a byte changed far before the newest checkpoint is not read: the
     * quick way gives the writer's tree where a full reading would
     * report it */
    off = line_at(&l, 20) + 100;
    assert_int_equal(l.buf[off], 'x');
    l.buf[off] = 'y';
    write_file(path, l.buf, l.len);
    recover_clean(path, 3500, 3000, want);
    l.buf[off] = 'x';

    /* a torn tail: the tree without it, and a newline owed */
    write_file(path, l.buf, l.len);
    recover_torn(path, 3500, &t);
    aigov_tree_root(&t, got);
    assert_memory_equal(want, got, 32);

    /* a foreign line after the newest checkpoint: the full reading, which
     * names it, and the same tree */
    {
        logb_t m = l;

        m.buf = malloc(l.len + 64);
        memcpy(m.buf, l.buf, l.len);
        off = line_at(&l, l.lines - 5);
        memmove(m.buf + off + 12, m.buf + off, l.len - off);
        memcpy(m.buf + off, "hello world\n", 12);
        write_file(path, m.buf, l.len + 12);
        free(m.buf);
    }
    assert_int_equal(aigov_log_recover(path, &t, &lastcp, &nl, err, sizeof(err)), 1);
    assert_int_equal(t.size, 3500);
    aigov_tree_root(&t, got);
    assert_memory_equal(want, got, 32);
    assert_non_null(strstr(err, "inserted"));

    /* a log small enough to be read whole, checkpoint landing late */
    free(l.buf);
    build_ranged(&l, 25, 10, 4, 10);
    aigov_tree_root(&l.tree, want);
    write_file(path, l.buf, l.len);
    recover_clean(path, 25, 20, want);
    free(l.buf);
}

static void test_hostile_bytes(void **state)
{
    /* nothing a log holds crashes the verifier or leaks */
    static const char *logs[] = {
        "\n\n\n", "{\"checkpoint\":\n", "{\"checkpoint\":\"\"}\n", "{\"checkpoint\":\"\\n\\n\"}\n",
        "{\"seq\":18446744073709551615,\"a\":1}\n", "{\"seq\":0}\n{\"seq\":0}\n{\"seq\":5}\n{\"seq\":1}\n",
        "{\"checkpoint\":\"o\\n99999999999999999999\\nAA==\\n\\n\xe2\x80\x94 o AAAA\\n\"}\n",
        "\xff\xfe\x01garbage", "{\"seq\":3,\"x\":[[[[[[",
    };
    for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
        logb_t l;
        got_t g;
        memset(&l, 0, sizeof(l));
        l.buf = (char *) logs[i];
        l.len = strlen(logs[i]);
        run(&l, &vkey, &g, NULL);
        assert_true(g.n >= 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_lines),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_threads_long_lines),
        cmocka_unit_test(test_threads_random_damage),
        cmocka_unit_test(test_seq_and_json_scanning),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_clean_log_with_lagging_checkpoints),
        cmocka_unit_test(test_problem_after_lagging_checkpoint),
        cmocka_unit_test(test_modified_record),
        cmocka_unit_test(test_removed_reordered_inserted),
        cmocka_unit_test(test_torn_lines),
        cmocka_unit_test(test_checkpoint_problems),
        cmocka_unit_test(test_kept_checkpoint),
        cmocka_unit_test(test_carry_over_and_recovery),
        cmocka_unit_test(test_recover_from_tail),
        cmocka_unit_test(test_hostile_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

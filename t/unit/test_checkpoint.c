/* Checkpoints: C2SP signed-note signing byte for byte against the Go
 * sumdb/note reference vector, key IDs, vkeys, tlog-checkpoint parsing and
 * every way a note can be wrong. */
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
#include "base64.h"

/* golang.org/x/mod/sumdb/note: the PeterNeumann example. Ed25519 is
 * deterministic, so signing the same text with the same seed must give the
 * published note exactly. */
#define GO_SKEY_B64 "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_VKEY     "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_TEXT     "If you think cryptography is the answer to your problem,\n" \
                    "then you don't know what your problem is.\n"
#define GO_NOTE     GO_TEXT "\n\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

#define BADROOT "o\n1\nAA==\n\n\xe2\x80\x94 o AAAAAAAA\n"
#define BADSIZE "o\n01\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n\n\xe2\x80\x94 o AAAAAAAA\n"

static char tmpdir[] = "/tmp/aigov-cp-XXXXXX";

static void write_pem(EVP_PKEY *k, const char *path, int pub)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (pub)
        assert_int_equal(PEM_write_PUBKEY(f, k), 1);
    else
        assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

/* A fresh key pair in tmpdir/NAME and NAME.pub. */
static void new_key(const char *name, char *priv, char *pub)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k);
    sprintf(priv, "%s/%s", tmpdir, name);
    sprintf(pub, "%s/%s.pub", tmpdir, name);
    write_pem(k, priv, 0);
    write_pem(k, pub, 1);
    EVP_PKEY_free(k);
}

static int setup(void **state)
{
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_go_reference_note(void **state)
{
    uint8_t seed[40];
    char path[256], err[256];
    EVP_PKEY *k;
    aigov_signer_t *s;
    char *note;
    size_t len = 0;
    aigov_vkey_t vk;

    assert_int_equal(aigov_b64_decode(GO_SKEY_B64, strlen(GO_SKEY_B64), seed, sizeof(seed), AIGOV_B64_STD), 33);
    assert_int_equal(seed[0], 0x01);
    k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed + 1, 32);
    assert_non_null(k);
    sprintf(path, "%s/peter.pem", tmpdir);
    write_pem(k, path, 0);
    EVP_PKEY_free(k);

    s = aigov_signer_load(path, "PeterNeumann", err, sizeof(err));
    assert_non_null(s);
    assert_string_equal(aigov_signer_vkey(s), GO_VKEY);
    note = aigov_note_sign(s, GO_TEXT, strlen(GO_TEXT), &len);
    assert_non_null(note);
    assert_int_equal(len, strlen(GO_NOTE));
    assert_memory_equal(note, GO_NOTE, len);
    free(note);
    /* a body without its final newline is not a note text */
    assert_null(aigov_note_sign(s, "abc", 3, &len));
    aigov_signer_free(s);

    /* The key ID of the vkey is recomputed from name and key. */
    assert_int_equal(aigov_vkey_parse(&vk, GO_VKEY, err, sizeof(err)), 0);
    assert_string_equal(vk.name, "PeterNeumann");
    assert_memory_equal(vk.id, "\xc7\x4f\x20\xa3", 4);
}

static void test_vkey_manglings(void **state)
{
    static const char *bad[] = {
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* wrong id */
        "PeterNeumanN+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* other name */
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX",  /* other key */
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",   /* short */
        "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* type 2 */
        "PeterNeumann+c74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+zz4f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann", "", "++",
    };
    aigov_vkey_t vk;
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(aigov_vkey_parse(&vk, bad[i], err, sizeof(err)), -1);
        assert_true(strlen(err) > 0);
    }
}

/* The key ID against an independent computation: the openssl command
 * hashes name || 0x0A || 0x01 || public key. */
static void test_key_id_independent(void **state)
{
    char priv[256], pub[256], err[256], cmd[1024], raw[256], out[128];
    aigov_signer_t *s;
    aigov_vkey_t vk;
    uint8_t id[4];
    FILE *p;
    char hex[16];

    new_key("kid", priv, pub);
    s = aigov_signer_load(priv, "example.org/aigov", err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(aigov_vkey_load(&vk, pub, err, sizeof(err)), 0);
    assert_true(vk.any_name);
    aigov_key_id("example.org/aigov", 17, vk.pub, id);

    sprintf(raw, "%s/kid.in", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "{ printf 'example.org/aigov\\n\\001'; openssl pkey -pubin -in %s -outform DER | tail -c 32; } > %s && "
             "openssl dgst -sha256 -r %s | cut -c1-8", pub, raw, raw);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, sizeof(out), p));
    pclose(p);
    snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
    assert_memory_equal(out, hex, 8);
    /* and the vkey carries the same id */
    assert_non_null(strstr(aigov_signer_vkey(s), hex));
    aigov_signer_free(s);
}

static char *note_of_line(const char *line, size_t len)
{
    json_t *j = json_loadb(line, len, 0, NULL);
    char *n;
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 1);
    n = strdup(json_string_value(json_object_get(j, "checkpoint")));
    json_decref(j);
    return n;
}

static void test_checkpoint_round_trip(void **state)
{
    char priv[256], pub[256], priv2[256], pub2[256], err[256], why[300];
    aigov_signer_t *s;
    aigov_vkey_t vk, vpem, other;
    aigov_checkpoint_t *cp = malloc(sizeof(*cp));
    uint8_t root[32];
    char *line, *note;
    size_t len;

    new_key("a", priv, pub);
    new_key("b", priv2, pub2);
    s = aigov_signer_load(priv, "log.example/aigov", err, sizeof(err));
    assert_non_null(s);
    memset(root, 0xab, 32);
    line = aigov_checkpoint_line(s, 1234, root, &len);
    assert_non_null(line);
    assert_int_equal(len, strlen(line));
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1));
    assert_memory_equal(line, "{\"checkpoint\":\"log.example/aigov\\n1234\\n", 39);
    note = note_of_line(line, len);

    assert_int_equal(aigov_vkey_parse(&vk, aigov_signer_vkey(s), err, sizeof(err)), 0);
    assert_int_equal(aigov_vkey_load(&vpem, pub, err, sizeof(err)), 0);
    assert_int_equal(aigov_checkpoint_open(note, strlen(note), &vk, cp, why, sizeof(why)), AIGOV_NOTE_OK);
    assert_string_equal(cp->origin, "log.example/aigov");
    assert_int_equal(cp->size, 1234);
    assert_memory_equal(cp->root, root, 32);
    assert_false(cp->has_range);
    assert_int_equal(aigov_checkpoint_open(note, strlen(note), &vpem, cp, why, sizeof(why)), AIGOV_NOTE_OK);
    assert_int_equal(aigov_checkpoint_open(note, strlen(note), NULL, cp, why, sizeof(why)), AIGOV_NOTE_OK);

    /* another key: unknown, with the signer named */
    assert_int_equal(aigov_vkey_load(&other, pub2, err, sizeof(err)), 0);
    assert_int_equal(aigov_checkpoint_open(note, strlen(note), &other, cp, why, sizeof(why)), AIGOV_NOTE_UNKNOWN_KEY);
    assert_non_null(strstr(why, "log.example/aigov+"));

    /* a changed size, root or signature byte */
    {
        char *t = strdup(note);
        t[strlen("log.example/aigov\n")] = '2';
        assert_int_equal(aigov_checkpoint_open(t, strlen(t), &vk, cp, why, sizeof(why)), AIGOV_NOTE_BAD_SIGNATURE);
        free(t);
        t = strdup(note);
        t[strlen("log.example/aigov\n1234\n") + 3] ^= 1;
        assert_int_not_equal(aigov_checkpoint_open(t, strlen(t), &vk, cp, why, sizeof(why)), AIGOV_NOTE_OK);
        free(t);
        t = strdup(note);
        t[strlen(t) - 10] = t[strlen(t) - 10] == 'A' ? 'B' : 'A';
        assert_int_equal(aigov_checkpoint_open(t, strlen(t), &vk, cp, why, sizeof(why)), AIGOV_NOTE_BAD_SIGNATURE);
        free(t);
    }
    /* malformed: cut, no blank line, no newline at end, control char */
    assert_int_equal(aigov_checkpoint_open(note, strlen(note) - 1, &vk, cp, why, sizeof(why)), AIGOV_NOTE_MALFORMED);
    assert_int_equal(aigov_checkpoint_open("a\nb\n", 4, &vk, cp, why, sizeof(why)), AIGOV_NOTE_MALFORMED);
    assert_int_equal(aigov_checkpoint_open(BADROOT, strlen(BADROOT), &vk, cp, why, sizeof(why)),
                     AIGOV_NOTE_MALFORMED);   /* root is not 32 bytes */
    assert_int_equal(aigov_checkpoint_open(BADSIZE, strlen(BADSIZE), NULL, cp, why, sizeof(why)),
                     AIGOV_NOTE_MALFORMED);
    assert_int_equal(aigov_checkpoint_open("\n", 1, NULL, cp, why, sizeof(why)), AIGOV_NOTE_MALFORMED);
    assert_int_equal(aigov_checkpoint_open("", 0, NULL, cp, why, sizeof(why)), AIGOV_NOTE_MALFORMED);

    free(note);
    free(line);
    aigov_signer_free(s);

    /* signed under a name other than the origin */
    s = aigov_signer_load(priv, "someone-else", err, sizeof(err));
    assert_non_null(s);
    {
        const char *body = "log.example/aigov\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n";
        size_t nl;
        char *n2 = aigov_note_sign(s, body, strlen(body), &nl);
        aigov_vkey_t anyk;
        assert_non_null(n2);
        assert_int_equal(aigov_vkey_load(&anyk, pub, err, sizeof(err)), 0);
        assert_int_equal(aigov_checkpoint_open(n2, nl, &anyk, cp, why, sizeof(why)), AIGOV_NOTE_MALFORMED);
        assert_non_null(strstr(why, "origin"));
        free(n2);
    }
    aigov_signer_free(s);
    free(cp);
}

static void test_carry_over_range(void **state)
{
    char priv[256], pub[256], err[256], why[300];
    aigov_signer_t *s;
    aigov_vkey_t vk;
    aigov_checkpoint_t *cp = malloc(sizeof(*cp));
    aigov_tree_t t, t2;
    uint8_t h[32], r1[32], r2[32];
    char *line, *note;
    size_t len;

    new_key("c", priv, pub);
    s = aigov_signer_load(priv, "carry", err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(aigov_vkey_parse(&vk, aigov_signer_vkey(s), err, sizeof(err)), 0);
    aigov_tree_init(&t);
    for (int i = 0; i < 13; i++) {
        aigov_leaf_hash(&i, sizeof(i), h);
        aigov_tree_append(&t, h);
    }
    line = aigov_checkpoint_carry_line(s, &t, &len);
    assert_non_null(line);
    note = note_of_line(line, len);
    assert_non_null(strstr(note, "\naigov-range "));
    assert_int_equal(aigov_checkpoint_open(note, strlen(note), &vk, cp, why, sizeof(why)), AIGOV_NOTE_OK);
    assert_true(cp->has_range);
    assert_int_equal(cp->range_len, 3);
    assert_int_equal(aigov_tree_from_range(&t2, cp->size, (const uint8_t (*)[32]) cp->range, cp->range_len), 0);
    aigov_tree_root(&t, r1);
    aigov_tree_root(&t2, r2);
    assert_memory_equal(r1, r2, 32);
    free(note);
    free(line);

    /* a range that does not give the signed root is refused even when signed */
    {
        char body[512];
        char b64[48], b64h[48];
        size_t nl;
        char *n2;
        aigov_b64_encode(r1, 32, b64, AIGOV_B64_STD);
        aigov_b64_encode(h, 32, b64h, AIGOV_B64_STD);
        snprintf(body, sizeof(body), "carry\n1\n%s\naigov-range %s\n", b64, b64h);
        n2 = aigov_note_sign(s, body, strlen(body), &nl);
        assert_int_equal(aigov_checkpoint_open(n2, nl, &vk, cp, why, sizeof(why)), AIGOV_NOTE_MALFORMED);
        assert_non_null(strstr(why, "aigov-range"));
        free(n2);
    }
    aigov_signer_free(s);
    free(cp);
}

static void test_signer_errors(void **state)
{
    char priv[256], pub[256], err[256], path[256];
    FILE *f;

    new_key("d", priv, pub);
    assert_null(aigov_signer_load(priv, "has space", err, sizeof(err)));
    assert_non_null(strstr(err, "not valid"));
    assert_null(aigov_signer_load(priv, "a+b", err, sizeof(err)));
    assert_null(aigov_signer_load(priv, "", err, sizeof(err)));
    assert_null(aigov_signer_load("/nonexistent/key", "n", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/key"));
    assert_null(aigov_signer_load(pub, "n", err, sizeof(err)));   /* a public key */
    sprintf(path, "%s/rsa.pem", tmpdir);
    {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
        assert_non_null(k);
        write_pem(k, path, 0);
        EVP_PKEY_free(k);
    }
    assert_null(aigov_signer_load(path, "n", err, sizeof(err)));
    assert_non_null(strstr(err, "Ed25519"));
    sprintf(path, "%s/garbage", tmpdir);
    f = fopen(path, "w");
    fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", f);
    fclose(f);
    assert_null(aigov_signer_load(path, "n", err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_reference_note),
        cmocka_unit_test(test_vkey_manglings),
        cmocka_unit_test(test_key_id_independent),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_carry_over_range),
        cmocka_unit_test(test_signer_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * checkpoint: signed tree heads in the C2SP formats.
 *
 * A checkpoint is a C2SP signed-note whose text is a C2SP tlog-checkpoint:
 *
 *     <origin>\n<size>\n<base64 root>\n[extension lines]\n
 *     \n
 *     — <key name> <base64(key id || Ed25519 signature)>\n
 *
 * The signature covers the text up to and including its last newline. The
 * key ID is SHA-256(name || "\n" || 0x01 || public key)[:4]. Keeping to the
 * standard lets an auditor check our notes with other tools too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/err.h>

#include "audit.h"
#include "base64.h"
#include "sha256.h"

#define NOTE_MAX       (1 << 20)
#define NOTE_SIGS_MAX  100
#define NAME_MAX_LEN   255
#define EM_DASH        "\xe2\x80\x94"   /* U+2014 */
#define RANGE_EXT      "aigov-range"

struct aigov_signer {
    EVP_PKEY *key;
    char      name[NAME_MAX_LEN + 1];
    uint8_t   pub[32];
    uint8_t   id[4];
    char      vkey[NAME_MAX_LEN + 80];
};

/* ---- keys --------------------------------------------------------------- */

void aigov_key_id(const char *name, size_t name_len, const uint8_t pub[32], uint8_t id[4])
{
    uint8_t md[32];
    static const uint8_t sep[2] = { 0x0a, 0x01 };
    aigov_sha256_t c;

    aigov_sha256_init(&c);
    aigov_sha256_update(&c, name, name_len);
    aigov_sha256_update(&c, sep, 2);
    aigov_sha256_update(&c, pub, 32);
    aigov_sha256_final(&c, md);
    memcpy(id, md, 4);
}

/* C2SP: a key name is non-empty UTF-8 without spaces or '+'. We also keep
 * out control characters, so a name can never break a line. */
static int name_ok(const char *s, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c <= 0x20 || c == 0x7f || c == '+')
            return 0;
    }
    return 1;
}

static void fmt_vkey(char *out, size_t cap, const char *name, const uint8_t id[4], const uint8_t pub[32])
{
    uint8_t k[33];
    char b[64];

    k[0] = 0x01;
    memcpy(k + 1, pub, 32);
    aigov_b64_encode(k, 33, b, AIGOV_B64_STD);
    snprintf(out, cap, "%s+%02x%02x%02x%02x+%s", name, id[0], id[1], id[2], id[3], b);
}

static void ssl_err(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[160];

    if (e) {
        ERR_error_string_n(e, buf, sizeof(buf));
        snprintf(err, errlen, "%s (%s)", what, buf);
    } else {
        snprintf(err, errlen, "%s", what);
    }
    ERR_clear_error();
}

aigov_signer_t *aigov_signer_load(const char *pem_path, const char *name, char *err, size_t errlen)
{
    aigov_signer_t *s;
    FILE *f;
    size_t publen = 32;
    char what[512];

    if (name == NULL || !name_ok(name, strlen(name))) {
        snprintf(err, errlen, "key name '%s' is not valid: it must be 1 to %d characters without spaces or '+'",
                 name ? name : "", NAME_MAX_LEN);
        return NULL;
    }
    if ((f = fopen(pem_path, "r")) == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", pem_path, strerror(errno));
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (s->key == NULL) {
        snprintf(what, sizeof(what), "%s: not a PEM private key", pem_path);
        ssl_err(err, errlen, what);
        free(s);
        return NULL;
    }
    if (EVP_PKEY_get_id(s->key) != EVP_PKEY_ED25519
        || !EVP_PKEY_get_raw_public_key(s->key, s->pub, &publen) || publen != 32) {
        snprintf(err, errlen, "%s: not an Ed25519 key (checkpoints are signed with Ed25519)", pem_path);
        aigov_signer_free(s);
        return NULL;
    }
    snprintf(s->name, sizeof(s->name), "%s", name);
    aigov_key_id(s->name, strlen(s->name), s->pub, s->id);
    fmt_vkey(s->vkey, sizeof(s->vkey), s->name, s->id, s->pub);
    return s;
}

void aigov_signer_free(aigov_signer_t *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->key);
    free(s);
}

const char *aigov_signer_vkey(const aigov_signer_t *s) { return s->vkey; }
const char *aigov_signer_name(const aigov_signer_t *s) { return s->name; }

int aigov_vkey_parse(aigov_vkey_t *k, const char *vkey, char *err, size_t errlen)
{
    const char *p1, *p2;
    size_t len = strlen(vkey);
    uint8_t raw[64], id[4];
    long n;

    while (len && (vkey[len - 1] == '\n' || vkey[len - 1] == '\r' || vkey[len - 1] == ' '))
        len--;
    memset(k, 0, sizeof(*k));
    p1 = memchr(vkey, '+', len);
    p2 = p1 ? memchr(p1 + 1, '+', len - (size_t) (p1 + 1 - vkey)) : NULL;
    if (p1 == NULL || p2 == NULL || p2 - p1 != 9) {
        snprintf(err, errlen, "not a verifier key: expected NAME+KEYID+BASE64");
        return -1;
    }
    if (!name_ok(vkey, (size_t) (p1 - vkey))) {
        snprintf(err, errlen, "verifier key: the key name is not valid");
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        unsigned v;
        if (sscanf(p1 + 1 + 2 * i, "%2x", &v) != 1) {
            snprintf(err, errlen, "verifier key: the key ID is not 8 hex digits");
            return -1;
        }
        id[i] = (uint8_t) v;
    }
    for (int i = 1; i <= 8; i++)
        if (!strchr("0123456789abcdefABCDEF", p1[i]) || p1[i] == '\0') {
            snprintf(err, errlen, "verifier key: the key ID is not 8 hex digits");
            return -1;
        }
    n = aigov_b64_decode(p2 + 1, len - (size_t) (p2 + 1 - vkey), raw, sizeof(raw), AIGOV_B64_STD);
    if (n != 33 || raw[0] != 0x01) {
        snprintf(err, errlen, "verifier key: the key is not an Ed25519 key (type 0x01 and 32 bytes)");
        return -1;
    }
    memcpy(k->name, vkey, (size_t) (p1 - vkey));
    memcpy(k->pub, raw + 1, 32);
    aigov_key_id(k->name, strlen(k->name), k->pub, k->id);
    if (memcmp(k->id, id, 4) != 0) {
        snprintf(err, errlen, "verifier key: the key ID does not match the name and key");
        return -1;
    }
    return 0;
}

int aigov_vkey_load(aigov_vkey_t *k, const char *arg, char *err, size_t errlen)
{
    FILE *f = fopen(arg, "r");
    char buf[4096];
    size_t n;
    EVP_PKEY *pk;
    BIO *bio;
    size_t publen = 32;

    if (f == NULL) {
        /* Not a file: the vkey string itself. */
        if (strchr(arg, '+') != NULL)
            return aigov_vkey_parse(k, arg, err, errlen);
        snprintf(err, errlen, "%s: cannot open: %s", arg, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (strstr(buf, "-----BEGIN") == NULL) {
        if (aigov_vkey_parse(k, buf, err, errlen) < 0) {
            char e2[256];
            snprintf(e2, sizeof(e2), "%s", err);
            snprintf(err, errlen, "%s: %s", arg, e2);
            return -1;
        }
        return 0;
    }
    bio = BIO_new_mem_buf(buf, (int) n);
    pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    memset(k, 0, sizeof(*k));
    if (pk == NULL || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519
        || !EVP_PKEY_get_raw_public_key(pk, k->pub, &publen) || publen != 32) {
        EVP_PKEY_free(pk);
        ERR_clear_error();
        snprintf(err, errlen, "%s: not an Ed25519 public key (PEM SubjectPublicKeyInfo) nor a vkey", arg);
        return -1;
    }
    EVP_PKEY_free(pk);
    k->any_name = 1;
    return 0;
}

/* ---- signing ------------------------------------------------------------ */

char *aigov_note_sign(const aigov_signer_t *s, const char *body, size_t body_len, size_t *len)
{
    uint8_t sig[4 + 64];
    size_t siglen = 64;
    char b64[128];
    EVP_MD_CTX *c;
    char *out;
    size_t nlen = strlen(s->name), cap;

    if (body_len == 0 || body[body_len - 1] != '\n')
        return NULL;
    c = EVP_MD_CTX_new();
    if (c == NULL || EVP_DigestSignInit(c, NULL, NULL, NULL, s->key) != 1
        || EVP_DigestSign(c, sig + 4, &siglen, (const unsigned char *) body, body_len) != 1
        || siglen != 64) {
        EVP_MD_CTX_free(c);
        ERR_clear_error();
        return NULL;
    }
    EVP_MD_CTX_free(c);
    memcpy(sig, s->id, 4);
    aigov_b64_encode(sig, sizeof(sig), b64, AIGOV_B64_STD);

    cap = body_len + 1 + sizeof(EM_DASH) + 1 + nlen + 1 + strlen(b64) + 2;
    out = malloc(cap);
    if (out == NULL)
        return NULL;
    memcpy(out, body, body_len);
    *len = body_len + (size_t) snprintf(out + body_len, cap - body_len, "\n" EM_DASH " %s %s\n", s->name, b64);
    return out;
}

#define CP_PREFIX  "{\"checkpoint\":"

int aigov_is_checkpoint_line(const char *line, size_t len)
{
    return len >= sizeof(CP_PREFIX) - 1 && memcmp(line, CP_PREFIX, sizeof(CP_PREFIX) - 1) == 0;
}

json_t *aigov_checkpoint_line_note(const char *line, size_t len, const char **note,
                                   size_t *note_len)
{
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *s = json_is_object(j) && json_object_size(j) == 1
                ? json_object_get(j, "checkpoint") : NULL;

    if (!json_is_string(s)) {
        json_decref(j);
        return NULL;
    }
    *note = json_string_value(s);
    *note_len = json_string_length(s);
    return j;
}

static char *note_line(const char *note, size_t note_len, size_t *len)
{
    json_t *o = json_object();
    char *line = NULL, *s;
    size_t n;

    if (o == NULL || json_object_set_new(o, "checkpoint", json_stringn(note, note_len)) < 0) {
        json_decref(o);
        return NULL;
    }
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL)
        return NULL;
    n = strlen(s);
    line = malloc(n + 2);
    if (line) {
        memcpy(line, s, n);
        line[n] = '\n';
        line[n + 1] = '\0';
        *len = n + 1;
    }
    free(s);
    return line;
}

static char *checkpoint_line(const aigov_signer_t *s, uint64_t size, const uint8_t root[32],
                             const uint8_t (*range)[32], size_t range_len, size_t *len)
{
    size_t cap = strlen(s->name) + 128 + (range ? sizeof(RANGE_EXT) + range_len * 45 : 0);
    char *body = malloc(cap), *note, *line;
    char b64[48];
    size_t n, nlen = 0;

    if (body == NULL)
        return NULL;
    aigov_b64_encode(root, 32, b64, AIGOV_B64_STD);
    n = (size_t) snprintf(body, cap, "%s\n%llu\n%s\n", s->name, (unsigned long long) size, b64);
    if (range) {
        memcpy(body + n, RANGE_EXT, sizeof(RANGE_EXT) - 1);
        n += sizeof(RANGE_EXT) - 1;
        for (size_t i = 0; i < range_len; i++) {
            body[n++] = ' ';
            n += aigov_b64_encode(range[i], 32, body + n, AIGOV_B64_STD);
        }
        body[n++] = '\n';
    }
    note = aigov_note_sign(s, body, n, &nlen);
    free(body);
    if (note == NULL)
        return NULL;
    line = note_line(note, nlen, len);
    free(note);
    return line;
}

char *aigov_checkpoint_line(const aigov_signer_t *s, uint64_t size, const uint8_t root[32], size_t *len)
{
    return checkpoint_line(s, size, root, NULL, 0, len);
}

char *aigov_checkpoint_carry_line(const aigov_signer_t *s, const aigov_tree_t *t, size_t *len)
{
    uint8_t range[64][32], root[32];
    size_t n = aigov_tree_range(t, range);

    aigov_tree_root(t, root);
    return checkpoint_line(s, t->size, root, (const uint8_t (*)[32]) range, n, len);
}

/* ---- opening ------------------------------------------------------------ */

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t) (s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t) (s[i] - '0');
    }
    *out = v;
    return 0;
}

static aigov_note_status_t malformed(char *why, size_t whylen, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
    return AIGOV_NOTE_MALFORMED;
}

static int parse_range(const char *p, size_t len, aigov_checkpoint_t *cp)
{
    size_t i = 0;

    cp->range_len = 0;
    while (i < len) {
        size_t j;
        if (p[i] != ' ')
            return -1;
        i++;
        for (j = i; j < len && p[j] != ' '; j++)
            ;
        if (cp->range_len == 64 || aigov_b64_decode(p + i, j - i, cp->range[cp->range_len], 32, AIGOV_B64_STD) != 32)
            return -1;
        cp->range_len++;
        i = j;
    }
    cp->has_range = 1;
    return 0;
}

static aigov_note_status_t parse_body(const char *b, size_t len, aigov_checkpoint_t *cp,
                                      char *why, size_t whylen)
{
    const char *line = b, *end = b + len;
    int n = 0;

    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t) (end - line));
        size_t ll = (size_t) (nl - line);   /* the body ends in '\n' */
        if (ll == 0)
            return malformed(why, whylen, "the checkpoint has an empty line");
        if (n == 0) {
            if (ll >= sizeof(cp->origin))
                return malformed(why, whylen, "the checkpoint origin is too long");
            memcpy(cp->origin, line, ll);
            cp->origin[ll] = '\0';
        } else if (n == 1) {
            if (parse_u64(line, ll, &cp->size) < 0 || cp->size > INT64_MAX)
                return malformed(why, whylen, "the checkpoint tree size is not a decimal number");
        } else if (n == 2) {
            if (aigov_b64_decode(line, ll, cp->root, 32, AIGOV_B64_STD) != 32)
                return malformed(why, whylen, "the checkpoint root hash is not 32 bytes of base64");
        } else if (ll >= sizeof(RANGE_EXT) - 1 && memcmp(line, RANGE_EXT, sizeof(RANGE_EXT) - 1) == 0
                   && (ll == sizeof(RANGE_EXT) - 1 || line[sizeof(RANGE_EXT) - 1] == ' ')) {
            if (cp->has_range || parse_range(line + sizeof(RANGE_EXT) - 1, ll - (sizeof(RANGE_EXT) - 1), cp) < 0)
                return malformed(why, whylen, "the checkpoint's aigov-range line is not valid");
        }
        /* other extension lines are allowed and ignored */
        n++;
        line = nl + 1;
    }
    if (n < 3)
        return malformed(why, whylen, "the checkpoint needs an origin, a size and a root hash");
    if (cp->has_range) {
        aigov_tree_t t;
        uint8_t r[32];
        if (aigov_tree_from_range(&t, cp->size, (const uint8_t (*)[32]) cp->range, cp->range_len) < 0)
            return malformed(why, whylen, "the checkpoint's aigov-range does not fit its size");
        aigov_tree_root(&t, r);
        if (memcmp(r, cp->root, 32) != 0)
            return malformed(why, whylen, "the checkpoint's aigov-range does not give its root hash");
    }
    return AIGOV_NOTE_OK;
}

static int ed25519_verify(const uint8_t pub[32], const char *msg, size_t len, const uint8_t sig[64])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = pk && c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, pk) == 1
             && EVP_DigestVerify(c, sig, 64, (const unsigned char *) msg, len) == 1;

    EVP_MD_CTX_free(c);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    return ok;
}

aigov_note_status_t aigov_checkpoint_open(const char *note, size_t len, const aigov_vkey_t *key,
                                          aigov_checkpoint_t *cp, char *why, size_t whylen)
{
    const char *split = NULL, *p, *end = note + len;
    size_t body_len;
    int nsig = 0, matched = 0;
    aigov_note_status_t st;
    char first[320] = "";

    memset(cp, 0, sizeof(*cp));
    if (len == 0 || len > NOTE_MAX || note[len - 1] != '\n')
        return malformed(why, whylen, "the note is empty, too long or does not end in a newline");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) note[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            return malformed(why, whylen, "the note holds a control character");
    }
    /* The signatures follow the last blank line. */
    for (p = note; p + 1 < end; p++)
        if (p[0] == '\n' && p[1] == '\n')
            split = p;
    if (split == NULL)
        return malformed(why, whylen, "the note has no blank line before its signatures");
    body_len = (size_t) (split + 1 - note);
    cp->body_len = body_len;
    if ((st = parse_body(note, body_len, cp, why, whylen)) != AIGOV_NOTE_OK)
        return st;

    for (p = split + 2; p < end; ) {
        const char *nl = memchr(p, '\n', (size_t) (end - p)), *sp;
        const char *name = p + sizeof(EM_DASH);
        uint8_t raw[128], id[4];
        long n;
        size_t name_len;

        if (++nsig > NOTE_SIGS_MAX)
            return malformed(why, whylen, "the note has more than 100 signatures");
        if ((size_t) (nl - p) < sizeof(EM_DASH) + 2 || memcmp(p, EM_DASH " ", sizeof(EM_DASH)) != 0)
            return malformed(why, whylen, "a signature line does not start with an em dash and a space");
        sp = memchr(name, ' ', (size_t) (nl - name));
        if (sp == NULL || !name_ok(name, (size_t) (sp - name)))
            return malformed(why, whylen, "a signature line has no valid key name");
        name_len = (size_t) (sp - name);
        n = aigov_b64_decode(sp + 1, (size_t) (nl - sp - 1), raw, sizeof(raw), AIGOV_B64_STD);
        if (n < 5)
            return malformed(why, whylen, "a signature line's signature is not base64 of key ID and signature");
        if (first[0] == '\0')
            snprintf(first, sizeof(first), "%.*s+%02x%02x%02x%02x", (int) name_len, name,
                     raw[0], raw[1], raw[2], raw[3]);
        if (key == NULL) {
            if (!matched && name_len < sizeof(cp->signer)) {
                memcpy(cp->signer, name, name_len);
                matched = 1;
            }
        } else if (!matched) {
            int name_fits = key->any_name || (strlen(key->name) == name_len && memcmp(key->name, name, name_len) == 0);
            if (name_fits) {
                aigov_key_id(name, name_len, key->pub, id);
                if (memcmp(id, raw, 4) == 0) {
                    matched = 1;
                    snprintf(cp->signer, sizeof(cp->signer), "%.*s", (int) name_len, name);
                    if (n != 68 || !ed25519_verify(key->pub, note, body_len, raw + 4)) {
                        snprintf(why, whylen, "the signature by %s does not verify", cp->signer);
                        return AIGOV_NOTE_BAD_SIGNATURE;
                    }
                }
            }
        }
        p = nl + 1;
    }
    if (nsig == 0)
        return malformed(why, whylen, "the note has no signature line");
    if (!matched) {
        snprintf(why, whylen, "signed by %s, not by the key given", first);
        return AIGOV_NOTE_UNKNOWN_KEY;
    }
    if (key != NULL && strcmp(cp->signer, cp->origin) != 0) {
        snprintf(why, whylen, "signed as %s, but the checkpoint's origin is %s", cp->signer, cp->origin);
        return AIGOV_NOTE_MALFORMED;
    }
    return AIGOV_NOTE_OK;
}

/*
 * aigov audit hash-keygen / match: keyed content hashes (lib/hmac.h).
 *
 *   hash-keygen --out FILE [--id ID] [--force]
 *   match --hash-key FILE --seq N (--text TEXT | --file F) [--response] [--json] LOG...
 *
 * With `content: hash` and aigov_audit_hash_key, a record keeps the
 * request body as the caller sent it and the answer as the gateway sent
 * it as HMAC-SHA256 under the operator's key (prompt_hmac, response_hmac,
 * key id in hash_key). Whoever holds the key can tell whether a claimed
 * body or answer is the one recorded; nobody else can test guesses.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "aigov.h"
#include "audit.h"
#include "audit_files.h"
#include "base64.h"
#include "hex.h"
#include "hmac.h"
#include "sha256.h"

static int hash_keygen(int argc, char **argv)
{
    const char *out = NULL, *id = NULL;
    uint8_t key[32], md[32];
    char b64[64], defid[17], line[160];
    int force = 0, fd;
    size_t n;
    aigov_hmac_key_t k;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--id") && i + 1 < argc)
            id = argv[++i];
        else if (!strcmp(argv[i], "--force"))
            force = 1;
        else {
            fprintf(stderr, "usage: aigov audit hash-keygen --out FILE [--id ID] [--force]\n");
            return AIGOV_EXIT_USAGE;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "usage: aigov audit hash-keygen --out FILE [--id ID] [--force]\n");
        return AIGOV_EXIT_USAGE;
    }
    if (RAND_bytes(key, sizeof(key)) != 1) {
        fprintf(stderr, "aigov audit hash-keygen: no random bytes\n");
        return AIGOV_EXIT_USAGE;
    }
    if (id == NULL) {
        /* a name that says nothing about the key: the date is the operator's to add */
        aigov_sha256_2("aigov-hash-key-id", 17, key, sizeof(key), md);
        *aigov_hex(defid, md, 8) = '\0';
        id = defid;
    }
    if (aigov_hmac_key_set(&k, id, key, sizeof(key)) < 0) {
        fprintf(stderr, "aigov audit hash-keygen: the id must be 1 to 64 of A-Z a-z 0-9 . _ -\n");
        return AIGOV_EXIT_USAGE;
    }
    aigov_b64_encode(key, sizeof(key), b64, AIGOV_B64_STD);
    n = (size_t) snprintf(line, sizeof(line), "%s %s\n", id, b64);
    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (force ? 0 : O_EXCL), 0600);
    if (fd < 0 || write(fd, line, n) != (ssize_t) n || close(fd) != 0) {
        fprintf(stderr, "aigov audit hash-keygen: %s: %s%s\n", out, strerror(errno),
                errno == EEXIST ? " (use --force to replace it)" : "");
        return AIGOV_EXIT_USAGE;
    }
    memset(key, 0, sizeof(key));
    memset(b64, 0, sizeof(b64));
    memset(line, 0, sizeof(line));
    printf("wrote %s; key id %s (aigov_audit_hash_key %s;)\n", out, id, out);
    return AIGOV_EXIT_OK;
}

static char *slurp_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            char *nb = cap < ((size_t) 1 << 30) ? realloc(buf, cap = cap ? cap * 2 : 65536) : NULL;
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int match(int argc, char **argv)
{
    const char *keyp = NULL, *seqarg = NULL, *text = NULL, *file = NULL;
    char **logs = calloc((size_t) argc + 1, sizeof(char *)), err[512], *data = NULL, *end;
    int nlogs = 0, response = 0, json = 0, rc = AIGOV_EXIT_USAGE;
    size_t dlen = 0;
    uint64_t seq;
    aigov_hmac_key_t key;
    aigov_log_file_t *files = NULL;
    size_t nfiles = 0;
    json_t *rec = NULL, *done = NULL;
    char *notes = NULL;

    if (logs == NULL)
        return AIGOV_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--hash-key") && i + 1 < argc)
            keyp = argv[++i];
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc)
            seqarg = argv[++i];
        else if (!strcmp(argv[i], "--text") && i + 1 < argc)
            text = argv[++i];
        else if (!strcmp(argv[i], "--file") && i + 1 < argc)
            file = argv[++i];
        else if (!strcmp(argv[i], "--response"))
            response = 1;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "aigov audit match: unexpected option '%s'\n", argv[i]);
            goto out;
        } else
            logs[nlogs++] = argv[i];
    }
    if (!keyp || !seqarg || !nlogs || (text == NULL) == (file == NULL)) {
        fprintf(stderr, "usage: aigov audit match --hash-key FILE --seq N (--text TEXT | --file F) [--response] "
                        "[--json] LOG...\n");
        goto out;
    }
    errno = 0;
    seq = strtoull(seqarg, &end, 10);
    if (errno || *end || seqarg[0] == '-' || !seqarg[0]) {
        fprintf(stderr, "aigov audit match: --seq wants a record number\n");
        goto out;
    }
    if (aigov_hmac_key_load(&key, keyp, err, sizeof(err)) < 0) {
        fprintf(stderr, "aigov audit match: %s\n", err);
        goto out;
    }
    if (file) {
        data = slurp_file(file, &dlen);
        if (data == NULL) {
            fprintf(stderr, "aigov audit match: %s: cannot read\n", file);
            goto out;
        }
    }
    if (aigov_log_files(logs, (size_t) nlogs, &files, &nfiles, &notes, err, sizeof(err)) < 0) {
        fprintf(stderr, "aigov audit match: %s\n", err);
        goto out;
    }
    free(notes);
    /* the record, and for --response the completion record with its id */
    for (size_t i = 0; i < nfiles && (rec == NULL || (response && done == NULL)); i++) {
        aigov_lines_t *l = aigov_lines_open(files[i].path, err, sizeof(err));
        const char *line;
        size_t len;
        int nl, r;
        uint64_t s;

        if (l == NULL) {
            fprintf(stderr, "aigov audit match: %s\n", err);
            goto out;
        }
        while ((r = aigov_lines_next(l, &line, &len, &nl, err, sizeof(err))) == 1) {
            if (aigov_record_seq(line, len, &s) < 0)
                continue;
            if (rec == NULL && s == seq) {
                rec = json_loadb(line, len, 0, NULL);
                if (!response || json_object_get(rec, "response_hmac") || json_object_get(rec, "response_sha256"))
                    break;
            } else if (rec && response && s > seq && memmem(line, len, "\"phase\":\"done\"", 14)) {
                json_t *d = json_loadb(line, len, 0, NULL);
                if (json_equal(json_object_get(d, "id"), json_object_get(rec, "id"))) {
                    done = d;
                    break;
                }
                json_decref(d);
            }
        }
        aigov_lines_close(l);
        if (r < 0) {
            fprintf(stderr, "aigov audit match: %s\n", err);
            goto out;
        }
    }
    if (!json_is_object(rec)) {
        fprintf(stderr, "aigov audit match: no record seq %llu in the log\n", (unsigned long long) seq);
        rc = AIGOV_EXIT_USAGE;
        goto out;
    }
    {
        json_t *src = done ? done : rec;
        const char *what = response ? "response" : "prompt";
        const char *keyid = json_string_value(json_object_get(src, "hash_key"));
        const char *hm = json_string_value(json_object_get(src, response ? "response_hmac" : "prompt_hmac"));
        const char *plain = json_string_value(json_object_get(src, response ? "response_sha256" : "prompt_sha256"));
        uint8_t md[32];
        char hexd[65];
        int yes;
        const char *p = text ? text : data;
        size_t plen = text ? strlen(text) : dlen;

        if (hm == NULL && plain == NULL) {
            fprintf(stderr, "aigov audit match: record %llu keeps no hash of its %s (content: %s)\n",
                    (unsigned long long) seq, what, json_string_value(json_object_get(rec, "content"))
                    ? json_string_value(json_object_get(rec, "content")) : "?");
            goto out;
        }
        if (hm && (keyid == NULL || strcmp(keyid, key.id))) {
            fprintf(stderr, "aigov audit match: record %llu was hashed under key %s, not %s\n",
                    (unsigned long long) seq, keyid ? keyid : "(none named)", key.id);
            goto out;
        }
        if (hm)
            aigov_hmac(&key, p, plen, md);
        else
            aigov_sha256_2(p, plen, NULL, 0, md);
        *aigov_hex(hexd, md, 32) = '\0';
        yes = !strcmp(hexd, hm ? hm : plain);
        if (json)
            printf("{\"match\":%s,\"seq\":%llu,\"field\":\"%s_%s\",\"hash_key\":%s%s%s}\n", yes ? "true" : "false",
                   (unsigned long long) seq, what, hm ? "hmac" : "sha256", hm ? "\"" : "", hm ? key.id : "null",
                   hm ? "\"" : "");
        else
            printf("%s: the %s given %s record %llu's %s%s%s\n", yes ? "yes" : "no", file ? "file" : "text",
                   yes ? "is" : "is not", (unsigned long long) seq, what,
                   hm ? " (HMAC-SHA256 under key " : " (plain SHA-256; the record names no hash key",
                   hm ? key.id : "");
        if (!json)
            printf("%s", hm ? ")\n" : ")\n");
        rc = yes ? AIGOV_EXIT_OK : AIGOV_EXIT_FOUND;
    }
out:
    memset(&key, 0, sizeof(key));
    json_decref(rec);
    json_decref(done);
    free(data);
    aigov_log_files_free(files, nfiles);
    free(logs);
    return rc;
}

int aigov_cmd_audit_match(int argc, char **argv)
{
    if (!strcmp(argv[0], "hash-keygen"))
        return hash_keygen(argc, argv);
    return match(argc, argv);
}

// build: lib/merkle.c lib/checkpoint.c lib/audit_record.c lib/json_check.c lib/audit_verify.c lib/audit_recover.c lib/audit_files.c lib/audit_policy.c lib/hex.c lib/sha256.c lib/errbuf.c lib/policy_*.c lib/json_string.c lib/claim_path.c lib/endpoint.c lib/base64.c
/*
 * libFuzzer target for lib/audit: what an auditor feeds the verifier is
 * hostile by definition.
 *
 * First input byte picks the mode:
 *   0  the rest is a whole log, verified with a fixed key
 *   1  the rest is a signed note, opened as a checkpoint with that key
 *   2  the rest is one line: the fast JSON check must accept whatever
 *      jansson accepts, and a record's seq must read back as jansson reads it
 *   3  the rest is a vkey string
 *   4  the rest is a log file picked up at start (aigov_log_recover): when
 *      the verifier finds nothing wrong with it, the quick reading of its
 *      end must give the verifier's tree
 *   5  the rest is what a caller sends: as claims when jansson reads it
 *      (nulls and any nesting allowed), and as raw bytes in the path, model
 *      and reason. The writer must write the record, and the line must be
 *      one the verifier and jansson read, with no line break of any kind
 *      inside
 *
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_audit_line); fuzz/run.sh runs it on fuzz/corpus/audit_line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <unistd.h>

#include "audit.h"
#include "nesting.h"

static void on_problem(void *ud, const aigov_problem_t *p)
{
    /* every problem names a reason and a sentence */
    if (p->reason == NULL || p->message[0] == '\0')
        abort();
    (*(unsigned long *) ud)++;
}

static void fixed_key(aigov_vkey_t *k)
{
    memset(k, 0, sizeof(*k));
    strcpy(k->name, "fuzz/aigov");
    for (int i = 0; i < 32; i++)
        k->pub[i] = (uint8_t) (i * 7 + 1);
    aigov_key_id(k->name, strlen(k->name), k->pub, k->id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aigov_vkey_t key;
    uint8_t mode;

    if (size < 1)
        return 0;
    mode = data[0] % 6;
    data++;
    size--;
    fixed_key(&key);

    if (mode == 0) {
        unsigned long n = 0;
        aigov_verify_t *v = aigov_verify_new(&key, on_problem, &n);
        const aigov_verify_summary_t *s;
        if (v == NULL)
            return 0;
        aigov_verify_buffer(v, (const char *) data, size);
        aigov_verify_finish(v);
        s = aigov_verify_summary(v);
        if (s->problems != n || s->checkpoints_ok > s->checkpoints || s->last_size > s->records)
            abort();
        aigov_verify_free(v);
    } else if (mode == 1) {
        aigov_checkpoint_t *cp = malloc(sizeof(*cp));
        char why[300];
        if (cp == NULL)
            return 0;
        aigov_checkpoint_open((const char *) data, size, &key, cp, why, sizeof(why));
        aigov_checkpoint_open((const char *) data, size, NULL, cp, why, sizeof(why));
        free(cp);
    } else if (mode == 2) {
        json_error_t e;
        json_t *j = json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        int mine = aigov_json_check((const char *) data, size);
        uint64_t seq;
        /* jansson stops at a raw NUL byte; the log reader does not */
        if (j != NULL && nesting(data, size) < 64 && !memchr(data, 0, size) && mine != 0)
            abort();
        if (aigov_record_seq((const char *) data, size, &seq) == 0 && mine == 0 && j != NULL) {
            json_t *s = json_object_get(j, "seq");
            if (!json_is_integer(s) || (uint64_t) json_integer_value(s) != seq)
                abort();
        }
        json_decref(j);
    } else if (mode == 5) {
        aigov_record_t r;
        json_t *claims = json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        char *raw = malloc(size + 1), *body, *line;
        size_t len = 0, n;
        json_t *j;

        if (raw == NULL) {
            json_decref(claims);
            return 0;
        }
        memcpy(raw, data, size);
        raw[size] = '\0';
        memset(&r, 0, sizeof(r));
        r.prompt_tokens = r.completion_tokens = r.max_tokens = r.prompt_chars = -1;
        r.claims = claims;
        r.path = r.model = r.reason = r.response = raw;
        body = aigov_record_body_fast(&r, &len);
        if (body == NULL || (line = malloc(AIGOV_RECORD_LINE_MAX(len))) == NULL)
            abort();
        n = aigov_record_line(line, AIGOV_RECORD_LINE_MAX(len), 7, body, len);
        if (n == 0 || aigov_json_check(line, n - 1) != 0)
            abort();
        j = json_loadb(line, n - 1, JSON_ALLOW_NUL, NULL);
        if (j == NULL)
            abort();
        for (size_t i = 0; i + 1 < n; i++) {
            unsigned char c = (unsigned char) line[i], d = (unsigned char) line[i + 1];
            if (c < 0x20 || (c == 0xC2 && d >= 0x80 && d <= 0x9F)
                || (c == 0xE2 && d == 0x80 && i + 2 < n
                    && ((unsigned char) line[i + 2] == 0xA8 || (unsigned char) line[i + 2] == 0xA9)))
                abort();
        }
        json_decref(j);
        free(line);
        free(body);
        free(raw);
        json_decref(claims);
    } else if (mode == 4) {
        char path[64], err[300];
        unsigned long n = 0;
        aigov_verify_t *v = aigov_verify_new(NULL, on_problem, &n);
        aigov_tree_t t;
        uint64_t cp;
        int nl, rc, fd;
        uint8_t r1[32], r2[32];

        if (v == NULL)
            return 0;
        snprintf(path, sizeof(path), "/tmp/aigov-fuzz-recover-%d", (int) getpid());
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, data, size) != (ssize_t) size) {
            if (fd >= 0)
                close(fd);
            aigov_verify_free(v);
            return 0;
        }
        close(fd);
        rc = aigov_log_recover(path, &t, &cp, &nl, err, sizeof(err));
        unlink(path);
        if (rc < -1 || rc > 1)
            abort();
        aigov_verify_buffer(v, (const char *) data, size);
        aigov_verify_finish(v);
        if (rc >= 0 && n == 0 && !aigov_verify_summary(v)->torn_tail) {
            aigov_tree_root(&t, r1);
            aigov_tree_root(aigov_verify_tree(v), r2);
            if (t.size != aigov_verify_tree(v)->size || memcmp(r1, r2, 32) != 0)
                abort();
        }
        aigov_verify_free(v);
    } else {
        char *s = malloc(size + 1);
        char err[256];
        aigov_vkey_t k;
        if (s == NULL)
            return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        aigov_vkey_parse(&k, s, err, sizeof(err));
        free(s);
    }
    return 0;
}

/*
 * audit_policy: the policy in the log.
 *
 * Every request record names the policy that decided it by policy_sha256,
 * but the policy's text lives elsewhere and may be gone by the time an
 * auditor asks which rules were in force. So the gateway writes the policy
 * itself into the tree, as a record of its own, the first time a digest
 * is used after a start, a reload or a reopen (a new file):
 *
 *   {"seq":N,"ts":"...","policy_sha256":"<hex>","files":[{"name":"/etc/nginx/policy.yaml",
 *    "text":"version: 1\n..."}],"phase":"policy"}
 *
 * "text" is the file's bytes as loaded ("text_base64" instead when they
 * are not UTF-8); the SHA-256 of the texts concatenated in order is the
 * digest, so the record proves itself. Because it is re-written in each
 * new file, every file holds the policies its records use, and `verify`
 * can require that each digest used has its policy record before it.
 */
#ifndef AIGOV_AUDIT_POLICY_H
#define AIGOV_AUDIT_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "policy.h"

/* The body of p's policy record (without seq), malloc'd. Its ts is the 27
 * bytes at AIGOV_POLICY_TS_AT, so a writer that builds the body once can
 * set the time under its lock (aigov_policy_record_set_ts). */
#define AIGOV_POLICY_TS_AT   7
#define AIGOV_POLICY_TS_LEN  27
char *aigov_policy_record_body(const aigov_policy_t *p, int64_t ts_us, size_t *len);
void aigov_policy_record_set_ts(char *body, int64_t ts_us);

/* What a record line says about policies, read from its top-level keys
 * only (a claim named policy_sha256 inside "claims" does not count),
 * without building JSON. 0, or -1 when the line is not a JSON object. */
typedef struct {
    int     is_policy;     /* "phase":"policy" */
    int     has_digest;    /* a top-level "policy_sha256" of 64 hex digits */
    uint8_t digest[32];
} aigov_record_policy_t;

int aigov_record_policy_scan(const char *line, size_t len, aigov_record_policy_t *out);
/* One top-level member, for a reader that walks the line itself
 * (aigov_json_check_top); out (ud) starts zeroed. Always 0. */
int aigov_record_policy_member(void *ud, const char *key, size_t klen, const char *val, size_t vlen);

/* The members of one JSON object (key, value) or array (key NULL), as raw
 * bytes (a string value with its quotes and escapes), without building
 * anything: fast enough for every record of months of logs. fn returns
 * non-zero to stop (fn's type is in audit.h). -1 when v is not an object or
 * array (or is cut). */
int aigov_json_each(const char *v, size_t len, aigov_json_member_fn fn, void *ud);

/* A policy record read back: names and texts, checked against the digest. */
typedef struct {
    char     sha256[65];
    char     ts[40];
    size_t   nfiles;
    char   **names;
    char   **texts;
    size_t  *lens;
} aigov_policy_record_t;

/* 0, or -1 with a sentence in why (not a policy record, a text that does
 * not hash to its digest, ...). */
int aigov_policy_record_read(const char *line, size_t len, aigov_policy_record_t *out,
                             char *why, size_t whylen);
void aigov_policy_record_free(aigov_policy_record_t *r);
/* The first good policy record whose digest starts with `digest` (hex) in
 * the files (plain or gzip): 1 found, 0 not (err says so), -1 error. */
int aigov_policy_record_find(char *const *paths, size_t n, const char *digest,
                             aigov_policy_record_t *out, char *err, size_t errlen);

/* For the verifier (audit_verify.c): check that every policy_sha256 used
 * has its policy record before it (reason "no policy"), and that each
 * policy record's text gives its digest (reason "bad policy"). */
struct aigov_verify;
void aigov_verify_check_policies(struct aigov_verify *v);
uint64_t aigov_verify_policy_records(const struct aigov_verify *v);
/* Digests used before (or without) their policy record. They are reported
 * as problems only when the log holds policy records at all (logs written
 * before aigov logged its policies hold none: then this says how many). */
uint64_t aigov_verify_policies_missing(const struct aigov_verify *v);

#endif

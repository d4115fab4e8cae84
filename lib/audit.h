/*
 * audit: the tamper-evident audit log.
 *
 * The log is JSON Lines. Every request record line is a leaf of an RFC 9162
 * Merkle tree, in file order; its "seq" (always the first key) is its leaf
 * index. Checkpoint lines {"checkpoint":"<C2SP signed note>"} are not
 * leaves: they sign the tree head (origin, size, root) with Ed25519.
 * docs/audit.md is the auditor's guide and fixes the rotation rule.
 *
 * Everything here is nginx-free and keeps no global state. aigov_tree_t is
 * plain data so the module can keep it in shared memory.
 */
#ifndef AIGOV_AUDIT_H
#define AIGOV_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define AIGOV_HASH_LEN 32

/* ---- Merkle tree (merkle.c) ---------------------------------------------- */

/* The compact range [0, size): one subtree hash per set bit of size, hash[k]
 * for the perfect subtree of 2^k leaves. Enough to append and to compute the
 * root; 2 KiB, no pointers. */
typedef struct {
    uint64_t size;
    uint8_t  hash[64][AIGOV_HASH_LEN];
} aigov_tree_t;

void aigov_leaf_hash(const void *data, size_t len, uint8_t out[32]);
void aigov_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]);

void aigov_tree_init(aigov_tree_t *t);
void aigov_tree_append(aigov_tree_t *t, const uint8_t leaf_hash[32]);
/* Appends a perfect subtree of 2^level leaves given by its root (size must
 * be a multiple of 2^level; level 0 is aigov_tree_append). made, when not
 * NULL, is told each inner node the merge makes: its level, its index
 * among the nodes of that level, its hash. */
typedef void (*aigov_node_made_fn)(void *ud, unsigned level, uint64_t index, const uint8_t hash[32]);
void aigov_tree_append_subtree(aigov_tree_t *t, unsigned level, const uint8_t root[32],
                               aigov_node_made_fn made, void *ud);
/* Root of the tree; SHA-256("") for the empty tree. */
void aigov_tree_root(const aigov_tree_t *t, uint8_t out[32]);
/* Builds a tree of `size` from its compact range given left to right
 * (largest subtree first), popcount(size) hashes. -1 if n is wrong. */
int aigov_tree_from_range(aigov_tree_t *t, uint64_t size, const uint8_t (*range)[32], size_t n);
/* The compact range left to right into out (room for 64); returns count. */
size_t aigov_tree_range(const aigov_tree_t *t, uint8_t (*out)[32]);

/* Root over leaf hashes leaves[0..n). */
void aigov_merkle_root(const uint8_t (*leaves)[32], uint64_t n, uint8_t out[32]);
/* RFC 9162 2.1.3.1 inclusion proof of leaf `index` in the tree of the first
 * n leaves. proof needs room for 64 hashes. Returns the proof length, or -1
 * if index >= n. */
int aigov_inclusion_proof(const uint8_t (*leaves)[32], uint64_t n, uint64_t index,
                          uint8_t (*proof)[32]);
/* The same proof when only the leaves from start->size on are at hand
 * (leaves[0] is leaf start->size) and the earlier ones are known by their
 * compact range, as in a file that starts with a carry-over checkpoint.
 * -1 if index < start->size or index >= n. */
int aigov_inclusion_proof_from(const aigov_tree_t *start, const uint8_t (*leaves)[32],
                               uint64_t n, uint64_t index, uint8_t (*proof)[32]);
/* RFC 9162 2.1.3.2. 0 when the proof holds, -1 when it does not. */
int aigov_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf[32],
                           const uint8_t (*proof)[32], size_t proof_len,
                           const uint8_t root[32]);
/* RFC 9162 2.1.4.1 consistency proof between sizes m <= n. -1 if m > n. */
int aigov_consistency_proof(const uint8_t (*leaves)[32], uint64_t m, uint64_t n,
                            uint8_t (*proof)[32]);
/* RFC 9162 2.1.4.2. 0 when the proof holds. */
int aigov_consistency_verify(uint64_t m, uint64_t n, const uint8_t root_m[32],
                             const uint8_t root_n[32], const uint8_t (*proof)[32],
                             size_t proof_len);

/* ---- checkpoints: C2SP signed-note and tlog-checkpoint (checkpoint.c) ---- */

typedef struct aigov_signer aigov_signer_t;

/* Loads an Ed25519 private key (PEM, PKCS#8) that signs under `name` (the
 * origin). NULL with a sentence in err on failure. */
aigov_signer_t *aigov_signer_load(const char *pem_path, const char *name,
                                  char *err, size_t errlen);
void aigov_signer_free(aigov_signer_t *s);
/* "<name>+<hex keyid>+<base64(0x01 || pubkey)>"; owned by the signer. */
const char *aigov_signer_vkey(const aigov_signer_t *s);
const char *aigov_signer_name(const aigov_signer_t *s);

/* The log line {"checkpoint":"<note>"}\n for a tree head, malloc'd. */
char *aigov_checkpoint_line(const aigov_signer_t *s, uint64_t size,
                            const uint8_t root[32], size_t *len);
/* The carry-over line: the same, with the compact range in the signed body
 * as an extension line "aigov-range <b64> <b64> ...". The module writes it
 * first in a new (empty) log file so the file continues the tree on its own. */
char *aigov_checkpoint_carry_line(const aigov_signer_t *s, const aigov_tree_t *t,
                                  size_t *len);
/* Reading such a line back: whether a log line is one (it begins
 * {"checkpoint":, which no record does), and its note when the line is
 * exactly {"checkpoint":"<note>"}: the parsed line, which holds *note
 * (json_decref it after), or NULL. */
int aigov_is_checkpoint_line(const char *line, size_t len);
json_t *aigov_checkpoint_line_note(const char *line, size_t len, const char **note,
                                   size_t *note_len);
/* The signed note alone (what the line's string holds), malloc'd. */
char *aigov_note_sign(const aigov_signer_t *s, const char *body, size_t body_len,
                      size_t *len);

/* A verifier key: from a vkey string, a file holding one, or a PEM
 * SubjectPublicKeyInfo file (then any key name is accepted). */
typedef struct {
    char    name[256];     /* "" when loaded from PEM */
    int     any_name;
    uint8_t id[4];
    uint8_t pub[32];
} aigov_vkey_t;

int aigov_vkey_parse(aigov_vkey_t *k, const char *vkey, char *err, size_t errlen);
int aigov_vkey_load(aigov_vkey_t *k, const char *path_or_vkey, char *err, size_t errlen);
/* Key ID = SHA-256(name || 0x0A || 0x01 || pub)[:4]. */
void aigov_key_id(const char *name, size_t name_len, const uint8_t pub[32], uint8_t id[4]);

typedef enum {
    AIGOV_NOTE_OK = 0,
    AIGOV_NOTE_MALFORMED,     /* not a signed note / not a checkpoint */
    AIGOV_NOTE_UNKNOWN_KEY,   /* no signature line by our key */
    AIGOV_NOTE_BAD_SIGNATURE  /* a line by our key that does not verify */
} aigov_note_status_t;

typedef struct {
    char     origin[256];
    uint64_t size;
    uint8_t  root[32];
    int      has_range;                /* carried an aigov-range line */
    size_t   range_len;
    uint8_t  range[64][32];
    char     signer[256];              /* name on our key's signature line */
    size_t   body_len;                 /* bytes of the signed body */
} aigov_checkpoint_t;

/* Splits and checks a signed note holding a tlog-checkpoint. With key NULL,
 * signatures are parsed but not checked. why gets a sentence on failure. */
aigov_note_status_t aigov_checkpoint_open(const char *note, size_t len, const aigov_vkey_t *key,
                                          aigov_checkpoint_t *cp, char *why, size_t whylen);

/* ---- records (audit_record.c) -------------------------------------------- */

/* One entry of a record's "filters", as plain data: lets the module log
 * its filter outcomes without building json_t objects per request.
 * Written {"plugin":..,"stage":..,"verdict":..,"count":N}; a NULL string
 * is written as null, count as it is. */
typedef struct {
    const char *plugin;
    const char *stage;            /* "request" | "response" */
    const char *verdict;
    long long   count;
    int         not_inspected;    /* 1: written "inspected":false */
} aigov_record_filter_t;

/* What the module knows about a request when it logs it. NULL strings and
 * negative numbers are written as null (or left out, as noted). Zero the
 * struct first: fields added later default to "absent". */
typedef struct {
    const char *id;
    int64_t     ts_us;            /* microseconds since the epoch, UTC */
    const char *sub;
    json_t     *groups;           /* borrowed; array, or NULL */
    const char *iss;
    json_t     *claims;           /* borrowed; the claims a policy may test, or NULL */
    const char *method;
    const char *path;
    const char *model;
    const char *endpoint;
    const char *decision;         /* "allow" | "deny" */
    const char *rule;
    const char *reason;           /* deny reason or NULL (left out) */
    const char *policy_sha256;
    int         status;
    json_t     *filters;          /* borrowed; array of {plugin, stage, verdict, count} */
    int64_t     max_tokens;       /* as the request asked (before any cap), -1 none */
    int64_t     prompt_chars;     /* -1 unknown */
    int         stream;           /* 1 streamed answer, 0 not */
    int64_t     prompt_tokens;    /* usage; both -1 writes "usage":null */
    int64_t     completion_tokens;
    const char *content;          /* "none" | "hash" | "redacted" | "full" */
    const char *prompt_sha256;    /* the following four are left out when NULL */
    const char *response_sha256;
    const char *prompt;
    const char *response;
    /* set: the two hashes above are HMAC-SHA256 under this key id (lib/hmac.h)
     * and are written "hash_key":ID, "prompt_hmac", "response_hmac" */
    const char *hash_key;
    /* Used only when `filters` is NULL: n plain entries instead (NULL/0
     * writes "filters":[] as before). */
    const aigov_record_filter_t *filter_list;
    size_t      nfilter_list;
    const char *quota_store;      /* "redis" | "local" | "none": which store
                                     admitted or refused; NULL left out */
    const char *phase;            /* "admit" | "done" | "deny": the last key; NULL left out */
    int         max_tokens_injected; /* 1: max_tokens was set by the gateway (the policy's
                                        limit), not asked: "max_tokens_injected":true */
    int         not_inspected;    /* 1: the gateway did not read the request's content
                                     (uninspectable: allow): "inspected":false */
    int64_t     n;                /* answers asked for (n, best_of, for each prompt of a
                                     completions list), which the policy's
                                     limits multiply: "n":N above 1, else left out */
    const char *unread;           /* a request that was read but holds text no filter
                                     can: what ("token_ids", "text_file"), written
                                     "unread":...; NULL left out */
    int         background;       /* 1: a Responses answer written in the background,
                                     not streamed (this request got it queued):
                                     "background":true */
    unsigned    media;            /* the kinds of binary media the request carries,
                                     which no filter reads (AIGOV_MEDIA_* of media.h):
                                     "media":["image","file"], left out when none */
} aigov_record_t;

/* Nesting of a record line (the record object is level 1) that the
 * verifier's reader (aigov_json_check) accepts, and so the deepest the
 * writers write: a claims, groups or filters container deeper than this is
 * written as the string AIGOV_RECORD_TOO_DEEP instead (docs/audit.md). */
#define AIGOV_RECORD_MAX_DEPTH 64
#define AIGOV_RECORD_TOO_DEEP  "[nested too deep]"

/* Every string a record holds is written as well-formed UTF-8 (a byte that
 * is not becomes U+FFFD) with the C1 controls, U+2028 and U+2029 escaped
 * as \uXXXX besides the C0 controls, so no tool splits a record line. */

/* A new JSON object for the record, without seq (keys in a fixed order). */
json_t *aigov_record_json(const aigov_record_t *r);
/* Serialises a record object (without "seq") once, outside any lock:
 * compact, one line, malloc'd "{...}". NULL if rec is not an object or
 * already holds "seq". */
char *aigov_record_body(const json_t *rec, size_t *len);
/* Under the lock: writes {"seq":N,<body minus its "{">\n into out. No
 * allocation. Returns the line length, or 0 when cap is too small;
 * AIGOV_RECORD_LINE_MAX(body_len) always suffices. */
#define AIGOV_RECORD_LINE_MAX(body_len) ((body_len) + 32)
size_t aigov_record_line(char *out, size_t cap, uint64_t seq, const char *body, size_t body_len);
/* The fast path (~0.5 us for a 1 KB record, against ~11 us): writes the
 * same body as aigov_record_body(aigov_record_json(r)) byte for byte,
 * straight from r, without building JSON (groups, claims and filters,
 * when given as json_t, are walked, not copied). No allocation. Like
 * snprintf it writes at most cap bytes (no NUL) and returns the whole
 * body's length: a return > cap means out was too small, call again with
 * that much room. Returns 0 (nothing usable in out) only for a json_t it
 * cannot read (NULL inside, an unknown type). Nesting is bounded by
 * AIGOV_RECORD_MAX_DEPTH, so is the stack. */
size_t aigov_record_write(char *out, size_t cap, const aigov_record_t *r);
/* The same for a completion record ("phase":"done"): ts, id, status,
 * stream, filters, usage, content, response_sha256 / response only. */
size_t aigov_record_write_done(char *out, size_t cap, const aigov_record_t *r);
/* The same, malloc'd and NUL-terminated; NULL on failure. */
char *aigov_record_body_fast(const aigov_record_t *r, size_t *len);
/* Convenience: body + line in one call, malloc'd. */
char *aigov_record_line_alloc(const json_t *rec, uint64_t seq, size_t *len);
/* RFC 3339 UTC with microseconds: "2024-05-01T12:00:00.123456Z" (28 bytes). */
void aigov_format_ts(int64_t ts_us, char out[32]);
/* Parses RFC 3339 (Z or offset, optional fraction) to microseconds; -1 bad. */
int aigov_parse_ts(const char *s, int64_t *ts_us);

/* Fast check that s[0..len) is one JSON value (no allocation). Returns 0
 * valid, 1 invalid, 2 valid so far but cut short (a torn line). */
int aigov_json_check(const char *s, size_t len);
/* The same, and fn is told each member of a top-level object as it is
 * checked (key without its quotes, value as raw bytes), so one pass both
 * checks a line and reads its fields. Members seen before a line turns
 * out bad are still told. */
typedef int (*aigov_json_member_fn)(void *ud, const char *key, size_t klen, const char *val, size_t vlen);
int aigov_json_check_top(const char *s, size_t len, aigov_json_member_fn fn, void *ud);
/* Reads {"seq":N at the start of a line: 0 and *seq, or -1. */
int aigov_record_seq(const char *line, size_t len, uint64_t *seq);

/* ---- verification (audit_verify.c) --------------------------------------- */

typedef struct {
    const char *reason;     /* "modified", "inserted", "removed", "reordered",
                               "truncated", "torn", "bad signature", "unknown key" */
    unsigned    file;       /* index into the files given, in order */
    uint64_t    line;       /* 1-based; 0 when not known */
    unsigned    last_file;  /* a range of lines ends here (== file, line otherwise) */
    uint64_t    last_line;
    int64_t     seq;        /* -1 when the problem is not about one record */
    int64_t     seq_last;   /* range of seqs, == seq otherwise */
    char        message[320];
} aigov_problem_t;

typedef void (*aigov_problem_fn)(void *ud, const aigov_problem_t *p);
typedef void (*aigov_progress_fn)(void *ud, unsigned file, uint64_t bytes, uint64_t lines);

typedef struct {
    uint64_t records;           /* leaves in the tree */
    uint64_t lines;
    uint64_t checkpoints;       /* checkpoint lines seen */
    uint64_t checkpoints_ok;    /* signature and root verified */
    uint64_t start_size;        /* size carried over at the start of the first file */
    uint64_t last_size;         /* newest verified checkpoint */
    unsigned last_file;
    uint64_t last_line;
    uint8_t  last_root[32];
    uint64_t uncovered;         /* records after the newest verified checkpoint */
    uint64_t problems;
    uint64_t mismatches_after;  /* checkpoints that fail only because an earlier one did */
    int      torn_tail;         /* the last file ends without a newline */
    uint64_t next_seq;          /* seq the next record must carry */
    uint64_t last_cp_size_any;  /* size of the last checkpoint line, signed or not */
    uint8_t  root[32];          /* root of all records */
} aigov_verify_summary_t;

typedef struct aigov_verify aigov_verify_t;

/* key NULL: signatures are not checked (recovery). */
aigov_verify_t *aigov_verify_new(const aigov_vkey_t *key, aigov_problem_fn on_problem, void *ud);
void aigov_verify_free(aigov_verify_t *v);
void aigov_verify_progress(aigov_verify_t *v, aigov_progress_fn fn);
/* A checkpoint kept from before: the log must extend it. -1 with err when
 * the note does not verify. */
int aigov_verify_expect(aigov_verify_t *v, const char *note, size_t len, char *err, size_t errlen);
/* Keep every leaf hash (for proofs); see aigov_verify_leaves. */
void aigov_verify_keep_leaves(aigov_verify_t *v);
/* Feed one file after the other. -1 with err on an I/O error. */
int aigov_verify_file(aigov_verify_t *v, const char *path, char *err, size_t errlen);
/* Or feed an in-memory file (fuzzing, tests). */
void aigov_verify_buffer(aigov_verify_t *v, const char *data, size_t len);
/* Ends the stream: reports what only the end can tell. */
void aigov_verify_finish(aigov_verify_t *v);
const aigov_verify_summary_t *aigov_verify_summary(const aigov_verify_t *v);
const aigov_tree_t *aigov_verify_tree(const aigov_verify_t *v);
/* The tree the first file carried over from before it (size start_size). */
const aigov_tree_t *aigov_verify_start(const aigov_verify_t *v);
const uint8_t (*aigov_verify_leaves(const aigov_verify_t *v, uint64_t *n))[32];
/* The newest checkpoint that verified (signature and root): its note text. */
const char *aigov_verify_last_note(const aigov_verify_t *v, size_t *len);

/* ---- recovery at start (audit_recover.c) --------------------------------- */

/* Reads an existing log (streaming) and rebuilds the tree over its complete
 * record lines so appending continues it. A missing or empty file gives the
 * empty tree. *needs_newline is set when the file ends in a torn line: the
 * writer must write "\n" before its first record. Returns 0 clean, 1
 * recovered with warnings (first one in err), -1 on I/O error (err). */
int aigov_log_recover(const char *path, aigov_tree_t *out, uint64_t *last_checkpoint_size,
                      int *needs_newline, char *err, size_t errlen);

#endif

/*
 * secrets.h: the secrets plugin's detectors, shared by its source files and
 * its unit test. Nothing here is exported from the shared object.
 */

#ifndef AIGOV_SECRETS_H
#define AIGOV_SECRETS_H

#include <stddef.h>

/* What a match is; each has a span label. */
typedef enum {
    SEC_AWS_KEY = 0,        /* AKIA... access key id */
    SEC_AWS_SECRET,         /* 40-char secret next to an aws_secret label */
    SEC_GCP_KEY,            /* AIza... */
    SEC_AZURE_KEY,          /* AccountKey= / SharedAccessKey= */
    SEC_OPENAI_KEY,         /* sk-, sk-proj-, sk-svcacct-, sk-admin- */
    SEC_ANTHROPIC_KEY,      /* sk-ant- */
    SEC_DEEPSEEK_KEY,       /* sk- and 32 lowercase hex */
    SEC_GITHUB_TOKEN,       /* ghp_ gho_ ghu_ ghs_ ghr_ github_pat_ */
    SEC_SLACK_TOKEN,        /* xoxb- xoxp- ... xapp- */
    SEC_STRIPE_KEY,         /* sk_live_ rk_live_ */
    SEC_GOOGLE_OAUTH,       /* ya29. */
    SEC_PRIVATE_KEY,        /* -----BEGIN ... PRIVATE KEY----- */
    SEC_JWT,
    SEC_BEARER,             /* "Bearer <token>" of no known kind */
    SEC_CONN_STRING,        /* scheme://user:pass@host, Password=...; */
    SEC_NKINDS
} sec_kind_t;

#define SEC_ALL  ((1u << SEC_NKINDS) - 1u)

typedef struct {
    size_t  start;
    size_t  end;
    int     kind;
} sec_match_t;

typedef struct {
    sec_match_t  *v;
    size_t        n;
    size_t        cap;
} sec_matches_t;

/* Per-stream memory: a private key block is longer than the host's overlap
 * window, so the stream remembers it is inside one. */
typedef struct {
    int  in_private_key;
} sec_stream_t;

/* Finds the positions where a credential may start (secrets_prefix.c): a
 * Vectorscan database and its scratch, one per plugin instance. */
typedef struct sec_finder_s sec_finder_t;

sec_finder_t *sec_finder_new(char *err, size_t errlen);
void sec_finder_free(sec_finder_t *f);

/* The candidate start positions in text, increasing, each once; valid
 * until the next run. Returns 0, or -1 when memory ran out or the text is
 * longer than Vectorscan takes (4 GiB). */
int sec_finder_run(sec_finder_t *f, const char *text, size_t len,
                   const size_t **at, size_t *n);

/* Finds every enabled kind (mask of 1u << sec_kind_t). Appends
 * non-overlapping matches in increasing order. stream may be NULL.
 * Returns 0, or -1 when memory ran out (or sec_finder_run failed). */
int sec_scan(sec_finder_t *f, const char *text, size_t len, unsigned mask,
             sec_stream_t *stream, sec_matches_t *out);

/* 1 when one of the words a credential starts with begins at i, or the
 * text from i to its end begins such a word ("sk", "AKI", "-----BEG"). */
int sec_prefix_at(const char *text, size_t len, size_t i);

/* In a stream: how many bytes at the end of text a credential could still
 * cover once more text follows (see tail() in aigov_plugin.h). stream may
 * be NULL. Not bounded here: the host caps it. */
size_t sec_tail(const char *text, size_t len, unsigned mask, const sec_stream_t *st);

/* Exposed for the unit test. */
int sec_is_placeholder(const char *s, size_t n);
int sec_jwt_header_ok(const char *b64, size_t n);

#endif /* AIGOV_SECRETS_H */

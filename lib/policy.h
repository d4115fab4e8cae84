/*
 * policy: governance policies (SPEC.md, "Policy language (version 1)").
 *
 * A policy is loaded and compiled once (at `nginx -t`, at reload, in the
 * aigov tool); deciding a request then reads only the compiled form and
 * allocates nothing. The library never calls the plugin host: content
 * filters are built through a factory callback the caller passes in.
 *
 * Thread safety: a loaded policy is read-only; many decisions may run at
 * once on one policy.
 */
#ifndef AIGOV_POLICY_H
#define AIGOV_POLICY_H

#include <stddef.h>
#include <jansson.h>

typedef struct aigov_policy_s aigov_policy_t;

/* Builds the instance of one `filters:` entry. plugin is the NAME of an
 * `aigov_plugin NAME PATH`; config is the entry's `config:` mapping as JSON
 * (an empty object when absent; plain scalars that look like numbers or
 * booleans are numbers or booleans); action is 1 flag, 2 redact, 3 block
 * (aigov_action_t). Returns the instance, or NULL with one sentence in err.
 * When the plugin is unknown the sentence starts "no plugin named" (the
 * error then points at the plugin name; otherwise at `config:`). */
typedef void *(*aigov_filter_factory_fn)(void *ctx, const char *plugin,
                                         const json_t *config, int action,
                                         char *err, size_t errlen);
typedef void (*aigov_filter_destroy_fn)(void *ctx, void *inst);

/* Stages a filter runs in (bit mask). */
#define AIGOV_STAGE_REQUEST   1u
#define AIGOV_STAGE_RESPONSE  2u

/* Filter actions, the same numbers as aigov_action_t in aigov_plugin.h. */
#define AIGOV_FILTER_FLAG     1
#define AIGOV_FILTER_REDACT   2
#define AIGOV_FILTER_BLOCK    3

typedef enum {
    AIGOV_CONTENT_NONE = 0,
    AIGOV_CONTENT_HASH,       /* the default */
    AIGOV_CONTENT_REDACTED,
    AIGOV_CONTENT_FULL
} aigov_content_t;

typedef struct {
    const char    *plugin;     /* NAME from aigov_plugin */
    void          *inst;       /* from the factory; NULL when loaded without one */
    unsigned       stages;     /* AIGOV_STAGE_* bits */
    int            action;     /* AIGOV_FILTER_* */
    int            fail_open;  /* on_error: allow (default 0: block, fail closed) */
    const char    *file;       /* where the entry is written */
    unsigned       line;
    unsigned       col;
} aigov_policy_filter_t;

/* 0 means "no limit". */
typedef struct {
    long long  max_tokens;
    long long  max_prompt_chars;
    long long  requests_per_minute;
    long long  tokens_per_minute;
    long long  tokens_per_day;
    long long  max_n;          /* answers one request may ask for (n, best_of;
                                  for each prompt of a completions list) */
} aigov_policy_limits_t;

#define AIGOV_POLICY_MAX_LIMIT  1000000000000LL   /* 10^12 */

/* What a decision looks at. Strings are NUL-terminated; claims is the
 * verified token's payload (a JSON object). */
typedef struct {
    const json_t  *claims;
    const char    *path;          /* request path without query, e.g. "/openai/v1/chat/completions" */
    const char    *endpoint;      /* canonical path of the endpoint kind (aigov_endpoint_name),
                                     "/v1/chat/completions"; NULL or "" when unknown */
    const char    *model;         /* NULL when the request names none */
    long long      max_tokens;    /* -1 when absent */
    long long      prompt_chars;  /* characters of prompt text */
    long long      n;             /* answers asked for (n, best_of, for each prompt of a
                                     completions list); below 1 counts as 1.
                                     max_tokens is per answer: n multiplies it against
                                     the limit */
    const char    *uninspectable; /* NULL when the gateway reads the request; else what
                                     it cannot read, for the message ("a PUT body") */
    const char    *unread;        /* NULL, or what a request the gateway reads holds that
                                     no filter can (token ids, a text file that does not
                                     decode), for the message. Refused uninspectable only
                                     by a rule with request filters: limits still count
                                     it, answer filters still read the answer */
    int            answer_later;  /* 1: the model writes the answer after the request
                                     ends (Responses "background", not streamed): no
                                     answer filter reads it. Refused uninspectable by
                                     a rule with answer filters */
    unsigned       media;         /* the kinds of binary media the request carries
                                     (AIGOV_MEDIA_* of media.h), for `when: media` */
} aigov_policy_input_t;

typedef struct {
    int                           allow;        /* 1 allow, 0 deny */
    int                           status;       /* 200, or 403 on deny */
    int                           rule_index;   /* -1 for the default */
    const char                   *rule;         /* rule name, or "default" */
    const char                   *code;         /* NULL on allow; model_not_allowed,
                                                   endpoint_not_allowed, max_tokens_exceeded,
                                                   n_exceeded, prompt_too_long, uninspectable,
                                                   denied, no_rule_matched */
    char                          message[512]; /* "" on allow; for the caller on deny */
    long long                     set_max_tokens; /* > 0: the request has no max_tokens, set it
                                                     (the limit shared by its n answers) */
    aigov_policy_limits_t         limits;       /* of the matched rule; quotas for lib/quota */
    const aigov_policy_filter_t  *filters;      /* of the matched rule (allow only) */
    size_t                        nfilters;
    aigov_content_t               content;      /* audit content */
    const char                   *subject;      /* "" when the token has none; points into
                                                   claims or into subject_buf below */
    char                          subject_buf[32];
    const json_t                 *groups;       /* the groups claim as sent (list or string), or NULL */
} aigov_decision_t;

/* Loads the file at path, or every *.yaml in the folder at path in name
 * order (hidden files and test-case files *.cases.yaml are skipped). On
 * failure returns NULL and *errors holds "file:line:col: message" lines
 * (malloc'd, caller frees); on success *errors is NULL. factory NULL skips
 * building filters (shape checks only); destroy is called on every
 * instance when the policy is freed. */
aigov_policy_t *aigov_policy_load(const char *path, aigov_filter_factory_fn factory,
                                  aigov_filter_destroy_fn destroy, void *ctx,
                                  char **errors);
/* The same from bytes in memory; name stands for the file in messages. */
aigov_policy_t *aigov_policy_load_mem(const char *name, const char *buf, size_t len,
                                      aigov_filter_factory_fn factory,
                                      aigov_filter_destroy_fn destroy, void *ctx,
                                      char **errors);
void aigov_policy_free(aigov_policy_t *p);

/* What loading accepted but a policy's author most likely did not mean:
 * "file:line:col: warning: message" lines (malloc'd with the policy), or
 * NULL when there are none. A rule no request can reach, a listed group,
 * subject, model or endpoint an earlier rule always takes first, a filter
 * that sees no text on its rule's endpoints, a limit without effect, a
 * model pattern no valid model name matches. `aigov policy check --strict`
 * fails on them; nginx -t logs them. */
const char *aigov_policy_warnings(const aigov_policy_t *p);
size_t aigov_policy_warning_count(const aigov_policy_t *p);

/* A model name as a request may give it: 1 to AIGOV_MODEL_NAME_MAX bytes of
 * ASCII letters, digits and . _ - : / @ (gpt-4o-mini, claude-3-5-sonnet-
 * 20241022, meta-llama/Llama-3.1-8B-Instruct, ft:gpt-4o-mini:acme::x1,
 * anthropic.claude-v2:1, @cf/meta/llama-3-8b). len is the whole value, so a
 * name with a NUL byte inside is refused. aigov_policy_decide refuses a
 * request whose model is not valid (400, code invalid_model) before any
 * rule sees it, so that no pattern such as "gpt-4o*" ever matches a name
 * with a line break, a space or a look-alike character. */
#define AIGOV_MODEL_NAME_MAX  256
int aigov_model_name_valid(const char *name, size_t len);
int aigov_model_name_char(unsigned char c);

/* Hex SHA-256 of the policy bytes, files concatenated in load order. */
const char *aigov_policy_sha256(const aigov_policy_t *p);
int aigov_policy_default_allow(const aigov_policy_t *p);
const char *aigov_policy_subject_claim(const aigov_policy_t *p);
const char *aigov_policy_groups_claim(const aigov_policy_t *p);
size_t aigov_policy_file_count(const aigov_policy_t *p);
const char *aigov_policy_file(const aigov_policy_t *p, size_t i);
/* File i's bytes as loaded (NUL-terminated, *len without the NUL), or NULL:
 * what the audit log's policy record holds. */
const char *aigov_policy_text(const aigov_policy_t *p, size_t i, size_t *len);
/* Loads n files given as bytes, in that order (as a folder's files), e.g.
 * from a policy record of the audit log; names stand for the files. */
aigov_policy_t *aigov_policy_load_texts(const char *const *names, const char *const *bufs,
                                        const size_t *lens, size_t n,
                                        aigov_filter_factory_fn factory,
                                        aigov_filter_destroy_fn destroy, void *ctx,
                                        char **errors);

/* Decides in and fills out. Allocates nothing; out points into p and into
 * in->claims, so both must outlive it. */
void aigov_policy_decide(const aigov_policy_t *p, const aigov_policy_input_t *in,
                         aigov_decision_t *out);

/* The rules, for explain and for the module's listing. */
size_t aigov_policy_rule_count(const aigov_policy_t *p);
const char *aigov_policy_rule_name(const aigov_policy_t *p, size_t i);
const char *aigov_policy_rule_file(const aigov_policy_t *p, size_t i, unsigned *line);
int aigov_policy_rule_allows(const aigov_policy_t *p, size_t i);
/* NULL when rule i's conditions all hold for in, else the first condition
 * that does not: "groups", "subjects", "claims", "endpoints", "models",
 * "media". */
const char *aigov_policy_rule_check(const aigov_policy_t *p, size_t i,
                                    const aigov_policy_input_t *in);

/* The caller's groups as a JSON list of strings (for audit records); the
 * caller drops its reference with json_decref. */
json_t *aigov_decision_groups(const aigov_decision_t *d);
const char *aigov_content_name(aigov_content_t c);

/* What a record's or test case's "unread" kind (token_ids, text_file) reads
 * as in the decision's message, as lib/request says it to the caller; a
 * kind not known here is still text no filter can read. */
const char *aigov_policy_unread_phrase(const char *kind);

/* Test cases for `aigov policy test` and `diff`: a YAML (or JSON) list of
 *   {name, claims: {...}, request: {model, endpoint, max_tokens, prompt_chars, n, inspected,
 *    unread, background, media: [image, audio, file]},
 *    expect: allow|deny, rule: NAME (optional), code: CODE (optional)} */
typedef struct {
    char      *name;
    unsigned   line;          /* where the case starts */
    json_t    *claims;
    char      *model;         /* NULL when absent */
    char      *endpoint;      /* default "/v1/chat/completions" */
    long long  max_tokens;    /* -1 when absent */
    long long  prompt_chars;
    long long  n;             /* answers asked for; 0 when absent (one) */
    int        uninspected;   /* inspected: false, a body the gateway does not read */
    char      *unread;        /* token_ids | text_file: text no request filter reads */
    int        background;    /* background: true, an answer no answer filter reads */
    unsigned   media;         /* media: the kinds of binary media (AIGOV_MEDIA_*) */
    int        expect_allow;
    char      *rule;          /* NULL when not checked */
    char      *code;          /* NULL when not checked */
} aigov_policy_case_t;

/* NULL with *errors ("file:line:col: message" lines) on failure. */
aigov_policy_case_t *aigov_policy_cases_load(const char *path, size_t *ncases,
                                             char **errors);
void aigov_policy_cases_free(aigov_policy_case_t *cases, size_t ncases);
/* The decision input of a case (points into the case). */
void aigov_policy_case_input(const aigov_policy_case_t *c, aigov_policy_input_t *in);

#endif

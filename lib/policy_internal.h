/* policy_internal: the compiled form of a policy, shared by policy_load.c
 * and policy_decide.c. Everything lives in one arena freed at once. */
#ifndef AIGOV_POLICY_INTERNAL_H
#define AIGOV_POLICY_INTERNAL_H

#include "media.h"
#include "policy.h"
#include "policy_glob.h"

typedef struct aigov_arena_block_s aigov_arena_block_t;
struct aigov_arena_block_s {
    aigov_arena_block_t  *next;
    size_t                used;
    size_t                size;
    /* data follows, 16-byte aligned */
};

typedef struct {
    aigov_arena_block_t  *head;
} aigov_arena_t;

void *aigov_arena_alloc(void *arena, size_t n);   /* zeroed; NULL on no memory */
char *aigov_arena_strdup(aigov_arena_t *a, const char *s);
void aigov_arena_free(aigov_arena_t *a);

/* One value of a claims condition, read in every form it may be compared
 * in, so that deciding converts nothing. */
typedef struct {
    const char  *text;
    int          is_num;
    double       num;
    int          is_int;      /* exact integer comparison beyond 2^53 */
    long long    ival;
    int          is_bool;
    int          boolean;
} aigov_pval_t;

typedef struct {
    const char    *key;        /* a claim path (claim_path.h): "tenant", "org.tenant", a."b.c" */
    aigov_pval_t  *vals;       /* any of */
    size_t         nvals;
} aigov_claim_cond_t;

typedef struct {
    const char             *name;
    const char             *file;
    unsigned                line;
    unsigned                col;
    int                     allow;
    const char             *reason;      /* NULL when not given */

    const char            **groups;      /* any of; NULL when not a condition */
    size_t                  ngroups;
    aigov_glob_t           *subjects;
    size_t                  nsubjects;
    aigov_claim_cond_t     *claims;
    size_t                  nclaims;
    aigov_glob_t           *models;
    size_t                  nmodels;
    aigov_glob_t           *endpoints;
    size_t                  nendpoints;
    unsigned                media;       /* any of these kinds (AIGOV_MEDIA_*);
                                            0 when not a condition */

    aigov_policy_limits_t   limits;
    aigov_policy_filter_t  *filters;
    size_t                  nfilters;
    aigov_content_t         content;
    int                     uninspectable_allow; /* uninspectable: allow */
} aigov_rule_t;

struct aigov_policy_s {
    aigov_arena_t             arena;
    aigov_rule_t             *rules;        /* malloc'd (grows while loading) */
    size_t                    nrules;
    int                       default_allow;
    const char               *subject_claim;
    const char               *groups_claim;
    char                      sha256[65];
    const char              **files;
    size_t                    nfiles;
    aigov_filter_destroy_fn   destroy;
    void                     *ctx;
    char                     *warnings;     /* malloc'd lines, NULL when none */
    size_t                    nwarnings;
    /* the bytes of each file as loaded, for the audit log's policy record */
    const char              **texts;
    size_t                   *text_lens;
    size_t                    ntexts;
};

/* policy_lint.c: the warnings of aigov_policy_warnings. */
struct aigov_errs_s;
struct aigov_ydoc_s;
struct yaml_node_s;
/* Checks of one rule that need its YAML (places of keys and patterns):
 * called by the loader once the rule is compiled. */
void aigov_lint_rule(struct aigov_errs_s *w, struct aigov_ydoc_s *y,
                     const aigov_rule_t *r, struct yaml_node_s *n);
/* Checks between rules (unreachable, partly shadowed), after loading. */
void aigov_lint_rules(struct aigov_errs_s *w, const aigov_policy_t *p);

/* Whether a rule needs the request's content: its filters read the text,
 * its token limits count it (policy_decide.c). */
int aigov_rule_inspects(const aigov_rule_t *r);

#endif

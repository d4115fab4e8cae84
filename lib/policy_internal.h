/* policy_internal: the compiled form of a policy, shared by policy_load.c
 * and policy_decide.c. Everything lives in one arena freed at once. */
#ifndef AIGOV_POLICY_INTERNAL_H
#define AIGOV_POLICY_INTERNAL_H

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
    const char    *key;        /* top-level claim, or a dotted path "org.tenant" */
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

    aigov_policy_limits_t   limits;
    aigov_policy_filter_t  *filters;
    size_t                  nfilters;
    aigov_content_t         content;
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
    /* the bytes of each file as loaded, for the audit log's policy record */
    const char              **texts;
    size_t                   *text_lens;
    size_t                    ntexts;
};

#endif

/*
 * policy_replay: decide the requests of an audit log again under another
 * policy (`aigov policy replay`), and tell which would be decided
 * differently.
 *
 * Only records whose recorded decision came from the policy are compared
 * (see policies/README.md, "Replaying a log"):
 *   - phase "admit" (or no phase) with decision "allow" and status 0 or 200;
 *   - phase "deny" (or no phase) with decision "deny", status 403 and no
 *     filter outcome (a filter that blocks leaves its outcome in "filters",
 *     a rule that denies stops the request before any filter runs);
 * and in both cases a "policy_sha256" and a "rule" string (no policy in
 * force means there was no policy decision). Refusals for other reasons
 * (400, 401, 413, 429, 503, filter blocks) and completion records (phase
 * "done", which repeat the admission) are counted but not compared.
 *
 * Two decisions are the same when both allow or both deny and the same
 * rule decides (the same test as `aigov policy diff`).
 *
 * Nothing here keeps global state; the log is read one line at a time.
 */
#ifndef AIGOV_POLICY_REPLAY_H
#define AIGOV_POLICY_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* Longer lines are skipped as unreadable (a full-content record is far
 * below this). */
#define AIGOV_REPLAY_LINE_MAX  (8u << 20)

/* One record whose decision would change. Pointers live only for the
 * duration of the callback; strings are never NULL ("" when absent). */
typedef struct {
    unsigned                 file;        /* index of the log, in the order fed */
    uint64_t                 line;        /* 1-based */
    uint64_t                 seq;
    const char              *id;
    const char              *sub;
    const char              *model;
    const char              *endpoint;
    const char              *path;
    int                      old_allow;
    const char              *old_rule;
    int                      old_status;  /* 0 for an admission */
    const char              *old_policy;  /* policy_sha256 on record */
    const aigov_decision_t  *now;         /* the new policy's decision */
} aigov_replay_change_t;

typedef void (*aigov_replay_change_fn)(void *ud, const aigov_replay_change_t *c);
/* A line that is not a readable record: why is one sentence. */
typedef void (*aigov_replay_bad_fn)(void *ud, unsigned file, uint64_t line, const char *why);

typedef struct {
    uint64_t lines;        /* lines read, empty ones included */
    uint64_t records;      /* admission and refusal records */
    uint64_t compared;     /* of those, decided by the policy: replayed */
    uint64_t changed;      /* of those, decided differently now */
    uint64_t not_policy;   /* records refused for a reason other than the
                              policy, or written with no policy in force */
    uint64_t completions;  /* phase "done": skipped */
    uint64_t checkpoints;  /* checkpoint lines: skipped */
    uint64_t unreadable;   /* not JSON, not a record, torn or too long */
} aigov_replay_summary_t;

typedef struct {
    const aigov_policy_t    *policy;
    aigov_replay_change_fn   on_change;  /* may be NULL */
    aigov_replay_bad_fn      on_bad;     /* may be NULL */
    void                    *ud;
    unsigned                 file;       /* set by aigov_replay_file */
    uint64_t                 line;       /* lines of that file read so far */
    aigov_replay_summary_t   sum;
} aigov_replay_t;

void aigov_replay_init(aigov_replay_t *r, const aigov_policy_t *p,
                       aigov_replay_change_fn on_change, aigov_replay_bad_fn on_bad,
                       void *ud);
/* One log line without its newline (any bytes; len may be 0). Returns 1
 * when the record would be decided differently, else 0. */
int aigov_replay_line(aigov_replay_t *r, const char *line, size_t len);
/* A whole log file, line by line; a last line without its newline is a
 * torn write and counts as unreadable. -1 with a sentence in err when the
 * file cannot be read. */
int aigov_replay_file(aigov_replay_t *r, unsigned file_index, const char *path,
                      char *err, size_t errlen);

#endif

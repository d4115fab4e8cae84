/*
 * quota_redis: the quota windows of lib/quota, kept in Redis so that a
 * fleet of gateways counts each subject once. Nothing here talks to the
 * network: this file holds the two Lua scripts (admissions, settlements),
 * builds their arguments and reads their answers; the module carries them.
 *
 * Atomicity: each admission and each settlement is one script (or the
 * admissions of one event loop turn one script together), which Redis runs
 * alone, so N gateways together admit exactly what one would.
 *
 * Clock: both scripts read Redis's TIME, so every gateway counts in the
 * windows of one clock (the calendar minute, the UTC day of the Redis
 * server), whatever the gateways' clocks say. Needs Redis 5 or later
 * (scripts that read TIME and then write).
 *
 * Keys: <prefix><subject>:m:<minute> is a hash {r: requests, t: tokens},
 * <prefix><subject>:d:<day> the day's tokens; each expires a minute after
 * its window ends. The subject is the key's middle as it is (keys are
 * binary-safe); the suffix, always ":m:" or ":d:" and digits, keeps two
 * subjects' keys apart. <prefix>aigov:settled:<id> is a worker's
 * settlement mark ("Settled once" below); its end is no ":m:" or ":d:"
 * and digits, so no subject's key is one. Not for Redis Cluster: the scripts name keys
 * derived from KEYS[1].
 */
#ifndef AIGOV_QUOTA_REDIS_H
#define AIGOV_QUOTA_REDIS_H

#include <stddef.h>

#include "quota.h"
#include "resp.h"

/* The scripts and their SHA-1 in hex (what EVALSHA names). */
const char *aigov_quota_redis_settle_script(void);
void aigov_quota_redis_sha1(const char *script, char hex[41]);

/* Admissions, one or many in one script (the module sends those of one
 * event loop turn together): "EVALSHA sha N base_1..base_N", then the
 * four numbers of each admission's reserve arguments (args[2..5]); one
 * admission is exactly its reserve arguments. The answer is split into
 * one reserve answer per admission, in order, for
 * aigov_quota_redis_verdict: 0, or -1 when it has another shape (each
 * then holds an error reply saying so). An error reply is given to each. */
const char *aigov_quota_redis_batch_script(void);
#define AIGOV_QUOTA_REDIS_BATCH_MAX  64
int aigov_quota_redis_batch_reply(const aigov_resp_reply_t *rep, size_t n, aigov_resp_reply_t *out);

/* The arguments after "EVALSHA sha" of one admission (batch script):
 * "1", the key base (prefix + subject) and the numbers; of one
 * settlement: "2", the key base, the sending connection's mark key, the
 * five numbers and the script's number seq. Returns the argument count;
 * args and lens get pointers into buf and mark (keep them while the
 * command is written).
 *
 * Settlements, one or many in one script (the module sends those of one
 * event loop turn together): "EVALSHA sha N+1 base_1..base_N mark", the
 * five numbers of each (its settle arguments args[3..7]), then seq; one
 * settlement is exactly its settle arguments.
 *
 * Settled once: a script whose connection failed before its answer came
 * may have run, so the module sends it again, the same settlements with
 * the same seq, and the script runs only if seq is above the highest its
 * mark key holds (then raised to seq; the key expires 25 hours after its
 * last use). That is right when each mark is one connection's (a worker's
 * own, named at random), its seqs rise in the order sent, and those sent
 * again go out first on the next connection, in their order: a script
 * that skips has run. One that Redis refused (NOSCRIPT) did not run; it
 * is sent again with a new seq, since those after it may have run
 * (another worker's EVAL loaded the script meanwhile). The one case left:
 * a script sent again after a failed connection that then meets NOSCRIPT
 * (the scripts flushed between the new connection's SCRIPT LOAD and it)
 * runs under its new seq even if its first sending ran. */
#define AIGOV_QUOTA_REDIS_ARGS  10
int aigov_quota_redis_reserve_args(char *buf, size_t buflen, const char *prefix,
                                   const char *subject, const aigov_quota_limits_t *lim,
                                   long long reserve, const char **args, size_t *lens);
int aigov_quota_redis_settle_args(char *buf, size_t buflen, const char *prefix,
                                  const char *subject, const char *mark,
                                  const aigov_quota_ticket_t *t, long long actual,
                                  long long seq, const char **args, size_t *lens);

/* Reads the reserve script's answer: 0 admitted (ticket filled), 1 refused
 * (retry_after, and msg in lib/quota's words), -1 when the reply is not
 * the script's (an error reply: msg holds it). */
int aigov_quota_redis_verdict(const aigov_resp_reply_t *rep, const aigov_quota_limits_t *lim,
                              long long reserve, aigov_quota_ticket_t *ticket,
                              long *retry_after, char *msg, size_t msglen);

#endif

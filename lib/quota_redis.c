/* quota_redis: lib/quota's windows as Lua scripts run inside Redis. */
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "quota_redis.h"

/* Admissions, in one script: KEYS are their key bases in order (one
 * subject may come many times), ARGV four numbers each (requests and
 * tokens per minute, tokens per day, the reservation). Each is decided as
 * aigov_quota_admit decides, in order: the same order of checks, the same
 * rule that a request bigger than a whole window is admitted into an
 * empty one; against counters read once per subject and kept in Lua, the
 * increments written once per subject at the end. The script runs alone,
 * so this is what the same admissions made one by one would give, at one
 * clock reading. A single admission is a batch of one. The answer is one
 * string of six numbers per admission (admitted or refused, the retry
 * time, the count that refused, the limit that refused or the windows
 * charged, the minute, the day), so that the module's reader, which keeps
 * scalars only, takes it whole. */
static const char batch_lua[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1])\n"
    "local minute, day = math.floor(now / 60), math.floor(now / 86400)\n"
    "local to_minute, to_day = 60 - now % 60, 86400 - now % 86400\n"
    "local subj, order, out = {}, {}, {}\n"
    "for i = 1, #KEYS do\n"
    "  local a = (i - 1) * 4\n"
    "  local rpm, tpm = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])\n"
    "  local tpd, res = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])\n"
    "  local s = subj[KEYS[i]]\n"
    "  if not s then\n"
    "    s = {mk = KEYS[i] .. ':m:' .. minute, dk = KEYS[i] .. ':d:' .. day, r = 0, t = 0, d = 0}\n"
    "    local m = redis.call('HMGET', s.mk, 'r', 't')\n"
    "    s.req, s.mt = tonumber(m[1]) or 0, tonumber(m[2]) or 0\n"
    "    subj[KEYS[i]] = s\n"
    "    order[#order + 1] = s\n"
    "  end\n"
    "  if tpd > 0 and not s.dt then s.dt = tonumber(redis.call('GET', s.dk)) or 0 end\n"
    "  local dt = s.dt or 0\n"
    "  local v\n"
    "  if tpd > 0 and dt > 0 and dt + res > tpd then v = {1, to_day, dt, 3}\n"
    "  elseif rpm > 0 and s.req + 1 > rpm then v = {1, to_minute, s.req, 1}\n"
    "  elseif tpm > 0 and s.mt > 0 and s.mt + res > tpm then v = {1, to_minute, s.mt, 2}\n"
    "  else\n"
    "    s.req, s.r, s.mt, s.t = s.req + 1, s.r + 1, s.mt + res, s.t + res\n"
    "    v = {0, 0, 0, 1}\n"
    "    if tpd > 0 then s.dt, s.d, v[4] = dt + res, s.d + res, 3 end\n"
    "  end\n"
    "  out[i] = string.format('%d %d %d %d %d %d', v[1], v[2], v[3], v[4], minute, day)\n"
    "end\n"
    "for _, s in ipairs(order) do\n"
    "  if s.r > 0 and redis.call('HINCRBY', s.mk, 'r', s.r) == s.r then\n"
    "    redis.call('EXPIRE', s.mk, to_minute + 60)\n"
    "  end\n"
    "  if s.t ~= 0 then redis.call('HINCRBY', s.mk, 't', s.t) end\n"
    "  if s.d ~= 0 and redis.call('INCRBY', s.dk, s.d) == s.d then\n"
    "    redis.call('EXPIRE', s.dk, to_day + 60)\n"
    "  end\n"
    "end\n"
    "return table.concat(out, ' ')\n";

/* Settlements, one or many in one script: KEYS are their key bases in
 * order, then the sending connection's mark; ARGV five numbers each (the
 * minute and day charged, which counters were, the reservation, the
 * usage), then the script's number. Each mirrors aigov_quota_settle: a
 * refund goes only into the window that was charged; usage above the
 * reservation is charged to the current one.
 *
 * Once only: the mark is the highest script number (ARGV's last) the
 * connection has had run. A script that was in flight when its connection
 * failed may or may not have run; the module sends it again, with its
 * number, on the next connection, and the mark tells. Numbers rise in the
 * order a connection sends, and Redis runs each connection's commands in
 * order, so a number at or below the mark has run (quota_redis.h). */
static const char settle_lua[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local n = #KEYS - 1\n"
    "local any = false\n"
    "for i = 1, n do\n"
    "  if ARGV[i * 5] ~= ARGV[i * 5 - 1] then any = true end\n"
    "end\n"
    "if not any then return 0 end\n"
    "local seq = tonumber(ARGV[n * 5 + 1])\n"
    "if seq <= (tonumber(redis.call('GET', KEYS[n + 1])) or 0) then return 2 end\n"
    "redis.call('SET', KEYS[n + 1], seq, 'EX', 90000)\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1])\n"
    "local cm, cd = math.floor(now / 60), math.floor(now / 86400)\n"
    "local function adjust(key, field, ttl, delta)\n"
    "  local v\n"
    "  if field then v = redis.call('HINCRBY', key, field, delta)\n"
    "  else v = redis.call('INCRBY', key, delta) end\n"
    "  if v < 0 then\n"
    "    if field then redis.call('HINCRBY', key, field, -v)\n"
    "    else redis.call('INCRBY', key, -v) end\n"
    "  end\n"
    "  if v == delta then redis.call('EXPIRE', key, ttl) end\n"
    "end\n"
    "for i = 1, n do\n"
    "  local a = (i - 1) * 5\n"
    "  local tm, td = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])\n"
    "  local charged = tonumber(ARGV[a + 3])\n"
    "  local delta = tonumber(ARGV[a + 5]) - tonumber(ARGV[a + 4])\n"
    "  if delta ~= 0 then\n"
    "    if charged % 2 == 1 and (tm == cm or delta > 0) then\n"
    "      adjust(KEYS[i] .. ':m:' .. cm, 't', 60 - now % 60 + 60, delta)\n"
    "    end\n"
    "    if charged >= 2 and (td == cd or delta > 0) then\n"
    "      adjust(KEYS[i] .. ':d:' .. cd, nil, 86400 - now % 86400 + 60, delta)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return 1\n";

const char *aigov_quota_redis_settle_script(void)
{
    return settle_lua;
}

const char *aigov_quota_redis_batch_script(void)
{
    return batch_lua;
}

/* The next integer of the answer, after one space; -1 at its end or on a
 * byte that does not belong. */
static int next_int(const char **p, const char *end, long long *v)
{
    int neg = 0, digits = 0;
    long long x = 0;

    if (*p < end && **p == ' ')
        (*p)++;
    if (*p < end && **p == '-') {
        neg = 1;
        (*p)++;
    }
    for (; *p < end && **p >= '0' && **p <= '9'; (*p)++, digits++) {
        if (digits == 18)
            return -1;
        x = x * 10 + (**p - '0');
    }
    if (digits == 0 || (*p < end && **p != ' '))
        return -1;
    *v = neg ? -x : x;
    return 0;
}

int aigov_quota_redis_batch_reply(const aigov_resp_reply_t *rep, size_t n, aigov_resp_reply_t *out)
{
    static const char shape[] = "the quota script gave an answer of another shape";
    const char *p, *end;
    size_t i;
    int j;

    if (rep->v.type == AIGOV_RESP_ERROR) {
        for (i = 0; i < n; i++)
            out[i] = *rep;
        return 0;
    }
    if (rep->v.type != AIGOV_RESP_BULK)
        goto bad;
    p = rep->v.str;
    end = p + rep->v.len;
    for (i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].v.type = AIGOV_RESP_ARRAY;
        out[i].nelems = 6;
        for (j = 0; j < 6; j++) {
            out[i].elem[j].type = AIGOV_RESP_INTEGER;
            if (next_int(&p, end, &out[i].elem[j].integer) < 0)
                goto bad;
        }
    }
    if (p != end)
        goto bad;
    return 0;
bad:
    for (i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].v.type = AIGOV_RESP_ERROR;
        out[i].v.str = shape;
        out[i].v.len = sizeof(shape) - 1;
    }
    return -1;
}

void aigov_quota_redis_sha1(const char *script, char hex[41])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    static const char digits[] = "0123456789abcdef";

    SHA1((const unsigned char *) script, strlen(script), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[40] = '\0';
}

/* "1", the key base, then the numbers, each written into buf; "2" and
 * mark after the key base when mark is not NULL. */
static int build(char *buf, size_t buflen, const char *prefix, const char *subject,
                 const char *mark, const long long *nums, int n, const char **args,
                 size_t *lens)
{
    size_t at = 0, pl = strlen(prefix), sl = strlen(subject);
    int k = 0, w;

    if (pl + sl + 1 + (size_t) n * 21 > buflen)
        return -1;
    /* the key base ends in a NUL of its own, so that it can be read back
     * as a string (a release sent for a request that is gone) */
    args[k] = mark ? "2" : "1";
    lens[k++] = 1;
    args[k] = buf;
    memcpy(buf, prefix, pl);
    memcpy(buf + pl, subject, sl);
    lens[k++] = pl + sl;
    buf[pl + sl] = '\0';
    at = pl + sl + 1;
    if (mark) {
        args[k] = mark;
        lens[k++] = strlen(mark);
    }
    for (int i = 0; i < n; i++) {
        w = snprintf(buf + at, buflen - at, "%lld", nums[i]);
        if (w < 0 || (size_t) w >= buflen - at)
            return -1;
        args[k] = buf + at;
        lens[k++] = (size_t) w;
        at += (size_t) w + 1;
    }
    return k;
}

int aigov_quota_redis_reserve_args(char *buf, size_t buflen, const char *prefix,
                                   const char *subject, const aigov_quota_limits_t *lim,
                                   long long reserve, const char **args, size_t *lens)
{
    long long nums[4] = { lim->rpm, lim->tpm, lim->tpd, reserve < 0 ? 0 : reserve };

    return build(buf, buflen, prefix, subject, NULL, nums, 4, args, lens);
}

int aigov_quota_redis_settle_args(char *buf, size_t buflen, const char *prefix,
                                  const char *subject, const char *mark,
                                  const aigov_quota_ticket_t *t, long long actual,
                                  long long seq, const char **args, size_t *lens)
{
    long long nums[6] = { t->minute, t->day, (long long) t->charged, t->reserved,
                          actual < 0 ? 0 : actual, seq };

    return build(buf, buflen, prefix, subject, mark, nums, 6, args, lens);
}

int aigov_quota_redis_verdict(const aigov_resp_reply_t *rep, const aigov_quota_limits_t *lim,
                              long long reserve, aigov_quota_ticket_t *ticket,
                              long *retry_after, char *msg, size_t msglen)
{
    long long v[6];

    memset(ticket, 0, sizeof(*ticket));
    *retry_after = 0;
    if (msglen)
        msg[0] = '\0';
    if (rep->v.type == AIGOV_RESP_ERROR) {
        snprintf(msg, msglen, "%.*s", (int) (rep->v.len > 200 ? 200 : rep->v.len),
                 rep->v.str);
        return -1;
    }
    if (rep->v.type != AIGOV_RESP_ARRAY || rep->nelems != 6) {
        snprintf(msg, msglen, "the quota script gave an answer of another shape");
        return -1;
    }
    for (int i = 0; i < 6; i++)
        if (aigov_resp_int(&rep->elem[i], &v[i]) < 0) {
            snprintf(msg, msglen, "the quota script gave an answer of another shape");
            return -1;
        }
    if (v[0] == 0) {
        ticket->reserved = reserve < 0 ? 0 : reserve;
        ticket->charged = (unsigned) v[3];
        ticket->minute = v[4];
        ticket->day = v[5];
        return 0;
    }
    *retry_after = v[1] > 0 ? (long) v[1] : 1;
    switch (v[3]) {
    case 3:
        snprintf(msg, msglen, "tokens_per_day limit of %lld reached (%lld used today); "
                 "retry in %ld seconds", lim->tpd, v[2], *retry_after);
        break;
    case 1:
        snprintf(msg, msglen, "requests_per_minute limit of %lld reached; retry in %ld seconds",
                 lim->rpm, *retry_after);
        break;
    default:
        snprintf(msg, msglen, "tokens_per_minute limit of %lld reached (%lld used, %lld more "
                 "asked); retry in %ld seconds", lim->tpm, v[2], reserve, *retry_after);
        break;
    }
    return 1;
}

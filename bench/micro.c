/*
 * bench-micro: single-threaded micro-benchmarks of the aigov library, no
 * nginx involved. Prints a Markdown table on stdout:
 *
 *   JWT verification (cold per algorithm, and cached), policy decisions,
 *   plugin scan throughput, request parsing and prompt filtering, the
 *   audit record path (with and without checkpoints), the log's hashing and
 *   records for one request, SHA-256 itself, and SSE answers.
 *
 * Each row runs for about MICRO_SECONDS (default 1.5) of wall time after a
 * short warm-up. Every result feeds a sink that is printed at the end, so
 * the compiler cannot drop the work; each row also checks that the work
 * did what it should (a signature was checked, a rule matched, findings
 * were found) and says so in its notes, or reports the row as failed.
 *
 * Files are found relative to the binary (build/bench-micro -> repo root),
 * or to the current directory when that does not work.
 *
 * MICRO_ONLY=jwt,policy,scan,request,audit,append,sse,metrics,verify runs only those sections.
 * MICRO_EVICT=KiB adds a cold row beside each step of a 1 KiB request.
 *
 * Build: bench/build-micro.sh (after `make build`).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "answer.h"
#include "audit.h"
#include "audit_policy.h"
#include "filter.h"
#include "hex.h"
#include "identity.h"
#include "jwt_sign.h"
#include "metrics.h"
#include "policy.h"
#include "request.h"
#include "sha256.h"

/* ------------------------------------------------------------ harness */

static volatile uint64_t g_sink;     /* everything measured ends up here */
static double g_seconds = 1.5;
static char g_root[PATH_MAX] = ".";

typedef uint64_t (*bench_fn)(void *ctx, uint64_t n);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define ROUNDS 5

/* The share of wall time the last measure() spent on the CPU: below ~90%
 * the machine was busy with something else and the row is pessimistic. */
static double g_cpu_share = 1.0;

/* Runs fn for about g_seconds in ROUNDS rounds of equal length, after a
 * warm-up of about 5% that also sizes the batches (a batch of about 1/50
 * of the run keeps the clock cheap). Returns the seconds and operations of
 * the median round, so that a moment of load on a shared machine moves
 * the figure less. */
static double measure(bench_fn fn, void *ctx, uint64_t *ops)
{
    uint64_t batch = 1;
    double t0 = now_s(), round_s = g_seconds / ROUNDS;
    double secs[ROUNDS], rate[ROUNDS];
    uint64_t count[ROUNDS];

    /* warm-up: grow the batch until it takes 1/50 of the run */
    for (;;) {
        double b0 = now_s();
        g_sink += fn(ctx, batch);
        double dt = now_s() - b0;
        if (dt >= g_seconds / 50 || batch >= (1ull << 40))
            break;
        if (now_s() - t0 >= g_seconds / 20 && dt > 0)
            break;
        batch *= 2;
    }
    double w0 = now_s(), c0 = cpu_s();
    for (int r = 0; r < ROUNDS; r++) {
        double r0 = now_s(), spent = 0.0;
        uint64_t n = 0;
        do {
            g_sink += fn(ctx, batch);
            n += batch;
            spent = now_s() - r0;
        } while (spent < round_s);
        secs[r] = spent;
        count[r] = n;
        rate[r] = (double)n / spent;
    }
    double wall = now_s() - w0, cpu = cpu_s() - c0;
    g_cpu_share = wall > 0 ? cpu / wall : 1.0;
    /* median round by rate */
    int idx[ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        idx[r] = r;
    for (int a = 1; a < ROUNDS; a++)
        for (int b = a; b > 0 && rate[idx[b]] < rate[idx[b - 1]]; b--) {
            int t = idx[b];
            idx[b] = idx[b - 1];
            idx[b - 1] = t;
        }
    int m = idx[ROUNDS / 2];
    *ops = count[m];
    return secs[m];
}

static void fmt_count(char *out, size_t cap, double v)
{
    /* thousands separators make 1234567 readable at a glance */
    char digits[64];
    unsigned long long n = (unsigned long long)(v + 0.5);
    int len = snprintf(digits, sizeof(digits), "%llu", n), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

static void row_raw(const char *name, const char *value, const char *nsop, const char *notes)
{
    printf("| %s | %s | %s | %s |\n", name, value, nsop, notes);
    fflush(stdout);
}

/* A measured row: its notes end with the CPU share of the run. */
static void row_measured(const char *name, const char *value, const char *nsop,
                         const char *notes)
{
    char n[600];
    snprintf(n, sizeof(n), "%s; cpu %.0f%%", notes, g_cpu_share * 100.0);
    row_raw(name, value, nsop, n);
}

/* One row in operations per second. */
static void row_ops(const char *name, double ops, double secs, const char *unit,
                    const char *notes)
{
    char v[80], c[64], ns[32];
    fmt_count(c, sizeof(c), ops / secs);
    snprintf(v, sizeof(v), "%s %s", c, unit);
    snprintf(ns, sizeof(ns), "%.0f", secs * 1e9 / ops);
    row_measured(name, v, ns, notes);
}

/* One row in MiB per second; ns/op is per call over bytes_per_op. */
static void row_mib(const char *name, double ops, double secs, size_t bytes_per_op,
                    const char *notes)
{
    char v[64], ns[32];
    snprintf(v, sizeof(v), "%.1f MiB/s", ops * (double)bytes_per_op / secs / (1024.0 * 1024.0));
    snprintf(ns, sizeof(ns), "%.0f", secs * 1e9 / ops);
    row_measured(name, v, ns, notes);
}

/*
 * Cold rows (MICRO_EVICT=KiB, 0 for none): one call right after writing
 * that much other memory, as a request meets the caches after the kernel's
 * network path and the other requests of a loop turn, and one call right
 * after it, hot. The two alternate, so a change in the machine's speed
 * falls on both alike; each is the median of its calls, clock included.
 */
static size_t g_evict_kib;
static unsigned char *g_evict_buf;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void row_cold(const char *name, bench_fn fn, void *ctx)
{
    size_t len = g_evict_kib * 1024, cap = 1 << 16, n = 0;
    double *hot, *cold, w0 = now_s();
    if (len == 0)
        return;
    if (g_evict_buf == NULL && (g_evict_buf = malloc(len)) == NULL)
        return;
    hot = malloc(cap * sizeof(double));
    cold = malloc(cap * sizeof(double));
    if (hot == NULL || cold == NULL) {
        free(hot);
        free(cold);
        return;
    }
    while (n < cap && now_s() - w0 < g_seconds) {
        for (size_t i = 0; i < len; i += 64)
            g_evict_buf[i] += (unsigned char)n;
        double t0 = now_s();
        g_sink += fn(ctx, 1);
        double t1 = now_s();
        g_sink += fn(ctx, 1);
        double t2 = now_s();
        cold[n] = t1 - t0;
        hot[n] = t2 - t1;
        n++;
    }
    qsort(hot, n, sizeof(double), cmp_double);
    qsort(cold, n, sizeof(double), cmp_double);
    char rn[160], v[64], ns[32], notes[200];
    snprintf(rn, sizeof(rn), "%s, cold", name);
    snprintf(v, sizeof(v), "%.2fx hot", cold[n / 2] / hot[n / 2]);
    snprintf(ns, sizeof(ns), "%.0f", cold[n / 2] * 1e9);
    snprintf(notes, sizeof(notes), "after writing %zu KiB of other memory; hot %.0f ns "
             "in the same run (medians of %zu calls each, clock included)",
             g_evict_kib, hot[n / 2] * 1e9, n);
    row_raw(rn, v, ns, notes);
    free(hot);
    free(cold);
}

static void row_fail(const char *name, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    /* a pipe would split the Markdown cell */
    for (char *p = why; *p; p++)
        if (*p == '|' || *p == '\n')
            *p = ' ';
    row_raw(name, "-", "-", why);
}

static const char *path_of(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", g_root, rel);
    return buf;
}

/* The repository root: the parent of the folder holding this binary when
 * it is build/, else the current directory. */
static void find_root(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    size_t len = strlen(exe);
    if (len >= 6 && strcmp(exe + len - 6, "/build") == 0) {
        exe[len - 6] = '\0';
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof(probe), "%s/policies/example.yaml", exe);
        if (access(probe, R_OK) == 0)
            snprintf(g_root, sizeof(g_root), "%s", exe);
    }
}

static void print_machine(void)
{
    char model[256] = "unknown";
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c != NULL) {
                    c++;
                    while (*c == ' ' || *c == '\t')
                        c++;
                    c[strcspn(c, "\n")] = '\0';
                    snprintf(model, sizeof(model), "%s", c);
                }
                break;
            }
        }
        fclose(f);
    }
    printf("Machine: %ld CPUs (nproc), %s; %s, jansson %s.\n",
           sysconf(_SC_NPROCESSORS_ONLN), model, OpenSSL_version(OPENSSL_VERSION),
           JANSSON_VERSION);
    printf("One thread, about %.2g s per row (MICRO_SECONDS) in %d rounds after a short warm-up; "
           "figures are the median round, ns/op is wall time per operation; "
           "cpu is the thread's CPU time over wall time (below ~90%%: the machine was busy).\n\n",
           g_seconds, ROUNDS);
    printf("| benchmark | ops/s or MB/s | ns/op | notes |\n");
    printf("| --- | ---: | ---: | --- |\n");
    fflush(stdout);
}

/* ------------------------------------------------------------ 1. JWT */

static void b64url(const unsigned char *in, size_t len, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
    }
    out[o] = '\0';
}

typedef struct {
    aigov_identity_t *id;
    char             *header;     /* "Bearer <jwt>" */
    size_t            len;
    time_t            now;
} jwt_ctx_t;

static uint64_t bench_verify(void *vctx, uint64_t n)
{
    jwt_ctx_t *c = vctx;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++) {
        json_t *claims = NULL;
        aigov_id_status_t st = aigov_identity_verify(c->id, c->header, c->len, c->now,
                                                     &claims, NULL, 0);
        s += (uint64_t)st + (claims != NULL ? json_object_size(claims) : 0);
        json_decref(claims);
    }
    return s;
}

/* "Bearer <token>" for the bench claims, signed by signer. */
static char *mint(const aigov_jwt_signer_t *signer, time_t now, char *err, size_t errlen)
{
    json_t *claims = json_pack("{s:s, s:s, s:s, s:[s], s:I, s:I, s:I}",
                               "iss", "https://idp.example.com", "aud", "aigov",
                               "sub", "bench", "groups", "engineers",
                               "iat", (json_int_t)now, "nbf", (json_int_t)now,
                               "exp", (json_int_t)now + 3600);
    if (claims == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char *jwt = aigov_jwt_sign(signer, NULL, claims, err, errlen);
    json_decref(claims);
    if (jwt == NULL)
        return NULL;
    size_t len = strlen(jwt);
    char *h = malloc(len + 8);
    if (h != NULL) {
        memcpy(h, "Bearer ", 7);
        memcpy(h + 7, jwt, len + 1);
    }
    free(jwt);
    return h;
}

static void bench_jwt(void)
{
    static const char hs_secret[] = "bench-hs256-secret-not-for-production-use-0123456789";
    char err[512], p[PATH_MAX + 64];
    char k[128], jwks[512];
    aigov_identity_t *cold = aigov_identity_new(), *warm = aigov_identity_new();
    time_t now = time(NULL);

    if (cold == NULL || warm == NULL) {
        row_fail("JWT verify", "out of memory");
        goto out;
    }
    b64url((const unsigned char *)hs_secret, sizeof(hs_secret) - 1, k);
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"bench-hs256\",\"alg\":\"HS256\",\"k\":\"%s\"}]}", k);
    aigov_identity_t *ids[2] = {cold, warm};
    for (int i = 0; i < 2; i++) {
        if (aigov_identity_add_key_file(ids[i], path_of(p, sizeof(p), "policies/keys/dev-jwks.json"),
                                        err, sizeof(err)) != 0
            || aigov_identity_add_key_mem(ids[i], jwks, strlen(jwks), "bench-hs.jwks",
                                          err, sizeof(err)) != 0
            || aigov_identity_set_issuer(ids[i], "https://idp.example.com") != 0
            || aigov_identity_set_audience(ids[i], "aigov") != 0) {
            row_fail("JWT verify", "keys: %s", err);
            goto out;
        }
    }
    if (aigov_identity_set_cache(cold, 0) != 0) {
        row_fail("JWT verify", "cannot disable the cache");
        goto out;
    }

    struct { const char *name, *file, *kid; } algs[] = {
        {"JWT verify RS256 (2048-bit), cold", "policies/keys/dev-rs256.pem", "dev-rs256"},
        {"JWT verify ES256 (P-256), cold", "policies/keys/dev-es256.pem", "dev-es256"},
        {"JWT verify HS256, cold", NULL, "bench-hs256"},
    };
    char *rs_header = NULL;
    for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
        aigov_jwt_signer_t *s = algs[a].file != NULL
            ? aigov_jwt_signer_load(path_of(p, sizeof(p), algs[a].file), algs[a].kid, err, sizeof(err))
            : aigov_jwt_signer_from_mem(hs_secret, sizeof(hs_secret) - 1, "hs-secret",
                                        algs[a].kid, err, sizeof(err));
        if (s == NULL) {
            row_fail(algs[a].name, "signer: %s", err);
            continue;
        }
        char *h = mint(s, now, err, sizeof(err));
        aigov_jwt_signer_free(s);
        if (h == NULL) {
            row_fail(algs[a].name, "sign: %s", err);
            continue;
        }
        jwt_ctx_t c = {cold, h, strlen(h), now};
        char msg[256] = "";
        json_t *claims = NULL;
        aigov_id_status_t st = aigov_identity_verify(cold, h, c.len, now, &claims, msg, sizeof(msg));
        json_decref(claims);
        if (st != AIGOV_ID_OK) {
            row_fail(algs[a].name, "token does not verify: %s (%s)", aigov_id_status_code(st), msg);
            free(h);
            continue;
        }
        uint64_t before, after, ops;
        aigov_identity_stats(cold, NULL, NULL, &before);
        double secs = measure(bench_verify, &c, &ops);
        aigov_identity_stats(cold, NULL, NULL, &after);
        char notes[256];
        /* the warm-up calls also count as signature checks */
        snprintf(notes, sizeof(notes), "cache off; %s calls checked the signature; token %zu B",
                 after - before >= ops ? "all" : "NOT ALL", c.len - 7);
        row_ops(algs[a].name, (double)ops, secs, "/s", notes);
        if (a == 0)
            rs_header = h;
        else
            free(h);
    }

    if (rs_header != NULL) {
        jwt_ctx_t c = {warm, rs_header, strlen(rs_header), now};
        uint64_t ops, hits0, hits1, sig0, sig1;
        aigov_identity_stats(warm, &hits0, NULL, &sig0);
        g_sink += bench_verify(&c, 1);          /* fills the cache */
        double secs = measure(bench_verify, &c, &ops);
        aigov_identity_stats(warm, &hits1, NULL, &sig1);
        char notes[256];
        snprintf(notes, sizeof(notes), "same RS256 token, cache on; %llu signature check(s), %s timed calls hit",
                 (unsigned long long)(sig1 - sig0), hits1 - hits0 >= ops ? "all" : "NOT ALL");
        row_ops("JWT verify, cached", (double)ops, secs, "/s", notes);
        row_cold("JWT verify, cached", bench_verify, &c);
        free(rs_header);
    }
out:
    aigov_identity_free(cold);
    aigov_identity_free(warm);
}

/* ------------------------------------------------------------ 2. policy */

typedef struct {
    const aigov_policy_t       *p;
    const aigov_policy_input_t *in;
} pol_ctx_t;

static uint64_t bench_decide(void *vctx, uint64_t n)
{
    pol_ctx_t *c = vctx;
    aigov_decision_t d;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++) {
        aigov_policy_decide(c->p, c->in, &d);
        s += (uint64_t)d.allow * 1000 + (uint64_t)(d.rule_index + 1) + d.nfilters;
    }
    return s;
}

static void bench_policy(void)
{
    char p[PATH_MAX + 64];
    char *errors = NULL;
    aigov_policy_t *pol = aigov_policy_load(path_of(p, sizeof(p), "policies/example.yaml"),
                                            NULL, NULL, NULL, &errors);
    if (pol == NULL) {
        row_fail("policy decide", "load: %s", errors ? errors : "?");
        free(errors);
        return;
    }
    json_t *eng = json_pack("{s:s, s:[s], s:s}", "sub", "alice", "groups", "engineers",
                            "employment", "staff");
    json_t *nobody = json_pack("{s:s, s:[s,s]}", "sub", "guest", "groups", "visitors", "press");
    aigov_policy_input_t allow_in = {
        .claims = eng, .path = "/v1/chat/completions", .endpoint = "/v1/chat/completions",
        .model = "gpt-4o", .max_tokens = 256, .prompt_chars = 1000,
    };
    aigov_policy_input_t deny_in = allow_in;
    deny_in.claims = nobody;
    deny_in.model = "gpt-4o-mini";

    struct { const char *name; aigov_policy_input_t *in; int want_allow; const char *what; } cases[] = {
        {"policy decide, allow", &allow_in, 1, "engineers, gpt-4o chat"},
        {"policy decide, default deny", &deny_in, 0, "groups [visitors, press]"},
    };
    for (size_t i = 0; i < 2; i++) {
        aigov_decision_t d;
        aigov_policy_decide(pol, cases[i].in, &d);
        if (d.allow != cases[i].want_allow || (!d.allow && d.rule_index != -1)) {
            row_fail(cases[i].name, "unexpected decision: allow=%d rule %s", d.allow, d.rule);
            continue;
        }
        pol_ctx_t c = {pol, cases[i].in};
        uint64_t ops;
        double secs = measure(bench_decide, &c, &ops);
        char notes[256];
        snprintf(notes, sizeof(notes), "policies/example.yaml (%zu rules), %s: rule %s",
                 aigov_policy_rule_count(pol), cases[i].what, d.rule);
        row_ops(cases[i].name, (double)ops, secs, "/s", notes);
        if (i == 0)
            row_cold(cases[i].name, bench_decide, &c);
    }
    json_decref(eng);
    json_decref(nobody);
    aigov_policy_free(pol);
}

/* ------------------------------------------------------------ plugins */

#define NPLUGINS 4

typedef struct {
    aigov_plugin_host_t *host;
    void                *inst[NPLUGINS];
    aigov_filter_spec_t  spec[NPLUGINS];
    int                  ok[NPLUGINS];
    char                 why[NPLUGINS][320];
} plugins_t;

static const char *plugin_names[NPLUGINS] = {"pii", "secrets", "blocklist", "injection"};
static const char *plugin_configs[NPLUGINS] = {
    "{\"types\":[\"email\",\"phone\",\"credit_card\"]}",
    "{}",
    "{\"terms\":[\"project neptune\",\"merger\",\"acquisition\"]}",
    "{\"threshold\":0.7}",
};
/* Plugins ignore the action (the host applies it); flag keeps a request
 * unchanged so that the same parsed request can be filtered again. */
static void plugins_load(plugins_t *pl, int action, unsigned stages)
{
    char p[PATH_MAX + 64], rel[64];
    memset(pl, 0, sizeof(*pl));
    pl->host = aigov_host_new();
    for (int i = 0; i < NPLUGINS; i++) {
        if (pl->host == NULL) {
            snprintf(pl->why[i], sizeof(pl->why[i]), "out of memory");
            continue;
        }
        snprintf(rel, sizeof(rel), "build/plugins/%s.so", plugin_names[i]);
        path_of(p, sizeof(p), rel);
        if (access(p, R_OK) != 0) {
            snprintf(pl->why[i], sizeof(pl->why[i]), "not available: %s is not built", rel);
            continue;
        }
        if (aigov_host_load(pl->host, plugin_names[i], p, pl->why[i], sizeof(pl->why[i])) != 0)
            continue;
        json_error_t je;
        json_t *cfg = json_loads(plugin_configs[i], 0, &je);
        pl->inst[i] = aigov_host_instance(pl->host, plugin_names[i], cfg, action,
                                          pl->why[i], sizeof(pl->why[i]));
        json_decref(cfg);
        if (pl->inst[i] == NULL)
            continue;
        pl->spec[i] = (aigov_filter_spec_t){
            .inst = pl->inst[i], .plugin = plugin_names[i], .stages = stages,
            .action = action, .on_error = AIGOV_ON_ERROR_BLOCK,
        };
        pl->ok[i] = 1;
    }
}

static void plugins_free(plugins_t *pl)
{
    for (int i = 0; i < NPLUGINS; i++)
        aigov_host_instance_free(pl->inst[i]);
    if (pl->host != NULL)
        aigov_host_free(pl->host);
}

/* ------------------------------------------------------------ 3. scan */

#define SCAN_BYTES (1024 * 1024)

/* Ordinary prose, nothing any plugin looks for; every few paragraphs one
 * of the sprinkles below, which pii or secrets should find. */
static const char *prose =
    "The regional office spent most of the spring reorganising its delivery routes. "
    "Drivers now start earlier on Mondays and Thursdays, when the warehouses are busiest, "
    "and the team has agreed to review the schedule again after the summer holidays. "
    "Customers in the northern towns reported fewer late parcels, although the weather in "
    "April caused a week of delays that nobody could have planned for. The finance group "
    "asked for a short note on fuel costs, which rose slightly, and on the two new vans, "
    "which arrived on time and within budget. Staff turnover stayed low, and the training "
    "days in March were well attended by new and experienced colleagues alike. ";
static const char *sprinkles[] = {
    "For questions write to jane.doe@northwind-mail.com before Friday. ",
    "The retired access key AKIAQ7ZK3M5N2XR4PLTW must not be reused. ",
    "Call the depot on +1 415 555 0132 if a van breaks down. ",
    "Her card 4111 1111 1111 1111 was charged twice, so the bank was told. ",
};

static char *make_scan_text(size_t *len)
{
    char *t = malloc(SCAN_BYTES + 1);
    size_t o = 0, plen = strlen(prose), para = 0;
    if (t == NULL)
        return NULL;
    while (o < SCAN_BYTES) {
        const char *piece = prose;
        size_t n = plen;
        if (++para % 40 == 0) {
            piece = sprinkles[(para / 40) % 4];
            n = strlen(piece);
        }
        if (n > SCAN_BYTES - o)
            n = SCAN_BYTES - o;
        memcpy(t + o, piece, n);
        o += n;
    }
    t[o] = '\0';
    *len = o;
    return t;
}

typedef struct {
    const aigov_filter_spec_t *spec;
    const char                *text;
    size_t                     len;
    size_t                     last_spans;
    int                        last_status;
} scan_ctx_t;

static uint64_t bench_scan(void *vctx, uint64_t n)
{
    scan_ctx_t *c = vctx;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++) {
        aigov_inspection_t ins;
        aigov_filter_inspect(c->spec, NULL, c->text, c->len, &ins);
        c->last_spans = ins.nspans;
        c->last_status = ins.status;
        s += ins.nspans + (uint64_t)ins.found + (uint64_t)(ins.status != 0);
    }
    return s;
}

static void bench_scan_all(void)
{
    plugins_t pl;
    size_t len;
    char *text = make_scan_text(&len);
    if (text == NULL) {
        row_fail("plugin scan", "out of memory");
        return;
    }
    plugins_load(&pl, AIGOV_ACTION_REDACT, AIGOV_STAGE_REQUEST);
    for (int i = 0; i < NPLUGINS; i++) {
        char name[64], notes[256];
        snprintf(name, sizeof(name), "scan 1 MiB prose: %s", plugin_names[i]);
        if (!pl.ok[i]) {
            row_fail(name, "%s", pl.why[i]);
            continue;
        }
        scan_ctx_t c = {&pl.spec[i], text, len, 0, 0};
        uint64_t ops;
        double secs = measure(bench_scan, &c, &ops);
        if (c.last_status != 0) {
            row_fail(name, "inspect failed (status %d)", c.last_status);
            continue;
        }
        snprintf(notes, sizeof(notes), "config %s; %zu spans found", plugin_configs[i], c.last_spans);
        row_mib(name, (double)ops, secs, len, notes);
    }
    plugins_free(&pl);
    free(text);
}

/* ------------------------------------------------------------ 4. request */

/* The same body bench/run.sh sends: a chat request of exactly size bytes. */
static char *make_body(size_t size, int stream)
{
    static const char *text =
        "Please summarise the quarterly operations review for the regional team. "
        "Focus on delivery times, staffing, supplier quality and the open risks, "
        "and suggest three next steps that a small team can take this month. ";
    static const char *head =
        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":"
        "\"You are a concise assistant for internal reports.\"},{\"role\":\"user\",\"content\":\"";
    const char *tail = stream ? "\"}],\"max_tokens\":256,\"temperature\":0.2,\"stream\":true}"
                              : "\"}],\"max_tokens\":256,\"temperature\":0.2}";
    size_t hl = strlen(head), tl = strlen(tail), xl = strlen(text);
    if (size < hl + tl + 1)
        return NULL;
    char *b = malloc(size + 1);
    if (b == NULL)
        return NULL;
    size_t room = size - hl - tl, o = hl;
    memcpy(b, head, hl);
    for (size_t i = 0; i < room; i++)
        b[o++] = text[i % xl];
    memcpy(b + o, tail, tl + 1);
    return b;
}

typedef struct {
    const char *body;
    size_t      len;
} parse_ctx_t;

static uint64_t bench_parse(void *vctx, uint64_t n)
{
    parse_ctx_t *c = vctx;
    uint64_t s = 0;
    char err[256];
    for (uint64_t i = 0; i < n; i++) {
        aigov_request_t rq;
        aigov_req_status_t st = aigov_request_parse_lent(&rq, AIGOV_EP_CHAT, c->body, c->len,
                                                    err, sizeof(err));
        s += (uint64_t)(st + 10) + rq.ntexts + rq.prompt_chars;
        aigov_request_free(&rq);
    }
    return s;
}

typedef struct {
    const aigov_filter_spec_t *spec;
    size_t                     n;
    aigov_request_t           *rq;
    int                        last;
} freq_ctx_t;

static uint64_t bench_filter_request(void *vctx, uint64_t n)
{
    freq_ctx_t *c = vctx;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++) {
        aigov_filter_outcome_t out;
        c->last = aigov_filter_request(c->spec, c->n, c->rq, &out);
        s += (uint64_t)(c->last + 2) + out.nrecords + (uint64_t)out.modified;
        aigov_filter_outcome_free(&out);
    }
    return s;
}

static void bench_request(void)
{
    size_t sizes[2] = {1024, 16384};
    char err[256];
    for (int i = 0; i < 2; i++) {
        char name[64], notes[160];
        char *body = make_body(sizes[i], 0);
        snprintf(name, sizeof(name), "request parse, chat %zu B", sizes[i]);
        if (body == NULL) {
            row_fail(name, "out of memory");
            continue;
        }
        aigov_request_t rq;
        if (aigov_request_parse(&rq, AIGOV_EP_CHAT, body, sizes[i], err, sizeof(err)) != AIGOV_REQ_OK) {
            row_fail(name, "does not parse: %s", err);
            aigov_request_free(&rq);
            free(body);
            continue;
        }
        size_t ntexts = rq.ntexts;
        aigov_request_free(&rq);
        parse_ctx_t c = {body, sizes[i]};
        uint64_t ops;
        double secs = measure(bench_parse, &c, &ops);
        snprintf(notes, sizeof(notes), "parse (body lent, as the gateway does) + free, %zu texts; %.1f MiB/s",
                 ntexts, (double)ops * (double)sizes[i] / secs / (1024.0 * 1024.0));
        row_ops(name, (double)ops, secs, "/s", notes);
        if (i == 0)
            row_cold(name, bench_parse, &c);
        free(body);
    }

    /* The 4 plugins over the 1 KiB request, as the bench's plugin row does. */
    const char *name = "filter_request, 4 plugins, chat 1024 B";
    plugins_t pl;
    plugins_load(&pl, AIGOV_ACTION_FLAG, AIGOV_STAGE_REQUEST);
    for (int i = 0; i < NPLUGINS; i++) {
        if (!pl.ok[i]) {
            row_fail(name, "%s: %s", plugin_names[i], pl.why[i]);
            plugins_free(&pl);
            return;
        }
    }
    char *body = make_body(1024, 0);
    aigov_request_t rq;
    if (body == NULL || aigov_request_parse(&rq, AIGOV_EP_CHAT, body, 1024, err, sizeof(err)) != AIGOV_REQ_OK) {
        row_fail(name, "body does not parse");
        if (body != NULL)
            aigov_request_free(&rq);
    } else {
        freq_ctx_t c = {pl.spec, NPLUGINS, &rq, 0};
        aigov_filter_outcome_t out;
        int r = aigov_filter_request(pl.spec, NPLUGINS, &rq, &out);
        size_t nrec = out.nrecords, found = 0;
        for (size_t k = 0; k < out.nrecords; k++)
            found += out.records[k].count;
        aigov_filter_outcome_free(&out);
        if (r != AIGOV_FILTER_PASS || nrec != NPLUGINS) {
            row_fail(name, "unexpected outcome %d with %zu records", r, nrec);
        } else {
            uint64_t ops;
            double secs = measure(bench_filter_request, &c, &ops);
            char notes[160];
            snprintf(notes, sizeof(notes), "%zu texts, action flag, parse excluded; %zu findings (benign prompt)",
                     rq.ntexts, found);
            row_ops(name, (double)ops, secs, "/s", notes);
            row_cold(name, bench_filter_request, &c);
            /* each plugin alone, to show which one the row's time is */
            for (int k = 0; k < NPLUGINS; k++) {
                char one[64];
                freq_ctx_t ck = {pl.spec + k, 1, &rq, 0};
                snprintf(one, sizeof(one), "filter_request, %s alone, chat 1024 B", plugin_names[k]);
                secs = measure(bench_filter_request, &ck, &ops);
                row_ops(one, (double)ops, secs, "/s", "same request and spec as above");
            }
        }
        aigov_request_free(&rq);
    }
    free(body);
    plugins_free(&pl);
}

/* ------------------------------------------------------------ 4b. long prompts */

/* The per-MiB floors of a long prompt's steps: the 1 MiB chat body of
 * bench/run.sh's prompt1m case parsed (lent, as the gateway does), the
 * four plugins over its text (filter_request, action flag), one SHA-256
 * of the body. The load rows' added time per MiB is compared with their
 * sum (bench/README.md). */
static uint64_t bench_sha256_body(void *vctx, uint64_t n)
{
    const parse_ctx_t *c = vctx;
    uint64_t s = 0;
    uint8_t md[32];

    for (uint64_t i = 0; i < n; i++) {
        aigov_sha256_2(c->body, c->len, NULL, 0, md);
        s += md[0];
    }
    return s;
}

static void bench_long(void)
{
    const size_t size = 1024 * 1024;
    char err[256], notes[200];
    char *body = make_body(size, 0);
    aigov_request_t rq;
    uint64_t ops;
    double secs;

    if (body == NULL || aigov_request_parse_lent(&rq, AIGOV_EP_CHAT, body, size, err,
                                                 sizeof(err)) != AIGOV_REQ_OK) {
        row_fail("request parse, chat 1 MiB", "body does not parse");
        free(body);
        return;
    }
    parse_ctx_t pc = {body, size};
    secs = measure(bench_parse, &pc, &ops);
    snprintf(notes, sizeof(notes), "floor per MiB: parse (lent) + free, %zu texts", rq.ntexts);
    row_mib("request parse, chat 1 MiB", (double)ops, secs, size, notes);

    plugins_t pl;
    plugins_load(&pl, AIGOV_ACTION_FLAG, AIGOV_STAGE_REQUEST);
    int all = 1;
    for (int i = 0; i < NPLUGINS; i++)
        all &= pl.ok[i];
    if (!all) {
        row_fail("filter_request, 4 plugins, chat 1 MiB", "plugins not built");
    } else {
        freq_ctx_t c = {pl.spec, NPLUGINS, &rq, 0};
        secs = measure(bench_filter_request, &c, &ops);
        row_mib("filter_request, 4 plugins, chat 1 MiB", (double)ops, secs, size,
                "floor per MiB: pii, secrets, blocklist, injection over the parsed texts, action flag");
    }
    plugins_free(&pl);
    aigov_request_free(&rq);

    secs = measure(bench_sha256_body, &pc, &ops);
    row_mib("SHA-256, 1 MiB body", (double)ops, secs, size,
            "floor per MiB: the admission record's prompt_sha256");
    free(body);
}

/* ------------------------------------------------------------ 5. audit */

typedef struct {
    aigov_record_t  rec;
    aigov_tree_t    tree;
    aigov_signer_t *signer;     /* NULL: no checkpoints */
    int             fd;
    uint64_t        seq;
    uint64_t        checkpoints;
    size_t          line_len;   /* of the last record, for the notes */
    off_t           written;
    int             failed;
} audit_ctx_t;

#define AUDIT_TRUNCATE_AT (256LL * 1024 * 1024)

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

#define AUDIT_LINE_CAP AIGOV_RECORD_LINE_MAX(4096)

/* A record as the module makes one, straight from the fields (no JSON
 * tree): its line, with seq and newline, in line, and the line's leaf
 * (without the newline) appended to tree. The line's length, or 0 when
 * the record does not fit. */
static size_t record_leaf(const aigov_record_t *r, int done, uint64_t seq, aigov_tree_t *tree,
                          char line[AUDIT_LINE_CAP], uint8_t leaf[32])
{
    char body[4096];
    size_t blen = done ? aigov_record_write_done(body, sizeof(body), r)
                       : aigov_record_write(body, sizeof(body), r);
    if (blen == 0 || blen > sizeof(body))
        return 0;
    size_t ll = aigov_record_line(line, AUDIT_LINE_CAP, seq, body, blen);
    if (ll == 0)
        return 0;
    aigov_leaf_hash(line, ll - 1, leaf);
    aigov_tree_append(tree, leaf);
    return ll;
}

static uint64_t bench_audit(void *vctx, uint64_t n)
{
    audit_ctx_t *c = vctx;
    uint64_t s = 0;
    char id[40];
    for (uint64_t i = 0; i < n && !c->failed; i++) {
        /* a new id and time per record, as the module has */
        snprintf(id, sizeof(id), "%016llx%016llx", 0x5eed5eedULL, (unsigned long long)c->seq);
        c->rec.id = id;
        c->rec.ts_us += 137;
        char line[AUDIT_LINE_CAP];
        uint8_t leaf[32];
        size_t ll = record_leaf(&c->rec, 0, c->seq, &c->tree, line, leaf);
        if (ll == 0 || write_all(c->fd, line, ll) != 0) {
            c->failed = 1;
            break;
        }
        c->line_len = ll;
        c->written += (off_t)ll;
        c->seq++;
        s += ll + leaf[0];
        if (c->signer != NULL && c->seq % 1000 == 0) {
            uint8_t root[32];
            size_t cl;
            aigov_tree_root(&c->tree, root);
            char *cp = aigov_checkpoint_line(c->signer, c->tree.size, root, &cl);
            if (cp == NULL || write_all(c->fd, cp, cl) != 0) {
                free(cp);
                c->failed = 1;
                break;
            }
            free(cp);
            c->written += (off_t)cl;
            c->checkpoints++;
            s += cl;
        }
        /* keep the temp file bounded; rare enough not to count */
        if (c->written > AUDIT_TRUNCATE_AT) {
            if (ftruncate(c->fd, 0) != 0)
                c->failed = 1;
            c->written = 0;
        }
    }
    return s;
}

/* What the module does for every served 1 KiB request when the log is on,
 * writes aside (a loop turn's records go out in one write): the prompt's
 * and the answer's SHA-256, then an admission and a completion record,
 * each a line, a leaf hash and a tree append. */
typedef struct {
    aigov_record_t  admit, done;
    aigov_tree_t    tree;
    const char     *body, *answer;
    size_t          body_len, answer_len;
    uint64_t        seq;
    int             failed;
} request_audit_ctx_t;

/* SHA-256 of p in hex, as the module puts a content hash in a record */
static void hex_sha256(const char *p, size_t n, char out[65])
{
    uint8_t md[32];

    aigov_sha256_2(p, n, NULL, 0, md);
    *aigov_hex(out, md, 32) = '\0';
}

static uint64_t bench_request_audit(void *vctx, uint64_t n)
{
    request_audit_ctx_t *c = vctx;
    uint64_t s = 0;
    char psha[65], rsha[65], id[40], line[AUDIT_LINE_CAP];
    uint8_t leaf[32];

    for (uint64_t i = 0; i < n && !c->failed; i++) {
        snprintf(id, sizeof(id), "%016llx%016llx", 0x5eed5eedULL, (unsigned long long)c->seq);
        hex_sha256(c->body, c->body_len, psha);
        c->admit.id = id;
        c->admit.ts_us += 137;
        c->admit.prompt_sha256 = psha;
        size_t a = record_leaf(&c->admit, 0, c->seq++, &c->tree, line, leaf);
        s += leaf[0];
        hex_sha256(c->answer, c->answer_len, rsha);
        c->done.id = id;
        c->done.ts_us = c->admit.ts_us + 300;
        c->done.response_sha256 = rsha;
        size_t d = record_leaf(&c->done, 1, c->seq++, &c->tree, line, leaf);
        if (a == 0 || d == 0)
            c->failed = 1;
        s += a + d + leaf[0];
    }
    return s;
}

static uint64_t bench_sha256_1k(void *vctx, uint64_t n)
{
    const char *p = vctx;
    uint64_t s = 0;
    uint8_t md[32];

    for (uint64_t i = 0; i < n; i++) {
        aigov_sha256_2(p, 1024, NULL, 0, md);
        s += md[0];
    }
    return s;
}

/* An Ed25519 key in a temp PEM file; path gets its name. */
static int make_ed25519(char *path, size_t cap)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, cap, "%s/aigov-micro-key-XXXXXX", tmp);
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    FILE *f = fdopen(fd, "w");
    int ok = k != NULL && f != NULL && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
    if (f != NULL)
        ok = fclose(f) == 0 && ok;
    else
        close(fd);
    EVP_PKEY_free(k);
    if (!ok)
        unlink(path);
    return ok ? 0 : -1;
}

/*
 * What appending a loop turn's records to the log costs the kernel: under
 * the bench's load a worker writes about four requests' records at once
 * (4 x 1220 B). Appending needs new page-cache pages; on a virtual machine
 * whose host gives memory back lazily a new page costs a fault on the
 * host, so the same write into pages already cached is timed beside it,
 * and the first touch of a fresh anonymous page alone.
 */
typedef struct {
    int     fd;
    char   *buf;
    size_t  len;
    off_t   off, region;    /* region > 0: pwrite over cached pages */
} append_ctx_t;

static uint64_t bench_append(void *vctx, uint64_t n)
{
    append_ctx_t *c = vctx;
    for (uint64_t i = 0; i < n; i++) {
        ssize_t w;
        if (c->region) {
            if (c->off + (off_t)c->len > c->region)
                c->off = 0;
            w = pwrite(c->fd, c->buf, c->len, c->off);
        } else {
            if (c->off > AUDIT_TRUNCATE_AT) {
                if (ftruncate(c->fd, 0) != 0)
                    return 0;
                c->off = 0;
            }
            w = write(c->fd, c->buf, c->len);
        }
        if (w != (ssize_t)c->len)
            return 0;
        c->off += w;
    }
    return n;
}

typedef struct {
    char   *p;
    size_t  len, at;
} touch_ctx_t;

static uint64_t bench_touch(void *vctx, uint64_t n)
{
    touch_ctx_t *c = vctx;
    for (uint64_t i = 0; i < n; i++) {
        if (c->p == NULL || c->at >= c->len) {
            if (c->p != NULL)
                munmap(c->p, c->len);
            c->p = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (c->p == MAP_FAILED) {
                c->p = NULL;
                return 0;
            }
            c->at = 0;
        }
        c->p[c->at] = 1;
        c->at += 4096;
    }
    return n;
}

static void bench_append_all(void)
{
    char path[PATH_MAX], notes[256];
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    size_t len = 4 * 1220;
    char *buf = malloc(len);
    uint64_t ops;
    double secs;

    snprintf(path, sizeof(path), "%s/aigov-micro-append-XXXXXX", tmp);
    int fd = mkstemp(path);
    if (buf == NULL || fd < 0) {
        row_fail("audit log append, 4 requests' records", "cannot make %s", path);
        free(buf);
        return;
    }
    memset(buf, 'x', len);
    unlink(path);

    append_ctx_t c = {fd, buf, len, 0, 0};
    secs = measure(bench_append, &c, &ops);
    snprintf(notes, sizeof(notes), "write(O_APPEND) of %zu B to a growing file in %s: new "
             "page-cache pages; ns/op is per write, four requests' worth", len, tmp);
    row_ops("audit log append, 4 requests' records", (double)ops, secs, "writes/s", notes);

    /* the same writes over 8 MiB written once: pages already cached */
    if (ftruncate(fd, 0) == 0) {
        append_ctx_t w = {fd, buf, len, 0, 0};
        bench_append(&w, (8u << 20) / len);
        append_ctx_t o = {fd, buf, len, 0, (off_t)((8u << 20) / len) * (off_t)len};
        secs = measure(bench_append, &o, &ops);
        row_ops("audit log append, same bytes into cached pages", (double)ops, secs, "writes/s",
                "pwrite of the same size over pages the file already has: what a write costs "
                "without new pages");
    }
    close(fd);
    free(buf);

    touch_ctx_t t = {NULL, 64u << 20, 0};
    secs = measure(bench_touch, &t, &ops);
    row_ops("first touch of a fresh page", (double)ops, secs, "pages/s",
            "one byte written per 4 KiB of new anonymous memory (mmap, 64 MiB at a time): "
            "the fault that every new page costs");
    if (t.p != NULL)
        munmap(t.p, t.len);
}

static void bench_audit_all(void)
{
    char keypath[PATH_MAX], logpath[PATH_MAX], err[256];
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    aigov_signer_t *signer = NULL;

    if (make_ed25519(keypath, sizeof(keypath)) == 0) {
        signer = aigov_signer_load(keypath, "bench.example/aigov", err, sizeof(err));
        unlink(keypath);
    } else {
        snprintf(err, sizeof(err), "cannot make an Ed25519 key");
    }

    json_t *groups = json_pack("[s]", "engineers");
    static const aigov_record_filter_t filters[] = {
        { "pii", "request", "allow", 0, 0 }, { "secrets", "request", "allow", 0, 0 },
        { "blocklist", "request", "allow", 0, 0 }, { "injection", "request", "allow", 0, 0 },
    };
    json_t *claims = json_pack("{s:s}", "employment", "staff");

    for (int with_cp = 0; with_cp < 2; with_cp++) {
        const char *name = with_cp ? "audit record path + checkpoint every 1000"
                                   : "audit record path";
        if (with_cp && signer == NULL) {
            row_fail(name, "signer: %s", err);
            continue;
        }
        snprintf(logpath, sizeof(logpath), "%s/aigov-micro-log-XXXXXX", tmp);
        int tfd = mkstemp(logpath);
        int fd = tfd >= 0 ? open(logpath, O_WRONLY | O_APPEND | O_CLOEXEC) : -1;
        if (tfd >= 0)
            close(tfd);
        if (fd < 0) {
            row_fail(name, "cannot open a temp log in %s: %s", tmp, strerror(errno));
            if (tfd >= 0)
                unlink(logpath);
            continue;
        }
        audit_ctx_t c;
        memset(&c, 0, sizeof(c));
        c.rec = (aigov_record_t){
            .ts_us = (int64_t)time(NULL) * 1000000, .sub = "alice", .groups = groups,
            .iss = "https://idp.example.com", .claims = claims,
            .method = "POST", .path = "/v1/chat/completions", .model = "gpt-4o-mini",
            .endpoint = "/v1/chat/completions", .decision = "allow", .rule = "engineers",
            .policy_sha256 = "9f2c1a7e5b3d4c6a8e0f1b2d3c4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",
            .status = 200, .filter_list = filters, .nfilter_list = 4,
            .max_tokens = 256, .prompt_chars = 912, .phase = "admit",
            .stream = 0, .prompt_tokens = 230, .completion_tokens = 42, .content = "hash",
            .prompt_sha256 = "3b5d9a0c1e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b",
            .response_sha256 = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00",
        };
        aigov_tree_init(&c.tree);
        c.signer = with_cp ? signer : NULL;
        c.fd = fd;
        uint64_t ops;
        double secs = measure(bench_audit, &c, &ops);
        if (c.failed) {
            row_fail(name, "a record could not be built or written");
        } else {
            char notes[256];
            snprintf(notes, sizeof(notes),
                     "record writer + line + leaf hash + tree append + one write(O_APPEND) each "
                     "(the module writes a loop turn's records at once); %zu B lines%s",
                     c.line_len,
                     with_cp ? "; Ed25519 signed note every 1000 records" : "");
            if (with_cp) {
                size_t l = strlen(notes);
                snprintf(notes + l, sizeof(notes) - l, " (%llu signed)",
                         (unsigned long long)c.checkpoints);
            }
            row_ops(name, (double)ops, secs, "records/s", notes);
        }
        close(fd);
        unlink(logpath);
    }

    /* the floor of the log's cost per request: hashing and records only */
    {
        const char *name = "audit work of one 1 KiB request, writes aside";
        static const char answer[] =
            "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,"
            "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            "\"content\":\"Delivery times improved by a week, staffing is stable and supplier "
            "quality rose. Next steps: renew the two weakest contracts, hire one planner, and "
            "review open risks every Friday.\"},\"finish_reason\":\"stop\"}],\"usage\":"
            "{\"prompt_tokens\":230,\"completion_tokens\":42,\"total_tokens\":272}}";
        char *body = make_body(1024, 0);
        /* the claims as the gateway records them for the bench's token */
        json_t *tok = json_pack("{s:I,s:I,s:s,s:[s]}", "iat", (json_int_t)1795851714,
                                "exp", (json_int_t)1795855314, "sub", "bench",
                                "groups", "engineers");
        request_audit_ctx_t c;
        memset(&c, 0, sizeof(c));
        c.admit = (aigov_record_t){
            .ts_us = (int64_t)time(NULL) * 1000000, .sub = "bench", .groups = groups,
            .iss = NULL, .claims = tok,
            .method = "POST", .path = "/v1/chat/completions", .model = "gpt-4o-mini",
            .endpoint = "/v1/chat/completions", .decision = "allow", .rule = "bench-engineers",
            .policy_sha256 = "7c59d4f767dbf16857f4205c064082c545d05bfbfec09af7e3c5497a080577ec",
            .status = 0, .filter_list = filters, .nfilter_list = 4,
            .max_tokens = 256, .prompt_chars = 893, .phase = "admit",
            .prompt_tokens = -1, .completion_tokens = -1, .content = "hash",
        };
        c.done = (aigov_record_t){
            .status = 200, .prompt_tokens = 230, .completion_tokens = 42, .content = "hash",
        };
        aigov_tree_init(&c.tree);
        c.body = body;
        c.body_len = 1024;
        c.answer = answer;
        c.answer_len = sizeof(answer) - 1;
        if (body == NULL || tok == NULL) {
            row_fail(name, "out of memory");
        } else {
            uint64_t ops;
            double secs = measure(bench_request_audit, &c, &ops);
            if (c.failed) {
                row_fail(name, "a record could not be built");
            } else {
                char notes[256];
                snprintf(notes, sizeof(notes),
                         "SHA-256 of the 1024 B body and the %zu B answer, an admission and a "
                         "completion record (line, leaf hash, tree append each), as the module "
                         "does per request; no write(), no lock",
                         c.answer_len);
                row_ops(name, (double)ops, secs, "requests/s", notes);
                row_cold(name, bench_request_audit, &c);
            }
            uint64_t ops2;
            double secs2 = measure(bench_sha256_1k, body, &ops2);
            row_mib("SHA-256, 1 KiB", (double)ops2, secs2, 1024,
                    "lib/sha256 (OpenSSL's SHA256_*, SHA-NI where the CPU has it); the floor "
                    "under every hash the log must take");
        }
        free(body);
        json_decref(tok);
    }
    json_decref(groups);
    json_decref(claims);
    aigov_signer_free(signer);
}

/* ------------------------------------------------------------ 6. SSE */

#define SSE_EVENTS 200
#define SSE_PIECE  4096
#define SSE_EMAILS 7        /* word chunks 25, 50, ..., 175 */

/* 200 events in OpenAI's chunk shape, as the bench's mock serves: a role
 * chunk, 197 word chunks, a usage chunk, [DONE]. Every 25th word chunk
 * carries an email address, which pii should mask. */
static char *make_sse(size_t *len, size_t *events)
{
    static const char *id =
        "\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\"";
    static const char *words[] = {"The", "quarter", "closed", "with", "delivery", "times", "down",
        "and", "staffing", "stable", "across", "the", "region", "while", "supplier", "quality",
        "improved"};
    size_t cap = 64 * 1024, o = 0, n = 0;
    char *b = malloc(cap);
    if (b == NULL)
        return NULL;
#define EMIT(...) do { \
        int w_ = snprintf(b + o, cap - o, __VA_ARGS__); \
        if (w_ < 0 || (size_t)w_ >= cap - o) { free(b); return NULL; } \
        o += (size_t)w_; n++; \
    } while (0)
    EMIT("data: {%s,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
         "\"finish_reason\":null}]}\n\n", id);
    for (int i = 1; i <= SSE_EVENTS - 3; i++) {
        const char *w = i % 25 == 0 ? "mail ops.lead@northwind-mail.com" : words[i % 17];
        EMIT("data: {%s,\"choices\":[{\"index\":0,\"delta\":{\"content\":\" %s\"},"
             "\"finish_reason\":null}]}\n\n", id, w);
    }
    EMIT("data: {%s,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
         "\"usage\":{\"prompt_tokens\":230,\"completion_tokens\":197,\"total_tokens\":427}}\n\n", id);
    EMIT("data: [DONE]\n\n");
#undef EMIT
    *len = o;
    *events = n;
    return b;
}

typedef struct {
    const char                *sse;
    size_t                     len;
    const aigov_filter_spec_t *spec;
    size_t                     nspec;
    int                        bad;         /* usage missing or an error */
    int                        modified;
    size_t                     out_bytes;
    size_t                     masks;       /* in the last stream */
} sse_ctx_t;

/* Takes the output; counts "[REDACTED:" in it when masks is not NULL (a
 * mark split across two drains is missed, which only under-counts). */
static size_t drain(aigov_answer_t *a, size_t *masks)
{
    size_t n = 0;
    const char *p = aigov_answer_output(a, &n);
    if (p != NULL && n > 0) {
        g_sink += (unsigned char)p[n - 1];
        for (const char *q = p; masks != NULL && (q = memmem(q, n - (size_t)(q - p), "[REDACTED:", 10)) != NULL; q += 10)
            (*masks)++;
        aigov_answer_consume(a, n);
    }
    return n;
}

/* One op = one whole stream; events are counted by the caller. */
static uint64_t bench_sse(void *vctx, uint64_t n)
{
    sse_ctx_t *c = vctx;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++) {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_CHAT, 1, c->spec, c->nspec, 0);
        size_t out = 0, masks = 0, *mp = c->nspec ? &masks : NULL;
        if (a == NULL) {
            c->bad = 1;
            return s;
        }
        for (size_t off = 0; off < c->len; off += SSE_PIECE) {
            size_t k = c->len - off < SSE_PIECE ? c->len - off : SSE_PIECE;
            if (aigov_answer_feed(a, c->sse + off, k) != 0)
                c->bad = 1;
            out += drain(a, mp);
        }
        if (aigov_answer_finish(a) != 0)
            c->bad = 1;
        out += drain(a, mp);
        long long pt = -1, ct = -1;
        if (!aigov_answer_usage(a, &pt, &ct) || pt != 230 || ct != 197 || aigov_answer_blocked(a))
            c->bad = 1;
        c->modified = aigov_answer_modified(a);
        c->out_bytes = out;
        c->masks = masks;
        s += out + (uint64_t)pt + (uint64_t)ct;
        aigov_answer_free(a);
    }
    return s;
}

static void bench_sse_all(void)
{
    size_t len, events;
    char *sse = make_sse(&len, &events);
    if (sse == NULL) {
        row_fail("SSE", "out of memory");
        return;
    }
    plugins_t pl;
    plugins_load(&pl, AIGOV_ACTION_REDACT, AIGOV_STAGE_RESPONSE);

    /* MICRO_SSE=plain or pii: one of the two, for a profiler */
    const char *which = getenv("MICRO_SSE");
    for (int with_pii = 0; with_pii < 2; with_pii++) {
        const char *name = with_pii ? "SSE answer, pii redact on response" : "SSE answer, no filter";
        if (which && strcmp(which, with_pii ? "pii" : "plain") != 0)
            continue;
        if (with_pii && !pl.ok[0]) {
            row_fail(name, "%s", pl.why[0]);
            continue;
        }
        sse_ctx_t c = {sse, len, with_pii ? &pl.spec[0] : NULL, with_pii ? 1u : 0u, 0, 0, 0, 0};
        uint64_t ops;
        double secs = measure(bench_sse, &c, &ops);
        if (c.bad || (with_pii && (!c.modified || c.masks != SSE_EMAILS)) || (!with_pii && c.out_bytes != 0)) {
            row_fail(name, "unexpected result: bad=%d modified=%d output %zu B, %zu masks",
                     c.bad, c.modified, c.out_bytes, c.masks);
            continue;
        }
        char notes[256];
        snprintf(notes, sizeof(notes),
                 "streams of %zu events (%zu B, ~%zu B/event) fed in 4 KiB pieces; %.1f MiB/s; %s",
                 events, len, len / events,
                 (double)ops * (double)len / secs / (1024.0 * 1024.0),
                 with_pii ? "7 emails masked per stream" : "pass-through, usage read");
        row_ops(name, (double)ops * (double)events, secs, "events/s", notes);
    }
    plugins_free(&pl);
    free(sse);
}

/* ------------------------------------------------------------ main */

static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p; ) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, name, n) == 0)
            return 1;
        p += k;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ---- metrics ---- */

/* What the log phase counts for one proxied, filtered request: a request
 * series, four filter verdicts at each stage, plugin calls and time, and
 * four histograms (ngx_http_aigov_metrics_request). */
typedef struct {
    void                   *mem;
    aigov_metrics_batch_t  *batch;     /* NULL: atomics on every count */
    unsigned                plugin[4], model, rule;
    pthread_barrier_t      *start;
    uint64_t                n;
} metrics_ctx_t;

static void metrics_one(metrics_ctx_t *c, uint64_t i)
{
    unsigned lv[5] = { 1, c->model, c->rule, 0, 200 }, ml[3] = { 0, c->model, 0 };

    aigov_metrics_batch_add(c->batch, c->mem, AIGOV_M_REQUESTS, lv, 1);
    for (int st = 0; st < 2; st++) {
        for (int p = 0; p < 4; p++) {
            unsigned fv[3] = { c->plugin[p], (unsigned) st, 0 };
            aigov_metrics_batch_add(c->batch, c->mem, AIGOV_M_FILTER_VERDICTS, fv, 1);
        }
    }
    for (int p = 0; p < 4; p++) {
        aigov_metrics_batch_add(c->batch, c->mem, AIGOV_M_PLUGIN_CALLS, &c->plugin[p], 3);
        aigov_metrics_batch_add(c->batch, c->mem, AIGOV_M_PLUGIN_SECONDS, &c->plugin[p], 900);
    }
    aigov_metrics_batch_observe(c->batch, c->mem, AIGOV_M_GATEWAY_DURATION, lv, 40 + i % 64);
    aigov_metrics_batch_observe(c->batch, c->mem, AIGOV_M_SERVER_DURATION, ml, 900 + i % 512);
    ml[2] = 0;
    aigov_metrics_batch_observe(c->batch, c->mem, AIGOV_M_TOKEN_USAGE, ml, 230);
    ml[2] = 1;
    aigov_metrics_batch_observe(c->batch, c->mem, AIGOV_M_TOKEN_USAGE, ml, 42);
}

static uint64_t bench_metrics_requests(void *vctx, uint64_t n)
{
    metrics_ctx_t *c = vctx;

    for (uint64_t i = 0; i < n; i++) {
        metrics_one(c, i);
        /* the module flushes at most every 50 ms: a few thousand requests */
        if (c->batch && (i & 1023) == 1023)
            aigov_metrics_batch_flush(c->batch, c->mem);
    }
    return n;
}

static void *metrics_thread(void *p)
{
    metrics_ctx_t *c = p;

    pthread_barrier_wait(c->start);
    bench_metrics_requests(c, c->n);
    aigov_metrics_batch_flush(c->batch, c->mem);
    return NULL;
}

/* ---- verify: the per-line floors of `aigov audit verify` ------------------- */

typedef struct {
    char   line[2048];
    size_t len;
    int    bad;
} verify_ctx_t;

static uint64_t bench_leaf(void *vctx, uint64_t n)
{
    verify_ctx_t *c = vctx;
    uint8_t h[32];

    for (uint64_t i = 0; i < n; i++) {
        c->line[9] = (char) ('0' + (i & 7));
        aigov_leaf_hash(c->line, c->len, h);
        g_sink += h[0];
    }
    return n;
}

static uint64_t bench_json_check(void *vctx, uint64_t n)
{
    verify_ctx_t *c = vctx;

    for (uint64_t i = 0; i < n; i++) {
        aigov_record_policy_t pol;
        memset(&pol, 0, sizeof(pol));
        if (aigov_json_check_top(c->line, c->len, aigov_record_policy_member, &pol) != 0 || !pol.has_digest)
            c->bad = 1;
        g_sink += pol.digest[0];
    }
    return n;
}

static uint64_t bench_node(void *vctx, uint64_t n)
{
    uint8_t a[32] = { 1 }, b[32] = { 2 };

    (void) vctx;
    for (uint64_t i = 0; i < n; i++)
        aigov_node_hash(a, b, a);
    g_sink += a[0];
    return n;
}

static void bench_verify_all(void)
{
    verify_ctx_t c;
    json_t *groups = json_pack("[s]", "engineers"), *claims = json_pack("{s:s}", "tenant", "acme");
    static const aigov_record_filter_t filters[] = { { "pii", "request", "allow", 0, 0 } };
    aigov_record_t r = {
        .ts_us = 1714564800000000, .id = "req-100af217", .sub = "bob", .groups = groups,
        .iss = "https://idp.example", .claims = claims, .method = "POST", .path = "/v1/chat/completions",
        .endpoint = "/v1/chat/completions", .model = "gpt-4o", .max_tokens = 596, .prompt_chars = 1801,
        .decision = "allow", .rule = "analysts-chat",
        .policy_sha256 = "9f2c1a7e5b3d4c6a8e0f1b2d3c4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",
        .status = 200, .filter_list = filters, .nfilter_list = 1, .prompt_tokens = 296,
        .completion_tokens = 294, .content = "hash",
        .prompt_sha256 = "f96d8902272c4962b676b11a3b09bd5a1958206de6c4c5130b855491e15e12f2",
        .response_sha256 = "f96d8902272c4962b676b11a3b09bd5a1958206de6c4c5130b855491e15e12f2",
    };
    char body[2048], notes[200];
    size_t blen = aigov_record_write(body, sizeof(body), &r);
    uint64_t ops;
    double secs;

    memset(&c, 0, sizeof(c));
    c.len = blen > 0 && blen <= sizeof(body) ? aigov_record_line(c.line, sizeof(c.line), 1000000, body, blen) : 0;
    json_decref(groups);
    json_decref(claims);
    if (c.len < 2) {
        row_fail("verify: leaf hash of a record line", "the record could not be written");
        return;
    }
    c.len--;    /* the newline is not hashed */
    snprintf(notes, sizeof(notes), "SHA-256(0x00 || line) of a %zu B admission record line", c.len);
    secs = measure(bench_leaf, &c, &ops);
    row_mib("verify: leaf hash of a record line", (double) ops, secs, c.len, notes);
    secs = measure(bench_json_check, &c, &ops);
    if (c.bad) {
        row_fail("verify: JSON check of a record line", "the line did not check");
    } else {
        snprintf(notes, sizeof(notes), "aigov_json_check_top with the policy fields read, the same %zu B line", c.len);
        row_mib("verify: JSON check of a record line", (double) ops, secs, c.len, notes);
    }
    secs = measure(bench_node, NULL, &ops);
    row_ops("verify: tree node hash", (double) ops, secs, "nodes/s",
            "SHA-256(0x01 || left || right); one per record on average, on the thread that builds the tree");
}

static void bench_metrics_all(void)
{
    size_t size = 1024 * 1024;
    void *mem = aligned_alloc(64, size);

    if (mem == NULL || aigov_metrics_init(mem, size) < 0) {
        row_fail("metrics", "no block");
        free(mem);
        return;
    }
    const char *pn[4] = { "pii", "secrets", "blocklist", "injection" };
    for (int batched = 0; batched < 2; batched++) {
        metrics_ctx_t c = { .mem = mem, .batch = batched ? aigov_metrics_batch_new() : NULL };
        for (int p = 0; p < 4; p++)
            c.plugin[p] = aigov_metrics_name(mem, pn[p]);
        c.model = aigov_metrics_name(mem, "gpt-4o-mini");
        c.rule = aigov_metrics_name(mem, "engineers");
        uint64_t ops;
        double secs = measure(bench_metrics_requests, &c, &ops);
        row_ops(batched ? "metrics of one request, batched" : "metrics of one request, atomics",
                (double)ops, secs, "requests/s",
                batched ? "17 counts and 4 histogram observations into the worker's batch, "
                          "flushed every 1024 requests; one thread"
                        : "the same counts, each an atomic add in the shared block; one thread");

        /* two threads (the two workers) counting the same series at once */
        enum { N = 2000000 };
        pthread_barrier_t bar;
        pthread_t th[2];
        metrics_ctx_t tc[2];
        pthread_barrier_init(&bar, NULL, 2);
        for (int t = 0; t < 2; t++) {
            tc[t] = c;
            tc[t].batch = batched ? aigov_metrics_batch_new() : NULL;
            tc[t].start = &bar;
            tc[t].n = N;
        }
        double t0 = now_s();
        for (int t = 0; t < 2; t++)
            pthread_create(&th[t], NULL, metrics_thread, &tc[t]);
        for (int t = 0; t < 2; t++)
            pthread_join(th[t], NULL);
        double dt = now_s() - t0;
        pthread_barrier_destroy(&bar);
        for (int t = 0; t < 2; t++)
            aigov_metrics_batch_free(tc[t].batch);
        char notes[200];
        snprintf(notes, sizeof(notes), "two threads counting the same series at once, %d requests "
                 "each; ns/op is wall time per request of one thread", N);
        row_ops(batched ? "metrics of one request, batched, 2 threads"
                        : "metrics of one request, atomics, 2 threads",
                (double)N / dt, 1.0, "requests/s", notes);
        aigov_metrics_batch_free(c.batch);
    }
    free(mem);
}

int main(void)
{
    const char *sec = getenv("MICRO_SECONDS");
    if (sec != NULL && *sec != '\0') {
        char *end;
        double v = strtod(sec, &end);
        if (*end == '\0' && v > 0.0 && v <= 600.0)
            g_seconds = v;
    }
    const char *ev = getenv("MICRO_EVICT");
    if (ev != NULL && *ev != '\0')
        g_evict_kib = strtoul(ev, NULL, 10);
    find_root();
    print_machine();

    /* MICRO_ONLY: a comma-separated subset of the sections below */
    const char *only = getenv("MICRO_ONLY");
    static const struct { const char *name; void (*fn)(void); } sections[] = {
        {"jwt", bench_jwt}, {"policy", bench_policy}, {"scan", bench_scan_all},
        {"request", bench_request}, {"long", bench_long}, {"audit", bench_audit_all}, {"append", bench_append_all},
        {"sse", bench_sse_all}, {"metrics", bench_metrics_all}, {"verify", bench_verify_all},
    };
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        if (only == NULL || *only == '\0' || in_list(only, sections[i].name))
            sections[i].fn();

    printf("\n(sink %llu)\n", (unsigned long long)(g_sink & 0xffff));
    return 0;
}

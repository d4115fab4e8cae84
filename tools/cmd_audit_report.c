/*
 * aigov audit report LOG... [--key PUB] [--since T] [--until T] [--top N]
 *                           (--html FILE | --json)
 *
 * One page a compliance officer can open and read: the verification
 * result first, then the numbers of lib/audit_report.h as tables and
 * inline SVG bar charts. The HTML is self-contained (no script, font,
 * style sheet or image from elsewhere, nothing fetched); --json gives the
 * same numbers, from the same object the page is drawn from.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aigov.h"
#include "audit.h"
#include "audit_files.h"
#include "audit_policy.h"
#include "audit_report.h"

#define PROBLEMS_KEPT 200

typedef struct {
    json_t *list;
    size_t  n;
    char  **files;
} vcollect_t;

static void on_problem(void *ud, const aigov_problem_t *p)
{
    vcollect_t *c = ud;

    c->n++;
    if (json_array_size(c->list) < PROBLEMS_KEPT)
        json_array_append_new(c->list, json_pack("{s:s,s:s,s:I,s:o,s:s}", "reason", p->reason,
            "file", c->files[p->file], "line", (json_int_t) p->line,
            "seq", p->seq >= 0 ? json_integer(p->seq) : json_null(), "message", p->message));
}

static json_t *verification(const char *keyarg, char **files, int nfiles)
{
    aigov_vkey_t key;
    char err[512], root[65];
    aigov_verify_t *v;
    vcollect_t c = { json_array(), 0, files };
    const aigov_verify_summary_t *s;
    json_t *o;

    if (keyarg == NULL) {
        json_decref(c.list);
        return json_pack("{s:b,s:s}", "checked", 0, "note", "not verified: give --key KEY.pub");
    }
    if (aigov_vkey_load(&key, keyarg, err, sizeof(err)) < 0) {
        fprintf(stderr, "aigov audit report: %s\n", err);
        json_decref(c.list);
        return NULL;
    }
    v = aigov_verify_new(&key, on_problem, &c);
    if (v == NULL) {
        json_decref(c.list);
        return NULL;
    }
    aigov_verify_check_policies(v);
    for (int i = 0; i < nfiles; i++)
        if (aigov_verify_file(v, files[i], err, sizeof(err)) < 0) {
            fprintf(stderr, "aigov audit report: %s\n", err);
            aigov_verify_free(v);
            json_decref(c.list);
            return NULL;
        }
    aigov_verify_finish(v);
    s = aigov_verify_summary(v);
    for (int i = 0; i < 32; i++)
        snprintf(root + 2 * i, 3, "%02x", s->last_root[i]);
    o = json_pack("{s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:o}", "checked", 1, "ok", c.n == 0,
                  "records", (json_int_t) s->records, "start_seq", (json_int_t) s->start_size,
                  "checkpoints_verified", (json_int_t) s->checkpoints_ok,
                  "signed_records", (json_int_t) s->last_size, "unsigned_records", (json_int_t) s->uncovered,
                  "problem_count", (json_int_t) c.n,
                  "newest_root", s->checkpoints_ok ? json_string(root) : json_null(),
                  "policy_records", (json_int_t) aigov_verify_policy_records(v), "problems", c.list);
    {
        json_t *ranges = json_array();
        for (int i = 0; i < nfiles; i++) {
            uint64_t first = 0, last = 0, n = aigov_verify_file_range(v, (unsigned) i, &first, &last);
            json_array_append_new(ranges, json_pack("{s:s,s:I,s:o,s:o}", "file", files[i], "records", (json_int_t) n,
                "first_seq", n ? json_integer((json_int_t) first) : json_null(),
                "last_seq", n ? json_integer((json_int_t) last) : json_null()));
        }
        json_object_set_new(o, "files", ranges);
    }
    aigov_verify_free(v);
    return o;
}

/* The verifier and the counting read the same files on the two cores at once. */
typedef struct {
    const char *keyarg;
    char      **files;
    int         nfiles;
    json_t     *out;
} vjob_t;

static void *verify_job(void *arg)
{
    vjob_t *j = arg;

    j->out = verification(j->keyarg, j->files, j->nfiles);
    return NULL;
}

/* ---- HTML ------------------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *sv(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : json_is_null(v) || v == NULL ? "-" : "?";
}

static long long iv(json_t *o, const char *k)
{
    return (long long) json_integer_value(json_object_get(o, k));
}

/* Horizontal bars: one row per item, label and value. */
static void hbars(FILE *f, json_t *arr, const char *label, const char *value, size_t max_rows)
{
    size_t n = json_array_size(arr), rows = n < max_rows ? n : max_rows;
    long long top = 1;
    int h = 22;

    if (rows == 0) {
        fputs("<p class=none>none</p>\n", f);
        return;
    }
    for (size_t i = 0; i < rows; i++)
        if (iv(json_array_get(arr, i), value) > top)
            top = iv(json_array_get(arr, i), value);
    fprintf(f, "<svg class=chart width=760 height=%zu viewBox=\"0 0 760 %zu\" role=img>\n", rows * h + 4, rows * h + 4);
    for (size_t i = 0; i < rows; i++) {
        json_t *e = json_array_get(arr, i);
        long long v = iv(e, value);
        double w = 440.0 * (double) v / (double) top;
        fprintf(f, "<text x=0 y=%zu class=l>", i * h + 15);
        esc(f, sv(e, label));
        fprintf(f, "</text><rect x=250 y=%zu width=%.1f height=16 class=b></rect>"
                   "<text x=%.1f y=%zu class=v>%lld</text>\n", i * h + 2, w, 256 + w, i * h + 15, v);
    }
    fputs("</svg>\n", f);
}

/* Requests per day, allowed and refused stacked. */
static void day_chart(FILE *f, json_t *days)
{
    size_t n = json_array_size(days);
    long long top = 1;
    double bw;

    if (n == 0) {
        fputs("<p class=none>no requests</p>\n", f);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(days, i);
        if (iv(d, "allow") + iv(d, "deny") > top)
            top = iv(d, "allow") + iv(d, "deny");
    }
    bw = 700.0 / (double) n;
    fprintf(f, "<svg class=chart width=760 height=230 viewBox=\"0 0 760 230\" role=img>\n"
               "<text x=0 y=12 class=v>%lld</text><line x1=50 y1=200 x2=750 y2=200 class=ax></line>\n", top);
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(days, i);
        double ha = 180.0 * (double) iv(d, "allow") / (double) top, hd = 180.0 * (double) iv(d, "deny") / (double) top;
        double x = 50 + bw * (double) i;
        fprintf(f, "<rect x=%.1f y=%.1f width=%.1f height=%.1f class=a><title>", x, 200 - ha, bw * 0.8, ha);
        esc(f, sv(d, "day"));
        fprintf(f, ": %lld allowed</title></rect>", iv(d, "allow"));
        fprintf(f, "<rect x=%.1f y=%.1f width=%.1f height=%.1f class=d><title>", x, 200 - ha - hd, bw * 0.8, hd);
        esc(f, sv(d, "day"));
        fprintf(f, ": %lld refused</title></rect>\n", iv(d, "deny"));
        if (n <= 31 || i % (n / 12 + 1) == 0) {
            fprintf(f, "<text x=%.1f y=216 class=t>", x);
            esc(f, sv(d, "day") + (strlen(sv(d, "day")) >= 10 ? 5 : 0));
            fputs("</text>\n", f);
        }
    }
    fputs("<rect x=50 y=220 width=10 height=10 class=a></rect><text x=64 y=229 class=t>allowed</text>"
          "<rect x=130 y=220 width=10 height=10 class=d></rect><text x=144 y=229 class=t>refused</text>\n</svg>\n", f);
}

/* A table of the given columns (key, heading). */
static void table(FILE *f, json_t *arr, const char *const *cols, size_t max_rows)
{
    size_t n = json_array_size(arr);

    if (n == 0) {
        fputs("<p class=none>none</p>\n", f);
        return;
    }
    fputs("<table><tr>", f);
    for (size_t c = 0; cols[c]; c += 2) {
        fputs("<th>", f);
        esc(f, cols[c + 1]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t i = 0; i < n && i < max_rows; i++) {
        json_t *e = json_array_get(arr, i);
        fputs("<tr>", f);
        for (size_t c = 0; cols[c]; c += 2) {
            json_t *v = json_object_get(e, cols[c]);
            if (json_is_integer(v)) {
                fprintf(f, "<td class=n>%lld</td>", (long long) json_integer_value(v));
            } else if (json_is_array(v)) {
                fputs("<td>", f);
                for (size_t k = 0; k < json_array_size(v); k++) {
                    if (k)
                        fputs("<br>", f);
                    esc(f, json_string_value(json_array_get(v, k)));
                }
                fputs("</td>", f);
            } else {
                fputs("<td>", f);
                esc(f, sv(e, cols[c]));
                fputs("</td>", f);
            }
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    if (n > max_rows)
        fprintf(f, "<p class=none>and %zu more (see --json)</p>\n", n - max_rows);
}

static int write_html(const char *path, json_t *rep)
{
    FILE *f = fopen(path, "w");
    json_t *v = json_object_get(rep, "verification"), *t = json_object_get(rep, "totals");
    static const char *const reasons[] = { "reason", "refused by", "count", "refusals", "example", "example message", NULL };
    static const char *const filt[] = { "plugin", "plugin", "stage", "stage", "verdict", "verdict",
                                        "entries", "records", "matches", "matches", NULL };
    static const char *const models[] = { "model", "model", "requests", "requests", "refused", "refused",
                                          "prompt_tokens", "prompt tokens", "completion_tokens", "completion tokens", NULL };
    static const char *const subs[] = { "sub", "subject", "requests", "requests", "refused", "refused",
                                        "tokens", "tokens", "quota_refusals", "quota refusals", NULL };
    static const char *const pols[] = { "policy_sha256", "policy (sha256)", "files", "files",
                                        "first_logged", "first logged", "first_used", "first used",
                                        "last_used", "last used", "records", "records naming it",
                                        "times_logged", "policy records", NULL };
    static const char *const gaps[] = { "seq", "seq", "ts", "admitted at", "id", "request id", "sub", "subject",
                                        "model", "model", NULL };
    static const char *const probs[] = { "file", "file", "line", "line", "seq", "seq", "reason", "reason",
                                         "message", "what", NULL };
    static const char *const files[] = { "file", "file", "first_seq", "first seq", "last_seq", "last seq",
                                         "records", "records", NULL };

    if (f == NULL) {
        fprintf(stderr, "aigov audit report: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
          "<title>aigov audit report</title>\n<style>\n"
          "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:62em;color:#222;padding:0 1em}\n"
          "h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}\n"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;"
          "vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
          ".ok{background:#e3f6e3;border:2px solid #2a7a2a;padding:.8em 1em;font-size:1.2em}\n"
          ".bad{background:#fbe4e4;border:2px solid #b22;padding:.8em 1em;font-size:1.2em}\n"
          ".unk{background:#fff6dc;border:2px solid #b80;padding:.8em 1em;font-size:1.2em}\n"
          ".none{color:#777}svg text{font:12px system-ui,sans-serif;fill:#222}.b{fill:#4a78b5}.a{fill:#4a9a5a}"
          ".d{fill:#c4473a}.ax{stroke:#999}\n</style></head><body>\n<h1>aigov audit report</h1>\n", f);
    fputs("<p>Period: ", f);
    esc(f, sv(rep, "since"));
    fputs(" to ", f);
    esc(f, sv(rep, "until"));
    fputs("; records from ", f);
    esc(f, sv(rep, "first_ts"));
    fputs(" to ", f);
    esc(f, sv(rep, "last_ts"));
    fputs(". Generated ", f);
    esc(f, sv(rep, "generated"));
    fputs(".</p>\n<h2>Verification</h2>\n", f);
    if (!json_is_true(json_object_get(v, "checked"))) {
        fputs("<p class=unk>NOT VERIFIED: the report was made without the public key (--key); "
              "the numbers below are what the files say.</p>\n", f);
    } else if (json_is_true(json_object_get(v, "ok"))) {
        fprintf(f, "<p class=ok>OK: %lld records verify against the key; %lld checkpoints verify; the newest signs "
                   "%lld records", iv(v, "records") - iv(v, "start_seq"), iv(v, "checkpoints_verified"),
                iv(v, "signed_records"));
        if (iv(v, "unsigned_records"))
            fprintf(f, " (%lld newer records are not signed yet)", iv(v, "unsigned_records"));
        fputs(".</p>\n<p>Root of the newest checkpoint: <code>", f);
        esc(f, sv(v, "newest_root"));
        fputs("</code></p>\n", f);
    } else {
        fprintf(f, "<p class=bad>FAILED: %lld problem(s). The log is not as written; the numbers below count "
                   "what the files hold now.</p>\n", iv(v, "problem_count"));
        table(f, json_object_get(v, "problems"), probs, 200);
    }
    if (json_is_true(json_object_get(v, "checked")))
        table(f, json_object_get(v, "files"), files, 100000);

    fputs("<h2>Summary</h2>\n<table>\n", f);
    fprintf(f, "<tr><th>requests</th><td class=n>%lld</td></tr><tr><th>allowed</th><td class=n>%lld</td></tr>"
               "<tr><th>refused</th><td class=n>%lld</td></tr><tr><th>of which quota (429)</th><td class=n>%lld</td></tr>"
               "<tr><th>completed</th><td class=n>%lld</td></tr><tr><th>admitted, not completed (gaps)</th>"
               "<td class=n>%lld</td></tr><tr><th>prompt tokens</th><td class=n>%lld</td></tr>"
               "<tr><th>completion tokens</th><td class=n>%lld</td></tr><tr><th>policy records</th>"
               "<td class=n>%lld</td></tr>\n</table>\n",
            iv(t, "requests"), iv(t, "allowed"), iv(t, "refused"), iv(t, "quota_refusals"), iv(t, "completions"),
            iv(t, "gaps"), iv(t, "prompt_tokens"), iv(t, "completion_tokens"), iv(t, "policy_records"));
    {
        /* what the filters did not see, so that "inspected" is not read
         * as "all of it" */
        static const char *const what[][2] = {
            { "body", "a body not read at all (inspected: false)" },
            { "token_ids", "token ids" }, { "text_file", "a text file that does not decode" },
            { "other_text", "other text no filter can read" }, { "image", "images" },
            { "audio", "audio" }, { "file", "files that are not text (PDF, by id or URL)" },
            { "background_answer", "an answer written in the background" },
        };
        json_t *u = json_object_get(rep, "allowed_unread");

        fputs("<h2>Allowed with what no filter read</h2>\n<p>Allowed requests that carried text or media "
              "the filters could not read (a request may count in several rows).</p>\n<table>\n", f);
        for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++)
            fprintf(f, "<tr><th>%s</th><td class=n>%lld</td></tr>", what[i][1], iv(u, what[i][0]));
        fputs("\n</table>\n", f);
    }
    fputs("<h2>Requests per day</h2>\n", f);
    day_chart(f, json_object_get(rep, "requests_per_day"));
    fputs("<h2>Refusals by reason</h2>\n", f);
    hbars(f, json_object_get(rep, "refusals_by_reason"), "reason", "count", 30);
    table(f, json_object_get(rep, "refusals_by_reason"), reasons, 100);
    fputs("<h2>Filter verdicts by plugin and stage</h2>\n", f);
    table(f, json_object_get(rep, "filter_verdicts"), filt, 1000);
    fputs("<h2>Tokens by model</h2>\n", f);
    {
        /* bars of prompt + completion tokens */
        json_t *m = json_object_get(rep, "tokens_by_model"), *bars = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(m, i, e)
            json_array_append_new(bars, json_pack("{s:O,s:I}", "model", json_object_get(e, "model"),
                "tokens", (json_int_t) (iv(e, "prompt_tokens") + iv(e, "completion_tokens"))));
        hbars(f, bars, "model", "tokens", 30);
        json_decref(bars);
        table(f, m, models, 1000);
    }
    fputs("<h2>Subjects with the most refusals</h2>\n", f);
    table(f, json_object_get(rep, "top_subjects_by_refusals"), subs, 1000);
    fputs("<h2>Subjects with the most tokens</h2>\n", f);
    table(f, json_object_get(rep, "top_subjects_by_tokens"), subs, 1000);
    fputs("<h2>Quota refusals</h2>\n", f);
    table(f, json_object_get(rep, "quota_refusals_by_subject"), subs, 1000);
    fputs("<h2>Policies in force</h2>\n<p>Each policy the records name, from its policy record in the log "
          "(<code>aigov audit show --policy DIGEST</code> prints its text).</p>\n", f);
    table(f, json_object_get(rep, "policies"), pols, 1000);
    fputs("<h2>Gaps: admitted requests without a completion record</h2>\n<p>A request the gateway admitted and "
          "proxied whose end is not on record (a worker killed mid-request, or the period ends before it did).</p>\n",
          f);
    table(f, json_object_get(rep, "gaps"), gaps, 200);
    fputs("</body></html>\n", f);
    if (fclose(f) != 0) {
        fprintf(stderr, "aigov audit report: %s: cannot write\n", path);
        return -1;
    }
    return 0;
}

static int count_files(aigov_report_t *r, char **paths, size_t nfiles)
{
    char err[512];

    for (size_t i = 0; i < nfiles; i++) {
        aigov_lines_t *l = aigov_lines_open(paths[i], err, sizeof(err));
        const char *line;
        size_t len;
        int nl, lr;

        if (l == NULL) {
            fprintf(stderr, "aigov audit report: %s\n", err);
            return 0;
        }
        while ((lr = aigov_lines_next(l, &line, &len, &nl, err, sizeof(err))) == 1)
            if (nl)
                aigov_report_line(r, line, len);
        aigov_lines_close(l);
        if (lr < 0) {
            fprintf(stderr, "aigov audit report: %s\n", err);
            return 0;
        }
    }
    return 1;
}

int aigov_cmd_audit_report(int argc, char **argv)
{
    const char *keyarg = NULL, *html = NULL, *since_s = NULL, *until_s = NULL;
    char **args = calloc((size_t) argc + 1, sizeof(char *)), err[512], *notes = NULL, **paths = NULL;
    int nargs = 0, json = 0, rc = AIGOV_EXIT_USAGE;
    long top = 20;
    int64_t since = INT64_MIN, until = INT64_MAX;
    aigov_log_file_t *files = NULL;
    size_t nfiles = 0;
    aigov_report_t *r = NULL;
    json_t *rep = NULL, *ver = NULL;

    if (args == NULL)
        return AIGOV_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--key") && i + 1 < argc)
            keyarg = argv[++i];
        else if (!strcmp(argv[i], "--html") && i + 1 < argc)
            html = argv[++i];
        else if (!strcmp(argv[i], "--since") && i + 1 < argc)
            since_s = argv[++i];
        else if (!strcmp(argv[i], "--until") && i + 1 < argc)
            until_s = argv[++i];
        else if (!strcmp(argv[i], "--top") && i + 1 < argc)
            top = atol(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "aigov audit report: unexpected option '%s'\n", argv[i]);
            goto out;
        } else
            args[nargs++] = argv[i];
    }
    if (nargs == 0 || (!html && !json) || top < 1) {
        fprintf(stderr, "usage: aigov audit report LOG... [--key PUB] [--since RFC3339] [--until RFC3339] "
                        "[--top N] (--html FILE | --json)\n");
        goto out;
    }
    if ((since_s && aigov_parse_ts(since_s, &since) < 0) || (until_s && aigov_parse_ts(until_s, &until) < 0)) {
        fprintf(stderr, "aigov audit report: --since/--until want RFC 3339 times (2024-05-01T00:00:00Z)\n");
        goto out;
    }
    if (aigov_log_files(args, (size_t) nargs, &files, &nfiles, &notes, err, sizeof(err)) < 0) {
        fprintf(stderr, "aigov audit report: %s\n", err);
        goto out;
    }
    if (notes)
        fputs(notes, stderr);
    paths = calloc(nfiles + 1, sizeof(char *));
    if (paths == NULL)
        goto out;
    for (size_t i = 0; i < nfiles; i++)
        paths[i] = files[i].path;
    json_object_seed(0);
    {
        vjob_t job = { keyarg, paths, (int) nfiles, NULL };
        pthread_t th;
        int threaded = keyarg && pthread_create(&th, NULL, verify_job, &job) == 0;
        int ok;

        if (!threaded)
            verify_job(&job);
        r = aigov_report_new(since, until);
        ok = r != NULL && count_files(r, paths, nfiles);
        if (threaded)
            pthread_join(th, NULL);
        ver = job.out;
        if (!ok || ver == NULL)
            goto out;
    }
    rep = aigov_report_json(r, (size_t) top);

    {
        char now[32];
        json_t *fl = json_array();
        aigov_format_ts((int64_t) time(NULL) * 1000000, now);
        for (size_t i = 0; i < nfiles; i++)
            json_array_append_new(fl, json_string(paths[i]));
        json_object_set_new(rep, "generated", json_string(now));
        json_object_set_new(rep, "since", since_s ? json_string(since_s) : json_null());
        json_object_set_new(rep, "until", until_s ? json_string(until_s) : json_null());
        json_object_set_new(rep, "files", fl);
        json_object_set(rep, "verification", ver);
    }
    if (html && write_html(html, rep) < 0)
        goto out;
    if (json) {
        char *s = json_dumps(rep, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
    }
    rc = json_is_true(json_object_get(ver, "checked")) && !json_is_true(json_object_get(ver, "ok"))
         ? AIGOV_EXIT_FOUND : AIGOV_EXIT_OK;
out:
    json_decref(rep);
    json_decref(ver);
    aigov_report_free(r);
    free(paths);
    free(notes);
    aigov_log_files_free(files, nfiles);
    free(args);
    return rc;
}

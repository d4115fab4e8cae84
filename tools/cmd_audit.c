/*
 * aigov audit: the auditor's side of the log.
 *
 *   verify --key PUB [--checkpoint NOTE] [--json] LOG...
 *   show LOG... [--sub S] [--model M] [--decision allow|deny] [--since T] [--until T] [--json]
 *   prove LOG... --seq N [--key PUB]
 *   check-proof --key PUB PROOF [--line RECORD]
 *   _generate ...   (test-only: writes a signed log, see docs/audit.md)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aigov.h"
#include "audit.h"
#include "audit_files.h"
#include "audit_policy.h"

/* One thread per core, up to four: beyond that the part that must stay in
 * order (reading, the tree) is the limit (docs/audit.md). */
static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > 4 ? 4 : (int) n;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: aigov audit verify --key PUB [--checkpoint NOTE] [--threads N] [--json] LOG...\n"
        "       aigov audit show LOG... [--sub S] [--model M] [--decision allow|deny]\n"
        "                               [--since RFC3339] [--until RFC3339] [--json]\n"
        "       aigov audit show LOG... --policy DIGEST [--json]   (the policy as loaded)\n"
        "       aigov audit prove LOG... --seq N [--key PUB]\n"
        "       aigov audit check-proof --key PUB PROOF [--line RECORD_FILE] [--json]\n"
        "       aigov audit report LOG... [--key PUB] [--since T] [--until T] [--top N] (--html FILE | --json)\n"
        "       aigov audit hash-keygen --out FILE [--id ID]   (key for aigov_audit_hash_key)\n"
        "       aigov audit match --hash-key FILE --seq N (--text T | --file F) [--response] LOG...\n"
        "PUB is KEY.pub (PEM) or a vkey (NAME+KEYID+BASE64, or a file holding one).\n"
        "LOG... are log files, plain or gzip'd (logrotate's .gz), and folders of them, in any order:\n"
        "they are read in the order of the tree, which their carry-over checkpoints give.\n");
}

/* The files given (folders expanded), in tree order; replaces logs[0..*n)
 * by malloc'd paths (free with free_logs). -1 after a message. */
static int order_logs(const char *cmd, char ***logs, int *n)
{
    aigov_log_file_t *f;
    size_t nf;
    char *notes = NULL, err[512], **out;

    if (aigov_log_files(*logs, (size_t) *n, &f, &nf, &notes, err, sizeof(err)) < 0) {
        fprintf(stderr, "aigov audit %s: %s\n", cmd, err);
        return -1;
    }
    if (notes)
        fprintf(stderr, "%s", notes);
    free(notes);
    out = calloc(nf + 1, sizeof(char *));
    if (out == NULL) {
        aigov_log_files_free(f, nf);
        return -1;
    }
    for (size_t i = 0; i < nf; i++) {
        out[i] = f[i].path;
        f[i].path = NULL;
    }
    aigov_log_files_free(f, nf);
    free(*logs);
    *logs = out;
    *n = (int) nf;
    return 0;
}

static void free_logs(char **logs, int n)
{
    for (int i = 0; i < n; i++)
        free(logs[i]);
    free(logs);
}

static void hex(const uint8_t *h, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

static int unhex32(const char *s, uint8_t out[32])
{
    if (s == NULL || strlen(s) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (!strchr("0123456789abcdef", s[2 * i]) || !strchr("0123456789abcdef", s[2 * i + 1])
            || sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t) v;
    }
    return 0;
}

/* Reads a whole small file (a note, a proof); NULL with a message. */
static char *slurp(const char *path, size_t *len, size_t max)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "aigov audit: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, max + 1, f);
    fclose(f);
    if (n > max) {
        fprintf(stderr, "aigov audit: %s: larger than %zu bytes\n", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A kept checkpoint: the note itself, or a log line {"checkpoint":...}. */
static char *read_note(const char *path, size_t *len)
{
    char *buf = slurp(path, len, 1 << 20), *note;
    json_t *j;

    if (buf == NULL || buf[0] != '{')
        return buf;
    j = json_loadb(buf, *len, 0, NULL);
    free(buf);
    if (!json_is_string(json_object_get(j, "checkpoint"))) {
        fprintf(stderr, "aigov audit: %s: neither a signed note nor a checkpoint line\n", path);
        json_decref(j);
        return NULL;
    }
    *len = json_string_length(json_object_get(j, "checkpoint"));
    note = malloc(*len + 1);
    if (note) {
        memcpy(note, json_string_value(json_object_get(j, "checkpoint")), *len);
        note[*len] = '\0';
    }
    json_decref(j);
    return note;
}

/* ---- verify --------------------------------------------------------------- */

typedef struct {
    aigov_problem_t *p;
    size_t           n, cap;
    char           **files;
    int              tty;
    uint64_t         total_bytes;
    int              progress_shown;
} collect_t;

static void on_problem(void *ud, const aigov_problem_t *p)
{
    collect_t *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        aigov_problem_t *np = realloc(c->p, cap * sizeof(*np));
        if (np == NULL)
            return;
        c->p = np;
        c->cap = cap;
    }
    c->p[c->n++] = *p;
}

static void on_progress(void *ud, unsigned file, uint64_t bytes, uint64_t lines)
{
    collect_t *c = ud;
    fprintf(stderr, "\r\033[Kverifying %s: %llu lines, %llu MB", c->files[file],
            (unsigned long long) lines, (unsigned long long) (bytes >> 20));
    c->progress_shown = 1;
}

static int cmp_problem(const void *a, const void *b)
{
    const aigov_problem_t *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return 0;
}

static void print_problem(FILE *o, const aigov_problem_t *p, char **files)
{
    fprintf(o, "%s:%llu", files[p->file], (unsigned long long) p->line);
    if (p->last_file != p->file)
        fprintf(o, "-%s:%llu", files[p->last_file], (unsigned long long) p->last_line);
    else if (p->last_line != p->line)
        fprintf(o, "-%llu", (unsigned long long) p->last_line);
    if (p->seq >= 0 && p->seq_last != p->seq)
        fprintf(o, ": seq %lld..%lld", (long long) p->seq, (long long) p->seq_last);
    else if (p->seq >= 0)
        fprintf(o, ": seq %lld", (long long) p->seq);
    fprintf(o, ": %s: %s\n", p->reason, p->message);
}

static json_t *problem_json(const aigov_problem_t *p, char **files)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:I, s:o, s:o, s:s}",
                     "reason", p->reason, "file", files[p->file], "line", (json_int_t) p->line,
                     "last_file", files[p->last_file], "last_line", (json_int_t) p->last_line,
                     "seq", p->seq >= 0 ? json_integer(p->seq) : json_null(),
                     "seq_last", p->seq_last >= 0 ? json_integer(p->seq_last) : json_null(),
                     "message", p->message);
}

/* Which file holds which records, in the order they were read. */
static void print_ranges(FILE *o, const aigov_verify_t *v, char **logs, int nlogs)
{
    fprintf(o, "files, in tree order:\n");
    for (int i = 0; i < nlogs; i++) {
        uint64_t first = 0, last = 0, n = aigov_verify_file_range(v, (unsigned) i, &first, &last);
        if (n)
            fprintf(o, "  %s: seq %llu..%llu (%llu records)\n", logs[i], (unsigned long long) first,
                    (unsigned long long) last, (unsigned long long) n);
        else
            fprintf(o, "  %s: no records\n", logs[i]);
    }
}

static json_t *ranges_json(const aigov_verify_t *v, char **logs, int nlogs)
{
    json_t *a = json_array();

    for (int i = 0; i < nlogs; i++) {
        uint64_t first = 0, last = 0, n = aigov_verify_file_range(v, (unsigned) i, &first, &last);
        json_array_append_new(a, json_pack("{s:s, s:I, s:o, s:o}", "file", logs[i], "records", (json_int_t) n,
                                           "first_seq", n ? json_integer((json_int_t) first) : json_null(),
                                           "last_seq", n ? json_integer((json_int_t) last) : json_null()));
    }
    return a;
}

static int cmd_verify(int argc, char **argv)
{
    const char *keyarg = NULL, *kept = NULL;
    char **logs = calloc((size_t) argc, sizeof(char *));
    int nlogs = 0, json = 0, rc = AIGOV_EXIT_OK, threads = default_threads();
    aigov_vkey_t key;
    char err[512];
    collect_t c;
    aigov_verify_t *v;
    const aigov_verify_summary_t *s;

    memset(&c, 0, sizeof(c));
    if (logs == NULL)
        return AIGOV_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--key") && i + 1 < argc)
            keyarg = argv[++i];
        else if (!strcmp(argv[i], "--checkpoint") && i + 1 < argc)
            kept = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*argv[i] == '\0' || *end != '\0' || n < 1 || n > 16) {
                fprintf(stderr, "aigov audit verify: --threads wants a number from 1 to 16\n");
                free(logs);
                return AIGOV_EXIT_USAGE;
            }
            threads = (int) n;
        }
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "aigov audit verify: unexpected option '%s'\n", argv[i]);
            free(logs);
            usage(stderr);
            return AIGOV_EXIT_USAGE;
        } else
            logs[nlogs++] = argv[i];
    }
    if (keyarg == NULL || nlogs == 0) {
        fprintf(stderr, "aigov audit verify: needs --key PUB and at least one LOG\n");
        free(logs);
        usage(stderr);
        return AIGOV_EXIT_USAGE;
    }
    if (aigov_vkey_load(&key, keyarg, err, sizeof(err)) < 0) {
        fprintf(stderr, "aigov audit verify: %s\n", err);
        free(logs);
        return AIGOV_EXIT_USAGE;
    }
    if (order_logs("verify", &logs, &nlogs) < 0) {
        free(logs);
        return AIGOV_EXIT_USAGE;
    }
    c.files = logs;
    c.tty = isatty(2);
    v = aigov_verify_new(&key, on_problem, &c);
    if (v == NULL) {
        free_logs(logs, nlogs);
        return AIGOV_EXIT_USAGE;
    }
    aigov_verify_check_policies(v);
    aigov_verify_threads(v, threads < 1 ? 1 : (unsigned) threads);
    if (c.tty && !json)
        aigov_verify_progress(v, on_progress);
    if (kept) {
        size_t len = 0;
        char *note = read_note(kept, &len);
        if (note == NULL) {
            aigov_verify_free(v);
            free_logs(logs, nlogs);
            return AIGOV_EXIT_USAGE;
        }
        if (aigov_verify_expect(v, note, len, err, sizeof(err)) < 0) {
            aigov_problem_t p = { .reason = "bad signature", .seq = -1, .seq_last = -1 };
            snprintf(p.message, sizeof(p.message), "%.100s: %.200s", kept, err);
            on_problem(&c, &p);
        }
        free(note);
    }
    for (int i = 0; i < nlogs; i++) {
        if (aigov_verify_file(v, logs[i], err, sizeof(err)) < 0) {
            if (c.progress_shown)
                fprintf(stderr, "\r\033[K");
            fprintf(stderr, "aigov audit verify: %s\n", err);
            aigov_verify_free(v);
            free(c.p);
            free_logs(logs, nlogs);
            return AIGOV_EXIT_USAGE;
        }
    }
    aigov_verify_finish(v);
    if (c.progress_shown)
        fprintf(stderr, "\r\033[K");
    s = aigov_verify_summary(v);
    qsort(c.p, c.n, sizeof(*c.p), cmp_problem);
    if (c.n > 0)
        rc = AIGOV_EXIT_FOUND;

    if (json) {
        json_t *o = json_object(), *arr = json_array(), *files = json_array();
        char root[65], lroot[65];
        char *t;
        for (size_t i = 0; i < c.n; i++)
            json_array_append_new(arr, problem_json(&c.p[i], logs));
        for (int i = 0; i < nlogs; i++)
            json_array_append_new(files, json_string(logs[i]));
        hex(s->root, 32, root);
        hex(s->last_root, 32, lroot);
        json_object_set_new(o, "ok", json_boolean(c.n == 0));
        json_object_set_new(o, "files", files);
        json_object_set_new(o, "records", json_integer((json_int_t) s->records));
        json_object_set_new(o, "lines", json_integer((json_int_t) s->lines));
        json_object_set_new(o, "checkpoints", json_integer((json_int_t) s->checkpoints));
        json_object_set_new(o, "checkpoints_verified", json_integer((json_int_t) s->checkpoints_ok));
        json_object_set_new(o, "start_size", json_integer((json_int_t) s->start_size));
        json_object_set_new(o, "root", json_string(root));
        json_object_set_new(o, "newest_checkpoint", s->checkpoints_ok
            ? json_pack("{s:I, s:s, s:I, s:s}", "size", (json_int_t) s->last_size, "file", logs[s->last_file],
                        "line", (json_int_t) s->last_line, "root", lroot)
            : json_null());
        json_object_set_new(o, "unsigned_records", json_integer((json_int_t) s->uncovered));
        json_object_set_new(o, "ranges", ranges_json(v, logs, nlogs));
        json_object_set_new(o, "policy_records", json_integer((json_int_t) aigov_verify_policy_records(v)));
        json_object_set_new(o, "problems", arr);
        t = json_dumps(o, JSON_COMPACT);
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(o);
    } else {
        for (size_t i = 0; i < c.n; i++)
            print_problem(stdout, &c.p[i], logs);
        if (s->mismatches_after)
            printf("note: %llu later checkpoint(s) do not match either, as expected after the problems above\n",
                   (unsigned long long) s->mismatches_after);
        if (c.n == 0) {
            if (s->start_size)
                printf("OK: records seq %llu..%llu in %d file(s) verify", (unsigned long long) s->start_size,
                       (unsigned long long) s->records - 1, nlogs);
            else
                printf("OK: %llu records in %d file(s) verify", (unsigned long long) s->records, nlogs);
            if (s->checkpoints_ok) {
                char lroot[65];
                hex(s->last_root, 32, lroot);
                printf("; %llu checkpoint(s) verify, the newest (%s:%llu) signs %llu records, root %s",
                       (unsigned long long) s->checkpoints_ok, logs[s->last_file],
                       (unsigned long long) s->last_line, (unsigned long long) s->last_size, lroot);
            }
            printf("\n");
            if (s->start_size)
                printf("note: the first file continues a log from seq %llu (carry-over checkpoint); "
                       "earlier records are in earlier files\n", (unsigned long long) s->start_size);
            if (nlogs > 1)
                print_ranges(stdout, v, logs, nlogs);
            if (s->checkpoints_ok == 0 && s->records > 0)
                printf("WARNING: no checkpoint: none of these records is signed\n");
            else if (s->uncovered)
                printf("note: the last %llu record(s) are not signed by a checkpoint yet\n",
                       (unsigned long long) s->uncovered);
        } else {
            printf("FAILED: %zu problem(s) in %llu records\n", c.n, (unsigned long long) s->records);
            if (nlogs > 1)
                print_ranges(stdout, v, logs, nlogs);
        }
    }
    aigov_verify_free(v);
    free(c.p);
    free_logs(logs, nlogs);
    return rc;
}

/* ---- show ----------------------------------------------------------------- */

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "-";
}

/* show --policy DIGEST: the policy as it was loaded, from its policy record. */
static int show_policy(char **logs, int nlogs, const char *digest, int json)
{
    aigov_policy_record_t pr;
    char err[512];
    int r = aigov_policy_record_find(logs, (size_t) nlogs, digest, &pr, err, sizeof(err));

    if (r <= 0) {
        fprintf(stderr, "aigov audit show: %s\n", err);
        return r == 0 ? AIGOV_EXIT_FOUND : AIGOV_EXIT_USAGE;
    }
    if (json) {
        json_t *o = json_object(), *files = json_array();
        char *t;
        for (size_t i = 0; i < pr.nfiles; i++)
            json_array_append_new(files, json_pack("{s:s, s:s%}", "name", pr.names[i], "text",
                                                   pr.texts[i], pr.lens[i]));
        json_object_set_new(o, "policy_sha256", json_string(pr.sha256));
        json_object_set_new(o, "ts", json_string(pr.ts));
        json_object_set_new(o, "files", files);
        t = json_dumps(o, JSON_COMPACT);
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(o);
    } else if (pr.nfiles == 1) {
        fwrite(pr.texts[0], 1, pr.lens[0], stdout);
    } else {
        for (size_t i = 0; i < pr.nfiles; i++) {
            printf("%s==> %s <==\n", i ? "\n" : "", pr.names[i]);
            fwrite(pr.texts[i], 1, pr.lens[i], stdout);
        }
    }
    aigov_policy_record_free(&pr);
    return AIGOV_EXIT_OK;
}

static int cmd_show(int argc, char **argv)
{
    const char *sub = NULL, *model = NULL, *decision = NULL, *policy = NULL;
    int64_t since = INT64_MIN, until = INT64_MAX;
    int json = 0, nlogs = 0;
    char **logs = calloc((size_t) argc, sizeof(char *));
    json_t *pending;    /* id -> the admitted request, until its completion */

    if (logs == NULL)
        return AIGOV_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        int64_t *t = NULL;
        if (!strcmp(argv[i], "--sub") && i + 1 < argc)
            sub = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--decision") && i + 1 < argc)
            decision = argv[++i];
        else if (!strcmp(argv[i], "--policy") && i + 1 < argc)
            policy = argv[++i];
        else if (!strcmp(argv[i], "--since") && i + 1 < argc)
            t = &since;
        else if (!strcmp(argv[i], "--until") && i + 1 < argc)
            t = &until;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "aigov audit show: unexpected option '%s'\n", argv[i]);
            free(logs);
            return AIGOV_EXIT_USAGE;
        } else
            logs[nlogs++] = argv[i];
        if (t && aigov_parse_ts(argv[++i], t) < 0) {
            fprintf(stderr, "aigov audit show: '%s' is not an RFC 3339 time (2024-05-01T12:00:00Z)\n", argv[i]);
            free(logs);
            return AIGOV_EXIT_USAGE;
        }
    }
    if (nlogs == 0 || (decision && strcmp(decision, "allow") && strcmp(decision, "deny"))) {
        usage(stderr);
        free(logs);
        return AIGOV_EXIT_USAGE;
    }
    if (order_logs("show", &logs, &nlogs) < 0) {
        free(logs);
        return AIGOV_EXIT_USAGE;
    }
    if (policy) {
        int rc = show_policy(logs, nlogs, policy, json);
        free_logs(logs, nlogs);
        return rc;
    }
    pending = json_object();
    if (pending == NULL) {
        free_logs(logs, nlogs);
        return AIGOV_EXIT_USAGE;
    }
    if (!json)
        printf("%-8s %-27s %-5s %-6s %-4s %-16s %-18s %-22s %s\n", "SEQ", "TS", "PHASE", "DECIDE", "CODE",
               "SUB", "MODEL", "ENDPOINT", "RULE");
    for (int i = 0; i < nlogs; i++) {
        char err[512];
        aigov_lines_t *f = aigov_lines_open(logs[i], err, sizeof(err));
        const char *line;
        size_t n;
        int has_nl, lr;
        uint64_t lineno = 0, seq;

        if (f == NULL) {
            fprintf(stderr, "aigov audit show: %s\n", err);
            json_decref(pending);
            free_logs(logs, nlogs);
            return AIGOV_EXIT_USAGE;
        }
        while ((lr = aigov_lines_next(f, &line, &n, &has_nl, err, sizeof(err))) == 1) {
            json_t *r;
            int64_t ts;
            const char *phase;
            lineno++;
            if (aigov_record_seq(line, (size_t) n, &seq) < 0)
                continue;   /* checkpoints and anything else */
            r = json_loadb(line, (size_t) n, 0, NULL);
            if (!json_is_object(r)) {
                fprintf(stderr, "aigov audit show: %s:%llu: not valid JSON, skipped\n", logs[i],
                        (unsigned long long) lineno);
                json_decref(r);
                continue;
            }
            /* a completion record is shown with its request's caller, model
             * and rule, taken from the admission record with the same id */
            phase = jstr(r, "phase");
            if (!strcmp(phase, "admit")) {
                json_object_set_new(pending, jstr(r, "id"),
                                    json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?}",
                                              "sub", json_object_get(r, "sub"),
                                              "model", json_object_get(r, "model"),
                                              "endpoint", json_object_get(r, "endpoint"),
                                              "rule", json_object_get(r, "rule"),
                                              "decision", json_object_get(r, "decision")));
            } else if (!strcmp(phase, "done")) {
                json_t *a = json_object_get(pending, jstr(r, "id"));

                if (a != NULL) {
                    json_object_update_missing(r, a);
                    json_object_del(pending, jstr(r, "id"));
                }
            }
            if ((sub && strcmp(jstr(r, "sub"), sub)) || (model && strcmp(jstr(r, "model"), model))
                || (decision && strcmp(jstr(r, "decision"), decision))
                || ((since != INT64_MIN || until != INT64_MAX)
                    && (aigov_parse_ts(jstr(r, "ts"), &ts) < 0 || ts < since || ts >= until))) {
                json_decref(r);
                continue;
            }
            if (json) {
                printf("%.*s\n", (int) n, line);
            } else {
                /* an answer a filter blocked says so, with the filter; one
                 * whose text left before the filters were done, how */
                json_t *early = json_object_get(r, "released_early");
                char etxt[96] = "";

                if (json_is_object(early))
                    snprintf(etxt, sizeof(etxt), " released early: %lld events, %lld late matches",
                             (long long) json_integer_value(json_object_get(early, "events")),
                             (long long) json_integer_value(json_object_get(early, "late_matches")));
                printf("%-8llu %-27s %-5s %-6s %-4lld %-16s %-18s %-22s %s%s%s%s\n", (unsigned long long) seq,
                       jstr(r, "ts"), phase, jstr(r, "decision"),
                       (long long) json_integer_value(json_object_get(r, "status")),
                       jstr(r, "sub"), jstr(r, "model"), jstr(r, "endpoint"), jstr(r, "rule"),
                       json_is_string(json_object_get(r, "plugin")) ? " blocked by " : "",
                       json_is_string(json_object_get(r, "plugin")) ? jstr(r, "plugin") : "", etxt);
            }
            json_decref(r);
        }
        aigov_lines_close(f);
        if (lr < 0) {
            fprintf(stderr, "aigov audit show: %s\n", err);
            json_decref(pending);
            free_logs(logs, nlogs);
            return AIGOV_EXIT_USAGE;
        }
    }
    json_decref(pending);
    free_logs(logs, nlogs);
    return AIGOV_EXIT_OK;
}

/* ---- prove / check-proof ---------------------------------------------------- */

static int cmd_prove(int argc, char **argv)
{
    const char *keyarg = NULL, *seqarg = NULL;
    char **logs = calloc((size_t) argc, sizeof(char *)), err[512], *end;
    int nlogs = 0, rc = AIGOV_EXIT_USAGE;
    aigov_vkey_t key;
    collect_t c;
    aigov_verify_t *v = NULL;
    const aigov_verify_summary_t *s;
    uint64_t seq, nleaves;
    const uint8_t (*leaves)[32];
    uint8_t proof[64][32];
    const char *note;
    size_t note_len;
    int plen, ordered = 0;

    memset(&c, 0, sizeof(c));
    if (logs == NULL)
        return AIGOV_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seq") && i + 1 < argc)
            seqarg = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc)
            keyarg = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            ;   /* the proof is always JSON */
        else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "aigov audit prove: unexpected option '%s'\n", argv[i]);
            goto out;
        } else
            logs[nlogs++] = argv[i];
    }
    if (seqarg == NULL || nlogs == 0) {
        usage(stderr);
        goto out;
    }
    errno = 0;
    seq = strtoull(seqarg, &end, 10);
    if (errno || *end || seqarg[0] == '-' || seqarg[0] == '\0') {
        fprintf(stderr, "aigov audit prove: --seq wants a record number\n");
        goto out;
    }
    if (keyarg && aigov_vkey_load(&key, keyarg, err, sizeof(err)) < 0) {
        fprintf(stderr, "aigov audit prove: %s\n", err);
        goto out;
    }
    if (order_logs("prove", &logs, &nlogs) < 0)
        goto out;
    ordered = 1;
    c.files = logs;
    v = aigov_verify_new(keyarg ? &key : NULL, on_problem, &c);
    if (v == NULL)
        goto out;
    aigov_verify_keep_leaves(v);
    aigov_verify_threads(v, (unsigned) default_threads());
    for (int i = 0; i < nlogs; i++)
        if (aigov_verify_file(v, logs[i], err, sizeof(err)) < 0) {
            fprintf(stderr, "aigov audit prove: %s\n", err);
            goto out;
        }
    aigov_verify_finish(v);
    s = aigov_verify_summary(v);
    rc = AIGOV_EXIT_FOUND;
    if (c.n > 0) {
        qsort(c.p, c.n, sizeof(*c.p), cmp_problem);
        for (size_t i = 0; i < c.n; i++) {
            fprintf(stderr, "  ");
            print_problem(stderr, &c.p[i], logs);
        }
        fprintf(stderr, "aigov audit prove: the log does not verify (see above); no proof from it\n");
        goto out;
    }
    if (seq < s->start_size) {
        /* the files carry over only the compact range of what came before */
        fprintf(stderr, "aigov audit prove: record %llu is before these files (the first starts at seq %llu); "
                "give the earlier files too\n", (unsigned long long) seq, (unsigned long long) s->start_size);
        goto out;
    }
    note = aigov_verify_last_note(v, &note_len);
    if (note == NULL || s->checkpoints_ok == 0) {
        fprintf(stderr, "aigov audit prove: the log has no checkpoint to prove against\n");
        goto out;
    }
    if (seq >= s->last_size) {
        fprintf(stderr, "aigov audit prove: record %llu is not covered by a checkpoint yet (the newest covers %llu)\n",
                (unsigned long long) seq, (unsigned long long) s->last_size);
        goto out;
    }
    leaves = aigov_verify_leaves(v, &nleaves);
    if (nleaves < s->last_size - s->start_size) {
        fprintf(stderr, "aigov audit prove: out of memory\n");
        goto out;
    }
    /* leaves start at the first file's start; what came before it is its
     * carried-over range (empty for a log that starts at seq 0) */
    plen = aigov_inclusion_proof_from(aigov_verify_start(v), leaves, s->last_size, seq, proof);
    if (plen < 0) {
        fprintf(stderr, "aigov audit prove: no proof for record %llu\n", (unsigned long long) seq);
        goto out;
    }
    {
        json_t *o = json_object(), *arr = json_array();
        char h[65], r[65], *t;
        for (int i = 0; i < plen; i++) {
            hex(proof[i], 32, h);
            json_array_append_new(arr, json_string(h));
        }
        hex(leaves[seq - s->start_size], 32, h);
        hex(s->last_root, 32, r);
        json_object_set_new(o, "leaf_index", json_integer((json_int_t) seq));
        json_object_set_new(o, "tree_size", json_integer((json_int_t) s->last_size));
        json_object_set_new(o, "leaf_hash", json_string(h));
        json_object_set_new(o, "root", json_string(r));
        json_object_set_new(o, "proof", arr);
        json_object_set_new(o, "checkpoint", json_stringn(note, note_len));
        t = json_dumps(o, JSON_INDENT(2));
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(o);
    }
    rc = AIGOV_EXIT_OK;
out:
    aigov_verify_free(v);
    free(c.p);
    if (ordered)
        free_logs(logs, nlogs);
    else
        free(logs);
    return rc;
}

static int proof_fail(int json, const char *why)
{
    if (json)
        printf("{\"ok\":false,\"reason\":\"%s\"}\n", why);
    else
        printf("FAILED: %s\n", why);
    return AIGOV_EXIT_FOUND;
}

static int cmd_check_proof(int argc, char **argv)
{
    const char *keyarg = NULL, *proofpath = NULL, *linepath = NULL;
    int json = 0, rc;
    aigov_vkey_t key;
    aigov_checkpoint_t *cp = NULL;
    char err[512], why[300];
    json_t *j = NULL, *arr;
    uint8_t leaf[32], root[32], proof[64][32];
    size_t n;
    json_int_t idx, size;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--key") && i + 1 < argc)
            keyarg = argv[++i];
        else if (!strcmp(argv[i], "--line") && i + 1 < argc)
            linepath = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] != '-' && proofpath == NULL)
            proofpath = argv[i];
        else {
            usage(stderr);
            return AIGOV_EXIT_USAGE;
        }
    }
    if (keyarg == NULL || proofpath == NULL) {
        usage(stderr);
        return AIGOV_EXIT_USAGE;
    }
    if (aigov_vkey_load(&key, keyarg, err, sizeof(err)) < 0) {
        fprintf(stderr, "aigov audit check-proof: %s\n", err);
        return AIGOV_EXIT_USAGE;
    }
    j = json_load_file(proofpath, 0, NULL);
    arr = json_object_get(j, "proof");
    if (!json_is_object(j) || !json_is_integer(json_object_get(j, "leaf_index"))
        || !json_is_integer(json_object_get(j, "tree_size")) || !json_is_array(arr)
        || json_array_size(arr) > 64 || !json_is_string(json_object_get(j, "checkpoint"))
        || unhex32(json_string_value(json_object_get(j, "leaf_hash")), leaf) < 0
        || unhex32(json_string_value(json_object_get(j, "root")), root) < 0) {
        fprintf(stderr, "aigov audit check-proof: %s: not a proof from aigov audit prove\n", proofpath);
        json_decref(j);
        return AIGOV_EXIT_USAGE;
    }
    idx = json_integer_value(json_object_get(j, "leaf_index"));
    size = json_integer_value(json_object_get(j, "tree_size"));
    for (n = 0; n < json_array_size(arr); n++)
        if (unhex32(json_string_value(json_array_get(arr, n)), proof[n]) < 0) {
            json_decref(j);
            return proof_fail(json, "a proof hash is not 64 hex digits");
        }
    cp = malloc(sizeof(*cp));
    if (cp == NULL) {
        json_decref(j);
        return AIGOV_EXIT_USAGE;
    }
    if (aigov_checkpoint_open(json_string_value(json_object_get(j, "checkpoint")),
                              json_string_length(json_object_get(j, "checkpoint")), &key, cp, why,
                              sizeof(why)) != AIGOV_NOTE_OK) {
        rc = proof_fail(json, "the checkpoint's signature does not verify with this key");
        fprintf(stderr, "aigov audit check-proof: %s\n", why);
    } else if (idx < 0 || size < 0 || cp->size != (uint64_t) size || memcmp(cp->root, root, 32) != 0) {
        rc = proof_fail(json, "tree_size or root differ from the signed checkpoint");
    } else if (aigov_inclusion_verify((uint64_t) idx, (uint64_t) size, leaf, (const uint8_t (*)[32]) proof, n,
                                      root) != 0) {
        rc = proof_fail(json, "the inclusion proof does not lead to the signed root");
    } else {
        rc = AIGOV_EXIT_OK;
        if (linepath) {
            size_t len = 0;
            char *line = slurp(linepath, &len, (size_t) 64 << 20);
            uint8_t h[32];
            if (line == NULL) {
                rc = AIGOV_EXIT_USAGE;
            } else {
                if (len && line[len - 1] == '\n')
                    len--;
                aigov_leaf_hash(line, len, h);
                if (memcmp(h, leaf, 32) != 0)
                    rc = proof_fail(json, "the record line does not hash to leaf_hash");
                free(line);
            }
        }
        if (rc == AIGOV_EXIT_OK) {
            if (json)
                printf("{\"ok\":true,\"leaf_index\":%lld,\"tree_size\":%lld,\"origin\":\"%s\"}\n",
                       (long long) idx, (long long) size, cp->origin);
            else
                printf("OK: record %lld is in the log %s of %lld records signed by %s%s\n", (long long) idx,
                       cp->origin, (long long) size, cp->signer, linepath ? ", and the line given is that record" : "");
        }
    }
    free(cp);
    json_decref(j);
    return rc;
}

/* ---- _generate (test-only) --------------------------------------------------- */

typedef struct {
    const char *out;
    int         split;       /* records per file, 0: one file */
    int         part;
    FILE       *f;
} genfile_t;

static FILE *gen_open(genfile_t *g)
{
    char path[4096];
    if (g->split)
        snprintf(path, sizeof(path), "%s.%d", g->out, g->part++);
    else
        snprintf(path, sizeof(path), "%s", g->out);
    g->f = fopen(path, "w");
    if (g->f == NULL)
        fprintf(stderr, "aigov audit _generate: %s: %s\n", path, strerror(errno));
    return g->f;
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static int cmd_generate(int argc, char **argv)
{
    const char *keyp = NULL, *origin = "test/aigov";
    long records = 10, every = 5, lag = 0, split = 0, seed = 1;
    int final = 1, rc = AIGOV_EXIT_USAGE;
    genfile_t g = { 0 };
    aigov_signer_t *s = NULL;
    aigov_tree_t t;
    char err[512];
    uint64_t rnd;
    /* checkpoints signed but not yet written (the lag between workers) */
    struct { uint64_t size, due; uint8_t root[32]; } q[64];
    int nq = 0;
    static const char *subs[] = { "alice", "bob", "svc-batch", "carol" };
    static const char *models[] = { "gpt-4o", "gpt-4o-mini", "deepseek-chat" };

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--key") && i + 1 < argc) keyp = argv[++i];
        else if (!strcmp(argv[i], "--origin") && i + 1 < argc) origin = argv[++i];
        else if (!strcmp(argv[i], "--records") && i + 1 < argc) records = atol(argv[++i]);
        else if (!strcmp(argv[i], "--checkpoint-every") && i + 1 < argc) every = atol(argv[++i]);
        else if (!strcmp(argv[i], "--lag") && i + 1 < argc) lag = atol(argv[++i]);
        else if (!strcmp(argv[i], "--split") && i + 1 < argc) split = atol(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = atol(argv[++i]);
        else if (!strcmp(argv[i], "--no-final")) final = 0;
        else if (argv[i][0] != '-' && g.out == NULL) g.out = argv[i];
        else {
            fprintf(stderr, "aigov audit _generate: unexpected argument '%s'\n", argv[i]);
            return AIGOV_EXIT_USAGE;
        }
    }
    if (keyp == NULL || g.out == NULL || records < 0 || every < 1 || lag < 0 || lag > 1000 || split < 0) {
        fprintf(stderr, "usage: aigov audit _generate --key KEY [--origin O] [--records N] [--checkpoint-every M]\n"
                        "                            [--lag L] [--split R] [--seed S] [--no-final] OUT\n"
                        "test-only: writes a signed log of N made-up records (OUT.0, OUT.1... with --split)\n");
        return AIGOV_EXIT_USAGE;
    }
    s = aigov_signer_load(keyp, origin, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "aigov audit _generate: %s\n", err);
        return AIGOV_EXIT_USAGE;
    }
    g.split = (int) split;
    rnd = (uint64_t) seed;
    aigov_tree_init(&t);
    if (gen_open(&g) == NULL)
        goto out;
    for (long i = 0; i <= records; i++) {
        /* write the checkpoints whose lag is over */
        while (nq > 0 && (q[0].due <= (uint64_t) i || i == records)) {
            size_t len;
            char *line = aigov_checkpoint_line(s, q[0].size, q[0].root, &len);
            if (line == NULL || fwrite(line, 1, len, g.f) != len) {
                free(line);
                goto out;
            }
            free(line);
            memmove(q, q + 1, (size_t) --nq * sizeof(q[0]));
        }
        if (i == records)
            break;
        if (split && i > 0 && i % split == 0) {
            size_t len;
            char *line;
            if (fclose(g.f) != 0 || gen_open(&g) == NULL)
                goto out;
            line = aigov_checkpoint_carry_line(s, &t, &len);   /* what the module writes on reopen */
            if (line == NULL || fwrite(line, 1, len, g.f) != len) {
                free(line);
                goto out;
            }
            free(line);
        }
        {
            aigov_record_t r = { 0 };
            char id[32], ph[65], ps[65];
            uint8_t h[32], rb[32];
            json_t *groups = json_pack("[s]", (i % 3) ? "analysts" : "interns");
            json_t *claims = json_pack("{s:s}", "tenant", "acme");
            json_t *filters = json_pack("[{s:s, s:s, s:s, s:i}]", "plugin", "pii", "stage", "request",
                                        "verdict", (i % 7) ? "allow" : "redact", "count", (int) (i % 7 == 0));
            json_t *rec;
            char *line;
            size_t len;
            int deny = lcg(&rnd) % 5 == 0;

            for (int k = 0; k < 32; k++)
                rb[k] = (uint8_t) lcg(&rnd);
            hex(rb, 32, ps);
            memset(ph, 'a', 64);
            ph[64] = '\0';
            snprintf(id, sizeof(id), "req-%08lx", (unsigned long) (lcg(&rnd) & 0xffffffff));
            r.id = id;
            r.ts_us = 1714564800000000LL + (int64_t) i * 1500;
            r.sub = subs[lcg(&rnd) % 4];
            r.groups = groups;
            r.iss = "https://idp.example";
            r.claims = claims;
            r.method = "POST";
            r.path = "/v1/chat/completions";
            r.endpoint = "/v1/chat/completions";
            r.model = models[lcg(&rnd) % 3];
            r.max_tokens = 256 + (int64_t) (lcg(&rnd) % 1024);
            r.prompt_chars = (int64_t) (lcg(&rnd) % 5000);
            r.decision = deny ? "deny" : "allow";
            r.rule = deny ? "interns-small-models" : "analysts-chat";
            r.reason = deny ? "model not allowed" : NULL;
            r.policy_sha256 = ph;
            r.status = deny ? 403 : 200;
            r.filters = filters;
            r.prompt_tokens = deny ? -1 : (int64_t) (lcg(&rnd) % 900);
            r.completion_tokens = deny ? -1 : (int64_t) (lcg(&rnd) % 900);
            r.content = "hash";
            r.prompt_sha256 = ps;
            r.response_sha256 = deny ? NULL : ps;
            rec = aigov_record_json(&r);
            json_decref(groups);
            json_decref(claims);
            json_decref(filters);
            line = rec ? aigov_record_line_alloc(rec, (uint64_t) i, &len) : NULL;
            json_decref(rec);
            if (line == NULL || fwrite(line, 1, len, g.f) != len) {
                free(line);
                goto out;
            }
            aigov_leaf_hash(line, len - 1, h);
            aigov_tree_append(&t, h);
            free(line);
        }
        if ((t.size % (uint64_t) every == 0 || (final && i == records - 1)) && nq < 64) {
            q[nq].size = t.size;
            q[nq].due = (uint64_t) i + 1 + (uint64_t) lag;
            aigov_tree_root(&t, q[nq].root);
            nq++;
        }
    }
    rc = AIGOV_EXIT_OK;
out:
    if (g.f && fclose(g.f) != 0)
        rc = AIGOV_EXIT_USAGE;
    aigov_signer_free(s);
    return rc;
}

int aigov_cmd_audit(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? AIGOV_EXIT_USAGE : AIGOV_EXIT_OK;
    }
    if (!strcmp(argv[1], "verify"))
        return cmd_verify(argc - 1, argv + 1);
    if (!strcmp(argv[1], "show"))
        return cmd_show(argc - 1, argv + 1);
    if (!strcmp(argv[1], "prove"))
        return cmd_prove(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check-proof"))
        return cmd_check_proof(argc - 1, argv + 1);
    if (!strcmp(argv[1], "_generate"))
        return cmd_generate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "report"))
        return aigov_cmd_audit_report(argc - 1, argv + 1);
    if (!strcmp(argv[1], "match") || !strcmp(argv[1], "hash-keygen"))
        return aigov_cmd_audit_match(argc - 1, argv + 1);
    fprintf(stderr, "aigov audit: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return AIGOV_EXIT_USAGE;
}

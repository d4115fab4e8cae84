/*
 * audit_verify: streams an audit log and says which line is bad, and why.
 *
 * One pass, constant memory: the tree is kept as a compact range, and a
 * second compact range ("lag") trails it at the size of the last checkpoint
 * checked. Checkpoint sizes never go back, and a checkpoint is written soon
 * after the records it covers, so the leaf hashes between the two live in a
 * ring, and so do the inner nodes the tree made of them; a checkpoint of
 * size N that appears after later records is checked by advancing lag to N
 * a whole subtree at a time, from those nodes. Each leaf is hashed into
 * the tree once; lag costs a few hashes per checkpoint.
 *
 * A record's place is judged with one record of lookahead: a record whose
 * seq is wrong but whose neighbours are right had its seq changed; a gap
 * that a later record fills was a reorder; a seq seen before is an
 * insertion and stays out of the tree, so the checkpoints after it still
 * verify and the report points at the forged line alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "audit.h"
#include "audit_files.h"
#include "audit_policy.h"

#define RING_BITS   16
#define RING_SIZE   (1u << RING_BITS)
#define GAPS_MAX    256
#define LINE_MAX_LEN ((size_t) 64 << 20)
#define READ_CHUNK  ((size_t) 1 << 20)

typedef struct {
    uint8_t  hash[32];
    unsigned file;
    uint64_t line;
} ring_ent_t;

typedef struct {
    uint64_t lo, hi;        /* missing seqs lo..hi */
    unsigned file;
    uint64_t line;          /* where the gap showed */
    int64_t  found;         /* the seq found there, -1 for a checkpoint */
} gap_t;

enum { PEND_NONE, PEND_RECORD, PEND_OTHER };

struct aigov_verify {
    aigov_vkey_t      key;
    int               have_key;
    aigov_problem_fn  on_problem;
    void             *ud;
    aigov_progress_fn progress;

    char            **names;
    unsigned          nfiles;
    unsigned          file;
    uint64_t          line;
    int               any_line;      /* a line was seen in any file */

    aigov_tree_t      tree, lag, start;
    ring_ent_t       *ring;
    uint8_t         (*nodes)[32];    /* level h (1..RING_BITS): RING_SIZE >> h of them */
    uint64_t          e;             /* seq the next record should carry */

    int               pend;
    uint64_t          pend_seq;
    int               pend_has_seq, pend_torn, pend_json;
    unsigned          pend_file;
    uint64_t          pend_line;
    uint8_t           pend_hash[32];

    gap_t             gaps[GAPS_MAX];
    size_t            ngaps;

    uint64_t          good_size;     /* newest checkpoint whose root matched */
    uint64_t          struct_from;   /* first leaf position a reported problem changed */
    int               diverged;      /* a checkpoint already failed */
    int               have_prev;
    uint64_t          prev_size;
    unsigned          prev_file;
    uint64_t          prev_line;

    int               have_kept, kept_done;
    uint64_t          kept_size;
    uint8_t           kept_root[32];

    int               keep_leaves;
    uint8_t         (*leaves)[32];
    uint64_t          nleaves, cap_leaves;
    int               leaves_failed;

    char             *note;
    size_t            note_len;

    struct { uint64_t n, first, last; } *franges;   /* per file, see aigov_verify_file_range */

    int               check_policies;                 /* see audit_policy.h */
    struct { uint8_t d[32]; int logged, missing; unsigned file; uint64_t line, seq; } *pols;
    size_t            npols, cappols;
    uint64_t          policy_records;

    unsigned          threads;                        /* aigov_verify_threads */

    aigov_verify_summary_t sum;
};

static void report(aigov_verify_t *v, const char *reason, unsigned file, uint64_t line,
                   unsigned last_file, uint64_t last_line, int64_t seq, int64_t seq_last,
                   const char *fmt, ...) __attribute__((format(printf, 9, 10)));

static void report(aigov_verify_t *v, const char *reason, unsigned file, uint64_t line,
                   unsigned last_file, uint64_t last_line, int64_t seq, int64_t seq_last,
                   const char *fmt, ...)
{
    aigov_problem_t p;
    va_list ap;

    memset(&p, 0, sizeof(p));
    p.reason = reason;
    p.file = file;
    p.line = line;
    p.last_file = last_file;
    p.last_line = last_line;
    p.seq = seq;
    p.seq_last = seq_last;
    va_start(ap, fmt);
    vsnprintf(p.message, sizeof(p.message), fmt, ap);
    va_end(ap);
    v->sum.problems++;
    if (v->on_problem)
        v->on_problem(v->ud, &p);
}

#define REPORT1(v, reason, file, line, seq, ...) \
    report(v, reason, file, line, file, line, seq, seq, __VA_ARGS__)

static const char *fname(const aigov_verify_t *v, unsigned f)
{
    return f < v->nfiles ? v->names[f] : "?";
}

/* "line 12" or "line 12 of log.1" when the place is in another file. */
static const char *place(const aigov_verify_t *v, unsigned here, unsigned f, uint64_t line, char *buf, size_t cap)
{
    if (f == here)
        snprintf(buf, cap, "line %llu", (unsigned long long) line);
    else
        snprintf(buf, cap, "line %llu of %s", (unsigned long long) line, fname(v, f));
    return buf;
}

/* The ring entry of leaf position pos, if it is still there. */
static const ring_ent_t *ring_at(const aigov_verify_t *v, uint64_t pos)
{
    if (pos >= v->tree.size || pos < v->sum.start_size || pos + RING_SIZE < v->tree.size)
        return NULL;
    return &v->ring[pos % RING_SIZE];
}

aigov_verify_t *aigov_verify_new(const aigov_vkey_t *key, aigov_problem_fn on_problem, void *ud)
{
    aigov_verify_t *v = calloc(1, sizeof(*v));

    if (v == NULL)
        return NULL;
    v->ring = calloc(RING_SIZE, sizeof(ring_ent_t));
    v->nodes = calloc(RING_SIZE, 32);
    if (v->ring == NULL || v->nodes == NULL) {
        free(v->ring);
        free(v->nodes);
        free(v);
        return NULL;
    }
    if (key) {
        v->key = *key;
        v->have_key = 1;
    }
    v->on_problem = on_problem;
    v->ud = ud;
    aigov_tree_init(&v->tree);
    aigov_tree_init(&v->lag);
    v->struct_from = UINT64_MAX;
    return v;
}

void aigov_verify_free(aigov_verify_t *v)
{
    if (v == NULL)
        return;
    for (unsigned i = 0; i < v->nfiles; i++)
        free(v->names[i]);
    free(v->names);
    free(v->ring);
    free(v->nodes);
    free(v->leaves);
    free(v->note);
    free(v->franges);
    free(v->pols);
    free(v);
}

void aigov_verify_check_policies(aigov_verify_t *v) { v->check_policies = 1; }
uint64_t aigov_verify_policy_records(const aigov_verify_t *v) { return v->policy_records; }

uint64_t aigov_verify_policies_missing(const aigov_verify_t *v)
{
    uint64_t n = 0;

    for (size_t i = 0; i < v->npols; i++)
        n += (uint64_t) v->pols[i].missing;
    return n;
}

static void policy_finish(aigov_verify_t *v)
{
    char hexd[65];

    if (!v->check_policies || v->policy_records == 0)
        return;
    for (size_t i = 0; i < v->npols; i++) {
        if (!v->pols[i].missing)
            continue;
        for (int k = 0; k < 32; k++)
            snprintf(hexd + 2 * k, 3, "%02x", v->pols[i].d[k]);
        REPORT1(v, "no policy", v->pols[i].file, v->pols[i].line, (int64_t) v->pols[i].seq,
                "this record names policy %s, but no policy record with that digest comes before it", hexd);
    }
}

/* Each digest a record uses must have its policy record before it; each
 * missing one is reported once, where it is first used. */
static void policy_check(aigov_verify_t *v, const char *p, size_t len, uint64_t seq,
                         const aigov_record_policy_t *scanned)
{
    aigov_record_policy_t rp = *scanned;
    aigov_policy_record_t pr;
    char why[200];
    size_t i;

    if (!rp.is_policy && !rp.has_digest)
        return;
    if (rp.is_policy) {
        if (aigov_policy_record_read(p, len, &pr, why, sizeof(why)) < 0) {
            REPORT1(v, "bad policy", v->file, v->line, (int64_t) seq, "policy record: %s", why);
            return;
        }
        aigov_policy_record_free(&pr);
        v->policy_records++;
    }
    if (!rp.has_digest)
        return;
    for (i = 0; i < v->npols; i++)
        if (memcmp(v->pols[i].d, rp.digest, 32) == 0)
            break;
    if (i == v->npols) {
        if (v->npols == v->cappols) {
            size_t cap = v->cappols ? v->cappols * 2 : 16;
            void *np = realloc(v->pols, cap * sizeof(v->pols[0]));
            if (np == NULL)
                return;
            v->pols = np;
            v->cappols = cap;
        }
        memcpy(v->pols[i].d, rp.digest, 32);
        v->pols[i].logged = 0;
        /* reported at the end, and only when the log holds policy records
         * at all: logs from before aigov wrote them hold none */
        v->pols[i].missing = !rp.is_policy;
        v->pols[i].file = v->file;
        v->pols[i].line = v->line;
        v->pols[i].seq = seq;
        v->npols++;
    }
    if (rp.is_policy)
        v->pols[i].logged = 1;
}

uint64_t aigov_verify_file_range(const aigov_verify_t *v, unsigned file, uint64_t *first, uint64_t *last)
{
    if (v->franges == NULL || file >= v->nfiles || v->franges[file].n == 0)
        return 0;
    *first = v->franges[file].first;
    *last = v->franges[file].last;
    return v->franges[file].n;
}

void aigov_verify_progress(aigov_verify_t *v, aigov_progress_fn fn) { v->progress = fn; }
void aigov_verify_keep_leaves(aigov_verify_t *v) { v->keep_leaves = 1; }
const aigov_verify_summary_t *aigov_verify_summary(const aigov_verify_t *v) { return &v->sum; }
const aigov_tree_t *aigov_verify_tree(const aigov_verify_t *v) { return &v->tree; }
const aigov_tree_t *aigov_verify_start(const aigov_verify_t *v) { return &v->start; }

const uint8_t (*aigov_verify_leaves(const aigov_verify_t *v, uint64_t *n))[32]
{
    *n = v->leaves_failed ? 0 : v->nleaves;
    return (const uint8_t (*)[32]) v->leaves;
}

const char *aigov_verify_last_note(const aigov_verify_t *v, size_t *len)
{
    *len = v->note_len;
    return v->note;
}

int aigov_verify_expect(aigov_verify_t *v, const char *note, size_t len, char *err, size_t errlen)
{
    aigov_checkpoint_t *cp = malloc(sizeof(*cp));
    char why[300];
    aigov_note_status_t st;

    if (cp == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st = aigov_checkpoint_open(note, len, v->have_key ? &v->key : NULL, cp, why, sizeof(why));
    if (st != AIGOV_NOTE_OK) {
        snprintf(err, errlen, "the kept checkpoint does not verify: %s", why);
        free(cp);
        return -1;
    }
    v->have_kept = 1;
    v->kept_size = cp->size;
    memcpy(v->kept_root, cp->root, 32);
    free(cp);
    return 0;
}

static void check_kept(aigov_verify_t *v)
{
    uint8_t r[32];
    const ring_ent_t *last;

    if (!v->have_kept || v->kept_done || v->tree.size != v->kept_size)
        return;
    v->kept_done = 1;
    aigov_tree_root(&v->tree, r);
    if (memcmp(r, v->kept_root, 32) != 0) {
        last = ring_at(v, v->tree.size - 1);
        report(v, "modified", last ? last->file : v->file, last ? last->line : 0,
               last ? last->file : v->file, last ? last->line : 0, -1, -1,
               "the log does not extend the checkpoint you kept: its first %llu records "
               "do not give that checkpoint's root", (unsigned long long) v->kept_size);
    }
}

/* The node of level h (2^h leaves) at index i, from the rings. */
static uint8_t *node_at(aigov_verify_t *v, unsigned h, uint64_t i)
{
    if (h == 0)
        return v->ring[i % RING_SIZE].hash;
    return v->nodes[RING_SIZE - (RING_SIZE >> (h - 1)) + i % (RING_SIZE >> h)];
}

/* The tree keeps each inner node it makes, up to the rings' span. */
static void keep_node(void *ud, unsigned level, uint64_t index, const uint8_t hash[32])
{
    if (level <= RING_BITS)
        memcpy(node_at(ud, level, index), hash, 32);
}

/* Advances lag to n (lag.size <= n <= tree.size, and the tree at most
 * RING_SIZE leaves ahead of lag): each step takes the largest subtree
 * that starts at lag's size and ends by n; the tree made it, and it is
 * still in the rings because they span RING_SIZE leaves. */
static void lag_to(aigov_verify_t *v, uint64_t n)
{
    while (v->lag.size < n) {
        uint64_t at = v->lag.size;
        unsigned h = at ? (unsigned) __builtin_ctzll(at) : RING_BITS;

        if (h > RING_BITS)
            h = RING_BITS;
        while (at + ((uint64_t) 1 << h) > n)
            h--;
        aigov_tree_append_subtree(&v->lag, h, node_at(v, h, at >> h), NULL, NULL);
    }
}

static void commit(aigov_verify_t *v, const uint8_t hash[32], unsigned file, uint64_t line)
{
    ring_ent_t *r;

    /* The rings must hold every leaf and node lag has not taken yet. */
    if (v->tree.size - v->lag.size >= RING_SIZE)
        lag_to(v, v->tree.size - RING_SIZE + 1);
    r = &v->ring[v->tree.size % RING_SIZE];
    memcpy(r->hash, hash, 32);
    r->file = file;
    r->line = line;
    if (v->franges && file < v->nfiles) {
        if (v->franges[file].n++ == 0)
            v->franges[file].first = v->tree.size;
        v->franges[file].last = v->tree.size;
    }
    aigov_tree_append_subtree(&v->tree, 0, hash, keep_node, v);

    if (v->keep_leaves && !v->leaves_failed) {
        if (v->nleaves == v->cap_leaves) {
            uint64_t cap = v->cap_leaves ? v->cap_leaves * 2 : 4096;
            void *p = realloc(v->leaves, cap * 32);
            if (p == NULL) {
                v->leaves_failed = 1;
            } else {
                v->leaves = p;
                v->cap_leaves = cap;
            }
        }
        if (!v->leaves_failed)
            memcpy(v->leaves[v->nleaves++], hash, 32);
    }
    check_kept(v);
}

static void gap_add(aigov_verify_t *v, uint64_t lo, uint64_t hi, unsigned file, uint64_t line, int64_t found)
{
    if (v->ngaps == GAPS_MAX) {
        gap_t *g = &v->gaps[0];
        report(v, "removed", g->file, g->line, g->file, g->line, (int64_t) g->lo, (int64_t) g->hi,
               "seq %llu..%llu missing", (unsigned long long) g->lo, (unsigned long long) g->hi);
        memmove(v->gaps, v->gaps + 1, (GAPS_MAX - 1) * sizeof(gap_t));
        v->ngaps--;
    }
    v->gaps[v->ngaps++] = (gap_t) { lo, hi, file, line, found };
}

/* Takes seq s out of the gaps; 1 if it was missing. */
static int gap_take(aigov_verify_t *v, uint64_t s)
{
    for (size_t i = 0; i < v->ngaps; i++) {
        gap_t *g = &v->gaps[i];
        if (s < g->lo || s > g->hi)
            continue;
        if (g->lo == g->hi) {
            memmove(g, g + 1, (v->ngaps - i - 1) * sizeof(gap_t));
            v->ngaps--;
        } else if (s == g->lo) {
            g->lo++;
        } else if (s == g->hi) {
            g->hi--;
        } else {
            gap_t tail = *g;
            tail.lo = s + 1;
            g->hi = s - 1;
            gap_add(v, tail.lo, tail.hi, tail.file, tail.line, tail.found);
        }
        return 1;
    }
    return 0;
}

/* A reported problem changes the tree from the current position on; a
 * checkpoint that then fails to match is explained by it. */
static void mark(aigov_verify_t *v)
{
    if (v->tree.size < v->struct_from)
        v->struct_from = v->tree.size;
}

/* Decides what the held-back line was, now that the next event is known.
 * hint: the seq that the next event says should come now (a record's seq,
 * a checkpoint's size), or -1. */
static void resolve(aigov_verify_t *v, int64_t hint)
{
    int next_fits = hint >= 0 && (uint64_t) hint == v->e + 1;
    uint64_t e = v->e, s = v->pend_seq;
    unsigned f = v->pend_file;
    uint64_t l = v->pend_line;
    char where[300];

    if (v->pend == PEND_NONE)
        return;
    if (v->pend == PEND_RECORD) {
        if (next_fits) {
            REPORT1(v, "modified", f, l, (int64_t) e,
                    "this record's seq field holds %llu, but its place in the log is seq %llu",
                    (unsigned long long) s, (unsigned long long) e);
            mark(v);
            commit(v, v->pend_hash, f, l);
            v->e++;
        } else if (s > e) {
            gap_add(v, e, s - 1, f, l, (int64_t) s);
            mark(v);
            commit(v, v->pend_hash, f, l);
            v->e = s + 1;
        } else if (gap_take(v, s)) {
            REPORT1(v, "reordered", f, l, (int64_t) s,
                    "seq %llu comes after seq %llu", (unsigned long long) s, (unsigned long long) (e - 1));
            mark(v);
            commit(v, v->pend_hash, f, l);
        } else {
            const ring_ent_t *r = ring_at(v, s);
            if (r)
                place(v, f, r->file, r->line, where, sizeof(where));
            REPORT1(v, "inserted", f, l, (int64_t) s, "seq %llu appears again%s%s%s; this line is not part of the log",
                    (unsigned long long) s, r ? " (first at " : "", r ? where : "", r ? ")" : "");
        }
    } else if (next_fits) {
        /* The line sits where record e belongs: it was that record. */
        if (v->pend_torn)
            REPORT1(v, "torn", f, l, (int64_t) e, "record seq %llu is cut short (no newline or incomplete JSON)",
                    (unsigned long long) e);
        else
            REPORT1(v, "modified", f, l, (int64_t) e, "record seq %llu is %s",
                    (unsigned long long) e, v->pend_json ? "no longer a record" : "no longer valid JSON");
        mark(v);
        commit(v, v->pend_hash, f, l);
        v->e++;
    } else if (v->pend_torn) {
        if (v->pend_has_seq)
            REPORT1(v, "torn", f, l, (int64_t) s, "record seq %llu was cut short and is lost "
                    "(a writer stopped mid-line); it is not part of the tree", (unsigned long long) s);
        else
            REPORT1(v, "torn", f, l, -1, "an incomplete line (a writer stopped mid-line); it is not part of the tree");
    } else {
        REPORT1(v, "inserted", f, l, -1, "%s; it is not part of the log",
                v->pend_json ? "this line is neither a record nor a checkpoint" : "this line is not valid JSON");
    }
    v->pend = PEND_NONE;
}

static void on_record(aigov_verify_t *v, uint64_t seq, const uint8_t hash[32])
{
    resolve(v, (int64_t) seq);
    if (seq == v->e && v->pend == PEND_NONE) {
        commit(v, hash, v->file, v->line);
        v->e++;
        return;
    }
    v->pend = PEND_RECORD;
    v->pend_seq = seq;
    v->pend_has_seq = 1;
    v->pend_torn = 0;
    v->pend_json = 1;
    v->pend_file = v->file;
    v->pend_line = v->line;
    memcpy(v->pend_hash, hash, 32);
}

static void on_other(aigov_verify_t *v, const uint8_t hash[32], int torn, int json, int has_seq, uint64_t seq)
{
    resolve(v, -1);
    v->pend = PEND_OTHER;
    v->pend_seq = seq;
    v->pend_has_seq = has_seq;
    v->pend_torn = torn;
    v->pend_json = json;
    v->pend_file = v->file;
    v->pend_line = v->line;
    memcpy(v->pend_hash, hash, 32);
}

static void keep_note(aigov_verify_t *v, const char *note, size_t len)
{
    char *n = malloc(len + 1);
    if (n == NULL)
        return;
    memcpy(n, note, len);
    n[len] = '\0';
    free(v->note);
    v->note = n;
    v->note_len = len;
}

static void good_checkpoint(aigov_verify_t *v, const aigov_checkpoint_t *cp, const char *note, size_t len)
{
    v->good_size = cp->size;
    v->diverged = 0;
    v->sum.checkpoints_ok++;
    v->sum.last_size = cp->size;
    v->sum.last_file = v->file;
    v->sum.last_line = v->line;
    memcpy(v->sum.last_root, cp->root, 32);
    keep_note(v, note, len);
}

static void on_checkpoint(aigov_verify_t *v, const char *line, size_t len, int first_of_file)
{
    aigov_checkpoint_t *cp;
    const char *note;
    size_t note_len;
    json_t *j;
    char why[300], where[300];
    aigov_note_status_t st;
    uint8_t root[32];
    unsigned f = v->file;
    uint64_t l = v->line, size;

    v->sum.checkpoints++;
    j = aigov_checkpoint_line_note(line, len, &note, &note_len);
    if (j == NULL) {
        resolve(v, -1);
        REPORT1(v, "bad signature", f, l, -1, "this checkpoint line is not {\"checkpoint\":\"<signed note>\"}");
        return;
    }
    cp = malloc(sizeof(*cp));
    if (cp == NULL) {
        json_decref(j);
        return;
    }
    st = aigov_checkpoint_open(note, note_len, v->have_key ? &v->key : NULL, cp, why, sizeof(why));
    size = cp->size;
    resolve(v, st == AIGOV_NOTE_OK ? (int64_t) size : -1);
    if (st != AIGOV_NOTE_OK) {
        REPORT1(v, st == AIGOV_NOTE_UNKNOWN_KEY ? "unknown key" : "bad signature", f, l, -1,
                "checkpoint%s: %s", st == AIGOV_NOTE_MALFORMED ? " malformed" : "", why);
        goto done;
    }
    v->sum.last_cp_size_any = size;

    /* A file that starts with a carry-over checkpoint continues the tree
     * from its signed compact range, even without the earlier files. */
    if (first_of_file && !v->any_line && cp->has_range && size > 0) {
        aigov_tree_from_range(&v->tree, size, (const uint8_t (*)[32]) cp->range, cp->range_len);
        v->lag = v->tree;
        v->start = v->tree;
        v->e = size;
        v->sum.start_size = size;
        good_checkpoint(v, cp, note, note_len);
        v->have_prev = 1;
        v->prev_size = size;
        v->prev_file = f;
        v->prev_line = l;
        if (v->have_kept && v->kept_size < size) {
            v->kept_done = 1;
            REPORT1(v, "truncated", f, l, -1, "the checkpoint you kept (size %llu) is older than the start of "
                    "these files (size %llu): give the earlier files too",
                    (unsigned long long) v->kept_size, (unsigned long long) size);
        }
        check_kept(v);
        goto done;
    }

    if (v->have_prev && size < v->prev_size) {
        REPORT1(v, "reordered", f, l, -1, "checkpoint size %llu is smaller than the checkpoint at %s (size %llu)",
                (unsigned long long) size, place(v, f, v->prev_file, v->prev_line, where, sizeof(where)),
                (unsigned long long) v->prev_size);
        goto done;
    }
    v->have_prev = 1;
    v->prev_size = size;
    v->prev_file = f;
    v->prev_line = l;

    if (size > v->e) {
        /* Signed for more records than came before it: they were removed. */
        gap_add(v, v->e, size - 1, f, l, -1);
        v->e = size;
        mark(v);
    }
    if (size > v->tree.size) {
        v->diverged = 1;
        v->sum.mismatches_after++;
        goto done;
    }
    if (size < v->lag.size) {
        REPORT1(v, "reordered", f, l, -1, "checkpoint size %llu comes more than %u records after the records "
                "it covers; it cannot be checked", (unsigned long long) size, RING_SIZE);
        goto done;
    }

    {
        uint64_t from = v->good_size;
        const ring_ent_t *first = ring_at(v, from), *last = size ? ring_at(v, size - 1) : NULL;

        lag_to(v, size);
        aigov_tree_root(&v->lag, root);
        if (memcmp(root, cp->root, 32) == 0) {
            good_checkpoint(v, cp, note, note_len);
        } else if (v->diverged || v->struct_from < size) {
            /* Already explained by a problem reported before. */
            v->diverged = 1;
            v->sum.mismatches_after++;
        } else {
            v->diverged = 1;
            report(v, "modified", first ? first->file : f, first ? first->line : 0,
                   last ? last->file : f, last ? last->line : 0, (int64_t) from, (int64_t) size - 1,
                   "one of the records seq %llu..%llu was changed: they do not give the root signed "
                   "by the checkpoint at %s (size %llu)%s",
                   (unsigned long long) from, (unsigned long long) size - 1,
                   place(v, first ? first->file : f, f, l, where, sizeof(where)), (unsigned long long) size,
                   from ? "; the records before verify" : "");
        }
    }
done:
    free(cp);
    json_decref(j);
}

/* What a line is, worked out without the verifier's state: this is most
 * of the work (hashing and checking every byte), so it can run on several
 * cores ahead of the sequential part (see verify_lines). */
typedef struct {
    uint8_t  h[32];
    uint64_t seq;
    int      cp, has_seq, json;
    aigov_record_policy_t pol;
    int      pol_ok;
} pre_t;

static void pre_line(const char *p, size_t len, int has_nl, int policies, pre_t *o)
{
    o->cp = has_nl && aigov_is_checkpoint_line(p, len);
    if (o->cp)
        return;
    aigov_leaf_hash(p, len, o->h);
    o->seq = 0;
    o->has_seq = aigov_record_seq(p, len, &o->seq) == 0;
    /* the check reads the policy fields on its way */
    memset(&o->pol, 0, sizeof(o->pol));
    o->json = aigov_json_check_top(p, len, policies ? aigov_record_policy_member : NULL, &o->pol);
    o->pol_ok = policies && has_nl && o->has_seq && o->json == 0;
}

static void process_pre(aigov_verify_t *v, const char *p, size_t len, int has_nl, int first_of_file,
                        const pre_t *x)
{
    v->line++;
    v->sum.lines++;
    if (x->cp) {
        on_checkpoint(v, p, len, first_of_file);
        v->any_line = 1;
        return;
    }
    v->any_line = 1;
    if (!has_nl)
        on_other(v, x->h, 1, 0, x->has_seq, x->seq);
    else if (x->has_seq && x->json == 0) {
        if (v->check_policies && x->pol_ok)
            policy_check(v, p, len, x->seq, &x->pol);
        on_record(v, x->seq, x->h);
    }
    else
        on_other(v, x->h, x->json == 2, x->json == 0, x->has_seq, x->seq);
}

static void process_line(aigov_verify_t *v, const char *p, size_t len, int has_nl, int first_of_file)
{
    pre_t x;

    pre_line(p, len, has_nl, v->check_policies, &x);
    process_pre(v, p, len, has_nl, first_of_file, &x);
}

/* ---- reading a file: lines checked on several cores, fed in order --------
 *
 * A file is read in chunks of whole lines, in two slots. While the
 * caller's thread feeds the lines of one chunk to the verifier in order
 * (the tree, the checkpoints: work that cannot be split), the workers
 * hash and check the lines of the next one (pre_line, most of the work);
 * the caller helps with what is left when it gets there. So both cores
 * stay busy and the sequential part hides behind the parallel one. */

#define BLOCK_LINES 1024
#define SLOTS       2

typedef struct {
    char           *buf;
    size_t          cap, used;              /* used: bytes of complete lines */
    size_t         *off, *len;
    pre_t          *pre;
    size_t          nlines, capl;
    size_t          next, done;             /* lines claimed / finished (under pipe lock for done) */
} slot_t;

typedef struct pipe_s {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    slot_t          slot[SLOTS];
    uint64_t        published;              /* chunks handed to the workers */
    uint64_t       *at;                     /* per worker: the chunk it works on */
    unsigned        nworkers;
    int             stop, policies;
    pthread_t      *th;
} pipe_t;

/* Claims blocks of the chunk's lines until none is left. */
static void pipe_work(pipe_t *q, slot_t *s)
{
    for (;;) {
        size_t from = __atomic_fetch_add(&s->next, BLOCK_LINES, __ATOMIC_RELAXED), to;

        if (from >= s->nlines)
            return;
        to = from + BLOCK_LINES < s->nlines ? from + BLOCK_LINES : s->nlines;
        for (size_t i = from; i < to; i++)
            pre_line(s->buf + s->off[i], s->len[i], 1, q->policies, &s->pre[i]);
        pthread_mutex_lock(&q->mu);
        s->done += to - from;
        if (s->done == s->nlines)
            pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
}

typedef struct {
    pipe_t  *q;
    unsigned id;
} worker_arg_t;

static void *pipe_worker(void *arg)
{
    worker_arg_t *w = arg;
    pipe_t *q = w->q;

    for (uint64_t c = 0;; c++) {
        pthread_mutex_lock(&q->mu);
        q->at[w->id] = c;
        pthread_cond_broadcast(&q->cv);
        while (q->published <= c && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->published <= c) {
            pthread_mutex_unlock(&q->mu);
            break;
        }
        pthread_mutex_unlock(&q->mu);
        pipe_work(q, &q->slot[c % SLOTS]);
    }
    free(w);
    return NULL;
}

static void pipe_stop(pipe_t *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (unsigned i = 0; i < q->nworkers; i++)
        pthread_join(q->th[i], NULL);
    for (unsigned i = 0; i < SLOTS; i++) {
        free(q->slot[i].buf);
        free(q->slot[i].off);
        free(q->slot[i].len);
        free(q->slot[i].pre);
    }
    free(q->at);
    free(q->th);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* The pipe for one file; with threads < 2 it has no workers and the
 * caller does all the work, in the same order. */
static pipe_t *pipe_start(aigov_verify_t *v)
{
    pipe_t *q = calloc(1, sizeof(*q));
    unsigned want = v->threads > 1 ? v->threads - 1 : 0;

    if (q == NULL)
        return NULL;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->policies = v->check_policies;
    q->at = calloc(want + 1, sizeof(uint64_t));
    q->th = calloc(want + 1, sizeof(pthread_t));
    for (unsigned i = 0; i < SLOTS; i++) {
        q->slot[i].cap = READ_CHUNK * 2;
        q->slot[i].buf = malloc(q->slot[i].cap);
        if (q->slot[i].buf == NULL)
            goto fail;
    }
    if (q->at == NULL || q->th == NULL)
        goto fail;
    for (unsigned i = 0; i < want; i++) {
        worker_arg_t *w = malloc(sizeof(*w));
        if (w == NULL)
            break;
        *w = (worker_arg_t) { q, i };
        if (pthread_create(&q->th[i], NULL, pipe_worker, w) != 0) {
            free(w);
            break;      /* fewer workers: slower, not wrong */
        }
        q->nworkers++;
    }
    return q;
fail:
    pipe_stop(q);
    return NULL;
}

/* Splits s->buf[0..s->used) into its lines. -1 out of memory. */
static int slot_split(slot_t *s)
{
    const char *p = s->buf, *end = s->buf + s->used, *nl;

    s->nlines = 0;
    while (p < end && (nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
        if (s->nlines == s->capl) {
            size_t cap = s->capl ? s->capl * 2 : 16384;
            size_t *o = realloc(s->off, cap * sizeof(size_t));
            size_t *l = o ? realloc(s->len, cap * sizeof(size_t)) : NULL;
            pre_t *x = l ? realloc(s->pre, cap * sizeof(pre_t)) : NULL;
            if (o)
                s->off = o;
            if (l)
                s->len = l;
            if (x == NULL)
                return -1;
            s->pre = x;
            s->capl = cap;
        }
        s->off[s->nlines] = (size_t) (p - s->buf);
        s->len[s->nlines++] = (size_t) (nl - p);
        p = nl + 1;
    }
    return 0;
}

/* Hands chunk c (in its slot) to the workers once every worker has left
 * the chunk that used that slot before. */
static void pipe_publish(pipe_t *q, uint64_t c)
{
    slot_t *s = &q->slot[c % SLOTS];

    pthread_mutex_lock(&q->mu);
    s->next = 0;
    s->done = 0;
    q->published = c + 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* A slot may be refilled only when no worker can still claim from it. */
static void pipe_wait_free(pipe_t *q, uint64_t c)
{
    if (c < SLOTS)
        return;
    pthread_mutex_lock(&q->mu);
    for (unsigned i = 0; i < q->nworkers; i++)
        while (q->at[i] <= c - SLOTS && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
}

/* Finishes chunk c's checks (helping the workers), then feeds its lines. */
static void pipe_feed(aigov_verify_t *v, pipe_t *q, uint64_t c, int *first)
{
    slot_t *s = &q->slot[c % SLOTS];

    pipe_work(q, s);
    pthread_mutex_lock(&q->mu);
    while (s->done < s->nlines)
        pthread_cond_wait(&q->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < s->nlines; i++) {
        process_pre(v, s->buf + s->off[i], s->len[i], 1, *first, &s->pre[i]);
        *first = 0;
    }
}

void aigov_verify_threads(aigov_verify_t *v, unsigned n) { v->threads = n > 16 ? 16 : n; }

static void begin_file(aigov_verify_t *v, const char *name)
{
    char **n = realloc(v->names, (v->nfiles + 1) * sizeof(char *));
    void *fr = realloc(v->franges, (v->nfiles + 1) * sizeof(v->franges[0]));

    if (fr) {
        v->franges = fr;
        memset(&v->franges[v->nfiles], 0, sizeof(v->franges[0]));
    }
    if (n) {
        v->names = n;
        v->names[v->nfiles] = strdup(name);
        if (v->names[v->nfiles] == NULL)
            v->names[v->nfiles] = NULL;
        v->nfiles++;
    }
    v->file = v->nfiles ? v->nfiles - 1 : 0;
    v->line = 0;
    v->sum.torn_tail = 0;
}

void aigov_verify_buffer(aigov_verify_t *v, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    int first = 1;

    begin_file(v, "<buffer>");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            process_line(v, p, (size_t) (end - p), 0, first);
            v->sum.torn_tail = 1;
            break;
        }
        process_line(v, p, (size_t) (nl - p), 1, first);
        first = 0;
        p = nl + 1;
    }
}

int aigov_verify_file(aigov_verify_t *v, const char *path, char *err, size_t errlen)
{
    /* plain or gzip (logrotate's compress), see audit_files.h */
    aigov_reader_t *fd = aigov_reader_open(path, err, errlen);
    pipe_t *q;
    slot_t *s;
    size_t have = 0;        /* bytes of a cut line, carried to the next slot */
    const char *carry = NULL;
    uint64_t c = 0, bytes = 0, next_progress = 0;
    int first = 1, skipping = 0, eof = 0, pending = 0, rc = -1;

    if (fd == NULL)
        return -1;
    q = pipe_start(v);
    if (q == NULL) {
        aigov_reader_close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    begin_file(v, path);
    while (!eof) {
        const char *nl;

        pipe_wait_free(q, c);
        s = &q->slot[c % SLOTS];
        while (s->cap <= have) {
            char *nb = realloc(s->buf, s->cap * 2);
            if (nb == NULL)
                goto oom;
            s->buf = nb;
            s->cap *= 2;
        }
        if (have)
            memmove(s->buf, carry, have);
        /* fill the slot; a line longer than the slot grows it */
        for (;;) {
            ssize_t n;

            if (have == s->cap) {
                if (memrchr(s->buf, '\n', have) != NULL)
                    break;
                if (s->cap >= LINE_MAX_LEN) {
                    /* what came before it is reported first, in order */
                    if (pending)
                        pipe_feed(v, q, c - 1, &first);
                    pending = 0;
                    v->line++;
                    v->sum.lines++;
                    resolve(v, -1);
                    REPORT1(v, "inserted", v->file, v->line, -1,
                            "this line is longer than %zu MiB; it is skipped", LINE_MAX_LEN >> 20);
                    first = 0;
                    skipping = 1;
                    have = 0;
                } else {
                    char *nb = realloc(s->buf, s->cap * 2);
                    if (nb == NULL)
                        goto oom;
                    s->buf = nb;
                    s->cap *= 2;
                }
            }
            n = aigov_reader_read(fd, s->buf + have, s->cap - have, err, errlen);
            if (n < 0)
                goto out;
            if (n == 0) {
                eof = 1;
                break;
            }
            bytes += (uint64_t) n;
            if (skipping) {
                const char *e = memchr(s->buf + have, '\n', (size_t) n);
                if (e == NULL)
                    continue;
                skipping = 0;
                have = (size_t) (s->buf + have + n - (e + 1));
                memmove(s->buf, e + 1, have);
                continue;
            }
            have += (size_t) n;
        }
        nl = memrchr(s->buf, '\n', have);
        s->used = nl ? (size_t) (nl + 1 - s->buf) : 0;
        if (slot_split(s) < 0)
            goto oom;
        carry = s->buf + s->used;
        have -= s->used;
        pipe_publish(q, c);
        if (pending)
            pipe_feed(v, q, c - 1, &first);
        pending = 1;
        c++;
        if (v->progress && v->sum.lines >= next_progress) {
            v->progress(v->ud, v->file, bytes, v->sum.lines);
            next_progress = v->sum.lines + 65536;
        }
    }
    if (pending)
        pipe_feed(v, q, c - 1, &first);
    if (have > 0 && !skipping) {
        process_line(v, carry, have, 0, first);
        v->sum.torn_tail = 1;
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    pipe_stop(q);
    aigov_reader_close(fd);
    return rc;
}

void aigov_verify_finish(aigov_verify_t *v)
{
    resolve(v, -1);
    policy_finish(v);
    for (size_t i = 0; i < v->ngaps; i++) {
        gap_t *g = &v->gaps[i];
        if (g->found >= 0 && g->lo == g->hi)
            report(v, "removed", g->file, g->line, g->file, g->line, (int64_t) g->lo, (int64_t) g->hi,
                   "seq %llu is missing (the record here is seq %lld)",
                   (unsigned long long) g->lo, (long long) g->found);
        else if (g->found >= 0)
            report(v, "removed", g->file, g->line, g->file, g->line, (int64_t) g->lo, (int64_t) g->hi,
                   "seq %llu..%llu are missing (the record here is seq %lld)",
                   (unsigned long long) g->lo, (unsigned long long) g->hi, (long long) g->found);
        else
            report(v, "removed", g->file, g->line, g->file, g->line, (int64_t) g->lo, (int64_t) g->hi,
                   "seq %llu..%llu are missing: this checkpoint covers them but they are not before it",
                   (unsigned long long) g->lo, (unsigned long long) g->hi);
    }
    v->ngaps = 0;
    if (v->have_kept && !v->kept_done && v->tree.size < v->kept_size) {
        v->kept_done = 1;
        REPORT1(v, "truncated", v->file, v->line, -1,
                "the log ends after %llu records, but the checkpoint you kept covers %llu",
                (unsigned long long) v->tree.size, (unsigned long long) v->kept_size);
    }
    v->sum.records = v->tree.size;
    v->sum.next_seq = v->tree.size;
    v->sum.uncovered = v->tree.size > v->sum.last_size ? v->tree.size - v->sum.last_size : 0;
    aigov_tree_root(&v->tree, v->sum.root);
}

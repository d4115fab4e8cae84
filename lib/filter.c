/*
 * filter: plugin host, config accessors, request filtering, redaction.
 * See filter.h.
 */
#include "errbuf.h"
#include "filter.h"
#include "normalize.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NAME_MAX_LEN  63
#define REASON_MAX    240

typedef struct {
    char                  name[NAME_MAX_LEN + 1];
    char                 *path;
    void                 *handle;
    const aigov_plugin_t *table;
} loaded_t;

struct aigov_plugin_host_s {
    loaded_t  *v;
    size_t     n, cap;
};

/* Everything the config accessors hand out lives until the instance dies:
 * nested mappings and scalars formatted as strings. */
typedef struct {
    void     **items;
    size_t     n, cap;
} arena_t;

struct aigov_config_s {
    const json_t  *node;
    arena_t       *arena;
};

struct aigov_filter_inst_s {
    const aigov_plugin_t  *plugin;
    void                  *state;
    char                   name[NAME_MAX_LEN + 1];
    json_t                *config;
    arena_t                arena;
    aigov_norm_t           norm;    /* the view of the text being inspected */
    aigov_norm_t           jview;   /* JSON text: what it means once parsed */
    aigov_span_t          *spans;   /* the plugin's spans, mapped back */
    size_t                 nspans_cap;
    uint64_t               seq;     /* inspections ever: which to time */
    uint64_t               calls;   /* inspections since the last take */
    uint64_t               timed;   /* of them timed */
    uint64_t               timed_ns;
    double                 avg_ns;  /* per call, from the last timed ones */
};

/* Normalization buffers above this are freed after each inspection, so
 * one huge text does not pin memory in every filter of a worker. */
#define NORM_KEEP  (64 * 1024)

/* ---- host ---- */

aigov_plugin_host_t *aigov_host_new(void)
{
    return calloc(1, sizeof(aigov_plugin_host_t));
}

void aigov_host_free(aigov_plugin_host_t *h)
{
    size_t i;

    if (h == NULL)
        return;
    for (i = 0; i < h->n; i++) {
        dlclose(h->v[i].handle);
        free(h->v[i].path);
    }
    free(h->v);
    free(h);
}

static const loaded_t *find_loaded(const aigov_plugin_host_t *h, const char *name)
{
    size_t i;

    for (i = 0; i < h->n; i++)
        if (strcmp(h->v[i].name, name) == 0)
            return &h->v[i];
    return NULL;
}

static int valid_name(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return i > 0 && i <= NAME_MAX_LEN;
}

int aigov_host_load(aigov_plugin_host_t *h, const char *name, const char *path,
                    char *err, size_t errlen)
{
    const loaded_t *dup;
    struct stat st;
    void *handle, *sym;
    aigov_plugin_entry_fn entry;
    const aigov_plugin_t *t;
    loaded_t *l;

    if (name == NULL || !valid_name(name)) {
        aigov_errorf(err, errlen, "plugin name \"%s\" must be 1 to %d letters, digits, '_' or '-'",
             name ? name : "", NAME_MAX_LEN);
        return -1;
    }
    if ((dup = find_loaded(h, name)) != NULL) {
        aigov_errorf(err, errlen, "plugin %s is already loaded (from %s)", name, dup->path);
        return -1;
    }
    if (path == NULL || stat(path, &st) != 0) {
        aigov_errorf(err, errlen, "plugin %s: cannot open %s: %s", name, path ? path : "",
             strerror(path ? errno : ENOENT));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        aigov_errorf(err, errlen, "plugin %s: %s is not a regular file", name, path);
        return -1;
    }
    dlerror();
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *e = dlerror();
        aigov_errorf(err, errlen, "plugin %s: %s is not a loadable shared object (%s)",
             name, path, e ? e : "unknown error");
        return -1;
    }
    sym = dlsym(handle, AIGOV_PLUGIN_ENTRY);
    if (sym == NULL) {
        aigov_errorf(err, errlen, "plugin %s: %s does not export %s",
             name, path, AIGOV_PLUGIN_ENTRY);
        dlclose(handle);
        return -1;
    }
    entry = (aigov_plugin_entry_fn)sym;
    t = entry();
    if (t == NULL) {
        aigov_errorf(err, errlen, "plugin %s: %s returned no plugin table", name, AIGOV_PLUGIN_ENTRY);
        dlclose(handle);
        return -1;
    }
    if (t->abi_version < AIGOV_PLUGIN_ABI_MIN || t->abi_version > AIGOV_PLUGIN_ABI_VERSION) {
        aigov_errorf(err, errlen, "plugin %s speaks ABI %u, aigov speaks %u to %u",
             name, (unsigned)t->abi_version, AIGOV_PLUGIN_ABI_MIN, AIGOV_PLUGIN_ABI_VERSION);
        dlclose(handle);
        return -1;
    }
    if (t->create == NULL || t->destroy == NULL || t->inspect == NULL
        || (t->stream_start == NULL) != (t->stream_end == NULL)) {
        aigov_errorf(err, errlen, "plugin %s: its table lacks create, destroy or inspect, "
             "or has only one of stream_start and stream_end", name);
        dlclose(handle);
        return -1;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 8;
        loaded_t *v = realloc(h->v, cap * sizeof(*v));
        if (v == NULL) {
            aigov_errorf(err, errlen, "plugin %s: out of memory", name);
            dlclose(handle);
            return -1;
        }
        h->v = v;
        h->cap = cap;
    }
    l = &h->v[h->n];
    memset(l, 0, sizeof(*l));
    l->path = strdup(path);
    if (l->path == NULL) {
        aigov_errorf(err, errlen, "plugin %s: out of memory", name);
        dlclose(handle);
        return -1;
    }
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->handle = handle;
    l->table = t;
    h->n++;
    return 0;
}

const aigov_plugin_t *aigov_host_plugin(const aigov_plugin_host_t *h, const char *name)
{
    const loaded_t *l = (h && name) ? find_loaded(h, name) : NULL;
    return l ? l->table : NULL;
}

/* ---- config accessors ---- */

static void *arena_keep(arena_t *a, void *p)
{
    if (p == NULL)
        return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        void **v = realloc(a->items, cap * sizeof(*v));
        if (v == NULL) {
            free(p);
            return NULL;
        }
        a->items = v;
        a->cap = cap;
    }
    a->items[a->n++] = p;
    return p;
}

static void arena_free(arena_t *a)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        free(a->items[i]);
    free(a->items);
    memset(a, 0, sizeof(*a));
}

static const json_t *cfg_get(const aigov_config_t *cfg, const char *key)
{
    if (cfg == NULL || key == NULL || !json_is_object(cfg->node))
        return NULL;
    return json_object_get(cfg->node, key);
}

/* A scalar as text; numbers and booleans are formatted into the arena. */
static const char *scalar_text(const aigov_config_t *cfg, const json_t *v)
{
    char buf[64];

    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
    else if (json_is_true(v))
        snprintf(buf, sizeof(buf), "true");
    else if (json_is_false(v))
        snprintf(buf, sizeof(buf), "false");
    else
        return NULL;
    return arena_keep(cfg->arena, strdup(buf));
}

static size_t cfg_nkeys(const aigov_config_t *cfg)
{
    return (cfg && json_is_object(cfg->node)) ? json_object_size(cfg->node) : 0;
}

static const char *cfg_key(const aigov_config_t *cfg, size_t i)
{
    void *it;

    if (cfg == NULL || !json_is_object(cfg->node))
        return NULL;
    for (it = json_object_iter((json_t *)cfg->node); it != NULL && i > 0; i--)
        it = json_object_iter_next((json_t *)cfg->node, it);
    return it ? json_object_iter_key(it) : NULL;
}

static const char *cfg_string(const aigov_config_t *cfg, const char *key)
{
    const json_t *v = cfg_get(cfg, key);
    return v ? scalar_text(cfg, v) : NULL;
}

static int cfg_number(const aigov_config_t *cfg, const char *key, double *out)
{
    const json_t *v = cfg_get(cfg, key);

    if (!json_is_number(v))
        return 0;
    if (out)
        *out = json_number_value(v);
    return 1;
}

static int cfg_boolean(const aigov_config_t *cfg, const char *key, int *out)
{
    const json_t *v = cfg_get(cfg, key);

    if (!json_is_boolean(v))
        return 0;
    if (out)
        *out = json_is_true(v);
    return 1;
}

static size_t cfg_list_len(const aigov_config_t *cfg, const char *key)
{
    const json_t *v = cfg_get(cfg, key);
    return json_is_array(v) ? json_array_size(v) : 0;
}

static const char *cfg_list_item(const aigov_config_t *cfg, const char *key, size_t i)
{
    const json_t *v = cfg_get(cfg, key);
    return json_is_array(v) ? scalar_text(cfg, json_array_get(v, i)) : NULL;
}

static const aigov_config_t *cfg_map(const aigov_config_t *cfg, const char *key)
{
    const json_t *v = cfg_get(cfg, key);
    aigov_config_t *sub;

    if (!json_is_object(v))
        return NULL;
    sub = arena_keep(cfg->arena, malloc(sizeof(*sub)));
    if (sub == NULL)
        return NULL;
    sub->node = v;
    sub->arena = cfg->arena;
    return sub;
}

static const aigov_config_api_t config_api = {
    cfg_nkeys, cfg_key, cfg_string, cfg_number, cfg_boolean,
    cfg_list_len, cfg_list_item, cfg_map
};

const aigov_config_api_t *aigov_config_api(void)
{
    return &config_api;
}

/* A config of its own: the mapping first, so the pointer is the whole. */
typedef struct {
    aigov_config_t  cfg;
    arena_t         arena;
    json_t         *copy;
} standalone_t;

aigov_config_t *aigov_config_from_json(const json_t *obj)
{
    standalone_t *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    st->copy = json_is_object(obj) ? json_deep_copy(obj) : json_object();
    if (st->copy == NULL) {
        free(st);
        return NULL;
    }
    st->cfg.node = st->copy;
    st->cfg.arena = &st->arena;
    return &st->cfg;
}

void aigov_config_free(aigov_config_t *cfg)
{
    standalone_t *st = (standalone_t *)cfg;

    if (st == NULL)
        return;
    arena_free(&st->arena);
    json_decref(st->copy);
    free(st);
}

/* ---- instances ---- */

void *aigov_host_instance(void *ctx, const char *plugin, const json_t *config,
                          int action, char *err, size_t errlen)
{
    aigov_plugin_host_t *h = ctx;
    const aigov_plugin_t *t;
    aigov_filter_inst_t *fi;
    aigov_config_t *cfg;

    if (err && errlen)
        err[0] = '\0';
    t = aigov_host_plugin(h, plugin);
    if (t == NULL) {
        aigov_errorf(err, errlen, "no plugin named \"%s\" is loaded (aigov_plugin)",
             plugin ? plugin : "");
        return NULL;
    }
    if (action < AIGOV_ACTION_FLAG || action > AIGOV_ACTION_BLOCK) {
        aigov_errorf(err, errlen, "plugin %s: action must be flag, redact or block", plugin);
        return NULL;
    }
    if (config != NULL && !json_is_object(config) && !json_is_null(config)) {
        aigov_errorf(err, errlen, "plugin %s: config must be a mapping", plugin);
        return NULL;
    }
    fi = calloc(1, sizeof(*fi));
    if (fi == NULL) {
        aigov_errorf(err, errlen, "plugin %s: out of memory", plugin);
        return NULL;
    }
    fi->plugin = t;
    snprintf(fi->name, sizeof(fi->name), "%s", plugin);
    /* A private copy, so strings handed to the plugin outlive the policy
     * loader's tree. */
    fi->config = json_is_object(config) ? json_deep_copy(config) : json_object();
    cfg = arena_keep(&fi->arena, malloc(sizeof(*cfg)));
    if (fi->config == NULL || cfg == NULL) {
        aigov_errorf(err, errlen, "plugin %s: out of memory", plugin);
        aigov_host_instance_free(fi);
        return NULL;
    }
    cfg->node = fi->config;
    cfg->arena = &fi->arena;
    fi->state = t->create(&config_api, cfg, (aigov_action_t)action, err, errlen);
    if (fi->state == NULL) {
        if (err && errlen) {
            err[errlen - 1] = '\0';
            if (err[0] == '\0')
                aigov_errorf(err, errlen, "plugin %s rejected its config", plugin);
        }
        aigov_host_instance_free(fi);
        return NULL;
    }
    return fi;
}

void aigov_host_instance_free(void *inst)
{
    aigov_filter_inst_t *fi = inst;

    if (fi == NULL)
        return;
    if (fi->state != NULL)
        fi->plugin->destroy(fi->state);
    json_decref(fi->config);
    arena_free(&fi->arena);
    aigov_norm_free(&fi->norm);
    aigov_norm_free(&fi->jview);
    free(fi->spans);
    free(fi);
}

void aigov_host_instance_destroy(void *ctx, void *inst)
{
    (void)ctx;
    aigov_host_instance_free(inst);
}

const char *aigov_inst_plugin_name(const aigov_filter_inst_t *fi)
{
    return fi ? fi->name : NULL;
}

const aigov_plugin_t *aigov_inst_plugin(const aigov_filter_inst_t *fi)
{
    return fi ? fi->plugin : NULL;
}

void *aigov_inst_state(const aigov_filter_inst_t *fi)
{
    return fi ? fi->state : NULL;
}

size_t aigov_filter_specs(const aigov_policy_filter_t *pf, size_t n,
                          aigov_filter_spec_t *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        out[i].inst = pf[i].inst;
        out[i].plugin = pf[i].plugin;
        out[i].stages = pf[i].stages;
        out[i].action = pf[i].action;
        out[i].on_error = pf[i].fail_open ? AIGOV_ON_ERROR_ALLOW : AIGOV_ON_ERROR_BLOCK;
    }
    return n;
}

/* ---- inspection ---- */

/* Plugins read the normalized view of the text (lib/normalize.h), so that
 * look-alikes, invisible characters and compatibility forms cannot hide
 * what they look for; their spans are mapped back to the smallest range of
 * whole characters of the original, which is what gets masked. */
enum {
    TEXT_ANY = 0,
    TEXT_ASCII,     /* known ASCII: its own view */
    TEXT_JSON       /* JSON text (tool-call arguments): read as parsed */
};

static void inspect_body(const aigov_filter_spec_t *f, void *stream,
                         const char *text, size_t len, int how,
                         size_t tail_cap, aigov_inspection_t *ins);
static size_t view_tail(const aigov_filter_inst_t *fi, void *stream, size_t len,
                        const char *view, size_t vlen, int nid, int jid, size_t cut,
                        size_t cap);

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void inspect_text(const aigov_filter_spec_t *f, void *stream,
                         const char *text, size_t len, int how,
                         size_t tail_cap, aigov_inspection_t *ins)
{
    aigov_filter_inst_t *fi = f->inst;
    uint64_t t0;

    if (fi != NULL)
        fi->calls++;
    if (fi == NULL || fi->seq++ % AIGOV_FILTER_TIME_EVERY != 0) {
        inspect_body(f, stream, text, len, how, tail_cap, ins);
        return;
    }
    t0 = now_ns();
    inspect_body(f, stream, text, len, how, tail_cap, ins);
    fi->timed_ns += now_ns() - t0;
    fi->timed++;
}

void aigov_filter_stats_take(aigov_filter_inst_t *fi, uint64_t *calls, uint64_t *ns)
{
    /* the untimed calls cost what the last timed ones did on average */
    if (fi->timed > 0)
        fi->avg_ns = (double)fi->timed_ns / (double)fi->timed;
    *calls = fi->calls;
    *ns = (uint64_t)(fi->avg_ns * (double)fi->calls);
    fi->calls = fi->timed = fi->timed_ns = 0;
}

/* A span of the view back to the text: through the normalized view (nid
 * 0), then through the JSON view (jid 0). */
static void map_back(const aigov_filter_inst_t *fi, int nid, int jid,
                     size_t start, size_t end, size_t *os, size_t *oe)
{
    if (!nid)
        aigov_norm_map(&fi->norm, start, end, &start, &end);
    if (!jid)
        aigov_norm_map(&fi->jview, start, end, &start, &end);
    *os = start;
    *oe = end;
}

static void inspect_body(const aigov_filter_spec_t *f, void *stream,
                         const char *text, size_t len, int how,
                         size_t tail_cap, aigov_inspection_t *ins)
{
    aigov_filter_inst_t *fi = f->inst;
    aigov_verdict_t v;
    const char *view, *src = text;
    size_t vlen, slen = len, i;
    int identity, nid = 1, jid = 1;

    memset(ins, 0, sizeof(*ins));
    memset(&v, 0, sizeof(v));
    if (fi == NULL) {
        ins->status = -1;
        return;
    }
    if (how == TEXT_JSON) {
        /* the client parses it: "\u007a" is a "z" there */
        if (aigov_json_view(&fi->jview, text, len) != 0) {
            ins->status = -1;
            return;
        }
        src = fi->jview.text;
        slen = fi->jview.len;
        jid = fi->jview.identity;
    }
    if (how == TEXT_ASCII) {
        /* known ASCII (request texts, from the parser's scan): its own
         * view, without reading it again for each filter */
        view = text;
        vlen = len;
    } else {
        if (aigov_normalize(&fi->norm, src, slen) != 0) {
            ins->status = -1;
            if (!jid)
                aigov_norm_trim(&fi->jview, NORM_KEEP);
            return;
        }
        view = fi->norm.text;
        vlen = fi->norm.len;
        nid = fi->norm.identity;
    }
    identity = nid && jid;
    if (fi->plugin->inspect(fi->state, stream, view, vlen, &v) != 0) {
        ins->status = -1;
        goto done;
    }
    if ((int)v.kind < AIGOV_ALLOW || (int)v.kind > AIGOV_BLOCK
        || (v.nspans > 0 && v.spans == NULL)) {
        ins->status = -1;
        goto done;
    }
    for (i = 0; i < v.nspans; i++) {
        if (v.spans[i].start > v.spans[i].end || v.spans[i].end > vlen) {
            ins->status = -1;
            goto done;
        }
    }
    ins->found = v.kind != AIGOV_ALLOW;
    if (ins->found) {
        ins->spans = v.spans;
        ins->nspans = v.nspans;
        ins->reason = v.reason;
        ins->category = v.category;
        if (!identity && v.nspans > 0) {
            if (v.nspans > fi->nspans_cap) {
                aigov_span_t *m = realloc(fi->spans, v.nspans * sizeof(*m));
                if (m == NULL) {
                    memset(ins, 0, sizeof(*ins));
                    ins->status = -1;
                    goto done;
                }
                fi->spans = m;
                fi->nspans_cap = v.nspans;
            }
            for (i = 0; i < v.nspans; i++) {
                fi->spans[i].label = v.spans[i].label;
                map_back(fi, nid, jid, v.spans[i].start, v.spans[i].end,
                         &fi->spans[i].start, &fi->spans[i].end);
            }
            ins->spans = fi->spans;
        }
    }
done:
    /* the tail is measured in the view just inspected, before it goes */
    if (tail_cap && ins->status == 0)
        ins->tail = view_tail(fi, stream, len, view, vlen, nid, jid,
                              how == TEXT_JSON ? fi->jview.partial : 0, tail_cap);
    if (!nid)
        aigov_norm_trim(&fi->norm, NORM_KEEP);
    if (!jid)
        aigov_norm_trim(&fi->jview, NORM_KEEP);
}

void aigov_filter_inspect(const aigov_filter_spec_t *f, void *stream,
                          const char *text, size_t len, aigov_inspection_t *ins)
{
    inspect_text(f, stream, text, len, TEXT_ANY, 0, ins);
}

void aigov_filter_inspect_tail(const aigov_filter_spec_t *f, void *stream,
                               const char *text, size_t len, size_t cap,
                               aigov_inspection_t *ins)
{
    inspect_text(f, stream, text, len, TEXT_ANY, cap, ins);
}

void aigov_filter_inspect_json(const aigov_filter_spec_t *f, void *stream,
                               const char *text, size_t len, size_t cap,
                               aigov_inspection_t *ins)
{
    inspect_text(f, stream, text, len, TEXT_JSON, cap, ins);
}

/* The plugin measures its tail in the view it inspected: a match in
 * progress written in look-alikes (an address with a fullwidth @) is a tail
 * there and must be held in the original (len bytes) too. An ABI 1 table
 * ends at stream_end: its tail member is never read. */
static size_t view_tail(const aigov_filter_inst_t *fi, void *stream, size_t len,
                        const char *view, size_t vlen, int nid, int jid, size_t cut,
                        size_t cap)
{
    size_t n, os, oe;

    if (fi->plugin->abi_version < 2 || fi->plugin->tail == NULL)
        return cap;
    /* JSON text: an escape cut at the end (raw, the view's last bytes) is
     * held, with what the filter needs before it, judged without it */
    if (cut > vlen)
        cut = vlen;
    n = fi->plugin->tail(fi->state, stream, view, vlen - cut) + cut;
    if (n < vlen && !(nid && jid)) {
        map_back(fi, nid, jid, vlen - n, vlen, &os, &oe);
        n = len - os;
    }
    return n < cap ? n : cap;
}

/* ---- masks ---- */

static void copy_label(char *dst, size_t cap, const char *label)
{
    size_t i = 0;

    if (label == NULL || label[0] == '\0')
        label = "DATA";
    for (; label[i] != '\0' && i + 1 < cap; i++) {
        char c = label[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                 || (c >= '0' && c <= '9') || c == '_' || c == '-';
        dst[i] = ok ? c : '_';
    }
    dst[i] = '\0';
}

/* [s, e) added to m, merged with the masks it overlaps (the label of the
 * first to start); the bytes newly masked. */
static long masks_insert(aigov_masks_t *m, size_t s, size_t e, const char *label)
{
    size_t i, first, last, old = 0;
    aigov_mask_t nm;

    if (s >= e)
        return 0;
    memset(&nm, 0, sizeof(nm));
    nm.start = s;
    nm.end = e;
    copy_label(nm.label, sizeof(nm.label), label);

    /* masks [first, last) overlap [s, e) */
    for (first = 0; first < m->n && m->v[first].end <= s; first++)
        ;
    for (last = first; last < m->n && m->v[last].start < e; last++)
        ;
    for (i = first; i < last; i++) {
        old += m->v[i].end - m->v[i].start;
        if (m->v[i].start <= nm.start) {
            nm.start = m->v[i].start;
            memcpy(nm.label, m->v[i].label, sizeof(nm.label));
        }
        if (m->v[i].end > nm.end)
            nm.end = m->v[i].end;
    }
    if (first == last) {
        if (m->n == m->cap) {
            size_t cap = m->cap ? 2 * m->cap : 8;
            aigov_mask_t *v = realloc(m->v, cap * sizeof(*v));
            if (v == NULL)
                return -1;
            m->v = v;
            m->cap = cap;
        }
        memmove(m->v + first + 1, m->v + first, (m->n - first) * sizeof(*m->v));
        m->n++;
    } else {
        memmove(m->v + first + 1, m->v + last, (m->n - last) * sizeof(*m->v));
        m->n -= last - first - 1;
    }
    m->v[first] = nm;
    return (long)((nm.end - nm.start) - old);
}

long aigov_masks_add(aigov_masks_t *m, const char *text, size_t len, size_t base,
                     size_t start, size_t end, const char *label)
{
    if (start > end || end > len)
        return 0;
    /* Whole characters, so the rewritten text stays valid UTF-8. */
    while (start > 0 && ((unsigned char)text[start] & 0xC0) == 0x80)
        start--;
    while (end < len && ((unsigned char)text[end] & 0xC0) == 0x80)
        end++;
    if (start == end)
        return 0;
    return masks_insert(m, base + start, base + end, label);
}

void aigov_masks_free(aigov_masks_t *m)
{
    free(m->v);
    memset(m, 0, sizeof(*m));
}

char *aigov_masks_apply(const aigov_masks_t *m, const char *text, size_t len,
                        size_t base, size_t *outlen)
{
    size_t cap = len + 1, n = 0, pos = 0, i;
    char *out;

    for (i = 0; i < m->n; i++)
        cap += sizeof("[REDACTED:]") + strlen(m->v[i].label);
    out = malloc(cap);
    if (out == NULL)
        return NULL;
    for (i = 0; i < m->n; i++) {
        const aigov_mask_t *k = &m->v[i];
        size_t ms, me;

        if (k->end <= base || k->start >= base + len)
            continue;
        ms = k->start > base ? k->start - base : 0;
        me = k->end - base < len ? k->end - base : len;
        memcpy(out + n, text + pos, ms - pos);
        n += ms - pos;
        if (k->start >= base)
            n += (size_t)sprintf(out + n, "[REDACTED:%s]", k->label);
        pos = me;
    }
    memcpy(out + n, text + pos, len - pos);
    n += len - pos;
    out[n] = '\0';
    if (outlen)
        *outlen = n;
    return out;
}

/* ---- outcome ---- */

static int verdict_rank(const char *v)
{
    static const char *const order[] = { "allow", "flag", "redact", "error", "block" };
    int i;

    for (i = 0; i < 5; i++)
        if (strcmp(v, order[i]) == 0)
            return i;
    return 0;
}

int aigov_outcome_note(aigov_filter_outcome_t *out, const char *plugin,
                       unsigned stage, const char *verdict, size_t count)
{
    static const char *const names[] = { "allow", "flag", "redact", "error", "block" };
    aigov_filter_record_t *r = NULL;
    size_t i;

    for (i = 0; i < out->nrecords; i++) {
        if (out->records[i].stage == stage && strcmp(out->records[i].plugin, plugin) == 0) {
            r = &out->records[i];
            break;
        }
    }
    if (r == NULL) {
        size_t n;

        /* room for eight more at a time: this runs per plugin per request */
        if (out->nrecords % 8 == 0) {
            aigov_filter_record_t *v = realloc(out->records,
                                               (out->nrecords + 8) * sizeof(*v));
            if (v == NULL)
                return -1;
            out->records = v;
        }
        r = &out->records[out->nrecords++];
        memset(r, 0, sizeof(*r));
        n = strnlen(plugin, sizeof(r->plugin) - 1);
        memcpy(r->plugin, plugin, n);
        r->stage = stage;
        r->verdict = "allow";
    }
    if (verdict_rank(verdict) > verdict_rank(r->verdict))
        r->verdict = names[verdict_rank(verdict)];
    r->count += count;
    return 0;
}

int aigov_outcome_inspected(aigov_filter_outcome_t *out, const char *plugin,
                            unsigned stage)
{
    size_t i;

    if (aigov_outcome_note(out, plugin, stage, "allow", 0) != 0)
        return -1;
    for (i = 0; i < out->nrecords; i++)
        if (out->records[i].stage == stage && strcmp(out->records[i].plugin, plugin) == 0)
            out->records[i].inspected = 1;
    return 0;
}

const char *aigov_filter_record_verdict(const aigov_filter_record_t *r)
{
    if (!r->inspected && strcmp(r->verdict, "allow") == 0)
        return "none";
    return r->verdict;
}

/* A plugin's sentence, bounded, without control characters, cut on a
 * character boundary. */
static char *clean_text(const char *s, const char *fallback)
{
    size_t n, i;
    char *d;

    if (s == NULL || s[0] == '\0')
        s = fallback;
    n = strnlen(s, REASON_MAX + 1);
    if (n > REASON_MAX) {
        n = REASON_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        d[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
    d[n] = '\0';
    return d;
}

int aigov_outcome_block(aigov_filter_outcome_t *out, const char *plugin,
                        const char *reason, const char *category)
{
    char fallback[128];

    if (out->blocked)
        return 0;
    snprintf(fallback, sizeof(fallback), "content blocked by filter %s", plugin);
    out->blocked = 1;
    out->block_plugin = strdup(plugin);
    out->block_reason = clean_text(reason, fallback);
    out->block_category = category ? clean_text(category, "") : NULL;
    if (out->block_plugin == NULL || out->block_reason == NULL
        || (category && out->block_category == NULL))
        return -1;
    return 0;
}

void aigov_filter_outcome_free(aigov_filter_outcome_t *out)
{
    if (out == NULL)
        return;
    free(out->records);
    free(out->block_plugin);
    free(out->block_reason);
    free(out->block_category);
    memset(out, 0, sizeof(*out));
}

char *aigov_filter_error_json(const char *plugin, const char *reason, size_t *len)
{
    json_t *msg, *root;
    char *s;

    msg = json_string(reason ? reason : "");
    if (msg == NULL)    /* not UTF-8: say something that is */
        msg = json_string("content blocked by a filter");
    root = json_pack("{s:{s:o,s:s,s:s?,s:n}}", "error", "message", msg,
                     "type", "policy_violation", "code", plugin, "param");
    if (root == NULL)
        return NULL;
    s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (s && len)
        *len = strlen(s);
    return s;
}

/* ---- request ---- */

/* Applies one filter's finding to text i of rq. */
static int redact_text(aigov_request_t *rq, size_t i, const aigov_inspection_t *ins,
                       size_t *count)
{
    const aigov_text_t *t = &rq->texts[i];
    aigov_masks_t m = { 0 };
    char *red;
    size_t k, n;
    int rc = 0;

    *count = 0;
    for (k = 0; k < ins->nspans; k++) {
        if (aigov_masks_add(&m, t->text, t->len, 0, ins->spans[k].start,
                            ins->spans[k].end, ins->spans[k].label) < 0) {
            aigov_masks_free(&m);
            return -1;
        }
    }
    *count = m.n;   /* ranges masked, after merging */
    if (m.n == 0) {
        aigov_masks_free(&m);
        return 0;
    }
    red = aigov_masks_apply(&m, t->text, t->len, 0, &n);
    if (red == NULL || aigov_request_set_text(rq, i, red, n) != 0)
        rc = -1;
    free(red);
    aigov_masks_free(&m);
    return rc;
}

/* ---- across texts ---- */

/* A term or address cut in two across content parts or messages is read
 * whole: the texts are also inspected as one sequence, twice: joined with
 * nothing between them ("alice@exa" + "mple.com", "mer" + "ger"), and
 * joined with a space (a term of two words cut at its blank, "project" +
 * "neptune"; the model reads the parts as one text either way). Only the
 * bytes within JOIN_REACH of a boundary are read again. A finding counts
 * when it takes bytes of two texts (two unrelated messages can only
 * produce a joined match where one ends and the next begins), or, in the
 * reading without a space, when it lies inside one text that alone does
 * not hold it: its neighbour gave the context, as a secret's name in a key
 * gives its value ("aws_secret_access_key": "<40 characters>", a filter
 * that masks the value only), or "my SSN is" a number in the next
 * message. Such a finding is taken only away from where the range cuts a
 * text (JOIN_EDGE), where a word cut in two could read as a finding of
 * its own; and the text is read alone again (rare: only where the joined
 * reading found something) to drop what it holds itself. Both readings
 * take them: without a space a value runs into the message after it
 * ("<40 characters>thanks" is no key), with one it does not. The texts read are those the filter got,
 * before it redacted each alone ("mail ali" | "ce.smith@example.com": the
 * second alone is an address and is masked there, but the joined reading
 * must still see "alice.smith@example.com" to mask "ali"); a text a joined
 * mask takes bytes of is written again from that text with its masks
 * alone and the joined ones merged (aigov_filter_joined).
 *
 * Object keys are texts too, and the model reads no key run together with
 * anything: between a key and its own string value it reads ": " in
 * quotes, "proj": "ect neptune", which is what the joined reading puts
 * there (AIGOV_JOIN_PAIR), so no term is made up across it, and a pattern
 * that takes in that punctuation (a secret's name and its value) finds the
 * pair as it finds the same JSON written in one text. The term "project
 * neptune" is not found in "project": "neptune", as it is not in that JSON
 * in a message: its words are apart there. Around a key otherwise lies
 * JSON the list does not hold (", ", ": {", ": 5, "), and so it does after
 * a key's value ("}, then the next message): such texts are not read
 * across at all (AIGOV_JOIN_APART). */
#define JOIN_REACH  128
#define JOIN_EDGE   32

static const char pair_gap[] = "\": \"";

typedef struct {
    const aigov_texts_t   *t;
    size_t                *off;      /* off[i]: where text i starts; off[n]: total */
    size_t                 sep;      /* 0, or 1: a space at AIGOV_JOIN_RUN joins */
} joined_t;

static int join_kind(const aigov_texts_t *t, size_t i)
{
    return t->join != NULL ? t->join[i] : AIGOV_JOIN_RUN;
}

/* What the reading puts between text i - 1 and text i, and its length. */
static const char *join_gap(const joined_t *j, size_t i, size_t *glen)
{
    switch (join_kind(j->t, i)) {
    case AIGOV_JOIN_RUN:
        *glen = j->sep;
        return " ";
    case AIGOV_JOIN_PAIR:
        *glen = sizeof(pair_gap) - 1;
        return pair_gap;
    default:
        *glen = 0;
        return "";
    }
}

/* Whether a finding across the join before text i is this reading's: a
 * pair reads the same both times, and counts in the first. */
static int join_counts(const joined_t *j, size_t i)
{
    int k = join_kind(j->t, i);

    return k == AIGOV_JOIN_RUN || (k == AIGOV_JOIN_PAIR && j->sep == 0);
}

/* The first text from i on that is read apart from the one before it;
 * n when none is. */
static size_t next_apart(const aigov_texts_t *t, size_t i)
{
    while (i < t->n && join_kind(t, i) != AIGOV_JOIN_APART)
        i++;
    return i;
}

/* The byte at joined offset at: text i's, or the gap after it. */
static unsigned char joined_byte(const joined_t *j, size_t at)
{
    size_t i, gl;

    for (i = 0; i < j->t->n; i++)
        if (at < j->off[i + 1])
            return at - j->off[i] < j->t->len[i]
                   ? (unsigned char)j->t->text[i][at - j->off[i]]
                   : (unsigned char)join_gap(j, i + 1, &gl)[at - j->off[i] - j->t->len[i]];
    return 0;
}

static void joined_copy(const joined_t *j, size_t from, size_t to, char *dst)
{
    size_t i, gl;

    for (i = 0; i < j->t->n && from < to; i++) {
        size_t s = j->off[i], e = j->off[i + 1], a, b, tl = j->t->len[i];

        if (e <= from)
            continue;
        a = from - s;
        b = (to < e ? to : e) - s;
        if (a < tl) {
            memcpy(dst, j->t->text[i] + a, (b < tl ? b : tl) - a);
            dst += (b < tl ? b : tl) - a;
        }
        if (b > tl) {
            size_t ga = a > tl ? a - tl : 0;

            /* only a text with a join after it has room after it */
            memcpy(dst, join_gap(j, i + 1, &gl) + ga, b - tl - ga);
            dst += b - tl - ga;
        }
        from = s + b;
    }
}

/* 1 when [s, e) takes bytes of two texts across a join this reading
 * counts: of text b-1 before its end and of text b from its start. */
static int crosses(const joined_t *j, size_t s, size_t e)
{
    size_t i, gl;

    for (i = 1; i < j->t->n; i++) {
        (void)join_gap(j, i, &gl);
        if (join_counts(j, i) && s < j->off[i] - gl && e > j->off[i])
            return 1;
    }
    return 0;
}

/* Whether a finding [s, e) of the range [rs, re) read within [lo, hi)
 * counts in this reading (see "across texts"): across a join, or inside
 * one text away from a cut. */
static int counts(const joined_t *j, size_t s, size_t e, size_t rs, size_t re,
                  size_t lo, size_t hi)
{
    size_t i;

    if (crosses(j, s, e))
        return 1;
    if (s >= e || (rs > lo && s < rs + JOIN_EDGE)
        || (re < hi && e + JOIN_EDGE > re))
        return 0;
    /* some byte of a text, not only of the quotes between a key and its
     * value */
    for (i = 0; i < j->t->n; i++)
        if (s < j->off[i] + j->t->len[i] && e > j->off[i])
            return 1;
    return 0;
}

/* Whether a join of t that runs texts together meets word to word: only
 * there does a space between the texts read differently from nothing (the
 * two words of a term). */
static int joins_words(const aigov_texts_t *t)
{
    size_t i;

    for (i = 1; i < t->n; i++)
        if (join_kind(t, i) == AIGOV_JOIN_RUN && t->len[i - 1] > 0 && t->len[i] > 0
            && aigov_word_byte((unsigned char)t->text[i - 1][t->len[i - 1] - 1])
            && aigov_word_byte((unsigned char)t->text[i][0]))
            return 1;
    return 0;
}

/* Where joined offset at (sep's reading) lies in the texts alone, one
 * after the other with nothing between (cum[i]: where text i starts): a
 * place between two texts is the start of the next. */
static size_t canonical(const joined_t *j, const size_t *cum, size_t at)
{
    size_t i;

    for (i = 0; i < j->t->n; i++)
        if (at < j->off[i + 1])
            return cum[i] + (at - j->off[i] < j->t->len[i] ? at - j->off[i] : j->t->len[i]);
    return cum[j->t->n];
}

/* A filter failed on the joined texts: 0 to go on (on_error allow),
 * else AIGOV_FILTER_BLOCKED or _NOMEM. */
static int joined_error(const aigov_filter_spec_t *fs, const char *name,
                        const aigov_texts_t *t, aigov_filter_outcome_t *out)
{
    char why[160];

    if (aigov_outcome_note(out, name, t->stage, "error", 0) != 0)
        return AIGOV_FILTER_NOMEM;
    if (fs->on_error == AIGOV_ON_ERROR_ALLOW)
        return 0;
    snprintf(why, sizeof(why), "filter %s failed to inspect the %s", name,
             t->stage == AIGOV_STAGE_REQUEST ? "request" : "answer");
    if (aigov_outcome_block(out, name, why, "filter_error") != 0)
        return AIGOV_FILTER_NOMEM;
    return AIGOV_FILTER_BLOCKED;
}

/* One reading (sep) of the texts joined: a block, or the masks of what
 * counts (a flag's too) added to m at canonical offsets (cum). */
static int joined_read(const aigov_filter_spec_t *fs, const char *name,
                       const aigov_texts_t *t, size_t sep, const size_t *cum,
                       aigov_masks_t *m, aigov_filter_outcome_t *out)
{
    joined_t j;
    size_t i, k, b, gl, seg, segend;
    /* the usual request (a few texts, one range) needs no allocation */
    size_t off_small[17];
    char buf_small[2 * JOIN_REACH + 16];
    char *buf = NULL;
    int rc = AIGOV_FILTER_NOMEM;

    j.t = t;
    j.sep = sep;
    j.off = t->n < 17 ? off_small : malloc((t->n + 1) * sizeof(size_t));
    if (j.off == NULL)
        return AIGOV_FILTER_NOMEM;
    j.off[0] = 0;
    for (i = 0; i < t->n; i++) {
        gl = 0;
        if (i + 1 < t->n)
            (void)join_gap(&j, i + 1, &gl);
        j.off[i + 1] = j.off[i] + t->len[i] + gl;
    }

    /* texts [seg, segend) are read joined; an apart join ends them */
    seg = 0;
    segend = next_apart(t, 1);
    for (b = 1; b < t->n; ) {
        size_t rs, re, n, lo, hi;
        aigov_inspection_t ins;
        int found = 0;

        if (b == segend) {
            seg = b;
            segend = next_apart(t, ++b);
            continue;
        }
        if (!join_counts(&j, b)) {
            b++;
            continue;
        }
        /* one range: the reach around boundary b and the ones it meets,
         * within the texts read joined with it */
        lo = j.off[seg];
        hi = j.off[segend];
        rs = j.off[b] > lo + JOIN_REACH ? j.off[b] - JOIN_REACH : lo;
        re = j.off[b] + JOIN_REACH < hi ? j.off[b] + JOIN_REACH : hi;
        for (b++; b < segend && j.off[b] < re + JOIN_REACH; b++)
            if (join_counts(&j, b))
                re = j.off[b] + JOIN_REACH < hi ? j.off[b] + JOIN_REACH : hi;
        while (rs > lo && (joined_byte(&j, rs) & 0xC0) == 0x80)
            rs--;
        while (re < hi && (joined_byte(&j, re) & 0xC0) == 0x80)
            re++;
        n = re - rs;
        if (buf != buf_small)
            free(buf);
        buf = n < sizeof(buf_small) ? buf_small : malloc(n + 1);
        if (buf == NULL)
            goto done;
        joined_copy(&j, rs, re, buf);
        buf[n] = '\0';

        /* texts the parser found ASCII join into ASCII: no view to make */
        inspect_text(fs, NULL, buf, n, t->ascii ? TEXT_ASCII : TEXT_ANY, 0, &ins);
        if (ins.status != 0) {
            if ((rc = joined_error(fs, name, t, out)) != 0)
                goto done;
            rc = AIGOV_FILTER_NOMEM;
            continue;
        }
        if (!ins.found)
            continue;
        for (k = 0; k < ins.nspans; k++)
            found += counts(&j, rs + ins.spans[k].start, rs + ins.spans[k].end, rs, re, lo, hi);
        if (found == 0)
            continue;
        if (fs->action == AIGOV_ACTION_BLOCK) {
            if (aigov_outcome_note(out, name, t->stage, "block", (size_t)found) != 0
                || aigov_outcome_block(out, name, ins.reason, ins.category) != 0)
                goto done;
            rc = AIGOV_FILTER_BLOCKED;
            goto done;
        }
        /* a flag too is kept as a mask, so that what a text alone holds is
         * dropped as for a redaction */
        for (k = 0; k < ins.nspans; k++) {
            size_t ms = ins.spans[k].start, me = ins.spans[k].end;

            if (ms >= me || me > n || !counts(&j, rs + ms, rs + me, rs, re, lo, hi))
                continue;
            /* whole characters, so the rewritten texts stay valid UTF-8 */
            while (ms > 0 && ((unsigned char)buf[ms] & 0xC0) == 0x80)
                ms--;
            while (me < n && ((unsigned char)buf[me] & 0xC0) == 0x80)
                me++;
            /* at canonical offsets a mask that starts between two texts
             * (the space, a pair's quotes) starts in the next: its label
             * goes where text is */
            if (masks_insert(m, canonical(&j, cum, rs + ms), canonical(&j, cum, rs + me),
                             ins.spans[k].label) < 0)
                goto done;
        }
    }
    rc = AIGOV_FILTER_PASS;
done:
    if (buf != buf_small)
        free(buf);
    if (j.off != off_small)
        free(j.off);
    return rc;
}

/* 1 when a mask of m takes bytes of [s, e). */
static int overlaps(const aigov_masks_t *m, size_t s, size_t e)
{
    size_t k;

    for (k = 0; k < m->n; k++)
        if (m->v[k].start < e && m->v[k].end > s)
            return 1;
    return 0;
}

int aigov_filter_joined(const aigov_filter_spec_t *fs, const char *name,
                        const aigov_texts_t *t, aigov_filter_outcome_t *out)
{
    aigov_masks_t m = { 0 }, own = { 0 };
    size_t i, k, nj;
    size_t cum_small[17], *cum;
    int rc;

    if (t->n < 2)
        return AIGOV_FILTER_PASS;
    cum = t->n < 17 ? cum_small : malloc((t->n + 1) * sizeof(size_t));
    if (cum == NULL)
        return AIGOV_FILTER_NOMEM;
    cum[0] = 0;
    for (i = 0; i < t->n; i++)
        cum[i + 1] = cum[i] + t->len[i];

    /* both readings of the texts as the filter got them: a match across a
     * join is found whole even where the filter masked a part of it in one
     * text alone */
    rc = joined_read(fs, name, t, 0, cum, &m, out);
    if (rc == AIGOV_FILTER_PASS && joins_words(t))
        rc = joined_read(fs, name, t, 1, cum, &m, out);
    if (rc != AIGOV_FILTER_PASS)
        goto done;
    rc = AIGOV_FILTER_NOMEM;

    /* the masks of the texts a joined mask takes bytes of, alone (the
     * filter reads them alone once more; rare: only where a joined match
     * was found) */
    for (i = 0; i < t->n && m.n > 0; i++) {
        aigov_inspection_t ins;

        if (!overlaps(&m, cum[i], cum[i + 1]))
            continue;
        inspect_text(fs, NULL, t->text[i], t->len[i],
                     t->json != NULL && t->json[i] ? TEXT_JSON
                     : t->ascii ? TEXT_ASCII : TEXT_ANY, 0, &ins);
        if (ins.status != 0) {
            int e = joined_error(fs, name, t, out);

            if (e != 0) {
                rc = e;
                goto done;
            }
        } else if (ins.found) {
            for (k = 0; k < ins.nspans; k++)
                if (aigov_masks_add(&own, t->text[i], t->len[i], cum[i], ins.spans[k].start,
                                    ins.spans[k].end, ins.spans[k].label) < 0)
                    goto done;
        }
    }
    /* A joined match inside one text that the text alone holds too is
     * that text's. So is one that runs a match of one text alone on into a
     * whole text at its other end ("alice@example.com" | "hi" read
     * "alice@example.comhi", "a" | "alice@example.com"): the match alone
     * stands. One that takes a part of the text ("mail ali" |
     * "ce.smith@example.com") is masked whole. */
    for (k = 0; k < m.n; ) {
        size_t f = 0, l;

        while (cum[f + 1] <= m.v[k].start)
            f++;
        for (l = f; l + 1 < t->n && cum[l + 1] < m.v[k].end; l++)
            ;
        if (overlaps(&own, m.v[k].start, m.v[k].end)
            && (f == l
                || (m.v[k].start == cum[f] && !overlaps(&own, cum[f], cum[f + 1]))
                || (m.v[k].end == cum[l + 1] && !overlaps(&own, cum[l], cum[l + 1])))) {
            memmove(m.v + k, m.v + k + 1, (m.n - k - 1) * sizeof(*m.v));
            m.n--;
            continue;
        }
        k++;
    }
    nj = m.n;

    if (fs->action != AIGOV_ACTION_REDACT) {
        if (nj > 0 && aigov_outcome_note(out, name, t->stage, "flag", nj) != 0)
            goto done;
        rc = AIGOV_FILTER_PASS;
        goto done;
    }

    /* a text a joined mask takes bytes of is written again from the text
     * as the filter got it: its masks alone merged with the joined ones:
     * a mask over a boundary has its label where it starts, the rest
     * removed. The other texts keep their redaction alone. */
    for (i = 0; i < t->n && nj > 0; i++) {
        char *red;
        size_t rl;

        if (!overlaps(&m, cum[i], cum[i + 1]))
            continue;
        for (k = 0; k < own.n; k++)
            if (own.v[k].start >= cum[i] && own.v[k].end <= cum[i + 1]
                && masks_insert(&m, own.v[k].start, own.v[k].end, own.v[k].label) < 0)
                goto done;
        red = aigov_masks_apply(&m, t->text[i], t->len[i], cum[i], &rl);
        if (red == NULL || t->set(t->ctx, i, red, rl) != 0) {
            free(red);
            goto done;
        }
        free(red);
    }
    if (nj > 0) {
        out->modified = 1;
        if (aigov_outcome_note(out, name, t->stage, "redact", nj) != 0)
            goto done;
    }
    rc = AIGOV_FILTER_PASS;
done:
    if (cum != cum_small)
        free(cum);
    aigov_masks_free(&m);
    aigov_masks_free(&own);
    return rc;
}

static int request_set(void *ctx, size_t i, const char *s, size_t len)
{
    return aigov_request_set_text(ctx, i, s, len);
}

/* The request's texts joined, without and with a space between them;
 * a key meets its own string value as a pair and nothing else (see
 * "across texts"). otext/olen: the texts as this filter got them (before
 * its redaction of each alone). */
static int request_joined(const aigov_filter_spec_t *fs, const char *name,
                          aigov_request_t *rq, const char **otext, size_t *olen,
                          int ascii, aigov_filter_outcome_t *out)
{
    /* the usual request (a few texts) needs no allocation */
    unsigned char join_small[32], *join;
    aigov_texts_t t;
    size_t i;
    int rc;

    if (rq->ntexts < 2)
        return AIGOV_FILTER_PASS;
    memset(&t, 0, sizeof(t));
    t.n = rq->ntexts;
    t.text = otext;
    t.len = olen;
    join = t.n <= 16 ? join_small : malloc(2 * t.n);
    t.set = request_set;
    t.ctx = rq;
    t.stage = AIGOV_STAGE_REQUEST;
    t.ascii = ascii;
    if (join == NULL)
        return AIGOV_FILTER_NOMEM;
    t.join = join;
    t.json = join + t.n;
    for (i = 0; i < t.n; i++) {
        join[t.n + i] = rq->texts[i].json != 0;
        if (i == 0)
            join[i] = AIGOV_JOIN_RUN;
        else if (rq->texts[i].paired)
            join[i] = AIGOV_JOIN_PAIR;
        else if (rq->texts[i - 1].key || rq->texts[i].key || rq->texts[i - 1].paired)
            join[i] = AIGOV_JOIN_APART;
        else
            join[i] = AIGOV_JOIN_RUN;
    }
    rc = aigov_filter_joined(fs, name, &t, out);
    if (join != join_small)
        free(join);
    return rc;
}

/* The texts as a filter got them are kept for its joined reading (otext,
 * olen): a text it redacts alone that an earlier filter had replaced is
 * kept from being freed (keep[i]) until the next filter. */
static int filter_request(const aigov_filter_spec_t *filters, size_t nfilters,
                          aigov_request_t *rq, const char **otext, size_t *olen,
                          char **keep, aigov_filter_outcome_t *out)
{
    size_t f, i;
    char why[160];
    int rc, ascii;

    memset(out, 0, sizeof(*out));
    for (f = 0; f < nfilters; f++) {
        const aigov_filter_spec_t *fs = &filters[f];
        const char *name = fs->plugin ? fs->plugin : aigov_inst_plugin_name(fs->inst);

        if (!(fs->stages & AIGOV_STAGE_REQUEST))
            continue;
        if (name == NULL)
            name = "filter";
        if (aigov_outcome_note(out, name, AIGOV_STAGE_REQUEST, "allow", 0) != 0)
            return AIGOV_FILTER_NOMEM;

        ascii = 1;
        for (i = 0; i < rq->ntexts; i++) {
            free(keep[i]);
            keep[i] = NULL;
            otext[i] = rq->texts[i].text;
            olen[i] = rq->texts[i].len;
            ascii &= rq->texts[i].ascii;
        }
        for (i = 0; i < rq->ntexts; i++) {
            aigov_inspection_t ins;
            const char *verdict = "flag";
            size_t count;

            if (i == 0 && aigov_outcome_inspected(out, name, AIGOV_STAGE_REQUEST) != 0)
                return AIGOV_FILTER_NOMEM;
            inspect_text(fs, NULL, rq->texts[i].text, rq->texts[i].len,
                         rq->texts[i].json ? TEXT_JSON
                         : rq->texts[i].ascii ? TEXT_ASCII : TEXT_ANY, 0, &ins);
            if (ins.status != 0) {
                if (fs->on_error == AIGOV_ON_ERROR_ALLOW) {
                    if (aigov_outcome_note(out, name, AIGOV_STAGE_REQUEST, "error", 0) != 0)
                        return AIGOV_FILTER_NOMEM;
                    continue;
                }
                snprintf(why, sizeof(why), "filter %s failed to inspect the request", name);
                if (aigov_outcome_note(out, name, AIGOV_STAGE_REQUEST, "error", 0) != 0
                    || aigov_outcome_block(out, name, why, "filter_error") != 0)
                    return AIGOV_FILTER_NOMEM;
                return AIGOV_FILTER_BLOCKED;
            }
            if (!ins.found)
                continue;
            count = ins.nspans ? ins.nspans : 1;
            if (fs->action == AIGOV_ACTION_BLOCK) {
                if (aigov_outcome_note(out, name, AIGOV_STAGE_REQUEST, "block", count) != 0
                    || aigov_outcome_block(out, name, ins.reason, ins.category) != 0)
                    return AIGOV_FILTER_NOMEM;
                return AIGOV_FILTER_BLOCKED;
            }
            if (fs->action == AIGOV_ACTION_REDACT && ins.nspans > 0) {
                if (rq->texts[i].repl != NULL && rq->texts[i].repl == rq->texts[i].text) {
                    keep[i] = rq->texts[i].repl;
                    rq->texts[i].repl = NULL;
                }
                if (redact_text(rq, i, &ins, &count) != 0)
                    return AIGOV_FILTER_NOMEM;
                if (count > 0) {
                    verdict = "redact";
                    out->modified = 1;
                } else {
                    count = 1;  /* only empty spans: a flag */
                }
            }
            if (aigov_outcome_note(out, name, AIGOV_STAGE_REQUEST, verdict, count) != 0)
                return AIGOV_FILTER_NOMEM;
        }
        rc = request_joined(fs, name, rq, otext, olen, ascii, out);
        if (rc != AIGOV_FILTER_PASS)
            return rc;
    }
    return AIGOV_FILTER_PASS;
}

int aigov_filter_request(const aigov_filter_spec_t *filters, size_t nfilters,
                         aigov_request_t *rq, aigov_filter_outcome_t *out)
{
    /* the usual request (a few texts) needs no allocation */
    const char *text_small[16];
    size_t len_small[16], i, n = rq->ntexts;
    char *keep_small[16];
    const char **otext = n <= 16 ? text_small : malloc(n * sizeof(*otext));
    size_t *olen = n <= 16 ? len_small : malloc(n * sizeof(*olen));
    char **keep = n <= 16 ? keep_small : malloc(n * sizeof(*keep));
    int rc = AIGOV_FILTER_NOMEM;

    if (otext != NULL && olen != NULL && keep != NULL) {
        for (i = 0; i < n; i++)
            keep[i] = NULL;
        rc = filter_request(filters, nfilters, rq, otext, olen, keep, out);
        for (i = 0; i < n; i++)
            free(keep[i]);
    } else {
        memset(out, 0, sizeof(*out));
    }
    if (otext != text_small)
        free((void *)otext);
    if (olen != len_small)
        free(olen);
    if (keep != keep_small)
        free(keep);
    return rc;
}

/* claim_path: a path of claim names, with quoted segments for keys holding dots. */
#include <string.h>

#include "claim_path.h"
#include "errbuf.h"

/* One quoted segment starting at p (on the opening quote): its decoded text
 * in out (NUL-terminated), and the offset just past the closing quote.
 * -1 with *at at the fault. */
static int quoted(const char *path, size_t p, char *out, size_t outlen, size_t *len,
                  size_t *next, size_t *at, const char **why)
{
    size_t n = 0, i = p + 1;
    for (;;) {
        char c = path[i];
        if (c == '\0') {
            *at = p;
            *why = "a quote opened here is never closed";
            return -1;
        }
        if (c == '"')
            break;
        if (c == '\\') {
            if (path[i + 1] != '"' && path[i + 1] != '\\') {
                *at = i;
                *why = "inside quotes a backslash may only escape \" or \\";
                return -1;
            }
            c = path[++i];
        }
        if (n + 1 >= outlen) {
            *at = p;
            *why = "the quoted name is too long";
            return -1;
        }
        out[n++] = c;
        i++;
    }
    out[n] = '\0';
    *len = n;
    i++;
    if (path[i] != '\0' && path[i] != '.') {
        *at = i;
        *why = "a closing quote must end the name: a dot or the end of the path follows it";
        return -1;
    }
    *next = i;
    return 0;
}

/* Walk the path segment by segment; when claims is NULL only check it. */
static int walk(const json_t *claims, const char *path, const json_t **found,
                size_t *at, const char **why)
{
    char seg[AIGOV_CLAIM_PATH_MAX + 1];
    const json_t *cur = claims;
    size_t i = 0;
    if (strlen(path) > AIGOV_CLAIM_PATH_MAX) {
        *at = 0;
        *why = "the claim path is too long";
        return -1;
    }
    for (;;) {
        size_t len, next;
        const char *name;
        if (path[i] == '"') {
            if (quoted(path, i, seg, sizeof(seg), &len, &next, at, why) != 0)
                return -1;
            name = seg;
        } else {
            size_t j = i;
            while (path[j] != '\0' && path[j] != '.' && path[j] != '"')
                j++;
            if (path[j] == '"') {
                *at = j;
                *why = "a quote may only open a name, right after a dot or at the start";
                return -1;
            }
            if (j == i) {
                *at = i;
                *why = "empty name: two dots in a row, or a dot at the start or end";
                return -1;
            }
            name = path + i;
            len = j - i;
            next = j;
        }
        if (claims != NULL)
            cur = json_is_object(cur) ? json_object_getn(cur, name, len) : NULL;
        if (path[next] == '\0')
            break;
        i = next + 1;
        if (path[i] == '\0') {
            *at = next;
            *why = "empty name: two dots in a row, or a dot at the start or end";
            return -1;
        }
    }
    if (found != NULL)
        *found = cur;
    return 0;
}

int aigov_claim_path_check(const char *path, size_t *at, char *err, size_t errlen)
{
    const char *why = NULL;
    size_t where = 0;
    if (path == NULL || strchr(path, '"') == NULL) {
        if (path != NULL && strlen(path) > AIGOV_CLAIM_PATH_MAX) {
            if (at != NULL)
                *at = 0;
            aigov_errorf(err, errlen, "the claim path is too long");
            return -1;
        }
        return 0;
    }
    if (walk(NULL, path, NULL, &where, &why) == 0)
        return 0;
    if (at != NULL)
        *at = where;
    aigov_errorf(err, errlen, "%s", why);
    return -1;
}

const json_t *aigov_claim_get(const json_t *claims, const char *path)
{
    const json_t *cur;
    const char *why;
    size_t at;
    if (claims == NULL || path == NULL || !json_is_object(claims))
        return NULL;
    if (strchr(path, '"') == NULL) {
        /* without quotes: the whole name, else a plain dotted path */
        const char *s = path;
        if ((cur = json_object_get(claims, path)) != NULL || strchr(path, '.') == NULL)
            return cur;
        cur = claims;
        while (cur != NULL && json_is_object(cur)) {
            const char *dot = strchr(s, '.');
            size_t n = dot ? (size_t) (dot - s) : strlen(s);
            cur = json_object_getn(cur, s, n);
            if (dot == NULL)
                return cur;
            s = dot + 1;
        }
        return NULL;
    }
    if (walk(claims, path, &cur, &at, &why) != 0)
        return NULL;
    return cur;
}

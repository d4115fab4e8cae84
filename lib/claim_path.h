/*
 * claim_path: naming a claim inside a token's claims, the one syntax shared
 * by policies (subject_claim, groups_claim, the keys of `claims:`) and the
 * gateway's subject check.
 *
 *   tenant                       the top-level claim "tenant"
 *   org.tenant                   "tenant" inside the object "org" (when no
 *                                top-level claim is named "org.tenant":
 *                                the whole name is tried first)
 *   resource_access."aigov.gw".roles
 *                                a segment in double quotes is one key,
 *                                dots included; \" and \\ inside it stand
 *                                for " and \. With any quote in it the path
 *                                is read segment by segment only.
 *
 * A quote may only open a segment and must close it: `a"b`, `"a`, `"a"b`
 * are errors, and so is an empty unquoted segment (`a..b`, `.a`) in a path
 * with quotes. Paths are at most AIGOV_CLAIM_PATH_MAX bytes.
 */
#ifndef AIGOV_CLAIM_PATH_H
#define AIGOV_CLAIM_PATH_H

#include <stddef.h>
#include <jansson.h>

#define AIGOV_CLAIM_PATH_MAX 256

/* 0 when path is well formed; else -1, *at = the byte offset of the fault
 * (0-based) and err a sentence ("unterminated quote"). */
int aigov_claim_path_check(const char *path, size_t *at, char *err, size_t errlen);

/* The value at path in claims (an object), or NULL: absent, or the path is
 * malformed. Borrowed. */
const json_t *aigov_claim_get(const json_t *claims, const char *path);

#endif

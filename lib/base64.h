/*
 * base64: RFC 4648 base64, the one writer and reader of lib/.
 *
 * Its users want different spellings, chosen by flags:
 *
 *   0 (AIGOV_B64_STD)   standard alphabet, padded, strict: checkpoints,
 *                       signatures and keys of the audit log, the hash key
 *                       file, a policy file's text_base64. One value has one
 *                       spelling (no white space, unused bits zero, padding
 *                       where it belongs), so a changed character is always
 *                       a changed value.
 *   AIGOV_B64_URL | AIGOV_B64_NOPAD
 *                       base64url without '=': JWTs and JWKs (RFC 7515),
 *                       strict the same way.
 *   AIGOV_B64_LAX [| AIGOV_B64_PARTIAL]
 *                       what a client may send as an inline file (MIME,
 *                       data: URLs): ASCII white space skipped, '=' padding
 *                       may end it or be left out, unused bits not looked
 *                       at, and a full out stops the reading instead of
 *                       failing it.
 *
 * Neither function allocates; no state.
 */
#ifndef AIGOV_BASE64_H
#define AIGOV_BASE64_H

#include <stddef.h>
#include <stdint.h>

#define AIGOV_B64_STD     0u
#define AIGOV_B64_URL     1u    /* '-' and '_' for '+' and '/' (RFC 4648 5) */
#define AIGOV_B64_NOPAD   2u    /* written without '='; read: '=' is bad */
#define AIGOV_B64_LAX     4u    /* read only: as said above */
#define AIGOV_B64_PARTIAL 8u    /* read only: in is the start of a longer text;
                                   its last letters, short of four, are left */

/* Room for the encoding of n bytes, its NUL included (any flags). */
#define AIGOV_B64_ROOM(n) (((n) + 2) / 3 * 4 + 1)

/* Writes in[0..len) in base64 at out (room: AIGOV_B64_ROOM(len)) and a NUL;
 * returns the length written, the NUL not counted. Flags: URL, NOPAD. */
size_t aigov_b64_encode(const uint8_t *in, size_t len, char *out, unsigned flags);

/* Reads in[0..len) into out (at most cap bytes; out may be in itself: the
 * output never overtakes the input). Returns the length written, or -1
 * when it is not base64 as flags say or (unless LAX) does not fit in cap.
 * Every flag applies. */
long aigov_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, unsigned flags);

#endif

/*
 * hex: lowercase hex of bytes, for digests and ids in the audit records.
 */
#ifndef AIGOV_HEX_H
#define AIGOV_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2 * n hex digits at out (no terminator); returns out + 2 * n. */
char *aigov_hex(char *out, const uint8_t *in, size_t n);

#endif

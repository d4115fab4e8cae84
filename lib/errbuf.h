/* errbuf: one plain sentence into a caller's error buffer. */
#ifndef AIGOV_ERRBUF_H
#define AIGOV_ERRBUF_H

#include <stddef.h>

/* Formats into buf (always NUL-terminated); does nothing when buf is NULL
 * or len is 0, so callers may pass an optional buffer straight through. */
void aigov_errorf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

/* errbuf: one plain sentence into a caller's error buffer. */
#include <stdarg.h>
#include <stdio.h>

#include "errbuf.h"

void aigov_errorf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (buf == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

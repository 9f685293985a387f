/* The text appender (strout.h). */
#include "core/strout.h"

#include <stdarg.h>
#include <stdio.h>

void vmux__strout_put(struct vmux_strout *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *at = o->total < o->len ? o->buf + o->total : NULL;
    int n = vsnprintf(at, at != NULL ? o->len - o->total : 0, fmt, ap);
    va_end(ap);
    o->total += n > 0 ? (size_t)n : 0;
}

/*
 * An snprintf-like appender for text the caller sizes (config strings, metrics): every byte is
 * counted, what fits is written, and the buffer stays NUL-terminated, so that the total tells a
 * caller whose buffer was short how much to give next time.
 */
#ifndef VMUX_CORE_STROUT_H
#define VMUX_CORE_STROUT_H

#include <stddef.h>

struct vmux_strout {
    char *buf;    /* may be NULL when len is 0: only counts */
    size_t len;   /* bytes at buf, the NUL included */
    size_t total; /* bytes the whole text takes, the NUL not included */
};

/* Appends printf-style text: writes what fits in o->buf, counts all of it in o->total. */
void vmux__strout_put(struct vmux_strout *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

/* Filling a caller's optional error buffer. */
#ifndef VMUX_ERRBUF_H
#define VMUX_ERRBUF_H

#include <stddef.h>

/*
 * Writes a printf-style message into buf (len bytes, always NUL-terminated, cut if too long).
 * Does nothing when buf is NULL or len is 0.
 */
void vmux__errbuf_set(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

/* Filling a caller's optional error buffer. */
#ifndef VMUX_ERRBUF_H
#define VMUX_ERRBUF_H

#include <stddef.h>

/* The size of a connection failure's cause, as net/conn.c cuts it ("cannot resolve ..."). */
#define VMUX_CAUSE_SIZE 200

/*
 * The size of a buffer that holds a failure's reason, "host:port: cause": room for the longest
 * host name (253 bytes, or a bracketed IPv6 address with its zone), a port and a whole cause, so
 * that a long host name never pushes the cause out. A log line (511 bytes) holds such a reason
 * after its "connection failed (CODE): " prefix.
 */
#define VMUX_REASON_SIZE 512

/*
 * Writes a printf-style message into buf (len bytes, always NUL-terminated, cut if too long).
 * Does nothing when buf is NULL or len is 0.
 */
void vmux__errbuf_set(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

/*
 * A growable byte buffer: a connection's outgoing bytes (net/conn_write.c, net/tls.c), or text a
 * caller builds (the script of a transaction). Not thread-safe: a buffer belongs to one thread
 * at a time, the one that made it or was handed it (a connection's buffers: the I/O thread).
 */
#ifndef VMUX_BUF_H
#define VMUX_BUF_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Bytes [off, len) are waiting; [0, off) were consumed from the front. A buffer marked secret
 * (it was given credentials: AUTH) wipes bytes [0, len) before it reuses or gives back their
 * memory, and is unmarked then; an unmarked buffer costs nothing more.
 */
struct vmux_buf {
    char *data;
    size_t off, len, cap;
    bool secret;
};

/* Makes room for more bytes after len. Returns 0 or VMUX_ERR_NOMEM. */
int vmux__buf_reserve(struct vmux_buf *b, size_t more);

/* Appends bytes. Returns 0 or VMUX_ERR_NOMEM. */
int vmux__buf_append(struct vmux_buf *b, const char *data, size_t len);

/* Marks everything consumed (wiping it first if the buffer is secret), and gives memory back if the
 * buffer had grown large. */
void vmux__buf_drained(struct vmux_buf *b);

/* Frees the buffer's memory, wiped first if the buffer is secret. */
void vmux__buf_free(struct vmux_buf *b);

#endif

/* A growable byte buffer for a connection's outgoing bytes. I/O thread only. */
#ifndef VMUX_BUF_H
#define VMUX_BUF_H

#include <stddef.h>

/* Bytes [off, len) are waiting; [0, off) were consumed from the front. */
struct vmux_buf {
    char *data;
    size_t off, len, cap;
};

/* Makes room for more bytes after len. Returns 0 or VMUX_ERR_NOMEM. */
int vmux_buf_reserve(struct vmux_buf *b, size_t more);

/* Appends bytes. Returns 0 or VMUX_ERR_NOMEM. */
int vmux_buf_append(struct vmux_buf *b, const char *data, size_t len);

/* Marks everything consumed, and gives memory back if the buffer had grown large. */
void vmux_buf_drained(struct vmux_buf *b);

/* Frees the buffer's memory. */
void vmux_buf_free(struct vmux_buf *b);

#endif

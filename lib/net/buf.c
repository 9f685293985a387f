#include "net/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmux/error.h"

#define INITIAL_CAP (16 * 1024)
#define SHRINK_ABOVE (1024 * 1024) /* give back buffers grown past this once they drain */

int vmux_buf_reserve(struct vmux_buf *b, size_t more)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap ? b->cap : INITIAL_CAP;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2)
            return VMUX_ERR_NOMEM;
        cap *= 2;
    }
    char *grown = realloc(b->data, cap);
    if (grown == NULL)
        return VMUX_ERR_NOMEM;
    b->data = grown;
    b->cap = cap;
    return 0;
}

int vmux_buf_append(struct vmux_buf *b, const char *data, size_t len)
{
    int rc = vmux_buf_reserve(b, len);
    if (rc != 0)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void vmux_buf_drained(struct vmux_buf *b)
{
    b->off = b->len = 0;
    if (b->cap > SHRINK_ABOVE)
        vmux_buf_free(b);
}

void vmux_buf_free(struct vmux_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

#include "core/buf.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmux/error.h"

#define INITIAL_CAP (16 * 1024)
#define SHRINK_ABOVE (1024 * 1024) /* give back buffers grown past this once they drain */

/* The bytes a secret passed through are wiped before their memory is reused or freed. */
static void forget(struct vmux_buf *b)
{
    if (b->secret) {
        OPENSSL_cleanse(b->data, b->len);
        b->secret = false;
    }
}

/* realloc() would free the old block unwiped: a secret buffer moves by hand. */
static char *grow(struct vmux_buf *b, size_t cap)
{
    if (!b->secret)
        return realloc(b->data, cap);
    char *grown = malloc(cap);
    if (grown != NULL && b->data != NULL) { /* a new secret buffer has nothing to move yet */
        memcpy(grown, b->data, b->len);
        OPENSSL_cleanse(b->data, b->len);
        free(b->data);
    }
    return grown;
}

int vmux__buf_reserve(struct vmux_buf *b, size_t more)
{
    if (b->off > 0 && b->off == b->len) {
        forget(b);
        b->off = b->len = 0;
    }
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap ? b->cap : INITIAL_CAP;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2)
            return VMUX_ERR_NOMEM;
        cap *= 2;
    }
    char *grown = grow(b, cap);
    if (grown == NULL)
        return VMUX_ERR_NOMEM;
    b->data = grown;
    b->cap = cap;
    return 0;
}

int vmux__buf_append(struct vmux_buf *b, const char *data, size_t len)
{
    int rc = vmux__buf_reserve(b, len);
    if (rc != 0)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void vmux__buf_drained(struct vmux_buf *b)
{
    forget(b);
    b->off = b->len = 0;
    if (b->cap > SHRINK_ABOVE)
        vmux__buf_free(b);
}

void vmux__buf_free(struct vmux_buf *b)
{
    forget(b);
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

/* Prefixed keys (prefixed_key.h): built inline when short, malloc'ed beyond. */
#include "patterns/prefixed_key.h"

#include <stdlib.h>
#include <string.h>

#include "vmux/error.h"

int vmux__prefixed_key_make(struct vmux__prefixed_key *k, const char *prefix, size_t prefix_len,
                            vmux_str key)
{
    k->len = prefix_len + key.len;
    k->ptr = k->len <= VMUX__PREFIXED_KEY_INLINE ? k->inline_buf : malloc(k->len + 1);
    if (k->ptr == NULL)
        return VMUX_ERR_NOMEM;
    if (prefix_len > 0)
        memcpy(k->ptr, prefix, prefix_len);
    if (key.len > 0)
        memcpy(k->ptr + prefix_len, key.ptr, key.len);
    k->ptr[k->len] = '\0';
    return 0;
}

void vmux__prefixed_key_free(struct vmux__prefixed_key *k)
{
    if (k->ptr != k->inline_buf)
        free(k->ptr);
}

/* The value helpers of types.h (vmux_bytes and its arrays): freeing and copying. */
#include "core/value.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmux/error.h"

void vmux_bytes_free(vmux_bytes *b)
{
    if (b == NULL)
        return;
    free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
}

void vmux_bytes_array_free(vmux_bytes_array *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        vmux_bytes_free(&a->items[i]);
    free(a->items);
    a->items = NULL;
    a->count = 0;
}

void vmux__free_items(void *items, size_t count, size_t size, size_t member_at)
{
    for (size_t i = 0; i < count; i++)
        vmux_bytes_free((vmux_bytes *)((char *)items + i * size + member_at));
    free(items);
}

void vmux_scored_array_free(vmux_scored_array *a)
{
    if (a == NULL)
        return;
    vmux__free_items(a->items, a->count, sizeof *a->items, offsetof(vmux_scored, member));
    *a = (vmux_scored_array){0};
}

int vmux__bytes_copy(const void *p, size_t len, vmux_bytes *out)
{
    out->len = 0;
    out->ptr = len < SIZE_MAX ? malloc(len + 1) : NULL; /* no buffer holds SIZE_MAX + 1 bytes */
    if (out->ptr == NULL)
        return VMUX_ERR_NOMEM;
    if (len > 0)
        memcpy(out->ptr, p, len);
    out->ptr[len] = '\0';
    out->len = len;
    return 0;
}

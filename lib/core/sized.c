/* The caller's sized structs: never a byte past their size (docs/api-conventions.md). */
#include "core/sized.h"

#include <string.h>

#include "vmux/error.h"

static size_t size_of(const void *sized)
{
    size_t n;
    memcpy(&n, sized, sizeof n);
    return n;
}

static int zero_from(const void *p, size_t from, size_t to)
{
    for (const unsigned char *b = p; from < to; from++)
        if (b[from] != 0)
            return VMUX_ERR_INVALID_ARG;
    return 0;
}

int vmux__sized_in(void *dst, size_t dst_size, const void *src)
{
    size_t n = size_of(src);
    memset(dst, 0, dst_size);
    if (n < sizeof(size_t) || (n > dst_size && zero_from(src, dst_size, n) != 0))
        return VMUX_ERR_INVALID_ARG;
    memcpy(dst, src, n < dst_size ? n : dst_size);
    memcpy(dst, &dst_size, sizeof dst_size);
    return 0;
}

vmux_callopts vmux__callopts_copy(const vmux_callopts *opts)
{
    vmux_callopts o = {.size = sizeof o};
    if (opts != NULL && vmux__sized_in(&o, sizeof o, opts) != 0)
        o.size = 0;
    return o;
}

int vmux__sized_out(void *dst, const void *src, size_t src_size)
{
    size_t n = size_of(dst);
    if (n < sizeof(size_t))
        return VMUX_ERR_INVALID_ARG;
    size_t copy = n < src_size ? n : src_size;
    unsigned char *d = dst;
    memcpy(d + sizeof(size_t), (const unsigned char *)src + sizeof(size_t), copy - sizeof(size_t));
    if (n > src_size)
        memset(d + src_size, 0, n - src_size);
    return 0;
}

/* Helpers of the near cache store's unit tests (nearstore.h). */
#include "nearstore.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmux/error.h"
#include "vmux/types.h"

struct vmux_near *vt_store_with(size_t entries, size_t bytes, unsigned shards)
{
    struct vmux_near *s = NULL;
    struct vmux_near_limits l = {.max_entries = entries, .max_bytes = bytes, .shards = shards};
    assert_int_equal(vmux__near_new(&l, &s), 0);
    assert_non_null(s);
    return s;
}

struct vmux_near_store_stats vt_store_stats(struct vmux_near *s)
{
    struct vmux_near_store_stats st;
    vmux__near_read_stats(s, &st);
    return st;
}

int vt_take_copy(const void *bytes, size_t len, void *out)
{
    vmux_bytes *b = out;
    b->ptr = malloc(len + 1);
    if (b->ptr == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(b->ptr, bytes, len);
    b->ptr[len] = '\0';
    b->len = len;
    return 0;
}

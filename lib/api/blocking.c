/* Blocking commands (blocking.h): each runs on a dedicated connection of the blocking pool. */
#include "vmux/blocking.h"

#include <string.h>

#include "api/typed.h"
#include "vmux/error.h"

/* The server's block time argument: seconds, with millisecond precision. */
static void add_block_time(struct vmux_args *a, int64_t block_ms)
{
    vmux__args_double(a, (double)block_ms / 1000.0);
}

static void add_keys(struct vmux_args *a, const vmux_str *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vmux__args_str(a, keys[i]);
}

/* Reads element i of an array reply into out (which may be NULL). */
static int take(const vmux_reply *r, size_t i, vmux_bytes *out)
{
    vmux_bytes ignored;
    int rc = vmux_reply_to_bytes(vmux_reply_element(r, i), out ? out : &ignored);
    if (out == NULL)
        vmux_bytes_free(&ignored);
    return rc;
}

static void zero(vmux_bytes *b)
{
    if (b != NULL)
        memset(b, 0, sizeof(*b));
}

int vmux_bpop(vmux *m, const vmux_callopts *opts, vmux_end end, const vmux_str *keys, size_t n,
              int64_t block_ms, vmux_bytes *key, vmux_bytes *value)
{
    zero(key);
    zero(value);
    if (keys == NULL || n == 0 || block_ms < 1 || (end != VMUX_HEAD && end != VMUX_TAIL))
        return VMUX_ERR_INVALID_ARG;
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, end == VMUX_HEAD ? "BLPOP" : "BRPOP");
    add_keys(&a, keys, n);
    add_block_time(&a, block_ms);
    vmux_callopts o = vmux__blocking_opts(m, opts, block_ms);
    vmux_reply *r;
    int rc = vmux__typed_call(m, &o, &a, false, &r);
    if (rc == 0 && vmux_reply_get_kind(r) == VMUX_REPLY_ARRAY && vmux_reply_len(r) == 2)
        rc = take(r, 0, key) != 0 || take(r, 1, value) != 0 ? VMUX_ERR_PROTOCOL : 0;
    else if (rc == 0 && vmux_reply_get_kind(r) != VMUX_REPLY_NIL)
        rc = VMUX_ERR_PROTOCOL;
    if (rc != 0) {
        vmux_bytes_free(key);
        vmux_bytes_free(value);
    }
    vmux_reply_free(r);
    return rc;
}

int vmux_blmove(vmux *m, const vmux_callopts *opts, vmux_str src, vmux_str dst, vmux_end from,
                vmux_end to, int64_t block_ms, vmux_bytes *value)
{
    zero(value);
    if (block_ms < 1 || (from != VMUX_HEAD && from != VMUX_TAIL) ||
        (to != VMUX_HEAD && to != VMUX_TAIL))
        return VMUX_ERR_INVALID_ARG;
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "BLMOVE");
    vmux__args_str(&a, src);
    vmux__args_str(&a, dst);
    vmux__args_cstr(&a, from == VMUX_HEAD ? "LEFT" : "RIGHT");
    vmux__args_cstr(&a, to == VMUX_HEAD ? "LEFT" : "RIGHT");
    add_block_time(&a, block_ms);
    vmux_callopts o = vmux__blocking_opts(m, opts, block_ms);
    vmux_bytes ignored;
    int rc = vmux__typed_run(m, &o, &a, false, vmux__conv_bytes, value ? value : &ignored);
    if (value == NULL)
        vmux_bytes_free(&ignored);
    return rc;
}

int vmux_bzpop(vmux *m, const vmux_callopts *opts, vmux_end end, const vmux_str *keys, size_t n,
               int64_t block_ms, vmux_bytes *key, vmux_bytes *member, double *score)
{
    zero(key);
    zero(member);
    if (score != NULL)
        *score = 0;
    if (keys == NULL || n == 0 || block_ms < 1 || (end != VMUX_HEAD && end != VMUX_TAIL))
        return VMUX_ERR_INVALID_ARG;
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, end == VMUX_TAIL ? "BZPOPMAX" : "BZPOPMIN");
    add_keys(&a, keys, n);
    add_block_time(&a, block_ms);
    vmux_callopts o = vmux__blocking_opts(m, opts, block_ms);
    vmux_reply *r;
    double s = 0;
    int rc = vmux__typed_call(m, &o, &a, false, &r);
    if (rc == 0 && vmux_reply_get_kind(r) == VMUX_REPLY_ARRAY && vmux_reply_len(r) == 3)
        rc = take(r, 0, key) != 0 || take(r, 1, member) != 0 ||
                     vmux_reply_to_double(vmux_reply_element(r, 2), &s) != 0
                 ? VMUX_ERR_PROTOCOL
                 : 0;
    else if (rc == 0 && vmux_reply_get_kind(r) != VMUX_REPLY_NIL)
        rc = VMUX_ERR_PROTOCOL;
    if (rc != 0) {
        vmux_bytes_free(key);
        vmux_bytes_free(member);
    } else if (score != NULL) {
        *score = s;
    }
    vmux_reply_free(r);
    return rc;
}

int vmux_wait(vmux *m, const vmux_callopts *opts, int64_t replicas, int64_t block_ms,
              int64_t *acked)
{
    if (acked != NULL)
        *acked = 0;
    if (replicas < 0 || block_ms < 1)
        return VMUX_ERR_INVALID_ARG;
    struct vmux_args a;
    int64_t ignored;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "WAIT");
    vmux__args_int(&a, replicas);
    vmux__args_int(&a, block_ms);
    vmux_callopts o = vmux__blocking_opts(m, opts, block_ms);
    return vmux__typed_run(m, &o, &a, false, vmux__conv_int, acked ? acked : &ignored);
}

/* List commands (lists.h). */
#include "vmux/lists.h"

#include "api/typed.h"
#include "vmux/error.h"

int vmux_lpush(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values, size_t n,
               int64_t *length)
{
    return vmux__run_items_int(m, opts, "LPUSH", &key, values, n, false, length);
}

int vmux_rpush(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values, size_t n,
               int64_t *length)
{
    return vmux__run_items_int(m, opts, "RPUSH", &key, values, n, false, length);
}

int vmux_lpush_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values,
                     size_t n, vmux_reply_cb cb, void *userdata)
{
    return vmux__items_async(m, opts, "LPUSH", &key, values, n, false, cb, userdata);
}

int vmux_rpush_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values,
                     size_t n, vmux_reply_cb cb, void *userdata)
{
    return vmux__items_async(m, opts, "RPUSH", &key, values, n, false, cb, userdata);
}

int vmux_lpop(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "LPOP", key);
    return vmux__run_bytes(m, opts, &a, false, value);
}

int vmux_rpop(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "RPOP", key);
    return vmux__run_bytes(m, opts, &a, false, value);
}

static int pop_count(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str key,
                     int64_t count, vmux_bytes_array *values)
{
    struct vmux_args a;
    vmux__args_key_command(&a, cmd, key);
    vmux__args_count(&a, count);
    return vmux__run_bytes_array(m, opts, &a, false, values);
}

int vmux_lpop_count(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                    vmux_bytes_array *values)
{
    return pop_count(m, opts, "LPOP", key, count, values);
}

int vmux_rpop_count(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                    vmux_bytes_array *values)
{
    return pop_count(m, opts, "RPOP", key, count, values);
}

/* cmd key start stop */
static void build_span(struct vmux_args *a, const char *cmd, vmux_str key, int64_t start,
                       int64_t stop)
{
    vmux__args_key_command(a, cmd, key);
    vmux__args_int(a, start);
    vmux__args_int(a, stop);
}

int vmux_lrange(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t start, int64_t stop,
                vmux_bytes_array *values)
{
    struct vmux_args a;
    build_span(&a, "LRANGE", key, start, stop);
    return vmux__run_bytes_array(m, opts, &a, true, values);
}

int vmux_lrange_async(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t start, int64_t stop,
                      vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    build_span(&a, "LRANGE", key, start, stop);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_llen(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *length)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "LLEN", key);
    return vmux__run_int(m, opts, &a, true, length);
}

int vmux_lindex(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t index, vmux_bytes *value)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "LINDEX", key);
    vmux__args_int(&a, index);
    return vmux__run_bytes(m, opts, &a, true, value);
}

int vmux_lset(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t index, vmux_str value)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "LSET", key);
    vmux__args_int(&a, index);
    vmux__args_str(&a, value);
    return vmux__run_ok(m, opts, &a, true);
}

int vmux_lrem(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count, vmux_str value,
              int64_t *removed)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "LREM", key);
    vmux__args_int(&a, count);
    vmux__args_str(&a, value);
    /* Removing every match twice leaves what removing them once did; a counted removal does
     * not (the second one would take further matches). */
    return vmux__run_int(m, opts, &a, count == 0, removed);
}

int vmux_ltrim(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t start, int64_t stop)
{
    struct vmux_args a;
    build_span(&a, "LTRIM", key, start, stop);
    /* Keeping the first or the last elements twice keeps the same ones; any other range cuts
     * again from what the first trim left, so it is not sent twice. */
    bool idempotent = (start == 0 && stop >= 0) || (start < 0 && stop == -1);
    return vmux__run_ok(m, opts, &a, idempotent);
}

static const char *end_word(vmux_end end)
{
    switch (end) {
    case VMUX_HEAD:
        return "LEFT";
    case VMUX_TAIL:
        return "RIGHT";
    }
    return NULL;
}

int vmux_lmove(vmux *m, const vmux_callopts *opts, vmux_str source, vmux_str destination,
               vmux_end from, vmux_end to, vmux_bytes *moved)
{
    struct vmux_args a;
    const char *from_word = end_word(from), *to_word = end_word(to);
    if (moved != NULL)
        *moved = (vmux_bytes){0};
    if (from_word == NULL || to_word == NULL)
        return VMUX_ERR_INVALID_ARG;
    vmux__args_key_command(&a, "LMOVE", source);
    vmux__args_str(&a, destination);
    vmux__args_cstr(&a, from_word);
    vmux__args_cstr(&a, to_word);
    return vmux__run_bytes(m, opts, &a, false, moved);
}

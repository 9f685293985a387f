/* List commands (lists.h). */
#include "vmux/lists.h"

#include <string.h>

#include "api/typed.h"
#include "core/sized.h"
#include "vmux/error.h"

int vmux_lpush(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values, size_t n,
               int64_t *length)
{
    return vmux__run_items_int(m, opts, "LPUSH", &key, values, "values", n, false, length);
}

int vmux_rpush(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values, size_t n,
               int64_t *length)
{
    return vmux__run_items_int(m, opts, "RPUSH", &key, values, "values", n, false, length);
}

int vmux_lpush_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values,
                     size_t n, vmux_reply_cb cb, void *userdata)
{
    return vmux__items_async(m, opts, "LPUSH", &key, values, "values", n, false, cb, userdata);
}

int vmux_rpush_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values,
                     size_t n, vmux_reply_cb cb, void *userdata)
{
    return vmux__items_async(m, opts, "RPUSH", &key, values, "values", n, false, cb, userdata);
}

int vmux_lpushx(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values, size_t n,
                int64_t *length)
{
    return vmux__run_items_int(m, opts, "LPUSHX", &key, values, "values", n, false, length);
}

int vmux_rpushx(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values, size_t n,
                int64_t *length)
{
    return vmux__run_items_int(m, opts, "RPUSHX", &key, values, "values", n, false, length);
}

int vmux_lpushx_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values,
                      size_t n, vmux_reply_cb cb, void *userdata)
{
    return vmux__items_async(m, opts, "LPUSHX", &key, values, "values", n, false, cb, userdata);
}

int vmux_rpushx_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values,
                      size_t n, vmux_reply_cb cb, void *userdata)
{
    return vmux__items_async(m, opts, "RPUSHX", &key, values, "values", n, false, cb, userdata);
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

/*
 * LPOS key element [RANK r] [COUNT max] [MAXLEN l] (max 0: no COUNT). Options not made with
 * VMUX_INIT, a rank of INT64_MIN or a negative maxlen are refused (VMUX_ERR_INVALID_ARG when
 * sent), as the server refuses them (a rank of 0 is never sent: it is the default).
 */
static void lpos_command(struct vmux_args *a, vmux_str key, vmux_str element,
                         const vmux_lpos_opts *o, size_t max)
{
    vmux_lpos_opts lo = {0};
    vmux__args_key_command(a, "LPOS", key);
    vmux__args_str(a, element);
    if (o != NULL && (vmux__sized_in(&lo, sizeof lo, o) != 0 || lo.rank == INT64_MIN)) {
        vmux__args_refuse_why(a, lo.rank == INT64_MIN ? "o->rank is INT64_MIN: it has no negation"
                                                      : "o cannot be read: make it with VMUX_INIT");
        return;
    }
    if (lo.rank != 0) {
        vmux__args_cstr(a, "RANK");
        vmux__args_int(a, lo.rank);
    }
    if (max > 0) {
        vmux__args_cstr(a, "COUNT");
        vmux__args_count(a, max > INT64_MAX ? -1 : (int64_t)max);
    }
    if (lo.maxlen != 0) {
        vmux__args_cstr(a, "MAXLEN");
        vmux__args_count(a, lo.maxlen);
    }
}

int vmux_lpos(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str element,
              const vmux_lpos_opts *o, int64_t *index, bool *found)
{
    struct vmux_args a;
    struct vmux_maybe w =
        vmux__maybe(VMUX_REPLY_INTEGER, vmux__conv_int, index, sizeof(*index), NULL);
    if (index != NULL)
        *index = 0;
    if (found != NULL)
        *found = false;
    lpos_command(&a, key, element, o, 0);
    int rc = vmux__typed_run_into(m, opts, &a, true, vmux__conv_maybe, &w, 0, NULL);
    if (found != NULL)
        *found = rc == 0 && w.found;
    return rc;
}

/* Where LPOS ... COUNT's reply goes: up to max integers into positions, their number in *count. */
struct positions {
    int64_t *positions;
    size_t max;
    size_t *count;
};

static void positions_zero(const struct positions *p)
{
    if (p->positions != NULL)
        memset(p->positions, 0, p->max * sizeof(*p->positions));
    if (p->count != NULL)
        *p->count = 0;
}

static int conv_positions(const vmux_reply *r, void *out)
{
    const struct positions *p = out;
    size_t n = vmux_reply_len(r);
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || n > p->max)
        return VMUX_ERR_PROTOCOL;
    for (size_t i = 0; i < n; i++) {
        const vmux_reply *e = vmux_reply_element(r, i);
        if (vmux_reply_get_kind(e) != VMUX_REPLY_INTEGER) {
            positions_zero(p);
            return VMUX_ERR_PROTOCOL;
        }
        if (p->positions != NULL)
            p->positions[i] = vmux_reply_integer(e);
    }
    if (p->count != NULL)
        *p->count = n;
    return 0;
}

int vmux_lpos_count(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str element,
                    const vmux_lpos_opts *o, int64_t *positions, size_t max, size_t *count)
{
    struct vmux_args a;
    struct positions p = {positions, max, count};
    positions_zero(&p);
    if (max == 0)
        return vmux__typed_refuse(opts, "max is 0: must be at least 1 (the server's COUNT 0, "
                                        "every match, needs an array as long as the list)");
    lpos_command(&a, key, element, o, max);
    return vmux__typed_run_into(m, opts, &a, true, conv_positions, &p, 0, NULL);
}

int vmux_lset(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t index, vmux_str value)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "LSET", key);
    vmux__args_int(&a, index);
    vmux__args_str(&a, value);
    return vmux__run_ok(m, opts, &a, true);
}

/* LINSERT key BEFORE|AFTER pivot element; a second run would insert the element again. */
static int linsert(vmux *m, const vmux_callopts *opts, vmux_str key, const char *where,
                   vmux_str pivot, vmux_str element, int64_t *length)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "LINSERT", key);
    vmux__args_cstr(&a, where);
    vmux__args_str(&a, pivot);
    vmux__args_str(&a, element);
    return vmux__run_int(m, opts, &a, false, length);
}

int vmux_linsert_before(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str pivot,
                        vmux_str element, int64_t *length)
{
    return linsert(m, opts, key, "BEFORE", pivot, element, length);
}

int vmux_linsert_after(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str pivot,
                       vmux_str element, int64_t *length)
{
    return linsert(m, opts, key, "AFTER", pivot, element, length);
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
        return vmux__typed_refuse(opts, "%s is %d: none of vmux_end",
                                  from_word == NULL ? "from" : "to",
                                  (int)(from_word == NULL ? from : to));
    vmux__args_key_command(&a, "LMOVE", source);
    vmux__args_str(&a, destination);
    vmux__args_cstr(&a, from_word);
    vmux__args_cstr(&a, to_word);
    return vmux__run_bytes(m, opts, &a, false, moved);
}

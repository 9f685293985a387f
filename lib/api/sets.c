/*
 * Set commands (sets.h). Every one is idempotent, so sent retry-safe, except SPOP and SMOVE (and
 * SDIFFSTORE into one of the sets it subtracts).
 */
#include "vmux/sets.h"

#include <string.h>

#include "api/typed.h"
#include "vmux/error.h"

int vmux_sadd(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members, size_t n,
              int64_t *added)
{
    return vmux__run_items_int(m, opts, "SADD", &key, members, "members", n, true, added);
}

int vmux_sadd_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members,
                    size_t n, vmux_reply_cb cb, void *userdata)
{
    return vmux__items_async(m, opts, "SADD", &key, members, "members", n, true, cb, userdata);
}

int vmux_srem(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members, size_t n,
              int64_t *removed)
{
    return vmux__run_items_int(m, opts, "SREM", &key, members, "members", n, true, removed);
}

int vmux_sismember(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                   bool *is_member)
{
    struct vmux_args a;
    vmux__args_items(&a, "SISMEMBER", &key, &member, 1);
    return vmux__run_bool(m, opts, &a, true, is_member);
}

int vmux_sismember_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                         vmux_reply_cb cb, void *userdata)
{
    return vmux__items_async(m, opts, "SISMEMBER", &key, &member, "member", 1, true, cb, userdata);
}

/* Where SMISMEMBER's reply goes: n integers into n bools (NULL: dropped unread). */
struct flags {
    bool *out;
    size_t n;
};

static int conv_flags(const vmux_reply *r, void *out)
{
    struct flags *f = out;
    if (f->out == NULL)
        return 0;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) != f->n)
        return VMUX_ERR_PROTOCOL;
    for (size_t i = 0; i < f->n; i++) {
        const vmux_reply *e = vmux_reply_element(r, i);
        if (vmux_reply_get_kind(e) != VMUX_REPLY_INTEGER) {
            memset(f->out, 0, f->n * sizeof(*f->out));
            return VMUX_ERR_PROTOCOL;
        }
        f->out[i] = vmux_reply_integer(e) != 0;
    }
    return 0;
}

int vmux_smismember(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members,
                    size_t n, bool *is_member)
{
    struct vmux_args a;
    struct flags f = {is_member, n};
    if (is_member != NULL)
        memset(is_member, 0, n * sizeof(*is_member));
    if (!vmux__args_items(&a, "SMISMEMBER", &key, members, n))
        return vmux__items_refuse(opts, "members", members, n);
    return vmux__typed_run_into(m, opts, &a, true, conv_flags, &f, 0, NULL);
}

int vmux_smembers(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes_array *members)
{
    struct vmux_args a;
    vmux__args_items(&a, "SMEMBERS", NULL, &key, 1);
    return vmux__run_bytes_array(m, opts, &a, true, members);
}

int vmux_smembers_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_reply_cb cb,
                        void *userdata)
{
    return vmux__items_async(m, opts, "SMEMBERS", NULL, &key, "key", 1, true, cb, userdata);
}

int vmux_scard(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *count)
{
    return vmux__run_items_int(m, opts, "SCARD", NULL, &key, "key", 1, true, count);
}

/* SPOP or SRANDMEMBER key: one member. */
static int pick_one(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str key,
                    bool idempotent, vmux_bytes *member)
{
    struct vmux_args a;
    vmux__args_key_command(&a, cmd, key);
    return vmux__run_bytes(m, opts, &a, idempotent, member);
}

/* SPOP or SRANDMEMBER key count; a count below min, which the server refuses, is refused here. */
static int pick_count(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str key,
                      int64_t count, int64_t min, bool idempotent, vmux_bytes_array *members)
{
    struct vmux_args a;
    vmux__args_key_command(&a, cmd, key);
    vmux__args_int_in(&a, count, min, INT64_MAX);
    return vmux__run_bytes_array(m, opts, &a, idempotent, members);
}

int vmux_spop(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *member)
{
    return pick_one(m, opts, "SPOP", key, false, member);
}

int vmux_spop_count(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                    vmux_bytes_array *members)
{
    return pick_count(m, opts, "SPOP", key, count, 0, false, members);
}

int vmux_srandmember(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *member)
{
    return pick_one(m, opts, "SRANDMEMBER", key, true, member);
}

int vmux_srandmember_count(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                           vmux_bytes_array *members)
{
    /* a negative count asks for -count members: INT64_MIN has no negation */
    return pick_count(m, opts, "SRANDMEMBER", key, count, -INT64_MAX, true, members);
}

int vmux_smove(vmux *m, const vmux_callopts *opts, vmux_str source, vmux_str destination,
               vmux_str member, bool *moved)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "SMOVE", source);
    vmux__args_str(&a, destination);
    vmux__args_str(&a, member);
    /* a resend would find the member moved already and answer false */
    return vmux__run_bool(m, opts, &a, false, moved);
}

/* SINTER, SUNION or SDIFF over n keys. */
static int combine(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *keys,
                   size_t n, vmux_bytes_array *members)
{
    struct vmux_args a;
    if (members != NULL)
        *members = (vmux_bytes_array){0};
    if (!vmux__args_items(&a, cmd, NULL, keys, n))
        return vmux__items_refuse(opts, "keys", keys, n);
    return vmux__run_bytes_array(m, opts, &a, true, members);
}

int vmux_sinter(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                vmux_bytes_array *members)
{
    return combine(m, opts, "SINTER", keys, n, members);
}

int vmux_sunion(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                vmux_bytes_array *members)
{
    return combine(m, opts, "SUNION", keys, n, members);
}

int vmux_sdiff(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
               vmux_bytes_array *members)
{
    return combine(m, opts, "SDIFF", keys, n, members);
}

int vmux_sintercard(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                    int64_t limit, int64_t *count)
{
    struct vmux_args a;
    if (count != NULL)
        *count = 0;
    if (keys == NULL || n == 0)
        return vmux__items_refuse(opts, "keys", keys, n);
    vmux__args_init(&a);
    vmux__args_cstr(&a, "SINTERCARD");
    vmux__args_int(&a, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        vmux__args_str(&a, keys[i]);
    if (limit != 0) { /* LIMIT 0 is the server's default: no limit */
        vmux__args_cstr(&a, "LIMIT");
        vmux__args_count(&a, limit);
    }
    return vmux__run_int(m, opts, &a, true, count);
}

int vmux_sinterstore(vmux *m, const vmux_callopts *opts, vmux_str destination, const vmux_str *keys,
                     size_t n, int64_t *count)
{
    return vmux__run_items_int(m, opts, "SINTERSTORE", &destination, keys, "keys", n, true, count);
}

int vmux_sunionstore(vmux *m, const vmux_callopts *opts, vmux_str destination, const vmux_str *keys,
                     size_t n, int64_t *count)
{
    return vmux__run_items_int(m, opts, "SUNIONSTORE", &destination, keys, "keys", n, true, count);
}

int vmux_sdiffstore(vmux *m, const vmux_callopts *opts, vmux_str destination, const vmux_str *keys,
                    size_t n, int64_t *count)
{
    /* Storing keys[0] minus the others twice stores the same set, unless the destination is one
     * of the sets subtracted: the second run subtracts the first one's result. */
    bool idempotent = keys == NULL || n < 2 || !vmux__str_among(destination, keys + 1, n - 1);
    return vmux__run_items_int(m, opts, "SDIFFSTORE", &destination, keys, "keys", n, idempotent,
                               count);
}

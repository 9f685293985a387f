/* Set commands (sets.h). Every one is idempotent, so every one is sent retry-safe. */
#include "vmux/sets.h"

#include <string.h>

#include "api/typed.h"
#include "vmux/error.h"

int vmux_sadd(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members, size_t n,
              int64_t *added)
{
    return vmux__run_items_int(m, opts, "SADD", &key, members, n, true, added);
}

int vmux_sadd_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members,
                    size_t n, vmux_reply_cb cb, void *userdata)
{
    return vmux__items_async(m, opts, "SADD", &key, members, n, true, cb, userdata);
}

int vmux_srem(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members, size_t n,
              int64_t *removed)
{
    return vmux__run_items_int(m, opts, "SREM", &key, members, n, true, removed);
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
    return vmux__items_async(m, opts, "SISMEMBER", &key, &member, 1, true, cb, userdata);
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
        return VMUX_ERR_INVALID_ARG;
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
    return vmux__items_async(m, opts, "SMEMBERS", NULL, &key, 1, true, cb, userdata);
}

int vmux_scard(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *count)
{
    return vmux__run_items_int(m, opts, "SCARD", NULL, &key, 1, true, count);
}

/* SINTER, SUNION or SDIFF over n keys. */
static int combine(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *keys,
                   size_t n, vmux_bytes_array *members)
{
    struct vmux_args a;
    if (members != NULL)
        *members = (vmux_bytes_array){0};
    if (!vmux__args_items(&a, cmd, NULL, keys, n))
        return VMUX_ERR_INVALID_ARG;
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

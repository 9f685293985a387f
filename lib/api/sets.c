/* Set commands (sets.h). Every one is idempotent, so every one is sent retry-safe. */
#include "vmux/sets.h"

#include <string.h>

#include "api/typed.h"
#include "vmux/error.h"

/* cmd key items...; false (nothing built) when the items are missing. */
static bool build_items(struct vmux_args *a, const char *cmd, const vmux_str *key,
                        const vmux_str *items, size_t n)
{
    if (items == NULL || n == 0)
        return false;
    vmux__args_init(a);
    vmux__args_cstr(a, cmd);
    if (key != NULL)
        vmux__args_str(a, *key);
    for (size_t i = 0; i < n; i++)
        vmux__args_str(a, items[i]);
    return true;
}

/* cmd key members... with a count reply. */
static int count_members(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str key,
                         const vmux_str *members, size_t n, int64_t *count)
{
    struct vmux_args a;
    if (count != NULL)
        *count = 0;
    if (!build_items(&a, cmd, &key, members, n))
        return VMUX_ERR_INVALID_ARG;
    return vmux__run_int(m, opts, &a, true, count);
}

int vmux_sadd(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members, size_t n,
              int64_t *added)
{
    return count_members(m, opts, "SADD", key, members, n, added);
}

int vmux_sadd_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members,
                    size_t n, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    if (!build_items(&a, "SADD", &key, members, n))
        return VMUX_ERR_INVALID_ARG;
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_srem(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members, size_t n,
              int64_t *removed)
{
    return count_members(m, opts, "SREM", key, members, n, removed);
}

int vmux_sismember(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                   bool *is_member)
{
    struct vmux_args a;
    bool ignored;
    bool *dst = is_member != NULL ? is_member : &ignored;
    *dst = false;
    build_items(&a, "SISMEMBER", &key, &member, 1);
    return vmux__typed_run(m, opts, &a, true, vmux__conv_bool, dst);
}

int vmux_sismember_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                         vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    build_items(&a, "SISMEMBER", &key, &member, 1);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

/* SMISMEMBER's reply, n integers, into n bools. */
static int to_bools(const vmux_reply *r, bool *out, size_t n)
{
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) != n)
        return VMUX_ERR_PROTOCOL;
    for (size_t i = 0; i < n; i++) {
        const vmux_reply *e = vmux_reply_element(r, i);
        if (vmux_reply_get_kind(e) != VMUX_REPLY_INTEGER)
            return VMUX_ERR_PROTOCOL;
        out[i] = vmux_reply_integer(e) != 0;
    }
    return 0;
}

int vmux_smismember(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members,
                    size_t n, bool *is_member)
{
    struct vmux_args a;
    vmux_reply *r;
    if (is_member != NULL)
        memset(is_member, 0, n * sizeof(*is_member));
    if (!build_items(&a, "SMISMEMBER", &key, members, n))
        return VMUX_ERR_INVALID_ARG;
    int rc = vmux__typed_call(m, opts, &a, true, &r);
    if (rc == 0 && is_member != NULL) {
        rc = to_bools(r, is_member, n);
        if (rc != 0)
            memset(is_member, 0, n * sizeof(*is_member));
    }
    vmux_reply_free(r);
    return rc;
}

int vmux_smembers(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes_array *members)
{
    struct vmux_args a;
    build_items(&a, "SMEMBERS", NULL, &key, 1);
    return vmux__run_bytes_array(m, opts, &a, true, members);
}

int vmux_smembers_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_reply_cb cb,
                        void *userdata)
{
    struct vmux_args a;
    build_items(&a, "SMEMBERS", NULL, &key, 1);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_scard(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *count)
{
    struct vmux_args a;
    build_items(&a, "SCARD", NULL, &key, 1);
    return vmux__run_int(m, opts, &a, true, count);
}

/* SINTER, SUNION or SDIFF over n keys. */
static int combine(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *keys,
                   size_t n, vmux_bytes_array *members)
{
    struct vmux_args a;
    if (members != NULL)
        *members = (vmux_bytes_array){0};
    if (!build_items(&a, cmd, NULL, keys, n))
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

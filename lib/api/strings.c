/* String commands (strings.h). */
#include "vmux/strings.h"

#include <string.h>

#include "api/split.h"
#include "api/typed.h"
#include "vmux/error.h"

/* Appends SET's or GETEX's expiry words; false for a kind the command does not take. */
static bool add_expiry(struct vmux_args *a, vmux_expiry e, bool for_set)
{
    static const char *const words[] = {NULL, "EX", "PX", "EXAT", "PXAT", "KEEPTTL", "PERSIST"};
    switch (e.kind) {
    case VMUX_EXPIRY_NONE:
        return true;
    case VMUX_EXPIRY_SECONDS:
    case VMUX_EXPIRY_MS:
    case VMUX_EXPIRY_AT_SECONDS:
    case VMUX_EXPIRY_AT_MS:
        vmux__args_cstr(a, words[e.kind]);
        vmux__args_int(a, e.value);
        return true;
    case VMUX_EXPIRY_KEEP:
    case VMUX_EXPIRY_PERSIST:
        if (for_set != (e.kind == VMUX_EXPIRY_KEEP))
            return false;
        vmux__args_cstr(a, words[e.kind]);
        return true;
    }
    return false;
}

/* Words for an expiry add_expiry() refused (for SET, or else GETEX). */
static int refuse_expiry(const vmux_callopts *opts, vmux_expiry e, bool for_set)
{
    if (e.kind == VMUX_EXPIRY_KEEP || e.kind == VMUX_EXPIRY_PERSIST)
        return vmux__typed_refuse(
            opts, "expiry.kind is %s: %s",
            e.kind == VMUX_EXPIRY_KEEP ? "VMUX_EXPIRY_KEEP" : "VMUX_EXPIRY_PERSIST",
            for_set ? "SET takes no PERSIST (GETEX's)" : "GETEX takes no KEEPTTL (SET's)");
    return vmux__typed_refuse(opts, "expiry.kind is %d: none of vmux_expiry_kind", (int)e.kind);
}

/* Words for options build_set() refused: its expiry, else its condition. */
static int refuse_set(const vmux_callopts *opts, vmux_expiry expiry, vmux_cond when)
{
    struct vmux_args probe;
    vmux__args_init(&probe);
    bool expiry_ok = add_expiry(&probe, expiry, true); /* adds nothing that needs freeing */
    vmux__args_free(&probe);
    if (!expiry_ok)
        return refuse_expiry(opts, expiry, true);
    return vmux__typed_refuse(opts, "cond is %d: SET takes VMUX_COND_ALWAYS, NX or XX", (int)when);
}

int vmux_get(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "GET", key);
    return vmux__run_bytes(m, opts, &a, true, value);
}

int vmux_get_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_reply_cb cb,
                   void *userdata)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "GET", key);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

/* Builds SET key value [expiry] [NX|XX] [GET]; false when the options are not valid. */
static bool build_set(struct vmux_args *a, vmux_str key, vmux_str value, vmux_expiry expiry,
                      vmux_cond when, bool get)
{
    vmux__args_key_command(a, "SET", key);
    vmux__args_str(a, value);
    bool ok = add_expiry(a, expiry, true) && vmux__args_cond(a, when, VMUX_COND_XX);
    if (get)
        vmux__args_cstr(a, "GET");
    if (!ok)
        vmux__args_free(a);
    return ok;
}

int vmux_set(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str value, vmux_expiry expiry,
             vmux_cond when, bool *was_set)
{
    struct vmux_args a;
    if (was_set != NULL)
        *was_set = false;
    if (!build_set(&a, key, value, expiry, when, false))
        return refuse_set(opts, expiry, when);
    return vmux__run_bool(m, opts, &a, when == VMUX_COND_ALWAYS, was_set);
}

int vmux_set_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str value,
                   vmux_expiry expiry, vmux_cond when, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    if (!build_set(&a, key, value, expiry, when, false))
        return refuse_set(opts, expiry, when);
    return vmux__typed_async(m, opts, &a, when == VMUX_COND_ALWAYS, cb, userdata);
}

int vmux_set_get(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str value,
                 vmux_expiry expiry, vmux_cond when, vmux_bytes *old)
{
    struct vmux_args a;
    if (old != NULL)
        memset(old, 0, sizeof(*old));
    if (!build_set(&a, key, value, expiry, when, true))
        return refuse_set(opts, expiry, when);
    return vmux__run_bytes(m, opts, &a, false, old);
}

int vmux_getex(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_expiry expiry,
               vmux_bytes *value)
{
    struct vmux_args a;
    if (value != NULL)
        memset(value, 0, sizeof(*value));
    vmux__args_key_command(&a, "GETEX", key);
    if (!add_expiry(&a, expiry, false)) {
        vmux__args_free(&a);
        return refuse_expiry(opts, expiry, false);
    }
    return vmux__run_bytes(m, opts, &a, true, value);
}

int vmux_getdel(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "GETDEL", key);
    return vmux__run_bytes(m, opts, &a, false, value);
}

int vmux_mget(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
              vmux_bytes_array *values)
{
    vmux_callopts left; /* opts with what waiting for cluster=auto's answer left of its time */
    if (values != NULL)
        memset(values, 0, sizeof(*values));
    if (vmux__split_wanted(m, keys, n)) {
        int rc = vmux__split_settle(m, &opts, &left);
        if (rc == 0)
            rc = vmux__split_mget(m, opts, keys, n, values);
        if (rc != VMUX_SPLIT_ONE)
            return rc;
    }
    struct vmux_args a;
    if (!vmux__args_items(&a, "MGET", NULL, keys, n))
        return vmux__items_refuse(opts, "keys", keys, n);
    return vmux__run_bytes_array(m, opts, &a, true, values);
}

/*
 * MSET or MSETNX: *all_set (may be NULL) is zeroed first. MSET (idempotent) always sets, and is
 * split per slot on a cluster (api/split.h; tested once the arguments are built, where the
 * ordinary path pays least for it); MSETNX is all or nothing, so it stays one command.
 */
static int run_mset(vmux *m, const vmux_callopts *opts, const char *cmd, bool idempotent,
                    const vmux_str *keys, const vmux_str *values, size_t n, bool *all_set)
{
    if (all_set != NULL)
        *all_set = false;
    if (keys == NULL || n == 0)
        return vmux__items_refuse(opts, "keys", keys, n);
    if (values == NULL)
        return vmux__items_refuse(opts, "values", values, n);
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, cmd);
    for (size_t i = 0; i < n; i++) {
        vmux__args_str(&a, keys[i]);
        vmux__args_str(&a, values[i]);
    }
    vmux_callopts left; /* opts with what waiting for cluster=auto's answer left of its time */
    if (idempotent && vmux__split_wanted(m, keys, n)) {
        int rc = vmux__split_settle(m, &opts, &left);
        if (rc == 0)
            rc = vmux__split_mset(m, opts, keys, values, n);
        if (rc != VMUX_SPLIT_ONE) {
            vmux__args_free(&a);
            return rc;
        }
    }
    return vmux__run_bool(m, opts, &a, idempotent, all_set);
}

int vmux_mset(vmux *m, const vmux_callopts *opts, const vmux_str *keys, const vmux_str *values,
              size_t n)
{
    return run_mset(m, opts, "MSET", true, keys, values, n, NULL);
}

int vmux_msetnx(vmux *m, const vmux_callopts *opts, const vmux_str *keys, const vmux_str *values,
                size_t n, bool *all_set)
{
    return run_mset(m, opts, "MSETNX", false, keys, values, n, all_set);
}

/* A key command with an optional integer argument and an integer reply. */
static int run_int(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str key,
                   const int64_t *arg, bool idempotent, int64_t *result)
{
    struct vmux_args a;
    vmux__args_key_command(&a, cmd, key);
    if (arg != NULL)
        vmux__args_int(&a, *arg);
    return vmux__run_int(m, opts, &a, idempotent, result);
}

int vmux_incr(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *result)
{
    return run_int(m, opts, "INCR", key, NULL, false, result);
}

int vmux_incrby(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t by, int64_t *result)
{
    return run_int(m, opts, "INCRBY", key, &by, false, result);
}

int vmux_decr(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *result)
{
    return run_int(m, opts, "DECR", key, NULL, false, result);
}

int vmux_decrby(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t by, int64_t *result)
{
    return run_int(m, opts, "DECRBY", key, &by, false, result);
}

int vmux_incrbyfloat(vmux *m, const vmux_callopts *opts, vmux_str key, double by, double *result)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "INCRBYFLOAT", key);
    vmux__args_double(&a, by);
    return vmux__run_double(m, opts, &a, false, result);
}

int vmux_append(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str value, int64_t *length)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "APPEND", key);
    vmux__args_str(&a, value);
    return vmux__run_int(m, opts, &a, false, length);
}

int vmux_strlen(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *length)
{
    return run_int(m, opts, "STRLEN", key, NULL, true, length);
}

int vmux_getrange(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t start, int64_t end,
                  vmux_bytes *value)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "GETRANGE", key);
    vmux__args_int(&a, start);
    vmux__args_int(&a, end);
    return vmux__run_bytes(m, opts, &a, true, value);
}

int vmux_setrange(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t offset, vmux_str value,
                  int64_t *length)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "SETRANGE", key);
    vmux__args_count(&a, offset); /* the server refuses a negative offset */
    vmux__args_str(&a, value);
    return vmux__run_int(m, opts, &a, true, length);
}

/* LCS key1 key2 [LEN]: a read of two keys, which the router keeps to one slot. */
static void build_lcs(struct vmux_args *a, vmux_str key1, vmux_str key2, bool len)
{
    vmux__args_key_command(a, "LCS", key1);
    vmux__args_str(a, key2);
    if (len)
        vmux__args_cstr(a, "LEN");
}

int vmux_lcs(vmux *m, const vmux_callopts *opts, vmux_str key1, vmux_str key2, vmux_bytes *lcs)
{
    struct vmux_args a;
    build_lcs(&a, key1, key2, false);
    return vmux__run_bytes(m, opts, &a, true, lcs);
}

int vmux_lcs_len(vmux *m, const vmux_callopts *opts, vmux_str key1, vmux_str key2, int64_t *length)
{
    struct vmux_args a;
    build_lcs(&a, key1, key2, true);
    return vmux__run_int(m, opts, &a, true, length);
}

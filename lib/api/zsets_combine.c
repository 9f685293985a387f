/*
 * The sorted-set commands that combine several sets (zsets.h): ZUNION, ZINTER and ZDIFF, their
 * STORE forms, and ZINTERCARD. One builder makes every one of them: cmd [dst] numkeys keys...
 * [WEIGHTS ...] [AGGREGATE ...].
 */
#include "vmux/zsets.h"

#include <string.h>

#include "api/typed.h"
#include "core/sized.h"
#include "vmux/error.h"

/*
 * Builds cmd [dst] n keys... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX] (dst NULL: none). store NULL
 * (every default) sends neither option, as ZDIFF, ZDIFFSTORE and ZINTERCARD, which take none,
 * need. Returns 0, or VMUX_ERR_INVALID_ARG, building nothing, with words for opts' error buffer,
 * for no keys or a store it cannot read.
 */
static int build_combine(const vmux_callopts *opts, struct vmux_args *a, const char *cmd,
                         const vmux_str *dst, const vmux_str *keys, size_t n,
                         const vmux_zstore_opts *store)
{
    static const char *const aggregate[] = {"SUM", "MIN", "MAX"};
    vmux_zstore_opts o = {.size = sizeof o}; /* every default */
    if (keys == NULL || n == 0)
        return vmux__items_refuse(opts, "keys", keys, n);
    if (store != NULL && vmux__sized_in(&o, sizeof o, store) != 0)
        return vmux__sized_refuse(opts, "store", store, sizeof o);
    if ((unsigned)o.aggregate > VMUX_ZAGGREGATE_MAX)
        return vmux__typed_refuse(opts, "store->aggregate is %d: none of vmux_zaggregate",
                                  (int)o.aggregate);
    if (dst != NULL) {
        vmux__args_key_command(a, cmd, *dst);
    } else {
        vmux__args_init(a);
        vmux__args_cstr(a, cmd);
    }
    vmux__args_int(a, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        vmux__args_str(a, keys[i]);
    if (o.weights != NULL) {
        vmux__args_cstr(a, "WEIGHTS");
        for (size_t i = 0; i < n; i++)
            vmux__args_double(a, o.weights[i]);
    }
    if (o.aggregate != VMUX_ZAGGREGATE_SUM) {
        vmux__args_cstr(a, "AGGREGATE");
        vmux__args_cstr(a, aggregate[o.aggregate]);
    }
    return 0;
}

/*
 * cmd dst n keys... [options], with the count stored. Retry-safe unless dst is a source: a
 * second run would then combine what the first one stored.
 */
static int run_store(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str dst,
                     const vmux_str *keys, size_t n, const vmux_zstore_opts *store, int64_t *count)
{
    struct vmux_args a;
    if (count != NULL)
        *count = 0;
    int rc = build_combine(opts, &a, cmd, &dst, keys, n, store);
    if (rc != 0)
        return rc;
    return vmux__run_int(m, opts, &a, !vmux__str_among(dst, keys, n), count);
}

int vmux_zunionstore(vmux *m, const vmux_callopts *opts, vmux_str dst, const vmux_str *keys,
                     size_t n, const vmux_zstore_opts *store, int64_t *count)
{
    return run_store(m, opts, "ZUNIONSTORE", dst, keys, n, store, count);
}

int vmux_zinterstore(vmux *m, const vmux_callopts *opts, vmux_str dst, const vmux_str *keys,
                     size_t n, const vmux_zstore_opts *store, int64_t *count)
{
    return run_store(m, opts, "ZINTERSTORE", dst, keys, n, store, count);
}

int vmux_zdiffstore(vmux *m, const vmux_callopts *opts, vmux_str dst, const vmux_str *keys,
                    size_t n, int64_t *count)
{
    return run_store(m, opts, "ZDIFFSTORE", dst, keys, n, NULL, count);
}

/*
 * cmd n keys... [options] [WITHSCORES]: the members, into a vmux_bytes_array, or with withscores
 * a vmux_scored_array; out zeroed first. A read: retry-safe.
 */
static int run_combine(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *keys,
                       size_t n, const vmux_zstore_opts *store, bool withscores, void *out)
{
    struct vmux_args a;
    if (out != NULL)
        memset(out, 0, withscores ? sizeof(vmux_scored_array) : sizeof(vmux_bytes_array));
    int rc = build_combine(opts, &a, cmd, NULL, keys, n, store);
    if (rc != 0)
        return rc;
    if (!withscores)
        return vmux__run_bytes_array(m, opts, &a, true, out);
    vmux__args_cstr(&a, "WITHSCORES");
    return vmux__run_scored(m, opts, &a, true, out);
}

int vmux_zunion(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                const vmux_zstore_opts *store, vmux_bytes_array *members)
{
    return run_combine(m, opts, "ZUNION", keys, n, store, false, members);
}

int vmux_zunion_withscores(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                           const vmux_zstore_opts *store, vmux_scored_array *items)
{
    return run_combine(m, opts, "ZUNION", keys, n, store, true, items);
}

int vmux_zinter(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                const vmux_zstore_opts *store, vmux_bytes_array *members)
{
    return run_combine(m, opts, "ZINTER", keys, n, store, false, members);
}

int vmux_zinter_withscores(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                           const vmux_zstore_opts *store, vmux_scored_array *items)
{
    return run_combine(m, opts, "ZINTER", keys, n, store, true, items);
}

int vmux_zdiff(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
               vmux_bytes_array *members)
{
    return run_combine(m, opts, "ZDIFF", keys, n, NULL, false, members);
}

int vmux_zdiff_withscores(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                          vmux_scored_array *items)
{
    return run_combine(m, opts, "ZDIFF", keys, n, NULL, true, items);
}

int vmux_zintercard(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                    int64_t limit, int64_t *count)
{
    struct vmux_args a;
    if (count != NULL)
        *count = 0;
    int rc = build_combine(opts, &a, "ZINTERCARD", NULL, keys, n, NULL);
    if (rc != 0)
        return rc;
    if (limit != 0) { /* 0 is the server's "no limit": left out */
        vmux__args_cstr(&a, "LIMIT");
        vmux__args_count(&a, limit);
    }
    return vmux__run_int(m, opts, &a, true, count);
}

/* HyperLogLog commands (hyperloglog.h). Every one is idempotent, so every one is sent retry-safe.
 */
#include "vmux/hyperloglog.h"

#include "api/typed.h"
#include "vmux/error.h"

/*
 * Starts cmd key items..., where there may be no items (PFADD key, PFMERGE dest); false, building
 * nothing, for a NULL array with n > 0.
 */
static bool key_and_items(struct vmux_args *a, const char *cmd, vmux_str key, const vmux_str *items,
                          size_t n)
{
    if (items == NULL && n > 0)
        return false;
    vmux__args_key_command(a, cmd, key);
    for (size_t i = 0; i < n; i++)
        vmux__args_str(a, items[i]);
    return true;
}

int vmux_pfadd(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *elements, size_t n,
               bool *changed)
{
    struct vmux_args a;
    if (changed != NULL)
        *changed = false;
    if (!key_and_items(&a, "PFADD", key, elements, n))
        return vmux__typed_refuse(opts, "elements is NULL with n %zu", n);
    return vmux__run_bool(m, opts, &a, true, changed);
}

int vmux_pfcount(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n, int64_t *count)
{
    return vmux__run_items_int(m, opts, "PFCOUNT", NULL, keys, "keys", n, true, count);
}

int vmux_pfmerge(vmux *m, const vmux_callopts *opts, vmux_str dest, const vmux_str *sources,
                 size_t n)
{
    struct vmux_args a;
    if (!key_and_items(&a, "PFMERGE", dest, sources, n))
        return vmux__typed_refuse(opts, "sources is NULL with n %zu", n);
    return vmux__run_ok(m, opts, &a, true);
}

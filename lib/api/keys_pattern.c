/* KEYS (keys.h): one command standalone, every primary's list joined on a cluster. */
#include "api/fanout.h"
#include "api/typed.h"
#include "vmux/keys.h"

int vmux_keys(vmux *m, const vmux_callopts *opts, const char *pattern, vmux_bytes_array *keys)
{
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "KEYS");
    vmux__args_cstr(&a, pattern != NULL ? pattern : "*");
    if (vmux__fan_wanted(m))
        return vmux__fan_run(m, opts, &a, true, VMUX__RERUN_ALL, vmux__combine_concat, keys,
                             sizeof *keys, vmux__release_bytes_array);
    return vmux__run_bytes_array(m, opts, &a, true, keys);
}

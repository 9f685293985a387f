/*
 * FUNCTION LOAD, DELETE and FLUSH (script.h): one command standalone; on a cluster, every
 * primary, with the replies combined (api/fanout.h), as the script administration does.
 */
#include <string.h>

#include "api/fanout.h"
#include "api/typed.h"
#include "vmux/error.h"
#include "vmux/script.h"

int vmux_function_load(vmux *m, const vmux_callopts *opts, vmux_str code, bool replace,
                       vmux_bytes *library)
{
    if (library != NULL)
        *library = (vmux_bytes){0};
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "FUNCTION");
    vmux__args_cstr(&a, "LOAD");
    if (replace)
        vmux__args_cstr(&a, "REPLACE");
    vmux__args_str(&a, code);
    if (vmux__fan_wanted(m))
        return vmux__fan_run(m, opts, &a, true, VMUX__RERUN_REST, vmux__combine_same, library,
                             sizeof *library, vmux__release_bytes);
    return vmux__run_bytes(m, opts, &a, true, library);
}

/* A primary without the library: an answer to FUNCTION DELETE, not a failure. */
static bool lacks_library(const vmux_node_reply *n)
{
    static const char missing[] = "ERR Library not found";
    size_t len = 0;
    const char *s = n->status == VMUX_ERR_SERVER ? vmux_reply_str(n->reply, &len) : NULL;
    return s != NULL && len >= sizeof missing - 1 && memcmp(s, missing, sizeof missing - 1) == 0;
}

/* Every primary that did not lack the library said OK. */
static int combine_deleted(const vmux_node_replies *res, void *out)
{
    for (size_t i = 0; i < res->count; i++)
        if (res->nodes[i].status == 0 && vmux__conv_ok(res->nodes[i].reply, out) != 0)
            return VMUX_ERR_PROTOCOL;
    return 0;
}

int vmux_function_delete(vmux *m, const vmux_callopts *opts, vmux_str library)
{
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "FUNCTION");
    vmux__args_cstr(&a, "DELETE");
    vmux__args_str(&a, library);
    if (vmux__fan_wanted(m))
        return vmux__fan_run_excusing(m, opts, &a, true, VMUX__RERUN_REST, lacks_library,
                                      combine_deleted, NULL, 0, NULL);
    return vmux__run_ok(m, opts, &a, true);
}

int vmux_function_flush(vmux *m, const vmux_callopts *opts, vmux_flush_mode mode)
{
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "FUNCTION");
    vmux__args_cstr(&a, "FLUSH");
    vmux__args_flush_mode(&a, mode);
    if (vmux__fan_wanted(m))
        return vmux__fan_run(m, opts, &a, true, VMUX__RERUN_REST, vmux__combine_all_ok, NULL, 0,
                             NULL);
    return vmux__run_ok(m, opts, &a, true);
}

/*
 * PUBLISH and SPUBLISH (declared in pubsub.h): ordinary commands on the shared link, so they
 * live with the typed commands, not with the subscriptions in lib/mux.
 */
#include "vmux/pubsub.h"

#include "api/typed.h"
#include "vmux/error.h"

int vmux_publish(vmux *m, const vmux_callopts *opts, vmux_sub_kind kind, vmux_str channel,
                 vmux_str message, int64_t *receivers)
{
    struct vmux_args a;
    if (receivers != NULL)
        *receivers = 0;
    if (kind != VMUX_SUB_CHANNEL && kind != VMUX_SUB_SHARD)
        return VMUX_ERR_INVALID_ARG;
    vmux__args_init(&a);
    vmux__args_cstr(&a, kind == VMUX_SUB_SHARD ? "SPUBLISH" : "PUBLISH");
    vmux__args_str(&a, channel);
    vmux__args_str(&a, message);
    return vmux__run_int(m, opts, &a, false, receivers);
}

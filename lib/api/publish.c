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
        return vmux__typed_refuse(opts,
                                  "kind is %d: PUBLISH takes VMUX_SUB_CHANNEL or "
                                  "VMUX_SUB_SHARD (a pattern is no channel)",
                                  (int)kind);
    vmux__args_init(&a);
    vmux__args_cstr(&a, kind == VMUX_SUB_SHARD ? "SPUBLISH" : "PUBLISH");
    vmux__args_str(&a, channel);
    vmux__args_str(&a, message);
    return vmux__run_int(m, opts, &a, false, receivers);
}

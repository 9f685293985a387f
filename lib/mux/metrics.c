/* vmux_format_metrics(): the handle's counters, and each node's, as Prometheus text. */
#include "vmux/metrics.h"

#include <limits.h>
#include <stdlib.h>

#include "core/metrics.h"
#include "core/why.h"
#include "mux/handle.h"
#include "mux/mux.h"
#include "route/node_stats.h"
#include "vmux/abi.h"
#include "vmux/error.h"

/* vmux_format_metrics() but for clearing and ending its words. */
static int format_metrics(const vmux *m, char *buf, size_t len)
{
    if (m == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "the handle is NULL");
    if (buf == NULL && len > 0)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "buf is NULL with len %zu (NULL and 0 measure)",
                             len);
    /* Held across both reads: a vmux_close() meanwhile waits, the router and its mutex with it. */
    vmux *held = (vmux *)m;
    if (!vmux__hold(held))
        return VMUX_ERR_CLOSED;
    vmux_stats total = VMUX_INIT(vmux_stats);
    struct vmux_node_stats *nodes = NULL;
    size_t n = 0;
    int rc = vmux_read_stats(m, &total);
    if (rc == 0) /* the router's lists are guarded by its own mutex: reading them changes nothing */
        rc = vmux__router_nodes_stats(&held->router, &nodes, &n);
    vmux__leave(held);
    if (rc != 0)
        return rc;
    size_t need = vmux__metrics_format(buf, len, &total, nodes, n);
    free(nodes);
    /* A handle would need millions of nodes to come near; the length must fit the return. */
    return need > INT_MAX ? VMUX_ERR_NOMEM : (int)need;
}

int vmux_format_metrics(const vmux *m, char *buf, size_t len)
{
    vmux__why_begin();
    int n = format_metrics(m, buf, len);
    (void)vmux__why_end(n < 0 ? n : 0); /* a length on success: no words */
    return n;
}

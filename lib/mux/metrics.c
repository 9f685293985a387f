/* vmux_format_metrics(): the handle's counters, and each node's, as Prometheus text. */
#include "vmux/metrics.h"

#include <limits.h>
#include <stdlib.h>

#include "core/metrics.h"
#include "mux/mux.h"
#include "route/node_stats.h"
#include "vmux/abi.h"
#include "vmux/error.h"

int vmux_format_metrics(const vmux *m, char *buf, size_t len)
{
    if (m == NULL || (buf == NULL && len > 0))
        return VMUX_ERR_INVALID_ARG;
    vmux_stats total = VMUX_INIT(vmux_stats);
    int rc = vmux_read_stats(m, &total);
    if (rc != 0)
        return rc;
    struct vmux_node_stats *nodes;
    size_t n;
    /* The router's lists are guarded by its own mutex: reading them changes nothing. */
    if ((rc = vmux__router_nodes_stats((struct vmux_router *)&m->router, &nodes, &n)) != 0)
        return rc;
    size_t need = vmux__metrics_format(buf, len, &total, nodes, n);
    free(nodes);
    /* A handle would need millions of nodes to come near; the length must fit the return. */
    return need > INT_MAX ? VMUX_ERR_NOMEM : (int)need;
}

/*
 * A cluster node's share of the handle's admission (review helper-236 F1). maxPending bounds
 * what the whole handle holds; a hung primary (SIGSTOPped, or stalled with its TCP connection
 * open) keeps every command written to it counted until its late reply or the dead-link rule,
 * and under a long deadline (what cluster.md advises to ride out a failover) it took the whole
 * of maxPending: the healthy shards' calls were then refused at the door. So a new command for
 * a node that holds its share already (vmux__link_over_share()) completes at once with
 * VMUX_ERR_BACKLOG_FULL, naming the node and the bound, and gives its maxPending slot back at
 * once (counted in the handle's `refused`, as the door's refusals are, and as a completion); the
 * other nodes keep the rest. Only while the node makes no progress (no reply for
 * VMUX_SHARE_STALL_MS, or no connection): a busy node that answers keeps its pipeline. A standalone
 * handle's one node keeps the whole door. I/O thread only.
 */
#include "core/errbuf.h"
#include "route/router.h"

#include "vmux/error.h"

size_t vmux__router_node_share(const struct vmux_config *cfg)
{
    size_t half = (size_t)cfg->max_pending / 2; /* not backlogSize: that bounds only the unsent */
    return half > 0 ? half : 1;
}

void vmux__router_refuse_full(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op)
{
    char where[300], why[640];
    vmux__router_link_addr(r, link, where, sizeof where);
    vmux__errbuf_set(
        why, sizeof why,
        "%s already holds %zu commands, its share of maxPending=%d (half of it: "
        "unsent, or written and unanswered, timed-out ones too), and has answered nothing for "
        "%u ms or has no connection; the other nodes are not affected",
        where, vmux__link_holds(link), r->cfg->max_pending, VMUX_SHARE_STALL_MS);
    vmux__count(&r->ctr->refused, 1); /* a refusal as the door's: where overload shows */
    vmux__op_finish(op, VMUX_ERR_BACKLOG_FULL, vmux__op_why(op, why));
}

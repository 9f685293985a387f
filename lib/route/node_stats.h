/* The link counters of every node a handle has had a link to, for vmux_format_metrics(). */
#ifndef VMUX_ROUTE_NODE_STATS_H
#define VMUX_ROUTE_NODE_STATS_H

#include <stddef.h>

#include "core/metrics.h"
#include "route/router.h"

/*
 * Any thread. Fills *out with a new array (the caller frees it with free()) of *n entries, one
 * per node the handle has had a link to, sorted by address, each with the counters
 * vmux_read_node_stats() gives for it: the seed's node (once its first connection was ready)
 * with the handle's own links, and every other node's links (nodes that left the map included:
 * their totals never go down). *out is NULL when *n is 0. Returns 0 or VMUX_ERR_NOMEM.
 */
int vmux__router_nodes_stats(struct vmux_router *r, struct vmux_node_stats **out, size_t *n);

#endif

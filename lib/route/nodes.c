/*
 * The nodes of the handle's view (route/router.h, vmux__router_nodes()): what a fan-out sends to.
 * I/O thread only: it reads r->map, which the I/O thread alone replaces.
 */
#include <stdlib.h>

#include "route/router.h"
#include "vmux/error.h"

/* Whether a node of this role is asked for. */
static bool wanted(unsigned which, bool primary)
{
    return (which & (primary ? VMUX_ROUTER_NODES_PRIMARIES : VMUX_ROUTER_NODES_REPLICAS)) != 0;
}

/* The shards' nodes with an address, primaries first (shard order), then replicas. */
static size_t from_map(const struct vmux_slotmap *map, unsigned which,
                       struct vmux_router_nodeinfo *out)
{
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        bool primary = pass == 0;
        if (!wanted(which, primary))
            continue;
        for (size_t s = 0; s < map->nshards; s++) {
            const struct vmux_shard *sh = &map->shards[s];
            for (size_t i = primary ? 0 : 1; i < (primary ? 1 : sh->nnodes); i++) {
                const struct vmux_node_addr *a = &sh->nodes[i];
                if (!(a->flags & VMUX_NODE_UNKNOWN))
                    out[n++] = (struct vmux_router_nodeinfo){a->host, a->port, primary, a->id};
                else if (primary && (which & VMUX_ROUTER_NODES_UNKNOWN) && sh->nslots > 0)
                    out[n++] = (struct vmux_router_nodeinfo){NULL, 0, true, a->id};
            }
        }
    }
    return n;
}

/* Standalone: the seed's node, as its connection named it, else as configured. */
static size_t standalone(const struct vmux_router *r, unsigned which,
                         struct vmux_router_nodeinfo *out)
{
    if (!wanted(which, true))
        return 0;
    if (r->seed_host != NULL)
        out[0] = (struct vmux_router_nodeinfo){r->seed_host, r->seed_port, true, NULL};
    else
        out[0] = (struct vmux_router_nodeinfo){r->cfg->endpoints[0].host, r->cfg->endpoints[0].port,
                                               true, NULL};
    return 1;
}

static size_t map_nodes(const struct vmux_slotmap *map)
{
    size_t n = 0;
    for (size_t s = 0; s < map->nshards; s++)
        n += map->shards[s].nnodes;
    return n;
}

int vmux__router_nodes(const struct vmux_router *r, unsigned which,
                       struct vmux_router_nodeinfo **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    enum vmux_router_mode mode = vmux__router_mode((struct vmux_router *)r);
    if (mode == VMUX_ROUTER_FAILED)
        return r->fail_code;
    if (mode == VMUX_ROUTER_DETECTING)
        return VMUX_ERR_NOT_CONNECTED;
    bool cluster = mode == VMUX_ROUTER_CLUSTER && r->map != NULL;
    size_t cap = cluster ? map_nodes(r->map) : 1;
    if (cap == 0)
        return 0;
    if ((*out = malloc(cap * sizeof **out)) == NULL)
        return VMUX_ERR_NOMEM;
    *n = cluster ? from_map(r->map, which, *out) : standalone(r, which, *out);
    if (*n == 0) {
        free(*out);
        *out = NULL;
    }
    return 0;
}

/*
 * The READONLY mode of a cluster handle's links follows the map (docs/replicas.md): a replica's
 * link keeps it, so that the replica serves reads; a primary's link goes without it where it can,
 * so that once a failover demotes that node it answers MOVED to a read, as to a write, and the
 * handle follows the promoted replica at once instead of reading the demoted node's copy until
 * the next refresh.
 */
#include <string.h>

#include "net/link.h"
#include "route/router.h"
#include "route/slotmap.h"

/* The shard index whose primary is host:port in the map, or -1. */
static int primary_shard(const struct vmux_router *r, const char *host, int port)
{
    return host != NULL ? vmux__slotmap_find_primary(r->map, host, strlen(host), port) : -1;
}

/*
 * A primary's link keeps READONLY only when replica reads may go through it: readFrom asks for
 * replicas and the map lists none for its shard (an endpoint such as ElastiCache Serverless's
 * serves READONLY reads from replicas behind it).
 */
static bool primary_keeps_readonly(const struct vmux_router *r, int shard)
{
    return r->cfg->read_from != VMUX_READ_PRIMARY && r->map->shards[shard].nnodes < 2;
}

/* Sets one link's mode from its node's role under one of its names; false when not in the map. */
static bool set_mode(struct vmux_router *r, struct vmux_link *link, const char *host, int port)
{
    if (host == NULL)
        return false;
    int shard = primary_shard(r, host, port);
    if (shard >= 0) {
        (void)vmux__link_set_readonly(link, primary_keeps_readonly(r, shard));
        return true;
    }
    if (!vmux__slotmap_names(r->map, host, port))
        return false;
    (void)vmux__link_set_readonly(link, true);
    return true;
}

/* Whether host:port is named by the map, and not as a primary. */
static bool named_replica(const struct vmux_router *r, const char *host, int port)
{
    return host != NULL && primary_shard(r, host, port) < 0 &&
           vmux__slotmap_names(r->map, host, port);
}

enum { SEED_ROLE_UNKNOWN, SEED_ROLE_OTHER, SEED_ROLE_REPLICA }; /* r->seed_role */

bool vmux__router_seed_replica(struct vmux_router *r)
{
    if (r->map == NULL)
        return false;
    if (r->seed_role == SEED_ROLE_UNKNOWN) {
        bool replica = r->seed_as_host != NULL ? named_replica(r, r->seed_as_host, r->seed_as_port)
                                               : named_replica(r, r->seed_host, r->seed_port);
        r->seed_role = replica ? SEED_ROLE_REPLICA : SEED_ROLE_OTHER;
    }
    return r->seed_role == SEED_ROLE_REPLICA;
}

void vmux__router_seed_renamed(struct vmux_router *r)
{
    r->seed_role = SEED_ROLE_UNKNOWN;
}

void vmux__router_read_modes(struct vmux_router *r)
{
    if (vmux__router_mode(r) != VMUX_ROUTER_CLUSTER || r->map == NULL)
        return;
    if (!set_mode(r, r->seed, r->seed_as_host, r->seed_as_port))
        (void)set_mode(r, r->seed, r->seed_host, r->seed_port);
    for (size_t i = 0; i < r->nnodes; i++)
        (void)set_mode(r, r->nodes[i].link, r->nodes[i].host, r->nodes[i].port);
}

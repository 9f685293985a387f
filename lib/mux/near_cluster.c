/*
 * The near cache on a cluster (mux/near.h): every primary of the slot map is a node of the store
 * (a small id, kept while it stays a primary) with an invalidation connection of its own, and the
 * router's link to it tracks to that connection. Each slot's primary's id is published for the
 * readers (owner[]); a new map flushes the slots that moved and the primaries that left.
 * Under readFrom=primary replicas serve no tracked reads (they go to the primary), so they have
 * no invalidation link. With replica reads every replica is a node too, stored under its shard's
 * primary's id (its part): a shard is flushed whole when any of its nodes may have lost an
 * invalidation, and each near read is checked as it is written (vmux__nearc_cluster_writing()),
 * since only the router knows which node of the shard serves it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_keys.h"
#include "core/log.h"
#include "mux/near.h"
#include "mux/near_internal.h"
#include "route/slot.h"
#include "vmux/error.h"

/* ---- any thread ---- */

bool vmux__nearc_cluster_place(struct vmux_nearc *n, const void *key, size_t len, unsigned *node,
                               unsigned *slot)
{
    struct vmux_near_cluster *cl = atomic_load(&n->cluster);
    if (cl == NULL)
        return false;
    *slot = vmux__slot_of(key, len);
    uint16_t owner = atomic_load(&cl->owner[*slot]);
    *node = owner;
    return owner != VMUX_NEAR_NO_NODE;
}

/* With replicas (vmux__near_replica_reads()) the node the read goes to is known only on the I/O
 * thread, which checks it as the read is written (vmux__nearc_cluster_writing()). */
bool vmux__nearc_cluster_storable(struct vmux_nearc *n, unsigned node, unsigned slot)
{
    struct vmux_near_cluster *cl = atomic_load(&n->cluster);
    return cl != NULL && node < cl->cap && slot < VMUX_NEAR_SLOTS &&
           atomic_load(&cl->owner[slot]) == node &&
           (vmux__near_replica_reads(n->m) || atomic_load(&cl->nodes[node].storable));
}

long long vmux__nearc_cluster_tracking_id(struct vmux_nearc *n, unsigned node)
{
    struct vmux_near_cluster *cl = atomic_load(&n->cluster);
    return cl != NULL && node < cl->cap ? atomic_load(&cl->nodes[node].tracking_id) : 0;
}

/* ---- the nodes (I/O thread from here on) ---- */

static struct vmux_near_cnode *node_named(struct vmux_near_cluster *cl, const char *where)
{
    for (unsigned i = 0; i < cl->cap; i++)
        if (cl->nodes[i].where[0] != '\0' && strcmp(cl->nodes[i].where, where) == 0)
            return &cl->nodes[i];
    return NULL;
}

/* The node that the router's link serves (the seed's by either of its names), or NULL. */
static struct vmux_near_cnode *node_of_link(struct vmux_nearc *n, const struct vmux_link *link)
{
    struct vmux_near_cluster *cl = atomic_load(&n->cluster);
    struct vmux_router *r = &n->m->router;
    char addr[300];
    vmux__router_link_addr(r, link, addr, sizeof addr);
    struct vmux_near_cnode *nd = node_named(cl, addr);
    if (nd == NULL && link == r->seed && r->seed_as_host != NULL) {
        snprintf(addr, sizeof addr, "%s:%d", r->seed_as_host, r->seed_as_port);
        nd = node_named(cl, addr);
    }
    return nd != NULL && nd->in_map ? nd : NULL;
}

static void update_storable(struct vmux_near_cnode *nd)
{
    if (nd->in_map && nd->inval_id != 0 && nd->data_id == nd->inval_id && !nd->n->closed) {
        atomic_store(&nd->tracking_id, nd->data_id);
        atomic_store(&nd->storable, true);
    }
}

/* Nothing read from nd may be stored from now on, and its shard's part is flushed. */
static void node_unstorable(struct vmux_near_cnode *nd, enum vmux_near_cause cause, bool always)
{
    vmux__near_unstorable(nd->n, &nd->storable, nd->part, cause, always);
}

/* Points the router's link to nd at its invalidation connection, if it has a ready one. */
static void repoint(struct vmux_near_cnode *nd)
{
    struct vmux_router *r = &nd->n->m->router;
    if (nd->inval_id == 0 || nd->data_id == nd->inval_id)
        return;
    struct vmux_link *data = nd->data;
    if (data == NULL && vmux__router_has_link(r, nd->host, nd->port))
        data = vmux__router_node_link(r, nd->host, strlen(nd->host), nd->port);
    if (data != NULL)
        (void)vmux__link_track(data, nd->inval_id); /* not ready: its setup asks redirect_id */
}

/* ---- the data links' tracking (near.c's events, in cluster mode) ---- */

long long vmux__nearc_cluster_redirect_id(struct vmux_nearc *n, struct vmux_link *link)
{
    struct vmux_near_cnode *nd = node_of_link(n, link);
    if (nd == NULL)
        return 0;
    nd->data = link;
    return nd->inval_id;
}

void vmux__nearc_cluster_tracked(struct vmux_nearc *n, struct vmux_link *link, long long id,
                                 bool ok)
{
    struct vmux_near_cnode *nd = node_of_link(n, link);
    if (nd == NULL)
        return;
    nd->data = link;
    nd->data_id = ok ? id : 0;
    if (nd->data_id != nd->inval_id)
        node_unstorable(nd, VMUX_NEAR_RECONNECT, false);
    update_storable(nd);
}

/* Its reads were tracked by a client that no longer exists: their invalidations are lost. */
void vmux__nearc_cluster_lost(struct vmux_nearc *n, struct vmux_link *link)
{
    struct vmux_near_cluster *cl = atomic_load(&n->cluster);
    for (unsigned i = 0; i < cl->cap; i++) {
        struct vmux_near_cnode *nd = &cl->nodes[i];
        if (nd->data != link)
            continue;
        nd->data_id = 0;
        node_unstorable(nd, VMUX_NEAR_RECONNECT, false);
        /* as near.c's on_data_lost(): the node may have restarted */
        if (!n->closed)
            vmux__near_inval_renew(
                nd->inval, &nd->inval_id, &nd->pending_id,
                "near cache: its node's data connection was lost; subscribing anew");
    }
}

void vmux__nearc_cluster_writing(struct vmux_nearc *n, struct vmux_link *link, struct vmux_op *op)
{
    struct vmux_near_cluster *cl = atomic_load(&n->cluster);
    struct vmux_near_cnode *nd = node_of_link(n, link);
    unsigned node = op->near.node;
    bool ok = nd != NULL && nd->data == link && nd->part == node && node < cl->cap &&
              op->slot >= 0 && op->slot < VMUX_NEAR_SLOTS &&
              atomic_load(&cl->owner[op->slot]) == node && atomic_load(&nd->storable);
    if (!ok)
        vmux__near_cancel(n->store, (struct vmux_near_token){op->near.hash, op->near.id});
}

void vmux__nearc_cluster_ready(struct vmux_nearc *n, struct vmux_link *link)
{
    struct vmux_near_cnode *nd = node_of_link(n, link);
    if (nd == NULL)
        return;
    nd->data = link;
    repoint(nd); /* its setup came before the invalidation connection was subscribed */
}

void vmux__nearc_node_ready(vmux *m, struct vmux_link *link)
{
    struct vmux_nearc *n = m->near;
    if (n == NULL || !n->started || n->closed || atomic_load(&n->cluster) == NULL ||
        vmux__router_link_host(&m->router, link) == NULL)
        return;
    vmux__near_track_link(n, link); /* its next connections track from their setup on */
    vmux__nearc_cluster_ready(n, link);
}

/* ---- a node's invalidation connection ---- */

static void on_inval_ready(struct vmux_link *link, const char *where, void *arg)
{
    struct vmux_near_cnode *nd = arg;
    nd->pending_id = 0;
    if (vmux__near_subscribe(link) != 0)
        vmux__log(nd->n->m->cfg, VMUX_LOG_WARN, "%s: near cache: cannot subscribe to invalidations",
                  where);
}

static void on_inval_failed(struct vmux_link *link, int code, const char *reason, void *arg)
{
    struct vmux_near_cnode *nd = arg;
    (void)link;
    if (nd->inval_id != 0)
        vmux__log(nd->n->m->cfg, VMUX_LOG_WARN,
                  "%s: near cache: invalidation connection lost (%s): %s; emptying its part",
                  nd->where, vmux_err_name(code), reason);
    nd->inval_id = nd->pending_id = 0;
    node_unstorable(nd, VMUX_NEAR_LINK_LOST, false);
}

static const struct vmux_link_events inval_events = {.ready = on_inval_ready,
                                                     .failed = on_inval_failed};

static void on_inval_push(vmux_reply *r, void *arg)
{
    struct vmux_near_cnode *nd = arg;
    if (vmux__near_inval_push(nd->n, nd->part, &nd->pending_id, &nd->inval_id, nd->where, r))
        repoint(nd);
}

/* Moves nd's configuration to the retired list (its link closed); false: no memory, kept. */
static bool retire_config(struct vmux_near_cluster *cl, struct vmux_near_cnode *nd)
{
    struct vmux_near_retired *more = realloc(cl->retired, (cl->nretired + 1) * sizeof *more);
    if (more == NULL)
        return false;
    cl->retired = more;
    cl->retired[cl->nretired++] = (struct vmux_near_retired){nd->cfg, cl->ticks};
    nd->cfg = NULL;
    return true;
}

static void open_inval(struct vmux_near_cluster *cl, struct vmux_near_cnode *nd)
{
    vmux *m = nd->n->m;
    nd->inval = NULL;
    if (nd->cfg != NULL && !retire_config(cl, nd))
        goto no_memory; /* an earlier link's, which may still use it */
    nd->cfg = vmux__router_node_config(&m->router, nd->host, nd->port); /* its TLS name too */
    if (nd->cfg == NULL ||
        vmux__link_new(&m->loop, nd->cfg, m->tls_ctx, &m->ctr, &inval_events, nd, &nd->inval) != 0)
        goto no_memory;
    /* an invalidation lost to a limit would leave stale entries: the connection fails instead,
     * and its failure flushes the node's near cache */
    vmux__link_set_push(nd->inval, on_inval_push, VMUX__PUSH_OVER_LIMIT_FAILS, nd);
    vmux__link_set_auxiliary(nd->inval);
    vmux__link_set_own(nd->inval); /* the server's invalidations: one may list many keys */
    vmux__link_start(nd->inval);
    return;
no_memory:
    vmux__log(m->cfg, VMUX_LOG_ERROR,
              "%s: near cache: out of memory: nothing of this node will be stored", nd->where);
    nd->inval = NULL;
}

/* Closes nd's invalidation link; its configuration is kept for two ticks (the link may still
 * use it until the loop releases it), then freed by free_retired(). */
static void close_inval(struct vmux_near_cluster *cl, struct vmux_near_cnode *nd)
{
    if (nd->inval != NULL)
        vmux__link_close(nd->inval);
    nd->inval = NULL;
    nd->inval_id = nd->pending_id = 0;
    if (nd->cfg != NULL)
        (void)retire_config(cl, nd); /* no memory: kept in nd->cfg, retired when reused */
}

/* ---- a new map ---- */

static struct vmux_near_cluster *cluster_new(struct vmux_nearc *n)
{
    struct vmux_near_cluster *cl = calloc(1, sizeof *cl);
    if (cl == NULL)
        return NULL;
    cl->cap = VMUX_NEAR_DEFAULT_NODES; /* the store's nodes limit (its default) */
    cl->nodes = calloc(cl->cap, sizeof *cl->nodes);
    if (cl->nodes == NULL) {
        free(cl);
        return NULL;
    }
    for (unsigned i = 0; i < cl->cap; i++) {
        cl->nodes[i].n = n;
        cl->nodes[i].id = i;
        atomic_init(&cl->nodes[i].storable, false);
        atomic_init(&cl->nodes[i].tracking_id, 0);
    }
    for (unsigned s = 0; s < VMUX_NEAR_SLOTS; s++)
        atomic_init(&cl->owner[s], VMUX_NEAR_NO_NODE);
    return cl;
}

/* The id of host:port, a primary of the new map: its own, or a free one; NULL when none is. */
static struct vmux_near_cnode *node_for(struct vmux_near_cluster *cl, const char *host, int port)
{
    char where[300];
    snprintf(where, sizeof where, "%s:%d", host, port);
    struct vmux_near_cnode *nd = node_named(cl, where), *free_one = NULL;
    for (unsigned i = 0; nd == NULL && free_one == NULL && i < cl->cap; i++)
        if (cl->nodes[i].where[0] == '\0')
            free_one = &cl->nodes[i];
    if (nd != NULL || free_one == NULL)
        return nd;
    char *h = strdup(host);
    if (h == NULL)
        return NULL;
    free_one->host = h;
    free_one->port = port;
    snprintf(free_one->where, sizeof free_one->where, "%s", where);
    return free_one;
}

/*
 * Each shard's primary's id in cl (VMUX_NEAR_NO_NODE: unknown, or no id left); NULL: no memory.
 * Every node that serves tracked reads (the primaries; with replica reads the replicas too) is
 * marked in seen, with its shard's primary's id in part.
 */
static uint16_t *primaries(struct vmux_nearc *n, struct vmux_near_cluster *cl,
                           const struct vmux_slotmap *map, bool *seen, uint16_t *part)
{
    bool replicas = vmux__near_replica_reads(n->m);
    uint16_t *ids = malloc((map->nshards > 0 ? map->nshards : 1) * sizeof *ids);
    for (size_t i = 0; ids != NULL && i < map->nshards; i++) {
        const struct vmux_shard *s = &map->shards[i];
        ids[i] = VMUX_NEAR_NO_NODE;
        if (s->nnodes == 0 || (s->nodes[0].flags & VMUX_NODE_UNKNOWN))
            continue;
        struct vmux_near_cnode *nd = node_for(cl, s->nodes[0].host, s->nodes[0].port);
        if (nd == NULL) {
            vmux__log(n->m->cfg, VMUX_LOG_WARN,
                      "%s:%d: near cache: more than %u nodes: its reads are not tracked",
                      s->nodes[0].host, s->nodes[0].port, cl->cap);
            continue;
        }
        ids[i] = (uint16_t)nd->id;
        seen[nd->id] = true;
        part[nd->id] = (uint16_t)nd->id;
        for (size_t k = 1; replicas && k < s->nnodes; k++) {
            if (s->nodes[k].flags & VMUX_NODE_UNKNOWN)
                continue;
            struct vmux_near_cnode *r = node_for(cl, s->nodes[k].host, s->nodes[k].port);
            if (r == NULL || seen[r->id])
                continue; /* no id left (reads untracked), or listed twice */
            seen[r->id] = true;
            part[r->id] = (uint16_t)nd->id;
        }
    }
    return ids;
}

/*
 * The readers see each slot's new primary before its slot is flushed (near.h's order rule): a
 * slot whose primary is still one moved (a migration, or a MOVED); one whose primary left is
 * flushed with that node (below).
 */
static void new_owners(struct vmux_nearc *n, struct vmux_near_cluster *cl,
                       const struct vmux_slotmap *map, const uint16_t *ids, const bool *seen)
{
    for (unsigned s = 0; s < VMUX_NEAR_SLOTS; s++) {
        uint16_t shard = map->owner[s];
        uint16_t now = shard == VMUX_SLOT_NO_OWNER ? VMUX_NEAR_NO_NODE : ids[shard];
        uint16_t was = atomic_load(&cl->owner[s]);
        if (now == was)
            continue;
        atomic_store(&cl->owner[s], now);
        if (was != VMUX_NEAR_NO_NODE && seen[was]) {
            vmux__near_flush_slot(n->store, s, VMUX_NEAR_MOVED);
            n->flushed = true;
        }
    }
}

/*
 * Nodes that left the map (or no longer serve tracked reads: a primary now a replica, without
 * replica reads) are flushed and closed; a node whose shard changed (a primary now a replica, a
 * replica promoted or moved to another primary) flushes its old shard's part and stores under
 * the new one from now on; new ones open their invalidation connection.
 */
static void departures_arrivals(struct vmux_nearc *n, struct vmux_near_cluster *cl,
                                const bool *seen, const uint16_t *part)
{
    for (unsigned i = 0; i < cl->cap; i++) {
        struct vmux_near_cnode *nd = &cl->nodes[i];
        if (nd->in_map && seen[i] && nd->part != part[i]) {
            vmux__log(n->m->cfg, VMUX_LOG_INFO,
                      "%s: near cache: its shard changed: emptying the old shard's part",
                      nd->where);
            node_unstorable(nd, VMUX_NEAR_FAILOVER, true);
            nd->part = part[i];
            update_storable(nd); /* its connections still track: its reads go to the new part */
        } else if (nd->in_map && !seen[i]) {
            vmux__log(n->m->cfg, VMUX_LOG_INFO,
                      "%s: near cache: no longer serves tracked reads: emptying its part",
                      nd->where);
            nd->in_map = false;
            node_unstorable(nd, VMUX_NEAR_FAILOVER, true);
            close_inval(cl, nd);
            nd->data = NULL;
            nd->data_id = 0;
            nd->where[0] = '\0'; /* the id is free again: flushed, nothing of it comes back */
            free(nd->host);
            nd->host = NULL;
        } else if (!nd->in_map && seen[i]) {
            nd->in_map = true;
            nd->part = part[i];
            open_inval(cl, nd);
        }
    }
}

/* Cluster mode begins: the state, published for the readers once it is complete. */
static struct vmux_near_cluster *begin(struct vmux_nearc *n)
{
    struct vmux_near_cluster *cl = cluster_new(n);
    if (cl == NULL) {
        vmux__log(n->m->cfg, VMUX_LOG_ERROR, "near cache: out of memory: nothing will be stored");
        return NULL;
    }
    /* What a standalone server's connection stored (cluster=auto, re-detected) goes. Not a
     * failover: the seed's tracking began before its first connection said it was a cluster
     * node, and counted so, every cluster handle opened with one flushes_failover (probe 56). */
    vmux__near_unstorable(n, &n->storable, 0, VMUX_NEAR_CLEAR, false);
    vmux__near_standalone_stop(n);
    atomic_store(&n->cluster, cl);
    return cl;
}

/*
 * Names announced since a link opened, after a refreshed map only (as the router's node links):
 * a MOVED's patch, the most frequent new map, carries no names.
 */
static void relearn_tls_names(struct vmux_near_cluster *cl, const struct vmux_router *r)
{
    if (cl->tls_installs == r->installs)
        return;
    cl->tls_installs = r->installs;
    for (unsigned i = 0; i < cl->cap; i++)
        if (cl->nodes[i].cfg != NULL && cl->nodes[i].inval != NULL)
            (void)vmux__router_tls_learn(r, cl->nodes[i].cfg, cl->nodes[i].host, cl->nodes[i].port);
}

void vmux__nearc_map_changed(vmux *m)
{
    struct vmux_nearc *n = m->near;
    struct vmux_router *r = &m->router;
    if (n == NULL || !n->started || n->closed || r->map == NULL ||
        vmux__router_mode(r) != VMUX_ROUTER_CLUSTER)
        return;
    struct vmux_near_cluster *cl = atomic_load(&n->cluster);
    if (cl == NULL && (cl = begin(n)) == NULL)
        return;
    bool *seen = calloc(cl->cap, sizeof *seen);
    uint16_t *part = calloc(cl->cap, sizeof *part);
    uint16_t *ids = seen != NULL && part != NULL ? primaries(n, cl, r->map, seen, part) : NULL;
    if (ids == NULL) {
        /* out of memory: nothing may be stored until a map is taken in */
        vmux__log(m->cfg, VMUX_LOG_ERROR, "near cache: out of memory reading the slot map");
        for (unsigned s = 0; s < VMUX_NEAR_SLOTS; s++)
            atomic_store(&cl->owner[s], VMUX_NEAR_NO_NODE);
        vmux__near_flush_all(n->store, VMUX_NEAR_MOVED);
        free(seen);
        free(part);
        return;
    }
    new_owners(n, cl, r->map, ids, seen);
    departures_arrivals(n, cl, seen, part);
    relearn_tls_names(cl, r);
    free(ids);
    free(seen);
    free(part);
}

void vmux__nearc_redirected(void *arg, unsigned slot)
{
    vmux *m = arg;
    struct vmux_nearc *n = m->near;
    if (n == NULL || atomic_load(&n->cluster) == NULL || slot >= VMUX_NEAR_SLOTS)
        return;
    vmux__near_flush_slot(n->store, slot, VMUX_NEAR_MOVED);
    n->flushed = true;
}

/* ---- life ---- */

/* Frees the configurations of links closed two ticks ago or more (libuv let go of them). */
static void free_retired(struct vmux_near_cluster *cl)
{
    size_t kept = 0;
    for (size_t i = 0; i < cl->nretired; i++) {
        if (cl->ticks - cl->retired[i].tick < 2)
            cl->retired[kept++] = cl->retired[i];
        else
            vmux_config_free(cl->retired[i].cfg);
    }
    cl->nretired = kept;
    if (kept == 0) {
        free(cl->retired);
        cl->retired = NULL;
    }
}

void vmux__nearc_cluster_tick(struct vmux_nearc *n, bool frozen)
{
    struct vmux_near_cluster *cl = atomic_load(&n->cluster);
    if (cl == NULL && vmux__router_mode(&n->m->router) == VMUX_ROUTER_CLUSTER) {
        vmux__nearc_map_changed(n->m); /* a server re-detected as a cluster node */
        return;
    }
    if (cl != NULL) {
        cl->ticks++;
        free_retired(cl);
    }
    for (unsigned i = 0; cl != NULL && i < cl->cap; i++)
        if (cl->nodes[i].inval != NULL)
            vmux__link_tick(cl->nodes[i].inval, frozen);
}

void vmux__nearc_cluster_close(struct vmux_nearc *n)
{
    struct vmux_near_cluster *cl = atomic_load(&n->cluster);
    for (unsigned i = 0; cl != NULL && i < cl->cap; i++) {
        atomic_store(&cl->nodes[i].storable, false);
        close_inval(cl, &cl->nodes[i]);
    }
}

void vmux__nearc_cluster_free(struct vmux_near_cluster *cl)
{
    if (cl == NULL)
        return;
    for (size_t i = 0; i < cl->nretired; i++)
        vmux_config_free(cl->retired[i].cfg);
    for (unsigned i = 0; i < cl->cap; i++) {
        vmux_config_free(cl->nodes[i].cfg);
        free(cl->nodes[i].host);
    }
    free(cl->retired);
    free(cl->nodes);
    free(cl);
}

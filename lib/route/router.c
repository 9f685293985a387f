/*
 * The router's links and rules (route/router.h): one link (and blocking pool) per node, opened
 * lazily and closed once the node has left the map; sending an op to its slot's primary; the
 * per-node counters. Following MOVED and ASK is in follow.c, detection in detect.c, refreshes in
 * refresh.c, an op's slot in opslot.c. I/O thread only (but the counters' readers).
 */
#include "route/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/assert.h"
#include "core/config_keys.h"
#include "core/log.h"
#include "core/reply_internal.h"
#include "route/keyslot.h"
#include "vmux/error.h"

static bool router_redirect_event(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply,
                                  void *arg)
{
    return vmux__router_redirect(arg, link, op, reply);
}

static struct vmux_counters *counters_of(void *arg, const char *host, int port)
{
    return vmux__router_counters_of(arg, host, port);
}

void vmux__router_init(struct vmux_router *r, uv_loop_t *loop, const struct vmux_config *cfg,
                       vmux_tls_ctx *tls_ctx, struct vmux_counters *ctr,
                       const struct vmux_link_events *node_events, void *arg,
                       void (*settled)(struct vmux_router *r, void *arg), struct vmux_link *seed,
                       struct vmux_pool *seed_pool)
{
    *r = (struct vmux_router){.loop = loop,
                              .cfg = cfg,
                              .tls_ctx = tls_ctx,
                              .ctr = ctr,
                              .node_events = node_events,
                              .arg = arg,
                              .settled = settled,
                              .seed = seed,
                              .seed_pool = seed_pool};
    r->node_share = vmux__router_node_share(cfg);
    r->keys_wait.keeps_husks = true; /* an op that times out waits there for its answer */
    r->demoted.by_map = true;        /* its ops' deadline's words (core/op_words.c) */
    seed_pool->redirect = router_redirect_event;
    seed_pool->redirect_arg = r;
    seed_pool->peer = seed;
    atomic_init(&r->mode,
                cfg->cluster == VMUX_CLUSTER_NO ? VMUX_ROUTER_STANDALONE : VMUX_ROUTER_DETECTING);
    r->replica_endpoints = cfg->nendpoints > 1 || cfg->service_name != NULL;
    r->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)r;
    uv_mutex_init(&r->stats_mu);
    ctr->by_node = counters_of; /* the handle's links count per node they dial */
    ctr->by_node_arg = r;
    vmux__router_refresh_init(r);
    vmux__router_bounce_init(r);
    vmux__router_fence_init(r);
    vmux__router_waited_init(r);
}

/* ---- node links ---- */

static bool same_node(const char *a, int aport, const char *host, size_t hostlen, int port)
{
    return a != NULL && aport == port && strlen(a) == hostlen && strncasecmp(a, host, hostlen) == 0;
}

struct vmux_counters *vmux__router_counters_of(struct vmux_router *r, const char *host, int port)
{
    uv_mutex_lock(&r->stats_mu);
    struct vmux_node_counters *c = r->node_counters;
    while (c != NULL && !(c->port == port && strcasecmp(c->host, host) == 0))
        c = c->next;
    if (c == NULL && (c = calloc(1, sizeof *c)) != NULL) {
        if ((c->host = strdup(host)) != NULL) {
            c->port = port;
            c->next = r->node_counters;
            r->node_counters = c;
        } else {
            free(c);
            c = NULL;
        }
    }
    uv_mutex_unlock(&r->stats_mu);
    return c != NULL ? &c->ctr : NULL;
}

/* Opens a link to host:port with the handle's configuration; NULL when out of memory. */
static struct vmux_link *node_open(struct vmux_router *r, const char *host, size_t hostlen,
                                   int port)
{
    struct vmux_router_node *nodes = realloc(r->nodes, (r->nnodes + 1) * sizeof *nodes);
    if (nodes == NULL)
        return NULL;
    r->nodes = nodes;
    struct vmux_router_node n = {.port = port, .id = r->node_ids + 1};
    if ((n.host = strndup(host, hostlen)) == NULL ||
        (n.cfg = vmux__router_node_config(r, n.host, port)) == NULL || /* its TLS name too */
        (n.ctr = vmux__router_counters_of(r, n.host, port)) == NULL)
        goto fail;
    n.cfg->cluster_node = true; /* READONLY unless a primary's (readmode.c, docs/replicas.md) */
    if (vmux__link_new(r->loop, n.cfg, r->tls_ctx, n.ctr, r->node_events, r->arg, &n.link) != 0)
        goto fail;
    if (vmux__router_mode(r) == VMUX_ROUTER_CLUSTER)
        vmux__link_set_cluster_only(n.link); /* its servers must be cluster nodes */
    /* outside cluster mode the router opens links only to the primary's replicas */
    vmux__log(r->cfg, VMUX_LOG_INFO, "%s: opening a link to %s:%d",
              vmux__router_mode(r) == VMUX_ROUTER_CLUSTER ? "cluster" : "replicas", n.host, port);
    r->node_ids = n.id;
    r->nodes[r->nnodes++] = n;
    vmux__router_read_modes(r); /* before its first connection's setup */
    /* opened for a command now: failFast lets it wait for this attempt (net/link.h) */
    vmux__link_wait_first(n.link);
    vmux__link_start(n.link);
    return n.link;
fail:
    vmux_config_free(n.cfg);
    free(n.host);
    return NULL;
}

struct vmux_link *vmux__router_node_link(struct vmux_router *r, const char *host, size_t hostlen,
                                         int port)
{
    if (same_node(r->seed_host, r->seed_port, host, hostlen, port) ||
        vmux__router_seed_alias(r, host, hostlen, port))
        return r->seed;
    for (size_t i = 0; i < r->nnodes; i++)
        if (same_node(r->nodes[i].host, r->nodes[i].port, host, hostlen, port))
            return r->nodes[i].link;
    return node_open(r, host, hostlen, port);
}

struct vmux_link *vmux__router_link_of(const struct vmux_router *r, const char *host, int port)
{
    size_t len = strlen(host);
    if (same_node(r->seed_host, r->seed_port, host, len, port) ||
        vmux__router_seed_alias(r, host, len, port))
        return r->seed;
    for (size_t i = 0; i < r->nnodes; i++)
        if (same_node(r->nodes[i].host, r->nodes[i].port, host, len, port))
            return r->nodes[i].link;
    return NULL;
}

bool vmux__router_has_link(const struct vmux_router *r, const char *host, int port)
{
    return vmux__router_link_of(r, host, port) != NULL;
}

bool vmux__router_node_served(struct vmux_router *r, const char *host, int port)
{
    if (vmux__router_mode(r) != VMUX_ROUTER_CLUSTER)
        return false; /* standalone: the primary search must try every endpoint */
    size_t len = strlen(host);
    for (size_t i = 0; i < r->nnodes; i++)
        if (same_node(r->nodes[i].host, r->nodes[i].port, host, len, port))
            return true;
    return false;
}

const char *vmux__router_link_host(const struct vmux_router *r, const struct vmux_link *link)
{
    if (link == r->seed)
        return r->seed_host;
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].link == link)
            return r->nodes[i].host;
    return NULL;
}

/* The port of the node link serves, or -1 when link is not the router's. */
static int link_port(const struct vmux_router *r, const struct vmux_link *link)
{
    if (link == r->seed)
        return r->seed_port;
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].link == link)
            return r->nodes[i].port;
    return -1;
}

void vmux__router_link_addr(const struct vmux_router *r, const struct vmux_link *link, char *buf,
                            size_t len)
{
    int port = link_port(r, link);
    const char *host = vmux__router_link_host(r, link);
    if (host != NULL)
        snprintf(buf, len, "%s:%d", host, port);
    else
        snprintf(buf, len, "?");
}

/* The node whose link is link, or NULL (the seed's, or none of the router's). */
static struct vmux_router_node *node_of(const struct vmux_router *r, const struct vmux_link *link)
{
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].link == link)
            return &r->nodes[i];
    return NULL;
}

bool vmux__router_link_is(const struct vmux_router *r, const struct vmux_link *link,
                          const char *host, int port)
{
    size_t len = strlen(host);
    if (link == r->seed)
        return same_node(r->seed_host, r->seed_port, host, len, port) ||
               vmux__router_seed_alias(r, host, len, port);
    const struct vmux_router_node *n = node_of(r, link);
    return n != NULL && same_node(n->host, n->port, host, len, port);
}

uint32_t vmux__router_link_id(const struct vmux_router *r, const struct vmux_link *link)
{
    if (link == r->seed)
        return 0;
    const struct vmux_router_node *n = node_of(r, link);
    return n != NULL ? n->id : UINT32_MAX;
}

struct vmux_link *vmux__router_link_by_id(const struct vmux_router *r, uint32_t id)
{
    if (id == 0)
        return r->seed;
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].id == id)
            return r->nodes[i].link;
    return NULL;
}

/* A blocking pool for the node of cfg (one endpoint) whose main link is link; NULL: no memory. */
static struct vmux_pool *pool_new(struct vmux_router *r, const struct vmux_config *cfg,
                                  struct vmux_link *link, struct vmux_counters *ctr)
{
    struct vmux_pool *p = malloc(sizeof *p);
    if (p == NULL || vmux__pool_init(p, r->loop, cfg, r->tls_ctx, ctr) != 0) {
        free(p);
        return NULL;
    }
    p->redirect = router_redirect_event;
    p->redirect_arg = r;
    p->peer = link;
    return p;
}

/* The seed node's endpoint alone: its pool must reach that node, not another configured one. */
static struct vmux_config *seed_config(const struct vmux_router *r)
{
    struct vmux_config *cfg = vmux_config_dup(r->cfg);
    if (cfg == NULL)
        return NULL;
    vmux_config_clear_endpoints(cfg);
    if (vmux__config_endpoint_push(cfg, r->seed_host, strlen(r->seed_host), r->seed_port) == 0)
        return cfg;
    vmux_config_free(cfg);
    return NULL;
}

/* The blocking pool of link's node, made on first use; NULL when out of memory. */
static struct vmux_pool *node_pool(struct vmux_router *r, struct vmux_link *link)
{
    struct vmux_router_node *n = node_of(r, link);
    if (n != NULL) {
        if (n->pool == NULL)
            n->pool = pool_new(r, n->cfg, link, n->ctr);
        return n->pool;
    }
    if (r->seed_blocking == NULL && r->seed_host != NULL &&
        (r->seed_cfg != NULL || (r->seed_cfg = seed_config(r)) != NULL))
        r->seed_blocking = pool_new(r, r->seed_cfg, link, r->ctr);
    return r->seed_blocking;
}

void vmux__router_forward(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op)
{
    if (!(op->flags & VMUX_OP_BLOCKING)) {
        vmux__link_submit(link, op);
        return;
    }
    if (op->redirects > 0) /* its block cut to what is left of it (a new op) */
        op = vmux__op_sent_again(op, VMUX_OP_AGAIN_REDIRECTED, uv_hrtime());
    struct vmux_pool *p = node_pool(r, link);
    if (p == NULL)
        vmux__op_finish(op, VMUX_ERR_NOMEM, NULL);
    else
        vmux__pool_submit(p, op);
}

/* Sends the unsent ops of p (the pool of a node whose link is down) by their slots again. */
static void reroute_pool(struct vmux_router *r, struct vmux_link *link, struct vmux_pool *p)
{
    if (p == NULL || vmux__link_ready(link))
        return;
    struct vmux_opq q = {0};
    vmux__pool_take_unsent(p, &q);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        struct vmux_link *to = op->slot >= 0 ? vmux__router_slot_link(r, op->slot) : link;
        vmux__router_forward(r, to != NULL ? to : link, op);
    }
}

void vmux__router_reroute_blocking(struct vmux_router *r)
{
    reroute_pool(r, r->seed, r->seed_blocking);
    for (size_t i = 0; i < r->nnodes; i++)
        reroute_pool(r, r->nodes[i].link, r->nodes[i].pool);
}

/* A pool and the link of its node, for moved_away(). */
struct pool_node {
    struct vmux_router *r;
    struct vmux_link *link;
    const struct vmux_pool *pool;
    uint8_t slot[VMUX_LINK_SLOTS / 8]; /* zero but for the bit slot_held() sets while it asks */
};

/* Whether a link of pn's pool holds a live op of slot (written, or waiting there to be). */
static bool slot_held(struct pool_node *pn, int slot)
{
    pn->slot[slot / 8] = (uint8_t)(1u << (slot % 8));
    bool held = vmux__pool_slots_held(pn->pool, pn->slot);
    pn->slot[slot / 8] = 0;
    return held;
}

/*
 * Whether an op waiting for a connection of link's pool belongs to another node now: a key's op
 * whose slot the map gives to a known primary other than link's node. One an ASK sent there (its
 * slot still the old owner's in the map) or one pinned to the node stays. So does one of a slot
 * that a link of the pool runs an op of: that op, sent first (a pop of the same key, blocked),
 * goes on when the node answers it (MOVED), and this one behind it; sent on now, it would block
 * on the new owner first and take the element pushed there for the one ahead (review
 * helper-215 F1: a refresh, or another command's MOVED, came while A blocked on the old node).
 * But a read from "$" leaves: it takes nothing from the one ahead, and sent to the old node its
 * MOVED would end it (follow.c end_from_now(): the two MOVEDs look alike).
 */
static bool moved_away(const struct vmux_op *op, void *arg)
{
    struct pool_node *pn = arg;
    if (op->slot < 0 || op->slot >= VMUX_SLOTS || (op->flags & (VMUX_OP_ASKING | VMUX_OP_PINNED)))
        return false;
    const struct vmux_shard *s = vmux__slotmap_owner(pn->r->map, (unsigned)op->slot);
    if (s == NULL || s->nnodes == 0 || (s->nodes[0].flags & VMUX_NODE_UNKNOWN))
        return false;
    return !vmux__router_link_is(pn->r, pn->link, s->nodes[0].host, s->nodes[0].port) &&
           ((op->flags & VMUX_OP_FROM_NOW) || !slot_held(pn, op->slot));
}

/* Sends the ops waiting in link's pool p whose slots moved to another node there, in order. */
static void follow_pool(struct vmux_router *r, struct vmux_link *link, struct vmux_pool *p)
{
    if (p == NULL || p->waiting.count == 0)
        return;
    struct pool_node pn = {r, link, p, {0}};
    struct vmux_opq q = {0};
    vmux__pool_take_waiting(p, moved_away, &pn, &q);
    if (q.count > 0) {
        char where[300];
        vmux__router_link_addr(r, link, where, sizeof where);
        vmux__log(r->cfg, VMUX_LOG_INFO,
                  "cluster: %zu blocking commands waiting for a pool connection to %s go to their "
                  "slots' new owners",
                  q.count, where);
    }
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        struct vmux_link *to = vmux__router_slot_link(r, op->slot);
        vmux__router_forward(r, to != NULL ? to : link, op);
    }
}

/*
 * After a change of the cluster map: the blocking ops still waiting for a pool connection on a
 * node whose slot moved go to the new owner's pool (a slot migrated away while a busy pool held
 * them), but for those of a slot the pool runs an op of (moved_away()). Only the pools' waiting
 * queues are walked, and for each op that would leave, its pool's links; written ops stay (the
 * server answers them).
 */
void vmux__router_follow_blocking(struct vmux_router *r)
{
    follow_pool(r, r->seed, r->seed_blocking);
    for (size_t i = 0; i < r->nnodes; i++) /* forwarding may open nodes: r->nodes may move */
        follow_pool(r, r->nodes[i].link, r->nodes[i].pool);
}

/* ---- sending ---- */

void vmux__router_cluster_only(struct vmux_router *r)
{
    vmux__link_set_cluster_only(r->seed);
    for (size_t i = 0; i < r->nnodes; i++)
        vmux__link_set_cluster_only(r->nodes[i].link);
}

/* VMUX_EVENT_NODE_ADDED / _REMOVED for one node (vmux__slotmap_new_nodes()'s callback). */
struct node_event {
    struct vmux_router *r;
    vmux_event_type type;
};

static void node_event(const struct vmux_node_addr *node, void *arg)
{
    const struct node_event *e = arg;
    char where[300];
    snprintf(where, sizeof where, "%s:%d", node->host, node->port);
    vmux__log(e->r->cfg, VMUX_LOG_INFO, "cluster: node %s %s", where,
              e->type == VMUX_EVENT_NODE_ADDED ? "joined the map" : "left the map");
    vmux__event(e->r->cfg, e->type, 0, where, e->type == VMUX_EVENT_NODE_ADDED ? "joined" : "left");
}

static void node_events(struct vmux_router *r, const struct vmux_slotmap *old,
                        const struct vmux_slotmap *map)
{
    struct node_event e = {r, VMUX_EVENT_NODE_ADDED};
    vmux__slotmap_new_nodes(old, map, node_event, &e);
    e.type = VMUX_EVENT_NODE_REMOVED;
    vmux__slotmap_new_nodes(map, old, node_event, &e);
}

void vmux__router_set_map(struct vmux_router *r, struct vmux_slotmap *map)
{
    struct vmux_slotmap *old = r->map; /* kept until its nodes are compared */
    bool cluster = old != NULL && map != NULL && vmux__router_mode(r) == VMUX_ROUTER_CLUSTER;
    if (cluster)
        vmux__router_fence_raise(r, old, map); /* before the links' names change */
    r->map = map;
    free(r->shard_links);
    r->shard_links = map != NULL ? calloc(map->nshards, sizeof *r->shard_links) : NULL;
    vmux__router_reads_reset(r);
    vmux__router_seed_renamed(r); /* the seed's role in the new map: asked again */
    if (map != NULL)
        vmux__router_seed_adopt(r); /* the seed's node may have another name in it */
    if (map != NULL && r->map_changed != NULL)
        r->map_changed(r->map_changed_arg);
    if (cluster) /* here, and only here: the events follow the map whatever changed it */
        node_events(r, old, map);
    vmux__slotmap_unref(old);
    /* last: a command failed at once may run a callback, which may submit; during a redirect,
     * once the redirected op has gone on (it goes ahead of those queued behind it) */
    if (cluster && r->redirecting > 0)
        r->follow_pending = true;
    else if (cluster)
        vmux__router_follow_blocking(r);
}

/* The link to shard i's primary, opened on first use: looked up by name once per map. */
static struct vmux_link *shard_link(struct vmux_router *r, unsigned i)
{
    if (r->shard_links != NULL && r->shard_links[i] != NULL)
        return r->shard_links[i];
    const struct vmux_shard *s = &r->map->shards[i];
    if (s->nnodes == 0 || (s->nodes[0].flags & VMUX_NODE_UNKNOWN))
        return r->seed;
    const struct vmux_node_addr *n = &s->nodes[0];
    struct vmux_link *link = vmux__router_node_link(r, n->host, strlen(n->host), n->port);
    if (r->shard_links != NULL)
        r->shard_links[i] = link;
    return link;
}

struct vmux_link *vmux__router_shard_link(struct vmux_router *r, unsigned i)
{
    return shard_link(r, i);
}

struct vmux_link *vmux__router_slot_link(struct vmux_router *r, int slot)
{
    if (slot < 0 || slot >= VMUX_SLOTS || r->map == NULL)
        return r->seed;
    unsigned i = r->map->owner[slot];
    return i == VMUX_SLOT_NO_OWNER ? r->seed : shard_link(r, i);
}

/*
 * The first primary's link other than avoid's (NULL: none), a ready one first; *ready says
 * whether it is. Shards that serve no slot are skipped.
 */
static struct vmux_link *first_primary(struct vmux_router *r, const struct vmux_link *avoid,
                                       bool *ready)
{
    struct vmux_link *first = NULL;
    for (size_t i = 0; i < r->map->nshards; i++) {
        if (r->map->shards[i].nslots == 0)
            continue;
        struct vmux_link *link = shard_link(r, (unsigned)i);
        if (link == NULL || link == avoid)
            continue;
        if (vmux__link_ready(link)) {
            *ready = true;
            return link;
        }
        if (first == NULL)
            first = link;
    }
    *ready = false;
    return first;
}

/*
 * A keyless op's link: the seed's while its connection is ready and the map does not name its
 * node a replica, else the first primary whose link is ready (a dead seed does not hold up PING,
 * INFO, a script with no key...). Failing that, a seed the map names a replica (a failover
 * demoted it: it would answer a write READONLY) gives way to the first primary's link, where the
 * op waits for the connection; else the seed's.
 */
static struct vmux_link *keyless_link(struct vmux_router *r)
{
    if (r->map == NULL)
        return r->seed;
    bool demoted = vmux__router_seed_replica(r), ready;
    if (vmux__link_ready(r->seed) && !demoted)
        return r->seed;
    struct vmux_link *first = first_primary(r, NULL, &ready);
    return ready || (demoted && first != NULL) ? first : r->seed;
}

/*
 * A keyless op's link by the map (keyless_link()), but never avoid's while the map names another
 * primary: the first primary's link other than avoid's then (a ready one first).
 */
static struct vmux_link *keyless_away(struct vmux_router *r, const struct vmux_link *avoid)
{
    bool ready;
    struct vmux_link *link = keyless_link(r);
    return link != avoid || r->map == NULL ? link : first_primary(r, avoid, &ready);
}

struct vmux_link *vmux__router_onward(struct vmux_router *r, const struct vmux_op *op,
                                      const struct vmux_link *avoid)
{
    return op->slot >= 0 ? vmux__router_slot_link(r, op->slot) : keyless_away(r, avoid);
}

/*
 * Whether op may be read from a replica: a read-only op, with readFrom other than primary or
 * the call's own VMUX_CALL_REPLICA or VMUX_CALL_PREFER_REPLICA. Checked here so that the common
 * case under the default (readFrom=primary) costs no call into replicas.c.
 */
static bool may_read_replica(const struct vmux_router *r, const struct vmux_op *op)
{
    uint32_t f = op->flags;
    return (f & VMUX_OP_READONLY) && !(f & (VMUX_OP_BLOCKING | VMUX_OP_TO_PRIMARY)) &&
           vmux__router_replica_policy(r, f) && r->reads.links != NULL;
}

bool vmux__router_replica_read(const struct vmux_router *r, const struct vmux_op *op)
{
    return may_read_replica(r, op);
}

/* STANDALONE: a read to a replica when the policy says so, everything else to the seed link. */
static void send_standalone(struct vmux_router *r, struct vmux_op *op)
{
    struct vmux_link *link = NULL;
    if (r->map != NULL && may_read_replica(r, op))
        link = vmux__router_read_link(r, 0, op);
    vmux__link_submit(link != NULL ? link : r->seed, op);
}

/* Whether a fence may hold op: a key's op for its slot's primary, not a pool's or a fan-out's. */
static bool fenceable(const struct vmux_router *r, const struct vmux_op *op)
{
    return op->slot >= 0 && op->slot < VMUX_SLOTS &&
           !(op->flags & (VMUX_OP_BLOCKING | VMUX_OP_POOLED | VMUX_OP_PINNED)) &&
           !may_read_replica(r, op);
}

/*
 * The link already open for a key's op that is not blocking: one of its slot's replicas (a read
 * readFrom sends there) or its primary; NULL when there is none yet (or the op is no such op).
 */
static struct vmux_link *linked_node(struct vmux_router *r, const struct vmux_op *op)
{
    if (op->slot < 0 || op->slot >= VMUX_SLOTS || r->map == NULL || (op->flags & VMUX_OP_BLOCKING))
        return NULL;
    unsigned i = r->map->owner[op->slot];
    if (i == VMUX_SLOT_NO_OWNER)
        return NULL;
    struct vmux_link *link = may_read_replica(r, op) ? vmux__router_read_link(r, i, op) : NULL;
    return link == NULL && r->shard_links != NULL ? r->shard_links[i] : link;
}

/*
 * Hands op to link; a new op (fresh) that is not blocking is refused instead when link's node
 * holds its share of the handle's admission already (share.c).
 */
static void place(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op, bool fresh)
{
    if (fresh && !(op->flags & VMUX_OP_BLOCKING) && vmux__link_over_share(link, r->node_share))
        vmux__router_refuse_full(r, link, op);
    else
        vmux__router_forward(r, link, op);
}

/*
 * An op that came before the mode was known (cluster=yes's commands wait for the answer unplaced),
 * or by a path that did not classify it: its slot now. Keys in two slots fail it with
 * VMUX_ERR_CROSSSLOT and an error reply naming two of them and their slots, as vmux_call() says
 * it of a command refused at placing (an async callback gets it as its reply, a synchronous
 * caller in its error buffer); false then (op completed).
 */
__attribute__((noinline)) static bool classify_late(struct vmux_op *op)
{
    char why[256] = "";
    int rc = vmux__router_slot(op, why, sizeof why);
    if (rc == 0)
        return true;
    vmux_reply *words = rc == VMUX_ERR_CROSSSLOT && why[0] != '\0'
                            ? vmux__reply_new_str(VMUX_REPLY_ERROR, why, strlen(why))
                            : NULL;
    vmux__op_finish(op, rc, words);
    return false;
}

/*
 * Every case vmux__router_send() does not take in its first few instructions (a replica read, a
 * shard's first op, a fence, an op not yet classified...); a new op (may_hold)
 * of a fenced slot waits for its fence to lift (fence.c), one of a slot whose ops wait out a
 * ping-pong waits behind them (bounce.c).
 */
__attribute__((noinline)) static void send_slow(struct vmux_router *r, struct vmux_op *op,
                                                bool may_hold)
{
    if (vmux__router_mode(r) == VMUX_ROUTER_STANDALONE) {
        send_standalone(r, op);
        return;
    }
    if (may_hold && fenceable(r, op) &&
        ((r->nfences > 0 && vmux__router_fence_hold(r, op)) || vmux__router_bounce_behind(r, op)))
        return;
    struct vmux_link *linked = linked_node(r, op);
    if (linked != NULL) {
        place(r, linked, op, may_hold); /* not blocking (linked_node()): submitted to linked */
        return;
    }
    if (op->slot == VMUX_OP_SLOT_UNSET && !classify_late(op))
        return;
    if (op->slot == VMUX_OP_SLOT_ASK) {
        vmux__router_getkeys(r, op);
        return;
    }
    struct vmux_link *link = op->slot < 0 ? keyless_link(r) : vmux__router_slot_link(r, op->slot);
    if (link == NULL) {
        vmux__op_finish(op, VMUX_ERR_NOMEM, NULL);
        return;
    }
    place(r, link, op, may_hold);
}

/*
 * The common case first, with nothing to save and restore around it: a key's op for a primary
 * whose link is open and holds less than its share (no replica read to consider, nothing
 * blocking, no fence standing), handed straight to it; the share costs one call and one compare.
 */
void vmux__router_send(struct vmux_router *r, struct vmux_op *op)
{
    if (vmux__router_mode(r) == VMUX_ROUTER_CLUSTER && op->slot >= 0 && op->slot < VMUX_SLOTS &&
        r->map != NULL && r->shard_links != NULL && r->nfences == 0 && r->bounced.head == NULL &&
        !(op->flags & VMUX_OP_BLOCKING) && !may_read_replica(r, op)) {
        unsigned i = r->map->owner[op->slot];
        struct vmux_link *link = i != VMUX_SLOT_NO_OWNER ? r->shard_links[i] : NULL;
        if (link != NULL && !vmux__link_over_share(link, r->node_share)) {
            vmux__link_submit(link, op);
            return;
        }
    }
    send_slow(r, op, true);
}

void vmux__router_resend(struct vmux_router *r, struct vmux_op *op)
{
    send_slow(r, op, false);
}

/*
 * A refused op goes again to its slot's owner when that changed while it waited: a primary cut
 * off from the cluster's majority answers CLUSTERDOWN until its replica, promoted, takes the
 * slot, and the refresh the first CLUSTERDOWN asked for learns of it; resent to the old node the
 * op kept being refused there until its deadline. An op for a replica (readFrom), a blocking or
 * pooled one, or one pinned to a node stays where it is.
 */
bool vmux__router_retry(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op)
{
    uint32_t stay = VMUX_OP_BLOCKING | VMUX_OP_POOLED | VMUX_OP_PINNED;
    if (vmux__router_mode(r) != VMUX_ROUTER_CLUSTER || op->slot < 0 || op->slot >= VMUX_SLOTS ||
        r->map == NULL || (op->flags & stay) || may_read_replica(r, op))
        return false;
    unsigned i = r->map->owner[op->slot];
    struct vmux_link *owner = i != VMUX_SLOT_NO_OWNER ? shard_link(r, i) : NULL;
    if (owner == NULL || owner == link)
        return false;
    vmux__link_submit(owner, op);
    return true;
}

/* ---- the rest of its life ---- */

void vmux__router_park(struct vmux_router *r, struct vmux_op *op)
{
    vmux__opq_push(&r->parked, op);
}

void vmux__router_take_parked(struct vmux_router *r, struct vmux_opq *dst)
{
    vmux__opq_take(dst, &r->parked);
}

bool vmux__router_link_primary_in(const struct vmux_router *r, const struct vmux_link *link,
                                  const struct vmux_slotmap *map)
{
    int port = link_port(r, link);
    const char *host = vmux__router_link_host(r, link);
    if (map == NULL)
        return false;
    if (link == r->seed && r->seed_as_host != NULL &&
        vmux__slotmap_find_primary(map, r->seed_as_host, strlen(r->seed_as_host),
                                   r->seed_as_port) >= 0)
        return true;
    return host != NULL && vmux__slotmap_find_primary(map, host, strlen(host), port) >= 0;
}

bool vmux__router_link_is_primary(const struct vmux_router *r, const struct vmux_link *link)
{
    return vmux__router_link_primary_in(r, link, r->map);
}

void vmux__router_link_failed(struct vmux_router *r, struct vmux_link *link)
{
    if (vmux__router_mode(r) == VMUX_ROUTER_STANDALONE && r->map != NULL && link != r->seed)
        vmux__router_reads_away(r, link); /* a replica endpoint's */
    if (vmux__router_mode(r) != VMUX_ROUTER_CLUSTER)
        return;
    if (vmux__router_link_is_primary(r, link))
        vmux__router_refresh_soon(r); /* a primary's connection failed: has it failed over? */
    else
        vmux__router_reads_away(r, link); /* a replica's: its waiting reads go elsewhere */
}

void vmux__router_note_departures(struct vmux_router *r)
{
    uint64_t now = uv_now(r->loop);
    for (size_t i = 0; i < r->nnodes; i++) {
        struct vmux_router_node *n = &r->nodes[i];
        if (vmux__slotmap_names(r->map, n->host, n->port))
            n->left_ms = 0;
        else if (n->left_ms == 0)
            n->left_ms = now;
    }
}

/* Whether node i left the map long enough ago, and holds nothing, to be closed. */
static bool departed(const struct vmux_router *r, const struct vmux_router_node *n, uint64_t now)
{
    uint64_t grace = 10 * (uint64_t)r->cfg->cluster_refresh_min_ms;
    return n->left_ms != 0 && now - n->left_ms >= grace && !vmux__link_busy(n->link) &&
           (n->pool == NULL || !vmux__pool_busy(n->pool));
}

/*
 * Closes node i's links and keeps what they use (its configuration, host and pool) in r->gone,
 * stamped with this tick, until their close is done: free_gone() lets go of it two ticks later.
 */
static void close_departed(struct vmux_router *r, size_t i)
{
    struct vmux_router_node *gone = realloc(r->gone, (r->ngone + 1) * sizeof *gone);
    if (gone == NULL)
        return; /* out of memory: tried again next tick */
    r->gone = gone;
    vmux__router_fence_lift_link(r, r->nodes[i].link); /* its held ops go elsewhere now */
    struct vmux_router_node n = r->nodes[i];
    vmux__log(r->cfg, VMUX_LOG_INFO, "cluster: closing the link to %s:%d, which left the map",
              n.host, n.port);
    if (r->map != NULL)
        vmux__router_reads_forget(r, n.link);
    vmux__link_close(n.link);
    if (n.pool != NULL)
        vmux__pool_close(n.pool);
    n.link = NULL;
    n.closed_tick = r->ticks;
    r->gone[r->ngone++] = n;
    /* the others keep their order (opened first, asked first: refresh.c) */
    memmove(&r->nodes[i], &r->nodes[i + 1], (r->nnodes - i - 1) * sizeof *r->nodes);
    r->nnodes--;
    if (r->shard_links != NULL && r->map != NULL) /* it may have cached the closed link */
        memset(r->shard_links, 0, r->map->nshards * sizeof *r->shard_links);
}

/* Frees what a node holds besides its link (closed and let go of, or never made). */
static void node_free(struct vmux_router_node *n)
{
    vmux_config_free(n->cfg);
    free(n->host);
    free(n->pool);
}

/*
 * Frees the gone nodes closed two ticks ago or more. Their links' and pools' handles were closed
 * in the loop turn of their tick, so libuv has run every close callback since, and the links,
 * which freed themselves then, no longer point into their configurations (the pools' links
 * neither into the pool). Without it a long-lived handle kept ~1 KB per link it ever closed.
 */
static void free_gone(struct vmux_router *r)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->ngone; i++) {
        if (r->ticks - r->gone[i].closed_tick < 2)
            r->gone[kept++] = r->gone[i];
        else
            node_free(&r->gone[i]);
    }
    r->ngone = kept;
    if (kept == 0) {
        free(r->gone);
        r->gone = NULL;
    }
}

void vmux__router_tick(struct vmux_router *r, bool frozen)
{
    uint64_t now = uv_now(r->loop);
    r->ticks++;
    free_gone(r);
    for (size_t i = r->nnodes; i-- > 0;)
        if (departed(r, &r->nodes[i], now))
            close_departed(r, i);
    for (size_t i = 0; i < r->nnodes; i++) {
        vmux__link_tick(r->nodes[i].link, frozen);
        if (r->nodes[i].pool != NULL)
            vmux__pool_tick(r->nodes[i].pool, frozen);
    }
    if (r->seed_blocking != NULL)
        vmux__pool_tick(r->seed_blocking, frozen);
    vmux__router_replicas_tick(r); /* Sentinel: a replica settling */
    vmux__router_refresh_tick(r);  /* a primary that answers nothing: has it failed over? */
}

void vmux__router_close(struct vmux_router *r)
{
    vmux__router_fence_close(r);
    vmux__opq_fail_all(&r->parked, VMUX_ERR_CLOSED);
    vmux__opq_fail_all(&r->keys_wait, VMUX_ERR_CLOSED);
    vmux__opq_fail_all(&r->unowned, VMUX_ERR_CLOSED);
    vmux__opq_fail_all(&r->map_wait, VMUX_ERR_CLOSED);
    vmux__opq_fail_all(&r->demoted, VMUX_ERR_CLOSED);
    vmux__router_bounce_close(r);
    for (size_t i = 0; i < r->nnodes; i++) {
        vmux__link_close(r->nodes[i].link);
        if (r->nodes[i].pool != NULL)
            vmux__pool_close(r->nodes[i].pool);
    }
    if (r->seed_blocking != NULL)
        vmux__pool_close(r->seed_blocking);
    vmux__router_refresh_close(r);
}

void vmux__router_free(struct vmux_router *r)
{
    for (size_t i = 0; i < r->nnodes; i++)
        node_free(&r->nodes[i]);
    free(r->nodes);
    for (size_t i = 0; i < r->ngone; i++)
        node_free(&r->gone[i]);
    free(r->gone);
    free(r->seed_host);
    free(r->seed_id);
    free(r->seed_as_host);
    free(r->moved);
    free(r->bounce_slots); /* when bounce_close() did not run */
    free(r->seed_blocking);
    vmux_config_free(r->seed_cfg);
    vmux__router_set_map(r, NULL);
    while (r->node_counters != NULL) {
        struct vmux_node_counters *c = r->node_counters;
        r->node_counters = c->next;
        free(c->host);
        free(c);
    }
    uv_mutex_destroy(&r->stats_mu);
}

void vmux__router_stats_add(struct vmux_router *r, vmux_stats *out)
{
    uv_mutex_lock(&r->stats_mu);
    for (const struct vmux_node_counters *c = r->node_counters; c != NULL; c = c->next)
        vmux__counters_add_links(&c->ctr, out);
    uv_mutex_unlock(&r->stats_mu);
}

/*
 * Keyspace notifications on a cluster (mux/pubsub.h). A server publishes a key's keyspace and
 * keyevent notifications on its own subscribers only: the cluster bus carries PUBLISH to every
 * node, not these. One node's subscription saw a third of the events of a three-shard cluster.
 * So a channel or pattern that can only name such channels is made on every primary: the
 * application's subscription stays on no link, and a copy of it (its callback or queue, kind and
 * name) is on each primary's subscriber link, pinned there. The copies are ordinary
 * subscriptions to the rest of the engine (requests, confirmations, reconnects, refusals,
 * delivery by link), so each event arrives once, from the one primary that published it.
 *
 * Replicas are left out: a Valkey 8 replica publishes again the events of the writes its
 * primary's replication stream brings (an expiration comes as "del", never "expired"), so a copy
 * there would deliver them twice. The reconciler (pubsub_place.c) calls vmux__keyspace_place()
 * after every change of the map: a node that became a primary gets a copy, a copy on a node that
 * is no longer one is ended. I/O thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "mux/mux.h"

static bool starts(const char *name, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(name, prefix, n) == 0;
}

bool vmux__pubsub_node_local(const char *name, size_t len)
{
    return name != NULL && (starts(name, len, "__keyspace@") || starts(name, len, "__keyevent@"));
}

bool vmux__keyspace_fans(struct vmux *m, const struct vmux_sub *s)
{
    return s->parent == NULL && s->kind != VMUX_SUB_SHARD &&
           vmux__router_mode(&m->router) == VMUX_ROUTER_CLUSTER &&
           vmux__pubsub_node_local(s->name.ptr, s->name.len);
}

/* Whether the copy k is on the node at host:port. */
static bool kid_at(const struct vmux_sub *k, const char *host, int port)
{
    const struct vmux_sublink *sl = k->at;
    return sl->host != NULL && sl->port == port && strcasecmp(sl->host, host) == 0;
}

/* Whether s has a copy on the node at host:port. */
static bool has_kid(const struct vmux_sub *s, const char *host, int port)
{
    for (const struct vmux_sub *k = s->kids; k != NULL; k = k->knext)
        if (kid_at(k, host, port))
            return true;
    return false;
}

/* Whether nodes (n of them) name the node k is on. */
static bool among(const struct vmux_sub *k, const struct vmux_router_nodeinfo *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (kid_at(k, nodes[i].host, nodes[i].port))
            return true;
    return false;
}

/* Takes k out of its parent's copies and ends it. */
static void end_kid(struct vmux *m, struct vmux_sub *k)
{
    struct vmux_sub **p = &k->parent->kids;
    while (*p != k)
        p = &(*p)->knext;
    *p = k->knext;
    k->parent = NULL;
    vmux__pubsub_end(m, k);
}

/* Ends the copies of s on nodes that nodes (the map's primaries) no longer name. */
static void drop_gone(struct vmux *m, struct vmux_sub *s, const struct vmux_router_nodeinfo *nodes,
                      size_t n)
{
    struct vmux_sub *next;
    for (struct vmux_sub *k = s->kids; k != NULL; k = next) {
        next = k->knext;
        if (among(k, nodes, n))
            continue;
        vmux__log(m->cfg, VMUX_LOG_INFO, "pubsub: %s:%d is no longer a primary: '%.*s' ends there",
                  k->at->host, k->at->port, (int)(s->name.len < 200 ? s->name.len : 200),
                  s->name.ptr);
        end_kid(m, k);
    }
}

/* Makes a copy of s on the primary at host:port, its SUBSCRIBE sent (or when the link is
 * ready). Returns false when it could not be made (no memory, no link). */
static bool add_kid(struct vmux *m, struct vmux_sub *s, const char *host, int port)
{
    struct vmux_sublink *sl = vmux__sublink_for(m, host, port);
    struct vmux_sub *k = sl != NULL ? vmux__sub_new(m, s->kind, s->name.ptr, s->name.len) : NULL;
    if (k == NULL)
        return false;
    if (vmux__pubsub_register(&m->pubsub, k) != 0) {
        vmux__sub_free(k);
        return false;
    }
    k->cb = s->cb;
    k->queue = s->queue;
    k->userdata = s->userdata;
    k->parent = s;
    k->knext = s->kids;
    s->kids = k;
    k->at = sl; /* pinned: "lost" there, so the placing below sends its SUBSCRIBE */
    k->lost = true;
    vmux__pubsub_place(m, k);
    return true;
}

bool vmux__keyspace_place(struct vmux *m, struct vmux_sub *s)
{
    struct vmux_router_nodeinfo *nodes = NULL;
    size_t n = 0, have = 0;
    if (vmux__router_nodes(&m->router, VMUX_ROUTER_NODES_PRIMARIES, &nodes, &n) != 0 || n == 0) {
        free(nodes);
        return false; /* no map to go by: what is there stays */
    }
    drop_gone(m, s, nodes, n);
    for (size_t i = 0; i < n; i++)
        if (has_kid(s, nodes[i].host, nodes[i].port) || add_kid(m, s, nodes[i].host, nodes[i].port))
            have++;
    free(nodes);
    s->complete = have == n;
    vmux__keyspace_live(s);
    return s->complete;
}

void vmux__keyspace_end(struct vmux *m, struct vmux_sub *s)
{
    while (s->kids != NULL)
        end_kid(m, s->kids);
    s->complete = false;
}

/* Whether k's own SUBSCRIBE is confirmed (written under its lock on this thread alone). */
static bool kid_live(struct vmux_sub *k)
{
    uv_mutex_lock(&k->mu);
    bool live = k->live;
    uv_mutex_unlock(&k->mu);
    return live;
}

void vmux__keyspace_live(struct vmux_sub *s)
{
    bool live = s->complete && s->kids != NULL;
    for (struct vmux_sub *k = s->kids; k != NULL && live; k = k->knext)
        live = kid_live(k);
    uv_mutex_lock(&s->mu);
    bool was = s->live;
    s->live = live;
    if (live && !was)
        uv_cond_broadcast(&s->cv);
    uv_mutex_unlock(&s->mu);
}

/*
 * The seed's node by its id (route/router.h): the seed link reaches its node by the configured
 * name (localhost, a configuration endpoint), the slot map names it otherwise (127.0.0.1, its
 * IP address). The node id (CLUSTER MYID, asked on each of the seed link's connections) tells
 * which node of the map the seed link reached; the seed link then serves that node under the
 * map's name as well, and no second link is opened to it. A MOVED read on the seed link that
 * names that node by the map's name says the seed link reached another node: the adoption is
 * dropped until the next connection's id says again. I/O thread only (but the stats copy).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "route/router.h"
#include "vmux/error.h"

static bool seed_named(const struct vmux_router *r, const char *host, int port)
{
    return r->seed_host != NULL && r->seed_port == port && strcasecmp(r->seed_host, host) == 0;
}

/* Sets (host not NULL) or clears the map's name of the seed's node; false when out of memory. */
static bool set_alias(struct vmux_router *r, const char *host, int port)
{
    bool same = host != NULL && r->seed_as_host != NULL && r->seed_as_port == port &&
                strcasecmp(r->seed_as_host, host) == 0;
    if (same || (host == NULL && r->seed_as_host == NULL))
        return true;
    char *copy = NULL;
    if (host != NULL && (copy = strdup(host)) == NULL)
        return false;
    free(r->seed_as_host);
    r->seed_as_host = copy;
    r->seed_as_port = port;
    vmux__router_seed_renamed(r);
    uv_mutex_lock(&r->stats_mu);
    if (copy != NULL)
        vmux__node_addr(r->seed_as_addr, sizeof r->seed_as_addr, copy, port);
    else
        r->seed_as_addr[0] = '\0';
    uv_mutex_unlock(&r->stats_mu);
    if (r->shard_links != NULL && r->map != NULL) /* they may hold the seed link, or not */
        memset(r->shard_links, 0, r->map->nshards * sizeof *r->shard_links);
    if (copy != NULL) /* its traffic counts under the node's series from now on */
        vmux__link_count_as(r->seed, copy, port);
    else if (r->seed_host != NULL)
        vmux__link_count_as(r->seed, r->seed_host, r->seed_port);
    vmux__log(r->cfg, VMUX_LOG_INFO, "cluster: the seed link %s %s:%d (node id %s)",
              copy != NULL ? "serves" : "no longer serves", copy != NULL ? copy : "its node", port,
              r->seed_id != NULL ? r->seed_id : "unknown");
    return true;
}

/* The node of the map whose id is id, or NULL. */
static const struct vmux_node_addr *node_by_id(const struct vmux_slotmap *m, const char *id)
{
    for (size_t s = 0; m != NULL && s < m->nshards; s++)
        for (size_t i = 0; i < m->shards[s].nnodes; i++) {
            const struct vmux_node_addr *n = &m->shards[s].nodes[i];
            if (n->id != NULL && !(n->flags & VMUX_NODE_UNKNOWN) && strcmp(n->id, id) == 0)
                return n;
        }
    return NULL;
}

void vmux__router_seed_adopt(struct vmux_router *r)
{
    const struct vmux_node_addr *n = r->seed_id != NULL ? node_by_id(r->map, r->seed_id) : NULL;
    if (n == NULL || seed_named(r, n->host, n->port)) {
        (void)set_alias(r, NULL, 0);
        return;
    }
    bool adopted = r->seed_as_host != NULL && r->seed_as_port == n->port &&
                   strcasecmp(r->seed_as_host, n->host) == 0;
    if (!adopted && vmux__router_has_link(r, n->host, n->port))
        (void)set_alias(r, NULL, 0); /* a node link serves it already: it stays the one */
    else
        (void)set_alias(r, n->host, n->port);
}

bool vmux__router_seed_alias(const struct vmux_router *r, const char *host, size_t hostlen,
                             int port)
{
    return r->seed_as_host != NULL && r->seed_as_port == port &&
           strlen(r->seed_as_host) == hostlen && strncasecmp(r->seed_as_host, host, hostlen) == 0;
}

void vmux__router_seed_mismatch(struct vmux_router *r)
{
    free(r->seed_id);
    r->seed_id = NULL;
    (void)set_alias(r, NULL, 0);
}

/* The id the seed link's connection gave; an error reply (refused) leaves it unknown. */
static void on_myid(int status, vmux_reply *reply, void *arg)
{
    struct vmux_router *r = arg;
    size_t len = 0;
    bool answered = status == 0 || status == VMUX_ERR_SERVER;
    const char *id = status == 0 ? vmux_reply_str(reply, &len) : NULL;
    bool ok = id != NULL && vmux_reply_get_kind(reply) != VMUX_REPLY_ERROR && len > 0;
    char *copy = ok ? strndup(id, len) : NULL;
    vmux_reply_free(reply);
    if (!answered || (ok && copy == NULL))
        return; /* lost with its connection (the next one asks again), closing, out of memory */
    free(r->seed_id);
    r->seed_id = copy;
    if (vmux__router_mode(r) == VMUX_ROUTER_CLUSTER)
        vmux__router_seed_adopt(r);
}

int vmux__router_ask_myid(struct vmux_router *r)
{
    static const char *const argv[] = {"CLUSTER", "MYID"};
    return vmux__router_internal(r, r->seed, 2, argv, on_myid, r);
}

/*
 * Every node's link counters, by address: vmux__router_nodes_stats() for vmux_format_metrics(),
 * vmux__router_node_stats() for vmux_read_node_stats(). Each block of r->node_counters is one
 * address a link counted under, and keeps its totals for the handle's life, so no series goes
 * down. A cluster's seed node has two: its configured name (each connection's attempt, connect
 * and setup) and the map's (the seed link's traffic once its id is known); a lookup by either
 * name gives both.
 */
#include "route/node_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmux/error.h"

void vmux__node_addr(char *buf, size_t len, const char *host, int port)
{
    snprintf(buf, len, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host, port);
}

static size_t count_blocks(const struct vmux_router *r)
{
    size_t n = 0;
    for (const struct vmux_node_counters *c = r->node_counters; c != NULL; c = c->next)
        n++;
    return n;
}

static void fill_blocks(const struct vmux_router *r, struct vmux_node_stats *out)
{
    size_t i = 0;
    for (const struct vmux_node_counters *c = r->node_counters; c != NULL; c = c->next, i++) {
        vmux__node_addr(out[i].addr, sizeof out[i].addr, c->host, c->port);
        out[i].st.size = sizeof out[i].st;
        vmux__counters_add_links(&c->ctr, &out[i].st);
    }
}

static int by_addr(const void *a, const void *b)
{
    return strcasecmp(((const struct vmux_node_stats *)a)->addr,
                      ((const struct vmux_node_stats *)b)->addr);
}

/* Sorts nodes[0 .. n) by address and makes entries of one address one; returns how many remain. */
static size_t merge_same(struct vmux_node_stats *nodes, size_t n)
{
    if (n > 1)
        qsort(nodes, n, sizeof *nodes, by_addr);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept > 0 && by_addr(&nodes[kept - 1], &nodes[i]) == 0)
            vmux__stats_add_links(&nodes[kept - 1].st, &nodes[i].st);
        else if (kept++ != i)
            nodes[kept - 1] = nodes[i];
    }
    return kept;
}

int vmux__router_nodes_stats(struct vmux_router *r, struct vmux_node_stats **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    uv_mutex_lock(&r->stats_mu);
    size_t count = count_blocks(r);
    struct vmux_node_stats *nodes = count > 0 ? calloc(count, sizeof *nodes) : NULL;
    if (nodes != NULL)
        fill_blocks(r, nodes);
    uv_mutex_unlock(&r->stats_mu);
    if (count > 0 && nodes == NULL)
        return VMUX_ERR_NOMEM;
    *out = nodes;
    *n = merge_same(nodes, count);
    return 0;
}

/* Whether name is one of the seed node's two names while the handle knows both; then *other is
 * the other one. */
static bool seed_names(const struct vmux_router *r, const char *name, char *other, size_t len)
{
    if (r->seed_as_addr[0] == '\0' || r->seed_addr[0] == '\0')
        return false;
    if (strcasecmp(name, r->seed_addr) == 0)
        snprintf(other, len, "%s", r->seed_as_addr);
    else if (strcasecmp(name, r->seed_as_addr) == 0)
        snprintf(other, len, "%s", r->seed_addr);
    else
        return false;
    return true;
}

int vmux__router_node_stats(struct vmux_router *r, const char *host, int port, vmux_stats *out)
{
    char addr[sizeof((struct vmux_node_stats *)0)->addr], other[sizeof addr];
    size_t hostlen = strlen(host);
    if (hostlen > 2 && host[0] == '[' && host[hostlen - 1] == ']') /* as events name it */
        snprintf(addr, sizeof addr, "%s:%d", host, port);
    else
        vmux__node_addr(addr, sizeof addr, host, port);
    uv_mutex_lock(&r->stats_mu);
    bool two = seed_names(r, addr, other, sizeof other);
    uv_mutex_unlock(&r->stats_mu);
    struct vmux_node_stats *nodes;
    size_t n;
    int rc = vmux__router_nodes_stats(r, &nodes, &n);
    bool found = false;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (strcasecmp(nodes[i].addr, addr) == 0 ||
            (two && strcasecmp(nodes[i].addr, other) == 0)) {
            vmux__stats_add_links(out, &nodes[i].st);
            found = true;
        }
    free(nodes);
    return rc != 0 ? rc : found ? 0 : VMUX_ERR_INVALID_ARG;
}

/* vmux__router_nodes_stats(): every node's link counters at once, as one snapshot list. */
#include "route/node_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmux/error.h"

/* The seed's node answers to two names; its counters are the handle's, under the first. */
static bool is_seed(const struct vmux_router *r, const char *addr)
{
    return (r->seed_addr[0] != '\0' && strcasecmp(r->seed_addr, addr) == 0) ||
           (r->seed_as_addr[0] != '\0' && strcasecmp(r->seed_as_addr, addr) == 0);
}

static size_t count_nodes(const struct vmux_router *r)
{
    size_t n = r->seed_addr[0] != '\0';
    char addr[300];
    for (const struct vmux_node_counters *c = r->node_counters; c != NULL; c = c->next) {
        snprintf(addr, sizeof addr, "%s:%d", c->host, c->port);
        n += !is_seed(r, addr);
    }
    return n;
}

static void fill_nodes(const struct vmux_router *r, struct vmux_node_stats *out)
{
    size_t i = 0;
    if (r->seed_addr[0] != '\0') {
        snprintf(out[i].addr, sizeof out[i].addr, "%s", r->seed_addr);
        vmux__counters_add_links(r->ctr, &out[i++].st);
    }
    for (const struct vmux_node_counters *c = r->node_counters; c != NULL; c = c->next) {
        snprintf(out[i].addr, sizeof out[i].addr, "%s:%d", c->host, c->port);
        if (!is_seed(r, out[i].addr))
            vmux__counters_add_links(&c->ctr, &out[i++].st);
    }
}

static int by_addr(const void *a, const void *b)
{
    return strcmp(((const struct vmux_node_stats *)a)->addr,
                  ((const struct vmux_node_stats *)b)->addr);
}

int vmux__router_nodes_stats(struct vmux_router *r, struct vmux_node_stats **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    uv_mutex_lock(&r->stats_mu);
    size_t count = count_nodes(r);
    struct vmux_node_stats *nodes = count > 0 ? calloc(count, sizeof *nodes) : NULL;
    if (nodes != NULL)
        fill_nodes(r, nodes);
    uv_mutex_unlock(&r->stats_mu);
    if (count > 0 && nodes == NULL)
        return VMUX_ERR_NOMEM;
    for (size_t i = 0; i < count; i++)
        nodes[i].st.size = sizeof nodes[i].st;
    if (count > 1)
        qsort(nodes, count, sizeof *nodes, by_addr);
    *out = nodes;
    *n = count;
    return 0;
}

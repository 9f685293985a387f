/*
 * What changed between two slot maps (route/slotmap.h): the slots whose primary changed, and the
 * nodes one names that the other does not. For the events of every map change (router.c,
 * refresh.c) and for comparing maps (slotmap.c).
 * Pure functions: any thread that holds references to both maps.
 */
#include <string.h>
#include <strings.h>

#include "route/slotmap.h"

/* The primary of slot in m, or NULL (no owner, or an unknown address). */
static const struct vmux_node_addr *primary_of(const struct vmux_slotmap *m, unsigned slot)
{
    const struct vmux_shard *s = vmux__slotmap_owner(m, slot);
    if (s == NULL || s->nnodes == 0 || (s->nodes[0].flags & VMUX_NODE_UNKNOWN))
        return NULL;
    return &s->nodes[0];
}

static bool same_addr(const struct vmux_node_addr *a, const struct vmux_node_addr *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

unsigned vmux__slotmap_moved_slots(const struct vmux_slotmap *old, const struct vmux_slotmap *m)
{
    unsigned n = 0;
    for (unsigned slot = 0; slot < VMUX_SLOTS; slot++)
        n += !same_addr(primary_of(old, slot), primary_of(m, slot));
    return n;
}

/* Whether m names a node at a's address (as a primary or a replica). */
static bool names(const struct vmux_slotmap *m, const struct vmux_node_addr *a)
{
    for (size_t s = 0; s < m->nshards; s++)
        for (size_t i = 0; i < m->shards[s].nnodes; i++)
            if (!(m->shards[s].nodes[i].flags & VMUX_NODE_UNKNOWN) &&
                same_addr(&m->shards[s].nodes[i], a))
                return true;
    return false;
}

/*
 * Whether m names a's address before shard s's node i: a patched map may name one node twice
 * (a replica of one shard made the primary of another by a MOVED), and each node is one event.
 */
static bool named_before(const struct vmux_slotmap *m, size_t s, size_t i,
                         const struct vmux_node_addr *a)
{
    for (size_t t = 0; t <= s; t++)
        for (size_t k = 0; k < (t < s ? m->shards[t].nnodes : i); k++)
            if (!(m->shards[t].nodes[k].flags & VMUX_NODE_UNKNOWN) &&
                same_addr(&m->shards[t].nodes[k], a))
                return true;
    return false;
}

size_t vmux__slotmap_new_nodes(const struct vmux_slotmap *old, const struct vmux_slotmap *m,
                               void (*fn)(const struct vmux_node_addr *node, void *arg), void *arg)
{
    size_t n = 0;
    for (size_t s = 0; s < m->nshards; s++) {
        for (size_t i = 0; i < m->shards[s].nnodes; i++) {
            const struct vmux_node_addr *a = &m->shards[s].nodes[i];
            if ((a->flags & VMUX_NODE_UNKNOWN) || names(old, a) || named_before(m, s, i, a))
                continue;
            n++;
            if (fn != NULL)
                fn(a, arg);
        }
    }
    return n;
}

bool vmux__slotmap_names(const struct vmux_slotmap *m, const char *host, int port)
{
    struct vmux_node_addr a = {.host = (char *)host, .port = port};
    return m != NULL && names(m, &a);
}

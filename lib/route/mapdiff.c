/*
 * What changed between two slot maps (route/slotmap.h): the slots whose primary changed, and the
 * nodes one names that the other does not. For the events of every map change (router.c,
 * refresh.c) and for comparing maps (slotmap.c). Nodes go by each map's index of them by
 * address (vmux__slotmap_index(), made with the map).
 * Pure functions, any thread that holds references to both maps, but vmux__slotmap_index(),
 * which writes the map it indexes and only slotmap.c's constructors call.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route/slotmap.h"
#include "vmux/error.h"

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

/*
 * Compares addresses once per run of slots that the two maps give to the same pair of shards
 * (ranges make such runs long): a planned failover's hundreds of MOVEDs each ask this of a map
 * patched once more, and one strcasecmp() per slot made it 1.7 million instructions a MOVED.
 */
unsigned vmux__slotmap_moved_slots(const struct vmux_slotmap *old, const struct vmux_slotmap *m)
{
    unsigned n = 0;
    uint32_t pair = UINT32_MAX; /* no pair of 16-bit indexes */
    bool differs = false;
    for (unsigned slot = 0; slot < VMUX_SLOTS; slot++) {
        uint32_t now = (uint32_t)old->owner[slot] << 16 | m->owner[slot];
        if (now != pair) {
            pair = now;
            differs = !same_addr(primary_of(old, slot), primary_of(m, slot));
        }
        n += differs;
    }
    return n;
}

/* Orders addresses by port, then host without case (same_addr()'s equality). */
static int addr_cmp(const struct vmux_node_addr *a, const struct vmux_node_addr *b)
{
    if (a->port != b->port)
        return a->port < b->port ? -1 : 1;
    return strcasecmp(a->host, b->host);
}

static int byaddr_cmp(const void *x, const void *y)
{
    return addr_cmp(*(const struct vmux_node_addr *const *)x,
                    *(const struct vmux_node_addr *const *)y);
}

int vmux__slotmap_index(struct vmux_slotmap *m)
{
    size_t n = 0, k = 0;
    for (size_t s = 0; s < m->nshards; s++)
        n += m->shards[s].nnodes;
    const struct vmux_node_addr **v = malloc((n > 0 ? n : 1) * sizeof *v);
    if (v == NULL)
        return VMUX_ERR_NOMEM;
    for (size_t s = 0; s < m->nshards; s++)
        for (size_t i = 0; i < m->shards[s].nnodes; i++)
            if (!(m->shards[s].nodes[i].flags & VMUX_NODE_UNKNOWN))
                v[k++] = &m->shards[s].nodes[i];
    qsort(v, k, sizeof *v, byaddr_cmp);
    size_t kept = 0; /* a patched map may name a node twice: once here */
    for (size_t i = 0; i < k; i++)
        if (kept == 0 || addr_cmp(v[kept - 1], v[i]) != 0)
            v[kept++] = v[i];
    free(m->byaddr);
    m->byaddr = v;
    m->nbyaddr = kept;
    return 0;
}

bool vmux__slotmap_names(const struct vmux_slotmap *m, const char *host, int port)
{
    if (m == NULL || host == NULL)
        return false;
    struct vmux_node_addr a = {.host = (char *)host, .port = port};
    const struct vmux_node_addr *key = &a;
    return bsearch(&key, m->byaddr, m->nbyaddr, sizeof *m->byaddr, byaddr_cmp) != NULL;
}

size_t vmux__slotmap_new_nodes(const struct vmux_slotmap *old, const struct vmux_slotmap *m,
                               void (*fn)(const struct vmux_node_addr *node, void *arg), void *arg)
{
    size_t n = 0, i = 0;
    for (size_t k = 0; k < m->nbyaddr; k++) { /* both in address order: one merge */
        while (i < old->nbyaddr && addr_cmp(old->byaddr[i], m->byaddr[k]) < 0)
            i++;
        if (i < old->nbyaddr && addr_cmp(old->byaddr[i], m->byaddr[k]) == 0)
            continue;
        n++;
        if (fn != NULL)
            fn(m->byaddr[k], arg);
    }
    return n;
}

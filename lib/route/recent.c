/*
 * A MOVED outranks a refresh that has not heard of it yet (route/router.h): the node that sends
 * MOVED for a slot knows the slot is not its own, while a refresh may ask a node whose view lags
 * (gossip spreads a failover or a SETSLOT in a second or so). For VMUX_ROUTER_MOVED_TRUST_MS
 * after a MOVED patched a slot, a refreshed map that names another primary for it keeps the
 * patch, and another refresh is asked for; a map that agrees, or one that comes later, is taken
 * as it is. A wrong guess costs one redirect, as the stale map would have. A patch is trusted only
 * until the node it named answers MOVED itself (vmux__router_moved_disowned()): then its shard
 * moved on (a failover undone within seconds, a second failover), and a refresh is taken whole.
 * I/O thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "route/router.h"
#include "route/slotmap.h"

static bool recent(const struct vmux_router *r, unsigned slot, uint32_t now)
{
    uint32_t at = r->moved_at[slot];
    return at != 0 && (uint32_t)(now - at) < VMUX_ROUTER_MOVED_TRUST_MS;
}

void vmux__router_moved_note(struct vmux_router *r, unsigned slot)
{
    if (slot >= VMUX_SLOTS)
        return;
    if (r->moved_at == NULL && (r->moved_at = calloc(VMUX_SLOTS, sizeof *r->moved_at)) == NULL)
        return; /* out of memory: the refresh is taken as it comes */
    uint32_t now = (uint32_t)uv_now(r->loop);
    r->moved_at[slot] = now != 0 ? now : 1; /* 0: never */
    r->moved_last = r->moved_at[slot];
}

void vmux__router_moved_disowned(struct vmux_router *r, unsigned slot)
{
    if (r->moved_at == NULL || r->map == NULL || slot >= VMUX_SLOTS)
        return;
    uint32_t now = (uint32_t)uv_now(r->loop);
    if ((uint32_t)(now - r->moved_last) >= VMUX_ROUTER_MOVED_TRUST_MS)
        return; /* the common case: no patch is trusted any more */
    const struct vmux_shard *s = vmux__slotmap_owner(r->map, slot);
    if (s == NULL)
        return;
    for (unsigned i = 0; i < VMUX_SLOTS; i++)
        if (recent(r, i, now) && vmux__slotmap_owner(r->map, i) == s)
            r->moved_at[i] = 0;
}

/* The primary of slot in m, or NULL (no owner, or no address). */
static const struct vmux_node_addr *primary_of(const struct vmux_slotmap *m, unsigned slot)
{
    const struct vmux_shard *s = vmux__slotmap_owner(m, slot);
    const struct vmux_node_addr *p = s != NULL && s->nnodes > 0 ? &s->nodes[0] : NULL;
    return p != NULL && p->host != NULL ? p : NULL;
}

static bool same_node(const struct vmux_node_addr *a, const struct vmux_node_addr *b)
{
    return b != NULL && a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

/*
 * Whether the MOVED that patched slot in m was a failover's (route/follow.c): m's shard of slot
 * lists fresh_primary, the refreshed map's primary of slot, as a replica (the demoted node), so
 * the patch kept takes the whole shard again; a one-slot patch's shard lists no replica.
 */
static bool promoted(const struct vmux_slotmap *m, unsigned slot,
                     const struct vmux_node_addr *fresh_primary)
{
    const struct vmux_shard *s = vmux__slotmap_owner(m, slot);
    for (size_t i = 1; s != NULL && fresh_primary != NULL && i < s->nnodes; i++)
        if (s->nodes[i].host != NULL && same_node(&s->nodes[i], fresh_primary))
            return true;
    return false;
}

struct vmux_slotmap *vmux__router_keep_moved(struct vmux_router *r, struct vmux_slotmap *fresh,
                                             unsigned *kept_out)
{
    *kept_out = 0;
    if (r->moved_at == NULL || r->map == NULL)
        return fresh;
    uint32_t now = (uint32_t)uv_now(r->loop);
    unsigned kept = 0;
    for (unsigned slot = 0; slot < VMUX_SLOTS; slot++) {
        if (!recent(r, slot, now))
            continue;
        const struct vmux_node_addr *moved = primary_of(r->map, slot);
        if (moved == NULL || same_node(moved, primary_of(fresh, slot)))
            continue;
        struct vmux_slotmap *patched;
        int rc = promoted(r->map, slot, primary_of(fresh, slot))
                     ? vmux__slotmap_failover(fresh, slot, moved->host, strlen(moved->host),
                                              moved->port, &patched)
                     : vmux__slotmap_moved(fresh, slot, moved->host, strlen(moved->host),
                                           moved->port, &patched);
        if (rc != 0)
            break; /* out of memory: the rest as the refresh says */
        vmux__slotmap_unref(fresh);
        fresh = patched;
        kept++;
    }
    if (kept > 0) {
        vmux__log(r->cfg, VMUX_LOG_INFO,
                  "cluster: the refreshed map names other primaries for %u slots a MOVED moved in "
                  "the last %d ms: kept as MOVED said; asking again",
                  kept, VMUX_ROUTER_MOVED_TRUST_MS);
        r->refresh_again = true;
    }
    *kept_out = kept;
    return fresh;
}

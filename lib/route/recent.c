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

/*
 * The slots MOVED patched (struct vmux_router's moved), kept so that a MOVED walks only them: a
 * planned failover's or a resharding's hundreds of MOVEDs, each walking all VMUX_SLOTS, cost
 * milliseconds of the I/O thread. A slot is in slots[0..n) exactly when its at[] is not 0.
 */
struct vmux_moved_marks {
    uint32_t at[VMUX_SLOTS];    /* per slot, loop ms of its last MOVED patch (0: none) */
    uint16_t slots[VMUX_SLOTS]; /* the slots whose at[] is not 0, in no order */
    unsigned n;
    uint32_t last; /* loop ms of the last patch */
};

static bool recent(const struct vmux_router *r, unsigned slot, uint32_t now)
{
    uint32_t at = r->moved->at[slot];
    return at != 0 && (uint32_t)(now - at) < VMUX_ROUTER_MOVED_TRUST_MS;
}

void vmux__router_moved_note(struct vmux_router *r, unsigned slot)
{
    if (slot >= VMUX_SLOTS)
        return;
    if (r->moved == NULL && (r->moved = calloc(1, sizeof *r->moved)) == NULL)
        return; /* out of memory: the refresh is taken as it comes */
    struct vmux_moved_marks *m = r->moved;
    uint32_t now = (uint32_t)uv_now(r->loop);
    if (m->at[slot] == 0)
        m->slots[m->n++] = (uint16_t)slot;
    m->at[slot] = now != 0 ? now : 1; /* 0: never */
    m->last = m->at[slot];
}

/* Forgets every patch: none is trusted any more (each is older than the last). */
static void forget_all(struct vmux_moved_marks *m)
{
    for (unsigned i = 0; i < m->n; i++)
        m->at[m->slots[i]] = 0;
    m->n = 0;
}

/*
 * Walks the patched slots only; forgets those of the shard s, and those no longer trusted
 * (recent() says the same of a 0 as of their old time).
 */
void vmux__router_moved_disowned(struct vmux_router *r, unsigned slot)
{
    struct vmux_moved_marks *m = r->moved;
    if (m == NULL || r->map == NULL || slot >= VMUX_SLOTS)
        return;
    uint32_t now = (uint32_t)uv_now(r->loop);
    if ((uint32_t)(now - m->last) >= VMUX_ROUTER_MOVED_TRUST_MS) {
        forget_all(m); /* the common case: no patch is trusted any more (n is 0 after the first) */
        return;
    }
    const struct vmux_shard *s = vmux__slotmap_owner(r->map, slot);
    if (s == NULL)
        return;
    unsigned kept = 0;
    for (unsigned i = 0; i < m->n; i++) {
        unsigned at = m->slots[i];
        if (recent(r, at, now) && vmux__slotmap_owner(r->map, at) != s)
            m->slots[kept++] = (uint16_t)at;
        else
            m->at[at] = 0;
    }
    m->n = kept;
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
    if (r->moved == NULL || r->map == NULL)
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

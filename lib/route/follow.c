/*
 * Following MOVED and ASK (route/router.h, vmux__router_redirect()): the redirect's target (an
 * unknown host, "?", is the map's one node at that port), the map patched by a MOVED (and
 * VMUX_EVENT_SLOT_MOVED), ASKING before the op on the target, a MOVED naming the node that sent
 * it, a MOVED back to the node that redirected the op last (a ping-pong: bounce.c), a target
 * that stays unknown, the redirect beyond the limit (VMUX_ERR_REDIRECT_LOOP), and a blocking read
 * from "$" answered MOVED, which is not sent again (VMUX_OP_FROM_NOW). The parsing of
 * the reply is redirect.c's. I/O thread only.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/counters.h"
#include "core/errclass.h"
#include "core/log.h"
#include "core/reply_internal.h"
#include "route/redirect.h"
#include "route/router.h"
#include "vmux/error.h"

/* Where a redirect points: host NULL when it cannot be dialled ("?", or an empty host asked of
 * a link whose host is not known, and no node of the map to take it for). */
struct target {
    const char *host;
    size_t hostlen;
    int port;
    bool from_map; /* host is the map's (r->map must outlive its use) */
};

/*
 * The host of the one node of the map (primary or replica, with an address) at port, other than
 * link's: who a redirect to "?" means. NULL when no node, or several (on several machines that
 * use one port: the port does not tell them apart, and a MOVED to the wrong one would patch the
 * map wrongly), is there.
 */
static const char *host_by_port(const struct vmux_router *r, const struct vmux_link *link, int port)
{
    if (r->map == NULL)
        return NULL;
    const char *found = NULL;
    for (size_t s = 0; s < r->map->nshards; s++)
        for (size_t i = 0; i < r->map->shards[s].nnodes; i++) {
            const struct vmux_node_addr *n = &r->map->shards[s].nodes[i];
            if ((n->flags & VMUX_NODE_UNKNOWN) || n->port != port ||
                vmux__router_link_is(r, link, n->host, port))
                continue;
            if (found != NULL && strcasecmp(found, n->host) != 0)
                return NULL;
            found = n->host;
        }
    return found;
}

static struct target target_of(const struct vmux_router *r, const struct vmux_link *link,
                               const struct vmux_redirect *rd)
{
    struct target t = {.port = rd->port};
    if (!rd->unknown) {
        t.host = rd->asked ? vmux__router_link_host(r, link) : rd->host;
        t.hostlen = rd->asked ? (t.host != NULL ? strlen(t.host) : 0) : rd->hostlen;
    }
    if (t.host == NULL && (t.host = host_by_port(r, link, rd->port)) != NULL) {
        t.hostlen = strlen(t.host);
        t.from_map = true;
    }
    return t;
}

/* What op->redirector holds for link's node. */
static uint32_t redirector(const struct vmux_router *r, const struct vmux_link *link)
{
    return vmux__router_link_id(r, link) + 1u;
}

/*
 * The redirect beyond VMUX_ROUTER_MAX_REDIRECTS: completes op with VMUX_ERR_REDIRECT_LOOP and an
 * error reply (ours) naming the slot and the target it would have gone to next; takes reply.
 */
static void redirect_loop(struct vmux_router *r, struct vmux_op *op, const struct vmux_redirect *rd,
                          const struct target *t, vmux_reply *reply)
{
    char why[400];
    bool v6 = t->host != NULL && memchr(t->host, ':', t->hostlen) != NULL;
    int n = snprintf(why, sizeof why,
                     "REDIRECT_LOOP slot %u: redirected %d times, then %s to %s%.*s%s:%d; given up "
                     "(not executed)",
                     rd->slot, VMUX_ROUTER_MAX_REDIRECTS,
                     rd->kind == VMUX_REDIRECT_MOVED ? "MOVED" : "ASK", v6 ? "[" : "",
                     t->host != NULL ? (int)t->hostlen : 1, t->host != NULL ? t->host : "?",
                     v6 ? "]" : "", t->port);
    vmux_reply_free(reply); /* after: t->host may point into it */
    vmux__log(r->cfg, VMUX_LOG_WARN, "cluster: %s", why);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof why ? (size_t)n : sizeof why - 1;
    vmux__op_finish(op, VMUX_ERR_REDIRECT_LOOP, vmux__reply_new_str(VMUX_REPLY_ERROR, why, len));
}

/* An op of slot goes on elsewhere: the owner hears of it (r->redirected). */
static void note_redirect(struct vmux_router *r, unsigned slot)
{
    if (r->redirected != NULL)
        r->redirected(r->redirected_arg, slot);
}

/*
 * No address to send op to ("?", answered on link): it waits for a refreshed map that names its
 * slot's owner, with link's node id in op->bounce.to (free outside a FIFO: the words of its
 * deadline, route/waited.c).
 */
static void wait_for_owner(struct vmux_router *r, const struct vmux_link *link, struct vmux_op *op,
                           unsigned slot)
{
    note_redirect(r, slot);
    if (op->slot < 0)
        op->slot = (int32_t)slot; /* the server told its slot: route it by that from now on */
    op->bounce.to = vmux__router_link_id(r, link);
    vmux__opq_push(&r->unowned, op);
    vmux__router_refresh_soon(r);
}

/*
 * How long a node's word that a failover demoted it (READONLY, UNBLOCKED) stays a sign that its
 * MOVED to its own replica is the failover's.
 */
#define DEMOTED_SIGN_MS 5000

/*
 * Whether a failover explains a MOVED of old's slot to a node the map lists as a replica of
 * old's shard: old's link lost its connection (a primary that died), or old said lately it was
 * demoted. Without a sign the MOVED is one slot's (a replica reset and reused as a primary of its
 * own gets slots one by one: its old shard swapped to it would send the shard's commands there,
 * to come back MOVED), and the refresh it asks for tells a failover the rest of the shard.
 */
static bool failover_sign(const struct vmux_router *r, const struct vmux_node_addr *old)
{
    const struct vmux_link *link =
        old != NULL && old->host != NULL ? vmux__router_link_of(r, old->host, old->port) : NULL;
    return link != NULL && (vmux__link_down_after_failure(link) ||
                            vmux__link_demoted_within(link, DEMOTED_SIGN_MS));
}

static bool is_node(const struct vmux_node_addr *n, const struct target *t)
{
    return n != NULL && n->host != NULL && n->port == t->port && strlen(n->host) == t->hostlen &&
           strncasecmp(n->host, t->host, t->hostlen) == 0;
}

/*
 * A MOVED: the map names t's node the slot's primary from now on, unless it does already (many
 * ops of one slot may hear the same MOVED); then VMUX_EVENT_SLOT_MOVED. With a failover's sign
 * (failover_sign()), a replica of the slot's shard takes the whole shard.
 */
static void patch_moved(struct vmux_router *r, unsigned slot, const struct target *t)
{
    const struct vmux_shard *s = vmux__slotmap_owner(r->map, slot);
    const struct vmux_node_addr *old = s != NULL && s->nnodes > 0 ? &s->nodes[0] : NULL;
    if (is_node(old, t))
        return;
    char from[300], to[300], why[700];
    snprintf(from, sizeof from, "%s:%d", old != NULL && old->host ? old->host : "(none)",
             old != NULL ? old->port : 0);
    snprintf(to, sizeof to, "%.*s:%d", (int)t->hostlen, t->host, t->port);
    vmux__router_moved_disowned(r, slot); /* old's recent patches no longer outrank a refresh */
    struct vmux_slotmap *map;
    int rc = failover_sign(r, old)
                 ? vmux__slotmap_failover(r->map, slot, t->host, t->hostlen, t->port, &map)
                 : vmux__slotmap_moved(r->map, slot, t->host, t->hostlen, t->port, &map);
    if (rc != 0)
        return; /* out of memory: the refresh that follows will say */
    unsigned moved = vmux__slotmap_moved_slots(r->map, map); /* a promoted replica: its shard's */
    vmux__router_set_map(r, map);
    vmux__router_read_modes(r);
    vmux__router_moved_note(r, slot);
    if (moved > 1)
        snprintf(why, sizeof why,
                 "slot %u moved from %s to %s, a replica of its shard promoted: the shard's %u "
                 "slots with it",
                 slot, from, to, moved);
    else
        snprintf(why, sizeof why, "slot %u moved from %s to %s", slot, from, to);
    vmux__log(r->cfg, VMUX_LOG_DEBUG, "cluster: %s", why);
    vmux__event(r->cfg, VMUX_EVENT_SLOT_MOVED, 0, to, why);
}

void vmux__router_moved(struct vmux_router *r, unsigned slot, const char *host, size_t hostlen,
                        int port)
{
    if (vmux__router_mode(r) != VMUX_ROUTER_CLUSTER || r->map == NULL || slot >= VMUX_SLOTS)
        return;
    struct target t = {.host = host, .hostlen = hostlen, .port = port};
    patch_moved(r, slot, &t);
    vmux__router_refresh_soon(r);
}

/* What a MOVED to to, another node than the one that sent it, says about op's slot (follow()). */
enum moved_kind {
    MOVED_NEW,    /* the slot moved: the map is patched, op sent there */
    MOVED_BACK,   /* a ping-pong, or part of one its slot's other ops wait out: op bounced */
    MOVED_ONWARD, /* to a node outside the ping-pong its slot's ops wait out: the slot moved on */
};

static enum moved_kind moved_kind(const struct vmux_router *r, const struct vmux_link *to,
                                  const struct vmux_op *op, unsigned slot)
{
    if (op->redirector == redirector(r, to))
        return MOVED_BACK;
    if (!vmux__router_bouncing(r, (int)slot))
        return MOVED_NEW;
    if (vmux__router_bounce_between(r, (int)slot, vmux__router_link_id(r, to)) ||
        op->slot != (int32_t)slot) /* one not counted under the slot goes behind, no patch */
        return MOVED_BACK;
    return MOVED_ONWARD;
}

/*
 * Follows a MOVED or ASK to t; false when out of memory (the reply then completes op). A MOVED
 * back to the node that redirected op last is a ping-pong (the nodes disagree for a moment, as
 * during a migration whose SETSLOT NODE reached the source first): neither is trusted with the
 * map (the refresh asked for decides), and op goes back after a backoff (bounce.c). So does a
 * MOVED for a slot whose other ops wait out a ping-pong, to one of its two nodes: op met the same
 * disagreement at another stage (submitted once the map named the node that sent it back), and
 * goes behind them. One to a third node says the slot moved on: the map is patched, and the
 * waiting ops go there, op behind them (vmux__router_bounce_onward()).
 */
static bool follow(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op,
                   const struct vmux_redirect *rd, const struct target *t, vmux_reply *reply)
{
    if (rd->kind == VMUX_REDIRECT_MOVED && link == r->seed &&
        vmux__router_seed_alias(r, t->host, t->hostlen, t->port))
        vmux__router_seed_mismatch(r); /* the seed link reached another node than its id said */
    struct vmux_link *to = vmux__router_node_link(r, t->host, t->hostlen, t->port);
    if (to == NULL)
        return false;
    bool pooled = op->flags & VMUX_OP_BLOCKING;
    enum moved_kind kind =
        rd->kind == VMUX_REDIRECT_MOVED && to != link ? moved_kind(r, to, op, rd->slot) : MOVED_NEW;
    op->redirector = redirector(r, link);
    if (rd->kind == VMUX_REDIRECT_MOVED) {
        vmux__count(&r->ctr->moved, 1);
        if (kind != MOVED_BACK)
            patch_moved(r, rd->slot, t);
        op->flags |= VMUX_OP_TO_PRIMARY; /* a replica's MOVED too: the primary serves it */
        op->flags &= ~(uint32_t)VMUX_OP_ASKED;
    } else if (pooled) {
        vmux__count(&r->ctr->asked, 1);
        op->flags |= VMUX_OP_ASKING | VMUX_OP_ASKED; /* sent by the pool link that runs it */
    } else if (vmux__link_asking(to) != 0) {
        return false;
    } else {
        vmux__count(&r->ctr->asked, 1);
        op->flags |= VMUX_OP_ASKED; /* a TRYAGAIN there: sent again after ASKING (net/link.c) */
    }
    op->redirects++;
    note_redirect(r, rd->slot);
    vmux_reply_free(reply); /* last: t->host may point into it */
    vmux__pool_detach(op);  /* the pool link that ran it is free */
    bool to_itself = rd->kind == VMUX_REDIRECT_MOVED && to == link && !pooled;
    if (kind == MOVED_ONWARD && vmux__router_bounce_onward(r, link, to, op))
        return true;
    if (kind == MOVED_BACK || (to_itself && vmux__link_replaced_lately(link)))
        vmux__router_bounce(r, link, to, op); /* a second MOVED to itself: no reconnect storm */
    else if (to_itself)
        vmux__link_replace_conn(link, op, "MOVED names the node that sent it");
    else
        vmux__router_forward(r, to, op);
    return true;
}

/*
 * A blocking read from "$" (VMUX_OP_FROM_NOW) answered by a MOVED: its block may have ended so
 * (its slot moved, or its node was demoted), which the client cannot tell from a MOVED that came
 * at once, so it is not sent again (its "$" would wait from a later moment there). The map is
 * patched all the same (unless the slot's ops wait out a ping-pong: the refresh decides) for the
 * caller's next read. An ASK never ends a block (a node ends its blocked clients' waits with
 * MOVED, CLUSTERDOWN or UNBLOCKED only), so an ASK came at once and is followed. Takes reply.
 */
static void end_from_now(struct vmux_router *r, struct vmux_op *op, enum vmux_router_mode mode,
                         const struct vmux_redirect *rd, const struct target *t, vmux_reply *reply)
{
    if (mode == VMUX_ROUTER_CLUSTER) {
        if (t->host != NULL && !vmux__router_bouncing(r, (int)rd->slot))
            patch_moved(r, rd->slot, t);
        vmux__router_refresh_soon(r);
    }
    vmux__op_finish_from_now(op, reply, /* last: t->host may point into reply */
                             "redirected by MOVED once written (its slot moved, or its node was "
                             "demoted, while it blocked or before: the two look alike)");
}

/* vmux__router_redirect() for a redirect rd to t, in mode (DETECTING or CLUSTER). */
static bool take(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op,
                 enum vmux_router_mode mode, const struct vmux_redirect *rd, const struct target *t,
                 vmux_reply *reply)
{
    if ((op->flags & VMUX_OP_FROM_NOW) && rd->kind == VMUX_REDIRECT_MOVED) {
        end_from_now(r, op, mode, rd, t, reply);
        return true;
    }
    if (op->redirects >= VMUX_ROUTER_MAX_REDIRECTS) {
        redirect_loop(r, op, rd, t, reply);
        return true;
    }
    if (mode == VMUX_ROUTER_DETECTING) {
        /* sent from the backlog before the answer: routed by slot once the map is loaded */
        op->redirects++;
        vmux_reply_free(reply);
        vmux__pool_detach(op);
        vmux__router_park(r, op);
        return true;
    }
    if (rd->kind == VMUX_REDIRECT_MOVED)
        vmux__router_refresh_soon(r);
    if (t->host == NULL) {
        op->redirects++;
        vmux_reply_free(reply);
        vmux__pool_detach(op);
        wait_for_owner(r, link, op, rd->slot);
        return true;
    }
    return follow(r, link, op, rd, t, reply);
}

bool vmux__router_redirect(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op,
                           vmux_reply *reply)
{
    size_t len;
    const char *msg = vmux_reply_str(reply, &len);
    struct vmux_redirect rd;
    enum vmux_router_mode mode = vmux__router_mode(r);
    if (mode == VMUX_ROUTER_STANDALONE || mode == VMUX_ROUTER_FAILED)
        return false;
    if (vmux__errclass(msg, len) == VMUX_ERRCLASS_CLUSTERDOWN) {
        /* the link retries a retry-safe op; the map may know a new primary by then */
        if (mode == VMUX_ROUTER_CLUSTER)
            vmux__router_refresh_soon(r);
        return false;
    }
    if (vmux__redirect_parse(msg, len, &rd) != 1)
        return false;
    struct target t = target_of(r, link, &rd);
    /* t.host may be the map's, and a MOVED's patch replaces the map */
    struct vmux_slotmap *held = t.from_map ? vmux__slotmap_ref(r->map) : NULL;
    r->redirecting++; /* a map it patches moves the pools' waiting ops after op (router.c) */
    bool took = take(r, link, op, mode, &rd, &t, reply);
    r->redirecting--;
    vmux__slotmap_unref(held);
    if (r->redirecting == 0 && r->follow_pending) {
        r->follow_pending = false;
        vmux__router_follow_blocking(r);
    }
    return took;
}

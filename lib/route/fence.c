/*
 * Fences (route/router.h, struct vmux_router_fence): one thread's order across a slot's move.
 * When the map gives a slot another primary, the ops already written to the old one come back
 * one by one with MOVED and are resent then (follow.c), while an op submitted after the change
 * would go straight to the new primary and could run before them. So the new ops of such a slot
 * wait here, in order, until the old primary's connection holds none of its ops any more (nor the
 * router a bounced one: a ping-pong's backoff), that connection ends, or
 * VMUX_ROUTER_FENCE_CAP_MS pass; then they go on through vmux__router_send(). An op sent again
 * after a ping-pong's backoff (bounce.c) raises one on the link it goes to, for its slot: it may
 * come back with MOVED as well, and a new op of its slot, sent by the map to the ping-pong's other
 * node, would run there before it. That fence counts the ops that wait on the link too (for a
 * connection, or a refusal's retry: vmux__link_slots_held()), and one raised while the link had no
 * connection stands across the next: the op is written there once it comes; so does one whose op
 * waits out a refusal there as the connection ends (conn_ended()). The check runs once a loop turn
 * (a uv_check handle, active only while a fence stands) and walks the old link's FIFO (and its
 * queues, for a resent op's): work bounded by what that link holds, spared while no op left the
 * link since the last walk found one (link_holds()). A timer runs it at the oldest
 * fence's cap too: a hung old primary sends nothing to wake the loop, whose next wake-up may be the
 * tick a second later (review of the router). I/O thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "route/router.h"
#include "vmux/error.h"

_Static_assert(VMUX_LINK_SLOTS == VMUX_SLOTS, "net/link.h's slot count is the cluster's");

static bool bit(const uint8_t *slots, unsigned s)
{
    return slots[s / 8] & (1u << (s % 8));
}

static void on_fence_check(uv_check_t *h);
static void on_fence_timer(uv_timer_t *t);

void vmux__router_fence_init(struct vmux_router *r)
{
    uv_check_init(r->loop, &r->fence_check);
    uv_timer_init(r->loop, &r->fence_timer);
    r->fence_check.data = r->fence_timer.data = r;
}

/* Sets the timer for the oldest standing fence's cap, or stops both handles when none stands. */
static void arm_cap(struct vmux_router *r)
{
    if (r->nfences == 0) {
        uv_check_stop(&r->fence_check);
        uv_timer_stop(&r->fence_timer);
        return;
    }
    uint64_t now = uv_now(r->loop), due = r->fences[0]->start_ms + VMUX_ROUTER_FENCE_CAP_MS;
    uv_timer_start(&r->fence_timer, on_fence_timer, due > now ? due - now : 0, 0);
}

/* Whether shard i of old and shard j of map (VMUX_SLOT_NO_OWNER: none) have the same primary. */
static bool same_primary(const struct vmux_slotmap *old, unsigned i, const struct vmux_slotmap *map,
                         unsigned j)
{
    if (j == VMUX_SLOT_NO_OWNER || map->shards[j].nnodes == 0)
        return false;
    const struct vmux_node_addr *a = &old->shards[i].nodes[0], *b = &map->shards[j].nodes[0];
    return !(b->flags & VMUX_NODE_UNKNOWN) && a->port == b->port &&
           strcasecmp(a->host, b->host) == 0;
}

/* The link of shard i's primary in old, when it has an address and the router a link to it. */
static struct vmux_link *old_link(const struct vmux_router *r, const struct vmux_slotmap *old,
                                  unsigned i)
{
    const struct vmux_shard *s = &old->shards[i];
    if (s->nnodes == 0 || (s->nodes[0].flags & VMUX_NODE_UNKNOWN))
        return NULL;
    return vmux__router_link_of(r, s->nodes[0].host, s->nodes[0].port);
}

/* The fence standing on link's current connection (or raised while it had none), or NULL. */
static struct vmux_router_fence *fence_on(struct vmux_router *r, const struct vmux_link *link)
{
    for (unsigned i = 0; i < r->nfences; i++) {
        const struct vmux_router_fence *f = r->fences[i];
        if (f->link == link && (f->conn_gen == vmux__link_conn_gen(link) || f->conn_gen == 0))
            return r->fences[i];
    }
    return NULL;
}

/*
 * Fences slots on link: those of its connection's in-flight ops that changed primary, or, queued,
 * a resent op's, which may wait on link (then its waiting ops count too).
 */
static void fence(struct vmux_router *r, struct vmux_link *link, const uint8_t *slots, bool queued)
{
    struct vmux_router_fence *f = fence_on(r, link);
    if (f != NULL) {
        for (size_t i = 0; i < sizeof f->slots; i++)
            f->slots[i] |= slots[i];
        f->queued |= queued;
        return;
    }
    if (r->nfences == VMUX_ROUTER_MAX_FENCES || (f = calloc(1, sizeof *f)) == NULL) {
        vmux__log(r->cfg, VMUX_LOG_DEBUG,
                  "cluster: no fence for slots that moved with commands in flight (%u standing): "
                  "their order is not kept",
                  r->nfences);
        return;
    }
    f->r = r;
    f->link = link;
    f->held.waited = vmux__router_held_words;
    f->conn_gen = vmux__link_conn_gen(link);
    f->queued = queued;
    f->start_ms = uv_now(r->loop);
    memcpy(f->slots, slots, sizeof f->slots);
    r->fences[r->nfences++] = f;
    if (r->nfences == 1) {
        uv_check_start(&r->fence_check, on_fence_check);
        arm_cap(r);
    }
}

/* The fence for old shard i's slots that map gives another primary (changed marks them). */
static void raise_shard(struct vmux_router *r, const struct vmux_slotmap *old, unsigned i,
                        const uint8_t *changed)
{
    struct vmux_link *link = old_link(r, old, i);
    if (link == NULL || vmux__link_conn_gen(link) == 0)
        return;
    uint8_t mine[VMUX_SLOTS / 8] = {0}, held[VMUX_SLOTS / 8] = {0};
    for (unsigned s = 0; s < VMUX_SLOTS; s++)
        if (old->owner[s] == i && bit(changed, s))
            mine[s / 8] |= (uint8_t)(1u << (s % 8));
    if (vmux__link_slots_in_flight(link, mine, held))
        fence(r, link, held, false);
}

void vmux__router_fence_raise(struct vmux_router *r, const struct vmux_slotmap *old,
                              const struct vmux_slotmap *map)
{
    if (uv_is_closing((uv_handle_t *)&r->fence_check))
        return;
    uint8_t changed[VMUX_SLOTS / 8] = {0};
    unsigned from[VMUX_ROUTER_MAX_FENCES], nfrom = 0, pi = VMUX_SLOT_NO_OWNER,
                                           pj = VMUX_SLOT_NO_OWNER;
    bool moved = false;
    for (unsigned s = 0; s < VMUX_SLOTS; s++) {
        unsigned i = old->owner[s], j = map->owner[s];
        if (i == VMUX_SLOT_NO_OWNER || old->shards[i].nnodes == 0 ||
            (old->shards[i].nodes[0].flags & VMUX_NODE_UNKNOWN))
            continue;
        if (i != pi || j != pj) { /* slots come in ranges: one comparison per range */
            pi = i;
            pj = j;
            moved = !same_primary(old, i, map, j);
        }
        if (!moved)
            continue;
        changed[s / 8] |= (uint8_t)(1u << (s % 8));
        bool known = false;
        for (unsigned k = 0; k < nfrom && !known; k++)
            known = from[k] == i;
        if (!known && nfrom < VMUX_ROUTER_MAX_FENCES)
            from[nfrom++] = i;
    }
    for (unsigned k = 0; k < nfrom; k++)
        raise_shard(r, old, from[k], changed);
}

void vmux__router_fence_resent(struct vmux_router *r, struct vmux_link *link, int slot)
{
    if (slot < 0 || slot >= VMUX_SLOTS || uv_is_closing((uv_handle_t *)&r->fence_check))
        return;
    struct vmux_router_fence *f = fence_on(r, link);
    if (f != NULL && bit(f->slots, (unsigned)slot)) {
        f->queued = true; /* the op may wait on link: no walk per op of a bounced pipeline */
        return;
    }
    uint8_t mine[VMUX_SLOTS / 8] = {0};
    mine[slot / 8] = (uint8_t)(1u << (slot % 8));
    if (vmux__link_slots_held(link, mine)) /* written or waiting there, not answered at once */
        fence(r, link, mine, true);
}

bool vmux__router_fence_hold(struct vmux_router *r, struct vmux_op *op)
{
    for (unsigned i = 0; i < r->nfences; i++)
        if (bit(r->fences[i]->slots, (unsigned)op->slot)) {
            vmux__opq_push(&r->fences[i]->held, op);
            return true;
        }
    return false;
}

/* Whether an op of f's slots waits out a ping-pong (bounce.c): its slots' counts, not a walk of
 * the waiting ops, which may be many. */
static bool bounced_of(const struct vmux_router *r, const struct vmux_router_fence *f)
{
    if (r->bounced.head == NULL)
        return false;
    for (unsigned i = 0; i < sizeof f->slots; i++)
        for (unsigned s = i * 8; f->slots[i] != 0 && s < i * 8 + 8; s++)
            if (bit(f->slots, s) && vmux__router_bouncing(r, (int)s))
                return true;
    return false;
}

static const char CAPPED[] = "capped";

/*
 * Whether f's connection ended. One raised while its link had none (conn_gen 0: a resent op waits
 * there) takes the connection the link has at its next check: the op waits for it or is written
 * on it, or is gone (answered, failed: then nothing of its slot is held there and f lifts). So
 * does a resent op's whose slots' ops wait out a refusal on the link (TRYAGAIN's retry, the next
 * connection after a MOVED naming the node itself, or READONLY's on a standalone server's link):
 * those queues outlast the connection, and lifted, f's ops went by the map
 * and ran before them (review helper-197).
 */
static bool conn_ended(struct vmux_router_fence *f)
{
    uint64_t gen = vmux__link_conn_gen(f->link);
    if (f->conn_gen == 0)
        f->conn_gen = gen;
    if (gen == f->conn_gen)
        return false;
    if (!f->queued || !vmux__link_slots_refused(f->link, f->slots))
        return true;
    f->conn_gen = gen; /* 0 while the link has none: then the next one */
    return false;
}

/*
 * Whether f's link holds an op of its slots: written, or, for a resent op's, waiting there. The
 * walk, which may pass thousands of other ops a loop turn, is spared while no op left the link
 * since the last one found an op of f's slots: it is still there (more slots or queued since
 * then only hold more).
 */
static bool link_holds(struct vmux_router_fence *f)
{
    uint64_t gen = vmux__link_conn_gen(f->link), left = vmux__link_left(f->link);
    if (f->walked && gen == f->walked_gen && left == f->walked_left)
        return true;
    f->walked = f->queued ? vmux__link_slots_held(f->link, f->slots)
                          : vmux__link_slots_in_flight(f->link, f->slots, NULL);
    f->walked_gen = gen;
    f->walked_left = left;
    return f->walked;
}

/* Why f may be lifted now (CAPPED at the cap), or NULL while it must stand. */
static const char *lift_why(struct vmux_router *r, struct vmux_router_fence *f, uint64_t now)
{
    if (conn_ended(f))
        return "the old primary's connection ended";
    if (now - f->start_ms >= VMUX_ROUTER_FENCE_CAP_MS)
        return CAPPED;
    if (!link_holds(f) && !bounced_of(r, f))
        return "answered";
    return NULL;
}

/*
 * Whether op, of f's link's backlog, went on: one of f's slots goes behind the ops of its slot
 * that wait out a ping-pong (bounce.c), which were written before it and came back (sent to the
 * new primary at once, it ran there before them once the nodes agreed), else to its slot's
 * primary (vmux__router_retry(): not a pinned, blocking or pooled op, which stays).
 */
static bool requeued_on(struct vmux_router *r, const struct vmux_router_fence *f,
                        struct vmux_op *op)
{
    const uint32_t stay = VMUX_OP_BLOCKING | VMUX_OP_POOLED | VMUX_OP_PINNED;
    if (op->slot < 0 || op->slot >= VMUX_SLOTS || !bit(f->slots, (unsigned)op->slot))
        return false;
    if (!(op->flags & stay) && vmux__router_bounce_behind(r, op))
        return true;
    return vmux__router_retry(r, f->link, op);
}

/*
 * Sends the ops of f's slots that wait in its link's backlog on now (requeued_on()): a
 * connection that ended put its retry-safe ones there, older than every held op, and they would
 * otherwise wait to reconnect to the old primary and hear MOVED there, after the held ones ran
 * (so would a resent op that waits there for a connection). Like resends, they pass younger
 * fences.
 */
static void send_requeued(struct vmux_router *r, const struct vmux_router_fence *f)
{
    struct vmux_opq q = {0}, stay = {0};
    vmux__link_take_backlog(f->link, &q);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL)
        if (!requeued_on(r, f, op))
            vmux__opq_push(&stay, op);
    vmux__link_return_backlog(f->link, &stay);
}

/* Takes fence i down and sends its ops on, in order (into a younger fence on their slot, if any),
 * after the older ones of its slots its link's backlog holds. */
static void lift(struct vmux_router *r, unsigned i, const char *why)
{
    struct vmux_router_fence *f = r->fences[i];
    memmove(&r->fences[i], &r->fences[i + 1], (r->nfences - i - 1) * sizeof *r->fences);
    r->nfences--;
    arm_cap(r);
    bool capped = why == CAPPED;
    if (capped || f->held.count > 0)
        vmux__log(r->cfg, VMUX_LOG_DEBUG,
                  "cluster: fence lifted (%s) after %llu ms: %zu commands held go on%s", why,
                  (unsigned long long)(uv_now(r->loop) - f->start_ms), f->held.count,
                  capped ? ", their order past older ones in flight not kept" : "");
    send_requeued(r, f);
    struct vmux_opq q = {0};
    vmux__opq_take(&q, &f->held);
    free(f);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL)
        vmux__router_send(r, op);
}

static void check_fences(struct vmux_router *r)
{
    uint64_t now = uv_now(r->loop);
    for (unsigned i = 0; i < r->nfences;) {
        const char *why = lift_why(r, r->fences[i], now);
        if (why != NULL)
            lift(r, i, why); /* the next fence moved to i */
        else
            i++;
    }
}

static void on_fence_check(uv_check_t *h)
{
    check_fences(h->data);
}

static void on_fence_timer(uv_timer_t *t)
{
    check_fences(t->data);
}

void vmux__router_fence_lift_link(struct vmux_router *r, const struct vmux_link *link)
{
    for (unsigned i = 0; i < r->nfences;) {
        if (r->fences[i]->link == link)
            lift(r, i, "the old primary's link closes");
        else
            i++;
    }
}

void vmux__router_fence_close(struct vmux_router *r)
{
    struct vmux_router_fence *fences[VMUX_ROUTER_MAX_FENCES];
    unsigned n = r->nfences;
    memcpy(fences, r->fences, n * sizeof *fences);
    r->nfences = 0; /* a callback's new op is not held any more */
    uv_check_stop(&r->fence_check);
    uv_close((uv_handle_t *)&r->fence_check, NULL);
    uv_close((uv_handle_t *)&r->fence_timer, NULL);
    for (unsigned i = 0; i < n; i++) {
        vmux__opq_fail_all(&fences[i]->held, VMUX_ERR_CLOSED);
        free(fences[i]);
    }
}

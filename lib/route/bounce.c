/*
 * A MOVED ping-pong (route/router.h, vmux__router_bounce()). When CLUSTER SETSLOT <slot> NODE
 * reaches a migration's source before its destination, the source answers MOVED to the
 * destination while the destination, still importing, answers MOVED back to the source: the
 * cluster's nodes disagree for a moment. Resent at once, a command would spend its
 * VMUX_ROUTER_MAX_REDIRECTS in a millisecond; so a MOVED back to the node that redirected the op
 * last (follow.c decides) puts the op here, out of every link, for a jittered backoff that
 * doubles with its redirects, as TRYAGAIN's does (net/link.c), and then sends it to that node
 * again. Its deadline may end it here (VMUX_ERR_TIMEOUT, from the deadline index). The ops go
 * again in the order they came back: one is never due before the one ahead of it (which may
 * lengthen its wait to that one's); and while ops of a slot wait here, the slot's other ops wait
 * behind them (a new one, or one whose MOVED comes meanwhile: it met the same disagreement at
 * another stage; one whose MOVED names a third node takes them all there, the slot moved on), so
 * a pipeline of one slot stays in order. One timer serves
 * every waiting op, set for the head's due. A shard channel's SSUBSCRIBE meets the same
 * ping-pong and waits by the same rule (vmux__router_backoff_ms(), mux/pubsub_bounce.c). I/O
 * thread only.
 */
#include <stddef.h>
#include <stdlib.h>

#include "core/assert.h"
#include "core/backoff.h"
#include "core/log.h"
#include "route/router.h"
#include "vmux/error.h"

/*
 * The backoff after an op's first redirect (jittered: half to all of it), doubling after each:
 * a ping-pong needs two redirects, so its first backoff is 10 to 20 ms, then 20 to 40, 40 to 80
 * and 80 to 160: 150 to 300 ms in all before a lasting ping-pong's sixth redirect ends it.
 */
#define BOUNCE_FIRST_MS 10u
#define BOUNCE_LAST_MS 500u

static void on_bounce_timer(uv_timer_t *t);
static void on_expired(struct vmux_opq *q, const struct vmux_op *op);

void vmux__router_bounce_init(struct vmux_router *r)
{
    uv_timer_init(r->loop, &r->bounce_timer);
    r->bounce_timer.data = r;
    r->bounced.expired = on_expired;
}

uint32_t vmux__router_backoff_ms(struct vmux_router *r, unsigned redirects, uint32_t cap_ms)
{
    r->rng = r->rng * 6364136223846793005ull + 1442695040888963407ull;
    return vmux__backoff_jitter(vmux__backoff_span(redirects, BOUNCE_FIRST_MS, cap_ms),
                                r->rng >> 33);
}

/* Sets the timer for delay ms from now unless it is set for earlier already. */
static void arm(struct vmux_router *r, uint64_t delay)
{
    uint64_t due = uv_now(r->loop) + delay;
    if (uv_is_active((uv_handle_t *)&r->bounce_timer) && r->bounce_due <= due)
        return;
    r->bounce_due = due;
    uv_timer_start(&r->bounce_timer, on_bounce_timer, delay, 0);
}

/* The count of op's slot, NULL when op has no slot or nothing is counted (no memory). */
static struct vmux_bounce_slot *slot_of(const struct vmux_router *r, const struct vmux_op *op)
{
    bool keyed = op->slot >= 0 && op->slot < VMUX_SLOTS;
    return keyed && r->bounce_slots != NULL ? &r->bounce_slots[op->slot] : NULL;
}

/* op left the queue (sent again, or its deadline came). */
static void left(struct vmux_router *r, const struct vmux_op *op)
{
    struct vmux_bounce_slot *b = slot_of(r, op);
    if (b != NULL && b->n > 0)
        b->n--;
}

static void on_expired(struct vmux_opq *q, const struct vmux_op *op)
{
    left((struct vmux_router *)(void *)((char *)q - offsetof(struct vmux_router, bounced)), op);
}

bool vmux__router_bouncing(const struct vmux_router *r, int slot)
{
    return slot >= 0 && slot < VMUX_SLOTS && r->bounce_slots != NULL && r->bounce_slots[slot].n > 0;
}

bool vmux__router_bounce_between(const struct vmux_router *r, int slot, uint32_t node)
{
    if (!vmux__router_bouncing(r, slot))
        return false;
    const struct vmux_bounce_slot *b = &r->bounce_slots[slot];
    return node == b->to || node == b->from;
}

/*
 * Queues op, due at due_ms, to go to the node of id to (sent back by the node of id from), counted
 * under its slot. Without memory for the counts, the ops of a slot still go in the order they
 * came, but new ones do not wait behind them (logged).
 */
static void push(struct vmux_router *r, struct vmux_op *op, uint32_t due_ms, uint32_t to,
                 uint32_t from)
{
    if (r->bounce_slots == NULL &&
        (r->bounce_slots = calloc(VMUX_SLOTS, sizeof *r->bounce_slots)) == NULL)
        vmux__log(r->cfg, VMUX_LOG_DEBUG,
                  "cluster: no memory to count the commands waiting out a MOVED ping-pong: new "
                  "ones do not wait behind them");
    struct vmux_bounce_slot *b = slot_of(r, op);
    if (b != NULL) {
        b->n++;
        b->to = to;
        b->from = from;
    }
    op->bounce.due_ms = due_ms;
    op->bounce.to = to;
    vmux__opq_push(&r->bounced, op);
}

bool vmux__router_bounce_behind(struct vmux_router *r, struct vmux_op *op)
{
    if (!vmux__router_bouncing(r, op->slot))
        return false;
    /* the timer is set already, for the head's due: this one is due with the last */
    VMUX_ASSERT(r->bounced.tail != NULL); /* the count is exact */
    const struct vmux_bounce_slot *b = &r->bounce_slots[op->slot];
    push(r, op, r->bounced.tail->bounce.due_ms, b->to, b->from);
    return true;
}

bool vmux__router_bounce_onward(struct vmux_router *r, struct vmux_link *from, struct vmux_link *to,
                                struct vmux_op *op)
{
    if (!vmux__router_bouncing(r, op->slot))
        return false;
    uint32_t id = vmux__router_link_id(r, to);
    size_t n = 0;
    for (struct vmux_op *w = r->bounced.head; w != NULL; w = w->next)
        if (w->slot == op->slot) {
            w->bounce.to = id;
            n++;
        }
    r->bounce_slots[op->slot].to = id;
    r->bounce_slots[op->slot].from = vmux__router_link_id(r, from);
    if (r->cfg->log_fn != NULL) {
        char addr[300];
        vmux__router_link_addr(r, to, addr, sizeof addr);
        vmux__log(
            r->cfg, VMUX_LOG_DEBUG,
            "cluster: slot %d: MOVED to %s, outside its ping-pong: the slot moved on; its %zu "
            "waiting commands go there, this one behind them",
            (int)op->slot, addr, n);
    }
    return vmux__router_bounce_behind(r, op);
}

void vmux__router_bounce(struct vmux_router *r, struct vmux_link *from, struct vmux_link *to,
                         struct vmux_op *op)
{
    uv_update_time(r->loop); /* a stale loop clock would cut the backoff short */
    uint32_t now = (uint32_t)uv_now(r->loop);
    uint32_t wait = vmux__router_backoff_ms(r, op->redirects, BOUNCE_LAST_MS);
    const struct vmux_op *last = r->bounced.tail;
    if (last != NULL && (int32_t)(last->bounce.due_ms - (now + wait)) > 0)
        wait = last->bounce.due_ms - now; /* not before the one ahead */
    if (r->cfg->log_fn != NULL) {
        char addr[300];
        vmux__router_link_addr(r, to, addr, sizeof addr);
        vmux__log(r->cfg, VMUX_LOG_DEBUG,
                  "cluster: slot %d: a MOVED ping-pong (the nodes disagree): sent again to %s in "
                  "%u ms",
                  (int)op->slot, addr, (unsigned)wait);
    }
    push(r, op, now + wait, vmux__router_link_id(r, to), vmux__router_link_id(r, from));
    arm(r, wait);
}

/* Logs that op, of slot, goes to link to, which has no connection ready (it waits there). */
static void log_unready(struct vmux_router *r, const struct vmux_link *to, int slot)
{
    char addr[300];
    vmux__router_link_addr(r, to, addr, sizeof addr);
    vmux__log(r->cfg, VMUX_LOG_DEBUG,
              "cluster: slot %d: sent again to %s after its backoff, which has no connection "
              "ready: it waits for one there, the slot's new commands behind it",
              slot, addr);
}

/*
 * Hands op to the node it waits for, or by its slot when that node's link was closed. Sent there,
 * it may come back with MOVED again: its slot's new ops wait for it (a fence on that link, which
 * stands while it waits there for a connection too), as they would behind it here; sent by the
 * map to the other node, they ran before it.
 */
static void resend(struct vmux_router *r, struct vmux_op *op)
{
    VMUX_ASSERT(!op->done); /* timed out ones left the queue (vmux__op_expire) */
    struct vmux_link *to = vmux__router_link_by_id(r, op->bounce.to);
    if (to == NULL) {
        vmux__router_resend(r, op);
        return;
    }
    int32_t slot = op->slot; /* op may be completed and freed once handed over */
    if (r->cfg->log_fn != NULL && !(op->flags & VMUX_OP_BLOCKING) && !vmux__link_ready(to))
        log_unready(r, to, (int)slot);
    vmux__router_forward(r, to, op);
    vmux__router_fence_resent(r, to, (int)slot);
}

static void on_bounce_timer(uv_timer_t *t)
{
    struct vmux_router *r = t->data;
    struct vmux_opq due = {0};
    uint64_t next = vmux__opq_take_due(&r->bounced, (uint32_t)uv_now(r->loop), &due);
    if (next != UINT64_MAX)
        arm(r, next);
    struct vmux_op *op;
    for (op = due.head; op != NULL; op = op->next)
        left(r, op);
    while ((op = vmux__opq_pop(&due)) != NULL)
        resend(r, op);
}

void vmux__router_bounce_close(struct vmux_router *r)
{
    vmux__opq_fail_all(&r->bounced, VMUX_ERR_CLOSED);
    free(r->bounce_slots); /* nothing waits any more */
    r->bounce_slots = NULL;
    uv_close((uv_handle_t *)&r->bounce_timer, NULL);
}

/*
 * Where an op waited when its deadline ends it in one of the router's own queues (route/router.h,
 * vmux__router_waited_init(); struct vmux_opq's waited, core/op.h): out of a MOVED ping-pong's
 * backoff (bounce.c), behind a fence (fence.c), or for a map that names its slot's owner after a
 * MOVED to "?" (follow.c, refresh.c). The link's backlog and the connection's queue say why their
 * ops fail (the link's last connection failure; the server written to); these queues said
 * nothing, so a command that timed out during a ping-pong read only "timed out", or, sent with
 * VMUX_CALL_TELL_UNSENT, "not sent: no connection was ready" while the connections were up and it
 * had been sent and redirected (helper-202 F3). core/op.c adds what the wait means for the op's
 * outcome (written before a connection broke, redirected, or never written). Made only for an op
 * that expires asking for words (VMUX_OP_TELL_WHY): nothing on the common path. I/O thread only.
 */
#include <stddef.h>
#include <stdio.h>

#include "route/router.h"

/* "host:port" of the router node of id, or words saying its link is gone. */
static void node_addr(const struct vmux_router *r, uint32_t id, char *buf, size_t len)
{
    const struct vmux_link *link = vmux__router_link_by_id(r, id);
    if (link != NULL)
        vmux__router_link_addr(r, link, buf, len);
    else
        snprintf(buf, len, "a node no longer in the map");
}

/* "slot N", or words for an op the router routes by no slot of its own. */
static void slot_words(int32_t slot, char *buf, size_t len)
{
    if (slot >= 0)
        snprintf(buf, len, "slot %d", (int)slot);
    else
        snprintf(buf, len, "its slot");
}

/* r->bounced's: a ping-pong's backoff (bounce.c). op->bounce.to: where it goes next. */
static void bounced_words(const struct vmux_opq *q, const struct vmux_op *op, char *buf, size_t len)
{
    const struct vmux_router *r =
        (const struct vmux_router *)(const void *)((const char *)q -
                                                   offsetof(struct vmux_router, bounced));
    char to[300], from[300], slot[24];
    node_addr(r, op->bounce.to, to, sizeof to);
    slot_words(op->slot, slot, sizeof slot);
    if (op->redirector == 0 || op->redirects == 0) {
        snprintf(buf, len,
                 "waiting to be sent to %s behind the commands of %s that wait out a MOVED "
                 "ping-pong (its nodes name each other the owner)",
                 to, slot);
        return;
    }
    node_addr(r, op->redirector - 1u, from, sizeof from);
    if (op->redirector - 1u == op->bounce.to)
        snprintf(buf, len,
                 "waiting to be sent again to %s, which answered MOVED naming itself the owner of "
                 "%s again on a new connection",
                 to, slot);
    else
        snprintf(buf, len,
                 "waiting to be sent again to %s after MOVED from %s, while the nodes name each "
                 "other the owner of %s (a MOVED ping-pong: a backoff between tries)",
                 to, from, slot);
}

/* r->unowned's: a MOVED to "?" (follow.c). op->bounce.to: the node that answered it. */
static void unowned_words(const struct vmux_opq *q, const struct vmux_op *op, char *buf, size_t len)
{
    const struct vmux_router *r =
        (const struct vmux_router *)(const void *)((const char *)q -
                                                   offsetof(struct vmux_router, unowned));
    char from[300], slot[24];
    node_addr(r, op->bounce.to, from, sizeof from);
    slot_words(op->slot, slot, sizeof slot);
    snprintf(buf, len,
             "waiting for a slot map that names the owner of %s, after MOVED from %s to an "
             "unknown address (\"?\")",
             slot, from);
}

void vmux__router_held_words(const struct vmux_opq *q, const struct vmux_op *op, char *buf,
                             size_t len)
{
    const struct vmux_router_fence *f =
        (const struct vmux_router_fence *)(const void *)((const char *)q -
                                                         offsetof(struct vmux_router_fence, held));
    char at[300], slot[24];
    vmux__router_link_addr(f->r, f->link, at, sizeof at);
    slot_words(op->slot, slot, sizeof slot);
    if (f->queued)
        snprintf(buf, len,
                 "held behind a command of %s sent again to %s after a MOVED ping-pong, which may "
                 "be redirected again (the slot's commands keep their order)",
                 slot, at);
    else
        snprintf(buf, len,
                 "held behind the commands of %s still in flight to %s, its owner before the slot "
                 "map changed (the slot's commands keep their order)",
                 slot, at);
}

void vmux__router_waited_init(struct vmux_router *r)
{
    r->bounced.waited = bounced_words;
    r->unowned.waited = unowned_words;
}

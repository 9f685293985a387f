/*
 * READONLY on a cluster handle (route/router.h, vmux__router_readonly()). A node answers a write
 * READONLY when it is a replica: a failover demoted it while the map still named it a primary (a
 * planned CLUSTER FAILOVER: the keyless write that went to the old primary, or one queued on its
 * link while it reconnected). A replica refuses the command before running it, as it answers
 * MOVED, so the op is sent again whatever the command: not on the same link, which reconnects to
 * the same node (now a replica), but by the map, once the map no longer names that node a
 * primary; a refresh is asked for at once (reactive), and another after each answered one while
 * ops still wait. Each READONLY counts in op->retries, and the reply is kept in op->refusal:
 * should the deadline come first, the op fails VMUX_ERR_SERVER with the server's words, how
 * often and how long it was refused, and "not executed" (core/op_words.c). Nothing on the
 * common path: only a READONLY reply, and an answered refresh while ops wait here, do any work.
 * I/O thread only.
 */
#include <stdint.h>

#include "core/log.h"
#include "route/router.h"

/*
 * Where op, refused with READONLY by the node of link refused, goes now: its slot's primary, or
 * a keyless op's link, by the map; NULL while the map still names that node a primary, or would
 * send op back to it.
 */
static struct vmux_link *onward(struct vmux_router *r, const struct vmux_op *op,
                                const struct vmux_link *refused)
{
    if (refused != NULL && vmux__router_link_is_primary(r, refused))
        return NULL;
    struct vmux_link *to = vmux__router_onward(r, op, refused);
    return to != refused ? to : NULL;
}

bool vmux__router_readonly(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op,
                           vmux_reply *reply)
{
    if (vmux__router_mode(r) != VMUX_ROUTER_CLUSTER || r->map == NULL)
        return false;
    vmux_reply_free(op->refusal);
    op->refusal = reply; /* its words, should its deadline come first */
    if (op->retries < UINT8_MAX)
        op->retries++;
    struct vmux_link *to = onward(r, op, link);
    if (to != NULL) {
        vmux__router_forward(r, to, op); /* the map knows already */
        return true;
    }
    op->bounce.to = vmux__router_link_id(r, link);
    vmux__opq_push(&r->demoted, op);
    vmux__router_refresh_soon(r);
    return true;
}

void vmux__router_release_demoted(struct vmux_router *r)
{
    if (r->demoted.count == 0)
        return;
    struct vmux_opq q = {0};
    vmux__opq_take(&q, &r->demoted);
    struct vmux_op *op;
    size_t sent = 0;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        struct vmux_link *to = onward(r, op, vmux__router_link_by_id(r, op->bounce.to));
        if (to == NULL) {
            vmux__opq_push(&r->demoted, op);
            continue;
        }
        sent++;
        vmux__router_forward(r, to, op);
    }
    if (sent > 0)
        vmux__log(r->cfg, VMUX_LOG_INFO,
                  "cluster: %zu commands refused READONLY by a demoted primary sent by the new "
                  "map",
                  sent);
    if (r->demoted.count > 0)
        vmux__router_refresh_soon(r); /* the map still names that node a primary: ask again */
}

/*
 * Where an op waited when its deadline ends it in one of the router's own queues (route/router.h,
 * vmux__router_waited_init(); struct vmux_opq's waited, core/op.h): out of a MOVED ping-pong's
 * backoff (bounce.c), behind a fence (fence.c), for a map that names its slot's owner after a
 * MOVED to "?" (follow.c, refresh.c), for detection to tell whether the server is a cluster node
 * (r->parked: detect.c), or for COMMAND GETKEYS to name a command's keys (r->keys_wait:
 * getkeys.c). The link's backlog and the connection's queue say why their
 * ops fail (the link's last connection failure; the server written to); these queues said
 * nothing, so a command that timed out during a ping-pong read only "timed out", or, sent with
 * VMUX_CALL_TELL_UNSENT, "not sent: no connection was ready" while the connections were up and it
 * had been sent and redirected (helper-202 F3). core/op_words.c adds what the wait means for the
 * op's outcome (written before a connection broke, redirected, or never written). Made only for an
 * op that expires asking for words (VMUX_OP_TELL_WHY): nothing on the common path. I/O thread only.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/router.h"

/* The router holding q, a queue off bytes into it (ROUTER_OF(q, member): its member). */
static const struct vmux_router *router_of(const struct vmux_opq *q, size_t off)
{
    return (const struct vmux_router *)(const void *)((const char *)q - off);
}

#define ROUTER_OF(q, member) router_of((q), offsetof(struct vmux_router, member))

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
    const struct vmux_router *r = ROUTER_OF(q, bounced);
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
    const struct vmux_router *r = ROUTER_OF(q, unowned);
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

/* "host:port" of the seed's node once known (I/O thread: read without the lock), else the one
 * endpoint configured, else words for it. */
static void seed_words(const struct vmux_router *r, char *buf, size_t len)
{
    const struct vmux_config *cfg = r->cfg;
    if (r->seed_addr[0] != '\0')
        snprintf(buf, len, "%s", r->seed_addr);
    else if (cfg->nendpoints == 1 && cfg->service_name == NULL)
        vmux__node_addr(buf, len, cfg->endpoints[0].host, cfg->endpoints[0].port);
    else
        snprintf(buf, len, "its server");
}

/*
 * r->parked's: detection (detect.c) is not over, so the op cannot be routed yet. One sent from the
 * backlog before the answer and redirected came back here (follow.c); while the seed link has no
 * ready connection, its last failure says why.
 */
static void parked_words(const struct vmux_opq *q, const struct vmux_op *op, char *buf, size_t len)
{
    const struct vmux_router *r = ROUTER_OF(q, parked);
    const char *failure = vmux__link_ready(r->seed) ? NULL : vmux__link_last_failure(r->seed);
    char seed[300];
    seed_words(r, seed, sizeof seed);
    snprintf(buf, len,
             "waiting for the handle to find out whether %s is a cluster node (cluster=%s)%s%s%s",
             seed, r->cfg->cluster == VMUX_CLUSTER_YES ? "yes" : "auto",
             op->redirects > 0 ? ", after that node redirected it (sent before the handle knew)"
                               : "",
             failure != NULL ? "; no connection is ready: " : "", failure != NULL ? failure : "");
}

/* The name of op's command (its first argument), cut to fit len, its unprintable bytes as '?'. */
static void command_name(const struct vmux_op *op, char *buf, size_t len)
{
    const char *end = op->cmd + op->len;
    const char *eol = memchr(op->cmd, '\n', op->len);
    const char *dollar = eol != NULL && eol + 1 < end && eol[1] == '$' ? eol + 1 : NULL;
    const char *name = dollar != NULL ? memchr(dollar, '\n', (size_t)(end - dollar)) : NULL;
    long n = dollar != NULL ? strtol(dollar + 1, NULL, 10) : 0;
    if (name == NULL || n <= 0 || n > end - (name + 1)) {
        snprintf(buf, len, "its command");
        return;
    }
    name++;
    size_t i = 0;
    for (; i + 1 < len && i < (size_t)n; i++)
        buf[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    if (len > 0)
        buf[i] = '\0';
}

/* r->keys_wait's: a command the key table does not know, whose keys the seed lists (getkeys.c). */
static void keys_words(const struct vmux_opq *q, const struct vmux_op *op, char *buf, size_t len)
{
    const struct vmux_router *r = ROUTER_OF(q, keys_wait);
    char name[64], at[300];
    command_name(op, name, sizeof name);
    vmux__router_link_addr(r, r->seed, at, sizeof at);
    snprintf(buf, len,
             "waiting for COMMAND GETKEYS to name the keys of %s (a command the key table does not "
             "know), asked of %s",
             name, at);
}

void vmux__router_waited_init(struct vmux_router *r)
{
    r->bounced.waited = bounced_words;
    r->unowned.waited = unowned_words;
    r->parked.waited = parked_words;
    r->keys_wait.waited = keys_words;
}

/*
 * The blocking pool: dedicated links for commands that block on the server, one command per
 * link at a time, so a BLPOP never stalls the multiplexed link. Links are opened as needed,
 * up to blockingPoolSize, and kept for reuse; a link whose command timed out is closed, as
 * closing is the only way to stop a blocked command. In cluster mode each node has a pool of its
 * own (route/router.h), and a MOVED or ASK reply to a pooled op goes to the owner's redirect
 * function, which may send the op to another node's pool; a map that gives a waiting op's slot
 * to another node takes it out (vmux__pool_take_waiting()) for that node's pool. I/O thread only.
 */
#ifndef VMUX_NET_POOL_H
#define VMUX_NET_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/config_internal.h"
#include "core/counters.h"
#include "core/op.h"
#include "net/link.h"

struct vmux_pool {
    uv_loop_t *loop;
    const struct vmux_config *cfg;
    vmux_tls_ctx *tls_ctx;
    struct vmux_counters *ctr;
    struct vmux_link **links; /* every open link, idle or busy */
    int total;
    struct vmux_link **idle; /* those ready for a command */
    int nidle;
    int cap; /* the room of links and idle: grown as links open, up to blockingPoolSize */
    struct vmux_opq waiting; /* blocking ops waiting for a link */
    bool closed;
    /* A MOVED or ASK reply to an op (may be NULL): as struct vmux_link_events' redirect. */
    bool (*redirect)(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply, void *arg);
    void *redirect_arg;
    struct vmux_link *peer; /* redirect's link argument: the node's main link (NULL: the pool's) */
    struct vmux_sentinel *sentinel; /* its links follow this service's primary (may be NULL) */
};

/* Prepares an empty pool, with room for a few links (more as they open). Returns 0 or
 * VMUX_ERR_NOMEM; either way vmux__pool_close() may follow. */
int vmux__pool_init(struct vmux_pool *p, uv_loop_t *loop, const struct vmux_config *cfg,
                    vmux_tls_ctx *tls_ctx, struct vmux_counters *ctr);

/* Takes a blocking op (already deadline-indexed): runs it on a link of its own, or queues it. */
void vmux__pool_submit(struct vmux_pool *p, struct vmux_op *op);

/*
 * Takes a pooled op back from the pool before it is sent elsewhere (a redirect): the link that
 * ran it is free for the next op. Does nothing for an op that is not pooled.
 */
void vmux__pool_detach(struct vmux_op *op);

/*
 * Appends to dst the ops the pool has not sent, in the order they came: those in the backlogs of
 * its links (taken back from the pool, as by vmux__pool_detach()), then those waiting for a link
 * (each queued after the links' ops were given). What its links have written stays with them.
 * For a node that failed over: the caller sends them elsewhere.
 */
void vmux__pool_take_unsent(struct vmux_pool *p, struct vmux_opq *dst);

/*
 * Moves to the end of dst, in their order, the ops waiting for a link (none sent yet) for which
 * leaves(op, arg) is true; the others keep their places. For a map that gave their slots to
 * another node: the caller sends them there. Walks the waiting queue only.
 */
void vmux__pool_take_waiting(struct vmux_pool *p,
                             bool (*leaves)(const struct vmux_op *op, void *arg), void *arg,
                             struct vmux_opq *dst);

/*
 * Whether a link of the pool holds a live op of slots (VMUX_LINK_SLOTS bits, as
 * vmux__link_slots_held() reads them): the one it runs, written or waiting there for a connection
 * or a refusal's retry. Walks the links, and what each holds. For a map change that would send a
 * waiting op of such a slot elsewhere ahead of the one running (route/router.c).
 */
bool vmux__pool_slots_held(const struct vmux_pool *p, const uint8_t *slots);

/* Whether the pool holds ops: waiting for a link, or running on one. */
bool vmux__pool_busy(const struct vmux_pool *p);

/* Heartbeats and dead-link checks for the pool's links. */
void vmux__pool_tick(struct vmux_pool *p, bool frozen);

/* Fails waiting ops with VMUX_ERR_CLOSED and closes every link (busy ones complete theirs). */
void vmux__pool_close(struct vmux_pool *p);

#endif

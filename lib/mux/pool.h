/*
 * The blocking pool: dedicated links for commands that block on the server, one command per
 * link at a time, so a BLPOP never stalls the multiplexed link. Links are opened as needed,
 * up to blockingPoolSize, and kept for reuse; a link whose command timed out is closed, as
 * closing is the only way to stop a blocked command. I/O thread only.
 */
#ifndef VMUX_POOL_H
#define VMUX_POOL_H

#include <stdbool.h>
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
    struct vmux_opq waiting; /* blocking ops waiting for a link */
    bool closed;
};

/* Prepares an empty pool. Returns 0 or VMUX_ERR_NOMEM. */
int vmux__pool_init(struct vmux_pool *p, uv_loop_t *loop, const struct vmux_config *cfg,
                    vmux_tls_ctx *tls_ctx, struct vmux_counters *ctr);

/* Takes a blocking op (already deadline-indexed): runs it on a link of its own, or queues it. */
void vmux__pool_submit(struct vmux_pool *p, struct vmux_op *op);

/* Heartbeats and dead-link checks for the pool's links. */
void vmux__pool_tick(struct vmux_pool *p, bool frozen);

/* Fails waiting ops with VMUX_ERR_CLOSED and closes every link (busy ones complete theirs). */
void vmux__pool_close(struct vmux_pool *p);

#endif

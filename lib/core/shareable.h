/*
 * Commands that cannot share a multiplexed connection: they change the connection's state for
 * every caller at once (SELECT, AUTH, HELLO, RESET), or break the one-reply-per-command rule
 * that matches replies to callers (SUBSCRIBE, MONITOR, CLIENT REPLY, MULTI...EXEC from
 * different threads interleaving). The typed APIs for these (pub/sub, transactions) use their
 * own links or ops; the generic API refuses them.
 */
#ifndef VMUX_SHAREABLE_H
#define VMUX_SHAREABLE_H

#include <stdbool.h>

#include "core/op.h"

/* Returns 0 when op's command may share a connection, else VMUX_ERR_UNSUPPORTED. */
int vmux_op_check_shareable(const struct vmux_op *op);

/*
 * Whether op's command blocks on the server (BLPOP, BRPOP, BLMOVE, BZPOPMIN, WAIT, XREAD ...
 * BLOCK ...), so that it must run on a connection of its own.
 */
bool vmux_op_is_blocking(const struct vmux_op *op);

#endif

/*
 * A script's or function's own error reply told apart from the server's refusal of it.
 *
 * The link takes an error that begins TRYAGAIN, LOADING, MASTERDOWN, CLUSTERDOWN, READONLY, MOVED
 * or ASK (core/errclass.h) for the server's "did not run": it sends the op again, or follows the
 * redirect (net/link_retry.c, route/follow.c, route/demoted.c). A script (EVAL, EVALSHA, EVAL_RO,
 * EVALSHA_RO) or a function (FCALL, FCALL_RO) may return such an error itself,
 * redis.error_reply('TRYAGAIN ...'), after its writes: sent again it would run again. So for those
 * commands an error of these classes is the server's only when its text is exactly what the server
 * sends before running anything (Valkey's src/cluster.c clusterRedirectClient(), src/server.c
 * shared.loadingerr, shared.masterdownerr and shared.roreplicaerr: a replica refuses a script with
 * flags, or a function, that may write; a write inside a script it runs fails with " script: ..."
 * after the script's text, after whatever the script did before, a PUBLISH say), and for MOVED and
 * ASK only when the slot it names is the one the op was routed by; any other is the script's reply,
 * and completes the op (VMUX_ERR_SERVER). A failover's UNBLOCKED is always the script's: a script
 * does not block.
 *
 * Pure functions: any thread; in practice the I/O thread's error-reply path only.
 */
#ifndef VMUX_CORE_SCRIPT_ERR_H
#define VMUX_CORE_SCRIPT_ERR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/errclass.h"
#include "core/op.h"

/*
 * Whether the error text msg (len bytes, without the leading '-') of class cls, answering op, is
 * the script's or function's own reply rather than the server's refusal (see above). False for an
 * op whose command is not one of those six, and for classes other than TRYAGAIN, LOADING,
 * MASTERDOWN, CLUSTERDOWN, READONLY, MOVED, ASK and UNBLOCKED_FAILOVER. Reads op's command name
 * from its RESP bytes; op is not changed. A MOVED or ASK of an op whose slot is not known yet
 * (VMUX_OP_SLOT_UNSET and the like: sent before the map came) is taken for the server's when its
 * form is; a keyless op's (slot -1) is the script's, as the server redirects no keyless command.
 */
bool vmux__script_own_error(const struct vmux_op *op, const char *msg, size_t len,
                            enum vmux_errclass cls);

#endif

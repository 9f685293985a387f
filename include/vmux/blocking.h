/** @file
 * Blocking commands, typed: BLPOP, BRPOP, BLMOVE, BZPOPMIN, BZPOPMAX and WAIT. The pops run on
 * one of the handle's dedicated blocking connections (call.h, VMUX_CALL_BLOCKING), so other
 * callers' commands never wait behind them; WAIT cannot (see vmux_wait()). Each deadline is the
 * block time plus opts' timeout (or the config's syncTimeout); a block time of 0 (wait forever)
 * is refused with VMUX_ERR_INVALID_ARG, as it could never meet a deadline (opts->errbuf, when
 * given: "invalid argument: block_ms is 0: the block must be at least 1 ms ...").
 *
 * Errors as in strings.h. None of these is retry-safe: a pop that was sent may have taken its
 * element, and a WAIT sent again on a new connection would count none of the writes it was
 * asked about.
 */
#ifndef VMUX_BLOCKING_H
#define VMUX_BLOCKING_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * BLPOP (end VMUX_HEAD) / BRPOP (VMUX_TAIL): waits up to block_ms for an element of the first
 * non-empty list among keys. On success *key and *value get it; when the time ran out both have ptr
 * NULL. n >= 1, block_ms >= 1 (the server counts in units of 1 ms).
 */
VMUX_EXPORT int vmux_bpop(vmux *m, const vmux_callopts *opts, vmux_end end, const vmux_str *keys,
                          size_t n, int64_t block_ms, vmux_bytes *key, vmux_bytes *value);

/**
 * BLMOVE: moves an element from the `from` end of src to the `to` end of dst (VMUX_HEAD: LEFT,
 * VMUX_TAIL: RIGHT); *value ptr NULL on time-out. Another end is VMUX_ERR_INVALID_ARG.
 */
VMUX_EXPORT int vmux_blmove(vmux *m, const vmux_callopts *opts, vmux_str src, vmux_str dst,
                            vmux_end from, vmux_end to, int64_t block_ms, vmux_bytes *value);

/**
 * BZPOPMIN (end VMUX_HEAD) / BZPOPMAX (VMUX_TAIL): pops the lowest (highest) member of the first
 * non-empty sorted set among keys. *key and *member get it (ptr NULL on time-out) and *score its
 * score.
 */
VMUX_EXPORT int vmux_bzpop(vmux *m, const vmux_callopts *opts, vmux_end end, const vmux_str *keys,
                           size_t n, int64_t block_ms, vmux_bytes *key, vmux_bytes *member,
                           double *score);

/**
 * WAIT: waits up to block_ms until `replicas` replicas acknowledged the handle's writes so far;
 * *acked = how many did (it may be fewer: time ran out; more: they were all asked). replicas
 * >= 0, block_ms >= 1.
 *
 * Which writes: the server counts those of the connection WAIT runs on, so it runs on the
 * handle's shared connection, the one that carried its writes, never on the blocking pool. It
 * covers the writes sent on that connection; after a reconnect (VMUX_EVENT_CONNECTION_RESTORED
 * says when), writes acknowledged on the earlier connection are not covered. It is never sent
 * twice (VMUX_CALL_RETRY_SAFE in opts is ignored): a connection lost under it gives
 * VMUX_ERR_CONNECTION_LOST.
 *
 * What it costs: the server holds that connection for up to block_ms while replicas lag, and the
 * handle's other commands, every thread's, wait behind it (with replicas keeping up it answers
 * in about one round trip, as the server asks them at once). Keep block_ms small.
 *
 * On a cluster it runs on every primary, each on the link that carried that shard's writes, and
 * *acked is the smallest count any primary gave; a primary that fails (an error reply, a lost
 * connection, its deadline) fails the call with its status, its address and reason in
 * opts->errbuf (cluster.h's fan-out). A primary's answer is not retried, as a chosen node's never
 * is: during a failover the call may fail VMUX_ERR_SERVER with "UNBLOCKED ... instance state
 * changed" or "WAIT cannot be used with replica instances" (the map still names the demoted
 * node, for about a second), or with "NOTPRIMARY <address> ..." (a primary demoted, or killed
 * before WAIT reached it: docs/cluster.md); none ran, and the call may be made again.
 */
VMUX_EXPORT int vmux_wait(vmux *m, const vmux_callopts *opts, int64_t replicas, int64_t block_ms,
                          int64_t *acked);

/**
 * WAITAOF: waits up to block_ms until the handle's writes so far are fsynced to the append-only
 * file of the server (numlocal 1; 0: not asked) and of at least numreplicas replicas; *local
 * (0 or 1) and *replicas get how many AOFs hold them (fewer: time ran out). numlocal 0 or 1,
 * numreplicas >= 0, block_ms >= 1; local and replicas may be NULL.
 *
 * As vmux_wait(): it counts the writes of the shared connection, runs there and holds it (keep
 * block_ms small), is never sent twice (a connection lost under it gives
 * VMUX_ERR_CONNECTION_LOST), and on a cluster runs on every primary, each count being the
 * smallest any primary gave. The server refuses it (VMUX_ERR_SERVER) with numlocal 1 where
 * appendonly is off, and on a replica.
 */
VMUX_EXPORT int vmux_waitaof(vmux *m, const vmux_callopts *opts, int64_t numlocal,
                             int64_t numreplicas, int64_t block_ms, int64_t *local,
                             int64_t *replicas);

#ifdef __cplusplus
}
#endif

#endif

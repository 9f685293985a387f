/** @file
 * Server commands, typed: PING, ECHO, TIME, INFO, DBSIZE, and FLUSHDB and FLUSHALL behind
 * deliberately long names (vmux_flushdb_for_tests()), since they wipe whole databases. On a
 * cluster, PING, DBSIZE, FLUSHDB and FLUSHALL run on every primary (cluster.h), ECHO, TIME and
 * INFO on one node; run them on chosen nodes with vmux_call_nodes().
 *
 * Every function here is synchronous unless named *_async, may be called from any thread but
 * the I/O thread, and returns 0, VMUX_ERR_SERVER (the server refused; the message goes to
 * opts->errbuf when given), VMUX_ERR_INVALID_ARG (bad input, nothing sent; opts->errbuf, when
 * given, says which argument broke which rule), or a transport error as vmux_call() (call.h). opts
 * may be NULL. Out-parameters are filled only on success (zeroed otherwise); a NULL out-parameter
 * drops that result. They run on the handle's shared connection, so they see the database it
 * selected (defaultDatabase).
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): PING, ECHO, TIME, INFO and DBSIZE are reads and
 * are marked retry-safe. FLUSHDB would leave the same (empty) database if repeated, but a
 * resend would also wipe whatever other clients wrote in between, so it is never sent twice
 * unless the caller sets VMUX_CALL_RETRY_SAFE in opts.
 */
#ifndef VMUX_SERVER_H
#define VMUX_SERVER_H

#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * PING [message]: *reply gets "PONG" for message {NULL, 0}, else the message (ptr NULL with
 * len > 0 is VMUX_ERR_INVALID_ARG, as for every vmux_str: types.h). Useful as a round trip
 * through the handle's connection. On a cluster, every primary is pinged (cluster.h)
 * and the call succeeds only when every one answered; a primary that failed gives its status,
 * with "host:port: " and the reason in opts->errbuf, then how many of the other primaries
 * succeeded, so ran it: "(2 of the other 2 primaries succeeded: it ran there)". vmux_ping_async()
 * pings one node.
 */
VMUX_EXPORT int vmux_ping(vmux *m, const vmux_callopts *opts, vmux_str message, vmux_bytes *reply);
/** PING, asynchronously: cb gets "PONG" or the message (vmux_reply_to_bytes() reads it). */
VMUX_EXPORT int vmux_ping_async(vmux *m, const vmux_callopts *opts, vmux_str message,
                                vmux_reply_cb cb, void *userdata);

/** ECHO message: *reply gets the message back (message {NULL, 0} is sent as ""). */
VMUX_EXPORT int vmux_echo(vmux *m, const vmux_callopts *opts, vmux_str message, vmux_bytes *reply);

/** TIME: the server's clock, as Unix time in *seconds and the microseconds past it. */
VMUX_EXPORT int vmux_time(vmux *m, const vmux_callopts *opts, int64_t *seconds,
                          int64_t *microseconds);

/**
 * INFO [section]: the server's report as text ("# Server\r\nredis_version:..."), for every
 * default section when section is NULL, else for that one ("clients", "memory", "all"...).
 */
VMUX_EXPORT int vmux_info(vmux *m, const vmux_callopts *opts, const char *section,
                          vmux_bytes *text);

/**
 * DBSIZE: *count is the number of keys in the handle's database; on a cluster, the sum over every
 * primary (errors as vmux_ping()). Keys that move between primaries while the primaries are
 * asked may be counted twice or not at all.
 */
VMUX_EXPORT int vmux_dbsize(vmux *m, const vmux_callopts *opts, int64_t *count);

/**
 * FLUSHDB [SYNC|ASYNC]: deletes every key of the handle's database (not of the others). Meant
 * for tests and tools; the name is long so that nobody calls it by accident. An unknown mode
 * is VMUX_ERR_INVALID_ARG. On a cluster it is sent to every primary and returns 0 only when
 * every one answered OK (else as vmux_ping()); the primaries are not flushed at one instant.
 */
VMUX_EXPORT int vmux_flushdb_for_tests(vmux *m, const vmux_callopts *opts, vmux_flush_mode mode);

/**
 * FLUSHALL [SYNC|ASYNC]: as vmux_flushdb_for_tests(), for every database of the server (of every
 * primary, on a cluster). Never sent twice unless opts says VMUX_CALL_RETRY_SAFE.
 */
VMUX_EXPORT int vmux_flushall_for_tests(vmux *m, const vmux_callopts *opts, vmux_flush_mode mode);

#ifdef __cplusplus
}
#endif

#endif

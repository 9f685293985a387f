/** @file
 * Lua scripts that load themselves. A vmux_script is made once from its source (its SHA1 is
 * computed locally) and run any number of times, from any thread, with keys and arguments,
 * synchronously (vmux_script_run) or asynchronously (vmux_script_run_async): vmux sends
 * EVALSHA, and when the server does not know the script (NOSCRIPT: after a restart, a failover
 * or SCRIPT FLUSH) sends EVAL with the source, which loads it again. NOSCRIPT means the script
 * did not run, so that second send is always safe, and a NOSCRIPT reply never reaches the
 * caller. The counters of vmux_stats (client.h) count commands, not runs: such a run adds 2 to
 * submitted, the EVALSHA under replied (its NOSCRIPT) and the EVAL under its own outcome.
 *
 * A script is never retry-safe unless the caller says so (VMUX_CALL_RETRY_SAFE in opts): a
 * script that was sent when a connection broke may have run. An error the script returns itself
 * (redis.error_reply('TRYAGAIN ...'), or LOADING, MASTERDOWN, CLUSTERDOWN, MOVED, ASK) is its
 * reply, VMUX_ERR_SERVER: such an error is taken for the server's "did not run" (sent again, or
 * followed) only in the server's own words, and a MOVED or ASK only for the script's own slot
 * (docs/commands.md). The same holds for FCALL and FCALL_RO through vmux_call().
 *
 * On a cluster, a script (or function) with several keys cannot run while a slot's migration
 * splits them between two nodes: the node answers TRYAGAIN, and vmux sends it again with backoff
 * until it runs or its deadline passes, when it fails VMUX_ERR_SERVER with the last TRYAGAIN and
 * how often and how long it was refused (it did not run): docs/cluster.md, ASK.
 */
#ifndef VMUX_SCRIPT_H
#define VMUX_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A script (opaque): vmux_script_new(), vmux_script_free(). */
typedef struct vmux_script vmux_script;

/**
 * Makes a script from Lua source (copied). On success *out owns it; free it with
 * vmux_script_free() once no call uses it. Errors: VMUX_ERR_INVALID_ARG (empty source or NULL
 * out), VMUX_ERR_NOMEM. It takes no error buffer: a failure's words go to vmux_last_error()
 * (error.h: "invalid argument: source is empty: a script needs its Lua source", "invalid
 * argument: out is NULL"), "" on success.
 */
VMUX_EXPORT int vmux_script_new(vmux_str source, vmux_script **out);

/** Frees a script. NULL is allowed. */
VMUX_EXPORT void vmux_script_free(vmux_script *s);

/** The script's SHA1 as 40 lowercase hex digits (lives as long as the script); s NULL: NULL. */
VMUX_EXPORT const char *vmux_script_sha1(const vmux_script *s);

/**
 * Runs the script with nkeys keys (KEYS) and nargs arguments (ARGV) and returns its reply in
 * *out, as vmux_call() does: 0, VMUX_ERR_SERVER with the error reply (a Lua error, say), or
 * another error with *out NULL. It sends EVALSHA first, and EVAL with the source when the server
 * answers NOSCRIPT (it does not have the script, after SCRIPT FLUSH say): the run's outcome is
 * then the EVAL's, and opts->errbuf gets the EVAL's error only, never the NOSCRIPT (a run that
 * returns 0 leaves it as it was). Synchronous; any thread but the I/O thread. VMUX_ERR_INVALID_ARG
 * (nothing sent) for s or out NULL, NULL keys or args with a count above 0, or bad opts;
 * opts->errbuf, when given, says which argument broke which rule ("invalid argument: s is NULL").
 *
 * One deadline covers the run, as it does a vmux_call(): opts->timeout_ms (0: the config's
 * syncTimeout), counted from this call; the EVAL after a NOSCRIPT gets what is left of it. When
 * less than 1 ms is left, the EVAL is not sent and the run returns VMUX_ERR_TIMEOUT (with
 * VMUX_CALL_TELL_UNSENT in opts: VMUX_ERR_NOT_CONNECTED, as the script did not run).
 */
VMUX_EXPORT int vmux_script_run(vmux *m, const vmux_callopts *opts, const vmux_script *s,
                                const vmux_str *keys, size_t nkeys, const vmux_str *args,
                                size_t nargs, vmux_reply **out);

/**
 * Runs the script as vmux_script_run() does, but returns at once: cb runs exactly once, on the
 * I/O thread, with the outcome of the run (see vmux_reply_cb): 0 and the script's reply,
 * VMUX_ERR_SERVER and the error reply (a Lua error, say), or another error and reply NULL. When
 * the EVALSHA is answered NOSCRIPT, the EVAL is sent from the I/O thread and cb runs only with
 * its outcome; if that EVAL cannot be submitted (VMUX_ERR_CLOSED while the handle closes), cb
 * gets that error.
 *
 * One deadline covers the run: opts->timeout_ms (0: the config's asyncTimeout), counted from
 * this call; the EVAL after a NOSCRIPT gets what is left of it, and when less than 1 ms is left
 * it is not sent and cb gets VMUX_ERR_TIMEOUT (VMUX_ERR_NOT_CONNECTED with
 * VMUX_CALL_TELL_UNSENT), as in vmux_script_run(). opts' flags apply to both sends; its errbuf
 * gets no outcome (cb has it), only the words of a refusal (below): which argument broke which
 * rule ("invalid argument: the handle is NULL").
 *
 * keys and args are copied before the call returns; s is not: it must stay alive until cb has
 * run. Returns 0 when the run was accepted (cb will run exactly once), or an error, in which
 * case cb never runs: VMUX_ERR_INVALID_ARG (NULL m, s or cb, NULL keys or args with a count
 * above 0, bad opts: see vmux_callopts), VMUX_ERR_NOMEM, or what vmux_call_async() returns for
 * a command it does not accept (VMUX_ERR_CLOSED...). Any thread, callbacks included; called on
 * the I/O thread, cb may already have run when this returns 0, as with vmux_call_async().
 */
VMUX_EXPORT int vmux_script_run_async(vmux *m, const vmux_callopts *opts, const vmux_script *s,
                                      const vmux_str *keys, size_t nkeys, const vmux_str *args,
                                      size_t nargs, vmux_reply_cb cb, void *userdata);

/**
 * Script administration. On a cluster each runs on every primary (cluster.h) and fails, with
 * "host:port: " and the reason in opts->errbuf, when any primary failed: vmux_script_load()
 * loads the source everywhere and returns its SHA1 when every primary gave the same one (else
 * VMUX_ERR_PROTOCOL); vmux_script_flush() flushes every primary's cache; vmux_script_exists()
 * says a script exists only when it exists on every primary. Synchronous; any thread but the I/O
 * thread. Errors as vmux_call(), and VMUX_ERR_INVALID_ARG for bad input (nothing sent;
 * opts->errbuf, when given, says which argument broke which rule: "invalid argument: sha1s is NULL
 * with n 2: ...").
 */

/** SCRIPT LOAD source: *sha1 gets the script's SHA1 (40 hex digits). Retry-safe. */
VMUX_EXPORT int vmux_script_load(vmux *m, const vmux_callopts *opts, vmux_str source,
                                 vmux_bytes *sha1);

/**
 * SCRIPT FLUSH [SYNC|ASYNC] (mode: VMUX_FLUSH_DEFAULT, the server's choice, VMUX_FLUSH_SYNC or
 * VMUX_FLUSH_ASYNC; any other value is VMUX_ERR_INVALID_ARG). Retry-safe.
 */
VMUX_EXPORT int vmux_script_flush(vmux *m, const vmux_callopts *opts, vmux_flush_mode mode);

/**
 * SCRIPT EXISTS sha1...: exists[i] (the caller's array of n bools; NULL drops them) is whether
 * the script sha1s[i] (NUL-terminated) is loaded. n >= 1. Retry-safe.
 */
VMUX_EXPORT int vmux_script_exists(vmux *m, const vmux_callopts *opts, const char *const *sha1s,
                                   size_t n, bool *exists);

/**
 * Functions (Valkey 7+): libraries of Lua functions, loaded with FUNCTION LOAD and run with FCALL
 * or FCALL_RO through vmux_call(), routed by their keys as any command is. A server keeps its
 * libraries (they survive a restart, and replicas get them), but a cluster does not share them
 * between shards: a library must be loaded on every primary, or an FCALL on a key of a shard that
 * lacks it fails with "ERR Function not found". FUNCTION LOAD sent through vmux_call() is keyless
 * and reaches one primary only; these helpers, like the script administration above, run on
 * every primary (cluster.h), and fail, with "host:port: " and the reason in opts->errbuf, when any
 * primary failed (except as vmux_function_delete() says). None is atomic across the cluster: the
 * primaries that succeeded keep what they did when another failed. Synchronous; any thread but
 * the I/O thread. Errors as vmux_call(), and VMUX_ERR_INVALID_ARG for bad input (nothing sent;
 * opts->errbuf, when given, says which argument broke which rule).
 *
 * All three are retry-safe (running one twice leaves the state of running it once), so one sent
 * when a connection broke is sent again on the next connection; a load without replace (or a
 * delete) that had run the first time then fails as the server answers the second: "ERR Library
 * '...' already exists" ("ERR Library not found").
 */

/**
 * FUNCTION LOAD [REPLACE] code: loads the library whose source is code (starting "#!lua
 * name=<library>"). *library gets its name (free it with vmux_bytes_free(); NULL drops it) when
 * every primary loaded it under the same name (else VMUX_ERR_PROTOCOL). Without replace, a
 * primary that already has a library of that name refuses it ("ERR Library '<name>' already
 * exists": VMUX_ERR_SERVER); with replace, it is replaced there. Code the server cannot load is
 * VMUX_ERR_SERVER with its message ("ERR Missing library metadata", "ERR Error compiling
 * function: ..."). code {NULL, len > 0} is VMUX_ERR_INVALID_ARG.
 */
VMUX_EXPORT int vmux_function_load(vmux *m, const vmux_callopts *opts, vmux_str code, bool replace,
                                   vmux_bytes *library);

/**
 * FUNCTION DELETE library: deletes the library and its functions. On a cluster, returns 0 when
 * at least one primary had the library and deleted it, and each of the others either deleted it
 * too or answered that it has no such library (a shard added since the load, or a load that
 * failed half way, leaves primaries without it: the library is gone from all of them afterwards,
 * which is what a delete is for). When no primary had it, the call fails as a standalone server
 * does: VMUX_ERR_SERVER, "ERR Library not found" (after the first primary's "host:port: " on a
 * cluster). Any other failure of any primary fails the call.
 * library {NULL, len > 0} is VMUX_ERR_INVALID_ARG.
 */
VMUX_EXPORT int vmux_function_delete(vmux *m, const vmux_callopts *opts, vmux_str library);

/**
 * FUNCTION FLUSH [SYNC|ASYNC]: deletes every library (mode as vmux_script_flush(); any other
 * value is VMUX_ERR_INVALID_ARG).
 */
VMUX_EXPORT int vmux_function_flush(vmux *m, const vmux_callopts *opts, vmux_flush_mode mode);

#ifdef __cplusplus
}
#endif

#endif

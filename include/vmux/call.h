/** @file
 * The generic command API: any Valkey command as an argument vector, binary-safe, in three
 * forms: synchronous (vmux_call), asynchronous with a callback (vmux_call_async), and
 * fire-and-forget (vmux_call_forget). Typed helpers build on these.
 *
 * Delivery (docs/architecture.md): a command accepted by any of these completes exactly once,
 * with the server's reply or an error code, by its deadline at the latest (for large commands,
 * see below). A reply that arrives after its command timed out is read and dropped; it never
 * reaches another command. Commands that one thread submits to the handle are written in the
 * order submitted.
 *
 * Large commands (docs/reliability.md, Large commands): the deadline of a command of 64 KiB or more
 * runs from before its arguments are encoded, so the time to copy a large value counts; one
 * whose deadline passes before it is written is never written (VMUX_ERR_TIMEOUT). The copy
 * itself is not interrupted: such a call returns once its arguments are copied (tens of
 * milliseconds for tens of megabytes), and a command of many megabytes written in part may
 * complete later than its deadline by the time to copy its unsent rest for the I/O thread.
 *
 * Every function here may be called from any thread, including from an async callback on the
 * I/O thread (but vmux_call, which blocks, must not be called there: it returns
 * VMUX_ERR_INVALID_ARG).
 */
#ifndef VMUX_CALL_H
#define VMUX_CALL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/client.h"
#include "vmux/export.h"
#include "vmux/reply.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The command is idempotent (running it twice leaves the same state as running it once: GET,
 * SET without conditions, DEL, EXPIRE...). Only such commands are sent again after the server
 * may have run them: once, on the next connection, if the connection broke after the command
 * was sent and before its reply came (a command without this flag then fails with
 * VMUX_ERR_CONNECTION_LOST, "outcome unknown"), after a READONLY reply to a MULTI...EXEC
 * block (a primary that became a replica), and when it was written behind a write that such a
 * primary refused: the demoted node's answer is dropped and the command goes to the new primary
 * after the write, so that a read after a write sees it (standalone; docs/reliability.md). Replies
 * that say the command did not run are followed for every command, with or without this flag:
 * LOADING, MASTERDOWN, TRYAGAIN and CLUSTERDOWN (sent again with backoff within the deadline),
 * READONLY (sent to the new primary within the deadline; failed at once, "... is a replica and the
 * handle's only endpoint ...; not executed", when the handle's only endpoint is an IP address that
 * ROLE names a replica), and a cluster's MOVED and ASK (docs/reliability.md).
 */
#define VMUX_CALL_RETRY_SAFE 0x1u

/**
 * The command may block on the server. It then runs alone on one of the handle's dedicated
 * connections (at most blockingPoolSize per node, opened as needed and kept for reuse), so it never
 * stalls the commands of other callers. BLPOP, BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN,
 * BZPOPMAX, BZMPOP, and XREAD/XREADGROUP with BLOCK are recognised without the flag; set it for
 * anything else that blocks (a slow script, say). Give such a call a timeout_ms longer than the
 * time it may block: when its deadline passes, its connection is closed (that is the only way to
 * stop a blocked command) and a new one is opened when needed.
 *
 * Not WAIT and WAITAOF: the server counts the writes of the connection they run on, which on a
 * pool connection are none, so it would answer at once. They run on the shared connection, like
 * the writes they wait for, holding it (and every caller's commands behind them) for up to their
 * block time; give them a timeout_ms longer than that, or use vmux_wait() (blocking.h).
 */
#define VMUX_CALL_BLOCKING 0x2u

/** @{ */
/**
 * Where a read-only command goes for this one call, whatever the readFrom policy says
 * (config.h, docs/replicas.md): VMUX_CALL_PRIMARY to the primary (to read your own writes at
 * once); VMUX_CALL_REPLICA to a replica as VMUX_READ_REPLICA would, waiting for one (by the
 * call's deadline) while none is connected (StackExchange.Redis's CommandFlags.DemandReplica);
 * VMUX_CALL_PREFER_REPLICA to a replica as VMUX_READ_PREFER_REPLICA would, the primary while
 * none is connected (CommandFlags.PreferReplica). Commands that are not read-only go to the
 * primary with any of them. Two of them at once are VMUX_ERR_INVALID_ARG.
 */
#define VMUX_CALL_PRIMARY 0x4u
#define VMUX_CALL_REPLICA 0x8u
#define VMUX_CALL_PREFER_REPLICA 0x20u
/** @} */

/**
 * Tell "never sent" from "perhaps sent" when the deadline passes: a command whose deadline
 * passes before it was ever written on a connection (it waited all along in the backlog for a
 * connection, for the cluster's slot map, or for a free blocking-pool connection) completes
 * with VMUX_ERR_NOT_CONNECTED instead of VMUX_ERR_TIMEOUT, so its caller knows it did not run.
 * VMUX_ERR_TIMEOUT then always means it was written (at least in part) and its outcome is
 * unknown. A command redirected by MOVED (each node answered with the redirect, none ran it)
 * that waits to be sent again counts as never written: VMUX_ERR_NOT_CONNECTED, its error buffer
 * saying where it waited (docs/errors.md). A retry-safe command that was written before a
 * connection broke and then waits to be sent again counts as written, and so does one handed to the
 * connection's write queue behind a large command on a slow link, whose bytes may still be sent
 * (docs/reliability.md, Over a slow link). Without the flag both give VMUX_ERR_TIMEOUT, as before.
 * The fan-out calls of cluster.h do not take it (VMUX_ERR_INVALID_ARG). A typed multi-key command
 * split across slots on a cluster (docs/cluster.md) returns its first failed part's code:
 * VMUX_ERR_NOT_CONNECTED then says that part did not run, and the other parts may have.
 */
#define VMUX_CALL_TELL_UNSENT 0x10u

/**
 * Per-call options. Pass NULL for the defaults, or make them with VMUX_INIT (abi.h), naming the
 * fields you need: VMUX_INIT(vmux_callopts, .timeout_ms = 250). Options whose size is below
 * sizeof(size_t) (zeroed by hand), or with a negative timeout_ms, are VMUX_ERR_INVALID_ARG.
 */
typedef struct vmux_callopts {
    /** Sized struct (abi.h): sizeof(vmux_callopts) as the caller was compiled. */
    size_t size;
    /** Deadline in milliseconds from submission; 0 takes the config's syncTimeout (vmux_call)
     * or asyncTimeout (vmux_call_async, vmux_call_forget). Times beyond 2^32-1 ms (49 days)
     * count as 2^32-1. */
    int64_t timeout_ms;
    /** VMUX_CALL_* flags; any other bit is VMUX_ERR_INVALID_ARG. */
    uint32_t flags;
    /** Optional (NULL): for synchronous calls, receives the server's error message when the
     * call returns VMUX_ERR_SERVER, the loop's description (slot, last node) for
     * VMUX_ERR_REDIRECT_LOOP, or the error's description for any other error; for
     * VMUX_ERR_INVALID_ARG, what was refused where it is an argument of the call ("invalid
     * argument: argv[1] is NULL with a length", "... out is NULL ..."), as does a typed command
     * that refuses its own arguments before sending (a vmux_str NULL with a length, a negative
     * count, a NaN score: "invalid argument: count is 0: must be at least 1"). The asynchronous
     * calls (vmux_call_async(), vmux_call_forget(), the typed *_async) write here only when they
     * refuse the command, in the same words; their callback has the outcome. A call that fails
     * unsent because the connection it waited for (its node's, in a cluster the slot owner's)
     * could not be made, with VMUX_ERR_TIMEOUT, VMUX_ERR_NOT_CONNECTED or VMUX_ERR_BACKLOG_FULL,
     * gets that description followed by the last connection failure, credentials masked
     * (docs/errors.md): "timed out waiting for a connection (never sent); last connection
     * failure: 127.0.0.1:6380: TLS handshake failed: certificate verify failed: ...", and so
     * does a call split per slot, or fanned out to the primaries (cluster.h), of its part that
     * failed so, naming the part's slot or node (docs/cluster.md). A call
     * that was sent and lost with its connection (VMUX_ERR_CONNECTION_LOST, VMUX_ERR_PROTOCOL)
     * gets the description followed by why the connection failed: "malformed or oversized reply
     * from the server: 127.0.0.1:6379: bad reply: Protocol error, got "H" as reply type byte";
     * one whose own reply was over a reply limit, the limit's words: "...: 127.0.0.1:6379: the
     * reply was refused: bulk string of 629145600 bytes exceeds maxBulkLength 536870912 (the
     * command ran; ...)". It is written
     * only when the call fails, so start it as "": a call that returns 0 leaves it as it was,
     * also when vmux met an error on the way and recovered from it (the NOSCRIPT that
     * vmux_script_run() answers with EVAL). */
    char *errbuf;
    size_t errlen;
} vmux_callopts;

/**
 * An async completion. Runs exactly once on the handle's I/O thread, with status 0 and the
 * reply, VMUX_ERR_SERVER and the server's error reply, VMUX_ERR_REDIRECT_LOOP and an error reply
 * written by vmux that names the slot and the last node, VMUX_ERR_CROSSSLOT found for a command
 * the key table does not know (its keys listed by a node's COMMAND GETKEYS) and an error reply
 * written by vmux that names two keys and their slots (either NULL only if memory ran out), or
 * another negative VMUX_ERR_* code and reply NULL. For a callback of vmux_call_async() (or of a
 * typed *_async function) with a non-zero status, vmux_last_error() (error.h) gives, while it
 * runs, the words vmux_call() would have put in opts->errbuf: the server's message, or for a
 * command not sent or lost the connection's failure too, until the callback calls a function
 * that sets them (error.h: vmux_read_stats(), vmux_msgq_pop() and the other calls without an error
 * buffer clear them as they start): read them first. The callback owns reply and frees it with
 * vmux_reply_free() (it may pass it to another thread first). It must not block: every other
 * command of the handle waits while it runs. It may submit further commands with vmux_call_async()
 * or vmux_call_forget().
 */
typedef void (*vmux_reply_cb)(int status, vmux_reply *reply, void *userdata);

/**
 * Sends a command and waits for its reply. argv holds argc arguments (argc >= 1), the first
 * being the command name; argvlen gives their lengths, or is NULL when every argument is a
 * NUL-terminated string. The arguments are encoded before the call returns or blocks, so the
 * caller may reuse them at once.
 *
 * Returns 0 with *out set to the reply, VMUX_ERR_SERVER with *out set to the server's error
 * reply (vmux_reply_str() gives its message), VMUX_ERR_REDIRECT_LOOP (cluster: redirected more
 * than 5 times, not executed) with *out set to an error reply naming the slot and the last node
 * (NULL only if memory ran out), or another error with *out NULL:
 * VMUX_ERR_INVALID_ARG (NULL m/argv/out, argc < 1, bad opts: see vmux_callopts, flags with an
 * unknown bit; called on the I/O thread), VMUX_ERR_UNSUPPORTED (a command that cannot share the
 * connection, such as SUBSCRIBE, MULTI or SELECT; nothing was sent), VMUX_ERR_CROSSSLOT
 * (cluster: keys in different slots, named in opts->errbuf; nothing was sent), VMUX_ERR_NOMEM,
 * VMUX_ERR_TIMEOUT, VMUX_ERR_CONNECTION_LOST (sent, outcome unknown), VMUX_ERR_CLOSED,
 * VMUX_ERR_PROTOCOL (a reply on the connection was malformed, so the connection was replaced and
 * every command sent on it and unanswered fails so; outcome unknown; vmux_stats counts it under
 * connection_lost; or this command's own reply was over a reply limit: it ran, its reply was
 * skipped, the connection goes on, counted under replied), VMUX_ERR_BACKLOG_FULL (maxPending or
 * maxPendingBytes reached at the door, checked before a large command's arguments are copied, or
 * the backlog full while no connection is ready; not sent), VMUX_ERR_NOT_CONNECTED (no connection
 * was ready; not sent) and VMUX_ERR_FORKED (called in a child of fork(), see reliability.md; not
 * sent). The caller owns *out and frees it with vmux_reply_free().
 *
 * VMUX_ERR_PROTOCOL has a second meaning, in the typed functions built on this (commands.md) and
 * in the converters of types.h: the reply came, well-formed, but had another shape than the
 * function expects. The command ran and its connection is kept; vmux_stats counts the command
 * under replied, since it completed with its reply; a synchronous typed function's
 * opts->errbuf names the command, what it expected and what came ("GET: the command ran, but its
 * reply is not of the shape this function reads: expected a string or nil, got array of 3
 * elements"). vmux_call() itself never checks shapes.
 */
VMUX_EXPORT int vmux_call(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
                          const size_t *argvlen, vmux_reply **out);

/**
 * Queues a command and returns at once; cb runs later with the outcome (see vmux_reply_cb).
 * Returns 0 when the command was accepted (cb will run exactly once), or an error, in which
 * case cb never runs: VMUX_ERR_INVALID_ARG (NULL m/argv/cb, argc < 1, an unknown flag),
 * VMUX_ERR_UNSUPPORTED, VMUX_ERR_CROSSSLOT (cluster: keys in different slots), VMUX_ERR_NOMEM,
 * VMUX_ERR_CLOSED, VMUX_ERR_BACKLOG_FULL (maxPending or maxPendingBytes reached; checked
 * before a large command's arguments are copied), VMUX_ERR_FORKED (called in a child of
 * fork()). The arguments are encoded in the calling thread before this returns: for a large
 * value that takes time (docs/reliability.md, Large commands), which counts against the
 * command's deadline. Called from another thread, cb runs later on the I/O thread; called from
 * a callback (on the I/O thread), cb may already have run when this returns 0, if the command
 * failed at once (for example VMUX_ERR_NOT_CONNECTED or, a large one, VMUX_ERR_TIMEOUT).
 * A refusal's words go to opts->errbuf, when given, as vmux_call()'s do ("invalid argument: cb is
 * NULL", "invalid argument: the handle is NULL", the command SUBSCRIBE names with what to use
 * instead, the bound the door found full); the outcome of an accepted command goes to cb alone.
 */
VMUX_EXPORT int vmux_call_async(vmux *m, const vmux_callopts *opts, int argc,
                                const char *const *argv, const size_t *argvlen, vmux_reply_cb cb,
                                void *userdata);

/**
 * Queues a command whose reply nobody wants: the reply (or error) is read and dropped. One still
 * held when vmux_close() runs is dropped with the rest: vmux_drain() first (client.h). Returns
 * 0 when accepted, or VMUX_ERR_INVALID_ARG, VMUX_ERR_UNSUPPORTED, VMUX_ERR_CROSSSLOT,
 * VMUX_ERR_NOMEM, VMUX_ERR_CLOSED, VMUX_ERR_BACKLOG_FULL (maxPending or maxPendingBytes
 * reached; checked before a large command's arguments are copied), VMUX_ERR_FORKED (called in a
 * child of fork()). A refusal's words go to opts->errbuf, when given, as vmux_call_async()'s do.
 */
VMUX_EXPORT int vmux_call_forget(vmux *m, const vmux_callopts *opts, int argc,
                                 const char *const *argv, const size_t *argvlen);

/**
 * vmux_call() with the command written as a hiredis-style format string: "%s" inserts a C
 * string, "%b" a binary buffer given as (pointer, size_t length), "%%" a percent sign, and
 * printf's number conversions ("%d", "%lld", "%u", "%f"... as hiredis's formatter takes them,
 * each argument of the type printf expects); the text is split into arguments at spaces.
 * Example: vmux_command(m, &r, "SET %s %b", key, v, n).
 * Returns as vmux_call(), whose NULL out is VMUX_ERR_INVALID_ARG with nothing sent; a bad
 * format string gives VMUX_ERR_INVALID_ARG. Unlike vmux_call(), it formats the command before
 * the door's check and before its deadline starts: for large values, prefer vmux_call().
 */
VMUX_EXPORT int vmux_command(vmux *m, vmux_reply **out, const char *format, ...);

/**
 * vmux_command() with call options, as vmux_call() takes them (deadline, retry-safe, replica,
 * error buffer; NULL: the handle's defaults). Returns as vmux_command(); options vmux_call()
 * refuses are refused the same way, with nothing sent.
 * Example: vmux_command_opts(m, &opts, &r, "INCRBY %s %lld", key, (long long)n).
 */
VMUX_EXPORT int vmux_command_opts(vmux *m, const vmux_callopts *opts, vmux_reply **out,
                                  const char *format, ...);

/**
 * vmux_command_opts() with the arguments as a va_list, for a caller's own printf-style wrapper
 * (as hiredis's redisvCommand()). ap is used up: va_end() it afterwards, va_copy() it first to
 * use it again. Returns as vmux_command().
 */
VMUX_EXPORT int vmux_vcommand(vmux *m, const vmux_callopts *opts, vmux_reply **out,
                              const char *format, va_list ap);

#ifdef __cplusplus
}
#endif

#endif

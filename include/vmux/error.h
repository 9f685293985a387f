/** @file
 * Error codes. Every vmux function that can fail returns an int: 0 on success, or one of the
 * negative VMUX_ERR_* codes below. The codes come from one table, VMUX_ERRNO_MAP, so the enum,
 * vmux_err_name() and vmux_strerror() can never disagree.
 *
 * A server's error reply (-ERR, -WRONGTYPE, -NOSCRIPT ...) is not a transport error: it arrives
 * as a reply of type VMUX_REPLY_ERROR carrying the server's message, and calls that return it
 * say so with VMUX_ERR_SERVER.
 */
#ifndef VMUX_ERROR_H
#define VMUX_ERROR_H

#include "vmux/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** XX(NAME, value, description) */
#define VMUX_ERRNO_MAP(XX)                                                                         \
    XX(INVALID_ARG, -1, "invalid argument")                                                        \
    XX(NOMEM, -2, "out of memory")                                                                 \
    XX(CONFIG, -3, "invalid configuration")                                                        \
    XX(RESOLVE, -4, "host name could not be resolved")                                             \
    XX(CONNECT, -5, "could not connect to the server")                                             \
    XX(AUTH, -6, "the server rejected the credentials")                                            \
    XX(SETUP, -7, "connection setup failed")                                                       \
    XX(TLS, -8, "TLS failure")                                                                     \
    XX(TIMEOUT, -9, "timed out")                                                                   \
    XX(CONNECTION_LOST, -10, "connection lost after the command was sent; outcome unknown")        \
    XX(CLOSED, -11, "the handle was closed; a command it had sent may have run")                   \
    XX(PROTOCOL, -12, "malformed or oversized reply from the server")                              \
    XX(SERVER, -13, "the server replied with an error")                                            \
    XX(BACKLOG_FULL, -14, "too many commands pending; never sent")                                 \
    XX(IO, -15, "network I/O error")                                                               \
    XX(NOT_CONNECTED, -16, "not sent: no connection was ready, or its deadline passed first")      \
    XX(UNSUPPORTED, -17, "this command cannot run on a shared, multiplexed connection")            \
    XX(FORKED, -18, "the handle was opened in a parent process; open a new one after fork()")      \
    XX(CROSSSLOT, -19, "the command's keys hash to different cluster slots; nothing was sent")     \
    XX(REDIRECT_LOOP, -20, "the cluster kept redirecting the command; it was not executed")

/** The error codes. VMUX_OK (0) is success. */
typedef enum vmux_errno {
    VMUX_OK = 0,
#define VMUX_ERRNO_ENUM_(name, value, text) VMUX_ERR_##name = (value),
    VMUX_ERRNO_MAP(VMUX_ERRNO_ENUM_)
#undef VMUX_ERRNO_ENUM_
} vmux_errno;

/**
 * Returns a static, human-readable description of an error code ("timed out").
 * An unknown code gives "unknown error". Any thread may call it.
 */
VMUX_EXPORT const char *vmux_strerror(int err);

/**
 * Returns the static name of an error code, such as
 * "VMUX_ERR_TIMEOUT" (or "VMUX_OK"); an unknown code gives "VMUX_ERR_UNKNOWN".
 */
VMUX_EXPORT const char *vmux_err_name(int err);

/**
 * The words of the error that the calling thread's last call of a lock, rate limiter or cache
 * function (lock.h, ratelimit.h, cache.h), of vmux_session_store_new() (session.h), of
 * vmux_iam_credentials() (iam.h), of vmux_subscribe() and vmux_subscribe_queue() (pubsub.h), of
 * vmux_config_add_endpoint() (config.h), of vmux_batch_new() and vmux_batch_add() (batch.h), of
 * vmux_tx_new(), vmux_tx_add() and the vmux_tx_when_*() conditions (transaction.h), of
 * vmux_leaderboard_new() (leaderboard.h), of vmux_script_new() (script.h), of
 * vmux_scan_begin() and its HSCAN, SSCAN and ZSCAN forms (scan.h), of vmux_drain(),
 * vmux_read_stats() and vmux_read_node_stats() (client.h) or of vmux_msgq_new(),
 * vmux_msgq_pop(), vmux_sub_wait_live() and vmux_unsubscribe() (pubsub.h), of vmux_near_forget(),
 * vmux_format_metrics() or vmux_session_key(), or of a config setter
 * that refused (config.h: a setter that succeeds leaves the words as they were) returned, as
 * opts->errbuf gives them for the calls that take options (call.h): the server's message for
 * VMUX_ERR_SERVER
 * ("WRONGTYPE Operation against a key holding the wrong kind of value"), the connection's failure
 * for a transport error ("timed out waiting for a connection (never sent); last connection failure:
 * ..."), what was wrong for VMUX_ERR_INVALID_ARG after "invalid argument: ", as opts->errbuf has it
 * ("invalid argument: cost -1 out of range 0 .. 2^40"; every function's refusal so), or at least
 * the code's description. Those functions take no error buffer (their objects being shared
 * between threads, or built before any call that takes options), so they leave their words here,
 * per thread, as errno: each clears them when it starts and leaves "" when it succeeds. The string
 * belongs to the thread and stays valid, unchanged, until the thread's next call of those
 * functions. Inside the callback of a failed vmux_call_async() (or typed *_async) command, on the
 * I/O thread, it gives that command's words (call.h). Never NULL. Any thread.
 */
VMUX_EXPORT const char *vmux_last_error(void);

#ifdef __cplusplus
}
#endif

#endif

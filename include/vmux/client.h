/** @file
 * The multiplexer handle. A process creates one vmux per set of servers, shares it between all
 * its threads, and closes it once at the end. Every function here may be called from any
 * thread at any time, except vmux_close(), which must be the last call on the handle.
 *
 * The handle owns one I/O thread running a libuv loop. That thread owns every socket; callers'
 * commands are encoded in their own thread, queued, and written together once per loop turn, so
 * many threads' commands share each write and each read (see docs/architecture.md).
 *
 * Threads and signals. A call that may block holds the calling thread's cancellation off
 * (pthread_setcancelstate()) until it returns, by its deadline: a pthread_cancel() sent meanwhile
 * takes effect at the thread's next cancellation point after the call, so a cancelled caller
 * never leaves the handle, a lock or its reply half done. The I/O thread starts with the signal
 * mask of the thread that calls vmux_open(), with SIGPIPE blocked as well: block a signal that a
 * thread of yours takes with sigwait() before vmux_open(), or the I/O thread may be the one it is
 * delivered to. The process need not ignore SIGPIPE: the I/O thread blocks it, and a caller that
 * writes to a socket itself sends with MSG_NOSIGNAL.
 */
#ifndef VMUX_CLIENT_H
#define VMUX_CLIENT_H

#include <stddef.h>

#include "vmux/config.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The handle (opaque): vmux_open(), vmux_close(). */
typedef struct vmux vmux;

/**
 * Creates a handle for the servers in cfg and starts its I/O thread. cfg is copied; the caller
 * keeps ownership of it. A standalone handle holds that thread, 7 file descriptors (its libuv
 * loop's epoll, signal pipe and wake-up eventfd, the direct lane's eventfd, libuv's reserve
 * /dev/null, its connection's socket), an eighth once a synchronous call has read its own reply
 * (a duplicate of the socket; never over TLS), one more per other connection, and some 60 to 110 kB
 * of memory (over TLS some 110 kB more for the session; probe40 measured ~240 kB a handle with
 * sslCaFile): count them against RLIMIT_NOFILE (docs/serverless.md, "What a handle holds"). The
 * first handle of a process also makes libuv's process-wide signal pipe (2 more descriptors,
 * which stay open after vmux_close()), and the first that trusts the system store reads it, once
 * for the process (about 1 MB with 144 certificates; docs/tls.md).
 *
 * With abortConnect=true (the default) it returns only once a connection is ready (session
 * set up: AUTH, SELECT, CLIENT SETNAME/SETINFO), or fails after connectRetry attempts (one
 * endpoint each, round robin; at least one per listed endpoint, except with serviceName); with
 * abortConnect=false it returns at once and connects in the background while commands wait.
 *
 * On success *out owns the handle; free it with vmux_close(). On failure *out is NULL, nothing
 * is left running, and errbuf (if given) receives the reason in words, such as
 * "127.0.0.1:6379: connect failed: connection refused"; when attempts to several endpoints
 * failed, each endpoint's last failure, such as "each endpoint tried failed: 10.0.0.1:6379:
 * connect failed: connection refused; 10.0.0.2:6379: not the primary (ROLE: slave)" (the code
 * is the last attempt's). It never holds the user or password
 * (an AUTH error keeps only its code, such as "AUTH failed: WRONGPASS (...)"; other server
 * texts have the credentials masked as "*****").
 * Errors: VMUX_ERR_INVALID_ARG, VMUX_ERR_CONFIG (no endpoint, inconsistent keys),
 * VMUX_ERR_NOMEM, VMUX_ERR_RESOLVE, VMUX_ERR_CONNECT, VMUX_ERR_TIMEOUT (connectTimeout passed),
 * VMUX_ERR_AUTH, VMUX_ERR_SETUP (SELECT or CLIENT SETNAME refused), VMUX_ERR_TLS, VMUX_ERR_IO,
 * VMUX_ERR_PROTOCOL.
 */
VMUX_EXPORT int vmux_open(const vmux_config *cfg, vmux **out, char *errbuf, size_t errlen);

/**
 * As vmux_open(), from a configuration string or URL (config.h). A parse error returns
 * VMUX_ERR_CONFIG with the offending token in errbuf.
 */
VMUX_EXPORT int vmux_open_str(const char *config, vmux **out, char *errbuf, size_t errlen);

/**
 * Waits until the handle holds no command: every command accepted before or during the wait has
 * completed (its reply came, or it failed or timed out; a command that timed out after it was
 * written is held until its reply comes or its connection ends), or until timeout_ms passed
 * (VMUX_FOREVER: no limit). For a shutdown that loses nothing: stop your threads' submissions,
 * drain, then vmux_close(), which completes what is still held with VMUX_ERR_CLOSED (a
 * vmux_call_forget() command among them is simply dropped). A blocking command counts until it
 * returns; subscriptions are not commands and do not count. Returns 0 once nothing is held,
 * VMUX_ERR_TIMEOUT if something still is when timeout_ms passed (vmux_read_stats() tells how
 * much: pending). Like every call, it must have returned before vmux_close() is called (a
 * drain that close empties would return 0 with nothing answered). Any thread but the I/O
 * thread. Errors: VMUX_ERR_INVALID_ARG (m NULL,
 * timeout_ms below VMUX_FOREVER, or called from a callback, on the I/O thread, whose commands
 * it would wait for), VMUX_ERR_FORKED. It takes no error buffer: its words go to vmux_last_error()
 * (error.h): which argument broke which rule ("invalid argument: timeout_ms is -2: must be
 * VMUX_FOREVER (-1), ..."), else the code's description; a success leaves "".
 */
VMUX_EXPORT int vmux_drain(vmux *m, int64_t timeout_ms);

/**
 * Closes the handle: every command not yet completed completes with VMUX_ERR_CLOSED (sync
 * callers wake, async callbacks run on the I/O thread), then the I/O thread is joined and all
 * memory is freed. (libuv's resolver threads, started once per process by the first host name
 * resolved and shared by every handle, stay: docs/serverless.md.) A call another thread has
 * under way when it begins is waited for until it has handed its command over (or read its
 * statistics), and one that reaches the handle while it runs is refused with VMUX_ERR_CLOSED
 * (vmux_read_stats() too); a near-cache read that missed is waited for until it returns. (Not
 * yet a near-cache hit, nor a typed multi-key command that a cluster splits per slot or a typed
 * command run on every node, which look at the handle before their command exists: for those
 * only the order below keeps them safe.) But once it has
 * returned the handle is gone: a call that starts after
 * that uses freed memory, and a thread cannot tell from outside when that is. So stop your
 * threads from calling first (set your own flag and wait until each has seen it, or join them),
 * then close; the CLOSED refusal is a net under that order, not a way to stop threads (a thread
 * that sees it must not call again, but another may be about to start a call as it returns).
 * Calling it from an async callback (on the I/O thread, which it would have to join) is a
 * programming error: the process aborts with a message. NULL is allowed.
 */
VMUX_EXPORT void vmux_close(vmux *m);

/**
 * Counters of a handle since it opened. Each is read atomically, but the set is not one
 * snapshot: counters keep moving while they are read.
 */
typedef struct vmux_stats {
    size_t size;               /**< sized struct: make it with VMUX_INIT(vmux_stats) (abi.h) */
    uint64_t submitted;        /**< commands accepted for callers: each command a call sends,
                                    so an EVAL sent after NOSCRIPT counts on its own (see
                                    docs/reliability.md, Counters) */
    uint64_t replied;          /**< completed with a reply (server error replies included, a
                                    NOSCRIPT too, a reply a typed function then refused with
                                    VMUX_ERR_PROTOCOL for its shape, and a reply refused over a
                                    reply limit, VMUX_ERR_PROTOCOL too) */
    uint64_t timed_out;        /**< completed with VMUX_ERR_TIMEOUT */
    uint64_t connection_lost;  /**< completed with VMUX_ERR_CONNECTION_LOST, or with
                                    VMUX_ERR_PROTOCOL for a malformed reply on its connection
                                    (which was replaced) */
    uint64_t closed;           /**< completed with VMUX_ERR_CLOSED */
    uint64_t failed_other;     /**< completed with any other error */
    uint64_t resent;           /**< retry-safe commands sent again after a connection broke */
    uint64_t retried;          /**< commands sent again after LOADING, TRYAGAIN and the like */
    uint64_t connects;         /**< connections that became ready */
    uint64_t connect_failures; /**< connection attempts or ready connections that failed (not
                                    the near cache's deliberate renewal of its invalidation
                                    connection). A connection closed on purpose (to a node
                                    that left the cluster map, a replaced or demoted one)
                                    counts in neither, and `connected` leaves out the blocking
                                    pool's, the subscribers' and the near cache's connections,
                                    which connects counts: connects - connect_failures is not
                                    `connected` */
    uint64_t backlog;          /**< commands waiting for a connection, as of the link's last
                                    event or its once-a-second tick */
    uint64_t in_flight;        /**< commands sent and not yet answered, as of the same */
    uint64_t bytes_in;         /**< bytes read from the network (TLS: ciphertext) */
    uint64_t bytes_out;        /**< bytes handed to the network */
    uint64_t pending;          /**< commands held for callers now (see maxPending), all links */
    uint64_t pending_bytes;    /**< their encoded bytes, now */
    uint64_t refused;          /**< calls refused with VMUX_ERR_BACKLOG_FULL: at the door,
                                    and (cluster) commands for a stalled node past its share
                                    of maxPending (docs/cluster.md), which count as completed
                                    in failed_other too */
    /** Subscriber connections that broke while a subscription was live: the messages published
     * until the subscriptions were live again are lost (VMUX_EVENT_SUBSCRIBER_LOST). */
    uint64_t subscriber_lost;
    /** Cluster mode (docs/cluster.md): MOVED and ASK replies followed (a shard channel's
     * SSUBSCRIBE's too), and slot map refreshes asked of a node (CLUSTER SLOTS sent: the first
     * map's and the periodic checks included). */
    uint64_t cluster_moved;
    uint64_t cluster_asked;
    uint64_t cluster_refreshes;
    /** Pub/sub messages dropped because they would have been delivered twice: after a
     * subscription moved to another node (cluster), a message from its old node, or one the new
     * node brought again after the old one delivered it (docs/pubsub.md, "at most once"). */
    uint64_t pubsub_dropped;
    /** Connections for commands set up now (a gauge, changed as each connects or breaks): the
     * handle's main connection, a cluster's one per node it links to (the seed's and a demoted
     * primary's included), readFrom's one per replica; not the blocking pool's, the
     * subscribers' or the sentinels'. 0 means no command can be sent now (it waits in the
     * backlog); `connected > 0` is StackExchange.Redis's IsConnected. */
    uint64_t connected;
    /** Of replied: commands the server answered with an error reply (OOM when maxmemory is
     * reached with noeviction, NOPERM, READONLY, WRONGTYPE, a script's error, NOSCRIPT before
     * its EVAL...): a handle whose connections are healthy while its writes fail shows here.
     * The words are the caller's (VMUX_ERR_SERVER). */
    uint64_t error_replies;
    /** Pub/sub messages dropped because they were over a reply limit (a payload over
     * maxBulkLength, or over maxReplyBuffer): the subscriber connection skips such a message
     * and goes on, where it failed and was replaced before (docs/pubsub.md, "Messages over a
     * reply limit"). Logged at VMUX_LOG_WARN, at most one line per 10 s with the channel. */
    uint64_t pubsub_over_limit;
} vmux_stats;

/**
 * Fills *out, made with VMUX_INIT(vmux_stats), with the handle's counters: the fields its size
 * covers (abi.h). Any thread may call it at any time before vmux_close() returns.
 * Errors: VMUX_ERR_INVALID_ARG (m or out NULL, or out->size below sizeof(size_t)),
 * VMUX_ERR_CLOSED (the handle is closing). It takes no error buffer: its words go to
 * vmux_last_error() (error.h): which argument broke which rule ("invalid argument: out->size is 0:
 * out not made with VMUX_INIT (abi.h)"), else the code's description; a success leaves "".
 */
VMUX_EXPORT int vmux_read_stats(const vmux *m, vmux_stats *out);

/**
 * Fills *out, made with VMUX_INIT(vmux_stats), with the counters of one node's links (host and
 * port as vmux_call_nodes() or an event names the node; an IPv6 host with or without brackets):
 * resent, retried, connects, connect_failures, backlog, in_flight, bytes_in, bytes_out and
 * connected (1 while the node's command connection is set up); the
 * other fields are 0 (commands are counted per handle: a command may move between nodes). Every
 * connection, and every attempt to make one, counts under the node it dialled: a configured
 * endpoint, the primary the sentinels named, a node of the cluster map; the handle's main link,
 * blocking pool and subscriber links under whichever of them they reach, so after a failover the
 * old primary keeps what it was sent and the new one counts from its first connection. A
 * cluster's seed node counts under its configured name (the seed link's attempts and setups) and
 * the map's (its traffic once its node is known): either name gives both.
 * vmux_read_stats() is the total over every node. Any thread. Errors: VMUX_ERR_INVALID_ARG (m,
 * host or out NULL, a port outside 1..65535, out->size below sizeof(size_t), or a node the handle
 * never dialled), VMUX_ERR_NOMEM, VMUX_ERR_CLOSED (the handle is closing). Its words go to
 * vmux_last_error() as vmux_read_stats()'s do ("192.0.2.1:1: a node the handle never dialled").
 */
VMUX_EXPORT int vmux_read_node_stats(const vmux *m, const char *host, int port, vmux_stats *out);

#ifdef __cplusplus
}
#endif

#endif

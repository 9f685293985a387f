/** @file
 * Per-node commands: any command sent to one chosen node of the handle (vmux_call_node()), or to
 * every node of a kind, primaries, replicas or all (vmux_call_nodes() and its async form), with
 * each node's own reply. On a cluster the nodes are those of the handle's current slot map
 * (docs/cluster.md); against a standalone server that server is the one node, a primary, and
 * there is no replica.
 *
 *     vmux_node_replies res;
 *     const char *argv[] = {"INFO", "server"};
 *     if (vmux_call_nodes(m, NULL, VMUX_NODES_PRIMARIES, 2, argv, NULL, &res) == 0) {
 *         for (size_t i = 0; i < res.count; i++)
 *             printf("%s: %s\n", res.nodes[i].address,
 *                    res.nodes[i].status == 0 ? "ok" : vmux_strerror(res.nodes[i].status));
 *         vmux_node_replies_free(&res);
 *     }
 *
 * What is sent: the command as given, one copy per node, each on the handle's link to that node
 * (opened on first use, with the handle's configuration). Nothing is routed by key and nothing
 * is redirected: each node's answer, MOVED, READONLY or LOADING included, is that node's reply.
 * A replica's link is in READONLY mode (docs/replicas.md), so a replica answers reads of its own
 * shard's keys (with its copy, which may lag behind the primary's) and MOVED for any other key,
 * as for a write.
 *
 * Deadline: one for the whole call (opts->timeout_ms, else syncTimeout for the synchronous forms
 * and asyncTimeout for the async one), counted from the call; each node's part must be answered
 * by it. A node that is down, paused or slow gives its own entry an error (VMUX_ERR_TIMEOUT,
 * VMUX_ERR_CONNECTION_LOST...); the other entries are not held up beyond the deadline and the
 * call as a whole still succeeds.
 *
 * Retry-safety as vmux_call(): a node's copy is sent again after a broken connection only with
 * VMUX_CALL_RETRY_SAFE in opts->flags. VMUX_CALL_BLOCKING and commands that may not share a
 * connection (SUBSCRIBE, MULTI, WATCH...) are refused: VMUX_ERR_UNSUPPORTED, nothing is sent.
 * WAIT and WAITAOF are not: they run on each node's link, the one that carried the handle's
 * writes to it, holding it for up to their block time (give timeout_ms more than that).
 *
 * Threads: the synchronous forms from any thread but the I/O thread (VMUX_ERR_INVALID_ARG there);
 * the async form from any thread, its callbacks included.
 */
#ifndef VMUX_CLUSTER_H
#define VMUX_CLUSTER_H

#include <stddef.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/reply.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Which nodes a fan-out reaches. */
typedef enum vmux_node_set {
    VMUX_NODES_PRIMARIES = 1, /**< every primary (standalone: the server) */
    VMUX_NODES_REPLICAS = 2,  /**< every replica the map lists (standalone: none) */
    VMUX_NODES_ALL = 3,       /**< both */
} vmux_node_set;

/** What a node is in the handle's map. */
typedef enum vmux_node_role {
    VMUX_ROLE_PRIMARY = 1,
    VMUX_ROLE_REPLICA = 2,
} vmux_node_role;

/** One node's part of a fan-out. */
typedef struct vmux_node_reply {
    char *address; /**< "host:port" as the map names the node (an IPv6 host whole: "::1:7000");
                        "?:0" for a primary the map gives no address for yet, whose status is
                        then VMUX_ERR_NOT_CONNECTED (nothing sent) */
    vmux_node_role role; /**< as the map said when the call started */
    int status;          /**< 0, VMUX_ERR_SERVER (reply is the error reply), or another error */
    vmux_reply *reply;   /**< the node's reply (status 0), its error reply (VMUX_ERR_SERVER),
                              or for any other status an error reply written by vmux that says
                              why, in vmux_call()'s words ("timed out waiting for a connection
                              (never sent); last connection failure: ..."; the "?:0" entry's:
                              NOADDRESS ...); NULL only when no memory was left for it */
} vmux_node_reply;

/** The parts of a fan-out: primaries first, then replicas, each in the map's order of shards. */
typedef struct vmux_node_replies {
    size_t count;
    vmux_node_reply *nodes;
} vmux_node_replies;

/** Frees what a fan-out gave (addresses, replies, the array) and zeroes *r. NULL is allowed. */
VMUX_EXPORT void vmux_node_replies_free(vmux_node_replies *r);

/**
 * Sends argv (argc arguments, binary-safe with argvlen, or NUL-terminated when argvlen is NULL)
 * to every node of the set, and waits until each answered or the deadline passed. Returns 0 with
 * one entry per node in *out (its own status and reply; count 0 when the set is empty, such as
 * the replicas of a standalone server); the caller frees *out with vmux_node_replies_free(). out
 * may be NULL to drop the replies. Errors, with *out zeroed: VMUX_ERR_INVALID_ARG (NULL m, a bad
 * set, argc < 1, bad opts, or called on the I/O thread), VMUX_ERR_UNSUPPORTED (see above),
 * VMUX_ERR_TIMEOUT (the handle did not learn what the server is by the deadline: a call made
 * before detection is over, after vmux_open() with abortConnect=false, waits for it as other
 * commands do), VMUX_ERR_NOT_CONNECTED (the same with backlogPolicy=failFast and no
 * connection ready), the code of a failed detection (cluster=yes against a standalone server),
 * VMUX_ERR_CLOSED, VMUX_ERR_FORKED,
 * VMUX_ERR_NOMEM; the error's description goes to opts->errbuf when given (a refused set or
 * argument named, and a refused command's reason given, as vmux_call() gives them). The nodes'
 * own errors are in their entries only.
 */
VMUX_EXPORT int vmux_call_nodes(vmux *m, const vmux_callopts *opts, vmux_node_set nodes, int argc,
                                const char *const *argv, const size_t *argvlen,
                                vmux_node_replies *out);

/**
 * A fan-out's completion: runs exactly once, on the I/O thread, with status 0 and the parts,
 * which the callback owns: vmux_node_replies_free(result) frees what they hold, then
 * free(result) the struct itself (allocated with malloc()). Or a call-level error (as
 * vmux_call_nodes() lists) and result NULL. It must not block; it may submit further commands.
 */
typedef void (*vmux_node_replies_cb)(int status, vmux_node_replies *result, void *userdata);

/**
 * vmux_call_nodes() without waiting. argv is copied before this returns. Returns 0 when the call
 * was accepted (cb runs exactly once), or VMUX_ERR_INVALID_ARG (NULL cb...), VMUX_ERR_UNSUPPORTED,
 * VMUX_ERR_CLOSED, VMUX_ERR_FORKED or VMUX_ERR_NOMEM, in which case cb never runs; a refusal's
 * words go to opts->errbuf, when given, as vmux_call_nodes() gives them ("invalid argument: cb is
 * NULL", "invalid argument: nodes is 9, none of ...", "...: BLPOP blocks on the server: ..."). Any
 * thread; called on the I/O thread, cb may already have run when this returns 0.
 */
VMUX_EXPORT int vmux_call_nodes_async(vmux *m, const vmux_callopts *opts, vmux_node_set nodes,
                                      int argc, const char *const *argv, const size_t *argvlen,
                                      vmux_node_replies_cb cb, void *userdata);

/**
 * Sends argv to the one node host:port (compared with the addresses vmux_call_nodes() reports,
 * host without regard to case) and waits for its reply, which it returns as vmux_call() does: 0
 * with *out, VMUX_ERR_SERVER with the error reply in *out (its text in opts->errbuf), or another
 * error with *out NULL (in opts->errbuf the words vmux_call() gives, such as "timed out waiting
 * for a connection (never sent); last connection failure: host:port: ..."). out may be NULL to drop
 * the reply. A host:port that is no node of the handle's map (standalone: not the server's address)
 * is VMUX_ERR_INVALID_ARG, nothing sent, and opts->errbuf says so, naming host:port; other errors
 * as vmux_call_nodes().
 */
VMUX_EXPORT int vmux_call_node(vmux *m, const vmux_callopts *opts, const char *host, int port,
                               int argc, const char *const *argv, const size_t *argvlen,
                               vmux_reply **out);

#ifdef __cplusplus
}
#endif

#endif

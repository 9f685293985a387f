/*
 * What the layers above lib/mux (lib/api's fan-out rules and cluster SCAN) may ask about the
 * handle's cluster mode beyond the public API (vmux/cluster.h), without seeing struct vmux.
 */
#ifndef VMUX_FANOUT_H
#define VMUX_FANOUT_H

#include <stdbool.h>

#include "vmux/cluster.h"

/*
 * Whether the handle routes by slot (it found a cluster) or may yet (detection is not over): a
 * typed fan-out then goes through vmux_call_nodes(), which waits for detection and asks the one
 * server when there is no cluster. Any thread; one atomic load.
 */
bool vmux__fanout_cluster(vmux *m);

/*
 * Waits, within opts' deadline, until the handle knows whether it is on a cluster: 0 (at once
 * when it knows already), or VMUX_ERR_TIMEOUT, VMUX_ERR_NOT_CONNECTED (backlogPolicy=failFast with
 * no connection), VMUX_ERR_CLOSED, VMUX_ERR_FORKED, VMUX_ERR_NOMEM, VMUX_ERR_INVALID_ARG (on the
 * I/O thread), with words in opts' error buffer. Any thread but the I/O thread.
 */
int vmux__fanout_settle(vmux *m, const vmux_callopts *opts);

/*
 * vmux_call_node() to the node whose id is id (or NULL: by host:port only), wherever the handle's
 * map places it and whatever name the map gives it (a CLUSTER NODES line names a node by its IP
 * address; the map by the host CLUSTER SLOTS gives, which may be a host name, or the seed's name
 * when the host is empty); when no node of the map has that id (or the map has no ids), the node at
 * host:port, as vmux_call_node() finds it. Caller's thread (never the I/O thread), blocking;
 * returns as vmux_call_node() does, except when neither finds a node: VMUX_ERR_NOT_CONNECTED (not
 * sent; a node that left the cluster, or a map behind it), with both in the error buffer, and a
 * refresh of the map is asked for. That is no bad argument: the caller learnt the node from a
 * node's view, which the map may not share yet. own: the command is the library's own (cluster
 * SCAN's CLUSTER NODES), its reply read under the default reply limits, not the user's
 * (core/op.h VMUX_OP_OWN); false for the user's commands (a SCAN step).
 */
int vmux__fanout_call_node_id(vmux *m, const vmux_callopts *opts, const char *id, const char *host,
                              int port, bool own, int argc, const char *const *argv,
                              const size_t *argvlen, vmux_reply **out);

/*
 * vmux_call_nodes() of a command of the library's own (cluster SCAN's CLUSTER NODES): the nodes'
 * replies are read under the default reply limits, not the user's maxBulkLength and the like,
 * which bound the replies to the user's commands. Same threads, returns and ownership.
 */
int vmux__fanout_call_nodes_own(vmux *m, const vmux_callopts *opts, vmux_node_set nodes, int argc,
                                const char *const *argv, vmux_node_replies *out);

/*
 * What a typed fan-out does after a part met a node the map names a primary and that is none
 * (vmux__fanout_call_primaries()): once the map refreshed after that is in place, it runs again,
 * once, or not at all.
 */
enum vmux__rerun {
    /* A read (DBSIZE, KEYS, SCRIPT EXISTS, PING, RANDOMKEY): every primary of the refreshed map
     * again, so that a sum or a union comes from one map (no shard counted twice, none missed). */
    VMUX__RERUN_ALL,
    /* A write that is idempotent per node (SCRIPT LOAD, FLUSHALL, FUNCTION LOAD...): a part that
     * succeeded on a node whose ROLE said "master" and that the refreshed map still names a
     * primary is kept (done once: FUNCTION LOAD would meet its own library, a FLUSHALL again the
     * writes made since); every other primary of the refreshed map gets the command. */
    VMUX__RERUN_REST,
    /* No rerun: WAIT and WAITAOF, whose answer is about one connection's writes. */
    VMUX__RERUN_NONE,
};

/*
 * vmux_call_nodes() to the primaries for a typed fan-out (api/fanout.c), each part preceded on its
 * connection by ROLE: a node the map still names a primary that answers another role (demoted by a
 * failover, or a primary a reshard emptied that became a replica) has its entry fail with
 * VMUX_ERR_SERVER and an error reply of vmux's words, "NOTPRIMARY <address> is no longer a primary
 * (ROLE: <role>) ...", in place of its answer (a replica's DBSIZE would count another shard's keys,
 * its SCRIPT LOAD miss the new primary), and a refresh of the map is asked for. A ROLE that fails
 * (timeout, ACL) changes nothing. Then, unless rerun is VMUX__RERUN_NONE, the call waits (by its
 * deadline) for the map refreshed after that and runs again on it as rerun says, once; the
 * entries it returns are those of the rerun (a demoted node met again says so in its words), or
 * of the first run when no refreshed map came in time. A part waiting for a primary that died,
 * withdrawn once a refreshed map names another (vmux__fanout_withdraw(), mux/mux.h), makes the
 * call run again on that map at once, and again (four runs at most) while each run's map moves on
 * under it. Same threads, returns and ownership as
 * vmux_call_nodes(); one more command per primary (pipelined: no round trip more).
 */
int vmux__fanout_call_primaries(vmux *m, const vmux_callopts *opts, enum vmux__rerun rerun,
                                int argc, const char *const *argv, const size_t *argvlen,
                                vmux_node_replies *out);

#endif

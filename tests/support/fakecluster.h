/*
 * Scripted fake cluster nodes, for what a real cluster will not do on demand (odd MOVED
 * endpoints, redirect loops, bursts of TRYAGAIN or CLUSTERDOWN, garbage CLUSTER SLOTS). N nodes
 * listen on ephemeral loopback ports (127.0.0.1, or ::1 where asked) and are served by one thread
 * of the test process.
 *
 * Every node answers, on any connection:
 * - PING with +PONG; CLIENT, AUTH, SELECT, HELLO and READONLY with +OK (the connection setup);
 * - INFO with a bulk string holding "cluster_enabled:1";
 * - CLUSTER SLOTS with its slots reply (vt_fcluster_set_slots(); by default the 16384 slots split
 *   evenly, node i serving the i-th part, each node listed with its host and port);
 *   CLUSTER MYID with the id given by vt_fcluster_set_myid(), else an error; CLUSTER NODES with
 *   the text given by vt_fcluster_set_nodes(), else an error; CLUSTER SHARDS with an error (vmux
 *   asks only CLUSTER SLOTS for its map), counted too;
 * - ROLE with the reply given by vt_fcluster_set_role(), else as a data command (below);
 * - ASKING with +OK, remembered for the connection's next command;
 * - any other command (a data command): the first of the node's rules that matches it (its key,
 *   argv[1], equal to the rule's key, or any key for a rule without one; a rule made with
 *   VT_FC_AFTER_ASKING only right after ASKING on the same connection, one made with
 *   VT_FC_FIRST_CONN only on the node's first accepted connection; a rule whose count has run
 *   out never) sends the rule's bytes (none for a rule made with VT_FC_SILENT), as they are (any
 * RESP: "-MOVED 12 :7001\r\n",
 *   "-TRYAGAIN ...\r\n", "-MOV\r\n", "$5\r\nhello\r\n"); without a matching rule SET k v stores
 *   v (+OK), GET k answers what the node stored for k (nil when nothing), others +OK.
 *
 * Each node counts the commands it received by name (upper case; "CLUSTER SLOTS" for CLUSTER's
 * subcommands) and the connections it accepted.
 *
 * Threading: every function may be called from any thread while the nodes run; the nodes'
 * thread never calls back into the test. Rules and slots replies may change at any time and
 * apply from the next command a node reads.
 */
#ifndef VMUX_FAKECLUSTER_H
#define VMUX_FAKECLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#define VT_FC_MAX_NODES 8

typedef struct vt_fcluster vt_fcluster;

/* A rule applies only to the command right after ASKING on the same connection. */
#define VT_FC_AFTER_ASKING 1u

/* A rule applies only on the first connection the node accepted (a node replaced behind it). */
#define VT_FC_FIRST_CONN 2u

/* A rule answers nothing (its resp is not sent): the command stays unanswered, as on a node that
 * hangs, until the connection closes (vt_fcluster_drop_conns()), and the node reads nothing more
 * from that connection (its later commands, a refresh's CLUSTER SLOTS too, stay unanswered). */
#define VT_FC_SILENT 4u

/* A rule answers only once its node's gate opens (vt_fcluster_open_gate()): until then the
 * command waits, unanswered, and the node reads nothing more from that connection (its later
 * commands wait behind it, as on a node busy with it). Other connections are served. */
#define VT_FC_GATED 8u

/* A rule answers as a blocking command that nothing feeds does at its block's end: once its last
 * argument (a block time in seconds, a fraction allowed, as BLPOP's) has passed since the node
 * read it; meanwhile the node reads nothing more from that connection. */
#define VT_FC_AT_BLOCK_END 16u

/* One range of a CLUSTER SLOTS reply built by vt_fcluster_slots_resp(). */
struct vt_fc_range {
    int lo, hi;       /* slots lo..hi */
    const char *host; /* the primary's host as the reply gives it ("" and "?" allowed) */
    int port;
};

/*
 * Starts n nodes (1 .. VT_FC_MAX_NODES), node i on hosts[i] ("127.0.0.1" or "::1"; hosts NULL:
 * all on 127.0.0.1). Returns NULL, with a message on stderr, when one cannot listen.
 */
vt_fcluster *vt_fcluster_start(size_t n, const char *const *hosts);

/* Whether this machine can listen on the IPv6 loopback address ::1. */
bool vt_fcluster_ipv6_loopback(void);

/* Node i's port and host (as given to vt_fcluster_start()). */
int vt_fcluster_port(const vt_fcluster *c, size_t node);
const char *vt_fcluster_host(const vt_fcluster *c, size_t node);

/*
 * Sets the CLUSTER SLOTS reply (resp: raw RESP bytes, copied; NULL: back to the default) of node,
 * or of every node when node is -1.
 */
void vt_fcluster_set_slots(vt_fcluster *c, int node, const char *resp);

/*
 * A CLUSTER SLOTS reply with n ranges, each served by one primary given by host and port (no
 * replicas, no node id). Returns a malloc'd NUL-terminated string, which the caller frees; NULL
 * when out of memory.
 */
char *vt_fcluster_slots_resp(const struct vt_fc_range *ranges, size_t n);

/* Sets the id node answers CLUSTER MYID with (copied; NULL: an error, as by default). */
void vt_fcluster_set_myid(vt_fcluster *c, size_t node, const char *id);

/*
 * Sets what node answers ROLE with (raw RESP, copied, "*3\r\n$6\r\nmaster\r\n..."), counted as
 * ROLE; NULL (the default): ROLE is a data command, answered by the rules or +OK.
 */
void vt_fcluster_set_role(vt_fcluster *c, size_t node, const char *resp);

/* Sets the text node answers CLUSTER NODES with, as a bulk string (copied; NULL: an error, as by
 * default). */
void vt_fcluster_set_nodes(vt_fcluster *c, size_t node, const char *text);

/*
 * Appends a rule to node: a data command with key (NULL: any key) is answered with resp (copied)
 * times times (-1: until cleared); flags VT_FC_AFTER_ASKING, VT_FC_FIRST_CONN or 0. Returns 0, or
 * -1 when out of memory.
 */
int vt_fcluster_rule(vt_fcluster *c, size_t node, const char *key, int times, unsigned flags,
                     const char *resp);

/*
 * vt_fcluster_rule() for a length of time: the rule answers every matching command until ms
 * milliseconds after the first one it answered, then never again (a state of the cluster that
 * lasts that long, such as a migration's MOVED ping-pong). Returns 0, or -1 when out of memory.
 */
int vt_fcluster_rule_for(vt_fcluster *c, size_t node, const char *key, long ms, unsigned flags,
                         const char *resp);

/* Removes every rule of node, or of every node when node is -1. */
void vt_fcluster_clear_rules(vt_fcluster *c, int node);

/* How many commands called name (upper case; "CLUSTER SLOTS") node received so far. */
unsigned vt_fcluster_count(vt_fcluster *c, size_t node, const char *name);

/* The same, summed over every node. */
unsigned vt_fcluster_count_all(vt_fcluster *c, const char *name);

/* Waits up to timeout_ms until node has received at least want commands called name (as
 * vt_fcluster_count() counts them); returns whether it has. */
bool vt_fcluster_wait_count(vt_fcluster *c, size_t node, const char *name, unsigned want,
                            int timeout_ms);

/*
 * The arguments of the last data command node received (not PING, setup, INFO, CLUSTER or
 * ASKING), joined by single spaces, into buf (len bytes, cut to fit, NUL-terminated); "" when
 * none yet.
 */
void vt_fcluster_last_command(vt_fcluster *c, size_t node, char *buf, size_t len);

/* CLUSTER SLOTS, CLUSTER SHARDS and CLUSTER NODES received by every node together. */
unsigned vt_fcluster_topology_queries(vt_fcluster *c);

/*
 * Closes every connection node accepted (not its listener), without answering what they still
 * wait for: a node that dies and comes back. Returns at once; the nodes' thread closes them
 * before it reads anything more. Safe from any thread, a vmux callback included.
 */
void vt_fcluster_drop_conns(vt_fcluster *c, size_t node);

/* How many commands wait at node's gate (VT_FC_GATED) now. */
unsigned vt_fcluster_gated(vt_fcluster *c, size_t node);

/*
 * Opens node's gate: the commands waiting there are answered, and the node reads their
 * connections again; a gated rule matched later answers at once. Safe from any thread.
 */
void vt_fcluster_open_gate(vt_fcluster *c, size_t node);

/* How many connections node accepted so far. */
unsigned vt_fcluster_accepted(vt_fcluster *c, size_t node);

/* Closes every connection and listener, joins the thread and frees c. NULL is allowed. */
void vt_fcluster_stop(vt_fcluster *c);

#endif

/*
 * The slot map: which shard serves each of the 16384 slots, and the nodes of each shard (its
 * primary first, then its replicas), built from a CLUSTER SLOTS reply.
 *
 * A map is immutable once built. A change (a refresh, a MOVED) builds a new map, and whoever
 * routes publishes it in place of the old one, for instance in an atomic pointer that only the
 * I/O thread stores. Maps are reference counted so that the old one lives as long as someone
 * reads it: vmux__slotmap_ref() and vmux__slotmap_unref() are atomic, and any thread may read a
 * map it holds a reference to. Taking a reference from a published pointer is the publisher's
 * business: a thread must never load the pointer and then take a reference while the publisher
 * may drop the last one in between (take it under the publisher's lock, or read maps only on the
 * publishing thread). epoch orders maps: each new map has a larger one than the map it replaces.
 *
 * Endpoint rules, as the cluster specification gives them: a node whose host is NULL or empty
 * is reached at the host that was asked for the map (flag VMUX_NODE_ASKED_HOST); a host "?" or
 * a port 0 is unknown (VMUX_NODE_UNKNOWN: never dialled, refresh the map instead); a host is kept
 * whole, IPv6 addresses included (CLUSTER SLOTS gives host and port as separate fields).
 */
#ifndef VMUX_ROUTE_SLOTMAP_H
#define VMUX_ROUTE_SLOTMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route/slot.h"
#include "vmux/reply.h"

/* owner[] of a slot that no shard serves (a hole, with cluster-require-full-coverage no). */
#define VMUX_SLOT_NO_OWNER 0xffffu

enum vmux_node_flags {
    VMUX_NODE_ASKED_HOST = 1u << 0, /* no host in the reply: host is the host asked */
    VMUX_NODE_UNKNOWN = 1u << 1,    /* host "?" or port 0: no address to dial */
};

struct vmux_node_addr {
    char *host;     /* NUL-terminated; NULL when VMUX_NODE_UNKNOWN */
    int port;       /* 1 .. 65535; 0 when VMUX_NODE_UNKNOWN */
    int tls_port;   /* the node's metadata "tls-port", or 0 */
    char *id;       /* the node id, or NULL when the reply gave none */
    char *hostname; /* the node's metadata "hostname" (a name to verify with TLS), or NULL */
    unsigned flags; /* enum vmux_node_flags */
};

struct vmux_shard {
    size_t nnodes;                /* 1 + its replicas */
    struct vmux_node_addr *nodes; /* nodes[0] is the primary */
    unsigned nslots;              /* the slots it serves (0 is possible after a MOVED patch) */
};

struct vmux_slotmap {
    atomic_uint refs;
    uint64_t epoch;
    size_t nshards;
    struct vmux_shard *shards;
    unsigned covered;           /* slots with an owner */
    uint16_t owner[VMUX_SLOTS]; /* shard index, or VMUX_SLOT_NO_OWNER */
    /* Every node with an address, each address once, by port and then host without case: made
     * with the map (which never changes after), so that naming a node and comparing the nodes
     * of two maps cost log n and n, not n and n^2 (a reshard patches the map once per slot). */
    const struct vmux_node_addr **byaddr;
    size_t nbyaddr;
};

/*
 * Builds a map from a CLUSTER SLOTS reply: an array of ranges, each [start, end, primary,
 * replica...], each node [host, port, id?, metadata?] (metadata: a flat array of name, value;
 * "hostname" and "tls-port" are read, other names ignored; elements after the fourth ignored).
 * asked_host (not NULL) is the host the reply came from. An empty array is a map with no slot.
 * Returns 0 with *out (one reference, the caller's) of the given epoch; or, with *out NULL and
 * a reason in err (errlen bytes, may be NULL): VMUX_ERR_SERVER for an error reply (its text),
 * VMUX_ERR_PROTOCOL for any other shape than the above (a wrong kind, a missing field, a slot
 * outside 0 .. 16383, a range whose start is after its end, ranges that overlap, a port outside
 * 0 .. 65535, a host with a NUL byte), VMUX_ERR_INVALID_ARG for a NULL reply or asked_host,
 * VMUX_ERR_NOMEM. The reply is only read; the map copies what it keeps.
 */
int vmux__slotmap_from_slots(const vmux_reply *reply, const char *asked_host, uint64_t epoch,
                             struct vmux_slotmap **out, char *err, size_t errlen);

/* A map of one node serving every slot (standalone mode). Returns 0, or VMUX_ERR_NOMEM. */
int vmux__slotmap_single(const char *host, int port, uint64_t epoch, struct vmux_slotmap **out);

/*
 * A map of one shard serving every slot (a standalone primary with replicas, for readFrom):
 * host:port its primary, then the n nodes of replicas (only host and port read; one at the
 * primary's address is left out). Returns 0 with *out (one reference), or VMUX_ERR_NOMEM.
 */
int vmux__slotmap_standalone(const char *host, int port, const struct vmux_node_addr *replicas,
                             size_t n, uint64_t epoch, struct vmux_slotmap **out);
/*
 * A copy of m in which slot belongs to the shard whose primary is host:port (hostlen bytes, not
 * empty: the caller has applied the endpoint rules), a new shard of that one node when no shard
 * has it, with m's epoch + 1: what a MOVED reply says. A replica of the slot's own shard is no
 * primary: the slot goes to a new shard of that node, the rest of its shard stays (a node the map
 * lists as a replica may have been reset and reused as a primary of its own; only a failover's
 * signs make it the shard's primary: vmux__slotmap_failover()). Returns 0 with *out (one
 * reference), or VMUX_ERR_NOMEM, or VMUX_ERR_INVALID_ARG for a slot out of range or no host.
 */
int vmux__slotmap_moved(const struct vmux_slotmap *m, unsigned slot, const char *host,
                        size_t hostlen, int port, struct vmux_slotmap **out);

/*
 * vmux__slotmap_moved() for a MOVED the caller knows a failover explains: when host:port is a
 * replica of the slot's own shard, a failover promoted it: it becomes that shard's primary, for
 * every slot of the shard, and the old primary its replica (so the demoted node is nobody's
 * primary, and a fan-out to the primaries asks each shard once). Otherwise as
 * vmux__slotmap_moved(). Same returns.
 */
int vmux__slotmap_failover(const struct vmux_slotmap *m, unsigned slot, const char *host,
                           size_t hostlen, int port, struct vmux_slotmap **out);

/* Takes a reference; returns m. */
struct vmux_slotmap *vmux__slotmap_ref(struct vmux_slotmap *m);

/* Drops a reference; the last one frees the map. NULL is allowed. */
void vmux__slotmap_unref(struct vmux_slotmap *m);

/* The shard serving slot, or NULL when none does (or slot is out of range). */
const struct vmux_shard *vmux__slotmap_owner(const struct vmux_slotmap *m, unsigned slot);

/* The index of the shard whose primary is host:port (host compared without case), or -1. */
int vmux__slotmap_find_primary(const struct vmux_slotmap *m, const char *host, size_t hostlen,
                               int port);

/*
 * Whether two maps say the same: every slot served by a shard with the same primary and the same
 * replicas, whatever the order of the shards and of the replicas (two nodes list them in their
 * own order), and the same nodes named (by address). Epochs are not compared, nor shards without
 * slots but by the nodes they name: a MOVED patch keeps a shard it drained, and a refreshed map
 * that no longer names its nodes must replace it (CLUSTER SLOTS lists no shard without slots).
 */
bool vmux__slotmap_equal(const struct vmux_slotmap *a, const struct vmux_slotmap *b);

/* Whether m names a node (primary or replica) at host:port; false for a NULL m or host. */
bool vmux__slotmap_names(const struct vmux_slotmap *m, const char *host, int port);

/* Makes m->byaddr from m's shards (mapdiff.c), once they are complete; by slotmap.c's
 * constructors. Returns 0, or VMUX_ERR_NOMEM (m unchanged). */
int vmux__slotmap_index(struct vmux_slotmap *m);

/*
 * What changed from old to m (mapdiff.c). vmux__slotmap_moved_slots(): how many slots have
 * another primary (or none where there was one, or one where there was none).
 * vmux__slotmap_new_nodes(): calls fn(node, arg) (fn may be NULL) once for each node m names (a
 * primary or a replica, by address; a node m names twice counts once) that old does not, in
 * address order (port, then host), and returns how many; with the maps swapped, the nodes that
 * left.
 */
unsigned vmux__slotmap_moved_slots(const struct vmux_slotmap *old, const struct vmux_slotmap *m);
size_t vmux__slotmap_new_nodes(const struct vmux_slotmap *old, const struct vmux_slotmap *m,
                               void (*fn)(const struct vmux_node_addr *node, void *arg), void *arg);

#endif

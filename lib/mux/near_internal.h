/*
 * The near cache's state on the I/O thread, shared by near.c (the handle's tracking, a standalone
 * server's invalidation connection) and near_cluster.c (one invalidation connection per primary
 * of a cluster). Not for other files.
 */
#ifndef VMUX_MUX_NEAR_INTERNAL_H
#define VMUX_MUX_NEAR_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/near_store.h"
#include "mux/mux.h"

/* No primary known for a slot (vmux_near_cluster.owner). */
#define VMUX_NEAR_NO_NODE 0xffffu

/*
 * A node of the cluster that serves tracked reads, by a small id (its index): every primary, and
 * with readFrom other than primary every replica. Its reads are stored under its shard's
 * primary's id (part: the store node, its own id for a primary), so that anything that may lose
 * an invalidation of any node of the shard flushes that one part. Its reads may be stored while
 * its data link's connection tracks to its invalidation connection (storable).
 */
struct vmux_near_cnode {
    struct vmux_nearc *n;
    unsigned id;
    unsigned part;   /* its shard's primary's id: where its reads are stored (I/O thread) */
    char where[300]; /* "host:port" as the map names it; "" while the id is free */
    char *host;      /* host alone, for the router's lookups */
    int port;
    bool in_map;                   /* a node of the current map that serves tracked reads */
    struct vmux_config *cfg;       /* its invalidation link's configuration (one endpoint) */
    struct vmux_link *inval;       /* its invalidation link, or NULL */
    long long pending_id;          /* CLIENT ID's answer, before SUBSCRIBE is confirmed */
    long long inval_id;            /* the subscribed invalidation connection's id; 0: none */
    struct vmux_link *data;        /* the router's link to it that reported last, or NULL */
    long long data_id;             /* where its connection's tracking points (confirmed) */
    atomic_bool storable;          /* data_id == inval_id != 0 and in_map */
    _Atomic long long tracking_id; /* data_id, published before storable is set (BCAST check) */
};

/* Cluster mode: the nodes, and each slot's primary for the readers. */
struct vmux_near_retired {
    struct vmux_config *cfg;
    uint64_t tick; /* the cluster's ticks when its link closed */
};

struct vmux_near_cluster {
    struct vmux_near_cnode *nodes; /* cap of them, ids 0 .. cap - 1 */
    unsigned cap;
    _Atomic uint16_t owner[VMUX_NEAR_SLOTS]; /* each slot's primary's id, or VMUX_NEAR_NO_NODE */
    /* Configurations of closed invalidation links, kept until libuv has let go of the links:
     * freed by the second tick after (vmux__nearc_cluster_tick()), or with the rest. */
    struct vmux_near_retired *retired;
    size_t nretired;
    uint64_t ticks;        /* vmux__nearc_cluster_tick()'s calls */
    uint64_t tls_installs; /* the router's installs when the links last learnt their TLS names */
};

struct vmux_nearc {
    vmux *m;
    struct vmux_near *store;
    /* Standalone: the one invalidation connection and the data link's tracking. */
    struct vmux_link *inval; /* the invalidation link; NULL until started and in cluster mode */
    long long pending_id;  /* CLIENT ID's answer on its connection, before SUBSCRIBE is confirmed */
    long long inval_id;    /* the subscribed invalidation connection's client id; 0: none */
    char inval_where[300]; /* and where it is ("host:port") */
    long long data_id;     /* where the data connection's tracking points (confirmed); 0: none */
    atomic_bool storable;  /* data_id == inval_id != 0: see near.h's order rule */
    _Atomic long long tracking_id; /* data_id, published before storable is set (BCAST check) */
    bool flushed;                  /* a flush left stale entries for the next sweep */
    bool started, closed;
    uv_timer_t sweep;
    unsigned sweep_next; /* the shard the next quiet tick goes on in (I/O thread) */
    _Atomic uint64_t invalidations, untracked;
    atomic_bool block_refused_told; /* the warning of vmux__near_block_refused() went out */
    /* Cluster mode, from the first slot map on (any thread reads it; set once). */
    _Atomic(struct vmux_near_cluster *) cluster;
};

/* ---- near.c, for near_cluster.c (I/O thread) ---- */

/*
 * Forgets *inval_id (and *pending_id) and makes inval connect again, if it had subscribed: its
 * connection is no longer trusted (near.c). I/O thread.
 */
void vmux__near_inval_renew(struct vmux_link *inval, long long *inval_id, long long *pending_id,
                            const char *why);

/* Sends CLIENT ID and SUBSCRIBE __redis__:invalidate on a ready invalidation link. */
int vmux__near_subscribe(struct vmux_link *link);

/*
 * What an invalidation connection read (it frees r), for node's part of the store: CLIENT ID's
 * answer is kept in *pending_id until SUBSCRIBE's confirmation makes it *inval_id (logged with
 * where); returns true then, and the caller points its data connection there. An invalidation
 * message's payload: the keys named are removed; nil (FLUSHALL, FLUSHDB), or an array of
 * something other than keys (logged at WARN), empties node's part; a string (another client's
 * PUBLISH on the channel, not the server's tracking) is ignored. An error is logged.
 */
bool vmux__near_inval_push(struct vmux_nearc *n, unsigned node, long long *pending_id,
                           long long *inval_id, const char *where, vmux_reply *r);

/* Nothing of node read from now on may be stored (flag cleared), and nothing reserved before
 * (flushed for cause); no flush when flag was clear already, unless always. */
void vmux__near_unstorable(struct vmux_nearc *n, atomic_bool *flag, unsigned node,
                           enum vmux_near_cause cause, bool always);

/* Makes link a tracking link of the near cache (its events are near.c's, dispatched to
 * near_cluster.c's in cluster mode). */
void vmux__near_track_link(struct vmux_nearc *n, struct vmux_link *link);

/* Cluster mode begins: the standalone invalidation link closes, nothing more stored by it. */
void vmux__near_standalone_stop(struct vmux_nearc *n);

/* ---- near_cluster.c, for near.c ---- */

/* Any thread: near.h's vmux__near_place() and vmux__near_storable() in cluster mode. */
bool vmux__nearc_cluster_place(struct vmux_nearc *n, const void *key, size_t len, unsigned *node,
                               unsigned *slot);
bool vmux__nearc_cluster_storable(struct vmux_nearc *n, unsigned node, unsigned slot);
long long vmux__nearc_cluster_tracking_id(struct vmux_nearc *n, unsigned node);

/* I/O thread from here on. */

/* The tracking events of a data link in cluster mode (near.h's link tracking, by link). */
long long vmux__nearc_cluster_redirect_id(struct vmux_nearc *n, struct vmux_link *link);
void vmux__nearc_cluster_tracked(struct vmux_nearc *n, struct vmux_link *link, long long id,
                                 bool ok);
void vmux__nearc_cluster_lost(struct vmux_nearc *n, struct vmux_link *link);
void vmux__nearc_cluster_ready(struct vmux_nearc *n, struct vmux_link *link);
/* A tracked read op is being written on link: its placeholder goes unless link is its node's
 * tracking data link, that node reads for the op's store node, and it is storable. */
void vmux__nearc_cluster_writing(struct vmux_nearc *n, struct vmux_link *link, struct vmux_op *op);

/* Closes every node's invalidation link (shutting down). */
void vmux__nearc_cluster_close(struct vmux_nearc *n);
/* Heartbeats of the nodes' invalidation links. */
void vmux__nearc_cluster_tick(struct vmux_nearc *n, bool frozen);
/* Frees the cluster state (the loop has ended). */
void vmux__nearc_cluster_free(struct vmux_near_cluster *cl);

#endif

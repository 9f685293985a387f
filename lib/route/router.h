/*
 * The router: what makes a handle cluster-aware (docs/cluster.md). It decides, once the handle's
 * first connection (the seed) is ready, whether the server is a cluster node (INFO cluster), loads
 * the slot map from CLUSTER SLOTS, and from then on sends every op to a link to the primary that
 * serves its slot: one link per node, opened lazily with the handle's configuration, the seed's
 * own link serving the seed's node. It follows MOVED (patch the map, resend at once, refresh the
 * whole map soon, at most once a second; a MOVED back to the node that redirected the op last is
 * a ping-pong: no patch, resent after a backoff) and ASK (ASKING and the op, back to back, no map
 * change), at most VMUX_ROUTER_MAX_REDIRECTS times per op. When a primary's link fails it refreshes
 * the map from another node (refresh.c) and sends the ops waiting for the dead node to the promoted
 * replica; a periodic check sees topology changes that no MOVED announced.
 *
 * Threads: the mode is an atomic that any thread may read; everything else belongs to the I/O
 * thread, which alone reads and replaces the map. vmux__router_slot() is pure (any thread).
 */
#ifndef VMUX_ROUTE_ROUTER_H
#define VMUX_ROUTE_ROUTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/config_internal.h"
#include "core/counters.h"
#include "core/errbuf.h"
#include "core/op.h"
#include "net/link.h"
#include "net/pool.h"
#include "net/sentinel.h"
#include "net/tls.h"
#include "route/slotmap.h"

/* Redirects an op may follow before its last MOVED or ASK reply completes it. */
#define VMUX_ROUTER_MAX_REDIRECTS 5

enum vmux_router_mode {
    VMUX_ROUTER_DETECTING,  /* cluster=auto|yes: waiting to learn what the server is */
    VMUX_ROUTER_STANDALONE, /* every op goes to the seed link */
    VMUX_ROUTER_CLUSTER,    /* every op goes to the primary of its slot */
    VMUX_ROUTER_FAILED,     /* detection failed (cluster=yes against a standalone server...) */
};

/*
 * The counters of one node's links (its link and its blocking pool's), kept for the handle's
 * life once the node had a link, even after it left the map: totals never go down. A list that
 * the I/O thread appends to and any thread reads, under the router's stats_mu.
 */
struct vmux_node_counters {
    struct vmux_node_counters *next;
    char *host;
    int port;
    struct vmux_counters ctr;
};

struct vmux_router_node {
    char *host;
    int port;
    struct vmux_config *cfg; /* the handle's configuration with this one endpoint */
    struct vmux_link *link;
    struct vmux_pool *pool;    /* its blocking pool, made on first use (NULL before) */
    struct vmux_counters *ctr; /* where its links count (in r->node_counters) */
    uint64_t left_ms;          /* loop ms when the map stopped naming it; 0 while it names it */
    uint32_t id;               /* 1, 2...: never given twice in r's life (the seed's link is 0) */
    uint64_t closed_tick;      /* in r->gone: r->ticks when its links were closed */
};

/* readFrom's per-map cache of replica links (replicas.c). */
struct vmux_router_reads {
    size_t *base;             /* shard i's replicas are links[base[i] .. base[i] + nnodes - 1) */
    struct vmux_link **links; /* each opened on first use; NULL before */
    unsigned *next;           /* per shard: where the next turn starts */
};

/*
 * A fence (fence.c): a slot's primary changed (a MOVED's patch, a refreshed map) while the
 * connection of link, its old owner's, still held written ops of it. Until that connection holds
 * none (answered, or MOVED and resent), it ends, or VMUX_ROUTER_FENCE_CAP_MS pass, the new ops of
 * those slots wait in held, in order, so that none runs on the new owner before the older ones
 * that a MOVED sends after it. Or (queued) an op resent after a ping-pong's backoff went to link:
 * then until link holds none of those slots' ops, written or waiting there.
 */
#define VMUX_ROUTER_FENCE_CAP_MS 1000 /* past it, held ops go on: their order is not promised */
#define VMUX_ROUTER_MAX_FENCES 8      /* one per old owner: a failover's whole shard is one */

struct vmux_router_fence {
    /* its router, for the words of an op whose deadline passes in held (waited.c) */
    const struct vmux_router *r;
    struct vmux_link *link; /* the slots' old owner's link */
    uint64_t conn_gen;      /* its connection then (vmux__link_conn_gen()): its end lifts it;
                               0 (a resent op's, link down): the next one, once made */
    bool queued;            /* a resent op's: ops of its slots waiting on link count too */
    bool walked;            /* the last walk of link found an op of its slots held there, */
    uint64_t walked_gen;    /* with this connection (vmux__link_conn_gen()) */
    uint64_t walked_left;   /* and this many ops gone from link (vmux__link_left()) */
    uint64_t start_ms;      /* loop ms it was raised */
    struct vmux_opq held;   /* new ops of its slots, in the order they came (deadline-indexed) */
    uint8_t slots[VMUX_SLOTS / 8];
};

struct vmux_moved_marks;

struct vmux_router {
    atomic_int mode; /* enum vmux_router_mode: the I/O thread stores, any thread loads */
    int fail_code;   /* VMUX_ROUTER_FAILED: what ops and vmux_open() get */
    char fail_reason[VMUX_REASON_SIZE];

    uv_loop_t *loop;
    const struct vmux_config *cfg;
    vmux_tls_ctx *tls_ctx;
    struct vmux_counters *ctr;
    const struct vmux_link_events *node_events; /* for the links it opens */
    void *arg;
    /* Detection is over (the mode is STANDALONE, CLUSTER or FAILED). */
    void (*settled)(struct vmux_router *r, void *arg);
    /* Set by the owner after init, may stay NULL: a new map is in place (the pub/sub reconciler
     * listens); it must not change the router, only note that it has work to do. */
    void (*map_changed)(void *arg);
    void *map_changed_arg;
    /* Set by the owner after init, may stay NULL: a refresh was answered (with a map, changed or
     * not), after the map was installed; called with map_changed_arg, it takes back the ops
     * r->map_wait holds (vmux__router_wait_refresh()). */
    void (*refreshed)(void *arg);
    /* Set by the owner after init, may stay NULL: an op of slot is sent on after a MOVED or ASK
     * (the near cache empties the slot: the op's reply comes from another node than asked). */
    void (*redirected)(void *arg, unsigned slot);
    void *redirected_arg;

    struct vmux_link *seed;          /* the handle's main link (not owned) */
    struct vmux_pool *seed_pool;     /* the handle's blocking pool, before the mode is known */
    struct vmux_config *seed_cfg;    /* CLUSTER: the seed node's one endpoint, for its pool */
    struct vmux_pool *seed_blocking; /* CLUSTER: the seed node's blocking pool, made on first use */
    char *seed_host;                 /* its node, once its first connection was ready */
    /* STANDALONE with several endpoints (the others may be the primary's replicas) or Sentinel
     * (the sentinels list them): readFrom may read from them (a one-shard map: replicas.c). Set
     * at init; any thread. */
    bool replica_endpoints;
    /* Sentinel (vmux__router_use_sentinel()): whom SENTINEL REPLICAS is asked; a question is
     * under way (asking), another is wanted after it (ask_again), or once a second while the
     * last answer listed a replica that was settling (recheck). A refused question (a sentinel
     * user without sentinel|replicas) is asked again after 1 s, doubling to 30 s: rep_refusals
     * in a row, not before rep_next_ms (uv_now). */
    struct vmux_sentinel *sentinel;
    bool rep_asking, rep_again, rep_recheck;
    unsigned rep_refusals;
    uint64_t rep_next_ms;
    int seed_port;
    char *seed_id; /* CLUSTER: the node id the seed link's connection gave, or NULL (seedid.c) */
    char *seed_as_host; /* the map's other name of the seed's node (by seed_id), or NULL */
    int seed_as_port;
    uint8_t seed_role; /* readmode.c's cache of vmux__router_seed_replica(); 0: not known yet */
    uint64_t installs; /* refreshed maps installed (refresh.c): where TLS names may be learnt */
    bool detect_sent;

    struct vmux_slotmap *map; /* CLUSTER: the current map (one reference): vmux__router_set_map() */
    struct vmux_link **shard_links; /* the link to each shard's primary in map, NULL until used */
    struct vmux_router_reads reads; /* and to its replicas, for readFrom */
    struct vmux_router_node *nodes;
    size_t nnodes;
    /* nodes whose links were closed, kept until libuv let go of them: freed two ticks after
     * (vmux__router_tick()), or with r */
    struct vmux_router_node *gone;
    size_t ngone;
    uint64_t ticks;            /* vmux__router_tick() calls so far */
    int redirecting;           /* vmux__router_redirect() calls under way (nested by callbacks) */
    bool follow_pending;       /* a map changed meanwhile: vmux__router_follow_blocking() owed */
    struct vmux_opq parked;    /* ops that came while DETECTING */
    struct vmux_opq keys_wait; /* VMUX_OP_SLOT_ASK ops waiting for COMMAND GETKEYS (husks kept) */
    struct vmux_opq unowned;   /* ops redirected to "?": waiting for a refreshed map (refresh.c) */
    struct vmux_opq map_wait;  /* control ops waiting for a refresh to be answered (refresh.c) */
    struct vmux_opq demoted;   /* ops refused READONLY: waiting for a map without that primary
                                * (demoted.c) */

    uv_timer_t refresh_timer; /* the next refresh is due; while busy: the refresh's deadline */
    uv_timer_t period_timer;  /* the periodic map check */
    bool refresh_busy;        /* a CLUSTER SLOTS refresh is in flight */
    bool refresh_again;       /* another refresh was asked for while busy */
    uint64_t refresh_gen;     /* the refresh in flight; a reply to an older one is dropped */
    uint64_t answered_gen;    /* the last refresh answered with a map (changed or not) */
    /* A refreshed map serving fewer slots than the current one (a node reset, one that forgot
     * another): held until another node answers the same (refresh.c); the id of its node. */
    struct vmux_slotmap *shrunk;
    uint32_t shrunk_from;
    unsigned shrunk_times; /* how many times in a row that node answered it */
    size_t refresh_next;   /* the link asked next (0 the seed's, i + 1 node i's) */
    uint64_t last_refresh; /* loop ms of the last refresh sent */
    uint64_t rng;
    struct vmux_moved_marks *moved; /* the slots MOVED patched lately (recent.c); NULL until one */
    uint32_t node_ids;              /* the last id given to a node (struct vmux_router_node) */
    /* CLUSTER: the most commands one node's link holds before a new one for it is refused
     * (share.c): a hung node cannot take the whole of maxPending */
    size_t node_share;

    /* ops waiting out a MOVED ping-pong (bounce.c), due in order; the timer fires at the head's */
    struct vmux_opq bounced;
    uv_timer_t bounce_timer;
    uint64_t bounce_due; /* loop ms the timer is set for, while it is active */
    /* per slot, the ops of bounced (counted in and out) and the node id the last one pushed
     * goes to; NULL until an op first bounces (bounce.c) */
    struct vmux_bounce_slot *bounce_slots;

    /* fences raised by map changes (fence.c), oldest first; fence_check lifts them, active only
     * while one stands, and fence_timer wakes the loop at the oldest one's cap */
    struct vmux_router_fence *fences[VMUX_ROUTER_MAX_FENCES];
    unsigned nfences;
    uv_check_t fence_check;
    uv_timer_t fence_timer;

    uv_mutex_t stats_mu; /* guards node_counters, seed_addr and seed_as_addr */
    struct vmux_node_counters *node_counters;
    char seed_addr[300];    /* "host:port" of the seed's node once known, for any thread */
    char seed_as_addr[300]; /* "seed_as_host:seed_as_port", or "" */
};

/*
 * Prepares r on loop (a timer) for the seed link; mode cluster=no starts STANDALONE, else
 * DETECTING. cfg, tls_ctx, ctr and node_events must outlive r; the links r opens report to
 * node_events with arg, and settled(r, arg) runs once detection is over. seed_pool is the
 * handle's blocking pool for blocking ops sent before the mode is known: r sets its redirect
 * function. In CLUSTER mode each node, the seed's included, has a blocking pool of its own.
 */
void vmux__router_init(struct vmux_router *r, uv_loop_t *loop, const struct vmux_config *cfg,
                       vmux_tls_ctx *tls_ctx, struct vmux_counters *ctr,
                       const struct vmux_link_events *node_events, void *arg,
                       void (*settled)(struct vmux_router *r, void *arg), struct vmux_link *seed,
                       struct vmux_pool *seed_pool);

/* The current mode (any thread). */
static inline enum vmux_router_mode vmux__router_mode(struct vmux_router *r)
{
    return (enum vmux_router_mode)atomic_load_explicit(&r->mode, memory_order_acquire);
}

/*
 * I/O thread: the seed link's connection to where ("host:port") is ready. While DETECTING, asks
 * the server what it is (once) and returns false: settled() will follow. Otherwise returns true,
 * having named the seed link by where and asked, in CLUSTER mode, which node it reached (CLUSTER
 * MYID) or, STANDALONE with cluster=auto, whether the server is a cluster node now (INFO
 * cluster: its map then switches the mode to CLUSTER).
 */
bool vmux__router_seed_ready(struct vmux_router *r, const char *where);

/*
 * Any thread: whether an op with op_flags may read from a replica by its policy: the handle's
 * readFrom, or the call's own (VMUX_OP_TO_REPLICA, VMUX_OP_PREFER_REPLICA).
 */
static inline bool vmux__router_replica_policy(const struct vmux_router *r, uint32_t op_flags)
{
    return r->cfg->read_from != VMUX_READ_PRIMARY ||
           (op_flags & (VMUX_OP_TO_REPLICA | VMUX_OP_PREFER_REPLICA));
}

/*
 * Any thread: whether a STANDALONE handle marks read-only ops (VMUX_OP_READONLY) for readFrom
 * (vmux__router_replica_policy()); false under readFrom=primary without a call's own policy, so
 * that nothing is computed for an op there.
 */
static inline bool vmux__router_standalone_reads(const struct vmux_router *r, uint32_t op_flags)
{
    return r->replica_endpoints && vmux__router_replica_policy(r, op_flags);
}

/*
 * Standalone readFrom (opslot.c), any thread: sets VMUX_OP_READONLY and op->slot 0 when every
 * command of op only reads and one names a key (their slots do not matter: one shard has them
 * all); leaves op as it is otherwise. vmux__router_mark_read_argv(): the same for an op of one
 * command, from the argument vector it was just encoded from (argvlen NULL: C strings).
 */
void vmux__router_mark_read(struct vmux_op *op);
void vmux__router_mark_read_argv(struct vmux_op *op, int argc, const char *const *argv,
                                 const size_t *argvlen);

/*
 * I/O thread, STANDALONE (replicas.c): once the seed link is ready on a primary, a one-shard map
 * of that node and the other configured endpoints as its replicas, so that read-only ops may go
 * to them (vmux__router_send()); made again when the primary is another endpoint (a failover).
 * Nothing without replica_endpoints.
 */
void vmux__router_standalone_map(struct vmux_router *r);

/*
 * I/O thread, Sentinel (replicas.c). vmux__router_use_sentinel(), at init: the replicas of the
 * one-shard map are those the sentinels list as healthy (SENTINEL REPLICAS), asked when the seed
 * link is ready, whenever a sentinel announces a replica change (+slave, +sdown, -sdown), and
 * once a second while one listed is settling (vmux__router_replicas_tick()). The tick also judges,
 * under replicaMaxLag, whether each replica opened is too far behind its primary to serve reads.
 */
void vmux__router_use_sentinel(struct vmux_router *r, struct vmux_sentinel *s);
void vmux__router_replicas_tick(struct vmux_router *r);

/*
 * Computes op->slot from its RESP bytes (every command of a block: their keys must share a
 * slot): the slot of its keys; -1 (VMUX_SLOT_ANY) when it has none or is malformed;
 * VMUX_OP_SLOT_ASK when it is one command that the key table does not know;
 * VMUX_OP_SLOT_PUBLISH when it is one PUBLISH (vmux_command() sends one too). Returns 0;
 * VMUX_ERR_CROSSSLOT with the message naming two keys and their slots in err (errlen bytes, may be
 * NULL); or VMUX_ERR_NOMEM. Any thread. Sets VMUX_OP_READONLY in op->flags when every command
 * only reads (the server's "readonly" flag) and they name a key: readFrom's (docs/replicas.md).
 */
int vmux__router_slot(struct vmux_op *op, char *err, size_t errlen);

/*
 * I/O thread, readFrom (replicas.c). vmux__router_read_link(): the link that serves a read-only
 * op (VMUX_OP_READONLY) of shard i as the policy (the config's, or the op's VMUX_OP_TO_*) says,
 * or NULL for the primary's usual path. vmux__router_reads_reset(): the cache for a new map
 * (r->map already set). vmux__router_reads_forget(): a closed link leaves the cache.
 * vmux__router_shard_link(): the link to shard i's primary, opened on first use.
 */
struct vmux_link *vmux__router_read_link(struct vmux_router *r, unsigned i,
                                         const struct vmux_op *op);
void vmux__router_reads_reset(struct vmux_router *r);
void vmux__router_reads_forget(struct vmux_router *r, const struct vmux_link *link);
/* A replica's link failed: the reads waiting in its backlog go to another node now. */
void vmux__router_reads_away(struct vmux_router *r, struct vmux_link *link);
struct vmux_link *vmux__router_shard_link(struct vmux_router *r, unsigned i);

/* Whether the command argv[0..argc) only reads (VMUX_OP_READONLY's rule for one command). */
bool vmux__router_readonly_argv(int argc, const char *const *argv, const size_t *argvlen);

/*
 * vmux__router_slot() for an op of one command, from the argument vector it was just encoded
 * from (argvlen NULL: C strings), which spares reading its RESP bytes back; a PUBLISH gets
 * VMUX_OP_SLOT_PUBLISH (core/op.h) as there. Any thread.
 */
int vmux__router_slot_argv(struct vmux_op *op, int argc, const char *const *argv,
                           const size_t *argvlen, char *err, size_t errlen);

/*
 * Places op, not yet submitted, by r's mode (place.c), in the caller's thread: STANDALONE marks a
 * read (vmux__router_mark_read*()) when vmux__router_standalone_reads(r, flags) allows reads on
 * replicas; CLUSTER computes op->slot (vmux__router_slot*()); the other modes leave op as it is
 * (vmux__router_send() computes a slot left unset). argv NULL: op is read from its encoded bytes;
 * else it is the one command just encoded from argv[0..argc) (argvlen NULL: C strings). Returns 0;
 * or, op then freed: VMUX_ERR_CROSSSLOT with the message naming two keys and their slots in why
 * (whylen bytes, may be NULL), or VMUX_ERR_NOMEM with its vmux_strerror() there. Any thread.
 */
int vmux__router_place(struct vmux_router *r, struct vmux_op *op, uint32_t flags, int argc,
                       const char *const *argv, const size_t *argvlen, char *why, size_t whylen);

/*
 * I/O thread: sends the router's own command argv[0..argc) on link (the seed's or a node's);
 * cb(status, reply, arg) runs once with its reply (which it owns). A reply of a kind the command
 * does not answer with (core/expect.h: "+OK" to INFO) fails the connection that read it, and cb
 * gets that failure, never the reply. Returns 0, or VMUX_ERR_NOMEM (cb never runs).
 */
int vmux__router_internal(struct vmux_router *r, struct vmux_link *link, int argc,
                          const char *const *argv, vmux_reply_cb cb, void *arg);

/*
 * I/O thread, node links (router.c). vmux__router_node_link(): the link to host:port (the seed's
 * when it is the seed's node), opened on first use; NULL when out of memory.
 * vmux__router_has_link(): whether one is open already. vmux__router_slot_link(): the link to
 * slot's primary, or the seed's when no known node serves it (NULL when out of memory).
 * vmux__router_link_host(): the host link serves (the one a redirect with an empty host means),
 * or NULL.
 */
struct vmux_link *vmux__router_node_link(struct vmux_router *r, const char *host, size_t hostlen,
                                         int port);
bool vmux__router_has_link(const struct vmux_router *r, const char *host, int port);
/*
 * Whether a node link (not the seed's) serves host:port: in cluster mode the seed link dials the
 * next configured seed instead, not a second connection to that node (probe52).
 */
bool vmux__router_node_served(struct vmux_router *r, const char *host, int port);
/* Whether readFrom (or the call's own flag) lets op be read from a replica. */
bool vmux__router_replica_read(const struct vmux_router *r, const struct vmux_op *op);
struct vmux_link *vmux__router_slot_link(struct vmux_router *r, int slot);
const char *vmux__router_link_host(const struct vmux_router *r, const struct vmux_link *link);
/*
 * vmux__router_link_is(): whether link serves the node at host:port (by its own name, or, the
 * seed's, by the map's name it was adopted under). vmux__router_link_id(): the id of link's node
 * (0 the seed's, UINT32_MAX for a link that is not the router's); vmux__router_link_by_id(): the
 * link of the node with that id, or NULL when it was closed (ids are never given twice).
 */
bool vmux__router_link_is(const struct vmux_router *r, const struct vmux_link *link,
                          const char *host, int port);
uint32_t vmux__router_link_id(const struct vmux_router *r, const struct vmux_link *link);
struct vmux_link *vmux__router_link_by_id(const struct vmux_router *r, uint32_t id);
/* Writes "host:port" of link's node into buf (len bytes), "?" when it is not the router's. */
void vmux__router_link_addr(const struct vmux_router *r, const struct vmux_link *link, char *buf,
                            size_t len);

/*
 * I/O thread, the seed's node by its id (seedid.c). The seed link serves its node under the
 * configured name and, once CLUSTER MYID on its connection named a node of the map that no node
 * link serves, under the map's name (seed_as_host) too: one link per node, whatever name reached
 * it. vmux__router_ask_myid() asks the seed link's connection its id (at detection, and on each
 * of its later connections; returns 0 or VMUX_ERR_NOMEM); vmux__router_seed_adopt() sets or
 * clears the map's name after a new map or id; vmux__router_seed_alias() says whether host:port
 * is that name; vmux__router_seed_mismatch() forgets the id and the name (a MOVED read on the
 * seed link named its node by the map's name: the connection reached another node).
 */
int vmux__router_ask_myid(struct vmux_router *r);
void vmux__router_seed_adopt(struct vmux_router *r);
bool vmux__router_seed_alias(const struct vmux_router *r, const char *host, size_t hostlen,
                             int port);
void vmux__router_seed_mismatch(struct vmux_router *r);

/*
 * I/O thread (tlsname.c): the name that a link to the node at host:port verifies with TLS (and
 * sends as SNI), when the node announces one: host itself when it is a host name, else the map's
 * "hostname" metadata for that node; NULL when it announces none (the handle's sslHost, else
 * host, then). A node link's configuration takes it in place of the handle's sslHost.
 */
const char *vmux__router_tls_name(const struct vmux_router *r, const char *host, int port);

/*
 * I/O thread (tlsname.c): a new configuration for a link to the one node at host:port (host
 * NUL-terminated): the handle's (r->cfg) with that one endpoint, no serviceName (the node
 * itself, not a Sentinel) and, on a TLS handle, vmux__router_tls_name() as its sslHost when the
 * node announces a name. Every link to one node is made from one (node links and their blocking
 * pools, near-cache invalidation links, subscriber links), so that they all verify the same
 * name; a later map's name reaches it through vmux__router_tls_learn(). The caller owns it
 * (vmux_config_free()); NULL when out of memory.
 */
struct vmux_config *vmux__router_node_config(const struct vmux_router *r, const char *host,
                                             int port);

/*
 * I/O thread: the mode turns CLUSTER; from their next connections on, the seed link and every
 * node link check that their servers are cluster nodes (vmux__link_set_cluster_only()), as the
 * node links opened later do from their first.
 */
void vmux__router_cluster_only(struct vmux_router *r);

/*
 * I/O thread (tlsname.c): a link opened before the map announced its node's name (a MOVED to a
 * node the map did not list yet, a map without the metadata) learns it from a later map. Sets
 * cfg's sslHost (a TLS link's configuration to host:port, still the caller's) to
 * vmux__router_tls_name() when that is known and differs; the link's next connection verifies
 * it. Returns true when it changed, false otherwise (also when out of memory: the old name stays).
 */
bool vmux__router_tls_learn(const struct vmux_router *r, struct vmux_config *cfg, const char *host,
                            int port);

/*
 * I/O thread (tlsname.c): vmux__router_tls_learn() for every node link of a TLS handle, after a
 * refreshed map was installed (a MOVED's patch carries no names: nothing to learn from it).
 */
void vmux__router_tls_relearn(struct vmux_router *r);

/*
 * I/O thread, refreshes (refresh.c). vmux__router_refresh_init() prepares the timers (from
 * vmux__router_init()) and starts the periodic check; vmux__router_refresh_soon() asks for one
 * reactive refresh (single flight, rate-limited, jittered; a request while one is in flight
 * makes another follow it); vmux__router_refresh_close() closes the timers.
 */
void vmux__router_refresh_init(struct vmux_router *r);
void vmux__router_refresh_soon(struct vmux_router *r);
void vmux__router_refresh_close(struct vmux_router *r);

/*
 * I/O thread, refresh.c: a hint from link that the map may be stale (an SPUBLISH answered 0
 * receivers there: a replica runs SPUBLISH for its primary's slots without MOVED and counts only
 * its own subscribers, so after a failover a handle that only publishes would hear of it from
 * nothing but the periodic check, 30 s). In CLUSTER mode the periodic check runs now (one
 * CLUSTER SLOTS, compared with the map), asked of link's node when its connection is ready (it
 * knows at once that it was demoted; another node may learn it by gossip a moment later, and its
 * unchanged map would stand for the next 5 s), unless a refresh was sent or is under way less
 * than VMUX_ROUTER_HINT_GAP_MS ago (nor sooner than clusterRefreshMinInterval): at most one such
 * check per VMUX_ROUTER_HINT_GAP_MS per handle, however many channels nobody listens to.
 */
#define VMUX_ROUTER_HINT_GAP_MS 5000
void vmux__router_stale_hint(struct vmux_router *r, struct vmux_link *link);

/*
 * I/O thread, refresh.c, once a second (vmux__router_tick()): in CLUSTER mode, while the map
 * names a primary whose connection is stalled (vmux__link_stalled(): it owes replies and has
 * answered nothing for a second: stopped, hung, or busy), a refresh is asked for (rate-limited as
 * any), from another node: a hung primary is failed over by the cluster, and the map that says so
 * ends its connection (install(): what it holds goes on by that map) instead of the dead-link
 * rule, which waits for twice the head command's timeout.
 */
void vmux__router_refresh_tick(struct vmux_router *r);

/*
 * I/O thread: the router's links, vmux__router_nlinks() of them: index 0 the seed's, then each
 * node's it opened (vmux__router_node_link()), in the order opened; a link opened meanwhile may
 * move the nodes, not the links.
 */
static inline size_t vmux__router_nlinks(const struct vmux_router *r)
{
    return r->nnodes + 1;
}

static inline struct vmux_link *vmux__router_link_at(const struct vmux_router *r, size_t i)
{
    return i == 0 ? r->seed : r->nodes[i - 1].link;
}

/*
 * I/O thread: link (the seed's or a node link) reports a failed connection or attempt. In
 * CLUSTER mode, when the map names its node a primary, a refresh follows (soon, rate-limited):
 * once the map shows a promoted replica, the ops waiting in that link's backlog go to it.
 * vmux__router_link_is_primary(): whether the current map names link's node a primary.
 */
void vmux__router_link_failed(struct vmux_router *r, struct vmux_link *link);

/*
 * I/O thread, CLUSTER (readmode.c): after the map changed or a node link opened, sets each link's
 * READONLY mode from its node's role (vmux__link_set_readonly()): a replica's link keeps it; a
 * primary's drops it, unless readFrom asks for replicas and the map lists none in its shard.
 * Nodes the map does not name keep their mode. Does nothing in other modes.
 */
void vmux__router_read_modes(struct vmux_router *r);

/*
 * I/O thread, CLUSTER (readmode.c): whether the map names the seed link's node (under the map's
 * name the seed was adopted by, or its own) and names it a replica, not a primary: a failover
 * demoted it. False when the map names it a primary or does not name it at all. Worked out once
 * per map and seed name (r->seed_role), since every keyless op (PUBLISH...) asks;
 * vmux__router_seed_renamed() forgets it when the map or a name of the seed changes.
 */
bool vmux__router_seed_replica(struct vmux_router *r);
void vmux__router_seed_renamed(struct vmux_router *r);
bool vmux__router_link_is_primary(const struct vmux_router *r, const struct vmux_link *link);
/* Whether map (NULL: none) names link's node a primary, as vmux__router_link_is_primary() asks of
 * the current one. I/O thread. */
bool vmux__router_link_primary_in(const struct vmux_router *r, const struct vmux_link *link,
                                  const struct vmux_slotmap *map);

/*
 * I/O thread, CLUSTER: after a new map, the blocking ops not yet sent by the pools of nodes whose
 * connection is down go to their slots' nodes as the map now says (a promoted replica).
 */
void vmux__router_reroute_blocking(struct vmux_router *r);

/*
 * I/O thread: replaces the map with map (its reference passes to r) and forgets the links cached
 * for the old one's shards. In CLUSTER mode a slot whose primary changes while the old one's
 * connection holds written ops of it is fenced first (vmux__router_fence_raise()), and once map
 * is in place VMUX_EVENT_NODE_ADDED fires for each node (by address) it names that the old one
 * did not, then VMUX_EVENT_NODE_REMOVED for each the other way (logged at INFO): every change of
 * a cluster map passes here (a refresh, a MOVED patch), so the nodes announced since detection
 * are always those the map names. The first map (detection, or a standalone server become a
 * cluster node) announces none. Last, the blocking ops waiting for a connection of a node's pool
 * whose slots map gives to another primary go to that primary's pool, in their order
 * (vmux__router_follow_blocking(); during a redirect, once the redirected op has gone on).
 */
void vmux__router_set_map(struct vmux_router *r, struct vmux_slotmap *map);

/*
 * The blocking ops waiting for a connection of a node's pool whose slots the map gives to another
 * primary go to that primary's pool, in their order (one pooled after an ASK, or pinned to its
 * node, stays; so does one of a slot that a link of the pool holds an op of, written or waiting
 * there, but a read from "$" (VMUX_OP_FROM_NOW): it goes after that one, which the node answers,
 * MOVED for one still blocked); the ops the pools have written stay, as the server answers them.
 * Such an op that fails at once (its new node's link closed) runs its callback here. I/O thread.
 */
void vmux__router_follow_blocking(struct vmux_router *r);

/*
 * I/O thread, CLUSTER (follow.c): a MOVED reply to something that is not an op (the subscriber
 * links' SSUBSCRIBE) names host:port (hostlen bytes, not empty) the owner of slot: the map is
 * patched as for an op's MOVED (VMUX_EVENT_SLOT_MOVED), and a refresh follows soon.
 */
void vmux__router_moved(struct vmux_router *r, unsigned slot, const char *host, size_t hostlen,
                        int port);

/*
 * I/O thread (recent.c): a MOVED's patch outranks a refresh for this long.
 * vmux__router_moved_note() records that slot was just patched by a MOVED;
 * vmux__router_moved_disowned(), called before a MOVED for slot patches the map, forgets the
 * patches of every slot the current map gives slot's shard: its node has just disowned one of
 * them, so they no longer outrank a refresh (it walks the patched slots only, not all of them);
 * vmux__router_keep_moved() takes a refreshed map (its reference) and gives the map to install:
 * fresh itself, or a copy in which each slot patched within VMUX_ROUTER_MOVED_TRUST_MS keeps the
 * primary the current map has for it (its whole shard when that patch was a failover's, the
 * refreshed primary listed as its replica; and another refresh is asked for), with *kept the
 * number of slots so kept. Out of memory, the refresh is taken as it came.
 */
#define VMUX_ROUTER_MOVED_TRUST_MS 5000
void vmux__router_moved_note(struct vmux_router *r, unsigned slot);
void vmux__router_moved_disowned(struct vmux_router *r, unsigned slot);
struct vmux_slotmap *vmux__router_keep_moved(struct vmux_router *r, struct vmux_slotmap *fresh,
                                             unsigned *kept);

/* Which nodes vmux__router_nodes() lists (bits). */
#define VMUX_ROUTER_NODES_PRIMARIES 1u
#define VMUX_ROUTER_NODES_REPLICAS 2u
#define VMUX_ROUTER_NODES_UNKNOWN 4u /* primaries with no address too (host NULL, port 0) */

/* A node of the handle's view; host and id live as long as the map they came from (I/O thread). */
struct vmux_router_nodeinfo {
    const char *host;
    int port;
    bool primary;
    const char *id; /* its node id, or NULL when the map has none (or in standalone mode) */
};

/*
 * I/O thread (nodes.c): the nodes that which (VMUX_ROUTER_NODES_* bits) asks for. CLUSTER: every
 * node of the current map that has an address (and, with VMUX_ROUTER_NODES_UNKNOWN, each primary
 * that has none: host NULL), primaries first (in shard order), then replicas;
 * STANDALONE: the seed's node, a primary. Returns 0 with *out (malloc'd, the caller frees it;
 * NULL when *n is 0), VMUX_ERR_NOMEM, VMUX_ERR_NOT_CONNECTED while detecting, or the failure code
 * of a failed detection. Use the hosts before the map can change (before returning to the loop).
 */
int vmux__router_nodes(const struct vmux_router *r, unsigned which,
                       struct vmux_router_nodeinfo **out, size_t *n);

/*
 * I/O thread, the fences (fence.c; struct vmux_router_fence). vmux__router_fence_init() prepares
 * the check handle (from vmux__router_init()). vmux__router_fence_raise(), before old gives way
 * to map: for each link (an old primary's) whose connection holds written ops of slots that map
 * gives another primary, a fence on those slots (merged into one standing on that link). Past
 * VMUX_ROUTER_MAX_FENCES, none (logged at DEBUG). vmux__router_fence_hold(): true when it took
 * op (deadline-indexed, a key's op for its slot's primary: vmux__router_send() asks) into the
 * oldest fence on its slot. Each loop turn while one stands, a fence whose link's connection no
 * longer holds a live op of its slots (nor the router a bounced one), or whose connection ended,
 * or that stood VMUX_ROUTER_FENCE_CAP_MS, is lifted: its ops go on, in order, through
 * vmux__router_send(). vmux__router_fence_resent(), after an op of slot waited out a ping-pong
 * and was handed to link again (bounce.c): a fence on slot on link while link holds a live op of
 * it, written or waiting (vmux__link_slots_held(): its backlog, for a connection, a fence raised
 * while link has none standing across the next; a refusal's retry, TRYAGAIN, one waiting there
 * keeping it across a connection's end: vmux__link_slots_refused()), merged into one
 * standing there (whose slots' waiting ops then count too), so that the slot's new ops wait for
 * that op's answer, or its next MOVED (then they wait behind it, bounced), as they do behind it
 * while it waits; no fence when the op was answered or failed at once. Not covered: a blocking op
 * (its node's pool sends it) raises none, and an ASK takes the op off link, which lifts it.
 * vmux__router_fence_lift_link(): lifts those on link now (it closes).
 * vmux__router_fence_close() fails the held ops with VMUX_ERR_CLOSED and closes the handle.
 */
void vmux__router_fence_init(struct vmux_router *r);
void vmux__router_fence_raise(struct vmux_router *r, const struct vmux_slotmap *old,
                              const struct vmux_slotmap *map);
bool vmux__router_fence_hold(struct vmux_router *r, struct vmux_op *op);
void vmux__router_fence_resent(struct vmux_router *r, struct vmux_link *link, int slot);
void vmux__router_fence_lift_link(struct vmux_router *r, const struct vmux_link *link);
void vmux__router_fence_close(struct vmux_router *r);

/*
 * I/O thread: the link the router has to host:port (the seed's under either of its names), or
 * NULL when it has none; never opens one.
 */
struct vmux_link *vmux__router_link_of(const struct vmux_router *r, const char *host, int port);

/*
 * I/O thread, CLUSTER: vmux__router_send() for an op sent again (a redirect that waited: a
 * ping-pong's backoff, an unknown owner, a replica that fell behind): never held by a fence.
 */
void vmux__router_resend(struct vmux_router *r, struct vmux_op *op);

/*
 * I/O thread: hands op to link's node: its link, or its blocking pool for a blocking op; a
 * redirected blocking op is noted sent again then, its block time cut to what is left of it
 * (vmux__op_sent_again(): the op sent may be a new one).
 */
void vmux__router_forward(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op);

/* I/O thread, DETECTING: keeps op (deadline-indexed) until settled(). */
void vmux__router_park(struct vmux_router *r, struct vmux_op *op);

/* I/O thread, after settled(): moves the parked ops into dst (empty). */
void vmux__router_take_parked(struct vmux_router *r, struct vmux_opq *dst);

/*
 * I/O thread, CLUSTER: takes op (deadline-indexed) and submits it to the link of its slot's
 * primary (the seed's link for a keyless op or a slot the map does not serve), or, for a
 * blocking op, to that node's blocking pool; completes it with VMUX_ERR_CROSSSLOT or
 * VMUX_ERR_NOMEM when that fails.
 */
void vmux__router_send(struct vmux_router *r, struct vmux_op *op);

/*
 * I/O thread, CLUSTER (getkeys.c): takes op (deadline-indexed, slot VMUX_OP_SLOT_ASK), asks the
 * seed's node COMMAND GETKEYS with op's arguments, then sends op by the slot of the keys named
 * (keyless when the node answers with an error; VMUX_ERR_CROSSSLOT when they are in two slots).
 */
void vmux__router_getkeys(struct vmux_router *r, struct vmux_op *op);

/*
 * I/O thread (follow.c): the link event for a MOVED, ASK or CLUSTERDOWN reply to op on link (struct
 * vmux_link_events). Returns true when it took op and reply: sent op on (while DETECTING: parked
 * it); a MOVED naming link's own node: replaced link's connection and resent op on the new one
 * (vmux__link_replace_conn()); a MOVED back to the node that redirected op last (a ping-pong:
 * the nodes disagree for a moment): no map patch, op sent there again after a backoff
 * (vmux__router_bounce()); an endpoint "?" (or an empty host on a link of unknown host): the one
 * node of the map at that port, other than link's, else op kept in r->unowned until a refreshed
 * map names its slot's owner (or its deadline passes); a redirect beyond
 * VMUX_ROUTER_MAX_REDIRECTS: completed op with VMUX_ERR_REDIRECT_LOOP and an error reply naming
 * the slot and that redirect's target. Returns false to let the link go on (STANDALONE, not a
 * redirect, out of memory; CLUSTERDOWN, after asking for a refresh).
 */
bool vmux__router_redirect(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op,
                           vmux_reply *reply);

/*
 * I/O thread (demoted.c): the link event for a READONLY reply to op on link (struct
 * vmux_link_events; op neither pinned nor a block of several commands). CLUSTER: takes op and
 * reply (kept as op->refusal, op->retries counted) and sends op by the map, at once when the map
 * no longer names link's node a primary, else once a refreshed one does not (op waits in
 * r->demoted, its link's id in op->bounce.to; a refresh is asked for). Returns false otherwise
 * (not a cluster: the link goes on as usual).
 */
bool vmux__router_readonly(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op,
                           vmux_reply *reply);

/*
 * I/O thread, refresh.c (demoted.c): after a refresh answered, sends the ops in r->demoted whose
 * refusing node the map no longer names a primary by the map; asks for another refresh
 * (rate-limited) while some still wait.
 */
void vmux__router_release_demoted(struct vmux_router *r);

/*
 * I/O thread, CLUSTER: where op, sent by the map again because avoid's node no longer serves it
 * as a primary (a READONLY: demoted.c; a backlog after a failover: refresh.c), goes: its slot's
 * primary (vmux__router_slot_link()); a keyless op (op->slot < 0) goes by the map as
 * vmux__router_send() sends one (the seed's, else the first primary's), but never to avoid's
 * while the map names another primary: the first primary's link other than avoid's then (a
 * ready one first). NULL when there is none (or out of memory).
 */
struct vmux_link *vmux__router_onward(struct vmux_router *r, const struct vmux_op *op,
                                      const struct vmux_link *avoid);

/*
 * I/O thread: the link event for a refused op (TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN) whose
 * wait ended (struct vmux_link_events): true when it sent op to its slot's owner, which is no
 * longer link's node (a failover while op waited); false to resend it on link (not a cluster,
 * no slot, an op for a replica, blocking, pooled or pinned, the owner unknown or link's own).
 */
bool vmux__router_retry(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op);

/*
 * I/O thread, a MOVED ping-pong (bounce.c). vmux__router_bounce_init() prepares the timer (from
 * vmux__router_init()). vmux__router_bounce() takes op (deadline-indexed, in no queue, redirected
 * op->redirects times, the last a MOVED, read on link from, back to the node of link to, which
 * redirected it before) and hands it to to again after a jittered backoff that doubles with
 * op->redirects (half to all of 10 ms << (op->redirects - 1): a ping-pong's first, after two
 * redirects, is 10 to 20 ms); its deadline may end it meanwhile (VMUX_ERR_TIMEOUT). When to's node
 * was closed meanwhile, op is sent by its slot. vmux__router_bounce_close() fails the ops still
 * waiting with VMUX_ERR_CLOSED and closes the timer.
 */
void vmux__router_bounce_init(struct vmux_router *r);

/* One slot's ops waiting out a ping-pong (struct vmux_router's bounce_slots). */
struct vmux_bounce_slot {
    uint32_t n;    /* how many */
    uint32_t to;   /* the router node id the last one pushed goes to */
    uint32_t from; /* and the one whose MOVED sent it there: with to, the ping-pong's two nodes */
};
/*
 * The jittered backoff after a ping-pong's redirects-th redirect (1 or more), in ms: half to all
 * of 10 ms << (redirects - 1), the doubling stopped at cap_ms (vmux__router_bounce() uses 500;
 * the subscriber links' SSUBSCRIBE, mux/pubsub_bounce.c, its own). Draws from r->rng.
 */
uint32_t vmux__router_backoff_ms(struct vmux_router *r, unsigned redirects, uint32_t cap_ms);
void vmux__router_bounce(struct vmux_router *r, struct vmux_link *from, struct vmux_link *to,
                         struct vmux_op *op);
void vmux__router_bounce_close(struct vmux_router *r);

/*
 * I/O thread, the words of an op whose deadline passes in one of the router's waiting queues
 * (waited.c; struct vmux_opq's waited, core/op.h, which adds what the wait means for the op's
 * outcome): where it waited and for what. vmux__router_waited_init() gives them to r->bounced (a
 * ping-pong's backoff: after MOVED from which node, to go to which), r->unowned (a MOVED to
 * "?": the node that answered it, kept in op->bounce.to), r->parked (detection: which server,
 * cluster=auto or yes, the seed link's last failure while it has no ready connection) and
 * r->keys_wait (COMMAND GETKEYS: which command, asked of which node; a timed-out op stays there
 * as a husk until the answer, getkeys.c); vmux__router_held_words() is a fence's
 * held queue's (fence.c sets it on each fence it raises): behind which node's commands of the
 * slot. Called only for an op that expires asking for words (VMUX_OP_TELL_WHY).
 */
void vmux__router_waited_init(struct vmux_router *r);

/*
 * A cluster node's share of the handle's admission (share.c): vmux__router_node_share() is how
 * many commands one node's link may hold (vmux__link_holds()) before a new command for it is
 * refused, maxPending / 2 (1 at least; backlogSize bounds only the unsent), set in r->node_share at
 * init. vmux__router_refuse_full() completes such a new op with VMUX_ERR_BACKLOG_FULL, its words
 * naming link's node and the bound (VMUX_OP_TELL_WHY). I/O thread.
 */
size_t vmux__router_node_share(const struct vmux_config *cfg);
void vmux__router_refuse_full(struct vmux_router *r, struct vmux_link *link, struct vmux_op *op);
void vmux__router_held_words(const struct vmux_opq *q, const struct vmux_op *op, char *buf,
                             size_t len);

/*
 * I/O thread: whether an op of slot waits out a ping-pong (bounce.c; O(1)). While one does, the
 * slot's other ops wait behind it, so that a pipeline of one slot stays in order: a MOVED for the
 * slot meanwhile to one of the ping-pong's nodes is taken as part of it (route/follow.c: no patch,
 * op bounced to where it points; to another node: vmux__router_bounce_onward()), and a new op of
 * the slot is taken by vmux__router_bounce_behind() (from send_slow(), vmux__router_send()'s slow
 * path), which queues it behind the last waiting op, due with it, to go where that op goes; false
 * (op not taken) when no op of its slot waits.
 */
bool vmux__router_bouncing(const struct vmux_router *r, int slot);
bool vmux__router_bounce_behind(struct vmux_router *r, struct vmux_op *op);

/*
 * I/O thread (bounce.c; O(1)): whether ops of slot wait out a ping-pong and node (a router node
 * id) is one of its two nodes: the one the last of them goes to, or the one whose MOVED sent it.
 * A MOVED for the slot to such a node is part of the ping-pong (route/follow.c).
 */
bool vmux__router_bounce_between(const struct vmux_router *r, int slot, uint32_t node);

/*
 * I/O thread (bounce.c): a MOVED for op's slot, from the node of link from, names to, a node
 * outside the ping-pong its waiting ops meet: the slot moved on (a migration or a failover
 * after the one they met). Every waiting op of the slot goes to to instead, in its order and at
 * its due, and op (deadline-indexed, in no queue) behind them, due with the last; that pair is
 * the slot's ping-pong from now on. False (op not taken) when no op of op's slot waits. Walks the
 * waiting ops once.
 */
bool vmux__router_bounce_onward(struct vmux_router *r, struct vmux_link *from, struct vmux_link *to,
                                struct vmux_op *op);

/*
 * Any thread. vmux__router_stats_add() adds every node's link counters to *out (the handle's
 * totals). vmux__router_node_stats() fills *out with the link counters of the node at host:port
 * (an IPv6 host with or without brackets; the seed's node under its configured name or the map's)
 * and returns 0, or VMUX_ERR_INVALID_ARG when the handle never had a link to it, or
 * VMUX_ERR_NOMEM.
 */
void vmux__router_stats_add(struct vmux_router *r, vmux_stats *out);
int vmux__router_node_stats(struct vmux_router *r, const char *host, int port, vmux_stats *out);

/*
 * I/O thread. The counters of host:port's links, made on first use and kept for the handle's
 * life (a node that leaves and comes back counts on); NULL when out of memory. The handle's
 * counters' by_node (core/counters.h), and the block of each node link the router opens.
 */
struct vmux_counters *vmux__router_counters_of(struct vmux_router *r, const char *host, int port);

/* Writes "host:port" into buf, an IPv6 host in brackets ("[::1]:7000"), as events name nodes. */
void vmux__node_addr(char *buf, size_t len, const char *host, int port);

/*
 * I/O thread, after a new map (refresh.c): notes which node links' nodes the map no longer
 * names (and which it names again).
 */
void vmux__router_note_departures(struct vmux_router *r);

/*
 * I/O thread, once a second: the node links' heartbeats (vmux__link_tick()); and the links of
 * nodes that left the map ten clusterRefreshMinInterval ago (10 s by default) and hold no op
 * are closed. What such a node's links used (its configuration, host and blocking pool) is
 * freed two ticks after their close, when libuv has released their handles: a handle holds a
 * bounded number of closed nodes however many it closes over its life.
 */
void vmux__router_tick(struct vmux_router *r, bool frozen);

/*
 * I/O thread, refresh.c: after a refresh answered, sends the ops in r->unowned whose slot now has
 * an owner with an address; asks for another refresh (rate-limited) while some still wait.
 */
void vmux__router_release_unowned(struct vmux_router *r);

/*
 * I/O thread, refresh.c: waiting for a map refreshed after some moment (mux/fanout.c's rerun of a
 * typed fan-out that met a demoted primary). vmux__router_refresh_mark() gives the moment: a
 * refresh answered with a map later than it was sent after it (one in flight then is not), so
 * vmux__router_refreshed_since(r, mark) says whether such a map came (installed, or equal to the
 * current one: that node saw nothing new). The caller asks for the refresh itself
 * (vmux__router_refresh_soon(), after taking the mark). vmux__router_wait_refresh() keeps a
 * control op (deadline-indexed by the caller) in r->map_wait; each answered refresh hands them
 * all to r->refreshed, which takes them with vmux__router_take_refresh_waiters() (dst empty).
 * vmux__router_close() fails those still waiting with VMUX_ERR_CLOSED. Nothing on any command's
 * path: one comparison per answered refresh.
 */
uint64_t vmux__router_refresh_mark(const struct vmux_router *r);
bool vmux__router_refreshed_since(const struct vmux_router *r, uint64_t mark);
void vmux__router_wait_refresh(struct vmux_router *r, struct vmux_op *op);
void vmux__router_take_refresh_waiters(struct vmux_router *r, struct vmux_opq *dst);

/* I/O thread: fails parked, unowned, map_wait, demoted and fenced ops with VMUX_ERR_CLOSED,
 * closes the node links and the timers. */
void vmux__router_close(struct vmux_router *r);

/* Frees what r holds, once the loop has released every link it closed. */
void vmux__router_free(struct vmux_router *r);

#endif

/*
 * A link is the multiplexer's lasting channel to one server: it owns the backlog of commands
 * waiting for a connection, and one connection at a time (conn.c), replaced after a failure
 * with jittered exponential backoff: each wait is drawn between reconnectMin and a cap that
 * doubles per attempt up to reconnectMax, except that the first retry after a working
 * connection broke is immediate. Only the I/O thread touches a link.
 */
#ifndef VMUX_LINK_H
#define VMUX_LINK_H

#include <stdbool.h>
#include <uv.h>

#include "core/config_internal.h"
#include "core/counters.h"
#include "core/op.h"
#include "core/reader.h"
#include "net/tls.h"

struct vmux_link;

/* What a link tells its owner. Every one of these runs on the I/O thread. */
struct vmux_link_events {
    /* A connection finished its session setup; commands flow. */
    void (*ready)(struct vmux_link *link, const char *where, void *arg);
    /* A connection attempt or a live connection failed; code and reason say why. */
    void (*failed)(struct vmux_link *link, int code, const char *reason, void *arg);
    /* Something went wrong without breaking the connection (may be NULL). */
    void (*error)(struct vmux_link *link, int code, const char *reason, void *arg);
    /*
     * A user op was answered with a MOVED, ASK or CLUSTERDOWN error (may be NULL): returns true
     * when it took op and reply (to send op elsewhere, or to complete it itself), false to let
     * the link go on as usual (complete op with the reply; CLUSTERDOWN: retry a retry-safe op).
     */
    bool (*redirect)(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply, void *arg);
    /*
     * A user op, neither pinned nor a block of several replies (MULTI ... EXEC), was answered
     * READONLY (may be NULL): its node, a replica now, refused it before running it. Returns true
     * when it took op and reply (a cluster's router sends op by its map), false to let the link go
     * on as usual (a retry-safe op waits for the next connection, another completes with reply).
     * Called after the link retired its connection. Taken, the op counts as retried in the
     * link's counters (its node's), as every resend after a refusal does.
     */
    bool (*readonly)(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply, void *arg);
    /*
     * A user op's SPUBLISH was answered 0 receivers (may be NULL): its node counted no shard
     * subscriber. On a cluster, a hint that the node may be a replica now (a failover that no
     * MOVED announced: a replica runs SPUBLISH for its primary's slots and counts only its own
     * subscribers). Runs before op completes; told only, it takes nothing.
     */
    void (*none_counted)(struct vmux_link *link, void *arg);
    /*
     * A refused op's wait ended (TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN: it did not run), and
     * it goes again (may be NULL): returns true when it took op to send it elsewhere (the slot's
     * owner changed meanwhile), false to send it on this link as before.
     */
    bool (*retry)(struct vmux_link *link, struct vmux_op *op, void *arg);
    /*
     * Whether another link of the owner serves ep already (may be NULL): the link dials the
     * endpoint after it instead, unless every other one is served too (a cluster's seed list:
     * one connection per node).
     */
    bool (*served)(struct vmux_link *link, const struct vmux_endpoint *ep, void *arg);
};

/*
 * Creates a link on loop for the endpoints of cfg (which must outlive the link); tls_ctx, when
 * not NULL, makes every connection TLS (it too must outlive the link). It does not connect
 * until vmux__link_start(). Returns 0, or VMUX_ERR_NOMEM.
 */
int vmux__link_new(uv_loop_t *loop, const struct vmux_config *cfg, vmux_tls_ctx *tls_ctx,
                   struct vmux_counters *ctr, const struct vmux_link_events *events, void *arg,
                   struct vmux_link **out);

/*
 * Once a second: heartbeats and dead-connection checks. frozen says the loop found far more time
 * passed than its timer expected (the process was suspended): the connection must then prove
 * it is alive before commands flow again.
 */
void vmux__link_tick(struct vmux_link *link, bool frozen);

/* Starts the first connection attempt. */
void vmux__link_start(struct vmux_link *link);

/*
 * Under backlogPolicy=failFast, commands submitted to link while its first connection attempt is
 * under way wait for that attempt in the backlog (within backlogSize and their deadlines) instead
 * of failing at once: they are written when it succeeds, and complete with VMUX_ERR_NOT_CONNECTED,
 * that attempt's failure as their words, when it fails (after the owner's failed event, which may
 * send some elsewhere); from then on failFast applies as to any link. For the links the router
 * opens by itself when a command first needs their node (cluster nodes, readFrom's replicas): no
 * caller could wait for them as vmux_open() waits for the main link, so a command would fail
 * against a healthy node only because the handle had not dialled it yet. Call before
 * vmux__link_start(). I/O thread.
 */
void vmux__link_wait_first(struct vmux_link *link);

/*
 * Takes an op (already deadline-indexed): written on the ready connection's next
 * flush, or kept in the backlog while none is ready. A full backlog, the failFast policy (but
 * during a first attempt vmux__link_wait_first() waits for) or a closing link complete the op at
 * once (VMUX_ERR_BACKLOG_FULL, VMUX_ERR_NOT_CONNECTED, VMUX_ERR_CLOSED).
 */
void vmux__link_submit(struct vmux_link *link, struct vmux_op *op);

/*
 * How many commands link holds now: waiting in its backlog, or written on its connection and not
 * answered yet (timed-out ones included, until their late replies come or the connection ends).
 * Not those waiting for a retry (LOADING, TRYAGAIN...). O(1). I/O thread.
 */
size_t vmux__link_holds(const struct vmux_link *link);

/* How long a ready connection that owes replies must have answered nothing before its node is
 * held to its share (vmux__link_over_share()), or is said stalled (vmux__link_stalled()). */
#define VMUX_SHARE_STALL_MS 1000u

/*
 * Whether link's connection is ready (or being checked) and has answered nothing for
 * VMUX_SHARE_STALL_MS while it owes replies: its node stopped or hung, is busy past a second (a
 * long script), or the network lost it. False without a connection. I/O thread.
 */
bool vmux__link_stalled(const struct vmux_link *link);

/*
 * Ends link's connection if it is stalled (vmux__link_stalled(); else nothing), now, as the
 * dead-link rule would later: a failure (counted, reported to the owner's failed event, its
 * reason "no reply for N ms while commands wait: " and why), its written retry-safe commands
 * back in the backlog to be sent again, the others VMUX_ERR_CONNECTION_LOST (outcome unknown);
 * the link connects again after its backoff. I/O thread.
 */
void vmux__link_end_stalled(struct vmux_link *link, const char *why);

/*
 * Whether link holds share commands or more (vmux__link_holds()) while it makes no progress and
 * vmux__link_submit() would take a new one: its connection is ready (or being checked) but has
 * answered nothing for VMUX_SHARE_STALL_MS while it owes replies, or it has no connection and
 * its backlog has room and it does not fail fast. A cluster's router then refuses the new
 * command (route/share.c), so that one hung node cannot hold the whole of maxPending, while a
 * busy node that answers keeps a pipeline as deep as the door lets it. False where
 * vmux__link_submit() refuses it anyway, with its own words. Costs one compare below share.
 * I/O thread.
 */
bool vmux__link_over_share(const struct vmux_link *link, size_t share);

/*
 * Queues ASKING on link (its reply dropped), so that the op submitted next on it runs on a node
 * that is importing the op's slot (a cluster's ASK redirect). Returns 0, or VMUX_ERR_NOMEM.
 */
int vmux__link_asking(struct vmux_link *link);

/*
 * What a subscriber link's owner does with a push over a reply limit (maxBulkLength,
 * maxReplyElements, maxReplyBuffer: a message whose payload is over maxBulkLength), refused by
 * the reader (core/reader.h): part is what was built of it (vmux__reader_refused_part(): its
 * first elements, NULL when none), why the limit's words; both the connection's, valid during
 * the call only. Returns true when the owner drops it (the rest of it is skipped, and the
 * connection goes on), false when the connection must fail (a push that answers a request of
 * the owner's, whose answer would be lost). I/O thread.
 */
typedef bool (*vmux_push_over_limit_fn)(const vmux_reply *part, const char *why, void *arg);

/*
 * The over_limit of a link whose every push matters to the library (the near cache's
 * invalidations: one lost leaves stale entries, and the connection's failure flushes the near
 * cache; a sentinel's failover announcements): a push over a limit fails the connection, which
 * is replaced (and the near cache flushed), as before refusals.
 */
#define VMUX__PUSH_OVER_LIMIT_FAILS ((vmux_push_over_limit_fn)NULL)

/*
 * Makes the link a subscriber link: once a connection's session is set up, every reply it
 * reads goes to fn (which owns it) instead of being matched to a command, but for the answer to
 * its heartbeat: a raw PING, sent when it has been idle for keepAlive and after a freeze, whose
 * answer (["pong", ""] while subscribed, +PONG otherwise, or an error naming PING) the
 * connection takes itself; none within 2 x syncTimeout (2 s at least) fails it as dead (setup.c,
 * conn_read.c). A push over a reply limit goes to over_limit (the user's subscriptions: the
 * message is dropped and the connection kept), or fails the connection with
 * VMUX__PUSH_OVER_LIMIT_FAILS. arg is given to both. A link given an over_limit reads with a
 * maxReplyElements of at least 4 (a pattern message's elements). Set before start.
 */
void vmux__link_set_push(struct vmux_link *link, void (*fn)(vmux_reply *reply, void *arg),
                         vmux_push_over_limit_fn over_limit, void *arg);

/*
 * Writes RESP bytes that expect no reply matched to a command (SUBSCRIBE on a subscriber
 * link). Returns 0, or VMUX_ERR_NOT_CONNECTED when no connection is ready (the caller sends
 * them again when the link reports ready), or VMUX_ERR_NOMEM. A link with a push callback
 * (vmux__link_set_push()) is never CHECKING (after a freeze it sends its heartbeat PING and
 * stays ready), so NOT_CONNECTED always means a ready event is to come.
 */
int vmux__link_send_raw(struct vmux_link *link, const char *bytes, size_t len);

/*
 * The backlog, for an owner that sends ops elsewhere (a cluster's map changed):
 * vmux__link_take_backlog() moves every op waiting for a connection into dst (empty), in order;
 * vmux__link_return_backlog() puts the ops of src back in front of the backlog, in their order.
 * The ops stay deadline-indexed throughout.
 */
void vmux__link_take_backlog(struct vmux_link *link, struct vmux_opq *dst);
void vmux__link_return_backlog(struct vmux_link *link, struct vmux_opq *src);

/*
 * Replaces the link's connection on the server's word (a cluster node answered MOVED naming
 * itself: a managed endpoint or proxy whose name now leads elsewhere). op, which the server did
 * not execute, is sent first on the next connection. The current connection takes no new
 * commands (they wait in the backlog); once the commands already written on it are answered it
 * closes, and the link connects again at once to the same endpoint, resolving its name anew.
 * Commands on it when it breaks follow the usual resend rules. Without a live connection, op
 * simply waits for the next one (vmux__link_submit()). why (static) names the cause in the log
 * and the failure event.
 */
void vmux__link_replace_conn(struct vmux_link *link, struct vmux_op *op, const char *why);

/*
 * Whether vmux__link_replace_conn() retired a connection of link less than
 * VMUX_LINK_REPLACE_GAP_MS ago: a MOVED to itself on the connection made since says the name
 * still leads to the wrong node (a misdirected proxy), and connecting again at once would only
 * repeat it (probe37: 4,789 connections in 3.7 s). False while the retired connection is still
 * the link's: its later MOVEDs answer commands written before the replacement, which go first
 * on the next connection in the order they were written.
 */
#define VMUX_LINK_REPLACE_GAP_MS 1000
bool vmux__link_replaced_lately(const struct vmux_link *link);

/*
 * Whether the link's node said, in the last ms milliseconds, that a failover demoted it: it
 * answered READONLY (a replica refusing a write), or UNBLOCKED ("instance state changed": a
 * blocked command ended by its role change). I/O thread. What route/follow.c takes for a sign
 * that a MOVED from it to its own replica is a failover's.
 */
bool vmux__link_demoted_within(const struct vmux_link *link, uint64_t ms);

/*
 * Makes the link a helper link of the handle (blocking pool, subscriber): commands always wait
 * for its connection whatever backlogPolicy says (it was opened for them), and it does not
 * publish the handle's backlog and in-flight gauges, which describe the main link.
 */
void vmux__link_set_auxiliary(struct vmux_link *link);

/*
 * From now on the link counts what a link counts (core/counters.h, by_node) in the block of
 * host:port: each attempt does so for the node it dials, and a cluster's seed link for the map's
 * name of its node once its id says which (route/seedid.c). Its share of the gauges moves with
 * it. Nothing changes for a link made with counters that are not counted per node, or when out
 * of memory. I/O thread.
 */
void vmux__link_count_as(struct vmux_link *link, const char *host, int port);

/*
 * Makes every reply on the link the library's own (a sentinel's link, the near cache's
 * invalidation link: no command of the user's runs there), read under the default limits rather
 * than the user's maxBulkLength, maxReplyElements and maxReplyBuffer. Before start.
 */
void vmux__link_set_own(struct vmux_link *link);

/*
 * The direct lane (lane.c). vmux__lane_enable() lets the link lend its idle connection to
 * caller threads (the handle's main link; before start): wake is the handle's wake-up handle,
 * kick a non-blocking eventfd the link may use until it is closed, adopt(op, arg) indexes the
 * deadline of an op a caller wrote, on the I/O thread. I/O thread: vmux__lane_shut() before
 * touching the connection (it adopts what callers wrote), vmux__lane_open() after;
 * vmux__lane_poke() on every wake-up; vmux__lane_wake_by() publishes when the loop will wake
 * anyway (a caller whose deadline comes sooner wakes it).
 *
 * Any other thread: vmux__lane_write() sends op's bytes itself and puts op in the connection's
 * FIFO, which then owns it, returning 0; or VMUX_ERR_NOT_CONNECTED, with nothing sent and op
 * still the caller's, when the lane is not open (the I/O thread is busy, the connection is not
 * ready or is TLS) or the socket took nothing. With 0 and *reading false the caller must not
 * touch the handle again until op completes. With *reading true the caller still holds the
 * connection and must call vmux__lane_read() at once: it reads op's reply and completes op, or
 * hands the connection back to the I/O thread, which completes op later; either way, once it
 * returns the caller must not touch the handle or op again.
 */
void vmux__lane_enable(struct vmux_link *link, uv_async_t *wake, int kick,
                       void (*adopt)(struct vmux_op *op, void *arg), void *arg);
void vmux__lane_wake_by(struct vmux_link *link, uint64_t ns);
/*
 * I/O thread, first thing in the timer callback whose time vmux__lane_wake_by() published: that
 * wake-up is spent, and the lane must not open again before the next one is published (a caller
 * would trust a wake-up that has already happened, and its command would go unwatched). Checked
 * by an assertion wherever the lane opens.
 */
void vmux__lane_wake_spent(struct vmux_link *link);
void vmux__lane_shut(struct vmux_link *link);
void vmux__lane_open(struct vmux_link *link);
/*
 * A libuv callback that works on the connection and may call back into code that opens the lane
 * (a reply completing the setup makes the link ready, which opens it) brackets its work with
 * these: inside, vmux__lane_open() does nothing, and vmux__lane_leave() opens the lane once the
 * outermost bracket ends. So no caller takes the lane while the I/O thread is still reading. I/O
 * thread.
 */
void vmux__lane_enter(struct vmux_link *link);
void vmux__lane_leave(struct vmux_link *link);
void vmux__lane_poke(struct vmux_link *link);
int vmux__lane_write(struct vmux_link *link, struct vmux_op *op, bool *reading);
void vmux__lane_read(struct vmux_link *link, struct vmux_op *op);

/*
 * The same for a batch's ops[0..n) (1 <= n <= VMUX_LANE_MAX_OPS, each expecting one reply, one
 * deadline for all): vmux__lane_write_all() sends all their bytes in one sendmsg() and puts them
 * in the FIFO in order, all or none (VMUX_ERR_NOT_CONNECTED: none sent, all still the caller's);
 * what the socket did not take is left for the I/O thread to write. With *reading true the
 * caller must call vmux__lane_read_all() at once, which reads their replies in order and
 * completes each, until an error reply, the deadline or the I/O thread's kick hands the rest to
 * the I/O thread. The rules of the one-op forms apply otherwise.
 */
enum { VMUX_LANE_MAX_OPS = 1024 };
int vmux__lane_write_all(struct vmux_link *link, struct vmux_op *const *ops, size_t n,
                         bool *reading);
void vmux__lane_read_all(struct vmux_link *link, struct vmux_op *const *ops, size_t n);

/*
 * Makes the link follow the primary of a Sentinel service (net/sentinel.h): every connection
 * attempt first asks s where the primary is. Set before start; s must outlive the link or detach
 * it (vmux__sentinel_close()). NULL does nothing.
 */
struct vmux_sentinel;
void vmux__link_set_sentinel(struct vmux_link *link, struct vmux_sentinel *s);

/*
 * Client-side caching (the near cache, mux/near.c): a tracking link's every connection ends its
 * session setup with CLIENT TRACKING ON REDIRECT <id> OPTIN (or BCAST PREFIX p ... when the
 * link's configuration has nearCacheMode=bcast), so that the server sends the invalidations of
 * the keys it reads (in OPTIN mode, the reads after CLIENT CACHING YES; in BCAST mode, every
 * key under the prefixes) to the connection whose client id is <id>. All run on the I/O thread.
 */
struct vmux_link_tracking {
    /* The client id to redirect a connection to where ("host:port") to, asked at each setup;
     * 0: none (the connection does not track). */
    long long (*redirect_id)(struct vmux_link *link, const char *where, void *arg);
    /* The connection answered CLIENT TRACKING ON REDIRECT id: ok, or refused (an error reply,
     * which does not fail the connection). Only the answer to the last one sent is reported. */
    void (*tracked)(struct vmux_link *link, long long id, bool ok, void *arg);
    /* The link's connection ended (failed, retired or refused at setup): what it tracked is no
     * longer tracked by anyone. Reported before the link's failed event. */
    void (*lost)(struct vmux_link *link, void *arg);
    /* A connection finished its setup (tracking or not): the owner may re-point it now. */
    void (*ready)(struct vmux_link *link, void *arg);
    void *arg;
    /* An op marked VMUX_OP_NEAR is being written on the link's connection (its bytes go after
     * everything written before on it): the owner checks that the connection tracks where the
     * op's placeholder needs, else cancels it. NULL: nothing. */
    void (*writing)(struct vmux_link *link, struct vmux_op *op, void *arg);
};

/* Makes link a tracking link (copied; set before start). */
void vmux__link_set_tracking(struct vmux_link *link, const struct vmux_link_tracking *t);

/*
 * Re-points the ready connection's tracking at client id now (CLIENT TRACKING ON REDIRECT id
 * OPTIN, or in BCAST mode CLIENT TRACKING OFF and then ON ... BCAST, answered to tracked()).
 * Returns 0; VMUX_ERR_NOT_CONNECTED when no connection is ready (the next one's setup asks
 * redirect_id()); VMUX_ERR_NOMEM (the connection fails). I/O thread.
 */
int vmux__link_track(struct vmux_link *link, long long id);

/*
 * Drops link's ready connection and connects again at once, as after a working connection
 * broke (with several endpoints, to the one whose ROLE says primary; with Sentinel, where the
 * sentinel says); why (static) is logged and given to the failure event. A renewal, not a
 * failure: connect_failures does not count it (connects counts the new connection), and the
 * link's last failure (vmux__link_last_failure()) stays what it was. A link that
 * is not ready (connecting, waiting to, checking, closed) is left alone: its next connection is
 * a new one anyway. I/O thread.
 */
void vmux__link_reconnect(struct vmux_link *link, const char *why);

/*
 * Whether link's connections are in READONLY mode (a cluster replica then serves reads; on a
 * primary it changes nothing). A cluster handle's links start in it, and the router takes it off
 * the links of the nodes its map names primaries: a primary demoted by a failover then answers
 * MOVED to a read, as to a write, instead of serving it from its replica's copy. Sends READONLY
 * or READWRITE on the ready connection when its mode differs; the next connection's setup sends
 * READONLY when on. Returns 0, or VMUX_ERR_NOMEM (the connection fails). I/O thread.
 */
int vmux__link_set_readonly(struct vmux_link *link, bool on);

/*
 * From now on, each of link's connections checks at setup that its server is a cluster node (a
 * CLUSTER MYID pipelined with the rest of the setup, so no round trip is added): a server that
 * answers that it has cluster support disabled (a node restarted without cluster-enabled, or
 * another server now at its address) fails the connection with VMUX_ERR_CONNECT before any
 * command is written on it, so no key is read or written on a server outside the cluster. Other
 * errors (an ACL without CLUSTER) are ignored. The router calls this for its seed link and every
 * node link once it is in cluster mode, and for each node link it opens after (not for the
 * replica links of a standalone or Sentinel handle). I/O thread.
 */
void vmux__link_set_cluster_only(struct vmux_link *link);

/* "host:port" of the link's current connection, NULL when it has none. I/O thread. */
const char *vmux__link_where(const struct vmux_link *link);

/* Whether the link has a ready connection. */
bool vmux__link_ready(const struct vmux_link *link);

/*
 * Whether the link has no ready connection because one failed (a connection lost, or attempts
 * refused) or was left for a new primary (net/sentinel_watch.c), rather than one still
 * opening for the first time. I/O thread.
 */
bool vmux__link_down_after_failure(const struct vmux_link *link);

/*
 * The link's last connection failure, "host:port: cause" (redacted of the credentials, as every
 * failure reason is: net/conn.c), while it has no ready connection because of it
 * (vmux__link_down_after_failure()); NULL otherwise. Points into the link, valid until its next
 * failure. I/O thread. The reason an op that fails unsent on this link gives its synchronous
 * caller (core/op.h vmux__op_why()).
 */
const char *vmux__link_last_failure(const struct vmux_link *link);

/*
 * The availability zone its server reported (INFO server's availability_zone, asked at setup
 * when readFrom is an azAffinity policy), or NULL when unknown. I/O thread.
 */
const char *vmux__link_az(const struct vmux_link *link);

/*
 * Whether readFrom must skip its server: a replica whose link to its primary is down (INFO
 * replication, asked at setup and once a second under a readFrom other than primary), or one
 * that vmux__link_judge_lag() last found too far behind or not its primary's replica at all.
 * I/O thread.
 */
bool vmux__link_lagging(const struct vmux_link *link);

/*
 * Whether the server is a replica cut off from its primary or not its primary's replica at all
 * (the first and last reasons of vmux__link_lagging(), not replicaMaxLag's): its data is no
 * replica's of this primary, so no policy reads it, not even for want of another. I/O thread.
 */
bool vmux__link_cut_off(const struct vmux_link *link);

/*
 * Judges how far the replica behind link replica is behind the primary behind link primary (two
 * links of one shard): its last offset against the offsets the primary reached and when they were
 * first seen. Its lag is at least the time since the primary first had bytes the replica had not
 * applied when it last answered; a second or so more at most (offsets are read once a tick).
 * The replica is behind (vmux__link_lagging()) when that exceeds max_ms; max_ms 0 never. Either
 * link not yet answering INFO replication, a primary that is not one, or offsets of two histories
 * (master_replid differs) judge nothing: not behind. Also judges whether the server is its
 * primary's replica at all: one that answers as a primary, or whose link is up to another
 * history than the primary's (master_replid differs), is foreign, and skipped like a lagging one
 * (a replica endpoint made a primary by hand, or one following another primary). Returns the lag
 * found, ms. I/O thread.
 */
uint64_t vmux__link_judge_lag(struct vmux_link *replica, const struct vmux_link *primary,
                              uint64_t max_ms);

/* Whether the link holds ops: waiting (backlog, retries) or written and not yet answered. */
bool vmux__link_busy(const struct vmux_link *link);

/*
 * The number of the link's current connection (1, 2... over the link's life), 0 while it has
 * none: when it changes, the connection that held some written ops has ended. I/O thread.
 */
uint64_t vmux__link_conn_gen(const struct vmux_link *link);

/* Hash slots of a cluster: VMUX_SLOTS (route/slot.h, a layer above; route/fence.c checks). */
#define VMUX_LINK_SLOTS 16384

/*
 * Whether the link's current connection has written a live op (a caller's, not yet completed)
 * that awaits its reply and whose slot's bit is set in slots (VMUX_SLOTS bits: slot s is bit
 * s % 8 of slots[s / 8]). With found not NULL, sets there the bit of every such op's slot (the
 * whole FIFO is walked); else stops at the first. I/O thread (the router's fences, route/fence.c).
 */
bool vmux__link_slots_in_flight(const struct vmux_link *link, const uint8_t *slots, uint8_t *found);

/*
 * Whether the link holds a live op (as vmux__link_slots_in_flight() counts them) of slots
 * anywhere: written on its current connection, or waiting to be written (its backlog, for a
 * connection; its refused ops' retry queues; its READONLY-refused ones, for the next connection).
 * Walks them all at worst. I/O thread (the router's fences for resent ops, route/fence.c).
 */
bool vmux__link_slots_held(const struct vmux_link *link, const uint8_t *slots);

/*
 * Whether the link holds a live op of slots (as above) among its refused ones: waiting out a
 * refusal's backoff (TRYAGAIN and the like) or, READONLY-refused, for the next connection. Those
 * queues are the link's, not a connection's: they outlast the one that ended. Walks them at
 * worst. I/O thread (route/fence.c).
 */
bool vmux__link_slots_refused(const struct vmux_link *link, const uint8_t *slots);

/*
 * How many live ops have left the queues vmux__link_slots_held() walks so far (the current
 * connection's written ops, the backlog, the retry queues, the READONLY-refused), answered, sent
 * on, moved or timed out: with vmux__link_conn_gen() unchanged too, an op those walks found then
 * is still there, and a walk can be spared. O(1). I/O thread (route/fence.c).
 */
uint64_t vmux__link_left(const struct vmux_link *link);

/*
 * Closes the link: every op it holds completes with VMUX_ERR_CLOSED, its handles close, and it
 * frees itself once libuv has released them.
 */
void vmux__link_close(struct vmux_link *link);

#endif

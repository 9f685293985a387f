/*
 * The pub/sub engine's state in the handle, in six files: pubsub.c, the registry, delivery and
 * the public calls; pubsub_place.c, the subscriber links and where each subscription goes;
 * pubsub_bounce.c, a subscription's moves as the servers see them (MOVED ping-pong backoff, one
 * VMUX_EVENT_SUBSCRIPTION_MOVED per move); pubsub_guard.c, the replay guard against a message
 * delivered again by the link subscriptions moved to; pubsub_owed.c, the UNSUBSCRIBEs that could
 * not be written for want of memory; pubsub_keyspace.c, keyspace notifications on every primary
 * of a cluster. I/O thread only, except where noted.
 *
 * Placement (docs/pubsub.md, "Cluster"): standalone, every subscription is on one subscriber
 * link to the handle's endpoints. In a cluster, channel and pattern subscriptions are on one
 * link to one node (any node receives every classic message), shard channels on a link to the
 * primary that serves their slot, keyspace notifications on every primary's (one copy each). Each
 * subscription notes the link it is on (at); a reconciler compares that with where the map says it
 * belongs and moves what differs, after any change.
 */
#ifndef VMUX_MUX_PUBSUB_H
#define VMUX_MUX_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "vmux/pubsub.h"

struct vmux;
struct vmux_config;
struct vmux_link;

/* One subscriber connection: to one node (cluster), or to the handle's endpoints (standalone). */
struct vmux_sublink {
    struct vmux_sublink *next;
    struct vmux *m;
    struct vmux_link *link;
    struct vmux_config *cfg; /* the node's one endpoint (owned); NULL: the handle's own */
    char *host;              /* the node; NULL for the handle's endpoints */
    int port;
    /* SUBSCRIBE and UNSUBSCRIBE requests written on its current connection, oldest first: the
     * server confirms them in this order, one confirmation each. Emptied when it fails. */
    struct vmux_sub_request *sent_head, *sent_tail;
    /* Ended subscriptions whose UNSUBSCRIBE its current connection still owes (pubsub_owed.c),
     * linked by onext; owned here. */
    struct vmux_sub *owed;
    bool failed;           /* its connection failed since it was last ready */
    uint64_t idle_ms;      /* cluster: loop ms since when nothing has been on it; 0: in use */
    uint64_t retired_tick; /* retired: the handle's tick count then (freed two ticks later) */
    uint64_t unnamed_ms;   /* loop ms since when the map has not named its node; 0 while it does */
    /* loop ms since when nothing has been on it but the unanswered SUNSUBSCRIBEs of shard
     * channels that moved away (make-before-break: it reads on until they are); 0: not so */
    uint64_t drain_ms;
    /* The replay guard (pubsub_guard.c). seen: the fingerprints of the last messages delivered
     * from it (a ring of VMUX__SEEN_MAX, allocated on the first; cluster only). guard: those
     * the links it took subscriptions from delivered last, sorted by fp (ms UINT64_MAX: spent);
     * one arriving here before guard_until (loop ms: VMUX__GUARD_MS after the last confirmation
     * here of a subscription that moved here; 0: none yet, armed while guard_wait is not 0) is
     * a replay, dropped, and its entry is spent. guard_wait: the subscriptions that moved here with
     * the guard (guarded) and are neither confirmed here nor gone; the guard is kept while one is,
     * or its window is open. */
    struct vmux_sub_seen *seen;
    size_t seen_next, seen_n;
    uint64_t seen_total; /* deliveries noted in seen since it was made: numbers them */
    struct vmux_sub_seen *guard;
    size_t nguard;
    uint64_t guard_until;
    size_t guard_wait;
    /* The last link taken from, and its seen_total then: a later move from it takes only what
     * it delivered since (each delivery excuses one arrival, however many moves follow). */
    const struct vmux_sublink *guard_from;
    uint64_t guard_seen;
};

/* A delivered message's fingerprint (its kind, channel, pattern and payload) and its loop ms. */
struct vmux_sub_seen {
    uint64_t fp;
    uint64_t ms;
};

#define VMUX__SUB_VISITED 4u /* the nodes that redirected a subscription, remembered */

struct vmux_sub {
    struct vmux_sub *next, *prev; /* the handle's list of subscriptions */
    struct vmux_sub *hnext;       /* the same hash bucket */
    struct vmux_sub *gnext;       /* among the graves */
    uint64_t hash;
    vmux_sub_kind kind;
    vmux_bytes name;
    vmux_message_cb cb; /* or */
    vmux_msgq *queue;
    void *userdata;
    bool dead;            /* unsubscribed during a delivery: freed after it */
    int requests;         /* entries of the sent requests that name it */
    const struct vmux *m; /* its handle: vmux_sub_wait_live() must know a fork() child */
    /* Its UNSUBSCRIBE could not be written for want of memory: once out of the registry it is
     * kept on its link's owed list (onext) for its kind and name, until written (pubsub_owed.c) */
    bool owed;
    struct vmux_sub *onext;
    /* Where its SUBSCRIBE was sent (or goes when that link is ready); NULL: nowhere yet. */
    struct vmux_sublink *at;
    /* A shard channel's last move: the link it left, while that link's SUNSUBSCRIBE of it is not
     * answered yet, still delivers its messages (the server wrote them before the answer). */
    const struct vmux_sublink *left;
    bool lost;         /* the server ended it on at (its slot moved...): to be sent again */
    bool guarded;      /* moved to at, whose replay guard waits for its confirmation there */
    uint64_t retry_at; /* lost: not sent to the same node again before (loop ms) */
    uint8_t refusals;  /* refused in a row (an ACL): each wait before the next try is longer */
    /* A shard channel's MOVED ping-pong (pubsub_bounce.c). Since it was last confirmed: the
     * MOVEDs its SSUBSCRIBE followed, the nodes that sent them or ended it (the last
     * VMUX__SUB_VISITED, as fingerprints of host:port; 0: none), whether one was a ping-pong
     * (bounced), and, lost in one, until when (loop ms) it is sent nowhere and the node it goes
     * to then (bounce_to, the last MOVED's, kept open by it; NULL: where the map says). home:
     * the link it was last confirmed on (NULL: none yet), what a move is from
     * (SUBSCRIPTION_MOVED is raised when it is confirmed on another node). */
    uint8_t redirects;
    bool bounced;
    uint64_t visited[VMUX__SUB_VISITED];
    uint64_t bounce_at;
    struct vmux_sublink *bounce_to;
    const struct vmux_sublink *home;
    /* Keyspace notifications on a cluster (pubsub_keyspace.c): the application's subscription
     * is on no link itself; a copy of it (kids, linked by knext; each one's parent is it) is on
     * each primary's link, created with it at that link and never moved. complete: there is a
     * copy on every primary of the map. A copy is ended when its node stops being a primary. */
    struct vmux_sub *parent;
    struct vmux_sub *kids, *knext;
    bool complete;
    uv_mutex_t mu;
    uv_cond_t cv;
    /* under mu: the server confirmed its own SUBSCRIBE on the current connection (keyspace on a
     * cluster: every copy's, and the copies are complete) */
    bool live;
};

/*
 * One SUBSCRIBE or UNSUBSCRIBE written on a subscriber connection. sub is the subscription the
 * SUBSCRIBE was sent for; NULL for an UNSUBSCRIBE, or once that subscription has ended. hash
 * is the kind and name's, to tell the answer to an UNSUBSCRIBE from the server's own. slot is
 * a shard channel's (SSUBSCRIBE, SUNSUBSCRIBE), -1 for the others: only a request of that slot
 * can be answered by a MOVED or ASK naming it.
 */
struct vmux_sub_request {
    struct vmux_sub_request *next;
    struct vmux_sub *sub;
    uint64_t hash;
    int slot;
    bool unsub;
};

struct vmux_pubsub {
    struct vmux_sublink *links;   /* open subscriber links */
    struct vmux_sublink *retired; /* closed ones, kept until no subscription names them */
    uint64_t ticks;               /* vmux__pubsub_tick() calls so far */
    uint64_t idle_close_ms; /* VMUX__PUBSUB_IDLE_CLOSE_MS (tests may lower it, on the I/O thread) */
    struct vmux_sublink *classic; /* where channel and pattern subscriptions go; NULL: not yet */
    char avoid[300];              /* cluster: "host:port" of the last classic node that failed */
    uv_timer_t timer;             /* the next reconcile */
    uint64_t timer_due;           /* loop ms it fires at, while active */
    bool timer_ready;
    struct vmux_sub *subs; /* every registered subscription, doubly linked */
    /* The same subscriptions by kind and name: a message finds its own in O(1). Chained;
     * nbuckets is a power of two, grown (never while delivering) to keep chains short. */
    struct vmux_sub **buckets;
    size_t nbuckets, nsubs;
    struct vmux_sub *graves; /* unsubscribed during a delivery: freed after it */
    int delivering; /* inside a delivery (or a held walk of subs): ends are deferred, no rehash */
    bool closed;
    /* Messages over a reply limit (pubsub_over_limit.c): loop ms of the last WARN line (0: none
     * yet), and those dropped since it, not logged. */
    uint64_t over_limit_logged_ms;
    uint64_t over_limit_unlogged;
    uint64_t tls_installs; /* the router's installs when the links last learnt their TLS names */
};

/* Fails nothing (subscriptions are not commands): frees every subscription, closes their
 * queues and the subscriber links. */
void vmux__pubsub_close(struct vmux *m);

/* After the loop has ended: frees the subscriber links' memory. */
void vmux__pubsub_free(struct vmux *m);

/* Once a second: the subscriber links' heartbeats. */
void vmux__pubsub_tick(struct vmux *m, bool frozen);

/* A new slot map, or detection is over: the reconciler runs soon, and after a refreshed map the
 * subscriber links learn the TLS names their nodes announce (router's map_changed hook). */
void vmux__pubsub_map_changed(void *m);

/*
 * I/O thread, cluster mode (pubsub_place.c): the link a PUBLISH goes to: the node link of the
 * node that carries the handle's channel and pattern subscriptions, so that the server's count
 * of receivers includes them (it counts only the clients subscribed on the node that ran it).
 * NULL when there is no such node (nothing subscribed, or its connection failed) or no link
 * could be opened: the op is then routed as any keyless one.
 */
struct vmux_link *vmux__pubsub_publish_link(struct vmux *m);

/* ---- the replay guard (pubsub_guard.c) ---- */

/*
 * Every node of a cluster sends every classic message, each when the cluster bus brings it
 * there, and the bus brings one message to two nodes at moments apart (tens of milliseconds
 * under load: more than a move takes). So a message the old node delivered just before its
 * connection failed may come again from the new node, which received it after the handle
 * subscribed there. The guard remembers what each link delivered in its last GUARD_MS and
 * drops those messages if they come again from the link the subscriptions moved to, within
 * GUARD_MS of those subscriptions' confirmations there (docs/pubsub.md, "At most once across a
 * move").
 */
#define VMUX__SEEN_MAX 1024u /* fingerprints remembered per link */
#define VMUX__GUARD_MS 1000u /* how far back, and for how long after a move */

/* The fingerprint of a message of that kind (FNV-1a; never 0). */
uint64_t vmux__pubsub_fingerprint(vmux_sub_kind kind, const vmux_message *msg);

/* Notes that sl delivered the message with fingerprint fp at loop time now. */
void vmux__sublink_seen(struct vmux_sublink *sl, uint64_t fp, uint64_t now);

/* Whether fp arriving on sl at now is a replay of what a link it took over delivered (the
 * entry is spent: the next one is not). Frees the guard once it has expired. */
bool vmux__sublink_replay(struct vmux_sublink *sl, uint64_t fp, uint64_t now);

/*
 * s moves from `from` to `to` (before s->at is set to `to`; s is not guarded): to guards against
 * what `from` delivered in its last VMUX__GUARD_MS, each delivery once (a later move from the same
 * link, another subscription of it or a ping-pong's next bounce, adds only what it delivered
 * since), and waits for s's confirmation there (s is guarded). Out of memory, or nothing recent
 * delivered: no guard, s is not guarded.
 */
void vmux__sub_inherit(struct vmux_sub *s, struct vmux_sublink *to, const struct vmux_sublink *from,
                       uint64_t now);

/* The server confirmed s on its link (s->at): if s is guarded there, the link's guard drops
 * replays until VMUX__GUARD_MS from now, and s is no longer waited for. */
void vmux__sub_guard_confirmed(struct vmux_sub *s, uint64_t now);

/* s leaves its link (s->at) unconfirmed: it moves on, or ends. If it was the last guarded
 * subscription there and none was confirmed, the link's guard is dropped: nothing it guards
 * against can come. Nothing when s is not guarded. */
void vmux__sub_unguard(struct vmux_sub *s);

/*
 * A message of s (fingerprint fp) read on the link s left (s->left), before that link answered
 * its SUNSUBSCRIBE: during the overlap of a move both nodes may deliver one publish (a primary
 * and its replica). True: s's link delivered it in its last VMUX__GUARD_MS, and it is dropped
 * here. False: it is s's, and s's link will drop it if it comes there within VMUX__GUARD_MS.
 */
bool vmux__sub_overlap_replay(struct vmux_sub *s, uint64_t fp, uint64_t now);

/* Frees sl's fingerprints (a link retired or freed). */
void vmux__sublink_forget_seen(struct vmux_sublink *sl);

/* ---- a subscription's moves as the servers see them (pubsub_bounce.c) ---- */

/*
 * An SSUBSCRIBE of s sent on `by` was answered MOVED to host:port (hostlen bytes). Notes the
 * redirect. A MOVED back to a node that redirected s (or ended it) since its last confirmation
 * is a ping-pong (the nodes disagree for a moment, as during a migration whose SETSLOT NODE
 * reached the source first): s, lost, then waits the jittered backoff of route/bounce.c
 * (vmux__router_backoff_ms(), doubling with its redirects up to a second) and goes to that node
 * (opened if need be), and true is returned: the map is not patched until a node confirms s.
 * False: an ordinary MOVED (or no link could be opened, or the host is longer than DNS allows:
 * vmux__host_over_dns(), never cut to fit), for the caller to patch the map with.
 */
bool vmux__sub_redirected(struct vmux *m, struct vmux_sub *s, const struct vmux_sublink *by,
                          const char *host, size_t hostlen, int port);

/* The server ended s on sl (its slot moved away): sl counts as a node that redirected it. */
void vmux__sub_ended(struct vmux_sub *s, const struct vmux_sublink *sl);

/* Whether s, lost in a ping-pong, waits out its backoff still: the reconciler is then set for
 * when it ends. */
bool vmux__sub_held(struct vmux *m, const struct vmux_sub *s);

/*
 * The server confirmed s on sl: VMUX_EVENT_SUBSCRIPTION_MOVED when its last confirmation was on
 * another node (one event per actual move, however many redirects it took); after a ping-pong,
 * the map names sl's node the owner of s's slot (the patch the ping-pong's MOVEDs did not make);
 * its redirects are forgotten.
 */
void vmux__sub_landed(struct vmux *m, struct vmux_sub *s, const struct vmux_sublink *sl);

/* ---- UNSUBSCRIBEs that could not be written (pubsub_owed.c) ---- */

/* What a request that could not be written for want of memory waits before it is tried again
 * (the reconciler's next pass), and how often the reconciler looks again while it waits. */
#define VMUX__PUBSUB_RETRY_MS 1000

/* How long a subscriber link with nothing left on it reads on for the answers to the
 * SUNSUBSCRIBEs of shard channels that moved away, at most (make-before-break, pubsub.md). */
#define VMUX__PUBSUB_DRAIN_MS 2000

/* Whether an UNSUBSCRIBE of the kind and name with that hash waits for its answer on sl. */
bool vmux__sublink_unsubscribing(const struct vmux_sublink *sl, const uint64_t *hash);

/* How long a cluster node's healthy subscriber link with nothing on it stays open (pubsub.md). */
#define VMUX__PUBSUB_IDLE_CLOSE_MS 30000

/*
 * s has ended (dead) and was the last of its kind and name on its link s->at: writes its
 * UNSUBSCRIBE there. When that fails for want of memory, s is owed: the reconciler writes it
 * again VMUX__PUBSUB_RETRY_MS later (vmux__sublink_pay()), as it does a SUBSCRIBE.
 */
void vmux__sub_unsubscribe(struct vmux *m, struct vmux_sub *s);

/* s, dead and out of the registry, is about to be freed: if its UNSUBSCRIBE is owed on a link
 * still open, that link keeps it instead (true: the caller must not free it). */
bool vmux__sub_owe(struct vmux_sub *s);

/*
 * The reconciler's pass over sl's owed UNSUBSCRIBEs: each is written, or dropped unwritten when
 * a subscription of its kind and name is on sl again (the UNSUBSCRIBE would end it), and freed.
 * One that still cannot be written (out of memory, or the connection not ready) stays. Returns
 * whether none stays.
 */
bool vmux__sublink_pay(struct vmux_sublink *sl);

/* sl's connection failed, was replaced or closed: a new one never had what sl owed, which is
 * dropped unwritten and freed. why ends the log line. */
void vmux__sublink_forgive(struct vmux_sublink *sl, const char *why);

/* ---- keyspace notifications on a cluster (pubsub_keyspace.c) ---- */

/*
 * A server publishes keyspace and keyevent notifications only on the node that holds the key
 * (the cluster bus does not carry them, as it carries PUBLISH), and a primary's replicas repeat
 * them from its replication stream. So on a cluster a channel or pattern that can only name
 * such channels (it begins with "__keyspace@" or "__keyevent@") is subscribed on every primary
 * of the map, through one copy per primary (docs/pubsub.md, "Keyspace notifications").
 */

/* Whether a channel or pattern of len bytes begins with "__keyspace@" or "__keyevent@". */
bool vmux__pubsub_node_local(const char *name, size_t len);

/* Whether s is subscribed on every primary: a cluster handle's channel or pattern subscription
 * (not a copy) with a node-local name. */
bool vmux__keyspace_fans(struct vmux *m, const struct vmux_sub *s);

/*
 * The reconciler's pass over such an s: a copy of s on each primary of the map that has none
 * (its SUBSCRIBE sent), the copies on nodes that are no longer primaries ended (UNSUBSCRIBE),
 * s's live state brought up to date. Returns whether every primary has a copy (false: the
 * reconciler looks again later; an empty map or no memory ends nothing).
 */
bool vmux__keyspace_place(struct vmux *m, struct vmux_sub *s);

/* s is ending: each of its copies is ended with it (vmux__pubsub_end()). Nothing for others. */
void vmux__keyspace_end(struct vmux *m, struct vmux_sub *s);

/* A copy's live state changed: s (its parent) is live when every copy is and they are complete. */
void vmux__keyspace_live(struct vmux_sub *s);

/* ---- between pubsub.c and pubsub_place.c ---- */

/* Runs the reconciler in delay_ms (or sooner, if it was due sooner). */
void vmux__pubsub_reconcile_soon(struct vmux *m, uint64_t delay_ms);

/* The open subscriber link to host:port (NULL host: to the handle's endpoints), opened if need
 * be; NULL when it cannot be. */
struct vmux_sublink *vmux__sublink_for(struct vmux *m, const char *host, int port);

/* Sends s's SUBSCRIBE where it belongs (a link opened if need be), or leaves it for later. */
void vmux__pubsub_place(struct vmux *m, struct vmux_sub *s);

/*
 * Writes "<cmd> name" on sl if its connection is ready (else its ready event subscribes again)
 * and notes the request. s: what a SUBSCRIBE is for (NULL for an UNSUBSCRIBE); hash: the kind
 * and name's. Returns 0 (written, or left for the ready event), or VMUX_ERR_NOMEM when nothing
 * was written for want of memory (the caller sends it again later).
 */
int vmux__sublink_send(struct vmux_sublink *sl, const char *cmd, const vmux_bytes *name,
                       struct vmux_sub *s, uint64_t hash);

/* Takes sl's oldest request, the one the server has just answered. NULL when none. */
struct vmux_sub_request *vmux__sublink_oldest(struct vmux_sublink *sl);
struct vmux_sub *vmux__sublink_answered(struct vmux_sublink *sl);

/*
 * Whether a SUBSCRIBE of s written on sl's current connection is not answered yet: the server
 * had not read it when it wrote what is being read now, so nothing read now ends s there.
 */
bool vmux__sublink_awaits(const struct vmux_sublink *sl, const struct vmux_sub *s);

/* Frees s (pubsub.c): its name, its lock, itself. */
void vmux__sub_free(struct vmux_sub *s);

/* A new subscription of kind to a copy of name (len bytes), not registered; NULL: no memory. */
struct vmux_sub *vmux__sub_new(const struct vmux *m, vmux_sub_kind kind, const char *name,
                               size_t len);

/* Adds s to the registry (the list and the table); 0 or VMUX_ERR_NOMEM. Places nothing. */
int vmux__pubsub_register(struct vmux_pubsub *ps, struct vmux_sub *s);

/* Ends s (and its copies): dead, its UNSUBSCRIBE written when it was the last of its name on
 * its link, freed now or after the delivery or held walk under way. */
void vmux__pubsub_end(struct vmux *m, struct vmux_sub *s);

/* Around a walk of the registry that may end subscriptions: they are freed at the release. */
void vmux__pubsub_hold(struct vmux_pubsub *ps);
void vmux__pubsub_release(struct vmux_pubsub *ps);

/* Forgets s in every link's requests: it is about to be freed. */
void vmux__pubsub_unname(struct vmux_pubsub *ps, struct vmux_sub *s);

/* Closes every subscriber link and stops the reconciler (vmux__pubsub_close()). */
void vmux__pubsub_close_links(struct vmux *m);

/* The SUBSCRIBE / UNSUBSCRIBE command of each kind. */
extern const char *const vmux__subscribe_cmd[3];
extern const char *const vmux__unsubscribe_cmd[3];

/* pubsub.c: whether a subscription other than s with its kind and name is on sl (and not lost). */
bool vmux__pubsub_others_at(struct vmux_pubsub *ps, const struct vmux_sub *s,
                            const struct vmux_sublink *sl);
void vmux__pubsub_set_live(struct vmux_sub *s, bool live);
/* The sublink's push handler (pubsub.c). */
void vmux__pubsub_on_push(vmux_reply *r, void *arg);

/*
 * The sublink's handler of a push over a reply limit (pubsub_over_limit.c; a
 * vmux_push_over_limit_fn, net/link.h; arg: the sublink): a message (message, pmessage,
 * smessage, as part's first element says) is dropped, counted in pubsub_over_limit and logged at
 * WARN (the first, then at most one line per VMUX__PUBSUB_OVER_LIMIT_LOG_MS, with its channel and
 * how many since the last line): true, the connection goes on. Anything else (a confirmation, an
 * error: the answer to one of the sublink's requests, which the requests' order needs; part NULL)
 * returns false: the connection fails and is replaced, its subscriptions sent again. I/O thread.
 */
#define VMUX__PUBSUB_OVER_LIMIT_LOG_MS 10000u
bool vmux__pubsub_on_over_limit(const vmux_reply *part, const char *why, void *arg);

#endif

/** @file
 * Pub/Sub. Subscriptions live on a connection of their own (on RESP2 a subscribed connection
 * can do nothing else), opened on the first subscribe. Messages reach either a callback or a
 * bounded, thread-safe queue that any thread reads with a timeout. PUBLISH goes through the
 * normal multiplexed connection.
 *
 * Cluster (docs/pubsub.md, "Pub/Sub on a cluster"): channels and patterns live on one node's
 * subscriber connection and move to another node when that one fails or leaves the map; each
 * shard channel lives on the primary of its slot and follows the slot when it migrates or fails
 * over. VMUX_EVENT_SUBSCRIPTION_MOVED tells each move (once the new node confirms it); SPUBLISH is
 * routed by the channel's slot. A shard channel that moves is make-before-break: the old node's
 * connection delivers its messages until it has answered the SUNSUBSCRIBE (or 2 s), and a
 * publish both nodes deliver in that overlap is delivered once (docs/pubsub.md, "At most once
 * across a move"). A channel or pattern beginning with "__keyspace@" or
 * "__keyevent@" (keyspace notifications, which a server publishes only to its own subscribers)
 * lives on every primary instead, following failovers ("Keyspace notifications on a cluster").
 *
 * Reconnects: when the subscriber connection breaks and comes back, every live subscription is
 * issued again, by itself, before messages flow; subscriptions made while it was down are
 * issued then. Messages published while the connection was down are lost: that is Pub/Sub's
 * contract (at most once). For messages that must not be lost, use streams (streams.h).
 *
 * Threading: subscribe, unsubscribe and publish may be called from any thread (subscribe and
 * unsubscribe also from a message callback). Callbacks run on the handle's I/O thread, in the
 * order messages arrive, and must not block: while one runs, every other command of the handle
 * waits. The handle runs callbacks for at most 2 ms per loop turn plus the one under way, then
 * serves its other connections; messages not yet delivered wait in the socket and the server's
 * output buffer, and a server that drops the subscriber for it raises
 * VMUX_EVENT_SUBSCRIBER_LOST (messages are lost until the subscriptions are live again).
 * Each message finds its subscriptions in O(1), however many there are.
 */
#ifndef VMUX_PUBSUB_H
#define VMUX_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A message. Binary-safe; pattern.ptr is NULL unless a pattern subscription matched it. */
typedef struct vmux_message {
    vmux_bytes channel;
    vmux_bytes pattern;
    vmux_bytes payload;
} vmux_message;

/** Frees a message taken from a queue (vmux_msgq_pop). NULL is allowed. */
VMUX_EXPORT void vmux_message_free(vmux_message *msg);

/** What a subscription listens to. */
typedef enum vmux_sub_kind {
    VMUX_SUB_CHANNEL = 0, /**< SUBSCRIBE channel */
    VMUX_SUB_PATTERN = 1, /**< PSUBSCRIBE pattern */
    VMUX_SUB_SHARD = 2,   /**< SSUBSCRIBE shard channel (Valkey 7+) */
} vmux_sub_kind;

/** A message callback; msg and its bytes live only during the call. */
typedef void (*vmux_message_cb)(const vmux_message *msg, void *userdata);

/* ---- queues ---- */

/** A bounded message queue (opaque): vmux_msgq_new(), vmux_msgq_free(). */
typedef struct vmux_msgq vmux_msgq;

/** What a full queue does with a new message. */
typedef enum vmux_overflow {
    VMUX_OVERFLOW_DROP_OLDEST = 0, /**< make room by dropping the oldest message */
    VMUX_OVERFLOW_DROP_NEWEST = 1, /**< drop the new message */
} vmux_overflow;

/**
 * Makes a queue that holds at most bound messages (bound >= 1, any size_t); on overflow it
 * drops as policy says and counts the drops. Nothing is reserved for the bound: the queue's
 * memory follows the messages it holds (docs/pubsub.md). *out is freed with vmux_msgq_free()
 * once no subscription feeds it (after vmux_unsubscribe() or vmux_close()). Errors:
 * VMUX_ERR_INVALID_ARG, VMUX_ERR_NOMEM (for the queue itself: a few hundred bytes). It takes no
 * error buffer: its words go to vmux_last_error() (error.h): which argument broke which rule
 * ("invalid argument: bound is 0: a queue holds at least 1 message"), else the code's description;
 * a success leaves "".
 */
VMUX_EXPORT int vmux_msgq_new(size_t bound, vmux_overflow policy, vmux_msgq **out);
/** Frees a queue and the messages still in it. NULL is allowed. */
VMUX_EXPORT void vmux_msgq_free(vmux_msgq *q);

/**
 * Takes the oldest message, waiting up to timeout_ms (0: do not wait; VMUX_FOREVER: wait as
 * long as it takes). Returns 0 with *msg filled (free it with vmux_message_free()),
 * VMUX_ERR_TIMEOUT, VMUX_ERR_CLOSED once the queue is empty and its handle was closed, or
 * VMUX_ERR_INVALID_ARG (NULL q or msg, timeout_ms below VMUX_FOREVER, or a wait on an I/O
 * thread). Any thread; in a vmux callback (on the I/O thread of any handle) only with
 * timeout_ms 0: the messages come from an I/O thread, so a wait there, which could end only when
 * that thread ran on, is refused at once with VMUX_ERR_INVALID_ARG instead of hanging the handle
 * (and its vmux_close()). It takes no error buffer: its words go to vmux_last_error() (error.h):
 * which argument broke which rule ("invalid argument: msg is NULL", "timeout_ms is 5 on an I/O
 * thread ..."), else the code's description; a success leaves "". A call from a callback replaces
 * the callback's own words there.
 */
VMUX_EXPORT int vmux_msgq_pop(vmux_msgq *q, int64_t timeout_ms, vmux_message *msg);

/**
 * Closes the queue by hand: readers take what is left, then get VMUX_ERR_CLOSED instead of
 * waiting. For a queue whose feeding subscriptions have all ended. vmux_close() closes the
 * queues of the subscriptions it ends. Any thread.
 */
VMUX_EXPORT void vmux_msgq_close(vmux_msgq *q);

/**
 * Messages dropped since the queue was made (q NULL: 0): because it was full, or, rarely, because
 * there was no memory to copy a message or to grow the queue for it.
 */
VMUX_EXPORT uint64_t vmux_msgq_dropped(const vmux_msgq *q);

/** Messages waiting in the queue now (q NULL: 0). */
VMUX_EXPORT size_t vmux_msgq_length(const vmux_msgq *q);

/* ---- subscriptions ---- */

/** A subscription (opaque): vmux_subscribe(), vmux_subscribe_queue(), vmux_unsubscribe(). */
typedef struct vmux_sub vmux_sub;

/**
 * Subscribes to name (a channel, a pattern or a shard channel, as kind says); messages go to
 * cb on the I/O thread. Returns once the subscription is registered; it is live when the
 * server confirms it (vmux_sub_wait_live()), and comes back by itself after reconnects.
 * *out is the subscription, for vmux_unsubscribe(). Errors: VMUX_ERR_INVALID_ARG (a NULL or
 * empty argument, a name.ptr NULL with a length, a kind that is none of vmux_sub_kind's, or a
 * name whose confirmation would be over maxBulkLength or maxReplyBuffer: in words naming which,
 * vmux_last_error(): "invalid argument: name is empty", "invalid argument: name.ptr is NULL with a
 * length (name.len 3)"),
 * VMUX_ERR_NOMEM, VMUX_ERR_CLOSED, VMUX_ERR_FORKED.
 */
VMUX_EXPORT int vmux_subscribe(vmux *m, vmux_sub_kind kind, vmux_str name, vmux_message_cb cb,
                               void *userdata, vmux_sub **out);

/** As vmux_subscribe(), with messages copied into q (which several subscriptions may share). */
VMUX_EXPORT int vmux_subscribe_queue(vmux *m, vmux_sub_kind kind, vmux_str name, vmux_msgq *q,
                                     vmux_sub **out);

/**
 * Waits up to timeout_ms (VMUX_FOREVER: as long as it takes) until the server has confirmed
 * this subscription's own SUBSCRIBE on the current subscriber connection (another
 * subscription's confirmation for the same name does not count; keyspace notifications on a
 * cluster: on every primary's connection). Returns 0, VMUX_ERR_TIMEOUT,
 * VMUX_ERR_INVALID_ARG (NULL sub, timeout_ms below VMUX_FOREVER, called on the I/O thread: from
 * a callback, where the confirmation could never come), or VMUX_ERR_FORKED in a fork() child
 * of the process that subscribed. It takes no error buffer: its words go to vmux_last_error()
 * (error.h): which argument broke which rule ("invalid argument: sub is NULL"), else the code's
 * description; a success leaves "".
 */
VMUX_EXPORT int vmux_sub_wait_live(vmux_sub *sub, int64_t timeout_ms);

/**
 * Ends a subscription and frees it: when this returns, its callback never runs again and no
 * message is added to its queue. Unsubscribing the last subscription of a name tells the
 * server; the subscriber connection stays open (in a cluster, a node's for 30 s with nothing on
 * it, docs/pubsub.md). sub is freed: never pass it again (its memory
 * may belong to a newer subscription by then). Errors: VMUX_ERR_INVALID_ARG (NULL, or a
 * subscription this handle does not hold); VMUX_ERR_NOMEM, and then nothing changed: the
 * subscription still holds and may still deliver, and you unsubscribe it again later;
 * VMUX_ERR_CLOSED while the handle is closing (its close frees the subscription: do not pass it
 * again); VMUX_ERR_FORKED. After vmux_close() subscriptions are gone: do not unsubscribe them
 * then. It takes no error buffer: its words go to vmux_last_error() (error.h): which argument broke
 * which rule ("invalid argument: sub is no subscription this handle holds (...)"), else the code's
 * description; a success leaves "".
 */
VMUX_EXPORT int vmux_unsubscribe(vmux *m, vmux_sub *sub);

/**
 * PUBLISH (kind VMUX_SUB_CHANNEL) or SPUBLISH (VMUX_SUB_SHARD): *receivers gets how many clients
 * received the message. On a cluster the server counts only the clients subscribed on the node
 * that ran it: PUBLISH runs on the node that carries this handle's channel subscriptions (so
 * they are counted), or on any node when it has none; SPUBLISH on its channel's primary as the
 * handle's slot map names it, which holds every shard subscriber. Right after a failover that
 * map may still name the demoted node, which runs SPUBLISH as a replica (no MOVED) and counts
 * only its own subscribers, often 0 while the message reaches them all: an SPUBLISH that counts
 * 0 makes the handle check its map at once (at most once per 5 s), so the count is right again
 * within seconds, not at the periodic check (30 s); docs/pubsub.md. VMUX_SUB_PATTERN (one cannot
 * publish to a pattern) is VMUX_ERR_INVALID_ARG; otherwise errors as vmux_call().
 */
VMUX_EXPORT int vmux_publish(vmux *m, const vmux_callopts *opts, vmux_sub_kind kind,
                             vmux_str channel, vmux_str message, int64_t *receivers);

#ifdef __cplusplus
}
#endif

#endif

/* The pub/sub engine's state in the handle. I/O thread only, except where noted. */
#ifndef VMUX_MUX_PUBSUB_H
#define VMUX_MUX_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>

struct vmux_link;
struct vmux_sub;
struct vmux_sub_request;

struct vmux_pubsub {
    struct vmux_link *link; /* the subscriber link, opened on the first subscribe */
    struct vmux_sub *subs;  /* every registered subscription, doubly linked */
    /* The same subscriptions by kind and name: a message finds its own in O(1). Chained;
     * nbuckets is a power of two, grown (never while delivering) to keep chains short. */
    struct vmux_sub **buckets;
    size_t nbuckets, nsubs;
    struct vmux_sub *graves; /* unsubscribed during a delivery: freed after it */
    /* SUBSCRIBE and UNSUBSCRIBE requests written on the current connection, oldest first: the
     * server confirms them in this order, one confirmation each. Emptied when it fails. */
    struct vmux_sub_request *sent_head, *sent_tail;
    int delivering; /* inside a message's delivery: unsubscribes are deferred */
    bool closed;
};

struct vmux;

/* Fails nothing (subscriptions are not commands): frees every subscription, closes their
 * queues and the subscriber link. */
void vmux__pubsub_close(struct vmux *m);

#endif

/* The pub/sub engine's state in the handle. I/O thread only, except where noted. */
#ifndef VMUX_MUX_PUBSUB_H
#define VMUX_MUX_PUBSUB_H

#include <stdbool.h>

struct vmux_link;
struct vmux_sub;

struct vmux_pubsub {
    struct vmux_link *link; /* the subscriber link, opened on the first subscribe */
    struct vmux_sub *subs;  /* every registered subscription */
    int delivering;         /* inside a message's delivery: unsubscribes are deferred */
    bool closed;
};

struct vmux;

/* Fails nothing (subscriptions are not commands): frees every subscription, closes their
 * queues and the subscriber link. */
void vmux_pubsub_close(struct vmux *m);

#endif

/*
 * The tracking command inside a near read's MULTI ... EXEC block (api/near.c), by mode
 * (nearCacheMode, docs/patterns/near-cache.md#bcast-mode), and the check of its answer in EXEC's
 * array: that the connection which ran the read was tracking, to the right invalidation
 * connection.
 *
 * - OPTIN: CLIENT CACHING YES both tracks the read and proves tracking (OK only on a connection
 *   with tracking on in OPTIN mode).
 * - BCAST: the server refuses CLIENT CACHING outside OPTIN and OPTOUT. CLIENT TRACKINGINFO
 *   instead: its flags must say on and bcast (and not broken_redirect), its redirect must be the
 *   invalidation connection's id the reader saw after its reservation
 *   (vmux__near_tracking_id()), and one of its prefixes must start the key. With replica reads
 *   (a cluster, readFrom not primary) the read may run on any node of the shard, each with an
 *   invalidation connection of its own: the I/O thread checked, as it wrote the read, that the
 *   connection tracks to its node's one, so any redirect will do (any_redirect).
 *
 * Any thread.
 */
#ifndef VMUX_API_NEAR_TRACK_H
#define VMUX_API_NEAR_TRACK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "vmux/reply.h"

/* What the tracking element of a read's EXEC reply must show. */
struct vmux_near_check {
    bool bcast;         /* nearCacheMode=bcast */
    long long redirect; /* BCAST: the invalidation connection's client id */
    bool any_redirect;  /* BCAST with replica reads: the node that ran the read is known only
                           on the I/O thread, which checked its redirect as the read was written
                           (vmux__call_block_near()); any redirect will do here */
};

/* Appends the tracking command of c's mode to b. Returns 0 or VMUX_ERR_NOMEM. */
int vmux__near_track_encode(struct vmux_buf *b, const struct vmux_near_check *c);

/*
 * Whether r, the tracking command's answer in EXEC's array, shows that the read of key (len
 * bytes) that followed it in the block was tracked as c requires.
 */
bool vmux__near_track_ok(const vmux_reply *r, const struct vmux_near_check *c, const void *key,
                         size_t len);

#endif

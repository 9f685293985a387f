/** @file
 * The near cache (docs/patterns/near-cache.md): hot string keys served from the process's own
 * memory, kept correct by the server's invalidations (CLIENT TRACKING ... REDIRECT to a
 * connection subscribed to __redis__:invalidate, over RESP2). Turn it on with the configuration
 * key nearCache=true (bounds: nearCacheMaxEntries, nearCacheMaxBytes, nearCacheTtl); every
 * handle has its own.
 *
 * What it guarantees: a value is stored only from a read made on a tracked connection, through a
 * placeholder put before the read was sent, so a reply that raced with an invalidation of its
 * key is returned but never stored; when invalidations may have been lost (the invalidation
 * connection or the data connection was replaced) or the server flushed its data, the whole
 * store is emptied (on a cluster: that node's part; a slot whose primary changed is emptied too).
 * What it does not: a write acknowledged to another client (or to this handle) is seen here only
 * once its invalidation has arrived on the I/O thread (the freshness window: a round trip, or
 * until a lost connection is noticed); call vmux_near_forget() after a write of your own to see
 * it at once.
 *
 * Standalone servers and clusters (docs/cluster.md): on a cluster each primary has its own
 * invalidation connection and a key is read from its slot's primary; with readFrom other than
 * primary, a key is read where readFrom sends its reads, and each replica has an invalidation
 * connection of its own too (a shard's reads are stored, and flushed, together). On a standalone
 * server reads go to the primary whatever readFrom says.
 */
#ifndef VMUX_NEAR_H
#define VMUX_NEAR_H

#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * GET through the near cache. A hit copies the value from memory: no command is sent and the
 * I/O thread is not woken. A miss sends, in one round trip, MULTI, CLIENT CACHING YES, GET key,
 * PTTL key, EXEC to the primary (on a cluster: the key's slot's, or where readFrom sends the
 * key's reads when it is not primary), returns the value, and stores
 * it (until invalidated, until the key's TTL ends, or for nearCacheTtl at most) when nothing
 * invalidated the key meanwhile, the read was not redirected (MOVED, ASK) and the store has
 * room. A key that does not exist is not stored.
 *
 * On success returns 0 with *value owned by the caller (vmux_bytes_free()): value->ptr NULL
 * when the key does not exist, else value->len bytes followed by a NUL. Errors (*value zeroed):
 * VMUX_ERR_INVALID_ARG (NULL m or value, key.ptr NULL with len > 0, opts as vmux_call() refuses
 * them or with VMUX_CALL_REPLICA), VMUX_ERR_UNSUPPORTED (the handle's nearCache is off),
 * VMUX_ERR_SERVER (WRONGTYPE: the message in opts->errbuf), VMUX_ERR_NOMEM, and the transport
 * errors of vmux_call(). opts may be NULL; its timeout and errbuf apply to the miss's read.
 * Any thread but the I/O thread.
 */
VMUX_EXPORT int vmux_near_get(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value);

/**
 * Removes key from this handle's near cache at once (the server's invalidation of a write of
 * your own comes a moment later): the next vmux_near_get() of key reads the server. Returns 0
 * (whether or not key was held), VMUX_ERR_INVALID_ARG (NULL m, key.ptr NULL with len > 0) or
 * VMUX_ERR_UNSUPPORTED (nearCache is off). Any thread.
 */
VMUX_EXPORT int vmux_near_forget(vmux *m, vmux_str key);

/** What a handle's near cache has done since it opened, and what it holds. */
typedef struct vmux_near_stats {
    size_t size;                /* sized struct: VMUX_INIT(vmux_near_stats) (abi.h) */
    uint64_t hits;              /* reads answered from memory */
    uint64_t misses;            /* reads that went to the server */
    uint64_t untracked;         /* of those, read without tracking (no invalidation connection
                                   yet, a slot without a known primary): nothing could be stored */
    uint64_t fills;             /* replies stored */
    uint64_t fills_dropped;     /* replies not stored: invalidated or flushed first, no room */
    uint64_t invalidations;     /* keys named by the server's invalidation messages */
    uint64_t evictions;         /* entries removed to make room (CLOCK) */
    uint64_t expirations;       /* entries found past their TTL */
    uint64_t flushes_lost;      /* emptied: the invalidation connection was lost */
    uint64_t flushes_server;    /* emptied: FLUSHALL or FLUSHDB on the server */
    uint64_t flushes_reconnect; /* emptied: the data connection was replaced */
    uint64_t entries;           /* held now (placeholders of reads in flight included) */
    uint64_t bytes;             /* held now: keys, values and per-entry overhead */
    uint64_t conflicts;         /* entries dropped, placeholders not filled: two reads of one
                                   key in flight at once returned different values */
    uint64_t flushes_moved;     /* cluster: slots emptied, their primary changed (a new slot
                                   map, a MOVED or ASK redirect) */
    uint64_t flushes_failover;  /* cluster: nodes emptied, no longer a primary (a failover, a
                                   node that left the map) */
} vmux_near_stats;

/**
 * Fills *out, made with VMUX_INIT(vmux_near_stats), with m's near cache counters (each read
 * atomically, not one snapshot). Returns 0, VMUX_ERR_INVALID_ARG (NULL m or out, a size below
 * sizeof(size_t)) or VMUX_ERR_UNSUPPORTED (nearCache is off). Any thread.
 */
VMUX_EXPORT int vmux_near_read_stats(vmux *m, vmux_near_stats *out);

#ifdef __cplusplus
}
#endif

#endif

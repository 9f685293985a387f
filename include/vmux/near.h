/** @file
 * The near cache (docs/patterns/near-cache.md): hot keys served from the process's own memory
 * (GET, HGET, HGETALL and SMEMBERS: vmux_near_get(), vmux_near_hget(), vmux_near_hgetall(),
 * vmux_near_smembers()), kept correct by the server's invalidations (CLIENT TRACKING ...
 * REDIRECT to a connection subscribed to __redis__:invalidate, over RESP2). Turn it on with the
 * configuration key nearCache=true (bounds: nearCacheMaxEntries, nearCacheMaxBytes,
 * nearCacheTtl); every handle has its own.
 *
 * What it guarantees: a value is stored only from a read made on a tracked connection, through a
 * placeholder put before the read was sent, so a reply that raced with an invalidation of its
 * key is returned but never stored; when invalidations may have been lost (the invalidation
 * connection or the data connection was replaced) or the server flushed its data, the whole
 * store is emptied (on a cluster: that node's part; a slot whose primary changed is emptied too).
 * What it does not: a write acknowledged to another client (or to this handle) is seen here only
 * once its invalidation has arrived on the I/O thread (the freshness window: a round trip, or
 * until a lost connection is noticed); call vmux_near_forget() after a write of your own to see
 * it at once (with readFrom other than primary, the next read goes to a replica, which has it only
 * once it has applied it: replication lag).
 *
 * Each read is held on its own: a key read by GET, by HGET of two fields and by HGETALL is held
 * four times, and all four go when the key is invalidated (the server names keys, not fields).
 * Newer values are promised per read, not across the reads of one key: a caller handed a newer
 * HGETALL may still be handed an older HGET of one of its fields from memory until the key's
 * invalidation arrives (the freshness window above). A read that found the key missing or of
 * another type (WRONGTYPE) removes every read of the key held.
 *
 * Standalone servers and clusters (docs/cluster.md): on a cluster each primary has its own
 * invalidation connection and a key is read from its slot's primary; with readFrom other than
 * primary, a key is read where readFrom sends its reads, and each replica has an invalidation
 * connection of its own too (a shard's reads are stored, and flushed, together). On a standalone
 * server reads go to the primary whatever readFrom says.
 *
 * Two modes (nearCacheMode): OPTIN, the default, where the server tracks each key read through
 * the near cache; and BCAST, where it sends the invalidation of every key under the prefixes of
 * nearCachePrefixes that anyone writes (no tracking table on the server, more invalidations);
 * in BCAST mode a key under none of the prefixes is read untracked and never stored.
 */
#ifndef VMUX_NEAR_H
#define VMUX_NEAR_H

#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/hashes.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * GET through the near cache. A hit copies the value from memory: no command is sent and the
 * I/O thread is not woken. A miss sends, in one round trip, MULTI, CLIENT CACHING YES (in BCAST
 * mode CLIENT TRACKINGINFO), GET key, PTTL key, EXEC to the primary (on a cluster: the key's
 * slot's, or where readFrom sends the key's reads when it is not primary; in BCAST mode a key
 * under no prefix gets a plain GET), returns the value, and stores
 * it (until invalidated, until the key's TTL ends, or for nearCacheTtl at most) when nothing
 * invalidated the key meanwhile, the read was not redirected (MOVED, ASK) and the store has
 * room. A key that does not exist is not stored.
 *
 * On success returns 0 with *value owned by the caller (vmux_bytes_free()): value->ptr NULL
 * when the key does not exist, else value->len bytes followed by a NUL. Errors (*value zeroed):
 * VMUX_ERR_INVALID_ARG (NULL m or value, key.ptr NULL with len > 0, opts as vmux_call() refuses
 * them or with VMUX_CALL_REPLICA or VMUX_CALL_PREFER_REPLICA), VMUX_ERR_UNSUPPORTED (the handle's
 * nearCache is off), VMUX_ERR_FORKED (in a child of fork(): at once, hits included, since no
 * invalidation reaches the child), VMUX_ERR_SERVER (WRONGTYPE: the message in opts->errbuf),
 * VMUX_ERR_NOMEM, and the transport errors of vmux_call(). opts may be NULL; its timeout and errbuf
 * apply to the miss's read. Any thread but the I/O thread.
 */
VMUX_EXPORT int vmux_near_get(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value);

/**
 * HGET through the near cache: as vmux_near_get(), for one field of a hash. A miss sends MULTI,
 * CLIENT CACHING YES, HGET key field, PTTL key, EXEC. Each field read is held apart (under the
 * key and the field), and every field held for key goes when key is invalidated (any write to
 * the hash: HSET of another field too). A field or key that does not exist is not stored.
 *
 * On success returns 0 with *value owned by the caller (vmux_bytes_free()): value->ptr NULL
 * when the field or the key does not exist, else value->len bytes followed by a NUL. Errors
 * (*value zeroed): VMUX_ERR_INVALID_ARG (NULL m or value, key.ptr or field.ptr NULL with a
 * length, opts as vmux_near_get() refuses them), VMUX_ERR_UNSUPPORTED (nearCache is off),
 * VMUX_ERR_FORKED (as vmux_near_get()), VMUX_ERR_SERVER (WRONGTYPE: key holds no hash; the message
 * in opts->errbuf), VMUX_ERR_NOMEM, and the transport errors of vmux_call(). Any thread but the I/O
 * thread.
 */
VMUX_EXPORT int vmux_near_hget(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                               vmux_bytes *value);

/**
 * HGETALL through the near cache: as vmux_near_get(), for a whole hash. A miss sends MULTI,
 * CLIENT CACHING YES, HGETALL key, PTTL key, EXEC; the stored copy is the reply's fields and
 * values, encoded (their bytes plus a few per element count against nearCacheMaxBytes). A key
 * that does not exist (an empty hash) is not stored.
 *
 * On success returns 0 with *fields owned by the caller (vmux_field_array_free()): the pairs in
 * the order the server gave them when the copy was read, none (count 0) when the key does not
 * exist. Errors (*fields zeroed): VMUX_ERR_INVALID_ARG (NULL m or fields, key.ptr NULL with
 * key.len > 0, opts as vmux_near_get() refuses them), VMUX_ERR_UNSUPPORTED (nearCache is off),
 * VMUX_ERR_FORKED (as vmux_near_get()), VMUX_ERR_SERVER (WRONGTYPE; the message in opts->errbuf),
 * VMUX_ERR_NOMEM, and the transport errors of vmux_call(). Any thread but the I/O thread.
 */
VMUX_EXPORT int vmux_near_hgetall(vmux *m, const vmux_callopts *opts, vmux_str key,
                                  vmux_field_array *fields);

/**
 * SMEMBERS through the near cache: as vmux_near_hgetall(), for a set. On success returns 0 with
 * *members owned by the caller (vmux_bytes_array_free()): every member, none (count 0) when the
 * key does not exist. Errors as vmux_near_hgetall() (VMUX_ERR_SERVER: WRONGTYPE, key holds no
 * set). Any thread but the I/O thread.
 */
VMUX_EXPORT int vmux_near_smembers(vmux *m, const vmux_callopts *opts, vmux_str key,
                                   vmux_bytes_array *members);

/**
 * Removes key from this handle's near cache at once (the server's invalidation of a write of
 * your own comes a moment later), every read of it held (GET, HGET of each field, HGETALL,
 * SMEMBERS): the next read of key through the near cache reads the server (with readFrom other
 * than primary, a replica: your write is there only once the replica has applied it). Returns 0
 * (whether or not key was held), VMUX_ERR_INVALID_ARG (NULL m, key.ptr NULL with len > 0),
 * VMUX_ERR_UNSUPPORTED (nearCache is off) or VMUX_ERR_FORKED (in a child of fork()). Any thread.
 * It takes no error buffer: its words go to vmux_last_error() (error.h), as vmux_drain()'s do
 * ("invalid argument: the handle is NULL", "the handle keeps no near cache (nearCache is off):
 * nothing to forget"); a success leaves "".
 */
VMUX_EXPORT int vmux_near_forget(vmux *m, vmux_str key);

/** What a handle's near cache has done since it opened, and what it holds. */
typedef struct vmux_near_stats {
    size_t size;                /* sized struct: VMUX_INIT(vmux_near_stats) (abi.h) */
    uint64_t hits;              /* reads answered from memory */
    uint64_t misses;            /* reads that went to the server */
    uint64_t untracked;         /* of those, read without tracking (no invalidation connection
                                   yet, a slot without a known primary, in BCAST mode a key under
                                   no prefix, the tracked read refused by the server's ACL):
                                   nothing could be stored */
    uint64_t fills;             /* replies stored */
    uint64_t fills_dropped;     /* replies not stored: invalidated or flushed first, no room */
    uint64_t invalidations;     /* keys named by the server's invalidation messages */
    uint64_t evictions;         /* entries removed to make room (CLOCK) */
    uint64_t expirations;       /* entries dropped past their TTL (by a lookup, eviction or
                                   the once-a-second sweep) */
    uint64_t flushes_lost;      /* emptied: the invalidation connection was lost */
    uint64_t flushes_server;    /* emptied: FLUSHALL or FLUSHDB on the server (or an
                                   invalidation array of something other than keys) */
    uint64_t flushes_reconnect; /* emptied: the data connection was replaced */
    uint64_t entries;           /* held now (placeholders of reads in flight included; an
                                   expired entry until a lookup, eviction or the sweep drops
                                   it) */
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
 * sizeof(size_t)), VMUX_ERR_UNSUPPORTED (nearCache is off) or VMUX_ERR_FORKED (in a child of
 * fork()). Any thread.
 */
VMUX_EXPORT int vmux_near_read_stats(vmux *m, vmux_near_stats *out);

#ifdef __cplusplus
}
#endif

#endif

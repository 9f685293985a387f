/*
 * The near cache's store (issue 15, docs/patterns/near-cache.md): an in-process table of
 * key -> value bytes with an expiry, kept correct by the server's invalidations. It is pure data:
 * no sockets, no loop, no clock of its own (every call that needs the time takes now_ns, a
 * monotonic nanosecond count such as uv_hrtime()).
 *
 * Correctness (Valkey's client-side caching race): a value enters the store only through a
 * placeholder. vmux__near_reserve() puts one in before the read is sent; any invalidation or
 * flush that happens after it removes it (or marks it stale); vmux__near_fill() stores the
 * reply only if the very placeholder it reserved is still there and current. So a reply that
 * raced with an invalidation is returned to its caller but never stored.
 *
 * Monotonic per caller: two reads of one key may be out at once (a shared placeholder, or one
 * replaced while an older read was out), executed by the server in one order and handed to
 * the store by their callers in another, and the invalidation that separates their values
 * travels on another connection. So every reply that is not stored meets what the store holds
 * under its key (vmux__near_fill(), vmux__near_seen()): a value that differs is dropped, and a
 * placeholder still waiting remembers the value, so that its own fill stores only that same
 * value. Once a caller has been handed a value, no lookup it makes later returns one that the
 * server had replaced before that value was read. (A placeholder remembers a 64-bit hash of the
 * value, not the bytes: two different values with one hash could let an older value in until
 * its invalidation arrives.)
 *
 * Variants: an entry is held under a key and a variant (struct vmux_near_key below), so that
 * several reads of one key (GET, HGET of each field, HGETALL...) are held side by side; the
 * server invalidates keys, and vmux__near_invalidate() removes every variant of its key. The
 * functions without _var are those of the empty variant.
 *
 * Partitions: each entry carries the node (a small integer, below limits.nodes) and the hash
 * slot it was read from. vmux__near_flush_node(), _slot() and _all() are O(1): they raise a
 * generation and every entry reserved before it becomes invisible at once, dropped lazily (by
 * the next lookup of its key, eviction, or vmux__near_sweep()).
 *
 * Bounds: limits.max_entries and limits.max_bytes are split evenly over the shards, and each
 * shard evicts (CLOCK) before it grows, so the store never holds more than either limit. The
 * bytes of an entry are its key, its value and a fixed per-entry overhead
 * (vmux__near_entry_bytes()); the tables sized at creation are not counted.
 *
 * Threads: every function may be called from any thread at once, except vmux__near_free().
 * The table is split in shards by key hash, each with its own mutex held only briefly (a hit
 * copies the value after letting go of it); flushes take no shard lock.
 */
#ifndef VMUX_NEAR_STORE_H
#define VMUX_NEAR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "vmux/types.h"

/* The number of hash slots of a cluster; a standalone server's keys may all use slot 0. */
#define VMUX_NEAR_SLOTS 16384

/* Defaults for the zero fields of struct vmux_near_limits. */
#define VMUX_NEAR_DEFAULT_ENTRIES 100000
#define VMUX_NEAR_DEFAULT_BYTES (64u * 1024 * 1024)
#define VMUX_NEAR_DEFAULT_SHARDS 16
#define VMUX_NEAR_DEFAULT_NODES 256
#define VMUX_NEAR_MAX_NODES 65536

/* A store's bounds; every zero field takes its default. */
struct vmux_near_limits {
    size_t max_entries;    /* entries and placeholders together (VMUX_NEAR_DEFAULT_ENTRIES) */
    size_t max_bytes;      /* vmux__near_entry_bytes() summed (VMUX_NEAR_DEFAULT_BYTES) */
    unsigned shards;       /* rounded down to a power of two, at most max_entries */
    unsigned nodes;        /* node ids are below this, at most VMUX_NEAR_MAX_NODES */
    uint64_t local_ttl_ns; /* an entry lives at most this long after its fill; 0: no cap */
};

/* Why a part of the store was emptied; starts at 1 (docs/api-conventions.md, reason codes). */
enum vmux_near_cause {
    VMUX_NEAR_LINK_LOST = 1, /* the node's invalidation connection was lost */
    VMUX_NEAR_SERVER_FLUSH,  /* a null invalidation: FLUSHALL or FLUSHDB on the server */
    VMUX_NEAR_RECONNECT,     /* a data connection of the node reconnected */
    VMUX_NEAR_MOVED,         /* a slot moved to another node */
    VMUX_NEAR_FAILOVER,      /* the node's role changed */
    VMUX_NEAR_CLEAR,         /* asked by the owner (closing, tests, cluster mode found) */
    VMUX_NEAR_CAUSES         /* the number of causes plus one (flushes[] is indexed by cause) */
};

/* What a store has done since it was created, and what it holds now. */
struct vmux_near_store_stats {
    uint64_t hits, misses;
    uint64_t fills;         /* replies stored */
    uint64_t fills_dropped; /* replies not stored (placeholder gone, stale or filled...) */
    uint64_t conflicts;     /* entries and placeholders dropped: another read saw another value */
    uint64_t invalidations; /* entries and placeholders removed by vmux__near_invalidate() */
    uint64_t evictions;     /* current entries removed to make room */
    uint64_t expirations;   /* entries found past their deadline and dropped */
    uint64_t flushes[VMUX_NEAR_CAUSES]; /* flush calls, by cause (index 0 unused) */
    uint64_t entries;      /* held now, placeholders and not yet dropped stale ones included */
    uint64_t placeholders; /* of which placeholders */
    uint64_t bytes;        /* held now: the entries' vmux__near_entry_bytes() */
};

/*
 * What an entry is held under: the key the server invalidates, and a variant naming the read of
 * it (none for GET; a tag, and HGET's field, for the typed reads of api/near_typed.c). Entries
 * hash by the key alone, so all the variants of a key share one shard and bucket chain, and an
 * invalidation of the key removes them all. var may be NULL when varlen is 0; a variant longer
 * than VMUX_NEAR_MAX_VARIANT is never held (lookups miss, reservations reserve nothing).
 */
struct vmux_near_key {
    const void *key;
    size_t keylen;
    const void *var;
    size_t varlen;
};

#define VMUX_NEAR_MAX_VARIANT UINT32_MAX

/*
 * Hands a hit's value (len bytes, valid during the call only) to the caller of
 * vmux__near_lookup_var(), into out; returns 0 or an error (VMUX_ERR_NOMEM...).
 */
typedef int (*vmux_near_take_fn)(const void *bytes, size_t len, void *out);

/* What vmux__near_reserve() hands back for vmux__near_fill(); id 0 is "nothing reserved". */
struct vmux_near_token {
    uint64_t hash;
    uint64_t id;
};

struct vmux_near;

/*
 * Creates an empty store with limits (NULL: every default). Returns 0 and *out, or
 * VMUX_ERR_INVALID_ARG (nodes above VMUX_NEAR_MAX_NODES, a byte limit too small to hold one
 * entry per shard) or VMUX_ERR_NOMEM, with *out NULL. The caller frees it with
 * vmux__near_free(). Any thread.
 */
int vmux__near_new(const struct vmux_near_limits *limits, struct vmux_near **out);

/* Frees s and everything it holds (NULL is allowed). No other call on s may be running. */
void vmux__near_free(struct vmux_near *s);

/* The bytes an entry of keylen (its key and variant) and valuelen counts for (a placeholder:
 * valuelen 0). */
size_t vmux__near_entry_bytes(size_t keylen, size_t valuelen, int has_value);

/*
 * Looks key up at now_ns. On a hit, returns 1 with a copy of the value in *out (NUL-terminated;
 * the caller frees it with vmux_bytes_free()). Returns 0 with *out zeroed on a miss: no entry,
 * a placeholder, an entry stale by a flush or past its deadline (the last two are dropped).
 * Returns VMUX_ERR_NOMEM (out zeroed) when the copy cannot be allocated. Any thread.
 */
int vmux__near_lookup(struct vmux_near *s, const void *key, size_t keylen, uint64_t now_ns,
                      vmux_bytes *out);

/*
 * vmux__near_lookup() of a variant: on a hit, take(bytes, len, out) turns the value into the
 * caller's result, outside the shard's lock, and the call returns 1, or take's error. 0 on a
 * miss, take not called. Any thread.
 */
int vmux__near_lookup_var(struct vmux_near *s, const struct vmux_near_key *k, uint64_t now_ns,
                          vmux_near_take_fn take, void *out);

/*
 * Puts a placeholder for key, read from node and slot, before its read is sent, and returns its
 * token in *token. A current placeholder of the same key, node and slot is shared (same token:
 * the first fill stores, later ones find a value and store nothing); anything else under the
 * key (a value, a stale entry, another node's placeholder) is replaced. Makes room by
 * evicting. Returns 0, also with an empty token (id 0) when the key alone cannot fit in a
 * shard; VMUX_ERR_INVALID_ARG for a node or slot out of range; VMUX_ERR_NOMEM. Any thread.
 */
int vmux__near_reserve(struct vmux_near *s, const void *key, size_t keylen, unsigned node,
                       unsigned slot, uint64_t now_ns, struct vmux_near_token *token);

/*
 * Stores the reply to the read that token reserved for key, if its placeholder is still there,
 * no flush of its node, slot or the whole store came after it, and no other read of key
 * returned a different value meanwhile. The entry expires at the earlier of server_deadline_ns
 * (UINT64_MAX: the key has no TTL) and now_ns + limits.local_ttl_ns. Returns 1 when stored; 0
 * when not (the placeholder is gone, stale or already filled, another value was seen, the
 * deadline has passed, or the entry would not fit in a shard: the placeholder is then
 * removed), and the reply then meets the store as with vmux__near_seen(); VMUX_ERR_NOMEM
 * (nothing stored, the placeholder removed). value is copied. Any thread.
 */
int vmux__near_fill(struct vmux_near *s, struct vmux_near_token token, const void *key,
                    size_t keylen, const void *value, size_t len, uint64_t server_deadline_ns,
                    uint64_t now_ns);

/*
 * Tells the store that a read of key, not stored, returned value (NULL: the key was missing):
 * a value held under key that differs is dropped, a placeholder waiting there will store only
 * this value. Call it for every reply of a key the store may hold that vmux__near_fill() did
 * not see, before the value is handed to the caller. Any thread.
 */
void vmux__near_seen(struct vmux_near *s, const void *key, size_t keylen, const void *value,
                     size_t len);

/* vmux__near_reserve(), _fill() and _seen() of a variant (the key's entry of that read). */
int vmux__near_reserve_var(struct vmux_near *s, const struct vmux_near_key *k, unsigned node,
                           unsigned slot, uint64_t now_ns, struct vmux_near_token *token);
int vmux__near_fill_var(struct vmux_near *s, struct vmux_near_token token,
                        const struct vmux_near_key *k, const void *value, size_t len,
                        uint64_t server_deadline_ns, uint64_t now_ns);
void vmux__near_seen_var(struct vmux_near *s, const struct vmux_near_key *k, const void *value,
                         size_t len);

/*
 * Tells the store that a read found key missing (GET's nil, an empty HGETALL or SMEMBERS): every
 * variant held under key meets a missing value, as with vmux__near_seen(key, NULL) for each (a
 * value is dropped; a placeholder will store nothing). Any thread.
 */
void vmux__near_seen_gone(struct vmux_near *s, const void *key, size_t keylen);

/* Removes token's placeholder if it is still there (its read failed). Any thread. */
void vmux__near_cancel(struct vmux_near *s, struct vmux_near_token token);

/*
 * Removes what the store holds under key, values and placeholders of every variant (the server
 * said the key changed). Returns 1 if something was removed, else 0. Once it returns, no lookup
 * that begins returns a value read before the call, and no fill of an earlier reservation stores.
 * Any thread.
 */
int vmux__near_invalidate(struct vmux_near *s, const void *key, size_t keylen);

/*
 * Empties node's part of the store (vmux__near_flush_slot(): slot's; _all(): everything) in
 * O(1), counting cause: every entry and placeholder reserved before the call becomes invisible
 * and can no longer be filled. Reservations made after it are not affected: the caller makes
 * sure their reads are tracked again. A node or slot out of range is ignored. Any thread.
 */
void vmux__near_flush_node(struct vmux_near *s, unsigned node, enum vmux_near_cause cause);
void vmux__near_flush_slot(struct vmux_near *s, unsigned slot, enum vmux_near_cause cause);
void vmux__near_flush_all(struct vmux_near *s, enum vmux_near_cause cause);

/*
 * Frees every stale (flushed) and expired entry now, one shard at a time, so that the bytes
 * they held are returned before eviction reaches them. Returns how many were dropped. Any
 * thread; O(entries).
 */
size_t vmux__near_sweep(struct vmux_near *s, uint64_t now_ns);

/*
 * As vmux__near_sweep(), for at most budget entries: from shard *next (modulo the shard count)
 * on, where the last call stopped in it, shard after shard. *next is left on the shard the next
 * call goes on in, so that calls made again and again go over the whole store, budget entries
 * at a time, holding one shard's lock at a time. Any thread, but one caller per *next; O(budget).
 */
size_t vmux__near_sweep_some(struct vmux_near *s, unsigned *next, size_t budget, uint64_t now_ns);

/* Fills *out with s's counters (taking each shard's lock in turn). Any thread. */
void vmux__near_read_stats(struct vmux_near *s, struct vmux_near_store_stats *out);

#endif

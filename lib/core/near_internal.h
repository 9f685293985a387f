/*
 * The near cache store's insides, shared by near_store.c (the operations) and near_shard.c (one
 * shard's table, CLOCK ring and eviction). Nothing outside these two files includes it.
 *
 * A shard is a chained hash table of entries with a fixed bucket array (sized for its entry
 * limit, so it never rehashes), plus a ring of the same entries for CLOCK. Everything in a
 * shard is guarded by its mutex; the generations of struct vmux_near are atomics read without
 * any shard lock.
 */
#ifndef VMUX_NEAR_INTERNAL_H
#define VMUX_NEAR_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/near_store.h"

/* A value, shared between its entry and the lookups copying it outside the shard lock. */
struct near_val {
    atomic_uint refs;
    size_t len;
    unsigned char bytes[];
};

struct near_entry {
    struct near_entry *next; /* the bucket's chain */
    uint64_t hash, id;       /* id: the token of the placeholder it was reserved as */
    uint64_t born;           /* the store's epoch when reserved (stale once a flush passes it) */
    uint64_t expires_ns;
    struct near_val *val; /* NULL: a placeholder */
    size_t pos;           /* index in the shard's ring */
    size_t keylen;
    uint64_t seen_hash; /* a placeholder: the value another read of its key returned */
    uint16_t node, slot;
    uint32_t varlen;     /* its variant's bytes, after the key's in key[] */
    uint8_t seen;        /* a placeholder: NEAR_SEEN_NONE, _ONE (seen_hash) or _MANY values seen */
    bool ref;            /* CLOCK's bit: looked up since the hand last passed */
    unsigned char key[]; /* keylen bytes of key, then varlen bytes of variant */
};

struct near_shard {
    uv_mutex_t mu;
    struct near_entry **buckets, **ring;
    size_t mask, cap, n, hand; /* buckets mask; ring capacity (the entry limit), length, hand */
    size_t room; /* the ring's allocated length: grows toward cap as entries come (buckets too) */
    size_t sweep_at; /* where vmux__near_sweep_some() goes on in the ring */
    size_t bytes, budget, placeholders;
    uint64_t next_id;
    uint64_t hits, misses, fills, fills_dropped, conflicts, invalidations, evictions, expirations;
};

struct vmux_near {
    struct near_shard *shards;
    unsigned nshards, nnodes;
    uint64_t local_ttl_ns;
    /* Flushes: an entry is current while born is at least every generation that covers it. */
    _Atomic uint64_t epoch, all_gen;
    _Atomic uint64_t *node_gen, *slot_gen;
    _Atomic uint64_t flushes[VMUX_NEAR_CAUSES];
};

/* What a placeholder has learnt from replies that met it while its own read was out. */
enum near_seen { NEAR_SEEN_NONE, NEAR_SEEN_ONE, NEAR_SEEN_MANY };

/* Why an entry is dropped, for the shard's counters. */
enum near_drop { NEAR_DROP_QUIET, NEAR_DROP_EVICT, NEAR_DROP_EXPIRE, NEAR_DROP_INVALIDATE };

/* True while no flush has passed e (reads only atomics). */
bool vmux__near_current(const struct vmux_near *s, const struct near_entry *e);

int vmux__near_shard_init(struct near_shard *sh, size_t cap, size_t budget);
void vmux__near_shard_destroy(struct near_shard *sh);

/* The entry holding k (key and variant; varlen at most VMUX_NEAR_MAX_VARIANT) in sh, or NULL. */
struct near_entry *vmux__near_shard_find(struct near_shard *sh, uint64_t hash,
                                         const struct vmux_near_key *k);
/* Whether e is held under key, whatever its variant. */
bool vmux__near_same_key(const struct near_entry *e, uint64_t hash, const void *key, size_t keylen);
/* The entry reserved as id in sh, or NULL. */
struct near_entry *vmux__near_shard_find_id(struct near_shard *sh, uint64_t hash, uint64_t id);

/* Adds e (its bytes counted) to sh; the caller made room first. */
void vmux__near_shard_insert(struct near_shard *sh, struct near_entry *e);

/* Unlinks and frees e, counting why. */
void vmux__near_shard_drop(struct near_shard *sh, struct near_entry *e, enum near_drop why);

/*
 * Evicts until sh has room for one more entry (when add_entry) and add_bytes more bytes, never
 * evicting keep (which may be NULL). Returns false if it cannot (only keep is left).
 */
bool vmux__near_shard_make_room(const struct vmux_near *s, struct near_shard *sh,
                                const struct near_entry *keep, bool add_entry, size_t add_bytes,
                                uint64_t now_ns);

/* Drops every stale or expired entry of sh; returns how many. */
size_t vmux__near_shard_sweep(const struct vmux_near *s, struct near_shard *sh, uint64_t now_ns);

/* As vmux__near_shard_sweep(), from sh->sweep_at on and for at most *budget entries (taken off
 * it); sh->sweep_at is where the next call goes on, 0 once the ring's end was reached. Under
 * sh->mu. */
size_t vmux__near_shard_sweep_some(const struct vmux_near *s, struct near_shard *sh,
                                   uint64_t now_ns, size_t *budget);

/* Releases one reference to v, freeing it with the last. */
void vmux__near_val_release(struct near_val *v);

#endif

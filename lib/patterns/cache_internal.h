/*
 * What the cache-aside files share (private to lib/patterns): cache.c (get-or-load, invalidate,
 * the cache's life and counters), cache_flight.c (single flight: one load per key in the
 * process), cache_store.c (the stored entries: their format, their keys, and the GET, SET and
 * DEL that read and write them) and cache_expiry.c (jittered TTLs and XFetch early refresh).
 */
#ifndef VMUX_CACHE_INTERNAL_H
#define VMUX_CACHE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "mux/handle.h"
#include "patterns/prefixed_key.h"
#include "vmux/cache.h"

#define HDR_LEN 20
#define NBUCKETS 1024
#define LINGER_NS (1000ull * 1000000ull)

/* One load of one key, shared by the callers that missed it. Guarded by the cache's lock. */
struct flight {
    struct flight *next;      /* bucket chain */
    struct flight *done_next; /* queue of finished flights */
    uv_cond_t cond;           /* signalled when done */
    uint64_t hash;
    uint64_t done_ns;
    char *blob; /* header, value, NUL: what was (or would be) stored */
    size_t len; /* value bytes after the header */
    int status; /* 0, or the error every sharer returns */
    unsigned waiters;
    bool leading, done, found, stored, invalidated, in_map, in_queue;
    size_t keylen;
    char key[]; /* prefix + key */
};

struct vmux_cache {
    vmux *m;
    char *prefix;
    size_t prefix_len;
    int64_t ttl_ms, neg_ttl_ms; /* neg_ttl_ms < 0: negative entries are not stored */
    double jitter, beta;        /* 0: off */
    int64_t timeout_ms, wait_ms;
    uint64_t max_stored; /* the handle's maxBulkLength: the largest entry a GET can read back */
    bool strict;
    bool near; /* reads through the handle's near cache (vmux_near_get()) */
    uv_mutex_t lock;
    struct flight *buckets[NBUCKETS];
    struct flight *queue_head, *queue_tail; /* finished flights, oldest first */
    _Atomic uint64_t hits, misses, loads, refreshes, shared, load_errors, errors;
};

/* The key as sent (prefix + caller's key, on the stack when short), and the caller's key. */
struct fullkey {
    struct vmux__prefixed_key sent;
    vmux_str user; /* the caller's key, inside sent.ptr */
};

/* A decoded stored entry. */
struct entry {
    bool present;   /* a well-formed entry was read */
    bool found;     /* false: a negative entry */
    bool wrongtype; /* the GET failed with WRONGTYPE: the key holds another type */
    uint32_t delta_us;
    uint64_t expiry_ms;
    vmux_bytes value;
};

static inline void cache_count(_Atomic uint64_t *counter)
{
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* ---- the stored entries (cache_store.c) ---- */

/* Writes the stored header (HDR_LEN bytes) at blob. */
void vmux__cache_put_header(char *blob, bool found, uint64_t delta_us, uint64_t expiry_ms);
/* The key as sent (prefix + key) into *k; 0 or VMUX_ERR_NOMEM. Free with vmux__cache_key_free(). */
int vmux__cache_key_make(const vmux_cache *c, vmux_str key, struct fullkey *k);
void vmux__cache_key_free(struct fullkey *k);
/* FNV-1a of the key as sent: its bucket in the flight map. */
uint64_t vmux__cache_key_hash(const struct fullkey *k);
/*
 * GET and decode: 0 with e->present when a well-formed entry was read (e->value then belongs
 * to the caller), 0 without it on a miss or an unknown format, or the GET's error (counted;
 * e->wrongtype set when the server said WRONGTYPE, a key of another type that a SET replaces).
 */
int vmux__cache_read(vmux_cache *c, const struct fullkey *k, struct entry *e);
/*
 * SET f's blob PX ttl_ms: 0 or the SET's error (counted). An entry (header and value) larger
 * than c->max_stored is not sent, as no GET on this handle could read it back (the reply would
 * be a protocol error that closes the shared connection): VMUX_ERR_INVALID_ARG, counted too.
 */
int vmux__cache_store(vmux_cache *c, const struct fullkey *k, const struct flight *f,
                      int64_t ttl_ms);
/* DEL: 0 or its error (counted). */
int vmux__cache_delete(vmux_cache *c, const struct fullkey *k);

/* ---- expiry (cache_expiry.c) ---- */

/* Wall-clock milliseconds: expiry times in stored entries are shared with other processes. */
uint64_t vmux__cache_wall_ms(void);
/* The stored TTL: ttl_ms shortened by up to the jitter fraction, at least 1 ms. */
int64_t vmux__cache_jittered(const vmux_cache *c, int64_t ttl_ms);
/* XFetch: whether a hit should be refreshed early, by a random draw. */
bool vmux__cache_refresh_due(const vmux_cache *c, const struct entry *e);

/* ---- single flight (cache_flight.c) ---- */

/*
 * A miss: shares a flight of this key, or leads a new one (loads, stores when store_ok,
 * publishes). get_ns is when the GET was sent; wait_ms 0 is the cache's wait. The value (or the
 * error every sharer gets) comes back as vmux_cache_get() returns it.
 */
int vmux__cache_on_miss(vmux_cache *c, const struct fullkey *k, uint64_t get_ns, bool store_ok,
                        vmux_cache_loader load, void *arg, int64_t wait_ms, vmux_bytes *value);
/*
 * A hit due for refresh: reloads unless this process is loading the key already. *value gets
 * the fresh value, or e's when none came; returns 0.
 */
int vmux__cache_on_refresh(vmux_cache *c, const struct fullkey *k, uint64_t get_ns,
                           vmux_cache_loader load, void *arg, struct entry *e, vmux_bytes *value);
/*
 * A forked child's miss in a cache that is not strict: runs the loader and returns its value as
 * a lone leader's would (counted in loads and load_errors), with no flight and without the
 * cache's lock: the map and its flights are the parent's threads' (a leader there never finishes
 * here) and the lock may have been held by one of them at the instant of fork(). Stores nothing.
 */
int vmux__cache_load_alone(vmux_cache *c, vmux_str key, vmux_cache_loader load, void *arg,
                           vmux_bytes *value);
/*
 * Takes the key's flight out of the map, so nobody new shares it and its leader does not store
 * (or deletes again). Takes the cache's lock.
 */
void vmux__cache_flight_forget(vmux_cache *c, const struct fullkey *k);
/* Frees every finished flight: only when no call is running (vmux_cache_free()). */
void vmux__cache_flights_free(vmux_cache *c);

#endif

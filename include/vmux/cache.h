/** @file
 * Cache-aside: get-or-load over Valkey strings. vmux_cache_get() reads a key; on a miss it calls
 * the caller's loader (the database, say), stores the result with a TTL and returns it. What
 * makes it more than GET-then-SET (docs/patterns/cache-aside.md):
 *
 * - Single flight in the process: concurrent misses of one key run the loader once; the other
 *   callers wait for that load's result (its value, or its error), each with its own deadline.
 * - TTL jitter, so keys loaded together do not expire together.
 * - Negative caching: "not found" is stored for its own, shorter TTL.
 * - Probabilistic early refresh (XFetch, Vattani et al., VLDB 2015): a hot key is reloaded
 *   shortly before it expires, by one caller, instead of by every caller after it expired.
 * - Valkey is an optimisation, not a dependency: when it is unreachable or slow the loader's
 *   value is still returned and the error counted (unless the cache is strict).
 *
 * Stored format (version 1): each key holds a 20-byte header, then the value's bytes:
 *   bytes 0-2   "vmc"            magic
 *   byte  3     1                format version
 *   byte  4     flags            bit 0: "not found" (a negative entry; no value bytes follow)
 *   bytes 5-7   0                reserved
 *   bytes 8-11  delta            duration of the load that produced it, microseconds, big-endian
 *   bytes 12-19 expiry           when the key expires, Unix time in ms, big-endian
 * A key whose content is not in this format (too short, another magic or version) reads as a
 * miss, and the load that follows overwrites it.
 *
 * A vmux_cache may be shared by any number of threads. Its functions block and must not be
 * called on the I/O thread (from an async callback).
 */
#ifndef VMUX_CACHE_H
#define VMUX_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/client.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A cache-aside cache (opaque): vmux_cache_new(), vmux_cache_free(). */
typedef struct vmux_cache vmux_cache;

/**
 * Options of a cache. Make them with VMUX_INIT(vmux_cache_opts, ...) (abi.h) and name what you
 * need; every zero means the default. For the tuning knobs (negative_ttl_ms, ttl_jitter,
 * refresh_beta) a negative value turns the feature off.
 */
typedef struct vmux_cache_opts {
    /** Sized struct (abi.h). */
    size_t size;
    /** Prepended to every key (copied). Empty (the default): keys are used as they are. */
    vmux_str prefix;
    /** TTL of a loaded value, ms, at most VMUX_TTL_MAX_MS (2^53, types.h). Default 60000. */
    int64_t ttl_ms;
    /** TTL of a "not found", ms, at most VMUX_TTL_MAX_MS. Default ttl_ms / 10 (at least 1);
     * < 0: not found is not stored. */
    int64_t negative_ttl_ms;
    /** Each stored TTL is shortened by a random part of up to this fraction of it, so keys
     * loaded together expire apart. Default 0.1; < 0: none; at most 1 (values above count
     * as 1; the TTL stays at least 1 ms). */
    double ttl_jitter;
    /** XFetch's beta: larger refreshes earlier. Default 1.0 (the paper's choice); < 0: no early
     * refresh. */
    double refresh_beta;
    /** Deadline of each Valkey command (GET, SET, DEL), ms (>= 0). Default: the handle's
     * syncTimeout. */
    int64_t timeout_ms;
    /** How long a caller waits for another caller's load of the same key when vmux_cache_get()
     * is given no wait_ms, ms (>= 0). Default 30000. */
    int64_t wait_ms;
    /** false (the default): a failed Valkey command is counted (vmux_cache_stats.errors) and the
     * call goes on without the cache: a failed GET counts as a miss (the value is loaded and
     * returned, and no SET is tried, but after WRONGTYPE, where the SET replaces the key of
     * another type), a failed SET leaves the value unstored, as does a value too large to read
     * back (see vmux_cache_get()). true: the failed GET or SET's error is returned to the caller
     * instead (VMUX_ERR_INVALID_ARG for a value too large). */
    bool strict;
    /* true: a near tier (near.h, docs/patterns/near-cache.md) in front of Valkey: every GET goes
     * through vmux_near_get(), so a hit on a key this process read lately is served from memory
     * without touching the network (the XFetch decision is the same as for any hit), and a miss
     * reads Valkey as before, single flight unchanged. The cache's own SET and DEL remove the key
     * from the near tier at once. The handle must have nearCache=true (else vmux_cache_new()
     * fails with VMUX_ERR_INVALID_ARG). Default false. */
    bool near;
} vmux_cache_opts;

/** A loader's "there is no such value" (not an error: it is cached as a negative entry). */
#define VMUX_CACHE_NOT_FOUND 1

/**
 * The caller's loader: fetches the value of key (without the cache's prefix) from the source of
 * truth; key's bytes are the caller's, borrowed for the call and not NUL-terminated (use
 * key.len, not strlen() or atoi()). It returns 0 with value->ptr pointing at value->len bytes from
 * malloc() (NULL for an empty value), which the cache takes over and frees; VMUX_CACHE_NOT_FOUND;
 * or a negative error code of its own choosing (pick codes below -1000 to tell them apart from
 * VMUX_ERR_*), which is returned unchanged to every caller sharing this load and is not cached.
 * Whatever it returns, the cache frees value->ptr if it was set. It runs in the thread of the
 * vmux_cache_get() call that leads the load, and may use the handle, but must not call
 * vmux_cache_get() for the same key (it would wait for itself until its deadline).
 */
typedef int (*vmux_cache_loader)(vmux_str key, vmux_bytes *value, void *userdata);

/**
 * Creates a cache over handle m with the given options (NULL: all defaults). The cache borrows
 * m, which must outlive it. On success *out owns the cache; free it with vmux_cache_free().
 * Errors: VMUX_ERR_INVALID_ARG (m or out NULL, opts not made with VMUX_INIT, a prefix with NULL
 * ptr and len > 0, NaN fractions, a negative ttl_ms, timeout_ms or wait_ms, a ttl_ms or
 * negative_ttl_ms above VMUX_TTL_MAX_MS, near on a handle without nearCache), VMUX_ERR_NOMEM,
 * VMUX_ERR_FORKED (m was opened in a parent process). In words, naming the field and the rule
 * ("invalid argument: opts->ttl_ms -1 is negative (0: the
 * default)"): vmux_last_error() (error.h).
 */
VMUX_EXPORT int vmux_cache_new(vmux *m, const vmux_cache_opts *opts, vmux_cache **out);

/** Frees a cache. No call on it may be running or follow. NULL is allowed. In a child of fork(),
 * on a cache made in the parent, it frees nothing, as vmux_close() there: the cache's lock and
 * single-flight loads may have been held or led by a parent thread at the fork. */
VMUX_EXPORT void vmux_cache_free(vmux_cache *c);

/**
 * Get-or-load. Reads prefix+key with one GET. On a hit returns the stored value (or "not found"
 * for a negative entry); once in a while (XFetch) a hit close to its expiry reloads and stores
 * the value first and returns the new one, unless this process is already loading that key (a
 * failed early refresh, whether the loader or the SET failed, returns the value it found). On a
 * miss: if another caller in this process is loading the key (or finished loading it while this
 * call's GET was on its way), takes that load's result, waiting for it up to wait_ms (0: the
 * cache's wait_ms); otherwise calls load(key, ..., userdata), stores the result with SET ... PX
 * (the TTL, shortened by the jitter; a "not found" for its negative TTL) and returns it.
 *
 * Size: a value is stored only when it and its 20-byte header fit in the handle's maxBulkLength
 * (config.h), the largest reply a GET on the handle can read (a larger one is refused with
 * VMUX_ERR_PROTOCOL, read for nothing). A larger value is not sent: it is counted in errors and
 * returned unstored, or, in a strict cache, the call fails with VMUX_ERR_INVALID_ARG.
 *
 * On success returns 0 with *value owned by the caller (free with vmux_bytes_free()):
 * value->ptr NULL means "not found"; otherwise value->len bytes followed by a NUL. value may be
 * NULL to drop the value (to warm the cache, say).
 * Errors (*value zeroed): VMUX_ERR_INVALID_ARG (NULL c or load; key.ptr NULL with len > 0; a
 * negative wait_ms; a loader result other than 0, VMUX_CACHE_NOT_FOUND or negative, or 0 with ptr
 * NULL and len > 0), VMUX_ERR_NOMEM, VMUX_ERR_TIMEOUT (waited wait_ms for another caller's load),
 * the loader's own negative code (this caller's load's, or the load it shared), and, in a strict
 * cache only, the error of the failed GET or SET
 * (as vmux_call(): VMUX_ERR_FORKED in a child of fork(), on a cache made in the parent). A cache
 * that is not strict fails open there as for any failed GET, but alone: it runs the loader and
 * returns its value without sharing a load with other callers (a load a parent thread was leading
 * at the fork never finishes in the child) and without taking the cache's lock, stores nothing,
 * and counts the GET in errors and misses (docs/reliability.md, "fork()"). A strict cache also
 * fails with VMUX_ERR_INVALID_ARG on a value too large to store ("Size" above). The error in words
 * (the server's message, the connection's failure, "the loader returned -1234"...):
 * vmux_last_error() (error.h). Any thread but the I/O thread.
 */
VMUX_EXPORT int vmux_cache_get(vmux_cache *c, vmux_str key, vmux_cache_loader load, void *userdata,
                               int64_t wait_ms, vmux_bytes *value);

/**
 * Deletes prefix+key (DEL), so the next get loads it again. A load of that key running in this
 * process when it is called does not store its result (or deletes it again once stored), and
 * callers arriving later do not share it. Loads in other processes are not covered: their
 * result may still be stored after this DEL (see the docs). On a handle whose readFrom sends
 * reads to replicas the next get may still read the old value from a replica that has not yet
 * applied the DEL (for the replication lag, typically milliseconds): where this process must read
 * its own invalidations, give the cache a handle with readFrom=primary. Returns 0, or the DEL's
 * error as vmux_call() (whether or not the cache is strict; it is counted in errors too),
 * VMUX_ERR_FORKED in a child of fork() (before the cache's lock, see vmux_cache_get());
 * VMUX_ERR_INVALID_ARG for NULL c or key.ptr NULL with len > 0; in words: vmux_last_error(). Any
 * thread but the I/O thread.
 */
VMUX_EXPORT int vmux_cache_invalidate(vmux_cache *c, vmux_str key);

/** Counters of a cache since it was created; each read atomically, not one snapshot. */
typedef struct vmux_cache_stats {
    size_t size;          /**< sized struct: make it with VMUX_INIT(vmux_cache_stats) (abi.h) */
    uint64_t hits;        /**< GETs that found an entry (negative entries included) */
    uint64_t misses;      /**< GETs that found none (or an entry in an unknown format) */
    uint64_t loads;       /**< loader calls (early refreshes included) */
    uint64_t refreshes;   /**< loader calls made early, by XFetch, for a key still stored */
    uint64_t shared;      /**< misses answered by another caller's load instead of a loader call */
    uint64_t load_errors; /**< loader calls that returned an error */
    uint64_t errors;      /**< Valkey commands that failed (GET, SET, DEL: timeouts included),
                               and SETs not sent for a value too large (vmux_cache_get()) */
} vmux_cache_stats;

/**
 * Fills *out, made with VMUX_INIT(vmux_cache_stats), with the cache's counters: the fields its
 * size covers (abi.h). Any thread. Errors: VMUX_ERR_INVALID_ARG (NULL c or out, out->size below
 * sizeof(size_t)), named in vmux_last_error() ("invalid argument: out->size is 0: out not made
 * with VMUX_INIT (abi.h)").
 */
VMUX_EXPORT int vmux_cache_read_stats(const vmux_cache *c, vmux_cache_stats *out);

#ifdef __cplusplus
}
#endif

#endif

/** @file
 * Rate limiting. A vmux_ratelimit answers "may this caller (a key: a user id, an IP address, an
 * API token) do this now?" for every process that shares one Valkey, with one of three
 * algorithms. Every check is one script, so one atomic round trip: the read, the decision and the
 * write cannot interleave with another client's, and the counter and its expiry are set together
 * (a limiter key can never be left without an expiry). The time is the server's
 * (redis.call('TIME')), so the clocks of the clients do not matter.
 *
 *   fixed window    at most limit units per window of period_ms; a key's window starts with
 *                   its first allowed request after the previous window ended.
 *   sliding window  at most limit units in any period_ms: an exact log (a sorted set with one
 *                   entry per allowed request, holding its cost and stamped with the server
 *                   time), not a weighted estimate. A check costs O(log n) whatever its cost
 *                   and the limit (n: the requests in the window); the memory per key grows
 *                   with n (see docs/patterns/rate-limiting.md).
 *   GCRA            the generic cell rate algorithm: token-bucket semantics with a rate of
 *                   limit per period_ms and room for burst units at once; one number per key.
 *
 * A request may cost more than one unit. The result has what the RateLimit and Retry-After HTTP
 * headers need. A limiter is immutable once made: any number of threads may use one at once.
 * Keys are the limiter's prefix followed by the caller's key; each key lives only as long as it
 * has state to remember.
 */
#ifndef VMUX_RATELIMIT_H
#define VMUX_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/client.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A rate limiter (opaque): vmux_ratelimit_new(), vmux_ratelimit_free(). */
typedef struct vmux_ratelimit vmux_ratelimit;

/** The algorithms described above. */
typedef enum vmux_ratelimit_algorithm {
    VMUX_RATELIMIT_FIXED_WINDOW = 0,
    VMUX_RATELIMIT_SLIDING_WINDOW = 1,
    VMUX_RATELIMIT_GCRA = 2,
} vmux_ratelimit_algorithm;

/** What vmux_ratelimit_allow() decides when Valkey cannot answer. */
typedef enum vmux_ratelimit_on_error {
    VMUX_RATELIMIT_FAIL_OPEN = 0,   /**< allow: the limiter protects, it is not a dependency */
    VMUX_RATELIMIT_FAIL_CLOSED = 1, /**< refuse: nothing passes unless it was counted */
} vmux_ratelimit_on_error;

/**
 * A limiter's settings. Make them with VMUX_INIT(vmux_ratelimit_opts, ...) (abi.h) and set limit
 * and period_ms (required); the rest has defaults.
 */
typedef struct vmux_ratelimit_opts {
    /** Sized struct (abi.h). */
    size_t size;
    vmux_ratelimit_algorithm algorithm; /**< default: fixed window */
    /** Units allowed per period_ms (GCRA: the rate). 1..2^40; the sliding window keeps one
     * sorted-set entry per request allowed in the window, whatever its cost. */
    int64_t limit;
    /** The window (GCRA: the period of the rate), in milliseconds: 1..2^40. GCRA also needs
     * period_ms * 1000 / limit >= 1 exactly (limit <= period_ms * 1000): one unit per
     * microsecond at most; a faster rate is VMUX_ERR_INVALID_ARG, never rounded. */
    int64_t period_ms;
    /** GCRA only: how many units may pass at once after a quiet spell (the bucket's size);
     * 0 means limit; at most 2^40, and the time it takes to earn (burst * period_ms / limit,
     * with period_ms / limit rounded to the microsecond) at most 2^40 ms: beyond either,
     * vmux_ratelimit_new() returns VMUX_ERR_INVALID_ARG. Ignored by the windows. */
    int64_t burst;
    /** Prepended to every key (copied). NULL: "vmux:rl:fixed:", "vmux:rl:sliding:" or
     * "vmux:rl:gcra:". Limiters with different settings need different prefixes, or they
     * share (and corrupt) each other's state. */
    const char *prefix;
    /** Deadline of each check in ms (>= 0); 0 takes the handle's syncTimeout. With fail-open, a
     * short one bounds how long a slow Valkey can hold a request up. */
    int64_t timeout_ms;
    /** vmux_ratelimit_allow()'s decision when a check fails. Default: fail open. */
    vmux_ratelimit_on_error on_error;
} vmux_ratelimit_opts;

/**
 * The outcome of one check, enough to fill the RateLimit-Limit, RateLimit-Remaining,
 * RateLimit-Reset and Retry-After HTTP headers (convert ms to seconds rounding up).
 */
typedef struct vmux_ratelimit_result {
    /** Sized struct: make it with VMUX_INIT(vmux_ratelimit_result) (abi.h). */
    size_t size;
    bool allowed;
    /** The most units that can ever be available at once: limit for the windows, burst for
     * GCRA. */
    int64_t limit;
    /** Units still available now, after this request if it was allowed: 0..limit. A refused
     * request of cost n may leave remaining > 0 (but < n). */
    int64_t remaining;
    /** Allowed: 0. Refused: ms until the same request (same cost) would be allowed if nothing
     * else were spent meanwhile; VMUX_FOREVER when it never can be (its cost exceeds limit). */
    int64_t retry_after_ms;
    /** ms until the key is back to its full allowance (remaining == limit); 0 if it is now. */
    int64_t reset_after_ms;
} vmux_ratelimit_result;

/**
 * Makes a limiter on handle m, which it borrows: m must outlive it. The limiter keeps its
 * scripts (loaded into the server on first use, and again after a SCRIPT FLUSH or a restart).
 * On success *out owns it; free it with vmux_ratelimit_free(). Any thread may call this.
 * Errors: VMUX_ERR_INVALID_ARG (NULL m, opts or out; opts not made with VMUX_INIT; limit,
 * period_ms or burst out of range; a negative timeout_ms; an unknown algorithm or on_error),
 * VMUX_ERR_NOMEM, VMUX_ERR_FORKED (m was opened in a parent process). On error *out is NULL. In
 * words, naming the field and the rule ("invalid argument: opts->period_ms 0 out of range 1 ..
 * 2^40"):
 * vmux_last_error() (error.h).
 */
VMUX_EXPORT int vmux_ratelimit_new(vmux *m, const vmux_ratelimit_opts *opts, vmux_ratelimit **out);

/** Frees a limiter once no check uses it; its keys stay in Valkey until they expire. NULL is
 * allowed. */
VMUX_EXPORT void vmux_ratelimit_free(vmux_ratelimit *rl);

/**
 * Spends cost units (0..2^40; 0 asks without spending) for key (binary-safe; the limiter's
 * prefix is added) if the limit allows it, in one atomic script, and fills *out (made with
 * VMUX_INIT(vmux_ratelimit_result); NULL drops the result). A refused request spends nothing.
 * Synchronous: any thread but the handle's I/O thread.
 *
 * Returns 0 with *out filled, or an error with *out zeroed (and the limiter's error count, see
 * vmux_ratelimit_errors(), raised): VMUX_ERR_INVALID_ARG (NULL rl, out->size below
 * sizeof(size_t), cost out of range, or called on the I/O thread), VMUX_ERR_NOMEM, VMUX_ERR_SERVER
 * (the key holds something else, or the server refused the script: out of memory, say),
 * VMUX_ERR_PROTOCOL (an unexpected reply), and the transport errors of vmux_call():
 * VMUX_ERR_TIMEOUT, VMUX_ERR_NOT_CONNECTED, VMUX_ERR_BACKLOG_FULL, VMUX_ERR_CLOSED,
 * VMUX_ERR_CONNECTION_LOST, VMUX_ERR_FORKED (in a child of fork(), on a limiter made in the parent:
 * nothing sent; a limiter keeps no lock of its own, so none is waited for). After VMUX_ERR_TIMEOUT
 * or VMUX_ERR_CONNECTION_LOST the check may have been sent and run (a timeout may also come before
 * it was sent), so its units may or may not have been spent; the check is never sent twice. The
 * error in words: vmux_last_error() (error.h), as for every call of this header that can fail.
 */
VMUX_EXPORT int vmux_ratelimit_check(vmux_ratelimit *rl, vmux_str key, int64_t cost,
                                     vmux_ratelimit_result *out);

/**
 * The convenience form: returns the decision. When the check succeeds, it is the check's; when
 * it fails, the limiter's on_error option decides (true for fail-open, false for fail-closed),
 * except for a refused argument (VMUX_ERR_INVALID_ARG: a NULL rl, a cost out of range, a key at
 * NULL), which is never let through: a caller's bug does not open the gate. out (may be NULL)
 * receives the result, or after a failure: allowed as decided, limit, remaining 0, retry_after_ms
 * and reset_after_ms -1 (unknown). An out whose size is below sizeof(size_t) is left alone and err
 * gets VMUX_ERR_INVALID_ARG. err (may be NULL) receives 0 or the check's error, so the caller can
 * log it. Threads as vmux_ratelimit_check().
 */
VMUX_EXPORT bool vmux_ratelimit_allow(vmux_ratelimit *rl, vmux_str key, int64_t cost,
                                      vmux_ratelimit_result *out, int *err);

/**
 * Forgets key's state (DEL of the prefixed key): its full allowance is back. Returns 0 or an
 * error of vmux_del(). Synchronous: any thread but the I/O thread.
 */
VMUX_EXPORT int vmux_ratelimit_reset(vmux_ratelimit *rl, vmux_str key);

/**
 * How many checks of this limiter have failed (both forms), for monitoring a fail-open limiter.
 * Any thread; 0 for NULL.
 */
VMUX_EXPORT uint64_t vmux_ratelimit_errors(const vmux_ratelimit *rl);

#ifdef __cplusplus
}
#endif

#endif

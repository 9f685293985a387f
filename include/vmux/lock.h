/** @file
 * Owner-checked distributed locks on one Valkey key, with fencing tokens, optional automatic
 * renewal, and lost replies resolved instead of guessed (docs/patterns/locks.md).
 *
 * A vmux_lock is one would-be owner of one resource: several processes or threads that contend
 * for a resource each make their own vmux_lock on the same key. Each acquire writes a fresh
 * random token (16 bytes from OpenSSL's RAND_bytes, as 32 hex digits) with SET key token NX PX
 * ttl, and in the same atomic step (one script) increments the resource's fencing counter, whose
 * new value is returned: a number that strictly increases with each successful acquire of the
 * resource, for the caller to hand to the storage it protects, which refuses writes carrying a
 * number lower than one it has seen. Release and extend are scripts that act only while the key
 * still holds this owner's token, and say whether it did.
 *
 * A lost reply (an acquire or release that ends with VMUX_ERR_CONNECTION_LOST, VMUX_ERR_PROTOCOL
 * or VMUX_ERR_TIMEOUT: sent, outcome unknown) is resolved: once the connection is back, the
 * helper reads the key (and the fencing counter) and compares it with its token, or runs the
 * idempotent release again, retrying until resolve_timeout_ms, and reports what really happened.
 * A command that could not be written at all is not a lost reply: acquire, release and extend
 * are sent with VMUX_CALL_TELL_UNSENT (call.h), so one whose deadline passes while it waits for a
 * connection fails with VMUX_ERR_NOT_CONNECTED (nothing was sent, nothing to resolve), whatever
 * the backlogPolicy.
 *
 * Threads: every function may be called from any thread but the handle's I/O thread (so not
 * from async callbacks, nor from on_lost). A lock object is safe to share: calls on one object
 * run one at a time (a call waits for the previous one); threads that share one object share
 * its ownership. Lock objects must be freed before their handle is closed.
 */
#ifndef VMUX_LOCK_H
#define VMUX_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/client.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An owner-checked lock (opaque): vmux_lock_new(), vmux_lock_free(). */
typedef struct vmux_lock vmux_lock;

/** Why an auto-renewed lock was lost (vmux_lock_lost_cb). Never 0, so never VMUX_OK. */
typedef enum vmux_lock_lost_reason {
    /** An extension found the key no longer holding this owner's token: it expired, was
     * deleted, or another owner took it. */
    VMUX_LOCK_LOST_TAKEN = 1,
    /** The lease ran out before an extension was confirmed. */
    VMUX_LOCK_LOST_LEASE_END = 2,
} vmux_lock_lost_reason;

/**
 * Called once per holding when an auto-renewed lock is lost while this object believed it held
 * it, with the reason. err is 0 for VMUX_LOCK_LOST_TAKEN; for VMUX_LOCK_LOST_LEASE_END it is the
 * VMUX_ERR_* code of the last extension that failed, or VMUX_ERR_TIMEOUT when the one in flight
 * had not answered. It runs at the lease end at the
 * latest (see vmux_lock_held()), whatever the network does. When it runs, vmux_lock_held()
 * already returns false.
 *
 * It runs on the handle's I/O thread (an extension's answer), on vmux's lock-renewal thread (the
 * lease end, or an extension that could not be submitted), or, when the lease ends just as
 * vmux_lock_acquire(), _acquire_wait() or _extend() is called on this object, in that caller's
 * thread. It must not block; it may call vmux_lock_held(), vmux_lock_fence() and the async API,
 * but not the lock's other functions (acquire, release, extend, free).
 */
typedef void (*vmux_lock_lost_cb)(vmux_lock *lock, vmux_lock_lost_reason reason, int err,
                                  void *userdata);

/**
 * Options of a lock; make them with VMUX_INIT(vmux_lock_opts, ...) (abi.h) and name what you
 * need. NULL means all defaults. Every duration is in ms, from 0 (the default) to 2^32-1.
 */
typedef struct vmux_lock_opts {
    /** Sized struct (abi.h). */
    size_t size;
    /** Time to live of the key after an acquire or extend, ms. 0: 30000. */
    int64_t ttl_ms;
    /**
     * The fencing counter's key (copied). NULL: derived from the lock key so that both hash to
     * the same cluster slot, for every key: "<key>:fence" when the key has a hash tag under the
     * cluster rule (the first '{', then the first '}' after it, with at least one byte between:
     * "{}x" and "a{}{b}" have none); otherwise "{<key>}:fence" when the key holds no '}'; otherwise
     * (no tag, but a '}', which no tag can quote) "{fence-<n>}:<key>:fence", n the least number
     * whose tag "fence-<n>" hashes to the key's slot.
     */
    const char *fence_key;
    /** Deadline of each command the lock sends, ms, including the time it waits for a connection.
     * 0: 5000. */
    int64_t timeout_ms;
    /** How long acquire, release and extend keep trying to learn the outcome of a command whose
     * reply was lost, ms. 0: 10000. */
    int64_t resolve_timeout_ms;
    /** Backoff of vmux_lock_acquire_wait() between attempts: each wait is drawn at random up to
     * a bound that starts at retry_min_ms and doubles up to retry_max_ms. 0: 5 and 200. */
    int64_t retry_min_ms;
    int64_t retry_max_ms;
    /** Extend the lock automatically while it is held, every renew_fraction of the TTL; each
     * extension's deadline is the lease end (see vmux_lock_held()). */
    bool auto_renew;
    /** In (0, 1); 0: 1/3. With auto_renew, the renewal period (renew_fraction * ttl_ms) and one
     * retry of a failed extension (a quarter of that period, at least 10 ms) must end before the
     * lease end (ttl_ms less 1% and 2 ms, see vmux_lock_held()): renew_fraction * 1.25 at most
     * 0.99 - 2 ms / ttl_ms, about 0.79 for TTLs of a second or more; a larger fraction is refused,
     * as even a healthy server's answer would come after the lease ended. */
    double renew_fraction;
    /** Optional: told when automatic renewal finds the lock lost (vmux_lock_lost_cb). */
    vmux_lock_lost_cb on_lost;
    void *userdata;
} vmux_lock_opts;

/**
 * Makes a lock object for key (copied) on handle m, which must outlive it. Nothing is sent.
 * With auto_renew, vmux's lock-renewal thread (one per process, shared by all auto-renewing
 * locks) is started if it is not running. On success *out owns the object; free it with
 * vmux_lock_free(). Errors: VMUX_ERR_INVALID_ARG (NULL m, out or key bytes, an empty key, a
 * renew_fraction outside [0, 1), or with auto_renew one that leaves no room for an extension and
 * its retry before the lease end (see renew_fraction; with the default, a TTL under 19 ms),
 * retry_min_ms > retry_max_ms (compared with the defaults applied: retry_min_ms 300 alone is
 * refused, as over the default 200), a duration outside 0 .. 2^32-1, an empty fence_key, opts
 * not made with VMUX_INIT),
 * VMUX_ERR_NOMEM, VMUX_ERR_FORKED (m was opened in a parent process, see vmux_lock_free()). In
 * words, naming the argument and the rule ("invalid argument: opts->renew_fraction nan outside
 * [0, 1)"):
 * vmux_last_error() (error.h).
 */
VMUX_EXPORT int vmux_lock_new(vmux *m, vmux_str key, const vmux_lock_opts *opts, vmux_lock **out);

/**
 * Stops renewal, releases the lock if this object holds it, and the key an acquire of it whose
 * reply was lost may have taken, or a release of it that failed may have left (best effort: one run
 * of the release for each token, all within one deadline, so it blocks for timeout_ms at most; not
 * for the token of a later attempt that was refused or never sent, which cannot be in the key;
 * errors are ignored and a lost reply is not resolved; the key expires after its TTL anyway), and
 * frees the object. Must not run while another call on the same object is in progress, nor from
 * on_lost. NULL is allowed. In a child of fork(), on a lock made in the parent (its handle's), it
 * returns at once and frees nothing, as vmux_close() there: the holding and its renewal are the
 * parent's, the object's mutexes may have been held by a parent thread at the fork, and the renewal
 * thread it would wait for does not exist in the child. Every other call on such a lock fails with
 * VMUX_ERR_FORKED (vmux_lock_held() is false, vmux_lock_fence() 0) before it takes any of those
 * mutexes.
 */
VMUX_EXPORT void vmux_lock_free(vmux_lock *lock);

/**
 * One attempt to take the lock. *acquired (when not NULL) says whether it was taken; if so, *fence
 * (when not NULL) receives the fencing token of this acquisition, and with auto_renew, renewal
 * starts. A lost reply is resolved as the header comment says; the lease still counts from the
 * first send, so a resolution slower than the TTL reports it acquired with its lease already over
 * (vmux_lock_held() false).
 * Errors (*acquired false): VMUX_ERR_INVALID_ARG (NULL lock; this object already
 * holds the lock: release it first), VMUX_ERR_FORKED (in a child of fork(), nothing sent: see
 * vmux_lock_free()), VMUX_ERR_IO (the random generator failed),
 * VMUX_ERR_CROSSSLOT (on a cluster, an explicit fence_key in another slot than the key: nothing
 * was sent), VMUX_ERR_SERVER
 * (the fencing key is not an integer, say, or on a cluster the lock's slot answered TRYAGAIN,
 * a migration having split the lock key from its fencing key, until timeout_ms passed; nothing
 * was changed), VMUX_ERR_CONNECTION_LOST (the outcome could not be learned within
 * resolve_timeout_ms; the command may even run later, after a server stall: if the lock was
 * taken it expires after its TTL, vmux_lock_release() may still be called to release it, and this
 * object's next acquire takes it over at once), or another
 * transport error of vmux_call() by which nothing was sent (VMUX_ERR_NOT_CONNECTED: no
 * connection was ready within timeout_ms, or at once under backlogPolicy=failFast...). So it
 * blocks for at most timeout_ms, or timeout_ms + resolve_timeout_ms when a reply was lost.
 * The error in words: vmux_last_error() (error.h), as for every call of this header that
 * returns an error.
 */
VMUX_EXPORT int vmux_lock_acquire(vmux_lock *lock, bool *acquired, uint64_t *fence);

/**
 * As vmux_lock_acquire(), retrying with jittered exponential backoff (retry_min_ms to
 * retry_max_ms) while the lock is taken, while no connection is ready, and while the server
 * answers CLUSTERDOWN, TRYAGAIN, LOADING or MASTERDOWN past an attempt's timeout_ms, or READONLY
 * (a failover, a migration, a primary demoted while the handle still spoke to it: the script
 * did not run), until it is acquired or wait_ms (0 .. 2^32-1) have
 * passed: then 0 with *acquired false, or VMUX_ERR_NOT_CONNECTED (or VMUX_ERR_BACKLOG_FULL) when
 * the last attempt could not be sent, or VMUX_ERR_SERVER with the last such answer. Other errors
 * as vmux_lock_acquire(), returned at once.
 * wait_ms bounds the whole call: each attempt's commands get timeout_ms cut to what is left of
 * it, no attempt after the first starts with less than 5 ms left, and a lost reply is resolved only
 * until the same deadline (at most resolve_timeout_ms), so an attempt whose reply is lost near the
 * deadline returns VMUX_ERR_CONNECTION_LOST (outcome unknown, as for vmux_lock_acquire(); its
 * words say that wait_ms ran out). wait_ms
 * 0 makes one attempt, exactly as vmux_lock_acquire().
 */
VMUX_EXPORT int vmux_lock_acquire_wait(vmux_lock *lock, int64_t wait_ms, bool *acquired,
                                       uint64_t *fence);

/**
 * Releases the lock if the key still holds this object's token (the last one it tried to
 * acquire with), atomically. *was_held (when not NULL) says whether it did: false when the
 * lock had expired or belongs to another owner, which is then left untouched. Renewal stops
 * and vmux_lock_held() is false afterwards, whatever the outcome.
 * A lost reply is resolved by running the release again, which is idempotent: each release
 * leaves a small record key ("<fence key>:released:<token>") for resolve_timeout_ms +
 * timeout_ms + 1 s, by which a second run knows the first one ran. Only runs of a release whose
 * token no earlier release has had an answer for consult that record: releasing again after a
 * release that answered (a second, deliberate call) reports false, never the first one's result.
 * Errors: VMUX_ERR_INVALID_ARG, VMUX_ERR_FORKED (in a child of fork(), nothing sent),
 * VMUX_ERR_CROSSSLOT (on a cluster, an explicit fence_key in another slot than the key: nothing
 * sent), VMUX_ERR_SERVER, VMUX_ERR_CONNECTION_LOST (outcome not learned in time), or a transport
 * error by which nothing was sent (VMUX_ERR_NOT_CONNECTED after timeout_ms when no connection was
 * ready). After such a failure the key may still hold the token: the object remembers it, as a
 * lost acquire's, so its next acquire takes over a key that still holds it (a new token, the
 * next fence) and vmux_lock_free() releases it.
 */
VMUX_EXPORT int vmux_lock_release(vmux_lock *lock, bool *was_held);

/**
 * Sets the key's TTL to ttl_ms (0: the lock's ttl_ms; at most 2^32-1) if it still holds this
 * object's token, atomically. *still_held (when not NULL) says whether it did; when it did not, the
 * object no longer holds the lock. When it did, the lease runs ttl_ms (less the drift margin) from
 * when this extend was sent, if the holding was still current: an extend that comes after the lease
 * end does not bring a holding back (the key then holds the token with nobody holding the
 * lock; vmux_lock_release() deletes it). Lost replies are resolved by running it again (it is
 * idempotent). Errors as vmux_lock_release().
 */
VMUX_EXPORT int vmux_lock_extend(vmux_lock *lock, int64_t ttl_ms, bool *still_held);

/**
 * Whether this object holds the lock as far as it knows: acquired, neither released nor found
 * lost by an extend or by renewal since, and its lease not over. The lease ends at the send time
 * of the last acquire or extend the server confirmed, plus the TTL, minus a drift margin of 1% of
 * the TTL + 2 ms (the server counts its TTL from later, when it ran the command, so the key
 * outlives the lease). This is read from the clock: it turns false at the lease end even while a
 * renewal is still on its way, and stays false until the next acquire. It is no proof: the key
 * may have been deleted since, or the process paused. Never blocks on the network; any thread.
 * false for NULL, and in a child of fork() for a lock made in the parent (the holding is the
 * parent's).
 */
VMUX_EXPORT bool vmux_lock_held(const vmux_lock *lock);

/** The fencing token of this object's last successful acquire, 0 if none. Never blocks on the
 * network. 0 for NULL, and in a child of fork() for a lock made in the parent. */
VMUX_EXPORT uint64_t vmux_lock_fence(const vmux_lock *lock);

#ifdef __cplusplus
}
#endif

#endif

/*
 * Acquiring a lock (lock.h): a fresh token per attempt, the acquire script, and, when its reply
 * is lost, reading the key until the outcome is known; waiting with jittered backoff.
 */
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "core/random.h"
#include "patterns/lock_internal.h"

/* ---- tokens and randomness ---- */

int vmux__lock_new_token(char out[TOKEN_HEX + 1])
{
    if (vmux__random_hex(TOKEN_BYTES, out) != 0)
        return vmux__why_set(VMUX_ERR_IO, "the random generator failed (RAND_bytes)");
    return 0;
}

/* A number in [0, n); only for jitter, so a failed RAND_bytes just loses the jitter. */
static uint32_t rand_below(uint32_t n)
{
    uint32_t r = 0;
    if (n == 0 || RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        return n / 2;
    return r % n;
}

/* ---- acquire ---- */

/* The acquire script's reply: nil (taken by someone else) or the new fencing token. */
static int read_acquired(const vmux_reply *r, bool *acquired, uint64_t *fence)
{
    if (vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return 0;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_INTEGER || vmux_reply_integer(r) <= 0)
        return vmux__why_set(VMUX_ERR_PROTOCOL,
                             "the acquire script answered neither nil nor a fencing token");
    *acquired = true;
    *fence = (uint64_t)vmux_reply_integer(r);
    return 0;
}

/*
 * MGET key fence's reply, judged against token. While the key holds our token nobody else can
 * have acquired since we did, so the counter still holds the value our acquire gave it.
 */
static int judge_mget(const vmux_reply *r, const char *token, bool *acquired, uint64_t *fence)
{
    const vmux_reply *v = vmux_reply_element(r, 0), *f = vmux_reply_element(r, 1);
    if (v == NULL || f == NULL)
        return vmux__why_set(VMUX_ERR_PROTOCOL, "MGET of the lock and fence keys: not 2 values");
    size_t len = 0;
    const char *s = vmux_reply_str(v, &len);
    if (vmux_reply_get_kind(v) != VMUX_REPLY_STRING || len != TOKEN_HEX ||
        memcmp(s, token, TOKEN_HEX) != 0)
        return 0;
    const char *digits = vmux_reply_str(f, NULL);
    char *end = NULL;
    unsigned long long n = digits != NULL ? strtoull(digits, &end, 10) : 0;
    if (n == 0 || *end != '\0')
        return vmux__why_set(VMUX_ERR_PROTOCOL, "the fence key holds no positive integer");
    *acquired = true;
    *fence = n;
    return 0;
}

/*
 * An acquire's reply was lost: read the key until an answer comes, resolve_ms pass, or the
 * caller's deadline (0: none) comes. A read refused for now (not_now(): TRYAGAIN while the slot
 * migrates, a failover's CLUSTERDOWN) is tried again, as a lost one is. One read is tried even at
 * the caller's deadline. On the primary, whatever readFrom says: a replica that has not yet applied
 * the script would say it did not run (review of the patterns).
 */
static int resolve_acquire(vmux_lock *l, const char *token, uint64_t until, bool *acquired,
                           uint64_t *fence)
{
    uint64_t deadline = now_ns() + ms_ns(l->resolve_ms);
    bool by_wait = until != 0 && until < deadline;
    if (by_wait)
        deadline = until;
    const char *argv[] = {"MGET", l->key.ptr, l->fence_key.ptr};
    size_t lens[] = {4, l->key.len, l->fence_key.len};
    for (unsigned attempt = 0;; attempt++) {
        vmux_callopts o =
            vmux__lock_call_opts(l, VMUX_CALL_RETRY_SAFE | VMUX_CALL_PRIMARY, deadline);
        vmux_reply *r = NULL;
        int rc = vmux_call(l->m, &o, 3, argv, lens, &r);
        if (rc == 0) {
            rc = judge_mget(r, token, acquired, fence);
            vmux_reply_free(r);
            return rc;
        }
        bool later = not_now(rc, r); /* the read did not run: still unknown */
        vmux_reply_free(r);
        if (!outcome_unknown(rc) && !resolve_again(rc) && !later)
            return rc;
        if (!vmux__lock_resolve_pause(attempt, deadline))
            return vmux__lock_unresolved(l, "acquire", rc, by_wait);
    }
}

/*
 * One attempt, its commands bounded by deadline (0: timeout_ms each, and resolve_ms for a lost
 * reply). An attempt that timed out unsent says so (VMUX_CALL_TELL_UNSENT): it did not run,
 * and is not resolved. *busy says whether it failed with the server's "not now" (not_now()): the
 * script did not run.
 */
static int acquire_once(vmux_lock *l, uint64_t deadline, bool *acquired, uint64_t *fence,
                        bool *busy)
{
    char token[TOKEN_HEX + 1], ttl[24];
    int rc = vmux__lock_new_token(token);
    if (rc != 0)
        return rc;
    /* from now on a release targets this attempt, whatever its outcome */
    vmux__lock_set_token(l, token);
    snprintf(ttl, sizeof ttl, "%u", (unsigned)l->ttl_ms);
    vmux_str keys[] = {l->key, l->fence_key};
    vmux_str args[] = {VMUX_STRN(token, TOKEN_HEX), VMUX_STR(ttl), VMUX_STR(l->stray)};
    vmux_callopts o = vmux__lock_call_opts(l, VMUX_CALL_TELL_UNSENT, deadline);
    uint64_t sent = now_ns();
    vmux_reply *r = NULL;
    rc = vmux_script_run(l->m, &o, l->acquire_s, keys, 2, args, l->stray[0] ? 3 : 2, &r);
    *busy = not_now(rc, r);
    bool lost = outcome_unknown(rc);
    if (rc == 0)
        rc = read_acquired(r, acquired, fence);
    else if (lost)
        rc = resolve_acquire(l, token, deadline, acquired, fence);
    vmux_reply_free(r);
    if (rc == 0 && *acquired) {
        l->stray[0] = '\0';
        vmux__lock_became_held(l, *fence, sent);
    } else if (lost) {
        /* It may still run (a read on another connection can come before it): the next acquire
         * takes it over, vmux_lock_free() releases it. */
        memcpy(l->stray, token, sizeof l->stray);
    }
    return rc;
}

static int already_held(void)
{
    return vmux__why_set(VMUX_ERR_INVALID_ARG, "this object holds the lock: release it first");
}

/* Checks the arguments of the acquire calls (and refuses a forked child's: lock_forked()) and
 * clears the out-parameters. */
static int acquire_begin(vmux_lock *l, bool *acquired, uint64_t *fence)
{
    if (acquired != NULL)
        *acquired = false;
    if (fence != NULL)
        *fence = 0;
    return l == NULL ? vmux__why_set(VMUX_ERR_INVALID_ARG, "lock is NULL") : lock_forked(l);
}

int vmux_lock_acquire(vmux_lock *l, bool *acquired, uint64_t *fence)
{
    bool dropped;
    if (acquired == NULL)
        acquired = &dropped;
    vmux__why_begin();
    int rc = acquire_begin(l, acquired, fence);
    if (rc != 0)
        return rc;
    uint64_t ignored = 0;
    bool busy;
    int cancel = lock_op_begin(l);
    /* a holding whose lease ended is reported before a new one starts */
    vmux__lock_lease_ran_out(l);
    rc = vmux_lock_held(l) ? already_held()
                           : acquire_once(l, 0, acquired, fence != NULL ? fence : &ignored, &busy);
    lock_op_end(l, cancel);
    return vmux__why_end(rc);
}

/* acquire_wait() makes no new attempt with less than this left before its deadline: a command
 * given less would time out on a busy machine with its outcome unknown. */
#define MIN_ATTEMPT_MS 5u

/* Full jitter: a random wait up to a bound that doubles from retry_min_ms to retry_max_ms. */
static uint32_t backoff_ms(const vmux_lock *l, unsigned attempt)
{
    uint64_t bound = (uint64_t)l->retry_min_ms << (attempt < 20 ? attempt : 20);
    if (bound > l->retry_max_ms)
        bound = l->retry_max_ms;
    return 1 + rand_below((uint32_t)bound);
}

int vmux_lock_acquire_wait(vmux_lock *l, int64_t wait_ms, bool *acquired, uint64_t *fence)
{
    bool dropped;
    if (acquired == NULL)
        acquired = &dropped;
    vmux__why_begin();
    int rc = acquire_begin(l, acquired, fence);
    if (rc == 0 && !ms_valid(wait_ms))
        rc = vmux__why_set(VMUX_ERR_INVALID_ARG, "wait_ms %" PRId64 " out of range 0 .. 2^32-1",
                           wait_ms);
    if (rc != 0)
        return rc;
    uint64_t ignored = 0, deadline = now_ns() + ms_ns(wait_ms);
    uint64_t bound = wait_ms != 0 ? deadline : 0; /* 0: one attempt, as vmux_lock_acquire() */
    int cancel = lock_op_begin(l);
    vmux__lock_lease_ran_out(l);
    if (vmux_lock_held(l))
        rc = already_held();
    for (unsigned attempt = 0; rc == 0; attempt++) {
        bool busy = false; /* CLUSTERDOWN during a failover, say: it did not run */
        rc = acquire_once(l, bound, acquired, fence != NULL ? fence : &ignored, &busy);
        if (*acquired || (rc != 0 && !not_sent(rc) && !busy))
            break;
        /* 0, or the not-sent or busy error of the last attempt, once too little time is left */
        if (!vmux__lock_sleep_until(deadline, backoff_ms(l, attempt)) ||
            now_ns() + ms_ns(MIN_ATTEMPT_MS) > deadline)
            break;
        rc = 0;
    }
    lock_op_end(l, cancel);
    return vmux__why_end(rc);
}

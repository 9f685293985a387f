/*
 * Releasing and extending a lock (lock.h): idempotent scripts, run again until an answer comes
 * when a run's outcome is unknown.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patterns/lock_internal.h"

/* ---- release and extend ---- */

/*
 * Runs an idempotent script that answers with an integer. Marked retry-safe, so vmux itself
 * resends it once after a broken connection; if the outcome is still unknown and resolve is
 * set, it runs again until an answer comes or resolve_ms pass. Such a run refused for now
 * (not_now(): TRYAGAIN while the slot migrates, say) leaves the outcome unknown: it is run
 * again too (a refusal of the first run is returned: the script did not run). A first run that
 * timed out unsent returns VMUX_ERR_NOT_CONNECTED at once (VMUX_CALL_TELL_UNSENT): nothing to
 * resolve.
 * until (0: none) cuts the first run's timeout_ms to what is left before it.
 */
static int run_idempotent(vmux_lock *l, const vmux_script *s, const vmux_str *keys, size_t nkeys,
                          const vmux_str *args, size_t nargs, bool resolve, uint64_t until,
                          int64_t *result)
{
    uint64_t deadline = 0; /* set once the first run's outcome is unknown */
    uint32_t flags = VMUX_CALL_RETRY_SAFE | VMUX_CALL_TELL_UNSENT;
    for (unsigned attempt = 0;; attempt++) {
        vmux_callopts o = vmux__lock_call_opts(l, flags, deadline != 0 ? deadline : until);
        vmux_reply *r = NULL;
        int rc = vmux_script_run(l->m, &o, s, keys, nkeys, args, nargs, &r);
        bool integer = rc == 0 && vmux_reply_get_kind(r) == VMUX_REPLY_INTEGER;
        if (integer)
            *result = vmux_reply_integer(r);
        bool later = not_now(rc, r);
        vmux_reply_free(r);
        if (rc == 0) /* a reply of the wrong shape: not lost */
            return integer ? 0
                           : vmux__why_set(VMUX_ERR_PROTOCOL,
                                           "the lock's script answered other than an integer");
        bool retry =
            (resolve && outcome_unknown(rc)) || (deadline != 0 && (resolve_again(rc) || later));
        if (!retry)
            return rc;
        if (deadline == 0)
            deadline = now_ns() + ms_ns(l->resolve_ms);
        if (!vmux__lock_resolve_pause(attempt, deadline))
            return vmux__lock_unresolved(l, "release or extend", rc, false);
    }
}

/* "<fence key>:released:<token>" into buf (malloc'ed); NULL when out of memory. */
static char *record_key(const vmux_lock *l, const char *token, size_t *len)
{
    static const char mid[] = ":released:";
    *len = l->fence_key.len + sizeof mid - 1 + TOKEN_HEX;
    char *k = malloc(*len + 1);
    if (k == NULL)
        return NULL;
    memcpy(k, l->fence_key.ptr, l->fence_key.len);
    memcpy(k + l->fence_key.len, mid, sizeof mid - 1);
    memcpy(k + l->fence_key.len + sizeof mid - 1, token, TOKEN_HEX + 1);
    return k;
}

/*
 * Runs the release script for token: check says whether it may take the record key for its own
 * lost reply (no release of token has been answered yet), resolve whether lost replies are
 * resolved, until (0: none) when the first run must end. *was_held says what it found; 0 or an
 * error.
 */
static int release_token(vmux_lock *l, const char *token, bool check, bool resolve, uint64_t until,
                         bool *was_held)
{
    char record_ttl[24];
    size_t rlen = 0;
    char *rkey = record_key(l, token, &rlen);
    if (rkey == NULL)
        return VMUX_ERR_NOMEM;
    /* Outlives the longest a run can take plus the time a second run may come after. */
    snprintf(record_ttl, sizeof record_ttl, "%llu",
             (unsigned long long)l->resolve_ms + l->timeout_ms + 1000);
    vmux_str keys[] = {l->key, VMUX_STRN(rkey, rlen)};
    vmux_str args[] = {VMUX_STRN(token, TOKEN_HEX), VMUX_STR(record_ttl),
                       VMUX_STR(check ? "1" : "0")};
    int64_t res = 0;
    int rc = run_idempotent(l, l->release_s, keys, 2, args, 3, resolve, until, &res);
    free(rkey);
    *was_held = rc == 0 && res == 1;
    return rc;
}

int vmux_lock_release(vmux_lock *l, bool *was_held)
{
    if (was_held != NULL)
        *was_held = false;
    vmux__why_begin();
    if (l == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "lock is NULL");
    if (lock_forked(l) != 0)
        return VMUX_ERR_FORKED;
    int cancel = lock_op_begin(l);
    char token[TOKEN_HEX + 1];
    bool released = vmux__lock_stop_holding(l, token), held = false;
    int rc = release_token(l, token, !released, true, 0, &held);
    if (rc == 0)
        vmux__lock_mark_released(l, token); /* answered: the next release asks afresh */
    if (rc == 0 && strcmp(l->stray, token) == 0)
        l->stray[0] = '\0'; /* released: vmux_lock_free() need not (under op_mu) */
    else if (rc != 0 && l->stray[0] == '\0')
        /* Refused, never sent or unresolved: the key may still hold the token, which only this
         * object ever had and nobody holds now. The next acquire takes it over and
         * vmux_lock_free() releases it, as after a lost acquire (a new attempt's token would
         * otherwise leave it to its TTL, this object's own acquires waiting it out too). */
        memcpy(l->stray, token, sizeof l->stray);
    if (was_held != NULL)
        *was_held = held;
    lock_op_end(l, cancel);
    return vmux__why_end(rc);
}

/*
 * vmux_lock_free()'s release: one run for the current token and one for a stray acquire's
 * token, their lost replies not resolved, all within one deadline of timeout_ms (lock.h). Beside
 * a stray token of an earlier attempt, the current token of an object that does not hold the
 * lock is a later attempt's that was refused or never sent (one that ran took over the stray's
 * key and cleared it, or lost its reply and became the stray): it is not released, which would
 * only spend the time (a never-sent attempt's release waits timeout_ms for a connection too).
 */
void vmux__lock_release_best_effort(vmux_lock *l, bool held)
{
    uint64_t until = now_ns() + ms_ns(l->timeout_ms);
    char token[TOKEN_HEX + 1];
    bool released = vmux__lock_stop_holding(l, token), found = false;
    bool other = l->stray[0] != '\0' && strcmp(l->stray, token) != 0;
    if (held || !other)
        (void)release_token(l, token, !released, false, until, &found);
    if (other && now_ns() < until)
        (void)release_token(l, l->stray, false, false, until, &found);
}

/*
 * After an extend: a new lease, or the end of holding. An answer that comes after the lease
 * end changes nothing here: the holding is over and is reported as renewal would report it.
 */
static void after_extend(vmux_lock *l, uint64_t gen, uint64_t sent, uint32_t ttl_ms, bool ok)
{
    uv_mutex_lock(&l->mu);
    if (l->held && l->gen == gen && now_ns() < l->lease_end) {
        if (!ok) {
            vmux__lock_end_holding(l);
        } else {
            l->lease_end = vmux__lock_lease_from(sent, ttl_ms);
            if (l->auto_renew)
                vmux__lock_schedule(l, now_ns() + vmux__lock_renew_period(l), l->lease_end);
        }
    }
    uv_mutex_unlock(&l->mu);
    vmux__lock_lease_ran_out(l);
}

int vmux_lock_extend(vmux_lock *l, int64_t ttl_arg, bool *still_held)
{
    if (still_held != NULL)
        *still_held = false;
    vmux__why_begin();
    if (l == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "lock is NULL");
    if (lock_forked(l) != 0)
        return VMUX_ERR_FORKED;
    if (!ms_valid(ttl_arg))
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "ttl_ms %" PRId64 " out of range 0 .. 2^32-1",
                             ttl_arg);
    uint32_t ttl_ms = ttl_arg != 0 ? (uint32_t)ttl_arg : l->ttl_ms;
    int cancel = lock_op_begin(l);
    vmux__lock_lease_ran_out(l); /* an ended lease is not brought back by an extend */
    char token[TOKEN_HEX + 1], ttl[24];
    uv_mutex_lock(&l->mu);
    memcpy(token, l->token, sizeof token);
    uint64_t gen = l->gen;
    uv_mutex_unlock(&l->mu);
    snprintf(ttl, sizeof ttl, "%u", (unsigned)ttl_ms);
    vmux_str keys[] = {l->key};
    vmux_str args[] = {VMUX_STRN(token, TOKEN_HEX), VMUX_STR(ttl)};
    uint64_t sent = now_ns();
    int64_t res = 0;
    int rc = run_idempotent(l, l->extend_s, keys, 1, args, 2, true, 0, &res);
    if (rc == 0) {
        after_extend(l, gen, sent, ttl_ms, res == 1);
        if (still_held != NULL)
            *still_held = res == 1;
    }
    lock_op_end(l, cancel);
    return vmux__why_end(rc);
}

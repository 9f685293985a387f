/*
 * What the lock files share (private to lib/patterns): lock.c (a lock's life, its scripts, the
 * queries, and how its calls are made), lock_acquire.c (tokens; acquiring, and resolving a lost
 * acquire), lock_release.c (release and extend), lock_lease.c (the holding and its lease: when
 * it ends, and telling the owner it is lost) and lock_renew.c (the renewal thread).
 */
#ifndef VMUX_LOCK_INTERNAL_H
#define VMUX_LOCK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "core/errclass.h"
#include "core/nocancel.h"
#include "core/why.h"
#include "mux/handle.h"
#include "vmux/call.h"
#include "vmux/error.h"
#include "vmux/lock.h"
#include "vmux/script.h"

#define TOKEN_BYTES 16
#define TOKEN_HEX (2 * TOKEN_BYTES)
#define NS_PER_MS 1000000ull

struct vmux_lock {
    vmux *m;
    vmux_str key, fence_key; /* owned copies */
    uint32_t ttl_ms, timeout_ms, resolve_ms, retry_min_ms, retry_max_ms;
    bool auto_renew;
    double renew_fraction;
    vmux_lock_lost_cb on_lost;
    void *userdata;
    vmux_script *acquire_s, *release_s, *extend_s;

    uv_mutex_t op_mu; /* one public call at a time; held across its network calls */
    /* Under op_mu: the token of the last acquire whose reply was lost ("": none), whether its
     * outcome stayed unknown or a read found it had not run (yet), or of a release that failed
     * (refused, never sent, unresolved) when none was remembered. Only this object ever had
     * it and it does not hold the lock, so the next acquire takes over a key that holds it
     * (lock.c ACQUIRE_LUA), and vmux_lock_free() releases it. Cleared by an acquire that
     * succeeds. */
    char stray[TOKEN_HEX + 1];
    uv_mutex_t mu; /* the fields below; never held across a network call */
    char token[TOKEN_HEX + 1];
    /* A release of token got its answer: a later release must not take the record key (left
     * by that release) for a lost reply of its own. Cleared with each new token. */
    bool released;
    bool held; /* a holding not yet ended; vmux_lock_held() also needs now < lease_end */
    uint64_t fence;
    uint64_t gen; /* bumped whenever held changes, so stale renewals know they are */
    /*
     * uv_hrtime() at which this owner stops believing it holds the lock: the send time of the
     * last acquire or extend the server confirmed, plus the TTL, minus the drift margin. The
     * server starts its TTL later than we sent, so the key outlives this instant.
     */
    uint64_t lease_end;
    int renew_err;       /* the last failed renewal's error since the last success, or 0 */
    uint64_t lapsed_gen; /* the gen of the last holding ended by its lease running out */

    /* Renewal scheduling, under renewer.mu. */
    struct vmux_lock *rnext;
    bool due_set, inflight; /* the next extension, and whether one is in flight */
    uint64_t due;
    bool watch_set, expiring; /* the lease end to act on, and whether that is running now */
    uint64_t watch;
};

static inline uint64_t now_ns(void)
{
    return uv_hrtime();
}

static inline uint64_t ms_ns(uint64_t ms)
{
    return ms * NS_PER_MS;
}

/* Sent, and the outcome is unknown. */
static inline bool outcome_unknown(int rc)
{
    return rc == VMUX_ERR_CONNECTION_LOST || rc == VMUX_ERR_PROTOCOL || rc == VMUX_ERR_TIMEOUT;
}

/* Not sent, because no connection was ready: worth trying again. */
static inline bool not_sent(int rc)
{
    return rc == VMUX_ERR_NOT_CONNECTED || rc == VMUX_ERR_BACKLOG_FULL;
}

/* A resolution's read or rerun that was not sent, for want of a connection or of memory: the
 * outcome is still unknown, so it is tried again (its own VMUX_ERR_NOMEM must not become the
 * call's, which would say that nothing was sent). */
static inline bool resolve_again(int rc)
{
    return not_sent(rc) || rc == VMUX_ERR_NOMEM;
}

/*
 * Whether a command failed (rc, its reply r) with the server's "not now": its busy answers
 * (vmux__errclass_busy(): TRYAGAIN during a slot's migration, CLUSTERDOWN, LOADING, MASTERDOWN)
 * and READONLY, a primary demoted under the handle (a switch in progress: the handle follows the
 * new primary; probe52: a 200 ms wait failed on a switch of about 120 ms). The command did not
 * run and may soon: acquire_wait tries again, and a resolution of a lost reply, which learns
 * nothing from it, goes on (helper-202: a resolution's MGET answered TRYAGAIN ended acquire_wait
 * with VMUX_ERR_SERVER long before its deadline).
 */
static inline bool not_now(int rc, const vmux_reply *r)
{
    if (rc != VMUX_ERR_SERVER)
        return false;
    enum vmux_errclass c = vmux__errclass_of(r);
    return vmux__errclass_busy(c) || c == VMUX_ERRCLASS_READONLY;
}

/*
 * Takes l->op_mu for one of the lock's calls, with thread cancellation held off until
 * lock_op_end() (core/nocancel.h): a call cancelled while it sleeps between tries would leave
 * op_mu taken for good. Returns the state lock_op_end() gives back.
 */
static inline int lock_op_begin(vmux_lock *l)
{
    int cancel = vmux__nocancel();
    uv_mutex_lock(&l->op_mu);
    return cancel;
}

static inline void lock_op_end(vmux_lock *l, int cancel)
{
    uv_mutex_unlock(&l->op_mu);
    vmux__cancel_restore(cancel);
}

/*
 * Whether l is a parent's object in a forked child (its handle was opened in a parent): then
 * every call refuses VMUX_ERR_FORKED (with words) before it takes op_mu, mu or the renewer's
 * locks, which a parent thread may have held at the instant of fork() and which nobody lets go
 * in the child, and before it waits for the renewal thread, which does not exist there.
 */
static inline int lock_forked(const vmux_lock *l)
{
    if (!vmux__handle_forked(l->m))
        return 0;
    return vmux__why_set(VMUX_ERR_FORKED, "the lock's handle was opened in a parent process: "
                                          "the holding and its renewal are the parent's");
}

/* A duration of the API (ms, int64_t) that the lock can keep in 32 bits. */
static inline bool ms_valid(int64_t ms)
{
    return ms >= 0 && ms <= UINT32_MAX;
}

/* ---- calls (lock.c) ---- */

/*
 * A lost reply whose outcome stayed unknown for resolve_timeout_ms, or until the caller's wait_ms
 * ran out first (by_wait): VMUX_ERR_CONNECTION_LOST, its words (vmux_last_error()) naming what
 * ran (what), the limit that ended the resolution, and the last try's failure (last_rc, with the
 * words that try left).
 */
int vmux__lock_unresolved(const vmux_lock *l, const char *what, int last_rc, bool by_wait);

/* A call's deadline: timeout_ms, cut to what is left until deadline (when not 0). */
vmux_callopts vmux__lock_call_opts(const vmux_lock *l, uint32_t flags, uint64_t deadline);
/* Sleeps up to delay_ms but not past deadline; false when the deadline has already passed. */
bool vmux__lock_sleep_until(uint64_t deadline, uint32_t delay_ms);
/* The pause before a lost reply's attempt + 1-th resolution: 10 ms doubling to 160 ms, cut at
 * deadline; false when the deadline has already passed. */
bool vmux__lock_resolve_pause(unsigned attempt, uint64_t deadline);

/* ---- release (lock_release.c) ---- */

/*
 * vmux_lock_free()'s release of l's token (when held says it held the lock, or it has no other
 * stray token) and of its stray token: one run each, all within timeout_ms, errors ignored.
 */
void vmux__lock_release_best_effort(vmux_lock *l, bool held);

/* ---- tokens (lock_acquire.c) ---- */

/* A new random token (CSPRNG) as lowercase hex; 0 or VMUX_ERR_IO. */
int vmux__lock_new_token(char out[TOKEN_HEX + 1]);

/* ---- the holding and its lease (lock_lease.c) ---- */

/* The end of a lease confirmed by a command sent at sent with ttl_ms. */
uint64_t vmux__lock_lease_from(uint64_t sent, uint32_t ttl_ms);
/* The time from a confirmed extension to the next: renew_fraction of the TTL, at least 1 ms. */
uint64_t vmux__lock_renew_period(const vmux_lock *l);
/* How soon a failed extension is tried again: a quarter of the renewal period, at least 10 ms. */
uint64_t vmux__lock_retry_step(uint64_t period);
/*
 * Whether automatic renewal every fraction of ttl_ms leaves a safe margin: the first extension,
 * and one retry of it should it fail, come before the lease end (ttl_ms less the drift margin).
 * Beyond that, even a healthy server's answer comes after the lease ended (review helper-181:
 * with 0.99 of a 1 s TTL the lock was lost at its first lease end, every time).
 */
bool vmux__lock_renewal_fits(uint32_t ttl_ms, double fraction);
/* Sets the token that releases and extensions target. */
void vmux__lock_set_token(vmux_lock *l, const char *token);
/* An acquire sent at sent succeeded with fence: a new holding, scheduled for renewal. */
void vmux__lock_became_held(vmux_lock *l, uint64_t fence, uint64_t sent);
/* Ends this object's holding (if it held), copies its token out, and says whether a release
 * of that token already got its answer. */
bool vmux__lock_stop_holding(vmux_lock *l, char token[TOKEN_HEX + 1]);
/* A release of token got its answer (see released). */
void vmux__lock_mark_released(vmux_lock *l, const char *token);
/* Ends the holding. Under l->mu. */
void vmux__lock_end_holding(vmux_lock *l);
/* Tells the owner its lock is lost; not under any lock of ours. err 0: the token is gone. */
void vmux__lock_report_lost(vmux_lock *l, int err);
/* Ends the holding if its lease has run out, and reports it, once. Not under l->mu. */
void vmux__lock_lease_ran_out(vmux_lock *l);

/* ---- renewal (lock_renew.c) ---- */

/* Sets l's next extension and the lease end to act on. Under l->mu (then the renewer's). */
void vmux__lock_schedule(vmux_lock *l, uint64_t due, uint64_t lease_end);
/* Cancels both. Under l->mu. */
void vmux__lock_unschedule(vmux_lock *l);
/* Makes the renewal thread know l, starting it for the first lock; 0 or VMUX_ERR_NOMEM. */
int vmux__lock_renewer_add(vmux_lock *l);
/* Makes it forget l once its work on l is done; stops it after the last lock. */
void vmux__lock_renewer_remove(vmux_lock *l);

#endif

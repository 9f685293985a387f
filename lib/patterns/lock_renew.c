/*
 * Automatic renewal (lock.h): one process-wide thread, while any auto-renewing lock exists, that
 * sends each lock's extensions when due with vmux_script_run_async() and acts on each lease end.
 * The replies are handled on the handle's I/O thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nocancel.h"
#include "patterns/lock_internal.h"

/* KEYS[1] lock; ARGV[1] token. For an extension confirmed after its holding's lease ended. */
static const char DROP_LUA[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                               "  return redis.call('DEL', KEYS[1])\n"
                               "end\n"
                               "return 0\n";

/* ---- the renewal thread (one per process, while any auto-renewing lock exists) ---- */

static struct renewer {
    uv_once_t once;
    int init_rc;
    uv_mutex_t mu; /* list, stop, and each lock's rnext/due/due_set/inflight */
    uv_cond_t cv;
    uv_mutex_t life; /* starting and joining the thread */
    uv_thread_t thread;
    unsigned users;
    bool stop;
    vmux_lock *list;
} R = {.once = UV_ONCE_INIT};

static int renewer_locks_init(void)
{
    int rc = uv_mutex_init(&R.mu);
    if (rc == 0)
        rc = uv_cond_init(&R.cv);
    if (rc == 0)
        rc = uv_mutex_init(&R.life);
    return rc;
}

/*
 * In the child of fork(), before it returns there: the renewal thread was not copied, and its
 * locks may have been held by a parent thread at that instant, never to be let go here. The
 * parent's locks are not this process's to renew (their calls refuse VMUX_ERR_FORKED and their
 * vmux_lock_free() frees nothing), so the child starts with no renewer: its first renewing lock
 * (on a handle opened in the child) starts one of its own. The copied locks are made anew over
 * the old, without destroying them.
 */
static void renewer_forked(void)
{
    R.init_rc = renewer_locks_init();
    R.users = 0;
    R.stop = false;
    R.list = NULL;
}

static void renewer_init(void)
{
    R.init_rc = renewer_locks_init();
    if (R.init_rc == 0)
        R.init_rc = pthread_atfork(NULL, NULL, renewer_forked) == 0 ? 0 : UV_ENOMEM;
}

/* Sets l's next extension and the lease end to act on. Under l->mu (the order is l->mu, then
 * R.mu), so the schedule always follows the latest holding. */
void vmux__lock_schedule(vmux_lock *l, uint64_t due, uint64_t lease_end)
{
    uv_mutex_lock(&R.mu);
    l->due = due;
    l->due_set = true;
    l->watch = lease_end;
    l->watch_set = true;
    uv_cond_broadcast(&R.cv);
    uv_mutex_unlock(&R.mu);
}

/* Sets only the next extension (a retry). Under l->mu. */
static void schedule_retry(vmux_lock *l, uint64_t due)
{
    uv_mutex_lock(&R.mu);
    l->due = due;
    l->due_set = true;
    uv_cond_broadcast(&R.cv);
    uv_mutex_unlock(&R.mu);
}

/* Under l->mu. */
void vmux__lock_unschedule(vmux_lock *l)
{
    uv_mutex_lock(&R.mu);
    l->due_set = false;
    l->watch_set = false;
    uv_mutex_unlock(&R.mu);
}

/*
 * An extension that may have run came back after its holding's lease ended: the key may hold
 * our token for another TTL, and nobody believes they hold it. Deleting it (only if it still
 * holds that token) lets the next owner in sooner; the reply does not matter. Not after a
 * release: that release's own script must be the one to find the token, to report it held.
 */
static void drop_token(vmux_lock *l, const char *token)
{
    const char *argv[] = {"EVAL", DROP_LUA, "1", l->key.ptr, token};
    size_t lens[] = {4, sizeof DROP_LUA - 1, 1, l->key.len, TOKEN_HEX};
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = l->timeout_ms, .flags = VMUX_CALL_RETRY_SAFE);
    (void)vmux_call_forget(l->m, &o, 5, argv, lens);
}

/*
 * Judges a renewal of the current holding: 1 still held (rescheduled), else the holding has
 * ended and this is the reason for on_lost. Under l->mu.
 */
static int judge_renewal(vmux_lock *l, uint64_t sent, int outcome)
{
    uint64_t now = now_ns();
    uint64_t retry = vmux__lock_retry_step(vmux__lock_renew_period(l));
    int reason = outcome;
    if (now >= l->lease_end) {
        /* Confirmed too late, or not at all: held() has read false since the lease end, and a
         * holding once over stays over. */
        if (outcome != 0)
            reason = outcome < 0 ? outcome : l->renew_err != 0 ? l->renew_err : VMUX_ERR_TIMEOUT;
    } else if (outcome == 1) {
        l->lease_end = vmux__lock_lease_from(sent, l->ttl_ms);
        l->renew_err = 0;
        vmux__lock_schedule(l, now + vmux__lock_renew_period(l), l->lease_end);
        return 1;
    } else if (outcome < 0 && now + retry < l->lease_end) {
        l->renew_err = outcome;
        schedule_retry(l, now + retry);
        return 1;
    }
    vmux__lock_end_holding(l);
    return reason;
}

/* The renewal thread's work on l is finished; vmux_lock_free() may go on. */
static void renew_done(vmux_lock *l)
{
    uv_mutex_lock(&R.mu);
    l->inflight = false;
    uv_cond_broadcast(&R.cv);
    uv_mutex_unlock(&R.mu);
}

/*
 * What an extension of holding gen (sent at sent, with token: NULL when it was never sent)
 * found: 1 extended, 0 the token is gone, or an error. A failure is retried while the lease
 * lasts; the lock is declared lost when the token is gone, when the next try would come after
 * the lease end, or when the answer itself comes after it.
 */
static void renew_result(vmux_lock *l, uint64_t gen, uint64_t sent, int outcome, const char *token)
{
    int verdict = 1;
    uv_mutex_lock(&l->mu);
    bool current = l->held && l->gen == gen;
    if (current)
        verdict = judge_renewal(l, sent, outcome);
    bool lapsed = verdict != 1 || (!current && l->lapsed_gen == gen);
    uv_mutex_unlock(&l->mu);
    if (token != NULL && outcome != 0 && lapsed)
        drop_token(l, token);
    /* Before inflight is cleared, so vmux_lock_free() cannot free l under the callback. */
    if (verdict != 1)
        vmux__lock_report_lost(l, verdict);
    renew_done(l);
}

/* One extension in flight: what its callback needs. */
struct renewal {
    vmux_lock *l;
    uint64_t gen, sent;
    char token[TOKEN_HEX + 1];
};

/* On the I/O thread, once per extension (NOSCRIPT was dealt with by vmux_script_run_async()). */
static void renew_cb(int status, vmux_reply *reply, void *userdata)
{
    struct renewal *rn = userdata;
    int outcome = status;
    if (status == 0)
        outcome = vmux_reply_get_kind(reply) != VMUX_REPLY_INTEGER ? VMUX_ERR_PROTOCOL
                                                                   : vmux_reply_integer(reply) == 1;
    vmux_reply_free(reply);
    renew_result(rn->l, rn->gen, rn->sent, outcome, rn->token);
    free(rn);
}

/* The extend script, asynchronously. Its deadline is timeout_ms, cut to the lease end: an
 * answer after it could not save the holding anyway. */
static int send_extend(struct renewal *rn, uint64_t lease_end, uint32_t ttl_ms)
{
    vmux_lock *l = rn->l;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%u", (unsigned)ttl_ms);
    vmux_str args[] = {VMUX_STRN(rn->token, TOKEN_HEX), VMUX_STR(ttl)};
    vmux_callopts o = vmux__lock_call_opts(l, VMUX_CALL_RETRY_SAFE, lease_end);
    return vmux_script_run_async(l->m, &o, l->extend_s, &l->key, 1, args, 2, renew_cb, rn);
}

/* On the renewal thread, with l->inflight set. */
static void renew_fire(vmux_lock *l)
{
    struct renewal *rn = malloc(sizeof(*rn));
    uv_mutex_lock(&l->mu);
    uint64_t gen = l->gen, sent = now_ns(), lease_end = l->lease_end;
    bool live = l->held && sent < lease_end; /* a lease that has ended is the watch's */
    if (rn != NULL) {
        *rn = (struct renewal){.l = l, .gen = gen, .sent = sent};
        memcpy(rn->token, l->token, sizeof rn->token);
    }
    uv_mutex_unlock(&l->mu);
    int rc = !live ? 1 : rn == NULL ? VMUX_ERR_NOMEM : send_extend(rn, lease_end, l->ttl_ms);
    if (rc == 0)
        return;
    free(rn);
    if (live)
        renew_result(l, gen, sent, rc, NULL); /* not submitted */
    else
        renew_done(l);
}

/* The lock with the earliest event (an extension due, or a lease end), or NULL. Under R.mu. */
static vmux_lock *first_event(uint64_t *when, bool *is_watch)
{
    vmux_lock *first = NULL;
    for (vmux_lock *l = R.list; l != NULL; l = l->rnext) {
        if (l->due_set && !l->inflight && (first == NULL || l->due < *when)) {
            first = l;
            *when = l->due;
            *is_watch = false;
        }
        if (l->watch_set && (first == NULL || l->watch <= *when)) {
            first = l;
            *when = l->watch;
            *is_watch = true;
        }
    }
    return first;
}

/* Runs l's event, with R.mu held on entry and exit but not during the work. */
static void run_event(vmux_lock *l, bool is_watch)
{
    if (is_watch) {
        l->watch_set = false;
        l->expiring = true;
    } else {
        l->due_set = false;
        l->inflight = true; /* cleared when the extension's result has been handled */
    }
    uv_mutex_unlock(&R.mu);
    if (is_watch)
        vmux__lock_lease_ran_out(l);
    else
        renew_fire(l);
    uv_mutex_lock(&R.mu);
    if (is_watch) {
        l->expiring = false;
        uv_cond_broadcast(&R.cv);
    }
}

static void renewer_main(void *arg)
{
    (void)arg;
    uv_mutex_lock(&R.mu);
    while (!R.stop) {
        uint64_t when = 0;
        bool is_watch = false;
        vmux_lock *l = first_event(&when, &is_watch);
        uint64_t now = now_ns();
        if (l == NULL)
            uv_cond_wait(&R.cv, &R.mu);
        else if (when > now)
            (void)uv_cond_timedwait(&R.cv, &R.mu, when - now);
        else
            run_event(l, is_watch);
    }
    uv_mutex_unlock(&R.mu);
}

int vmux__lock_renewer_add(vmux_lock *l)
{
    uv_once(&R.once, renewer_init);
    if (R.init_rc != 0)
        return VMUX_ERR_NOMEM;
    int rc = 0;
    uv_mutex_lock(&R.life);
    if (R.users == 0) {
        R.stop = false;
        rc = uv_thread_create(&R.thread, renewer_main, NULL) == 0 ? 0 : VMUX_ERR_NOMEM;
        if (rc == 0) /* named before the lock's acquire returns (15 characters: the most) */
            pthread_setname_np(R.thread, "vmux-lock-renew");
    }
    if (rc == 0) {
        R.users++;
        uv_mutex_lock(&R.mu);
        l->rnext = R.list;
        R.list = l;
        uv_mutex_unlock(&R.mu);
    }
    uv_mutex_unlock(&R.life);
    return rc;
}

/* Unlinks l, waits for its extension in flight and a lease end being handled, and stops the
 * thread after its last user. */
void vmux__lock_renewer_remove(vmux_lock *l)
{
    int cancel = vmux__nocancel();
    uv_mutex_lock(&R.mu);
    for (vmux_lock **p = &R.list; *p != NULL; p = &(*p)->rnext)
        if (*p == l) {
            *p = l->rnext;
            break;
        }
    while (l->inflight || l->expiring)
        uv_cond_wait(&R.cv, &R.mu);
    uv_mutex_unlock(&R.mu);

    uv_mutex_lock(&R.life);
    if (--R.users == 0) {
        uv_mutex_lock(&R.mu);
        R.stop = true;
        uv_cond_broadcast(&R.cv);
        uv_mutex_unlock(&R.mu);
        uv_thread_join(&R.thread);
    }
    uv_mutex_unlock(&R.life);
    vmux__cancel_restore(cancel);
}

/*
 * Owner-checked locks with fencing tokens (lock.h). Built only on the public API: scripts for
 * acquire, release and extend; MGET to learn a lost acquire's outcome; and, for automatic
 * renewal, one process-wide timer thread that sends extends with vmux_script_run_async(), so a
 * thousand renewing locks cost one thread and no blocked caller, and the replies are handled
 * on the handle's I/O thread.
 */
#include "vmux/lock.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/sized.h"
#include "vmux/call.h"
#include "vmux/error.h"
#include "vmux/script.h"

#define TOKEN_BYTES 16
#define TOKEN_HEX (2 * TOKEN_BYTES)
#define NS_PER_MS 1000000ull

#define DEFAULT_TTL_MS 30000u
#define DEFAULT_TIMEOUT_MS 5000u
#define DEFAULT_RESOLVE_MS 10000u
#define DEFAULT_RETRY_MIN_MS 5u
#define DEFAULT_RETRY_MAX_MS 200u
#define DEFAULT_RENEW_FRACTION (1.0 / 3.0)

/* KEYS[1] lock, KEYS[2] fencing counter; ARGV[1] token, ARGV[2] ttl ms. The counter moves only
 * when the SET succeeds, in the same atomic step; if it cannot (not an integer), the SET is
 * undone so that an error never leaves a lock behind. */
static const char ACQUIRE_LUA[] =
    "if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end\n"
    "local fence = redis.pcall('INCR', KEYS[2])\n"
    "if type(fence) == 'table' and fence.err then redis.call('DEL', KEYS[1]) end\n"
    "return fence\n";

/* KEYS[1] lock, KEYS[2] release record; ARGV[1] token, ARGV[2] record ttl ms. The record makes
 * a second run answer as the first did, so a release whose reply was lost can simply run
 * again. */
static const char RELEASE_LUA[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                  "  redis.call('DEL', KEYS[1])\n"
                                  "  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])\n"
                                  "  return 1\n"
                                  "end\n"
                                  "return redis.call('EXISTS', KEYS[2])\n";

/* KEYS[1] lock; ARGV[1] token, ARGV[2] ttl ms. Running it twice leaves the same state. */
static const char EXTEND_LUA[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                 "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                 "end\n"
                                 "return 0\n";

/* KEYS[1] lock; ARGV[1] token. For an extension confirmed after its holding's lease ended. */
static const char DROP_LUA[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                               "  return redis.call('DEL', KEYS[1])\n"
                               "end\n"
                               "return 0\n";

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
    uv_mutex_t mu;    /* the fields below; never held across a network call */
    char token[TOKEN_HEX + 1];
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

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static uint64_t ms_ns(uint64_t ms)
{
    return ms * NS_PER_MS;
}

/*
 * The margin by which the owner's lease ends before the server's TTL, for clocks that run at
 * slightly different rates and for the time the lease-end timer takes to run (Redlock's
 * 1% + 2 ms).
 */
static uint64_t drift_ns(uint32_t ttl_ms)
{
    return ms_ns(ttl_ms) / 100 + 2 * NS_PER_MS;
}

/* The end of a lease confirmed by a command sent at sent with ttl_ms. */
static uint64_t lease_from(uint64_t sent, uint32_t ttl_ms)
{
    uint64_t ttl = ms_ns(ttl_ms), drift = drift_ns(ttl_ms);
    return ttl > drift ? sent + ttl - drift : sent;
}

/* ---- tokens and randomness ---- */

static int new_token(char out[TOKEN_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[TOKEN_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return VMUX_ERR_IO;
    for (size_t i = 0; i < TOKEN_BYTES; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[TOKEN_HEX] = '\0';
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

/* Sleeps up to delay_ms but not past deadline; false when the deadline has already passed. */
static bool sleep_until_or(uint64_t deadline, uint32_t delay_ms)
{
    uint64_t now = now_ns();
    if (now >= deadline)
        return false;
    uint64_t left_ms = (deadline - now + NS_PER_MS - 1) / NS_PER_MS;
    uv_sleep(delay_ms < left_ms ? delay_ms : (unsigned)left_ms);
    return true;
}

/* ---- outcomes ---- */

/* Sent, and the outcome is unknown. */
static bool outcome_unknown(int rc)
{
    return rc == VMUX_ERR_CONNECTION_LOST || rc == VMUX_ERR_PROTOCOL || rc == VMUX_ERR_TIMEOUT;
}

/* Not sent, because no connection was ready: worth trying again. */
static bool not_sent(int rc)
{
    return rc == VMUX_ERR_NOT_CONNECTED || rc == VMUX_ERR_BACKLOG_FULL;
}

/* A call's deadline: timeout_ms, cut to what is left until deadline (when not 0). */
static vmux_callopts call_opts(const vmux_lock *l, uint32_t flags, uint64_t deadline)
{
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = l->timeout_ms, .flags = flags);
    if (deadline != 0) {
        uint64_t now = now_ns();
        uint64_t left_ms = deadline > now ? (deadline - now) / NS_PER_MS : 0;
        if (left_ms < l->timeout_ms)
            o.timeout_ms = left_ms > 0 ? (int64_t)left_ms : 1;
    }
    return o;
}

static vmux_str cstr(const char *s)
{
    return (vmux_str){s, strlen(s)};
}

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

static void renewer_init(void)
{
    R.init_rc = uv_mutex_init(&R.mu);
    if (R.init_rc == 0)
        R.init_rc = uv_cond_init(&R.cv);
    if (R.init_rc == 0)
        R.init_rc = uv_mutex_init(&R.life);
}

/* Sets l's next extension and the lease end to act on. Under l->mu (the order is l->mu, then
 * R.mu), so the schedule always follows the latest holding. */
static void schedule(vmux_lock *l, uint64_t due, uint64_t lease_end)
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
static void unschedule(vmux_lock *l)
{
    uv_mutex_lock(&R.mu);
    l->due_set = false;
    l->watch_set = false;
    uv_mutex_unlock(&R.mu);
}

static uint64_t renew_period_ns(const vmux_lock *l)
{
    uint64_t p = (uint64_t)((double)ms_ns(l->ttl_ms) * l->renew_fraction);
    return p > NS_PER_MS ? p : NS_PER_MS;
}

/* Ends the holding. Under l->mu. */
static void end_holding(vmux_lock *l)
{
    l->held = false;
    l->gen++;
    if (l->auto_renew)
        unschedule(l);
}

/* Tells the owner its lock is lost; not under any lock of ours. err 0: the token is gone. */
static void report_lost(vmux_lock *l, int err)
{
    vmux_lock_lost_reason why = err == 0 ? VMUX_LOCK_LOST_TAKEN : VMUX_LOCK_LOST_LEASE_END;
    if (l->auto_renew && l->on_lost != NULL)
        l->on_lost(l, why, err, l->userdata);
}

/*
 * Ends the holding if its lease has run out, and reports it: the reason is the error of the
 * renewal that failed last, or VMUX_ERR_TIMEOUT when none answered in time. Whichever thread
 * gets here first ends it; the others find it ended, so on_lost runs once.
 */
static void lease_ran_out(vmux_lock *l)
{
    bool over = false;
    uv_mutex_lock(&l->mu);
    int reason = l->renew_err != 0 ? l->renew_err : VMUX_ERR_TIMEOUT;
    if (l->held && now_ns() >= l->lease_end) {
        l->lapsed_gen = l->gen;
        end_holding(l);
        over = true;
    }
    uv_mutex_unlock(&l->mu);
    if (over)
        report_lost(l, reason);
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
    uint64_t retry = renew_period_ns(l) / 4;
    if (retry < 10 * NS_PER_MS)
        retry = 10 * NS_PER_MS;
    int reason = outcome;
    if (now >= l->lease_end) {
        /* Confirmed too late, or not at all: held() has read false since the lease end, and a
         * holding once over stays over. */
        if (outcome != 0)
            reason = outcome < 0 ? outcome : l->renew_err != 0 ? l->renew_err : VMUX_ERR_TIMEOUT;
    } else if (outcome == 1) {
        l->lease_end = lease_from(sent, l->ttl_ms);
        l->renew_err = 0;
        schedule(l, now + renew_period_ns(l), l->lease_end);
        return 1;
    } else if (outcome < 0 && now + retry < l->lease_end) {
        l->renew_err = outcome;
        schedule_retry(l, now + retry);
        return 1;
    }
    end_holding(l);
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
        report_lost(l, verdict);
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

/* The extend script, asynchronously. Its deadline is the lease end: an answer after it could
 * not save the holding anyway. */
static int send_extend(struct renewal *rn, uint64_t lease_end, uint32_t ttl_ms)
{
    vmux_lock *l = rn->l;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%u", (unsigned)ttl_ms);
    vmux_str args[] = {VMUX_STRN(rn->token, TOKEN_HEX), cstr(ttl)};
    vmux_callopts o = call_opts(l, VMUX_CALL_RETRY_SAFE, lease_end);
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
        lease_ran_out(l);
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

static int renewer_add(vmux_lock *l)
{
    uv_once(&R.once, renewer_init);
    if (R.init_rc != 0)
        return VMUX_ERR_NOMEM;
    int rc = 0;
    uv_mutex_lock(&R.life);
    if (R.users == 0) {
        R.stop = false;
        rc = uv_thread_create(&R.thread, renewer_main, NULL) == 0 ? 0 : VMUX_ERR_NOMEM;
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
static void renewer_remove(vmux_lock *l)
{
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
}

/* ---- state changes ---- */

static void set_token(vmux_lock *l, const char *token)
{
    uv_mutex_lock(&l->mu);
    memcpy(l->token, token, TOKEN_HEX + 1);
    uv_mutex_unlock(&l->mu);
}

static void became_held(vmux_lock *l, uint64_t fence, uint64_t sent)
{
    uv_mutex_lock(&l->mu);
    l->held = true;
    l->gen++;
    l->fence = fence;
    l->lease_end = lease_from(sent, l->ttl_ms);
    l->renew_err = 0;
    if (l->auto_renew)
        schedule(l, now_ns() + renew_period_ns(l), l->lease_end);
    uv_mutex_unlock(&l->mu);
}

/* Ends this object's holding (if it held) and copies its token out. */
static void stop_holding(vmux_lock *l, char token[TOKEN_HEX + 1])
{
    uv_mutex_lock(&l->mu);
    if (l->held)
        end_holding(l);
    memcpy(token, l->token, TOKEN_HEX + 1);
    uv_mutex_unlock(&l->mu);
}
/* ---- acquire ---- */

/* The acquire script's reply: nil (taken by someone else) or the new fencing token. */
static int read_acquired(const vmux_reply *r, bool *acquired, uint64_t *fence)
{
    if (vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return 0;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_INTEGER || vmux_reply_integer(r) <= 0)
        return VMUX_ERR_PROTOCOL;
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
        return VMUX_ERR_PROTOCOL;
    size_t len = 0;
    const char *s = vmux_reply_str(v, &len);
    if (vmux_reply_get_kind(v) != VMUX_REPLY_STRING || len != TOKEN_HEX ||
        memcmp(s, token, TOKEN_HEX) != 0)
        return 0;
    const char *digits = vmux_reply_str(f, NULL);
    char *end = NULL;
    unsigned long long n = digits != NULL ? strtoull(digits, &end, 10) : 0;
    if (n == 0 || *end != '\0')
        return VMUX_ERR_PROTOCOL;
    *acquired = true;
    *fence = n;
    return 0;
}

/* An acquire's reply was lost: read the key until an answer comes or resolve_ms pass. */
static int resolve_acquire(vmux_lock *l, const char *token, bool *acquired, uint64_t *fence)
{
    uint64_t deadline = now_ns() + ms_ns(l->resolve_ms);
    const char *argv[] = {"MGET", l->key.ptr, l->fence_key.ptr};
    size_t lens[] = {4, l->key.len, l->fence_key.len};
    for (unsigned attempt = 0;; attempt++) {
        vmux_callopts o = call_opts(l, VMUX_CALL_RETRY_SAFE, deadline);
        vmux_reply *r = NULL;
        int rc = vmux_call(l->m, &o, 3, argv, lens, &r);
        if (rc == 0) {
            rc = judge_mget(r, token, acquired, fence);
            vmux_reply_free(r);
            return rc;
        }
        vmux_reply_free(r);
        if (!outcome_unknown(rc) && !not_sent(rc))
            return rc;
        uint32_t backoff = 10u << (attempt < 4 ? attempt : 4);
        if (!sleep_until_or(deadline, backoff))
            return VMUX_ERR_CONNECTION_LOST;
    }
}

static int acquire_once(vmux_lock *l, bool *acquired, uint64_t *fence)
{
    char token[TOKEN_HEX + 1], ttl[24];
    int rc = new_token(token);
    if (rc != 0)
        return rc;
    set_token(l, token); /* from now on a release targets this attempt, whatever its outcome */
    snprintf(ttl, sizeof ttl, "%u", (unsigned)l->ttl_ms);
    vmux_str keys[] = {l->key, l->fence_key};
    vmux_str args[] = {VMUX_STRN(token, TOKEN_HEX), cstr(ttl)};
    vmux_callopts o = call_opts(l, 0, 0);
    uint64_t sent = now_ns();
    vmux_reply *r = NULL;
    rc = vmux_script_run(l->m, &o, l->acquire_s, keys, 2, args, 2, &r);
    if (rc == 0)
        rc = read_acquired(r, acquired, fence);
    else if (outcome_unknown(rc))
        rc = resolve_acquire(l, token, acquired, fence);
    vmux_reply_free(r);
    if (rc == 0 && *acquired)
        became_held(l, *fence, sent);
    return rc;
}

/* A duration of the API (ms, int64_t) that the lock can keep in 32 bits. */
static bool ms_valid(int64_t ms)
{
    return ms >= 0 && ms <= UINT32_MAX;
}

/* Checks the arguments of the acquire calls and clears the out-parameters. */
static int acquire_begin(vmux_lock *l, bool *acquired, uint64_t *fence)
{
    if (acquired != NULL)
        *acquired = false;
    if (fence != NULL)
        *fence = 0;
    return l == NULL || acquired == NULL ? VMUX_ERR_INVALID_ARG : 0;
}

int vmux_lock_acquire(vmux_lock *l, bool *acquired, uint64_t *fence)
{
    bool dropped;
    if (acquired == NULL)
        acquired = &dropped;
    int rc = acquire_begin(l, acquired, fence);
    if (rc != 0)
        return rc;
    uint64_t ignored = 0;
    uv_mutex_lock(&l->op_mu);
    lease_ran_out(l); /* a holding whose lease ended is reported before a new one starts */
    rc = vmux_lock_held(l) ? VMUX_ERR_INVALID_ARG
                           : acquire_once(l, acquired, fence != NULL ? fence : &ignored);
    uv_mutex_unlock(&l->op_mu);
    return rc;
}

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
    int rc = acquire_begin(l, acquired, fence);
    if (rc == 0 && !ms_valid(wait_ms))
        rc = VMUX_ERR_INVALID_ARG;
    if (rc != 0)
        return rc;
    uint64_t ignored = 0, deadline = now_ns() + ms_ns(wait_ms);
    uv_mutex_lock(&l->op_mu);
    lease_ran_out(l);
    if (vmux_lock_held(l))
        rc = VMUX_ERR_INVALID_ARG;
    for (unsigned attempt = 0; rc == 0; attempt++) {
        rc = acquire_once(l, acquired, fence != NULL ? fence : &ignored);
        if (*acquired || (rc != 0 && !not_sent(rc)))
            break;
        if (!sleep_until_or(deadline, backoff_ms(l, attempt)))
            break; /* 0, or the not-sent error of the last attempt */
        rc = 0;
    }
    uv_mutex_unlock(&l->op_mu);
    return rc;
}

/* ---- release and extend ---- */

/*
 * Runs an idempotent script that answers with an integer. Marked retry-safe, so vmux itself
 * resends it once after a broken connection; if the outcome is still unknown, it runs again
 * until an answer comes or resolve_ms pass.
 */
static int run_idempotent(vmux_lock *l, const vmux_script *s, const vmux_str *keys, size_t nkeys,
                          const vmux_str *args, size_t nargs, int64_t *result)
{
    uint64_t deadline = 0; /* set once the first run's outcome is unknown */
    for (unsigned attempt = 0;; attempt++) {
        vmux_callopts o = call_opts(l, VMUX_CALL_RETRY_SAFE, deadline);
        vmux_reply *r = NULL;
        int rc = vmux_script_run(l->m, &o, s, keys, nkeys, args, nargs, &r);
        bool integer = rc == 0 && vmux_reply_get_kind(r) == VMUX_REPLY_INTEGER;
        if (integer)
            *result = vmux_reply_integer(r);
        vmux_reply_free(r);
        if (rc == 0)
            return integer ? 0 : VMUX_ERR_PROTOCOL; /* a reply of the wrong shape: not lost */
        bool retry = outcome_unknown(rc) || (deadline != 0 && not_sent(rc));
        if (!retry)
            return rc;
        if (deadline == 0)
            deadline = now_ns() + ms_ns(l->resolve_ms);
        uint32_t backoff = 10u << (attempt < 4 ? attempt : 4);
        if (!sleep_until_or(deadline, backoff))
            return VMUX_ERR_CONNECTION_LOST;
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

int vmux_lock_release(vmux_lock *l, bool *was_held)
{
    if (was_held != NULL)
        *was_held = false;
    if (l == NULL)
        return VMUX_ERR_INVALID_ARG;
    uv_mutex_lock(&l->op_mu);
    char token[TOKEN_HEX + 1], record_ttl[24];
    stop_holding(l, token);
    size_t rlen = 0;
    char *rkey = record_key(l, token, &rlen);
    int rc = VMUX_ERR_NOMEM;
    if (rkey != NULL) {
        /* Outlives the longest a run can take plus the time a second run may come after. */
        snprintf(record_ttl, sizeof record_ttl, "%llu",
                 (unsigned long long)l->resolve_ms + l->timeout_ms + 1000);
        vmux_str keys[] = {l->key, VMUX_STRN(rkey, rlen)};
        vmux_str args[] = {VMUX_STRN(token, TOKEN_HEX), cstr(record_ttl)};
        int64_t res = 0;
        rc = run_idempotent(l, l->release_s, keys, 2, args, 2, &res);
        if (rc == 0 && was_held != NULL)
            *was_held = res == 1;
        free(rkey);
    }
    uv_mutex_unlock(&l->op_mu);
    return rc;
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
            end_holding(l);
        } else {
            l->lease_end = lease_from(sent, ttl_ms);
            if (l->auto_renew)
                schedule(l, now_ns() + renew_period_ns(l), l->lease_end);
        }
    }
    uv_mutex_unlock(&l->mu);
    lease_ran_out(l);
}

int vmux_lock_extend(vmux_lock *l, int64_t ttl_arg, bool *still_held)
{
    if (still_held != NULL)
        *still_held = false;
    if (l == NULL || !ms_valid(ttl_arg))
        return VMUX_ERR_INVALID_ARG;
    uint32_t ttl_ms = ttl_arg != 0 ? (uint32_t)ttl_arg : l->ttl_ms;
    uv_mutex_lock(&l->op_mu);
    lease_ran_out(l); /* an ended lease is not brought back by an extend */
    char token[TOKEN_HEX + 1], ttl[24];
    uv_mutex_lock(&l->mu);
    memcpy(token, l->token, sizeof token);
    uint64_t gen = l->gen;
    uv_mutex_unlock(&l->mu);
    snprintf(ttl, sizeof ttl, "%u", (unsigned)ttl_ms);
    vmux_str keys[] = {l->key};
    vmux_str args[] = {VMUX_STRN(token, TOKEN_HEX), cstr(ttl)};
    uint64_t sent = now_ns();
    int64_t res = 0;
    int rc = run_idempotent(l, l->extend_s, keys, 1, args, 2, &res);
    if (rc == 0) {
        after_extend(l, gen, sent, ttl_ms, res == 1);
        if (still_held != NULL)
            *still_held = res == 1;
    }
    uv_mutex_unlock(&l->op_mu);
    return rc;
}

/* ---- queries ---- */

bool vmux_lock_held(const vmux_lock *lock)
{
    if (lock == NULL)
        return false;
    vmux_lock *l = (vmux_lock *)lock; /* only its mutex changes, and is back as it was */
    uv_mutex_lock(&l->mu);
    bool held = l->held && now_ns() < l->lease_end; /* the clock decides, not the renewals */
    uv_mutex_unlock(&l->mu);
    return held;
}

uint64_t vmux_lock_fence(const vmux_lock *lock)
{
    if (lock == NULL)
        return 0;
    vmux_lock *l = (vmux_lock *)lock; /* only its mutex changes, and is back as it was */
    uv_mutex_lock(&l->mu);
    uint64_t fence = l->fence;
    uv_mutex_unlock(&l->mu);
    return fence;
}

/* ---- life ---- */

/* Whether key has a hash tag: a '{' followed later by a '}' with something between. */
static bool has_hash_tag(vmux_str key)
{
    const char *k = key.ptr, *open = memchr(k, '{', key.len);
    if (open == NULL)
        return false;
    const char *close = memchr(open + 1, '}', key.len - (size_t)(open + 1 - k));
    return close != NULL && close > open + 1;
}

/* A NUL-terminated copy of n bytes at p, with prefix and suffix around them. */
static int copy_str(vmux_str *out, const char *prefix, const void *p, size_t n, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = malloc(a + n + b + 1);
    if (s == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(s, prefix, a);
    memcpy(s + a, p, n);
    memcpy(s + a + n, suffix, b + 1);
    *out = (vmux_str){s, a + n + b};
    return 0;
}

/* The fencing key: given, or sharing the lock key's cluster slot where it can (lock.h). */
static int make_fence_key(vmux_lock *l, const char *given)
{
    if (given != NULL)
        return copy_str(&l->fence_key, "", given, strlen(given), "");
    bool braces = memchr(l->key.ptr, '}', l->key.len) != NULL;
    if (has_hash_tag(l->key) || braces)
        return copy_str(&l->fence_key, "", l->key.ptr, l->key.len, ":fence");
    return copy_str(&l->fence_key, "{", l->key.ptr, l->key.len, "}:fence");
}

static int make_scripts(vmux_lock *l)
{
    int rc = vmux_script_new(cstr(ACQUIRE_LUA), &l->acquire_s);
    if (rc == 0)
        rc = vmux_script_new(cstr(RELEASE_LUA), &l->release_s);
    if (rc == 0)
        rc = vmux_script_new(cstr(EXTEND_LUA), &l->extend_s);
    return rc;
}

static void apply_opts(vmux_lock *l, const vmux_lock_opts *o)
{
    /* opts_valid() checked that each fits in 32 bits */
    l->ttl_ms = o->ttl_ms ? (uint32_t)o->ttl_ms : DEFAULT_TTL_MS;
    l->timeout_ms = o->timeout_ms ? (uint32_t)o->timeout_ms : DEFAULT_TIMEOUT_MS;
    l->resolve_ms = o->resolve_timeout_ms ? (uint32_t)o->resolve_timeout_ms : DEFAULT_RESOLVE_MS;
    l->retry_min_ms = o->retry_min_ms ? (uint32_t)o->retry_min_ms : DEFAULT_RETRY_MIN_MS;
    l->retry_max_ms = o->retry_max_ms ? (uint32_t)o->retry_max_ms : DEFAULT_RETRY_MAX_MS;
    if (l->retry_max_ms < l->retry_min_ms)
        l->retry_max_ms = l->retry_min_ms; /* only when one of them was defaulted */
    l->auto_renew = o->auto_renew;
    l->renew_fraction = o->renew_fraction > 0 ? o->renew_fraction : DEFAULT_RENEW_FRACTION;
    l->on_lost = o->on_lost;
    l->userdata = o->userdata;
}

static bool opts_valid(const vmux_lock_opts *o)
{
    if (!ms_valid(o->ttl_ms) || !ms_valid(o->timeout_ms) || !ms_valid(o->resolve_timeout_ms) ||
        !ms_valid(o->retry_min_ms) || !ms_valid(o->retry_max_ms))
        return false;
    if (!(o->renew_fraction >= 0 && o->renew_fraction < 1))
        return false;
    if (o->fence_key != NULL && o->fence_key[0] == '\0')
        return false;
    return o->retry_min_ms == 0 || o->retry_max_ms == 0 || o->retry_min_ms <= o->retry_max_ms;
}

/* Frees what vmux_lock_new() made; the renewal thread no longer knows l. */
static void lock_destroy(vmux_lock *l, bool mutexes)
{
    vmux_script_free(l->acquire_s);
    vmux_script_free(l->release_s);
    vmux_script_free(l->extend_s);
    free((void *)l->key.ptr);
    free((void *)l->fence_key.ptr);
    if (mutexes) {
        uv_mutex_destroy(&l->op_mu);
        uv_mutex_destroy(&l->mu);
    }
    free(l);
}

static int init_mutexes(vmux_lock *l)
{
    if (uv_mutex_init(&l->op_mu) != 0)
        return VMUX_ERR_NOMEM;
    if (uv_mutex_init(&l->mu) != 0) {
        uv_mutex_destroy(&l->op_mu);
        return VMUX_ERR_NOMEM;
    }
    return 0;
}

int vmux_lock_new(vmux *m, vmux_str key, const vmux_lock_opts *given, vmux_lock **out)
{
    vmux_lock_opts o = {.size = sizeof o}, *opts = &o;
    if (out != NULL)
        *out = NULL;
    if (given != NULL && vmux__sized_in(&o, sizeof o, given) != 0)
        return VMUX_ERR_INVALID_ARG;
    if (m == NULL || out == NULL || key.ptr == NULL || key.len == 0 || !opts_valid(opts))
        return VMUX_ERR_INVALID_ARG;
    vmux_lock *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return VMUX_ERR_NOMEM;
    l->m = m;
    apply_opts(l, opts);
    int rc = copy_str(&l->key, "", key.ptr, key.len, "");
    if (rc == 0)
        rc = make_fence_key(l, opts->fence_key);
    if (rc == 0)
        rc = make_scripts(l);
    if (rc == 0)
        rc = new_token(l->token); /* a release before any acquire still asks the server */
    bool mutexes = rc == 0 && (rc = init_mutexes(l)) == 0;
    if (rc == 0 && l->auto_renew)
        rc = renewer_add(l);
    if (rc != 0) {
        lock_destroy(l, mutexes);
        return rc;
    }
    *out = l;
    return 0;
}

void vmux_lock_free(vmux_lock *l)
{
    if (l == NULL)
        return;
    if (l->auto_renew)
        renewer_remove(l);
    uv_mutex_lock(&l->mu);
    bool ours = l->held; /* even past the lease end the key may still hold our token */
    uv_mutex_unlock(&l->mu);
    if (ours)
        (void)vmux_lock_release(l, NULL);
    lock_destroy(l, true);
}

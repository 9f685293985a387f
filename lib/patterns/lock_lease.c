/*
 * A lock's holding and its lease (lock.h): when the owner stops believing it holds the lock,
 * how a holding starts and ends, and telling the owner that it lost one (on_lost), once.
 */
#include <string.h>

#include "patterns/lock_internal.h"

/* ---- the lease ---- */

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
uint64_t vmux__lock_lease_from(uint64_t sent, uint32_t ttl_ms)
{
    uint64_t ttl = ms_ns(ttl_ms), drift = drift_ns(ttl_ms);
    return ttl > drift ? sent + ttl - drift : sent;
}

static uint64_t period_of(uint32_t ttl_ms, double fraction)
{
    uint64_t p = (uint64_t)((double)ms_ns(ttl_ms) * fraction);
    return p > NS_PER_MS ? p : NS_PER_MS;
}

uint64_t vmux__lock_renew_period(const vmux_lock *l)
{
    return period_of(l->ttl_ms, l->renew_fraction);
}

uint64_t vmux__lock_retry_step(uint64_t period)
{
    return period / 4 > 10 * NS_PER_MS ? period / 4 : 10 * NS_PER_MS;
}

bool vmux__lock_renewal_fits(uint32_t ttl_ms, double fraction)
{
    uint64_t period = period_of(ttl_ms, fraction);
    return period + vmux__lock_retry_step(period) <= vmux__lock_lease_from(0, ttl_ms);
}

/* Ends the holding. Under l->mu. */
void vmux__lock_end_holding(vmux_lock *l)
{
    l->held = false;
    l->gen++;
    if (l->auto_renew)
        vmux__lock_unschedule(l);
}

/* Tells the owner its lock is lost; not under any lock of ours. err 0: the token is gone. */
void vmux__lock_report_lost(vmux_lock *l, int err)
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
void vmux__lock_lease_ran_out(vmux_lock *l)
{
    bool over = false;
    uv_mutex_lock(&l->mu);
    int reason = l->renew_err != 0 ? l->renew_err : VMUX_ERR_TIMEOUT;
    if (l->held && now_ns() >= l->lease_end) {
        l->lapsed_gen = l->gen;
        vmux__lock_end_holding(l);
        over = true;
    }
    uv_mutex_unlock(&l->mu);
    if (over)
        vmux__lock_report_lost(l, reason);
}

/* ---- state changes ---- */

void vmux__lock_set_token(vmux_lock *l, const char *token)
{
    uv_mutex_lock(&l->mu);
    memcpy(l->token, token, TOKEN_HEX + 1);
    l->released = false;
    uv_mutex_unlock(&l->mu);
}

void vmux__lock_mark_released(vmux_lock *l, const char *token)
{
    uv_mutex_lock(&l->mu);
    if (memcmp(l->token, token, TOKEN_HEX) == 0)
        l->released = true;
    uv_mutex_unlock(&l->mu);
}

void vmux__lock_became_held(vmux_lock *l, uint64_t fence, uint64_t sent)
{
    uv_mutex_lock(&l->mu);
    l->held = true;
    l->gen++;
    l->fence = fence;
    l->lease_end = vmux__lock_lease_from(sent, l->ttl_ms);
    l->renew_err = 0;
    if (l->auto_renew)
        vmux__lock_schedule(l, now_ns() + vmux__lock_renew_period(l), l->lease_end);
    uv_mutex_unlock(&l->mu);
}

/* Ends this object's holding (if it held), copies its token out, and says whether it was
 * released already. */
bool vmux__lock_stop_holding(vmux_lock *l, char token[TOKEN_HEX + 1])
{
    uv_mutex_lock(&l->mu);
    if (l->held)
        vmux__lock_end_holding(l);
    memcpy(token, l->token, TOKEN_HEX + 1);
    bool released = l->released;
    uv_mutex_unlock(&l->mu);
    return released;
}

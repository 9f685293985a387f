/* Rate limiting (ratelimit.h): one script per algorithm, each check one atomic round trip. */
#include "vmux/ratelimit.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/typed.h"
#include "core/sized.h"
#include "vmux/error.h"
#include "vmux/keys.h"
#include "vmux/reply.h"
#include "vmux/script.h"

/* Bounds every number the scripts see: Lua's doubles hold integers exactly up to 2^53, and the
 * largest the scripts make is a server time in microseconds (about 2^51 today) plus a window or
 * a GCRA tolerance (at most 2^40 ms, about 2^50 us). */
#define MAX_VALUE (INT64_C(1) << 40)

/*
 * The scripts. Times are microseconds of the server's clock; a script reads it once (TIME) and
 * every decision of a check uses that one instant. Each returns {allowed (1/0), remaining,
 * retry_after_ms, reset_after_ms}. Every write sets the key's expiry in the same script, to a
 * little after the state stops mattering.
 */
#define NOW_US                                                                                     \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"

/* A hash {end = the window's end, used = units spent in it}. ARGV: limit, window (us), cost. */
static const char FIXED_LUA[] =
    "local limit, win, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n" NOW_US
    "local v = redis.call('HMGET', KEYS[1], 'end', 'used')\n"
    "local e, used = tonumber(v[1]), tonumber(v[2])\n"
    "if e == nil or used == nil or now >= e then e, used = now + win, 0 end\n"
    "local ok = used + cost <= limit\n"
    "if ok and cost > 0 then\n"
    "  used = used + cost\n"
    "  redis.call('HSET', KEYS[1], 'end', string.format('%d', e), 'used', used)\n"
    "  redis.call('PEXPIRE', KEYS[1], math.ceil((e - now) / 1000) + 1)\n"
    "end\n"
    "local left = math.ceil((e - now) / 1000)\n"
    "local retry = 0\n"
    "if not ok then retry = cost > limit and -1 or left end\n"
    "if used == 0 then left = 0 end\n"
    "return {ok and 1 or 0, limit - used, retry, left}\n";

/*
 * A sorted set with one entry per unit spent, scored with the time it was spent. Members are
 * "<time>.<index>": within one microsecond the count only grows, so an index is never reused
 * while its time is. ARGV: limit, window (us), cost.
 */
static const char SLIDING_LUA[] =
    "local limit, win, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n" NOW_US
    "local k = KEYS[1]\n"
    "redis.call('ZREMRANGEBYSCORE', k, '-inf', string.format('%d', now - win))\n"
    "local used = redis.call('ZCARD', k)\n"
    "local ok = used + cost <= limit\n"
    "if ok and cost > 0 then\n"
    "  local ts = string.format('%d', now)\n"
    "  local i = 0\n"
    "  while i < cost do\n"
    "    local args = {}\n"
    "    for j = i, math.min(cost, i + 500) - 1 do\n"
    "      args[#args + 1] = ts\n"
    "      args[#args + 1] = ts .. '.' .. string.format('%d', used + j)\n"
    "    end\n"
    "    redis.call('ZADD', k, unpack(args))\n"
    "    i = i + 500\n"
    "  end\n"
    "  used = used + cost\n"
    "  redis.call('PEXPIRE', k, math.ceil(win / 1000) + 1)\n"
    "end\n"
    /* ms until the entry at rank r (0 = oldest, -1 = newest) leaves the window */
    "local function leaves(r)\n"
    "  local e = redis.call('ZRANGE', k, r, r, 'WITHSCORES')\n"
    "  return math.ceil((tonumber(e[2]) + win - now) / 1000)\n"
    "end\n"
    "local retry = 0\n"
    "if not ok then retry = cost > limit and -1 or leaves(used + cost - limit - 1) end\n"
    "local reset = 0\n"
    "if used > 0 then reset = leaves(-1) end\n"
    "return {ok and 1 or 0, limit - used, retry, reset}\n";

/*
 * GCRA: the key holds the theoretical arrival time (TAT) of the next unit. A request of cost c
 * passes when its TAT, tat + c*T, is at most tau past now; T is the emission interval
 * (period / rate) and tau = T * burst. ARGV: T (us), tau (us), cost.
 */
static const char GCRA_LUA[] =
    "local T, tau, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n" NOW_US
    "local v = redis.call('GET', KEYS[1])\n"
    "local tat = now\n"
    "if v then\n"
    "  tat = tonumber(v)\n"
    "  if not tat then return redis.error_reply('ERR the key does not hold a GCRA state') end\n"
    "  if tat < now then tat = now end\n"
    "end\n"
    /* whole units that fit in x us, exactly (a double quotient may round up to the next) */
    "local function units(x)\n"
    "  local n = math.floor(x / T)\n"
    "  if n * T > x then n = n - 1 end\n"
    "  if n < 0 then n = 0 end\n"
    "  return n\n"
    "end\n"
    "local new = tat + T * cost\n"
    "if new - tau <= now then\n"
    "  if cost > 0 then\n"
    "    redis.call('SET', KEYS[1], string.format('%d', new), 'PX',\n"
    "               math.ceil((new - now) / 1000) + 1)\n"
    "  end\n"
    "  return {1, units(tau - (new - now)), 0, math.ceil((new - now) / 1000)}\n"
    "end\n"
    "local retry = T * cost > tau and -1 or math.ceil((new - tau - now) / 1000)\n"
    "return {0, units(tau - (tat - now)), retry, math.ceil((tat - now) / 1000)}\n";

struct vmux_ratelimit {
    vmux *m;
    vmux_script *script;
    /* The script's first two arguments: limit and window (us) for the windows; T and tau (us)
     * for GCRA. */
    int64_t arg1, arg2;
    int64_t limit; /* as reported: limit, or burst for GCRA */
    int64_t timeout_ms;
    vmux_ratelimit_on_error on_error;
    _Atomic uint64_t errors;
    size_t prefix_len;
    char prefix[];
};

static const char *const DEFAULT_PREFIX[] = {"vmux:rl:fixed:", "vmux:rl:sliding:", "vmux:rl:gcra:"};
static const char *const SOURCE[] = {FIXED_LUA, SLIDING_LUA, GCRA_LUA};

static bool in_range(int64_t v, int64_t lo, int64_t hi)
{
    return v >= lo && v <= hi;
}

/* Fills rl's numbers from opts; false when they are out of range. */
static bool set_numbers(struct vmux_ratelimit *rl, const vmux_ratelimit_opts *o)
{
    if (!in_range(o->limit, 1, MAX_VALUE) || !in_range(o->period_ms, 1, MAX_VALUE))
        return false;
    int64_t period_us = o->period_ms * 1000;
    if (o->algorithm != VMUX_RATELIMIT_GCRA) {
        rl->arg1 = rl->limit = o->limit;
        rl->arg2 = period_us;
        return true;
    }
    int64_t burst = o->burst == 0 ? o->limit : o->burst;
    /* T rounded to the microsecond: the rate is exact to within 0.5 us per unit. An exact T
     * below 1 us is refused, not rounded up to 1 us, which would change the rate. */
    if (o->limit > period_us)
        return false;
    int64_t t = (period_us + o->limit / 2) / o->limit;
    if (!in_range(burst, 1, MAX_VALUE) || burst > MAX_VALUE * 1000 / t)
        return false;
    rl->arg1 = t;
    rl->arg2 = t * burst;
    rl->limit = burst;
    return true;
}

static bool opts_valid(const vmux_ratelimit_opts *o)
{
    return (o->algorithm == VMUX_RATELIMIT_FIXED_WINDOW ||
            o->algorithm == VMUX_RATELIMIT_SLIDING_WINDOW || o->algorithm == VMUX_RATELIMIT_GCRA) &&
           (o->on_error == VMUX_RATELIMIT_FAIL_OPEN || o->on_error == VMUX_RATELIMIT_FAIL_CLOSED);
}

int vmux_ratelimit_new(vmux *m, const vmux_ratelimit_opts *opts, vmux_ratelimit **out)
{
    if (out != NULL)
        *out = NULL;
    vmux_ratelimit_opts o;
    if (m == NULL || opts == NULL || out == NULL || vmux__sized_in(&o, sizeof o, opts) != 0 ||
        !opts_valid(&o) || o.timeout_ms < 0)
        return VMUX_ERR_INVALID_ARG;
    opts = &o;
    const char *prefix = opts->prefix ? opts->prefix : DEFAULT_PREFIX[opts->algorithm];
    size_t plen = strlen(prefix);
    struct vmux_ratelimit *rl = calloc(1, sizeof(*rl) + plen + 1);
    if (rl == NULL)
        return VMUX_ERR_NOMEM;
    if (!set_numbers(rl, opts)) {
        free(rl);
        return VMUX_ERR_INVALID_ARG;
    }
    int rc = vmux_script_new(VMUX_STR(SOURCE[opts->algorithm]), &rl->script);
    if (rc != 0) {
        free(rl);
        return rc;
    }
    rl->m = m;
    rl->timeout_ms = opts->timeout_ms;
    rl->on_error = opts->on_error;
    atomic_init(&rl->errors, 0);
    memcpy(rl->prefix, prefix, plen + 1);
    rl->prefix_len = plen;
    *out = rl;
    return 0;
}

void vmux_ratelimit_free(vmux_ratelimit *rl)
{
    if (rl == NULL)
        return;
    vmux_script_free(rl->script);
    free(rl);
}

/* The prefixed key, in buf when it fits (cap bytes), else malloc'ed; NULL when out of memory. */
static char *full_key(const vmux_ratelimit *rl, vmux_str key, char *buf, size_t cap)
{
    size_t n = rl->prefix_len + key.len;
    char *k = n <= cap ? buf : malloc(n);
    if (k == NULL)
        return NULL;
    memcpy(k, rl->prefix, rl->prefix_len);
    if (key.len > 0)
        memcpy(k + rl->prefix_len, key.ptr, key.len);
    return k;
}

/* The script's {allowed, remaining, retry_after_ms, reset_after_ms}, into int64_t[4]. */
static int conv_counts(const vmux_reply *r, void *out)
{
    int64_t *v = out;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) != 4)
        return VMUX_ERR_PROTOCOL;
    for (size_t i = 0; i < 4; i++) {
        const vmux_reply *e = vmux_reply_element(r, i);
        if (vmux_reply_get_kind(e) != VMUX_REPLY_INTEGER) {
            memset(v, 0, 4 * sizeof(*v));
            return VMUX_ERR_PROTOCOL;
        }
        v[i] = vmux_reply_integer(e);
    }
    return 0;
}

/* Runs the limiter's script for the prefixed key k (klen bytes). */
static int run_check(vmux_ratelimit *rl, const char *k, size_t klen, int64_t cost,
                     vmux_ratelimit_result *out)
{
    char a[3][24];
    int alen[3];
    alen[0] = snprintf(a[0], sizeof a[0], "%" PRId64, rl->arg1);
    alen[1] = snprintf(a[1], sizeof a[1], "%" PRId64, rl->arg2);
    alen[2] = snprintf(a[2], sizeof a[2], "%" PRId64, cost);
    vmux_str args[3];
    for (int i = 0; i < 3; i++)
        args[i] = VMUX_STRN(a[i], (size_t)alen[i]);
    vmux_str keys[1] = {VMUX_STRN(k, klen)};
    vmux_callopts co = VMUX_INIT(vmux_callopts, .timeout_ms = rl->timeout_ms);
    vmux_reply *r = NULL;
    int64_t v[4];
    int rc = vmux_script_run(rl->m, &co, rl->script, keys, 1, args, 3, &r);
    rc = vmux__reply_into(rc, r, conv_counts, v, sizeof v, NULL);
    if (rc == 0)
        *out = VMUX_INIT(vmux_ratelimit_result, .allowed = v[0] == 1, .limit = rl->limit,
                         .remaining = v[1], .retry_after_ms = v[2], .reset_after_ms = v[3]);
    return rc;
}

static int checked(vmux_ratelimit *rl, vmux_str key, int64_t cost, vmux_ratelimit_result *out)
{
    if (!in_range(cost, 0, MAX_VALUE) || (key.len > 0 && key.ptr == NULL))
        return VMUX_ERR_INVALID_ARG;
    char buf[256];
    char *k = full_key(rl, key, buf, sizeof buf);
    if (k == NULL)
        return VMUX_ERR_NOMEM;
    int rc = run_check(rl, k, rl->prefix_len + key.len, cost, out);
    if (k != buf)
        free(k);
    return rc;
}

int vmux_ratelimit_check(vmux_ratelimit *rl, vmux_str key, int64_t cost, vmux_ratelimit_result *out)
{
    vmux_ratelimit_result res = {.size = sizeof res};
    /* zeroes *out first, as far as its size goes (abi.h) */
    int rc = out != NULL ? vmux__sized_out(out, &res, sizeof res) : 0;
    if (rl == NULL)
        return VMUX_ERR_INVALID_ARG;
    if (rc == 0)
        rc = checked(rl, key, cost, &res);
    if (rc != 0)
        atomic_fetch_add_explicit(&rl->errors, 1, memory_order_relaxed);
    else if (out != NULL)
        vmux__sized_out(out, &res, sizeof res);
    return rc;
}

bool vmux_ratelimit_allow(vmux_ratelimit *rl, vmux_str key, int64_t cost,
                          vmux_ratelimit_result *out, int *err)
{
    vmux_ratelimit_result res = {.size = sizeof res};
    int rc = vmux_ratelimit_check(rl, key, cost, &res);
    if (rc != 0)
        res = VMUX_INIT(vmux_ratelimit_result,
                        .allowed = rl != NULL && rl->on_error == VMUX_RATELIMIT_FAIL_OPEN,
                        .limit = rl != NULL ? rl->limit : 0, .retry_after_ms = -1,
                        .reset_after_ms = -1);
    if (out != NULL && vmux__sized_out(out, &res, sizeof res) != 0 && rc == 0)
        rc = VMUX_ERR_INVALID_ARG;
    if (err != NULL)
        *err = rc;
    return res.allowed;
}

int vmux_ratelimit_reset(vmux_ratelimit *rl, vmux_str key)
{
    if (rl == NULL || (key.len > 0 && key.ptr == NULL))
        return VMUX_ERR_INVALID_ARG;
    char buf[256];
    char *k = full_key(rl, key, buf, sizeof buf);
    if (k == NULL)
        return VMUX_ERR_NOMEM;
    vmux_str keys[1] = {VMUX_STRN(k, rl->prefix_len + key.len)};
    vmux_callopts co = VMUX_INIT(vmux_callopts, .timeout_ms = rl->timeout_ms);
    int64_t deleted = 0;
    int rc = vmux_del(rl->m, &co, keys, 1, &deleted);
    if (k != buf)
        free(k);
    return rc;
}

uint64_t vmux_ratelimit_errors(const vmux_ratelimit *rl)
{
    if (rl == NULL)
        return 0;
    /* C11's atomic_load takes a non-const pointer; reading does not modify */
    return atomic_load_explicit((_Atomic uint64_t *)&rl->errors, memory_order_relaxed);
}

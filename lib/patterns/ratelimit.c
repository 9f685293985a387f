/* Rate limiting (ratelimit.h): one script per algorithm, each check one atomic round trip. */
#include "vmux/ratelimit.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/typed.h"
#include "core/sized.h"
#include "mux/handle.h"
#include "core/why.h"
#include "patterns/prefixed_key.h"
#include "vmux/error.h"
#include "vmux/keys.h"
#include "vmux/reply.h"
#include "vmux/script.h"

/* Bounds every number the scripts see: Lua's doubles hold integers exactly up to 2^53, and the
 * largest the scripts make is a server time in microseconds (about 2^51 today) plus a window or
 * a GCRA tolerance (at most 2^40 ms, about 2^50 us), or the sliding window's count of units
 * (at most 2^50) plus a cost. */
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
 * A sorted set with one entry per allowed request of cost > 0, scored with the time it was
 * spent and named "<cum>:<cost>", where cum (zero-padded to 16 digits) counts the key's units
 * spent up to and including this request. Times never go back (a clock that did stamps the
 * newest entry's time instead) and cum only grows, so rank, time and cum agree, members are
 * unique even within one microsecond, and the units in the window are cum(newest) -
 * cum(oldest) + cost(oldest): a few O(log n) calls whatever the cost and the limit, and for a
 * refusal a binary search by rank for the request whose leaving frees enough. cum stays at most
 * 2^50, exact in Lua's doubles: a request that would pass it first rebases every member, at
 * most once per 2^50 - 2^40 units spent (amortised, each entry at most once). A key in the
 * per-unit format of 0.1 (members "<time>.<index>") becomes one entry holding all its units,
 * stamped with its newest unit's time. ARGV: limit, window (us), cost.
 */
static const char SLIDING_LUA[] =
    "local limit, win, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n" NOW_US
    "local k = KEYS[1]\n"
    "local MAX_CUM = 1125899906842624\n" /* 2^50 */
    "redis.call('ZREMRANGEBYSCORE', k, '-inf', string.format('%d', now - win))\n"
    "local function add(t, cum, c)\n"
    "  redis.call('ZADD', k, string.format('%d', t), string.format('%016d:%d', cum, c))\n"
    "end\n"
    /* the entry at rank r (0 = oldest, -1 = newest): its time, cum and cost; cum is nil for a
     * member of the per-unit format */
    "local function at(r)\n"
    "  local e = redis.call('ZRANGE', k, r, r, 'WITHSCORES')\n"
    "  if #e == 0 then return nil end\n"
    "  local c, n = string.match(e[1], '^(%d+):(%d+)$')\n"
    "  return tonumber(e[2]), tonumber(c), tonumber(n)\n"
    "end\n"
    "local function upgrade()\n"
    "  local n, t = redis.call('ZCARD', k), at(-1)\n"
    "  redis.call('UNLINK', k)\n"
    "  add(t, n, n)\n"
    "  redis.call('PEXPIRE', k, math.ceil((t + win - now) / 1000) + 1)\n"
    "end\n"
    /* every member's cum less base, the scores kept; 500 entries a ZADD */
    "local function rebase(base)\n"
    "  local all = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')\n"
    "  redis.call('DEL', k)\n"
    "  for i = 1, #all, 1000 do\n"
    "    local args = {}\n"
    "    for j = i, math.min(#all, i + 998), 2 do\n"
    "      local c, n = string.match(all[j], '^(%d+):(%d+)$')\n"
    "      args[#args + 1] = all[j + 1]\n"
    "      args[#args + 1] = string.format('%016d:%s', tonumber(c) - base, n)\n"
    "    end\n"
    "    redis.call('ZADD', k, unpack(args))\n"
    "  end\n"
    "end\n"
    "local t0, c0, n0 = at(0)\n"
    "local t1, c1 = at(-1)\n"
    "if t0 and not (c0 and c1) then\n"
    "  upgrade()\n"
    "  t0, c0, n0 = at(0)\n"
    "  t1, c1 = t0, c0\n"
    "end\n"
    "local base = t0 and c0 - n0 or 0\n"
    "local used = t0 and c1 - base or 0\n"
    "local ok = used + cost <= limit\n"
    "if ok and cost > 0 then\n"
    "  if t1 and c1 + cost > MAX_CUM then\n"
    "    rebase(base)\n"
    "    c1, base = used, 0\n"
    "  end\n"
    "  t1, c1 = math.max(now, t1 or now), (c1 or 0) + cost\n"
    "  add(t1, c1, cost)\n"
    "  used = used + cost\n"
    "  redis.call('PEXPIRE', k, math.ceil((t1 + win - now) / 1000) + 1)\n"
    "end\n"
    /* ms until an entry of time t leaves the window */
    "local function leaves(t)\n"
    "  return math.ceil((t + win - now) / 1000)\n"
    "end\n"
    /* the rank of the oldest entry by whose leaving need units will have left */
    "local function freeing(need)\n"
    "  local lo, hi = 0, redis.call('ZCARD', k) - 1\n"
    "  while lo < hi do\n"
    "    local mid = math.floor((lo + hi) / 2)\n"
    "    local _, c = at(mid)\n"
    "    if c - base >= need then hi = mid else lo = mid + 1 end\n"
    "  end\n"
    "  return lo\n"
    "end\n"
    "local retry = 0\n"
    "if not ok then retry = cost > limit and -1 or leaves((at(freeing(used + cost - limit)))) end\n"
    "local reset = 0\n"
    "if used > 0 then reset = leaves(t1) end\n"
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

/* A number of opts within 1 .. 2^40, or VMUX_ERR_INVALID_ARG naming it. */
static int check_range(const char *field, int64_t v)
{
    return in_range(v, 1, MAX_VALUE)
               ? 0
               : vmux__why_set(VMUX_ERR_INVALID_ARG, "opts->%s %" PRId64 " out of range 1 .. 2^40",
                               field, v);
}

/* GCRA's T and tau (us) from opts, whose limit and period_ms are in range. */
static int set_gcra(struct vmux_ratelimit *rl, const vmux_ratelimit_opts *o, int64_t period_us)
{
    int64_t burst = o->burst == 0 ? o->limit : o->burst;
    /* T rounded to the microsecond: the rate is exact to within 0.5 us per unit. An exact T
     * below 1 us is refused, not rounded up to 1 us, which would change the rate. */
    if (o->limit > period_us)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "GCRA: limit %" PRId64 " per period_ms %" PRId64
                             " is faster than one unit a microsecond (limit <= period_ms * 1000)",
                             o->limit, o->period_ms);
    int64_t t = (period_us + o->limit / 2) / o->limit;
    int rc = check_range("burst", burst);
    if (rc == 0 && burst > MAX_VALUE * 1000 / t)
        rc = vmux__why_set(VMUX_ERR_INVALID_ARG,
                           "GCRA: burst %" PRId64 " takes over 2^40 ms to earn at limit %" PRId64
                           " per period_ms %" PRId64,
                           burst, o->limit, o->period_ms);
    if (rc != 0)
        return rc;
    rl->arg1 = t;
    rl->arg2 = t * burst;
    rl->limit = burst;
    return 0;
}

/* Fills rl's numbers from opts; VMUX_ERR_INVALID_ARG, in words, when they are out of range. */
static int set_numbers(struct vmux_ratelimit *rl, const vmux_ratelimit_opts *o)
{
    int rc = check_range("limit", o->limit);
    if (rc == 0)
        rc = check_range("period_ms", o->period_ms);
    if (rc != 0)
        return rc;
    int64_t period_us = o->period_ms * 1000;
    if (o->algorithm == VMUX_RATELIMIT_GCRA)
        return set_gcra(rl, o, period_us);
    rl->arg1 = rl->limit = o->limit;
    rl->arg2 = period_us;
    return 0;
}

/* 0, or VMUX_ERR_INVALID_ARG with the words of what is wrong (vmux_last_error()). */
static int check_args(vmux *m, const vmux_ratelimit_opts *opts, vmux_ratelimit **out,
                      vmux_ratelimit_opts *o)
{
    if (m == NULL || opts == NULL || out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL",
                             m == NULL      ? "the handle"
                             : opts == NULL ? "opts (limit and period_ms are required)"
                                            : "out");
    if (vmux__sized_in(o, sizeof *o, opts) != 0)
        return vmux__why_sized("opts", opts->size, sizeof *o);
    if (o->algorithm != VMUX_RATELIMIT_FIXED_WINDOW &&
        o->algorithm != VMUX_RATELIMIT_SLIDING_WINDOW && o->algorithm != VMUX_RATELIMIT_GCRA)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "opts->algorithm %d is none of VMUX_RATELIMIT_FIXED_WINDOW, "
                             "VMUX_RATELIMIT_SLIDING_WINDOW and VMUX_RATELIMIT_GCRA",
                             (int)o->algorithm);
    if (o->on_error != VMUX_RATELIMIT_FAIL_OPEN && o->on_error != VMUX_RATELIMIT_FAIL_CLOSED)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "opts->on_error %d is neither VMUX_RATELIMIT_FAIL_OPEN nor "
                             "VMUX_RATELIMIT_FAIL_CLOSED",
                             (int)o->on_error);
    if (o->timeout_ms < 0)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "opts->timeout_ms %" PRId64
                             " is negative (0: the handle's syncTimeout)",
                             o->timeout_ms);
    return 0;
}

static int make_ratelimit(vmux *m, const vmux_ratelimit_opts *opts, vmux_ratelimit **out)
{
    if (out != NULL)
        *out = NULL;
    vmux_ratelimit_opts o;
    int rc = check_args(m, opts, out, &o);
    if (rc != 0)
        return rc;
    if (vmux__handle_forked(m))
        return VMUX_ERR_FORKED; /* as vmux_lock_new(): every call on it would fail so */
    opts = &o;
    const char *prefix = opts->prefix ? opts->prefix : DEFAULT_PREFIX[opts->algorithm];
    size_t plen = strlen(prefix);
    struct vmux_ratelimit *rl = calloc(1, sizeof(*rl) + plen + 1);
    if (rl == NULL)
        return VMUX_ERR_NOMEM;
    if ((rc = set_numbers(rl, opts)) != 0 ||
        (rc = vmux_script_new(VMUX_STR(SOURCE[opts->algorithm]), &rl->script)) != 0) {
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

int vmux_ratelimit_new(vmux *m, const vmux_ratelimit_opts *opts, vmux_ratelimit **out)
{
    vmux__why_begin();
    return vmux__why_end(make_ratelimit(m, opts, out));
}

void vmux_ratelimit_free(vmux_ratelimit *rl)
{
    if (rl == NULL)
        return;
    vmux_script_free(rl->script);
    free(rl);
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
    vmux__why_opts(&co);
    vmux_reply *r = NULL;
    int64_t v[4];
    int rc = vmux_script_run(rl->m, &co, rl->script, keys, 1, args, 3, &r);
    rc = vmux__reply_into(rc, r, conv_counts, v, sizeof v, NULL);
    if (rc == VMUX_ERR_PROTOCOL)
        vmux__why_set(rc, "the rate limiter's script answered other than 4 integers");
    if (rc == 0)
        *out = VMUX_INIT(vmux_ratelimit_result, .allowed = v[0] == 1, .limit = rl->limit,
                         .remaining = v[1], .retry_after_ms = v[2], .reset_after_ms = v[3]);
    return rc;
}

static int checked(vmux_ratelimit *rl, vmux_str key, int64_t cost, vmux_ratelimit_result *out)
{
    if (!in_range(cost, 0, MAX_VALUE))
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "cost %" PRId64 " out of range 0 .. 2^40", cost);
    if (key.len > 0 && key.ptr == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "key.ptr NULL with key.len %zu", key.len);
    struct vmux__prefixed_key k;
    if (vmux__prefixed_key_make(&k, rl->prefix, rl->prefix_len, key) != 0)
        return VMUX_ERR_NOMEM;
    int rc = run_check(rl, k.ptr, k.len, cost, out);
    vmux__prefixed_key_free(&k);
    return rc;
}

int vmux_ratelimit_check(vmux_ratelimit *rl, vmux_str key, int64_t cost, vmux_ratelimit_result *out)
{
    vmux_ratelimit_result res = {.size = sizeof res};
    vmux__why_begin();
    /* zeroes *out first, as far as its size goes (abi.h) */
    int rc = out != NULL ? vmux__sized_out(out, &res, sizeof res) : 0;
    if (rl == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "rl is NULL");
    if (rc != 0)
        vmux__why_set(rc, "out->size %zu below sizeof(size_t)", out->size);
    else
        rc = checked(rl, key, cost, &res);
    if (rc != 0)
        atomic_fetch_add_explicit(&rl->errors, 1, memory_order_relaxed);
    else if (out != NULL)
        vmux__sized_out(out, &res, sizeof res);
    return vmux__why_end(rc);
}

bool vmux_ratelimit_allow(vmux_ratelimit *rl, vmux_str key, int64_t cost,
                          vmux_ratelimit_result *out, int *err)
{
    vmux_ratelimit_result res = {.size = sizeof res};
    int rc = vmux_ratelimit_check(rl, key, cost, &res);
    if (rc != 0) /* a refused argument is the caller's bug, not Valkey away: never let through */
        res = VMUX_INIT(vmux_ratelimit_result,
                        .allowed = rc != VMUX_ERR_INVALID_ARG && rl != NULL &&
                                   rl->on_error == VMUX_RATELIMIT_FAIL_OPEN,
                        .limit = rl != NULL ? rl->limit : 0, .retry_after_ms = -1,
                        .reset_after_ms = -1);
    if (out != NULL && vmux__sized_out(out, &res, sizeof res) != 0 && rc == 0)
        rc = vmux__why_set(VMUX_ERR_INVALID_ARG, "out->size %zu below sizeof(size_t)", out->size);
    if (err != NULL)
        *err = rc;
    return res.allowed;
}

int vmux_ratelimit_reset(vmux_ratelimit *rl, vmux_str key)
{
    vmux__why_begin();
    if (rl == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "rl is NULL");
    if (key.len > 0 && key.ptr == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "key.ptr NULL with key.len %zu", key.len);
    struct vmux__prefixed_key k;
    if (vmux__prefixed_key_make(&k, rl->prefix, rl->prefix_len, key) != 0)
        return vmux__why_end(VMUX_ERR_NOMEM);
    vmux_str keys[1] = {VMUX_STRN(k.ptr, k.len)};
    vmux_callopts co = VMUX_INIT(vmux_callopts, .timeout_ms = rl->timeout_ms);
    vmux__why_opts(&co);
    int64_t deleted = 0;
    int rc = vmux_del(rl->m, &co, keys, 1, &deleted);
    vmux__prefixed_key_free(&k);
    return vmux__why_end(rc);
}

uint64_t vmux_ratelimit_errors(const vmux_ratelimit *rl)
{
    if (rl == NULL)
        return 0;
    /* C11's atomic_load takes a non-const pointer; reading does not modify */
    return atomic_load_explicit((_Atomic uint64_t *)&rl->errors, memory_order_relaxed);
}

/*
 * Owner-checked locks with fencing tokens (lock.h). Built only on the public API: scripts for
 * acquire, release and extend; MGET to learn a lost acquire's outcome; and, for automatic
 * renewal, one process-wide timer thread that sends extends with vmux_script_run_async(), so a
 * thousand renewing locks cost one thread and no blocked caller, and the replies are handled
 * on the handle's I/O thread.
 *
 * This file: a lock's life (options, keys, scripts), the queries, and how its calls are made.
 * Acquiring is in lock_acquire.c, release and extend in lock_release.c, the holding and its
 * lease in lock_lease.c, renewal in lock_renew.c; lock_internal.h is what they share.
 */
#include "vmux/lock.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/sized.h"
#include "core/errbuf.h"
#include "core/why.h"
#include "patterns/lock_internal.h"
#include "route/slot.h"

#define DEFAULT_TTL_MS 30000u
#define DEFAULT_TIMEOUT_MS 5000u
#define DEFAULT_RESOLVE_MS 10000u
#define DEFAULT_RETRY_MIN_MS 5u
#define DEFAULT_RETRY_MAX_MS 200u
#define DEFAULT_RENEW_FRACTION (1.0 / 3.0)

/* KEYS[1] lock, KEYS[2] fencing counter; ARGV[1] token, ARGV[2] ttl ms, ARGV[3] (optional) the
 * token of this object's last acquire whose outcome stayed unknown: a key holding it was taken
 * by that stray acquire after the caller was told it failed, and nobody holds it, so it is taken
 * over. The counter moves only when the SET succeeds, in the same atomic step; if it cannot (not
 * an integer), the SET is undone so that an error never leaves a lock behind. */
static const char ACQUIRE_LUA[] =
    "if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  if not ARGV[3] or redis.call('GET', KEYS[1]) ~= ARGV[3] then return false end\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "end\n"
    "local fence = redis.pcall('INCR', KEYS[2])\n"
    "if type(fence) == 'table' and fence.err then redis.call('DEL', KEYS[1]) end\n"
    "return fence\n";

/* KEYS[1] lock, KEYS[2] release record; ARGV[1] token, ARGV[2] record ttl ms, ARGV[3] '1' to
 * consult the record. The record makes a second run answer as the first did, so a release whose
 * reply was lost can simply run again; a deliberate release after an answered one passes '0',
 * so it reports what it finds itself (lock_release.c). */
static const char RELEASE_LUA[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                  "  redis.call('DEL', KEYS[1])\n"
                                  "  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])\n"
                                  "  return 1\n"
                                  "end\n"
                                  "if ARGV[3] ~= '1' then return 0 end\n"
                                  "return redis.call('EXISTS', KEYS[2])\n";

/* KEYS[1] lock; ARGV[1] token, ARGV[2] ttl ms. Running it twice leaves the same state. */
static const char EXTEND_LUA[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                 "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                 "end\n"
                                 "return 0\n";

/* ---- calls ---- */

/* Sleeps up to delay_ms but not past deadline; false when the deadline has already passed. */
bool vmux__lock_sleep_until(uint64_t deadline, uint32_t delay_ms)
{
    uint64_t now = now_ns();
    if (now >= deadline)
        return false;
    uint64_t left_ms = (deadline - now + NS_PER_MS - 1) / NS_PER_MS;
    uv_sleep(delay_ms < left_ms ? delay_ms : (unsigned)left_ms);
    return true;
}

bool vmux__lock_resolve_pause(unsigned attempt, uint64_t deadline)
{
    return vmux__lock_sleep_until(deadline, 10u << (attempt < 4 ? attempt : 4));
}

int vmux__lock_unresolved(const vmux_lock *l, const char *what, int last_rc, bool by_wait)
{
    char last[VMUX_CAUSE_SIZE], limit[64];
    const char *words = vmux_last_error();
    snprintf(last, sizeof last, "%s", words[0] != '\0' ? words : vmux_strerror(last_rc));
    if (by_wait)
        snprintf(limit, sizeof limit, "before wait_ms ran out");
    else
        snprintf(limit, sizeof limit, "within resolve_timeout_ms (%u ms)", (unsigned)l->resolve_ms);
    return vmux__why_set(VMUX_ERR_CONNECTION_LOST,
                         "the %s was sent and its outcome not learned %s; last try: %s", what,
                         limit, last);
}

/* A call's deadline: timeout_ms, cut to what is left until deadline (when not 0). */
vmux_callopts vmux__lock_call_opts(const vmux_lock *l, uint32_t flags, uint64_t deadline)
{
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = l->timeout_ms, .flags = flags);
    vmux__why_opts(&o); /* a failing command's words are the caller's (vmux_last_error()) */
    if (deadline != 0) {
        uint64_t now = now_ns();
        uint64_t left_ms = deadline > now ? (deadline - now) / NS_PER_MS : 0;
        if (left_ms < l->timeout_ms)
            o.timeout_ms = left_ms > 0 ? (int64_t)left_ms : 1;
    }
    return o;
}

/* ---- queries ---- */

bool vmux_lock_held(const vmux_lock *lock)
{
    if (lock == NULL || vmux__handle_forked(lock->m)) /* a forked child holds nothing */
        return false;
    vmux_lock *l = (vmux_lock *)lock; /* only its mutex changes, and is back as it was */
    uv_mutex_lock(&l->mu);
    bool held = l->held && now_ns() < l->lease_end; /* the clock decides, not the renewals */
    uv_mutex_unlock(&l->mu);
    return held;
}

uint64_t vmux_lock_fence(const vmux_lock *lock)
{
    if (lock == NULL || vmux__handle_forked(lock->m)) /* as vmux_lock_held() */
        return 0;
    vmux_lock *l = (vmux_lock *)lock; /* only its mutex changes, and is back as it was */
    uv_mutex_lock(&l->mu);
    uint64_t fence = l->fence;
    uv_mutex_unlock(&l->mu);
    return fence;
}

/* ---- life ---- */

/* Whether key has a hash tag under the cluster rule (route/slot.h): the first '{', then the
 * first '}' after it, with something between. "{}x" and "a{}{b}" have none. */
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
    char *s = n < SIZE_MAX - a - b ? malloc(a + n + b + 1) : NULL; /* a + b are a few bytes */
    if (s == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(s, prefix, a);
    memcpy(s + a, p, n);
    memcpy(s + a + n, suffix, b + 1);
    *out = (vmux_str){s, a + n + b};
    return 0;
}

/* Tries for a hash tag "fence-<n>" in a slot: every slot has one with n < 109734 (computed
 * once over all 16384 slots), found in about 16384 tries on average, a few ms at most. */
#define TAG_TRIES (1u << 17)

/*
 * The hash tag "{fence-<n>}:" (into buf) with the least n whose tag hashes to slot: for a key
 * without a hash tag that holds a '}', which no tag can quote whole. The same for every client.
 */
static int tag_for_slot(unsigned slot, char *buf, size_t len)
{
    for (unsigned n = 0; n < TAG_TRIES; n++) {
        int w = snprintf(buf, len, "{fence-%u}:", n);
        if (vmux__slot_of(buf + 1, (size_t)w - 3) == slot)
            return 0;
    }
    return VMUX_ERR_INVALID_ARG; /* unreachable: see TAG_TRIES */
}

/* The fencing key: given, or in the lock key's cluster slot (lock.h). */
static int make_fence_key(vmux_lock *l, const char *given)
{
    if (given != NULL)
        return copy_str(&l->fence_key, "", given, strlen(given), "");
    if (has_hash_tag(l->key)) /* the suffix keeps the tag, which is what is hashed */
        return copy_str(&l->fence_key, "", l->key.ptr, l->key.len, ":fence");
    if (memchr(l->key.ptr, '}', l->key.len) == NULL) /* the whole key becomes the tag */
        return copy_str(&l->fence_key, "{", l->key.ptr, l->key.len, "}:fence");
    char tag[32];
    int rc = tag_for_slot(vmux__slot_of(l->key.ptr, l->key.len), tag, sizeof tag);
    return rc != 0 ? rc : copy_str(&l->fence_key, tag, l->key.ptr, l->key.len, ":fence");
}

static int make_scripts(vmux_lock *l)
{
    int rc = vmux_script_new(VMUX_STR(ACQUIRE_LUA), &l->acquire_s);
    if (rc == 0)
        rc = vmux_script_new(VMUX_STR(RELEASE_LUA), &l->release_s);
    if (rc == 0)
        rc = vmux_script_new(VMUX_STR(EXTEND_LUA), &l->extend_s);
    return rc;
}

static void apply_opts(vmux_lock *l, const vmux_lock_opts *o)
{
    /* check_opts() checked that each fits in 32 bits */
    l->ttl_ms = o->ttl_ms ? (uint32_t)o->ttl_ms : DEFAULT_TTL_MS;
    l->timeout_ms = o->timeout_ms ? (uint32_t)o->timeout_ms : DEFAULT_TIMEOUT_MS;
    l->resolve_ms = o->resolve_timeout_ms ? (uint32_t)o->resolve_timeout_ms : DEFAULT_RESOLVE_MS;
    l->retry_min_ms = o->retry_min_ms ? (uint32_t)o->retry_min_ms : DEFAULT_RETRY_MIN_MS;
    l->retry_max_ms = o->retry_max_ms ? (uint32_t)o->retry_max_ms : DEFAULT_RETRY_MAX_MS;
    l->auto_renew = o->auto_renew;
    l->renew_fraction = o->renew_fraction > 0 ? o->renew_fraction : DEFAULT_RENEW_FRACTION;
    l->on_lost = o->on_lost;
    l->userdata = o->userdata;
}

/* Each duration of opts within 0 .. 2^32-1, or VMUX_ERR_INVALID_ARG naming the first outside. */
static int check_durations(const vmux_lock_opts *o)
{
    const struct {
        const char *field;
        int64_t ms;
    } d[] = {{"ttl_ms", o->ttl_ms},
             {"timeout_ms", o->timeout_ms},
             {"resolve_timeout_ms", o->resolve_timeout_ms},
             {"retry_min_ms", o->retry_min_ms},
             {"retry_max_ms", o->retry_max_ms}};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        if (!ms_valid(d[i].ms))
            return vmux__why_set(VMUX_ERR_INVALID_ARG,
                                 "opts->%s %" PRId64 " out of range 0 .. 2^32-1", d[i].field,
                                 d[i].ms);
    }
    return 0;
}

/* renew_fraction in [0, 1), and with auto_renew one that leaves room for a renewal. */
static int check_renewal(const vmux_lock_opts *o)
{
    if (!(o->renew_fraction >= 0 && o->renew_fraction < 1)) /* NaN too */
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "opts->renew_fraction %g outside [0, 1)",
                             o->renew_fraction);
    uint32_t ttl = o->ttl_ms ? (uint32_t)o->ttl_ms : DEFAULT_TTL_MS;
    double fraction = o->renew_fraction > 0 ? o->renew_fraction : DEFAULT_RENEW_FRACTION;
    if (o->auto_renew && !vmux__lock_renewal_fits(ttl, fraction))
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "auto_renew with renew_fraction %g of ttl_ms %" PRIu32
                             " leaves no room for an extension and its retry before the lease "
                             "end (at most 0.99 - 2 ms / ttl_ms, over 1.25)",
                             fraction, ttl);
    return 0;
}

/* 0, or VMUX_ERR_INVALID_ARG with the words of what is wrong (vmux_last_error()). */
static int check_opts(const vmux_lock_opts *o)
{
    int rc = check_durations(o);
    if (rc == 0)
        rc = check_renewal(o);
    if (rc != 0)
        return rc;
    if (o->fence_key != NULL && o->fence_key[0] == '\0')
        return vmux__why_set(
            VMUX_ERR_INVALID_ARG,
            "opts->fence_key is empty (NULL: the lock key's own, with \":fence\")");
    /* compared as they will be used, defaults applied: 300 with the default 200 is refused */
    int64_t min = o->retry_min_ms ? o->retry_min_ms : DEFAULT_RETRY_MIN_MS;
    int64_t max = o->retry_max_ms ? o->retry_max_ms : DEFAULT_RETRY_MAX_MS;
    if (min > max)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "retry_min_ms %" PRId64 " exceeds retry_max_ms %" PRId64
                             " (0 stands for the defaults, 5 and 200)",
                             min, max);
    return 0;
}

/* The arguments but opts: NULL m, out or key bytes, an empty key. */
static int check_args(vmux *m, vmux_str key, vmux_lock **out)
{
    if (m == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "the handle is NULL");
    if (out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "out is NULL");
    if (key.ptr == NULL || key.len == 0)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "key is empty%s",
                             key.ptr == NULL ? " (key.ptr NULL)" : "");
    return 0;
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

static int make_lock(vmux *m, vmux_str key, const vmux_lock_opts *given, vmux_lock **out)
{
    vmux_lock_opts o = {.size = sizeof o}, *opts = &o;
    if (out != NULL)
        *out = NULL;
    if (given != NULL && vmux__sized_in(&o, sizeof o, given) != 0)
        return vmux__why_sized("opts", given->size, sizeof o);
    int rc = check_args(m, key, out);
    if (rc == 0)
        rc = check_opts(opts);
    if (rc != 0)
        return rc;
    if (vmux__handle_forked(m)) /* before the renewer's locks (lock_forked()) */
        return VMUX_ERR_FORKED;
    vmux_lock *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return VMUX_ERR_NOMEM;
    l->m = m;
    apply_opts(l, opts);
    rc = copy_str(&l->key, "", key.ptr, key.len, "");
    if (rc == 0)
        rc = make_fence_key(l, opts->fence_key);
    if (rc == 0)
        rc = make_scripts(l);
    if (rc == 0) /* a release before any acquire still asks the server */
        rc = vmux__lock_new_token(l->token);
    bool mutexes = rc == 0 && (rc = init_mutexes(l)) == 0;
    if (rc == 0 && l->auto_renew)
        rc = vmux__lock_renewer_add(l);
    if (rc != 0) {
        lock_destroy(l, mutexes);
        return rc;
    }
    *out = l;
    return 0;
}

int vmux_lock_new(vmux *m, vmux_str key, const vmux_lock_opts *given, vmux_lock **out)
{
    vmux__why_begin();
    return vmux__why_end(make_lock(m, key, given, out));
}

void vmux_lock_free(vmux_lock *l)
{
    if (l == NULL)
        return;
    /* A parent's lock in a forked child: its mutexes may be held for good (destroying one that
     * is aborts), the renewal thread that would let go of it does not exist here, and the holding
     * is the parent's to release. Like vmux_close() there, it frees nothing. */
    if (vmux__handle_forked(l->m))
        return;
    int cancel = vmux__nocancel();
    if (l->auto_renew)
        vmux__lock_renewer_remove(l);
    uv_mutex_lock(&l->mu);
    /* Even past the lease end the key may still hold our token, and an acquire whose outcome
     * stayed unknown may have put it there (stray: no call runs beside _free()). */
    bool held = l->held, ours = held || l->stray[0] != '\0';
    uv_mutex_unlock(&l->mu);
    if (ours)
        vmux__lock_release_best_effort(l, held);
    lock_destroy(l, true);
    vmux__cancel_restore(cancel);
}

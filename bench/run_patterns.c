/*
 * The patterns' rows, each against the raw command it is built on, from 8 threads through one
 * handle: cache-hit (vmux_cache_get of a cached key) against vmux-get (a plain GET of the same
 * stored bytes) and near-cache-hit (vmux_near_get of that key, on a handle opened with
 * nearCache=true, after a fill that makes every measured read a hit); ratelimit-fixed,
 * ratelimit-sliding and ratelimit-gcra (one check each) against vmux-incr (a plain INCR); and
 * lock-pair (acquire + release of an uncontended lock, counted as one operation).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vmux/vmux.h>

#define CACHE_PREFIX "bc:"

struct pat_ctx {
    vmux *m;
    vmux_cache *cache;
    vmux_ratelimit *rl;
    vmux_lock *lock;
    char scratch[BENCH_KEY_CAP + 8];
};

static int fail(const char *what, int rc)
{
    fprintf(stderr, "vmux-bench: %s: %s\n", what, vmux_err_name(rc));
    return -1;
}

static int load_value(vmux_str key, vmux_bytes *value, void *arg)
{
    (void)arg;
    (void)key;
    value->ptr = malloc(BENCH_VALUE_LEN + 1);
    if (value->ptr == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(value->ptr, bench_value, BENCH_VALUE_LEN + 1);
    value->len = BENCH_VALUE_LEN;
    return 0;
}

static int cache_hit_op(void *ctx, const bench_cmd *c)
{
    struct pat_ctx *p = ctx;
    vmux_bytes v;
    int rc = vmux_cache_get(p->cache, VMUX_STR(c->key), load_value, NULL, 0, &v);
    vmux_bytes_free(&v);
    return rc != 0 ? fail("cache-hit", rc) : 0;
}

static int raw_get_op(void *ctx, const bench_cmd *c)
{
    struct pat_ctx *p = ctx;
    snprintf(p->scratch, sizeof(p->scratch), CACHE_PREFIX "%s", c->key);
    vmux_bytes v;
    int rc = vmux_get(p->m, NULL, VMUX_STR(p->scratch), &v);
    vmux_bytes_free(&v);
    return rc != 0 ? fail("vmux-get", rc) : 0;
}

static int near_get_op(void *ctx, const bench_cmd *c)
{
    struct pat_ctx *p = ctx;
    snprintf(p->scratch, sizeof(p->scratch), CACHE_PREFIX "%s", c->key);
    vmux_bytes v;
    int rc = vmux_near_get(p->m, NULL, VMUX_STR(p->scratch), &v);
    bool found = v.ptr != NULL;
    vmux_bytes_free(&v);
    if (rc == 0 && !found)
        fprintf(stderr, "vmux-bench: near-cache-hit: %s does not exist\n", p->scratch);
    return rc != 0 ? fail("near-cache-hit", rc) : found ? 0 : -1;
}

static int incr_op(void *ctx, const bench_cmd *c)
{
    struct pat_ctx *p = ctx;
    snprintf(p->scratch, sizeof(p->scratch), "bi:%s", c->key);
    int rc = vmux_incr(p->m, NULL, VMUX_STR(p->scratch), NULL);
    return rc != 0 ? fail("vmux-incr", rc) : 0;
}

static int ratelimit_op(void *ctx, const bench_cmd *c)
{
    struct pat_ctx *p = ctx;
    vmux_ratelimit_result res = VMUX_INIT(vmux_ratelimit_result);
    int rc = vmux_ratelimit_check(p->rl, VMUX_STR(c->key), 1, &res);
    return rc != 0 ? fail("ratelimit", rc) : 0;
}

static int lock_pair_op(void *ctx, const bench_cmd *c)
{
    struct pat_ctx *p = ctx;
    bool acquired = false, held = false;
    (void)c;
    int rc = vmux_lock_acquire(p->lock, &acquired, NULL);
    if (rc == 0 && acquired)
        rc = vmux_lock_release(p->lock, &held);
    return rc != 0 || !acquired ? fail("lock-pair", rc) : 0;
}

/* Stores every key of the workload in the cache, so that the measured reads all hit. */
static int prefill_cache(vmux_cache *cache)
{
    char key[BENCH_KEY_CAP];
    for (int i = 0; i < BENCH_KEYSPACE; i++) {
        snprintf(key, sizeof(key), "key:%05d", i);
        vmux_bytes v;
        int rc = vmux_cache_get(cache, VMUX_STR(key), load_value, NULL, 0, &v);
        vmux_bytes_free(&v);
        if (rc != 0)
            return fail("cache prefill", rc);
    }
    return 0;
}

static int make_objects(vmux *m, unsigned fam, struct pat_ctx *ctxs, int threads)
{
    static const char *const prefixes[] = {"bf:", "bs:", "bg:"};
    vmux_cache_opts co = VMUX_INIT(vmux_cache_opts, .prefix = VMUX_STR(CACHE_PREFIX),
                                   .ttl_ms = 600000, .refresh_beta = -1);
    vmux_ratelimit_opts ro = VMUX_INIT(vmux_ratelimit_opts, .limit = 1000, .period_ms = 1000);
    for (int i = 0; i < threads; i++) {
        char lock_key[32];
        int rc = 0;
        ctxs[i].m = m;
        if ((fam == BENCH_FAM_CACHE_HIT || fam == BENCH_FAM_VMUX_GET ||
             fam == BENCH_FAM_NEAR_HIT) &&
            i == 0)
            rc = vmux_cache_new(m, &co, &ctxs[0].cache);
        ctxs[i].cache = ctxs[0].cache;
        if (fam == BENCH_FAM_RL_FIXED || fam == BENCH_FAM_RL_SLIDING || fam == BENCH_FAM_RL_GCRA) {
            ro.algorithm = fam == BENCH_FAM_RL_FIXED     ? VMUX_RATELIMIT_FIXED_WINDOW
                           : fam == BENCH_FAM_RL_SLIDING ? VMUX_RATELIMIT_SLIDING_WINDOW
                                                         : VMUX_RATELIMIT_GCRA;
            ro.prefix = prefixes[ro.algorithm];
            rc = i == 0 ? vmux_ratelimit_new(m, &ro, &ctxs[0].rl) : 0;
            ctxs[i].rl = ctxs[0].rl;
        }
        if (fam == BENCH_FAM_LOCK_PAIR) {
            snprintf(lock_key, sizeof(lock_key), "bl:%d", i);
            rc = vmux_lock_new(m, VMUX_STR(lock_key), NULL, &ctxs[i].lock);
        }
        if (rc != 0)
            return fail("pattern setup", rc);
    }
    return ctxs[0].cache != NULL ? prefill_cache(ctxs[0].cache) : 0;
}

static void free_objects(struct pat_ctx *ctxs, int threads)
{
    vmux_cache_free(ctxs[0].cache);
    vmux_ratelimit_free(ctxs[0].rl);
    for (int i = 0; i < threads; i++)
        vmux_lock_free(ctxs[i].lock);
}

static sync_op_fn op_for(unsigned fam)
{
    switch (fam) {
    case BENCH_FAM_CACHE_HIT:
        return cache_hit_op;
    case BENCH_FAM_VMUX_GET:
        return raw_get_op;
    case BENCH_FAM_NEAR_HIT:
        return near_get_op;
    case BENCH_FAM_VMUX_INCR:
        return incr_op;
    case BENCH_FAM_LOCK_PAIR:
        return lock_pair_op;
    default:
        return ratelimit_op;
    }
}

static const char *name_of(unsigned fam)
{
    switch (fam) {
    case BENCH_FAM_VMUX_GET:
        return "vmux-get";
    case BENCH_FAM_CACHE_HIT:
        return "cache-hit";
    case BENCH_FAM_NEAR_HIT:
        return "near-cache-hit";
    case BENCH_FAM_VMUX_INCR:
        return "vmux-incr";
    case BENCH_FAM_RL_FIXED:
        return "ratelimit-fixed";
    case BENCH_FAM_RL_SLIDING:
        return "ratelimit-sliding";
    case BENCH_FAM_RL_GCRA:
        return "ratelimit-gcra";
    default:
        return "lock-pair";
    }
}

static unsigned long long near_misses(vmux *m)
{
    vmux_near_stats st = VMUX_INIT(vmux_near_stats);
    return vmux_near_read_stats(m, &st) == 0 ? (unsigned long long)st.misses : ~0ull;
}

/* Before a near-cache-hit row: every key held, and the tracking table and misses noted. */
static int near_before(const bench_opts *o, vmux *m, bench_result *r)
{
    r->tracked = true;
    if (near_fill(m, CACHE_PREFIX) != 0 ||
        near_tracking(o, &r->tracking_keys_before, &r->tracking_items_before) != 0)
        return -1;
    r->near_misses = near_misses(m);
    return 0;
}

/* After it: the tracking table again, and the misses since near_before (0 when all hit). */
static int near_after(const bench_opts *o, vmux *m, bench_result *r)
{
    r->near_misses = near_misses(m) - r->near_misses;
    return near_tracking(o, &r->tracking_keys, &r->tracking_items);
}

int run_pattern(const bench_opts *o, unsigned fam, int threads, bench_result *r)
{
    char err[256];
    vmux *m = NULL;
    bool near = fam == BENCH_FAM_NEAR_HIT;
    int rc = bench_vmux_open(o, near ? "nearCache=true" : "", &m, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "vmux-bench: vmux_open: %s: %s\n", vmux_err_name(rc), err);
        return -1;
    }
    struct pat_ctx *ctxs = calloc((size_t)threads, sizeof(*ctxs));
    void **slots = calloc((size_t)threads, sizeof(*slots));
    rc = ctxs != NULL && slots != NULL ? make_objects(m, fam, ctxs, threads) : -1;
    for (int i = 0; rc == 0 && i < threads; i++)
        slots[i] = &ctxs[i];
    r->name = name_of(fam);
    r->threads = r->inflight = threads;
    if (rc == 0 && near)
        rc = near_before(o, m, r);
    if (rc == 0)
        rc = drive_sync(o, threads, op_for(fam), (void *const *)slots, r);
    if (rc == 0 && near)
        rc = near_after(o, m, r);
    if (ctxs != NULL)
        free_objects(ctxs, threads);
    free(ctxs);
    free(slots);
    vmux_close(m);
    return rc;
}

/*
 * The near cache (vmux/near.h, docs/patterns/near-cache.md) against a server of the test's own
 * (tests/support/servers.h: FLUSHALL and CLIENT KILL must not reach other tests): a value is
 * served from memory until another client's write invalidates it; FLUSHALL empties it, and a
 * client's PUBLISH of a string on the invalidation channel does nothing; killing
 * the invalidation connection or the data connection empties it, and values are stored and
 * invalidated again once the data connection is re-pointed; no stale value survives a run of
 * concurrent readers and writers once the writes stop and the last invalidation has arrived;
 * the byte limit holds; within one reader thread a key's value never goes back to an older one;
 * the time from another client's acknowledged write to the first read of its value is printed.
 * BCAST mode (nearCacheMode=bcast, nearCachePrefixes): keys under the prefixes are stored and
 * invalidated, others read untracked; the data connection's CLIENT TRACKINGINFO shows bcast, the
 * prefixes and the invalidation connection, also after either connection is killed; the
 * invalidations a BCAST and an OPTIN handle receive for the same writes are counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "servers.h"
#include "nearprobe.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define WAIT_MS 30000

static struct vt_near_server suite;

static int group_setup(void **state)
{
    (void)state;
    return vt_near_server_start(&suite, "nearreader", NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    vt_near_server_stop(&suite);
    return 0;
}

static void test_invalidated_by_another_clients_write(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(m, w, "near:a", "v1");
    uint64_t inv = vt_near_stats(m).invalidations;
    vt_set(w, "near:a", "v2");
    vt_near_until_sees(m, "near:a", "v2");
    assert_true(vt_near_stats(m).invalidations > inv);
    vt_near_until_cached(m, "near:a", "v2"); /* and stored again */
    vmux_close(w);
    vmux_close(m);
}

static void test_own_write_with_forget(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL);
    vt_near_set_cached(m, m, "near:own", "a");
    vt_set(m, "near:own", "b");
    assert_int_equal(vmux_near_forget(m, vt_str("near:own")), 0);
    assert_true(vt_near_is(m, "near:own", "b")); /* at once, not after the invalidation */
    vmux_close(m);
}

static bool server_flushed(void *arg)
{
    return vt_near_stats(arg).flushes_server > 0;
}

static void test_flushall_empties(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(m, w, "near:f", "x");
    char *t = vt_node_admin(suite.srv.port, false, "FLUSHALL");
    assert_non_null(t);
    free(t);
    assert_true(vt_wait_until(server_flushed, m, WAIT_MS));
    assert_true(vt_near_is(m, "near:f", NULL));
    vmux_close(w);
    vmux_close(m);
}

/*
 * Another client's PUBLISH of a string on the invalidation channel is no word from the server's
 * tracking (which sends a list of keys, or nil): it neither invalidates nor empties anything. A
 * write after it, whose invalidation comes behind it on the same connection, shows it was read.
 */
static void test_published_string_ignored(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(m, w, "near:p", "x");
    vt_near_set_cached(m, w, "near:p2", "a");
    char *t = vt_node_admin(suite.srv.port, false, "PUBLISH __redis__:invalidate near:p");
    assert_non_null(t);
    free(t);
    vt_set(w, "near:p2", "b");
    vt_near_until_sees(m, "near:p2", "b");
    vmux_near_stats st = vt_near_stats(m);
    assert_int_equal(st.flushes_server, 0);
    assert_true(vt_near_is(m, "near:p", "x"));
    assert_int_equal(vt_near_stats(m).misses, st.misses); /* still a hit */
    vmux_close(w);
    vmux_close(m);
}

/* The id of the reader handle's client on the server whose CLIENT LIST line holds mark. */
static long long reader_id(const char *mark)
{
    return vt_client_id(suite.srv.port, "name=nearreader", mark);
}

/* Caches key's value "before" (written through w) in m's near cache. */
static void cache_before(vmux *m, vmux *w, const char *key)
{
    vt_near_set_cached(m, w, key, "before");
}

/*
 * Kills m's connection that CLIENT LIST shows with mark ("cmd=subscribe": the invalidation
 * connection; "cmd=exec": the data one), then checks the near cache recovers: emptied (its flush
 * counter of cause rises), stored again, and invalidated again (the data connection points at the
 * new invalidation connection). On the test's thread; fails it on a deadline.
 */
static void kill_then_recover(vmux *m, vmux *w, const char *key, const char *mark, int cause)
{
    struct vt_near_flush f = {m, cause, vt_near_flushes(m, cause)};
    vt_kill_client(suite.srv.port, reader_id(mark));
    assert_true(vt_wait_until(vt_near_flushed, &f, WAIT_MS));
    vt_near_set_cached(m, w, key, "after");
    vt_set(w, key, "later");
    vt_near_until_sees(m, key, "later");
}

static void test_invalidation_connection_killed(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    cache_before(m, w, "near:k");
    kill_then_recover(m, w, "near:k", "cmd=subscribe", VT_FLUSH_LOST);
    vmux_close(w);
    vmux_close(m);
}

/*
 * After its data connection is lost the handle makes a new invalidation connection too, and
 * tracks to that one: the server may have restarted, where the old connection's id may be
 * another client's while that connection, idle, does not know yet that it is dead (a review
 * found the cache storing again at once, its invalidations going to a stranger's connection).
 */
static void test_data_connection_killed(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    cache_before(m, w, "near:d");
    long long inval = reader_id("cmd=subscribe");
    vmux_stats before = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &before), 0);
    kill_then_recover(m, w, "near:d", "cmd=exec", VT_FLUSH_RECONNECT);
    assert_true(reader_id("cmd=subscribe") != inval); /* a new invalidation connection */
    vmux_stats after = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &after), 0);
    /* One failure, the killed one: the renewal of the invalidation connection is not one. */
    assert_int_equal(after.connect_failures, before.connect_failures + 1);
    vmux_close(w);
    vmux_close(m);
}

/* ---- no stale read after quiescence ---- */

#define NKEYS 1000
#define NREADERS 8
#define NWRITERS VT_NEAR_RUN_WRITERS
#define RUN_MS 3000

static void key_name(char *buf, size_t len, unsigned i)
{
    snprintf(buf, len, "near:q:%u", i);
}

static bool ran_enough(void *arg)
{
    struct vt_near_run *r = arg;
    return atomic_load(&r->reads) >= 20000;
}

static void start_run(struct vt_near_run *r)
{
    r->m = vt_near_open(&suite, "nearCacheMaxEntries=100000");
    r->key_name = key_name;
    r->nkeys = NKEYS;
    r->nreaders = NREADERS;
    for (int i = 0; i < NWRITERS; i++)
        r->w[i] = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(r->m, r->w[0], "near:barrier",
                       "0"); /* tracking works before the run starts */
    vt_near_run_start(r);
}

/*
 * Quiescence: the server sends invalidations in the order of the writes, on one connection, and
 * a lost connection flushed the store before a new one was made. So once the barrier's
 * invalidation (its write after every other write, its old value cached once tracking works
 * again) has arrived, every invalidation of the run has been handled.
 */
static void quiesce(struct vt_near_run *r)
{
    vt_near_set_cached(r->m, r->w[0], "near:barrier", "0");
    vt_set(r->w[0], "near:barrier", "1");
    vt_near_until_sees(r->m, "near:barrier", "1");
    vmux_near_stats st = vt_near_stats(r->m);
    print_message("reads %llu, hits %llu, fills %llu, invalidations %llu, flushes %llu/%llu\n",
                  (unsigned long long)atomic_load(&r->reads), (unsigned long long)st.hits,
                  (unsigned long long)st.fills, (unsigned long long)st.invalidations,
                  (unsigned long long)st.flushes_lost, (unsigned long long)st.flushes_reconnect);
    assert_true(st.hits > 0 && st.invalidations > 0);
}

static void end_run(struct vt_near_run *r)
{
    for (int i = 0; i < NWRITERS; i++)
        vmux_close(r->w[i]);
    vmux_close(r->m);
}

static void test_no_stale_read_after_quiescence(void **state)
{
    (void)state;
    struct vt_near_run r = {0};
    start_run(&r);
    uint64_t start = vt_now_ms();
    /* at least RUN_MS, and enough reads that the cache was exercised even on a slow build */
    while (vt_now_ms() - start < RUN_MS || !ran_enough(&r))
        uv_sleep(50);
    vt_near_run_stop(&r);
    quiesce(&r);
    assert_int_equal(atomic_load(&r.read_errors), 0);
    assert_int_equal(atomic_load(&r.write_errors), 0);
    assert_int_equal(vt_near_count_stale(r.m, r.w[0], key_name, NKEYS), 0);
    end_run(&r);
}

/* Lets the run go on for ms, then until it has read enough since the last call. */
static void run_for(struct vt_near_run *r, uint64_t ms)
{
    uint64_t start = vt_now_ms(), reads = atomic_load(&r->reads);
    while (vt_now_ms() - start < ms || atomic_load(&r->reads) - reads < 5000)
        uv_sleep(50);
}

/* A wait for a flush of either cause a connection fault gives: lost or reconnect. */
struct fault_flush {
    vmux *m;
    uint64_t before;
};

static uint64_t fault_flushes(vmux *m)
{
    vmux_near_stats st = vt_near_stats(m);
    return st.flushes_lost + st.flushes_reconnect;
}

static bool fault_flushed(void *arg)
{
    struct fault_flush *f = arg;
    return fault_flushes(f->m) > f->before;
}

/*
 * Waits until r's near cache stores reads again (a flush is counted only when it empties a
 * cache that was storing), faults it, waits for the flush, and lets the run go on. A server
 * restart breaks both connections: which one the I/O thread hears of first decides the cause.
 */
static void fault_and_run(struct vt_near_run *r, void (*fault)(void))
{
    vt_near_set_cached(r->m, r->w[0], "near:probe", "1");
    struct fault_flush f = {r->m, fault_flushes(r->m)};
    fault();
    assert_true(vt_wait_until(fault_flushed, &f, WAIT_MS));
    run_for(r, 1000);
}

static void kill_invalidation_connection(void)
{
    vt_kill_client(suite.srv.port, reader_id("flags=P"));
}

static void kill_data_connection(void)
{
    vt_kill_client(suite.srv.port, reader_id("flags=t"));
}

static void restart_server(void)
{
    vt_server_kill(&suite.srv);
    assert_int_equal(vt_server_restart(&suite.srv), 0);
}

/* The same, with the invalidation connection killed, then the data connection, then the server
 * killed and restarted (empty: no persistence), one after the other while the run goes on. */
static void test_no_stale_read_after_faults(void **state)
{
    (void)state;
    struct vt_near_run r = {0};
    start_run(&r);
    run_for(&r, 1000);
    uint64_t lost = vt_near_flushes(r.m, VT_FLUSH_LOST);
    fault_and_run(&r, kill_invalidation_connection);
    assert_true(vt_near_flushes(r.m, VT_FLUSH_LOST) > lost);
    uint64_t reconnect = vt_near_flushes(r.m, VT_FLUSH_RECONNECT);
    fault_and_run(&r, kill_data_connection);
    assert_true(vt_near_flushes(r.m, VT_FLUSH_RECONNECT) > reconnect);
    fault_and_run(&r, restart_server);
    vt_near_run_stop(&r);
    quiesce(&r);
    assert_int_equal(vt_near_count_stale(r.m, r.w[0], key_name, NKEYS), 0);
    end_run(&r);
}

/* ---- cache-aside's near tier ---- */

static _Atomic int loads;

static int loader(vmux_str key, vmux_bytes *value, void *arg)
{
    (void)key;
    atomic_fetch_add(&loads, 1);
    value->ptr = strdup(arg);
    value->len = strlen(arg);
    return 0;
}

static uint64_t submitted(vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    return st.submitted;
}

static bool cache_is(vmux_cache *c, const char *key, const char *want)
{
    vmux_bytes v;
    int rc = vmux_cache_get(c, vt_str(key), loader, "other", 0, &v);
    bool same = rc == 0 && v.ptr != NULL && strcmp(v.ptr, want) == 0;
    vmux_bytes_free(&v);
    return same;
}

struct cache_probe {
    vmux *m;
    vmux_cache *c;
    const char *key, *want;
};

/* A get that the near tier answered: no command went to the server. */
static bool cache_near_hit(void *arg)
{
    struct cache_probe *p = arg;
    uint64_t before = submitted(p->m);
    return cache_is(p->c, p->key, p->want) && submitted(p->m) == before;
}

static bool cache_sees(void *arg)
{
    struct cache_probe *p = arg;
    return cache_is(p->c, p->key, p->want);
}

static void test_cache_near_tier(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *other = vt_server_open(&suite.srv, NULL);
    vmux_cache *c = NULL, *oc = NULL;
    vmux_cache_opts o = VMUX_INIT(vmux_cache_opts, .near = true, .refresh_beta = -1);
    assert_int_equal(vmux_cache_new(other, &o, &oc), VMUX_ERR_INVALID_ARG); /* no nearCache */
    o.near = false;
    assert_int_equal(vmux_cache_new(other, &o, &oc), 0);
    o.near = true;
    assert_int_equal(vmux_cache_new(m, &o, &c), 0);
    atomic_store(&loads, 0);
    vmux_bytes v;
    assert_int_equal(vmux_cache_get(c, vt_str("tier"), loader, "loaded", 0, &v), 0);
    assert_string_equal(v.ptr, "loaded");
    vmux_bytes_free(&v);
    assert_int_equal(atomic_load(&loads), 1);
    struct cache_probe p = {m, c, "tier", "loaded"};
    assert_true(vt_wait_until(cache_near_hit, &p, WAIT_MS)); /* once tracking is up */
    assert_int_equal(atomic_load(&loads), 1);
    /* Another process's invalidate (DEL) reaches the near tier through the server. */
    assert_int_equal(vmux_cache_invalidate(oc, vt_str("tier")), 0);
    p.want = "other";
    assert_true(vt_wait_until(cache_sees, &p, WAIT_MS));
    assert_int_equal(atomic_load(&loads), 2);
    assert_true(vt_wait_until(cache_near_hit, &p, WAIT_MS));
    vmux_cache_free(oc);
    vmux_cache_free(c);
    vmux_close(other);
    vmux_close(m);
}

/* ---- bounds ---- */

#define BYTE_LIMIT (64 * 1024)

static void test_byte_limit(void **state)
{
    (void)state;
    char extra[64];
    snprintf(extra, sizeof extra, "nearCacheMaxBytes=%d", BYTE_LIMIT);
    vmux *m = vt_near_open(&suite, extra), *w = vt_server_open(&suite.srv, NULL);
    char value[1001];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    vt_near_set_cached(m, w, "near:b:probe", value);
    uint64_t most = 0;
    for (int i = 0; i < 400; i++) {
        char key[32];
        snprintf(key, sizeof key, "near:b:%d", i);
        vt_set(w, key, value);
        assert_true(vt_near_is(m, key, value));
        vmux_near_stats st = vt_near_stats(m);
        assert_true(st.bytes <= BYTE_LIMIT);
        most = st.bytes > most ? st.bytes : most;
    }
    vmux_near_stats st = vt_near_stats(m);
    assert_true(st.evictions > 0);
    assert_true(most > BYTE_LIMIT / 2); /* it did fill up */
    vmux_close(w);
    vmux_close(m);
}

static bool expired_once(void *arg)
{
    vmux *m = arg;
    uint64_t before = vt_near_stats(m).expirations;
    return vt_near_is(m, "near:ttl", "t") && vt_near_stats(m).expirations > before;
}

/* nearCacheTtl caps an entry's life though the key never changes: a later read finds it
 * expired (dropped, counted) and reads the server again. */
static void test_local_ttl(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, "nearCacheTtl=200"), *w = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(m, w, "near:ttl", "t");
    assert_true(vt_wait_until(expired_once, m, WAIT_MS));
    vt_near_until_cached(m, "near:ttl", "t"); /* stored again */
    vmux_close(w);
    vmux_close(m);
}

static bool swept(void *arg)
{
    return vt_near_stats(arg).entries == 0;
}

/* An expired entry that nobody looks up again leaves the counts by itself (the once-a-second
 * sweep goes over up to 8192 entries): entries and bytes fall to 0 and the expiration is
 * counted. */
static void test_expired_swept(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, "nearCacheTtl=200"), *w = vt_server_open(&suite.srv, NULL);
    uint64_t expirations = vt_near_stats(m).expirations;
    vt_near_set_cached(m, w, "near:swept", "s"); /* a hit: held, and no lookup after it */
    assert_true(vt_wait_until(swept, m, WAIT_MS));
    vmux_near_stats st = vt_near_stats(m);
    assert_int_equal(st.bytes, 0);
    assert_true(st.expirations > expirations);
    vmux_close(w);
    vmux_close(m);
}

static void test_settings(void **state)
{
    (void)state;
    char conf[128], err[256] = "";
    vmux *m = NULL;
    snprintf(conf, sizeof conf, "127.0.0.1:%d,nearCache=true,nearCacheMaxBytes=16", suite.srv.port);
    assert_int_equal(vmux_open_str(conf, &m, err, sizeof err), VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "nearCacheMaxBytes"));
    /* a near read's EXEC answers 3 elements: fewer once broke the shared connection at the first
     * near read (review 182 M3: another thread lost 924 of 3127 GETs) */
    snprintf(conf, sizeof conf, "127.0.0.1:%d,nearCache=true,maxReplyElements=2", suite.srv.port);
    assert_int_equal(vmux_open_str(conf, &m, err, sizeof err), VMUX_ERR_CONFIG);
    assert_null(m);
    assert_non_null(strstr(err, "nearCache=true needs maxReplyElements of at least 3"));
    snprintf(conf, sizeof conf, "127.0.0.1:%d,nearCache=true,maxReplyElements=3", suite.srv.port);
    assert_int_equal(vmux_open_str(conf, &m, err, sizeof err), 0);
    vmux *w = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(m, w, "near:three", "3");
    vmux_close(m);
    /* the documented maximum of entries: the shards' arrays grow as entries come (they were
     * allocated whole at open, which failed VMUX_ERR_NOMEM) */
    snprintf(conf, sizeof conf, "127.0.0.1:%d,nearCache=true,nearCacheMaxEntries=%llu",
             suite.srv.port, 18446744073709551615ULL);
    assert_int_equal(vmux_open_str(conf, &m, err, sizeof err), 0);
    vt_near_set_cached(m, w, "near:most", "m");
    vmux_close(w);
    vmux_close(m);
    m = vt_server_open(&suite.srv, NULL); /* no near cache */
    vmux_bytes v;
    assert_int_equal(vmux_near_get(m, NULL, vt_str("near:x"), &v), VMUX_ERR_UNSUPPORTED);
    char why[160] = "";
    vmux_callopts wo = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_near_get(m, &wo, vt_str("near:x"), &v), VMUX_ERR_UNSUPPORTED);
    assert_string_equal(why, "this handle keeps no near cache: open it with nearCache=true "
                             "(docs/patterns/near-cache.md)");
    vmux_near_stats st = VMUX_INIT(vmux_near_stats);
    assert_int_equal(vmux_near_read_stats(m, &st), VMUX_ERR_UNSUPPORTED);
    vmux_close(m);
    m = vt_near_open(&suite, NULL);
    assert_int_equal(vmux_near_get(m, NULL, (vmux_str){NULL, 3}, &v), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_near_get(m, &VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_REPLICA),
                                   vt_str("near:x"), &v),
                     VMUX_ERR_INVALID_ARG);
    /* a hit refuses them as a miss does (a review: it returned the value) */
    vt_near_set_cached(m, m, "near:opt", "v");
    char bad[160] = "";
    vmux_callopts ro =
        VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_REPLICA, .errbuf = bad, .errlen = sizeof bad);
    assert_int_equal(vmux_near_get(m, &ro, vt_str("near:opt"), &v), VMUX_ERR_INVALID_ARG);
    assert_null(v.ptr);
    assert_non_null(strstr(bad, "does not take"));
    vmux_callopts neg = VMUX_INIT(vmux_callopts, .timeout_ms = -1);
    assert_int_equal(vmux_near_get(m, &neg, vt_str("near:opt"), &v), VMUX_ERR_INVALID_ARG);
    vmux_bytes_array members = {0};
    assert_int_equal(vmux_near_smembers(m, &neg, vt_str("near:opt"), &members),
                     VMUX_ERR_INVALID_ARG);
    vmux_str f = vt_str("f"), fv = vt_str("v");
    assert_int_equal(vmux_hset(m, NULL, vt_str("near:h"), &f, &fv, 1, NULL), 0);
    char msg[128] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = msg, .errlen = sizeof msg);
    assert_int_equal(vmux_near_get(m, &o, vt_str("near:h"), &v), VMUX_ERR_SERVER);
    assert_non_null(strstr(msg, "WRONGTYPE"));
    assert_null(v.ptr);
    vmux_close(m);
}

/* ---- monotonic per key ---- */

#define MONO_KEYS 4
#define MONO_READERS 4
#define MONO_WRITES 2000

struct mono {
    vmux *m;
    atomic_bool stop;
    _Atomic uint64_t reads, changes, backwards, errors;
    atomic_int done; /* readers that have seen every key's last value */
};

static void mono_key(char *buf, size_t len, int k)
{
    snprintf(buf, len, "near:m:%d", k);
}

/* One near read of key k as a number; -1 on an error or a missing key. */
static long long mono_read(vmux *m, int k)
{
    char key[32];
    vmux_bytes v;
    mono_key(key, sizeof key, k);
    long long n = vmux_near_get(m, NULL, vt_str(key), &v) == 0 && v.ptr ? atoll((char *)v.ptr) : -1;
    vmux_bytes_free(&v);
    return n;
}

/* Checks one read of key k against the last one this thread saw; updates it. */
static void mono_check(struct mono *mo, long long *last, long long n)
{
    atomic_fetch_add(&mo->reads, 1);
    if (n < 0)
        atomic_fetch_add(&mo->errors, 1);
    else if (n < *last)
        atomic_fetch_add(&mo->backwards, 1);
    else if (n > *last)
        atomic_fetch_add(&mo->changes, 1);
    if (n > *last)
        *last = n;
}

/* The last value written to key k: the writer writes i to key i % MONO_KEYS. */
static long long mono_final(int k)
{
    return MONO_WRITES - MONO_KEYS + k;
}

static void mono_reader(void *arg)
{
    struct mono *mo = arg;
    long long last[MONO_KEYS] = {0};
    bool counted = false;
    while (!atomic_load(&mo->stop)) {
        int at_final = 0;
        for (int k = 0; k < MONO_KEYS; k++) {
            mono_check(mo, &last[k], mono_read(mo->m, k));
            at_final += last[k] == mono_final(k);
        }
        if (at_final == MONO_KEYS && !counted) {
            counted = true;
            atomic_fetch_add(&mo->done, 1);
        }
        sched_yield(); /* two cores: leave some to the I/O threads */
    }
}

static bool mono_all_done(void *arg)
{
    struct mono *mo = arg;
    return atomic_load(&mo->done) == MONO_READERS;
}

/*
 * Monotonic per key: one writer writes increasing numbers to a few keys while reader threads
 * read them through one near cache; within a thread, a key's value never goes back. The run is
 * a fixed number of writes; then every reader must come to see every key's last value.
 */
static void test_monotonic_per_key(void **state)
{
    (void)state;
    struct mono mo = {.m = vt_near_open(&suite, NULL)};
    vmux *w = vt_server_open(&suite.srv, NULL);
    uv_thread_t readers[MONO_READERS];
    char key[32], value[32];
    for (int k = 0; k < MONO_KEYS; k++) {
        mono_key(key, sizeof key, k);
        vt_near_set_cached(mo.m, w, key, "0");
    }
    for (int i = 0; i < MONO_READERS; i++)
        assert_int_equal(uv_thread_create(&readers[i], mono_reader, &mo), 0);
    for (int i = 0; i < MONO_WRITES; i++) {
        mono_key(key, sizeof key, i % MONO_KEYS);
        snprintf(value, sizeof value, "%d", i);
        vt_set(w, key, value);
    }
    bool all_seen = vt_wait_until(mono_all_done, &mo, WAIT_MS);
    atomic_store(&mo.stop, true);
    for (int i = 0; i < MONO_READERS; i++)
        uv_thread_join(&readers[i]);
    vmux_near_stats st = vt_near_stats(mo.m);
    print_message("monotonic: %llu reads, %llu changes seen, %llu backwards; hits %llu, "
                  "invalidations %llu, conflicts %llu\n",
                  (unsigned long long)mo.reads, (unsigned long long)mo.changes,
                  (unsigned long long)mo.backwards, (unsigned long long)st.hits,
                  (unsigned long long)st.invalidations, (unsigned long long)st.conflicts);
    assert_true(all_seen);
    assert_int_equal(atomic_load(&mo.errors), 0);
    assert_int_equal(atomic_load(&mo.backwards), 0);
    assert_true(st.hits > 0 && st.invalidations > 0);
    vmux_close(w);
    vmux_close(mo.m);
}

/* ---- freshness: from an acknowledged SET to the reader's first read of the new value ---- */

#define FRESH_WRITES 200

/*
 * Freshness, measured: for each of FRESH_WRITES writes by another handle, the old value is
 * cached (a hit) first; the time from the writer's acknowledged SET to the first near read of
 * the new value is recorded, and p50, p99 and the maximum are printed. No bound is asserted on
 * them (a busy machine decides), only that every write became visible within WAIT_MS.
 */
static void test_freshness(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    static uint64_t lat[FRESH_WRITES];
    char old[16], now[16];
    vt_set(w, "near:f", "0");
    for (int i = 1; i <= FRESH_WRITES; i++) {
        snprintf(old, sizeof old, "%d", i - 1);
        snprintf(now, sizeof now, "%d", i);
        vt_near_until_cached(m, "near:f", old);
        vt_set(w, "near:f", now);
        lat[i - 1] = vt_near_until_fresh(m, "near:f", old, now, vt_now_ns());
    }
    vt_near_print_windows("freshness", lat, FRESH_WRITES);
    assert_true(vt_near_stats(m).invalidations >= FRESH_WRITES);
    vmux_close(w);
    vmux_close(m);
}

/* ---- BCAST mode (nearCacheMode=bcast) ---- */

#define BCAST "nearCacheMode=bcast,nearCachePrefixes=bc:;bd:"
#define BCAST_WRITES 50

/* m's data connection tracks in BCAST mode to its invalidation connection, for prefixes. */
static void assert_bcast_tracking(vmux *m, const char *prefixes)
{
    char info[256], want[256];
    vt_tracking_info(m, info, sizeof info);
    snprintf(want, sizeof want, "flags=on,bcast redirect=%lld prefixes=%s",
             reader_id("cmd=subscribe"), prefixes);
    assert_string_equal(info, want);
}

/* A key under no prefix is read from the server every time, counted untracked, never stored. */
static void assert_read_untracked(vmux *m, vmux *w, const char *key)
{
    vt_set(w, key, "o");
    vmux_near_stats before = vt_near_stats(m);
    for (int i = 0; i < 3; i++)
        assert_true(vt_near_is(m, key, "o"));
    vmux_near_stats after = vt_near_stats(m);
    assert_int_equal(after.untracked - before.untracked, 3);
    assert_int_equal(after.misses - before.misses, 3);
    assert_int_equal(after.hits, before.hits);
    assert_int_equal(after.fills, before.fills);
}

static void test_bcast_prefixes(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, BCAST), *w = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(m, w, "bc:1", "v1");
    vt_near_set_cached(m, w, "bd:1", "d1");
    assert_bcast_tracking(m, "bc:,bd:");
    assert_read_untracked(m, w, "out:1");
    assert_read_untracked(m, w, "b"); /* shorter than a prefix */
    vt_set(w, "bc:1", "v2");
    vt_near_until_sees(m, "bc:1", "v2");
    vt_near_until_cached(m, "bc:1", "v2");
    vmux_close(w);
    vmux_close(m);
}

/*
 * The cost of BCAST: an invalidation for every write under the prefixes, read here or not. An
 * OPTIN handle that read only the barrier key gets one; the BCAST handle one per write under
 * its prefixes (BCAST_WRITES never read, and the barrier) and none for the writes outside.
 */
static void test_bcast_invalidation_traffic(void **state)
{
    (void)state;
    vmux *b = vt_near_open(&suite, BCAST), *o = vt_near_open(&suite, NULL),
         *w = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(b, w, "bc:barrier", "0");
    vt_near_until_cached(o, "bc:barrier", "0");
    uint64_t b0 = vt_near_stats(b).invalidations, o0 = vt_near_stats(o).invalidations;
    char key[32];
    for (int i = 0; i < BCAST_WRITES; i++) {
        snprintf(key, sizeof key, "bd:never:%d", i);
        vt_set(w, key, "x");
        snprintf(key, sizeof key, "zz:outside:%d", i);
        vt_set(w, key, "x");
    }
    vt_set(w, "bc:barrier", "1"); /* written last: its invalidation comes after the others' */
    vt_near_until_sees(b, "bc:barrier", "1");
    vt_near_until_sees(o, "bc:barrier", "1");
    uint64_t bn = vt_near_stats(b).invalidations - b0, on = vt_near_stats(o).invalidations - o0;
    printf("near cache invalidations for %d writes under the prefixes (%d never read) and %d "
           "outside: BCAST %llu, OPTIN %llu\n",
           BCAST_WRITES + 1, BCAST_WRITES, BCAST_WRITES, (unsigned long long)bn,
           (unsigned long long)on);
    assert_int_equal(bn, BCAST_WRITES + 1);
    assert_int_equal(on, 1);
    vmux_close(w);
    vmux_close(o);
    vmux_close(b);
}

/* No prefixes: BCAST for every key (the server's one prefix is ""); FLUSHALL empties it. */
static void test_bcast_every_key(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, "nearCacheMode=bcast"), *w = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(m, w, "any:1", "a");
    assert_bcast_tracking(m, "");
    vt_set(w, "any:1", "b");
    vt_near_until_sees(m, "any:1", "b");
    vt_near_until_cached(m, "any:1", "b");
    char *t = vt_node_admin(suite.srv.port, false, "FLUSHALL");
    assert_non_null(t);
    free(t);
    assert_true(vt_wait_until(server_flushed, m, WAIT_MS));
    assert_true(vt_near_is(m, "any:1", NULL));
    vmux_close(w);
    vmux_close(m);
}

/* The invalidation connection killed: flushed, then the live data connection is re-pointed
 * (CLIENT TRACKING OFF, then ON ... BCAST with the same prefixes, not one more of each). */
static void test_bcast_invalidation_connection_killed(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, BCAST), *w = vt_server_open(&suite.srv, NULL);
    cache_before(m, w, "bc:k");
    long long data = reader_id("cmd=exec");
    kill_then_recover(m, w, "bc:k", "cmd=subscribe", VT_FLUSH_LOST);
    assert_int_equal(reader_id("cmd=exec"), data); /* the same data connection */
    assert_bcast_tracking(m, "bc:,bd:");
    assert_read_untracked(m, w, "out:k");
    vmux_close(w);
    vmux_close(m);
}

static void test_bcast_data_connection_killed(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, BCAST), *w = vt_server_open(&suite.srv, NULL);
    cache_before(m, w, "bd:d");
    long long inval = reader_id("cmd=subscribe");
    kill_then_recover(m, w, "bd:d", "cmd=exec", VT_FLUSH_RECONNECT);
    assert_true(reader_id("cmd=subscribe") != inval); /* as test_data_connection_killed() */
    assert_bcast_tracking(m, "bc:,bd:");
    vmux_close(w);
    vmux_close(m);
}

/* Prefixes without BCAST: vmux_open() refuses what the setters let through one by one. */
static void test_bcast_settings(void **state)
{
    (void)state;
    char conf[128], err[256] = "";
    vmux_config *cfg = NULL;
    vmux *m = NULL;
    snprintf(conf, sizeof conf, "127.0.0.1:%d,nearCache=true", suite.srv.port);
    assert_int_equal(vmux_config_parse(conf, &cfg, err, sizeof err), 0);
    assert_int_equal(vmux_config_set_near_cache_prefixes(cfg, "bc:"), 0);
    assert_int_equal(vmux_open(cfg, &m, err, sizeof err), VMUX_ERR_CONFIG);
    assert_null(m);
    assert_non_null(strstr(err, "nearCacheMode is not bcast"));
    assert_int_equal(vmux_config_set_near_cache_mode(cfg, VMUX_NEAR_BCAST), 0);
    /* CLIENT TRACKINGINFO answers 6 elements, and an array of the prefixes */
    assert_int_equal(vmux_config_set_max_reply_elements(cfg, 5), 0);
    assert_int_equal(vmux_open(cfg, &m, err, sizeof err), VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "maxReplyElements of at least 6"));
    assert_int_equal(vmux_config_set_near_cache_prefixes(cfg, "a:;b:;c:;d:;e:;f:;bc:"), 0);
    assert_int_equal(vmux_config_set_max_reply_elements(cfg, 6), 0);
    assert_int_equal(vmux_open(cfg, &m, err, sizeof err), VMUX_ERR_CONFIG);
    assert_non_null(strstr(err, "maxReplyElements of at least 7"));
    assert_int_equal(vmux_config_set_max_reply_elements(cfg, 7), 0);
    assert_int_equal(vmux_open(cfg, &m, err, sizeof err), 0);
    vmux_config_free(cfg);
    vmux *w = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(m, w, "bc:s", "s");
    vmux_close(w);
    vmux_close(m);
}

/*
 * A user the server refuses CLIENT CACHING (an ACL): a miss's tracked block is refused whole
 * (EXECABORT), and the read goes again untracked, its value returned and not stored, with one
 * warning for the handle. Every miss failed VMUX_ERR_SERVER before (probe39).
 */
static atomic_int refused_warnings;

static void on_refused_log(vmux_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    if (level == VMUX_LOG_WARN && strstr(message, "refused a tracked read") != NULL)
        atomic_fetch_add(&refused_warnings, 1);
}

/* A near-cached handle opened with conf whose warnings on_refused_log() counts. */
static vmux *open_counting_refusals(const char *conf)
{
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, on_refused_log, VMUX_LOG_WARN, NULL), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

/* One near read of "nr:k" by a handle whose tracked reads the server refuses: "v", and no words
 * (the refusal is not the answer). */
static void read_untracked(vmux *m, const char *rule, int i)
{
    vmux_bytes v = {0};
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    int rc = vmux_near_get(m, &o, VMUX_STR("nr:k"), &v);
    if (rc != 0)
        fail_msg("%s: near get %d: %s: %s", rule, i, vmux_err_name(rc), err);
    assert_int_equal(v.len, 1);
    assert_memory_equal(v.ptr, "v", 1);
    assert_string_equal(err, "");
    vmux_bytes_free(&v);
}

struct untracked_reads {
    vmux *m;
    const char *rule;
    int n;
};

/* Reads once; true once the server has refused a tracked read (a read before the invalidation
 * connection is up goes untracked without asking it: near.h). */
static bool read_until_refused(void *arg)
{
    struct untracked_reads *u = arg;
    read_untracked(u->m, u->rule, u->n++);
    return atomic_load(&refused_warnings) > 0;
}

/* A near-cached handle of a user with every command but what rule takes away: its misses go
 * untracked, their value returned, with one warning however many the server refuses. */
static void reads_untracked_for(const char *rule)
{
    free(vt_node_admin(suite.srv.port, false,
                       "ACL SETUSER vmuxnocaching reset on >nc-pass ~* &* +@all %s", rule));
    atomic_store(&refused_warnings, 0);
    char conf[160];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,nearCache=true,user=vmuxnocaching,password=nc-pass",
             suite.srv.port);
    vmux *m = open_counting_refusals(conf);
    vmux *w = vt_server_open(&suite.srv, NULL);
    vt_set(w, "nr:k", "v");
    struct untracked_reads u = {m, rule, 0};
    if (!vt_wait_until(read_until_refused, &u, WAIT_MS))
        fail_msg("%s: %d reads, none refused by the server", rule, u.n);
    read_untracked(m, rule, u.n++); /* refused again: no second warning */
    vmux_near_stats st = VMUX_INIT(vmux_near_stats);
    assert_int_equal(vmux_near_read_stats(m, &st), 0);
    assert_int_equal(st.hits, 0);
    assert_int_equal(st.untracked, u.n);
    assert_int_equal(atomic_load(&refused_warnings), 1);
    vmux_close(w);
    vmux_close(m);
    free(vt_node_admin(suite.srv.port, false, "ACL DELUSER vmuxnocaching"));
}

/* Also a user refused MULTI (NOPERM), whose block's commands then run one by one: "MULTI was
 * refused (...)" (net/conn_read.c) is a refusal too, not the read's answer. */
static void test_caching_refused_reads_untracked(void **state)
{
    (void)state;
    reads_untracked_for("-client|caching");
    reads_untracked_for("-multi");
}

/*
 * A server busy with a script (BUSY) is not refusing the tracked read: the error is the read's
 * answer, with no refusal warning and no second, untracked read (a review: any error counted as
 * a refusal, used up the handle's one warning, and sent the read again).
 */
static void run_busy_script(void *arg)
{
    /* busy for 1.5 s by the server's clock (TIME), on a handle of its own */
    static const char lua[] = "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] "
                              "repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - s > "
                              "1500000 return 1";
    vmux *b = arg;
    const char *argv[] = {"EVAL", lua, "0"};
    vmux_reply *r = NULL;
    (void)vmux_call(b, &VMUX_INIT(vmux_callopts, .timeout_ms = 20000), 3, argv, NULL, &r);
    vmux_reply_free(r);
}

static bool server_busy(void *arg)
{
    (void)arg;
    char *t = vt_node_admin(suite.srv.port, false, "PING");
    bool busy = t != NULL && strncmp(t, "BUSY", 4) == 0;
    free(t);
    return busy;
}

static void test_busy_is_not_a_refusal(void **state)
{
    (void)state;
    free(vt_node_admin(suite.srv.port, false, "CONFIG SET busy-reply-threshold 20"));
    char conf[96];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,nearCache=true", suite.srv.port);
    vmux *m = open_counting_refusals(conf);
    vmux *b = vt_server_open(&suite.srv, NULL);
    vt_near_set_cached(m, b, "nb:k", "v"); /* tracking is up */
    vmux_near_forget(m, vt_str("nb:k"));
    int warned = atomic_load(&refused_warnings);
    uint64_t untracked = vt_near_stats(m).untracked;
    uv_thread_t script;
    assert_int_equal(uv_thread_create(&script, run_busy_script, b), 0);
    assert_true(vt_wait_until(server_busy, NULL, WAIT_MS));
    vmux_bytes v = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 200);
    assert_int_not_equal(vmux_near_get(m, &o, vt_str("nb:k"), &v), 0); /* busy until its end */
    assert_null(v.ptr);
    assert_int_equal(atomic_load(&refused_warnings), warned);
    assert_int_equal(vt_near_stats(m).untracked, untracked);
    uv_thread_join(&script);
    free(vt_node_admin(suite.srv.port, false, "CONFIG SET busy-reply-threshold 5000"));
    vmux_close(b);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_invalidated_by_another_clients_write),
        cmocka_unit_test(test_own_write_with_forget),
        cmocka_unit_test(test_flushall_empties),
        cmocka_unit_test(test_published_string_ignored),
        cmocka_unit_test(test_invalidation_connection_killed),
        cmocka_unit_test(test_data_connection_killed),
        cmocka_unit_test(test_byte_limit),
        cmocka_unit_test(test_local_ttl),
        cmocka_unit_test(test_expired_swept),
        cmocka_unit_test(test_cache_near_tier),
        cmocka_unit_test(test_no_stale_read_after_quiescence),
        cmocka_unit_test(test_no_stale_read_after_faults),
        cmocka_unit_test(test_monotonic_per_key),
        cmocka_unit_test(test_freshness),
        cmocka_unit_test(test_bcast_prefixes),
        cmocka_unit_test(test_bcast_invalidation_traffic),
        cmocka_unit_test(test_bcast_every_key),
        cmocka_unit_test(test_bcast_invalidation_connection_killed),
        cmocka_unit_test(test_bcast_data_connection_killed),
        cmocka_unit_test(test_bcast_settings),
        cmocka_unit_test(test_caching_refused_reads_untracked),
        cmocka_unit_test(test_busy_is_not_a_refusal),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * The near cache on a cluster (vmux/near.h, docs/patterns/near-cache.md), on a fixture of its
 * own ("cluster-near": three primaries with a replica each), since the second case moves a slot
 * and fails a shard over:
 *
 * - on each of the three shards, a value read through the near cache is served from memory until
 *   another handle's write invalidates it (each primary's own invalidation connection);
 * - killing the near cache's invalidation connection on one primary, then its data connection
 *   on another, empties that primary's part only (another shard's key is still a hit), and its
 *   keys are stored and invalidated again once its data connection tracks to the new one;
 * - typed reads (HGET, HGETALL, SMEMBERS) of keys on two shards are stored, hit, and invalidated
 *   by their own shard's writes, while the other shard's stay held;
 * - a near read that hears MOVED (the handle's map is behind) returns the value without storing
 *   it and flushes its slot;
 * - no stale read after quiescence: reader threads on one near-cache handle and two writer
 *   handles run random GET/SET over NKEYS keys, a tenth of them in one slot that is migrated to
 *   another primary mid-run (SETSLOT IMPORTING / MIGRATING, MIGRATE, SETSLOT NODE), then a
 *   planned failover of a shard (CLUSTER FAILOVER on its replica); once the writes have stopped
 *   and every primary's last invalidation has arrived (a barrier key per primary), every key
 *   read through the near cache equals the server's value, and the flushes by cause (moved,
 *   failover) are counted;
 * - BCAST mode (nearCacheMode=bcast): on each primary, keys under the prefixes are stored and
 *   invalidated, keys under none read untracked, the data connection tracks in BCAST mode to that
 *   primary's invalidation connection, and is re-pointed when that one is killed.
 * - freshness: from another handle's acknowledged SET to the first near read of the new value,
 *   keys on every shard (p50, p99, max printed; no bound asserted);
 * - the SIGKILL case (integration.cluster_near_kill, VMUX_TEST_NEAR_KILL set, on a cluster of its
 *   own, "cluster-near-kill", since the killed node stays dead): the same run, with a primary
 *   SIGKILLed mid-run and its replica promoted by the cluster; no near read fails, the window
 *   (kill to promotion, to the failover flush, to a key of that shard stored again) is printed,
 *   and no key is stale after quiescence.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "mux/mux.h"
#include "mux/near_internal.h"
#include "node.h"
#include "route/slot.h"
#include "nearprobe.h"
#include "readkeys.h"
#include "testutil.h"
#include "vmux/vmux.h"

/* The fixture: "cluster-near", or "cluster-near-kill" for the SIGKILL case (VMUX_TEST_NEAR_KILL
 * set: that run has a fixture of its own, since the killed node stays dead). */
static const char *cluster_name = "cluster-near";
#define CLUSTER cluster_name
#define WAIT_MS 60000
#define NKEYS 1000
#define NMOVED 100 /* keys NKEYS - NMOVED .. NKEYS - 1 share the migrated slot */
#define NREADERS 4
#define NWRITERS VT_NEAR_RUN_WRITERS
#define PHASE_MS 2000
#define MAX_PRIMARIES 8

/* A near-cache handle whose connections are named name (each test its own: CLIENT LIST). */
static vmux *open_near(const char *name)
{
    char extra[64];
    snprintf(extra, sizeof extra, "nearCache=true,name=%s", name);
    return vt_open(CLUSTER, extra);
}

/* ---- the cluster as its nodes say (CLUSTER SLOTS on a primary that stays one) ---- */

struct shard {
    int primary, replica; /* ports; replica 0 when none */
};

/* The primary (and a replica) serving slot, as the node at port says. */
static struct shard shard_of(int port, int slot)
{
    redisContext *c = vt_node_connect(port);
    redisReply *r = vt_must(c, "CLUSTER SLOTS");
    struct shard s = {0, 0};
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *range = r->element[i];
        if (range->element[0]->integer <= slot && slot <= range->element[1]->integer) {
            s.primary = (int)range->element[2]->element[1]->integer;
            if (range->elements > 3)
                s.replica = (int)range->element[3]->element[1]->integer;
        }
    }
    freeReplyObject(r);
    redisFree(c);
    assert_true(s.primary > 0);
    return s;
}

/* The distinct primaries' ports, each with a key name of one of its slots (prefix, then a tag). */
static int primaries(int port, const char *prefix, int *ports, char keys[][48])
{
    int n = 0;
    for (int tag = 0; tag < 100000 && n < MAX_PRIMARIES; tag++) {
        char key[48];
        snprintf(key, sizeof key, "%s{%d}", prefix, tag);
        int p = shard_of(port, (int)vmux__slot_of(key, strlen(key))).primary, known = 0;
        for (int i = 0; i < n; i++)
            known |= ports[i] == p;
        if (known)
            continue;
        ports[n] = p;
        snprintf(keys[n], 48, "%s", key);
        n++;
        if (n == vt_cluster_primaries(CLUSTER))
            break;
    }
    return n;
}

/* ---- reads that come from memory until invalidated ---- */

static void test_invalidated_on_each_shard(void **state)
{
    (void)state;
    vmux *m = open_near("nearshards"), *w = vt_open(CLUSTER, NULL);
    /* A healthy cluster's handle has seen no failover (its seed's first tracking, set up before
     * the seed said it was a cluster node, was counted as one: probe 56). */
    assert_int_equal(vt_near_stats(m).flushes_failover, 0);
    int ports[MAX_PRIMARIES];
    char keys[MAX_PRIMARIES][48];
    int n = primaries(vt_cluster_port(CLUSTER, 0), "near:shard", ports, keys);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        vt_near_set_cached(m, w, keys[i], "old");
        uint64_t hits = vt_near_stats(m).hits;
        assert_true(vt_near_is(m, keys[i], "old")); /* from memory: nothing changed it */
        assert_true(vt_near_stats(m).hits > hits);
        uint64_t invalidations = vt_near_stats(m).invalidations;
        vt_set(w, keys[i], "new");
        vt_near_until_sees(m, keys[i], "new"); /* the shard's invalidation arrived */
        assert_true(vt_near_stats(m).invalidations > invalidations);
        vt_near_until_cached(m, keys[i], "new");
        print_message("127.0.0.1:%d (%s): cached, invalidated, cached again\n", ports[i], keys[i]);
    }
    vmux_close(w);
    vmux_close(m);
}

/* ---- a tracked read redirected: returned, not stored, its slot flushed ---- */

static void setslot(int port, int slot, const char *how, const char *id)
{
    char s[16];
    snprintf(s, sizeof s, "%d", slot);
    redisContext *c = vt_node_connect(port);
    const char *argv[] = {"CLUSTER", "SETSLOT", s, how, id};
    freeReplyObject(vt_must_argv(c, 5, argv));
    redisFree(c);
}

static void node_id(int port, char *out, size_t len)
{
    redisContext *c = vt_node_connect(port);
    redisReply *r = vt_must(c, "CLUSTER MYID");
    snprintf(out, len, "%s", r->str);
    freeReplyObject(r);
    redisFree(c);
}

/* Moves slot from its primary src to dst as valkey-cli --cluster reshard does, keys in batches
 * of 4 (reads, when not NULL, goes up by 20 between them: a run goes on); then every primary
 * (ports[0 .. n)) names dst its owner, dst first (it bumps its epoch: the move sticks). */
static void migrate_slot(_Atomic uint64_t *reads, int slot, int src, int dst, const int *ports,
                         int n)
{
    char src_id[64], dst_id[64], s[16], p[16];
    node_id(src, src_id, sizeof src_id);
    node_id(dst, dst_id, sizeof dst_id);
    setslot(dst, slot, "IMPORTING", src_id);
    setslot(src, slot, "MIGRATING", dst_id);
    snprintf(s, sizeof s, "%d", slot);
    snprintf(p, sizeof p, "%d", dst);
    redisContext *c = vt_node_connect(src);
    for (size_t got = 1; got > 0;) {
        const char *get[] = {"CLUSTER", "GETKEYSINSLOT", s, "4"};
        redisReply *keys = vt_must_argv(c, 4, get);
        got = keys->elements;
        if (got > 0) {
            const char *argv[8 + 4] = {"MIGRATE", "127.0.0.1", p,         "",
                                       "0",       "5000",      "REPLACE", "KEYS"};
            for (size_t i = 0; i < got; i++)
                argv[8 + i] = keys->element[i]->str;
            freeReplyObject(vt_must_argv(c, 8 + (int)got, argv));
        }
        freeReplyObject(keys);
        uint64_t seen = reads != NULL ? atomic_load(reads) : 0;
        while (reads != NULL && atomic_load(reads) - seen < 20)
            uv_sleep(1);
    }
    redisFree(c);
    setslot(dst, slot, "NODE", dst_id);
    setslot(src, slot, "NODE", dst_id);
    for (int i = 0; i < n; i++)
        if (ports[i] != dst && ports[i] != src)
            setslot(ports[i], slot, "NODE", dst_id);
}

static long long keys_in_slot(int port, int slot)
{
    redisContext *c = vt_node_connect(port);
    redisReply *r = vt_must(c, "CLUSTER COUNTKEYSINSLOT %d", slot);
    long long n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/*
 * The handle's map still names the old primary of an empty slot moved to another: its near read of
 * a key there hears MOVED, the whole block is sent again to the new primary, the value comes back
 * but is not stored (its placeholder names the old one), and the slot is flushed; later reads of
 * the key are stored from the new primary.
 */
static void test_moved_read_not_stored(void **state)
{
    (void)state;
    vmux *m = open_near("nearmoved"), *w = vt_open(CLUSTER, NULL);
    int ports[MAX_PRIMARIES], seed = vt_cluster_port(CLUSTER, 0);
    char keys[MAX_PRIMARIES][48], key[48];
    int n = primaries(seed, "near:moved", ports, keys), slot = -1;
    assert_int_equal(n, 3);
    for (int tag = 0; tag < 100000 && slot < 0; tag++) { /* an empty slot of ports[0]'s */
        snprintf(key, sizeof key, "near:moving{m%d}", tag);
        int s = (int)vmux__slot_of(key, strlen(key));
        if (shard_of(seed, s).primary == ports[0] && keys_in_slot(ports[0], s) == 0)
            slot = s;
    }
    assert_true(slot >= 0);
    vt_near_set_cached(m, w, keys[0], "warm"); /* the map is loaded, the old primary tracked */
    migrate_slot(NULL, slot, ports[0], ports[1], ports, n); /* empty: no key to move */
    vt_set(w, key, "moved");                                /* w follows the MOVED itself */

    vmux_near_stats before = vt_near_stats(m);
    assert_true(vt_near_is(m, key, "moved"));
    vmux_near_stats after = vt_near_stats(m);
    assert_int_equal(after.fills, before.fills);
    assert_true(after.flushes_moved > before.flushes_moved);
    vt_near_until_cached(m, key, "moved"); /* tracked on the new primary */
    vt_set(w, key, "changed");
    vt_near_until_sees(m, key, "changed");
    print_message("slot %d: 127.0.0.1:%d -> 127.0.0.1:%d; flushes_moved %llu\n", slot, ports[0],
                  ports[1], (unsigned long long)after.flushes_moved);
    vmux_close(w);
    vmux_close(m);
}

/* ---- a node's connections lost: that node's part emptied, the others kept ---- */

/* Kills m's connection to port that has mark (flags=P: the invalidation connection, flags=t: the
 * tracking data connection); then key (on that node) is stored and invalidated again, while
 * other (on another node) was kept: its next read is a hit. */
static void kill_one(vmux *m, vmux *w, int port, const char *mark, const char *key,
                     const char *other)
{
    int cause = strcmp(mark, "flags=P") == 0 ? VT_FLUSH_LOST : VT_FLUSH_RECONNECT;
    struct vt_near_flush l = {m, cause, vt_near_flushes(m, cause)};
    vt_near_set_cached(m, w, other, "kept");
    vt_kill_client(port, vt_client_id(port, "name=nearkill ", mark));
    assert_true(vt_wait_until(vt_near_flushed, &l, WAIT_MS));
    uint64_t hits = vt_near_stats(m).hits;
    assert_true(vt_near_is(m, other, "kept"));
    assert_true(vt_near_stats(m).hits > hits);
    vt_near_set_cached(m, w, key, "after");
    vt_set(w, key, "later");
    vt_near_until_sees(m, key, "later");
}

static void test_connections_killed_on_one_shard(void **state)
{
    (void)state;
    vmux *m = open_near("nearkill"), *w = vt_open(CLUSTER, NULL);
    int ports[MAX_PRIMARIES];
    char keys[MAX_PRIMARIES][48];
    int n = primaries(vt_cluster_port(CLUSTER, 0), "near:kill", ports, keys);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) { /* every node's connections are up and tracking */
        vt_near_set_cached(m, w, keys[i], "before");
    }
    kill_one(m, w, ports[1], "flags=P", keys[1], keys[0]);
    kill_one(m, w, ports[2], "flags=t", keys[2], keys[0]);
    vmux_close(w);
    vmux_close(m);
}

/* ---- no stale read after quiescence, across a migration and a failover ---- */

static void key_name(char *buf, size_t len, unsigned i)
{
    if (i >= NKEYS - NMOVED)
        snprintf(buf, len, "{near:mv}:%u", i);
    else
        snprintf(buf, len, "near:cq:%u", i);
}

/* Opens r's handles: m (the run takes it) for the readers, one without a near cache per writer. */
static void open_run(struct vt_near_run *r, vmux *m)
{
    r->m = m;
    r->key_name = key_name;
    r->nkeys = NKEYS;
    r->nreaders = NREADERS;
    for (int i = 0; i < NWRITERS; i++)
        r->w[i] = vt_open(CLUSTER, NULL);
}

/* Lets the run go on for ms, then until it has read and written enough since the call. */
static void run_for(struct vt_near_run *r, uint64_t ms)
{
    uint64_t start = vt_now_ms(), reads = atomic_load(&r->reads), writes = atomic_load(&r->writes);
    while (vt_now_ms() - start < ms || atomic_load(&r->reads) - reads < 5000 ||
           atomic_load(&r->writes) - writes < 1000)
        uv_sleep(50);
}

static bool is_primary(void *arg)
{
    redisContext *c = vt_node_connect(*(int *)arg);
    redisReply *r = redisCommand(c, "ROLE");
    bool yes = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
               strcmp(r->element[0]->str, "master") == 0;
    freeReplyObject(r);
    redisFree(c);
    return yes;
}

/*
 * Quiescence: each primary sends its invalidations in the order of its writes, on one
 * connection, and a lost connection or a primary that stopped being one flushed its part. So
 * once each primary's barrier invalidation (written after every other write, its old value
 * cached once tracking works) has arrived, every invalidation of the run has been handled.
 */
static void quiesce(struct vt_near_run *r)
{
    int ports[MAX_PRIMARIES];
    char keys[MAX_PRIMARIES][48];
    int n = primaries(vt_cluster_port(CLUSTER, 0), "near:barrier", ports, keys);
    for (int i = 0; i < n; i++) {
        vt_near_set_cached(r->m, r->w[0], keys[i], "0");
        vt_set(r->w[0], keys[i], "1");
        vt_near_until_sees(r->m, keys[i], "1");
    }
}

static void print_run(struct vt_near_run *r, const vmux_near_stats *st)
{
    print_message("reads %llu (errors %llu), writes %llu (errors %llu); hits %llu, fills %llu, "
                  "untracked %llu, invalidations %llu; flushes: moved %llu, failover %llu, lost "
                  "%llu, reconnect %llu\n",
                  (unsigned long long)atomic_load(&r->reads),
                  (unsigned long long)atomic_load(&r->read_errors),
                  (unsigned long long)atomic_load(&r->writes),
                  (unsigned long long)atomic_load(&r->write_errors), (unsigned long long)st->hits,
                  (unsigned long long)st->fills, (unsigned long long)st->untracked,
                  (unsigned long long)st->invalidations, (unsigned long long)st->flushes_moved,
                  (unsigned long long)st->flushes_failover, (unsigned long long)st->flushes_lost,
                  (unsigned long long)st->flushes_reconnect);
}

/*
 * Ends r: stops its threads, waits for quiescence and prints the run; then no read may have
 * failed (unless reads_may_fail), the near cache must have been hit and invalidated, and no key
 * read through it may differ from the primary's value. Closes r's handles.
 */
static void finish_run(struct vt_near_run *r, bool reads_may_fail)
{
    vt_near_run_stop(r);
    quiesce(r);
    vmux_near_stats st = vt_near_stats(r->m);
    print_run(r, &st);
    if (!reads_may_fail)
        assert_int_equal(atomic_load(&r->read_errors), 0);
    assert_true(st.hits > 0 && st.invalidations > 0);
    assert_int_equal(vt_near_count_stale(r->m, r->w[0], key_name, NKEYS), 0);
    for (int i = 0; i < NWRITERS; i++)
        vmux_close(r->w[i]);
    vmux_close(r->m);
}

/* The configurations of closed invalidation links the near cache still keeps (I/O thread). */
static int count_retired(vmux *m, void *arg)
{
    struct vmux_near_cluster *cl = atomic_load(&m->near->cluster);
    *(size_t *)arg = cl != NULL ? cl->nretired : 0;
    return 0;
}

static bool none_retired(void *arg)
{
    size_t n = 1;
    return vmux__run_on_io(arg, count_retired, &n) == 0 && n == 0;
}

static void test_no_stale_read_after_migration_and_failover(void **state)
{
    (void)state;
    struct vt_near_run r = {0};
    open_run(&r, open_near("nearrun"));
    int seed = vt_cluster_port(CLUSTER, 0);
    char first[32];
    key_name(first, sizeof first, NKEYS - 1);
    vt_near_set_cached(r.m, r.w[0], first, "0"); /* tracking works before the run starts */
    vt_near_run_start(&r);
    run_for(&r, PHASE_MS);

    /* the moved keys' slot goes to another primary (not the seed's, which keeps its role) */
    int slot = (int)vmux__slot_of(first, strlen(first));
    int src = shard_of(seed, slot).primary, ports[MAX_PRIMARIES];
    char keys[MAX_PRIMARIES][48];
    int n = primaries(seed, "near:dst", ports, keys), dst = 0;
    for (int i = 0; i < n && dst == 0; i++)
        if (ports[i] != src && ports[i] != seed)
            dst = ports[i];
    assert_true(dst > 0);
    migrate_slot(&r.reads, slot, src, dst, ports, n);
    /* reads redirected (ASK, MOVED: the whole block sent again) are answered like the others */
    assert_int_equal(atomic_load(&r.read_errors), 0);
    struct vt_near_flush moved = {r.m, VT_FLUSH_MOVED, 0};
    assert_true(vt_wait_until(vt_near_flushed, &moved, WAIT_MS));
    print_message("slot %d moved from 127.0.0.1:%d to 127.0.0.1:%d\n", slot, src, dst);
    run_for(&r, PHASE_MS);

    /* a planned failover of the shard that now serves the moved keys */
    struct shard sh = shard_of(seed, slot);
    assert_true(sh.replica > 0);
    redisContext *c = vt_node_connect(sh.replica);
    vt_must_ok(c, "CLUSTER FAILOVER");
    redisFree(c);
    assert_true(vt_poll_until(is_primary, &sh.replica, WAIT_MS, 20));
    /* The demoted primary's link is not READONLY (the map named it a primary), so it answers the
     * readers' near reads, and this write of the handle's own, with MOVED: the map is refreshed
     * now rather than at the periodic check (30 s). */
    vt_set(r.m, first, "failed-over");
    struct vt_near_flush failed_over = {r.m, VT_FLUSH_FAILOVER, 0};
    assert_true(vt_wait_until(vt_near_flushed, &failed_over, WAIT_MS));
    print_message("127.0.0.1:%d took over from 127.0.0.1:%d\n", sh.replica, sh.primary);
    run_for(&r, PHASE_MS);
    /* the demoted primary's invalidation link closed: its configuration is freed two ticks on,
     * not kept until the handle closes */
    assert_true(vt_wait_until(none_retired, r.m, WAIT_MS));

    finish_run(&r, true); /* reads are checked up to the migration (above), not the failover */
}

/* ---- typed reads (HGET, HGETALL, SMEMBERS) on two shards ---- */

static void typed_writes(vmux *w, const char *hash, const char *set, const char *value)
{
    vmux_str f = vt_str("a"), v = vt_str(value);
    assert_int_equal(vmux_hset(w, NULL, vt_str(hash), &f, &v, 1, NULL), 0);
    assert_int_equal(vmux_sadd(w, NULL, vt_str(set), &v, 1, NULL), 0);
}

/*
 * Each shard's typed reads are read from its primary, stored, hit, and invalidated by that
 * shard's own invalidation connection; the other shard's stay held meanwhile.
 */
static void test_typed_reads_on_two_shards(void **state)
{
    (void)state;
    vmux *m = open_near("neartyped"), *w = vt_open(CLUSTER, NULL);
    int ports[MAX_PRIMARIES];
    char hashes[MAX_PRIMARIES][48], sets[2][64];
    assert_true(primaries(vt_cluster_port(CLUSTER, 0), "near:typed", ports, hashes) >= 2);
    struct vt_near_read hget[2], all[2], mem[2];
    for (int i = 0; i < 2; i++) {
        snprintf(sets[i], sizeof sets[i], "%.47s:set", hashes[i]); /* the hash's slot */
        typed_writes(w, hashes[i], sets[i], "1");
        hget[i] = (struct vt_near_read){m, VT_NEAR_HGET, hashes[i], "a"};
        all[i] = (struct vt_near_read){m, VT_NEAR_HGETALL, hashes[i], NULL};
        mem[i] = (struct vt_near_read){m, VT_NEAR_SMEMBERS, sets[i], NULL};
        vt_near_read_until_cached(&hget[i], "1");
        vt_near_read_until_hit(&all[i], "a=1");
        vt_near_read_until_cached(&mem[i], "1");
    }
    for (int i = 0; i < 2; i++) {
        typed_writes(w, hashes[i], sets[i], "2");
        vt_near_read_until_sees(&hget[i], "2");
        vt_near_read_until_sees(&all[i], "a=2");
        vt_near_read_until_sees(&mem[i], "1,2");
        if (i == 0) { /* the other shard's reads are still hits */
            vmux_near_stats before = vt_near_stats(m);
            assert_true(vt_near_read_is(&hget[1], "1"));
            assert_true(vt_near_read_is(&all[1], "a=1"));
            assert_true(vt_near_read_is(&mem[1], "1"));
            assert_int_equal(vt_near_stats(m).hits, before.hits + 3);
        }
        vt_near_read_until_hit(&all[i], "a=2"); /* stored again */
        print_message("127.0.0.1:%d (%s): typed reads cached, invalidated, cached again\n",
                      ports[i], hashes[i]);
    }
    vmux_close(w);
    vmux_close(m);
}

/* ---- BCAST mode: each primary's data link broadcasts the prefixes to its own ---- */

/* The BCAST handle's data connection to port tracks (t), in BCAST mode (B), to its invalidation
 * connection there. */
static void assert_bcast_redirect(int port)
{
    long long inval = vt_client_id(port, "name=nearbcast ", "cmd=subscribe");
    char redir[32];
    snprintf(redir, sizeof redir, "redir=%lld ", inval);
    assert_true(inval > 0);
    assert_true(vt_client_id(port, "flags=tB", redir) > 0);
}

/* On every primary, a BCAST handle's keys under its prefix are stored and invalidated by another
 * handle's writes, keys under none are read untracked, and the node's tracking data connection
 * is in BCAST mode (CLIENT LIST flags t and B) redirected to that node's invalidation one. */
static void test_bcast_on_each_shard(void **state)
{
    (void)state;
    vmux *m = vt_open(CLUSTER, "nearCache=true,name=nearbcast,nearCacheMode=bcast,"
                               "nearCachePrefixes=bc:;bd:"),
         *w = vt_open(CLUSTER, NULL);
    int ports[MAX_PRIMARIES];
    char keys[MAX_PRIMARIES][48], outside[MAX_PRIMARIES][48];
    int n = primaries(vt_cluster_port(CLUSTER, 0), "bc:", ports, keys);
    assert_int_equal(n, 3);
    assert_int_equal(primaries(vt_cluster_port(CLUSTER, 0), "zz:", ports, outside), 3);
    for (int i = 0; i < n; i++) {
        vt_near_set_cached(m, w, keys[i], "old");
        uint64_t invalidations = vt_near_stats(m).invalidations;
        vt_set(w, keys[i], "new");
        vt_near_until_sees(m, keys[i], "new");
        assert_true(vt_near_stats(m).invalidations > invalidations);
        vt_near_until_cached(m, keys[i], "new");
        assert_bcast_redirect(ports[i]);
    }
    /* One node's invalidation connection killed: its live data connection is re-pointed. */
    struct vt_near_flush f = {m, VT_FLUSH_LOST, vt_near_flushes(m, VT_FLUSH_LOST)};
    vt_kill_client(ports[1], vt_client_id(ports[1], "name=nearbcast ", "cmd=subscribe"));
    assert_true(vt_wait_until(vt_near_flushed, &f, WAIT_MS));
    vt_near_set_cached(m, w, keys[1], "after");
    assert_bcast_redirect(ports[1]);
    vt_set(w, keys[1], "later");
    vt_near_until_sees(m, keys[1], "later");
    for (int i = 0; i < 3; i++) {
        vt_set(w, outside[i], "o");
        uint64_t untracked = vt_near_stats(m).untracked, fills = vt_near_stats(m).fills;
        assert_true(vt_near_is(m, outside[i], "o"));
        assert_true(vt_near_is(m, outside[i], "o"));
        assert_int_equal(vt_near_stats(m).untracked - untracked, 2);
        assert_int_equal(vt_near_stats(m).fills, fills);
    }
    vmux_close(w);
    vmux_close(m);
}

/* ---- tracked reads from replicas (readFrom other than primary) ---- */

static void reset_stats(void)
{
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++)
        free(vt_node_admin(vt_cluster_port(CLUSTER, i), false, "CONFIG RESETSTAT"));
}

/* The calls of command ("get", "client|caching") served by the primaries (*p) and replicas (*r). */
static void calls_by_role(const char *command, long *p, long *r)
{
    *p = *r = 0;
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        int port = vt_cluster_port(CLUSTER, i);
        *(is_primary(&port) ? p : r) += vt_node_calls(port, command);
    }
}

/*
 * readFrom=replica: near reads go to the replicas, which track them (each with its own
 * invalidation connection): the reads are counted on the replicas (INFO commandstats: GET and
 * CLIENT CACHING inside the blocks), none on the primaries; the next reads are hits; a write to a
 * primary is invalidated by its replica once applied; killing a replica's invalidation connection
 * flushes its shard's part only (another shard's key stays a hit), and its keys are stored and
 * invalidated again afterwards.
 */
static void test_reads_from_replicas(void **state)
{
    (void)state;
    vmux *m = vt_open(CLUSTER, "nearCache=true,name=nearrep,readFrom=replica");
    vmux *w = vt_open(CLUSTER, NULL);
    int ports[MAX_PRIMARIES], seed = vt_cluster_port(CLUSTER, 0);
    char keys[MAX_PRIMARIES][48];
    int n = primaries(seed, "near:rep", ports, keys);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        vt_near_set_cached(m, w, keys[i], "old"); /* the replica has it, and tracks */
    }
    reset_stats();
    for (int i = 0; i < n; i++)
        vt_near_until_cached(m, keys[i], "old");
    long gp, gr, cp, cr;
    calls_by_role("get", &gp, &gr);
    calls_by_role("client|caching", &cp, &cr);
    print_message("readFrom=replica: GET on the primaries %ld, on the replicas %ld; CLIENT "
                  "CACHING on the primaries %ld, on the replicas %ld\n",
                  gp, gr, cp, cr);
    assert_int_equal(gp + cp, 0);
    assert_true(gr >= n && cr >= n);
    for (int i = 0; i < n; i++) {
        uint64_t inv = vt_near_stats(m).invalidations;
        vt_set(w, keys[i], "new");
        vt_near_until_sees(m, keys[i], "new"); /* the replica applied it and invalidated it */
        assert_true(vt_near_stats(m).invalidations > inv);
        vt_near_until_cached(m, keys[i], "new");
    }
    /* a replica's invalidation connection killed: its shard's part goes, the others stay */
    int replica = shard_of(seed, (int)vmux__slot_of(keys[1], strlen(keys[1]))).replica;
    assert_true(replica > 0);
    struct vt_near_flush lost = {m, VT_FLUSH_LOST, vt_near_flushes(m, VT_FLUSH_LOST)};
    vt_kill_client(replica, vt_client_id(replica, "name=nearrep ", "flags=P"));
    assert_true(vt_wait_until(vt_near_flushed, &lost, WAIT_MS));
    uint64_t hits = vt_near_stats(m).hits;
    assert_true(vt_near_is(m, keys[0], "new"));
    assert_true(vt_near_stats(m).hits > hits);
    vt_near_set_cached(m, w, keys[1], "after");
    vt_set(w, keys[1], "later");
    vt_near_until_sees(m, keys[1], "later");
    print_message("127.0.0.1:%d (a replica): invalidation connection killed, flushed, tracked "
                  "again\n",
                  replica);
    vmux_close(w);
    vmux_close(m);
}

/*
 * BCAST mode with readFrom=replica: each shard's keys under the prefix are read from its replica,
 * stored (the CLIENT TRACKINGINFO check takes any redirect there: the I/O thread checked the
 * replica's as it wrote the read), hit, and invalidated when the primary's write reaches the
 * replica.
 */
static void test_bcast_reads_from_replicas(void **state)
{
    (void)state;
    vmux *m = vt_open(CLUSTER, "nearCache=true,name=nearrepb,readFrom=replica,"
                               "nearCacheMode=bcast,nearCachePrefixes=near:repb");
    vmux *w = vt_open(CLUSTER, NULL);
    int ports[MAX_PRIMARIES], seed = vt_cluster_port(CLUSTER, 0);
    char keys[MAX_PRIMARIES][48];
    int n = primaries(seed, "near:repb", ports, keys);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        vt_near_set_cached(m, w, keys[i], "old"); /* stored from the replica, then a hit */
    }
    reset_stats();
    for (int i = 0; i < n; i++)
        vt_near_until_cached(m, keys[i], "old");
    long gp, gr;
    calls_by_role("get", &gp, &gr);
    assert_int_equal(gp, 0);
    assert_true(gr >= n);
    for (int i = 0; i < n; i++) {
        vt_set(w, keys[i], "new");
        vt_near_until_sees(m, keys[i], "new");
        vt_near_until_cached(m, keys[i], "new");
    }
    vmux_close(w);
    vmux_close(m);
}

/*
 * The stale-read run with readFrom=replica: reader threads read through the replicas while two
 * writer handles write to the primaries; mid-run one replica's invalidation connection is
 * killed, then another replica's data connection, then that replica takes over its shard
 * (CLUSTER FAILOVER: the old primary serves the shard's reads). After quiescence (each primary's
 * barrier key, written last, seen through its replica, which applies its primary's writes in order)
 * every key read through the near cache equals the primary's value.
 */
static void test_no_stale_read_from_replicas(void **state)
{
    (void)state;
    struct vt_near_run r = {0};
    open_run(&r, vt_open(CLUSTER, "nearCache=true,name=nearreprun,readFrom=replica"));
    int seed = vt_cluster_port(CLUSTER, 0), ports[MAX_PRIMARIES];
    char keys[MAX_PRIMARIES][48];
    int n = primaries(seed, "near:reprun", ports, keys);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) { /* every replica tracks before the run starts */
        vt_near_set_cached(r.m, r.w[0], keys[i], "0");
    }
    reset_stats();
    vt_near_run_start(&r);
    run_for(&r, PHASE_MS);
    int rep1 = shard_of(seed, (int)vmux__slot_of(keys[1], strlen(keys[1]))).replica;
    int rep2 = shard_of(seed, (int)vmux__slot_of(keys[2], strlen(keys[2]))).replica;
    struct vt_near_flush lost = {r.m, VT_FLUSH_LOST, vt_near_flushes(r.m, VT_FLUSH_LOST)};
    vt_kill_client(rep1, vt_client_id(rep1, "name=nearreprun ", "flags=P"));
    assert_true(vt_wait_until(vt_near_flushed, &lost, WAIT_MS));
    run_for(&r, PHASE_MS);
    struct vt_near_flush gone = {r.m, VT_FLUSH_RECONNECT, vt_near_flushes(r.m, VT_FLUSH_RECONNECT)};
    vt_kill_client(rep2, vt_client_id(rep2, "name=nearreprun ", "flags=tr"));
    assert_true(vt_wait_until(vt_near_flushed, &gone, WAIT_MS));
    run_for(&r, PHASE_MS);
    long gp, gr, cp, cr; /* before roles change: which node served what */
    calls_by_role("get", &gp, &gr);
    calls_by_role("client|caching", &cp, &cr);
    print_message("before the failover: GET on the primaries %ld, on the replicas %ld; CLIENT "
                  "CACHING on the primaries %ld, on the replicas %ld\n",
                  gp, gr, cp, cr);
    assert_int_equal(gp + cp, 0);
    assert_true(cr > 0);
    /* roles change: shard 2's replica takes over (its reads now stored under its own id), the
     * old primary serves the shard's reads as its replica; a write of the handle's own hears
     * MOVED and has the map refreshed now rather than at the periodic check */
    struct shard sh = shard_of(seed, (int)vmux__slot_of(keys[2], strlen(keys[2])));
    struct vt_near_flush failed_over = {r.m, VT_FLUSH_FAILOVER,
                                        vt_near_flushes(r.m, VT_FLUSH_FAILOVER)};
    redisContext *c = vt_node_connect(sh.replica);
    vt_must_ok(c, "CLUSTER FAILOVER");
    redisFree(c);
    assert_true(vt_poll_until(is_primary, &sh.replica, WAIT_MS, 20));
    vt_set(r.m, keys[2], "failed-over");
    assert_true(vt_wait_until(vt_near_flushed, &failed_over, WAIT_MS));
    print_message("127.0.0.1:%d took over from 127.0.0.1:%d\n", sh.replica, sh.primary);
    run_for(&r, PHASE_MS);
    finish_run(&r, false);
}

/* ---- a primary SIGKILLed mid-run: its replica promoted, no stale read after quiescence ---- */

static double ms_since(uint64_t since_ns)
{
    return (double)(vt_now_ns() - since_ns) / 1e6;
}

/*
 * A primary other than the seed's is SIGKILLed while the readers and writers run: its
 * invalidation and data connections break (flushes_lost or flushes_reconnect, whichever the
 * I/O thread hears first), the cluster promotes its replica (cluster-node-timeout 2 s), the
 * handle's new map no longer names it (flushes_failover), and the promoted replica's keys are
 * stored again once the handle's link to it tracks to its own invalidation connection. The
 * window is printed: kill to promotion, to the failover flush, to a key of the shard stored
 * again. Near reads wait out the failover (syncTimeout 15 s, retry-safe): none may fail.
 */
static void test_no_stale_read_after_primary_killed(void **state)
{
    (void)state;
    struct vt_near_run r = {0};
    open_run(&r,
             vt_open(CLUSTER, "nearCache=true,name=nearkill9,syncTimeout=15000,reconnectMax=500"));
    int seed = vt_cluster_port(CLUSTER, 0), ports[MAX_PRIMARIES], victim = -1;
    char keys[MAX_PRIMARIES][48];
    int n = primaries(seed, "near:victim", ports, keys);
    for (int i = 0; i < n && victim < 0; i++)
        if (ports[i] != seed)
            victim = i;
    assert_true(victim >= 0);
    const char *key = keys[victim];
    struct shard sh = shard_of(seed, (int)vmux__slot_of(key, strlen(key)));
    assert_true(sh.replica > 0);
    vt_near_set_cached(r.m, r.w[0], key, "before"); /* the victim's connections track */
    vt_near_run_start(&r);
    run_for(&r, PHASE_MS);

    vmux_near_stats before = vt_near_stats(r.m);
    struct vt_near_flush failed_over = {r.m, VT_FLUSH_FAILOVER, before.flushes_failover};
    long pid = vt_node_pid(sh.primary);
    uint64_t kill_ns = vt_now_ns();
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    assert_true(vt_poll_until(is_primary, &sh.replica, WAIT_MS, 20));
    double promoted_ms = ms_since(kill_ns);
    assert_true(vt_wait_until(vt_near_flushed, &failed_over, WAIT_MS));
    double flushed_ms = ms_since(kill_ns);
    vt_near_set_cached(r.m, r.w[0], key, "after"); /* tracked on the promoted replica */
    double stored_ms = ms_since(kill_ns);
    vmux_near_stats mid = vt_near_stats(r.m);
    assert_true(mid.flushes_lost + mid.flushes_reconnect >
                before.flushes_lost + before.flushes_reconnect);
    print_message("SIGKILL of 127.0.0.1:%d: 127.0.0.1:%d a primary after %.0f ms; its part "
                  "flushed (failover) after %.0f ms; %s stored again after %.0f ms\n",
                  sh.primary, sh.replica, promoted_ms, flushed_ms, key, stored_ms);
    run_for(&r, PHASE_MS);

    finish_run(&r, false);
}

/* ---- freshness: from an acknowledged SET to the reader's first read of the new value ---- */

#define FRESH_WRITES 300

/*
 * As test_near_cache's test_freshness, with keys on every shard (one per primary, written in
 * turn): each write by another handle replaces a value this handle held (a hit just before);
 * the time from the acknowledged SET to the first near read of the new value is printed (p50,
 * p99, max, all shards together). No bound is asserted on them (a busy machine decides), only
 * that every write became visible within VT_NEAR_WAIT_MS and every read before returned the
 * old value.
 */
static void test_freshness(void **state)
{
    (void)state;
    vmux *m = open_near("nearfresh"), *w = vt_open(CLUSTER, NULL);
    int ports[MAX_PRIMARIES], version[MAX_PRIMARIES] = {0};
    char keys[MAX_PRIMARIES][48];
    int n = primaries(vt_cluster_port(CLUSTER, 0), "near:fresh", ports, keys);
    assert_int_equal(n, 3);
    static uint64_t lat[FRESH_WRITES];
    for (int k = 0; k < n; k++)
        vt_set(w, keys[k], "0");
    for (int i = 0; i < FRESH_WRITES; i++) {
        int k = i % n;
        char old[16], now[16];
        snprintf(old, sizeof old, "%d", version[k]);
        snprintf(now, sizeof now, "%d", ++version[k]);
        vt_near_until_cached(m, keys[k], old);
        vt_set(w, keys[k], now);
        lat[i] = vt_near_until_fresh(m, keys[k], old, now, vt_now_ns());
    }
    vt_near_print_windows("cluster freshness (3 shards)", lat, FRESH_WRITES);
    assert_true(vt_near_stats(m).invalidations >= FRESH_WRITES);
    vmux_close(w);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalidated_on_each_shard),
        cmocka_unit_test(test_typed_reads_on_two_shards),
        cmocka_unit_test(test_connections_killed_on_one_shard),
        cmocka_unit_test(test_moved_read_not_stored),
        cmocka_unit_test(test_freshness),
        cmocka_unit_test(test_reads_from_replicas),
        cmocka_unit_test(test_bcast_reads_from_replicas),
        cmocka_unit_test(test_no_stale_read_from_replicas),
        cmocka_unit_test(test_no_stale_read_after_migration_and_failover),
        cmocka_unit_test(test_bcast_on_each_shard),
    };
    const struct CMUnitTest kill_tests[] = {
        cmocka_unit_test(test_no_stale_read_after_primary_killed),
    };
    if (getenv("VMUX_TEST_NEAR_KILL") != NULL) {
        cluster_name = "cluster-near-kill";
        return cmocka_run_group_tests(kill_tests, NULL, NULL);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The near cache store (core/near_store.h): the placeholder protocol, flushes by node, slot and
 * all, expiry, the entry and byte bounds, CLOCK keeping a hot key, and many threads reserving,
 * filling, looking up and invalidating at once without a lookup ever returning a value older
 * than an invalidation that completed before it began.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>

#include "core/near_store.h"
#include "nearstore.h"
#include "vmux/error.h"

/* Reserves and fills key with value on node 0, slot 0; returns what the fill returned. */
static int put(struct vmux_near *s, const char *key, const char *value, uint64_t deadline)
{
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve(s, key, strlen(key), 0, 0, NOW, &t), 0);
    return vmux__near_fill(s, t, key, strlen(key), value, strlen(value), deadline, NOW);
}

/* Asserts that key hits with value at now. */
static void assert_hit(struct vmux_near *s, const char *key, const char *value, uint64_t now)
{
    vmux_bytes b;
    assert_int_equal(vmux__near_lookup(s, key, strlen(key), now, &b), 1);
    assert_int_equal(b.len, strlen(value));
    assert_memory_equal(b.ptr, value, b.len);
    vmux_bytes_free(&b);
}

static void assert_miss(struct vmux_near *s, const char *key, uint64_t now)
{
    vmux_bytes b;
    assert_int_equal(vmux__near_lookup(s, key, strlen(key), now, &b), 0);
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
}

static void test_reserve_fill_lookup(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    struct vmux_near_token t;
    assert_miss(s, "k", NOW);
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 0, NOW, &t), 0);
    assert_int_not_equal(t.id, 0);
    assert_miss(s, "k", NOW); /* a placeholder is never a hit */
    struct vmux_near_store_stats st = vt_store_stats(s);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.placeholders, 1);
    assert_int_equal(st.bytes, vmux__near_entry_bytes(1, 0, 0));
    assert_int_equal(vmux__near_fill(s, t, "k", 1, "hello", 5, NO_TTL, NOW), 1);
    assert_hit(s, "k", "hello", NOW);
    /* filled already: a second reply of the same value changes nothing */
    assert_int_equal(vmux__near_fill(s, t, "k", 1, "hello", 5, NO_TTL, NOW), 0);
    assert_hit(s, "k", "hello", NOW);
    st = vt_store_stats(s);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.fills, 1);
    assert_int_equal(st.fills_dropped, 1);
    assert_int_equal(st.placeholders, 0);
    assert_int_equal(st.bytes, vmux__near_entry_bytes(1, 5, 1));
    vmux__near_free(s);
}

static void test_invalidation_beats_the_reply(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 0, NOW, &t), 0);
    assert_int_equal(vmux__near_invalidate(s, "k", 1), 1); /* arrives before the reply */
    assert_int_equal(vmux__near_fill(s, t, "k", 1, "old", 3, NO_TTL, NOW), 0);
    assert_miss(s, "k", NOW);
    /* a new reservation after it stores */
    assert_int_equal(put(s, "k", "new", NO_TTL), 1);
    assert_hit(s, "k", "new", NOW);
    assert_int_equal(vmux__near_invalidate(s, "k", 1), 1);
    assert_int_equal(vmux__near_invalidate(s, "k", 1), 0);
    assert_miss(s, "k", NOW);
    struct vmux_near_store_stats st = vt_store_stats(s);
    assert_int_equal(st.invalidations, 2);
    assert_int_equal(st.fills_dropped, 1);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    vmux__near_free(s);
}

static void test_placeholder_shared_and_replaced(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    struct vmux_near_token a, b, c;
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 7, NOW, &a), 0);
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 7, NOW, &b), 0);
    assert_int_equal(a.id, b.id); /* two misses of one key share the placeholder */
    assert_int_equal(vmux__near_fill(s, b, "k", 1, "v", 1, NO_TTL, NOW), 1);
    assert_int_equal(vmux__near_fill(s, a, "k", 1, "v", 1, NO_TTL, NOW), 0);
    assert_hit(s, "k", "v", NOW);
    /* read from another node (the slot moved): the entry is replaced, the old token is dead */
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 7, NOW, &a), 0);
    assert_int_equal(vmux__near_reserve(s, "k", 1, 1, 7, NOW, &c), 0);
    assert_int_not_equal(a.id, c.id);
    assert_int_equal(vmux__near_fill(s, a, "k", 1, "c", 1, NO_TTL, NOW), 0);
    assert_int_equal(vmux__near_fill(s, c, "k", 1, "c", 1, NO_TTL, NOW), 1);
    assert_hit(s, "k", "c", NOW);
    assert_int_equal(vt_store_stats(s).entries, 1);
    vmux__near_free(s);
}

/*
 * Monotonic per reader: two reads of one key out at once, their replies handed in by their
 * callers in the other order than the server ran them, and the invalidation not yet here. No
 * reader handed the newer value may hit the older one afterwards.
 */
static void test_replies_meet(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    struct vmux_near_token a, b, c;
    /* shared placeholder: "old" stored first, then a reader is handed "new": "old" goes */
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 0, NOW, &a), 0);
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 0, NOW, &b), 0);
    assert_int_equal(vmux__near_fill(s, a, "k", 1, "old", 3, NO_TTL, NOW), 1);
    assert_int_equal(vmux__near_fill(s, b, "k", 1, "new", 3, NO_TTL, NOW), 0);
    assert_miss(s, "k", NOW);
    assert_int_equal(vt_store_stats(s).conflicts, 1);
    /* the newer reply met a waiting placeholder first: its older fill does not store */
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 0, NOW, &a), 0);
    assert_int_equal(vmux__near_reserve(s, "k", 1, 1, 0, NOW, &c), 0); /* replaces a's */
    assert_int_equal(vmux__near_fill(s, a, "k", 1, "new", 3, NO_TTL, NOW), 0);
    assert_int_equal(vmux__near_fill(s, c, "k", 1, "old", 3, NO_TTL, NOW), 0);
    assert_miss(s, "k", NOW);
    assert_int_equal(vt_store_stats(s).entries, 0);
    /* a read made without tracking meets the store too; so does a missing key */
    assert_int_equal(put(s, "k", "old", NO_TTL), 1);
    vmux__near_seen(s, "k", 1, "old", 3); /* the same value: kept */
    assert_hit(s, "k", "old", NOW);
    vmux__near_seen(s, "k", 1, NULL, 0);
    assert_miss(s, "k", NOW);
    /* a placeholder that met two values stores neither */
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 0, NOW, &a), 0);
    vmux__near_seen(s, "k", 1, "x", 1);
    vmux__near_seen(s, "k", 1, "y", 1);
    assert_int_equal(vmux__near_fill(s, a, "k", 1, "x", 1, NO_TTL, NOW), 0);
    assert_miss(s, "k", NOW);
    /* ... and one that met its own value stores it */
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 0, NOW, &a), 0);
    vmux__near_seen(s, "k", 1, "z", 1);
    assert_int_equal(vmux__near_fill(s, a, "k", 1, "z", 1, NO_TTL, NOW), 1);
    assert_hit(s, "k", "z", NOW);
    vmux__near_free(s);
}

static void test_cancel(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 0, NOW, &t), 0);
    vmux__near_cancel(s, t);
    assert_int_equal(vt_store_stats(s).entries, 0);
    assert_int_equal(vmux__near_fill(s, t, "k", 1, "v", 1, NO_TTL, NOW), 0);
    /* cancelling a filled token leaves the value alone */
    assert_int_equal(vmux__near_reserve(s, "k", 1, 0, 0, NOW, &t), 0);
    assert_int_equal(vmux__near_fill(s, t, "k", 1, "v", 1, NO_TTL, NOW), 1);
    vmux__near_cancel(s, t);
    assert_hit(s, "k", "v", NOW);
    vmux__near_cancel(s, (struct vmux_near_token){0});
    vmux__near_free(s);
}

/* Puts "a" (node 0, slot 1), "b" (node 1, slot 1) and "c" (node 1, slot 2). */
static void put_three(struct vmux_near *s)
{
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve(s, "a", 1, 0, 1, NOW, &t), 0);
    assert_int_equal(vmux__near_fill(s, t, "a", 1, "A", 1, NO_TTL, NOW), 1);
    assert_int_equal(vmux__near_reserve(s, "b", 1, 1, 1, NOW, &t), 0);
    assert_int_equal(vmux__near_fill(s, t, "b", 1, "B", 1, NO_TTL, NOW), 1);
    assert_int_equal(vmux__near_reserve(s, "c", 1, 1, 2, NOW, &t), 0);
    assert_int_equal(vmux__near_fill(s, t, "c", 1, "C", 1, NO_TTL, NOW), 1);
}

static void test_flush_node(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    put_three(s);
    struct vmux_near_token before, after;
    assert_int_equal(vmux__near_reserve(s, "d", 1, 1, 3, NOW, &before), 0);
    vmux__near_flush_node(s, 1, VMUX_NEAR_LINK_LOST);
    assert_int_equal(vmux__near_reserve(s, "e", 1, 1, 3, NOW, &after), 0);
    assert_hit(s, "a", "A", NOW);
    assert_miss(s, "b", NOW);
    assert_miss(s, "c", NOW);
    assert_int_equal(vmux__near_fill(s, before, "d", 1, "D", 1, NO_TTL, NOW), 0);
    assert_int_equal(vmux__near_fill(s, after, "e", 1, "E", 1, NO_TTL, NOW), 1);
    assert_hit(s, "e", "E", NOW);
    struct vmux_near_store_stats st = vt_store_stats(s);
    assert_int_equal(st.flushes[VMUX_NEAR_LINK_LOST], 1);
    assert_int_equal(st.flushes[VMUX_NEAR_MOVED], 0);
    vmux__near_flush_node(s, 100000, VMUX_NEAR_LINK_LOST); /* out of range: ignored */
    assert_int_equal(vt_store_stats(s).flushes[VMUX_NEAR_LINK_LOST], 1);
    vmux__near_free(s);
}

static void test_flush_slot_and_all(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    put_three(s);
    vmux__near_flush_slot(s, 1, VMUX_NEAR_MOVED);
    assert_miss(s, "a", NOW);
    assert_miss(s, "b", NOW);
    assert_hit(s, "c", "C", NOW);
    put_three(s);
    assert_hit(s, "a", "A", NOW); /* reserved after the flush: current */
    vmux__near_flush_all(s, VMUX_NEAR_SERVER_FLUSH);
    assert_miss(s, "a", NOW);
    assert_miss(s, "b", NOW);
    assert_miss(s, "c", NOW);
    struct vmux_near_store_stats st = vt_store_stats(s);
    assert_int_equal(st.flushes[VMUX_NEAR_MOVED], 1);
    assert_int_equal(st.flushes[VMUX_NEAR_SERVER_FLUSH], 1);
    vmux__near_free(s);
}

static void test_sweep_returns_flushed_bytes(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    put_three(s);
    assert_int_equal(put(s, "x", "X", NOW + 10), 1);
    vmux__near_flush_node(s, 1, VMUX_NEAR_FAILOVER);
    assert_int_equal(vt_store_stats(s).entries, 4); /* dropped lazily */
    assert_int_equal(vmux__near_sweep(s, NOW), 2);
    assert_int_equal(vmux__near_sweep(s, NOW + 10), 1); /* "x" expired */
    struct vmux_near_store_stats st = vt_store_stats(s);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, vmux__near_entry_bytes(1, 1, 1));
    assert_int_equal(st.expirations, 1);
    assert_hit(s, "a", "A", NOW);
    vmux__near_free(s);
}

/* The bounded sweep goes on where it stopped: 40 expired entries over 4 shards, 7 looked at a
 * call, are all dropped within 6 calls (40 / 7, rounded up), never more than 7 a call. */
static void test_sweep_some_goes_on(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 4);
    char key[16];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(put(s, key, "v", NOW + 10), 1);
    }
    unsigned next = 0;
    size_t total = 0;
    for (int call = 0; call < 6; call++) {
        size_t dropped = vmux__near_sweep_some(s, &next, 7, NOW + 10);
        assert_true(dropped <= 7);
        total += dropped;
    }
    assert_int_equal(total, 40);
    struct vmux_near_store_stats st = vt_store_stats(s);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.expirations, 40);
    assert_int_equal(vmux__near_sweep_some(s, &next, 7, NOW + 10), 0);
    vmux__near_free(s);
}

static void test_expiry_and_local_cap(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    assert_int_equal(put(s, "k", "v", NOW + 50), 1);
    assert_hit(s, "k", "v", NOW + 49);
    assert_miss(s, "k", NOW + 50);
    assert_int_equal(vt_store_stats(s).expirations, 1);
    assert_int_equal(vt_store_stats(s).entries, 0);
    assert_int_equal(put(s, "k", "v", NOW), 0); /* the server's deadline has passed */
    vmux__near_free(s);

    struct vmux_near_limits l = {.local_ttl_ns = 100};
    assert_int_equal(vmux__near_new(&l, &s), 0);
    assert_int_equal(put(s, "k", "v", NO_TTL), 1);
    assert_hit(s, "k", "v", NOW + 99);
    assert_miss(s, "k", NOW + 100);
    assert_int_equal(put(s, "k", "v", NOW + 20), 1); /* the server's TTL is the shorter */
    assert_miss(s, "k", NOW + 20);
    vmux__near_free(s);
}

static void test_entry_limit_and_clock(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(4, 0, 1);
    char key[16];
    assert_int_equal(put(s, "hot", "H", NO_TTL), 1);
    for (int i = 0; i < 100; i++) {
        assert_hit(s, "hot", "H", NOW); /* looked up between every insertion: kept */
        snprintf(key, sizeof(key), "cold%d", i);
        assert_int_equal(put(s, key, "c", NO_TTL), 1);
        assert_true(vt_store_stats(s).entries <= 4);
    }
    assert_hit(s, "hot", "H", NOW);
    assert_miss(s, "cold0", NOW);
    assert_true(vt_store_stats(s).evictions >= 96);
    vmux__near_free(s);
}

static void test_eviction_takes_flushed_entries_first(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(4, 0, 1);
    const char *keys[] = {"a", "b", "c", "d"};
    for (unsigned i = 0; i < 4; i++) {
        struct vmux_near_token t;
        assert_int_equal(vmux__near_reserve(s, keys[i], 1, i > 0, 0, NOW, &t), 0);
        assert_int_equal(vmux__near_fill(s, t, keys[i], 1, "v", 1, NO_TTL, NOW), 1);
        assert_hit(s, keys[i], "v", NOW); /* every bit set: CLOCK alone would take "a" */
    }
    vmux__near_flush_node(s, 1, VMUX_NEAR_RECONNECT); /* "b", "c", "d" */
    assert_int_equal(put(s, "e", "v", NO_TTL), 1);
    assert_hit(s, "a", "v", NOW);
    assert_hit(s, "e", "v", NOW);
    struct vmux_near_store_stats st = vt_store_stats(s);
    assert_int_equal(st.evictions, 0); /* dropping a flushed entry is not an eviction */
    assert_int_equal(st.entries, 4);
    vmux__near_free(s);
}

static void fill_random(struct vmux_near *s, size_t max_bytes, unsigned seed)
{
    char key[32], value[600];
    memset(value, 'v', sizeof(value));
    for (int i = 0; i < 2000; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(key, sizeof(key), "key:%u", (seed >> 8) % 500);
        struct vmux_near_token t;
        assert_int_equal(vmux__near_reserve(s, key, strlen(key), 0, 0, NOW, &t), 0);
        assert_true(vt_store_stats(s).bytes <= max_bytes);
        vmux__near_fill(s, t, key, strlen(key), value, (seed >> 4) % sizeof(value), NO_TTL, NOW);
        struct vmux_near_store_stats st = vt_store_stats(s);
        assert_true(st.bytes <= max_bytes);
    }
}

/* The largest entry limit takes no room up front: a shard's ring and buckets grow (rehashing) as
 * entries come, and every entry stays found, none evicted. */
static void test_room_grows_with_entries(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(SIZE_MAX, 64u << 20, 4);
    char key[32];
    for (int i = 0; i < 3000; i++) { /* 750 a shard: the first room of 64 doubles 4 times */
        snprintf(key, sizeof key, "grow:%d", i);
        assert_int_equal(put(s, key, "v", NO_TTL), 1);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "grow:%d", i);
        assert_hit(s, key, "v", NOW);
    }
    struct vmux_near_store_stats st = vt_store_stats(s);
    assert_int_equal(st.entries, 3000);
    assert_int_equal(st.evictions, 0);
    vmux__near_free(s);
}

static void test_byte_limit_never_exceeded(void **state)
{
    (void)state;
    size_t max = 8192;
    struct vmux_near *s = vt_store_with(1000, max, 1);
    fill_random(s, max, 1);
    assert_true(vt_store_stats(s).evictions > 0);
    /* a value larger than a shard's budget is not stored, and its placeholder goes */
    static char big[9000];
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve(s, "big", 3, 0, 0, NOW, &t), 0);
    assert_int_equal(vmux__near_fill(s, t, "big", 3, big, sizeof(big), NO_TTL, NOW), 0);
    assert_miss(s, "big", NOW);
    assert_true(vt_store_stats(s).bytes <= max);
    vmux__near_free(s);

    s = vt_store_with(1000, 4 * max, 4);
    fill_random(s, 4 * max, 2);
    vmux__near_free(s);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct vmux_near *s = NULL;
    struct vmux_near_limits l = {.nodes = VMUX_NEAR_MAX_NODES + 1};
    assert_int_equal(vmux__near_new(&l, &s), VMUX_ERR_INVALID_ARG);
    assert_null(s);
    l = (struct vmux_near_limits){.max_bytes = 16};
    assert_int_equal(vmux__near_new(&l, &s), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux__near_new(NULL, NULL), VMUX_ERR_INVALID_ARG);
    l = (struct vmux_near_limits){.nodes = 2};
    assert_int_equal(vmux__near_new(&l, &s), 0);
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve(s, "k", 1, 2, 0, NOW, &t), VMUX_ERR_INVALID_ARG);
    assert_int_equal(t.id, 0);
    assert_int_equal(vmux__near_reserve(s, "k", 1, 1, VMUX_NEAR_SLOTS, NOW, &t),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux__near_fill(s, t, "k", 1, "v", 1, NO_TTL, NOW), 0); /* empty token */
    vmux__near_free(s);
    vmux__near_free(NULL);
}

/*
 * Many threads at once. Each key has a server version (server[k]); a writer raises it, then
 * invalidates the key (or flushes its node, its slot, or everything, as a lost invalidation
 * would require), then publishes the version as the key's floor. A reader reads the floor
 * before its lookup: a hit must carry a version at least that. A miss reserves, reads the
 * server version, and fills it. Each reader also checks that a key's versions never go back
 * for it (a write's invalidation comes a moment after the write, as on a real connection).
 * Reads use one of VARIANTS variants of the key (none, as GET; two others, as HGET and
 * HGETALL): one invalidation must reach them all; the order is checked per variant.
 */
#define KEYS 64
#define NODES 4
#define READERS 4
#define WRITERS 2
#define READS 20000
#define VARIANTS 3

static const char *const variant[VARIANTS] = {"", "f:a", "h"};

struct race {
    struct vmux_near *s;
    _Atomic uint64_t server[KEYS], floor[KEYS];
    atomic_int bad, backwards, hits, stored, raced;
    atomic_bool done;
    atomic_uint seed;
};

static unsigned next_rand(unsigned *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static int key_of(int k, char *buf)
{
    return snprintf(buf, 16, "k%d", k);
}

static void raise_floor(_Atomic uint64_t *f, uint64_t v)
{
    uint64_t cur = atomic_load(f);
    while (cur < v && !atomic_compare_exchange_weak(f, &cur, v)) {
    }
}

static void write_once(struct race *r, unsigned *x)
{
    char key[16];
    int k = (int)(next_rand(x) % KEYS);
    uint64_t v = atomic_fetch_add(&r->server[k], 1) + 1;
    unsigned what = next_rand(x) % 32;
    if (what % 4 == 3)
        sched_yield(); /* the invalidation is on its way: readers may see the new version */
    if (what == 0)
        vmux__near_flush_node(r->s, k % NODES, VMUX_NEAR_LINK_LOST);
    else if (what == 1)
        vmux__near_flush_slot(r->s, k % 16, VMUX_NEAR_MOVED);
    else if (what == 2)
        vmux__near_flush_all(r->s, VMUX_NEAR_SERVER_FLUSH);
    else
        vmux__near_invalidate(r->s, key, key_of(k, key));
    raise_floor(&r->floor[k], v);
}

/* Writes until every reader is done, giving the processor away now and then. */
static void writer(void *arg)
{
    struct race *r = arg;
    unsigned x = atomic_fetch_add(&r->seed, 1) * 2654435761u + 1;
    for (int i = 0; !atomic_load(&r->done); i++) {
        write_once(r, &x);
        if (i % 4 == 0)
            sched_yield();
    }
}

/* A value: the version in decimal, padded to a length that varies with it (bytes change). */
static size_t encode(uint64_t v, char *buf)
{
    int n = snprintf(buf, 64, "%llu;", (unsigned long long)v);
    size_t len = (size_t)n + v % 23;
    memset(buf + n, '.', len - (size_t)n);
    return len;
}

/* Notes version v of key k as seen by this reader, counting a step back. */
static void saw(struct race *r, uint64_t *last, uint64_t v)
{
    if (v < *last)
        atomic_fetch_add(&r->backwards, 1);
    else
        *last = v;
}

static void read_once(struct race *r, int k, int vi, uint64_t *last, unsigned *x)
{
    char key[16], val[64];
    size_t keylen = (size_t)key_of(k, key);
    const struct vmux_near_key nk = {key, keylen, variant[vi], strlen(variant[vi])};
    uint64_t floor = atomic_load(&r->floor[k]);
    vmux_bytes b = {0};
    if (vmux__near_lookup_var(r->s, &nk, NOW, vt_take_copy, &b) == 1) {
        uint64_t h = strtoull(b.ptr, NULL, 10);
        if (h < floor)
            atomic_fetch_add(&r->bad, 1);
        saw(r, last, h);
        atomic_fetch_add(&r->hits, 1);
        vmux_bytes_free(&b);
        return;
    }
    struct vmux_near_token t;
    if (vmux__near_reserve_var(r->s, &nk, (unsigned)k % NODES, (unsigned)k % 16, NOW, &t) != 0)
        return;
    uint64_t v = atomic_load(&r->server[k]); /* the read, sent after the reservation */
    sched_yield(); /* the reply's way back: writers invalidate meanwhile */
    if (next_rand(x) % 16 == 0) {
        vmux__near_cancel(r->s, t); /* the read failed */
    } else {
        if (vmux__near_fill_var(r->s, t, &nk, val, encode(v, val), NO_TTL, NOW) == 1)
            atomic_fetch_add(&r->stored, 1);
        saw(r, last, v); /* handed to the caller, stored or not */
    }
    if (atomic_load(&r->server[k]) != v)
        atomic_fetch_add(&r->raced, 1); /* a write came between the read and its fill */
}

static void reader(void *arg)
{
    struct race *r = arg;
    unsigned x = atomic_fetch_add(&r->seed, 1) * 2654435761u + 1;
    uint64_t last[KEYS][VARIANTS] = {{0}};
    for (int i = 0; i < READS; i++) {
        int k = (int)(next_rand(&x) % KEYS), vi = (int)(next_rand(&x) % VARIANTS);
        read_once(r, k, vi, &last[k][vi], &x);
    }
}

static void test_concurrent_never_older_than_an_invalidation(void **state)
{
    (void)state;
    static struct race r;
    memset(&r, 0, sizeof(r));
    /* fewer entries than keys: eviction runs in the race too */
    struct vmux_near_limits l = {.max_entries = 48, .shards = 8, .nodes = NODES};
    assert_int_equal(vmux__near_new(&l, &r.s), 0);
    uv_thread_t th[READERS + WRITERS];
    for (int i = 0; i < READERS + WRITERS; i++)
        assert_int_equal(uv_thread_create(&th[i], i < READERS ? reader : writer, &r), 0);
    for (int i = 0; i < READERS + WRITERS; i++) {
        if (i == READERS)
            atomic_store(&r.done, true);
        assert_int_equal(uv_thread_join(&th[i]), 0);
    }
    assert_int_equal(atomic_load(&r.bad), 0);
    assert_int_equal(atomic_load(&r.backwards), 0);
    assert_true(atomic_load(&r.hits) > 0); /* the check above looked at something */
    assert_true(atomic_load(&r.stored) > 0);
    assert_true(atomic_load(&r.raced) > 0); /* the race the placeholders are for did happen */
    struct vmux_near_store_stats st = vt_store_stats(r.s);
    assert_true(st.entries <= 48);
    assert_int_equal(st.hits, (uint64_t)atomic_load(&r.hits));
    assert_int_equal(st.fills, (uint64_t)atomic_load(&r.stored));
    vmux__near_free(r.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_fill_lookup),
        cmocka_unit_test(test_invalidation_beats_the_reply),
        cmocka_unit_test(test_placeholder_shared_and_replaced),
        cmocka_unit_test(test_replies_meet),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_flush_node),
        cmocka_unit_test(test_flush_slot_and_all),
        cmocka_unit_test(test_sweep_returns_flushed_bytes),
        cmocka_unit_test(test_sweep_some_goes_on),
        cmocka_unit_test(test_expiry_and_local_cap),
        cmocka_unit_test(test_entry_limit_and_clock),
        cmocka_unit_test(test_eviction_takes_flushed_entries_first),
        cmocka_unit_test(test_room_grows_with_entries),
        cmocka_unit_test(test_byte_limit_never_exceeded),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_concurrent_never_older_than_an_invalidation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Typed reads through the near cache (vmux_near_hget(), vmux_near_hgetall(),
 * vmux_near_smembers(): vmux/near.h) against a server of the test's own (DEBUG SET-ACTIVE-EXPIRE
 * and FLUSHALL must not reach other tests): each is stored after a miss and then hit; another
 * client's HSET, SADD or DEL reaches every read held of its key (every field, the whole hash);
 * reads of other keys are untouched; WRONGTYPE comes back as VMUX_ERR_SERVER and removes the
 * key's other reads; an entry ends with its key's TTL though no invalidation comes; a hash too
 * big for nearCacheMaxBytes is returned but not stored; bad arguments and a handle without a near
 * cache are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nearprobe.h"
#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define WAIT_MS 30000

static struct vt_near_server suite;

static int group_setup(void **state)
{
    (void)state;
    const char *extra[] = {"--enable-debug-command", "local", NULL};
    return vt_near_server_start(&suite, "neartyped", extra);
}

static int group_teardown(void **state)
{
    (void)state;
    vt_near_server_stop(&suite);
    return 0;
}

static void hset(vmux *w, const char *key, const char *field, const char *value)
{
    vmux_str f = vt_str(field), v = vt_str(value);
    assert_int_equal(vmux_hset(w, NULL, vt_str(key), &f, &v, 1, NULL), 0);
}

static void sadd(vmux *w, const char *key, const char *member)
{
    vmux_str mem = vt_str(member);
    assert_int_equal(vmux_sadd(w, NULL, vt_str(key), &mem, 1, NULL), 0);
}

static void del(vmux *w, const char *key)
{
    vmux_str k = vt_str(key);
    assert_int_equal(vmux_del(w, NULL, &k, 1, NULL), 0);
}

static void test_hit_after_miss(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    hset(w, "nt:h", "a", "1");
    hset(w, "nt:h", "b", "2");
    sadd(w, "nt:s", "x");
    sadd(w, "nt:s", "y");
    struct vt_near_read hget = {m, VT_NEAR_HGET, "nt:h", "a"};
    struct vt_near_read all = {m, VT_NEAR_HGETALL, "nt:h", NULL};
    struct vt_near_read mem = {m, VT_NEAR_SMEMBERS, "nt:s", NULL};
    vt_near_read_until_cached(&hget, "1");
    vt_near_read_until_hit(&all, "a=1,b=2"); /* _until_cached() would forget hget's entry */
    vt_near_read_until_cached(&mem, "x,y");
    /* all held at once, hit without a round trip */
    vmux_near_stats before = vt_near_stats(m);
    assert_true(vt_near_read_is(&hget, "1"));
    assert_true(vt_near_read_is(&all, "a=1,b=2"));
    assert_true(vt_near_read_is(&mem, "x,y"));
    vmux_near_stats after = vt_near_stats(m);
    assert_int_equal(after.hits, before.hits + 3);
    assert_int_equal(after.misses, before.misses);
    /* a missing field, a missing hash or set: answered, not stored */
    struct vt_near_read nofield = {m, VT_NEAR_HGET, "nt:h", "zz"};
    struct vt_near_read nohash = {m, VT_NEAR_HGETALL, "nt:none", NULL};
    struct vt_near_read noset = {m, VT_NEAR_SMEMBERS, "nt:none", NULL};
    assert_true(vt_near_read_is(&nofield, NULL));
    assert_true(vt_near_read_is(&nohash, ""));
    assert_true(vt_near_read_is(&noset, ""));
    assert_int_equal(vt_near_stats(m).fills, after.fills);
    vmux_close(w);
    vmux_close(m);
}

static void test_invalidated_by_other_writes(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    hset(w, "nt:i", "a", "1");
    hset(w, "nt:i", "b", "2");
    sadd(w, "nt:is", "x");
    struct vt_near_read fa = {m, VT_NEAR_HGET, "nt:i", "a"};
    struct vt_near_read fb = {m, VT_NEAR_HGET, "nt:i", "b"};
    struct vt_near_read all = {m, VT_NEAR_HGETALL, "nt:i", NULL};
    struct vt_near_read mem = {m, VT_NEAR_SMEMBERS, "nt:is", NULL};
    vt_near_read_until_cached(&fa, "1"); /* tracking works */
    vt_near_read_until_hit(&fb, "2");
    vt_near_read_until_hit(&all, "a=1,b=2");
    vt_near_read_until_hit(&mem, "x");
    /* HSET of field b: every read of the key goes, field a's too */
    uint64_t inv = vt_near_stats(m).invalidations;
    hset(w, "nt:i", "b", "3");
    vt_near_read_until_sees(&fb, "3");
    assert_true(vt_near_stats(m).invalidations > inv);
    vmux_near_stats before = vt_near_stats(m);
    assert_true(vt_near_read_is(&fa, "1"));
    assert_true(vt_near_read_is(&all, "a=1,b=3"));
    assert_int_equal(vt_near_stats(m).misses, before.misses + 2);
    assert_true(vt_near_read_is(&mem, "x")); /* another key: still held */
    assert_int_equal(vt_near_stats(m).hits, before.hits + 1);
    /* SADD reaches SMEMBERS */
    sadd(w, "nt:is", "y");
    vt_near_read_until_sees(&mem, "x,y");
    /* DEL reaches every read held */
    vt_near_read_until_hit(&fa, "1");
    vt_near_read_until_hit(&all, "a=1,b=3");
    vt_near_read_until_hit(&mem, "x,y");
    del(w, "nt:i");
    del(w, "nt:is");
    vt_near_read_until_sees(&fa, NULL);
    vt_near_read_until_sees(&all, "");
    vt_near_read_until_sees(&mem, "");
    vmux_close(w);
    vmux_close(m);
}

/* A hit of the GET entry: hits rise, misses do not. */
static bool get_hit(vmux *m, const char *key, const char *want)
{
    vmux_near_stats before = vt_near_stats(m);
    bool same = vt_near_is(m, key, want);
    vmux_near_stats after = vt_near_stats(m);
    return same && after.hits == before.hits + 1 && after.misses == before.misses;
}

static void test_other_keys_independent(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    vt_set(w, "nt:g", "plain");
    hset(w, "nt:gh", "f", "1");
    struct vt_near_read hget = {m, VT_NEAR_HGET, "nt:gh", "f"};
    vt_near_until_cached(m, "nt:g", "plain");
    vt_near_read_until_cached(&hget, "1");
    hset(w, "nt:gh", "f", "2");
    vt_near_read_until_sees(&hget, "2");
    assert_true(get_hit(m, "nt:g", "plain")); /* the GET entry of another key stays */
    vt_near_read_until_hit(&hget, "2");
    vt_set(w, "nt:g", "changed");
    vt_near_until_sees(m, "nt:g", "changed");
    vmux_near_stats before = vt_near_stats(m);
    assert_true(vt_near_read_is(&hget, "2")); /* and the HGET entry of another key stays */
    assert_int_equal(vt_near_stats(m).hits, before.hits + 1);
    assert_int_equal(vt_near_stats(m).misses, before.misses);
    vmux_close(w);
    vmux_close(m);
}

static void assert_wrongtype(int rc, const char *err)
{
    assert_int_equal(rc, VMUX_ERR_SERVER);
    assert_non_null(strstr(err, "WRONGTYPE"));
}

static void test_wrongtype(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_bytes v;
    vmux_field_array f;
    vmux_bytes_array a;
    vt_set(w, "nt:str", "s");
    hset(w, "nt:hash", "f", "1");
    assert_wrongtype(vmux_near_hget(m, &o, vt_str("nt:str"), vt_str("f"), &v), err);
    assert_null(v.ptr);
    assert_wrongtype(vmux_near_hgetall(m, &o, vt_str("nt:str"), &f), err);
    assert_null(f.items);
    assert_wrongtype(vmux_near_smembers(m, &o, vt_str("nt:hash"), &a), err);
    assert_null(a.items);
    assert_wrongtype(vmux_near_get(m, &o, vt_str("nt:hash"), &v), err);
    /* the string's GET entry goes with a WRONGTYPE of the key: the key's reads agree again */
    vt_near_until_cached(m, "nt:str", "s");
    assert_wrongtype(vmux_near_hget(m, &o, vt_str("nt:str"), vt_str("f"), &v), err);
    vmux_near_stats before = vt_near_stats(m);
    assert_true(vt_near_is(m, "nt:str", "s"));
    assert_int_equal(vt_near_stats(m).misses, before.misses + 1);
    vmux_close(w);
    vmux_close(m);
}

/*
 * The entry ends with the key's TTL (PTTL, read in the same block): with the server's active
 * expiry off, no invalidation comes when the TTL passes, so only the entry's own deadline ends
 * it; the read after it finds the entry expired and asks the server, which expires the key.
 */
static void test_ttl_from_pttl(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, NULL), *w = vt_server_open(&suite.srv, NULL);
    char *t = vt_node_admin(suite.srv.port, false, "DEBUG SET-ACTIVE-EXPIRE 0");
    assert_non_null(t);
    assert_string_equal(t, "OK");
    free(t);
    sadd(w, "nt:ttl", "x");
    struct vt_near_read mem = {m, VT_NEAR_SMEMBERS, "nt:ttl", NULL};
    vt_near_read_until_cached(&mem, "x"); /* tracking works */
    assert_int_equal(vmux_pexpire(w, NULL, vt_str("nt:ttl"), 2000, VMUX_COND_ALWAYS, NULL), 0);
    vt_near_read_until_hit(&mem, "x"); /* read again after PEXPIRE's invalidation, with its TTL */
    uint64_t expired = vt_near_stats(m).expirations;
    vt_near_read_until_sees(&mem, "");
    assert_true(vt_near_stats(m).expirations > expired); /* it ended by its own deadline */
    t = vt_node_admin(suite.srv.port, false, "DEBUG SET-ACTIVE-EXPIRE 1");
    assert_non_null(t);
    free(t);
    vmux_close(w);
    vmux_close(m);
}

/* An HGETALL's bytes count against nearCacheMaxBytes: one too big is returned, not stored. */
static void test_byte_limit(void **state)
{
    (void)state;
    vmux *m = vt_near_open(&suite, "nearCacheMaxBytes=65536"),
         *w = vt_server_open(&suite.srv, NULL);
    char field[16], value[2001];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (int i = 0; i < 40; i++) { /* 80 kB, more than the whole store */
        snprintf(field, sizeof field, "f%02d", i);
        hset(w, "nt:big", field, value);
    }
    hset(w, "nt:small", "f", "1");
    struct vt_near_read small = {m, VT_NEAR_HGETALL, "nt:small", NULL};
    vt_near_read_until_cached(&small, "f=1"); /* tracking works */
    vmux_near_stats before = vt_near_stats(m);
    vmux_field_array f;
    assert_int_equal(vmux_near_hgetall(m, NULL, vt_str("nt:big"), &f), 0);
    assert_int_equal(f.count, 40);
    for (size_t i = 0; i < f.count; i++)
        assert_string_equal(f.items[i].value.ptr, value);
    vmux_field_array_free(&f);
    vmux_near_stats after = vt_near_stats(m);
    assert_int_equal(after.fills, before.fills);
    assert_true(after.fills_dropped > before.fills_dropped);
    assert_true(after.bytes <= 65536);
    /* a smaller one is stored, and counts its encoded bytes */
    hset(w, "nt:mid", "f", value);
    struct vt_near_read mid = {m, VT_NEAR_HGETALL, "nt:mid", NULL};
    char want[2100];
    snprintf(want, sizeof want, "f=%s", value);
    vt_near_read_until_cached(&mid, want);
    assert_true(vt_near_stats(m).bytes >= after.bytes + 2001);
    vmux_close(w);
    vmux_close(m);
}

static void test_arguments(void **state)
{
    (void)state;
    vmux *plain = vt_server_open(&suite.srv, NULL), *m = vt_near_open(&suite, NULL);
    vmux_bytes v;
    vmux_field_array f;
    vmux_bytes_array a;
    vmux_str k = vt_str("nt:x"), bad = {NULL, 2};
    assert_int_equal(vmux_near_hget(plain, NULL, k, vt_str("f"), &v), VMUX_ERR_UNSUPPORTED);
    assert_int_equal(vmux_near_hgetall(plain, NULL, k, &f), VMUX_ERR_UNSUPPORTED);
    assert_int_equal(vmux_near_smembers(plain, NULL, k, &a), VMUX_ERR_UNSUPPORTED);
    assert_int_equal(vmux_near_hget(NULL, NULL, k, vt_str("f"), &v), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_near_hget(m, NULL, bad, vt_str("f"), &v), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_near_hget(m, NULL, k, bad, &v), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_near_hget(m, NULL, k, vt_str("f"), NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_near_hgetall(m, NULL, bad, &f), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_near_hgetall(m, NULL, k, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_near_smembers(m, NULL, bad, &a), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_near_smembers(NULL, NULL, k, &a), VMUX_ERR_INVALID_ARG);
    vmux_callopts replica = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_REPLICA);
    assert_int_equal(vmux_near_smembers(m, &replica, k, &a), VMUX_ERR_INVALID_ARG);
    /* an empty field and binary bytes are fields like any other */
    vmux_str empty = {NULL, 0}, bin = {"a\0b", 3}, one = vt_str("1"), two = vt_str("2");
    vmux_str nothing = {"", 0};
    assert_int_equal(vmux_hset(plain, NULL, k, &nothing, &one, 1, NULL), 0);
    assert_int_equal(vmux_hset(plain, NULL, k, &bin, &two, 1, NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vmux_near_hget(m, NULL, k, empty, &v), 0);
        assert_string_equal(v.ptr, "1");
        vmux_bytes_free(&v);
        assert_int_equal(vmux_near_hget(m, NULL, k, bin, &v), 0);
        assert_string_equal(v.ptr, "2");
        vmux_bytes_free(&v);
    }
    vmux_close(m);
    vmux_close(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_after_miss),
        cmocka_unit_test(test_invalidated_by_other_writes),
        cmocka_unit_test(test_other_keys_independent),
        cmocka_unit_test(test_wrongtype),
        cmocka_unit_test(test_ttl_from_pttl),
        cmocka_unit_test(test_byte_limit),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * The near cache store's variants (core/near_store.h, struct vmux_near_key): several reads of one
 * key (GET, HGET of each field, HGETALL, SMEMBERS) held side by side, each filled and looked up by
 * its own variant, and all of them removed together by an invalidation of the key, by a read that
 * found the key missing, and by flushes; their bytes count against the bounds.
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

#include "core/near_store.h"
#include "nearstore.h"
#include "vmux/error.h"
#include "vmux/types.h"

static struct vmux_near_key key_of(const char *key, const char *var)
{
    return (struct vmux_near_key){key, strlen(key), var, var != NULL ? strlen(var) : 0};
}

/* Reserves key's variant var (NULL: none) on node 0 and slot, and fills it with value. */
static int put_at(struct vmux_near *s, const char *key, const char *var, unsigned slot,
                  const char *value)
{
    struct vmux_near_key k = key_of(key, var);
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve_var(s, &k, 0, slot, NOW, &t), 0);
    return vmux__near_fill_var(s, t, &k, value, strlen(value), NO_TTL, NOW);
}

static int put(struct vmux_near *s, const char *key, const char *var, const char *value)
{
    return put_at(s, key, var, 0, value);
}

/* The value held under key's variant var, or NULL on a miss (the caller frees it). */
static char *get(struct vmux_near *s, const char *key, const char *var)
{
    struct vmux_near_key k = key_of(key, var);
    vmux_bytes b = {0};
    int rc = vmux__near_lookup_var(s, &k, NOW, vt_take_copy, &b);
    assert_true(rc == 0 || rc == 1);
    assert_true(rc == 1 || b.ptr == NULL);
    return b.ptr;
}

static void assert_hit(struct vmux_near *s, const char *key, const char *var, const char *value)
{
    char *got = get(s, key, var);
    assert_non_null(got);
    assert_string_equal(got, value);
    free(got);
}

static void assert_miss(struct vmux_near *s, const char *key, const char *var)
{
    assert_null(get(s, key, var));
}

/* "k" as a GET, as HGET of two fields and as HGETALL; "other" as a GET. */
static void put_variants(struct vmux_near *s)
{
    assert_int_equal(put(s, "k", NULL, "plain"), 1);
    assert_int_equal(put(s, "k", "F:a", "A"), 1);
    assert_int_equal(put(s, "k", "F:b", "B"), 1);
    assert_int_equal(put(s, "k", "H", "all"), 1);
    assert_int_equal(put(s, "other", NULL, "o"), 1);
}

static void test_variants_side_by_side(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    put_variants(s);
    assert_hit(s, "k", NULL, "plain");
    assert_hit(s, "k", "F:a", "A");
    assert_hit(s, "k", "F:b", "B");
    assert_hit(s, "k", "H", "all");
    assert_miss(s, "k", "F:c");
    assert_miss(s, "k", "F:");    /* a prefix of a variant is another variant */
    assert_miss(s, "kF:a", NULL); /* key and variant are not one string */
    /* the plain functions are the variant none */
    vmux_bytes b;
    assert_int_equal(vmux__near_lookup(s, "k", 1, NOW, &b), 1);
    assert_string_equal(b.ptr, "plain");
    vmux_bytes_free(&b);
    /* refilling one variant replaces that one only */
    assert_int_equal(put(s, "k", "F:a", "A2"), 1);
    assert_hit(s, "k", "F:a", "A2");
    assert_hit(s, "k", "F:b", "B");
    assert_int_equal(vt_store_stats(s).entries, 5);
    vmux__near_free(s);
}

static void test_invalidate_removes_every_variant(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    put_variants(s);
    struct vmux_near_key k = key_of("k", "S");
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve_var(s, &k, 0, 0, NOW, &t), 0); /* a read in flight */
    assert_int_equal(vmux__near_invalidate(s, "k", 1), 1);
    assert_miss(s, "k", NULL);
    assert_miss(s, "k", "F:a");
    assert_miss(s, "k", "F:b");
    assert_miss(s, "k", "H");
    assert_int_equal(vmux__near_fill_var(s, t, &k, "m", 1, NO_TTL, NOW), 0);
    assert_miss(s, "k", "S");
    assert_hit(s, "other", NULL, "o");
    struct vmux_near_store_stats st = vt_store_stats(s);
    assert_int_equal(st.invalidations, 5); /* four values and the placeholder */
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, vmux__near_entry_bytes(5, 1, 1));
    assert_int_equal(vmux__near_invalidate(s, "k", 1), 0);
    vmux__near_free(s);
}

static void test_seen_meets_its_own_variant(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    put_variants(s);
    struct vmux_near_key a = key_of("k", "F:a");
    vmux__near_seen_var(s, &a, "A", 1); /* the same value: kept */
    assert_hit(s, "k", "F:a", "A");
    vmux__near_seen_var(s, &a, "newer", 5); /* another value: that variant goes, no other */
    assert_miss(s, "k", "F:a");
    assert_hit(s, "k", "F:b", "B");
    assert_hit(s, "k", NULL, "plain");
    vmux__near_seen_var(s, &a, NULL, 0); /* HGET's nil: the field only */
    assert_hit(s, "k", "F:b", "B");
    assert_int_equal(vt_store_stats(s).conflicts, 1);
    vmux__near_free(s);
}

static void test_key_gone_meets_every_variant(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    put_variants(s);
    struct vmux_near_key k = key_of("k", "F:c");
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve_var(s, &k, 0, 0, NOW, &t), 0);
    vmux__near_seen_gone(s, "k", 1); /* an empty HGETALL: the key does not exist */
    assert_miss(s, "k", NULL);
    assert_miss(s, "k", "F:a");
    assert_miss(s, "k", "H");
    /* the placeholder stays but will store no value: it may have been read before */
    assert_int_equal(vmux__near_fill_var(s, t, &k, "C", 1, NO_TTL, NOW), 0);
    assert_miss(s, "k", "F:c");
    assert_hit(s, "other", NULL, "o");
    struct vmux_near_store_stats st = vt_store_stats(s);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.conflicts, 5); /* four values dropped, one fill refused */
    vmux__near_free(s);
}

static void test_flushes_reach_variants(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    assert_int_equal(put_at(s, "a", NULL, 1, "1"), 1);
    assert_int_equal(put_at(s, "a", "H", 1, "2"), 1);
    assert_int_equal(put_at(s, "b", "S", 2, "3"), 1);
    vmux__near_flush_slot(s, 1, VMUX_NEAR_MOVED);
    assert_miss(s, "a", NULL);
    assert_miss(s, "a", "H");
    assert_hit(s, "b", "S", "3");
    vmux__near_flush_node(s, 0, VMUX_NEAR_RECONNECT);
    assert_miss(s, "b", "S");
    assert_int_equal(put_at(s, "b", "S", 2, "4"), 1);
    vmux__near_flush_all(s, VMUX_NEAR_SERVER_FLUSH);
    assert_int_equal(vmux__near_sweep(s, NOW), 1);
    assert_miss(s, "b", "S");
    assert_int_equal(vt_store_stats(s).bytes, 0);
    vmux__near_free(s);
}

static void test_variant_bytes_and_bounds(void **state)
{
    (void)state;
    /* an entry counts its key, its variant and its value */
    struct vmux_near *s = vt_store_with(0, 0, 0);
    assert_int_equal(put(s, "key", "F:field", "value"), 1);
    assert_int_equal(vt_store_stats(s).bytes, vmux__near_entry_bytes(3 + 7, 5, 1));
    vmux__near_free(s);
    /* many variants of one key: the entry limit holds, CLOCK evicts among them */
    s = vt_store_with(4, 0, 1);
    char var[16];
    for (int i = 0; i < 50; i++) {
        snprintf(var, sizeof(var), "F:%d", i);
        assert_int_equal(put(s, "k", var, "v"), 1);
        assert_true(vt_store_stats(s).entries <= 4);
    }
    assert_hit(s, "k", "F:49", "v");
    assert_true(vt_store_stats(s).evictions >= 46);
    vmux__near_free(s);
    /* the byte limit holds, variant included: one too long for a shard is not reserved */
    size_t max = 2048;
    s = vt_store_with(100, max, 1);
    static char big[4096];
    memset(big, 'x', sizeof(big) - 1);
    struct vmux_near_key k = {"k", 1, big, sizeof(big) - 1};
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve_var(s, &k, 0, 0, NOW, &t), 0);
    assert_int_equal(t.id, 0);
    for (int i = 0; i < 100; i++) {
        snprintf(var, sizeof(var), "F:%d", i);
        assert_int_equal(put(s, "k", var, "some value of a field"), 1);
        assert_true(vt_store_stats(s).bytes <= max);
    }
    vmux__near_free(s);
}

static void test_variant_too_long_is_never_held(void **state)
{
    (void)state;
    struct vmux_near *s = vt_store_with(0, 0, 0);
    /* never read: a variant over the limit is refused before its bytes are looked at */
    struct vmux_near_key k = {"k", 1, "F", (size_t)VMUX_NEAR_MAX_VARIANT + 1};
    struct vmux_near_token t;
    assert_int_equal(vmux__near_reserve_var(s, &k, 0, 0, NOW, &t), 0);
    assert_int_equal(t.id, 0);
    vmux_bytes b = {0};
    assert_int_equal(vmux__near_lookup_var(s, &k, NOW, vt_take_copy, &b), 0);
    vmux__near_seen_var(s, &k, "v", 1);
    assert_int_equal(vt_store_stats(s).entries, 0);
    vmux__near_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variants_side_by_side),
        cmocka_unit_test(test_invalidate_removes_every_variant),
        cmocka_unit_test(test_seen_meets_its_own_variant),
        cmocka_unit_test(test_key_gone_meets_every_variant),
        cmocka_unit_test(test_flushes_reach_variants),
        cmocka_unit_test(test_variant_bytes_and_bounds),
        cmocka_unit_test(test_variant_too_long_is_never_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The set commands (sets.h) against the real server: adding and removing with their counts,
 * membership one and many at a time, members, cardinality, random members popped (SPOP) and
 * read (SRANDMEMBER, distinct and repeated), SMOVE, intersection, union and difference, their
 * count (SINTERCARD with and without LIMIT) and their stored forms (*STORE, the destination
 * replaced, deleted by an empty result, and one of the sources), the async forms, and SSCAN
 * (scan.h) over 10,000 members, each seen; binary and empty members, missing keys, WRONGTYPE,
 * bad arguments with nothing sent, results zeroed on every error, and on a cluster keys of two
 * slots (VMUX_ERR_CROSSSLOT, nothing sent). Results are checked against the set read back
 * through the generic API or an admin connection. Keys start with "cmdsets:".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd_collections.h"
#include "testutil.h"
#include "vmux/vmux.h"

#include "cmd_common.h" /* JUNK_BYTES and JUNK_ARRAY, and their assertions */

const char cmd_family[] = "sets";

/* Keys that one command uses together share a {hash tag} (one slot in the cluster rerun). */
static const char bin_key_bytes[] = "cmdsets:{ops}\0bin";
#define BIN_KEY VMUX_STRN(bin_key_bytes, sizeof(bin_key_bytes) - 1)
#define NUL_MEMBER VMUX_STRN("a\0b", 3)
#define EMPTY VMUX_STRN("", 0)

static bool same(const vmux_bytes *b, vmux_str s)
{
    return b->ptr != NULL && b->len == s.len && memcmp(b->ptr, s.ptr, s.len) == 0 &&
           b->ptr[b->len] == '\0';
}

/* got holds exactly the members of want, in any order. */
static void expect_members(const vmux_bytes_array *got, const vmux_str *want, size_t n)
{
    assert_int_equal(got->count, n);
    for (size_t i = 0; i < n; i++) {
        size_t hits = 0;
        for (size_t j = 0; j < got->count; j++)
            hits += same(&got->items[j], want[i]);
        if (hits != 1)
            fail_msg("member %zu (%.*s) seen %zu times", i, (int)want[i].len,
                     (const char *)want[i].ptr, hits);
    }
}

/* The set at key, read through the generic API (not the typed one under test). */
static void expect_set(vmux *m, vmux_str key, const vmux_str *want, size_t n)
{
    const char *argv[] = {"SMEMBERS", key.ptr};
    size_t lens[] = {8, key.len};
    vmux_bytes_array got;
    call_array(m, 2, argv, lens, &got);
    expect_members(&got, want, n);
    vmux_bytes_array_free(&got);
}

static void test_add_remove_members(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdsets:basic");
    del(key);
    vmux_str members[] = {VMUX_STR("a"), NUL_MEMBER, EMPTY, VMUX_STR("a")};
    int64_t n = -1;
    assert_int_equal(vmux_sadd(m, NULL, key, members, 4, &n), 0);
    assert_int_equal(n, 3); /* "a" twice counts once */
    assert_int_equal(vmux_sadd(m, NULL, key, members, 2, &n), 0);
    assert_int_equal(n, 0);
    vmux_str more[] = {VMUX_STR("b"), VMUX_STR("a")};
    assert_int_equal(vmux_sadd(m, NULL, key, more, 2, &n), 0);
    assert_int_equal(n, 1);
    vmux_str all[] = {VMUX_STR("a"), NUL_MEMBER, EMPTY, VMUX_STR("b")};
    expect_set(m, key, all, 4);
    assert_int_equal(admin_int("SCARD %b", key), 4);

    assert_int_equal(vmux_scard(m, NULL, key, &n), 0);
    assert_int_equal(n, 4);
    vmux_bytes_array got;
    assert_int_equal(vmux_smembers(m, NULL, key, &got), 0);
    expect_members(&got, all, 4);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_smembers(m, NULL, key, NULL), 0);

    vmux_str gone[] = {NUL_MEMBER, VMUX_STR("zz"), EMPTY};
    assert_int_equal(vmux_srem(m, NULL, key, gone, 3, &n), 0);
    assert_int_equal(n, 2);
    vmux_str left[] = {VMUX_STR("a"), VMUX_STR("b")};
    expect_set(m, key, left, 2);
    assert_int_equal(vmux_srem(m, NULL, key, left, 2, NULL), 0);
    assert_int_equal(admin_int("EXISTS %b", key), 0); /* the last member took the key */
}

static void test_membership(void **state)
{
    vmux *m = *state;
    vmux_str key = BIN_KEY;
    del(key);
    vmux_str members[] = {NUL_MEMBER, EMPTY, VMUX_STR("x")};
    assert_int_equal(vmux_sadd(m, NULL, key, members, 3, NULL), 0);
    assert_int_equal(admin_int("SCARD %b", key), 3);
    bool is = false;
    assert_int_equal(vmux_sismember(m, NULL, key, NUL_MEMBER, &is), 0);
    assert_true(is);
    assert_int_equal(vmux_sismember(m, NULL, key, EMPTY, &is), 0);
    assert_true(is);
    assert_int_equal(vmux_sismember(m, NULL, key, VMUX_STRN("a", 1), &is), 0);
    assert_false(is); /* a prefix of "a\0b" is not it */

    vmux_str asked[] = {VMUX_STR("x"), VMUX_STR("y"), NUL_MEMBER, VMUX_STRN("a\0c", 3), EMPTY};
    bool answers[5];
    memset(answers, 1, sizeof answers);
    assert_int_equal(vmux_smismember(m, NULL, key, asked, 5, answers), 0);
    bool want[] = {true, false, true, false, true};
    for (int i = 0; i < 5; i++)
        assert_int_equal(answers[i], want[i]);
    assert_int_equal(vmux_smismember(m, NULL, key, asked, 5, NULL), 0);

    vmux_str missing = VMUX_STR("cmdsets:missing");
    del(missing);
    is = true;
    assert_int_equal(vmux_sismember(m, NULL, missing, EMPTY, &is), 0);
    assert_false(is);
    memset(answers, 1, sizeof answers);
    assert_int_equal(vmux_smismember(m, NULL, missing, asked, 5, answers), 0);
    for (int i = 0; i < 5; i++)
        assert_false(answers[i]);
    int64_t n = 5;
    assert_int_equal(vmux_scard(m, NULL, missing, &n), 0);
    assert_int_equal(n, 0);
    vmux_bytes_array got;
    assert_int_equal(vmux_smembers(m, NULL, missing, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_srem(m, NULL, missing, asked, 2, &n), 0);
    assert_int_equal(n, 0);
}

static void test_inter_union_diff(void **state)
{
    vmux *m = *state;
    vmux_str k1 = VMUX_STR("cmdsets:{ops}k1"), k2 = VMUX_STR("cmdsets:{ops}k2"), k3 = BIN_KEY;
    vmux_str none = VMUX_STR("cmdsets:{ops}none");
    del(k1);
    del(k2);
    del(k3);
    del(none);
    vmux_str a = VMUX_STR("a"), b = VMUX_STR("b"), c = NUL_MEMBER, d = EMPTY, e = VMUX_STR("e");
    vmux_str s1[] = {a, b, c, d}, s2[] = {b, c, d, e}, s3[] = {c, e};
    assert_int_equal(vmux_sadd(m, NULL, k1, s1, 4, NULL), 0);
    assert_int_equal(vmux_sadd(m, NULL, k2, s2, 4, NULL), 0);
    assert_int_equal(vmux_sadd(m, NULL, k3, s3, 2, NULL), 0);
    vmux_bytes_array got;

    vmux_str keys12[] = {k1, k2}, keys123[] = {k1, k2, k3};
    assert_int_equal(vmux_sinter(m, NULL, keys12, 2, &got), 0);
    vmux_str inter12[] = {b, c, d};
    expect_members(&got, inter12, 3);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_sinter(m, NULL, keys123, 3, &got), 0);
    expect_members(&got, &c, 1);
    vmux_bytes_array_free(&got);
    vmux_str with_missing[] = {k1, none};
    assert_int_equal(vmux_sinter(m, NULL, with_missing, 2, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);

    assert_int_equal(vmux_sunion(m, NULL, keys123, 3, &got), 0);
    vmux_str everything[] = {a, b, c, d, e};
    expect_members(&got, everything, 5);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_sunion(m, NULL, with_missing, 2, &got), 0);
    expect_members(&got, s1, 4);
    vmux_bytes_array_free(&got);

    assert_int_equal(vmux_sdiff(m, NULL, keys12, 2, &got), 0);
    expect_members(&got, &a, 1);
    vmux_bytes_array_free(&got);
    vmux_str keys21[] = {k2, k1}, keys23[] = {k2, k3};
    assert_int_equal(vmux_sdiff(m, NULL, keys21, 2, &got), 0);
    expect_members(&got, &e, 1);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_sdiff(m, NULL, keys23, 2, &got), 0);
    vmux_str diff23[] = {b, d};
    expect_members(&got, diff23, 2);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_sdiff(m, NULL, &k1, 1, &got), 0); /* one key: itself */
    expect_members(&got, s1, 4);
    vmux_bytes_array_free(&got);
    vmux_str from_missing[] = {none, k1};
    assert_int_equal(vmux_sdiff(m, NULL, from_missing, 2, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_sunion(m, NULL, keys12, 2, NULL), 0);
}

/* Whether b is one of the n members of want. */
static bool one_of(const vmux_bytes *b, const vmux_str *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (same(b, want[i]))
            return true;
    return false;
}

/* SRANDMEMBER reads members without taking them: distinct for a positive count, repeated for a
 * negative one. */
static void test_srandmember(void **state)
{
    vmux *m = *state;
    vmux_str key = BIN_KEY;
    del(key);
    vmux_str members[] = {VMUX_STR("a"), NUL_MEMBER, EMPTY};
    assert_int_equal(vmux_sadd(m, NULL, key, members, 3, NULL), 0);
    vmux_bytes one = JUNK_BYTES;
    assert_int_equal(vmux_srandmember(m, NULL, key, &one), 0);
    assert_true(one_of(&one, members, 3));
    vmux_bytes_free(&one);
    vmux_bytes_array got;
    assert_int_equal(vmux_srandmember_count(m, NULL, key, 2, &got), 0);
    assert_int_equal(got.count, 2);
    assert_true(one_of(&got.items[0], members, 3) && one_of(&got.items[1], members, 3));
    assert_false(got.items[0].len == got.items[1].len &&
                 memcmp(got.items[0].ptr, got.items[1].ptr, got.items[0].len) == 0);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_srandmember_count(m, NULL, key, 10, &got), 0);
    expect_members(&got, members, 3); /* more than it has: the whole set, once each */
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_srandmember_count(m, NULL, key, -7, &got), 0);
    assert_int_equal(got.count, 7); /* exactly 7, so some repeat */
    for (size_t i = 0; i < got.count; i++)
        assert_true(one_of(&got.items[i], members, 3));
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_srandmember_count(m, NULL, key, 0, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_srandmember_count(m, NULL, key, -2, NULL), 0);
    expect_set(m, key, members, 3); /* nothing taken */

    vmux_str missing = VMUX_STR("cmdsets:rand-missing");
    del(missing);
    one = JUNK_BYTES;
    assert_int_equal(vmux_srandmember(m, NULL, missing, &one), 0);
    assert_null(one.ptr);
    assert_int_equal(one.len, 0);
    got = JUNK_ARRAY;
    assert_int_equal(vmux_srandmember_count(m, NULL, missing, -3, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);
}

/* SPOP takes random members: each popped one is gone, the last takes the key. */
static void test_spop(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdsets:pop");
    del(key);
    vmux_str members[] = {VMUX_STR("a"), NUL_MEMBER, EMPTY, VMUX_STR("d")};
    assert_int_equal(vmux_sadd(m, NULL, key, members, 4, NULL), 0);
    vmux_bytes one = JUNK_BYTES;
    assert_int_equal(vmux_spop(m, NULL, key, &one), 0);
    assert_true(one_of(&one, members, 4));
    assert_int_equal(admin_int("SCARD %b", key), 3);
    bool is = true;
    assert_int_equal(vmux_sismember(m, NULL, key, VMUX_STRN(one.ptr, one.len), &is), 0);
    assert_false(is);
    vmux_bytes_free(&one);
    vmux_bytes_array got;
    assert_int_equal(vmux_spop_count(m, NULL, key, 2, &got), 0);
    assert_int_equal(got.count, 2);
    for (size_t i = 0; i < got.count; i++) {
        assert_true(one_of(&got.items[i], members, 4));
        assert_int_equal(
            vmux_sismember(m, NULL, key, VMUX_STRN(got.items[i].ptr, got.items[i].len), &is), 0);
        assert_false(is);
    }
    vmux_bytes_array_free(&got);
    assert_int_equal(admin_int("SCARD %b", key), 1);
    assert_int_equal(vmux_spop_count(m, NULL, key, 0, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);
    assert_int_equal(admin_int("SCARD %b", key), 1);
    assert_int_equal(vmux_spop_count(m, NULL, key, 5, &got), 0);
    assert_int_equal(got.count, 1); /* what was left */
    vmux_bytes_array_free(&got);
    assert_int_equal(admin_int("EXISTS %b", key), 0);

    one = JUNK_BYTES;
    assert_int_equal(vmux_spop(m, NULL, key, &one), 0);
    assert_null(one.ptr);
    got = JUNK_ARRAY;
    assert_int_equal(vmux_spop_count(m, NULL, key, 3, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_sadd(m, NULL, key, members, 1, NULL), 0);
    assert_int_equal(vmux_spop(m, NULL, key, NULL), 0);
    assert_int_equal(admin_int("EXISTS %b", key), 0);
}

static void test_smove(void **state)
{
    vmux *m = *state;
    vmux_str src = VMUX_STR("cmdsets:{ops}src"), dst = BIN_KEY;
    vmux_str none = VMUX_STR("cmdsets:{ops}none");
    del(src);
    del(dst);
    del(none);
    vmux_str members[] = {VMUX_STR("x"), NUL_MEMBER};
    assert_int_equal(vmux_sadd(m, NULL, src, members, 2, NULL), 0);
    bool moved = false;
    assert_int_equal(vmux_smove(m, NULL, src, dst, NUL_MEMBER, &moved), 0);
    assert_true(moved);
    expect_set(m, src, members, 1);
    expect_set(m, dst, &members[1], 1); /* created */
    moved = true;
    assert_int_equal(vmux_smove(m, NULL, src, dst, NUL_MEMBER, &moved), 0);
    assert_false(moved); /* what a resend would answer */
    moved = true;
    assert_int_equal(vmux_smove(m, NULL, src, dst, VMUX_STRN("x\0", 2), &moved), 0);
    assert_false(moved); /* "x" is, "x\0" is not */
    assert_int_equal(vmux_smove(m, NULL, src, src, VMUX_STR("x"), &moved), 0);
    assert_true(moved); /* onto itself: a member, nothing changes */
    expect_set(m, src, members, 1);
    moved = true;
    assert_int_equal(vmux_smove(m, NULL, none, dst, VMUX_STR("x"), &moved), 0);
    assert_false(moved);
    assert_int_equal(admin_int("EXISTS %b", none), 0);
    assert_int_equal(vmux_smove(m, NULL, src, dst, VMUX_STR("x"), NULL), 0);
    assert_int_equal(admin_int("EXISTS %b", src), 0); /* its last member left */
    expect_set(m, dst, members, 2);
}

/* k1 {a, b, "a\0b", ""}, k2 {b, "a\0b", "", e}, k3 (BIN_KEY) {"a\0b", e}, none missing. */
static void fill_three(vmux *m, vmux_str k1, vmux_str k2, vmux_str k3, vmux_str none)
{
    vmux_str a = VMUX_STR("a"), b = VMUX_STR("b"), c = NUL_MEMBER, d = EMPTY, e = VMUX_STR("e");
    vmux_str s1[] = {a, b, c, d}, s2[] = {b, c, d, e}, s3[] = {c, e};
    del(k1);
    del(k2);
    del(k3);
    del(none);
    assert_int_equal(vmux_sadd(m, NULL, k1, s1, 4, NULL), 0);
    assert_int_equal(vmux_sadd(m, NULL, k2, s2, 4, NULL), 0);
    assert_int_equal(vmux_sadd(m, NULL, k3, s3, 2, NULL), 0);
}

static void test_sintercard(void **state)
{
    vmux *m = *state;
    vmux_str k1 = VMUX_STR("cmdsets:{ops}k1"), k2 = VMUX_STR("cmdsets:{ops}k2"), k3 = BIN_KEY;
    vmux_str none = VMUX_STR("cmdsets:{ops}none");
    fill_three(m, k1, k2, k3, none);
    vmux_str keys12[] = {k1, k2}, keys123[] = {k1, k2, k3}, with_missing[] = {k1, none};
    int64_t n = -1;
    assert_int_equal(vmux_sintercard(m, NULL, keys12, 2, 0, &n), 0);
    assert_int_equal(n, 3); /* b, "a\0b", "" */
    assert_int_equal(vmux_sintercard(m, NULL, keys12, 2, 2, &n), 0);
    assert_int_equal(n, 2); /* stopped at the limit */
    assert_int_equal(vmux_sintercard(m, NULL, keys12, 2, 10, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(vmux_sintercard(m, NULL, keys123, 3, 0, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(vmux_sintercard(m, NULL, &k1, 1, 0, &n), 0);
    assert_int_equal(n, 4); /* one key: its own size */
    n = -1;
    assert_int_equal(vmux_sintercard(m, NULL, with_missing, 2, 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_sintercard(m, NULL, keys12, 2, 1, NULL), 0);
}

static void test_store(void **state)
{
    vmux *m = *state;
    vmux_str k1 = VMUX_STR("cmdsets:{ops}k1"), k2 = VMUX_STR("cmdsets:{ops}k2"), k3 = BIN_KEY;
    vmux_str none = VMUX_STR("cmdsets:{ops}none"), dest = VMUX_STR("cmdsets:{ops}dest");
    vmux_str a = VMUX_STR("a"), b = VMUX_STR("b"), c = NUL_MEMBER, d = EMPTY, e = VMUX_STR("e");
    fill_three(m, k1, k2, k3, none);
    set_string(dest); /* replaced, whatever its type */
    vmux_str keys12[] = {k1, k2}, keys123[] = {k1, k2, k3};
    int64_t n = -1;
    assert_int_equal(vmux_sinterstore(m, NULL, dest, keys12, 2, &n), 0);
    assert_int_equal(n, 3);
    vmux_str inter12[] = {b, c, d};
    expect_set(m, dest, inter12, 3);
    assert_int_equal(vmux_sunionstore(m, NULL, dest, keys123, 3, &n), 0);
    assert_int_equal(n, 5);
    vmux_str everything[] = {a, b, c, d, e};
    expect_set(m, dest, everything, 5);
    assert_int_equal(vmux_sdiffstore(m, NULL, dest, keys12, 2, &n), 0);
    assert_int_equal(n, 1);
    expect_set(m, dest, &a, 1);
    /* an empty result deletes the destination */
    vmux_str with_missing[] = {k1, none};
    assert_int_equal(vmux_sinterstore(m, NULL, dest, with_missing, 2, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(admin_int("EXISTS %b", dest), 0);
    vmux_str from_missing[] = {none, k1};
    assert_int_equal(vmux_sdiffstore(m, NULL, dest, from_missing, 2, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(admin_int("EXISTS %b", dest), 0);
    assert_int_equal(vmux_sunionstore(m, NULL, dest, &k3, 1, NULL), 0); /* one key: a copy */
    expect_set(m, dest, (vmux_str[]){c, e}, 2);

    /* the destination among the sources: k1 = k1 - k3, then k3 = k2 - k3 (the one not marked
     * retry-safe: run again, it would store k2 - (k2 - k3)) */
    vmux_str k1k3[] = {k1, k3}, k2k3[] = {k2, k3};
    assert_int_equal(vmux_sdiffstore(m, NULL, k1, k1k3, 2, &n), 0);
    assert_int_equal(n, 3);
    expect_set(m, k1, (vmux_str[]){a, b, d}, 3);
    assert_int_equal(vmux_sdiffstore(m, NULL, k3, k2k3, 2, &n), 0);
    assert_int_equal(n, 2);
    expect_set(m, k3, (vmux_str[]){b, d}, 2);
    assert_int_equal(vmux_sinterstore(m, NULL, k2, keys12, 2, &n), 0);
    assert_int_equal(n, 2);
    expect_set(m, k2, (vmux_str[]){b, d}, 2);
}

/*
 * Keys in two slots ({a} is slot 15495, {b} slot 3300): a cluster refuses the commands that use
 * them together before sending (nothing moved, nothing stored); a standalone server runs them.
 */
static void test_two_slots(void **state)
{
    vmux *m = *state;
    vmux_str a = VMUX_STR("cmdsets:{a}x"), b = VMUX_STR("cmdsets:{b}y");
    vmux_str d = VMUX_STR("cmdsets:{a}dest");
    vmux_str two[] = {a, b};
    del(a);
    del(b);
    del(d);
    vmux_str x = VMUX_STR("x");
    assert_int_equal(vmux_sadd(m, NULL, a, &x, 1, NULL), 0);
    assert_int_equal(vmux_sadd(m, NULL, b, &x, 1, NULL), 0);
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    int64_t n = -1;
    bool moved = false;
    if (vt_cluster_mode() == NULL) {
        assert_int_equal(vmux_sintercard(m, &o, two, 2, 0, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(vmux_sunionstore(m, &o, d, two, 2, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(vmux_smove(m, &o, a, b, x, &moved), 0);
        assert_true(moved);
        return;
    }
    assert_int_equal(vmux_sintercard(m, &o, two, 2, 0, &n), VMUX_ERR_CROSSSLOT);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "slot 15495"));
    assert_non_null(strstr(err, "slot 3300"));
    n = -1;
    assert_int_equal(vmux_sinterstore(m, &o, d, two, 2, &n), VMUX_ERR_CROSSSLOT);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_sunionstore(m, &o, d, &b, 1, &n), VMUX_ERR_CROSSSLOT);
    assert_int_equal(vmux_sdiffstore(m, &o, d, two, 2, &n), VMUX_ERR_CROSSSLOT);
    assert_int_equal(admin_int("EXISTS %b", d), 0);
    moved = true;
    assert_int_equal(vmux_smove(m, &o, a, b, x, &moved), VMUX_ERR_CROSSSLOT);
    assert_false(moved);
    assert_int_equal(admin_int("SCARD %b", a), 1);
    /* d and a share their tag: one slot */
    assert_int_equal(vmux_sunionstore(m, NULL, d, &a, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(vmux_smove(m, NULL, a, d, x, &moved), 0);
    assert_true(moved);
}

static void test_async(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdsets:async");
    del(key);
    vmux_str members[] = {NUL_MEMBER, EMPTY, NUL_MEMBER};
    struct vt_async r1 = {0}, r2 = {0}, r3 = {0};
    assert_int_equal(vmux_sadd_async(m, NULL, key, members, 3, vt_on_async, &r1), 0);
    assert_int_equal(vmux_sismember_async(m, NULL, key, EMPTY, vt_on_async, &r2), 0);
    assert_int_equal(vmux_smembers_async(m, NULL, key, vt_on_async, &r3), 0);
    int64_t added;
    vmux_reply *reply = wait_reply(&r1);
    assert_int_equal(vmux_reply_to_int(reply, &added), 0);
    assert_int_equal(added, 2);
    vmux_reply_free(reply);
    bool is = false;
    reply = wait_reply(&r2);
    assert_int_equal(vmux_reply_to_bool(reply, &is), 0);
    assert_true(is);
    vmux_reply_free(reply);
    vmux_bytes_array got;
    reply = wait_reply(&r3);
    assert_int_equal(vmux_reply_to_bytes_array(reply, &got), 0);
    vmux_reply_free(reply);
    expect_members(&got, members, 2);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_sadd_async(m, NULL, key, NULL, 2, vt_on_async, &r1),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_sadd_async(m, NULL, key, members, 0, vt_on_async, &r1),
                     VMUX_ERR_INVALID_ARG);
}

enum { SCAN_MEMBERS = 10000, SCAN_BATCH = 1000 };

/* Member i of the scanned set is scan_member(.., 'm', 'z', i): "m:<i>", a NUL and 'z'. */

/* Marks the member's number as seen; fails on a member that is not one of ours. */
static void mark_seen(const vmux_bytes *b, bool *seen, int *distinct)
{
    int i = scan_index(b, 'm', 'z', SCAN_MEMBERS);
    if (!seen[i])
        (*distinct)++;
    seen[i] = true;
}

static void fill_scan_set(vmux *m, vmux_str key)
{
    static char text[SCAN_BATCH][24];
    vmux_str batch[SCAN_BATCH];
    for (int start = 0; start < SCAN_MEMBERS; start += SCAN_BATCH) {
        for (int j = 0; j < SCAN_BATCH; j++)
            batch[j] = VMUX_STRN(text[j], scan_member(text[j], 'm', 'z', start + j));
        int64_t added;
        assert_int_equal(vmux_sadd(m, NULL, key, batch, SCAN_BATCH, &added), 0);
        assert_int_equal(added, SCAN_BATCH);
    }
    assert_int_equal(admin_int("SCARD %b", key), SCAN_MEMBERS);
}

static void test_sscan_every_member(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdsets:scan");
    del(key);
    fill_scan_set(m, key);
    bool *seen = calloc(SCAN_MEMBERS, sizeof(*seen));
    assert_non_null(seen);
    int distinct = 0, steps = 0;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .count = 200);
    vmux_scan *it;
    assert_int_equal(vmux_sscan_begin(m, key, &o, &it), 0);
    vmux_bytes_array batch;
    int rc;
    while ((rc = vmux_scan_next(it, NULL, &batch)) == 1) {
        for (size_t i = 0; i < batch.count; i++)
            mark_seen(&batch.items[i], seen, &distinct);
        vmux_bytes_array_free(&batch);
        steps++;
    }
    vmux_scan_end(it);
    assert_int_equal(rc, 0);
    assert_int_equal(distinct, SCAN_MEMBERS);
    assert_true(steps > 1); /* the cursor was followed, not one reply */
    free(seen);

    /* MATCH: only "m:1*" members, each seen */
    o.match = "m:1*";
    distinct = 0;
    seen = calloc(SCAN_MEMBERS, sizeof(*seen));
    assert_non_null(seen);
    assert_int_equal(vmux_sscan_begin(m, key, &o, &it), 0);
    while ((rc = vmux_scan_next(it, NULL, &batch)) == 1) {
        for (size_t i = 0; i < batch.count; i++) {
            assert_memory_equal(batch.items[i].ptr, "m:1", 3);
            mark_seen(&batch.items[i], seen, &distinct);
        }
        vmux_bytes_array_free(&batch);
    }
    vmux_scan_end(it);
    assert_int_equal(rc, 0);
    assert_int_equal(distinct, 1 + 10 + 100 + 1000); /* 1, 1x, 1xx, 1xxx */
    free(seen);
}

static void test_sscan_missing_and_wrongtype(void **state)
{
    vmux *m = *state;
    vmux_str missing = VMUX_STR("cmdsets:scan-missing"), str = VMUX_STR("cmdsets:scan-str");
    del(missing);
    char *r = vt_admin("plain", "SET %b v", str.ptr, str.len);
    free(r);
    vmux_scan *it;
    vmux_bytes_array batch;
    assert_int_equal(vmux_sscan_begin(m, missing, NULL, &it), 0);
    int rc;
    size_t total = 0;
    while ((rc = vmux_scan_next(it, NULL, &batch)) == 1) {
        total += batch.count;
        vmux_bytes_array_free(&batch);
    }
    vmux_scan_end(it);
    assert_int_equal(rc, 0);
    assert_int_equal(total, 0);

    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    assert_int_equal(vmux_sscan_begin(m, str, NULL, &it), 0);
    expect_wrongtype(vmux_scan_next(it, &o, &batch), err);
    assert_int_equal(batch.count, 0);
    vmux_scan_end(it);
}

static void test_wrongtype(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdsets:{wt}string"), set = VMUX_STR("cmdsets:{wt}set");
    char *r = vt_admin("plain", "SET %b text", key.ptr, key.len);
    assert_string_equal(r, "OK");
    free(r);
    del(set);
    vmux_str one = VMUX_STR("v");
    assert_int_equal(vmux_sadd(m, NULL, set, &one, 1, NULL), 0);
    char err[256];
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    int64_t n;
    bool is;
    bool many[2];
    vmux_bytes_array a;

    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_sadd(m, &o, key, &one, 1, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_srem(m, &o, key, &one, 1, &n), err);
    assert_int_equal(n, 0);
    is = true, err[0] = '\0';
    expect_wrongtype(vmux_sismember(m, &o, key, one, &is), err);
    assert_false(is);
    memset(many, 1, sizeof many), err[0] = '\0';
    vmux_str two[] = {one, one};
    expect_wrongtype(vmux_smismember(m, &o, key, two, 2, many), err);
    assert_false(many[0]);
    assert_false(many[1]);
    memset(&a, 0xab, sizeof a), err[0] = '\0';
    expect_wrongtype(vmux_smembers(m, &o, key, &a), err);
    assert_null(a.items);
    assert_int_equal(a.count, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_scard(m, &o, key, &n), err);
    assert_int_equal(n, 0);
    vmux_str keys[] = {set, key};
    memset(&a, 0xab, sizeof a), err[0] = '\0';
    expect_wrongtype(vmux_sinter(m, &o, keys, 2, &a), err);
    assert_null(a.items);
    memset(&a, 0xab, sizeof a), err[0] = '\0';
    expect_wrongtype(vmux_sunion(m, &o, keys, 2, &a), err);
    assert_null(a.items);
    memset(&a, 0xab, sizeof a), err[0] = '\0';
    expect_wrongtype(vmux_sdiff(m, &o, keys, 2, &a), err);
    assert_null(a.items);
    assert_int_equal(a.count, 0);

    vmux_bytes b = JUNK_BYTES;
    err[0] = '\0';
    expect_wrongtype(vmux_spop(m, &o, key, &b), err);
    assert_zero_bytes(&b);
    a = JUNK_ARRAY, err[0] = '\0';
    expect_wrongtype(vmux_spop_count(m, &o, key, 2, &a), err);
    assert_zero_array(&a);
    b = JUNK_BYTES, err[0] = '\0';
    expect_wrongtype(vmux_srandmember(m, &o, key, &b), err);
    assert_zero_bytes(&b);
    a = JUNK_ARRAY, err[0] = '\0';
    expect_wrongtype(vmux_srandmember_count(m, &o, key, -2, &a), err);
    assert_zero_array(&a);
    is = true, err[0] = '\0';
    expect_wrongtype(vmux_smove(m, &o, key, set, one, &is), err);
    assert_false(is);
    is = true, err[0] = '\0';
    expect_wrongtype(vmux_smove(m, &o, set, key, one, &is), err); /* the destination too */
    assert_false(is);
    assert_int_equal(admin_int("SCARD %b", set), 1);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_sintercard(m, &o, keys, 2, 0, &n), err);
    assert_int_equal(n, 0);
    vmux_str dest = VMUX_STR("cmdsets:{wt}dest");
    del(dest);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_sinterstore(m, &o, dest, keys, 2, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_sunionstore(m, &o, dest, keys, 2, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_sdiffstore(m, &o, dest, keys, 2, &n), err);
    assert_int_equal(n, 0);
    assert_int_equal(admin_int("EXISTS %b", dest), 0);
}

static void test_bad_arguments(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdsets:bad");
    del(key);
    vmux_str one = VMUX_STR("v");
    int64_t n = 7;
    assert_int_equal(vmux_sadd(m, NULL, key, NULL, 1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_sadd(m, NULL, key, &one, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_srem(m, NULL, key, NULL, 3, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    bool many[1] = {true};
    assert_int_equal(vmux_smismember(m, NULL, key, &one, 0, many), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_smismember(m, NULL, key, NULL, 1, many), VMUX_ERR_INVALID_ARG);
    assert_false(many[0]);
    vmux_bytes_array a;
    memset(&a, 0xab, sizeof a);
    assert_int_equal(vmux_sinter(m, NULL, NULL, 1, &a), VMUX_ERR_INVALID_ARG);
    assert_null(a.items);
    assert_int_equal(a.count, 0);
    memset(&a, 0xab, sizeof a);
    assert_int_equal(vmux_sunion(m, NULL, &key, 0, &a), VMUX_ERR_INVALID_ARG);
    assert_null(a.items);
    memset(&a, 0xab, sizeof a);
    assert_int_equal(vmux_sdiff(m, NULL, &key, 0, &a), VMUX_ERR_INVALID_ARG);
    assert_null(a.items);
    assert_int_equal(admin_int("EXISTS %b", key), 0);
}

/* The new commands' refusals: each one the server would refuse too, so errbuf holding a refusal's
 * words (not the server's message) shows nothing was sent. */
static void test_bad_arguments_more(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdsets:{bad}set"), dest = VMUX_STR("cmdsets:{bad}dest");
    vmux_str nul = VMUX_STRN(NULL, 1);
    del(key);
    del(dest);
    vmux_str one = VMUX_STR("v");
    assert_int_equal(vmux_sadd(m, NULL, key, &one, 1, NULL), 0);
    char err[256] = "untouched";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_bytes_array a = JUNK_ARRAY;
    assert_int_equal(vmux_spop_count(m, &o, key, -1, &a), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&a);
    a = JUNK_ARRAY;
    assert_int_equal(vmux_srandmember_count(m, &o, key, INT64_MIN, &a), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&a);
    vmux_bytes b = JUNK_BYTES;
    assert_int_equal(vmux_spop(m, &o, nul, &b), VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&b);
    bool moved = true;
    assert_int_equal(vmux_smove(m, &o, key, dest, nul, &moved), VMUX_ERR_INVALID_ARG);
    assert_false(moved);
    moved = true;
    assert_int_equal(vmux_smove(m, &o, key, nul, one, &moved), VMUX_ERR_INVALID_ARG);
    assert_false(moved);

    int64_t n = 7;
    assert_int_equal(vmux_sintercard(m, &o, &key, 1, -1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_sintercard(m, &o, NULL, 1, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_sintercard(m, &o, &key, 0, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    vmux_str with_nul[] = {key, nul};
    n = 7;
    assert_int_equal(vmux_sintercard(m, &o, with_nul, 2, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);

    int (*const stores[])(vmux *, const vmux_callopts *, vmux_str, const vmux_str *, size_t,
                          int64_t *) = {vmux_sinterstore, vmux_sunionstore, vmux_sdiffstore};
    for (int i = 0; i < 3; i++) {
        n = 7;
        assert_int_equal(stores[i](m, &o, dest, NULL, 1, &n), VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
        n = 7;
        assert_int_equal(stores[i](m, &o, dest, &key, 0, &n), VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
        n = 7;
        assert_int_equal(stores[i](m, &o, dest, with_nul, 2, &n), VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
        n = 7;
        assert_int_equal(stores[i](m, &o, nul, &key, 1, &n), VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
    }
    assert_refused_words(err);
    assert_int_equal(admin_int("EXISTS %b", dest), 0);
    assert_int_equal(admin_int("SCARD %b", key), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_remove_members),
        cmocka_unit_test(test_membership),
        cmocka_unit_test(test_inter_union_diff),
        cmocka_unit_test(test_srandmember),
        cmocka_unit_test(test_spop),
        cmocka_unit_test(test_smove),
        cmocka_unit_test(test_sintercard),
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_two_slots),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_sscan_every_member),
        cmocka_unit_test(test_sscan_missing_and_wrongtype),
        cmocka_unit_test(test_wrongtype),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_bad_arguments_more),
    };
    return cmocka_run_group_tests(tests, cmd_state_setup, cmd_state_teardown);
}

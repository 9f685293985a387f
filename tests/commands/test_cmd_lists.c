/*
 * The list commands (lists.h) against the real server: pushes and pops (one and counted),
 * pushes only onto an existing list (LPUSHX, RPUSHX), ranges, indexes, LPOS (each option, one
 * position and a count of them, from the head and from the tail, as the server's documentation
 * answers), LSET, LINSERT before and after, LREM's three count rules, LTRIM, LMOVE between and
 * within lists, the async forms; binary and empty values, missing keys, WRONGTYPE, bad arguments
 * with nothing sent, and results zeroed on every error. Results are checked against the list read
 * back through the generic API or a separate admin connection. Keys start with "cmdlists:".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd_collections.h"
#include "testutil.h"
#include "vmux/vmux.h"

/* A key with a NUL inside, and values with NULs and empty ones. Keys that one command uses
 * together share a {hash tag} (one cluster slot in the cluster rerun). */
static const char bin_key_bytes[] = "cmdlists:{bin}\0bin";
#define BIN_KEY VMUX_STRN(bin_key_bytes, sizeof(bin_key_bytes) - 1)
#define NUL_VALUE VMUX_STRN("a\0b", 3)
#define EMPTY VMUX_STRN("", 0)

/* The whole list at key, read through the generic API (not the typed one under test). */
static void expect_list(vmux *m, vmux_str key, const vmux_str *want, size_t n)
{
    const char *argv[] = {"LRANGE", key.ptr, "0", "-1"};
    size_t lens[] = {6, key.len, 1, 2};
    vmux_bytes_array got;
    call_array(m, 4, argv, lens, &got);
    expect_array(&got, want, n);
    vmux_bytes_array_free(&got);
}

static void test_push_and_range(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdlists:push");
    del(key);
    vmux_str tail[] = {VMUX_STR("c"), NUL_VALUE, EMPTY};
    int64_t len = -1;
    assert_int_equal(vmux_rpush(m, NULL, key, tail, 3, &len), 0);
    assert_int_equal(len, 3);
    vmux_str head[] = {VMUX_STR("x"), VMUX_STR("y")};
    assert_int_equal(vmux_lpush(m, NULL, key, head, 2, &len), 0);
    assert_int_equal(len, 5);
    vmux_str all[] = {VMUX_STR("y"), VMUX_STR("x"), VMUX_STR("c"), NUL_VALUE, EMPTY};
    expect_list(m, key, all, 5);
    assert_int_equal(admin_int("LLEN %b", key), 5);

    vmux_bytes_array got;
    assert_int_equal(vmux_lrange(m, NULL, key, 0, -1, &got), 0);
    expect_array(&got, all, 5);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_lrange(m, NULL, key, 1, 2, &got), 0);
    expect_array(&got, all + 1, 2);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_lrange(m, NULL, key, -2, -1, &got), 0);
    expect_array(&got, all + 3, 2);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_lrange(m, NULL, key, 7, 9, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_lrange(m, NULL, key, 0, -1, NULL), 0); /* dropped */

    assert_int_equal(vmux_llen(m, NULL, key, &len), 0);
    assert_int_equal(len, 5);
    assert_int_equal(vmux_rpush(m, NULL, key, tail, 1, NULL), 0);
    assert_int_equal(admin_int("LLEN %b", key), 6);
}

static void test_binary_key_and_missing_key(void **state)
{
    vmux *m = *state;
    del(BIN_KEY);
    vmux_str values[] = {NUL_VALUE, EMPTY};
    int64_t len;
    assert_int_equal(vmux_rpush(m, NULL, BIN_KEY, values, 2, &len), 0);
    assert_int_equal(len, 2);
    expect_list(m, BIN_KEY, values, 2);
    assert_int_equal(admin_int("LLEN %b", BIN_KEY), 2);
    vmux_bytes v;
    assert_int_equal(vmux_lindex(m, NULL, BIN_KEY, 1, &v), 0);
    assert_bytes(&v, EMPTY);
    vmux_bytes_free(&v);
    assert_int_equal(vmux_lpop(m, NULL, BIN_KEY, &v), 0);
    assert_bytes(&v, NUL_VALUE);
    vmux_bytes_free(&v);

    vmux_str missing = VMUX_STR("cmdlists:{bin}missing");
    del(missing);
    len = 42;
    assert_int_equal(vmux_llen(m, NULL, missing, &len), 0);
    assert_int_equal(len, 0);
    memset(&v, 0xab, sizeof v);
    assert_int_equal(vmux_lpop(m, NULL, missing, &v), 0);
    assert_null(v.ptr);
    assert_int_equal(v.len, 0);
    assert_int_equal(vmux_rpop(m, NULL, missing, &v), 0);
    assert_null(v.ptr);
    assert_int_equal(vmux_lindex(m, NULL, missing, 0, &v), 0);
    assert_null(v.ptr);
    vmux_bytes_array a;
    assert_int_equal(vmux_lrange(m, NULL, missing, 0, -1, &a), 0);
    assert_int_equal(a.count, 0);
    vmux_bytes_array_free(&a);
    assert_int_equal(vmux_lpop_count(m, NULL, missing, 3, &a), 0);
    assert_int_equal(a.count, 0);
    assert_int_equal(vmux_rpop_count(m, NULL, missing, 3, &a), 0);
    assert_int_equal(a.count, 0);
    assert_int_equal(vmux_lmove(m, NULL, missing, BIN_KEY, VMUX_HEAD, VMUX_HEAD, &v), 0);
    assert_null(v.ptr);
    int64_t removed = 9;
    assert_int_equal(vmux_lrem(m, NULL, missing, 0, VMUX_STR("a"), &removed), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(vmux_ltrim(m, NULL, missing, 0, 1), 0);
    assert_int_equal(admin_int("EXISTS %b", missing), 0);
}

static void test_pop(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdlists:pop");
    del(key);
    vmux_str values[] = {VMUX_STR("1"), VMUX_STR("2"), NUL_VALUE,
                         EMPTY,         VMUX_STR("5"), VMUX_STR("6")};
    assert_int_equal(vmux_rpush(m, NULL, key, values, 6, NULL), 0);
    vmux_bytes v;
    assert_int_equal(vmux_lpop(m, NULL, key, &v), 0);
    assert_bytes(&v, values[0]);
    vmux_bytes_free(&v);
    assert_int_equal(vmux_rpop(m, NULL, key, &v), 0);
    assert_bytes(&v, values[5]);
    vmux_bytes_free(&v);
    expect_list(m, key, values + 1, 4);

    vmux_bytes_array a;
    assert_int_equal(vmux_lpop_count(m, NULL, key, 2, &a), 0);
    expect_array(&a, values + 1, 2);
    vmux_bytes_array_free(&a);
    assert_int_equal(vmux_lpop_count(m, NULL, key, 0, &a), 0);
    assert_int_equal(a.count, 0);
    vmux_bytes_array_free(&a);
    expect_list(m, key, values + 3, 2);
    assert_int_equal(vmux_rpop_count(m, NULL, key, 10, &a), 0); /* more than there are */
    vmux_str reversed[] = {VMUX_STR("5"), EMPTY};
    expect_array(&a, reversed, 2);
    vmux_bytes_array_free(&a);
    assert_int_equal(admin_int("EXISTS %b", key), 0); /* the last pop removed the key */

    assert_int_equal(vmux_rpush(m, NULL, key, values, 2, NULL), 0);
    assert_int_equal(vmux_lpop(m, NULL, key, NULL), 0); /* popped, value dropped */
    assert_int_equal(vmux_lpop_count(m, NULL, key, 5, NULL), 0);
    assert_int_equal(admin_int("EXISTS %b", key), 0);
}

static void test_lindex_lset(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdlists:lset");
    del(key);
    vmux_str values[] = {VMUX_STR("a"), VMUX_STR("b"), VMUX_STR("c")};
    assert_int_equal(vmux_rpush(m, NULL, key, values, 3, NULL), 0);
    vmux_bytes v;
    assert_int_equal(vmux_lindex(m, NULL, key, 0, &v), 0);
    assert_bytes(&v, values[0]);
    vmux_bytes_free(&v);
    assert_int_equal(vmux_lindex(m, NULL, key, -1, &v), 0);
    assert_bytes(&v, values[2]);
    vmux_bytes_free(&v);
    assert_int_equal(vmux_lindex(m, NULL, key, 3, &v), 0);
    assert_null(v.ptr);
    assert_int_equal(vmux_lindex(m, NULL, key, -4, &v), 0);
    assert_null(v.ptr);

    assert_int_equal(vmux_lset(m, NULL, key, 1, NUL_VALUE), 0);
    assert_int_equal(vmux_lset(m, NULL, key, -1, EMPTY), 0);
    vmux_str after[] = {VMUX_STR("a"), NUL_VALUE, EMPTY};
    expect_list(m, key, after, 3);

    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    assert_int_equal(vmux_lset(m, &o, key, 3, VMUX_STR("x")), VMUX_ERR_SERVER);
    assert_non_null(strstr(err, "index out of range"));
    err[0] = '\0';
    vmux_str missing = VMUX_STR("cmdlists:lset-missing");
    del(missing);
    assert_int_equal(vmux_lset(m, &o, missing, 0, VMUX_STR("x")), VMUX_ERR_SERVER);
    assert_non_null(strstr(err, "no such key"));
    expect_list(m, key, after, 3);
}

static void test_lrem(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdlists:lrem");
    del(key);
    vmux_str a = NUL_VALUE, b = VMUX_STR("b"), c = EMPTY;
    vmux_str values[] = {a, b, a, c, a, b, a};
    assert_int_equal(vmux_rpush(m, NULL, key, values, 7, NULL), 0);
    int64_t removed = -1;
    /* count > 0: the first matches from the head */
    assert_int_equal(vmux_lrem(m, NULL, key, 1, a, &removed), 0);
    assert_int_equal(removed, 1);
    vmux_str step1[] = {b, a, c, a, b, a};
    expect_list(m, key, step1, 6);
    /* count < 0: the last matches from the tail */
    assert_int_equal(vmux_lrem(m, NULL, key, -2, a, &removed), 0);
    assert_int_equal(removed, 2);
    vmux_str step2[] = {b, a, c, b};
    expect_list(m, key, step2, 4);
    /* count 0: every match */
    assert_int_equal(vmux_lrem(m, NULL, key, 0, b, &removed), 0);
    assert_int_equal(removed, 2);
    vmux_str step3[] = {a, c};
    expect_list(m, key, step3, 2);
    assert_int_equal(vmux_lrem(m, NULL, key, 0, VMUX_STR("zzz"), &removed), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(vmux_lrem(m, NULL, key, 5, c, NULL), 0); /* the empty value, dropped count */
    expect_list(m, key, step3, 1);
}

static void test_ltrim(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdlists:ltrim");
    del(key);
    vmux_str v[] = {VMUX_STR("0"), VMUX_STR("1"), VMUX_STR("2"), VMUX_STR("3"), VMUX_STR("4"),
                    VMUX_STR("5"), VMUX_STR("6"), VMUX_STR("7"), VMUX_STR("8"), VMUX_STR("9")};
    assert_int_equal(vmux_rpush(m, NULL, key, v, 10, NULL), 0);
    assert_int_equal(vmux_ltrim(m, NULL, key, 2, 7), 0);
    expect_list(m, key, v + 2, 6);
    assert_int_equal(vmux_ltrim(m, NULL, key, -4, -2), 0);
    expect_list(m, key, v + 4, 3);
    assert_int_equal(vmux_ltrim(m, NULL, key, 5, 10), 0); /* past the end: empties the list */
    assert_int_equal(admin_int("EXISTS %b", key), 0);
}

static void test_lmove(void **state)
{
    vmux *m = *state;
    vmux_str src = VMUX_STR("cmdlists:{move}src"), dst = VMUX_STR("cmdlists:{move}dst");
    del(src);
    del(dst);
    vmux_str a = VMUX_STR("a"), b = NUL_VALUE, c = EMPTY, x = VMUX_STR("x");
    vmux_str values[] = {a, b, c};
    assert_int_equal(vmux_rpush(m, NULL, src, values, 3, NULL), 0);
    assert_int_equal(vmux_rpush(m, NULL, dst, &x, 1, NULL), 0);
    vmux_bytes v;
    assert_int_equal(vmux_lmove(m, NULL, src, dst, VMUX_HEAD, VMUX_TAIL, &v), 0);
    assert_bytes(&v, a);
    vmux_bytes_free(&v);
    assert_int_equal(vmux_lmove(m, NULL, src, dst, VMUX_TAIL, VMUX_HEAD, &v), 0);
    assert_bytes(&v, c);
    vmux_bytes_free(&v);
    vmux_str src_now[] = {b}, dst_now[] = {c, x, a};
    expect_list(m, src, src_now, 1);
    expect_list(m, dst, dst_now, 3);
    /* within one list: a rotation */
    assert_int_equal(vmux_lmove(m, NULL, dst, dst, VMUX_HEAD, VMUX_TAIL, &v), 0);
    assert_bytes(&v, c);
    vmux_bytes_free(&v);
    vmux_str rotated[] = {x, a, c};
    expect_list(m, dst, rotated, 3);
    assert_int_equal(vmux_lmove(m, NULL, src, dst, VMUX_TAIL, VMUX_TAIL, NULL), 0);
    assert_int_equal(admin_int("EXISTS %b", src), 0);
    assert_int_equal(admin_int("LLEN %b", dst), 4);
}

static void test_pushx(void **state)
{
    vmux *m = *state;
    vmux_str key = BIN_KEY;
    del(key);
    vmux_str two[] = {VMUX_STR("a"), VMUX_STR("b")};
    int64_t len = -1;
    assert_int_equal(vmux_lpushx(m, NULL, key, two, 2, &len), 0);
    assert_int_equal(len, 0); /* no list: nothing created */
    len = -1;
    assert_int_equal(vmux_rpushx(m, NULL, key, two, 2, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(admin_int("EXISTS %b", key), 0);

    vmux_str mid = VMUX_STR("m");
    assert_int_equal(vmux_rpush(m, NULL, key, &mid, 1, NULL), 0);
    assert_int_equal(vmux_lpushx(m, NULL, key, two, 2, &len), 0);
    assert_int_equal(len, 3);
    vmux_str tail[] = {NUL_VALUE, EMPTY};
    assert_int_equal(vmux_rpushx(m, NULL, key, tail, 2, &len), 0);
    assert_int_equal(len, 5);
    vmux_str all[] = {VMUX_STR("b"), VMUX_STR("a"), mid, NUL_VALUE, EMPTY};
    expect_list(m, key, all, 5);
    assert_int_equal(vmux_lpushx(m, NULL, key, &mid, 1, NULL), 0);
    assert_int_equal(admin_int("LLEN %b", key), 6);

    /* the async forms: a length for the list, 0 for a missing key */
    vmux_str missing = VMUX_STR("cmdlists:pushx-missing");
    del(missing);
    struct vt_async r1 = {0}, r2 = {0};
    assert_int_equal(vmux_rpushx_async(m, NULL, key, tail, 2, vt_on_async, &r1), 0);
    assert_int_equal(vmux_lpushx_async(m, NULL, missing, tail, 2, vt_on_async, &r2), 0);
    vmux_reply *reply = wait_reply(&r1);
    assert_int_equal(vmux_reply_to_int(reply, &len), 0);
    assert_int_equal(len, 8);
    vmux_reply_free(reply);
    reply = wait_reply(&r2);
    assert_int_equal(vmux_reply_to_int(reply, &len), 0);
    assert_int_equal(len, 0);
    vmux_reply_free(reply);
    assert_int_equal(admin_int("EXISTS %b", missing), 0);
    assert_int_equal(vmux_lpushx_async(m, NULL, key, NULL, 1, vt_on_async, &r1),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_rpushx_async(m, NULL, key, tail, 0, vt_on_async, &r1),
                     VMUX_ERR_INVALID_ARG);
}

/* The list of the server's LPOS examples, "a b c 1 2 3 c c", with "a\0b" for c and a binary key;
 * "a" is a prefix of it. */
static vmux_str fill_lpos_list(vmux *m)
{
    vmux_str key = BIN_KEY;
    del(key);
    vmux_str c = NUL_VALUE;
    vmux_str values[] = {VMUX_STR("a"), VMUX_STR("b"), c, VMUX_STR("1"),
                         VMUX_STR("2"), VMUX_STR("3"), c, c};
    assert_int_equal(vmux_rpush(m, NULL, key, values, 8, NULL), 0);
    return key;
}

/* vmux_lpos() of c with o finds want (-1: none). */
static void expect_lpos(vmux *m, vmux_str key, vmux_str element, const vmux_lpos_opts *o,
                        int64_t want)
{
    int64_t index = 99;
    bool found = want < 0;
    assert_int_equal(vmux_lpos(m, NULL, key, element, o, &index, &found), 0);
    assert_int_equal(found, want >= 0);
    assert_int_equal(index, want >= 0 ? want : 0);
}

static void test_lpos(void **state)
{
    vmux *m = *state;
    vmux_str key = fill_lpos_list(m), c = NUL_VALUE;
    expect_lpos(m, key, c, NULL, 2);
    expect_lpos(m, key, c, &VMUX_INIT(vmux_lpos_opts), 2);
    expect_lpos(m, key, c, &VMUX_INIT(vmux_lpos_opts, .rank = 1), 2);
    expect_lpos(m, key, c, &VMUX_INIT(vmux_lpos_opts, .rank = 2), 6);
    expect_lpos(m, key, c, &VMUX_INIT(vmux_lpos_opts, .rank = -1), 7);
    expect_lpos(m, key, c, &VMUX_INIT(vmux_lpos_opts, .rank = -3), 2);
    expect_lpos(m, key, c, &VMUX_INIT(vmux_lpos_opts, .rank = 4), -1); /* three matches only */
    expect_lpos(m, key, c, &VMUX_INIT(vmux_lpos_opts, .maxlen = 2), -1);
    expect_lpos(m, key, c, &VMUX_INIT(vmux_lpos_opts, .maxlen = 3), 2);
    expect_lpos(m, key, c, &VMUX_INIT(vmux_lpos_opts, .rank = -1, .maxlen = 1), 7);
    expect_lpos(m, key, c, &VMUX_INIT(vmux_lpos_opts, .rank = 2, .maxlen = 6), -1);
    expect_lpos(m, key, VMUX_STR("a"), NULL, 0);
    expect_lpos(m, key, VMUX_STRN("a\0", 2), NULL, -1); /* neither "a" nor "a\0b" */
    expect_lpos(m, key, VMUX_STR("zz"), NULL, -1);
    assert_int_equal(vmux_lpos(m, NULL, key, c, NULL, NULL, NULL), 0);
    vmux_str missing = VMUX_STR("cmdlists:lpos-missing");
    del(missing);
    expect_lpos(m, missing, c, NULL, -1);
}

/* vmux_lpos_count() of element with o and max finds want[0..n), the rest of 5 left 0. */
static void expect_positions(vmux *m, vmux_str key, vmux_str element, const vmux_lpos_opts *o,
                             size_t max, const int64_t *want, size_t n)
{
    int64_t got[5];
    size_t count = 99;
    for (int i = 0; i < 5; i++)
        got[i] = 99;
    assert_int_equal(vmux_lpos_count(m, NULL, key, element, o, got, max, &count), 0);
    assert_int_equal(count, n);
    for (size_t i = 0; i < max; i++)
        assert_int_equal(got[i], i < n ? want[i] : 0);
    for (size_t i = max; i < 5; i++)
        assert_int_equal(got[i], 99); /* past max: not the function's to write */
}

static void test_lpos_count(void **state)
{
    vmux *m = *state;
    vmux_str key = fill_lpos_list(m), c = NUL_VALUE;
    expect_positions(m, key, c, NULL, 2, (int64_t[]){2, 6}, 2);
    expect_positions(m, key, c, NULL, 5, (int64_t[]){2, 6, 7}, 3);
    expect_positions(m, key, c, NULL, 1, (int64_t[]){2}, 1);
    expect_positions(m, key, c, &VMUX_INIT(vmux_lpos_opts, .rank = -1), 2, (int64_t[]){7, 6}, 2);
    expect_positions(m, key, c, &VMUX_INIT(vmux_lpos_opts, .rank = 2), 5, (int64_t[]){6, 7}, 2);
    expect_positions(m, key, c, &VMUX_INIT(vmux_lpos_opts, .maxlen = 7), 5, (int64_t[]){2, 6}, 2);
    expect_positions(m, key, c, &VMUX_INIT(vmux_lpos_opts, .rank = -2, .maxlen = 2), 4,
                     (int64_t[]){6}, 1);
    expect_positions(m, key, VMUX_STR("zz"), NULL, 3, NULL, 0);
    size_t count = 0;
    assert_int_equal(vmux_lpos_count(m, NULL, key, c, NULL, NULL, 5, &count), 0);
    assert_int_equal(count, 3); /* positions dropped, their count kept */
    int64_t one = 0;
    assert_int_equal(vmux_lpos_count(m, NULL, key, c, NULL, &one, 1, NULL), 0);
    assert_int_equal(one, 2);
    vmux_str missing = VMUX_STR("cmdlists:lpos-missing");
    del(missing);
    expect_positions(m, missing, c, NULL, 5, NULL, 0);
}

static void test_linsert(void **state)
{
    vmux *m = *state;
    vmux_str key = BIN_KEY, x = VMUX_STR("x"), y = VMUX_STR("y"), z = VMUX_STR("z");
    del(key);
    int64_t len = 99;
    assert_int_equal(vmux_linsert_before(m, NULL, key, x, y, &len), 0);
    assert_int_equal(len, 0); /* no list: nothing created */
    assert_int_equal(admin_int("EXISTS %b", key), 0);

    vmux_str start[] = {x, NUL_VALUE, EMPTY};
    assert_int_equal(vmux_rpush(m, NULL, key, start, 3, NULL), 0);
    assert_int_equal(vmux_linsert_before(m, NULL, key, NUL_VALUE, y, &len), 0);
    assert_int_equal(len, 4);
    assert_int_equal(vmux_linsert_after(m, NULL, key, EMPTY, NUL_VALUE, &len), 0);
    assert_int_equal(len, 5);
    /* the first match from the head is the pivot */
    assert_int_equal(vmux_linsert_after(m, NULL, key, NUL_VALUE, z, &len), 0);
    assert_int_equal(len, 6);
    assert_int_equal(vmux_linsert_before(m, NULL, key, x, EMPTY, NULL), 0);
    vmux_str want[] = {EMPTY, x, y, NUL_VALUE, z, EMPTY, NUL_VALUE};
    expect_list(m, key, want, 7);
    /* no such pivot ("a" is only a prefix of one): -1, nothing inserted */
    len = 99;
    assert_int_equal(vmux_linsert_before(m, NULL, key, VMUX_STR("a"), z, &len), 0);
    assert_int_equal(len, -1);
    assert_int_equal(vmux_linsert_after(m, NULL, key, VMUX_STR("q"), z, &len), 0);
    assert_int_equal(len, -1);
    expect_list(m, key, want, 7);
}

static void test_async(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdlists:async");
    del(key);
    vmux_str values[] = {NUL_VALUE, EMPTY};
    struct vt_async r1 = {0}, r2 = {0}, r3 = {0};
    assert_int_equal(vmux_rpush_async(m, NULL, key, values, 2, vt_on_async, &r1), 0);
    assert_int_equal(vmux_lpush_async(m, NULL, key, values, 1, vt_on_async, &r2), 0);
    /* one thread's commands are written in order, so the range sees both pushes */
    assert_int_equal(vmux_lrange_async(m, NULL, key, 0, -1, vt_on_async, &r3), 0);
    int64_t len;
    vmux_reply *reply = wait_reply(&r1);
    assert_int_equal(vmux_reply_to_int(reply, &len), 0);
    assert_int_equal(len, 2);
    vmux_reply_free(reply);
    reply = wait_reply(&r2);
    assert_int_equal(vmux_reply_to_int(reply, &len), 0);
    assert_int_equal(len, 3);
    vmux_reply_free(reply);
    vmux_bytes_array got;
    reply = wait_reply(&r3);
    assert_int_equal(vmux_reply_to_bytes_array(reply, &got), 0);
    vmux_reply_free(reply);
    vmux_str all[] = {NUL_VALUE, NUL_VALUE, EMPTY};
    expect_array(&got, all, 3);
    vmux_bytes_array_free(&got);

    assert_int_equal(vmux_rpush_async(m, NULL, key, NULL, 1, vt_on_async, &r1),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_lpush_async(m, NULL, key, values, 0, vt_on_async, &r1),
                     VMUX_ERR_INVALID_ARG);
}

static void test_wrongtype(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdlists:{wt}string");
    set_string(key);
    char err[256];
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_str one = VMUX_STR("v");
    int64_t n;
    vmux_bytes v;
    vmux_bytes_array a;

    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_lpush(m, &o, key, &one, 1, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_rpush(m, &o, key, &one, 1, &n), err);
    assert_int_equal(n, 0);
    memset(&v, 0xab, sizeof v), err[0] = '\0';
    expect_wrongtype(vmux_lpop(m, &o, key, &v), err);
    assert_null(v.ptr);
    assert_int_equal(v.len, 0);
    memset(&v, 0xab, sizeof v), err[0] = '\0';
    expect_wrongtype(vmux_rpop(m, &o, key, &v), err);
    assert_null(v.ptr);
    memset(&a, 0xab, sizeof a), err[0] = '\0';
    expect_wrongtype(vmux_lpop_count(m, &o, key, 2, &a), err);
    assert_null(a.items);
    assert_int_equal(a.count, 0);
    memset(&a, 0xab, sizeof a), err[0] = '\0';
    expect_wrongtype(vmux_rpop_count(m, &o, key, 2, &a), err);
    assert_null(a.items);
    memset(&a, 0xab, sizeof a), err[0] = '\0';
    expect_wrongtype(vmux_lrange(m, &o, key, 0, -1, &a), err);
    assert_null(a.items);
    assert_int_equal(a.count, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_llen(m, &o, key, &n), err);
    assert_int_equal(n, 0);
    memset(&v, 0xab, sizeof v), err[0] = '\0';
    expect_wrongtype(vmux_lindex(m, &o, key, 0, &v), err);
    assert_null(v.ptr);
    err[0] = '\0';
    expect_wrongtype(vmux_lset(m, &o, key, 0, one), err);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_lrem(m, &o, key, 0, one, &n), err);
    assert_int_equal(n, 0);
    err[0] = '\0';
    expect_wrongtype(vmux_ltrim(m, &o, key, 0, 1), err);
    memset(&v, 0xab, sizeof v), err[0] = '\0';
    expect_wrongtype(vmux_lmove(m, &o, key, VMUX_STR("cmdlists:{wt}x"), VMUX_HEAD, VMUX_HEAD, &v),
                     err);
    assert_null(v.ptr);

    /* a list source and a string destination: nothing moves */
    vmux_str list = VMUX_STR("cmdlists:{wt}src");
    del(list);
    assert_int_equal(vmux_rpush(m, NULL, list, &one, 1, NULL), 0);
    memset(&v, 0xab, sizeof v), err[0] = '\0';
    expect_wrongtype(vmux_lmove(m, &o, list, key, VMUX_HEAD, VMUX_HEAD, &v), err);
    assert_null(v.ptr);
    assert_int_equal(admin_int("LLEN %b", list), 1);
    char *type = vt_admin("plain", "TYPE %b", key.ptr, key.len);
    assert_string_equal(type, "string");
    free(type);

    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_lpushx(m, &o, key, &one, 1, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_rpushx(m, &o, key, &one, 1, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_linsert_before(m, &o, key, one, one, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_linsert_after(m, &o, key, one, one, &n), err);
    assert_int_equal(n, 0);
    bool found = true;
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_lpos(m, &o, key, one, NULL, &n, &found), err);
    assert_int_equal(n, 0);
    assert_false(found);
    int64_t positions[2] = {7, 7};
    size_t count = 7;
    err[0] = '\0';
    expect_wrongtype(vmux_lpos_count(m, &o, key, one, NULL, positions, 2, &count), err);
    assert_int_equal(positions[0], 0);
    assert_int_equal(positions[1], 0);
    assert_int_equal(count, 0);
}

static void test_bad_arguments(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdlists:bad");
    del(key);
    vmux_str one = VMUX_STR("v");
    int64_t n = 7;
    assert_int_equal(vmux_lpush(m, NULL, key, NULL, 1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_rpush(m, NULL, key, &one, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    vmux_bytes_array a;
    memset(&a, 0xab, sizeof a);
    assert_int_equal(vmux_lpop_count(m, NULL, key, -1, &a), VMUX_ERR_INVALID_ARG);
    assert_null(a.items);
    assert_int_equal(a.count, 0);
    memset(&a, 0xab, sizeof a);
    assert_int_equal(vmux_rpop_count(m, NULL, key, -3, &a), VMUX_ERR_INVALID_ARG);
    assert_null(a.items);
    vmux_bytes v;
    memset(&v, 0xab, sizeof v);
    assert_int_equal(vmux_lmove(m, NULL, key, key, (vmux_end)2, VMUX_HEAD, &v),
                     VMUX_ERR_INVALID_ARG);
    assert_null(v.ptr);
    assert_int_equal(vmux_lmove(m, NULL, key, key, VMUX_HEAD, (vmux_end)-1, &v),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(admin_int("EXISTS %b", key), 0); /* nothing was sent */
}

/* The new commands' refusals, on an existing list: the server would refuse each one too, so
 * errbuf holding a refusal's words (not the server's message) shows that nothing was sent. */
static void test_bad_arguments_more(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("cmdlists:bad-more"), one = VMUX_STR("v");
    vmux_str nul = VMUX_STRN(NULL, 1);
    del(key);
    assert_int_equal(vmux_rpush(m, NULL, key, &one, 1, NULL), 0);
    char err[256] = "untouched";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    int64_t n = 7;
    assert_int_equal(vmux_lpushx(m, &o, key, NULL, 1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_rpushx(m, &o, key, &one, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_rpushx(m, &o, key, &nul, 1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_linsert_before(m, &o, key, nul, one, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_linsert_after(m, &o, key, one, nul, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);

    const vmux_lpos_opts bad[] = {
        VMUX_INIT(vmux_lpos_opts, .rank = INT64_MIN),
        VMUX_INIT(vmux_lpos_opts, .maxlen = -1),
        {.size = 0, .rank = 1}, /* not made with VMUX_INIT */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool found = true;
        n = 7;
        assert_int_equal(vmux_lpos(m, &o, key, one, &bad[i], &n, &found), VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
        assert_false(found);
        int64_t positions[2] = {7, 7};
        size_t count = 7;
        assert_int_equal(vmux_lpos_count(m, &o, key, one, &bad[i], positions, 2, &count),
                         VMUX_ERR_INVALID_ARG);
        assert_int_equal(positions[0], 0);
        assert_int_equal(positions[1], 0);
        assert_int_equal(count, 0);
    }
    bool found = true;
    assert_int_equal(vmux_lpos(m, &o, key, nul, NULL, &n, &found), VMUX_ERR_INVALID_ARG);
    assert_false(found);
    int64_t position = 7;
    size_t count = 7;
    assert_int_equal(vmux_lpos_count(m, &o, key, one, NULL, &position, 0, &count),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(count, 0);
    assert_int_equal(position, 7); /* max 0: an array of none, not written */
    assert_refused_words(err);
    assert_int_equal(admin_int("LLEN %b", key), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_and_range),
        cmocka_unit_test(test_binary_key_and_missing_key),
        cmocka_unit_test(test_pop),
        cmocka_unit_test(test_lindex_lset),
        cmocka_unit_test(test_lrem),
        cmocka_unit_test(test_ltrim),
        cmocka_unit_test(test_lmove),
        cmocka_unit_test(test_pushx),
        cmocka_unit_test(test_lpos),
        cmocka_unit_test(test_lpos_count),
        cmocka_unit_test(test_linsert),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_wrongtype),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_bad_arguments_more),
    };
    return cmocka_run_group_tests(tests, cmd_state_setup, cmd_state_teardown);
}

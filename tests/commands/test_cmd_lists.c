/*
 * The list commands (lists.h) against the real server: pushes and pops (one and counted),
 * ranges, indexes, LSET, LREM's three count rules, LTRIM, LMOVE between and within lists, the
 * async forms; binary and empty values, missing keys, WRONGTYPE, bad arguments, and results
 * zeroed on every error. Results are checked against the list read back through the generic
 * API or a separate admin connection. Keys start with "cmdlists:".
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
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_wrongtype),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, cmd_state_setup, cmd_state_teardown);
}

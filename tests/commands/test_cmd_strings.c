/*
 * The string commands (strings.h) against a real server: every function with normal use,
 * binary keys and values with NUL bytes, empty values, missing keys, WRONGTYPE, bad
 * arguments, and out-parameters zeroed on error; results checked against the server's state
 * read back through the generic API or a separate admin connection, and GETRANGE, SETRANGE and
 * LCS against the answers the server's documentation gives; LCS of keys in two slots.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

#include "cmd_common.h"

const char cmd_family[] = "strings";

/* The server's value of key as seen by a separate admin connection (text keys only). */
static void assert_admin_get(vmux_str k, const char *want)
{
    char *v = vt_admin("plain", "GET %b", k.ptr, k.len);
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

/* The server's value of key, read as a number by a separate admin connection. */
static void assert_admin_get_double(vmux_str k, double want)
{
    char *v = vt_admin("plain", "GET %b", k.ptr, k.len);
    assert_non_null(v);
    char *end;
    double d = strtod(v, &end);
    assert_true(end != v && *end == '\0');
    assert_true(fabs(d - want) < 1e-9);
    free(v);
}

/* Makes k a list, so string commands on it fail with WRONGTYPE. */
static vmux_str listkey(const char *name)
{
    vmux_str k = key(name);
    DO(S("DEL"), k);
    assert_int_equal(raw_int(RAW(S("RPUSH"), k, S("x"))), 1);
    return k;
}

/* ---- GET ---- */

static void test_get(void **state)
{
    (void)state;
    vmux_str k = key("get"), bk = binkey("get"), ek = key("get-empty");
    DO(S("SET"), k, S("hello"));
    DO(S("SET"), bk, BINV);
    DO(S("SET"), ek, S(""));

    vmux_bytes v = JUNK_BYTES;
    assert_int_equal(vmux_get(M, NULL, k, &v), 0);
    assert_bytes(&v, S("hello"));
    vmux_bytes_free(&v);
    assert_null(v.ptr);
    vmux_bytes_free(&v); /* freeing twice is allowed */

    assert_int_equal(vmux_get(M, NULL, bk, &v), 0);
    assert_bytes(&v, BINV);
    vmux_bytes_free(&v);

    assert_int_equal(vmux_get(M, NULL, ek, &v), 0);
    assert_bytes(&v, S("")); /* empty is not nil */
    vmux_bytes_free(&v);

    v = JUNK_BYTES;
    assert_int_equal(vmux_get(M, NULL, key("get-missing"), &v), 0);
    assert_zero_bytes(&v);

    assert_int_equal(vmux_get(M, NULL, k, NULL), 0);

    vmux_str lk = listkey("get-list");
    v = JUNK_BYTES;
    assert_wrongtype(vmux_get(M, &EO, lk, &v));
    assert_zero_bytes(&v);
}

/* Values at and around the size from which GET hands over its reply's own buffer
 * (VMUX_REPLY_TAKE_MIN, 64 KiB): every byte, the NUL after them, and freeing, at each size. */
static void test_get_large(void **state)
{
    (void)state;
    const size_t sizes[] = {65535, 65536, 65537, 1u << 20};
    char *val = malloc(1u << 20);
    assert_non_null(val);
    for (size_t i = 0; i < (1u << 20); i++)
        val[i] = (char)(i * 131 + (i >> 9)); /* NULs and every byte value among them */
    for (size_t n = 0; n < sizeof(sizes) / sizeof(sizes[0]); n++) {
        vmux_str k = key("get-large");
        assert_int_equal(
            vmux_set(M, NULL, k, (vmux_str){val, sizes[n]}, VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, NULL),
            0);
        vmux_bytes v = JUNK_BYTES;
        assert_int_equal(vmux_get(M, NULL, k, &v), 0);
        assert_int_equal(v.len, sizes[n]);
        assert_memory_equal(v.ptr, val, sizes[n]);
        assert_int_equal(v.ptr[sizes[n]], '\0');
        vmux_bytes_free(&v);
        assert_null(v.ptr);
        v = JUNK_BYTES;
        assert_int_equal(vmux_getdel(M, NULL, k, &v), 0);
        assert_int_equal(v.len, sizes[n]);
        assert_memory_equal(v.ptr, val, sizes[n]);
        vmux_bytes_free(&v);
    }
    free(val);
}

static void test_get_async(void **state)
{
    (void)state;
    vmux_str bk = binkey("get-async");
    DO(S("SET"), bk, BINV);
    struct done d = {0};
    assert_int_equal(vmux_get_async(M, NULL, bk, on_reply, &d), 0);
    wait_done(&d);
    assert_int_equal(d.status, 0);
    vmux_bytes v;
    assert_int_equal(vmux_reply_to_bytes(d.reply, &v), 0);
    assert_bytes(&v, BINV);
    vmux_bytes_free(&v);
    vmux_reply_free(d.reply);

    struct done miss = {0};
    assert_int_equal(vmux_get_async(M, NULL, key("get-async-missing"), on_reply, &miss), 0);
    wait_done(&miss);
    assert_int_equal(miss.status, 0);
    v = JUNK_BYTES;
    assert_int_equal(vmux_reply_to_bytes(miss.reply, &v), 0);
    assert_zero_bytes(&v);
    vmux_reply_free(miss.reply);

    struct done wt = {0};
    assert_int_equal(vmux_get_async(M, NULL, listkey("get-async-list"), on_reply, &wt), 0);
    wait_done(&wt);
    assert_int_equal(wt.status, VMUX_ERR_SERVER);
    v = JUNK_BYTES;
    assert_int_equal(vmux_reply_to_bytes(wt.reply, &v), VMUX_ERR_SERVER);
    assert_zero_bytes(&v);
    assert_non_null(strstr(vmux_reply_str(wt.reply, NULL), "WRONGTYPE"));
    vmux_reply_free(wt.reply);
}

/* ---- SET ---- */

static void test_set_plain(void **state)
{
    (void)state;
    vmux_str k = key("set"), bk = binkey("set");
    bool was = false;
    assert_int_equal(vmux_set(M, NULL, k, S("v1"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, &was), 0);
    assert_true(was);
    assert_admin_get(k, "v1");

    assert_int_equal(vmux_set(M, NULL, bk, BINV, VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, NULL), 0);
    assert_raw_str(RAW(S("GET"), bk), BINV);

    assert_int_equal(vmux_set(M, NULL, k, S(""), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, &was), 0);
    assert_raw_str(RAW(S("GET"), k), S(""));

    /* SET overwrites another type, so WRONGTYPE cannot happen; a plain SET clears a TTL. */
    vmux_str lk = listkey("set-list");
    assert_int_equal(vmux_set(M, NULL, lk, S("s"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, &was), 0);
    assert_admin_get(lk, "s");
    DO(S("EXPIRE"), k, S("100"));
    assert_int_equal(vmux_set(M, NULL, k, S("x"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, NULL), 0);
    assert_int_equal(raw_int(RAW(S("TTL"), k)), -1);
}

static void test_set_conditions(void **state)
{
    (void)state;
    vmux_str k = key("set-cond");
    bool was = true;
    DO(S("DEL"), k);
    assert_int_equal(vmux_set(M, NULL, k, S("x"), VMUX_NO_EXPIRY, VMUX_COND_XX, &was), 0);
    assert_false(was);
    assert_raw_nil(RAW(S("GET"), k));
    assert_int_equal(vmux_set(M, NULL, k, S("n"), VMUX_NO_EXPIRY, VMUX_COND_NX, &was), 0);
    assert_true(was);
    assert_int_equal(vmux_set(M, NULL, k, S("n2"), VMUX_NO_EXPIRY, VMUX_COND_NX, &was), 0);
    assert_false(was);
    assert_admin_get(k, "n");
    assert_int_equal(vmux_set(M, NULL, k, S("x"), VMUX_NO_EXPIRY, VMUX_COND_XX, &was), 0);
    assert_true(was);
    assert_admin_get(k, "x");
}

static void test_set_expiry(void **state)
{
    (void)state;
    vmux_str k = key("set-exp");
    assert_int_equal(
        vmux_set(M, NULL, k, S("v"), VMUX_EXPIRE_IN_SECONDS(100), VMUX_COND_ALWAYS, NULL), 0);
    int64_t ttl = raw_int(RAW(S("TTL"), k));
    assert_true(ttl > 0 && ttl <= 100);

    assert_int_equal(vmux_set(M, NULL, k, S("v"), VMUX_EXPIRE_IN_MS(50000), VMUX_COND_ALWAYS, NULL),
                     0);
    int64_t pttl = raw_int(RAW(S("PTTL"), k));
    assert_true(pttl > 0 && pttl <= 50000);

    /* KEEPTTL keeps the 50 s TTL while the value changes. */
    assert_int_equal(vmux_set(M, NULL, k, S("kept"), VMUX_KEEP_TTL, VMUX_COND_ALWAYS, NULL), 0);
    assert_admin_get(k, "kept");
    pttl = raw_int(RAW(S("PTTL"), k));
    assert_true(pttl > 0 && pttl <= 50000);

    int64_t now = server_time();
    vmux_expiry at = {VMUX_EXPIRY_AT_SECONDS, now + 1000};
    assert_int_equal(vmux_set(M, NULL, k, S("v"), at, VMUX_COND_ALWAYS, NULL), 0);
    assert_int_equal(raw_int(RAW(S("EXPIRETIME"), k)), now + 1000);
    vmux_expiry at_ms = {VMUX_EXPIRY_AT_MS, (now + 2000) * 1000 + 7};
    assert_int_equal(vmux_set(M, NULL, k, S("v"), at_ms, VMUX_COND_ALWAYS, NULL), 0);
    assert_int_equal(raw_int(RAW(S("PEXPIRETIME"), k)), (now + 2000) * 1000 + 7);

    /* The server refuses a zero expiry: a server error, not a crash, and was_set false. */
    bool was = true;
    assert_int_equal(vmux_set(M, &EO, k, S("v"), VMUX_EXPIRE_IN_SECONDS(0), VMUX_COND_ALWAYS, &was),
                     VMUX_ERR_SERVER);
    assert_false(was);
    assert_non_null(strstr(errbuf, "invalid expire time"));
}

static void test_set_bad_args(void **state)
{
    (void)state;
    vmux_str k = key("set-bad");
    bool was = true;
    vmux_expiry persist = {VMUX_EXPIRY_PERSIST, 0}, bogus = {(vmux_expiry_kind)42, 1};
    assert_int_equal(vmux_set(M, NULL, k, S("v"), persist, VMUX_COND_ALWAYS, &was),
                     VMUX_ERR_INVALID_ARG);
    assert_false(was);
    was = true;
    assert_int_equal(vmux_set(M, NULL, k, S("v"), bogus, VMUX_COND_ALWAYS, &was),
                     VMUX_ERR_INVALID_ARG);
    assert_false(was);
    assert_int_equal(vmux_set(M, NULL, k, S("v"), VMUX_NO_EXPIRY, (vmux_cond)7, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_set_async(M, NULL, k, S("v"), persist, VMUX_COND_ALWAYS, on_reply, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_set_get(M, NULL, k, S("v"), bogus, VMUX_COND_ALWAYS, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_raw_nil(RAW(S("GET"), k)); /* nothing was sent */
}

static void test_set_async(void **state)
{
    (void)state;
    vmux_str bk = binkey("set-async");
    DO(S("DEL"), bk);
    struct done d = {0};
    assert_int_equal(
        vmux_set_async(M, NULL, bk, BINV, VMUX_EXPIRE_IN_SECONDS(100), VMUX_COND_NX, on_reply, &d),
        0);
    wait_done(&d);
    assert_int_equal(d.status, 0);
    bool was = false;
    assert_int_equal(vmux_reply_to_bool(d.reply, &was), 0);
    assert_true(was);
    vmux_reply_free(d.reply);
    assert_raw_str(RAW(S("GET"), bk), BINV);
    assert_true(raw_int(RAW(S("TTL"), bk)) > 0);

    struct done again = {0};
    assert_int_equal(
        vmux_set_async(M, NULL, bk, S("no"), VMUX_NO_EXPIRY, VMUX_COND_NX, on_reply, &again), 0);
    wait_done(&again);
    assert_int_equal(again.status, 0);
    assert_int_equal(vmux_reply_to_bool(again.reply, &was), 0);
    assert_false(was);
    vmux_reply_free(again.reply);
    assert_raw_str(RAW(S("GET"), bk), BINV);
}

static void test_set_get(void **state)
{
    (void)state;
    vmux_str k = key("setget"), bk = binkey("setget");
    DO(S("DEL"), k);
    vmux_bytes old = JUNK_BYTES;
    assert_int_equal(vmux_set_get(M, NULL, k, S("first"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, &old),
                     0);
    assert_zero_bytes(&old); /* no old value */
    assert_int_equal(vmux_set_get(M, NULL, k, S(""), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, &old), 0);
    assert_bytes(&old, S("first"));
    vmux_bytes_free(&old);
    assert_int_equal(vmux_set_get(M, NULL, k, S("third"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, &old),
                     0);
    assert_bytes(&old, S("")); /* empty old value, not nil */
    vmux_bytes_free(&old);

    DO(S("SET"), bk, BINV);
    assert_int_equal(vmux_set_get(M, NULL, bk, S("new"), VMUX_NO_EXPIRY, VMUX_COND_NX, &old), 0);
    assert_bytes(&old, BINV); /* NX did not hold: old value returned, nothing written */
    vmux_bytes_free(&old);
    assert_raw_str(RAW(S("GET"), bk), BINV);
    assert_int_equal(
        vmux_set_get(M, NULL, bk, S("new"), VMUX_EXPIRE_IN_SECONDS(100), VMUX_COND_XX, NULL), 0);
    assert_raw_str(RAW(S("GET"), bk), S("new"));
    assert_true(raw_int(RAW(S("TTL"), bk)) > 0);

    vmux_str lk = listkey("setget-list");
    old = JUNK_BYTES;
    assert_wrongtype(vmux_set_get(M, &EO, lk, S("v"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, &old));
    assert_zero_bytes(&old);
}

/* ---- GETEX, GETDEL ---- */

static void test_getex(void **state)
{
    (void)state;
    vmux_str bk = binkey("getex");
    DO(S("SET"), bk, BINV);
    vmux_bytes v = JUNK_BYTES;
    assert_int_equal(vmux_getex(M, NULL, bk, VMUX_NO_EXPIRY, &v), 0);
    assert_bytes(&v, BINV);
    vmux_bytes_free(&v);
    assert_int_equal(raw_int(RAW(S("TTL"), bk)), -1);

    assert_int_equal(vmux_getex(M, NULL, bk, VMUX_EXPIRE_IN_SECONDS(100), &v), 0);
    assert_bytes(&v, BINV);
    vmux_bytes_free(&v);
    int64_t ttl = raw_int(RAW(S("TTL"), bk));
    assert_true(ttl > 0 && ttl <= 100);

    assert_int_equal(vmux_getex(M, NULL, bk, VMUX_EXPIRE_IN_MS(5000), NULL), 0);
    int64_t pttl = raw_int(RAW(S("PTTL"), bk));
    assert_true(pttl > 0 && pttl <= 5000);

    int64_t at = server_time() + 500;
    assert_int_equal(vmux_getex(M, NULL, bk, (vmux_expiry){VMUX_EXPIRY_AT_SECONDS, at}, NULL), 0);
    assert_int_equal(raw_int(RAW(S("EXPIRETIME"), bk)), at);
    assert_int_equal(vmux_getex(M, NULL, bk, (vmux_expiry){VMUX_EXPIRY_AT_MS, at * 1000 + 3}, NULL),
                     0);
    assert_int_equal(raw_int(RAW(S("PEXPIRETIME"), bk)), at * 1000 + 3);

    assert_int_equal(vmux_getex(M, NULL, bk, (vmux_expiry){VMUX_EXPIRY_PERSIST, 0}, &v), 0);
    assert_bytes(&v, BINV);
    vmux_bytes_free(&v);
    assert_int_equal(raw_int(RAW(S("TTL"), bk)), -1);

    vmux_str ek = key("getex-empty");
    DO(S("SET"), ek, S(""));
    assert_int_equal(vmux_getex(M, NULL, ek, VMUX_NO_EXPIRY, &v), 0);
    assert_bytes(&v, S(""));
    vmux_bytes_free(&v);

    v = JUNK_BYTES;
    assert_int_equal(vmux_getex(M, NULL, key("getex-missing"), VMUX_EXPIRE_IN_SECONDS(5), &v), 0);
    assert_zero_bytes(&v);

    v = JUNK_BYTES;
    assert_int_equal(vmux_getex(M, NULL, bk, VMUX_KEEP_TTL, &v), VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&v);

    v = JUNK_BYTES;
    assert_wrongtype(vmux_getex(M, &EO, listkey("getex-list"), VMUX_NO_EXPIRY, &v));
    assert_zero_bytes(&v);
}

static void test_getdel(void **state)
{
    (void)state;
    vmux_str bk = binkey("getdel"), ek = key("getdel-empty");
    DO(S("SET"), bk, BINV);
    DO(S("SET"), ek, S(""));
    vmux_bytes v = JUNK_BYTES;
    assert_int_equal(vmux_getdel(M, NULL, bk, &v), 0);
    assert_bytes(&v, BINV);
    vmux_bytes_free(&v);
    assert_int_equal(raw_int(RAW(S("EXISTS"), bk)), 0);
    v = JUNK_BYTES;
    assert_int_equal(vmux_getdel(M, NULL, bk, &v), 0);
    assert_zero_bytes(&v);

    assert_int_equal(vmux_getdel(M, NULL, ek, &v), 0);
    assert_bytes(&v, S(""));
    vmux_bytes_free(&v);
    assert_int_equal(raw_int(RAW(S("EXISTS"), ek)), 0);

    DO(S("SET"), ek, S("z"));
    assert_int_equal(vmux_getdel(M, NULL, ek, NULL), 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), ek)), 0);

    vmux_str lk = listkey("getdel-list");
    v = JUNK_BYTES;
    assert_wrongtype(vmux_getdel(M, &EO, lk, &v));
    assert_zero_bytes(&v);
    assert_int_equal(raw_int(RAW(S("EXISTS"), lk)), 1);
}

/* ---- MGET, MSET, MSETNX ---- */

static void test_mget(void **state)
{
    (void)state;
    vmux_str keys[5] = {key("mget-a"), binkey("mget-b"), key("mget-missing"), key("mget-empty"),
                        listkey("mget-list")};
    DO(S("SET"), keys[0], S("A"));
    DO(S("SET"), keys[1], BINV);
    DO(S("SET"), keys[3], S(""));
    vmux_bytes_array vals = JUNK_ARRAY;
    assert_int_equal(vmux_mget(M, NULL, keys, 5, &vals), 0);
    assert_int_equal(vals.count, 5);
    assert_bytes(&vals.items[0], S("A"));
    assert_bytes(&vals.items[1], BINV);
    assert_zero_bytes(&vals.items[2]);
    assert_bytes(&vals.items[3], S(""));
    assert_zero_bytes(&vals.items[4]); /* MGET reads another type as nil, no WRONGTYPE */
    vmux_bytes_array_free(&vals);
    assert_zero_array(&vals);
    vmux_bytes_array_free(&vals);

    assert_int_equal(vmux_mget(M, NULL, keys, 1, NULL), 0);
    vals = JUNK_ARRAY;
    assert_int_equal(vmux_mget(M, NULL, keys, 0, &vals), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&vals);
    vals = JUNK_ARRAY;
    assert_int_equal(vmux_mget(M, NULL, NULL, 2, &vals), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&vals);
}

static void test_mset(void **state)
{
    (void)state;
    vmux_str keys[3] = {key("mset-a"), binkey("mset-b"), key("mset-c")};
    vmux_str vals[3] = {S("1"), BINV, S("")};
    vmux_str lk = listkey("mset-list");
    assert_int_equal(vmux_mset(M, NULL, keys, vals, 3), 0);
    assert_admin_get(keys[0], "1");
    assert_raw_str(RAW(S("GET"), keys[1]), BINV);
    assert_raw_str(RAW(S("GET"), keys[2]), S(""));
    /* MSET overwrites keys of another type */
    assert_int_equal(vmux_mset(M, NULL, &lk, vals, 1), 0);
    assert_admin_get(lk, "1");

    assert_int_equal(vmux_mset(M, NULL, keys, vals, 0), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_mset(M, NULL, NULL, vals, 1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_mset(M, NULL, keys, NULL, 1), VMUX_ERR_INVALID_ARG);
}

static void test_msetnx(void **state)
{
    (void)state;
    vmux_str keys[2] = {key("msetnx-a"), binkey("msetnx-b")};
    vmux_str vals[2] = {S(""), BINV};
    DO(S("DEL"), keys[0], keys[1]);
    bool all = false;
    assert_int_equal(vmux_msetnx(M, NULL, keys, vals, 2, &all), 0);
    assert_true(all);
    assert_raw_str(RAW(S("GET"), keys[0]), S(""));
    assert_raw_str(RAW(S("GET"), keys[1]), BINV);

    vmux_str keys2[2] = {key("msetnx-c"), keys[1]};
    vmux_str vals2[2] = {S("c"), S("changed")};
    DO(S("DEL"), keys2[0]);
    assert_int_equal(vmux_msetnx(M, NULL, keys2, vals2, 2, &all), 0);
    assert_false(all);
    assert_int_equal(raw_int(RAW(S("EXISTS"), keys2[0])), 0); /* none was written */
    assert_raw_str(RAW(S("GET"), keys[1]), BINV);
    assert_int_equal(vmux_msetnx(M, NULL, keys2, vals2, 1, NULL), 0);
    assert_admin_get(keys2[0], "c");

    all = true;
    assert_int_equal(vmux_msetnx(M, NULL, keys, vals, 0, &all), VMUX_ERR_INVALID_ARG);
    assert_false(all);
    all = true;
    assert_int_equal(vmux_msetnx(M, NULL, keys, NULL, 2, &all), VMUX_ERR_INVALID_ARG);
    assert_false(all);
}

/* ---- INCR family ---- */

static void test_incr_family(void **state)
{
    (void)state;
    vmux_str k = key("incr"), bk = binkey("incr");
    DO(S("DEL"), k, bk);
    int64_t v = -1;
    assert_int_equal(vmux_incr(M, NULL, k, &v), 0); /* a missing key counts as 0 */
    assert_int_equal(v, 1);
    assert_int_equal(vmux_incrby(M, NULL, k, 41, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(vmux_incrby(M, NULL, k, -50, &v), 0);
    assert_int_equal(v, -8);
    assert_int_equal(vmux_decr(M, NULL, k, &v), 0);
    assert_int_equal(v, -9);
    assert_int_equal(vmux_decrby(M, NULL, k, -10, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(vmux_decrby(M, NULL, k, INT64_C(9000000000), &v), 0);
    assert_int_equal(v, INT64_C(-8999999999));
    assert_admin_get(k, "-8999999999");
    assert_int_equal(vmux_incr(M, NULL, k, NULL), 0);
    assert_admin_get(k, "-8999999998");

    assert_int_equal(vmux_decr(M, NULL, bk, &v), 0);
    assert_int_equal(v, -1);
    assert_raw_str(RAW(S("GET"), bk), S("-1"));

    /* not an integer: an empty value, a binary value, and an overflow */
    vmux_str ek = key("incr-empty"), nk = key("incr-bin"), mk = key("incr-max");
    DO(S("SET"), ek, S(""));
    DO(S("SET"), nk, BINV);
    DO(S("SET"), mk, S("9223372036854775807"));
    v = 77;
    assert_int_equal(vmux_incr(M, &EO, ek, &v), VMUX_ERR_SERVER);
    assert_int_equal(v, 0);
    assert_non_null(strstr(errbuf, "not an integer"));
    v = 77;
    assert_int_equal(vmux_incrby(M, &EO, nk, 1, &v), VMUX_ERR_SERVER);
    assert_int_equal(v, 0);
    v = 77;
    assert_int_equal(vmux_incr(M, &EO, mk, &v), VMUX_ERR_SERVER);
    assert_int_equal(v, 0);
    assert_non_null(strstr(errbuf, "overflow"));

    vmux_str lk = listkey("incr-list");
    v = 77;
    assert_wrongtype(vmux_incr(M, &EO, lk, &v));
    assert_int_equal(v, 0);
    v = 77;
    assert_wrongtype(vmux_incrby(M, &EO, lk, 2, &v));
    assert_int_equal(v, 0);
    v = 77;
    assert_wrongtype(vmux_decr(M, &EO, lk, &v));
    assert_int_equal(v, 0);
    v = 77;
    assert_wrongtype(vmux_decrby(M, &EO, lk, 2, &v));
    assert_int_equal(v, 0);
}

static void test_incrbyfloat(void **state)
{
    (void)state;
    vmux_str k = key("incrf"), bk = binkey("incrf");
    DO(S("SET"), k, S("10.5"));
    DO(S("DEL"), bk);
    double d = -1;
    assert_int_equal(vmux_incrbyfloat(M, NULL, k, 0.1, &d), 0);
    assert_true(fabs(d - 10.6) < 1e-9);
    assert_admin_get_double(k, 10.6);
    assert_int_equal(vmux_incrbyfloat(M, NULL, k, -20, &d), 0);
    assert_true(fabs(d - -9.4) < 1e-9);
    assert_int_equal(vmux_incrbyfloat(M, NULL, bk, 2.5e3, &d), 0);
    assert_true(fabs(d - 2500) < 1e-9);
    assert_raw_str(RAW(S("GET"), bk), S("2500"));
    assert_int_equal(vmux_incrbyfloat(M, NULL, bk, 1, NULL), 0);
    assert_raw_str(RAW(S("GET"), bk), S("2501"));
    /* a large result comes back in full, 301 digits: read (it was refused past 63) */
    vmux_str hk = key("incrf-huge");
    DO(S("DEL"), hk);
    assert_int_equal(vmux_incrbyfloat(M, NULL, hk, 1e300, &d), 0);
    assert_true(d == 1e300);

    vmux_str ek = key("incrf-empty");
    DO(S("SET"), ek, S(""));
    d = 5;
    assert_int_equal(vmux_incrbyfloat(M, &EO, ek, 1, &d), VMUX_ERR_SERVER);
    assert_true(d == 0);
    assert_non_null(strstr(errbuf, "not a valid float"));
    d = 5;
    assert_int_equal(vmux_incrbyfloat(M, &EO, k, INFINITY, &d), VMUX_ERR_SERVER);
    assert_true(d == 0);
    d = 5;
    assert_int_equal(vmux_incrbyfloat(M, NULL, k, NAN, &d), VMUX_ERR_INVALID_ARG); /* not sent */
    assert_true(d == 0);
    assert_admin_get_double(k, -9.4);
    d = 5;
    assert_wrongtype(vmux_incrbyfloat(M, &EO, listkey("incrf-list"), 1, &d));
    assert_true(d == 0);
}

/* ---- APPEND, STRLEN ---- */

static void test_append(void **state)
{
    (void)state;
    vmux_str bk = binkey("append");
    DO(S("DEL"), bk);
    int64_t len = -1;
    assert_int_equal(vmux_append(M, NULL, bk, S(""), &len), 0);
    assert_int_equal(len, 0);
    assert_raw_str(RAW(S("GET"), bk), S("")); /* APPEND of nothing creates an empty value */
    assert_int_equal(vmux_append(M, NULL, bk, BINV, &len), 0);
    assert_int_equal(len, sizeof BIN);
    assert_int_equal(vmux_append(M, NULL, bk, BINV, NULL), 0);
    char twice[2 * sizeof BIN];
    memcpy(twice, BIN, sizeof BIN);
    memcpy(twice + sizeof BIN, BIN, sizeof BIN);
    assert_raw_str(RAW(S("GET"), bk), VMUX_STRN(twice, sizeof twice));

    len = 9;
    assert_wrongtype(vmux_append(M, &EO, listkey("append-list"), S("x"), &len));
    assert_int_equal(len, 0);
}

static void test_strlen(void **state)
{
    (void)state;
    vmux_str bk = binkey("strlen"), ek = key("strlen-empty");
    DO(S("SET"), bk, BINV);
    DO(S("SET"), ek, S(""));
    int64_t len = -1;
    assert_int_equal(vmux_strlen(M, NULL, bk, &len), 0);
    assert_int_equal(len, sizeof BIN);
    len = -1;
    assert_int_equal(vmux_strlen(M, NULL, ek, &len), 0);
    assert_int_equal(len, 0);
    len = -1;
    assert_int_equal(vmux_strlen(M, NULL, key("strlen-missing"), &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(vmux_strlen(M, NULL, bk, NULL), 0);
    len = 9;
    assert_wrongtype(vmux_strlen(M, &EO, listkey("strlen-list"), &len));
    assert_int_equal(len, 0);
}

/* ---- GETRANGE, SETRANGE, LCS ---- */

/* GETRANGE against the server's documented answers, and over bytes with NULs. */
static void test_getrange(void **state)
{
    (void)state;
    vmux_str k = key("getrange"), bk = binkey("getrange"), missing = key("getrange-missing");
    DO(S("SET"), k, S("This is a string"));
    DO(S("SET"), bk, BINV);
    DO(S("DEL"), missing);
    const struct {
        int64_t start, end;
        const char *want;
    } cases[] = {{0, 3, "This"},      {-3, -1, "ing"}, {0, -1, "This is a string"},
                 {10, 100, "string"}, {5, 3, ""},      {100, 200, ""},
                 {-100, 1, "Th"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vmux_bytes v;
        assert_int_equal(vmux_getrange(M, NULL, k, cases[i].start, cases[i].end, &v), 0);
        assert_bytes(&v, S(cases[i].want));
        vmux_bytes_free(&v);
    }
    vmux_bytes v;
    assert_int_equal(vmux_getrange(M, NULL, bk, 1, 3, &v), 0);
    assert_bytes(&v, VMUX_STRN("\0b\r", 3));
    vmux_bytes_free(&v);
    assert_int_equal(vmux_getrange(M, NULL, bk, 0, -1, &v), 0);
    assert_bytes(&v, BINV);
    vmux_bytes_free(&v);
    assert_int_equal(vmux_getrange(M, NULL, missing, 0, -1, &v), 0);
    assert_non_null(v.ptr); /* empty, not nil */
    assert_int_equal(v.len, 0);
    vmux_bytes_free(&v);
    assert_int_equal(vmux_getrange(M, NULL, k, 0, 1, NULL), 0);

    v = JUNK_BYTES;
    assert_wrongtype(vmux_getrange(M, &EO, listkey("getrange-list"), 0, -1, &v));
    assert_zero_bytes(&v);
}

static void test_setrange(void **state)
{
    (void)state;
    vmux_str k = key("setrange"), padded = binkey("setrange-padded");
    vmux_str empty = key("setrange-empty"), big = key("setrange-big");
    DO(S("SET"), k, S("Hello World"));
    DO(S("DEL"), padded);
    DO(S("DEL"), empty);
    DO(S("DEL"), big);
    int64_t len = -1;
    assert_int_equal(vmux_setrange(M, NULL, k, 6, S("Redis"), &len), 0);
    assert_int_equal(len, 11);
    assert_raw_str(RAW(S("GET"), k), S("Hello Redis"));
    len = -1;
    assert_int_equal(vmux_setrange(M, NULL, k, 6, S("Redis"), &len), 0); /* the same again */
    assert_int_equal(len, 11);
    assert_raw_str(RAW(S("GET"), k), S("Hello Redis"));
    /* a missing key, padded with zero bytes; binary bytes written as they are */
    assert_int_equal(vmux_setrange(M, NULL, padded, 6, BINV, &len), 0);
    assert_int_equal(len, 6 + sizeof BIN);
    char want[6 + sizeof BIN] = {0};
    memcpy(want + 6, BIN, sizeof BIN);
    assert_raw_str(RAW(S("GET"), padded), VMUX_STRN(want, sizeof want));
    assert_int_equal(vmux_setrange(M, NULL, padded, 0, S("ab"), NULL), 0);
    memcpy(want, "ab", 2);
    assert_raw_str(RAW(S("GET"), padded), VMUX_STRN(want, sizeof want));
    /* nothing to write: a missing key stays missing, an existing one says its length */
    len = -1;
    assert_int_equal(vmux_setrange(M, NULL, empty, 5, S(""), &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), empty)), 0);
    assert_int_equal(vmux_setrange(M, NULL, k, 100, S(""), &len), 0);
    assert_int_equal(len, 11);
    /* past the server's largest string (512 MB): its error, nothing written */
    len = 9;
    errbuf[0] = '\0';
    assert_int_equal(vmux_setrange(M, &EO, big, 512 * 1024 * 1024, S("x"), &len), VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "maximum allowed size"));
    assert_int_equal(len, 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), big)), 0);
    /* a negative offset: refused, nothing sent */
    strcpy(errbuf, "untouched");
    len = 9;
    assert_int_equal(vmux_setrange(M, &EO, big, -1, S("x"), &len), VMUX_ERR_INVALID_ARG);
    assert_int_equal(len, 0);
    assert_int_equal(vmux_setrange(M, &EO, big, 0, VMUX_STRN(NULL, 1), &len), VMUX_ERR_INVALID_ARG);
    assert_refused_words(errbuf);
    assert_int_equal(raw_int(RAW(S("EXISTS"), big)), 0);

    len = 9;
    assert_wrongtype(vmux_setrange(M, &EO, listkey("setrange-list"), 0, S("x"), &len));
    assert_int_equal(len, 0);
}

/* LCS against the server's documented example, binary strings and missing keys. */
static void test_lcs(void **state)
{
    (void)state;
    vmux_str a = key("lcs-a"), b = key("lcs-b"), missing = key("lcs-missing");
    vmux_str ba = binkey("lcs-ba"), bb = binkey("lcs-bb"), list = key("lcs-list");
    DO(S("MSET"), a, S("ohmytext"), b, S("mynewtext"));
    DO(S("SET"), ba, VMUX_STRN("x\0y\0z", 5));
    DO(S("SET"), bb, VMUX_STRN("\0\0", 2));
    DO(S("DEL"), missing);
    DO(S("DEL"), list);
    DO(S("RPUSH"), list, S("x"));
    vmux_bytes v;
    int64_t len = -1;
    assert_int_equal(vmux_lcs(M, NULL, a, b, &v), 0);
    assert_bytes(&v, S("mytext"));
    vmux_bytes_free(&v);
    assert_int_equal(vmux_lcs_len(M, NULL, a, b, &len), 0);
    assert_int_equal(len, 6);
    assert_int_equal(vmux_lcs(M, NULL, ba, bb, &v), 0);
    assert_bytes(&v, VMUX_STRN("\0\0", 2));
    vmux_bytes_free(&v);
    assert_int_equal(vmux_lcs_len(M, NULL, ba, bb, &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(vmux_lcs(M, NULL, a, missing, &v), 0);
    assert_non_null(v.ptr);
    assert_int_equal(v.len, 0);
    vmux_bytes_free(&v);
    len = -1;
    assert_int_equal(vmux_lcs_len(M, NULL, missing, a, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(vmux_lcs(M, NULL, a, b, NULL), 0);

    /* another type: the server's own error, not WRONGTYPE */
    v = JUNK_BYTES;
    errbuf[0] = '\0';
    assert_int_equal(vmux_lcs(M, &EO, a, list, &v), VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "must contain string values"));
    assert_zero_bytes(&v);
    len = 9;
    assert_int_equal(vmux_lcs_len(M, &EO, list, a, &len), VMUX_ERR_SERVER);
    assert_int_equal(len, 0);
    strcpy(errbuf, "untouched");
    assert_int_equal(vmux_lcs(M, &EO, a, VMUX_STRN(NULL, 2), &v), VMUX_ERR_INVALID_ARG);
    assert_refused_words(errbuf);
}

/* LCS of keys in two slots ({a} is slot 15495, {b} slot 3300): a cluster refuses it unsent. */
static void test_lcs_two_slots(void **state)
{
    (void)state;
    vmux_str a = slot_key("a", "lcs"), b = slot_key("b", "lcs");
    DO(S("SET"), a, S("ohmytext"));
    DO(S("SET"), b, S("mynewtext"));
    vmux_bytes v = JUNK_BYTES;
    int64_t len = 9;
    errbuf[0] = '\0';
    if (vt_cluster_mode() == NULL) {
        assert_int_equal(vmux_lcs(M, &EO, a, b, &v), 0);
        assert_bytes(&v, S("mytext"));
        vmux_bytes_free(&v);
        assert_int_equal(vmux_lcs_len(M, &EO, a, b, &len), 0);
        assert_int_equal(len, 6);
        return;
    }
    assert_int_equal(vmux_lcs(M, &EO, a, b, &v), VMUX_ERR_CROSSSLOT);
    assert_zero_bytes(&v);
    assert_non_null(strstr(errbuf, "slot 15495"));
    assert_non_null(strstr(errbuf, "slot 3300"));
    assert_int_equal(vmux_lcs_len(M, &EO, a, b, &len), VMUX_ERR_CROSSSLOT);
    assert_int_equal(len, 0);
}

/* A call that fails before any reply (no handle) still leaves out-parameters zeroed. */
static void test_no_handle_zeroes(void **state)
{
    (void)state;
    vmux_bytes v = JUNK_BYTES;
    vmux_bytes_array a = JUNK_ARRAY;
    int64_t n = 5;
    bool was = true;
    assert_int_equal(vmux_get(NULL, NULL, key("x"), &v), VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&v);
    vmux_str k = key("x");
    assert_int_equal(vmux_mget(NULL, NULL, &k, 1, &a), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&a);
    assert_int_equal(vmux_incr(NULL, NULL, k, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_set(NULL, NULL, k, S("v"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, &was),
                     VMUX_ERR_INVALID_ARG);
    assert_false(was);
}

/*
 * A reply of another shape than the function reads (here a server whose GET is INCR renamed):
 * VMUX_ERR_PROTOCOL, the connection kept, and the error buffer says the command ran.
 */
static void test_reply_of_another_shape(void **state)
{
    (void)state;
    VT_SKIP_ON_CLUSTER("a server of its own, with renamed commands");
    const char *const extra[] = {
        "--rename-command", "GET", "getx", "--rename-command", "INCR", "GET", NULL};
    vt_server *s = vt_server_new(extra);
    assert_non_null(s);
    vmux *m = vt_server_open(s, NULL);
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_bytes v;
    assert_int_equal(vmux_get(m, &o, VMUX_STR("shape"), &v), VMUX_ERR_PROTOCOL);
    assert_null(v.ptr);
    assert_string_equal(err, "GET: the command ran, but its reply is not of the shape this "
                             "function reads: expected a string or nil, got integer");
    int64_t n = 0;
    assert_int_equal(vmux_incrby(m, NULL, VMUX_STR("other"), 5, &n), 0); /* same connection */
    assert_int_equal(n, 5);
    vmux_close(m);
    vt_server_stop(s);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_get_async),
        cmocka_unit_test(test_get_large),
        cmocka_unit_test(test_set_plain),
        cmocka_unit_test(test_set_conditions),
        cmocka_unit_test(test_set_expiry),
        cmocka_unit_test(test_set_bad_args),
        cmocka_unit_test(test_set_async),
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_getex),
        cmocka_unit_test(test_getdel),
        cmocka_unit_test(test_mget),
        cmocka_unit_test(test_mset),
        cmocka_unit_test(test_msetnx),
        cmocka_unit_test(test_incr_family),
        cmocka_unit_test(test_incrbyfloat),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_strlen),
        cmocka_unit_test(test_getrange),
        cmocka_unit_test(test_setrange),
        cmocka_unit_test(test_lcs),
        cmocka_unit_test(test_lcs_two_slots),
        cmocka_unit_test(test_no_handle_zeroes),
        cmocka_unit_test(test_reply_of_another_shape),
    };
    return cmocka_run_group_tests(tests, cmd_setup, cmd_teardown);
}

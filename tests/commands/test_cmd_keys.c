/*
 * The key commands (keys.h) against a real server: normal use, binary keys with NUL bytes,
 * keys holding empty values, missing keys, bad arguments, server errors, and out-parameters
 * zeroed on error; results checked against the server's state read back through the generic
 * API or a separate admin connection. No key command checks the value's type, so instead of
 * WRONGTYPE the tests show that they work on keys of every type.
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
#include <unistd.h>

#include <cmocka.h>

#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

#include "cmd_common.h"

const char cmd_family[] = "keys";

/* The server's answer to "EXISTS key" on a separate admin connection (text keys only). */
static bool admin_exists(vmux_str k)
{
    char *v = vt_admin("plain", "EXISTS %b", k.ptr, k.len);
    assert_non_null(v);
    bool yes = strcmp(v, "1") == 0;
    assert_true(yes || strcmp(v, "0") == 0);
    free(v);
    return yes;
}

static int64_t exists(vmux_str k)
{
    return raw_int(RAW(S("EXISTS"), k));
}

/* Waits for d, checks it succeeded and returns its integer reply (freed). */
static int64_t wait_int(struct done *d)
{
    assert_true(vt_wait_until(fired, d, 20000));
    assert_int_equal(d->status, 0);
    int64_t v = -99;
    assert_int_equal(vmux_reply_to_int(d->reply, &v), 0);
    vmux_reply_free(d->reply);
    return v;
}

/* A key of each type but string, with one element. */
static void make_list(vmux_str k)
{
    DO(S("DEL"), k);
    DO(S("RPUSH"), k, S("x"));
}

static void make_others(vmux_str list, vmux_str set, vmux_str zset, vmux_str hash, vmux_str stream)
{
    make_list(list);
    DO(S("DEL"), set, zset, hash, stream);
    DO(S("SADD"), set, S("m"));
    DO(S("ZADD"), zset, S("1"), S("m"));
    DO(S("HSET"), hash, S("f"), S("v"));
    DO(S("XADD"), stream, S("*"), S("f"), S("v"));
}

/* ---- DEL, UNLINK ---- */

/* Runs DEL or UNLINK (by fn) over keys of every kind, and its bad arguments. */
static void check_delete(int (*fn)(vmux *, const vmux_callopts *, const vmux_str *, size_t,
                                   int64_t *),
                         const char *tag)
{
    char name[64];
    vmux_str keys[5];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "%s-%d", tag, i);
        keys[i] = i == 1 ? binkey(name) : key(name);
    }
    DO(S("SET"), keys[0], S("v"));
    DO(S("SET"), keys[1], BINV);
    DO(S("SET"), keys[2], S(""));
    make_list(keys[3]);
    DO(S("DEL"), keys[4]);
    int64_t n = -1;
    assert_int_equal(fn(M, NULL, keys, 5, &n), 0);
    assert_int_equal(n, 4); /* keys[4] was missing */
    for (int i = 0; i < 5; i++)
        assert_int_equal(exists(keys[i]), 0);
    assert_false(admin_exists(keys[0]));
    assert_int_equal(fn(M, NULL, keys, 5, &n), 0);
    assert_int_equal(n, 0);
    DO(S("SET"), keys[0], S("v"));
    assert_int_equal(fn(M, NULL, keys, 1, NULL), 0);
    assert_int_equal(exists(keys[0]), 0);

    n = 7;
    assert_int_equal(fn(M, NULL, keys, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(fn(M, NULL, NULL, 1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(fn(NULL, NULL, keys, 1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
}

static void test_del(void **state)
{
    (void)state;
    check_delete(vmux_del, "del");
}

static void test_unlink(void **state)
{
    (void)state;
    check_delete(vmux_unlink, "unlink");
}

static void test_del_async(void **state)
{
    (void)state;
    vmux_str keys[2] = {binkey("del-async"), key("del-async-missing")};
    DO(S("SET"), keys[0], BINV);
    DO(S("DEL"), keys[1]);
    struct done d = {0};
    assert_int_equal(vmux_del_async(M, NULL, keys, 2, on_reply, &d), 0);
    assert_int_equal(wait_int(&d), 1);
    assert_int_equal(exists(keys[0]), 0);
    assert_int_equal(vmux_del_async(M, NULL, keys, 0, on_reply, &d), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_del_async(M, NULL, NULL, 1, on_reply, &d), VMUX_ERR_INVALID_ARG);
}

/* ---- EXISTS ---- */

static void test_exists(void **state)
{
    (void)state;
    vmux_str keys[6] = {key("exists-a"),       binkey("exists-b"), key("exists-empty"),
                        key("exists-missing"), key("exists-list"), key("exists-a")};
    DO(S("SET"), keys[0], S("v"));
    DO(S("SET"), keys[1], BINV);
    DO(S("SET"), keys[2], S(""));
    DO(S("DEL"), keys[3]);
    make_list(keys[4]);
    int64_t n = -1;
    assert_int_equal(vmux_exists(M, NULL, keys, 6, &n), 0);
    assert_int_equal(n, 5); /* the missing one not counted, the repeated one twice */
    assert_int_equal(vmux_exists(M, NULL, &keys[3], 1, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_exists(M, NULL, &keys[1], 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(vmux_exists(M, NULL, keys, 2, NULL), 0);

    n = 7;
    assert_int_equal(vmux_exists(M, NULL, keys, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_exists(M, NULL, NULL, 3, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
}

/* TOUCH counts like EXISTS (a repeated key twice) and leaves the values alone. */
static void test_touch(void **state)
{
    (void)state;
    vmux_str keys[4] = {key("touch-a"), binkey("touch-b"), key("touch-missing"), key("touch-a")};
    DO(S("SET"), keys[0], S("v"));
    DO(S("SET"), keys[1], BINV);
    DO(S("DEL"), keys[2]);
    int64_t n = -1;
    assert_int_equal(vmux_touch(M, NULL, keys, 4, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(exists(keys[0]), 1);
    assert_int_equal(vmux_touch(M, NULL, &keys[2], 1, &n), 0);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_touch(M, NULL, keys, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
}

static void test_exists_async(void **state)
{
    (void)state;
    vmux_str keys[3] = {binkey("exists-async"), key("exists-async-missing"),
                        binkey("exists-async")};
    DO(S("SET"), keys[0], S(""));
    DO(S("DEL"), keys[1]);
    struct done d = {0};
    assert_int_equal(vmux_exists_async(M, NULL, keys, 3, on_reply, &d), 0);
    assert_int_equal(wait_int(&d), 2);
    assert_int_equal(vmux_exists_async(M, NULL, keys, 0, on_reply, &d), VMUX_ERR_INVALID_ARG);
}

/* ---- EXPIRE family ---- */

typedef int (*expire_fn)(vmux *, const vmux_callopts *, vmux_str, int64_t, vmux_cond, bool *);

/* Sets an expiry with fn and returns was_set, failing the test on an error. */
static bool expire_ok(expire_fn fn, vmux_str k, int64_t v, vmux_cond c)
{
    bool was = false;
    int rc = fn(M, &EO, k, v, c, &was);
    if (rc != 0)
        fail_msg("expire: %s (%s)", vmux_err_name(rc), errbuf);
    return was;
}

static void test_expire(void **state)
{
    (void)state;
    vmux_str k = binkey("expire");
    DO(S("SET"), k, BINV);
    assert_true(expire_ok(vmux_expire, k, 100, VMUX_COND_ALWAYS));
    int64_t ttl = raw_int(RAW(S("TTL"), k));
    assert_true(ttl > 0 && ttl <= 100);

    /* NX: only without a TTL; XX: only with one */
    assert_false(expire_ok(vmux_expire, k, 500, VMUX_COND_NX));
    assert_true(raw_int(RAW(S("TTL"), k)) <= 100);
    assert_true(expire_ok(vmux_expire, k, 200, VMUX_COND_XX));
    assert_true(raw_int(RAW(S("TTL"), k)) > 100);
    /* GT: only later; LT: only sooner */
    assert_false(expire_ok(vmux_expire, k, 150, VMUX_COND_GT));
    assert_true(expire_ok(vmux_expire, k, 300, VMUX_COND_GT));
    assert_true(raw_int(RAW(S("TTL"), k)) > 200);
    assert_false(expire_ok(vmux_expire, k, 1000, VMUX_COND_LT));
    assert_true(expire_ok(vmux_expire, k, 50, VMUX_COND_LT));
    ttl = raw_int(RAW(S("TTL"), k));
    assert_true(ttl > 0 && ttl <= 50);

    DO(S("PERSIST"), k);
    assert_false(expire_ok(vmux_expire, k, 100, VMUX_COND_XX));
    assert_false(expire_ok(vmux_expire, k, 100, VMUX_COND_GT)); /* no TTL is infinite */
    assert_true(expire_ok(vmux_expire, k, 100, VMUX_COND_LT));
    DO(S("PERSIST"), k);
    assert_true(expire_ok(vmux_expire, k, 100, VMUX_COND_NX));

    /* a missing key, a key of another type, a key holding an empty value */
    vmux_str missing = key("expire-missing"), lk = key("expire-list"), ek = key("expire-empty");
    DO(S("DEL"), missing);
    assert_false(expire_ok(vmux_expire, missing, 100, VMUX_COND_ALWAYS));
    assert_int_equal(exists(missing), 0);
    make_list(lk);
    assert_true(expire_ok(vmux_expire, lk, 100, VMUX_COND_ALWAYS));
    assert_true(raw_int(RAW(S("TTL"), lk)) > 0);
    DO(S("SET"), ek, S(""));
    assert_true(expire_ok(vmux_expire, ek, 100, VMUX_COND_ALWAYS));
    assert_true(raw_int(RAW(S("TTL"), ek)) > 0);

    /* a TTL <= 0 deletes the key */
    assert_true(expire_ok(vmux_expire, k, 0, VMUX_COND_ALWAYS));
    assert_int_equal(exists(k), 0);
    assert_true(expire_ok(vmux_expire, lk, -5, VMUX_COND_ALWAYS));
    assert_false(admin_exists(lk));
}

static void test_expire_errors(void **state)
{
    (void)state;
    vmux_str k = key("expire-err");
    DO(S("SET"), k, S("v"));
    bool was = true;
    assert_int_equal(vmux_expire(M, NULL, k, 100, (vmux_cond)(VMUX_COND_XX_LT + 1), &was),
                     VMUX_ERR_INVALID_ARG);
    assert_false(was);
    /* XX GT: only a key that has a TTL, and only later; this one has none yet */
    vmux_str xk = key("expire-xx");
    DO(S("SET"), xk, S("v"));
    was = true;
    assert_int_equal(vmux_expire(M, NULL, xk, 100, VMUX_COND_XX_GT, &was), 0);
    assert_false(was);
    assert_int_equal(vmux_expire(M, NULL, xk, 100, VMUX_COND_ALWAYS, &was), 0);
    assert_true(was);
    assert_int_equal(vmux_expire(M, NULL, xk, 200, VMUX_COND_XX_GT, &was), 0);
    assert_true(was);
    assert_int_equal(vmux_expire(M, NULL, xk, 300, VMUX_COND_XX_LT, &was), 0);
    assert_false(was);
    was = true;
    assert_int_equal(vmux_pexpire(M, NULL, k, 100, (vmux_cond)-1, &was), VMUX_ERR_INVALID_ARG);
    assert_false(was);
    was = true;
    assert_int_equal(vmux_expireat(M, NULL, k, 100, (vmux_cond)9, &was), VMUX_ERR_INVALID_ARG);
    assert_false(was);
    was = true;
    assert_int_equal(vmux_pexpireat(M, NULL, k, 100, (vmux_cond)9, &was), VMUX_ERR_INVALID_ARG);
    assert_false(was);
    assert_int_equal(vmux_pexpire_async(M, NULL, k, 100, (vmux_cond)9, on_reply, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(raw_int(RAW(S("TTL"), k)), -1); /* nothing was sent */

    /* the server refuses an expiry that overflows */
    was = true;
    errbuf[0] = '\0';
    assert_int_equal(vmux_expire(M, &EO, k, INT64_MAX, VMUX_COND_ALWAYS, &was), VMUX_ERR_SERVER);
    assert_false(was);
    assert_non_null(strstr(errbuf, "invalid expire time"));
    was = true;
    assert_int_equal(vmux_pexpire(M, &EO, k, INT64_MAX, VMUX_COND_NX, &was), VMUX_ERR_SERVER);
    assert_false(was);
    assert_int_equal(raw_int(RAW(S("TTL"), k)), -1);

    was = true;
    assert_int_equal(vmux_expire(NULL, NULL, k, 1, VMUX_COND_ALWAYS, &was), VMUX_ERR_INVALID_ARG);
    assert_false(was);
}

static void test_pexpire(void **state)
{
    (void)state;
    vmux_str k = binkey("pexpire");
    DO(S("SET"), k, S(""));
    assert_true(expire_ok(vmux_pexpire, k, 90000, VMUX_COND_ALWAYS));
    int64_t pttl = raw_int(RAW(S("PTTL"), k));
    assert_true(pttl > 0 && pttl <= 90000);
    assert_false(expire_ok(vmux_pexpire, k, 95000, VMUX_COND_NX));
    assert_false(expire_ok(vmux_pexpire, k, 1000, VMUX_COND_GT));
    assert_true(expire_ok(vmux_pexpire, k, 1000000, VMUX_COND_GT));
    assert_true(raw_int(RAW(S("PTTL"), k)) > 90000);
    assert_true(expire_ok(vmux_pexpire, k, 80000, VMUX_COND_LT));
    assert_true(expire_ok(vmux_pexpire, k, 70000, VMUX_COND_XX));
    pttl = raw_int(RAW(S("PTTL"), k));
    assert_true(pttl > 0 && pttl <= 70000);
    assert_int_equal(vmux_pexpire(M, NULL, k, 60000, VMUX_COND_ALWAYS, NULL), 0);
    assert_true(raw_int(RAW(S("PTTL"), k)) <= 60000);

    vmux_str missing = key("pexpire-missing");
    assert_false(expire_ok(vmux_pexpire, missing, 1000, VMUX_COND_ALWAYS));
    assert_true(expire_ok(vmux_pexpire, k, -1, VMUX_COND_ALWAYS));
    assert_int_equal(exists(k), 0);
}

static void test_pexpire_async(void **state)
{
    (void)state;
    vmux_str k = binkey("pexpire-async");
    DO(S("SET"), k, BINV);
    struct done d = {0}, again = {0};
    assert_int_equal(vmux_pexpire_async(M, NULL, k, 50000, VMUX_COND_NX, on_reply, &d), 0);
    assert_int_equal(wait_int(&d), 1);
    assert_int_equal(vmux_pexpire_async(M, NULL, k, 90000, VMUX_COND_NX, on_reply, &again), 0);
    assert_int_equal(wait_int(&again), 0);
    int64_t pttl = raw_int(RAW(S("PTTL"), k));
    assert_true(pttl > 0 && pttl <= 50000);
}

static void test_expireat(void **state)
{
    (void)state;
    vmux_str k = binkey("expireat"), missing = key("expireat-missing");
    DO(S("SET"), k, BINV);
    int64_t now = server_time();
    assert_true(expire_ok(vmux_expireat, k, now + 1000, VMUX_COND_ALWAYS));
    assert_int_equal(raw_int(RAW(S("EXPIRETIME"), k)), now + 1000);
    assert_false(expire_ok(vmux_expireat, k, now + 2000, VMUX_COND_NX));
    assert_false(expire_ok(vmux_expireat, k, now + 500, VMUX_COND_GT));
    assert_true(expire_ok(vmux_expireat, k, now + 2000, VMUX_COND_GT));
    assert_true(expire_ok(vmux_expireat, k, now + 1500, VMUX_COND_LT));
    assert_true(expire_ok(vmux_expireat, k, now + 1400, VMUX_COND_XX));
    assert_int_equal(raw_int(RAW(S("EXPIRETIME"), k)), now + 1400);
    assert_int_equal(vmux_expireat(M, NULL, k, now + 1300, VMUX_COND_ALWAYS, NULL), 0);
    assert_int_equal(raw_int(RAW(S("EXPIRETIME"), k)), now + 1300);
    assert_false(expire_ok(vmux_expireat, missing, now + 100, VMUX_COND_ALWAYS));
    /* a time in the past deletes the key */
    assert_true(expire_ok(vmux_expireat, k, now - 10, VMUX_COND_ALWAYS));
    assert_int_equal(exists(k), 0);
}

static void test_pexpireat(void **state)
{
    (void)state;
    vmux_str k = binkey("pexpireat"), lk = key("pexpireat-list");
    DO(S("SET"), k, S(""));
    int64_t at = server_time() * 1000 + 900123;
    assert_true(expire_ok(vmux_pexpireat, k, at, VMUX_COND_NX));
    assert_int_equal(raw_int(RAW(S("PEXPIRETIME"), k)), at);
    assert_false(expire_ok(vmux_pexpireat, k, at + 1, VMUX_COND_LT));
    assert_true(expire_ok(vmux_pexpireat, k, at - 1, VMUX_COND_LT));
    assert_int_equal(raw_int(RAW(S("PEXPIRETIME"), k)), at - 1);
    make_list(lk);
    assert_true(expire_ok(vmux_pexpireat, lk, at, VMUX_COND_ALWAYS));
    assert_int_equal(raw_int(RAW(S("PEXPIRETIME"), lk)), at);
    assert_true(expire_ok(vmux_pexpireat, lk, 1, VMUX_COND_ALWAYS));
    assert_int_equal(exists(lk), 0);
}

/* ---- TTL, PTTL, PERSIST ---- */

static void test_ttl_pttl(void **state)
{
    (void)state;
    vmux_str k = binkey("ttl"), missing = key("ttl-missing"), ek = key("ttl-empty");
    DO(S("SET"), k, BINV);
    DO(S("SET"), ek, S(""));
    DO(S("DEL"), missing);
    int64_t t = 0;
    assert_int_equal(vmux_ttl(M, NULL, k, &t), 0);
    assert_int_equal(t, VMUX_TTL_NO_EXPIRY);
    assert_int_equal(vmux_pttl(M, NULL, ek, &t), 0);
    assert_int_equal(t, VMUX_TTL_NO_EXPIRY);
    assert_int_equal(vmux_ttl(M, NULL, missing, &t), 0);
    assert_int_equal(t, VMUX_TTL_NO_KEY);
    assert_int_equal(vmux_pttl(M, NULL, missing, &t), 0);
    assert_int_equal(t, VMUX_TTL_NO_KEY);

    DO(S("PEXPIRE"), k, S("100000"));
    assert_int_equal(vmux_ttl(M, NULL, k, &t), 0);
    assert_true(t > 0 && t <= 100);
    assert_int_equal(vmux_pttl(M, NULL, k, &t), 0);
    assert_true(t > 1000 && t <= 100000);
    assert_int_equal(vmux_ttl(M, NULL, k, NULL), 0);
    assert_int_equal(vmux_pttl(M, NULL, k, NULL), 0);

    vmux_str lk = key("ttl-list");
    make_list(lk);
    DO(S("EXPIRE"), lk, S("300"));
    assert_int_equal(vmux_ttl(M, NULL, lk, &t), 0);
    assert_true(t > 200 && t <= 300);

    t = 5;
    assert_int_equal(vmux_ttl(NULL, NULL, k, &t), VMUX_ERR_INVALID_ARG);
    assert_int_equal(t, 0);
    t = 5;
    assert_int_equal(vmux_pttl(NULL, NULL, k, &t), VMUX_ERR_INVALID_ARG);
    assert_int_equal(t, 0);
}

static void test_pttl_async(void **state)
{
    (void)state;
    vmux_str k = binkey("pttl-async"), missing = key("pttl-async-missing");
    DO(S("SET"), k, BINV, S("PX"), S("70000"));
    DO(S("DEL"), missing);
    struct done d = {0}, m2 = {0};
    assert_int_equal(vmux_pttl_async(M, NULL, k, on_reply, &d), 0);
    int64_t t = wait_int(&d);
    assert_true(t > 0 && t <= 70000);
    assert_int_equal(vmux_pttl_async(M, NULL, missing, on_reply, &m2), 0);
    assert_int_equal(wait_int(&m2), VMUX_TTL_NO_KEY);
}

static void test_persist(void **state)
{
    (void)state;
    vmux_str k = binkey("persist"), missing = key("persist-missing"), lk = key("persist-list");
    DO(S("SET"), k, S(""), S("EX"), S("100"));
    DO(S("DEL"), missing);
    bool removed = false;
    assert_int_equal(vmux_persist(M, NULL, k, &removed), 0);
    assert_true(removed);
    assert_int_equal(raw_int(RAW(S("TTL"), k)), -1);
    assert_raw_str(RAW(S("GET"), k), S(""));
    assert_int_equal(vmux_persist(M, NULL, k, &removed), 0);
    assert_false(removed);
    removed = true;
    assert_int_equal(vmux_persist(M, NULL, missing, &removed), 0);
    assert_false(removed);
    make_list(lk);
    DO(S("EXPIRE"), lk, S("100"));
    assert_int_equal(vmux_persist(M, NULL, lk, NULL), 0);
    assert_int_equal(raw_int(RAW(S("TTL"), lk)), -1);
    removed = true;
    assert_int_equal(vmux_persist(NULL, NULL, k, &removed), VMUX_ERR_INVALID_ARG);
    assert_false(removed);
}

/* ---- TYPE ---- */

static void test_type(void **state)
{
    (void)state;
    vmux_str s = binkey("type-string"), list = key("type-list"), set = key("type-set"),
             zset = key("type-zset"), hash = binkey("type-hash"), stream = key("type-stream"),
             missing = key("type-missing"), empty = key("type-empty");
    DO(S("SET"), s, BINV);
    DO(S("SET"), empty, S(""));
    DO(S("DEL"), missing);
    make_others(list, set, zset, hash, stream);
    const struct {
        vmux_str key;
        vmux_key_type type;
        const char *name;
    } cases[] = {
        {s, VMUX_TYPE_STRING, "string"},      {empty, VMUX_TYPE_STRING, "string"},
        {list, VMUX_TYPE_LIST, "list"},       {set, VMUX_TYPE_SET, "set"},
        {zset, VMUX_TYPE_ZSET, "zset"},       {hash, VMUX_TYPE_HASH, "hash"},
        {stream, VMUX_TYPE_STREAM, "stream"}, {missing, VMUX_TYPE_NONE, "none"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vmux_key_type t = (vmux_key_type)99;
        assert_int_equal(vmux_type(M, NULL, cases[i].key, &t), 0);
        assert_int_equal(t, cases[i].type);
        assert_string_equal(vmux_key_type_name(t), cases[i].name);
        /* the name is what the server says */
        vmux_reply *r = RAW(S("TYPE"), cases[i].key);
        assert_string_equal(vmux_reply_str(r, NULL), cases[i].name);
        vmux_reply_free(r);
    }
    assert_int_equal(vmux_type(M, NULL, s, NULL), 0);
    assert_null(vmux_key_type_name(VMUX_TYPE_OTHER));
    assert_null(vmux_key_type_name((vmux_key_type)-1));
    assert_null(vmux_key_type_name((vmux_key_type)100));

    vmux_key_type t = VMUX_TYPE_HASH;
    assert_int_equal(vmux_type(NULL, NULL, s, &t), VMUX_ERR_INVALID_ARG);
    assert_int_equal(t, VMUX_TYPE_NONE);
}

/* ---- EXPIRETIME, PEXPIRETIME ---- */

static void test_expiretime(void **state)
{
    (void)state;
    vmux_str k = binkey("expiretime"), ms = key("expiretime-ms"), up = key("expiretime-up");
    vmux_str plain = key("expiretime-plain");
    vmux_str missing = key("expiretime-missing"), lk = key("expiretime-list");
    int64_t at = server_time() + 1000;
    char text[32];
    vmux_str at_s = VMUX_STRN(text, (size_t)snprintf(text, sizeof text, "%lld", (long long)at));
    DO(S("SET"), k, BINV, S("EXAT"), at_s);
    char mtext[2][32];
    int64_t at_ms[2] = {at * 1000 + 499, at * 1000 + 500};
    for (int i = 0; i < 2; i++) {
        int n = snprintf(mtext[i], sizeof mtext[i], "%lld", (long long)at_ms[i]);
        DO(S("SET"), i == 0 ? ms : up, S("v"), S("PXAT"), VMUX_STRN(mtext[i], (size_t)n));
    }
    DO(S("SET"), plain, S(""));
    DO(S("DEL"), missing);
    make_list(lk);
    DO(S("EXPIREAT"), lk, at_s);
    const struct {
        vmux_str key;
        int64_t seconds, ms;
    } cases[] = {
        {k, at, at * 1000},
        {ms, at, at_ms[0]}, /* to the nearest second */
        {up, at + 1, at_ms[1]},
        {lk, at, at * 1000},
        {plain, VMUX_TTL_NO_EXPIRY, VMUX_TTL_NO_EXPIRY},
        {missing, VMUX_TTL_NO_KEY, VMUX_TTL_NO_KEY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = 0;
        assert_int_equal(vmux_expiretime(M, NULL, cases[i].key, &t), 0);
        assert_int_equal(t, cases[i].seconds);
        assert_int_equal(vmux_pexpiretime(M, NULL, cases[i].key, &t), 0);
        assert_int_equal(t, cases[i].ms);
    }
    assert_int_equal(vmux_expiretime(M, NULL, k, NULL), 0);
    int64_t t = 9;
    assert_int_equal(vmux_expiretime(NULL, NULL, k, &t), VMUX_ERR_INVALID_ARG);
    assert_int_equal(t, 0);
    t = 9;
    assert_int_equal(vmux_pexpiretime(M, NULL, VMUX_STRN(NULL, 1), &t), VMUX_ERR_INVALID_ARG);
    assert_int_equal(t, 0);
}

/* ---- COPY ---- */

static void test_copy(void **state)
{
    (void)state;
    vmux_str src = binkey("copy-src"), dst = binkey("copy-dst"), missing = key("copy-missing");
    vmux_str list = key("copy-list"), list2 = key("copy-list2");
    DO(S("SET"), src, BINV, S("EX"), S("100"));
    DO(S("DEL"), dst, missing, list2);
    make_list(list);
    bool copied = false;
    assert_int_equal(vmux_copy(M, NULL, src, dst, NULL, &copied), 0);
    assert_true(copied);
    assert_raw_str(RAW(S("GET"), dst), BINV);
    int64_t ttl = raw_int(RAW(S("TTL"), dst)); /* the TTL goes with the value */
    assert_true(ttl > 0 && ttl <= 100);
    /* dst exists: nothing copied without REPLACE */
    DO(S("SET"), dst, S("other"));
    copied = true;
    assert_int_equal(vmux_copy(M, NULL, src, dst, NULL, &copied), 0);
    assert_false(copied);
    assert_raw_str(RAW(S("GET"), dst), S("other"));
    vmux_copy_opts replace = VMUX_INIT(vmux_copy_opts, .replace = true);
    assert_int_equal(vmux_copy(M, NULL, src, dst, &replace, &copied), 0);
    assert_true(copied);
    assert_raw_str(RAW(S("GET"), dst), BINV);
    assert_int_equal(vmux_copy(M, NULL, src, dst, &replace, &copied), 0); /* again: the same */
    assert_true(copied);
    assert_raw_str(RAW(S("GET"), src), BINV); /* src is left as it was */
    /* any type */
    assert_int_equal(vmux_copy(M, NULL, list, list2, NULL, NULL), 0);
    assert_int_equal(raw_int(RAW(S("LLEN"), list2)), 1);
    /* a missing source copies nothing, and leaves dst */
    copied = true;
    assert_int_equal(vmux_copy(M, NULL, missing, dst, &replace, &copied), 0);
    assert_false(copied);
    assert_raw_str(RAW(S("GET"), dst), BINV);
    /* the same key: the server's error */
    copied = true;
    errbuf[0] = '\0';
    assert_int_equal(vmux_copy(M, &EO, src, src, &replace, &copied), VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "source and destination objects are the same"));
    assert_false(copied);
}

/* COPY ... DB: into database 1, read there through a handle of its own (standalone only). */
static void test_copy_to_db(void **state)
{
    (void)state;
    VT_SKIP_ON_CLUSTER("a cluster has database 0 only");
    vmux_str src = binkey("copydb-src"), dst = binkey("copydb-dst");
    DO(S("SET"), src, BINV);
    DO(S("DEL"), dst);
    vmux *db1 = vt_open("plain", "defaultDatabase=1");
    vmux_reply *r = NULL;
    const char *del[] = {"DEL", dst.ptr};
    size_t del_lens[] = {3, dst.len};
    assert_int_equal(vmux_call(db1, NULL, 2, del, del_lens, &r), 0);
    vmux_reply_free(r);
    vmux_copy_opts to1 = VMUX_INIT(vmux_copy_opts, .to_db = true, .db = 1);
    bool copied = false;
    assert_int_equal(vmux_copy(M, NULL, src, dst, &to1, &copied), 0);
    assert_true(copied);
    assert_int_equal(exists(dst), 0); /* not in the handle's own database */
    vmux_bytes v;
    assert_int_equal(vmux_get(db1, NULL, dst, &v), 0);
    assert_bytes(&v, BINV);
    vmux_bytes_free(&v);
    /* the same key name in another database is no conflict with itself */
    vmux_copy_opts to1_replace = VMUX_INIT(vmux_copy_opts, .to_db = true, .db = 1, .replace = true);
    assert_int_equal(vmux_copy(M, NULL, src, src, &to1_replace, &copied), 0);
    assert_true(copied);
    assert_int_equal(vmux_del(db1, NULL, (vmux_str[]){src, dst}, 2, NULL), 0);
    vmux_close(db1);
}

static void test_copy_bad_arguments(void **state)
{
    (void)state;
    vmux_str src = key("copybad-src"), dst = key("copybad-dst");
    DO(S("SET"), src, S("v"));
    DO(S("DEL"), dst);
    strcpy(errbuf, "untouched");
    const vmux_copy_opts bad[] = {
        VMUX_INIT(vmux_copy_opts, .to_db = true, .db = -1),
        {.size = 0, .replace = true}, /* not made with VMUX_INIT */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool copied = true;
        assert_int_equal(vmux_copy(M, &EO, src, dst, &bad[i], &copied), VMUX_ERR_INVALID_ARG);
        assert_false(copied);
    }
    bool copied = true;
    assert_int_equal(vmux_copy(M, &EO, src, VMUX_STRN(NULL, 2), NULL, &copied),
                     VMUX_ERR_INVALID_ARG);
    assert_false(copied);
    assert_int_equal(vmux_copy(NULL, NULL, src, dst, NULL, &copied), VMUX_ERR_INVALID_ARG);
    assert_refused_words(errbuf);
    assert_false(admin_exists(dst)); /* nothing was sent */
}

/* COPY of keys in two slots ({a} is slot 15495, {b} slot 3300): a cluster refuses it unsent. */
static void test_copy_two_slots(void **state)
{
    (void)state;
    vmux_str a = slot_key("a", "copy"), b = slot_key("b", "copy");
    DO(S("SET"), a, S("v"));
    DO(S("DEL"), b);
    bool copied = true;
    errbuf[0] = '\0';
    if (vt_cluster_mode() == NULL) {
        assert_int_equal(vmux_copy(M, &EO, a, b, NULL, &copied), 0);
        assert_true(copied);
        DO(S("DEL"), b);
        return;
    }
    assert_int_equal(vmux_copy(M, &EO, a, b, NULL, &copied), VMUX_ERR_CROSSSLOT);
    assert_false(copied);
    assert_non_null(strstr(errbuf, "slot 15495"));
    assert_non_null(strstr(errbuf, "slot 3300"));
    assert_int_equal(exists(b), 0);
}

/* ---- OBJECT ---- */

/* OBJECT ENCODING as the server words it, and IDLETIME; FREQ refused without an LFU policy. */
static void test_object(void **state)
{
    (void)state;
    vmux_str num = binkey("object-num"), word = key("object-word"), list = key("object-list");
    vmux_str missing = key("object-missing");
    DO(S("SET"), num, S("12345"));
    DO(S("SET"), word, S("hello"));
    DO(S("DEL"), missing);
    make_list(list);
    const struct {
        vmux_str key;
        const char *want; /* NULL: whatever OBJECT ENCODING through the generic API says */
    } cases[] = {{num, "int"}, {word, "embstr"}, {list, NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vmux_bytes enc;
        assert_int_equal(vmux_object_encoding(M, NULL, cases[i].key, &enc), 0);
        if (cases[i].want != NULL)
            assert_bytes(&enc, S(cases[i].want));
        vmux_reply *r = RAW(S("OBJECT"), S("ENCODING"), cases[i].key);
        assert_bytes(&enc, S(vmux_reply_str(r, NULL)));
        vmux_reply_free(r);
        vmux_bytes_free(&enc);
    }
    vmux_bytes enc = JUNK_BYTES;
    assert_int_equal(vmux_object_encoding(M, NULL, missing, &enc), 0);
    assert_null(enc.ptr); /* nil */

    int64_t idle = -1;
    bool found = false;
    assert_int_equal(vmux_object_idletime(M, NULL, num, &idle, &found), 0);
    assert_true(found);
    assert_true(idle >= 0 && idle <= raw_int(RAW(S("OBJECT"), S("IDLETIME"), num)));
    idle = 9, found = true;
    assert_int_equal(vmux_object_idletime(M, NULL, missing, &idle, &found), 0);
    assert_false(found);
    assert_int_equal(idle, 0);
    assert_int_equal(vmux_object_idletime(M, NULL, num, NULL, NULL), 0);

    /* the fixture's policy is no LFU one: FREQ is the server's error */
    int64_t freq = 9;
    found = true;
    errbuf[0] = '\0';
    assert_int_equal(vmux_object_freq(M, &EO, num, &freq, &found), VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "LFU"));
    assert_int_equal(freq, 0);
    assert_false(found);

    strcpy(errbuf, "untouched");
    assert_int_equal(vmux_object_encoding(M, &EO, VMUX_STRN(NULL, 1), &enc), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_object_freq(M, &EO, VMUX_STRN(NULL, 1), &freq, &found),
                     VMUX_ERR_INVALID_ARG);
    assert_refused_words(errbuf);
}

/*
 * OBJECT FREQ and IDLETIME under an LFU policy, on a server of its own (the fixture's policy is
 * shared): FREQ counts, RESTORE ... FREQ sets it, IDLETIME is refused.
 */
static void test_object_freq_lfu(void **state)
{
    (void)state;
    VT_SKIP_ON_CLUSTER("a server of its own, with an LFU policy");
    const char *const extra[] = {"--maxmemory-policy", "allkeys-lfu", NULL};
    vt_server *s = vt_server_new(extra);
    assert_non_null(s);
    vmux *m = vt_server_open(s, NULL);
    vmux_str k = VMUX_STRN("lfu\0key", 7);
    assert_int_equal(vmux_set(m, NULL, k, VMUX_STR("v"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, NULL),
                     0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(vmux_get(m, NULL, k, NULL), 0);
    int64_t freq = -1;
    bool found = false;
    assert_int_equal(vmux_object_freq(m, NULL, k, &freq, &found), 0);
    assert_true(found);
    assert_true(freq > 5 && freq <= 255); /* a new key starts at 5; 100 reads raised it */
    freq = 9, found = true;
    assert_int_equal(vmux_object_freq(m, NULL, VMUX_STR("missing"), &freq, &found), 0);
    assert_false(found);
    assert_int_equal(freq, 0);
    /* RESTORE ... FREQ sets the counter (the server keeps it under LFU only) */
    vmux_bytes payload;
    assert_int_equal(vmux_dump(m, NULL, k, &payload, NULL), 0);
    vmux_restore_opts rf =
        VMUX_INIT(vmux_restore_opts, .replace = true, .freq = true, .frequency = 200);
    assert_int_equal(vmux_restore(m, NULL, k, 0, VMUX_STRN(payload.ptr, payload.len), &rf), 0);
    vmux_bytes_free(&payload);
    assert_int_equal(vmux_object_freq(m, NULL, k, &freq, &found), 0);
    assert_int_equal(freq, 200);
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    int64_t idle = 9;
    found = true;
    assert_int_equal(vmux_object_idletime(m, &o, k, &idle, &found), VMUX_ERR_SERVER);
    assert_non_null(strstr(err, "LFU"));
    assert_int_equal(idle, 0);
    assert_false(found);
    vmux_close(m);
    vt_server_stop(s);
    free(s);
}

/* ---- RANDOMKEY ---- */

/* The fixture is shared and holds keys (this test writes one): a key is found. */
static void test_randomkey(void **state)
{
    (void)state;
    DO(S("SET"), binkey("random"), BINV);
    vmux_bytes k = JUNK_BYTES;
    bool found = false;
    assert_int_equal(vmux_randomkey(M, &EO, &k, &found), 0);
    assert_true(found);
    assert_non_null(k.ptr);
    vmux_bytes_free(&k);
    assert_int_equal(vmux_randomkey(M, NULL, NULL, &found), 0);
    assert_true(found);
    assert_int_equal(vmux_randomkey(M, NULL, NULL, NULL), 0);
    k = JUNK_BYTES;
    found = true;
    assert_int_equal(vmux_randomkey(NULL, NULL, &k, &found), VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&k);
    assert_false(found);
}

/* On a server of its own: nil while the database is empty, then its one key, NULs and all. */
static void test_randomkey_empty(void **state)
{
    (void)state;
    VT_SKIP_ON_CLUSTER("a server of its own (cluster_fanout covers an empty cluster)");
    vt_server *s = vt_server_new(NULL);
    assert_non_null(s);
    vmux *m = vt_server_open(s, NULL);
    vmux_bytes k = JUNK_BYTES;
    bool found = true;
    assert_int_equal(vmux_randomkey(m, NULL, &k, &found), 0);
    assert_false(found);
    assert_zero_bytes(&k);
    vmux_str only = VMUX_STRN("only\0key", 8);
    assert_int_equal(vmux_set(m, NULL, only, S("v"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, NULL), 0);
    assert_int_equal(vmux_randomkey(m, NULL, &k, &found), 0);
    assert_true(found);
    assert_bytes(&k, only);
    vmux_bytes_free(&k);
    vmux_close(m);
    vt_server_stop(s);
    free(s);
}

/* ---- DUMP, RESTORE ---- */

/* DUMP through the typed function: found, and the bytes the generic API reads. */
static vmux_bytes dump(vmux_str k)
{
    vmux_bytes payload = JUNK_BYTES;
    bool found = false;
    assert_int_equal(vmux_dump(M, &EO, k, &payload, &found), 0);
    assert_true(found);
    vmux_reply *r = RAW(S("DUMP"), k);
    size_t len;
    const char *raw = vmux_reply_str(r, &len);
    assert_bytes(&payload, VMUX_STRN(raw, len));
    vmux_reply_free(r);
    return payload;
}

static void restore_ok(vmux_str k, int64_t ttl_ms, const vmux_bytes *payload,
                       const vmux_restore_opts *o)
{
    int rc = vmux_restore(M, &EO, k, ttl_ms, VMUX_STRN(payload->ptr, payload->len), o);
    if (rc != 0)
        fail_msg("RESTORE: %s (%s)", vmux_err_name(rc), errbuf);
}

/* A string with NUL bytes, whose payload holds NULs too, back under another key without TTL. */
static void test_dump_restore_string(void **state)
{
    (void)state;
    vmux_str src = binkey("dump-src"), dst = binkey("dump-dst"), missing = key("dump-missing");
    DO(S("SET"), src, BINV, S("EX"), S("100"));
    DO(S("DEL"), dst, missing);
    vmux_bytes payload = dump(src);
    assert_non_null(memchr(payload.ptr, '\0', payload.len));
    restore_ok(dst, 0, &payload, NULL);
    assert_raw_str(RAW(S("GET"), dst), BINV);
    assert_int_equal(raw_int(RAW(S("TTL"), dst)), -1); /* DUMP carries no TTL */
    vmux_bytes_free(&payload);

    payload = JUNK_BYTES;
    bool found = true;
    assert_int_equal(vmux_dump(M, NULL, missing, &payload, &found), 0);
    assert_false(found);
    assert_zero_bytes(&payload);
    assert_int_equal(vmux_dump(M, NULL, src, NULL, &found), 0);
    assert_true(found);
    assert_int_equal(vmux_dump(M, NULL, src, NULL, NULL), 0);
}

/* A list and a hash, with a TTL, an absolute TTL, one in the past, and an idle time. */
static void test_dump_restore_types(void **state)
{
    (void)state;
    vmux_str list = key("restore-list"), hash = key("restore-hash"), to = key("restore-to");
    vmux_str past = key("restore-past");
    DO(S("DEL"), list, hash, to, past);
    DO(S("RPUSH"), list, S("a"), BINV, S(""));
    DO(S("HSET"), hash, S("f1"), S("v1"), S("f2"), BINV);
    vmux_bytes lp = dump(list), hp = dump(hash);
    restore_ok(to, 100000, &lp, NULL);
    assert_int_equal(raw_int(RAW(S("LLEN"), to)), 3);
    assert_raw_str(RAW(S("LINDEX"), to, S("1")), BINV);
    int64_t pttl = raw_int(RAW(S("PTTL"), to));
    assert_true(pttl > 0 && pttl <= 100000);

    int64_t at = server_time() * 1000 + 500123;
    vmux_restore_opts o = VMUX_INIT(vmux_restore_opts, .replace = true, .absttl = true);
    restore_ok(to, at, &hp, &o);
    assert_raw_str(RAW(S("HGET"), to, S("f2")), BINV);
    assert_int_equal(raw_int(RAW(S("HLEN"), to)), 2);
    assert_int_equal(raw_int(RAW(S("PEXPIRETIME"), to)), at);
    vmux_restore_opts abs = VMUX_INIT(vmux_restore_opts, .absttl = true);
    restore_ok(past, 1000, &hp, &abs);
    assert_int_equal(raw_int(RAW(S("EXISTS"), past)), 0); /* in the past: nothing restored */

    o = (vmux_restore_opts)VMUX_INIT(vmux_restore_opts, .replace = true, .idletime = true,
                                     .idle_seconds = 5000);
    restore_ok(to, 0, &lp, &o);
    assert_true(raw_int(RAW(S("OBJECT"), S("IDLETIME"), to)) >= 5000);
    assert_int_equal(raw_int(RAW(S("TTL"), to)), -1);
    vmux_bytes_free(&lp);
    vmux_bytes_free(&hp);
}

/* Without REPLACE an existing key is BUSYKEY; with it, overwritten; a corrupted payload and
 * another type's payload onto a key are the server's errors. */
static void test_restore_busy_and_corrupt(void **state)
{
    (void)state;
    vmux_str src = key("busy-src"), dst = key("busy-dst"), fresh = key("busy-fresh");
    DO(S("SET"), src, S("new"));
    DO(S("SET"), dst, S("old"));
    DO(S("DEL"), fresh);
    vmux_bytes payload = dump(src);
    errbuf[0] = '\0';
    vmux_str p = VMUX_STRN(payload.ptr, payload.len);
    assert_int_equal(vmux_restore(M, &EO, dst, 0, p, NULL), VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "BUSYKEY"));
    assert_raw_str(RAW(S("GET"), dst), S("old"));
    vmux_restore_opts replace = VMUX_INIT(vmux_restore_opts, .replace = true);
    restore_ok(dst, 0, &payload, &replace);
    restore_ok(dst, 0, &payload, &replace); /* again: the same */
    assert_raw_str(RAW(S("GET"), dst), S("new"));

    payload.ptr[payload.len - 1] ^= 0x55; /* the checksum no longer holds */
    errbuf[0] = '\0';
    assert_int_equal(vmux_restore(M, &EO, fresh, 0, p, NULL), VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "DUMP payload version or checksum are wrong"));
    errbuf[0] = '\0';
    assert_int_equal(vmux_restore(M, &EO, fresh, 0, S(""), NULL), VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "DUMP payload"));
    assert_int_equal(raw_int(RAW(S("EXISTS"), fresh)), 0);
    vmux_bytes_free(&payload);
}

/* Every refusal: VMUX_ERR_INVALID_ARG, errbuf untouched, nothing sent (the key not made). */
static void test_restore_refusals(void **state)
{
    (void)state;
    vmux_str src = key("rbad-src"), dst = key("rbad-dst");
    DO(S("SET"), src, S("v"));
    DO(S("DEL"), dst);
    vmux_bytes payload = dump(src);
    vmux_str p = VMUX_STRN(payload.ptr, payload.len);
    const vmux_restore_opts bad[] = {
        {.size = 0, .replace = true}, /* not made with VMUX_INIT */
        VMUX_INIT(vmux_restore_opts, .idletime = true, .idle_seconds = -1),
        VMUX_INIT(vmux_restore_opts, .freq = true, .frequency = -1),
        VMUX_INIT(vmux_restore_opts, .freq = true, .frequency = 256),
        VMUX_INIT(vmux_restore_opts, .idletime = true, .freq = true, .frequency = 1),
    };
    strcpy(errbuf, "untouched");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vmux_restore(M, &EO, dst, 0, p, &bad[i]), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_restore(M, &EO, dst, -1, p, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_restore(M, &EO, dst, 0, VMUX_STRN(NULL, 3), NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_restore(M, &EO, VMUX_STRN(NULL, 1), 0, p, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_restore(NULL, NULL, dst, 0, p, NULL), VMUX_ERR_INVALID_ARG);
    vmux_bytes got = JUNK_BYTES;
    bool found = true;
    assert_int_equal(vmux_dump(M, &EO, VMUX_STRN(NULL, 1), &got, &found), VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&got);
    assert_false(found);
    assert_refused_words(errbuf);
    assert_false(admin_exists(dst));
    vmux_bytes_free(&payload);
}

/* ---- RENAME, RENAMENX ---- */

static void test_rename(void **state)
{
    (void)state;
    vmux_str from = binkey("rename-from"), to = binkey("rename-to"), lk = key("rename-list");
    DO(S("SET"), from, BINV, S("EX"), S("100"));
    DO(S("SET"), to, S("old"));
    assert_int_equal(vmux_rename(M, NULL, from, to), 0); /* overwrites to */
    assert_int_equal(exists(from), 0);
    assert_raw_str(RAW(S("GET"), to), BINV);
    assert_true(raw_int(RAW(S("TTL"), to)) > 0); /* the TTL moves with the value */

    /* to a key of another type: overwritten too; and a list renamed keeps its type */
    make_list(lk);
    assert_int_equal(vmux_rename(M, NULL, to, lk), 0);
    assert_raw_str(RAW(S("GET"), lk), BINV);
    vmux_str lk2 = key("rename-list2"), lk3 = key("rename-list3");
    make_list(lk2);
    assert_int_equal(vmux_rename(M, NULL, lk2, lk3), 0);
    assert_int_equal(raw_int(RAW(S("LLEN"), lk3)), 1);
    assert_false(admin_exists(lk2));
    assert_true(admin_exists(lk3));

    /* onto itself: nothing changes */
    assert_int_equal(vmux_rename(M, NULL, lk3, lk3), 0);
    assert_int_equal(raw_int(RAW(S("LLEN"), lk3)), 1);

    errbuf[0] = '\0';
    assert_int_equal(vmux_rename(M, &EO, key("rename-missing"), to), VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "no such key"));
    assert_int_equal(vmux_rename(NULL, NULL, from, to), VMUX_ERR_INVALID_ARG);
}

static void test_renamenx(void **state)
{
    (void)state;
    vmux_str from = binkey("renamenx-from"), to = key("renamenx-to"), other = key("renamenx-o");
    DO(S("SET"), from, S(""));
    DO(S("DEL"), to);
    DO(S("SET"), other, S("keep"));
    bool renamed = false;
    assert_int_equal(vmux_renamenx(M, NULL, from, to, &renamed), 0);
    assert_true(renamed);
    assert_int_equal(exists(from), 0);
    assert_raw_str(RAW(S("GET"), to), S(""));

    assert_int_equal(vmux_renamenx(M, NULL, to, other, &renamed), 0);
    assert_false(renamed); /* other exists: nothing changed */
    assert_raw_str(RAW(S("GET"), to), S(""));
    assert_raw_str(RAW(S("GET"), other), S("keep"));
    assert_true(admin_exists(to));

    assert_int_equal(vmux_renamenx(M, NULL, to, from, NULL), 0);
    assert_int_equal(exists(to), 0);
    assert_raw_str(RAW(S("GET"), from), S(""));

    renamed = true;
    errbuf[0] = '\0';
    assert_int_equal(vmux_renamenx(M, &EO, key("renamenx-missing"), to, &renamed), VMUX_ERR_SERVER);
    assert_false(renamed);
    assert_non_null(strstr(errbuf, "no such key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_del),
        cmocka_unit_test(test_unlink),
        cmocka_unit_test(test_del_async),
        cmocka_unit_test(test_exists),
        cmocka_unit_test(test_exists_async),
        cmocka_unit_test(test_touch),
        cmocka_unit_test(test_expire),
        cmocka_unit_test(test_expire_errors),
        cmocka_unit_test(test_pexpire),
        cmocka_unit_test(test_pexpire_async),
        cmocka_unit_test(test_expireat),
        cmocka_unit_test(test_pexpireat),
        cmocka_unit_test(test_ttl_pttl),
        cmocka_unit_test(test_pttl_async),
        cmocka_unit_test(test_persist),
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_rename),
        cmocka_unit_test(test_renamenx),
        cmocka_unit_test(test_expiretime),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_copy_to_db),
        cmocka_unit_test(test_copy_bad_arguments),
        cmocka_unit_test(test_copy_two_slots),
        cmocka_unit_test(test_object),
        cmocka_unit_test(test_object_freq_lfu),
        cmocka_unit_test(test_randomkey),
        cmocka_unit_test(test_randomkey_empty),
        cmocka_unit_test(test_dump_restore_string),
        cmocka_unit_test(test_dump_restore_types),
        cmocka_unit_test(test_restore_busy_and_corrupt),
        cmocka_unit_test(test_restore_refusals),
    };
    return cmocka_run_group_tests(tests, cmd_setup, cmd_teardown);
}

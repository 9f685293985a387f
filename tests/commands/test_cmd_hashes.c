/*
 * The hash commands (hashes.h) against a real server: every function with normal use (HSETNX
 * on a new and an existing field, HSTRLEN, HRANDFIELD one field, distinct, repeated and with
 * values among them), binary keys, fields and values with NUL bytes, empty fields and values,
 * missing keys and fields, WRONGTYPE, bad arguments with nothing sent, and out-parameters zeroed
 * on error; results checked against the
 * server's state read back through the generic API or a separate admin connection. The HSCAN
 * iterator over 10,000 fields is in test_cmd_scan.c; vmux_hscan_next_fields() is here.
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

#include "testutil.h"
#include "vmux/vmux.h"

#include "cmd_common.h"

const char cmd_family[] = "hashes";

static const char BINF_BYTES[] = "\0f\0";
#define BINF VMUX_STRN(BINF_BYTES, 3) /* a field name with NULs */
#define EMPTY VMUX_STRN("", 0)

static bool bytes_eq(const vmux_bytes *b, vmux_str want)
{
    return b->ptr != NULL && b->len == want.len && memcmp(b->ptr, want.ptr, want.len) == 0 &&
           b->ptr[b->len] == '\0';
}

/* The server's HGET key field on a separate admin connection (text field). */
static void assert_admin_hget(vmux_str k, const char *field, const char *want)
{
    char *v = vt_admin("plain", "HGET %b %s", k.ptr, k.len, field);
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

/* Makes k a string, so hash commands on it fail with WRONGTYPE. */
static vmux_str strkey(const char *name)
{
    vmux_str k = key(name);
    DO(S("SET"), k, S("s"));
    return k;
}

/* Garbage for a field array that must be zeroed on error (junk: cmd_common.h). */
#define JUNK_FIELDS ((vmux_field_array){(vmux_field_value *)junk, 99})

static void assert_zero_fields(const vmux_field_array *a)
{
    assert_null(a->items);
    assert_int_equal(a->count, 0);
}

/* The test hash: three fields, one binary, one empty-named, one with an empty value. */
static const vmux_str FIELDS[3] = {{"name", 4}, {BINF_BYTES, 3}, {"", 0}};
static const vmux_str VALUES[3] = {{"alice", 5}, {BIN, sizeof BIN}, {"", 0}};

static vmux_str make_hash(const char *name)
{
    vmux_str k = binkey(name);
    DO(S("DEL"), k);
    DO(S("HSET"), k, FIELDS[0], VALUES[0], FIELDS[1], VALUES[1], FIELDS[2], VALUES[2]);
    return k;
}

/* Index of the test field f, or -1. */
static int field_index(const vmux_bytes *f)
{
    for (int i = 0; i < 3; i++)
        if (bytes_eq(f, FIELDS[i]))
            return i;
    return -1;
}

/* Asserts fa holds exactly the test hash's pairs, in any order. */
static void assert_test_hash(const vmux_field_array *fa)
{
    assert_int_equal(fa->count, 3);
    bool seen[3] = {false};
    for (size_t i = 0; i < fa->count; i++) {
        int at = field_index(&fa->items[i].field);
        assert_true(at >= 0 && !seen[at]);
        seen[at] = true;
        assert_bytes(&fa->items[i].value, VALUES[at]);
    }
}

/* ---- HSET ---- */

static void test_hset(void **state)
{
    (void)state;
    vmux_str k = binkey("hset");
    DO(S("DEL"), k);
    int64_t added = -1;
    assert_int_equal(vmux_hset(M, NULL, k, FIELDS, VALUES, 3, &added), 0);
    assert_int_equal(added, 3);
    assert_raw_str(RAW(S("HGET"), k, FIELDS[0]), VALUES[0]);
    assert_raw_str(RAW(S("HGET"), k, FIELDS[1]), VALUES[1]);
    assert_raw_str(RAW(S("HGET"), k, FIELDS[2]), VALUES[2]);
    assert_int_equal(raw_int(RAW(S("HLEN"), k)), 3);

    /* one overwritten, one new */
    vmux_str f2[2] = {S("name"), S("age")}, v2[2] = {S("bob"), S("")};
    assert_int_equal(vmux_hset(M, NULL, k, f2, v2, 2, &added), 0);
    assert_int_equal(added, 1);
    assert_raw_str(RAW(S("HGET"), k, S("name")), S("bob"));
    assert_raw_str(RAW(S("HGET"), k, S("age")), S(""));
    assert_int_equal(vmux_hset(M, NULL, k, f2, v2, 1, NULL), 0);

    vmux_str tk = key("hset-text");
    DO(S("DEL"), tk);
    assert_int_equal(vmux_hset(M, NULL, tk, f2, v2, 2, &added), 0);
    assert_admin_hget(tk, "name", "bob");

    added = 9;
    assert_wrongtype(vmux_hset(M, &EO, strkey("hset-str"), f2, v2, 2, &added));
    assert_int_equal(added, 0);

    added = 9;
    assert_int_equal(vmux_hset(M, NULL, k, f2, v2, 0, &added), VMUX_ERR_INVALID_ARG);
    assert_int_equal(added, 0);
    added = 9;
    assert_int_equal(vmux_hset(M, NULL, k, NULL, v2, 1, &added), VMUX_ERR_INVALID_ARG);
    assert_int_equal(added, 0);
    added = 9;
    assert_int_equal(vmux_hset(M, NULL, k, f2, NULL, 1, &added), VMUX_ERR_INVALID_ARG);
    assert_int_equal(added, 0);
    added = 9;
    assert_int_equal(vmux_hset(NULL, NULL, k, f2, v2, 1, &added), VMUX_ERR_INVALID_ARG);
    assert_int_equal(added, 0);
}

static void test_hset_async(void **state)
{
    (void)state;
    vmux_str k = binkey("hset-async");
    DO(S("DEL"), k);
    struct done d = {0};
    assert_int_equal(vmux_hset_async(M, NULL, k, FIELDS, VALUES, 3, on_reply, &d), 0);
    wait_done(&d);
    assert_int_equal(d.status, 0);
    int64_t added = 0;
    assert_int_equal(vmux_reply_to_int(d.reply, &added), 0);
    assert_int_equal(added, 3);
    vmux_reply_free(d.reply);
    assert_raw_str(RAW(S("HGET"), k, FIELDS[1]), VALUES[1]);

    struct done wt = {0};
    assert_int_equal(
        vmux_hset_async(M, NULL, strkey("hset-async-str"), FIELDS, VALUES, 1, on_reply, &wt), 0);
    wait_done(&wt);
    assert_int_equal(wt.status, VMUX_ERR_SERVER);
    assert_non_null(strstr(vmux_reply_str(wt.reply, NULL), "WRONGTYPE"));
    vmux_reply_free(wt.reply);

    assert_int_equal(vmux_hset_async(M, NULL, k, FIELDS, VALUES, 0, on_reply, &d),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_hset_async(M, NULL, k, NULL, VALUES, 1, on_reply, &d),
                     VMUX_ERR_INVALID_ARG);
}

/* ---- HGET, HMGET, HGETALL ---- */

static void test_hget(void **state)
{
    (void)state;
    vmux_str k = make_hash("hget");
    vmux_bytes v = JUNK_BYTES;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vmux_hget(M, NULL, k, FIELDS[i], &v), 0);
        assert_bytes(&v, VALUES[i]);
        vmux_bytes_free(&v);
    }
    v = JUNK_BYTES;
    assert_int_equal(vmux_hget(M, NULL, k, S("nope"), &v), 0);
    assert_zero_bytes(&v);
    v = JUNK_BYTES;
    assert_int_equal(vmux_hget(M, NULL, key("hget-missing"), S("name"), &v), 0);
    assert_zero_bytes(&v);
    assert_int_equal(vmux_hget(M, NULL, k, FIELDS[1], NULL), 0);

    v = JUNK_BYTES;
    assert_wrongtype(vmux_hget(M, &EO, strkey("hget-str"), S("f"), &v));
    assert_zero_bytes(&v);
    v = JUNK_BYTES;
    assert_int_equal(vmux_hget(NULL, NULL, k, S("f"), &v), VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&v);
}

static void test_hget_async(void **state)
{
    (void)state;
    vmux_str k = make_hash("hget-async");
    struct done d = {0}, miss = {0};
    assert_int_equal(vmux_hget_async(M, NULL, k, FIELDS[1], on_reply, &d), 0);
    assert_int_equal(vmux_hget_async(M, NULL, k, S("nope"), on_reply, &miss), 0);
    wait_done(&d);
    wait_done(&miss);
    vmux_bytes v;
    assert_int_equal(d.status, 0);
    assert_int_equal(vmux_reply_to_bytes(d.reply, &v), 0);
    assert_bytes(&v, VALUES[1]);
    vmux_bytes_free(&v);
    vmux_reply_free(d.reply);
    assert_int_equal(miss.status, 0);
    assert_int_equal(vmux_reply_to_bytes(miss.reply, &v), 0);
    assert_zero_bytes(&v);
    vmux_reply_free(miss.reply);
}

static void test_hmget(void **state)
{
    (void)state;
    vmux_str k = make_hash("hmget");
    vmux_str ask[5] = {FIELDS[2], S("nope"), FIELDS[1], FIELDS[0], FIELDS[1]};
    vmux_bytes_array a = JUNK_ARRAY;
    assert_int_equal(vmux_hmget(M, NULL, k, ask, 5, &a), 0);
    assert_int_equal(a.count, 5);
    assert_bytes(&a.items[0], VALUES[2]);
    assert_zero_bytes(&a.items[1]);
    assert_bytes(&a.items[2], VALUES[1]);
    assert_bytes(&a.items[3], VALUES[0]);
    assert_bytes(&a.items[4], VALUES[1]);
    vmux_bytes_array_free(&a);

    assert_int_equal(vmux_hmget(M, NULL, key("hmget-missing"), ask, 2, &a), 0);
    assert_int_equal(a.count, 2);
    assert_zero_bytes(&a.items[0]);
    assert_zero_bytes(&a.items[1]);
    vmux_bytes_array_free(&a);
    assert_int_equal(vmux_hmget(M, NULL, k, ask, 2, NULL), 0);

    a = JUNK_ARRAY;
    assert_wrongtype(vmux_hmget(M, &EO, strkey("hmget-str"), ask, 2, &a));
    assert_zero_array(&a);
    a = JUNK_ARRAY;
    assert_int_equal(vmux_hmget(M, NULL, k, ask, 0, &a), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&a);
    a = JUNK_ARRAY;
    assert_int_equal(vmux_hmget(M, NULL, k, NULL, 1, &a), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&a);
}

static void test_hgetall(void **state)
{
    (void)state;
    vmux_str k = make_hash("hgetall");
    vmux_field_array fa = JUNK_FIELDS;
    assert_int_equal(vmux_hgetall(M, NULL, k, &fa), 0);
    assert_test_hash(&fa);
    vmux_field_array_free(&fa);
    assert_zero_fields(&fa);
    vmux_field_array_free(&fa); /* twice is allowed */
    vmux_field_array_free(NULL);

    fa = JUNK_FIELDS;
    assert_int_equal(vmux_hgetall(M, NULL, key("hgetall-missing"), &fa), 0);
    assert_int_equal(fa.count, 0);
    vmux_field_array_free(&fa);
    assert_int_equal(vmux_hgetall(M, NULL, k, NULL), 0);

    fa = JUNK_FIELDS;
    assert_wrongtype(vmux_hgetall(M, &EO, strkey("hgetall-str"), &fa));
    assert_zero_fields(&fa);
}

static void test_hgetall_async(void **state)
{
    (void)state;
    vmux_str k = make_hash("hgetall-async");
    struct done d = {0};
    assert_int_equal(vmux_hgetall_async(M, NULL, k, on_reply, &d), 0);
    wait_done(&d);
    assert_int_equal(d.status, 0);
    vmux_field_array fa;
    assert_int_equal(vmux_reply_to_field_array(d.reply, &fa), 0);
    assert_test_hash(&fa);
    vmux_field_array_free(&fa);
    vmux_reply_free(d.reply);

    struct done wt = {0};
    assert_int_equal(vmux_hgetall_async(M, NULL, strkey("hgetall-async-s"), on_reply, &wt), 0);
    wait_done(&wt);
    assert_int_equal(wt.status, VMUX_ERR_SERVER);
    fa = JUNK_FIELDS;
    assert_int_equal(vmux_reply_to_field_array(wt.reply, &fa), VMUX_ERR_SERVER);
    assert_zero_fields(&fa);
    vmux_reply_free(wt.reply);
}

/* The converter refuses shapes that are not field/value pairs. */
static void test_reply_to_field_array_shapes(void **state)
{
    (void)state;
    vmux_str lk = key("shape-list");
    DO(S("DEL"), lk);
    DO(S("RPUSH"), lk, S("a"), S("b"), S("c"));
    vmux_field_array fa = JUNK_FIELDS;
    vmux_reply *r = RAW(S("LRANGE"), lk, S("0"), S("-1")); /* three elements: odd */
    assert_int_equal(vmux_reply_to_field_array(r, &fa), VMUX_ERR_PROTOCOL);
    assert_zero_fields(&fa);
    vmux_reply_free(r);
    r = RAW(S("LLEN"), lk); /* an integer */
    fa = JUNK_FIELDS;
    assert_int_equal(vmux_reply_to_field_array(r, &fa), VMUX_ERR_PROTOCOL);
    assert_zero_fields(&fa);
    vmux_reply_free(r);
    r = RAW(S("LRANGE"), lk, S("0"), S("1")); /* two: one pair */
    assert_int_equal(vmux_reply_to_field_array(r, &fa), 0);
    assert_int_equal(fa.count, 1);
    assert_bytes(&fa.items[0].field, S("a"));
    assert_bytes(&fa.items[0].value, S("b"));
    vmux_field_array_free(&fa);
    vmux_reply_free(r);
}

/* ---- HDEL, HEXISTS ---- */

static void test_hdel(void **state)
{
    (void)state;
    vmux_str k = make_hash("hdel");
    vmux_str del[3] = {FIELDS[1], S("nope"), FIELDS[2]};
    int64_t n = -1;
    assert_int_equal(vmux_hdel(M, NULL, k, del, 3, &n), 0);
    assert_int_equal(n, 2);
    assert_raw_nil(RAW(S("HGET"), k, FIELDS[1]));
    assert_int_equal(raw_int(RAW(S("HEXISTS"), k, FIELDS[2])), 0);
    assert_int_equal(raw_int(RAW(S("HLEN"), k)), 1);
    assert_int_equal(vmux_hdel(M, NULL, k, del, 3, &n), 0);
    assert_int_equal(n, 0);
    /* deleting the last field deletes the key */
    assert_int_equal(vmux_hdel(M, NULL, k, FIELDS, 1, NULL), 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), k)), 0);
    assert_int_equal(vmux_hdel(M, NULL, key("hdel-missing"), FIELDS, 1, &n), 0);
    assert_int_equal(n, 0);

    n = 9;
    assert_wrongtype(vmux_hdel(M, &EO, strkey("hdel-str"), del, 1, &n));
    assert_int_equal(n, 0);
    n = 9;
    assert_int_equal(vmux_hdel(M, NULL, k, del, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 9;
    assert_int_equal(vmux_hdel(M, NULL, k, NULL, 2, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
}

static void test_hexists(void **state)
{
    (void)state;
    vmux_str k = make_hash("hexists");
    for (int i = 0; i < 3; i++) {
        bool yes = false;
        assert_int_equal(vmux_hexists(M, NULL, k, FIELDS[i], &yes), 0);
        assert_true(yes);
    }
    bool yes = true;
    assert_int_equal(vmux_hexists(M, NULL, k, S("nope"), &yes), 0);
    assert_false(yes);
    yes = true;
    assert_int_equal(vmux_hexists(M, NULL, key("hexists-missing"), S("f"), &yes), 0);
    assert_false(yes);
    assert_int_equal(vmux_hexists(M, NULL, k, FIELDS[0], NULL), 0);
    yes = true;
    assert_wrongtype(vmux_hexists(M, &EO, strkey("hexists-str"), S("f"), &yes));
    assert_false(yes);
}

/* ---- HSETNX, HSTRLEN, HRANDFIELD ---- */

static void test_hsetnx(void **state)
{
    (void)state;
    vmux_str k = make_hash("hsetnx");
    bool set = true;
    assert_int_equal(vmux_hsetnx(M, NULL, k, FIELDS[1], S("other"), &set), 0);
    assert_false(set); /* there: left as it was */
    assert_raw_str(RAW(S("HGET"), k, FIELDS[1]), VALUES[1]);
    set = true;
    assert_int_equal(vmux_hsetnx(M, NULL, k, FIELDS[2], S("other"), &set), 0);
    assert_false(set); /* the empty-named field, whose value is empty, is there too */
    assert_raw_str(RAW(S("HGET"), k, FIELDS[2]), EMPTY);
    vmux_str nf = VMUX_STRN("\0f", 2); /* a prefix of "\0f\0": another field */
    set = false;
    assert_int_equal(vmux_hsetnx(M, NULL, k, nf, BINV, &set), 0);
    assert_true(set);
    assert_raw_str(RAW(S("HGET"), k, nf), BINV);
    assert_int_equal(raw_int(RAW(S("HLEN"), k)), 4);
    set = true;
    assert_int_equal(vmux_hsetnx(M, NULL, k, nf, S("again"), &set), 0);
    assert_false(set); /* what a resend would answer: why it is not retry-safe */
    assert_raw_str(RAW(S("HGET"), k, nf), BINV);

    vmux_str nk = key("hsetnx-new");
    DO(S("DEL"), nk);
    assert_int_equal(vmux_hsetnx(M, NULL, nk, S("f"), EMPTY, &set), 0);
    assert_true(set); /* a missing key is created */
    assert_int_equal(raw_int(RAW(S("HLEN"), nk)), 1);
    assert_int_equal(vmux_hsetnx(M, NULL, nk, S("g"), S("v"), NULL), 0);
    assert_admin_hget(nk, "g", "v");

    set = true;
    assert_wrongtype(vmux_hsetnx(M, &EO, strkey("hsetnx-str"), S("f"), S("v"), &set));
    assert_false(set);
}

static void test_hstrlen(void **state)
{
    (void)state;
    vmux_str k = make_hash("hstrlen");
    int64_t want[3] = {5, sizeof BIN, 0};
    for (int i = 0; i < 3; i++) {
        int64_t len = -1;
        assert_int_equal(vmux_hstrlen(M, NULL, k, FIELDS[i], &len), 0);
        assert_int_equal(len, want[i]);
    }
    int64_t len = -1;
    assert_int_equal(vmux_hstrlen(M, NULL, k, VMUX_STRN("\0f", 2), &len), 0);
    assert_int_equal(len, 0); /* no such field */
    len = -1;
    assert_int_equal(vmux_hstrlen(M, NULL, key("hstrlen-missing"), S("f"), &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(vmux_hstrlen(M, NULL, k, FIELDS[0], NULL), 0);
    len = 9;
    assert_wrongtype(vmux_hstrlen(M, &EO, strkey("hstrlen-str"), S("f"), &len));
    assert_int_equal(len, 0);
}

static void test_hrandfield(void **state)
{
    (void)state;
    vmux_str k = make_hash("hrandfield");
    vmux_bytes f = JUNK_BYTES;
    assert_int_equal(vmux_hrandfield(M, NULL, k, &f), 0);
    assert_true(field_index(&f) >= 0);
    vmux_bytes_free(&f);

    vmux_bytes_array got;
    assert_int_equal(vmux_hrandfield_count(M, NULL, k, 2, &got), 0);
    assert_int_equal(got.count, 2);
    int a = field_index(&got.items[0]), b = field_index(&got.items[1]);
    assert_true(a >= 0 && b >= 0 && a != b); /* distinct */
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_hrandfield_count(M, NULL, k, 10, &got), 0);
    assert_int_equal(got.count, 3); /* every field, once each */
    bool seen[3] = {false};
    for (size_t i = 0; i < got.count; i++) {
        int at = field_index(&got.items[i]);
        assert_true(at >= 0 && !seen[at]);
        seen[at] = true;
    }
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_hrandfield_count(M, NULL, k, -7, &got), 0);
    assert_int_equal(got.count, 7); /* exactly 7 of 3 fields: repeats */
    for (size_t i = 0; i < got.count; i++)
        assert_true(field_index(&got.items[i]) >= 0);
    vmux_bytes_array_free(&got);
    got = JUNK_ARRAY;
    assert_int_equal(vmux_hrandfield_count(M, NULL, k, 0, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_hrandfield_count(M, NULL, k, 1, NULL), 0);
    assert_int_equal(raw_int(RAW(S("HLEN"), k)), 3); /* nothing taken */

    vmux_str missing = key("hrandfield-missing");
    DO(S("DEL"), missing);
    f = JUNK_BYTES;
    assert_int_equal(vmux_hrandfield(M, NULL, missing, &f), 0);
    assert_null(f.ptr);
    assert_int_equal(f.len, 0);
    got = JUNK_ARRAY;
    assert_int_equal(vmux_hrandfield_count(M, NULL, missing, -2, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);

    vmux_str sk = strkey("hrandfield-str");
    f = JUNK_BYTES;
    assert_wrongtype(vmux_hrandfield(M, &EO, sk, &f));
    assert_zero_bytes(&f);
    got = JUNK_ARRAY;
    assert_wrongtype(vmux_hrandfield_count(M, &EO, sk, 2, &got));
    assert_zero_array(&got);
}

static void test_hrandfield_withvalues(void **state)
{
    (void)state;
    vmux_str k = make_hash("hrandfield-values");
    vmux_field_array got;
    assert_int_equal(vmux_hrandfield_withvalues(M, NULL, k, 10, &got), 0);
    assert_test_hash(&got); /* every pair, once each */
    vmux_field_array_free(&got);
    assert_int_equal(vmux_hrandfield_withvalues(M, NULL, k, -5, &got), 0);
    assert_int_equal(got.count, 5);
    for (size_t i = 0; i < got.count; i++) { /* repeats, each with its own value */
        int at = field_index(&got.items[i].field);
        assert_true(at >= 0);
        assert_bytes(&got.items[i].value, VALUES[at]);
    }
    vmux_field_array_free(&got);
    assert_int_equal(vmux_hrandfield_withvalues(M, NULL, k, 1, &got), 0);
    assert_int_equal(got.count, 1);
    vmux_field_array_free(&got);
    assert_int_equal(vmux_hrandfield_withvalues(M, NULL, k, 0, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_field_array_free(&got);
    assert_int_equal(vmux_hrandfield_withvalues(M, NULL, k, -2, NULL), 0);
    vmux_str missing = key("hrandfield-values-missing");
    DO(S("DEL"), missing);
    got = JUNK_FIELDS;
    assert_int_equal(vmux_hrandfield_withvalues(M, NULL, missing, 3, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_field_array_free(&got);
    got = JUNK_FIELDS;
    assert_wrongtype(vmux_hrandfield_withvalues(M, &EO, strkey("hrandfield-values-str"), 2, &got));
    assert_zero_fields(&got);
}

/* The new commands' refusals: the server would refuse each one too, so errbuf left untouched
 * (its message would be there) shows that nothing was sent. */
static void test_bad_arguments_more(void **state)
{
    (void)state;
    vmux_str k = make_hash("bad-more");
    vmux_str nul = VMUX_STRN(NULL, 1);
    strcpy(errbuf, "untouched");
    bool set = true;
    assert_int_equal(vmux_hsetnx(M, &EO, k, S("new"), nul, &set), VMUX_ERR_INVALID_ARG);
    assert_false(set);
    set = true;
    assert_int_equal(vmux_hsetnx(M, &EO, k, nul, S("v"), &set), VMUX_ERR_INVALID_ARG);
    assert_false(set);
    int64_t len = 9;
    assert_int_equal(vmux_hstrlen(M, &EO, k, nul, &len), VMUX_ERR_INVALID_ARG);
    assert_int_equal(len, 0);
    vmux_bytes f = JUNK_BYTES;
    assert_int_equal(vmux_hrandfield(M, &EO, nul, &f), VMUX_ERR_INVALID_ARG);
    assert_zero_bytes(&f);
    vmux_bytes_array got = JUNK_ARRAY;
    assert_int_equal(vmux_hrandfield_count(M, &EO, k, INT64_MIN, &got), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&got);
    /* with values, the server takes a count within INT64_MAX / 2 either way */
    const int64_t too_far[] = {INT64_MIN, -(INT64_MAX / 2) - 1, INT64_MAX / 2 + 1, INT64_MAX};
    for (size_t i = 0; i < sizeof too_far / sizeof too_far[0]; i++) {
        vmux_field_array pairs = JUNK_FIELDS;
        assert_int_equal(vmux_hrandfield_withvalues(M, &EO, k, too_far[i], &pairs),
                         VMUX_ERR_INVALID_ARG);
        assert_zero_fields(&pairs);
    }
    assert_refused_words(errbuf);
    assert_int_equal(raw_int(RAW(S("HLEN"), k)), 3);
}

/* ---- HINCRBY, HINCRBYFLOAT ---- */

static void test_hincrby(void **state)
{
    (void)state;
    vmux_str k = make_hash("hincrby");
    int64_t v = -1;
    assert_int_equal(vmux_hincrby(M, NULL, k, BINF, 0, &v), VMUX_ERR_SERVER); /* BIN: no int */
    assert_int_equal(vmux_hincrby(M, NULL, k, S("n"), 5, &v), 0); /* a new field counts as 0 */
    assert_int_equal(v, 5);
    assert_int_equal(vmux_hincrby(M, NULL, k, S("n"), -12, &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(vmux_hincrby(M, NULL, k, S("n"), INT64_C(10000000000), NULL), 0);
    assert_raw_str(RAW(S("HGET"), k, S("n")), S("9999999993"));
    vmux_str bf = VMUX_STRN("\0n", 2);
    assert_int_equal(vmux_hincrby(M, NULL, k, bf, 1, &v), 0);
    assert_int_equal(v, 1);
    assert_raw_str(RAW(S("HGET"), k, bf), S("1"));
    vmux_str nk = key("hincrby-new");
    DO(S("DEL"), nk);
    assert_int_equal(vmux_hincrby(M, NULL, nk, S("c"), 3, &v), 0); /* a missing key too */
    assert_admin_hget(nk, "c", "3");

    v = 9;
    errbuf[0] = '\0';
    assert_int_equal(vmux_hincrby(M, &EO, k, FIELDS[2], 1, &v), VMUX_ERR_SERVER); /* "" */
    assert_int_equal(v, 0);
    assert_non_null(strstr(errbuf, "not an integer"));
    DO(S("HSET"), k, S("max"), S("9223372036854775807"));
    v = 9;
    assert_int_equal(vmux_hincrby(M, &EO, k, S("max"), 1, &v), VMUX_ERR_SERVER);
    assert_int_equal(v, 0);
    assert_non_null(strstr(errbuf, "overflow"));
    v = 9;
    assert_wrongtype(vmux_hincrby(M, &EO, strkey("hincrby-str"), S("f"), 1, &v));
    assert_int_equal(v, 0);
}

static void test_hincrbyfloat(void **state)
{
    (void)state;
    vmux_str k = make_hash("hincrbyfloat");
    double d = -1;
    assert_int_equal(vmux_hincrbyfloat(M, NULL, k, S("f"), 2.5, &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(vmux_hincrbyfloat(M, NULL, k, S("f"), -0.25, &d), 0);
    assert_true(d == 2.25);
    assert_raw_str(RAW(S("HGET"), k, S("f")), S("2.25"));
    assert_int_equal(vmux_hincrbyfloat(M, NULL, k, BINF, 1, NULL), VMUX_ERR_SERVER);
    vmux_str bf = VMUX_STRN("\0x\0", 3);
    assert_int_equal(vmux_hincrbyfloat(M, NULL, k, bf, 1e3, &d), 0);
    assert_true(d == 1000);
    assert_raw_str(RAW(S("HGET"), k, bf), S("1000"));

    d = 9;
    errbuf[0] = '\0';
    assert_int_equal(vmux_hincrbyfloat(M, &EO, k, FIELDS[2], 1, &d), VMUX_ERR_SERVER);
    assert_true(d == 0);
    assert_non_null(strstr(errbuf, "not a"));
    d = 9;
    errbuf[0] = '\0';
    assert_int_equal(vmux_hincrbyfloat(M, &EO, k, S("f"), INFINITY, &d), VMUX_ERR_SERVER);
    assert_true(d == 0);
    assert_non_null(strstr(errbuf, "NaN or Infinity"));
    d = 9;
    assert_int_equal(vmux_hincrbyfloat(M, NULL, k, S("f"), NAN, &d), VMUX_ERR_INVALID_ARG);
    assert_true(d == 0);
    assert_raw_str(RAW(S("HGET"), k, S("f")), S("2.25")); /* untouched */
    /* The server adds in long double: 1e308 + 1e308 is stored, beyond a double's range. */
    vmux_str big = S("big");
    vmux_str e308 = S("1e308");
    assert_int_equal(vmux_hset(M, NULL, k, &big, &e308, 1, NULL), 0);
    d = 9;
    errbuf[0] = '\0';
    assert_int_equal(vmux_hincrbyfloat(M, &EO, k, big, 1e308, &d), VMUX_ERR_PROTOCOL);
    assert_true(d == 0);
    assert_non_null(strstr(errbuf, "the command ran"));
    vmux_bytes stored = {0};
    assert_int_equal(vmux_hget(M, NULL, k, big, &stored), 0);
    assert_true(stored.len == 309 && memcmp(stored.ptr, "19999", 5) == 0);
    vmux_bytes_free(&stored);
    d = 9;
    assert_wrongtype(vmux_hincrbyfloat(M, &EO, strkey("hincrbyfloat-s"), S("f"), 1, &d));
    assert_true(d == 0);
}

/* ---- HLEN, HKEYS, HVALS ---- */

static void test_hlen_hkeys_hvals(void **state)
{
    (void)state;
    vmux_str k = make_hash("hlen"), missing = key("hlen-missing"), sk = strkey("hlen-str");
    int64_t n = -1;
    assert_int_equal(vmux_hlen(M, NULL, k, &n), 0);
    assert_int_equal(n, 3);
    n = -1;
    assert_int_equal(vmux_hlen(M, NULL, missing, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_hlen(M, NULL, k, NULL), 0);

    vmux_bytes_array keys = JUNK_ARRAY, vals = JUNK_ARRAY;
    assert_int_equal(vmux_hkeys(M, NULL, k, &keys), 0);
    assert_int_equal(vmux_hvals(M, NULL, k, &vals), 0);
    assert_int_equal(keys.count, 3);
    assert_int_equal(vals.count, 3);
    bool seen[3] = {false};
    for (size_t i = 0; i < 3; i++) {
        int at = field_index(&keys.items[i]);
        assert_true(at >= 0 && !seen[at]);
        seen[at] = true;
        assert_bytes(&vals.items[i], VALUES[at]); /* same order as HKEYS */
    }
    vmux_bytes_array_free(&keys);
    vmux_bytes_array_free(&vals);

    assert_int_equal(vmux_hkeys(M, NULL, missing, &keys), 0);
    assert_int_equal(keys.count, 0);
    vmux_bytes_array_free(&keys);
    assert_int_equal(vmux_hvals(M, NULL, missing, &vals), 0);
    assert_int_equal(vals.count, 0);
    vmux_bytes_array_free(&vals);
    assert_int_equal(vmux_hkeys(M, NULL, k, NULL), 0);
    assert_int_equal(vmux_hvals(M, NULL, k, NULL), 0);

    n = 9;
    assert_wrongtype(vmux_hlen(M, &EO, sk, &n));
    assert_int_equal(n, 0);
    keys = JUNK_ARRAY;
    assert_wrongtype(vmux_hkeys(M, &EO, sk, &keys));
    assert_zero_array(&keys);
    vals = JUNK_ARRAY;
    assert_wrongtype(vmux_hvals(M, &EO, sk, &vals));
    assert_zero_array(&vals);
}

/* ---- HSCAN with field/value pairs ---- */

static void test_hscan_next_fields(void **state)
{
    (void)state;
    vmux_str k = make_hash("hscan");
    vmux_scan *it = NULL;
    assert_int_equal(vmux_hscan_begin(M, k, NULL, &it), 0);
    vmux_field_array all = {0}, batch;
    int rc;
    while ((rc = vmux_hscan_next_fields(it, NULL, &batch)) == 1) {
        vmux_field_value *grown =
            realloc(all.items, (all.count + batch.count + 1) * sizeof(*grown));
        assert_non_null(grown);
        all.items = grown;
        memcpy(all.items + all.count, batch.items, batch.count * sizeof(*grown));
        all.count += batch.count;
        free(batch.items); /* the pairs moved into all */
    }
    assert_int_equal(rc, 0);
    assert_zero_fields(&batch);
    assert_test_hash(&all); /* a small hash comes in one batch: no duplicates */
    vmux_field_array_free(&all);
    assert_int_equal(vmux_hscan_next_fields(it, NULL, &batch), 0); /* still complete */
    vmux_scan_end(it);

    /* MATCH, and a NULL batch */
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = "na*");
    assert_int_equal(vmux_hscan_begin(M, k, &o, &it), 0);
    assert_int_equal(vmux_hscan_next_fields(it, NULL, &batch), 1);
    assert_int_equal(batch.count, 1);
    assert_bytes(&batch.items[0].field, S("name"));
    assert_bytes(&batch.items[0].value, S("alice"));
    vmux_field_array_free(&batch);
    assert_int_equal(vmux_hscan_next_fields(it, NULL, NULL), 0);
    vmux_scan_end(it);

    /* WRONGTYPE; and an iterator of another kind */
    assert_int_equal(vmux_hscan_begin(M, strkey("hscan-str"), NULL, &it), 0);
    batch = JUNK_FIELDS;
    assert_wrongtype(vmux_hscan_next_fields(it, &EO, &batch));
    assert_zero_fields(&batch);
    vmux_scan_end(it);
    assert_int_equal(vmux_sscan_begin(M, k, NULL, &it), 0);
    batch = JUNK_FIELDS;
    assert_int_equal(vmux_hscan_next_fields(it, NULL, &batch), VMUX_ERR_INVALID_ARG);
    assert_zero_fields(&batch);
    vmux_scan_end(it);
    batch = JUNK_FIELDS;
    assert_int_equal(vmux_hscan_next_fields(NULL, NULL, &batch), VMUX_ERR_INVALID_ARG);
    assert_zero_fields(&batch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hset),
        cmocka_unit_test(test_hset_async),
        cmocka_unit_test(test_hget),
        cmocka_unit_test(test_hget_async),
        cmocka_unit_test(test_hmget),
        cmocka_unit_test(test_hgetall),
        cmocka_unit_test(test_hgetall_async),
        cmocka_unit_test(test_reply_to_field_array_shapes),
        cmocka_unit_test(test_hdel),
        cmocka_unit_test(test_hexists),
        cmocka_unit_test(test_hincrby),
        cmocka_unit_test(test_hincrbyfloat),
        cmocka_unit_test(test_hlen_hkeys_hvals),
        cmocka_unit_test(test_hscan_next_fields),
        cmocka_unit_test(test_hsetnx),
        cmocka_unit_test(test_hstrlen),
        cmocka_unit_test(test_hrandfield),
        cmocka_unit_test(test_hrandfield_withvalues),
        cmocka_unit_test(test_bad_arguments_more),
    };
    return cmocka_run_group_tests(tests, cmd_setup, cmd_teardown);
}

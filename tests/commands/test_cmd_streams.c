/*
 * Stream commands against the real server: appends with chosen and server-made IDs, ranges,
 * trimming, reads of several streams, blocking reads woken by another thread's XADD, consumer
 * groups (read, acknowledge, pending, claim stale entries, move a group's ID, create and delete
 * consumers), XINFO's descriptions against the server's own replies, binary data with NUL
 * bytes, empty values, missing keys, WRONGTYPE, and arguments refused before anything is sent.
 * Keys start with "xs:" so that other test files sharing the server never touch them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

/* vt_admin on the plain server, whose text reply must be want. */
#define ADMIN_EQ(want, ...)                                                                        \
    do {                                                                                           \
        char *admin_ = vt_admin("plain", __VA_ARGS__);                                             \
        assert_non_null(admin_);                                                                   \
        assert_string_equal(admin_, want);                                                         \
        free(admin_);                                                                              \
    } while (0)

#define ADMIN(...) free(vt_admin("plain", __VA_ARGS__))

static int setup(void **state)
{
    *state = vt_open("plain", NULL);
    return 0;
}

static int teardown(void **state)
{
    vmux_close(*state);
    return 0;
}

/* An error buffer and the options that carry it. */
struct errctx {
    char buf[256];
    vmux_callopts opts;
};

static vmux_callopts *errctx_init(struct errctx *e)
{
    memset(e, 0, sizeof(*e));
    e->opts = VMUX_INIT(vmux_callopts, .errbuf = e->buf);
    e->opts.errlen = sizeof(e->buf);
    return &e->opts;
}

static void assert_bytes(vmux_bytes b, const void *want, size_t len)
{
    assert_non_null(b.ptr);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.ptr, want, len);
}

static void assert_cstr(vmux_bytes b, const char *want)
{
    assert_bytes(b, want, strlen(want));
}

/* e has ID id (unless NULL) and exactly the fields and values kv[0], kv[1], ... */
static void assert_entry(const vmux_stream_entry *e, const char *id, const vmux_str *kv, size_t n)
{
    if (id != NULL)
        assert_cstr(e->id, id);
    assert_int_equal(e->fields.count, n);
    for (size_t i = 0; i < n; i++)
        assert_bytes(e->fields.items[i], kv[i].ptr, kv[i].len);
}

/* The single-field entry "f" = value. */
static void assert_f(const vmux_stream_entry *e, const char *id, const char *value)
{
    vmux_str kv[] = {VMUX_STR("f"), VMUX_STR(value)};
    assert_entry(e, id, kv, 2);
}

/* XADD key id f value, where id "*" lets the server choose. */
static void add_f(vmux *m, const char *key, const char *id, const char *value)
{
    vmux_str f = VMUX_STR("f"), v = VMUX_STR(value);
    vmux_bytes got;
    assert_int_equal(vmux_xadd(m, NULL, VMUX_STR(key), VMUX_STR(id), &f, &v, 1, NULL, &got), 0);
    assert_non_null(got.ptr);
    if (strcmp(id, "*") != 0)
        assert_cstr(got, id);
    vmux_bytes_free(&got);
}

static void test_xadd_and_ranges(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{r}:plain");
    vmux_str key = VMUX_STR("xs:{r}:plain");
    vmux_str fields[] = {VMUX_STR("name"), VMUX_STR("count")};
    vmux_str values[] = {VMUX_STR("ada"), VMUX_STR("1")};
    vmux_bytes id;
    /* The server chooses the ID; it is what XRANGE then shows. */
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_XID_DEFAULT, fields, values, 2, NULL, &id), 0);
    assert_non_null(id.ptr);
    assert_non_null(strchr(id.ptr, '-'));
    char *admin = vt_admin("plain", "XRANGE xs:{r}:plain - +");
    assert_non_null(admin);
    char want[128];
    snprintf(want, sizeof want, "%s\nname\nada\ncount\n1", id.ptr);
    assert_string_equal(admin, want);
    free(admin);
    /* Explicit IDs after it, and "*" spelt out. */
    char next[64];
    snprintf(next, sizeof next, "%s", id.ptr);
    *strchr(next, '-') = '\0';
    long long ms = strtoll(next, NULL, 10);
    char id2[64], id3[64];
    snprintf(id2, sizeof id2, "%lld-5", ms + 1);
    snprintf(id3, sizeof id3, "%lld-0", ms + 2);
    add_f(m, "xs:{r}:plain", id2, "two");
    add_f(m, "xs:{r}:plain", id3, "three");
    add_f(m, "xs:{r}:plain", "*", "four");
    int64_t len = -1;
    assert_int_equal(vmux_xlen(m, NULL, key, &len), 0);
    assert_int_equal(len, 4);
    ADMIN_EQ("4", "XLEN xs:{r}:plain");

    vmux_stream_entry_array all;
    assert_int_equal(vmux_xrange(m, NULL, key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 0, &all), 0);
    assert_int_equal(all.count, 4);
    vmux_str kv[] = {VMUX_STR("name"), VMUX_STR("ada"), VMUX_STR("count"), VMUX_STR("1")};
    assert_entry(&all.items[0], id.ptr, kv, 4);
    assert_f(&all.items[1], id2, "two");
    assert_f(&all.items[2], id3, "three");
    assert_f(&all.items[3], NULL, "four");

    /* A range between two IDs, with COUNT; and an exclusive start. */
    vmux_stream_entry_array some;
    assert_int_equal(vmux_xrange(m, NULL, key, VMUX_STR(id2), VMUX_STR("+"), 2, &some), 0);
    assert_int_equal(some.count, 2);
    assert_f(&some.items[0], id2, "two");
    assert_f(&some.items[1], id3, "three");
    vmux_stream_entry_array_free(&some);
    char excl[70];
    snprintf(excl, sizeof excl, "(%s", id2);
    assert_int_equal(vmux_xrange(m, NULL, key, VMUX_STR(excl), VMUX_STR(id3), 0, &some), 0);
    assert_int_equal(some.count, 1);
    assert_f(&some.items[0], id3, "three");
    vmux_stream_entry_array_free(&some);

    /* XREVRANGE: newest first, end before start. */
    vmux_stream_entry_array rev;
    assert_int_equal(vmux_xrevrange(m, NULL, key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 3, &rev), 0);
    assert_int_equal(rev.count, 3);
    assert_cstr(rev.items[0].id, all.items[3].id.ptr);
    assert_f(&rev.items[1], id3, "three");
    assert_f(&rev.items[2], id2, "two");
    vmux_stream_entry_array_free(&rev);
    assert_int_equal(vmux_xrevrange(m, NULL, key, VMUX_STR(id3), VMUX_STR(id2), 0, &rev), 0);
    assert_int_equal(rev.count, 2);
    assert_f(&rev.items[0], id3, "three");
    vmux_stream_entry_array_free(&rev);

    /* An ID not above the last one is the server's error, and *id is zeroed. */
    struct errctx e;
    vmux_bytes bad = {(char *)"junk", 4};
    vmux_str f = VMUX_STR("f"), v = VMUX_STR("v");
    assert_int_equal(vmux_xadd(m, errctx_init(&e), key, VMUX_STR(id2), &f, &v, 1, NULL, &bad),
                     VMUX_ERR_SERVER);
    assert_null(bad.ptr);
    assert_int_equal(bad.len, 0);
    assert_non_null(strstr(e.buf, "equal or smaller"));
    ADMIN_EQ("4", "XLEN xs:{r}:plain");

    /* NULL out-parameters drop the results, but the commands run. */
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_XID_DEFAULT, &f, &v, 1, NULL, NULL), 0);
    assert_int_equal(vmux_xlen(m, NULL, key, NULL), 0);
    assert_int_equal(vmux_xrange(m, NULL, key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 0, NULL), 0);
    assert_int_equal(vmux_xrevrange(m, NULL, key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 0, NULL), 0);
    ADMIN_EQ("5", "XLEN xs:{r}:plain");
    vmux_stream_entry_array_free(&all);
    vmux_bytes_free(&id);
    ADMIN("DEL xs:{r}:plain");
}

static void test_binary_and_empty(void **state)
{
    vmux *m = *state;
    static const char bkey[] = "xs:{b}:\0key";
    ADMIN("DEL %b", bkey, sizeof bkey - 1);
    vmux_str key = VMUX_STRN(bkey, sizeof bkey - 1);
    vmux_str fields[] = {VMUX_STRN("f\0one", 5), VMUX_STRN("", 0)};
    vmux_str values[] = {VMUX_STRN("v\0\0x", 4), VMUX_STRN("", 0)};
    vmux_bytes id;
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_STR("7-7"), fields, values, 2, NULL, &id), 0);
    assert_cstr(id, "7-7");
    vmux_bytes_free(&id);
    ADMIN_EQ("1", "XLEN %b", bkey, sizeof bkey - 1);
    /* Read back through the side channel, in hex: the NULs went over the wire. */
    ADMIN_EQ("7-7 66006f6e65 76000078  ", "EVAL %s 1 %b",
             "local e = redis.call('XRANGE', KEYS[1], '-', '+')[1] local out = {e[1]} "
             "for _, x in ipairs(e[2]) do out[#out + 1] = (x:gsub('.', function(c) "
             "return string.format('%02x', c:byte()) end)) end return table.concat(out, ' ')",
             bkey, sizeof bkey - 1);
    vmux_stream_entry_array got;
    assert_int_equal(vmux_xrange(m, NULL, key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 0, &got), 0);
    assert_int_equal(got.count, 1);
    vmux_str kv[] = {fields[0], values[0], fields[1], values[1]};
    assert_entry(&got.items[0], "7-7", kv, 4);
    vmux_stream_entry_array_free(&got);

    /* XREAD of a binary key gives the key back as it is. */
    vmux_str from = VMUX_STR("0");
    vmux_stream_batch_array batches;
    assert_int_equal(vmux_xread(m, NULL, &key, &from, 1, 0, VMUX_NO_BLOCK, &batches), 0);
    assert_int_equal(batches.count, 1);
    assert_bytes(batches.items[0].key, bkey, sizeof bkey - 1);
    assert_int_equal(batches.items[0].entries.count, 1);
    assert_entry(&batches.items[0].entries.items[0], "7-7", kv, 4);
    vmux_stream_batch_array_free(&batches);

    /* A binary group and consumer name. */
    vmux_str group = VMUX_STRN("g\0rp", 4), consumer = VMUX_STRN("c\0ns", 4);
    assert_int_equal(vmux_xgroup_create(m, NULL, key, group, VMUX_STR("0"), false), 0);
    assert_int_equal(
        vmux_xreadgroup(m, NULL, group, consumer, &key, NULL, 1, NULL, VMUX_NO_BLOCK, &batches), 0);
    assert_int_equal(batches.count, 1);
    assert_entry(&batches.items[0].entries.items[0], "7-7", kv, 4);
    vmux_stream_batch_array_free(&batches);
    vmux_xpending_array pend;
    assert_int_equal(vmux_xpending_range(m, NULL, key, group, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT,
                                         10, consumer, 0, &pend),
                     0);
    assert_int_equal(pend.count, 1);
    assert_bytes(pend.items[0].consumer, "c\0ns", 4);
    vmux_xpending_array_free(&pend);
    ADMIN("DEL %b", bkey, sizeof bkey - 1);
}

static void test_missing_keys(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{m}:none xs:{m}:none2");
    vmux_str key = VMUX_STR("xs:{m}:none");
    int64_t n = -1;
    assert_int_equal(vmux_xlen(m, NULL, key, &n), 0);
    assert_int_equal(n, 0);
    vmux_stream_entry_array entries = {(vmux_stream_entry *)1, 9};
    assert_int_equal(vmux_xrange(m, NULL, key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 0, &entries), 0);
    assert_int_equal(entries.count, 0);
    vmux_stream_entry_array_free(&entries);
    assert_int_equal(vmux_xrevrange(m, NULL, key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 10, &entries),
                     0);
    assert_int_equal(entries.count, 0);
    vmux_stream_entry_array_free(&entries);
    vmux_str keys[] = {key, VMUX_STR("xs:{m}:none2")}, ids[] = {VMUX_STR("0"), VMUX_STR("0")};
    vmux_stream_batch_array batches = {(vmux_stream_batch *)1, 9};
    assert_int_equal(vmux_xread(m, NULL, keys, ids, 2, 0, VMUX_NO_BLOCK, &batches), 0);
    assert_int_equal(batches.count, 0);
    assert_null(batches.items);
    vmux_str id = VMUX_STR("1-1");
    n = -1;
    assert_int_equal(vmux_xdel(m, NULL, key, &id, 1, &n), 0);
    assert_int_equal(n, 0);
    n = -1;
    vmux_stream_trim t = {.kind = VMUX_TRIM_MAXLEN, .maxlen = 0};
    assert_int_equal(vmux_xtrim(m, NULL, key, t, &n), 0);
    assert_int_equal(n, 0);
    n = -1;
    assert_int_equal(vmux_xack(m, NULL, key, VMUX_STR("g"), &id, 1, &n), 0);
    assert_int_equal(n, 0);
    /* Commands that need a group: the server says NOGROUP (XREADGROUP) or no such key. */
    struct errctx e;
    vmux_xpending_summary sum = {.count = 5};
    assert_int_equal(vmux_xpending(m, errctx_init(&e), key, VMUX_STR("g"), &sum), VMUX_ERR_SERVER);
    assert_int_equal(sum.count, 0);
    assert_non_null(strstr(e.buf, "NOGROUP"));
    assert_int_equal(vmux_xreadgroup(m, errctx_init(&e), VMUX_STR("g"), VMUX_STR("c"), &key, NULL,
                                     1, NULL, VMUX_NO_BLOCK, &batches),
                     VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "NOGROUP"));
    /* XGROUP CREATE without MKSTREAM wants the stream to exist. */
    assert_int_equal(
        vmux_xgroup_create(m, errctx_init(&e), key, VMUX_STR("g"), VMUX_XID_DEFAULT, false),
        VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "MKSTREAM"));
    bool destroyed = true;
    assert_int_equal(vmux_xgroup_destroy(m, errctx_init(&e), key, VMUX_STR("g"), &destroyed),
                     VMUX_ERR_SERVER);
    assert_false(destroyed);
    ADMIN_EQ("0", "EXISTS xs:{m}:none");
}

static void test_wrongtype(void **state)
{
    vmux *m = *state;
    ADMIN("SET xs:{w}:str hello");
    vmux_str key = VMUX_STR("xs:{w}:str"), g = VMUX_STR("g"), c = VMUX_STR("c");
    vmux_str f = VMUX_STR("f"), id = VMUX_STR("1-1"), zero = VMUX_STR("0");
    struct errctx e;
    vmux_bytes b = {(char *)"junk", 4};
    int64_t n = 7;
    vmux_stream_entry_array ea = {(vmux_stream_entry *)1, 3};
    vmux_stream_batch_array ba = {(vmux_stream_batch *)1, 3};
    vmux_bytes_array del = {(vmux_bytes *)1, 3};

#define WRONG(call)                                                                                \
    do {                                                                                           \
        assert_int_equal((call), VMUX_ERR_SERVER);                                                 \
        assert_non_null(strstr(e.buf, "WRONGTYPE"));                                               \
    } while (0)

    WRONG(vmux_xadd(m, errctx_init(&e), key, VMUX_XID_DEFAULT, &f, &f, 1, NULL, &b));
    assert_null(b.ptr);
    WRONG(vmux_xlen(m, errctx_init(&e), key, &n));
    assert_int_equal(n, 0);
    WRONG(vmux_xrange(m, errctx_init(&e), key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 0, &ea));
    assert_null(ea.items);
    assert_int_equal(ea.count, 0);
    ea.count = 3;
    WRONG(vmux_xrevrange(m, errctx_init(&e), key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 0, &ea));
    assert_int_equal(ea.count, 0);
    WRONG(vmux_xread(m, errctx_init(&e), &key, &zero, 1, 0, VMUX_NO_BLOCK, &ba));
    assert_null(ba.items);
    assert_int_equal(ba.count, 0);
    WRONG(vmux_xgroup_create(m, errctx_init(&e), key, g, zero, true));
    ba.count = 3;
    WRONG(vmux_xreadgroup(m, errctx_init(&e), g, c, &key, NULL, 1, NULL, VMUX_NO_BLOCK, &ba));
    assert_int_equal(ba.count, 0);
    n = 7;
    WRONG(vmux_xack(m, errctx_init(&e), key, g, &id, 1, &n));
    assert_int_equal(n, 0);
    vmux_xpending_summary sum = {.count = 3};
    WRONG(vmux_xpending(m, errctx_init(&e), key, g, &sum));
    assert_int_equal(sum.count, 0);
    vmux_xpending_array pa = {(vmux_xpending_entry *)1, 3};
    WRONG(vmux_xpending_range(m, errctx_init(&e), key, g, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 5,
                              VMUX_XID_DEFAULT, 0, &pa));
    assert_null(pa.items);
    ea.count = 3;
    WRONG(vmux_xclaim(m, errctx_init(&e), key, g, c, 0, &id, 1, &ea));
    assert_int_equal(ea.count, 0);
    b.ptr = (char *)"junk";
    ea.count = 3;
    WRONG(vmux_xautoclaim(m, errctx_init(&e), key, g, c, 0, VMUX_XID_DEFAULT, 0, &b, &ea, &del));
    assert_null(b.ptr);
    assert_int_equal(ea.count, 0);
    assert_null(del.items);
    n = 7;
    vmux_stream_trim t = {.kind = VMUX_TRIM_MAXLEN, .maxlen = 1};
    WRONG(vmux_xtrim(m, errctx_init(&e), key, t, &n));
    assert_int_equal(n, 0);
    n = 7;
    WRONG(vmux_xdel(m, errctx_init(&e), key, &id, 1, &n));
    assert_int_equal(n, 0);
    WRONG(vmux_xgroup_setid(m, errctx_init(&e), key, g, id, VMUX_STREAM_UNKNOWN));
    bool created = true;
    WRONG(vmux_xgroup_createconsumer(m, errctx_init(&e), key, g, c, &created));
    assert_false(created);
    n = 7;
    WRONG(vmux_xgroup_delconsumer(m, errctx_init(&e), key, g, c, &n));
    assert_int_equal(n, 0);
    vmux_stream_info info = {.length = 3};
    WRONG(vmux_xinfo_stream(m, errctx_init(&e), key, &info));
    assert_int_equal(info.length, 0);
    vmux_stream_group_info_array ga = {(vmux_stream_group_info *)1, 3};
    WRONG(vmux_xinfo_groups(m, errctx_init(&e), key, &ga));
    assert_null(ga.items);
    vmux_stream_consumer_info_array ca = {(vmux_stream_consumer_info *)1, 3};
    WRONG(vmux_xinfo_consumers(m, errctx_init(&e), key, g, &ca));
    assert_int_equal(ca.count, 0);
#undef WRONG
    ADMIN_EQ("hello", "GET xs:{w}:str");
    ADMIN("DEL xs:{w}:str");
}

static void test_bad_arguments(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("xs:bad"), g = VMUX_STR("g"), c = VMUX_STR("c");
    vmux_str f = VMUX_STR("f"), id = VMUX_STR("0");
    vmux_bytes b = {(char *)"junk", 4};
    vmux_stream_entry_array ea = {(vmux_stream_entry *)1, 3};
    vmux_stream_batch_array ba = {(vmux_stream_batch *)1, 3};
    int64_t n = 5;
    const int bad = VMUX_ERR_INVALID_ARG;

    /* XADD: no pairs, NULL arrays, contradictory or out-of-range trimming. */
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_XID_DEFAULT, &f, &f, 0, NULL, &b), bad);
    assert_null(b.ptr);
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_XID_DEFAULT, NULL, &f, 1, NULL, &b), bad);
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_XID_DEFAULT, &f, NULL, 1, NULL, &b), bad);
    vmux_xadd_opts xo =
        VMUX_INIT(vmux_xadd_opts, .trim = {.kind = VMUX_TRIM_MAXLEN, .maxlen = 5, .limit = 10});
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_XID_DEFAULT, &f, &f, 1, &xo, &b), bad);
    xo.trim = (vmux_stream_trim){.kind = VMUX_TRIM_MAXLEN, .maxlen = -1};
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_XID_DEFAULT, &f, &f, 1, &xo, &b), bad);
    xo.trim = (vmux_stream_trim){.kind = VMUX_TRIM_MINID, .minid = VMUX_XID_DEFAULT};
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_XID_DEFAULT, &f, &f, 1, &xo, &b), bad);
    xo.trim = (vmux_stream_trim){.kind = (vmux_stream_trim_kind)7};
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_XID_DEFAULT, &f, &f, 1, &xo, &b), bad);
    xo.trim = (vmux_stream_trim){.kind = VMUX_TRIM_MAXLEN, .approximate = true, .limit = -1};
    assert_int_equal(vmux_xadd_async(m, NULL, key, VMUX_XID_DEFAULT, &f, &f, 1, &xo, NULL, NULL),
                     bad);
    /* Ranges: negative COUNT. */
    assert_int_equal(vmux_xrange(m, NULL, key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, -1, &ea), bad);
    assert_null(ea.items);
    assert_int_equal(vmux_xrevrange(m, NULL, key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, -1, &ea),
                     bad);
    /* Reads: no streams, block 0 (forever), other negative block times, negative COUNT. */
    assert_int_equal(vmux_xread(m, NULL, &key, &id, 0, 0, VMUX_NO_BLOCK, &ba), bad);
    assert_null(ba.items);
    assert_int_equal(vmux_xread(m, NULL, NULL, &id, 1, 0, VMUX_NO_BLOCK, &ba), bad);
    assert_int_equal(vmux_xread(m, NULL, &key, NULL, 1, 0, VMUX_NO_BLOCK, &ba), bad);
    assert_int_equal(vmux_xread(m, NULL, &key, &id, 1, 0, VMUX_FOREVER, &ba), bad);
    assert_int_equal(vmux_xread(m, NULL, &key, &id, 1, 0, -5, &ba), bad);
    assert_int_equal(vmux_xread(m, NULL, &key, &id, 1, 0, -5, &ba), bad);
    assert_int_equal(vmux_xread(m, NULL, &key, &id, 1, -1, VMUX_NO_BLOCK, &ba), bad);
    assert_int_equal(vmux_xreadgroup(m, NULL, g, c, &key, NULL, 1, NULL, VMUX_FOREVER, &ba), bad);
    assert_int_equal(vmux_xreadgroup(m, NULL, g, c, NULL, NULL, 1, NULL, VMUX_NO_BLOCK, &ba), bad);
    vmux_xreadgroup_opts ro = VMUX_INIT(vmux_xreadgroup_opts, .count = -2);
    assert_int_equal(vmux_xreadgroup(m, NULL, g, c, &key, NULL, 1, &ro, VMUX_NO_BLOCK, &ba), bad);
    /* Id lists. */
    assert_int_equal(vmux_xack(m, NULL, key, g, NULL, 1, &n), bad);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_xack(m, NULL, key, g, &id, 0, &n), bad);
    assert_int_equal(vmux_xack_async(m, NULL, key, g, &id, 0, NULL, NULL), bad);
    assert_int_equal(vmux_xdel(m, NULL, key, &id, 0, &n), bad);
    assert_int_equal(vmux_xclaim(m, NULL, key, g, c, 0, NULL, 1, &ea), bad);
    assert_int_equal(vmux_xclaim(m, NULL, key, g, c, -1, &id, 1, &ea), bad);
    /* Pending and autoclaim bounds. */
    vmux_xpending_array pa = {(vmux_xpending_entry *)1, 3};
    assert_int_equal(vmux_xpending_range(m, NULL, key, g, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 0,
                                         VMUX_XID_DEFAULT, 0, &pa),
                     bad);
    assert_null(pa.items);
    assert_int_equal(vmux_xpending_range(m, NULL, key, g, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 5,
                                         VMUX_XID_DEFAULT, -1, &pa),
                     bad);
    b.ptr = (char *)"junk";
    assert_int_equal(vmux_xautoclaim(m, NULL, key, g, c, -1, VMUX_XID_DEFAULT, 0, &b, NULL, NULL),
                     bad);
    assert_null(b.ptr);
    assert_int_equal(vmux_xautoclaim(m, NULL, key, g, c, 0, VMUX_XID_DEFAULT, -1, NULL, NULL, NULL),
                     bad);
    /* XTRIM needs a rule. */
    n = 5;
    assert_int_equal(vmux_xtrim(m, NULL, key, (vmux_stream_trim){0}, &n), bad);
    assert_int_equal(n, 0);
    /* Nothing reached the server. */
    ADMIN_EQ("0", "EXISTS xs:bad");
}

static void test_nomkstream_and_trimming(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{t}:s xs:{t}:none");
    vmux_str f = VMUX_STR("f"), v = VMUX_STR("v");
    vmux_xadd_opts nomk = VMUX_INIT(vmux_xadd_opts, .nomkstream = true);
    vmux_bytes id = {(char *)"junk", 4};
    assert_int_equal(
        vmux_xadd(m, NULL, VMUX_STR("xs:{t}:none"), VMUX_XID_DEFAULT, &f, &v, 1, &nomk, &id), 0);
    assert_null(id.ptr);
    ADMIN_EQ("0", "EXISTS xs:{t}:none");

    vmux_str key = VMUX_STR("xs:{t}:s");
    char ids[10][16];
    for (int i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof ids[i], "%d-0", i + 1);
        add_f(m, "xs:{t}:s", ids[i], ids[i]);
    }
    /* XADD with an exact MAXLEN keeps the newest entries, the new one included. */
    vmux_xadd_opts keep5 = VMUX_INIT(vmux_xadd_opts, .nomkstream = true,
                                     .trim = {.kind = VMUX_TRIM_MAXLEN, .maxlen = 5});
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_STR("11-0"), &f, &v, 1, &keep5, &id), 0);
    assert_cstr(id, "11-0");
    vmux_bytes_free(&id);
    ADMIN_EQ("5", "XLEN xs:{t}:s");
    ADMIN_EQ("7-0\nf\n7-0", "XRANGE xs:{t}:s - + COUNT 1");
    /* XADD with MINID evicts the lower IDs. */
    vmux_xadd_opts minid =
        VMUX_INIT(vmux_xadd_opts, .trim = {.kind = VMUX_TRIM_MINID, .minid = VMUX_STR("9")});
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_STR("12-0"), &f, &v, 1, &minid, NULL), 0);
    ADMIN_EQ("4", "XLEN xs:{t}:s");
    ADMIN_EQ("9-0\nf\n9-0", "XRANGE xs:{t}:s - + COUNT 1");
    /* Approximate trimming with LIMIT is accepted; it never keeps fewer than asked. */
    vmux_xadd_opts approx = VMUX_INIT(
        vmux_xadd_opts,
        .trim = {.kind = VMUX_TRIM_MAXLEN, .approximate = true, .maxlen = 2, .limit = 100});
    assert_int_equal(vmux_xadd(m, NULL, key, VMUX_STR("13-0"), &f, &v, 1, &approx, NULL), 0);
    int64_t len;
    assert_int_equal(vmux_xlen(m, NULL, key, &len), 0);
    assert_true(len >= 2 && len <= 5);

    /* XTRIM: exact MAXLEN reports what it evicted; then MINID; then nothing left to do. */
    int64_t removed = -1;
    vmux_stream_trim t = {.kind = VMUX_TRIM_MAXLEN, .maxlen = 3};
    assert_int_equal(vmux_xtrim(m, NULL, key, t, &removed), 0);
    assert_int_equal(removed, len - 3);
    ADMIN_EQ("3", "XLEN xs:{t}:s");
    ADMIN_EQ("11-0\nf\nv", "XRANGE xs:{t}:s - + COUNT 1");
    t = (vmux_stream_trim){.kind = VMUX_TRIM_MINID, .minid = VMUX_STR("13-0")};
    assert_int_equal(vmux_xtrim(m, NULL, key, t, &removed), 0);
    assert_int_equal(removed, 2);
    assert_int_equal(vmux_xtrim(m, NULL, key, t, &removed), 0);
    assert_int_equal(removed, 0);
    t = (vmux_stream_trim){.kind = VMUX_TRIM_MAXLEN, .approximate = true, .maxlen = 0, .limit = 10};
    assert_int_equal(vmux_xtrim(m, NULL, key, t, NULL), 0);
    assert_int_equal(vmux_xlen(m, NULL, key, &len), 0);
    assert_true(len <= 1);
    ADMIN("DEL xs:{t}:s");
}

static void test_xdel(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{d}:s");
    add_f(m, "xs:{d}:s", "1-0", "a");
    add_f(m, "xs:{d}:s", "2-0", "b");
    add_f(m, "xs:{d}:s", "3-0", "c");
    vmux_str key = VMUX_STR("xs:{d}:s");
    vmux_str ids[] = {VMUX_STR("1-0"), VMUX_STR("3-0"), VMUX_STR("9-0")};
    int64_t deleted = -1;
    assert_int_equal(vmux_xdel(m, NULL, key, ids, 3, &deleted), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(vmux_xdel(m, NULL, key, ids, 3, &deleted), 0);
    assert_int_equal(deleted, 0);
    ADMIN_EQ("2-0\nf\nb", "XRANGE xs:{d}:s - +");
    ADMIN("DEL xs:{d}:s");
}

static void test_xread_several_streams(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{x}:a xs:{x}:b xs:{x}:c");
    add_f(m, "xs:{x}:a", "1-0", "a1");
    add_f(m, "xs:{x}:a", "2-0", "a2");
    add_f(m, "xs:{x}:a", "3-0", "a3");
    add_f(m, "xs:{x}:b", "5-0", "b5");
    vmux_str keys[] = {VMUX_STR("xs:{x}:a"), VMUX_STR("xs:{x}:c"), VMUX_STR("xs:{x}:b")};
    vmux_str ids[] = {VMUX_STR("1-0"), VMUX_STR("0"), VMUX_STR("0")};
    vmux_stream_batch_array got;
    /* After 1-0 in a, everything in b, nothing in the missing c; COUNT caps each stream. */
    assert_int_equal(vmux_xread(m, NULL, keys, ids, 3, 1, VMUX_NO_BLOCK, &got), 0);
    assert_int_equal(got.count, 2);
    assert_cstr(got.items[0].key, "xs:{x}:a");
    assert_int_equal(got.items[0].entries.count, 1);
    assert_f(&got.items[0].entries.items[0], "2-0", "a2");
    assert_cstr(got.items[1].key, "xs:{x}:b");
    assert_f(&got.items[1].entries.items[0], "5-0", "b5");
    vmux_stream_batch_array_free(&got);
    assert_int_equal(vmux_xread(m, NULL, keys, ids, 3, 0, VMUX_NO_BLOCK, &got), 0);
    assert_int_equal(got.items[0].entries.count, 2);
    vmux_stream_batch_array_free(&got);
    /* "$" without blocking: nothing is newer than now. */
    vmux_str dollar[] = {VMUX_STR("$"), VMUX_STR("$"), VMUX_STR("$")};
    assert_int_equal(vmux_xread(m, NULL, keys, dollar, 3, 0, VMUX_NO_BLOCK, &got), 0);
    assert_int_equal(got.count, 0);
    assert_int_equal(vmux_xread(m, NULL, keys, ids, 3, 0, VMUX_NO_BLOCK, NULL), 0);
    ADMIN("DEL xs:{x}:a xs:{x}:b");
}

static void test_xread_several_streams_blocking(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{x}:a xs:{x}:b xs:{x}:c");
    add_f(m, "xs:{x}:a", "1-0", "a1");
    add_f(m, "xs:{x}:a", "2-0", "a2");
    add_f(m, "xs:{x}:b", "5-0", "b5");
    vmux_str keys[] = {VMUX_STR("xs:{x}:a"), VMUX_STR("xs:{x}:c"), VMUX_STR("xs:{x}:b")};
    vmux_str ids[] = {VMUX_STR("1-0"), VMUX_STR("0"), VMUX_STR("0")};
    vmux_str dollar[] = {VMUX_STR("$"), VMUX_STR("$"), VMUX_STR("$")};
    vmux_stream_batch_array got;
    /* Blocking with data already there answers at once, on the blocking pool. */
    assert_int_equal(vmux_xread(m, NULL, keys, ids, 3, 0, 10000, &got), 0);
    assert_int_equal(got.count, 2);
    vmux_stream_batch_array_free(&got);
    /* A short block that runs out gives nothing, not an error: the deadline covers the block,
     * even when the caller's own timeout is shorter than it. (After the call above, so that the
     * pool's connection is already open: opening it is not what the 500 ms are for. 100 ms of
     * slack were too few once, on a loaded machine in a cluster rerun.) */
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 500);
    assert_int_equal(vmux_xread(m, &quick, keys, dollar, 3, 0, 1000, &got), 0);
    assert_int_equal(got.count, 0);
    assert_null(got.items);
    assert_int_equal(vmux_xread(m, NULL, keys, ids, 3, 0, VMUX_NO_BLOCK, NULL), 0);
    ADMIN("DEL xs:{x}:a xs:{x}:b");
}

/* A reading thread: XREAD or XREADGROUP (when group is set) with a block time. */
static void *read_thread(void *arg);

struct reader {
    vmux *m;
    const char *key;
    const char *group;
    int64_t block_ms;
    bool generic; /* XREAD through vmux_call(), marked VMUX_CALL_RETRY_SAFE: got stays empty */
    int rc;
    vmux_stream_batch_array got;
    atomic_bool done;
};

/*
 * Starts read_thread on a copy of want on the heap: if the test fails before it joins, the
 * thread still writes to live memory (a reader on the test's stack would write into whatever
 * the failed test's frame became).
 */
static struct reader *start_reader(struct reader want, pthread_t *t)
{
    struct reader *r = malloc(sizeof *r);
    assert_non_null(r);
    *r = want;
    assert_int_equal(pthread_create(t, NULL, read_thread, r), 0);
    return r;
}

static void *read_thread(void *arg)
{
    struct reader *r = arg;
    vmux_str key = VMUX_STR(r->key);
    if (r->group != NULL) {
        r->rc = vmux_xreadgroup(r->m, NULL, VMUX_STR(r->group), VMUX_STR("waiter"), &key, NULL, 1,
                                NULL, r->block_ms, &r->got);
    } else if (r->generic) {
        char block[24];
        snprintf(block, sizeof block, "%lld", (long long)r->block_ms);
        const char *argv[] = {"XREAD", "BLOCK", block, "STREAMS", r->key, "$"};
        vmux_callopts o = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
        vmux_reply *reply = NULL;
        r->rc = vmux_call(r->m, &o, 6, argv, NULL, &reply);
        vmux_reply_free(reply);
    } else {
        vmux_str id = VMUX_STR("$");
        r->rc = vmux_xread(r->m, NULL, &key, &id, 1, 0, r->block_ms, &r->got);
    }
    atomic_store(&r->done, true);
    return NULL;
}

/* True when the server (a primary of a cluster) holds a client blocked in the command arg names. */
static bool blocked_in(void *arg)
{
    char want[64];
    snprintf(want, sizeof want, " cmd=%s ", (const char *)arg);
    char *list = vt_admin_all("plain", "CLIENT LIST");
    bool found = false;
    for (char *line = list; line != NULL && *line != '\0' && !found;) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        const char *flags = strstr(line, " flags=");
        size_t nflags = flags != NULL ? strcspn(flags + 7, " ") : 0;
        /* "b" among the flags: blocked */
        found = flags != NULL && memchr(flags + 7, 'b', nflags) != NULL && strstr(line, want);
        line = end != NULL ? end + 1 : NULL;
    }
    free(list);
    return found;
}

/* A CLIENT LIST field ("addr", "flags") of a client blocked in XREAD, from every primary;
 * "" when none is. */
static void blocked_reader_field(const char *field, char *out, size_t size)
{
    char want[32];
    snprintf(want, sizeof want, " %s=", field);
    out[0] = '\0';
    char *list = vt_admin_all("plain", "CLIENT LIST");
    for (char *line = list; line != NULL && *line != '\0' && out[0] == '\0';) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        const char *at = strstr(line, want);
        if (at != NULL && strstr(line, " cmd=xread ") != NULL && strstr(line, " flags=b") != NULL)
            snprintf(out, size, "%.*s", (int)strcspn(at + strlen(want), " "), at + strlen(want));
        line = end != NULL ? end + 1 : NULL;
    }
    free(list);
}

/*
 * key (emptied) holds one old entry, and a reader thread (*t) blocks on it in XREAD from "$"
 * (through vmux_call() when generic).
 */
static struct reader *reader_blocked_on(vmux *m, const char *key, bool generic, pthread_t *t)
{
    ADMIN("DEL %s", key);
    add_f(m, key, "1-0", "old");
    struct reader *r =
        start_reader((struct reader){.m = m, .key = key, .block_ms = 20000, .generic = generic}, t);
    assert_true(vt_wait_until(blocked_in, "xread", 15000));
    return r;
}

static void test_xread_block_woken_by_xadd(void **state)
{
    vmux *m = *state;
    pthread_t t;
    struct reader *r = reader_blocked_on(m, "xs:{blk}:r", false, &t);
    /* Its pool connection is not READONLY, also on a cluster: a replica would answer it MOVED,
     * not hold it (a primary restarted as a replica, with the read routed to it before). */
    char flags[32];
    blocked_reader_field("flags", flags, sizeof flags);
    assert_null(strchr(flags, 'r'));
    /* The shared connection is free while the reader waits on its own. */
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 3000);
    int64_t len = 0;
    assert_int_equal(vmux_xlen(m, &o, VMUX_STR("xs:{blk}:r"), &len), 0);
    assert_int_equal(len, 1);
    assert_false(atomic_load(&r->done));
    vmux_str f = VMUX_STR("f"), v = VMUX_STRN("new\0", 4);
    assert_int_equal(
        vmux_xadd(m, NULL, VMUX_STR("xs:{blk}:r"), VMUX_STR("2-0"), &f, &v, 1, NULL, NULL), 0);
    pthread_join(t, NULL);
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->got.count, 1);
    assert_cstr(r->got.items[0].key, "xs:{blk}:r");
    /* The reader woke for the entry added after "$", never the old one. */
    vmux_str kv[] = {f, v};
    assert_int_equal(r->got.items[0].entries.count, 1);
    assert_entry(&r->got.items[0].entries.items[0], "2-0", kv, 2);
    vmux_stream_batch_array_free(&r->got);
    free(r);
    ADMIN("DEL xs:{blk}:r");
}

/*
 * A blocking XREAD from "$" is not sent again after its connection broke: a resend would wait from
 * its own "now", past an entry added in between, and succeed without it. It fails
 * VMUX_ERR_CONNECTION_LOST instead, so the caller can read on from the last ID it has. So does
 * the same XREAD through vmux_call() marked VMUX_CALL_RETRY_SAFE (the classifier's
 * VMUX_OP_FROM_NOW wins).
 */
static void test_xread_from_now_not_resent(void **state)
{
    vmux *m = *state;
    for (int generic = 0; generic <= 1; generic++) {
        pthread_t t;
        struct reader *r = reader_blocked_on(m, "xs:{blk}:k", generic, &t);
        char addr[64];
        blocked_reader_field("addr", addr, sizeof addr);
        assert_true(addr[0] != '\0');
        free(vt_admin_all("plain", "CLIENT KILL ADDR %s", addr));
        add_f(m, "xs:{blk}:k", "2-0", "between");
        if (generic) /* sent again, it would wait past both for a third */
            add_f(m, "xs:{blk}:k", "3-0", "after");
        pthread_join(t, NULL);
        if (r->rc != VMUX_ERR_CONNECTION_LOST)
            fail_msg("%s: %s", generic ? "vmux_call()" : "vmux_xread()", vmux_err_name(r->rc));
        assert_int_equal(r->got.count, 0);
        free(r);
        ADMIN("DEL xs:{blk}:k");
    }
}

static void test_xreadgroup_block_woken_by_xadd(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{blk}:g");
    vmux_str key = VMUX_STR("xs:{blk}:g"), g = VMUX_STR("grp");
    assert_int_equal(vmux_xgroup_create(m, NULL, key, g, VMUX_XID_DEFAULT, true), 0);
    pthread_t t;
    struct reader *r = start_reader(
        (struct reader){.m = m, .key = "xs:{blk}:g", .group = "grp", .block_ms = 20000}, &t);
    assert_true(vt_wait_until(blocked_in, "xreadgroup", 15000));
    add_f(m, "xs:{blk}:g", "1-0", "for the waiter");
    pthread_join(t, NULL);
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->got.count, 1);
    assert_int_equal(r->got.items[0].entries.count, 1);
    assert_f(&r->got.items[0].entries.items[0], "1-0", "for the waiter");
    vmux_stream_batch_array_free(&r->got);
    free(r);
    /* It is now pending for the waiter. */
    vmux_xpending_summary s;
    assert_int_equal(vmux_xpending(m, NULL, key, g, &s), 0);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.nconsumers, 1);
    assert_cstr(s.consumers[0].name, "waiter");
    vmux_xpending_summary_free(&s);
    /* A block that runs out leaves nothing. */
    vmux_stream_batch_array none;
    assert_int_equal(
        vmux_xreadgroup(m, NULL, g, VMUX_STR("waiter"), &key, NULL, 1, NULL, 50, &none), 0);
    assert_int_equal(none.count, 0);
    ADMIN("DEL xs:{blk}:g");
}

/* Reads one batch from key as consumer of grp (">" unless id is given). */
static vmux_stream_batch_array group_read(vmux *m, const char *consumer, const char *id,
                                          int64_t count, bool noack)
{
    vmux_str key = VMUX_STR("xs:{g}:s");
    vmux_str ids[] = {VMUX_STR(id != NULL ? id : ">")};
    vmux_xreadgroup_opts ro = VMUX_INIT(vmux_xreadgroup_opts, .count = count, .noack = noack);
    vmux_stream_batch_array got;
    assert_int_equal(vmux_xreadgroup(m, NULL, VMUX_STR("grp"), VMUX_STR(consumer), &key,
                                     id != NULL ? ids : NULL, 1, &ro, VMUX_NO_BLOCK, &got),
                     0);
    return got;
}

static void test_consumer_group_flow(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{g}:s");
    vmux_str key = VMUX_STR("xs:{g}:s"), g = VMUX_STR("grp");
    struct errctx e;
    /* MKSTREAM makes the stream; a second CREATE is BUSYGROUP. */
    assert_int_equal(vmux_xgroup_create(m, NULL, key, g, VMUX_XID_DEFAULT, true), 0);
    ADMIN_EQ("stream", "TYPE xs:{g}:s");
    assert_int_equal(vmux_xgroup_create(m, errctx_init(&e), key, g, VMUX_STR("0"), false),
                     VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "BUSYGROUP"));
    const char *ids[] = {"1-0", "2-0", "3-0", "4-0", "5-0"};
    for (int i = 0; i < 5; i++)
        add_f(m, "xs:{g}:s", ids[i], ids[i]);

    /* alice takes three new entries, bob the other two. */
    vmux_stream_batch_array a = group_read(m, "alice", NULL, 3, false);
    assert_int_equal(a.count, 1);
    assert_int_equal(a.items[0].entries.count, 3);
    assert_f(&a.items[0].entries.items[0], "1-0", "1-0");
    assert_f(&a.items[0].entries.items[2], "3-0", "3-0");
    vmux_stream_batch_array_free(&a);
    vmux_stream_batch_array b = group_read(m, "bob", NULL, 0, false);
    assert_int_equal(b.items[0].entries.count, 2);
    assert_f(&b.items[0].entries.items[0], "4-0", "4-0");
    vmux_stream_batch_array_free(&b);
    vmux_stream_batch_array none = group_read(m, "bob", NULL, 0, false);
    assert_int_equal(none.count, 0);

    /* The summary: five pending, 1-0 to 5-0, alice 3 and bob 2. */
    vmux_xpending_summary s;
    assert_int_equal(vmux_xpending(m, NULL, key, g, &s), 0);
    assert_int_equal(s.count, 5);
    assert_cstr(s.first_id, "1-0");
    assert_cstr(s.last_id, "5-0");
    assert_int_equal(s.nconsumers, 2);
    assert_cstr(s.consumers[0].name, "alice");
    assert_int_equal(s.consumers[0].pending, 3);
    assert_cstr(s.consumers[1].name, "bob");
    assert_int_equal(s.consumers[1].pending, 2);
    vmux_xpending_summary_free(&s);

    /* alice acknowledges two (one twice, which counts once) and one that is bob's... */
    vmux_str ack[] = {VMUX_STR("1-0"), VMUX_STR("2-0"), VMUX_STR("1-0")};
    int64_t acked = -1;
    assert_int_equal(vmux_xack(m, NULL, key, g, ack, 3, &acked), 0);
    assert_int_equal(acked, 2);
    assert_int_equal(vmux_xack(m, NULL, key, g, ack, 2, &acked), 0);
    assert_int_equal(acked, 0);
    ADMIN_EQ("3\n3-0\n5-0\nalice\n1\nbob\n2", "XPENDING xs:{g}:s grp");

    /* The extended form: alice's entry, delivered once; bob's two with a COUNT of 1. */
    vmux_xpending_array p;
    assert_int_equal(vmux_xpending_range(m, NULL, key, g, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 10,
                                         VMUX_STR("alice"), 0, &p),
                     0);
    assert_int_equal(p.count, 1);
    assert_cstr(p.items[0].id, "3-0");
    assert_cstr(p.items[0].consumer, "alice");
    assert_int_equal(p.items[0].deliveries, 1);
    assert_true(p.items[0].idle_ms >= 0);
    vmux_xpending_array_free(&p);
    assert_int_equal(vmux_xpending_range(m, NULL, key, g, VMUX_STR("4-0"), VMUX_XID_DEFAULT, 1,
                                         VMUX_XID_DEFAULT, 0, &p),
                     0);
    assert_int_equal(p.count, 1);
    assert_cstr(p.items[0].id, "4-0");
    assert_cstr(p.items[0].consumer, "bob");
    vmux_xpending_array_free(&p);
    /* Nothing has been idle for an hour. */
    assert_int_equal(vmux_xpending_range(m, NULL, key, g, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 10,
                                         VMUX_XID_DEFAULT, 3600000, &p),
                     0);
    assert_int_equal(p.count, 0);
    assert_null(p.items); /* an empty result holds no memory */
    vmux_xpending_array_free(&p);

    /* alice reads her own history again: one more delivery of 3-0. */
    vmux_stream_batch_array h = group_read(m, "alice", "0", 0, false);
    assert_int_equal(h.items[0].entries.count, 1);
    assert_f(&h.items[0].entries.items[0], "3-0", "3-0");
    vmux_stream_batch_array_free(&h);
    ADMIN_EQ("3-0\nalice\n2", "EVAL %s 1 xs:{g}:s",
             "local p = redis.call('XPENDING', KEYS[1], 'grp', '-', '+', 1, 'alice')[1] "
             "return p[1] .. '\\n' .. p[2] .. '\\n' .. p[4]");

    /* carol claims alice's entry (idle at least 0 ms); an hour's idleness claims nothing. */
    vmux_str stale[] = {VMUX_STR("3-0"), VMUX_STR("4-0")};
    vmux_stream_entry_array claimed;
    assert_int_equal(vmux_xclaim(m, NULL, key, g, VMUX_STR("carol"), 3600000, stale, 2, &claimed),
                     0);
    assert_int_equal(claimed.count, 0);
    assert_null(claimed.items);
    vmux_stream_entry_array_free(&claimed);
    assert_int_equal(vmux_xclaim(m, NULL, key, g, VMUX_STR("carol"), 0, stale, 1, &claimed), 0);
    assert_int_equal(claimed.count, 1);
    assert_f(&claimed.items[0], "3-0", "3-0");
    vmux_stream_entry_array_free(&claimed);
    ADMIN_EQ("3\n3-0\n5-0\nbob\n2\ncarol\n1", "XPENDING xs:{g}:s grp");

    /* An entry deleted while pending: XAUTOCLAIM reports it as deleted, claims the rest. */
    ADMIN("XDEL xs:{g}:s 4-0");
    vmux_bytes next;
    vmux_bytes_array deleted;
    assert_int_equal(vmux_xautoclaim(m, NULL, key, g, VMUX_STR("dave"), 0, VMUX_XID_DEFAULT, 1,
                                     &next, &claimed, &deleted),
                     0);
    assert_cstr(next, "4-0"); /* COUNT 1: it looked at 3-0 only */
    assert_int_equal(claimed.count, 1);
    assert_f(&claimed.items[0], "3-0", "3-0");
    assert_int_equal(deleted.count, 0);
    vmux_stream_entry_array_free(&claimed);
    vmux_bytes_array_free(&deleted);
    vmux_bytes cursor = next;
    assert_int_equal(vmux_xautoclaim(m, NULL, key, g, VMUX_STR("dave"), 0,
                                     VMUX_STRN(cursor.ptr, cursor.len), 0, &next, &claimed,
                                     &deleted),
                     0);
    vmux_bytes_free(&cursor);
    assert_cstr(next, "0-0"); /* the scan is complete */
    assert_int_equal(claimed.count, 1);
    assert_f(&claimed.items[0], "5-0", "5-0");
    assert_int_equal(deleted.count, 1);
    assert_cstr(deleted.items[0], "4-0");
    vmux_bytes_free(&next);
    vmux_stream_entry_array_free(&claimed);
    vmux_bytes_array_free(&deleted);
    ADMIN_EQ("2\n3-0\n5-0\ndave\n2", "XPENDING xs:{g}:s grp");
    assert_int_equal(vmux_xautoclaim(m, NULL, key, g, VMUX_STR("erin"), 0, VMUX_XID_DEFAULT, 0,
                                     NULL, NULL, NULL),
                     0);
    ADMIN_EQ("2\n3-0\n5-0\nerin\n2", "XPENDING xs:{g}:s grp");

    /* NOACK: delivered, never pending. */
    add_f(m, "xs:{g}:s", "6-0", "six");
    vmux_stream_batch_array n = group_read(m, "frank", NULL, 0, true);
    assert_f(&n.items[0].entries.items[0], "6-0", "six");
    vmux_stream_batch_array_free(&n);
    ADMIN_EQ("2", "EVAL %s 1 xs:{g}:s", "return redis.call('XPENDING', KEYS[1], 'grp')[1]");

    /* Nothing pending: the summary's IDs are nil. */
    vmux_str rest[] = {VMUX_STR("3-0"), VMUX_STR("5-0")};
    assert_int_equal(vmux_xack(m, NULL, key, g, rest, 2, NULL), 0);
    assert_int_equal(vmux_xpending(m, NULL, key, g, &s), 0);
    assert_int_equal(s.count, 0);
    assert_null(s.first_id.ptr);
    assert_null(s.last_id.ptr);
    assert_int_equal(s.nconsumers, 0);
    vmux_xpending_summary_free(&s);
    assert_int_equal(vmux_xpending(m, NULL, key, g, NULL), 0);

    /* DESTROY says whether the group was there. */
    bool destroyed = false;
    assert_int_equal(vmux_xgroup_destroy(m, NULL, key, g, &destroyed), 0);
    assert_true(destroyed);
    assert_int_equal(vmux_xgroup_destroy(m, NULL, key, g, &destroyed), 0);
    assert_false(destroyed);
    ADMIN_EQ("", "XINFO GROUPS xs:{g}:s");
    ADMIN("DEL xs:{g}:s");
}

static void test_history_of_deleted_entry(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{h}:s");
    vmux_str key = VMUX_STR("xs:{h}:s"), g = VMUX_STR("grp");
    add_f(m, "xs:{h}:s", "1-0", "one");
    add_f(m, "xs:{h}:s", "2-0", "two");
    assert_int_equal(vmux_xgroup_create(m, NULL, key, g, VMUX_STR("0"), false), 0);
    vmux_stream_batch_array got;
    assert_int_equal(
        vmux_xreadgroup(m, NULL, g, VMUX_STR("c"), &key, NULL, 1, NULL, VMUX_NO_BLOCK, &got), 0);
    vmux_stream_batch_array_free(&got);
    ADMIN("XDEL xs:{h}:s 1-0");
    /* Reading the pending history shows the deleted entry with no fields. */
    vmux_str zero = VMUX_STR("0");
    assert_int_equal(
        vmux_xreadgroup(m, NULL, g, VMUX_STR("c"), &key, &zero, 1, NULL, VMUX_NO_BLOCK, &got), 0);
    assert_int_equal(got.items[0].entries.count, 2);
    assert_cstr(got.items[0].entries.items[0].id, "1-0");
    assert_int_equal(got.items[0].entries.items[0].fields.count, 0);
    assert_f(&got.items[0].entries.items[1], "2-0", "two");
    vmux_stream_batch_array_free(&got);
    /* XCLAIM drops it from the pending list and returns only the live one. */
    vmux_str both[] = {VMUX_STR("1-0"), VMUX_STR("2-0")};
    vmux_stream_entry_array claimed;
    assert_int_equal(vmux_xclaim(m, NULL, key, g, VMUX_STR("d"), 0, both, 2, &claimed), 0);
    assert_int_equal(claimed.count, 1);
    assert_f(&claimed.items[0], "2-0", "two");
    vmux_stream_entry_array_free(&claimed);
    assert_int_equal(vmux_xclaim(m, NULL, key, g, VMUX_STR("d"), 0, both, 2, NULL), 0);
    ADMIN_EQ("1", "EVAL %s 1 xs:{h}:s", "return redis.call('XPENDING', KEYS[1], 'grp')[1]");
    ADMIN("DEL xs:{h}:s");
}

/* What an async callback saw. */
struct done {
    atomic_bool fired;
    int status;
    int conv;
    vmux_bytes id;
    int64_t n;
    vmux_stream_entry_array entries;
};

static void on_id(int status, vmux_reply *reply, void *userdata)
{
    struct done *d = userdata;
    d->status = status;
    d->conv = status == 0 ? vmux_reply_to_bytes(reply, &d->id) : status;
    vmux_reply_free(reply);
    atomic_store(&d->fired, true);
}

static void on_int(int status, vmux_reply *reply, void *userdata)
{
    struct done *d = userdata;
    d->status = status;
    d->conv = status == 0 ? vmux_reply_to_int(reply, &d->n) : status;
    vmux_reply_free(reply);
    atomic_store(&d->fired, true);
}

static void on_entries(int status, vmux_reply *reply, void *userdata)
{
    struct done *d = userdata;
    d->status = status;
    d->conv = vmux_reply_to_stream_entries(reply, &d->entries);
    vmux_reply_free(reply);
    atomic_store(&d->fired, true);
}

static bool fired(void *arg)
{
    return atomic_load(&((struct done *)arg)->fired);
}

static void test_async(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{a}:s xs:{a}:str");
    ADMIN("SET xs:{a}:str x");
    vmux_str key = VMUX_STR("xs:{a}:s"), g = VMUX_STR("grp");
    vmux_str f = VMUX_STR("f"), v = VMUX_STR("async");
    struct done d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};
    assert_int_equal(vmux_xadd_async(m, NULL, key, VMUX_STR("1-1"), &f, &v, 1, NULL, on_id, &d1),
                     0);
    assert_true(vt_wait_until(fired, &d1, 10000));
    assert_int_equal(d1.status, 0);
    assert_int_equal(d1.conv, 0);
    assert_cstr(d1.id, "1-1");
    vmux_bytes_free(&d1.id);

    assert_int_equal(
        vmux_xrange_async(m, NULL, key, VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 0, on_entries, &d2), 0);
    assert_true(vt_wait_until(fired, &d2, 10000));
    assert_int_equal(d2.conv, 0);
    assert_int_equal(d2.entries.count, 1);
    assert_f(&d2.entries.items[0], "1-1", "async");
    vmux_stream_entry_array_free(&d2.entries);

    assert_int_equal(vmux_xgroup_create(m, NULL, key, g, VMUX_STR("0"), false), 0);
    vmux_stream_batch_array got;
    assert_int_equal(
        vmux_xreadgroup(m, NULL, g, VMUX_STR("c"), &key, NULL, 1, NULL, VMUX_NO_BLOCK, &got), 0);
    vmux_stream_batch_array_free(&got);
    vmux_str id = VMUX_STR("1-1");
    assert_int_equal(vmux_xack_async(m, NULL, key, g, &id, 1, on_int, &d3), 0);
    assert_true(vt_wait_until(fired, &d3, 10000));
    assert_int_equal(d3.conv, 0);
    assert_int_equal(d3.n, 1);

    /* A server error reaches the callback and the converter reports it. */
    assert_int_equal(vmux_xrange_async(m, NULL, VMUX_STR("xs:{a}:str"), VMUX_XID_DEFAULT,
                                       VMUX_XID_DEFAULT, 0, on_entries, &d4),
                     0);
    assert_true(vt_wait_until(fired, &d4, 10000));
    assert_int_equal(d4.status, VMUX_ERR_SERVER);
    assert_int_equal(d4.conv, VMUX_ERR_SERVER);
    assert_null(d4.entries.items);
    ADMIN("DEL xs:{a}:s xs:{a}:str");
}

/* ---- XINFO and the XGROUP consumer commands ---- */

/* Commands m has submitted so far: a refusal leaves the count as it was (nothing sent). */
static uint64_t submitted(vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    return st.submitted;
}

/* A reply's text as vt_admin() prints it: one line per value, nested arrays flattened. */
struct text {
    char buf[4096];
    size_t len;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    assert_true(t->len + n + 2 < sizeof t->buf);
    if (t->len > 0)
        t->buf[t->len++] = '\n';
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

static void text_bytes(struct text *t, vmux_bytes b)
{
    if (b.ptr == NULL)
        text_str(t, "(nil)");
    else
        text_add(t, b.ptr, b.len);
}

/* n, or "(nil)" for VMUX_STREAM_UNKNOWN where nil stands for it. */
static void text_int(struct text *t, int64_t n, bool nil_if_unknown)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)n);
    text_str(t, nil_if_unknown && n == VMUX_STREAM_UNKNOWN ? "(nil)" : s);
}

static void text_field(struct text *t, const char *name, int64_t n, bool nil_if_unknown)
{
    text_str(t, name);
    text_int(t, n, nil_if_unknown);
}

static void text_entry(struct text *t, const vmux_stream_entry *e)
{
    text_bytes(t, e->id);
    for (size_t i = 0; i < e->fields.count; i++)
        text_bytes(t, e->fields.items[i]);
}

/* info as Valkey 8 orders XINFO STREAM's fields. */
static void text_info(struct text *t, const vmux_stream_info *info)
{
    text_field(t, "length", info->length, false);
    text_field(t, "radix-tree-keys", info->radix_tree_keys, false);
    text_field(t, "radix-tree-nodes", info->radix_tree_nodes, false);
    text_str(t, "last-generated-id");
    text_bytes(t, info->last_generated_id);
    text_str(t, "max-deleted-entry-id");
    text_bytes(t, info->max_deleted_entry_id);
    text_field(t, "entries-added", info->entries_added, false);
    text_str(t, "recorded-first-entry-id");
    text_bytes(t, info->recorded_first_entry_id);
    text_field(t, "groups", info->groups, false);
    text_str(t, "first-entry");
    text_entry(t, &info->first_entry);
    text_str(t, "last-entry");
    text_entry(t, &info->last_entry);
}

static void text_groups(struct text *t, const vmux_stream_group_info_array *a)
{
    for (size_t i = 0; i < a->count; i++) {
        const vmux_stream_group_info *g = &a->items[i];
        text_str(t, "name");
        text_bytes(t, g->name);
        text_field(t, "consumers", g->consumers, false);
        text_field(t, "pending", g->pending, false);
        text_str(t, "last-delivered-id");
        text_bytes(t, g->last_delivered_id);
        text_field(t, "entries-read", g->entries_read, true);
        text_field(t, "lag", g->lag, true);
    }
}

/* XINFO STREAM key through m, and its text against the server's own reply to it. */
static void xinfo_stream_as_server(vmux *m, const char *key, vmux_stream_info *info)
{
    assert_int_equal(vmux_xinfo_stream(m, NULL, VMUX_STR(key), info), 0);
    struct text t = {0};
    text_info(&t, info);
    ADMIN_EQ(t.buf, "XINFO STREAM %s", key);
}

/* XINFO GROUPS key through m, and its text against the server's own reply to it. */
static void xinfo_groups_as_server(vmux *m, const char *key, vmux_stream_group_info_array *a)
{
    assert_int_equal(vmux_xinfo_groups(m, NULL, VMUX_STR(key), a), 0);
    struct text t = {0};
    text_groups(&t, a);
    ADMIN_EQ(t.buf, "XINFO GROUPS %s", key);
}

static void test_xinfo_stream(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{i}:s");
    ADMIN("XADD xs:{i}:s 1-1 a 1");
    ADMIN("XADD xs:{i}:s 2-1 b 2 c 3");
    ADMIN("XADD xs:{i}:s 3-1 d 4");
    ADMIN("XDEL xs:{i}:s 3-1"); /* the last entry deleted: last-generated-id stays 3-1 */
    ADMIN("XGROUP CREATE xs:{i}:s g 0");
    vmux_stream_info info;
    xinfo_stream_as_server(m, "xs:{i}:s", &info);
    assert_int_equal(info.length, 2);
    assert_int_equal(info.groups, 1);
    assert_int_equal(info.entries_added, 3);
    assert_true(info.radix_tree_keys >= 1 && info.radix_tree_nodes >= 1);
    assert_cstr(info.last_generated_id, "3-1");
    assert_cstr(info.max_deleted_entry_id, "3-1");
    assert_cstr(info.recorded_first_entry_id, "1-1");
    vmux_str first[] = {VMUX_STR("a"), VMUX_STR("1")};
    vmux_str last[] = {VMUX_STR("b"), VMUX_STR("2"), VMUX_STR("c"), VMUX_STR("3")};
    assert_entry(&info.first_entry, "1-1", first, 2);
    assert_entry(&info.last_entry, "2-1", last, 4);
    vmux_stream_info_free(&info);
    assert_null(info.last_generated_id.ptr);
    assert_int_equal(vmux_xinfo_stream(m, NULL, VMUX_STR("xs:{i}:s"), NULL), 0); /* dropped */

    /* Every entry deleted: no first or last entry, the counts of what was. */
    ADMIN("XDEL xs:{i}:s 1-1 2-1");
    xinfo_stream_as_server(m, "xs:{i}:s", &info);
    assert_int_equal(info.length, 0);
    assert_int_equal(info.entries_added, 3);
    assert_cstr(info.max_deleted_entry_id, "3-1");
    assert_null(info.first_entry.id.ptr);
    assert_int_equal(info.first_entry.fields.count, 0);
    assert_null(info.last_entry.id.ptr);
    vmux_stream_info_free(&info);

    /* A stream never written to (MKSTREAM). */
    ADMIN("DEL xs:{i}:s");
    ADMIN("XGROUP CREATE xs:{i}:s g $ MKSTREAM");
    xinfo_stream_as_server(m, "xs:{i}:s", &info);
    assert_int_equal(info.entries_added, 0);
    assert_cstr(info.last_generated_id, "0-0");
    vmux_stream_info_free(&info);

    /* A missing key is the server's error, unlike XLEN's 0. */
    ADMIN("DEL xs:{i}:s");
    struct errctx e;
    info.length = 9;
    info.last_generated_id = (vmux_bytes){(char *)"junk", 4};
    assert_int_equal(vmux_xinfo_stream(m, errctx_init(&e), VMUX_STR("xs:{i}:s"), &info),
                     VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "no such key"));
    assert_int_equal(info.length, 0);
    assert_null(info.last_generated_id.ptr);
}

static void test_xinfo_groups(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{i}:g");
    ADMIN("XADD xs:{i}:g 1-0 f 1");
    vmux_stream_group_info_array a = {(vmux_stream_group_info *)1, 3};
    xinfo_groups_as_server(m, "xs:{i}:g", &a); /* no group yet */
    assert_int_equal(a.count, 0);
    assert_null(a.items);
    ADMIN("XADD xs:{i}:g 2-0 f 2");
    ADMIN("XADD xs:{i}:g 3-0 f 3");
    /* "all" read one of three, with no deletion: entries-read 1, lag 2, one pending. */
    ADMIN("XGROUP CREATE xs:{i}:g all 0");
    ADMIN("XREADGROUP GROUP all alice COUNT 1 STREAMS xs:{i}:g >");
    /* "now" starts after the last entry; "holed" reads past a deleted entry (lag unknown). */
    ADMIN("XGROUP CREATE xs:{i}:g now $");
    ADMIN("XGROUP CREATE xs:{i}:g holed 0");
    ADMIN("XDEL xs:{i}:g 2-0");
    ADMIN("XREADGROUP GROUP holed bob COUNT 1 STREAMS xs:{i}:g >");
    xinfo_groups_as_server(m, "xs:{i}:g", &a);
    assert_int_equal(a.count, 3);
    assert_cstr(a.items[0].name, "all");
    assert_int_equal(a.items[0].consumers, 1);
    assert_int_equal(a.items[0].pending, 1);
    assert_cstr(a.items[0].last_delivered_id, "1-0");
    assert_int_equal(a.items[0].entries_read, 1);
    assert_int_equal(a.items[0].lag, VMUX_STREAM_UNKNOWN); /* the deletion hides it now */
    assert_cstr(a.items[1].name, "holed");                 /* the server's order: by name */
    assert_int_equal(a.items[1].pending, 1);
    assert_cstr(a.items[2].name, "now");
    assert_int_equal(a.items[2].pending, 0);
    vmux_stream_group_info_array_free(&a);

    /* Missing key: the server's error, the array zeroed. */
    struct errctx e;
    a = (vmux_stream_group_info_array){(vmux_stream_group_info *)1, 3};
    assert_int_equal(vmux_xinfo_groups(m, errctx_init(&e), VMUX_STR("xs:{i}:none"), &a),
                     VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "no such key"));
    assert_null(a.items);
    assert_int_equal(a.count, 0);
    ADMIN("DEL xs:{i}:g");
}

/* Lag without deletions: known, then unknown after ENTRIESREAD is left out of SETID. */
static void test_xinfo_groups_lag(void **state)
{
    vmux *m = *state;
    ADMIN("DEL xs:{i}:lag");
    for (int i = 1; i <= 3; i++)
        ADMIN("XADD xs:{i}:lag %d-0 f %d", i, i);
    ADMIN("XGROUP CREATE xs:{i}:lag g 0");
    ADMIN("XREADGROUP GROUP g c COUNT 1 STREAMS xs:{i}:lag >");
    vmux_stream_group_info_array a;
    xinfo_groups_as_server(m, "xs:{i}:lag", &a);
    assert_int_equal(a.items[0].entries_read, 1);
    assert_int_equal(a.items[0].lag, 2);
    vmux_stream_group_info_array_free(&a);
    /* SETID without ENTRIESREAD: the count is unknown (nil), and so is the lag */
    assert_int_equal(vmux_xgroup_setid(m, NULL, VMUX_STR("xs:{i}:lag"), VMUX_STR("g"),
                                       VMUX_STR("2-0"), VMUX_STREAM_UNKNOWN),
                     0);
    xinfo_groups_as_server(m, "xs:{i}:lag", &a);
    assert_cstr(a.items[0].last_delivered_id, "2-0");
    assert_int_equal(a.items[0].entries_read, VMUX_STREAM_UNKNOWN);
    assert_int_equal(a.items[0].lag, VMUX_STREAM_UNKNOWN);
    vmux_stream_group_info_array_free(&a);
    /* with it: both known again */
    assert_int_equal(
        vmux_xgroup_setid(m, NULL, VMUX_STR("xs:{i}:lag"), VMUX_STR("g"), VMUX_STR("2-0"), 2), 0);
    xinfo_groups_as_server(m, "xs:{i}:lag", &a);
    assert_int_equal(a.items[0].entries_read, 2);
    assert_int_equal(a.items[0].lag, 1);
    vmux_stream_group_info_array_free(&a);
    ADMIN("DEL xs:{i}:lag");
}

/* The lines of text (at most max), pointing into it: its '\n's become NULs. */
static size_t split_lines(char *text, char **lines, size_t max)
{
    size_t n = 0;
    for (char *p = text; p != NULL && n < max; n++) {
        lines[n] = p;
        p = strchr(p, '\n');
        if (p != NULL)
            *p++ = '\0';
    }
    return n;
}

/* A time of the client's between the server's before and after (idle, inactive: they grow). */
static void assert_between(const char *before, int64_t got, const char *after)
{
    assert_true(strtoll(before, NULL, 10) <= got);
    assert_true(got <= strtoll(after, NULL, 10));
}

/*
 * XINFO CONSUMERS key group through m, checked against the server's own replies just before and
 * after: names and pending counts equal, idle and inactive times between the two.
 */
static void xinfo_consumers_as_server(vmux *m, const char *key, const char *group,
                                      vmux_stream_consumer_info_array *a)
{
    char *before = vt_admin("plain", "XINFO CONSUMERS %s %s", key, group);
    assert_int_equal(vmux_xinfo_consumers(m, NULL, VMUX_STR(key), VMUX_STR(group), a), 0);
    char *after = vt_admin("plain", "XINFO CONSUMERS %s %s", key, group);
    assert_non_null(before);
    assert_non_null(after);
    char *b[64], *x[64];
    size_t nb = split_lines(before, b, 64), nx = split_lines(after, x, 64);
    assert_int_equal(nb, a->count ? a->count * 8 : 1);
    assert_int_equal(nx, nb);
    for (size_t i = 0; i < a->count; i++) {
        char **s = b + i * 8, **t = x + i * 8;
        const vmux_stream_consumer_info *c = &a->items[i];
        assert_string_equal(s[0], "name");
        assert_cstr(c->name, s[1]);
        assert_string_equal(s[2], "pending");
        assert_int_equal(c->pending, strtoll(s[3], NULL, 10));
        assert_string_equal(s[4], "idle");
        assert_between(s[5], c->idle_ms, t[5]);
        assert_string_equal(s[6], "inactive");
        if (c->inactive_ms == VMUX_STREAM_UNKNOWN)
            assert_string_equal(s[7], "-1");
        else
            assert_between(s[7], c->inactive_ms, t[7]);
    }
    free(before);
    free(after);
}

/* The consumer arg names ("xs:{i}:c" group g), idle at least 30 ms: a vt_wait_until() condition. */
struct idle_wait {
    vmux *m;
    const char *consumer;
};

static bool consumer_idle(void *arg)
{
    struct idle_wait *w = arg;
    vmux_stream_consumer_info_array a;
    assert_int_equal(vmux_xinfo_consumers(w->m, NULL, VMUX_STR("xs:{i}:c"), VMUX_STR("g"), &a), 0);
    bool idle = false;
    for (size_t i = 0; i < a.count; i++)
        if (strcmp(a.items[i].name.ptr, w->consumer) == 0)
            idle = a.items[i].idle_ms >= 30;
    vmux_stream_consumer_info_array_free(&a);
    return idle;
}

static void test_xinfo_consumers(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("xs:{i}:c"), g = VMUX_STR("g");
    ADMIN("DEL xs:{i}:c");
    ADMIN("XADD xs:{i}:c 1-0 f 1");
    ADMIN("XADD xs:{i}:c 2-0 f 2");
    ADMIN("XGROUP CREATE xs:{i}:c g 0");
    vmux_stream_consumer_info_array a = {(vmux_stream_consumer_info *)1, 3};
    xinfo_consumers_as_server(m, "xs:{i}:c", "g", &a); /* none yet */
    assert_int_equal(a.count, 0);
    assert_null(a.items);
    /* alice reads two entries; bob is created and never reads (inactive -1) */
    ADMIN("XREADGROUP GROUP g alice STREAMS xs:{i}:c >");
    bool created = false;
    assert_int_equal(vmux_xgroup_createconsumer(m, NULL, key, g, VMUX_STR("bob"), &created), 0);
    assert_true(created);
    struct idle_wait w = {m, "alice"};
    assert_true(vt_wait_until(consumer_idle, &w, 10000));
    xinfo_consumers_as_server(m, "xs:{i}:c", "g", &a);
    assert_int_equal(a.count, 2);
    assert_cstr(a.items[0].name, "alice");
    assert_int_equal(a.items[0].pending, 2);
    assert_true(a.items[0].idle_ms >= 30);
    assert_true(a.items[0].inactive_ms >= 30);
    assert_cstr(a.items[1].name, "bob");
    assert_int_equal(a.items[1].pending, 0);
    assert_int_equal(a.items[1].inactive_ms, VMUX_STREAM_UNKNOWN);
    vmux_stream_consumer_info_array_free(&a);
    /* bob tries to read and finds nothing: idle restarts, inactive stays unknown */
    ADMIN("XREADGROUP GROUP g bob STREAMS xs:{i}:c >");
    xinfo_consumers_as_server(m, "xs:{i}:c", "g", &a);
    assert_int_equal(a.items[1].inactive_ms, VMUX_STREAM_UNKNOWN);
    vmux_stream_consumer_info_array_free(&a);

    /* Missing group: NOGROUP; missing key: no such key; both zero the array. */
    struct errctx e;
    a = (vmux_stream_consumer_info_array){(vmux_stream_consumer_info *)1, 3};
    assert_int_equal(vmux_xinfo_consumers(m, errctx_init(&e), key, VMUX_STR("nog"), &a),
                     VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "NOGROUP"));
    assert_null(a.items);
    assert_int_equal(a.count, 0);
    assert_int_equal(vmux_xinfo_consumers(m, errctx_init(&e), VMUX_STR("xs:{i}:none"), g, &a),
                     VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "no such key"));
    ADMIN("DEL xs:{i}:c");
}

static void test_xgroup_setid(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("xs:{i}:set"), g = VMUX_STR("g");
    ADMIN("DEL xs:{i}:set");
    for (int i = 1; i <= 3; i++)
        ADMIN("XADD xs:{i}:set %d-0 f %d", i, i);
    ADMIN("XGROUP CREATE xs:{i}:set g $");
    /* back to 1-0: the next ">" read delivers 2-0 and 3-0; twice, the same state and answer */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vmux_xgroup_setid(m, NULL, key, g, VMUX_STR("1-0"), 1), 0);
        ADMIN_EQ("name\ng\nconsumers\n0\npending\n0\nlast-delivered-id\n1-0\nentries-read\n1\n"
                 "lag\n2",
                 "XINFO GROUPS xs:{i}:set");
    }
    ADMIN_EQ("xs:{i}:set\n2-0\nf\n2\n3-0\nf\n3", "XREADGROUP GROUP g c STREAMS xs:{i}:set >");
    /* the default id is "$": after the last entry */
    assert_int_equal(vmux_xgroup_setid(m, NULL, key, g, VMUX_XID_DEFAULT, 3), 0);
    ADMIN("XADD xs:{i}:set 4-0 f 4");
    ADMIN_EQ("xs:{i}:set\n4-0\nf\n4", "XREADGROUP GROUP g c STREAMS xs:{i}:set >");
    /* an ENTRIESREAD beyond the entries added is the server's to judge: it takes it */
    assert_int_equal(vmux_xgroup_setid(m, NULL, key, g, VMUX_STR("0"), 50), 0);

    /* Missing group, missing key, a bad ID: the server's errors. */
    struct errctx e;
    assert_int_equal(vmux_xgroup_setid(m, errctx_init(&e), key, VMUX_STR("nog"), VMUX_STR("0"),
                                       VMUX_STREAM_UNKNOWN),
                     VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "NOGROUP"));
    assert_int_equal(vmux_xgroup_setid(m, errctx_init(&e), VMUX_STR("xs:{i}:none"), g,
                                       VMUX_STR("0"), VMUX_STREAM_UNKNOWN),
                     VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "requires the key to exist"));
    assert_int_equal(
        vmux_xgroup_setid(m, errctx_init(&e), key, g, VMUX_STR("bad"), VMUX_STREAM_UNKNOWN),
        VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "Invalid stream ID"));
    ADMIN("DEL xs:{i}:set");
}

static void test_xgroup_consumers(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("xs:{i}:cons"), g = VMUX_STR("g"), alice = VMUX_STR("alice");
    ADMIN("DEL xs:{i}:cons");
    ADMIN("XADD xs:{i}:cons 1-0 f 1");
    ADMIN("XADD xs:{i}:cons 2-0 f 2");
    ADMIN("XGROUP CREATE xs:{i}:cons g 0");
    /* CREATECONSUMER: true, then false (why it is not retry-safe) */
    bool created = false;
    assert_int_equal(vmux_xgroup_createconsumer(m, NULL, key, g, alice, &created), 0);
    assert_true(created);
    assert_int_equal(vmux_xgroup_createconsumer(m, NULL, key, g, alice, &created), 0);
    assert_false(created);
    /* a binary name, NULs and all */
    vmux_str bin = VMUX_STRN("c\0d", 3);
    assert_int_equal(vmux_xgroup_createconsumer(m, NULL, key, g, bin, NULL), 0);
    vmux_stream_consumer_info_array a;
    assert_int_equal(vmux_xinfo_consumers(m, NULL, key, g, &a), 0);
    assert_int_equal(a.count, 2);
    assert_bytes(a.items[1].name, "c\0d", 3);
    vmux_stream_consumer_info_array_free(&a);
    /* DELCONSUMER: the pending count it had, then 0 (why it is not retry-safe) */
    ADMIN("XREADGROUP GROUP g alice STREAMS xs:{i}:cons >");
    int64_t pending = -1;
    assert_int_equal(vmux_xgroup_delconsumer(m, NULL, key, g, alice, &pending), 0);
    assert_int_equal(pending, 2);
    ADMIN_EQ("0\n(nil)\n(nil)\n(nil)", "XPENDING xs:{i}:cons g");
    assert_int_equal(vmux_xgroup_delconsumer(m, NULL, key, g, alice, &pending), 0);
    assert_int_equal(pending, 0);
    assert_int_equal(vmux_xgroup_delconsumer(m, NULL, key, g, bin, NULL), 0);
    ADMIN_EQ("", "XINFO CONSUMERS xs:{i}:cons g");

    /* Missing group or key: the server's errors, out-parameters zeroed. */
    struct errctx e;
    created = true;
    assert_int_equal(
        vmux_xgroup_createconsumer(m, errctx_init(&e), key, VMUX_STR("nog"), alice, &created),
        VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "NOGROUP"));
    assert_false(created);
    pending = 7;
    assert_int_equal(
        vmux_xgroup_delconsumer(m, errctx_init(&e), VMUX_STR("xs:{i}:none"), g, alice, &pending),
        VMUX_ERR_SERVER);
    assert_non_null(strstr(e.buf, "requires the key to exist"));
    assert_int_equal(pending, 0);
    ADMIN("DEL xs:{i}:cons");
}

/* Every refusal of the new functions: nothing sent, out-parameters zeroed, the group untouched. */
static void test_xinfo_xgroup_refused(void **state)
{
    vmux *m = *state;
    vmux_str key = VMUX_STR("xs:{i}:ref"), g = VMUX_STR("g"), c = VMUX_STR("c");
    const vmux_str null3 = VMUX_STRN(NULL, 3);
    const int bad = VMUX_ERR_INVALID_ARG;
    ADMIN("DEL xs:{i}:ref");
    ADMIN("XGROUP CREATE xs:{i}:ref g 0 MKSTREAM");
    uint64_t sent = submitted(m);
    assert_int_equal(vmux_xgroup_setid(m, NULL, key, g, VMUX_STR("0"), -2), bad);
    assert_int_equal(vmux_xgroup_setid(m, NULL, key, g, VMUX_STR("0"), INT64_MIN), bad);
    assert_int_equal(vmux_xgroup_setid(m, NULL, null3, g, VMUX_STR("0"), 0), bad);
    assert_int_equal(vmux_xgroup_setid(m, NULL, key, null3, VMUX_STR("0"), 0), bad);
    assert_int_equal(vmux_xgroup_setid(m, NULL, key, g, null3, 0), bad);
    bool created = true;
    assert_int_equal(vmux_xgroup_createconsumer(m, NULL, key, g, null3, &created), bad);
    assert_false(created);
    assert_int_equal(vmux_xgroup_createconsumer(m, NULL, null3, g, c, NULL), bad);
    int64_t pending = 7;
    assert_int_equal(vmux_xgroup_delconsumer(m, NULL, key, null3, c, &pending), bad);
    assert_int_equal(pending, 0);
    vmux_stream_info info = {.length = 5};
    assert_int_equal(vmux_xinfo_stream(m, NULL, null3, &info), bad);
    assert_int_equal(info.length, 0);
    vmux_stream_group_info_array ga = {(vmux_stream_group_info *)1, 3};
    assert_int_equal(vmux_xinfo_groups(m, NULL, null3, &ga), bad);
    assert_null(ga.items);
    vmux_stream_consumer_info_array ca = {(vmux_stream_consumer_info *)1, 3};
    assert_int_equal(vmux_xinfo_consumers(m, NULL, key, null3, &ca), bad);
    assert_null(ca.items);
    assert_int_equal(ca.count, 0);
    assert_int_equal(submitted(m), sent);
    ADMIN_EQ("name\ng\nconsumers\n0\npending\n0\nlast-delivered-id\n0-0\nentries-read\n(nil)\n"
             "lag\n0",
             "XINFO GROUPS xs:{i}:ref");
    ADMIN("DEL xs:{i}:ref");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_xadd_and_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrongtype, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nomkstream_and_trimming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xdel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xread_several_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xread_several_streams_blocking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xread_block_woken_by_xadd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xread_from_now_not_resent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xreadgroup_block_woken_by_xadd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumer_group_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_of_deleted_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xinfo_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xinfo_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xinfo_groups_lag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xinfo_consumers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xgroup_setid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xgroup_consumers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xinfo_xgroup_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The typed commands' retry-safe marks, as docs/commands.md's tables give them, checked where
 * the mark matters: the scripted fake server reads the command and closes the connection
 * without a reply. A command marked retry-safe is sent once more on the next connection and
 * gets the reply sent there; one not marked completes VMUX_ERR_CONNECTION_LOST, sent once. One
 * row per family and per mark a function's options switch (SET's and GEOADD's condition,
 * SETBIT's old bit, BITOP's destination among its sources, BITFIELD's operations and answers,
 * SDIFFSTORE's and GEOSEARCHSTORE's destination, COPY's and RESTORE's REPLACE, ZREMRANGEBYRANK's
 * range, a ZUNIONSTORE into one of its sources, XGROUP SETID's "$", a SORT ... STORE into a key
 * the sort reads), today's families (HyperLogLog, bitmaps, geo, XINFO and the XGROUP consumer
 * commands) among them.
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

#include "fakefixture.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define KEY VMUX_STR("k")
#define MEMBERS                                                                                    \
    (const vmux_str[])                                                                             \
    {                                                                                              \
        VMUX_STR("a")                                                                              \
    }

static int do_get(vmux *m)
{
    vmux_bytes v = {0};
    int rc = vmux_get(m, NULL, KEY, &v);
    vmux_bytes_free(&v);
    return rc;
}

static int do_getdel(vmux *m)
{
    vmux_bytes v = {0};
    int rc = vmux_getdel(m, NULL, KEY, &v);
    vmux_bytes_free(&v);
    return rc;
}

static int do_set(vmux *m)
{
    return vmux_set(m, NULL, KEY, VMUX_STR("v"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS, NULL);
}

static int do_set_nx(vmux *m)
{
    return vmux_set(m, NULL, KEY, VMUX_STR("v"), VMUX_NO_EXPIRY, VMUX_COND_NX, NULL);
}

static int do_setrange(vmux *m)
{
    int64_t length;
    return vmux_setrange(m, NULL, KEY, 2, VMUX_STR("v"), &length);
}

static int do_incr(vmux *m)
{
    return vmux_incr(m, NULL, KEY, NULL);
}

static int do_del(vmux *m)
{
    return vmux_del(m, NULL, (const vmux_str[]){KEY}, 1, NULL);
}

static int copy(vmux *m, bool replace)
{
    const vmux_copy_opts o = VMUX_INIT(vmux_copy_opts, .replace = replace);
    bool copied;
    return vmux_copy(m, NULL, KEY, VMUX_STR("k2"), &o, &copied);
}

static int do_copy(vmux *m)
{
    return copy(m, false); /* a second run answers 0: the first one's copy is there */
}

static int do_copy_replace(vmux *m)
{
    return copy(m, true);
}

static int do_sort(vmux *m)
{
    vmux_bytes_array items = {0};
    int rc = vmux_sort(m, NULL, KEY, NULL, &items);
    vmux_bytes_array_free(&items);
    return rc;
}

static int sort_store(vmux *m, vmux_str dst, vmux_str by)
{
    const vmux_sort_opts o = VMUX_INIT(vmux_sort_opts, .by = by);
    int64_t length;
    return vmux_sort_store(m, NULL, KEY, dst, &o, &length);
}

static int do_sort_store(vmux *m)
{
    return sort_store(m, VMUX_STR("dst"), VMUX_STR("w_*"));
}

static int do_sort_store_into_key(vmux *m)
{
    return sort_store(m, KEY, (vmux_str){NULL, 0}); /* a second run sorts the first one's list */
}

static int do_sort_store_into_weight(vmux *m)
{
    return sort_store(m, VMUX_STR("w_x"), VMUX_STR("w_*")); /* BY w_* may read w_x */
}

static int do_dump(vmux *m)
{
    vmux_bytes payload = {0};
    int rc = vmux_dump(m, NULL, KEY, &payload, NULL);
    vmux_bytes_free(&payload);
    return rc;
}

static int restore(vmux *m, bool replace)
{
    const vmux_restore_opts o = VMUX_INIT(vmux_restore_opts, .replace = replace);
    return vmux_restore(m, NULL, KEY, 0, VMUX_STR("payload"), &o);
}

static int do_restore(vmux *m)
{
    return restore(m, false); /* a second run finds the first one's key: BUSYKEY */
}

static int do_restore_replace(vmux *m)
{
    return restore(m, true);
}

static int do_randomkey(vmux *m)
{
    vmux_bytes k = {0};
    int rc = vmux_randomkey(m, NULL, &k, NULL);
    vmux_bytes_free(&k);
    return rc;
}

static int do_hincrby(vmux *m)
{
    return vmux_hincrby(m, NULL, KEY, VMUX_STR("f"), 1, NULL);
}

static int do_lpush(vmux *m)
{
    return vmux_lpush(m, NULL, KEY, MEMBERS, 1, NULL);
}

static int do_sadd(vmux *m)
{
    return vmux_sadd(m, NULL, KEY, MEMBERS, 1, NULL);
}

static int do_pfadd(vmux *m)
{
    bool changed;
    return vmux_pfadd(m, NULL, KEY, MEMBERS, 1, &changed);
}

static int do_setbit(vmux *m)
{
    return vmux_setbit(m, NULL, KEY, 7, true, NULL);
}

static int bitop(vmux *m, vmux_bitop_op op, vmux_str dst)
{
    const vmux_str sources[] = {KEY, VMUX_STR("k2")};
    int64_t len;
    return vmux_bitop(m, NULL, op, dst, sources, 2, &len);
}

static int do_bitop(vmux *m)
{
    return bitop(m, VMUX_BITOP_XOR, VMUX_STR("dst"));
}

static int do_bitop_and_into_source(vmux *m)
{
    return bitop(m, VMUX_BITOP_AND, KEY); /* (k & k2) & k2 is k & k2 */
}

static int do_bitop_xor_into_source(vmux *m)
{
    return bitop(m, VMUX_BITOP_XOR, KEY); /* (k ^ k2) ^ k2 is k again */
}

static int bitfield(vmux *m, vmux_bitfield_kind kind, bool answers)
{
    const vmux_bitfield_op op = {.kind = kind, .bits = 8, .value = 1};
    int64_t v;
    bool found;
    return vmux_bitfield(m, NULL, KEY, &op, 1, answers ? &v : NULL, answers ? &found : NULL);
}

static int do_bitfield_get(vmux *m)
{
    return bitfield(m, VMUX_BITFIELD_GET, true);
}

static int do_bitfield_set(vmux *m)
{
    return bitfield(m, VMUX_BITFIELD_SET, true); /* a second run answers the first one's value */
}

static int do_bitfield_set_dropped(vmux *m)
{
    return bitfield(m, VMUX_BITFIELD_SET, false);
}

static int do_bitfield_incrby(vmux *m)
{
    return bitfield(m, VMUX_BITFIELD_INCRBY, false); /* a second run adds again */
}

static int do_bitfield_ro(vmux *m)
{
    const vmux_bitfield_op op = {.kind = VMUX_BITFIELD_GET, .bits = 8};
    int64_t v;
    return vmux_bitfield_ro(m, NULL, KEY, &op, 1, &v);
}

static int do_geohash(vmux *m)
{
    vmux_bytes_array hashes = {0};
    int rc = vmux_geohash(m, NULL, KEY, MEMBERS, 1, &hashes);
    vmux_bytes_array_free(&hashes);
    return rc;
}

static int geosearchstore(vmux *m, vmux_str dst)
{
    int64_t count;
    return vmux_geosearchstore(m, NULL, dst, KEY, VMUX_GEO_CENTER_LONLAT(15, 37),
                               VMUX_GEO_SHAPE_RADIUS(10, VMUX_GEO_UNIT_KM), NULL, true, &count);
}

static int do_geosearchstore(vmux *m)
{
    return geosearchstore(m, VMUX_STR("dst"));
}

static int do_geosearchstore_into_source(vmux *m)
{
    return geosearchstore(m, KEY); /* a second run would search the distances stored */
}

static int do_zunion(vmux *m)
{
    const vmux_str sources[] = {KEY, VMUX_STR("k2")};
    vmux_bytes_array members = {0};
    int rc = vmux_zunion(m, NULL, sources, 2, NULL, &members);
    vmux_bytes_array_free(&members);
    return rc;
}

static int do_zintercard(vmux *m)
{
    const vmux_str sources[] = {KEY, VMUX_STR("k2")};
    int64_t count;
    return vmux_zintercard(m, NULL, sources, 2, 10, &count);
}

static int do_setbit_old(vmux *m)
{
    bool old;
    return vmux_setbit(m, NULL, KEY, 7, true, &old);
}

static int geoadd(vmux *m, vmux_cond cond)
{
    const vmux_geo_member at = {13.361389, 38.115556, VMUX_STR("Palermo")};
    int64_t count;
    return vmux_geoadd(m, NULL, KEY, &at, 1, cond, false, &count);
}

static int do_geoadd(vmux *m)
{
    return geoadd(m, VMUX_COND_ALWAYS);
}

static int do_geoadd_nx(vmux *m)
{
    return geoadd(m, VMUX_COND_NX);
}

static int do_spop(vmux *m)
{
    vmux_bytes v = {0};
    int rc = vmux_spop(m, NULL, KEY, &v);
    vmux_bytes_free(&v);
    return rc;
}

static int do_smove(vmux *m)
{
    return vmux_smove(m, NULL, KEY, VMUX_STR("k2"), VMUX_STR("a"), NULL);
}

static int do_sdiff(vmux *m)
{
    return vmux_sdiffstore(m, NULL, VMUX_STR("d"), (const vmux_str[]){KEY, VMUX_STR("k2")}, 2,
                           NULL);
}

/* k2 = k - k2: run again, it would store k - (k - k2) */
static int do_sdiff_k2(vmux *m)
{
    return vmux_sdiffstore(m, NULL, VMUX_STR("k2"), (const vmux_str[]){KEY, VMUX_STR("k2")}, 2,
                           NULL);
}

static int do_linsert(vmux *m)
{
    return vmux_linsert_before(m, NULL, KEY, VMUX_STR("p"), VMUX_STR("e"), NULL);
}

static int do_lpushx(vmux *m)
{
    return vmux_lpushx(m, NULL, KEY, MEMBERS, 1, NULL);
}

static int do_hsetnx(vmux *m)
{
    bool set;
    return vmux_hsetnx(m, NULL, KEY, VMUX_STR("f"), VMUX_STR("v"), &set);
}

static int do_hstrlen(vmux *m)
{
    return vmux_hstrlen(m, NULL, KEY, VMUX_STR("f"), NULL);
}

static int zremrangebyrank(vmux *m, int64_t start, int64_t stop)
{
    int64_t removed;
    return vmux_zremrangebyrank(m, NULL, KEY, start, stop, &removed);
}

static int do_zremrangebyrank_trim(vmux *m)
{
    return zremrangebyrank(m, 0, -11); /* keeps the ten highest: a second run removes nothing */
}

static int do_zremrangebyrank_lowest(vmux *m)
{
    return zremrangebyrank(m, 0, 9); /* the ten lowest: a second run removes ten more */
}

static int zunionstore(vmux *m, vmux_str dst)
{
    const vmux_str sources[] = {KEY, VMUX_STR("k2")};
    int64_t count;
    return vmux_zunionstore(m, NULL, dst, sources, 2, NULL, &count);
}

static int do_zunionstore(vmux *m)
{
    return zunionstore(m, VMUX_STR("dst"));
}

static int do_zunionstore_into_source(vmux *m)
{
    return zunionstore(m, KEY);
}

static int do_xinfo_stream(vmux *m)
{
    vmux_stream_info info;
    int rc = vmux_xinfo_stream(m, NULL, KEY, &info);
    vmux_stream_info_free(&info);
    return rc;
}

static int do_xinfo_groups(vmux *m)
{
    vmux_stream_group_info_array groups;
    int rc = vmux_xinfo_groups(m, NULL, KEY, &groups);
    vmux_stream_group_info_array_free(&groups);
    return rc;
}

static int setid(vmux *m, vmux_str id)
{
    return vmux_xgroup_setid(m, NULL, KEY, VMUX_STR("g"), id, VMUX_STREAM_UNKNOWN);
}

static int do_xgroup_setid(vmux *m)
{
    return setid(m, VMUX_STR("0-0"));
}

static int do_xgroup_setid_now(vmux *m)
{
    return setid(m, VMUX_XID_DEFAULT); /* "$": a resend would skip entries added in between */
}

static int do_xgroup_createconsumer(vmux *m)
{
    bool created;
    return vmux_xgroup_createconsumer(m, NULL, KEY, VMUX_STR("g"), VMUX_STR("c"), &created);
}

static int do_xgroup_delconsumer(vmux *m)
{
    int64_t pending;
    return vmux_xgroup_delconsumer(m, NULL, KEY, VMUX_STR("g"), VMUX_STR("c"), &pending);
}

/* XINFO STREAM's reply with the fields every server sends: an empty stream. */
#define XINFO_STREAM_REPLY                                                                         \
    "*14\r\n$6\r\nlength\r\n:0\r\n$15\r\nradix-tree-keys\r\n:0\r\n"                                \
    "$16\r\nradix-tree-nodes\r\n:1\r\n$6\r\ngroups\r\n:0\r\n$17\r\nlast-generated-id\r\n"          \
    "$3\r\n0-0\r\n$11\r\nfirst-entry\r\n$-1\r\n$10\r\nlast-entry\r\n$-1\r\n"

struct row {
    const char *name;
    int (*call)(vmux *m);
    const char *reply; /* what the second connection answers */
    bool retry_safe;   /* as docs/commands.md marks it */
};

static const struct row ROWS[] = {
    {"GET", do_get, "$1\r\nv\r\n", true},
    {"GETDEL", do_getdel, "$1\r\nv\r\n", false},
    {"SET", do_set, "+OK\r\n", true},
    {"SET NX", do_set_nx, "+OK\r\n", false},
    {"INCR", do_incr, ":1\r\n", false},
    {"DEL", do_del, ":1\r\n", true},
    {"HINCRBY", do_hincrby, ":1\r\n", false},
    {"LPUSH", do_lpush, ":1\r\n", false},
    {"SADD", do_sadd, ":1\r\n", true},
    {"PFADD", do_pfadd, ":1\r\n", true},
    {"SETBIT", do_setbit, ":0\r\n", true},
    {"SETBIT, old asked", do_setbit_old, ":0\r\n", false},
    {"BITOP XOR", do_bitop, ":1\r\n", true},
    {"BITOP AND into a source", do_bitop_and_into_source, ":1\r\n", true},
    {"BITOP XOR into a source", do_bitop_xor_into_source, ":1\r\n", false},
    {"BITFIELD GET", do_bitfield_get, "*1\r\n:0\r\n", true},
    {"BITFIELD SET", do_bitfield_set, "*1\r\n:0\r\n", false},
    {"BITFIELD SET, answers dropped", do_bitfield_set_dropped, "*1\r\n:0\r\n", true},
    {"BITFIELD INCRBY", do_bitfield_incrby, "*1\r\n:1\r\n", false},
    {"BITFIELD_RO", do_bitfield_ro, "*1\r\n:0\r\n", true},
    {"GEOADD", do_geoadd, ":1\r\n", true},
    {"GEOADD NX", do_geoadd_nx, ":1\r\n", false},
    {"GEOHASH", do_geohash, "*1\r\n$11\r\nsqc8b49rny0\r\n", true},
    {"GEOSEARCHSTORE", do_geosearchstore, ":1\r\n", true},
    {"GEOSEARCHSTORE into its source", do_geosearchstore_into_source, ":1\r\n", false},
    {"SPOP", do_spop, "$1\r\na\r\n", false},
    {"SMOVE", do_smove, ":1\r\n", false},
    {"SDIFFSTORE", do_sdiff, ":1\r\n", true},
    {"SDIFFSTORE into k2", do_sdiff_k2, ":1\r\n", false},
    {"LINSERT", do_linsert, ":2\r\n", false},
    {"LPUSHX", do_lpushx, ":2\r\n", false},
    {"HSETNX", do_hsetnx, ":1\r\n", false},
    {"HSTRLEN", do_hstrlen, ":1\r\n", true},
    {"SETRANGE", do_setrange, ":3\r\n", true},
    {"COPY", do_copy, ":1\r\n", false},
    {"COPY REPLACE", do_copy_replace, ":1\r\n", true},
    {"SORT_RO", do_sort, "*1\r\n$1\r\na\r\n", true},
    {"SORT STORE", do_sort_store, ":1\r\n", true},
    {"SORT STORE into its key", do_sort_store_into_key, ":1\r\n", false},
    {"SORT BY w_* STORE w_x", do_sort_store_into_weight, ":1\r\n", false},
    {"DUMP", do_dump, "$3\r\nabc\r\n", true},
    {"RESTORE", do_restore, "+OK\r\n", false},
    {"RESTORE REPLACE", do_restore_replace, "+OK\r\n", true},
    {"RANDOMKEY", do_randomkey, "$1\r\nk\r\n", true},
    {"ZREMRANGEBYRANK 0 -11", do_zremrangebyrank_trim, ":1\r\n", true},
    {"ZREMRANGEBYRANK 0 9", do_zremrangebyrank_lowest, ":1\r\n", false},
    {"ZUNIONSTORE", do_zunionstore, ":1\r\n", true},
    {"ZUNIONSTORE into a source", do_zunionstore_into_source, ":1\r\n", false},
    {"ZUNION", do_zunion, "*1\r\n$1\r\na\r\n", true},
    {"ZINTERCARD", do_zintercard, ":1\r\n", true},
    {"XINFO STREAM", do_xinfo_stream, XINFO_STREAM_REPLY, true},
    {"XINFO GROUPS", do_xinfo_groups, "*0\r\n", true},
    {"XGROUP SETID 0-0", do_xgroup_setid, "+OK\r\n", true},
    {"XGROUP SETID $", do_xgroup_setid_now, "+OK\r\n", false},
    {"XGROUP CREATECONSUMER", do_xgroup_createconsumer, ":1\r\n", false},
    {"XGROUP DELCONSUMER", do_xgroup_delconsumer, ":2\r\n", false},
};

static void check_row(const struct row *r)
{
    vt_fake *f = vt_fake_start();
    assert_non_null(f);
    vmux *m = vt_fake_open(f, "syncTimeout=5000,reconnectMin=10,reconnectMax=50");
    vt_fake_script(f, VT_FAKE_CLOSE, NULL, 0); /* read, unanswered: the connection ends */
    vt_fake_script_str(f, VT_FAKE_SEND, r->reply);
    int rc = r->call(m);
    unsigned sent = vt_fake_commands(f);
    vmux_close(m);
    vt_fake_stop(f);
    int want_rc = r->retry_safe ? 0 : VMUX_ERR_CONNECTION_LOST;
    unsigned want_sent = r->retry_safe ? 2 : 1;
    if (rc != want_rc || sent != want_sent)
        fail_msg("%s: %s after %u sends, where commands.md's mark (%s) says %s after %u", r->name,
                 vmux_err_name(rc), sent, r->retry_safe ? "yes" : "no", vmux_err_name(want_rc),
                 want_sent);
}

static void test_marks_as_documented(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++)
        check_row(&ROWS[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marks_as_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * SORT (keys.h: vmux_sort() as SORT_RO, vmux_sort_store() as SORT ... STORE) against a real
 * server: numbers and ALPHA, DESC, LIMIT (a negative count as the server reads it), BY weights in
 * strings and in hash fields, BY nosort, GET # and GET of strings and hash fields with missing
 * keys as nil, every option at once through SORT_RO (which the server counts), STORE read back,
 * WRONGTYPE and a word that is no number, every refused argument with nothing sent. On a cluster
 * (commands.sort.cluster) the keys and patterns share the sorted key's {hash tag}; the server
 * refuses patterns of other slots and GET #, and a STORE into another slot is refused unsent.
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

#include "testutil.h"
#include "vmux/vmux.h"

#include "cmd_collections.h"
#include "cmd_common.h"

const char cmd_family[] = "sort";

/* want[i] NULL: a nil item. */
static void expect_items(const vmux_bytes_array *got, const char *const *want, size_t n)
{
    assert_int_equal(got->count, n);
    for (size_t i = 0; i < n; i++) {
        if (want[i] == NULL)
            assert_null(got->items[i].ptr);
        else
            assert_bytes(&got->items[i], S(want[i]));
    }
}

/* vmux_sort() must succeed and answer want (n items). */
static void expect_sort(vmux_str k, const vmux_sort_opts *o, const char *const *want, size_t n)
{
    vmux_bytes_array items = JUNK_ARRAY;
    int rc = vmux_sort(M, &EO, k, o, &items);
    if (rc != 0)
        fail_msg("SORT_RO: %s (%s)", vmux_err_name(rc), errbuf);
    expect_items(&items, want, n);
    vmux_bytes_array_free(&items);
}

/* The calls of command that INFO commandstats text counts (0 when it lists none). */
static long calls(const char *info, const char *command)
{
    char field[64];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", command);
    const char *at = info != NULL ? strstr(info, field) : NULL;
    return at != NULL ? strtol(at + strlen(field), NULL, 10) : 0;
}

#define WANT(...)                                                                                  \
    (const char *const[]){__VA_ARGS__}, sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)

static void test_sort_numbers(void **state)
{
    (void)state;
    vmux_str list = key("num-list"), set = key("num-set"), zset = key("num-zset");
    DO(S("DEL"), list, set, zset);
    DO(S("RPUSH"), list, S("3"), S("10"), S("-5"), S("2.5"), S("1"), S("3"));
    expect_sort(list, NULL, WANT("-5", "1", "2.5", "3", "3", "10"));
    vmux_sort_opts desc = VMUX_INIT(vmux_sort_opts, .desc = true);
    expect_sort(list, &desc, WANT("10", "3", "3", "2.5", "1", "-5"));
    assert_raw_str(RAW(S("LINDEX"), list, S("0")), S("3")); /* the list itself is left as it was */
    DO(S("SADD"), set, S("20"), S("4"), S("100"));
    expect_sort(set, NULL, WANT("4", "20", "100"));
    DO(S("ZADD"), zset, S("1"), S("30"), S("2"), S("7")); /* by element, not by score */
    expect_sort(zset, NULL, WANT("7", "30"));
    expect_sort(key("num-missing"), NULL, NULL, 0); /* a missing key: empty */
    assert_int_equal(vmux_sort(M, NULL, list, NULL, NULL), 0);

    /* a word is no number: the server's error, unless ALPHA */
    DO(S("RPUSH"), list, S("ten"));
    vmux_bytes_array items = JUNK_ARRAY;
    errbuf[0] = '\0';
    assert_int_equal(vmux_sort(M, &EO, list, NULL, &items), VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "can't be converted into double"));
    assert_zero_array(&items);
}

static void test_sort_alpha(void **state)
{
    (void)state;
    vmux_str list = key("alpha-list");
    DO(S("DEL"), list);
    DO(S("RPUSH"), list, S("pear"), S("apple"), S("10"), S("9"), S("banana"), S(""));
    vmux_sort_opts alpha = VMUX_INIT(vmux_sort_opts, .alpha = true);
    expect_sort(list, &alpha, WANT("", "10", "9", "apple", "banana", "pear"));
    alpha.desc = true;
    expect_sort(list, &alpha, WANT("pear", "banana", "apple", "9", "10", ""));
}

static void test_sort_limit(void **state)
{
    (void)state;
    vmux_str list = key("limit-list");
    DO(S("DEL"), list);
    DO(S("RPUSH"), list, S("5"), S("1"), S("4"), S("2"), S("3"));
    vmux_sort_opts o = VMUX_INIT(vmux_sort_opts, .limit = true, .offset = 1, .count = 2);
    expect_sort(list, &o, WANT("2", "3"));
    o.desc = true;
    expect_sort(list, &o, WANT("4", "3"));
    o = (vmux_sort_opts)VMUX_INIT(vmux_sort_opts, .limit = true, .offset = 2, .count = -1);
    expect_sort(list, &o, WANT("3", "4", "5")); /* a negative count: all the rest */
    o.count = INT64_MIN;
    expect_sort(list, &o, WANT("3", "4", "5"));
    o.count = 0;
    expect_sort(list, &o, NULL, 0);
    o = (vmux_sort_opts)VMUX_INIT(vmux_sort_opts, .limit = true, .offset = 9, .count = 9);
    expect_sort(list, &o, NULL, 0);
    o = (vmux_sort_opts)VMUX_INIT(vmux_sort_opts, .limit = true, .offset = 4, .count = INT64_MAX);
    expect_sort(list, &o, WANT("5"));
}

/* BY weights in strings and in hash fields; a missing weight counts 0; nosort keeps the order. */
static void test_sort_by(void **state)
{
    (void)state;
    vmux_str list = key("by-list");
    DO(S("DEL"), list, key("by-w_a"), key("by-w_b"), key("by-w_c"), key("by-h_a"), key("by-h_b"));
    DO(S("RPUSH"), list, S("a"), S("b"), S("c"), S("d"));
    DO(S("MSET"), key("by-w_a"), S("30"), key("by-w_b"), S("10"), key("by-w_c"), S("20"));
    DO(S("HSET"), key("by-h_a"), S("weight"), S("2"));
    DO(S("HSET"), key("by-h_b"), S("weight"), S("1"));
    vmux_sort_opts o = VMUX_INIT(vmux_sort_opts, .by = key("by-w_*"));
    expect_sort(list, &o, WANT("d", "b", "c", "a")); /* d has no weight: 0 */
    o.desc = true;
    expect_sort(list, &o, WANT("a", "c", "b", "d"));
    o = (vmux_sort_opts)VMUX_INIT(vmux_sort_opts, .by = key("by-h_*->weight"));
    expect_sort(list, &o, WANT("c", "d", "b", "a")); /* c and d: 0, then by element */
    o = (vmux_sort_opts)VMUX_INIT(vmux_sort_opts, .nosort = true);
    expect_sort(list, &o, WANT("a", "b", "c", "d"));
    o.limit = true, o.offset = 1, o.count = 2;
    expect_sort(list, &o, WANT("b", "c"));
    o = (vmux_sort_opts)VMUX_INIT(vmux_sort_opts, .by = key("by-nostar"));
    expect_sort(list, &o, WANT("a", "b", "c", "d")); /* no '*': as nosort */
}

/* GET patterns: strings, hash fields, missing keys as nil, and # (the element). */
static void test_sort_get(void **state)
{
    (void)state;
    vmux_str list = key("get-list");
    DO(S("DEL"), list, key("get-v_1"), key("get-v_2"), key("get-h_2"), key("get-h_3"));
    DO(S("RPUSH"), list, S("3"), S("1"), S("2"));
    DO(S("SET"), key("get-v_1"), S("one"));
    DO(S("SET"), key("get-v_2"), BINV);
    DO(S("HSET"), key("get-h_2"), S("name"), S("two"));
    DO(S("HSET"), key("get-h_3"), S("other"), S("x"));
    vmux_str get[] = {key("get-v_*"), key("get-h_*->name")};
    vmux_sort_opts o = VMUX_INIT(vmux_sort_opts, .get = get, .nget = 2);
    vmux_bytes_array items = JUNK_ARRAY;
    assert_int_equal(vmux_sort(M, &EO, list, &o, &items), 0);
    assert_int_equal(items.count, 6);
    assert_bytes(&items.items[0], S("one"));
    assert_null(items.items[1].ptr); /* no hash for 1 */
    assert_bytes(&items.items[2], BINV);
    assert_bytes(&items.items[3], S("two"));
    assert_null(items.items[4].ptr); /* no v_3 */
    assert_null(items.items[5].ptr); /* h_3 has no field name */
    vmux_bytes_array_free(&items);
    /* a GET of a key holding no string is nil too */
    vmux_str lget[] = {key("get-h_*")};
    o = (vmux_sort_opts)VMUX_INIT(vmux_sort_opts, .get = lget, .nget = 1);
    expect_sort(list, &o, WANT(NULL, NULL, NULL));

    vmux_str hash[] = {S("#"), key("get-v_*")};
    o = (vmux_sort_opts)VMUX_INIT(vmux_sort_opts, .get = hash, .nget = 2, .desc = true);
    if (vt_cluster_mode() == NULL) {
        assert_int_equal(vmux_sort(M, &EO, list, &o, &items), 0);
        assert_int_equal(items.count, 6);
        assert_bytes(&items.items[0], S("3"));
        assert_null(items.items[1].ptr);
        assert_bytes(&items.items[2], S("2"));
        assert_bytes(&items.items[3], BINV);
        assert_bytes(&items.items[4], S("1"));
        assert_bytes(&items.items[5], S("one"));
        vmux_bytes_array_free(&items);
        return;
    }
    /* Valkey 8.0 refuses GET # on a cluster, whatever the key's slot */
    errbuf[0] = '\0';
    assert_int_equal(vmux_sort(M, &EO, list, &o, &items), VMUX_ERR_SERVER);
    assert_non_null(strstr(errbuf, "GET option of SORT denied in Cluster mode"));
    assert_zero_array(&items);
}

/* SORT_RO takes every option a read has, at once; the server counts SORT_RO, not SORT. */
static void test_sort_is_sort_ro(void **state)
{
    (void)state;
    vmux_str list = key("ro-list");
    DO(S("DEL"), list, key("ro-w_x"), key("ro-w_y"), key("ro-w_z"));
    DO(S("RPUSH"), list, S("x"), S("y"), S("z"));
    DO(S("MSET"), key("ro-w_x"), S("b"), key("ro-w_y"), S("c"), key("ro-w_z"), S("a"));
    vmux_str get[] = {key("ro-w_*")};
    vmux_sort_opts o = VMUX_INIT(vmux_sort_opts, .by = key("ro-w_*"), .limit = true, .offset = 0,
                                 .count = 2, .get = get, .nget = 1, .desc = true, .alpha = true);
    char *before = vt_admin("plain", "INFO commandstats");
    assert_non_null(before);
    expect_sort(list, &o, WANT("c", "b"));
    char *after = vt_admin("plain", "INFO commandstats");
    assert_non_null(after);
    if (vt_cluster_mode() == NULL) { /* one server: its counts are this test's */
        assert_true(calls(after, "sort_ro") > calls(before, "sort_ro"));
        assert_int_equal(calls(after, "sort"), calls(before, "sort"));
    }
    free(before);
    free(after);
}

/* STORE: read back, GET's nils stored empty, an empty result deletes dst, dst may be key. */
static void test_sort_store(void **state)
{
    (void)state;
    vmux_str list = key("store-list"), dst = key("store-dst"), set = key("store-set");
    DO(S("DEL"), list, dst, set, key("store-v_1"));
    DO(S("RPUSH"), list, S("2"), S("3"), S("1"));
    DO(S("SET"), dst, S("old")); /* replaced, whatever its type */
    int64_t length = -1;
    vmux_sort_opts desc = VMUX_INIT(vmux_sort_opts, .desc = true);
    assert_int_equal(vmux_sort_store(M, &EO, list, dst, &desc, &length), 0);
    assert_int_equal(length, 3);
    vmux_bytes_array got;
    const char *lrange[] = {"LRANGE", dst.ptr, "0", "-1"};
    size_t lens[] = {6, dst.len, 1, 2};
    call_array(M, 4, lrange, lens, &got);
    expect_items(&got, WANT("3", "2", "1"));
    vmux_bytes_array_free(&got);

    DO(S("SET"), key("store-v_1"), S("one"));
    vmux_str get[] = {key("store-v_*")};
    vmux_sort_opts o = VMUX_INIT(vmux_sort_opts, .get = get, .nget = 1);
    assert_int_equal(vmux_sort_store(M, &EO, list, dst, &o, &length), 0);
    assert_int_equal(length, 3);
    call_array(M, 4, lrange, lens, &got);
    expect_items(&got, WANT("one", "", "")); /* nil stored as an empty string */
    vmux_bytes_array_free(&got);

    /* a set stored unsorted (nosort) comes out sorted as byte strings */
    DO(S("SADD"), set, S("b"), S("c"), S("a"));
    o = (vmux_sort_opts)VMUX_INIT(vmux_sort_opts, .nosort = true);
    assert_int_equal(vmux_sort_store(M, &EO, set, dst, &o, NULL), 0);
    call_array(M, 4, lrange, lens, &got);
    expect_items(&got, WANT("a", "b", "c"));
    vmux_bytes_array_free(&got);

    /* into the sorted key itself */
    assert_int_equal(vmux_sort_store(M, &EO, list, list, NULL, &length), 0);
    assert_int_equal(length, 3);
    assert_raw_str(RAW(S("LINDEX"), list, S("0")), S("1"));
    /* an empty result deletes dst */
    vmux_sort_opts none = VMUX_INIT(vmux_sort_opts, .limit = true, .offset = 0, .count = 0);
    assert_int_equal(vmux_sort_store(M, &EO, list, dst, &none, &length), 0);
    assert_int_equal(length, 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), dst)), 0);
}

static void test_sort_wrongtype(void **state)
{
    (void)state;
    vmux_str s = key("wrong-string"), h = key("wrong-hash"), dst = key("wrong-dst");
    DO(S("DEL"), h, dst);
    DO(S("SET"), s, S("1"));
    DO(S("HSET"), h, S("f"), S("1"));
    vmux_bytes_array items = JUNK_ARRAY;
    assert_wrongtype(vmux_sort(M, &EO, s, NULL, &items));
    assert_zero_array(&items);
    assert_wrongtype(vmux_sort(M, &EO, h, NULL, &items));
    int64_t length = 7;
    assert_wrongtype(vmux_sort_store(M, &EO, s, dst, NULL, &length));
    assert_int_equal(length, 0);
    assert_int_equal(raw_int(RAW(S("EXISTS"), dst)), 0);
}

/* Every refusal: VMUX_ERR_INVALID_ARG, out zeroed, errbuf untouched, nothing sent. */
static void test_sort_refusals(void **state)
{
    (void)state;
    vmux_str list = key("bad-list"), dst = key("bad-dst");
    DO(S("DEL"), list, dst);
    DO(S("RPUSH"), list, S("1"));
    vmux_str bad_get[] = {S("#"), VMUX_STRN(NULL, 3)};
    const vmux_sort_opts bad[] = {
        {.size = 0, .desc = true}, /* not made with VMUX_INIT */
        VMUX_INIT(vmux_sort_opts, .by = key("bad-w_*"), .nosort = true),
        VMUX_INIT(vmux_sort_opts, .limit = true, .offset = -1, .count = 1),
        VMUX_INIT(vmux_sort_opts, .nget = 1),
        VMUX_INIT(vmux_sort_opts, .by = VMUX_STRN(NULL, 2)),
        VMUX_INIT(vmux_sort_opts, .get = bad_get, .nget = 2),
    };
    char *before = vt_admin("plain", "INFO commandstats");
    strcpy(errbuf, "untouched");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vmux_bytes_array items = JUNK_ARRAY;
        assert_int_equal(vmux_sort(M, &EO, list, &bad[i], &items), VMUX_ERR_INVALID_ARG);
        assert_zero_array(&items);
        int64_t length = 7;
        assert_int_equal(vmux_sort_store(M, &EO, list, dst, &bad[i], &length),
                         VMUX_ERR_INVALID_ARG);
        assert_int_equal(length, 0);
    }
    vmux_bytes_array items = JUNK_ARRAY;
    assert_int_equal(vmux_sort(M, &EO, VMUX_STRN(NULL, 1), NULL, &items), VMUX_ERR_INVALID_ARG);
    assert_zero_array(&items);
    assert_int_equal(vmux_sort(NULL, NULL, list, NULL, &items), VMUX_ERR_INVALID_ARG);
    int64_t length = 7;
    assert_int_equal(vmux_sort_store(M, &EO, list, VMUX_STRN(NULL, 1), NULL, &length),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(length, 0);
    assert_refused_words(errbuf);
    char *after = vt_admin("plain", "INFO commandstats");
    if (vt_cluster_mode() == NULL) { /* nothing was sent */
        assert_int_equal(calls(after, "sort_ro"), calls(before, "sort_ro"));
        assert_int_equal(calls(after, "sort"), calls(before, "sort"));
    }
    free(before);
    free(after);
    assert_int_equal(raw_int(RAW(S("EXISTS"), dst)), 0);
}

/*
 * Slots ({a} is slot 15495, {b} slot 3300): a cluster refuses a STORE into another slot unsent,
 * and the server refuses BY and GET patterns outside the key's slot; one server takes both.
 */
static void test_sort_two_slots(void **state)
{
    (void)state;
    vmux_str a = slot_key("a", "sort"), b = slot_key("b", "sort");
    vmux_str wb[] = {slot_key("b", "w_*")};
    DO(S("DEL"), a);
    DO(S("DEL"), b);
    DO(S("RPUSH"), a, S("2"), S("1"));
    vmux_sort_opts by_b = VMUX_INIT(vmux_sort_opts, .by = wb[0]);
    vmux_sort_opts get_b = VMUX_INIT(vmux_sort_opts, .get = wb, .nget = 1);
    vmux_sort_opts unhashed = VMUX_INIT(vmux_sort_opts, .by = S("w_*"));
    int64_t length = 7;
    errbuf[0] = '\0';
    if (vt_cluster_mode() == NULL) {
        assert_int_equal(vmux_sort_store(M, &EO, a, b, NULL, &length), 0);
        assert_int_equal(length, 2);
        expect_sort(a, &by_b, WANT("1", "2")); /* no weights: 0, then by element */
        expect_sort(a, &get_b, WANT(NULL, NULL));
        expect_sort(a, &unhashed, WANT("1", "2"));
        DO(S("DEL"), b);
        return;
    }
    assert_int_equal(vmux_sort_store(M, &EO, a, b, NULL, &length), VMUX_ERR_CROSSSLOT);
    assert_int_equal(length, 0);
    assert_non_null(strstr(errbuf, "slot 15495"));
    assert_non_null(strstr(errbuf, "slot 3300"));
    assert_int_equal(raw_int(RAW(S("EXISTS"), b)), 0);
    const struct {
        const vmux_sort_opts *o;
        const char *why;
    } refused[] = {{&by_b, "BY option"}, {&get_b, "GET option"}, {&unhashed, "BY option"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        vmux_bytes_array items = JUNK_ARRAY;
        errbuf[0] = '\0';
        assert_int_equal(vmux_sort(M, &EO, a, refused[i].o, &items), VMUX_ERR_SERVER);
        assert_non_null(strstr(errbuf, refused[i].why));
        assert_zero_array(&items);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_numbers),  cmocka_unit_test(test_sort_alpha),
        cmocka_unit_test(test_sort_limit),    cmocka_unit_test(test_sort_by),
        cmocka_unit_test(test_sort_get),      cmocka_unit_test(test_sort_is_sort_ro),
        cmocka_unit_test(test_sort_store),    cmocka_unit_test(test_sort_wrongtype),
        cmocka_unit_test(test_sort_refusals), cmocka_unit_test(test_sort_two_slots),
    };
    return cmocka_run_group_tests(tests, cmd_setup, cmd_teardown);
}

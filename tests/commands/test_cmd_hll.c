/*
 * The HyperLogLog commands (hyperloglog.h) against a real server: PFADD with its changed flag
 * (elements, none, the same again), PFCOUNT of one key, of missing keys and of several (their
 * union, the keys left as they were), 1,000 elements counted within the estimate's error, and
 * PFMERGE into a new and an existing destination; binary keys and elements with NUL bytes,
 * WRONGTYPE (a list, and a string that is no HyperLogLog), every argument refused with nothing
 * sent, results zeroed on every error, and on a cluster keys of one slot (a hash tag) against
 * keys of two (VMUX_ERR_CROSSSLOT, nothing sent). Counts are checked against PFCOUNT read back
 * through the generic API. Keys are cmd_common.h's key(), all in one slot ("hll" group) unless
 * a test says otherwise.
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

#include "testutil.h"
#include "vmux/vmux.h"

#include "cmd_common.h"

const char cmd_family[] = "hll";

/* Elements that differ only after a NUL: cut at the NUL, they would count as one. */
#define NUL_A VMUX_STRN("e\0a", 3)
#define NUL_B VMUX_STRN("e\0b", 3)

/* PFCOUNT of one key through the generic API. */
static int64_t raw_count(vmux_str k)
{
    return raw_int(RAW(S("PFCOUNT"), k));
}

static bool exists(vmux_str k)
{
    return raw_int(RAW(S("EXISTS"), k)) == 1;
}

static void test_pfadd_pfcount(void **state)
{
    (void)state;
    vmux_str k = binkey("hll-add");
    DO(S("DEL"), k);
    vmux_str elements[] = {S("e"), NUL_A, NUL_B, S(""), NUL_A};
    bool changed = false;
    assert_int_equal(vmux_pfadd(M, NULL, k, elements, 5, &changed), 0);
    assert_true(changed);
    assert_int_equal(raw_count(k), 4); /* "e", "e\0a", "e\0b", "" */
    changed = true;
    assert_int_equal(vmux_pfadd(M, NULL, k, elements, 3, &changed), 0);
    assert_false(changed); /* nothing new */
    assert_int_equal(vmux_pfadd(M, NULL, k, elements, 5, NULL), 0);

    int64_t n = -1;
    assert_int_equal(vmux_pfcount(M, NULL, &k, 1, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(vmux_pfcount(M, NULL, &k, 1, NULL), 0);
    vmux_str missing = key("hll-missing");
    DO(S("DEL"), missing);
    n = -1;
    assert_int_equal(vmux_pfcount(M, NULL, &missing, 1, &n), 0);
    assert_int_equal(n, 0);
    assert_false(exists(missing));
}

/* PFADD key without elements: creates an empty HyperLogLog once, then changes nothing. */
static void test_pfadd_no_elements(void **state)
{
    (void)state;
    vmux_str k = key("hll-empty");
    DO(S("DEL"), k);
    bool changed = false;
    assert_int_equal(vmux_pfadd(M, NULL, k, NULL, 0, &changed), 0);
    assert_true(changed);
    assert_true(exists(k));
    assert_int_equal(raw_count(k), 0);
    changed = true;
    assert_int_equal(vmux_pfadd(M, NULL, k, NULL, 0, &changed), 0);
    assert_false(changed);
}

/* 1,000 distinct elements, added 100 at a time, come back within 2% (the standard error is 0.81%).
 */
static void test_estimate(void **state)
{
    (void)state;
    vmux_str k = key("hll-many");
    DO(S("DEL"), k);
    static char text[100][16];
    vmux_str batch[100];
    for (int start = 0; start < 1000; start += 100) {
        for (int i = 0; i < 100; i++)
            batch[i] =
                VMUX_STRN(text[i], (size_t)snprintf(text[i], sizeof text[i], "user:%d", start + i));
        assert_int_equal(vmux_pfadd(M, NULL, k, batch, 100, NULL), 0);
    }
    int64_t n = 0;
    assert_int_equal(vmux_pfcount(M, NULL, &k, 1, &n), 0);
    assert_true(n >= 980 && n <= 1020);
    assert_int_equal(n, raw_count(k));
}

/* PFCOUNT of several keys counts their union and leaves them as they were; PFMERGE stores it. */
static void test_union_and_merge(void **state)
{
    (void)state;
    vmux_str a = key("hll-a"), b = binkey("hll-b"), dest = key("hll-dest");
    vmux_str none = key("hll-none");
    vmux_str keys[] = {a, b, none};
    for (int i = 0; i < 3; i++)
        DO(S("DEL"), keys[i]);
    DO(S("DEL"), dest);
    vmux_str in_a[] = {S("x"), S("y"), NUL_A}, in_b[] = {S("y"), S("z"), NUL_B};
    assert_int_equal(vmux_pfadd(M, NULL, a, in_a, 3, NULL), 0);
    assert_int_equal(vmux_pfadd(M, NULL, b, in_b, 3, NULL), 0);
    int64_t n = -1;
    assert_int_equal(vmux_pfcount(M, NULL, keys, 3, &n), 0);
    assert_int_equal(n, 5); /* x, y, z and the two NUL elements */
    assert_int_equal(raw_count(a), 3);
    assert_int_equal(raw_count(b), 3);
    assert_false(exists(none));

    /* into a missing destination: the union of the sources */
    assert_int_equal(vmux_pfmerge(M, NULL, dest, keys, 3), 0);
    assert_int_equal(raw_count(dest), 5);
    assert_false(exists(none));
    /* into an existing one: its own elements stay */
    vmux_str w = S("w");
    assert_int_equal(vmux_pfadd(M, NULL, a, &w, 1, NULL), 0);
    vmux_str more = S("v");
    assert_int_equal(vmux_pfadd(M, NULL, dest, &more, 1, NULL), 0);
    assert_int_equal(vmux_pfmerge(M, NULL, dest, &a, 1), 0);
    assert_int_equal(raw_count(dest), 7); /* the five, v, and w from a */
    /* merging again changes nothing (what makes it retry-safe) */
    assert_int_equal(vmux_pfmerge(M, NULL, dest, keys, 3), 0);
    assert_int_equal(raw_count(dest), 7);

    /* no sources: a missing destination is created empty, an existing one kept */
    vmux_str fresh = key("hll-fresh");
    DO(S("DEL"), fresh);
    assert_int_equal(vmux_pfmerge(M, NULL, fresh, NULL, 0), 0);
    assert_true(exists(fresh));
    assert_int_equal(raw_count(fresh), 0);
    assert_int_equal(vmux_pfmerge(M, NULL, dest, NULL, 0), 0);
    assert_int_equal(raw_count(dest), 7);
}

/*
 * Keys in two slots ({a} is slot 15495, {b} slot 3300): a cluster refuses PFCOUNT and PFMERGE of
 * them before sending (the destination is not created), a standalone server runs them.
 */
static void test_two_slots(void **state)
{
    (void)state;
    char ta[64], tb[64], td[64];
    int pid = (int)getpid();
    vmux_str a = VMUX_STRN(ta, (size_t)snprintf(ta, sizeof ta, "vt:{a}:hll:%d", pid));
    vmux_str b = VMUX_STRN(tb, (size_t)snprintf(tb, sizeof tb, "vt:{b}:hll:%d", pid));
    vmux_str d = VMUX_STRN(td, (size_t)snprintf(td, sizeof td, "vt:{a}:hll-dest:%d", pid));
    vmux_str two[] = {a, b};
    DO(S("DEL"), a);
    DO(S("DEL"), b);
    DO(S("DEL"), d);
    vmux_str x = S("x"), y = S("y");
    assert_int_equal(vmux_pfadd(M, NULL, a, &x, 1, NULL), 0);
    assert_int_equal(vmux_pfadd(M, NULL, b, &y, 1, NULL), 0);
    int64_t n = -1;
    errbuf[0] = '\0';
    if (vt_cluster_mode() == NULL) {
        assert_int_equal(vmux_pfcount(M, &EO, two, 2, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(vmux_pfmerge(M, &EO, d, two, 2), 0);
        assert_int_equal(raw_count(d), 2);
        return;
    }
    assert_int_equal(vmux_pfcount(M, &EO, two, 2, &n), VMUX_ERR_CROSSSLOT);
    assert_int_equal(n, 0);
    assert_non_null(strstr(errbuf, "slot 15495"));
    assert_non_null(strstr(errbuf, "slot 3300"));
    errbuf[0] = '\0';
    assert_int_equal(vmux_pfmerge(M, &EO, d, two, 2), VMUX_ERR_CROSSSLOT);
    assert_non_null(strstr(errbuf, "hash to different slots"));
    assert_false(exists(d));
    /* d and a share their tag: one slot */
    assert_int_equal(vmux_pfmerge(M, NULL, d, &a, 1), 0);
    assert_int_equal(raw_count(d), 1);
}

static void test_wrongtype(void **state)
{
    (void)state;
    vmux_str list = key("hll-list"), str = key("hll-str"), ok = key("hll-ok");
    DO(S("DEL"), list);
    DO(S("RPUSH"), list, S("x"));
    DO(S("SET"), str, S("not a HyperLogLog"));
    vmux_str x = S("x");
    DO(S("DEL"), ok);
    assert_int_equal(vmux_pfadd(M, NULL, ok, &x, 1, NULL), 0);
    bool changed = true;
    assert_wrongtype(vmux_pfadd(M, &EO, list, &x, 1, &changed));
    assert_false(changed);
    int64_t n = 7;
    assert_wrongtype(vmux_pfcount(M, &EO, &list, 1, &n));
    assert_int_equal(n, 0);
    /* a string that is not a HyperLogLog: the server's own words */
    n = 7;
    assert_wrongtype(vmux_pfcount(M, &EO, &str, 1, &n));
    assert_int_equal(n, 0);
    vmux_str mixed[] = {ok, str};
    n = 7;
    assert_wrongtype(vmux_pfcount(M, &EO, mixed, 2, &n));
    assert_int_equal(n, 0);
    assert_wrongtype(vmux_pfmerge(M, &EO, ok, &list, 1));
    assert_wrongtype(vmux_pfmerge(M, &EO, list, &ok, 1));
    assert_int_equal(raw_count(ok), 1);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    vmux_str k = key("hll-bad"), d = key("hll-bad-dest");
    vmux_str nul = VMUX_STRN(NULL, 1);
    DO(S("DEL"), k);
    DO(S("DEL"), d);
    strcpy(errbuf, "untouched");
    bool changed = true;
    assert_int_equal(vmux_pfadd(M, &EO, k, NULL, 2, &changed), VMUX_ERR_INVALID_ARG);
    assert_false(changed);
    changed = true;
    vmux_str with_nul[] = {S("a"), nul};
    assert_int_equal(vmux_pfadd(M, &EO, k, with_nul, 2, &changed), VMUX_ERR_INVALID_ARG);
    assert_false(changed);
    assert_int_equal(vmux_pfadd(M, &EO, nul, NULL, 0, NULL), VMUX_ERR_INVALID_ARG);
    assert_false(exists(k));

    int64_t n = 7;
    assert_int_equal(vmux_pfcount(M, &EO, NULL, 1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_pfcount(M, &EO, &k, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_pfcount(M, &EO, &nul, 1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);

    assert_int_equal(vmux_pfmerge(M, &EO, d, NULL, 1), VMUX_ERR_INVALID_ARG);
    vmux_str sources[] = {k, nul};
    assert_int_equal(vmux_pfmerge(M, &EO, d, sources, 2), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_pfmerge(M, &EO, nul, &k, 1), VMUX_ERR_INVALID_ARG);
    assert_false(exists(d));
    assert_refused_words(errbuf); /* refused before anything was sent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pfadd_pfcount), cmocka_unit_test(test_pfadd_no_elements),
        cmocka_unit_test(test_estimate),      cmocka_unit_test(test_union_and_merge),
        cmocka_unit_test(test_two_slots),     cmocka_unit_test(test_wrongtype),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, cmd_setup, cmd_teardown);
}

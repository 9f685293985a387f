/*
 * Leaderboards (leaderboard.h) against the real server: 1,000 players with distinct scores
 * (top N, every player's rank and score, pages, past the end), 1,000 players with many equal
 * scores and members of different lengths and bytes (the documented tie order, highest and
 * lowest first), the N around a player at the top, the bottom, the middle, with odd and even
 * N and N larger than the board, n up to SIZE_MAX and pages up to rank INT64_MAX, increments
 * (also from many threads at once), keeping the best score, removal, binary members, a key of
 * another type, and bad arguments. Expected results come from a model sorted in the test.
 * Keys start with "patlb:".
 */
#include <math.h>
#include <pthread.h>
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

#define S VMUX_STR
#define PLAYERS 1000

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

static void del(const char *key)
{
    char *r = vt_admin("plain", "DEL %s", key);
    assert_non_null(r);
    free(r);
}

static vmux_leaderboard *board(vmux *m, const char *key, bool lowest_first)
{
    vmux_leaderboard_opts o = VMUX_INIT(vmux_leaderboard_opts, .lowest_first = lowest_first);
    vmux_leaderboard *lb = NULL;
    assert_int_equal(vmux_leaderboard_new(m, S(key), &o, &lb), 0);
    assert_non_null(lb);
    return lb;
}

/* The model: players as the test expects the server to rank them. */
struct player {
    char name[16];
    size_t len; /* names may hold NULs */
    double score;
};

static int cmp_member(const struct player *a, const struct player *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->name, b->name, n);
    return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

/* Highest score first; equal scores by member, descending (leaderboard.h). */
static int cmp_high_first(const void *pa, const void *pb)
{
    const struct player *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    return -cmp_member(a, b);
}

/* Lowest score first; equal scores by member, ascending. */
static int cmp_low_first(const void *pa, const void *pb)
{
    const struct player *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score < b->score ? -1 : 1;
    return cmp_member(a, b);
}

static vmux_str name_of(const struct player *p)
{
    return VMUX_STRN(p->name, p->len);
}

static void add_all(vmux_leaderboard *lb, const struct player *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(vmux_leaderboard_set(lb, NULL, name_of(&p[i]), p[i].score), 0);
}

/* Entry e is the player at 1-based rank in the sorted model. */
static void expect_entry(const vmux_leaderboard_entry *e, const struct player *sorted, int64_t rank)
{
    const struct player *want = &sorted[rank - 1];
    assert_int_equal(e->rank, rank);
    assert_int_equal(e->member.len, want->len);
    assert_memory_equal(e->member.ptr, want->name, want->len);
    assert_true(e->score == want->score);
}

static void expect_entries(const vmux_leaderboard_entries *got, const struct player *sorted,
                           int64_t first_rank, size_t count)
{
    assert_int_equal(got->count, count);
    for (size_t i = 0; i < count; i++)
        expect_entry(&got->items[i], sorted, first_rank + (int64_t)i);
}

/* Every player's rank and score as the model says. */
static void expect_every_rank(vmux_leaderboard *lb, const struct player *sorted, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t rank = -1;
        double score = NAN;
        bool found = false;
        assert_int_equal(vmux_leaderboard_get(lb, NULL, name_of(&sorted[i]), &rank, &score, &found),
                         0);
        assert_true(found);
        assert_int_equal(rank, (int64_t)i + 1);
        assert_true(score == sorted[i].score);
    }
}

/* Players with distinct scores: a permutation of 0..999 (7919 is prime to 1000), halved. */
static void distinct_players(struct player *p)
{
    for (int i = 0; i < PLAYERS; i++) {
        p[i].len = (size_t)snprintf(p[i].name, sizeof p[i].name, "player:%04d", i);
        p[i].score = ((i * 7919) % PLAYERS) * 0.5 - 100;
    }
}

static void test_thousand_players(void **state)
{
    static struct player p[PLAYERS];
    distinct_players(p);
    del("patlb:distinct");
    vmux_leaderboard *lb = board(*state, "patlb:distinct", false);
    add_all(lb, p, PLAYERS);
    qsort(p, PLAYERS, sizeof p[0], cmp_high_first);

    int64_t count = 0;
    assert_int_equal(vmux_leaderboard_count(lb, NULL, &count), 0);
    assert_int_equal(count, PLAYERS);

    vmux_leaderboard_entries top;
    assert_int_equal(vmux_leaderboard_top(lb, NULL, 10, &top), 0);
    expect_entries(&top, p, 1, 10);
    assert_true(top.items[0].score == 399.5); /* the best: 999 * 0.5 - 100 */
    vmux_leaderboard_entries_free(&top);
    assert_int_equal(vmux_leaderboard_top(lb, NULL, 5000, &top), 0);
    expect_entries(&top, p, 1, PLAYERS);
    vmux_leaderboard_entries_free(&top);
    vmux_leaderboard_entries_free(&top); /* a freed array may be freed again */

    expect_every_rank(lb, p, PLAYERS);

    vmux_leaderboard_entries page;
    assert_int_equal(vmux_leaderboard_range(lb, NULL, 501, 25, &page), 0);
    expect_entries(&page, p, 501, 25);
    vmux_leaderboard_entries_free(&page);
    assert_int_equal(vmux_leaderboard_range(lb, NULL, 991, 20, &page), 0);
    expect_entries(&page, p, 991, 10);
    vmux_leaderboard_entries_free(&page);
    assert_int_equal(vmux_leaderboard_range(lb, NULL, 1001, 5, &page), 0);
    assert_int_equal(page.count, 0);
    assert_null(page.items);

    int64_t rank = 9;
    double score = 9;
    bool found = true;
    assert_int_equal(vmux_leaderboard_get(lb, NULL, S("nobody"), &rank, &score, &found), 0);
    assert_false(found);
    assert_int_equal(rank, 0);
    assert_true(score == 0);
    vmux_leaderboard_free(lb);
    del("patlb:distinct");
}

/* 1,000 players on 7 scores, with names that differ in length, case and bytes. */
static void tied_players(struct player *p)
{
    static const char *const stems[] = {"a", "ab", "B", "b", "ba", "zz", "a\xff", "\x01"};
    for (int i = 0; i < PLAYERS; i++) {
        const char *stem = stems[i % 8];
        size_t n = strlen(stem);
        memcpy(p[i].name, stem, n);
        p[i].name[n] = '\0'; /* a NUL inside the member, then a number: all distinct */
        p[i].len =
            n + 1 + (size_t)snprintf(p[i].name + n + 1, sizeof p[i].name - n - 1, "%d", i / 8);
        p[i].score = (double)(i % 7);
    }
}

static void test_ties(void **state)
{
    static struct player p[PLAYERS];
    tied_players(p);
    del("patlb:ties");
    vmux_leaderboard *high = board(*state, "patlb:ties", false);
    vmux_leaderboard *low = board(*state, "patlb:ties", true);
    add_all(high, p, PLAYERS);

    qsort(p, PLAYERS, sizeof p[0], cmp_high_first);
    vmux_leaderboard_entries all;
    assert_int_equal(vmux_leaderboard_top(high, NULL, PLAYERS, &all), 0);
    expect_entries(&all, p, 1, PLAYERS);
    vmux_leaderboard_entries_free(&all);
    expect_every_rank(high, p, PLAYERS);

    qsort(p, PLAYERS, sizeof p[0], cmp_low_first);
    assert_int_equal(vmux_leaderboard_top(low, NULL, PLAYERS, &all), 0);
    expect_entries(&all, p, 1, PLAYERS);
    vmux_leaderboard_entries_free(&all);
    expect_every_rank(low, p, PLAYERS);

    /* around a tied player uses the same order */
    vmux_leaderboard_entries near;
    bool found = false;
    assert_int_equal(vmux_leaderboard_around(low, NULL, name_of(&p[500]), 7, &near, &found), 0);
    assert_true(found);
    expect_entries(&near, p, 498, 7);
    vmux_leaderboard_entries_free(&near);
    vmux_leaderboard_free(high);
    vmux_leaderboard_free(low);
    del("patlb:ties");
}

/* The window of n around the player at 1-based rank `at` starts at rank `first`. */
static void expect_around(vmux_leaderboard *lb, const struct player *sorted, int64_t at, size_t n,
                          int64_t first, size_t count)
{
    vmux_leaderboard_entries near;
    bool found = false;
    assert_int_equal(vmux_leaderboard_around(lb, NULL, name_of(&sorted[at - 1]), n, &near, &found),
                     0);
    assert_true(found);
    expect_entries(&near, sorted, first, count);
    bool contains = false;
    for (size_t i = 0; i < near.count; i++)
        contains = contains || near.items[i].rank == at;
    assert_true(contains);
    vmux_leaderboard_entries_free(&near);
}

static void test_around(void **state)
{
    static struct player p[PLAYERS];
    distinct_players(p);
    del("patlb:around");
    vmux_leaderboard *lb = board(*state, "patlb:around", false);
    add_all(lb, p, PLAYERS);
    qsort(p, PLAYERS, sizeof p[0], cmp_high_first);

    /* n = 5: two above, two below, shifted at the ends */
    expect_around(lb, p, 1, 5, 1, 5);
    expect_around(lb, p, 2, 5, 1, 5);
    expect_around(lb, p, 3, 5, 1, 5);
    expect_around(lb, p, 4, 5, 2, 5);
    expect_around(lb, p, 500, 5, 498, 5);
    expect_around(lb, p, 997, 5, 995, 5);
    expect_around(lb, p, 998, 5, 996, 5);
    expect_around(lb, p, 999, 5, 996, 5);
    expect_around(lb, p, 1000, 5, 996, 5);
    /* n = 4: one above, two below */
    expect_around(lb, p, 500, 4, 499, 4);
    expect_around(lb, p, 1, 4, 1, 4);
    expect_around(lb, p, 1000, 4, 997, 4);
    /* n = 1: the player alone; n beyond the board: the whole board */
    expect_around(lb, p, 321, 1, 321, 1);
    expect_around(lb, p, 321, 2000, 1, PLAYERS);

    vmux_leaderboard_entries near = {(vmux_leaderboard_entry *)p, 3};
    bool found = true;
    assert_int_equal(vmux_leaderboard_around(lb, NULL, S("nobody"), 5, &near, &found), 0);
    assert_false(found);
    assert_int_equal(near.count, 0);
    assert_null(near.items);
    vmux_leaderboard_free(lb);

    /* a board smaller than n, and a missing board */
    del("patlb:small");
    lb = board(*state, "patlb:small", false);
    struct player three[3] = {{"x", 1, 3}, {"y", 1, 2}, {"z", 1, 1}};
    add_all(lb, three, 3);
    expect_around(lb, three, 3, 10, 1, 3);
    expect_around(lb, three, 2, 2, 2, 2);
    vmux_leaderboard_free(lb);
    del("patlb:small");
    lb = board(*state, "patlb:none", false);
    assert_int_equal(vmux_leaderboard_around(lb, NULL, S("x"), 3, &near, &found), 0);
    assert_false(found);
    vmux_leaderboard_free(lb);
    del("patlb:around");
}

/*
 * Any n means "up to n" (leaderboard.h): the largest size_t values included, which must not
 * overflow the last rank; and a page past the end, up to INT64_MAX, is empty, not an error.
 */
static void test_huge_n_and_far_pages(void **state)
{
    del("patlb:huge");
    vmux_leaderboard *lb = board(*state, "patlb:huge", false);
    struct player three[3] = {{"x", 1, 3}, {"y", 1, 2}, {"z", 1, 1}};
    add_all(lb, three, 3);
    const size_t ns[] = {(size_t)1 << 53, (size_t)INT64_MAX - 1, (size_t)INT64_MAX,
                         (size_t)INT64_MAX + 1, SIZE_MAX};
    vmux_leaderboard_entries got;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        assert_int_equal(vmux_leaderboard_top(lb, NULL, ns[i], &got), 0);
        expect_entries(&got, three, 1, 3);
        vmux_leaderboard_entries_free(&got);
        assert_int_equal(vmux_leaderboard_range(lb, NULL, 2, ns[i], &got), 0);
        expect_entries(&got, three, 2, 2);
        vmux_leaderboard_entries_free(&got);
        assert_int_equal(vmux_leaderboard_range(lb, NULL, INT64_MAX, ns[i], &got), 0);
        assert_int_equal(got.count, 0);
        expect_around(lb, three, 2, ns[i], 1, 3);
    }
    const int64_t firsts[] = {4, (int64_t)1 << 53, INT64_MAX / 2 + 1, INT64_MAX - 10, INT64_MAX};
    for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
        assert_int_equal(vmux_leaderboard_range(lb, NULL, firsts[i], 10, &got), 0);
        assert_int_equal(got.count, 0);
        assert_null(got.items);
    }
    vmux_leaderboard_free(lb);
    del("patlb:huge");
}

enum { THREADS = 8, INCRS = 100 };

static void *incr_main(void *arg)
{
    vmux_leaderboard *lb = arg;
    intptr_t failures = 0;
    for (int i = 0; i < INCRS; i++)
        if (vmux_leaderboard_incr(lb, NULL, S("busy"), 1.0, NULL) != 0)
            failures++;
    return (void *)failures;
}

static void test_incr_and_best(void **state)
{
    del("patlb:incr");
    vmux_leaderboard *lb = board(*state, "patlb:incr", false);
    double score = 0;
    assert_int_equal(vmux_leaderboard_incr(lb, NULL, S("amy"), 2.5, &score), 0);
    assert_true(score == 2.5);
    assert_int_equal(vmux_leaderboard_incr(lb, NULL, S("amy"), -1, &score), 0);
    assert_true(score == 1.5);

    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, incr_main, lb), 0);
    for (int i = 0; i < THREADS; i++) {
        void *failures = NULL;
        assert_int_equal(pthread_join(t[i], &failures), 0);
        assert_null(failures);
    }
    int64_t rank = 0;
    bool found = false;
    assert_int_equal(vmux_leaderboard_get(lb, NULL, S("busy"), &rank, &score, &found), 0);
    assert_true(found);
    assert_true(score == THREADS * INCRS);
    assert_int_equal(rank, 1);

    bool improved = false;
    assert_int_equal(vmux_leaderboard_set_best(lb, NULL, S("amy"), 10, &improved), 0);
    assert_true(improved);
    assert_int_equal(vmux_leaderboard_set_best(lb, NULL, S("amy"), 5, &improved), 0);
    assert_false(improved);
    assert_int_equal(vmux_leaderboard_set_best(lb, NULL, S("new"), -3, &improved), 0);
    assert_true(improved);
    assert_int_equal(vmux_leaderboard_get(lb, NULL, S("amy"), &rank, &score, &found), 0);
    assert_true(score == 10);
    assert_int_equal(rank, 2);

    /* lowest first: the best is the lowest (a race time) */
    vmux_leaderboard *race = board(*state, "patlb:incr", true);
    assert_int_equal(vmux_leaderboard_set_best(race, NULL, S("amy"), 12, &improved), 0);
    assert_false(improved);
    assert_int_equal(vmux_leaderboard_set_best(race, NULL, S("amy"), 7.25, &improved), 0);
    assert_true(improved);
    assert_int_equal(vmux_leaderboard_get(race, NULL, S("new"), &rank, &score, &found), 0);
    assert_int_equal(rank, 1);
    assert_true(score == -3);
    assert_int_equal(vmux_leaderboard_get(race, NULL, S("amy"), &rank, &score, &found), 0);
    assert_int_equal(rank, 2);
    assert_true(score == 7.25);

    bool removed = false;
    assert_int_equal(vmux_leaderboard_remove(lb, NULL, S("amy"), &removed), 0);
    assert_true(removed);
    assert_int_equal(vmux_leaderboard_remove(lb, NULL, S("amy"), &removed), 0);
    assert_false(removed);
    int64_t count = 0;
    assert_int_equal(vmux_leaderboard_count(lb, NULL, &count), 0);
    assert_int_equal(count, 2);
    vmux_leaderboard_free(race);
    vmux_leaderboard_free(lb);
    del("patlb:incr");
}

static void test_binary_members_and_keys(void **state)
{
    static const char key[] = "patlb:\0bin";
    vmux_leaderboard *lb = NULL;
    assert_int_equal(vmux_leaderboard_new(*state, VMUX_STRN(key, sizeof key - 1), NULL, &lb), 0);
    vmux_str a = VMUX_STRN("\0a", 2), b = VMUX_STRN("\0a\0", 3), e = VMUX_STRN("", 0);
    assert_int_equal(vmux_leaderboard_set(lb, NULL, a, 1), 0);
    assert_int_equal(vmux_leaderboard_set(lb, NULL, b, 1), 0);
    assert_int_equal(vmux_leaderboard_set(lb, NULL, e, INFINITY), 0);
    vmux_leaderboard_entries top;
    assert_int_equal(vmux_leaderboard_top(lb, NULL, 3, &top), 0);
    assert_int_equal(top.count, 3);
    assert_int_equal(top.items[0].member.len, 0);
    assert_true(isinf(top.items[0].score));
    assert_int_equal(top.items[1].member.len, 3); /* the longer wins a tie, highest first */
    assert_memory_equal(top.items[1].member.ptr, "\0a\0", 3);
    assert_int_equal(top.items[2].member.len, 2);
    vmux_leaderboard_entries_free(&top);
    bool found = false;
    assert_int_equal(vmux_leaderboard_around(lb, NULL, a, 1, &top, &found), 0);
    assert_true(found);
    assert_int_equal(top.count, 1);
    assert_int_equal(top.items[0].rank, 3);
    vmux_leaderboard_entries_free(&top);
    char *r = vt_admin("plain", "ZCARD %b", key, sizeof key - 1);
    assert_string_equal(r, "3");
    free(r);
    free(vt_admin("plain", "DEL %b", key, sizeof key - 1));
    vmux_leaderboard_free(lb);
}

static void test_wrong_type_and_bad_arguments(void **state)
{
    vmux *m = *state;
    free(vt_admin("plain", "SET patlb:string x"));
    vmux_leaderboard *lb = board(m, "patlb:string", false);
    char err[200] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_leaderboard_entries got;
    bool found = true;
    assert_int_equal(vmux_leaderboard_around(lb, &o, S("x"), 3, &got, &found), VMUX_ERR_SERVER);
    assert_false(found);
    assert_int_equal(got.count, 0);
    assert_non_null(strstr(err, "WRONGTYPE"));
    int64_t rank = 3;
    assert_int_equal(vmux_leaderboard_get(lb, NULL, S("x"), &rank, NULL, NULL), VMUX_ERR_SERVER);
    assert_int_equal(rank, 0);
    del("patlb:string");

    assert_int_equal(vmux_leaderboard_set(lb, NULL, S("x"), NAN), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_leaderboard_incr(lb, NULL, S("x"), NAN, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_leaderboard_top(lb, NULL, 0, &got), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_leaderboard_top(lb, NULL, 1, NULL), 0); /* NULL drops the entries */
    assert_int_equal(vmux_leaderboard_range(lb, NULL, 0, 5, &got), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_leaderboard_around(lb, NULL, S("x"), 0, &got, &found),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_leaderboard_set(NULL, NULL, S("x"), 1), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_leaderboard_get(NULL, NULL, S("x"), NULL, NULL, NULL),
                     VMUX_ERR_INVALID_ARG);
    vmux_leaderboard *none = NULL;
    assert_int_equal(vmux_leaderboard_new(NULL, S("k"), NULL, &none), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_leaderboard_new(m, S("k"), NULL, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_leaderboard_new(m, VMUX_STRN(NULL, 3), NULL, &none),
                     VMUX_ERR_INVALID_ARG);
    assert_null(none);
    vmux_leaderboard_free(NULL);
    vmux_leaderboard_entries_free(NULL);
    /* a member with ptr NULL and a length is no member (not "") */
    assert_int_equal(vmux_leaderboard_set(lb, NULL, VMUX_STRN(NULL, 1), 1), VMUX_ERR_INVALID_ARG);
    /* nothing was written by the refused calls */
    char *r = vt_admin("plain", "EXISTS patlb:string");
    assert_string_equal(r, "0");
    free(r);
    vmux_leaderboard_free(lb);
}

/* Expects rc VMUX_ERR_INVALID_ARG and err to hold "invalid argument: " and words. */
static void assert_refused(int rc, const char *err, const char *words)
{
    char want[200];
    snprintf(want, sizeof want, "invalid argument: %s", words);
    assert_int_equal(rc, VMUX_ERR_INVALID_ARG);
    assert_string_equal(err, want);
}

/* A refused leaderboard call says which argument broke which rule: in opts->errbuf for the calls
 * that take options, in vmux_last_error() for vmux_leaderboard_new(), named as leaderboard.h names
 * it (the handle as every family words it). */
static void test_refusal_words(void **state)
{
    vmux *m = *state;
    vmux_leaderboard *lb = board(m, "patlb:words", false), *none = NULL;
    char err[200] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_leaderboard_entries got;
    bool found;
    assert_refused(vmux_leaderboard_set(NULL, &o, S("x"), 1), err, "lb is NULL");
    assert_refused(vmux_leaderboard_count(NULL, &o, NULL), err, "lb is NULL");
    assert_refused(vmux_leaderboard_range(lb, &o, 0, 5, &got), err,
                   "first_rank is 0: ranks start at 1");
    assert_refused(vmux_leaderboard_top(lb, &o, 0, &got), err, "n is 0: must be at least 1");
    assert_refused(vmux_leaderboard_around(lb, &o, S("x"), 0, &got, &found), err,
                   "n is 0: must be at least 1");
    assert_refused(vmux_leaderboard_around(lb, &o, VMUX_STRN(NULL, 2), 3, &got, &found), err,
                   "member is at NULL with length 2 (a vmux_str {NULL, len > 0} is no string)");
    VT_LAST_ERROR(vmux_leaderboard_new(NULL, S("k"), NULL, &none), VMUX_ERR_INVALID_ARG,
                  "invalid argument: the handle is NULL");
    VT_LAST_ERROR(vmux_leaderboard_new(m, S("k"), NULL, NULL), VMUX_ERR_INVALID_ARG,
                  "invalid argument: out is NULL");
    VT_LAST_ERROR(
        vmux_leaderboard_new(m, VMUX_STRN(NULL, 3), NULL, &none), VMUX_ERR_INVALID_ARG,
        "invalid argument: key is at NULL with length 3 (a vmux_str {NULL, len > 0} is no string)");
    vmux_leaderboard_opts unsized = {0};
    VT_LAST_ERROR(vmux_leaderboard_new(m, S("k"), &unsized, &none), VMUX_ERR_INVALID_ARG,
                  "invalid argument: opts->size is 0: opts not made with VMUX_INIT (abi.h)");
    VT_LAST_ERROR(vmux_leaderboard_new(m, S("k"), NULL, &none), 0, "");
    vmux_leaderboard_free(none);
    vmux_leaderboard_free(lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thousand_players),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_around),
        cmocka_unit_test(test_huge_n_and_far_pages),
        cmocka_unit_test(test_incr_and_best),
        cmocka_unit_test(test_binary_members_and_keys),
        cmocka_unit_test(test_wrong_type_and_bad_arguments),
        cmocka_unit_test(test_refusal_words),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

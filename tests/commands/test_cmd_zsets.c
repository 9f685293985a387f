/*
 * The sorted-set commands (zsets.h) against the real server: ZADD with each option and with
 * many pairs, ZADD INCR and ZINCRBY, scores (one and many, nil for missing members), ranks with
 * scores, ZRANGE by index, by score (exclusive and infinite bounds) and by member, reversed and
 * limited, with and without scores, ZREM, ZCARD, ZCOUNT, ZPOPMIN/ZPOPMAX, the async forms, a
 * leaderboard of 1,000 players (top N with scores, a player's rank, score ranges), and ZSCAN
 * (scan.h) over 10,000 members with their scores; ZUNION, ZINTER and ZDIFF with and without
 * scores, weights and aggregates (nothing written), ZINTERCARD with and without LIMIT, and keys
 * in two slots; binary and empty members, missing keys,
 * WRONGTYPE, bad arguments, and results zeroed on every error. Results are checked against the
 * server's state read back over an admin connection or the generic API. Keys start with
 * "cmdzsets:".
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

#include <cmocka.h>

#include "cmd_collections.h"
#include "testutil.h"
#include "vmux/vmux.h"

static const char bin_key_bytes[] = "cmdzsets:\0bin";
#define BIN_KEY VMUX_STRN(bin_key_bytes, sizeof(bin_key_bytes) - 1)
#define NUL_MEMBER VMUX_STRN("a\0b", 3)
#define EMPTY VMUX_STRN("", 0)
#define S VMUX_STR

/* member's score read over the admin connection; NAN when it is not a member. */
static double admin_score(vmux_str key, vmux_str member)
{
    char *r = vt_admin("plain", "ZSCORE %b %b", key.ptr, key.len, member.ptr, member.len);
    assert_non_null(r);
    double v = strcmp(r, "(nil)") == 0 ? NAN : strtod(r, NULL);
    free(r);
    return v;
}

static void expect_score(vmux_str key, vmux_str member, double want)
{
    double got = admin_score(key, member);
    if (!(got == want || (isnan(got) && isnan(want))))
        fail_msg("score of %.*s: %.17g, want %.17g", (int)member.len, (const char *)member.ptr, got,
                 want);
}

static void expect_scored(const vmux_scored_array *got, const vmux_zmember *want, size_t n)
{
    assert_int_equal(got->count, n);
    for (size_t i = 0; i < n; i++) {
        assert_bytes(&got->items[i].member, want[i].member);
        if (got->items[i].score != want[i].score)
            fail_msg("item %zu: score %.17g, want %.17g", i, got->items[i].score, want[i].score);
    }
}

/* ZADD through the typed call under test, which must succeed. */
static void zadd(vmux *m, vmux_str key, const vmux_zmember *items, size_t n)
{
    assert_int_equal(vmux_zadd(m, NULL, key, items, n, VMUX_COND_ALWAYS, false, NULL), 0);
}

static int64_t zadd_count(vmux *m, vmux_str key, double score, const char *member, vmux_cond cond,
                          bool ch)
{
    vmux_zmember item = {S(member), score};
    int64_t count = -1;
    assert_int_equal(vmux_zadd(m, NULL, key, &item, 1, cond, ch, &count), 0);
    return count;
}

static void test_zadd(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:add");
    del(key);
    vmux_zmember first[] = {{S("a"), 1}, {S("b"), 2}, {S("c"), 3}};
    int64_t count = -1;
    assert_int_equal(vmux_zadd(m, NULL, key, first, 3, VMUX_COND_ALWAYS, false, &count), 0);
    assert_int_equal(count, 3);
    expect_score(key, S("b"), 2);
    vmux_zmember update[] = {{S("a"), 10}, {S("d"), 4}};
    assert_int_equal(vmux_zadd(m, NULL, key, update, 2, VMUX_COND_ALWAYS, false, &count), 0);
    assert_int_equal(count, 1); /* only d is new */
    expect_score(key, S("a"), 10);
    vmux_zmember changes[] = {{S("a"), 11}, {S("b"), 2}, {S("e"), 5}};
    assert_int_equal(vmux_zadd(m, NULL, key, changes, 3, VMUX_COND_ALWAYS, true, &count), 0);
    assert_int_equal(count, 2); /* a updated, e added; b unchanged */

    /* NX adds only; XX updates only */
    vmux_zmember nx[] = {{S("a"), 0}, {S("f"), 6}};
    assert_int_equal(vmux_zadd(m, NULL, key, nx, 2, VMUX_COND_NX, false, &count), 0);
    assert_int_equal(count, 1);
    expect_score(key, S("a"), 11);
    expect_score(key, S("f"), 6);
    vmux_zmember xx[] = {{S("a"), 12}, {S("g"), 7}};
    assert_int_equal(vmux_zadd(m, NULL, key, xx, 2, VMUX_COND_XX, true, &count), 0);
    assert_int_equal(count, 1);
    expect_score(key, S("a"), 12);
    expect_score(key, S("g"), NAN);
    /* GT and LT update in one direction only, and still add */
    assert_int_equal(zadd_count(m, key, 5, "a", VMUX_COND_GT, true), 0);
    expect_score(key, S("a"), 12);
    assert_int_equal(zadd_count(m, key, 20, "a", VMUX_COND_GT, true), 1);
    expect_score(key, S("a"), 20);
    assert_int_equal(zadd_count(m, key, 1, "h", VMUX_COND_GT, false), 1);
    assert_int_equal(zadd_count(m, key, 30, "a", VMUX_COND_LT, true), 0);
    assert_int_equal(zadd_count(m, key, -1, "a", VMUX_COND_LT, true), 1);
    expect_score(key, S("a"), -1);
    assert_int_equal(zadd_count(m, key, 1, "b", VMUX_COND_XX_GT, true), 0);
    assert_int_equal(zadd_count(m, key, 3, "b", VMUX_COND_XX_GT, true), 1);
    assert_int_equal(zadd_count(m, key, 3, "new", VMUX_COND_XX_GT, false), 0);
    expect_score(key, S("new"), NAN);

    /* binary and empty members, infinities, and a score that needs every digit */
    vmux_zmember odd[] = {{NUL_MEMBER, 0.1},
                          {EMPTY, -0.5},
                          {S("top"), INFINITY},
                          {S("bottom"), -INFINITY},
                          {S("tiny"), 1e-300}};
    assert_int_equal(vmux_zadd(m, NULL, key, odd, 5, VMUX_COND_ALWAYS, false, &count), 0);
    assert_int_equal(count, 5);
    expect_score(key, NUL_MEMBER, 0.1);
    expect_score(key, EMPTY, -0.5);
    expect_score(key, S("top"), INFINITY);
    expect_score(key, S("bottom"), -INFINITY);
    expect_score(key, S("tiny"), 1e-300);
    assert_int_equal(vmux_zadd(m, NULL, key, odd, 1, VMUX_COND_ALWAYS, false, NULL), 0);
    assert_int_equal(admin_int("ZCARD %b", key), 12);
}

static void test_zadd_many_pairs_and_binary_key(void **state)
{
    vmux *m = *state;
    enum { N = 300 };
    static char names[N][16];
    vmux_zmember items[N];
    del(BIN_KEY);
    for (int i = 0; i < N; i++) {
        int len = snprintf(names[i], sizeof names[i], "p%d", i);
        items[i] = (vmux_zmember){VMUX_STRN(names[i], (size_t)len), i * 1.5};
    }
    int64_t count;
    assert_int_equal(vmux_zadd(m, NULL, BIN_KEY, items, N, VMUX_COND_ALWAYS, false, &count), 0);
    assert_int_equal(count, N);
    assert_int_equal(admin_int("ZCARD %b", BIN_KEY), N);
    for (int i = 0; i < N; i += 37)
        expect_score(BIN_KEY, items[i].member, i * 1.5);
    expect_score(BIN_KEY, items[N - 1].member, (N - 1) * 1.5);
}

static void test_zadd_bad_arguments(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:add-bad");
    del(key);
    vmux_zmember one = {S("a"), 1}, nan_item = {S("a"), NAN};
    const vmux_cond bad[] = {(vmux_cond)(VMUX_COND_XX_LT + 1), (vmux_cond)-1, (vmux_cond)0x100};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t count = 7;
        assert_int_equal(vmux_zadd(m, NULL, key, &one, 1, bad[i], false, &count),
                         VMUX_ERR_INVALID_ARG);
        assert_int_equal(count, 0);
        double score = 7;
        bool applied = true;
        assert_int_equal(vmux_zadd_incr(m, NULL, key, S("a"), 1, bad[i], &score, &applied),
                         VMUX_ERR_INVALID_ARG);
        assert_true(score == 0);
        assert_false(applied);
    }
    int64_t count = 7;
    assert_int_equal(vmux_zadd(m, NULL, key, &nan_item, 1, VMUX_COND_ALWAYS, false, &count),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(count, 0);
    count = 7;
    assert_int_equal(vmux_zadd(m, NULL, key, NULL, 1, VMUX_COND_ALWAYS, false, &count),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(count, 0);
    assert_int_equal(vmux_zadd(m, NULL, key, &one, 0, VMUX_COND_ALWAYS, false, &count),
                     VMUX_ERR_INVALID_ARG);
    double score = 7;
    assert_int_equal(vmux_zincrby(m, NULL, key, S("a"), NAN, &score), VMUX_ERR_INVALID_ARG);
    assert_true(score == 0);
    assert_int_equal(vmux_zadd_incr(m, NULL, key, S("a"), NAN, VMUX_COND_ALWAYS, &score, NULL),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(admin_int("EXISTS %b", key), 0); /* nothing was sent */
}

static void test_zadd_incr_and_zincrby(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:incr");
    del(key);
    double score = -1;
    bool applied = false;
    assert_int_equal(vmux_zadd_incr(m, NULL, key, S("m"), 1.5, VMUX_COND_ALWAYS, &score, &applied),
                     0);
    assert_true(applied);
    assert_true(score == 1.5);
    assert_int_equal(vmux_zadd_incr(m, NULL, key, S("m"), 2.25, VMUX_COND_ALWAYS, &score, &applied),
                     0);
    assert_true(score == 3.75);
    expect_score(key, S("m"), 3.75);
    /* conditions that stop it: nil */
    assert_int_equal(vmux_zadd_incr(m, NULL, key, S("m"), 1, VMUX_COND_NX, &score, &applied), 0);
    assert_false(applied);
    assert_true(score == 0);
    expect_score(key, S("m"), 3.75);
    assert_int_equal(vmux_zadd_incr(m, NULL, key, S("n"), 1, VMUX_COND_XX, &score, &applied), 0);
    assert_false(applied);
    expect_score(key, S("n"), NAN);
    assert_int_equal(vmux_zadd_incr(m, NULL, key, S("m"), -1, VMUX_COND_GT, &score, &applied), 0);
    assert_false(applied);
    assert_int_equal(vmux_zadd_incr(m, NULL, key, S("m"), -1, VMUX_COND_LT, &score, &applied), 0);
    assert_true(applied);
    assert_true(score == 2.75);
    assert_int_equal(vmux_zadd_incr(m, NULL, key, NUL_MEMBER, 4, VMUX_COND_NX, NULL, NULL), 0);
    expect_score(key, NUL_MEMBER, 4);

    assert_int_equal(vmux_zincrby(m, NULL, key, EMPTY, 2.5, &score), 0);
    assert_true(score == 2.5);
    assert_int_equal(vmux_zincrby(m, NULL, key, EMPTY, -1.5, &score), 0);
    assert_true(score == 1);
    expect_score(key, EMPTY, 1);
    assert_int_equal(vmux_zincrby(m, NULL, key, S("inf"), INFINITY, &score), 0);
    assert_true(isinf(score) && score > 0);
    assert_int_equal(vmux_zincrby(m, NULL, key, S("m"), 1, NULL), 0);
    expect_score(key, S("m"), 3.75);
    /* +inf plus -inf is not a number: the server refuses */
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    score = 7;
    assert_int_equal(vmux_zincrby(m, &o, key, S("inf"), -INFINITY, &score), VMUX_ERR_SERVER);
    assert_non_null(strstr(err, "NaN"));
    assert_true(score == 0);
    expect_score(key, S("inf"), INFINITY);
}

static void test_zscore_zmscore(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:score"), missing = S("cmdzsets:score-missing");
    del(key);
    del(missing);
    vmux_zmember items[] = {{NUL_MEMBER, -2.5}, {EMPTY, 0}, {S("hi"), INFINITY}};
    zadd(m, key, items, 3);
    double score = 7;
    bool found = false;
    assert_int_equal(vmux_zscore(m, NULL, key, NUL_MEMBER, &score, &found), 0);
    assert_true(found);
    assert_true(score == -2.5);
    assert_int_equal(vmux_zscore(m, NULL, key, EMPTY, &score, &found), 0);
    assert_true(found);
    assert_true(score == 0);
    assert_int_equal(vmux_zscore(m, NULL, key, S("hi"), &score, &found), 0);
    assert_true(isinf(score) && score > 0);
    score = 7;
    assert_int_equal(vmux_zscore(m, NULL, key, VMUX_STRN("a", 1), &score, &found), 0);
    assert_false(found);
    assert_true(score == 0);
    found = true;
    assert_int_equal(vmux_zscore(m, NULL, missing, S("x"), &score, &found), 0);
    assert_false(found);
    assert_int_equal(vmux_zscore(m, NULL, key, S("hi"), NULL, &found), 0);
    assert_true(found);

    vmux_str asked[] = {S("hi"), S("nope"), NUL_MEMBER, EMPTY};
    double scores[4] = {7, 7, 7, 7};
    bool present[4] = {false, true, false, false};
    assert_int_equal(vmux_zmscore(m, NULL, key, asked, 4, scores, present), 0);
    assert_true(present[0] && isinf(scores[0]));
    assert_false(present[1]);
    assert_true(scores[1] == 0);
    assert_true(present[2] && scores[2] == -2.5);
    assert_true(present[3] && scores[3] == 0);
    assert_int_equal(vmux_zmscore(m, NULL, key, asked, 4, NULL, present), 0);
    assert_true(present[2]);
    assert_int_equal(vmux_zmscore(m, NULL, missing, asked, 4, scores, present), 0);
    for (int i = 0; i < 4; i++)
        assert_false(present[i]);
    memset(present, 1, sizeof present);
    assert_int_equal(vmux_zmscore(m, NULL, key, NULL, 4, scores, present), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_zmscore(m, NULL, key, asked, 0, scores, present), VMUX_ERR_INVALID_ARG);
}

static void test_zrank(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:rank");
    del(key);
    vmux_zmember items[] = {{S("a"), 1}, {NUL_MEMBER, 2}, {EMPTY, 3.5}};
    zadd(m, key, items, 3);
    int64_t rank = -1;
    double score = -1;
    bool found = false;
    assert_int_equal(vmux_zrank(m, NULL, key, NUL_MEMBER, &rank, NULL, &found), 0);
    assert_true(found);
    assert_int_equal(rank, 1);
    assert_int_equal(vmux_zrank(m, NULL, key, EMPTY, &rank, &score, &found), 0);
    assert_int_equal(rank, 2);
    assert_true(score == 3.5);
    assert_int_equal(vmux_zrevrank(m, NULL, key, EMPTY, &rank, &score, &found), 0);
    assert_int_equal(rank, 0);
    assert_true(score == 3.5);
    assert_int_equal(vmux_zrevrank(m, NULL, key, S("a"), &rank, NULL, NULL), 0);
    assert_int_equal(rank, 2);
    rank = 5, score = 5, found = true;
    assert_int_equal(vmux_zrank(m, NULL, key, S("zz"), &rank, &score, &found), 0);
    assert_false(found);
    assert_int_equal(rank, 0);
    assert_true(score == 0);
    rank = 5, found = true;
    assert_int_equal(
        vmux_zrevrank(m, NULL, S("cmdzsets:rank-missing"), S("a"), &rank, NULL, &found), 0);
    assert_false(found);
    assert_int_equal(rank, 0);
}

/* The members, and members with scores, of one range; both forms must agree with want. */
static void expect_range(vmux *m, vmux_str key, const vmux_zrange_opts *range,
                         const vmux_zmember *want, size_t n)
{
    vmux_bytes_array members;
    assert_int_equal(vmux_zrange(m, NULL, key, range, &members), 0);
    assert_int_equal(members.count, n);
    for (size_t i = 0; i < n; i++)
        assert_bytes(&members.items[i], want[i].member);
    vmux_bytes_array_free(&members);
    bool lex = range != NULL && range->start.kind >= VMUX_ZBOUND_KIND_LEX;
    if (lex)
        return; /* WITHSCORES does not go with BYLEX */
    vmux_scored_array scored;
    assert_int_equal(vmux_zrange_withscores(m, NULL, key, range, &scored), 0);
    expect_scored(&scored, want, n);
    vmux_scored_array_free(&scored);
}

static void test_zrange_by_index(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:range-index");
    del(key);
    vmux_zmember items[] = {{S("a"), 1}, {NUL_MEMBER, 2}, {EMPTY, 3}, {S("d"), 4}};
    zadd(m, key, items, 4);
    expect_range(m, key, NULL, items, 4);
    vmux_zrange_opts r =
        VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(1), .stop = VMUX_ZBOUND_INDEX(2));
    expect_range(m, key, &r, items + 1, 2);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(-2), .stop = VMUX_ZBOUND_INDEX(-1));
    expect_range(m, key, &r, items + 2, 2);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(0), .stop = VMUX_ZBOUND_INDEX(1),
                  .rev = true);
    vmux_zmember top2[] = {items[3], items[2]};
    expect_range(m, key, &r, top2, 2);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(5), .stop = VMUX_ZBOUND_INDEX(9));
    expect_range(m, key, &r, NULL, 0);
    del(S("cmdzsets:range-missing"));
    expect_range(m, S("cmdzsets:range-missing"), NULL, NULL, 0);
    assert_int_equal(vmux_zrange(m, NULL, key, NULL, NULL), 0);
    assert_int_equal(vmux_zrange_withscores(m, NULL, key, NULL, NULL), 0);
}

static void test_zrange_by_score(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:range-score");
    del(key);
    vmux_zmember items[] = {{S("lo"), -INFINITY}, {S("m1"), 1}, {S("m2"), 2},       {S("m3"), 3},
                            {S("m4"), 4},         {S("m5"), 5}, {S("hi"), INFINITY}};
    zadd(m, key, items, 7);
    vmux_zrange_opts r =
        VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_SCORE(2), .stop = VMUX_ZBOUND_SCORE(4));
    expect_range(m, key, &r, items + 2, 3);
    r.start = VMUX_ZBOUND_SCORE_EXCL(2);
    expect_range(m, key, &r, items + 3, 2);
    r.stop = VMUX_ZBOUND_SCORE_EXCL(4);
    expect_range(m, key, &r, items + 3, 1);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_NEG_INF, .stop = VMUX_ZBOUND_POS_INF);
    expect_range(m, key, &r, items, 7); /* inclusive infinities take the infinite scores */
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_SCORE_EXCL(-INFINITY),
                  .stop = VMUX_ZBOUND_SCORE_EXCL(INFINITY));
    expect_range(m, key, &r, items + 1, 5);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_SCORE_EXCL(5),
                  .stop = VMUX_ZBOUND_SCORE_EXCL(5));
    expect_range(m, key, &r, NULL, 0);

    /* reversed: written from the high end */
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_POS_INF, .stop = VMUX_ZBOUND_SCORE_EXCL(3),
                  .rev = true);
    vmux_zmember high[] = {items[6], items[5], items[4]};
    expect_range(m, key, &r, high, 3);
    /* LIMIT offset count; a negative count takes the rest */
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_NEG_INF, .stop = VMUX_ZBOUND_POS_INF,
                  .limit = true, .offset = 1, .count = 2);
    expect_range(m, key, &r, items + 1, 2);
    r.offset = 5;
    r.count = -1;
    expect_range(m, key, &r, items + 5, 2);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_POS_INF, .stop = VMUX_ZBOUND_NEG_INF,
                  .rev = true, .limit = true, .offset = 0, .count = 2);
    vmux_zmember top[] = {items[6], items[5]};
    expect_range(m, key, &r, top, 2);
}

static void test_zrange_by_lex(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:range-lex");
    del(key);
    /* one score, so members sort by their bytes: "a" < "a\0b" < "b" ... */
    vmux_zmember items[] = {{EMPTY, 0},  {S("a"), 0}, {NUL_MEMBER, 0}, {S("b"), 0},
                            {S("c"), 0}, {S("d"), 0}, {S("e"), 0}};
    zadd(m, key, items, 7);
    vmux_zrange_opts r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_LEX(S("b")),
                                   .stop = VMUX_ZBOUND_LEX(S("d")));
    expect_range(m, key, &r, items + 3, 3);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_LEX_EXCL(S("b")),
                  .stop = VMUX_ZBOUND_LEX_EXCL(S("d")));
    expect_range(m, key, &r, items + 4, 1);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_LEX_MIN,
                  .stop = VMUX_ZBOUND_LEX_EXCL(S("b")));
    expect_range(m, key, &r, items, 3);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_LEX(S("c")), .stop = VMUX_ZBOUND_LEX_MAX);
    expect_range(m, key, &r, items + 4, 3);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_LEX(NUL_MEMBER),
                  .stop = VMUX_ZBOUND_LEX(S("b")));
    expect_range(m, key, &r, items + 2, 2);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_LEX_EXCL(EMPTY),
                  .stop = VMUX_ZBOUND_LEX_EXCL(NUL_MEMBER));
    expect_range(m, key, &r, items + 1, 1);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_LEX_MAX,
                  .stop = VMUX_ZBOUND_LEX_EXCL(S("c")), .rev = true);
    vmux_zmember rev[] = {items[6], items[5]};
    expect_range(m, key, &r, rev, 2);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_LEX_MIN, .stop = VMUX_ZBOUND_LEX_MAX,
                  .limit = true, .offset = 2, .count = 3);
    expect_range(m, key, &r, items + 2, 3);
}

static void test_zrange_bad_arguments(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:range-bad");
    const vmux_zrange_opts bad[] = {
        {.size = sizeof(vmux_zrange_opts),
         .start = VMUX_ZBOUND_INDEX(0),
         .stop = VMUX_ZBOUND_SCORE(1)}, /* mixed kinds */
        {.size = sizeof(vmux_zrange_opts),
         .start = VMUX_ZBOUND_SCORE(0),
         .stop = VMUX_ZBOUND_LEX_MAX}, /* mixed kinds */
        {.size = sizeof(vmux_zrange_opts),
         .start = VMUX_ZBOUND_INDEX(0),
         .stop = VMUX_ZBOUND_INDEX(1),
         .limit = true,
         .count = 1},
        {.size = sizeof(vmux_zrange_opts),
         .start = VMUX_ZBOUND_SCORE(0),
         .stop = VMUX_ZBOUND_SCORE(1),
         .limit = true,
         .offset = -1},
        {.size = sizeof(vmux_zrange_opts),
         .start = VMUX_ZBOUND_SCORE(NAN),
         .stop = VMUX_ZBOUND_SCORE(1)},
        {.size = sizeof(vmux_zrange_opts),
         .start = VMUX_ZBOUND_SCORE(0),
         .stop = VMUX_ZBOUND_SCORE_EXCL(NAN)},
        {.size = sizeof(vmux_zrange_opts),
         .start = {.kind = (vmux_zbound_kind)42},
         .stop = VMUX_ZBOUND_INDEX(1)},
        {.size = sizeof(vmux_zrange_opts),
         .start = VMUX_ZBOUND_LEX(VMUX_STRN(NULL, 3)),
         .stop = VMUX_ZBOUND_LEX_MAX}, /* NULL bytes */
    };
    struct vt_async never = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vmux_bytes_array members;
        memset(&members, 0xab, sizeof members);
        assert_int_equal(vmux_zrange(m, NULL, key, &bad[i], &members), VMUX_ERR_INVALID_ARG);
        assert_null(members.items);
        assert_int_equal(members.count, 0);
        vmux_scored_array scored;
        memset(&scored, 0xab, sizeof scored);
        assert_int_equal(vmux_zrange_withscores(m, NULL, key, &bad[i], &scored),
                         VMUX_ERR_INVALID_ARG);
        assert_null(scored.items);
        assert_int_equal(scored.count, 0);
        assert_int_equal(vmux_zrange_async(m, NULL, key, &bad[i], false, vt_on_async, &never),
                         VMUX_ERR_INVALID_ARG);
    }
    /* scores do not go with a range by member */
    vmux_zrange_opts lex =
        VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_LEX_MIN, .stop = VMUX_ZBOUND_LEX_MAX);
    vmux_scored_array scored;
    memset(&scored, 0xab, sizeof scored);
    assert_int_equal(vmux_zrange_withscores(m, NULL, key, &lex, &scored), VMUX_ERR_INVALID_ARG);
    assert_null(scored.items);
    assert_int_equal(vmux_zrange_async(m, NULL, key, &lex, true, vt_on_async, &never),
                     VMUX_ERR_INVALID_ARG);
    assert_false(atomic_load(&never.done)); /* refused, so the callback never runs */
}

static void test_zrem_zcard_zcount(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:count"), missing = S("cmdzsets:count-missing");
    del(key);
    del(missing);
    vmux_zmember items[] = {{S("lo"), -INFINITY}, {S("m1"), 1}, {NUL_MEMBER, 2},
                            {EMPTY, 3},           {S("m4"), 4}, {S("hi"), INFINITY}};
    zadd(m, key, items, 6);
    int64_t n = -1;
    assert_int_equal(vmux_zcard(m, NULL, key, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(vmux_zcount(m, NULL, key, VMUX_ZBOUND_SCORE(2), VMUX_ZBOUND_SCORE(4), &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(vmux_zcount(m, NULL, key, VMUX_ZBOUND_SCORE_EXCL(2), VMUX_ZBOUND_SCORE(4), &n),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(vmux_zcount(m, NULL, key, VMUX_ZBOUND_NEG_INF, VMUX_ZBOUND_POS_INF, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(vmux_zcount(m, NULL, key, VMUX_ZBOUND_SCORE_EXCL(-INFINITY),
                                 VMUX_ZBOUND_SCORE_EXCL(INFINITY), &n),
                     0);
    assert_int_equal(n, 4);
    assert_int_equal(vmux_zcount(m, NULL, key, VMUX_ZBOUND_SCORE_EXCL(3), VMUX_ZBOUND_POS_INF, &n),
                     0);
    assert_int_equal(n, 2);

    vmux_str gone[] = {NUL_MEMBER, S("nope"), EMPTY};
    assert_int_equal(vmux_zrem(m, NULL, key, gone, 3, &n), 0);
    assert_int_equal(n, 2);
    expect_score(key, NUL_MEMBER, NAN);
    assert_int_equal(admin_int("ZCARD %b", key), 4);
    assert_int_equal(vmux_zcard(m, NULL, key, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(vmux_zrem(m, NULL, key, gone, 3, &n), 0);
    assert_int_equal(n, 0);

    n = 7;
    assert_int_equal(vmux_zcard(m, NULL, missing, &n), 0);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_zcount(m, NULL, missing, VMUX_ZBOUND_NEG_INF, VMUX_ZBOUND_POS_INF, &n),
                     0);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_zrem(m, NULL, missing, gone, 1, &n), 0);
    assert_int_equal(n, 0);

    /* bad bounds and members */
    n = 7;
    assert_int_equal(vmux_zcount(m, NULL, key, VMUX_ZBOUND_INDEX(0), VMUX_ZBOUND_INDEX(1), &n),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_zcount(m, NULL, key, VMUX_ZBOUND_LEX_MIN, VMUX_ZBOUND_LEX_MAX, &n),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_zcount(m, NULL, key, VMUX_ZBOUND_SCORE(NAN), VMUX_ZBOUND_SCORE(1), &n),
                     VMUX_ERR_INVALID_ARG);
    n = 7;
    assert_int_equal(vmux_zrem(m, NULL, key, NULL, 1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_zrem(m, NULL, key, gone, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(admin_int("ZCARD %b", key), 4);
}

static void test_zpop(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:pop");
    del(key);
    vmux_zmember items[] = {{S("lo"), -INFINITY}, {S("a"), 1}, {NUL_MEMBER, 2},
                            {EMPTY, 3},           {S("d"), 4}, {S("hi"), INFINITY}};
    zadd(m, key, items, 6);
    vmux_scored_array got;
    assert_int_equal(vmux_zpopmin(m, NULL, key, 2, &got), 0);
    expect_scored(&got, items, 2);
    vmux_scored_array_free(&got);
    assert_int_equal(vmux_zpopmax(m, NULL, key, 2, &got), 0);
    vmux_zmember high[] = {items[5], items[4]};
    expect_scored(&got, high, 2);
    vmux_scored_array_free(&got);
    assert_int_equal(admin_int("ZCARD %b", key), 2);
    assert_int_equal(vmux_zpopmin(m, NULL, key, 0, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_scored_array_free(&got);
    assert_int_equal(vmux_zpopmax(m, NULL, key, 1, &got), 0);
    expect_scored(&got, &items[3], 1);
    vmux_scored_array_free(&got);
    assert_int_equal(vmux_zpopmin(m, NULL, key, 10, &got), 0);
    expect_scored(&got, &items[2], 1);
    vmux_scored_array_free(&got);
    assert_int_equal(admin_int("EXISTS %b", key), 0);
    assert_int_equal(vmux_zpopmin(m, NULL, key, 3, &got), 0); /* missing key */
    assert_int_equal(got.count, 0);
    vmux_scored_array_free(&got);
    zadd(m, key, items, 2);
    assert_int_equal(vmux_zpopmax(m, NULL, key, 5, NULL), 0);
    assert_int_equal(admin_int("EXISTS %b", key), 0);

    memset(&got, 0xab, sizeof got);
    assert_int_equal(vmux_zpopmin(m, NULL, key, -1, &got), VMUX_ERR_INVALID_ARG);
    assert_null(got.items);
    assert_int_equal(got.count, 0);
    memset(&got, 0xab, sizeof got);
    assert_int_equal(vmux_zpopmax(m, NULL, key, -2, &got), VMUX_ERR_INVALID_ARG);
    assert_null(got.items);
}

enum { PLAYERS = 1000 };

/* Player i's score: 37 is prime to 1000, so scores are 0..999, each once. */
static int player_score(int i)
{
    return (i * 37) % PLAYERS;
}

/* The player holding a score (973 is the inverse of 37 modulo 1000). */
static int player_with(int score)
{
    return (score * 973) % PLAYERS;
}

static vmux_str player_name(char *buf, int i)
{
    int n = snprintf(buf, 24, "player:%d", i);
    return VMUX_STRN(buf, (size_t)n);
}

static void expect_player(const vmux_scored *got, int score)
{
    char name[24];
    assert_bytes(&got->member, player_name(name, player_with(score)));
    assert_true(got->score == score);
}

static void fill_leaderboard(vmux *m, vmux_str key)
{
    static char names[PLAYERS][24];
    vmux_zmember items[PLAYERS];
    for (int i = 0; i < PLAYERS; i++)
        items[i] = (vmux_zmember){player_name(names[i], i), player_score(i)};
    int64_t added;
    for (int at = 0; at < PLAYERS; at += 250) {
        assert_int_equal(vmux_zadd(m, NULL, key, items + at, 250, VMUX_COND_ALWAYS, false, &added),
                         0);
        assert_int_equal(added, 250);
    }
    assert_int_equal(admin_int("ZCARD %b", key), PLAYERS);
}

static void test_leaderboard(void **state)
{
    vmux *m = *state;
    vmux_str board = S("cmdzsets:board");
    del(board);
    fill_leaderboard(m, board);
    /* top 10 with scores, best first */
    vmux_zrange_opts top = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(0),
                                     .stop = VMUX_ZBOUND_INDEX(9), .rev = true);
    vmux_scored_array got;
    assert_int_equal(vmux_zrange_withscores(m, NULL, board, &top, &got), 0);
    assert_int_equal(got.count, 10);
    for (int i = 0; i < 10; i++)
        expect_player(&got.items[i], 999 - i);
    vmux_scored_array_free(&got);
    /* the same by score: the best three above any score */
    vmux_zrange_opts best =
        VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_POS_INF, .stop = VMUX_ZBOUND_NEG_INF,
                  .rev = true, .limit = true, .count = 3);
    assert_int_equal(vmux_zrange_withscores(m, NULL, board, &best, &got), 0);
    assert_int_equal(got.count, 3);
    for (int i = 0; i < 3; i++)
        expect_player(&got.items[i], 999 - i);
    vmux_scored_array_free(&got);

    /* a player's rank (0 is the best) and score */
    char name[24];
    for (int i = 0; i < PLAYERS; i += 111) {
        int64_t rank;
        double score;
        bool found;
        vmux_str who = player_name(name, i);
        assert_int_equal(vmux_zrevrank(m, NULL, board, who, &rank, &score, &found), 0);
        assert_true(found);
        assert_int_equal(rank, 999 - player_score(i));
        assert_true(score == player_score(i));
        assert_int_equal(vmux_zrank(m, NULL, board, who, &rank, NULL, &found), 0);
        assert_int_equal(rank, player_score(i));
    }

    /* score ranges: (100, 110], [-inf, 5), (990, +inf) */
    vmux_zrange_opts band = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_SCORE_EXCL(100),
                                      .stop = VMUX_ZBOUND_SCORE(110));
    assert_int_equal(vmux_zrange_withscores(m, NULL, board, &band, &got), 0);
    assert_int_equal(got.count, 10);
    for (int i = 0; i < 10; i++)
        expect_player(&got.items[i], 101 + i);
    vmux_scored_array_free(&got);
    int64_t count;
    assert_int_equal(vmux_zcount(m, NULL, board, band.start, band.stop, &count), 0);
    assert_int_equal(count, 10);
    assert_int_equal(
        vmux_zcount(m, NULL, board, VMUX_ZBOUND_NEG_INF, VMUX_ZBOUND_SCORE_EXCL(5), &count), 0);
    assert_int_equal(count, 5);
    assert_int_equal(vmux_zcount(m, NULL, board, VMUX_ZBOUND_SCORE_EXCL(990),
                                 VMUX_ZBOUND_SCORE_EXCL(INFINITY), &count),
                     0);
    assert_int_equal(count, 9);

    /* a player climbs to the top */
    vmux_str climber = player_name(name, player_with(500));
    double score;
    assert_int_equal(vmux_zincrby(m, NULL, board, climber, 600, &score), 0);
    assert_true(score == 1100);
    int64_t rank;
    bool found;
    assert_int_equal(vmux_zrevrank(m, NULL, board, climber, &rank, &score, &found), 0);
    assert_int_equal(rank, 0);
    assert_true(score == 1100);
    top.stop = VMUX_ZBOUND_INDEX(1);
    assert_int_equal(vmux_zrange_withscores(m, NULL, board, &top, &got), 0);
    assert_bytes(&got.items[0].member, climber);
    expect_player(&got.items[1], 999);
    vmux_scored_array_free(&got);
}

enum { SCAN_MEMBERS = 10000, SCAN_BATCH = 1000 };

/* Member i of the scanned set is scan_member(.., 'z', 'q', i): binary ("z:<i>", a NUL, 'q');
 * its score is i / 4. */

static void fill_scan_set(vmux *m, vmux_str key)
{
    static char text[SCAN_BATCH][24];
    vmux_zmember batch[SCAN_BATCH];
    for (int start = 0; start < SCAN_MEMBERS; start += SCAN_BATCH) {
        for (int j = 0; j < SCAN_BATCH; j++) {
            size_t len = scan_member(text[j], 'z', 'q', start + j);
            batch[j] = (vmux_zmember){VMUX_STRN(text[j], len), (start + j) / 4.0};
        }
        int64_t added;
        assert_int_equal(
            vmux_zadd(m, NULL, key, batch, SCAN_BATCH, VMUX_COND_ALWAYS, false, &added), 0);
        assert_int_equal(added, SCAN_BATCH);
    }
    assert_int_equal(admin_int("ZCARD %b", key), SCAN_MEMBERS);
}

static void test_zscan_every_member(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:scan");
    del(key);
    fill_scan_set(m, key);
    bool *seen = calloc(SCAN_MEMBERS, sizeof(*seen));
    assert_non_null(seen);
    int distinct = 0, steps = 0, rc;
    vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .count = 250);
    vmux_scan *it;
    assert_int_equal(vmux_zscan_begin(m, key, &o, &it), 0);
    vmux_scored_array batch;
    while ((rc = vmux_zscan_next_scored(it, NULL, &batch)) == 1) {
        for (size_t i = 0; i < batch.count; i++) {
            int at = scan_index(&batch.items[i].member, 'z', 'q', SCAN_MEMBERS);
            assert_true(batch.items[i].score == at / 4.0);
            distinct += !seen[at];
            seen[at] = true;
        }
        vmux_scored_array_free(&batch);
        steps++;
    }
    vmux_scan_end(it);
    assert_int_equal(rc, 0);
    assert_int_equal(distinct, SCAN_MEMBERS);
    assert_true(steps > 1);
    free(seen);

    /* the plain form gives member, score-text pairs; "z:999*" matches 999 and 9990..9999 */
    seen = calloc(SCAN_MEMBERS, sizeof(*seen));
    assert_non_null(seen);
    distinct = 0;
    o.match = "z:999*";
    assert_int_equal(vmux_zscan_begin(m, key, &o, &it), 0);
    vmux_bytes_array pairs;
    while ((rc = vmux_scan_next(it, NULL, &pairs)) == 1) {
        assert_int_equal(pairs.count % 2, 0);
        for (size_t i = 0; i < pairs.count; i += 2) {
            int at = scan_index(&pairs.items[i], 'z', 'q', SCAN_MEMBERS);
            assert_true(at == 999 || at >= 9990);
            assert_true(strtod(pairs.items[i + 1].ptr, NULL) == at / 4.0);
            distinct += !seen[at];
            seen[at] = true;
        }
        vmux_bytes_array_free(&pairs);
    }
    vmux_scan_end(it);
    assert_int_equal(rc, 0);
    assert_int_equal(distinct, 11);
    free(seen);
}

static void test_async(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:async");
    del(key);
    vmux_zmember items[] = {{NUL_MEMBER, 1.25}, {EMPTY, -INFINITY}, {S("c"), 3}};
    struct vt_async add = {0}, score = {0}, nil = {0}, members = {0}, scored = {0};
    assert_int_equal(
        vmux_zadd_async(m, NULL, key, items, 3, VMUX_COND_ALWAYS, true, vt_on_async, &add), 0);
    assert_int_equal(vmux_zscore_async(m, NULL, key, NUL_MEMBER, vt_on_async, &score), 0);
    assert_int_equal(vmux_zscore_async(m, NULL, key, S("none"), vt_on_async, &nil), 0);
    vmux_zrange_opts rev = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(0),
                                     .stop = VMUX_ZBOUND_INDEX(-1), .rev = true);
    assert_int_equal(vmux_zrange_async(m, NULL, key, &rev, false, vt_on_async, &members), 0);
    assert_int_equal(vmux_zrange_async(m, NULL, key, NULL, true, vt_on_async, &scored), 0);

    int64_t count;
    vmux_reply *r = wait_reply(&add);
    assert_int_equal(vmux_reply_to_int(r, &count), 0);
    assert_int_equal(count, 3);
    vmux_reply_free(r);
    double s = 0;
    bool found = false;
    r = wait_reply(&score);
    assert_int_equal(vmux_reply_to_score(r, &s, &found), 0);
    assert_true(found && s == 1.25);
    vmux_reply_free(r);
    s = 7, found = true;
    r = wait_reply(&nil);
    assert_int_equal(vmux_reply_to_score(r, &s, &found), 0);
    assert_false(found);
    assert_true(s == 0);
    vmux_reply_free(r);
    vmux_bytes_array names;
    r = wait_reply(&members);
    assert_int_equal(vmux_reply_to_bytes_array(r, &names), 0);
    vmux_reply_free(r);
    vmux_str order[] = {S("c"), NUL_MEMBER, EMPTY};
    expect_array(&names, order, 3);
    vmux_bytes_array_free(&names);
    vmux_scored_array all;
    r = wait_reply(&scored);
    assert_int_equal(vmux_reply_to_scored_array(r, &all), 0);
    vmux_reply_free(r);
    vmux_zmember sorted[] = {items[1], items[0], items[2]};
    expect_scored(&all, sorted, 3);
    vmux_scored_array_free(&all);

    assert_int_equal(
        vmux_zadd_async(m, NULL, key, NULL, 1, VMUX_COND_ALWAYS, false, vt_on_async, &add),
        VMUX_ERR_INVALID_ARG);
    assert_int_equal(
        vmux_zadd_async(m, NULL, key, items, 1, (vmux_cond)99, false, vt_on_async, &add),
        VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_reply_to_score(NULL, &s, &found), VMUX_ERR_INVALID_ARG);
}

/* The whole sorted set at key with its scores, read through the generic API, must be want. */
static void expect_zset(vmux *m, vmux_str key, const vmux_zmember *want, size_t n)
{
    const char *argv[] = {"ZRANGE", key.ptr, "0", "-1", "WITHSCORES"};
    size_t lens[] = {6, key.len, 1, 2, 10};
    vmux_reply *r;
    assert_int_equal(vmux_call(m, NULL, 5, argv, lens, &r), 0);
    vmux_scored_array got;
    assert_int_equal(vmux_reply_to_scored_array(r, &got), 0);
    vmux_reply_free(r);
    expect_scored(&got, want, n);
    vmux_scored_array_free(&got);
}

#define ZM(...) ((const vmux_zmember[]){__VA_ARGS__})

static void test_zremrangebyrank(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:remrank"), missing = S("cmdzsets:remrank-missing");
    vmux_zmember items[] = {{S("a"), 1}, {NUL_MEMBER, 2}, {EMPTY, 3},
                            {S("d"), 4}, {S("e"), 5},     {S("f"), 6}};
    del(key);
    del(missing);
    zadd(m, key, items, 6);
    int64_t n = -1;
    assert_int_equal(vmux_zremrangebyrank(m, NULL, key, 1, 2, &n), 0); /* 2nd and 3rd lowest */
    assert_int_equal(n, 2);
    expect_zset(m, key, ZM(items[0], items[3], items[4], items[5]), 4);
    assert_int_equal(vmux_zremrangebyrank(m, NULL, key, -1, -1, &n), 0); /* the highest */
    assert_int_equal(n, 1);
    expect_zset(m, key, ZM(items[0], items[3], items[4]), 3);
    /* keep the two highest: once removes a, a second time nothing (why it is retry-safe) */
    assert_int_equal(vmux_zremrangebyrank(m, NULL, key, 0, -3, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(vmux_zremrangebyrank(m, NULL, key, 0, -3, &n), 0);
    assert_int_equal(n, 0);
    expect_zset(m, key, ZM(items[3], items[4]), 2);
    assert_int_equal(vmux_zremrangebyrank(m, NULL, key, 5, 10, &n), 0); /* past the end */
    assert_int_equal(n, 0);
    assert_int_equal(vmux_zremrangebyrank(m, NULL, key, 1, -1, NULL), 0); /* keep the lowest */
    expect_zset(m, key, ZM(items[3]), 1);
    assert_int_equal(vmux_zremrangebyrank(m, NULL, key, 0, -1, &n), 0); /* all: the key goes */
    assert_int_equal(n, 1);
    assert_int_equal(admin_int("EXISTS %b", key), 0);
    n = 7;
    assert_int_equal(vmux_zremrangebyrank(m, NULL, missing, 0, -1, &n), 0);
    assert_int_equal(n, 0);
}

static void test_zremrangebyscore(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:remscore"), missing = S("cmdzsets:remscore-missing");
    vmux_zmember items[] = {{S("lo"), -INFINITY}, {S("a"), 1}, {NUL_MEMBER, 2},
                            {EMPTY, 3},           {S("d"), 4}, {S("hi"), INFINITY}};
    del(key);
    del(missing);
    zadd(m, key, items, 6);
    int64_t n = -1;
    assert_int_equal(
        vmux_zremrangebyscore(m, NULL, key, VMUX_ZBOUND_SCORE_EXCL(1), VMUX_ZBOUND_SCORE(3), &n),
        0);
    assert_int_equal(n, 2); /* (1 3: the NUL member and the empty one */
    expect_zset(m, key, ZM(items[0], items[1], items[4], items[5]), 4);
    assert_int_equal(
        vmux_zremrangebyscore(m, NULL, key, VMUX_ZBOUND_SCORE_EXCL(1), VMUX_ZBOUND_SCORE(3), &n),
        0);
    assert_int_equal(n, 0); /* again: nothing more */
    assert_int_equal(vmux_zremrangebyscore(m, NULL, key, VMUX_ZBOUND_SCORE_EXCL(-INFINITY),
                                           VMUX_ZBOUND_SCORE_EXCL(INFINITY), &n),
                     0);
    assert_int_equal(n, 2); /* a and d, not the infinities */
    expect_zset(m, key, ZM(items[0], items[5]), 2);
    assert_int_equal(
        vmux_zremrangebyscore(m, NULL, key, VMUX_ZBOUND_NEG_INF, VMUX_ZBOUND_POS_INF, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(admin_int("EXISTS %b", key), 0);
    n = 7;
    assert_int_equal(
        vmux_zremrangebyscore(m, NULL, missing, VMUX_ZBOUND_NEG_INF, VMUX_ZBOUND_POS_INF, &n), 0);
    assert_int_equal(n, 0);
}

/* ZLEXCOUNT and ZREMRANGEBYLEX over members of one score ("a" < "a\0b" < "b" bytewise). */
static void test_zlexcount_zremrangebylex(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:lexrem"), missing = S("cmdzsets:lexrem-missing");
    vmux_zmember items[] = {{EMPTY, 0},  {S("a"), 0}, {NUL_MEMBER, 0},
                            {S("b"), 0}, {S("c"), 0}, {S("d"), 0}};
    del(key);
    del(missing);
    zadd(m, key, items, 6);
    int64_t n = -1;
    assert_int_equal(vmux_zlexcount(m, NULL, key, VMUX_ZBOUND_LEX_MIN, VMUX_ZBOUND_LEX_MAX, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(
        vmux_zlexcount(m, NULL, key, VMUX_ZBOUND_LEX(S("a")), VMUX_ZBOUND_LEX_EXCL(S("b")), &n), 0);
    assert_int_equal(n, 2); /* a, a\0b */
    assert_int_equal(
        vmux_zlexcount(m, NULL, key, VMUX_ZBOUND_LEX_EXCL(S("a")), VMUX_ZBOUND_LEX(S("c")), &n), 0);
    assert_int_equal(n, 3); /* a\0b, b, c */
    assert_int_equal(vmux_zlexcount(m, NULL, key, VMUX_ZBOUND_LEX_MIN, VMUX_ZBOUND_LEX(EMPTY), &n),
                     0);
    assert_int_equal(n, 1); /* the empty member */
    n = 7;
    assert_int_equal(vmux_zlexcount(m, NULL, missing, VMUX_ZBOUND_LEX_MIN, VMUX_ZBOUND_LEX_MAX, &n),
                     0);
    assert_int_equal(n, 0);

    assert_int_equal(
        vmux_zremrangebylex(m, NULL, key, VMUX_ZBOUND_LEX(NUL_MEMBER), VMUX_ZBOUND_LEX(S("b")), &n),
        0);
    assert_int_equal(n, 2);
    expect_zset(m, key, ZM(items[0], items[1], items[4], items[5]), 4);
    assert_int_equal(
        vmux_zremrangebylex(m, NULL, key, VMUX_ZBOUND_LEX_EXCL(S("c")), VMUX_ZBOUND_LEX_MAX, &n),
        0);
    assert_int_equal(n, 1);
    assert_int_equal(
        vmux_zremrangebylex(m, NULL, key, VMUX_ZBOUND_LEX_EXCL(S("c")), VMUX_ZBOUND_LEX_MAX, &n),
        0);
    assert_int_equal(n, 0);
    expect_zset(m, key, ZM(items[0], items[1], items[4]), 3);
    n = 7;
    assert_int_equal(
        vmux_zremrangebylex(m, NULL, missing, VMUX_ZBOUND_LEX_MIN, VMUX_ZBOUND_LEX_MAX, &n), 0);
    assert_int_equal(n, 0);
}

/* Bounds of the wrong kind, a NaN, a member at NULL: refused, nothing sent, the count zeroed. */
static void test_zrange_bounds_refused(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:bounds-bad");
    del(key);
    zadd(m, key, ZM({S("a"), 1}, {S("b"), 2}), 2);
    const vmux_zbound score = VMUX_ZBOUND_SCORE(1), lex = VMUX_ZBOUND_LEX(S("a"));
    const vmux_zbound index = VMUX_ZBOUND_INDEX(0), nan = VMUX_ZBOUND_SCORE_EXCL(NAN);
    const vmux_zbound null_lex = VMUX_ZBOUND_LEX(VMUX_STRN(NULL, 2));
    const vmux_zbound odd = {.kind = (vmux_zbound_kind)42};
    const vmux_zbound not_score[][2] = {
        {index, index}, {lex, lex}, {score, lex}, {score, nan}, {odd, score}};
    const vmux_zbound not_lex[][2] = {
        {score, score}, {index, index}, {lex, score}, {lex, null_lex}, {lex, odd}};
    for (size_t i = 0; i < sizeof not_score / sizeof not_score[0]; i++) {
        int64_t n = 7;
        assert_int_equal(vmux_zremrangebyscore(m, NULL, key, not_score[i][0], not_score[i][1], &n),
                         VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
    }
    for (size_t i = 0; i < sizeof not_lex / sizeof not_lex[0]; i++) {
        int64_t n = 7;
        assert_int_equal(vmux_zremrangebylex(m, NULL, key, not_lex[i][0], not_lex[i][1], &n),
                         VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
        n = 7;
        assert_int_equal(vmux_zlexcount(m, NULL, key, not_lex[i][0], not_lex[i][1], &n),
                         VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
    }
    assert_int_equal(admin_int("ZCARD %b", key), 2);
}

/* Whether b is a member of key, and (score not NULL) its score there. */
static void expect_member_of(vmux_str key, const vmux_bytes *b, const double *score)
{
    assert_non_null(b->ptr);
    double s = admin_score(key, VMUX_STRN(b->ptr, b->len));
    if (isnan(s))
        fail_msg("%.*s is no member", (int)b->len, b->ptr);
    if (score != NULL && *score != s)
        fail_msg("%.*s: score %.17g, want %.17g", (int)b->len, b->ptr, *score, s);
}

static size_t distinct(const vmux_bytes *items, size_t stride, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        const vmux_bytes *a = (const vmux_bytes *)((const char *)items + i * stride);
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const vmux_bytes *b = (const vmux_bytes *)((const char *)items + j * stride);
            seen = a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
        }
        d += !seen;
    }
    return d;
}

static void test_zrandmember(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:rand"), missing = S("cmdzsets:rand-missing");
    vmux_zmember items[] = {{S("a"), 1}, {NUL_MEMBER, 2.5}, {EMPTY, -3}, {S("d"), 4}, {S("e"), 5}};
    del(key);
    del(missing);
    zadd(m, key, items, 5);
    vmux_bytes one;
    assert_int_equal(vmux_zrandmember(m, NULL, key, &one), 0);
    expect_member_of(key, &one, NULL);
    vmux_bytes_free(&one);
    assert_int_equal(vmux_zrandmember(m, NULL, key, NULL), 0);

    const struct {
        int64_t count;
        size_t got, distinct; /* distinct: 0 when they may repeat */
    } cases[] = {{3, 3, 3}, {5, 5, 5}, {10, 5, 5}, {-8, 8, 0}, {-1, 1, 1}, {0, 0, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        vmux_bytes_array members;
        assert_int_equal(vmux_zrandmember_count(m, NULL, key, cases[c].count, &members), 0);
        assert_int_equal(members.count, cases[c].got);
        for (size_t i = 0; i < members.count; i++)
            expect_member_of(key, &members.items[i], NULL);
        if (cases[c].distinct > 0)
            assert_int_equal(distinct(members.items, sizeof(vmux_bytes), members.count),
                             cases[c].distinct);
        vmux_bytes_array_free(&members);
        vmux_scored_array scored;
        assert_int_equal(vmux_zrandmember_withscores(m, NULL, key, cases[c].count, &scored), 0);
        assert_int_equal(scored.count, cases[c].got);
        for (size_t i = 0; i < scored.count; i++)
            expect_member_of(key, &scored.items[i].member, &scored.items[i].score);
        if (cases[c].distinct > 0)
            assert_int_equal(distinct(&scored.items[0].member, sizeof(vmux_scored), scored.count),
                             cases[c].distinct);
        vmux_scored_array_free(&scored);
    }
    assert_int_equal(admin_int("ZCARD %b", key), 5); /* the set is left as it was */

    memset(&one, 0xab, sizeof one);
    assert_int_equal(vmux_zrandmember(m, NULL, missing, &one), 0);
    assert_null(one.ptr); /* nil */
    vmux_bytes_array none;
    memset(&none, 0xab, sizeof none);
    assert_int_equal(vmux_zrandmember_count(m, NULL, missing, 3, &none), 0);
    assert_int_equal(none.count, 0);
    vmux_bytes_array_free(&none);
    vmux_scored_array nothing;
    assert_int_equal(vmux_zrandmember_withscores(m, NULL, missing, -3, &nothing), 0);
    assert_int_equal(nothing.count, 0);
    vmux_scored_array_free(&nothing);
}

/*
 * The counts the server refuses are refused unsent, as HRANDFIELD's (probe41: sent, they came
 * back the server's "value is out of range"): INT64_MIN, and with WITHSCORES anything beyond
 * INT64_MAX / 2 either way. The largest it takes go (on a missing key: no reply to build).
 */
static void test_zrandmember_count_bounds(void **state)
{
    vmux *m = *state;
    vmux_str missing = S("cmdzsets:rand-bounds");
    del(missing);
    char err[64] = "untouched";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_bytes_array members;
    memset(&members, 0xab, sizeof members);
    assert_int_equal(vmux_zrandmember_count(m, &o, missing, INT64_MIN, &members),
                     VMUX_ERR_INVALID_ARG);
    assert_int_equal(members.count, 0);
    assert_null(members.items);
    const int64_t too_far[] = {INT64_MIN, -(INT64_MAX / 2) - 1, INT64_MAX / 2 + 1, INT64_MAX};
    for (size_t i = 0; i < sizeof too_far / sizeof too_far[0]; i++) {
        vmux_scored_array scored;
        memset(&scored, 0xab, sizeof scored);
        assert_int_equal(vmux_zrandmember_withscores(m, &o, missing, too_far[i], &scored),
                         VMUX_ERR_INVALID_ARG);
        assert_int_equal(scored.count, 0);
    }
    assert_refused_words(err);
    assert_int_equal(vmux_zrandmember_count(m, NULL, missing, -INT64_MAX, &members), 0);
    vmux_bytes_array_free(&members);
    vmux_scored_array scored;
    assert_int_equal(vmux_zrandmember_withscores(m, NULL, missing, -(INT64_MAX / 2), &scored), 0);
    vmux_scored_array_free(&scored);
}

/* Keys of the store tests share the {store} tag: one slot in the cluster rerun. */
#define ST_A S("cmdzsets:{store}:a")
#define ST_B S("cmdzsets:{store}:b")
#define ST_SET S("cmdzsets:{store}:set")
#define ST_NONE S("cmdzsets:{store}:none")
#define ST_DST S("cmdzsets:{store}:dst")

static void store_sources(vmux *m)
{
    del(ST_A), del(ST_B), del(ST_SET), del(ST_NONE), del(ST_DST);
    zadd(m, ST_A, ZM({S("x"), 1}, {S("y"), 2}, {NUL_MEMBER, 3}), 3);
    zadd(m, ST_B, ZM({S("y"), 10}, {S("z"), 20}, {NUL_MEMBER, 30}), 3);
    vmux_str set[] = {S("y"), S("z")};
    assert_int_equal(vmux_sadd(m, NULL, ST_SET, set, 2, NULL), 0); /* a plain set: scores 1 */
}

static void test_zunionstore_zinterstore(void **state)
{
    vmux *m = *state;
    store_sources(m);
    vmux_str ab[] = {ST_A, ST_B}, abs[] = {ST_A, ST_B, ST_SET}, a_none[] = {ST_A, ST_NONE};
    set_string(ST_DST); /* whatever dst holds is replaced */
    int64_t n = -1;
    assert_int_equal(vmux_zunionstore(m, NULL, ST_DST, ab, 2, NULL, &n), 0);
    assert_int_equal(n, 4);
    expect_zset(m, ST_DST, ZM({S("x"), 1}, {S("y"), 12}, {S("z"), 20}, {NUL_MEMBER, 33}), 4);
    double w[] = {2, 0.5, 100};
    vmux_zstore_opts max =
        VMUX_INIT(vmux_zstore_opts, .weights = w, .aggregate = VMUX_ZAGGREGATE_MAX);
    assert_int_equal(vmux_zunionstore(m, NULL, ST_DST, ab, 2, &max, &n), 0);
    assert_int_equal(n, 4);
    expect_zset(m, ST_DST, ZM({S("x"), 2}, {S("y"), 5}, {S("z"), 10}, {NUL_MEMBER, 15}), 4);
    vmux_zstore_opts min = VMUX_INIT(vmux_zstore_opts, .aggregate = VMUX_ZAGGREGATE_MIN);
    assert_int_equal(vmux_zunionstore(m, NULL, ST_DST, abs, 3, &min, &n), 0);
    assert_int_equal(n, 4);
    expect_zset(m, ST_DST, ZM({S("x"), 1}, {S("y"), 1}, {S("z"), 1}, {NUL_MEMBER, 3}), 4);
    double inf[] = {INFINITY};
    vmux_zstore_opts infinite = VMUX_INIT(vmux_zstore_opts, .weights = inf);
    assert_int_equal(vmux_zunionstore(m, NULL, ST_DST, ab, 1, &infinite, &n), 0);
    /* equal scores: in member order, "a\0b" first */
    expect_zset(m, ST_DST, ZM({NUL_MEMBER, INFINITY}, {S("x"), INFINITY}, {S("y"), INFINITY}), 3);

    assert_int_equal(vmux_zinterstore(m, NULL, ST_DST, abs, 3, NULL, &n), 0);
    assert_int_equal(n, 1);
    expect_zset(m, ST_DST, ZM({S("y"), 13}), 1); /* 2 + 10 + the set's 1 */
    assert_int_equal(vmux_zinterstore(m, NULL, ST_DST, ab, 2, &min, &n), 0);
    assert_int_equal(n, 2);
    expect_zset(m, ST_DST, ZM({S("y"), 2}, {NUL_MEMBER, 3}), 2);
    vmux_zstore_opts weighted = VMUX_INIT(vmux_zstore_opts, .weights = w);
    assert_int_equal(vmux_zinterstore(m, NULL, ST_DST, abs, 3, &weighted, &n), 0);
    expect_zset(m, ST_DST, ZM({S("y"), 109}), 1); /* 2*2 + 10*0.5 + 1*100 */
    /* an empty result deletes dst */
    assert_int_equal(vmux_zinterstore(m, NULL, ST_DST, a_none, 2, NULL, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(admin_int("EXISTS %b", ST_DST), 0);
    /* dst among the sources: allowed (only not retry-safe) */
    assert_int_equal(vmux_zunionstore(m, NULL, ST_A, ab, 2, NULL, NULL), 0);
    expect_zset(m, ST_A, ZM({S("x"), 1}, {S("y"), 12}, {S("z"), 20}, {NUL_MEMBER, 33}), 4);
}

static void test_zdiffstore(void **state)
{
    vmux *m = *state;
    store_sources(m);
    vmux_str ab[] = {ST_A, ST_B}, aset[] = {ST_A, ST_SET}, none_a[] = {ST_NONE, ST_A};
    int64_t n = -1;
    assert_int_equal(vmux_zdiffstore(m, NULL, ST_DST, ab, 2, &n), 0);
    assert_int_equal(n, 1);
    expect_zset(m, ST_DST, ZM({S("x"), 1}), 1);
    assert_int_equal(vmux_zdiffstore(m, NULL, ST_DST, aset, 2, &n), 0);
    assert_int_equal(n, 2);
    expect_zset(m, ST_DST, ZM({S("x"), 1}, {NUL_MEMBER, 3}), 2);
    assert_int_equal(vmux_zdiffstore(m, NULL, ST_DST, ab, 1, &n), 0); /* a alone: a copy */
    assert_int_equal(n, 3);
    expect_zset(m, ST_DST, ZM({S("x"), 1}, {S("y"), 2}, {NUL_MEMBER, 3}), 3);
    assert_int_equal(vmux_zdiffstore(m, NULL, ST_DST, none_a, 2, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(admin_int("EXISTS %b", ST_DST), 0);
}

static void test_zstore_bad_arguments(void **state)
{
    vmux *m = *state;
    store_sources(m);
    char err[64] = "untouched";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_str ab[] = {ST_A, ST_B}, with_null[] = {ST_A, VMUX_STRN(NULL, 3)};
    double nan_w[] = {1, NAN};
    const vmux_zstore_opts bad[] = {
        VMUX_INIT(vmux_zstore_opts, .weights = nan_w),
        VMUX_INIT(vmux_zstore_opts, .aggregate = (vmux_zaggregate)3),
        VMUX_INIT(vmux_zstore_opts, .aggregate = (vmux_zaggregate)-1),
        {.size = 0}, /* not made with VMUX_INIT */
    };
    int (*const store[])(vmux *, const vmux_callopts *, vmux_str, const vmux_str *, size_t,
                         const vmux_zstore_opts *,
                         int64_t *) = {vmux_zunionstore, vmux_zinterstore};
    for (size_t s = 0; s < 2; s++) {
        int64_t n = 7;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++, n = 7) {
            assert_int_equal(store[s](m, &o, ST_DST, ab, 2, &bad[i], &n), VMUX_ERR_INVALID_ARG);
            assert_int_equal(n, 0);
        }
        assert_int_equal(store[s](m, &o, ST_DST, NULL, 1, NULL, &n), VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
        n = 7;
        assert_int_equal(store[s](m, &o, ST_DST, ab, 0, NULL, &n), VMUX_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
        assert_int_equal(store[s](m, &o, ST_DST, with_null, 2, NULL, &n), VMUX_ERR_INVALID_ARG);
        assert_int_equal(store[s](m, &o, VMUX_STRN(NULL, 1), ab, 2, NULL, &n),
                         VMUX_ERR_INVALID_ARG);
    }
    int64_t n = 7;
    assert_int_equal(vmux_zdiffstore(m, &o, ST_DST, NULL, 2, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_zdiffstore(m, &o, ST_DST, ab, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_zdiffstore(m, &o, ST_DST, with_null, 2, &n), VMUX_ERR_INVALID_ARG);
    vmux_zrange_opts mixed =
        VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(0), .stop = VMUX_ZBOUND_SCORE(1));
    n = 7;
    assert_int_equal(vmux_zrangestore(m, &o, ST_DST, ST_A, &mixed, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    vmux_zrange_opts limited = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(0),
                                         .stop = VMUX_ZBOUND_INDEX(1), .limit = true, .count = 1);
    assert_int_equal(vmux_zrangestore(m, &o, ST_DST, ST_A, &limited, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_zrangestore(m, &o, ST_DST, VMUX_STRN(NULL, 1), NULL, &n),
                     VMUX_ERR_INVALID_ARG);
    /* the combining reads refuse what the stores refuse, their answers zeroed */
    vmux_bytes_array got;
    vmux_scored_array scored;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&got, 0xab, sizeof got);
        assert_int_equal(vmux_zunion(m, &o, ab, 2, &bad[i], &got), VMUX_ERR_INVALID_ARG);
        assert_null(got.items);
        memset(&scored, 0xab, sizeof scored);
        assert_int_equal(vmux_zinter_withscores(m, &o, ab, 2, &bad[i], &scored),
                         VMUX_ERR_INVALID_ARG);
        assert_null(scored.items);
        assert_int_equal(scored.count, 0);
    }
    memset(&got, 0xab, sizeof got);
    assert_int_equal(vmux_zinter(m, &o, NULL, 1, NULL, &got), VMUX_ERR_INVALID_ARG);
    assert_int_equal(got.count, 0);
    assert_int_equal(vmux_zunion_withscores(m, &o, ab, 0, NULL, &scored), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_zdiff(m, &o, with_null, 2, &got), VMUX_ERR_INVALID_ARG);
    memset(&scored, 0xab, sizeof scored);
    assert_int_equal(vmux_zdiff_withscores(m, &o, NULL, 2, &scored), VMUX_ERR_INVALID_ARG);
    assert_null(scored.items);
    n = 7;
    assert_int_equal(vmux_zintercard(m, &o, ab, 2, -1, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(vmux_zintercard(m, &o, ab, 0, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_zintercard(m, &o, with_null, 2, 0, &n), VMUX_ERR_INVALID_ARG);
    assert_int_equal(admin_int("EXISTS %b", ST_DST), 0); /* nothing was sent */
    assert_refused_words(err);
}

/* The members of a vmux_bytes_array, in order, must be those of want (their scores unread). */
static void expect_members(const vmux_bytes_array *got, const vmux_zmember *want, size_t n)
{
    assert_int_equal(got->count, n);
    for (size_t i = 0; i < n; i++)
        assert_bytes(&got->items[i], want[i].member);
}

/* ZUNION, ZINTER, ZDIFF with and without scores: want, lowest score first; nothing written. */
static void test_zunion_zinter_zdiff(void **state)
{
    vmux *m = *state;
    store_sources(m);
    vmux_str ab[] = {ST_A, ST_B}, abs[] = {ST_A, ST_B, ST_SET}, a_none[] = {ST_A, ST_NONE};
    vmux_str aset[] = {ST_A, ST_SET}, none_a[] = {ST_NONE, ST_A};
    vmux_bytes_array got;
    vmux_scored_array scored;
    assert_int_equal(vmux_zunion(m, NULL, ab, 2, NULL, &got), 0);
    expect_members(&got, ZM({S("x"), 1}, {S("y"), 12}, {S("z"), 20}, {NUL_MEMBER, 33}), 4);
    vmux_bytes_array_free(&got);
    double w[] = {2, 0.5, 100};
    vmux_zstore_opts max =
        VMUX_INIT(vmux_zstore_opts, .weights = w, .aggregate = VMUX_ZAGGREGATE_MAX);
    assert_int_equal(vmux_zunion_withscores(m, NULL, ab, 2, &max, &scored), 0);
    expect_scored(&scored, ZM({S("x"), 2}, {S("y"), 5}, {S("z"), 10}, {NUL_MEMBER, 15}), 4);
    vmux_scored_array_free(&scored);
    vmux_zstore_opts min = VMUX_INIT(vmux_zstore_opts, .aggregate = VMUX_ZAGGREGATE_MIN);
    assert_int_equal(vmux_zunion_withscores(m, NULL, abs, 3, &min, &scored), 0);
    expect_scored(&scored, ZM({S("x"), 1}, {S("y"), 1}, {S("z"), 1}, {NUL_MEMBER, 3}), 4);
    vmux_scored_array_free(&scored);

    assert_int_equal(vmux_zinter_withscores(m, NULL, abs, 3, NULL, &scored), 0);
    expect_scored(&scored, ZM({S("y"), 13}), 1); /* 2 + 10 + the set's 1 */
    vmux_scored_array_free(&scored);
    assert_int_equal(vmux_zinter(m, NULL, ab, 2, &min, &got), 0);
    expect_members(&got, ZM({S("y"), 2}, {NUL_MEMBER, 3}), 2);
    vmux_bytes_array_free(&got);
    vmux_zstore_opts weighted = VMUX_INIT(vmux_zstore_opts, .weights = w);
    assert_int_equal(vmux_zinter_withscores(m, NULL, abs, 3, &weighted, &scored), 0);
    expect_scored(&scored, ZM({S("y"), 109}), 1); /* 2*2 + 10*0.5 + 1*100 */
    vmux_scored_array_free(&scored);
    assert_int_equal(vmux_zinter(m, NULL, a_none, 2, NULL, &got), 0);
    assert_int_equal(got.count, 0);
    vmux_bytes_array_free(&got);

    assert_int_equal(vmux_zdiff(m, NULL, ab, 2, &got), 0);
    expect_members(&got, ZM({S("x"), 1}), 1);
    vmux_bytes_array_free(&got);
    assert_int_equal(vmux_zdiff_withscores(m, NULL, aset, 2, &scored), 0);
    expect_scored(&scored, ZM({S("x"), 1}, {NUL_MEMBER, 3}), 2);
    vmux_scored_array_free(&scored);
    assert_int_equal(vmux_zdiff_withscores(m, NULL, none_a, 2, &scored), 0);
    assert_int_equal(scored.count, 0);
    vmux_scored_array_free(&scored);
    assert_int_equal(vmux_zunion(m, NULL, ab, 2, NULL, NULL), 0); /* the answer dropped */
    assert_int_equal(vmux_zdiff_withscores(m, NULL, ab, 2, NULL), 0);
    assert_int_equal(admin_int("EXISTS %b", ST_DST), 0); /* nothing stored */
    expect_zset(m, ST_A, ZM({S("x"), 1}, {S("y"), 2}, {NUL_MEMBER, 3}), 3);
}

static int64_t zintercard(vmux *m, const vmux_str *keys, size_t n, int64_t limit)
{
    int64_t count = -1;
    assert_int_equal(vmux_zintercard(m, NULL, keys, n, limit, &count), 0);
    return count;
}

static void test_zintercard(void **state)
{
    vmux *m = *state;
    store_sources(m);
    vmux_str ab[] = {ST_A, ST_B}, abs[] = {ST_A, ST_B, ST_SET}, a_none[] = {ST_A, ST_NONE};
    assert_int_equal(zintercard(m, ab, 2, 0), 2);
    assert_int_equal(zintercard(m, abs, 3, 0), 1);
    assert_int_equal(zintercard(m, ab, 2, 1), 1); /* stops at the limit */
    assert_int_equal(zintercard(m, ab, 2, 5), 2);
    assert_int_equal(zintercard(m, ab, 1, 0), 3); /* one set: its size */
    assert_int_equal(zintercard(m, a_none, 2, 0), 0);
    assert_int_equal(vmux_zintercard(m, NULL, ab, 2, 0, NULL), 0);
}

static void test_zrangestore(void **state)
{
    vmux *m = *state;
    vmux_str src = S("cmdzsets:{rs}:src"), dst = S("cmdzsets:{rs}:dst");
    vmux_str lex = S("cmdzsets:{rs}:lex"), none = S("cmdzsets:{rs}:none");
    vmux_zmember items[] = {{S("a"), 1}, {NUL_MEMBER, 2}, {EMPTY, 3}, {S("d"), 4}, {S("e"), 5}};
    del(src), del(dst), del(lex), del(none);
    zadd(m, src, items, 5);
    zadd(m, lex, ZM({S("a"), 0}, {S("b"), 0}, {S("c"), 0}), 3);
    int64_t n = -1;
    assert_int_equal(vmux_zrangestore(m, NULL, dst, src, NULL, &n), 0);
    assert_int_equal(n, 5);
    expect_zset(m, dst, items, 5);
    vmux_zrange_opts r =
        VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(1), .stop = VMUX_ZBOUND_INDEX(2));
    assert_int_equal(vmux_zrangestore(m, NULL, dst, src, &r, &n), 0);
    assert_int_equal(n, 2);
    expect_zset(m, dst, items + 1, 2);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_POS_INF, .stop = VMUX_ZBOUND_SCORE(2),
                  .rev = true, .limit = true, .offset = 1, .count = 2);
    assert_int_equal(vmux_zrangestore(m, NULL, dst, src, &r, &n), 0);
    assert_int_equal(n, 2); /* from the top, skipping e: d and the empty member */
    expect_zset(m, dst, items + 2, 2);
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_LEX_MIN,
                  .stop = VMUX_ZBOUND_LEX_EXCL(S("c")));
    assert_int_equal(vmux_zrangestore(m, NULL, dst, lex, &r, &n), 0);
    assert_int_equal(n, 2);
    expect_zset(m, dst, ZM({S("a"), 0}, {S("b"), 0}), 2);
    /* nothing in range, or a missing source: dst is deleted */
    r = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_SCORE(100), .stop = VMUX_ZBOUND_POS_INF);
    assert_int_equal(vmux_zrangestore(m, NULL, dst, src, &r, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(admin_int("EXISTS %b", dst), 0);
    zadd(m, dst, items, 1);
    assert_int_equal(vmux_zrangestore(m, NULL, dst, none, NULL, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(admin_int("EXISTS %b", dst), 0);
}

/*
 * Keys in two slots ({a} is slot 15495, {b} slot 3300): a cluster refuses the store commands
 * before sending (dst is not created), a standalone server runs them.
 */
static void test_zstore_two_slots(void **state)
{
    vmux *m = *state;
    vmux_str a = S("cmdzsets:{a}:x"), b = S("cmdzsets:{b}:x"), dst = S("cmdzsets:{a}:dst");
    vmux_str two[] = {a, b};
    del(a), del(b), del(dst);
    zadd(m, a, ZM({S("m"), 1}), 1);
    zadd(m, b, ZM({S("m"), 2}), 1);
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    int64_t n = 7;
    if (vt_cluster_mode() == NULL) {
        assert_int_equal(vmux_zunionstore(m, &o, dst, two, 2, NULL, &n), 0);
        assert_int_equal(n, 1);
        expect_zset(m, dst, ZM({S("m"), 3}), 1);
        assert_int_equal(vmux_zrangestore(m, &o, dst, b, NULL, &n), 0);
        expect_zset(m, dst, ZM({S("m"), 2}), 1);
        assert_int_equal(vmux_zintercard(m, &o, two, 2, 0, &n), 0);
        assert_int_equal(n, 1);
        return;
    }
    assert_int_equal(vmux_zunionstore(m, &o, dst, two, 2, NULL, &n), VMUX_ERR_CROSSSLOT);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "slot 15495"));
    assert_non_null(strstr(err, "slot 3300"));
    n = 7;
    assert_int_equal(vmux_zinterstore(m, NULL, dst, two, 2, NULL, &n), VMUX_ERR_CROSSSLOT);
    assert_int_equal(n, 0);
    assert_int_equal(vmux_zdiffstore(m, NULL, dst, two, 2, &n), VMUX_ERR_CROSSSLOT);
    assert_int_equal(vmux_zrangestore(m, NULL, dst, b, NULL, &n), VMUX_ERR_CROSSSLOT);
    assert_int_equal(admin_int("EXISTS %b", dst), 0);
    /* the reads too: ZUNION, ZINTER, ZDIFF and ZINTERCARD name their keys with numkeys */
    vmux_bytes_array got;
    vmux_scored_array scored;
    assert_int_equal(vmux_zunion(m, NULL, two, 2, NULL, &got), VMUX_ERR_CROSSSLOT);
    assert_int_equal(got.count, 0);
    assert_int_equal(vmux_zinter_withscores(m, NULL, two, 2, NULL, &scored), VMUX_ERR_CROSSSLOT);
    assert_int_equal(scored.count, 0);
    assert_int_equal(vmux_zdiff(m, NULL, two, 2, &got), VMUX_ERR_CROSSSLOT);
    n = 7;
    assert_int_equal(vmux_zintercard(m, NULL, two, 2, 1, &n), VMUX_ERR_CROSSSLOT);
    assert_int_equal(n, 0);
    vmux_str aa[] = {a, dst};
    assert_int_equal(vmux_zintercard(m, NULL, aa, 2, 0, &n), 0);
    /* dst and a share their tag: one slot */
    assert_int_equal(vmux_zunionstore(m, NULL, dst, &a, 1, NULL, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(vmux_zrangestore(m, NULL, dst, a, NULL, &n), 0);
    assert_int_equal(n, 1);
}

static void test_wrongtype(void **state)
{
    vmux *m = *state;
    vmux_str key = S("cmdzsets:string");
    set_string(key);
    char err[256];
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_zmember item = {S("a"), 1};
    vmux_str member = S("a");
    int64_t n;
    double score;
    bool found;
    double scores[1];
    bool present[1];
    vmux_bytes_array a;
    vmux_scored_array sa;

    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zadd(m, &o, key, &item, 1, VMUX_COND_ALWAYS, false, &n), err);
    assert_int_equal(n, 0);
    score = 7, found = true, err[0] = '\0';
    expect_wrongtype(vmux_zadd_incr(m, &o, key, member, 1, VMUX_COND_ALWAYS, &score, &found), err);
    assert_true(score == 0);
    assert_false(found);
    score = 7, err[0] = '\0';
    expect_wrongtype(vmux_zincrby(m, &o, key, member, 1, &score), err);
    assert_true(score == 0);
    score = 7, found = true, err[0] = '\0';
    expect_wrongtype(vmux_zscore(m, &o, key, member, &score, &found), err);
    assert_true(score == 0);
    assert_false(found);
    scores[0] = 7, present[0] = true, err[0] = '\0';
    expect_wrongtype(vmux_zmscore(m, &o, key, &member, 1, scores, present), err);
    assert_true(scores[0] == 0);
    assert_false(present[0]);
    n = 7, score = 7, found = true, err[0] = '\0';
    expect_wrongtype(vmux_zrank(m, &o, key, member, &n, &score, &found), err);
    assert_int_equal(n, 0);
    assert_true(score == 0);
    assert_false(found);
    n = 7, found = true, err[0] = '\0';
    expect_wrongtype(vmux_zrevrank(m, &o, key, member, &n, NULL, &found), err);
    assert_int_equal(n, 0);
    assert_false(found);
    memset(&a, 0xab, sizeof a), err[0] = '\0';
    expect_wrongtype(vmux_zrange(m, &o, key, NULL, &a), err);
    assert_null(a.items);
    assert_int_equal(a.count, 0);
    memset(&sa, 0xab, sizeof sa), err[0] = '\0';
    expect_wrongtype(vmux_zrange_withscores(m, &o, key, NULL, &sa), err);
    assert_null(sa.items);
    assert_int_equal(sa.count, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zrem(m, &o, key, &member, 1, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zcard(m, &o, key, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zcount(m, &o, key, VMUX_ZBOUND_NEG_INF, VMUX_ZBOUND_POS_INF, &n), err);
    assert_int_equal(n, 0);
    memset(&sa, 0xab, sizeof sa), err[0] = '\0';
    expect_wrongtype(vmux_zpopmin(m, &o, key, 1, &sa), err);
    assert_null(sa.items);
    memset(&sa, 0xab, sizeof sa), err[0] = '\0';
    expect_wrongtype(vmux_zpopmax(m, &o, key, 1, &sa), err);
    assert_null(sa.items);
    assert_int_equal(sa.count, 0);

    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zremrangebyrank(m, &o, key, 0, -1, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(
        vmux_zremrangebyscore(m, &o, key, VMUX_ZBOUND_NEG_INF, VMUX_ZBOUND_POS_INF, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zremrangebylex(m, &o, key, VMUX_ZBOUND_LEX_MIN, VMUX_ZBOUND_LEX_MAX, &n),
                     err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zlexcount(m, &o, key, VMUX_ZBOUND_LEX_MIN, VMUX_ZBOUND_LEX_MAX, &n), err);
    assert_int_equal(n, 0);
    vmux_bytes b;
    memset(&b, 0xab, sizeof b), err[0] = '\0';
    expect_wrongtype(vmux_zrandmember(m, &o, key, &b), err);
    assert_null(b.ptr);
    memset(&a, 0xab, sizeof a), err[0] = '\0';
    expect_wrongtype(vmux_zrandmember_count(m, &o, key, 2, &a), err);
    assert_null(a.items);
    memset(&sa, 0xab, sizeof sa), err[0] = '\0';
    expect_wrongtype(vmux_zrandmember_withscores(m, &o, key, 2, &sa), err);
    assert_null(sa.items);
    /* the stores read a string as a source (dst is the same key: one slot) */
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zunionstore(m, &o, key, &key, 1, NULL, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zinterstore(m, &o, key, &key, 1, NULL, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zdiffstore(m, &o, key, &key, 1, &n), err);
    assert_int_equal(n, 0);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zrangestore(m, &o, key, key, NULL, &n), err);
    assert_int_equal(n, 0);
    err[0] = '\0';
    expect_wrongtype(vmux_zunion(m, &o, &key, 1, NULL, &a), err);
    assert_null(a.items);
    err[0] = '\0';
    expect_wrongtype(vmux_zinter_withscores(m, &o, &key, 1, NULL, &sa), err);
    assert_null(sa.items);
    err[0] = '\0';
    expect_wrongtype(vmux_zdiff(m, &o, &key, 1, &a), err);
    n = 7, err[0] = '\0';
    expect_wrongtype(vmux_zintercard(m, &o, &key, 1, 0, &n), err);
    assert_int_equal(n, 0);

    vmux_scan *it;
    vmux_scored_array batch;
    err[0] = '\0';
    assert_int_equal(vmux_zscan_begin(m, key, NULL, &it), 0);
    expect_wrongtype(vmux_zscan_next_scored(it, &o, &batch), err);
    assert_int_equal(batch.count, 0);
    vmux_scan_end(it);
    char *type = vt_admin("plain", "TYPE %b", key.ptr, key.len);
    assert_string_equal(type, "string");
    free(type);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zadd),
        cmocka_unit_test(test_zadd_many_pairs_and_binary_key),
        cmocka_unit_test(test_zadd_bad_arguments),
        cmocka_unit_test(test_zadd_incr_and_zincrby),
        cmocka_unit_test(test_zscore_zmscore),
        cmocka_unit_test(test_zrank),
        cmocka_unit_test(test_zrange_by_index),
        cmocka_unit_test(test_zrange_by_score),
        cmocka_unit_test(test_zrange_by_lex),
        cmocka_unit_test(test_zrange_bad_arguments),
        cmocka_unit_test(test_zrem_zcard_zcount),
        cmocka_unit_test(test_zpop),
        cmocka_unit_test(test_leaderboard),
        cmocka_unit_test(test_zscan_every_member),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_zremrangebyrank),
        cmocka_unit_test(test_zremrangebyscore),
        cmocka_unit_test(test_zlexcount_zremrangebylex),
        cmocka_unit_test(test_zrange_bounds_refused),
        cmocka_unit_test(test_zrandmember),
        cmocka_unit_test(test_zrandmember_count_bounds),
        cmocka_unit_test(test_zunionstore_zinterstore),
        cmocka_unit_test(test_zdiffstore),
        cmocka_unit_test(test_zstore_bad_arguments),
        cmocka_unit_test(test_zunion_zinter_zdiff),
        cmocka_unit_test(test_zintercard),
        cmocka_unit_test(test_zrangestore),
        cmocka_unit_test(test_zstore_two_slots),
        cmocka_unit_test(test_wrongtype),
    };
    return cmocka_run_group_tests(tests, cmd_state_setup, cmd_state_teardown);
}

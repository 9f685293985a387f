/*
 * Rate limiting (ratelimit.h) against the real server: the fixed window exact under 16 threads
 * (16 x 1,000 checks, limit 100, one window: exactly 100 allowed), also in three windows in a
 * row, each opened by 16 threads at once; GCRA allows its burst at once and then its rate,
 * within one request, over a span measured with the server's clock; requests of cost > 1; an
 * idle GCRA key refills to its burst, not beyond; a request made after waiting retry_after_ms
 * is allowed, for each algorithm; the sliding window frees units as each leaves the window, not
 * all at once, keeps one entry per request whatever its cost (limits and costs of 10^7 and 2^40
 * answer at once), matches a reference model over mixed costs, rebases its unit count before it
 * passes 2^50, and takes over a key of 0.1's per-unit format; a cost above the limit is refused
 * with no retry time and spends nothing; keys carry the limiter's prefix and always an expiry;
 * reset; a key of another type; fail-open and fail-closed against a handle whose server is
 * unreachable; bad arguments. Keys start with "patrl:". Tests whose outcome depends on time use
 * periods long enough that a stalled moment of the machine cannot change it, and wait for time
 * to pass on the server's clock (TIME), the one the limiter reads, never with a local sleep.
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

#define S VMUX_STR

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

/* A limiter with the given settings; its key "k" is deleted first (reruns start clean). */
static vmux_ratelimit *limiter(vmux *m, vmux_ratelimit_algorithm alg, int64_t limit,
                               int64_t period_ms, int64_t burst, const char *prefix)
{
    vmux_ratelimit_opts o = VMUX_INIT(vmux_ratelimit_opts, .algorithm = alg, .limit = limit,
                                      .period_ms = period_ms, .burst = burst, .prefix = prefix);
    vmux_ratelimit *rl = NULL;
    assert_int_equal(vmux_ratelimit_new(m, &o, &rl), 0);
    assert_non_null(rl);
    assert_int_equal(vmux_ratelimit_reset(rl, S("k")), 0);
    return rl;
}

static vmux_ratelimit_result check(vmux_ratelimit *rl, const char *key, int64_t cost)
{
    vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
    int rc = vmux_ratelimit_check(rl, S(key), cost, &r);
    if (rc != 0)
        fail_msg("vmux_ratelimit_check: %s", vmux_err_name(rc));
    return r;
}

/* The server's clock in microseconds. */
static int64_t server_us(vmux *m)
{
    int64_t s = 0, us = 0;
    assert_int_equal(vmux_time(m, NULL, &s, &us), 0);
    return s * 1000000 + us;
}

struct server_clock {
    vmux *m;
    int64_t until_us;
};

static bool server_clock_reached(void *arg)
{
    struct server_clock *c = arg;
    return server_us(c->m) >= c->until_us;
}

/*
 * Waits until the server's clock, the one the limiter's scripts read, shows at least until_us:
 * a condition on the clock that decides, not a local sleep of about the right length (the
 * local monotonic clock and the server's wall clock need not advance alike). The deadline is
 * the wait itself plus 10 s.
 */
static void wait_server_until(vmux *m, int64_t until_us)
{
    struct server_clock c = {m, until_us};
    int64_t ms = (until_us - server_us(m)) / 1000;
    if (!vt_wait_until(server_clock_reached, &c, (int)(ms > 0 ? ms : 0) + 10000))
        fail_msg("the server's clock did not reach %" PRId64 " us", until_us);
}

/* ---- fixed window under 16 threads ---- */

#define THREADS 16

/* One allowed or refused check as a thread saw it. */
struct seen {
    bool allowed;
    int64_t remaining, retry, reset;
};

struct hammer {
    vmux_ratelimit *rl;
    pthread_barrier_t *start; /* all threads begin at once */
    struct seen *seen;        /* room for checks */
    int checks, failures;     /* failures: calls that returned an error */
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    pthread_barrier_wait(h->start);
    for (int i = 0; i < h->checks; i++) {
        vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
        if (vmux_ratelimit_check(h->rl, S("k"), 1, &r) != 0) {
            h->failures++;
            continue;
        }
        h->seen[i] = (struct seen){r.allowed, r.remaining, r.retry_after_ms, r.reset_after_ms};
    }
    return NULL;
}

/*
 * THREADS threads make `checks` checks each, all starting at once, and the results are
 * judged. A window starts with the request that finds it new, the one allowed with
 * remaining == limit - 1; when exactly one did, every check fell in one window, which must then
 * have allowed exactly limit requests (there were more than limit), each remaining count
 * 0..limit-1 handed out once, and refused the rest with remaining 0 and a retry-after equal to
 * its reset-after, within the window. Returns how many windows the checks spanned (more than
 * one: the run outlasted the window, and nothing else was checked).
 */
static int fixed_round(vmux_ratelimit *rl, int64_t limit, int64_t period_ms, int checks)
{
    struct hammer h[THREADS];
    pthread_t t[THREADS];
    pthread_barrier_t start;
    struct seen *all = calloc((size_t)THREADS * (size_t)checks, sizeof(*all));
    assert_non_null(all);
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        h[i] = (struct hammer){.rl = rl, .start = &start, .checks = checks};
        h[i].seen = all + (size_t)i * (size_t)checks;
        assert_int_equal(pthread_create(&t[i], NULL, hammer_run, &h[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(h[i].failures, 0);
    }
    pthread_barrier_destroy(&start);
    size_t n = (size_t)THREADS * (size_t)checks;
    int windows = 0;
    int64_t allowed = 0;
    unsigned char *handed = calloc((size_t)limit, 1);
    assert_non_null(handed);
    for (size_t i = 0; i < n; i++) {
        if (!all[i].allowed)
            continue;
        allowed++;
        assert_in_range(all[i].remaining, 0, limit - 1);
        windows += all[i].remaining == limit - 1;
        handed[all[i].remaining]++;
    }
    for (size_t i = 0; windows == 1 && i < n; i++) {
        if (all[i].allowed) {
            assert_in_range(all[i].reset, 1, period_ms);
            continue;
        }
        assert_int_equal(all[i].remaining, 0);
        assert_in_range(all[i].retry, 1, period_ms);
        assert_int_equal(all[i].retry, all[i].reset);
    }
    if (windows == 1) {
        assert_int_equal(allowed, limit);
        for (int64_t r = 0; r < limit; r++)
            assert_int_equal(handed[r], 1);
    }
    free(handed);
    free(all);
    assert_true(windows >= 1);
    return windows;
}

static void test_fixed_window_exact_under_16_threads(void **state)
{
    /* a minute-long window, far longer than 16,000 checks take: they all fall in one */
    vmux_ratelimit *rl = limiter(*state, VMUX_RATELIMIT_FIXED_WINDOW, 100, 60000, 0, "patrl:fx:");
    assert_int_equal(fixed_round(rl, 100, 60000, 1000), 1);
    printf("fixed window: 16 x 1000 checks, one window, exactly 100 allowed\n");
    vmux_ratelimit_free(rl);
}

/* True once key "k" has no window running (a check that spends nothing says so). */
static bool window_over(void *arg)
{
    vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
    return vmux_ratelimit_check(arg, S("k"), 0, &r) == 0 && r.reset_after_ms == 0;
}

/*
 * Three windows in a row, each opened by 16 threads at once as the last one ends (the moment a
 * non-atomic limiter would let two "first" requests both reset the counter): each allows
 * exactly 100. A round that outlasts its 2-second window (a stalled machine) is run again.
 */
static void test_fixed_window_exact_across_windows(void **state)
{
    vmux_ratelimit *rl = limiter(*state, VMUX_RATELIMIT_FIXED_WINDOW, 100, 2000, 0, "patrl:fx2:");
    int exact = 0;
    for (int round = 0; round < 8 && exact < 3; round++) {
        assert_true(vt_wait_until(window_over, rl, 10000));
        int windows = fixed_round(rl, 100, 2000, 100);
        exact += windows == 1;
        if (windows > 1)
            printf("fixed window: a round spanned %d windows; running it again\n", windows);
    }
    assert_int_equal(exact, 3);
    vmux_ratelimit_free(rl);
}

/* ---- GCRA ---- */

/* Rate 10 per second: one unit per T = 100 ms; T_MS marks a check that found the bucket full. */
#define T_US 100000
#define T_MS 100

struct gcra_hammer {
    vmux_ratelimit *rl;
    uint64_t stop_at;
    int allowed, failures;
    bool lapsed; /* an allowed check found the bucket full: demand had stopped for > tau */
};

static void *gcra_run(void *arg)
{
    struct gcra_hammer *g = arg;
    while (vt_now_ms() < g->stop_at) {
        vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
        if (vmux_ratelimit_check(g->rl, S("k"), 1, &r) != 0) {
            g->failures++;
        } else if (r.allowed) {
            g->allowed++;
            g->lapsed |= r.reset_after_ms <= T_MS;
        }
    }
    return NULL;
}

/* Checks one unit until one is refused; returns how many were allowed. */
static int gcra_until_refused(vmux_ratelimit *rl, bool *lapsed, vmux_ratelimit_result *refusal,
                              uint64_t *asked_ns)
{
    int allowed = 0;
    for (;;) {
        *asked_ns = vt_now_ns(); /* before the check: the refusal came later on the server */
        *refusal = check(rl, "k", 1);
        if (!refusal->allowed)
            return allowed;
        allowed++;
        *lapsed |= refusal->reset_after_ms <= T_MS;
    }
}

/*
 * Rate 10 per second, burst 40 (tau = 4 s). From a fresh key the burst passes at once, then
 * the rate: 4 threads hammer for 2 s, then one thread spends what is left until refused. With
 * s_first the first check's server time and n the units allowed, GCRA's state is then
 * s_first + n*T, so: every allowed check had s_first + n*T - tau <= s_last, and the final
 * refusal at r had s_first + (n+1)*T - tau > r, hence
 *     burst + floor((r - s_first) / T) <= n <= burst + floor((s_last - s_first) / T).
 * Those server times are bounded with TIME just before the first check and just after the
 * refusal, less the local time those two exchanges took; so n is checked to within one
 * request over the measured span. (The lower bound needs demand never to have lapsed for
 * longer than tau, which an allowed check finding the bucket full would show.)
 */
static void test_gcra_burst_then_rate(void **state)
{
    vmux *m = *state;
    const int64_t burst = 40;
    vmux_ratelimit *rl = limiter(m, VMUX_RATELIMIT_GCRA, 10, 1000, burst, "patrl:gcra:");
    bool lapsed = false;
    uint64_t l0 = vt_now_ns();
    int64_t t0 = server_us(m);
    vmux_ratelimit_result r = check(rl, "k", 1);
    l0 = vt_now_ns() - l0;
    assert_true(r.allowed);
    assert_int_equal(r.limit, burst);
    assert_int_equal(r.remaining, burst - 1);
    uint64_t refused_ns;
    int allowed = 1 + gcra_until_refused(rl, &lapsed, &r, &refused_ns);
    /* the burst, plus whatever the rate added while it was being spent (server time) */
    assert_in_range(allowed, burst, burst + (server_us(m) - t0) / T_US);
    assert_int_equal(r.remaining, 0);
    assert_in_range(r.retry_after_ms, 1, T_MS);

    struct gcra_hammer g[4];
    pthread_t t[4];
    uint64_t stop_at = vt_now_ms() + 2000;
    for (int i = 0; i < 4; i++) {
        g[i] = (struct gcra_hammer){.rl = rl, .stop_at = stop_at};
        assert_int_equal(pthread_create(&t[i], NULL, gcra_run, &g[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(g[i].failures, 0);
        allowed += g[i].allowed;
        lapsed |= g[i].lapsed;
    }
    allowed += gcra_until_refused(rl, &lapsed, &r, &refused_ns);
    uint64_t l2 = vt_now_ns();
    /* The refusal r, again: the bucket stays empty, unless r's retry-after ran out meanwhile
     * (the time since r was asked bounds the server time between the two checks). */
    bool again = check(rl, "k", 1).allowed;
    assert_true(!again || (vt_now_ns() - refused_ns) / 1000000 + 1 >= (uint64_t)r.retry_after_ms);
    allowed += again;
    int64_t t1 = server_us(m);
    l2 = vt_now_ns() - l2;

    int64_t span = t1 - t0;
    int64_t inner = span - (int64_t)(l0 + l2) / 1000 - 1;
    int64_t most = burst + span / T_US, least = burst + inner / T_US;
    printf("GCRA: %d allowed over %.3f s (theory: %" PRId64 "..%" PRId64 ")%s\n", allowed,
           (double)span / 1e6, least, most,
           lapsed ? "; demand lapsed, lower bound not checked" : "");
    assert_true(allowed <= most);
    if (!lapsed)
        assert_true(allowed >= least);
    vmux_ratelimit_free(rl);
}

static void test_gcra_costs(void **state)
{
    /* one unit per second, burst 5: a stalled moment cannot change the outcome */
    vmux_ratelimit *rl = limiter(*state, VMUX_RATELIMIT_GCRA, 10, 10000, 5, "patrl:gcost:");
    vmux_ratelimit_result r = check(rl, "k", 3);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 2);
    assert_int_equal(r.reset_after_ms, 3000); /* 3 units drain in 3 s */
    r = check(rl, "k", 3);                    /* needs one more unit: within a second */
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 2);
    assert_in_range(r.retry_after_ms, 1, 1000);
    r = check(rl, "k", 0); /* asks without spending */
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 2);
    r = check(rl, "k", 2);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    r = check(rl, "k", 6); /* more than the burst: never */
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_ms, -1);
    vmux_ratelimit_free(rl);
}

/* A quiet spell refills the bucket to its burst, never beyond: unused time is not saved up. */
static void test_gcra_idle_refills_to_burst_only(void **state)
{
    vmux *m = *state;
    vmux_ratelimit *rl = limiter(m, VMUX_RATELIMIT_GCRA, 10, 10000, 2, "patrl:gidle:");
    assert_true(check(rl, "k", 2).allowed);
    vmux_ratelimit_result r = check(rl, "k", 1);
    int64_t refused_at = server_us(m); /* at or after the check, on the limiter's clock */
    assert_false(r.allowed);
    assert_in_range(r.reset_after_ms, 1001, 2000);
    wait_server_until(m, refused_at + 2500 * 1000); /* more than the 2 s that refill the burst */
    r = check(rl, "k", 0);
    assert_int_equal(r.remaining, 2);
    assert_int_equal(r.reset_after_ms, 0);
    assert_true(check(rl, "k", 1).allowed);
    assert_true(check(rl, "k", 1).allowed);
    r = check(rl, "k", 1);
    assert_false(r.allowed);
    assert_in_range(r.retry_after_ms, 1, 1000);
    vmux_ratelimit_free(rl);
}

/* ---- retry-after, for each algorithm ---- */

/*
 * Spends the whole allowance (3 per 2 s), is refused, waits exactly retry_after_ms and is
 * allowed.
 */
static void retry_after_is_right(vmux *m, vmux_ratelimit_algorithm alg, const char *prefix)
{
    vmux_ratelimit *rl = limiter(m, alg, 3, 2000, 0, prefix);
    for (int i = 0; i < 3; i++)
        assert_true(check(rl, "k", 1).allowed);
    vmux_ratelimit_result r = check(rl, "k", 1);
    int64_t refused_at = server_us(m); /* at or after the check, on the limiter's clock */
    assert_false(r.allowed);
    assert_int_equal(r.limit, 3);
    assert_int_equal(r.remaining, 0);
    assert_in_range(r.retry_after_ms, 1, 2000);
    assert_in_range(r.reset_after_ms, r.retry_after_ms, 2000);
    /* the semantics are about time: wait exactly that, as the server counts it */
    wait_server_until(m, refused_at + r.retry_after_ms * 1000);
    r = check(rl, "k", 1);
    assert_true(r.allowed);
    assert_int_equal(r.retry_after_ms, 0);
    vmux_ratelimit_free(rl);
}

static void test_retry_after_fixed(void **state)
{
    retry_after_is_right(*state, VMUX_RATELIMIT_FIXED_WINDOW, "patrl:rafx:");
}

static void test_retry_after_sliding(void **state)
{
    retry_after_is_right(*state, VMUX_RATELIMIT_SLIDING_WINDOW, "patrl:rasl:");
}

static void test_retry_after_gcra(void **state)
{
    retry_after_is_right(*state, VMUX_RATELIMIT_GCRA, "patrl:ragc:");
}

/* ---- sliding window ---- */

/*
 * Limit 4 per 4 s. Batch A (2 units) at t, batch B (2 units) at t + 1.5 s: the next request
 * waits until A leaves (<= 2.5 s), and then exactly A's two units come back, not four: B's
 * stay counted until they leave 1.5 s later. A fixed window would have given all four back.
 */
static void test_sliding_window_semantics(void **state)
{
    vmux *m = *state;
    vmux_ratelimit *rl = limiter(m, VMUX_RATELIMIT_SLIDING_WINDOW, 4, 4000, 0, "patrl:slide:");
    int64_t before_a = server_us(m);
    vmux_ratelimit_result r = check(rl, "k", 2);
    int64_t after_a = server_us(m);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 2);
    assert_int_equal(r.reset_after_ms, 4000);
    wait_server_until(m, after_a + 1500 * 1000);
    r = check(rl, "k", 2);
    /* B came at least 1.5 s after A, and at most this long after it, server time */
    int64_t gap = (server_us(m) - before_a) / 1000 + 1;
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    r = check(rl, "k", 1);
    int64_t refused_at = server_us(m);
    assert_false(r.allowed);
    assert_in_range(r.retry_after_ms, 1, 2500);
    assert_true(r.reset_after_ms >= r.retry_after_ms + 1400); /* B leaves 1.5 s after A */
    wait_server_until(m, refused_at + r.retry_after_ms * 1000);
    r = check(rl, "k", 2);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    r = check(rl, "k", 1);
    assert_false(r.allowed);
    assert_in_range(r.retry_after_ms, 1, gap); /* B's units stay until B is 4 s old */
    vmux_ratelimit_free(rl);
}

static void test_sliding_window_large_cost(void **state)
{
    vmux_ratelimit *rl =
        limiter(*state, VMUX_RATELIMIT_SLIDING_WINDOW, 2000, 60000, 0, "patrl:slbig:");
    vmux_ratelimit_result r = check(rl, "k", 1200);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 800);
    char *card = vt_admin("plain", "ZCARD %s", "patrl:slbig:k");
    assert_string_equal(card, "1"); /* one entry per request, not per unit */
    free(card);
    r = check(rl, "k", 801);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 800);
    assert_in_range(r.retry_after_ms, 59000, 60000);
    assert_true(check(rl, "k", 800).allowed);
    vmux_ratelimit_free(rl);
}

/* ---- limits, keys, errors ---- */

static void test_cost_above_limit_spends_nothing(void **state)
{
    static const vmux_ratelimit_algorithm algs[] = {
        VMUX_RATELIMIT_FIXED_WINDOW, VMUX_RATELIMIT_SLIDING_WINDOW, VMUX_RATELIMIT_GCRA};
    for (size_t i = 0; i < 3; i++) {
        vmux_ratelimit *rl = limiter(*state, algs[i], 5, 1000, 0, "patrl:big:");
        vmux_ratelimit_result r = check(rl, "k", 6);
        assert_false(r.allowed);
        assert_int_equal(r.retry_after_ms, -1);
        assert_int_equal(r.remaining, 5);
        assert_int_equal(r.reset_after_ms, 0);
        char *exists = vt_admin("plain", "EXISTS %s", "patrl:big:k");
        assert_string_equal(exists, "0");
        free(exists);
        r = check(rl, "k", 5);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 0);
        assert_int_equal(vmux_ratelimit_reset(rl, S("k")), 0);
        assert_string_equal(vmux_last_error(), ""); /* a call that succeeds leaves none */
        vmux_ratelimit_free(rl);
    }
}

static long admin_long(const char *format, const char *key)
{
    char *r = vt_admin("plain", format, key);
    assert_non_null(r);
    long v = strtol(r, NULL, 10);
    free(r);
    return v;
}

/* ---- sliding window: one entry per request, whatever its cost ---- */

#define SLIDING VMUX_RATELIMIT_SLIDING_WINDOW

/* x / 1000 rounded up, as the scripts' math.ceil does, for either sign. */
static int64_t ceil_ms(int64_t us)
{
    return us >= 0 ? (us + 999) / 1000 : -(-us / 1000);
}

/* ZCARD of the limiter key `key` (with its prefix). */
static long zcard(const char *key)
{
    return admin_long("ZCARD %s", key);
}

/*
 * Stops the running test unless the sliding window stores one entry per request: a check of
 * cost 2 must leave one entry. The tests that follow spend up to 2^40 units at once, which a
 * per-unit log would write one by one, holding the server for hours.
 */
static void one_entry_per_request_or_stop(vmux *m)
{
    vmux_ratelimit *rl = limiter(m, SLIDING, 10, 60000, 0, "patrl:slone:");
    assert_true(check(rl, "k", 2).allowed);
    if (zcard("patrl:slone:k") != 1)
        fail_msg("a check of cost 2 left %ld entries: a per-unit log", zcard("patrl:slone:k"));
    assert_int_equal(vmux_ratelimit_reset(rl, S("k")), 0);
    vmux_ratelimit_free(rl);
}

/* The check, with the server's clock read just before (*lo) and just after (*hi) it. */
static vmux_ratelimit_result timed_check(vmux *m, vmux_ratelimit *rl, int64_t cost, int64_t *lo,
                                         int64_t *hi)
{
    *lo = server_us(m);
    vmux_ratelimit_result r = check(rl, "k", cost);
    *hi = server_us(m);
    return r;
}

/* Asserts that ms is what a check made between lo and hi would say of an entry stamped between
 * t_lo and t_hi leaving a window of win_us. */
static void assert_leaves(int64_t ms, int64_t t_lo, int64_t t_hi, int64_t win_us, int64_t lo,
                          int64_t hi)
{
    int64_t least = ceil_ms(t_lo + win_us - hi), most = ceil_ms(t_hi + win_us - lo);
    /* compared here: cmocka's assert_in_range() is unsigned, and least may be below 0 */
    if (ms < least || ms > most)
        fail_msg("%" PRId64 " ms is not within %" PRId64 "..%" PRId64, ms, least, most);
}

/*
 * Limits of 10^7 and 2^40 units, each spent at once: the check answers at once (a per-unit log
 * wrote 10^7 entries in about 25 s, and 2^40 never finished: the server had to be shut down),
 * the key holds one entry, and the server answers the next command.
 */
static void test_sliding_huge_costs(void **state)
{
    vmux *m = *state;
    one_entry_per_request_or_stop(m);
    static const int64_t limits[] = {10000000, INT64_C(1) << 40};
    for (size_t i = 0; i < 2; i++) {
        vmux_ratelimit *rl = limiter(m, SLIDING, limits[i], 60000, 0, "patrl:slhuge:");
        vmux_ratelimit_result r = check(rl, "k", limits[i]);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 0);
        assert_int_equal(r.reset_after_ms, 60000);
        assert_int_equal(zcard("patrl:slhuge:k"), 1);
        char *pong = vt_admin("plain", "PING");
        assert_string_equal(pong, "PONG");
        free(pong);
        int64_t lo, hi;
        r = timed_check(m, rl, 1, &lo, &hi);
        assert_false(r.allowed);
        assert_int_equal(r.remaining, 0);
        assert_in_range(r.retry_after_ms, 1, 60000);
        assert_int_equal(r.retry_after_ms, r.reset_after_ms);
        assert_int_equal(zcard("patrl:slhuge:k"), 1);
        assert_int_equal(vmux_ratelimit_reset(rl, S("k")), 0);
        vmux_ratelimit_free(rl);
    }
}

/* One allowed request of cost > 0 as the model knows it: stamped between lo and hi. */
struct spent {
    int64_t lo, hi, cost;
};

/*
 * The reference model of a sliding window: the allowed requests, oldest first, each known to
 * within the server times read around its check. At a check made between lo and hi, request j
 * is surely in the window when its lo_j > hi - win, surely out when hi_j <= lo - win; the
 * window holds a suffix of the log, starting between the first not surely out and the first
 * surely in. The answer's remaining says which (costs are > 0, so each start has its own sum).
 */
struct model {
    vmux *m;
    vmux_ratelimit *rl;
    int64_t limit, win_us;
    struct spent log[512];
    int head, n;        /* the log's live part: [head, n) */
    int checks, unsure; /* unsure: checks whose window edge fell within a bracket */
};

/* Units of log[from..n). */
static int64_t model_sum(const struct model *md, int from)
{
    int64_t sum = 0;
    for (int j = from; j < md->n; j++)
        sum += md->log[j].cost;
    return sum;
}

/* Where the window starts, as the answer's units in use (used) say; fails when no start fits. */
static int model_start(struct model *md, int64_t lo, int64_t hi, int64_t used)
{
    int first = md->head;
    while (first < md->n && md->log[first].hi <= lo - md->win_us)
        first++;
    int last = first;
    while (last < md->n && md->log[last].lo <= hi - md->win_us)
        last++;
    md->unsure += first != last;
    for (int s = first; s <= last; s++)
        if (model_sum(md, s) == used)
            return s;
    fail_msg("check %d: %" PRId64 " units in use, not the sum of a window starting at %d..%d",
             md->checks, used, first, last);
    return -1;
}

/* The request whose leaving frees need units of the window starting at s. */
static int model_freeing(const struct model *md, int s, int64_t need)
{
    int64_t sum = 0;
    for (int j = s; j < md->n; j++) {
        sum += md->log[j].cost;
        if (sum >= need)
            return j;
    }
    fail_msg("the window has fewer than %" PRId64 " units", need);
    return -1;
}

/* One check of cost, judged against the model, which then records it; returns the server time
 * read after it. */
static int64_t model_check(struct model *md, int64_t cost)
{
    int64_t lo, hi;
    vmux_ratelimit_result r = timed_check(md->m, md->rl, cost, &lo, &hi);
    md->checks++;
    int64_t used = md->limit - r.remaining - (r.allowed ? cost : 0);
    int s = model_start(md, lo, hi, used);
    assert_int_equal(r.limit, md->limit);
    assert_int_equal(r.allowed, used + cost <= md->limit);
    if (r.allowed)
        assert_int_equal(r.retry_after_ms, 0);
    else if (cost > md->limit)
        assert_int_equal(r.retry_after_ms, -1);
    else {
        const struct spent *e = &md->log[model_freeing(md, s, used + cost - md->limit)];
        assert_leaves(r.retry_after_ms, e->lo, e->hi, md->win_us, lo, hi);
    }
    md->head = s;
    if (r.allowed && cost > 0) {
        assert_true(md->n < (int)(sizeof md->log / sizeof md->log[0]));
        md->log[md->n++] = (struct spent){lo, hi, cost};
    }
    if (md->head == md->n) {
        assert_int_equal(r.reset_after_ms, 0);
        return hi;
    }
    const struct spent *newest = &md->log[md->n - 1];
    assert_leaves(r.reset_after_ms, newest->lo, newest->hi, md->win_us, lo, hi);
    return hi;
}

/* A little deterministic randomness for the model's costs and gaps. */
static uint32_t lcg(uint32_t *x)
{
    *x = *x * 1664525u + 1013904223u;
    return *x >> 8;
}

/* A cost: 0 (15%), small (70%: 1..limit/25 + 3), up to the limit (10%) or above it (5%). */
static int64_t model_cost(int64_t limit, uint32_t *seed)
{
    uint32_t x = lcg(seed) % 100;
    if (x < 15)
        return 0;
    if (x < 85)
        return 1 + (int64_t)(lcg(seed) % (uint32_t)(limit / 25 + 3));
    return x < 95 ? 1 + (int64_t)(lcg(seed) % (uint32_t)limit) : limit + 1;
}

/* A server time at least after_us, at least 2 ms from any logged request's leaving time. */
static int64_t model_next_time(const struct model *md, int64_t after_us)
{
    int64_t t = after_us;
    for (int j = md->head; j < md->n; j++) {
        int64_t leave = (md->log[j].lo + md->log[j].hi) / 2 + md->win_us;
        if (t > leave - 2000 && t < leave + 2000) {
            t = leave + 2000;
            j = md->head - 1; /* look again from the start */
        }
    }
    return t;
}

/*
 * `checks` requests of mixed costs (model_cost()), gap_min_ms..gap_max_ms apart on the server's
 * clock, each judged against the model: allowed and remaining exactly, retry_after_ms and
 * reset_after_ms to within the server times read around the checks. With a window of a minute,
 * where nothing leaves, the key then holds exactly one entry per allowed request.
 */
static void model_run(vmux *m, int64_t limit, int64_t period_ms, int checks, int gap_min_ms,
                      int gap_max_ms, uint32_t seed)
{
    struct model *md = calloc(1, sizeof *md);
    assert_non_null(md);
    *md = (struct model){.m = m, .limit = limit, .win_us = period_ms * 1000};
    md->rl = limiter(m, SLIDING, limit, period_ms, 0, "patrl:slmodel:");
    int64_t last = server_us(m);
    for (int i = 0; i < checks; i++) {
        int64_t cost = model_cost(limit, &seed);
        int64_t gap = gap_min_ms + (int64_t)(lcg(&seed) % (uint32_t)(gap_max_ms - gap_min_ms + 1));
        wait_server_until(m, model_next_time(md, last + gap * 1000));
        last = model_check(md, cost);
    }
    printf("sliding model: %d checks, limit %" PRId64 " per %" PRId64
           " ms, %d requests logged, %d with a window edge within a bracket\n",
           md->checks, limit, period_ms, md->n, md->unsure);
    if (period_ms >= 60000)
        assert_int_equal(zcard("patrl:slmodel:k"), md->n - md->head);
    assert_int_equal(vmux_ratelimit_reset(md->rl, S("k")), 0);
    vmux_ratelimit_free(md->rl);
    free(md);
}

/*
 * First a minute-long window, where refusals name requests made 3 to 5 ms apart, up to deep in
 * the log; then 400 ms, where requests keep leaving.
 */
static void test_sliding_matches_model(void **state)
{
    model_run(*state, 1000, 60000, 150, 3, 5, 7);
    model_run(*state, 50, 400, 250, 2, 12, 11);
}

/* Adds member with score us to the sorted set key (the fixture's admin connection). */
static void seed(const char *key, int64_t us, const char *member)
{
    char score[24];
    snprintf(score, sizeof score, "%" PRId64, us);
    free(vt_admin("plain", "ZADD %s %s %s", key, score, member));
}

/* A member of the sliding window's format: "<cum, 16 digits>:<cost>". */
static const char *member(char *buf, size_t cap, int64_t cum, int64_t cost)
{
    snprintf(buf, cap, "%016" PRId64 ":%" PRId64, cum, cost);
    return buf;
}

/*
 * A key whose count of units spent is near 2^50 (a long-lived key: seeded here, three requests
 * of 100 units 3, 2 and 1 s ago): the next request would pass 2^50, so every entry is first
 * rebased to count from 0; the answers are the same as without it.
 */
static void test_sliding_rebase(void **state)
{
    vmux *m = *state;
    one_entry_per_request_or_stop(m);
    const int64_t limit = INT64_C(1) << 40, top = INT64_C(1) << 50, win = 60000000;
    const char *key = "patrl:slreb:k";
    vmux_ratelimit *rl = limiter(m, SLIDING, limit, 60000, 0, "patrl:slreb:");
    char b[64];
    int64_t t0 = server_us(m) - 3000000;
    for (int i = 0; i < 3; i++)
        seed(key, t0 + i * 1000000, member(b, sizeof b, top - 300 + 100 * i, 100));
    int64_t a_lo, a_hi, lo, hi;
    vmux_ratelimit_result r = timed_check(m, rl, limit - 300, &a_lo, &a_hi);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    char want[256];
    char m1[32], m2[32], m3[32], m4[40];
    snprintf(want, sizeof want, "%s\n%s\n%s\n%s", member(m1, sizeof m1, 100, 100),
             member(m2, sizeof m2, 200, 100), member(m3, sizeof m3, 300, 100),
             member(m4, sizeof m4, limit, limit - 300));
    char *all = vt_admin("plain", "ZRANGE %s 0 -1", key);
    assert_string_equal(all, want);
    free(all);
    assert_in_range(admin_long("PTTL %s", key), 1, 60001);
    /* one unit frees with the oldest request, 101 with the second, all with the newest */
    static const int64_t costs[] = {1, 101, INT64_C(1) << 40};
    for (int i = 0; i < 3; i++) {
        r = timed_check(m, rl, costs[i], &lo, &hi);
        assert_false(r.allowed);
        assert_int_equal(r.remaining, 0);
        if (i < 2)
            assert_leaves(r.retry_after_ms, t0 + i * 1000000, t0 + i * 1000000, win, lo, hi);
        else
            assert_leaves(r.retry_after_ms, a_lo, a_hi, win, lo, hi);
        assert_leaves(r.reset_after_ms, a_lo, a_hi, win, lo, hi);
    }
    assert_int_equal(vmux_ratelimit_reset(rl, S("k")), 0);
    vmux_ratelimit_free(rl);
}

/*
 * A key left by the per-unit format of 0.1 (members "<time>.<index>", one per unit): 3 units
 * 2 s ago and 2 units 1 s ago. The first check reads its 5 units and replaces it with one entry
 * of 5 units stamped 1 s ago, the newest unit's time: none leaves early.
 */
static void test_sliding_old_format_upgraded(void **state)
{
    vmux *m = *state;
    const char *key = "patrl:slold:k";
    vmux_ratelimit *rl = limiter(m, SLIDING, 10, 60000, 0, "patrl:slold:");
    int64_t t0 = server_us(m) - 2000000, t1 = t0 + 1000000;
    char b[64];
    for (int i = 0; i < 5; i++) {
        int64_t t = i < 3 ? t0 : t1;
        snprintf(b, sizeof b, "%" PRId64 ".%d", t, i);
        seed(key, t, b);
    }
    free(vt_admin("plain", "PEXPIRE %s 60000", key));
    int64_t lo, hi;
    vmux_ratelimit_result r = timed_check(m, rl, 0, &lo, &hi);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 5);
    assert_leaves(r.reset_after_ms, t1, t1, 60000000, lo, hi);
    char want[128];
    snprintf(want, sizeof want, "%s\n%" PRId64, member(b, sizeof b, 5, 5), t1);
    char *all = vt_admin("plain", "ZRANGE %s 0 -1 WITHSCORES", key);
    assert_string_equal(all, want);
    free(all);
    assert_in_range(admin_long("PTTL %s", key), 1, 60001);
    r = timed_check(m, rl, 6, &lo, &hi);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 5);
    assert_leaves(r.retry_after_ms, t1, t1, 60000000, lo, hi);
    r = check(rl, "k", 5);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(zcard(key), 2);
    assert_int_equal(vmux_ratelimit_reset(rl, S("k")), 0);
    vmux_ratelimit_free(rl);
}

static void test_keys_prefixed_with_expiry(void **state)
{
    vmux *m = *state;
    static const vmux_ratelimit_algorithm algs[] = {
        VMUX_RATELIMIT_FIXED_WINDOW, VMUX_RATELIMIT_SLIDING_WINDOW, VMUX_RATELIMIT_GCRA};
    static const char *const prefixes[] = {"patrl:pa:", "patrl:pb:", "patrl:pc:"};
    vmux_ratelimit *rl[3];
    for (size_t i = 0; i < 3; i++) {
        rl[i] = limiter(m, algs[i], 2, 5000, 0, prefixes[i]);
        assert_true(check(rl[i], "k", 2).allowed);
        assert_false(check(rl[i], "k", 1).allowed); /* its own state, not another's */
    }
    assert_in_range(admin_long("PTTL %s", "patrl:pa:k"), 4000, 5001);
    assert_in_range(admin_long("PTTL %s", "patrl:pb:k"), 4000, 5001);
    assert_in_range(admin_long("PTTL %s", "patrl:pc:k"), 4000, 5001);
    /* binary keys, and keys longer than the stack buffer */
    char bin[] = {'a', '\0', 'b'};
    vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
    assert_int_equal(vmux_ratelimit_check(rl[0], VMUX_STRN(bin, 3), 1, &r), 0);
    assert_int_equal(r.remaining, 1);
    char *bin_exists = vt_admin("plain", "EXISTS %b", "patrl:pa:a\0b", (size_t)12);
    assert_string_equal(bin_exists, "1");
    free(bin_exists);
    char longkey[600];
    memset(longkey, 'x', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_true(check(rl[2], longkey, 1).allowed);
    assert_int_equal(check(rl[2], longkey, 1).remaining, 0);
    assert_int_equal(vmux_ratelimit_reset(rl[2], S(longkey)), 0);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(vmux_ratelimit_reset(rl[i], S("k")), 0);
        assert_true(check(rl[i], "k", 2).allowed); /* reset gave the allowance back */
        vmux_ratelimit_free(rl[i]);
    }
}

static void test_default_prefix(void **state)
{
    vmux_ratelimit_opts o = VMUX_INIT(vmux_ratelimit_opts, .algorithm = VMUX_RATELIMIT_GCRA,
                                      .limit = 5, .period_ms = 1000);
    vmux_ratelimit *rl = NULL;
    assert_int_equal(vmux_ratelimit_new(*state, &o, &rl), 0);
    assert_int_equal(vmux_ratelimit_reset(rl, S("patrl:dflt")), 0);
    assert_true(check(rl, "patrl:dflt", 1).allowed);
    char *exists = vt_admin("plain", "EXISTS %s", "vmux:rl:gcra:patrl:dflt");
    assert_string_equal(exists, "1");
    free(exists);
    assert_int_equal(vmux_ratelimit_reset(rl, S("patrl:dflt")), 0);
    vmux_ratelimit_free(rl);
}

static void test_wrong_type_is_a_server_error(void **state)
{
    static const vmux_ratelimit_algorithm algs[] = {
        VMUX_RATELIMIT_FIXED_WINDOW, VMUX_RATELIMIT_SLIDING_WINDOW, VMUX_RATELIMIT_GCRA};
    for (size_t i = 0; i < 3; i++) {
        vmux_ratelimit *rl = limiter(*state, algs[i], 5, 1000, 0, "patrl:wt:");
        free(vt_admin("plain", "RPUSH %s x", "patrl:wt:k"));
        vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
        assert_int_equal(vmux_ratelimit_check(rl, S("k"), 1, &r), VMUX_ERR_SERVER);
        assert_false(r.allowed);
        assert_int_equal(vmux_ratelimit_errors(rl), 1);
        /* the server's words, as an errbuf would have them */
        assert_non_null(strstr(vmux_last_error(), "WRONGTYPE"));
        int err = 0;
        assert_true(vmux_ratelimit_allow(rl, S("k"), 1, &r, &err)); /* the default: fail open */
        assert_int_equal(err, VMUX_ERR_SERVER);
        assert_int_equal(vmux_ratelimit_errors(rl), 2);
        assert_int_equal(vmux_ratelimit_reset(rl, S("k")), 0);
        vmux_ratelimit_free(rl);
    }
    /* a string that is not a GCRA time */
    vmux_ratelimit *rl = limiter(*state, VMUX_RATELIMIT_GCRA, 5, 1000, 0, "patrl:wt:");
    free(vt_admin("plain", "SET %s notanumber", "patrl:wt:k"));
    vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
    assert_int_equal(vmux_ratelimit_check(rl, S("k"), 1, &r), VMUX_ERR_SERVER);
    assert_int_equal(vmux_ratelimit_reset(rl, S("k")), 0);
    vmux_ratelimit_free(rl);
}

/* A loopback port with nothing listening: bound, read and closed again. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Whether a check of rl fails, its words naming the refused connection (vmux_last_error()). */
static bool refused_in_words(void *rl)
{
    return vmux_ratelimit_check(rl, S("k"), 1, NULL) != 0 &&
           strstr(vmux_last_error(), "refused") != NULL;
}

static void test_fail_open_and_closed_when_unreachable(void **state)
{
    (void)state;
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,abortConnect=false,backlogPolicy=failFast",
             dead_port());
    vmux *m = vt_open_conf(conf);
    vmux_ratelimit_opts o = VMUX_INIT(vmux_ratelimit_opts, .algorithm = VMUX_RATELIMIT_GCRA,
                                      .limit = 5, .period_ms = 1000);
    vmux_ratelimit *open_rl = NULL, *closed_rl = NULL;
    assert_int_equal(vmux_ratelimit_new(m, &o, &open_rl), 0);
    o.on_error = VMUX_RATELIMIT_FAIL_CLOSED;
    assert_int_equal(vmux_ratelimit_new(m, &o, &closed_rl), 0);

    vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
    int rc = vmux_ratelimit_check(open_rl, S("k"), 1, &r);
    assert_int_equal(rc, VMUX_ERR_NOT_CONNECTED); /* the plain form returns the error */
    assert_false(r.allowed);
    assert_non_null(strstr(vmux_last_error(), "not sent")); /* and why, in words */

    int e = 0;
    assert_true(vmux_ratelimit_allow(open_rl, S("k"), 1, &r, &e));
    assert_int_equal(e, VMUX_ERR_NOT_CONNECTED);
    assert_true(r.allowed);
    assert_int_equal(r.limit, 5);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retry_after_ms, -1);
    assert_int_equal(r.reset_after_ms, -1);
    assert_int_equal(vmux_ratelimit_errors(open_rl), 2);

    assert_false(vmux_ratelimit_allow(closed_rl, S("k"), 1, &r, &e));
    assert_int_equal(e, VMUX_ERR_NOT_CONNECTED);
    assert_false(r.allowed);
    assert_false(vmux_ratelimit_allow(closed_rl, S("k"), 1, NULL, NULL));
    assert_int_equal(vmux_ratelimit_errors(closed_rl), 2);
    /* once a connection attempt has failed, the words name its failure too */
    assert_true(vt_wait_until(refused_in_words, open_rl, 10000));
    printf("vmux_last_error(): %s\n", vmux_last_error());

    vmux_ratelimit_free(open_rl);
    vmux_ratelimit_free(closed_rl);
    vmux_close(m);
}

static void test_bad_arguments(void **state)
{
    vmux *m = *state;
    vmux_ratelimit *rl = (vmux_ratelimit *)1;
    vmux_ratelimit_opts o = VMUX_INIT(vmux_ratelimit_opts, .limit = 10, .period_ms = 1000);
    assert_int_equal(vmux_ratelimit_new(NULL, &o, &rl), VMUX_ERR_INVALID_ARG);
    assert_null(rl);
    assert_int_equal(vmux_ratelimit_new(m, NULL, &rl), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_ratelimit_new(m, &o, NULL), VMUX_ERR_INVALID_ARG);
    const vmux_ratelimit_opts bad[] = {
        {.size = sizeof(vmux_ratelimit_opts), .limit = 0, .period_ms = 1000},
        {.size = sizeof(vmux_ratelimit_opts), .limit = 10, .period_ms = 0},
        {.size = sizeof(vmux_ratelimit_opts), .limit = -1, .period_ms = 1000},
        {.size = sizeof(vmux_ratelimit_opts), .limit = 10, .period_ms = (INT64_C(1) << 40) + 1},
        {.size = sizeof(vmux_ratelimit_opts),
         .algorithm = (vmux_ratelimit_algorithm)7,
         .limit = 10,
         .period_ms = 1000},
        {.size = sizeof(vmux_ratelimit_opts),
         .on_error = (vmux_ratelimit_on_error)9,
         .limit = 10,
         .period_ms = 1000},
        {.size = sizeof(vmux_ratelimit_opts),
         .algorithm = VMUX_RATELIMIT_GCRA,
         .limit = 10,
         .period_ms = 1000,
         .burst = -1},
        /* more than one unit per microsecond (T = 1000 us / limit < 1), also when T would
         * round to 1 us */
        {.size = sizeof(vmux_ratelimit_opts),
         .algorithm = VMUX_RATELIMIT_GCRA,
         .limit = 3000,
         .period_ms = 1},
        {.size = sizeof(vmux_ratelimit_opts),
         .algorithm = VMUX_RATELIMIT_GCRA,
         .limit = 2000,
         .period_ms = 1},
        {.size = sizeof(vmux_ratelimit_opts),
         .algorithm = VMUX_RATELIMIT_GCRA,
         .limit = 1001,
         .period_ms = 1},
    };
    /* each named with its rule (review helper-235 F4: "invalid argument" alone before) */
    static const char *const words[] = {
        "opts->limit 0 out of range 1 .. 2^40",
        "opts->period_ms 0 out of range 1 .. 2^40",
        "opts->limit -1 out of range 1 .. 2^40",
        "opts->period_ms 1099511627777 out of range 1 .. 2^40",
        "opts->algorithm 7 is none of VMUX_RATELIMIT_FIXED_WINDOW, VMUX_RATELIMIT_SLIDING_WINDOW "
        "and VMUX_RATELIMIT_GCRA",
        "opts->on_error 9 is neither VMUX_RATELIMIT_FAIL_OPEN nor VMUX_RATELIMIT_FAIL_CLOSED",
        "opts->burst -1 out of range 1 .. 2^40",
        "GCRA: limit 3000 per period_ms 1 is faster than one unit a microsecond (limit <= "
        "period_ms * 1000)",
        "GCRA: limit 2000 per period_ms 1",
        "GCRA: limit 1001 per period_ms 1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(vmux_ratelimit_new(m, &bad[i], &rl), VMUX_ERR_INVALID_ARG);
        if (strncmp(vmux_last_error(), "invalid argument: ", 18) != 0 ||
            strncmp(vmux_last_error() + 18, words[i], strlen(words[i])) != 0)
            fail_msg("opts %zu: '%s', not 'invalid argument: %s'", i, vmux_last_error(), words[i]);
    }
    vmux_ratelimit_opts neg =
        VMUX_INIT(vmux_ratelimit_opts, .limit = 10, .period_ms = 1000, .timeout_ms = -1);
    assert_int_equal(vmux_ratelimit_new(m, &neg, &rl), VMUX_ERR_INVALID_ARG);
    assert_string_equal(
        vmux_last_error(),
        "invalid argument: opts->timeout_ms -1 is negative (0: the handle's syncTimeout)");
    assert_int_equal(vmux_ratelimit_new(m, NULL, &rl), VMUX_ERR_INVALID_ARG);
    assert_string_equal(vmux_last_error(),
                        "invalid argument: opts (limit and period_ms are required) is NULL");
    /* one unit per microsecond exactly is the fastest rate */
    vmux_ratelimit_opts fastest = VMUX_INIT(vmux_ratelimit_opts, .algorithm = VMUX_RATELIMIT_GCRA,
                                            .limit = 1000, .period_ms = 1);
    assert_int_equal(vmux_ratelimit_new(m, &fastest, &rl), 0);
    vmux_ratelimit_free(rl);
    assert_int_equal(vmux_ratelimit_new(m, &o, &rl), 0);
    vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
    assert_int_equal(vmux_ratelimit_check(rl, S("k"), -1, &r), VMUX_ERR_INVALID_ARG);
    assert_string_equal(vmux_last_error(), "invalid argument: cost -1 out of range 0 .. 2^40");
    /* a NULL result is dropped; a result not made with VMUX_INIT is refused */
    assert_int_equal(vmux_ratelimit_check(rl, S("k"), 1, NULL), 0);
    assert_string_equal(vmux_last_error(), "");
    vmux_ratelimit_result unsized = {0};
    assert_int_equal(vmux_ratelimit_check(rl, S("k"), 1, &unsized), VMUX_ERR_INVALID_ARG);
    assert_string_equal(vmux_last_error(), "invalid argument: out->size 0 below sizeof(size_t)");
    assert_int_equal(vmux_ratelimit_check(rl, VMUX_STRN(NULL, 3), 1, &r), VMUX_ERR_INVALID_ARG);
    assert_string_equal(vmux_last_error(), "invalid argument: key.ptr NULL with key.len 3");
    assert_int_equal(vmux_ratelimit_check(NULL, S("k"), 1, &r), VMUX_ERR_INVALID_ARG);
    assert_string_equal(vmux_last_error(), "invalid argument: rl is NULL");
    /* vmux_ratelimit_new() leaves its own words too, "" on success: it once left the last
     * call's "rl is NULL" (review 182 L5) */
    vmux_ratelimit *other = NULL;
    assert_int_equal(vmux_ratelimit_new(m, &bad[0], &other), VMUX_ERR_INVALID_ARG);
    assert_string_equal(vmux_last_error(),
                        "invalid argument: opts->limit 0 out of range 1 .. 2^40");
    assert_int_equal(vmux_ratelimit_check(NULL, S("k"), 1, &r), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_ratelimit_new(m, &fastest, &other), 0);
    assert_string_equal(vmux_last_error(), "");
    vmux_ratelimit_free(other);
    assert_int_equal(vmux_ratelimit_errors(rl), 3);
    int e = 0;
    assert_false(vmux_ratelimit_allow(NULL, S("k"), 1, &r, &e));
    assert_int_equal(e, VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_ratelimit_errors(NULL), 0);
    /* a refused argument is never let through, fail-open (rl's default) or not: a cost out of
     * range, a key at NULL (review helper-271: allowed before) */
    const int64_t costs[] = {-1, (INT64_C(1) << 40) + 1};
    for (size_t i = 0; i < sizeof costs / sizeof costs[0]; i++) {
        e = 0;
        if (vmux_ratelimit_allow(rl, S("k"), costs[i], &r, &e))
            fail_msg("cost %lld refused (%s) but let through", (long long)costs[i],
                     vmux_err_name(e));
        assert_int_equal(e, VMUX_ERR_INVALID_ARG);
        assert_false(r.allowed);
    }
    e = 0;
    assert_false(vmux_ratelimit_allow(rl, VMUX_STRN(NULL, 3), 1, &r, &e));
    assert_int_equal(e, VMUX_ERR_INVALID_ARG);
    vmux_ratelimit_free(rl);
    vmux_ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_window_exact_under_16_threads),
        cmocka_unit_test(test_fixed_window_exact_across_windows),
        cmocka_unit_test(test_gcra_burst_then_rate),
        cmocka_unit_test(test_gcra_costs),
        cmocka_unit_test(test_gcra_idle_refills_to_burst_only),
        cmocka_unit_test(test_retry_after_fixed),
        cmocka_unit_test(test_retry_after_sliding),
        cmocka_unit_test(test_retry_after_gcra),
        cmocka_unit_test(test_sliding_window_semantics),
        cmocka_unit_test(test_sliding_window_large_cost),
        cmocka_unit_test(test_cost_above_limit_spends_nothing),
        cmocka_unit_test(test_sliding_huge_costs),
        cmocka_unit_test(test_sliding_matches_model),
        cmocka_unit_test(test_sliding_rebase),
        cmocka_unit_test(test_sliding_old_format_upgraded),
        cmocka_unit_test(test_keys_prefixed_with_expiry),
        cmocka_unit_test(test_default_prefix),
        cmocka_unit_test(test_wrong_type_is_a_server_error),
        cmocka_unit_test(test_fail_open_and_closed_when_unreachable),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

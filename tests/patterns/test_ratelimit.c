/*
 * Rate limiting (ratelimit.h) against the real server: the fixed window exact under 16 threads
 * (16 x 1,000 checks, limit 100, one window: exactly 100 allowed), also in three windows in a
 * row, each opened by 16 threads at once; GCRA allows its burst at once and then its rate,
 * within one request, over a span measured with the server's clock; requests of cost > 1; an
 * idle GCRA key refills to its burst, not beyond; a request made after waiting retry_after_ms
 * is allowed, for each algorithm; the sliding window frees units as each leaves the window, not
 * all at once; a cost above the limit is refused with no retry time and spends nothing; keys
 * carry the limiter's prefix and always an expiry; reset; a key of another type; fail-open and
 * fail-closed against a handle whose server is unreachable; bad arguments. Keys start with
 * "patrl:". Tests whose outcome depends on time use periods long enough that a stalled moment
 * of the machine cannot change it, and wait for time to pass on the server's clock (TIME), the
 * one the limiter reads, never with a local sleep.
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
    assert_string_equal(card, "1200");
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
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vmux_ratelimit_new(m, &bad[i], &rl), VMUX_ERR_INVALID_ARG);
    /* one unit per microsecond exactly is the fastest rate */
    vmux_ratelimit_opts fastest = VMUX_INIT(vmux_ratelimit_opts, .algorithm = VMUX_RATELIMIT_GCRA,
                                            .limit = 1000, .period_ms = 1);
    assert_int_equal(vmux_ratelimit_new(m, &fastest, &rl), 0);
    vmux_ratelimit_free(rl);
    assert_int_equal(vmux_ratelimit_new(m, &o, &rl), 0);
    vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
    assert_int_equal(vmux_ratelimit_check(rl, S("k"), -1, &r), VMUX_ERR_INVALID_ARG);
    /* a NULL result is dropped; a result not made with VMUX_INIT is refused */
    assert_int_equal(vmux_ratelimit_check(rl, S("k"), 1, NULL), 0);
    vmux_ratelimit_result unsized = {0};
    assert_int_equal(vmux_ratelimit_check(rl, S("k"), 1, &unsized), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_ratelimit_check(rl, VMUX_STRN(NULL, 3), 1, &r), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_ratelimit_check(NULL, S("k"), 1, &r), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_ratelimit_errors(rl), 3);
    int e = 0;
    assert_false(vmux_ratelimit_allow(NULL, S("k"), 1, &r, &e));
    assert_int_equal(e, VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_ratelimit_errors(NULL), 0);
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
        cmocka_unit_test(test_keys_prefixed_with_expiry),
        cmocka_unit_test(test_default_prefix),
        cmocka_unit_test(test_wrong_type_is_a_server_error),
        cmocka_unit_test(test_fail_open_and_closed_when_unreachable),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

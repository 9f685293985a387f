/*
 * A route that silently drops everything, and a slow one, through the fault proxy.
 *
 * Blackhole: 16 threads submit through the proxy (syncTimeout=500, connectTimeout=1000) when
 * it starts to swallow every byte without closing anything. No call may outlive its deadline
 * by more than a liveness guard, nor time out before it; the link is declared dead
 * (connect_failures and FAILED events grow, and attempts through the blackhole fail on
 * connectTimeout); once the proxy passes traffic again, commands succeed by themselves.
 *
 * Delay: each byte takes 300 ms each way. A call with a 100 ms deadline times out; its reply,
 * arriving later, is dropped and never handed to the next caller, whose call with a long
 * deadline gets exactly its own value.
 *
 * Throttled (the link's dead-link rule): a large upload whose server keeps taking it in is no
 * dead link; a stopped server whose kernel keeps taking in the commands behind the first one is.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "faultproxy.h"
#include "resil.h"
#include "servers.h"
#include "testutil.h"

enum { NTHREADS = RT_LOAD_THREADS, EACH = 30, TIMEOUT_MS = 500 };
enum { DELAY_MS = 300, SHORT_MS = 100, LONG_MS = 10000, DELAY_ROUNDS = 5 };

static const char *const OPTS = "syncTimeout=500,connectTimeout=1000,reconnectMin=50,"
                                "reconnectMax=500,backlogSize=100000";

/*
 * A call of deadline timeout_ms that returns later than this was not ended by its deadline: a
 * liveness guard (10 x the deadline, at least 5 s), not a speed claim, that a loaded machine
 * cannot trip. What is exact is the other side: a TIMEOUT never comes before the deadline.
 */
static uint64_t liveness_ms(uint64_t timeout_ms)
{
    return 10 * timeout_ms > 5000 ? 10 * timeout_ms : 5000;
}

static void check_took(rt_ledger *l, const char *what, int rc, uint64_t took, uint64_t timeout_ms)
{
    if (took > liveness_ms(timeout_ms))
        rt_ledger_bad(l, "%s returned after %llu ms (deadline %llu ms)", what,
                      (unsigned long long)took, (unsigned long long)timeout_ms);
    if (rc == VMUX_ERR_TIMEOUT && took < timeout_ms)
        rt_ledger_bad(l, "%s timed out after %llu ms (deadline %llu ms)", what,
                      (unsigned long long)took, (unsigned long long)timeout_ms);
}

static int setup(void **state)
{
    *state = rt_proxied_start(OPTS);
    return *state != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    rt_proxied_stop(*state);
    return 0;
}

/* ---- blackhole ---- */

static void note_took(rt_load *ld, rt_ledger *l, const char *what, int rc, uint64_t took)
{
    unsigned long prev = atomic_load(&ld->max_took);
    while (took > prev && !atomic_compare_exchange_weak(&ld->max_took, &prev, took)) {
    }
    check_took(l, what, rc, took, TIMEOUT_MS);
}

static void one_call(rt_worker *w, bool get, const char *key)
{
    rt_load *ld = w->load;
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    rt_ledger *l = get ? &ld->get : &ld->incr;
    vmux_reply *r = NULL;
    uint64_t t0 = vt_now_ms();
    int rc = vmux_call(ld->f->m, get ? &safe : NULL, 2, (const char *[]){get ? "GET" : "INCR", key},
                       NULL, &r);
    note_took(ld, l, get ? "a GET" : "an INCR", rc, vt_now_ms() - t0);
    rt_ledger_add(&ld->all, rc);
    rt_ledger_add(l, rc);
    vmux_reply_kind want = get ? VMUX_REPLY_STRING : VMUX_REPLY_INTEGER;
    if (rc == 0 && vmux_reply_get_kind(r) != want && vmux_reply_get_kind(r) != VMUX_REPLY_NIL)
        rt_ledger_bad(l, "a reply of type %s", vmux_reply_kind_name(vmux_reply_get_kind(r)));
    if (!get && rc == 0) {
        atomic_fetch_add(&ld->ok[w->id], 1);
        atomic_fetch_add(&ld->incr_ok, 1);
    } else if (!get && (rc == VMUX_ERR_CONNECTION_LOST || rc == VMUX_ERR_TIMEOUT)) {
        atomic_fetch_add(&ld->unknown[w->id], 1);
    }
    vmux_reply_free(r);
}

/* A load thread's round: an INCR, then a GET (retry-safe), recording the longest call. */
static void incr_then_get(rt_worker *w, const char *key)
{
    one_call(w, false, key);
    one_call(w, true, key);
}

/* Runs while the workers do: failures are recorded in soft, and the step stops at the first. */
static void blackhole_then_pass(rt_proxied *f, rt_load *ld, rt_soft *soft)
{
    vmux_stats before = rt_stats(f->m);
    unsigned long failed = atomic_load(&f->ev.failed);
    vt_proxy_set_mode(f->proxy, VT_PROXY_BLACKHOLE, 0);
    /* Calls time out on their deadlines; the live link is judged dead; then at least one
     * attempt through the blackhole fails on connectTimeout. */
    if (!rt_soft_check(soft,
                       rt_wait_stat(f->m, RT_STAT(timed_out), before.timed_out + NTHREADS, 20000),
                       "calls did not time out within 20 s of the blackhole") ||
        !rt_soft_check(
            soft, rt_wait_stat(f->m, RT_STAT(connect_failures), before.connect_failures + 2, 20000),
            "the blackholed link was not declared dead and retried within 20 s") ||
        !rt_soft_check(
            soft, rt_wait_count(&f->ev.failed, failed + 2, 5000),
            "%lu FAILED events for %llu connection failures", atomic_load(&f->ev.failed) - failed,
            (unsigned long long)(rt_stats(f->m).connect_failures - before.connect_failures)) ||
        !rt_soft_check(soft, rt_stats(f->m).connects == before.connects,
                       "a connection became ready through the blackhole"))
        return;

    unsigned long ok = atomic_load(&ld->incr_ok);
    vt_proxy_set_mode(f->proxy, VT_PROXY_PASS, 0);
    if (!rt_soft_check(soft, rt_wait_stat(f->m, RT_STAT(connects), before.connects + 1, 15000),
                       "no new connection within 15 s of the route coming back"))
        return;
    rt_soft_check(soft, rt_wait_count(&ld->incr_ok, ok + NTHREADS * EACH, 30000),
                  "the handle did not serve again within 30 s of the route coming back");
}

static void check_load(rt_proxied *f, rt_load *ld)
{
    rt_ledger_print(&ld->incr, "INCR (not retry-safe)");
    rt_ledger_print(&ld->get, "GET (retry-safe)");
    printf("longest call: %lu ms\n", atomic_load(&ld->max_took));
    static const int incr_ok[] = {0, VMUX_ERR_TIMEOUT, VMUX_ERR_CONNECTION_LOST,
                                  VMUX_ERR_NOT_CONNECTED, VMUX_ERR_BACKLOG_FULL};
    static const int get_ok[] = {0, VMUX_ERR_TIMEOUT, VMUX_ERR_NOT_CONNECTED,
                                 VMUX_ERR_BACKLOG_FULL};
    rt_ledger_expect(&ld->incr, incr_ok, 5);
    rt_ledger_expect(&ld->get, get_ok, 4);
    rt_stats_match_ledger(f->m, &ld->all);
    rt_load_check_counts(ld);
}

static void test_blackhole(void **state)
{
    rt_proxied *f = *state;
    rt_load *ld = rt_load_new(f, "blackhole", incr_then_get);
    rt_load_run(ld, NTHREADS * EACH, blackhole_then_pass);
    check_load(f, ld);
    free(ld);
}

/* ---- delay ---- */

struct delay_worker {
    rt_proxied *f;
    char prefix[64];
    int id;
    rt_ledger *quick, *slow;
    pthread_t thread;
};

static void *delay_main(void *arg)
{
    struct delay_worker *w = arg;
    char k1[96], k2[96], want[96];
    snprintf(k1, sizeof(k1), "%s:t%d:a", w->prefix, w->id);
    snprintf(k2, sizeof(k2), "%s:t%d:b", w->prefix, w->id);
    snprintf(want, sizeof(want), "value-b-%d", w->id);
    for (int i = 0; i < DELAY_ROUNDS; i++) {
        vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = SHORT_MS),
                      slow = VMUX_INIT(vmux_callopts, .timeout_ms = LONG_MS);
        vmux_reply *r = NULL;
        uint64_t t0 = vt_now_ms();
        int rc = vmux_call(w->f->m, &quick, 2, (const char *[]){"GET", k1}, NULL, &r);
        uint64_t took = vt_now_ms() - t0;
        rt_ledger_add(w->quick, rc);
        check_took(w->quick, "a quick call", rc, took, SHORT_MS);
        vmux_reply_free(r);
        t0 = vt_now_ms();
        rc = vmux_call(w->f->m, &slow, 2, (const char *[]){"GET", k2}, NULL, &r);
        took = vt_now_ms() - t0;
        rt_ledger_add(w->slow, rc);
        if (rc == 0 && (vmux_reply_get_kind(r) != VMUX_REPLY_STRING ||
                        strcmp(vmux_reply_str(r, NULL), want) != 0))
            rt_ledger_bad(w->slow, "thread %d got '%s', not its own '%s'", w->id,
                          vmux_reply_str(r, NULL) ? vmux_reply_str(r, NULL) : "(not a string)",
                          want);
        if (rc == 0 && took < 2 * DELAY_MS)
            rt_ledger_bad(w->slow, "a reply came after %llu ms through a %d ms delay each way",
                          (unsigned long long)took, DELAY_MS);
        vmux_reply_free(r);
    }
    return NULL;
}

static void test_delay_late_replies_dropped(void **state)
{
    rt_proxied *f = *state;
    rt_ledger *quick = calloc(1, sizeof(*quick)), *slow = calloc(1, sizeof(*slow));
    assert_true(quick != NULL && slow != NULL);
    struct delay_worker w[NTHREADS];
    char prefix[64];
    rt_unique(prefix, sizeof(prefix), "delay");
    for (int i = 0; i < NTHREADS; i++) {
        free(rt_admin(f->server.port, "SET %s:t%d:a value-a-%d", prefix, i, i));
        free(rt_admin(f->server.port, "SET %s:t%d:b value-b-%d", prefix, i, i));
    }
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_DELAY, DELAY_MS), 0);
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct delay_worker){.f = f, .id = i, .quick = quick, .slow = slow};
        snprintf(w[i].prefix, sizeof(w[i].prefix), "%s", prefix);
        assert_int_equal(pthread_create(&w[i].thread, NULL, delay_main, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(w[i].thread, NULL);
    rt_ledger_print(quick, "GET, 100 ms deadline");
    rt_ledger_print(slow, "GET, 10 s deadline");
    static const int timeout_only[] = {VMUX_ERR_TIMEOUT}, ok_only[] = {0};
    rt_ledger_expect(quick, timeout_only, 1);
    rt_ledger_expect(slow, ok_only, 1);
    assert_int_equal(rt_ledger_total(slow), NTHREADS * DELAY_ROUNDS);
    assert_int_equal(rt_stats(f->m).connects, 1); /* slow is not dead */
    free(quick);
    free(slow);
}

/* ---- a slow upload ---- */

struct done {
    atomic_int status;
    atomic_bool done;
};

static void on_done(int status, vmux_reply *reply, void *userdata)
{
    struct done *d = userdata;
    vmux_reply_free(reply);
    atomic_store(&d->status, status);
    atomic_store(&d->done, true);
}

static bool is_done(void *arg)
{
    return atomic_load(&((struct done *)arg)->done);
}

struct reconnect_watch {
    rt_proxied *f;
    uint64_t connects;
};

static bool reconnected(void *arg)
{
    struct reconnect_watch *w = arg;
    return rt_stats(w->f->m).connects != w->connects;
}

/* Throttles the link toward f's server to rate_kib KiB/s, then PINGs through it. */
static void throttle(rt_proxied *f, unsigned rate_kib)
{
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_THROTTLE, rate_kib), 0);
    vt_proxy_cut(f->proxy); /* reconnect through a throttled connection */
    /* retry-safe: written before the handle saw the cut, it is resent on the new connection */
    vmux_callopts ping_opts =
        VMUX_INIT(vmux_callopts, .timeout_ms = 10000, .flags = VMUX_CALL_RETRY_SAFE);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(f->m, &ping_opts, 1, (const char *[]){"PING"}, NULL, &r), 0);
    vmux_reply_free(r);
}

/*
 * A link that takes 1 MiB a second: a 4 MiB SET with a 1 s deadline times out while its bytes
 * still go out, and an INCR queued behind it with a 10 s deadline waits for them (at least 2 s:
 * the physics of the link, which shows the case was built). The connection owes replies for
 * longer than its dead-link rule's 2 s without a byte read, yet the server takes in what it was
 * sent all along: no dead link, the INCR answered (probe 48: the link was judged dead after 2 s,
 * and the commands behind the upload lost).
 */
static void test_slow_upload_is_no_dead_link(void **state)
{
    enum { RATE_KIB = 1024, BIG = 4 << 20 };
    rt_proxied *f = *state;
    char key[64], counter[64];
    rt_unique(key, sizeof(key), "upload:big");
    rt_unique(counter, sizeof(counter), "upload:ctr");
    throttle(f, RATE_KIB);
    vmux_callopts patient = VMUX_INIT(vmux_callopts, .timeout_ms = 10000);
    vmux_reply *r = NULL;
    vmux_stats before = rt_stats(f->m);

    char *value = malloc(BIG);
    assert_non_null(value);
    memset(value, 'u', BIG);
    struct done set = {0};
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 1000);
    assert_int_equal(vmux_call_async(f->m, &quick, 3, (const char *[]){"SET", key, value},
                                     (const size_t[]){3, strlen(key), BIG}, on_done, &set),
                     0);
    free(value);
    uint64_t t0 = vt_now_ms();
    int rc = vmux_call(f->m, &patient, 2, (const char *[]){"INCR", counter}, NULL, &r);
    uint64_t took = vt_now_ms() - t0;
    assert_true(vt_wait_until(is_done, &set, 10000));
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_PASS, 0), 0);
    vmux_stats after = rt_stats(f->m);
    printf("4 MiB at %d KiB/s: SET %s; INCR %s after %llu ms; connects %llu -> %llu\n", RATE_KIB,
           vmux_err_name(atomic_load(&set.status)), vmux_err_name(rc), (unsigned long long)took,
           (unsigned long long)before.connects, (unsigned long long)after.connects);
    assert_int_equal(atomic_load(&set.status), VMUX_ERR_TIMEOUT);
    assert_int_equal(rc, 0);
    assert_int_equal(vmux_reply_integer(r), 1);
    assert_true(took >= 2000); /* it waited behind the upload */
    vmux_reply_free(r);
    assert_int_equal(after.connects, before.connects);
    assert_int_equal(after.connection_lost, before.connection_lost);
    /* owing nothing now, the connection stays up while idle for longer than the rule's 2 s and a
     * tick (a first cut of the change took the upload's last progress for a wait, and cut the idle
     * link) */
    struct reconnect_watch w = {f, after.connects};
    assert_false(vt_wait_until(reconnected, &w, 5000));
}

/*
 * The same slow link, with its server stopped (SIGSTOP): its kernel still takes in what the
 * proxy relays, so a backlog of SETs written at once (1 MiB, each with a 1 s deadline) keeps
 * leaving the client at the link's pace for 16 s, while nothing is ever answered. The first SET
 * left whole at once, and from then on only its reply counts: the dead link is found within the
 * threshold (2 s) and a tick; 10 s is a margin for a loaded machine. Before, each tick found
 * fewer bytes undelivered than the last, took that for progress, and found no dead link while
 * the backlog drained (helper-236: a node stopped for 14 s, 1,000 SETs a second to it, kept its
 * link in two runs of four).
 */
static void test_stopped_server_taking_in_is_dead_link(void **state)
{
    enum { RATE_KIB = 64, VALUE = 4096, SETS = 256, DEADLINE_MS = 10000 };
    rt_proxied *f = *state;
    char key[64];
    rt_unique(key, sizeof(key), "stopped:flow");
    throttle(f, RATE_KIB);
    unsigned long failed = atomic_load(&f->ev.failed);

    static char value[VALUE];
    memset(value, 's', sizeof(value));
    static struct done sets[SETS];
    memset(sets, 0, sizeof(sets));
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 1000);
    assert_int_equal(kill(f->server.pid, SIGSTOP), 0);
    uint64_t t0 = vt_now_ms();
    for (int i = 0; i < SETS; i++)
        assert_int_equal(vmux_call_async(f->m, &quick, 3, (const char *[]){"SET", key, value},
                                         (const size_t[]){3, strlen(key), VALUE}, on_done,
                                         &sets[i]),
                         0);
    bool dead = rt_wait_count(&f->ev.failed, failed + 1, DEADLINE_MS);
    uint64_t took = vt_now_ms() - t0;
    assert_int_equal(kill(f->server.pid, SIGCONT), 0);
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_PASS, 0), 0);
    printf("%d KiB to a stopped server at %d KiB/s: %s after %llu ms\n", SETS * VALUE / 1024,
           RATE_KIB, dead ? "dead link" : "no dead link", (unsigned long long)took);
    if (!dead)
        fail_msg("no dead link within %d ms while the stopped server's kernel took in SETs",
                 DEADLINE_MS);
    for (int i = 0; i < SETS; i++) /* each completes once: on its deadline, before the link died */
        assert_true(vt_wait_until(is_done, &sets[i], 10000));
    vmux_reply *r = NULL; /* and the handle serves again, on a new connection */
    vmux_callopts patient = VMUX_INIT(vmux_callopts, .timeout_ms = 10000);
    assert_int_equal(vmux_call(f->m, &patient, 1, (const char *[]){"PING"}, NULL, &r), 0);
    vmux_reply_free(r);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    vt_filter_tests(); /* VT_ONLY, VT_SKIP */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blackhole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delay_late_replies_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_upload_is_no_dead_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stopped_server_taking_in_is_dead_link, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

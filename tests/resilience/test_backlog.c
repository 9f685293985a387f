/*
 * The first connection and the backlog (DESIGN §2 rule 2, §3), with no server listening yet:
 * - abortConnect=false: vmux_open returns a handle at once; commands from 16 threads wait in
 *   the backlog across failed attempts and run, in each thread's order, once the server starts;
 * - abortConnect=true: vmux_open fails with VMUX_ERR_CONNECT and the reason after exactly
 *   connectRetry attempts, with a backoff between them;
 * - backlogSize=5: the commands beyond the fifth fail at once with VMUX_ERR_BACKLOG_FULL, and
 *   the five waiting complete, exactly once each, with VMUX_ERR_CLOSED when the handle closes;
 * - backlogPolicy=failFast: every command fails at once with VMUX_ERR_NOT_CONNECTED, and once a
 *   server comes up the handle connects by itself and serves.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resil.h"
#include "servers.h"
#include "testutil.h"

enum { NTHREADS = 16, PER_THREAD = 5, LONG_MS = 30000 };

/* A port where nothing listens: a server's, stopped. */
static int free_port(void)
{
    vt_server s;
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    int port = s.port;
    vt_server_stop(&s);
    return port;
}

/* ---- abortConnect=false: commands wait for the server ---- */

struct waiter {
    vmux *m;
    int id;
    char key[64];
    rt_ledger *ledger;
    atomic_ulong completions;
    long long seen[PER_THREAD]; /* INCR replies in completion order; -1 for an error */
    int get_rc;
    char got[32];
    pthread_t thread;
};

static void on_incr(int status, vmux_reply *reply, void *userdata)
{
    struct waiter *w = userdata;
    rt_ledger_add(w->ledger, status);
    unsigned long n = atomic_load(&w->completions);
    if (n < PER_THREAD)
        w->seen[n] = status == 0 && vmux_reply_get_kind(reply) == VMUX_REPLY_INTEGER
                         ? (long long)vmux_reply_integer(reply)
                         : -1;
    vmux_reply_free(reply);
    atomic_fetch_add(&w->completions, 1); /* publishes seen[n] */
}

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        int rc = vmux_call_async(w->m, NULL, 2, (const char *[]){"INCR", w->key}, NULL, on_incr, w);
        if (rc != 0)
            rt_ledger_bad(w->ledger, "vmux_call_async: %s", vmux_err_name(rc));
    }
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    vmux_reply *r = NULL;
    w->get_rc = vmux_call(w->m, &safe, 2, (const char *[]){"GET", w->key}, NULL, &r);
    rt_ledger_add(w->ledger, w->get_rc);
    if (w->get_rc == 0 && vmux_reply_get_kind(r) == VMUX_REPLY_STRING)
        snprintf(w->got, sizeof(w->got), "%s", vmux_reply_str(r, NULL));
    vmux_reply_free(r);
    return NULL;
}

/* Runs while the waiters do; the server is restarted afterwards whatever happens. */
static void check_waiting(vmux *m, rt_soft *soft)
{
    const uint64_t total = NTHREADS * (PER_THREAD + 1);
    if (!rt_soft_check(soft, rt_wait_stat(m, RT_STAT(submitted), total, 10000),
                       "not all commands were submitted within 10 s"))
        return;
    /* Two more failed attempts after the last submission: they stayed in the backlog. */
    uint64_t failures = rt_stats(m).connect_failures;
    if (!rt_soft_check(soft, rt_wait_stat(m, RT_STAT(connect_failures), failures + 2, 10000),
                       "no connection attempts within 10 s"))
        return;
    vmux_stats s = rt_stats(m);
    rt_soft_check(soft, s.replied + s.timed_out + s.failed_other + s.connection_lost == 0,
                  "commands completed while no server was listening");
    rt_soft_check(soft, s.backlog == total, "backlog %llu, expected %llu",
                  (unsigned long long)s.backlog, (unsigned long long)total);
}

static void test_backlog_waits_for_server(void **state)
{
    (void)state;
    vt_server s;
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    vt_server_kill(&s); /* keeps the port for the restart */
    char *conf = vt_server_conf(&s, "abortConnect=false,syncTimeout=30000,asyncTimeout=30000,"
                                    "reconnectMin=20,reconnectMax=200");
    rt_events ev = {0};
    vmux *m = rt_open_events(conf, &ev);
    free(conf);
    rt_ledger *ledger = calloc(1, sizeof(*ledger));
    struct waiter *w = calloc(NTHREADS, sizeof(*w));
    assert_true(ledger != NULL && w != NULL);
    char prefix[48];
    rt_unique(prefix, sizeof(prefix), "backlog");
    for (int i = 0; i < NTHREADS; i++) {
        w[i].m = m;
        w[i].id = i;
        w[i].ledger = ledger;
        snprintf(w[i].key, sizeof(w[i].key), "%s:t%d", prefix, i);
        assert_int_equal(pthread_create(&w[i].thread, NULL, waiter_main, &w[i]), 0);
    }
    rt_soft soft = {""};
    check_waiting(m, &soft);
    rt_soft_check(&soft, vt_server_restart(&s) == 0, "the server did not start");
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(w[i].thread, NULL);
    for (int i = 0; i < NTHREADS; i++)
        rt_soft_check(&soft, rt_wait_count(&w[i].completions, PER_THREAD, 10000),
                      "thread %d: async INCRs did not complete", i);
    rt_soft_finish(&soft);

    rt_ledger_print(ledger, "all");
    static const int ok_only[] = {0};
    rt_ledger_expect(ledger, ok_only, 1);
    for (int i = 0; i < NTHREADS; i++) {
        for (int k = 0; k < PER_THREAD; k++)
            if (w[i].seen[k] != k + 1)
                fail_msg("thread %d: INCR %d replied %lld: the backlog lost the order", i, k,
                         w[i].seen[k]);
        assert_string_equal(w[i].got, "5");
    }
    rt_stats_match_ledger(m, ledger);
    assert_int_equal(rt_stats(m).connects, 1);
    assert_true(rt_wait_count(&ev.restored, 1, 5000));
    vmux_close(m);
    free(w);
    free(ledger);
    vt_server_stop(&s);
}

/* ---- abortConnect=true: vmux_open gives up after connectRetry attempts ---- */

struct log_count {
    atomic_ulong failures;
};

static void count_log(vmux_log_level level, const char *message, void *userdata)
{
    struct log_count *lc = userdata;
    if (level >= VMUX_LOG_WARN && strstr(message, "connection failed") != NULL)
        atomic_fetch_add(&lc->failures, 1);
}

static void test_abort_connect_fails_after_retries(void **state)
{
    (void)state;
    enum { BACKOFF_MS = 300 };
    int port = free_port();
    char conf[256], err[256] = "", where[32];
    snprintf(conf, sizeof(conf),
             "127.0.0.1:%d,abortConnect=true,connectRetry=2,connectTimeout=1000,"
             "reconnectMin=%d,reconnectMax=%d",
             port, BACKOFF_MS, BACKOFF_MS);
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_parse(conf, &cfg, NULL, 0), 0);
    rt_events ev = {0};
    struct log_count lc = {0};
    vmux_config_set_event_handler(cfg, rt_on_event, &ev);
    vmux_config_set_log(cfg, count_log, VMUX_LOG_DEBUG, &lc);

    vmux *m = (vmux *)&lc; /* must be set to NULL on failure */
    uint64_t t0 = vt_now_ms();
    int rc = vmux_open(cfg, &m, err, sizeof(err));
    uint64_t took = vt_now_ms() - t0;
    vmux_config_free(cfg);
    printf("vmux_open: %s after %llu ms: %s\n", vmux_err_name(rc), (unsigned long long)took, err);
    assert_int_equal(rc, VMUX_ERR_CONNECT);
    assert_null(m);
    snprintf(where, sizeof(where), "127.0.0.1:%d", port);
    assert_non_null(strstr(err, where));
    assert_non_null(strstr(err, "connect"));
    assert_int_equal(atomic_load(&ev.failed), 2);
    assert_int_equal(atomic_load(&lc.failures), 2);
    assert_int_equal(atomic_load(&ev.restored), 0);
    assert_true(took >= BACKOFF_MS); /* a backoff separated the two attempts */
}

/* ---- backlogSize=5 ---- */

struct full_op {
    rt_ledger *ledger;
    atomic_int calls;
};

static void on_full(int status, vmux_reply *reply, void *userdata)
{
    struct full_op *op = userdata;
    rt_ledger_add(op->ledger, status);
    vmux_reply_free(reply);
    atomic_fetch_add(&op->calls, 1);
}

struct submitter {
    vmux *m;
    struct full_op *ops; /* two per thread */
    pthread_t thread;
};

static void *submitter_main(void *arg)
{
    struct submitter *s = arg;
    for (int i = 0; i < 2; i++) {
        int rc =
            vmux_call_async(s->m, NULL, 1, (const char *[]){"PING"}, NULL, on_full, &s->ops[i]);
        if (rc != 0)
            rt_ledger_bad(s->ops[i].ledger, "vmux_call_async: %s", vmux_err_name(rc));
    }
    return NULL;
}

static void test_backlog_full(void **state)
{
    (void)state;
    enum { SIZE = 5, TOTAL = 2 * NTHREADS };
    char conf[256];
    snprintf(conf, sizeof(conf),
             "127.0.0.1:%d,abortConnect=false,backlogSize=%d,asyncTimeout=30000,"
             "reconnectMin=20,reconnectMax=100",
             free_port(), SIZE);
    vmux *m = rt_open(conf);
    rt_ledger *ledger = calloc(1, sizeof(*ledger));
    struct full_op *ops = calloc(TOTAL, sizeof(*ops));
    assert_true(ledger != NULL && ops != NULL);
    struct submitter s[NTHREADS];
    for (int i = 0; i < TOTAL; i++)
        ops[i].ledger = ledger;
    uint64_t t0 = vt_now_ms();
    for (int i = 0; i < NTHREADS; i++) {
        s[i] = (struct submitter){.m = m, .ops = &ops[2 * i]};
        assert_int_equal(pthread_create(&s[i].thread, NULL, submitter_main, &s[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(s[i].thread, NULL);
    /* The refused ones complete at once: long before the 30 s deadline of the others. */
    bool refused = rt_wait_count(&ledger->n[-VMUX_ERR_BACKLOG_FULL], TOTAL - SIZE, 10000);
    printf("%d refused after %llu ms\n", TOTAL - SIZE, (unsigned long long)(vt_now_ms() - t0));
    assert_true(refused);
    assert_int_equal(rt_ledger_total(ledger), TOTAL - SIZE);
    assert_true(
        rt_wait_stat(m, RT_STAT(connect_failures), rt_stats(m).connect_failures + 1, 10000));
    vmux_stats st = rt_stats(m);
    assert_int_equal(st.backlog, SIZE);
    assert_int_equal(st.submitted, TOTAL);
    assert_int_equal(st.failed_other, TOTAL - SIZE);

    vmux_close(m); /* the five waiting complete now */
    rt_ledger_print(ledger, "all");
    assert_int_equal(rt_ledger_get(ledger, VMUX_ERR_CLOSED), SIZE);
    assert_int_equal(rt_ledger_total(ledger), TOTAL);
    for (int i = 0; i < TOTAL; i++)
        assert_int_equal(atomic_load(&ops[i].calls), 1);
    static const int allowed[] = {VMUX_ERR_BACKLOG_FULL, VMUX_ERR_CLOSED};
    rt_ledger_expect(ledger, allowed, 2);
    free(ops);
    free(ledger);
}

/* ---- failFast ---- */

struct caller {
    vmux *m;
    rt_ledger *ledger;
    pthread_t thread;
};

static void *fail_fast_main(void *arg)
{
    struct caller *c = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        vmux_reply *r = NULL;
        int rc = vmux_call(c->m, NULL, 1, (const char *[]){"PING"}, NULL, &r);
        rt_ledger_add(c->ledger, rc);
        if (rc == VMUX_ERR_NOT_CONNECTED && r != NULL)
            rt_ledger_bad(c->ledger, "a reply came with VMUX_ERR_NOT_CONNECTED");
        vmux_reply_free(r);
    }
    return NULL;
}

static void test_fail_fast(void **state)
{
    (void)state;
    vt_server s;
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    vt_server_kill(&s);
    char *conf = vt_server_conf(&s, "abortConnect=false,backlogPolicy=failFast,"
                                    "syncTimeout=30000,reconnectMin=20,reconnectMax=100");
    vmux *m = rt_open(conf);
    free(conf);
    rt_ledger *ledger = calloc(1, sizeof(*ledger));
    assert_non_null(ledger);
    struct caller c[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        c[i] = (struct caller){.m = m, .ledger = ledger};
        assert_int_equal(pthread_create(&c[i].thread, NULL, fail_fast_main, &c[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(c[i].thread, NULL);
    rt_ledger_print(ledger, "no server, failFast");
    static const int not_connected[] = {VMUX_ERR_NOT_CONNECTED};
    rt_ledger_expect(ledger, not_connected, 1); /* none waited for its 30 s deadline */
    assert_int_equal(rt_ledger_total(ledger), NTHREADS * PER_THREAD);
    rt_stats_match_ledger(m, ledger);

    /* The server comes up: the handle connects in the background and serves. */
    assert_int_equal(vt_server_restart(&s), 0);
    assert_true(rt_wait_stat(m, RT_STAT(connects), 1, 15000));
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 1, (const char *[]){"PING"}, NULL, &r), 0);
    assert_string_equal(vmux_reply_str(r, NULL), "PONG");
    vmux_reply_free(r);
    vmux_close(m);
    free(ledger);
    vt_server_stop(&s);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backlog_waits_for_server),
        cmocka_unit_test(test_abort_connect_fails_after_retries),
        cmocka_unit_test(test_backlog_full),
        cmocka_unit_test(test_fail_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

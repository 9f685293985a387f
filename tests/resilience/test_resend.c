/*
 * Written but unanswered when the connection breaks (DESIGN §2 rule 3). The proxy lets a
 * command reach the server, drops the reply and cuts the connection, so the server has run it
 * and the client never hears back: a command marked retry-safe is sent once more on the next
 * connection and succeeds; a second break fails it with CONNECTION_LOST (it is resent only
 * once); a command not marked fails with CONNECTION_LOST and is never run twice. Then the same
 * under load: 16 threads, the proxy cutting every connection again and again.
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

#include "faultproxy.h"
#include "resil.h"
#include "servers.h"
#include "testutil.h"

/*
 * A call that returns later than LIVENESS_MS (3 x syncTimeout) was not ended by its deadline: a
 * liveness guard, not a speed claim, that a loaded machine cannot trip. A TIMEOUT never comes
 * before the deadline.
 */
enum { NTHREADS = RT_LOAD_THREADS, CUTS = 5, EACH = 50, SYNC_TIMEOUT_MS = 5000 };
enum { LIVENESS_MS = 3 * SYNC_TIMEOUT_MS };

static const char *const OPTS = "syncTimeout=5000,connectTimeout=2000,reconnectMin=20,"
                                "reconnectMax=200,backlogSize=100000";

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

/* How many times the server has run a command (INFO commandstats). */
static long long calls_of(int port, const char *cmd)
{
    char *info = rt_admin(port, "INFO commandstats");
    assert_non_null(info);
    char want[64];
    snprintf(want, sizeof(want), "cmdstat_%s:calls=", cmd);
    const char *at = strstr(info, want);
    long long n = at != NULL ? strtoll(at + strlen(want), NULL, 10) : 0;
    free(info);
    return n;
}

static void test_retry_safe_resent_once(void **state)
{
    rt_proxied *f = *state;
    int port = f->server.port;
    char key[64];
    rt_unique(key, sizeof(key), "resend:get");
    free(rt_admin(port, "SET %s hello", key));
    long long calls = calls_of(port, "get");
    vmux_stats before = rt_stats(f->m);

    vt_proxy_trap_reply(f->proxy, key, 1);
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    vmux_reply *r = NULL;
    int rc = vmux_call(f->m, &safe, 2, (const char *[]){"GET", key}, NULL, &r);
    assert_int_equal(rc, 0);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_STRING);
    assert_string_equal(vmux_reply_str(r, NULL), "hello");
    vmux_reply_free(r);

    vmux_stats after = rt_stats(f->m);
    assert_int_equal(vt_proxy_trap_fired(f->proxy), 1);
    assert_int_equal(after.resent - before.resent, 1);
    assert_int_equal(after.connects - before.connects, 1);
    assert_int_equal(after.connection_lost, before.connection_lost);
    assert_int_equal(calls_of(port, "get"), calls + 2); /* once on each connection */
}

static void test_retry_safe_lost_on_second_break(void **state)
{
    rt_proxied *f = *state;
    int port = f->server.port;
    char key[64];
    rt_unique(key, sizeof(key), "resend:twice");
    free(rt_admin(port, "SET %s hello", key));
    long long calls = calls_of(port, "get");
    unsigned fired = vt_proxy_trap_fired(f->proxy);
    vmux_stats before = rt_stats(f->m);

    vt_proxy_trap_reply(f->proxy, key, 2);
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    vmux_reply *r = NULL;
    int rc = vmux_call(f->m, &safe, 2, (const char *[]){"GET", key}, NULL, &r);
    assert_int_equal(rc, VMUX_ERR_CONNECTION_LOST);
    assert_null(r);

    vmux_stats after = rt_stats(f->m);
    assert_int_equal(vt_proxy_trap_fired(f->proxy) - fired, 2);
    assert_int_equal(after.resent - before.resent, 1);
    assert_int_equal(after.connection_lost - before.connection_lost, 1);
    assert_int_equal(calls_of(port, "get"), calls + 2); /* sent twice, never a third time */
    /* and the handle serves again */
    rc = vmux_call(f->m, &safe, 2, (const char *[]){"GET", key}, NULL, &r);
    assert_int_equal(rc, 0);
    vmux_reply_free(r);
}

static void test_not_retry_safe_never_resent(void **state)
{
    rt_proxied *f = *state;
    int port = f->server.port;
    char key[64];
    rt_unique(key, sizeof(key), "resend:incr");
    unsigned fired = vt_proxy_trap_fired(f->proxy);
    vmux_stats before = rt_stats(f->m);

    vt_proxy_trap_reply(f->proxy, key, 1);
    vmux_reply *r = NULL;
    int rc = vmux_call(f->m, NULL, 2, (const char *[]){"INCR", key}, NULL, &r);
    assert_int_equal(rc, VMUX_ERR_CONNECTION_LOST);
    assert_null(r);
    assert_int_equal(vt_proxy_trap_fired(f->proxy) - fired, 1);
    assert_int_equal(rt_admin_int(port, "GET %s", key), 1); /* it ran, once */

    vmux_stats after = rt_stats(f->m);
    assert_int_equal(after.resent, before.resent);
    assert_int_equal(after.connection_lost - before.connection_lost, 1);
    /* The handle reconnects by itself; the next INCR runs once more. */
    rc = vmux_call(f->m, NULL, 2, (const char *[]){"INCR", key}, NULL, &r);
    assert_int_equal(rc, 0);
    assert_int_equal(vmux_reply_integer(r), 2);
    vmux_reply_free(r);
}

/*
 * Written, cut, and no connection to be had again before its deadline: a retry-safe command
 * times out, and its words say it was sent and may have run, with the reconnection's failure
 * (probe 47: a retry-safe batch timing out in an outage said only "timed out").
 */
static void test_retry_safe_timeout_after_a_break_says_so(void **state)
{
    rt_proxied *f = *state;
    char key[64], err[640] = "";
    rt_unique(key, sizeof(key), "resend:timeout");
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_REFUSE, 0), 0);
    vt_proxy_trap_reply(f->proxy, key, 1);
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE, .timeout_ms = 1000,
                                   .errbuf = err, .errlen = sizeof err);
    vmux_reply *r = NULL;
    int rc = vmux_call(f->m, &safe, 2, (const char *[]){"GET", key}, NULL, &r);
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_PASS, 0), 0);
    printf("GET: %s: %s\n", vmux_err_name(rc), err);
    assert_int_equal(rc, VMUX_ERR_TIMEOUT);
    assert_null(r);
    const char *words = "timed out: it was sent before its connection broke, so it may have run; "
                        "last connection failure: 127.0.0.1:";
    if (strncmp(err, words, strlen(words)) != 0)
        fail_msg("'%s' does not start with '%s'", err, words);
    /* the handle serves again once connections are let through */
    rc = vmux_call(f->m, NULL, 2, (const char *[]){"GET", key}, NULL, &r);
    assert_int_equal(rc, 0);
    vmux_reply_free(r);
}

/* ---- under load ---- */

static void check_took(rt_ledger *l, const char *what, int rc, uint64_t took)
{
    if (took > LIVENESS_MS)
        rt_ledger_bad(l, "%s returned after %llu ms", what, (unsigned long long)took);
    if (rc == VMUX_ERR_TIMEOUT && took < SYNC_TIMEOUT_MS)
        rt_ledger_bad(l, "%s timed out after %llu ms", what, (unsigned long long)took);
}

static void one_get(rt_worker *w, const char *key)
{
    rt_load *ld = w->load;
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    vmux_reply *r = NULL;
    uint64_t t0 = vt_now_ms();
    int rc = vmux_call(ld->f->m, &safe, 2, (const char *[]){"GET", key}, NULL, &r);
    check_took(&ld->get, "a GET", rc, vt_now_ms() - t0);
    rt_ledger_add(&ld->all, rc);
    rt_ledger_add(&ld->get, rc);
    if (rc == 0 && vmux_reply_get_kind(r) != VMUX_REPLY_STRING &&
        vmux_reply_get_kind(r) != VMUX_REPLY_NIL)
        rt_ledger_bad(&ld->get, "GET replied with a %s",
                      vmux_reply_kind_name(vmux_reply_get_kind(r)));
    vmux_reply_free(r);
}

static void one_incr(rt_worker *w, const char *key)
{
    rt_load *ld = w->load;
    vmux_reply *r = NULL;
    uint64_t t0 = vt_now_ms();
    int rc = vmux_call(ld->f->m, NULL, 2, (const char *[]){"INCR", key}, NULL, &r);
    check_took(&ld->incr, "an INCR", rc, vt_now_ms() - t0);
    rt_ledger_add(&ld->all, rc);
    rt_ledger_add(&ld->incr, rc);
    if (rc == 0) {
        if (vmux_reply_get_kind(r) != VMUX_REPLY_INTEGER)
            rt_ledger_bad(&ld->incr, "INCR replied with a %s",
                          vmux_reply_kind_name(vmux_reply_get_kind(r)));
        atomic_fetch_add(&ld->ok[w->id], 1);
        atomic_fetch_add(&ld->incr_ok, 1);
    } else if (rc == VMUX_ERR_CONNECTION_LOST || rc == VMUX_ERR_TIMEOUT) {
        atomic_fetch_add(&ld->unknown[w->id], 1);
    }
    vmux_reply_free(r);
}

/* A load thread's round: a GET (retry-safe), then an INCR. */
static void get_then_incr(rt_worker *w, const char *key)
{
    one_get(w, key);
    one_incr(w, key);
}

/* Runs while the workers do: failures go to soft, and it stops at the first. */
static void cut_repeatedly(rt_proxied *f, rt_load *ld, rt_soft *soft)
{
    for (int i = 0; i < CUTS; i++) {
        vmux_stats before = rt_stats(f->m);
        unsigned long ok = atomic_load(&ld->incr_ok);
        vt_proxy_cut(f->proxy);
        if (!rt_soft_check(soft, rt_wait_stat(f->m, RT_STAT(connects), before.connects + 1, 15000),
                           "cut %d: no new connection within 15 s", i) ||
            !rt_soft_check(soft, rt_wait_count(&ld->incr_ok, ok + NTHREADS * EACH, 30000),
                           "cut %d: the handle did not serve again within 30 s", i))
            return;
    }
}

static void test_cuts_under_load(void **state)
{
    rt_proxied *f = *state;
    rt_load *ld = rt_load_new(f, "resend:load", get_then_incr);
    rt_load_run(ld, NTHREADS * EACH, cut_repeatedly);

    rt_ledger_print(&ld->incr, "INCR (not retry-safe)");
    rt_ledger_print(&ld->get, "GET (retry-safe)");
    static const int incr_ok[] = {0, VMUX_ERR_TIMEOUT, VMUX_ERR_CONNECTION_LOST};
    static const int get_ok[] = {0, VMUX_ERR_TIMEOUT};
    rt_ledger_expect(&ld->incr, incr_ok, 3);
    rt_ledger_expect(&ld->get, get_ok, 2);
    rt_load_check_counts(ld);
    rt_stats_match_ledger(f->m, &ld->all);
    vmux_stats s = rt_stats(f->m);
    assert_true(s.resent <= rt_ledger_get(&ld->get, 0) + rt_ledger_get(&ld->get, VMUX_ERR_TIMEOUT));
    free(ld);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retry_safe_resent_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_safe_lost_on_second_break, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_retry_safe_never_resent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_safe_timeout_after_a_break_says_so, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cuts_under_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * A server that closes idle connections (its `timeout` setting).
 *
 * keepAlive=0, server timeout 1 s: nothing keeps the link busy, so the server closes it, and
 * the one after it; the handle reconnects by itself each time, and the next commands (from 16
 * threads, retry-safe or not) succeed with no error reaching any caller, on a new connection.
 *
 * keepAlive=1, same server: the heartbeat PINGs keep the link alive for five times the server's
 * timeout: the same connection (CLIENT ID) before and after, never a reconnect. The server
 * counts idle time in whole seconds and closes a link once that count exceeds its timeout, so
 * the heartbeat must leave at most keepAlive seconds between two PINGs for this to hold.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "resil.h"
#include "servers.h"
#include "testutil.h"

enum { NTHREADS = 16, LIVE_S = 5 };

static long long client_id(vmux *m)
{
    vmux_reply *r = NULL;
    int rc = vmux_call(m, NULL, 2, (const char *[]){"CLIENT", "ID"}, NULL, &r);
    if (rc != 0)
        fail_msg("CLIENT ID: %s", vmux_err_name(rc));
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_INTEGER);
    long long id = (long long)vmux_reply_integer(r);
    vmux_reply_free(r);
    return id;
}

/*
 * The age in seconds of connection id on the server, from CLIENT LIST ID; -1 when the server
 * no longer has it.
 */
static long client_age(int port, long long id)
{
    char *line = rt_admin(port, "CLIENT LIST ID %lld", id);
    if (line == NULL)
        fail_msg("side channel: no answer to CLIENT LIST");
    const char *age = strstr(line, " age=");
    long v = age != NULL ? strtol(age + 5, NULL, 10) : -1;
    free(line);
    return v;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- 16 callers after the idle period ---- */

struct caller {
    vmux *m;
    int id;
    char key[64];
    rt_ledger *ledger;
    pthread_t thread;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    vmux_callopts safe = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    bool retry_safe = c->id % 2 == 0;
    vmux_reply *r = NULL;
    int rc = vmux_call(c->m, retry_safe ? &safe : NULL, 2,
                       (const char *[]){retry_safe ? "GET" : "INCR", c->key}, NULL, &r);
    rt_ledger_add(c->ledger, rc);
    vmux_reply_kind want = retry_safe ? VMUX_REPLY_NIL : VMUX_REPLY_INTEGER;
    if (rc == 0 && vmux_reply_get_kind(r) != want)
        rt_ledger_bad(c->ledger, "a reply of type %s",
                      vmux_reply_kind_name(vmux_reply_get_kind(r)));
    vmux_reply_free(r);
    return NULL;
}

/* Each of 16 threads makes one call; every one must succeed. */
static void call_from_threads(vmux *m, const char *prefix)
{
    rt_ledger *ledger = calloc(1, sizeof(*ledger));
    assert_non_null(ledger);
    struct caller c[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        c[i] = (struct caller){.m = m, .id = i, .ledger = ledger};
        snprintf(c[i].key, sizeof(c[i].key), "%s:t%d", prefix, i);
        assert_int_equal(pthread_create(&c[i].thread, NULL, caller_main, &c[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(c[i].thread, NULL);
    rt_ledger_print(ledger, "after the idle period");
    static const int ok_only[] = {0};
    rt_ledger_expect(ledger, ok_only, 1);
    assert_int_equal(rt_ledger_total(ledger), NTHREADS);
    free(ledger);
}

/* ---- keepAlive=0: the server closes the idle link ---- */

struct gone {
    int port;
    long long id;
};

static bool connection_gone(void *arg)
{
    struct gone *g = arg;
    if (client_age(g->port, g->id) < 0)
        return true;
    pause_ms(50); /* vt_wait_until polls every ms: spare the server */
    return false;
}

static void test_server_closes_idle_link(void **state)
{
    (void)state;
    vt_server s;
    const char *const args[] = {"--timeout", "1", NULL};
    assert_int_equal(vt_server_start(&s, 0, args), 0);
    char *conf = vt_server_conf(&s, "keepAlive=0,syncTimeout=5000,reconnectMin=20,"
                                    "reconnectMax=200");
    rt_events ev = {0};
    vmux *m = rt_open_events(conf, &ev);
    free(conf);

    long long first = client_id(m);
    struct gone g = {s.port, first};
    if (!vt_wait_until(connection_gone, &g, 10000))
        fail_msg("the server did not close the idle connection %lld within 10 s", first);
    /* Stay idle longer: the server closes the next connection too (3 s and more idle). */
    if (!rt_wait_stat(m, RT_STAT(connects), 3, 15000))
        fail_msg("the handle did not reconnect twice within 15 s");
    char prefix[48];
    rt_unique(prefix, sizeof(prefix), "idle");
    call_from_threads(m, prefix);
    long long now = client_id(m);
    printf("connection %lld closed by the server; now %lld\n", first, now);
    assert_true(now != first);
    vmux_stats st = rt_stats(m);
    assert_true(st.connects >= 2);
    assert_int_equal(st.connection_lost + st.timed_out + st.failed_other, 0);
    vmux_close(m);
    vt_server_stop(&s);
}

/* ---- keepAlive=1: the heartbeat keeps it ---- */

struct aged {
    int port;
    long long id;
    long age; /* last seen; -1: gone */
};

/* The connection lived LIVE_S seconds, or is gone (then waiting is over too). */
static bool survived_or_gone(void *arg)
{
    struct aged *a = arg;
    a->age = client_age(a->port, a->id);
    if (a->age < 0 || a->age >= LIVE_S)
        return true;
    pause_ms(100);
    return false;
}

static void test_heartbeat_keeps_link(void **state)
{
    (void)state;
    vt_server s;
    const char *const args[] = {"--timeout", "1", NULL};
    assert_int_equal(vt_server_start(&s, 0, args), 0);
    char *conf = vt_server_conf(&s, "keepAlive=1,syncTimeout=5000");
    rt_events ev = {0};
    vmux *m = rt_open_events(conf, &ev);
    free(conf);

    long long first = client_id(m);
    struct aged a = {s.port, first, 0};
    assert_true(vt_wait_until(survived_or_gone, &a, 2000 * LIVE_S));
    if (a.age < 0)
        fail_msg("the server closed connection %lld although the heartbeat was on", first);
    char prefix[48];
    rt_unique(prefix, sizeof(prefix), "heartbeat");
    call_from_threads(m, prefix);
    assert_int_equal(client_id(m), first);
    assert_int_equal(rt_stats(m).connects, 1);
    assert_int_equal(atomic_load(&ev.failed), 0);
    vmux_close(m);
    vt_server_stop(&s);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_closes_idle_link),
        cmocka_unit_test(test_heartbeat_keeps_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

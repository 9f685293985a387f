/*
 * A server that completes the session setup and then closes every connection at once (a
 * proxy with no healthy backend, a server shedding clients): each connection is ready for a
 * moment, but that moment is no working connection. Only the first break is retried at once;
 * after it the reconnect backoff applies, each attempt at least reconnectMin after the one
 * before. It was redialled at 0 ms forever (16,909 connections in 5 s), a ready connection
 * resetting the failure count.
 *
 * The scripted fake server (tests/support/fakeserver.h) answers ROLE, the last setup command
 * of a handle with two endpoints, and closes the connection with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fakeserver.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum {
    FAILS = 8,     /* connection failures observed */
    MIN_MS = 100,  /* reconnectMin */
    SCRIPTED = 64, /* ROLE answers the fake closes with */
    WAIT_MS = 30000,
};

static const char ROLE_MASTER[] = "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n";

struct flaps {
    atomic_uint failed;
    uint64_t at[FAILS]; /* vt_now_ms() of the first FAILS failures (the I/O thread's) */
};

static void on_event(const vmux_event *ev, void *ud)
{
    struct flaps *f = ud;
    if (ev->type != VMUX_EVENT_CONNECTION_FAILED)
        return;
    unsigned n = atomic_load(&f->failed);
    if (n < FAILS)
        f->at[n] = vt_now_ms();
    atomic_store(&f->failed, n + 1); /* one writer: the I/O thread */
}

static bool enough_failures(void *arg)
{
    return atomic_load(&((struct flaps *)arg)->failed) >= FAILS;
}

static void test_ready_then_closed_backs_off(void **state)
{
    (void)state;
    vt_fake *fake = vt_fake_start();
    assert_non_null(fake);
    for (int i = 0; i < SCRIPTED; i++)
        assert_int_equal(vt_fake_push_str(fake, VT_FAKE_SEND_CLOSE, ROLE_MASTER), 0);
    char conf[256];
    int port = vt_fake_port(fake);
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,127.0.0.1:%d,cluster=no,abortConnect=false,reconnectMin=%d,"
             "reconnectMax=400",
             port, port, MIN_MS);
    static struct flaps f;
    atomic_init(&f.failed, 0);
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_event_handler(cfg, on_event, &f), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    bool seen = vt_wait_until(enough_failures, &f, WAIT_MS);
    vmux_close(m);
    unsigned accepted = vt_fake_accepted(fake);
    vt_fake_stop(fake);
    if (!seen)
        fail_msg("%u connection failures in %d ms, %d wanted", atomic_load(&f.failed), WAIT_MS,
                 FAILS);
    printf("%u connections accepted; gaps between failures (ms):", accepted);
    for (int i = 1; i < FAILS; i++)
        printf(" %llu", (unsigned long long)(f.at[i] - f.at[i - 1]));
    printf("\n");
    /* The first break may be retried at once; every attempt after it waits reconnectMin. */
    for (int i = 2; i < FAILS; i++) {
        if (f.at[i] - f.at[i - 1] < MIN_MS)
            fail_msg("failure %d came %llu ms after the one before: under reconnectMin (%d ms)",
                     i + 1, (unsigned long long)(f.at[i] - f.at[i - 1]), MIN_MS);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_then_closed_backs_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The direct lane (lib/net/lane.c): a lone synchronous caller writes its own command while the
 * I/O thread is idle. What must hold whichever way a command travels:
 * - a thread's commands are written in the order it submitted them: an async SET queued just
 *   before a sync GET of the same key is always seen by the GET;
 * - a command larger than the socket takes at once (8 MiB) is written whole, the rest by the I/O
 *   thread, and its reply matched to it;
 * - a sync call whose server stops answering (SIGSTOP) times out on time, though its deadline
 *   (300 ms) comes before the I/O thread's next tick: the caller wakes the I/O thread to adopt
 *   it; after SIGCONT its late reply is dropped, and the next call gets its own reply.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum { ROUNDS = 3000, BIG = 8 * 1024 * 1024, PAUSED_TIMEOUT_MS = 300 };

static atomic_int set_errors;

static void on_set(int status, vmux_reply *reply, void *userdata)
{
    (void)userdata;
    if (status != 0)
        atomic_fetch_add(&set_errors, 1);
    vmux_reply_free(reply);
}

static void test_async_then_sync_in_order(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char key[64], val[32];
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(key, sizeof key, "direct:%d:%d", (int)getpid(), i);
        snprintf(val, sizeof val, "v%d", i);
        assert_int_equal(
            vmux_call_async(m, NULL, 3, (const char *[]){"SET", key, val}, NULL, on_set, NULL), 0);
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"GET", key}, NULL, &r), 0);
        assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_STRING);
        assert_string_equal(vmux_reply_str(r, NULL), val);
        vmux_reply_free(r);
        vmux_call_forget(m, NULL, 2, (const char *[]){"DEL", key}, NULL);
    }
    vmux_close(m);
    assert_int_equal(atomic_load(&set_errors), 0);
}

static void test_command_larger_than_the_socket(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "syncTimeout=30000");
    char *big = malloc(BIG);
    assert_non_null(big);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)('a' + i % 26);
    char key[64];
    snprintf(key, sizeof key, "direct:%d:big", (int)getpid());
    for (int round = 0; round < 3; round++) {
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(m, NULL, 3, (const char *[]){"SET", key, big},
                                   (const size_t[]){3, strlen(key), BIG}, &r),
                         0);
        vmux_reply_free(r);
        assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"STRLEN", key}, NULL, &r), 0);
        assert_int_equal(vmux_reply_integer(r), BIG);
        vmux_reply_free(r);
    }
    vmux_call_forget(m, NULL, 2, (const char *[]){"DEL", key}, NULL);
    free(big);
    vmux_close(m);
}

static void test_timeout_while_server_stopped(void **state)
{
    (void)state;
    vt_server s;
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    vmux *m = vt_server_open(&s, "syncTimeout=5000");
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, (const char *[]){"SET", "k", "before"}, NULL, &r), 0);
    vmux_reply_free(r);

    kill(s.pid, SIGSTOP);
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = PAUSED_TIMEOUT_MS);
    uint64_t t0 = vt_now_ms();
    int rc = vmux_call(m, &quick, 2, (const char *[]){"GET", "k"}, NULL, &r);
    uint64_t took = vt_now_ms() - t0;
    kill(s.pid, SIGCONT);
    printf("GET with a stopped server: %s after %llu ms\n", vmux_err_name(rc),
           (unsigned long long)took);
    assert_int_equal(rc, VMUX_ERR_TIMEOUT);
    assert_null(r);
    assert_true(took >= PAUSED_TIMEOUT_MS);
    assert_true(took < 10 * PAUSED_TIMEOUT_MS); /* a liveness guard, not a latency claim */

    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"ECHO", "after"}, NULL, &r), 0);
    assert_string_equal(vmux_reply_str(r, NULL), "after"); /* not the late GET's "before" */
    vmux_reply_free(r);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_int_equal(st.timed_out, 1);
    vmux_close(m);
    vt_server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_then_sync_in_order),
        cmocka_unit_test(test_command_larger_than_the_socket),
        cmocka_unit_test(test_timeout_while_server_stopped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

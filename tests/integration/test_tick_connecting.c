/*
 * The once-a-second tick of a connection that is still resolving its host name writes nothing
 * to it: there is no socket yet. With UV_THREADPOOL_SIZE=1 and a work item holding libuv's one
 * pool thread, the handle's getaddrinfo("localhost") waits longer than keepAlive (1 s) and than
 * connectTimeout, so several ticks come while the connection resolves. Its last_io was 0, so it
 * looked idle, and the tick wrote a PING there: libuv's uv_try_write() on the socket that did not
 * exist aborted the process (an outside probe saw it after a primary was killed, its links
 * reconnecting by host name). Once the pool is free, the handle connects and serves a GET.
 * Its own binary: the pool's size is read once per process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

static uv_sem_t release;
static atomic_bool holding;
static atomic_int resolve_timeouts;

static void hold_pool(uv_work_t *w)
{
    (void)w;
    atomic_store(&holding, true);
    uv_sem_wait(&release);
}

static void held(uv_work_t *w, int status)
{
    (void)w;
    (void)status;
}

/* A loop of the test's own whose one work item holds the pool's thread until released. */
static void pool_holder(void *arg)
{
    (void)arg;
    uv_loop_t loop;
    uv_work_t w;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_queue_work(&loop, &w, hold_pool, held), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static bool pool_held(void *arg)
{
    (void)arg;
    return atomic_load(&holding);
}

static void on_event(const vmux_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == VMUX_EVENT_CONNECTION_FAILED && strstr(ev->reason, "resolving") != NULL)
        atomic_fetch_add(&resolve_timeouts, 1);
}

static bool resolve_timed_out(void *arg)
{
    (void)arg;
    return atomic_load(&resolve_timeouts) > 0;
}

static void test_tick_while_resolving(void **state)
{
    (void)state;
    assert_int_equal(uv_sem_init(&release, 0), 0);
    uv_thread_t holder;
    assert_int_equal(uv_thread_create(&holder, pool_holder, NULL), 0);
    assert_true(vt_wait_until(pool_held, NULL, 10000));

    char text[160];
    snprintf(text, sizeof text,
             "localhost:%d,abortConnect=false,keepAlive=1,connectTimeout=2500,reconnectMax=200",
             vt_server_port("plain"));
    vmux_config *cfg = NULL;
    char err[256] = "";
    assert_int_equal(vmux_config_parse(text, &cfg, err, sizeof err), 0);
    assert_int_equal(vmux_config_set_event_handler(cfg, on_event, NULL), 0);
    vmux *m = NULL;
    assert_int_equal(vmux_open(cfg, &m, err, sizeof err), 0);
    /* two ticks at least came while the name could not be resolved */
    assert_true(vt_wait_until(resolve_timed_out, NULL, 20000));

    uv_sem_post(&release);
    uv_thread_join(&holder);
    vmux_callopts opts = VMUX_INIT(vmux_callopts, .timeout_ms = 20000);
    const char *get[] = {"GET", "tick-while-resolving"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, &opts, 2, get, NULL, &r), 0);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_NIL);
    vmux_reply_free(r);
    vmux_close(m);
    vmux_config_free(cfg);
    uv_sem_destroy(&release);
}

int main(void)
{
    setenv("UV_THREADPOOL_SIZE", "1", 1); /* before libuv starts its pool */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tick_while_resolving),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

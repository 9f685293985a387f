/*
 * A cluster handle's I/O thread never sleeps in its poll owing a synchronous caller its wake
 * (core/wait.h: a loop turn's reads ring once, at the turn's end or before the next poll).
 *
 * The test replaces epoll_wait() and epoll_pwait() (libuv's poll calls them through the dynamic
 * linker, so this executable's definitions come first) and counts the calls that may sleep
 * (timeout not 0) made while the calling thread holds deferred wakes (vmux__wait_owes()). The
 * load: an asynchronous EVAL that keeps its node busy for some milliseconds, whose callback takes
 * 3 ms of the I/O thread (more than a read's 2 ms slice), and a synchronous GET of the same slot
 * written behind it, so that both replies come in one read and GET's is parsed after the slice
 * ended, by an idle handle outside the poll's I/O callbacks. Such wakes waited for the poll to end:
 * up to the next timer, the 1 s tick, with nothing else to read (a review saw a GET answered in
 * 50 ms return after up to 980 ms).
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <cmocka.h>

#include "core/wait.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-route"
#define TRIALS 30
#define CALLBACK_NS 3000000ll

typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);
typedef int (*epoll_pwait_fn)(int, struct epoll_event *, int, int, const sigset_t *);

static epoll_wait_fn real_epoll_wait;
static epoll_pwait_fn real_epoll_pwait;
static atomic_int polls, sleeps_owing;

/* Counts a poll, and one that may sleep while its thread owes wakes. */
static void count_poll(int timeout)
{
    atomic_fetch_add(&polls, 1);
    if (timeout != 0 && vmux__wait_owes())
        atomic_fetch_add(&sleeps_owing, 1);
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    count_poll(timeout);
    return real_epoll_wait(epfd, events, maxevents, timeout);
}

int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
                const sigset_t *sigmask)
{
    count_poll(timeout);
    return real_epoll_pwait(epfd, events, maxevents, timeout, sigmask);
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static atomic_int callbacks, callback_failures;

/* Holds the I/O thread for CALLBACK_NS: a slow callback, so the read's slice ends after it. */
static void slow_callback(int status, vmux_reply *r, void *arg)
{
    (void)arg;
    if (status != 0)
        atomic_fetch_add(&callback_failures, 1);
    vmux_reply_free(r);
    int64_t until = now_ns() + CALLBACK_NS;
    while (now_ns() < until)
        ;
    atomic_fetch_add(&callbacks, 1);
}

static bool callbacks_done(void *arg)
{
    return atomic_load(&callbacks) == *(int *)arg;
}

/* Keeps the server busy for some milliseconds (a million rounds of Lua; a script's TIME stands
 * still), on the slot of {tw}. */
static const char *const busy[] = {
    "EVAL", "local n = 0 for i = 1, 1000000 do n = n + i end return 1", "1", "{tw}busy"};

static void test_no_poll_sleeps_owing_a_wake(void **state)
{
    (void)state;
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=30000", vt_cluster_port(CLUSTER, 0));
    vmux *m = NULL;
    char err[256];
    assert_int_equal(vmux_open_str(conf, &m, err, sizeof err), 0);
    const char *set[] = {"SET", "{tw}k", "v"}, *get[] = {"GET", "{tw}k"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, set, NULL, &r), 0);
    vmux_reply_free(r);
    atomic_store(&sleeps_owing, 0);
    for (int i = 0; i < TRIALS; i++) {
        assert_int_equal(vmux_call_async(m, NULL, 4, busy, NULL, slow_callback, NULL), 0);
        assert_int_equal(vmux_call(m, NULL, 2, get, NULL, &r), 0);
        assert_string_equal(vmux_reply_str(r, NULL), "v");
        vmux_reply_free(r);
        int want = i + 1;
        assert_true(vt_wait_until(callbacks_done, &want, 30000));
    }
    printf("%d polls, %d of them might sleep owing a wake\n", atomic_load(&polls),
           atomic_load(&sleeps_owing));
    assert_int_equal(atomic_load(&callback_failures), 0);
    assert_int_equal(atomic_load(&sleeps_owing), 0);
    vmux_close(m);
}

int main(void)
{
    real_epoll_wait = (epoll_wait_fn)dlsym(RTLD_NEXT, "epoll_wait");
    real_epoll_pwait = (epoll_pwait_fn)dlsym(RTLD_NEXT, "epoll_pwait");
    if (real_epoll_wait == NULL || real_epoll_pwait == NULL) {
        fprintf(stderr, "cannot find epoll_wait and epoll_pwait: %s\n", dlerror());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_poll_sleeps_owing_a_wake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

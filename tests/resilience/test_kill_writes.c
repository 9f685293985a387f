/*
 * The server killed again and again while 16 threads keep megabytes of writes queued: the
 * client's socket buffer is full and a write is pending when the dead server's kernel resets
 * the connection. The process must survive it (a write to a reset socket raises SIGPIPE, whose
 * default action kills the whole process: a library must never let a dead peer do that to its
 * host), every command must complete exactly once with its reply or a documented error, and
 * the handle must serve again after each restart without any call from the user.
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
#include <time.h>

#include <cmocka.h>

#include "resil.h"
#include "servers.h"
#include "testutil.h"

enum { NTHREADS = 16, WINDOW = 16, VALUE_LEN = 256 * 1024, KILLS = 10, EACH = 20 };

static const char *const CONF = "asyncTimeout=30000,connectTimeout=2000,reconnectMin=10,"
                                "reconnectMax=100,backlogSize=100000";

struct run {
    vmux *m;
    char prefix[64];
    char *value;
    atomic_bool stop;
    rt_ledger all;
    atomic_ulong ok;
};

/* One thread's window of async SETs in flight. */
struct worker {
    struct run *run;
    int id;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int in_flight;
    pthread_t thread;
};

static void on_set(int status, vmux_reply *reply, void *userdata)
{
    struct worker *w = userdata;
    rt_ledger_add(&w->run->all, status);
    if (status == 0) {
        if (vmux_reply_get_kind(reply) != VMUX_REPLY_STATUS)
            rt_ledger_bad(&w->run->all, "SET replied with a %s",
                          vmux_reply_kind_name(vmux_reply_get_kind(reply)));
        atomic_fetch_add(&w->run->ok, 1);
    }
    vmux_reply_free(reply);
    pthread_mutex_lock(&w->mu);
    w->in_flight--;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits until fewer than limit SETs are in flight; false after the deadline. */
static bool window_below(struct worker *w, int limit)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 60; /* well past every command's deadline */
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (w->in_flight >= limit && rc == 0)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
    bool ok = w->in_flight < limit;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    char key[96];
    snprintf(key, sizeof(key), "%s:t%d", r->prefix, w->id);
    const char *argv[] = {"SET", key, r->value};
    size_t lens[] = {3, strlen(key), VALUE_LEN};
    for (unsigned n = 0; !atomic_load(&r->stop); n++) {
        if (!window_below(w, WINDOW)) {
            rt_ledger_bad(&r->all, "thread %d: a SET never completed", w->id);
            return NULL;
        }
        /* plain SET is idempotent: half are marked so, and may be resent once */
        vmux_callopts opts = VMUX_INIT(vmux_callopts, .flags = n % 2 ? VMUX_CALL_RETRY_SAFE : 0);
        pthread_mutex_lock(&w->mu);
        w->in_flight++;
        pthread_mutex_unlock(&w->mu);
        int rc = vmux_call_async(r->m, &opts, 3, argv, lens, on_set, w);
        if (rc != 0) {
            rt_ledger_bad(&r->all, "vmux_call_async: %s", vmux_err_name(rc));
            return NULL;
        }
    }
    if (!window_below(w, 1))
        rt_ledger_bad(&r->all, "thread %d: a SET never completed", w->id);
    return NULL;
}

/* Runs while the workers do: failures go to soft, and it stops at the first. */
static void kill_repeatedly(struct run *r, vt_server *s, rt_soft *soft)
{
    for (int i = 0; i < KILLS; i++) {
        vmux_stats before = rt_stats(r->m);
        unsigned long ok = atomic_load(&r->ok);
        vt_server_kill(s);
        if (!rt_soft_check(
                soft,
                rt_wait_stat(r->m, RT_STAT(connect_failures), before.connect_failures + 1, 10000),
                "kill %d: the handle did not notice within 10 s", i) ||
            !rt_soft_check(soft, vt_server_restart(s) == 0, "kill %d: no restart", i) ||
            !rt_soft_check(soft, rt_wait_stat(r->m, RT_STAT(connects), before.connects + 1, 15000),
                           "kill %d: no new connection within 15 s of the restart", i) ||
            !rt_soft_check(soft, rt_wait_count(&r->ok, ok + EACH, 30000),
                           "kill %d: the handle did not serve again within 30 s", i))
            return;
    }
}

static void test_kill_under_heavy_writes(void **state)
{
    (void)state;
    vt_server s;
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    struct run *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->value = malloc(VALUE_LEN + 1);
    assert_non_null(r->value);
    memset(r->value, 'v', VALUE_LEN);
    r->value[VALUE_LEN] = '\0';
    rt_unique(r->prefix, sizeof(r->prefix), "killwrites");
    char *conf = vt_server_conf(&s, CONF);
    r->m = rt_open(conf);
    free(conf);

    struct worker *w = calloc(NTHREADS, sizeof(*w));
    assert_non_null(w);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].run = r;
        w[i].id = i;
        pthread_mutex_init(&w[i].mu, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w[i].cv, &ca);
        pthread_condattr_destroy(&ca);
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
    }
    rt_soft soft = {""};
    if (rt_soft_check(&soft, rt_wait_count(&r->ok, EACH, 30000), "no load within 30 s"))
        kill_repeatedly(r, &s, &soft);
    atomic_store(&r->stop, true);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(w[i].thread, NULL);
    rt_soft_finish(&soft);

    rt_ledger_print(&r->all, "SET, 256 KiB each");
    static const int allowed[] = {0, VMUX_ERR_TIMEOUT, VMUX_ERR_CONNECTION_LOST,
                                  VMUX_ERR_NOT_CONNECTED, VMUX_ERR_BACKLOG_FULL};
    rt_ledger_expect(&r->all, allowed, 5);
    rt_stats_match_ledger(r->m, &r->all);
    assert_true(rt_stats(r->m).connects >= 1 + KILLS);
    vmux_close(r->m);
    for (int i = 0; i < NTHREADS; i++) {
        pthread_cond_destroy(&w[i].cv);
        pthread_mutex_destroy(&w[i].mu);
    }
    free(w);
    free(r->value);
    free(r);
    vt_server_stop(&s);
}

/* ---- a command queued behind a large value when the server dies ---- */

enum { BIG_LEN = 32 * 1024 * 1024 };

struct behind {
    atomic_bool done;
    int status[2];
    long long incr;
};

static void on_behind(size_t n, const int *statuses, vmux_reply **replies, void *userdata)
{
    struct behind *b = userdata;
    for (size_t i = 0; i < n && i < 2; i++)
        b->status[i] = statuses[i];
    b->incr = n == 2 && replies[1] != NULL ? (long long)vmux_reply_integer(replies[1]) : -1;
    for (size_t i = 0; i < n; i++)
        vmux_reply_free(replies[i]);
    atomic_store(&b->done, true);
}

static bool behind_done(void *arg)
{
    return atomic_load(&((struct behind *)arg)->done);
}

static bool all_handed_over(void *arg)
{
    return rt_stats(arg).bytes_out >= BIG_LEN;
}

/*
 * A 32 MiB SET and an INCR behind it, written in one flush to a stopped server: the socket takes
 * a few MiB, libuv's write queue holds the rest, the INCR with it. The server is killed and
 * started again: the SET, in part sent, comes back VMUX_ERR_CONNECTION_LOST (neither is marked
 * retry-safe), and the INCR, which never left libuv's queue, runs on the next connection. It came
 * back VMUX_ERR_CONNECTION_LOST too, as if sent (over TLS it ran).
 */
static void test_command_behind_a_large_value(void **state)
{
    (void)state;
    vt_server s;
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    char *conf = vt_server_conf(&s, CONF);
    vmux *m = rt_open(conf);
    free(conf);
    char key[64], counter[64];
    rt_unique(key, sizeof key, "killwrites:big");
    rt_unique(counter, sizeof counter, "killwrites:n");
    char *value = malloc(BIG_LEN);
    assert_non_null(value);
    memset(value, 'b', BIG_LEN);
    vmux_batch *batch = NULL;
    assert_int_equal(vmux_batch_new(&batch), 0);
    const char *set[] = {"SET", key, value};
    size_t set_lens[] = {3, strlen(key), BIG_LEN};
    assert_int_equal(vmux_batch_add(batch, 3, set, set_lens), 0);
    assert_int_equal(vmux_batch_add(batch, 2, (const char *[]){"INCR", counter}, NULL), 0);
    assert_int_equal(kill(s.pid, SIGSTOP), 0);
    static struct behind b;
    atomic_init(&b.done, false);
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 60000);
    assert_int_equal(vmux_batch_exec_async(m, &o, batch, on_behind, &b), 0);
    vmux_batch_free(batch);
    free(value);
    assert_true(vt_wait_until(all_handed_over, m, 30000));
    vt_server_kill(&s); /* SIGKILL ends a stopped process too */
    assert_int_equal(vt_server_restart(&s), 0);
    assert_true(vt_wait_until(behind_done, &b, 70000));
    printf("SET 32 MiB: %s; INCR behind it: %s (%lld)\n", vmux_err_name(b.status[0]),
           vmux_err_name(b.status[1]), b.incr);
    assert_int_equal(b.status[0], VMUX_ERR_CONNECTION_LOST);
    assert_int_equal(b.status[1], 0);
    assert_int_equal(b.incr, 1);
    vmux_close(m);
    vt_server_stop(&s);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_under_heavy_writes),
        cmocka_unit_test(test_command_behind_a_large_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

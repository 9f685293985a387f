/*
 * fork(): a child process inherits a copy of the handle but not its I/O thread.
 *
 * - In the child every call on the inherited handle fails at once with VMUX_ERR_FORKED (sync,
 *   async: its callback never runs, typed, subscribe); closing it there is safe, runs none of
 *   the parent's callbacks, closes the child's copies of its loop's descriptors (epoll, wake-up,
 *   signal pipe: probe33 found the signal pipe left open), and a new handle opened in the child
 *   works.
 * - The near cache's calls fail so too, hits included, without taking a store lock that a parent
 *   thread may have held at the fork.
 * - So do the patterns' (locks, cache, rate limiter), without taking a lock of theirs or waiting
 *   for the lock-renewal thread or another caller's load; a non-strict cache runs the loader in
 *   the child instead; a renewing lock made in the child on its own handle is renewed.
 * - The parent's connection is not disturbed: its CLIENT ID and the connects counter stay the
 *   same, and it keeps serving, also when other threads have calls in flight at the instant of
 *   fork (every one of their calls succeeds).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mux/mux.h"
#include "testutil.h"
#include "vmux/vmux.h"

#ifdef __SANITIZE_THREAD__
/* The child opens a new handle, which starts a thread: allowed, as it is without TSan. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

enum { NTHREADS = 4, ROUNDS = 5 };

/*
 * May a child allocate after a fork taken while other threads were busy? glibc's malloc takes its
 * arenas' locks around fork(), so yes; GCC 12's AddressSanitizer allocator does not (libasan.so.8
 * installs no atfork handler), so such a child can wait forever for a lock that a parent thread
 * held at that instant: test_fork_under_load hung once that way until its timeout. Under ASan the
 * child of a busy parent checks everything but the fresh handle; test_fork_idle still opens one.
 */
#ifdef __SANITIZE_ADDRESS__
#define FRESH_AFTER_BUSY_FORK false
#else
#define FRESH_AFTER_BUSY_FORK true
#endif

/* Child exit codes: 0 when every check passed, else the number of the failed check. */
#define CHILD_CHECK(cond, code)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child: check %d failed: %s\n", code, #cond);                          \
            _exit(code);                                                                           \
        }                                                                                          \
    } while (0)

static atomic_int child_callbacks;

static void child_cb(int status, vmux_reply *reply, void *userdata)
{
    (void)status;
    (void)userdata;
    vmux_reply_free(reply);
    atomic_fetch_add(&child_callbacks, 1);
}

static void child_msg(const vmux_message *msg, void *userdata)
{
    (void)msg;
    (void)userdata;
}

/* What the child does with the handle it inherited, then (when fresh) with one of its own. */
static void child_main(vmux *m, const char *key, const char *want, vmux_sub *inherited, bool fresh)
{
    vmux_reply *r = NULL;
    CHILD_CHECK(vmux_call(m, NULL, 2, (const char *[]){"GET", key}, NULL, &r) == VMUX_ERR_FORKED,
                1);
    CHILD_CHECK(r == NULL, 2);
    CHILD_CHECK(vmux_call_async(m, NULL, 1, (const char *[]){"PING"}, NULL, child_cb, NULL) ==
                    VMUX_ERR_FORKED,
                3);
    CHILD_CHECK(vmux_call_forget(m, NULL, 1, (const char *[]){"PING"}, NULL) == VMUX_ERR_FORKED, 4);
    vmux_bytes v = {0};
    CHILD_CHECK(vmux_get(m, NULL, VMUX_STR(key), &v) == VMUX_ERR_FORKED, 5);
    vmux_sub *sub = NULL;
    CHILD_CHECK(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("fork-chan"), child_msg, NULL, &sub) ==
                    VMUX_ERR_FORKED,
                6);
    if (inherited != NULL)
        CHILD_CHECK(vmux_sub_wait_live(inherited, -1) == VMUX_ERR_FORKED, 10);
    int loop_fds[] = {uv_backend_fd(&m->loop), m->loop.async_io_watcher.fd,
                      m->loop.signal_pipefd[0], m->loop.signal_pipefd[1]};
    vmux_close(m); /* in the child: frees nothing, so m is still there to look at */
    CHILD_CHECK(atomic_load(&child_callbacks) == 0, 7);
    for (size_t i = 0; i < sizeof loop_fds / sizeof loop_fds[0]; i++)
        CHILD_CHECK(loop_fds[i] < 0 || fcntl(loop_fds[i], F_GETFD) == -1, 11);

#ifdef __SANITIZE_THREAD__
    /* ThreadSanitizer cannot follow a thread started after a multi-threaded fork (it finds the
     * new thread's id still registered for a parent thread); the other builds check this. */
    _exit(0);
#endif
    if (!fresh)
        _exit(0);
    vmux *own = vt_open("plain", NULL);
    CHILD_CHECK(vmux_get(own, NULL, VMUX_STR(key), &v) == 0, 8);
    CHILD_CHECK(v.ptr != NULL && strcmp(v.ptr, want) == 0, 9);
    vmux_bytes_free(&v);
    vmux_close(own);
    _exit(0);
}

/* Forks; the child runs child_main and the parent checks that it exited with 0. */
static void fork_and_check(vmux *m, const char *key, const char *want, vmux_sub *sub, bool fresh)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_main(m, key, want, sub, fresh);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static long long client_id(vmux *m)
{
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"CLIENT", "ID"}, NULL, &r), 0);
    long long id = vmux_reply_integer(r);
    vmux_reply_free(r);
    return id;
}

static void test_fork_idle(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char key[64];
    snprintf(key, sizeof key, "fork:%d:idle", (int)getpid());
    assert_int_equal(vmux_set(m, NULL, VMUX_STR(key), VMUX_STR("before"),
                              VMUX_EXPIRE_IN_SECONDS(60), VMUX_COND_ALWAYS, NULL),
                     0);
    vmux_sub *sub = NULL;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("fork-idle"), child_msg, NULL, &sub), 0);
    assert_int_equal(vmux_sub_wait_live(sub, 10000), 0);
    long long id = client_id(m);
    vmux_stats before = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &before), 0);

    fork_and_check(m, key, "before", sub, true);
    assert_int_equal(vmux_sub_wait_live(sub, 10000), 0); /* the parent's stays live */

    assert_int_equal(client_id(m), id);
    vmux_stats after = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &after), 0);
    assert_int_equal(after.connects, before.connects);
    vmux_bytes v = {0};
    assert_int_equal(vmux_get(m, NULL, VMUX_STR(key), &v), 0);
    assert_string_equal(v.ptr, "before");
    vmux_bytes_free(&v);
    vmux_close(m);
}

/*
 * A child forked from a callback runs on the I/O thread's id: every call is still
 * VMUX_ERR_FORKED there, not the "called from a callback" refusal (a batch gave
 * VMUX_ERR_INVALID_ARG).
 */
struct from_callback {
    vmux *m;
    vmux_batch *b;  /* made by the parent: the child allocates nothing before its checks */
    atomic_int pid; /* the child's, once forked; -1: fork() failed */
};

static void fork_in_callback(int status, vmux_reply *reply, void *userdata)
{
    struct from_callback *fc = userdata;
    vmux_reply_free(reply);
    if (status != 0) {
        atomic_store(&fc->pid, -1);
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        vmux_reply *r = NULL;
        int statuses[1];
        vmux_reply *replies[1];
        CHILD_CHECK(
            vmux_call(fc->m, NULL, 1, (const char *[]){"PING"}, NULL, &r) == VMUX_ERR_FORKED, 41);
        CHILD_CHECK(vmux_batch_exec(fc->m, NULL, fc->b, statuses, replies) == VMUX_ERR_FORKED, 42);
        CHILD_CHECK(statuses[0] == VMUX_ERR_FORKED && replies[0] == NULL, 43);
        CHILD_CHECK(vmux_drain(fc->m, 0) == VMUX_ERR_FORKED, 44);
        CHILD_CHECK(vmux_call_async(fc->m, NULL, 1, (const char *[]){"PING"}, NULL, child_cb,
                                    NULL) == VMUX_ERR_FORKED,
                    45);
        _exit(0);
    }
    atomic_store(&fc->pid, pid > 0 ? pid : -1);
}

static bool forked_yet(void *arg)
{
    return atomic_load(&((struct from_callback *)arg)->pid) != 0;
}

static void test_fork_from_callback(void **state)
{
    (void)state;
    struct from_callback fc = {.m = vt_open("plain", NULL)};
    assert_int_equal(vmux_batch_new(&fc.b), 0);
    assert_int_equal(vmux_batch_add(fc.b, 1, (const char *[]){"PING"}, NULL), 0);
    assert_int_equal(
        vmux_call_async(fc.m, NULL, 1, (const char *[]){"PING"}, NULL, fork_in_callback, &fc), 0);
    assert_true(vt_wait_until(forked_yet, &fc, 10000));
    pid_t pid = atomic_load(&fc.pid);
    assert_true(pid > 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    vmux_batch_free(fc.b);
    vmux_close(fc.m);
}

struct busy {
    vmux *m;
    atomic_bool stop;
    atomic_ulong ok, failed;
    char key[64];
};

static void *busy_main(void *arg)
{
    struct busy *b = arg;
    while (!atomic_load(&b->stop)) {
        int64_t n = 0;
        int rc = vmux_incr(b->m, NULL, VMUX_STR(b->key), &n);
        atomic_fetch_add(rc == 0 ? &b->ok : &b->failed, 1);
    }
    return NULL;
}

static bool some_progress(void *arg)
{
    struct busy *b = arg;
    return atomic_load(&b->ok) > 100;
}

static void test_fork_under_load(void **state)
{
    (void)state;
    static struct busy b;
    b.m = vt_open("plain", NULL);
    snprintf(b.key, sizeof b.key, "fork:%d:busy", (int)getpid());
    char key[64];
    snprintf(key, sizeof key, "fork:%d:load", (int)getpid());
    assert_int_equal(vmux_set(b.m, NULL, VMUX_STR(key), VMUX_STR("load"),
                              VMUX_EXPIRE_IN_SECONDS(60), VMUX_COND_ALWAYS, NULL),
                     0);
    long long id = client_id(b.m);
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, busy_main, &b), 0);
    assert_true(vt_wait_until(some_progress, &b, 10000));
    for (int round = 0; round < ROUNDS; round++)
        fork_and_check(b.m, key, "load", NULL, FRESH_AFTER_BUSY_FORK);
    unsigned long ok = atomic_load(&b.ok);
    atomic_store(&b.stop, true);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&b.failed), 0);
    assert_int_equal(client_id(b.m), id);
    int64_t n = 0;
    assert_int_equal(vmux_incr(b.m, NULL, VMUX_STR(b.key), &n), 0);
    assert_true(n > (int64_t)ok); /* every INCR the threads saw succeed was counted */
    vmux_close(b.m);
}

/* Waits for the child of a round and fails the test unless it exited 0 (its failed check's
 * number, or the signal that killed it: SIGALRM for a child stuck on a lock). */
static void expect_child_ok(pid_t pid, int round)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("round %d: the child %s %d", round,
                 WIFEXITED(status) ? "failed check" : "died of signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* Threads reading one key through the near cache (hits: the store's locks taken and let go). */
struct near_busy {
    vmux *m;
    atomic_bool stop;
    atomic_ulong hits;
    char key[64];
};

static void *near_main(void *arg)
{
    struct near_busy *b = arg;
    while (!atomic_load(&b->stop)) {
        vmux_bytes v = {0};
        if (vmux_near_get(b->m, NULL, VMUX_STR(b->key), &v) == 0)
            atomic_fetch_add(&b->hits, 1);
        vmux_bytes_free(&v);
    }
    return NULL;
}

static bool near_progress(void *arg)
{
    return atomic_load(&((struct near_busy *)arg)->hits) > 1000;
}

/* The child's near-cache calls: each fails at once, hits included (it would never hear an
 * invalidation), without waiting for a store lock a parent thread held at the fork. */
static void near_child(vmux *m, const char *key)
{
    alarm(30); /* a child stuck on a lock dies, and the parent sees it */
    vmux_bytes v = {0};
    CHILD_CHECK(vmux_near_get(m, NULL, VMUX_STR(key), &v) == VMUX_ERR_FORKED, 21);
    CHILD_CHECK(v.ptr == NULL, 22);
    CHILD_CHECK(vmux_near_hget(m, NULL, VMUX_STR(key), VMUX_STR("f"), &v) == VMUX_ERR_FORKED, 23);
    vmux_field_array fields;
    CHILD_CHECK(vmux_near_hgetall(m, NULL, VMUX_STR(key), &fields) == VMUX_ERR_FORKED, 24);
    vmux_bytes_array members;
    CHILD_CHECK(vmux_near_smembers(m, NULL, VMUX_STR(key), &members) == VMUX_ERR_FORKED, 25);
    CHILD_CHECK(vmux_near_forget(m, VMUX_STR(key)) == VMUX_ERR_FORKED, 26);
    vmux_near_stats st = VMUX_INIT(vmux_near_stats);
    CHILD_CHECK(vmux_near_read_stats(m, &st) == VMUX_ERR_FORKED, 27);
    _exit(0);
}

/*
 * A near cache in a forked child (probe 56): its hits returned the parent's copy, never
 * invalidated, and a child forked while parent threads read through the store waited forever
 * for a shard lock one of them held (13-19 children of 40 hung).
 */
static void test_fork_near_cache(void **state)
{
    (void)state;
    static struct near_busy b;
    b.m = vt_open("plain", "nearCache=true");
    snprintf(b.key, sizeof b.key, "fork:%d:near", (int)getpid());
    assert_int_equal(vmux_set(b.m, NULL, VMUX_STR(b.key), VMUX_STR("held"),
                              VMUX_EXPIRE_IN_SECONDS(60), VMUX_COND_ALWAYS, NULL),
                     0);
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, near_main, &b), 0);
    assert_true(vt_wait_until(near_progress, &b, 10000));
    for (int round = 0; round < 4 * ROUNDS; round++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            near_child(b.m, b.key);
        expect_child_ok(pid, round);
    }
    atomic_store(&b.stop, true);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    vmux_near_stats st = VMUX_INIT(vmux_near_stats);
    assert_int_equal(vmux_near_read_stats(b.m, &st), 0); /* the parent's keeps working */
    assert_true(st.hits > 1000);
    vmux_close(b.m);
}

/*
 * May a child of a busy fork allocate? As FRESH_AFTER_BUSY_FORK: a non-strict cache's loader
 * allocates its value, so under ASan the child skips that get (the others allocate nothing).
 */
#ifdef __SANITIZE_ADDRESS__
#define ALLOC_AFTER_BUSY_FORK false
#else
#define ALLOC_AFTER_BUSY_FORK true
#endif

/*
 * Threads inside the patterns: a lock acquired, extended and released by two threads in turn
 * (its op_mu taken nearly always), a renewing lock held throughout and read (its mu, the renewal
 * thread's locks), cache gets of one key whose loads are slow (a flight leading most of the
 * time) with invalidates, and rate-limiter checks.
 */
struct pat_busy {
    vmux *m;
    vmux_lock *held, *churn;
    vmux_cache *cache, *strict;
    vmux_ratelimit *rl;
    atomic_bool stop;
    atomic_ulong turns, loads;
    char key[64];
};

static int slow_loader(vmux_str key, vmux_bytes *value, void *userdata)
{
    (void)key;
    atomic_ulong *loads = userdata;
    atomic_fetch_add(loads, 1);
    usleep(1000);
    value->ptr = strdup("loaded");
    value->len = value->ptr != NULL ? 6 : 0;
    return value->ptr != NULL ? 0 : -1001;
}

static void *churn_main(void *arg)
{
    struct pat_busy *b = arg;
    while (!atomic_load(&b->stop)) {
        bool acquired = false, held = false;
        (void)vmux_lock_acquire(b->churn, &acquired, NULL);
        if (acquired)
            (void)vmux_lock_extend(b->churn, 0, &held);
        (void)vmux_lock_release(b->churn, NULL);
        atomic_fetch_add(&b->turns, 1);
    }
    return NULL;
}

static void *lock_reader_main(void *arg)
{
    struct pat_busy *b = arg;
    while (!atomic_load(&b->stop)) { /* the lock's mu, taken and let go */
        (void)vmux_lock_held(b->held);
        (void)vmux_lock_fence(b->held);
    }
    return NULL;
}

static void *cache_main(void *arg)
{
    struct pat_busy *b = arg;
    while (!atomic_load(&b->stop)) {
        vmux_bytes v = {0};
        (void)vmux_cache_invalidate(b->cache, VMUX_STR(b->key));
        (void)vmux_cache_get(b->cache, VMUX_STR(b->key), slow_loader, &b->loads, 0, &v);
        vmux_bytes_free(&v);
    }
    return NULL;
}

static void *limiter_main(void *arg)
{
    struct pat_busy *b = arg;
    while (!atomic_load(&b->stop)) {
        vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
        (void)vmux_ratelimit_check(b->rl, VMUX_STR(b->key), 1, &r);
    }
    return NULL;
}

static bool patterns_progress(void *arg)
{
    struct pat_busy *b = arg;
    return atomic_load(&b->turns) > 20 && atomic_load(&b->loads) > 20;
}

/* A renewing lock: renewed every third of ttl_ms. */
static vmux_lock_opts renewing(int64_t ttl_ms)
{
    return VMUX_INIT(vmux_lock_opts, .ttl_ms = ttl_ms, .auto_renew = true, .timeout_ms = 2000);
}

#ifndef __SANITIZE_THREAD__ /* fresh_lock_child() alone uses these */
/* A lock key's PTTL as polled: renewals make it go up. */
struct renewals {
    vmux *m;
    const char *key;
    int64_t last; /* the PTTL seen last, -1 before the first */
    int rises;    /* how often it went up */
};

/* Polls the key's PTTL; true once it has gone up twice (two renewals seen). */
static bool renewed_twice(void *arg)
{
    struct renewals *w = arg;
    int64_t pttl = -1;
    if (vmux_pttl(w->m, NULL, VMUX_STR(w->key), &pttl) != 0 || pttl < 0)
        return false;
    if (w->last >= 0 && pttl > w->last)
        w->rises++;
    w->last = pttl;
    return w->rises >= 2;
}
#endif

/* A renewing lock on a handle the child opened renews: the renewal thread is the child's own. */
static void fresh_lock_child(const char *key, bool fresh)
{
#ifdef __SANITIZE_THREAD__
    (void)key; /* as child_main(): no new thread after a multi-threaded fork under TSan */
    (void)fresh;
#else
    if (!fresh || !FRESH_AFTER_BUSY_FORK)
        return;
    vmux *own = vt_open("plain", NULL);
    vmux_lock *l = NULL;
    vmux_lock_opts o = renewing(1000);
    char k[96];
    snprintf(k, sizeof k, "%s:child:%d", key, (int)getpid());
    CHILD_CHECK(vmux_lock_new(own, VMUX_STR(k), &o, &l) == 0, 60);
    bool acquired = false;
    CHILD_CHECK(vmux_lock_acquire(l, &acquired, NULL) == 0 && acquired, 61);
    struct renewals w = {.m = own, .key = k, .last = -1};
    CHILD_CHECK(vt_poll_until(renewed_twice, &w, 20000, 5), 62); /* the key's TTL went up twice */
    CHILD_CHECK(vmux_lock_held(l), 64);
    bool was_held = false;
    CHILD_CHECK(vmux_lock_release(l, &was_held) == 0 && was_held, 63);
    vmux_lock_free(l);
    vmux_close(own);
#endif
}

/*
 * The child's pattern calls on the parent's objects: each fails at once with VMUX_ERR_FORKED (a
 * non-strict cache runs the loader instead, in this process), and the frees return, without
 * waiting for a lock a parent thread held at the fork, a flight a parent thread leads, or the
 * renewal thread, none of which exists here.
 */
static void patterns_child(struct pat_busy *b, bool fresh)
{
    alarm(30); /* a child stuck on a lock dies, and the parent sees it */
    vmux_str key = VMUX_STR(b->key);
    bool acquired = true, flag = true;
    uint64_t fence = 1;
    CHILD_CHECK(vmux_lock_acquire(b->churn, &acquired, &fence) == VMUX_ERR_FORKED, 31);
    CHILD_CHECK(!acquired && fence == 0, 32);
    CHILD_CHECK(vmux_lock_acquire_wait(b->churn, 100, &acquired, NULL) == VMUX_ERR_FORKED, 33);
    CHILD_CHECK(vmux_lock_extend(b->held, 0, &flag) == VMUX_ERR_FORKED && !flag, 34);
    flag = true;
    CHILD_CHECK(vmux_lock_release(b->churn, &flag) == VMUX_ERR_FORKED && !flag, 35);
    CHILD_CHECK(vmux_lock_release(b->held, NULL) == VMUX_ERR_FORKED, 36);
    CHILD_CHECK(!vmux_lock_held(b->held) && vmux_lock_fence(b->held) == 0, 37);
    vmux_lock *l = NULL;
    vmux_lock_opts o = renewing(1000);
    CHILD_CHECK(vmux_lock_new(b->m, key, &o, &l) == VMUX_ERR_FORKED && l == NULL, 38);
    vmux_lock_free(b->churn); /* the renewer is not waited for, nothing is freed */
    vmux_lock_free(b->held);

    vmux_bytes v = {0};
    CHILD_CHECK(vmux_cache_get(b->strict, key, slow_loader, &b->loads, 0, &v) == VMUX_ERR_FORKED,
                40);
    CHILD_CHECK(v.ptr == NULL, 41);
    if (ALLOC_AFTER_BUSY_FORK) { /* fails open: this process's load, shared with nobody */
        unsigned long loads = atomic_load(&b->loads);
        CHILD_CHECK(vmux_cache_get(b->cache, key, slow_loader, &b->loads, 0, &v) == 0, 42);
        CHILD_CHECK(v.ptr != NULL && strcmp(v.ptr, "loaded") == 0, 43);
        CHILD_CHECK(atomic_load(&b->loads) == loads + 1, 44);
        vmux_bytes_free(&v);
    }
    CHILD_CHECK(vmux_cache_invalidate(b->cache, key) == VMUX_ERR_FORKED, 45);
    vmux_cache *c = NULL;
    CHILD_CHECK(vmux_cache_new(b->m, NULL, &c) == VMUX_ERR_FORKED && c == NULL, 46);
    vmux_cache_free(b->cache);
    vmux_cache_free(b->strict);

    vmux_ratelimit_result r = VMUX_INIT(vmux_ratelimit_result);
    CHILD_CHECK(vmux_ratelimit_check(b->rl, key, 1, &r) == VMUX_ERR_FORKED, 50);
    int err = 0; /* fail-open, as for any error */
    CHILD_CHECK(vmux_ratelimit_allow(b->rl, key, 1, NULL, &err) && err == VMUX_ERR_FORKED, 51);
    CHILD_CHECK(vmux_ratelimit_reset(b->rl, key) == VMUX_ERR_FORKED, 52);
    vmux_ratelimit_opts ro = VMUX_INIT(vmux_ratelimit_opts, .limit = 1, .period_ms = 1000);
    vmux_ratelimit *rl = NULL; /* a new object on the inherited handle: refused at once */
    CHILD_CHECK(vmux_ratelimit_new(b->m, &ro, &rl) == VMUX_ERR_FORKED && rl == NULL, 53);
    vmux_session_store *ss = NULL;
    CHILD_CHECK(vmux_session_store_new(b->m, NULL, &ss) == VMUX_ERR_FORKED && ss == NULL, 54);
    vmux_leaderboard *lb = NULL;
    CHILD_CHECK(vmux_leaderboard_new(b->m, key, NULL, &lb) == VMUX_ERR_FORKED && lb == NULL, 55);

    fresh_lock_child(b->key, fresh);
    _exit(0);
}

/*
 * The patterns in a forked child: lock calls took the lock's mutexes (held by a parent thread at
 * the fork: the child waited forever), vmux_lock_free() waited for the renewal thread and joined
 * it (it does not exist in the child), a non-strict cache's miss waited for a flight led by a
 * parent thread (never finished there) or for the cache's lock, and a renewing lock made in the
 * child on its own handle was never renewed (the renewer's user count was the parent's).
 */
static void test_fork_patterns(void **state)
{
    (void)state;
    static struct pat_busy b;
    b.m = vt_open("plain", NULL);
    snprintf(b.key, sizeof b.key, "fork:%d:pat", (int)getpid());
    char held_key[80], churn_key[80];
    snprintf(held_key, sizeof held_key, "%s:held", b.key);
    snprintf(churn_key, sizeof churn_key, "%s:churn", b.key);
    vmux_lock_opts lo = renewing(5000); /* held throughout, on a busy machine too */
    assert_int_equal(vmux_lock_new(b.m, VMUX_STR(held_key), &lo, &b.held), 0);
    lo = renewing(300); /* scheduled and unscheduled at each turn */
    assert_int_equal(vmux_lock_new(b.m, VMUX_STR(churn_key), &lo, &b.churn), 0);
    bool acquired = false;
    assert_int_equal(vmux_lock_acquire(b.held, &acquired, NULL), 0);
    assert_true(acquired);
    vmux_cache_opts co = VMUX_INIT(vmux_cache_opts, .prefix = VMUX_STR("fork:c:"));
    assert_int_equal(vmux_cache_new(b.m, &co, &b.cache), 0);
    co.strict = true;
    assert_int_equal(vmux_cache_new(b.m, &co, &b.strict), 0);
    vmux_ratelimit_opts ro = VMUX_INIT(vmux_ratelimit_opts, .limit = 1000000, .period_ms = 60000);
    assert_int_equal(vmux_ratelimit_new(b.m, &ro, &b.rl), 0);

    void *(*mains[])(void *) = {churn_main, churn_main, lock_reader_main, cache_main, limiter_main};
    enum { NT = sizeof mains / sizeof mains[0] };
    pthread_t t[NT];
    for (int i = 0; i < NT; i++)
        assert_int_equal(pthread_create(&t[i], NULL, mains[i], &b), 0);
    assert_true(vt_wait_until(patterns_progress, &b, 10000));
    for (int round = 0; round < 4 * ROUNDS; round++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            patterns_child(&b, round % 10 == 0); /* two seconds each */
        expect_child_ok(pid, round);
    }
    atomic_store(&b.stop, true);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    assert_true(vmux_lock_held(b.held)); /* the parent's renewals went on */
    bool was_held = false;
    assert_int_equal(vmux_lock_release(b.held, &was_held), 0);
    assert_true(was_held);
    vmux_lock_free(b.held);
    vmux_lock_free(b.churn);
    vmux_cache_free(b.cache);
    vmux_cache_free(b.strict);
    vmux_ratelimit_free(b.rl);
    vmux_close(b.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_idle),       cmocka_unit_test(test_fork_from_callback),
        cmocka_unit_test(test_fork_under_load), cmocka_unit_test(test_fork_near_cache),
        cmocka_unit_test(test_fork_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

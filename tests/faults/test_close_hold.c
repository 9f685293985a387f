/*
 * vmux_close() waits for a call another thread has under way (client.h): each public call holds
 * the handle (vmux__hold()) from its first look at it until it has handed its command over, and
 * the I/O thread's shutdown, after which close frees the handle, waits until no caller holds it.
 *
 * Shown deterministically, one row per entry point, each on a fresh handle: thread A makes the
 * call with the pause armed, so that the call's first allocation (malloc or calloc, which this
 * file wraps with the linker's --wrap) stops A there, inside the call and holding the handle.
 * Thread C then runs vmux_close(). Once vmux_read_stats() says VMUX_ERR_CLOSED (close has begun),
 * close must still not return while A is paused: a lower bound (PAUSE_CHECK_MS), never an upper
 * one. Released, A's call returns VMUX_ERR_CLOSED (an async call refused so never runs its
 * callback; one accepted would have run it once, with VMUX_ERR_CLOSED), close returns, and nothing
 * leaks (the ASan build's leak check) or is read after it is freed.
 *
 * VT_PAUSE_TRACE=1 prints a backtrace where A pauses (build with -rdynamic, or use addr2line).
 */
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

/* How long close must keep waiting while A is paused; a bound a paused A can never break. */
#define PAUSE_CHECK_MS 300
/* Deadlines for what must happen (A pausing, close beginning, the control calls). */
#define WAIT_MS 10000
/* A paused thread goes on by itself after this long, so that a bug cannot hang CTest. */
#define PAUSE_LIMIT_S 30

/* ---- the pause: the armed thread's first malloc or calloc stops until released ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);

static _Thread_local bool armed;
static atomic_bool paused;        /* the armed thread is stopped in an allocation */
static atomic_bool pause_expired; /* it went on after PAUSE_LIMIT_S without being released */
static pthread_mutex_t pause_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cv = PTHREAD_COND_INITIALIZER;
static bool released; /* under pause_mu */

static void pause_here(void)
{
    if (!armed)
        return;
    armed = false; /* first, so that what follows allocates freely */
    if (getenv("VT_PAUSE_TRACE") != NULL) {
        void *frames[32];
        fprintf(stderr, "close_hold: paused here:\n");
        backtrace_symbols_fd(frames, backtrace(frames, 32), STDERR_FILENO);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PAUSE_LIMIT_S;
    int err = errno; /* the caller's errno is none of the pause's business */
    pthread_mutex_lock(&pause_mu);
    atomic_store(&paused, true);
    while (!released)
        if (pthread_cond_timedwait(&pause_cv, &pause_mu, &until) == ETIMEDOUT) {
            atomic_store(&pause_expired, true);
            break;
        }
    pthread_mutex_unlock(&pause_mu);
    errno = err;
}

void *__wrap_malloc(size_t size)
{
    pause_here();
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    pause_here();
    return __real_calloc(n, size);
}

static void pause_reset(void)
{
    pthread_mutex_lock(&pause_mu);
    released = false;
    atomic_store(&paused, false);
    atomic_store(&pause_expired, false);
    pthread_mutex_unlock(&pause_mu);
}

static void pause_release(void)
{
    pthread_mutex_lock(&pause_mu);
    released = true;
    pthread_cond_broadcast(&pause_cv);
    pthread_mutex_unlock(&pause_mu);
}

/* ---- one scenario ---- */

#define KEY "closehold:k"

struct scene {
    vmux *m;
    vmux_batch *batch; /* the batch rows' */
    vmux_sub *sub;     /* the unsubscribe row's */
    int port;          /* the server's, for vmux_call_node() (read before A is armed) */
    int nreads;        /* the near-cache row's reads so far: each reads a key of its own */
    int rc;            /* the call's return */
    atomic_int cb_runs;
    atomic_int cb_status;
    atomic_bool call_done; /* A's call returned */
    atomic_bool closed;    /* C's vmux_close() returned */
};

/* The callbacks of the async rows: each counts its runs and keeps the status. */
static void on_reply(int status, vmux_reply *reply, void *userdata)
{
    struct scene *s = userdata;
    vmux_reply_free(reply);
    atomic_store(&s->cb_status, status);
    atomic_fetch_add(&s->cb_runs, 1);
}

static void on_batch(size_t n, const int *statuses, vmux_reply **replies, void *userdata)
{
    struct scene *s = userdata;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        vmux_reply_free(replies[i]);
        if (first == 0)
            first = statuses[i];
    }
    atomic_store(&s->cb_status, first);
    atomic_fetch_add(&s->cb_runs, 1);
}

static void on_nodes(int status, vmux_node_replies *result, void *userdata)
{
    struct scene *s = userdata;
    vmux_node_replies_free(result);
    free(result); /* the callback owns the parts: the structure too */
    atomic_store(&s->cb_status, status);
    atomic_fetch_add(&s->cb_runs, 1);
}

static void on_message(const vmux_message *msg, void *userdata)
{
    (void)msg;
    (void)userdata;
}

/* ---- the entry points: each makes its call on s->m and returns its status ---- */

static const char *const GET_ARGV[] = {"GET", KEY};
static const char *const SET_ARGV[] = {"SET", KEY, "v"};
static const char *const PING_ARGV[] = {"PING"};

static int do_call(struct scene *s)
{
    vmux_reply *r = NULL;
    int rc = vmux_call(s->m, NULL, 2, GET_ARGV, NULL, &r);
    vmux_reply_free(r);
    return rc;
}

static int do_call_async(struct scene *s)
{
    return vmux_call_async(s->m, NULL, 2, GET_ARGV, NULL, on_reply, s);
}

static int do_call_forget(struct scene *s)
{
    return vmux_call_forget(s->m, NULL, 3, SET_ARGV, NULL);
}

static int do_command(struct scene *s)
{
    vmux_reply *r = NULL;
    int rc = vmux_command(s->m, &r, "GET %s", KEY);
    vmux_reply_free(r);
    return rc;
}

static int do_get_async(struct scene *s)
{
    return vmux_get_async(s->m, NULL, VMUX_STR(KEY), on_reply, s);
}

static int do_set(struct scene *s)
{
    bool was_set = false;
    return vmux_set(s->m, NULL, VMUX_STR(KEY), VMUX_STR("v"), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS,
                    &was_set);
}

/* A miss (a key not read before on this handle), which stores what it read after its wait. */
static int do_near_get(struct scene *s)
{
    char key[64];
    snprintf(key, sizeof key, "closehold:near:%d:%d", (int)getpid(), s->nreads++);
    vmux_bytes value;
    int rc = vmux_near_get(s->m, NULL, VMUX_STR(key), &value);
    vmux_bytes_free(&value);
    return rc;
}

static int do_batch(struct scene *s)
{
    int statuses[2];
    vmux_reply *replies[2] = {NULL, NULL};
    int rc = vmux_batch_exec(s->m, NULL, s->batch, statuses, replies);
    vmux_reply_free(replies[0]);
    vmux_reply_free(replies[1]);
    return rc;
}

static int do_batch_async(struct scene *s)
{
    return vmux_batch_exec_async(s->m, NULL, s->batch, on_batch, s);
}

static int do_call_nodes(struct scene *s)
{
    vmux_node_replies res;
    int rc = vmux_call_nodes(s->m, NULL, VMUX_NODES_PRIMARIES, 1, PING_ARGV, NULL, &res);
    vmux_node_replies_free(&res);
    return rc;
}

static int do_call_nodes_async(struct scene *s)
{
    return vmux_call_nodes_async(s->m, NULL, VMUX_NODES_PRIMARIES, 1, PING_ARGV, NULL, on_nodes, s);
}

static int do_call_node(struct scene *s)
{
    vmux_reply *r = NULL;
    int rc = vmux_call_node(s->m, NULL, "127.0.0.1", s->port, 1, PING_ARGV, NULL, &r);
    vmux_reply_free(r);
    return rc;
}

static int do_subscribe(struct scene *s)
{
    vmux_sub *sub = NULL; /* accepted while closing (a failure), close frees it */
    return vmux_subscribe(s->m, VMUX_SUB_CHANNEL, VMUX_STR("closehold:ch"), on_message, NULL, &sub);
}

static int do_unsubscribe(struct scene *s)
{
    return vmux_unsubscribe(s->m, s->sub); /* refused while closing: close frees it */
}

/* ---- the table ---- */

typedef struct row {
    const char *name;
    int (*call)(struct scene *s);
    bool async;   /* it takes a callback, which runs once if the call is accepted */
    bool control; /* make the call once on the open handle first: it must succeed */
} row;

static const row ROWS[] = {
    {"vmux_call", do_call, false, true},
    {"vmux_call_async", do_call_async, true, true},
    {"vmux_call_forget", do_call_forget, false, true},
    {"vmux_command", do_command, false, true},
    {"vmux_get_async", do_get_async, true, true},
    {"vmux_set", do_set, false, true},
    {"vmux_batch_exec", do_batch, false, true},
    {"vmux_batch_exec_async", do_batch_async, true, true},
    {"vmux_near_get", do_near_get, false, true},
    {"vmux_call_nodes", do_call_nodes, false, true},
    {"vmux_call_nodes_async", do_call_nodes_async, true, true},
    {"vmux_call_node", do_call_node, false, true},
    {"vmux_subscribe", do_subscribe, false, false},
    {"vmux_unsubscribe", do_unsubscribe, false, false},
};

/* ---- the threads and the conditions the test waits for ---- */

struct caller {
    struct scene *s;
    const row *r;
};

static void *armed_main(void *arg)
{
    struct caller *c = arg;
    armed = true;
    c->s->rc = c->r->call(c->s);
    armed = false; /* a call that made no allocation never paused */
    atomic_store(&c->s->call_done, true);
    return NULL;
}

static void *closer_main(void *arg)
{
    struct scene *s = arg;
    vmux_close(s->m);
    atomic_store(&s->closed, true);
    return NULL;
}

static bool is_paused(void *arg)
{
    struct scene *s = arg;
    return atomic_load(&paused) || atomic_load(&s->call_done);
}

static bool is_closed(void *arg)
{
    struct scene *s = arg;
    return atomic_load(&s->closed);
}

/* Close has begun (its handle refuses calls) or, a bug, has returned already. */
static bool close_begun(void *arg)
{
    struct scene *s = arg;
    if (atomic_load(&s->closed))
        return true;
    vmux_stats st = VMUX_INIT(vmux_stats);
    return vmux_read_stats(s->m, &st) == VMUX_ERR_CLOSED;
}

static bool cb_ran(void *arg)
{
    struct scene *s = arg;
    return atomic_load(&s->cb_runs) > 0;
}

/* The row's call made once on the open handle: it succeeds, so that its arguments are good and
 * the refusal below is the close's. */
static void control_call(struct scene *s, const row *r)
{
    int rc = r->call(s);
    if (rc != 0)
        fail_msg("%s on the open handle: %s", r->name, vmux_err_name(rc));
    if (r->async) {
        assert_true(vt_wait_until(cb_ran, s, WAIT_MS));
        assert_int_equal(atomic_load(&s->cb_status), 0);
        atomic_store(&s->cb_runs, 0);
    }
}

static void setup_scene(struct scene *s, const row *r)
{
    memset(s, 0, sizeof *s);
    s->m = vt_open("plain", r->call == do_near_get ? "nearCache=true" : NULL);
    s->port = vt_server_port("plain");
    assert_int_equal(vmux_batch_new(&s->batch), 0);
    assert_int_equal(vmux_batch_add(s->batch, 3, SET_ARGV, NULL), 0);
    assert_int_equal(vmux_batch_add(s->batch, 2, GET_ARGV, NULL), 0);
    if (r->control)
        control_call(s, r);
    if (r->call == do_unsubscribe)
        assert_int_equal(vmux_subscribe(s->m, VMUX_SUB_CHANNEL, VMUX_STR("closehold:ch"),
                                        on_message, NULL, &s->sub),
                         0);
}

/*
 * A's call while the handle closed: refused with VMUX_ERR_CLOSED, its callback never run; or, an
 * async call accepted, its callback ran exactly once with VMUX_ERR_CLOSED (close has returned,
 * so it has run by now).
 */
static void check_outcome(struct scene *s, const row *r)
{
    int runs = atomic_load(&s->cb_runs);
    if (r->async && s->rc == 0) {
        assert_int_equal(runs, 1);
        if (atomic_load(&s->cb_status) != VMUX_ERR_CLOSED)
            fail_msg("%s accepted while closing: its callback had %s, not VMUX_ERR_CLOSED", r->name,
                     vmux_err_name(atomic_load(&s->cb_status)));
        return;
    }
    if (s->rc != VMUX_ERR_CLOSED)
        fail_msg("%s while closing returned %s, not VMUX_ERR_CLOSED", r->name,
                 vmux_err_name(s->rc));
    assert_int_equal(runs, 0);
}

static void test_row(void **state)
{
    const row *r = *state;
    struct scene s;
    setup_scene(&s, r);
    pause_reset();
    struct caller c = {&s, r};
    pthread_t a, closer;
    assert_int_equal(pthread_create(&a, NULL, armed_main, &c), 0);
    /* 1. A pauses inside the call (its first allocation) */
    bool a_paused = vt_wait_until(is_paused, &s, WAIT_MS) && !atomic_load(&s.call_done);
    if (!a_paused) {
        pause_release();
        pthread_join(a, NULL);
        vmux_close(s.m);
        vmux_batch_free(s.batch);
        fail_msg("%s returned (%s) without allocating: it never paused", r->name,
                 vmux_err_name(s.rc));
    }
    /* 2. C closes the handle; 3. once close has begun, it must not return while A is paused */
    assert_int_equal(pthread_create(&closer, NULL, closer_main, &s), 0);
    bool begun = vt_wait_until(close_begun, &s, WAIT_MS);
    bool waited = begun && !vt_wait_until(is_closed, &s, PAUSE_CHECK_MS);
    bool still_paused = atomic_load(&paused) && !atomic_load(&pause_expired);
    if (begun && !waited) /* said now: released, A may read the freed handle (ASan stops there) */
        print_error("%s: vmux_close() returned while a caller was paused inside the call\n",
                    r->name);
    /* 4. released, A's call is refused and close returns */
    pause_release();
    pthread_join(a, NULL);
    pthread_join(closer, NULL);
    vmux_batch_free(s.batch);
    if (!begun)
        fail_msg("%s: vmux_read_stats() never said VMUX_ERR_CLOSED while closing", r->name);
    if (!waited)
        fail_msg("%s: vmux_close() did not wait for the paused caller (above)", r->name);
    assert_true(still_paused); /* released by the test, not by the pause's own limit */
    check_outcome(&s, r);
}

int main(void)
{
    struct CMUnitTest tests[sizeof ROWS / sizeof ROWS[0]];
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++)
        tests[i] = (struct CMUnitTest){ROWS[i].name, test_row, NULL, NULL, (void *)&ROWS[i]};
    return cmocka_run_group_tests_name("close_hold", tests, NULL, NULL);
}

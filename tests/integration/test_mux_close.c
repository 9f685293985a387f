/*
 * Closing a handle: every pending command completes exactly once (VMUX_ERR_CLOSED, or its reply
 * if that had already arrived), sync callers blocked in other threads wake with
 * VMUX_ERR_CLOSED, commands submitted from callbacks while close runs are refused, nothing runs
 * after close returns, and the server sees every connection go. Also idle, repeated and NULL
 * closes, and vmux_drain() before a close: every forgotten command ran (probe32: 135k to 195k of
 * 1M accepted vmux_call_forget() INCRs never reached the server when the handle was closed at
 * once), a drain times out while the server holds commands and ends once it answers them, and a
 * subscription does not hold it.
 *
 * "Pending" is made certain, not timed: the server holds the commands (CLIENT PAUSE ... WRITE,
 * which holds EVAL) until the test itself lifts the pause from another connection, after close
 * has returned and every outcome has been checked. No reply can arrive before close.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#endif
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
#include <dirent.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

/* HOLD_MS only bounds a pause that a test dying midway would leave; each test lifts its own. */
enum { NPENDING = 1000, NSYNC = 4, HOLD_MS = 300000, WAIT_MS = 10000 };

/*
 * A command whose reply is its argument, like ECHO, but that a WRITE pause holds: EVAL may
 * write, so the server keeps it unanswered until the pause is lifted.
 */
#define RETURN_ARG "return ARGV[1]"

/* Deadlines far beyond the test, so only close can end the pending commands. */
static const vmux_callopts LONG_OPTS = VMUX_INIT(vmux_callopts, .timeout_ms = 60000);

static vmux *open_named(const char *server, const char *name)
{
    char extra[128];
    snprintf(extra, sizeof extra, "name=%s", name);
    return vt_open(server, extra);
}

static void unique_name(char *buf, size_t size, const char *what)
{
    snprintf(buf, size, "vmux_%s_%d", what, (int)getpid());
}

/* ---- what the server sees ---- */

struct client_probe {
    const char *server;
    char needle[96]; /* "name=<name> " */
    const char *cmd; /* when not NULL, the client's line must also show " cmd=<cmd> " */
};

/* True when some line of CLIENT LIST shows the probe's client (doing probe->cmd, if given). */
static bool client_listed(const struct client_probe *p, bool *ok)
{
    char *list = vt_admin(p->server, "CLIENT LIST");
    *ok = list != NULL;
    bool found = false;
    for (char *line = list ? strtok(list, "\n") : NULL; line && !found; line = strtok(NULL, "\n"))
        found = strstr(line, p->needle) != NULL && (p->cmd == NULL || strstr(line, p->cmd));
    free(list);
    return found;
}

static bool client_gone(void *arg)
{
    bool ok;
    bool listed = client_listed(arg, &ok);
    return ok && !listed;
}

static bool client_present(void *arg)
{
    bool ok;
    return client_listed(arg, &ok);
}

static void probe_init(struct client_probe *p, const char *server, const char *name,
                       const char *cmd)
{
    p->server = server;
    snprintf(p->needle, sizeof p->needle, "name=%s ", name);
    p->cmd = cmd;
}

/* ---- pending async commands ---- */

struct pending {
    int index;
    const char *want; /* the reply that may arrive before close */
    struct tally *tally;
    atomic_int runs;
};

struct tally {
    vmux *m;
    atomic_int closed, replied, bad;
    atomic_int resubmit_refused, resubmit_other, late_runs;
};

static void late_cb(int status, vmux_reply *reply, void *userdata)
{
    struct tally *t = userdata;
    (void)status;
    vmux_reply_free(reply);
    atomic_fetch_add(&t->late_runs, 1);
}

/* Close has started when a command completes with VMUX_ERR_CLOSED: submitting must fail now. */
static void try_resubmit(struct tally *t)
{
    const char *argv[] = {"PING"};
    int rc = vmux_call_async(t->m, &LONG_OPTS, 1, argv, NULL, late_cb, t);
    atomic_fetch_add(rc == VMUX_ERR_CLOSED ? &t->resubmit_refused : &t->resubmit_other, 1);
}

static void pending_cb(int status, vmux_reply *reply, void *userdata)
{
    struct pending *p = userdata;
    struct tally *t = p->tally;
    size_t len = 0;
    const char *s = reply ? vmux_reply_str(reply, &len) : NULL;
    if (status == VMUX_ERR_CLOSED && reply == NULL) {
        atomic_fetch_add(&t->closed, 1);
        try_resubmit(t);
    } else if (status == 0 && s && len == strlen(p->want) && memcmp(s, p->want, len) == 0) {
        atomic_fetch_add(&t->replied, 1);
    } else {
        atomic_fetch_add(&t->bad, 1);
        fprintf(stderr, "command %d: got %s\n", p->index, vmux_err_name(status));
    }
    vmux_reply_free(reply);
    atomic_fetch_add(&p->runs, 1);
}

static struct pending *pending_new(struct tally *t, int n, const char *want)
{
    struct pending *p = calloc((size_t)n, sizeof *p);
    assert_non_null(p);
    for (int i = 0; i < n; i++) {
        p[i].index = i;
        p[i].want = want;
        p[i].tally = t;
        atomic_init(&p[i].runs, 0);
    }
    return p;
}

static void tally_init(struct tally *t, vmux *m)
{
    memset(t, 0, sizeof *t);
    t->m = m;
}

static int runs_not_once(struct pending *p, int n)
{
    int wrong = 0;
    for (int i = 0; i < n; i++)
        wrong += atomic_load(&p[i].runs) != 1;
    return wrong;
}

/* ---- sync callers blocked in other threads ---- */

struct sync_caller {
    vmux *m;
    int id;
    pthread_t thread;
    atomic_int tid;
    atomic_bool calling;
    int rc;
    bool out_null;
};

static void *sync_caller_main(void *arg)
{
    struct sync_caller *c = arg;
    char word[32];
    snprintf(word, sizeof word, "sync%d", c->id);
    const char *argv[] = {"EVAL", RETURN_ARG, "0", word};
    vmux_reply *r = NULL;
    atomic_store(&c->tid, (int)syscall(SYS_gettid));
    atomic_store(&c->calling, true);
    c->rc = vmux_call(c->m, &LONG_OPTS, 4, argv, NULL, &r);
    c->out_null = r == NULL;
    vmux_reply_free(r);
    return NULL;
}

/* True once every caller has entered vmux_call and sleeps there, waiting for its reply. */
static bool callers_blocked(void *arg)
{
    struct sync_caller *c = arg;
    for (int i = 0; i < NSYNC; i++)
        if (!atomic_load(&c[i].calling) || vt_thread_state(atomic_load(&c[i].tid)) != 'S')
            return false;
    return true;
}

static void start_sync_callers(struct sync_caller *c, vmux *m)
{
    for (int i = 0; i < NSYNC; i++) {
        c[i] = (struct sync_caller){.m = m, .id = i};
        atomic_init(&c[i].tid, 0);
        atomic_init(&c[i].calling, false);
        assert_int_equal(pthread_create(&c[i].thread, NULL, sync_caller_main, &c[i]), 0);
    }
    assert_true(vt_wait_until(callers_blocked, c, WAIT_MS));
}

/* ---- tests ---- */

/* Lifts the pause from a connection of its own (also a teardown: a failed test leaves none). */
static int unpause_server(void **state)
{
    (void)state;
    char *r = vt_admin("pause", "CLIENT UNPAUSE");
    bool ok = r != NULL && strcmp(r, "OK") == 0;
    free(r);
    return ok ? 0 : -1;
}

static void test_close_null(void **state)
{
    (void)state;
    vmux_close(NULL);
}

/* The handle's I/O thread carries its name (docs/serverless.md) and is gone when close returns. */
static void test_close_idle(void **state)
{
    (void)state;
    char name[64];
    unique_name(name, sizeof name, "idle");
    int io_threads = vt_threads_named("vmux-io");
    assert_true(io_threads >= 0);
    vmux *m = open_named("pause", name);
    assert_int_equal(vt_threads_named("vmux-io"), io_threads + 1);
    struct client_probe probe;
    probe_init(&probe, "pause", name, NULL);
    assert_true(client_present(&probe));
    vmux_close(m);
    assert_int_equal(vt_threads_named("vmux-io"), io_threads); /* joined */
    assert_true(vt_wait_until(client_gone, &probe, WAIT_MS));
}

static void test_open_close_repeated(void **state)
{
    (void)state;
    char name[64];
    unique_name(name, sizeof name, "repeat");
    for (int i = 0; i < 50; i++) {
        vmux *m = open_named("pause", name);
        const char *argv[] = {"ECHO", "again"};
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(m, NULL, 2, argv, NULL, &r), 0);
        assert_string_equal(vmux_reply_str(r, NULL), "again");
        vmux_reply_free(r);
        vmux_close(m);
    }
    struct client_probe probe;
    probe_init(&probe, "pause", name, NULL);
    assert_true(vt_wait_until(client_gone, &probe, WAIT_MS));
}

static void submit_pending(vmux *m, struct pending *p, int n, const char *const *argv, int argc)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(vmux_call_async(m, &LONG_OPTS, argc, argv, NULL, pending_cb, &p[i]), 0);
}

/* From here until unpause_server(), the server answers no write, EVAL included. */
static void pause_writes(void)
{
    char *r = vt_admin("pause", "CLIENT PAUSE %d WRITE", HOLD_MS);
    assert_non_null(r);
    assert_string_equal(r, "OK");
    free(r);
}

static void test_close_fails_everything_pending(void **state)
{
    (void)state;
    char name[64];
    unique_name(name, sizeof name, "pending");
    vmux *m = open_named("pause", name);
    struct tally t;
    tally_init(&t, m);
    struct pending *p = pending_new(&t, NPENDING, "pending");
    struct sync_caller callers[NSYNC];

    pause_writes();
    const char *eval[] = {"EVAL", RETURN_ARG, "0", "pending"};
    submit_pending(m, p, NPENDING, eval, 4);
    start_sync_callers(callers, m);
    vmux_close(m);
    for (int i = 0; i < NSYNC; i++)
        assert_int_equal(pthread_join(callers[i].thread, NULL), 0);

    /* The server still holds every command: close alone ended them. */
    assert_int_equal(runs_not_once(p, NPENDING), 0);
    assert_int_equal(atomic_load(&t.bad), 0);
    assert_int_equal(atomic_load(&t.replied), 0);
    assert_int_equal(atomic_load(&t.closed), NPENDING);
    assert_int_equal(atomic_load(&t.resubmit_other), 0);
    assert_int_equal(atomic_load(&t.resubmit_refused), NPENDING);
    assert_int_equal(atomic_load(&t.late_runs), 0);
    for (int i = 0; i < NSYNC; i++) {
        assert_int_equal(callers[i].rc, VMUX_ERR_CLOSED);
        assert_true(callers[i].out_null);
    }
    free(p);

    /* Once the pause is lifted the server must find the connection gone, not waiting. */
    assert_int_equal(unpause_server(NULL), 0);
    struct client_probe probe;
    probe_init(&probe, "pause", name, NULL);
    assert_true(vt_wait_until(client_gone, &probe, WAIT_MS));
}

/*
 * Commands waiting in the backlog of a handle whose server is down (nothing listens on port 1)
 * were never written: the close that ends them says so in their words, not the code's "a command
 * it had sent may have run" (review helper-244 F4), and the callback still gets no reply.
 */
static void test_close_words_never_sent(void **state)
{
    (void)state;
    vmux *m = NULL;
    char err[256] = "";
    assert_int_equal(vmux_open_str("127.0.0.1:1,abortConnect=false,reconnectMin=20,"
                                   "reconnectMax=200,asyncTimeout=600000",
                                   &m, err, sizeof err),
                     0);
    enum { N = 3 };
    static struct vt_async got[N];
    const char *argv[] = {"ECHO", "never"};
    for (int i = 0; i < N; i++) {
        memset(&got[i], 0, sizeof got[i]);
        assert_int_equal(vmux_call_async(m, NULL, 2, argv, NULL, vt_on_async, &got[i]), 0);
    }
    vmux_close(m);
    for (int i = 0; i < N; i++) {
        assert_true(atomic_load(&got[i].done));
        assert_int_equal(got[i].status, VMUX_ERR_CLOSED);
        assert_null(got[i].reply);
        if (strstr(got[i].words, "never sent, not executed") == NULL)
            fail_msg("a backlogged command's words at close: \"%s\"", got[i].words);
    }
}

/* A BLPOP that never returns, with commands behind it; close must still end them all. */
static void test_close_behind_blocking_command(void **state)
{
    (void)state;
    char name[64], key[64], list[64];
    unique_name(name, sizeof name, "blpop");
    snprintf(key, sizeof key, "mcl:%d:key", (int)getpid());
    snprintf(list, sizeof list, "mcl:%d:nosuchlist", (int)getpid());
    vmux *m = open_named("pause", name);
    const char *set[] = {"SET", key, "value"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, set, NULL, &r), 0);
    vmux_reply_free(r);

    struct tally t;
    tally_init(&t, m);
    struct pending *blpop = pending_new(&t, 1, "never");
    struct pending *gets = pending_new(&t, NPENDING, "value");
    const char *blpop_argv[] = {"BLPOP", list, "0"};
    submit_pending(m, blpop, 1, blpop_argv, 3);
    struct client_probe blocked;
    probe_init(&blocked, "pause", name, " cmd=blpop ");
    assert_true(vt_wait_until(client_present, &blocked, WAIT_MS));
    const char *get[] = {"GET", key};
    submit_pending(m, gets, NPENDING, get, 2);
    vmux_close(m);

    assert_int_equal(atomic_load(&blpop[0].runs), 1);
    assert_int_equal(runs_not_once(gets, NPENDING), 0);
    assert_int_equal(atomic_load(&t.bad), 0);
    /* Nobody pushes to the list: the BLPOP can only have been closed. */
    assert_int_equal(atomic_load(&t.closed) + atomic_load(&t.replied), NPENDING + 1);
    assert_true(atomic_load(&t.closed) >= 1);
    assert_int_equal(atomic_load(&t.resubmit_other), 0);
    assert_int_equal(atomic_load(&t.late_runs), 0);
    free(blpop);
    free(gets);

    struct client_probe probe;
    probe_init(&probe, "pause", name, NULL);
    assert_true(vt_wait_until(client_gone, &probe, WAIT_MS));
}

/* ---- callers racing vmux_close() ---- */

enum { NRACERS = 8, RACE_ROUNDS = 20 };

struct race {
    vmux *m;
    char key[64];
    atomic_int started, stopped; /* racer threads that began calling, and that saw CLOSED */
    atomic_int accepted, completed, bad;
};

static void race_done(int status, vmux_reply *reply, void *arg)
{
    struct race *r = arg;
    vmux_reply_free(reply);
    if (status != 0 && status != VMUX_ERR_CLOSED) {
        print_message("async racer's completion: %s\n", vmux_err_name(status));
        atomic_fetch_add(&r->bad, 1);
    }
    atomic_fetch_add(&r->completed, 1);
}

/* Even racers call synchronously, odd ones asynchronously, until the handle says CLOSED. */
static void *racer(void *arg)
{
    struct race *r = arg;
    static atomic_int next;
    bool sync = atomic_fetch_add(&next, 1) % 2 == 0;
    const char *get[] = {"GET", r->key};
    atomic_fetch_add(&r->started, 1);
    for (;;) {
        int rc;
        if (sync) {
            vmux_reply *reply = NULL;
            rc = vmux_call(r->m, NULL, 2, get, NULL, &reply);
            vmux_reply_free(reply);
        } else if ((rc = vmux_call_async(r->m, NULL, 2, get, NULL, race_done, r)) == 0) {
            atomic_fetch_add(&r->accepted, 1);
        }
        if (rc == VMUX_ERR_CLOSED)
            break;
        if (rc != 0 && rc != VMUX_ERR_BACKLOG_FULL) { /* a flood of async calls meets maxPending */
            print_message("racer: %s\n", vmux_err_name(rc));
            atomic_fetch_add(&r->bad, 1);
        }
    }
    atomic_fetch_add(&r->stopped, 1);
    return NULL;
}

static bool racers_stopped(void *arg)
{
    return atomic_load(&((struct race *)arg)->stopped) == NRACERS;
}

/* The BLPOP's completion (CLOSED, during the shutdown): holds vmux_close() until every racer
 * has seen CLOSED and stopped calling, so that no call of theirs comes after close returns. */
static void hold_close(int status, vmux_reply *reply, void *arg)
{
    struct race *r = arg;
    vmux_reply_free(reply);
    if (status != VMUX_ERR_CLOSED || !vt_wait_until(racers_stopped, r, WAIT_MS)) {
        print_message("BLPOP: %s, %d racers stopped\n", vmux_err_name(status),
                      atomic_load(&r->stopped));
        atomic_fetch_add(&r->bad, 1);
    }
}

static bool racers_started(void *arg)
{
    return atomic_load(&((struct race *)arg)->started) == NRACERS;
}

/*
 * Threads calling (sync and async) while another closes: each call returns its reply or
 * VMUX_ERR_CLOSED, every accepted async call completes once, nothing crashes (a sync call that
 * wrote through the direct lane as the I/O thread shut down read a NULL link), and under the
 * sanitizers nothing reads the handle after it is freed.
 */
static void test_close_while_callers_call(void **state)
{
    (void)state;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        struct race r = {0};
        snprintf(r.key, sizeof r.key, "mcl:%d:race", (int)getpid());
        char name[64], list[64];
        unique_name(name, sizeof name, "race");
        r.m = open_named("pause", name);
        snprintf(list, sizeof list, "mcl:%d:race:nolist", (int)getpid());
        const char *blpop[] = {"BLPOP", list, "0"};
        vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 600000);
        assert_int_equal(vmux_call_async(r.m, &o, 3, blpop, NULL, hold_close, &r), 0);
        /* blocked on its pool connection, which closes after every other */
        struct client_probe blocked;
        probe_init(&blocked, "pause", name, " cmd=blpop ");
        assert_true(vt_wait_until(client_present, &blocked, WAIT_MS));
        pthread_t t[NRACERS];
        for (int i = 0; i < NRACERS; i++)
            assert_int_equal(pthread_create(&t[i], NULL, racer, &r), 0);
        assert_true(vt_wait_until(racers_started, &r, WAIT_MS));
        vmux_close(r.m);
        for (int i = 0; i < NRACERS; i++)
            pthread_join(t[i], NULL);
        assert_int_equal(atomic_load(&r.bad), 0);
        assert_int_equal(atomic_load(&r.completed), atomic_load(&r.accepted));
    }
}

/* ---- a process out of file descriptors ---- */

static int open_descriptors(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own descriptor */
}

/*
 * vmux_open() with only k more descriptors to spare, k = 0..15: each either opens a handle that
 * works, or fails with an error and a reason, and leaves no descriptor behind. (It returned 0
 * after freeing the handle when its loop could not be made, and the caller crashed on it.)
 */
static void msg_ignored(const vmux_message *msg, void *userdata)
{
    (void)msg;
    (void)userdata;
}

struct forgetter {
    vmux *m;
    const char *key;
    int accepted;
    pthread_t thread;
};

enum { NFORGET_THREADS = 4, NFORGET = 20000 };

static void *forget_main(void *arg)
{
    struct forgetter *f = arg;
    const char *incr[] = {"INCR", f->key};
    for (int i = 0; i < NFORGET; i++)
        f->accepted += vmux_call_forget(f->m, NULL, 2, incr, NULL) == 0;
    return NULL;
}

static void test_drain_then_close(void **state)
{
    (void)state;
    char key[64];
    unique_name(key, sizeof key, "drained");
    vmux *m = vt_open("pause", NULL);
    vmux_sub *sub = NULL; /* not a command: the drain does not wait for it */
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("drain:chan"), msg_ignored, NULL, &sub), 0);
    assert_int_equal(vmux_sub_wait_live(sub, WAIT_MS), 0);
    assert_int_equal(vmux_drain(m, 0), 0); /* nothing held */
    struct forgetter f[NFORGET_THREADS];
    for (int i = 0; i < NFORGET_THREADS; i++) {
        f[i] = (struct forgetter){.m = m, .key = key};
        assert_int_equal(pthread_create(&f[i].thread, NULL, forget_main, &f[i]), 0);
    }
    int accepted = 0;
    for (int i = 0; i < NFORGET_THREADS; i++) {
        assert_int_equal(pthread_join(f[i].thread, NULL), 0);
        accepted += f[i].accepted;
    }
    assert_int_equal(accepted, NFORGET_THREADS * NFORGET);
    assert_int_equal(vmux_drain(m, VMUX_FOREVER), 0);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_int_equal(st.pending, 0);
    vmux_close(m);
    char *n = vt_admin("pause", "GET %s", key);
    assert_non_null(n);
    assert_int_equal(atoi(n), accepted); /* every one ran */
    free(n);
    free(vt_admin("pause", "DEL %s", key));
}

/* A drain in a thread of its own, for a wait too long to add to the clock. */
struct drainer {
    vmux *m;
    pthread_t thread;
    atomic_int tid;
    atomic_bool done;
    int rc;
};

static void *drainer_main(void *arg)
{
    struct drainer *d = arg;
    atomic_store(&d->tid, (int)syscall(SYS_gettid));
    d->rc = vmux_drain(d->m, INT64_MAX);
    atomic_store(&d->done, true);
    return NULL;
}

/* True once the drainer sleeps in its wait, or has returned. */
static bool drainer_waits(void *arg)
{
    struct drainer *d = arg;
    int tid = atomic_load(&d->tid);
    return atomic_load(&d->done) || (tid != 0 && vt_thread_state(tid) == 'S');
}

static void test_drain_waits_for_replies(void **state)
{
    (void)state;
    vmux *m = vt_open("pause", NULL);
    assert_int_equal(vmux_drain(NULL, 0), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_drain(m, -2), VMUX_ERR_INVALID_ARG);
    struct tally t;
    tally_init(&t, m);
    enum { N = 10 };
    struct pending *p = pending_new(&t, N, "held");
    pause_writes();
    const char *eval[] = {"EVAL", RETURN_ARG, "0", "held"};
    submit_pending(m, p, N, eval, 4);
    assert_int_equal(vmux_drain(m, 200), VMUX_ERR_TIMEOUT); /* the server holds them */
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_int_equal(st.pending, N);
    /* INT64_MAX ms waits as VMUX_FOREVER does (its deadline wrapped: TIMEOUT at once, probe34) */
    struct drainer d = {.m = m};
    assert_int_equal(pthread_create(&d.thread, NULL, drainer_main, &d), 0);
    assert_true(vt_wait_until(drainer_waits, &d, WAIT_MS));
    assert_false(atomic_load(&d.done));
    assert_int_equal(unpause_server(NULL), 0);
    assert_int_equal(pthread_join(d.thread, NULL), 0);
    assert_int_equal(d.rc, 0);
    assert_int_equal(vmux_drain(m, WAIT_MS), 0);
    assert_int_equal(atomic_load(&t.replied), N); /* each callback ran before its op was let go */
    assert_int_equal(runs_not_once(p, N), 0);
    vmux_close(m);
    free(p);
}

static void test_open_out_of_descriptors(void **state)
{
    (void)state;
    char *conf = vt_server_config("pause", "abortConnect=true,connectTimeout=2000");
    vmux_config *cfg = vt_config(conf);
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int failed = 0, opened = 0;
    for (int k = 0; k <= 15; k++) {
        int before = open_descriptors();
        struct rlimit low = {(rlim_t)(before + k), old.rlim_max};
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        vmux *m = NULL;
        char err[256] = "";
        int rc = vmux_open(cfg, &m, err, sizeof err);
        if (rc == 0) {
            const char *argv[] = {"ECHO", "fd"};
            vmux_reply *r = NULL;
            assert_int_equal(vmux_call(m, NULL, 2, argv, NULL, &r), 0);
            assert_string_equal(vmux_reply_str(r, NULL), "fd");
            vmux_reply_free(r);
            vmux_close(m);
            opened++;
        } else {
            assert_null(m);
            assert_true(err[0] != '\0');
            failed++;
        }
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        assert_int_equal(open_descriptors(), before);
    }
    assert_true(failed > 0); /* the first ones could not open */
    assert_true(opened > 0); /* and with enough room one did */
    vmux_config_free(cfg);
    free(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_null),
        cmocka_unit_test(test_close_idle),
        cmocka_unit_test(test_open_close_repeated),
        cmocka_unit_test_teardown(test_close_fails_everything_pending, unpause_server),
        cmocka_unit_test(test_close_words_never_sent),
        cmocka_unit_test(test_close_behind_blocking_command),
        cmocka_unit_test(test_close_while_callers_call),
        cmocka_unit_test(test_drain_then_close),
        cmocka_unit_test_teardown(test_drain_waits_for_replies, unpause_server),
        cmocka_unit_test(test_open_out_of_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

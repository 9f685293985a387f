/*
 * Asynchronous commands: 100,000 in flight at once from 4 threads, each callback checking that
 * its reply belongs to its own command and running exactly once; fire-and-forget commands
 * written in order before a later synchronous call; and callbacks on the I/O thread that
 * submit follow-up commands (and may not block in vmux_call).
 */
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
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

enum { NTHREADS = 4, PER_THREAD = 25000, TOTAL = NTHREADS * PER_THREAD, NKEYS = 8 };

/* Long enough for a sanitizer build on a busy machine: this file tests delivery, not speed. */
enum { WAIT_MS = 240000 };
static const char *const HANDLE_OPTS = "syncTimeout=60000,asyncTimeout=180000";

/* One async command: who sent it, and how many times its callback ran. */
struct slot {
    struct flood *flood;
    int thread, seq;
    atomic_int runs;
};

struct flood {
    vmux *m;
    int pid;
    struct slot *slots;
    atomic_int done;
    atomic_int mismatches;
    atomic_int submit_errors;
    atomic_flag reported;
};

struct submitter {
    struct flood *flood;
    int id;
    pthread_t thread;
};

static bool reply_is(int status, const vmux_reply *r, vmux_reply_kind kind, const char *want,
                     size_t wantlen)
{
    if (status != 0 || r == NULL || vmux_reply_get_kind(r) != kind)
        return false;
    size_t len = 0;
    const char *s = vmux_reply_str(r, &len);
    return s != NULL && len == wantlen && memcmp(s, want, len) == 0;
}

static size_t value_of(char *buf, size_t size, int t, int seq)
{
    return (size_t)snprintf(buf, size, "a%d:s%d", t, seq);
}

static void key_of(char *buf, size_t size, int pid, int t, int k)
{
    snprintf(buf, size, "ma:%d:%d:%d", pid, t, k);
}

/*
 * Command seq of a thread, in turn: SET key seq%8, GET of the key just set (which relies on one
 * thread's commands being written in order), and two ECHOs. Fills argv/argvlen (using the
 * buffers) and the expected reply.
 */
static int command_of(const struct slot *s, char *key, char *val, const char **argv,
                      size_t *argvlen, vmux_reply_kind *kind, char *want, size_t *wantlen)
{
    int which = s->seq % 4, k = (which == 1 ? s->seq - 1 : s->seq) % NKEYS;
    key_of(key, 64, s->flood->pid, s->thread, k);
    size_t vlen = value_of(val, 64, s->thread, s->seq);
    *kind = VMUX_REPLY_STRING;
    if (which == 0) {
        argv[0] = "SET", argv[1] = key, argv[2] = val;
        argvlen[0] = 3, argvlen[1] = strlen(key), argvlen[2] = vlen;
        *kind = VMUX_REPLY_STATUS;
        *wantlen = (size_t)snprintf(want, 64, "OK");
        return 3;
    }
    if (which == 1) {
        argv[0] = "GET", argv[1] = key;
        argvlen[0] = 3, argvlen[1] = strlen(key);
        *wantlen = value_of(want, 64, s->thread, s->seq - 1);
        return 2;
    }
    argv[0] = "ECHO", argv[1] = val;
    argvlen[0] = 4, argvlen[1] = vlen;
    *wantlen = (size_t)snprintf(want, 64, "%s", val);
    return 2;
}

/* Runs on the I/O thread: no cmocka assertions here, only counters. */
static void flood_cb(int status, vmux_reply *reply, void *userdata)
{
    struct slot *s = userdata;
    struct flood *f = s->flood;
    char key[64], val[64], want[64];
    const char *argv[3];
    size_t argvlen[3], wantlen = 0;
    vmux_reply_kind kind;
    command_of(s, key, val, argv, argvlen, &kind, want, &wantlen);
    if (!reply_is(status, reply, kind, want, wantlen)) {
        atomic_fetch_add(&f->mismatches, 1);
        if (!atomic_flag_test_and_set(&f->reported))
            fprintf(stderr, "thread %d seq %d (%s): want '%s', got %s %s\n", s->thread, s->seq,
                    argv[0], want, vmux_err_name(status),
                    reply ? vmux_reply_kind_name(vmux_reply_get_kind(reply)) : "(no reply)");
    }
    vmux_reply_free(reply);
    atomic_fetch_add(&s->runs, 1);
    atomic_fetch_add(&f->done, 1);
}

static void *submitter_main(void *arg)
{
    struct submitter *sub = arg;
    struct flood *f = sub->flood;
    for (int i = 0; i < PER_THREAD; i++) {
        struct slot *s = &f->slots[sub->id * PER_THREAD + i];
        char key[64], val[64], want[64];
        const char *argv[3];
        size_t argvlen[3], wantlen;
        vmux_reply_kind kind;
        int argc = command_of(s, key, val, argv, argvlen, &kind, want, &wantlen);
        if (vmux_call_async(f->m, NULL, argc, argv, argvlen, flood_cb, s) != 0) {
            atomic_fetch_add(&f->submit_errors, 1);
            atomic_fetch_add(&f->done, 1); /* its callback never runs */
        }
    }
    return NULL;
}

static bool flood_done(void *arg)
{
    struct flood *f = arg;
    return atomic_load(&f->done) >= TOTAL;
}

static struct flood *flood_new(void)
{
    struct flood *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->slots = calloc(TOTAL, sizeof *f->slots);
    assert_non_null(f->slots);
    f->pid = (int)getpid();
    atomic_flag_clear(&f->reported);
    for (int i = 0; i < TOTAL; i++) {
        f->slots[i].flood = f;
        f->slots[i].thread = i / PER_THREAD;
        f->slots[i].seq = i % PER_THREAD;
        atomic_init(&f->slots[i].runs, 0);
    }
    return f;
}

static void test_hundred_thousand_in_flight(void **state)
{
    (void)state;
    struct flood *f = flood_new();
    f->m = vt_open("plain", HANDLE_OPTS);

    struct submitter sub[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        sub[t] = (struct submitter){.flood = f, .id = t};
        assert_int_equal(pthread_create(&sub[t].thread, NULL, submitter_main, &sub[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++)
        assert_int_equal(pthread_join(sub[t].thread, NULL), 0);
    bool all = vt_wait_until(flood_done, f, WAIT_MS);
    /* Closing joins the I/O thread, so a second run of any callback would be counted by now. */
    vmux_close(f->m);

    assert_int_equal(atomic_load(&f->submit_errors), 0);
    assert_true(all);
    assert_int_equal(atomic_load(&f->done), TOTAL);
    assert_int_equal(atomic_load(&f->mismatches), 0);
    int wrong_runs = 0;
    for (int i = 0; i < TOTAL; i++)
        if (atomic_load(&f->slots[i].runs) != 1)
            wrong_runs++;
    assert_int_equal(wrong_runs, 0);
    free(f->slots);
    free(f);
}

/* ---- a flood of replies does not hold the deadline timers (probe35) ---- */

enum { FLOOD_N = 20000, FLOOD_SPIN_US = 50, HOLD_MS = 300, LATE_DEADLINE_MS = 100 };

struct slow_flood {
    vmux *m;
    int n, spin_us;          /* flood commands, and how long each callback takes */
    atomic_int done;         /* flood callbacks run */
    atomic_int late_rc;      /* the late command's submission */
    atomic_int late_status;  /* its status; 1 until its callback runs */
    atomic_int done_at_late; /* flood callbacks run when it completed */
};

static void spin_us(int us)
{
    uint64_t until = vt_now_ns() + (uint64_t)us * 1000u;
    while (vt_now_ns() < until) {
    }
}

static void on_late(int status, vmux_reply *reply, void *userdata)
{
    struct slow_flood *f = userdata;
    vmux_reply_free(reply);
    atomic_store(&f->done_at_late, atomic_load(&f->done));
    atomic_store(&f->late_status, status);
}

/* Each takes 50 µs (20,000: 1 s); the first sends the late command, behind the whole burst. */
static void on_slow_flood(int status, vmux_reply *reply, void *userdata)
{
    struct slow_flood *f = userdata;
    (void)status;
    vmux_reply_free(reply);
    if (atomic_load(&f->done) == 0) {
        vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = LATE_DEADLINE_MS);
        const char *late[] = {"ECHO", "late"};
        atomic_store(&f->late_rc, vmux_call_async(f->m, &o, 2, late, NULL, on_late, f));
    }
    spin_us(f->spin_us);
    atomic_fetch_add(&f->done, 1);
}

static bool slow_flood_done(void *arg)
{
    struct slow_flood *f = arg;
    return atomic_load(&f->done) == f->n &&
           (atomic_load(&f->late_rc) != 0 || atomic_load(&f->late_status) != 1);
}

/* Sends n commands behind a WAIT of HOLD_MS, each callback taking spin_us, and waits for all. */
static void run_slow_flood(struct slow_flood *f, int n, int spin_us)
{
    *f = (struct slow_flood){.n = n, .spin_us = spin_us, .late_status = 1, .done_at_late = -1};
    f->m = vt_open("plain", HANDLE_OPTS);
    char hold[16];
    snprintf(hold, sizeof hold, "%d", HOLD_MS);
    const char *wait[] = {"WAIT", "1", hold}; /* no replica: it returns 0 after HOLD_MS */
    assert_int_equal(vmux_call_forget(f->m, NULL, 3, wait, NULL), 0);
    const char *argv[] = {"ECHO", "flood"};
    for (int i = 0; i < n; i++)
        assert_int_equal(vmux_call_async(f->m, NULL, 2, argv, NULL, on_slow_flood, f), 0);
    assert_true(vt_wait_until(slow_flood_done, f, WAIT_MS));
    vmux_close(f->m);
}

/*
 * 20,000 replies come in one burst (a WAIT ahead of them holds the connection's commands in the
 * server for 300 ms), each callback taking 50 µs. The first callback sends a command with a
 * 100 ms deadline, which passes about 2,000 callbacks into the burst: it completes
 * VMUX_ERR_TIMEOUT long before the burst's end, because the loop dispatches a connection's
 * replies in slices and runs the deadline timers between them. Before, one loop turn
 * dispatched everything it read (up to 2 MiB): the command timed out only after the turn, some
 * 19,600 callbacks in.
 */
static void test_reply_flood_keeps_deadlines(void **state)
{
    (void)state;
    static struct slow_flood f;
    run_slow_flood(&f, FLOOD_N, FLOOD_SPIN_US);
    assert_int_equal(atomic_load(&f.late_rc), 0);
    if (atomic_load(&f.late_status) != VMUX_ERR_TIMEOUT ||
        atomic_load(&f.done_at_late) >= FLOOD_N / 2)
        fail_msg("the late command completed %s after %d of the %d flood callbacks",
                 vmux_err_name(atomic_load(&f.late_status)), atomic_load(&f.done_at_late), FLOOD_N);
}

/*
 * The same with slow callbacks, 10 ms each: the slice ends after the callback under way, not 32
 * replies later. The command with a 100 ms deadline completes VMUX_ERR_TIMEOUT some 10 callbacks
 * into the burst; it waited for 32 (320 ms) while the clock was read only every 32nd reply,
 * however long the callbacks took.
 */
enum { SLOW_N = 48, SLOW_SPIN_US = 10000, SLOW_LATE_MAX = 20 };

static void test_slow_callbacks_keep_deadlines(void **state)
{
    (void)state;
    static struct slow_flood f;
    run_slow_flood(&f, SLOW_N, SLOW_SPIN_US);
    assert_int_equal(atomic_load(&f.late_rc), 0);
    if (atomic_load(&f.late_status) != VMUX_ERR_TIMEOUT ||
        atomic_load(&f.done_at_late) > SLOW_LATE_MAX)
        fail_msg("the late command completed %s after %d of the %d slow callbacks",
                 vmux_err_name(atomic_load(&f.late_status)), atomic_load(&f.done_at_late), SLOW_N);
}

/* 10,000 INCRs nobody waits for, then a GET from the same thread sees all of them. */
static void test_forget_then_get(void **state)
{
    (void)state;
    enum { N = 10000 };
    vmux *m = vt_open("plain", HANDLE_OPTS);
    char key[64];
    snprintf(key, sizeof key, "mf:%d", (int)getpid());
    const char *del[] = {"DEL", key};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, del, NULL, &r), 0);
    vmux_reply_free(r);

    const char *incr[] = {"INCR", key};
    for (int i = 0; i < N; i++)
        assert_int_equal(vmux_call_forget(m, NULL, 2, incr, NULL), 0);
    const char *get[] = {"GET", key};
    r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, get, NULL, &r), 0);
    assert_non_null(r);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_STRING);
    assert_string_equal(vmux_reply_str(r, NULL), "10000");
    vmux_reply_free(r);
    vmux_close(m);
}

/* A failed command's callback finds its words in vmux_last_error(), as a sync errbuf would have
 * them; a server error still comes with its reply. */
static void test_failed_callback_has_words(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", HANDLE_OPTS);
    char key[64];
    snprintf(key, sizeof key, "mw:%d", (int)getpid());
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, (const char *[]){"LPUSH", key, "x"}, NULL, &r), 0);
    vmux_reply_free(r);
    struct vt_async a = {.status = 1};
    assert_int_equal(
        vmux_call_async(m, NULL, 2, (const char *[]){"GET", key}, NULL, vt_on_async, &a), 0);
    assert_true(vt_wait_until(vt_async_done, &a, WAIT_MS));
    assert_int_equal(a.status, VMUX_ERR_SERVER);
    assert_non_null(a.reply);
    assert_string_equal(a.words, vmux_reply_str(a.reply, NULL));
    assert_true(strncmp(a.words, "WRONGTYPE", 9) == 0);
    vmux_reply_free(a.reply);
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"DEL", key}, NULL, &r), 0);
    vmux_reply_free(r);
    vmux_close(m);
}

/* A chain of ECHOs, each submitted by the previous one's callback on the I/O thread. */
struct chain {
    vmux *m;
    int id, step;
    int sync_rc;          /* what vmux_call returned when tried on the I/O thread */
    bool sync_out_null;   /* and whether it left *out NULL */
    bool sync_worded;     /* and said why in its errbuf, as a typed call, a fan-out, a batch do */
    atomic_int forgotten; /* vmux_call_forget from the callback accepted */
    atomic_int bad;       /* wrong replies or refused submissions */
    atomic_bool finished;
};

enum { NCHAINS = 8, CHAIN_STEPS = 500 };

static int chain_submit(struct chain *c);

static bool chain_reply_ok(const struct chain *c, int status, const vmux_reply *reply)
{
    char want[64];
    size_t wantlen = (size_t)snprintf(want, sizeof want, "c%d:s%d", c->id, c->step);
    return reply_is(status, reply, VMUX_REPLY_STRING, want, wantlen);
}

/* The first step also checks what a blocking call does on the I/O thread. */
static void chain_try_sync(struct chain *c)
{
    const char *ping[] = {"PING"};
    vmux_reply *out = (vmux_reply *)&c->sync_rc; /* a non-NULL marker the call must clear */
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.errbuf = why;
    o.errlen = sizeof why;
    c->sync_rc = vmux_call(c->m, &o, 1, ping, NULL, &out);
    c->sync_out_null = out == NULL;
    vmux_reply_free(c->sync_rc == 0 || c->sync_rc == VMUX_ERR_SERVER ? out : NULL);
    bool generic = strstr(why, "from a vmux callback") != NULL;
    why[0] = '\0';
    int64_t n = 0;
    bool typed = vmux_incr(c->m, &o, VMUX_STR("mc:never"), &n) == VMUX_ERR_INVALID_ARG &&
                 strstr(why, "from a vmux callback") != NULL;
    why[0] = '\0';
    vmux_node_replies all = {0};
    bool fanout = vmux_call_nodes(c->m, &o, VMUX_NODES_PRIMARIES, 1, ping, NULL, &all) ==
                      VMUX_ERR_INVALID_ARG &&
                  strstr(why, "from a vmux callback") != NULL; /* probe34: it said nothing */
    why[0] = '\0';
    vmux_batch *b = NULL;
    int status = 0;
    bool batch = vmux_batch_new(&b) == 0 && vmux_batch_add(b, 1, ping, NULL) == 0 &&
                 vmux_batch_exec(c->m, &o, b, &status, NULL) == VMUX_ERR_INVALID_ARG &&
                 status == VMUX_ERR_INVALID_ARG && strstr(why, "from a vmux callback") != NULL;
    vmux_batch_free(b);
    c->sync_worded = generic && typed && fanout && batch;
}

static void chain_cb(int status, vmux_reply *reply, void *userdata)
{
    struct chain *c = userdata;
    if (!chain_reply_ok(c, status, reply))
        atomic_fetch_add(&c->bad, 1);
    vmux_reply_free(reply);
    if (c->step == 0)
        chain_try_sync(c);
    const char *incr[] = {"INCR", "mc:forgotten"};
    if (vmux_call_forget(c->m, NULL, 2, incr, NULL) == 0)
        atomic_fetch_add(&c->forgotten, 1);
    if (++c->step == CHAIN_STEPS) {
        atomic_store(&c->finished, true);
        return;
    }
    if (chain_submit(c) != 0) {
        atomic_fetch_add(&c->bad, 1);
        atomic_store(&c->finished, true);
    }
}

static int chain_submit(struct chain *c)
{
    char val[64];
    size_t vlen = (size_t)snprintf(val, sizeof val, "c%d:s%d", c->id, c->step);
    const char *argv[] = {"ECHO", val};
    size_t argvlen[] = {4, vlen};
    return vmux_call_async(c->m, NULL, 2, argv, argvlen, chain_cb, c);
}

static bool chains_finished(void *arg)
{
    struct chain *c = arg;
    for (int i = 0; i < NCHAINS; i++)
        if (!atomic_load(&c[i].finished))
            return false;
    return true;
}

static void test_callbacks_submit_follow_ups(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", HANDLE_OPTS);
    struct chain c[NCHAINS];
    for (int i = 0; i < NCHAINS; i++) {
        c[i] = (struct chain){.m = m, .id = i, .sync_rc = 1};
        atomic_init(&c[i].forgotten, 0);
        atomic_init(&c[i].bad, 0);
        atomic_init(&c[i].finished, false);
    }
    for (int i = 0; i < NCHAINS; i++)
        assert_int_equal(chain_submit(&c[i]), 0);
    bool all = vt_wait_until(chains_finished, c, WAIT_MS);
    vmux_close(m);

    assert_true(all);
    for (int i = 0; i < NCHAINS; i++) {
        assert_int_equal(atomic_load(&c[i].bad), 0);
        assert_int_equal(c[i].step, CHAIN_STEPS);
        assert_int_equal(atomic_load(&c[i].forgotten), CHAIN_STEPS);
        assert_int_equal(c[i].sync_rc, VMUX_ERR_INVALID_ARG);
        assert_true(c[i].sync_out_null);
        assert_true(c[i].sync_worded);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forget_then_get),
        cmocka_unit_test(test_failed_callback_has_words),
        cmocka_unit_test(test_callbacks_submit_follow_ups),
        cmocka_unit_test(test_hundred_thousand_in_flight),
        cmocka_unit_test(test_reply_flood_keeps_deadlines),
        cmocka_unit_test(test_slow_callbacks_keep_deadlines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

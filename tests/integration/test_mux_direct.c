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
 * And while a lone caller reads its own reply through the lane:
 * - an error reply (left to the I/O thread's rules) comes back as the server's error, and the
 *   calls after it get their own replies; a reply larger than one read (8 MiB) arrives whole;
 * - the I/O thread takes the connection back when it needs it: an async command with a short
 *   timeout times out while the reader still waits for its stopped server, and vmux_close()
 *   ends the reader's call with VMUX_ERR_CLOSED instead of waiting for its deadline;
 * - a command after the server hung up the idle connection (CLIENT KILL) is not written there:
 *   it runs on the next connection, never VMUX_ERR_CONNECTION_LOST; so does one the I/O thread
 *   writes itself (an async INCR submitted by a callback after the kill).
 */
#include <pthread.h>
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

enum { ROUNDS = 3000, BIG = 8 * 1024 * 1024, PAUSED_TIMEOUT_MS = 300, KILLS = 200 };

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

/* BIG bytes of letters, malloc'ed. */
static char *big_value(void)
{
    char *big = malloc(BIG);
    assert_non_null(big);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)('a' + i % 26);
    return big;
}

static void test_command_larger_than_the_socket(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "syncTimeout=30000");
    char *big = big_value();
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

static void test_error_replies_between_reads(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char key[64], val[32], err[128];
    snprintf(key, sizeof key, "direct:%d:err", (int)getpid());
    vmux_callopts opts = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    for (int i = 0; i < 200; i++) {
        snprintf(val, sizeof val, "v%d", i);
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(m, NULL, 3, (const char *[]){"SET", key, val}, NULL, &r), 0);
        vmux_reply_free(r);
        assert_int_equal(vmux_call(m, &opts, 3, (const char *[]){"LPUSH", key, "x"}, NULL, &r),
                         VMUX_ERR_SERVER);
        assert_non_null(strstr(err, "WRONGTYPE"));
        vmux_reply_free(r);
        assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"GET", key}, NULL, &r), 0);
        assert_string_equal(vmux_reply_str(r, NULL), val);
        vmux_reply_free(r);
    }
    vmux_call_forget(m, NULL, 2, (const char *[]){"DEL", key}, NULL);
    vmux_close(m);
}

static void test_reply_larger_than_one_read(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "syncTimeout=30000");
    char *big = big_value();
    char key[64];
    snprintf(key, sizeof key, "direct:%d:bigread", (int)getpid());
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, (const char *[]){"SET", key, big},
                               (const size_t[]){3, strlen(key), BIG}, &r),
                     0);
    vmux_reply_free(r);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"GET", key}, NULL, &r), 0);
        size_t len = 0;
        const char *got = vmux_reply_str(r, &len);
        assert_int_equal(len, BIG);
        assert_memory_equal(got, big, BIG);
        vmux_reply_free(r);
        assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"ECHO", "next"}, NULL, &r), 0);
        assert_string_equal(vmux_reply_str(r, NULL), "next");
        vmux_reply_free(r);
    }
    vmux_call_forget(m, NULL, 2, (const char *[]){"DEL", key}, NULL);
    free(big);
    vmux_close(m);
}

/* A lone caller waiting for a stopped server: what its call returned, once it has. */
struct reader {
    vmux *m;
    pthread_t thread;
    atomic_bool returned;
    int rc;
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    vmux_callopts slow = VMUX_INIT(vmux_callopts, .timeout_ms = 60000);
    vmux_reply *r = NULL;
    rd->rc = vmux_call(rd->m, &slow, 2, (const char *[]){"GET", "k"}, NULL, &r);
    vmux_reply_free(r);
    atomic_store(&rd->returned, true);
    return NULL;
}

/* Opens a handle on a fresh server s, warms the lane with a few calls, stops the server and
 * starts a reader thread whose GET waits on it. */
static void start_stopped_reader(vt_server *s, struct reader *rd)
{
    assert_int_equal(vt_server_start(s, 0, NULL), 0);
    char *conf = vt_server_conf(s, NULL);
    char err[256];
    assert_int_equal(vmux_open_str(conf, &rd->m, err, sizeof err), 0);
    free(conf);
    for (int i = 0; i < 10; i++) {
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(rd->m, NULL, 3, (const char *[]){"SET", "k", "v"}, NULL, &r), 0);
        vmux_reply_free(r);
    }
    kill(s->pid, SIGSTOP);
    atomic_store(&rd->returned, false);
    assert_int_equal(pthread_create(&rd->thread, NULL, reader_main, rd), 0);
    /* The reader's command is admitted once the handle counts it pending. */
    vmux_stats st = VMUX_INIT(vmux_stats);
    uint64_t until = vt_now_ms() + 10000;
    do {
        assert_int_equal(vmux_read_stats(rd->m, &st), 0);
        assert_true(vt_now_ms() < until);
    } while (st.pending == 0);
}

static atomic_int async_status = 1;

static void on_async(int status, vmux_reply *reply, void *userdata)
{
    (void)userdata;
    vmux_reply_free(reply);
    atomic_store(&async_status, status);
}

static void test_io_thread_takes_the_lane_back(void **state)
{
    (void)state;
    vt_server s;
    struct reader rd = {0};
    start_stopped_reader(&s, &rd);
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 200);
    atomic_store(&async_status, 1);
    assert_int_equal(
        vmux_call_async(rd.m, &quick, 2, (const char *[]){"GET", "k2"}, NULL, on_async, NULL), 0);
    uint64_t until = vt_now_ms() + 20000;
    while (atomic_load(&async_status) == 1)
        assert_true(vt_now_ms() < until);
    assert_int_equal(atomic_load(&async_status), VMUX_ERR_TIMEOUT);
    assert_false(atomic_load(&rd.returned)); /* its deadline is a minute away */

    vmux_close(rd.m); /* takes the connection back from the reader, which is told so */
    pthread_join(rd.thread, NULL);
    assert_int_equal(rd.rc, VMUX_ERR_CLOSED);
    kill(s.pid, SIGCONT);
    vt_server_stop(&s);
}

/* CLIENT ID of the handle's shared connection, through the handle (the lane, when it may). */
static long long conn_id(vmux *m)
{
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"CLIENT", "ID"}, NULL, &r), 0);
    long long id = (long long)vmux_reply_integer(r);
    vmux_reply_free(r);
    return id;
}

/* A handle that reconnects at once, and a fresh counter key named after what. */
static vmux *hup_open(char *key, size_t cap, const char *what)
{
    snprintf(key, cap, "direct:%s:%ld", what, (long)getpid());
    free(vt_admin("plain", "DEL %s", key));
    return vt_open("plain", "reconnectMin=5,reconnectMax=20");
}

/* The outcomes of the INCRs written after a kill: OK (run) or CONNECTION_LOST (unknown). */
struct tally {
    int ok, lost;
};

static void tally_add(struct tally *t, int rc, const char *why)
{
    t->ok += rc == 0;
    t->lost += rc == VMUX_ERR_CONNECTION_LOST;
    if (rc == VMUX_ERR_CONNECTION_LOST && t->lost == 1)
        printf("the first lost: %s\n", why);
    if (rc != 0 && rc != VMUX_ERR_CONNECTION_LOST)
        fail_msg("INCR after a kill: %s (%s)", vmux_err_name(rc), why);
}

/* Every INCR answered OK ran once, and none came back lost: the counter says which ran. */
static void tally_check(const struct tally *t, const char *what, const char *key)
{
    char *n = vt_admin("plain", "GET %s", key);
    printf("%d %s after a kill: %d OK, %d CONNECTION_LOST; the counter: %s\n", KILLS, what, t->ok,
           t->lost, n != NULL ? n : "?");
    int counter = n != NULL ? atoi(n) : -1; /* "(nil)": 0 */
    free(n);
    assert_int_equal(counter, t->ok);
    assert_int_equal(t->lost, 0);
}

/*
 * The server closes the lone caller's idle connection (CLIENT KILL, answered once the server has
 * closed it), and the caller's next command, not retry-safe,
 * is an INCR: the lane finds the hang-up and leaves the INCR to the queue path, so it runs on
 * the next connection. The lane wrote it on the closed connection before: 37 of 200 came back
 * VMUX_ERR_CONNECTION_LOST, none of them run; with the lane's check alone, an INCR the I/O thread
 * wrote still could (6 of 200 once under TSan, 2 of 200 once in the plain build). None may now,
 * and the counter says exactly which ran: those answered OK.
 */
static void test_command_after_the_server_hung_up(void **state)
{
    (void)state;
    char key[64];
    vmux *m = hup_open(key, sizeof key, "hup");
    struct tally t = {0};
    for (int i = 0; i < KILLS; i++) {
        long long id = conn_id(m);
        uint64_t back = vt_now_ns(); /* the lane was given back before this */
        free(vt_admin("plain", "CLIENT KILL ID %lld", id));
        /* The lane asks only a connection given back 20 us ago or more (lane.c, LANE_FRESH_NS:
         * back-to-back calls skip the check); a kill answered sooner, on a fast loopback, would
         * be written into unasked. Waited for by the clock, a condition of the rule tested. */
        while (vt_now_ns() - back < 2 * 20000)
            ;
        vmux_reply *r = NULL;
        char why[512] = "";
        vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
        int rc = vmux_call(m, &o, 2, (const char *[]){"INCR", key}, NULL, &r);
        vmux_reply_free(r);
        tally_add(&t, rc, why);
    }
    tally_check(&t, "INCRs", key);
    vmux_close(m);
}

/* One round of test_async_command_after_the_server_hung_up: its INCR's outcome. */
struct hup_round {
    vmux *m;
    const char *key;
    atomic_int status; /* 1 until the INCR completes */
    char why[512];
};

static void on_hup_incr(int status, vmux_reply *reply, void *userdata)
{
    struct hup_round *h = userdata;
    vmux_reply_free(reply);
    if (status != 0)
        snprintf(h->why, sizeof h->why, "%s", vmux_last_error());
    atomic_store(&h->status, status);
}

/* Whether the server no longer lists client id (CLIENT LIST ID: no line once it is gone). */
static bool client_gone(long long id)
{
    char *list = vt_admin("plain", "CLIENT LIST ID %lld", id);
    bool gone = list != NULL && strstr(list, "id=") == NULL;
    free(list);
    return gone;
}

/*
 * On the I/O thread, with the CLIENT ID of the shared connection: the server closes that
 * connection, idle, and once it no longer lists it the INCR is submitted. The callback blocks
 * (a test's licence: the rule is "must not"), so the server's end arrives while the loop runs,
 * after its last poll: the INCR is queued in the same turn, before any read can see the end.
 */
static void on_hup_id(int status, vmux_reply *reply, void *userdata)
{
    struct hup_round *h = userdata;
    long long id = status == 0 ? (long long)vmux_reply_integer(reply) : -1;
    vmux_reply_free(reply);
    if (id >= 0) {
        free(vt_admin("plain", "CLIENT KILL ID %lld", id));
        uint64_t until = vt_now_ms() + 10000;
        while (!client_gone(id) && vt_now_ms() < until)
            ;
    }
    if (id < 0 || vmux_call_async(h->m, NULL, 2, (const char *[]){"INCR", h->key}, NULL,
                                  on_hup_incr, h) != 0) {
        snprintf(h->why, sizeof h->why, "CLIENT ID or the INCR's submission failed");
        atomic_store(&h->status, VMUX_ERR_INVALID_ARG);
    }
}

/*
 * The same for a command the I/O thread writes itself: an async callback has the server close
 * the idle connection, waits until the server no longer lists it, and submits an INCR. The I/O
 * thread wrote it on the closed connection, before its next read found the end: 200 of 200 came
 * back VMUX_ERR_CONNECTION_LOST, none of them run. It now asks the socket before writing on a
 * connection that has been idle: the INCR runs on the next connection, and the counter says so.
 */
static void test_async_command_after_the_server_hung_up(void **state)
{
    (void)state;
    char key[64];
    vmux *m = hup_open(key, sizeof key, "ahup");
    struct tally t = {0};
    for (int i = 0; i < KILLS; i++) {
        struct hup_round h = {.m = m, .key = key, .status = 1};
        assert_int_equal(
            vmux_call_async(m, NULL, 2, (const char *[]){"CLIENT", "ID"}, NULL, on_hup_id, &h), 0);
        uint64_t until = vt_now_ms() + 30000;
        while (atomic_load(&h.status) == 1)
            assert_true(vt_now_ms() < until);
        tally_add(&t, atomic_load(&h.status), h.why);
    }
    tally_check(&t, "async INCRs", key);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_then_sync_in_order),
        cmocka_unit_test(test_command_larger_than_the_socket),
        cmocka_unit_test(test_timeout_while_server_stopped),
        cmocka_unit_test(test_error_replies_between_reads),
        cmocka_unit_test(test_reply_larger_than_one_read),
        cmocka_unit_test(test_io_thread_takes_the_lane_back),
        cmocka_unit_test(test_command_after_the_server_hung_up),
        cmocka_unit_test(test_async_command_after_the_server_hung_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

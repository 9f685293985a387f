/*
 * What happens to each command of a connection that ends (conn.c, conn_settle; the table in
 * docs/architecture.md, "When a connection fails"), row by row, against the scripted fake
 * server, which makes "sent and unanswered" exact: it reads a command and answers nothing
 * (an empty VT_FAKE_SEND), then closes the connection, or sends a bad reply, on a later one.
 *
 *   not sent                          back to the backlog, written on the next connection
 *   sent, retry-safe, not yet resent  resent once (counter `resent`)
 *   sent, retry-safe, already resent  VMUX_ERR_CONNECTION_LOST
 *   sent, not retry-safe              VMUX_ERR_CONNECTION_LOST, or VMUX_ERR_PROTOCOL when a
 *                                     malformed reply ended the connection
 *   a husk (timed out, still owed)    freed, never completed twice nor resent
 *
 * The fake server counts the commands it read, on every connection: that count tells which
 * commands went out again. Every command completes exactly once, and the pending gauges fall
 * back to 0 (every op, husks included, was freed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakefixture.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define WAIT_MS 10000

/* One async command's outcome; `then`, if set, runs in its callback (on the I/O thread). */
struct outcome {
    atomic_int runs, status;
    vmux_reply *reply;
    void (*then)(struct outcome *o);
    vmux *m;
    struct outcome *next; /* for `then` */
};

static void on_done(int status, vmux_reply *reply, void *userdata)
{
    struct outcome *o = userdata;
    if (atomic_load(&o->runs) == 0)
        o->reply = reply;
    else
        vmux_reply_free(reply);
    atomic_store(&o->status, status);
    if (o->then != NULL)
        o->then(o);
    atomic_fetch_add(&o->runs, 1);
}

static bool ran(void *arg)
{
    return atomic_load(&((struct outcome *)arg)->runs) > 0;
}

static int setup(void **state)
{
    vt_fake_fixture_setup(state);
    vt_fake_fixture *fx = *state;
    char keys[64];
    snprintf(keys, sizeof keys, "syncTimeout=%d,asyncTimeout=%d", WAIT_MS, WAIT_MS);
    fx->m = vt_fake_open(fx->fake, keys);
    return 0;
}

static void push(vt_fake_fixture *fx, vt_fake_kind kind, const char *bytes)
{
    vt_fake_script_str(fx->fake, kind, bytes);
}

/* The fake server answers nothing to the next command and goes on reading. */
static void hold(vt_fake_fixture *fx)
{
    push(fx, VT_FAKE_SEND, "");
}

static void submit(vmux *m, struct outcome *o, const char *cmd, const char *key,
                   uint32_t timeout_ms, bool retry_safe)
{
    const char *argv[] = {cmd, key};
    vmux_callopts opts = VMUX_INIT(vmux_callopts, .timeout_ms = timeout_ms,
                                   .flags = retry_safe ? VMUX_CALL_RETRY_SAFE : 0);
    atomic_init(&o->runs, 0);
    atomic_init(&o->status, 1);
    o->m = m;
    assert_int_equal(vmux_call_async(m, &opts, 2, argv, NULL, on_done, o), 0);
}

struct count_wait {
    vt_fake *fake;
    unsigned n;
};

static bool fake_read(void *arg)
{
    struct count_wait *w = arg;
    return vt_fake_commands(w->fake) >= w->n;
}

static void wait_fake_read(vt_fake_fixture *fx, unsigned n)
{
    struct count_wait w = {fx->fake, n};
    if (!vt_wait_until(fake_read, &w, WAIT_MS))
        fail_msg("the fake server read %u commands, not %u", vt_fake_commands(fx->fake), n);
}

static void wait_ran(struct outcome *o, const char *what)
{
    if (!vt_wait_until(ran, o, 2 * WAIT_MS))
        fail_msg("%s never completed", what);
}

static void expect(struct outcome *o, const char *what, int status)
{
    wait_ran(o, what);
    if (atomic_load(&o->status) != status)
        fail_msg("%s: %s, expected %s", what, vmux_err_name(atomic_load(&o->status)),
                 vmux_err_name(status));
    assert_int_equal(atomic_load(&o->runs), 1);
}

static void expect_str(struct outcome *o, const char *what, const char *want)
{
    expect(o, what, 0);
    assert_non_null(o->reply);
    assert_int_equal(vmux_reply_get_kind(o->reply), VMUX_REPLY_STRING);
    assert_string_equal(vmux_reply_str(o->reply, NULL), want);
}

static vmux_stats stats(vmux *m)
{
    vmux_stats s = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &s), 0);
    return s;
}

static bool nothing_pending(void *arg)
{
    vmux_stats s = stats(arg);
    return s.pending == 0 && s.pending_bytes == 0;
}

/*
 * After the last outcome: a PING (answered by the fake server itself, uncounted) on the
 * current connection goes out behind anything the backlog still held, so once it is answered
 * the command count is final; every op, husks included, has been freed.
 */
static void settle_and_count(vt_fake_fixture *fx, unsigned commands, unsigned connections)
{
    const char *ping[] = {"PING"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(fx->m, NULL, 1, ping, NULL, &r), 0);
    vmux_reply_free(r);
    assert_int_equal(vt_fake_commands(fx->fake), commands);
    assert_int_equal(vt_fake_pending(fx->fake), 0);
    assert_int_equal(vt_fake_accepted(fx->fake), connections);
    assert_true(vt_wait_until(nothing_pending, fx->m, WAIT_MS));
}

static void free_replies(struct outcome *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vmux_reply_free(o[i].reply);
}

/*
 * Connection 1 reads s1, s2 (retry-safe), u (not) and h (retry-safe, 100 ms), answering none;
 * h times out and becomes a husk; then k (not retry-safe) makes the server close. s1 and s2
 * are resent on connection 2, u, h and k are not: u and k fail with CONNECTION_LOST, h keeps
 * its TIMEOUT. On connection 2, s1 is answered and the server closes after reading s2: resent
 * once already, s2 fails with CONNECTION_LOST and is not sent a third time.
 */
static void test_server_closes_with_commands_unanswered(void **state)
{
    vt_fake_fixture *fx = *state;
    enum { S1, S2, U, H, K, N };
    struct outcome o[N] = {0};
    hold(fx);                               /* s1 */
    hold(fx);                               /* s2 */
    hold(fx);                               /* u */
    hold(fx);                               /* h */
    push(fx, VT_FAKE_CLOSE, "");            /* k */
    push(fx, VT_FAKE_SEND, "$2\r\ns1\r\n"); /* s1, again */
    push(fx, VT_FAKE_CLOSE, "");            /* s2, again */
    vmux_stats before = stats(fx->m);

    submit(fx->m, &o[S1], "GET", "s1", 0, true);
    submit(fx->m, &o[S2], "GET", "s2", 0, true);
    submit(fx->m, &o[U], "INCR", "u", 0, false);
    submit(fx->m, &o[H], "GET", "h", 100, true);
    wait_fake_read(fx, 4); /* all four are sent: the server has read them */
    expect(&o[H], "h", VMUX_ERR_TIMEOUT);
    submit(fx->m, &o[K], "INCR", "k", 0, false);

    expect(&o[U], "u (sent, not retry-safe)", VMUX_ERR_CONNECTION_LOST);
    expect(&o[K], "k (sent, not retry-safe)", VMUX_ERR_CONNECTION_LOST);
    expect_str(&o[S1], "s1 (sent, retry-safe: resent)", "s1");
    expect(&o[S2], "s2 (resent, then lost again)", VMUX_ERR_CONNECTION_LOST);
    expect(&o[H], "h (a husk)", VMUX_ERR_TIMEOUT);

    /* s1 and s2 went out twice, s2 not three times; u, h and k once */
    settle_and_count(fx, 7, 3);
    vmux_stats after = stats(fx->m);
    assert_int_equal(after.resent - before.resent, 2);
    assert_int_equal(after.connection_lost - before.connection_lost, 3);
    assert_int_equal(after.timed_out - before.timed_out, 1);
    free_replies(o, N);
}

/* a's callback submits b on the I/O thread: it lands in the write buffer, not yet flushed. */
static void submit_next(struct outcome *o)
{
    submit(o->m, o->next, "INCR", "b", 0, false);
}

/*
 * Connection 1 reads a (not retry-safe), s (retry-safe) and u (not), and answers a in the same
 * packet as a malformed reply. a's callback submits b, which the I/O thread puts in the
 * connection's write buffer; before that buffer is flushed, the bad reply ends the connection.
 * So s was sent (resent), u was sent (PROTOCOL: the connection failed on a malformed reply),
 * and b was never sent: although it is not retry-safe, it goes back to the backlog, behind s,
 * and is written on connection 2 without counting as resent.
 */
static void test_bad_reply_with_a_command_not_yet_sent(void **state)
{
    vt_fake_fixture *fx = *state;
    enum { A, S, U, B, N };
    struct outcome o[N] = {0};
    hold(fx);                                      /* a */
    hold(fx);                                      /* s */
    push(fx, VT_FAKE_SEND, "$1\r\na\r\n?bad\r\n"); /* u: a's answer, then garbage */
    push(fx, VT_FAKE_SEND, "$1\r\ns\r\n");         /* s, again */
    push(fx, VT_FAKE_SEND, ":7\r\n");              /* b, for the first time */
    vmux_stats before = stats(fx->m);

    o[A].then = submit_next;
    o[A].next = &o[B];
    submit(fx->m, &o[A], "GET", "a", 0, false);
    submit(fx->m, &o[S], "GET", "s", 0, true);
    submit(fx->m, &o[U], "INCR", "u", 0, false);

    expect_str(&o[A], "a", "a");
    expect(&o[U], "u (sent, not retry-safe)", VMUX_ERR_PROTOCOL);
    expect_str(&o[S], "s (sent, retry-safe: resent)", "s");
    expect(&o[B], "b (not sent: written on the next connection)", 0);
    assert_non_null(o[B].reply);
    assert_int_equal(vmux_reply_get_kind(o[B].reply), VMUX_REPLY_INTEGER);
    assert_int_equal(vmux_reply_integer(o[B].reply), 7);

    /* connection 1 read a, s and u; connection 2 read s and b: 5 */
    settle_and_count(fx, 5, 2);
    vmux_stats after = stats(fx->m);
    assert_int_equal(after.resent - before.resent, 1); /* s only: b was never sent */
    assert_int_equal(after.connection_lost - before.connection_lost, 1);
    free_replies(o, N);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_closes_with_commands_unanswered, setup,
                                        vt_fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_reply_with_a_command_not_yet_sent, setup,
                                        vt_fake_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

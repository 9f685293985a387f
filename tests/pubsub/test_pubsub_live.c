/*
 * "Live" means the server confirmed this subscription's own SUBSCRIBE. The race that used to
 * break it: subscribe A to a channel, unsubscribe A at once, subscribe B to the same channel.
 * The server answers SUBSCRIBE(A), UNSUBSCRIBE, SUBSCRIBE(B) in that order; A's late
 * confirmation must not make B live. So whenever vmux_sub_wait_live(B) returns 0, the server
 * has the handle's subscriber connection on the channel: a PUBLISH sent then (on the other,
 * shared connection) counts exactly one receiver, and B gets the message. Thousands of rounds,
 * since the window is narrow (it depends on how the server's event loop orders two sockets).
 *
 * The same race made certain with a scripted server (tests/support/fakeserver.h) that holds
 * its answers back: A's confirmation and the unsubscribe's arrive only once B's SUBSCRIBE has
 * been sent, and B must stay not live until its own confirmation comes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakefixture.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum { ROUNDS = 2000, WAIT_MS = 30000, LIVE_MS = 10000 };

static void on_count(const vmux_message *msg, void *ud)
{
    (void)msg;
    atomic_fetch_add((atomic_uint *)ud, 1);
}

struct goal {
    atomic_uint *n;
    unsigned want;
};

static bool reached(void *arg)
{
    struct goal *g = arg;
    return atomic_load(g->n) >= g->want;
}

/* One round; returns the receivers PUBLISH counted right after B was live. */
static int64_t one_round(vmux *m, const char *channel, atomic_uint *a_got, atomic_uint *b_got)
{
    vmux_sub *a = NULL, *b = NULL;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(channel), on_count, a_got, &a),
                     0);
    assert_int_equal(vmux_unsubscribe(m, a), 0);
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(channel), on_count, b_got, &b),
                     0);
    assert_int_equal(vmux_sub_wait_live(b, LIVE_MS), 0);
    int64_t receivers = -1;
    unsigned before = atomic_load(b_got);
    assert_int_equal(vmux_publish(m, NULL, VMUX_SUB_CHANNEL, VMUX_STR(channel),
                                  VMUX_STR("after-live"), &receivers),
                     0);
    struct goal g = {b_got, before + 1};
    if (receivers == 1 && !vt_wait_until(reached, &g, WAIT_MS))
        fail_msg("counted as a receiver, but the message never reached B");
    assert_int_equal(vmux_unsubscribe(m, b), 0);
    return receivers;
}

static void test_live_only_after_own_confirmation(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "syncTimeout=20000");
    char channel[64];
    snprintf(channel, sizeof channel, "vmux:ps:%d:live-race", (int)getpid());
    atomic_uint a_got, b_got;
    atomic_init(&a_got, 0);
    atomic_init(&b_got, 0);
    int wrong = 0;
    int64_t first_wrong = 1;
    for (int i = 0; i < ROUNDS; i++) {
        int64_t r = one_round(m, channel, &a_got, &b_got);
        if (r != 1 && wrong++ == 0)
            first_wrong = r;
    }
    if (wrong > 0)
        fail_msg("%d of %d rounds: live, but PUBLISH counted %lld receivers (first case)", wrong,
                 ROUNDS, (long long)first_wrong);
    assert_int_equal(atomic_load(&b_got), ROUNDS);
    assert_int_equal(atomic_load(&a_got), 0); /* A was gone before anything was published */
    vmux_close(m);
}

/* ---- waiting for a confirmation on the thread that would deliver it ---- */

struct in_callback {
    vmux *m;
    vmux_sub *inner;
    atomic_int rc; /* vmux_sub_wait_live()'s, called in the callback; 1 until then */
};

static void subscribe_and_wait(const vmux_message *msg, void *ud)
{
    (void)msg;
    struct in_callback *c = ud;
    if (c->inner != NULL)
        return;
    assert_int_equal(vmux_subscribe(c->m, VMUX_SUB_CHANNEL, VMUX_STR("vmux:ps:inner"), on_count,
                                    NULL, &c->inner),
                     0);
    /* bounded, so that a wait that is not refused fails the test (with TIMEOUT) instead of
     * hanging it: with VMUX_FOREVER it hung the handle for good */
    atomic_store(&c->rc, vmux_sub_wait_live(c->inner, 3000));
}

static bool waited(void *arg)
{
    return atomic_load(&((struct in_callback *)arg)->rc) != 1;
}

/* In a callback (the I/O thread, which carries the confirmation) the wait is refused at once. */
static void test_wait_live_refused_in_callback(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    struct in_callback c = {.m = m};
    atomic_init(&c.rc, 1);
    vmux_sub *outer = NULL;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("vmux:ps:outer"),
                                    subscribe_and_wait, &c, &outer),
                     0);
    assert_int_equal(vmux_sub_wait_live(outer, LIVE_MS), 0);
    assert_int_equal(
        vmux_publish(m, NULL, VMUX_SUB_CHANNEL, VMUX_STR("vmux:ps:outer"), VMUX_STR("go"), NULL),
        0);
    assert_true(vt_wait_until(waited, &c, WAIT_MS));
    assert_int_equal(atomic_load(&c.rc), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_sub_wait_live(c.inner, LIVE_MS), 0); /* from here, it is fine */
    vmux_close(m);
}

#define SUB_X "*3\r\n$9\r\nsubscribe\r\n$1\r\nX\r\n:2\r\n"
#define UNSUB_X "*3\r\n$11\r\nunsubscribe\r\n$1\r\nX\r\n:1\r\n"
#define SUB_Z "*3\r\n$9\r\nsubscribe\r\n$1\r\nZ\r\n:1\r\n"
#define SUB_Y "*3\r\n$9\r\nsubscribe\r\n$1\r\nY\r\n:3\r\n"

static bool took_four(void *arg)
{
    return vt_fake_commands(arg) >= 4;
}

static void test_late_confirmation_of_another(void **state)
{
    (void)state;
    vt_fake *f = vt_fake_start();
    assert_non_null(f);
    assert_int_equal(vt_fake_push_str(f, VT_FAKE_SEND, SUB_Z), 0);         /* SUBSCRIBE Z */
    assert_int_equal(vt_fake_push_str(f, VT_FAKE_SEND, ""), 0);            /* SUBSCRIBE X (A) */
    assert_int_equal(vt_fake_push_str(f, VT_FAKE_SEND, ""), 0);            /* UNSUBSCRIBE X */
    assert_int_equal(vt_fake_push_str(f, VT_FAKE_SEND, SUB_X UNSUB_X), 0); /* SUBSCRIBE X (B) */
    assert_int_equal(vt_fake_push_str(f, VT_FAKE_SEND, SUB_X SUB_Y), 0);   /* SUBSCRIBE Y (C) */
    vmux *m = vt_fake_open(f, NULL);
    atomic_uint got;
    atomic_init(&got, 0);
    vmux_sub *a = NULL, *b = NULL, *c = NULL, *z = NULL;
    /* First a subscription that opens the subscriber connection: requests go out at once. */
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("Z"), on_count, &got, &z), 0);
    assert_int_equal(vmux_sub_wait_live(z, LIVE_MS), 0);
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("X"), on_count, &got, &a), 0);
    assert_int_equal(vmux_unsubscribe(m, a), 0);
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("X"), on_count, &got, &b), 0);
    /* Once the fake server has taken B's SUBSCRIBE it has sent A's confirmation: B must not
     * take it for its own. 300 ms is far more than loopback needs to bring it. */
    if (!vt_wait_until(took_four, f, WAIT_MS))
        fail_msg("the fake server took %u commands", vt_fake_commands(f));
    assert_int_equal(vmux_sub_wait_live(b, 300), VMUX_ERR_TIMEOUT);
    /* C's SUBSCRIBE brings B's own confirmation, then C's. */
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("Y"), on_count, &got, &c), 0);
    assert_int_equal(vmux_sub_wait_live(b, LIVE_MS), 0);
    assert_int_equal(vmux_sub_wait_live(c, LIVE_MS), 0);
    vmux_close(m);
    vt_fake_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_confirmation_of_another),
        cmocka_unit_test(test_wait_live_refused_in_callback),
        cmocka_unit_test(test_live_only_after_own_confirmation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

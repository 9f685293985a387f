/*
 * Unsubscribing: once vmux_unsubscribe() returns, the subscription's callback never runs again,
 * even while messages for it keep coming; unsubscribing one of two subscriptions to the same
 * name keeps the other receiving (and the server subscribed); a callback may unsubscribe itself
 * or another subscription, and may subscribe; a name unsubscribed and subscribed again at once
 * works; a channel and a pattern spelled alike are separate subscriptions.
 *
 * "Never runs again" is checked with a barrier: messages reach a handle's subscriptions in the
 * order the server sent them on its one subscriber connection, so once a message published
 * after the others has reached a second subscription, the others have been delivered too.
 */
#include <pthread.h>
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

#include "testutil.h"
#include "vmux/vmux.h"

enum { WAIT_MS = 60000, LIVE_MS = 10000, MAXNAME = 64, ROUNDS = 5, AFTER = 300 };

static vmux *open_handle(void)
{
    return vt_open("plain", "syncTimeout=20000");
}

static void name_of(char *buf, size_t size, const char *what)
{
    snprintf(buf, size, "vmux:ps:%d:%s", (int)getpid(), what);
}

static int64_t publish(vmux *m, const char *channel, const char *payload)
{
    int64_t receivers = -1;
    int rc =
        vmux_publish(m, NULL, VMUX_SUB_CHANNEL, VMUX_STR(channel), VMUX_STR(payload), &receivers);
    if (rc != 0)
        fail_msg("PUBLISH: %s", vmux_err_name(rc));
    return receivers;
}

struct goal {
    atomic_uint *n;
    unsigned want;
};

static bool goal_reached(void *arg)
{
    struct goal *g = arg;
    return atomic_load(g->n) >= g->want;
}

static void wait_count(atomic_uint *n, unsigned want)
{
    struct goal g = {n, want};
    if (!vt_wait_until(goal_reached, &g, WAIT_MS))
        fail_msg("waited for %u messages, %u came", want, atomic_load(n));
}

struct receivers_goal {
    vmux *m;
    const char *channel;
    int64_t want;
};

static bool receivers_are(void *arg)
{
    struct receivers_goal *g = arg;
    return publish(g->m, g->channel, "count") == g->want;
}

/* Unsubscribing reaches the server on the subscriber connection, not the one PUBLISH uses. */
static void wait_receivers(vmux *m, const char *channel, int64_t want)
{
    struct receivers_goal g = {m, channel, want};
    if (!vt_wait_until(receivers_are, &g, WAIT_MS))
        fail_msg("PUBLISH %s never reported %lld receivers", channel, (long long)want);
}

static void on_count(const vmux_message *msg, void *ud)
{
    (void)msg;
    atomic_fetch_add((atomic_uint *)ud, 1);
}

static vmux_sub *subscribe_live(vmux *m, vmux_sub_kind kind, const char *name, vmux_message_cb cb,
                                void *ud)
{
    vmux_sub *s = NULL;
    assert_int_equal(vmux_subscribe(m, kind, VMUX_STR(name), cb, ud, &s), 0);
    assert_int_equal(vmux_sub_wait_live(s, LIVE_MS), 0);
    return s;
}

struct barrier {
    char channel[MAXNAME];
    vmux_sub *sub;
    atomic_uint seen;
};

static void barrier_init(struct barrier *b, vmux *m, const char *what)
{
    name_of(b->channel, sizeof b->channel, what);
    atomic_init(&b->seen, 0);
    b->sub = subscribe_live(m, VMUX_SUB_CHANNEL, b->channel, on_count, &b->seen);
}

static void barrier_pass(struct barrier *b, vmux *m)
{
    unsigned want = atomic_load(&b->seen) + 1;
    assert_int_equal(publish(m, b->channel, "barrier"), 1);
    wait_count(&b->seen, want);
}

static void barrier_end(struct barrier *b, vmux *m)
{
    assert_int_equal(vmux_unsubscribe(m, b->sub), 0);
}

/* ---- the callback stops at once, while messages keep coming ---- */

struct flood {
    vmux *m;
    const char *channel;
    atomic_bool unsubscribed, stop;
    atomic_uint after; /* publishes begun after the unsubscribe returned */
    atomic_int failed;
};

static void *flooder(void *arg)
{
    struct flood *f = arg;
    while (!atomic_load(&f->stop)) {
        bool after = atomic_load(&f->unsubscribed);
        int64_t receivers;
        int rc = vmux_publish(f->m, NULL, VMUX_SUB_CHANNEL, VMUX_STR(f->channel), VMUX_STR("flood"),
                              &receivers);
        if (rc != 0) {
            atomic_store(&f->failed, rc);
            break;
        }
        if (after)
            atomic_fetch_add(&f->after, 1);
    }
    return NULL;
}

static void test_unsubscribe_under_flood(void **state)
{
    (void)state;
    vmux *m = open_handle();
    char chan[MAXNAME];
    name_of(chan, sizeof chan, "flood");
    struct barrier bar;
    barrier_init(&bar, m, "flood:barrier");

    for (int round = 0; round < ROUNDS; round++) {
        atomic_uint calls;
        atomic_init(&calls, 0);
        vmux_sub *s = subscribe_live(m, VMUX_SUB_CHANNEL, chan, on_count, &calls);
        struct flood f = {.m = m, .channel = chan};
        atomic_init(&f.unsubscribed, false);
        atomic_init(&f.stop, false);
        atomic_init(&f.after, 0);
        atomic_init(&f.failed, 0);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, flooder, &f), 0);

        wait_count(&calls, 100 + 20 * (unsigned)round); /* messages are arriving */
        assert_int_equal(vmux_unsubscribe(m, s), 0);
        unsigned at_return = atomic_load(&calls);
        atomic_store(&f.unsubscribed, true);
        wait_count(&f.after, AFTER);
        atomic_store(&f.stop, true);
        pthread_join(t, NULL);
        assert_int_equal(atomic_load(&f.failed), 0);

        barrier_pass(&bar, m);
        assert_int_equal(atomic_load(&calls), at_return);
        wait_receivers(m, chan, 0); /* and the server was told */
    }
    barrier_end(&bar, m);
    vmux_close(m);
}

/* ---- one of two ---- */

static void test_unsubscribe_one_of_two(void **state)
{
    (void)state;
    vmux *m = open_handle();
    char chan[MAXNAME], pat[MAXNAME], pchan[MAXNAME];
    name_of(chan, sizeof chan, "two:chan");
    name_of(pat, sizeof pat, "two:pat:*");
    name_of(pchan, sizeof pchan, "two:pat:1");
    struct barrier bar;
    barrier_init(&bar, m, "two:barrier");

    /* a channel with a callback and a queue, a pattern with two callbacks */
    atomic_uint c_calls, p1_calls, p2_calls;
    atomic_init(&c_calls, 0);
    atomic_init(&p1_calls, 0);
    atomic_init(&p2_calls, 0);
    vmux_msgq *q;
    assert_int_equal(vmux_msgq_new(1000, VMUX_OVERFLOW_DROP_NEWEST, &q), 0);
    vmux_sub *cs = subscribe_live(m, VMUX_SUB_CHANNEL, chan, on_count, &c_calls), *qs = NULL;
    assert_int_equal(vmux_subscribe_queue(m, VMUX_SUB_CHANNEL, VMUX_STR(chan), q, &qs), 0);
    assert_int_equal(vmux_sub_wait_live(qs, LIVE_MS), 0);
    vmux_sub *p1 = subscribe_live(m, VMUX_SUB_PATTERN, pat, on_count, &p1_calls);
    vmux_sub *p2 = subscribe_live(m, VMUX_SUB_PATTERN, pat, on_count, &p2_calls);

    assert_int_equal(publish(m, chan, "both"), 1);
    assert_int_equal(publish(m, pchan, "both"), 1);
    barrier_pass(&bar, m);
    assert_int_equal(atomic_load(&c_calls), 1);
    assert_int_equal(vmux_msgq_length(q), 1);
    assert_int_equal(atomic_load(&p1_calls), 1);
    assert_int_equal(atomic_load(&p2_calls), 1);

    assert_int_equal(vmux_unsubscribe(m, cs), 0);
    assert_int_equal(vmux_unsubscribe(m, p1), 0);
    /* The server stays subscribed for the others: every PUBLISH still finds one receiver. */
    for (int i = 0; i < 50; i++) {
        assert_int_equal(publish(m, chan, "one left"), 1);
        assert_int_equal(publish(m, pchan, "one left"), 1);
    }
    barrier_pass(&bar, m);
    assert_int_equal(atomic_load(&c_calls), 1);
    assert_int_equal(vmux_msgq_length(q), 51);
    assert_int_equal(atomic_load(&p1_calls), 1);
    assert_int_equal(atomic_load(&p2_calls), 51);

    /* The last ones go: the server is told. */
    assert_int_equal(vmux_unsubscribe(m, qs), 0);
    assert_int_equal(vmux_unsubscribe(m, p2), 0);
    wait_receivers(m, chan, 0);
    wait_receivers(m, pchan, 0);
    barrier_end(&bar, m);
    vmux_close(m);
    vmux_msgq_free(q);
}

/* ---- from inside a callback ---- */

struct self_unsub {
    vmux *m;
    _Atomic(vmux_sub *) self, other;
    atomic_uint calls;
    atomic_uint *other_calls, other_at_unsub; /* other's count when it was unsubscribed */
    atomic_int rc_self, rc_other;
    atomic_int rc_sub;
    _Atomic(vmux_sub *) made; /* subscribed from the callback */
    const char *made_name;
    atomic_uint made_calls;
};

/* On its first message: unsubscribes another subscription of the same channel, subscribes a
 * new one elsewhere, and unsubscribes itself. */
static void on_first_only(const vmux_message *msg, void *ud)
{
    (void)msg;
    struct self_unsub *u = ud;
    if (atomic_fetch_add(&u->calls, 1) != 0)
        return;
    vmux_sub *made = NULL;
    atomic_store(&u->rc_sub, vmux_subscribe(u->m, VMUX_SUB_CHANNEL, VMUX_STR(u->made_name),
                                            on_count, &u->made_calls, &made));
    atomic_store(&u->made, made);
    atomic_store(&u->rc_other, vmux_unsubscribe(u->m, atomic_load(&u->other)));
    atomic_store(&u->other_at_unsub, atomic_load(u->other_calls));
    atomic_store(&u->rc_self, vmux_unsubscribe(u->m, atomic_load(&u->self)));
}

static bool made_set(void *arg)
{
    return atomic_load(&((struct self_unsub *)arg)->made) != NULL;
}

static void test_unsubscribe_from_callback(void **state)
{
    (void)state;
    vmux *m = open_handle();
    char chan[MAXNAME], made[MAXNAME];
    name_of(chan, sizeof chan, "self");
    name_of(made, sizeof made, "self:made");
    struct barrier bar;
    barrier_init(&bar, m, "self:barrier");

    static struct self_unsub u;
    u.m = m;
    u.made_name = made;
    atomic_init(&u.calls, 0);
    atomic_init(&u.made_calls, 0);
    atomic_init(&u.rc_self, 1);
    atomic_init(&u.rc_other, 1);
    atomic_init(&u.rc_sub, 1);
    atomic_init(&u.made, NULL);
    atomic_uint other_calls, stays_calls;
    atomic_init(&other_calls, 0);
    atomic_init(&stays_calls, 0);
    vmux_sub *other = subscribe_live(m, VMUX_SUB_CHANNEL, chan, on_count, &other_calls);
    vmux_sub *stays = subscribe_live(m, VMUX_SUB_CHANNEL, chan, on_count, &stays_calls);
    atomic_init(&u.other, other);
    u.other_calls = &other_calls;
    atomic_init(&u.other_at_unsub, 99);
    vmux_sub *self = NULL;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(chan), on_first_only, &u, &self),
                     0);
    atomic_init(&u.self, self);
    assert_int_equal(vmux_sub_wait_live(self, LIVE_MS), 0);

    for (int i = 0; i < 20; i++)
        assert_int_equal(publish(m, chan, "hello"), 1);
    barrier_pass(&bar, m);
    assert_int_equal(atomic_load(&u.calls), 1);
    assert_int_equal(atomic_load(&u.rc_self), 0);
    assert_int_equal(atomic_load(&u.rc_other), 0);
    assert_int_equal(atomic_load(&u.rc_sub), 0);
    assert_int_equal(atomic_load(&stays_calls), 20);
    /* other may have had the first message before the callback removed it (the order in which
     * subscriptions of one name are called is not specified), nothing after */
    assert_true(atomic_load(&u.other_at_unsub) <= 1);
    assert_int_equal(atomic_load(&other_calls), atomic_load(&u.other_at_unsub));
    for (int i = 0; i < 10; i++)
        assert_int_equal(publish(m, chan, "more"), 1);
    barrier_pass(&bar, m);
    assert_int_equal(atomic_load(&other_calls), atomic_load(&u.other_at_unsub));
    assert_int_equal(atomic_load(&u.calls), 1);

    /* The subscription made inside the callback works like any other. */
    assert_true(vt_wait_until(made_set, &u, WAIT_MS));
    vmux_sub *made_sub = atomic_load(&u.made);
    assert_int_equal(vmux_sub_wait_live(made_sub, LIVE_MS), 0);
    assert_int_equal(publish(m, made, "to the new one"), 1);
    wait_count(&u.made_calls, 1);

    assert_int_equal(vmux_unsubscribe(m, made_sub), 0);
    assert_int_equal(vmux_unsubscribe(m, stays), 0);
    wait_receivers(m, chan, 0);
    barrier_end(&bar, m);
    vmux_close(m);
}

/* ---- the same name again, at once ---- */

static void test_resubscribe_same_name(void **state)
{
    (void)state;
    vmux *m = open_handle();
    char chan[MAXNAME];
    name_of(chan, sizeof chan, "again");
    for (int round = 0; round < 20; round++) {
        atomic_uint calls;
        atomic_init(&calls, 0);
        vmux_sub *s = subscribe_live(m, VMUX_SUB_CHANNEL, chan, on_count, &calls);
        assert_int_equal(publish(m, chan, "x"), 1);
        wait_count(&calls, 1);
        /* UNSUBSCRIBE then SUBSCRIBE go out back to back; the server must end subscribed. */
        assert_int_equal(vmux_unsubscribe(m, s), 0);
    }
    atomic_uint calls;
    atomic_init(&calls, 0);
    vmux_sub *s = subscribe_live(m, VMUX_SUB_CHANNEL, chan, on_count, &calls);
    assert_int_equal(publish(m, chan, "y"), 1);
    wait_count(&calls, 1);
    assert_int_equal(vmux_unsubscribe(m, s), 0);
    vmux_close(m);
}

/* ---- a channel and a pattern spelled alike ---- */

static void test_kinds_are_distinct(void **state)
{
    (void)state;
    vmux *m = open_handle();
    char name[MAXNAME];
    name_of(name, sizeof name, "kind*"); /* a channel called that, and a pattern */
    atomic_uint ccalls, pcalls;
    atomic_init(&ccalls, 0);
    atomic_init(&pcalls, 0);
    vmux_sub *cs = subscribe_live(m, VMUX_SUB_CHANNEL, name, on_count, &ccalls);
    vmux_sub *ps = subscribe_live(m, VMUX_SUB_PATTERN, name, on_count, &pcalls);
    assert_int_equal(publish(m, name, "both"), 2);
    wait_count(&ccalls, 1);
    wait_count(&pcalls, 1);

    assert_int_equal(vmux_unsubscribe(m, cs), 0);
    wait_receivers(m, name, 1); /* only the pattern is left on the server */
    unsigned before = atomic_load(&pcalls);
    assert_int_equal(publish(m, name, "pattern only"), 1);
    wait_count(&pcalls, before + 1);
    assert_int_equal(vmux_unsubscribe(m, ps), 0);
    wait_receivers(m, name, 0);
    assert_int_equal(atomic_load(&ccalls), 1);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsubscribe_under_flood),
        cmocka_unit_test(test_unsubscribe_one_of_two),
        cmocka_unit_test(test_unsubscribe_from_callback),
        cmocka_unit_test(test_resubscribe_same_name),
        cmocka_unit_test(test_kinds_are_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

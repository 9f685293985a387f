/*
 * Queue subscriptions: a queue nobody reads stays within its bound and counts exactly what it
 * dropped (DROP_OLDEST keeps the newest messages, DROP_NEWEST the oldest); one queue fed by a
 * channel and a pattern subscription; pops that time out; vmux_close() with live subscriptions
 * wakes a thread blocked in vmux_msgq_pop(q, -1, ...) with VMUX_ERR_CLOSED, lets readers take
 * what was queued first, and leaves nothing behind (the ASan build checks leaks); and every
 * bad argument of the pub/sub API is refused with VMUX_ERR_INVALID_ARG.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#endif
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

enum { WAIT_MS = 60000, LIVE_MS = 10000, MAXNAME = 64 };

static vmux *open_handle(void)
{
    return vt_open("plain", "syncTimeout=20000");
}

static void name_of(char *buf, size_t size, const char *what)
{
    snprintf(buf, size, "vmux:ps:%d:%s", (int)getpid(), what);
}

static bool bytes_eq(vmux_bytes b, const void *p, size_t n)
{
    return b.ptr != NULL && b.len == n && memcmp(b.ptr, p, n) == 0;
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

static void publish_seq(vmux *m, const char *channel, unsigned seq, int64_t receivers)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%u", seq);
    assert_int_equal(publish(m, channel, buf), receivers);
}

static vmux_sub *subscribe_queue_live(vmux *m, vmux_sub_kind kind, const char *name, vmux_msgq *q)
{
    vmux_sub *s = NULL;
    assert_int_equal(vmux_subscribe_queue(m, kind, VMUX_STR(name), q, &s), 0);
    assert_int_equal(vmux_sub_wait_live(s, LIVE_MS), 0);
    return s;
}

/* Pops a message that must be there and checks its payload is the sequence number seq. */
static void pop_seq(vmux_msgq *q, int timeout_ms, unsigned seq)
{
    char want[32];
    snprintf(want, sizeof want, "%u", seq);
    vmux_message msg;
    int rc = vmux_msgq_pop(q, timeout_ms, &msg);
    if (rc != 0)
        fail_msg("pop for message %u: %s", seq, vmux_err_name(rc));
    if (!bytes_eq(msg.payload, want, strlen(want)))
        fail_msg("expected message %u, got \"%.*s\"", seq, (int)msg.payload.len,
                 msg.payload.ptr ? msg.payload.ptr : "(null)");
    vmux_message_free(&msg);
}

/* ---- a barrier: see test_pubsub_delivery.c ---- */

struct barrier {
    char channel[MAXNAME];
    vmux_sub *sub;
    atomic_uint seen;
};

struct goal {
    atomic_uint *n;
    unsigned want;
};

static bool goal_reached(void *arg)
{
    struct goal *g = arg;
    return atomic_load(g->n) >= g->want;
}

static void on_barrier(const vmux_message *msg, void *ud)
{
    (void)msg;
    atomic_fetch_add(&((struct barrier *)ud)->seen, 1);
}

static void barrier_init(struct barrier *b, vmux *m, const char *what)
{
    name_of(b->channel, sizeof b->channel, what);
    atomic_init(&b->seen, 0);
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(b->channel), on_barrier, b, &b->sub), 0);
    assert_int_equal(vmux_sub_wait_live(b->sub, LIVE_MS), 0);
}

/* Returns once every message published before it has reached the handle's subscriptions. */
static void barrier_pass(struct barrier *b, vmux *m)
{
    struct goal g = {&b->seen, atomic_load(&b->seen) + 1};
    assert_int_equal(publish(m, b->channel, "barrier"), 1);
    assert_true(vt_wait_until(goal_reached, &g, WAIT_MS));
}

/* ---- bounds and drop counts ---- */

/*
 * Publishes n messages to a queue of the given bound that nobody reads, checking the length
 * never passes the bound, then checks the drop count and what the queue kept.
 */
static void overflow_case(vmux_overflow policy, size_t bound, unsigned n)
{
    vmux *m = open_handle();
    char chan[MAXNAME], bar_name[MAXNAME];
    const char *what = policy == VMUX_OVERFLOW_DROP_OLDEST ? "oldest" : "newest";
    name_of(chan, sizeof chan, what);
    snprintf(bar_name, sizeof bar_name, "%s:%zu:barrier", what, bound);
    vmux_msgq *q;
    assert_int_equal(vmux_msgq_new(bound, policy, &q), 0);
    vmux_sub *s = subscribe_queue_live(m, VMUX_SUB_CHANNEL, chan, q);
    struct barrier bar;
    barrier_init(&bar, m, bar_name);

    for (unsigned i = 0; i < n; i++) {
        publish_seq(m, chan, i, 1);
        if (vmux_msgq_length(q) > bound)
            fail_msg("after %u messages the queue holds %zu, over its bound %zu", i + 1,
                     vmux_msgq_length(q), bound);
    }
    barrier_pass(&bar, m);
    assert_int_equal(vmux_msgq_length(q), bound);
    assert_int_equal(vmux_msgq_dropped(q), n - bound);

    unsigned first = policy == VMUX_OVERFLOW_DROP_OLDEST ? n - (unsigned)bound : 0;
    for (unsigned i = 0; i < bound; i++)
        pop_seq(q, 0, first + i);
    vmux_message msg;
    assert_int_equal(vmux_msgq_pop(q, 0, &msg), VMUX_ERR_TIMEOUT);
    assert_null(msg.payload.ptr);
    assert_int_equal(vmux_msgq_dropped(q), n - bound); /* reading does not change it */

    /* Room again: the next message is kept, the count stays. */
    publish_seq(m, chan, n, 1);
    pop_seq(q, WAIT_MS, n);
    assert_int_equal(vmux_msgq_dropped(q), n - bound);

    assert_int_equal(vmux_unsubscribe(m, s), 0);
    assert_int_equal(vmux_unsubscribe(m, bar.sub), 0);
    vmux_close(m);
    vmux_msgq_free(q);
}

static void test_drop_oldest(void **state)
{
    (void)state;
    overflow_case(VMUX_OVERFLOW_DROP_OLDEST, 64, 1000);
}

static void test_drop_newest(void **state)
{
    (void)state;
    overflow_case(VMUX_OVERFLOW_DROP_NEWEST, 64, 1000);
}

static void test_bound_one(void **state)
{
    (void)state;
    overflow_case(VMUX_OVERFLOW_DROP_OLDEST, 1, 10);
    overflow_case(VMUX_OVERFLOW_DROP_NEWEST, 1, 10);
}

/* A queue freed with messages still in it frees them too (the ASan build would tell). */
static void test_free_with_messages(void **state)
{
    (void)state;
    vmux *m = open_handle();
    char chan[MAXNAME];
    name_of(chan, sizeof chan, "leftover");
    vmux_msgq *q;
    assert_int_equal(vmux_msgq_new(8, VMUX_OVERFLOW_DROP_OLDEST, &q), 0);
    vmux_sub *s = subscribe_queue_live(m, VMUX_SUB_CHANNEL, chan, q);
    struct barrier bar;
    barrier_init(&bar, m, "leftover:barrier");
    for (unsigned i = 0; i < 20; i++)
        publish_seq(m, chan, i, 1);
    barrier_pass(&bar, m);
    assert_int_equal(vmux_msgq_length(q), 8);
    assert_int_equal(vmux_unsubscribe(m, s), 0);
    assert_int_equal(vmux_unsubscribe(m, bar.sub), 0);
    vmux_msgq_free(q);
    vmux_close(m);
}

/* ---- one queue, two subscriptions ---- */

static void test_shared_queue(void **state)
{
    (void)state;
    vmux *m = open_handle();
    char chan[MAXNAME], pat[MAXNAME];
    name_of(chan, sizeof chan, "shared:x");
    name_of(pat, sizeof pat, "shared:*");
    vmux_msgq *q;
    assert_int_equal(vmux_msgq_new(100, VMUX_OVERFLOW_DROP_OLDEST, &q), 0);
    vmux_sub *cs = subscribe_queue_live(m, VMUX_SUB_CHANNEL, chan, q);
    vmux_sub *ps = subscribe_queue_live(m, VMUX_SUB_PATTERN, pat, q);

    /* The server sends each message once for the channel and once for the pattern. */
    assert_int_equal(publish(m, chan, "hello"), 2);
    int with_pattern = 0;
    for (int i = 0; i < 2; i++) {
        vmux_message msg;
        assert_int_equal(vmux_msgq_pop(q, WAIT_MS, &msg), 0);
        assert_true(bytes_eq(msg.channel, chan, strlen(chan)));
        assert_true(bytes_eq(msg.payload, "hello", 5));
        if (msg.pattern.ptr != NULL) {
            assert_true(bytes_eq(msg.pattern, pat, strlen(pat)));
            with_pattern++;
        }
        vmux_message_free(&msg);
    }
    assert_int_equal(with_pattern, 1);

    /* With the pattern gone the channel still feeds the queue. */
    assert_int_equal(vmux_unsubscribe(m, ps), 0);
    struct barrier bar;
    barrier_init(&bar, m, "sharedbarrier"); /* outside the pattern */
    assert_int_equal(vmux_msgq_length(q), 0);
    publish(m, chan, "after");
    barrier_pass(&bar, m);
    vmux_message msg;
    assert_int_equal(vmux_msgq_pop(q, 0, &msg), 0);
    assert_null(msg.pattern.ptr);
    assert_true(bytes_eq(msg.payload, "after", 5));
    vmux_message_free(&msg);
    assert_int_equal(vmux_msgq_pop(q, 0, &msg), VMUX_ERR_TIMEOUT);

    assert_int_equal(vmux_unsubscribe(m, cs), 0);
    assert_int_equal(vmux_unsubscribe(m, bar.sub), 0);
    vmux_close(m);
    vmux_msgq_free(q);
}

/* ---- timeouts ---- */

static void test_pop_timeout(void **state)
{
    (void)state;
    vmux_msgq *q;
    assert_int_equal(vmux_msgq_new(4, VMUX_OVERFLOW_DROP_NEWEST, &q), 0);
    vmux_message msg;
    assert_int_equal(vmux_msgq_pop(q, 0, &msg), VMUX_ERR_TIMEOUT);
    assert_null(msg.channel.ptr);
    assert_int_equal(vmux_msgq_pop(q, 20, &msg), VMUX_ERR_TIMEOUT);
    assert_null(msg.payload.ptr);
    assert_int_equal(vmux_msgq_length(q), 0);
    assert_int_equal(vmux_msgq_dropped(q), 0);
    vmux_msgq_free(q);
}

/* ---- closing the handle ---- */

struct popper {
    vmux_msgq *q;
    pthread_t thread;
    atomic_int tid;
    atomic_bool done;
    int rc;
    vmux_message msg;
};

static void *pop_forever(void *arg)
{
    struct popper *p = arg;
    atomic_store(&p->tid, (int)syscall(SYS_gettid));
    p->rc = vmux_msgq_pop(p->q, -1, &p->msg);
    atomic_store(&p->done, true);
    return NULL;
}

static bool popper_asleep(void *arg)
{
    struct popper *p = arg;
    int tid = atomic_load(&p->tid);
    return tid != 0 && !atomic_load(&p->done) && vt_thread_state(tid) == 'S';
}

static bool popper_done(void *arg)
{
    return atomic_load(&((struct popper *)arg)->done);
}

static void on_nothing(const vmux_message *msg, void *ud)
{
    (void)msg;
    (void)ud;
}

static void on_count(const vmux_message *msg, void *ud)
{
    (void)msg;
    atomic_fetch_add((atomic_uint *)ud, 1);
}

static bool queue_holds_three(void *q)
{
    return vmux_msgq_length(q) >= 3;
}

static void test_close_wakes_blocked_pop(void **state)
{
    (void)state;
    vmux *m = open_handle();
    char chan[MAXNAME], pat[MAXNAME], held[MAXNAME];
    name_of(chan, sizeof chan, "close:empty");
    name_of(pat, sizeof pat, "close:held:*");
    name_of(held, sizeof held, "close:held:1");
    vmux_msgq *empty, *full;
    assert_int_equal(vmux_msgq_new(16, VMUX_OVERFLOW_DROP_OLDEST, &empty), 0);
    assert_int_equal(vmux_msgq_new(16, VMUX_OVERFLOW_DROP_OLDEST, &full), 0);
    subscribe_queue_live(m, VMUX_SUB_CHANNEL, chan, empty);
    subscribe_queue_live(m, VMUX_SUB_PATTERN, pat, full);
    /* Callback subscriptions too, on the same names: close frees them all. */
    atomic_uint calls;
    atomic_init(&calls, 0);
    vmux_sub *c1, *c2;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(chan), on_count, &calls, &c1), 0);
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_PATTERN, VMUX_STR(pat), on_count, &calls, &c2), 0);
    assert_int_equal(vmux_sub_wait_live(c1, LIVE_MS), 0);
    assert_int_equal(vmux_sub_wait_live(c2, LIVE_MS), 0);
    for (unsigned i = 0; i < 3; i++)
        publish_seq(m, held, i, 1); /* one client, one pattern */
    struct goal g = {&calls, 3};
    assert_true(vt_wait_until(goal_reached, &g, WAIT_MS));
    /* the queue subscription gets each message apart from the callback one: wait for it too */
    assert_true(vt_wait_until(queue_holds_three, full, WAIT_MS));
    assert_int_equal(vmux_msgq_length(full), 3);

    static struct popper p;
    p.q = empty;
    atomic_init(&p.tid, 0);
    atomic_init(&p.done, false);
    assert_int_equal(pthread_create(&p.thread, NULL, pop_forever, &p), 0);
    assert_true(vt_wait_until(popper_asleep, &p, WAIT_MS));

    vmux_close(m);
    if (!vt_wait_until(popper_done, &p, WAIT_MS))
        fail_msg("vmux_close did not wake the thread blocked in vmux_msgq_pop(q, -1)");
    pthread_join(p.thread, NULL);
    assert_int_equal(p.rc, VMUX_ERR_CLOSED);
    assert_null(p.msg.payload.ptr);

    /* A closed queue still gives what it holds, then VMUX_ERR_CLOSED without waiting. */
    for (unsigned i = 0; i < 3; i++)
        pop_seq(full, -1, i);
    vmux_message msg;
    assert_int_equal(vmux_msgq_pop(full, -1, &msg), VMUX_ERR_CLOSED);
    assert_int_equal(vmux_msgq_pop(full, 0, &msg), VMUX_ERR_CLOSED);
    assert_int_equal(vmux_msgq_pop(empty, 10, &msg), VMUX_ERR_CLOSED);
    assert_int_equal(atomic_load(&calls), 3);
    vmux_msgq_free(empty);
    vmux_msgq_free(full);
}

/* Closing right after subscribing, while the subscriber connection may still be opening. */
static void test_close_while_subscribing(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        vmux *m = open_handle();
        char chan[MAXNAME];
        name_of(chan, sizeof chan, "close:early");
        vmux_msgq *q;
        assert_int_equal(vmux_msgq_new(4, VMUX_OVERFLOW_DROP_OLDEST, &q), 0);
        vmux_sub *s, *c;
        assert_int_equal(vmux_subscribe_queue(m, VMUX_SUB_CHANNEL, VMUX_STR(chan), q, &s), 0);
        assert_int_equal(vmux_subscribe(m, VMUX_SUB_PATTERN, VMUX_STR(chan), on_nothing, NULL, &c),
                         0);
        if (round % 2 == 1)
            assert_int_equal(vmux_unsubscribe(m, c), 0);
        vmux_close(m);
        vmux_message msg;
        assert_int_equal(vmux_msgq_pop(q, WAIT_MS, &msg), VMUX_ERR_CLOSED);
        vmux_msgq_free(q);
    }
}

/* ---- popping in a callback (the I/O thread, which alone adds messages) ---- */

struct in_callback {
    vmux_msgq *q;
    vmux_message msg;                       /* what the pop without waiting took */
    atomic_int now_rc, wait_rc, forever_rc; /* each pop's result; 1 until the callback ran */
};

static void pop_in_callback(const vmux_message *msg, void *ud)
{
    (void)msg;
    struct in_callback *c = ud;
    vmux_message waited, forever;
    atomic_store(&c->now_rc, vmux_msgq_pop(c->q, 0, &c->msg));
    /* bounded, so that a wait that is not refused fails the test (with TIMEOUT) instead of
     * hanging it: with VMUX_FOREVER it hung the handle and its vmux_close() for good */
    int rc = vmux_msgq_pop(c->q, 3000, &waited);
    if (rc == 0)
        vmux_message_free(&waited);
    if (rc == VMUX_ERR_INVALID_ARG && waited.payload.ptr == NULL) /* else it would hang */
        atomic_store(&c->forever_rc, vmux_msgq_pop(c->q, VMUX_FOREVER, &forever));
    atomic_store(&c->wait_rc, rc);
}

static bool callback_popped(void *arg)
{
    return atomic_load(&((struct in_callback *)arg)->wait_rc) != 1;
}

static bool queue_holds_one(void *q)
{
    return vmux_msgq_length(q) >= 1;
}

/*
 * Queue q (fed by a subscription of m) holds the message "first"; a callback of cb_handle pops
 * from it without waiting (it works), then with a timeout and with VMUX_FOREVER (each refused
 * at once); the queue is then empty.
 */
static void pop_from_callback_of(vmux *m, vmux *cb_handle, vmux_msgq *q, const char *chan)
{
    char cb_chan[MAXNAME];
    name_of(cb_chan, sizeof cb_chan, "pop-in-callback");
    assert_int_equal(publish(m, chan, "first"), 1);
    assert_true(vt_wait_until(queue_holds_one, q, WAIT_MS));
    struct in_callback c = {.q = q};
    atomic_init(&c.now_rc, 1);
    atomic_init(&c.wait_rc, 1);
    atomic_init(&c.forever_rc, 1);
    vmux_sub *s = NULL;
    assert_int_equal(
        vmux_subscribe(cb_handle, VMUX_SUB_CHANNEL, VMUX_STR(cb_chan), pop_in_callback, &c, &s), 0);
    assert_int_equal(vmux_sub_wait_live(s, LIVE_MS), 0);
    assert_int_equal(publish(cb_handle, cb_chan, "go"), 1);
    assert_true(vt_wait_until(callback_popped, &c, WAIT_MS));
    assert_int_equal(atomic_load(&c.now_rc), 0);
    assert_true(bytes_eq(c.msg.payload, "first", 5));
    vmux_message_free(&c.msg);
    if (atomic_load(&c.wait_rc) != VMUX_ERR_INVALID_ARG)
        fail_msg("a pop waiting 3 s in a callback returned %s, not VMUX_ERR_INVALID_ARG at once",
                 vmux_err_name(atomic_load(&c.wait_rc)));
    assert_int_equal(atomic_load(&c.forever_rc), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_unsubscribe(cb_handle, s), 0);
}

/* In a callback, of q's own handle or of another, a pop may take but not wait; all still works. */
static void test_pop_in_callback(void **state)
{
    (void)state;
    vmux *m = open_handle();
    vmux *other = open_handle();
    char chan[MAXNAME];
    name_of(chan, sizeof chan, "pop-in-callback-q");
    vmux_msgq *q;
    assert_int_equal(vmux_msgq_new(4, VMUX_OVERFLOW_DROP_OLDEST, &q), 0);
    (void)subscribe_queue_live(m, VMUX_SUB_CHANNEL, chan, q);
    pop_from_callback_of(m, m, q, chan);
    pop_from_callback_of(m, other, q, chan);
    publish_seq(m, chan, 2, 1); /* the handle still delivers, and a reader may wait for it */
    pop_seq(q, WAIT_MS, 2);
    vmux_close(other);
    vmux_close(m); /* ends qs and closes q */
    vmux_message msg;
    assert_int_equal(vmux_msgq_pop(q, WAIT_MS, &msg), VMUX_ERR_CLOSED);
    vmux_msgq_free(q);
}

/* ---- bad arguments ---- */

static void test_bad_arguments(void **state)
{
    (void)state;
    vmux *m = open_handle();
    vmux_msgq *q;
    vmux_sub *s = NULL;
    const vmux_str name = VMUX_STR("vmux:ps:bad");
    const int bad = VMUX_ERR_INVALID_ARG;

    assert_int_equal(vmux_msgq_new(0, VMUX_OVERFLOW_DROP_OLDEST, &q), bad);
    assert_int_equal(vmux_msgq_new(4, (vmux_overflow)2, &q), bad);
    assert_int_equal(vmux_msgq_new(4, (vmux_overflow)-1, &q), bad);
    assert_int_equal(vmux_msgq_new(4, VMUX_OVERFLOW_DROP_OLDEST, NULL), bad);
    assert_int_equal(vmux_msgq_new(4, VMUX_OVERFLOW_DROP_OLDEST, &q), 0);

    /* each named in vmux_last_error() (review helper-235 F4: "invalid argument" alone before) */
    assert_int_equal(vmux_subscribe(NULL, VMUX_SUB_CHANNEL, name, on_nothing, NULL, &s), bad);
    assert_null(s);
    assert_string_equal(vmux_last_error(), "invalid argument: the handle is NULL");
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STRN(NULL, 3), on_nothing, NULL, &s),
                     bad);
    /* a pointer NULL with a length is worded as vmux_call() words one (not "empty") */
    assert_string_equal(vmux_last_error(),
                        "invalid argument: name.ptr is NULL with a length (name.len 3)");
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(""), on_nothing, NULL, &s), bad);
    assert_string_equal(vmux_last_error(), "invalid argument: name is empty");
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, name, NULL, NULL, &s), bad);
    assert_string_equal(vmux_last_error(), "invalid argument: cb is NULL");
    assert_int_equal(vmux_subscribe(m, (vmux_sub_kind)3, name, on_nothing, NULL, &s), bad);
    assert_string_equal(vmux_last_error(),
                        "invalid argument: kind 3 is none of VMUX_SUB_CHANNEL, VMUX_SUB_PATTERN "
                        "and VMUX_SUB_SHARD");
    assert_int_equal(vmux_subscribe(m, (vmux_sub_kind)-1, name, on_nothing, NULL, &s), bad);
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, name, on_nothing, NULL, NULL), bad);
    assert_null(s);

    assert_int_equal(vmux_subscribe_queue(NULL, VMUX_SUB_CHANNEL, name, q, &s), bad);
    assert_int_equal(vmux_subscribe_queue(m, VMUX_SUB_CHANNEL, name, NULL, &s), bad);
    assert_string_equal(vmux_last_error(), "invalid argument: q is NULL");
    assert_int_equal(vmux_subscribe_queue(m, VMUX_SUB_PATTERN, VMUX_STR(""), q, &s), bad);
    assert_int_equal(vmux_subscribe_queue(m, VMUX_SUB_SHARD, VMUX_STRN(NULL, 0), q, &s), bad);
    assert_string_equal(vmux_last_error(), "invalid argument: name is empty");
    assert_int_equal(vmux_subscribe_queue(m, (vmux_sub_kind)7, name, q, &s), bad);
    assert_int_equal(vmux_subscribe_queue(m, VMUX_SUB_CHANNEL, name, q, NULL), bad);
    assert_string_equal(vmux_last_error(), "invalid argument: out is NULL");

    vmux_message msg;
    assert_int_equal(vmux_msgq_pop(NULL, 0, &msg), bad);
    assert_int_equal(vmux_msgq_pop(q, 0, NULL), bad);
    assert_int_equal(vmux_sub_wait_live(NULL, 0), bad);
    assert_int_equal(vmux_unsubscribe(m, NULL), bad);
    int64_t receivers;
    assert_int_equal(vmux_publish(NULL, NULL, VMUX_SUB_CHANNEL, name, name, &receivers), bad);
    /* a pattern is for subscribing; nobody publishes to one */
    receivers = 7;
    assert_int_equal(vmux_publish(m, NULL, VMUX_SUB_PATTERN, name, name, &receivers), bad);
    assert_int_equal(receivers, 0);
    assert_int_equal(vmux_msgq_pop(q, VMUX_FOREVER - 1, &msg), bad);
    assert_int_equal(vmux_sub_wait_live(NULL, VMUX_FOREVER), bad);

    /* A real subscription: unsubscribing it through no handle is refused, and it still works. */
    assert_int_equal(vmux_subscribe_queue(m, VMUX_SUB_CHANNEL, name, q, &s), 0);
    assert_int_equal(vmux_unsubscribe(NULL, s), bad);
    assert_int_equal(vmux_sub_wait_live(s, LIVE_MS), 0);
    assert_int_equal(vmux_unsubscribe(m, s), 0);

    vmux_message_free(NULL);
    vmux_msgq_free(NULL);
    vmux_close(m);
    vmux_msgq_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drop_oldest),
        cmocka_unit_test(test_drop_newest),
        cmocka_unit_test(test_bound_one),
        cmocka_unit_test(test_free_with_messages),
        cmocka_unit_test(test_shared_queue),
        cmocka_unit_test(test_pop_timeout),
        cmocka_unit_test(test_close_wakes_blocked_pop),
        cmocka_unit_test(test_close_while_subscribing),
        cmocka_unit_test(test_pop_in_callback),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

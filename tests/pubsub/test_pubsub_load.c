/*
 * Pub/sub under load, each test on a server of its own (tests/support/servers.h), since they
 * flood it:
 * - matching: a handle with 10,000 subscriptions delivers at least half as fast as with one
 *   (messages are found by name in a hash table, not by a scan);
 * - slow callbacks: a 1 ms callback under 100,000 messages, while the same handle's SET calls
 *   succeed within their 1000 ms deadline and no connection is declared dead;
 * - drops by the server: a server with a tiny client-output-buffer-limit for pubsub closes a
 *   subscriber that reads too slowly; that is counted (stats.subscriber_lost) and raised
 *   (VMUX_EVENT_SUBSCRIBER_LOST), and the subscription comes back;
 * - a slow subscriber killed (CLIENT KILL) behind its messages while it subscribes again gets
 *   every message the server had sent before the kill: its SUBSCRIBE waits until it has read
 *   them (the server's kernel would answer it with a reset and drop the ones it still held).
 * The messages are published by a server-side script, so the publisher is never the limit.
 * Under a sanitizer the counts are smaller and the rate ratio is not asserted.
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

#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

enum { WAIT_MS = 60000, LIVE_MS = 10000, MANY = 10000, LIVENESS = 10 };

static const char PUBLISH_LOOP[] =
    "for i = 1, tonumber(ARGV[1]) do redis.call('PUBLISH', KEYS[1], ARGV[2]) end";

/* Publishes n copies of payload to channel from inside the server. */
static void publish_many(vmux *p, const char *channel, unsigned n, const char *payload)
{
    char count[16];
    snprintf(count, sizeof count, "%u", n);
    const char *argv[] = {"EVAL", PUBLISH_LOOP, "1", channel, count, payload};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 60000);
    vmux_reply *r = NULL;
    int rc = vmux_call(p, &o, 6, argv, NULL, &r);
    if (rc != 0)
        fail_msg("EVAL: %s", vmux_err_name(rc));
    vmux_reply_free(r);
}

static bool count_reached(atomic_uint *n, unsigned want, int timeout_ms);

/* ---- matching costs O(1) per message ---- */

struct rate {
    atomic_uint n;
    uint64_t first_ns, last_ns; /* I/O thread only, read after n is complete */
};

static void on_timed(const vmux_message *msg, void *ud)
{
    struct rate *r = ud;
    (void)msg;
    uint64_t now = vt_now_ns();
    if (atomic_load(&r->n) == 0)
        r->first_ns = now;
    r->last_ns = now;
    atomic_fetch_add(&r->n, 1);
}

static void on_nothing(const vmux_message *msg, void *ud)
{
    (void)msg;
    (void)ud;
}

/* Messages per second the handle delivers to one subscription (the best of three runs). */
static double delivery_rate(vmux *m, vmux *p, const char *channel, unsigned n)
{
    double best = 0;
    for (int run = 0; run < 3; run++) {
        struct rate r = {0};
        vmux_sub *s = NULL;
        assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(channel), on_timed, &r, &s),
                         0);
        assert_int_equal(vmux_sub_wait_live(s, LIVE_MS), 0);
        publish_many(p, channel, n, "x");
        if (!count_reached(&r.n, n, WAIT_MS))
            fail_msg("%u of %u messages came", atomic_load(&r.n), n);
        assert_int_equal(vmux_unsubscribe(m, s), 0);
        double rate = (n - 1) / ((double)(r.last_ns - r.first_ns) / 1e9);
        best = rate > best ? rate : best;
    }
    return best;
}

static void test_many_subscriptions_cost_nothing_per_message(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    vmux *m = vt_server_open(&srv, "syncTimeout=20000"),
         *p = vt_server_open(&srv, "syncTimeout=20000");
    unsigned n = SANITIZED ? 20000 : 200000;
    double one = delivery_rate(m, p, "target", n);
    vmux_sub **subs = calloc(MANY, sizeof(*subs));
    assert_non_null(subs);
    char name[32];
    for (int i = 0; i < MANY - 1; i++) {
        snprintf(name, sizeof name, "filler:%d", i);
        assert_int_equal(
            vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(name), on_nothing, NULL, &subs[i]), 0);
    }
    assert_int_equal(vmux_sub_wait_live(subs[MANY - 2], WAIT_MS), 0); /* confirmed in order */
    double many = delivery_rate(m, p, "target", n);
    print_message("delivery: %.0f msg/s with 1 subscription, %.0f msg/s with %d (%.0f %%)\n", one,
                  many, MANY, 100 * many / one);
    if (!SANITIZED && many < one / 2)
        fail_msg("%d subscriptions: %.0f msg/s, under half of %.0f", MANY, many, one);
    vmux_close(m);
    vmux_close(p);
    free(subs);
    vt_server_stop(&srv);
}

/* ---- slow callbacks cost no one else their deadline ---- */

struct events {
    atomic_uint failed, lost;
};

static void on_event(const vmux_event *ev, void *ud)
{
    struct events *e = ud;
    if (ev->type == VMUX_EVENT_CONNECTION_FAILED)
        atomic_fetch_add(&e->failed, 1);
    if (ev->type == VMUX_EVENT_SUBSCRIBER_LOST)
        atomic_fetch_add(&e->lost, 1);
}

static vmux *open_watched(const vt_server *s, const char *extra, struct events *e)
{
    char *conf = vt_server_conf(s, extra);
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_event_handler(cfg, on_event, e), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    free(conf);
    return m;
}

/* Busy for ms milliseconds, as a callback that does too much is. */
static void work_ms(unsigned ms)
{
    uint64_t until = vt_now_ns() + (uint64_t)ms * 1000000;
    while (vt_now_ns() < until)
        ;
}

/* About 1 ms of work, as a callback that does too much would take. */
static void on_slow(const vmux_message *msg, void *ud)
{
    (void)msg;
    work_ms(1);
    atomic_fetch_add((atomic_uint *)ud, 1);
}

static void test_slow_callback_keeps_deadlines(void **state)
{
    (void)state;
    vt_server srv;
    const char *const unlimited[] = {"--client-output-buffer-limit", "pubsub 0 0 0", NULL};
    assert_int_equal(vt_server_start(&srv, 0, unlimited), 0);
    struct events ev = {0};
    /* keepAlive=1: heartbeats run during the test, and the dead-link rule with them. */
    vmux *m = open_watched(&srv, "syncTimeout=1000,keepAlive=1", &ev);
    vmux *p = vt_server_open(&srv, "syncTimeout=20000");
    static atomic_uint got; /* static: a failed test leaves its handle calling back */
    atomic_init(&got, 0);
    vmux_sub *s = NULL;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("slow"), on_slow, &got, &s), 0);
    assert_int_equal(vmux_sub_wait_live(s, LIVE_MS), 0);
    publish_many(p, "slow", 100000, "a-slow-message");
    uint64_t worst = 0, end = vt_now_ms() + 3500;
    unsigned calls = 0;
    const char *argv[] = {"SET", "vmux:ps:slow", "v"};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 1000);
    while (vt_now_ms() < end) {
        uint64_t t0 = vt_now_ms();
        vmux_reply *r = NULL;
        int rc = vmux_call(m, &o, 3, argv, NULL, &r);
        uint64_t took = vt_now_ms() - t0;
        /* Each SET succeeds within its 1 s deadline (the library's own clock decides), and
         * none returns later than LIVENESS times it: a liveness guard, not a speed claim. */
        if (rc != 0 || took > LIVENESS * 1000)
            fail_msg("SET %u: %s after %llu ms", calls, vmux_err_name(rc),
                     (unsigned long long)took);
        vmux_reply_free(r);
        worst = took > worst ? took : worst;
        calls++;
    }
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    unsigned delivered = atomic_load(&got);
    print_message("%u SET calls, the slowest %llu ms; %u of 100000 messages delivered\n", calls,
                  (unsigned long long)worst, delivered);
    assert_true(delivered > 100);    /* the callbacks ran all along (1 ms each, for 3.5 s) */
    assert_true(delivered < 100000); /* and were slower than the messages came */
    assert_int_equal(st.connection_lost, 0);
    assert_int_equal(st.connect_failures, 0);
    assert_int_equal(atomic_load(&ev.failed), 0);
    assert_int_equal(atomic_load(&ev.lost), 0);
    assert_int_equal(vmux_sub_wait_live(s, 0), 0);
    vmux_close(m);
    vmux_close(p);
    vt_server_stop(&srv);
}

/* ---- a subscriber the server drops is counted ---- */

struct watched {
    vmux *m;
    struct events *ev;
};

/* Counted and raised: the counter goes up before the event is emitted on the I/O thread. */
static bool lost_once(void *arg)
{
    const struct watched *w = arg;
    vmux_stats st = VMUX_INIT(vmux_stats);
    return vmux_read_stats(w->m, &st) == 0 && st.subscriber_lost >= 1 &&
           atomic_load(&w->ev->lost) >= 1;
}

static void test_server_drop_counted(void **state)
{
    (void)state;
    vt_server srv;
    const char *const tiny[] = {"--client-output-buffer-limit", "pubsub 64kb 32kb 1", NULL};
    assert_int_equal(vt_server_start(&srv, 0, tiny), 0);
    struct events ev = {0};
    vmux *m = open_watched(&srv, "syncTimeout=20000,reconnectMin=20,reconnectMax=100", &ev);
    vmux *p = vt_server_open(&srv, "syncTimeout=20000");
    static atomic_uint got; /* static: a failed test leaves its handle calling back */
    atomic_init(&got, 0);
    vmux_sub *s = NULL;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("drop"), on_slow, &got, &s), 0);
    assert_int_equal(vmux_sub_wait_live(s, LIVE_MS), 0);
    char payload[201];
    memset(payload, 'p', 200);
    payload[200] = '\0';
    publish_many(p, "drop", 100000, payload); /* about 22 MB for a reader of 1 message a ms */
    struct watched w = {m, &ev};
    assert_true(vt_wait_until(lost_once, &w, WAIT_MS));
    assert_int_equal(atomic_load(&ev.lost), 1);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_command(p, &r, "INFO stats"), 0);
    const char *info = vmux_reply_str(r, NULL);
    const char *at = info ? strstr(info, "client_output_buffer_limit_disconnections:") : NULL;
    assert_non_null(at);
    assert_true(atoi(at + strlen("client_output_buffer_limit_disconnections:")) >= 1);
    vmux_reply_free(r);
    /* The subscription comes back by itself. */
    assert_int_equal(vmux_sub_wait_live(s, LIVE_MS), 0);
    int64_t receivers = 0;
    assert_int_equal(
        vmux_publish(p, NULL, VMUX_SUB_CHANNEL, VMUX_STR("drop"), VMUX_STR("x"), &receivers), 0);
    assert_int_equal(receivers, 1);
    vmux_close(m);
    vmux_close(p);
    vt_server_stop(&srv);
}

/* ---- a slow subscriber killed behind its messages keeps them ---- */

enum { BEHIND = 300 }; /* messages of 2 KB: 600 KB, mostly in the server's kernel send queue */

/* About 5 ms of work: the 300 messages take 1.5 s, so the kill comes long before the last. */
static void on_slower(const vmux_message *msg, void *ud)
{
    (void)msg;
    work_ms(5);
    atomic_fetch_add((atomic_uint *)ud, 1);
}

/* The server's output buffer for the subscriber is empty: all it was sent is in the kernels'. */
static bool server_sent_all(void *arg)
{
    vmux_reply *r = NULL;
    const char *argv[] = {"CLIENT", "LIST", "TYPE", "pubsub"};
    if (vmux_call(arg, NULL, 4, argv, NULL, &r) != 0)
        return false;
    const char *list = vmux_reply_str(r, NULL);
    const char *omem = list != NULL ? strstr(list, " omem=") : NULL;
    bool empty = omem != NULL && atoll(omem + strlen(" omem=")) == 0;
    vmux_reply_free(r);
    return empty;
}

struct resubscribing {
    vmux *m;
    vmux_sub *subs[2];
};

/* The subscriber connection was lost and replaced: nothing more can come from the old one. */
static bool resubscribed(void *arg)
{
    const struct resubscribing *rs = arg;
    vmux_stats st = VMUX_INIT(vmux_stats);
    return vmux_read_stats(rs->m, &st) == 0 && st.subscriber_lost >= 1 &&
           vmux_sub_wait_live(rs->subs[0], 0) == 0 && vmux_sub_wait_live(rs->subs[1], 0) == 0;
}

/*
 * The server closes the subscriber's connection with most of the messages still in its kernel's
 * send queue (the subscriber's window is full), so its FIN waits behind them and the subscriber
 * cannot see it yet. A SUBSCRIBE written then made the server's kernel reset the connection and
 * drop what it held: 61 of 300 delivered (TcpExtTCPAbortOnData). Held until the subscriber has
 * read its socket empty, it goes to the next connection, and all 300 are delivered.
 */
static void test_killed_behind_keeps_sent_messages(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    vmux *m = vt_server_open(&srv, "syncTimeout=20000,reconnectMin=20,reconnectMax=100");
    vmux *p = vt_server_open(&srv, "syncTimeout=20000");
    static atomic_uint got; /* static: a failed test leaves its handle calling back */
    atomic_init(&got, 0);
    struct resubscribing rs = {m, {NULL, NULL}};
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("behind"), on_slower, &got, &rs.subs[0]), 0);
    assert_int_equal(vmux_sub_wait_live(rs.subs[0], LIVE_MS), 0);
    char payload[2001];
    memset(payload, 'b', 2000);
    payload[2000] = '\0';
    publish_many(p, "behind", BEHIND, payload);
    assert_true(vt_wait_until(server_sent_all, p, WAIT_MS));
    vmux_reply *r = NULL;
    assert_int_equal(vmux_command(p, &r, "CLIENT KILL TYPE pubsub"), 0);
    assert_int_equal(vmux_reply_integer(r), 1);
    vmux_reply_free(r);
    unsigned at_kill = atomic_load(&got);
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("again"), on_nothing, NULL, &rs.subs[1]), 0);
    assert_true(vt_wait_until(resubscribed, &rs, WAIT_MS));
    unsigned delivered = atomic_load(&got);
    print_message("%u delivered at the kill, %u of %d in all\n", at_kill, delivered, BEHIND);
    if (at_kill >= BEHIND)
        fail_msg("the subscriber had caught up before the kill: nothing was tested");
    if (delivered != BEHIND)
        fail_msg("%u of the %d messages sent before the kill were delivered", delivered, BEHIND);
    vmux_close(m);
    vmux_close(p);
    vt_server_stop(&srv);
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

static bool count_reached(atomic_uint *n, unsigned want, int timeout_ms)
{
    struct goal g = {n, want};
    return vt_wait_until(reached, &g, timeout_ms);
}

int main(void)
{
    vt_filter_tests(); /* VT_ONLY=test_name runs one */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_subscriptions_cost_nothing_per_message),
        cmocka_unit_test(test_slow_callback_keeps_deadlines),
        cmocka_unit_test(test_server_drop_counted),
        cmocka_unit_test(test_killed_behind_keeps_sent_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

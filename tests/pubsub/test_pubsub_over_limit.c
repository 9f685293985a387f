/*
 * A message over a reply limit, against the "plain" server: the subscriber connection drops it
 * and goes on. Between two ordinary messages, a message whose payload is over maxBulkLength (a
 * channel subscription) or takes the reply over maxReplyBuffer (a pattern subscription) is
 * dropped: the two ordinary ones arrive in order, vmux_stats.pubsub_over_limit counts the
 * dropped one, no connection is made or lost (connects, connect_failures, subscriber_lost stay),
 * and a WARN line names its channel and the limit. Before, the subscriber connection failed on
 * it and was replaced, and the message behind it was lost with it.
 *
 * Channel names carry the process id: other tests share the server.
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

enum { WAIT_MS = 20000, LIVE_MS = 10000, MAX_GOT = 8 };

/* ---- what the subscription and the log saw (the I/O thread writes, the test reads) ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char got[MAX_GOT][32]; /* the payloads delivered, in order (the short ones) */
static unsigned ngot;
static char warned[512]; /* the first WARN line that says "over a reply limit" */

static void on_message(const vmux_message *msg, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&mu);
    if (ngot < MAX_GOT)
        snprintf(got[ngot], sizeof got[ngot], "%.*s",
                 (int)(msg->payload.len < 31 ? msg->payload.len : 31), msg->payload.ptr);
    ngot++;
    pthread_mutex_unlock(&mu);
}

static void on_log(vmux_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    pthread_mutex_lock(&mu);
    if (level == VMUX_LOG_WARN && warned[0] == '\0' && strstr(message, "over a reply limit"))
        snprintf(warned, sizeof warned, "%s", message);
    pthread_mutex_unlock(&mu);
}

static void reset(void)
{
    pthread_mutex_lock(&mu);
    ngot = 0;
    warned[0] = '\0';
    pthread_mutex_unlock(&mu);
}

static bool two_seen(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    bool seen = false;
    for (unsigned i = 0; i < ngot && i < MAX_GOT; i++)
        seen = seen || strcmp(got[i], "two") == 0;
    pthread_mutex_unlock(&mu);
    return seen;
}

/* ---- helpers ---- */

static vmux *open_subscriber(const char *limits)
{
    char extra[160];
    snprintf(extra, sizeof extra, "syncTimeout=20000,%s", limits);
    char *text = vt_server_config("plain", extra);
    vmux_config *cfg = vt_config(text);
    assert_int_equal(vmux_config_set_log(cfg, on_log, VMUX_LOG_WARN, NULL), 0);
    vmux *m = vt_open_config(cfg, text);
    vmux_config_free(cfg);
    free(text);
    return m;
}

static vmux_stats stats_of(const vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    return st;
}

static void publish(vmux *pub, const char *channel, const char *payload, size_t len)
{
    int64_t receivers = -1;
    int rc = vmux_publish(pub, NULL, VMUX_SUB_CHANNEL, VMUX_STR(channel), (vmux_str){payload, len},
                          &receivers);
    if (rc != 0)
        fail_msg("PUBLISH: %s", vmux_err_name(rc));
    assert_int_equal(receivers, 1);
}

/*
 * Subscribes m to name (a channel, or a pattern that matches channel), publishes "one", a
 * payload of big bytes, and "two" to channel through a handle of its own, and checks that the
 * big one alone is dropped, on the same connection, and logged with channel and limit_words.
 */
static void run(vmux *m, vmux_sub_kind kind, const char *name, const char *channel, size_t big,
                const char *limit_words)
{
    reset();
    vmux_sub *sub;
    assert_int_equal(vmux_subscribe(m, kind, VMUX_STR(name), on_message, NULL, &sub), 0);
    assert_int_equal(vmux_sub_wait_live(sub, LIVE_MS), 0);
    vmux *pub = vt_open("plain", NULL);
    char *payload = malloc(big);
    assert_non_null(payload);
    memset(payload, 'x', big);
    vmux_stats before = stats_of(m);

    publish(pub, channel, "one", 3);
    publish(pub, channel, payload, big);
    publish(pub, channel, "two", 3);
    bool arrived = vt_wait_until(two_seen, NULL, WAIT_MS);
    vmux_stats after = stats_of(m);
    pthread_mutex_lock(&mu);
    unsigned n = ngot;
    pthread_mutex_unlock(&mu);
    if (!arrived)
        fail_msg("\"two\" never arrived (%u delivered): pubsub_over_limit +%llu, subscriber_lost "
                 "+%llu, connect_failures +%llu",
                 n, (unsigned long long)(after.pubsub_over_limit - before.pubsub_over_limit),
                 (unsigned long long)(after.subscriber_lost - before.subscriber_lost),
                 (unsigned long long)(after.connect_failures - before.connect_failures));
    assert_int_equal(n, 2);
    assert_string_equal(got[0], "one");
    assert_string_equal(got[1], "two");
    assert_int_equal(after.pubsub_over_limit - before.pubsub_over_limit, 1);
    assert_int_equal(after.connects, before.connects);
    assert_int_equal(after.connect_failures, before.connect_failures);
    assert_int_equal(after.subscriber_lost, before.subscriber_lost);

    pthread_mutex_lock(&mu);
    char line[sizeof warned];
    memcpy(line, warned, sizeof line);
    pthread_mutex_unlock(&mu);
    char on[160];
    snprintf(on, sizeof on, "on '%s'", channel);
    if (strstr(line, on) == NULL || strstr(line, limit_words) == NULL)
        fail_msg("the WARN line names neither %s nor %s: \"%s\"", on, limit_words, line);

    free(payload);
    vmux_close(pub);
    assert_int_equal(vmux_unsubscribe(m, sub), 0);
}

/* A channel subscription, a payload over maxBulkLength. */
static void test_message_over_bulk_length(void **state)
{
    (void)state;
    char channel[96];
    snprintf(channel, sizeof channel, "vmux:ps:%d:over:bulk", (int)getpid());
    vmux *m = open_subscriber("maxBulkLength=1024");
    run(m, VMUX_SUB_CHANNEL, channel, channel, 4096, "exceeds maxBulkLength 1024");
    vmux_close(m);
}

/* A pattern subscription (the channel is the third element), a message over maxReplyBuffer. */
static void test_pmessage_over_reply_buffer(void **state)
{
    (void)state;
    char pattern[96], channel[96];
    snprintf(pattern, sizeof pattern, "vmux:ps:%d:over:buf:*", (int)getpid());
    snprintf(channel, sizeof channel, "vmux:ps:%d:over:buf:1", (int)getpid());
    /* 1000 bytes pass maxBulkLength; with the other three values, the message takes more */
    vmux *m = open_subscriber("maxBulkLength=1024,maxReplyBuffer=1025");
    run(m, VMUX_SUB_PATTERN, pattern, channel, 1000, "exceeds maxReplyBuffer 1025");
    vmux_close(m);
}

/*
 * A maxReplyElements below a pattern message's 4 elements: the messages come all the same (the
 * subscriber connection reads with 4 at least), and the one over maxBulkLength is dropped. It
 * failed the connection at every pattern message before (review helper-197: 0 of 4 delivered,
 * subscriber_lost +1).
 */
static void test_pmessage_under_few_elements(void **state)
{
    (void)state;
    char pattern[96], channel[96];
    snprintf(pattern, sizeof pattern, "vmux:ps:%d:few:*", (int)getpid());
    snprintf(channel, sizeof channel, "vmux:ps:%d:few:1", (int)getpid());
    vmux *m = open_subscriber("maxReplyElements=3,maxBulkLength=1024");
    run(m, VMUX_SUB_PATTERN, pattern, channel, 4096, "exceeds maxBulkLength 1024");
    vmux_close(m);
}

/* Subscribes m to a channel name of len bytes: its result; a subscription made is ended. */
static int subscribe_len(vmux *m, size_t len)
{
    char *name = malloc(len);
    assert_non_null(name);
    int head = snprintf(name, len, "vmux:ps:%d:name:", (int)getpid());
    memset(name + head, 'n', len - (size_t)head);
    vmux_sub *sub = NULL;
    int rc = vmux_subscribe(m, VMUX_SUB_CHANNEL, (vmux_str){name, len}, on_message, NULL, &sub);
    if (rc == 0) {
        assert_int_equal(vmux_sub_wait_live(sub, LIVE_MS), 0);
        assert_int_equal(vmux_unsubscribe(m, sub), 0);
    } else {
        assert_null(sub);
    }
    free(name);
    return rc;
}

/*
 * A name whose subscription's confirmation would be over a limit is refused at once, in words:
 * the confirmation fails the subscriber connection (it cannot be dropped), so such a subscription
 * failed every connection that sent it again, for good (review helper-195: the subscriber
 * reconnected again and again, and the other subscriptions on it with it). The longest name that
 * fits subscribes, and nothing reconnects.
 */
static void test_name_over_a_limit_refused(void **state)
{
    (void)state;
    vmux *m = open_subscriber("maxBulkLength=64,maxReplyBuffer=1024");
    vmux_stats before = stats_of(m);
    assert_int_equal(subscribe_len(m, 65), VMUX_ERR_INVALID_ARG);
    if (strncmp(vmux_last_error(), "invalid argument: ", 18) != 0 ||
        strstr(vmux_last_error(), "longer than maxBulkLength 64") == NULL)
        fail_msg("the words: %s", vmux_last_error());
    assert_int_equal(subscribe_len(m, 64), 0);
    vmux_close(m);
    m = open_subscriber("maxBulkLength=1024,maxReplyBuffer=1025");
    assert_int_equal(subscribe_len(m, 1000), VMUX_ERR_INVALID_ARG);
    if (strncmp(vmux_last_error(), "invalid argument: ", 18) != 0 ||
        strstr(vmux_last_error(), "over maxReplyBuffer 1025") == NULL)
        fail_msg("the words: %s", vmux_last_error());
    assert_int_equal(subscribe_len(m, 100), 0);
    vmux_stats after = stats_of(m);
    assert_int_equal(after.subscriber_lost, 0);
    assert_int_equal(after.connect_failures, 0);
    assert_int_equal(before.subscriber_lost, 0);
    vmux_close(m);
}

/*
 * The longest name maxReplyBuffer lets a subscription of kind have is unsubscribed again without
 * failing the connection: its UNSUBSCRIBE's answer ("punsubscribe", 12 bytes) is longer than its
 * SUBSCRIBE's, and sized by "psubscribe" alone, the name that was just accepted had an answer over
 * the limit (review helper-200: subscriber_lost +1, the other subscriptions' messages lost).
 */
static void unsubscribe_longest(vmux_sub_kind kind)
{
    reset();
    vmux *m = open_subscriber("maxBulkLength=300,maxReplyBuffer=400");
    char name[300], other[96];
    snprintf(other, sizeof other, "vmux:ps:%d:other", (int)getpid());
    int head = snprintf(name, sizeof name, "vmux:ps:%d:longest:", (int)getpid());
    memset(name + head, 'n', sizeof name - (size_t)head);
    vmux_sub *sub = NULL, *keep = NULL;
    size_t len = sizeof name;
    while (len > 0 && vmux_subscribe(m, kind, (vmux_str){name, len}, on_message, NULL, &sub) != 0)
        len--;
    assert_non_null(sub);
    assert_int_equal(vmux_sub_wait_live(sub, LIVE_MS), 0);
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(other), on_message, NULL, &keep),
                     0);
    assert_int_equal(vmux_sub_wait_live(keep, LIVE_MS), 0);
    vmux_stats before = stats_of(m);
    assert_int_equal(vmux_unsubscribe(m, sub), 0);
    vmux *pub = vt_open("plain", NULL);
    publish(pub, other, "two", 3); /* read behind the UNSUBSCRIBE's answer */
    bool arrived = vt_wait_until(two_seen, NULL, WAIT_MS);
    vmux_stats after = stats_of(m);
    if (!arrived || after.subscriber_lost != before.subscriber_lost)
        fail_msg("unsubscribing a %zu-byte name: \"two\" %s, subscriber_lost +%llu", len,
                 arrived ? "arrived" : "never arrived",
                 (unsigned long long)(after.subscriber_lost - before.subscriber_lost));
    vmux_close(pub);
    vmux_close(m);
}

static void test_longest_name_unsubscribed(void **state)
{
    (void)state;
    unsubscribe_longest(VMUX_SUB_CHANNEL);
    unsubscribe_longest(VMUX_SUB_PATTERN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_over_bulk_length),
        cmocka_unit_test(test_pmessage_over_reply_buffer),
        cmocka_unit_test(test_name_over_a_limit_refused),
        cmocka_unit_test(test_pmessage_under_few_elements),
        cmocka_unit_test(test_longest_name_unsubscribed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

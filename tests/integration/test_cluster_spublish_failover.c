/*
 * SPUBLISH's count of receivers after a planned failover (fixture "cluster-spub": three
 * primaries with a replica each, its own, since the test fails a shard over). A Valkey replica
 * runs SPUBLISH for its primary's slots, without READONLY and without MOVED, and counts only its
 * own subscribers; so a handle that only publishes hears of a failover from nothing but its map
 * checks. Before, that was the periodic check alone (30 s): SPUBLISH went on to the demoted node
 * and said 0 receivers for up to 30 s (review helper-262: 7,967 of 12,066 SPUBLISHes from 4.1 s
 * to 30.0 s after the failover), although the subscriber, on the promoted primary, received each
 * message. Now an SPUBLISH that counted none brings the check forward (at most once per 5 s per
 * handle, route/router.h), and the count comes back within seconds.
 *
 * One handle subscribes to a shard channel; another only publishes to it (SPUBLISH, nothing
 * else: no MOVED ever reaches it). The channel's shard fails over (CLUSTER FAILOVER on its
 * replica); once the subscriber is on the promoted primary (PUBSUB SHARDNUMSUB there), the
 * publisher's SPUBLISH must count it again within 10 s, a third of the periodic check's period.
 * Then 200 SPUBLISHes to a channel nobody listens to ask for no more than one check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "node.h"
#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-spub"
#define CHANNEL "spf:{c}"
#define WAIT_MS 20000
#define COUNT_BACK_MS 10000 /* the periodic check comes after 30 s */

static vmux *sub, *pub;

static void on_message(const vmux_message *msg, void *userdata)
{
    (void)msg;
    (void)userdata;
}

/* The port of the primary that serves slot, as the node at port says (CLUSTER SLOTS); -1 none. */
static int owner_of(int port, int slot)
{
    int owner = -1;
    redisReply *r = vt_node_command(port, false, "CLUSTER SLOTS");
    for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *range = r->element[i];
        if (range->element[0]->integer <= slot && slot <= range->element[1]->integer)
            owner = (int)range->element[2]->element[1]->integer;
    }
    freeReplyObject(r);
    return owner;
}

/* Whether the node at *arg is a replica whose link to its primary is up. */
static bool replica_synced(void *arg)
{
    char *info = vt_node_admin(*(int *)arg, false, "INFO replication");
    bool up = info != NULL && strstr(info, "master_link_status:up") != NULL;
    free(info);
    return up;
}

/* The publisher's SPUBLISH of CHANNEL: its count of receivers, -1 when it failed. */
static long long spublish(void)
{
    int64_t n = -1;
    int rc = vmux_publish(pub, NULL, VMUX_SUB_SHARD, VMUX_STR(CHANNEL), VMUX_STR("m"), &n);
    return rc == 0 ? n : -1;
}

static bool counted_one(void *arg)
{
    long long *last = arg;
    *last = spublish();
    return *last == 1;
}

/* Whether the node at *arg counts one subscriber of CHANNEL (PUBSUB SHARDNUMSUB). */
static bool subscribed_on(void *arg)
{
    redisReply *r = vt_node_command(*(int *)arg, false, "PUBSUB SHARDNUMSUB %s", CHANNEL);
    bool one = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[1]->integer == 1;
    freeReplyObject(r);
    return one;
}

static void test_count_after_failover(void **state)
{
    (void)state;
    int old = owner_of(vt_cluster_port(CLUSTER, 0), (int)vmux__slot_of(CHANNEL, strlen(CHANNEL)));
    assert_true(old > 0);
    int promoted = vt_cluster_replica_of(CLUSTER, old);
    vmux_sub *s = NULL;
    assert_int_equal(vmux_subscribe(sub, VMUX_SUB_SHARD, VMUX_STR(CHANNEL), on_message, NULL, &s),
                     0);
    assert_int_equal(vmux_sub_wait_live(s, WAIT_MS), 0);
    long long last = -1;
    assert_true(vt_poll_until(counted_one, &last, WAIT_MS, 20)); /* on the primary: 1 */

    assert_true(vt_poll_until(replica_synced, &promoted, 30000, 20));
    vt_fail_over(promoted, old);
    uint64_t t0 = vt_now_ms();
    assert_true(vt_poll_until(subscribed_on, &promoted, WAIT_MS, 20));
    print_message("127.0.0.1:%d took over from 127.0.0.1:%d; the subscriber is on it %llu ms "
                  "after\n",
                  promoted, old, (unsigned long long)(vt_now_ms() - t0));
    bool back = vt_poll_until(counted_one, &last, COUNT_BACK_MS, 20);
    if (!back)
        fail_msg("SPUBLISH of the publish-only handle still counts %lld receivers %llu ms after "
                 "the failover, while the promoted primary 127.0.0.1:%d holds the subscriber: "
                 "it still runs on the demoted 127.0.0.1:%d",
                 last, (unsigned long long)(vt_now_ms() - t0), promoted, old);
    print_message("the publisher counts the subscriber again %llu ms after the failover\n",
                  (unsigned long long)(vt_now_ms() - t0));
    assert_int_equal(vmux_unsubscribe(sub, s), 0);
}

static uint64_t refreshes(vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    return st.cluster_refreshes;
}

/* 200 SPUBLISHes that nobody hears, back to back, from a handle of their own: one map check
 * (they take well under the 5 s between two), and the periodic check perhaps (every 30 s), not
 * one each. */
static void test_zero_counts_rate_limited(void **state)
{
    (void)state;
    vmux *quiet = vt_open(CLUSTER, "syncTimeout=15000");
    uint64_t before = refreshes(quiet);
    for (int i = 0; i < 200; i++) {
        int64_t n = -1;
        assert_int_equal(
            vmux_publish(quiet, NULL, VMUX_SUB_SHARD, VMUX_STR("spf:none"), VMUX_STR("m"), &n), 0);
        assert_int_equal(n, 0);
    }
    uint64_t after = refreshes(quiet);
    print_message("200 SPUBLISHes counting 0: %llu map checks\n",
                  (unsigned long long)(after - before));
    vmux_close(quiet);
    assert_true(after - before >= 1);
    assert_true(after - before <= 2);
}

static int setup(void **state)
{
    (void)state;
    sub = vt_open(CLUSTER, "syncTimeout=15000");
    pub = vt_open(CLUSTER, "syncTimeout=15000");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vmux_close(sub);
    vmux_close(pub);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_after_failover),
        cmocka_unit_test(test_zero_counts_rate_limited),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

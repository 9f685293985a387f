/*
 * An SPUBLISH answered 0 receivers is a hint that the map may be stale (route/router.h,
 * vmux__router_stale_hint()), against scripted fake nodes (fakecluster.h): after a failover a
 * Valkey replica runs SPUBLISH for its primary's slots without MOVED and counts only its own
 * subscribers. The map check it brings asks the node that answered 0, which knows at once that
 * it was demoted: the node asked in turn (the seed first) may learn it by gossip only a moment
 * later, and its unchanged map then held the stale one for the next 5 s (the subscriber-side
 * probe of helper-264: the seed answered the old map 41 ms after a CLUSTER FAILOVER). Many
 * SPUBLISHes that count 0 ask for one check, not one each.
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

#include "fakecluster.h"
#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

static void test_zero_asks_that_node_once(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(2, NULL); /* node i serves the i-th half of the slots */
    assert_non_null(c);
    char channel[32];
    for (int i = 0;; i++) { /* a shard channel of node 1's half */
        snprintf(channel, sizeof channel, "sp%d", i);
        if (vmux__slot_of(channel, strlen(channel)) >= 8192)
            break;
    }
    assert_int_equal(vt_fcluster_rule(c, 1, channel, -1, 0, ":0\r\n"), 0);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=8000",
             vt_fcluster_port(c, 0));
    vmux *m = vt_open_conf(conf);
    assert_non_null(m);
    unsigned all = vt_fcluster_count_all(c, "CLUSTER SLOTS"); /* the first map's */
    unsigned before = vt_fcluster_count(c, 1, "CLUSTER SLOTS");
    for (int i = 0; i < 50; i++) {
        int64_t n = -1;
        assert_int_equal(
            vmux_publish(m, NULL, VMUX_SUB_SHARD, VMUX_STR(channel), VMUX_STR("m"), &n), 0);
        assert_int_equal(n, 0);
    }
    if (!vt_fcluster_wait_count(c, 1, "CLUSTER SLOTS", before + 1, 5000))
        fail_msg("after SPUBLISH answered 0 by node 1 (127.0.0.1:%d), that node was not asked "
                 "CLUSTER SLOTS; CLUSTER SLOTS asked of all nodes since the first map: %u",
                 vt_fcluster_port(c, 1), vt_fcluster_count_all(c, "CLUSTER SLOTS") - all);
    unsigned more = vt_fcluster_count_all(c, "CLUSTER SLOTS") - all;
    print_message("50 SPUBLISHes answered 0: %u CLUSTER SLOTS, of node 1\n", more);
    assert_int_equal(more, 1); /* one check per 5 s, not one per SPUBLISH */
    vmux_close(m);
    vt_fcluster_stop(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_asks_that_node_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

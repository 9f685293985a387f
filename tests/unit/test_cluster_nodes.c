/* One CLUSTER NODES line (api/cluster_nodes.h), as the cluster SCAN reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/cluster_nodes.h"

static unsigned count(const uint8_t *bits)
{
    unsigned n = 0;
    for (unsigned s = 0; s < VMUX_SLOTS; s++)
        n += vmux__slot_bit(bits, s);
    return n;
}

static void test_primary_with_ranges(void **state)
{
    (void)state;
    char line[] = "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host.example "
                  "myself,master - 0 1426238317239 4 connected 0-5460 5465 [5461->-e7d1eec] "
                  "[5462-<-292f8b3]\r";
    struct vmux_node_line n;
    assert_true(vmux__node_line_parse(line, NULL, &n));
    assert_string_equal(n.id, "07c37dfeb235213a872192d90877d0cd55635b91");
    assert_string_equal(n.host, "127.0.0.1");
    assert_int_equal(n.port, 30004);
    assert_true(n.myself);
    assert_true(n.primary);
    assert_int_equal(n.epoch, 4);
    assert_int_equal(count(n.serves), 5461 + 1);
    assert_true(vmux__slot_bit(n.serves, 5465));
    assert_false(vmux__slot_bit(n.serves, 5462)); /* importing: not its slot yet */
    /* 5461 is being migrated away but was never in its ranges here: stable = serves */
    assert_int_equal(count(n.stable), 5462);
}

static void test_migrating_slot_is_not_stable(void **state)
{
    (void)state;
    char line[] = "id1 10.0.0.1:7000@17000 master - 0 0 1 connected 100-200 [150->-id2]";
    struct vmux_node_line n;
    assert_true(vmux__node_line_parse(line, NULL, &n));
    assert_int_equal(count(n.serves), 101);
    assert_int_equal(count(n.stable), 100);
    assert_false(vmux__slot_bit(n.stable, 150));
    assert_false(n.myself);
}

/* Slots migrating to two nodes: the target of the lowest, and its slots only, for the SCAN. */
static void test_migrating_target(void **state)
{
    (void)state;
    char line[] = "id1 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 100-200 [120->-id3] "
                  "[150->-id2] [160->-id3] [170-<-id4]";
    struct vmux_node_line n;
    assert_true(vmux__node_line_parse(line, NULL, &n));
    assert_string_equal(n.to, "id3");
    assert_int_equal(count(n.moving), 2);
    assert_true(vmux__slot_bit(n.moving, 120) && vmux__slot_bit(n.moving, 160));
    assert_int_equal(count(n.stable), 98);
    char none[] = "id1 10.0.0.1:7000@17000 master - 0 0 1 connected 100-200";
    assert_true(vmux__node_line_parse(none, NULL, &n));
    assert_string_equal(n.to, "");
    assert_int_equal(count(n.moving), 0);
}

/*
 * With the slots a SCAN has done: the target is that of the lowest migrating slot not done, so
 * a node with open slots to two targets names the second once the first's slots are done (it
 * named the first forever, and the SCAN scanned the node again and again); stable is the same.
 */
static void test_migrating_target_past_done(void **state)
{
    (void)state;
    const char text[] = "id1 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 100-200 "
                        "[120->-id3] [150->-id2] [160->-id3]";
    uint8_t done[VMUX_SLOTS / 8] = {0};
    vmux__slot_bits_set(done, 120, 120);
    char line[sizeof text];
    memcpy(line, text, sizeof text);
    struct vmux_node_line n;
    assert_true(vmux__node_line_parse(line, done, &n));
    assert_string_equal(n.to, "id2");
    assert_int_equal(count(n.moving), 1);
    assert_true(vmux__slot_bit(n.moving, 150));
    assert_int_equal(count(n.stable), 98); /* a done slot still migrating is not stable */
    vmux__slot_bits_set(done, 150, 150);
    memcpy(line, text, sizeof text);
    assert_true(vmux__node_line_parse(line, done, &n));
    assert_string_equal(n.to, "id3");
    assert_int_equal(count(n.moving), 1); /* 160: 120, done, is left out */
    assert_true(vmux__slot_bit(n.moving, 160));
    vmux__slot_bits_set(done, 160, 160);
    memcpy(line, text, sizeof text);
    assert_true(vmux__node_line_parse(line, done, &n));
    assert_string_equal(n.to, "");
    assert_int_equal(count(n.moving), 0);
}

static void test_replica_and_ipv6(void **state)
{
    (void)state;
    char line[] = "id3 ::1:7001@17001 slave id1 0 0 1 connected";
    struct vmux_node_line n;
    assert_true(vmux__node_line_parse(line, NULL, &n));
    assert_string_equal(n.host, "::1");
    assert_int_equal(n.port, 7001);
    assert_false(n.primary);
    assert_int_equal(count(n.serves), 0);
}

static void test_no_address(void **state)
{
    (void)state;
    char noaddr[] = "id4 :0@0 master,noaddr - 0 0 1 disconnected 10-20";
    struct vmux_node_line n;
    assert_true(vmux__node_line_parse(noaddr, NULL, &n));
    assert_null(n.host);
    assert_int_equal(count(n.serves), 11); /* its slots still count as served */
    char badport[] = "id5 127.0.0.1:99999@1 master - 0 0 1 connected 1";
    assert_true(vmux__node_line_parse(badport, NULL, &n));
    assert_null(n.host);
}

/* A node that never met another knows no address for itself: its own line, ":port@cport". */
static void test_own_line_without_ip(void **state)
{
    (void)state;
    char line[] = "4bc2cb74f71cf711a080660717fe5b54f6f72166 :13030@23030 myself,master - 0 0 0 "
                  "connected 0-16383";
    struct vmux_node_line n;
    assert_true(vmux__node_line_parse(line, NULL, &n));
    assert_null(n.host); /* no address: the cluster SCAN names it as the map does */
    assert_true(n.myself && n.primary);
    assert_int_equal(n.epoch, 0);
    assert_int_equal(count(n.serves), VMUX_SLOTS);
}

static void test_garbage(void **state)
{
    (void)state;
    char cut[] = "id6 127.0.0.1:7000@17000 master - 0 0";
    struct vmux_node_line n;
    assert_false(vmux__node_line_parse(cut, NULL, &n));
    char empty[] = "";
    assert_false(vmux__node_line_parse(empty, NULL, &n));
    /* slot tokens that are not slots are skipped, never read as slot 0 */
    char junk[] = "id7 127.0.0.1:7000@17000 master - 0 0 1 connected abc 16384 20-10 5x 7-x [ [9->";
    assert_true(vmux__node_line_parse(junk, NULL, &n));
    assert_int_equal(count(n.serves), 0);
    char edge[] = "id8 127.0.0.1:7000@17000 master - 0 0 1 connected 16383 0";
    assert_true(vmux__node_line_parse(edge, NULL, &n));
    assert_int_equal(count(n.serves), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primary_with_ranges),
        cmocka_unit_test(test_own_line_without_ip),
        cmocka_unit_test(test_migrating_slot_is_not_stable),
        cmocka_unit_test(test_migrating_target),
        cmocka_unit_test(test_migrating_target_past_done),
        cmocka_unit_test(test_replica_and_ipv6),
        cmocka_unit_test(test_no_address),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

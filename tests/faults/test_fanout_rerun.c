/*
 * A typed fan-out that meets a demoted primary runs again on the refreshed map, once (mux/fanout.c,
 * docs/cluster.md "Fan-out and per-node commands"), against scripted fake nodes (fakecluster.h),
 * for what a real cluster will not do on demand: a node that says ROLE "slave" while every map
 * still names it a primary.
 *
 * - a read (DBSIZE) runs again on every primary, and a node still demoted on the refreshed map
 *   fails the call with words saying it was met there too;
 * - a write (FLUSHALL) keeps the success of a node whose ROLE said "master" (sent it once) and
 *   runs again on the others; it succeeds once the demoted node answers as a primary;
 * - WAIT is not run again; a call whose timeout passes before a refreshed map comes (every
 *   CLUSTER SLOTS fails) fails with the first run's NOTPRIMARY, saying no refreshed map came.
 *
 * The fake nodes answer ROLE as each test sets it (vt_fcluster_set_role(), or by their rules in
 * turn), and data commands with +OK; a ROLE refused (NOPERM) tells vmux nothing: the part's own
 * answer stands, and is not kept as a primary's. Node i serves the i-th third of the slots.
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
#include "testutil.h"
#include "vmux/vmux.h"

#define MASTER "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
#define NOPERM "-NOPERM this user has no permissions to run the 'role' command\r\n"

/* ROLE's answer on a replica of the node at port, into buf (len bytes). */
static const char *replica_role(char *buf, size_t len, int port)
{
    snprintf(buf, len, "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:%d\r\n$9\r\nconnected\r\n:0\r\n",
             port);
    return buf;
}

/* Three nodes: 0 and 2 primaries by ROLE, 1 a replica of 2 by ROLE, whatever the maps say. */
static vt_fcluster *start3(void)
{
    vt_fcluster *c = vt_fcluster_start(3, NULL);
    assert_non_null(c);
    char role[128];
    vt_fcluster_set_role(c, 0, MASTER);
    vt_fcluster_set_role(c, 1, replica_role(role, sizeof role, vt_fcluster_port(c, 2)));
    vt_fcluster_set_role(c, 2, MASTER);
    return c;
}

static vmux *open_on(vt_fcluster *c)
{
    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,syncTimeout=5000",
             vt_fcluster_port(c, 0));
    return vt_open_conf(conf);
}

/* Whether why names node's port and has words (both, or fails the test saying what it got). */
static void want_words(const char *why, vt_fcluster *c, size_t node, const char *words)
{
    char port[16];
    snprintf(port, sizeof port, ":%d", vt_fcluster_port(c, node));
    if (strstr(why, "NOTPRIMARY") == NULL || strstr(why, port) == NULL ||
        strstr(why, words) == NULL)
        fail_msg("expected NOTPRIMARY naming %s and '%s', got: %s", port, words, why);
}

/* Every node received name times (or fails the test naming the first that did not). */
static void want_sent(vt_fcluster *c, const char *name, unsigned times)
{
    for (size_t i = 0; i < 3; i++)
        if (vt_fcluster_count(c, i, name) != times)
            fail_msg("node %zu received %s %u times, expected %u", i, name,
                     vt_fcluster_count(c, i, name), times);
}

/* Node 1 says "slave" every time: DBSIZE goes twice to each node, then fails saying so. */
static void test_read_rerun_meets_demoted_again(void **state)
{
    (void)state;
    vt_fcluster *c = start3();
    vmux *m = open_on(c);
    unsigned slots = vt_fcluster_count_all(c, "CLUSTER SLOTS");
    char why[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    int64_t n = -1;
    assert_int_equal(vmux_dbsize(m, &o, &n), VMUX_ERR_SERVER);
    want_words(why, c, 1, "on the refreshed map too");
    want_sent(c, "DBSIZE", 2); /* the whole fan-out again */
    want_sent(c, "ROLE", 2);
    assert_true(vt_fcluster_count_all(c, "CLUSTER SLOTS") > slots); /* after a refresh */
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * Node 1 says "slave" and READONLY to the first run, "master" and OK to the second; node 2's ROLE
 * is refused (it tells nothing): FLUSHALL is not sent to node 0 again, and succeeds.
 */
static void test_write_rerun_keeps_primaries(void **state)
{
    (void)state;
    vt_fcluster *c = start3();
    char role[128];
    replica_role(role, sizeof role, vt_fcluster_port(c, 2));
    vt_fcluster_set_role(c, 1, NULL); /* its rules answer ROLE, in turn */
    assert_int_equal(vt_fcluster_rule(c, 1, NULL, 1, 0, role), 0);
    assert_int_equal(vt_fcluster_rule(c, 1, NULL, 1, 0,
                                      "-READONLY You can't write against a read only replica.\r\n"),
                     0);
    assert_int_equal(vt_fcluster_rule(c, 1, NULL, 1, 0, MASTER), 0);
    vt_fcluster_set_role(c, 2, NOPERM);
    vmux *m = open_on(c);
    char why[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    int rc = vmux_flushall_for_tests(m, &o, VMUX_FLUSH_SYNC);
    if (rc != 0)
        fail_msg("FLUSHALL after a demoted node: %s: %s", vmux_err_name(rc), why);
    assert_int_equal(vt_fcluster_count(c, 0, "FLUSHALL"), 1); /* kept: a primary's success */
    assert_int_equal(vt_fcluster_count(c, 1, "FLUSHALL"), 2);
    assert_int_equal(vt_fcluster_count(c, 2, "FLUSHALL"), 2); /* its ROLE told nothing */
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * Node 2 refuses FLUSHALL; nodes 0 and 1 run it. The call fails naming node 2 and says that the
 * other two primaries succeeded, so ran it (review helper-268: a FLUSHALL whose part for a killed
 * primary was "never sent" said only that, while the other primaries were flushed).
 */
static void test_failed_part_says_others_ran(void **state)
{
    (void)state;
    vt_fcluster *c = vt_fcluster_start(3, NULL);
    assert_non_null(c);
    for (size_t i = 0; i < 3; i++)
        vt_fcluster_set_role(c, i, MASTER);
    assert_int_equal(vt_fcluster_rule(c, 2, "SYNC", 1, 0, "-ERR flush refused\r\n"), 0);
    vmux *m = open_on(c);
    char why[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_flushall_for_tests(m, &o, VMUX_FLUSH_SYNC), VMUX_ERR_SERVER);
    char want[128];
    snprintf(want, sizeof want,
             ":%d: ERR flush refused (2 of the other 2 primaries succeeded: it ran there)",
             vt_fcluster_port(c, 2));
    if (strstr(why, want) == NULL)
        fail_msg("expected '%s', got: %s", want, why);
    want_sent(c, "FLUSHALL", 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/* WAIT answers for one connection's writes: a demoted node fails it, and it is not sent again. */
static void test_wait_not_rerun(void **state)
{
    (void)state;
    vt_fcluster *c = start3();
    vmux *m = open_on(c);
    char why[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    int64_t acked = -1;
    assert_int_equal(vmux_wait(m, &o, 0, 10, &acked), VMUX_ERR_SERVER);
    want_words(why, c, 1, "is being refreshed");
    want_sent(c, "WAIT", 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

/*
 * Every refresh fails (CLUSTER SLOTS answers an error once the handle is open): a call of 1 s
 * fails with the first run's parts, saying so, and is sent once.
 */
static void test_no_refresh_in_time(void **state)
{
    (void)state;
    vt_fcluster *c = start3();
    vmux *m = open_on(c);
    vt_fcluster_set_slots(c, -1, "-ERR no map today\r\n");
    char why[512] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 1000, .errbuf = why, .errlen = sizeof why);
    int64_t n = -1;
    assert_int_equal(vmux_dbsize(m, &o, &n), VMUX_ERR_SERVER);
    want_words(why, c, 1, "no refreshed map came within the call's timeout");
    want_sent(c, "DBSIZE", 1);
    vmux_close(m);
    vt_fcluster_stop(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_rerun_meets_demoted_again),
        cmocka_unit_test(test_failed_part_says_others_ran),
        cmocka_unit_test(test_write_rerun_keeps_primaries),
        cmocka_unit_test(test_wait_not_rerun),
        cmocka_unit_test(test_no_refresh_in_time),
    };
    vt_filter_tests(); /* VT_ONLY=test_name runs one */
    return cmocka_run_group_tests(tests, NULL, NULL);
}

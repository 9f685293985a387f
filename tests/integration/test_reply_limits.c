/*
 * The reply limits (maxBulkLength, maxReplyElements, maxReplyBuffer) bound the replies to the
 * user's commands, not those to the library's own (setup, ROLE, INFO cluster, CLUSTER SLOTS),
 * which are read under the defaults, against real servers ("plain" and the cluster "cluster"):
 *
 * - maxBulkLength=1 with cluster=auto opens on a standalone server (INFO cluster answers ~30
 *   bytes), and a GET of a 30-byte value still fails with the limit's words;
 * - maxReplyElements=2 with two endpoints opens (ROLE answers 3 elements), and a user's ROLE
 *   fails with the limit's words; the same for maxReplyBuffer=200 (ROLE's values take more);
 * - maxReplyElements=2 opens on a 3-shard cluster (CLUSTER SLOTS: one element per range) and
 *   serves every shard, and a user's CLUSTER SLOTS fails with the limit's words;
 * - maxReplyElements=3 opens with a cluster replica as the first endpoint (its ROLE answers 5
 *   elements) and serves every shard;
 * - maxBulkLength=8 with a near cache: its invalidation connection is the library's own (its
 *   SUBSCRIBE's answer holds "subscribe" and "__redis__:invalidate", an invalidation the keys),
 *   so values are stored and another client's write of a key longer than 8 bytes invalidates it.
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

#include "nearprobe.h"
#include "readkeys.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster"

/* A handle on the "plain" server listed twice (so that setup asks ROLE), with extra keys. */
static vmux *open_plain_twice(const char *extra)
{
    char conf[256];
    int port = vt_server_port("plain");
    snprintf(conf, sizeof conf, "127.0.0.1:%d,127.0.0.1:%d,%s", port, port, extra);
    return vt_open_conf(conf);
}

/* Calls argv through m, which must fail VMUX_ERR_PROTOCOL with words in its reason. */
static void refused_with(vmux *m, int argc, const char *const *argv, const char *words)
{
    char err[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &o, argc, argv, NULL, &r);
    vmux_reply_free(r);
    if (rc != VMUX_ERR_PROTOCOL || strstr(err, words) == NULL)
        fail_msg("%s: status %d (%s), reason '%s', where '%s' was due", argv[0], rc,
                 vmux_strerror(rc), err, words);
}

/* A command through m that must succeed (after a refused reply: on the next connection). */
static void answered(vmux *m, int argc, const char *const *argv)
{
    char err[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &o, argc, argv, NULL, &r);
    vmux_reply_free(r);
    if (rc != 0)
        fail_msg("%s: status %d (%s): %s", argv[0], rc, vmux_strerror(rc), err);
}

static void test_bulk_limit_below_info_cluster(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "maxBulkLength=1,cluster=auto");
    static const char value[] = "abcdefghijklmnopqrstuvwxyz0123"; /* 30 bytes */
    answered(m, 3, (const char *[]){"SET", "replylimits:bulk", value});
    refused_with(m, 2, (const char *[]){"GET", "replylimits:bulk"},
                 "bulk string of 30 bytes exceeds maxBulkLength 1");
    answered(m, 2, (const char *[]){"DEL", "replylimits:bulk"});
    vmux_close(m);
}

static void test_element_limit_below_role(void **state)
{
    (void)state;
    vmux *m = open_plain_twice("maxReplyElements=2,cluster=no");
    answered(m, 1, (const char *[]){"PING"});
    refused_with(m, 1, (const char *[]){"ROLE"}, "array of 3 elements exceeds maxReplyElements 2");
    answered(m, 1, (const char *[]){"PING"});
    vmux_close(m);
}

static void test_buffer_limit_below_role(void **state)
{
    (void)state;
    vmux *m = open_plain_twice("maxBulkLength=100,maxReplyBuffer=200,cluster=no");
    answered(m, 1, (const char *[]){"PING"});
    refused_with(m, 1, (const char *[]){"ROLE"}, "exceeds maxReplyBuffer 200");
    vmux_close(m);
}

/* SET then GET of keys over every shard through m. */
static void serves_every_shard(vmux *m, const char *prefix)
{
    for (int i = 0; i < 30; i++) {
        char key[64], value[16], why[256] = "";
        snprintf(key, sizeof key, "%s:%d", prefix, i);
        snprintf(value, sizeof value, "v%d", i);
        int rc = vt_set_get(m, key, value, why, sizeof why);
        if (rc != 0)
            fail_msg("%s: %d: %s", key, rc, why);
    }
}

static void test_element_limit_below_cluster_slots(void **state)
{
    (void)state;
    char *conf = vt_node_config(vt_cluster_port(CLUSTER, 0), "maxReplyElements=2,cluster=auto");
    vmux *m = vt_open_conf(conf);
    free(conf);
    serves_every_shard(m, "replylimits:slots");
    refused_with(m, 2, (const char *[]){"CLUSTER", "SLOTS"}, "elements exceeds maxReplyElements 2");
    serves_every_shard(m, "replylimits:slots");
    vmux_close(m);
}

static void test_element_limit_below_replica_role(void **state)
{
    (void)state;
    int primary = vt_cluster_port(CLUSTER, 0);
    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,127.0.0.1:%d,maxReplyElements=3,cluster=auto",
             vt_cluster_replica_of(CLUSTER, primary), primary);
    vmux *m = vt_open_conf(conf);
    serves_every_shard(m, "replylimits:replica");
    vmux_close(m);
}

static void test_bulk_limit_below_invalidations(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "nearCache=true,maxBulkLength=8");
    vmux *w = vt_open("plain", NULL);
    vt_near_set_cached(m, w, "replylimits:near", "v1");
    vt_set(w, "replylimits:near", "v2");
    vt_near_until_sees(m, "replylimits:near", "v2");
    answered(w, 2, (const char *[]){"DEL", "replylimits:near"});
    vmux_close(w);
    vmux_close(m);
}

/*
 * A command whose reply is over a limit fails with VMUX_ERR_PROTOCOL and the limit's words, and
 * only it: the rest of its reply is skipped and the connection goes on. Pipelined behind it, an
 * INCR (not retry-safe) runs once and is answered, and a GET too; nothing is resent, no
 * connection is made again. Before, the refused reply closed the connection: the INCR came back
 * VMUX_ERR_CONNECTION_LOST, outcome unknown (and a retry-safe GET was resent; resent first, the
 * refused command broke the next connection too: probe 55, a 400 MB GET read twice).
 */
static void test_over_limit_keeps_connection(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "maxBulkLength=16,maxReplyElements=4,cluster=no");
    answered(m, 3, (const char *[]){"SET", "replylimits:big", "abcdefghijklmnopqrstuvwxyz0123"});
    answered(m, 3, (const char *[]){"SET", "replylimits:small", "small"});
    answered(m, 2, (const char *[]){"DEL", "replylimits:n"});
    answered(m, 7, (const char *[]){"RPUSH", "replylimits:list", "1", "2", "3", "4", "5"});
    vmux_stats before = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &before), 0);
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    assert_int_equal(vmux_batch_add(b, 2, (const char *[]){"GET", "replylimits:big"}, NULL), 0);
    assert_int_equal(vmux_batch_add(b, 2, (const char *[]){"INCR", "replylimits:n"}, NULL), 0);
    assert_int_equal(
        vmux_batch_add(b, 4, (const char *[]){"LRANGE", "replylimits:list", "0", "-1"}, NULL), 0);
    assert_int_equal(vmux_batch_add(b, 2, (const char *[]){"GET", "replylimits:small"}, NULL), 0);
    int st[4] = {-1, -1, -1, -1};
    vmux_reply *r[4] = {NULL, NULL, NULL, NULL};
    (void)vmux_batch_exec(m, NULL, b, st, r);
    assert_int_equal(st[0], VMUX_ERR_PROTOCOL);
    if (st[1] != 0)
        fail_msg("the INCR behind the refused GET: %s", vmux_strerror(st[1]));
    assert_int_equal(vmux_reply_integer(r[1]), 1);
    assert_int_equal(st[2], VMUX_ERR_PROTOCOL); /* 5 elements over maxReplyElements 4 */
    assert_int_equal(st[3], 0);
    assert_string_equal(vmux_reply_str(r[3], NULL), "small");
    vmux_stats after = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &after), 0);
    assert_int_equal(after.resent, before.resent);
    assert_int_equal(after.connects, before.connects);
    assert_int_equal(after.connection_lost, before.connection_lost);
    assert_int_equal(after.replied - before.replied, 4); /* a refused reply is a reply */
    for (int i = 0; i < 4; i++)
        vmux_reply_free(r[i]);
    vmux_batch_free(b);
    /* one call at a time: the refusal's words, and the connection still serves */
    refused_with(m, 2, (const char *[]){"GET", "replylimits:big"},
                 "bulk string of 30 bytes exceeds maxBulkLength 16");
    char *n = vt_call_text(m, 2, (const char *[]){"GET", "replylimits:n"});
    assert_string_equal(n, "1");
    free(n);
    answered(m, 5,
             (const char *[]){"DEL", "replylimits:big", "replylimits:small", "replylimits:n",
                              "replylimits:list"});
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_limit_below_info_cluster),
        cmocka_unit_test(test_element_limit_below_role),
        cmocka_unit_test(test_buffer_limit_below_role),
        cmocka_unit_test(test_element_limit_below_cluster_slots),
        cmocka_unit_test(test_element_limit_below_replica_role),
        cmocka_unit_test(test_bulk_limit_below_invalidations),
        cmocka_unit_test(test_over_limit_keeps_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

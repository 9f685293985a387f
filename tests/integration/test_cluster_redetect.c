/*
 * Re-detection (docs/cluster.md), on servers of the test's own (tests/support/servers.h): a
 * handle with cluster=auto and two endpoints finds the first a standalone server; a one-node
 * cluster (cluster-enabled yes, every slot added) is started on the second and the first is
 * killed. The handle's next connection (to the second endpoint) asks INFO cluster again and the
 * handle turns to cluster mode: keys in two slots are refused by the handle itself
 * (VMUX_ERR_CROSSSLOT, nothing sent), where the standalone handle had sent them, and the keys
 * are served. (A second port, not a restart on the first: a client reconnecting to a free port
 * of the ephemeral range can connect to itself and hold the port.)
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

#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

static const char *const mget[] = {"MGET", "redetect:a", "redetect:b"}; /* two slots */

static int call_mget(vmux *m)
{
    vmux_reply *r = NULL;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 5000);
    int rc = vmux_call(m, &o, 3, mget, NULL, &r);
    vmux_reply_free(r);
    return rc;
}

static bool cluster_ok(void *arg)
{
    char *t = vt_node_admin(*(int *)arg, false, "CLUSTER INFO");
    bool ok = t != NULL && strstr(t, "cluster_state:ok") != NULL;
    free(t);
    return ok;
}

/* The handle refuses keys in two slots itself: it routes by slot now. */
static bool routes_by_slot(void *arg)
{
    return call_mget(arg) == VMUX_ERR_CROSSSLOT;
}

static void test_standalone_restarted_as_cluster(void **state)
{
    (void)state;
    vt_server s = {0}, c = {0};
    static const char *const cluster_args[] = {"--cluster-enabled", "yes", NULL};
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    assert_int_equal(vt_server_start(&c, 0, cluster_args), 0);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,127.0.0.1:%d,syncTimeout=20000", s.port, c.port);
    vmux *m = vt_open_conf(conf);
    assert_int_equal(call_mget(m), 0); /* standalone: sent as it is */

    char *t = vt_node_admin(c.port, false, "CLUSTER ADDSLOTSRANGE 0 16383");
    assert_non_null(t);
    assert_string_equal(t, "OK");
    free(t);
    assert_true(vt_wait_until(cluster_ok, &c.port, 30000));
    vt_server_stop(&s);

    assert_true(vt_wait_until(routes_by_slot, m, 60000));
    const char *set[] = {"SET", "redetect:a", "v"};
    const char *get[] = {"GET", "redetect:a"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, set, NULL, &r), 0);
    vmux_reply_free(r);
    r = NULL;
    assert_int_equal(vmux_call(m, NULL, 2, get, NULL, &r), 0);
    assert_string_equal(vmux_reply_str(r, NULL), "v");
    vmux_reply_free(r);
    vmux_close(m);
    vt_server_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standalone_restarted_as_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

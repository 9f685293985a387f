/*
 * Re-detection (docs/cluster.md), on servers of the test's own (tests/support/servers.h): a
 * handle with cluster=auto and two endpoints finds the first a standalone server; a one-node
 * cluster (cluster-enabled yes, every slot added) is started on the second and the first is
 * killed. The handle's next connection (to the second endpoint) asks INFO cluster again and the
 * handle turns to cluster mode: keys in two slots are refused by the handle itself
 * (VMUX_ERR_CROSSSLOT, nothing sent), where the standalone handle had sent them, and the keys
 * are served. (A second port, not a restart on the first: a client reconnecting to a free port
 * of the ephemeral range can connect to itself and hold the port.)
 *
 * And the other way round, a cluster node whose address now leads to a standalone server (a node
 * restarted without cluster-enabled): a two-node cluster whose second node announces the port of
 * a fault proxy in front of it; the proxy is pointed at a standalone server and the handle's
 * connection through it cut. The node link's next connection finds a server with cluster
 * support disabled and fails at setup: the write to that node's slot is not run there (it times
 * out), the other node's keys are served meanwhile, and once the proxy leads to the node again
 * the link connects and the write is served.
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "faultproxy.h"
#include "route/slot.h"
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

static atomic_int refused; /* log lines saying a connection found no cluster node */

static void on_log(vmux_log_level level, const char *message, void *arg)
{
    (void)level;
    (void)arg;
    if (strstr(message, "not a cluster node") != NULL)
        atomic_fetch_add(&refused, 1);
}

static void must_ok(char *t)
{
    assert_non_null(t);
    assert_string_equal(t, "OK");
    free(t);
}

/* Both nodes see the cluster whole, the second node at the proxy's port. */
struct two_nodes {
    int a, b, announced;
};

static bool two_nodes_ok(void *arg)
{
    const struct two_nodes *n = arg;
    bool ok = true;
    for (int i = 0; i < 2 && ok; i++) {
        char *t = vt_node_admin(i == 0 ? n->a : n->b, false, "CLUSTER INFO");
        ok = t != NULL && strstr(t, "cluster_state:ok") != NULL &&
             strstr(t, "cluster_known_nodes:2") != NULL;
        free(t);
    }
    return ok && vt_slot_primary(n->a, false, 16383) == n->announced;
}

/* A key (into buf) whose slot is in [lo, hi]. */
static const char *key_in(char *buf, size_t len, unsigned lo, unsigned hi)
{
    for (unsigned i = 0;; i++) {
        snprintf(buf, len, "turned:%u", i);
        unsigned slot = vmux__slot_of(buf, strlen(buf));
        if (slot >= lo && slot <= hi)
            return buf;
    }
}

struct served {
    vmux *m;
    const char *key;
};

static bool write_served(void *arg)
{
    const struct served *s = arg;
    return vt_try_set(s->m, s->key, "back", 2000) == 0;
}

static void test_cluster_node_turned_standalone(void **state)
{
    (void)state;
    static const char *const cluster_args[] = {"--cluster-enabled", "yes", NULL};
    vt_server a = {0}, b = {0}, s = {0};
    assert_int_equal(vt_server_start(&a, 0, cluster_args), 0);
    assert_int_equal(vt_server_start(&b, 0, cluster_args), 0);
    assert_int_equal(vt_server_start(&s, 0, NULL), 0);
    vt_proxy *p = vt_proxy_start("127.0.0.1", b.port);
    assert_non_null(p);
    must_ok(vt_node_admin(b.port, false, "CONFIG SET cluster-announce-port %d", vt_proxy_port(p)));
    must_ok(vt_node_admin(a.port, false, "CLUSTER ADDSLOTSRANGE 0 8191"));
    must_ok(vt_node_admin(b.port, false, "CLUSTER ADDSLOTSRANGE 8192 16383"));
    must_ok(vt_node_admin(a.port, false, "CLUSTER MEET 127.0.0.1 %d %d", b.port, b.port + 10000));
    struct two_nodes n = {a.port, b.port, vt_proxy_port(p)};
    assert_true(vt_wait_until(two_nodes_ok, &n, 60000));

    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,connectTimeout=1000", a.port);
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, on_log, VMUX_LOG_WARN, NULL), 0);
    vmux *m = vt_open_config(cfg, conf);
    /* a second handle whose seed is b, through the proxy: its seed link serves b's slots */
    vmux_config_clear_endpoints(cfg);
    assert_int_equal(vmux_config_add_endpoint(cfg, "127.0.0.1", vt_proxy_port(p)), 0);
    vmux *seeded = vt_open_config(cfg, "the proxy");
    vmux_config_free(cfg);
    char on_a[32], on_b[32];
    key_in(on_a, sizeof on_a, 0, 8191);
    key_in(on_b, sizeof on_b, 8192, 16383);
    assert_int_equal(vt_try_set(m, on_b, "first", 5000), 0); /* through the proxy, to b */
    assert_int_equal(vt_try_set(seeded, on_b, "first", 5000), 0);

    /* b's address now leads to a standalone server */
    assert_int_equal(vt_proxy_set_target(p, "127.0.0.1", s.port), 0);
    vt_proxy_cut(p);
    assert_int_not_equal(vt_try_set(m, on_b, "lost", 1500), 0);
    assert_int_not_equal(vt_try_set(seeded, on_b, "lost", 1500), 0);
    assert_int_equal(vt_try_set(m, on_a, "served", 5000), 0); /* the healthy node serves */
    assert_true(atomic_load(&refused) > 0);
    char *t = vt_node_admin(s.port, false, "EXISTS %s", on_b);
    assert_non_null(t);
    assert_string_equal(t, "0"); /* nothing ran on the standalone server */
    free(t);
    t = vt_node_admin(b.port, false, "GET %s", on_b);
    assert_non_null(t);
    assert_string_equal(t, "first");
    free(t);

    /* the node is back at its address: the link connects and the write is served */
    assert_int_equal(vt_proxy_set_target(p, "127.0.0.1", b.port), 0);
    struct served w = {m, on_b};
    assert_true(vt_wait_until(write_served, &w, 30000));
    t = vt_node_admin(b.port, false, "GET %s", on_b);
    assert_non_null(t);
    assert_string_equal(t, "back");
    free(t);

    vmux_close(seeded);
    vmux_close(m);
    vt_proxy_stop(p);
    vt_server_stop(&s);
    vt_server_stop(&b);
    vt_server_stop(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standalone_restarted_as_cluster),
        cmocka_unit_test(test_cluster_node_turned_standalone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The name each node link verifies with TLS, against the fixture "cluster-tls-names" (three TLS
 * primaries, no replica, its own: the test changes how the nodes announce themselves and which
 * certificate the first one serves). Every node announces the host name "localhost"
 * (cluster-announce-hostname); the seed node (node 0) then serves wrongname.crt, valid only for
 * wrong.example.test, and the handle sets sslHost=wrong.example.test for it. The other nodes
 * serve server.crt (127.0.0.1 and localhost), which does not name wrong.example.test: so every
 * call succeeds only if each node link verifies the name its node announces, not the sslHost
 * that names the seed.
 *
 * - announced as metadata (cluster-preferred-endpoint-type ip, the default): the node links dial
 *   127.0.0.1 and verify "localhost";
 * - announced as the preferred endpoint (cluster-preferred-endpoint-type hostname): the node
 *   links dial "localhost" and verify it; the seed's node, which the map now names localhost,
 *   is served by the seed link (its node id), never by a link verifying "localhost" against
 *   wrongname.crt.
 *
 * First, on the fresh fixture: hostnames preferred while no node announces one
 * (test_unnamed_nodes_by_ip): CLUSTER SLOTS names the nodes "?" with their ip in the metadata,
 * which the handle dials. Then (test_name_learned_late) no node announces a name when the handle
 * opens, so its node links verify the handle's sslHost and every call to the other nodes fails;
 * (and a call's errbuf names the node link's mismatch); then every node announces "localhost", and
 * once a refreshed map says so the links verify it at their next connection and the calls succeed
 * (before, a link kept the name it opened with), and the shard channels subscribed meanwhile go
 * live (their subscriber links learn the name too).
 *
 * Subscriber links (test_shard_subscriptions_verify_node_names,
 * test_keyspace_subscription_verifies_node_names): node 0 announces wrong.example.test, the name
 * of the certificate it serves, the others localhost; a shard channel of each primary and a
 * keyspace subscription (a copy on every primary) go live and deliver only if each node's
 * subscriber link verifies the name its node announces, not the handle's sslHost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nearprobe.h"
#include "readkeys.h"
#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-tls-names"
#define NKEYS 300

/* The node at port answered OK to what (over the test's own TLS connection); t is freed. */
static void want_ok(int port, const char *what, char *t)
{
    if (t == NULL || strcmp(t, "OK") != 0)
        fail_msg("%s on %d: %s", what, port, t != NULL ? t : "(no answer)");
    free(t);
}

/* Whether node 0's CLUSTER SLOTS names every node "localhost" (as host or metadata). */
static bool slots_name_localhost(void *arg)
{
    (void)arg;
    char *t = vt_node_admin(vt_cluster_port(CLUSTER, 0), true, "CLUSTER SLOTS");
    bool all = t != NULL && vt_lines_equal(t, "localhost") >= vt_cluster_size(CLUSTER);
    free(t);
    return all;
}

/* A handle on node 0, trusting the test CA, checking node 0 against wrong.example.test. */
static vmux *open_seed(const char *extra)
{
    const char *d = vt_certs_dir();
    size_t cap = 3 * strlen(d) + 256;
    char *conf = malloc(cap);
    assert_non_null(conf);
    snprintf(conf, cap,
             "127.0.0.1:%d,ssl=true,sslCaFile=%s/ca.crt,sslCert=%s/client.crt,sslKey=%s/"
             "client.key,sslHost=wrong.example.test,cluster=yes,syncTimeout=20000%s",
             vt_cluster_port(CLUSTER, 0), d, d, d, extra);
    vmux *m = vt_open_conf(conf);
    free(conf);
    return m;
}

/* SET then GET of keys over every shard: each must succeed. */
static void spread(vmux *m, const char *prefix)
{
    char key[64];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof key, "%s:%d:%d", prefix, (int)getpid(), i);
        vt_must_set_get(m, key, key);
    }
}

/* Every node's link counted a connection: all three were reached, each verified. */
static void every_node_reached(vmux *m, const char *host)
{
    for (int i = 1; i < vt_cluster_size(CLUSTER); i++) {
        vmux_stats st = VMUX_INIT(vmux_stats);
        assert_int_equal(vmux_read_node_stats(m, host, vt_cluster_port(CLUSTER, i), &st), 0);
        assert_true(st.connects >= 1);
    }
}

/* CONFIG SET param value on every node over the test's connections (node 0 must serve
 * server.crt). */
static void config_set_all(const char *param, const char *value)
{
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        int port = vt_cluster_port(CLUSTER, i);
        want_ok(port, param, vt_node_admin(port, true, "CONFIG SET %s %s", param, value));
    }
}

/* Every node announces "localhost" as its host name, as CLUSTER SLOTS shows. */
static void announce_localhost(void)
{
    config_set_all("cluster-announce-hostname", "localhost");
    assert_true(vt_wait_until(slots_name_localhost, NULL, 60000));
}

/* Node 0 serves wrongname.crt (last word to it over the test's connection, verifying 127.0.0.1). */
static void seed_serves_wrong_name(void)
{
    const char *d = vt_certs_dir();
    int port0 = vt_cluster_port(CLUSTER, 0);
    want_ok(port0, "certificate",
            vt_node_admin(port0, true,
                          "CONFIG SET tls-cert-file %s/wrongname.crt tls-key-file %s/wrongname.key",
                          d, d));
}

/*
 * A key or shard channel (into key, "<prefix>:<pid>:<n>") served by node i, as node i says (node
 * 0 may serve wrongname.crt: ask it only while it serves server.crt).
 */
static void key_on_node(char *key, size_t len, const char *prefix, int i)
{
    int want = vt_cluster_port(CLUSTER, i);
    for (int k = 0;; k++) {
        snprintf(key, len, "%s:%d:%d", prefix, (int)getpid(), k);
        if (vt_slot_primary(want, true, (int)vmux__slot_of(key, strlen(key))) == want)
            return;
    }
}

/* Node 0 serves server.crt again, told through m (whose seed link verifies wrong.example.test). */
static void seed_serves_right_name(vmux *m)
{
    const char *d = vt_certs_dir();
    char cert[512], key[512];
    snprintf(cert, sizeof cert, "%s/server.crt", d);
    snprintf(key, sizeof key, "%s/server.key", d);
    const char *argv[] = {"CONFIG", "SET", "tls-cert-file", cert, "tls-key-file", key};
    vmux_reply *r = NULL;
    int rc = vmux_call_node(m, NULL, "127.0.0.1", vt_cluster_port(CLUSTER, 0), 6, argv, NULL, &r);
    assert_int_equal(rc, 0);
    vmux_reply_free(r);
}

struct late {
    vmux *m;
    char keys[3][64]; /* one on each node other than the seed's (from 1) */
};

static bool late_served(void *arg)
{
    struct late *l = arg;
    for (int i = 1; i < vt_cluster_size(CLUSTER); i++)
        if (vt_try_set(l->m, l->keys[i], l->keys[i], 2000) != 0)
            return false;
    return true;
}

/* Sets cluster-preferred-endpoint-type to type on every node (over the test's connections). */
static void prefer(const char *type)
{
    config_set_all("cluster-preferred-endpoint-type", type);
}

/* Whether node 0's CLUSTER SLOTS names every node "?" (want) or none (!want). */
static bool slots_unnamed(void *arg)
{
    bool want = *(bool *)arg;
    char *t = vt_node_admin(vt_cluster_port(CLUSTER, 0), true, "CLUSTER SLOTS");
    int n = t != NULL ? vt_lines_equal(t, "?") : -1;
    free(t);
    return want ? n >= vt_cluster_size(CLUSTER) : n == 0;
}

/*
 * Hostnames preferred, none announced (the fresh fixture): CLUSTER SLOTS names every node "?" and
 * gives its ip in the metadata, which the handle dials (verifying 127.0.0.1).
 */
static void test_unnamed_nodes_by_ip(void **state)
{
    (void)state;
    prefer("hostname");
    bool unnamed = true;
    assert_true(vt_wait_until(slots_unnamed, &unnamed, 60000));
    const char *d = vt_certs_dir();
    char conf[1024];
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,ssl=true,sslCaFile=%s/ca.crt,sslCert=%s/client.crt,sslKey=%s/"
             "client.key,cluster=yes,syncTimeout=20000",
             vt_cluster_port(CLUSTER, 0), d, d, d);
    vmux *m = vt_open_conf(conf);
    spread(m, "names:ip");
    every_node_reached(m, "127.0.0.1");
    int64_t keys = 0;
    assert_int_equal(vmux_dbsize(m, NULL, &keys), 0);
    assert_true(keys >= NKEYS);
    vmux_close(m);
    prefer("ip");
    unnamed = false;
    assert_true(vt_wait_until(slots_unnamed, &unnamed, 60000));
}

/* ---- subscriber links ---- */

#define SUB_WAIT_MS 30000
#define OWN_NAME "wrong.example.test" /* the name node 0 announces in the subscriber tests */
#define KEYSPACE "__keyspace@0__:"

/* A shard channel and what arrived on it (the I/O thread counts). */
struct shard_sub {
    char channel[64];
    vmux_sub *sub;
    atomic_int got;
};

static void on_shard_message(const vmux_message *msg, void *userdata)
{
    (void)msg;
    atomic_fetch_add(&((struct shard_sub *)userdata)->got, 1);
}

static bool arrived(void *arg)
{
    return atomic_load((atomic_int *)arg) > 0;
}

static void shard_subscribe(vmux *m, struct shard_sub *ss)
{
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_SHARD, VMUX_STR(ss->channel), on_shard_message, ss, &ss->sub),
        0);
}

/* ss goes live on its node's subscriber link, and a message published there arrives. */
static void shard_delivers(vmux *m, struct shard_sub *ss, int node)
{
    int rc = vmux_sub_wait_live(ss->sub, SUB_WAIT_MS);
    if (rc != 0)
        fail_msg("shard channel %s of node %d (port %d) not live: %s (its subscriber link "
                 "verifies a name the node's certificate lacks?)",
                 ss->channel, node, vt_cluster_port(CLUSTER, node), vmux_err_name(rc));
    int64_t receivers = 0;
    assert_int_equal(
        vmux_publish(m, NULL, VMUX_SUB_SHARD, VMUX_STR(ss->channel), VMUX_STR("hello"), &receivers),
        0);
    assert_true(receivers >= 1);
    if (!vt_wait_until(arrived, &ss->got, SUB_WAIT_MS))
        fail_msg("the message on %s (node %d) never arrived", ss->channel, node);
}

/* The keyspace events of one key per primary (the I/O thread counts). */
struct keyspace_watch {
    char keys[3][64];
    atomic_int got[3];
};

static void on_keyspace_event(const vmux_message *msg, void *userdata)
{
    struct keyspace_watch *w = userdata;
    size_t skip = strlen(KEYSPACE);
    for (int i = 0; i < 3 && msg->channel.len > skip; i++)
        if (msg->channel.len - skip == strlen(w->keys[i]) &&
            memcmp(msg->channel.ptr + skip, w->keys[i], strlen(w->keys[i])) == 0)
            atomic_fetch_add(&w->got[i], 1);
}

/* Whether every node's CLUSTER SLOTS names node 0 OWN_NAME and the others localhost (own) or
 * names no node OWN_NAME (!own); node 0 must serve server.crt. */
static bool views_name_node0(void *arg)
{
    bool own = *(bool *)arg;
    int n = vt_cluster_size(CLUSTER);
    bool all = true;
    for (int i = 0; i < n && all; i++) {
        char *t = vt_node_admin(vt_cluster_port(CLUSTER, i), true, "CLUSTER SLOTS");
        all = t != NULL &&
              (own ? vt_lines_equal(t, OWN_NAME) >= 1 && vt_lines_equal(t, "localhost") >= n - 1
                   : vt_lines_equal(t, OWN_NAME) == 0);
        free(t);
    }
    return all;
}

/*
 * Each node announces a name its own certificate carries: node 0 OWN_NAME (it serves
 * wrongname.crt, which names only that), the others localhost (server.crt); every node's map says
 * so. Returns a handle on node 0 whose sslHost is OWN_NAME: what a subscriber link to nodes 1
 * and 2 verifies if it keeps the handle's sslHost instead of its node's name, and fails.
 */
static vmux *nodes_own_names(void)
{
    announce_localhost();
    int port0 = vt_cluster_port(CLUSTER, 0);
    want_ok(port0, "announce",
            vt_node_admin(port0, true, "CONFIG SET cluster-announce-hostname " OWN_NAME));
    bool own = true;
    assert_true(vt_wait_until(views_name_node0, &own, 60000));
    seed_serves_wrong_name();
    return open_seed("");
}

/* Back to what test_names_announced starts from: node 0 serves server.crt, every node announces
 * localhost, every map says so. */
static void nodes_named_localhost(vmux *m)
{
    seed_serves_right_name(m);
    vmux_close(m);
    announce_localhost();
    bool own = false;
    assert_true(vt_wait_until(views_name_node0, &own, 60000));
}

/*
 * A SET of key, which the node at port serves, fails unsent by its deadline while that node's
 * link fails its name check, and its errbuf names the link's last failure: the mismatch.
 */
static void expect_mismatch_named(vmux *m, const char *key, int port)
{
    char err[512] = "", where[80];
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 1000, .errbuf = err, .errlen = sizeof err);
    const char *argv[] = {"SET", key, "v"};
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &o, 3, argv, NULL, &r);
    if (rc != VMUX_ERR_TIMEOUT)
        fail_msg("SET on %d: %s (%s)", port, vmux_err_name(rc), err);
    assert_null(r);
    const char *start = "timed out waiting for a connection (never sent)";
    snprintf(where, sizeof where, "; last connection failure: 127.0.0.1:%d: ", port);
    const char *at = strstr(err, where);
    if (strncmp(err, start, strlen(start)) != 0 || at == NULL || strstr(at, "mismatch") == NULL)
        fail_msg("errbuf '%s' does not name the node link's mismatch (%s...)", err, where);
}

static void test_name_learned_late(void **state)
{
    (void)state;
    char *t = vt_node_admin(vt_cluster_port(CLUSTER, 0), true, "CLUSTER SLOTS");
    assert_non_null(t);
    assert_null(strstr(t, "localhost")); /* the fixture is fresh: no name announced yet */
    free(t);
    assert_true(vt_cluster_size(CLUSTER) <= 3);
    struct late l = {0};
    static struct shard_sub ss[3]; /* subscribed before any name is announced */
    for (int i = 1; i < vt_cluster_size(CLUSTER); i++) {
        key_on_node(l.keys[i], sizeof l.keys[i], "names:late", i);
        key_on_node(ss[i].channel, sizeof ss[i].channel, "names:late:ch", i);
    }
    seed_serves_wrong_name();
    l.m = open_seed(",nearCache=true"); /* its invalidation links verify TLS names too */
    for (int i = 1; i < vt_cluster_size(CLUSTER); i++)
        shard_subscribe(l.m, &ss[i]); /* its subscriber link verifies sslHost, and fails */
    for (int i = 1; i < vt_cluster_size(CLUSTER); i++)
        assert_int_not_equal(vt_try_set(l.m, l.keys[i], l.keys[i], 1000),
                             0); /* sslHost does not name it */
    /* each node link failed by now (its call waited 1 s): a call says why */
    expect_mismatch_named(l.m, l.keys[1], vt_cluster_port(CLUSTER, 1));
    seed_serves_right_name(l.m); /* so that the test's own connections reach node 0 again */
    announce_localhost();
    assert_true(vt_wait_until(late_served, &l, 60000));
    every_node_reached(l.m, "127.0.0.1");
    for (int i = 1; i < vt_cluster_size(CLUSTER); i++)
        vt_near_until_cached(l.m, l.keys[i], l.keys[i]); /* tracked: invalidation link up */
    for (int i = 1; i < vt_cluster_size(CLUSTER); i++)
        shard_delivers(l.m, &ss[i], i); /* its subscriber link learnt the name too */
    vmux_close(l.m);
}

/*
 * SSUBSCRIBE on a shard channel of each primary goes live and gets the message published there:
 * each subscriber link verifies the name its node announces (node 0 OWN_NAME, the others
 * localhost), not the handle's sslHost, which names the seed only.
 */
static void test_shard_subscriptions_verify_node_names(void **state)
{
    (void)state;
    int n = vt_cluster_size(CLUSTER);
    assert_true(n <= 3);
    static struct shard_sub ss[3];
    for (int i = 0; i < n; i++)
        key_on_node(ss[i].channel, sizeof ss[i].channel, "names:shard", i);
    vmux *m = nodes_own_names();
    for (int i = 0; i < n; i++)
        shard_subscribe(m, &ss[i]);
    for (int i = 0; i < n; i++)
        shard_delivers(m, &ss[i], i);
    for (int i = 0; i < n; i++)
        assert_int_equal(vmux_unsubscribe(m, ss[i].sub), 0);
    nodes_named_localhost(m);
}

/*
 * A keyspace subscription (a copy on every primary) goes live and gets the event of a key of each
 * primary, as in the test above: each copy's link verifies its node's own name.
 */
static void test_keyspace_subscription_verifies_node_names(void **state)
{
    (void)state;
    int n = vt_cluster_size(CLUSTER);
    assert_true(n <= 3);
    static struct keyspace_watch w;
    for (int i = 0; i < n; i++)
        key_on_node(w.keys[i], sizeof w.keys[i], "names:ks", i);
    config_set_all("notify-keyspace-events", "KA");
    vmux *m = nodes_own_names();
    char pattern[64];
    snprintf(pattern, sizeof pattern, KEYSPACE "names:ks:%d:*", (int)getpid());
    vmux_sub *sub = NULL;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_PATTERN, VMUX_STR(pattern), on_keyspace_event, &w, &sub), 0);
    int rc = vmux_sub_wait_live(sub, SUB_WAIT_MS);
    if (rc != 0)
        fail_msg("keyspace subscription %s not live on every primary: %s", pattern,
                 vmux_err_name(rc));
    for (int i = 0; i < n; i++) {
        assert_int_equal(vt_try_set(m, w.keys[i], "v", SUB_WAIT_MS), 0);
        if (!vt_wait_until(arrived, &w.got[i], SUB_WAIT_MS))
            fail_msg("no keyspace event of %s (node %d)", w.keys[i], i);
    }
    assert_int_equal(vmux_unsubscribe(m, sub), 0);
    nodes_named_localhost(m);
    config_set_all("notify-keyspace-events", ""); /* as the fixture was */
}

static void test_names_announced(void **state)
{
    (void)state;
    announce_localhost();
    seed_serves_wrong_name();

    /* metadata: node links dial 127.0.0.1 and verify localhost */
    vmux *m = open_seed("");
    spread(m, "names:meta");
    every_node_reached(m, "127.0.0.1");

    /* the preferred endpoint: set on every node through the handle itself */
    const char *pref[] = {"CONFIG", "SET", "cluster-preferred-endpoint-type", "hostname"};
    vmux_node_replies res = {0};
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_ALL, 4, pref, NULL, &res), 0);
    assert_int_equal(res.count, (size_t)vt_cluster_size(CLUSTER));
    for (size_t i = 0; i < res.count; i++)
        assert_int_equal(res.nodes[i].status, 0);
    vmux_node_replies_free(&res);
    vmux_close(m);

    m = open_seed(""); /* its map names every node localhost */
    spread(m, "names:pref");
    every_node_reached(m, "localhost");
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unnamed_nodes_by_ip), /* these two first: the fresh fixture */
        cmocka_unit_test(test_name_learned_late),
        cmocka_unit_test(test_shard_subscriptions_verify_node_names),
        cmocka_unit_test(test_keyspace_subscription_verifies_node_names),
        cmocka_unit_test(test_names_announced),
    };
    vt_filter_tests(); /* VT_ONLY=test_name: one test (each of the last three stands alone) */
    return cmocka_run_group_tests(tests, NULL, NULL);
}

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
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "readkeys.h"
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

/* How many lines of text equal line. */
static int lines_equal(const char *text, const char *line)
{
    int n = 0;
    size_t len = strlen(line);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        n += strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == '\0');
    return n;
}

/* Whether node 0's CLUSTER SLOTS names every node "localhost" (as host or metadata). */
static bool slots_name_localhost(void *arg)
{
    (void)arg;
    char *t = vt_node_admin(vt_cluster_port(CLUSTER, 0), true, "CLUSTER SLOTS");
    bool all = t != NULL && lines_equal(t, "localhost") >= vt_cluster_size(CLUSTER);
    free(t);
    return all;
}

/* A handle on node 0, trusting the test CA, checking node 0 against wrong.example.test. */
static vmux *open_seed(void)
{
    const char *d = vt_certs_dir();
    size_t cap = 3 * strlen(d) + 256;
    char *conf = malloc(cap);
    assert_non_null(conf);
    snprintf(conf, cap,
             "127.0.0.1:%d,ssl=true,sslCaFile=%s/ca.crt,sslCert=%s/client.crt,sslKey=%s/"
             "client.key,sslHost=wrong.example.test,cluster=yes,syncTimeout=20000",
             vt_cluster_port(CLUSTER, 0), d, d, d);
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

static void test_names_announced(void **state)
{
    (void)state;
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        int port = vt_cluster_port(CLUSTER, i);
        want_ok(port, "announce",
                vt_node_admin(port, true, "CONFIG SET cluster-announce-hostname localhost"));
    }
    assert_true(vt_wait_until(slots_name_localhost, NULL, 60000));
    /* last word to node 0 over the test's connection, which verifies 127.0.0.1 */
    const char *d = vt_certs_dir();
    int port0 = vt_cluster_port(CLUSTER, 0);
    want_ok(port0, "certificate",
            vt_node_admin(port0, true,
                          "CONFIG SET tls-cert-file %s/wrongname.crt tls-key-file %s/wrongname.key",
                          d, d));

    /* metadata: node links dial 127.0.0.1 and verify localhost */
    vmux *m = open_seed();
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

    m = open_seed(); /* its map names every node localhost */
    spread(m, "names:pref");
    every_node_reached(m, "localhost");
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_announced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Cluster routing over TLS, against the fixture "cluster-tls" (three primaries with a replica
 * each, TLS only, client certificates required, TLS on the cluster bus and for replication):
 *
 * - a handle opened on one seed node with the test CA and client certificate writes keys that
 *   spread over every shard and reads them back: every call succeeds, so the links the router
 *   opened to the other nodes verified each node's certificate against the address the node
 *   announces (127.0.0.1);
 * - each primary, asked over its own TLS connection, holds its share of those keys (SCAN), and
 *   its INFO commandstats counted at least that many SETs and GETs;
 * - a handle that trusts another CA fails to open with VMUX_ERR_TLS.
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

#define CLUSTER "cluster-tls"
#define NKEYS 600
#define MAX_PRIMARIES 16

/* The seed node's configuration with the CA file ca (a file in the certs directory). */
static char *seed_config(const char *ca, const char *extra)
{
    const char *d = vt_certs_dir();
    size_t cap = 3 * strlen(d) + strlen(extra) + 256;
    char *conf = malloc(cap);
    assert_non_null(conf);
    snprintf(conf, cap,
             "127.0.0.1:%d,ssl=true,sslCaFile=%s/%s,sslCert=%s/client.crt,sslKey=%s/client.key,%s",
             vt_cluster_port(CLUSTER, 0), d, ca, d, d, extra);
    return conf;
}

static void spread_key(char *buf, size_t len, int i)
{
    snprintf(buf, len, "tls:spread:%d:%d", (int)getpid(), i);
}

/* The calls counter of command cmd in a primary's INFO commandstats (0 when never called). */
static long long calls_on(int port, const char *cmd)
{
    char *info = vt_node_admin(port, true, "INFO commandstats");
    assert_non_null(info);
    char field[64];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", cmd);
    const char *at = strstr(info, field);
    long long n = at ? strtoll(at + strlen(field), NULL, 10) : 0;
    free(info);
    return n;
}

/* How many of the spread keys the primary on port holds (SCAN there), each seen only once. */
static int keys_on(int port, bool *seen)
{
    char match[64];
    snprintf(match, sizeof match, "tls:spread:%d:*", (int)getpid());
    int held = 0;
    long long cursor = 0;
    do {
        /* The reply's text is the next cursor, then one key per line. */
        char *text = vt_node_admin(port, true, "SCAN %lld MATCH %s COUNT 1000", cursor, match);
        assert_non_null(text);
        char *save = NULL;
        char *line = strtok_r(text, "\n", &save);
        assert_non_null(line);
        cursor = strtoll(line, NULL, 10);
        while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
            int i = atoi(strrchr(line, ':') + 1);
            assert_true(i >= 0 && i < NKEYS);
            assert_false(seen[i]);
            seen[i] = true;
            held++;
        }
        free(text);
    } while (cursor != 0);
    return held;
}

static void set_get(vmux *m, int i)
{
    char key[64], value[32];
    spread_key(key, sizeof key, i);
    snprintf(value, sizeof value, "v%d", i);
    vt_must_set_get(m, key, value);
}

static void test_routing_over_tls(void **state)
{
    (void)state;
    int primaries = vt_cluster_primaries(CLUSTER);
    assert_true(primaries >= 3 && primaries <= MAX_PRIMARIES);
    long long sets0[MAX_PRIMARIES], gets0[MAX_PRIMARIES];
    for (int p = 0; p < primaries; p++) {
        sets0[p] = calls_on(vt_cluster_port(CLUSTER, p), "set");
        gets0[p] = calls_on(vt_cluster_port(CLUSTER, p), "get");
    }

    char *conf = seed_config("ca.crt", "cluster=yes");
    vmux *m = vt_open_conf(conf);
    free(conf);
    for (int i = 0; i < NKEYS; i++)
        set_get(m, i);
    vmux_close(m);

    bool seen[NKEYS] = {false};
    int total = 0;
    for (int p = 0; p < primaries; p++) {
        int port = vt_cluster_port(CLUSTER, p);
        int held = keys_on(port, seen);
        assert_true(held > NKEYS / 10); /* every shard got its share */
        /* It executed at least its share of the handle's SETs and GETs (other tests may share
         * the fixture, so not exactly as many). */
        assert_true(calls_on(port, "set") - sets0[p] >= held);
        assert_true(calls_on(port, "get") - gets0[p] >= held);
        total += held;
    }
    assert_int_equal(total, NKEYS);
}

static void test_wrong_ca_fails_with_tls_error(void **state)
{
    (void)state;
    char *conf = seed_config("other-ca.crt", "cluster=yes,connectRetry=1,connectTimeout=2000");
    vmux_config *cfg = vt_config(conf);
    char err[512] = "";
    vmux *m = NULL;
    int rc = vmux_open(cfg, &m, err, sizeof err);
    vmux_config_free(cfg);
    if (rc == 0) {
        vmux_close(m);
        fail_msg("vmux_open(%s) succeeded with a CA that did not sign the nodes' certificates",
                 conf);
    }
    free(conf);
    assert_null(m);
    if (rc != VMUX_ERR_TLS)
        fail_msg("wrong CA: %s (%s), not VMUX_ERR_TLS", vmux_err_name(rc), err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_over_tls),
        cmocka_unit_test(test_wrong_ca_fails_with_tls_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

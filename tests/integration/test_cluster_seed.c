/*
 * One link per node, whatever name reached it (fixture "cluster": three primaries with a replica
 * each; this test only reads the nodes' client lists and kills its own connection). The handle's
 * seed is "localhost:P" while CLUSTER SLOTS names that node 127.0.0.1:P; the node id (CLUSTER
 * MYID) makes the seed link serve that node under both names:
 *
 * - keys spread over every shard all succeed, the seed's node holds its share, and each primary
 *   sees exactly one connection of the handle (CLIENT LIST, by the handle's client name);
 *   vmux_read_node_stats() gives the seed's counters under both names;
 * - after the seed's connection is killed, commands for the seed's node wait for its next
 *   connection, which is asked its id again: still one connection per primary, the same counters
 *   under both names.
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

#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster"
#define NKEYS 300

static char client_name[64];

/* The index of the first node that is a primary now. */
static int a_primary(void)
{
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        char *info = vt_node_admin(vt_cluster_port(CLUSTER, i), false, "INFO replication");
        bool primary = info != NULL && strstr(info, "role:master") != NULL;
        free(info);
        if (primary)
            return i;
    }
    fail_msg("no primary in %s", CLUSTER);
    return -1;
}

/* How many connections named client_name the node at port has; *id the last one's id. */
static int connections(int port, long long *id)
{
    char *list = vt_node_admin(port, false, "CLIENT LIST");
    assert_non_null(list);
    char want[80];
    snprintf(want, sizeof want, " name=%s ", client_name);
    int n = 0;
    for (char *line = strtok(list, "\n"); line != NULL; line = strtok(NULL, "\n"))
        if (strstr(line, want) != NULL) {
            n++;
            if (id != NULL)
                *id = strtoll(line + 3, NULL, 10); /* "id=N ..." */
        }
    free(list);
    return n;
}

/* Connections of the handle to every primary: 1 each, or the test fails with the counts. */
static void one_per_primary(void)
{
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        int port = vt_cluster_port(CLUSTER, i);
        char *info = vt_node_admin(port, false, "INFO replication");
        bool primary = info != NULL && strstr(info, "role:master") != NULL;
        free(info);
        int n = connections(port, NULL);
        if (primary && n != 1)
            fail_msg("primary %d has %d connections of the handle, not 1", port, n);
    }
}

static void set_keys(vmux *m, const char *prefix)
{
    char key[64];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof key, "%s:%d", prefix, i);
        const char *set[] = {"SET", key, "v"};
        vmux_reply *r = NULL;
        char why[256] = "";
        vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
        int rc = vmux_call(m, &o, 3, set, NULL, &r);
        if (rc != 0)
            fail_msg("SET %s: %s (%s)", key, vmux_err_name(rc), why);
        vmux_reply_free(r);
    }
}

/* How many of the keys the node at port holds (asked directly; others answer MOVED). */
static int keys_on(int port, const char *prefix)
{
    int n = 0;
    char key[64];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof key, "%s:%d", prefix, i);
        char *t = vt_node_admin(port, false, "EXISTS %s", key);
        n += t != NULL && strcmp(t, "1") == 0;
        free(t);
    }
    return n;
}

static vmux *open_localhost(int port)
{
    snprintf(client_name, sizeof client_name, "seedtest-%d", (int)getpid());
    char conf[256];
    snprintf(conf, sizeof conf, "localhost:%d,name=%s,syncTimeout=30000,cluster=yes", port,
             client_name);
    return vt_open_conf(conf);
}

/* vmux_read_node_stats() under both names: the seed's node, the handle's own links. */
static uint64_t seed_connects(vmux *m, int port)
{
    vmux_stats a = VMUX_INIT(vmux_stats), b = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_node_stats(m, "localhost", port, &a), 0);
    assert_int_equal(vmux_read_node_stats(m, "127.0.0.1", port, &b), 0);
    assert_true(a.connects == b.connects);
    return a.connects;
}

static void test_localhost_seed_one_link(void **state)
{
    (void)state;
    int port = vt_cluster_port(CLUSTER, a_primary());
    vmux *m = open_localhost(port);
    set_keys(m, "seedtest:a");
    assert_true(keys_on(port, "seedtest:a") > 0); /* the seed's node served its share */
    one_per_primary();
    assert_int_equal(seed_connects(m, port), 1);
    vmux_close(m);
}

struct reconnected {
    int port;
    long long old_id;
};

static bool is_reconnected(void *p)
{
    struct reconnected *w = p;
    long long id = -1;
    return connections(w->port, &id) == 1 && id != w->old_id;
}

static void test_seed_reconnect_keeps_one_link(void **state)
{
    (void)state;
    int port = vt_cluster_port(CLUSTER, a_primary());
    vmux *m = open_localhost(port);
    set_keys(m, "seedtest:b");
    long long id = -1;
    assert_int_equal(connections(port, &id), 1);
    char *killed = vt_node_admin(port, false, "CLIENT KILL ID %lld", id);
    assert_non_null(killed);
    free(killed);
    /* sent at once: the seed's node's share waits for the seed link's next connection */
    set_keys(m, "seedtest:c");
    assert_true(keys_on(port, "seedtest:c") > 0);
    struct reconnected w = {port, id};
    assert_true(vt_wait_until(is_reconnected, &w, 30000));
    set_keys(m, "seedtest:d"); /* after CLUSTER MYID answered on the new connection */
    one_per_primary();
    assert_true(seed_connects(m, port) >= 2);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_localhost_seed_one_link),
        cmocka_unit_test(test_seed_reconnect_keeps_one_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

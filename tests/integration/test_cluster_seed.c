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
 *
 * A seed LIST of cluster nodes (cluster.md "Give the handle any one node of the cluster"): the
 * primary search by ROLE that several endpoints bring is for a standalone primary and its
 * replicas; a cluster node, whatever its role, is a seed as good as any:
 *
 * - two replicas as the seeds (cluster=auto): the handle opens and serves every shard;
 * - a dead port, then a replica: the same;
 * - cluster=yes with a replica listed first: no ROLE at all, the replica is the seed (no attempt
 *   refused, the handle's connection on it);
 * - cluster=no keeps the primary search, and a dead port then a replica fails to open: the error
 *   says why each endpoint failed, the replica's refusal included (not only the dead port's);
 * - four seeds, the first three dead, default connectRetry (3): the open tries each seed once and
 *   opens on the fourth (cluster=auto, and cluster=no); four dead seeds: the failure names each
 *   of them once.
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
#include <pthread.h>

#include "evlog.h"
#include "faultproxy.h"
#include "servers.h"
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

/* The index of the nth node (from 0) that is a replica now. */
static int a_replica(int nth)
{
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        char *info = vt_node_admin(vt_cluster_port(CLUSTER, i), false, "INFO replication");
        bool replica = info != NULL && strstr(info, "role:slave") != NULL;
        free(info);
        if (replica && nth-- == 0)
            return i;
    }
    fail_msg("fewer replicas in %s than asked", CLUSTER);
    return -1;
}

/* Opens a handle on the seed list seeds (plus the test's client name), its events into log. */
static vmux *open_seeds(const char *seeds, vt_evlog *log)
{
    static int handles;
    snprintf(client_name, sizeof client_name, "seedtest-%d-%d", (int)getpid(), ++handles);
    char conf[512];
    snprintf(conf, sizeof conf, "%s,name=%s,syncTimeout=30000", seeds, client_name);
    vmux_config *cfg = vt_config(conf);
    vmux_config_set_event_handler(cfg, vt_evlog_on_event, log);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

/* How many events of type the log holds whose reason contains needle. */
static int events(vt_evlog *log, vmux_event_type type, const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < log->n; i++)
        n += log->ev[i].type == type && strstr(log->ev[i].reason, needle) != NULL;
    pthread_mutex_unlock(&log->mu);
    return n;
}

/* Keys over every shard through m, then one connection of the handle per primary. */
static void serves_every_shard(vmux *m, const char *prefix)
{
    set_keys(m, prefix);
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        int port = vt_cluster_port(CLUSTER, i);
        char *info = vt_node_admin(port, false, "INFO replication");
        bool primary = info != NULL && strstr(info, "role:master") != NULL;
        free(info);
        if (primary && keys_on(port, prefix) == 0)
            fail_msg("the primary %d holds none of the keys", port);
    }
    one_per_primary();
}

static void test_two_replicas_as_seeds(void **state)
{
    (void)state;
    char seeds[128];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d,127.0.0.1:%d",
             vt_cluster_port(CLUSTER, a_replica(0)), vt_cluster_port(CLUSTER, a_replica(1)));
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vmux *m = open_seeds(seeds, &log);
    serves_every_shard(m, "seedtest:replicas");
    vmux_close(m);
    assert_int_equal(events(&log, VMUX_EVENT_CONNECTION_FAILED, "not the primary"), 0);
}

static void test_dead_seed_then_replica(void **state)
{
    (void)state;
    int fd;
    char seeds[128];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d,127.0.0.1:%d", vt_refusing_port(&fd),
             vt_cluster_port(CLUSTER, a_replica(0)));
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vmux *m = open_seeds(seeds, &log);
    serves_every_shard(m, "seedtest:dead");
    vmux_close(m);
    close(fd);
    assert_int_equal(events(&log, VMUX_EVENT_CONNECTION_FAILED, "not the primary"), 0);
}

/* cluster=yes: no ROLE; the replica listed first is the seed, no attempt refused. */
static void test_cluster_yes_replica_first(void **state)
{
    (void)state;
    int replica = vt_cluster_port(CLUSTER, a_replica(0));
    char seeds[128];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d,127.0.0.1:%d,cluster=yes", replica,
             vt_cluster_port(CLUSTER, a_primary()));
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vmux *m = open_seeds(seeds, &log);
    assert_int_equal(connections(replica, NULL), 1); /* the seed link's, on the replica */
    serves_every_shard(m, "seedtest:yes");
    vmux_close(m);
    assert_int_equal(events(&log, VMUX_EVENT_CONNECTION_FAILED, ""), 0);
}

/* The handle's connections that a node at port has, or that the proxy relays, or failures. */
struct reroute_wait {
    vt_evlog *log;
    char proxy_addr[32];
    int other;
};

static bool seed_tried_or_doubled(void *arg)
{
    struct reroute_wait *w = arg;
    return events(w->log, VMUX_EVENT_CONNECTION_FAILED, w->proxy_addr) >= 3 ||
           connections(w->other, NULL) >= 2;
}

struct seed_back {
    vt_proxy *proxy;
};

static bool seed_relayed(void *arg)
{
    return vt_proxy_live(((struct seed_back *)arg)->proxy) >= 1;
}

/*
 * A seed list of two primaries, the first reached through a proxy: once the map is known, the
 * other one has its node link. The first seed's node goes away (the proxy cuts and refuses):
 * the seed link does not move on to the second seed, whose node has a link already, but keeps
 * trying its own (probe52: two connections to one node for as long as it lived); it comes back
 * once the node does, and every primary still has one connection of the handle.
 */
static void test_seed_list_one_link_per_node(void **state)
{
    (void)state;
    int first = a_primary(), other = -1;
    for (int i = 0; i < vt_cluster_size(CLUSTER) && other < 0; i++) {
        char *info = vt_node_admin(vt_cluster_port(CLUSTER, i), false, "INFO replication");
        if (i != first && info != NULL && strstr(info, "role:master") != NULL)
            other = vt_cluster_port(CLUSTER, i);
        free(info);
    }
    assert_true(other > 0);
    vt_proxy *proxy = vt_proxy_start("127.0.0.1", vt_cluster_port(CLUSTER, first));
    assert_non_null(proxy);
    char seeds[160];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d,127.0.0.1:%d,reconnectMin=20,reconnectMax=200",
             vt_proxy_port(proxy), other);
    vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vmux *m = open_seeds(seeds, &log);
    serves_every_shard(m, "seedtest:list");

    assert_int_equal(vt_proxy_set_mode(proxy, VT_PROXY_REFUSE, 0), 0);
    vt_proxy_cut(proxy);
    struct reroute_wait w = {.log = &log, .other = other};
    snprintf(w.proxy_addr, sizeof w.proxy_addr, "127.0.0.1:%d", vt_proxy_port(proxy));
    assert_true(vt_wait_until(seed_tried_or_doubled, &w, 20000));
    if (connections(other, NULL) != 1)
        fail_msg("the other seed's node has %d connections of the handle, not 1",
                 connections(other, NULL));

    assert_int_equal(vt_proxy_set_mode(proxy, VT_PROXY_PASS, 0), 0);
    struct seed_back b = {proxy};
    assert_true(vt_wait_until(seed_relayed, &b, 20000));
    serves_every_shard(m, "seedtest:list2");
    vmux_close(m);
    vt_proxy_stop(proxy);
}

/* cluster=no: the primary search refuses the replica; the failure names both endpoints' causes. */
static void test_every_seed_failed_says_why(void **state)
{
    (void)state;
    int fd, dead = vt_refusing_port(&fd), replica = vt_cluster_port(CLUSTER, a_replica(0));
    char conf[256], err[1024] = "";
    /* attempts: the dead port, the replica, the dead port again (the last) */
    snprintf(conf, sizeof conf, "127.0.0.1:%d,127.0.0.1:%d,cluster=no,connectRetry=3", dead,
             replica);
    vmux_config *cfg = vt_config(conf);
    vmux *m = NULL;
    int rc = vmux_open(cfg, &m, err, sizeof err);
    vmux_config_free(cfg);
    close(fd);
    assert_null(m);
    assert_int_equal(rc, VMUX_ERR_CONNECT);
    char want_dead[64], want_replica[80];
    snprintf(want_dead, sizeof want_dead, "127.0.0.1:%d: connect failed", dead);
    snprintf(want_replica, sizeof want_replica, "127.0.0.1:%d: not the primary (ROLE: slave)",
             replica);
    if (strstr(err, want_dead) == NULL || strstr(err, want_replica) == NULL)
        fail_msg("vmux_open's reason does not say why each endpoint failed: %s", err);
}

/* Three ports nothing listens on (each bound, not listening, until close_dead()). */
struct dead3 {
    int fd[3], port[3];
};

static void open_dead(struct dead3 *d)
{
    for (int i = 0; i < 3; i++)
        d->port[i] = vt_refusing_port(&d->fd[i]);
}

static void close_dead(struct dead3 *d)
{
    for (int i = 0; i < 3; i++)
        close(d->fd[i]);
}

/* Each dead port's connection failed once while vmux_open() waited: one attempt each. */
static void each_dead_tried_once(vt_evlog *log, const struct dead3 *d)
{
    for (int i = 0; i < 3; i++) {
        char at[40];
        snprintf(at, sizeof at, "127.0.0.1:%d: ", d->port[i]);
        int n = events(log, VMUX_EVENT_CONNECTION_FAILED, at);
        if (n != 1)
            fail_msg("the dead seed %s failed %d times, not once", at, n);
    }
}

/*
 * Four seeds, the first three dead, default connectRetry (3): vmux_open() tries every seed and
 * opens on the fourth, with cluster=auto and with cluster=no (a standalone handle, whose primary
 * search goes over the same list). It failed VMUX_ERR_CONNECT naming the three dead ones only.
 */
static void test_every_seed_tried(void **state)
{
    (void)state;
    const char *const modes[] = {"cluster=auto", "cluster=no"};
    int live = vt_cluster_port(CLUSTER, a_primary());
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        struct dead3 d;
        open_dead(&d);
        char seeds[256];
        snprintf(seeds, sizeof seeds, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d,%s",
                 d.port[0], d.port[1], d.port[2], live, modes[k]);
        vt_evlog log = {.mu = PTHREAD_MUTEX_INITIALIZER};
        vmux *m = open_seeds(seeds, &log);
        const char *ping[] = {"PING"};
        char *pong = vt_call_text(m, 1, ping);
        assert_string_equal(pong, "PONG");
        free(pong);
        vmux_close(m);
        close_dead(&d);
        each_dead_tried_once(&log, &d);
    }
}

/* How many times needle occurs in s. */
static int occurrences(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Four dead seeds, default connectRetry: the failure names each of them, once. */
static void test_every_dead_seed_named_once(void **state)
{
    (void)state;
    struct dead3 d;
    open_dead(&d);
    int fd, fourth = vt_refusing_port(&fd);
    char conf[256], err[1024] = "";
    snprintf(conf, sizeof conf, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", d.port[0],
             d.port[1], d.port[2], fourth);
    vmux_config *cfg = vt_config(conf);
    vmux *m = NULL;
    int rc = vmux_open(cfg, &m, err, sizeof err);
    vmux_config_free(cfg);
    close_dead(&d);
    close(fd);
    assert_null(m);
    assert_int_equal(rc, VMUX_ERR_CONNECT);
    const int ports[] = {d.port[0], d.port[1], d.port[2], fourth};
    for (int i = 0; i < 4; i++) {
        char at[40];
        snprintf(at, sizeof at, "127.0.0.1:%d: connect failed", ports[i]);
        if (occurrences(err, at) != 1)
            fail_msg("vmux_open's reason names %s %d times, not once: %s", at, occurrences(err, at),
                     err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_localhost_seed_one_link),
        cmocka_unit_test(test_seed_reconnect_keeps_one_link),
        cmocka_unit_test(test_two_replicas_as_seeds),
        cmocka_unit_test(test_dead_seed_then_replica),
        cmocka_unit_test(test_cluster_yes_replica_first),
        cmocka_unit_test(test_every_seed_failed_says_why),
        cmocka_unit_test(test_every_seed_tried),
        cmocka_unit_test(test_every_dead_seed_named_once),
        cmocka_unit_test(test_seed_list_one_link_per_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

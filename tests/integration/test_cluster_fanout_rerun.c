/*
 * A typed fan-out whose rerun meets a second failover (fixture "cluster-rerun": three primaries
 * with two replicas each, its own because it kills nodes). Its part waits for a primary
 * SIGKILLed; the map that names the promoted replica withdraws it and the fan-out runs again
 * (mux/fanout.c); that replica, the shard's primary now, is SIGKILLed too once the shard's other
 * replica follows it, so that the rerun's part waits for a dead node in turn; the map that names
 * the last replica withdraws it and the fan-out runs a third time. DBSIZE succeeds and sums the
 * last map's primaries. Before, the second withdrawal failed the call ("NOTPRIMARY ... withdrawn
 * from the fan-out's rerun") with most of its deadline left (review helper-244 F3). The handle
 * refreshes its map at most every 3 s (clusterRefreshMinInterval), so that the second kill comes,
 * most often, before the handle has seen the first promotion; when the rerun was answered first,
 * the call passes without a third run (it says so).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "node.h"
#include "nodefail.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-rerun"

/* The replicas of the primary at port (their master_port), into out (2 at most); how many. */
static int replicas_of(int port, int *out)
{
    int n = 0;
    for (int i = 0; i < vt_cluster_size(CLUSTER) && n < 2; i++) {
        int p = vt_cluster_port(CLUSTER, i);
        char *info = p != port ? vt_node_admin(p, false, "INFO replication") : NULL;
        if (info != NULL && strstr(info, "role:slave") != NULL &&
            vt_info_field(info, "master_port") == port)
            out[n++] = p;
        free(info);
    }
    return n;
}

struct dbsize_call {
    vmux *m;
    int rc;
    int64_t n;
    char why[512];
};

static void *dbsize(void *arg)
{
    struct dbsize_call *d = arg;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = d->why, .errlen = sizeof d->why);
    d->rc = vmux_dbsize(d->m, &o, &d->n);
    return NULL;
}

/* Whether one of two replicas (ports) is a primary now: its port in rep[2]. */
static bool one_promoted(void *arg)
{
    int *rep = arg;
    for (int i = 0; i < 2; i++)
        if (vt_port_is_primary(&rep[i])) {
            rep[2] = rep[i];
            return true;
        }
    return false;
}

/* Whether the replica at arg[0] replicates from the port at arg[1]. */
static bool follows(void *arg)
{
    int *p = arg;
    char *info = vt_node_admin(p[0], false, "INFO replication");
    bool yes = info != NULL && vt_info_field(info, "master_port") == p[1];
    free(info);
    return yes;
}

static void test_rerun_meets_second_failover(void **state)
{
    (void)state;
    int primary = vt_cluster_port(CLUSTER, 0), other = vt_cluster_port(CLUSTER, 1);
    int rep[3] = {0};
    assert_int_equal(replicas_of(primary, rep), 2);
    vmux *m = vt_open_linked(other, "syncTimeout=60000,clusterRefreshMinInterval=3000");

    struct vt_conn_watch w;
    vt_conn_watch_start(&w, m);
    assert_int_equal(kill((pid_t)vt_node_pid(primary), SIGKILL), 0);
    assert_true(vt_wait_until(vt_conn_failed, &w, 30000)); /* the part will wait in its backlog */
    struct dbsize_call d = {.m = m};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, dbsize, &d), 0);
    bool promoted = vt_wait_until(one_promoted, rep, 60000);
    int first = rep[2], last = first == rep[0] ? rep[1] : rep[0];
    int follow[2] = {last, first};
    bool followed = promoted && vt_wait_until(follows, follow, 30000);
    uint64_t second_kill = vt_now_ms();
    if (followed)
        assert_int_equal(kill((pid_t)vt_node_pid(first), SIGKILL), 0);
    pthread_join(th, NULL);
    uint64_t took = vt_now_ms() - second_kill;
    assert_true(promoted);
    assert_true(followed);
    if (d.rc != 0)
        fail_msg("DBSIZE across two failovers: %s: %s", vmux_err_name(d.rc), d.why);
    assert_true(vt_port_is_primary(&last));
    assert_int_equal(d.n, vt_primaries_dbsize(other));
    printf("two failovers: DBSIZE returned %llu ms after the second kill\n",
           (unsigned long long)took);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rerun_meets_second_failover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * READONLY on a cluster handle (fixture "cluster-readonly": three primaries with a replica each,
 * its own, since the test fails a shard over twice). A replica refuses a write before running it,
 * so the handle sends a command refused READONLY by the map, whatever the command, once the map
 * no longer names that node a primary (cluster.md).
 *
 * Three threads on one handle opened on shard 0's primary (the seed) call, over and over and
 * without VMUX_CALL_RETRY_SAFE, FUNCTION LOAD REPLACE and SCRIPT FLUSH (keyless writes: the
 * seed's, or the first primary's while the map names the seed a replica) and INCR of a key of
 * shard 0, while CLUSTER FAILOVER on shard 0's replica demotes the seed, and then on the seed
 * demotes that node in turn. Every call succeeds, and the key counts exactly the INCRs
 * acknowledged. Before, the keyless writes that reached the demoted node (planned: it holds
 * writes while its replica catches up, then answers them READONLY) failed VMUX_ERR_SERVER
 * "READONLY You can't write against a read only replica" (probe p16 of review helper-253: 3 of
 * 4 rounds), and one queued on the seed's link while it reconnected went to the demoted seed
 * after the refreshed map named it a replica. The handle's retried count is then the sum of its
 * nodes' (a READONLY resend counted in the handle's only).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "node.h"
#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-readonly"
#define AFTER_CALLS 20 /* calls of each kind served after a promotion before the next step */

/* One thread's command, called until stop, and what came of it. */
struct caller {
    vmux *m;
    const char *name;
    int argc;
    const char *argv[4];
    atomic_int ok;
    atomic_int failed;
    char why[512]; /* the first failure's words */
    pthread_t th;
};

static atomic_bool stop;

static void *calls(void *arg)
{
    struct caller *c = arg;
    while (!atomic_load(&stop)) {
        char why[512] = "";
        vmux_callopts o =
            VMUX_INIT(vmux_callopts, .timeout_ms = 15000, .errbuf = why, .errlen = sizeof why);
        vmux_reply *r = NULL;
        int rc = vmux_call(c->m, &o, c->argc, c->argv, NULL, &r);
        vmux_reply_free(r);
        if (rc == 0) {
            atomic_fetch_add(&c->ok, 1);
        } else if (atomic_fetch_add(&c->failed, 1) == 0) {
            snprintf(c->why, sizeof c->why, "%s: %s: %s", c->name, vmux_err_name(rc), why);
        }
    }
    return NULL;
}

/* The callers, and the counts of successes each must pass (struct enough). */
struct enough {
    struct caller *c;
    int n;
    int at[3];
};

static bool served_after(void *arg)
{
    const struct enough *e = arg;
    for (int i = 0; i < e->n; i++)
        if (atomic_load(&e->c[i].ok) < e->at[i] + AFTER_CALLS)
            return false;
    return true;
}

static void mark(struct enough *e)
{
    for (int i = 0; i < e->n; i++)
        e->at[i] = atomic_load(&e->c[i].ok);
}

/* Whether the node at *arg is a replica whose link to its primary is up. */
static bool replica_synced(void *arg)
{
    char *info = vt_node_admin(*(int *)arg, false, "INFO replication");
    bool up = info != NULL && strstr(info, "master_link_status:up") != NULL;
    free(info);
    return up;
}

/* CLUSTER FAILOVER on promoted (the replica of old, once in sync), until the roles swap. */
static void fail_over(int promoted, int old)
{
    assert_true(vt_poll_until(replica_synced, &promoted, 30000, 20));
    vt_fail_over(promoted, old);
}

/* A key whose slot the primary at port serves (its first slot range's first slot). */
static void key_of(int port, char *key, size_t cap)
{
    int slot = -1;
    redisReply *r = vt_node_command(port, false, "CLUSTER SLOTS");
    for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (r->element[i]->element[2]->element[1]->integer == port)
            slot = (int)r->element[i]->element[0]->integer;
    freeReplyObject(r);
    assert_true(slot >= 0);
    for (int i = 0; i < 1000000; i++) {
        snprintf(key, cap, "ro:%llu:%d", (unsigned long long)vt_now_ns(), i);
        if ((int)vmux__slot_of(key, strlen(key)) == slot)
            return;
    }
    fail_msg("no key found in slot %d", slot);
}

/*
 * The handle's retried count is the sum of its nodes' (vmux_read_node_stats(); a node it never
 * dialled has none): each READONLY refusal counts under the node that answered it, as TRYAGAIN's
 * and the rest do (helper-254: it counted in the handle's total only).
 */
static void retried_adds_up(vmux *m)
{
    vmux_stats total = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &total), 0);
    uint64_t sum = 0;
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        vmux_stats st = VMUX_INIT(vmux_stats);
        int rc = vmux_read_node_stats(m, "127.0.0.1", vt_cluster_port(CLUSTER, i), &st);
        assert_true(rc == 0 || rc == VMUX_ERR_INVALID_ARG);
        sum += st.retried;
    }
    printf("retried: %llu on the handle, %llu over its nodes\n", (unsigned long long)total.retried,
           (unsigned long long)sum);
    assert_int_equal(sum, total.retried);
}

static void test_writes_across_failovers(void **state)
{
    (void)state;
    int seed = vt_cluster_port(CLUSTER, 0);
    if (!vt_node_is_primary(seed)) { /* a run that failed half-way left it a replica */
        char *info = vt_node_admin(seed, false, "INFO replication");
        int primary = info != NULL ? (int)vt_info_field(info, "master_port") : -1;
        free(info);
        fail_over(seed, primary);
    }
    int rep = vt_cluster_replica_of(CLUSTER, seed);
    char key[64];
    key_of(seed, key, sizeof key);
    char *conf = vt_node_config(seed, "syncTimeout=15000,reconnectMax=500");
    vmux *m = vt_open_conf(conf);
    free(conf);
    struct caller c[3] = {
        {.m = m,
         .name = "FUNCTION LOAD REPLACE",
         .argc = 4,
         .argv = {"FUNCTION", "LOAD", "REPLACE",
                  "#!lua name=rolib\nserver.register_function('rof', function(keys, args) "
                  "return 1 end)"}},
        {.m = m, .name = "SCRIPT FLUSH", .argc = 2, .argv = {"SCRIPT", "FLUSH"}},
        {.m = m, .name = "INCR", .argc = 2, .argv = {"INCR", key}},
    };
    atomic_store(&stop, false);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&c[i].th, NULL, calls, &c[i]), 0);
    struct enough e = {.c = c, .n = 3};
    assert_true(vt_wait_until(served_after, &e, 30000));
    fail_over(rep, seed); /* the seed demoted: keyless writes must leave it */
    mark(&e);
    bool first = vt_wait_until(served_after, &e, 60000);
    if (first) {
        fail_over(seed, rep); /* the first primary demoted in turn: a node link's READONLY */
        mark(&e);
    }
    bool second = first && vt_wait_until(served_after, &e, 60000);
    atomic_store(&stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(c[i].th, NULL);
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        printf("%s: %d served, %d failed%s%s\n", c[i].name, atomic_load(&c[i].ok),
               atomic_load(&c[i].failed), c[i].why[0] != '\0' ? "; first: " : "", c[i].why);
        failed += atomic_load(&c[i].failed);
    }
    assert_int_equal(failed, 0);
    assert_true(first && second);
    retried_adds_up(m);
    redisReply *r = vt_node_command(seed, false, "GET %s", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(atoll(r->str), atomic_load(&c[2].ok)); /* each INCR ran once */
    freeReplyObject(r);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_across_failovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * SCAN over a whole cluster across a failover (scan.h, docs/cluster.md "Scanning a cluster"),
 * fixture "cluster-scan-kill" (three primaries with a replica each, its own: the test kills a
 * node). The iterator is in the middle of the scan of the primary of slot 0 when that primary is
 * SIGKILLed; once its replica is promoted and the handle's map has no node at the dead one's
 * address any more, the iteration goes on:
 *
 * - no step fails with VMUX_ERR_INVALID_ARG (the node being scanned left the map: no argument of
 *   the caller's was bad), and any failed step says why in the error buffer;
 * - every key that exists at the end (the server may lose the dead primary's last writes) was
 *   returned;
 * - a fresh iteration afterwards returns every key, with no failed step.
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

#include <cmocka.h>

#include "node.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-scan-kill"
#define NKEYS 3000
#define MAX_FAILED_STEPS 20 /* transient failures (not sent, timeouts) tolerated per iteration */

/* The handle and the dead node's port. */
struct after_kill {
    vmux *m;
    int dead;
};

/*
 * Whether the handle's map has no node at the dead port any more. A GET of a key on the dead
 * shard first (its failure or MOVED makes the handle refresh its map).
 */
static bool map_forgot_dead(void *arg)
{
    struct after_kill *a = arg;
    vmux_reply *r = NULL;
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 500);
    const char *get[] = {"GET", "scankill:{slot0}"};
    (void)vmux_call(a->m, &quick, 2, get, NULL, &r);
    vmux_reply_free(r);
    vmux_node_replies res;
    const char *ping[] = {"PING"};
    if (vmux_call_nodes(a->m, &quick, VMUX_NODES_ALL, 1, ping, NULL, &res) != 0)
        return false;
    char dead[32];
    snprintf(dead, sizeof dead, ":%d", a->dead);
    bool gone = true;
    for (size_t i = 0; i < res.count; i++) {
        const char *colon = strrchr(res.nodes[i].address, ':');
        if (colon != NULL && strcmp(colon, dead) == 0)
            gone = false;
    }
    vmux_node_replies_free(&res);
    return gone;
}

/* One step; marks its keys; a failed step is counted, never VMUX_ERR_INVALID_ARG. */
static int step(vmux_scan *it, bool *seen, int *failed)
{
    vmux_bytes_array batch;
    char why[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    int rc = vmux_scan_next(it, &o, &batch);
    if (rc < 0) {
        if (rc == VMUX_ERR_INVALID_ARG || why[0] == '\0')
            fail_msg("vmux_scan_next: %s (%s)", vmux_err_name(rc), why);
        printf("a failed step: %s (%s)\n", vmux_err_name(rc), why);
        if (++*failed > MAX_FAILED_STEPS)
            fail_msg("more than %d failed steps", MAX_FAILED_STEPS);
        return 1; /* a retry goes on */
    }
    for (size_t i = 0; i < batch.count; i++) {
        const vmux_bytes *k = &batch.items[i];
        assert_true(k->len > 9 && strncmp(k->ptr, "scankill:", 9) == 0);
        int n = atoi(k->ptr + 9);
        if (k->ptr[9] != '{') {
            assert_true(n >= 0 && n < NKEYS);
            seen[n] = true;
        }
    }
    vmux_bytes_array_free(&batch);
    return rc;
}

/* Every key that exists now was seen. */
static void assert_existing_seen(vmux *m, const bool *seen)
{
    int present = 0;
    for (int i = 0; i < NKEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "scankill:%d", i);
        const char *argv[] = {"EXISTS", key};
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(m, NULL, 2, argv, NULL, &r), 0);
        bool exists = vmux_reply_integer(r) == 1;
        vmux_reply_free(r);
        if (exists && !seen[i])
            fail_msg("%s exists and was never returned", key);
        present += exists;
    }
    assert_true(present > NKEYS / 2); /* only the dead shard's last writes may be lost */
}

static void test_scan_across_primary_kill(void **state)
{
    (void)state;
    int seed = vt_cluster_port(CLUSTER, 0);
    int victim = vt_slot_primary(seed, false, 0); /* the first node scanned: slot 0's */
    assert_true(victim > 0);
    if (victim == seed)
        seed = vt_cluster_port(CLUSTER, 1); /* the handle's seed stays up */
    int promoted = vt_cluster_replica_of(CLUSTER, victim);
    long pid = vt_node_pid(victim);

    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=5000", seed);
    vmux *m = vt_open_conf(conf);
    assert_int_equal(vmux_flushall_for_tests(m, NULL, VMUX_FLUSH_SYNC), 0);
    for (int i = 0; i < NKEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "scankill:%d", i);
        assert_int_equal(vt_try_set(m, key, "v", 0), 0);
    }

    bool *seen = calloc(NKEYS, sizeof *seen);
    vmux_scan *it;
    vmux_scan_opts so = VMUX_INIT(vmux_scan_opts, .match = "scankill:*", .count = 10);
    assert_int_equal(vmux_scan_begin(m, &so, &it), 0);
    int failed = 0, rc = step(it, seen, &failed); /* pinned to slot 0's primary now */
    assert_int_equal(rc, 1);

    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    assert_true(vt_poll_until(vt_port_is_primary, &promoted, 60000, 50));
    struct after_kill a = {m, victim};
    assert_true(vt_poll_until(map_forgot_dead, &a, 60000, 100));

    while (rc == 1)
        rc = step(it, seen, &failed);
    assert_int_equal(rc, 0);
    vmux_scan_end(it);
    printf("across the kill: %d failed steps\n", failed);
    assert_existing_seen(m, seen);

    /* a fresh iteration: every key, no failed step */
    memset(seen, 0, NKEYS * sizeof *seen);
    assert_int_equal(vmux_scan_begin(m, &so, &it), 0);
    failed = 0;
    while ((rc = step(it, seen, &failed)) == 1)
        ;
    assert_int_equal(rc, 0);
    assert_int_equal(failed, 0);
    vmux_scan_end(it);
    assert_existing_seen(m, seen);
    free(seen);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_across_primary_kill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

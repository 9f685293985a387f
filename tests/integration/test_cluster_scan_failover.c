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
 *
 * Before that, the same primary is restarted in the middle of its scan: SHUTDOWN SAVE and a new
 * process on the same port with the same node id, slots and keys (noderestart.h), fast enough
 * that no failover happens. The new process hashes with a new seed, so the cursor the old one
 * gave means nothing to it; every key (all of them still exist) must still be returned.
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
#include "noderestart.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-scan-kill"
#define NKEYS 3000
#define RESTART_KEYS 20000  /* one node's SCAN takes hundreds of steps of COUNT 10 */
#define MAX_FAILED_STEPS 20 /* transient failures (not sent, timeouts) tolerated per iteration */
/*
 * The restart test's keys are in 64 hash slots, about 300 in each: Valkey 8 keeps a dictionary per
 * slot, and a node's SCAN cursor holds the slot in its low bits, so a new process resumes the same
 * slot and only the position inside that slot's dictionary is lost. With 20000 keys over all
 * 16384 slots (one or two each) a restart would lose almost nothing; a real cluster's slots hold
 * thousands of keys each.
 */
#define RESTART_TAGS 64

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

/* The keys an iteration must return, n in 0 .. nkeys - 1, and whether each came; "<prefix>{..."
 * keys (the test's own markers) are not counted. */
struct keyset {
    const char *prefix;
    int nkeys;
    int tags; /* 0: "<prefix><n>"; else "<prefix><n>{<n % tags>}", tags hash slots in all */
    bool *seen;
    int returned; /* keys returned so far, repeats included */
};

static void keyset_name(const struct keyset *ks, int n, char *buf, size_t len)
{
    if (ks->tags == 0)
        snprintf(buf, len, "%s%d", ks->prefix, n);
    else
        snprintf(buf, len, "%s%d{%d}", ks->prefix, n, n % ks->tags);
}

/* One step; marks its keys; a failed step is counted, never VMUX_ERR_INVALID_ARG. */
static int step(vmux_scan *it, struct keyset *ks, int *failed)
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
    size_t plen = strlen(ks->prefix);
    for (size_t i = 0; i < batch.count; i++) {
        const vmux_bytes *k = &batch.items[i];
        assert_true(k->len > plen && strncmp(k->ptr, ks->prefix, plen) == 0);
        if (k->ptr[plen] != '{') {
            int n = atoi(k->ptr + plen);
            assert_true(n >= 0 && n < ks->nkeys);
            ks->seen[n] = true;
            ks->returned++;
        }
    }
    vmux_bytes_array_free(&batch);
    return rc;
}

/* Every key that exists now was seen; returns how many exist. */
static int assert_existing_seen(vmux *m, const struct keyset *ks)
{
    int present = 0, missed = 0, first_missed = -1;
    for (int i = 0; i < ks->nkeys; i++) {
        char key[64];
        keyset_name(ks, i, key, sizeof key);
        const char *argv[] = {"EXISTS", key};
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(m, NULL, 2, argv, NULL, &r), 0);
        bool exists = vmux_reply_integer(r) == 1;
        vmux_reply_free(r);
        if (exists && !ks->seen[i] && missed++ == 0)
            first_missed = i;
        present += exists;
    }
    if (missed > 0) {
        char key[64];
        keyset_name(ks, first_missed, key, sizeof key);
        fail_msg("%d of the %d keys that exist were never returned (the first: %s)", missed,
                 present, key);
    }
    return present;
}

/* A handle and a key it must be able to GET again. */
struct reach {
    vmux *m;
    const char *key;
};

/* Whether the handle's GET of the key is answered (its connection to the node is back). */
static bool handle_gets(void *arg)
{
    struct reach *a = arg;
    vmux_reply *r = NULL;
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 500);
    const char *get[] = {"GET", a->key};
    int rc = vmux_call(a->m, &quick, 2, get, NULL, &r);
    vmux_reply_free(r);
    return rc == 0;
}

/* Whether the replica at the port arg points to has its link to its primary up. */
static bool replica_linked(void *arg)
{
    char *info = vt_node_admin(*(const int *)arg, false, "INFO replication");
    bool up = info != NULL && strstr(info, "role:slave") != NULL &&
              strstr(info, "master_link_status:up") != NULL;
    free(info);
    return up;
}

/* Writes every key of ks through m. */
static void write_keys(vmux *m, const struct keyset *ks)
{
    for (int i = 0; i < ks->nkeys; i++) {
        char key[64];
        keyset_name(ks, i, key, sizeof key);
        assert_int_equal(vt_try_set(m, key, "v", 0), 0);
    }
}

/* The keys of the node at port (DBSIZE); fails the test without an answer. */
static long long node_keys(int port)
{
    char *text = vt_node_admin(port, false, "DBSIZE");
    assert_non_null(text);
    long long n = atoll(text);
    free(text);
    return n;
}

static void test_scan_across_primary_restart(void **state)
{
    (void)state;
    int seed = vt_cluster_port(CLUSTER, 0);
    int victim = vt_slot_primary(seed, false, 0); /* the first node scanned: slot 0's */
    assert_true(victim > 0);
    if (victim == seed)
        seed = vt_cluster_port(CLUSTER, 1); /* the handle's seed is not the node restarted */
    int replica = vt_cluster_replica_of(CLUSTER, victim);

    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=5000", seed);
    vmux *m = vt_open_conf(conf);
    assert_int_equal(vmux_flushall_for_tests(m, NULL, VMUX_FLUSH_SYNC), 0);
    struct keyset ks = {"scanrestart:", RESTART_KEYS, RESTART_TAGS,
                        calloc(RESTART_KEYS, sizeof(bool)), 0};
    write_keys(m, &ks);
    long long victim_keys = node_keys(victim);

    /*
     * Into the middle of the victim's scan, and of a slot's dictionary there (the node scans its
     * slots in order, each whole before the next): a third of its slots and half a slot returned.
     */
    long long per_slot = RESTART_KEYS / RESTART_TAGS, slots = victim_keys / per_slot;
    long long target = slots / 3 * per_slot + per_slot / 2;
    vmux_scan *it;
    vmux_scan_opts so = VMUX_INIT(vmux_scan_opts, .match = "scanrestart:*", .count = 10);
    assert_int_equal(vmux_scan_begin(m, &so, &it), 0);
    int failed = 0, rc = 1, steps = 0;
    while (rc == 1 && ks.returned < target) {
        rc = step(it, &ks, &failed);
        steps++;
    }
    assert_int_equal(rc, 1);
    int first = 0;
    while (!ks.seen[first])
        first++;
    char key[64];
    keyset_name(&ks, first, key, sizeof key); /* a key of the victim's */

    long pid = vt_node_pid(victim);
    uint64_t t0 = vt_now_ms();
    assert_int_equal(vt_node_restart(victim), 0);
    printf("127.0.0.1:%d (%lld keys) restarted after %d steps, %d keys returned, in %llu ms\n",
           victim, victim_keys, steps, ks.returned, (unsigned long long)(vt_now_ms() - t0));
    assert_true(vt_node_pid(victim) != pid);
    if (!vt_node_is_primary(victim) || vt_node_is_primary(replica))
        fail_msg("127.0.0.1:%d failed over to 127.0.0.1:%d during its restart: the test's "
                 "premise (the same primary comes back) broke",
                 victim, replica);
    struct reach a = {m, key};
    assert_true(vt_poll_until(handle_gets, &a, 30000, 50));
    /* whatever this test's outcome, the next one fails this primary over: its replica must be
     * back in sync first */
    assert_true(vt_poll_until(replica_linked, &replica, 30000, 50));

    while (rc == 1)
        rc = step(it, &ks, &failed);
    assert_int_equal(rc, 0);
    vmux_scan_end(it);
    printf("across the restart: %d failed steps\n", failed);
    assert_int_equal(assert_existing_seen(m, &ks), RESTART_KEYS); /* SHUTDOWN SAVE lost none */
    free(ks.seen);
    vmux_close(m);
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

    struct keyset ks = {"scankill:", NKEYS, 0, calloc(NKEYS, sizeof(bool)), 0};
    vmux_scan *it;
    vmux_scan_opts so = VMUX_INIT(vmux_scan_opts, .match = "scankill:*", .count = 10);
    assert_int_equal(vmux_scan_begin(m, &so, &it), 0);
    int failed = 0, rc = step(it, &ks, &failed); /* pinned to slot 0's primary now */
    assert_int_equal(rc, 1);

    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    assert_true(vt_poll_until(vt_port_is_primary, &promoted, 60000, 50));
    struct after_kill a = {m, victim};
    assert_true(vt_poll_until(map_forgot_dead, &a, 60000, 100));

    while (rc == 1)
        rc = step(it, &ks, &failed);
    assert_int_equal(rc, 0);
    vmux_scan_end(it);
    printf("across the kill: %d failed steps\n", failed);
    /* only the dead shard's last writes may be lost */
    assert_true(assert_existing_seen(m, &ks) > NKEYS / 2);

    /* a fresh iteration: every key, no failed step */
    memset(ks.seen, 0, NKEYS * sizeof *ks.seen);
    assert_int_equal(vmux_scan_begin(m, &so, &it), 0);
    failed = 0;
    while ((rc = step(it, &ks, &failed)) == 1)
        ;
    assert_int_equal(rc, 0);
    assert_int_equal(failed, 0);
    vmux_scan_end(it);
    assert_true(assert_existing_seen(m, &ks) > NKEYS / 2);
    free(ks.seen);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_across_primary_restart),
        cmocka_unit_test(test_scan_across_primary_kill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

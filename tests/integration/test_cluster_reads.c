/*
 * readFrom on a real cluster (fixture "cluster-reads": three primaries with a replica each, its
 * own, since the last test kills a replica and the others set zones and reset statistics).
 * Where each read went is counted by the servers themselves (INFO commandstats after CONFIG
 * RESETSTAT on every node):
 *
 * - readFrom=primary (the default): every GET on the primaries; VMUX_CALL_REPLICA sends one to
 *   a replica all the same;
 * - readFrom=preferReplica: every GET on the replicas, every SET on the primaries, no write
 *   refused by a replica (no READONLY error on any), MGET split over the replicas too, and
 *   vmux_sort()'s SORT_RO;
 *   VMUX_CALL_PRIMARY sends a GET to the primary;
 * - readFrom=azAffinityReplicasAndPrimary with zones set per node (CONFIG SET
 *   availability-zone): a shard whose replica is in the client's zone reads from it, one whose
 *   primary only is reads from the primary, one with neither reads from its replica;
 *   azAffinity reads from the replicas whatever their zone (each shard has one);
 * - replicaMaxLag: a replica that stops applying its primary's stream (CLIENT PAUSE WRITE on it;
 *   its link stays up) gets no reads once 2 s behind, its shard's go to the primary, and it gets
 *   them again once it has caught up;
 * - a primary demoted by a planned failover (CLUSTER FAILOVER on its replica) serves no more
 *   reads of a handle that only reads: its link is not READONLY, so it redirects them to the
 *   promoted replica at once; the same when the roles are given back;
 * - a replica as the seed: PUBLISH runs where the handle's channel subscriptions are (the
 *   seed's node), so its count of receivers includes them, whether sent by vmux_publish() or
 *   as bytes by vmux_command();
 * - a replica SIGKILLed under 4 reading threads: no read fails, and the reads of its shard go
 *   on (to its primary).
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
#include <signal.h>
#include <sys/types.h>
#include <uv.h>

#include <cmocka.h>

#include "readers.h"
#include "readkeys.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-reads"
#define NKEYS 120
#define MAXNODES 8

struct node {
    int port;
    bool primary;
    int primary_port; /* a replica's primary */
};

static struct node nodes[MAXNODES];
static int nnodes;

/* Every node as it is now: role, and a replica's primary. */
static void load_nodes(void)
{
    nnodes = vt_cluster_size(CLUSTER);
    assert_true(nnodes <= MAXNODES);
    for (int i = 0; i < nnodes; i++) {
        int port = vt_cluster_port(CLUSTER, i);
        char *role = vt_node_admin(port, false, "ROLE");
        assert_non_null(role);
        nodes[i] = (struct node){port, strncmp(role, "master", 6) == 0, 0};
        free(role);
        if (!nodes[i].primary)
            nodes[i].primary_port = (int)vt_node_info(port, "replication", "master_port:");
    }
}

static void reset_stats(void)
{
    for (int i = 0; i < nnodes; i++)
        free(vt_node_admin(nodes[i].port, false, "CONFIG RESETSTAT"));
}

/* GET calls on the primaries (*p) and on the replicas (*r). */
static void get_calls(const char *command, long *p, long *r)
{
    *p = *r = 0;
    for (int i = 0; i < nnodes; i++)
        *(nodes[i].primary ? p : r) += vt_node_calls(nodes[i].port, command);
}

static void set_zone(int port, const char *zone)
{
    free(vt_node_admin(port, false, "CONFIG SET availability-zone %s", zone));
}

static vmux *open_reads(const char *extra)
{
    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,%s", vt_cluster_port(CLUSTER, 0), extra);
    return vt_open_conf(conf);
}

static void key_of(int i, char *buf, size_t len)
{
    snprintf(buf, len, "rk:%d", i);
}

static void write_keys(vmux *m)
{
    vt_keys_write(m, "rk:", NKEYS);
}

/* Reads every key until each answer is its value (replication catches up, replica links come
 * up), within 20 s; then the counts start from zero. */
static void settle(vmux *m, const vmux_callopts *o)
{
    uint64_t until = uv_hrtime() + 20000000000ull;
    bool all = false;
    while (!all && uv_hrtime() < until) {
        all = true;
        for (int i = 0; i < NKEYS; i++) {
            char k[32], want[32];
            key_of(i, k, sizeof k);
            snprintf(want, sizeof want, "v%d", i);
            vmux_bytes v = {0};
            int rc = vmux_get(m, o, VMUX_STR(k), &v);
            all = all && rc == 0 && v.len == strlen(want) && memcmp(v.ptr, want, v.len) == 0;
            vmux_bytes_free(&v);
        }
        long p, r;
        get_calls("get", &p, &r);
        if (o == NULL && r == 0)
            all = false; /* preferReplica: not before the replicas serve */
    }
    assert_true(all);
    reset_stats();
}

static void read_all(vmux *m, const vmux_callopts *o, int rounds)
{
    vt_keys_read(m, o, "rk:", NKEYS, rounds);
}

static void test_primary_default(void **state)
{
    (void)state;
    load_nodes();
    vmux *m = open_reads("name=reads-primary");
    write_keys(m);
    vmux_callopts to_primary = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_PRIMARY);
    settle(m, &to_primary);
    read_all(m, NULL, 2);
    long p, r;
    get_calls("get", &p, &r);
    assert_int_equal(p, 2 * NKEYS);
    assert_int_equal(r, 0);
    /* one call asks for a replica: its node link sent READONLY, so the replica serves it */
    vmux_callopts to_replica = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_REPLICA);
    uint64_t until = uv_hrtime() + 10000000000ull;
    while (r == 0 && uv_hrtime() < until) {
        read_all(m, &to_replica, 1);
        get_calls("get", &p, &r);
    }
    assert_true(r > 0);
    /* VMUX_CALL_PREFER_REPLICA too, once the replicas' links are up: every read on a replica */
    vmux_callopts prefer = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_PREFER_REPLICA);
    long p0 = p, r0 = r;
    for (; uv_hrtime() < until; p0 = p, r0 = r) {
        read_all(m, &prefer, 1);
        get_calls("get", &p, &r);
        if (p == p0 && r == r0 + NKEYS)
            break;
    }
    assert_int_equal(p, p0);
    assert_int_equal(r, r0 + NKEYS);
    vmux_callopts both = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_PRIMARY | VMUX_CALL_REPLICA);
    vmux_bytes v = {0};
    assert_int_equal(vmux_get(m, &both, VMUX_STR("rk:0"), &v), VMUX_ERR_INVALID_ARG);
    both.flags = VMUX_CALL_REPLICA | VMUX_CALL_PREFER_REPLICA;
    assert_int_equal(vmux_get(m, &both, VMUX_STR("rk:0"), &v), VMUX_ERR_INVALID_ARG);
    vmux_close(m);
}

/*
 * readFrom=primary with a replica as the seed: the seed link serves that node, so it too must
 * have sent READONLY, or a VMUX_CALL_REPLICA read sent there comes back MOVED and is served by
 * the primary instead.
 */
static void test_replica_seed_call_replica(void **state)
{
    (void)state;
    load_nodes();
    int seed = -1;
    for (int i = 0; i < nnodes && seed < 0; i++)
        if (!nodes[i].primary)
            seed = i;
    assert_true(seed >= 0);
    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,name=reads-replica-seed",
             nodes[seed].port);
    vmux *m = vt_open_conf(conf);
    write_keys(m);
    vmux_callopts to_primary = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_PRIMARY);
    settle(m, &to_primary);
    vmux_stats before = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &before), 0);
    vmux_callopts to_replica = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_REPLICA);
    read_all(m, &to_replica, 1);
    assert_true(vt_node_calls(nodes[seed].port, "get") > 0); /* the seed's own shard's keys */
    long p, r;
    get_calls("get", &p, &r);
    assert_int_equal(p, 0);
    assert_int_equal(r, NKEYS);
    vmux_stats after = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &after), 0);
    assert_int_equal(after.cluster_moved, before.cluster_moved);
    vmux_close(m);
}

/* vmux_sort() sends SORT_RO, a read: under preferReplica a replica serves it, once it has the
 * list (replication catches up within 20 s). */
static void sort_on_replica(vmux *m)
{
    vmux_reply *r = NULL;
    const char *push[] = {"RPUSH", "rk:sort", "3", "1", "2"};
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"DEL", "rk:sort"}, NULL, &r), 0);
    vmux_reply_free(r);
    assert_int_equal(vmux_call(m, NULL, 5, push, NULL, &r), 0);
    vmux_reply_free(r);
    reset_stats();
    uint64_t until = uv_hrtime() + 20000000000ull;
    vmux_bytes_array items = {0};
    while (items.count < 3 && uv_hrtime() < until) {
        vmux_bytes_array_free(&items);
        assert_int_equal(vmux_sort(m, NULL, VMUX_STR("rk:sort"), NULL, &items), 0);
    }
    assert_int_equal(items.count, 3);
    assert_string_equal(items.items[0].ptr, "1");
    vmux_bytes_array_free(&items);
    long p, rs;
    get_calls("sort_ro", &p, &rs);
    assert_int_equal(p, 0);
    assert_true(rs > 0);
}

static void test_prefer_replica(void **state)
{
    (void)state;
    load_nodes();
    vmux *m = open_reads("readFrom=preferReplica");
    write_keys(m);
    settle(m, NULL);
    read_all(m, NULL, 3);
    write_keys(m);
    long p, r;
    get_calls("get", &p, &r);
    assert_int_equal(p, 0);
    assert_int_equal(r, 3 * NKEYS);
    long sp = 0;
    for (int i = 0; i < nnodes; i++) {
        if (nodes[i].primary)
            sp += vt_node_calls(nodes[i].port, "set");
        assert_true(vt_node_info(nodes[i].port, "errorstats", "errorstat_READONLY:count=") < 0);
    }
    assert_int_equal(sp, NKEYS);
    /* MGET, split by slot over the shards: every part a read, every part on a replica */
    reset_stats();
    vmux_bytes_array vals;
    vt_keys_mget(m, "rk:", NKEYS, &vals);
    for (int i = 0; i < NKEYS; i++)
        assert_non_null(vals.items[i].ptr);
    vmux_bytes_array_free(&vals);
    get_calls("mget", &p, &r);
    assert_int_equal(p, 0);
    assert_true(r > 0);
    sort_on_replica(m);
    /* read your own writes: VMUX_CALL_PRIMARY */
    reset_stats();
    vmux_callopts to_primary = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_PRIMARY);
    read_all(m, &to_primary, 1);
    get_calls("get", &p, &r);
    assert_int_equal(p, NKEYS);
    assert_int_equal(r, 0);
    vmux_close(m);
}

/* The shard (index into nodes of its primary) of the replica at nodes[i]. */
static int primary_of(int i)
{
    for (int j = 0; j < nnodes; j++)
        if (nodes[j].primary && nodes[j].port == nodes[i].primary_port)
            return j;
    fail_msg("no primary for replica %d", nodes[i].port);
    return -1;
}

static void test_az_affinity(void **state)
{
    (void)state;
    load_nodes();
    /* Shards A, B, C by their replicas: A's replica in the client's zone; B's primary in it
     * (its replica not); C neither. */
    int reps[3], nr = 0;
    for (int i = 0; i < nnodes && nr < 3; i++)
        if (!nodes[i].primary)
            reps[nr++] = i;
    assert_int_equal(nr, 3);
    int a_rep = reps[0], b_rep = reps[1], c_rep = reps[2];
    int a_pri = primary_of(a_rep), b_pri = primary_of(b_rep), c_pri = primary_of(c_rep);
    for (int i = 0; i < nnodes; i++)
        set_zone(nodes[i].port, "zone-far");
    set_zone(nodes[a_rep].port, "zone-near");
    set_zone(nodes[b_pri].port, "zone-near");

    vmux *m = open_reads("readFrom=azAffinityReplicasAndPrimary,clientAz=zone-near");
    write_keys(m);
    /* settled once the in-zone replica serves (its link up and its zone known) */
    vmux_callopts to_primary = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_PRIMARY);
    settle(m, &to_primary);
    uint64_t until = uv_hrtime() + 20000000000ull;
    while (vt_node_calls(nodes[a_rep].port, "get") == 0 ||
           vt_node_calls(nodes[c_rep].port, "get") == 0) {
        assert_true(uv_hrtime() < until);
        read_all(m, NULL, 1);
    }
    reset_stats();
    read_all(m, NULL, 2);
    assert_true(vt_node_calls(nodes[a_rep].port, "get") > 0);
    assert_int_equal(vt_node_calls(nodes[a_pri].port, "get"), 0);
    assert_true(vt_node_calls(nodes[b_pri].port, "get") > 0); /* its primary is in the zone */
    assert_int_equal(vt_node_calls(nodes[b_rep].port, "get"), 0);
    assert_true(vt_node_calls(nodes[c_rep].port, "get") > 0); /* none is: a replica still */
    assert_int_equal(vt_node_calls(nodes[c_pri].port, "get"), 0);
    long p, r;
    get_calls("get", &p, &r);
    assert_int_equal(p + r, 2 * NKEYS);
    vmux_close(m);

    /* azAffinity: replicas only, the in-zone one first; each shard has one, so all serve */
    m = open_reads("readFrom=azAffinity,clientAz=zone-near");
    settle(m, &to_primary);
    until = uv_hrtime() + 20000000000ull;
    do {
        assert_true(uv_hrtime() < until);
        read_all(m, NULL, 1);
        get_calls("get", &p, &r);
    } while (vt_node_calls(nodes[a_rep].port, "get") == 0 ||
             vt_node_calls(nodes[b_rep].port, "get") == 0 ||
             vt_node_calls(nodes[c_rep].port, "get") == 0);
    reset_stats();
    read_all(m, NULL, 1);
    get_calls("get", &p, &r);
    assert_int_equal(p, 0);
    assert_int_equal(r, NKEYS);
    vmux_close(m);
    for (int i = 0; i < nnodes; i++)
        set_zone(nodes[i].port, "\"\"");
}

static bool link_up(int port)
{
    char *text = vt_node_admin(port, false, "INFO replication");
    bool up = text != NULL && strstr(text, "master_link_status:up") != NULL;
    free(text);
    return up;
}

/*
 * replicaMaxLag on a cluster: one replica stops applying its primary's stream (CLIENT PAUSE
 * WRITE on it holds the primary's commands back; its link stays up, and it still answers reads
 * and INFO) while the handle writes on. Once it is more than 2 s behind, its shard's reads go to
 * the shard's primary (preferReplica; one replica per shard) and the other shards' stay on their
 * replicas; after CLIENT UNPAUSE it catches up and serves again. No read fails.
 */
static void test_replica_behind_skipped(void **state)
{
    (void)state;
    load_nodes();
    vmux *m = open_reads("readFrom=preferReplica,replicaMaxLag=2000");
    write_keys(m);
    settle(m, NULL);
    int lag = -1;
    for (int i = 0; i < nnodes && lag < 0; i++)
        if (!nodes[i].primary)
            lag = i;
    int lpri = primary_of(lag);
    free(vt_node_admin(nodes[lag].port, false, "CLIENT PAUSE 120000 WRITE"));
    uint64_t until = uv_hrtime() + 30000000000ull;
    for (bool skipped = false; !skipped;) {
        assert_true(uv_hrtime() < until);
        write_keys(m); /* the primaries' offsets move on */
        reset_stats();
        read_all(m, NULL, 1);
        skipped = vt_node_calls(nodes[lag].port, "get") == 0;
    }
    assert_true(link_up(nodes[lag].port)); /* skipped for its offset, not a broken link */
    reset_stats();
    read_all(m, NULL, 1);
    assert_int_equal(vt_node_calls(nodes[lag].port, "get"), 0);
    assert_true(vt_node_calls(nodes[lpri].port, "get") > 0); /* its shard's primary serves */
    for (int i = 0; i < nnodes; i++)
        if (nodes[i].primary && i != lpri)
            assert_int_equal(vt_node_calls(nodes[i].port, "get"), 0); /* the others' replicas do */
    free(vt_node_admin(nodes[lag].port, false, "CLIENT UNPAUSE"));
    while (vt_node_calls(nodes[lag].port, "get") == 0) { /* caught up: back in turn */
        assert_true(uv_hrtime() < until + 30000000000ull);
        read_all(m, NULL, 1);
    }
    vmux_close(m);
}

/* ---- a demoted primary redirects reads ---- */

/* The index of a key of NKEYS whose slot the primary at port serves. */
static int key_on(int port)
{
    for (int i = 0; i < NKEYS; i++) {
        char k[32];
        key_of(i, k, sizeof k);
        char *slot = vt_node_admin(port, false, "CLUSTER KEYSLOT %s", k);
        assert_non_null(slot);
        int owner = vt_slot_primary(port, false, atoi(slot));
        free(slot);
        if (owner == port)
            return i;
    }
    fail_msg("no key of rk:0..%d on 127.0.0.1:%d", NKEYS - 1, port);
    return -1;
}

struct roles {
    int primary, replica;
};

/* Whether the CLUSTER NODES of the node at port lists 127.0.0.1:of with flag. */
static bool lists_as(int port, int of, const char *flag)
{
    char *text = vt_node_admin(port, false, "CLUSTER NODES"), addr[32];
    snprintf(addr, sizeof addr, " 127.0.0.1:%d@", of);
    const char *line = text != NULL ? strstr(text, addr) : NULL;
    const char *end = line != NULL ? strchr(line, '\n') : NULL;
    const char *at = line != NULL ? strstr(line, flag) : NULL;
    bool yes = at != NULL && (end == NULL || at < end);
    free(text);
    return yes;
}

/*
 * Whether roles->primary is a primary and roles->replica a replica with its link up, as they say
 * themselves and as every node of the cluster lists them (a handle opened next loads its map
 * from any of them).
 */
static bool roles_are(void *arg)
{
    const struct roles *w = arg;
    char *r = vt_node_admin(w->replica, false, "INFO replication");
    bool ok =
        r != NULL && strstr(r, "role:slave") != NULL && strstr(r, "master_link_status:up") != NULL;
    free(r);
    for (int i = 0; ok && i < nnodes; i++)
        ok = lists_as(nodes[i].port, w->primary, "master") &&
             lists_as(nodes[i].port, w->replica, "slave");
    return ok;
}

/*
 * CLUSTER FAILOVER on the replica at to: it takes over from from. A node demoted a moment ago
 * may not know its new place in the cluster yet, and its manual failover then times out (5 s):
 * asked again, up to 4 times, 10 s each.
 */
static void fail_over(int to, int from)
{
    struct roles w = {to, from};
    for (int attempt = 0; attempt < 4; attempt++) {
        free(vt_node_admin(to, false, "CLUSTER FAILOVER"));
        if (vt_poll_until(roles_are, &w, 10000, 20))
            return;
    }
    fail_msg("127.0.0.1:%d did not take over from 127.0.0.1:%d", to, from);
}

/* Reads key n times through m (readFrom=primary): every read gives v<i>. */
static void read_key(vmux *m, int i, int n)
{
    char k[32], want[32];
    key_of(i, k, sizeof k);
    snprintf(want, sizeof want, "v%d", i);
    for (int j = 0; j < n; j++) {
        vmux_bytes v = {0};
        assert_int_equal(vmux_get(m, NULL, VMUX_STR(k), &v), 0);
        assert_true(v.len == strlen(want) && memcmp(v.ptr, want, v.len) == 0);
        vmux_bytes_free(&v);
    }
}

/*
 * A primary demoted by a planned failover redirects reads: the map named it a primary, so its
 * link went without READONLY, and a handle that only reads (readFrom=primary) follows the
 * promoted replica at its next read, instead of reading the demoted node's copy until the
 * periodic map check (30 s) or a write's MOVED. The same when the roles are given back.
 */
static void test_demoted_primary_redirects_reads(void **state)
{
    (void)state;
    load_nodes();
    int ri = 0;
    while (ri < nnodes && nodes[ri].primary)
        ri++;
    assert_true(ri < nnodes);
    int rp = nodes[ri].port, p = nodes[primary_of(ri)].port;
    vmux *m = open_reads("name=reads-demoted");
    write_keys(m);
    vmux_callopts to_primary = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_PRIMARY);
    settle(m, &to_primary);
    int k = key_on(p);
    read_key(m, k, 1); /* the handle reads it from p */

    fail_over(rp, p);
    reset_stats();
    read_key(m, k, 50);
    assert_int_equal(vt_node_calls(p, "get"), 0); /* the demoted primary served none */
    assert_int_equal(vt_node_calls(rp, "get"), 50);

    fail_over(p, rp); /* the fixture's roles back, for the next test */
    reset_stats();
    read_key(m, k, 50);
    assert_int_equal(vt_node_calls(rp, "get"), 0);
    assert_int_equal(vt_node_calls(p, "get"), 50);
    vmux_close(m);
}

/* A keyless write (FUNCTION FLUSH: no key, not fanned out) through m; its status. */
static int keyless_write(vmux *m)
{
    static const char *const argv[] = {"FUNCTION", "FLUSH"};
    vmux_reply *r = NULL;
    int rc = vmux_call(m, NULL, 2, argv, NULL, &r);
    vmux_reply_free(r);
    return rc;
}

struct demoted {
    vmux *m;
    int key; /* a key of the demoted seed's slots: reading it brings MOVED, so a refresh */
};

static bool keyless_to_primary(void *arg)
{
    struct demoted *d = arg;
    read_key(d->m, d->key, 1);
    return keyless_write(d->m) == 0;
}

/*
 * Keyless commands go to the seed while the map does not name it a replica: once a failover
 * demotes the seed's node, a keyless write goes to a primary instead of coming back READONLY.
 */
static void test_keyless_after_seed_demoted(void **state)
{
    (void)state;
    load_nodes();
    int seed = 0, ri = 0;
    assert_true(nodes[seed].primary);
    while (ri < nnodes && (nodes[ri].primary || primary_of(ri) != seed))
        ri++;
    assert_true(ri < nnodes);
    int rp = nodes[ri].port, p = nodes[seed].port;
    vmux *m = open_reads("name=keyless-demoted");
    write_keys(m);
    assert_int_equal(keyless_write(m), 0); /* on the seed, a primary */
    struct demoted d = {m, key_on(p)};

    fail_over(rp, p);
    assert_true(vt_wait_until(keyless_to_primary, &d, 30000)); /* the map says so now */
    static const char *const ping[] = {"PING"};
    for (int i = 0; i < 3; i++) {
        vmux_reply *r = NULL; /* answered: the seed link is connected (a READONLY retired it) */
        assert_int_equal(vmux_call_node(m, NULL, "127.0.0.1", p, 1, ping, NULL, &r), 0);
        vmux_reply_free(r);
        /* not READONLY from the demoted seed (the seed's cmdstat cannot tell where it ran:
         * replication runs the primary's FUNCTION FLUSH there too) */
        assert_int_equal(keyless_write(m), 0);
    }

    fail_over(p, rp); /* the fixture's roles back, for the next test */
    vmux_close(m);
}

static atomic_int published_seen; /* "hello" messages received */

/*
 * Counts the "hello" messages only. "nobody yet", which a primary ran and answered before the
 * handle subscribed, reaches the seed's node over the cluster bus, which may bring it there
 * after the subscription: the node then delivers it too (now and then; more often under load),
 * and a count of every message was 6 of 5.
 */
static void on_published(const vmux_message *msg, void *userdata)
{
    (void)userdata;
    if (msg->payload.len == 5 && memcmp(msg->payload.ptr, "hello", 5) == 0)
        atomic_fetch_add(&published_seen, 1);
}

static bool all_published_seen(void *arg)
{
    return atomic_load(&published_seen) == *(int *)arg;
}

/*
 * A handle whose seed is a replica carries its channel subscriptions there, and PUBLISH goes
 * there too: the server counts only the subscribers of the node that ran it, so a PUBLISH on a
 * primary said 0 receivers while the handle's own subscription got the message.
 */
static void test_publish_beside_subscriptions(void **state)
{
    (void)state;
    load_nodes();
    int seed = 0;
    while (seed < nnodes && nodes[seed].primary)
        seed++;
    assert_true(seed < nnodes);
    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,name=publish-replica-seed",
             nodes[seed].port);
    vmux *m = vt_open_conf(conf);
    int64_t n = -1;
    assert_int_equal(
        vmux_publish(m, NULL, VMUX_SUB_CHANNEL, VMUX_STR("pub-beside"), VMUX_STR("nobody yet"), &n),
        0);
    assert_int_equal(n, 0);
    vmux_sub *sub = NULL;
    atomic_store(&published_seen, 0);
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR("pub-beside"), on_published, NULL, &sub), 0);
    assert_int_equal(vmux_sub_wait_live(sub, 10000), 0);
    reset_stats();
    int want = 5;
    for (int i = 0; i < want; i++) {
        n = -1;
        assert_int_equal(
            vmux_publish(m, NULL, VMUX_SUB_CHANNEL, VMUX_STR("pub-beside"), VMUX_STR("hello"), &n),
            0);
        assert_int_equal(n, 1); /* this handle's subscription, on the seed's node */
    }
    /* the same through the bytes path, which reads PUBLISH from the command's RESP bytes */
    for (int i = 0; i < 3; i++, want++) {
        vmux_reply *r = NULL;
        assert_int_equal(vmux_command(m, &r, "PUBLISH %s %s", "pub-beside", "hello"), 0);
        assert_int_equal(vmux_reply_integer(r), 1);
        vmux_reply_free(r);
    }
    assert_int_equal(vt_node_calls(nodes[seed].port, "publish"), want);
    if (!vt_wait_until(all_published_seen, &want, 10000)) {
        vmux_stats st = VMUX_INIT(vmux_stats);
        vmux_read_stats(m, &st);
        fail_msg("%d of %d \"hello\" messages seen (pubsub_dropped %llu, subscriber_lost %llu)",
                 atomic_load(&published_seen), want, (unsigned long long)st.pubsub_dropped,
                 (unsigned long long)st.subscriber_lost);
    }
    assert_int_equal(vmux_unsubscribe(m, sub), 0);
    vmux_close(m);
}

/* Last on the fixture: it leaves a dead replica. */
static void test_replica_killed(void **state)
{
    (void)state;
    load_nodes();
    vmux *m = open_reads("readFrom=preferReplica,syncTimeout=5000");
    write_keys(m);
    settle(m, NULL);
    int victim = -1;
    for (int i = 0; i < nnodes && victim < 0; i++)
        if (!nodes[i].primary)
            victim = i;
    long pid = vt_node_info(nodes[victim].port, "server", "process_id:");
    int vpri = primary_of(victim);
    assert_true(pid > 0);

    vt_readers *rd = vt_readers_start(m, "rk:", NKEYS, 4);
    uint64_t until = uv_hrtime() + 20000000000ull;
    while (vt_node_calls(nodes[victim].port, "get") < 200)
        assert_true(uv_hrtime() < until); /* the victim serves its share */
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    /* its shard's reads go on, on its primary, and the others' too, a while longer */
    long before = vt_node_calls(nodes[vpri].port, "get"), done = vt_readers_done(rd);
    while (vt_node_calls(nodes[vpri].port, "get") < before + 200 ||
           vt_readers_done(rd) < done + 1000)
        assert_true(uv_hrtime() < until);
    vt_readers_stop(rd); /* fails the test if any read failed */
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primary_default),
        cmocka_unit_test(test_replica_seed_call_replica),
        cmocka_unit_test(test_prefer_replica),
        cmocka_unit_test(test_az_affinity),
        cmocka_unit_test(test_replica_behind_skipped),
        cmocka_unit_test(test_demoted_primary_redirects_reads),
        cmocka_unit_test(test_keyless_after_seed_demoted),
        cmocka_unit_test(test_publish_beside_subscriptions),
        cmocka_unit_test(test_replica_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

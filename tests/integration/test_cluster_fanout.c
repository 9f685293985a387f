/*
 * Fan-out and per-node commands (cluster.h, and the typed commands that fan out) against a real
 * cluster (fixture "cluster-fanout": three primaries with a replica each, its own, since these
 * tests flush it and pause a node) and a standalone server ("plain"):
 *
 * - vmux_call_nodes(): "INFO server" on the primaries gives three entries with distinct ports,
 *   each the node it names; the replicas three, all six; the async form the same; fan-outs in
 *   flight when the handle closes each complete exactly once; a replica answers a read of its
 *   shard's key (its link is in READONLY mode), the other replicas MOVED;
 * - vmux_call_node(): CLUSTER MYID of each node equals what a direct connection reads; a node
 *   outside the map is refused, errbuf naming its address;
 * - before detection is over (the seed behind a proxy that relays nothing yet), both wait for it
 *   as commands do: VMUX_ERR_TIMEOUT at a short deadline, and a fan-out made then is served once
 *   the proxy relays;
 * - DBSIZE is the sum over the primaries, KEYS their union, FLUSHALL empties every primary
 *   (checked on each over a direct connection); RANDOMKEY is nil on an empty cluster, and its
 *   one key each time once a primary but the seed's holds it (the generic API's, on the seed,
 *   answers nil);
 * - SCRIPT LOAD reaches every primary: EVALSHA on keys in every shard runs without NOSCRIPT;
 *   SCRIPT EXISTS and SCRIPT FLUSH agree;
 * - after a planned failover (CLUSTER FAILOVER on a replica), the handle idle, the typed fan-outs
 *   either fail naming the demoted node or reach the new primary: SCRIPT LOAD loads there, DBSIZE
 *   counts every key once, FLUSHALL empties it; the first typed fan-out after such a failover
 *   runs again on the refreshed map and succeeds: DBSIZE counts 3000 keys once, SCRIPT LOAD
 *   loads on the new primary;
 * - a paused primary gives its own entry VMUX_ERR_TIMEOUT, the others answer, and the typed PING
 *   and vmux_call_node() say it was written and not answered; so does a replica killed with
 *   SIGKILL (last: the fixture keeps a dead replica), and vmux_call_node() to it and an MGET split
 *   over replicas say "never sent; last connection failure: <its address>: ...";
 * - standalone: one node, a primary, no replica; the typed commands as one command.
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
#include <uv.h>
#include <signal.h>
#include <sys/types.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "faultproxy.h"
#include "node.h"
#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-fanout"

static vmux *open_seed(void)
{
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d", vt_cluster_port(CLUSTER, 0));
    return vt_open_conf(conf);
}

static int port_of(const char *address)
{
    const char *colon = strrchr(address, ':');
    assert_non_null(colon);
    return atoi(colon + 1);
}

/* Checks a fan-out of INFO server: n entries of role, each answered by the node it names. */
static void check_info(const vmux_node_replies *res, size_t n, int role)
{
    assert_int_equal(res->count, n);
    for (size_t i = 0; i < n; i++) {
        const vmux_node_reply *e = &res->nodes[i];
        assert_int_equal(e->status, 0);
        if (role != 0)
            assert_int_equal(e->role, role);
        assert_int_equal(vt_info_field(vmux_reply_str(e->reply, NULL), "tcp_port"),
                         port_of(e->address));
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(port_of(res->nodes[j].address), port_of(e->address));
    }
}

/* vmux_call_nodes() refuses f with rc, its buffer starting with words. */
static void refused_saying(vmux *m, vmux_node_set set, int argc, const char *const *argv,
                           const size_t *argvlen, int rc, const char *words)
{
    char why[300] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    vmux_node_replies res;
    assert_int_equal(vmux_call_nodes(m, &o, set, argc, argv, argvlen, &res), rc);
    assert_int_equal(res.count, 0);
    if (strncmp(why, words, strlen(words)) != 0)
        fail_msg("vmux_call_nodes() says '%s', not '%s'", why, words);
}

/*
 * A refused set, argument vector or command is named in the buffer as vmux_call() names it: the
 * buffer said only "invalid argument" or "unsupported..." (review helper-235 F4).
 */
static void call_nodes_says(vmux *m)
{
    const char *ping[] = {"PING"}, *sub[] = {"SUBSCRIBE", "x"}, *blpop[] = {"BLPOP", "k", "0"};
    const char *hole[] = {"GET", NULL};
    const size_t hole_len[] = {3, 2};
    const int bad = VMUX_ERR_INVALID_ARG;
    refused_saying(m, (vmux_node_set)0, 1, ping, NULL, bad,
                   "invalid argument: nodes is 0, none of VMUX_NODES_PRIMARIES, "
                   "VMUX_NODES_REPLICAS and VMUX_NODES_ALL");
    refused_saying(m, VMUX_NODES_ALL, 0, ping, NULL, bad,
                   "invalid argument: argc is 0 (a command has at least its name)");
    refused_saying(m, VMUX_NODES_ALL, 1, NULL, NULL, bad, "invalid argument: argv is NULL");
    refused_saying(m, VMUX_NODES_ALL, 2, hole, hole_len, bad,
                   "invalid argument: argv[1] is NULL with a length");
    char said[300] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = said, .errlen = sizeof said);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, &o, 2, sub, NULL, &r), VMUX_ERR_UNSUPPORTED);
    refused_saying(m, VMUX_NODES_ALL, 2, sub, NULL, VMUX_ERR_UNSUPPORTED, said); /* vmux_call()'s */
    assert_non_null(strstr(said, "SUBSCRIBE"));
    char blocks[300];
    snprintf(blocks, sizeof blocks,
             "%s: BLPOP blocks on the server: a command sent to several nodes runs on their "
             "shared connections",
             vmux_strerror(VMUX_ERR_UNSUPPORTED));
    refused_saying(m, VMUX_NODES_ALL, 3, blpop, NULL, VMUX_ERR_UNSUPPORTED, blocks);
}

static void test_call_nodes_sets(void **state)
{
    (void)state;
    vmux *m = open_seed();
    const char *argv[] = {"INFO", "server"};
    vmux_node_replies res;
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_PRIMARIES, 2, argv, NULL, &res), 0);
    check_info(&res, 3, VMUX_ROLE_PRIMARY);
    vmux_node_replies_free(&res);
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_REPLICAS, 2, argv, NULL, &res), 0);
    check_info(&res, 3, VMUX_ROLE_REPLICA);
    vmux_node_replies_free(&res);
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_ALL, 2, argv, NULL, &res), 0);
    check_info(&res, 6, 0);
    vmux_node_replies_free(&res);
    /* a replica says it is one */
    const char *role[] = {"ROLE"};
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_REPLICAS, 1, role, NULL, &res), 0);
    for (size_t i = 0; i < res.count; i++)
        assert_string_equal(vmux_reply_str(vmux_reply_element(res.nodes[i].reply, 0), NULL),
                            "slave");
    vmux_node_replies_free(&res);
    /* refused before anything is sent */
    assert_int_equal(vmux_call_nodes(m, NULL, (vmux_node_set)4, 2, argv, NULL, &res),
                     VMUX_ERR_INVALID_ARG);
    const char *sub[] = {"SUBSCRIBE", "x"};
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_ALL, 2, sub, NULL, &res),
                     VMUX_ERR_UNSUPPORTED);
    assert_int_equal(res.count, 0);
    /* a flag a fan-out does not take: the buffer says which, as vmux_call()'s does */
    char why[160] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_TELL_UNSENT, .errbuf = why,
                                .errlen = sizeof why);
    assert_int_equal(vmux_call_nodes(m, &o, VMUX_NODES_ALL, 2, argv, NULL, &res),
                     VMUX_ERR_INVALID_ARG);
    assert_string_equal(why,
                        "invalid argument: opts->flags has bits this call does not take (0x10)");
    o.flags = VMUX_CALL_BLOCKING;
    assert_int_equal(vmux_call_nodes(m, &o, VMUX_NODES_ALL, 2, argv, NULL, &res),
                     VMUX_ERR_UNSUPPORTED);
    assert_non_null(strstr(why, "VMUX_CALL_BLOCKING: a command sent to several nodes"));
    call_nodes_says(m);
    vmux_close(m);
}

/*
 * cluster.h: a replica's link is in READONLY mode, so a replica answers reads of its own shard's
 * keys; the other replicas answer MOVED. The key is written on its primary and replicated
 * (WAIT 1) before the replicas are asked.
 */
static void test_replicas_serve_reads(void **state)
{
    (void)state;
    vmux *m = open_seed();
    redisReply *slot = vt_node_command(vt_cluster_port(CLUSTER, 0), false, "CLUSTER KEYSLOT fanro");
    assert_non_null(slot);
    int owner = vt_slot_primary(vt_cluster_port(CLUSTER, 0), false, (int)slot->integer);
    freeReplyObject(slot);
    assert_true(owner > 0);
    redisContext *c = vt_node_connect(owner);
    freeReplyObject(redisCommand(c, "SET fanro v1"));
    redisReply *acked = redisCommand(c, "WAIT 1 10000");
    assert_int_equal(acked->integer, 1);
    freeReplyObject(acked);
    redisFree(c);
    const char *get[] = {"GET", "fanro"};
    vmux_node_replies res;
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_REPLICAS, 2, get, NULL, &res), 0);
    assert_int_equal(res.count, 3);
    int served = 0, moved = 0;
    for (size_t i = 0; i < res.count; i++) {
        const char *said = vmux_reply_str(res.nodes[i].reply, NULL);
        assert_non_null(said);
        served += res.nodes[i].status == 0 && strcmp(said, "v1") == 0;
        moved += res.nodes[i].status == VMUX_ERR_SERVER && strncmp(said, "MOVED ", 6) == 0;
    }
    assert_int_equal(served, 1);
    assert_int_equal(moved, 2);
    vmux_node_replies_free(&res);
    vmux_close(m);
}

struct async_result {
    atomic_int calls;
    int status;
    vmux_node_replies *res;
};

static void on_nodes(int status, vmux_node_replies *result, void *userdata)
{
    struct async_result *a = userdata;
    a->status = status;
    a->res = result;
    atomic_fetch_add(&a->calls, 1);
}

static bool called(void *arg)
{
    return atomic_load(&((struct async_result *)arg)->calls) > 0;
}

static void test_call_nodes_async(void **state)
{
    (void)state;
    vmux *m = open_seed();
    const char *argv[] = {"INFO", "server"};
    struct async_result a = {0};
    assert_int_equal(vmux_call_nodes_async(m, NULL, VMUX_NODES_ALL, 2, argv, NULL, on_nodes, &a),
                     0);
    assert_true(vt_wait_until(called, &a, 10000));
    assert_int_equal(a.status, 0);
    check_info(a.res, 6, 0);
    vmux_node_replies_free(a.res);
    free(a.res);
    assert_int_equal(atomic_load(&a.calls), 1);
    vmux_close(m);
}

struct close_count {
    atomic_int calls, closed, answered;
};

static void on_close_race(int status, vmux_node_replies *result, void *userdata)
{
    struct close_count *c = userdata;
    atomic_fetch_add(&c->calls, 1);
    if (status == VMUX_ERR_CLOSED)
        atomic_fetch_add(&c->closed, 1);
    else if (status == 0 && result != NULL && result->count == 6)
        atomic_fetch_add(&c->answered, 1);
    vmux_node_replies_free(result);
    free(result);
}

/* Fan-outs in flight when the handle closes: each completes exactly once, none is lost. */
static void test_call_nodes_close(void **state)
{
    (void)state;
    vmux *m = open_seed();
    const char *argv[] = {"PING"};
    struct close_count c = {0};
    int accepted = 0;
    for (int i = 0; i < 200; i++)
        accepted +=
            vmux_call_nodes_async(m, NULL, VMUX_NODES_ALL, 1, argv, NULL, on_close_race, &c) == 0;
    assert_int_equal(accepted, 200);
    vmux_close(m); /* runs every callback before it returns */
    assert_int_equal(atomic_load(&c.calls), 200);
    assert_int_equal(atomic_load(&c.closed) + atomic_load(&c.answered), 200);
}

static void test_call_node(void **state)
{
    (void)state;
    vmux *m = open_seed();
    const char *myid[] = {"CLUSTER", "MYID"};
    for (int i = 0; i < vt_cluster_size(CLUSTER); i++) {
        int port = vt_cluster_port(CLUSTER, i);
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call_node(m, NULL, "127.0.0.1", port, 2, myid, NULL, &r), 0);
        redisContext *c = vt_node_connect(port);
        redisReply *d = redisCommand(c, "CLUSTER MYID");
        assert_string_equal(vmux_reply_str(r, NULL), d->str);
        freeReplyObject(d);
        redisFree(c);
        vmux_reply_free(r);
    }
    /* no node of the map: refused; a server error comes back as the node's reply */
    vmux_reply *r = NULL;
    char why[128] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_call_node(m, &o, "127.0.0.1", 1, 2, myid, NULL, &r),
                     VMUX_ERR_INVALID_ARG);
    assert_null(r);
    assert_string_equal(why, "127.0.0.1:1: no node of the handle's current map has this address");
    why[0] = '\0';
    assert_int_equal(vmux_call_node(m, &o, NULL, 1, 2, myid, NULL, &r), VMUX_ERR_INVALID_ARG);
    assert_string_equal(why, "invalid argument: host is NULL");
    const char *bad[] = {"NO-SUCH-COMMAND"};
    assert_int_equal(
        vmux_call_node(m, &o, "127.0.0.1", vt_cluster_port(CLUSTER, 1), 1, bad, NULL, &r),
        VMUX_ERR_SERVER);
    assert_non_null(strstr(why, "unknown command"));
    vmux_reply_free(r);
    /* READWRITE would make the node's shared connection bounce every replica read (probe19) */
    const char *readwrite[] = {"READWRITE"};
    r = NULL;
    assert_int_equal(
        vmux_call_node(m, &o, "127.0.0.1", vt_cluster_port(CLUSTER, 1), 1, readwrite, NULL, &r),
        VMUX_ERR_UNSUPPORTED);
    assert_null(r);
    vmux_close(m);
}

/* A fan-out called before the handle knows what the server is waits for detection, by its
 * deadline, as a command does: the seed is behind a proxy that relays nothing until told. */
static void test_call_nodes_before_detection(void **state)
{
    (void)state;
    vt_proxy *p = vt_proxy_start("127.0.0.1", vt_cluster_port(CLUSTER, 0));
    assert_non_null(p);
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_BLACKHOLE, 0), 0);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,abortConnect=false", vt_proxy_port(p));
    vmux *m = vt_open_conf(conf);
    const char *ping[] = {"PING"};
    vmux_callopts brief = VMUX_INIT(vmux_callopts, .timeout_ms = 300);
    vmux_node_replies res = {0};
    assert_int_equal(vmux_call_nodes(m, &brief, VMUX_NODES_PRIMARIES, 1, ping, NULL, &res),
                     VMUX_ERR_TIMEOUT);
    vmux_reply *r = NULL;
    assert_int_equal(
        vmux_call_node(m, &brief, "127.0.0.1", vt_cluster_port(CLUSTER, 0), 1, ping, NULL, &r),
        VMUX_ERR_TIMEOUT);
    struct async_result a = {0};
    vmux_callopts patient = VMUX_INIT(vmux_callopts, .timeout_ms = 60000);
    assert_int_equal(
        vmux_call_nodes_async(m, &patient, VMUX_NODES_PRIMARIES, 1, ping, NULL, on_nodes, &a), 0);
    /* queued after the fan-out, and timed out: so the fan-out was taken while detecting */
    assert_int_equal(vmux_call(m, &brief, 1, ping, NULL, &r), VMUX_ERR_TIMEOUT);
    assert_int_equal(atomic_load(&a.calls), 0);
    /* a drain waits for the fan-out waiting there (it returned 0 at once) */
    assert_int_equal(vmux_drain(m, 100), VMUX_ERR_TIMEOUT);
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_PASS, 0), 0);
    assert_int_equal(vmux_drain(m, 60000), 0);
    assert_int_equal(atomic_load(&a.calls), 1); /* its callback ran before the drain returned */
    assert_true(vt_wait_until(called, &a, 60000));
    assert_int_equal(a.status, 0);
    assert_int_equal(a.res->count, (size_t)vt_cluster_primaries(CLUSTER));
    for (size_t i = 0; i < a.res->count; i++) {
        assert_int_equal(a.res->nodes[i].status, 0);
        assert_string_equal(vmux_reply_str(a.res->nodes[i].reply, NULL), "PONG");
    }
    vmux_node_replies_free(a.res);
    free(a.res);
    vmux_close(m);
    vt_proxy_stop(p);
}

/* A fan-out takes none of its parts' places under maxPending: with maxPending as many as the
 * primaries, every part gets one (a fan-out counted as a pending op refused the last part). */
static void test_fanout_max_pending_parts(void **state)
{
    (void)state;
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,maxPending=%d", vt_cluster_port(CLUSTER, 0),
             vt_cluster_primaries(CLUSTER));
    vmux *m = vt_open_conf(conf);
    const char *ping[] = {"PING"};
    vmux_node_replies res = {0};
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_PRIMARIES, 1, ping, NULL, &res), 0);
    assert_int_equal(res.count, (size_t)vt_cluster_primaries(CLUSTER));
    for (size_t i = 0; i < res.count; i++)
        if (res.nodes[i].status != 0)
            fail_msg("%s: %s", res.nodes[i].address, vmux_err_name(res.nodes[i].status));
    vmux_node_replies_free(&res);
    int64_t n = -1;
    assert_int_equal(vmux_dbsize(m, NULL, &n), 0);
    vmux_close(m);
}

#define NKEYS 600

static void write_keys(vmux *m, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char key[48];
        snprintf(key, sizeof key, "%s:%d", prefix, i);
        const char *set[] = {"SET", key, "v"};
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(m, NULL, 3, set, NULL, &r), 0);
        vmux_reply_free(r);
    }
}

static long long node_dbsize(int port)
{
    redisContext *c = vt_node_connect(port);
    redisReply *r = redisCommand(c, "DBSIZE");
    long long n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static void test_dbsize_keys_flushall(void **state)
{
    (void)state;
    vmux *m = open_seed();
    assert_int_equal(vmux_flushall_for_tests(m, NULL, VMUX_FLUSH_SYNC), 0);
    write_keys(m, "fan", NKEYS);
    int64_t n = 0;
    assert_int_equal(vmux_dbsize(m, NULL, &n), 0);
    assert_int_equal(n, NKEYS);
    int used = 0;
    for (int p = 0; p < vt_cluster_primaries(CLUSTER); p++)
        used += node_dbsize(vt_cluster_port(CLUSTER, p)) > 0;
    assert_int_equal(used, 3); /* the keys are spread */

    vmux_bytes_array keys;
    assert_int_equal(vmux_keys(m, NULL, "fan:*", &keys), 0);
    assert_int_equal(keys.count, NKEYS);
    bool seen[NKEYS] = {false};
    for (size_t i = 0; i < keys.count; i++) {
        int k = atoi(keys.items[i].ptr + 4);
        assert_true(k >= 0 && k < NKEYS);
        assert_false(seen[k]);
        seen[k] = true;
    }
    vmux_bytes_array_free(&keys);

    assert_int_equal(vmux_flushall_for_tests(m, NULL, VMUX_FLUSH_DEFAULT), 0);
    for (int p = 0; p < vt_cluster_primaries(CLUSTER); p++)
        assert_int_equal(node_dbsize(vt_cluster_port(CLUSTER, p)), 0);
    assert_int_equal(vmux_dbsize(m, NULL, &n), 0);
    assert_int_equal(n, 0);
    write_keys(m, "fan", 30);
    assert_int_equal(vmux_flushdb_for_tests(m, NULL, VMUX_FLUSH_ASYNC), 0);
    assert_int_equal(vmux_dbsize(m, NULL, &n), 0);
    assert_int_equal(n, 0);
    vmux_bytes pong;
    assert_int_equal(vmux_ping(m, NULL, (vmux_str){NULL, 0}, &pong), 0);
    assert_string_equal(pong.ptr, "PONG");
    vmux_bytes_free(&pong);
    vmux_close(m);
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* How many distinct keys are among keys[0..n) (sorted here); frees them. */
static long long distinct_keys(char **keys, size_t n)
{
    qsort(keys, n, sizeof *keys, compare_keys);
    long long distinct = 0;
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || strcmp(keys[i - 1], keys[i]) != 0;
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    return distinct;
}

/* The distinct keys a SCAN of the whole keyspace returns, step after step (a SCAN may return a
 * key more than once: scan.h), or -1 on a failed step. */
static long long scan_count(vmux *m, const char *match)
{
    vmux_scan *it;
    vmux_scan_opts so = VMUX_INIT(vmux_scan_opts, .match = match, .count = 100);
    assert_int_equal(vmux_scan_begin(m, &so, &it), 0);
    vmux_bytes_array batch;
    char **keys = NULL;
    size_t n = 0;
    int rc;
    while ((rc = vmux_scan_next(it, NULL, &batch)) == 1) {
        keys = realloc(keys, (n + batch.count) * sizeof *keys);
        assert_non_null(keys);
        for (size_t i = 0; i < batch.count; i++)
            keys[n++] = strndup(batch.items[i].ptr, batch.items[i].len);
        vmux_bytes_array_free(&batch);
    }
    vmux_scan_end(it);
    long long distinct = distinct_keys(keys, n);
    free(keys);
    return rc == 0 ? distinct : -1;
}

/*
 * Typed fan-outs and SCAN called while the handle still asks what its server is (abortConnect=
 * false, the seed behind a proxy that holds every byte 300 ms): they wait for the answer and cover
 * every primary. They went to the one seed node as plain commands: DBSIZE and KEYS counted its
 * keys, SCAN ended with them, SCRIPT LOAD loaded on it alone.
 */
static void test_typed_before_detection(void **state)
{
    (void)state;
    vmux *w = open_seed();
    assert_int_equal(vmux_flushall_for_tests(w, NULL, VMUX_FLUSH_SYNC), 0);
    write_keys(w, "early", NKEYS);
    vt_proxy *p = vt_proxy_start("127.0.0.1", vt_cluster_port(CLUSTER, 0));
    assert_non_null(p);
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_DELAY, 300), 0);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,abortConnect=false", vt_proxy_port(p));
    int64_t n = 0;
    vmux *m = vt_open_conf(conf);
    assert_int_equal(vmux_dbsize(m, NULL, &n), 0);
    assert_int_equal(n, NKEYS);
    vmux_close(m);
    m = vt_open_conf(conf);
    vmux_bytes_array keys;
    assert_int_equal(vmux_keys(m, NULL, "early:*", &keys), 0);
    assert_int_equal(keys.count, NKEYS);
    vmux_bytes_array_free(&keys);
    vmux_close(m);
    m = vt_open_conf(conf);
    assert_int_equal(scan_count(m, "early:*"), NKEYS);
    vmux_close(m);
    /* a placement flag, which the one-server form takes, means nothing to a fan-out: ignored
     * (vmux_call_nodes() refused it while detecting: VMUX_ERR_INVALID_ARG) */
    m = vt_open_conf(conf);
    vmux_callopts pref = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_PREFER_REPLICA);
    assert_int_equal(vmux_dbsize(m, &pref, &n), 0);
    assert_int_equal(n, NKEYS);
    vmux_close(m);
    vt_proxy_stop(p);
    assert_int_equal(vmux_flushall_for_tests(w, NULL, VMUX_FLUSH_SYNC), 0);
    vmux_close(w);
}

/* The same on a standalone server: the SCAN waits for the answer too, and then runs as a plain
 * SCAN (it began a cluster walk, which the server refused). */
static void test_standalone_before_detection(void **state)
{
    (void)state;
    vmux *w = vt_open("plain", NULL);
    char prefix[24], match[32];
    snprintf(prefix, sizeof prefix, "fanearly:%d", (int)getpid());
    snprintf(match, sizeof match, "%s:*", prefix);
    write_keys(w, prefix, 50);
    vt_proxy *p = vt_proxy_start("127.0.0.1", vt_server_port("plain"));
    assert_non_null(p);
    assert_int_equal(vt_proxy_set_mode(p, VT_PROXY_DELAY, 300), 0);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,abortConnect=false", vt_proxy_port(p));
    vmux *m = vt_open_conf(conf);
    assert_int_equal(scan_count(m, match), 50);
    vmux_close(m);
    m = vt_open_conf(conf);
    vmux_bytes_array keys;
    assert_int_equal(vmux_keys(m, NULL, match, &keys), 0);
    assert_int_equal(keys.count, 50);
    vmux_bytes_array_free(&keys);
    vmux_close(m);
    vt_proxy_stop(p);
    for (int i = 0; i < 50; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s:%d", prefix, i);
        assert_int_equal(vmux_del(w, NULL, &(vmux_str){key, strlen(key)}, 1, NULL), 0);
    }
    vmux_close(w);
}

/* A key whose slot a primary other than the seed serves. */
static void key_off_seed(char *key, size_t len)
{
    int seed = vt_cluster_port(CLUSTER, 0);
    for (int i = 0;; i++) {
        snprintf(key, len, "lone:%d", i);
        if (vt_slot_primary(seed, false, (int)vmux__slot_of(key, strlen(key))) != seed)
            return;
    }
}

/*
 * RANDOMKEY asks every primary: nil only when all are empty; with one key in the cluster, that
 * key every time, where the generic API's RANDOMKEY (one node: the seed's) answers nil.
 */
static void test_randomkey_every_primary(void **state)
{
    (void)state;
    vmux *m = open_seed();
    assert_int_equal(vmux_flushall_for_tests(m, NULL, VMUX_FLUSH_SYNC), 0);
    vmux_bytes k = {0};
    bool found = true;
    assert_int_equal(vmux_randomkey(m, NULL, &k, &found), 0);
    assert_false(found);
    assert_null(k.ptr);
    char key[32];
    key_off_seed(key, sizeof key);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, (const char *[]){"SET", key, "v"}, NULL, &r), 0);
    vmux_reply_free(r);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(vmux_randomkey(m, NULL, &k, &found), 0);
        assert_true(found);
        assert_string_equal(k.ptr, key);
        vmux_bytes_free(&k);
    }
    assert_int_equal(vmux_call(m, NULL, 1, (const char *[]){"RANDOMKEY"}, NULL, &r), 0);
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_NIL);
    vmux_reply_free(r);
    assert_int_equal(vmux_flushall_for_tests(m, NULL, VMUX_FLUSH_SYNC), 0);
    vmux_close(m);
}

static void test_script_everywhere(void **state)
{
    (void)state;
    vmux *m = open_seed();
    assert_int_equal(vmux_script_flush(m, NULL, VMUX_FLUSH_SYNC), 0);
    const char *src = "return redis.call('SET', KEYS[1], ARGV[1])";
    vmux_bytes sha;
    assert_int_equal(vmux_script_load(m, NULL, VMUX_STR(src), &sha), 0);
    assert_int_equal(sha.len, 40);
    const char *shas[] = {sha.ptr, "0000000000000000000000000000000000000000"};
    bool exists[2];
    assert_int_equal(vmux_script_exists(m, NULL, shas, 2, exists), 0);
    assert_true(exists[0]);
    assert_false(exists[1]);
    /* loaded on every primary: keys in every shard run it by its SHA1 alone */
    for (int i = 0; i < 60; i++) {
        char key[32];
        snprintf(key, sizeof key, "sha:%d", i);
        const char *argv[] = {"EVALSHA", sha.ptr, "1", key, "x"};
        vmux_reply *r = NULL;
        char why[128] = "";
        vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
        int rc = vmux_call(m, &o, 5, argv, NULL, &r);
        if (rc != 0)
            fail_msg("EVALSHA %s: %s", key, why);
        vmux_reply_free(r);
    }
    /* a script missing on one primary does not exist */
    redisContext *c = vt_node_connect(vt_cluster_port(CLUSTER, 2));
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    redisFree(c);
    assert_int_equal(vmux_script_exists(m, NULL, shas, 1, exists), 0);
    assert_false(exists[0]);
    assert_int_equal(vmux_script_flush(m, NULL, VMUX_FLUSH_DEFAULT), 0);
    vmux_bytes_free(&sha);
    vmux_close(m);
}

/* Whether a CLUSTER SLOTS reply's entries name port (a primary's or a replica's). */
static bool slots_name(const redisReply *r, int port)
{
    for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        for (size_t k = 2; k < r->element[i]->elements; k++) {
            const redisReply *node = r->element[i]->element[k];
            if (node->type == REDIS_REPLY_ARRAY && node->elements >= 2 &&
                node->element[1]->type == REDIS_REPLY_INTEGER && node->element[1]->integer == port)
                return true;
        }
    return false;
}

/*
 * Whether the shard of two swapped nodes ({the new primary, the demoted one}) has settled: the
 * demoted node's replication link is up and the new primary's CLUSTER SLOTS lists it again (a
 * replica that resynchronises is left out, and a handle opened then would miss it: the tests
 * after the swap count the replicas).
 */
static bool settled(void *arg)
{
    const int *ports = arg;
    char *info = vt_node_admin(ports[1], false, "INFO replication");
    bool up = info != NULL && strstr(info, "master_link_status:up") != NULL;
    free(info);
    if (!up)
        return false;
    redisContext *c = vt_node_connect(ports[0]);
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    bool listed = slots_name(r, ports[1]);
    freeReplyObject(r);
    redisFree(c);
    return listed;
}

/*
 * CLUSTER FAILOVER on the replica of the primary at old, waited for, and for the shard to settle
 * (settled()); returns the new primary.
 */
static int fail_over(int old)
{
    int promoted = vt_cluster_replica_of(CLUSTER, old);
    int ports[2] = {promoted, old};
    vt_fail_over(promoted, old);
    if (!vt_poll_until(settled, ports, 30000, 20))
        fail_msg("after CLUSTER FAILOVER on %d, %d (now its replica) is not in sync and listed "
                 "within 30 s",
                 promoted, old);
    return promoted;
}

/*
 * Whether a typed fan-out's outcome is honest about a demoted node: success, or a failure that
 * names the old primary as no longer one (its answer was a replica's).
 */
static void check_honest(const char *what, int rc, const char *why, int old)
{
    char port[16];
    snprintf(port, sizeof port, ":%d", old);
    if (rc != 0 && (strstr(why, "is no longer a primary") == NULL || strstr(why, port) == NULL))
        fail_msg("%s after the failover: %s: %s", what, vmux_err_name(rc), why);
}

/* A SCRIPT LOAD tried until it succeeds, each failure honest (check_honest()). */
struct loader {
    vmux *m;
    int old;
    int rc;
    char why[512];
    vmux_bytes sha;
};

static bool loaded(void *arg)
{
    struct loader *l = arg;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = l->why, .errlen = sizeof l->why);
    l->rc = vmux_script_load(l->m, &o, VMUX_STR("return 'failover'"), &l->sha);
    check_honest("SCRIPT LOAD", l->rc, l->why, l->old);
    return l->rc == 0;
}

/* The failover test's swap, undone by its teardown should the test fail first. */
static int swapped_old = -1, swapped_new = -1;

static int swap_back(void **state)
{
    (void)state;
    if (swapped_old > 0 && !vt_node_is_primary(swapped_old))
        fail_over(swapped_new);
    swapped_old = swapped_new = -1;
    return 0;
}

/* Whether the handle at arg asked for a slot map since the count at *start (struct refreshed). */
struct refreshed {
    vmux *m;
    uint64_t start;
};

static bool refresh_sent(void *arg)
{
    struct refreshed *w = arg;
    vmux_stats st = VMUX_INIT(vmux_stats);
    return vmux_read_stats(w->m, &st) == 0 && st.cluster_refreshes > w->start;
}

/*
 * A planned failover (CLUSTER FAILOVER on a replica) while the handle sends nothing but fan-outs,
 * which bring no MOVED: the handle's map names the demoted node a primary until a refresh.
 *
 * Typed fan-outs: SCRIPT LOAD answered OK from it (a replica loads a script) and the new primary
 * had no script; FLUSHALL failed READONLY until the periodic refresh (30 s). Each part is now
 * preceded by ROLE: the demoted node's part fails, naming it, a refresh is asked for, and the
 * fan-outs that follow reach the new primary: SCRIPT LOAD loads there, DBSIZE counts every key
 * once, FLUSHALL empties it (the first one itself runs again on the refreshed map:
 * test_fanout_rerun_after_failover).
 *
 * vmux_call_nodes() (no ROLE: the caller sees each node's answer): after the failover back, the
 * demoted node's READONLY to FLUSHALL asks for a refresh, which nothing asked for before (a
 * pinned op's READONLY is not its link's), and so waited for the periodic one.
 */
static void test_fanout_after_failover(void **state)
{
    (void)state;
    vmux *m = open_seed();
    assert_int_equal(vmux_flushall_for_tests(m, NULL, VMUX_FLUSH_SYNC), 0);
    assert_int_equal(vmux_script_flush(m, NULL, VMUX_FLUSH_SYNC), 0);
    write_keys(m, "fo", 90);
    int old = vt_cluster_port(CLUSTER, 1);
    int promoted = fail_over(old);
    swapped_old = old;
    swapped_new = promoted;
    /* the handle idle since: the first fan-outs go by the map that names old a primary */
    struct loader l = {m, old, -1, {0}, {0}};
    vt_poll_until(loaded, &l, 30000, 10); /* fails at once on a wrong success */
    check_honest("SCRIPT LOAD", l.rc, l.why, old);
    assert_int_equal(l.rc, 0);
    char *there = vt_node_admin(promoted, false, "SCRIPT EXISTS %s", l.sha.ptr);
    if (there == NULL || strcmp(there, "1") != 0)
        fail_msg("SCRIPT LOAD answered %.40s, but the new primary %d has no such script (%s)",
                 l.sha.ptr, promoted, there != NULL ? there : "no answer");
    free(there);
    vmux_bytes_free(&l.sha);
    char why[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    int64_t n = -1;
    int rc = vmux_dbsize(m, &o, &n);
    check_honest("DBSIZE", rc, why, old);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 90);
    rc = vmux_flushall_for_tests(m, &o, VMUX_FLUSH_SYNC);
    check_honest("FLUSHALL", rc, why, old);
    assert_int_equal(rc, 0);
    assert_int_equal(node_dbsize(promoted), 0);
    assert_int_equal(vmux_script_flush(m, NULL, VMUX_FLUSH_SYNC), 0);

    assert_int_equal(fail_over(promoted), old); /* back: now promoted is the demoted one */
    swapped_old = swapped_new = -1;
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    struct refreshed w = {m, st.cluster_refreshes};
    const char *flush[] = {"FLUSHALL"};
    vmux_node_replies res = {0};
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_PRIMARIES, 1, flush, NULL, &res), 0);
    bool readonly = false;
    for (size_t i = 0; i < res.count; i++)
        readonly |= res.nodes[i].status == VMUX_ERR_SERVER &&
                    strncmp(vmux_reply_str(res.nodes[i].reply, NULL), "READONLY", 8) == 0;
    vmux_node_replies_free(&res);
    assert_true(readonly);                       /* the map named the demoted node a primary */
    if (!vt_wait_until(refresh_sent, &w, 10000)) /* the periodic check comes every 30 s */
        fail_msg("a primary's READONLY to a fan-out asked for no refresh of the map");
    vmux_close(m);
}

#define RERUN_KEYS 3000

/* The first typed fan-out after a failover, which must succeed (what, its rc and words). */
static void check_first(const char *what, int rc, const char *why)
{
    if (rc != 0)
        fail_msg("the first %s after the failover: %s: %s", what, vmux_err_name(rc), why);
}

/*
 * The first typed fan-out after a planned failover, the handle idle (its map names the demoted
 * node a primary): its part there meets ROLE "slave", and the fan-out runs again on the refreshed
 * map instead of failing NOTPRIMARY (as it did before: the caller had to try again). DBSIZE then
 * counts every key once (the sum of one map); after the failover back, SCRIPT LOAD succeeds and
 * the primary again has the script; after a failover of another shard, FUNCTION LOAD without
 * REPLACE succeeds (kept where it loaded, not run there twice) and the new primary has it.
 */
static void test_fanout_rerun_after_failover(void **state)
{
    (void)state;
    vmux *m = open_seed();
    assert_int_equal(vmux_flushall_for_tests(m, NULL, VMUX_FLUSH_SYNC), 0);
    assert_int_equal(vmux_script_flush(m, NULL, VMUX_FLUSH_SYNC), 0);
    write_keys(m, "rr", RERUN_KEYS);
    for (int p = 0; p < vt_cluster_primaries(CLUSTER); p++)
        assert_true(node_dbsize(vt_cluster_port(CLUSTER, p)) > 0); /* the keys are spread */
    int old = vt_cluster_port(CLUSTER, 2);
    int promoted = fail_over(old);
    swapped_old = old;
    swapped_new = promoted;
    char why[512] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    int64_t n = -1;
    int rc = vmux_dbsize(m, &o, &n);
    check_first("DBSIZE", rc, why);
    assert_int_equal(n, RERUN_KEYS);

    assert_int_equal(fail_over(promoted), old); /* back, the handle idle again */
    swapped_old = swapped_new = -1;
    vmux_bytes sha = {0};
    rc = vmux_script_load(m, &o, VMUX_STR("return 'rerun'"), &sha);
    check_first("SCRIPT LOAD", rc, why);
    char *there = vt_node_admin(old, false, "SCRIPT EXISTS %s", sha.ptr);
    if (there == NULL || strcmp(there, "1") != 0)
        fail_msg("SCRIPT LOAD answered %.40s, but the primary %d again has no such script (%s)",
                 sha.ptr, old, there != NULL ? there : "no answer");
    free(there);
    vmux_bytes_free(&sha);

    /* A write done once: the primaries that loaded the library keep their answer (a rerun there
     * would meet "Library 'rerun' already exists"), the new primary gets it. */
    assert_int_equal(vmux_function_flush(m, NULL, VMUX_FLUSH_SYNC), 0);
    old = vt_cluster_port(CLUSTER, 1);
    promoted = fail_over(old);
    swapped_old = old;
    swapped_new = promoted;
    vmux_bytes lib = {0};
    rc = vmux_function_load(
        m, &o,
        VMUX_STR("#!lua name=rerun\nserver.register_function('rerun', function() return 1 end)"),
        false, &lib);
    check_first("FUNCTION LOAD", rc, why);
    assert_string_equal(lib.ptr, "rerun");
    vmux_bytes_free(&lib);
    there = vt_node_admin(promoted, false, "FCALL rerun 0");
    if (there == NULL || strcmp(there, "1") != 0)
        fail_msg("FUNCTION LOAD succeeded, but the new primary %d has no library rerun (%s)",
                 promoted, there != NULL ? there : "no answer");
    free(there);
    assert_int_equal(vmux_function_flush(m, NULL, VMUX_FLUSH_SYNC), 0);
    assert_int_equal(vmux_script_flush(m, NULL, VMUX_FLUSH_SYNC), 0);
    assert_int_equal(vmux_flushall_for_tests(m, NULL, VMUX_FLUSH_SYNC), 0);
    vmux_close(m);
}

static bool unpaused(void *arg)
{
    redisContext *c = arg;
    redisReply *r = redisCommand(c, "PING");
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok;
}

/* Whether why says what became of a command the paused node did not answer, beyond "timed out". */
static bool node_words(const char *why)
{
    return strstr(why, "not answered in time") != NULL ||
           strstr(why, "(never sent); last connection failure: ") != NULL;
}

static void test_paused_node_fails_alone(void **state)
{
    (void)state;
    vmux *m = open_seed();
    int paused = vt_cluster_port(CLUSTER, 1);
    redisContext *c = vt_node_connect(paused);
    redisReply *r = redisCommand(c, "CLIENT PAUSE 3000 ALL");
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    const char *ping[] = {"PING"};
    vmux_node_replies res;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 500);
    assert_int_equal(vmux_call_nodes(m, &o, VMUX_NODES_PRIMARIES, 1, ping, NULL, &res), 0);
    assert_int_equal(res.count, 3);
    int timeouts = 0;
    char entry_why[256] = "";
    for (size_t i = 0; i < res.count; i++) {
        if (port_of(res.nodes[i].address) == paused) {
            assert_int_equal(res.nodes[i].status, VMUX_ERR_TIMEOUT);
            /* the entry says why, as vmux_call() would (it was NULL: the code alone) */
            assert_int_equal(vmux_reply_get_kind(res.nodes[i].reply), VMUX_REPLY_ERROR);
            snprintf(entry_why, sizeof entry_why, "%s", vmux_reply_str(res.nodes[i].reply, NULL));
            timeouts++;
        } else {
            assert_int_equal(res.nodes[i].status, 0);
            assert_string_equal(vmux_reply_str(res.nodes[i].reply, NULL), "PONG");
        }
    }
    assert_int_equal(timeouts, 1);
    vmux_node_replies_free(&res);
    /* the typed PING names the node that failed */
    char why[128] = "";
    o = VMUX_INIT(vmux_callopts, .timeout_ms = 300, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_ping(m, &o, (vmux_str){NULL, 0}, NULL), VMUX_ERR_TIMEOUT);
    char where[32];
    snprintf(where, sizeof where, ":%d: ", paused);
    assert_non_null(strstr(why, where));
    char node_why[128] = "";
    o.errbuf = node_why;
    assert_int_equal(vmux_call_node(m, &o, "127.0.0.1", paused, 1, ping, NULL, NULL),
                     VMUX_ERR_TIMEOUT);
    redisFree(c);
    c = vt_node_connect(paused);
    assert_true(vt_wait_until(unpaused, c, 15000)); /* the pause ends by itself */
    redisFree(c);
    vmux_close(m);
    /* both say the node's own words: written and not answered, or (its handshake paused) never
     * sent (checked once the pause is over: the next test needs the node) */
    if (!node_words(entry_why))
        fail_msg("vmux_call_nodes()'s entry for the paused node read \"%s\"", entry_why);
    if (!node_words(why))
        fail_msg("the typed PING read \"%s\"", why);
    if (!node_words(node_why) || strstr(node_why, where + 1) == NULL)
        fail_msg("vmux_call_node() read \"%s\"", node_why);
}

/* A node killed, and what a call that needs it says. */
struct dead_node {
    vmux *m;
    int port;
    int rc;
    char why[512];
};

/* Whether words name the dead node's port as its last connection failure, the call never sent. */
static bool says_never_sent(const struct dead_node *d)
{
    char where[64];
    snprintf(where, sizeof where, "(never sent); last connection failure: 127.0.0.1:%d: ", d->port);
    return d->rc == VMUX_ERR_TIMEOUT && strstr(d->why, where) != NULL;
}

/* vmux_call_node() to the dead node: its words say it was never sent, and why (once the link's
 * reconnection failed: until then it may be lost with the connection) */
static bool dead_call_node_words(void *arg)
{
    struct dead_node *d = arg;
    const char *ping[] = {"PING"};
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 300, .errbuf = d->why, .errlen = sizeof d->why);
    d->why[0] = '\0';
    d->rc = vmux_call_node(d->m, &o, "127.0.0.1", d->port, 1, ping, NULL, NULL);
    return says_never_sent(d);
}

/* An MGET over every shard, read from replicas: the dead one's part fails unsent, and the words
 * say so as vmux_call()'s would, with the part's slot (review helper-196 F1) */
static bool dead_mget_words(void *arg)
{
    struct dead_node *d = arg;
    enum { N = 30 };
    char names[N][32];
    vmux_str keys[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "fo:dead:%d", i);
        keys[i] = (vmux_str){names[i], strlen(names[i])};
    }
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 300, .flags = VMUX_CALL_REPLICA,
                                .errbuf = d->why, .errlen = sizeof d->why);
    vmux_bytes_array values = {0};
    d->why[0] = '\0';
    d->rc = vmux_mget(d->m, &o, keys, N, &values);
    vmux_bytes_array_free(&values);
    return says_never_sent(d) && strstr(d->why, "(the command for slot ") != NULL;
}

/* Last on the fixture: a replica SIGKILLed gives its own entry an error, the rest answer; a call
 * to it, and a split read from replicas, say they were never sent and why. */
static void test_killed_replica_fails_alone(void **state)
{
    (void)state;
    vmux *m = open_seed(); /* its map lists the replica, alive when it was loaded */
    const char *argv[] = {"INFO", "server"};
    vmux_node_replies res;
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_REPLICAS, 2, argv, NULL, &res), 0);
    assert_int_equal(res.count, 3);
    char victim[128];
    snprintf(victim, sizeof victim, "%s", res.nodes[1].address);
    long pid = vt_info_field(vmux_reply_str(res.nodes[1].reply, NULL), "process_id");
    vmux_node_replies_free(&res);
    assert_true(pid > 0);
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);

    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 1000);
    assert_int_equal(vmux_call_nodes(m, &o, VMUX_NODES_ALL, 2, argv, NULL, &res), 0);
    assert_int_equal(res.count, 6);
    int failed = 0;
    for (size_t i = 0; i < res.count; i++) {
        if (strcmp(res.nodes[i].address, victim) == 0) {
            assert_true(res.nodes[i].status < 0 && res.nodes[i].status != VMUX_ERR_SERVER);
            assert_int_equal(vmux_reply_get_kind(res.nodes[i].reply), VMUX_REPLY_ERROR); /* why */
            failed++;
        } else {
            assert_int_equal(res.nodes[i].status, 0);
        }
    }
    assert_int_equal(failed, 1);
    vmux_node_replies_free(&res);
    /* within cluster-node-timeout (2 s), before the cluster drops the replica from its map */
    struct dead_node d = {m, port_of(victim), VMUX_OK, ""};
    if (!vt_wait_until(dead_mget_words, &d, 20000))
        fail_msg("a split MGET read from replicas read %s \"%s\"", vmux_err_name(d.rc), d.why);
    if (!vt_wait_until(dead_call_node_words, &d, 20000))
        fail_msg("vmux_call_node() to the dead replica read %s \"%s\"", vmux_err_name(d.rc), d.why);
    vmux_close(m);
}

static void test_standalone_one_node(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    const char *argv[] = {"INFO", "server"};
    vmux_node_replies res;
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_PRIMARIES, 2, argv, NULL, &res), 0);
    check_info(&res, 1, VMUX_ROLE_PRIMARY);
    char address[128];
    snprintf(address, sizeof address, "%s", res.nodes[0].address);
    vmux_node_replies_free(&res);
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_REPLICAS, 2, argv, NULL, &res), 0);
    assert_int_equal(res.count, 0);
    assert_int_equal(vmux_call_nodes(m, NULL, VMUX_NODES_ALL, 2, argv, NULL, &res), 0);
    assert_int_equal(res.count, 1);
    vmux_node_replies_free(&res);
    *strrchr(address, ':') = '\0';
    vmux_reply *r = NULL;
    const char *ping[] = {"PING"};
    assert_int_equal(vmux_call_node(m, NULL, address, vt_server_port("plain"), 1, ping, NULL, &r),
                     0);
    assert_string_equal(vmux_reply_str(r, NULL), "PONG");
    vmux_reply_free(r);
    char why[128] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_call_node(m, &o, address, 1, 1, ping, NULL, &r), VMUX_ERR_INVALID_ARG);
    assert_null(r);
    assert_non_null(strstr(why, ":1: no node of the handle's current map has this address"));

    /* the typed commands: one command each, as before */
    write_keys(m, "fanplain", 25);
    vmux_bytes_array keys;
    assert_int_equal(vmux_keys(m, NULL, "fanplain:*", &keys), 0);
    assert_int_equal(keys.count, 25);
    vmux_bytes_array_free(&keys);
    int64_t n = 0;
    assert_int_equal(vmux_dbsize(m, NULL, &n), 0);
    assert_true(n >= 25);
    vmux_bytes sha;
    assert_int_equal(vmux_script_load(m, NULL, VMUX_STR("return 7"), &sha), 0);
    const char *shas[] = {sha.ptr};
    bool exists = false;
    assert_int_equal(vmux_script_exists(m, NULL, shas, 1, &exists), 0);
    assert_true(exists);
    vmux_bytes_free(&sha);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_nodes_sets),
        cmocka_unit_test(test_replicas_serve_reads),
        cmocka_unit_test(test_call_nodes_async),
        cmocka_unit_test(test_call_nodes_close),
        cmocka_unit_test(test_call_node),
        cmocka_unit_test(test_call_nodes_before_detection),
        cmocka_unit_test(test_fanout_max_pending_parts),
        cmocka_unit_test(test_dbsize_keys_flushall),
        cmocka_unit_test(test_typed_before_detection),
        cmocka_unit_test(test_standalone_before_detection),
        cmocka_unit_test(test_randomkey_every_primary),
        cmocka_unit_test(test_script_everywhere),
        cmocka_unit_test_teardown(test_fanout_after_failover, swap_back),
        cmocka_unit_test_teardown(test_fanout_rerun_after_failover, swap_back),
        cmocka_unit_test(test_paused_node_fails_alone),
        cmocka_unit_test(test_killed_replica_fails_alone),
        cmocka_unit_test(test_standalone_one_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

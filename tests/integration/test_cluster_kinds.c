/*
 * Kinds of commands that are not a plain keyed command, on a cluster (fixture "cluster-noreplica",
 * three primaries):
 * - a blocking pop on keys in every shard waits on the node that serves its key (a blocking pool
 *   per node), is woken by a push from another handle, and each node's INFO commandstats shows
 *   the BLPOP calls it ran;
 * - a blocking pop whose slot moved while the map was stale follows MOVED to the new owner's
 *   pool;
 * - a transaction whose keys share a slot runs on that slot's primary, whichever node the handle
 *   was opened on; one whose keys are in two slots is refused with VMUX_ERR_CROSSSLOT and
 *   nothing runs;
 * - a command the key table does not know is sent only after the seed's node was asked
 *   COMMAND GETKEYS; the server's error for an unknown command reaches the caller;
 * - each node's link counters (vmux_read_node_stats()) add up to the handle's totals.
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

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "node.h"
#include "readkeys.h"
#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-noreplica"
#define NKEYS 24

static vmux *open_seed(int node)
{
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=10000,blockingPoolSize=32",
             vt_cluster_port(CLUSTER, node));
    return vt_open_conf(conf);
}

/* The port of the primary that serves key, asked of node 0 (CLUSTER SLOTS via hiredis). */
static int owner_port(const char *key)
{
    int slot = (int)vmux__slot_of(key, strlen(key));
    int port = vt_slot_primary(vt_cluster_port(CLUSTER, 0), false, slot);
    assert_true(port > 0);
    return port;
}

/* cmdstat_<cmd>'s calls on the node at port. */
static long long calls_on(int port, const char *cmd)
{
    redisContext *c = vt_node_connect(port);
    redisReply *r = redisCommand(c, "INFO commandstats");
    assert_non_null(r);
    char field[64];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", cmd);
    const char *at = r->str != NULL ? strstr(r->str, field) : NULL;
    long long n = at != NULL ? atoll(at + strlen(field)) : 0;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* ---- blocking pops wait on their key's node ---- */

struct popper {
    vmux *m;
    char key[32];
    int rc;
    char got[32];
    uv_thread_t thread;
};

static void pop_one(void *arg)
{
    struct popper *p = arg;
    vmux_bytes key = {0}, value = {0};
    vmux_str k = {p->key, strlen(p->key)};
    p->rc = vmux_bpop(p->m, NULL, VMUX_HEAD, &k, 1, 20000, &key, &value);
    if (p->rc == 0 && value.ptr != NULL)
        snprintf(p->got, sizeof p->got, "%.*s", (int)value.len, value.ptr);
    vmux_bytes_free(&key);
    vmux_bytes_free(&value);
}

static bool all_blocked(void *arg)
{
    const int *want = arg;
    int n = 0;
    for (int i = 0; i < vt_cluster_primaries(CLUSTER); i++) {
        redisContext *c = vt_node_connect(vt_cluster_port(CLUSTER, i));
        redisReply *r = redisCommand(c, "INFO clients");
        const char *at = r != NULL && r->str != NULL ? strstr(r->str, "blocked_clients:") : NULL;
        n += at != NULL ? atoi(at + strlen("blocked_clients:")) : 0;
        freeReplyObject(r);
        redisFree(c);
    }
    return n >= *want;
}

/* Whether the node at *port has a blocked client (for one handle's pool of one connection). */
static bool blocked_on(void *arg)
{
    return vt_node_info(*(const int *)arg, "clients", "blocked_clients:") >= 1;
}

/* A handle on the fixture with one blocking-pool connection per node. */
static vmux *open_one_pool_connection(void)
{
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=10000,blockingPoolSize=1",
             vt_cluster_port(CLUSTER, 0));
    return vt_open_conf(conf);
}

static void test_blocking_pops_wait_on_their_nodes(void **state)
{
    (void)state;
    vmux *m = open_seed(0);
    vmux *pusher = open_seed(1);
    static struct popper pops[NKEYS];
    long long before[8] = {0};
    int nprim = vt_cluster_primaries(CLUSTER);
    for (int i = 0; i < nprim; i++)
        before[i] = calls_on(vt_cluster_port(CLUSTER, i), "blpop");
    for (int i = 0; i < NKEYS; i++) {
        pops[i] = (struct popper){.m = m};
        snprintf(pops[i].key, sizeof pops[i].key, "bq:%d", i);
        char del[48];
        snprintf(del, sizeof del, "DEL %s", pops[i].key);
        vmux_reply *r = NULL;
        assert_int_equal(vmux_command(pusher, &r, del), 0);
        vmux_reply_free(r);
    }
    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(uv_thread_create(&pops[i].thread, pop_one, &pops[i]), 0);
    int want = NKEYS;
    assert_true(vt_wait_until(all_blocked, &want, 15000));
    for (int i = 0; i < NKEYS; i++) {
        char push[64];
        snprintf(push, sizeof push, "RPUSH %s v%d", pops[i].key, i);
        vmux_reply *r = NULL;
        assert_int_equal(vmux_command(pusher, &r, push), 0);
        vmux_reply_free(r);
    }
    for (int i = 0; i < NKEYS; i++) {
        uv_thread_join(&pops[i].thread);
        assert_int_equal(pops[i].rc, 0);
        char want_value[16];
        snprintf(want_value, sizeof want_value, "v%d", i);
        assert_string_equal(pops[i].got, want_value);
    }
    /* every node ran the pops of its own keys */
    long long expect[8] = {0};
    for (int i = 0; i < NKEYS; i++) {
        int port = owner_port(pops[i].key);
        for (int n = 0; n < nprim; n++)
            if (vt_cluster_port(CLUSTER, n) == port)
                expect[n]++;
    }
    for (int n = 0; n < nprim; n++) {
        assert_true(expect[n] > 0); /* the keys cover every shard */
        assert_int_equal(calls_on(vt_cluster_port(CLUSTER, n), "blpop") - before[n], expect[n]);
    }
    vmux_close(pusher);
    vmux_close(m);
}

/* ---- a blocking pop follows MOVED to the new owner's pool ---- */

static void node_cmd(int port, const char *fmt, const char *a, const char *b)
{
    redisContext *c = vt_node_connect(port);
    redisReply *r = redisCommand(c, fmt, a, b);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", fmt, r->str);
    freeReplyObject(r);
    redisFree(c);
}

static void my_id(int port, char *id, size_t len)
{
    redisContext *c = vt_node_connect(port);
    redisReply *r = redisCommand(c, "CLUSTER MYID");
    assert_non_null(r);
    snprintf(id, len, "%s", r->str);
    freeReplyObject(r);
    redisFree(c);
}

struct slot_owner {
    const char *key;
    int port;
};

/* Whether every primary says the key's slot is served by the primary at port. */
static bool all_agree(void *arg)
{
    const struct slot_owner *o = arg;
    int slot = (int)vmux__slot_of(o->key, strlen(o->key));
    for (int i = 0; i < vt_cluster_primaries(CLUSTER); i++)
        if (vt_slot_primary(vt_cluster_port(CLUSTER, i), false, slot) != o->port)
            return false;
    return true;
}

/*
 * Gives the (empty) slot of key to the primary at to_port as a resharding does (IMPORTING on the
 * target, MIGRATING on the source, then NODE on the target, the source and the rest), and waits
 * until every primary agrees.
 */
static void move_empty_slot(const char *key, int from_port, int to_port)
{
    char to_id[64], from_id[64], slot[16];
    my_id(to_port, to_id, sizeof to_id);
    my_id(from_port, from_id, sizeof from_id);
    snprintf(slot, sizeof slot, "%u", vmux__slot_of(key, strlen(key)));
    node_cmd(to_port, "CLUSTER SETSLOT %s IMPORTING %s", slot, from_id);
    node_cmd(from_port, "CLUSTER SETSLOT %s MIGRATING %s", slot, to_id);
    node_cmd(to_port, "CLUSTER SETSLOT %s NODE %s", slot, to_id);
    node_cmd(from_port, "CLUSTER SETSLOT %s NODE %s", slot, to_id);
    for (int i = 0; i < vt_cluster_primaries(CLUSTER); i++)
        if (vt_cluster_port(CLUSTER, i) != to_port && vt_cluster_port(CLUSTER, i) != from_port)
            node_cmd(vt_cluster_port(CLUSTER, i), "CLUSTER SETSLOT %s NODE %s", slot, to_id);
    struct slot_owner o = {key, to_port};
    assert_true(vt_wait_until(all_agree, &o, 10000));
}

static void test_blocking_pop_follows_moved(void **state)
{
    (void)state;
    const char *key = "bmoved:1";
    int from = owner_port(key), to = -1;
    for (int i = 0; i < vt_cluster_primaries(CLUSTER) && to < 0; i++)
        if (vt_cluster_port(CLUSTER, i) != from)
            to = vt_cluster_port(CLUSTER, i);
    vmux *m = open_seed(0);
    vmux_str k = {key, strlen(key)};
    vmux_bytes got_key = {0}, value = {0};
    /* the handle learns the slot's owner, and its pool there opens */
    assert_int_equal(vmux_bpop(m, NULL, VMUX_HEAD, &k, 1, 10, &got_key, &value), 0);
    assert_null(value.ptr);
    move_empty_slot(key, from, to); /* the handle's map is stale now */
    long long moved_before = calls_on(to, "blpop");
    vmux *pusher = open_seed(1);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_command(pusher, &r, "RPUSH bmoved:1 after"), 0);
    vmux_reply_free(r);
    assert_int_equal(vmux_bpop(m, NULL, VMUX_HEAD, &k, 1, 5000, &got_key, &value), 0);
    assert_non_null(value.ptr);
    assert_memory_equal(value.ptr, "after", 5);
    assert_int_equal(calls_on(to, "blpop") - moved_before, 1);
    vmux_bytes_free(&got_key);
    vmux_bytes_free(&value);
    move_empty_slot(key, to, from); /* as it was (the list is empty again) */
    vmux_close(pusher);
    vmux_close(m);
}

/* ---- a blocking pop waiting for a pool connection follows its slot ---- */

/* BLPOP key for block_s seconds, asynchronously on m (its deadline a little longer). */
static void blpop_async(vmux *m, const char *key, const char *block_s, struct vt_async *out)
{
    const char *argv[] = {"BLPOP", key, block_s};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = (atoll(block_s) + 10) * 1000);
    assert_int_equal(vmux_call_async(m, &o, 3, argv, NULL, vt_on_async, out), 0);
}

/* Copies the value of a BLPOP's reply ([key, value]) to buf, or "" for anything else. */
static void popped(const struct vt_async *a, char *buf, size_t len)
{
    const vmux_reply *v =
        a->status == 0 && vmux_reply_len(a->reply) == 2 ? vmux_reply_element(a->reply, 1) : NULL;
    size_t n = 0;
    const char *s = v != NULL ? vmux_reply_str(v, &n) : NULL;
    snprintf(buf, len, "%.*s", s != NULL ? (int)n : 0, s != NULL ? s : "");
}

/* Runs verb [key [value]] on m and checks that it succeeded. */
static void cmd(vmux *m, const char *verb, const char *key, const char *value)
{
    const char *argv[] = {verb, key, value};
    vmux_reply *r = NULL;
    int argc = key == NULL ? 1 : value == NULL ? 2 : 3;
    assert_int_equal(vmux_call(m, NULL, argc, argv, NULL, &r), 0);
    vmux_reply_free(r);
}

/*
 * blockingPoolSize=1: A's BLPOP holds node X's only pool connection, B's (another slot of X)
 * waits for it. B's slot then moves to Y and the handle learns of it (a MOVED to an RPUSH of
 * B's key, which puts B's element on Y): B goes to Y's pool and gets the element while A still
 * blocks. It stayed queued on X until A's block ended before (helper-203: "timed out" at its
 * deadline with its element waiting on Y).
 */
static void test_queued_blocking_pop_follows_its_slot(void **state)
{
    (void)state;
    const char *ka = "bqueue:a";
    char kb[32];
    int x = owner_port(ka), y;
    unsigned sa = vmux__slot_of(ka, strlen(ka));
    for (int i = 0;; i++) {
        snprintf(kb, sizeof kb, "bqueue:b%d", i);
        if (owner_port(kb) == x && vmux__slot_of(kb, strlen(kb)) != sa)
            break;
    }
    y = vt_cluster_other_primary(CLUSTER, x);
    vmux *m = open_one_pool_connection();
    cmd(m, "DEL", ka, NULL);
    cmd(m, "DEL", kb, NULL);
    static struct vt_async a, b; /* static: a failed assertion leaves their callbacks due */
    a = (struct vt_async){.done = false};
    b = (struct vt_async){.done = false};
    blpop_async(m, ka, "120", &a);
    blpop_async(m, kb, "120", &b);
    cmd(m, "PING", NULL, NULL); /* one thread's commands are routed in order: B waits on X now */
    move_empty_slot(kb, x, y);
    cmd(m, "RPUSH", kb, "forB"); /* MOVED: the handle's map gives B's slot to Y */
    bool b_first = vt_wait_until(vt_async_done, &b, 20000) && !atomic_load(&a.done);
    cmd(m, "RPUSH", ka, "forA"); /* ends A (and, without the fix, B's wait) */
    assert_true(vt_wait_until(vt_async_done, &a, 20000));
    assert_true(vt_wait_until(vt_async_done, &b, 20000));
    char a_got[32], b_got[32];
    popped(&a, a_got, sizeof a_got);
    popped(&b, b_got, sizeof b_got);
    vmux_reply_free(a.reply);
    vmux_reply_free(b.reply);
    vmux_close(m);
    move_empty_slot(kb, y, x); /* as it was (the list is empty again) */
    assert_string_equal(a_got, "forA");
    if (!b_first)
        fail_msg("B's BLPOP still waited for X's pool connection 20 s after its slot moved to Y "
                 "(status %d, then \"%s\" once A's block ended)",
                 b.status, b_got);
    assert_string_equal(b_got, "forB");
}

/*
 * Two pops of one key, B queued behind A for X's only pool connection; the slot moves to Y and X
 * ends A's block with MOVED: A goes on to Y first and B after it, so A gets the first element
 * pushed there (review helper-215 F1: the map A's MOVED patched sent B to Y ahead of A, which then
 * got the second, 3 of 3 rounds).
 */
static void test_queued_blocking_pops_keep_their_order(void **state)
{
    (void)state;
    const char *key = "bqorder:a";
    int x = owner_port(key), y = vt_cluster_other_primary(CLUSTER, x);
    vmux *m = open_one_pool_connection();
    cmd(m, "DEL", key, NULL);
    static struct vt_async a, b; /* static: a failed assertion leaves their callbacks due */
    a = (struct vt_async){.done = false};
    b = (struct vt_async){.done = false};
    blpop_async(m, key, "120", &a);
    blpop_async(m, key, "120", &b);
    assert_true(vt_wait_until(blocked_on, &x, 15000)); /* A on X, B queued behind it */
    move_empty_slot(key, x, y);
    /* one blocks on Y, the other waits for Y's only pool connection: the first element goes to
     * the one that blocks, which frees the connection for the other */
    assert_true(vt_wait_until(blocked_on, &y, 15000));
    cmd(m, "RPUSH", key, "first");
    assert_true(vt_wait_until(blocked_on, &y, 15000));
    cmd(m, "RPUSH", key, "second");
    assert_true(vt_wait_until(vt_async_done, &a, 20000));
    assert_true(vt_wait_until(vt_async_done, &b, 20000));
    char a_got[32], b_got[32];
    popped(&a, a_got, sizeof a_got);
    popped(&b, b_got, sizeof b_got);
    vmux_reply_free(a.reply);
    vmux_reply_free(b.reply);
    vmux_close(m);
    move_empty_slot(key, y, x); /* as it was (the list is empty again) */
    if (strcmp(a_got, "first") != 0 || strcmp(b_got, "second") != 0)
        fail_msg("A, first to pop, got \"%s\" and B \"%s\"", a_got, b_got);
}

/* ---- transactions run on their slot's primary ---- */

static void test_transactions_run_on_their_slots_node(void **state)
{
    (void)state;
    vmux *m = open_seed(0);
    for (int t = 0; t < 12; t++) {
        char a[32], b[32];
        snprintf(a, sizeof a, "{tx%d}:a", t);
        snprintf(b, sizeof b, "{tx%d}:b", t);
        vmux_tx *tx = NULL;
        assert_int_equal(vmux_tx_new(&tx), 0);
        const char *set[] = {"SET", a, "1"};
        const char *incr[] = {"INCRBY", b, "5"};
        const char *get[] = {"GET", a};
        assert_int_equal(vmux_tx_add(tx, 3, set, NULL), 0);
        assert_int_equal(vmux_tx_add(tx, 3, incr, NULL), 0);
        assert_int_equal(vmux_tx_add(tx, 2, get, NULL), 0);
        bool committed = false;
        vmux_reply *replies = NULL;
        char err[256] = "";
        vmux_callopts o = VMUX_INIT(vmux_callopts);
        o.errbuf = err;
        o.errlen = sizeof err;
        assert_int_equal(vmux_tx_exec(m, &o, tx, &committed, &replies), 0);
        assert_true(committed);
        assert_int_equal(vmux_reply_len(replies), 3);
        assert_string_equal(vmux_reply_str(vmux_reply_element(replies, 2), NULL), "1");
        vmux_reply_free(replies);
        vmux_tx_free(tx);
    }
    /* keys in two slots: refused before anything is sent */
    vmux_tx *tx = NULL;
    assert_int_equal(vmux_tx_new(&tx), 0);
    const char *set1[] = {"SET", "txcross:a", "1"};
    const char *set2[] = {"SET", "txcross:b", "1"};
    assert_int_not_equal(vmux__slot_of("txcross:a", 9), vmux__slot_of("txcross:b", 9));
    assert_int_equal(vmux_tx_add(tx, 3, set1, NULL), 0);
    assert_int_equal(vmux_tx_add(tx, 3, set2, NULL), 0);
    bool committed = true;
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.errbuf = err;
    o.errlen = sizeof err;
    assert_int_equal(vmux_tx_exec(m, &o, tx, &committed, NULL), VMUX_ERR_CROSSSLOT);
    assert_non_null(strstr(err, "txcross:a"));
    vmux_tx_free(tx);
    redisContext *c = vt_node_connect(owner_port("txcross:a"));
    redisReply *r = redisCommand(c, "EXISTS txcross:a");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    redisFree(c);
    vmux_close(m);
}

/* ---- commands the key table does not know ---- */

static void test_unknown_command_asks_getkeys(void **state)
{
    (void)state;
    int seed = vt_cluster_port(CLUSTER, 0);
    vmux *m = open_seed(0);
    long long before = calls_on(seed, "command|getkeys");
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.errbuf = err;
    o.errlen = sizeof err;
    vmux_reply *r = NULL;
    const char *argv[] = {"NOSUCHCMD", "somekey"};
    assert_int_equal(vmux_call(m, &o, 2, argv, NULL, &r), VMUX_ERR_SERVER);
    assert_non_null(strstr(err, "unknown command"));
    vmux_reply_free(r);
    assert_int_equal(calls_on(seed, "command|getkeys") - before, 1);
    /* a command the table knows asks nothing */
    assert_int_equal(vmux_command(m, &r, "GET somekey"), 0);
    vmux_reply_free(r);
    assert_int_equal(calls_on(seed, "command|getkeys") - before, 1);
    vmux_close(m);
}

/* ---- counters per node ---- */

static void test_node_stats_add_up(void **state)
{
    (void)state;
    vmux *m = open_seed(0);
    for (int i = 0; i < 300; i++) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "SET ns:%d %d", i, i);
        vmux_reply *r = NULL;
        assert_int_equal(vmux_command(m, &r, cmd), 0);
        vmux_reply_free(r);
    }
    vmux_stats total = VMUX_INIT(vmux_stats);
    uint64_t out_sum = 0, connects_sum = 0;
    int nprim = vt_cluster_primaries(CLUSTER);
    for (int n = 0; n < nprim; n++) {
        vmux_stats st = VMUX_INIT(vmux_stats);
        assert_int_equal(vmux_read_node_stats(m, "127.0.0.1", vt_cluster_port(CLUSTER, n), &st), 0);
        assert_true(st.bytes_out > 0); /* every primary got its share of the 300 keys */
        assert_true(st.connects >= 1);
        assert_int_equal(st.submitted, 0); /* commands are counted per handle */
        assert_int_equal(st.connected, 1); /* its command connection (the pools' are apart) */
        out_sum += st.bytes_out;
        connects_sum += st.connects;
    }
    assert_int_equal(vmux_read_stats(m, &total), 0);
    /* the totals cover at least every primary's links (the handle may have more: a pool...) */
    assert_true(total.bytes_out >= out_sum);
    assert_true(total.connects >= connects_sum);
    assert_int_equal(total.connected, (uint64_t)nprim); /* the seed's link is its node's */
    /* a standalone server is its handle's one node */
    char conf[64];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=no", vt_server_port("plain"));
    vmux *s = vt_open_conf(conf);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_command(s, &r, "PING"), 0);
    vmux_reply_free(r);
    vmux_stats one = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_node_stats(s, "127.0.0.1", vt_server_port("plain"), &one), 0);
    assert_true(one.bytes_out > 0 && one.connects >= 1 && one.connected == 1);
    vmux_close(s);
    vmux_stats none = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_node_stats(m, "127.0.0.1", 1, &none), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_read_node_stats(m, NULL, 7000, &none), VMUX_ERR_INVALID_ARG);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocking_pops_wait_on_their_nodes),
        cmocka_unit_test(test_blocking_pop_follows_moved),
        cmocka_unit_test(test_queued_blocking_pop_follows_its_slot),
        cmocka_unit_test(test_queued_blocking_pops_keep_their_order),
        cmocka_unit_test(test_transactions_run_on_their_slots_node),
        cmocka_unit_test(test_unknown_command_asks_getkeys),
        cmocka_unit_test(test_node_stats_add_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The router against a real cluster (fixture "cluster-route": three primaries, no replica, its
 * own so that moving a slot disturbs no other test) and a standalone server ("plain"):
 *
 * - a handle opened on ONE seed node with cluster=auto sends 2000 keys (4 threads, SET then GET)
 *   each to the primary serving its slot: every call succeeds, and a direct connection to each
 *   primary finds there exactly the keys of the slots it serves, all three primaries used;
 * - keys in two slots are refused before sending (VMUX_ERR_CROSSSLOT, both keys named);
 * - backlogPolicy=failFast on a fresh handle: the first fan-out and the first commands to every
 *   shard wait for the node links the router opens for them, and succeed;
 *   keys sharing a {hash tag} work together (MSET, MGET);
 * - a slot migrated between two primaries (SETSLOT IMPORTING / MIGRATING, MIGRATE, SETSLOT NODE)
 *   while a thread reads and writes its keys: the handle follows ASK and MOVED, no call fails,
 *   every key holds its last value afterwards, on the new owner;
 * - a two-key command the source answers ASK and the importing node TRYAGAIN (its keys split)
 *   waits, sent again after ASKING each time, until the migration ends, then runs;
 * - a command refused with TRYAGAIN goes again with a backoff of its own, which replies to other
 *   commands on its connection do not reset;
 * - cluster=yes against a standalone server fails the open clearly, and with abortConnect=false
 *   its commands carry the reason; cluster=auto serves it;
 *   cluster=yes with an ACL user refused INFO, or CLUSTER, says which, quoting the server once;
 *   cluster=auto with a user refused INFO says at WARN and in an error event that it guessed;
 *   cluster=no against a cluster node does not route (the server's MOVED reaches the caller).
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
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-route"
#define NKEYS 2000
#define NTHREADS 4

static vmux *open_seed(const char *extra)
{
    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d%s%s", vt_cluster_port(CLUSTER, 0), extra ? "," : "",
             extra ? extra : "");
    return vt_open_conf(conf);
}

/* SET and GET through m; returns 0 or the failing status (message on stderr). */
static int set_get(vmux *m, const char *key, const char *value)
{
    char why[256] = "";
    int rc = vt_set_get(m, key, value, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "%s: %s (%d)\n", key, why, rc);
    return rc;
}

struct spread_arg {
    vmux *m;
    int from, to;
    atomic_int *failed;
};

static void spread_worker(void *p)
{
    struct spread_arg *a = p;
    char key[32], value[32];
    for (int i = a->from; i < a->to; i++) {
        snprintf(key, sizeof key, "spread:%d", i);
        snprintf(value, sizeof value, "v%d", i);
        if (set_get(a->m, key, value) != 0)
            atomic_fetch_add(a->failed, 1);
    }
}

/* How many of the spread keys primary port holds, each with its value; others must MOVE. */
static int keys_on(int port, bool *seen)
{
    redisContext *c = vt_node_connect(port);
    char key[32], value[32];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof key, "spread:%d", i);
        redisAppendCommand(c, "GET %s", key);
    }
    int held = 0;
    for (int i = 0; i < NKEYS; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        snprintf(value, sizeof value, "v%d", i);
        if (r->type == REDIS_REPLY_STRING) {
            assert_string_equal(r->str, value);
            assert_false(seen[i]);
            seen[i] = true;
            held++;
        } else {
            assert_int_equal(r->type, REDIS_REPLY_ERROR); /* not its slot: MOVED */
            assert_memory_equal(r->str, "MOVED ", 6);
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return held;
}

static void test_spread_over_all_primaries(void **state)
{
    (void)state;
    vmux *m = open_seed(NULL);
    atomic_int failed = 0;
    struct spread_arg args[NTHREADS];
    uv_thread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        args[t] = (struct spread_arg){m, t * NKEYS / NTHREADS, (t + 1) * NKEYS / NTHREADS, &failed};
        assert_int_equal(uv_thread_create(&th[t], spread_worker, &args[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++)
        uv_thread_join(&th[t]);
    assert_int_equal(atomic_load(&failed), 0);
    vmux_close(m);

    bool seen[NKEYS] = {false};
    int total = 0;
    for (int p = 0; p < vt_cluster_primaries(CLUSTER); p++) {
        int held = keys_on(vt_cluster_port(CLUSTER, p), seen);
        assert_true(held > NKEYS / 10); /* every primary got its share */
        total += held;
    }
    assert_int_equal(total, NKEYS);
}

static void test_crossslot_refused(void **state)
{
    (void)state;
    vmux *m = open_seed(NULL);
    const char *mset[] = {"MSET", "xs:a", "1", "xs:b", "2"};
    vmux_reply *r = NULL;
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    assert_int_equal(vmux_call(m, &o, 5, mset, NULL, &r), VMUX_ERR_CROSSSLOT);
    assert_null(r);
    assert_non_null(strstr(why, "'xs:a' (slot "));
    assert_non_null(strstr(why, "'xs:b' (slot "));
    /* nothing was sent */
    for (int p = 0; p < vt_cluster_primaries(CLUSTER); p++) {
        redisContext *c = vt_node_connect(vt_cluster_port(CLUSTER, p));
        redisReply *e = redisCommand(c, "EXISTS xs:a");
        assert_true(e->type == REDIS_REPLY_ERROR || e->integer == 0);
        freeReplyObject(e);
        redisFree(c);
    }
    vmux_close(m);
}

static void test_hash_tag_together(void **state)
{
    (void)state;
    vmux *m = open_seed(NULL);
    for (int u = 0; u < 50; u++) {
        char k1[32], k2[32];
        snprintf(k1, sizeof k1, "{user%d}:name", u);
        snprintf(k2, sizeof k2, "{user%d}:mail", u);
        const char *mset[] = {"MSET", k1, "n", k2, "m"};
        const char *mget[] = {"MGET", k1, k2};
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(m, NULL, 5, mset, NULL, &r), 0);
        vmux_reply_free(r);
        assert_int_equal(vmux_call(m, NULL, 3, mget, NULL, &r), 0);
        assert_int_equal(vmux_reply_len(r), 2);
        assert_string_equal(vmux_reply_str(vmux_reply_element(r, 0), NULL), "n");
        assert_string_equal(vmux_reply_str(vmux_reply_element(r, 1), NULL), "m");
        vmux_reply_free(r);
    }
    vmux_close(m);
}

/* ---- backlogPolicy=failFast and node links not yet connected ---- */

/*
 * A fresh failFast handle's first fan-out: every node's part is answered. The router opens a
 * node's link when a command first needs it, and each part found its link making its first
 * attempt: all but the seed's failed with VMUX_ERR_NOT_CONNECTED, the nodes healthy (helper-171).
 */
static void test_failfast_first_fanout(void **state)
{
    (void)state;
    vmux *m = open_seed("backlogPolicy=failFast");
    vmux_node_replies res;
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = why, .errlen = sizeof why);
    int rc = vmux_call_nodes(m, &o, VMUX_NODES_ALL, 1, (const char *[]){"PING"}, NULL, &res);
    if (rc != 0)
        fail_msg("vmux_call_nodes: %s (%s)", vmux_err_name(rc), why);
    assert_int_equal(res.count, (size_t)vt_cluster_primaries(CLUSTER));
    for (size_t i = 0; i < res.count; i++)
        if (res.nodes[i].status != 0)
            fail_msg("PING on %s: %s", res.nodes[i].address, vmux_err_name(res.nodes[i].status));
    vmux_node_replies_free(&res);
    vmux_close(m);
}

/*
 * A fresh failFast handle's first commands, keys of every shard: each succeeds, and every primary
 * got its link (the keys reached each shard). The first one to a shard other than the seed's
 * failed with VMUX_ERR_NOT_CONNECTED, "no connection was ready".
 */
static void test_failfast_first_commands(void **state)
{
    (void)state;
    vmux *m = open_seed("backlogPolicy=failFast");
    for (int i = 0; i < 30; i++) {
        char key[32], value[32];
        snprintf(key, sizeof key, "failfast:%d", i);
        snprintf(value, sizeof value, "v%d", i);
        vt_must_set_get(m, key, value);
    }
    for (int p = 0; p < vt_cluster_primaries(CLUSTER); p++) {
        vmux_stats st = VMUX_INIT(vmux_stats);
        assert_int_equal(vmux_read_node_stats(m, "127.0.0.1", vt_cluster_port(CLUSTER, p), &st), 0);
        assert_true(st.connects >= 1);
    }
    vmux_close(m);
}

/* ---- a slot migrated under load ---- */

#define MIG_KEYS 20

struct mig_loop {
    vmux *m;
    atomic_bool stop;
    atomic_int failed;
    atomic_int rounds;
    int last[MIG_KEYS];
};

static void mig_worker(void *p)
{
    struct mig_loop *l = p;
    char key[32], value[32];
    for (int n = 1; !atomic_load(&l->stop); n++) {
        for (int i = 0; i < MIG_KEYS; i++) {
            snprintf(key, sizeof key, "{mig}:%d", i);
            snprintf(value, sizeof value, "%d", n);
            if (set_get(l->m, key, value) != 0)
                atomic_fetch_add(&l->failed, 1);
            else
                l->last[i] = n;
        }
        atomic_fetch_add(&l->rounds, 1);
    }
}

struct rounds_wait {
    struct mig_loop *l;
    int until;
};

static bool rounds_done(void *p)
{
    struct rounds_wait *w = p;
    return atomic_load(&w->l->rounds) >= w->until || atomic_load(&w->l->failed) > 0;
}

/* Waits until the loop has done more rounds (or failed a call). */
static void wait_rounds(struct mig_loop *l, int more)
{
    struct rounds_wait w = {l, atomic_load(&l->rounds) + more};
    assert_true(vt_wait_until(rounds_done, &w, 60000));
}

/* Between two batches of keys migrated: the thread makes one more round. */
static void one_round(void *l)
{
    wait_rounds(l, 1);
}

/* The cluster's primaries, each on a connection of its own, with their node ids. */
struct primaries {
    int n;
    redisContext *c[8];
    char id[8][64];
};

static void primaries_open(struct primaries *ps)
{
    ps->n = vt_cluster_primaries(CLUSTER);
    assert_true(ps->n >= 3 && ps->n <= 8);
    for (int p = 0; p < ps->n; p++) {
        ps->c[p] = vt_node_connect(vt_cluster_port(CLUSTER, p));
        redisReply *r = vt_must(ps->c[p], "CLUSTER MYID");
        snprintf(ps->id[p], sizeof ps->id[p], "%s", r->str);
        freeReplyObject(r);
    }
}

static void primaries_close(struct primaries *ps)
{
    for (int p = 0; p < ps->n; p++)
        redisFree(ps->c[p]);
}

/* The slot of tag ("{mig}") and the index of the primary that serves it. */
static long long tag_owner(struct primaries *ps, const char *tag, int *owner)
{
    redisReply *r = vt_must(ps->c[0], "CLUSTER KEYSLOT %s", tag);
    long long slot = r->integer;
    freeReplyObject(r);
    *owner = -1;
    for (int p = 0; p < ps->n && *owner < 0; p++) {
        r = redisCommand(ps->c[p], "GET %s", tag);
        if (r->type != REDIS_REPLY_ERROR)
            *owner = p;
        freeReplyObject(r);
    }
    assert_true(*owner >= 0);
    return slot;
}

/* Ends a migration of slot to primary to: SETSLOT NODE on it, on the source, then the others. */
static void slot_assign(struct primaries *ps, long long slot, int from, int to)
{
    vt_must_ok(ps->c[to], "CLUSTER SETSLOT %lld NODE %s", slot, ps->id[to]);
    vt_must_ok(ps->c[from], "CLUSTER SETSLOT %lld NODE %s", slot, ps->id[to]);
    for (int p = 0; p < ps->n; p++)
        if (p != from && p != to)
            vt_must_ok(ps->c[p], "CLUSTER SETSLOT %lld NODE %s", slot, ps->id[to]);
}

static void test_slot_migrated_under_load(void **state)
{
    (void)state;
    struct primaries ps;
    primaries_open(&ps);
    redisContext **c = ps.c;
    int from;
    long long slot = tag_owner(&ps, "{mig}", &from);
    int to = (from + 1) % ps.n;
    redisReply *r;

    struct mig_loop *l = calloc(1, sizeof *l);
    l->m = open_seed(NULL);
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, mig_worker, l), 0);
    wait_rounds(l, 5);

    vt_must_ok(c[to], "CLUSTER SETSLOT %lld IMPORTING %s", slot, ps.id[from]);
    vt_must_ok(c[from], "CLUSTER SETSLOT %lld MIGRATING %s", slot, ps.id[to]);
    wait_rounds(l, 5); /* keys created now go to the importing node (ASK) */
    vt_migrate_keys(c[from], slot, vt_cluster_port(CLUSTER, to), one_round, l);
    wait_rounds(l, 5);
    slot_assign(&ps, slot, from, to);
    wait_rounds(l, 50); /* the handle's map still says the old owner: MOVED */
    atomic_store(&l->stop, true);
    uv_thread_join(&th);
    assert_int_equal(atomic_load(&l->failed), 0);

    /* every key holds its last value, on the new owner */
    for (int i = 0; i < MIG_KEYS; i++) {
        r = vt_must(c[to], "GET {mig}:%d", i);
        char value[32];
        snprintf(value, sizeof value, "%d", l->last[i]);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_string_equal(r->str, value);
        freeReplyObject(r);
    }
    vmux_close(l->m);
    free(l);
    primaries_close(&ps);
}

/* ---- ASK, then TRYAGAIN from the importing node ---- */

struct retried_wait {
    vmux *m;
    struct vt_async *pc;
    uint64_t until;
};

/* The call has been refused and sent again `until` times, or it ended. */
static bool retried_or_done(void *arg)
{
    struct retried_wait *w = arg;
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(w->m, &st), 0);
    return st.retried >= w->until || vt_async_done(w->pc);
}

/*
 * A two-key MGET during a migration, neither key on the source (it answers ASK) and one of them
 * on the importing node (which, given ASKING, answers TRYAGAIN: the keys are split): the command
 * keeps going to the importing node after ASKING, with TRYAGAIN's backoff, until the migration
 * ends and it runs there. Sent again without ASKING, the importing node answered MOVED back to
 * the source, which answered ASK again, and the call ended with VMUX_ERR_REDIRECT_LOOP in about
 * 100 ms (probe19).
 */
static void test_ask_then_tryagain(void **state)
{
    (void)state;
    struct primaries ps;
    primaries_open(&ps);
    int from;
    long long slot = tag_owner(&ps, "{askt}", &from);
    int to = (from + 1) % ps.n;
    vt_must_ok(ps.c[from], "DEL {askt}:a {askt}:b");
    vmux *m = open_seed(NULL);
    assert_int_equal(set_get(m, "warm", "1"), 0); /* the map is loaded, the links open */

    vt_must_ok(ps.c[to], "CLUSTER SETSLOT %lld IMPORTING %s", slot, ps.id[from]);
    vt_must_ok(ps.c[from], "CLUSTER SETSLOT %lld MIGRATING %s", slot, ps.id[to]);
    vt_must_ok(ps.c[to], "ASKING");
    vt_must_ok(ps.c[to], "SET {askt}:a A"); /* one key moved, the other not there yet */

    struct vt_async pc = {0};
    vmux_callopts opts = VMUX_INIT(vmux_callopts);
    opts.timeout_ms = 30000;
    const char *mget[] = {"MGET", "{askt}:a", "{askt}:b"};
    assert_int_equal(vmux_call_async(m, &opts, 3, mget, NULL, vt_on_async, &pc), 0);
    struct retried_wait w = {m, &pc, 5};
    assert_true(vt_wait_until(retried_or_done, &w, 20000));
    if (atomic_load(&pc.done))
        fail_msg("the MGET ended while its slot was migrating: status %d (%s)", pc.status,
                 pc.reply != NULL ? vmux_reply_str(pc.reply, NULL) : "no reply");

    slot_assign(&ps, slot, from, to);
    assert_true(vt_wait_until(vt_async_done, &pc, 20000));
    assert_int_equal(pc.status, 0);
    assert_int_equal(vmux_reply_get_kind(pc.reply), VMUX_REPLY_ARRAY);
    assert_int_equal(vmux_reply_len(pc.reply), 2);
    assert_string_equal(vmux_reply_str(vmux_reply_element(pc.reply, 0), NULL), "A");
    assert_int_equal(vmux_reply_get_kind(vmux_reply_element(pc.reply, 1)), VMUX_REPLY_NIL);
    vmux_reply_free(pc.reply);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    assert_int_equal(st.cluster_asked, 1); /* one ASK: every resend went after ASKING */
    vmux_close(m);
    vt_must_ok(ps.c[to], "DEL {askt}:a");
    primaries_close(&ps);
}

/* ---- TRYAGAIN's backoff is each command's own ---- */

struct get_loop {
    vmux *m;
    atomic_bool stop;
    atomic_int failed;
};

static void get_worker(void *p)
{
    struct get_loop *l = p;
    const char *get[] = {"GET", "{tga}:a"};
    while (!atomic_load(&l->stop)) {
        vmux_reply *r = NULL;
        if (vmux_call(l->m, NULL, 2, get, NULL, &r) != 0)
            atomic_fetch_add(&l->failed, 1);
        vmux_reply_free(r);
    }
}

/*
 * A two-key MGET whose keys a migration has split (the source answers TRYAGAIN) while another
 * thread's GETs on the same connection are answered all along: the MGET is sent again with a
 * backoff of its own, doubling from 10 ms to 500 ms, so that its 1.5 s deadline sees a dozen
 * resends at most (the quickest draws: 5, 10, 20 ... 250 ms). The backoff was the link's and any
 * reply reset it, so the MGET went again every 5 to 10 ms (about 150 times).
 */
static void test_tryagain_backs_off_per_command(void **state)
{
    (void)state;
    struct primaries ps;
    primaries_open(&ps);
    int from;
    long long slot = tag_owner(&ps, "{tga}", &from);
    int to = (from + 1) % ps.n;
    vt_must_ok(ps.c[from], "DEL {tga}:a {tga}:b");
    vt_must_ok(ps.c[from], "SET {tga}:a x");
    struct get_loop l = {.m = open_seed(NULL)};
    assert_int_equal(set_get(l.m, "warm", "1"), 0);
    vt_must_ok(ps.c[to], "CLUSTER SETSLOT %lld IMPORTING %s", slot, ps.id[from]);
    vt_must_ok(ps.c[from], "CLUSTER SETSLOT %lld MIGRATING %s", slot, ps.id[to]);
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, get_worker, &l), 0);

    vmux_stats before = VMUX_INIT(vmux_stats), after = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(l.m, &before), 0);
    char why[256] = "";
    vmux_callopts opts = VMUX_INIT(vmux_callopts);
    opts.timeout_ms = 1500;
    opts.errbuf = why;
    opts.errlen = sizeof why;
    const char *mget[] = {"MGET", "{tga}:a", "{tga}:b"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(l.m, &opts, 3, mget, NULL, &r), VMUX_ERR_SERVER);
    assert_non_null(strstr(why, "TRYAGAIN"));
    vmux_reply_free(r);
    assert_int_equal(vmux_read_stats(l.m, &after), 0);
    atomic_store(&l.stop, true);
    uv_thread_join(&th);
    assert_int_equal(atomic_load(&l.failed), 0);
    uint64_t resends = after.retried - before.retried;
    if (resends < 3 || resends > 14)
        fail_msg("the MGET was sent again %llu times in its 1.5 s", (unsigned long long)resends);

    vt_must_ok(ps.c[from], "CLUSTER SETSLOT %lld STABLE", slot);
    vt_must_ok(ps.c[to], "CLUSTER SETSLOT %lld STABLE", slot);
    vt_must_ok(ps.c[from], "DEL {tga}:a");
    vmux_close(l.m);
    primaries_close(&ps);
}

/* ---- the mode switch ---- */

/* The endpoint of the handle's error event (written before vmux_open() returns). */
static void on_error_event(const vmux_event *ev, void *userdata)
{
    if (ev->type == VMUX_EVENT_ERROR)
        snprintf(userdata, 64, "%s", ev->endpoint);
}

static void test_cluster_yes_on_standalone_fails(void **state)
{
    (void)state;
    char conf[128], err[256] = "", where[64] = "", want[64];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes", vt_server_port("plain"));
    vmux_config *cfg = NULL;
    assert_int_equal(vmux_config_parse(conf, &cfg, err, sizeof err), 0);
    assert_int_equal(vmux_config_set_event_handler(cfg, on_error_event, where), 0);
    vmux *m = NULL;
    assert_int_equal(vmux_open(cfg, &m, err, sizeof err), VMUX_ERR_CONFIG);
    vmux_config_free(cfg);
    assert_null(m);
    assert_non_null(strstr(err, "cluster=yes"));
    assert_non_null(strstr(err, "not a cluster node"));
    /* the error event names the endpoint as "host:port", as every event does (it gave the host) */
    snprintf(want, sizeof want, "127.0.0.1:%d", vt_server_port("plain"));
    assert_string_equal(where, want);

    /* abortConnect=false: a command submitted at once waits for the answer, and fails with it,
     * its words detection's reason (they said "invalid configuration" alone) */
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,abortConnect=false",
             vt_server_port("plain"));
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof key, "yes-early:%d", i);
        m = vt_open_conf(conf);
        const char *set[] = {"SET", key, "written"};
        vmux_reply *r = NULL;
        vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
        err[0] = '\0';
        assert_int_equal(vmux_call(m, &o, 3, set, NULL, &r), VMUX_ERR_CONFIG);
        assert_null(r);
        if (strstr(err, "cluster=yes, but the server is not a cluster node") == NULL)
            fail_msg("a command of a cluster=yes handle on a standalone server: \"%s\"", err);
        struct vt_async a = {0};
        assert_int_equal(vmux_call_async(m, NULL, 3, set, NULL, vt_on_async, &a), 0);
        assert_true(vt_wait_until(vt_async_done, &a, 10000));
        assert_int_equal(a.status, VMUX_ERR_CONFIG);
        const char *said = a.reply != NULL ? vmux_reply_str(a.reply, NULL) : NULL;
        if (said == NULL || strstr(said, "is not a cluster node") == NULL)
            fail_msg("its async callback's reply: \"%s\"", said != NULL ? said : "(none)");
        vmux_reply_free(a.reply);
        vmux_close(m);
        char *t = vt_admin("plain", "EXISTS %s", key);
        assert_non_null(t);
        assert_string_equal(t, "0"); /* it never reached the standalone server */
        free(t);
    }

    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=auto", vt_server_port("plain"));
    m = vt_open_conf(conf);
    assert_int_equal(set_get(m, "standalone:a", "1"), 0);
    const char *mset[] = {"MSET", "xs:a", "1", "xs:b", "2"}; /* no slots in standalone mode */
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 5, mset, NULL, &r), 0);
    vmux_reply_free(r);
    vmux_close(m);
}

/* How often needle occurs in haystack. */
static int occurrences(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *at = strstr(haystack, needle); at != NULL; at = strstr(at + 1, needle))
        n++;
    return n;
}

/* What a handle told of a detection taken on a guess: its WARN line and its error event. */
struct guessed {
    atomic_bool warned, evented;
    char line[512], reason[512], endpoint[64];
    int code;
};

static void on_guess_log(vmux_log_level level, const char *message, void *userdata)
{
    struct guessed *g = userdata;
    if (level == VMUX_LOG_WARN && strstr(message, "could not ask") != NULL &&
        !atomic_load(&g->warned)) {
        snprintf(g->line, sizeof g->line, "%s", message);
        atomic_store(&g->warned, true);
    }
}

static void on_guess_event(const vmux_event *ev, void *userdata)
{
    struct guessed *g = userdata;
    if (ev->type == VMUX_EVENT_ERROR && !atomic_load(&g->evented)) {
        snprintf(g->reason, sizeof g->reason, "%s", ev->reason);
        snprintf(g->endpoint, sizeof g->endpoint, "%s", ev->endpoint);
        g->code = ev->code;
        atomic_store(&g->evented, true);
    }
}

static bool guess_told(void *arg)
{
    struct guessed *g = arg;
    return atomic_load(&g->warned) && atomic_load(&g->evented);
}

/*
 * cluster=auto with a user that may not run INFO, on a cluster node: the handle cannot ask, takes
 * the server as standalone, and says so at WARN and in an error event (it did so silently, at
 * INFO: then GET of another node's slot failed with MOVED as a server error), the user masked.
 */
static void expect_auto_guess_told(int seed)
{
    char conf[160], where[64];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=auto,user=vmuxnoinfo,password=pw", seed);
    snprintf(where, sizeof where, "127.0.0.1:%d", seed);
    static struct guessed g; /* the handle's callbacks may run until vmux_close() returns */
    memset(&g, 0, sizeof g);
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, on_guess_log, VMUX_LOG_WARN, &g), 0);
    assert_int_equal(vmux_config_set_event_handler(cfg, on_guess_event, &g), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    if (!vt_wait_until(guess_told, &g, 10000))
        fail_msg("cluster=auto refused INFO: warned %d, error event %d", atomic_load(&g.warned),
                 atomic_load(&g.evented));
    vmux_close(m);
    if (strstr(g.line, "refused INFO cluster (NOPERM") == NULL ||
        strstr(g.line, "taken as a standalone server") == NULL ||
        strstr(g.line, "vmuxnoinfo") != NULL)
        fail_msg("the WARN line: %s", g.line);
    assert_int_equal(g.code, VMUX_ERR_SERVER);
    assert_string_equal(g.endpoint, where);
    if (strstr(g.reason, "could not ask whether the server is a cluster node") == NULL ||
        strstr(g.reason, "vmuxnoinfo") != NULL)
        fail_msg("the error event: %s", g.reason);
}

/*
 * cluster=yes with an ACL user that may not run INFO, then one that may not run CLUSTER, on a
 * real cluster node (users made on the seed node, removed after): the open fails and says which
 * command was refused, quoting the server once, the user's name masked. A refused INFO is not
 * reported as "not a cluster node": the node is one.
 */
static void test_cluster_yes_refused_by_acl(void **state)
{
    (void)state;
    int seed = vt_cluster_port(CLUSTER, 0);
    free(vt_node_admin(seed, false, "ACL SETUSER vmuxnoinfo on >pw ~* &* +@all -info"));
    free(vt_node_admin(seed, false, "ACL SETUSER vmuxnocluster on >pw ~* &* +@all -cluster"));
    char conf[160], err[256] = "";
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,user=vmuxnoinfo,password=pw", seed);
    vmux *m = NULL;
    assert_int_equal(vmux_open_str(conf, &m, err, sizeof err), VMUX_ERR_CONFIG);
    assert_null(m);
    if (strstr(err, "cluster=yes, but the server refused INFO cluster (NOPERM") == NULL ||
        strstr(err, "cannot tell whether it is a cluster node") == NULL ||
        strstr(err, "is not a cluster node") != NULL || strstr(err, "vmuxnoinfo") != NULL)
        fail_msg("refused INFO: %s", err);
    expect_auto_guess_told(seed);

    err[0] = '\0';
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes,user=vmuxnocluster,password=pw", seed);
    assert_int_equal(vmux_open_str(conf, &m, err, sizeof err), VMUX_ERR_SERVER);
    assert_null(m);
    if (strstr(err, ": cluster: CLUSTER SLOTS: NOPERM") == NULL ||
        occurrences(err, "CLUSTER SLOTS") != 1 || strstr(err, "vmuxnocluster") != NULL)
        fail_msg("refused CLUSTER: %s", err);
    free(vt_node_admin(seed, false, "ACL DELUSER vmuxnoinfo vmuxnocluster"));
}

static void test_cluster_no_does_not_route(void **state)
{
    (void)state;
    vmux *m = open_seed("cluster=no");
    int moved = 0;
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof key, "norout:%d", i);
        const char *get[] = {"GET", key};
        vmux_reply *r = NULL;
        int rc = vmux_call(m, NULL, 2, get, NULL, &r);
        if (rc == VMUX_ERR_SERVER && strncmp(vmux_reply_str(r, NULL), "MOVED ", 6) == 0)
            moved++;
        else
            assert_int_equal(rc, 0);
        vmux_reply_free(r);
    }
    assert_true(moved > 0);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread_over_all_primaries),
        cmocka_unit_test(test_crossslot_refused),
        cmocka_unit_test(test_hash_tag_together),
        cmocka_unit_test(test_failfast_first_fanout),
        cmocka_unit_test(test_failfast_first_commands),
        cmocka_unit_test(test_slot_migrated_under_load),
        cmocka_unit_test(test_ask_then_tryagain),
        cmocka_unit_test(test_tryagain_backs_off_per_command),
        cmocka_unit_test(test_cluster_yes_on_standalone_fails),
        cmocka_unit_test(test_cluster_yes_refused_by_acl),
        cmocka_unit_test(test_cluster_no_does_not_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Resharding under load (fixture "cluster-reshard": three primaries, no replica, its own since
 * the test moves slots). Sixteen threads share one handle opened on one seed node and run the
 * ledgered load of cluster_load.h (SET ... GET and GET of string keys, INCR of counters, every
 * thread on its own keys), most keys in six slots, two taken from each primary. Meanwhile the
 * test moves those six slots, one after the other, each to the next primary, and then once more
 * to the next, as valkey-cli --cluster reshard does: SETSLOT IMPORTING on the target, SETSLOT
 * MIGRATING on the source, MIGRATE of the slot's keys in batches of 4 while the load runs, then
 * SETSLOT NODE on the target, the source and the other primary. In the second round SETSLOT NODE
 * reaches the source first, and the target only once it was seen answering MOVED (back to the
 * source, still importing): a MOVED ping-pong, which the handle backs off. Then:
 *
 * - 0 errors returned to callers (no deadline is near: each call may take 30 s);
 * - 0 replies to the wrong caller: every value read, every SET's previous value and every INCR
 *   reply is the calling thread's own key's, and the one its ledger says (exact: nothing is
 *   lost, nothing is unknown);
 * - the ledger exact afterwards: each string holds its last acknowledged value, each counter its
 *   base plus the number of acknowledged INCRs (none ran twice, none was lost);
 * - each moved slot's keys are all on its last primary, none anywhere else;
 * - the load did meet the migrations: the primaries answered ASK and MOVED (INFO errorstats),
 *   and a target answered MOVED in the source-first window.
 *
 * A second test gives the cluster cluster-preferred-endpoint-type hostname (no node has a host
 * name, so CLUSTER SLOTS gives "?" with the ip in the metadata, and a migrating slot's source
 * answers ASK <slot> ?:<port>): a GET of a key already migrated is served through ASK at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cluster_load.h"
#include "route/slot.h"
#include "node.h"
#include "testutil.h"

#define CLUSTER "cluster-reshard"
#define NMOVE 6
#define NROUNDS 2 /* each slot moves on twice: 0 -> 1 -> 2 */

static int slot_shard[VMUX_SLOTS];

struct slot_want {
    int shard;
    const int *taken;
    int ntaken;
};

/* A slot of the wanted shard that is not taken yet. */
static bool fresh_slot_of(int slot, void *arg)
{
    struct slot_want *w = arg;
    for (int i = 0; i < w->ntaken; i++)
        if (w->taken[i] == slot)
            return false;
    return slot_shard[slot] == w->shard;
}

static bool any_slot(int slot, void *arg)
{
    (void)slot;
    (void)arg;
    return true;
}

static void setslot(redisContext *c, int slot, const char *how, const char *id)
{
    char s[16];
    snprintf(s, sizeof s, "%d", slot);
    const char *argv[] = {"CLUSTER", "SETSLOT", s, how, id};
    freeReplyObject(vt_must_argv(c, 5, argv));
}

static void node_id(redisContext *c, char *out, size_t len)
{
    const char *argv[] = {"CLUSTER", "MYID"};
    redisReply *r = vt_must_argv(c, 2, argv);
    snprintf(out, len, "%s", r->str);
    freeReplyObject(r);
}

/* A connection to each of the np primaries (c[p]) and its node id (id[p]). */
static void connect_primaries(int np, redisContext **c, char (*id)[64])
{
    for (int p = 0; p < np; p++) {
        c[p] = vt_node_connect(vt_cluster_port(CLUSTER, p));
        node_id(c[p], id[p], sizeof id[p]);
    }
}

/* MIGRATEs the slot's keys from src to port in batches of up to 4, the load running between. */
static void migrate_keys(struct cl_run *run, redisContext *src, int slot, int port)
{
    char s[16], p[16];
    snprintf(s, sizeof s, "%d", slot);
    snprintf(p, sizeof p, "%d", port);
    for (;;) {
        const char *get[] = {"CLUSTER", "GETKEYSINSLOT", s, "4"};
        redisReply *keys = vt_must_argv(src, 4, get);
        size_t n = keys->elements;
        if (n > 0) {
            const char *argv[8 + 4] = {"MIGRATE", "127.0.0.1", p,         "",
                                       "0",       "5000",      "REPLACE", "KEYS"};
            for (size_t i = 0; i < n; i++)
                argv[8 + i] = keys->element[i]->str;
            freeReplyObject(vt_must_argv(src, 8 + (int)n, argv));
        }
        freeReplyObject(keys);
        if (n == 0)
            return;
        cl_wait_ops(run, 3);
    }
}

/* One node's count of a server error (INFO errorstats): MOVED or ASK. */
static long long errorstat1(redisContext *c, const char *name)
{
    char field[64];
    snprintf(field, sizeof field, "errorstat_%s:count=", name);
    const char *argv[] = {"INFO", "errorstats"};
    redisReply *r = vt_must_argv(c, 2, argv);
    const char *at = strstr(r->str, field);
    long long n = at != NULL ? strtoll(at + strlen(field), NULL, 10) : 0;
    freeReplyObject(r);
    return n;
}

/* The sum over the primaries of a server error count. */
static long long errorstat(redisContext **c, int np, const char *name)
{
    long long n = 0;
    for (int p = 0; p < np; p++)
        n += errorstat1(c[p], name);
    return n;
}

struct moved_wait {
    redisContext *c;
    long long before;
};

static bool answered_moved(void *arg)
{
    struct moved_wait *w = arg;
    return errorstat1(w->c, "MOVED") > w->before;
}

/*
 * SETSLOT NODE on the source first: it answers MOVED to the target, which, still importing,
 * answers MOVED back. The target is told once it was seen doing so (at most 2 s later; a few
 * ms under the load). Returns 1 when the ping-pong was seen, 0 when the 2 s passed.
 */
static int setslot_source_first(redisContext *src, redisContext *dst, int slot, const char *id)
{
    struct moved_wait w = {dst, errorstat1(dst, "MOVED")};
    setslot(src, slot, "NODE", id);
    bool seen = vt_wait_until(answered_moved, &w, 2000);
    setslot(dst, slot, "NODE", id);
    return seen;
}

static long long count_in_slot(redisContext *c, int slot)
{
    char s[16];
    snprintf(s, sizeof s, "%d", slot);
    const char *argv[] = {"CLUSTER", "COUNTKEYSINSLOT", s};
    redisReply *r = vt_must_argv(c, 3, argv);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* How many of the load's keys that exist hash to slot. */
static int ledger_keys_in(struct cl_run *run, int slot)
{
    int n = 0;
    for (int t = 0; t < CL_THREADS; t++) {
        for (int i = 0; i < CL_STRINGS; i++) /* a string exists once a SET was acknowledged */
            n += (int)vmux__slot_of(run->t[t].str[i].name, strlen(run->t[t].str[i].name)) == slot &&
                 run->t[t].str[i].acked > 0;
        for (int i = 0; i < CL_COUNTERS; i++)
            n += (int)vmux__slot_of(run->t[t].ctr[i].name, strlen(run->t[t].ctr[i].name)) == slot;
    }
    return n;
}

/* Names the keys: strings 0-5 and counters 0-2 in the moving slots, the rest anywhere. */
static void place_keys(struct cl_run *run, char tags[NMOVE][16])
{
    int cursor = 1000000;
    for (int t = 0; t < CL_THREADS; t++) {
        for (int i = 0; i < CL_STRINGS; i++) {
            char tag[16];
            if (i < NMOVE)
                snprintf(tag, sizeof tag, "%s", tags[(t + i) % NMOVE]);
            else
                cl_tag_for(any_slot, NULL, &cursor, tag, sizeof tag);
            cl_name_string(run, t, i, tag);
        }
        for (int i = 0; i < CL_COUNTERS; i++) {
            char tag[16];
            if (i < 3)
                snprintf(tag, sizeof tag, "%s", tags[(t + i + 3) % NMOVE]);
            else
                cl_tag_for(any_slot, NULL, &cursor, tag, sizeof tag);
            cl_name_counter(run, t, i, tag);
        }
    }
}

static void test_reshard_under_load(void **state)
{
    (void)state;
    int np = vt_cluster_primaries(CLUSTER);
    assert_int_equal(np, 3);
    cl_read_shards(CLUSTER, slot_shard);
    redisContext *c[3];
    char id[3][64];
    connect_primaries(np, c, id);

    /* two slots of each primary, each named by a hash tag */
    int slot[NMOVE], cursor = 0;
    char tags[NMOVE][16];
    for (int i = 0; i < NMOVE; i++) {
        struct slot_want w = {i % np, slot, i};
        cl_tag_for(fresh_slot_of, &w, &cursor, tags[i], sizeof tags[i]);
        slot[i] = (int)vmux__slot_of(tags[i], strlen(tags[i]));
    }

    struct cl_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=30000", vt_cluster_port(CLUSTER, 0));
    run->m = vt_open_conf(conf);
    run->timeout_ms = 30000;
    run->prefix = "rs";
    run->dead_shard = -1;
    run->slot_shard = slot_shard;
    place_keys(run, tags);
    cl_start(run);
    cl_wait_ops(run, 50);

    long long asks = errorstat(c, np, "ASK"), moves = errorstat(c, np, "MOVED");
    int owner[NMOVE], pingpongs = 0;
    for (int i = 0; i < NMOVE; i++)
        owner[i] = slot_shard[slot[i]];
    for (int round = 0; round < NROUNDS; round++) {
        for (int i = 0; i < NMOVE; i++) {
            int from = owner[i], to = (from + 1) % np, other = (from + 2) % np;
            setslot(c[to], slot[i], "IMPORTING", id[from]);
            setslot(c[from], slot[i], "MIGRATING", id[to]);
            cl_wait_ops(run, 3); /* with both states set: ASK for keys already moved */
            migrate_keys(run, c[from], slot[i], vt_cluster_port(CLUSTER, to));
            cl_wait_ops(run, 3);
            if (round == NROUNDS - 1) {
                pingpongs += setslot_source_first(c[from], c[to], slot[i], id[to]);
            } else {
                setslot(c[to], slot[i], "NODE", id[to]);
                setslot(c[from], slot[i], "NODE", id[to]);
            }
            setslot(c[other], slot[i], "NODE", id[to]);
            owner[i] = to;
            cl_wait_ops(run, 5); /* the handle's map still names the old owner: MOVED */
        }
    }
    cl_wait_ops(run, 50);
    cl_stop(run);
    asks = errorstat(c, np, "ASK") - asks;
    moves = errorstat(c, np, "MOVED") - moves;

    long ops, incr, unknown, maybe_lost;
    cl_totals(run, &ops, &incr, &unknown, &maybe_lost);
    printf("reshard: %d slots moved %d times under load; %ld calls by %d threads (%ld INCRs); "
           "%lld ASK and %lld MOVED replies followed; %d of %d source-first windows saw a MOVED "
           "ping-pong; %d errors, %d wrong replies, %d INCRs beyond the ledger\n",
           NMOVE, NROUNDS, ops, CL_THREADS, incr, asks, moves, pingpongs, NMOVE,
           atomic_load(&run->errors), atomic_load(&run->wrong), atomic_load(&run->twice));
    assert_true(asks > 0); /* the load did meet the migrations */
    assert_true(moves > 0);
    assert_true(pingpongs > 0);
    assert_int_equal(atomic_load(&run->errors), 0);
    assert_int_equal(atomic_load(&run->wrong), 0);
    assert_int_equal(atomic_load(&run->twice), 0);
    assert_int_equal(unknown, 0);
    assert_int_equal(cl_check_ledger(run, true), 0);

    for (int i = 0; i < NMOVE; i++)
        for (int p = 0; p < np; p++)
            assert_int_equal(count_in_slot(c[p], slot[i]),
                             p == owner[i] ? ledger_keys_in(run, slot[i]) : 0);
    vmux_close(run->m);
    free(run);
    for (int p = 0; p < np; p++)
        redisFree(c[p]);
}

static void config_set_all(redisContext **c, int np, const char *name, const char *value)
{
    for (int p = 0; p < np; p++) {
        const char *argv[] = {"CONFIG", "SET", name, value};
        freeReplyObject(vt_must_argv(c[p], 4, argv));
    }
}

static void must_set(redisContext *c, const char *key, const char *value)
{
    const char *argv[] = {"SET", key, value};
    freeReplyObject(vt_must_argv(c, 3, argv));
}

static void migrate_key(redisContext *src, int port, const char *key)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    const char *argv[] = {"MIGRATE", "127.0.0.1", p, key, "0", "5000"};
    freeReplyObject(vt_must_argv(src, 6, argv));
}

/*
 * cluster-preferred-endpoint-type hostname with no host names: the source of a migrating slot
 * answers ASK <slot> ?:<port> for a key already moved, and a handle (whose map knows the target
 * by its ip metadata) follows it at once: the value, one ASK counted. Without it the GET waited
 * for refreshed maps, which sent it back to the source, until REDIRECT_LOOP or its deadline.
 */
static void test_ask_unknown_host(void **state)
{
    (void)state;
    int np = vt_cluster_primaries(CLUSTER);
    cl_read_shards(CLUSTER, slot_shard);
    redisContext *c[3];
    char id[3][64];
    connect_primaries(np, c, id);
    config_set_all(c, np, "cluster-preferred-endpoint-type", "hostname");
    int cursor = 2000000;
    char tag[16], k1[32], k2[32];
    struct slot_want w = {0, NULL, 0};
    cl_tag_for(fresh_slot_of, &w, &cursor, tag, sizeof tag);
    int s = (int)vmux__slot_of(tag, strlen(tag));
    snprintf(k1, sizeof k1, "{%s}1", tag);
    snprintf(k2, sizeof k2, "{%s}2", tag);
    must_set(c[0], k1, "v1");
    must_set(c[0], k2, "v2");
    setslot(c[1], s, "IMPORTING", id[0]);
    setslot(c[0], s, "MIGRATING", id[1]);
    migrate_key(c[0], vt_cluster_port(CLUSTER, 1), k1);

    char want[64];
    snprintf(want, sizeof want, "ASK %d ?:%d", s, vt_cluster_port(CLUSTER, 1));
    const char *get[] = {"GET", k1};
    redisReply *direct = redisCommandArgv(c[0], 2, get, NULL);
    assert_non_null(direct);
    if (direct->type != REDIS_REPLY_ERROR || strcmp(direct->str, want) != 0)
        fail_msg("the source answered GET %s with '%s', not '%s'", k1,
                 direct->str != NULL ? direct->str : "?", want);
    freeReplyObject(direct);

    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=yes", vt_cluster_port(CLUSTER, 0));
    vmux *m = vt_open_conf(conf);
    vmux_stats a = VMUX_INIT(vmux_stats), b = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &a), 0);
    char err[256] = "";
    vmux_callopts o =
        VMUX_INIT(vmux_callopts, .timeout_ms = 3000, .errbuf = err, .errlen = sizeof err);
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &o, 2, get, NULL, &r);
    const char *got = vmux_reply_str(r, NULL);
    if (rc != 0 || got == NULL || strcmp(got, "v1") != 0)
        fail_msg("GET %s during the migration: %s '%s' (%s)", k1, vmux_err_name(rc),
                 got != NULL ? got : "", err);
    vmux_reply_free(r);
    assert_int_equal(vmux_read_stats(m, &b), 0);
    assert_int_equal(b.cluster_asked - a.cluster_asked, 1);
    vmux_close(m);

    migrate_key(c[0], vt_cluster_port(CLUSTER, 1), k2);
    setslot(c[1], s, "NODE", id[1]);
    setslot(c[0], s, "NODE", id[1]);
    setslot(c[2], s, "NODE", id[1]);
    config_set_all(c, np, "cluster-preferred-endpoint-type", "ip");
    for (int p = 0; p < np; p++)
        redisFree(c[p]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshard_under_load),
        cmocka_unit_test(test_ask_unknown_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

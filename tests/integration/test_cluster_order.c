/*
 * One thread's order across a slot's move (fixture "cluster-order": three primaries, no replica,
 * DEBUG enabled, its own since the tests move slots; route/fence.c, probe 45). Keys get APPEND
 * "<seq>," pipelined, and each key must read back 1, 2, 3... in order: 0 inversions (an APPEND
 * that ran after a younger one of its key), 0 missing, 0 doubled, 0 failed.
 *
 * The first test is the load: one thread pipelines APPENDs to eight keys of one slot (IN_FLIGHT in
 * flight; it waits for a completion, with a deadline) while two others run synchronous INCRs on
 * other keys of that slot, and the test moves the slot from primary to primary MOVES times
 * (IMPORTING, MIGRATING, MIGRATE of its keys, SETSLOT NODE on the target, the source and the
 * third), each move once PER_MOVE more APPENDs have completed, so APPENDs are in flight whenever
 * a move ends: ASKs, MOVEDs and resends, in order. The second and third tests build the case the
 * fence is for, on demand (see there): the handle learns of the move while its old primary still
 * holds older APPENDs, and new ones must wait for them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cluster_load.h"
#include "node.h"
#include "route/slot.h"
#include "testutil.h"

#define CLUSTER "cluster-order"
#define NKEYS 8
#define IN_FLIGHT 64
#define SIDES 2
#define MOVES 100
#define PER_MOVE 512  /* APPENDs acknowledged between one move and the next */
#define WAIT_MS 20000 /* the deadline of every wait for the load to progress */

static int slot_shard[VMUX_SLOTS];

struct order_run {
    vmux *m;
    uint32_t flags; /* the APPENDs' VMUX_CALL_* flags */
    int timeout_ms; /* and their timeout_ms (0: the handle's asyncTimeout) */
    char tag[16];
    char key[NKEYS][48];
    unsigned long seq[NKEYS]; /* the submitter's: APPENDs of key k accepted so far */
    atomic_int in_flight;
    atomic_ulong acked, failed, timed_out, closed; /* timed_out and closed: of the failed */
    atomic_ulong side_ops, side_errors;
    atomic_ulong refused, stalled; /* the submitter's: calls refused, windows that never opened */
    unsigned long acked_goal;      /* the mover's: vt_wait_until() for acked >= this */
    atomic_bool stop;
};

static void on_append(int status, vmux_reply *reply, void *arg)
{
    struct order_run *run = arg;
    if (status == 0)
        atomic_fetch_add(&run->acked, 1);
    else
        atomic_fetch_add(&run->failed, 1);
    if (status == VMUX_ERR_TIMEOUT)
        atomic_fetch_add(&run->timed_out, 1);
    if (status == VMUX_ERR_CLOSED)
        atomic_fetch_add(&run->closed, 1);
    vmux_reply_free(reply);
    atomic_fetch_sub(&run->in_flight, 1);
}

/* Conditions for vt_wait_until(). */
static bool window_open(void *arg)
{
    struct order_run *run = arg;
    return atomic_load(&run->in_flight) < IN_FLIGHT || atomic_load(&run->stop);
}

static bool acked_reached(void *arg)
{
    struct order_run *run = arg;
    return atomic_load(&run->acked) + atomic_load(&run->failed) >= run->acked_goal;
}

/* The pipelined APPENDs, key after key, IN_FLIGHT in flight until told to stop. */
static void *submitter(void *arg)
{
    struct order_run *run = arg;
    unsigned long i = 0;
    while (!atomic_load(&run->stop)) {
        if (!vt_wait_until(window_open, run, WAIT_MS)) {
            atomic_fetch_add(&run->stalled, 1);
            break;
        }
        if (atomic_load(&run->stop))
            break;
        int k = (int)(i++ % NKEYS);
        char v[32];
        snprintf(v, sizeof v, "%lu,", run->seq[k] + 1);
        const char *argv[] = {"APPEND", run->key[k], v};
        atomic_fetch_add(&run->in_flight, 1);
        if (vmux_call_async(run->m, NULL, 3, argv, NULL, on_append, run) != 0) {
            fprintf(stderr, "APPEND refused: %s\n", vmux_last_error());
            atomic_fetch_sub(&run->in_flight, 1);
            atomic_fetch_add(&run->refused, 1);
            break;
        }
        run->seq[k]++;
    }
    return NULL;
}

/* Waits until `more` APPENDs beyond those counted so far have completed; false at the deadline. */
static bool wait_acks(struct order_run *run, unsigned long more)
{
    run->acked_goal = atomic_load(&run->acked) + atomic_load(&run->failed) + more;
    return vt_wait_until(acked_reached, run, WAIT_MS);
}

/* Another thread's synchronous INCRs on keys of the same slot. */
static void *side(void *arg)
{
    struct order_run *run = arg;
    unsigned long n = 0;
    while (!atomic_load(&run->stop)) {
        char key[48];
        snprintf(key, sizeof key, "{%s}side:%lu", run->tag, n++ % 16);
        const char *argv[] = {"INCR", key};
        vmux_reply *r = NULL;
        if (vmux_call(run->m, NULL, 2, argv, NULL, &r) != 0)
            atomic_fetch_add(&run->side_errors, 1);
        atomic_fetch_add(&run->side_ops, 1);
        vmux_reply_free(r);
    }
    return NULL;
}

struct owned_by {
    int primary, except;
};

/* Whether slot is the primary's of arg (struct owned_by), and not its except. */
static bool slot_owned_by(int slot, void *arg)
{
    const struct owned_by *o = arg;
    return slot_shard[slot] == o->primary && slot != o->except;
}

static void setslot(redisContext *c, int slot, const char *how, const char *id)
{
    char s[16];
    snprintf(s, sizeof s, "%d", slot);
    const char *argv[] = {"CLUSTER", "SETSLOT", s, how, id};
    freeReplyObject(vt_must_argv(c, 5, argv));
}

/* Readies slot's move from primary `from` to `to`: IMPORTING, MIGRATING, then MIGRATE of its keys
 * in batches of 100. The slot then still belongs to `from` for the cluster. */
static void migrate_keys(redisContext **c, char (*id)[64], int slot, int from, int to)
{
    char s[16], p[16];
    snprintf(s, sizeof s, "%d", slot);
    snprintf(p, sizeof p, "%d", vt_cluster_port(CLUSTER, to));
    setslot(c[to], slot, "IMPORTING", id[from]);
    setslot(c[from], slot, "MIGRATING", id[to]);
    for (;;) {
        const char *get[] = {"CLUSTER", "GETKEYSINSLOT", s, "100"};
        redisReply *keys = vt_must_argv(c[from], 4, get);
        size_t n = keys->elements;
        if (n > 0) {
            const char **argv = calloc(8 + n, sizeof *argv);
            assert_non_null(argv);
            const char *head[] = {"MIGRATE", "127.0.0.1", p, "", "0", "5000", "REPLACE", "KEYS"};
            memcpy(argv, head, sizeof head);
            for (size_t i = 0; i < n; i++)
                argv[8 + i] = keys->element[i]->str;
            freeReplyObject(vt_must_argv(c[from], 8 + (int)n, argv));
            free(argv);
        }
        freeReplyObject(keys);
        if (n == 0)
            break;
    }
}

/* Moves slot from primary `from` to `to`: its keys, then SETSLOT NODE on the target, the source
 * and the third. */
static void move_slot(redisContext **c, char (*id)[64], int slot, int from, int to)
{
    migrate_keys(c, id, slot, from, to);
    setslot(c[to], slot, "NODE", id[to]);
    setslot(c[from], slot, "NODE", id[to]);
    setslot(c[3 - from - to], slot, "NODE", id[to]);
}

/* What the keys of runs read back: APPENDs submitted, and those that ran out of order (after a
 * younger one of their key), went missing or ran twice. */
struct tally {
    unsigned long submitted, inversions, missing, doubled;
};

/* Reads key k back into t. */
static void check_key(struct order_run *run, int k, struct tally *t)
{
    vmux_bytes b = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 10000);
    assert_int_equal(vmux_get(run->m, &o, VMUX_STR(run->key[k]), &b), 0);
    assert_non_null(b.ptr);
    unsigned long n = run->seq[k], prev = 0;
    unsigned char *seen = calloc(n + 2, 1);
    assert_non_null(seen);
    for (char *p = b.ptr; *p != '\0';) {
        unsigned long s = strtoul(p, &p, 10);
        if (*p == ',')
            p++;
        if (s >= 1 && s <= n && seen[s]++)
            t->doubled++;
        if (s < prev) {
            if (t->inversions < 4)
                printf("  %s: APPEND %lu ran after %lu\n", run->key[k], s, prev);
            t->inversions++;
        }
        prev = s;
    }
    for (unsigned long s = 1; s <= n; s++)
        t->missing += !seen[s];
    t->submitted += n;
    free(seen);
    vmux_bytes_free(&b);
}

/* Every APPEND ran, once, in its key's order. */
static void assert_in_order(const struct tally *t)
{
    assert_int_equal(t->inversions, 0);
    assert_int_equal(t->missing, 0);
    assert_int_equal(t->doubled, 0);
}

/* Reads every key of run back into t, once every APPENDs of it has completed. */
static void check_run(struct order_run *run, struct tally *t)
{
    assert_int_equal(atomic_load(&run->in_flight), 0);
    for (int k = 0; k < NKEYS; k++)
        check_key(run, k, t);
}

/* A hiredis connection to each primary of the fixture, and its node id. */
static void connect_primaries(redisContext **c, char (*id)[64])
{
    assert_int_equal(vt_cluster_primaries(CLUSTER), 3);
    cl_read_shards(CLUSTER, slot_shard);
    for (int p = 0; p < 3; p++) {
        c[p] = vt_node_connect(vt_cluster_port(CLUSTER, p));
        const char *argv[] = {"CLUSTER", "MYID"};
        redisReply *r = vt_must_argv(c[p], 2, argv);
        snprintf(id[p], sizeof id[p], "%s", r->str);
        freeReplyObject(r);
    }
}

/* A run on m over NKEYS empty keys "{tag}<name>:<k>" of a slot of the primary's, the tag found
 * from *cursor on. */
static struct order_run *new_run(vmux *m, int primary, int *cursor, const char *name)
{
    struct order_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    run->m = m;
    struct owned_by want = {primary, -1};
    cl_tag_for(slot_owned_by, &want, cursor, run->tag, sizeof run->tag);
    for (int k = 0; k < NKEYS; k++) {
        snprintf(run->key[k], sizeof run->key[k], "{%s}%s:%d", run->tag, name, k);
        const char *argv[] = {"DEL", run->key[k]};
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(m, NULL, 2, argv, NULL, &r), 0);
        vmux_reply_free(r);
    }
    return run;
}

static void test_order_across_moves(void **state)
{
    (void)state;
    redisContext *c[3];
    char id[3][64];
    connect_primaries(c, id);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=30000", vt_cluster_port(CLUSTER, 0));
    int cursor = 3000000;
    struct order_run *run = new_run(vt_open_conf(conf), 0, &cursor, "ord");
    int slot = (int)vmux__slot_of(run->tag, strlen(run->tag));

    pthread_t sub, sides[SIDES];
    assert_int_equal(pthread_create(&sub, NULL, submitter, run), 0);
    for (int t = 0; t < SIDES; t++)
        assert_int_equal(pthread_create(&sides[t], NULL, side, run), 0);
    int owner = 0, moves = 0;
    bool flowing = true;
    while (moves < MOVES && (flowing = wait_acks(run, PER_MOVE))) {
        int to = (owner + 1) % 3;
        move_slot(c, id, slot, owner, to);
        owner = to;
        moves++;
    }
    atomic_store(&run->stop, true);
    pthread_join(sub, NULL);
    for (int t = 0; t < SIDES; t++)
        pthread_join(sides[t], NULL);
    assert_int_equal(vmux_drain(run->m, 30000), 0);

    struct tally t = {0};
    check_run(run, &t);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(run->m, &st), 0);
    printf("order: %d moves of slot %d; %lu APPENDs (%lu acknowledged, %lu failed), %lu side "
           "INCRs (%lu failed); %llu MOVED, %llu ASK followed; %lu inversions, %lu missing, %lu "
           "doubled\n",
           moves, slot, t.submitted, atomic_load(&run->acked), atomic_load(&run->failed),
           atomic_load(&run->side_ops), atomic_load(&run->side_errors),
           (unsigned long long)st.cluster_moved, (unsigned long long)st.cluster_asked, t.inversions,
           t.missing, t.doubled);
    assert_true(flowing); /* APPENDs kept completing: no move waited WAIT_MS in vain */
    assert_int_equal(moves, MOVES);
    assert_int_equal(atomic_load(&run->refused), 0);
    assert_int_equal(atomic_load(&run->stalled), 0);
    assert_true(st.cluster_moved > 0);
    assert_int_equal(atomic_load(&run->failed), 0);
    assert_int_equal(atomic_load(&run->side_errors), 0);
    assert_int_equal(atomic_load(&run->acked), t.submitted);
    assert_in_order(&t);
    vmux_close(run->m);
    free(run);
    for (int p = 0; p < 3; p++)
        redisFree(c[p]);
}

/*
 * The second test: the slot's move is learnt from a refreshed map while its old primary still
 * holds the handle's older APPENDs. Each round readies the move (keys migrated, the target and
 * the third told), then in one write tells the old primary and puts it to sleep (DEBUG SLEEP), so
 * the BURST APPENDs per key the handle sends next wait in its socket. A GET on an empty slot that
 * the test moved quietly from the third primary hears MOVED there, which asks for a refresh; a
 * node that is awake gives the map with the slot's new owner, and BURST more APPENDs per key
 * follow. Those must wait (the fence) until the older ones, woken to MOVED, have run on the new
 * owner.
 */
#define ROUNDS 9
#define BURST 4
#define SLEEP_S "0.5"    /* well within VMUX_ROUTER_FENCE_CAP_MS (1000 ms) */
#define LONG_SLEEP_S "2" /* well past it: the held APPENDs go on while the older ones wait */

/* What the handle said: map refreshes (events), fences lifted holding commands (DEBUG log). */
struct fence_watch {
    atomic_int refreshed, lifted_holding, capped;
};

static void on_event(const vmux_event *e, void *arg)
{
    struct fence_watch *w = arg;
    if (e->type == VMUX_EVENT_MAP_REFRESHED)
        atomic_fetch_add(&w->refreshed, 1);
}

/* "cluster: fence lifted (why) after N ms: M commands held go on[, their order ... not kept]" */
static void on_log(vmux_log_level level, const char *message, void *arg)
{
    (void)level;
    struct fence_watch *w = arg;
    const char *p = strstr(message, "fence lifted");
    if (p == NULL || (p = strstr(p, " ms: ")) == NULL)
        return;
    if (strtoul(p + 5, NULL, 10) > 0)
        atomic_fetch_add(&w->lifted_holding, 1);
    if (strstr(p, "not kept") != NULL)
        atomic_fetch_add(&w->capped, 1);
}

/* per_key APPENDs to each key, pipelined. */
static void append_burst(struct order_run *run, int per_key)
{
    for (int i = 0; i < per_key; i++) {
        for (int k = 0; k < NKEYS; k++) {
            char v[32];
            snprintf(v, sizeof v, "%lu,", run->seq[k] + 1);
            const char *argv[] = {"APPEND", run->key[k], v};
            vmux_callopts o =
                VMUX_INIT(vmux_callopts, .flags = run->flags, .timeout_ms = run->timeout_ms);
            atomic_fetch_add(&run->in_flight, 1);
            assert_int_equal(vmux_call_async(run->m, &o, 3, argv, NULL, on_append, run), 0);
            run->seq[k]++;
        }
    }
}

static bool all_done(void *arg)
{
    struct order_run *run = arg;
    return atomic_load(&run->in_flight) == 0;
}

struct refresh_wait {
    struct order_run *run;
    struct fence_watch *w;
    int before;
};

/* A refresh has replaced the map, or the older APPENDs are done (the refresh asked the node
 * that sleeps, and its MOVEDs told the handle first). */
static bool refreshed_or_done(void *arg)
{
    struct refresh_wait *rw = arg;
    return atomic_load(&rw->w->refreshed) > rw->before || all_done(rw->run);
}

/* How the old primary behaves in a round: how long it sleeps, whether it then closes the
 * handle's connections (CLIENT KILL, before it reads what they sent while it slept). */
struct round_kind {
    const char *sleep_s;
    bool kill;
};

/* In one write: SETSLOT slot NODE to_id, then DEBUG SLEEP, and CLIENT KILL of every other
 * client if kind->kill; the replies are left for woke(). */
static void flip_and_sleep(redisContext *c, int slot, const char *to_id,
                           const struct round_kind *kind)
{
    assert_int_equal(redisAppendCommand(c, "CLUSTER SETSLOT %d NODE %s", slot, to_id), REDIS_OK);
    assert_int_equal(redisAppendCommand(c, "DEBUG SLEEP %s", kind->sleep_s), REDIS_OK);
    if (kind->kill)
        assert_int_equal(redisAppendCommand(c, "CLIENT KILL USER default SKIPME yes"), REDIS_OK);
    int done = 0;
    while (!done)
        assert_int_equal(redisBufferWrite(c, &done), REDIS_OK);
}

/* flip_and_sleep()'s replies, none an error. */
static void woke(redisContext *c, const struct round_kind *kind)
{
    for (int i = 0; i < 2 + kind->kill; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        if (r->type == REDIS_REPLY_ERROR)
            fail_msg("%s", r->str);
        freeReplyObject(r);
    }
}

/* The second and third tests' handle (events and DEBUG log watched), primaries, tag cursor. */
struct refresh_ctx {
    vmux *m;
    struct fence_watch w;
    redisContext *c[3];
    char id[3][64];
    int cursor;
};

static void refresh_open(struct refresh_ctx *x, int cursor)
{
    memset(x, 0, sizeof *x);
    connect_primaries(x->c, x->id);
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=30000,clusterRefreshMinInterval=1",
             vt_cluster_port(CLUSTER, 0));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_event_handler(cfg, on_event, &x->w), 0);
    assert_int_equal(vmux_config_set_log(cfg, on_log, VMUX_LOG_DEBUG, &x->w), 0);
    x->m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    x->cursor = cursor;
}

static void refresh_close(struct refresh_ctx *x)
{
    if (x->m != NULL)
        vmux_close(x->m);
    for (int p = 0; p < 3; p++)
        redisFree(x->c[p]);
}

/* A round under way: its run, its slot and primaries, and whether a fence stands. */
struct round {
    struct order_run *run;
    int slot, from, to;
    bool fenced; /* the map changed while the older APPENDs were still with the old primary */
};

/*
 * A round's first half: a slot of primary `from` with fresh keys moves to `to`, the old primary
 * asleep for kind->sleep_s with BURST APPENDs per key in its socket, learnt by a refresh (see
 * above; a slot a MOVED moved in the last 5 s would keep the MOVED's word over a refresh, hence
 * fresh keys each round). Returns once the map changed or the older APPENDs are done.
 */
static struct round round_start(struct refresh_ctx *x, int from, int to,
                                const struct round_kind *kind)
{
    int other = 3 - from - to;
    struct round rd = {new_run(x->m, from, &x->cursor, "ref"), 0, from, to, false};
    rd.run->flags = kind->kill ? VMUX_CALL_RETRY_SAFE : 0; /* resent after the connection broke */
    rd.slot = (int)vmux__slot_of(rd.run->tag, strlen(rd.run->tag));
    struct owned_by want = {other, -1};
    char tag[16], key[32];
    cl_tag_for(slot_owned_by, &want, &x->cursor, tag, sizeof tag);
    int quiet = (int)vmux__slot_of(tag, strlen(tag));
    move_slot(x->c, x->id, quiet, other, to);
    slot_shard[quiet] = to;

    migrate_keys(x->c, x->id, rd.slot, from, to);
    setslot(x->c[to], rd.slot, "NODE", x->id[to]);
    setslot(x->c[other], rd.slot, "NODE", x->id[to]);
    flip_and_sleep(x->c[from], rd.slot, x->id[to], kind);
    struct refresh_wait rw = {rd.run, &x->w, atomic_load(&x->w.refreshed)};
    append_burst(rd.run, BURST);
    snprintf(key, sizeof key, "{%s}quiet", tag);
    const char *get[] = {"GET", key};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(x->m, NULL, 2, get, NULL, &r), 0);
    vmux_reply_free(r);
    assert_true(vt_wait_until(refreshed_or_done, &rw, WAIT_MS));
    rd.fenced = atomic_load(&x->w.refreshed) > rw.before && !all_done(rd.run);
    return rd;
}

/* A round's end: every APPEND done, the old primary awake again; the run is freed. */
static void round_end(struct refresh_ctx *x, struct round *rd, const struct round_kind *kind)
{
    assert_true(vt_wait_until(all_done, rd->run, WAIT_MS));
    woke(x->c[rd->from], kind);
    slot_shard[rd->slot] = rd->to;
    free(rd->run);
    rd->run = NULL;
}

/* One round (round_start()), BURST more APPENDs per key, checked into t. */
static void refresh_round(struct refresh_ctx *x, int from, int to, const struct round_kind *kind,
                          struct tally *t)
{
    struct round rd = round_start(x, from, to, kind);
    append_burst(rd.run, BURST);
    assert_true(vt_wait_until(all_done, rd.run, WAIT_MS));
    assert_int_equal(atomic_load(&rd.run->failed), 0);
    check_run(rd.run, t);
    round_end(x, &rd, kind);
}

static void test_order_when_a_refresh_moves_the_slot(void **state)
{
    (void)state;
    struct refresh_ctx x;
    refresh_open(&x, 4000000);
    struct tally t = {0};
    for (int i = 0; i < ROUNDS; i++)
        refresh_round(&x, i % 3, (i + 1) % 3, &(struct round_kind){SLEEP_S, false}, &t);
    printf("refresh: %d rounds; %lu APPENDs; %d maps refreshed, %d fences lifted holding "
           "commands (%d at the cap); %lu inversions, %lu missing, %lu doubled\n",
           ROUNDS, t.submitted, atomic_load(&x.w.refreshed), atomic_load(&x.w.lifted_holding),
           atomic_load(&x.w.capped), t.inversions, t.missing, t.doubled);
    assert_in_order(&t);
    assert_true(atomic_load(&x.w.lifted_holding) >= 1); /* the scenario happened at least once */
    assert_int_equal(atomic_load(&x.w.capped), 0);
    refresh_close(&x);
}

/*
 * The third: the old primary sleeps past VMUX_ROUTER_FENCE_CAP_MS, and the held APPENDs go on
 * without waiting for it (their order past the older ones is then not kept, as documented).
 * Rounds until one raised a fence (a refresh that asked the sleeping node raises none): at most 9.
 */
static void test_held_commands_go_on_at_the_cap(void **state)
{
    (void)state;
    struct refresh_ctx x;
    refresh_open(&x, 6000000);
    struct tally t = {0};
    int rounds = 0;
    while (rounds < 9 && atomic_load(&x.w.capped) == 0) {
        t = (struct tally){0};
        refresh_round(&x, rounds % 3, (rounds + 1) % 3, &(struct round_kind){LONG_SLEEP_S, false},
                      &t);
        rounds++;
    }
    printf("cap: %d rounds; %d fences lifted at the cap; the last round's %lu APPENDs: %lu "
           "inversions, %lu missing, %lu doubled\n",
           rounds, atomic_load(&x.w.capped), t.submitted, t.inversions, t.missing, t.doubled);
    assert_int_equal(atomic_load(&x.w.capped), 1);
    assert_true(t.inversions > 0); /* the held ones ran before the older ones woke */
    assert_int_equal(t.missing, 0);
    assert_int_equal(t.doubled, 0);
    refresh_close(&x);
}

/*
 * The fourth: the old primary, awake again, closes the handle's connections before it reads the
 * older APPENDs (sent VMUX_CALL_RETRY_SAFE), so the connection that held them ends and they are
 * sent again. They must still run before the held ones.
 */
static void test_order_when_the_old_connection_breaks(void **state)
{
    (void)state;
    struct refresh_ctx x;
    refresh_open(&x, 7000000);
    struct tally t = {0};
    for (int i = 0; i < ROUNDS; i++)
        refresh_round(&x, i % 3, (i + 1) % 3, &(struct round_kind){SLEEP_S, true}, &t);
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(x.m, &st), 0);
    printf("broken: %d rounds; %lu APPENDs, %llu resent; %d fences lifted holding commands; %lu "
           "inversions, %lu missing, %lu doubled\n",
           ROUNDS, t.submitted, (unsigned long long)st.resent, atomic_load(&x.w.lifted_holding),
           t.inversions, t.missing, t.doubled);
    assert_in_order(&t);
    assert_true(atomic_load(&x.w.lifted_holding) >= 1);
    assert_true(st.resent > 0);
    refresh_close(&x);
}

/* Rounds (at most 9) until one raised a fence: a refresh that asked the sleeping node raises
 * none. The fenced round is returned under way; the others are ended (and go unchecked). */
static struct round fenced_round(struct refresh_ctx *x, const struct round_kind *kind)
{
    for (int i = 0; i < 9; i++) {
        struct round rd = round_start(x, i % 3, (i + 1) % 3, kind);
        if (rd.fenced)
            return rd;
        append_burst(rd.run, BURST);
        round_end(x, &rd, kind);
    }
    fail_msg("no round of 9 raised a fence");
    return (struct round){0};
}

/*
 * The fifth: held APPENDs keep their deadlines. The newer burst, sent with a 100 ms timeout
 * while the old primary sleeps 0.5 s, times out held: never sent, so none of them ran.
 */
static void test_held_commands_keep_their_deadlines(void **state)
{
    (void)state;
    struct refresh_ctx x;
    refresh_open(&x, 8000000);
    struct round_kind kind = {SLEEP_S, false};
    struct round rd = fenced_round(&x, &kind);
    rd.run->timeout_ms = 100;
    append_burst(rd.run, BURST);
    assert_true(vt_wait_until(all_done, rd.run, WAIT_MS));
    struct tally t = {0};
    check_run(rd.run, &t);
    printf("deadlines: %lu acknowledged, %lu timed out; %lu missing, %lu inversions, %lu "
           "doubled\n",
           atomic_load(&rd.run->acked), atomic_load(&rd.run->timed_out), t.missing, t.inversions,
           t.doubled);
    assert_int_equal(atomic_load(&rd.run->acked), BURST * NKEYS);
    assert_int_equal(atomic_load(&rd.run->timed_out), BURST * NKEYS);
    assert_int_equal(t.missing, BURST * NKEYS); /* the held ones, never sent */
    assert_int_equal(t.inversions, 0);
    assert_int_equal(t.doubled, 0);
    round_end(&x, &rd, &kind);
    refresh_close(&x);
}

/* Whether the value of key on c, if any, holds no APPEND after the first BURST. */
static bool only_first_burst(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "GET %s", key);
    assert_non_null(r);
    bool only = true;
    for (char *p = r->type == REDIS_REPLY_STRING ? r->str : ""; *p != '\0';) {
        unsigned long seq = strtoul(p, &p, 10);
        only = only && seq <= BURST;
        if (*p == ',')
            p++;
    }
    freeReplyObject(r);
    return only;
}

/*
 * The sixth: vmux_close() with a fence standing completes the held APPENDs with
 * VMUX_ERR_CLOSED before it returns, as it does the older ones the old primary holds, and the
 * held ones were never sent.
 */
static void test_close_fails_held_commands(void **state)
{
    (void)state;
    struct refresh_ctx x;
    refresh_open(&x, 9000000);
    struct round_kind kind = {SLEEP_S, false};
    struct round rd = fenced_round(&x, &kind);
    append_burst(rd.run, BURST);
    vmux_close(x.m);
    x.m = NULL;
    printf("close: %lu closed, %lu acknowledged, %d in flight\n", atomic_load(&rd.run->closed),
           atomic_load(&rd.run->acked), atomic_load(&rd.run->in_flight));
    assert_int_equal(atomic_load(&rd.run->in_flight), 0);
    assert_int_equal(atomic_load(&rd.run->closed), 2 * BURST * NKEYS);
    woke(x.c[rd.from], &kind);
    for (int k = 0; k < NKEYS; k++)
        for (int p = 0; p < 3; p++)
            assert_true(only_first_burst(x.c[p], rd.run->key[k]));
    slot_shard[rd.slot] = rd.to;
    free(rd.run);
    refresh_close(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_across_moves),
        cmocka_unit_test(test_order_when_a_refresh_moves_the_slot),
        cmocka_unit_test(test_held_commands_go_on_at_the_cap),
        cmocka_unit_test(test_order_when_the_old_connection_breaks),
        cmocka_unit_test(test_held_commands_keep_their_deadlines),
        cmocka_unit_test(test_close_fails_held_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Failover under load (fixture "cluster-failover2": three primaries with a replica each, its own
 * since one case kills a node). Sixteen threads share one handle opened on the first primary
 * (which neither case fails) and run the ledgered load of cluster_load.h, each thread's keys all
 * in one shard (thread t's in shard t % 3), so that the threads of a shard that stops wait for
 * it while the others go on. Two cases, one after the other on the same cluster:
 *
 * - planned: `CLUSTER FAILOVER` on shard 1's replica (the old primary stays, as a replica);
 * - kill: shard 2's primary is SIGKILLed and the cluster promotes its replica.
 *
 * The failing shard's threads make their calls back to back, so that calls are in flight on the
 * failing primary when it goes. The other shards' threads are paced (see cluster_load.h): each
 * has a call due every PACE_US, and their completions count what the library served of that
 * steady offered load. Back to back, they would measure how the 2 cores' scheduler splits the
 * CPU among 16 threads, the I/O thread and 6 servers instead: traced per 10 ms, that split swung
 * one shard's rate tenfold against another's for seconds at a time, and a server waiting 15 to
 * 140 ms for a core stopped all of its shard's calls, the event or not, so the ratio ranged from
 * 0.15 to 9. The event changes the split too: the killed server and its shard's threads free CPU,
 * the promotion takes a little. The pace is low enough (550 calls/s for 11 threads) that the
 * machine serves it on time with other builds and cluster tests running (a call then takes up to
 * several ms: at 2 or 4 ms apart the threads fell behind, both windows alike); a stall of up to
 * CL_MAX_LAG_MS is caught up, a longer one loses calls in whichever window it falls.
 *
 * Before the event the test writes a barrier key on the shard's primary and waits for WAIT 1
 * there: every write acknowledged before the barrier was replicated, so it must survive. The
 * promotion is seen by polling the replica's ROLE on a direct connection. Then:
 *
 * - writes to the failed shard resume within cluster-node-timeout + 2 s of the promotion (for
 *   each of its threads, the end of its longest time without a success that began before the
 *   poll saw the promotion, measured from that moment);
 * - the other shards keep serving during the outage (the event to the last of those ends, at
 *   least MIN_WINDOW_MS): no SLICE_MS slice of it without completions, and their completions in
 *   it at least MIN_HEALTHY_RATIO (the 80 %) of theirs in the window of the same length
 *   just before the event, both counted on the test's clock. An I/O thread that waited for the
 *   dead node, a refresh storm or a lock held across the outage would cost them calls;
 * - 0 errors returned to callers but INCRs (not retry-safe) that ended in
 *   VMUX_ERR_CONNECTION_LOST, whose outcome is unknown; 0 replies to the wrong caller; no INCR
 *   ran twice (each counter within [acknowledged, acknowledged + unknown], and every INCR reply
 *   as well);
 * - afterwards every acknowledged write is there, except, in the kill case, writes acknowledged
 *   by the dead primary after the barrier (asynchronous replication may lose them); the planned
 *   failover loses none.
 *
 * It prints the outage, the resume time after the promotion and the healthy shards' throughput
 * ratio (docs/cluster.md quotes them).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cluster_load.h"
#include "route/slot.h"
#include "node.h"
#include "testutil.h"

#define CLUSTER "cluster-failover2"
#define NODE_TIMEOUT_MS 2000 /* the fixture's cluster-node-timeout (valkey-fixture.sh) */
#define RESUME_BOUND_MS (NODE_TIMEOUT_MS + 2000)
#define BEFORE_MS 7000     /* load before the event: the compared window ends at the event */
#define MIN_WINDOW_MS 2000 /* the shortest window in which throughput is compared */
#define SLICE_MS 250       /* no slice of the outage without healthy completions */
#define PACE_US 20000      /* a healthy shard's thread: one call due every 20 ms */
#define MIN_HEALTHY_RATIO 0.8

static int slot_shard[VMUX_SLOTS];

static bool slot_in(int slot, void *arg)
{
    return slot_shard[slot] == *(int *)arg;
}

/* The port of the node serving slot as primary now, from the first node's CLUSTER SLOTS. */
static int primary_of(int slot)
{
    int port = vt_slot_primary(vt_cluster_port(CLUSTER, 0), false, slot);
    assert_true(port > 0);
    return port;
}

/* The integer after "field:" in an INFO reply from port, or -1. */
static long info_field(int port, const char *section, const char *field)
{
    redisContext *c = vt_node_connect(port);
    redisReply *r = vt_must(c, "INFO %s", section);
    long v = (long)vt_info_field(r->str, field);
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static bool is_primary(void *arg)
{
    redisReply *r = redisCommand(arg, "ROLE");
    bool yes = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
               strcmp(r->element[0]->str, "master") == 0;
    freeReplyObject(r);
    return yes;
}

/*
 * Polls the replica's ROLE every 10 ms (vt_wait_until's 1 ms would take CPU from the load, on
 * the outage's clock) until it says master; false after timeout_ms.
 */
static bool wait_promoted(redisContext *replica, int timeout_ms)
{
    uint64_t deadline = vt_now_ms() + (uint64_t)timeout_ms;
    while (!is_primary(replica)) {
        if (vt_now_ms() >= deadline)
            return false;
        struct timespec ms10 = {0, 10000000};
        nanosleep(&ms10, NULL);
    }
    return true;
}

struct since {
    uint64_t ns;
};

static bool time_passed(void *arg)
{
    return vt_now_ns() >= ((struct since *)arg)->ns;
}

struct resumed {
    struct cl_run *run;
    int shard;
    uint64_t after_ns;
};

/* Every thread of the shard had a success after after_ns. */
static bool shard_resumed(void *arg)
{
    struct resumed *w = arg;
    for (int t = 0; t < CL_THREADS; t++)
        if (t % 3 == w->shard && atomic_load(&w->run->t[t].last_ok) <= w->after_ns)
            return false;
    return true;
}

static void place_keys(struct cl_run *run)
{
    int cursor = 0;
    for (int t = 0; t < CL_THREADS; t++) {
        int home = t % 3;
        char tag[16];
        for (int i = 0; i < CL_STRINGS; i++) {
            cl_tag_for(slot_in, &home, &cursor, tag, sizeof tag);
            cl_name_string(run, t, i, tag);
        }
        for (int i = 0; i < CL_COUNTERS; i++) {
            cl_tag_for(slot_in, &home, &cursor, tag, sizeof tag);
            cl_name_counter(run, t, i, tag);
        }
    }
}

/* Writes a key on the shard's primary at port and waits until a replica has it. */
static void barrier(struct cl_run *run, int shard, int port)
{
    int cursor = 5000000;
    char tag[16];
    cl_tag_for(slot_in, &shard, &cursor, tag, sizeof tag);
    char key[64];
    snprintf(key, sizeof key, "{%s}:%s:barrier", tag, run->prefix);
    cl_barrier(run, port, key);
}

/* The calls per second the paced threads of the shards other than shard are due to make. */
static double offered_rate(int shard)
{
    int paced = 0;
    for (int t = 0; t < CL_THREADS; t++)
        paced += t % 3 != shard;
    return paced * 1e6 / PACE_US;
}

struct figures {
    double outage_max_ms, outage_min_ms, resume_ms, ratio, before_rate, during_rate;
    uint64_t outage_end;
    int idle_slices; /* SLICE_MS slices of the outage window without a healthy completion */
};

static void measure(struct cl_run *run, int shard, uint64_t ev, uint64_t promoted,
                    struct figures *f)
{
    f->outage_max_ms = 0;
    f->outage_min_ms = 1e12;
    f->outage_end = 0;
    for (int t = 0; t < CL_THREADS; t++) {
        if (t % 3 != shard)
            continue;
        double gap = (double)run->t[t].max_gap / 1e6;
        f->outage_max_ms = gap > f->outage_max_ms ? gap : f->outage_max_ms;
        f->outage_min_ms = gap < f->outage_min_ms ? gap : f->outage_min_ms;
        if (run->t[t].gap_end > f->outage_end)
            f->outage_end = run->t[t].gap_end;
    }
    f->resume_ms = ((double)f->outage_end - (double)promoted) / 1e6;
    uint64_t len = f->outage_end - ev; /* at least MIN_WINDOW_MS: 100 ms are too few to count */
    len = len > MIN_WINDOW_MS * 1000000ULL ? len : MIN_WINDOW_MS * 1000000ULL;
    uint64_t from =
        ev - len > run->start_ns + 1000000000ULL ? ev - len : run->start_ns + 1000000000ULL;
    f->before_rate =
        (double)cl_done_between(run, shard, true, from, ev) / ((double)(ev - from) / 1e9);
    f->during_rate = (double)cl_done_between(run, shard, true, ev, ev + len) / ((double)len / 1e9);
    f->ratio = f->during_rate / f->before_rate;
    f->idle_slices = 0;
    for (uint64_t at = ev; at + SLICE_MS * 1000000ULL <= ev + len; at += SLICE_MS * 1000000ULL)
        f->idle_slices += cl_done_between(run, shard, true, at, at + SLICE_MS * 1000000ULL) == 0;
}

static void run_case(bool planned, int shard, const char *prefix)
{
    cl_read_shards(CLUSTER, slot_shard);
    struct cl_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    run->timeout_ms = 30000;
    run->prefix = prefix;
    run->incr_may_be_lost = true;
    run->dead_shard = shard;
    run->slot_shard = slot_shard;
    place_keys(run);
    for (int t = 0; t < CL_THREADS; t++)
        run->t[t].period_ns = t % 3 == shard ? 0 : PACE_US * 1000ULL;

    int any = 0, home = shard;
    char tag[16];
    cl_tag_for(slot_in, &home, &any, tag, sizeof tag);
    int primary = primary_of((int)vmux__slot_of(tag, strlen(tag)));
    int replica = vt_cluster_replica_of(CLUSTER, primary);
    long pid = planned ? 0 : info_field(primary, "server", "process_id");
    assert_true(planned || pid > 1);
    assert_int_not_equal(primary, vt_cluster_port(CLUSTER, 0)); /* the seed stays up */

    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=30000", vt_cluster_port(CLUSTER, 0));
    run->m = vt_open_conf(conf);
    cl_start(run);
    cl_wait_ops(run, 50);
    struct since warm = {run->start_ns + (uint64_t)BEFORE_MS * 1000000ULL};
    assert_true(vt_wait_until(time_passed, &warm, BEFORE_MS + 60000));

    barrier(run, shard, primary);
    redisContext *rc = vt_node_connect(replica);
    uint64_t ev = vt_now_ns();
    atomic_store(&run->event_ns, ev);
    if (planned)
        freeReplyObject(vt_must(rc, "CLUSTER FAILOVER"));
    else
        assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    assert_true(wait_promoted(rc, 60000));
    uint64_t promoted = vt_now_ns();
    atomic_store(&run->promoted_ns, promoted);
    redisFree(rc);
    struct resumed w = {run, shard, promoted};
    bool resumed = vt_wait_until(shard_resumed, &w, 60000);
    struct since window = {ev + (uint64_t)(MIN_WINDOW_MS + 100) * 1000000ULL};
    assert_true(vt_wait_until(time_passed, &window, MIN_WINDOW_MS + 60000));
    cl_wait_ops(run, 50);
    cl_stop(run);
    assert_true(resumed);

    struct figures f;
    measure(run, shard, ev, promoted, &f);
    long ops, incr, unknown, maybe_lost;
    cl_totals(run, &ops, &incr, &unknown, &maybe_lost);
    int missing = cl_check_ledger(run, false);
    printf("%s: promotion seen %.0f ms after the event; shard %d's threads without a success "
           "for %.0f to %.0f ms, all served again %.0f ms after the promotion (bound %d); other "
           "shards %.0f calls/s during the outage, %.0f before, of %.0f offered (ratio %.2f, %d "
           "idle %d ms slices); "
           "%ld calls, %ld "
           "INCRs acknowledged, %ld unknown; %d errors, %d wrong replies, %d INCRs beyond the "
           "ledger; %ld writes acknowledged after the barrier, of which %d lost by the server\n",
           planned ? "CLUSTER FAILOVER" : "SIGKILL", (double)(promoted - ev) / 1e6, shard,
           f.outage_min_ms, f.outage_max_ms, f.resume_ms, RESUME_BOUND_MS, f.during_rate,
           f.before_rate, offered_rate(shard), f.ratio, f.idle_slices, SLICE_MS, ops, incr, unknown,
           atomic_load(&run->errors), atomic_load(&run->wrong), atomic_load(&run->twice),
           maybe_lost, missing);
    assert_int_equal(atomic_load(&run->errors), 0);
    assert_int_equal(atomic_load(&run->wrong), 0);
    assert_int_equal(atomic_load(&run->twice), 0);
    if (planned)
        assert_int_equal(missing, 0);
    assert_true(f.resume_ms <= RESUME_BOUND_MS);
    assert_int_equal(f.idle_slices, 0);
    assert_true(f.ratio >= MIN_HEALTHY_RATIO);
    vmux_close(run->m);
    free(run);
}

static void test_planned_failover_under_load(void **state)
{
    (void)state;
    run_case(true, 1, "pf");
}

static void test_primary_killed_under_load(void **state)
{
    (void)state;
    run_case(false, 2, "kf");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planned_failover_under_load),
        cmocka_unit_test(test_primary_killed_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * One thread's order across a slot's move (fixture "cluster-order": three primaries, no replica,
 * its own since the test moves a slot; route/fence.c, probe 45). One thread pipelines async
 * APPEND "<seq>," to eight keys of one slot (64 in flight) while two other threads run
 * synchronous INCRs on other keys of that slot, and the test moves the slot from primary to
 * primary again and again (IMPORTING, MIGRATING, MIGRATE of its keys, SETSLOT NODE on the target,
 * the source and the third). The first MOVED patches the handle's map while older APPENDs are
 * still in flight to the old owner; they come back with MOVED one by one and are resent. Each key
 * must then read back 1, 2, 3... in order: 0 inversions (an APPEND that ran before an older one
 * of its key), 0 missing, 0 doubled, 0 failed.
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
#include <time.h>

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
#define RUN_MS 30000 /* moves for this long, one every ~0.2 s */

static int slot_shard[VMUX_SLOTS];

struct order_run {
    vmux *m;
    char tag[16];
    char key[NKEYS][48];
    unsigned long seq[NKEYS]; /* the submitter's: APPENDs of key k accepted so far */
    atomic_int in_flight;
    atomic_ulong acked, failed;
    atomic_ulong side_ops, side_errors;
    atomic_bool stop;
};

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void on_append(int status, vmux_reply *reply, void *arg)
{
    struct order_run *run = arg;
    if (status == 0)
        atomic_fetch_add(&run->acked, 1);
    else
        atomic_fetch_add(&run->failed, 1);
    vmux_reply_free(reply);
    atomic_fetch_sub(&run->in_flight, 1);
}

/* The pipelined APPENDs, key after key, IN_FLIGHT at most in flight. */
static void *submitter(void *arg)
{
    struct order_run *run = arg;
    unsigned long i = 0;
    while (!atomic_load(&run->stop)) {
        if (atomic_load(&run->in_flight) >= IN_FLIGHT) {
            msleep(1);
            continue;
        }
        int k = (int)(i % NKEYS);
        char v[32];
        snprintf(v, sizeof v, "%lu,", run->seq[k] + 1);
        const char *argv[] = {"APPEND", run->key[k], v};
        atomic_fetch_add(&run->in_flight, 1);
        if (vmux_call_async(run->m, NULL, 3, argv, NULL, on_append, run) != 0) {
            atomic_fetch_sub(&run->in_flight, 1);
            msleep(5);
            continue;
        }
        run->seq[k]++;
        if ((++i & 15) == 0)
            msleep(1);
    }
    return NULL;
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

static bool slot_of_first(int slot, void *arg)
{
    (void)arg;
    return slot_shard[slot] == 0;
}

static void setslot(redisContext *c, int slot, const char *how, const char *id)
{
    char s[16];
    snprintf(s, sizeof s, "%d", slot);
    const char *argv[] = {"CLUSTER", "SETSLOT", s, how, id};
    freeReplyObject(vt_must_argv(c, 5, argv));
}

/* Moves slot from primary `from` to `to` (the third told last), its keys in batches of 100. */
static void move_slot(redisContext **c, char (*id)[64], int slot, int from, int to)
{
    int other = 3 - from - to;
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
        msleep(20);
    }
    setslot(c[to], slot, "NODE", id[to]);
    setslot(c[from], slot, "NODE", id[to]);
    setslot(c[other], slot, "NODE", id[to]);
}

/* Reads key k back: counts the APPENDs that ran out of order, missing and doubled. */
static void check_key(struct order_run *run, int k, unsigned long *inversions,
                      unsigned long *missing, unsigned long *doubled)
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
            (*doubled)++;
        if (s < prev) {
            if (*inversions < 4)
                printf("  %s: APPEND %lu ran after %lu\n", run->key[k], s, prev);
            (*inversions)++;
        }
        prev = s;
    }
    for (unsigned long s = 1; s <= n; s++)
        *missing += !seen[s];
    free(seen);
    vmux_bytes_free(&b);
}

static void test_order_across_moves(void **state)
{
    (void)state;
    assert_int_equal(vt_cluster_primaries(CLUSTER), 3);
    cl_read_shards(CLUSTER, slot_shard);
    redisContext *c[3];
    char id[3][64];
    for (int p = 0; p < 3; p++) {
        c[p] = vt_node_connect(vt_cluster_port(CLUSTER, p));
        const char *argv[] = {"CLUSTER", "MYID"};
        redisReply *r = vt_must_argv(c[p], 2, argv);
        snprintf(id[p], sizeof id[p], "%s", r->str);
        freeReplyObject(r);
    }
    struct order_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    int cursor = 3000000;
    cl_tag_for(slot_of_first, NULL, &cursor, run->tag, sizeof run->tag);
    int slot = (int)vmux__slot_of(run->tag, strlen(run->tag));
    char conf[128];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,syncTimeout=30000", vt_cluster_port(CLUSTER, 0));
    run->m = vt_open_conf(conf);
    for (int k = 0; k < NKEYS; k++) {
        snprintf(run->key[k], sizeof run->key[k], "{%s}ord:%d", run->tag, k);
        const char *argv[] = {"DEL", run->key[k]};
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(run->m, NULL, 2, argv, NULL, &r), 0);
        vmux_reply_free(r);
    }

    pthread_t sub, sides[SIDES];
    assert_int_equal(pthread_create(&sub, NULL, submitter, run), 0);
    for (int t = 0; t < SIDES; t++)
        assert_int_equal(pthread_create(&sides[t], NULL, side, run), 0);
    uint64_t end = vt_now_ms() + RUN_MS;
    int owner = 0, moves = 0;
    msleep(300);
    while (vt_now_ms() < end) {
        int to = (owner + 1) % 3;
        move_slot(c, id, slot, owner, to);
        owner = to;
        moves++;
        msleep(100);
    }
    atomic_store(&run->stop, true);
    pthread_join(sub, NULL);
    for (int t = 0; t < SIDES; t++)
        pthread_join(sides[t], NULL);
    assert_int_equal(vmux_drain(run->m, 30000), 0);

    unsigned long submitted = 0, inversions = 0, missing = 0, doubled = 0;
    for (int k = 0; k < NKEYS; k++) {
        submitted += run->seq[k];
        check_key(run, k, &inversions, &missing, &doubled);
    }
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(run->m, &st), 0);
    printf("order: %d moves of slot %d; %lu APPENDs (%lu acknowledged, %lu failed), %lu side "
           "INCRs (%lu failed); %llu MOVED, %llu ASK followed; %lu inversions, %lu missing, %lu "
           "doubled\n",
           moves, slot, submitted, atomic_load(&run->acked), atomic_load(&run->failed),
           atomic_load(&run->side_ops), atomic_load(&run->side_errors),
           (unsigned long long)st.cluster_moved, (unsigned long long)st.cluster_asked, inversions,
           missing, doubled);
    assert_true(moves >= 10);
    assert_true(st.cluster_moved > 0);
    assert_int_equal(atomic_load(&run->failed), 0);
    assert_int_equal(atomic_load(&run->side_errors), 0);
    assert_int_equal(atomic_load(&run->acked), submitted);
    assert_int_equal(inversions, 0);
    assert_int_equal(missing, 0);
    assert_int_equal(doubled, 0);
    vmux_close(run->m);
    free(run);
    for (int p = 0; p < 3; p++)
        redisFree(c[p]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_across_moves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

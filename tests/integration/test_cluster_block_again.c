/*
 * A blocking pop sent again after a topology change ended its block (fixture "cluster-bagain":
 * three primaries with a replica each, its own, since both tests change it). Its deadline (block
 * time plus timeout_ms) counts from the first send, so the handle sends it again with what is
 * left of its block time: the new node answers nil at the block's end, before the deadline, as
 * the first would have. Sent with its block time whole (before helper-228), with a timeout_ms
 * shorter than the time it blocked first, the deadline came before the new block's end:
 * VMUX_ERR_TIMEOUT, its pool connection closed, and an element the server popped then was lost.
 *
 * - slot move: a BLPOP blocks on its slot's primary; once it blocked longer than its timeout_ms,
 *   the slot moves to another primary, and the old owner answers the pop with MOVED.
 * - failover: the same pop; its primary's replica takes over (CLUSTER FAILOVER), and the old
 *   primary, demoted, answers the pop with MOVED (Valkey 8 does; a failover's UNBLOCKED, which
 *   it did not give a pop here, is faults.cluster_fake test_unblocked_resent_timeout_words).
 *
 * The keys are new at each run, so that a run on a fixture an earlier run changed finds the
 * slot's owner (and its replica) where they are.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "node.h"
#include "readkeys.h"
#include "route/slot.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-bagain"
#define BLOCK_MS 10000
#define TIMEOUT_MS 300
#define WAIT_MS 20000

/* One BLPOP on its own thread, and its outcome. */
struct popper {
    vmux *m;
    char key[64];
    pthread_t thread;
    uint64_t started_ns, done_ns;
    int rc;
    bool popped; /* it got an element */
    char err[640];
};

static void *pop_thread(void *arg)
{
    struct popper *p = arg;
    vmux_str k = {p->key, strlen(p->key)};
    vmux_bytes key = {0}, value = {0};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = TIMEOUT_MS, .errbuf = p->err,
                                .errlen = sizeof p->err);
    p->rc = vmux_bpop(p->m, &o, VMUX_HEAD, &k, 1, BLOCK_MS, &key, &value);
    p->done_ns = vt_now_ns();
    p->popped = key.ptr != NULL;
    vmux_bytes_free(&key);
    vmux_bytes_free(&value);
    return NULL;
}

/* The pop blocks on port, and has blocked longer than its timeout_ms: once sent again, less
 * than its block time is left of its deadline. */
struct blocked {
    struct popper *p;
    int port;
};

static bool blocked_long(void *arg)
{
    const struct blocked *b = arg;
    return vt_node_info(b->port, "clients", "blocked_clients:") >= 1 &&
           vt_now_ns() - b->p->started_ns > (uint64_t)(TIMEOUT_MS + 100) * 1000000u;
}

/* The replica took over, and the old primary knows it is one no more. */
struct swap {
    int promoted, demoted;
};

static bool swapped(void *arg)
{
    const struct swap *w = arg;
    return vt_node_is_primary(w->promoted) && !vt_node_is_primary(w->demoted);
}

/* Starts a pop of a new key of tag, and waits until it blocked long on the slot's primary. */
static int start_pop(struct popper *p, const char *tag)
{
    p->m = vt_open(CLUSTER, NULL);
    snprintf(p->key, sizeof p->key, "bagain:%llu{%s}", (unsigned long long)vt_now_ns(), tag);
    int slot = (int)vmux__slot_of(p->key, strlen(p->key));
    int owner = vt_slot_primary(vt_cluster_port(CLUSTER, 0), false, slot);
    p->started_ns = vt_now_ns();
    assert_int_equal(pthread_create(&p->thread, NULL, pop_thread, p), 0);
    struct blocked b = {p, owner};
    assert_true(vt_poll_until(blocked_long, &b, WAIT_MS, 10));
    return owner;
}

/*
 * The pop, sent again to another node after what ended its block there (after), its block time
 * cut to what was left of it, answered nil (nothing was pushed) at its block's end, not
 * VMUX_ERR_TIMEOUT at its deadline.
 */
static void expect_nil(struct popper *p, const char *after)
{
    pthread_join(p->thread, NULL);
    uint64_t took_ms = (p->done_ns - p->started_ns) / 1000000u;
    if (p->rc != 0 || p->popped)
        fail_msg("the BLPOP sent again after %s: %s%s: '%s'", after, vmux_err_name(p->rc),
                 p->popped ? " (popped an element: none was pushed)" : "", p->err);
    if (took_ms + 50 < BLOCK_MS) /* its block was cut by what it had blocked: never more */
        fail_msg("the BLPOP sent again after %s answered nil after %llu ms, before its %d ms "
                 "block's end",
                 after, (unsigned long long)took_ms, BLOCK_MS);
    print_message("the BLPOP sent again after %s: nil after %llu ms\n", after,
                  (unsigned long long)took_ms);
    vmux_close(p->m);
}

static void test_slot_move(void **state)
{
    (void)state;
    struct popper p = {0};
    int from = start_pop(&p, "mv");
    int slot = (int)vmux__slot_of(p.key, strlen(p.key));
    int to = vt_cluster_other_primary(CLUSTER, from);
    char *from_id = vt_node_myid(from), *to_id = vt_node_myid(to);
    free(vt_node_admin(to, false, "CLUSTER SETSLOT %d IMPORTING %s", slot, from_id));
    free(vt_node_admin(from, false, "CLUSTER SETSLOT %d MIGRATING %s", slot, to_id));
    redisContext *c = vt_node_connect(from);
    vt_migrate_keys(c, slot, to, NULL, NULL);
    redisFree(c);
    free(vt_node_admin(to, false, "CLUSTER SETSLOT %d NODE %s", slot, to_id));
    free(vt_node_admin(from, false, "CLUSTER SETSLOT %d NODE %s", slot, to_id));
    expect_nil(&p, "MOVED");
    free(from_id);
    free(to_id);
}

/* A plain CLUSTER FAILOVER: the demoted primary answers the blocked BLPOP with MOVED. */
static void test_failover(void **state)
{
    (void)state;
    struct popper p = {0};
    int old = start_pop(&p, "fo");
    int promoted = vt_cluster_replica_of(CLUSTER, old);
    free(vt_node_admin(promoted, false, "CLUSTER FAILOVER"));
    struct swap w = {promoted, old};
    assert_true(vt_poll_until(swapped, &w, WAIT_MS, 10));
    expect_nil(&p, "MOVED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_move),
        cmocka_unit_test(test_failover),
    };
    vt_filter_tests();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

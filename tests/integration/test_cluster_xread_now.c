/*
 * A blocking XREAD from "$" on a cluster whose block a topology change ends (fixture
 * "cluster-xread": three primaries with a replica each, its own, since both tests change it).
 * "$" means "after the newest entry when the read blocks": sent again after the server ended its
 * block, the read would wait from the resend's "now" and skip the entries added in between, so
 * the handle fails it with words instead (VMUX_OP_FROM_NOW). Each test adds entries on the new
 * owner while the read still blocks on the old one, so that a resend would return a batch that
 * starts after entries the server holds:
 *
 * - slot move: the read (vmux_call()) blocks on the slot's primary; the slot moves to another
 *   primary, which gets n=1..3 before the old owner learns it moved and answers the blocked read
 *   with MOVED. A second read with an explicit id, of a key in the same slot, is sent again as
 *   before and gets the entry added after it. A third, from "+" (the last entry: on a stream
 *   still empty it waits for the next, as "$" does), fails as the "$" read: sent again it would
 *   return n=3 alone.
 *
 * The keys are new at each run, so that a run on a fixture an earlier run changed finds the
 * slot's owner (and its replica) where they are.
 * - failover: the read (vmux_xread()) blocks on the slot's primary; the primary is stopped
 *   (SIGSTOP), its replica takes over (CLUSTER FAILOVER TAKEOVER) and gets n=1..3, and the old
 *   primary, let go (SIGCONT), turns replica and unblocks the read (UNBLOCKED).
 *
 * Without the fix the read came back with n=4, added once its resend blocked again.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#define CLUSTER "cluster-xread"
#define BLOCK_MS 30000
#define WAIT_MS 20000

/* One blocked read on its own thread: its outcome, and the n of the first entry it got. */
struct reader {
    vmux *m;
    const char *key, *id; /* id "$": from now */
    bool typed;           /* vmux_xread(), else vmux_call() */
    pthread_t thread;
    int rc;
    long first; /* -1: no entry */
    char err[640];
    atomic_bool done;
};

/* The n of an entry's fields ("n", value), or -1. */
static long n_of(const char *v, size_t len)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < 31 ? len : 31), v);
    return len > 0 ? atol(buf) : -1;
}

static void read_typed(struct reader *r, const vmux_callopts *o)
{
    vmux_str keys[] = {{r->key, strlen(r->key)}}, ids[] = {{r->id, strlen(r->id)}};
    vmux_stream_batch_array b = {0};
    r->rc = vmux_xread(r->m, o, keys, ids, 1, 0, BLOCK_MS, &b);
    if (r->rc == 0 && b.count > 0 && b.items[0].entries.count > 0 &&
        b.items[0].entries.items[0].fields.count >= 2) {
        const vmux_bytes *v = &b.items[0].entries.items[0].fields.items[1];
        r->first = n_of(v->ptr, v->len);
    }
    vmux_stream_batch_array_free(&b);
}

/* [[key, [[id, [field, value...]]...]]]: the first entry's first value. */
static void read_generic(struct reader *r, const vmux_callopts *o)
{
    char block[16];
    snprintf(block, sizeof block, "%d", BLOCK_MS);
    const char *argv[] = {"XREAD", "BLOCK", block, "STREAMS", r->key, r->id};
    vmux_reply *rep = NULL;
    r->rc = vmux_call(r->m, o, 6, argv, NULL, &rep);
    const vmux_reply *fields = vmux_reply_element(
        vmux_reply_element(vmux_reply_element(vmux_reply_element(rep, 0), 1), 0), 1);
    size_t len;
    const char *v = vmux_reply_str(vmux_reply_element(fields, 1), &len);
    if (r->rc == 0 && v != NULL)
        r->first = n_of(v, len);
    vmux_reply_free(rep);
}

static void *read_thread(void *arg)
{
    struct reader *r = arg;
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = r->err, .errlen = sizeof r->err);
    r->first = -1;
    if (r->typed)
        read_typed(r, &o);
    else
        read_generic(r, &o);
    atomic_store(&r->done, true);
    return NULL;
}

static void start_reader(struct reader *r)
{
    assert_int_equal(pthread_create(&r->thread, NULL, read_thread, r), 0);
}

/* A port's blocked_clients reaching a count. */
struct blocked {
    int port;
    long long at_least;
};

static bool blocked_on(void *arg)
{
    const struct blocked *b = arg;
    return vt_node_info(b->port, "clients", "blocked_clients:") >= b->at_least;
}

/* The reader finished, or the port blocks as many clients as the resent reads would make. */
struct resent_or_done {
    struct reader *r;
    struct blocked b;
};

static bool resent_or_done(void *arg)
{
    struct resent_or_done *w = arg;
    return atomic_load(&w->r->done) || blocked_on(&w->b);
}

/* XADD key * n <n> on the node at port, directly; whether it added (an ID came back). */
static bool try_add(int port, const char *key, int n)
{
    char *r = vt_node_admin(port, false, "XADD %s * n %d", key, n);
    bool added = r != NULL && r[0] >= '0' && r[0] <= '9';
    if (!added)
        print_error("XADD %s on 127.0.0.1:%d: %s\n", key, port, r != NULL ? r : "(no reply)");
    free(r);
    return added;
}

static void add_entry(int port, const char *key, int n)
{
    if (!try_add(port, key, n))
        fail_msg("XADD %s n %d on 127.0.0.1:%d failed", key, n, port);
}

/*
 * The outcome the fix gives a "$" (or "+") read: its ending's error reply, with the words; without
 * the fix it returned n=4, skipping n=1..3 that the server holds.
 */
static void expect_not_resent(const struct reader *r, const char *ended_by)
{
    if (r->rc == 0)
        fail_msg("the blocked \"%s\" read was sent again and returned a batch starting at n=%ld, "
                 "while the server holds n=1..3, added while it blocked",
                 r->id, r->first);
    if (r->rc != VMUX_ERR_SERVER || strstr(r->err, ended_by) == NULL ||
        strstr(r->err, "is not sent again") == NULL ||
        strstr(r->err, "read on from the last ID you have") == NULL)
        fail_msg("the \"%s\" read: %s: %s", r->id, vmux_err_name(r->rc), r->err);
    print_message("the \"%s\" read: %s\n", r->id, r->err);
}

static void test_slot_move(void **state)
{
    (void)state;
    vmux *m = vt_open(CLUSTER, "syncTimeout=15000");
    char now[64], since[64], last[64]; /* new keys at each run (of one slot): reused fixture */
    snprintf(now, sizeof now, "xnow:a:%llu{mv}", (unsigned long long)vt_now_ns());
    snprintf(since, sizeof since, "xnow:b:%llu{mv}", (unsigned long long)vt_now_ns());
    snprintf(last, sizeof last, "xnow:c:%llu{mv}", (unsigned long long)vt_now_ns());
    int slot = (int)vmux__slot_of(now, strlen(now));
    int from = vt_slot_primary(vt_cluster_port(CLUSTER, 0), false, slot);
    int to = vt_cluster_other_primary(CLUSTER, from);
    char *from_id = vt_node_myid(from), *to_id = vt_node_myid(to);
    char *first = vt_node_admin(from, false, "XADD %s * n 0", since);
    assert_true(first != NULL && first[0] >= '0' && first[0] <= '9');
    struct reader a = {.m = m, .key = now, .id = "$"}, b = {.m = m, .key = since, .id = first};
    struct reader l = {.m = m, .key = last, .id = "+"}; /* the last entry: none yet, so it waits */
    start_reader(&a);
    start_reader(&b);
    start_reader(&l);
    struct blocked both = {from, 3};
    assert_true(vt_poll_until(blocked_on, &both, WAIT_MS, 10));
    /* the slot moves; the new owner gets n=1..3 before the old one knows */
    free(vt_node_admin(to, false, "CLUSTER SETSLOT %d IMPORTING %s", slot, from_id));
    free(vt_node_admin(from, false, "CLUSTER SETSLOT %d MIGRATING %s", slot, to_id));
    redisContext *c = vt_node_connect(from);
    vt_migrate_keys(c, slot, to, NULL, NULL);
    redisFree(c);
    free(vt_node_admin(to, false, "CLUSTER SETSLOT %d NODE %s", slot, to_id));
    for (int n = 1; n <= 3; n++) {
        add_entry(to, now, n);
        add_entry(to, last, n);
    }
    free(vt_node_admin(from, false, "CLUSTER SETSLOT %d NODE %s", slot, to_id));
    struct resent_or_done w = {&a, {to, 2}}; /* both resent (no fix), or the "$" read ended */
    assert_true(vt_poll_until(resent_or_done, &w, WAIT_MS, 10));
    /* "+" sent again would return n=3 at once, the last entry, skipping n=1..2 */
    struct resent_or_done w2 = {&l, {to, 2}};
    assert_true(vt_poll_until(resent_or_done, &w2, WAIT_MS, 10));
    add_entry(to, now, 4);
    add_entry(to, since, 5);
    add_entry(to, last, 4);
    pthread_join(a.thread, NULL);
    pthread_join(b.thread, NULL);
    pthread_join(l.thread, NULL);
    expect_not_resent(&a, "MOVED");
    expect_not_resent(&l, "MOVED");
    if (b.rc != 0 || b.first != 5) /* an explicit id: sent again, as before */
        fail_msg("the read after %s: %s, n=%ld: %s", first, vmux_err_name(b.rc), b.first, b.err);
    free(first);
    free(from_id);
    free(to_id);
    vmux_close(m);
}

struct roles {
    int primary, replica;
};

static bool took_over(void *arg)
{
    const struct roles *r = arg;
    return vt_node_is_primary(r->primary);
}

static bool demoted(void *arg)
{
    const struct roles *r = arg;
    return !vt_node_is_primary(r->replica);
}

static void test_failover(void **state)
{
    (void)state;
    vmux *m = vt_open(CLUSTER, "syncTimeout=15000");
    char key[64];
    snprintf(key, sizeof key, "xnow:%llu{fo}", (unsigned long long)vt_now_ns());
    int slot = (int)vmux__slot_of(key, strlen(key));
    int old = vt_slot_primary(vt_cluster_port(CLUSTER, 0), false, slot);
    int promoted = vt_cluster_replica_of(CLUSTER, old);
    struct reader a = {.m = m, .key = key, .id = "$", .typed = true};
    start_reader(&a);
    struct blocked one = {old, 1};
    assert_true(vt_poll_until(blocked_on, &one, WAIT_MS, 10));
    /* the replica takes over while the primary is stopped, and gets n=1..3 */
    long pid = vt_node_pid(old);
    assert_int_equal(kill((pid_t)pid, SIGSTOP), 0);
    free(vt_node_admin(promoted, false, "CLUSTER FAILOVER TAKEOVER"));
    struct roles r = {promoted, old};
    bool added = vt_poll_until(took_over, &r, WAIT_MS, 10);
    for (int n = 1; added && n <= 3; n++)
        added = try_add(promoted, key, n);
    assert_int_equal(kill((pid_t)pid, SIGCONT), 0); /* first: a failed check leaves none stopped */
    assert_true(added);
    assert_true(vt_poll_until(demoted, &r, WAIT_MS, 10));
    struct resent_or_done w = {&a, {promoted, 1}};
    assert_true(vt_poll_until(resent_or_done, &w, WAIT_MS, 10));
    add_entry(promoted, key, 4);
    pthread_join(a.thread, NULL);
    expect_not_resent(&a, "UNBLOCKED");
    vmux_close(m);
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

/*
 * A lock (lock.h) whose slot migrates while its command's reply is lost, against a real cluster
 * (fixture "cluster-lock": three primaries, its own, since it moves slots and stops a primary).
 * The lock's slot is left MIGRATING on its owner and IMPORTING on another primary, nothing moved
 * yet, and the owner is stopped (SIGSTOP) until the lock's command has timed out (timeout_ms
 * 300): its outcome is unknown. Once the owner is resumed, every command of the lock that names
 * two keys, one there and one not, is answered TRYAGAIN (the server's "not now" during a
 * migration): the resolution of the lost reply must go on through them, and end once the slot
 * has moved (the test moves it after the resolution has met TRYAGAIN and tried again).
 *
 * - a free lock (its fencing key and a release record on the owner, no lock key), taken by
 *   acquire_wait: acquired once the slot has moved. Before, the resolution's MGET answered
 *   TRYAGAIN ended acquire_wait with VMUX_ERR_SERVER (helper-202's probe8, 3 of 3);
 * - a held lock (its lock key on the owner, no release record yet), released: was_held once the
 *   slot has moved. Before, the release's second run answered TRYAGAIN returned VMUX_ERR_SERVER,
 *   whose words say the script did not run, though the first run's outcome was unknown.
 *
 * The teardown resumes the stopped primary and finishes the migration, whatever the outcome.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "node.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define CLUSTER "cluster-lock"
#define NP 3

/* What the test changed on the cluster, for the teardown that undoes it, whatever happens. */
static struct {
    long stopped_pid; /* a primary stopped with SIGSTOP (0: none) */
    bool open;        /* the slot below is MIGRATING / IMPORTING */
    long long slot;
    int src, dst; /* primaries' indices */
} changed;

static char *node_id(int p)
{
    char *id = vt_node_admin(vt_cluster_port(CLUSTER, p), false, "CLUSTER MYID");
    assert_non_null(id);
    return id;
}

/* Moves the open slot's keys to its target and gives it the slot on every primary. */
static void finish_migration(void)
{
    if (!changed.open)
        return;
    char *dst_id = node_id(changed.dst);
    redisContext *c = vt_node_connect(vt_cluster_port(CLUSTER, changed.src));
    vt_migrate_keys(c, changed.slot, vt_cluster_port(CLUSTER, changed.dst), NULL, NULL);
    redisFree(c);
    free(vt_node_admin(vt_cluster_port(CLUSTER, changed.dst), false, "CLUSTER SETSLOT %lld NODE %s",
                       changed.slot, dst_id));
    for (int p = 0; p < NP; p++)
        if (p != changed.dst)
            free(vt_node_admin(vt_cluster_port(CLUSTER, p), false, "CLUSTER SETSLOT %lld NODE %s",
                               changed.slot, dst_id));
    free(dst_id);
    changed.open = false;
}

static void resume_stopped(void)
{
    if (changed.stopped_pid != 0)
        assert_int_equal(kill((pid_t)changed.stopped_pid, SIGCONT), 0);
    changed.stopped_pid = 0;
}

static int teardown(void **state)
{
    (void)state;
    resume_stopped();
    finish_migration();
    return 0;
}

/* The index of the primary at port. */
static int primary_at(int port)
{
    for (int p = 0; p < NP; p++)
        if (vt_cluster_port(CLUSTER, p) == port)
            return p;
    fail_msg("no primary of " CLUSTER " at port %d", port);
    return -1;
}

/* Leaves key's slot MIGRATING on its owner and IMPORTING on the next primary, nothing moved. */
static void open_slot(const char *key)
{
    int seed = vt_cluster_port(CLUSTER, 0);
    char *slot = vt_node_admin(seed, false, "CLUSTER KEYSLOT %s", key);
    assert_non_null(slot);
    changed.slot = atoll(slot);
    free(slot);
    changed.src = primary_at(vt_slot_primary(seed, false, (int)changed.slot));
    changed.dst = (changed.src + 1) % NP;
    char *src_id = node_id(changed.src), *dst_id = node_id(changed.dst);
    changed.open = true;
    redisContext *d = vt_node_connect(vt_cluster_port(CLUSTER, changed.dst));
    redisContext *s = vt_node_connect(vt_cluster_port(CLUSTER, changed.src));
    vt_must_ok(d, "CLUSTER SETSLOT %lld IMPORTING %s", changed.slot, src_id);
    vt_must_ok(s, "CLUSTER SETSLOT %lld MIGRATING %s", changed.slot, dst_id);
    redisFree(d);
    redisFree(s);
    free(src_id);
    free(dst_id);
}

/* The lock's call in a thread of its own: acquire_wait (60 s) or release. */
struct lock_call {
    vmux_lock *l;
    bool release;
    int rc;
    bool result; /* acquired, or was_held */
    char words[512];
    _Atomic bool done;
};

static void *lock_call_run(void *arg)
{
    struct lock_call *c = arg;
    if (c->release)
        c->rc = vmux_lock_release(c->l, &c->result);
    else
        c->rc = vmux_lock_acquire_wait(c->l, 60000, &c->result, NULL);
    snprintf(c->words, sizeof c->words, "%s", vmux_last_error());
    c->done = true;
    return NULL;
}

static vmux_stats stats_of(vmux *m)
{
    vmux_stats s = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &s), 0);
    return s;
}

struct progress {
    vmux *m;
    struct lock_call *call;
    uint64_t lost, submitted; /* the counts to pass */
};

/* Commands whose outcome was left unknown: timed out, or their connection lost. */
static uint64_t lost_count(vmux *m)
{
    vmux_stats s = stats_of(m);
    return s.timed_out + s.connection_lost;
}

/* A command of the lock timed out or lost its connection: its outcome is unknown. */
static bool outcome_lost(void *arg)
{
    struct progress *p = arg;
    return lost_count(p->m) > p->lost;
}

/* The call ended, or two commands more were sent: the one that met TRYAGAIN until its deadline
 * had ended, and the lock tried again. */
static bool tried_past_tryagain(void *arg)
{
    struct progress *p = arg;
    return p->call->done || stats_of(p->m).submitted >= p->submitted + 2;
}

/*
 * Runs c's call with its slot open and its owner stopped until a command of the call was lost;
 * resumes the owner, waits until the call ended or tried again past TRYAGAIN, then finishes the
 * migration and waits for the call.
 */
static void call_across_migration(vmux *m, struct lock_call *c, const char *key)
{
    open_slot(key);
    struct progress p = {.m = m, .call = c, .lost = lost_count(m)};
    changed.stopped_pid = vt_node_pid(vt_cluster_port(CLUSTER, changed.src));
    assert_int_equal(kill((pid_t)changed.stopped_pid, SIGSTOP), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, lock_call_run, c), 0);
    bool lost = vt_poll_until(outcome_lost, &p, 30000, 5);
    p.submitted = stats_of(m).submitted;
    resume_stopped();
    bool tried = lost && vt_poll_until(tried_past_tryagain, &p, 30000, 5);
    finish_migration();
    pthread_join(t, NULL);
    if (!lost)
        fail_msg("no command of the lock timed out in 30 s with its node stopped");
    if (!tried)
        fail_msg("the lock neither ended nor tried again in 30 s after its node was resumed");
}

static vmux *open_cluster(void)
{
    char *conf = vt_node_config(vt_cluster_port(CLUSTER, 0), "cluster=yes");
    vmux *m = vt_open_conf(conf);
    free(conf);
    return m;
}

static vmux_lock *new_lock(vmux *m, const char *key)
{
    vmux_lock_opts o =
        VMUX_INIT(vmux_lock_opts, .ttl_ms = 30000, .timeout_ms = 300, .resolve_timeout_ms = 60000);
    vmux_lock *l = NULL;
    assert_int_equal(vmux_lock_new(m, VMUX_STR(key), &o, &l), 0);
    return l;
}

static void lock_key(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "tlockmig:{%ld:%s}", (long)getpid(), name);
}

/*
 * A free lock whose acquire's reply is lost while its slot migrates: acquire_wait resolves it
 * through the MGETs answered TRYAGAIN and acquires once the slot has moved.
 */
static void test_acquire_wait_resolves_through_tryagain(void **state)
{
    (void)state;
    char key[64];
    lock_key(key, sizeof key, "acquire");
    vmux *m = open_cluster();
    vmux_lock *l = new_lock(m, key);
    bool got = false, was_held = false;
    /* leaves the fencing key and a release record on the owner, and no lock key */
    assert_int_equal(vmux_lock_acquire(l, &got, NULL), 0);
    assert_true(got);
    assert_int_equal(vmux_lock_release(l, &was_held), 0);
    assert_true(was_held);
    struct lock_call c = {.l = l};
    call_across_migration(m, &c, key);
    if (c.rc != 0 || !c.result)
        fail_msg("acquire_wait(60 s) across the migration: %s, acquired %d: %s",
                 vmux_err_name(c.rc), c.result, c.words);
    assert_true(vmux_lock_held(l));
    assert_int_equal(vmux_lock_release(l, &was_held), 0);
    assert_true(was_held);
    vmux_lock_free(l);
    vmux_close(m);
}

/*
 * A held lock whose release's reply is lost while its slot migrates: the release runs again
 * through TRYAGAIN and reports the lock released once the slot has moved.
 */
static void test_release_runs_again_through_tryagain(void **state)
{
    (void)state;
    char key[64];
    lock_key(key, sizeof key, "release");
    vmux *m = open_cluster();
    vmux_lock *l = new_lock(m, key);
    bool got = false;
    assert_int_equal(vmux_lock_acquire(l, &got, NULL), 0);
    assert_true(got);
    struct lock_call c = {.l = l, .release = true};
    call_across_migration(m, &c, key);
    if (c.rc != 0 || !c.result)
        fail_msg("release across the migration: %s, was_held %d: %s", vmux_err_name(c.rc), c.result,
                 c.words);
    char *v = vt_node_admin(vt_cluster_port(CLUSTER, changed.dst), false, "EXISTS %s", key);
    assert_string_equal(v, "0");
    free(v);
    vmux_lock_free(l);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_acquire_wait_resolves_through_tryagain, teardown),
        cmocka_unit_test_teardown(test_release_runs_again_through_tryagain, teardown),
    };
    return cmocka_run_group_tests_name("cluster_lock", tests, NULL, NULL);
}

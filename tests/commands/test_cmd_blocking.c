/*
 * Blocking commands run on the blocking pool: a BLPOP that waits seconds never delays other
 * callers' commands; pops get what another thread pushes; a deadline shorter than the block
 * closes the blocked connection and later pops still work; a full pool queues, then serves
 * (a queued pop's block cut to what is left of it when it is sent),
 * and a pop queued for it runs as soon as a timed-out pop's connection is closed; the
 * largest blockingPoolSize takes no room up front (its arrays grow as connections open).
 *
 * WAIT does not: it runs where the handle's writes went. Against a primary and a replica of the
 * test's own (servers.h), the replica SIGSTOPped: a write through the handle, then vmux_wait(1)
 * gives 0 acknowledgements after its whole block time (on a pool connection, which wrote
 * nothing, the server answered 1 at once); the replica running, 1. A connection lost under a
 * WAIT gives VMUX_ERR_CONNECTION_LOST, even asked retry-safe: it is never sent again. On the
 * cluster, vmux_wait() runs on every primary (their INFO commandstats) and gives 1.
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

#include "readkeys.h"
#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

struct popper {
    vmux *m;
    const char *key;
    int64_t block_ms;
    int rc;
    vmux_bytes key_out, value;
    atomic_bool done;
};

static void *pop_thread(void *arg)
{
    struct popper *p = arg;
    vmux_str keys[] = {VMUX_STR(p->key)};
    p->rc = vmux_bpop(p->m, NULL, VMUX_HEAD, keys, 1, p->block_ms, &p->key_out, &p->value);
    atomic_store(&p->done, true);
    return NULL;
}

/* How many clients the server (every primary of a cluster) has blocked, over a side channel. */
static long blocked_clients(void)
{
    char *info = vt_admin_all("plain", "INFO clients");
    if (info == NULL)
        return -1;
    long n = 0;
    for (const char *at = info; (at = strstr(at, "blocked_clients:")) != NULL;) {
        at += strlen("blocked_clients:");
        n += strtol(at, NULL, 10);
    }
    free(info);
    return n;
}

static bool at_least_one_blocked(void *arg)
{
    (void)arg;
    return blocked_clients() >= 1;
}

static void test_blpop_does_not_stall_other_callers(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    struct popper p = {.m = m, .key = "blk:{t1}:empty", .block_ms = 2000};
    pthread_t t;
    uint64_t start = vt_now_ms();
    pthread_create(&t, NULL, pop_thread, &p);
    assert_true(vt_wait_until(at_least_one_blocked, NULL, 5000));
    /* While the BLPOP waits on the server, GETs on the same handle keep their usual pace. */
    uint64_t worst = 0;
    int gets = 0;
    while (!atomic_load(&p.done) && vt_now_ms() - start < 1500) {
        uint64_t t0 = vt_now_ms();
        vmux_bytes v;
        assert_int_equal(vmux_get(m, NULL, VMUX_STR("blk:{t1}:other"), &v), 0);
        vmux_bytes_free(&v);
        uint64_t took = vt_now_ms() - t0;
        worst = took > worst ? took : worst;
        gets++;
    }
    pthread_join(t, NULL);
    assert_true(gets > 0);
    assert_true(worst < 1000); /* a stalled GET would wait for the 2 s block */
    assert_int_equal(p.rc, 0);
    assert_null(p.value.ptr); /* the block ran out: nil */
    assert_true(vt_now_ms() - start >= 1900);
    vmux_close(m);
}

static void test_pop_gets_what_is_pushed(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    free(vt_admin("plain", "DEL blk:{t2}:list"));
    struct popper p = {.m = m, .key = "blk:{t2}:list", .block_ms = 10000};
    pthread_t t;
    pthread_create(&t, NULL, pop_thread, &p);
    assert_true(vt_wait_until(at_least_one_blocked, NULL, 5000));
    const char *argv[] = {"RPUSH", "blk:{t2}:list", "a\0b"};
    size_t lens[] = {5, strlen(argv[1]), 3};
    vmux_reply *r;
    assert_int_equal(vmux_call(m, NULL, 3, argv, lens, &r), 0);
    vmux_reply_free(r);
    pthread_join(t, NULL);
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.key_out.ptr, "blk:{t2}:list");
    assert_int_equal(p.value.len, 3);
    assert_memory_equal(p.value.ptr, "a\0b", 3);
    vmux_bytes_free(&p.key_out);
    vmux_bytes_free(&p.value);
    vmux_close(m);
}

static void test_deadline_shorter_than_block(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    vmux_reply *r;
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 200);
    const char *forever[] = {"BLPOP", "blk:{t3}:none", "0"};
    uint64_t t0 = vt_now_ms();
    assert_int_equal(vmux_call(m, &quick, 3, forever, NULL, &r), VMUX_ERR_TIMEOUT);
    assert_null(r);
    assert_true(vt_now_ms() - t0 < 2000);
    /* the blocked connection was closed; the next pop runs on a fresh one */
    vmux_str keys[] = {VMUX_STR("blk:{t3}:none")};
    vmux_bytes k, v;
    assert_int_equal(vmux_bpop(m, NULL, VMUX_TAIL, keys, 1, 50, &k, &v), 0);
    assert_null(v.ptr);
    assert_int_equal(vmux_bpop(m, NULL, VMUX_TAIL, keys, 1, 0, &k, &v), VMUX_ERR_INVALID_ARG);
    vmux_close(m);
}

static void test_full_pool_queues(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "blockingPoolSize=2");
    struct popper p[3] = {{.m = m, .key = "blk:{t4}:a", .block_ms = 300},
                          {.m = m, .key = "blk:{t4}:b", .block_ms = 300},
                          {.m = m, .key = "blk:{t4}:c", .block_ms = 300}};
    pthread_t t[3];
    uint64_t t0 = vt_now_ms();
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, pop_thread, &p[i]);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(p[i].rc, 0);
        assert_null(p[i].value.ptr);
    }
    /* two at a time: the third waited for a connection, its block time running (its block cut
     * to what was left of it when sent, helper-272), so it all took one block time; before, it
     * blocked its whole time once sent, two block times */
    uint64_t took = vt_now_ms() - t0;
    assert_true(took >= 290);
    assert_true(took < 590);
    vmux_close(m);
}

/* The kB of address space the process has mapped (VmSize of /proc/self/status), or -1. */
static long vm_size_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL && kb < 0)
        if (sscanf(line, "VmSize: %ld kB", &kb) != 1)
            kb = -1;
    if (f != NULL)
        fclose(f);
    return kb;
}

/* blockingPoolSize=2147483647 (its documented maximum) once took two arrays of that many
 * pointers at open, 32 GiB of address space per node; now they grow as connections open: past
 * their first room of 8 here, as 10 pops block at once. */
static void test_largest_pool_takes_no_room_up_front(void **state)
{
    (void)state;
    long before = vm_size_kb();
    assert_true(before > 0);
    vmux *m = vt_open("plain", "blockingPoolSize=2147483647");
    long grown = vm_size_kb() - before;
    printf("VmSize grew by %ld kB at open\n", grown);
    assert_true(grown < 1024 * 1024); /* 1 GiB: it grew by 33554432 kB and more */
    enum { POPS = 10 };
    struct popper p[POPS];
    pthread_t t[POPS];
    char keys[POPS][32];
    for (int i = 0; i < POPS; i++) {
        snprintf(keys[i], sizeof keys[i], "blk:{t9}:%d", i);
        p[i] = (struct popper){.m = m, .key = keys[i], .block_ms = 100};
        pthread_create(&t[i], NULL, pop_thread, &p[i]);
    }
    for (int i = 0; i < POPS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(p[i].rc, 0);
        assert_null(p[i].value.ptr);
    }
    vmux_close(m);
}

/*
 * blockingPoolSize=1: a BLPOP whose deadline passes while it blocks has its connection closed;
 * a pop waiting for the pool meanwhile runs at once on a new one and gets its element. It
 * stayed queued until its own deadline before (VMUX_ERR_TIMEOUT, never sent).
 */
static void test_waiting_pop_after_a_timeout(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "blockingPoolSize=1");
    vmux_reply *r = NULL;
    const char *del[] = {"DEL", "blk:{t6}:none", "blk:{t6}:full"};
    assert_int_equal(vmux_call(m, NULL, 3, del, NULL, &r), 0);
    vmux_reply_free(r);
    const char *push[] = {"RPUSH", "blk:{t6}:full", "x"};
    assert_int_equal(vmux_call(m, NULL, 3, push, NULL, &r), 0);
    vmux_reply_free(r);
    struct vt_async a = {0};
    vmux_callopts quick = VMUX_INIT(vmux_callopts, .timeout_ms = 1500);
    const char *forever[] = {"BLPOP", "blk:{t6}:none", "0"};
    assert_int_equal(vmux_call_async(m, &quick, 3, forever, NULL, vt_on_async, &a), 0);
    assert_true(vt_wait_until(at_least_one_blocked, NULL, 5000));
    vmux_callopts patient = VMUX_INIT(vmux_callopts, .timeout_ms = 8000);
    const char *full[] = {"BLPOP", "blk:{t6}:full", "0"};
    int rc = vmux_call(m, &patient, 3, full, NULL, &r); /* waits for the pool's one link */
    assert_true(vt_wait_until(vt_async_done, &a, 10000));
    assert_int_equal(a.status, VMUX_ERR_TIMEOUT);
    if (rc != 0)
        fail_msg("the pop that waited for the pool: %s (%s)", vmux_err_name(rc), vmux_last_error());
    assert_int_equal(vmux_reply_get_kind(r), VMUX_REPLY_ARRAY);
    assert_string_equal(vmux_reply_str(vmux_reply_element(r, 1), NULL), "x");
    vmux_reply_free(r);
    vmux_close(m);
}

/*
 * blockingPoolSize=1: a pop that waited for the pool's one link while its deadline (block time
 * plus syncTimeout) ran is sent with its block cut to what is left of it, and answers nil at its
 * block's end, as one sent at once would. Sent with its block time whole (before helper-272), a
 * BLPOP of 1.5 s that waited 1.4 s timed out 1 s after it was sent: VMUX_ERR_TIMEOUT, "written
 * ... and not answered in time, so it may have run", on a healthy server, its link closed with
 * any element the server popped as the deadline came.
 */
static void test_waiting_pop_keeps_its_deadline(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", "blockingPoolSize=1,syncTimeout=1000");
    free(vt_admin("plain", "DEL blk:{t10}:a blk:{t10}:b"));
    struct popper first = {.m = m, .key = "blk:{t10}:a", .block_ms = 1500};
    struct popper second = {.m = m, .key = "blk:{t10}:b", .block_ms = 1500};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, pop_thread, &first);
    assert_true(vt_wait_until(at_least_one_blocked, NULL, 5000));
    uint64_t start = vt_now_ms();
    pthread_create(&t2, NULL, pop_thread, &second); /* waits for the first's link */
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    uint64_t took = vt_now_ms() - start;
    printf("the waiting pop: %s after %llu ms\n", vmux_err_name(second.rc),
           (unsigned long long)took);
    assert_int_equal(first.rc, 0);
    assert_null(first.value.ptr);
    assert_int_equal(second.rc, 0); /* VMUX_ERR_TIMEOUT before */
    assert_null(second.value.ptr);
    assert_true(took < 2200); /* its block's end (1.5 s), not its deadline (2.5 s) */
    vmux_close(m);
}

static void test_bzpop_blmove_wait(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    free(vt_admin("plain", "DEL blk:{t5}:z blk:{t5}:src blk:{t5}:dst"));
    free(vt_admin("plain", "ZADD blk:{t5}:z 1 one 2 two"));
    free(vt_admin("plain", "RPUSH blk:{t5}:src x"));
    vmux_str z[] = {VMUX_STR("blk:{t5}:z")};
    vmux_bytes k, member, v;
    double score;
    assert_int_equal(vmux_bzpop(m, NULL, VMUX_TAIL, z, 1, 100, &k, &member, &score), 0);
    assert_string_equal(member.ptr, "two");
    assert_true(score == 2.0);
    vmux_bytes_free(&k);
    vmux_bytes_free(&member);
    assert_int_equal(vmux_blmove(m, NULL, VMUX_STR("blk:{t5}:src"), VMUX_STR("blk:{t5}:dst"),
                                 VMUX_TAIL, VMUX_HEAD, 100, &v),
                     0);
    assert_string_equal(v.ptr, "x");
    vmux_bytes_free(&v);
    int64_t acked = -1;
    assert_int_equal(vmux_wait(m, NULL, 0, 10, &acked), 0);
    if (vt_cluster_mode() == NULL)
        assert_int_equal(acked, 0); /* no replica */
    else
        assert_true(acked >= 0 && acked <= 1); /* each shard has one replica, up to date */
    vmux_close(m);
}

/* ---- WAIT: on the connection that carried the writes ---- */

/* A primary and its replica, started by the test; the replica may be SIGSTOPped. */
struct pair {
    vt_server *primary, *replica;
};

static bool replica_linked(void *arg)
{
    const struct pair *p = arg;
    char *text = vt_node_admin(p->replica->port, false, "INFO replication");
    bool up = text != NULL && strstr(text, "master_link_status:up") != NULL;
    free(text);
    return up;
}

static int pair_teardown(void **state)
{
    struct pair *p = *state;
    if (p == NULL)
        return 0;
    if (p->replica != NULL) {
        kill(p->replica->pid, SIGCONT); /* whatever the test did, or failed to undo */
        vt_server_stop(p->replica);
        free(p->replica);
    }
    if (p->primary != NULL) {
        vt_server_stop(p->primary);
        free(p->primary);
    }
    free(p);
    return 0;
}

/*
 * Starts the pair (both with appendonly on when aof) and waits until the replica's link is up;
 * nothing in cluster mode.
 */
static int pair_start(void **state, bool aof)
{
    *state = NULL;
    if (vt_cluster_mode() != NULL)
        return 0;
    /* The replica's full sync starts at once, not after the default 5 s wait for others. */
    const char *const primary[] = {"--repl-diskless-sync-delay", "0", "--appendonly",
                                   aof ? "yes" : "no", NULL};
    struct pair *p = calloc(1, sizeof *p);
    if (p == NULL || (p->primary = vt_server_new(primary)) == NULL) {
        free(p);
        return -1;
    }
    *state = p;
    char port[16];
    snprintf(port, sizeof port, "%d", p->primary->port);
    const char *const extra[] = {"--replicaof", "127.0.0.1", port, aof ? "--appendonly" : NULL,
                                 "yes",         NULL};
    if ((p->replica = vt_server_new(extra)) == NULL || !vt_poll_until(replica_linked, p, 10000, 20))
        return pair_teardown(state) - 1;
    return 0;
}

static int pair_setup(void **state)
{
    return pair_start(state, false);
}

static int aof_pair_setup(void **state)
{
    return pair_start(state, true);
}

static void set_through(vmux *m, const char *value)
{
    assert_int_equal(vmux_set(m, NULL, VMUX_STR("wait:k"), VMUX_STR(value), VMUX_NO_EXPIRY,
                              VMUX_COND_ALWAYS, NULL),
                     0);
}

static void test_wait_counts_the_handles_writes(void **state)
{
    VT_SKIP_ON_CLUSTER("a replica of its own, SIGSTOPped");
    struct pair *p = *state;
    vmux *m = vt_server_open(p->primary, NULL);
    int64_t acked = -1;
    set_through(m, "before");
    assert_int_equal(vmux_wait(m, NULL, 1, 5000, &acked), 0);
    assert_int_equal(acked, 1);

    /* the replica acknowledges nothing now: the write after must not count as acknowledged */
    assert_int_equal(kill(p->replica->pid, SIGSTOP), 0);
    set_through(m, "unreplicated");
    uint64_t t0 = vt_now_ms();
    assert_int_equal(vmux_wait(m, NULL, 1, 300, &acked), 0);
    uint64_t took = vt_now_ms() - t0;
    assert_int_equal(acked, 0);
    assert_true(took >= 290); /* it waited its block time: the server had a write to wait for */

    assert_int_equal(kill(p->replica->pid, SIGCONT), 0);
    set_through(m, "after");
    assert_int_equal(vmux_wait(m, NULL, 1, 5000, &acked), 0);
    assert_int_equal(acked, 1);
    vmux_close(m);
}

struct waiter {
    vmux *m;
    int rc;
    int64_t acked;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    /* asked retry-safe on purpose: a WAIT must still never be sent a second time */
    vmux_callopts o = VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE);
    w->rc = vmux_wait(w->m, &o, 1, 10000, &w->acked);
    return NULL;
}

static bool primary_blocked(void *arg)
{
    const struct pair *p = arg;
    return vt_node_info(p->primary->port, "clients", "blocked_clients:") >= 1;
}

static void test_wait_not_resent(void **state)
{
    VT_SKIP_ON_CLUSTER("a replica of its own, SIGSTOPped");
    struct pair *p = *state;
    vmux *m = vt_server_open(p->primary, NULL);
    assert_int_equal(kill(p->replica->pid, SIGSTOP), 0);
    set_through(m, "unreplicated");
    struct waiter w = {.m = m, .acked = -1};
    pthread_t t;
    uint64_t t0 = vt_now_ms();
    pthread_create(&t, NULL, wait_thread, &w);
    assert_true(vt_poll_until(primary_blocked, p, 5000, 10));
    /* the handle's connection goes (SKIPME: not this one); sent again on the next, the WAIT
     * would count no write there and answer 1 at once */
    free(vt_node_admin(p->primary->port, false, "CLIENT KILL TYPE normal"));
    pthread_join(t, NULL);
    assert_int_equal(w.rc, VMUX_ERR_CONNECTION_LOST);
    assert_int_equal(w.acked, 0);
    assert_true(vt_now_ms() - t0 < 10000); /* not its block time: the loss ended it */
    assert_int_equal(vt_node_info(p->primary->port, "clients", "blocked_clients:"), 0);
    vmux_close(m);
}

/* The cluster of this run, or the test is skipped (standalone mode). */
static const char *cluster_or_skip(const char *test)
{
    const char *cluster = vt_cluster_mode();
    if (cluster == NULL) {
        print_message("[  SKIPPED ] %s: a cluster's primaries (standalone mode)\n", test);
        skip();
    }
    return cluster;
}

/* How many times each primary of cluster ran cmd (INFO commandstats); returns how many primaries.
 */
static int primaries_calls(const char *cluster, const char *cmd, long calls[16])
{
    int primaries = vt_cluster_primaries(cluster);
    assert_true(primaries <= 16);
    for (int i = 0; i < primaries; i++)
        calls[i] = vt_node_calls(vt_cluster_port(cluster, i), cmd);
    return primaries;
}

/* Every primary ran cmd since before was taken. */
static void ran_on_every_primary(const char *cluster, const char *cmd, const long before[16])
{
    long now[16];
    int primaries = primaries_calls(cluster, cmd, now);
    for (int i = 0; i < primaries; i++)
        assert_true(now[i] > before[i]);
}

static void test_wait_on_every_primary(void **state)
{
    (void)state;
    const char *cluster = cluster_or_skip(__func__);
    long before[16];
    primaries_calls(cluster, "wait", before);
    vmux *m = vt_open("plain", NULL);
    vt_keys_write(m, "wait:", 100); /* keys of every shard */
    int64_t acked = -1;
    assert_int_equal(vmux_wait(m, NULL, 1, 5000, &acked), 0);
    assert_int_equal(acked, 1);
    ran_on_every_primary(cluster, "wait", before);
    vmux_close(m);
}

/* ---- WAITAOF: the same, for the append-only files ---- */

static void waitaof(vmux *m, int64_t numlocal, int64_t numreplicas, int64_t block_ms,
                    int64_t want_local, int64_t want_replicas)
{
    int64_t local = -1, replicas = -1;
    assert_int_equal(vmux_waitaof(m, NULL, numlocal, numreplicas, block_ms, &local, &replicas), 0);
    assert_int_equal(local, want_local);
    assert_int_equal(replicas, want_replicas);
}

static void test_waitaof_counts_the_handles_writes(void **state)
{
    VT_SKIP_ON_CLUSTER("a replica of its own, SIGSTOPped");
    struct pair *p = *state;
    vmux *m = vt_server_open(p->primary, NULL);
    set_through(m, "before");
    waitaof(m, 1, 1, 5000, 1, 1);

    /* the replica fsyncs nothing now: the write after is on the primary's disk only */
    assert_int_equal(kill(p->replica->pid, SIGSTOP), 0);
    set_through(m, "unreplicated");
    uint64_t t0 = vt_now_ms();
    waitaof(m, 1, 1, 300, 1, 0);
    assert_true(vt_now_ms() - t0 >= 290); /* it waited its block time for the replica */
    assert_int_equal(kill(p->replica->pid, SIGCONT), 0);
    set_through(m, "after");
    waitaof(m, 1, 1, 5000, 1, 1);

    int64_t local = -1, replicas = -1;
    assert_int_equal(vmux_waitaof(m, NULL, 2, 0, 100, &local, &replicas), VMUX_ERR_INVALID_ARG);
    assert_true(local == 0 && replicas == 0);
    assert_int_equal(vmux_waitaof(m, NULL, 0, -1, 100, NULL, NULL), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_waitaof(m, NULL, 1, 0, 0, NULL, NULL), VMUX_ERR_INVALID_ARG);
    vmux_close(m);
}

/* Without appendonly the server refuses numlocal 1, and a replica without it counts for none. */
static void test_waitaof_without_aof(void **state)
{
    VT_SKIP_ON_CLUSTER("a replica of its own");
    struct pair *p = *state;
    vmux *m = vt_server_open(p->primary, NULL);
    set_through(m, "x");
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    int64_t local = -1, replicas = -1;
    assert_int_equal(vmux_waitaof(m, &o, 1, 0, 100, &local, &replicas), VMUX_ERR_SERVER);
    assert_non_null(strstr(err, "appendonly"));
    assert_true(local == 0 && replicas == 0);
    waitaof(m, 0, 1, 200, 0, 0);
    vmux_close(m);
}

static void test_waitaof_on_every_primary(void **state)
{
    (void)state;
    const char *cluster = cluster_or_skip(__func__);
    long before[16];
    primaries_calls(cluster, "waitaof", before);
    vmux *m = vt_open("plain", NULL);
    vt_keys_write(m, "waitaof:", 100); /* keys of every shard */
    waitaof(m, 0, 0, 100, 0, 0);
    ran_on_every_primary(cluster, "waitaof", before);
    /* the cluster's nodes run without appendonly: each primary refuses numlocal 1 */
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    assert_int_equal(vmux_waitaof(m, &o, 1, 0, 100, NULL, NULL), VMUX_ERR_SERVER);
    assert_non_null(strstr(err, "appendonly"));
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blpop_does_not_stall_other_callers),
        cmocka_unit_test(test_pop_gets_what_is_pushed),
        cmocka_unit_test(test_deadline_shorter_than_block),
        cmocka_unit_test(test_full_pool_queues),
        cmocka_unit_test(test_largest_pool_takes_no_room_up_front),
        cmocka_unit_test(test_waiting_pop_after_a_timeout),
        cmocka_unit_test(test_waiting_pop_keeps_its_deadline),
        cmocka_unit_test(test_bzpop_blmove_wait),
        cmocka_unit_test_setup_teardown(test_wait_counts_the_handles_writes, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_wait_not_resent, pair_setup, pair_teardown),
        cmocka_unit_test(test_wait_on_every_primary),
        cmocka_unit_test_setup_teardown(test_waitaof_counts_the_handles_writes, aof_pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_waitaof_without_aof, pair_setup, pair_teardown),
        cmocka_unit_test(test_waitaof_on_every_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

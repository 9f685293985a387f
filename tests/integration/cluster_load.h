/*
 * The load of the cluster resharding and failover tests (test_cluster_reshard_load.c,
 * test_cluster_failover_load.c): CL_THREADS threads share one handle, each owning its keys, and
 * keep a ledger of what the server acknowledged, so that afterwards the test can say exactly
 * which writes must be there, which the server may have lost, and whether a command ran twice.
 *
 * Each thread owns CL_STRINGS string keys and CL_COUNTERS counters, named by the test
 * ("{tag}:<prefix>:t<thread>:s<i>" and ":c<i>", the tag choosing the slot). It picks one of them
 * at random and runs, on a string key, SET key value GET (half the time) or GET, and on a
 * counter INCR. Values say whose they are: a string is "t<thread>:s<i>:<seq>" (seq growing per
 * thread), a counter starts at cl_counter_base(thread, i), so INCR's reply / 1e9 names the
 * counter. A reply naming another key, or of the wrong kind, is a reply to the wrong caller.
 *
 * SET and GET are sent VMUX_CALL_RETRY_SAFE; INCR is not, so an INCR that ends in
 * VMUX_ERR_CONNECTION_LOST may or may not have run: the ledger counts it as unknown, and the
 * counter must then lie within [acknowledged, acknowledged + unknown]. Any other error, and any
 * INCR error when the run allows none, counts as an error returned to the caller.
 *
 * Writes the server may have lost: once the test has set cl_run.barrier (just before it writes
 * a barrier key on a primary and waits for WAIT 1 there), a write acknowledged on the shard
 * cl_run.dead_shard counts as maybe lost unless its call started after cl_run.event_ns (the kill:
 * then only the promoted replica can have answered). Writes acknowledged before the barrier
 * reached the replica before the barrier key did, so they must survive.
 *
 * A thread makes its calls back to back, or, when the test gives it a period before cl_start()
 * (cl_thread.period_ns), paced: one call due every period on the test's monotonic clock. A paced
 * thread that is late makes the calls it owes back to back until it has caught up, but drops
 * those due more than CL_MAX_LAG_MS ago. So its completions count the calls the library served
 * out of a steady offered load, not the share of the CPU it wins racing the other threads and
 * the servers for it, as long as the machine can serve that load at all.
 *
 * Completions are counted per shard in CL_BUCKET_MS buckets from the start of the run, and each
 * thread records the longest time between two of its successes that ended after
 * cl_run.event_ns (a thread's keys may all be in one shard: then it is that shard's outage) and,
 * once the test has set cl_run.promoted_ns, began before it: a later pause of the thread (the
 * machine's scheduler) is not the outage.
 */
#ifndef VMUX_TEST_CLUSTER_LOAD_H
#define VMUX_TEST_CLUSTER_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmux/vmux.h"

#ifndef CL_THREADS /* a test may ask for fewer (test_sentinel.c: 8) */
#define CL_THREADS 16
#endif
#define CL_STRINGS 8
#define CL_COUNTERS 4
#define CL_SHARDS 8
#define CL_BUCKET_MS 10
#define CL_BUCKETS 30000 /* 300 s */
#define CL_KEYLEN 64
#define CL_MAX_LAG_MS 50 /* a paced thread catches up on calls due at most this long ago */

struct cl_string {
    char name[CL_KEYLEN];
    int shard;        /* the shard serving its slot when the run began */
    uint64_t sent;    /* seq of the last SET sent; 0: none */
    uint64_t acked;   /* seq of the last SET acknowledged */
    uint64_t safe;    /* seq of the last acknowledged SET the server cannot have lost */
    uint64_t unknown; /* seq of the last SET that failed (it may have run) */
};

struct cl_counter {
    char name[CL_KEYLEN];
    int shard;
    int64_t base;       /* its value before the run */
    int64_t acked;      /* INCRs acknowledged */
    int64_t unknown;    /* INCRs that ended in VMUX_ERR_CONNECTION_LOST */
    int64_t maybe_lost; /* acknowledged INCRs the server may have lost */
};

struct cl_thread {
    struct cl_run *run;
    int id;
    pthread_t th;
    struct cl_string str[CL_STRINGS];
    struct cl_counter ctr[CL_COUNTERS];
    uint64_t seq;
    atomic_int ops;           /* calls completed (the main thread watches it) */
    _Atomic uint64_t last_ok; /* when its last successful call completed */
    uint64_t max_gap;         /* the longest such gap (see above) */
    uint64_t gap_end;         /* when that gap ended */
    unsigned rnd;
    uint64_t period_ns; /* 0: calls back to back; else one call due per period (paced) */
    uint64_t next_ns;   /* paced: when the next call is due */
};

struct cl_run {
    vmux *m;
    int64_t timeout_ms;    /* each call's deadline */
    const char *prefix;    /* in every key name */
    bool incr_may_be_lost; /* an INCR may end in VMUX_ERR_CONNECTION_LOST */
    int dead_shard;        /* the shard whose writes may be lost; -1: none */
    const int *slot_shard; /* VMUX_SLOTS entries: the shard of each slot at the start */
    uint64_t start_ns;
    atomic_bool stop;
    atomic_bool barrier;
    _Atomic uint64_t event_ns;
    _Atomic uint64_t promoted_ns; /* 0, or when the test saw the failing shard's new primary */
    atomic_int errors;            /* errors returned to callers (other than allowed unknowns) */
    atomic_int wrong;             /* replies that belonged to another call */
    atomic_int twice;             /* INCR replies beyond acknowledged + unknown */
    _Atomic uint32_t done[CL_SHARDS][CL_BUCKETS];
    struct cl_thread t[CL_THREADS];
};

/*
 * Reads the slot map of cluster fixture name from its first node's CLUSTER SLOTS into
 * slot_shard (VMUX_SLOTS entries): the shard of a slot is the index among the fixture's
 * primaries at creation (vt_cluster_port(name, i), i < vt_cluster_primaries(name)) of the one
 * listed for its range (as primary, or as replica after a failover); -1 for none.
 */
void cl_read_shards(const char *name, int *slot_shard);

/* The starting value of thread t's counter i; INCR replies / 1e9 give t and i back. */
int64_t cl_counter_base(int t, int i);

/*
 * Writes into out a hash tag (without braces) whose slot satisfies want, trying "<n>" for n from
 * *cursor on (and leaving *cursor after the one taken). Fails the test after a million tries.
 */
void cl_tag_for(bool (*want)(int slot, void *arg), void *arg, int *cursor, char *out, size_t len);

/* Names thread t's string i / counter i with hash tag tag; sets its shard from slot_shard. */
void cl_name_string(struct cl_run *run, int t, int i, const char *tag);
void cl_name_counter(struct cl_run *run, int t, int i, const char *tag);

/*
 * The barrier (see above): sets run->barrier, then writes key on the primary at 127.0.0.1:port
 * and waits there (WAIT 1, up to 10 s) until a replica has it, and so every write acknowledged
 * before it. Fails the test when the primary cannot be reached or no replica acknowledges.
 */
void cl_barrier(struct cl_run *run, int port, const char *key);

/* Sets every counter to its base (through run->m) and starts the threads. */
void cl_start(struct cl_run *run);

/* Stops and joins the threads. */
void cl_stop(struct cl_run *run);

/* Waits until every thread has completed more calls than now; fails the test after 60 s. */
void cl_wait_ops(struct cl_run *run, int more);

/* Completions of shard s (or every shard but s when others) in [from_ns, to_ns). */
uint64_t cl_done_between(struct cl_run *run, int s, bool others, uint64_t from_ns, uint64_t to_ns);

/*
 * Reads every key back through run->m and checks it against the ledger: a string holds a value
 * of its own, with a seq between its last safe write and its last sent one, and, when exact, its
 * last acknowledged one; a counter lies within [base + acked - maybe_lost, base + acked +
 * unknown] (exact: base + acked). Fails the test otherwise. Returns how many acknowledged writes
 * are missing (each a string older than its last acknowledged SET, or a counter below base +
 * acked, by the number missing), all of them writes the server may have lost.
 */
int cl_check_ledger(struct cl_run *run, bool exact);

/* Sums the ledger for the report: acknowledged INCRs, unknown INCRs, maybe-lost writes. */
void cl_totals(struct cl_run *run, long *ops, long *incr_acked, long *incr_unknown,
               long *maybe_lost);

#endif

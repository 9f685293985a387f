/*
 * The handle's counters (vmux_stats), written by the I/O thread (and "submitted" by callers)
 * with relaxed atomics, read by any thread.
 */
#ifndef VMUX_COUNTERS_H
#define VMUX_COUNTERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmux/client.h"

struct vmux_counters {
    _Atomic uint64_t submitted, replied, timed_out, connection_lost, closed, failed_other;
    _Atomic uint64_t error_replies; /* of replied: VMUX_ERR_SERVER */
    _Atomic uint64_t resent, retried, connects, connect_failures;
    _Atomic uint64_t backlog, in_flight, bytes_in, bytes_out;
    _Atomic uint64_t connected; /* command links set up now (gauge; net/link.c) */
    _Atomic uint64_t refused;
    /* Admission (vmux__counters_admit): what the handle holds for callers, from the moment a
     * call is accepted until its op is freed. Callers add, the I/O thread subtracts. */
    _Atomic uint64_t pending, pending_bytes;
    /* Calls carried by a control op (a fan-out), from submission until their completion has
     * run: not commands, so outside the bounds and the stats, but vmux_drain() waits for them. */
    _Atomic uint64_t calls_held;
    /* vmux__counters_drain(): callers waiting for pending and calls_held to reach 0, and the word
     * they sleep on, bumped (and woken) by the release that takes either to 0 while one waits. */
    atomic_uint drainers, drained;
    _Atomic uint64_t subscriber_lost, pubsub_dropped;
    _Atomic uint64_t pubsub_over_limit; /* messages over a reply limit (mux/pubsub_over_limit.c) */
    _Atomic uint64_t moved, asked, refreshes; /* cluster mode (route/) */
    /* Set on the handle's counters only (NULL elsewhere): the counters of host:port's links. A
     * link given counters with by_node counts what a link counts (vmux__counters_add_links())
     * in the block of the node it dials, from each connection attempt on (link.c count_at()). */
    struct vmux_counters *(*by_node)(void *arg, const char *host, int port);
    void *by_node_arg;
};

static inline void vmux__count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/*
 * Admits one op of len bytes if the handle holds fewer than max_ops ops and the bytes fit in
 * max_bytes (an op larger than max_bytes fits while nothing else is held). Any thread; O(1).
 * Returns false, counting a refusal, when it does not fit.
 */
bool vmux__counters_admit(struct vmux_counters *c, uint64_t len, uint64_t max_ops,
                          uint64_t max_bytes);

/*
 * Admits n ops of bytes bytes in all, whole or not at all: exactly when admitting them one by one,
 * with nothing else changing meanwhile, would admit every one (so one op larger than max_bytes
 * fits while nothing else is held, and a batch of several never passes max_bytes). Any thread;
 * O(1). Returns false, counting one refusal, when they do not fit.
 */
bool vmux__counters_admit_n(struct vmux_counters *c, uint64_t n, uint64_t bytes, uint64_t max_ops,
                            uint64_t max_bytes);

/* Gives back what vmux__counters_admit() took for an op of len bytes. */
void vmux__counters_release(struct vmux_counters *c, uint64_t len);

/*
 * An admitted op's bytes went from from to to (vmux__op_splice()): pending_bytes follows, with no
 * limit checked (a few bytes). Any thread.
 */
void vmux__counters_resize(struct vmux_counters *c, uint64_t from, uint64_t to);

/* Gives back n ops of bytes bytes in all, taken by vmux__counters_admit_n(). */
void vmux__counters_release_n(struct vmux_counters *c, uint64_t n, uint64_t bytes);

/* Counts one call a control op carries (calls_held), until vmux__counters_call_done(). Any
 * thread. */
void vmux__counters_call_held(struct vmux_counters *c);
void vmux__counters_call_done(struct vmux_counters *c);

/*
 * Waits until c holds no op and no held call (pending and calls_held are 0) or timeout_ms passed
 * (VMUX_FOREVER: no limit); true when it holds none. Any thread but one whose ops it waits for.
 */
bool vmux__counters_drain(struct vmux_counters *c, int64_t timeout_ms);

/* Counts one completion by its status. */
void vmux__count_completion(struct vmux_counters *c, int status);

/* Copies the counters into the public struct. */
void vmux__counters_read(const struct vmux_counters *c, vmux_stats *out);

/*
 * Adds c's link counters (resent, retried, connects, connect_failures, backlog, in_flight,
 * bytes_in, bytes_out, connected: what a link counts, as opposed to what the handle counts of
 * commands) to *out. For a cluster node's links, which count into counters of their own.
 */
void vmux__counters_add_links(const struct vmux_counters *c, vmux_stats *out);

/* Adds from's link counters (those vmux__counters_add_links() adds) to *to. */
void vmux__stats_add_links(vmux_stats *to, const vmux_stats *from);

#endif

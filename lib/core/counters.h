/*
 * The handle's counters (vmux_stats), written by the I/O thread (and "submitted" by callers)
 * with relaxed atomics, read by any thread.
 */
#ifndef VMUX_COUNTERS_H
#define VMUX_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

#include "vmux/client.h"

struct vmux_counters {
    _Atomic uint64_t submitted, replied, timed_out, connection_lost, closed, failed_other;
    _Atomic uint64_t resent, retried, connects, connect_failures;
    _Atomic uint64_t backlog, in_flight, bytes_in, bytes_out;
    _Atomic uint64_t subscriber_lost;
};

static inline void vmux_count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void vmux_gauge(_Atomic uint64_t *g, uint64_t v)
{
    atomic_store_explicit(g, v, memory_order_relaxed);
}

/* Counts one completion by its status. */
void vmux_count_completion(struct vmux_counters *c, int status);

/* Copies the counters into the public struct. */
void vmux_counters_read(struct vmux_counters *c, vmux_stats *out);

#endif

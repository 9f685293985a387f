/*
 * A budget: one deadline for work made of several round trips (a script's EVALSHA and the EVAL
 * after NOSCRIPT, api/script.c; a cluster SCAN step's wait for detection, CLUSTER NODES, INFO
 * and SCAN, api/scan.c and scan_cluster.c). Each round trip gets what is left of it, not the
 * whole timeout again (which let a step against a paused node take a timeout per round trip),
 * and none is sent once less than a millisecond is left. Times are uv_hrtime() nanoseconds,
 * passed in. Any thread.
 */
#ifndef VMUX_CORE_BUDGET_H
#define VMUX_CORE_BUDGET_H

#include <stdint.h>

#define VMUX_NS_PER_MS 1000000ull

/*
 * The end of a budget of timeout_ms from start_ns, as vmux_call() counts a call's timeout: 0 (or
 * less, which the call refuses) means default_ms, and times beyond 2^32-1 ms count as 2^32-1.
 */
static inline uint64_t vmux__budget_end(int64_t timeout_ms, uint32_t default_ms, uint64_t start_ns)
{
    uint64_t ms = timeout_ms <= 0           ? default_ms
                  : timeout_ms < UINT32_MAX ? (uint64_t)timeout_ms
                                            : UINT32_MAX;
    return start_ns + ms * VMUX_NS_PER_MS;
}

/* The whole milliseconds left at now_ns before end_ns; 0 when less than one is. */
static inline uint64_t vmux__budget_left_ms(uint64_t end_ns, uint64_t now_ns)
{
    return end_ns > now_ns ? (end_ns - now_ns) / VMUX_NS_PER_MS : 0;
}

#endif

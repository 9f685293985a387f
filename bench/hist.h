/*
 * A latency histogram with log-linear buckets (HdrHistogram-like): values below 64 ns get a
 * bucket each, and every power of two above that is split into 32 equal buckets, so a recorded
 * value is off by at most 1/64 (~1.6%). Recording is an index computation and an increment:
 * no allocation per op. One histogram per thread; merge them when the run is over.
 */
#ifndef VMUX_BENCH_HIST_H
#define VMUX_BENCH_HIST_H

#include <stdint.h>

#define HIST_LINEAR 64
#define HIST_SUB_BITS 5
#define HIST_BUCKETS (HIST_LINEAR + (64 - 6) * (1 << HIST_SUB_BITS))

typedef struct hist {
    uint64_t count;
    uint64_t buckets[HIST_BUCKETS];
} hist;

void hist_reset(hist *h);
void hist_record(hist *h, uint64_t ns);
void hist_merge(hist *into, const hist *from);
/* The value at quantile q (0..1], in nanoseconds; 0 when the histogram is empty. */
uint64_t hist_quantile(const hist *h, double q);

#endif

/*
 * --reps N: the bench runs its whole selection N times over (so a configuration and the baseline
 * it is compared with alternate, and a slow spell of the machine falls on both), then reports
 * one row per configuration made of the medians of its rounds, and computes the ratios from
 * those rows.
 */
#ifndef VMUX_BENCH_ROUNDS_H
#define VMUX_BENCH_ROUNDS_H

#include "bench.h"

#include <stddef.h>

/*
 * Writes into out[0..cap) one row per configuration found in all[0..n) (a configuration: the
 * name, threads, commands in flight and, for the netlat rows, the delay), in the order each
 * first appears. Each measured column is the median, on its own, of that configuration's rows
 * (NAN when any of them did not measure it); the near cache's misses are the largest seen, and
 * the tracking table's figures are the last round's. out[i].rounds is how many rows it is the
 * median of. Returns how many rows it wrote.
 */
size_t rounds_medians(const bench_result *all, size_t n, bench_result *out, size_t cap);

#endif

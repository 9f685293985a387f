/*
 * The median of a bench program's rounds (vmux-reader-bench, vmux-refusal-bench): the middle of
 * the n values once sorted (the upper middle for an even n). Sorts v in place.
 */
#ifndef VMUX_BENCH_MEDIAN_H
#define VMUX_BENCH_MEDIAN_H

#include <stdlib.h>

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return v[n / 2];
}

#endif

#include "rounds.h"

#include "median.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* The columns a round measures, each taken as the median of the rounds. */
static const size_t MEASURED[] = {
    offsetof(bench_result, ops_per_sec),
    offsetof(bench_result, p50_us),
    offsetof(bench_result, p99_us),
    offsetof(bench_result, cpu_us_per_op),
    offsetof(bench_result, cs_per_op),
    offsetof(bench_result, io_cpu_us_per_op),
    offsetof(bench_result, proxy_cpu_us_per_op),
    offsetof(bench_result, proxy_spin_us_per_op),
    offsetof(bench_result, proxy_chunks_per_op),
    offsetof(bench_result, proxy_hold_p50_us),
    offsetof(bench_result, proxy_hold_p99_us),
};
#define NMEASURED (sizeof(MEASURED) / sizeof(MEASURED[0]))

static bool same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_config(const bench_result *a, const bench_result *b)
{
    return same_text(a->name, b->name) && a->threads == b->threads && a->inflight == b->inflight &&
           same_text(a->delay, b->delay) && a->rtt_us == b->rtt_us;
}

static double column(const bench_result *r, size_t offset)
{
    double v;
    memcpy(&v, (const char *)r + offset, sizeof v);
    return v;
}

/* The median of one column over the rows of all[] at idx[0..k); NAN if any of them lacks it. */
static double column_median(const bench_result *all, const size_t *idx, size_t k, size_t offset,
                            double *scratch)
{
    for (size_t i = 0; i < k; i++) {
        scratch[i] = column(&all[idx[i]], offset);
        if (isnan(scratch[i]))
            return NAN;
    }
    return bench_median(scratch, (int)k);
}

/* The median row of the rows of all[] at idx[0..k) (k >= 1), all of one configuration. */
static bench_result median_row(const bench_result *all, const size_t *idx, size_t k,
                               double *scratch)
{
    bench_result m = all[idx[k - 1]]; /* the last round's name, tracking table and so on */
    for (size_t c = 0; c < NMEASURED; c++) {
        double v = column_median(all, idx, k, MEASURED[c], scratch);
        memcpy((char *)&m + MEASURED[c], &v, sizeof v);
    }
    for (size_t i = 0; i < k; i++)
        if (all[idx[i]].near_misses > m.near_misses)
            m.near_misses = all[idx[i]].near_misses;
    m.round = 0;
    m.rounds = (int)k;
    return m;
}

size_t rounds_medians(const bench_result *all, size_t n, bench_result *out, size_t cap)
{
    size_t idx[BENCH_MAX_REPS], nout = 0;
    double scratch[BENCH_MAX_REPS];
    for (size_t i = 0; i < n && nout < cap; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = same_config(&all[j], &all[i]);
        if (seen)
            continue;
        size_t k = 0;
        for (size_t j = i; j < n && k < BENCH_MAX_REPS; j++)
            if (same_config(&all[j], &all[i]))
                idx[k++] = j;
        out[nout++] = median_row(all, idx, k, scratch);
    }
    return nout;
}

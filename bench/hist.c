#include "hist.h"

#include <math.h>
#include <string.h>

void hist_reset(hist *h)
{
    memset(h, 0, sizeof(*h));
}

static unsigned bucket_of(uint64_t v)
{
    if (v < HIST_LINEAR)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
    unsigned shift = msb - HIST_SUB_BITS;
    unsigned sub = (unsigned)(v >> shift) & ((1u << HIST_SUB_BITS) - 1);
    return HIST_LINEAR + (msb - 6) * (1u << HIST_SUB_BITS) + sub;
}

/* The middle of a bucket's range: the best single guess for the values it counted. */
static uint64_t bucket_mid(unsigned idx)
{
    if (idx < HIST_LINEAR)
        return idx;
    unsigned rel = idx - HIST_LINEAR;
    unsigned msb = rel / (1u << HIST_SUB_BITS) + 6;
    unsigned sub = rel % (1u << HIST_SUB_BITS);
    unsigned shift = msb - HIST_SUB_BITS;
    uint64_t low = ((uint64_t)((1u << HIST_SUB_BITS) + sub)) << shift;
    return low + (((uint64_t)1 << shift) >> 1);
}

void hist_record(hist *h, uint64_t ns)
{
    h->buckets[bucket_of(ns)]++;
    h->count++;
}

void hist_merge(hist *into, const hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
}

uint64_t hist_quantile(const hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank)
            return bucket_mid(i);
    }
    return bucket_mid(HIST_BUCKETS - 1);
}

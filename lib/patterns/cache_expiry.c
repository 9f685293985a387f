/*
 * When the cache's entries expire: TTLs shortened by a random jitter, so that entries stored
 * together do not expire together, and XFetch early refresh, so that a popular key is reloaded
 * by one caller shortly before it expires instead of by many right after.
 */
#include <time.h>

#include "core/random.h"
#include "patterns/cache_internal.h"

/* ---- randomness and time ---- */

/* Uniform in [0, 1). */
static double random_below_one(void)
{
    return (double)(vmux__random() >> 11) * 0x1.0p-53;
}

/*
 * ln(x) for x in (0, 1]. Written out because the library does not link libm; a series in
 * s = (x-1)/(x+1) after scaling x into [0.5, 1] is far more precise than a random threshold
 * needs.
 */
static double ln_unit(double x)
{
    int e = 0;
    while (x < 0.5) {
        x *= 2;
        e--;
    }
    double s = (x - 1) / (x + 1), s2 = s * s, term = s, sum = 0;
    for (int i = 1; i < 40; i += 2) {
        sum += term / i;
        term *= s2;
    }
    return 2 * sum + e * 0.69314718055994530942;
}

/* Wall-clock time: expiry times in stored entries are shared with other processes. */
uint64_t vmux__cache_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The stored TTL: the configured one, shortened by up to the jitter fraction, at least 1 ms. */
int64_t vmux__cache_jittered(const vmux_cache *c, int64_t ttl_ms)
{
    ttl_ms -= (int64_t)((double)ttl_ms * c->jitter * random_below_one());
    return ttl_ms < 1 ? 1 : ttl_ms;
}

/* XFetch: refresh when now - delta * beta * ln(rand) >= expiry, rand uniform in (0, 1]. */
bool vmux__cache_refresh_due(const vmux_cache *c, const struct entry *e)
{
    if (c->beta <= 0)
        return false;
    double gap_ms = (double)e->expiry_ms - (double)vmux__cache_wall_ms();
    double scale_ms = (double)e->delta_us / 1000.0 * c->beta;
    if (gap_ms <= 0)
        return true;
    /* -ln(rand) never exceeds 53 ln 2 < 37 here: far from expiry, skip the draw and the log */
    if (gap_ms > scale_ms * 37)
        return false;
    return -ln_unit(1.0 - random_below_one()) * scale_ms >= gap_ms;
}

/*
 * A doubling backoff with jitter, as the library waits before sending a command again (TRYAGAIN
 * and the like, net/link.c; a MOVED ping-pong, route/bounce.c; an SSUBSCRIBE's, mux/
 * pubsub_bounce.c): the attempt-th wait spans first_ms doubled attempt - 1 times, at most cap_ms,
 * and is drawn from half the span to all of it, so that commands refused together do not come
 * back together. Pure functions: any thread.
 */
#ifndef VMUX_CORE_BACKOFF_H
#define VMUX_CORE_BACKOFF_H

#include <stdint.h>

/* The span of the attempt-th wait (1: first_ms; 0 counts as 1), capped at cap_ms. */
static inline uint32_t vmux__backoff_span(unsigned attempt, uint32_t first_ms, uint32_t cap_ms)
{
    uint32_t d = first_ms;
    for (unsigned i = 1; i < attempt && d < cap_ms; i++)
        d *= 2;
    return d > cap_ms ? cap_ms : d;
}

/* A wait within span (half of it to all of it), chosen by the random draw r. */
static inline uint32_t vmux__backoff_jitter(uint32_t span, uint64_t r)
{
    return span / 2 + (uint32_t)(r % (span / 2 + 1));
}

#endif

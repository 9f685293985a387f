/* Deadlines of the calls that wait: now plus a caller's milliseconds, never wrapped. */
#ifndef VMUX_UNTIL_H
#define VMUX_UNTIL_H

#include <stdint.h>
#include <uv.h>

/*
 * The uv_hrtime() at which a wait of ms milliseconds from now ends: now for ms <= 0, and
 * UINT64_MAX (never) for an ms too large to add (up to INT64_MAX: a wait that wrapped would
 * end at once). Any thread.
 */
static inline uint64_t vmux__until_ms(int64_t ms)
{
    uint64_t now = uv_hrtime();
    if (ms <= 0)
        return now;
    return (uint64_t)ms > (UINT64_MAX - now) / 1000000u ? UINT64_MAX
                                                        : now + (uint64_t)ms * 1000000u;
}

#endif

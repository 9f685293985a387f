/* Per-thread xorshift64* (core/random.h). */
#include "core/random.h"

#include <uv.h>

uint64_t vmux__random(void)
{
    static _Thread_local uint64_t s;
    if (s == 0)
        s = (uv_hrtime() ^ ((uint64_t)(uintptr_t)&s * 0x9E3779B97F4A7C15ull)) | 1;
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
}

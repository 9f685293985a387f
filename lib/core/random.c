/* Per-thread xorshift64*, and tokens from OpenSSL's generator (core/random.h). */
#include "core/random.h"

#include <openssl/rand.h>
#include <uv.h>

#include "vmux/error.h"

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

int vmux__random_hex(size_t nbytes, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[VMUX_RANDOM_HEX_MAX];
    if (nbytes > sizeof raw || RAND_bytes(raw, (int)nbytes) != 1)
        return VMUX_ERR_IO;
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
    return 0;
}

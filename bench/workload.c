/* The workload every configuration runs: GET/SET 50/50, uniform keys, 16-byte values. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

const char bench_value[BENCH_VALUE_LEN + 1] = "0123456789abcdef";

/* splitmix64: spreads small stream numbers into well-mixed, distinct seeds. */
uint64_t workload_seed(unsigned stream)
{
    uint64_t z = 0x9e3779b97f4a7c15u * ((uint64_t)stream + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return z ? z : 1;
}

/* xorshift64*: a few cycles per draw, so the generator never shows in the profile. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1du;
}

/* Writes "key:%05d" without snprintf, which would cost more than the rest of the draw. */
static size_t format_key(char *dst, unsigned n)
{
    memcpy(dst, "key:", 4);
    for (int i = 8; i >= 4; i--) {
        dst[i] = (char)('0' + n % 10);
        n /= 10;
    }
    dst[9] = '\0';
    return 9;
}

void workload_next(uint64_t *rng, bench_cmd *c)
{
    uint64_t x = rng_next(rng);
    size_t klen = format_key(c->key, (unsigned)((x >> 1) % BENCH_KEYSPACE));
    c->argv[1] = c->key;
    c->argvlen[1] = klen;
    if (x & 1) {
        c->argc = 3;
        c->argv[0] = "SET";
        c->argvlen[0] = 3;
        c->argv[2] = bench_value;
        c->argvlen[2] = BENCH_VALUE_LEN;
    } else {
        c->argc = 2;
        c->argv[0] = "GET";
        c->argvlen[0] = 3;
    }
}

size_t workload_encode(uint64_t *rng, char *buf, size_t cap)
{
    bench_cmd c;
    workload_next(rng, &c);
    size_t len = 0;
    int n = snprintf(buf, cap, "*%d\r\n", c.argc);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    len = (size_t)n;
    for (int i = 0; i < c.argc; i++) {
        n = snprintf(buf + len, cap - len, "$%zu\r\n", c.argvlen[i]);
        if (n < 0 || (size_t)n >= cap - len || cap - len - (size_t)n < c.argvlen[i] + 2)
            return 0;
        len += (size_t)n;
        memcpy(buf + len, c.argv[i], c.argvlen[i]);
        len += c.argvlen[i];
        memcpy(buf + len, "\r\n", 2);
        len += 2;
    }
    return len;
}

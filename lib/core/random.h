/*
 * Cheap random numbers for choices that need spread, not secrecy (a cache entry's TTL jitter,
 * the primary whose RANDOMKEY answer a cluster call keeps). Not for tokens: those use OpenSSL's
 * RAND_bytes (lock.h, session.h).
 */
#ifndef VMUX_CORE_RANDOM_H
#define VMUX_CORE_RANDOM_H

#include <stdint.h>

/*
 * The next number of the calling thread's xorshift64* sequence, seeded on first use from the
 * clock and the thread's own address. Any thread; no lock.
 */
uint64_t vmux__random(void);

#endif

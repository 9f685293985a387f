/*
 * Random numbers: cheap ones for choices that need spread, not secrecy (a cache entry's TTL
 * jitter, the primary whose RANDOMKEY answer a cluster call keeps), and unguessable tokens from
 * OpenSSL's RAND_bytes (a lock's token, a session's id: lock.h, session.h).
 */
#ifndef VMUX_CORE_RANDOM_H
#define VMUX_CORE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/*
 * The next number of the calling thread's xorshift64* sequence, seeded on first use from the
 * clock and the thread's own address. Any thread; no lock.
 */
uint64_t vmux__random(void);

/* The most random bytes vmux__random_hex() gives at once. */
#define VMUX_RANDOM_HEX_MAX 64

/*
 * Fills out with nbytes (at most VMUX_RANDOM_HEX_MAX) random bytes from OpenSSL's RAND_bytes as
 * 2 * nbytes lowercase hex digits and a NUL. Returns 0, or VMUX_ERR_IO when the generator failed
 * or nbytes is over the bound (out is then unchanged). Any thread.
 */
int vmux__random_hex(size_t nbytes, char *out);

#endif

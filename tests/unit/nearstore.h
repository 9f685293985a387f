/*
 * Helpers of the near cache store's unit tests (test_near_store.c, test_near_variants.c): a
 * store made with given bounds, its counters, and a lookup callback that copies what it finds.
 * Each fails the running cmocka test when a call it makes fails. Any thread (vt_take_copy() runs
 * on the reader threads of the concurrent test).
 */
#ifndef VMUX_TEST_NEARSTORE_H
#define VMUX_TEST_NEARSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/near_store.h"

/* The clock of the tests' reserves, fills and lookups (ms), and a fill's deadline for no TTL. */
#define NOW 1000u
#define NO_TTL UINT64_MAX

/* A new store of at most entries entries and bytes bytes in shards shards; vmux__near_free() it. */
struct vmux_near *vt_store_with(size_t entries, size_t bytes, unsigned shards);

/* s's counters (vmux__near_read_stats()). */
struct vmux_near_store_stats vt_store_stats(struct vmux_near *s);

/*
 * A vmux__near_lookup_var() callback: copies the len bytes into out (a vmux_bytes, which owns the
 * copy, NUL-terminated: vmux_bytes_free() it). Returns 0, or VMUX_ERR_NOMEM with out untouched.
 */
int vt_take_copy(const void *bytes, size_t len, void *out);

#endif

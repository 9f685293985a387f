/*
 * The near cache's BCAST prefixes (nearCachePrefixes, docs/patterns/near-cache.md#bcast-mode):
 * a list of key prefixes separated by ';', as the configuration holds it. The server's
 * CLIENT TRACKING ... BCAST PREFIX p1 PREFIX p2 ... sends the invalidation of every key under
 * them; a near read of a key under none is read untracked. Pure functions on the text: any
 * thread.
 */
#ifndef VMUX_NEAR_PREFIX_H
#define VMUX_NEAR_PREFIX_H

#include <stdbool.h>
#include <stddef.h>

#define VMUX_NEAR_PREFIX_SEP ';'
#define VMUX_NEAR_MAX_PREFIXES 64 /* each is checked against every other, and on every miss */

/*
 * Checks a prefix list: at most VMUX_NEAR_MAX_PREFIXES prefixes, none empty, and none a prefix
 * of another (Valkey refuses overlapping prefixes: "Prefixes for a single client must not
 * overlap"). NULL or "" is the empty list (BCAST for every key). Returns true, or false with why
 * (may be NULL) set to a sentence naming the bad prefix.
 */
bool vmux__near_prefixes_ok(const char *list, char *why, size_t whylen);

/* How many prefixes a checked list holds (0 for NULL or ""). */
size_t vmux__near_prefix_count(const char *list);

/*
 * Whether key (len bytes) is under a prefix of the checked list; every key is when the list is
 * empty (NULL or "").
 */
bool vmux__near_prefix_match(const char *list, const void *key, size_t len);

/*
 * Cuts a copy of the checked list into its prefixes: *copy (the caller frees it) holds them,
 * NUL-terminated, and argv[0 .. n - 1] point into it (argv has room for
 * VMUX_NEAR_MAX_PREFIXES). Returns n, or -1 when out of memory.
 */
int vmux__near_prefix_split(const char *list, char **copy, const char **argv);

#endif

/*
 * The value helpers of types.h that every layer uses: the *_free functions of vmux_bytes and
 * its arrays (public, declared in vmux/types.h) and copying bytes into a new vmux_bytes. They
 * live in core so that core itself (the pub/sub message queue) and every layer above may use
 * them.
 */
#ifndef VMUX_VALUE_H
#define VMUX_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "vmux/types.h"

/*
 * Copies len bytes at p (p may be NULL when len is 0) into a new, NUL-terminated out->ptr.
 * Returns 0, or VMUX_ERR_NOMEM with *out zeroed (also for a len of SIZE_MAX, whose copy and
 * terminator no buffer can hold). Any thread.
 */
int vmux__bytes_copy(const void *p, size_t len, vmux_bytes *out);

/*
 * Frees the member of each of count structs of size bytes at items (a vmux_bytes at byte offset
 * member_at in each: a sorted-set member with its score, a leaderboard entry, a geo result), then
 * items itself: what the *_free functions of those arrays share. items may be NULL with count 0.
 */
void vmux__free_items(void *items, size_t count, size_t size, size_t member_at);

/*
 * Whether s is no string at all: ptr NULL with a non-zero length. Every call taking a vmux_str
 * refuses one with VMUX_ERR_INVALID_ARG before it sends anything (docs/api-conventions.md); the
 * typed commands' argument vector checks it for them (api/typed.h), this is for the rest.
 */
static inline bool vmux__str_invalid(vmux_str s)
{
    return s.ptr == NULL && s.len > 0;
}

#endif

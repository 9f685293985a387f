/*
 * A key as the patterns send it: their prefix, then the caller's key (ratelimit.c, session.c,
 * cache_store.c). Short keys are built in the struct itself, so the common case costs no
 * allocation; longer ones are malloc'ed. Not thread-safe: a prefixed key belongs to the caller
 * that made it, usually on its stack, for the duration of one call.
 */
#ifndef VMUX_PREFIXED_KEY_H
#define VMUX_PREFIXED_KEY_H

#include <stddef.h>

#include "vmux/types.h"

/* The longest prefixed key built inline, in bytes, not counting its NUL. */
#define VMUX__PREFIXED_KEY_INLINE 256

/*
 * ptr holds len bytes, prefix + key, and a NUL after them (so a key without NULs is also a C
 * string). ptr points into inline_buf or at memory the struct owns; vmux__prefixed_key_free()
 * releases it. A key that could hold NULs must be sent by ptr and len, never as a C string.
 */
struct vmux__prefixed_key {
    char *ptr;
    size_t len;
    char inline_buf[VMUX__PREFIXED_KEY_INLINE + 1];
};

/*
 * Builds prefix (prefix_len bytes; may be NULL when 0) followed by key (its bytes are copied;
 * key.ptr may be NULL when key.len is 0) into *k. Neither input is kept. Returns 0, or
 * VMUX_ERR_NOMEM with nothing to free (the callers decide what to say about it). *k must not
 * be moved or copied while it holds an inline key: ptr points into it.
 */
int vmux__prefixed_key_make(struct vmux__prefixed_key *k, const char *prefix, size_t prefix_len,
                            vmux_str key);

/* Frees what vmux__prefixed_key_make() allocated, if anything. Only after it returned 0. */
void vmux__prefixed_key_free(struct vmux__prefixed_key *k);

#endif

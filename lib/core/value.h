/*
 * The value helpers of types.h that every layer uses: the *_free functions of vmux_bytes and
 * its arrays (public, declared in vmux/types.h) and copying bytes into a new vmux_bytes. They
 * live in core so that core itself (the pub/sub message queue) and every layer above may use
 * them.
 */
#ifndef VMUX_VALUE_H
#define VMUX_VALUE_H

#include <stddef.h>

#include "vmux/types.h"

/*
 * Copies len bytes at p (p may be NULL when len is 0) into a new, NUL-terminated out->ptr.
 * Returns 0, or VMUX_ERR_NOMEM with *out zeroed. Any thread.
 */
int vmux__bytes_copy(const void *p, size_t len, vmux_bytes *out);

#endif

/*
 * Reading and filling the caller's sized structs (include/vmux/abi.h): only the bytes the
 * caller's size field covers, whatever size this library was built with.
 */
#ifndef VMUX_SIZED_H
#define VMUX_SIZED_H

#include <stddef.h>

#include "vmux/call.h"

/*
 * Copies the caller's sized struct src into dst, the library's own struct of dst_size bytes:
 * the bytes src's size covers, and zeros for the fields it lacks (their defaults). Returns 0,
 * or VMUX_ERR_INVALID_ARG (dst zeroed) when the size is below sizeof(size_t), or when it is
 * larger than dst_size and a byte past dst_size is not zero (a field this library lacks).
 * dst's size field is set to dst_size. src must not be NULL.
 */
int vmux__sized_in(void *dst, size_t dst_size, const void *src);

/*
 * Writes the library's struct src (src_size bytes, its size field ignored) into the caller's
 * sized struct dst: as many bytes as dst's size covers, zeros past src_size, and dst's size
 * field left as it is. Returns 0, or VMUX_ERR_INVALID_ARG (nothing written) when dst's size is
 * below sizeof(size_t). dst must not be NULL.
 */
int vmux__sized_out(void *dst, const void *src, size_t src_size);

/*
 * A full copy of the caller's call options (NULL: the defaults), for code that adds a flag or
 * changes the timeout before passing them on. Options that cannot be read come back with size
 * 0, which vmux_call() and its kin then refuse with VMUX_ERR_INVALID_ARG.
 */
vmux_callopts vmux__callopts_copy(const vmux_callopts *opts);

#endif

/*
 * The bytes the near cache keeps for a reply that is an array of strings (HGETALL's field/value
 * pairs, SMEMBERS' members: api/near_typed.c): the element count, then each element's length and
 * bytes, the numbers as unsigned LEB128 (one byte below 128). These bytes are what an entry's
 * value counts for against nearCacheMaxBytes. Private to lib/api; any thread.
 */
#ifndef VMUX_API_NEAR_CODEC_H
#define VMUX_API_NEAR_CODEC_H

#include <stddef.h>

#include "core/buf.h"
#include "vmux/reply.h"
#include "vmux/types.h"

/*
 * Appends the encoding of r, an array reply, to b. Returns 0, VMUX_ERR_PROTOCOL (r is not an
 * array, or an element is not a string) or VMUX_ERR_NOMEM.
 */
int vmux__near_encode_strings(const vmux_reply *r, struct vmux_buf *b);

/*
 * Decodes len bytes made by vmux__near_encode_strings() into *out (every element NUL-terminated,
 * owned by the caller: vmux_bytes_array_free(); no elements: count 0 and items not NULL, as
 * vmux_reply_to_bytes_array() gives an empty array). Returns 0, VMUX_ERR_PROTOCOL (the bytes are
 * not such an encoding) or VMUX_ERR_NOMEM, with *out zeroed.
 */
int vmux__near_decode_strings(const void *bytes, size_t len, vmux_bytes_array *out);

#endif

/** @file
 * Replies. A vmux_reply is one RESP value read from the server: a bulk string, a status line,
 * an error line, an integer, nil, or an array of replies. Replies are immutable once delivered;
 * any thread may read one, as long as it is not being freed at the same time.
 *
 * Ownership: whoever receives a reply (vmux_call()'s *out, or an async callback's reply
 * argument) owns it and frees it with vmux_reply_free(). Elements of an array belong to the
 * array and are freed with it; never free an element on its own.
 */
#ifndef VMUX_REPLY_H
#define VMUX_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "vmux/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A reply (opaque): read it with the accessors below, free it with vmux_reply_free(). */
typedef struct vmux_reply vmux_reply;

/** The kinds of reply (the numbers match hiredis's REDIS_REPLY_*). */
typedef enum vmux_reply_kind {
    VMUX_REPLY_STRING = 1,  /**< bulk string: binary-safe bytes */
    VMUX_REPLY_ARRAY = 2,   /**< array of replies */
    VMUX_REPLY_INTEGER = 3, /**< signed 64-bit integer */
    VMUX_REPLY_NIL = 4,     /**< nil bulk string or nil array */
    VMUX_REPLY_STATUS = 5,  /**< status line, such as "OK" */
    VMUX_REPLY_ERROR = 6, /**< the server's error line, such as "WRONGTYPE Operation against..." */
} vmux_reply_kind;

/**
 * Returns the reply's kind. A NULL r (no reply: the call that would have given one failed) reads
 * as VMUX_REPLY_NIL, as every accessor below reads it as empty, so a switch on the kind of a
 * failed call's reply takes the nil branch; the call's return code says why there is none.
 */
VMUX_EXPORT vmux_reply_kind vmux_reply_get_kind(const vmux_reply *r);

/** Returns a static name for a kind: "string", "array", "integer", "nil", "status", "error". */
VMUX_EXPORT const char *vmux_reply_kind_name(vmux_reply_kind kind);

/**
 * Returns the bytes of a string, status or error reply, NUL-terminated for convenience (the
 * bytes themselves may contain NULs), and stores their length in *len when len is not NULL.
 * For any other kind returns NULL and stores 0. The bytes live as long as the reply.
 */
VMUX_EXPORT const char *vmux_reply_str(const vmux_reply *r, size_t *len);

/** Returns the value of an integer reply; 0 for any other kind. */
VMUX_EXPORT int64_t vmux_reply_integer(const vmux_reply *r);

/**
 * Returns the number of elements of an array reply, or the byte length of a string, status or
 * error reply; 0 for integer and nil.
 */
VMUX_EXPORT size_t vmux_reply_len(const vmux_reply *r);

/**
 * Returns element i of an array reply, owned by the array; NULL when r is not an array or i is
 * out of range.
 */
VMUX_EXPORT const vmux_reply *vmux_reply_element(const vmux_reply *r, size_t i);

/** Frees a reply and all its elements. NULL is allowed. */
VMUX_EXPORT void vmux_reply_free(vmux_reply *r);

#ifdef __cplusplus
}
#endif

#endif

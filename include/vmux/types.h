/** @file
 * The value types of the typed commands: binary-safe byte strings going in (vmux_str,
 * borrowed) and coming out (vmux_bytes, owned), arrays of them, sorted-set members with
 * scores, and converters from a vmux_reply to each (for async callbacks of typed commands).
 *
 * Ownership: a vmux_str only points at the caller's bytes for the duration of the call (they
 * are copied before the call returns or blocks). A vmux_str with ptr NULL and len > 0 is
 * refused by every function with VMUX_ERR_INVALID_ARG, nothing sent; {NULL, 0} is the empty
 * string, or where a comment says so an optional argument left out (docs/api-conventions.md).
 * Every vmux_bytes, vmux_bytes_array and vmux_scored_array filled by vmux belongs to the
 * caller, who frees it with the matching *_free function; freeing a zeroed or already freed
 * one is allowed.
 */
#ifndef VMUX_TYPES_H
#define VMUX_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmux/export.h"
#include "vmux/reply.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Borrowed bytes: a key, a value, a member. */
typedef struct vmux_str {
    const void *ptr;
    size_t len;
} vmux_str;

/** A C string as a vmux_str (without its NUL). */
#define VMUX_STR(s) VMUX_LITERAL(vmux_str, (s), strlen(s))
/** n bytes at p as a vmux_str (they may contain NULs). */
#define VMUX_STRN(p, n) VMUX_LITERAL(vmux_str, (p), VMUX_AS(size_t, n))

/**
 * A duration with no limit (docs/api-conventions.md): every duration is an int64_t count of
 * milliseconds, and -1 means "forever" where a function's comment says it may (waiting for a
 * queued message, say), or "never" in a result (a retry that can never succeed). Any other
 * negative duration is VMUX_ERR_INVALID_ARG.
 */
#define VMUX_FOREVER ((int64_t)-1)

/**
 * The longest TTL the patterns store (a cache's ttl_ms and negative_ttl_ms, a session store's
 * idle_ttl_ms and max_lifetime_ms): 2^53 ms, about 285,000 years. Lua's numbers (the session
 * scripts') hold every whole number up to it exactly, and the server's PEXPIRE and SET PX take
 * it on any clock (a TTL near 2^63 ms is refused, "invalid expire time", or wraps negative in
 * Lua, which expires the key at once). A longer one is VMUX_ERR_INVALID_ARG.
 */
#define VMUX_TTL_MAX_MS (INT64_C(1) << 53)

/**
 * The condition under which a write applies (SET, the EXPIRE family, ZADD). Each function says
 * which it takes; any other is VMUX_ERR_INVALID_ARG and nothing is sent.
 */
typedef enum vmux_cond {
    VMUX_COND_ALWAYS = 0,
    VMUX_COND_NX = 1,    /**< only when it does not exist (the key, the member, the TTL) */
    VMUX_COND_XX = 2,    /**< only when it exists */
    VMUX_COND_GT = 3,    /**< only when the new value is greater than the current one */
    VMUX_COND_LT = 4,    /**< only when the new value is lower than the current one */
    VMUX_COND_XX_GT = 5, /**< XX and GT: only an existing one, and only upwards */
    VMUX_COND_XX_LT = 6, /**< XX and LT: only an existing one, and only downwards */
} vmux_cond;

/**
 * An end of a list or a sorted set. VMUX_HEAD is a list's left end (LPUSH, LPOP) and a sorted
 * set's lowest score (ZPOPMIN); VMUX_TAIL a list's right end (RPUSH, RPOP) and a sorted set's
 * highest score (ZPOPMAX).
 */
typedef enum vmux_end {
    VMUX_HEAD = 0,
    VMUX_TAIL = 1,
} vmux_end;

/**
 * How a flush frees the memory of what it deletes: FLUSHDB and FLUSHALL (server.h), SCRIPT FLUSH
 * and FUNCTION FLUSH (script.h).
 */
typedef enum vmux_flush_mode {
    VMUX_FLUSH_DEFAULT = 0, /**< the server's choice (its lazyfree-lazy-user-flush setting) */
    VMUX_FLUSH_SYNC = 1,    /**< SYNC: freed before the reply */
    VMUX_FLUSH_ASYNC = 2,   /**< ASYNC: freed in the background; the keys are gone at once */
} vmux_flush_mode;

/**
 * Owned bytes. ptr is NULL when the server answered nil (a missing key); otherwise it holds
 * len bytes followed by a NUL that len does not count, so text can be printed as it is.
 */
typedef struct vmux_bytes {
    char *ptr;
    size_t len;
} vmux_bytes;

/** Frees b's bytes and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_bytes_free(vmux_bytes *b);

/** Owned array of byte strings; an item's ptr is NULL where the server answered nil. */
typedef struct vmux_bytes_array {
    vmux_bytes *items;
    size_t count;
} vmux_bytes_array;

/** Frees every item and the array, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_bytes_array_free(vmux_bytes_array *a);

/** A sorted-set member and its score. */
typedef struct vmux_scored {
    vmux_bytes member;
    double score;
} vmux_scored;

/** Owned array of sorted-set members with their scores. */
typedef struct vmux_scored_array {
    vmux_scored *items;
    size_t count;
} vmux_scored_array;

/** Frees every member and the array, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_scored_array_free(vmux_scored_array *a);

/**
 * Converters from a reply (which they only read; the caller still frees it) to typed values.
 * Each returns 0, VMUX_ERR_SERVER when r is an error reply, VMUX_ERR_PROTOCOL when r has
 * another shape than the one asked for, VMUX_ERR_INVALID_ARG when r is NULL, or
 * VMUX_ERR_NOMEM; on error *out is zeroed. out NULL drops the value: the status still says
 * whether r has the shape.
 */
/** string, status or nil (ptr NULL) */
VMUX_EXPORT int vmux_reply_to_bytes(const vmux_reply *r, vmux_bytes *out);
/** integer */
VMUX_EXPORT int vmux_reply_to_int(const vmux_reply *r, int64_t *out);
/** a number sent as decimal text ("3.5", "1e-310", "-inf", "nan"; a '.' in any locale) or an
 *  integer; nil, other text (a leading space, hex, "infinity", "nan(1)", "3,5") and a finite
 *  number beyond a double's range ("2e308" or "1e-400", which INCRBYFLOAT can reach) are
 *  VMUX_ERR_PROTOCOL */
VMUX_EXPORT int vmux_reply_to_double(const vmux_reply *r, double *out);
/** "OK" (and any status) is true, nil is false; an integer is true when not 0 */
VMUX_EXPORT int vmux_reply_to_bool(const vmux_reply *r, bool *out);
/** array of strings/nils (nil array: count 0) */
VMUX_EXPORT int vmux_reply_to_bytes_array(const vmux_reply *r, vmux_bytes_array *out);
/** [member, score, member, score...] or [[member, score], ...] */
VMUX_EXPORT int vmux_reply_to_scored_array(const vmux_reply *r, vmux_scored_array *out);

#ifdef __cplusplus
}
#endif

#endif

/** @file
 * Hash commands, typed: HSET (many fields), HSETNX, HGET, HMGET, HGETALL, HDEL, HEXISTS,
 * HINCRBY, HINCRBYFLOAT, HLEN, HSTRLEN, HKEYS, HVALS, HRANDFIELD, and HSCAN (vmux_hscan_begin()
 * in scan.h, with vmux_hscan_next_fields() here for field/value pairs).
 *
 * Every function here is synchronous unless named *_async, may be called from any thread but
 * the I/O thread, and returns 0, VMUX_ERR_SERVER (the server refused: WRONGTYPE when the key
 * holds another type, "not an integer"...; the message goes to opts->errbuf when given),
 * VMUX_ERR_INVALID_ARG (bad input, nothing sent; opts->errbuf, when given, says which argument
 * broke which rule: "invalid argument: fields is NULL with n 1: ..."), or a transport error as
 * vmux_call() (call.h). opts may be NULL. Out-parameters are filled only on success (zeroed
 * otherwise); a NULL out-parameter drops that result. Keys, fields and values are binary-safe
 * (types.h). A missing key reads as an empty hash.
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): HGET, HMGET, HGETALL, HEXISTS, HLEN, HSTRLEN,
 * HKEYS, HVALS, HRANDFIELD and HSCAN are reads; HSET and HDEL leave the same state when
 * repeated, so they are marked retry-safe too (after a resend, the count they report may
 * describe the second run). HINCRBY and HINCRBYFLOAT are never sent twice, nor is HSETNX: a
 * second run leaves the field as the first did, but its answer, whether this call set the field,
 * is what its caller came for (as SET NX's is), and a resend after the first run set it would
 * answer false, as though another writer had got there first.
 */
#ifndef VMUX_HASHES_H
#define VMUX_HASHES_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/scan.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A hash field and its value (owned). */
typedef struct vmux_field_value {
    vmux_bytes field;
    vmux_bytes value;
} vmux_field_value;

/** Owned array of field/value pairs (HGETALL, HSCAN). */
typedef struct vmux_field_array {
    vmux_field_value *items;
    size_t count;
} vmux_field_array;

/** Frees every field and value and the array, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_field_array_free(vmux_field_array *a);

/**
 * Converts a reply [field, value, field, value...] (HGETALL's) into *out, for async callbacks.
 * Returns as the converters of types.h.
 */
VMUX_EXPORT int vmux_reply_to_field_array(const vmux_reply *r, vmux_field_array *out);

/**
 * HSET key fields[i] values[i] (n >= 1): writes the fields; *added is how many were new (the
 * others were overwritten).
 */
VMUX_EXPORT int vmux_hset(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *fields,
                          const vmux_str *values, size_t n, int64_t *added);
/** HSET, asynchronously: cb gets the count as an integer (vmux_reply_to_int() reads it). */
VMUX_EXPORT int vmux_hset_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                const vmux_str *fields, const vmux_str *values, size_t n,
                                vmux_reply_cb cb, void *userdata);

/**
 * HSETNX key field value: sets the field only when the hash has no such field (creating the key
 * when missing). *set says whether it did; false leaves the value there as it was. Never sent
 * twice (see above).
 */
VMUX_EXPORT int vmux_hsetnx(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                            vmux_str value, bool *set);

/** HGET: *value gets the field's bytes, or ptr NULL when the field or the key does not exist. */
VMUX_EXPORT int vmux_hget(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                          vmux_bytes *value);
/** HGET, asynchronously: cb gets the reply; vmux_reply_to_bytes() reads it. */
VMUX_EXPORT int vmux_hget_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                                vmux_reply_cb cb, void *userdata);

/** HMGET: values[i] for fields[i] (ptr NULL where missing). n >= 1. */
VMUX_EXPORT int vmux_hmget(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *fields,
                           size_t n, vmux_bytes_array *values);

/** HGETALL: every field with its value, in the server's order (none for a missing key). */
VMUX_EXPORT int vmux_hgetall(vmux *m, const vmux_callopts *opts, vmux_str key,
                             vmux_field_array *fields);
/** HGETALL, asynchronously: cb gets the flat reply; vmux_reply_to_field_array() reads it. */
VMUX_EXPORT int vmux_hgetall_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                   vmux_reply_cb cb, void *userdata);

/** HDEL: deletes the n fields (n >= 1); *deleted is how many existed. */
VMUX_EXPORT int vmux_hdel(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *fields,
                          size_t n, int64_t *deleted);

/** HEXISTS: *exists says whether the field exists. */
VMUX_EXPORT int vmux_hexists(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                             bool *exists);

/** HINCRBY: adds by to the field's integer (a missing field counts as 0); *result is the sum. */
VMUX_EXPORT int vmux_hincrby(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                             int64_t by, int64_t *result);
/**
 * HINCRBYFLOAT: as vmux_hincrby(), for floating-point numbers. A NaN `by` is
 * VMUX_ERR_INVALID_ARG, nothing sent; an infinite one is the server's error (VMUX_ERR_SERVER,
 * nothing changed). The server adds in long double precision: a finite sum beyond a double's
 * range ("2e308" from 1e308 + 1e308) is stored, and its reply is VMUX_ERR_PROTOCOL here
 * (vmux_reply_to_double(), types.h), the field changed.
 */
VMUX_EXPORT int vmux_hincrbyfloat(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                                  double by, double *result);

/** HLEN: *count is the number of fields. */
VMUX_EXPORT int vmux_hlen(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *count);
/** HSTRLEN: *length is the length in bytes of the field's value, 0 when it or the key is missing.
 */
VMUX_EXPORT int vmux_hstrlen(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                             int64_t *length);
/** HKEYS: every field name. */
VMUX_EXPORT int vmux_hkeys(vmux *m, const vmux_callopts *opts, vmux_str key,
                           vmux_bytes_array *fields);
/** HVALS: every value (in HKEYS's order of fields, while the hash does not change). */
VMUX_EXPORT int vmux_hvals(vmux *m, const vmux_callopts *opts, vmux_str key,
                           vmux_bytes_array *values);

/** HRANDFIELD key: a random field's name in *field (ptr NULL: the key does not exist). */
VMUX_EXPORT int vmux_hrandfield(vmux *m, const vmux_callopts *opts, vmux_str key,
                                vmux_bytes *field);
/**
 * HRANDFIELD key count: random field names. count > 0: up to count distinct ones (every field
 * when the hash has fewer); count < 0: exactly -count, which may repeat; count 0 or a missing
 * key: none. INT64_MIN (whose negation the server cannot take) is VMUX_ERR_INVALID_ARG.
 * The server builds all -count of them in memory at once: a huge negative count can
 * exhaust it, as the raw command would.
 */
VMUX_EXPORT int vmux_hrandfield_count(vmux *m, const vmux_callopts *opts, vmux_str key,
                                      int64_t count, vmux_bytes_array *fields);
/**
 * HRANDFIELD key count WITHVALUES: as vmux_hrandfield_count(), each field with its value, as
 * pairs in *pairs (freed with vmux_field_array_free()). The server takes this count only within
 * INT64_MAX / 2 either way: one beyond is VMUX_ERR_INVALID_ARG.
 */
VMUX_EXPORT int vmux_hrandfield_withvalues(vmux *m, const vmux_callopts *opts, vmux_str key,
                                           int64_t count, vmux_field_array *pairs);

/**
 * vmux_scan_next() for an HSCAN iterator (vmux_hscan_begin()), with fields and values as pairs
 * in *batch (freed with vmux_field_array_free()). Returns 1, 0 or an error as vmux_scan_next();
 * VMUX_ERR_INVALID_ARG when it was not begun by vmux_hscan_begin().
 */
VMUX_EXPORT int vmux_hscan_next_fields(vmux_scan *it, const vmux_callopts *opts,
                                       vmux_field_array *batch);

#ifdef __cplusplus
}
#endif

#endif

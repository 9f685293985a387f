/** @file
 * String commands, typed: GET, SET (with expiry and condition), SET ... GET, GETEX, GETDEL,
 * MGET, MSET, MSETNX, INCR/INCRBY/INCRBYFLOAT/DECR/DECRBY, APPEND, STRLEN, GETRANGE, SETRANGE,
 * LCS (the subsequence or its LEN).
 *
 * Every function here is synchronous unless named *_async, may be called from any thread but
 * the I/O thread, and returns 0, VMUX_ERR_SERVER (the server refused: WRONGTYPE, not an
 * integer...; the message goes to opts->errbuf when given), VMUX_ERR_INVALID_ARG for bad input
 * (nothing is sent: an expiry or condition the command does not take, a NaN, a negative
 * SETRANGE offset, a vmux_str {NULL, len > 0}; opts->errbuf, when given, says which argument
 * broke which rule: "invalid argument: cond is 3: SET takes VMUX_COND_ALWAYS, NX or XX"), or a
 * transport error as vmux_call() (call.h).
 * opts may be NULL. Out-parameters are filled only on success (zeroed otherwise); a NULL
 * out-parameter drops that result. Keys and values are binary-safe (types.h).
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): GET, GETEX, MGET, STRLEN, GETRANGE, LCS, MSET,
 * SETRANGE (the same bytes written at the same place: the same string and length) and SET
 * without a condition or GET are idempotent and marked so; SET NX/XX, SET ... GET, GETDEL,
 * MSETNX, the INCR family and APPEND are never sent twice.
 */
#ifndef VMUX_STRINGS_H
#define VMUX_STRINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An expiry to set with a write or a read (SET, GETEX). */
typedef enum vmux_expiry_kind {
    VMUX_EXPIRY_NONE = 0,       /**< SET: no TTL (any old one is cleared); GETEX: leave it */
    VMUX_EXPIRY_SECONDS = 1,    /**< EX value */
    VMUX_EXPIRY_MS = 2,         /**< PX value */
    VMUX_EXPIRY_AT_SECONDS = 3, /**< EXAT value (Unix time) */
    VMUX_EXPIRY_AT_MS = 4,      /**< PXAT value (Unix time, ms) */
    VMUX_EXPIRY_KEEP = 5,       /**< SET: KEEPTTL */
    VMUX_EXPIRY_PERSIST = 6,    /**< GETEX: PERSIST (remove the TTL) */
} vmux_expiry_kind;

/** An expiry: its kind and, for the kinds that take one, its value. */
typedef struct vmux_expiry {
    vmux_expiry_kind kind;
    int64_t value;
} vmux_expiry;

/** @{ */
/** A vmux_expiry of the common kinds. */
#define VMUX_NO_EXPIRY VMUX_LITERAL(vmux_expiry, VMUX_EXPIRY_NONE, 0)
#define VMUX_EXPIRE_IN_SECONDS(s)                                                                  \
    VMUX_LITERAL(vmux_expiry, VMUX_EXPIRY_SECONDS, VMUX_AS(int64_t, s))
#define VMUX_EXPIRE_IN_MS(ms) VMUX_LITERAL(vmux_expiry, VMUX_EXPIRY_MS, VMUX_AS(int64_t, ms))
#define VMUX_KEEP_TTL VMUX_LITERAL(vmux_expiry, VMUX_EXPIRY_KEEP, 0)
/** @} */

/** GET: *value gets the bytes, or ptr NULL when the key does not exist. */
VMUX_EXPORT int vmux_get(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value);
/** GET, asynchronously: cb gets the reply; vmux_reply_to_bytes() reads it. */
VMUX_EXPORT int vmux_get_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_reply_cb cb,
                               void *userdata);

/**
 * SET key value with an expiry (VMUX_EXPIRY_NONE, _SECONDS, _MS, _AT_SECONDS, _AT_MS or
 * _KEEP) and a condition (types.h): VMUX_COND_ALWAYS, VMUX_COND_NX (the key does not exist) or
 * VMUX_COND_XX (it does). *was_set says whether it was written (false when the condition did
 * not hold). VMUX_ERR_INVALID_ARG for an expiry kind or a condition SET does not take.
 */
VMUX_EXPORT int vmux_set(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str value,
                         vmux_expiry expiry, vmux_cond cond, bool *was_set);
/** SET asynchronously: cb gets "OK" or nil (vmux_reply_to_bool() reads it). */
VMUX_EXPORT int vmux_set_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str value,
                               vmux_expiry expiry, vmux_cond cond, vmux_reply_cb cb,
                               void *userdata);
/** SET ... GET: writes (under the same rules) and returns the old value in *old. */
VMUX_EXPORT int vmux_set_get(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str value,
                             vmux_expiry expiry, vmux_cond cond, vmux_bytes *old);

/** GETEX: reads the value and changes its expiry (any kind but _KEEP). */
VMUX_EXPORT int vmux_getex(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_expiry expiry,
                           vmux_bytes *value);
/** GETDEL: reads the value and deletes the key. */
VMUX_EXPORT int vmux_getdel(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value);

/**
 * MGET: values[i] for keys[i] (ptr NULL where missing). n >= 1.
 *
 * On a cluster, keys in several slots are split: one MGET per slot, submitted together (one
 * write per node), the values put back in the order of keys (docs/cluster.md, "Multi-key
 * commands"). Any part that fails (timeout, connection lost, server error) fails the call with
 * its error, the first in key order, and no value is returned; opts->errbuf then gets the
 * server's message, or the error's description, then the part's slot and what became of the
 * others. Keys in one slot, and a
 * standalone server, get one MGET as always.
 */
VMUX_EXPORT int vmux_mget(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                          vmux_bytes_array *values);
/**
 * MSET keys[i] values[i]. n >= 1.
 *
 * On a cluster, keys in several slots are split as vmux_mget()'s are: one MSET per slot. It
 * returns 0 only when every part answered OK; otherwise the first failed part's error (in key
 * order), and then the other parts MAY HAVE BEEN APPLIED: the write is not atomic across slots.
 * Give keys that must be written together a common {hash tag}: they are then one MSET, atomic.
 */
VMUX_EXPORT int vmux_mset(vmux *m, const vmux_callopts *opts, const vmux_str *keys,
                          const vmux_str *values, size_t n);
/**
 * MSETNX: *all_set false when any key existed (then none was written). Never split: on a
 * cluster, keys in several slots are VMUX_ERR_CROSSSLOT (nothing sent), since all-or-nothing
 * cannot span nodes; use a common {hash tag}.
 */
VMUX_EXPORT int vmux_msetnx(vmux *m, const vmux_callopts *opts, const vmux_str *keys,
                            const vmux_str *values, size_t n, bool *all_set);

/** @{ */
/** INCR, INCRBY, DECR, DECRBY: *result is the new value. */
VMUX_EXPORT int vmux_incr(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *result);
VMUX_EXPORT int vmux_incrby(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t by,
                            int64_t *result);
VMUX_EXPORT int vmux_decr(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *result);
VMUX_EXPORT int vmux_decrby(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t by,
                            int64_t *result);
/** @} */
/**
 * INCRBYFLOAT: *result is the new value. A NaN `by` is VMUX_ERR_INVALID_ARG, nothing sent; an
 * infinite one is the server's error (VMUX_ERR_SERVER, nothing changed). A finite sum beyond a
 * double's range ("2e308") is stored, and its reply is VMUX_ERR_PROTOCOL here (types.h).
 */
VMUX_EXPORT int vmux_incrbyfloat(vmux *m, const vmux_callopts *opts, vmux_str key, double by,
                                 double *result);
/** APPEND: *length is the new length. */
VMUX_EXPORT int vmux_append(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str value,
                            int64_t *length);
/** STRLEN: 0 for a missing key. */
VMUX_EXPORT int vmux_strlen(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *length);

/**
 * GETRANGE key start end: *value is the bytes from start to end, both included; a negative one
 * counts from the end (-1 the last byte), as the server reads them. A range outside the string,
 * or a missing key, gives an empty value (ptr not NULL, len 0), never nil.
 */
VMUX_EXPORT int vmux_getrange(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t start,
                              int64_t end, vmux_bytes *value);
/**
 * SETRANGE key offset value: writes value's bytes over the string at key from byte offset on,
 * padding with zero bytes when the string is shorter than offset (a missing key is an empty
 * string); *length is the string's length after. offset >= 0 (a negative one is
 * VMUX_ERR_INVALID_ARG, nothing sent). An empty value writes nothing: a missing key stays missing
 * (*length 0). offset + value.len past the server's largest string (proto-max-bulk-len, 512 MB
 * by default) is the server's error (VMUX_ERR_SERVER), nothing written.
 */
VMUX_EXPORT int vmux_setrange(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t offset,
                              vmux_str value, int64_t *length);
/**
 * LCS key1 key2: *lcs is the longest common subsequence of the two strings (the bytes both have
 * in the same order, not necessarily adjacent: "ohmytext" and "mynewtext" share "mytext"); a
 * missing key reads as an empty string. A key holding another type is the server's error
 * (VMUX_ERR_SERVER, "The specified keys must contain string values"). On a cluster both keys
 * must be in one slot (give them a common {hash tag}): VMUX_ERR_CROSSSLOT otherwise, nothing
 * sent.
 */
VMUX_EXPORT int vmux_lcs(vmux *m, const vmux_callopts *opts, vmux_str key1, vmux_str key2,
                         vmux_bytes *lcs);
/** LCS key1 key2 LEN: *length is the length of what vmux_lcs() would give, as vmux_lcs(). */
VMUX_EXPORT int vmux_lcs_len(vmux *m, const vmux_callopts *opts, vmux_str key1, vmux_str key2,
                             int64_t *length);

#ifdef __cplusplus
}
#endif

#endif

/** @file
 * List commands, typed: LPUSH/RPUSH (many values), LPUSHX/RPUSHX, LPOP/RPOP (one, or a count),
 * LRANGE, LLEN, LINDEX, LPOS, LSET, LINSERT, LREM, LTRIM, LMOVE. The blocking forms (BLPOP,
 * BRPOP, BLMOVE) are not here: they run on dedicated links (blocking.h).
 *
 * Every function here is synchronous unless named *_async, may be called from any thread but
 * the I/O thread, and returns 0, VMUX_ERR_SERVER (the server refused: WRONGTYPE, no such key,
 * index out of range...; the message goes to opts->errbuf when given), VMUX_ERR_INVALID_ARG
 * for bad input (nothing is sent; opts->errbuf, when given, says which argument broke which rule:
 * "invalid argument: max is 0: must be at least 1 ..."), or a transport error as vmux_call()
 * (call.h). opts may be NULL. Out-parameters are filled only on success and zeroed otherwise; a
 * NULL out-parameter drops that result. Values and keys are binary-safe (types.h). Indexes count
 * from 0 at the head; negative ones count from the tail (-1 is the last element), as the server
 * does.
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): LRANGE, LLEN, LINDEX, LPOS, LSET, LREM with
 * count 0 (remove every match) and LTRIM keeping a head (0 k) or a tail (-k -1) are idempotent
 * and marked so; LPUSH/RPUSH, LPUSHX/RPUSHX, LPOP/RPOP, LINSERT (a second run inserts the element
 * again), LREM with a count, other LTRIM ranges and LMOVE are never sent twice.
 */
#ifndef VMUX_LISTS_H
#define VMUX_LISTS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * LPUSH key values[0] ... values[n-1]: inserts them at the head, one after the other (so
 * values[n-1] ends up first). *length is the list's new length. n >= 1.
 */
VMUX_EXPORT int vmux_lpush(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values,
                           size_t n, int64_t *length);
/** RPUSH: as vmux_lpush(), at the tail (values keep their order). */
VMUX_EXPORT int vmux_rpush(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *values,
                           size_t n, int64_t *length);
/** LPUSH asynchronously: cb gets the new length (vmux_reply_to_int() reads it). */
VMUX_EXPORT int vmux_lpush_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                 const vmux_str *values, size_t n, vmux_reply_cb cb,
                                 void *userdata);
/** RPUSH asynchronously: cb gets the new length (vmux_reply_to_int() reads it). */
VMUX_EXPORT int vmux_rpush_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                 const vmux_str *values, size_t n, vmux_reply_cb cb,
                                 void *userdata);

/**
 * LPUSHX key values...: as vmux_lpush(), only when the list exists; *length is its new length,
 * or 0 when the key does not exist (nothing created). n >= 1.
 */
VMUX_EXPORT int vmux_lpushx(vmux *m, const vmux_callopts *opts, vmux_str key,
                            const vmux_str *values, size_t n, int64_t *length);
/** RPUSHX: as vmux_lpushx(), at the tail (values keep their order). */
VMUX_EXPORT int vmux_rpushx(vmux *m, const vmux_callopts *opts, vmux_str key,
                            const vmux_str *values, size_t n, int64_t *length);
/** LPUSHX asynchronously: cb gets the new length, or 0 (vmux_reply_to_int() reads it). */
VMUX_EXPORT int vmux_lpushx_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                  const vmux_str *values, size_t n, vmux_reply_cb cb,
                                  void *userdata);
/** RPUSHX asynchronously: cb gets the new length, or 0 (vmux_reply_to_int() reads it). */
VMUX_EXPORT int vmux_rpushx_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                  const vmux_str *values, size_t n, vmux_reply_cb cb,
                                  void *userdata);

/** LPOP key: removes the first element and returns it in *value (ptr NULL: no such key). */
VMUX_EXPORT int vmux_lpop(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value);
/** RPOP key: as vmux_lpop(), from the tail. */
VMUX_EXPORT int vmux_rpop(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value);
/**
 * LPOP key count: removes up to count elements from the head and returns them in order
 * (count 0 elements when the key does not exist). count >= 0, else VMUX_ERR_INVALID_ARG.
 */
VMUX_EXPORT int vmux_lpop_count(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                                vmux_bytes_array *values);
/** RPOP key count: as vmux_lpop_count(), from the tail (the last element first). */
VMUX_EXPORT int vmux_rpop_count(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                                vmux_bytes_array *values);

/** LRANGE key start stop: the elements from start to stop, both included. */
VMUX_EXPORT int vmux_lrange(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t start,
                            int64_t stop, vmux_bytes_array *values);
/** LRANGE asynchronously: cb gets the array (vmux_reply_to_bytes_array() reads it). */
VMUX_EXPORT int vmux_lrange_async(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t start,
                                  int64_t stop, vmux_reply_cb cb, void *userdata);
/** LLEN: the list's length, 0 for a missing key. */
VMUX_EXPORT int vmux_llen(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *length);
/** LINDEX key index: the element, or ptr NULL when the index is out of range or no key. */
VMUX_EXPORT int vmux_lindex(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t index,
                            vmux_bytes *value);
/**
 * Where LPOS looks (a sized struct: make it with VMUX_INIT(vmux_lpos_opts, ...), abi.h; NULL
 * for every default).
 *
 * rank:   RANK: 0 (the default, not sent) or 1 is the first match from the head, n the n-th
 *         one; -1 the first match from the tail, -n the n-th from the tail (positions still
 *         count from the head). INT64_MIN is VMUX_ERR_INVALID_ARG.
 * maxlen: MAXLEN: compare at most this many elements from the end the search starts at; 0 (the
 *         default) compares them all. A negative one is VMUX_ERR_INVALID_ARG.
 */
typedef struct vmux_lpos_opts {
    size_t size; /**< sized struct: make it with VMUX_INIT(vmux_lpos_opts, ...) (abi.h) */
    int64_t rank;
    int64_t maxlen;
} vmux_lpos_opts;

/**
 * LPOS key element [RANK rank] [MAXLEN maxlen]: *index is the position (from 0 at the head) of
 * the match o asks for and *found true, or 0 and false when there is none (no such element,
 * fewer matches than the rank, a missing key).
 */
VMUX_EXPORT int vmux_lpos(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str element,
                          const vmux_lpos_opts *o, int64_t *index, bool *found);
/**
 * LPOS key element [RANK rank] COUNT max [MAXLEN maxlen]: the positions of up to max matches,
 * in the order found (from the tail with a negative rank), into the caller's array positions of
 * max items (nothing to free; NULL drops them), and *count how many there are (0 for none or a
 * missing key). max >= 1 (the server's COUNT 0, every match, needs an array as long as the list:
 * pass LLEN's answer). The positions past *count are 0.
 */
VMUX_EXPORT int vmux_lpos_count(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str element,
                                const vmux_lpos_opts *o, int64_t *positions, size_t max,
                                size_t *count);

/** LSET key index value. A missing key or an index out of range is VMUX_ERR_SERVER. */
VMUX_EXPORT int vmux_lset(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t index,
                          vmux_str value);
/**
 * LINSERT key BEFORE pivot element: inserts element just before the first element equal to
 * pivot (from the head). *length is the list's new length, -1 when pivot is not in it (nothing
 * inserted), 0 when the key does not exist. Never sent twice: a second run inserts it again.
 */
VMUX_EXPORT int vmux_linsert_before(vmux *m, const vmux_callopts *opts, vmux_str key,
                                    vmux_str pivot, vmux_str element, int64_t *length);
/** LINSERT key AFTER pivot element: as vmux_linsert_before(), just after the pivot. */
VMUX_EXPORT int vmux_linsert_after(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str pivot,
                                   vmux_str element, int64_t *length);
/**
 * LREM key count value: removes elements equal to value: the first count of them from the
 * head when count > 0, the last -count from the tail when count < 0, all of them when count is
 * 0. *removed is how many were removed.
 */
VMUX_EXPORT int vmux_lrem(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                          vmux_str value, int64_t *removed);
/** LTRIM key start stop: keeps only the elements from start to stop (both included). */
VMUX_EXPORT int vmux_ltrim(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t start,
                           int64_t stop);
/**
 * LMOVE source destination from to: pops an element from the `from` end (VMUX_HEAD: LEFT,
 * VMUX_TAIL: RIGHT) of source, pushes it at the `to` end of destination (which may be source
 * itself), and returns it in *moved (ptr NULL when source does not exist; nothing moved). An
 * invalid end is VMUX_ERR_INVALID_ARG.
 */
VMUX_EXPORT int vmux_lmove(vmux *m, const vmux_callopts *opts, vmux_str source,
                           vmux_str destination, vmux_end from, vmux_end to, vmux_bytes *moved);

#ifdef __cplusplus
}
#endif

#endif

/** @file
 * HyperLogLog commands, typed: PFADD, PFCOUNT, PFMERGE. A HyperLogLog counts distinct elements
 * approximately (a standard error of 0.81%) in at most 12 KiB per key, however many it has seen.
 *
 * Every function here is synchronous, may be called from any thread but the I/O thread, and
 * returns 0, VMUX_ERR_SERVER (the server refused: WRONGTYPE for a key of another type or a string
 * that is not a HyperLogLog, INVALIDOBJ for a corrupted one; the message goes to opts->errbuf
 * when given), VMUX_ERR_INVALID_ARG for bad input (nothing is sent: a NULL array with n > 0,
 * n == 0 where a key is required, a vmux_str {NULL, len > 0}; opts->errbuf, when given, says which
 * argument broke which rule: "invalid argument: elements is NULL with n 2: ..."), or a transport
 * error as vmux_call() (call.h). opts may be NULL. Out-parameters are filled only on success and
 * zeroed otherwise; a NULL out-parameter drops that result. Keys and elements are binary-safe
 * (types.h). A missing key counts as an empty HyperLogLog.
 *
 * Cluster: PFCOUNT of several keys and PFMERGE use their keys together, so they must all be in
 * one slot (give them a common {hash tag}); keys in several slots are VMUX_ERR_CROSSSLOT, nothing
 * sent, with the two keys and their slots in opts->errbuf. They are never split: the count of a
 * union is not the sum of the parts' counts.
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): every command here is idempotent and marked so.
 * A second PFADD of the same elements, or a second PFMERGE, leaves the HyperLogLog as the first
 * did; only PFADD's *changed, after a resend, may say false where the first run changed it.
 */
#ifndef VMUX_HYPERLOGLOG_H
#define VMUX_HYPERLOGLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * PFADD key elements...: adds the n elements to the HyperLogLog at key, creating it when
 * missing. *changed is true when its estimate may have changed (an internal register changed,
 * or the key was created), false otherwise. n may be 0 (elements may then be NULL): PFADD key
 * alone creates an empty HyperLogLog when the key is missing (*changed true) and does nothing
 * otherwise.
 */
VMUX_EXPORT int vmux_pfadd(vmux *m, const vmux_callopts *opts, vmux_str key,
                           const vmux_str *elements, size_t n, bool *changed);

/**
 * PFCOUNT keys...: *count is the approximate number of distinct elements added to the
 * HyperLogLog at keys[0] or, with n > 1, to any of them (the count of their union; the keys are
 * left unchanged). 0 for missing keys. n >= 1; on a cluster, several keys must share a slot.
 */
VMUX_EXPORT int vmux_pfcount(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                             int64_t *count);

/**
 * PFMERGE dest sources...: stores at dest the union of dest (when it exists) and the n source
 * HyperLogLogs, so that a PFCOUNT of dest counts what any of them saw. n may be 0 (sources may
 * then be NULL): dest is created empty when missing. On a cluster, dest and the sources must
 * share a slot.
 */
VMUX_EXPORT int vmux_pfmerge(vmux *m, const vmux_callopts *opts, vmux_str dest,
                             const vmux_str *sources, size_t n);

#ifdef __cplusplus
}
#endif

#endif

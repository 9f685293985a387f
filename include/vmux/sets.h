/** @file
 * Set commands, typed: SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD, SINTER, SUNION,
 * SDIFF. SSCAN is an iterator: vmux_sscan_begin() in scan.h.
 *
 * Every function here is synchronous unless named *_async, may be called from any thread but
 * the I/O thread, and returns 0, VMUX_ERR_SERVER (the server refused, such as WRONGTYPE; the
 * message goes to opts->errbuf when given), VMUX_ERR_INVALID_ARG for bad input (a NULL array
 * with n > 0, or n == 0; nothing is sent), or a transport error as vmux_call() (call.h). opts
 * may be NULL. Out-parameters are filled only on success and zeroed otherwise; a NULL
 * out-parameter drops that result. Keys and members are binary-safe (types.h). A missing key
 * is an empty set. Members come back in the server's order, which is no order.
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): every command here is idempotent and marked
 * so, SADD and SREM included (a second SADD or SREM leaves the set as the first did; only its
 * count, after a resend, may tell less than what the first one did).
 */
#ifndef VMUX_SETS_H
#define VMUX_SETS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** SADD key members...: *added is how many were not members before. n >= 1. */
VMUX_EXPORT int vmux_sadd(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members,
                          size_t n, int64_t *added);
/** SADD asynchronously: cb gets the count added (vmux_reply_to_int() reads it). */
VMUX_EXPORT int vmux_sadd_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                const vmux_str *members, size_t n, vmux_reply_cb cb,
                                void *userdata);
/** SREM key members...: *removed is how many were members. n >= 1. */
VMUX_EXPORT int vmux_srem(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members,
                          size_t n, int64_t *removed);

/** SISMEMBER key member: *is_member says whether it is one. */
VMUX_EXPORT int vmux_sismember(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                               bool *is_member);
/** SISMEMBER asynchronously: cb gets 1 or 0 (vmux_reply_to_bool() reads it). */
VMUX_EXPORT int vmux_sismember_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                     vmux_str member, vmux_reply_cb cb, void *userdata);
/**
 * SMISMEMBER key members...: is_member[i] says whether members[i] is one. is_member is the
 * caller's array of n bools (nothing to free), or NULL to drop the answers. n >= 1.
 */
VMUX_EXPORT int vmux_smismember(vmux *m, const vmux_callopts *opts, vmux_str key,
                                const vmux_str *members, size_t n, bool *is_member);

/** SMEMBERS key: every member. */
VMUX_EXPORT int vmux_smembers(vmux *m, const vmux_callopts *opts, vmux_str key,
                              vmux_bytes_array *members);
/** SMEMBERS asynchronously: cb gets the array (vmux_reply_to_bytes_array() reads it). */
VMUX_EXPORT int vmux_smembers_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                    vmux_reply_cb cb, void *userdata);
/** SCARD key: the number of members, 0 for a missing key. */
VMUX_EXPORT int vmux_scard(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *count);

/** SINTER keys...: the members of every set (empty when any key is missing). n >= 1. */
VMUX_EXPORT int vmux_sinter(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                            vmux_bytes_array *members);
/** SUNION keys...: the members of any of the sets. n >= 1. */
VMUX_EXPORT int vmux_sunion(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                            vmux_bytes_array *members);
/** SDIFF keys...: the members of keys[0] that are in none of the others. n >= 1. */
VMUX_EXPORT int vmux_sdiff(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                           vmux_bytes_array *members);

#ifdef __cplusplus
}
#endif

#endif

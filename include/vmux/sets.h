/** @file
 * Set commands, typed: SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD, SPOP, SRANDMEMBER,
 * SMOVE, SINTER, SUNION, SDIFF, SINTERCARD, SINTERSTORE, SUNIONSTORE, SDIFFSTORE. SSCAN is an
 * iterator: vmux_sscan_begin() in scan.h.
 *
 * Every function here is synchronous unless named *_async, may be called from any thread but
 * the I/O thread, and returns 0, VMUX_ERR_SERVER (the server refused, such as WRONGTYPE; the
 * message goes to opts->errbuf when given), VMUX_ERR_INVALID_ARG for bad input (a NULL array
 * with n > 0, or n == 0, a count the server would refuse; nothing is sent; opts->errbuf, when
 * given, says which argument broke which rule: "invalid argument: members is NULL with n 3: ..."),
 * or a transport error as vmux_call() (call.h). opts may be NULL. Out-parameters are filled only on
 * success and zeroed otherwise; a NULL out-parameter drops that result. Keys and members are
 * binary-safe (types.h). A missing key is an empty set. Members come back in the server's order,
 * which is no order.
 *
 * Cluster: the commands of several keys (SMOVE, SINTER, SUNION, SDIFF, SINTERCARD and the
 * *STORE forms, destination included) use them together, so they must all be in one slot (give
 * them a common {hash tag}); keys in several slots are VMUX_ERR_CROSSSLOT, nothing sent.
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): the reads (SISMEMBER, SMISMEMBER, SMEMBERS,
 * SCARD, SRANDMEMBER, SINTER, SUNION, SDIFF, SINTERCARD) are marked so, and so are SADD, SREM,
 * SINTERSTORE, SUNIONSTORE and SDIFFSTORE: a second run leaves the set as the first did (only a
 * count, after a resend, may tell less than what the first run did; a *STORE stores the same
 * set again). One exception: SDIFFSTORE whose destination is also one of keys[1..n-1] (a set
 * subtracted) stores another set when run again, so it is never sent twice. SPOP (a second run
 * takes other members) and SMOVE (a second run finds the member moved and answers false) are
 * never sent twice.
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

/**
 * SPOP key: removes a random member and returns it in *member (ptr NULL: the key does not
 * exist). Never sent twice.
 */
VMUX_EXPORT int vmux_spop(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *member);
/**
 * SPOP key count: removes up to count random members and returns them (none for a missing key or
 * count 0). count >= 0, else VMUX_ERR_INVALID_ARG. Never sent twice.
 */
VMUX_EXPORT int vmux_spop_count(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                                vmux_bytes_array *members);
/**
 * SRANDMEMBER key: a random member, left in the set, in *member (ptr NULL: the key does not
 * exist).
 */
VMUX_EXPORT int vmux_srandmember(vmux *m, const vmux_callopts *opts, vmux_str key,
                                 vmux_bytes *member);
/**
 * SRANDMEMBER key count: random members, left in the set. count > 0: up to count distinct ones
 * (the whole set when it has fewer); count < 0: exactly -count, which may repeat; count 0 or a
 * missing key: none. INT64_MIN (whose negation the server cannot take) is VMUX_ERR_INVALID_ARG.
 * The server builds all -count of them in memory at once: a huge negative count can
 * exhaust it, as the raw command would.
 */
VMUX_EXPORT int vmux_srandmember_count(vmux *m, const vmux_callopts *opts, vmux_str key,
                                       int64_t count, vmux_bytes_array *members);
/**
 * SMOVE source destination member: moves member from the set at source to the one at
 * destination (created when missing). *moved is true when it was a member of source (and is
 * now one of destination only; source == destination moves nothing but answers true), false
 * when it was not (nothing done). Never sent twice: a resend would find the member moved and
 * answer false.
 */
VMUX_EXPORT int vmux_smove(vmux *m, const vmux_callopts *opts, vmux_str source,
                           vmux_str destination, vmux_str member, bool *moved);

/** SINTER keys...: the members of every set (empty when any key is missing). n >= 1. */
VMUX_EXPORT int vmux_sinter(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                            vmux_bytes_array *members);
/** SUNION keys...: the members of any of the sets. n >= 1. */
VMUX_EXPORT int vmux_sunion(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                            vmux_bytes_array *members);
/** SDIFF keys...: the members of keys[0] that are in none of the others. n >= 1. */
VMUX_EXPORT int vmux_sdiff(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                           vmux_bytes_array *members);

/**
 * SINTERCARD numkeys keys... [LIMIT limit]: *count is the number of members in every set (0 when
 * any key is missing), without sending them. limit > 0 stops the count at limit; 0 counts them
 * all; a negative limit is VMUX_ERR_INVALID_ARG. n >= 1.
 */
VMUX_EXPORT int vmux_sintercard(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                                int64_t limit, int64_t *count);

/**
 * SINTERSTORE destination keys...: stores SINTER's result at destination (replacing what it
 * held, of any type; an empty result deletes it), and *count is its number of members. n >= 1.
 */
VMUX_EXPORT int vmux_sinterstore(vmux *m, const vmux_callopts *opts, vmux_str destination,
                                 const vmux_str *keys, size_t n, int64_t *count);
/** SUNIONSTORE destination keys...: as vmux_sinterstore(), with SUNION's result. */
VMUX_EXPORT int vmux_sunionstore(vmux *m, const vmux_callopts *opts, vmux_str destination,
                                 const vmux_str *keys, size_t n, int64_t *count);
/**
 * SDIFFSTORE destination keys...: as vmux_sinterstore(), with SDIFF's result. Not retry-safe
 * when destination is one of keys[1..n-1] (see above).
 */
VMUX_EXPORT int vmux_sdiffstore(vmux *m, const vmux_callopts *opts, vmux_str destination,
                                const vmux_str *keys, size_t n, int64_t *count);

#ifdef __cplusplus
}
#endif

#endif

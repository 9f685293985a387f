/*
 * Typed multi-key commands on a cluster (docs/cluster.md, "Multi-key commands"): MGET, MSET,
 * DEL, UNLINK, EXISTS and TOUCH whose keys hash to several slots are sent as one command per
 * slot, all submitted together (mux/batch.h), and their replies put back together in the
 * caller's order. Keys in one slot, and every call in standalone mode, take the ordinary path
 * of one command: vmux__split_wanted() (inline, cheap) and then vmux__split() say which. A call
 * made while cluster=auto is still asking whether the server is a cluster node waits for the
 * answer first (vmux__split_settle(), vmux__split_count_later()): sent whole, it reached a cluster
 * node as one command and came back CROSSSLOT. Under cluster=yes the keys are split at once: a
 * slot needs no map, and the parts wait for the answer as every command does. Private to lib/api.
 */
#ifndef VMUX_API_SPLIT_H
#define VMUX_API_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mux/batch.h"
#include "mux/handle.h"
#include "vmux/call.h"
#include "vmux/types.h"

/* The keys of one slot: order[first .. first + count) of their vmux_split. */
struct vmux_split_group {
    size_t first, count;
    size_t first_key; /* the index of its first key in the caller's list */
    unsigned slot;
};

/*
 * A call's keys grouped by slot. The groups, and the parts made from them, come in the order of
 * their first key in the caller's list; a group's keys keep the caller's order (and repeats).
 */
struct vmux_split {
    size_t nkeys, ngroups;
    uint64_t *order; /* nkeys entries: slot << 32 | the key's index in the caller's list */
    struct vmux_split_group *groups;
    struct vmux_part *parts; /* ngroups: cmd and the group's keys (with their values for MSET) */
    const char **argv;       /* the parts' arguments, one array for all */
    size_t *lens;
};

/*
 * Groups keys[0..n) (and values[0..n), NULL but for MSET, which then sends each key followed by
 * its value) by slot and makes one part per slot: cmd and that slot's keys. Returns 1 with *s
 * ready (free it with vmux__split_free()) when the handle routes by slot (vmux__slot_routing():
 * VMUX__SLOTS_YES) and the keys span several slots; 0 when one command will do (standalone mode,
 * cluster=auto still asking, one slot, fewer than two keys, or arguments the ordinary path will
 * refuse), *s then empty; or VMUX_ERR_NOMEM. Pointers into keys
 * and values are kept: they must outlive *s. Any thread.
 */
int vmux__split(vmux *m, const char *cmd, const vmux_str *keys, const vmux_str *values, size_t n,
                struct vmux_split *s);

/* vmux__split() whatever the handle's mode: the parts the keys would make on a cluster. */
int vmux__split_slots(const char *cmd, const vmux_str *keys, const vmux_str *values, size_t n,
                      struct vmux_split *s);

/* Frees what vmux__split() allocated and empties *s. */
void vmux__split_free(struct vmux_split *s);

/* The key index (in the caller's list) of the j-th key of group g. */
static inline size_t vmux__split_key(const struct vmux_split *s, size_t g, size_t j)
{
    return (size_t)(s->order[s->groups[g].first + j] & UINT32_MAX);
}

/* The index of the first part (in key order) that did not succeed, or n when all did. */
size_t vmux__split_failed(const struct vmux_part_result *results, size_t n);

/* Frees every reply of results[0..n). */
void vmux__split_results_free(struct vmux_part_result *results, size_t n);

/*
 * Whether a call may need splitting: several keys, and a handle that routes by slot or may yet
 * (cluster=auto still asking). The one test the ordinary path pays (a few instructions:
 * standalone calls go on as before).
 */
static inline bool vmux__split_wanted(vmux *m, const vmux_str *keys, size_t n)
{
    return n >= 2 && keys != NULL && vmux__slot_routing(m) != VMUX__SLOTS_NO;
}

/*
 * A synchronous split command's first step: while cluster=auto is still asking
 * (VMUX__SLOTS_UNKNOWN), waits for the answer within *opts' deadline, and then points *opts at
 * local, a copy of them whose timeout is what the wait left (at least 1 ms), for the split or the
 * one command that follows. Returns 0 (at once, *opts untouched, when the handle knows already),
 * or the wait's error with words in the error buffer (vmux__settle_sync(), mux/handle.h): nothing
 * sent. Any thread but the I/O thread (which the wait refuses, as a synchronous call).
 */
int vmux__split_settle(vmux *m, const vmux_callopts **opts, vmux_callopts *local);

/* What the vmux__split_*() commands return when one command will do (vmux__split() said 0):
 * nothing was sent, and the caller sends the command the ordinary way. */
#define VMUX_SPLIT_ONE 1

/*
 * The split commands (split_run.c): each groups the keys with vmux__split(), and when they span
 * several slots sends one command per slot and puts the replies together; else it returns
 * VMUX_SPLIT_ONE, having sent nothing. Every command split here is idempotent, so its parts go
 * retry-safe. The synchronous forms fill opts->errbuf as vmux_call() does, then name the failed
 * part's slot (after the server's words too, for VMUX_ERR_SERVER) and what became of the other
 * parts: "the others may have run", unless every part's outcome says it did not run
 * (core/explain.h vmux__ran_of(): "none of them was sent: not executed", or "none of them ran").
 *
 * vmux__split_count(): DEL, UNLINK, EXISTS, TOUCH (cmd): *out (zeroed first, may be NULL) is the
 * sum of the parts' counts; a part that fails fails the call with its error, the first in key
 * order (the other parts may have run). vmux__split_count_async(): the same as one integer reply
 * to cb, or the first failed part's status (and its error reply for VMUX_ERR_SERVER), the words
 * vmux__split_count() would write in its error buffer then being cb's vmux_last_error()
 * (core/why.h); returns as vmux__batch_async(). While cluster=auto is still asking it sends
 * nothing yet and returns as vmux__split_count_later(). vmux__split_mget(): values (zeroed first,
 * may be NULL) in the caller's key order, NULL ptr for a missing key. vmux__split_mset(): 0 when
 * every part said OK, else the first failed part's error (the other parts may have been applied).
 */
int vmux__split_count(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *keys,
                      size_t n, int64_t *out);
int vmux__split_count_async(vmux *m, const vmux_callopts *opts, const char *cmd,
                            const vmux_str *keys, size_t n, vmux_reply_cb cb, void *userdata);
int vmux__split_mget(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                     vmux_bytes_array *values);
int vmux__split_mset(vmux *m, const vmux_callopts *opts, const vmux_str *keys,
                     const vmux_str *values, size_t n);

/*
 * vmux__split_count_async() made while cluster=auto is still asking (split_later.c): copies keys,
 * waits for the answer on the I/O thread (mux/handle.h vmux__after_settled(), by opts' deadline),
 * then sends the count split per slot or as one command, as the answer says, with what is left
 * of the deadline. cb runs exactly once: with the count, or with the first failure (a wait that
 * ended first: its code, NULL reply, and the words of an unsent command in vmux_last_error()).
 * While it waits it holds the room at the door (maxPending, maxPendingBytes) its parts take on a
 * cluster, one command per slot the keys span (vmux__split_slots()), or one command for keys in
 * one slot: taken at the call, so that the call is admitted or refused there as after the answer.
 * Returns 0; VMUX_SPLIT_ONE, nothing done, for keys the ordinary path refuses ({NULL, len > 0}:
 * it says which); or, cb never run: VMUX_ERR_BACKLOG_FULL (the door's words in opts' error
 * buffer, as vmux__batch_async() writes them), VMUX_ERR_INVALID_ARG (bad opts), VMUX_ERR_NOMEM,
 * VMUX_ERR_CLOSED, VMUX_ERR_FORKED. Any thread.
 */
int vmux__split_count_later(vmux *m, const vmux_callopts *opts, const char *cmd,
                            const vmux_str *keys, size_t n, vmux_reply_cb cb, void *userdata);

#endif

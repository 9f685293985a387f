/** @file
 * Cursor iterators: SCAN over the keyspace, HSCAN over a hash, SSCAN over a set, ZSCAN over a
 * sorted set. An iterator hides the cursor: begin one, call vmux_scan_next() until it returns
 * 0, end it.
 *
 *     vmux_scan *it;
 *     vmux_scan_opts o = VMUX_INIT(vmux_scan_opts, .match = "user:*", .count = 500);
 *     int rc = vmux_scan_begin(m, &o, &it);
 *     vmux_bytes_array batch;
 *     while (rc == 0 && (rc = vmux_scan_next(it, NULL, &batch)) == 1) {
 *         ... batch.items[0 .. batch.count - 1] ...
 *         vmux_bytes_array_free(&batch);
 *         rc = 0;
 *     }
 *     vmux_scan_end(it);   (rc is now 0 when the iteration completed, or a VMUX_ERR_* code)
 *
 * The server's guarantees are SCAN's: every element present from the start to the end of the
 * iteration is returned at least once; an element may be returned more than once (dedupe if it
 * matters); elements added or removed meanwhile may or may not be returned; a batch may be
 * empty while the iteration goes on.
 *
 * On a cluster (docs/cluster.md, "Scanning a cluster"), vmux_scan_begin()'s iterator walks every
 * primary: the iterator records which hash slots are done rather than which node it is at. It
 * scans the node that owns the lowest slot not done yet (as that node itself says, asked with
 * CLUSTER NODES) with that node's own SCAN cursor, and once the node's SCAN is complete marks
 * done the slots the node owned both when its scan began and when it ended (slots it was
 * migrating away left out). A slot that moved meanwhile is scanned again on its new owner, whole
 * node and all. A node whose keys may have left and come back during its scan (its config epoch
 * changed: it took a slot; or it ran RESTORE or RESTORE-ASKING: keys moved onto it by MIGRATE, as
 * in a cancelled migration) has none of its slots marked, and is scanned again: a Valkey 8 node
 * scans slot by slot, and keys away while its cursor passed their slot were never returned. Keys
 * brought back otherwise, with the slot's owner unchanged, are not seen (nor by RESTORE with INFO
 * refused by the user's ACL). A slot left migrating for the whole of its owner's scan (an open
 * slot, as an interrupted reshard leaves it: keys on both nodes) has the node importing it scanned
 * next, and is done after that; while that node is not in the handle's map (it serves no slot yet),
 * steps fail with VMUX_ERR_NOT_CONNECTED. A node with open slots to several targets has them
 * visited in turn, the node scanned again before each next target (the target is that of its
 * lowest open slot not yet done). So every key present from the start to the end of the
 * iteration is returned at least once, across failovers and slot migrations, and keys may come more
 * than once (more often when slots move). A failed step forgets the node being scanned (a failover:
 * it may be gone), so calling vmux_scan_next() again goes on from the slots done, on their owners
 * then. A node that left the handle's map meanwhile fails nothing by itself: the step forgets it
 * and goes on at once with the slots' owners now (else VMUX_ERR_NOT_CONNECTED, which a retry gets
 * past). The owner of a slot is the primary of the map that says itself it serves it, found by
 * its node id, whatever name the map gives it (CLUSTER NODES gives IP addresses, or none for a
 * node that never met another, as on a one-node cluster; the map may name a node by an
 * announced host name, or by the seed's name where CLUSTER SLOTS gives an empty host). HSCAN,
 * SSCAN and ZSCAN read one key, on its slot's node, as on a standalone server.
 *
 * Threads: an iterator belongs to one thread at a time (it may move between threads); it must
 * be ended before its handle is closed. Each step is a read and is sent retry-safe. When a step
 * fails, the iterator is left where it was, so calling vmux_scan_next() again repeats that step.
 * Errors of a step are those of strings.h's top comment (VMUX_ERR_SERVER with the message in
 * opts->errbuf, such as WRONGTYPE when the key of HSCAN/SSCAN/ZSCAN holds another type, or a
 * transport error as vmux_call()); a cluster SCAN's step writes the reason of any failure into
 * opts->errbuf ("cluster SCAN: ...", a server's message as it is), VMUX_ERR_PROTOCOL included
 * (a CLUSTER NODES text it could not read, nodes that keep disagreeing which serves a slot).
 * opts->timeout_ms bounds a cluster SCAN's whole step, not each of its round trips (CLUSTER
 * NODES on every primary, INFO, the SCAN itself, a retry): each gets what is left, and a step
 * out of time returns VMUX_ERR_TIMEOUT. A first step made while the handle still asks what its
 * server is waits for that within the same timeout.
 */
#ifndef VMUX_SCAN_H
#define VMUX_SCAN_H

#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Options of an iteration; pass NULL for none, or make them with VMUX_INIT (abi.h): a size
 * below sizeof(size_t) is VMUX_ERR_INVALID_ARG. Strings are copied by *_begin.
 * match: a glob pattern (MATCH), or NULL for every element.
 * count: a hint of how many elements the server looks at per step (COUNT), or 0 for its
 *        default (10). Negative is VMUX_ERR_INVALID_ARG.
 * type:  SCAN only: keys of this type only (TYPE "string", "list", "set", "zset", "hash",
 *        "stream"), or NULL for every type. Set for HSCAN/SSCAN/ZSCAN: VMUX_ERR_INVALID_ARG.
 */
typedef struct vmux_scan_opts {
    size_t size; /**< sized struct (abi.h) */
    const char *match;
    int64_t count;
    const char *type;
} vmux_scan_opts;

/** An iteration in progress (opaque). */
typedef struct vmux_scan vmux_scan;

/**
 * Begins an iteration over the keys of the handle's database. Nothing is sent yet. On success
 * *out owns the iterator (free it with vmux_scan_end()); on failure *out is NULL.
 * Errors: VMUX_ERR_INVALID_ARG (NULL m or out, bad options), VMUX_ERR_NOMEM. It takes no error
 * buffer: a failure's words go to vmux_last_error() (error.h), for VMUX_ERR_INVALID_ARG which
 * argument broke which rule ("invalid argument: the handle is NULL", "invalid argument: o->count
 * is -1: must be at least 0"), else
 * the code's description; a success leaves "". So do the three below.
 */
VMUX_EXPORT int vmux_scan_begin(vmux *m, const vmux_scan_opts *o, vmux_scan **out);

/** As vmux_scan_begin(), over the fields of the hash at key (binary-safe; copied). */
VMUX_EXPORT int vmux_hscan_begin(vmux *m, vmux_str key, const vmux_scan_opts *o, vmux_scan **out);
/** As vmux_scan_begin(), over the members of the set at key. */
VMUX_EXPORT int vmux_sscan_begin(vmux *m, vmux_str key, const vmux_scan_opts *o, vmux_scan **out);
/** As vmux_scan_begin(), over the members of the sorted set at key. */
VMUX_EXPORT int vmux_zscan_begin(vmux *m, vmux_str key, const vmux_scan_opts *o, vmux_scan **out);

/**
 * Runs the next step of the iteration. Returns 1 with the step's batch in *batch (possibly
 * empty): keys for SCAN, members for SSCAN, field, value, field, value... for HSCAN, and
 * member, score, member, score... for ZSCAN (scores as the server's text, such as "1.5" or
 * "inf"; vmux_zscan_next_scored() parses them). Returns 0 with *batch empty once the iteration
 * is complete (a missing key is an empty iteration), and 0 again if called after that. Returns
 * a negative `VMUX_ERR_*` code with *batch empty on failure (see the top comment); NULL it is
 * VMUX_ERR_INVALID_ARG. batch may be NULL to drop the batch. The caller frees *batch with
 * vmux_bytes_array_free().
 */
VMUX_EXPORT int vmux_scan_next(vmux_scan *it, const vmux_callopts *opts, vmux_bytes_array *batch);

/**
 * vmux_scan_next() for a ZSCAN iterator, with members and their scores in a
 * vmux_scored_array (freed with vmux_scored_array_free()). VMUX_ERR_INVALID_ARG when it was
 * not begun by vmux_zscan_begin().
 */
VMUX_EXPORT int vmux_zscan_next_scored(vmux_scan *it, const vmux_callopts *opts,
                                       vmux_scored_array *batch);

/** Frees an iteration, complete or not (nothing is sent). NULL is allowed. */
VMUX_EXPORT void vmux_scan_end(vmux_scan *it);

#ifdef __cplusplus
}
#endif

#endif

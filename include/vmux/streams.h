/** @file
 * Stream commands, typed: XADD (with MAXLEN/MINID trimming and NOMKSTREAM), XLEN, XRANGE,
 * XREVRANGE, XREAD, XGROUP CREATE/DESTROY/SETID/CREATECONSUMER/DELCONSUMER, XREADGROUP, XACK,
 * XPENDING (summary and extended forms), XCLAIM, XAUTOCLAIM, XTRIM, XDEL, and XINFO
 * STREAM/GROUPS/CONSUMERS.
 *
 * Every function here is synchronous unless named *_async, may be called from any thread but
 * the I/O thread, and returns 0, VMUX_ERR_SERVER (the server refused: WRONGTYPE when the key
 * holds another type, NOGROUP for a missing group, BUSYGROUP, an ID that is not greater than
 * the stream's last...; the message goes to opts->errbuf when given), VMUX_ERR_INVALID_ARG (bad
 * input, nothing sent; opts->errbuf, when given, says which argument broke which rule: "invalid
 * argument: count is 0: must be at least 1"), or a transport error as vmux_call() (call.h). opts
 * may be NULL. Out-parameters are filled only on success (zeroed otherwise); a NULL out-parameter
 * drops that result. Keys, IDs, group and consumer names, fields and values are binary-safe
 * (types.h). A missing key reads as an empty stream, except where a group is needed (NOGROUP;
 * the XGROUP subcommands but CREATE ... MKSTREAM: "requires the key to exist") and for XINFO
 * ("ERR no such key"), both VMUX_ERR_SERVER.
 * Where an ID range is taken, a start with ptr NULL means "-" (the first entry) and an end with
 * ptr NULL means "+" (the last); IDs are the server's text ("1700000000000-0", or "1700000000000"
 * for a whole millisecond, or "(" before one to exclude it).
 *
 * Blocking reads: vmux_xread() and vmux_xreadgroup() with block_ms >= 1 send BLOCK and run on
 * one of the handle's dedicated blocking connections (call.h, VMUX_CALL_BLOCKING), so other
 * callers' commands never wait behind them; their deadline is the block time plus opts'
 * timeout (or the config's syncTimeout). VMUX_NO_BLOCK (0) reads without waiting, on the shared
 * connection. VMUX_FOREVER (the server's BLOCK 0, "wait forever") and other negative block
 * times are refused with VMUX_ERR_INVALID_ARG, as in blocking.h: they could never meet a
 * deadline.
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): XLEN, XRANGE, XREVRANGE, XREAD, XPENDING and
 * XINFO are reads and are marked retry-safe, but for a blocking XREAD from "$" (or the default
 * id), or from "+" (the last entry, Valkey 8: on a stream with none yet it waits as "$"), on any
 * of its streams: sent again it would wait from the resend's "now", past the entries added in
 * between, and succeed without them ("+" would return the newest alone). So once written it is
 * never sent again, through vmux_xread() or vmux_call() alike (commands.md): a broken connection
 * fails it VMUX_ERR_CONNECTION_LOST; a failover's UNBLOCKED, and on a cluster a MOVED or
 * CLUSTERDOWN (a slot that moved, a node demoted or the cluster failed while it blocked, which the
 * client cannot tell from one that came at once), fail it VMUX_ERR_SERVER with the server's reply
 * and words ("... is not sent again: from "$" or "+" it would skip the entries added meanwhile;
 * read on from the last ID you have"). Read on from the last ID you have. With explicit IDs it is
 * sent again as other reads. XACK, XDEL, XGROUP DESTROY, exact ("=") XTRIM and XGROUP SETID to an
 * explicit ID leave the same state when repeated, so they are marked too (after a resend, the count
 * they report may describe the second run, which found nothing left to do). These are never sent
 * twice:
 * - XADD, even with an explicit ID: with "*" a resend would add a second entry; with an
 *   explicit ID it would fail ("equal or smaller than the target stream top item") and report
 *   an error for a write that in fact succeeded. XGROUP CREATE likewise (BUSYGROUP).
 * - XREADGROUP: with ">" it hands new entries to the consumer and records them as pending, so
 *   entries delivered by a lost first send would be skipped; with an ID it still counts one
 *   more delivery of each pending entry it returns.
 * - XGROUP SETID to "$" (or the default id): resent, it would move the group past entries added
 *   in between, which the group would then never deliver (as XREAD's "$" above).
 * - XGROUP CREATECONSUMER: a second run answers that the consumer already existed (its answer
 *   is whether the condition held, as HSETNX's). XGROUP DELCONSUMER: its answer is what it
 *   destroyed (the pending count), which a second run reports as 0 (as GETDEL's).
 * - XCLAIM and XAUTOCLAIM: they move ownership and count deliveries.
 * - Approximate ("~") XTRIM: each run evicts at most LIMIT entries (or the server's default
 *   limit), so a second run may evict more.
 */
#ifndef VMUX_STREAMS_H
#define VMUX_STREAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * block_ms of vmux_xread() and vmux_xreadgroup() that sends no BLOCK: answer at once. A wait of
 * 0 ms, as every duration of docs/api-conventions.md (it was -1 before 0.2.0).
 */
#define VMUX_NO_BLOCK ((int64_t)0)

/**
 * An ID argument left to its default ({NULL, 0}; ptr NULL with len > 0 is VMUX_ERR_INVALID_ARG,
 * as for every vmux_str: types.h): "*" for XADD, "-" for a range's start, "+" for its end, "$"
 * for XREAD and XGROUP CREATE, ">" for XREADGROUP, "0-0" for XAUTOCLAIM's start.
 */
#define VMUX_XID_DEFAULT VMUX_LITERAL(vmux_str, NULL, 0)

/**
 * One stream entry (owned): its ID and its fields and values, flat: fields.items[0] is the
 * first field, [1] its value, [2] the second field, and so on (fields.count is even). An entry
 * that was deleted while still pending in a group (XREADGROUP with an ID, XAUTOCLAIM) comes
 * with fields.count 0, since a live entry always has at least one field.
 */
typedef struct vmux_stream_entry {
    vmux_bytes id;
    vmux_bytes_array fields;
} vmux_stream_entry;

/** Owned array of entries (XRANGE, XCLAIM...). */
typedef struct vmux_stream_entry_array {
    vmux_stream_entry *items;
    size_t count;
} vmux_stream_entry_array;

/** Frees every entry and the array, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_stream_entry_array_free(vmux_stream_entry_array *a);

/** What XREAD or XREADGROUP got from one stream (owned). */
typedef struct vmux_stream_batch {
    vmux_bytes key;
    vmux_stream_entry_array entries;
} vmux_stream_batch;

/** Owned array of per-stream batches; streams with nothing to read are left out. */
typedef struct vmux_stream_batch_array {
    vmux_stream_batch *items;
    size_t count;
} vmux_stream_batch_array;

/** Frees every batch and the array, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_stream_batch_array_free(vmux_stream_batch_array *a);

/** @{ */
/**
 * Converters for async callbacks, as those of types.h: [[id, [field, value...]], ...] (XRANGE,
 * XREVRANGE, XCLAIM) into entries; [[key, entries], ...] or nil (XREAD, XREADGROUP) into
 * batches (nil: count 0).
 */
VMUX_EXPORT int vmux_reply_to_stream_entries(const vmux_reply *r, vmux_stream_entry_array *out);
VMUX_EXPORT int vmux_reply_to_stream_batches(const vmux_reply *r, vmux_stream_batch_array *out);
/** @} */

/** How to trim a stream (XADD, XTRIM). */
typedef enum vmux_stream_trim_kind {
    VMUX_TRIM_NONE = 0,   /**< XADD: no trimming; XTRIM: VMUX_ERR_INVALID_ARG */
    VMUX_TRIM_MAXLEN = 1, /**< keep the newest maxlen entries */
    VMUX_TRIM_MINID = 2,  /**< evict the entries with an ID lower than minid */
} vmux_stream_trim_kind;

/**
 * A trimming rule. approximate sends "~" (evict only whole internal nodes: cheaper, and it may
 * keep a few more entries than asked), else "=". limit (LIMIT, approximate only; 0 for the
 * server's default) caps the entries evicted by one command. Negative maxlen or limit, limit
 * without approximate, or MINID with minid.ptr NULL: VMUX_ERR_INVALID_ARG.
 */
typedef struct vmux_stream_trim {
    vmux_stream_trim_kind kind;
    bool approximate;
    int64_t maxlen;
    vmux_str minid;
    int64_t limit;
} vmux_stream_trim;

/**
 * Options of XADD; pass NULL for none, or make them with VMUX_INIT (abi.h). nomkstream: do not
 * create a missing stream.
 */
typedef struct vmux_xadd_opts {
    size_t size; /**< sized struct (abi.h) */
    bool nomkstream;
    vmux_stream_trim trim;
} vmux_xadd_opts;

/**
 * XADD key [NOMKSTREAM] [trim] id fields[i] values[i]... (n >= 1): appends an entry. id with
 * ptr NULL (or "*") lets the server choose the ID; an explicit ID must be greater than the
 * stream's last. *added_id gets the entry's ID, or ptr NULL when NOMKSTREAM found no stream.
 */
VMUX_EXPORT int vmux_xadd(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str id,
                          const vmux_str *fields, const vmux_str *values, size_t n,
                          const vmux_xadd_opts *xo, vmux_bytes *added_id);
/** XADD, asynchronously: cb gets the ID (vmux_reply_to_bytes() reads it). */
VMUX_EXPORT int vmux_xadd_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str id,
                                const vmux_str *fields, const vmux_str *values, size_t n,
                                const vmux_xadd_opts *xo, vmux_reply_cb cb, void *userdata);

/** XLEN: *length is the number of entries (0 for a missing key). */
VMUX_EXPORT int vmux_xlen(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *length);

/**
 * XRANGE key start end [COUNT count]: the entries with IDs from start to end inclusive, oldest
 * first. count 0 returns them all; negative is VMUX_ERR_INVALID_ARG.
 */
VMUX_EXPORT int vmux_xrange(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str start,
                            vmux_str end, int64_t count, vmux_stream_entry_array *entries);
/** XRANGE, asynchronously: cb gets the reply; vmux_reply_to_stream_entries() reads it. */
VMUX_EXPORT int vmux_xrange_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str start,
                                  vmux_str end, int64_t count, vmux_reply_cb cb, void *userdata);
/** XREVRANGE key end start [COUNT count]: as vmux_xrange(), newest first (note the order). */
VMUX_EXPORT int vmux_xrevrange(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str end,
                               vmux_str start, int64_t count, vmux_stream_entry_array *entries);

/**
 * XREAD [COUNT count] [BLOCK block_ms] STREAMS keys... ids...: the entries after ids[i] in
 * keys[i] (n >= 1; "$" means after the last entry now, useful with a block time), at most
 * count per stream (0: no limit). block_ms is VMUX_NO_BLOCK (0) or >= 1 (see the top comment);
 * when the block time runs out, *batches has count 0. Only streams with new entries appear in
 * *batches, in the order of keys. Resent after a broken connection (and a failover's UNBLOCKED,
 * and a cluster's MOVED or ASK), unless it blocks from "$" (the top comment: all but an ASK),
 * within the deadline of the first send: after a broken connection it blocks for its whole block
 * time again, so it may end VMUX_ERR_TIMEOUT rather than empty; after an UNBLOCKED, a MOVED or an
 * ASK (the server ended or refused the block) its block time is cut to what is left of it
 * (commands.md, cluster.md).
 */
VMUX_EXPORT int vmux_xread(vmux *m, const vmux_callopts *opts, const vmux_str *keys,
                           const vmux_str *ids, size_t n, int64_t count, int64_t block_ms,
                           vmux_stream_batch_array *batches);

/**
 * XGROUP CREATE key group id [MKSTREAM]: creates a consumer group that will deliver the
 * entries after id (ptr NULL means "$": only entries added from now on; "0" means every
 * entry). mkstream creates a missing stream (else a missing key is a server error).
 */
VMUX_EXPORT int vmux_xgroup_create(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                                   vmux_str id, bool mkstream);
/** XGROUP DESTROY key group: *destroyed says whether the group existed. */
VMUX_EXPORT int vmux_xgroup_destroy(vmux *m, const vmux_callopts *opts, vmux_str key,
                                    vmux_str group, bool *destroyed);

/**
 * A count the server does not know or did not report (-1): a group's entries-read and lag when
 * the server answers nil, a field an older server leaves out of XINFO's reply, a consumer that
 * never read (its inactive time); and as vmux_xgroup_setid()'s entries_read, no ENTRIESREAD.
 */
#define VMUX_STREAM_UNKNOWN ((int64_t)-1)

/**
 * XGROUP SETID key group id [ENTRIESREAD entries_read]: moves the group's last-delivered ID to
 * id (ptr NULL means "$", the stream's last entry now; "0" means before every entry), so that
 * its next ">" reads deliver the entries after it; pending entries are left as they are.
 * entries_read (>= 0) also sets the group's count of entries read, from which the server works
 * out its lag; VMUX_STREAM_UNKNOWN sends no ENTRIESREAD and the server takes the count as
 * unknown (entries-read nil until a read makes it known; the lag it still works out from the
 * stream's history where it can, so it may well be a number). Below -1: VMUX_ERR_INVALID_ARG,
 * nothing sent. A missing key or group is the server's error (VMUX_ERR_SERVER: "requires the key
 * to exist", NOGROUP). Retry-safe for an explicit id, not for "$" (the top comment).
 */
VMUX_EXPORT int vmux_xgroup_setid(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                                  vmux_str id, int64_t entries_read);
/**
 * XGROUP CREATECONSUMER key group consumer: creates a consumer with nothing pending (XREADGROUP
 * creates one too, on its first read). *created is false when it already existed. A missing key
 * or group is the server's error (VMUX_ERR_SERVER). Not retry-safe (the top comment).
 */
VMUX_EXPORT int vmux_xgroup_createconsumer(vmux *m, const vmux_callopts *opts, vmux_str key,
                                           vmux_str group, vmux_str consumer, bool *created);
/**
 * XGROUP DELCONSUMER key group consumer: deletes a consumer and its pending entries (they stay
 * in the stream, but no consumer of the group will be given them again unless they are claimed
 * by ID: read XPENDING, or claim them, first). *pending is how many entries it had pending; 0
 * too when it did not exist. A missing key or group is the server's error (VMUX_ERR_SERVER). Not
 * retry-safe (the top comment).
 */
VMUX_EXPORT int vmux_xgroup_delconsumer(vmux *m, const vmux_callopts *opts, vmux_str key,
                                        vmux_str group, vmux_str consumer, int64_t *pending);

/** Options of XREADGROUP; pass NULL for none, or make them with VMUX_INIT (abi.h). */
typedef struct vmux_xreadgroup_opts {
    size_t size;   /**< sized struct (abi.h) */
    int64_t count; /**< COUNT: at most this many entries per stream; 0: no limit */
    bool noack;    /**< NOACK: deliver without recording the entries as pending */
} vmux_xreadgroup_opts;

/**
 * XREADGROUP GROUP group consumer [COUNT] [BLOCK] [NOACK] STREAMS keys... ids... (n >= 1):
 * reads as consumer of group. ids[i] ">" asks for entries never delivered to any consumer of
 * the group (they become pending for this consumer until acknowledged); any other ID reads
 * back this consumer's own pending entries after it (a deleted one comes with no fields).
 * ids NULL means ">" for every stream. block_ms as vmux_xread(); it applies to ">" only. On a
 * time-out *batches has count 0.
 */
VMUX_EXPORT int vmux_xreadgroup(vmux *m, const vmux_callopts *opts, vmux_str group,
                                vmux_str consumer, const vmux_str *keys, const vmux_str *ids,
                                size_t n, const vmux_xreadgroup_opts *ro, int64_t block_ms,
                                vmux_stream_batch_array *batches);

/** XACK key group ids... (n >= 1): *acked is how many were pending and now are not. */
VMUX_EXPORT int vmux_xack(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                          const vmux_str *ids, size_t n, int64_t *acked);
/** XACK, asynchronously: cb gets the count (vmux_reply_to_int() reads it). */
VMUX_EXPORT int vmux_xack_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                                const vmux_str *ids, size_t n, vmux_reply_cb cb, void *userdata);

/** A consumer and how many entries it has pending (XPENDING's summary). */
typedef struct vmux_xpending_consumer {
    vmux_bytes name;
    int64_t pending;
} vmux_xpending_consumer;

/** XPENDING's summary of a group (owned). IDs have ptr NULL when nothing is pending. */
typedef struct vmux_xpending_summary {
    int64_t count;
    vmux_bytes first_id, last_id;
    vmux_xpending_consumer *consumers;
    size_t nconsumers;
} vmux_xpending_summary;

/** Frees the summary's strings and consumers, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_xpending_summary_free(vmux_xpending_summary *s);

/** XPENDING key group: how many entries are pending, their ID range, and per consumer. */
VMUX_EXPORT int vmux_xpending(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                              vmux_xpending_summary *summary);

/** One pending entry (XPENDING's extended form). */
typedef struct vmux_xpending_entry {
    vmux_bytes id;
    vmux_bytes consumer;
    int64_t idle_ms;    /**< since it was last delivered */
    int64_t deliveries; /**< how many times it was delivered */
} vmux_xpending_entry;

/** Owned array of pending entries. */
typedef struct vmux_xpending_array {
    vmux_xpending_entry *items;
    size_t count;
} vmux_xpending_array;

/** Frees every item and the array, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_xpending_array_free(vmux_xpending_array *a);

/**
 * XPENDING key group [IDLE min_idle_ms] start end count [consumer]: up to count (>= 1) pending
 * entries with IDs from start to end, oldest first; only those idle at least min_idle_ms (0:
 * any) and, when consumer.ptr is not NULL, only that consumer's.
 */
VMUX_EXPORT int vmux_xpending_range(vmux *m, const vmux_callopts *opts, vmux_str key,
                                    vmux_str group, vmux_str start, vmux_str end, int64_t count,
                                    vmux_str consumer, int64_t min_idle_ms,
                                    vmux_xpending_array *entries);

/**
 * XCLAIM key group consumer min_idle_ms ids... (n >= 1): gives consumer the entries among ids
 * that are pending and idle at least min_idle_ms (>= 0), resetting their idle time and counting
 * one more delivery; *entries gets them. Pending entries that were deleted from the stream are
 * dropped from the pending list and not returned.
 */
VMUX_EXPORT int vmux_xclaim(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                            vmux_str consumer, int64_t min_idle_ms, const vmux_str *ids, size_t n,
                            vmux_stream_entry_array *entries);

/**
 * XAUTOCLAIM key group consumer min_idle_ms start [COUNT count]: claims, as vmux_xclaim(), the
 * pending entries idle at least min_idle_ms with IDs from start (ptr NULL means "0-0"),
 * scanning at most count of them (0: the server's default, 100). *next is where to start the
 * next call ("0-0" when the scan is complete), *entries the claimed entries and *deleted the
 * IDs of pending entries no longer in the stream (dropped from the pending list).
 */
VMUX_EXPORT int vmux_xautoclaim(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str group,
                                vmux_str consumer, int64_t min_idle_ms, vmux_str start,
                                int64_t count, vmux_bytes *next, vmux_stream_entry_array *entries,
                                vmux_bytes_array *deleted);

/**
 * XINFO STREAM's answer (owned; vmux_stream_info_free() frees it). Fields a server before 7.0
 * does not report read VMUX_STREAM_UNKNOWN (the counts) or ptr NULL (the IDs).
 */
typedef struct vmux_stream_info {
    int64_t length;                     /**< entries in the stream */
    int64_t radix_tree_keys;            /**< keys of the stream's radix tree */
    int64_t radix_tree_nodes;           /**< nodes of the stream's radix tree */
    int64_t groups;                     /**< consumer groups */
    vmux_bytes last_generated_id;       /**< the ID of the last entry ever added */
    vmux_bytes max_deleted_entry_id;    /**< the highest ID deleted (7.0) */
    int64_t entries_added;              /**< entries ever added (7.0) */
    vmux_bytes recorded_first_entry_id; /**< the first entry's ID as recorded (7.0) */
    /** The first entry: id.ptr NULL (and no fields) when the stream is empty. */
    vmux_stream_entry first_entry;
    /** The last entry: id.ptr NULL (and no fields) when the stream is empty. */
    vmux_stream_entry last_entry;
} vmux_stream_info;

/** Frees the info's strings and entries, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_stream_info_free(vmux_stream_info *info);

/** One consumer group (XINFO GROUPS). */
typedef struct vmux_stream_group_info {
    vmux_bytes name;
    int64_t consumers;            /**< consumers in the group */
    int64_t pending;              /**< entries delivered and not yet acknowledged */
    vmux_bytes last_delivered_id; /**< the group's last-delivered ID */
    /** Entries the group has read (7.0); VMUX_STREAM_UNKNOWN when the server cannot tell. */
    int64_t entries_read;
    /** Entries not yet delivered (7.0); VMUX_STREAM_UNKNOWN when the server cannot tell. */
    int64_t lag;
} vmux_stream_group_info;

/** Owned array of groups. */
typedef struct vmux_stream_group_info_array {
    vmux_stream_group_info *items;
    size_t count;
} vmux_stream_group_info_array;

/** Frees every group and the array, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_stream_group_info_array_free(vmux_stream_group_info_array *a);

/** One consumer of a group (XINFO CONSUMERS). */
typedef struct vmux_stream_consumer_info {
    vmux_bytes name;
    int64_t pending; /**< entries delivered to it and not yet acknowledged */
    int64_t idle_ms; /**< since it last tried to read or claim */
    /**
     * Since it last read or claimed something (7.2); VMUX_STREAM_UNKNOWN when it never did, or
     * when the server does not report it.
     */
    int64_t inactive_ms;
} vmux_stream_consumer_info;

/** Owned array of consumers. */
typedef struct vmux_stream_consumer_info_array {
    vmux_stream_consumer_info *items;
    size_t count;
} vmux_stream_consumer_info_array;

/** Frees every consumer and the array, and zeroes it. NULL is allowed. */
VMUX_EXPORT void vmux_stream_consumer_info_array_free(vmux_stream_consumer_info_array *a);

/**
 * XINFO STREAM key: the stream's counts, IDs, and first and last entries, in *info. A missing
 * key is the server's error (VMUX_ERR_SERVER, "ERR no such key"), unlike the reads above.
 */
VMUX_EXPORT int vmux_xinfo_stream(vmux *m, const vmux_callopts *opts, vmux_str key,
                                  vmux_stream_info *info);
/**
 * XINFO GROUPS key: every consumer group of the stream, in the server's order (count 0 when it
 * has none). A missing key is the server's error (VMUX_ERR_SERVER, "ERR no such key").
 */
VMUX_EXPORT int vmux_xinfo_groups(vmux *m, const vmux_callopts *opts, vmux_str key,
                                  vmux_stream_group_info_array *groups);
/**
 * XINFO CONSUMERS key group: every consumer of the group, in the server's order. A missing key
 * is the server's error (VMUX_ERR_SERVER, "ERR no such key"), and so is a missing group
 * (NOGROUP).
 */
VMUX_EXPORT int vmux_xinfo_consumers(vmux *m, const vmux_callopts *opts, vmux_str key,
                                     vmux_str group, vmux_stream_consumer_info_array *consumers);

/** @{ */
/**
 * Converters of XINFO STREAM, XINFO GROUPS and XINFO CONSUMERS replies (from vmux_call() or a
 * batch), as those of types.h: each object is the server's list of name, value, name, value...,
 * read by name, so that the fields' order does not matter and a field a newer server adds is
 * skipped. A reply of another shape (an odd list, a name twice, a value of the wrong kind, a
 * field every server sends missing) is VMUX_ERR_PROTOCOL with *out zeroed.
 */
VMUX_EXPORT int vmux_reply_to_stream_info(const vmux_reply *r, vmux_stream_info *out);
VMUX_EXPORT int vmux_reply_to_stream_groups(const vmux_reply *r, vmux_stream_group_info_array *out);
VMUX_EXPORT int vmux_reply_to_stream_consumers(const vmux_reply *r,
                                               vmux_stream_consumer_info_array *out);
/** @} */

/** XTRIM key trim: *removed is how many entries were evicted. */
VMUX_EXPORT int vmux_xtrim(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_stream_trim trim,
                           int64_t *removed);

/** XDEL key ids... (n >= 1): *deleted is how many existed. */
VMUX_EXPORT int vmux_xdel(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *ids,
                          size_t n, int64_t *deleted);

#ifdef __cplusplus
}
#endif

#endif

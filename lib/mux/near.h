/*
 * The handle's near cache (issue 15, docs/patterns/near-cache.md): the store (core/near_store.h)
 * kept correct by the server's invalidations. near.c owns, on the I/O thread, the invalidation
 * connection (CLIENT ID, SUBSCRIBE __redis__:invalidate) and the tracking of the handle's data
 * link (CLIENT TRACKING ON REDIRECT <id> OPTIN, or BCAST PREFIX ... under nearCacheMode=bcast,
 * at each setup, and re-pointed when the invalidation connection is replaced), and empties the
 * store when invalidations may have been lost. On a standalone server the node is 0 and the slot 0;
 * on a cluster (near_cluster.c) every primary of the map is a node (a small id of its own) with its
 * own invalidation connection, and the router's link to it tracks to that one.
 *
 * The order rule: a read's reply may be stored only when the read was sent on a data connection
 * that tracks to the current invalidation connection of its node. near.c publishes that per node
 * as "storable", and clears it before every flush; a reader reserves its placeholder first and
 * reads "storable" after (both sequentially consistent), so a reservation that a flush did not
 * pass saw "storable" as it stood after that flush. On a cluster the reader also reads the slot's
 * primary again after the reservation: a new map stores the slots' new primaries before it
 * flushes the slots that moved. With replica reads (vmux__near_replica_reads()) the node that
 * serves a read is the router's choice, so the check is made again on the I/O thread as the
 * read is written (vmux__call_block_near(), mux/handle.h): a read written anywhere but on a
 * tracking node of the shard it was reserved under has its placeholder cancelled.
 */
#ifndef VMUX_MUX_NEAR_H
#define VMUX_MUX_NEAR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/near_store.h"
#include "vmux/call.h"
#include "vmux/client.h"

struct vmux_link;

struct vmux_config;
struct vmux_nearc;

/*
 * Creates the handle's near cache when cfg turns it on (*out NULL when it does not). Returns 0,
 * VMUX_ERR_CONFIG with errbuf set (bounds the store cannot work with), or VMUX_ERR_NOMEM. Any
 * thread, before the I/O thread starts.
 */
int vmux__nearc_new(const struct vmux_config *cfg, struct vmux_nearc **out, char *errbuf,
                    size_t errlen);

/* I/O thread, before the data link starts: makes it a tracking link, opens the invalidation
 * link. NULL near: nothing. */
void vmux__nearc_start(vmux *m);

/* I/O thread, shutting down: closes the invalidation links and the sweep timer. */
void vmux__nearc_close(vmux *m);

/* I/O thread, once a second: the invalidation links' heartbeats (PING, as subscriber links). */
void vmux__nearc_tick(vmux *m, bool frozen);

/*
 * I/O thread, the router's hooks (near_cluster.c; m's near cache may be NULL: nothing).
 * vmux__nearc_map_changed(): a new slot map is in place: cluster mode begins (the standalone
 * invalidation link closes), new primaries get an invalidation link, the slots whose primary
 * changed are flushed (VMUX_NEAR_MOVED), a primary that left the map or is one no more is
 * flushed (VMUX_NEAR_FAILOVER). vmux__nearc_node_ready(): a node link's connection is ready: it
 * becomes a tracking link and is pointed at its node's invalidation connection.
 * vmux__nearc_redirected(): an op of slot was redirected (MOVED or ASK): the slot is flushed,
 * so that the reply, read from another node than its placeholder says, is not stored.
 */
void vmux__nearc_map_changed(vmux *m);
void vmux__nearc_node_ready(vmux *m, struct vmux_link *link);
void vmux__nearc_redirected(void *m, unsigned slot);

/* Frees it (NULL is allowed), once the loop has ended. */
void vmux__nearc_free(struct vmux_nearc *near);

/* ---- for the tracked reads (api/near.c); any thread ---- */

/*
 * The handle's store, for the tracked reads: 0 with *out set; VMUX_ERR_FORKED in a child of
 * fork(), before the store is touched (a parent thread may have held one of its locks at the
 * fork, and no invalidation reaches the child); VMUX_ERR_UNSUPPORTED when the near cache is off.
 */
int vmux__near_store_for(vmux *m, struct vmux_near **out);

/*
 * opts (not NULL) for a tracked read: 0, or VMUX_ERR_INVALID_ARG for options vmux_call() refuses
 * or with VMUX_CALL_REPLICA or VMUX_CALL_PREFER_REPLICA, with why in opts->errbuf. Checked
 * before the lookup, so that a hit refuses them as a miss does.
 */
int vmux__near_opts_check(const vmux_callopts *opts);

/*
 * Where a tracked read of key (len bytes) is reserved: *node and *slot for vmux__near_reserve()
 * (0 and 0 on a standalone server; the slot's primary's id and the slot on a cluster). false
 * when it cannot be tracked now (detecting, a slot without a known primary).
 */
bool vmux__near_place(vmux *m, const void *key, size_t len, unsigned *node, unsigned *slot);

/*
 * Whether a read placed at node and slot, sent now, may be stored (see the order rule above):
 * the slot's primary is still node and its data connection tracks to its current invalidation
 * connection. Read it after the reservation. With replica reads (vmux__near_replica_reads()) it
 * says only that the slot's primary is still node: the node that serves the read is checked as
 * the read is written, so every tracked read must be sent with vmux__call_block_near()
 * (mux/handle.h), never vmux__call_block().
 */
bool vmux__near_storable(vmux *m, unsigned node, unsigned slot);

/*
 * The client id that node's data connection tracks to (its invalidation connection's), as it
 * stood when vmux__near_storable() last turned true: a BCAST read (nearCacheMode=bcast) compares
 * it with the redirect CLIENT TRACKINGINFO names. Read it after vmux__near_storable().
 */
long long vmux__near_tracking_id(vmux *m, unsigned node);

/*
 * Whether m's near cache is in BCAST mode (nearCacheMode=bcast), and whether a key (len bytes)
 * may be tracked at all: always in OPTIN mode, under one of nearCachePrefixes (or any key when
 * there are none) in BCAST mode.
 */
bool vmux__near_bcast(vmux *m);
bool vmux__near_covers(vmux *m, const void *key, size_t len);

/*
 * Whether tracked reads may go where readFrom sends reads (a cluster's replicas): true in cluster
 * mode with readFrom other than primary, where each replica that serves reads has an
 * invalidation connection of its own and its link tracks to it. Else they go to the primary.
 */
bool vmux__near_replica_reads(vmux *m);

/* Counts a miss read without tracking (nothing could be stored). */
void vmux__near_count_untracked(vmux *m);

/*
 * The server refused a tracked read's block (why: its error, such as an ACL without CLIENT
 * CACHING or PTTL): the read goes again untracked. Warns once per handle. Any thread.
 */
void vmux__near_block_refused(vmux *m, const char *why);

/* The handle's near cache counters besides the store's: the invalidations and untracked reads. */
struct vmux_nearc_counts {
    uint64_t invalidations; /* keys named by the server's invalidation messages */
    uint64_t untracked;
};
void vmux__near_counts(vmux *m, struct vmux_nearc_counts *out);

#endif

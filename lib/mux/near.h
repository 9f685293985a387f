/*
 * The handle's near cache (issue 15, docs/patterns/near-cache.md): the store (core/near_store.h)
 * kept correct by the server's invalidations. near.c owns, on the I/O thread, the invalidation
 * connection (CLIENT ID, SUBSCRIBE __redis__:invalidate) and the tracking of the handle's data
 * link (CLIENT TRACKING ON REDIRECT <id> OPTIN at each setup, and re-pointed when the
 * invalidation connection is replaced), and empties the store when invalidations may have been
 * lost. Standalone only so far: the node is 0 and the slot 0.
 *
 * The order rule: a read's reply may be stored only when the read was sent on a data connection
 * that tracks to the current invalidation connection. near.c publishes that as "storable", and
 * clears it before every flush; a reader reserves its placeholder first and reads "storable"
 * after (both sequentially consistent), so a reservation that a flush did not pass saw
 * "storable" as it stood after that flush.
 */
#ifndef VMUX_MUX_NEAR_H
#define VMUX_MUX_NEAR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/near_store.h"
#include "vmux/client.h"

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

/* I/O thread, shutting down: closes the invalidation link and the sweep timer. */
void vmux__nearc_close(vmux *m);

/* Frees it (NULL is allowed), once the loop has ended. */
void vmux__nearc_free(struct vmux_nearc *near);

/* ---- for the tracked reads (api/near.c); any thread ---- */

/* The handle's store, or NULL when the near cache is off. */
struct vmux_near *vmux__near_store_of(vmux *m);

/*
 * Whether a read sent now may be stored (see the order rule above): the data connection tracks
 * to the current invalidation connection, on a standalone server. Read it after the reservation.
 */
bool vmux__near_storable(vmux *m);

/* Counts a miss read without tracking (nothing could be stored). */
void vmux__near_count_untracked(vmux *m);

/* The handle's near cache counters: the store's, and the invalidations and untracked reads. */
struct vmux_nearc_counts {
    uint64_t invalidations; /* keys named by the server's invalidation messages */
    uint64_t untracked;
};
void vmux__near_counts(vmux *m, struct vmux_nearc_counts *out);

#endif

/*
 * The harness of the cluster pub/sub tests (test_cluster_pubsub.c, test_cluster_pubsub_failover.c):
 * one handle subscribes to n channels (shard channels or channels), a thread publishes round
 * after round through another handle (round r is message "r" on every channel, each publish
 * with a deadline), and a ledger records which messages the server acknowledged and which
 * arrived. A test moves the channels (a slot migration, a kill), waits until the server says the
 * subscriptions are on their new node, notes the round published then (the mark), lets more
 * rounds go, and checks that every message acknowledged after the mark arrived, exactly once.
 * The window is each channel's longest time between two arrivals.
 */
#ifndef VMUX_TEST_CLUSTER_PUBSUB_H
#define VMUX_TEST_CLUSTER_PUBSUB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmux/vmux.h"

#define CP_MAXCH 100

struct cp_run {
    vmux *sub, *pub;    /* subscriber and publisher handles (the test opens and closes them) */
    vmux_sub_kind kind; /* VMUX_SUB_SHARD or VMUX_SUB_CHANNEL */
    int n;              /* channels */
    char names[CP_MAXCH][48];
    vmux_sub *subs[CP_MAXCH];
    int maxr;       /* rounds at most */
    uint8_t *acked; /* [channel * maxr + round]: the publish was acknowledged */
    uint8_t *got;   /* [channel * maxr + round]: the message arrived (I/O thread writes) */
    uint64_t last_ns[CP_MAXCH], max_gap_ns[CP_MAXCH]; /* arrivals (I/O thread) */
    atomic_int rounds;                                /* rounds fully published */
    atomic_int dups, strays, pub_errors;
    atomic_bool stop;
    pthread_t th;
};

/* Names n channels "<prefix><i>" (prefix may hold a hash tag), allocates the ledger. */
void cp_init(struct cp_run *run, vmux_sub_kind kind, int n, const char *prefix, int maxr);

/* Subscribes every channel on run->sub (callbacks) and waits until each is live. */
void cp_subscribe(struct cp_run *run);

/* Starts / stops the publishing thread. */
void cp_start(struct cp_run *run);
void cp_stop(struct cp_run *run);

/* Waits until `more` further rounds are published (fails the test after a generous deadline). */
void cp_wait_rounds(struct cp_run *run, int more);

/*
 * After cp_stop(): waits until every message acknowledged from round `mark` on has arrived, and
 * fails the test if one has not (or any arrived twice). Returns how many acknowledged messages
 * of the earlier rounds never arrived (the ones published during the move).
 */
int cp_check_from(struct cp_run *run, int mark);

/* The longest gap between two arrivals, the largest over the channels and the median. */
void cp_windows(const struct cp_run *run, double *max_ms, double *median_ms);

/* Unsubscribes and frees the ledger. */
void cp_free(struct cp_run *run);

/*
 * PUBSUB SHARDNUMSUB (shard) or NUMSUB (channel) of one channel on the node at port (over TLS
 * in TLS mode); -1 when the node did not answer.
 */
long long cp_numsub(int port, vmux_sub_kind kind, const char *channel);

#endif

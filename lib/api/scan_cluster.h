/*
 * SCAN over a whole cluster (scan.h, docs/cluster.md "Scanning a cluster"): which slots are
 * scanned, and which node is being scanned. Private to lib/api (scan.c).
 */
#ifndef VMUX_API_SCAN_CLUSTER_H
#define VMUX_API_SCAN_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "route/slot.h"
#include "vmux/call.h"

struct vmux_cscan {
    uint8_t done[VMUX_SLOTS / 8];  /* slots whose keys have all been returned */
    uint8_t owned[VMUX_SLOTS / 8]; /* the node's slots (not migrating) when its scan began */
    char host[256]; /* the node being scanned (as CLUSTER NODES names it); "" when none */
    int port;
    char id[41]; /* its node id: how the handle's map knows it, whatever name the map gives it */
    char run_id[41]; /* its process's run_id when its scan began ("": INFO refused, unchecked) */
    /* Its RESTORE and RESTORE-ASKING calls when its scan began (INFO commandstats; unchecked with
     * run_id ""): keys moved onto it by MIGRATE, a reshard's or a cancelled one's. */
    long long restores;
    uint64_t epoch; /* its config epoch when its scan began (its own CLUSTER NODES line) */
    bool begun;     /* its run_id was asked (vmux__cscan_begin()): its SCAN may be sent */
    bool finishing; /* its SCAN is complete: mark its slots once its ownership is checked again */
    /* Its slots migrating away when its scan began (mig), and those of them not done going to
     * `to`, the target of the lowest not done (moving): a slot left migrating (an interrupted
     * reshard) has keys on both nodes, and is never stable on either. */
    uint8_t mig[VMUX_SLOTS / 8];
    uint8_t moving[VMUX_SLOTS / 8];
    char to[41];
    /* Slots that node via_from migrated to via_id for the whole of its scan: done once via_id
     * has been scanned, after it (via_scan: the node being scanned is via_id, chosen so). */
    uint8_t via[VMUX_SLOTS / 8];
    char via_from[41];
    char via_id[41];
    bool via_scan;
    /* The end of the step's budget (core/budget.h; scan.c sets it): each of its round trips
     * (CLUSTER NODES on every primary and on the nodes a view names, INFO, SCAN, and again after
     * a retry) gets what is left, and none is sent once nothing is (VMUX_ERR_TIMEOUT). */
    uint64_t deadline_ns;
    /* A round trip of the step was not sent: nothing was left of its budget (scan.c clears it
     * when a step begins). A step that failed so before its SCAN keeps its node (pick). */
    bool out_of_time;
};

/*
 * Chooses the next node: the owner of the lowest slot not done, as that node itself says. Every
 * primary of the map is asked CLUSTER NODES (slots that no view has a primary serve are marked
 * done: no key can be there); the one whose own line claims the slot is taken (the highest
 * config epoch of several), named as the map names it, with its id. When none does, a view's
 * owner is asked itself, and so on. Slots that the node scanned last kept migrating to one node
 * (via) come first: that node is chosen, while their source still says it migrates them there.
 * Returns 1 with host, port, id, owned, mig, moving and to set (begun false: its run_id is asked
 * by vmux__cscan_begin()), 0 when every slot is done, or an error with its reason in opts->errbuf
 * (a primary's or the node's; VMUX_ERR_NOT_CONNECTED for a node the map does not have, the target
 * of via among them; VMUX_ERR_PROTOCOL for a reply that is no CLUSTER NODES text or nodes that
 * keep disagreeing who owns the slot).
 */
int vmux__cscan_pick(vmux *m, const vmux_callopts *opts, struct vmux_cscan *cs);

/*
 * Before the first SCAN of the node chosen: notes its process's run_id and its RESTORE and
 * RESTORE-ASKING calls (INFO server commandstats; run_id "" when a server refuses INFO, an ACL
 * without it: both checks are skipped), once (begun). Returns 0 (at once when begun already), or
 * the error with its reason in opts->errbuf.
 */
int vmux__cscan_begin(vmux *m, const vmux_callopts *opts, struct vmux_cscan *cs);

/*
 * The node's SCAN is complete: asks it again which slots it serves and marks done those it owned
 * (not migrating) both when its scan began and now, unless its process is another than when the
 * scan began (a new run_id: restarted, with a new hash seed, the SCAN cursor it was given meant
 * nothing there, and keys may have been skipped), or keys may have left it and come back
 * meanwhile: its config epoch changed (it took a slot: one of its own may have been away and
 * back), or it ran RESTORE or RESTORE-ASKING (keys moved onto it by MIGRATE: a slot's keys
 * moved away and back with the slot never changing owner, a cancelled migration). Keys away
 * while its cursor passed their slot's dict (a Valkey 8 node scans slot by slot) were never
 * returned, though the slot was its own, stable, at both ends. A node chosen for via marks those
 * slots done too (unless it was migrating them away itself); a node that kept migrating slots to
 * one target from start to end sets via to them, so that target is scanned next (the target of its
 * lowest such slot not done: a node with open slots to several targets, picked again once via is
 * done, names the next one). Leaves no node chosen, in every case; on an error none is marked (its
 * slots are scanned again later) and the error is returned.
 */
int vmux__cscan_node_done(vmux *m, const vmux_callopts *opts, struct vmux_cscan *cs);

/*
 * Sends argv to the node being scanned (host not ""): the node of the handle's map with its id,
 * else the one at its address (vmux__fanout_call_node_id()), with what is left of the step's
 * deadline (VMUX_ERR_TIMEOUT, not sent and out_of_time set, when nothing is). Returns as
 * vmux_call_node() does, but VMUX_ERR_NOT_CONNECTED (not sent) when the map has no such node (it
 * left: a failover).
 */
int vmux__cscan_call(vmux *m, const vmux_callopts *opts, struct vmux_cscan *cs, int argc,
                     const char *const *argv, const size_t *argvlen, vmux_reply **out);

/* Forgets the node being scanned (after a failed step): its slots will be scanned again. */
void vmux__cscan_drop(struct vmux_cscan *cs);

#endif

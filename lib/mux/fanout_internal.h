/*
 * The fan-out's state, shared by its two sides (I/O thread only once submitted): the callers'
 * (mux/fanout_call.c: options, encoding, submission, the synchronous wait) and the I/O thread's
 * (mux/fanout.c: the parts, the replies, the rerun after a failover).
 */
#ifndef VMUX_FANOUT_INTERNAL_H
#define VMUX_FANOUT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mux/fanout.h"
#include "mux/mux.h"

struct fanout;

/* One node's part: where its completion writes, and what its node's ROLE said (check_role). */
struct fan_part {
    struct fanout *f;
    size_t i;
    bool demoted;   /* ROLE named another role than "master": the map is behind */
    bool withdrawn; /* waited unsent for a node the map no longer names a primary */
    bool master;    /* ROLE said "master" (VMUX__RERUN_REST keeps its success) */
    char role[16];  /* that role, for the part's words */
};

struct fanout {
    vmux *m;
    unsigned which;   /* VMUX_ROUTER_NODES_* */
    const char *host; /* vmux_call_node(): only this node (the caller's string), else NULL */
    int port;
    const char *id; /* vmux__fanout_call_node_id(): the node with this id, before host:port */
    bool learnt;    /* vmux__fanout_call_node_id(): the node comes from a node's view */
    bool *unknown;  /* vmux_call_node(): set when no node of the map is host:port (the caller's) */
    struct vmux_op *cmd; /* the encoded command, copied for each node; never submitted */
    uint32_t flags;      /* the parts' op flags */
    bool word_failures;  /* vmux_call_nodes(): a part that fails otherwise than with the server's
                          * error gets an error reply of vmux_call()'s words for it (worded()) */
    bool check_role;     /* vmux__fanout_call_primaries(): ROLE goes ahead of each part */
    /* check_role: a part of this run met a node the map calls a primary that is none (ROLE,
     * READONLY), and the map refresh asked for then is the one after mark (route/router.h); the
     * fan-out runs again on the refreshed map (reruns counts those runs), once, unless no refresh
     * came in time (unrefreshed); or it is stale by withdrawn parts only (ahead: the current map
     * moved on already, no mark), and runs again as long as each run's map moves on (fanout.c) */
    bool stale, unrefreshed;
    unsigned reruns;
    bool ahead;
    bool watched; /* counted in m->role_fanouts (started, check_role, in cluster mode) */
    uint64_t mark;
    enum vmux__rerun rerun_as;
    vmux_node_replies kept; /* VMUX__RERUN_REST: the first run's successes on a "master" */
    uint32_t timeout_ms;
    uint64_t deadline_ns;
    size_t pending; /* parts not yet complete, plus one while start() runs */
    vmux_node_replies res;
    struct fan_part *parts;
    vmux_node_replies_cb cb;
    void *userdata;
    bool counted; /* in the handle's pending ops from submission until freed (vmux_drain()) */
};

/*
 * Frees f: its command, its parts' entries and its kept successes; a counted call (f->counted)
 * is done for vmux_drain(), a watched one (f->watched, I/O thread) leaves m->role_fanouts. The
 * caller's thread before submission, else the I/O thread.
 */
void vmux__fanout_free(struct fanout *f);

/*
 * The fan-out's control function (arg: f), on the I/O thread: lists the nodes f asks for and sends
 * each its part. Returns 0 once it took f over (f completes its caller through its parts), else
 * the error with which vmux__fanout_on_started() completes it (VMUX__CONTROL_WAIT while the
 * handle is detecting: it runs again once the mode is known).
 */
int vmux__fanout_start(vmux *m, void *arg);

/* The control op's completion (userdata: f): with a start's error, or VMUX_ERR_CLOSED when it
 * never ran, the caller is completed with it and f freed; 0: nothing (f was taken over). */
void vmux__fanout_on_started(int status, vmux_reply *reply, void *userdata);

#endif

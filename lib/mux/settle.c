/*
 * Waiting for the handle to know whether it is on a cluster (mux/handle.h), for the calls whose
 * shape depends on it: a typed multi-key call splits its keys per slot on a cluster only. Under
 * cluster=auto with abortConnect=false the answer may not be in yet; sent as one command then,
 * such a call reached a cluster node whole and came back CROSSSLOT. The synchronous wait is a
 * fan-out's (mux/fanout_call.c); the asynchronous one is a control op that waits with the
 * commands that wait for detection, by its deadline, and runs the caller's function when the mode
 * is known. It takes the room its function's commands will need at the door when it is made, as
 * they would be admitted or refused then (an async split over maxPending was refused only once
 * the answer came, through its callback: review helper-257 F5).
 */
#include <stdlib.h>

#include "core/op.h"
#include "core/sized.h"
#include "mux/fanout.h"
#include "mux/handle.h"
#include "mux/mux.h"
#include "vmux/error.h"

enum vmux__slots vmux__slot_routing(vmux *m)
{
    if (m == NULL)
        return VMUX__SLOTS_NO;
    switch (vmux__router_mode(&m->router)) {
    case VMUX_ROUTER_CLUSTER:
        return VMUX__SLOTS_YES;
    case VMUX_ROUTER_DETECTING:
        return m->cfg->cluster == VMUX_CLUSTER_YES ? VMUX__SLOTS_YES : VMUX__SLOTS_UNKNOWN;
    default:
        return VMUX__SLOTS_NO;
    }
}

/* What is left of a deadline at deadline_ns, in ms, at least 1. */
static uint32_t left_of(uint64_t deadline_ns)
{
    uint64_t now = uv_hrtime();
    uint64_t left = deadline_ns > now ? (deadline_ns - now) / 1000000u : 0;
    return left < 1 ? 1 : left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

int vmux__settle_sync(vmux *m, const vmux_callopts *opts, uint32_t *left_ms)
{
    uint64_t start = uv_hrtime();
    vmux_callopts o = vmux__callopts_copy(opts); /* read as far as the caller's size goes */
    uint32_t timeout = vmux__call_timeout(m, &o, true);
    int rc = vmux__fanout_settle(m, opts);
    *left_ms = left_of(start + (uint64_t)timeout * 1000000u);
    return rc;
}

/* A wait of vmux__after_settled(): the caller's function and its deadline, and the room it holds
 * at the door (ops commands of bytes, 0 once given back). Freed at completion. */
struct after {
    vmux *m;
    uint64_t deadline_ns;
    int (*fn)(vmux *m, uint32_t left_ms, void *arg);
    void (*failed)(int status, vmux_reply *why, void *arg);
    void *arg;
    bool taken; /* fn took arg over */
    size_t ops, bytes;
};

/* Gives back the room a holds, once: fn's commands take their own as they are submitted. */
static void give_back(struct after *a)
{
    if (a->ops > 0)
        vmux__unreserve_n(a->m, a->ops, a->bytes);
    a->ops = 0;
    a->bytes = 0;
}

/* The control op's function, on the I/O thread: waits while detecting, then runs fn. */
static int run_after(vmux *m, void *p)
{
    struct after *a = p;
    if (vmux__router_mode(&m->router) == VMUX_ROUTER_DETECTING)
        return VMUX__CONTROL_WAIT; /* runs again once the handle knows what the server is */
    give_back(a);
    int rc = a->fn(m, left_of(a->deadline_ns), a->arg);
    a->taken = rc == 0;
    return rc;
}

/* The control op's completion: fn's success, or failed() with the wait's or fn's error. */
static void after_done(int status, vmux_reply *why, void *p)
{
    struct after *a = p;
    vmux *m = a->m;
    give_back(a); /* the wait ended first: before the caller hears it */
    if (a->taken)
        vmux_reply_free(why);
    else
        a->failed(status, why, a->arg);
    free(a);
    vmux__counters_call_done(&m->ctr); /* last: a drain may return, and the handle close */
}

/* The control op of a, its deadline timeout_ms from now, telling why it fails unsent. */
static struct vmux_op *after_op(struct after *a, uint32_t timeout_ms, uint32_t call_flags)
{
    struct vmux_op *op = vmux__op_new(0);
    if (op == NULL)
        return NULL;
    op->flags = VMUX_OP_TRUSTED | VMUX_OP_CONTROL | VMUX_OP_TELL_WHY |
                (vmux__call_op_flags(call_flags) & VMUX_OP_TELL_UNSENT);
    op->timeout_ms = timeout_ms;
    op->deadline_ns = a->deadline_ns; /* fixed: submission keeps it */
    op->control.fn = run_after;
    op->control.arg = a;
    op->cb = after_done;
    op->userdata = a;
    return op;
}

/* The control op of a wait for fn (its struct after its userdata), or NULL: out of memory. */
static struct vmux_op *after_new(vmux *m, const vmux_callopts *o,
                                 int (*fn)(vmux *m, uint32_t left_ms, void *arg),
                                 void (*failed)(int status, vmux_reply *why, void *arg), void *arg)
{
    struct after *a = malloc(sizeof *a);
    if (a == NULL)
        return NULL;
    uint32_t timeout_ms = vmux__call_timeout(m, o, false);
    *a = (struct after){m, uv_hrtime() + (uint64_t)timeout_ms * 1000000u, fn, failed, arg, false, 0,
                        0};
    struct vmux_op *op = after_op(a, timeout_ms, o->flags);
    if (op == NULL)
        free(a);
    return op;
}

/*
 * Takes room at the door for the commands fn will send (none when room->ops is 0), as their
 * submission would now: 0, or VMUX_ERR_BACKLOG_FULL with the door's words in o's error buffer.
 */
static int take_room(vmux *m, const vmux_callopts *o, const struct vmux__room *room)
{
    if (room == NULL || room->ops == 0)
        return 0;
    int rc = vmux__reserve_n(m, room->ops, room->bytes);
    if (rc == VMUX_ERR_BACKLOG_FULL) /* which bound, and the commands' size against it */
        vmux__door_why(m, room->ops, room->bytes, o->errbuf, o->errlen);
    return rc;
}

/* Submits the wait op, the room taken its own (struct after): 0, or refused with neither run. */
static int submit_after(vmux *m, struct vmux_op *op, const struct vmux__room *room)
{
    struct after *a = op->userdata;
    if (room != NULL) {
        a->ops = room->ops;
        a->bytes = room->bytes;
    }
    vmux__counters_call_held(&m->ctr); /* a control op is no command: nothing else counts it */
    int rc = vmux__submit(m, op);      /* refused: op freed, after_done() never runs */
    if (rc != 0) {
        give_back(a);
        vmux__counters_call_done(&m->ctr);
        free(a);
    }
    return rc;
}

int vmux__after_settled(vmux *m, const vmux_callopts *opts, const struct vmux__room *room,
                        int (*fn)(vmux *m, uint32_t left_ms, void *arg),
                        void (*failed)(int status, vmux_reply *why, void *arg), void *arg)
{
    vmux_callopts o;
    if (m == NULL || vmux__callopts_read(opts, VMUX__CALL_FLAGS_KNOWN, &o) != 0)
        return VMUX_ERR_INVALID_ARG;
    if (!vmux__hold(m))
        return VMUX_ERR_CLOSED;
    /* not forked first: see vmux__forked() */
    int rc = vmux__forked(m) ? VMUX_ERR_FORKED : take_room(m, &o, room);
    struct vmux_op *op = rc == 0 ? after_new(m, &o, fn, failed, arg) : NULL;
    if (rc == 0 && op == NULL) {
        rc = VMUX_ERR_NOMEM;
        if (room != NULL && room->ops > 0)
            vmux__unreserve_n(m, room->ops, room->bytes);
    }
    if (rc == 0)
        rc = submit_after(m, op, room);
    vmux__leave(m);
    return rc;
}

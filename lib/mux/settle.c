/*
 * Waiting for the handle to know whether it is on a cluster (mux/handle.h), for the calls whose
 * shape depends on it: a typed multi-key call splits its keys per slot on a cluster only. Under
 * cluster=auto with abortConnect=false the answer may not be in yet; sent as one command then,
 * such a call reached a cluster node whole and came back CROSSSLOT. The synchronous wait is a
 * fan-out's (mux/fanout_call.c); the asynchronous one is a control op that waits with the
 * commands that wait for detection, by its deadline, and runs the caller's function when the mode
 * is known.
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

/* A wait of vmux__after_settled(): the caller's function and its deadline. Freed at completion. */
struct after {
    vmux *m;
    uint64_t deadline_ns;
    int (*fn)(vmux *m, uint32_t left_ms, void *arg);
    void (*failed)(int status, vmux_reply *why, void *arg);
    void *arg;
    bool taken; /* fn took arg over */
};

/* The control op's function, on the I/O thread: waits while detecting, then runs fn. */
static int run_after(vmux *m, void *p)
{
    struct after *a = p;
    if (vmux__router_mode(&m->router) == VMUX_ROUTER_DETECTING)
        return VMUX__CONTROL_WAIT; /* runs again once the handle knows what the server is */
    int rc = a->fn(m, left_of(a->deadline_ns), a->arg);
    a->taken = rc == 0;
    return rc;
}

/* The control op's completion: fn's success, or failed() with the wait's or fn's error. */
static void after_done(int status, vmux_reply *why, void *p)
{
    struct after *a = p;
    vmux *m = a->m;
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
    *a = (struct after){m, uv_hrtime() + (uint64_t)timeout_ms * 1000000u, fn, failed, arg, false};
    struct vmux_op *op = after_op(a, timeout_ms, o->flags);
    if (op == NULL)
        free(a);
    return op;
}

int vmux__after_settled(vmux *m, const vmux_callopts *opts,
                        int (*fn)(vmux *m, uint32_t left_ms, void *arg),
                        void (*failed)(int status, vmux_reply *why, void *arg), void *arg)
{
    vmux_callopts o;
    if (m == NULL || vmux__callopts_read(opts, VMUX__CALL_FLAGS_KNOWN, &o) != 0)
        return VMUX_ERR_INVALID_ARG;
    if (!vmux__hold(m))
        return VMUX_ERR_CLOSED;
    /* not forked first: see vmux__forked() */
    struct vmux_op *op = vmux__forked(m) ? NULL : after_new(m, &o, fn, failed, arg);
    int rc = vmux__forked(m) ? VMUX_ERR_FORKED : op == NULL ? VMUX_ERR_NOMEM : 0;
    if (rc == 0) {
        struct after *a = op->userdata;
        vmux__counters_call_held(&m->ctr); /* a control op is no command: nothing else counts it */
        rc = vmux__submit(m, op);          /* refused: op freed, after_done() never runs */
        if (rc != 0) {
            vmux__counters_call_done(&m->ctr);
            free(a);
        }
    }
    vmux__leave(m);
    return rc;
}

/*
 * Batches (mux/batch.h): the parts of a split command, encoded here in the caller's thread,
 * submitted all or none, and completed together once the last part has its outcome.
 */
#include "mux/batch.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/counters.h"
#include "core/encode.h"
#include "core/nocancel.h"
#include "core/reply_internal.h"
#include "core/wait.h"
#include "mux/mux.h"
#include "net/link.h"
#include "vmux/error.h"

struct batch;

/* What a part's op carries as its userdata: where its outcome goes. */
struct part_ref {
    struct batch *b;
    size_t i;
};

/* One allocation: the batch, then n part_refs, then n results. Freed by the last part. */
struct batch {
    atomic_size_t left; /* parts not yet complete */
    size_t n;
    vmux__batch_cb cb;
    void *userdata;
    struct part_ref *refs;
    struct vmux_part_result *results;
    /* An asynchronous batch is a call vmux_drain() waits for until its callback has run
     * (core/counters.h calls_held): its parts that cross slots are control ops, which nothing
     * else counts, so a batch of only those was not waited for. NULL: not held (synchronous). */
    struct vmux_counters *held;
};

static struct batch *batch_new(size_t n, vmux__batch_cb cb, void *userdata)
{
    size_t each = sizeof(struct part_ref) + sizeof(struct vmux_part_result);
    if (n > (SIZE_MAX - sizeof(struct batch)) / each)
        return NULL;
    struct batch *b = malloc(sizeof *b + n * each);
    if (b == NULL)
        return NULL;
    atomic_init(&b->left, n);
    b->n = n;
    b->cb = cb;
    b->userdata = userdata;
    b->held = NULL;
    b->refs = (struct part_ref *)(b + 1);
    b->results = (struct vmux_part_result *)(b->refs + n);
    for (size_t i = 0; i < n; i++)
        b->refs[i] = (struct part_ref){b, i};
    return b;
}

/* A part's completion: the last one completes the batch. */
static void part_done(int status, vmux_reply *reply, void *userdata)
{
    struct part_ref *ref = userdata;
    struct batch *b = ref->b;
    b->results[ref->i] = (struct vmux_part_result){status, reply};
    if (atomic_fetch_sub_explicit(&b->left, 1, memory_order_acq_rel) != 1)
        return;
    b->cb(b->n, b->results, b->userdata);
    struct vmux_counters *held = b->held;
    free(b);
    if (held != NULL)
        vmux__counters_call_done(held); /* last: a drain may return, and the handle close */
}

/* The flags of every part's op: the caller's, and VMUX_OP_TELL_WHY, as every caller puts a failed
 * part's why in words (a synchronous caller's error buffer, an async split count's
 * vmux_last_error(), an async batch's error replies), as vmux_call() and vmux_call_async() do. */
static uint32_t op_flags(const vmux_callopts *o)
{
    return vmux__call_op_flags(o->flags) | (uint32_t)VMUX_OP_TELL_WHY;
}

/* The batch's one deadline, for every part: its timeout, and when it passes (uv_hrtime()). */
struct timing {
    uint32_t timeout_ms;
    uint64_t deadline_ns;
};

/* Counted from start_ns, the caller's entry (0: now), so that encoding the parts counts. */
static struct timing timing_for(vmux *m, const vmux_callopts *o, bool sync, uint64_t start_ns)
{
    struct timing t;
    t.timeout_ms = vmux__call_timeout(m, o, sync);
    t.deadline_ns = (start_ns != 0 ? start_ns : uv_hrtime()) + (uint64_t)t.timeout_ms * 1000000u;
    return t;
}

/* A part that fails before it is sent (keys in two slots): its outcome, carried by a control op
 * so that it completes on the I/O thread with the others. Lives in that op's bytes, followed by
 * the words of its error (a reply made only at completion: a refused batch frees the op unrun). */
struct failed_part {
    struct part_ref *ref;
    int status;
    size_t whylen;
    char why[];
};

_Static_assert(offsetof(struct vmux_op, cmd) % _Alignof(struct failed_part) == 0,
               "a failed part lives in its op's bytes");

static int failed_part_run(vmux *m, void *arg)
{
    (void)m;
    return ((struct failed_part *)arg)->status; /* negative: never VMUX__CONTROL_WAIT */
}

/* The control op's completion, whether it ran or the handle closed first: the part's outcome, an
 * error reply naming the keys (NULL when there are no words or no memory). */
static void failed_part_done(int status, vmux_reply *reply, void *userdata)
{
    struct failed_part *f = userdata;
    (void)status;
    vmux_reply_free(reply);
    vmux_reply *why =
        f->whylen > 0 ? vmux__reply_new_str(VMUX_REPLY_ERROR, f->why, f->whylen) : NULL;
    part_done(f->status, why, f->ref);
}

/* A control op that completes ref with status and the words why; 0 or VMUX_ERR_NOMEM. */
static int fail_op(struct part_ref *ref, int status, const char *why, struct vmux_op **out)
{
    size_t whylen = strlen(why);
    struct vmux_op *op = vmux__op_new(sizeof(struct failed_part) + whylen);
    if (op == NULL)
        return VMUX_ERR_NOMEM;
    struct failed_part *f = (struct failed_part *)(void *)op->cmd;
    f->ref = ref;
    f->status = status;
    f->whylen = whylen;
    memcpy(f->why, why, whylen);
    op->len = 0; /* no command bytes: the room holds f */
    op->flags = VMUX_OP_TRUSTED | VMUX_OP_CONTROL;
    op->control.fn = failed_part_run;
    op->control.arg = f;
    op->cb = failed_part_done;
    op->userdata = f;
    *out = op;
    return 0;
}

/*
 * A part whose slot the caller left VMUX_OP_SLOT_UNSET is placed as vmux_call() places a command
 * (vmux__router_place()): standalone readFrom marks a read; a cluster computes its slot here. Keys
 * in two slots make it a failed part (*op replaced by a control op that completes it with
 * VMUX_ERR_CROSSSLOT), not a refusal of the batch. 0, or VMUX_ERR_NOMEM (*op freed).
 */
static int route_part(vmux *m, const struct vmux_part *part, struct part_ref *ref,
                      struct vmux_op **op)
{
    char why[256];
    int rc = vmux__router_place(&m->router, *op, (*op)->flags, part->argc, part->argv,
                                part->argvlen, why, sizeof why);
    if (rc == 0)
        return 0;
    *op = NULL; /* freed */
    return rc == VMUX_ERR_NOMEM ? rc : fail_op(ref, rc, why, op);
}

/* Encodes part into *out with its flags, deadline, slot and completion; 0 or why not. */
static int make_op(vmux *m, uint32_t flags, struct timing t, const struct vmux_part *part,
                   struct part_ref *ref, struct vmux_op **out)
{
    struct vmux_op *op;
    int rc = vmux__encode_op(part->argc, part->argv, part->argvlen, &op);
    if (rc != 0)
        return rc;
    if (op->flags & VMUX_OP_UNSHAREABLE) {
        vmux__op_free(op);
        return VMUX_ERR_UNSUPPORTED;
    }
    op->flags |= flags;
    op->timeout_ms = t.timeout_ms;
    op->deadline_ns = t.deadline_ns; /* fixed: submission keeps it (mux/submit.c set_deadline()) */
    op->cb = part_done;
    op->userdata = ref;
    *out = op;
    if (part->slot == VMUX_OP_SLOT_UNSET)
        return route_part(m, part, ref, out);
    op->slot = part->slot; /* computed by the caller, who split the keys by it */
    if (op->slot >= 0 && vmux__router_readonly_argv(part->argc, part->argv, part->argvlen))
        op->flags |= VMUX_OP_READONLY; /* an MGET part, say: readFrom may send it to a replica */
    return 0;
}

/* The encoded bytes of parts[0..n) in *bytes, from their arguments' lengths alone: 0 or why not. */
static int batch_bytes(const struct vmux_part *parts, size_t n, size_t *bytes)
{
    *bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t size;
        int rc = vmux__encoded_size(parts[i].argc, parts[i].argv, parts[i].argvlen, &size);
        if (rc != 0)
            return rc;
        if (size > SIZE_MAX - *bytes)
            return VMUX_ERR_NOMEM;
        *bytes += size;
    }
    return 0;
}

/*
 * Makes every part's op into ops (n), or none: 0 or the first part's error. The batch's
 * reservation (n ops of bytes, vmux__reserve_n()) passes to the ops as they are made; what no op
 * carries (a failed part's control op, or everything not made after an error) is given back.
 */
static int make_ops(vmux *m, uint32_t flags, struct timing t, const struct vmux_part *parts,
                    size_t n, size_t bytes, struct batch *b, struct vmux_op **ops)
{
    size_t held = n, made = 0;
    int rc = 0;
    for (; made < n; made++) {
        rc = make_op(m, flags, t, &parts[made], &b->refs[made], &ops[made]);
        if (rc != 0)
            break;
        if (!(ops[made]->flags & VMUX_OP_CONTROL)) {
            VMUX_ASSERT(ops[made]->len <= bytes); /* the size batch_bytes() counted */
            vmux__reserved(m, ops[made]);
            bytes -= ops[made]->len;
            held--;
        }
    }
    if (rc != 0) {
        while (made-- > 0)
            vmux__op_free(ops[made]); /* gives back its share, if it carries one */
    }
    if (held > 0)
        vmux__unreserve_n(m, held, bytes);
    return rc;
}

/*
 * Admits the batch at the door, whole or not at all, before a byte of it is copied: refusing a
 * batch over maxPending or maxPendingBytes costs what refusing a GET does, however large its
 * values (docs/reliability.md, Overload). 0 with *bytes reserved, or why not.
 */
static int at_door(vmux *m, const struct vmux_part *parts, size_t n, size_t *bytes)
{
    int rc = batch_bytes(parts, n, bytes);
    return rc != 0 ? rc : vmux__reserve_n(m, n, *bytes);
}

/*
 * Makes the batch's ops and submits them (the caller holds m): 0, with *ops (the caller frees
 * the array, not the ops) and *reader (the link whose replies the caller reads itself, or
 * NULL), or why not, with nothing left to free.
 */
static int place_batch(vmux *m, const vmux_callopts *opts, const struct vmux_part *parts, size_t n,
                       bool sync, uint64_t start_ns, vmux__batch_cb cb, void *userdata,
                       struct vmux_op ***ops, struct vmux_link **reader)
{
    vmux_callopts o;
    size_t bytes = 0;
    if (parts == NULL || n == 0 || cb == NULL)
        return VMUX_ERR_INVALID_ARG;
    if (vmux__forked(m))
        return VMUX_ERR_FORKED; /* before any allocation: see vmux__forked() */
    int rc = vmux__callopts_read(opts, VMUX__CALL_FLAGS_KNOWN, &o);
    if (rc == 0)
        rc = at_door(m, parts, n, &bytes);
    if (rc == VMUX_ERR_BACKLOG_FULL) /* which bound, and the batch's size against it */
        vmux__door_why(m, n, bytes, o.errbuf, o.errlen);
    if (rc != 0)
        return rc;
    struct batch *b = batch_new(n, cb, userdata);
    /* Not in the batch: the last part may free it while vmux__submit_all() still walks ops. */
    *ops = b != NULL ? malloc(n * sizeof **ops) : NULL;
    if (*ops == NULL) {
        vmux__unreserve_n(m, n, bytes);
        rc = VMUX_ERR_NOMEM;
    } else {
        rc = make_ops(m, op_flags(&o), timing_for(m, &o, sync, start_ns), parts, n, bytes, b, *ops);
    }
    if (rc == 0 && !sync) {
        b->held = &m->ctr;
        vmux__counters_call_held(b->held); /* before a part can complete */
    }
    if (rc == 0) /* takes the ops; accepted, b is theirs */
        rc = sync ? vmux__submit_sync_all(m, *ops, n, reader) : vmux__submit_all(m, *ops, n);
    if (rc != 0 && b != NULL && b->held != NULL)
        vmux__counters_call_done(b->held);
    if (rc != 0)
        free(b);
    return rc;
}

/*
 * Submits the batch from a caller that holds m (vmux__hold()), and lets go of m once the ops are
 * handed over: a synchronous caller's waiter count is given back here when they are refused.
 * Then, if the lane lent the caller its reading, reads the replies.
 */
static int submit_batch(vmux *m, const vmux_callopts *opts, const struct vmux_part *parts, size_t n,
                        bool sync, uint64_t start_ns, vmux__batch_cb cb, void *userdata)
{
    struct vmux_op **ops = NULL;
    struct vmux_link *reader = NULL;
    int rc = place_batch(m, opts, parts, n, sync, start_ns, cb, userdata, &ops, &reader);
    if (rc != 0 && sync)
        atomic_fetch_sub_explicit(&m->sync_waiting, 1, memory_order_relaxed);
    vmux__leave(m);
    if (reader != NULL)
        vmux__lane_read_all(reader, ops, n); /* the caller reads its own replies */
    free(ops);
    return rc;
}

int vmux__batch_async(vmux *m, const vmux_callopts *opts, const struct vmux_part *parts, size_t n,
                      uint64_t start_ns, vmux__batch_cb cb, void *userdata)
{
    if (m == NULL)
        return VMUX_ERR_INVALID_ARG;
    if (!vmux__hold(m))
        return VMUX_ERR_CLOSED;
    return vmux__batch_async_held(m, opts, parts, n, start_ns, cb, userdata);
}

int vmux__batch_async_held(vmux *m, const vmux_callopts *opts, const struct vmux_part *parts,
                           size_t n, uint64_t start_ns, vmux__batch_cb cb, void *userdata)
{
    return submit_batch(m, opts, parts, n, false, start_ns, cb, userdata);
}

/* A synchronous caller of vmux__batch_call(), waiting on its own stack. */
struct batch_wait {
    atomic_int state; /* core/wait.h */
    struct vmux_part_result *out;
    vmux *m; /* whose sync_waiting count the completion gives back (the direct lane's rule) */
};

static void batch_wait_done(size_t n, struct vmux_part_result *results, void *userdata)
{
    struct batch_wait *w = userdata;
    memcpy(w->out, results, n * sizeof *results);
    atomic_fetch_sub_explicit(&w->m->sync_waiting, 1, memory_order_relaxed);
    vmux__wait_wake(&w->state); /* the caller may return from here on */
}

int vmux__batch_call(vmux *m, const vmux_callopts *opts, const struct vmux_part *parts, size_t n,
                     uint64_t start_ns, struct vmux_part_result *results)
{
    if (m == NULL || results == NULL)
        return VMUX_ERR_INVALID_ARG;
    if (!vmux__hold(m))
        return VMUX_ERR_CLOSED;
    return vmux__batch_call_held(m, opts, parts, n, start_ns, results);
}

int vmux__batch_call_held(vmux *m, const vmux_callopts *opts, const struct vmux_part *parts,
                          size_t n, uint64_t start_ns, struct vmux_part_result *results)
{
    /* Not forked first: a child forked from a callback runs on the I/O thread's id. */
    if (results == NULL || (!vmux__forked(m) && vmux__on_io_thread(m))) {
        vmux__leave(m);
        return VMUX_ERR_INVALID_ARG;
    }
    struct batch_wait w = {.state = VMUX_WAIT_IDLE, .out = results, .m = m};
    int cancel = vmux__nocancel();
    atomic_fetch_add_explicit(&m->sync_waiting, 1, memory_order_relaxed);
    int rc = submit_batch(m, opts, parts, n, true, start_ns, batch_wait_done, &w); /* lets go */
    if (rc == 0)
        vmux__wait_sleep(&w.state); /* at once when the caller read the replies itself */
    vmux__cancel_restore(cancel);
    return rc;
}

void vmux__batch_opts_why(const vmux_callopts *opts)
{
    vmux_callopts o;
    if (opts != NULL && vmux__callopts_read(opts, VMUX__CALL_FLAGS_KNOWN, &o) != 0)
        vmux__callopts_why(&o, VMUX__CALL_FLAGS_KNOWN, o.errbuf, o.errlen);
}

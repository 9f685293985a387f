/*
 * The submit path: any thread → queue → I/O thread → deadline index → link.
 *
 * A submitter holds qlock only to append and, for the first op of a batch, to wake the loop;
 * uv_async_send coalesces, so a burst of commands from many threads costs one wake-up and one
 * drain. The wake-up is sent under the lock so that it can never reach a handle the I/O thread
 * has already closed: the I/O thread closes it only after it has seen `closing` under the lock.
 */
#include "mux/mux.h"

#include "vmux/error.h"

static void arm_deadline_timer(vmux *m);

static void on_deadline_timer(uv_timer_t *t)
{
    vmux *m = t->data;
    m->timer_due_ns = UINT64_MAX;
    uint64_t now = uv_hrtime();
    struct vmux_op *op;
    while ((op = vmux_deadlines_expired(&m->deadlines, now)) != NULL)
        vmux_op_complete(op, VMUX_ERR_TIMEOUT, NULL); /* its container frees it later */
    arm_deadline_timer(m);
}

static void arm_deadline_timer(vmux *m)
{
    uint64_t next = vmux_deadlines_next(&m->deadlines);
    if (next == UINT64_MAX) {
        uv_timer_stop(&m->deadline_timer);
        m->timer_due_ns = UINT64_MAX;
        return;
    }
    if (next >= m->timer_due_ns)
        return;
    uint64_t now = uv_hrtime();
    uint64_t ms = next > now ? (next - now + 999999) / 1000000 : 0;
    m->timer_due_ns = next;
    uv_timer_start(&m->deadline_timer, on_deadline_timer, ms, 0);
}

void vmux_route(vmux *m, struct vmux_op *op)
{
    if (op->flags & VMUX_OP_CONTROL) {
        vmux_run_control(m, op);
        return;
    }
    op->ctr = &m->ctr;
    vmux_count(&m->ctr.submitted, 1);
    if (vmux_deadlines_add(&m->deadlines, op) != 0) {
        vmux_op_complete(op, VMUX_ERR_NOMEM, NULL);
        vmux_op_free(op);
        return;
    }
    if (op->deadline_ns < m->timer_due_ns)
        arm_deadline_timer(m);
    if (op->flags & VMUX_OP_BLOCKING)
        vmux_pool_submit(&m->pool, op);
    else
        vmux_link_submit(m->link, op);
}

static void set_deadline(struct vmux_op *op, uint64_t now_ns)
{
    op->deadline_ns = now_ns + (uint64_t)op->timeout_ms * 1000000u;
}

int vmux_submit(vmux *m, struct vmux_op *op)
{
    if (vmux_on_io_thread(m)) {
        /* From a callback: route at once; the link's flush writes it this loop turn. */
        if (m->io_closing)
            return VMUX_ERR_CLOSED;
        /* The loop's clock, read once per turn, is close enough here and costs nothing. */
        set_deadline(op, uv_now(&m->loop) * 1000000u);
        vmux_route(m, op);
        return 0;
    }
    uv_mutex_lock(&m->qlock);
    if (m->closing) {
        uv_mutex_unlock(&m->qlock);
        return VMUX_ERR_CLOSED;
    }
    set_deadline(op, uv_hrtime());
    bool first = m->queue.head == NULL;
    vmux_opq_push(&m->queue, op);
    if (first)
        uv_async_send(&m->wakeup);
    uv_mutex_unlock(&m->qlock);
    return 0;
}

void vmux_drain_queue(vmux *m)
{
    uv_mutex_lock(&m->qlock);
    struct vmux_opq q = m->queue;
    m->queue.head = m->queue.tail = NULL;
    m->queue.count = 0;
    bool closing = m->closing;
    uv_mutex_unlock(&m->qlock);

    struct vmux_op *op;
    while ((op = vmux_opq_pop(&q)) != NULL) {
        if (m->io_closing) {
            vmux_op_complete(op, VMUX_ERR_CLOSED, NULL);
            vmux_op_free(op);
        } else {
            vmux_route(m, op);
        }
    }
    if (closing && !m->io_closing)
        vmux_shutdown(m);
}

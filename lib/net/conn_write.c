/*
 * A connection's writing: ops and raw bytes queue in its output buffer, and the flush turn (a
 * prepare handle, once per loop turn) hands them to the socket, through TLS when there is TLS;
 * what the socket does not take at once goes to a uv_write.
 */
#include "core/counters.h"
#include "net/link_internal.h"
#include "vmux/error.h"

static void conn_flush(struct vmux_conn *c);

static void on_written(uv_write_t *req, int status)
{
    struct vmux_conn *c = req->data;
    if (c->failing) {
        /* Ended: its link may be gone already (a write cancelled while the handle closes), and
         * the lane is not this connection's any more. */
        c->write_pending = false;
        vmux__buf_drained(&c->writing);
        return;
    }
    vmux__lane_shut(c->link);
    c->write_pending = false;
    vmux__buf_drained(&c->writing);
    if (status < 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "write failed: %s", uv_strerror(status));
        return;
    }
    conn_flush(c);
    vmux__lane_open(c->link);
}

/* Hands what the socket did not take at once to uv_write; new bytes then queue elsewhere. */
static void conn_write_rest(struct vmux_conn *c, struct vmux_buf *wire)
{
    struct vmux_buf spare = c->writing;
    c->writing = *wire;
    *wire = spare;
    size_t rest = c->writing.len - c->writing.off;
    uv_buf_t b = uv_buf_init(c->writing.data + c->writing.off, (unsigned)rest);
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc < 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "write failed: %s", uv_strerror(rc));
        return;
    }
    if (c->tls == NULL)
        c->flushed += rest; /* from here on these bytes may reach the server */
    vmux__count(&c->link->ctr->bytes_out, rest);
    c->write_pending = true;
}

/* TLS: encrypts the queued commands into the ciphertext buffer. Returns false on failure. */
static bool conn_encrypt(struct vmux_conn *c)
{
    char why[160];
    size_t n = c->out.len - c->out.off;
    if (n > 0) {
        int rc = vmux__tls_write(c->tls, c->out.data + c->out.off, n, why, sizeof(why));
        if (rc != 0) {
            vmux__conn_fail(c, rc, "%s", why);
            return false;
        }
        c->flushed += n;
        vmux__buf_drained(&c->out);
    }
    if (vmux__tls_take_output(c->tls, &c->cipher) != 0) {
        vmux__conn_fail(c, VMUX_ERR_NOMEM, "out of memory for TLS output");
        return false;
    }
    return true;
}

static void conn_flush(struct vmux_conn *c)
{
    if (c->failing || c->write_pending)
        return;
    struct vmux_buf *wire = &c->out;
    if (c->tls != NULL) {
        if (!conn_encrypt(c))
            return;
        wire = &c->cipher;
    }
    if (wire->len == wire->off)
        return;
    uv_buf_t b = uv_buf_init(wire->data + wire->off, (unsigned)(wire->len - wire->off));
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "write failed: %s", uv_strerror(n));
        return;
    }
    if (c->tls == NULL)
        c->flushed += (uint64_t)n;
    vmux__count(&c->link->ctr->bytes_out, (uint64_t)n);
    wire->off += (size_t)n;
    if (wire->off == wire->len)
        vmux__buf_drained(wire);
    else
        conn_write_rest(c, wire);
}

static void on_flush_turn(uv_prepare_t *p)
{
    struct vmux_conn *c = p->data;
    struct vmux_link *link = c->link;
    uv_prepare_stop(p);
    vmux__lane_enter(link);
    c->flush_armed = false;
    if (c->read_error != 0) {
        vmux__conn_fail(c, VMUX_ERR_IO, "cannot read: %s", uv_strerror(c->read_error));
    } else {
        if (c->lane_parse) { /* what a caller reading through the direct lane left (lane.c) */
            c->lane_parse = false;
            vmux__conn_parse(c); /* may complete the setup, whose ready opens the lane */
        }
        conn_flush(c);
    }
    vmux__lane_leave(link);
}

void vmux__conn_arm_flush(struct vmux_conn *c)
{
    if (!c->flush_armed && !c->failing) {
        c->flush_armed = true;
        uv_prepare_start(&c->flusher, on_flush_turn);
    }
}

int vmux__conn_write_raw(struct vmux_conn *c, const char *bytes, size_t len)
{
    vmux__lane_shut(c->link);
    int rc = vmux__buf_append(&c->out, bytes, len);
    if (rc != 0)
        return rc;
    c->queued += len;
    c->last_io = uv_now(c->link->loop);
    vmux__conn_arm_flush(c);
    return 0;
}

/* Ends an op the connection took and cannot keep (see vmux__conn_write_op()). */
static void conn_drop_op(struct vmux_op *op, int status)
{
    if (op->flags & VMUX_OP_INTERNAL)
        vmux__op_free(op); /* the connection's own: no callback, and its caller fails the conn */
    else
        vmux__op_finish(op, status, NULL);
}

int vmux__conn_write_op(struct vmux_conn *c, struct vmux_op *op)
{
    vmux__lane_shut(c->link);
    if ((op->flags & VMUX_OP_NEAR) && c->link->tracking.writing != NULL)
        c->link->tracking.writing(c->link, op, c->link->tracking.arg);
    int rc = vmux__buf_append(&c->out, op->cmd, op->len);
    if (rc != 0) {
        conn_drop_op(op, rc);
        return rc;
    }
    if (op->flags & VMUX_OP_SECRET)
        c->out.secret = c->sent_secret = true;
    c->last_io = uv_now(c->link->loop);
    if (c->fifo.head == NULL)
        c->waiting_since = c->last_io;
    op->wstart = c->queued;
    op->partial = 0; /* a block sent again is answered whole again */
    vmux_reply_free(op->first_error);
    op->first_error = NULL;
    if (op->refusal != NULL) { /* written again: it may run this time */
        vmux_reply_free(op->refusal);
        op->refusal = NULL;
    }
    c->queued += op->len;
    vmux__opq_push(&c->fifo, op);
    vmux__conn_arm_flush(c);
    return 0;
}

#include "core/op.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <stdlib.h>

#include "core/counters.h"
#include "core/deadline.h"
#include "vmux/error.h"

struct vmux_op *vmux_op_new(size_t len)
{
    struct vmux_op *op = malloc(sizeof(*op) + len);
    if (op == NULL)
        return NULL;
    op->next = op->dprev = op->dnext = NULL;
    op->dclass = NULL;
    op->deadline_ns = 0;
    op->timeout_ms = 0;
    op->flags = 0;
    op->done = false;
    op->wstart = 0;
    op->cb = NULL;
    op->userdata = NULL;
    op->ctr = NULL;
    op->nreplies = 1;
    op->first_error = NULL;
    op->len = len;
    return op;
}

void vmux_op_complete(struct vmux_op *op, int status, vmux_reply *reply)
{
    assert(!op->done);
    vmux_deadline_remove(op);
    op->done = true;
    if (op->ctr != NULL)
        vmux_count_completion(op->ctr, status);
    op->cb(status, reply, op->userdata);
}

void vmux_op_complete_reply(struct vmux_op *op, vmux_reply *reply)
{
    int status = vmux_reply_type(reply) == VMUX_REPLY_ERROR ? VMUX_ERR_SERVER : 0;
    vmux_op_complete(op, status, reply);
}

void vmux_op_free(struct vmux_op *op)
{
    vmux_reply_free(op->first_error);
    if (op->flags & VMUX_OP_SECRET)
        OPENSSL_cleanse(op->cmd, op->len); /* no password left in freed memory */
    free(op);
}

void vmux_opq_push(struct vmux_opq *q, struct vmux_op *op)
{
    op->next = NULL;
    if (q->tail != NULL)
        q->tail->next = op;
    else
        q->head = op;
    q->tail = op;
    q->count++;
}

struct vmux_op *vmux_opq_pop(struct vmux_opq *q)
{
    struct vmux_op *op = q->head;
    if (op == NULL)
        return NULL;
    q->head = op->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->count--;
    op->next = NULL;
    return op;
}

void vmux_opq_prepend(struct vmux_opq *dst, struct vmux_opq *src)
{
    if (src->head == NULL)
        return;
    src->tail->next = dst->head;
    if (dst->tail == NULL)
        dst->tail = src->tail;
    dst->head = src->head;
    dst->count += src->count;
    src->head = src->tail = NULL;
    src->count = 0;
}

void vmux_opq_append(struct vmux_opq *dst, struct vmux_opq *src)
{
    if (src->head == NULL)
        return;
    if (dst->tail != NULL)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->count += src->count;
    src->head = src->tail = NULL;
    src->count = 0;
}

void vmux_opq_fail_all(struct vmux_opq *q, int status)
{
    /* Detach first: a completion may submit new ops, which must not join this walk. */
    struct vmux_opq pending = *q;
    q->head = q->tail = NULL;
    q->count = 0;
    struct vmux_op *op;
    while ((op = vmux_opq_pop(&pending)) != NULL) {
        if (!op->done)
            vmux_op_complete(op, status, NULL);
        vmux_op_free(op);
    }
}

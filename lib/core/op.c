/*
 * The op and its queue (core/op.h): making, completing and freeing an op, and moving it between
 * queues. What an op that fails on its way says, and its expiry, are core/op_words.c's.
 */
#include "core/op.h"

#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/bigmem.h"
#include "core/counters.h"
#include "core/deadline.h"
#include "core/why.h"
#include "vmux/error.h"

struct vmux_op *vmux__op_new(size_t len)
{
    size_t size = sizeof(struct vmux_op) + len;
    struct vmux_op *op = len >= VMUX_BIGMEM_MIN ? vmux__bigmem_alloc(size) : malloc(size);
    if (op == NULL)
        return NULL;
    *op = (struct vmux_op){.nreplies = 1, .slot = VMUX_OP_SLOT_UNSET, .len = len};
    return op;
}

/*
 * Marks op done with status, counted as counted_as would be (vmux__count_completion()), before
 * its callback: returns the reply that callback gets.
 */
static vmux_reply *op_settle(struct vmux_op *op, int status, int counted_as, vmux_reply *reply)
{
    VMUX_ASSERT(!op->done);
    VMUX_ASSERT(op->cb != NULL); /* a connection's own op is never completed, only freed */
    vmux__deadline_remove(op);
    op->done = true;
    if (status != 0 && (op->flags & VMUX_OP_WORDS))
        reply = vmux__why_completion(status, reply);
    if (op->ctr != NULL)
        vmux__count_completion(op->ctr, counted_as);
    return reply;
}

/* Completes op with status, counted as counted_as would be (op_settle()). */
static void op_complete(struct vmux_op *op, int status, int counted_as, vmux_reply *reply)
{
    reply = op_settle(op, status, counted_as, reply);
    op->cb(status, reply, op->userdata);
    /* Last: the pool may close the link that ran op, which frees it if it is a husk there. */
    if (op->flags & VMUX_OP_POOLED)
        op->job->done(op->job, status);
}

void vmux__op_complete(struct vmux_op *op, int status, vmux_reply *reply)
{
    op_complete(op, status, status, reply);
}

void vmux__op_complete_refused(struct vmux_op *op, vmux_reply *why)
{
    op_complete(op, VMUX_ERR_PROTOCOL, 0, why); /* a reply came: counted as replied */
}

/* Lets go of what op holds besides its memory (vmux__op_free()). */
static void op_release(struct vmux_op *op)
{
    VMUX_ASSERT(op->q == NULL && op->dclass == NULL && !(op->flags & VMUX_OP_LENT));
    vmux_reply_free(op->first_error);
    vmux_reply_free(op->refusal);
    if (op->flags & VMUX_OP_SECRET)
        OPENSSL_cleanse(op->cmd, op->len); /* no password left in freed memory */
    if (op->flags & VMUX_OP_ADMITTED)
        vmux__counters_release(op->ctr, op->len);
}

/* Frees op's memory (vmux__op_new()). */
static void op_free_memory(struct vmux_op *op)
{
    if (op->len >= VMUX_BIGMEM_MIN)
        vmux__bigmem_free(op);
    else
        free(op);
}

struct vmux_op *vmux__op_splice(struct vmux_op *op, size_t at, size_t cut, const char *with,
                                size_t n)
{
    VMUX_ASSERT(op->q == NULL && !(op->flags & VMUX_OP_LENT) && at + cut <= op->len);
    size_t len = op->len - cut + n;
    struct vmux_op *re = vmux__op_new(len);
    if (re == NULL)
        return NULL;
    memcpy(re, op, offsetof(struct vmux_op, cmd));
    re->len = len;
    memcpy(re->cmd, op->cmd, at);
    memcpy(re->cmd + at, with, n);
    memcpy(re->cmd + at + n, op->cmd + at + cut, op->len - at - cut);
    vmux__deadline_moved(re);
    if (op->flags & VMUX_OP_ADMITTED)
        vmux__counters_resize(op->ctr, op->len, len);
    if (op->flags & VMUX_OP_SECRET)
        OPENSSL_cleanse(op->cmd, op->len);
    op_free_memory(op);
    return re;
}

void vmux__op_free_back(struct vmux_op *op)
{
    op_free_memory(op);
}

/*
 * Completes a VMUX_OP_HANDBACK op and gives it back to its caller (struct vmux_op_back) instead
 * of freeing it: op is let go of before its callback, which wakes the caller, and not touched
 * after it.
 */
static void finish_back(struct vmux_op *op, int status, vmux_reply *reply)
{
    reply = op_settle(op, status, status, reply);
    vmux_reply_cb cb = op->cb;
    struct vmux_op_back *back = op->userdata;
    op_release(op);
    back->op = op;
    cb(status, reply, back); /* the caller may free op from here on */
}

void vmux__op_finish(struct vmux_op *op, int status, vmux_reply *reply)
{
    if ((op->flags & (VMUX_OP_HANDBACK | VMUX_OP_POOLED)) == VMUX_OP_HANDBACK) {
        finish_back(op, status, reply);
        return;
    }
    vmux__op_complete(op, status, reply);
    vmux__op_free(op);
}

void vmux__op_finish_reply(struct vmux_op *op, vmux_reply *reply)
{
    int status = vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR ? VMUX_ERR_SERVER : 0;
    vmux__op_finish(op, status, reply);
}

void vmux__op_free(struct vmux_op *op)
{
    op_release(op);
    op_free_memory(op);
}

void vmux__opq_push(struct vmux_opq *q, struct vmux_op *op)
{
    VMUX_ASSERT(op->q == NULL); /* one container at a time */
    op->next = NULL;
    op->prev = q->tail;
    if (q->tail != NULL)
        q->tail->next = op;
    else
        q->head = op;
    q->tail = op;
    q->count++;
    op->q = q;
}

void vmux__opq_remove(struct vmux_opq *q, struct vmux_op *op)
{
    VMUX_ASSERT(op->q == q && q->count > 0);
    VMUX_OP_UNLINK(q->head, q->tail, op, prev, next);
    q->count--;
    q->left++;
    op->q = NULL;
}

uint64_t vmux__opq_take_due(struct vmux_opq *q, uint32_t now, struct vmux_opq *due)
{
    struct vmux_op *op;
    while ((op = q->head) != NULL && (int32_t)(op->bounce.due_ms - now) <= 0) {
        vmux__opq_remove(q, op);
        vmux__opq_push(due, op);
    }
    return op != NULL ? (uint64_t)(int32_t)(op->bounce.due_ms - now) : UINT64_MAX;
}

struct vmux_op *vmux__opq_pop(struct vmux_opq *q)
{
    struct vmux_op *op = q->head;
    if (op != NULL)
        vmux__opq_remove(q, op);
    return op;
}

/* Makes n ops from `from` on name q as their queue: after a splice, O(ops moved). */
static void adopt(struct vmux_opq *q, struct vmux_op *from, size_t n)
{
    for (struct vmux_op *op = from; n > 0; op = op->next, n--)
        op->q = q;
}

void vmux__opq_prepend(struct vmux_opq *dst, struct vmux_opq *src)
{
    if (src->head == NULL)
        return;
    struct vmux_op *first = src->head;
    src->tail->next = dst->head;
    if (dst->head != NULL)
        dst->head->prev = src->tail;
    else
        dst->tail = src->tail;
    dst->head = first;
    dst->count += src->count;
    adopt(dst, first, src->count);
    src->left += src->count;
    src->head = src->tail = NULL;
    src->count = 0;
}

void vmux__opq_append(struct vmux_opq *dst, struct vmux_opq *src)
{
    if (src->head == NULL)
        return;
    struct vmux_op *first = src->head;
    first->prev = dst->tail;
    if (dst->tail != NULL)
        dst->tail->next = first;
    else
        dst->head = first;
    dst->tail = src->tail;
    dst->count += src->count;
    adopt(dst, first, src->count);
    src->left += src->count;
    src->head = src->tail = NULL;
    src->count = 0;
}

void vmux__opq_take(struct vmux_opq *dst, struct vmux_opq *src)
{
    VMUX_ASSERT(dst->head == NULL);
    vmux__opq_append(dst, src);
}

void vmux__opq_fail_all(struct vmux_opq *q, int status)
{
    /* Detach first: a completion may submit new ops, which must not join this walk. */
    struct vmux_opq pending = {0};
    vmux__opq_take(&pending, q);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&pending)) != NULL) {
        if (op->done)
            vmux__op_free(op); /* a husk */
        else
            vmux__op_finish(op, status, status == VMUX_ERR_CLOSED ? vmux__op_closed_why(op) : NULL);
    }
}

/*
 * An op is one command on its way through the multiplexer: encoded in the caller's thread,
 * queued, written on a link and completed exactly once. One allocation holds the op and its RESP
 * bytes.
 *
 * Ownership: at any moment exactly one container owns an op (the submit queue, a link's backlog,
 * or a connection's in-flight FIFO); the deadline list only indexes it. Completing an op does not
 * free it: an op completed early (timed out) stays in its container as a husk until its reply is
 * read and dropped, or the container is emptied.
 */
#ifndef VMUX_OP_H
#define VMUX_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/call.h"

struct vmux_deadline_class;

enum vmux_op_flags {
    VMUX_OP_INTERNAL = 1u << 0,     /* the connection's own command (setup, heartbeat, ROLE) */
    VMUX_OP_IGNORE_ERROR = 1u << 1, /* internal command whose error reply does not fail it */
    VMUX_OP_RETRY_SAFE = 1u << 2,   /* idempotent: may be sent again (VMUX_CALL_RETRY_SAFE) */
    VMUX_OP_RESENT = 1u << 3,       /* already sent again once after a broken connection */
    VMUX_OP_BLOCKING = 1u << 4,     /* blocks on the server: runs on a pool connection */
    VMUX_OP_TRUSTED = 1u << 5,      /* built by the library (MULTI...EXEC): not checked */
    VMUX_OP_CONTROL = 1u << 6,      /* no command: a function to run on the I/O thread */
    VMUX_OP_SECRET = 1u << 7,       /* carries credentials (AUTH, HELLO): wiped when freed */
};

struct vmux_counters;

struct vmux_op {
    struct vmux_op *next; /* in the owning queue, backlog or FIFO */

    /* deadline index */
    struct vmux_op *dprev, *dnext;
    struct vmux_deadline_class *dclass; /* NULL while not indexed */
    uint64_t deadline_ns;               /* uv_hrtime() clock */
    uint32_t timeout_ms;

    uint32_t flags;
    bool done;       /* completed; a reply still owed to it will be dropped */
    uint64_t wstart; /* the connection's byte offset where this op's bytes start */

    vmux_reply_cb cb; /* completion; runs exactly once */
    void *userdata;
    struct vmux_counters *ctr; /* where the completion is counted; NULL: not counted */

    uint32_t nreplies;       /* replies still expected: 1, or more for a MULTI ... EXEC block */
    vmux_reply *first_error; /* a block's first error reply before its last reply */

    size_t len; /* bytes in cmd */
    char cmd[];
};

/* A singly linked FIFO of ops. */
struct vmux_opq {
    struct vmux_op *head, *tail;
    size_t count;
};

/* Allocates an op with room for len command bytes. NULL when out of memory. */
struct vmux_op *vmux_op_new(size_t len);

/*
 * Completes an op once: takes it out of the deadline index, marks it done and runs its callback
 * with (status, reply). reply ownership passes to the callback. Completing a done op is a
 * programming error (asserted).
 */
void vmux_op_complete(struct vmux_op *op, int status, vmux_reply *reply);

/* Completes an op with the status a reply implies: VMUX_ERR_SERVER for error replies, else 0. */
void vmux_op_complete_reply(struct vmux_op *op, vmux_reply *reply);

/* Frees an op. The op must be out of every container and the deadline index. */
void vmux_op_free(struct vmux_op *op);

void vmux_opq_push(struct vmux_opq *q, struct vmux_op *op);
struct vmux_op *vmux_opq_pop(struct vmux_opq *q);
/* Empties q: live ops complete with status, husks (ops already done) are freed. */
void vmux_opq_fail_all(struct vmux_opq *q, int status);
/* Moves every op of src, in order, in front of dst's; src ends empty. */
void vmux_opq_prepend(struct vmux_opq *dst, struct vmux_opq *src);
/* Moves every op of src, in order, behind dst's; src ends empty. */
void vmux_opq_append(struct vmux_opq *dst, struct vmux_opq *src);

#endif

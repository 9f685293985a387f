/*
 * An op is one command on its way through the multiplexer: encoded in the caller's thread,
 * queued, written on a link and completed exactly once. One allocation holds the op and its RESP
 * bytes.
 *
 * Ownership, one rule: whoever is handed an op owns it from that call on. A function that takes
 * an op (vmux__submit(), vmux__submit_sync(), vmux__route(), vmux__link_submit(),
 * vmux__pool_submit(), vmux__conn_write_op(), vmux__call_prepared()...) either refuses it before
 * accepting it, frees it and returns the error, and then its callback never runs; or accepts it,
 * and then completes it exactly once and frees it (vmux__op_finish()), or hands it on to the next
 * owner. Whoever handed an op over never touches it again. The one exception says so where it is
 * declared: the direct lane's vmux__lane_write() is a try, and gives the op back when it returns an
 * error. A synchronous caller's op (VMUX_OP_HANDBACK) is finished by being given back to that
 * caller, who frees its memory (struct vmux_op_back).
 *
 * At any moment one container holds an op (the submit queue, the inbox, a link's backlog, retry
 * or READONLY queue, the pool's waiting queue, a connection's in-flight FIFO, or a local list
 * while ops move between them); op->q names it, so an op leaves in O(1). The deadline index only
 * indexes it. Completing an op does not free it. A husk (an op completed early, by its deadline)
 * exists only in a queue that owes it a reply (keeps_husks: a connection's FIFO), where it waits
 * for its late reply to be read and dropped; an op that times out anywhere else leaves its queue
 * and is freed at once (vmux__op_expire), so what the handle holds is always bounded by what it
 * admitted (counters.h). These rules are asserted (VMUX_ASSERT, core/assert.h) where they apply.
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
    VMUX_OP_ADMITTED = 1u << 8,     /* counted in op->ctr's pending gauges until freed */
    VMUX_OP_UNSHAREABLE = 1u << 9,  /* may not share a connection (core/shareable.h) */
    VMUX_OP_POOLED = 1u << 10,      /* runs on a blocking-pool link: op->job is set */
    VMUX_OP_DIRECT = 1u << 11,      /* written by its caller (net/lane.c), not yet adopted */
    VMUX_OP_ASKING = 1u << 12,      /* a pooled op redirected by ASK: ASKING goes first */
    VMUX_OP_PINNED = 1u << 13,      /* for one chosen node (mux/fanout.c): never redirected */
    VMUX_OP_READONLY = 1u << 14,    /* reads only, with a key: readFrom may send it to a replica */
    VMUX_OP_TO_PRIMARY = 1u << 15,  /* VMUX_CALL_PRIMARY, or a replica redirected it: primary */
    VMUX_OP_TO_REPLICA = 1u << 16,  /* VMUX_CALL_REPLICA: a replica, whatever readFrom says */
    VMUX_OP_NEAR = 1u << 17,        /* a near cache's tracked read: op->near is set */
    VMUX_OP_TELL_UNSENT = 1u << 18, /* times out unwritten as NOT_CONNECTED (call.h) */
    VMUX_OP_ASKED = 1u << 19,       /* sent where an ASK pointed: a resend there needs ASKING */
    VMUX_OP_TELL_WHY = 1u << 20,    /* failing unsent or lost, it hears why (vmux__op_why()) */
    VMUX_OP_LENT = 1u << 21,        /* a connection writes from its cmd (net/conn_write.c) */
    VMUX_OP_WORDS = 1u << 22, /* an async caller's: its failure's words for vmux_last_error() */
    /* the library's own command (setup, heartbeat, ROLE, INFO, CLUSTER SLOTS...): its reply is
     * read under the default limits, not the user's maxBulkLength... (net/conn_read.c) */
    VMUX_OP_OWN = 1u << 23,
    VMUX_OP_PREFER_REPLICA = 1u << 24, /* VMUX_CALL_PREFER_REPLICA: a replica, else the primary */
    /* a blocking XREAD with a "$" id (core/shareable.h): it waits from the moment it blocks, so
     * once written it is never sent again (a broken connection, UNBLOCKED, MOVED, CLUSTERDOWN),
     * which would wait from a later moment and skip the entries added in between (an ASK,
     * which never ends a block, is followed) */
    VMUX_OP_FROM_NOW = 1u << 25,
    /* a blocking op sent again after what ended or refused its block: a failover's UNBLOCKED,
     * another "not now" (LOADING, TRYAGAIN, MASTERDOWN, CLUSTERDOWN), a redirect (MOVED; ASK
     * with VMUX_OP_ASKED); op->again_left_ms is set (vmux__op_sent_again()) */
    VMUX_OP_AGAIN_UNBLOCKED = 1u << 26,
    VMUX_OP_AGAIN_REFUSED = 1u << 27,
    VMUX_OP_AGAIN_REDIRECTED = 1u << 28,
    /* a synchronous caller's op (mux/call.c): vmux__op_finish() gives its memory back to the
     * caller (struct vmux_op_back) instead of freeing it, so that the thread that allocated it
     * frees it, and the allocator's cache of that thread serves the caller's next op */
    VMUX_OP_HANDBACK = 1u << 29,
    /* a blocking op sent again whose block argument was cut to what was left of its block time
     * (vmux__op_shorten_block()): op->again_left_ms is what its deadline had left then */
    VMUX_OP_BLOCK_SHORTENED = 1u << 30,
    /* its command is SPUBLISH (any case), as the encoder's classifier read its name
     * (core/shareable.h): a reply of 0 receivers is a hint for a cluster's map (net/conn_read.c) */
    VMUX_OP_SPUBLISH = 1u << 31,
};

/*
 * Where vmux__op_finish() gives a VMUX_OP_HANDBACK op back: the first member of that op's
 * userdata. Set before the op's callback runs, which is the last the completing thread does with
 * the op; the caller, woken by that callback, then frees it (vmux__op_free_back()). Left NULL when
 * the op ended otherwise (a husk, a pooled op): its owner frees it as any other.
 */
struct vmux_op_back {
    struct vmux_op *op;
};

/* op->slot before the router computed it (route/router.h). */
#define VMUX_OP_SLOT_UNSET (-2)
/* op->slot of a command the key table does not know: a node is asked (COMMAND GETKEYS). */
#define VMUX_OP_SLOT_ASK (-3)
/* op->slot of a PUBLISH in cluster mode: keyless, run where the handle's channel subscriptions
 * are when it has any (mux/pubsub_place.c), so that its count of receivers includes them. */
#define VMUX_OP_SLOT_PUBLISH (-4)

/*
 * What the blocking pool keeps about an op it runs (net/pool.c). done() runs once, after the
 * op's callback, so that the link that ran the op can take the next one; it frees the job.
 */
struct vmux_op_job {
    void (*done)(struct vmux_op_job *job, int status);
};

struct vmux_counters;

struct vmux_opq;

struct vmux_op {
    struct vmux_op *next, *prev; /* in the owning queue, backlog or FIFO */
    struct vmux_opq *q;          /* that queue; NULL in none */

    /* deadline index */
    struct vmux_op *dprev, *dnext;
    struct vmux_deadline_class *dclass; /* NULL while not indexed */
    uint64_t deadline_ns;               /* uv_hrtime() clock */
    uint32_t timeout_ms;

    uint32_t flags;
    int32_t slot;      /* cluster: its keys' slot, -1 keyless, VMUX_OP_SLOT_UNSET not computed */
    uint8_t redirects; /* cluster: MOVED and ASK replies followed so far */
    uint8_t retries;   /* LOADING, TRYAGAIN... so far, up to 255: its backoff, its words */
    bool done;         /* completed; a reply still owed to it will be dropped */
    uint8_t expect;    /* the library's own command: its reply kinds (core/expect.h); 0 any */
    /* cluster: 1 + the router id of the node that redirected it last, 0 none (route/follow.c) */
    uint32_t redirector;
    /* VMUX_OP_AGAIN_...: the ms of its deadline left when it was sent again last (in what was
     * padding: the op is no larger) */
    uint32_t again_left_ms;
    /* Told apart by where the op is: wstart in a connection's FIFO, bounce in the router's
     * queue of ops waiting out a MOVED ping-pong (route/bounce.c), bounce.due_ms in a
     * link's queue of refused ops waiting to go again (net/link.c), and bounce.to in the
     * router's queue of ops redirected to "?" (route/follow.c: the node that answered it). */
    union {
        uint64_t wstart; /* the connection's byte offset where this op's bytes start */
        struct {
            uint32_t due_ms; /* loop ms (low 32 bits) when it goes again */
            uint32_t to;     /* the id of the router node it goes to */
        } bounce;
    };

    vmux_reply_cb cb; /* completion; runs exactly once */
    void *userdata;
    struct vmux_counters *ctr; /* where the completion is counted; NULL: not counted */

    uint32_t nreplies;       /* replies its command gets: 1, or more for a MULTI ... EXEC block */
    uint32_t partial;        /* a block's replies read so far on the connection it was sent on */
    vmux_reply *first_error; /* a block's first error reply before its last reply */
    vmux_reply *refusal;     /* the last "not run, try again" reply (LOADING...) while retried */

    /* What some ops carry besides their command, told apart by their flags. */
    union {
        struct {
            int (*fn)(vmux *m, void *arg);
            void *arg;
        } control;               /* VMUX_OP_CONTROL: the function to run on the I/O thread */
        const char *label;       /* VMUX_OP_INTERNAL: which of the connection's own commands */
        struct vmux_op_job *job; /* VMUX_OP_POOLED: the pool's note about it */
        struct {
            uint64_t hash, id; /* its placeholder's token (core/near_store.h) */
            uint32_t node;     /* the store node it was reserved under */
        } near;                /* VMUX_OP_NEAR: checked as it is written (mux/near.h) */
    };

    size_t len; /* bytes in cmd (none in a control op) */
    char cmd[];
};

/*
 * Takes op out of a doubly linked list of ops (head, tail) that links it through its fields
 * prev and next: a queue's (prev, next) or a deadline class's (dprev, dnext). Clears both links.
 */
#define VMUX_OP_UNLINK(head, tail, op, prev, next)                                                 \
    do {                                                                                           \
        if ((op)->prev != NULL)                                                                    \
            (op)->prev->next = (op)->next;                                                         \
        else                                                                                       \
            (head) = (op)->next;                                                                   \
        if ((op)->next != NULL)                                                                    \
            (op)->next->prev = (op)->prev;                                                         \
        else                                                                                       \
            (tail) = (op)->prev;                                                                   \
        (op)->prev = (op)->next = NULL;                                                            \
    } while (0)

/* A FIFO of ops, doubly linked so that an op can leave it from anywhere. */
struct vmux_opq {
    struct vmux_op *head, *tail;
    size_t count;
    /* Live ops that left it so far (removed, moved out, or timed out into husks): while it has
     * not grown, every live op a walk found is still there (route/fence.c, through
     * vmux__link_left()). Never reset. */
    uint64_t left;
    /* ops here are owed replies (a connection's FIFO; r->keys_wait: an answer about them): a
     * timed-out op stays until it comes */
    bool keeps_husks;
    /* ops refused READONLY wait here for the slot map to name another primary (a router's
     * r->demoted): their deadline's words say so; elsewhere (a link's backlog) they wait for a
     * connection to a primary (core/op_words.c) */
    bool by_map;
    /* A queue of ops waiting for a connection (a link's backlog): its link's last connection
     * failure while that link has no ready connection, else NULL. A connection's queue of
     * written ops: its host:port. I/O thread. NULL: none. */
    const char *(*why)(const struct vmux_opq *q);
    /* Told when its deadline takes op out of q (vmux__op_expire()), for a queue whose owner
     * counts what it holds (route/bounce.c). NULL: nobody. */
    void (*expired)(struct vmux_opq *q, const struct vmux_op *op);
    /* A router's queue where ops wait their turn, not a connection (route/waited.c): writes into
     * buf (len bytes) where op, expiring there, waited and for what ("waiting to be sent again
     * after MOVED from ..."), without its outcome (vmux__op_expire() adds it). Called only for an
     * op that asked for words (VMUX_OP_TELL_WHY), after q->expired. Such an op was never
     * written there, even in a queue that keeps husks (r->keys_wait, which waits for an answer
     * about it, not for its reply). I/O thread. NULL: none. */
    void (*waited)(const struct vmux_opq *q, const struct vmux_op *op, char *buf, size_t len);
};

/* Allocates an op with room for len command bytes. NULL when out of memory. */
struct vmux_op *vmux__op_new(size_t len);

/*
 * Frees the memory of an op that vmux__op_finish() gave back (struct vmux_op_back), which holds
 * nothing else by then. The caller's thread, after its wait ended.
 */
void vmux__op_free_back(struct vmux_op *op);

/*
 * Completes an op once: takes it out of the deadline index, marks it done and runs its callback
 * with (status, reply), then a pooled op's job. reply ownership passes to the callback; an op
 * that asked for words (VMUX_OP_WORDS) and failed has them written first (core/why.h), and its
 * callback gets only a reply it may see (call.h). Completing a done op is a programming error
 * (asserted).
 */
void vmux__op_complete(struct vmux_op *op, int status, vmux_reply *reply);

/*
 * vmux__op_complete() with VMUX_ERR_PROTOCOL for an op whose reply came but was refused over a
 * reply limit (core/reader.h): counted under replied, not connection_lost, as the connection
 * goes on. why: the words for its caller, or NULL. The op must not be done already.
 */
void vmux__op_complete_refused(struct vmux_op *op, vmux_reply *why);

/*
 * Completes an op and frees it: how the owner of an op outside every container ends it. The op
 * must not be done already. A VMUX_OP_HANDBACK op that is not pooled is not freed: what it holds
 * is let go of, and its memory given back to its caller (struct vmux_op_back) before its callback
 * runs; the op is not touched after that callback.
 */
void vmux__op_finish(struct vmux_op *op, int status, vmux_reply *reply);

/*
 * vmux__op_finish() with the status a reply implies: VMUX_ERR_SERVER for an error reply, else 0.
 */
void vmux__op_finish_reply(struct vmux_op *op, vmux_reply *reply);

/*
 * Frees an op, wiping a secret op's bytes and giving back what its admission took. The op must
 * be out of every container and the deadline index.
 */
void vmux__op_free(struct vmux_op *op);

/* ---- what an op that fails on its way says, and its expiry (op_words.c) ---- */

/*
 * Ends a VMUX_OP_FROM_NOW op that reply (the server's UNBLOCKED, MOVED or CLUSTERDOWN, an error
 * reply) ended once it was written, instead of sending it again: completes and frees it with
 * VMUX_ERR_SERVER and an error reply of the server's text followed by cause (static: what ended
 * it) and what to do ("... (a blocking XREAD from "$", unblocked by a failover, is not sent
 * again: ...; read on from the last ID you have)"); the server's reply as it is when memory runs
 * out. Takes reply. The op must not be done already, nor in a container. I/O thread.
 */
void vmux__op_finish_from_now(struct vmux_op *op, vmux_reply *reply, const char *cause);

/*
 * Notes that op, a blocking command with a deadline, goes again after a reply that ended or
 * refused its block (cause: one of VMUX_OP_AGAIN_UNBLOCKED, _REFUSED, _REDIRECTED; they add up)
 * at now_ns (uv_hrtime() clock), with only what is left of its deadline, and cuts its block
 * argument to what is left of its block time (vmux__op_shorten_block()), so that the server
 * answers before the deadline as it would have without the resend. Returns the op to send, which
 * is a new one when its bytes were rewritten (op is then freed: the caller must use the returned
 * one), op itself otherwise (out of memory: sent as it is, its block time whole, and its timeout's
 * words say so: vmux__op_expire()). Nothing for another op. op must be in no queue (it may be
 * indexed by its deadline). Off the common path: a refusal's or a redirect's. I/O thread.
 */
struct vmux_op *vmux__op_sent_again(struct vmux_op *op, uint32_t cause, uint64_t now_ns);
/*
 * As vmux__op_sent_again() without a cause: op, a blocking command that waited unsent (for a
 * connection of its node's blocking pool) while its deadline ran, gets its block argument cut so
 * that the server answers before that deadline (nil, or an element). The returned op's
 * again_left_ms is set only when its bytes were rewritten (a new op, VMUX_OP_BLOCK_SHORTENED).
 * Same rules for op and its return.
 */
struct vmux_op *vmux__op_block_to_deadline(struct vmux_op *op, uint64_t now_ns);

/*
 * Rewrites the block time argument of op, a blocking command (BLPOP, BRPOP, BRPOPLPUSH, BLMOVE,
 * BZPOPMIN, BZPOPMAX: the last argument; BLMPOP, BZMPOP: the first; seconds, a fraction allowed;
 * XREAD and XREADGROUP: BLOCK's, ms) to what is left of it: left_ms, what its deadline has left,
 * less its margin, base_ms less the block time its bytes hold (base_ms: what the deadline counted
 * when those bytes went: op->timeout_ms from the first send, op->again_left_ms after a
 * shortening). Rounded down to a ms, never below 1 ms (0 would block for ever: 1 ms lets the
 * server answer, nil or a pushed element, before the deadline, as it would have). Returns the new
 * op holding the new bytes (op freed; VMUX_OP_BLOCK_SHORTENED set), or op unchanged when nothing
 * is to cut (not less, block 0, a form it does not read: a sign, an exponent), or when memory runs
 * out. op must be in no queue. Off the common path. I/O thread.
 */
struct vmux_op *vmux__op_shorten_block(struct vmux_op *op, uint32_t base_ms, uint32_t left_ms);

/*
 * Replaces cut bytes of op's command at offset at with the n bytes of with, into a new op that
 * takes op's place everywhere it is (its deadline index links, its admission's byte count; op
 * must be in no queue and not lent to a connection); frees op and returns the new op, or NULL
 * (op untouched) when out of memory. I/O thread.
 */
struct vmux_op *vmux__op_splice(struct vmux_op *op, size_t at, size_t cut, const char *with,
                                size_t n);

/*
 * What an op that fails unsent, because its link has no ready connection (VMUX_ERR_TIMEOUT,
 * VMUX_ERR_NOT_CONNECTED, VMUX_ERR_BACKLOG_FULL), completes with for reply: an error reply
 * holding reason (the link's last connection failure, "host:port: cause", already redacted) when
 * op asked for it (VMUX_OP_TELL_WHY: a synchronous caller, who puts it in its error buffer and
 * frees it, or an async one, whose completion turns it into words for vmux_last_error() and
 * frees it: VMUX_OP_WORDS, core/why.h) and was never written (not VMUX_OP_RESENT); NULL
 * otherwise, or when reason is NULL or empty, or memory ran out. (A resent op that expires in
 * its backlog gets reason as a status reply instead: vmux__op_expire().) An async callback's reply
 * stays NULL for these codes (call.h). Called on the failure path only. Any thread.
 */
vmux_reply *vmux__op_why(const struct vmux_op *op, const char *reason);

/*
 * The code of an op whose deadline passed before it reached a connection: VMUX_ERR_NOT_CONNECTED
 * when it asked to be told (VMUX_OP_TELL_UNSENT) and was never written (not VMUX_OP_RESENT), else
 * VMUX_ERR_TIMEOUT (call.h, VMUX_CALL_TELL_UNSENT). Any thread.
 */
int vmux__op_unsent_timeout(const struct vmux_op *op);

/*
 * Completes an op whose deadline passed with VMUX_ERR_TIMEOUT, or, when it waits to be sent
 * again after a refusal (op->refusal: LOADING, TRYAGAIN...: it did not run), with
 * VMUX_ERR_SERVER and that reply, or, for a VMUX_OP_TELL_UNSENT op never written (outside a
 * connection's FIFO and not VMUX_OP_RESENT), with VMUX_ERR_NOT_CONNECTED; an op that fails
 * unsent in a queue that knows why (q->why) carries that reason (vmux__op_why()), and one in a
 * router's waiting queue (q->waited) where it waited and what that means for its outcome, as a
 * status reply (written and perhaps run when VMUX_OP_RESENT, else not executed); a written op
 * that expires unanswered names its connection's host:port (q->why), and a blocking one sent
 * again after what ended or refused its block (VMUX_OP_AGAIN_...) says that instead of "slow".
 * If its queue owes it no reply (a backlog, a wait queue), it leaves the queue and is freed; in a
 * connection's FIFO it stays as a husk, and so it does in a router's waiting queue that keeps
 * husks (r->keys_wait: never written, so VMUX_ERR_NOT_CONNECTED for a VMUX_OP_TELL_UNSENT op,
 * with its words). A refused op that takes words (VMUX_OP_TELL_WHY) gets the refusal's words with
 * how many times (op->retries) and how long (since its deadline began, to now_ns on uv_hrtime()'s
 * clock) it was refused, and "not executed". I/O thread.
 */
void vmux__op_expire(struct vmux_op *op, uint64_t now_ns);

/* ---- the op queue (op.c) ---- */

/* Appends op, which must be in no queue. */
void vmux__opq_push(struct vmux_opq *q, struct vmux_op *op);
struct vmux_op *vmux__opq_pop(struct vmux_opq *q);
/* Takes op out of q, wherever it stands. */
void vmux__opq_remove(struct vmux_opq *q, struct vmux_op *op);
/*
 * For a queue of ops waiting for a time (op->bounce.due_ms, loop ms, low 32 bits): moves the ops
 * due by now from its head to the end of *due, in their order, stopping at the first not due (an
 * op behind it waits for it: order first), and returns the ms until that head is due, UINT64_MAX
 * when the queue is empty.
 */
uint64_t vmux__opq_take_due(struct vmux_opq *q, uint32_t now, struct vmux_opq *due);
/*
 * Detaches a whole queue: moves all of src into dst (which must be empty, usually a local
 * queue), in order, each op naming dst; src ends empty. Walk dst, not src: a completion may push
 * new ops on src, which must not join the walk.
 */
void vmux__opq_take(struct vmux_opq *dst, struct vmux_opq *src);
/*
 * Empties q: live ops complete with status, husks (ops already done) are freed. With
 * VMUX_ERR_CLOSED, an op that takes words gets vmux__op_closed_why()'s (q is never a connection's
 * FIFO, so none was written there).
 */
void vmux__opq_fail_all(struct vmux_opq *q, int status);

/*
 * The words of op, failed VMUX_ERR_CLOSED by vmux_close() outside a connection's FIFO, as a status
 * reply (core/explain.c) the caller owns: one never written says "never sent", one written and
 * refused or redirected (op->refusal, op->redirects: not run) says it did not run. NULL (the
 * code's own "a command it had sent may have run") for one written before a connection broke
 * (VMUX_OP_RESENT), for a caller that takes no words (VMUX_OP_TELL_WHY), or without memory.
 * I/O thread (or the closing thread once the I/O thread has ended).
 */
vmux_reply *vmux__op_closed_why(const struct vmux_op *op);
/* Moves every op of src, in order, in front of dst's; src ends empty. */
void vmux__opq_prepend(struct vmux_opq *dst, struct vmux_opq *src);
/* Moves every op of src, in order, behind dst's; src ends empty. */
void vmux__opq_append(struct vmux_opq *dst, struct vmux_opq *src);

#endif

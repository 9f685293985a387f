/*
 * A link's replies that say "not executed, try again" (link_internal.h,
 * vmux__link_reply_rejected()): the server's "not now" (LOADING, MASTERDOWN, TRYAGAIN,
 * CLUSTERDOWN, a failover's UNBLOCKED; but for a blocking read from "$" answered UNBLOCKED or
 * CLUSTERDOWN) retried after a jittered
 * backoff on the same link, READONLY from a demoted
 * primary, a connection replaced because a redirect named it (vmux__link_replace_conn()), and the
 * ASKING an ASK's resend goes after. I/O thread.
 */
#include <stdint.h>

#include "core/assert.h"
#include "core/backoff.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/errclass.h"
#include "core/log.h"
#include "core/script_err.h"
#include "net/link_internal.h"
#include "vmux/error.h"

static void drop_reply(int status, vmux_reply *reply, void *arg)
{
    (void)status;
    (void)arg;
    vmux_reply_free(reply);
}

int vmux__link_asking(struct vmux_link *link)
{
    static const char *const argv[] = {"ASKING"};
    struct vmux_op *op;
    int rc = vmux__encode_op(1, argv, NULL, &op);
    if (rc != 0)
        return rc;
    op->cb = drop_reply;
    vmux__link_submit(link, op);
    return 0;
}

static void on_retry(uv_timer_t *t);

/*
 * The retry timer fires at most this often: each firing walks every waiting op, so thousands of
 * ops refused at once (a server loading its data) are resent in a few batches, not one walk per
 * op's own due millisecond. An op goes again up to this much after its backoff, never before.
 */
#define RETRY_TICK_MS 5u

/* Sets the retry timer for delay ms from now (RETRY_TICK_MS at least) unless it is set for
 * earlier already. */
static void arm_retry(struct vmux_link *link, uint64_t delay)
{
    if (delay < RETRY_TICK_MS)
        delay = RETRY_TICK_MS;
    uint64_t due = uv_now(link->loop) + delay;
    if (uv_is_active((uv_handle_t *)&link->retry_timer) && link->retry_due <= due)
        return;
    link->retry_due = due;
    uv_timer_start(&link->retry_timer, on_retry, delay, 0);
}

/* Sends op again on link: after ASKING when an ASK sent it here (see on_retry()). */
static void retry_now(struct vmux_link *link, struct vmux_op *op)
{
    VMUX_ASSERT(!op->done); /* timed out ones left the queue (vmux__op_expire) */
    vmux__count(&link->ctr->retried, 1);
    if (op->flags & VMUX_OP_BLOCKING) /* its block cut to what is left of it (a new op) */
        op = vmux__op_sent_again(op,
                                 vmux__errclass_of(op->refusal) == VMUX_ERRCLASS_UNBLOCKED_FAILOVER
                                     ? VMUX_OP_AGAIN_UNBLOCKED
                                     : VMUX_OP_AGAIN_REFUSED,
                                 uv_hrtime());
    if ((op->flags & VMUX_OP_ASKED) && vmux__link_asking(link) != 0) {
        vmux__op_finish(op, VMUX_ERR_NOMEM, NULL);
        return;
    }
    if (!(op->flags & VMUX_OP_ASKED) && link->events.retry != NULL &&
        link->events.retry(link, op, link->arg))
        return; /* the slot's owner changed while op waited: sent there */
    vmux__link_submit(link, op);
}

/*
 * Sends the refused ops whose time has come again on the same link, and sets the timer for the
 * next. One that an ASK sent here goes after ASKING again: an importing node answers TRYAGAIN
 * while a multi-key command's keys are split between it and the source, and without ASKING it
 * would answer MOVED back to the source, which would ASK again, spending the command's redirects
 * in a few round trips (probe19).
 */
static void on_retry(uv_timer_t *t)
{
    struct vmux_link *link = t->data;
    struct vmux_opq due = {0};
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < VMUX_LINK_RETRY_LEVELS; i++) {
        uint64_t left = vmux__opq_take_due(&link->retry_q[i], (uint32_t)uv_now(link->loop), &due);
        next = left < next ? left : next;
    }
    if (next != UINT64_MAX)
        arm_retry(link, next);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&due)) != NULL)
        retry_now(link, op);
}

/*
 * The waits before one refused op goes again: doubling from the first to the last with each of
 * its refusals, its own (a reply to another command does not shorten them: TRYAGAIN is about one
 * slot, and the ASKING before a resend is answered too).
 */
#define RETRY_FIRST_MS 10u
#define RETRY_LAST_MS 500u

/*
 * Why a blocking read from "$" (VMUX_OP_FROM_NOW) answered with cls is not sent again, or NULL
 * when it is: a failover's UNBLOCKED ended its block; a CLUSTERDOWN may have (a node ends its
 * blocked clients' waits so when the cluster fails), which the client cannot tell from one that
 * came at once. Sent again, its "$" would skip the entries added meanwhile.
 */
static const char *from_now_ended(enum vmux_errclass cls)
{
    if (cls == VMUX_ERRCLASS_UNBLOCKED_FAILOVER)
        return "unblocked by a failover";
    if (cls == VMUX_ERRCLASS_CLUSTERDOWN)
        return "answered CLUSTERDOWN once written (the cluster failed while it blocked, or "
               "before: the two look alike)";
    return NULL;
}

/* Queues op, refused, to go again after its backoff. */
static void retry_later(struct vmux_link *link, struct vmux_op *op)
{
    if (op->retries < UINT8_MAX)
        op->retries++; /* counted for the words of its deadline (core/op_words.c) */
    unsigned level = op->retries < VMUX_LINK_RETRY_LEVELS ? op->retries : VMUX_LINK_RETRY_LEVELS;
    uint32_t wait = vmux__backoff_jitter(vmux__backoff_span(level, RETRY_FIRST_MS, RETRY_LAST_MS),
                                         vmux__link_random(link));
    op->bounce.due_ms = (uint32_t)uv_now(link->loop) + wait;
    vmux__opq_push(&link->retry_q[level - 1], op);
    arm_retry(link, wait);
}

/* Whether reply, of class cls, is a script's or function's own error (core/script_err.h). */
static bool own_error(const struct vmux_op *op, const vmux_reply *reply, enum vmux_errclass cls)
{
    size_t len;
    const char *msg = vmux_reply_str(reply, &len);
    return msg != NULL && vmux__script_own_error(op, msg, len, cls);
}

/*
 * READONLY on a link of no subscriber (a primary demoted under it): the connection is retired,
 * once; the owner may take an op of one reply (a cluster's router sends it by the map: the link
 * would reconnect to the same node); else an op of one reply, retry-safe or not (a replica
 * refuses a write before running it), or a retry-safe block, waits for the reconnection in
 * link->rejected, ahead of what came after it (returns true: taken, reply with it); any other
 * block keeps the reply (false). A block's READONLY is a queued command's, after which EXEC
 * aborted the transaction: it too did not run, but the block goes by the rule it always went by.
 * On a lone replica's connection (lone.c: ROLE after the last READONLY named a replica, the
 * link's only endpoint a fixed address) there is no primary to wait for: the connection stays
 * for reads, and what would wait fails at once, "not executed".
 */
static bool demoted_reply(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply)
{
    struct vmux_conn *lone = link->conn != NULL && link->conn->lone_replica ? link->conn : NULL;
    if (lone == NULL && link->conn != NULL && !vmux__conn_retiring(link->conn)) {
        /* Demoted: finish what is in flight here, queue the rest, then connect again (to the
         * primary found by ROLE, or to the endpoint's name resolved anew). */
        char why[320];
        vmux__errbuf_set(why, sizeof(why), "%s: READONLY: the node was demoted; reconnecting",
                         link->conn->where);
        vmux__log(link->cfg, VMUX_LOG_WARN, "%s", why);
        if (link->events.error != NULL)
            link->events.error(link, VMUX_ERR_CONNECTION_LOST, why, link->arg);
        link->demoted++;
        vmux__link_retire_conn(link, link->conn, "the node is no longer the primary (READONLY)",
                               false);
    }
    if (op->nreplies == 1 && link->events.readonly != NULL &&
        link->events.readonly(link, op, reply, link->arg)) {
        vmux__count(&link->ctr->retried, 1); /* here, its node's: the node stats add up */
        return true;
    }
    if (!(op->flags & VMUX_OP_RETRY_SAFE) && op->nreplies != 1)
        return false; /* a MULTI...EXEC block: its rule, as before */
    if (lone != NULL) {
        vmux__lone_fail(lone, op, reply); /* no primary to wait for (lone.c) */
        return true;
    }
    /* Goes to the new primary, ahead of what was submitted after it, retry-safe or not: a
     * replica refuses a write before running it. Its deadline, if it passes before then, ends it
     * with this reply, how often and how long it was refused, and "not executed" (op.h). */
    if (op->retries < UINT8_MAX)
        op->retries++;
    vmux_reply_free(op->refusal);
    op->refusal = reply;
    vmux__count(&link->ctr->retried, 1);
    vmux__opq_push(&link->rejected, op);
    return true;
}

/*
 * The server's "not now" of class cls (LOADING, TRYAGAIN, CLUSTERDOWN...: not run): the op goes
 * again after a backoff, its deadline ending the retries with this reply; a read from now whose
 * block a failover or a failed cluster ended completes instead (op.h). Returns true: taken.
 */
static bool busy_reply(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply,
                       enum vmux_errclass cls)
{
    const char *ended = (op->flags & VMUX_OP_FROM_NOW) ? from_now_ended(cls) : NULL;
    if (ended != NULL) {
        vmux__op_finish_from_now(op, reply, ended);
        return true;
    }
    vmux_reply_free(op->refusal);
    op->refusal = reply;
    retry_later(link, op);
    return true;
}

/* Ops whose reply from a demoted node is theirs whatever came before (held_behind()). */
#define KEEPS_ITS_REPLY                                                                            \
    (VMUX_OP_PINNED | VMUX_OP_POOLED | VMUX_OP_NEAR | VMUX_OP_BLOCKING | VMUX_OP_FROM_NOW |        \
     VMUX_OP_INTERNAL | VMUX_OP_CONTROL)

/*
 * A reply on a connection that a READONLY retired (the node was demoted) to op, written behind a
 * write the link holds for the new primary (link->rejected): a retry-safe command of one reply
 * gives it up and waits behind the held ones, in the order written, so that a caller's read
 * after its write sees the write and completes after it (review helper-257 F3: a GET behind a
 * refused SET returned the old value, before the SET's callback). Only the first of the link's
 * READONLY retirements in a row holds (link->demoted): the next connection should reach the new
 * primary, and where it reaches the same replica again (a host name not yet moved) the command
 * is answered there as before instead of waiting behind the write again. A READONLY, a redirect
 * and a "not now" keep their own rules. Returns true: taken (reply freed).
 */
static bool held_behind(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply)
{
    const struct vmux_conn *c = link->conn;
    if (c == NULL || c->retire != CONN_RETIRE_DRAINED || link->demoted > 1 || op->nreplies != 1 ||
        (op->flags & (VMUX_OP_RETRY_SAFE | KEEPS_ITS_REPLY)) != VMUX_OP_RETRY_SAFE)
        return false;
    if (vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR &&
        vmux__errclass_of(reply) != VMUX_ERRCLASS_OTHER)
        return false;
    vmux_reply_free(reply);
    vmux__count(&link->ctr->retried, 1);
    vmux__opq_push(&link->rejected, op);
    return true;
}

bool vmux__link_reply_rejected(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply)
{
    if (link->rejected.count > 0 && held_behind(link, op, reply))
        return true; /* the common path pays one compare: nothing is held */
    if (vmux_reply_get_kind(reply) != VMUX_REPLY_ERROR)
        return false;
    if (op->flags & VMUX_OP_PINNED)
        return false; /* a pinned op's caller wants this node's answer, whatever it is */
    enum vmux_errclass cls = vmux__errclass_of(reply);
    if (cls == VMUX_ERRCLASS_READONLY || cls == VMUX_ERRCLASS_UNBLOCKED_FAILOVER)
        link->demoted_at = uv_now(link->loop); /* a sign of a failover (route/follow.c) */
    if (cls != VMUX_ERRCLASS_OTHER && own_error(op, reply, cls))
        return false; /* a script's own reply, after whatever it did: not sent again */
    if (link->events.redirect != NULL &&
        (cls == VMUX_ERRCLASS_MOVED || cls == VMUX_ERRCLASS_ASK ||
         cls == VMUX_ERRCLASS_CLUSTERDOWN) &&
        link->events.redirect(link, op, reply, link->arg))
        return true;
    if (cls == VMUX_ERRCLASS_READONLY && link->push_fn == NULL)
        return demoted_reply(link, op, reply);
    return vmux__errclass_busy(cls) && busy_reply(link, op, reply, cls);
}

void vmux__link_replace_conn(struct vmux_link *link, struct vmux_op *op, const char *why)
{
    struct vmux_conn *c = link->conn;
    if (c == NULL || c->phase == CONN_ENDED ||
        (!vmux__link_live(link) && !vmux__conn_retiring(c))) {
        vmux__link_submit(link, op); /* no connection to replace: op waits for the next one */
        return;
    }
    if (!vmux__conn_retiring(c)) {
        vmux__log(link->cfg, VMUX_LOG_WARN, "%s: %s; connecting again", c->where, why);
        link->replaced_at = uv_now(link->loop);
        vmux__link_retire_conn(link, c, why, true);
    }
    vmux__opq_push(&link->rejected, op); /* first on the next connection */
}

bool vmux__link_demoted_within(const struct vmux_link *link, uint64_t ms)
{
    return link->demoted_at != 0 && uv_now(link->loop) - link->demoted_at < ms;
}

bool vmux__link_replaced_lately(const struct vmux_link *link)
{
    /* A MOVED on the connection being replaced is one of a pipeline written before the
     * replacement: it joins the first on the next connection, in order (a bounce's jittered
     * backoff would reorder the pipeline). */
    if (link->conn != NULL && vmux__conn_retiring(link->conn))
        return false;
    return link->replaced_at != 0 &&
           uv_now(link->loop) - link->replaced_at < VMUX_LINK_REPLACE_GAP_MS;
}

/*
 * What an op that fails on its way says, and its expiry (core/op.h, that section): the words an
 * op that fails unsent, unanswered or ended once written carries to its caller, and the expiry
 * that puts them on it. Words that end "never sent, not executed" or "not executed" say so of the
 * op alone, and carry it in their reply's ran (worded()): core/explain.h vmux__ran_of() reads that
 * (a split call's words, whether any of its parts may have run). Off the common path: words are
 * made only as an op fails asking for them (VMUX_OP_TELL_WHY); vmux__op_sent_again() notes a
 * blocking op sent again after its block ended.
 */
#include "core/op.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/errbuf.h"
#include "core/errclass.h"
#include "core/explain.h"
#include "core/reply_internal.h"
#include "vmux/error.h"

/* A status reply of words that say of the op, ran, whether it ran (reply_internal.h). */
static vmux_reply *worded(const char *words, enum vmux__ran ran)
{
    vmux_reply *r = vmux__reply_new_str(VMUX_REPLY_STATUS, words, strlen(words));
    if (r != NULL)
        r->ran = (uint8_t)ran;
    return r;
}

void vmux__op_finish_from_now(struct vmux_op *op, vmux_reply *reply, const char *cause)
{
    size_t len;
    const char *said = vmux_reply_str(reply, &len);
    char words[VMUX_REASON_SIZE + 256];
    vmux__errbuf_set(words, sizeof words,
                     "%.*s (a blocking XREAD from \"$\" or \"+\", %s, is not sent again: from "
                     "\"$\" or \"+\" it would skip the entries added meanwhile; read on from "
                     "the last ID you have)",
                     said != NULL ? (int)(len < VMUX_REASON_SIZE ? len : VMUX_REASON_SIZE) : 0,
                     said != NULL ? said : "", cause);
    vmux_reply *worded = vmux__reply_new_str(VMUX_REPLY_ERROR, words, strlen(words));
    if (worded != NULL) {
        vmux_reply_free(reply);
        reply = worded;
    }
    vmux__op_finish(op, VMUX_ERR_SERVER, reply);
}

vmux_reply *vmux__op_why(const struct vmux_op *op, const char *reason)
{
    if ((op->flags & (VMUX_OP_TELL_WHY | VMUX_OP_RESENT)) != VMUX_OP_TELL_WHY || reason == NULL ||
        reason[0] == '\0')
        return NULL;
    return vmux__reply_new_str(VMUX_REPLY_ERROR, reason, strlen(reason));
}

int vmux__op_unsent_timeout(const struct vmux_op *op)
{
    return (op->flags & (VMUX_OP_TELL_UNSENT | VMUX_OP_RESENT)) == VMUX_OP_TELL_UNSENT
               ? VMUX_ERR_NOT_CONNECTED
               : VMUX_ERR_TIMEOUT;
}

vmux_reply *vmux__op_closed_why(const struct vmux_op *op)
{
    if ((op->flags & (VMUX_OP_TELL_WHY | VMUX_OP_RESENT)) != VMUX_OP_TELL_WHY)
        return NULL;
    if (op->refusal != NULL || op->redirects > 0)
        return worded("the handle was closed while the command waited to be sent again after the "
                      "server refused or redirected it: not executed",
                      VMUX__RAN_NOT);
    return worded("the handle was closed before the command was sent: never sent, not executed",
                  VMUX__RAN_UNSENT);
}

/*
 * The why of an op that expires waiting for a connection: vmux__op_why()'s for one never
 * written; for one written before its connection broke (VMUX_OP_RESENT), which may have run,
 * words saying so with the reason, as a status reply (core/explain.c: "written") (probe 47: a
 * retry-safe batch timing out in an outage said only "timed out").
 */
static vmux_reply *expired_why(const struct vmux_op *op, const char *reason)
{
    if (!(op->flags & VMUX_OP_RESENT))
        return vmux__op_why(op, reason);
    if (!(op->flags & VMUX_OP_TELL_WHY) || reason == NULL || reason[0] == '\0')
        return NULL;
    char words[VMUX_REASON_SIZE + 128];
    vmux__errbuf_set(words, sizeof words,
                     "it was sent before its connection broke, so it may have run; last "
                     "connection failure: %s",
                     reason);
    return vmux__reply_new_str(VMUX_REPLY_STATUS, words, strlen(words));
}

struct vmux_op *vmux__op_block_to_deadline(struct vmux_op *op, uint64_t now_ns)
{
    if (!(op->flags & VMUX_OP_BLOCKING) || op->dclass == NULL)
        return op; /* no deadline to run out under a block time sent whole */
    uint64_t left = op->deadline_ns > now_ns ? (op->deadline_ns - now_ns) / 1000000u : 0;
    uint32_t left_ms = left < UINT32_MAX ? (uint32_t)left : UINT32_MAX;
    /* what the deadline counted when its bytes' block time went: from the first send, or from
     * the last shortening */
    uint32_t base = (op->flags & VMUX_OP_BLOCK_SHORTENED) ? op->again_left_ms : op->timeout_ms;
    struct vmux_op *re = vmux__op_shorten_block(op, base, left_ms);
    if (re != op) /* its bytes rewritten: what the deadline had left when this block went */
        re->again_left_ms = left_ms;
    return re;
}

struct vmux_op *vmux__op_sent_again(struct vmux_op *op, uint32_t cause, uint64_t now_ns)
{
    if (!(op->flags & VMUX_OP_BLOCKING) || op->dclass == NULL)
        return op; /* no deadline to run out under a block time sent whole */
    uint64_t left = op->deadline_ns > now_ns ? (op->deadline_ns - now_ns) / 1000000u : 0;
    op = vmux__op_block_to_deadline(op, now_ns);
    op->flags |= cause;
    op->again_left_ms = left < UINT32_MAX ? (uint32_t)left : UINT32_MAX;
    return op;
}

/*
 * What ended or refused the block of op, sent again (VMUX_OP_AGAIN_...), into buf: each that
 * came, whatever their order (a failover's UNBLOCKED is usually followed by the demoted node's
 * MOVED).
 */
static void again_cause(const struct vmux_op *op, char *buf, size_t len)
{
    const char *moved = (op->flags & VMUX_OP_ASKED) ? "ASK (its slot is migrating)"
                                                    : "MOVED (its slot moved, or its node was "
                                                      "demoted)";
    const char *parts[3] = {
        (op->flags & VMUX_OP_AGAIN_UNBLOCKED) ? "UNBLOCKED (a failover ended its block)" : NULL,
        (op->flags & VMUX_OP_AGAIN_REFUSED)
            ? "a \"not now\" reply (LOADING, TRYAGAIN, MASTERDOWN or CLUSTERDOWN: not run)"
            : NULL,
        (op->flags & VMUX_OP_AGAIN_REDIRECTED) ? moved : NULL,
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < 3; i++)
        if (parts[i] != NULL && used < len)
            used +=
                (size_t)snprintf(buf + used, len - used, "%s%s", used > 0 ? " and " : "", parts[i]);
}

/*
 * The words of a blocking op sent again after a reply that ended or refused its block
 * (VMUX_OP_AGAIN_...) and timed out on the pool connection it was sent to (where). Its block cut
 * to what was left of it (VMUX_OP_BLOCK_SHORTENED), the server should have answered within its
 * margin: it did not, as any unanswered command. Its block time whole (its bytes could not be
 * rewritten: out of memory, a form not read), the deadline came first, which is no sign of a slow
 * server (helper-203 F3: these said "not answered in time ... slow, paused or stopped"). Either
 * way the pool closes that connection to stop the block, and a pop the server made is lost with
 * it.
 */
static vmux_reply *again_why(const struct vmux_op *op, const char *where)
{
    char cause[160], words[VMUX_REASON_SIZE + 160];
    again_cause(op, cause, sizeof cause);
    if (op->flags & VMUX_OP_BLOCK_SHORTENED)
        vmux__errbuf_set(words, sizeof words,
                         "sent again to %s after %s with %u ms of its deadline left, its block "
                         "time cut to what was left of it, and not answered in time, so it may "
                         "have run (the server, or the path to it, is slow, paused or stopped; a "
                         "pop it made is lost with the connection, closed to stop it)",
                         where, cause, (unsigned)op->again_left_ms);
    else
        vmux__errbuf_set(words, sizeof words,
                         "sent again to %s after %s with %u ms of its deadline left and its block "
                         "time whole, so the deadline may come before the block ends; it may have "
                         "run (a pop the server made as the deadline came is lost with the "
                         "connection, closed to stop it)",
                         where, cause, (unsigned)op->again_left_ms);
    return vmux__reply_new_str(VMUX_REPLY_STATUS, words, strlen(words));
}

/*
 * The words of a written op that timed out waiting for its reply on a connection still open
 * (where: the connection's host:port), as a status reply (core/explain.c): which server, and
 * that it may have run. NULL when its caller takes no words.
 */
static vmux_reply *unanswered_why(const struct vmux_op *op, const char *where)
{
    if (!(op->flags & VMUX_OP_TELL_WHY) || where == NULL || where[0] == '\0')
        return NULL;
    if ((op->flags & VMUX_OP_POOLED) &&
        (op->flags & (VMUX_OP_AGAIN_UNBLOCKED | VMUX_OP_AGAIN_REFUSED | VMUX_OP_AGAIN_REDIRECTED)))
        return again_why(op, where);
    char words[VMUX_REASON_SIZE];
    vmux__errbuf_set(words, sizeof words,
                     "written to %s and not answered in time, so it may have run (the connection "
                     "is open: the server, or the path to it, is slow, paused or stopped)",
                     where);
    return vmux__reply_new_str(VMUX_REPLY_STATUS, words, strlen(words));
}

/*
 * The words of an op that expires in a router's waiting queue (q->waited: route/waited.c), as a
 * status reply (core/explain.c): where it waited, then what that means for its outcome. One
 * written before a connection broke (VMUX_OP_RESENT) may have run; one redirected and not
 * resent was answered with a redirect (MOVED, ASK: not run) each time it was written; any other
 * was never written (helper-202 F3: during a MOVED ping-pong these said only "timed out", or "not
 * sent: no connection was ready" with VMUX_CALL_TELL_UNSENT). NULL when its caller takes none.
 */
static vmux_reply *waited_why(const struct vmux_op *op, const struct vmux_opq *q)
{
    if (!(op->flags & VMUX_OP_TELL_WHY))
        return NULL;
    char where[VMUX_REASON_SIZE], words[VMUX_REASON_SIZE + 80];
    where[0] = '\0';
    q->waited(q, op, where, sizeof where);
    enum vmux__ran ran = (op->flags & VMUX_OP_RESENT) ? VMUX__RAN_MAYBE
                         : op->redirects > 0          ? VMUX__RAN_NOT
                                                      : VMUX__RAN_UNSENT;
    static const char *const outcome[] = {
        [VMUX__RAN_MAYBE] = "it was sent before a connection broke, so it may have run",
        [VMUX__RAN_NOT] = "not executed",
        [VMUX__RAN_UNSENT] = "never sent, not executed",
    };
    vmux__errbuf_set(words, sizeof words, "%s: %s", where, outcome[ran]);
    return worded(words, ran);
}

/* The why of an op whose deadline took it out of q (NULL: none) before it was written there. */
static vmux_reply *unsent_why(const struct vmux_op *op, const struct vmux_opq *q)
{
    if (q == NULL)
        return NULL;
    if (q->waited != NULL)
        return waited_why(op, q);
    return q->why != NULL ? expired_why(op, q->why(q)) : NULL;
}

/*
 * op's deadline passed in q, a queue that keeps husks: op stays there, done, until q frees it. In
 * a connection's FIFO it was written and its reply is owed (outcome unknown); in a router's
 * waiting queue that keeps it for an answer about it (q->waited: r->keys_wait, waiting for
 * COMMAND GETKEYS to name its keys) it was never written, and says where it waited.
 */
static void expire_husk(struct vmux_op *op, struct vmux_opq *q)
{
    q->left++; /* not live any more */
    if (q->waited != NULL) {
        vmux__op_complete(op, vmux__op_unsent_timeout(op), waited_why(op, q));
        return;
    }
    vmux_reply *why = q->why != NULL ? unanswered_why(op, q->why(q)) : NULL;
    vmux__op_complete(op, VMUX_ERR_TIMEOUT, why);
}

/* What kept answering an op's refusals of class cls (worded_refusal()); by_map: a READONLY's
 * op waited for the slot map (struct vmux_opq), else for a connection to a primary. */
static const char *refused_while(enum vmux_errclass cls, bool by_map)
{
    switch (cls) {
    case VMUX_ERRCLASS_TRYAGAIN:
        return " while its slot migrates";
    case VMUX_ERRCLASS_LOADING:
        return " while the server loads its data";
    case VMUX_ERRCLASS_MASTERDOWN:
        return " while the replica has no link to its primary";
    case VMUX_ERRCLASS_CLUSTERDOWN:
        return " while the cluster is down";
    case VMUX_ERRCLASS_UNBLOCKED_FAILOVER:
        return " during a failover";
    case VMUX_ERRCLASS_READONLY:
        return by_map ? " by a demoted primary while the slot map named no other"
                      : " by a demoted primary or a replica while no connection to a primary was "
                        "ready";
    default:
        return "";
    }
}

/*
 * The reply of an op whose deadline found it waiting to be sent again after refusal (the last
 * "not now": LOADING, TRYAGAIN...), taken: for a caller that takes words (VMUX_OP_TELL_WHY) the
 * server's words and how often and how long it was refused, and that it did not run (helper-247
 * O1: a transaction's TRYAGAIN through a migration said only the server's words); refusal as it
 * came otherwise, or without memory. The time is since its deadline began (the call), now_ns on
 * uv_hrtime()'s clock; op->retries counts its refusals up to UINT8_MAX.
 */
static vmux_reply *worded_refusal(const struct vmux_op *op, vmux_reply *refusal, uint64_t now_ns,
                                  bool by_map)
{
    size_t len;
    const char *said = vmux_reply_str(refusal, &len);
    if (!(op->flags & VMUX_OP_TELL_WHY) || op->retries == 0 || said == NULL)
        return refusal;
    uint64_t span = (uint64_t)op->timeout_ms * 1000000u;
    uint64_t ms = op->deadline_ns >= span && now_ns >= op->deadline_ns - span
                      ? (now_ns - (op->deadline_ns - span)) / 1000000u
                      : op->timeout_ms;
    char words[VMUX_REASON_SIZE + 160];
    vmux__errbuf_set(words, sizeof words, "%.*s (refused %s%u time%s over %llu ms%s; not executed)",
                     (int)(len < VMUX_REASON_SIZE ? len : VMUX_REASON_SIZE), said,
                     op->retries == UINT8_MAX ? "at least " : "", (unsigned)op->retries,
                     op->retries == 1 ? "" : "s", (unsigned long long)ms,
                     refused_while(vmux__errclass_of(refusal), by_map));
    vmux_reply *worded = vmux__reply_new_str(VMUX_REPLY_ERROR, words, strlen(words));
    if (worded == NULL)
        return refusal;
    vmux_reply_free(refusal);
    return worded;
}

void vmux__op_expire(struct vmux_op *op, uint64_t now_ns)
{
    struct vmux_opq *q = op->q;
    bool drop = q == NULL || !q->keeps_husks;
    /* Out of its queue before the callback runs: the callback may close that queue's link. */
    if (q != NULL && drop) {
        vmux__opq_remove(q, op);
        if (q->expired != NULL)
            q->expired(q, op);
    }
    if (drop && op->refusal != NULL) {
        /* not sent again yet: it did not run, and the server's last refusal says why */
        vmux_reply *refusal = op->refusal;
        op->refusal = NULL;
        vmux__op_finish(op, VMUX_ERR_SERVER,
                        worded_refusal(op, refusal, now_ns, q != NULL && q->by_map));
    } else if (drop) {
        /* Outside a FIFO, only a resent op may have run (net/conn.c's conn_settle()); one in a
         * router's queue may have been written and redirected, not run (unsent_why()). */
        vmux__op_finish(op, vmux__op_unsent_timeout(op), unsent_why(op, q));
    } else {
        expire_husk(op, q);
    }
}

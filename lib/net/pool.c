#include "net/pool.h"

#include <stdlib.h>

#include "core/assert.h"
#include "core/log.h"
#include "vmux/error.h"

/* What the pool keeps about an op it runs (op->job): which pool, and which link runs it. */
struct pool_job {
    struct vmux_op_job base; /* first member: op->job points here */
    struct vmux_pool *pool;
    struct vmux_link *link;
};

static void pool_link_ready(struct vmux_link *link, const char *where, void *arg)
{
    struct vmux_pool *p = arg;
    (void)link;
    vmux__log(p->cfg, VMUX_LOG_DEBUG, "%s: blocking-pool connection ready", where);
}

static void pool_link_failed(struct vmux_link *link, int code, const char *reason, void *arg)
{
    struct vmux_pool *p = arg;
    (void)link;
    vmux__log(p->cfg, VMUX_LOG_INFO, "blocking-pool connection failed (%s): %s",
              vmux_err_name(code), reason);
}

static bool pool_link_redirect(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply,
                               void *arg)
{
    struct vmux_pool *p = arg;
    return p->redirect != NULL &&
           p->redirect(p->peer != NULL ? p->peer : link, op, reply, p->redirect_arg);
}

static const struct vmux_link_events pool_events = {
    .ready = pool_link_ready, .failed = pool_link_failed, .redirect = pool_link_redirect};

/*
 * Makes room for one more link: the arrays double, from INITIAL_CAP, up to blockingPoolSize. They
 * once took all of it at once: 2 x 8 bytes x 2147483647, 32 GiB of address space per node.
 */
#define INITIAL_CAP 8

static bool grow(struct vmux_pool *p)
{
    int most = p->cfg->blocking_pool_size;
    if (p->total < p->cap)
        return true;
    int cap = p->cap == 0 ? INITIAL_CAP : p->cap > most / 2 ? most : p->cap * 2;
    cap = cap < most ? cap : most;
    struct vmux_link **idle = realloc(p->idle, (size_t)cap * sizeof *idle);
    if (idle != NULL)
        p->idle = idle;
    struct vmux_link **links = idle != NULL ? realloc(p->links, (size_t)cap * sizeof *links) : NULL;
    if (links == NULL)
        return false;
    p->links = links;
    p->cap = cap;
    return true;
}

int vmux__pool_init(struct vmux_pool *p, uv_loop_t *loop, const struct vmux_config *cfg,
                    vmux_tls_ctx *tls_ctx, struct vmux_counters *ctr)
{
    *p = (struct vmux_pool){.loop = loop, .cfg = cfg, .tls_ctx = tls_ctx, .ctr = ctr};
    return grow(p) ? 0 : VMUX_ERR_NOMEM;
}

static void run(struct vmux_pool *p, struct vmux_link *link, struct vmux_op *op);

/*
 * An op that waited for a link while its deadline (block time plus timeout) ran: its block cut
 * to what is left of it, as a resend's (core/op.h), so that the server answers, nil or an
 * element, before the deadline. Sent with its block time whole, a BLPOP 3 that waited 3 s for a
 * link timed out 1 s before its block's end ("written ... and not answered in time, so it may
 * have run ... slow, paused or stopped", on a healthy server) and the pool closed the link, with
 * an element the server popped as the deadline came (helper-272).
 */
static struct vmux_op *waited(struct vmux_op *op)
{
    return vmux__op_block_to_deadline(op, uv_hrtime());
}

/* A link finished its command: reuse it for a waiting op, or keep it idle. */
static void release(struct vmux_pool *p, struct vmux_link *link)
{
    struct vmux_op *op = vmux__opq_pop(&p->waiting);
    if (op != NULL) {
        VMUX_ASSERT(!op->done); /* one that timed out while it waited left the queue */
        run(p, link, waited(op));
        return;
    }
    p->idle[p->nidle++] = link;
}

static void forget(struct vmux_pool *p, struct vmux_link *link)
{
    for (int i = 0; i < p->total; i++) {
        if (p->links[i] == link) {
            p->links[i] = p->links[--p->total];
            return;
        }
    }
}

static struct vmux_link *open_link(struct vmux_pool *p);

/*
 * A link went (closed under an op that timed out): the op at the head of the queue, if any,
 * gets a new one. Only release() and vmux__pool_submit() started waiting ops before, so with
 * blockingPoolSize=1 an op waiting behind a BLPOP that timed out at 500 ms waited out its own
 * 4 s deadline, unsent, on a healthy server (or ran only when a later op opened a link).
 */
static void start_waiting(struct vmux_pool *p)
{
    struct vmux_link *link;
    if (p->waiting.count == 0 || (link = open_link(p)) == NULL)
        return; /* out of memory: the queue waits for the next free link, or its deadlines */
    struct vmux_op *op = vmux__opq_pop(&p->waiting);
    VMUX_ASSERT(!op->done); /* one that timed out while it waited left the queue */
    run(p, link, waited(op));
}

/* After the op's callback ran (vmux__op_complete()): its link is free again, or must go. */
static void job_done(struct vmux_op_job *base, int status)
{
    struct pool_job *job = (struct pool_job *)base;
    struct vmux_pool *p = job->pool;
    struct vmux_link *link = job->link;
    free(job);
    if (p->closed)
        return;
    if (status == VMUX_ERR_TIMEOUT) {
        /* Still blocked on the server: only closing the connection stops it. */
        forget(p, link);
        vmux__link_close(link);
        start_waiting(p);
        return;
    }
    release(p, link);
}

static void run(struct vmux_pool *p, struct vmux_link *link, struct vmux_op *op)
{
    struct pool_job *job = malloc(sizeof(*job));
    if (job == NULL) {
        vmux__op_finish(op, VMUX_ERR_NOMEM, NULL);
        release(p, link);
        return;
    }
    *job = (struct pool_job){{job_done}, p, link};
    op->job = &job->base;
    op->flags |= VMUX_OP_POOLED;
    if ((op->flags & VMUX_OP_ASKING) && vmux__link_asking(link) != 0) {
        vmux__op_finish(op, VMUX_ERR_NOMEM, NULL); /* its job gives the link back */
        return;
    }
    op->flags &= ~(uint32_t)VMUX_OP_ASKING;
    vmux__link_submit(link, op);
}

void vmux__pool_detach(struct vmux_op *op)
{
    if (!(op->flags & VMUX_OP_POOLED))
        return;
    struct vmux_op_job *job = op->job;
    op->job = NULL;
    op->flags &= ~(uint32_t)VMUX_OP_POOLED;
    job->done(job, VMUX_OK);
}

static struct vmux_link *open_link(struct vmux_pool *p)
{
    struct vmux_link *link;
    if (!grow(p) ||
        vmux__link_new(p->loop, p->cfg, p->tls_ctx, p->ctr, &pool_events, p, &link) != 0)
        return NULL;
    /* Blocking commands go to primaries only (readFrom never sends them to a replica), so their
     * connections never send READONLY: a node demoted or restarted as a replica since the
     * command was routed answers it MOVED, and the router follows, where a READONLY connection
     * would have it block on the replica (its waits not woken by a full resync) */
    (void)vmux__link_set_readonly(link, false);
    vmux__link_set_auxiliary(link);
    vmux__link_set_sentinel(link, p->sentinel);
    p->links[p->total++] = link;
    vmux__link_start(link);
    return link;
}

void vmux__pool_submit(struct vmux_pool *p, struct vmux_op *op)
{
    struct vmux_link *link = NULL;
    if (p->closed) {
        vmux__op_finish(op, VMUX_ERR_CLOSED, vmux__op_closed_why(op)); /* never written */
        return;
    }
    if (p->nidle > 0)
        link = p->idle[--p->nidle];
    else if (p->total < p->cfg->blocking_pool_size)
        link = open_link(p);
    if (link != NULL)
        run(p, link, waited(op)); /* one that waited in another node's pool, its slot moved */
    else
        vmux__opq_push(&p->waiting, op);
}

void vmux__pool_take_unsent(struct vmux_pool *p, struct vmux_opq *dst)
{
    struct vmux_opq waiting = {0}; /* out first: a link freed below would start the next */
    vmux__opq_append(&waiting, &p->waiting);
    for (int i = 0; i < p->total; i++) {
        struct vmux_opq q = {0};
        vmux__link_take_backlog(p->links[i], &q);
        struct vmux_op *op;
        while ((op = vmux__opq_pop(&q)) != NULL) {
            vmux__pool_detach(op);
            vmux__opq_push(dst, op);
        }
    }
    vmux__opq_append(dst, &waiting); /* behind: each queued once the links' ops were given */
}

void vmux__pool_take_waiting(struct vmux_pool *p,
                             bool (*leaves)(const struct vmux_op *op, void *arg), void *arg,
                             struct vmux_opq *dst)
{
    struct vmux_op *op = p->waiting.head;
    while (op != NULL) {
        struct vmux_op *next = op->next;
        if (leaves(op, arg)) {
            vmux__opq_remove(&p->waiting, op);
            vmux__opq_push(dst, op);
        }
        op = next;
    }
}

bool vmux__pool_slots_held(const struct vmux_pool *p, const uint8_t *slots)
{
    for (int i = 0; i < p->total; i++)
        if (vmux__link_slots_held(p->links[i], slots))
            return true;
    return false;
}

bool vmux__pool_busy(const struct vmux_pool *p)
{
    return p->waiting.count > 0 || p->nidle < p->total;
}

void vmux__pool_tick(struct vmux_pool *p, bool frozen)
{
    for (int i = 0; i < p->total; i++)
        vmux__link_tick(p->links[i], frozen);
}

void vmux__pool_close(struct vmux_pool *p)
{
    p->closed = true;
    vmux__opq_fail_all(&p->waiting, VMUX_ERR_CLOSED);
    for (int i = 0; i < p->total; i++)
        vmux__link_close(p->links[i]); /* a busy link's command completes, CLOSED */
    p->total = p->nidle = p->cap = 0;
    free(p->idle);
    free(p->links);
    p->idle = p->links = NULL;
}

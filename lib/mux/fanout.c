/*
 * Fan-out, the I/O thread's side (mux/fanout_internal.h): one command sent to each node of a set,
 * the replies gathered, the caller completed once every node answered or timed out.
 *
 * The node list belongs to the I/O thread (the router's map), so the call is a control op
 * (mux/fanout_call.c submits it): on the I/O thread vmux__fanout_start() lists the nodes, gives
 * each a copy of the command (pinned: never redirected), and counts the parts in flight. Every
 * part completes exactly once (its op's rule, by the call's one deadline at the latest) and
 * finish_one() completes the caller when the last one did, so no part is lost or counted twice.
 * The start holds one count of its own, so that parts completed inside it (a dead handle, a full
 * backlog) cannot complete the caller before every part was sent. Before detection is over the
 * start asks to wait (VMUX__CONTROL_WAIT): the control op waits with the commands that wait for
 * it, by the call's deadline, and the start runs again once the mode is known. A typed fan-out
 * (check_role) whose part met a demoted primary does not complete its caller when its last part
 * does: it waits for the map refreshed after that (rerun_later(), by the call's deadline) and runs
 * again on it, once, as its command's enum vmux__rerun says (mux/fanout.h). A part that waits
 * unsent for a node the map no longer names a primary (it died, and a refreshed map names its
 * promoted replica) is withdrawn (vmux__fanout_withdraw()) and counts as one that met a demoted
 * primary, on a map already refreshed: the rerun needs no other, and may come again while each
 * run's map moves on under it (MAX_RUNS).
 */
#include "mux/fanout_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/assert.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/errclass.h"
#include "core/explain.h"
#include "core/reply_internal.h"
#include "vmux/error.h"

void vmux__fanout_free(struct fanout *f)
{
    if (f->watched) /* set on the I/O thread, which alone frees f then */
        f->m->role_fanouts--;
    if (f->counted) /* after the caller's completion: a drain returns once it has run */
        vmux__counters_call_done(&f->m->ctr);
    vmux_node_replies_free(&f->res);
    vmux_node_replies_free(&f->kept);
    free(f->parts);
    if (f->cmd != NULL)
        vmux__op_free(f->cmd);
    free(f);
}

/* What became of the map after a demoted part: why the call fails all the same (fail_demoted()). */
static const char *demoted_words(const struct fanout *f)
{
    if (f->reruns > 0)
        return ", and the fan-out met it on the refreshed map too (a map still behind, or "
               "another failover); the map is being refreshed";
    if (f->unrefreshed)
        return "; no refreshed map came within the call's timeout to run it again on";
    return " and is being refreshed";
}

/*
 * The parts whose node's ROLE said it is no longer a primary (check_role): their answers are a
 * replica's, not their shard's primary's, so each fails, naming its node (the map that named it a
 * primary is behind a failover or a reshard; the refresh was asked for by role_done()).
 */
static void fail_demoted(struct fanout *f)
{
    for (size_t i = 0; f->check_role && i < f->res.count; i++) {
        if (!f->parts[i].demoted)
            continue;
        vmux_node_reply *n = &f->res.nodes[i];
        char why[VMUX_REASON_SIZE];
        if (f->parts[i].withdrawn)
            vmux__errbuf_set(why, sizeof why,
                             "NOTPRIMARY %s is no longer a primary: a refreshed map names "
                             "another for its slots (a failover while its connection was down); "
                             "the command waiting there for a connection was withdrawn%s",
                             n->address, f->reruns > 0 ? " from the fan-out's rerun" : "");
        else
            vmux__errbuf_set(why, sizeof why,
                             "NOTPRIMARY %s is no longer a primary (ROLE: %s): the handle's map "
                             "is behind a failover or a reshard%s; its answer, a replica's, was "
                             "dropped",
                             n->address, f->parts[i].role, demoted_words(f));
        vmux_reply_free(n->reply);
        n->status = VMUX_ERR_SERVER;
        n->reply = vmux__reply_new_str(VMUX_REPLY_ERROR, why, strlen(why));
    }
}

/* Completes the caller: with the parts (which it then owns), or with a call-level error. */
static void deliver(struct fanout *f, int status)
{
    vmux_node_replies *res = NULL;
    if (status == 0)
        fail_demoted(f);
    if (status == 0 && (res = malloc(sizeof *res)) == NULL)
        status = VMUX_ERR_NOMEM;
    if (res != NULL) {
        *res = f->res;
        f->res = (vmux_node_replies){0};
    }
    f->cb(status, res, f->userdata);
    vmux__fanout_free(f);
}

static void rerun_later(struct fanout *f);

/* The most runs of a fan-out whose reruns come from withdrawn parts only (each needs the map to
 * move on again: another failover). */
#define MAX_RUNS 4

/*
 * Whether f, complete, runs again on a refreshed map in place of delivering: a typed fan-out
 * that met a demoted primary, with time left and the handle not closing; once, or again while
 * only withdrawn parts made it stale (its map moved on during the run: a primary died) and it
 * ran fewer than MAX_RUNS times.
 */
static bool to_rerun(const struct fanout *f)
{
    bool again = f->reruns == 0 || (f->ahead && f->reruns + 1 < MAX_RUNS);
    return f->stale && again && f->rerun_as != VMUX__RERUN_NONE && !f->unrefreshed &&
           !f->m->io_closing && uv_hrtime() < f->deadline_ns;
}

static void finish_one(struct fanout *f)
{
    VMUX_ASSERT(f->pending > 0);
    if (--f->pending > 0)
        return;
    if (to_rerun(f))
        rerun_later(f);
    else
        deliver(f, 0);
}

/*
 * A part met a node the map calls a primary and that is none: the map is behind (check_role
 * only: vmux_call_nodes() gives each node's own answer). The first time, the moment (mark) after
 * which a refresh answers for the fan-out's rerun; then a refresh is asked for.
 */
static void map_behind(struct fanout *f)
{
    if (f->check_role && (!f->stale || f->ahead)) {
        f->stale = true;
        f->ahead = false; /* the current map is behind for this node: a newer one is waited for */
        f->mark = vmux__router_refresh_mark(&f->m->router);
    }
    vmux__router_refresh_soon(&f->m->router);
}

/*
 * A part was withdrawn from a node the current map no longer names a primary: that map, newer than
 * the one the part was sent by, is the one to run again on (unless another part said the map is
 * behind: then it waits for a newer one, map_behind()).
 */
static void map_ahead(struct fanout *f)
{
    if (!f->stale) {
        f->stale = true;
        f->ahead = true;
    }
}

/* Sets part p's outcome. */
static void part_set(struct fan_part *p, int status, vmux_reply *reply)
{
    vmux_node_reply *n = &p->f->res.nodes[p->i];
    VMUX_ASSERT(n->status == 1); /* not yet complete */
    n->status = status;
    n->reply = reply;
    finish_one(p->f);
}

/*
 * The error reply that says what vmux_call() would of a part that failed with status and reply
 * (NULL, or the why that came with it: VMUX_OP_TELL_WHY), which it frees; NULL without memory.
 */
static vmux_reply *worded(int status, vmux_reply *reply)
{
    char words[VMUX_REASON_SIZE + 128];
    vmux__explain(words, sizeof words, status, reply);
    vmux_reply_free(reply);
    return vmux__reply_new_str(VMUX_REPLY_ERROR, words, strlen(words));
}

/*
 * Whether a part's reply says its node, which the map names a primary, is not one: READONLY (a
 * write to a replica). A pinned op is not handled by its link's READONLY rule (net/link_retry.c),
 * so nothing else would ask for a refresh.
 */
static bool says_replica(const struct fan_part *p, int status, const vmux_reply *reply)
{
    return status == VMUX_ERR_SERVER && reply != NULL &&
           p->f->res.nodes[p->i].role == VMUX_ROLE_PRIMARY &&
           vmux__errclass_of(reply) == VMUX_ERRCLASS_READONLY;
}

/* A part's op completed (its callback, on the I/O thread). */
static void part_done(int status, vmux_reply *reply, void *userdata)
{
    struct fan_part *p = userdata;
    if (says_replica(p, status, reply))
        map_behind(p->f);
    if (p->f->word_failures && status != 0 && status != VMUX_ERR_SERVER)
        reply = worded(status, reply);
    part_set(p, status, reply);
}

/* The link to node n: the handle's own in standalone mode, else the router's (opened lazily). */
static struct vmux_link *node_link(vmux *m, const struct vmux_router_nodeinfo *n)
{
    if (vmux__router_mode(&m->router) != VMUX_ROUTER_CLUSTER)
        return m->link;
    return vmux__router_node_link(&m->router, n->host, strlen(n->host), n->port);
}

/* A primary the map gives no address for ("?"): its part fails, and a refresh is asked for. */
static void part_unknown(struct fanout *f, size_t i)
{
    static const char why[] = "NOADDRESS the map names no address for this primary yet (\"?\"); "
                              "not sent (the map is being refreshed)";
    vmux__router_refresh_soon(&f->m->router);
    part_set(&f->parts[i], VMUX_ERR_NOT_CONNECTED,
             vmux__reply_new_str(VMUX_REPLY_ERROR, why, sizeof why - 1));
}

/*
 * ROLE answered for part p (status 0 and an array whose first element names the role): other than
 * "master", the node is no longer the primary the map says, and a refresh is asked for. Any other
 * outcome (a timeout, ROLE refused by an ACL) tells nothing: the part's own answer stands.
 */
static void role_done(int status, vmux_reply *reply, void *userdata)
{
    struct fan_part *p = userdata;
    const vmux_reply *first = status == 0 ? vmux_reply_element(reply, 0) : NULL;
    size_t len = 0;
    const char *role = first != NULL ? vmux_reply_str(first, &len) : NULL;
    bool named = role != NULL && vmux_reply_get_kind(first) != VMUX_REPLY_ERROR;
    p->master = named && len == 6 && memcmp(role, "master", 6) == 0;
    if (named && !p->master) {
        p->demoted = true;
        snprintf(p->role, sizeof p->role, "%.*s", (int)(len < 15 ? len : 15), role);
        map_behind(p->f);
    }
    vmux_reply_free(reply);
    finish_one(p->f);
}

/*
 * Sends ROLE to part i's node (link) ahead of its command, on the same connection, so that a node
 * the map still names a primary but that was demoted (a failover, a reshard that emptied it) is
 * told apart from a primary even when its answer alone would not tell (DBSIZE on a replica). One
 * more count in f->pending until role_done(); out of memory, nothing is checked.
 */
static void send_role(struct fanout *f, size_t i, struct vmux_link *link)
{
    static const char *const argv[] = {"ROLE"};
    struct vmux_op *op = NULL;
    if (vmux__encode_op(1, argv, NULL, &op) != 0)
        return;
    op->flags = VMUX_OP_PINNED | VMUX_OP_OWN | VMUX_OP_RETRY_SAFE;
    op->slot = -1;
    op->timeout_ms = f->timeout_ms;
    op->deadline_ns = f->deadline_ns;
    op->cb = role_done;
    op->userdata = &f->parts[i];
    f->pending++;
    vmux__submit_own_on_link(f->m, link, op); /* takes no place of the caller's (maxPending) */
}

/* Sends part i (node n) a copy of the command; its completion runs part_done() in every case. */
static void send_part(struct fanout *f, size_t i, const struct vmux_router_nodeinfo *n)
{
    if (n->host == NULL) {
        f->parts[i] = (struct fan_part){.f = f, .i = i};
        part_unknown(f, i);
        return;
    }
    struct vmux_op *op = vmux__op_new(f->cmd->len);
    struct vmux_link *link = op != NULL ? node_link(f->m, n) : NULL;
    f->parts[i] = (struct fan_part){.f = f, .i = i};
    if (op == NULL || link == NULL) {
        if (op != NULL)
            vmux__op_free(op);
        part_set(&f->parts[i], VMUX_ERR_NOMEM, NULL);
        return;
    }
    memcpy(op->cmd, f->cmd->cmd, f->cmd->len);
    op->flags = f->flags;
    op->slot = -1; /* keyless as far as routing goes: it is not routed */
    op->timeout_ms = f->timeout_ms;
    op->deadline_ns = f->deadline_ns;
    op->cb = part_done;
    op->userdata = &f->parts[i];
    if (f->check_role && n->primary && vmux__router_mode(&f->m->router) == VMUX_ROUTER_CLUSTER)
        send_role(f, i, link); /* a standalone server's role is the user's choice */
    vmux__submit_on_link(f->m, link, op);
}

/* The part op is for (its command, or the ROLE ahead of it) when a typed fan-out's; else NULL. */
static struct fan_part *typed_part(const struct vmux_op *op)
{
    if (op->cb != part_done && op->cb != role_done)
        return NULL;
    struct fan_part *p = op->userdata;
    return p->f->check_role ? p : NULL;
}

/* Moves the typed fan-outs' ops waiting in link's backlog to q, in order; the others stay. */
static void take_parts(struct vmux_link *link, struct vmux_opq *q)
{
    struct vmux_opq all = {0}, stay = {0};
    vmux__link_take_backlog(link, &all);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&all)) != NULL)
        vmux__opq_push(typed_part(op) != NULL ? q : &stay, op);
    vmux__link_return_backlog(link, &stay);
}

/* Whether link has no connection ready and its node is no primary of the current map. */
static bool left_primaries(const struct vmux_router *r, const struct vmux_link *link)
{
    return link != NULL && !vmux__link_ready(link) && !vmux__router_link_is_primary(r, link);
}

void vmux__fanout_withdraw(vmux *m, const struct vmux_link *only)
{
    struct vmux_router *r = &m->router;
    if (m->role_fanouts == 0 || vmux__router_mode(r) != VMUX_ROUTER_CLUSTER)
        return;
    struct vmux_opq q = {0};
    for (size_t i = 0; i < vmux__router_nlinks(r); i++) {
        struct vmux_link *link = vmux__router_link_at(r, i);
        if ((only == NULL || link == only) && left_primaries(r, link))
            take_parts(link, &q);
    }
    /* completed once every link is walked: a part completed may complete its fan-out, whose
     * rerun opens links */
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        struct fan_part *p = op->userdata;
        if (op->cb == part_done) { /* a ROLE withdrawn tells nothing */
            p->withdrawn = p->demoted = true;
            map_ahead(p->f);
        }
        vmux__op_finish(op, VMUX_ERR_NOT_CONNECTED, NULL);
    }
}

static bool matches(const struct fanout *f, const struct vmux_router_nodeinfo *n, bool by_id)
{
    if (by_id)
        return n->host != NULL && n->id != NULL && strcmp(n->id, f->id) == 0;
    return f->host == NULL ||
           (n->host != NULL && n->port == f->port && strcasecmp(n->host, f->host) == 0);
}

/*
 * Keeps the nodes f asks for (all, or its one node) at the front of nodes; returns how many.
 * One node asked for by id as well: the map's node of that id, whatever the map names it (an
 * empty host in CLUSTER SLOTS is the name of the node asked, a host name is the node's), else
 * the node at its address.
 */
static size_t select_nodes(const struct fanout *f, struct vmux_router_nodeinfo *nodes, size_t n)
{
    size_t k = 0;
    for (int by_id = f->id != NULL; k == 0 && by_id >= 0; by_id--)
        for (size_t i = 0; i < n; i++)
            if (matches(f, &nodes[i], by_id) && (f->host == NULL || k == 0))
                nodes[k++] = nodes[i];
    return k;
}

/* Makes the result's entries (addresses, roles; status 1 marks "not yet complete"). */
static int make_entries(struct fanout *f, const struct vmux_router_nodeinfo *nodes, size_t n)
{
    if (n == 0)
        return 0;
    f->res.nodes = calloc(n, sizeof *f->res.nodes);
    f->parts = calloc(n, sizeof *f->parts);
    if (f->res.nodes == NULL || f->parts == NULL)
        return VMUX_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        vmux_node_reply *e = &f->res.nodes[f->res.count++];
        const char *host = nodes[i].host != NULL ? nodes[i].host : "?"; /* no address yet */
        int len = snprintf(NULL, 0, "%s:%d", host, nodes[i].port);
        if ((e->address = malloc((size_t)len + 1)) == NULL)
            return VMUX_ERR_NOMEM;
        snprintf(e->address, (size_t)len + 1, "%s:%d", host, nodes[i].port);
        e->role = nodes[i].primary ? VMUX_ROLE_PRIMARY : VMUX_ROLE_REPLICA;
        e->status = 1;
    }
    return 0;
}

/*
 * A rerun's part i (VMUX__RERUN_REST): when the first run succeeded on its node, which ROLE said
 * was a primary then and the refreshed map names one now, that success stands (f->kept gives it
 * up) and nothing is sent; returns whether it did.
 */
static bool keep_part(struct fanout *f, size_t i)
{
    for (size_t k = 0; k < f->kept.count; k++) {
        vmux_node_reply *was = &f->kept.nodes[k];
        if (was->reply == NULL || strcmp(was->address, f->res.nodes[i].address) != 0)
            continue;
        f->parts[i] = (struct fan_part){.f = f, .i = i, .master = true};
        vmux_reply *reply = was->reply;
        was->reply = NULL;
        part_set(&f->parts[i], 0, reply);
        return true;
    }
    return false;
}

/*
 * The control op's function, on the I/O thread. Returns 0 once it took f over (f completes
 * through finish_one()), or the error with which vmux__fanout_on_started() completes the caller.
 */
int vmux__fanout_start(vmux *m, void *arg)
{
    struct fanout *f = arg;
    if (vmux__router_mode(&m->router) == VMUX_ROUTER_DETECTING)
        return VMUX__CONTROL_WAIT; /* runs again once the handle knows what the server is */
    struct vmux_router_nodeinfo *nodes;
    size_t n;
    int rc = vmux__router_nodes(&m->router, f->which, &nodes, &n);
    if (rc != 0)
        return rc;
    n = select_nodes(f, nodes, n);
    if (f->host != NULL && n == 0)
        *f->unknown = true; /* read by the waiting caller once the completion has run */
    if (f->learnt && n == 0)
        vmux__router_refresh_soon(&m->router); /* the node left, or the map is behind */
    rc = f->host != NULL && n == 0 ? VMUX_ERR_INVALID_ARG : make_entries(f, nodes, n);
    if (rc == 0 && f->check_role && !f->watched &&
        vmux__router_mode(&m->router) == VMUX_ROUTER_CLUSTER) {
        f->watched = true;
        m->role_fanouts++;
    }
    if (rc == 0) {
        f->pending = n + 1;
        for (size_t i = 0; i < n; i++)
            if (!keep_part(f, i))
                send_part(f, i, &nodes[i]);
        vmux_node_replies_free(&f->kept);
        finish_one(f); /* the start's own count: may complete the caller */
    }
    free(nodes);
    return rc;
}

/* The control op completed: with the start's error, or VMUX_ERR_CLOSED when it never ran. */
void vmux__fanout_on_started(int status, vmux_reply *reply, void *userdata)
{
    vmux_reply_free(reply);
    if (status != 0)
        deliver(userdata, status);
}

/*
 * VMUX__RERUN_REST, before the rerun: moves the first run's successes on nodes whose ROLE said
 * "master" (their address and reply) to f->kept, for keep_part(). Out of memory, none is kept.
 */
static void keep_successes(struct fanout *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->res.count; i++)
        n += f->res.nodes[i].status == 0 && f->parts[i].master;
    if (n == 0 || (f->kept.nodes = calloc(n, sizeof *f->kept.nodes)) == NULL)
        return;
    for (size_t i = 0; i < f->res.count; i++) {
        vmux_node_reply *e = &f->res.nodes[i];
        if (e->status != 0 || !f->parts[i].master)
            continue;
        f->kept.nodes[f->kept.count++] = *e;
        *e = (vmux_node_reply){.status = 1}; /* its address and reply moved */
    }
}

/*
 * The rerun's control function (rerun_later()): waits until a refresh sent after f's mark was
 * answered, then forgets the first run's parts (VMUX__RERUN_REST: but the successes it keeps)
 * and starts f again, on that map.
 */
static int restart(vmux *m, void *arg)
{
    struct fanout *f = arg;
    if (!f->ahead && !vmux__router_refreshed_since(&m->router, f->mark))
        return VMUX__CONTROL_WAIT_MAP;
    if (f->rerun_as == VMUX__RERUN_REST)
        keep_successes(f);
    vmux_node_replies_free(&f->res);
    free(f->parts);
    f->parts = NULL;
    f->reruns++;
    f->stale = f->ahead = false; /* this run's own, from now on */
    return vmux__fanout_start(m, f);
}

/*
 * The rerun's control op completed: vmux__fanout_start()'s error; or, before the rerun began, its
 * deadline (or no memory): the first run's parts are delivered, the demoted ones failing; or the
 * handle's close.
 */
static void on_restarted(int status, vmux_reply *reply, void *userdata)
{
    struct fanout *f = userdata;
    vmux_reply_free(reply);
    if (status == 0)
        return; /* vmux__fanout_start() took f over */
    f->unrefreshed = f->reruns == 0;
    deliver(f, f->reruns > 0 || status == VMUX_ERR_CLOSED ? status : 0);
}

/*
 * f (complete, stale) runs again once a map refreshed after its mark is in place: its control op
 * waits for it (vmux__wait_refresh(), by the call's deadline), the first run's parts kept until
 * then. Out of memory, they are delivered.
 */
static void rerun_later(struct fanout *f)
{
    struct vmux_op *op = vmux__op_new(0);
    if (op == NULL) {
        f->unrefreshed = true;
        deliver(f, 0);
        return;
    }
    op->flags = VMUX_OP_TRUSTED | VMUX_OP_CONTROL;
    op->timeout_ms = f->timeout_ms;
    op->deadline_ns = f->deadline_ns;
    op->control.fn = restart;
    op->control.arg = f;
    op->cb = on_restarted;
    op->userdata = f;
    vmux__run_control(f->m, op);
}

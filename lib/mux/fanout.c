/*
 * Fan-out (vmux/cluster.h): one command sent to each node of a set, the replies gathered, the
 * caller completed once every node answered or timed out.
 *
 * The node list belongs to the I/O thread (the router's map), so the call is a control op: the
 * caller encodes the command once and submits the op; on the I/O thread start() lists the nodes,
 * gives each a copy of the command (pinned: never redirected), and counts the parts in flight.
 * Every part completes exactly once (its op's rule, by the call's one deadline at the latest) and
 * finish_one() completes the caller when the last one did, so no part is lost or counted twice.
 * The start holds one count of its own, so that parts completed inside start() (a dead handle, a
 * full backlog) cannot complete the caller before every part was sent. Before detection is over
 * start() asks to wait (VMUX__CONTROL_WAIT): the control op waits with the commands that wait
 * for it, by the call's deadline, and start() runs again once the mode is known. A typed fan-out
 * (check_role) whose part met a demoted primary does not complete its caller when its last part
 * does: it waits for the map refreshed after that (rerun_later(), by the call's deadline) and runs
 * again on it, once, as its command's enum vmux__rerun says (mux/fanout.h). A part that waits
 * unsent for a node the map no longer names a primary (it died, and a refreshed map names its
 * promoted replica) is withdrawn (vmux__fanout_withdraw()) and counts as one that met a demoted
 * primary, on a map already refreshed: the rerun needs no other.
 */
#include "mux/fanout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/assert.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/errclass.h"
#include "core/explain.h"
#include "core/nocancel.h"
#include "core/reply_internal.h"
#include "core/shareable.h"
#include "core/wait.h"
#include "mux/mux.h"
#include "vmux/error.h"

struct fanout;

/* One node's part: where its completion writes, and what its node's ROLE said (check_role). */
struct fan_part {
    struct fanout *f;
    size_t i;
    bool demoted;   /* ROLE named another role than "master": the map is behind */
    bool withdrawn; /* waited unsent for a node the map no longer names a primary */
    bool master;    /* ROLE said "master" (VMUX__RERUN_REST keeps its success) */
    char role[16];  /* that role, for the part's words */
};

struct fanout {
    vmux *m;
    unsigned which;   /* VMUX_ROUTER_NODES_* */
    const char *host; /* vmux_call_node(): only this node (the caller's string), else NULL */
    int port;
    const char *id; /* vmux__fanout_call_node_id(): the node with this id, before host:port */
    bool learnt;    /* vmux__fanout_call_node_id(): the node comes from a node's view */
    bool *unknown;  /* vmux_call_node(): set when no node of the map is host:port (the caller's) */
    struct vmux_op *cmd; /* the encoded command, copied for each node; never submitted */
    uint32_t flags;      /* the parts' op flags */
    bool word_failures;  /* vmux_call_nodes(): a part that fails otherwise than with the server's
                          * error gets an error reply of vmux_call()'s words for it (worded()) */
    bool check_role;     /* vmux__fanout_call_primaries(): ROLE goes ahead of each part */
    /* check_role: a part met a node the map calls a primary that is none (ROLE, READONLY), and
     * the map refresh asked for then is the one after mark (route/router.h); the fan-out runs
     * again once, on the refreshed map (rerun), unless no refresh came in time (unrefreshed) */
    bool stale, rerun, unrefreshed;
    bool ahead;   /* stale by a withdrawn part only: the current map already moved on (no mark) */
    bool watched; /* counted in m->role_fanouts (started, check_role, in cluster mode) */
    uint64_t mark;
    enum vmux__rerun rerun_as;
    vmux_node_replies kept; /* VMUX__RERUN_REST: the first run's successes on a "master" */
    uint32_t timeout_ms;
    uint64_t deadline_ns;
    size_t pending; /* parts not yet complete, plus one while start() runs */
    vmux_node_replies res;
    struct fan_part *parts;
    vmux_node_replies_cb cb;
    void *userdata;
    bool counted; /* in the handle's pending ops from submission until freed (vmux_drain()) */
};

bool vmux__fanout_cluster(vmux *m)
{
    return vmux__router_mode(&m->router) != VMUX_ROUTER_STANDALONE;
}

/* A control op that waits (parked, by its deadline) while the router is detecting. */
static int wait_detected(vmux *m, void *arg)
{
    (void)arg;
    return vmux__router_mode(&m->router) == VMUX_ROUTER_DETECTING ? VMUX__CONTROL_WAIT : 0;
}

int vmux__fanout_settle(vmux *m, const vmux_callopts *opts)
{
    if (vmux__router_mode(&m->router) != VMUX_ROUTER_DETECTING)
        return 0;
    struct vmux_op *op = vmux__op_new(0);
    if (op == NULL)
        return VMUX_ERR_NOMEM;
    op->flags = VMUX_OP_CONTROL;
    op->control.fn = wait_detected;
    op->control.arg = NULL;
    vmux_reply *ignored = NULL;
    int rc = vmux__call_prepared(m, opts, op, &ignored); /* takes op */
    vmux_reply_free(ignored);
    return rc;
}

void vmux_node_replies_free(vmux_node_replies *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->nodes[i].address);
        vmux_reply_free(r->nodes[i].reply);
    }
    free(r->nodes);
    *r = (vmux_node_replies){0};
}

static void fanout_free(struct fanout *f)
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
    if (f->rerun)
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
                             n->address, f->rerun ? " from the fan-out's rerun" : "");
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
    fanout_free(f);
}

static void rerun_later(struct fanout *f);

/*
 * Whether f, complete, runs again on a refreshed map in place of delivering (once: a typed
 * fan-out that met a demoted primary, with time left and the handle not closing).
 */
static bool to_rerun(const struct fanout *f)
{
    return f->stale && f->rerun_as != VMUX__RERUN_NONE && !f->rerun && !f->unrefreshed &&
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
 * through finish_one()), or the error with which on_started() completes the caller.
 */
static int start(vmux *m, void *arg)
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
        finish_one(f); /* start()'s own count: may complete the caller */
    }
    free(nodes);
    return rc;
}

/* The control op completed: with start()'s error, or VMUX_ERR_CLOSED when it never ran. */
static void on_started(int status, vmux_reply *reply, void *userdata)
{
    vmux_reply_free(reply);
    if (status != 0)
        deliver(userdata, status);
}

/* Why a fan-out refuses what would block (VMUX_CALL_BLOCKING, or a blocking command). */
static const char shared_words[] = "a command sent to several nodes runs on their shared "
                                   "connections, where a blocking command would stall every caller";

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
    f->rerun = true;
    return start(m, f);
}

/*
 * The rerun's control op completed: start()'s error; or, before the rerun began, its deadline (or
 * no memory): the first run's parts are delivered, the demoted ones failing; or the handle's close.
 */
static void on_restarted(int status, vmux_reply *reply, void *userdata)
{
    struct fanout *f = userdata;
    vmux_reply_free(reply);
    if (status == 0)
        return; /* start() took f over */
    f->unrefreshed = !f->rerun;
    deliver(f, f->rerun || status == VMUX_ERR_CLOSED ? status : 0);
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

/*
 * Reads the caller's options (vmux__callopts_read()) with the only flags a fan-out takes; a
 * blocking one is VMUX_ERR_UNSUPPORTED. A synchronous call's refusal has words in the caller's
 * buffer (an asynchronous call's buffer is not used, as vmux_call_async()'s).
 */
static int read_opts(const vmux_callopts *opts, vmux_callopts *local, bool sync)
{
    const uint32_t allowed = VMUX_CALL_RETRY_SAFE | VMUX_CALL_BLOCKING;
    int rc = vmux__callopts_read(opts, allowed, local);
    if (rc != 0 && sync)
        vmux__callopts_why(local, allowed, local->errbuf, local->errlen);
    if (rc != 0 || !(local->flags & VMUX_CALL_BLOCKING))
        return rc;
    if (sync)
        vmux__errbuf_set(local->errbuf, local->errlen, "VMUX_CALL_BLOCKING: %s", shared_words);
    return VMUX_ERR_UNSUPPORTED;
}

/*
 * The words of a synchronous fan-out whose command fanout_new() refused with rc (cmd: the op it
 * made of it, or NULL): which argument (as vmux_call() says it), or why the command cannot go to
 * several nodes (as vmux_call() says it of an unshareable one); else rc's description.
 */
static void explain_command(const vmux_callopts *o, int rc, const struct vmux_op *cmd, int argc,
                            const char *const *argv, const size_t *argvlen)
{
    if (rc == VMUX_ERR_INVALID_ARG && vmux__explain_argv(o->errbuf, o->errlen, argc, argv, argvlen))
        return;
    if (rc == VMUX_ERR_UNSUPPORTED && cmd != NULL && (cmd->flags & VMUX_OP_UNSHAREABLE)) {
        vmux__unshareable_explain_resp(o->errbuf, o->errlen, cmd->cmd, cmd->len);
    } else if (rc == VMUX_ERR_UNSUPPORTED && cmd != NULL) { /* a blocking command */
        size_t len = argvlen != NULL ? argvlen[0] : strlen(argv[0]);
        vmux__errbuf_set(o->errbuf, o->errlen, "%s: %.*s blocks on the server: %s",
                         vmux_strerror(rc), (int)(len < 64 ? len : 64), argv[0], shared_words);
    } else {
        vmux__explain_refused(o->errbuf, o->errlen, rc);
    }
}

/* The refusal of a node set that is none of vmux_node_set's. */
static int bad_set(const vmux_callopts *o, vmux_node_set set, bool sync)
{
    if (sync)
        vmux__errbuf_set(o->errbuf, o->errlen,
                         "invalid argument: nodes is %d, none of VMUX_NODES_PRIMARIES, "
                         "VMUX_NODES_REPLICAS and VMUX_NODES_ALL",
                         (int)set);
    return VMUX_ERR_INVALID_ARG;
}

/*
 * Makes a fan-out of argv; the caller still sets host and port for vmux_call_node(). Refused, a
 * synchronous call (sync) has the words in o's buffer: which argument, or why that command.
 */
static int fanout_new(vmux *m, const vmux_callopts *o, vmux_node_set set, int argc,
                      const char *const *argv, const size_t *argvlen, bool sync,
                      struct fanout **out)
{
    if (set != VMUX_NODES_PRIMARIES && set != VMUX_NODES_REPLICAS && set != VMUX_NODES_ALL)
        return bad_set(o, set, sync);
    struct fanout *f = calloc(1, sizeof *f);
    int rc = f == NULL ? VMUX_ERR_NOMEM : vmux__encode_op(argc, argv, argvlen, &f->cmd);
    if (rc == 0 && (f->cmd->flags & (VMUX_OP_UNSHAREABLE | VMUX_OP_BLOCKING)))
        rc = VMUX_ERR_UNSUPPORTED;
    if (rc != 0) {
        if (sync)
            explain_command(o, rc, f != NULL ? f->cmd : NULL, argc, argv, argvlen);
        if (f != NULL)
            fanout_free(f);
        return rc;
    }
    f->m = m;
    f->which = (unsigned)set;              /* the same bits as VMUX_ROUTER_NODES_* */
    f->which |= VMUX_ROUTER_NODES_UNKNOWN; /* a primary with no address fails its part */
    f->flags = VMUX_OP_PINNED | ((o->flags & VMUX_CALL_RETRY_SAFE) ? VMUX_OP_RETRY_SAFE : 0);
    f->timeout_ms = vmux__call_timeout(m, o, sync);
    f->deadline_ns = uv_hrtime() + (uint64_t)f->timeout_ms * 1000000u;
    *out = f;
    return 0;
}

/*
 * vmux__hold(m) for a fan-out call: false, with *rc VMUX_ERR_CLOSED, once the handle is closing,
 * and false with VMUX_ERR_FORKED (nothing held) in a forked child, before any allocation (see
 * vmux__forked()).
 */
static bool hold(vmux *m, int *rc)
{
    if (!vmux__hold(m)) {
        *rc = VMUX_ERR_CLOSED;
        return false;
    }
    if (!vmux__forked(m))
        return true;
    vmux__leave(m);
    *rc = VMUX_ERR_FORKED;
    return false;
}

/*
 * Submits f's control op from a caller that holds m (vmux__hold()); takes f (refused: freed, the
 * error returned, cb never runs).
 */
static int fanout_submit(vmux *m, struct fanout *f)
{
    struct vmux_op *op = vmux__op_new(0);
    if (op == NULL) {
        fanout_free(f);
        return VMUX_ERR_NOMEM;
    }
    op->flags = VMUX_OP_TRUSTED | VMUX_OP_CONTROL;
    op->timeout_ms = f->timeout_ms; /* its deadline, should it wait for detection */
    op->control.fn = start;
    op->control.arg = f;
    op->cb = on_started;
    op->userdata = f;
    /* A control op is no command, so nothing counts the call until its parts are sent: until then
     * (waiting for detection, say) vmux_drain() would not wait for it. Held apart from pending: its
     * parts meet maxPending as they are sent, and a fan-out must not take one of their places. */
    vmux__counters_call_held(&m->ctr);
    f->counted = true;
    int rc = vmux__submit(m, op); /* refused: op freed, on_started never runs */
    if (rc != 0)
        fanout_free(f);
    return rc;
}

_Static_assert(VMUX_NODES_PRIMARIES == VMUX_ROUTER_NODES_PRIMARIES &&
                   VMUX_NODES_REPLICAS == VMUX_ROUTER_NODES_REPLICAS,
               "the public node sets are the router's bits");

/* ---- the synchronous forms: the caller sleeps until the completion rings (core/wait.h) ---- */

struct fan_wait {
    atomic_int state; /* core/wait.h */
    int status;
    vmux_node_replies *res;
};

static void wait_done(int status, vmux_node_replies *result, void *userdata)
{
    struct fan_wait *w = userdata;
    w->status = status;
    w->res = result;
    vmux__wait_wake(&w->state); /* the caller may return from here on */
}

/*
 * Runs f (taken) and waits; returns its status with the parts in *res (the caller frees). The
 * caller holds m; this lets go of it once f is handed over, and does not touch m after.
 */
static int run_and_wait(vmux *m, struct fanout *f, vmux_node_replies *res)
{
    struct fan_wait w = {.state = VMUX_WAIT_IDLE};
    f->cb = wait_done;
    f->userdata = &w;
    int cancel = vmux__nocancel();
    int rc = fanout_submit(m, f);
    vmux__leave(m); /* vmux_close() may free m once f completes */
    if (rc == 0) {
        vmux__wait_sleep(&w.state);
        rc = w.status;
    }
    vmux__cancel_restore(cancel);
    if (w.res != NULL) {
        *res = *w.res;
        free(w.res);
    }
    return rc;
}

/* The words of a fan-out that ended with rc and no reply (refused, or its control op ended), or
 * of one refused because it was made from a callback (on_io). */
static void explain_call(const vmux_callopts *o, int rc, bool on_io)
{
    if (on_io)
        vmux__errbuf_set(o->errbuf, o->errlen, "%s", vmux__on_io_thread_words);
    else if (rc != 0)
        vmux__explain_refused(o->errbuf, o->errlen, rc);
}

/* The parts that fail unsent or lost bring why (VMUX_OP_TELL_WHY), put in words (part_done()). */
static void word_failures(struct fanout *f)
{
    f->flags |= VMUX_OP_TELL_WHY;
    f->word_failures = true;
}

/*
 * vmux_call_nodes(); own: the library's own command, read under the default reply limits;
 * check_role: ROLE goes ahead of each primary's part (vmux__fanout_call_primaries()).
 */
static int call_nodes(vmux *m, const vmux_callopts *opts, vmux_node_set nodes, int argc,
                      const char *const *argv, const size_t *argvlen, bool own, bool check_role,
                      enum vmux__rerun rerun, vmux_node_replies *out)
{
    vmux_callopts o = {.size = sizeof o};
    vmux_node_replies res = {0};
    struct fanout *f = NULL;
    if (out != NULL)
        *out = res;
    int rc = m == NULL ? VMUX_ERR_INVALID_ARG : read_opts(opts, &o, true);
    bool worded = m != NULL && rc != 0; /* read_opts() said why (or fanout_new(), below) */
    bool held = rc == 0 && hold(m, &rc);
    bool on_io = held && vmux__on_io_thread(m);
    if (on_io)
        rc = VMUX_ERR_INVALID_ARG;
    if (rc == 0)
        worded = (rc = fanout_new(m, &o, nodes, argc, argv, argvlen, true, &f)) != 0;
    if (rc == 0) {
        f->flags |= own ? VMUX_OP_OWN : 0;
        f->check_role = check_role;
        f->rerun_as = rerun;
        word_failures(f);
        rc = run_and_wait(m, f, &res); /* lets go of m */
    } else if (held) {
        vmux__leave(m);
    }
    if (rc == 0 && out != NULL)
        *out = res;
    else
        vmux_node_replies_free(&res);
    if (!worded)
        explain_call(&o, rc, on_io);
    return rc;
}

int vmux_call_nodes(vmux *m, const vmux_callopts *opts, vmux_node_set nodes, int argc,
                    const char *const *argv, const size_t *argvlen, vmux_node_replies *out)
{
    return call_nodes(m, opts, nodes, argc, argv, argvlen, false, false, VMUX__RERUN_NONE, out);
}

int vmux__fanout_call_primaries(vmux *m, const vmux_callopts *opts, enum vmux__rerun rerun,
                                int argc, const char *const *argv, const size_t *argvlen,
                                vmux_node_replies *out)
{
    return call_nodes(m, opts, VMUX_NODES_PRIMARIES, argc, argv, argvlen, false, true, rerun, out);
}

int vmux__fanout_call_nodes_own(vmux *m, const vmux_callopts *opts, vmux_node_set nodes, int argc,
                                const char *const *argv, vmux_node_replies *out)
{
    return call_nodes(m, opts, nodes, argc, argv, NULL, true, false, VMUX__RERUN_NONE, out);
}

int vmux_call_nodes_async(vmux *m, const vmux_callopts *opts, vmux_node_set nodes, int argc,
                          const char *const *argv, const size_t *argvlen, vmux_node_replies_cb cb,
                          void *userdata)
{
    vmux_callopts o;
    struct fanout *f = NULL;
    int rc = m == NULL || cb == NULL ? VMUX_ERR_INVALID_ARG : read_opts(opts, &o, false);
    if (rc != 0 || !hold(m, &rc))
        return rc;
    rc = fanout_new(m, &o, nodes, argc, argv, argvlen, false, &f);
    if (rc == 0) {
        word_failures(f);
        f->cb = cb;
        f->userdata = userdata;
        rc = fanout_submit(m, f);
    }
    vmux__leave(m);
    return rc;
}

/* The words of a call to a node the map does not have: which node, and why (more than "invalid
 * argument"); learnt: it was learnt from a node's view, so it may have left or the map be behind.
 */
static void node_unknown_words(const vmux_callopts *o, const char *id, bool learnt,
                               const char *host, int port)
{
    if (learnt)
        vmux__errbuf_set(o->errbuf, o->errlen,
                         "%s:%d (node %.40s): no node of the handle's current map has this id or "
                         "this address (it left the cluster, or the map is behind and is being "
                         "refreshed); not sent",
                         host, port, id != NULL ? id : "?");
    else
        vmux__errbuf_set(o->errbuf, o->errlen,
                         "%s:%d: no node of the handle's current map has this address", host, port);
}

/*
 * vmux_call_node(), and by node id too when id is not NULL; learnt: the node was learnt from a
 * node's view (vmux__fanout_call_node_id()), so a map without it is no bad argument.
 */
static int call_node(vmux *m, const vmux_callopts *opts, const char *id, bool learnt, bool own,
                     const char *host, int port, int argc, const char *const *argv,
                     const size_t *argvlen, vmux_reply **out)
{
    vmux_callopts o = {.size = sizeof o};
    vmux_node_replies res = {0};
    struct fanout *f = NULL;
    bool unknown = false;
    if (out != NULL)
        *out = NULL;
    int rc = m == NULL ? VMUX_ERR_INVALID_ARG : read_opts(opts, &o, true);
    bool worded = m != NULL && rc != 0; /* read_opts() said why (or fanout_new(), below) */
    if (rc == 0 && host == NULL) {
        vmux__errbuf_set(o.errbuf, o.errlen, "invalid argument: host is NULL");
        rc = VMUX_ERR_INVALID_ARG;
        worded = true;
    }
    bool held = rc == 0 && hold(m, &rc);
    bool on_io = held && vmux__on_io_thread(m);
    if (on_io)
        rc = VMUX_ERR_INVALID_ARG;
    if (rc == 0)
        worded = (rc = fanout_new(m, &o, VMUX_NODES_ALL, argc, argv, argvlen, true, &f)) != 0;
    if (rc == 0) {
        f->host = host;
        f->port = port;
        f->id = id;
        f->learnt = learnt;
        f->unknown = &unknown;
        /* failing unsent or lost, the part brings why (its words, not a reply for *out) */
        f->flags |= (own ? VMUX_OP_OWN : 0) | VMUX_OP_TELL_WHY;
        rc = run_and_wait(m, f, &res); /* lets go of m */
    } else if (held) {
        vmux__leave(m);
    }
    vmux_reply *said = NULL; /* the node's reply, or the why of its failure */
    if (rc == 0 && res.count == 1) {
        rc = res.nodes[0].status;
        said = res.nodes[0].reply;
        res.nodes[0].reply = NULL;
    }
    if (unknown && learnt) /* a node that left (a failover), or a map behind: transient */
        rc = VMUX_ERR_NOT_CONNECTED;
    if (unknown)
        node_unknown_words(&o, id, learnt, host, port);
    else if (on_io)
        explain_call(&o, rc, true);
    else if (!worded && rc != 0)
        vmux__explain(o.errbuf, o.errlen, rc, said);
    if (out != NULL && (rc == 0 || rc == VMUX_ERR_SERVER))
        *out = said;
    else
        vmux_reply_free(said);
    vmux_node_replies_free(&res);
    return rc;
}

int vmux_call_node(vmux *m, const vmux_callopts *opts, const char *host, int port, int argc,
                   const char *const *argv, const size_t *argvlen, vmux_reply **out)
{
    return call_node(m, opts, NULL, false, false, host, port, argc, argv, argvlen, out);
}

int vmux__fanout_call_node_id(vmux *m, const vmux_callopts *opts, const char *id, const char *host,
                              int port, bool own, int argc, const char *const *argv,
                              const size_t *argvlen, vmux_reply **out)
{
    return call_node(m, opts, id, true, own, host, port, argc, argv, argvlen, out);
}

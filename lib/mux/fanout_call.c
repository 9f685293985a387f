/*
 * Fan-out, the callers' side (vmux/cluster.h): vmux_call_nodes(), vmux_call_node() and the typed
 * fan-outs' entry (mux/fanout.h). A call checks its options, encodes the command once, and submits
 * a control op whose function, vmux__fanout_start(), runs the fan-out on the I/O thread
 * (mux/fanout.c); a synchronous call sleeps until the completion rings (core/wait.h). Refused, a
 * synchronous call leaves words in the caller's buffer: which argument, or why that command.
 */
#include "mux/fanout_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/errbuf.h"
#include "core/explain.h"
#include "core/nocancel.h"
#include "core/shareable.h"
#include "core/wait.h"
#include "vmux/error.h"

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

/* Why a fan-out refuses what would block (VMUX_CALL_BLOCKING, or a blocking command). */
static const char shared_words[] = "a command sent to several nodes runs on their shared "
                                   "connections, where a blocking command would stall every caller";

/*
 * Reads the caller's options (vmux__callopts_read()) with the only flags a fan-out takes; a
 * blocking one is VMUX_ERR_UNSUPPORTED. A refusal has words in the caller's buffer, through the
 * copy (as far as the caller's size goes), as vmux_call_async()'s do for an asynchronous call.
 */
static int read_opts(const vmux_callopts *opts, vmux_callopts *local)
{
    const uint32_t allowed = VMUX_CALL_RETRY_SAFE | VMUX_CALL_BLOCKING;
    int rc = vmux__callopts_read(opts, allowed, local);
    if (rc != 0)
        vmux__callopts_why(local, allowed, local->errbuf, local->errlen);
    if (rc != 0 || !(local->flags & VMUX_CALL_BLOCKING))
        return rc;
    vmux__errbuf_set(local->errbuf, local->errlen, "VMUX_CALL_BLOCKING: %s", shared_words);
    return VMUX_ERR_UNSUPPORTED;
}

/*
 * The words of a fan-out whose command fanout_new() refused with rc (cmd: the op it
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
static int bad_set(const vmux_callopts *o, vmux_node_set set)
{
    vmux__errbuf_set(o->errbuf, o->errlen,
                     "invalid argument: nodes is %d, none of VMUX_NODES_PRIMARIES, "
                     "VMUX_NODES_REPLICAS and VMUX_NODES_ALL",
                     (int)set);
    return VMUX_ERR_INVALID_ARG;
}

/*
 * Makes a fan-out of argv (sync: a synchronous call's, for its default timeout); the caller still
 * sets host and port for vmux_call_node(). Refused, the words are in o's buffer: which argument,
 * or why that command.
 */
static int fanout_new(vmux *m, const vmux_callopts *o, vmux_node_set set, int argc,
                      const char *const *argv, const size_t *argvlen, bool sync,
                      struct fanout **out)
{
    if (set != VMUX_NODES_PRIMARIES && set != VMUX_NODES_REPLICAS && set != VMUX_NODES_ALL)
        return bad_set(o, set);
    struct fanout *f = calloc(1, sizeof *f);
    int rc = f == NULL ? VMUX_ERR_NOMEM : vmux__encode_op(argc, argv, argvlen, &f->cmd);
    if (rc == 0 && (f->cmd->flags & (VMUX_OP_UNSHAREABLE | VMUX_OP_BLOCKING)))
        rc = VMUX_ERR_UNSUPPORTED;
    if (rc != 0) {
        explain_command(o, rc, f != NULL ? f->cmd : NULL, argc, argv, argvlen);
        if (f != NULL)
            vmux__fanout_free(f);
        return rc;
    }
    f->m = m;
    f->which = (unsigned)set;              /* the same bits as VMUX_ROUTER_NODES_* */
    f->which |= VMUX_ROUTER_NODES_UNKNOWN; /* a primary with no address fails its part */
    f->flags = VMUX_OP_PINNED | ((o->flags & VMUX_CALL_RETRY_SAFE) ? VMUX_OP_RETRY_SAFE : 0) |
               (f->cmd->flags & VMUX_OP_SPUBLISH); /* each part's 0 receivers: a hint too */
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
        vmux__fanout_free(f);
        return VMUX_ERR_NOMEM;
    }
    op->flags = VMUX_OP_TRUSTED | VMUX_OP_CONTROL;
    op->timeout_ms = f->timeout_ms; /* its deadline, should it wait for detection */
    op->control.fn = vmux__fanout_start;
    op->control.arg = f;
    op->cb = vmux__fanout_on_started;
    op->userdata = f;
    /* A control op is no command, so nothing counts the call until its parts are sent: until then
     * (waiting for detection, say) vmux_drain() would not wait for it. Held apart from pending: its
     * parts meet maxPending as they are sent, and a fan-out must not take one of their places. */
    vmux__counters_call_held(&m->ctr);
    f->counted = true;
    int rc = vmux__submit(m, op); /* refused: op freed, vmux__fanout_on_started() never runs */
    if (rc != 0)
        vmux__fanout_free(f);
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

/* A fan-out with no handle (what: "the handle") or callback ("cb"): VMUX_ERR_INVALID_ARG, words
 * in o's buffer as vmux_call() says them (over what read_opts() said of the options: the handle
 * comes first). */
static int refuse_null(const vmux_callopts *o, const char *what)
{
    vmux__errbuf_set(o->errbuf, o->errlen, "invalid argument: %s is NULL", what);
    return VMUX_ERR_INVALID_ARG;
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
    int rc = read_opts(opts, &o);
    bool worded = rc != 0; /* read_opts() said why (or fanout_new(), below) */
    if (m == NULL)
        worded = (rc = refuse_null(&o, "the handle")) != 0;
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
    vmux_callopts o = {.size = sizeof o};
    struct fanout *f = NULL;
    int rc = read_opts(opts, &o); /* first: words then go only as far as the caller's size */
    if (m == NULL || cb == NULL)
        rc = refuse_null(&o, m == NULL ? "the handle" : "cb");
    if (rc != 0)
        return rc;
    if (!hold(m, &rc)) {
        explain_call(&o, rc, false);
        return rc;
    }
    rc = fanout_new(m, &o, nodes, argc, argv, argvlen, false, &f); /* refused: words in o */
    if (rc == 0) {
        word_failures(f);
        f->cb = cb;
        f->userdata = userdata;
        if ((rc = fanout_submit(m, f)) != 0)
            explain_call(&o, rc, false);
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
    int rc = read_opts(opts, &o);
    bool worded = rc != 0; /* read_opts() said why (or fanout_new(), below) */
    if (m == NULL)
        worded = (rc = refuse_null(&o, "the handle")) != 0;
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

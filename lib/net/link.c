/*
 * The link: backlog, reconnection with backoff, and the choice of endpoint. See link.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/assert.h"
#include "core/errbuf.h"
#include "core/log.h"
#include "core/strout.h"
#include "net/link_internal.h"
#include "net/sentinel.h"
#include "vmux/error.h"

/*
 * Why commands wait while a freeze's check runs (LINK_CHECKING): its PING not answered yet. The
 * link has no failure then, and a command that timed out waiting said only "timed out".
 */
static const char *checking_why(const struct vmux_conn *c)
{
    static _Thread_local char why[VMUX_REASON_SIZE]; /* taken at once (vmux__op_why()) */
    uint64_t waited = c->check_started != 0 ? uv_now(c->link->loop) - c->check_started : 0;
    vmux__errbuf_set(why, sizeof why,
                     "%s: none: the connection is being checked, as the I/O thread stood still "
                     "for over 3 s (the process was suspended, or a callback blocked it); its "
                     "PING unanswered for %llu ms",
                     c->where, (unsigned long long)waited);
    return why;
}

/*
 * The backlog's why (core/op.h): its link's last connection failure while it has none ready, or,
 * before any failed, how far the attempt under way got: a first handshake that hangs left a
 * timed-out command with no reason at all (probe40).
 */
static const char *backlog_why(const struct vmux_opq *q)
{
    const struct vmux_link *link =
        (const struct vmux_link *)((const char *)q - offsetof(struct vmux_link, backlog));
    if (link->state == LINK_CHECKING && link->conn != NULL)
        return checking_why(link->conn);
    const char *failure = vmux__link_last_failure(link);
    /* a connection being replaced (READONLY, MOVED) is past setup */
    if (failure != NULL || link->state != LINK_CONNECTING || link->conn == NULL ||
        vmux__conn_retiring(link->conn))
        return failure;
    static _Thread_local char why[VMUX_REASON_SIZE]; /* taken at once (vmux__op_why()) */
    vmux__errbuf_set(why, sizeof why, "%s: none yet: the attempt under way has not finished %s",
                     link->conn->where, vmux__conn_stage(link->conn));
    return why;
}

int vmux__link_new(uv_loop_t *loop, const struct vmux_config *cfg, vmux_tls_ctx *tls_ctx,
                   struct vmux_counters *ctr, const struct vmux_link_events *events, void *arg,
                   struct vmux_link **out)
{
    struct vmux_link *link = calloc(1, sizeof(*link));
    if (link == NULL)
        return VMUX_ERR_NOMEM;
    link->loop = loop;
    link->cfg = cfg;
    link->tls_ctx = tls_ctx;
    link->ctr = link->home = ctr;
    link->limits.max_bulk = cfg->max_bulk_length;
    link->limits.max_elements = cfg->max_reply_elements;
    link->limits.max_buffer = cfg->max_reply_buffer;
    link->events = *events;
    link->arg = arg;
    /* readFrom (docs/replicas.md); a cluster handle's seed and node links until the map says
     * their node is a primary (vmux__link_set_readonly()); a standalone server ignores it */
    link->readonly =
        cfg->read_from != VMUX_READ_PRIMARY || cfg->cluster_node || cfg->cluster != VMUX_CLUSTER_NO;
    link->state = LINK_DOWN;
    link->backlog.why = backlog_why;
    link->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)link;
    uv_timer_init(loop, &link->backoff);
    uv_timer_init(loop, &link->retry_timer);
    link->backoff.data = link->retry_timer.data = link;
    /* without it (out of memory) the words name the last endpoint's failure only */
    if (cfg->nendpoints > 1)
        link->ep_failures = calloc(cfg->nendpoints, sizeof *link->ep_failures);
    *out = link;
    return 0;
}

/*
 * The moves a link may make. DOWN -> CONNECTING: an attempt starts. CONNECTING -> READY: its
 * session is set up. READY -> CHECKING: the process was frozen; CHECKING -> READY: the PING
 * answered. READY or CHECKING -> CONNECTING: READONLY (or vmux__link_replace_conn()) retires the
 * connection. Anything but
 * CLOSED -> DOWN: an attempt or a connection failed; -> CLOSED: the owner closes the link.
 * Nothing leaves CLOSED.
 */
static bool transition_legal(enum vmux_link_state from, enum vmux_link_state to)
{
    switch (to) {
    case LINK_CONNECTING:
        return from == LINK_DOWN || from == LINK_READY || from == LINK_CHECKING;
    case LINK_READY:
        return from == LINK_CONNECTING || from == LINK_CHECKING;
    case LINK_CHECKING:
        return from == LINK_READY;
    case LINK_DOWN:
    case LINK_CLOSED:
        return from != LINK_CLOSED;
    }
    return false;
}

/* Moves the link's share of a gauge from *pub to v (several links may count in one block). */
static void publish(_Atomic uint64_t *g, uint64_t *pub, uint64_t v)
{
    if (v != *pub)
        vmux__count(g, v - *pub); /* a decrease wraps to the same sum */
    *pub = v;
}

/* Moves the link's share *pub of a gauge from one block's to another's. */
static void move_share(_Atomic uint64_t *from, _Atomic uint64_t *to, uint64_t *pub)
{
    uint64_t v = *pub;
    publish(from, pub, 0);
    publish(to, pub, v);
}

/* The one place a link's state changes; the connected gauge follows it at once. */
static void link_set_state(struct vmux_link *link, enum vmux_link_state to)
{
    VMUX_ASSERT(transition_legal(link->state, to));
    link->state = to;
    if (!link->auxiliary)
        publish(&link->ctr->connected, &link->pub_connected,
                to == LINK_READY || to == LINK_CHECKING);
}

bool vmux__link_live(const struct vmux_link *link)
{
    return link->state == LINK_READY || link->state == LINK_CHECKING;
}

void vmux__link_retire_conn(struct vmux_link *link, struct vmux_conn *c, const char *why,
                            bool at_once)
{
    VMUX_ASSERT(c->retire == CONN_SERVING);
    c->retire = at_once ? CONN_RETIRE_AT_ONCE : CONN_RETIRE_DRAINED;
    c->retire_why = why;
    link_set_state(link, LINK_CONNECTING);
}

/* Publishes the backlog and in-flight depths for vmux_read_stats(). */
static void link_gauges(struct vmux_link *link)
{
    if (link->auxiliary)
        return;
    publish(&link->ctr->backlog, &link->pub_backlog, link->backlog.count);
    publish(&link->ctr->in_flight, &link->pub_in_flight,
            link->conn != NULL ? link->conn->fifo.count : 0);
}

void vmux__link_count_as(struct vmux_link *link, const char *host, int port)
{
    struct vmux_counters *home = link->home, *to;
    if (home->by_node == NULL || (to = home->by_node(home->by_node_arg, host, port)) == NULL ||
        to == link->ctr)
        return; /* not counted per node, the same node, or out of memory: it counts where it did */
    move_share(&link->ctr->backlog, &to->backlog, &link->pub_backlog);
    move_share(&link->ctr->in_flight, &to->in_flight, &link->pub_in_flight);
    move_share(&link->ctr->connected, &to->connected, &link->pub_connected);
    link->ctr = to;
}

void vmux__link_connect_to(struct vmux_link *link, const struct vmux_endpoint *ep)
{
    VMUX_ASSERT(link->conn == NULL && link->state == LINK_CONNECTING);
    vmux__link_count_as(link, ep->host, ep->port); /* the node it dials */
    struct vmux_conn *c = vmux__conn_new(link, ep);
    if (c == NULL) {
        vmux__link_conn_failed(link, VMUX_ERR_NOMEM, "out of memory");
        return;
    }
    link->conn = c;
    link->conns++;
    vmux__conn_begin(c);
}

/* The endpoint the next attempt dials: next_endpoint's, past those another link serves. */
static const struct vmux_endpoint *next_endpoint(struct vmux_link *link)
{
    size_t n = link->cfg->nendpoints;
    for (size_t skipped = 0; link->events.served != NULL && skipped + 1 < n; skipped++) {
        if (!link->events.served(link, &link->cfg->endpoints[link->next_endpoint % n], link->arg))
            break;
        link->next_endpoint++;
    }
    return &link->cfg->endpoints[link->next_endpoint % n];
}

/* An attempt: to the next endpoint, or (Sentinel) to where the sentinels say the primary is. */
static void link_connect(struct vmux_link *link)
{
    link_set_state(link, LINK_CONNECTING);
    if (link->sentinel != NULL)
        vmux__sentinel_resolve(link->sentinel, link);
    else
        vmux__link_connect_to(link, next_endpoint(link));
}

void vmux__link_start(struct vmux_link *link)
{
    link_connect(link);
}

static void on_backoff(uv_timer_t *t)
{
    link_connect(t->data);
}

/* How long a connection stays ready before its break counts as a working one's: a tick. */
#define LIVED_MS 1000

uint64_t vmux__link_random(struct vmux_link *link)
{
    /* xorshift64*: jitter needs spread, not secrecy */
    link->rng ^= link->rng >> 12;
    link->rng ^= link->rng << 25;
    link->rng ^= link->rng >> 27;
    return link->rng * 2685821657736338717ull;
}

/*
 * Exponential backoff with jitter: attempt n waits a random time between reconnectMin and
 * min(reconnectMax, reconnectMin * 2^(n+1)), so clients that lost a server together do not
 * return together.
 */
static uint64_t backoff_ms(struct vmux_link *link, bool was_ready)
{
    uint64_t lo = (uint64_t)link->cfg->reconnect_min_ms, hi = (uint64_t)link->cfg->reconnect_max_ms;
    unsigned n = link->retries++;
    /* READONLY again and again (a lone replica): wait longer each time */
    if (link->demoted > n + 1)
        n = link->demoted - 1;
    if (n == 0 && was_ready)
        return 0; /* a working connection broke: try again at once */
    uint64_t cap = lo << (n < 20 ? n + 1 : 20);
    if (cap > hi)
        cap = hi;
    return lo + vmux__link_random(link) % (cap - lo + 1);
}

/* What an op that was sent and never answered learns when its connection fails. */
static int sent_status_for(int code)
{
    return code == VMUX_ERR_PROTOCOL ? VMUX_ERR_PROTOCOL : VMUX_ERR_CONNECTION_LOST;
}

/* The index in cfg's endpoints of the one c dialled, or -1 (Sentinel's answer, a node's). */
static ptrdiff_t endpoint_index(const struct vmux_link *link, const struct vmux_conn *c)
{
    const struct vmux_endpoint *first = link->cfg->endpoints;
    if (c == NULL || link->ep_failures == NULL || c->ep < first ||
        c->ep >= first + link->cfg->nendpoints)
        return -1;
    return c->ep - first;
}

/*
 * Records reason as the link's last failure. With several endpoints it is kept as c's endpoint's,
 * and the last failure says each endpoint's in their order ("a:1: refused; b:2: not the
 * primary"): the newest alone would name a healthy replica's refusal while the primary is down.
 */
static void record_failure(struct vmux_link *link, const struct vmux_conn *c, const char *reason)
{
    ptrdiff_t i = endpoint_index(link, c);
    if (i < 0) {
        vmux__errbuf_set(link->last_reason, sizeof link->last_reason, "%s", reason);
        return;
    }
    vmux__errbuf_set(link->ep_failures[i], sizeof link->ep_failures[i], "%s", reason);
    struct vmux_strout out = {.buf = link->last_reason, .len = sizeof link->last_reason};
    link->last_reason[0] = '\0';
    for (size_t j = 0; j < link->cfg->nendpoints; j++) {
        if (link->ep_failures[j][0] != '\0')
            vmux__strout_put(&out, "%s%s", out.total > 0 ? "; " : "", link->ep_failures[j]);
    }
}

/* A ready connection: the endpoints' failures are history. */
static void forget_failures(struct vmux_link *link)
{
    for (size_t j = 0; link->ep_failures != NULL && j < link->cfg->nendpoints; j++)
        link->ep_failures[j][0] = '\0';
}

/*
 * Whether failFast fails a command submitted now, while no connection is ready: not while a
 * freeze's check runs (the connection is there), nor on a link whose first attempt is still
 * under way (vmux__link_wait_first(): no connection is known to be missing yet).
 */
static bool fails_fast(const struct vmux_link *link)
{
    return link->cfg->backlog_policy == VMUX_BACKLOG_FAIL_FAST && !link->auxiliary &&
           link->state != LINK_CHECKING && !link->first_wait;
}

/*
 * The first attempt of a link that waited for it (vmux__link_wait_first()) failed: the commands
 * that waited fail as failFast fails one submitted now, with that failure as words. Called after
 * the owner's failed event, which may have sent elsewhere what could go (a replica's reads).
 */
static void fail_first_waiters(struct vmux_link *link)
{
    if (!fails_fast(link) || link->backlog.count == 0)
        return;
    struct vmux_opq q = {0};
    vmux__opq_take(&q, &link->backlog); /* a completion's new op must not join the walk */
    link_gauges(link);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        VMUX_ASSERT(!op->done); /* an op that times out in a backlog leaves it (vmux__op_expire) */
        vmux__op_finish(op, VMUX_ERR_NOT_CONNECTED,
                        vmux__op_why(op, vmux__link_last_failure(link)));
    }
}

void vmux__link_conn_failed(struct vmux_link *link, int code, const char *fmt, ...)
{
    char reason[VMUX_REASON_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    struct vmux_conn *c = link->conn;
    bool failure = c == NULL || !c->renewed; /* a renewal is not one: not reported, not counted */
    bool first = link->first_wait;           /* failFast's patience ends with the first attempt */
    link->first_wait = false;
    if (failure) {
        record_failure(link, c, reason);
        link->last_error = code;
    }

    vmux__lane_shut(link);
    /* A connection replaced on the node's word (MOVED to itself) is followed at once, to the
     * same endpoint, as a working connection that broke is. */
    bool was_ready = vmux__link_live(link) || (c != NULL && c->retire == CONN_RETIRE_AT_ONCE);
    if (was_ready && c != NULL && c->served)
        link->retries = 0; /* it worked: its break is retried at once (or: vmux__link_tick()) */
    link->conn = NULL;
    link_set_state(link, LINK_DOWN);
    if (c != NULL && link->sentinel != NULL)
        vmux__sentinel_refused(link->sentinel, c->ep, c->not_primary);
    if (c != NULL && link->tracking.lost != NULL)
        link->tracking.lost(link, link->tracking.arg);
    if (c != NULL)
        vmux__conn_end(c, true, 0, sent_status_for(code));
    vmux__opq_prepend(&link->backlog, &link->rejected);
    link_gauges(link);
    /* Counted after the gauges: whoever sees the failure counted sees the backlog it left. */
    if (failure)
        vmux__count(&link->ctr->connect_failures, 1);
    if (!was_ready)
        link->next_endpoint++;
    link->events.failed(link, code, reason, link->arg);
    if (first)
        fail_first_waiters(link);
    if (link->state == LINK_DOWN)
        uv_timer_start(&link->backoff, on_backoff, backoff_ms(link, was_ready), 0);
}

/* Writes every backlogged op on the new connection, in order. */
static void link_drain_backlog(struct vmux_link *link)
{
    struct vmux_opq q = {0};
    vmux__opq_take(&q, &link->backlog);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        VMUX_ASSERT(!op->done); /* an op that times out in a backlog leaves it (vmux__op_expire) */
        vmux__conn_write_op(link->conn, op);
    }
}

void vmux__link_conn_ready(struct vmux_link *link)
{
    bool checked = link->state == LINK_CHECKING;
    vmux__lone_fail_held(link); /* before READY: what their callbacks submit queues behind */
    link_set_state(link, LINK_READY);
    link->first_wait = false;
    if (!checked)
        link->ready_since = uv_now(link->loop); /* retries reset once it lived, or served */
    forget_failures(link);
    if (!checked)
        vmux__count(&link->ctr->connects, 1);
    link_drain_backlog(link);
    link_gauges(link);
    if (!checked && link->tracking.ready != NULL)
        link->tracking.ready(link, link->tracking.arg);
    if (!checked && link->conn != NULL)
        link->events.ready(link, link->conn->where, link->arg);
    if (link->conn != NULL)
        vmux__lane_open(link);
}

/* Completes op with VMUX_ERR_BACKLOG_FULL, its why naming the bound and the last failure. */
static void refuse_backlog_full(const struct vmux_link *link, struct vmux_op *op)
{
    const char *failure = vmux__link_last_failure(link);
    char why[VMUX_REASON_SIZE + 96];
    vmux__errbuf_set(why, sizeof why,
                     "the backlog holds backlogSize (%d) commands waiting for a connection%s%s",
                     link->cfg->backlog_size, failure != NULL ? "; last connection failure: " : "",
                     failure != NULL ? failure : "");
    vmux__op_finish(op, VMUX_ERR_BACKLOG_FULL, vmux__op_why(op, why));
}

size_t vmux__link_holds(const struct vmux_link *link)
{
    return link->backlog.count + (link->conn != NULL ? link->conn->fifo.count : 0);
}

/* Whether link's connection has answered nothing for VMUX_SHARE_STALL_MS while it owes replies. */
static bool stalled(const struct vmux_link *link)
{
    const struct vmux_conn *c = link->conn;
    return c == NULL ||
           (c->waiting_since != 0 && uv_now(link->loop) - c->waiting_since >= VMUX_SHARE_STALL_MS);
}

bool vmux__link_stalled(const struct vmux_link *link)
{
    return link->conn != NULL && vmux__link_live(link) && stalled(link);
}

void vmux__link_end_stalled(struct vmux_link *link, const char *why)
{
    if (!vmux__link_stalled(link))
        return;
    struct vmux_conn *c = link->conn;
    vmux__lane_shut(link);
    vmux__conn_fail(c, VMUX_ERR_IO, "no reply for %llu ms while commands wait: %s",
                    (unsigned long long)(uv_now(link->loop) - c->waiting_since), why);
}

bool vmux__link_over_share(const struct vmux_link *link, size_t share)
{
    if (vmux__link_holds(link) < share)
        return false; /* the common case: one compare */
    if (vmux__link_live(link))
        return stalled(link); /* a node that answers keeps its pipeline, however deep */
    /* Where vmux__link_submit() refuses the op anyway, its own words say why (closed, failFast,
     * a full backlog). */
    return link->state != LINK_CLOSED && !fails_fast(link) &&
           link->backlog.count < (size_t)link->cfg->backlog_size;
}

void vmux__link_submit(struct vmux_link *link, struct vmux_op *op)
{
    if (link->state == LINK_CLOSED) {
        vmux__op_finish(op, VMUX_ERR_CLOSED, vmux__op_closed_why(op)); /* never written */
    } else if (link->state == LINK_READY) {
        vmux__conn_write_op(link->conn, op);
    } else if (fails_fast(link)) {
        vmux__op_finish(op, VMUX_ERR_NOT_CONNECTED,
                        vmux__op_why(op, vmux__link_last_failure(link)));
    } else if (link->backlog.count >= (size_t)link->cfg->backlog_size) {
        refuse_backlog_full(link, op);
    } else {
        vmux__opq_push(&link->backlog, op);
    }
}

static void on_link_timer_closed(uv_handle_t *h)
{
    struct vmux_link *link = h->data;
    if (--link->open_timers == 0) {
        free(link->ep_failures);
        free(link);
    }
}

void vmux__link_close(struct vmux_link *link)
{
    vmux__lane_shut(link);
    if (link->sentinel != NULL)
        vmux__sentinel_detach(link->sentinel, link);
    link_set_state(link, LINK_CLOSED);
    uv_timer_stop(&link->backoff);
    struct vmux_conn *c = link->conn;
    link->conn = NULL;
    if (c != NULL)
        vmux__conn_end(c, false, VMUX_ERR_CLOSED, VMUX_ERR_CLOSED);
    vmux__opq_fail_all(&link->rejected, VMUX_ERR_CLOSED);
    vmux__opq_fail_all(&link->backlog, VMUX_ERR_CLOSED);
    for (int i = 0; i < VMUX_LINK_RETRY_LEVELS; i++)
        vmux__opq_fail_all(&link->retry_q[i], VMUX_ERR_CLOSED);
    link_gauges(link); /* its share of the gauges leaves with it */
    link->open_timers = 2;
    uv_close((uv_handle_t *)&link->backoff, on_link_timer_closed);
    uv_close((uv_handle_t *)&link->retry_timer, on_link_timer_closed);
}

void vmux__link_tick(struct vmux_link *link, bool frozen)
{
    struct vmux_conn *c = link->conn;
    if (c == NULL) {
        link_gauges(link); /* ops that expired in the backlog while the link is down */
        return;
    }
    vmux__lane_shut(link);
    if (link->state == LINK_READY && !vmux__conn_retiring(c))
        link->demoted = 0; /* a connection that no READONLY retired since the last tick */
    uint64_t now = uv_now(link->loop);
    /* Only a connection that lived a tick, or answered a caller's command, counts as working
     * (vmux__link_conn_failed()): reaching ready alone reset the failures, and a server (or
     * proxy) that answers the setup and closes had every break retried at 0 ms, 16,909
     * connections in 5 s. */
    if (vmux__link_live(link) && now - link->ready_since >= LIVED_MS)
        link->retries = 0;
    link_gauges(link); /* before the tick's own PING or INFO: an idle link reads 0 in flight */
    if (frozen)
        vmux__conn_check(c, now);
    vmux__conn_tick(c, now);
    vmux__lane_open(link);
}

/* ---- subscriber links ---- */

/* The elements of the longest push a subscription gets: ["pmessage", pattern, channel, payload]. */
#define PUSH_ELEMENTS_MOST 4

void vmux__link_set_push(struct vmux_link *link, void (*fn)(vmux_reply *reply, void *arg),
                         vmux_push_over_limit_fn over_limit, void *arg)
{
    /* A maxReplyElements below a message's own elements bounds nothing a message could hold, and
     * refused every pattern message at its header, before its channel was read: the connection
     * failed on each (review helper-197). */
    if (over_limit != NULL && link->limits.max_elements < PUSH_ELEMENTS_MOST)
        link->limits.max_elements = PUSH_ELEMENTS_MOST;
    link->push_fn = fn;
    link->push_over_limit = over_limit;
    link->push_arg = arg;
}

int vmux__link_send_raw(struct vmux_link *link, const char *bytes, size_t len)
{
    if (link->state != LINK_READY)
        return VMUX_ERR_NOT_CONNECTED;
    return vmux__conn_write_raw(link->conn, bytes, len);
}

void vmux__link_take_backlog(struct vmux_link *link, struct vmux_opq *dst)
{
    vmux__opq_take(dst, &link->backlog);
    link_gauges(link);
}

void vmux__link_return_backlog(struct vmux_link *link, struct vmux_opq *src)
{
    vmux__opq_prepend(&link->backlog, src);
    link_gauges(link);
}

void vmux__link_set_auxiliary(struct vmux_link *link)
{
    publish(&link->ctr->connected, &link->pub_connected, 0); /* counted as a command link no more */
    link->auxiliary = true;
}

void vmux__link_wait_first(struct vmux_link *link)
{
    VMUX_ASSERT(link->state == LINK_DOWN && link->conns == 0); /* before its first attempt */
    link->first_wait = true;
}

void vmux__link_set_own(struct vmux_link *link)
{
    link->limits = vmux__reader_own_limits;
}

void vmux__link_checking(struct vmux_link *link)
{
    /* Never a subscriber link: CHECKING -> READY raises no ready event, and what
     * vmux__link_send_raw() refused meanwhile would never be written (link.h). */
    VMUX_ASSERT(link->push_fn == NULL);
    link_set_state(link, LINK_CHECKING);
}

/* ---- client-side caching ---- */

void vmux__link_set_tracking(struct vmux_link *link, const struct vmux_link_tracking *t)
{
    link->tracking = *t;
}

int vmux__link_track(struct vmux_link *link, long long id)
{
    struct vmux_conn *c = link->conn;
    if (!vmux__link_live(link) || c == NULL || c->phase == CONN_ENDED)
        return VMUX_ERR_NOT_CONNECTED;
    vmux__lane_shut(link); /* a caller may be writing on the connection */
    bool ok = vmux__setup_track(c, id);
    if (link->conn != NULL)
        vmux__lane_open(link);
    return ok ? 0 : VMUX_ERR_NOMEM;
}

int vmux__link_set_readonly(struct vmux_link *link, bool on)
{
    link->readonly = on;
    struct vmux_conn *c = link->conn;
    if (!vmux__link_live(link) || c == NULL || c->phase == CONN_ENDED || c->readonly == on)
        return 0;          /* the next connection's setup says it */
    vmux__lane_shut(link); /* a caller may be writing on the connection */
    bool ok = vmux__setup_readonly(c, on);
    if (link->conn != NULL)
        vmux__lane_open(link);
    return ok ? 0 : VMUX_ERR_NOMEM;
}

void vmux__link_set_cluster_only(struct vmux_link *link)
{
    link->cluster_only = true;
}

const char *vmux__link_where(const struct vmux_link *link)
{
    return link->conn != NULL ? link->conn->where : NULL;
}

bool vmux__link_ready(const struct vmux_link *link)
{
    return link->state == LINK_READY;
}

bool vmux__link_down_after_failure(const struct vmux_link *link)
{
    return link->state != LINK_READY && link->last_error != 0;
}

const char *vmux__link_last_failure(const struct vmux_link *link)
{
    return vmux__link_down_after_failure(link) ? link->last_reason : NULL;
}

const char *vmux__link_az(const struct vmux_link *link)
{
    return link->az[0] != '\0' ? link->az : NULL;
}

bool vmux__link_lagging(const struct vmux_link *link)
{
    return link->repl.unlinked || link->repl.behind || link->repl.foreign;
}

bool vmux__link_cut_off(const struct vmux_link *link)
{
    return link->repl.unlinked || link->repl.foreign;
}

bool vmux__link_busy(const struct vmux_link *link)
{
    size_t retrying = 0;
    for (int i = 0; i < VMUX_LINK_RETRY_LEVELS; i++)
        retrying += link->retry_q[i].count;
    return link->backlog.count > 0 || retrying > 0 || link->rejected.count > 0 ||
           (link->conn != NULL && link->conn->fifo.count > 0);
}

uint64_t vmux__link_conn_gen(const struct vmux_link *link)
{
    return link->conn != NULL ? link->conns : 0;
}

/* Whether op is a caller's live op whose slot's bit is set in slots (VMUX_LINK_SLOTS bits). */
static bool op_of_slots(const struct vmux_op *op, const uint8_t *slots)
{
    return !op->done && !(op->flags & VMUX_OP_INTERNAL) && op->slot >= 0 &&
           op->slot < VMUX_LINK_SLOTS && (slots[op->slot / 8] & (1u << (op->slot % 8)));
}

bool vmux__link_slots_in_flight(const struct vmux_link *link, const uint8_t *slots, uint8_t *found)
{
    bool any = false;
    if (link->conn == NULL)
        return false;
    for (const struct vmux_op *op = link->conn->fifo.head; op != NULL; op = op->next) {
        if (!op_of_slots(op, slots))
            continue;
        if (found == NULL)
            return true;
        found[op->slot / 8] |= (uint8_t)(1u << (op->slot % 8));
        any = true;
    }
    return any;
}

/* Whether q holds an op of slots (op_of_slots()). */
static bool opq_has_slots(const struct vmux_opq *q, const uint8_t *slots)
{
    for (const struct vmux_op *op = q->head; op != NULL; op = op->next)
        if (op_of_slots(op, slots))
            return true;
    return false;
}

bool vmux__link_slots_refused(const struct vmux_link *link, const uint8_t *slots)
{
    if (opq_has_slots(&link->rejected, slots))
        return true;
    for (int i = 0; i < VMUX_LINK_RETRY_LEVELS; i++)
        if (opq_has_slots(&link->retry_q[i], slots))
            return true;
    return false;
}

bool vmux__link_slots_held(const struct vmux_link *link, const uint8_t *slots)
{
    return vmux__link_slots_in_flight(link, slots, NULL) || opq_has_slots(&link->backlog, slots) ||
           vmux__link_slots_refused(link, slots);
}

uint64_t vmux__link_left(const struct vmux_link *link)
{
    uint64_t n = link->backlog.left + link->rejected.left;
    for (int i = 0; i < VMUX_LINK_RETRY_LEVELS; i++)
        n += link->retry_q[i].left;
    return link->conn != NULL ? n + link->conn->fifo.left : n;
}

/* ---- Sentinel ---- */

void vmux__link_set_sentinel(struct vmux_link *link, struct vmux_sentinel *s)
{
    if (s != NULL)
        vmux__sentinel_attach(s, link);
}

/*
 * A ready connection elsewhere: no new command; it closes once its written ops are answered, or
 * once it has been silent for VMUX_RETIRING_SILENCE_MS (a hung old primary never answers).
 */
static void retire_now(struct vmux_link *link, struct vmux_conn *c, const char *why)
{
    vmux__log(link->cfg, VMUX_LOG_WARN, "%s: %s; leaving it for the new primary", c->where, why);
    vmux__link_retire_conn(link, c, why, true);
    /* the reason commands that wait for the next connection and time out give (backlog_why) */
    vmux__errbuf_set(link->last_reason, sizeof link->last_reason, "%s: %s", c->where, why);
    link->last_error = VMUX_ERR_CONNECT;
    uint64_t now = uv_now(link->loop);
    if (c->fifo.head == NULL)
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "%s", why);
    else if (c->waiting_since != 0 && now - c->waiting_since > VMUX_RETIRING_SILENCE_MS)
        vmux__conn_fail(c, VMUX_ERR_IO, "%s; no reply for %llu ms: not waiting for it", why,
                        (unsigned long long)(now - c->waiting_since));
}

void vmux__link_primary_moved(struct vmux_link *link, const struct vmux_endpoint *ep,
                              const char *why)
{
    struct vmux_conn *c = link->conn;
    if (link->state == LINK_DOWN) {
        uv_timer_stop(&link->backoff);
        link->retries = 0;
        link_connect(link);
        return;
    }
    if (c == NULL || c->ep == ep || c->phase == CONN_ENDED || vmux__conn_retiring(c) ||
        link->state == LINK_CLOSED)
        return; /* waiting for an answer (newer than the announcement), or already there */
    vmux__lane_shut(link);
    if (link->state == LINK_CONNECTING) {
        c->retire = CONN_RETIRE_AT_ONCE; /* an attempt at the old address: the next one at once */
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "%s", why);
    } else {
        retire_now(link, c, why);
    }
    if (link->conn != NULL)
        vmux__lane_open(link);
}

void vmux__link_reconnect(struct vmux_link *link, const char *why)
{
    struct vmux_conn *c = link->conn;
    if (link->state != LINK_READY || c == NULL || c->phase == CONN_ENDED || vmux__conn_retiring(c))
        return;
    vmux__log(link->cfg, VMUX_LOG_INFO, "%s: %s; connecting again", c->where, why);
    vmux__lane_shut(link);
    c->retire = CONN_RETIRE_AT_ONCE; /* connects again at once */
    c->renewed = true;
    vmux__conn_fail(c, VMUX_ERR_CONNECT, "%s", why);
}

void vmux__link_rotate(struct vmux_link *link, const char *why)
{
    struct vmux_conn *c = link->conn;
    link->next_endpoint++;
    if (c == NULL || c->phase == CONN_ENDED)
        return;
    vmux__lane_shut(link);
    c->retire = CONN_RETIRE_AT_ONCE; /* at once, to the endpoint after it */
    vmux__conn_fail(c, VMUX_ERR_CONNECT, "%s", why);
}

/*
 * Where subscriptions go (mux/pubsub.h): the subscriber links, the requests written on each,
 * and the reconciler that keeps every subscription on the link where it belongs.
 *
 * Standalone, there is one link, to the handle's endpoints, and every subscription is on it.
 * In a cluster, channels and patterns are on one link to one node (the seed's at first; another
 * node once that one fails or leaves the map), and each shard channel on a link to the primary
 * of its slot, as the router's map says; keyspace notifications on every primary, one copy each
 * (pubsub_keyspace.c). The reconciler runs after every change (a new map, a
 * link that failed, a channel the server ended, an unsubscribe): for each subscription it
 * compares the link it is on with the one it belongs on, and moves it (UNSUBSCRIBE on the old
 * link when nothing else of that name is there, SUBSCRIBE on the new one; its confirmation there
 * raises VMUX_EVENT_SUBSCRIPTION_MOVED, pubsub_bounce.c); then it closes the links left with
 * nothing on them (make-before-break: a link a shard channel left reads on, and delivers it,
 * until it answers its SUNSUBSCRIBE, or VMUX__PUBSUB_DRAIN_MS). What it cannot place yet (a slot
 * with no known owner, a subscription on a link that failed) makes it run again a second later,
 * asking the router for a fresher map each time; a shard channel in a MOVED ping-pong waits out its
 * backoff (pubsub_bounce.c). I/O thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/assert.h"
#include "core/config_keys.h"
#include "core/counters.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/log.h"
#include "mux/mux.h"
#include "route/slot.h"
#include "vmux/error.h"

#define RETRY_MS VMUX__PUBSUB_RETRY_MS /* while something waits: how often to look again */

/* ---- requests written and their confirmations ---- */

int vmux__sublink_send(struct vmux_sublink *sl, const char *cmd, const vmux_bytes *name,
                       struct vmux_sub *s, uint64_t hash)
{
    struct vmux_op *op;
    const char *argv[] = {cmd, name->ptr};
    size_t lens[] = {strlen(cmd), name->len};
    struct vmux_sub_request *rq = malloc(sizeof(*rq));
    if (rq == NULL || vmux__encode_op(2, argv, lens, &op) != 0) {
        free(rq);
        return VMUX_ERR_NOMEM;
    }
    int rc = vmux__link_send_raw(sl->link, op->cmd, op->len);
    vmux__op_free(op);
    if (rc != 0) {
        free(rq);
        /* not connected: its ready event sends it (a subscriber link is never CHECKING after a
         * freeze, whose end raises no ready event: net/link.h) */
        return rc == VMUX_ERR_NOT_CONNECTED ? 0 : rc;
    }
    bool shard = strcmp(cmd, "SSUBSCRIBE") == 0 || strcmp(cmd, "SUNSUBSCRIBE") == 0;
    int slot = shard ? (int)vmux__slot_of(name->ptr, name->len) : -1;
    *rq = (struct vmux_sub_request){NULL, s, hash, slot, s == NULL};
    if (s != NULL)
        s->requests++;
    if (sl->sent_tail != NULL)
        sl->sent_tail->next = rq;
    else
        sl->sent_head = rq;
    sl->sent_tail = rq;
    return 0;
}

struct vmux_sub_request *vmux__sublink_oldest(struct vmux_sublink *sl)
{
    return sl->sent_head;
}

struct vmux_sub *vmux__sublink_answered(struct vmux_sublink *sl)
{
    struct vmux_sub_request *rq = sl->sent_head;
    if (rq == NULL)
        return NULL;
    sl->sent_head = rq->next;
    if (sl->sent_head == NULL)
        sl->sent_tail = NULL;
    struct vmux_sub *s = rq->sub;
    if (s != NULL)
        s->requests--;
    bool unsub = rq->unsub;
    free(rq);
    /* maybe the last answer a draining link waited for: it closes now (reconcile()) */
    if (unsub && sl->drain_ms != 0)
        vmux__pubsub_reconcile_soon(sl->m, 0);
    return s;
}

bool vmux__sublink_unsubscribing(const struct vmux_sublink *sl, const uint64_t *hash)
{
    for (const struct vmux_sub_request *rq = sl->sent_head; rq != NULL; rq = rq->next)
        if (rq->unsub && rq->hash == *hash)
            return true;
    return false;
}

bool vmux__sublink_awaits(const struct vmux_sublink *sl, const struct vmux_sub *s)
{
    for (const struct vmux_sub_request *rq = sl->sent_head; rq != NULL && s->requests > 0;
         rq = rq->next)
        if (rq->sub == s)
            return true;
    return false;
}

/* The connection that carried the requests is gone: none of them will be answered. */
static void forget_requests(struct vmux_sublink *sl)
{
    sl->drain_ms = 0; /* nothing more to read for */
    while (sl->sent_head != NULL)
        vmux__sublink_answered(sl);
}

void vmux__pubsub_unname(struct vmux_pubsub *ps, struct vmux_sub *s)
{
    for (struct vmux_sublink *sl = ps->links; sl != NULL && s->requests > 0; sl = sl->next)
        for (struct vmux_sub_request *rq = sl->sent_head; rq != NULL && s->requests > 0;
             rq = rq->next)
            if (rq->sub == s) {
                rq->sub = NULL;
                s->requests--;
            }
}

/* ---- what a subscriber link tells us ---- */

static const char *where_of(const struct vmux_sublink *sl, char *buf, size_t len)
{
    if (sl->host == NULL)
        return "";
    snprintf(buf, len, "%s:%d", sl->host, sl->port);
    return buf;
}

/* Sends s's SUBSCRIBE on sl; if memory runs out, s is lost there and the reconciler sends it
 * again a little later. */
static void subscribe_on(struct vmux *m, struct vmux_sublink *sl, struct vmux_sub *s)
{
    if (vmux__sublink_send(sl, vmux__subscribe_cmd[s->kind], &s->name, s, s->hash) == 0)
        return;
    s->lost = true;
    s->retry_at = 0;
    vmux__pubsub_reconcile_soon(m, RETRY_MS);
}

static void on_sub_link_ready(struct vmux_link *link, const char *where, void *arg)
{
    struct vmux_sublink *sl = arg;
    struct vmux *m = sl->m;
    (void)link;
    sl->failed = false;
    vmux__sublink_forgive(sl, "not sent, a new connection");
    vmux__log(m->cfg, VMUX_LOG_INFO, "%s: subscriber connection ready; resubscribing", where);
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next)
        if (!s->dead && s->at == sl && !s->lost)
            subscribe_on(m, sl, s);
}

/* VMUX_EVENT_SUBSCRIBER_LOST; reason starts with "host:port: ". */
static void emit_lost(struct vmux *m, int code, const char *reason)
{
    char where[300];
    const char *sep = strstr(reason, ": ");
    vmux__errbuf_set(where, sizeof(where), "%.*s", sep ? (int)(sep - reason) : 0, reason);
    vmux__event(m->cfg, VMUX_EVENT_SUBSCRIBER_LOST, code, where, reason);
}

static bool clustered(struct vmux *m)
{
    return vmux__router_mode(&m->router) == VMUX_ROUTER_CLUSTER;
}

static void on_sub_link_failed(struct vmux_link *link, int code, const char *reason, void *arg)
{
    struct vmux_sublink *sl = arg;
    struct vmux *m = sl->m;
    (void)link;
    vmux__log(m->cfg, VMUX_LOG_WARN, "subscriber connection failed (%s): %s", vmux_err_name(code),
              reason);
    forget_requests(sl);
    vmux__sublink_forgive(sl, "not sent, the connection failed");
    sl->failed = true;
    bool was_live = false;
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next) {
        if (s->at != sl)
            continue;
        uv_mutex_lock(&s->mu);
        was_live = was_live || (s->live && !s->dead);
        s->live = false;
        uv_mutex_unlock(&s->mu);
        if (s->parent != NULL) /* a keyspace copy: the subscription is not on every primary */
            vmux__keyspace_live(s->parent);
    }
    if (clustered(m)) {
        /* its node may be gone: channels and patterns go elsewhere, shard channels follow the
         * map (a failover) */
        if (sl == m->pubsub.classic)
            where_of(sl, m->pubsub.avoid, sizeof m->pubsub.avoid);
        vmux__router_refresh_soon(&m->router);
        vmux__pubsub_reconcile_soon(m, 0);
    }
    if (!was_live) /* a failed attempt while down: nothing more was lost */
        return;
    vmux__count(&m->ctr.subscriber_lost, 1);
    emit_lost(m, code, reason);
}

static const struct vmux_link_events sub_link_events = {.ready = on_sub_link_ready,
                                                        .failed = on_sub_link_failed};

/* ---- the links ---- */

/* Frees what a subscriber link owns besides its link (closed already, or never made). */
static void sublink_free(struct vmux_sublink *sl)
{
    vmux_config_free(sl->cfg);
    free(sl->host);
    free(sl);
}

/* Opens a subscriber link to host:port (NULL host: the handle's endpoints); NULL when it cannot. */
static struct vmux_sublink *open_sublink(struct vmux *m, const char *host, int port)
{
    struct vmux_sublink *sl = calloc(1, sizeof *sl);
    if (sl == NULL)
        return NULL;
    sl->m = m;
    sl->port = port;
    /* a node's: its one endpoint, and the TLS name the node's other links verify */
    if (host != NULL && ((sl->host = strdup(host)) == NULL ||
                         (sl->cfg = vmux__router_node_config(&m->router, host, port)) == NULL))
        goto fail;
    if (vmux__link_new(&m->loop, sl->cfg != NULL ? sl->cfg : m->cfg, m->tls_ctx, &m->ctr,
                       &sub_link_events, sl, &sl->link) != 0)
        goto fail;
    /* a message over a reply limit is dropped and counted, the connection kept
     * (pubsub_over_limit.c) */
    vmux__link_set_push(sl->link, vmux__pubsub_on_push, vmux__pubsub_on_over_limit, sl);
    vmux__link_set_auxiliary(sl->link);
    if (host == NULL)
        vmux__link_set_sentinel(sl->link, m->sentinel); /* the handle's endpoints: sentinels? */
    vmux__link_start(sl->link);
    sl->next = m->pubsub.links;
    m->pubsub.links = sl;
    if (host != NULL)
        vmux__log(m->cfg, VMUX_LOG_INFO, "cluster: opening a subscriber link to %s:%d", host, port);
    return sl;
fail:
    sublink_free(sl);
    return NULL;
}

struct vmux_sublink *vmux__sublink_for(struct vmux *m, const char *host, int port)
{
    for (struct vmux_sublink *sl = m->pubsub.links; sl != NULL; sl = sl->next)
        if (host == NULL ? sl->host == NULL
                         : sl->host != NULL && sl->port == port && strcasecmp(sl->host, host) == 0)
            return sl;
    return open_sublink(m, host, port);
}

static struct vmux_sublink *find_sublink(struct vmux *m, const char *host, int port)
{
    for (struct vmux_sublink *sl = m->pubsub.links; sl != NULL; sl = sl->next)
        if (sl->host != NULL && sl->port == port && strcasecmp(sl->host, host) == 0)
            return sl;
    return NULL;
}

/*
 * Closes sl (which no subscription is on). Its memory stays on the retired list while a
 * subscription still names it (the node it was last confirmed on, which a move is reported
 * from) and for two ticks at least, until libuv has let go of its link (free_retired()).
 */
static void retire(struct vmux *m, struct vmux_sublink *sl)
{
    struct vmux_sublink **p = &m->pubsub.links;
    while (*p != sl)
        p = &(*p)->next;
    *p = sl->next;
    forget_requests(sl);
    vmux__sublink_forgive(sl, "not sent, the connection closed");
    vmux__sublink_forget_seen(sl);
    vmux__link_close(sl->link);
    sl->link = NULL;
    /* It reads no more: nothing of a subscription (the graves are among them) that left it
     * comes from it now, and a link made later at its address is not taken for it. */
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next)
        if (s->left == sl)
            s->left = NULL;
    sl->next = m->pubsub.retired;
    sl->retired_tick = m->pubsub.ticks;
    m->pubsub.retired = sl;
    if (m->pubsub.classic == sl)
        m->pubsub.classic = NULL;
}

/* ---- where a subscription belongs ---- */

/* Whether the node at host:port may carry the channel and pattern subscriptions. */
static bool classic_ok(struct vmux *m, const char *host, int port)
{
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", host, port);
    struct vmux_sublink *sl = find_sublink(m, host, port);
    return strcmp(addr, m->pubsub.avoid) != 0 && (sl == NULL || !sl->failed) &&
           vmux__slotmap_names(m->router.map, host, port);
}

/* Picks the node for channels and patterns: the seed's, else the first good node of the map. */
static struct vmux_sublink *pick_classic(struct vmux *m)
{
    const struct vmux_router *r = &m->router;
    if (r->seed_host != NULL && classic_ok(m, r->seed_host, r->seed_port))
        return vmux__sublink_for(m, r->seed_host, r->seed_port);
    struct vmux_router_nodeinfo *nodes = NULL;
    size_t n = 0;
    struct vmux_sublink *sl = NULL;
    if (vmux__router_nodes(r, VMUX_ROUTER_NODES_PRIMARIES | VMUX_ROUTER_NODES_REPLICAS, &nodes,
                           &n) != 0)
        return NULL;
    for (size_t i = 0; i < n && sl == NULL; i++)
        if (classic_ok(m, nodes[i].host, nodes[i].port))
            sl = vmux__sublink_for(m, nodes[i].host, nodes[i].port);
    free(nodes);
    return sl;
}

/*
 * Whether channels and patterns stay on c: while its connection has not failed and the map
 * names its node; a node that the map stops naming but that still serves them keeps them for
 * ten clusterRefreshMinInterval (a map asked of a node that does not know it yet is no reason to
 * move: every node sends every message, so two nodes at once would deliver messages twice).
 */
static bool classic_stays(struct vmux *m, struct vmux_sublink *c)
{
    if (c == NULL || c->failed)
        return false;
    if (vmux__slotmap_names(m->router.map, c->host, c->port)) {
        c->unnamed_ms = 0;
        return true;
    }
    uint64_t now = uv_now(&m->loop);
    if (c->unnamed_ms == 0)
        c->unnamed_ms = now;
    return now - c->unnamed_ms < 10 * (uint64_t)m->cfg->cluster_refresh_min_ms;
}

/* Where channels and patterns belong in a cluster: the current node while it is good. */
static struct vmux_sublink *classic_target(struct vmux *m)
{
    struct vmux_sublink *c = m->pubsub.classic;
    if (classic_stays(m, c))
        return c;
    struct vmux_sublink *next = pick_classic(m);
    if (next != NULL)
        m->pubsub.classic = next;
    return m->pubsub.classic; /* when no other node will do: stay, and wait for it */
}

struct vmux_link *vmux__pubsub_publish_link(struct vmux *m)
{
    const struct vmux_sublink *c = m->pubsub.classic;
    if (c == NULL || c->failed || c->host == NULL)
        return NULL;
    return vmux__router_node_link(&m->router, c->host, strlen(c->host), c->port);
}

/*
 * Where every subscription belongs standalone: the link to the handle's endpoints, noted as
 * classic. Opens it when there is none yet (the first subscription, or an open that failed for
 * want of memory) or classic is still a cluster node's (a re-detection); otherwise only reads:
 * classic with no host is the one such link there is, for retire() clears classic.
 */
static struct vmux_sublink *standalone_target(struct vmux *m)
{
    struct vmux_sublink *c = m->pubsub.classic;
    if (c == NULL || c->host != NULL)
        m->pubsub.classic = vmux__sublink_for(m, NULL, 0);
    return m->pubsub.classic;
}

/* Where a shard channel belongs: the primary of its slot; NULL when none is known. */
static struct vmux_sublink *shard_target(struct vmux *m, const struct vmux_sub *s)
{
    unsigned slot = vmux__slot_of(s->name.ptr, s->name.len);
    const struct vmux_shard *sh = vmux__slotmap_owner(m->router.map, slot);
    if (sh == NULL || sh->nnodes == 0 || (sh->nodes[0].flags & VMUX_NODE_UNKNOWN))
        return NULL;
    return vmux__sublink_for(m, sh->nodes[0].host, sh->nodes[0].port);
}

/* The link s belongs on; NULL while that is not known (detecting, a slot without owner). */
static struct vmux_sublink *target(struct vmux *m, const struct vmux_sub *s)
{
    switch (vmux__router_mode(&m->router)) {
    case VMUX_ROUTER_STANDALONE:
        return standalone_target(m);
    case VMUX_ROUTER_CLUSTER:
        if (s->parent != NULL) { /* a keyspace copy stays on its primary (pubsub_keyspace.c) */
            VMUX_ASSERT(s->at != NULL);
            return s->at;
        }
        return s->kind == VMUX_SUB_SHARD ? shard_target(m, s) : classic_target(m);
    default:
        return NULL;
    }
}

/* Writes s's UNSUBSCRIBE on from (its link) unless s is lost there or another subscription of
 * its name is there too; false when it could not be written for want of memory. */
static bool unsubscribe_from(struct vmux *m, const struct vmux_sub *s, struct vmux_sublink *from)
{
    return s->lost || vmux__pubsub_others_at(&m->pubsub, s, from) ||
           vmux__sublink_send(from, vmux__unsubscribe_cmd[s->kind], &s->name, NULL, s->hash) == 0;
}

/*
 * Places s, spread over every primary (pubsub_keyspace.c): first off the one link it was on
 * (the handle was standalone when it subscribed: re-detection). A handle no longer in cluster
 * mode ends the copies of s, which is placed as any other then. Returns what place() does;
 * *done: s was one to spread.
 */
static bool place_keyspace(struct vmux *m, struct vmux_sub *s, bool *done)
{
    *done = vmux__keyspace_fans(m, s);
    if (!*done) {
        if (s->kids != NULL)
            vmux__keyspace_end(m, s);
        return true;
    }
    if (s->at != NULL) {
        if (!unsubscribe_from(m, s, s->at))
            return false;
        vmux__sub_unguard(s);
        s->at = NULL;
        s->lost = false;
    }
    return vmux__keyspace_place(m, s);
}

/*
 * Puts s on to (its SUBSCRIBE sent now or when to is ready), leaving the link it was on. False
 * when the UNSUBSCRIBE owed there could not be written for want of memory: s then stays where
 * it is, still subscribed and delivered there, and moves on a later pass (a subscription on two
 * nodes would deliver every message twice, and the old one's for as long as it lasts).
 */
static bool move(struct vmux *m, struct vmux_sub *s, struct vmux_sublink *to)
{
    struct vmux_sublink *from = s->at;
    if (from != NULL && from != to && !unsubscribe_from(m, s, from))
        return false;
    vmux__pubsub_set_live(s, false);
    if (from != NULL && from != to) { /* what from delivered last must not come again from to */
        vmux__sub_unguard(s);
        vmux__sub_inherit(s, to, from, uv_now(&m->loop));
    }
    /* make-before-break: from reads on, and delivers s's messages, until it answers the
     * SUNSUBSCRIBE (written just now: the server wrote every message before its answer) */
    s->left = from != NULL && from != to && s->kind == VMUX_SUB_SHARD &&
                      vmux__sublink_unsubscribing(from, &s->hash)
                  ? from
                  : NULL;
    s->at = to;
    s->lost = false;
    s->bounce_to = NULL;
    subscribe_on(m, to, s);
    return true;
}

/* Places s where it belongs; returns false when it must be looked at again later. */
static bool place(struct vmux *m, struct vmux_sub *s)
{
    bool spread;
    bool placed = place_keyspace(m, s, &spread);
    if (spread)
        return placed; /* on no link itself: a copy on every primary */
    if (vmux__sub_held(m, s))
        return false; /* a MOVED ping-pong: sent again once its backoff is over */
    /* after a ping-pong's backoff: to the node its last MOVED named, as a command would go */
    struct vmux_sublink *want = s->lost && s->bounce_to != NULL ? s->bounce_to : target(m, s);
    if (want == NULL)
        return !clustered(m); /* detecting: the end of detection places it */
    if (s->at == want && !s->lost)
        return (!want->failed && want->unnamed_ms == 0) || !clustered(m);
    if (s->at == want && uv_now(&m->loop) < s->retry_at)
        return false; /* the node refused it a moment ago: not at once again */
    return move(m, s, want);
}

void vmux__pubsub_place(struct vmux *m, struct vmux_sub *s)
{
    if (!place(m, s))
        vmux__pubsub_reconcile_soon(m, RETRY_MS);
}

/* Whether a live subscription is on sl or waits to go there (a ping-pong's next node), or sl
 * carries channels and patterns standalone. */
static bool in_use(struct vmux *m, const struct vmux_sublink *sl)
{
    if (sl->host == NULL)
        return true; /* the standalone link stays open, as it always did */
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next)
        if (!s->dead && (s->at == sl || s->bounce_to == sl))
            return true;
    return false;
}

/* Whether a live shard channel that left sl waits for sl's answer to its SUNSUBSCRIBE. */
static bool left_unanswered(struct vmux *m, const struct vmux_sublink *sl)
{
    for (const struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next)
        if (!s->dead && s->left == sl && vmux__sublink_unsubscribing(sl, &s->hash))
            return true;
    return false;
}

/*
 * Whether sl, with nothing on it, reads on: a shard channel that moved away from it waits for
 * the answer to its SUNSUBSCRIBE there (the messages the node wrote before it are delivered), for
 * VMUX__PUBSUB_DRAIN_MS at most, while the connection lasts. Lowers *wake_ms to the end of that.
 */
static bool draining(struct vmux *m, struct vmux_sublink *sl, uint64_t *wake_ms)
{
    if (sl->failed || m->pubsub.closed || !left_unanswered(m, sl)) {
        sl->drain_ms = 0;
        return false;
    }
    uint64_t now = uv_now(&m->loop);
    if (sl->drain_ms == 0)
        sl->drain_ms = now;
    uint64_t ends = sl->drain_ms + VMUX__PUBSUB_DRAIN_MS;
    if (now >= ends)
        return false; /* no answer in time: as any idle link */
    if (ends - now < *wake_ms)
        *wake_ms = ends - now;
    return true;
}

/*
 * Whether sl, with nothing on it, is to close now: a failed link or one to a node the map does
 * not name at once, a healthy one after idle_close_ms (VMUX__PUBSUB_IDLE_CLOSE_MS) idle, so that
 * subscribing again soon (a reply channel per request, say) needs no new connection. Otherwise
 * lowers *wake_ms to when it will be (ms from now).
 */
static bool idle_over(struct vmux *m, struct vmux_sublink *sl, uint64_t *wake_ms)
{
    uint64_t now = uv_now(&m->loop);
    if (sl->failed || sl->unnamed_ms != 0 || m->pubsub.closed)
        return true;
    if (clustered(m) && sl->host != NULL && !vmux__slotmap_names(m->router.map, sl->host, sl->port))
        return true; /* a shard link's node left the map (probe30: it stayed the idle 30 s) */
    if (sl->idle_ms == 0)
        sl->idle_ms = now;
    uint64_t ends = sl->idle_ms + m->pubsub.idle_close_ms;
    if (now >= ends)
        return true;
    if (ends - now < *wake_ms)
        *wake_ms = ends - now;
    return false;
}

/*
 * The reconciler: every subscription where it belongs, then the idle links closed and the
 * others' owed UNSUBSCRIBEs written (after the placing: a subscription of the same name that
 * was waiting to be sent again is on its link by then, and is not to be ended).
 */
static void reconcile(struct vmux *m)
{
    struct vmux_pubsub *ps = &m->pubsub;
    if (ps->closed)
        return;
    bool settled = true, paid = true;
    vmux__pubsub_hold(ps); /* a keyspace pass may end copies: not freed under the walk */
    for (struct vmux_sub *s = ps->subs; s != NULL; s = s->next)
        if (!s->dead && !place(m, s))
            settled = false;
    vmux__pubsub_release(ps);
    struct vmux_sublink *next;
    uint64_t wake_ms = UINT64_MAX;
    for (struct vmux_sublink *sl = ps->links; sl != NULL; sl = next) {
        next = sl->next;
        if (in_use(m, sl))
            sl->idle_ms = sl->drain_ms = 0;
        else if (!draining(m, sl, &wake_ms) && idle_over(m, sl, &wake_ms)) {
            retire(m, sl);
            continue;
        }
        if (!vmux__sublink_pay(sl))
            paid = false;
    }
    if (!settled && clustered(m))
        vmux__router_refresh_soon(&m->router); /* a map that says where they belong */
    if (!settled || !paid)
        vmux__pubsub_reconcile_soon(m, RETRY_MS);
    else if (wake_ms != UINT64_MAX)
        vmux__pubsub_reconcile_soon(m, wake_ms);
}

static void on_timer(uv_timer_t *t)
{
    reconcile(t->data);
}

void vmux__pubsub_reconcile_soon(struct vmux *m, uint64_t delay_ms)
{
    struct vmux_pubsub *ps = &m->pubsub;
    if (ps->closed)
        return;
    if (!ps->timer_ready) {
        uv_timer_init(&m->loop, &ps->timer);
        ps->timer.data = m;
        ps->timer_ready = true;
    }
    uint64_t due = uv_now(&m->loop) + delay_ms;
    if (uv_is_active((uv_handle_t *)&ps->timer) && ps->timer_due <= due)
        return;
    ps->timer_due = due;
    uv_timer_start(&ps->timer, on_timer, delay_ms, 0);
}

/*
 * Names announced since the subscriber links opened, after a refreshed map only (as the router's
 * node links and the near cache's): a MOVED's patch carries none. A link refused for its old
 * name has asked for that refresh; its next connection verifies the new one.
 */
static void relearn_tls_names(struct vmux *m)
{
    const struct vmux_router *r = &m->router;
    if (m->pubsub.tls_installs == r->installs)
        return;
    m->pubsub.tls_installs = r->installs;
    for (struct vmux_sublink *sl = m->pubsub.links; sl != NULL; sl = sl->next)
        if (sl->cfg != NULL && vmux__router_tls_learn(r, sl->cfg, sl->host, sl->port))
            vmux__log(m->cfg, VMUX_LOG_INFO,
                      "cluster: %s:%d announces the name %s: its subscriber link verifies it from "
                      "its next connection",
                      sl->host, sl->port, vmux_config_ssl_host(sl->cfg));
}

void vmux__pubsub_map_changed(void *arg)
{
    struct vmux *m = arg;
    relearn_tls_names(m);
    if (m->pubsub.subs != NULL)
        vmux__pubsub_reconcile_soon(m, 0);
}

/* ---- the handle's life ---- */

/* Whether a subscription of list (linked by next, or by onext when owed) names sl. */
static bool named_in(const struct vmux_sub *list, bool owed, const struct vmux_sublink *sl)
{
    for (const struct vmux_sub *s = list; s != NULL; s = owed ? s->onext : s->next)
        if (s->at == sl || s->home == sl || s->bounce_to == sl)
            return true;
    return false;
}

static bool named(const struct vmux_pubsub *ps, const struct vmux_sublink *sl)
{
    if (named_in(ps->subs, false, sl)) /* the graves are among the subscriptions until reaped */
        return true;
    for (const struct vmux_sublink *l = ps->links; l != NULL; l = l->next)
        if (named_in(l->owed, true, sl))
            return true;
    return false;
}

/* Frees the retired links retired two ticks ago or more that no subscription names. */
static void free_retired(struct vmux_pubsub *ps)
{
    struct vmux_sublink **p = &ps->retired;
    while (*p != NULL) {
        struct vmux_sublink *sl = *p;
        if (ps->ticks - sl->retired_tick < 2 || named(ps, sl)) {
            p = &sl->next;
            continue;
        }
        *p = sl->next;
        for (struct vmux_sublink *l = ps->links; l != NULL; l = l->next)
            if (l->guard_from == sl)
                l->guard_from = NULL; /* compared, never followed: no stale match either */
        sublink_free(sl);
    }
}

void vmux__pubsub_tick(struct vmux *m, bool frozen)
{
    m->pubsub.ticks++;
    free_retired(&m->pubsub);
    for (struct vmux_sublink *sl = m->pubsub.links; sl != NULL; sl = sl->next)
        vmux__link_tick(sl->link, frozen);
}

void vmux__pubsub_close_links(struct vmux *m)
{
    struct vmux_pubsub *ps = &m->pubsub;
    while (ps->links != NULL)
        retire(m, ps->links);
    if (ps->timer_ready)
        uv_close((uv_handle_t *)&ps->timer, NULL);
    ps->timer_ready = false;
}

void vmux__pubsub_free(struct vmux *m)
{
    struct vmux_pubsub *ps = &m->pubsub;
    while (ps->retired != NULL) {
        struct vmux_sublink *sl = ps->retired;
        ps->retired = sl->next;
        sublink_free(sl);
    }
}

/*
 * The pub/sub engine: a registry of subscriptions, what the subscriber links read (messages,
 * confirmations, the server's own sunsubscribe, errors), delivery to callbacks and queues, and
 * the public calls. Which link each subscription is on is pubsub_place.c's.
 */
#include "vmux/pubsub.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/errclass.h"
#include "core/log.h"
#include "core/reply_internal.h"
#include "core/msgq.h"
#include "core/nocancel.h"
#include "core/reader.h"
#include "core/until.h"
#include "core/why.h"
#include "mux/mux.h"
#include "route/redirect.h"
#include "vmux/error.h"

const char *const vmux__subscribe_cmd[3] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};
const char *const vmux__unsubscribe_cmd[3] = {"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"};

enum { FIRST_BUCKETS = 16 };

void vmux__pubsub_set_live(struct vmux_sub *s, bool live)
{
    uv_mutex_lock(&s->mu);
    s->live = live;
    if (live)
        uv_cond_broadcast(&s->cv);
    uv_mutex_unlock(&s->mu);
    if (s->parent != NULL)
        vmux__keyspace_live(s->parent);
}

/* FNV-1a over the kind and the name: a channel and a pattern spelled alike differ. */
static uint64_t hash_of(vmux_sub_kind kind, const char *name, size_t len)
{
    uint64_t h = 14695981039346656037ull ^ (uint64_t)kind;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    return h;
}

static bool same(const struct vmux_sub *s, uint64_t hash, vmux_sub_kind kind, const char *name,
                 size_t len)
{
    return !s->dead && s->hash == hash && s->kind == kind && s->name.len == len &&
           memcmp(s->name.ptr, name, len) == 0;
}

static struct vmux_sub **bucket_of(struct vmux_pubsub *ps, uint64_t hash)
{
    return &ps->buckets[hash & (ps->nbuckets - 1)];
}

/* Doubles the table when chains would grow past one entry on average. Not while delivering:
 * a delivery walks a chain. Returns 0 or VMUX_ERR_NOMEM (only on the first allocation). */
static int grow(struct vmux_pubsub *ps)
{
    if (ps->buckets != NULL && (ps->nsubs < ps->nbuckets || ps->delivering > 0))
        return 0;
    size_t n = ps->buckets == NULL ? FIRST_BUCKETS : 2 * ps->nbuckets;
    struct vmux_sub **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return ps->buckets == NULL ? VMUX_ERR_NOMEM : 0; /* longer chains, still correct */
    free(ps->buckets);
    ps->buckets = b;
    ps->nbuckets = n;
    for (struct vmux_sub *s = ps->subs; s != NULL; s = s->next) {
        struct vmux_sub **at = bucket_of(ps, s->hash);
        s->hnext = *at;
        *at = s;
    }
    return 0;
}

static vmux_bytes view(const vmux_reply *r)
{
    size_t len = 0;
    const char *s = vmux_reply_str(r, &len);
    return (vmux_bytes){(char *)s, s != NULL ? len : 0};
}

void vmux__sub_free(struct vmux_sub *s)
{
    vmux_bytes_free(&s->name);
    uv_cond_destroy(&s->cv);
    uv_mutex_destroy(&s->mu);
    free(s);
}

/* Takes s out of the list, its bucket and the requests, and frees it (or its link keeps it,
 * when its UNSUBSCRIBE is owed there: pubsub_owed.c). */
static void drop(struct vmux_pubsub *ps, struct vmux_sub *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        ps->subs = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    struct vmux_sub **at = bucket_of(ps, s->hash);
    while (*at != s)
        at = &(*at)->hnext;
    *at = s->hnext;
    ps->nsubs--;
    vmux__pubsub_unname(ps, s);
    vmux__sub_unguard(s); /* a link's guard waits for it no more */
    if (!vmux__sub_owe(s))
        vmux__sub_free(s);
}

/* Frees the subscriptions unsubscribed while a delivery ran. */
static void reap(struct vmux_pubsub *ps)
{
    while (ps->graves != NULL) {
        struct vmux_sub *s = ps->graves;
        ps->graves = s->gnext;
        drop(ps, s);
    }
    grow(ps); /* subscriptions made by callbacks may have waited for it */
}

/* Ends s now, or after the delivery under way (which may be walking its chain). */
static void bury(struct vmux_pubsub *ps, struct vmux_sub *s)
{
    s->dead = true;
    s->gnext = ps->graves;
    ps->graves = s;
    if (ps->delivering == 0)
        reap(ps);
}

/*
 * Whether s, on another link, takes a message read on sl: a shard channel that left sl, whose
 * SUNSUBSCRIBE sl has not answered yet (make-before-break: the node wrote the message before
 * the answer, while s was subscribed there), unless its new link delivered the same lately.
 */
static bool overlap(struct vmux_sublink *sl, struct vmux_sub *s, uint64_t fp)
{
    return s->left == sl && vmux__sublink_unsubscribing(sl, &s->hash) &&
           !vmux__sub_overlap_replay(s, fp, uv_now(&sl->m->loop));
}

/*
 * The server names the channel (or, for pmessage, the pattern that matched: it did the glob
 * matching), so patterns are found in the table as exactly as channels are. Only the
 * subscriptions whose home is sl receive it: one that moved away gets its messages from its
 * new node, and the old one's, still coming until it reads the UNSUBSCRIBE, would double them;
 * but a shard channel's, written before the answer to its SUNSUBSCRIBE, are its own (overlap()).
 * Returns how many received it; *foreign says whether some of that name live elsewhere.
 */
static int deliver(struct vmux_sublink *sl, vmux_sub_kind kind, const vmux_reply *name,
                   const vmux_message *msg, uint64_t fp, bool *foreign)
{
    struct vmux_pubsub *ps = &sl->m->pubsub;
    vmux_bytes n = view(name);
    uint64_t h = hash_of(kind, n.ptr, n.len);
    int got = 0;
    ps->delivering++;
    for (struct vmux_sub *s = *bucket_of(ps, h); s != NULL; s = s->hnext) {
        if (!same(s, h, kind, n.ptr, n.len))
            continue;
        if (s->at != sl && !overlap(sl, s, fp)) {
            *foreign = true;
            continue;
        }
        got++;
        if (s->cb != NULL)
            s->cb(msg, s->userdata);
        else
            vmux__msgq_push(s->queue, msg);
    }
    if (--ps->delivering == 0)
        reap(ps);
    return got;
}

/*
 * A message read on sl: at most once per publish. On a cluster, one the link subscriptions
 * moved to brings again after the old one delivered it is a replay (pubsub_guard.c); one for
 * subscriptions whose home is now another link is the old node's. Both are dropped, counted.
 */
static void arrive(struct vmux_sublink *sl, vmux_sub_kind kind, const vmux_reply *name,
                   const vmux_message *msg)
{
    struct vmux *m = sl->m;
    /* a node-local notification comes from its key's primary alone: no other node replays it */
    bool cluster = vmux__router_mode(&m->router) == VMUX_ROUTER_CLUSTER &&
                   !vmux__pubsub_node_local(msg->channel.ptr, msg->channel.len);
    uint64_t now = uv_now(&m->loop), fp = cluster ? vmux__pubsub_fingerprint(kind, msg) : 0;
    bool foreign = false;
    if (cluster && vmux__sublink_replay(sl, fp, now)) {
        vmux__count(&m->ctr.pubsub_dropped, 1);
        vmux__log(m->cfg, VMUX_LOG_DEBUG, "pubsub: %s:%d: dropped a replay on %.*s",
                  sl->host != NULL ? sl->host : "?", sl->port, (int)msg->channel.len,
                  msg->channel.ptr);
        return;
    }
    int got = deliver(sl, kind, name, msg, fp, &foreign);
    if (got > 0 && cluster)
        vmux__sublink_seen(sl, fp, now);
    else if (got == 0 && foreign)
        vmux__count(&m->ctr.pubsub_dropped, 1);
}

static bool is_unsubscribe(const vmux_reply *e0)
{
    return vmux__reply_is(e0, "unsubscribe") || vmux__reply_is(e0, "punsubscribe") ||
           vmux__reply_is(e0, "sunsubscribe");
}

/*
 * A subscribe confirmation answers sl's oldest request: that subscription alone is live, if it
 * is still meant to be on sl (one that moved meanwhile is confirmed where it went).
 */
static void confirm(struct vmux_sublink *sl, vmux_sub_kind kind, const vmux_reply *name)
{
    struct vmux_sub *s = vmux__sublink_answered(sl);
    vmux_bytes n = view(name);
    if (s != NULL && same(s, s->hash, kind, n.ptr, n.len) && s->at == sl && !s->lost) {
        s->refusals = 0;
        vmux__sub_guard_confirmed(s, uv_now(&sl->m->loop)); /* a move's: its replays come now */
        vmux__sub_landed(sl->m, s, sl);
        vmux__pubsub_set_live(s, true);
    }
}

/* The longest wait between tries of a subscription the server keeps refusing. */
#define REFUSED_MAX_MS 30000u

/*
 * The server refused s (an ACL without the channel or the command): it is tried again after a
 * wait that doubles from a second to REFUSED_MAX_MS, since a permission may come (back) at any
 * time: an ACL revoked and restored while the handle resubscribed left it dead for good
 * (probe39), where a refusal at the first subscription looked like it would last.
 */
static void refused(struct vmux *m, struct vmux_sub *s, const struct vmux_sublink *sl,
                    const char *msg)
{
    unsigned shift = s->refusals < 5 ? s->refusals : 5;
    uint64_t wait = (uint64_t)VMUX__PUBSUB_RETRY_MS << shift;
    wait = wait < REFUSED_MAX_MS ? wait : REFUSED_MAX_MS;
    if (s->refusals < UINT8_MAX)
        s->refusals++;
    s->lost = true;
    s->retry_at = uv_now(&m->loop) + wait;
    char where[300] = "";
    if (sl->host != NULL)
        snprintf(where, sizeof where, " %s:%d", sl->host, sl->port);
    vmux__log(m->cfg, s->refusals == 1 ? VMUX_LOG_ERROR : VMUX_LOG_WARN,
              "subscriber connection%s: '%.*s' refused: %s; asked again in %llu ms", where,
              (int)(s->name.len < 200 ? s->name.len : 200), s->name.ptr, msg,
              (unsigned long long)wait);
    vmux__pubsub_reconcile_soon(m, wait);
}

bool vmux__pubsub_others_at(struct vmux_pubsub *ps, const struct vmux_sub *s,
                            const struct vmux_sublink *sl)
{
    for (struct vmux_sub *o = *bucket_of(ps, s->hash); o != NULL; o = o->hnext)
        if (o != s && same(o, s->hash, s->kind, s->name.ptr, s->name.len) && o->at == sl &&
            !o->lost)
            return true;
    return false;
}

/*
 * The server ended a shard channel on sl by itself (its slot moved away: the old owner drops
 * the channel's subscribers when it hands the slot over): each subscription of it there is
 * sent again, to the node that serves the slot now (first asking the old one, whose MOVED
 * names the new owner at once). Not one whose SSUBSCRIBE there is unanswered yet: the server
 * wrote this before it read that, so it ended an earlier one (or it is the late answer of an
 * SUNSUBSCRIBE of that name, from a server older than Valkey 8, whose own push was taken for
 * the answer: on_unsubscribe()).
 */
static void ended_by_server(struct vmux_sublink *sl, const vmux_reply *name)
{
    struct vmux *m = sl->m;
    struct vmux_pubsub *ps = &m->pubsub;
    vmux_bytes n = view(name);
    uint64_t h = hash_of(VMUX_SUB_SHARD, n.ptr, n.len);
    int ended = 0;
    for (struct vmux_sub *s = *bucket_of(ps, h); s != NULL; s = s->hnext) {
        if (!same(s, h, VMUX_SUB_SHARD, n.ptr, n.len) || s->at != sl || s->lost ||
            vmux__sublink_awaits(sl, s))
            continue;
        s->lost = true;
        s->retry_at = 0;
        vmux__sub_ended(s, sl); /* a MOVED back to sl is a ping-pong */
        vmux__pubsub_set_live(s, false);
        ended++;
    }
    if (ended == 0)
        return;
    vmux__log(m->cfg, VMUX_LOG_INFO,
              "%s:%d: the server ended shard channel %.*s (its slot moved); subscribing again",
              sl->host ? sl->host : "?", sl->port, (int)(n.len < 200 ? n.len : 200), n.ptr);
    vmux__router_refresh_soon(&m->router);
    vmux__pubsub_reconcile_soon(m, 0);
}

/*
 * An unsubscribe message: the answer to sl's oldest request (an UNSUBSCRIBE of that kind and
 * name), or the server's own word. The two look alike: when a slot leaves a node (a failover
 * demotes it) while an SUNSUBSCRIBE of one of its shard channels is on its way there, the
 * server's "sunsubscribe" comes first and is taken for the answer; the real one follows, a
 * NOSUB (on_nosub()) or, before Valkey 8, a second "sunsubscribe", which then finds no such
 * request first and is read as the server's word (which ends nothing: ended_by_server()).
 */
static void on_unsubscribe(struct vmux_sublink *sl, vmux_sub_kind kind, const vmux_reply *name)
{
    struct vmux_sub_request *rq = vmux__sublink_oldest(sl);
    vmux_bytes n = view(name);
    if (kind != VMUX_SUB_SHARD ||
        (rq != NULL && rq->unsub && rq->hash == hash_of(kind, n.ptr, n.len))) {
        vmux__sublink_answered(sl); /* makes nothing live */
        return;
    }
    ended_by_server(sl, name);
}

/*
 * A NOSUB error ("NOSUB 'sunsubscribe' command executed not in subscribed mode": Valkey 8's
 * answer to an UNSUBSCRIBE on a connection that holds no subscription) answers an UNSUBSCRIBE
 * only: sl's oldest request when that is one. Otherwise it is the late answer of one whose
 * channel the server had ended itself just before it read it, its "sunsubscribe" taken for the
 * answer (on_unsubscribe()): it answers nothing still waiting, and a SUBSCRIBE behind it must
 * not take it for its own (it would be refused). Expected either way: debug.
 */
static void on_nosub(struct vmux_sublink *sl, const char *msg)
{
    const struct vmux_sub_request *rq = vmux__sublink_oldest(sl);
    bool ours = rq != NULL && rq->unsub;
    if (ours)
        vmux__sublink_answered(sl);
    vmux__log(sl->m->cfg, VMUX_LOG_DEBUG, "subscriber connection %s:%d: %s (%s)",
              sl->host ? sl->host : "?", sl->port, msg,
              ours ? "nothing to unsubscribe there"
                   : "the late answer to an unsubscribe the server had done itself");
}

static bool is_nosub(const vmux_reply *r)
{
    size_t len = 0;
    const char *msg = vmux_reply_str(r, &len);
    return vmux_reply_get_kind(r) == VMUX_REPLY_ERROR && msg != NULL && len >= 6 &&
           memcmp(msg, "NOSUB ", 6) == 0;
}

/*
 * An error answers sl's oldest request, which stays not live. A shard channel's MOVED (sent to
 * the old owner of a slot that moved) patches the map and the reconciler sends it on; a MOVED
 * back to a node that redirected it before (a ping-pong) patches nothing, and it goes again
 * after a backoff (pubsub_bounce.c); a CLUSTERDOWN or TRYAGAIN is retried a second later. An
 * error to a SUBSCRIBE whose subscription has ended or moved on is only noted (debug).
 */
static void on_error(struct vmux_sublink *sl, const vmux_reply *r)
{
    struct vmux *m = sl->m;
    const struct vmux_sub_request *rq = vmux__sublink_oldest(sl);
    bool subscribe = rq != NULL && !rq->unsub; /* else an UNSUBSCRIBE's, or nothing's */
    size_t len = 0;
    const char *msg = vmux_reply_str(r, &len);
    struct vmux_redirect rd;
    int parsed = msg != NULL ? vmux__redirect_parse(msg, len, &rd) : 0;
    if (parsed == 1 && (rq == NULL || rq->slot != (int)rd.slot)) {
        /* A redirect answers a request of its slot's shard channel only: this is the late answer
         * to an SUNSUBSCRIBE whose channel the server ended itself just before it read it (Valkey
         * 8 answers it MOVED once the slot has gone), its "sunsubscribe" taken for the answer
         * (on_unsubscribe()). Taken for the next request's, it refused a SUBSCRIBE behind it and
         * put every later answer one request off. */
        vmux__log(m->cfg, VMUX_LOG_DEBUG,
                  "subscriber connection %s:%d: %s (the late answer to an unsubscribe the server "
                  "had done itself)",
                  sl->host ? sl->host : "?", sl->port, msg);
        return;
    }
    struct vmux_sub *s = vmux__sublink_answered(sl);
    bool shard = s != NULL && s->kind == VMUX_SUB_SHARD && s->at == sl && !s->dead;
    enum vmux_errclass cls = vmux__errclass(msg, len);
    bool again =
        shard && (parsed == 1 || cls == VMUX_ERRCLASS_CLUSTERDOWN || cls == VMUX_ERRCLASS_TRYAGAIN);
    if (!again && s != NULL && !s->dead && s->at == sl && !s->lost) {
        refused(m, s, sl, msg);
        return;
    }
    if (!again) {
        /* a SUBSCRIBE's whose subscription has ended or gone on since: nothing waits for it, and
         * nothing is wrong (a MOVED to an SSUBSCRIBE unsubscribed during a migration was logged
         * as an error) */
        vmux__log(m->cfg, subscribe || parsed == 1 ? VMUX_LOG_DEBUG : VMUX_LOG_ERROR,
                  "subscriber connection: %s%s", msg,
                  subscribe     ? " (to a subscription since ended or moved)"
                  : parsed == 1 ? " (to an unsubscribe sent after its slot moved: nothing to end)"
                                : "");
        return;
    }
    vmux__log(m->cfg, VMUX_LOG_DEBUG, "subscriber connection %s:%d: %s", sl->host ? sl->host : "?",
              sl->port, msg);
    s->lost = true;
    s->retry_at = uv_now(&m->loop) + 1000;
    if (parsed == 1 && rd.kind == VMUX_REDIRECT_MOVED)
        vmux__count(&m->ctr.moved, 1); /* followed, as an op's: cluster_moved counts it */
    if (parsed == 1 && rd.kind == VMUX_REDIRECT_MOVED && !rd.unknown) {
        const char *host = rd.asked ? sl->host : rd.host;
        size_t hostlen = rd.asked ? (host != NULL ? strlen(host) : 0) : rd.hostlen;
        if (host != NULL && hostlen > 0 &&
            !vmux__sub_redirected(m, s, sl, host, hostlen, rd.port)) /* not a ping-pong */
            vmux__router_moved(&m->router, rd.slot, host, hostlen, rd.port);
    }
    vmux__router_refresh_soon(&m->router);
    vmux__pubsub_reconcile_soon(m, 0);
}

static vmux_sub_kind kind_of(const vmux_reply *e0)
{
    return vmux__reply_is(e0, "psubscribe") || vmux__reply_is(e0, "punsubscribe") ? VMUX_SUB_PATTERN
           : vmux__reply_is(e0, "ssubscribe") || vmux__reply_is(e0, "sunsubscribe")
               ? VMUX_SUB_SHARD
               : VMUX_SUB_CHANNEL;
}

void vmux__pubsub_on_push(vmux_reply *r, void *arg)
{
    struct vmux_sublink *sl = arg;
    const vmux_reply *e0 = vmux_reply_element(r, 0), *e1 = vmux_reply_element(r, 1),
                     *e2 = vmux_reply_element(r, 2), *e3 = vmux_reply_element(r, 3);
    if (vmux__reply_is(e0, "message") && e2 != NULL) {
        vmux_message msg = {view(e1), {NULL, 0}, view(e2)};
        arrive(sl, VMUX_SUB_CHANNEL, e1, &msg);
    } else if (vmux__reply_is(e0, "pmessage") && e3 != NULL) {
        vmux_message msg = {view(e2), view(e1), view(e3)};
        arrive(sl, VMUX_SUB_PATTERN, e1, &msg);
    } else if (vmux__reply_is(e0, "smessage") && e2 != NULL) {
        vmux_message msg = {view(e1), {NULL, 0}, view(e2)};
        arrive(sl, VMUX_SUB_SHARD, e1, &msg);
    } else if (vmux__reply_is(e0, "subscribe") || vmux__reply_is(e0, "psubscribe") ||
               vmux__reply_is(e0, "ssubscribe")) {
        confirm(sl, kind_of(e0), e1);
    } else if (is_unsubscribe(e0)) {
        on_unsubscribe(sl, kind_of(e0), e1);
    } else if (is_nosub(r)) {
        on_nosub(sl, vmux_reply_str(r, NULL));
    } else if (vmux_reply_get_kind(r) == VMUX_REPLY_ERROR) {
        on_error(sl, r);
    }
    vmux_reply_free(r);
}

/* ---- registering and unregistering, on the I/O thread ---- */

int vmux__pubsub_register(struct vmux_pubsub *ps, struct vmux_sub *s)
{
    if (grow(ps) != 0)
        return VMUX_ERR_NOMEM;
    s->next = ps->subs;
    if (ps->subs != NULL)
        ps->subs->prev = s;
    ps->subs = s;
    struct vmux_sub **at = bucket_of(ps, s->hash);
    s->hnext = *at;
    *at = s;
    ps->nsubs++;
    return 0;
}

static int add_on_io(struct vmux *m, void *arg)
{
    struct vmux_sub *s = arg;
    if (m->pubsub.closed)
        return VMUX_ERR_CLOSED;
    int rc = vmux__pubsub_register(&m->pubsub, s);
    if (rc == 0)
        vmux__pubsub_place(m, s);
    return rc;
}

void vmux__pubsub_end(struct vmux *m, struct vmux_sub *s)
{
    struct vmux_pubsub *ps = &m->pubsub;
    vmux__keyspace_end(m, s); /* its copies on every primary first */
    s->dead = true;
    if (s->at != NULL && !s->lost && !vmux__pubsub_others_at(ps, s, s->at))
        vmux__sub_unsubscribe(m, s); /* out of memory: written again later */
    bury(ps, s);
}

void vmux__pubsub_hold(struct vmux_pubsub *ps)
{
    ps->delivering++;
}

void vmux__pubsub_release(struct vmux_pubsub *ps)
{
    if (--ps->delivering == 0)
        reap(ps);
}

static int remove_on_io(struct vmux *m, void *arg)
{
    struct vmux_pubsub *ps = &m->pubsub;
    struct vmux_sub *target = arg, *s;
    /* A guard against a subscription this handle does not hold, which must not be read. */
    for (s = ps->subs; s != NULL && s != target; s = s->next)
        ;
    if (s == NULL || s->dead || s->parent != NULL)
        return VMUX_ERR_INVALID_ARG;
    vmux__pubsub_end(m, s);
    if (vmux__router_mode(&m->router) == VMUX_ROUTER_CLUSTER)
        vmux__pubsub_reconcile_soon(m, 0); /* a node's link left with nothing on it closes */
    return 0;
}

void vmux__pubsub_close(struct vmux *m)
{
    struct vmux_pubsub *ps = &m->pubsub;
    ps->closed = true;
    struct vmux_sub *next;
    for (struct vmux_sub *s = ps->subs; s != NULL; s = next) {
        next = s->next; /* bury() may free s */
        if (s->queue != NULL)
            vmux_msgq_close(s->queue);
        if (!s->dead)
            bury(ps, s);
    }
    vmux__pubsub_close_links(m);
    if (ps->delivering == 0) {
        free(ps->buckets);
        ps->buckets = NULL;
    }
}

/* ---- the public calls ---- */

struct vmux_sub *vmux__sub_new(const struct vmux *m, vmux_sub_kind kind, const char *name,
                               size_t len)
{
    struct vmux_sub *s = calloc(1, sizeof(*s));
    if (s == NULL || len == SIZE_MAX || (s->name.ptr = malloc(len + 1)) == NULL) {
        free(s);
        return NULL;
    }
    s->m = m;
    memcpy(s->name.ptr, name, len);
    s->name.ptr[len] = '\0';
    s->name.len = len;
    s->kind = kind;
    s->hash = hash_of(kind, name, len);
    uv_mutex_init(&s->mu);
    uv_cond_init(&s->cv);
    return s;
}

/*
 * VMUX_ERR_INVALID_ARG, in words, for a name whose subscription's confirmations (["subscribe",
 * name, count] and its unsubscription's, sized by the longest kind, "punsubscribe": by
 * "psubscribe", a name just accepted had an UNSUBSCRIBE answer over maxReplyBuffer, which failed
 * the connection, review helper-200) would be over a reply limit of m: such a confirmation fails
 * the subscriber connection (pubsub_over_limit.c), so the subscription would fail every
 * connection that sent it again, and none of its messages could come. Else 0.
 */
static int name_over_limit(const vmux *m, size_t len)
{
    uint64_t bulk = vmux_config_max_bulk_length(m->cfg),
             buffer = vmux_config_max_reply_buffer(m->cfg);
    if (len > bulk)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "a name of %zu bytes is longer than maxBulkLength %llu: its "
                             "subscription's confirmation would be over the limit",
                             len, (unsigned long long)bulk);
    uint64_t confirmation =
        2 * vmux__reader_value_cost(0) + vmux__reader_value_cost(12) + vmux__reader_value_cost(len);
    if (confirmation > buffer)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "a name of %zu bytes makes its subscription's confirmation %llu "
                             "bytes, over maxReplyBuffer %llu",
                             len, (unsigned long long)confirmation, (unsigned long long)buffer);
    return 0;
}

/*
 * The arguments a subscription is refused for before the handle is asked: 0, or
 * VMUX_ERR_INVALID_ARG naming the argument (vmux_last_error()). no_sink: the name of the
 * messages' destination ("cb", "q") when it is NULL, else NULL.
 */
static int check_args(vmux *m, vmux_sub_kind kind, vmux_str name, const char *no_sink,
                      vmux_sub **out)
{
    if (m == NULL || out == NULL || no_sink != NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL",
                             m == NULL     ? "the handle"
                             : out == NULL ? "out"
                                           : no_sink);
    if (name.len == 0)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "name is empty");
    if (name.ptr == NULL) /* as vmux_call() words an argument NULL with a length */
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "name.ptr is NULL with a length (name.len %zu)",
                             name.len);
    if (kind < VMUX_SUB_CHANNEL || kind > VMUX_SUB_SHARD)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "kind %d is none of VMUX_SUB_CHANNEL, VMUX_SUB_PATTERN and "
                             "VMUX_SUB_SHARD",
                             (int)kind);
    return 0;
}

/* vmux_subscribe() (q NULL) and vmux_subscribe_queue() (cb NULL); sink: the name of the one
 * that must be given, for the words of its refusal. */
static int subscribe(vmux *m, vmux_sub_kind kind, vmux_str name, vmux_message_cb cb, vmux_msgq *q,
                     const char *sink, void *userdata, vmux_sub **out)
{
    if (out != NULL)
        *out = NULL;
    if (check_args(m, kind, name, cb == NULL && q == NULL ? sink : NULL, out) != 0)
        return VMUX_ERR_INVALID_ARG;
    if (name_over_limit(m, name.len) != 0)
        return VMUX_ERR_INVALID_ARG;
    if (!vmux__hold(m)) /* until the subscription is handed over (vmux__run_on_io_held()) */
        return VMUX_ERR_CLOSED;
    /* forked: before any allocation (see vmux__forked()) */
    int rc = vmux__forked(m) ? VMUX_ERR_FORKED : 0;
    struct vmux_sub *s = rc == 0 ? vmux__sub_new(m, kind, name.ptr, name.len) : NULL;
    if (s == NULL) {
        vmux__leave(m);
        return rc != 0 ? rc : VMUX_ERR_NOMEM;
    }
    s->cb = cb;
    s->queue = q;
    s->userdata = userdata;
    rc = vmux__run_on_io_held(m, add_on_io, s);
    if (rc != 0) {
        vmux__sub_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int vmux_subscribe(vmux *m, vmux_sub_kind kind, vmux_str name, vmux_message_cb cb, void *userdata,
                   vmux_sub **out)
{
    vmux__why_begin();
    return vmux__why_end(subscribe(m, kind, name, cb, NULL, "cb", userdata, out));
}

int vmux_subscribe_queue(vmux *m, vmux_sub_kind kind, vmux_str name, vmux_msgq *q, vmux_sub **out)
{
    vmux__why_begin();
    return vmux__why_end(
        subscribe(m, kind, name, NULL, q, "q", NULL, out)); /* q NULL: refused there */
}

/* vmux_sub_wait_live() but for clearing and ending its words. */
static int sub_wait_live(vmux_sub *sub, int64_t timeout_ms)
{
    if (sub == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "sub is NULL");
    int rc = vmux__wait_allowed(sub->m, timeout_ms); /* the confirmation comes on the I/O thread */
    if (rc != 0)
        return rc;
    uint64_t until = vmux__until_ms(timeout_ms);
    int cancel = vmux__nocancel();
    uv_mutex_lock(&sub->mu);
    while (!sub->live) {
        if (timeout_ms < 0) {
            uv_cond_wait(&sub->cv, &sub->mu);
            continue;
        }
        uint64_t now = uv_hrtime();
        if (now >= until || uv_cond_timedwait(&sub->cv, &sub->mu, until - now) != 0)
            break;
    }
    bool live = sub->live;
    uv_mutex_unlock(&sub->mu);
    vmux__cancel_restore(cancel);
    return live ? 0 : VMUX_ERR_TIMEOUT;
}

int vmux_sub_wait_live(vmux_sub *sub, int64_t timeout_ms)
{
    vmux__why_begin();
    return vmux__why_end(sub_wait_live(sub, timeout_ms));
}

/* vmux_unsubscribe() but for clearing and ending its words. */
static int unsubscribe(vmux *m, vmux_sub *sub)
{
    if (m == NULL || sub == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL", m == NULL ? "the handle" : "sub");
    int rc = vmux__run_on_io(m, remove_on_io, sub);
    if (rc == VMUX_ERR_INVALID_ARG) /* remove_on_io()'s refusal, made on the I/O thread */
        return vmux__why_set(rc, "sub is no subscription this handle holds (another handle's, or "
                                 "ended already: never pass an ended one again)");
    return rc;
}

int vmux_unsubscribe(vmux *m, vmux_sub *sub)
{
    vmux__why_begin();
    return vmux__why_end(unsubscribe(m, sub));
}
